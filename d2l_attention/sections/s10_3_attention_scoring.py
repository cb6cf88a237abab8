# Generated from notebooks/10.3-attention-scoring-functions.ipynb by `make lib`: DO NOT EDIT.
# Edit notebooks/10.3-attention-scoring-functions.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.3 注意力评分函数 (Attention Scoring Functions): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = ['masked_softmax', 'AdditiveAttention', 'DotProductAttention']


def masked_softmax(X, valid_lens):
    """Softmax over the last axis that only looks at the first `valid_len` keys of each row.

    X: (batch_size, num_queries, num_keys) attention scores.
    valid_lens: None (every key is valid), (batch_size,) with one length per example, or
        (batch_size, num_queries) with one length per query; whole numbers in [0, num_keys]
        (an integer or integer-valued float tensor).
    Returns weights with the shape of X: masked keys get exactly 0, and a row whose valid
    length is 0 is all zeros (its attention output is then a zero vector, never NaN).
    """
    if X.dim() != 3:
        raise ValueError(
            f"masked_softmax expects X of shape (batch_size, num_queries, num_keys), "
            f"got shape {tuple(X.shape)}; add a batch axis with unsqueeze(0)"
        )
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    batch_size, num_queries, num_keys = X.shape
    valid_lens = torch.as_tensor(valid_lens, device=X.device)
    if valid_lens.dim() == 1 and valid_lens.shape[0] == batch_size:
        lens = valid_lens[:, None, None]  # one length shared by all queries of an example
    elif valid_lens.dim() == 2 and tuple(valid_lens.shape) == (batch_size, num_queries):
        lens = valid_lens[:, :, None]
    else:
        raise ValueError(
            f"valid_lens must have shape (batch_size,) = ({batch_size},) or "
            f"(batch_size, num_queries) = ({batch_size}, {num_queries}), "
            f"got shape {tuple(valid_lens.shape)}"
        )
    bad = (valid_lens < 0) | (valid_lens > num_keys)
    if valid_lens.is_floating_point():
        bad = bad | (valid_lens != valid_lens.round())
    if bad.any():  # a single host sync covers all value checks
        raise ValueError(
            f"valid_lens must hold whole numbers between 0 and num_keys={num_keys}, got values "
            f"from {valid_lens.min().item()} to {valid_lens.max().item()}"
        )
    keep = torch.arange(num_keys, device=X.device) < lens  # (batch_size, 1 or num_queries, num_keys)
    empty = lens == 0
    # -inf (not -1e6) gives masked keys exactly zero weight. Rows without any valid key are
    # filled with zeros before the softmax (no 0/0, finite gradients) and zeroed after it.
    scores = X.masked_fill(~keep, float("-inf")).masked_fill(empty, 0.0)
    return F.softmax(scores, dim=-1).masked_fill(empty, 0.0)


def _check_qkv(queries, keys, values, query_size=None, key_size=None):
    """Raise ValueError unless queries, keys and values have consistent 3-D shapes.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim).
    """
    expected = {"queries": "(batch_size, num_queries, query_size)",
                "keys": "(batch_size, num_kv, key_size)",
                "values": "(batch_size, num_kv, value_dim)"}
    for name, t in (("queries", queries), ("keys", keys), ("values", values)):
        if t.dim() != 3:
            raise ValueError(f"{name} must have shape {expected[name]}, got {tuple(t.shape)}")
    batch_size, num_kv = keys.shape[0], keys.shape[1]
    if queries.shape[0] != batch_size or values.shape[0] != batch_size:
        raise ValueError(
            f"queries, keys and values must share batch_size, got shapes {tuple(queries.shape)}, "
            f"{tuple(keys.shape)} and {tuple(values.shape)}"
        )
    if values.shape[1] != num_kv:
        raise ValueError(
            f"values must have shape (batch_size, num_kv, value_dim) = ({batch_size}, {num_kv}, "
            f"value_dim) to pair with keys of shape {tuple(keys.shape)}, got {tuple(values.shape)}"
        )
    if query_size is not None and queries.shape[2] != query_size:
        raise ValueError(
            f"queries must have shape (batch_size, num_queries, query_size) with "
            f"query_size={query_size}, got {tuple(queries.shape)}"
        )
    if key_size is not None and keys.shape[2] != key_size:
        raise ValueError(
            f"keys must have shape (batch_size, num_kv, key_size) with key_size={key_size}, "
            f"got {tuple(keys.shape)}"
        )


class AdditiveAttention(nn.Module):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(**kwargs)
        self.key_size, self.query_size = key_size, query_size
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values, self.query_size, self.key_size)
        queries, keys = self.W_q(queries), self.W_k(keys)
        # (batch_size, num_queries, 1, h) + (batch_size, 1, num_kv, h): every query meets every key
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)  # (batch_size, num_queries, num_kv)
        self.attention_weights = masked_softmax(scores, valid_lens)
        # Dropout on the weights randomly hides some key-value pairs during training.
        return torch.bmm(self.dropout(self.attention_weights), values)


class DotProductAttention(nn.Module):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values)
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"keys must have shape (batch_size, num_kv, d) with the queries' d={d}, "
                f"got keys of shape {tuple(keys.shape)}; project them to size {d} first"
            )
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)
