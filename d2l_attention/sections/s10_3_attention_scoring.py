# Generated from notebooks/10.3-attention-scoring-functions.ipynb by `make lib`: DO NOT EDIT.
# Edit notebooks/10.3-attention-scoring-functions.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.3 注意力评分函数 (Attention Scoring Functions): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = ['masked_softmax', 'AttentionPooling', 'AdditiveAttention', 'DotProductAttention']


def _key_mask(valid_lens, batch_size, num_queries, num_keys, device=None):
    """Boolean mask, True where a key takes part in the softmax.

    valid_lens: (batch_size,) or (batch_size, num_queries), whole numbers in [0, num_keys].
    Returns (batch_size, 1, num_keys) for per-example lengths, (batch_size, num_queries, num_keys)
    for per-query lengths; either broadcasts against the scores.
    """
    lens = torch.as_tensor(valid_lens, device=device)
    if tuple(lens.shape) == (batch_size,):
        lens = lens[:, None]  # one length shared by all queries of an example
    elif tuple(lens.shape) != (batch_size, num_queries):
        raise ValueError(
            f"valid_lens must have shape (batch_size,) = ({batch_size},) or "
            f"(batch_size, num_queries) = ({batch_size}, {num_queries}), "
            f"got shape {tuple(lens.shape)}"
        )
    if lens.numel() == 0:  # an empty batch: nothing to check
        return torch.zeros(*lens.shape, num_keys, dtype=torch.bool, device=lens.device)
    lo, hi = (v.item() for v in torch.aminmax(lens))  # one pass over the lengths: the range
    if lo < 0 or hi > num_keys or (lens.is_floating_point() and (lens != lens.round()).any()):
        raise ValueError(
            f"valid_lens must hold whole numbers between 0 and num_keys={num_keys}, got values "
            f"from {lo} to {hi}"
        )
    # Key position j takes part in a row whose valid length is L exactly when j < L.
    return torch.arange(num_keys, device=lens.device) < lens[..., None]


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
    keep = _key_mask(valid_lens, *X.shape, device=X.device)
    # Key j takes part when j < L, so a row has a valid key exactly when key 0 takes part.
    has_key = keep[..., :1]
    if has_key.all():  # the usual case: exp(-inf) = 0 gives masked keys exactly zero weight
        return F.softmax(X.masked_fill(~keep, float("-inf")), dim=-1)
    # A row with no valid key would be all -inf, and softmax would return 0/0 = NaN: such a row
    # keeps its finite scores here, and its weights are set to zero after the softmax.
    scores = X.masked_fill(has_key & ~keep, float("-inf"))
    return torch.where(has_key, F.softmax(scores, dim=-1), 0.0)


def _check_qkv(queries, keys, values):
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


class AttentionPooling(nn.Module):
    """Attention pooling: softmax(score(q, k)) @ v, with masking and dropout on the weights.

    Subclasses implement score(queries, keys) -> (batch_size, num_queries, num_kv).
    forward(queries, keys, values, valid_lens=None):
        queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
        values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
        (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
        `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights = None

    def score(self, queries, keys):
        raise NotImplementedError("a subclass of AttentionPooling defines its scoring function")

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values)
        self.attention_weights = masked_softmax(self.score(queries, keys), valid_lens)
        return self.dropout(self.attention_weights) @ values


class AdditiveAttention(AttentionPooling):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(dropout, **kwargs)
        self.key_size, self.query_size = key_size, query_size
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def score(self, queries, keys):
        for name, t, size in (("queries", queries, self.query_size), ("keys", keys, self.key_size)):
            if t.shape[-1] != size:
                axes = "num_queries, query_size" if name == "queries" else "num_kv, key_size"
                raise ValueError(
                    f"{name} must have shape (batch_size, {axes}) with "
                    f"{axes.split(', ')[1]}={size}, got {tuple(t.shape)}"
                )
        # (batch, num_queries, 1, h) + (batch, 1, num_kv, h) -> one hidden vector per pair
        hidden = torch.tanh(self.W_q(queries)[:, :, None, :] + self.W_k(keys)[:, None, :, :])
        return self.w_v(hidden)[..., 0]  # (batch_size, num_queries, num_kv)


class DotProductAttention(AttentionPooling):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(dropout, **kwargs)

    def score(self, queries, keys):
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"keys must have shape (batch_size, num_kv, d) with the queries' d={d}, "
                f"got keys of shape {tuple(keys.shape)}; project them to size {d} first"
            )
        # All n x m dot products at once: (batch, n, d) @ (batch, d, m) -> (batch, n, m)
        return queries @ keys.transpose(-2, -1) / math.sqrt(d)
