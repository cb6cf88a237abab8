"""Section 10.5's figures and explorer: how the heads are folded into the batch, one softmax
against several, and the trained neighbour task whose heads split i+1 and i-1.

The notebook calls `reshape_figure()`, `softmax_explorer(...)`, `ray_figure(...)`,
`heads_explorer(...)` and `cloze_explorer(...)`; they compute what they draw with the taught
`d2l.transpose_qkv`, `d2l.MultiHeadAttention` and `d2l.ClozeNet`, and return (or expose
through a `*_states` function) the numbers, for the section's tests. The section's
`d2l.with_heads` masks heads of a trained model (zeros or a given fill, e.g. the head's average
output from `head_outputs`); `cloze_data`, `train_cloze` and `cloze_baseline_guesses` are the
real-text task's data, training loop and no-attention yardsticks.
"""

from __future__ import annotations

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex

# Vega-Lite's default category colours (tableau10): a head keeps its colour in the static
# figures and in the explorer's lines (head 1 blue, head 2 orange, ...).
HEAD_COLOURS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
                "#ff9da6")
SINGLE_COLOUR = "#7f7f7f"  # the one softmax of a single head


def _light(colour, amount=0.55):
    """`colour` mixed with white (amount = share of white), for cell fills under black text."""
    rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return tuple(c + (1 - c) * amount for c in rgb)


# ---------------------------------------------------------------------------------------------
# The reshape, drawn from the taught transpose_qkv
# ---------------------------------------------------------------------------------------------

def reshape_states(batch_size=2, num_steps=3, num_heads=4, head_dim=2):
    """The tensors the reshape figure draws: X = arange as the projected queries
    (b, n, h*p), then (b, n, h, p), (b, h, n, p) and `d2l.transpose_qkv(X)` (b*h, n, p)."""
    X = torch.arange(batch_size * num_steps * num_heads * head_dim).reshape(
        batch_size, num_steps, num_heads * head_dim)
    folded = d2l.transpose_qkv(X, num_heads)
    return {"b n hp": X, "b n h p": X.unflatten(-1, (num_heads, head_dim)),
            "b h n p": folded.unflatten(0, (batch_size, num_heads)), "bh n p": folded}


def _block(ax, x0, y0, values, colour, size=8, outline=True):
    """A matrix of numbered cells with its top-left corner at (x0, y0), y pointing down."""
    from matplotlib.patches import Rectangle

    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=_light(colour),
                                   edgecolor="white", lw=1.2))
            ax.text(x0 + c + 0.5, y0 + r + 0.5, str(int(values[r, c])), ha="center",
                    va="center", fontsize=size)
    if outline:
        ax.add_patch(Rectangle((x0, y0), cols, rows, fill=False, edgecolor="#555", lw=0.8))


def _arrow(ax, start, end, text, **kw):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color="#444", lw=1.2, shrinkA=0, shrinkB=0))
    ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - 0.35, text, ha="center",
            va="bottom", fontsize=9, family="monospace", **kw)


def reshape_figure(batch_size=2, num_steps=3, num_heads=4, head_dim=2, d_q=5, figsize=(12, 6)):
    """Draw the stacked W_q (row blocks coloured by head) and the reshape chain of
    `d2l.transpose_qkv`: (b, n, h*p) -> (b, n, h, p) -> (b, h, n, p) -> (b*h, n, p).
    The numbers in the cells are those of X = arange (the projected queries), so every number
    can be followed to where transpose_qkv puts it. Returns the drawn tensors (`reshape_states`)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    s = reshape_states(batch_size, num_steps, num_heads, head_dim)
    b, n, h, p = batch_size, num_steps, num_heads, head_dim
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_aspect("equal")
    ax.axis("off")
    title = dict(ha="left", va="bottom", fontsize=10, weight="bold")
    note = dict(ha="left", va="bottom", fontsize=9, color="#555")

    # (1) W_q: h*p rows of d_q weights; rows [i*p, (i+1)*p) are head i's projection.
    y_top = 1.5
    ax.text(0, y_top - 1.3, "W_q.weight  (h·p, d_q)", **title)
    for i in range(h):
        for r in range(p):
            for c in range(d_q):
                ax.add_patch(Rectangle((c, y_top + i * p + r), 1, 1, facecolor=_light(
                    HEAD_COLOURS[i], 0.35), edgecolor="white", lw=1))
        ax.text(-0.3, y_top + i * p + p / 2, f"head {i + 1}", ha="right", va="center",
                fontsize=9, color=HEAD_COLOURS[i], weight="bold")
    ax.text(-3.1, y_top + h * p + 0.3, r"one stacked nn.Linear: row block $i$ is $W_q^{(i)}$",
            va="top", ha="left", fontsize=9, color="#555")

    # (2) (b, n, h*p): the projected queries, columns coloured by the head that owns them.
    def projected(x0, gap):
        """(b, n, h*p) with gap = 0; (b, n, h, p) with gaps: each position's row cut in h."""
        for e in range(b):
            y0 = y_top + e * (n + 1)
            ax.text(x0 - 0.3, y0 + n / 2, f"example {e}", ha="right", va="center", fontsize=9)
            if not gap:
                for i in range(h):
                    _block(ax, x0 + i * p, y0, s["b n h p"][e, :, i], HEAD_COLOURS[i],
                           outline=False)
                ax.add_patch(Rectangle((x0, y0), h * p, n, fill=False, edgecolor="#555", lw=0.8))
                continue
            for r in range(n):
                for i in range(h):
                    _block(ax, x0 + i * (p + gap), y0 + r * (1 + gap / 2) - gap / 2,
                           s["b n h p"][e, r, i][None], HEAD_COLOURS[i])

    x_b = d_q + 6.5
    ax.text(x_b, y_top - 1.3, f"W_q(queries)  (b, n, h·p) = ({b}, {n}, {h * p})", **title)
    projected(x_b, 0)
    _arrow(ax, (d_q + 0.4, y_top + n), (x_b - 5.3, y_top + n), "")
    x_c = x_b + h * p + 7
    ax.text(x_c, y_top - 1.3, f"unflatten(-1, (h, p))  ({b}, {n}, {h}, {p})", **title)
    projected(x_c, 0.6)
    _arrow(ax, (x_b + h * p + 0.3, y_top + n), (x_c - 5.3, y_top + n), "")
    ax.text(x_c, y_top + b * (n + 1) - 0.6, "each row (one position) cut into h pieces",
            va="top", **{k: v for k, v in note.items() if k != "va"})

    # (3) (b, h, n, p): every head of every example is its own n x p matrix.
    y_d = y_top + b * (n + 1) + 4.0
    ax.text(0, y_d - 1.3, f"transpose(1, 2)  (b, h, n, p) = ({b}, {h}, {n}, {p})", **title)
    for e in range(b):
        for i in range(h):
            x0 = 4.5 + i * (p + 1)
            y0 = y_d + e * (n + 1.4)
            _block(ax, x0, y0, s["b h n p"][e, i], HEAD_COLOURS[i])
            if e == 0:
                ax.text(x0 + p / 2, y0 - 0.15, f"head {i + 1}", ha="center", va="bottom",
                        fontsize=8, color=HEAD_COLOURS[i], weight="bold")
        ax.text(4.2, y_d + e * (n + 1.4) + n / 2, f"example {e}", ha="right", va="center",
                fontsize=9)

    # (4) (b*h, n, p): the heads are now batch items; row b*h + i is head i of example b.
    x_e = 4.5 + h * (p + 1) + 6
    ax.text(x_e, y_d - 1.3, f"flatten(0, 1)  (b·h, n, p) = ({b * h}, {n}, {p})", **title)
    for r in range(b * h):
        x0 = x_e + r * (p + 0.8)
        _block(ax, x0, y_d + 0.6, s["bh n p"][r], HEAD_COLOURS[r % h])
        ax.text(x0 + p / 2, y_d + 0.45, f"{r}", ha="center", va="bottom", fontsize=9,
                weight="bold")
        ax.text(x0 + p / 2, y_d + n + 0.75, f"e{r // h}\nh{r % h + 1}", ha="center", va="top",
                fontsize=8, color=HEAD_COLOURS[r % h])
    _arrow(ax, (4.5 + h * (p + 1) + 0.2, y_d + n), (x_e - 0.3, y_d + n), "")
    ax.text(x_e, y_d + n + 2.6, "a batch of b·h small attentions for DotProductAttention;\n"
            "transpose_output runs these steps backwards", va="top", ha="left", fontsize=9,
            color="#555")
    ax.set_xlim(-3.2, x_e + b * h * (p + 0.8) + 0.5)
    ax.set_ylim(y_d + b * (n + 1.4) + 0.2, -0.2)
    fig.tight_layout()
    return s


# ---------------------------------------------------------------------------------------------
# One softmax against h softmaxes, from the same weights
# ---------------------------------------------------------------------------------------------

def softmax_contrast_states(net, queries, keys, query=0, single=None):
    """For query `query` of example 0: each head's scores q_i.k_i / sqrt(p) and weights (from
    `net.attention.attention_weights`), and the single-head scores and weights of a 1-head
    `d2l.MultiHeadAttention` holding the same parameters. queries, keys: (1, n, size);
    self-attention style, keys are also the values. `single`: that 1-head module (built here
    from `net.state_dict()` if None)."""
    h = net.num_heads
    p = net.W_q.out_features // h
    one = single
    if one is None:
        one = d2l.MultiHeadAttention(net.W_k.in_features, net.W_q.in_features,
                                     net.W_v.in_features, net.W_q.out_features, 1, dropout=0)
        one.load_state_dict(net.state_dict())
    if one.num_heads != 1 or any(not torch.equal(a, b) for a, b in
                                 zip(one.state_dict().values(), net.state_dict().values())):
        raise ValueError("single must be a 1-head module holding net's parameters")
    one.eval()
    with torch.no_grad():
        q = d2l.transpose_qkv(net.W_q(queries), h)[:, query]  # (h, p)
        k = d2l.transpose_qkv(net.W_k(keys), h)                # (h, n_k, p)
        head_scores = (k @ q.unsqueeze(-1)).squeeze(-1) / p ** 0.5   # (h, n_k)
        net.eval()(queries, keys, keys)
        head_weights = net.attention.attention_weights[:h, query].clone()
        q1, k1 = net.W_q(queries)[0, query], net.W_k(keys)[0]
        single_scores = k1 @ q1 / (h * p) ** 0.5
        one(queries, keys, keys)
        single_weights = one.attention.attention_weights[0, query].clone()
    return {"head_scores": head_scores, "head_weights": head_weights,
            "single_scores": single_scores, "single_weights": single_weights}


def softmax_contrast(net, queries, keys, query=0, single=None, figsize=(12, 4.6)):
    """Draw, for one query, each head's scores and softmax (top/bottom row, one column per
    head) beside the single head with the same parameters: its score is the sum of the head
    scores divided by sqrt(h), and it has one softmax. Returns `softmax_contrast_states`."""
    import matplotlib.pyplot as plt

    s = softmax_contrast_states(net, queries, keys, query, single)
    h, n_k = s["head_scores"].shape
    fig, axes = plt.subplots(2, h + 1, figsize=figsize, sharey="row")
    keys_x = range(n_k)
    ticks = [f"k{j}" for j in keys_x]
    score_lim = 1.15 * max(s["head_scores"].abs().max().item(),
                           s["single_scores"].abs().max().item())
    for col in range(h + 1):
        single = col == h
        colour = SINGLE_COLOUR if single else HEAD_COLOURS[col]
        scores = s["single_scores"] if single else s["head_scores"][col]
        weights = s["single_weights"] if single else s["head_weights"][col]
        top, bottom = axes[0, col], axes[1, col]
        top.bar(keys_x, scores.numpy(), color=colour)
        top.axhline(0, color="#999", lw=0.8)
        top.set_ylim(-score_lim, score_lim)
        top.set_title("1 head: (sum of scores)/√h" if single else f"head {col + 1}: score",
                      fontsize=10)
        bottom.bar(keys_x, weights.numpy(), color=colour)
        bottom.set_ylim(0, 1.12)
        bottom.set_title("its one softmax" if single else f"head {col + 1}: softmax",
                         fontsize=10)
        for j, w in enumerate(weights.tolist()):
            bottom.text(j, w + 0.02, f"{w:.2f}", ha="center", va="bottom", fontsize=7)
        for a in (top, bottom):
            a.set_xticks(list(keys_x), ticks, fontsize=8)
        if single:
            for a in (top, bottom):
                for side in ("left", "right", "top", "bottom"):
                    a.spines[side].set_color(SINGLE_COLOUR)
                    a.spines[side].set_linewidth(1.6)
    axes[0, 0].set_ylabel("score")
    axes[1, 0].set_ylabel("attention weight")
    fig.tight_layout()
    return s


def softmax_states(net, tokens, single=None):
    """`softmax_contrast_states` for every query of self-attention over `tokens` (1, n, size):
    rows for the scores and weights of each head and of the single head (series "1 head"; its
    score rows also carry "summed", the sum of the head scores / sqrt(h)), and one line of text
    per query."""
    scores, weights, text = [], [], []
    n, h = tokens.shape[1], net.num_heads
    names = [f"head {r + 1}" for r in range(h)] + ["1 head"]
    for query in range(n):
        s = softmax_contrast_states(net, tokens, tokens, query, single)
        summed = s["head_scores"].sum(0) / h ** 0.5
        for name, sc, w in zip(names, [*s["head_scores"], s["single_scores"]],
                               [*s["head_weights"], s["single_weights"]]):
            for j in range(n):
                cell = {"query": query, "series": name, "key": f"k{j}"}
                row = {**cell, "score": round(sc[j].item(), 2)}
                if name == "1 head":
                    row["summed"] = round(summed[j].item(), 2)
                scores.append(row)
                weights.append({**cell, "weight": round(w[j].item(), 2)})
        peaks = ", ".join(f"{name} k{w.argmax()}" for name, w in
                          zip(names, [*s["head_weights"], s["single_weights"]]))
        text.append({"query": query, "text": f"largest weight: {peaks}"})
    return {"scores": scores, "weights": weights, "text": text}


def _grouped_bars(data, y, y_domain, names, colours, title, overlay=None):
    """Bars of `y` for each key, one bar per series side by side (head colours, the single
    head grey); `overlay`: a field drawn as a black tick on the single head's bars."""

    def draw(alt, base):
        colour = alt.Color("series:N", scale=alt.Scale(domain=names, range=colours),
                           title=None)
        bars = base.mark_bar().encode(
            x=alt.X("key:N", title="key", sort=sorted({r["key"] for r in data})),
            xOffset=alt.XOffset("series:N", sort=names), color=colour,
            y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=list(y_domain)), title=y),
            tooltip=["series:N", "key:N", alt.Tooltip(f"{y}:Q", format=".2f")])
        if overlay is None:
            return bars
        ticks = base.transform_filter("datum.series == '1 head'").mark_tick(
            color="black", thickness=3, size=12).encode(
            x=alt.X("key:N", sort=sorted({r["key"] for r in data})),
            xOffset=alt.XOffset("series:N", sort=names, scale=alt.Scale(domain=names)),
            y=alt.Y(f"{overlay}:Q"),
            tooltip=[alt.Tooltip(f"{overlay}:Q", format=".2f", title="(sum of head scores)/√h")])
        return bars + ticks

    return ex.View(data, draw, 330, 200, title)


def softmax_explorer(net, tokens, single=None, query=0):
    """Pick a query: each head's scores and softmax as bars beside the single head with the same
    parameters; a black tick on the single head's score bars marks (sum of head scores)/sqrt(h),
    which it equals. One softmax of that sum against one softmax per head."""
    s = softmax_states(net, tokens, single)
    n = tokens.shape[1]
    names = [f"head {r + 1}" for r in range(net.num_heads)] + ["1 head"]
    colours = list(HEAD_COLOURS[:net.num_heads]) + [SINGLE_COLOUR]
    lim = max(abs(r["score"]) for r in s["scores"])
    scores = _grouped_bars(s["scores"], "score", (-lim, lim), names, colours,
                           "scores (black tick: sum of head scores / √h)", overlay="summed")
    weights = _grouped_bars(s["weights"], "weight", (0, 1), names, colours, "softmax weights")
    shown = ex.explorer(scores, weights, ex.text_view(s["text"], "text", width=330, size=11),
                        controls=[ex.Select("query", tuple(range(n)), "query", default=query)],
                        title="One softmax of the summed scores vs one softmax per head",
                        columns=2)
    return shown


# ---------------------------------------------------------------------------------------------
# The neighbour task: what each head looks at, and the coefficient the model puts on each v_j
# ---------------------------------------------------------------------------------------------

def basis_inputs(num_steps):
    """Neighbour-task inputs (num_steps + 1, n, n + 1): position one-hot and value v, with v = 0
    in the first sequence and v = e_j (1 at position j) in sequence j + 1."""
    pos = torch.eye(num_steps).expand(num_steps + 1, num_steps, num_steps)
    vals = torch.cat([torch.zeros(1, num_steps), torch.eye(num_steps)])
    return torch.cat([pos, vals.unsqueeze(-1)], dim=-1)


def value_coefficients(net, num_steps):
    """C (n, n): the prediction at i is sum_j C[i, j] v_j + const (the attention sees only the
    positions, so it is linear in v); measured by feeding v = 0 and v = e_j to `net`."""
    with torch.no_grad():
        y = net(basis_inputs(num_steps))  # (n + 1, n)
    return (y[1:] - y[0]).T


def head_factors(net):
    """c (h,): the factor by which head r's weight a^(r)_ij multiplies v_j in the prediction of
    a neighbour-task net (`net.mha`, `net.readout`; v is the last input feature). The output
    projection acts per head, W_o [h_1; ...; h_h] = sum_r W_o^(r) h_r (W_o^(r): the columns of
    head r), so c_r = readout . W_o^(r) . (head r's rows of W_v, the column of v)."""
    mha = net.mha
    p = mha.W_o.in_features // mha.num_heads
    with torch.no_grad():
        return torch.stack([
            (net.readout.weight @ mha.W_o.weight[:, r * p:(r + 1) * p]
             @ mha.W_v.weight[r * p:(r + 1) * p, -1]).squeeze()
            for r in range(mha.num_heads)])


def ray_figure(panels, figsize=(9, 3.6)):
    """The coefficient space of a one-head neighbour model, one panel per
    (title, m, a_next, a_prev, t_next, t_prev): m (d,) with d = 1 or 2 is the head's factor
    w^T M on v, a_next / a_prev (n,) its weights on keys i+1 / i-1 for every query i, t_* the
    target coefficients. Draws the ray {s m : s >= 0}, the coefficients a m the model gives
    v_{i+1} and v_{i-1} (dots), the targets (crosses) and their distances to the ray (dotted).
    Returns, per panel, the sum of the two squared distances: the lower bound on the MSE."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=figsize)
    bounds = []
    for ax, (title, m, a_next, a_prev, t_next, t_prev) in zip(axes, panels):
        pad = lambda x: torch.cat([torch.as_tensor(x, dtype=torch.float32).reshape(-1),
                                   torch.zeros(2)])[:2]  # d = 1: the x axis
        m = pad(m)
        u = m / m.norm()
        ax.plot([0, 3 * float(u[0])], [0, 3 * float(u[1])], color=SINGLE_COLOUR, lw=2.5,
                zorder=1, label="ray {s m : s ≥ 0}")
        bound = 0.0
        for a, t, colour, name in ((a_next, t_next, HEAD_COLOURS[0], "v[i+1]"),
                                   (a_prev, t_prev, HEAD_COLOURS[1], "v[i-1]")):
            t = pad(t)
            points = (torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1) * m).tolist()
            ax.scatter([x for x, _ in points], [y for _, y in points], color=colour, s=18,
                       zorder=3, label=f"model's coefficient of {name}")
            ax.scatter([float(t[0])], [float(t[1])], color=colour, marker="x", s=90, lw=2.5,
                       zorder=3, label=f"target coefficient of {name}")
            nearest = max(float(t @ u), 0.0) * u
            ax.plot([float(t[0]), float(nearest[0])], [float(t[1]), float(nearest[1])], ":",
                    color=colour, lw=1.5)
            bound += float((t - nearest).norm() ** 2)
        bounds.append(bound)
        ax.axhline(0, color="0.85", lw=0.8, zorder=0)
        ax.axvline(0, color="0.85", lw=0.8, zorder=0)
        two_d = torch.as_tensor(t_next).numel() == 2
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(*((-1.3, 1.3) if two_d else (-0.6, 0.6)))
        ax.set_aspect("equal")
        ax.set_title(f"{title}\nsquared distances to the ray: {bound:.2f}", fontsize=10)
        ax.set_xlabel("coefficient on v[...][0]" if two_d else "coefficient on v")
        if two_d:
            ax.set_ylabel("coefficient on v[...][1]")
        else:
            ax.set_yticks([])
    axes[-1].legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return bounds


SUM_SERIES, TARGET_SERIES = "sum = model", "target"
KINDS = ("trained", "hand-set")


def hand_set_neighbour(net, radius2=100.0):
    """Set the weights of an (untrained) neighbour-task net by hand to the sharp solution:
    head r (0-based) looks only at i+1 (r even) or i-1 (r odd), carries v_j and gets the factor
    +-1 / ceil(h/2), so with h >= 2 the shares add up to +1 at i+1 and -1 at i-1 (with h = 1
    one head, one sign: +1 at i+1 only). Positions sit on a circle in the first two dimensions
    of each head, so the score of key j is largest at the chosen neighbour. Returns `net`."""
    import math

    mha, n = net.mha, net.mha.W_q.in_features
    h = mha.num_heads
    p = mha.W_o.in_features // h
    angle = 2 * math.pi * torch.arange(n) / n
    circle = lambda t: torch.stack([torch.cos(t), torch.sin(t)])  # (2, n)
    with torch.no_grad():
        for W in (mha.W_q, mha.W_k, mha.W_v, mha.W_o, net.readout):
            W.weight.zero_()
            if W.bias is not None:
                W.bias.zero_()
        for r in range(h):
            side = 1 if r % 2 == 0 else -1  # +1: key i+1, -1: key i-1
            rows = slice(r * p, r * p + 2)
            mha.W_q.weight[rows] = radius2 ** 0.5 * circle(angle)
            mha.W_k.weight[rows] = radius2 ** 0.5 * circle(angle - side * 2 * math.pi / n)
            mha.W_v.weight[r * p, -1] = 1.0  # the head carries v_j
            mha.W_o.weight[0, r * p] = side / math.ceil(h / 2)
        net.readout.weight[0, 0] = 1.0
    return net.eval()


def _masked_coefficients(net, keep, n):
    with torch.no_grad():
        y = d2l.with_heads(net, keep, basis_inputs(n))
    return (y[1:] - y[0]).T


def neighbour_states(nets, test_inputs, test_target, query=3, hand_set=None, decimals=2):
    """Explorer rows for the neighbour task at one query position, for each net (nets:
    {num_heads: trained net with a `.mha`}, hand_set: the same for the hand-set sharp nets) and
    each masked head (mask = 0: none, r: head r masked, as in exercise 2): each head's attention
    weights over the keys; each head's share c_r a^(r)_ij of the coefficient on v_j (0 for the
    masked head), their sum (the model's coefficient, measured by feeding v = 0 and v = e_j)
    and the target (+1 at i+1, -1 at i-1); lines of text. Values are rounded to `decimals`."""
    n = test_inputs.shape[1]
    target = torch.roll(torch.eye(n), 1, dims=1) - torch.roll(torch.eye(n), -1, dims=1)
    masks = range(max(nets) + 1)
    weight_rows, coef_rows, text_rows = [], [], []
    for kind, models in zip(KINDS, (nets, hand_set or {})):
        for h, net in models.items():
            with torch.no_grad():
                net(test_inputs[:1])
                weights = net.mha.attention.attention_weights[:h, query].clone()  # (h, n)
            c = head_factors(net)
            factors = ", ".join(f"m{i + 1} = {c[i]:+.1f}" for i in range(h))
            peaks = ", ".join(f"head {i + 1} → key {int(weights[i].argmax())}" for i in range(h))
            for m in masks:
                keep = torch.tensor([r + 1 != m for r in range(h)])
                with torch.no_grad():
                    pred = d2l.with_heads(net, keep, test_inputs)
                mse = ((pred - test_target) ** 2).mean().item()
                coef = _masked_coefficients(net, keep, n)[query]
                state = {"heads": h, "kind": kind, "mask": m}
                for i in range(h):
                    # x: the key, nudged sideways per head so that equal lines stay visible
                    name, shift = f"head {i + 1}", round(HEAD_SHIFT * (i - (h - 1) / 2), 2)
                    weight_rows += _shifted(ex.rows(
                        {**state, "series": name, "masked": int(i + 1 == m)},
                        row_labels=("key", list(range(n))), weight=weights[i],
                        decimals=decimals), shift)
                    coef_rows += _shifted(ex.rows(
                        {**state, "series": name}, row_labels=("key", list(range(n))),
                        coefficient=c[i] * weights[i] * keep[i], decimals=decimals), shift)
                for name, values in ((TARGET_SERIES, target[query]), (SUM_SERIES, coef)):
                    coef_rows += _shifted(ex.rows({**state, "series": name},
                                                  row_labels=("key", list(range(n))),
                                                  coefficient=values, decimals=decimals), 0.0)
                masked = (f"head {m} masked (dashed, left): its share is gone, test MSE {mse:.2f}"
                          if 1 <= m <= h else f"no head masked: test MSE {mse:.2f}" if m == 0
                          else f"a {h}-head model has no head {m}: nothing masked, "
                               f"test MSE {mse:.2f}")
                text_rows += ex.rows(state, row_labels=("line", [0, 1, 2, 3]), text=[
                    f"{h} head{'s' if h > 1 else ''}, {kind}: factors {factors}",
                    f"query {query}, largest weight: {peaks}",
                    masked,
                    "right: head r's share m_r·a_ij; black = their sum (the model)"])
    return {"weights": weight_rows, "coefficients": coef_rows, "text": text_rows}


HEAD_SHIFT = 0.1  # sideways offset between the heads' lines, in key positions


def _shifted(rows, shift):
    for r in rows:
        r["x"] = round(r["key"] + shift, 2)
    return rows


def heads_explorer(nets, test_inputs, test_target, hand_set=None, heads=2, query=3):
    """The explorer, at one query position: pick the number of heads, trained or hand-set
    (sharp) weights, and a head to mask; see each head's weights over the keys (left) and, on
    the right, how they become the coefficient on each v_j: each head's share c_r a^(r)_ij,
    their sum and the target."""
    s = neighbour_states(nets, test_inputs, test_target, query, hand_set)
    n = test_inputs.shape[1]
    weights = ex.line_view(s["weights"], "x", "weight", color="series", points=True,
                           y_domain=(0, 1), title=f"each head's attention weights (query {query})",
                           x_title="key position j", y_title="weight a_ij", width=300)
    coefficients = ex.line_view(s["coefficients"], "x", "coefficient", color="series",
                                points=True, y_domain=(-1.6, 1.6),
                                title="coefficient on v_j: each head's share and the sum",
                                width=300, x_title="key position j", y_title="coefficient")
    kinds = KINDS if hand_set else KINDS[:1]
    masks = tuple(range(max(nets) + 1))
    shown = ex.explorer(weights, coefficients, ex.text_view(s["text"], "text", width=300,
                                                            height=80, size=12),
                        controls=[ex.Select("heads", tuple(nets), "number of heads",
                                            default=heads),
                                  ex.Select("kind", kinds, "weights", default=kinds[0]),
                                  ex.Select("mask", masks, "mask head", default=0,
                                            labels=("none",) + tuple(
                                                _mask_label(r, tuple(nets)) for r in masks[1:]))],
                        title="Neighbour task: how the heads' weights become the prediction",
                        columns=2)
    # Each panel has its own colours: the heads as in the static figures (head 1 blue, head 2
    # orange, ...), the target grey, the sum (the model) black. The legends list only the
    # heads the chosen model has.
    shown.spec["resolve"] = {"scale": {"color": "independent"},
                             "legend": {"color": "independent"}}
    heads_used = [f"head {i + 1}" for i in range(max(nets))]
    shown_heads = f"slice({heads_used!r}, 0, heads)"
    _colour(shown.spec, weights.title, heads_used, list(HEAD_COLOURS[:len(heads_used)]),
            legend_values=shown_heads)
    _colour(shown.spec, coefficients.title, [SUM_SERIES, TARGET_SERIES] + heads_used,
            ["#222222", "#bbbbbb"] + list(HEAD_COLOURS[:len(heads_used)]),
            legend_values=f"slice({[SUM_SERIES, TARGET_SERIES] + heads_used!r}, 0, 2 + heads)")
    # The masked head's weights stay drawn (masking acts after the attention), dashed and faint.
    for chart in shown.spec.get("concat", []):
        if chart.get("title") == weights.title:
            chart["encoding"]["strokeDash"] = {"field": "masked", "type": "nominal", "legend": None,
                                               "scale": {"domain": [0, 1],
                                                         "range": [[1, 0], [4, 3]]}}
            chart["encoding"]["opacity"] = {"field": "masked", "type": "nominal", "legend": None,
                                            "scale": {"domain": [0, 1], "range": [1, 0.4]}}
        if chart.get("title") == coefficients.title:
            # The target is a wide pale band, so the model's black line shows inside it.
            is_target = f"datum.series == '{TARGET_SERIES}'"
            chart["encoding"]["strokeWidth"] = {"condition": {"test": is_target, "value": 8},
                                                "value": 2}
            chart["encoding"]["opacity"] = {"condition": {"test": is_target, "value": 0.6},
                                            "value": 1}
        if chart.get("title") in (weights.title, coefficients.title):
            chart["encoding"]["x"]["scale"] = {"domain": [-0.5, n - 0.5], "nice": False}
            chart["encoding"]["x"]["axis"] = {"values": list(range(n))}
    # Lay the panels out by their own width, so a long text line does not push the right panel.
    shown.spec["bounds"] = "flush"
    shown.spec["spacing"] = {"row": 55, "column": 110}
    return shown


def _mask_label(r, head_counts):
    """'head r', with the head counts that have a head r when not all of them do."""
    having = [h for h in head_counts if h >= r]
    if len(having) == len(head_counts):
        return f"head {r}"
    return f"head {r} ({' or '.join(map(str, having))} heads only)"


def _colour(spec, title, domain, colours, legend_values=None):
    """Give the colour channel of the panel titled `title` a fixed domain and colours, and its
    legend the entries of the Vega expression `legend_values` (all of `domain` if None)."""
    for chart in spec.get("concat", []):
        if chart.get("title") == title:
            chart["encoding"]["color"]["scale"] = {"domain": domain, "range": colours}
            if legend_values:
                chart["encoding"]["color"]["legend"] = {"values": {"expr": legend_values}}
            return
    raise ValueError(f"no panel titled {title!r}")


# ---------------------------------------------------------------------------------------------
# Masking heads (exercise 2)
# ---------------------------------------------------------------------------------------------

def head_outputs(net, mha, *inputs):
    """The concatenated head outputs that `mha.W_o` receives in `net(*inputs)`:
    (batch, num_queries, num_hiddens), head i in features [i*p, (i+1)*p)."""
    seen = []
    handle = mha.W_o.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            net(*inputs)
    finally:
        handle.remove()
    return seen[-1]


# ---------------------------------------------------------------------------------------------
# Real text: guess a hidden word of an English sentence (fra-eng) with one multi-head layer
# ---------------------------------------------------------------------------------------------

MASK = "<mask>"


def cloze_data(num_lines=60000, min_len=4, max_len=8, min_freq=5, num_test=2000, seed=0):
    """The English sides of the first `num_lines` fra-eng pairs with `min_len`..`max_len`
    tokens, each sentence once, as padded index tensors: {"vocab", "train": (tokens, lens),
    "test": (tokens, lens, where, answers)}; in the test set one word per sentence, at
    `where`, is replaced by `<mask>` (the answer is `answers`). Words seen fewer than
    `min_freq` times become `<unk>`."""
    raw = d2l.read_data_nmt()
    raw = "\n".join(raw.split("\n", num_lines)[:num_lines])
    english, _ = d2l.tokenize_nmt(d2l.preprocess_nmt(raw))
    sentences = list(dict.fromkeys(tuple(s) for s in english if min_len <= len(s) <= max_len))
    sentences = [list(s) for s in sentences]
    vocab = d2l.Vocab(sentences, min_freq=min_freq, reserved_tokens=["<pad>", MASK])
    pad = vocab["<pad>"]
    tokens = torch.tensor([vocab[s] + [pad] * (max_len - len(s)) for s in sentences])
    lens = torch.tensor([len(s) for s in sentences])
    order = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(seed))
    tokens, lens = tokens[order], lens[order]
    test = hide_one_word(tokens[:num_test], lens[:num_test], vocab,
                         torch.Generator().manual_seed(seed + 1))
    return {"vocab": vocab, "train": (tokens[num_test:], lens[num_test:]),
            "test": (test[0], lens[:num_test], test[1], test[2])}


def hide_one_word(tokens, lens, vocab, generator):
    """Replace one random word of each sentence by `<mask>`: (tokens, where, answers)."""
    where = (torch.rand(len(tokens), generator=generator) * lens).long()
    rows = torch.arange(len(tokens))
    answers = tokens[rows, where].clone()
    tokens = tokens.clone()
    tokens[rows, where] = vocab[MASK]
    return tokens, where, answers


def train_cloze(data, num_heads, num_steps=400, batch_size=128, lr=0.01, seed=0):
    """Train a `d2l.ClozeNet` (the notebook's `#@save` class) with Adam on `data["train"]`
    (a fresh hidden word per sentence and
    step); returns the net in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    tokens, lens = data["train"]
    net = d2l.ClozeNet(len(data["vocab"]), num_heads, max_len=tokens.shape[1])
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is as fast, and the run repeatable
    try:
        for _ in range(num_steps):
            idx = torch.randint(len(tokens), (batch_size,), generator=gen)
            hidden, where, answers = hide_one_word(tokens[idx], lens[idx], data["vocab"], gen)
            loss = torch.nn.functional.cross_entropy(net(hidden, lens[idx], where), answers)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def cloze_accuracy(net, data):
    """Share of the test sentences whose hidden word is the net's top guess."""
    tokens, lens, where, answers = data["test"]
    with torch.no_grad():
        return (net(tokens, lens, where).argmax(-1) == answers).float().mean().item()


def cloze_baseline_guesses(data):
    """Two guesses for every test sentence that use no attention, for a yardstick:
    {"most frequent word": the most frequent word of the training sentences, always;
    "(position, length) table": the most frequent word at the hidden word's position among the
    training sentences of the same length (e.g. "." at the last position)}."""
    tokens, lens = data["train"]
    test_tokens, test_lens, where, answers = data["test"]
    valid = torch.arange(tokens.shape[1])[None, :] < lens[:, None]
    overall = tokens[valid].bincount().argmax()
    by_place = {}
    for n in lens.unique().tolist():
        rows = tokens[lens == n]
        for i in range(n):
            by_place[i, n] = rows[:, i].bincount().argmax()
    table = torch.stack([by_place[int(i), int(n)] for i, n in zip(where, test_lens)])
    return {"most frequent word": overall.expand(len(answers)).clone(),
            "(position, length) table": table}


def sentence_heads(net, vocab, sentence):
    """Hide each word of `sentence` (a string of tokens) in turn: weights (h, n, n), row i =
    where each head looks when word i is hidden (read from `net.mha`'s attention weights)."""
    words = sentence.split()
    n, h = len(words), net.mha.num_heads
    tokens = torch.tensor([vocab[words]] * n)
    tokens[torch.arange(n), torch.arange(n)] = vocab[MASK]
    with torch.no_grad():
        net(tokens, torch.full((n,), n), torch.arange(n))
    # rows: hidden word i, head r (i * h + r), one query each
    return net.mha.attention.attention_weights[:, 0].reshape(n, h, n).transpose(0, 1).clone()


def head_offsets(net, data, offsets=(-2, -1, 1, 2)):
    """For each head, the share of test sentences whose largest weight falls on the word
    `offset` places from the hidden one, for each offset: (h, len(offsets)); and the share on
    the first word: (h,)."""
    tokens, lens, where, _ = data["test"]
    with torch.no_grad():
        net(tokens, lens, where)
    h = net.mha.num_heads
    peak = net.mha.attention.attention_weights[:, 0].argmax(-1).reshape(-1, h).T  # (h, batch)
    shares = torch.stack([(peak - where == k).float().mean(-1) for k in offsets], dim=-1)
    return shares, (peak == 0).float().mean(-1)


def _mean_and_error(x):
    """(mean, standard error) of the 1-D tensor x; nan for the mean of no values, 0 error for
    fewer than two."""
    n = len(x)
    return (x.mean().item() if n else float("nan"),
            (x.std() / n ** 0.5).item() if n > 1 else 0.0)


def head_ablation(net, data):
    """10.5's ablation on the test sentences: mask each head of `net.mha` in turn, replaced by
    its average output over the test sentences (`d2l.with_heads`), and group the change in
    accuracy by where that head's largest weight falls (-1: the word before the hidden one,
    1: the word after, 0: elsewhere): {head: {offset: (mean change, standard error)}}."""
    tokens, lens, where, answers = data["test"]
    inputs, h = (tokens, lens, where), net.mha.num_heads
    with torch.no_grad():
        right = (net(*inputs).argmax(-1) == answers).float()
        peak = net.mha.attention.attention_weights[:, 0].argmax(-1).view(-1, h) - where[:, None]
        average = head_outputs(net, net.mha, *inputs).mean((0, 1))
        out = {}
        for r in range(h):
            masked = d2l.with_heads(net, torch.arange(h) != r, *inputs, fill=average)
            change = (masked.argmax(-1) == answers).float() - right
            groups = {-1: peak[:, r] == -1, 1: peak[:, r] == 1, 0: peak[:, r].abs() != 1}
            out[r] = {k: _mean_and_error(change[rows]) for k, rows in groups.items()}
    return out


CLOZE_SENTENCES = ("tom is taller than mary .", "i am not sure about it .",
                   "she is a good teacher .", "we have to go home now .")


def cloze_states(net, vocab, sentences=CLOZE_SENTENCES, top=5, decimals=3, fill=None):
    """States of the real-sentence explorer, computed with the trained `d2l.ClozeNet` `net`:
    for each sentence, each hidden word and each masked head (0: none), the top guesses with
    their probabilities; each head's attention weights over the words (masking a head replaces
    its output by zeros or by `fill`, see `d2l.with_heads`, not its weights); and text
    lines (the sentence with <mask>, the answer)."""
    h = net.mha.num_heads
    weight_rows, guess_rows, text_rows = [], [], []
    for sentence in sentences:
        words = sentence.split()
        n = len(words)
        weights = sentence_heads(net, vocab, sentence)  # (h, hidden, word)
        tokens = torch.tensor([vocab[words]] * n)
        tokens[torch.arange(n), torch.arange(n)] = vocab[MASK]
        for i in range(n):
            for r in range(h):
                weight_rows += ex.rows({"sentence": sentence, "hidden": i, "head": f"head {r + 1}"},
                                       row_labels=("word", [f"{j}:{MASK if j == i else w}"
                                                            for j, w in enumerate(words)]),
                                       weight=weights[r, i], decimals=decimals)
        for m in range(h + 1):
            keep = torch.arange(h) + 1 != m
            with torch.no_grad():
                probs = d2l.with_heads(net, keep, tokens, torch.full((n,), n),
                                           torch.arange(n), fill=fill).softmax(-1)
            best = probs.topk(top)
            for i in range(n):
                guess_rows += ex.rows({"sentence": sentence, "hidden": i, "mask": m},
                                      row_labels=("guess", [
                                          f"{k + 1}. {w}" for k, w in
                                          enumerate(vocab.to_tokens(best.indices[i].tolist()))]),
                                      probability=best.values[i], decimals=decimals)
                shown = " ".join(MASK if j == i else w for j, w in enumerate(words))
                by = "its average output" if fill is not None else "zeros"
                masked = f"head {m} masked (replaced by {by})" if m else "no head masked"
                text_rows += ex.rows({"sentence": sentence, "hidden": i, "mask": m},
                                     row_labels=("line", [0, 1]),
                                     text=[f"{shown}   (answer: {words[i]})", masked])
        for i in range(n, max(len(s.split()) for s in sentences)):
            for m in range(h + 1):
                text_rows += ex.rows({"sentence": sentence, "hidden": i, "mask": m},
                                     row_labels=("line", [0, 1]),
                                     text=[f"this sentence has only {n} words", ""])
    # first-seen order = axis order: all position-0 labels first, then rank-1 guesses first
    weight_rows.sort(key=lambda r: int(r["word"].split(":")[0]))
    guess_rows.sort(key=lambda r: int(r["guess"].split(".")[0]))
    return {"weights": weight_rows, "guesses": guess_rows, "text": text_rows}


def cloze_explorer(net, vocab, sentences=CLOZE_SENTENCES, sentence=0, hidden=2, mask=0,
                   fill=None):
    """The real-sentence explorer: pick a sentence, the word to hide and a head to mask (its
    output replaced by `fill`, e.g. its average, or zeros); see where each head of the trained
    `ClozeNet` looks and the model's top guesses."""
    s = cloze_states(net, vocab, sentences, fill=fill)
    h = net.mha.num_heads
    n_max = max(len(x.split()) for x in sentences)
    weights = ex.heatmap_view(s["weights"], "word", "head", title="where each head looks",
                              width=300, height=120, x_title="word (position:word)",
                              y_title="")
    guesses = ex.bar_view(s["guesses"], "guess", "probability", title="top guesses",
                          width=220, height=160, x_title="", y_title="probability")
    text = ex.text_view(s["text"], "text", width=560, height=40, size=12)
    return ex.explorer(weights, guesses, text,
                       controls=[ex.Select("sentence", tuple(sentences), "sentence",
                                           default=sentences[sentence]),
                                 ex.Select("hidden", tuple(range(n_max)), "hide word",
                                           default=hidden),
                                 ex.Select("mask", tuple(range(h + 1)), "mask head", default=mask,
                                           labels=("none",) + tuple(f"head {r + 1}"
                                                                    for r in range(h)))],
                       title="Guess the hidden word: each head's weights and the guesses",
                       columns=2)


# ---------------------------------------------------------------------------------------------
# Deep dives: PyTorch's nn.MultiheadAttention, and what the number of heads costs
# ---------------------------------------------------------------------------------------------

def compare_with_torch(seed=0):
    """Copy the weights of a `d2l.MultiHeadAttention` (16 features, 4 heads) into
    `nn.MultiheadAttention` and run both on the same batch with valid lengths [7, 4, 1]:
    returns (max |output gap|, max |per-head weight gap|)."""
    torch.manual_seed(seed)
    ours = d2l.MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=4, dropout=0).eval()
    theirs = torch.nn.MultiheadAttention(embed_dim=16, num_heads=4, bias=False,
                                         batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight,
                                               ours.W_v.weight]))
        theirs.out_proj.weight.copy_(ours.W_o.weight)
        queries, keys, lens = torch.randn(3, 5, 16), torch.randn(3, 7, 16), torch.tensor([7, 4, 1])
        padding = torch.arange(7) >= lens[:, None]  # (batch, keys), True = ignore this key
        out_theirs, w_theirs = theirs(queries, keys, keys, key_padding_mask=padding,
                                      average_attn_weights=False)  # (batch, heads, n_q, n_k)
        out_ours = ours(queries, keys, keys, lens)
    w_ours = ours.attention.attention_weights.unflatten(0, (3, 4))  # row b*h + i -> [b, i]
    return (out_ours - out_theirs).abs().max().item(), (w_ours - w_theirs).abs().max().item()


def head_costs(heads=(1, 2, 4, 8), size=64, num_q=5, num_k=9, batch_size=2, seed=0):
    """For each number of heads h (queries, keys, values and num_hiddens all `size` wide):
    {h: (parameters, FLOPs of the two batched matrix products counted by FlopCounterMode,
    attention weights per example, rank of head 1's score matrix W_q^(1)T W_k^(1))}."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(seed)
    Q, K = torch.randn(batch_size, num_q, size), torch.randn(batch_size, num_k, size)
    out = {}
    for h in heads:
        net = d2l.MultiHeadAttention(size, size, size, size, h, dropout=0).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(Q, K, K)
        flops = sum(n for op, n in counter.get_flop_counts()["Global"].items() if "bmm" in str(op))
        p = size // h
        with torch.no_grad():
            score_matrix = net.W_q.weight[:p].T @ net.W_k.weight[:p]  # (size, size)
        out[h] = (sum(t.numel() for t in net.parameters()), flops,
                  net.attention.attention_weights.numel() // batch_size,
                  int(torch.linalg.matrix_rank(score_matrix)))
    return out
