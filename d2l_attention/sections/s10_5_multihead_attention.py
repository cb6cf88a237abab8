# Generated from notebooks/10.5-multihead-attention.ipynb by `make lib`: DO NOT EDIT.
# Edit notebooks/10.5-multihead-attention.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.5 多头注意力 (Multi-Head Attention): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = ['transpose_qkv', 'transpose_output', 'MultiHeadAttention']


def transpose_qkv(X, num_heads):
    """Split the last axis into heads and fold the heads into the batch axis.

    X: (batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads).
    Row b * num_heads + i of the result is head i of example b.
    """
    if X.shape[-1] % num_heads != 0:
        raise ValueError(f"the last axis of X has size {X.shape[-1]}, which is not divisible "
                         f"by num_heads={num_heads}; choose num_heads that divides it")
    # (batch_size, n, num_heads, num_hiddens / num_heads)
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
    # (batch_size, num_heads, n, num_hiddens / num_heads)
    X = X.permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X, num_heads):
    """Undo `transpose_qkv`: concatenate the heads along the last axis.

    X: (batch_size * num_heads, n, num_hiddens / num_heads) -> (batch_size, n, num_hiddens).
    """
    if X.shape[0] % num_heads != 0:
        raise ValueError(f"the first axis of X has size {X.shape[0]}, which is not a multiple "
                         f"of num_heads={num_heads}; pass the output of transpose_qkv with the "
                         "same num_heads")
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
    X = X.permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention built on scaled dot-product attention.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_size); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Output: (batch_size, num_queries, num_hiddens).
    After a forward pass, `self.attention.attention_weights` has shape
    (batch_size * num_heads, num_queries, num_kv).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        if num_hiddens % num_heads != 0:
            raise ValueError(f"num_hiddens={num_hiddens} is not divisible by "
                             f"num_heads={num_heads}; choose num_heads that divides num_hiddens")
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        # One Linear per role computes the projections of all heads at once.
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        # (batch_size * num_heads, n, num_hiddens / num_heads)
        queries = transpose_qkv(self.W_q(queries), self.num_heads)
        keys = transpose_qkv(self.W_k(keys), self.num_heads)
        values = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            # Head i of example b sits at row b * num_heads + i: repeat each length in place.
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(transpose_output(output, self.num_heads))
