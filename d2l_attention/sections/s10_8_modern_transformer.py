# Generated from notebooks/py/10.8-modern-transformer.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.8-modern-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.8 从 2017 年到今天 (From 2017 to Today): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .s10_5_multihead_attention import MultiHeadAttention, transpose_output, transpose_qkv
from .s10_7_transformer import EncoderBlock, causal_valid_lens, named_blocks

__all__ = ['TinyGPT', 'pre_ln_block', 'rope', 'RotaryAttention', 'step_with_cache', 'generate_with_cache', 'RMSNorm', 'SwiGLU', 'GroupedQueryAttention', 'tiled_attention']


# %% notebooks/py/10.8-modern-transformer.py:47
class TinyGPT(nn.Module):
    """Character embeddings (+ learned position embeddings, or RoPE inside attention),
    num_layers EncoderBlocks, dense to the vocab."""

    def __init__(self, vocab_size, d=32, num_heads=4, num_layers=2, max_len=32, causal=True,
                 pre_ln=False, positions="learned"):
        super().__init__()
        self.causal, self.pre_ln, self.rotary = causal, pre_ln, positions == "rope"
        self.embedding = nn.Embedding(vocab_size, d)
        self.position = None if self.rotary else nn.Embedding(max_len, d)
        blocks = [EncoderBlock(key_size=d, query_size=d, value_size=d, num_hiddens=d,
                                   norm_shape=[d], ffn_num_input=d, ffn_num_hiddens=2 * d,
                                   num_heads=num_heads, dropout=0.0) for _ in range(num_layers)]
        for blk in blocks if self.rotary else []:  # same sizes; queries and keys get rotated
            blk.attention = RotaryAttention(d, d, d, d, num_heads, 0.0)  # defined under RoPE below
        self.blks = named_blocks(blocks)
        self.final_ln = nn.LayerNorm(d) if pre_ln else nn.Identity()
        self.dense = nn.Linear(d, vocab_size)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, tokens):  # (batch_size, T) -> (batch_size, T, vocab_size)
        b, T = tokens.shape
        mask = causal_valid_lens(b, T) if self.causal else None
        X = self.embedding(tokens)
        if self.position is not None:
            X = X + self.position(torch.arange(T))
        for blk in self.blks:
            X = pre_ln_block(blk, X, mask) if self.pre_ln else blk(X, mask)  # pre_ln_block: pre-LN below
        return self.dense(self.final_ln(X))


# %% notebooks/py/10.8-modern-transformer.py:172
def pre_ln_block(blk, X, valid_lens):
    """The parameters of a d2l.EncoderBlock in the pre-LN order: X + f(LN(X)), both sublayers."""
    H = blk.addnorm1.ln(X)
    X = X + blk.attention(H, H, H, valid_lens)
    return X + blk.ffn(blk.addnorm2.ln(X))


# %% notebooks/py/10.8-modern-transformer.py:214
def rope(X, start=0, base=10000):
    """Rotate pair m of X: (..., T, d) at position i = start, ..., start + T - 1 by
    theta_im = i * omega_m (d even)."""
    T, d = X.shape[-2], X.shape[-1]
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,): omega_m
    theta = torch.arange(start, start + T, dtype=torch.float32)[:, None] * omega  # (T, d/2)
    cos, sin = torch.cos(theta), torch.sin(theta)
    x_even, x_odd = X[..., 0::2], X[..., 1::2]
    return torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1).flatten(-2)


class RotaryAttention(MultiHeadAttention):
    """d2l.MultiHeadAttention whose heads rotate their queries and keys (RoPE) after W_q, W_k."""

    def heads(self, queries, keys, values, start=0):
        """Per-head queries, keys, values (batch_size * num_heads, T, d / num_heads); queries and
        keys rotated to positions start, start + 1, ..."""
        q, k, v = (transpose_qkv(W(X), self.num_heads)
                   for W, X in ((self.W_q, queries), (self.W_k, keys), (self.W_v, values)))
        return rope(q, start), rope(k, start), v

    def attend(self, q, K, V, valid_lens=None):
        """Each head's attention over its keys K and values V, heads joined by W_o."""
        if valid_lens is not None:
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        return self.W_o(transpose_output(self.attention(q, K, V, valid_lens), self.num_heads))

    def forward(self, queries, keys, values, valid_lens=None):
        return self.attend(*self.heads(queries, keys, values), valid_lens)


# %% notebooks/py/10.8-modern-transformer.py:311
def step_with_cache(lm, token, t, cache):
    """One new token (1, 1) at position t through a TinyGPT with RoPE (post- or pre-LN);
    cache[l] = [K, V] of block l grows by the new token's key and value. Returns its scores."""
    X = lm.embedding(token)  # (1, 1, d); RoPE: no position embedding
    for blk, kv in zip(lm.blks, cache):
        H = blk.addnorm1.ln(X) if lm.pre_ln else X  # what the attention reads
        q, k, v = blk.attention.heads(H, H, H, start=t)  # rotated to position t
        kv[0], kv[1] = torch.cat([kv[0], k], dim=1), torch.cat([kv[1], v], dim=1)
        A = blk.attention.attend(q, *kv)  # all cached keys: no mask needed
        if lm.pre_ln:  # the order of pre_ln_block
            X = X + A
            X = X + blk.ffn(blk.addnorm2.ln(X))
        else:  # the order of EncoderBlock
            Y = blk.addnorm1(X, A)
            X = blk.addnorm2(Y, blk.ffn(Y))
    return lm.dense(lm.final_ln(X))[0, -1]


def generate_with_cache(lm, chars, prompt, num_chars):
    """Greedy continuation of `prompt` by num_chars characters with step_with_cache; returns
    (the text, the cache)."""
    ids, empty = [chars.index(c) for c in prompt], torch.zeros(1, 0, lm.embedding.embedding_dim)
    with torch.no_grad():
        cache = [list(blk.attention.heads(empty, empty, empty)[1:]) for blk in lm.blks]  # 0 keys
        for t in range(len(prompt) + num_chars - 1):  # the prompt too, one token at a time
            scores = step_with_cache(lm, torch.tensor([[ids[t]]]), t, cache)
            if t == len(ids) - 1:
                ids.append(scores.argmax().item())
    return "".join(chars[i] for i in ids), cache


# %% notebooks/py/10.8-modern-transformer.py:379
class RMSNorm(nn.Module):
    """g * x / sqrt(mean(x^2) + eps) over the last axis: LayerNorm without the mean and the bias."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, X):
        return self.weight * X / torch.sqrt(X.pow(2).mean(-1, keepdim=True) + self.eps)


class SwiGLU(nn.Module):
    """Gated feed-forward network W_2 (silu(W_1 x) * W_3 x), without biases."""

    def __init__(self, d, num_hiddens):
        super().__init__()
        self.W_1, self.W_3 = nn.Linear(d, num_hiddens, bias=False), nn.Linear(d, num_hiddens, bias=False)
        self.W_2 = nn.Linear(num_hiddens, d, bias=False)

    def forward(self, X):
        return self.W_2(F.silu(self.W_1(X)) * self.W_3(X))


class GroupedQueryAttention(RotaryAttention):
    """RotaryAttention whose num_heads query heads share num_kv_heads key-value heads."""

    def __init__(self, d, num_heads, num_kv_heads):
        super().__init__(d, d, d, d, num_heads, 0.0)
        self.num_kv_heads = num_kv_heads
        self.W_k = nn.Linear(d, d // num_heads * num_kv_heads, bias=False)  # num_kv_heads heads
        self.W_v = nn.Linear(d, d // num_heads * num_kv_heads, bias=False)

    def heads(self, queries, keys, values, start=0):  # keys, values: num_kv_heads heads each
        q = rope(transpose_qkv(self.W_q(queries), self.num_heads), start)
        k = rope(transpose_qkv(self.W_k(keys), self.num_kv_heads), start)
        return q, k, transpose_qkv(self.W_v(values), self.num_kv_heads)

    def attend(self, q, K, V, valid_lens=None):  # key-value head g serves query heads g*r .. g*r+r-1
        r = self.num_heads // self.num_kv_heads
        return super().attend(q, K.repeat_interleave(r, dim=0), V.repeat_interleave(r, dim=0), valid_lens)


# %% notebooks/py/10.8-modern-transformer.py:487
def tiled_attention(Q, K, V, tile=64):
    """softmax(Q K^T / sqrt(d)) V (no mask), reading the keys and values `tile` at a time."""
    m = torch.full(Q.shape[:-1] + (1,), -math.inf)  # running max of each query's scores
    l = torch.zeros(Q.shape[:-1] + (1,))  # running sum of exp(score - m)
    O = torch.zeros(Q.shape[:-1] + V.shape[-1:])  # running sum of exp(score - m) * value
    for j in range(0, K.shape[-2], tile):
        S = Q @ K[..., j:j + tile, :].transpose(-1, -2) / math.sqrt(Q.shape[-1])  # (..., T, tile)
        m_new = torch.maximum(m, S.amax(-1, keepdim=True))
        P = torch.exp(S - m_new)
        rescale = torch.exp(m - m_new)  # the old sums were taken against the old max
        l = l * rescale + P.sum(-1, keepdim=True)
        O = O * rescale + P @ V[..., j:j + tile, :]
        m = m_new
    return O / l
