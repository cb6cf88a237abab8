"""Section 10.1's explorer: the query turning among the keys, and one key's length as a control.

The notebook calls `turning_query(keys, values)`; the states come from the taught
`d2l.attention_pooling`, and `turning_query_states` returns them for the section's tests.
"""

from __future__ import annotations

import math

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex

ANGLES = tuple(range(0, 360, 15))  # the query's direction, degrees
LENGTHS = tuple(0.5 * i for i in range(1, 8))  # the factor c on the scaled key: 0.5 ... 3.5
# Chapter palette (tools/figures.py): queries orange, keys blue, weights purple.
COLOURS = {"query": "#D9822B", "key": "#2F6DB5"}
WEIGHT_COLOUR = "#7E57C2"


def unit_query(theta):
    """The query (cos theta, sin theta) for an angle in degrees, shape (2,)."""
    rad = math.radians(theta)
    return torch.tensor([math.cos(rad), math.sin(rad)])


def turning_query_states(keys, values, angles=ANGLES, lengths=LENGTHS, scaled=1):
    """Rows of the explorer's views: query arrows (by theta), key arrows (by c), and per
    (theta, c) the weights over the keys and two lines of text, all from `d2l.attention_pooling`.

    keys: (n, 2); values: (n, 1); the key at index `scaled` is multiplied by c."""
    names = [f"k{i + 1}" for i in range(len(keys))]
    query_rows = [{"theta": theta, "x": ex._plain(q[0]), "y": ex._plain(q[1]), "role": "query",
                   "name": "q"}
                  for theta in angles for q in [unit_query(theta)]]
    key_rows, weight_rows, text_rows = [], [], []
    for c in lengths:
        scaled_keys = keys.clone()
        scaled_keys[scaled] *= c
        key_rows += [{"c": c, "x": ex._plain(k[0]), "y": ex._plain(k[1]), "role": "key",
                      "name": f"{name} (v={v.item():g})"}
                     for name, k, v in zip(names, scaled_keys, values[:, 0])]
        for theta in angles:
            query = unit_query(theta)
            weights, pooled = d2l.attention_pooling(query, scaled_keys, values)
            state = {"theta": theta, "c": c}
            weight_rows += ex.rows(state, row_labels=("key", names), weight=weights)
            scores = ", ".join(f"{s:.2f}" for s in (scaled_keys @ query).tolist())
            text_rows += ex.rows(state, row_labels=("line", [0, 1]), text=[
                f"q = ({query[0].item():.2f}, {query[1].item():.2f}); scores q·k: {scores}",
                f"pooled value = {pooled.item():.2f} (average pooling: "
                f"{values.mean().item():.2f})"])
    return {"query": query_rows, "keys": key_rows, "weights": weight_rows, "text": text_rows}


def turning_query(keys, values, angles=ANGLES, lengths=LENGTHS, scaled=1, theta=0, c=1.0):
    """The explorer: keys as arrows and the query turning among them (slider theta), beside
    the attention weights and the pooled value; a second slider scales key `scaled` by c."""
    states = turning_query_states(keys, values, angles, lengths, scaled)
    plane = dict(colors=COLOURS, color="role", label="name", width=230, height=240,
                 x_domain=(-2.3, 2.3), y_domain=(-1.2, 3.6))
    # Keys first, so the query is drawn on top where it lies along a key (theta = 90).
    arrows = (ex.arrow_view(states["keys"], "x", "y", title="keys and the query q", **plane),
              ex.arrow_view(states["query"], "x", "y", **plane))
    bars = ex.bar_view(states["weights"], "key", "weight", title="attention weights",
                       width=200, height=240, color=WEIGHT_COLOUR)
    text = ex.text_view(states["text"], "text", width=230, height=44, size=13)
    name = f"k{scaled + 1}"
    return ex.explorer(arrows, bars, text, columns=2, title="Turn the query", controls=[
        ex.Slider("theta", angles, "query angle θ (degrees)", default=theta),
        ex.Slider("c", lengths, f"length factor c of {name}", default=c)])


def print_states(keys, values, states, scaled=1):
    """Print the weights and the pooled value at a few (theta, c) states of the explorer."""
    print(f"{'theta':>6} {'c':>4}   {'scores q.k':<20} {'weights':<20} pooled")
    for theta, c in states:
        scaled_keys = keys.clone()
        scaled_keys[scaled] *= c
        query = unit_query(theta)
        weights, pooled = d2l.attention_pooling(query, scaled_keys, values)
        scores = " ".join(f"{s:5.2f}" for s in (scaled_keys @ query).tolist())
        shown = " ".join(f"{w:.3f}" for w in weights.tolist())
        print(f"{theta:>5}° {c:4.1f}   {scores:<20} {shown:<20} {pooled.item():.2f}")
