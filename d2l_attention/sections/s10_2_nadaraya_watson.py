# Generated from notebooks/py/10.2-nadaraya-watson.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.2-nadaraya-watson.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.2 注意力汇聚：Nadaraya-Watson 核回归 (Attention Pooling: Nadaraya-Watson Kernel Regression): the components saved with `#@save`."""

import torch
from torch import nn

from ..checks import check_shape

__all__ = ['NWKernelRegression']


# %% notebooks/py/10.2-nadaraya-watson.py:162
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with one learnable sharpness `w`.

    The scores are -((x - x_i) w)^2 / 2: a Gaussian kernel of width sigma = 1 / w, so `w` is
    the inverse width (larger w, narrower kernel, sharper weights); w = 0 is average pooling.
    forward(queries, keys, values):
        queries: (num_queries,)
        keys, values: (num_queries, num_keys); row q holds the key-value pairs of query q
        returns: (num_queries,), the attention-weighted average of each row of `values`
    After a call, `attention_weights` holds the softmax weights, (num_queries, num_keys).
    """

    def __init__(self, w=None, **kwargs):
        super().__init__(**kwargs)
        init = torch.rand((1,)) if w is None else torch.tensor([float(w)])
        self.w = nn.Parameter(init)
        self.attention_weights = None

    def forward(self, queries, keys, values):
        check_shape(queries, "queries", "(num_queries,)", "flatten them: queries.reshape(-1)")
        check_shape(keys, "keys", "(num_queries, num_keys)", num_queries=len(queries))
        n_q, n_k = keys.shape
        check_shape(values, "values", "(num_queries, num_keys)", num_queries=n_q, num_keys=n_k)
        self.attention_weights = torch.softmax(self.log_kernel(queries, keys), dim=-1)
        # One weighted average per query: the (1, num_keys) row of weights times the
        # (num_keys, 1) column of values, batched over the queries.
        pooled = torch.bmm(self.attention_weights[:, None, :], values[:, :, None])
        return pooled[:, 0, 0]

    def log_kernel(self, queries, keys):
        """Attention scores -u^2/2 with u = w (x - x_i), the log of an unnormalised Gaussian.

        queries: (num_queries,); keys: (num_queries, num_keys) -> (num_queries, num_keys).
        The factor 1/sqrt(2 pi) of the density would cancel in the softmax, so it is left out.
        """
        u = self.w * (queries[:, None] - keys)  # distance to each key, in units of sigma = 1/w
        return -0.5 * u.square()
