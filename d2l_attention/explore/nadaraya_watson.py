"""Section 10.2's explorer, figures and measurements, built on `d2l.NWKernelRegression`.

Every function that runs the model takes `model_class` (default `d2l.NWKernelRegression`): the
notebook passes the class it defines, so editing that class changes every figure and the explorer.

`w` is the kernel's sharpness, the inverse width: the Gaussian kernel of `NWKernelRegression`
has standard deviation sigma = 1 / w, so a larger `w` means a narrower kernel. The section's tests
check these functions against `NWKernelRegression`.

Colours are those of the section's static figures: truth blue (C0), prediction magenta dashed
(`d2l.plot`'s second format "m--"), training data orange (C1), weights green (C2), the
leave-one-out loss solid blue, the loss with self among the keys dotted grey and the
test MSE dashed red (C3).
"""

from __future__ import annotations

import contextlib
import functools

import torch

import d2l_attention as d2l
from d2l_attention import explorers

TRUTH, PRED, DATA, WEIGHT, LOO, TEST = ("#1f77b4", "#bf00bf", "#ff7f0e", "#2ca02c", "#1f77b4",
                                         "#d62728")
SELF = "#7f7f7f"  # the loss with self among the keys: grey dotted


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _one_thread():
    """Run on one thread: these tensors are tiny (50 x 50), and on a busy machine a second
    thread's synchronisation costs milliseconds per softmax. Row-wise results do not change."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _single_threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _one_thread():
            return fn(*args, **kwargs)
    return wrapper


def loo_pairs(x, y):
    """Leave-one-out keys and values, each (n, n - 1): row i holds every pair but (x_i, y_i)."""
    n = len(x)
    keep = ~torch.eye(n, dtype=torch.bool)
    return x.repeat(n, 1)[keep].reshape(n, n - 1), y.repeat(n, 1)[keep].reshape(n, n - 1)


def predict(w, queries, x, y, model_class=None):
    """`model_class(w=w)` (default NWKernelRegression) at `queries` (m,) with every training pair
    as keys and values. Returns (prediction (m,), attention weights (m, n))."""
    net = (model_class or d2l.NWKernelRegression)(w=w)
    with torch.no_grad():
        y_hat = net(queries, x.repeat(len(queries), 1), y.repeat(len(queries), 1))
    return y_hat, net.attention_weights


def loo_loss(w, x, y, reduction="mean", model_class=None):
    """Squared error of each training point predicted from the others (mean or sum)."""
    keys, values = loo_pairs(x, y)
    with torch.no_grad():
        errors = ((model_class or d2l.NWKernelRegression)(w=w)(x, keys, values) - y) ** 2
    return (errors.mean() if reduction == "mean" else errors.sum()).item()


# ---------------------------------------------------------------------------------------------
# Static figures
# ---------------------------------------------------------------------------------------------

def _fit_axes(ax, x_train, y_train, x_test, y_truth, y_hat, title=None):
    """Truth, prediction and training data in the colours of the book's `plot_kernel_reg`."""
    ax.plot(x_test, y_truth, color=TRUTH, label="Truth")
    ax.plot(x_test, y_hat, "--", color=PRED, label="Pred")
    ax.plot(x_train, y_train, "o", color=DATA, alpha=0.5, ms=4)
    ax.set_xlim(0, 5)
    ax.set_ylim(-1, 5)
    ax.set_xlabel("x")
    if title:
        ax.set_title(title, fontsize=10)


@_single_threaded
def plot_sharpness(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0, 16.0), query=2.5,
                   model_class=None):
    """One column per sharpness w: the weights alpha(query, x_i) over the keys (top) and the
    prediction on the test grid (bottom). Returns {w: test MSE} and {w: alpha(query, x_i), (n,)}."""
    fig, axes = d2l.plt.subplots(2, len(ws), figsize=(3.2 * len(ws), 5.2),
                                 sharex=True, sharey="row")
    mse, weights = {}, {}
    for col, w in enumerate(ws):
        _, alpha = predict(w, torch.tensor([float(query)]), x_train, y_train, model_class)
        y_hat, _ = predict(w, x_test, x_train, y_train, model_class)
        mse[w] = ((y_hat - y_truth) ** 2).mean().item()
        weights[w] = alpha[0]
        top = axes[0, col]
        top.plot(x_train, alpha[0], "o-", color=WEIGHT, ms=3)
        top.axvline(query, color="gray", ls="--", lw=0.8)
        top.set_title(f"w = {w:g} (sigma = {1 / w:.2g}): max weight {alpha.max():.2f}",
                      fontsize=10)
        _fit_axes(axes[1, col], x_train, y_train, x_test, y_truth, y_hat,
                  title=f"test MSE {mse[w]:.3f}")
    axes[0, 0].set_ylabel(f"weight alpha({query:g}, x_i)")
    axes[1, 0].set_ylabel("y")
    axes[1, 0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    d2l.plt.show()
    return mse, weights


def plot_bias_variance(x_test, y_truth, preds, figsize=(9.6, 2.6)):
    """One panel per sharpness w: the truth, the mean prediction over resampled training sets and
    a band of one standard deviation around it. `preds` {w: (num_datasets, len(x_test))}, computed
    by the notebook with `NWKernelRegression(w=w)`."""
    fig, axes = d2l.plt.subplots(1, len(preds), figsize=figsize, sharey=True)
    for ax, (w, p) in zip(axes, preds.items()):
        mean, std = p.mean(0), p.std(0)
        ax.plot(x_test, y_truth, color=TRUTH, label="Truth")
        ax.plot(x_test, mean, "--", color=PRED, label="mean Pred")
        ax.fill_between(x_test, mean - std, mean + std, color=PRED, alpha=0.2, label="+-1 std")
        ax.set_xlim(0, 5)
        ax.set_ylim(-1, 5)
        ax.set_xlabel("x")
        ax.set_title(f"w = {w:g}, {len(p)} data sets", fontsize=10)
    axes[0].set_ylabel("y")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    d2l.plt.show()


def plot_loo_curves(ws, curves, figsize=(5.5, 2.8)):
    """Draw `curves` over the sharpness grid `ws`: {"loo": the leave-one-out MSE 2L(w)/n (solid
    blue), "self": the same loss with each point among its own keys (dotted grey), "test": the
    test MSE (dashed red)}. The notebook computes `curves` itself with `NWKernelRegression(w=w)`."""
    fig, ax = d2l.plt.subplots(figsize=figsize)
    ax.plot(ws, curves["loo"], color=LOO, lw=2, label="leave-one-out 2L(w)/n")
    ax.plot(ws, curves["self"], ":", color=SELF, lw=2, label="with self among the keys")
    ax.plot(ws, curves["test"], "--", color=TEST, label="test MSE")
    ax.set_xlabel("sharpness w = 1/sigma")
    ax.set_ylabel("mean squared error")
    ax.set_xlim(0, max(ws))
    ax.set_ylim(0, 1.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    d2l.plt.show()


def plot_self_vs_loo(x_train, alpha_self, alpha_loo, row, span=5, figsize=(7, 2.6)):
    """Bars of one training query's weights on its nearest keys, with itself among the keys
    (grey) and left out (blue), one panel per w. alpha_self, alpha_loo: {w: (n, n)} with the
    leave-one-out diagonal zero; `row`: the query; `span`: keys shown on each side."""
    lo, hi = max(row - span, 0), min(row + span + 1, len(x_train))
    cols = torch.arange(lo, hi)
    fig, axes = d2l.plt.subplots(1, len(alpha_self), figsize=figsize, sharey=True, squeeze=False)
    for ax, w in zip(axes[0], alpha_self):
        x = cols.numpy()
        ax.bar(x - 0.2, alpha_self[w][row, lo:hi].numpy(), 0.4, color=SELF, label="with self")
        ax.bar(x + 0.2, alpha_loo[w][row, lo:hi].numpy(), 0.4, color=LOO, label="leave-one-out")
        ax.axvline(row, color="gray", ls=":", lw=0.8)
        ax.set_xticks(cols.tolist())
        ax.set_xticklabels(["self" if c == row else f"{x_train[c]:.2f}" for c in cols.tolist()],
                           rotation=90, fontsize=7)
        ax.set_title(f"query x_{row} = {x_train[row]:.2f}, w = {w:g}", fontsize=10)
        ax.set_xlabel("key x_i")
    axes[0, 0].set_ylabel("weight")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    d2l.plt.show()


def plot_sgd_on_loo(ws, loo, paths, book_epochs=5, figsize=(6, 3)):
    """The leave-one-out MSE 2L(w)/n over the grid `ws` (blue) with each training run's iterates
    as dots on it: `paths` {label: [w before training, after epoch 1, ...]}. The first run's
    first `book_epochs` epochs are large numbered dots, its later epochs small ones; the curve
    is interpolated linearly at each iterate."""
    fig, ax = d2l.plt.subplots(figsize=figsize)
    ax.plot(ws, loo, color=LOO, lw=2, label="leave-one-out 2L(w)/n")
    ws_t, loo_t = torch.tensor(ws, dtype=torch.float64), torch.tensor(loo, dtype=torch.float64)

    def on_curve(w):
        i = int(torch.searchsorted(ws_t, torch.tensor(float(w), dtype=torch.float64))
                .clamp(1, len(ws) - 1))
        t = (w - ws_t[i - 1]) / (ws_t[i] - ws_t[i - 1])
        return float(loo_t[i - 1] + t * (loo_t[i] - loo_t[i - 1]))

    (label, book), *others = paths.items()
    ys = [on_curve(w) for w in book]
    head = book_epochs + 1
    ax.scatter(book[:head], ys[:head], s=36, color="C2", zorder=4,
               label=f"{label}: epochs 0-{book_epochs}")
    if len(book) > head:
        ax.scatter(book[head:], ys[head:], s=8, color="C2", alpha=0.4, zorder=3,
                   label=f"{label}: epochs {head}-{len(book) - 1}, w = {book[-1]:.2f}")
    last = min(book_epochs, len(book) - 1)  # epochs 1..last sit close together: one label
    ax.annotate("epoch 0", (book[0], ys[0]), textcoords="offset points", xytext=(0, 8),
                fontsize=8, ha="center")
    ax.annotate(f"epochs 1-{last}: w {book[1]:.2f} -> {book[last]:.2f}", (book[1], ys[1]),
                textcoords="offset points", xytext=(15, 40), fontsize=8, ha="right",
                arrowprops=dict(arrowstyle="-", color="0.5", lw=0.5))
    ax.annotate("", (book[1], ys[1]), (book[0], ys[0]),
                arrowprops=dict(arrowstyle="->", color="C2", lw=1))
    for (label, path), colour in zip(others, ("C4", "C1")):
        ax.scatter(path, [on_curve(w) for w in path], s=8, color=colour, zorder=3,
                   label=f"{label}: {len(path) - 1} epochs, w = {path[-1]:.2f}")
    ax.set_xlim(0, 10)
    ax.set_xlabel("sharpness w")
    ax.set_ylabel("mean squared error")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    d2l.plt.show()


# Gaussian in the weights' green (as in the other figures); boxcar dark, so its steps stand out
KERNEL_COLOURS = {"Gaussian": WEIGHT, "Laplace": "C4", "boxcar": "0.2"}


def plot_kernel_shapes(x_train, weights, query, row, test_mse=None, span=1.2, figsize=(6, 2.6)):
    """One query's weights over the keys for several kernels: `weights` {name: (rows, keys)},
    row `row` belongs to the query `query`; `test_mse` {name: value} joins the legend. Only the
    keys within `span` of the query are shown."""
    fig, ax = d2l.plt.subplots(figsize=figsize)
    for name, a in weights.items():
        label = name if test_mse is None else f"{name}: test MSE {test_mse[name]:.3f}"
        ax.plot(x_train, a[row], "o-", ms=3, lw=1.2, label=label, color=KERNEL_COLOURS.get(name))
    ax.axvline(float(query), color="0.5", ls=":", lw=1)
    ax.set_xlim(float(query) - span, float(query) + span)
    ax.set_xlabel(f"key x_i (query x = {float(query):g}, dotted)")
    ax.set_ylabel("weight")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    d2l.plt.show()


# ---------------------------------------------------------------------------------------------
# The explorer: the sharpness w and the query x
# ---------------------------------------------------------------------------------------------

def keys_for_mass(weights, mass=0.9):
    """Per row of `weights` (rows, keys): how many of the largest weights reach `mass`."""
    cumulative = weights.sort(dim=-1, descending=True).values.cumsum(dim=-1)
    return (cumulative < mass - 1e-6).sum(dim=-1) + 1


CLOSEST_WS = tuple(0.25 * i for i in range(65))  # 0, 0.25, ..., 16: the right panel's curve


@_single_threaded
def sharpness_states(x_train, y_train, x_test, y_truth, ws, queries, decimals=3, f=None,
                     model_class=None):
    """Rows for the explorer, one state per sharpness w in `ws` (column "w") and query in
    `queries` (column "q"). "fit": the prediction on `x_test` (per w); "weights": alpha(q, x_i)
    over all keys; "marker": (q, prediction there); "loss": (w, prediction at q), the right
    panel's diamond; "text": the lines under each panel (column "panel": "fit", "weights" or
    "loss").
    With the true function `f` (tensor -> tensor), the fit panel also prints f(q) and the right
    panel the w on its curve's grid (`CLOSEST_WS`) whose prediction comes closest to f(q)."""
    out = {k: [] for k in ("fit", "weights", "marker", "loss", "text")}
    closest = {}  # with f: per query, the w on CLOSEST_WS whose prediction is nearest f(q)
    if f is not None:
        qs = torch.tensor([float(q) for q in queries])
        preds = torch.stack([predict(cw, qs, x_train, y_train, model_class)[0]
                             for cw in CLOSEST_WS])
        gap = (preds - f(qs)).abs()  # (len(CLOSEST_WS), len(queries))
        for i, q in enumerate(queries):
            j = int(gap[:, i].argmin())
            closest[q] = (f"closest to f(x) over w: {preds[j, i].item():.2f} "
                          f"at w = {CLOSEST_WS[j]:g}")
    for w in ws:
        y_hat, _ = predict(w, x_test, x_train, y_train, model_class)
        mse = ((y_hat - y_truth) ** 2).mean().item()
        loo = loo_loss(w, x_train, y_train, model_class=model_class)
        out["fit"] += _no_index(explorers.rows({"w": w, "series": "prediction"}, x=x_test, y=y_hat,
                                         decimals=decimals))
        y_q, alpha = predict(w, torch.tensor([float(q) for q in queries]), x_train, y_train,
                             model_class)
        counts = keys_for_mass(alpha)
        width = "average pooling" if w == 0 else f"sigma = {1 / w:.2g}"
        for i, q in enumerate(queries):
            state = {"w": w, "q": q}
            out["weights"] += _no_index(explorers.rows(state, x=x_train, weight=alpha[i],
                                                 decimals=decimals))
            out["marker"] += explorers.rows({**state, "series": "prediction"}, x=[q], y=[y_q[i]],
                                      decimals=decimals)
            out["loss"] += explorers.rows({**state, "series": "prediction"}, sharpness=[w],
                                    y=[y_q[i]], decimals=decimals)
            k = int(counts[i])
            for panel, lines in (
                    ("fit", [f"query x = {q:g}: prediction {y_q[i].item():.2f}"]
                     + ([] if f is None else
                        [f"true value f(x) = {f(torch.tensor(float(q))).item():.2f}"])),
                    ("weights", [f"largest weight {alpha[i].max().item():.3f}",
                                 f"90% of the weight on {k} key{'' if k == 1 else 's'}"]),
                    ("loss", [f"w = {w:g} ({width})",
                              f"leave-one-out 2L(w)/n {loo:.3f}, test MSE {mse:.3f}"]
                     + ([closest[q]] if q in closest else []))):
                out["text"] += explorers.rows({**state, "panel": panel}, line=range(len(lines)),
                                        text=lines)
    return out


def _no_index(rows):
    """Drop the index column `rows` adds to 1-D columns: the explorer does not use it, and its
    thousands of rows must stay small in the notebook."""
    for r in rows:
        r.pop("i", None)
    return rows


@_single_threaded
def query_curves(x_train, y_train, ws, queries, f=None, decimals=3, model_class=None):
    """Rows of the prediction of NWKernelRegression(w) at each query (column "q") over the
    sharpness grid `ws` (column "sharpness", so the explorer's w control does not filter them);
    with the true function `f`, also a flat "truth" line at f(q) over the grid's range."""
    qs = torch.tensor([float(q) for q in queries])
    preds = torch.stack([predict(w, qs, x_train, y_train, model_class)[0]
                         for w in ws])  # (len(ws), len(qs))
    out = []
    for i, q in enumerate(queries):
        out += _no_index(explorers.rows({"q": float(q), "series": "prediction"}, sharpness=list(ws),
                                  y=preds[:, i], decimals=decimals))
        if f is not None:
            truth = f(torch.tensor(float(q))).item()
            out += _no_index(explorers.rows({"q": float(q), "series": "truth"},
                                      sharpness=[min(ws), max(ws)], y=[truth, truth],
                                      decimals=decimals))
    return out


def _styled(data, x, y, styles, *, mark="line", size=None, title="", x_title=None,
            y_title=None, x_domain=None, y_domain=None, width=300, height=200, legend=True,
            points=False):
    """A view whose column "series" picks colour and dash from `styles` {name: (colour, dash)},
    so each series has the colour it has in the static figures; one legend per panel."""
    names = list(styles)

    def draw(alt, base):
        colour = alt.Color("series:N", scale=alt.Scale(domain=names,
                                                       range=[styles[n][0] for n in names]),
                           legend=alt.Legend(orient="bottom", title=None, columns=3)
                           if legend else None)
        enc = dict(x=alt.X(f"{x}:Q", title=x_title or x,
                           scale=alt.Scale(domain=list(x_domain)) if x_domain else alt.Undefined),
                   y=alt.Y(f"{y}:Q", title=y_title or y,
                           scale=alt.Scale(domain=list(y_domain)) if y_domain else alt.Undefined),
                   color=colour)
        if mark == "line":
            enc["strokeDash"] = alt.StrokeDash(
                "series:N", scale=alt.Scale(domain=names, range=[styles[n][1] for n in names]),
                legend=None)
            return base.mark_line(clip=True, point={"filled": True, "size": 15} if points
                                  else False).encode(**enc)
        return base.mark_point(filled=True, shape=mark, size=size or 60, clip=True,
                               opacity=1 if mark == "diamond" else 0.6).encode(**enc)

    return explorers.View(data, draw, width, height, title)


def _weight_line(alt, base):
    """The weights over the keys in the static figure's green, on one square-root y axis for
    every state (so a sharper kernel draws a visibly taller, narrower hill)."""
    return base.mark_line(color=WEIGHT, point={"filled": True, "size": 15, "color": WEIGHT},
                          clip=True).encode(
        x=alt.X("x:Q", title="training input x_i (key)", scale=alt.Scale(domain=[0, 5])),
        y=alt.Y("weight:Q", title="weight (square-root axis)",
                scale=alt.Scale(type="sqrt", domain=[0, 1]),
                axis=alt.Axis(values=[0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1], format="~g")))


def _marks_view(marks, y_top):
    """Dotted vertical rules at the marked sharpnesses {label: w}, each labelled by a text
    that runs down its right side from the top (so labels cross neither rules nor curves)."""
    data = [{"sharpness": w, "label": label, "y": y_top} for label, w in marks.items()]

    def draw(alt, base):
        rule = base.mark_rule(color="#555", strokeDash=[2, 2]).encode(x="sharpness:Q")
        text = base.mark_text(align="left", baseline="bottom", angle=90, dx=3, dy=-3,
                              fontSize=10, color="#555").encode(
            x="sharpness:Q", y="y:Q", text="label:N")
        return rule + text

    return explorers.View(data, draw, 260, 200, "")


def _fill(node, full):
    """Replace each one-row {"values": [{..., "_sample": key}]} in a spec by full[key]."""
    if isinstance(node, dict):
        values = node.get("values")
        if isinstance(values, list) and len(values) == 1 and isinstance(values[0], dict) \
                and "_sample" in values[0]:
            node["values"] = full[values[0]["_sample"]]
        for child in node.values():
            _fill(child, full)
    elif isinstance(node, list):
        for child in node:
            _fill(child, full)


EXPLORER_WS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
EXPLORER_QUERIES = tuple(0.5 * i for i in range(11))
CURVE_AXIS = dict(x_title="sharpness w", y_title="prediction at the query", x_domain=(0, 16),
                  y_domain=(-1, 5))


def sharpness_explorer(x_train, y_train, x_test, y_truth, marks=None, ws=EXPLORER_WS,
                       queries=EXPLORER_QUERIES, default_w=1.0, default_q=2.5, f=None,
                       model_class=None):
    """The section's explorer: pick the sharpness w (a menu; 0 = average pooling) and drag the
    query x; watch the query's weights over the keys (one square-root axis for every state),
    the prediction it makes, and how this query's prediction moves as w goes from average pooling
    (w = 0) to the nearest key (large w), against the true value f(x).
    `marks` {label: w} (e.g. the trained w and the leave-one-out best) are drawn as rules on the
    right panel and join the menu (rounded to 2 decimals), replacing grid values within 10% of them.
    With the true function `f`, the readout under the fit also prints f(x) at the query.
    Returns a `explorers.Explorer` with the rows in `.states`."""
    marks = {label: round(float(w), 2) for label, w in (marks or {}).items()}
    grid = [float(w) for w in ws if all(abs(w - m) > 0.1 * m for m in marks.values())]
    ws, queries = sorted(set(grid) | set(marks.values())), [float(q) for q in queries]
    labels = [f"{w:g}" + "".join(f" ({label})" for label, m in marks.items() if m == w)
              + (" (average pooling)" if w == 0 else "") for w in ws]
    s = sharpness_states(x_train, y_train, x_test, y_truth, ws, queries, f=f,
                         model_class=model_class)
    solid, dashed = [1, 0], [6, 4]
    fit_styles = {"truth": (TRUTH, solid), "prediction": (PRED, dashed),
                  "training data": (DATA, solid)}
    fit_axes = dict(x_title="x", y_title="y", x_domain=(0, 5), y_domain=(-1, 5))
    rule = explorers.rule_view(explorers.rows({}, q=queries, query=queries), "query", width=260)
    fit = (_styled(explorers.rows({"series": "truth"}, x=x_test, y=y_truth, decimals=3), "x", "y",
                   fit_styles, title="fit over x (diamond: at the query)",
                   width=260, **fit_axes),
           _styled(explorers.rows({"series": "training data"}, x=x_train, y=y_train, decimals=3),
                   "x", "y", fit_styles, mark="circle", size=20, width=260, **fit_axes),
           _styled(s["fit"], "x", "y", fit_styles, width=260, **fit_axes),
           rule,
           _styled(s["marker"], "x", "y", fit_styles, mark="diamond", size=120, legend=False,
                   width=260, **fit_axes))
    weights = (explorers.View(s["weights"], _weight_line, 260, 200,
                              "the query's weights alpha(x, x_i)"), rule)
    curve_ws = list(CLOSEST_WS)
    curve_styles = {"truth": (TRUTH, solid), "prediction": (PRED, dashed)}
    loss = (_styled(query_curves(x_train, y_train, curve_ws, queries, f=f,
                                 model_class=model_class), "sharpness", "y",
                    curve_styles, title="this query's prediction over w (diamond: this w)",
                    width=260, **CURVE_AXIS),
            _marks_view(marks, CURVE_AXIS["y_domain"][1]),
            _styled(s["loss"], "sharpness", "y", curve_styles, mark="diamond", size=100,
                    legend=False, width=260, **CURVE_AXIS))
    # Altair validates every inline row; build the spec on one row per view and put the full
    # rows into its datasets afterwards (about 10 s saved on a laptop).
    full = {id(v): v.data for layer in (fit, weights, loss) for v in layer}
    for layer in (fit, weights, loss):
        for v in layer:
            v.data = [dict(row, _sample=id(v)) for row in v.data[:1]]
    captions = [explorers.text_view([r for r in s["text"] if r["panel"] == panel], "text",
                                    width=260, height=52, size=12)
                for panel in ("fit", "weights", "loss")]
    ex = explorers.explorer(
        fit, weights, loss, *captions,
        controls=[explorers.Select("w", ws, "sharpness w = 1/sigma", default=float(default_w),
                                   labels=labels),
                  explorers.Slider("q", queries, "query x", default=default_q)],
        title="The query picks the keys, w sets how sharply", columns=3)
    _fill(ex.spec, full)
    for layer in (fit, weights, loss):
        for v in layer:
            v.data = full[id(v)]
    # The chart title sits clear of the first panel's title; each panel keeps its own legend.
    ex.spec["title"] = {"text": ex.spec["title"], "offset": 16, "anchor": "start"}
    ex.spec["resolve"] = {"scale": {"color": "independent", "strokeDash": "independent"},
                          "legend": {"color": "independent"}}
    ex.states = s
    return ex
