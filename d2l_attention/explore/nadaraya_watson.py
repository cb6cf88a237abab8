"""Section 10.2's explorer, figures and measurements, built on `d2l.NWKernelRegression`.

`w` is the kernel's sharpness, the inverse width: the Gaussian kernel of `NWKernelRegression`
has standard deviation sigma = 1 / w, so a larger `w` means a narrower kernel. The notebook calls
each function once; the section's tests check them against `NWKernelRegression`.

Colours are those of the section's static figures: truth blue (C0), prediction magenta dashed
(`d2l.plot`'s second format "m--"), training data orange (C1), weights green (C2), the
leave-one-out loss solid blue and the test MSE dashed red (C3).
"""

from __future__ import annotations

import contextlib
import functools

import torch

import d2l_attention as d2l
from d2l_attention import explorers

TRUTH, PRED, DATA, WEIGHT, LOO, TEST = ("#1f77b4", "#bf00bf", "#ff7f0e", "#2ca02c", "#1f77b4",
                                         "#d62728")


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


def predict(w, queries, x, y):
    """NWKernelRegression(w) at `queries` (m,) with every training pair as keys and values.

    Returns (prediction (m,), attention weights (m, n))."""
    net = d2l.NWKernelRegression(w=w)
    with torch.no_grad():
        y_hat = net(queries, x.repeat(len(queries), 1), y.repeat(len(queries), 1))
    return y_hat, net.attention_weights


def loo_loss(w, x, y, reduction="mean"):
    """Squared error of each training point predicted from the others (mean or sum)."""
    keys, values = loo_pairs(x, y)
    with torch.no_grad():
        errors = (d2l.NWKernelRegression(w=w)(x, keys, values) - y) ** 2
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
def plot_sharpness(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0, 16.0), query=2.5):
    """One column per sharpness w: the weights alpha(query, x_i) over the keys (top) and the
    prediction on the test grid (bottom). Returns {w: test MSE} and {w: alpha(query, x_i), (n,)}."""
    fig, axes = d2l.plt.subplots(2, len(ws), figsize=(3.2 * len(ws), 5.2),
                                 sharex=True, sharey="row")
    mse, weights = {}, {}
    for col, w in enumerate(ws):
        _, alpha = predict(w, torch.tensor([float(query)]), x_train, y_train)
        y_hat, _ = predict(w, x_test, x_train, y_train)
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


@_single_threaded
def plot_loss_landscape(ws, curves, x_train, y_train, w_short, w_long, every=5):
    """Draw `curves` over the sharpness grid `ws`: {"loo": the leave-one-out MSE 2L(w)/n (solid
    blue), "self": the loss with self among the keys (dotted blue), "test": the test MSE (dashed
    red)}, with the path of
    w during training: `w_short` (w before training, then after each epoch of the book's run) and
    `w_long` (a longer run, every `every`-th epoch drawn) placed on the leave-one-out curve.
    The notebook computes `curves` itself with `NWKernelRegression(w=w)` over `ws`."""
    fig, ax = d2l.plt.subplots(figsize=(8.5, 3.6))
    ax.plot(ws, curves["loo"], color=LOO,
            label="leave-one-out, 2L(w)/n (its minimiser is trained for)")
    ax.plot(ws, curves["self"], ":", color=LOO, label="with self among the keys, per point")
    ax.plot(ws, curves["test"], "--", color=TEST, label="test MSE (noise-free truth)")
    long = w_long[::every]
    ax.plot(long, [loo_loss(w, x_train, y_train) for w in long], "o", mfc="none", color="C2",
            ms=6, label=f"w every {every} epochs of {len(w_long) - 1}")
    short = [loo_loss(w, x_train, y_train) for w in w_short]
    ax.plot(w_short, short, "o", color=DATA, ms=5, label=f"w after 0..{len(w_short) - 1} epochs")
    ax.annotate("", xy=(w_short[1], short[1]), xytext=(w_short[0], short[0]),
                arrowprops=dict(arrowstyle="->", color=DATA, lw=1))
    ax.text(w_short[1] + 0.5, short[1] + 0.12, "epoch 1: one SGD step", fontsize=8, color=DATA)
    ax.set_xlabel("sharpness w = 1/sigma (inverse kernel width)")
    ax.set_ylabel("mean squared error per point")
    ax.set_xlim(0, max(ws))
    ax.set_ylim(0, 1.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    d2l.plt.show()


# ---------------------------------------------------------------------------------------------
# The explorer: the sharpness w and the query x
# ---------------------------------------------------------------------------------------------

def keys_for_mass(weights, mass=0.9):
    """Per row of `weights` (rows, keys): how many of the largest weights reach `mass`."""
    cumulative = weights.sort(dim=-1, descending=True).values.cumsum(dim=-1)
    return (cumulative < mass - 1e-6).sum(dim=-1) + 1


@_single_threaded
def plot_weight_heatmaps(ws, labels, x_train, y_train, x_test):
    """One heatmap of the attention weights alpha(x, x_i) of NWKernelRegression(w) per w in `ws`
    (rows: the sorted test inputs, columns: the sorted training inputs), all on one colour scale,
    each titled with its label and the mean number of keys holding 90% of a row's weight.
    Returns {label: that number}."""
    alphas = [predict(w, x_test, x_train, y_train)[1] for w in ws]
    vmax = max(a.max().item() for a in alphas)
    fig, axes = d2l.plt.subplots(1, len(ws), figsize=(3.2 * len(ws) + 0.8, 3.2), sharey=True)
    keys = {}
    for ax, alpha, w, label in zip(axes, alphas, ws, labels):
        keys[label] = keys_for_mass(alpha).float().mean().item()
        image = ax.imshow(alpha, cmap="Reds", vmin=0, vmax=vmax)
        ax.set_title(f"{label}, w = {w:.2f}\n90% of the weight on {keys[label]:.1f} keys",
                     fontsize=10)
        ax.set_xlabel("Sorted training inputs")
    axes[0].set_ylabel("Sorted testing inputs")
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    d2l.plt.show()
    return keys


@_single_threaded
def sharpness_states(x_train, y_train, x_test, y_truth, ws, queries, decimals=3):
    """Rows for the explorer, one state per sharpness w in `ws` (column "w") and query in
    `queries` (column "q"). "fit": the prediction on `x_test` (per w); "weights": alpha(q, x_i)
    over all keys; "marker": (q, prediction there); "text": two lines per state."""
    out = {k: [] for k in ("fit", "weights", "marker", "text")}
    for w in ws:
        y_hat, _ = predict(w, x_test, x_train, y_train)
        mse = ((y_hat - y_truth) ** 2).mean().item()
        out["fit"] += d2l.rows({"w": w, "series": "prediction"}, x=x_test, y=y_hat,
                               decimals=decimals)
        y_q, alpha = predict(w, torch.tensor([float(q) for q in queries]), x_train, y_train)
        counts = keys_for_mass(alpha)
        width = "average pooling" if w == 0 else f"sigma = {1 / w:.2g}"
        for i, q in enumerate(queries):
            state = {"w": w, "q": q}
            out["weights"] += d2l.rows(state, x=x_train, weight=alpha[i], decimals=decimals)
            out["marker"] += d2l.rows({**state, "series": "prediction"}, x=[q], y=[y_q[i]],
                                      decimals=decimals)
            out["text"] += d2l.rows(state, line=[0, 1], text=[
                f"w = {w:g} ({width}): test MSE {mse:.3f}",
                f"query x = {q:g}: prediction {y_q[i].item():.2f}, largest weight "
                f"{alpha[i].max().item():.3f}, 90% of the weight on {int(counts[i])} "
                f"key{'' if int(counts[i]) == 1 else 's'}"])
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
    """The weights over the keys in the static figure's green, on a y axis fitted to the state."""
    return base.mark_line(color=WEIGHT, point={"filled": True, "size": 15, "color": WEIGHT},
                          clip=True).encode(
        x=alt.X("x:Q", title="training input x_i (key)", scale=alt.Scale(domain=[0, 5])),
        y=alt.Y("weight:Q", title="weight", scale=alt.Scale(zero=True)))


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


def sharpness_explorer(x_train, y_train, x_test, y_truth, ws=EXPLORER_WS,
                       queries=EXPLORER_QUERIES, default_w=1.0, default_q=2.5):
    """The section's explorer: pick the sharpness w (a menu over a log-like grid, 0 = average
    pooling) and drag the query x; watch the query's weights over the keys and the prediction
    it makes. Returns a `d2l.Explorer` with the rows in `.states`."""
    ws, queries = [float(w) for w in ws], [float(q) for q in queries]
    s = sharpness_states(x_train, y_train, x_test, y_truth, ws, queries)
    solid, dashed = [1, 0], [6, 4]
    fit_styles = {"truth": (TRUTH, solid), "prediction": (PRED, dashed),
                  "training data": (DATA, solid)}
    fit_axes = dict(x_title="x", y_title="y", x_domain=(0, 5), y_domain=(-1, 5))
    rule = explorers.rule_view(d2l.rows({}, q=queries, query=queries), "query")
    fit = (_styled(d2l.rows({"series": "truth"}, x=x_test, y=y_truth, decimals=3), "x", "y",
                   fit_styles, title="prediction; diamond: the query's prediction", **fit_axes),
           _styled(d2l.rows({"series": "training data"}, x=x_train, y=y_train, decimals=3),
                   "x", "y", fit_styles, mark="circle", size=20, **fit_axes),
           _styled(s["fit"], "x", "y", fit_styles, **fit_axes),
           rule,
           _styled(s["marker"], "x", "y", fit_styles, mark="diamond", size=120, legend=False,
                   **fit_axes))
    weights = (explorers.View(s["weights"], _weight_line, 300, 200,
                              "the query's weights alpha(x, x_i) (y axis rescales)"), rule)
    # Altair validates every inline row; build the spec on one row per view and put the full
    # rows into its datasets afterwards (about 10 s saved on a laptop).
    full = {id(v): v.data for layer in (fit, weights) for v in layer}
    for layer in (fit, weights):
        for v in layer:
            v.data = [dict(row, _sample=id(v)) for row in v.data[:1]]
    ex = explorers.explorer(
        fit, weights, explorers.text_view(s["text"], "text", width=600, height=40, size=13),
        controls=[explorers.Select("w", ws, "sharpness w = 1/sigma", default=float(default_w)),
                  explorers.Slider("q", queries, "query x", default=default_q)],
        title="The query picks the keys, w sets how sharply", columns=2)
    _fill(ex.spec, full)
    for layer in (fit, weights):
        for v in layer:
            v.data = full[id(v)]
    # Each panel keeps its own colour legend.
    ex.spec["resolve"] = {"scale": {"color": "independent", "strokeDash": "independent"},
                          "legend": {"color": "independent"}}
    ex.states = s
    return ex
