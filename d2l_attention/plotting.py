"""Plotting helpers with the zh-edition d2l API (`set_figsize`, `set_axes`, `plot`).

Figures are rendered as PNG so notebooks stay small and nbval can skip image bytes.
Labels are meant to be English: no CJK font is needed.
"""

import matplotlib
from matplotlib import pyplot as plt

__all__ = ["plt", "use_svg_display", "set_figsize", "set_axes", "plot"]


def use_svg_display():
    """Set up inline figures in Jupyter.

    The name is the book's; this project renders PNG (crisp enough, and far smaller than SVG in
    stored notebooks). Outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python without IPython: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")


def set_figsize(figsize=(3.5, 2.5)):
    """Set the default figure size (inches) for later plots."""
    use_svg_display()
    matplotlib.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set labels, limits, scales and legend of a matplotlib Axes."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _has_one_axis(X):
    return (hasattr(X, "ndim") and X.ndim == 1) or (
        isinstance(X, list) and not hasattr(X[0], "__len__")
    )


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
         figsize=(3.5, 2.5), axes=None):
    """Plot one or several curves.

    `X` and `Y` may be 1-D sequences/tensors or lists of them; with `Y=None`, `X` holds the
    y-values and the x-values are 0, 1, 2, ...
    """
    if legend is None:
        legend = []
    set_figsize(figsize)
    axes = axes if axes is not None else plt.gca()
    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts * len(Y)):
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
