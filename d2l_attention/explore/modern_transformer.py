"""Data, training loop, figures and the explorer of section 10.8 (from 2017 to today).

Everything here works on the section's small decoder-only language model (a stack of the taught
`d2l.EncoderBlock`, with `d2l.causal_valid_lens` as its mask), passed in as `lm`: any module
that maps (batch_size, T) character indices to (batch_size, T, vocab_size) scores and keeps its
blocks in `lm.blks`. The notebook shows each with one call::

    from d2l_attention.explore import modern_transformer as modern
    text, chars, ids = modern.char_data(num_lines=3000)
    losses = modern.train_char_lm(lm, ids, num_steps=300, window=32)
    modern.mask_explorer({True: causal_lm, False: unmasked_lm}, chars, "she's very happy .")
"""

from __future__ import annotations

import math

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex

# ----------------------------------------------------------------------------------------------
# A character-level language model on the English side of fra-eng


def english_lines(start=0, stop=3000):
    """The English sentences of pairs start..stop-1 of fra-eng (preprocessed like 10.4)."""
    raw = d2l.read_data_nmt().split("\n")[start:stop]
    return [line.split("\t")[0] for line in d2l.preprocess_nmt("\n".join(raw)).split("\n")
            if line]


def char_data(num_lines=3000):
    """The English sentences of the first num_lines pairs of fra-eng, joined by spaces, as
    (characters, the sorted alphabet, (len(text),) tensor of indices into it)."""
    text = " ".join(english_lines(0, num_lines))
    chars = sorted(set(text))
    return text, chars, torch.tensor([chars.index(c) for c in text])


def train_char_lm(lm, ids, num_steps=200, window=32, batch_size=32, lr=0.01, seed=0, warmup=0):
    """Adam on random windows of ids; lm maps (batch, T) tokens to (batch, T, vocab) scores
    and each position is trained to predict the next token. With warmup > 0 the learning rate
    rises linearly from lr / warmup to lr over the first `warmup` steps. Returns the loss of
    every step (a list of floats); lm is left in eval mode."""
    from torch.nn import functional as F

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(lm.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
    lm.train()
    losses = []
    for _ in range(num_steps):
        starts = torch.randint(0, len(ids) - window - 1, (batch_size,), generator=generator)
        w = torch.stack([ids[s:s + window + 1] for s in starts.tolist()])
        scores = lm(w[:, :-1])
        loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), w[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    lm.eval()
    return losses


def generate(lm, chars, prompt, num_chars=40, window=32):
    """Greedy continuation of `prompt`, one character at a time, the whole prefix (its last
    `window` characters) fed again at every step (no cache)."""
    ids = [chars.index(c) for c in prompt]
    with torch.no_grad():
        for _ in range(num_chars):
            ids.append(lm(torch.tensor([ids[-window:]]))[0, -1].argmax().item())
    return "".join(chars[i] for i in ids)


def count_rows(lm):
    """Forward hooks on every nn.Linear inside lm.blks that count the positions (rows) each one
    projects, summed by the linear's name in the block ('attention.W_k', 'ffn.dense1', ...).
    Returns (counts dict, remove function)."""
    from collections import Counter

    from torch import nn

    counts, handles = Counter(), []
    for blk in lm.blks:
        for name, module in blk.named_modules():
            if isinstance(module, nn.Linear):
                handles.append(module.register_forward_hook(
                    lambda m, args, out, name=name: counts.update({name: out[..., 0].numel()})))
    return counts, lambda: [h.remove() for h in handles]


# ----------------------------------------------------------------------------------------------
# Pre-LN vs post-LN: the loss curves


def plot_losses(curves, figsize=(5, 3), smooth=10, hline=None):
    """curves: {label: list of per-step losses}; each drawn as a running mean over `smooth`
    steps, one colour per label (C0, C1, ...). hline: (value, label) of a dashed grey line."""
    plt = d2l.plt
    d2l.use_svg_display()
    fig, ax = plt.subplots(figsize=figsize)
    for i, (label, losses) in enumerate(curves.items()):
        x = torch.tensor(losses)
        mean = x.unfold(0, smooth, 1).mean(-1)
        ax.plot(range(smooth, len(losses) + 1), mean, color=f"C{i}", label=label)
    if hline is not None:
        ax.axhline(hline[0], color="0.4", linestyle="--", linewidth=1,
                   label=f"{hline[1]} ({hline[0]:.2f})")
    ax.set_xlabel("Training step")
    ax.set_ylabel(f"Training loss (mean of {smooth} steps)")
    ax.legend(fontsize=8)
    plt.show()


# ----------------------------------------------------------------------------------------------
# RoPE against added sinusoids: the score of q at position i and k at position i + offset


def plot_rope_pair(q, k, m=1, positions=((1, 3), (5, 7)), base=10000, figsize=(7, 3.4)):
    """Pair m of q and k (d,) as arrows in the plane, one panel per (i, j): faint at position 0,
    solid after `d2l.rope` turns q by i * omega_m and k by j * omega_m; a dotted arrow is k
    turned by i * omega_m like q, and the arc from it to the solid k is the angle
    (j - i) * omega_m. Returns the pair's score (R_i q)_m . (R_j k)_m of each panel."""
    plt = d2l.plt
    d2l.use_svg_display()
    d = q.shape[-1]
    omega = base ** (-2 * m / d)
    T = max(max(p) for p in positions) + 1
    pair = slice(2 * m, 2 * m + 2)
    Rq, Rk = d2l.rope(q.expand(T, d))[:, pair], d2l.rope(k.expand(T, d))[:, pair]
    lim = 1.2 * max(q[pair].norm(), k[pair].norm()).item()
    fig, axes = plt.subplots(1, len(positions), figsize=figsize)
    scores = []
    for ax, (i, j) in zip(axes, positions):
        arrows = ((Rq[0], "C0", 0.25, "-", "q, k at position 0"), (Rk[0], "C1", 0.25, "-", None),
                  (Rk[i], "C1", 0.8, ":", "k turned by i ω (like q)"),
                  (Rq[i], "C0", 1.0, "-", "q turned by i ω"),
                  (Rk[j], "C1", 1.0, "-", "k turned by j ω"))
        for vec, colour, alpha, style, label in arrows:
            ax.annotate("", xy=vec.tolist(), xytext=(0, 0), arrowprops=dict(
                arrowstyle="-|>", color=colour, alpha=alpha, linestyle=style, lw=1.8))
            if label:
                ax.plot([], [], color=colour, alpha=alpha, linestyle=style, label=label)
        start = math.atan2(Rk[i][1].item(), Rk[i][0].item())
        angles = torch.linspace(start, start + (j - i) * omega, 30)
        r = 0.45 * Rk[j].norm().item()
        ax.plot(r * torch.cos(angles), r * torch.sin(angles), color="0.3", lw=1)
        mid = start + (j - i) * omega / 2
        ax.text(1.15 * r * math.cos(mid), 1.15 * r * math.sin(mid), "(j-i)ω", fontsize=8,
                ha="center", va="center")
        score = (Rq[i] @ Rk[j]).item()
        scores.append(score)
        ax.set_title(f"i = {i}, j = {j}: pair score {score:.3f}", fontsize=9)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.8)
        ax.axvline(0, color="0.85", lw=0.8)
        ax.tick_params(labelsize=7)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=7,
               frameon=False)
    fig.suptitle(f"RoPE, pair m = {m} (ω = {omega:.3f} rad per position)", fontsize=10)
    fig.subplots_adjust(bottom=0.2)
    plt.show()
    return scores


def rope_offset_states(q, k, positions=range(8, 41, 4), offsets=range(-8, 9), decimals=3):
    """Rows {encoding, i, offset, score} for q at position i and k at position i + offset,
    (R_i q)^T (R_j k) with `d2l.rope` and (q + p_i)^T (k + p_j) with 10.6's
    `d2l.PositionalEncoding` (positions below 0 skipped)."""
    d = q.shape[-1]
    T = max(positions) + max(offsets) + 1
    P = d2l.PositionalEncoding(d, 0.0).P[0, :T]
    scores = {"RoPE": d2l.rope(q.expand(T, d)) @ d2l.rope(k.expand(T, d)).T,
              "added p_i": (q + P) @ (k + P).T}
    rows = []
    for name, S in scores.items():
        for i in positions:
            for delta in offsets:
                if i + delta >= 0:
                    rows.append({"encoding": name, "i": i, "offset": delta,
                                 "score": round(S[i, i + delta].item(), decimals)})
    return rows


def rope_explorer(q, k, positions=range(8, 41, 4), offsets=range(-8, 9)):
    """Score against offset, one line per encoding, with a slider over the query's position i."""
    rows = rope_offset_states(q, k, positions, offsets)
    lo = min(r["score"] for r in rows)
    hi = max(r["score"] for r in rows)
    return ex.explorer(
        ex.line_view(rows, "offset", "score", color="encoding", width=420, height=220,
                     y_domain=(math.floor(lo), math.ceil(hi)), points=True,
                     x_title="offset j - i", y_title="score of q at i, k at j"),
        controls=[ex.Slider("i", tuple(positions), "query position i", default=positions[0])],
        title="RoPE vs added sinusoids: score by offset as the query slides")


# ----------------------------------------------------------------------------------------------
# The explorer: what a language model trained without the causal mask looks at


def position_labels(text):
    """Characters tagged with their position (from 0), spaces shown as '_': '0 s', '1 h', ..."""
    return [f"{i} {c if c != ' ' else '_'}" for i, c in enumerate(text)]


def mask_states(lms, chars, text, decimals=2):
    """Explorer rows for each lm of lms ({trained with the causal mask: lm}) run on `text`
    (eval mode, each with its own mask): the self-attention weights of every layer and head
    (from 1) and a text row with the next character predicted at each position and how many
    of them are right."""
    heat_rows, text_rows = [], []
    labels = position_labels(text)
    ids = torch.tensor([[chars.index(c) for c in text]])
    for causal, lm in lms.items():
        lm.eval()
        with torch.no_grad():
            predicted = lm(ids)[0].argmax(-1)
        for layer, blk in enumerate(lm.blks):
            weights = blk.attention.attention.attention_weights  # (num_heads, T, T)
            for head in range(weights.shape[0]):
                heat_rows += ex.rows({"causal": causal, "layer": layer + 1, "head": head + 1},
                                     row_labels=("query", labels), col_labels=("key", labels),
                                     decimals=decimals, weight=weights[head])
        right = (predicted[:-1] == ids[0, 1:]).sum().item()
        guess = "".join(chars[i] for i in predicted.tolist()).replace(" ", "_")
        text_rows += ex.rows({"causal": causal}, text=[
            f"next character predicted at each position: {guess}; right: {right} of "
            f"{len(text) - 1}"])
    return heat_rows, text_rows


def next_position_weight(heat, causal, layer, head):
    """Mean weight of queries t on key t + 1 in the `mask_states` rows of one model and head."""
    cells = [r["weight"] for r in heat if (r["causal"], r["layer"], r["head"]) ==
             (causal, layer, head) and r["col"] == r["row"] + 1]
    return sum(cells) / len(cells)


def mask_explorer(lms, chars, text, default_causal=False):
    """A 'trained with the causal mask' checkbox x layer x head over `mask_states`, starting at
    the head of the model without the mask that puts most weight on the next position."""
    heat, lines = mask_states(lms, chars, text)
    layers = sorted({r["layer"] for r in heat})
    heads = sorted({r["head"] for r in heat})
    layer, head = max(((l, h) for l in layers for h in heads),
                      key=lambda lh: next_position_weight(heat, False, *lh))
    return ex.explorer(
        ex.heatmap_view(heat, "key", "query", width=300, height=300),
        ex.text_view(lines, "text", width=620, height=30, size=12),
        controls=[ex.Checkbox("causal", "trained with the causal mask", default=default_causal),
                  ex.Select("layer", layers, "layer", default=layer),
                  ex.Select("head", heads, "head", default=head)],
        title=f"Self-attention of the character LM on {text!r}", columns=1)
