"""d2l_attention: the library for the attention chapter of Dive into Deep Learning (zh, PyTorch).

Use it as the book uses `d2l`::

    import d2l_attention as d2l
    d2l.masked_softmax(X, valid_lens)

Hand-written modules hold the helpers from earlier chapters; `d2l_attention.sections` is
generated from the notebooks' `#@save` cells by `make lib` (do not edit it by hand). Argument
checks (`d2l_attention.checks`) and the explorers' machinery (`d2l_attention.explorers`,
`d2l_attention.explore`) are imported where they are used; they are not part of `dir(d2l)`.
"""

import torch  # noqa: F401  (the book's code refers to d2l.torch)

from .data import *  # noqa: F403
from .plotting import *  # noqa: F403
from .seq2seq import *  # noqa: F403
from .tensors import *  # noqa: F403
from .text import *  # noqa: F403
from .utils import *  # noqa: F403
# Last, because generated code may use the names above.
from .sections import *  # noqa: F403

__version__ = "0.1.0"
