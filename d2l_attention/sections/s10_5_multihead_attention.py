# Generated from notebooks/py/10.5-multihead-attention.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.5-multihead-attention.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.5 多头注意力 (Multi-Head Attention): the components saved with `#@save`."""

import torch
from torch import nn

from ..checks import check_qkv, check_shape, check_valid_lens
from .s10_3_attention_scoring import DotProductAttention

__all__ = ['transpose_qkv', 'transpose_output', 'MultiHeadAttention', 'ClozeNet', 'with_heads']


# %% notebooks/py/10.5-multihead-attention.py:119
def transpose_qkv(X, num_heads):
    """(batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads);
    row b * num_heads + i holds feature block i (head i + 1) of example b."""
    check_shape(X, "X", "(batch_size, n, num_hiddens)")
    if X.shape[-1] % num_heads:
        raise ValueError(f"num_hiddens={X.shape[-1]} is not divisible by num_heads={num_heads}")
    # (b, n, h, p): head i + 1 owns features [i*p, (i+1)*p), p = num_hiddens / h
    per_head = X.unflatten(-1, (num_heads, -1))
    return per_head.transpose(1, 2).flatten(0, 1)  # (b, h, n, p) -> (b*h, n, p)


def transpose_output(X, num_heads):
    """Inverse of `transpose_qkv`: the heads of each example side by side, (b, n, num_hiddens)."""
    check_shape(X, "X", "(batch_size * num_heads, n, num_hiddens / num_heads)")
    if X.shape[0] % num_heads:
        raise ValueError(f"first axis {X.shape[0]} is not a multiple of num_heads={num_heads}")
    per_example = X.unflatten(0, (-1, num_heads))  # (batch_size, num_heads, n, p)
    return per_example.transpose(1, 2).flatten(2)  # (b, n, h, p) -> heads side by side


# %% notebooks/py/10.5-multihead-attention.py:176
class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention: (batch_size, num_queries, num_hiddens) out;
    valid_lens None, (batch_size,) or (batch_size, num_queries). attention.attention_weights:
    (batch_size * num_heads, num_queries, num_kv), row b * num_heads + i = head i + 1 of b."""

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or num_hiddens % num_heads:
            raise ValueError(f"num_hiddens={num_hiddens} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        # The stacked projections of all heads: rows [i*p, (i+1)*p) of each weight are head i+1's.
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        check_qkv(queries, keys, values, self.W_q.in_features, self.W_k.in_features)
        check_shape(values, "values", "(batch_size, num_kv, value_size)", value_size=self.W_v.in_features)
        q = transpose_qkv(self.W_q(queries), self.num_heads)
        k = transpose_qkv(self.W_k(keys), self.num_heads)
        v = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            valid_lens = torch.as_tensor(valid_lens, device=queries.device)
            check_valid_lens(valid_lens, *queries.shape[:2], keys.shape[1])
            # Every head of example b must see example b's lengths: repeat each one in place.
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        per_head = self.attention(q, k, v, valid_lens)  # (batch_size * num_heads, n_q, p)
        return self.W_o(transpose_output(per_head, self.num_heads))


# %% notebooks/py/10.5-multihead-attention.py:566
class ClozeNet(nn.Module):
    """Guess the hidden word of a sentence with one MultiHeadAttention layer (Sec. 10.5)."""

    def __init__(self, vocab_size, num_heads, num_hiddens=64, max_len=8):
        super().__init__()
        self.word = nn.Embedding(vocab_size, num_hiddens)
        self.pos = nn.Embedding(max_len, num_hiddens)
        self.mha = MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens,
                                      num_heads, dropout=0)
        self.readout = nn.Linear(num_hiddens, vocab_size)

    def forward(self, tokens, lens, where):
        """tokens (batch, n) with <mask> at `where` (batch,) -> scores (batch, vocab_size)."""
        X = self.word(tokens) + self.pos.weight[:tokens.shape[1]]  # keys = values: word + position
        queries = self.pos(where).unsqueeze(1)  # the query: only *where* the hidden word is
        return self.readout(self.mha(queries, X, X, lens)[:, 0])  # sees the heads' output only


# %% notebooks/py/10.5-multihead-attention.py:654
def with_heads(net, keep, *inputs, fill=None):
    """net(*inputs) with head r of net.mha replaced by `fill` (default 0) where keep[r] is False."""
    p = net.mha.W_o.in_features // net.mha.num_heads
    kept = torch.as_tensor(keep).float().repeat_interleave(p)  # 1: the head's own output, 0: fill
    fill = torch.zeros_like(kept) if fill is None else fill

    def replace(W_o, args):  # the concatenation, before W_o, on the model's device
        x = args[0]
        return (x * kept.to(x) + (1 - kept.to(x)) * fill.to(x),)

    handle = net.mha.W_o.register_forward_pre_hook(replace)
    try:
        return net(*inputs)
    finally:
        handle.remove()
