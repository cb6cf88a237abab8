"""Explorers of section 10.3 (attention scoring functions).

All are built on the section's taught components, called through `d2l`: `d2l.masked_softmax`
(the masking explorer and the temperature explorer), `d2l.DotProductAttention` and
`d2l.AdditiveAttention` (the comparison of scoring functions). The notebook shows each with
one call::

    from d2l_attention.explore import attention_scoring
    attention_scoring.masking()
    attention_scoring.temperature()
    attention_scoring.comparison()

The temperature experiment's plumbing (seeded float64 data, summary table, plots) lives here too.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex

__all__ = ["jacobian_norms", "hexagon_keys", "rotation", "additive_models",
           "scoring_functions", "comparison_states", "comparison",
           "circle_scores", "masking_states", "masking", "ten_scores",
           "temperature_states", "temperature", "plot_winner_map", "cost"]

MASKED_GREY = "#bdbdbd"
SATURATED = 0.01  # a row whose softmax Jacobian has Frobenius norm below this gets ~no gradient


def _single_threaded(fn):
    """Run `fn` on one thread: its tensors are tiny, and on a busy machine a second thread's
    synchronisation costs milliseconds per operation. Results do not change."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


def jacobian_norms(weights):
    """||d alpha / d z||_F of softmax for each row of `weights` (..., m), z its input (the
    scores after any division): the Jacobian is diag(alpha) - alpha alpha^T."""
    jacobian = torch.diag_embed(weights) - weights[..., :, None] * weights[..., None, :]
    return jacobian.norm(dim=(-2, -1))


def circle_scores(num_keys=10, radius=3.0):
    """Scores q_i.k_j / sqrt(2) of `num_keys` 2-D keys of length `radius` evenly spaced on a
    circle (key j at angle 2 pi j / num_keys), query i equal to key i: (num_keys, num_keys),
    largest on the diagonal, falling off with the angle between i and j."""
    angles = torch.arange(num_keys, dtype=torch.float64) * (2 * math.pi / num_keys)
    keys = radius * torch.stack([angles.cos(), angles.sin()], dim=-1)[None]
    return d2l.DotProductAttention(dropout=0.0).score(keys, keys)[0]


def causal_lens(valid_len: int, num_queries: int) -> torch.Tensor:
    """Per-query valid lengths (1, num_queries): query i sees keys 0..i, and none beyond
    `valid_len` (the causal mask of a decoder combined with padding)."""
    return (torch.arange(1, num_queries + 1).clamp(max=valid_len))[None]


@_single_threaded
def masking_states(scores, lengths, causal=(False, True)):
    """Rows for the masking explorer: for each valid length L and each `causal` setting, the
    scores and the weights `d2l.masked_softmax` gives the (num_queries, num_keys) `scores`,
    with valid_lens `[L]` (one length shared by all queries) or, when causal,
    `[[min(1, L), ..., min(n, L)]]` (query i also stops at key i); and a line of text with the
    row sums. `masked` marks the cells whose weight is set to 0; `filled` those whose score
    `masked_softmax` fills with -inf (JSON has no infinity): a row with L = 0 is masked but
    left unfilled, as the function leaves it."""
    weight_rows, text_rows = [], []
    num_queries, num_keys = scores.shape
    queries, keys = [f"q{i}" for i in range(num_queries)], [f"k{j}" for j in range(num_keys)]
    for L in lengths:
        for is_causal in causal:
            lens = causal_lens(L, num_queries) if is_causal else torch.tensor([L])
            weights = d2l.masked_softmax(scores[None], lens)[0]
            state = {"valid_len": L, "causal": is_causal}
            masked_cells = torch.arange(num_keys) >= lens[0][..., None] if is_causal else \
                (torch.arange(num_keys) >= L).expand(num_queries, num_keys)
            has_key = ~masked_cells[:, :1]  # rows with L = 0 are left unfilled
            weight_rows += ex.rows(state, weight=weights, masked=masked_cells.int(),
                                   filled=(masked_cells & has_key).int(),
                                   score=scores, row_labels=("query", queries),
                                   col_labels=("key", keys))
            masked = int(masked_cells.sum())
            sums = sorted({f"{s:.2f}" for s in weights.sum(dim=-1).tolist()})
            what = ("no key: scores left unfilled, weights set to 0" if L == 0
                    else "grey, weight 0")
            text_rows += ex.rows(state, text=[
                f"valid_lens = {lens[0].tolist() if is_causal else [L]}: {masked} of "
                f"{weights.numel()} cells masked ({what}); row sums: {', '.join(sums)}"])
    return weight_rows, text_rows


def masking(num_keys=10, default_len=6):
    """The masking explorer: the circle scores (`circle_scores`, query i points like key i)
    through `d2l.masked_softmax`, a slider for the valid length L (0..num_keys) and a checkbox
    for the causal (per-query) mask; it starts at L = `default_len`."""
    scores = circle_scores(num_keys)
    lengths = list(range(num_keys + 1))
    weight_rows, text_rows = masking_states(scores, lengths)
    bound = math.ceil(float(scores.abs().max()))
    score_map = ex.heatmap_view(weight_rows, "key", "query", color="score", scheme="blues",
                                domain=(-bound, bound), width=300, height=260,
                                title="1. scores; masked -> -inf (L = 0: left unfilled)")
    heatmap = ex.heatmap_view(weight_rows, "key", "query", width=300, height=260,
                              title="2. softmax over each row -> weights")
    keys, queries = _order_of(weight_rows, "key"), _order_of(weight_rows, "query")

    def greyed(view, label, field):  # masked cells: grey, so they differ from tiny weights
        draw_cells = view.draw

        def draw(alt, base):
            masked = base.transform_filter(f"datum.{field} == 1")
            enc = dict(x=alt.X("key:N", sort=keys), y=alt.Y("query:N", sort=queries))
            return (draw_cells(alt, base.transform_filter(f"datum.{field} == 0"))
                    + masked.mark_rect(color=MASKED_GREY).encode(**enc)
                    + masked.mark_text(fontSize=10, text=label).encode(**enc))
        view.draw = draw
        return view

    shown = ex.explorer(
        _by_name(greyed(score_map, "-inf", "filled"), "cells"),
        _by_name(greyed(heatmap, "0", "masked"), "cells"),
        ex.text_view(text_rows, "text", width=300),
        controls=[ex.Slider("valid_len", lengths, "valid length L", default=default_len),
                  ex.Checkbox("causal", "causal: query i sees only keys 0..i", default=False)],
        title="Mask the keys beyond the valid length", columns=2)
    shown.spec["resolve"] = {"scale": {"color": "independent"}}  # blue scores, red weights
    # Lay out by the panels' own sizes (not the text's ink): ticking "causal" makes the text line
    # longer, and it must not push the weight map to the right.
    shown.spec.update(align="none", bounds="flush", spacing={"row": 55, "column": 90})
    return _with_datasets(shown, cells=weight_rows)


def _by_name(view, name):
    """Let `view` draw its rows from the top-level dataset `name` (`_with_datasets` adds it):
    Altair then does not validate thousands of inline rows (seconds on a busy CPU), and views
    of the same rows share one copy in the JSON. Filters and marks are those of `View.chart`."""
    def chart(alt, controls):
        base = alt.Chart(alt.Data(name=name))
        keys = set().union(*(r.keys() for r in view.data))
        for c in controls:
            if c.name in keys:
                base = base.transform_filter(c.test())
        return view.draw(alt, base).properties(width=view.width, height=view.height,
                                               title=view.title, **view.extra)
    view.chart = chart
    return view


def _with_datasets(shown, **datasets):
    shown.spec.setdefault("datasets", {}).update(datasets)
    return shown


def _order_of(rows, column):
    return list(dict.fromkeys(r[column] for r in rows))


TAUS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def ten_scores(d=256, num_keys=10, seed=0):
    """The 10 dot products q.k (float32, seeded) of one standard normal query and `num_keys`
    standard normal keys in `d` dimensions: the row the temperature part studies."""
    torch.manual_seed(seed)
    return (torch.randn(1, d) @ torch.randn(num_keys, d).T)[0]


@_single_threaded
def temperature_states(scores, taus=TAUS, target=2):
    """Rows for the temperature explorer: for each tau, the weights softmax(scores / tau)
    (`d2l.masked_softmax`), the gradient of the weight on key `target` with respect to each
    softmax input z_j = s_j / tau, d alpha_t / d z_j = alpha_t (delta_tj - alpha_j) (computed
    by autograd; the gradient with respect to the score s_j is that divided by tau), and a line
    with the largest weight, the Jacobian norm and whether the row is saturated."""
    weight_rows, grad_rows, text_rows = [], [], []
    names = [f"k{j}" for j in range(len(scores))]
    for tau in taus:
        s = (scores / tau).requires_grad_()
        a = d2l.masked_softmax(s[None, None], None)[0, 0]
        (grad,) = torch.autograd.grad(a[target], s)
        a = a.detach()
        state = {"tau": tau}
        weight_rows += ex.rows(state, row_labels=("key", names), weight=a)
        grad_rows += ex.rows(state, row_labels=("key", names), grad=grad)
        norm = jacobian_norms(a).item()
        text_rows += ex.rows(state, text=[
            f"tau = {tau}: largest weight {a.max():.2f}, weight on k{target} {a[target]:.2f}, "
            f"||da/dz|| = {norm:.1e} ({'saturated' if norm < SATURATED else 'not saturated'}); "
            f"d alpha_{target} / d s_{target} = {grad[target].item() / tau:.4f}"])
    return weight_rows, grad_rows, text_rows


def temperature(scores=None, taus=TAUS, target=2, default=1):
    """The temperature explorer: a menu for tau in softmax(q.k / tau) on the 10 scores of
    `ten_scores` (d = 256, so tau = 16 is sqrt(d)); bars of the weights and of the gradient of
    the weight on key `target` with respect to each score. It starts unscaled (tau = 1)."""
    scores = ten_scores() if scores is None else scores
    weight_rows, grad_rows, text_rows = temperature_states(scores, taus, target)
    return ex.explorer(
        ex.text_view(text_rows, "text", width=520, height=30, size=13),
        ex.bar_view(weight_rows, "key", "weight", title="softmax(q.k / tau)", width=520,
                    height=140, color="#7f7f7f"),
        ex.bar_view(grad_rows, "key", "grad", title=f"d alpha_{target} / d z_j  (z = q.k / tau)",
                    width=520, height=140, y_domain=(-0.15, 0.15), color="#7f7f7f"),
        controls=[ex.Select("tau", list(taus), "temperature tau (16 = sqrt(d))",
                            default=default)],
        title="Divide the scores by a temperature (d = 256)", columns=1)


def plot_winner_map(keys=None, extent=4.0, steps=241, figsize=(7, 3.4)):
    """Two panels over the query plane: the colour of each point is the key with the highest
    score for a query there, under the dot product (`d2l.DotProductAttention.score`) and under
    the Gaussian kernel -||q - k||^2 / 2. Keys (hexagon by default) are drawn as labelled dots,
    the convex hull dashed."""
    plt = d2l.plt
    keys = hexagon_keys() if keys is None else keys
    line = torch.linspace(-extent, extent, steps, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(line, line, indexing="xy"), dim=-1).reshape(-1, 2)
    scores = {"dot product": d2l.DotProductAttention(dropout=0.0).score(grid[None], keys[None])[0],
              "Gaussian kernel": -0.5 * torch.cdist(grid, keys) ** 2}
    colours = plt.get_cmap("tab10").colors[:len(keys)]
    from matplotlib.colors import ListedColormap
    cmap = ListedColormap(colours)
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    hull = keys[[1, 3, 5, 1]]
    for ax, (name, s) in zip(axes, scores.items()):
        # A query whose top score is shared (the origin, or a ray where a short key ties the
        # two long keys beside it) has no winner: left blank, not given to the first tied key,
        # which argmax would pick differently on different CPU kernels.
        top2 = s.topk(2, dim=-1).values
        tied = top2[:, 0] - top2[:, 1] <= 1e-9 * top2[:, 0].abs().clamp(min=1.0)
        winner = torch.where(tied, -1, s.argmax(dim=-1)).reshape(steps, steps)
        ax.imshow(np.ma.masked_less(winner.numpy(), 0), origin="lower",
                  extent=(-extent, extent, -extent, extent),
                  cmap=cmap, vmin=-0.5, vmax=len(keys) - 0.5, alpha=0.45, interpolation="nearest")
        ax.plot(hull[:, 0], hull[:, 1], "--", color="#555", lw=1)
        for j, k in enumerate(keys):
            ax.plot(*k, "o", color=colours[j], mec="k", ms=7)
            ax.annotate(f"k{j}", k, textcoords="offset points", xytext=(5, 5), fontsize=9)
        ax.set(title=f"top key, {name}", xlabel="query x", aspect="equal")
    axes[0].set_ylabel("query y")
    fig.tight_layout()
    return axes


def _saved_bytes(fn, *args):
    """Run `fn(*args)`; return its result and the bytes of the distinct storages autograd keeps
    for backward."""
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)
    return out, sum(storages.values())


@_single_threaded
def cost(batch_size=8, num_queries=128, num_kv=128, size=64, repeats=3, seed=0):
    """Measure one forward and backward pass of `d2l.AdditiveAttention` (query, key and hidden
    size `size`) and of `d2l.DotProductAttention` on the same float32 queries, keys and values
    (batch_size, num_queries or num_kv, size). Returns {name: (seconds, bytes)}: the median wall
    time over `repeats` timed passes (after one untimed pass), and the bytes of the tensors
    autograd saves for backward (they live until backward: the memory attention costs)."""
    import time

    torch.manual_seed(seed)
    q = torch.randn(batch_size, num_queries, size, requires_grad=True)
    k = torch.randn(batch_size, num_kv, size, requires_grad=True)
    v = torch.randn(batch_size, num_kv, size, requires_grad=True)
    models = {"additive": d2l.AdditiveAttention(size, size, size, dropout=0.0),
              "scaled dot product": d2l.DotProductAttention(dropout=0.0)}
    result = {}
    for name, model in models.items():
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            out, saved = _saved_bytes(model, q, k, v)
            out.sum().backward()
            times.append(time.perf_counter() - start)
        result[name] = (sorted(times[1:])[len(times[1:]) // 2], saved)
    return result


# ---- comparing scoring functions on one 2-D key set -------------------------------------------

KEY_LENGTHS = (1.0, 3.0, 1.0, 3.0, 1.0, 3.0)


def hexagon_keys(lengths=KEY_LENGTHS):
    """Six 2-D keys at 0, 60, ..., 300 degrees with the given `lengths` (1, 3, 1, 3, 1, 3):
    (6, 2)."""
    angles = torch.arange(len(lengths), dtype=torch.float64) * (2 * math.pi / len(lengths))
    return torch.tensor(lengths, dtype=torch.float64)[:, None] * torch.stack(
        [angles.cos(), angles.sin()], dim=-1)


def rotation(degrees):
    """The 2 x 2 matrix that turns a column vector anticlockwise by `degrees`."""
    t = math.radians(degrees)
    return torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]],
                        dtype=torch.float64)


ADDITIVE_SCALES = {"additive (untrained), small W": 0.2, "additive (untrained), large W": 3.0}


def additive_models(scales=ADDITIVE_SCALES, num_hiddens=8, seed=0):
    """{name: d2l.AdditiveAttention} on 2-D queries and keys, h = `num_hiddens`, float64: W_q and
    W_k drawn N(0, std^2) with the std in `scales`, w_v drawn N(0, 1); seeded, the same w_v and
    the same directions for every std (only the size of W_q, W_k changes)."""
    models = {}
    for name, std in scales.items():
        torch.manual_seed(seed)
        model = d2l.AdditiveAttention(2, 2, num_hiddens, dropout=0.0).double()
        with torch.no_grad():
            for layer in (model.W_q, model.W_k):
                layer.weight.normal_(0.0, 1.0).mul_(std)
            model.w_v.weight.normal_(0.0, 1.0)
        models[name] = model
    return models


def scoring_functions(keys=None, general_degrees=60.0):
    """{name: score(queries, keys) -> (1, n, 6)}: the scoring functions compared on the hexagon
    keys. "general q^T W k" uses W = rotation(-general_degrees), i.e. the query turned by
    +general_degrees; "Gaussian kernel"
    is the score of 10.2's kernel, -||q - k||^2 / 2 = q.k - ||k||^2 / 2 - ||q||^2 / 2 (the last
    term is the same for every key, so softmax ignores it); the additive rows are untrained
    `d2l.AdditiveAttention` models (`additive_models`)."""
    dot = d2l.DotProductAttention(dropout=0.0)
    W = rotation(-general_degrees)
    funcs = {"scaled dot": dot.score,
             f"general, W^T turns q {general_degrees:g} deg":
                 lambda q, k: dot.score(q @ W, k),
             "Gaussian kernel -|q-k|^2/2": lambda q, k: -0.5 * torch.cdist(q, k) ** 2}
    for name, model in additive_models().items():
        funcs[name] = model.score
    return funcs


@_single_threaded
def comparison_states(angles=tuple(range(0, 360, 15)), query_length=2.0):
    """Rows for the comparison explorer: for each query angle (degrees), the softmax weights
    (`d2l.masked_softmax`) every scoring function gives the hexagon keys, the query and keys as
    arrows, and one line per function with its top key and its largest |score|."""
    keys = hexagon_keys()
    funcs = scoring_functions()
    bounds = {name: m.w_v.weight.abs().sum().item() for name, m in additive_models().items()}
    key_names = [f"k{j} (|k|={int(n)})" for j, n in enumerate(KEY_LENGTHS)]
    weight_rows, arrow_rows, text_rows = [], [], []
    for angle in angles:
        t = math.radians(angle)
        q = query_length * torch.tensor([[[math.cos(t), math.sin(t)]]], dtype=torch.float64)
        state = {"angle": angle}
        both = torch.cat([keys, q[0]])
        arrow_rows += ex.rows(state, x=both[:, 0], y=both[:, 1],
                              label=[f"k{j}" for j in range(6)] + ["q"],
                              kind=["key"] * 6 + ["query"])
        lines = []
        with torch.no_grad():
            for name, score in funcs.items():
                s = score(q, keys[None])
                w = d2l.masked_softmax(s, None)[0, 0]
                weight_rows += ex.rows(state, weight=w, row_labels=("key", key_names),
                                       function=[name] * 6, decimals=2)
                if name in bounds:
                    lines.append(f"{name}: largest |score| {s.abs().max():.2f} "
                                 f"<= ||w_v||_1 = {bounds[name]:.2f}")
        text_rows += ex.rows(state, text=lines, row_labels=("line", list(range(len(lines)))))
    return weight_rows, arrow_rows, text_rows


def _with_hull(draw_arrows, keys, domain):
    """Add the dashed triangle of the long keys (k1, k3, k5), the convex hull of all six keys,
    under the arrows."""
    corners = [keys[j] for j in (1, 3, 5, 1)]
    points = [{"x": round(c[0].item(), 3), "y": round(c[1].item(), 3), "i": i}
              for i, c in enumerate(corners)]

    def draw(alt, base):
        scale = alt.Scale(domain=list(domain), nice=False)
        hull = alt.Chart(alt.Data(values=points)).mark_line(
            strokeDash=[4, 3], color="#999", strokeWidth=1.2).encode(
            x=alt.X("x:Q", scale=scale), y=alt.Y("y:Q", scale=scale), order="i:O")
        return alt.layer(hull, draw_arrows(alt, base))
    return draw


def comparison(default_angle=30):
    """The scoring-function explorer: a slider turns a length-2 query round the six hexagon keys
    (lengths 1 and 3); a heatmap shows the weights each scoring function gives the keys. It
    starts at 30 degrees, between k0 and k1, where the query arrow does not hide k0."""
    weight_rows, arrow_rows, text_rows = comparison_states()
    arrows = ex.arrow_view(arrow_rows, "x", "y", label="label", color="kind",
                           colors={"key": "#c0392b", "query": "#2070b4"},
                           title="keys (red), query (blue), hull (dashed)", width=260,
                           height=260, x_domain=(-3.6, 3.6), y_domain=(-3.6, 3.6))
    arrows.draw = _with_hull(arrows.draw, hexagon_keys(), (-3.6, 3.6))
    heat = ex.heatmap_view(weight_rows, "key", "function", width=300, height=260,
                           title="softmax weights of each scoring function")
    shown = ex.explorer(arrows, heat, ex.text_view(text_rows, "text", width=260, height=40,
                                                   size=12),
                        controls=[ex.Slider("angle", list(range(0, 360, 15)),
                                            "query angle (degrees)", default=default_angle)],
                        title="Same keys, different scoring functions", columns=2)
    shown.spec["align"] = "none"
    return shown


# ---- the temperature experiment: a retrieval task ---------------------------------------------

def retrieval_task(d=256, steps=120, batch=32, num_keys=10, init_std=None, seed=0):
    """The retrieval task of the temperature experiment, in float64 (small rounding differences
    between CPU kernels would otherwise grow in the saturated runs). Returns (W, batches):
    W is an `nn.Linear(d, d)` without bias, entries N(0, init_std^2) (default 1/sqrt(d): W x then
    has unit-variance entries, like the keys); batches yields `steps` tuples
    (keys (batch, num_keys, d), values (batch, num_keys, 1), x (batch, 1, d), which (batch,),
    target (batch, 1)): x is key `which` turned by a fixed unknown rotation, target its value.
    Every call with the same seed gives the same W (before scaling) and the same batches."""
    torch.manual_seed(seed)
    turn = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0]
    W = torch.nn.Linear(d, d, bias=False, dtype=torch.float64)
    torch.nn.init.normal_(W.weight, 0.0, 1 / math.sqrt(d) if init_std is None else init_std)

    def batches():
        draws, rows = torch.Generator().manual_seed(seed + 1), torch.arange(batch)
        for _ in range(steps):
            keys = torch.randn(batch, num_keys, d, generator=draws, dtype=torch.float64)
            values = torch.randn(batch, num_keys, 1, generator=draws, dtype=torch.float64)
            which = torch.randint(0, num_keys, (batch,), generator=draws)
            yield keys, values, (keys[rows, which] @ turn)[:, None], which, values[rows, which]
    return W, batches()


def run_summary(log, windows=((0, 10), (20, 30), (110, 120))):
    """Per window of steps: mean loss, the share of saturated rows, the share of rows that are
    saturated and wrong (largest weight on the wrong key), the mean gradient norm per row on
    saturated and on the other rows (nan where there are none), the share of saturated rows
    that are wrong, and the mean change of a score per step (`moved`, where logged). `log`
    holds per-step dicts with `loss`, `saturated`, `grad` and `right` (per-row tensors) and
    optionally `moved` (a float)."""
    out = []
    for a, b in windows:
        part = log[a:b]
        sat = torch.cat([s["saturated"] for s in part])
        grad = torch.cat([s["grad"] for s in part])
        right = torch.cat([s["right"] for s in part])
        out.append(dict(loss=sum(s["loss"] for s in part) / len(part),
                        saturated=sat.double().mean().item(),
                        saturated_and_wrong=(sat & ~right).double().mean().item(),
                        grad_saturated=grad[sat].mean().item() if sat.any() else float("nan"),
                        grad_other=grad[~sat].mean().item() if (~sat).any() else float("nan"),
                        wrong_saturated=(~right[sat]).double().mean().item() if sat.any()
                        else float("nan"),
                        moved=sum(s.get("moved", float("nan")) for s in part) / len(part)))
    return out


def plot_runs(runs, figsize=(8, 2.8), smooth=10):
    """Two panels over the steps: the loss (mean over the last `smooth` steps) and the share of
    rows that are saturated and wrong (mean over the last `smooth` steps), one line per run;
    one legend in the left panel."""
    plt = d2l.plt
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    kernel = torch.ones(smooth, dtype=torch.float64) / smooth

    def smoothed(series):
        return torch.nn.functional.conv1d(series[None, None], kernel[None, None])[0, 0]

    for name, log in runs.items():
        loss = torch.tensor([s["loss"] for s in log], dtype=torch.float64)
        bad = torch.tensor([(s["saturated"] & ~s["right"]).double().mean().item() for s in log],
                           dtype=torch.float64)
        steps = range(smooth, len(log) + 1)
        axes[0].plot(steps, smoothed(loss), label=name)
        axes[1].plot(steps, smoothed(bad), label=name)
    axes[0].set(xlabel="step", ylabel=f"loss (mean of {smooth} steps)")
    axes[1].set(xlabel="step", ylabel=f"saturated and wrong (mean of {smooth})")
    axes[1].set_ylim(bottom=-0.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return axes


def plot_sweep(dims, stats, figsize=(8, 2.8)):
    """The d-sweep of the temperature part: two panels over d (log scale), the mean largest
    weight and the share of saturated rows, one line per divisor; `stats` maps a divisor's name
    to one (mean max weight, share saturated) pair per d."""
    plt = d2l.plt
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    for col, ylabel in enumerate(["mean max weight", "saturated rows (||da/dz|| < 0.01)"]):
        d2l.plot(dims, [[r[col] for r in rows] for rows in stats.values()], xlabel="d",
                 ylabel=ylabel, xscale="log", ylim=(-0.05, 1.05), axes=axes[col],
                 fmts=("-", "m--o", "g:x"))
        axes[col].legend([f"q.k / {n}" for n in stats], loc=["center right", "upper left"][col],
                         fontsize=8)
    fig.tight_layout()
    return axes


def plot_rows(rows, target, figsize=(8, 3.6)):
    """For each softmax row in `rows` ({name: (m,) weights}) one column of two bar charts: the
    weights, and the gradient of the weight on key `target` with respect to every softmax input
    z_j (the score after any division), d alpha_t / d z_j = alpha_t (delta_tj - alpha_j) (row t
    of the softmax Jacobian); the two
    gradient panels share one axis, so a saturated row's flat gradient shows as flat."""
    plt = d2l.plt
    fig, axes = plt.subplots(2, len(rows), figsize=figsize, sharey="row")
    for col, (name, a) in enumerate(rows.items()):
        a = a.double()
        grad = a[target] * (torch.eye(len(a), dtype=a.dtype)[target] - a)
        keys = range(len(a))
        colours = ["#c0392b" if j == target else "#7f7f7f" for j in keys]
        axes[0, col].bar(keys, a, color=colours)
        axes[0, col].plot([target], [a[target]], "o", color="#c0392b", ms=5)  # even at 0
        axes[0, col].set(title=name, ylim=(0, 1.05), ylabel="weight" if col == 0 else None)
        axes[1, col].bar(keys, grad, color=colours)
        axes[1, col].plot([target], [grad[target]], "o", color="#c0392b", ms=5)  # even at 0
        axes[1, col].axhline(0, color="k", lw=0.5)
        axes[1, col].set(xlabel=f"key j (red: key {target})", xticks=list(keys),
                         ylabel=f"d alpha_{target} / d z_j" if col == 0 else None)
    fig.tight_layout()
    return axes
