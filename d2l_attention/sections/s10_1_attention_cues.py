# Generated from notebooks/10.1-attention-cues.py by `make lib`: DO NOT EDIT.
# Edit notebooks/10.1-attention-cues.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.1 注意力提示 (Attention Cues): the components saved with `#@save`."""

import math

import torch

from ..checks import check_heatmaps
from ..explorers import rows
from ..plotting import plt, use_svg_display

__all__ = ['attention_pooling', 'pooling_states', 'show_heatmaps']


# %% notebooks/10.1-attention-cues.py:71
def attention_pooling(query, keys, values, tau=1.0):
    """Dot-product attention pooling of one query: weights softmax(keys @ query / tau), shape
    (n,), and the pooled value weights @ values. query: (d,), keys: (n, d), values: (n, v)."""
    weights = torch.softmax(keys @ query / tau, dim=0)  # 点积衡量匹配程度，softmax 使权重和为 1
    return weights, weights @ values


# %% notebooks/10.1-attention-cues.py:107
def pooling_states(keys, values, angles, taus):
    """Explorer rows: for each query angle (degrees) and temperature, the weights over the keys
    and one line with the pooled value, all from `attention_pooling`."""
    weights_rows, text_rows = [], []
    names = [f"k{i + 1}" for i in range(len(keys))]
    for theta in angles:
        query = torch.tensor([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
        for tau in taus:
            weights, pooled = attention_pooling(query, keys, values, tau)
            state = {"theta": theta, "tau": tau}
            weights_rows += rows(state, row_labels=("key", names), weight=weights)
            text_rows += rows(state, text=[f"pooled value = {pooled.item():.2f} "
                                               f"(average pooling: {values.mean().item():.2f})"])
    return weights_rows, text_rows


# %% notebooks/10.1-attention-cues.py:149
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Draw a grid of heatmaps on one shared colour scale, with one colourbar true for all.

    matrices: (num_rows, num_cols, num_queries, num_keys); in each panel, rows are queries and
        columns are keys.
    titles: None or one title per grid column.
    xticklabels, yticklabels: None or one label per key / per query (tokens, for example).
    """
    check_heatmaps(matrices, titles, xticklabels, yticklabels)
    num_rows, num_cols, num_queries, num_keys = matrices.shape
    values = matrices.detach().cpu().float()
    # One scale for every panel: the same colour means the same weight everywhere in the figure.
    low, high = min(0.0, values.min().item()), values.max().item()
    norm = plt.Normalize(vmin=low, vmax=high if high > low else low + 1.0)
    use_svg_display()
    fig, axes = plt.subplots(num_rows, num_cols, figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            image = ax.imshow(values[i, j].numpy(), cmap=cmap, norm=norm)
            if xticklabels is not None:
                ax.set_xticks(range(num_keys), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(num_queries), yticklabels)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(image, ax=axes, shrink=0.6)
