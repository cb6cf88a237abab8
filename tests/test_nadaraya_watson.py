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


def test_zero_width_is_average_pooling():
    queries, keys, values = make_problem()
    net = d2l.NWKernelRegression(w=0.0)
    torch.testing.assert_close(net(queries, keys, values), values.mean(dim=1))


@pytest.mark.parametrize("w", [0.3, 1.0, 4.0])
def test_matches_independent_numpy_computation(w):
    queries, keys, values = make_problem(seed=int(w * 10))
    got = d2l.NWKernelRegression(w=w)(queries, keys, values).detach().numpy()
    want = numpy_nw(queries.double().numpy(), keys.double().numpy(), values.double().numpy(), w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_large_width_picks_the_nearest_key():
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


def test_kernel_width_states_hold_what_nw_kernel_regression_computes():
    g = torch.Generator().manual_seed(0)
    x_train, _ = torch.sort(torch.rand(8, generator=g) * 5)
    y_train = torch.randn(8, generator=g)
    x_test = torch.arange(0, 5, 1.0)
    y_truth = torch.sin(x_test)
    widths, queries, w_path, curve_widths = [1.0, 3.0], [0.0, 2.5, 5.0], [0.5, 2.0, 2.5], [1.0, 2.0]
    states = d2l.kernel_width_states(x_train, y_train, x_test, y_truth, widths, queries, w_path,
                                     curve_widths, decimals=3)
    assert len(states["fit"]) == 2 * 5 and len(states["marker"]) == 2 * 3
    assert len(states["text"]) == 2 + 2 * 3 and len(states["loss_at_w"]) == 2
    assert len(states["curve"]) == 2 * 2 and len(states["path"]) == 3
    keep = ~torch.eye(8, dtype=torch.bool)
    loo_keys, loo_values = (t.repeat(8, 1)[keep].reshape(8, 7) for t in (x_train, y_train))

    def loo_loss(w):
        with torch.no_grad():
            pred = d2l.NWKernelRegression(w=w)(x_train, loo_keys, loo_values)
        return ((pred - y_train) ** 2).mean().item()

    for w in widths:
        net = d2l.NWKernelRegression(w=w)
        with torch.no_grad():
            y_hat = net(x_test, x_train.repeat(5, 1), y_train.repeat(5, 1))
        stored = [r["y"] for r in states["fit"] if r["w"] == w]
        assert stored == pytest.approx(y_hat.tolist(), abs=1e-3)
        (loss,) = [r["loss"] for r in states["loss_at_w"] if r["w"] == w]
        assert loss == pytest.approx(loo_loss(w), abs=1e-3)
        (line,) = [r["text"] for r in states["text"] if r["w"] == w and r["line"] == 0]
        assert f"{((y_hat - y_truth) ** 2).mean().item():.3f}" in line
        with torch.no_grad():
            pred = net(torch.tensor(queries), x_train.repeat(3, 1), y_train.repeat(3, 1))
        for q, y_q, alpha in zip(queries, pred, net.attention_weights):
            rows = [r for r in states["weights"] if (r["w"], r["query"]) == (w, q)]
            visible = alpha.round(decimals=3) > 0
            assert [r["x"] for r in rows] == pytest.approx(x_train[visible].tolist(), abs=1e-3)
            assert [r["weight"] for r in rows] == pytest.approx(alpha[visible].tolist(), abs=1e-3)
            assert 0 < len(rows) <= 8
            (marker,) = [r for r in states["marker"] if (r["w"], r["query"]) == (w, q)]
            assert (marker["x"], marker["y"]) == pytest.approx((q, y_q.item()), abs=1e-3)
    path = [(r["epoch"], r["width"], r["loss"]) for r in states["path"]]
    assert path == [(t, pytest.approx(w, abs=1e-3), pytest.approx(loo_loss(w), abs=1e-3))
                    for t, w in enumerate(w_path)]
    curve = {(r["width"], r["curve"]): r["loss"] for r in states["curve"]}
    assert curve[(2.0, "leave-one-out loss L(w)/n")] == pytest.approx(loo_loss(2.0), abs=1e-3)
