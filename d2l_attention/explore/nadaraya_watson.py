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


def loo_gradient(w, x, y):
    """d/dw of the summed leave-one-out loss (the loss the book's training loop backpropagates)."""
    net = d2l.NWKernelRegression(w=w)
    keys, values = loo_pairs(x, y)
    ((net(x, keys, values) - y) ** 2).sum().backward()
    return net.w.grad.item()


@_single_threaded
def loss_curves(x_train, y_train, x_test, y_truth, ws):
    """Per-point losses over `ws`: leave-one-out ("loo"), with each point among its own keys
    ("self"), and the test MSE against the noise-free truth ("test"); lists of floats."""
    curves = {"loo": [], "self": [], "test": []}
    for w in ws:
        curves["loo"].append(loo_loss(w, x_train, y_train))
        fit, _ = predict(w, x_train, x_train, y_train)
        curves["self"].append(((fit - y_train) ** 2).mean().item())
        y_hat, _ = predict(w, x_test, x_train, y_train)
        curves["test"].append(((y_hat - y_truth) ** 2).mean().item())
    return curves


def local_linear(w, queries, x, y):
    """Local linear regression: at each query, a line fitted by least squares weighted with the
    same Gaussian kernel (sharpness w); returns its value at the query, (m,)."""
    out = []
    for q in queries:
        k = torch.exp(-0.5 * (w * (q - x)) ** 2)
        design = torch.stack([torch.ones_like(x), x - q], dim=1)  # (n, 2): intercept, slope
        gram = design.T @ (k[:, None] * design)
        out.append(torch.linalg.solve(gram, design.T @ (k * y))[0])
    return torch.stack(out)


@_single_threaded
def boundary_bias(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0)):
    """For each w: the error prediction - truth on `x_test` and the shift of the weighted mean
    of the keys, sum_i alpha(x, x_i) x_i - x (both (m,)), and local linear regression's error."""
    out = {}
    for w in ws:
        y_hat, weights = predict(w, x_test, x_train, y_train)
        out[w] = {"error": y_hat - y_truth, "shift": weights @ x_train - x_test,
                  "local_linear_error": local_linear(w, x_test, x_train, y_train) - y_truth}
    return out


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
    prediction on the test grid (bottom). Returns {w: test MSE}."""
    fig, axes = d2l.plt.subplots(2, len(ws), figsize=(3.2 * len(ws), 5.2),
                                 sharex=True, sharey="row")
    mse = {}
    for col, w in enumerate(ws):
        _, alpha = predict(w, torch.tensor([float(query)]), x_train, y_train)
        y_hat, _ = predict(w, x_test, x_train, y_train)
        mse[w] = ((y_hat - y_truth) ** 2).mean().item()
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
    return mse


@_single_threaded
def plot_loss_landscape(x_train, y_train, x_test, y_truth, w_short, w_long, ws=None):
    """L(w)/n (solid blue), the loss with self (dotted blue) and the test MSE (dashed red) over
    the sharpness w, with the path of w during training: `w_short` (w before training, then after
    each epoch of the book's run) and `w_long` (a longer run, every 10th epoch drawn).
    Returns the curves (see `loss_curves`) and `ws`."""
    ws = torch.linspace(0.25, 20, 80).tolist() if ws is None else list(ws)
    curves = loss_curves(x_train, y_train, x_test, y_truth, ws)
    fig, ax = d2l.plt.subplots(figsize=(8.5, 3.6))
    ax.plot(ws, curves["loo"], color=LOO, label="leave-one-out loss L(w)/n (trained on)")
    ax.plot(ws, curves["self"], ":", color=LOO, label="loss with self among the keys / n")
    ax.plot(ws, curves["test"], "--", color=TEST, label="test MSE (noise-free truth)")
    long = w_long[::10]
    ax.plot(long, [loo_loss(w, x_train, y_train) for w in long], "o", mfc="none", color="C2",
            ms=6, label=f"w every 10 epochs of {len(w_long) - 1}")
    short = [loo_loss(w, x_train, y_train) for w in w_short]
    ax.plot(w_short, short, "o", color=DATA, ms=5, label=f"w after 0..{len(w_short) - 1} epochs")
    ax.annotate("", xy=(w_short[1], short[1]), xytext=(w_short[0], short[0]),
                arrowprops=dict(arrowstyle="->", color=DATA, lw=1))
    ax.text(6, 1.05, "epoch 1: one SGD step", fontsize=8, color=DATA)
    ax.set_xlabel("sharpness w = 1/sigma (inverse kernel width)")
    ax.set_ylabel("loss per point")
    ax.set_xlim(0, 20)
    ax.set_ylim(0, 1.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    d2l.plt.show()
    return curves, ws


def plot_boundary_bias(study, x_test):
    """The error prediction - truth (left) and the shift of the keys' weighted mean (right) for
    each w of `boundary_bias`'s result."""
    fig, (ax_err, ax_shift) = d2l.plt.subplots(1, 2, figsize=(8, 2.8))
    for w, row in study.items():
        ax_err.plot(x_test, row["error"], label=f"w = {w:g}")
        ax_shift.plot(x_test, row["shift"], label=f"w = {w:g}")
    for ax, ylabel in ((ax_err, "prediction - truth"), (ax_shift, "weighted mean of keys - x")):
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel("x")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, 5)
        ax.legend(fontsize=8)
    fig.tight_layout()
    d2l.plt.show()


# ---------------------------------------------------------------------------------------------
# The explorer: one slider, the sharpness w
# ---------------------------------------------------------------------------------------------

@_single_threaded
def sharpness_states(x_train, y_train, x_test, y_truth, ws, curve_ws, query=2.5,
                     decimals=3):
    """Rows for the explorer, one state per w in `ws` (column "w"):
    "fit": the prediction on `x_test`; "weights": alpha(query, x_i) over all keys;
    "marker": (query, prediction there); "at_w": the leave-one-out loss L(w)/n and the test MSE
    at w (column "series"); "text": one line per w. "curves": L(w)/n and the test MSE over
    `curve_ws` (no "w" column: drawn in every state)."""
    out = {k: [] for k in ("fit", "weights", "marker", "at_w", "text", "curves")}
    curves = loss_curves(x_train, y_train, x_test, y_truth, curve_ws)
    for name, key in (("leave-one-out L(w)/n", "loo"), ("test MSE", "test")):
        out["curves"] += d2l.rows({"series": name}, sharpness=curve_ws, loss=curves[key],
                                  decimals=decimals)
    q = torch.tensor([float(query)])
    for w in ws:
        y_hat, _ = predict(w, x_test, x_train, y_train)
        y_q, alpha = predict(w, q, x_train, y_train)
        mse = ((y_hat - y_truth) ** 2).mean().item()
        loo = loo_loss(w, x_train, y_train)
        state = {"w": w}
        out["fit"] += d2l.rows({**state, "series": "prediction"}, x=x_test, y=y_hat,
                               decimals=decimals)
        out["weights"] += d2l.rows({**state, "series": "weight"}, x=x_train, weight=alpha[0],
                                   decimals=decimals)
        out["marker"] += d2l.rows({**state, "series": "prediction"}, x=q, y=y_q,
                                  decimals=decimals)
        out["at_w"] += d2l.rows({**state, "series": "leave-one-out L(w)/n"}, sharpness=[w],
                                loss=[loo], decimals=decimals)
        out["at_w"] += d2l.rows({**state, "series": "test MSE"}, sharpness=[w], loss=[mse],
                                decimals=decimals)
        out["text"] += d2l.rows(state, line=[0, 1], text=[
            f"w = {w:g} (sigma = {1 / w:.2f}): test MSE {mse:.3f}, L(w)/n {loo:.3f}",
            f"at x = {query:g}: prediction {y_q.item():.2f}, largest weight "
            f"{alpha.max().item():.2f}"])
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
                           legend=alt.Legend(orient="bottom", title=None, columns=2)
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


def sharpness_explorer(x_train, y_train, x_test, y_truth, ws=None, query=2.5, default=4.0):
    """The section's explorer: drag the sharpness w and watch the weights of one query, the fit,
    and where w sits on the leave-one-out and test curves. Returns a `d2l.Explorer`."""
    ws = [float(w) for w in range(1, 21)] if ws is None else [float(w) for w in ws]
    curve_ws = [round(0.25 * i, 2) for i in range(1, 81)]
    s = sharpness_states(x_train, y_train, x_test, y_truth, ws, curve_ws, query)
    solid, dashed = [1, 0], [6, 4]
    fit_styles = {"truth": (TRUTH, solid), "prediction": (PRED, dashed),
                  "training data": (DATA, solid)}
    loss_styles = {"leave-one-out L(w)/n": (LOO, solid), "test MSE": (TEST, dashed)}
    fit_axes = dict(x_title="x", y_title="y", x_domain=(0, 5), y_domain=(-1, 5))
    loss_axes = dict(x_title="sharpness w = 1/sigma", y_title="loss per point",
                     x_domain=(0, 20.5), y_domain=(0, 1.3))
    queries = [{"query": float(query)}]
    top = max(r["weight"] for r in s["weights"])
    fit = (_styled(d2l.rows({"series": "truth"}, x=x_test, y=y_truth, decimals=3), "x", "y",
                   fit_styles, title="prediction at sharpness w", **fit_axes),
           _styled(d2l.rows({"series": "training data"}, x=x_train, y=y_train, decimals=3),
                   "x", "y", fit_styles, mark="circle", size=20, **fit_axes),
           _styled(s["fit"], "x", "y", fit_styles, **fit_axes),
           explorers.rule_view(queries, "query"),
           _styled(s["marker"], "x", "y", fit_styles, mark="diamond", size=120, **fit_axes))
    weight_axes = dict(x_title="training input x_i (key)", y_title="weight", x_domain=(0, 5),
                       y_domain=(0, round(top + 0.05, 1)), legend=False)
    weights = (_styled(s["weights"], "x", "weight", {"weight": (WEIGHT, solid)}, points=True,
                       title=f"weights alpha({query:g}, x_i) of the query x = {query:g}",
                       **weight_axes),
               explorers.rule_view(queries, "query"))
    loss = (_styled(s["curves"], "sharpness", "loss", loss_styles,
                    title="where this w sits on L(w) and the test MSE", **loss_axes),
            _styled(s["at_w"], "sharpness", "loss", loss_styles, mark="diamond", size=150,
                    legend=False, **loss_axes))
    ex = explorers.explorer(
        fit, weights, loss, explorers.text_view(s["text"], "text", height=60, size=13),
        controls=[explorers.Slider("w", ws, "sharpness w = 1/sigma", default=default)],
        title="Sharpness w: weights, fit and leave-one-out loss", columns=2)
    # Each panel keeps its own colour legend (the fit's series are not the loss curves').
    ex.spec["resolve"] = {"scale": {"color": "independent", "strokeDash": "independent"},
                          "legend": {"color": "independent"}}
    ex.states = s
    return ex

