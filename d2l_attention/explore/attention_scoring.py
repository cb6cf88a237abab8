"""Explorers of section 10.3 (attention scoring functions).

Both are built on the section's taught components, called through `d2l`: `d2l.masked_softmax`
(the masking explorer) and `d2l.DotProductAttention` (the scaling explorer). The notebook shows
each with one call::

    from d2l_attention.explore import attention_scoring
    attention_scoring.masking()
    attention_scoring.scaling()
"""

from __future__ import annotations

import math

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex

__all__ = ["draw_vectors", "masking_states", "masking", "scaling_states", "scaling"]


def draw_vectors(queries, keys, figsize=(3.6, 3.6)):
    """Draw 2-D `keys` (num_kv, 2) as solid arrows and `queries` (num_queries, 2) as dashed ones
    from the origin, labelled k0, k1, ... and q0, q1, ...; returns the axes."""
    plt = d2l.plt
    fig, ax = plt.subplots(figsize=figsize)
    reach = float(max(keys.norm(dim=-1).max(), queries.norm(dim=-1).max())) * 1.25
    # A query's label sits a little off its arrow (turned by `turn`), so that a query and a key
    # pointing the same way keep readable labels.
    for name, vectors, style, turn in (("k", keys, dict(color="#c0392b", lw=2.5), 0.0),
                                       ("q", queries, dict(color="#2070b4", lw=1.2, ls="--"), 0.2)):
        for i, (x, y) in enumerate(vectors.tolist()):
            ax.annotate("", xy=(x, y), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color=style["color"], lw=style["lw"],
                                        ls=style.get("ls", "-"), shrinkA=0, shrinkB=0))
            r, angle = math.hypot(x, y) + 0.3, math.atan2(y, x) + turn
            ax.text(r * math.cos(angle), r * math.sin(angle), f"{name}{i}", color=style["color"],
                    ha="center", va="center", fontsize=9)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.axhline(0, color="#ccc", lw=0.5)
    ax.axvline(0, color="#ccc", lw=0.5)
    ax.set_title("keys (solid) and queries (dashed)", fontsize=10)
    fig.tight_layout()
    return ax


def causal_lens(valid_len: int, num_queries: int) -> torch.Tensor:
    """Per-query valid lengths (1, num_queries): query i sees keys 0..i, and none beyond
    `valid_len` (the causal mask of a decoder combined with padding)."""
    return (torch.arange(1, num_queries + 1).clamp(max=valid_len))[None]


def masking_states(scores, lengths, causal=(False, True)):
    """Rows for the masking explorer: for each valid length L and each `causal` setting, the
    weights `d2l.masked_softmax` gives the (num_queries, num_keys) `scores`, with valid_lens
    `[L]` (one length shared by all queries) or, when causal, `[[min(1, L), ..., min(n, L)]]`
    (query i also stops at key i); and a line of text with the row sums."""
    weight_rows, text_rows = [], []
    num_queries, num_keys = scores.shape
    queries, keys = [f"q{i}" for i in range(num_queries)], [f"k{j}" for j in range(num_keys)]
    for L in lengths:
        for is_causal in causal:
            lens = causal_lens(L, num_queries) if is_causal else torch.tensor([L])
            weights = d2l.masked_softmax(scores[None], lens)[0]
            state = {"valid_len": L, "causal": is_causal}
            weight_rows += ex.rows(state, weight=weights, row_labels=("query", queries),
                                   col_labels=("key", keys))
            masked = int((weights == 0).sum())
            sums = sorted({f"{s:.2f}" for s in weights.sum(dim=-1).tolist()})
            text_rows += ex.rows(state, text=[
                f"valid_lens = {lens[0].tolist() if is_causal else [L]}: {masked} of "
                f"{weights.numel()} cells masked (weight 0); row sums: {', '.join(sums)}"])
    return weight_rows, text_rows


def masking(num_queries=8, num_keys=8, seed=0):
    """The masking explorer: seeded random scores through `d2l.masked_softmax`, a slider for
    the valid length L (0..num_keys) and a checkbox for the causal (per-query) mask."""
    torch.manual_seed(seed)
    scores = torch.randn(num_queries, num_keys, dtype=torch.float64)
    lengths = list(range(num_keys + 1))
    weight_rows, text_rows = masking_states(scores, lengths)
    return ex.explorer(
        ex.heatmap_view(weight_rows, "key", "query", width=300, height=240,
                        title="masked_softmax(scores, valid_lens)"),
        ex.text_view(text_rows, "text", width=300),
        controls=[ex.Slider("valid_len", lengths, "valid length L", default=num_keys),
                  ex.Checkbox("causal", "causal: query i sees only keys 0..i", default=False)],
        title="Mask the keys beyond the valid length", columns=1)


def scaling_states(dims, num_keys=20, seed=0):
    """Rows for the scaling explorer: for each dimension d, one standard normal query against
    `num_keys` standard normal keys (float64, seeded), with scaling off (plain q.k through
    `d2l.masked_softmax`) and on (`d2l.DotProductAttention`): the scores, the weights and a
    line with their spread."""
    torch.manual_seed(seed)
    attention = d2l.DotProductAttention(dropout=0.0)
    score_rows, weight_rows, text_rows = [], [], []
    names = [f"k{j}" for j in range(num_keys)]
    for d in dims:
        q = torch.randn(1, 1, d, dtype=torch.float64)
        k = torch.randn(1, num_keys, d, dtype=torch.float64)
        for scaled in (False, True):
            if scaled:
                scores = attention.score(q, k)
                attention(q, k, k)
                weights = attention.attention_weights
            else:
                scores = q @ k.transpose(1, 2)
                weights = d2l.masked_softmax(scores, None)
            state = {"d": d, "scaled": scaled}
            score_rows += ex.rows(state, row_labels=("key", names), score=scores[0, 0])
            weight_rows += ex.rows(state, row_labels=("key", names), weight=weights[0, 0])
            text_rows += ex.rows(state, text=[
                f"std of the {num_keys} scores = {scores.std().item():.2f} (sqrt(d) = "
                f"{math.sqrt(d):.2f}); largest weight = {weights.max().item():.2f}"])
    return score_rows, weight_rows, text_rows


def scaling(dims=tuple(2**i for i in range(1, 10)), num_keys=20, seed=0):
    """The sqrt(d) explorer: a menu for d, a checkbox for the 1/sqrt(d) scaling; the scores of
    one query (on one fixed axis for every state), its softmax weights and their spread."""
    dims = list(dims)
    score_rows, weight_rows, text_rows = scaling_states(dims, num_keys, seed)
    bound = 10 * math.ceil(max(abs(r["score"]) for r in score_rows) / 10)
    return ex.explorer(
        ex.point_view(score_rows, "i", "score", title="scores of one query", width=520,
                      height=180, y_domain=(-bound, bound), x_title="key j"),
        ex.bar_view(weight_rows, "key", "weight", title="softmax weights", width=520, height=160),
        ex.text_view(text_rows, "text", width=520),
        controls=[ex.Select("d", dims, "dimension d", default=dims[0]),
                  ex.Checkbox("scaled", "divide the scores by sqrt(d)", default=False)],
        title="Why divide by sqrt(d)", columns=1)
