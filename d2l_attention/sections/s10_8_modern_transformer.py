# Generated from notebooks/py/10.8-modern-transformer.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.8-modern-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.8 从 2017 年到今天 (From 2017 to Today): the components saved with `#@save`."""

import torch
from torch import nn

from .s10_5_multihead_attention import MultiHeadAttention, transpose_output, transpose_qkv
from .s10_7_transformer import EncoderBlock, causal_valid_lens, named_blocks

__all__ = ['TinyGPT', 'pre_ln_block', 'rope', 'RotaryAttention', 'step_with_cache', 'generate_with_cache']


# %% notebooks/py/10.8-modern-transformer.py:48
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


# %% notebooks/py/10.8-modern-transformer.py:171
def pre_ln_block(blk, X, valid_lens):
    """The parameters of a d2l.EncoderBlock in the pre-LN order: X + f(LN(X)), both sublayers."""
    H = blk.addnorm1.ln(X)
    X = X + blk.attention(H, H, H, valid_lens)
    return X + blk.ffn(blk.addnorm2.ln(X))


# %% notebooks/py/10.8-modern-transformer.py:256
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

    def forward(self, queries, keys, values, valid_lens=None):
        q, k, v = (transpose_qkv(W(X), self.num_heads)
                   for W, X in ((self.W_q, queries), (self.W_k, keys), (self.W_v, values)))
        q, k = rope(q), rope(k)  # (batch_size * num_heads, T, d / num_heads): position i = row i
        if valid_lens is not None:
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        return self.W_o(transpose_output(self.attention(q, k, v, valid_lens), self.num_heads))


# %% notebooks/py/10.8-modern-transformer.py:335
def step_with_cache(lm, token, t, cache):
    """One new token (1, 1) at position t through a TinyGPT (post- or pre-LN, learned positions or
    RoPE); cache[l] = [K, V] of block l, (num_heads, t, d / num_heads) each, grows by the new
    token's key and value. Returns its scores."""
    X = lm.embedding(token)  # (1, 1, d)
    if lm.position is not None:
        X = X + lm.position(torch.tensor([t]))
    for blk, kv in zip(lm.blks, cache):
        mha = blk.attention
        H = blk.addnorm1.ln(X) if lm.pre_ln else X  # what the attention reads
        q, k, v = (transpose_qkv(W(H), mha.num_heads) for W in (mha.W_q, mha.W_k, mha.W_v))
        if lm.rotary:  # rotate by the token's own position t
            q, k = rope(q, start=t), rope(k, start=t)
        kv[0], kv[1] = torch.cat([kv[0], k], dim=1), torch.cat([kv[1], v], dim=1)
        A = mha.W_o(transpose_output(mha.attention(q, *kv), mha.num_heads))  # no mask needed
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
    h = lm.blks[0].attention.num_heads
    p = lm.embedding.embedding_dim // h
    cache = [[torch.zeros(h, 0, p), torch.zeros(h, 0, p)] for _ in lm.blks]
    ids = [chars.index(c) for c in prompt]
    with torch.no_grad():
        for t in range(len(prompt) + num_chars - 1):  # the prompt too, one token at a time
            scores = step_with_cache(lm, torch.tensor([[ids[t]]]), t, cache)
            if t == len(ids) - 1:
                ids.append(scores.argmax().item())
    return "".join(chars[i] for i in ids), cache
