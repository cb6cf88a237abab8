# Generated from notebooks/py/10.3-attention-scoring-functions.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.3-attention-scoring-functions.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.3 注意力评分函数 (Attention Scoring Functions): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_qkv, check_shape, check_valid_lens

__all__ = ['masked_softmax', 'AttentionPooling', 'AdditiveAttention', 'DotProductAttention']


# %% notebooks/py/10.3-attention-scoring-functions.py:86
def masked_softmax(X, valid_lens):
    """Softmax over the last axis that only looks at the first `valid_len` keys of each row.

    X: (batch_size, num_queries, num_keys) attention scores.
    valid_lens: None, (batch_size,) or (batch_size, num_queries); whole numbers in [0, num_keys].
    Returns weights with the shape of X: masked keys get exactly 0, and a row whose valid
    length is 0 is all zeros (its attention output is then a zero vector, never NaN).
    """
    check_shape(X, "X", "(batch_size, num_queries, num_keys)")
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    check_valid_lens(valid_lens, *X.shape)
    lens = torch.as_tensor(valid_lens, device=X.device)
    if lens.dim() == 1:
        lens = lens[:, None]  # one length shared by all queries of an example
    keep = torch.arange(X.shape[-1], device=X.device) < lens[..., None]
    has_key = keep[..., :1]  # False only in the rows with L = 0: left unfilled, set to 0
    weights = F.softmax(X.masked_fill(has_key & ~keep, float("-inf")), dim=-1)
    return torch.where(has_key, weights, 0.0)


# %% notebooks/py/10.3-attention-scoring-functions.py:164
class AttentionPooling(nn.Module):
    """Attention pooling: softmax(score(q, k)) @ v, with masking and dropout on the weights.

    Subclasses implement score(queries, keys) -> (batch_size, num_queries, num_kv).
    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def score(self, queries, keys):
        raise NotImplementedError("a subclass of AttentionPooling defines its scoring function")

    def forward(self, queries, keys, values, valid_lens=None):
        check_qkv(queries, keys, values)
        # (batch_size, num_queries, num_kv), kept before dropout for the heatmaps
        self.attention_weights = masked_softmax(self.score(queries, keys), valid_lens)
        return self.dropout(self.attention_weights) @ values


# %% notebooks/py/10.3-attention-scoring-functions.py:192
class AdditiveAttention(AttentionPooling):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size).
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(dropout, **kwargs)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def score(self, queries, keys):
        check_shape(queries, "queries", "(batch_size, num_queries, query_size)",
                        query_size=self.W_q.in_features)
        check_shape(keys, "keys", "(batch_size, num_kv, key_size)", key_size=self.W_k.in_features)
        # (batch, num_queries, 1, h) + (batch, 1, num_kv, h) -> one hidden vector per pair
        hidden = torch.tanh(self.W_q(queries)[:, :, None, :] + self.W_k(keys)[:, None, :, :])
        return self.w_v(hidden)[..., 0]  # (batch_size, num_queries, num_kv)


# %% notebooks/py/10.3-attention-scoring-functions.py:233
class DotProductAttention(AttentionPooling):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(dropout, **kwargs)

    def score(self, queries, keys):
        d = queries.shape[-1]
        check_shape(keys, "keys", "(batch_size, num_kv, d)", d=d)
        # All n x m dot products at once: (batch, n, d) @ (batch, d, m) -> (batch, n, m)
        return queries @ keys.transpose(-2, -1) / math.sqrt(d)
