"""Tests of section 10.3: masked_softmax, AdditiveAttention, DotProductAttention."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import d2l_attention as d2l


def key_mask(valid_lens, batch_size, num_queries, num_keys):
    """Boolean (batch, queries, keys) mask, True where a key may be attended to."""
    lens = valid_lens if valid_lens.dim() == 2 else valid_lens[:, None].expand(-1, num_queries)
    return torch.arange(num_keys)[None, None, :] < lens[:, :, None]


def qkv(batch=3, nq=4, nk=6, d=5, dv=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, nq, d, generator=g), torch.randn(batch, nk, d, generator=g),
            torch.randn(batch, nk, dv, generator=g))


@pytest.mark.parametrize("valid_lens", [torch.tensor([2, 6, 4]),
                                        torch.tensor([[1, 2, 3, 4], [6, 5, 4, 3], [2, 2, 6, 1]])])
def test_dot_product_attention_equals_pytorch_sdpa(valid_lens):
    q, k, v = qkv()
    attention = d2l.DotProductAttention(dropout=0.5).eval()
    got = attention(q, k, v, valid_lens)
    mask = key_mask(valid_lens, 3, 4, 6)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


def test_dot_product_attention_without_mask_equals_sdpa():
    q, k, v = qkv(seed=1)
    got = d2l.DotProductAttention(dropout=0).eval()(q, k, v)
    torch.testing.assert_close(got, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-6)


def test_zero_length_rows_give_zero_output_not_nan():
    q, k, v = qkv()
    attention = d2l.DotProductAttention(dropout=0).eval()
    out = attention(q, k, v, torch.tensor([0, 3, 0]))
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    assert torch.equal(out[2], torch.zeros_like(out[2]))
    assert torch.isfinite(out).all()
    assert torch.equal(attention.attention_weights[0], torch.zeros(4, 6))


@settings(max_examples=50, deadline=None)
@given(batch=st.integers(1, 4), nq=st.integers(1, 5), nk=st.integers(1, 8),
       two_d=st.booleans(), seed=st.integers(0, 10_000), data=st.data())
def test_masked_softmax_properties(batch, nq, nk, two_d, seed, data):
    shape = (batch, nq) if two_d else (batch,)
    count = batch * nq if two_d else batch
    lens = data.draw(st.lists(st.integers(0, nk), min_size=count, max_size=count))
    lens = torch.tensor(lens).reshape(shape)
    X = torch.randn(batch, nq, nk, generator=torch.Generator().manual_seed(seed)) * 10
    W = d2l.masked_softmax(X, lens)
    mask = key_mask(lens, batch, nq, nk)
    assert (W >= 0).all()
    assert torch.equal(W[~mask], torch.zeros_like(W[~mask]))  # masked weights exactly zero
    row_sums = W.sum(dim=-1)
    has_keys = mask.any(dim=-1)
    torch.testing.assert_close(row_sums[has_keys], torch.ones_like(row_sums[has_keys]))
    assert torch.equal(row_sums[~has_keys], torch.zeros_like(row_sums[~has_keys]))


def test_masked_softmax_none_is_plain_softmax():
    X = torch.randn(2, 3, 4)
    torch.testing.assert_close(d2l.masked_softmax(X, None), torch.softmax(X, dim=-1))


def test_masked_softmax_accepts_integer_valued_floats():
    X = torch.randn(2, 2, 4)
    torch.testing.assert_close(d2l.masked_softmax(X, torch.tensor([2.0, 3.0])),
                               d2l.masked_softmax(X, torch.tensor([2, 3])))


def test_gradients_are_finite_including_empty_rows():
    X = torch.randn(2, 3, 5, requires_grad=True)
    W = d2l.masked_softmax(X, torch.tensor([[0, 2, 5], [1, 0, 3]]))
    (W * torch.randn_like(W)).sum().backward()
    assert torch.isfinite(X.grad).all()
    assert torch.equal(X.grad[0, 0], torch.zeros(5))  # an empty row passes no gradient


@pytest.mark.parametrize("valid_lens, message", [
    (torch.tensor([1, 2, 3]), r"\(batch_size,\) = \(2,\)"),          # wrong batch size
    (torch.tensor([[1, 2], [3, 4]]), r"\(batch_size, num_queries\) = \(2, 3\)"),
    (torch.tensor([1, 7]), "num_keys=5"),                              # longer than num_keys
    (torch.tensor([-1, 2]), "between 0 and num_keys"),                # negative
    (torch.tensor([1.5, 2.0]), "whole numbers"),                       # not a length
])
def test_masked_softmax_rejects_bad_valid_lens(valid_lens, message):
    with pytest.raises(ValueError, match=message):
        d2l.masked_softmax(torch.randn(2, 3, 5), valid_lens)


def test_masked_softmax_rejects_non_3d_scores():
    with pytest.raises(ValueError, match="batch_size, num_queries, num_keys"):
        d2l.masked_softmax(torch.randn(3, 5), None)


def test_attention_shape_errors_name_expected_shape():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="batch_size"):
        d2l.DotProductAttention(0)(q, k, v[:2])
    with pytest.raises(ValueError, match="num_kv"):
        d2l.DotProductAttention(0)(q, k, v[:, :5])
    with pytest.raises(ValueError, match="d=5"):
        d2l.DotProductAttention(0)(q, k[..., :4], v)
    with pytest.raises(ValueError, match="query_size=3"):
        d2l.AdditiveAttention(key_size=5, query_size=3, num_hiddens=8, dropout=0)(q, k, v)


def test_additive_attention_matches_hand_computation():
    torch.manual_seed(0)
    q, k, v = qkv(d=5)
    attention = d2l.AdditiveAttention(key_size=5, query_size=5, num_hiddens=8, dropout=0).eval()
    valid_lens = torch.tensor([3, 6, 1])
    got = attention(q, k, v, valid_lens)
    Wq, Wk, wv = attention.W_q.weight, attention.W_k.weight, attention.w_v.weight[0]
    want = torch.zeros_like(got)
    for b in range(3):
        n = int(valid_lens[b])
        for i in range(4):
            scores = torch.stack([wv @ torch.tanh(Wq @ q[b, i] + Wk @ k[b, j]) for j in range(n)])
            want[b, i] = torch.softmax(scores, dim=0) @ v[b, :n]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert attention.attention_weights.shape == (3, 4, 6)
    torch.testing.assert_close(attention.attention_weights.sum(-1), torch.ones(3, 4))
