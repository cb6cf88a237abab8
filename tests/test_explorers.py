"""Tests of the explorers (d2l_attention/explorers.py): the rows they are built from, the controls,
and that a control really selects its state in the drawn chart (rendered by vl-convert, no browser).
Each section's own precomputation is tested against its taught component in that section's tests."""

import base64
import copy
import math
import re

import pytest
import torch

from d2l_attention.explorers import Select, Slider, explorer, heatmap_view, rows, text_view


def svg_for(explorer, **values):
    """The SVG that Vega draws for `explorer` with its controls set to `values`."""
    import vl_convert

    spec = copy.deepcopy(explorer.spec)
    for param in spec["params"]:
        if param["name"] in values:
            param["value"] = values.pop(param["name"])
    assert not values, f"no such control: {values}"
    return vl_convert.vegalite_to_svg(spec)


def texts(svg):
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_rows_of_a_matrix_carry_indices_labels_and_the_state():
    weights = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    out = rows({"tau": 0.5}, weight=weights, row_labels=("query", ["q0", "q1"]),
                   col_labels=("key", ["a", "b"]))
    assert len(out) == 4
    assert out[1] == {"tau": 0.5, "row": 0, "col": 1, "query": "q0", "key": "b", "weight": 0.75}


def test_rows_of_a_vector_are_indexed_and_labelled():
    out = rows({"theta": 30}, row_labels=("key", ["k1", "k2", "k3"]),
                   weight=[0.2, 0.3, 0.5], score=torch.tensor([1.0, 2.0, 3.0]))
    assert [r["key"] for r in out] == ["k1", "k2", "k3"]
    assert [r["i"] for r in out] == [0, 1, 2] and out[2]["score"] == 3.0


def test_rows_are_rounded_so_every_cpu_kernel_stores_the_same_json():
    out = rows({"w": torch.tensor(0.123456789)}, x=[1 / 3, -1e-9])
    assert out[0]["x"] == 0.3333 and out[0]["w"] == 0.1235
    assert math.copysign(1.0, out[1]["x"]) == 1.0  # -0.0 would differ from 0.0 in the JSON
    assert rows({}, x=[0.12345], decimals=2)[0]["x"] == 0.12


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_rows_reject_values_that_are_not_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        rows({}, x=[0.0, bad])


def test_rows_reject_columns_of_different_shapes_and_wrong_label_counts():
    with pytest.raises(ValueError, match="one shape"):
        rows({}, a=[1, 2], b=[1, 2, 3])
    with pytest.raises(ValueError, match="labels"):
        rows({}, a=[[1, 2]], col_labels=("key", ["only one"]))


def test_slider_needs_equal_steps_and_a_default_among_its_values():
    assert Slider("t", [0.25, 0.5, 0.75], "t").step == pytest.approx(0.25)
    with pytest.raises(ValueError, match="equal steps"):
        Slider("t", [1, 2, 4], "t")
    with pytest.raises(ValueError, match="at least two"):
        Slider("t", [1], "t")
    with pytest.raises(ValueError, match="default"):
        Slider("t", [1, 2, 3], "t", default=2.5)


def test_select_checks_its_default_and_labels():
    assert Select("k", ["a", "b"], "kind").default == "a"
    with pytest.raises(ValueError, match="default"):
        Select("k", ["a", "b"], "kind", default="c")
    with pytest.raises(ValueError, match="labels"):
        Select("k", ["a", "b"], "kind", labels=["A"])


def test_explorer_rejects_two_controls_with_one_name():
    view = text_view(rows({"t": 1}, text=["x"]), "text")
    with pytest.raises(ValueError, match="differ"):
        explorer(view, controls=[Slider("t", [1, 2], "a"), Slider("t", [1, 2], "b")],
                     title="twice")


def small_explorer():
    data = [row for t in (1.0, 2.0, 3.0) for kind in ("enc", "dec") for row in
            rows({"t": t, "kind": kind}, text=[f"state t={t:g} {kind}"])]
    return explorer(text_view(data, "text"),
                        controls=[Slider("t", [1, 2, 3], "step t", default=2),
                                  Select("kind", ["enc", "dec"], "kind")],
                        title="small")


def test_each_control_selects_exactly_its_state():
    ex = small_explorer()
    assert "state t=2 enc" in texts(svg_for(ex))  # the defaults
    shown = texts(svg_for(ex, t=3, kind="dec"))
    assert "state t=3 dec" in shown
    assert not [t for t in shown if t.startswith("state") and t != "state t=3 dec"]


def test_slider_with_upto_shows_every_state_up_to_its_value():
    data = [r for t in (0.0, 1.0, 2.0) for r in rows({"t": t}, text=[f"row {t:g}"])]
    ex = explorer(text_view(data, "text"),
                      controls=[Slider("t", [0, 1, 2], "t", upto=True)], title="upto")
    shown = [t for t in texts(svg_for(ex, t=1)) if t.startswith("row")]
    assert sorted(shown) == ["row 0", "row 1"]


def test_controls_are_labelled_form_inputs_and_the_output_has_a_static_fallback():
    ex = small_explorer()
    bindings = {p["name"]: p["bind"] for p in ex.spec["params"]}
    assert bindings["t"]["input"] == "range" and bindings["t"]["name"].strip() == "step t"
    assert bindings["kind"]["input"] == "select" and bindings["kind"]["options"] == ["enc", "dec"]
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.vegalite.v5+json"]["$schema"].endswith("v5.20.1.json")
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert bundle["text/plain"] == ("Explorer 'small': t (1..3, 3 steps), kind (2 options); "
                                    "6 precomputed cells")


def test_heatmap_draws_a_weight_of_zero_white_and_the_top_of_its_scale_as_matplotlib_does():
    import matplotlib
    from matplotlib import colors

    data = rows({}, weight=torch.tensor([[0.0, 0.5, 1.0]]), row_labels=("q", ["q"]),
                    col_labels=("k", ["a", "b", "c"]))
    ex = explorer(heatmap_view(data, "k", "q", text=False),
                      controls=[Slider("t", [0, 1], "unused")], title="zero")
    fills = {tuple(int(c) for c in rgb.split(","))
             for rgb in re.findall(r'fill="rgb\(([^)]*)\)"', svg_for(ex))}
    reds = matplotlib.colormaps["Reds"]
    for weight in (0.0, 1.0):
        want = tuple(round(255 * c) for c in colors.to_rgb(reds(weight)))
        assert want in fills, f"weight {weight}: {want} not among the cells' colours {fills}"
