# Generated from notebooks/py/10.8-modern-transformer.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.8-modern-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.8 从 2017 年到今天 (From 2017 to Today): the components saved with `#@save`."""

import torch
from torch import nn

from .s10_5_multihead_attention import transpose_output, transpose_qkv
from .s10_7_transformer import EncoderBlock, causal_valid_lens, named_blocks

__all__ = ['TinyGPT', 'pre_ln_block', 'step_with_cache', 'generate_with_cache', 'rope']


# %% notebooks/py/10.8-modern-transformer.py:48
class TinyGPT(nn.Module):
    """Character + learned position embeddings, num_layers EncoderBlocks, dense to the vocab."""

    def __init__(self, vocab_size, d=32, num_heads=4, num_layers=2, max_len=32, causal=True,
                 pre_ln=False):
        super().__init__()
        self.causal, self.pre_ln = causal, pre_ln
        self.embedding = nn.Embedding(vocab_size, d)
        self.position = nn.Embedding(max_len, d)
        blocks = [EncoderBlock(d, d, d, d, [d], d, 2 * d, num_heads, 0.0)
                  for _ in range(num_layers)]
        self.blks = named_blocks(blocks)
        self.final_ln = nn.LayerNorm(d) if pre_ln else nn.Identity()
        self.dense = nn.Linear(d, vocab_size)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, tokens):  # (batch_size, T) -> (batch_size, T, vocab_size)
        b, T = tokens.shape
        mask = causal_valid_lens(b, T) if self.causal else None
        X = self.embedding(tokens) + self.position(torch.arange(T))
        for blk in self.blks:
            X = pre_ln_block(blk, X, mask) if self.pre_ln else blk(X, mask)
        return self.dense(self.final_ln(X))


# %% notebooks/py/10.8-modern-transformer.py:138
def pre_ln_block(blk, X, valid_lens):
    """The parameters of a d2l.EncoderBlock in the pre-LN order: X + f(LN(X)), both sublayers."""
    H = blk.addnorm1.ln(X)
    X = X + blk.attention(H, H, H, valid_lens)
    return X + blk.ffn(blk.addnorm2.ln(X))


# %% notebooks/py/10.8-modern-transformer.py:215
def step_with_cache(lm, token, t, cache):
    """One new token (1, 1) at position t through a post-LN TinyGPT; cache[l] = [K, V] of
    block l, (1, t, d) each, grows by the new token's key and value. Returns its scores."""
    X = lm.embedding(token) + lm.position(torch.tensor([t]))  # (1, 1, d)
    for blk, kv in zip(lm.blks, cache):
        mha = blk.attention
        q, k, v = mha.W_q(X), mha.W_k(X), mha.W_v(X)  # only the new position is projected
        kv[0], kv[1] = torch.cat([kv[0], k], dim=1), torch.cat([kv[1], v], dim=1)
        heads = mha.attention(*(transpose_qkv(Z, mha.num_heads) for Z in (q, *kv)))
        Y = blk.addnorm1(X, mha.W_o(transpose_output(heads, mha.num_heads)))
        X = blk.addnorm2(Y, blk.ffn(Y))
    return lm.dense(X)[0, -1]


def generate_with_cache(lm, chars, prompt, num_chars):
    """Greedy continuation of `prompt` by num_chars characters with step_with_cache; returns
    (the text, the cache)."""
    d = lm.embedding.embedding_dim
    cache = [[torch.zeros(1, 0, d), torch.zeros(1, 0, d)] for _ in lm.blks]
    ids = [chars.index(c) for c in prompt]
    with torch.no_grad():
        for t in range(len(prompt) + num_chars - 1):  # the prompt goes in one token at a time
            scores = step_with_cache(lm, torch.tensor([[ids[t]]]), t, cache)
            if t == len(ids) - 1:
                ids.append(scores.argmax().item())
    return "".join(chars[i] for i in ids), cache


# %% notebooks/py/10.8-modern-transformer.py:292
def rope(X, base=10000):
    """Rotate pair m of X: (..., T, d) at position i by theta_im = i * omega_m (d even)."""
    T, d = X.shape[-2], X.shape[-1]
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,): omega_m
    theta = torch.arange(T, dtype=torch.float32)[:, None] * omega  # (T, d/2): theta_im
    cos, sin = torch.cos(theta), torch.sin(theta)
    x_even, x_odd = X[..., 0::2], X[..., 1::2]
    return torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1).flatten(-2)
