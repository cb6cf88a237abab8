# Generated from notebooks/py/10.2-nadaraya-watson.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.2-nadaraya-watson.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.2 注意力汇聚：Nadaraya-Watson 核回归 (Attention Pooling: Nadaraya-Watson Kernel Regression): the components saved with `#@save`."""

import torch
from torch import nn

from ..checks import check_shape

__all__ = ['NWKernelRegression']


# %% notebooks/py/10.2-nadaraya-watson.py:156
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with one learnable sharpness `w` (kernel width 1/w).

    queries: (num_queries,); keys, values: (num_queries, num_keys), row q for query q.
    Returns (num_queries,); `attention_weights` keeps the softmax weights.
    """

    def __init__(self, w=None, **kwargs):
        super().__init__(**kwargs)
        init = torch.rand((1,)) if w is None else torch.tensor([float(w)])
        self.w = nn.Parameter(init)
        self.attention_weights = None

    def forward(self, queries, keys, values):
        check_shape(values, "values", "(num_queries, num_keys)",  # one row of keys per query
                    num_queries=len(queries), num_keys=keys.shape[-1])
        scores = -((queries.reshape(-1, 1) - keys) * self.w) ** 2 / 2  # (num_queries, num_keys)
        self.attention_weights = torch.softmax(scores, dim=-1)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)
