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
