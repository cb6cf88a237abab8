# Generated from notebooks/10.1-attention-cues.py by `make lib`: DO NOT EDIT.
# Edit notebooks/10.1-attention-cues.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.1 注意力提示 (Attention Cues): the components saved with `#@save`."""

import torch

from ..checks import check_heatmaps
from ..plotting import plt, use_svg_display

__all__ = ['attention_pooling', 'show_heatmaps']


# %% notebooks/10.1-attention-cues.py:79
def attention_pooling(query, keys, values, tau=1.0):
    """Dot-product attention pooling of one query: weights softmax(keys @ query / tau), shape
    (n,), and the pooled value weights @ values. query: (d,), keys: (n, d), values: (n, v)."""
    weights = torch.softmax(keys @ query / tau, dim=0)  # 点积衡量匹配程度，softmax 使权重和为 1
    return weights, weights @ values


# %% notebooks/10.1-attention-cues.py:185
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Heatmaps of matrices (num_rows, num_cols, num_queries, num_keys) on one colour scale;
    titles: one per grid column; xticklabels / yticklabels: one per key / per query."""
    check_heatmaps(matrices, titles, xticklabels, yticklabels)
    use_svg_display()
    matrices = matrices.detach().cpu().float()
    low, high = min(0.0, matrices.min().item()), matrices.max().item()
    norm = plt.Normalize(vmin=low, vmax=high if high > low else low + 1.0)  # 所有面板共用
    fig, axes = plt.subplots(*matrices.shape[:2], figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices)):
            pcm = ax.imshow(matrix.numpy(), cmap=cmap, norm=norm)
            if i == len(axes) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
            if xticklabels is not None:
                ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(len(yticklabels)), yticklabels)
    fig.colorbar(pcm, ax=axes, shrink=0.6)
