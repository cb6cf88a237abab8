# Generated from notebooks/py/10.1-attention-cues.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.1-attention-cues.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.1 注意力提示 (Attention Cues): the components saved with `#@save`."""

import torch

from ..checks import check_heatmaps
from ..plotting import plt, use_svg_display

__all__ = ['attention_pooling', 'show_heatmaps']


# %% notebooks/py/10.1-attention-cues.py:58
def attention_pooling(queries, keys, values, tau=1.0):
    """Dot-product attention pooling: weights softmax(queries @ keys.T / tau) over the n keys,
    and the pooled values weights @ values. queries: (d,) for one query or (m, d) for m;
    keys: (n, d); values: (n, v). Returns weights (n,) or (m, n) and pooled (v,) or (m, v)."""
    weights = torch.softmax(queries @ keys.T / tau, dim=-1)  # 点积衡量匹配程度，softmax 使每行和为 1
    return weights, weights @ values


# %% notebooks/py/10.1-attention-cues.py:286
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Heatmaps of matrices (num_rows, num_cols, num_queries, num_keys) on one colour scale;
    titles: one per grid column; xticklabels / yticklabels: one per key / per query."""
    check_heatmaps(matrices, titles, xticklabels, yticklabels)
    use_svg_display()
    matrices = matrices.detach().cpu().float()
    low, high = min(0.0, matrices.min().item()), matrices.max().item()
    norm = plt.Normalize(low, high if high > low else low + 1.0)  # 所有面板共用一个刻度
    fig, axes = plt.subplots(*matrices.shape[:2], figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices)):
            pcm = ax.imshow(matrix.numpy(), cmap=cmap, norm=norm)
            ax.set(xlabel=xlabel if i == len(axes) - 1 else "", ylabel=ylabel if j == 0 else "",
                   title=titles[j] if titles else "")
            if xticklabels is not None:
                ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(len(yticklabels)), yticklabels)
    fig.colorbar(pcm, ax=axes, shrink=0.6)
