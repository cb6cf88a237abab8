# Generated from notebooks/10.1-attention-cues.ipynb by `make lib`: DO NOT EDIT.
# Edit notebooks/10.1-attention-cues.py instead, then run `make sync execute lib`.
"""Section 10.1 注意力提示 (Attention Cues): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = ['show_heatmaps']


def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds"):
    """Draw a grid of attention-weight heatmaps.

    matrices: (num_rows, num_cols, num_queries, num_keys); rows are queries, columns keys.
    titles: None or one title per grid column.
    """
    if matrices.dim() != 4:
        raise ValueError(
            f"show_heatmaps expects a 4-D tensor (num_rows, num_cols, num_queries, num_keys), "
            f"got shape {tuple(matrices.shape)}; add axes with reshape or unsqueeze"
        )
    num_rows, num_cols = matrices.shape[0], matrices.shape[1]
    if titles is not None and len(titles) != num_cols:
        raise ValueError(f"got {len(titles)} titles for {num_cols} columns of heatmaps")
    d2l.use_svg_display()
    fig, axes = d2l.plt.subplots(num_rows, num_cols, figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            pcm = ax.imshow(matrices[i, j].detach().cpu().numpy(), cmap=cmap)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(pcm, ax=axes, shrink=0.6)
