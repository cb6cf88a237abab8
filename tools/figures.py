"""Draw the teaching diagrams of the attention chapter (10.1-10.7) as SVG files.

The diagrams are original drawings made with matplotlib only (no project library, no book
figures). One palette is used for the whole chapter: queries orange, keys blue, values green,
keys that are also values teal, attention weights purple, outputs red, other layers grey.

Usage (from the repository root)::

    python tools/figures.py                  # write every figure into notebooks/figures/
    python tools/figures.py --only 10.5-multihead
    python tools/figures.py --out build/figs # write into another folder
    python tools/figures.py --check          # exit 1 if a committed figure is stale or missing

The output is reproducible: the SVG ids are salted with a fixed string and no date is stored,
so running the script twice with the pinned matplotlib (requirements.txt) gives byte-identical
files. Text is stored as paths, so the figures render the same without any font installed.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from common import ROOT  # noqa: E402  (the same folder: one definition of the root)
from matplotlib import patheffects  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

DEFAULT_OUT = ROOT / "notebooks" / "figures"
PINNED_MATPLOTLIB = "3.11.2"  # requirements.txt; other versions may write other bytes

FONT = 11  # points; every label is at least 10 pt
SMALL = 10
INK = "#2B2B2B"
MUTED = "#6B6F76"


@dataclass(frozen=True)
class Role:
    """Edge (lines, arrows, text accents) and fill colour of one kind of object."""

    edge: str
    fill: str


PALETTE = {
    "query": Role("#D9822B", "#FCE6CF"),
    "key": Role("#2F6DB5", "#D8E6F6"),
    "value": Role("#2E8B57", "#D6EEDF"),
    "keyvalue": Role("#1F8A8A", "#D3EDED"),  # a state used both as key and as value
    "weight": Role("#7E57C2", "#E9E0F7"),  # scores, attention weights, attention pooling
    "output": Role("#B23A48", "#F7DCE0"),
    "op": Role("#5A606B", "#EEF0F3"),  # any other layer or token
    "norm": Role("#9A7B0A", "#FBF2CF"),  # Add & Norm
    "residual": Role("#8C919A", "#F1F2F4"),  # residual (skip) connections
}


STYLE = {
    "svg.hashsalt": "d2l-attention",  # fixed ids: same bytes on every run
    "svg.fonttype": "path",  # text as paths: renders without the fonts installed
    "font.family": "DejaVu Sans",  # bundled with matplotlib: same glyphs everywhere
    "mathtext.fontset": "dejavusans",
    "font.size": FONT,
    "axes.unicode_minus": True,
}


# ---------------------------------------------------------------------------------------------
# Shared drawing helpers. Canvas figures use one data unit = one inch, origin bottom left.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """Centre and size of a drawn box, with its anchor points for arrows."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    def at(self, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
        """A point given in half-sizes from the centre: at(0, 1) is the top, at(-1, 0) the left."""
        return (self.x + dx * self.w / 2, self.y + dy * self.h / 2)


def canvas(width: float, height: float) -> tuple[Figure, plt.Axes]:
    """A figure whose single, invisible axes maps one data unit to one inch."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def label(ax, x: float, y: float, s: str, size: float = FONT, color: str = INK,
          ha: str = "center", va: str = "center", **kw):
    """Text at (x, y) in the chapter's style."""
    return ax.text(x, y, s, fontsize=size, color=color, ha=ha, va=va, **kw)


def box(ax, x: float, y: float, text: str = "", role: str = "op", w: float = 1.0,
        h: float = 0.45, size: float = FONT, dashed: bool = False, **text_kw) -> Box:
    """A rounded box centred on (x, y) with centred text; returns its geometry."""
    colors = PALETTE[role]
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                           boxstyle=f"round,pad=0,rounding_size={min(0.09, h / 3):.3f}",
                           facecolor=colors.fill, edgecolor=colors.edge, linewidth=1.3,
                           linestyle="--" if dashed else "-", zorder=3)
    ax.add_patch(patch)
    if text:
        label(ax, x, y, text, size=size, zorder=4, **text_kw)
    return Box(x, y, w, h)


def node(ax, x: float, y: float, symbol: str, role: str = "op", r: float = 0.17,
         size: float = 13) -> Box:
    """A small circle holding an operator symbol such as a sum or a concatenation."""
    colors = PALETTE[role]
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=colors.edge, linewidth=1.3,
                        zorder=3))
    label(ax, x, y, symbol, size=size, color=colors.edge, zorder=4)
    return Box(x, y, 2 * r, 2 * r)


def group(ax, x0: float, y0: float, x1: float, y1: float, title: str = "",
          color: str = MUTED, dashed: bool = True, title_at: str = "top-left",
          size: float = SMALL) -> None:
    """A light rounded frame around a part of a diagram, with an optional title inside it."""
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0,
                                boxstyle="round,pad=0,rounding_size=0.15", facecolor="#FAFAFB",
                                edgecolor=color, linewidth=1.0,
                                linestyle=(0, (4, 3)) if dashed else "-", zorder=0))
    if title:
        corner = {"top-left": (x0 + 0.12, y1 - 0.1, "left", "top"),
                  "bottom-left": (x0 + 0.12, y0 + 0.1, "left", "bottom"),
                  "top-right": (x1 - 0.12, y1 - 0.1, "right", "top")}[title_at]
        label(ax, corner[0], corner[1], title, size=size, color=color, ha=corner[2],
              va=corner[3], style="italic", zorder=1)


def arrow(ax, *points: tuple[float, float], color: str = INK, lw: float = 1.3,
          head: bool = True, gap: float = 0.03, halo: bool = False, alpha: float = 1.0,
          zorder: float = 2) -> None:
    """A straight or elbowed arrow through `points`, stopping `gap` inches before the last one.

    `halo` draws a white outline under the line so that it visibly bridges lines it crosses.
    """
    pts = np.array(points, dtype=float)
    if gap:
        step = pts[-1] - pts[-2]
        pts[-1] -= gap * step / np.hypot(*step)
    style = f"-|>,head_length={0.45 + lw * 0.12:.2f},head_width={0.22 + lw * 0.06:.2f}"
    patch = FancyArrowPatch(path=MplPath(pts), arrowstyle=style if head else "-",
                            mutation_scale=10, color=color, linewidth=lw, alpha=alpha,
                            joinstyle="miter", capstyle="butt", zorder=zorder)
    if halo:
        patch.set_path_effects([patheffects.Stroke(linewidth=lw + 5, foreground="white"),
                                patheffects.Normal()])
    ax.add_patch(patch)


def line(ax, *points: tuple[float, float], **kw) -> None:
    """A polyline without arrow head (same options as `arrow`)."""
    arrow(ax, *points, head=False, gap=0.0, **kw)


def dot(ax, x: float, y: float, color: str = INK, r: float = 0.04) -> None:
    """A junction dot where a line branches."""
    ax.add_patch(Circle((x, y), r, color=color, zorder=3))


def legend(ax, x: float, y: float, items: Sequence[tuple[str, str]], dy: float = 0.3,
           swatch: str = "box") -> None:
    """A vertical legend: each item is (role, text) drawn as a colour swatch and a label."""
    for i, (role, text) in enumerate(items):
        yy = y - i * dy
        if swatch == "box":
            box(ax, x + 0.12, yy, role=role, w=0.24, h=0.18)
        else:
            line(ax, (x, yy), (x + 0.3, yy), color=PALETTE[role].edge, lw=2.2)
        label(ax, x + 0.4, yy, text, size=SMALL, ha="left")


def weight_bar(ax, x: float, y: float, weight: float, length: float, h: float = 0.2) -> None:
    """A horizontal purple bar of `weight * length` inches with the weight printed after it."""
    colors = PALETTE["weight"]
    ax.add_patch(FancyBboxPatch((x, y - h / 2), max(weight * length, 0.02), h,
                                boxstyle="round,pad=0,rounding_size=0.04",
                                facecolor=colors.edge, edgecolor="none", alpha=0.85, zorder=3))
    label(ax, x + weight * length + 0.08, y, f"{weight:.2f}", size=SMALL, color=colors.edge,
          ha="left")


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()


# ---------------------------------------------------------------------------------------------
# 10.1 Queries, keys and values
# ---------------------------------------------------------------------------------------------

# The notebook's own example: one query, three keys, values 10/20/30.
QKV_QUERY = np.array([1.0, 0.0])
QKV_KEYS = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
QKV_VALUES = np.array([10.0, 20.0, 30.0])


def pair_band(ax, x0: float, x1: float, y: float, h: float = 0.62) -> None:
    """A faint band behind a key and its value, marking them as one pair."""
    ax.add_patch(FancyBboxPatch((x0, y - h / 2), x1 - x0, h,
                                boxstyle="round,pad=0,rounding_size=0.12", facecolor="#ECEEF2",
                                edgecolor="none", zorder=0.5))


def vec(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{x:g}" for x in v) + ")"


def fig_qkv_pooling() -> Figure:
    # The numbers are computed here from the notebook's example, so figure and code agree.
    scores = QKV_KEYS @ QKV_QUERY
    weights = softmax(scores)
    pooled = float(weights @ QKV_VALUES)
    fig, ax = canvas(9, 4.3)
    rows = [2.95, 2.15, 1.35]
    mid = rows[1]
    key_x, score_x, bar_x, val_x, sum_x, out_x = 2.45, 3.8, 4.4, 6.6, 7.55, 8.4
    group(ax, 1.66, 0.72, 8.95, 3.5, "attention pooling", color=PALETTE["weight"].edge,
          title_at="bottom-left")
    headers = [(0.8, "Query", "volitional cue"), (key_x, "Keys", "nonvolitional cues"),
               (score_x, "Scores", r"$q \cdot k_i$"),
               (bar_x + 0.7, "Weights", "softmax of scores"),
               (val_x, "Values", "sensory inputs"), (out_x, "Output", "weighted sum")]
    for x, title, sub in headers:
        label(ax, x, 4.0, title, size=FONT + 1, weight="bold")
        label(ax, x, 3.72, sub, size=SMALL, color=MUTED)
    q = box(ax, 0.8, mid, rf"$q = {vec(QKV_QUERY)}$", role="query", w=1.2, h=0.55)
    total = node(ax, sum_x, mid, r"$\Sigma$", role="weight", r=0.22, size=14)
    for i, (y, k, s, a, v) in enumerate(zip(rows, QKV_KEYS, scores, weights, QKV_VALUES,
                                            strict=True), 1):
        pair_band(ax, key_x - 0.62, val_x + 0.55, y)
        kb = box(ax, key_x, y, rf"$k_{i} = {vec(k)}$", role="key", w=1.15)
        label(ax, score_x, y, f"{s:g}", color=PALETTE["weight"].edge, zorder=4)
        vb = box(ax, val_x, y, rf"$v_{i} = {v:g}$", role="value", w=0.95)
        arrow(ax, q.right, kb.left, color=PALETTE["query"].edge, lw=1.4)
        weight_bar(ax, bar_x, y, a, length=1.2)
        line(ax, vb.right, total.at(-0.7, 0.7 * np.sign(y - mid)),
             color=PALETTE["weight"].edge, lw=0.6 + 9 * a, alpha=0.75, zorder=1)
    out = box(ax, out_x, mid, f"{pooled:.2f}", role="output", w=0.75, h=0.55)
    arrow(ax, total.right, out.left, color=PALETTE["output"].edge, lw=1.6)
    terms = " + ".join(f"{a:.4f}$\\times${v:g}" for a, v in zip(weights, QKV_VALUES, strict=True))
    label(ax, 5.0, 0.42, f"output = {terms} $\\approx$ {pooled:.2f}   (average pooling: "
          f"{QKV_VALUES.mean():g})", size=SMALL, color=MUTED)
    label(ax, 5.0, 0.14, "line width $\\propto$ weight; the weights sum to 1", size=SMALL,
          color=MUTED)
    return fig


# ---------------------------------------------------------------------------------------------
# 10.2 Nadaraya-Watson kernel regression as attention
# ---------------------------------------------------------------------------------------------

NW_X = np.array([0.3, 0.7, 1.1, 1.45, 1.8, 2.05, 2.5, 2.9, 3.2, 3.65, 4.05, 4.5])
NW_NOISE = np.array([0.3, -0.4, 0.2, -0.25, 0.45, -0.1, 0.25, -0.35, 0.1, 0.4, -0.3, 0.15])
NW_QUERY = 2.5  # the query whose weights section 10.2 plots
NW_SIGMA = 1.0  # the notebook's nonparametric kernel: w = 1 / sigma = 1


def nadaraya_watson() -> tuple[np.ndarray, np.ndarray, float]:
    """Targets y_i, Gaussian-kernel weights alpha(x, x_i) and the prediction for NW_QUERY."""
    y = 2 * np.sin(NW_X) + NW_X**0.8 + NW_NOISE
    weights = softmax(-((NW_QUERY - NW_X) ** 2) / (2 * NW_SIGMA**2))
    return y, weights, float(weights @ y)


def weights_within(radius: float) -> float:
    """Share of the attention weight on the keys within `radius` of NW_QUERY."""
    _, weights, _ = nadaraya_watson()
    return float(weights[np.abs(NW_X - NW_QUERY) <= radius].sum())


def style_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=SMALL, colors=INK)


def fig_kernel_weights() -> Figure:
    y, weights, pred = nadaraya_watson()
    fig = plt.figure(figsize=(9, 5.2))
    top = fig.add_axes((0.08, 0.42, 0.58, 0.53))
    bottom = fig.add_axes((0.08, 0.1, 0.58, 0.24), sharex=top)
    key, wcol = PALETTE["key"].edge, PALETTE["weight"].edge
    # The notebook's plots: training data orange (C1), the prediction magenta ("m--").
    value, query = "#ff7f0e", "#bf00bf"
    for xi, yi, wi in zip(NW_X, y, weights, strict=True):
        top.plot([xi, NW_QUERY], [yi, pred], color=wcol, lw=0.4 + 14 * wi, alpha=0.6, zorder=1)
    grid = np.linspace(0, 5, 200)
    # The true function in the notebook's "Truth" blue (C0, solid), as in every plot of 10.2.
    top.plot(grid, 2 * np.sin(grid) + grid**0.8, color="#1f77b4", lw=1.2, label="true function")
    top.scatter(NW_X, y, s=40, color=value, zorder=3)  # the text column names them (values)
    top.scatter([NW_QUERY], [pred], s=170, marker="*", color=query, zorder=4,
                label=rf"prediction $\hat y = {pred:.2f}$")
    for ax in (top, bottom):
        ax.axvline(NW_QUERY, color=query, lw=1.5, ls="--", zorder=0)
        style_axes(ax)
    top.legend(loc="upper left", bbox_to_anchor=(1.02, 1.02), fontsize=SMALL, frameon=False)
    top.set_ylabel("output $y$", fontsize=FONT)
    top.set_ylim(-0.5, 5.0)
    top.tick_params(labelbottom=False)
    top.text(NW_QUERY + 0.08, -0.2, f"query $x = {NW_QUERY}$", color=query, fontsize=SMALL)
    bottom.bar(NW_X, weights, width=0.16, color=wcol, alpha=0.85)
    kernel = np.exp(-((NW_QUERY - grid) ** 2) / (2 * NW_SIGMA**2))
    bottom.fill_between(grid, 0, kernel * weights.max(), color=wcol, alpha=0.12, lw=0)
    bottom.plot(NW_X, np.zeros_like(NW_X), "|", color=key, ms=12, mew=2.5, clip_on=False)
    bottom.set_ylabel(r"$\alpha(x, x_i)$", fontsize=FONT)
    bottom.set_xlabel("input $x$", fontsize=FONT)
    bottom.set_xlim(0, 5)
    bottom.set_ylim(0, weights.max() * 1.25)
    explain_kernel(fig)
    return fig


def explain_kernel(fig: Figure) -> None:
    """The text column on the right of the Nadaraya-Watson figure."""
    ax = fig.add_axes((0.68, 0.04, 0.32, 0.7))
    ax.set_xlim(0, 2.88)
    ax.set_ylim(0, 3.64)
    ax.axis("off")
    # Swatches in the colours the figure uses (the notebook's plots: data orange, prediction
    # magenta), not the chapter's role palette.
    rows = [("#bf00bf", "|", "query: test input $x$"),
            (PALETTE["key"].edge, "|", r"keys: training inputs $x_i$"),
            ("#ff7f0e", "o", r"values: training targets $y_i$"),
            (PALETTE["weight"].edge, "s", "attention weights")]
    for i, (colour, marker, text) in enumerate(rows):
        yy = 3.45 - i * 0.34
        ax.plot([0.27], [yy], marker, color=colour, ms=9, mew=2.5)
        label(ax, 0.55, yy, text, size=SMALL, ha="left")
    label(ax, 0.15, 1.95, r"$\hat y = \sum_i \alpha(x, x_i)\, y_i$", ha="left")
    label(ax, 0.15, 1.45, r"$\alpha(x, x_i) \propto \exp(-(x - x_i)^2 / 2\sigma^2)$",
          size=SMALL, ha="left")
    label(ax, 0.15, 1.1, r"normalized so that $\sum_i \alpha(x, x_i) = 1$", size=SMALL,
          ha="left")
    near = weights_within(1.0)
    label(ax, 0.15, 0.72, rf"kernel width $\sigma = {NW_SIGMA:g}$, as in the code:",
          size=SMALL, ha="left", color=MUTED)
    label(ax, 0.15, 0.47, rf"keys within $\pm 1$ get {near:.0%} of the weight",
          size=SMALL, ha="left", color=MUTED)
    label(ax, 0.15, 0.17, r"line width $\propto \alpha(x, x_i)$", size=SMALL, ha="left",
          color=MUTED)


# ---------------------------------------------------------------------------------------------
# 10.3 Attention scoring functions
# ---------------------------------------------------------------------------------------------


def fig_scoring() -> Figure:
    """The worked example of 10.3 in batched matrix form: Q K^T / sqrt(d), the boolean mask,
    row-wise softmax, times V. The numbers are computed here from the example's Q, K, V and
    valid_lens [[2, 3]], rounded as the notebook prints them."""
    Q = np.array([[2.0, 0.0], [0.0, 2.0]])
    K = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    V = np.array([[10.0], [20.0], [30.0]])
    keep = np.arange(3)[None, :] < np.array([2, 3])[:, None]  # attn_mask: True = may attend
    scores = Q @ K.T / np.sqrt(2)
    masked = np.where(keep, scores, -np.inf)
    e = np.exp(masked - masked.max(axis=1, keepdims=True))
    weights = e / e.sum(axis=1, keepdims=True)
    out = weights @ V

    def fmt(x: float) -> str:
        return r"$-\infty$" if np.isinf(x) else f"{x:.2f}"

    fig, ax = canvas(9.6, 4.3)
    cw, ch = 0.56, 0.4
    qs, ks = ["$q_0$", "$q_1$"], ["$k_0$", "$k_1$", "$k_2$"]
    top, bottom = 3.05, 1.0
    a = matrix(ax, 0.55, top, Q, "query", r"$\mathbf{Q}$  ($n \times d$)", cw, ch, rows=qs,
               fmt=lambda x: f"{x:g}")
    label(ax, a[1] + 0.2, top, r"$\cdot$", size=FONT + 8)
    b = matrix(ax, a[1] + 0.4, top, K.T, "key", r"$\mathbf{K}^\top$  ($d \times m$)", cw, ch,
               cols=ks, fmt=lambda x: f"{x:g}")
    arrow(ax, (b[1] + 0.1, top), (b[1] + 0.85, top))
    label(ax, b[1] + 0.47, top + 0.22, r"$\div\sqrt{d}$", size=SMALL)
    c = matrix(ax, b[1] + 0.95, top, scores, "weight",
               r"scores $\mathbf{Q}\mathbf{K}^\top/\sqrt{d}$", cw, ch, cols=ks, fmt=fmt)
    label(ax, c[1] + 0.35, top, "with", size=SMALL, color=MUTED)
    matrix(ax, c[1] + 0.7, top, keep, "op", "attn_mask (True: may attend)", 0.62, ch,
           cols=ks, fmt=lambda x: "True" if x else "False", grey=~keep)
    label(ax, c[1] + 0.7 + 0.93, top - 0.62, r"from valid_lens $= [[2, 3]]$", size=SMALL,
          color=MUTED)
    d = matrix(ax, 0.55, bottom, masked, "weight", r"scores, False $\to -\infty$", cw, ch,
               rows=qs, cols=ks, fmt=fmt, grey=~keep)
    arrow(ax, (d[1] + 0.1, bottom), (d[1] + 0.95, bottom))
    label(ax, d[1] + 0.52, bottom + 0.22, "softmax", size=SMALL)
    label(ax, d[1] + 0.52, bottom - 0.22, "each row", size=SMALL, color=MUTED)
    e_ = matrix(ax, d[1] + 1.05, bottom, weights, "weight", r"weights $\alpha$ (rows sum to 1)",
                cw, ch, cols=ks, fmt=fmt, grey=~keep)
    label(ax, e_[1] + 0.2, bottom, r"$\cdot$", size=FONT + 8)
    f = matrix(ax, e_[1] + 0.4, bottom, V, "value", r"$\mathbf{V}$ ($m \times 1$)", cw, ch,
               fmt=lambda x: f"{x:g}")
    label(ax, f[1] + 0.25, bottom, "=", size=FONT + 4)
    matrix(ax, f[1] + 0.5, bottom, out, "output", "output", 0.7, ch, rows=None,
           fmt=lambda x: f"{x:.2f}")
    return fig


def matrix(ax, x0: float, yc: float, values: np.ndarray, role: str, title: str, cw: float,
           ch: float, rows: Sequence[str] | None = None, cols: Sequence[str] | None = None,
           fmt: Callable[[float], str] = str,
           grey: np.ndarray | None = None) -> tuple[float, float]:
    """Draw `values` (r, c) as a grid of cells whose left edge is at x0, centred on yc, with
    row labels to the left, column labels above and `title` above them; cells where `grey`
    is True are drawn grey (masked). Returns (left, right) x of the grid."""
    colors = PALETTE[role]
    r, c = values.shape
    y_top = yc + r * ch / 2
    for i in range(r):
        for j in range(c):
            masked = grey is not None and bool(grey[i, j])
            x, y = x0 + j * cw, y_top - (i + 1) * ch
            ax.add_patch(FancyBboxPatch((x, y), cw, ch, boxstyle="square,pad=0",
                                        facecolor="#DDDDDD" if masked else colors.fill,
                                        edgecolor=colors.edge, linewidth=1.0, zorder=3))
            label(ax, x + cw / 2, y + ch / 2, fmt(values[i, j]), size=SMALL,
                  color=MUTED if masked else INK, zorder=4)
    for i, name in enumerate(rows or []):
        label(ax, x0 - 0.17, y_top - (i + 0.5) * ch, name, size=SMALL, color=MUTED)
    for j, name in enumerate(cols or []):
        label(ax, x0 + (j + 0.5) * cw, y_top + 0.17, name, size=SMALL, color=MUTED)
    label(ax, x0 + c * cw / 2, y_top + 0.5, title, size=SMALL,
          color=colors.edge)
    return x0, x0 + c * cw


# ---------------------------------------------------------------------------------------------
# 10.4 Bahdanau attention: one decoding step
# ---------------------------------------------------------------------------------------------

BAHDANAU_WEIGHTS = (0.34, 0.07, 0.47, 0.12)  # 10.4's hand-set walk-through


def fig_bahdanau_step() -> Figure:
    fig, ax = canvas(9, 5.3)
    group(ax, 0.15, 0.12, 4.65, 2.05, "encoder: its states $h_t$ are the keys and the values",
          color=PALETTE["keyvalue"].edge, title_at="bottom-left")
    group(ax, 4.95, 0.12, 8.9, 5.2, "decoder, step $t'$", color=PALETTE["op"].edge)
    states = encoder_chain(ax)
    attn = box(ax, 2.35, 2.95, "additive attention pooling", role="weight", w=3.7, h=0.5)
    for h, weight in zip(states, BAHDANAU_WEIGHTS, strict=True):
        line(ax, h.top, (h.x, attn.at(0, -1)[1]), color=PALETTE["weight"].edge,
             lw=0.6 + 9 * weight, alpha=0.75, zorder=1)
        label(ax, h.x + 0.12, 2.42, f"{weight:.2f}", size=SMALL, ha="left",
              color=PALETTE["weight"].edge)
    label(ax, 2.35, 3.52, r"weights $\alpha_{t't}$: line width", size=SMALL,
          color=MUTED)
    decoder_step(ax, attn)
    return fig


def encoder_chain(ax) -> list[Box]:
    """Source tokens and encoder states h_1..h_4 (T = 4, the walk-through's; keys = values)."""
    xs = [0.75, 1.7, 2.65, 3.6]
    states: list[Box] = []
    for x, name in zip(xs, ["1", "2", "3", "4"], strict=True):
        tok = box(ax, x, 0.7, rf"$x_{name}$", w=0.55, h=0.38)
        h = box(ax, x, 1.38, rf"$h_{name}$", role="keyvalue", w=0.55, h=0.42)
        arrow(ax, tok.top, h.bottom)
        states.append(h)
    for a, b in zip(states, states[1:]):
        arrow(ax, a.right, b.left, color=PALETTE["keyvalue"].edge)
    return states


def decoder_step(ax, attn: Box) -> None:
    """Query s_{t'-1}, context c_{t'}, embedding, decoder RNN and output of one step."""
    qcol = PALETTE["query"].edge
    prev = box(ax, 5.75, 3.8, r"$s_{t'-1}$", role="query", w=0.8, h=0.45)
    label(ax, 5.75, 4.27, "query", size=SMALL, color=qcol)
    ctx = box(ax, 5.75, 2.95, r"$c_{t'}$", role="output", w=0.8, h=0.45)
    tok = box(ax, 7.4, 0.62, r"$y_{t'-1}$", w=0.75, h=0.38)
    emb = box(ax, 7.4, 1.35, "embedding", w=1.2, h=0.4)
    cat = box(ax, 7.4, 2.2, "concat", w=1.0, h=0.4)
    rnn = box(ax, 7.4, 3.8, "decoder RNN", w=1.2, h=0.5)
    dense = box(ax, 7.4, 4.55, "dense", w=1.0, h=0.38)
    arrow(ax, prev.left, (attn.at(0.55, 1)[0], prev.y), attn.at(0.55, 1), color=qcol, lw=1.5)
    arrow(ax, attn.right, ctx.left, color=PALETTE["weight"].edge, lw=1.5)
    arrow(ax, ctx.right, (6.6, ctx.y), (6.6, cat.y), cat.left, color=PALETTE["output"].edge)
    arrow(ax, tok.top, emb.bottom)
    arrow(ax, emb.top, cat.bottom)
    arrow(ax, cat.top, rnn.bottom)
    arrow(ax, prev.right, rnn.left, color=qcol)
    arrow(ax, rnn.top, dense.bottom)
    arrow(ax, dense.top, (dense.x, 5.0))
    label(ax, dense.x + 0.15, 4.98, r"$y_{t'}$", ha="left")
    nxt = box(ax, 8.5, 2.85, r"$s_{t'}$", role="query", w=0.6, h=0.42, dashed=True)
    arrow(ax, rnn.right, (nxt.x, rnn.y), nxt.top, color=qcol)
    label(ax, nxt.x, 2.3, "next\nquery", size=SMALL, color=MUTED)


# ---------------------------------------------------------------------------------------------
# 10.5 Multi-head attention
# ---------------------------------------------------------------------------------------------

HEAD_Y = {"1": 4.1, "2": 2.75, "h": 1.0}
ROLES = ("query", "key", "value")


def fig_multihead() -> Figure:
    fig, ax = canvas(9, 5.4)
    headers = [(0.55, "inputs"), (2.3, "split:\nper-head projections"),
               (4.05, "attend\n(in parallel)"), (6.35, "concat"), (7.45, "project")]
    for x, text in headers:
        label(ax, x, 5.05, text, size=SMALL, color=MUTED, style="italic", va="center")
    places = zip(ROLES, (3.55, 2.6, 1.65), ("$Q$", "$K$", "$V$"), strict=True)
    inputs = {role: box(ax, 0.55, y, text, role=role, w=0.6, h=0.45, size=FONT + 1)
              for role, y, text in places}
    concat = box(ax, 6.35, 2.5, "", w=0.5, h=4.0)
    label(ax, concat.x, concat.y, "concat", rotation=90)
    for head, yc in HEAD_Y.items():
        out = draw_head(ax, head, yc, inputs)
        arrow(ax, out.right, (concat.left[0], out.y), color=PALETTE["output"].edge)
    label(ax, 2.3, 1.88, r"$\vdots$", size=FONT + 3)
    label(ax, 4.05, 1.88, r"$\vdots$", size=FONT + 3)
    wo = box(ax, 7.45, 2.5, r"$W_o$", w=0.7, h=0.6, size=FONT + 1)
    out = box(ax, 8.45, 2.5, "output", role="output", w=0.8, h=0.6)
    arrow(ax, concat.right, wo.left)
    arrow(ax, wo.right, out.left, color=PALETTE["output"].edge)
    label(ax, 7.45, 1.95, "linear", size=SMALL, color=MUTED)
    label(ax, 3.8, 0.15, "$h$ heads, each with its own projections", size=SMALL, color=MUTED)
    return fig


def draw_head(ax, head: str, yc: float, inputs: dict[str, Box]) -> Box:
    """Projections, attention and output of one head; returns the output box."""
    group(ax, 1.65, yc - 0.6, 5.95, yc + 0.6, f"head {head}", title_at="top-right")
    attn = box(ax, 4.05, yc, "scaled\ndot-product\nattention", role="weight", w=1.3, h=0.98,
               size=SMALL)
    for role, dy, sub in zip(ROLES, (0.35, 0, -0.35), "qkv", strict=True):
        proj = box(ax, 2.3, yc + dy, rf"$W_{sub}^{{({head})}}$", role=role, w=0.75, h=0.3,
                   size=SMALL)
        src = inputs[role]
        arrow(ax, src.right, proj.left, color=PALETTE[role].edge, lw=1.1, alpha=0.85)
        arrow(ax, proj.right, (attn.left[0], proj.y), color=PALETTE[role].edge)
    out = box(ax, 5.45, yc, rf"$o_{head}$", role="output", w=0.5, h=0.42)
    arrow(ax, attn.right, out.left, color=PALETTE["weight"].edge)
    return out


# ---------------------------------------------------------------------------------------------
# 10.6 CNN, RNN and self-attention
# ---------------------------------------------------------------------------------------------

N_TOKENS = 5


def token_xs(x0: float) -> list[float]:
    return [x0 + 0.29 + 0.58 * i for i in range(N_TOKENS)]


def fig_cnn_rnn_self_attention() -> Figure:
    fig, ax = canvas(9, 4.7)
    panels = [
        ("CNN (kernel size $k = 3$)", cnn_panel, ("O(n/k)", "O(1)", "O(knd^2)")),
        ("RNN", rnn_panel, ("O(n)", "O(n)", "O(nd^2)")),
        ("self-attention", self_attention_panel, ("O(1)", "O(1)", "O(n^2 d)")),
    ]
    for i, (title, draw, costs) in enumerate(panels):
        x0 = 0.05 + 2.98 * i
        group(ax, x0, 0.12, x0 + 2.9, 4.55, dashed=False)
        label(ax, x0 + 1.45, 4.25, title, size=FONT + 1, weight="bold")
        xs = token_xs(x0)
        draw(ax, xs)
        rows = zip(("max path length", "sequential ops", "computation"), costs, strict=True)
        for j, (name, cost) in enumerate(rows):
            y = 0.95 - 0.3 * j
            label(ax, x0 + 0.2, y, name, size=SMALL, ha="left", color=MUTED)
            label(ax, x0 + 2.7, y, f"${cost}$", size=SMALL, ha="right")
    return fig


def layer_row(ax, xs: Sequence[float], y: float, symbol: str, role: str) -> list[Box]:
    return [box(ax, x, y, rf"${symbol}_{i + 1}$", role=role, w=0.38, h=0.36, size=SMALL)
            for i, x in enumerate(xs)]


def edges(ax, pairs: Iterable[tuple[Box, Box]], highlight: set[int]) -> None:
    """Arrows from the top of each lower box to the bottom of each upper box.

    The ends are spread along the box edges by direction, so that arrow heads do not pile up.
    """
    for i, (lo, hi) in enumerate(pairs):
        strong = i in highlight
        spread = float(np.clip(0.12 * (hi.x - lo.x), -0.15, 0.15))
        start, end = (lo.top[0] + spread, lo.top[1]), (hi.bottom[0] - spread, hi.bottom[1])
        arrow(ax, start, end, color=PALETTE["weight"].edge if strong else "#A6AAB2",
              lw=1.6 if strong else 0.8, zorder=2 if strong else 1)


def cnn_panel(ax, xs: Sequence[float]) -> None:
    rows = [layer_row(ax, xs, 1.5, "x", "op"), layer_row(ax, xs, 2.5, "h", "op"),
            layer_row(ax, xs, 3.5, "y", "output")]
    for layer in (1, 2):
        pairs = [(rows[layer - 1][src], rows[layer][dst]) for dst in range(N_TOKENS)
                 for src in range(max(dst - 1, 0), min(dst + 2, N_TOKENS))]
        strong = {i for i, (_, hi) in enumerate(pairs)
                  if in_receptive_field(layer, rows[layer].index(hi))}
        edges(ax, pairs, strong)
    label(ax, xs[2], 3.9, "only $y_3$ sees all 5 tokens after 2 layers", size=SMALL,
          color=PALETTE["weight"].edge)


def in_receptive_field(layer: int, dst: int) -> bool:
    """Whether unit `dst` (0-based) of `layer` feeds the middle output y_3 (kernel size 3)."""
    return dst == 2 if layer == 2 else dst in (1, 2, 3)


def rnn_panel(ax, xs: Sequence[float]) -> None:
    inputs = layer_row(ax, xs, 1.5, "x", "op")
    states = layer_row(ax, xs, 3.0, "h", "output")
    edges(ax, zip(inputs, states, strict=True), highlight={0})
    for a, b in zip(states, states[1:], strict=False):
        arrow(ax, a.right, b.left, color=PALETTE["weight"].edge, lw=1.6)
    label(ax, (xs[0] + xs[-1]) / 2, 3.55, "$x_1$ reaches $h_5$ in $n$ steps", size=SMALL,
          color=PALETTE["weight"].edge)


def self_attention_panel(ax, xs: Sequence[float]) -> None:
    inputs = layer_row(ax, xs, 1.5, "x", "op")
    outputs = layer_row(ax, xs, 3.5, "y", "output")
    pairs = [(a, b) for b in outputs for a in inputs]
    strong = {i for i, (_, b) in enumerate(pairs) if b is outputs[2]}
    edges(ax, pairs, strong)
    label(ax, xs[2], 3.9, "every token in one step", size=SMALL, color=PALETTE["weight"].edge)


# ---------------------------------------------------------------------------------------------
# 10.7 The Transformer
# ---------------------------------------------------------------------------------------------

STACK_W = 2.3


def fig_transformer() -> Figure:
    fig, ax = canvas(9, 7.1)
    xe, xd = 2.45, 6.45
    group(ax, xe - 1.55, 1.5, xe + 1.45, 4.7, "encoder block", title_at="top-right")
    group(ax, xd - 1.45, 1.5, xd + 1.55, 6.15, "decoder block", title_at="top-left")
    label(ax, xe - 1.8, 3.1, r"$\times N$", size=FONT + 2)
    label(ax, xd + 1.8, 3.8, r"$\times N$", size=FONT + 2)
    enc_in = embed_column(ax, xe, "source tokens", side=-1)
    dec_in = embed_column(ax, xd, "target tokens (shifted right)", side=1)
    memory = encoder_stack(ax, xe, enc_in)
    decoder_stack(ax, xd, dec_in, memory)
    legend(ax, 0.3, 6.75, [("query", "queries"), ("key", "keys"), ("value", "values"),
                           ("residual", "residual connection")], dy=0.28, swatch="line")
    return fig


def embed_column(ax, x: float, tokens: str, side: int) -> tuple[float, float]:
    """Tokens, embedding and positional-encoding sum; returns the top of the sum node."""
    label(ax, x, 0.2, tokens, size=SMALL, color=MUTED)
    emb = box(ax, x, 0.7, r"embedding $\times\sqrt{d}$", w=STACK_W * 0.75, h=0.38)
    plus = node(ax, x, 1.22, "+", r=0.15)
    arrow(ax, (x, 0.36), emb.bottom)
    arrow(ax, emb.top, plus.bottom)
    pe = node(ax, x + side * 1.05, plus.y, r"$\sim$", r=0.15, size=12)
    arrow(ax, pe.at(-side, 0), plus.at(side, 0))
    label(ax, pe.x + side * 0.25, pe.y, "positional\nencoding", size=SMALL,
          ha="left" if side > 0 else "right")
    return plus.top


def sublayer(ax, x: float, y: float, text: str, role: str = "op") -> Box:
    return box(ax, x, y, text, role=role, w=STACK_W, h=0.48, size=SMALL, linespacing=1.1)


def add_norm(ax, x: float, y: float, side: int, residual_from: tuple[float, float]) -> Box:
    """An Add & Norm box fed by a residual line that branches at `residual_from`."""
    an = box(ax, x, y, "Add & Norm", role="norm", w=STACK_W, h=0.27, size=SMALL)
    rx = x + side * (STACK_W / 2 + 0.22)
    color = PALETTE["residual"].edge
    dot(ax, *residual_from, color=color)
    arrow(ax, residual_from, (rx, residual_from[1]), (rx, y), an.at(side, 0), color=color, lw=1.6)
    return an


def self_attention_inputs(ax, trunk: tuple[float, float], target: Box) -> float:
    """Split the incoming line into q, k and v arrows; returns the residual branch height."""
    x, y0 = trunk
    bar_y = target.bottom[1] - 0.2
    line(ax, (x, y0), (x, bar_y), color=INK, lw=1.3)
    line(ax, (x - 0.55, bar_y), (x + 0.55, bar_y), color=INK, lw=1.3)
    for role, dx in zip(ROLES, (-0.55, 0.0, 0.55), strict=True):
        arrow(ax, (x + dx, bar_y), (x + dx, target.bottom[1]), color=PALETTE[role].edge,
              lw=1.5, gap=0.0)
    return (y0 + bar_y) / 2


def stack_link(ax, lower: Box, upper: Box) -> float:
    """Arrow from one sublayer to the next; returns the height of a residual branch on it."""
    arrow(ax, lower.top, upper.bottom)
    return (lower.top[1] + upper.bottom[1]) / 2


def encoder_stack(ax, x: float, start: tuple[float, float]) -> tuple[float, float]:
    """Encoder block; returns the point where its output leaves the block."""
    att = sublayer(ax, x, 2.3, "multi-head\nself-attention", role="weight")
    an1 = add_norm(ax, x, 2.9, -1, (x, self_attention_inputs(ax, start, att)))
    ffn = sublayer(ax, x, 3.62, "position-wise FFN")
    an2 = add_norm(ax, x, 4.22, -1, (x, stack_link(ax, an1, ffn)))
    stack_link(ax, att, an1)
    stack_link(ax, ffn, an2)
    return an2.top


def decoder_stack(ax, x: float, start: tuple[float, float], memory: tuple[float, float]) -> None:
    att = sublayer(ax, x, 2.3, "masked multi-head\nself-attention", role="weight")
    an1 = add_norm(ax, x, 2.9, 1, (x, self_attention_inputs(ax, start, att)))
    cross = sublayer(ax, x, 3.75, "encoder-decoder\nattention", role="weight")
    an2 = add_norm(ax, x, 4.35, 1, cross_inputs(ax, an1, cross, memory))
    ffn = sublayer(ax, x, 5.07, "position-wise FFN")
    an3 = add_norm(ax, x, 5.67, 1, (x, stack_link(ax, an2, ffn)))
    for lower, upper in ((att, an1), (cross, an2), (ffn, an3)):
        stack_link(ax, lower, upper)
    head = box(ax, x, 6.55, "linear (logits)", role="output", w=STACK_W * 0.8, h=0.38,
               size=SMALL)
    stack_link(ax, an3, head)
    arrow(ax, head.top, (x, 7.0))
    label(ax, x + 0.12, 6.9, "next-token scores", size=SMALL, ha="left", color=MUTED)


def cross_inputs(ax, below: Box, cross: Box, memory: tuple[float, float]) -> tuple[float, float]:
    """Queries from the decoder, keys and values from the encoder output.

    Returns the point on the query line where the residual connection branches off.
    """
    qx = cross.x + 0.55
    arrow(ax, (qx, below.top[1]), (qx, cross.bottom[1]), color=PALETTE["query"].edge, lw=1.5,
          gap=0.0)
    feed_y = cross.bottom[1] - 0.2
    gap_x = (memory[0] + cross.x) / 2 + 0.1
    mem_top = 4.95
    line(ax, memory, (memory[0], mem_top), (gap_x, mem_top), (gap_x, feed_y),
         (cross.x, feed_y), color=PALETTE["keyvalue"].edge, lw=1.8)
    for role, dx in (("key", -0.55), ("value", 0.0)):
        arrow(ax, (cross.x + dx, feed_y), (cross.x + dx, cross.bottom[1]),
              color=PALETTE[role].edge, lw=1.5, gap=0.0)
    label(ax, (memory[0] + gap_x) / 2, mem_top + 0.3, "encoder output\n(keys and values)",
          size=SMALL, color=PALETTE["keyvalue"].edge)
    return (qx, below.top[1] + 0.1)


# ---------------------------------------------------------------------------------------------
# 10.8 From 2017 to today
# ---------------------------------------------------------------------------------------------


def fig_pre_post_ln() -> Figure:
    """One block in the post-LN order (10.7) next to the pre-LN order, with the residual path."""
    fig, ax = canvas(8, 4.6)
    res = PALETTE["residual"].edge
    x = 2.1
    group(ax, 0.35, 0.3, 3.75, 4.5, "post-LN (2017, as in 10.7)")
    label(ax, x, 0.55, r"$\mathbf{X}_{l-1}$")
    f = box(ax, x, 1.75, "attention or FFN  $f_l$", role="weight", w=1.7, h=0.45, size=SMALL)
    plus = node(ax, x, 2.5, "+")
    ln = box(ax, x, 3.1, "LayerNorm", role="norm", w=1.3, h=0.34, size=SMALL)
    label(ax, x, 3.85, r"$\mathbf{X}_l$")
    arrow(ax, (x, 0.75), f.bottom)
    arrow(ax, f.top, plus.bottom)
    arrow(ax, plus.top, ln.bottom)
    arrow(ax, ln.top, (x, 3.68))
    dot(ax, x, 1.1, color=res)
    arrow(ax, (x, 1.1), (x - 1.2, 1.1), (x - 1.2, 2.5), plus.left, color=res, lw=1.6)
    label(ax, x + 0.72, 3.1, "every path\nthrough LN", size=SMALL, color=MUTED, ha="left")

    x = 5.2
    group(ax, 4.05, 0.3, 7.7, 4.5, "pre-LN (GPT-2 and later)")
    label(ax, x, 0.55, r"$\mathbf{X}_{l-1}$")
    plus = node(ax, x, 2.95, "+")
    arrow(ax, (x, 0.75), plus.bottom, color=res, lw=2.6)
    arrow(ax, plus.top, (x, 3.68))
    label(ax, x, 3.85, r"$\mathbf{X}_l$")
    xb = x + 1.25
    dot(ax, x, 1.1, color=res)
    ln = box(ax, xb, 1.5, "LayerNorm", role="norm", w=1.3, h=0.34, size=SMALL)
    f = box(ax, xb, 2.25, "attention\nor FFN  $f_l$", role="weight", w=1.3, h=0.55, size=SMALL,
            linespacing=1.1)
    arrow(ax, (x, 1.1), (xb, 1.1), ln.bottom)
    arrow(ax, ln.top, f.bottom)
    arrow(ax, f.top, (xb, 2.95), plus.right)
    label(ax, x - 0.15, 1.95, "identity path", size=SMALL, color=res, ha="right")
    label(ax, x + 0.45, 3.85, "after the last block:\none more LayerNorm", size=SMALL,
          color=MUTED, ha="left")
    return fig


# ---------------------------------------------------------------------------------------------
# Registry and command line
# ---------------------------------------------------------------------------------------------

FIGURES: dict[str, Callable[[], Figure]] = {
    "10.1-qkv-pooling": fig_qkv_pooling,
    "10.2-kernel-weights": fig_kernel_weights,
    "10.3-scoring": fig_scoring,
    "10.4-bahdanau-step": fig_bahdanau_step,
    "10.5-multihead": fig_multihead,
    "10.6-cnn-rnn-self-attention": fig_cnn_rnn_self_attention,
    "10.7-transformer": fig_transformer,
    "10.8-pre-post-ln": fig_pre_post_ln,
}


def render(name: str, out_dir: Path, png_dir: Path | None = None) -> Path:
    """Draw figure `name` into `out_dir/name.svg` (and a 100-dpi PNG into `png_dir`).

    The style is applied in a context, so importing this module changes no global settings.
    The SVG is written as bytes (LF line ends on every OS, as .gitattributes keeps it).
    """
    path = Path(out_dir) / f"{name}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):
        fig = FIGURES[name]()
        try:
            svg = io.BytesIO()
            fig.savefig(svg, format="svg", metadata={"Date": None, "Title": name})
            path.write_bytes(svg.getvalue())
            if png_dir is not None:
                Path(png_dir).mkdir(parents=True, exist_ok=True)
                fig.savefig(Path(png_dir) / f"{name}.png", dpi=100)
        finally:
            plt.close(fig)
    return path


def write_figures(out_dir: Path, names: Iterable[str] | None = None,
                  png_dir: Path | None = None) -> list[Path]:
    """Draw the named figures (default: all) into `out_dir`; returns the SVG paths."""
    return [render(name, out_dir, png_dir) for name in (FIGURES if names is None else names)]


def check_figures(committed_dir: Path, names: Iterable[str] | None = None) -> list[str]:
    """Regenerate into a temporary folder; return 'name.svg (why)' for each stale figure."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for fresh in write_figures(Path(tmp), names):
            committed = Path(committed_dir) / fresh.name
            if not committed.is_file():
                problems.append(f"{fresh.name} (missing)")
            elif committed.read_bytes() != fresh.read_bytes():
                problems.append(f"{fresh.name} (differs)")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder of the SVG files (default: notebooks/figures)")
    parser.add_argument("--only", choices=sorted(FIGURES), metavar="NAME",
                        help="draw one figure: " + ", ".join(FIGURES))
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a figure in --out is stale or missing")
    parser.add_argument("--png", type=Path, default=None,
                        help="also write 100-dpi PNG previews into this folder")


def register(sub) -> None:
    """The `figures` command of tools/book.py."""
    p = sub.add_parser("figures", help="draw the diagrams into notebooks/figures/")
    add_arguments(p)
    p.set_defaults(run=run)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


def run(args: argparse.Namespace) -> int:
    names = [args.only] if args.only else list(FIGURES)
    if not args.check:
        for path in write_figures(args.out, names, args.png):
            print(f"wrote {path}")
        return 0
    problems = check_figures(args.out, names)
    if not problems:
        print(f"{len(names)} figures up to date")
        return 0
    print(f"{len(problems)} of {len(names)} figures out of date in {args.out}:")
    for problem in problems:
        print(f"  {problem}")
    print("run `python tools/figures.py` to regenerate them")
    if matplotlib.__version__ != PINNED_MATPLOTLIB:
        print(f"note: this is matplotlib {matplotlib.__version__}; the committed figures were "
              f"drawn with {PINNED_MATPLOTLIB} (requirements.txt)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
