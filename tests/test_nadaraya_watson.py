"""Tests of section 10.2's NWKernelRegression (Gaussian-kernel attention pooling)."""

import json
import math

import numpy as np
import pytest
import torch

import d2l_attention as d2l


def numpy_nw(queries, keys, values, w):
    """Independent reference: weights proportional to exp(-((q - k) * w)^2 / 2), per row."""
    out = []
    for q, ks, vs in zip(queries, keys, values):
        k = np.exp(-(((q - ks) * w) ** 2) / 2)
        out.append(float((k / k.sum()) @ vs))
    return np.array(out)


def make_problem(num_queries=5, num_keys=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    queries = torch.rand(num_queries, generator=g) * 5
    keys = torch.rand(num_queries, num_keys, generator=g) * 5
    values = torch.randn(num_queries, num_keys, generator=g)
    return queries, keys, values


def test_output_and_weight_shapes():
    queries, keys, values = make_problem()
    net = d2l.NWKernelRegression(w=1.5)
    out = net(queries, keys, values)
    assert out.shape == (5,)
    assert net.attention_weights.shape == (5, 7)


def test_weights_are_a_distribution_per_query():
    queries, keys, values = make_problem()
    net = d2l.NWKernelRegression(w=2.0)
    net(queries, keys, values)
    weights = net.attention_weights
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5))


def test_zero_sharpness_is_average_pooling():
    queries, keys, values = make_problem()
    net = d2l.NWKernelRegression(w=0.0)
    torch.testing.assert_close(net(queries, keys, values), values.mean(dim=1))


@pytest.mark.parametrize("w", [0.3, 1.0, 4.0])
def test_matches_independent_numpy_computation(w):
    queries, keys, values = make_problem(seed=int(w * 10))
    got = d2l.NWKernelRegression(w=w)(queries, keys, values).detach().numpy()
    want = numpy_nw(queries.double().numpy(), keys.double().numpy(), values.double().numpy(), w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_large_sharpness_picks_the_nearest_key():
    queries = torch.tensor([1.0, 3.0])
    keys = torch.tensor([[0.0, 1.1, 4.0], [2.0, 2.9, 5.0]])
    values = torch.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    out = d2l.NWKernelRegression(w=50.0)(queries, keys, values)
    torch.testing.assert_close(out, torch.tensor([20.0, 50.0]))


def test_gradient_with_respect_to_w_is_finite_and_nonzero():
    queries, keys, values = make_problem()
    net = d2l.NWKernelRegression(w=1.0)
    loss = ((net(queries, keys, values) - 1.0) ** 2).sum()
    loss.backward()
    assert torch.isfinite(net.w.grad).all()
    assert net.w.grad.abs().item() > 0


def test_random_init_is_a_single_learnable_scalar():
    torch.manual_seed(0)
    net = d2l.NWKernelRegression()
    params = list(net.parameters())
    assert len(params) == 1 and params[0].shape == (1,)
    assert 0 <= net.w.item() < 1 and not math.isnan(net.w.item())


@pytest.mark.parametrize(
    "shapes",
    [((5,), (5, 7), (5, 6)),      # keys and values differ
     ((4,), (5, 7), (5, 7)),      # one row per query is required
     ((5,), (5, 7), (4, 7)),      # values need one row per query
     ((5,), (7,), (7,))],         # keys must be 2-D
)
def test_bad_shapes_raise_value_error(shapes):
    """Inconsistent shapes raise a ValueError that names the shape, not a broadcasting error."""
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match="shape"):
        d2l.NWKernelRegression(w=1.0)(q, k, v)


# --- the explorer and measurements in d2l_attention/explore/nadaraya_watson.py -----------------

def small_data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_train, _ = torch.sort(torch.rand(n, generator=g) * 5)
    y_train = torch.randn(n, generator=g)
    x_test = torch.arange(0, 5, 1.0)
    return x_train, y_train, x_test, torch.sin(x_test)


def direct_loo_loss(w, x, y):
    """Leave-one-out loss computed point by point with NWKernelRegression."""
    errors = []
    for i in range(len(x)):
        keep = torch.arange(len(x)) != i
        with torch.no_grad():
            pred = d2l.NWKernelRegression(w=w)(x[i:i + 1], x[keep][None], y[keep][None])
        errors.append((pred.item() - y[i].item()) ** 2)
    return sum(errors) / len(errors)


def test_loo_pairs_leave_out_exactly_the_query():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, _, _ = small_data()
    keys, values = nw.loo_pairs(x, y)
    assert keys.shape == values.shape == (8, 7)
    for i in range(8):
        keep = torch.arange(8) != i
        torch.testing.assert_close(keys[i], x[keep])
        torch.testing.assert_close(values[i], y[keep])


@pytest.mark.parametrize("w", [0.5, 2.0, 6.0])
def test_loo_loss_matches_a_direct_computation(w):
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, _, _ = small_data()
    assert nw.loo_loss(w, x, y) == pytest.approx(direct_loo_loss(w, x, y), rel=1e-5)
    assert nw.loo_loss(w, x, y, reduction="sum") == pytest.approx(
        len(x) * direct_loo_loss(w, x, y), rel=1e-5)


def test_sharpness_states_hold_what_nw_kernel_regression_computes():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data()
    ws, queries = [0.0, 1.0, 3.0], [0.0, 2.5]
    s = nw.sharpness_states(x, y, x_test, y_truth, ws, queries)
    assert len(s["fit"]) == 3 * 5 and len(s["weights"]) == 3 * 2 * 8 and len(s["marker"]) == 6
    assert len(s["text"]) == 3 * 2 * 5
    assert {r["panel"] for r in s["text"]} == {"fit", "weights", "loss"}
    assert len(s["loss"]) == 3 * 2  # one diamond per (w, query): the query's prediction at w
    for w in ws:
        net = d2l.NWKernelRegression(w=w)
        with torch.no_grad():
            y_hat = net(x_test, x.repeat(5, 1), y.repeat(5, 1))
        assert [r["y"] for r in s["fit"] if r["w"] == w] == pytest.approx(y_hat.tolist(), abs=1e-3)
        mse = ((y_hat - y_truth) ** 2).mean().item()
        for q in queries:
            with torch.no_grad():
                y_q = net(torch.tensor([q]), x[None], y[None])
            alpha = net.attention_weights[0]
            assert [r["weight"] for r in s["weights"] if (r["w"], r["q"]) == (w, q)] == \
                pytest.approx(alpha.tolist(), abs=1e-3)
            (marker,) = [r for r in s["marker"] if (r["w"], r["q"]) == (w, q)]
            assert (marker["x"], marker["y"]) == pytest.approx((q, y_q.item()), abs=1e-3)
            text = " ".join(r["text"] for r in s["text"] if (r["w"], r["q"]) == (w, q))
            assert f"test MSE {mse:.3f}" in text and f"prediction {y_q.item():.2f}" in text
            loo = direct_loo_loss(w, x, y)
            assert f"2L(w)/n {loo:.3f}" in text
            (diamond,) = [r for r in s["loss"] if (r["w"], r["q"]) == (w, q)]
            assert (diamond["sharpness"], diamond["y"]) == pytest.approx((w, y_q.item()), abs=1e-3)
            k = int(nw.keys_for_mass(alpha[None])[0])
            assert alpha.sort(descending=True).values[:k].sum() >= 0.9 - 1e-6
            assert k == 1 or alpha.sort(descending=True).values[:k - 1].sum() < 0.9
            assert f"on {k} keys" in text
    # w = 0 is average pooling: the query does not move the weights
    w0 = [r["weight"] for r in s["weights"] if r["w"] == 0.0]
    assert w0 == pytest.approx([1 / 8] * 16, abs=1e-3)


def test_explorer_has_a_sharpness_menu_a_query_slider_and_the_query_curve():
    import copy
    import re

    import vl_convert

    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data(n=20)
    ex = nw.sharpness_explorer(x, y, x_test, y_truth, marks={"trained": 7.777, "best": 3.0})
    w_param, q_param = ex.spec["params"]
    assert w_param["name"] == "w" and w_param["value"] == 1.0
    # the marks join the menu (rounded), and 8 (within 10% of 7.78) leaves it
    assert w_param["bind"]["options"] == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 7.78, 16.0]
    assert "7.78 (trained)" in w_param["bind"]["labels"]
    assert "sharpness" in w_param["bind"]["name"] and "width" not in w_param["bind"]["name"]
    assert q_param["name"] == "q" and q_param["value"] == 2.5
    assert ex.to_json().count("_sample") == 0  # every view carries its full rows
    for w, q in ((0.0, 0.0), (4.0, 5.0), (7.78, 2.5)):
        spec = copy.deepcopy(ex.spec)
        spec["params"][0]["value"], spec["params"][1]["value"] = w, q
        svg = vl_convert.vegalite_to_svg(spec)
        texts = "".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
        assert f"w = {w:g} (" in texts and f"query x = {q:g}:" in texts
        assert f"2L(w)/n {direct_loo_loss(w, x, y):.3f}" in texts
        assert "trained" in texts and "best" in texts  # the marks on the right panel
    # the right panel depends on the query: its curve is this query's prediction over w
    right = [v for v in ex.spec["concat"] if "over w" in json.dumps(v)]
    assert right, "a panel titled with the query's prediction over w"
    assert len(ex.to_json()) < 300_000


def test_query_curves_hold_the_prediction_at_each_query_over_w():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, _, _ = small_data()
    rows = nw.query_curves(x, y, [0.0, 0.5, 2.0], [0.0, 2.5], f=lambda t: 2 * t + 1)
    assert all("w" not in r for r in rows)  # not filtered by the menu, only by the query
    for q in (0.0, 2.5):
        pred = [r["y"] for r in rows if r["q"] == q and r["series"] == "prediction"]
        expected = [d2l.NWKernelRegression(w=w)(torch.tensor([q]), x[None], y[None]).item()
                    for w in (0.0, 0.5, 2.0)]
        assert pred == pytest.approx(expected, abs=1e-3)
        truth = [r["y"] for r in rows if r["q"] == q and r["series"] == "truth"]
        assert truth == pytest.approx([2 * q + 1] * 2)


def test_explorer_readout_prints_the_true_value_at_the_query():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data()
    s = nw.sharpness_states(x, y, x_test, y_truth, [1.0], [0.0, 2.5], f=lambda t: 2 * t + 1)
    fit = [r["text"] for r in s["text"] if r["panel"] == "fit"]
    assert "true value f(x) = 1.00" in fit and "true value f(x) = 6.00" in fit
    # the right panel names the w on its curve whose prediction is nearest f(q)
    right = [r["text"] for r in s["text"] if r["panel"] == "loss" and r["q"] == 2.5]
    (line,) = [t for t in right if t.startswith("closest to f(x) over w: ")]
    w_best = float(line.split("at w = ")[1])
    gaps = {}
    for w in nw.CLOSEST_WS:
        with torch.no_grad():
            y_q = d2l.NWKernelRegression(w=w)(torch.tensor([2.5]), x[None], y[None]).item()
        gaps[w] = abs(y_q - 6.0)
    assert gaps[w_best] == pytest.approx(min(gaps.values()), abs=1e-5)


def test_figures_of_the_training_section_draw_their_inputs(monkeypatch):
    from d2l_attention.explore import nadaraya_watson as nw

    monkeypatch.setattr(d2l.plt, "show", lambda: None)
    ws = [0.5, 1.0, 2.0]
    nw.plot_loo_curves(ws, {"loo": [3, 2, 1], "self": [2, 1, 0], "test": [1, 1, 1]})
    labels = [l.get_label() for l in d2l.plt.gca().get_lines()]
    assert labels[:3] == ["leave-one-out 2L(w)/n", "with self among the keys", "test MSE"]
    d2l.plt.close("all")
    paths = {"summed": [0.5, 1.5, 1.2, 1.0], "mean": [0.5, 0.75, 1.0]}
    nw.plot_sgd_on_loo(ws, [3, 2, 1], paths, book_epochs=2)
    dots = d2l.plt.gca().collections
    assert [list(c.get_offsets()[:, 0]) for c in dots] == [[0.5, 1.5, 1.2], [1.0], [0.5, 0.75, 1.0]]
    assert list(dots[0].get_offsets()[:, 1]) == pytest.approx([3, 1.5, 1.8])  # on the curve
    assert dots[2].get_label() == "mean: 2 epochs, w = 1.00"
    d2l.plt.close("all")


def test_bias_variance_draws_the_mean_and_spread_over_data_sets(monkeypatch):
    from d2l_attention.explore import nadaraya_watson as nw

    monkeypatch.setattr(d2l.plt, "show", lambda: None)
    x = torch.tensor([0.0, 1.0])
    preds = {1.0: torch.tensor([[1.0, 2.0], [3.0, 2.0]]),
             4.0: torch.tensor([[0.0, 0.0], [0.0, 2.0]])}
    nw.plot_bias_variance(x, torch.tensor([0.5, 0.5]), preds)
    axes = d2l.plt.gcf().axes
    assert [ax.get_title() for ax in axes] == ["w = 1, 2 data sets", "w = 4, 2 data sets"]
    assert list(axes[0].get_lines()[1].get_ydata()) == pytest.approx([2.0, 2.0])  # the mean
    band = axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(2 - math.sqrt(2))
    assert band.max() == pytest.approx(2 + math.sqrt(2))
    d2l.plt.close("all")


def test_kernel_shapes_draw_one_row_of_each_kernel(monkeypatch):
    from d2l_attention.explore import nadaraya_watson as nw

    monkeypatch.setattr(d2l.plt, "show", lambda: None)
    x = torch.tensor([1.0, 2.0, 3.0])
    weights = {"Gaussian": torch.tensor([[0.2, 0.6, 0.2], [0.1, 0.3, 0.6]]),
               "boxcar": torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.5, 0.5]])}
    nw.plot_kernel_shapes(x, weights, 2.5, row=1, test_mse={"Gaussian": 0.1, "boxcar": 0.2})
    lines = d2l.plt.gca().get_lines()
    labels = [l.get_label() for l in lines[:2]]
    assert labels == ["Gaussian: test MSE 0.100", "boxcar: test MSE 0.200"]
    assert list(lines[1].get_ydata()) == pytest.approx([0.0, 0.5, 0.5])
    d2l.plt.close("all")


def test_self_vs_loo_bars_draw_the_weights_of_one_row(monkeypatch):
    from d2l_attention.explore import nadaraya_watson as nw

    monkeypatch.setattr(d2l.plt, "show", lambda: None)
    x = torch.arange(8.0)
    a_self = {1.0: torch.rand(8, 8)}
    a_loo = {1.0: a_self[1.0] * (1 - torch.eye(8))}
    nw.plot_self_vs_loo(x, a_self, a_loo, row=3, span=2)
    heights = [p.get_height() for p in d2l.plt.gca().patches]
    assert heights == pytest.approx(a_self[1.0][3, 1:6].tolist() + a_loo[1.0][3, 1:6].tolist())
    assert heights[-3] == 0  # the query's own bar is empty when left out
    d2l.plt.close("all")


def test_column_queries_give_the_same_pooling():
    x, y = torch.arange(6.0), torch.randn(6)
    keys, values = x.repeat(4, 1), y.repeat(4, 1)
    q = torch.tensor([0.5, 1.5, 2.5, 3.5])
    net = d2l.NWKernelRegression(w=1.0)
    assert torch.allclose(net(q, keys, values), net(q[:, None], keys, values))


def test_helpers_run_the_model_class_they_are_given():
    """The notebook passes its own class: every measurement and state must come from it."""
    from d2l_attention.explore import nadaraya_watson as nw

    class Shifted(d2l.NWKernelRegression):  # a visibly different model: predictions + 1
        def forward(self, queries, keys, values):
            return super().forward(queries, keys, values) + 1

    x, y, x_test, y_truth = small_data()
    base, _ = nw.predict(2.0, x_test, x, y)
    shifted, _ = nw.predict(2.0, x_test, x, y, Shifted)
    assert torch.allclose(shifted, base + 1)
    assert nw.loo_loss(2.0, x, y, model_class=Shifted) != pytest.approx(nw.loo_loss(2.0, x, y))
    rows = nw.query_curves(x, y, [2.0], [2.5], model_class=Shifted)
    expected = Shifted(w=2.0)(torch.tensor([2.5]), x[None], y[None]).item()
    assert rows[0]["y"] == pytest.approx(expected, abs=1e-3)
    s = nw.sharpness_states(x, y, x_test, y_truth, [2.0], [2.5], model_class=Shifted)
    assert s["marker"][0]["y"] == pytest.approx(expected, abs=1e-3)
