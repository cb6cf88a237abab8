"""Tests of section 10.2's NWKernelRegression (Gaussian-kernel attention pooling)."""

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
     ((5, 1), (5, 7), (5, 7)),    # queries must be 1-D
     ((5,), (7,), (7,))],         # keys must be 2-D
)
def test_bad_shapes_raise_value_error(shapes):
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
def test_loss_curves_match_nw_kernel_regression(w):
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data()
    curves = nw.loss_curves(x, y, x_test, y_truth, [w])
    assert curves["loo"][0] == pytest.approx(direct_loo_loss(w, x, y), rel=1e-5)
    with torch.no_grad():
        net = d2l.NWKernelRegression(w=w)
        fit = net(x, x.repeat(8, 1), y.repeat(8, 1))
        y_hat = net(x_test, x.repeat(5, 1), y.repeat(5, 1))
    assert curves["self"][0] == pytest.approx(((fit - y) ** 2).mean().item(), rel=1e-5)
    assert curves["test"][0] == pytest.approx(((y_hat - y_truth) ** 2).mean().item(), rel=1e-5)


def test_loo_gradient_is_autograd_of_the_summed_loss():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, _, _ = small_data()
    h = 1e-3
    numeric = (direct_loo_loss(2.0 + h, x.double(), y.double())
               - direct_loo_loss(2.0 - h, x.double(), y.double())) * len(x) / (2 * h)
    assert nw.loo_gradient(2.0, x, y) == pytest.approx(numeric, rel=1e-3, abs=1e-4)


def test_local_linear_is_exact_on_a_line_and_nw_is_not_at_the_edge():
    from d2l_attention.explore import nadaraya_watson as nw

    x = torch.linspace(0, 5, 30, dtype=torch.float64)
    y = 2 * x + 1
    queries = torch.tensor([0.0, 2.5, 5.0], dtype=torch.float64)
    torch.testing.assert_close(nw.local_linear(2.0, queries, x, y), 2 * queries + 1)
    study = nw.boundary_bias(x, y, queries, 2 * queries + 1, ws=(2.0,))[2.0]
    assert study["error"][0] > 0.1 and study["shift"][0] > 0.05  # NW pulled inwards at x = 0
    assert study["local_linear_error"].abs().max() < 1e-9


def test_sharpness_states_hold_what_nw_kernel_regression_computes():
    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data()
    ws, curve_ws = [1.0, 3.0], [1.0, 2.0]
    s = nw.sharpness_states(x, y, x_test, y_truth, ws, curve_ws, query=2.5)
    assert len(s["fit"]) == 2 * 5 and len(s["weights"]) == 2 * 8 and len(s["marker"]) == 2
    assert len(s["at_w"]) == 2 * 2 and len(s["curves"]) == 2 * 2 and len(s["text"]) == 2 * 2
    for w in ws:
        net = d2l.NWKernelRegression(w=w)
        with torch.no_grad():
            y_hat = net(x_test, x.repeat(5, 1), y.repeat(5, 1))
            y_q = net(torch.tensor([2.5]), x[None], y[None])
        alpha = net.attention_weights[0]
        assert [r["y"] for r in s["fit"] if r["w"] == w] == pytest.approx(y_hat.tolist(), abs=1e-3)
        assert [r["weight"] for r in s["weights"] if r["w"] == w] == pytest.approx(
            alpha.tolist(), abs=1e-3)
        (marker,) = [r for r in s["marker"] if r["w"] == w]
        assert (marker["x"], marker["y"]) == pytest.approx((2.5, y_q.item()), abs=1e-3)
        at_w = {r["series"]: r["loss"] for r in s["at_w"] if r["w"] == w}
        assert at_w["leave-one-out L(w)/n"] == pytest.approx(direct_loo_loss(w, x, y), abs=1e-3)
        assert at_w["test MSE"] == pytest.approx(((y_hat - y_truth) ** 2).mean().item(),
                                                 abs=1e-3)
        assert any(f"{at_w['test MSE']:.3f}" in r["text"] for r in s["text"] if r["w"] == w)
    curve = {(r["sharpness"], r["series"]): r["loss"] for r in s["curves"]}
    assert curve[(2.0, "leave-one-out L(w)/n")] == pytest.approx(direct_loo_loss(2.0, x, y),
                                                                 abs=1e-3)


def test_explorer_has_one_sharpness_slider_starting_at_4_and_draws_both_diamonds():
    import copy
    import re

    import vl_convert

    from d2l_attention.explore import nadaraya_watson as nw

    x, y, x_test, y_truth = small_data(n=20)
    ex = nw.sharpness_explorer(x, y, x_test, y_truth, ws=[1.0, 2.0, 3.0, 4.0])
    (param,) = ex.spec["params"]
    assert param["name"] == "w" and param["value"] == 4.0
    assert "sharpness" in param["bind"]["name"] and "width" not in param["bind"]["name"]
    # one diamond per curve in every state: the LOO loss and the test MSE
    for w in (1.0, 4.0):
        assert sorted(r["series"] for r in ex.states["at_w"] if r["w"] == w) == [
            "leave-one-out L(w)/n", "test MSE"]
        spec = copy.deepcopy(ex.spec)
        spec["params"][0]["value"] = w
        svg = vl_convert.vegalite_to_svg(spec)
        assert f"w = {w:g} (sigma" in "".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    assert len(ex.to_json()) < 300_000
