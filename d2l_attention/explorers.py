"""Explorers: charts with labelled controls, over states precomputed by the taught components.

A section computes its states with its own classes (one row per state and cell, see `rows`) and
hands them to `explorer`. The result displays as a Vega-Lite chart whose sliders, menus and
checkboxes are standard HTML form controls (labelled, keyboard-usable). The JavaScript moves
between precomputed states, so the same output works live in JupyterLab, Notebook 7 and VS Code
and without a kernel in the offline HTML book (`make html` bundles Vega locally); front ends
that cannot draw Vega-Lite show the PNG of the default state that travels in the same output.

Altair and vl-convert are imported on first use, so `import d2l_attention` stays fast.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Slider", "Select", "Checkbox", "rows", "explorer", "heatmap_view", "line_view",
           "bar_view", "point_view", "plane_view", "arrow_view", "rule_view", "text_view",
           "Explorer"]

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
DECIMALS = 4  # states are stored rounded: the same JSON on every CPU kernel (nbval compares it)


@dataclass(frozen=True)
class Slider:
    """A range input over evenly spaced `values`; `upto=True` keeps rows with column <= value."""

    name: str
    values: tuple
    label: str
    default: Any = None
    upto: bool = False

    def __post_init__(self):
        values = tuple(float(v) for v in self.values)
        if len(values) < 2:
            raise ValueError(f"Slider {self.name!r} needs at least two values, got {values}")
        steps = [b - a for a, b in zip(values, values[1:])]
        if min(steps) <= 0 or max(steps) - min(steps) > 1e-9 * max(1.0, abs(max(values))):
            raise ValueError(f"Slider {self.name!r}: values must rise in equal steps (a range "
                             f"input has one step), got {values}; use Select for others")
        object.__setattr__(self, "values", values)
        default = values[0] if self.default is None else float(self.default)
        if not any(abs(default - v) < 1e-9 for v in values):
            raise ValueError(f"Slider {self.name!r}: default {default} is not one of {values}")
        object.__setattr__(self, "default", default)

    @property
    def step(self) -> float:
        return (self.values[-1] - self.values[0]) / (len(self.values) - 1)

    def binding(self, alt):
        digits = max(0, -math.floor(math.log10(self.step)) + 1) if self.step < 1 else 0
        return alt.binding_range(min=self.values[0], max=self.values[-1],
                                 step=round(self.step, digits + 2), name=self.label + " ")

    def test(self) -> str:
        if self.upto:
            return f"datum['{self.name}'] <= {self.name} + {self.step / 2!r}"
        return f"abs(datum['{self.name}'] - {self.name}) < {self.step / 2!r}"


@dataclass(frozen=True)
class Select:
    """A drop-down menu over `options` (strings or numbers), shown with `labels` if given."""

    name: str
    options: tuple
    label: str
    default: Any = None
    labels: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise ValueError(f"Select {self.name!r} needs at least one option")
        if self.default is None:
            object.__setattr__(self, "default", self.options[0])
        elif self.default not in self.options:
            raise ValueError(f"Select {self.name!r}: default {self.default!r} is not one of "
                             f"{self.options}")
        if self.labels is not None and len(self.labels) != len(self.options):
            raise ValueError(f"Select {self.name!r}: {len(self.labels)} labels for "
                             f"{len(self.options)} options")

    def binding(self, alt):
        labels = [str(o) for o in self.options] if self.labels is None else list(self.labels)
        return alt.binding_select(options=list(self.options), labels=labels,
                                  name=self.label + " ")

    def test(self) -> str:
        return f"datum['{self.name}'] == {self.name}"


@dataclass(frozen=True)
class Checkbox:
    """A checkbox; rows carry the column as True/False."""

    name: str
    label: str
    default: bool = False

    def binding(self, alt):
        return alt.binding_checkbox(name=self.label + " ")

    def test(self) -> str:
        return f"datum['{self.name}'] == {self.name}"


def _plain(value, decimals=DECIMALS):
    """A JSON-ready, rounded Python value from a tensor/NumPy scalar or a plain one."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"explorer states must be finite, got {value}; mask with a large "
                             "negative number before softmax, or drop the cell")
        value = round(value, decimals) + 0.0  # +0.0 turns -0.0 into 0.0
    return value


def rows(state: dict, *, row_labels=None, col_labels=None, decimals=DECIMALS,
         **columns) -> list[dict]:
    """Long-form rows for one state: `state` holds the control values, `columns` equal-length
    1-D or 2-D sequences (tensors, arrays, lists). A 2-D column adds `row` and `col` indices;
    `row_labels=("query", names)` (and `col_labels`) adds a column naming each row (column).
    A 1-D column adds the index `i`, named by `row_labels` if given. Floats are rounded to
    `decimals` places (fewer for a trained model's weights, which move with the CPU's kernels)."""
    import numpy as np

    arrays = {k: np.asarray(v.detach().cpu() if hasattr(v, "detach") else v)
              for k, v in columns.items()}
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"rows: columns must have one shape, got {shapes}")
    shape = next(iter(shapes.values()))
    out = []
    for index in np.ndindex(*shape):
        row = {k: _plain(v, decimals) for k, v in state.items()}
        if len(shape) == 2:
            row["row"], row["col"] = int(index[0]), int(index[1])
        elif len(shape) == 1:
            row["i"] = int(index[0])
        for labels, axis in ((row_labels, 0), (col_labels, 1)):
            if labels is not None and axis < len(shape):
                name, names = labels
                if len(names) != shape[axis]:
                    raise ValueError(f"rows: {len(names)} {name} labels for axis {axis} of "
                                     f"size {shape[axis]}")
                row[name] = names[index[axis]]
        for k, a in arrays.items():
            row[k] = _plain(a[index], decimals)
        out.append(row)
    return out


@dataclass
class View:
    """One panel of an explorer: rows and a function that draws them with Altair."""

    data: list[dict]
    draw: Any
    width: int = 260
    height: int = 200
    title: str = ""
    extra: dict = field(default_factory=dict)

    def chart(self, alt, controls):
        base = alt.Chart(alt.Data(values=self.data))
        keys = set().union(*(r.keys() for r in self.data)) if self.data else set()
        for c in controls:
            if c.name in keys:
                base = base.transform_filter(c.test())
        chart = self.draw(alt, base)
        return chart.properties(width=self.width, height=self.height, title=self.title,
                                **self.extra)


def _order(labels):
    return list(dict.fromkeys(labels))


# Matplotlib's sequential maps sampled at 0, 1/8, ..., 1: a Vega heatmap then draws a weight of 0
# white, as `show_heatmaps` does (Vega's own "reds" starts at salmon: masked cells looked filled).
SEQUENTIAL = {
    "reds": ["#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb694a", "#ee3a2c", "#ca181d",
             "#a30f15", "#67000d"],
    "blues": ["#f7fbff", "#deebf7", "#c6dbef", "#9dcae1", "#6aaed6", "#4191c6", "#2070b4",
              "#08509b", "#08306b"],
}


def _matplotlib_scale(scheme, domain):
    """A Vega scale whose colours are matplotlib's `scheme` (`Reds`, `Blues`) over `domain`."""
    import altair as alt

    colours = SEQUENTIAL.get(scheme.lower())
    if colours is None:
        raise ValueError(f"scheme {scheme!r}: choose one of {sorted(SEQUENTIAL)}")
    low, high = domain
    stops = [low + (high - low) * i / (len(colours) - 1) for i in range(len(colours))]
    return alt.Scale(domain=stops, range=colours, interpolate="rgb")


def heatmap_view(data, x, y, color="weight", *, title="", width=240, height=200,
                 domain=(0, 1), scheme="reds", text=True, x_title=None, y_title=None):
    """Cells coloured by `color` on one fixed scale, so moving a control compares like with
    like; `x`/`y` are columns of labels (their first-seen order is the axis order).
    `scheme` names one of matplotlib's maps (`reds`, `blues`): 0 is white, as in `show_heatmaps`."""
    x_order = _order(r[x] for r in data)
    y_order = _order(r[y] for r in data)

    def draw(alt, base):
        enc = dict(x=alt.X(f"{x}:N", sort=x_order, title=x_title or x),
                   y=alt.Y(f"{y}:N", sort=y_order, title=y_title or y))
        cells = base.mark_rect().encode(
            **enc, color=alt.Color(f"{color}:Q", scale=_matplotlib_scale(scheme, domain),
                                   title=color),
            tooltip=[f"{x}:N", f"{y}:N", alt.Tooltip(f"{color}:Q", format=".3f")])
        if not text:
            return cells
        labels = base.mark_text(fontSize=10).encode(
            **enc, text=alt.Text(f"{color}:Q", format=".2f"),
            color=alt.condition(f"datum['{color}'] > {domain[0] + 0.6 * (domain[1] - domain[0])}",
                                alt.value("white"), alt.value("black")))
        return cells + labels

    return View(data, draw, width, height, title)


def line_view(data, x, y, color=None, *, title="", width=300, height=200, y_domain=None,
              x_title=None, y_title=None, points=False):
    """Lines of `y` over `x`, one per value of `color` (if given)."""

    def draw(alt, base):
        scale = alt.Scale(domain=list(y_domain)) if y_domain else alt.Undefined
        enc = dict(x=alt.X(f"{x}:Q", title=x_title or x),
                   y=alt.Y(f"{y}:Q", title=y_title or y, scale=scale))
        if color:
            enc["color"] = alt.Color(f"{color}:N", sort=_order(r[color] for r in data),
                                     title=color)
        return base.mark_line(point=points, clip=True).encode(**enc)

    return View(data, draw, width, height, title)


def point_view(data, x, y, color=None, *, title="", width=300, height=200, size=60,
               x_title=None, y_title=None, shape="circle", y_domain=None):
    """Points at (`x`, `y`); `size` may name a column (a weight) or be a number."""

    def draw(alt, base):
        scale = alt.Scale(domain=list(y_domain)) if y_domain else alt.Undefined
        enc = dict(x=alt.X(f"{x}:Q", title=x_title or x),
                   y=alt.Y(f"{y}:Q", title=y_title or y, scale=scale))
        if isinstance(size, str):
            enc["size"] = alt.Size(f"{size}:Q", title=size)
        if color:
            enc["color"] = alt.Color(f"{color}:N", title=color)
        mark = base.mark_point(filled=True, shape=shape, clip=True,
                               **({} if isinstance(size, str) else {"size": size}))
        return mark.encode(**enc)

    return View(data, draw, width, height, title)


def plane_view(data, x, y, color=None, *, title="", width=200, height=200, size=60,
               shape="circle", domain=(-1.2, 1.2), x_title=None, y_title=None):
    """Points at (`x`, `y`) in a plane whose two axes share one fixed `domain` (with width ==
    height, a circle stays round), e.g. 2-D vectors on the unit circle; `size` is a number."""

    def draw(alt, base):
        scale = alt.Scale(domain=list(domain), nice=False)
        enc = dict(x=alt.X(f"{x}:Q", title=x_title or x, scale=scale),
                   y=alt.Y(f"{y}:Q", title=y_title or y, scale=scale))
        if color:
            enc["color"] = alt.Color(f"{color}:N", title=color)
        return base.mark_point(filled=True, shape=shape, size=size, clip=True).encode(**enc)

    return View(data, draw, width, height, title)

def arrow_view(data, x, y, label=None, color=None, *, colors=None, title="", width=240,
               height=240, x_domain=(-2.5, 2.5), y_domain=(-2.5, 2.5), x_title="x",
               y_title="y"):
    """2-D vectors as arrows from the origin to (`x`, `y`), e.g. a query among its keys.

    `label` names a column of text drawn at each tip; `color` a column of categories, coloured
    by `colors` (a dict category -> colour, so a series keeps its colour between views). Give
    the domains the same length per pixel (width / height) so that angles look right."""

    def draw(alt, base):
        xs = alt.Scale(domain=list(x_domain), nice=False)
        ys = alt.Scale(domain=list(y_domain), nice=False)
        paint = alt.value("#333")
        if color:
            scale = (alt.Scale(domain=list(colors), range=list(colors.values())) if colors
                     else alt.Undefined)
            paint = alt.Color(f"{color}:N", scale=scale, legend=None)
        # The arrowhead is a triangle turned to the vector's heading (Vega turns clockwise from up).
        base = base.transform_calculate(
            x0="0", y0="0", heading=f"90 - atan2(datum['{y}'], datum['{x}']) * 180 / PI")
        shaft = base.mark_rule(strokeWidth=2.5).encode(
            x=alt.X(f"{x}:Q", scale=xs, title=x_title), y=alt.Y(f"{y}:Q", scale=ys, title=y_title),
            x2="x0:Q", y2="y0:Q", color=paint)
        head = base.mark_point(shape="triangle-up", filled=True, size=110, opacity=1).encode(
            x=alt.X(f"{x}:Q", scale=xs), y=alt.Y(f"{y}:Q", scale=ys),
            angle=alt.Angle("heading:Q", scale=None), color=paint)
        layers = [shaft, head]
        if label:
            layers.append(base.mark_text(fontSize=13, fontWeight="bold", dx=14, dy=-10).encode(
                x=alt.X(f"{x}:Q", scale=xs), y=alt.Y(f"{y}:Q", scale=ys), text=f"{label}:N",
                color=paint))
        return alt.layer(*layers)

    return View(data, draw, width, height, title)


def bar_view(data, x, y, *, title="", width=240, height=200, y_domain=(0, 1), x_title=None,
             y_title=None, color="#c0392b"):
    """Bars of `y` for each label in `x` (e.g. the weights over the keys)."""
    x_order = _order(r[x] for r in data)

    def draw(alt, base):
        bars = base.mark_bar(color=color).encode(
            x=alt.X(f"{x}:N", sort=x_order, title=x_title or x),
            y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=list(y_domain)), title=y_title or y),
            tooltip=[f"{x}:N", alt.Tooltip(f"{y}:Q", format=".3f")])
        labels = base.mark_text(dy=-6).encode(x=alt.X(f"{x}:N", sort=x_order),
                                              y=alt.Y(f"{y}:Q"),
                                              text=alt.Text(f"{y}:Q", format=".2f"))
        return bars + labels

    return View(data, draw, width, height, title)


def rule_view(data, x, *, title="", width=300, height=200, color="#555"):
    """A vertical rule at `x` (e.g. the current query), drawn over another view with `+`."""

    def draw(alt, base):
        return base.mark_rule(color=color, strokeDash=[4, 3]).encode(x=f"{x}:Q")

    return View(data, draw, width, height, title)


def text_view(data, text, *, title="", width=300, height=40, size=14):
    """One line of text per state (e.g. "MSE = 0.049"), from a column of strings."""

    def draw(alt, base):
        return base.mark_text(align="left", x=0, fontSize=size).encode(
            text=f"{text}:N", y=alt.Y("line:O", axis=None) if data and "line" in data[0]
            else alt.value(height / 2))

    return View(data, draw, width, height, title, extra={"view": {"stroke": None}})


class Explorer:
    """The displayed explorer: Vega-Lite (live controls), a PNG of the default state, a text line.

    `spec` is the Vega-Lite dict; `data` the rows by view, for tests and for reading the states."""

    def __init__(self, spec: dict, title: str, controls, views):
        self.spec, self.title, self.controls, self.views = spec, title, controls, views

    def __repr__(self):
        parts = []
        for c in self.controls:
            if isinstance(c, Slider):
                parts.append(f"{c.name} ({c.values[0]:g}..{c.values[-1]:g}, "
                             f"{len(c.values)} steps)")
            elif isinstance(c, Select):
                parts.append(f"{c.name} ({len(c.options)} options)")
            else:
                parts.append(f"{c.name} (on/off)")
        cells = sum(len(v.data) for v in self.views)
        return f"Explorer {self.title!r}: {', '.join(parts)}; {cells} precomputed cells"

    def png(self) -> bytes:
        import vl_convert

        return vl_convert.vegalite_to_png(self.spec, scale=1)

    def _repr_mimebundle_(self, include=None, exclude=None):
        import base64

        return {VEGALITE_MIME: self.spec, "image/png": base64.b64encode(self.png()).decode(),
                "text/plain": repr(self)}

    def to_json(self) -> str:
        """The Vega-Lite spec as canonical JSON (what the notebook stores and tests search)."""
        return json.dumps(self.spec, sort_keys=True)


def explorer(*panels, controls, title, columns=None) -> Explorer:
    """Lay out `panels` (views, or tuples of views drawn on one another) side by side (or in
    `columns` per row), every one filtered by the `controls` whose column its rows carry."""
    import altair as alt

    names = [c.name for c in controls]
    if len(set(names)) != len(names):
        raise ValueError(f"explorer: control names must differ, got {names}")
    params = [alt.param(name=c.name, value=c.default, bind=c.binding(alt)) for c in controls]
    charts, views = [], []
    for panel in panels:
        layer = panel if isinstance(panel, tuple) else (panel,)
        views.extend(layer)
        drawn = [v.chart(alt, controls) for v in layer]
        charts.append(drawn[0] if len(drawn) == 1 else alt.layer(*drawn))
    if columns:
        chart = alt.concat(*charts, columns=columns)
    else:
        chart = alt.hconcat(*charts) if len(charts) > 1 else charts[0]
    chart = chart.add_params(*params).properties(title=title)
    spec = chart.to_dict()
    return Explorer(spec, title, list(controls), views)

