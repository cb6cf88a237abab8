# Generated from notebooks/10.6-self-attention-and-positional-encoding.py by `make lib`: DO NOT EDIT.
# Edit notebooks/10.6-self-attention-and-positional-encoding.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.6 自注意力和位置编码 (Self-Attention and Positional Encoding): the components saved with `#@save`."""

import math

import torch
from torch import nn

from ..checks import check_at_most, check_even, check_shape
from ..explorers import rows

__all__ = ['PositionalEncoding', 'rotation_for_offset', 'rotation_states', 'dot_profile_states']


# %% notebooks/10.6-self-attention-and-positional-encoding.py:303
class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding added to the input, then dropout.

    X: (batch_size, num_steps, num_hiddens) with num_steps <= max_len. Output: same shape.
    `self.P`: (1, max_len, num_hiddens) with P[0, i, 2m] = sin(i * w_m) and
    P[0, i, 2m + 1] = cos(i * w_m), where w_m = 10000^(-2m / num_hiddens).
    """

    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        check_even(num_hiddens, "num_hiddens", "columns come in sine/cosine pairs")
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        pair = torch.arange(num_hiddens // 2, dtype=torch.float64)
        omega = torch.exp(-math.log(10000.0) * 2 * pair / num_hiddens)  # (num_hiddens / 2,)
        theta = torch.outer(torch.arange(max_len, dtype=torch.float64), omega)
        # (max_len, num_hiddens / 2, 2) -> (max_len, num_hiddens): sin to column 2m, cos to 2m + 1
        P = torch.stack((theta.sin(), theta.cos()), dim=-1).flatten(start_dim=1)
        self.register_buffer("P", P.unsqueeze(0).float(), persistent=False)

    def forward(self, X):
        check_shape(X, "X", "(batch_size, num_steps, num_hiddens)",
                        num_hiddens=self.num_hiddens)
        check_at_most(X.shape[1], self.max_len, "sequence length", "max_len",
                          "create PositionalEncoding with a larger max_len")
        return self.dropout(X + self.P[:, :X.shape[1]].to(X.dtype))


# %% notebooks/10.6-self-attention-and-positional-encoding.py:411
def rotation_for_offset(delta, num_hiddens):
    """Block-diagonal M with M @ p_i == p_{i+delta} for the sinusoidal encoding."""
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    c, s = torch.cos(delta * omega), torch.sin(delta * omega)
    blocks = [torch.tensor([[ci, si], [-si, ci]], dtype=torch.float64)
              for ci, si in zip(c.tolist(), s.tolist())]
    return torch.block_diag(*blocks)


# %% notebooks/10.6-self-attention-and-positional-encoding.py:460
def rotation_states(pos_encoding, num_steps, pairs, positions, offsets):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode), by layer: for each column
    pair m in `pairs`, "circle" (the unit circle) and "encoding" (the points (p_{i,2m},
    p_{i,2m+1}) of all num_steps positions); for each position i in `positions` and offset delta
    in `offsets`, "p_i", "p_i+delta" and "M p_i" (M = rotation_for_offset(delta)); and "text":
    per pair and offset, two lines: the angle delta * w_m and max_i |M p_i - p_{i+delta}|."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_steps, d))[0].double()  # (num_steps, d)
    P2 = P.reshape(num_steps, d // 2, 2)  # P2[i, m] = (p_{i,2m}, p_{i,2m+1})
    omega = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    M = {delta: rotation_for_offset(delta, d) for delta in offsets}
    turn = torch.linspace(0, 2 * math.pi, 73, dtype=torch.float64)
    layers = {name: [] for name in ("circle", "encoding", "p_i", "p_i+delta", "M p_i", "text")}

    def points(layer, state, xy, label):  # xy: (k, 2), k points (sin, cos)
        layers[layer].extend(rows(state, sin=xy[:, 0], cos=xy[:, 1], point=[label] * len(xy)))

    for m in pairs:
        points("circle", {"pair": m}, torch.stack([turn.sin(), turn.cos()], dim=1), "unit circle")
        points("encoding", {"pair": m}, P2[:, m], f"p_0 … p_{num_steps - 1}")
        for i in positions:
            points("p_i", {"pair": m, "pos": i}, P2[i:i + 1, m], "p_i")
            for delta in offsets:
                state = {"pair": m, "pos": i, "delta": delta}
                points("p_i+delta", state, P2[i + delta:i + delta + 1, m], "p_(i+δ)")
                rotated = (M[delta] @ P[i]).reshape(d // 2, 2)
                points("M p_i", state, rotated[m:m + 1], "M_δ p_i")
    for delta in offsets:
        gap = (P[:num_steps - delta] @ M[delta].T - P[delta:]).abs()  # (num_steps - delta, d)
        gap = gap.reshape(-1, d // 2, 2).amax(dim=(0, 2))  # per pair: max over i
        for m in pairs:
            lines = [f"rotation angle δ·ω_m = {delta * omega[m].item():.3f} rad",
                     f"max over i |M_δ p_i − p_(i+δ)| = {gap[m].item():.1e}"]
            layers["text"] += rows({"pair": m, "delta": delta}, row_labels=("line", [0, 1]),
                                       text=lines)
    return layers


# %% notebooks/10.6-self-attention-and-positional-encoding.py:541
def dot_profile_states(pos_encoding, num_steps, positions):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode), by layer: for each
    position i in `positions`, "profile" (p_i . p_j for j = 0..num_steps-1), "shifted" (the
    profile of position 0 moved to i, p_0 . p_|i-j|), "rule" (j = i) and one "text" line."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_steps, d))[0].double()  # (num_steps, d)
    gram, j = P @ P.T, torch.arange(num_steps)  # gram[i, j] = p_i . p_j
    layers = {name: [] for name in ("profile", "shifted", "rule", "text")}
    for i in positions:
        state, shifted = {"position": i}, gram[0, (j - i).abs()]
        layers["profile"] += rows(state, j=j, dot=gram[i], curve=["p_i · p_j"] * num_steps)
        layers["shifted"] += rows(state, j=j, dot=shifted,
                                      curve=["p_0 · p_|i−j|"] * num_steps)
        layers["rule"] += rows(state, j=[i])
        layers["text"] += rows(state, text=[
            f"largest p_i · p_j at j = {gram[i].argmax().item()}: {gram[i].max().item():.2f}; "
            f"max over j of |p_i · p_j − p_0 · p_|i−j|| = {(gram[i] - shifted).abs().max():.1e}"])
    return layers
