# Generated from chapters.yml by `make lib`: DO NOT EDIT.
"""Components of the written sections, imported in chapter order.

Each section's names are set on d2l_attention as soon as the section is imported, so a
later section can use them (`d2l.Name`) while the package is still being imported.
"""

import sys as _sys


def _publish(module):
    package = _sys.modules[__name__.rpartition('.')[0]]
    for name in module.__all__:
        setattr(package, name, getattr(module, name))


from . import s10_1_attention_cues  # noqa: E402
from .s10_1_attention_cues import *  # noqa: E402, F403
_publish(s10_1_attention_cues)

from . import s10_2_nadaraya_watson  # noqa: E402
from .s10_2_nadaraya_watson import *  # noqa: E402, F403
_publish(s10_2_nadaraya_watson)

from . import s10_3_attention_scoring  # noqa: E402
from .s10_3_attention_scoring import *  # noqa: E402, F403
_publish(s10_3_attention_scoring)

from . import s10_4_bahdanau_attention  # noqa: E402
from .s10_4_bahdanau_attention import *  # noqa: E402, F403
_publish(s10_4_bahdanau_attention)

from . import s10_5_multihead_attention  # noqa: E402
from .s10_5_multihead_attention import *  # noqa: E402, F403
_publish(s10_5_multihead_attention)

from . import s10_6_self_attention  # noqa: E402
from .s10_6_self_attention import *  # noqa: E402, F403
_publish(s10_6_self_attention)

from . import s10_7_transformer  # noqa: E402
from .s10_7_transformer import *  # noqa: E402, F403
_publish(s10_7_transformer)
