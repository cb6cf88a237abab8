"""Explorers and the reversal experiment of section 10.6 (self-attention and positional encoding).

Also the annotated heatmaps of the dog-bites-man demo (`sentence_heatmaps`), the measured
time and memory of the three layers (`cost_figure`), p_i . p_j against i - j
(`distance_figure`) and the sin | cos heatmap (`encoding_heatmap`).

Everything here is built on the section's taught components, called through `d2l`:
`d2l.PositionalEncoding`, `d2l.rotation_for_offset`, `d2l.MultiHeadAttention` and the notebook's
`d2l.ReversalNet`. The notebook shows each explorer with one call::

    from d2l_attention.explore import self_attention
    self_attention.rotation(pos_encoding, num_steps)
    ablation = self_attention.train_ablation()  # one d2l.ReversalNet per position encoding
    self_attention.score_explorer(pos_encoding, ablation.position_scores("sinusoidal"))
    self_attention.ablation_explorer(ablation)

The reversal task: 8 random tokens in, the same tokens reversed out, through one single-head
self-attention layer with no residual connection, so output i can read token j only through the
attention weight a_ij. The three position variants ("sinusoidal", "learned", "none") differ only
in what is added to the token embeddings.
"""

from __future__ import annotations

import math
import platform

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention import explorers as ex

__all__ = ["sentence_heatmaps", "saved_for_backward", "cost_figure",
           "distance_figure", "encoding_heatmap",
           "rotation_states", "rotation", "score_states", "score_explorer", "wall_clock",
           "VOCAB_SIZE", "SEQ_LEN", "D_MODEL", "ENCODINGS", "reversal_batch", "LearnedPositions",
           "make_positions", "reversal_net", "fit", "train_reversal", "best_free_accuracy",
           "evaluate_reversal", "shift_batch", "train_shift",
           "shift_accuracy", "RotaryNet",
           "multiset_bound", "free_expectation", "free_spread", "Ablation", "train_ablation",
           "ablation_states", "ablation_explorer",
           "ablation_figure", "sweep", "committed_sweep", "sweep_summary"]

# ----------------------------------------------------------------------------------------------
# The dog-bites-man heatmaps


def sentence_heatmaps(matrices, sentences, titles, figsize=None):
    """Attention weights of short sentences side by side, each with its own words as tick labels
    and every weight written in its cell; one colour scale, matplotlib's Reds from 0 (white) to 1.
    matrices: list of (n, n) tensors (queries x keys); sentences: list of word lists."""
    d2l.use_svg_display()
    figsize = figsize or (2.8 * len(matrices) + 0.8, 2.8)
    fig, axes = d2l.plt.subplots(1, len(matrices), figsize=figsize, squeeze=False,
                                 layout="constrained")
    for ax, A, words, title in zip(axes[0], matrices, sentences, titles):
        A = A.detach().float()
        image = ax.imshow(A.numpy(), cmap="Reds", vmin=0, vmax=1)
        ticks = range(len(words))
        ax.set_xticks(ticks, words)
        ax.set_yticks(ticks, words)
        ax.set(xlabel="key", ylabel="query", title=title)
        for i in ticks:
            for j in ticks:
                ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if A[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)


# ----------------------------------------------------------------------------------------------
# Memory saved for backward


def saved_for_backward(layer_fn, n, d):
    """Bytes of the distinct tensors autograd saves for backward in one forward pass of
    `layer_fn` on a (1, n, d) input, split into (n x n tensors, everything else)."""
    seen = {}

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.dtype)
        seen[key] = (t.untyped_storage().nbytes(), tuple(t.shape[-2:]) == (n, n))
        return t

    X = torch.randn(1, n, d, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = layer_fn(X)  # keep the graph (and its saved tensors) alive while counting
    del out
    square = sum(b for b, is_square in seen.values() if is_square)
    return square, sum(b for b, _ in seen.values()) - square


def cost_figure(step_by_step, d=64, k=3, timing_lengths=(16, 32, 64, 128, 256, 512, 1024),
                memory_lengths=(256, 512, 1024, 2048), seed=0, figsize=(9, 3)):
    """One "cost, measured" figure on the CPU. Left: thread CPU seconds (one thread, fastest of
    5) of a GRU cell run step by step (`step_by_step(cell, X)`, n dependent calls), the same cell
    on all n positions in one call (h_(t-1) = 0: the same multiply-adds, no dependence), and one
    d2l.MultiHeadAttention self-attention call. Right: the bytes autograd saves for backward
    (`saved_for_backward`) for a CNN (kernel k), a GRU and the self-attention layer.
    Prints the numbers the text quotes; returns {"seconds": [(gru, control, attention) per n],
    "memory": name -> [(n x n bytes, other bytes) per n], "threads": threads used}."""
    torch.manual_seed(seed)
    cell = nn.GRUCell(d, d)
    layer = d2l.MultiHeadAttention(d, d, d, d, num_heads=1, dropout=0)
    threads_used = []
    seconds = []
    for n in timing_lengths:
        X = torch.randn(1, n, d)
        seconds.append(wall_clock(
            [lambda X: step_by_step(cell, X),  # n dependent calls
             lambda X: cell(X[0], torch.zeros_like(X[0])),  # control: 1 call, no h_(t-1)
             lambda X: (threads_used.append(torch.get_num_threads()), layer(X, X, X))],
            X, reduce="min", clock="thread"))
    torch.manual_seed(seed)
    conv = nn.Conv1d(d, d, kernel_size=k, padding=k // 2)
    gru = nn.GRU(d, d, batch_first=True)
    layers = {f"CNN (k={k})": lambda X: conv(X.transpose(1, 2)), "RNN (GRU)": lambda X: gru(X)[0],
              "self-attention": lambda X: layer(X, X, X)}
    memory = {name: [saved_for_backward(fn, n, d) for n in memory_lengths]
              for name, fn in layers.items()}
    d2l.use_svg_display()
    fig, (left, right) = d2l.plt.subplots(1, 2, figsize=figsize, layout="constrained")
    labels = ["GRU cell, n calls (h_t needs h_(t-1))", "GRU cell, 1 call (no h_(t-1))",
              "self-attention, 1 call"]
    for series, label in zip(zip(*seconds), labels):
        left.plot(timing_lengths, series, marker="o", markersize=3, label=label)
    left.set(xscale="log", yscale="log", xlabel="sequence length n",
             ylabel="CPU seconds (1 thread)", title="time")
    left.legend(fontsize=7)
    mib = 2 ** 20
    for name, parts in memory.items():
        right.plot(memory_lengths, [sum(p) / mib for p in parts], marker="o", markersize=3,
                   label=name)
    right.set(xscale="log", yscale="log", xlabel="sequence length n",
              ylabel="MiB saved for backward", title="memory")
    right.set_xticks(memory_lengths, [str(n) for n in memory_lengths])
    right.minorticks_off()
    right.legend(fontsize=7)
    gru_s, control_s, attention_s = (1e3 * s for s in seconds[-1])
    print(f"CPU, {max(threads_used)} thread, thread CPU time. n = {timing_lengths[-1]}: GRU cell, "
          f"n calls {gru_s:.1f} ms | same cell, 1 call {control_s:.2f} ms "
          f"({gru_s / control_s:.0f}x faster) | self-attention, 1 call {attention_s:.1f} ms")
    square, rest = memory["self-attention"][-1]
    growth = {name: sum(parts[-1]) / sum(parts[-2]) for name, parts in memory.items()}
    square_growth = square / memory["self-attention"][-2][0]
    print(f"saved for backward per doubling of n ({memory_lengths[-2]} -> {memory_lengths[-1]}): "
          + ", ".join(f"{name} x{g:.2f}" for name, g in growth.items())
          + f" (its n x n weights A x{square_growth:.2f}); at n = {memory_lengths[-1]} A takes "
          f"{square / mib:.0f} MiB, everything else {rest / mib:.1f} MiB")
    return {"seconds": seconds, "memory": memory, "threads": max(threads_used)}


def distance_figure(gram, figsize=(6, 2.6)):
    """Every entry gram[i, j] = p_i . p_j of an (n, n) Gram matrix plotted against i - j: if the
    score depends on the distance only, all n^2 points fall on one curve."""
    n = gram.shape[0]
    i_minus_j = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    d2l.use_svg_display()
    fig, ax = d2l.plt.subplots(figsize=figsize, layout="constrained")
    ax.scatter(i_minus_j.flatten().numpy(), gram.flatten().numpy(), s=4, color="#1f77b4",
               label=f"all {n} x {n} pairs (i, j)")
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.set(xlabel="i - j", ylabel="p_i · p_j")
    ax.legend(fontsize=8, loc="upper right")


def encoding_heatmap(P, figsize=(5, 3.6)):
    """The encoding P (num_steps, d) as a heatmap with its d/2 sine columns (left) and d/2
    cosine columns (right) apart, a divider between them, each half's columns in order m."""
    num_steps, d = P.shape
    half = d // 2
    d2l.use_svg_display()
    fig, ax = d2l.plt.subplots(figsize=figsize, layout="constrained")
    image = ax.imshow(torch.cat([P[:, 0::2], P[:, 1::2]], dim=1).numpy(), cmap="RdBu_r",
                      vmin=-1, vmax=1, aspect="auto")
    ax.axvline(half - 0.5, color="black", linewidth=1.5)
    ticks = [t for t in range(0, half, 4)]
    ax.set_xticks(ticks + [half + t for t in ticks],
                  [f"sin {t}" if t == 0 else str(t) for t in ticks]
                  + [f"cos {t}" if t == 0 else str(t) for t in ticks], fontsize=8)
    ax.set(xlabel="column pair m (left: sin columns 2m, right: cos columns 2m+1)",
           ylabel="Row (position)")
    fig.colorbar(image, ax=ax, shrink=0.8)


# ----------------------------------------------------------------------------------------------
# Explorer 1: an offset is a rotation


def rotation_states(pos_encoding, num_steps, pairs, positions, offsets):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode), by layer: for each column
    pair m in `pairs`, "circle" (the unit circle) and "encoding" (the points (p_{i,2m},
    p_{i,2m+1}) of all num_steps positions); for each position i in `positions` and offset delta
    in `offsets`, "p_i", "p_i+delta" and "M p_i" (M = d2l.rotation_for_offset(delta)); and
    "text": per pair and offset, two lines: the angle delta * w_m and
    max_i |M p_i - p_{i+delta}|."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_steps, d))[0].double()  # (num_steps, d)
    P2 = P.reshape(num_steps, d // 2, 2)  # P2[i, m] = (p_{i,2m}, p_{i,2m+1})
    omega = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    M = {delta: d2l.rotation_for_offset(delta, d) for delta in offsets}
    turn = torch.linspace(0, 2 * math.pi, 73, dtype=torch.float64)
    layers = {name: [] for name in ("circle", "encoding", "p_i", "p_i+delta", "M p_i", "text")}

    def points(layer, state, xy, label):  # xy: (k, 2), k points (sin, cos)
        layers[layer].extend(ex.rows(state, sin=xy[:, 0], cos=xy[:, 1], point=[label] * len(xy)))

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
            angle = delta * omega[m].item()
            lines = [f"rotation angle δ·ω_m = {angle:.3f} rad = {angle / (2 * math.pi):.2f} turns",
                     f"max over i |M_δ p_i − p_(i+δ)| = {gap[m].item():.1e}"]
            layers["text"] += ex.rows({"pair": m, "delta": delta}, row_labels=("line", [0, 1]),
                                      text=lines)
    return layers


def rotation(pos_encoding, num_steps, pairs=(0, 2, 4, 6), positions=range(0, 36, 5),
             offsets=range(0, 21), default_pos=10, default_delta=3):
    """The rotation explorer: for each column pair m in `pairs`, the unit circle, the encodings
    of all positions, p_i, p_{i+delta} and M_delta p_i; sliders for i and delta."""
    layers = rotation_states(pos_encoding, num_steps, pairs, positions, offsets)
    d = pos_encoding.num_hiddens
    sizes = {"circle": 6, "encoding": 18, "p_i": 120, "p_i+delta": 110, "M p_i": 260}
    labels = ["unit circle", f"p_0 … p_{num_steps - 1}", "p_i", "p_(i+δ)", "M_δ p_i"]
    looks = {"color": ["#bbbbbb", "#e45756", "#4c78a8", "#f58518", "#000000"],
             "shape": ["circle", "circle", "circle", "circle", "cross"],
             "opacity": [1, 0.3, 1, 1, 1]}  # one legend: each label drawn as on the plane

    def layer(rows, size, m):
        def draw(alt, base):
            scale = alt.Scale(domain=[-1.2, 1.2], nice=False)
            legend = {key: alt.Scale(domain=labels, range=values) for key, values in looks.items()}
            return base.mark_point(filled=True, size=size, clip=True).encode(
                x=alt.X("sin:Q", title=f"p_(i,{2 * m}) = sin(i·ω_m)", scale=scale),
                y=alt.Y("cos:Q", title=f"p_(i,{2 * m + 1}) = cos(i·ω_m)", scale=scale),
                color=alt.Color("point:N", scale=legend["color"], title="point"),
                shape=alt.Shape("point:N", scale=legend["shape"], title="point"),
                opacity=alt.Opacity("point:N", scale=legend["opacity"], legend=None))

        return ex.View(rows, draw, 170, 170, f"pair m = {m}: ω_m = {10000 ** (-2 * m / d):.3g}")

    def panel(m):
        return tuple(layer([r for r in layers[name] if r["pair"] == m], size, m)
                     for name, size in sizes.items())

    return ex.explorer(
        *[panel(m) for m in pairs],
        *[ex.text_view([r for r in layers["text"] if r["pair"] == m], "text", width=170,
                       height=36, size=10) for m in pairs],
        controls=[ex.Slider("pos", positions, "position i", default=default_pos),
                  ex.Slider("delta", offsets, "offset δ", default=default_delta)],
        title="An offset δ rotates every (sin, cos) pair by δ·ω_m.  blue: p_i, orange: p_(i+δ), "
              "cross: M_δ p_i, red: all positions", columns=len(pairs))


# ----------------------------------------------------------------------------------------------
# Explorer 2: what the position part of a score looks at


def score_states(pos_encoding, trained_scores, num_positions=16, offsets=range(0, 9)):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode): "weights", for each delta
    in `offsets`, the softmax over keys j of the position-only score (W_q p_i) . p_j (W_k = I,
    no 1/sqrt(d)) with W_q = d2l.rotation_for_offset(delta), for the queries i whose key
    i + delta exists (the other rows are left out, so the plot shows only the shifted
    diagonal); "trained", the softmax over keys of `trained_scores` (queries x keys: a trained
    net's position-only scores), rows without a delta; "text": the offsets (best key - i) over
    the drawn queries, per delta, and the trained panel's best key per query."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_positions, d))[0].double()
    weight_rows, text_rows, labels = [], [], [str(i) for i in range(num_positions)]
    trained = torch.softmax(trained_scores.detach().double(), dim=-1)
    trained_best = trained.argmax(dim=-1).tolist()
    for delta in sorted(offsets, key=abs):  # delta = 0 first: it fixes the axis order 0..n-1
        first, stop = max(0, -delta), num_positions - max(delta, 0)
        W = d2l.rotation_for_offset(delta, d)
        weights = torch.softmax((P[first:stop] @ W.T) @ P.T, dim=-1)  # (queries, keys)
        state = {"delta": delta}
        weight_rows += ex.rows(state, weight=weights, row_labels=("query", labels[first:stop]),
                               col_labels=("key", labels), decimals=2)
        best = (weights.argmax(dim=-1) - torch.arange(first, stop)).tolist()
        text_rows += ex.rows(state, row_labels=("line", [0, 1]), text=[
            f"left, M_{delta}: best key - query over queries {first}..{stop - 1}: "
            f"{sorted(set(best))}",
            f"right, trained: best key for queries 0..{len(trained_best) - 1}: {trained_best}"])
    n = trained.shape[0]
    trained_rows = ex.rows({}, weight=trained, row_labels=("query", labels[:n]),
                           col_labels=("key", labels[:n]), decimals=2)
    drop = ("row", "col")  # the labels carry the positions; smaller JSON
    return ([{k: v for k, v in r.items() if k not in drop} for r in weight_rows],
            [{k: v for k, v in r.items() if k not in drop} for r in trained_rows], text_rows)


def score_explorer(pos_encoding, trained_scores, num_positions=16, offsets=range(0, 9),
                   default=3):
    """Softmax of position-only scores as query x key heatmaps: left, p_i^T W_q^T p_j with
    W_q = M_delta and a slider for delta (rows whose key i + delta does not exist are left
    blank); right, a trained net's position-only scores `trained_scores` (queries x keys)."""
    weight_rows, trained_rows, text_rows = score_states(pos_encoding, trained_scores,
                                                        num_positions, offsets)
    return ex.explorer(
        ex.heatmap_view(weight_rows, "key", "query", text=False, width=260, height=260,
                        title="hand-set: W_q = M_δ, W_k = I",
                        x_title="key position j", y_title="query position i"),
        ex.heatmap_view(trained_rows, "key", "query", text=True, width=260, height=260,
                        title="trained reversal net: position·position term",
                        x_title="key position j", y_title="query position i"),
        ex.text_view(text_rows, "text", width=260, height=36, size=11),
        controls=[ex.Slider("delta", offsets, "δ in W_q = M_δ", default=default)],
        title="Which key does query i prefer? softmax over j of the position-only score",
        columns=2)


# ----------------------------------------------------------------------------------------------
# Wall-clock time: a GRU run step by step against one self-attention call


def wall_clock(fns, *args, repeats=5, reduce="median", clock="wall"):
    """Median (or, with reduce="min", fastest) seconds of each function in `fns`, called as
    fn(*args), over `repeats` calls, after one warm-up call each. The minimum is the least
    disturbed run of a shared machine. clock="thread" (CPU only) counts the CPU seconds of the
    one timing thread instead, which other processes on a shared machine cannot inflate.
    The functions are called in turn (alternating), so a slow moment of a shared machine hits
    them alike; CUDA is synchronized around each call.
    On the CPU it runs on one thread (restored after): on a loaded machine, more threads make
    small calls slower, and one thread also shows that the gap is not just more cores."""
    import time

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    timer = time.thread_time if clock == "thread" else time.perf_counter
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seconds = [[] for _ in fns]
    try:
        with torch.no_grad():
            for fn in fns:
                fn(*args)
            for _ in range(repeats):
                for times, fn in zip(seconds, fns):
                    sync()
                    start = timer()
                    fn(*args)
                    sync()
                    times.append(timer() - start)
    finally:
        torch.set_num_threads(threads)
    if reduce == "min":
        return [min(times) for times in seconds]
    return [sorted(times)[len(times) // 2] for times in seconds]


# ----------------------------------------------------------------------------------------------
# The reversal experiment

VOCAB_SIZE, SEQ_LEN, D_MODEL = 30, 8, 32
ENCODINGS = ("sinusoidal", "learned", "none")


def reversal_batch(batch_size, generator):
    """Random tokens (batch_size, SEQ_LEN) and their reversal, the targets."""
    tokens = torch.randint(0, VOCAB_SIZE, (batch_size, SEQ_LEN), generator=generator)
    return tokens, tokens.flip(1)


class LearnedPositions(nn.Module):
    """A trainable table P (1, max_len, num_hiddens), small random start, added to the input."""

    def __init__(self, num_hiddens, max_len):
        super().__init__()
        self.P = nn.Parameter(0.02 * torch.randn(1, max_len, num_hiddens))

    def forward(self, X):
        if X.shape[1] > self.P.shape[1]:
            raise ValueError(f"sequence length {X.shape[1]} exceeds max_len={self.P.shape[1]}: "
                             "a learned table has no row for unseen positions")
        return X + self.P[:, :X.shape[1]]


def make_positions(encoding):
    """The module that adds position information: "sinusoidal" (d2l.PositionalEncoding),
    "learned" (LearnedPositions) or "none" (nn.Identity)."""
    if encoding == "sinusoidal":
        return d2l.PositionalEncoding(D_MODEL, dropout=0)
    if encoding == "learned":
        return LearnedPositions(D_MODEL, SEQ_LEN)
    if encoding == "none":
        return nn.Identity()
    raise ValueError(f"encoding {encoding!r}: choose one of {ENCODINGS}")


def train_reversal(positions, num_steps=400, lr=0.05, seed=0, batch_size=64, make_net=None):
    """Train a d2l.ReversalNet (the notebook's `#@save` class; or `make_net(positions)`) with
    Adam, the learning rate decaying linearly to 0; returns it in eval mode.
    `positions`: a module, or one of ENCODINGS (then built here). The net is
    initialised and trained in float64: its weights then agree to ~1e-13 on every CPU kernel
    (in float32, torch.randn and the matmuls round differently on AVX2 and the default kernel,
    and 400 steps grow that to differences in the second decimal of the attention weights).
    Trains on one thread (tensors this small train fastest so), then restores the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_reversal(positions, num_steps, lr, seed, batch_size, make_net)
    finally:
        torch.set_num_threads(threads)


def shift_batch(batch_size, generator, num_steps=SEQ_LEN):
    """Random tokens (batch_size, num_steps) and the shift targets y_i = x_(i-1) (y_0 = x_last,
    which the shift task leaves out of its loss and accuracy)."""
    tokens = torch.randint(0, VOCAB_SIZE, (batch_size, num_steps), generator=generator)
    return tokens, tokens.roll(1, dims=1)


class RotaryNet(nn.Module):
    """ReversalNet's shape with rotary positions instead of added ones: tokens (batch_size, n)
    -> logits (batch_size, n, vocab_size). The query and key of position i are rotated by
    M_i = d2l.rotation_for_offset(i, num_hiddens), so a score depends on the offset j - i only
    through M_(j-i); nothing is added to the embeddings. n <= max_len."""

    def __init__(self, positions=None, vocab_size=30, num_hiddens=32, max_len=64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.W_q, self.W_k, self.W_v = (nn.Linear(num_hiddens, num_hiddens, bias=False)
                                        for _ in range(3))
        self.readout = nn.Linear(num_hiddens, vocab_size)
        rotations = torch.stack([d2l.rotation_for_offset(i, num_hiddens) for i in range(max_len)])
        self.register_buffer("rotations", rotations, persistent=False)  # (max_len, d, d)

    def attention_weights(self, tokens):
        """The attention weights (batch_size, n, n) of the rotated queries and keys."""
        X = self.embedding(tokens)
        R = self.rotations[:X.shape[1]].to(X.dtype)
        q = torch.einsum("nij,bnj->bni", R, self.W_q(X))
        k = torch.einsum("nij,bnj->bni", R, self.W_k(X))
        return torch.softmax(q @ k.transpose(1, 2) / math.sqrt(X.shape[-1]), dim=-1)

    def forward(self, tokens):
        return self.readout(self.attention_weights(tokens) @ self.W_v(self.embedding(tokens)))


def train_shift(encoding, num_steps=400, lr=0.05, seed=0, batch_size=64, max_len=16):
    """Train a net on the previous-token task y_i = x_(i-1) (positions 1..7 of length-SEQ_LEN
    sequences), like `train_reversal`: a d2l.ReversalNet for "sinusoidal" and "learned" (a table
    of `max_len` rows, so the net also runs on longer sequences; rows SEQ_LEN.. are never
    trained), a RotaryNet for "rotary". `encoding` may also be a position module (e.g. the
    reader's own learned table), which the ReversalNet then uses."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if encoding == "rotary":
            return _train_reversal(nn.Identity(), num_steps, lr, seed, batch_size, RotaryNet,
                                   task="shift")
        return _train_reversal(encoding, num_steps, lr, seed, batch_size, None, task="shift",
                               max_len=max_len)
    finally:
        torch.set_num_threads(threads)


def shift_accuracy(net, num_steps, num_sequences=1000, seed=12345):
    """Accuracy of a `train_shift` net on fresh length-num_steps sequences: (positions
    1..SEQ_LEN-1, the ones trained; positions SEQ_LEN..num_steps-1, never seen in training)."""
    tokens, target = shift_batch(num_sequences, torch.Generator().manual_seed(seed), num_steps)
    with torch.no_grad():
        right = (net(tokens).argmax(dim=-1) == target).double()
    return right[:, 1:SEQ_LEN].mean().item(), right[:, SEQ_LEN:].mean().item()


def reversal_net(positions, seed=0, make_net=None, max_len=SEQ_LEN):
    """A fresh d2l.ReversalNet (or `make_net(positions)`) in float64, initialised after
    torch.manual_seed(seed). `positions`: a module, or one of ENCODINGS (built here; "learned"
    gets a table of `max_len` rows). Built with float64 as the default dtype, so its weights are
    the same on every CPU kernel (float32 torch.randn rounds differently on AVX2 and the default
    kernel, and 400 training steps grow that to the second decimal of the attention weights)."""
    torch.manual_seed(seed)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        if isinstance(positions, str):
            positions = (LearnedPositions(D_MODEL, max_len) if positions == "learned"
                         else make_positions(positions))
        return (make_net or d2l.ReversalNet)(positions).double()
    finally:
        torch.set_default_dtype(default_dtype)


def fit(net, num_steps=400, lr=0.05, batch_size=64, seed=0, task="reversal"):
    """The training loop the notebook shows: Adam on the cross-entropy of the outputs, the
    learning rate falling linearly to 0, batches from torch.Generator().manual_seed(seed + 100).
    Returns (net in eval mode, loss per step)."""
    batches = torch.Generator().manual_seed(seed + 100)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / num_steps)
    first = 1 if task == "shift" else 0  # the shift task has no target at position 0
    batch = shift_batch if task == "shift" else reversal_batch
    losses = []
    for _ in range(num_steps):
        tokens, target = batch(batch_size, batches)
        loss = nn.functional.cross_entropy(net(tokens)[:, first:].flatten(0, 1),
                                           target[:, first:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return net.eval(), losses


def _train_reversal(positions, num_steps, lr, seed, batch_size, make_net, task="reversal",
                    max_len=SEQ_LEN):
    net = reversal_net(positions, seed, make_net, max_len)
    return fit(net, num_steps, lr, batch_size, seed, task)[0]


def evaluate_reversal(net, num_sequences=1000, seed=12345):
    """Token accuracy, attention weights (num_sequences, SEQ_LEN, SEQ_LEN), the test tokens and
    the predictions, on fresh sequences (the same ones for every net)."""
    tokens, target = reversal_batch(num_sequences, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        prediction = net(tokens).argmax(dim=-1)
    accuracy = (prediction == target).float().mean().item()
    return accuracy, net.attention.attention.attention_weights, tokens, prediction


def multiset_bound(tokens):
    """Best expected token accuracy of a model that sees token x_i and the multiset of the
    sequence but no positions: it can only output the most frequent of the other SEQ_LEN - 1
    tokens, right with probability (its count) / (SEQ_LEN - 1). tokens: (batch, SEQ_LEN)."""
    one_hot = nn.functional.one_hot(tokens, VOCAB_SIZE)
    others = one_hot.sum(dim=1, keepdim=True) - one_hot  # counts of the other tokens, per query
    return (others.max(dim=-1).values / (SEQ_LEN - 1)).float().mean().item()


def _partitions(n, largest=None):
    """The integer partitions of n, parts in non-increasing order."""
    largest = n if largest is None else largest
    if n == 0:
        yield ()
        return
    for part in range(min(n, largest), 0, -1):
        for rest in _partitions(n - part, part):
            yield (part,) + rest


def free_expectation(vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN):
    """Exact expected accuracy of the best model without positions on random sequences: a
    query's target is equally likely any of the other seq_len - 1 tokens, which are independent
    uniform draws; the best guess is their most frequent token, right with probability (its
    count) / (seq_len - 1). Returns E[max count] / (seq_len - 1), summing over the integer
    partitions of seq_len - 1 (the multiplicity patterns) the number of the vocab_size^(seq_len
    - 1) draws with that pattern."""
    draws = seq_len - 1
    total = 0
    for parts in _partitions(draws):
        tokens = math.perm(vocab_size, len(parts))  # ordered choice of distinct tokens
        for size in set(parts):
            tokens //= math.factorial(parts.count(size))  # equal parts are unordered
        orders = math.factorial(draws)
        for part in parts:
            orders //= math.factorial(part)  # arrangements of the draws
        total += tokens * orders * parts[0]
    return total / vocab_size ** draws / draws


def free_spread(num_sequences=1000, samples=100_000, seed=0):
    """Standard deviation of the best position-free accuracy (`best_free_accuracy`) over
    `num_sequences` random test sequences, estimated from `samples` random sequences."""
    generator = torch.Generator().manual_seed(seed)
    per_sequence = []
    for _ in range(samples // 10_000):
        tokens, _ = reversal_batch(10_000, generator)
        per_sequence.append(_free_hits(tokens).mean(dim=1))
    return torch.cat(per_sequence).std().item() / math.sqrt(num_sequences)


def _other_counts(tokens):
    one_hot = nn.functional.one_hot(tokens, VOCAB_SIZE)
    return one_hot.sum(dim=1, keepdim=True) - one_hot  # (batch, SEQ_LEN, vocab): other tokens


def best_free_accuracy(tokens):
    """Accuracy, on these very sequences, of the best model without positions (it outputs a most
    frequent other token, ties broken at random), averaged over the tie-breaks: for each query,
    [target is a most frequent other token] / (number of such tokens)."""
    return _free_hits(tokens).mean().item()


def _free_hits(tokens):
    """Per query: [target is a most frequent other token] / (number of such tokens)."""
    others = _other_counts(tokens)
    best = others == others.max(dim=-1, keepdim=True).values
    target = tokens.flip(1)[..., None]
    hit = best.gather(-1, target)[..., 0].double()
    return hit / best.sum(dim=-1)


class Ablation:
    """The three trained reversal nets and their results on the same 1000 test sequences.

    nets, accuracy, weights (1000, SEQ_LEN, SEQ_LEN), prediction: dicts keyed by encoding;
    tokens (1000, SEQ_LEN); bound: free_expectation(), the expected accuracy of the best model
    without positions on random sequences."""

    def __init__(self, nets):
        self.nets, self.accuracy, self.weights, self.prediction = nets, {}, {}, {}
        for name, net in nets.items():
            acc, weights, tokens, prediction = evaluate_reversal(net)
            self.accuracy[name], self.weights[name] = acc, weights
            self.prediction[name], self.tokens = prediction, tokens
        self.bound = free_expectation()
        self.expected_key = torch.arange(SEQ_LEN - 1, -1, -1)  # query i should read key 7 - i

    def weight_on_reversed(self, name):
        """Mean attention weight on key 7 - i, over sequences and queries."""
        w = self.weights[name]
        return w[:, torch.arange(SEQ_LEN), self.expected_key].mean().item()

    def position_scores(self, name):
        """Scores (W_q p_i) . (W_k p_j) / sqrt(d) of the position parts alone: (SEQ_LEN, SEQ_LEN)
        for a net with positions ("sinusoidal", "learned"), from its trained W_q and W_k."""
        net = self.nets[name]
        with torch.no_grad():
            P = net.positions(torch.zeros(1, SEQ_LEN, D_MODEL, dtype=torch.float64))[0]
            q, k = net.attention.W_q(P), net.attention.W_k(P)
        return q @ k.T / math.sqrt(D_MODEL)

    def weight_by_token(self, name):
        """Mean attention weight (over sequences) on the query's own position, on another
        position that holds the query's token, and on a key holding a different token."""
        w, tok = self.weights[name], self.tokens
        same = tok[:, :, None] == tok[:, None, :]  # (batch, query, key)
        own = torch.eye(SEQ_LEN, dtype=torch.bool).expand_as(same)
        return tuple(w[mask].mean().item() for mask in (own, same & ~own, ~same))

    def mean_weights(self, name):
        return self.weights[name].mean(dim=0)

    def table(self):
        """One line per encoding: accuracy, mean weight on key 7 - i, entropy of the weights."""
        lines = [f"{'encoding':12s}{'accuracy':>10s}{'weight on key 7-i':>19s}"]
        for name in self.nets:
            lines.append(f"{name:12s}{self.accuracy[name]:10.3f}"
                         f"{self.weight_on_reversed(name):19.2f}")
        return "\n".join(lines)


def train_ablation(encodings=ENCODINGS, seed=0, num_steps=400):
    """Train one d2l.ReversalNet per encoding (same seed, same batches) and evaluate them."""
    return Ablation({name: train_reversal(name, num_steps=num_steps, seed=seed)
                     for name in encodings})


def ablation_figure(ablation, figsize=(10, 3.6)):
    """The mean attention weights of the three nets side by side, on one colour scale (0 white)."""
    names = list(ablation.nets)
    d2l.show_heatmaps(torch.stack([ablation.mean_weights(n) for n in names]).unsqueeze(0),
                      xlabel="Key position j", ylabel="Query position i",
                      titles=[f"{n} (accuracy {ablation.accuracy[n]:.2f})" for n in names],
                      figsize=figsize, xticklabels=[str(j) for j in range(SEQ_LEN)],
                      yticklabels=[str(i) for i in range(SEQ_LEN)])


def ablation_states(ablation, sequences=range(10)):
    """Explorer rows: for each encoding and test sequence s in `sequences` (s = -1: the mean over
    all test sequences), "weights" (query x key, rows labelled by position and token) and
    "text" (accuracy, the multiset bound for "none", and this sequence's output)."""
    weight_rows, text_rows = [], []
    for name in ablation.nets:
        acc = ablation.accuracy[name]
        for s in sequences:
            state = {"encoding": name, "sequence": s}
            if s < 0:
                weights = ablation.mean_weights(name)
                queries = [f"{i}" for i in range(SEQ_LEN)]
                keys = queries
                output = "mean over 1000 test sequences"
            else:
                weights = ablation.weights[name][s]
                tok = ablation.tokens[s].tolist()
                pred = ablation.prediction[name][s].tolist()
                queries = [f"{i}: {t} → {p}" for i, (t, p) in enumerate(zip(tok, pred))]
                keys = [f"{j}: {t}" for j, t in enumerate(tok)]
                right = sum(p == t for p, t in zip(pred, tok[::-1]))
                output = f"sequence {s}: output {pred}, target {tok[::-1]}: {right}/8 right"
                repeats = [f"token {t} at positions "
                           + ", ".join(str(j) for j, u in enumerate(tok) if u == t)
                           for t in sorted(set(tok)) if tok.count(t) > 1]
                if repeats:
                    output += "; repeated: " + "; ".join(repeats)
            weight_rows += ex.rows(state, weight=weights, row_labels=("query", queries),
                                   col_labels=("key", keys), decimals=2)
            first = f"{name}: token accuracy on 1000 test sequences {acc:.2f}"
            if name == "none":
                first += f" (best without positions: {ablation.bound:.3f} expected)"
            text_rows += ex.rows(state, row_labels=("line", [0, 1]), text=[first, output])
    return weight_rows, text_rows


def _weights_view(data, width, height):
    """A heatmap of "weight" with keys and queries in position order ("col", "row") whatever
    their labels, since the token labels change with the test sequence; matplotlib's Reds on
    [0, 1], as in ex.heatmap_view and d2l.show_heatmaps."""

    def draw(alt, base):
        enc = dict(x=alt.X("key:N", sort=alt.EncodingSortField("col", op="min"),
                           title="key (position: token)"),
                   y=alt.Y("query:N", sort=alt.EncodingSortField("row", op="min"),
                           title="query (position: token → output)"))
        cells = base.mark_rect().encode(
            **enc, color=alt.Color("weight:Q", scale=ex._matplotlib_scale("reds", (0, 1)),
                                   title="weight"),
            tooltip=["key:N", "query:N", alt.Tooltip("weight:Q", format=".2f")])
        labels = base.mark_text(fontSize=10).encode(
            **enc, text=alt.Text("weight:Q", format=".2f"),
            color=alt.condition("datum['weight'] > 0.6", alt.value("white"), alt.value("black")))
        return cells + labels

    return ex.View(data, draw, width, height)


def ablation_explorer(ablation, sequences=range(-1, 6), default=("none", 1)):
    """The ablation explorer: a menu for the encoding, a slider for the test sequence (-1: the
    mean over all 1000); the attention weights (query rows labelled "position: token -> output")
    and the accuracy. Opens at `default` (encoding, sequence): "none" on test sequence 1, whose
    repeated tokens show what the static figure cannot: equal tokens get equal rows."""
    weight_rows, text_rows = ablation_states(ablation, sequences)
    return ex.explorer(
        _weights_view(weight_rows, width=330, height=260),
        ex.text_view(text_rows, "text", width=330, height=40, size=11),
        controls=[ex.Select("encoding", list(ablation.nets), "positional encoding",
                            default=default[0]),
                  ex.Slider("sequence", sequences, "test sequence (-1: mean over 1000)",
                            default=default[1])],
        title="Reversal with one self-attention layer: which key does query i read?", columns=1)


def sweep(seeds=range(5), num_steps=400):
    """The ablation's numbers for each seed, on this machine's CPU kernel (for results/)."""
    runs = []
    for seed in seeds:
        ablation = train_ablation(seed=seed, num_steps=num_steps)
        for name in ablation.nets:
            argmax = ablation.mean_weights(name).argmax(dim=-1).tolist()
            runs.append({"seed": seed, "encoding": name,
                         "accuracy": round(ablation.accuracy[name], 4),
                         "weight_on_reversed": round(ablation.weight_on_reversed(name), 4),
                         "mean_argmax_is_reversed": argmax == ablation.expected_key.tolist(),
                         "position_scores_argmax_is_reversed": None if name == "none" else
                         ablation.position_scores(name).argmax(dim=-1).tolist()
                         == ablation.expected_key.tolist(),
                         "bound": round(multiset_bound(ablation.tokens), 4)})
    return {"kernel": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "machine": platform.machine(), "runs": runs}


def committed_sweep(seed=0, kernel=None):
    """The committed results/sweep-positions.json runs of `seed` on `kernel` (default: this
    process's CPU kernel), by encoding; None when that kernel was not swept."""
    from . import committed_results

    kernel = kernel or torch.backends.cpu.get_cpu_capability()
    runs = committed_results("sweep-positions")["kernels"].get(kernel)
    if runs is None:
        return None
    return {r["encoding"]: r for r in runs["runs"] if r["seed"] == seed}


def sweep_summary():
    """Print, per encoding, the range of the accuracies and the smallest mean weight on key
    7 - i over the seeds of the committed results/sweep-positions.json, and whether every CPU
    kernel swept gave the same numbers; returns the accuracies by encoding (one per seed and
    kernel)."""
    from . import committed_results

    kernels = committed_results("sweep-positions")["kernels"]
    runs = [r for k in sorted(kernels) for r in kernels[k]["runs"]]
    seeds = sorted({r["seed"] for r in runs})
    same = all(sorted((r["seed"], r["encoding"], r["accuracy"]) for r in kernels[k]["runs"])
               == sorted((r["seed"], r["encoding"], r["accuracy"])
                         for r in next(iter(kernels.values()))["runs"]) for k in kernels)
    print(f"committed sweep: {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}); CPU kernels "
          f"{', '.join(sorted(kernels))} give {'the same' if same else 'different'} numbers")
    accuracy = {}
    for name in ENCODINGS:
        mine = [r for r in runs if r["encoding"] == name]
        accuracy[name] = [r["accuracy"] for r in mine]
        print(f"{name:12s} accuracy {min(accuracy[name]):.4f} to {max(accuracy[name]):.4f}, "
              f"weight on key 7-i at least {min(r['weight_on_reversed'] for r in mine):.2f}")
    return accuracy


def write_sweep(path, seeds=range(5)):
    """Run `sweep` on this process's CPU kernel and merge it into the JSON file at `path`
    (one entry per kernel): `python tools/book.py sweep positions --kernels default,avx2`."""
    import json
    import os

    torch.set_num_threads(1)
    result = sweep(seeds)
    data = json.load(open(path)) if os.path.exists(path) else {
        "what": "10.6 reversal ablation: each encoding trained with seeds 0-4 (400 Adam steps), "
                "tested on the same 1000 sequences",
        "command": "python tools/book.py sweep positions --kernels default,avx2",
        "kernels": {}}
    data["kernels"][result.pop("kernel")] = result
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
