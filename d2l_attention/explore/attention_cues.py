"""Section 10.1's explorers and figures.

`turning_query(keys, values)`: the query turning among the keys, one key's length and the
temperature as controls; the query is drawn as q / tau, so its length shows the temperature.
`sentence_attention(...)`: the weight matrix of a sentence over a temperature slider.
`plot_query_map(...)`: the pooled value over the plane of queries with a learned query's path.
`show_learned_alignment()`: one attention matrix learned by 10.4's model, stored.
The states come from the taught `d2l.attention_pooling`; `turning_query_states`,
`sentence_states` and `query_map` return them for the section's tests.
"""

from __future__ import annotations

import math

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex
from d2l_attention.explore import read_results

ANGLES = tuple(range(0, 360, 15))  # the query's direction, degrees
LENGTHS = (-1.0, 0.0, 1.0, 2.0, 2.5, 3.5)  # the factor c on the scaled key (a menu: few states)
# The temperature tau of the softmax, down to the hard-lookup regime; the query is drawn 1 / tau
# long, cut at MAX_ARROW where that leaves the plot.
TAUS = (0.1, 0.25, 0.5, 1.0, 2.0)
MAX_ARROW = 2.2
# Chapter palette (tools/figures.py): queries orange, keys blue, weights purple.
COLOURS = {"query": "#D9822B", "key": "#2F6DB5"}
WEIGHT_COLOUR = "#7E57C2"
# Where each arrow's label sits, in data units from its tip: keys on fixed sides (k2 and k3 share
# a direction, so their labels go left and right), the query's beside its own shaft.
KEY_LABEL_OFFSETS = ((-0.05, -0.3), (-0.75, 0.0), (0.8, 0.0))
# The scaled key is drawn narrow and solid on top of the others (wide and translucent), so it
# stays visible where it lies along another key (k2 inside k3 at c = 1 and c = 2).
KEY_STYLE = {"scaled": (3.5, 1.0), "other": (9.0, 0.45)}


def _fmt(x):
    """x with two decimals and no negative zero."""
    return f"{round(x, 2) + 0.0:.2f}"


def unit_query(theta):
    """The query (cos theta, sin theta) for an angle in degrees, shape (2,)."""
    rad = math.radians(theta)
    return torch.tensor([math.cos(rad), math.sin(rad)])


def unit_queries(angles=ANGLES):
    """The queries of `angles` stacked as rows, shape (len(angles), 2)."""
    return torch.stack([unit_query(theta) for theta in angles])


def _label_box(x, y, text):
    """The rough box of a bold 12-px label centred at (x, y), in data units (50 px per unit)."""
    half_width = 0.07 * len(text) + 0.05
    return x - half_width, x + half_width, y - 0.15, y + 0.15


def _overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _query_label(x, y, name, key_labels, x_domain=(-2.3, 2.3), y_domain=(-2.3, 3.7)):
    """Where the query's label goes, for a query arrow to (x, y): beside its shaft (the keys
    label their tips), at the first spot that overprints the least weight of key labels, trying
    the middle of the shaft on its right-hand side first. key_labels: (x, y, text, weight)."""
    length = math.hypot(x, y)
    ux, uy = x / length, y / length
    best = None
    for along in (0.55, 0.35, 0.8, 0.2):
        for side in (0.3, -0.3, 0.5, -0.5):
            side_r = side if uy >= 0 else -side  # right-hand of the shaft, seen from below
            lx, ly = along * x + side_r * uy, along * y - side_r * ux
            box = _label_box(lx, ly, name)
            if box[0] < x_domain[0] or box[1] > x_domain[1] or box[2] < y_domain[0] \
                    or box[3] > y_domain[1]:
                continue
            hits = sum(weight * _overlaps(box, _label_box(kx, ky, text))
                       for kx, ky, text, weight in key_labels)
            if best is None or hits < best[0]:
                best = (hits, lx, ly)
    return best[1], best[2]


def _arrow_rows(x, y, label_dx, label_dy, **row):
    return {**row, "x": ex._plain(x), "y": ex._plain(y), "lx": ex._plain(x + label_dx),
            "ly": ex._plain(y + label_dy)}


def turning_query_states(keys, values, angles=ANGLES, lengths=LENGTHS, scaled=1, taus=TAUS):
    """Rows of the explorer's views: query arrows q / tau (by theta and tau), key arrows (by c),
    and per (theta, c, tau) the weights and scores q.k/tau over the keys, the pooled value and a
    line of text, all from `d2l.attention_pooling`. keys: (n, 2); values: (n, 1); the key at
    index `scaled` is multiplied by c."""
    names = [f"k{i + 1}" for i in range(len(keys))]
    # Where the key labels sit, with a weight: the query's label avoids them, those of the
    # default c = 1 above all (the query rows do not depend on c, which keeps the JSON small).
    key_labels = []
    for c in lengths:
        for i, (k, v) in enumerate(zip(keys, values[:, 0])):
            kx, ky = (k * (c if i == scaled else 1.0)).tolist()
            dx, dy = KEY_LABEL_OFFSETS[i % 3]
            key_labels.append((kx + dx, ky + dy, f"{names[i]} (v={v.item():g})",
                               100 if c == 1 else 1))
    query_rows = []
    for theta in angles:
        rad = math.radians(theta)
        cos, sin = math.cos(rad), math.sin(rad)
        for tau in taus:
            # q / tau: the arrow's length is the query length that tau stands for. Its label sits
            # beside the shaft where it overprints no key label (theta = 0, tau = 0.5 lies
            # along k1).
            drawn = min(1 / tau, MAX_ARROW)
            x, y = cos * drawn, sin * drawn
            name = "q" if tau == 1 else "q/τ" if drawn == 1 / tau else f"q/τ ({1 / tau:g}× q, cut)"
            lx, ly = _query_label(x, y, name, key_labels)
            query_rows.append({**_arrow_rows(x, y, 0, 0, theta=theta, tau=tau, role="query",
                                             name=name), "lx": round(lx, 2), "ly": round(ly, 2)})
    key_rows, weight_rows, pooled_rows, text_rows = [], [], [], []
    queries = unit_queries(angles)
    for c in lengths:
        scaled_keys = keys.clone()
        scaled_keys[scaled] *= c
        arrows = [_arrow_rows(k[0].item(), k[1].item(), *KEY_LABEL_OFFSETS[i % 3], c=c,
                              role="key", name=f"{name} (v={v.item():g})",
                              width=KEY_STYLE["scaled" if i == scaled else "other"][0],
                              opacity=KEY_STYLE["scaled" if i == scaled else "other"][1])
                  for i, (name, k, v) in enumerate(zip(names, scaled_keys, values[:, 0]))]
        key_rows += [r for i, r in enumerate(arrows) if i != scaled] + [arrows[scaled]]
        for tau in taus:
            weights, pooled = d2l.attention_pooling(queries, scaled_keys, values, tau)
            for theta, query, w, p in zip(angles, queries, weights, pooled[:, 0]):
                state = {"theta": theta, "c": c, "tau": tau}
                scores = scaled_keys @ query / tau  # what the softmax sees
                # Weights to 3 decimals, scores to 2: the bars show 2, and the JSON stays small.
                weight_rows += [{**state, "key": name, "weight": ex._plain(a, 3),
                                 "score": ex._plain(s, 2)}
                                for name, a, s in zip(names, w, scores)]
                # The text rounds the stored 4-decimal value, not the float: a pooled value near
                # a rounding edge (23.165) must read the same under every CPU kernel.
                pooled_rows.append({**state, "pooled": ex._plain(p)})
                text_rows.append({**state, "text": (
                    f"pooled {_fmt(ex._plain(p))}; q/τ = ({_fmt(query[0].item() / tau)}, "
                    f"{_fmt(query[1].item() / tau)})")})
    return {"query": query_rows, "keys": key_rows, "weights": weight_rows,
            "pooled": pooled_rows, "text": text_rows}


def _arrows(rows, colour, width, head, *, title="", size=(230, 300),
            x_domain=(-2.3, 2.3), y_domain=(-2.3, 3.7)):
    """Arrows from the origin to (x, y) with a label at (lx, ly), in one colour; the width and
    opacity are the rows' `width` and `opacity` where they carry them, else `width` and 1."""

    def draw(alt, base):
        xs = alt.Scale(domain=list(x_domain), nice=False)
        ys = alt.Scale(domain=list(y_domain), nice=False)
        base = base.transform_calculate(x0="0", y0="0",
                                        heading="90 - atan2(datum.y, datum.x) * 180 / PI")
        at = dict(x=alt.X("x:Q", scale=xs, title="x"), y=alt.Y("y:Q", scale=ys, title="y"))
        styled = "width" in rows[0]
        style = dict(strokeWidth=alt.StrokeWidth("width:Q", scale=None, legend=None),
                     opacity=alt.Opacity("opacity:Q", scale=None, legend=None)) if styled else {}
        shaft = base.mark_rule(**({} if styled else {"strokeWidth": width}), color=colour).encode(
            **at, x2="x0:Q", y2="y0:Q", **style)
        tip = base.mark_point(shape="triangle-up", filled=True, size=head, color=colour,
                              **({} if styled else {"opacity": 1})).encode(
            **at, angle=alt.Angle("heading:Q", scale=None),
            **({"opacity": style["opacity"]} if styled else {}))
        text = base.mark_text(fontSize=12, fontWeight="bold", color=colour).encode(
            x=alt.X("lx:Q", scale=xs), y=alt.Y("ly:Q", scale=ys), text="name:N")
        return alt.layer(shaft, tip, text)

    return ex.View(rows, draw, *size, title)


def _weight_bars(rows, width=200, height=300):
    """The weights as bars labelled with their value, and along the top, in grey, the score
    q·k/tau that the softmax turned into each."""
    order = ex._order(r["key"] for r in rows)

    def draw(alt, base):
        x = alt.X("key:N", sort=order, title="key")
        bars = base.mark_bar(color=WEIGHT_COLOUR).encode(
            x=x, y=alt.Y("weight:Q", scale=alt.Scale(domain=[0, 1.2]), title="attention weight",
                         axis=alt.Axis(values=[0, 0.2, 0.4, 0.6, 0.8, 1.0])))
        weight = base.mark_text(dy=-6).encode(x=x, y="weight:Q",
                                              text=alt.Text("weight:Q", format=".2f"))
        score = base.mark_text(color="#666", fontSize=12).encode(
            x=x, y=alt.value(12), text=alt.Text("score:Q", format=".2f"))
        return alt.layer(bars, weight, score)

    return ex.View(rows, draw, width, height, "attention weights (grey: score q·k/τ)")


def _number_line(pooled_rows, values, average, width=230, height=70):
    """The values as ticks on a line, the average dashed, and the pooled value as a dot."""
    ticks = [{"value": v, "label": f"v{i + 1}={v:g}"} for i, v in enumerate(values)]
    lo, hi = min(values), max(values)
    pad = 0.08 * (hi - lo)

    def draw(alt, base):
        xs = alt.Scale(domain=[lo - pad, hi + pad], nice=False)
        axis = alt.Axis(values=[float(v) for v in values], title="pooled value (dot) among "
                        "the values; dashed: average")
        marks = alt.Chart(alt.Data(values=ticks))
        tick = marks.mark_tick(color="#2E8B57", thickness=3, size=22).encode(
            x=alt.X("value:Q", scale=xs, axis=axis), y=alt.value(height / 2))
        label = marks.mark_text(dy=-20, fontSize=11, color="#2E8B57").encode(
            x=alt.X("value:Q", scale=xs), y=alt.value(height / 2), text="label:N")
        mean = alt.Chart(alt.Data(values=[{"value": average}])).mark_rule(
            strokeDash=[4, 3], color="#555").encode(
            x=alt.X("value:Q", scale=xs), y=alt.value(height / 2 - 11), y2=alt.value(height))
        dot = base.mark_point(filled=True, size=160, color=WEIGHT_COLOUR, opacity=1).encode(
            x=alt.X("pooled:Q", scale=xs), y=alt.value(height / 2))
        return alt.layer(mean, tick, label, dot)

    return ex.View(pooled_rows, draw, width, height, "")


def turning_query(keys, values, angles=ANGLES, lengths=LENGTHS, scaled=1, taus=TAUS, theta=0,
                  c=1.0, tau=1.0):
    """The explorer: keys as arrows and the query turning among them (slider theta), beside
    the attention weights and the pooled value on a line through the values; a second slider
    scales key `scaled` by c, a third sets the temperature tau."""
    states = turning_query_states(keys, values, angles, lengths, scaled, taus)
    # Keys first, the query narrower on top: where q lies along a key (theta = 90, c = 1) the
    # key still shows around it.
    arrows = (_arrows(states["keys"], COLOURS["key"], 5, 150, title="keys and the query q/τ"),
              _arrows(states["query"], COLOURS["query"], 2, 70))
    bars = _weight_bars(states["weights"])
    line = _number_line(states["pooled"], [v.item() for v in values[:, 0]], values.mean().item())
    text = ex.text_view(states["text"], "text", width=230, height=24, size=12)
    name = f"k{scaled + 1}"
    return ex.explorer(arrows, bars, line, text, columns=2, title="Turn the query", controls=[
        ex.Slider("theta", angles, "query angle θ (degrees)", default=theta),
        ex.Select("c", tuple(lengths), f"length factor c of {name}", default=c,
                  labels=tuple(f"{v:g}" for v in lengths)),
        ex.Select("tau", tuple(taus), "temperature τ", default=tau,
                  labels=tuple(f"{t:g} (q/τ = {1 / t:g} q)" for t in taus))])


def print_states(keys, values, states, scaled=1, tau=1.0):
    """Print the scores q.k / tau, the weights and the pooled value at a few (theta, c) states
    of the explorer."""
    print(f"{'theta':>6} {'c':>4}   {'scores q.k/tau':<20} {'weights':<20} pooled")
    for theta, c in states:
        scaled_keys = keys.clone()
        scaled_keys[scaled] *= c
        query = unit_query(theta)
        weights, pooled = d2l.attention_pooling(query, scaled_keys, values, tau)
        scores = " ".join(f"{_fmt(s):>5}" for s in (scaled_keys @ query / tau).tolist())
        shown = " ".join(f"{w:.3f}" for w in weights.tolist())
        print(f"{theta:>5}° {c:4.1f}   {scores:<20} {shown:<20} {pooled.item():.2f}")


SENTENCE_TAUS = tuple(round(0.1 + 0.15 * i, 2) for i in range(7))  # 0.1, 0.25, ..., 1.0


def _unique(words):
    """Words as axis labels, a repeated word numbered by its occurrence ("le #1", "le #2")."""
    counts = {w: words.count(w) for w in words}
    seen = {}
    labels = []
    for w in words:
        seen[w] = seen.get(w, 0) + 1
        labels.append(f"{w} #{seen[w]}" if counts[w] > 1 else w)
    return labels


def sentence_states(queries, keys, values, query_words, key_words, value_words,
                    taus=SENTENCE_TAUS):
    """Rows of the sentence explorer, from `d2l.attention_pooling` at each tau: the weight
    matrix A (rows "query", "key", "weight"), the scores Q K^T / tau it comes from (rows
    "french", "key", "score") and, per query word (column "french"), what it retrieves, A @ V
    over the value words (rows "word", "share"). queries: (m, d); keys: (n, d); values: (n, v),
    one-hot rows naming value_words. Stored to the 2 decimals the views print."""
    q_labels, k_labels = _unique(list(query_words)), _unique(list(key_words))
    matrix, scores, retrieved = [], [], []
    for tau in taus:
        weights, pooled = d2l.attention_pooling(queries, keys, values, tau)
        matrix += ex.rows({"tau": tau}, row_labels=("query", q_labels),
                          col_labels=("key", k_labels), decimals=2, weight=weights)
        scores += ex.rows({"tau": tau}, row_labels=("french", q_labels),
                          col_labels=("key", k_labels), decimals=2,
                          score=queries @ keys.T / tau)
        retrieved += ex.rows({"tau": tau}, row_labels=("french", q_labels),
                             col_labels=("word", list(value_words)), decimals=2, share=pooled)
    return {"matrix": matrix, "scores": scores, "retrieved": retrieved}


def sentence_attention(queries, keys, values, query_words, key_words, value_words,
                       taus=SENTENCE_TAUS, tau=0.25, word="sur"):
    """The explorer over the sentence: a temperature slider over the weight matrix A, and a
    menu of query words with the distribution over the value words each one retrieves."""
    states = sentence_states(queries, keys, values, query_words, key_words, value_words, taus)
    q_labels = _unique(list(query_words))
    heat = ex.heatmap_view(states["matrix"], "key", "query", "weight", width=260, height=240,
                           title="attention weights A (framed: chosen row)",
                           x_title="English keys", y_title="French queries")
    bars = ex.bar_view(states["retrieved"], "word", "share", width=220, height=240,
                       title="what the chosen row retrieves (A V)", x_title="English word",
                       y_title="share", color=WEIGHT_COLOUR)
    top = max(r["score"] for r in states["scores"])
    bottom = min(0.0, min(r["score"] for r in states["scores"]))
    raw = ex.bar_view(states["scores"], "key", "score", width=260, height=160,
                      title="scores of the chosen row (q·k / τ)", x_title="English keys",
                      y_title="score", y_domain=(math.floor(bottom), math.ceil(top)),
                      color=COLOURS["key"])
    text = ex.text_view(_chosen_text(states), "text", width=220, height=24, size=12)
    return ex.explorer((heat, _row_highlight(q_labels)), bars, raw, text, columns=2,
                       title="Attention over a sentence", controls=[
        ex.Slider("tau", taus, "temperature τ", default=tau),
        ex.Select("french", tuple(q_labels), "French query word", default=word)])


def _row_highlight(q_labels):
    """A frame around the chosen query word's row of the heatmap (filtered by `french`)."""
    data = [{"french": label, "query": label} for label in q_labels]

    def draw(alt, base):
        return base.mark_rect(fill=None, stroke="#111", strokeWidth=2.5).encode(
            y=alt.Y("query:N", sort=list(q_labels)))

    return ex.View(data, draw, 260, 240, "")


def _chosen_text(states):
    """One line per (tau, query word): the word, its largest weight and what it retrieves."""
    rows = []
    by_state = {}
    for r in states["retrieved"]:
        by_state.setdefault((r["tau"], r["french"]), []).append((r["share"], r["word"]))
    for (tau, word), shares in by_state.items():
        top = sorted(shares, reverse=True)[:2]
        rows.append({"tau": tau, "french": word, "text": (
            f"chosen query: {word} (framed row)  ->  A V: "
            + ", ".join(f"{w} {_fmt(s)}" for s, w in top))})
    return rows


# The map of the pooled value over the plane of queries (the explorer's plane, larger).
MAP_EXTENT = (-3.0, 4.6, -2.4, 3.0)  # x from, x to, y from, y to


def query_map(keys, values, extent=MAP_EXTENT, steps=153):
    """The pooled value f(q) of the taught `d2l.attention_pooling` (tau = 1) at every query
    q = (x, y) of a grid over `extent`: (xs, ys, F) with F[j, i] = f((xs[i], ys[j]))."""
    x0, x1, y0, y1 = extent
    xs, ys = torch.linspace(x0, x1, steps), torch.linspace(y0, y1, steps)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (steps, steps, 2)
    _, pooled = d2l.attention_pooling(grid.reshape(-1, 2), keys, values)
    return xs, ys, pooled[:, 0].reshape(steps, steps)


def plot_query_map(keys, values, path, start_gradient, query=(1.0, 0.0), taus=(1.0, 0.5, 0.25),
                   figsize=(6.4, 3.9)):
    """One picture of a learned query: f(q) over the query plane as filled contours (darker =
    larger), dashed rays between the sectors where one key wins far from the origin (each
    labelled with the value f tends to), the keys as blue arrows, df/dq at q = 0
    (`start_gradient`) as a black arrow, the path of gradient descent (`path`, a list of
    (x, y) from q = 0) as orange dots, and the query `query` divided by each temperature in
    `taus` as black squares on its ray (at temperature tau the lookup reads the map at
    q / tau)."""
    plt = d2l.plt
    d2l.use_svg_display()
    xs, ys, F = query_map(keys, values)
    fig, ax = plt.subplots(figsize=figsize)
    filled = ax.contourf(xs.numpy(), ys.numpy(), F.numpy(), levels=list(range(10, 31)),
                         cmap="Greys", alpha=0.55)
    lines = ax.contour(xs.numpy(), ys.numpy(), F.numpy(), levels=[12, 15, 20, 25, 28],
                       colors="#444", linewidths=0.7)
    ax.clabel(lines, fmt="f=%g", fontsize=7)
    fig.colorbar(filled, ax=ax, shrink=0.85, ticks=[10, 15, 20, 25, 30],
                 label="pooled value f(q)")
    box = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85)
    # Far from the origin one key wins: dashed rays where the winner changes, each sector
    # labelled with the value it tends to.
    turn = torch.arange(0.0, 360.0, 0.05)
    unit = torch.stack([torch.cos(torch.deg2rad(turn)), torch.sin(torch.deg2rad(turn))], dim=1)
    winner = (unit @ keys.T).argmax(dim=1)
    change = torch.nonzero(winner != winner.roll(1)).flatten().tolist()
    for a, b in zip(change, change[1:] + [change[0] + len(turn)]):
        edge = math.radians(turn[a].item())
        ax.plot([0, 8 * math.cos(edge)], [0, 8 * math.sin(edge)], "--", color="#555", lw=0.8)
        mid = math.radians((turn[a].item() + (b - a) * 0.025) % 360)
        v = values[winner[a], 0].item()
        ax.text(2.5 * math.cos(mid), 2.65 * math.sin(mid), f"f → {v:g}\n(k{winner[a] + 1} wins)",
                ha="center", va="center", fontsize=8, bbox=box)
    for i, (k, v) in enumerate(zip(keys.tolist(), values[:, 0].tolist())):
        ax.annotate("", xy=k, xytext=(0, 0), arrowprops=dict(
            arrowstyle="-|>", color=COLOURS["key"], lw=2.5, alpha=0.9))
        dx, dy = ((0.0, 0.3), (0.75, 0.0), (0.75, 0.05))[i % 3]
        ax.text(k[0] + dx, k[1] + dy, f"k{i + 1} (v={v:g})", color=COLOURS["key"],
                ha="center", va="center", fontsize=8, fontweight="bold", bbox=box)
    direction = torch.as_tensor(start_gradient, dtype=torch.float32)
    tip = (0.9 * direction / direction.norm()).tolist()
    ax.annotate("", xy=tip, xytext=(0, 0), zorder=6,
                arrowprops=dict(arrowstyle="-|>", color="black", lw=2))
    deg = math.degrees(math.atan2(tip[1], tip[0]))
    ax.text(tip[0] - 0.05, tip[1] - 0.25, f"df/dq at q=0\n({deg:.0f}°)", color="black",
            ha="right", va="top", fontsize=7, bbox=box, zorder=7)
    px, py = zip(*path)
    ax.plot(px, py, "o-", color=COLOURS["query"], ms=3.5, lw=1.5, zorder=5)
    f_end = query_map(keys, values, (px[-1], px[-1], py[-1], py[-1]), steps=1)[2].item()
    ax.text(px[1] - 0.15, py[1] - 0.05, "step 1", color=COLOURS["query"], ha="right",
            va="top", fontsize=8, fontweight="bold", bbox=box)
    ax.text(px[-1] - 0.15, py[-1] + 0.1, f"step {len(path) - 1}\nf = {f_end:.2f}",
            color=COLOURS["query"], ha="right", va="bottom", fontsize=8, fontweight="bold",
            bbox=box)
    q = torch.tensor(query)
    for tau in taus:
        x, y = (q / tau).tolist()
        f = query_map(keys, values, (x, x, y, y), steps=1)[2].item()
        ax.plot([x], [y], "s", color="black", ms=4)
        ax.text(x, y - 0.2, f"τ={tau:g}\nf={f:.2f}", ha="center", va="top", fontsize=7)
    ax.text(x, y + 0.2, "q/τ for q=(1, 0)", ha="center", va="bottom", fontsize=7, bbox=box)
    ax.axhline(0, color="#999", lw=0.5)
    ax.axvline(0, color="#999", lw=0.5)
    x0, x1, y0, y1 = MAP_EXTENT
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal", xlabel="q[0]", ylabel="q[1]",
           title="f(q) over the query plane, and q learned by SGD")
    return fig


LEARNED_SOURCE = "the black cat likes the small bird .".split()


def learned_alignment(train=False, source=LEARNED_SOURCE, seed=0):
    """(translation, weights): one attention matrix learned by 10.4's taught Bahdanau model
    (d2l.Seq2SeqEncoder and d2l.Seq2SeqAttentionDecoder, 10.4's ALIGNMENT_CONFIG, trained from
    `seed` on its made-up English -> French task), translating `source` greedily; weights:
    (len(translation) + 1, len(source) + 1), rows the generated words and <eos> (queries),
    columns the source words and <eos> (keys), 2 decimals.

    By default the committed run, results/learned-alignment.json (`python tools/book.py sweep
    learned` wrote it; training takes longer than this section's whole notebook); with
    `train=True` a fresh one (other thread counts or CPU kernels may change the last digits).
    """
    if not train:
        figures = read_results("learned-alignment")[1]
        return list(figures["translation"]), torch.tensor(figures["weights"])
    import contextlib
    import io

    from d2l_attention.explore import bahdanau_attention as ba

    config = ba.ALIGNMENT_CONFIG
    train_iter, src_vocab, tgt_vocab, _ = config.data()
    torch.manual_seed(seed)
    net = config.net(src_vocab, tgt_vocab)
    with contextlib.redirect_stdout(io.StringIO()):
        d2l.train_seq2seq(net, train_iter, config.lr, config.num_epochs, tgt_vocab, "cpu")
    (translation,), (weights,) = ba.greedy_decode(net, [list(source)], src_vocab, tgt_vocab,
                                                  config.num_steps)
    return translation, weights.round(decimals=2)


def show_learned_alignment(figsize=(4.4, 3.9)):
    """The stored learned A (`learned_alignment()`) with the section's `d2l.show_heatmaps`, and
    each generated word's largest weight with the source word it falls on."""
    translation, weights = learned_alignment()
    rows, cols = translation + ["<eos>"], LEARNED_SOURCE + ["<eos>"]
    d2l.show_heatmaps(weights.reshape(1, 1, *weights.shape), xlabel="English keys (source)",
                      ylabel="French queries (generated)", figsize=figsize,
                      titles=["A learned by 10.4's model"], xticklabels=cols, yticklabels=rows)
    top, at = weights.max(dim=1)
    print("largest weight per row:", ", ".join(
        f"{r}->{cols[j]} {w:.2f}" for r, w, j in zip(rows, top.tolist(), at.tolist())))
