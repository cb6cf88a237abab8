# Generated from notebooks/py/10.6-self-attention-and-positional-encoding.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.6-self-attention-and-positional-encoding.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.6 自注意力和位置编码 (Self-Attention and Positional Encoding): the components saved with `#@save`."""

import math

import torch
from torch import nn

from ..checks import check_shape
from .s10_5_multihead_attention import MultiHeadAttention

__all__ = ['PositionalEncoding', 'rotation_for_offset', 'ReversalNet']


# %% notebooks/py/10.6-self-attention-and-positional-encoding.py:298
class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding added to the input, then dropout.

    X: (batch_size, num_steps, num_hiddens) with num_steps <= max_len. Output: same shape.
    `self.P`: (1, max_len, num_hiddens) with P[0, i, 2m] = sin(i * w_m) and
    P[0, i, 2m + 1] = cos(i * w_m), where w_m = 10000^(-2m / num_hiddens).
    """

    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        if num_hiddens % 2:
            raise ValueError(f"num_hiddens={num_hiddens} is odd: the columns come in sine/cosine "
                             "pairs; use an even num_hiddens")
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        pair = torch.arange(num_hiddens // 2, dtype=torch.float64)
        omega = torch.exp(-math.log(10000.0) * 2 * pair / num_hiddens)  # (num_hiddens / 2,)
        theta = torch.outer(torch.arange(max_len, dtype=torch.float64), omega)
        # (max_len, num_hiddens / 2, 2) -> (max_len, num_hiddens): sin to column 2m, cos to 2m + 1
        P = torch.stack((theta.sin(), theta.cos()), dim=-1).flatten(start_dim=1)
        self.register_buffer("P", P.unsqueeze(0).float(), persistent=False)

    def forward(self, X):
        check_shape(X, "X", "(batch_size, num_steps, num_hiddens)", num_hiddens=self.num_hiddens)
        if X.shape[1] > self.max_len:
            raise ValueError(f"sequence length {X.shape[1]} exceeds max_len={self.max_len}: "
                             "create PositionalEncoding with a larger max_len")
        return self.dropout(X + self.P[:, :X.shape[1]].to(X.dtype))


# %% notebooks/py/10.6-self-attention-and-positional-encoding.py:384
def rotation_for_offset(delta, num_hiddens):
    """Block-diagonal M with M @ p_i == p_{i+delta} for the sinusoidal encoding."""
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    c, s = torch.cos(delta * omega), torch.sin(delta * omega)
    blocks = [torch.tensor([[ci, si], [-si, ci]], dtype=torch.float64)
              for ci, si in zip(c.tolist(), s.tolist())]
    return torch.block_diag(*blocks)


# %% notebooks/py/10.6-self-attention-and-positional-encoding.py:485
class ReversalNet(nn.Module):
    """tokens (batch_size, n) -> logits (batch_size, n, vocab_size): embedding + positions ->
    one single-head self-attention layer -> linear readout (no residual: i reads j only via a_ij)."""

    def __init__(self, positions, vocab_size=30, num_hiddens=32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.positions = positions  # adds position information to the embeddings
        self.attention = MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens,
                                                num_hiddens, num_heads=1, dropout=0)
        self.readout = nn.Linear(num_hiddens, vocab_size)

    def forward(self, tokens):
        X = self.positions(self.embedding(tokens))
        return self.readout(self.attention(X, X, X))
