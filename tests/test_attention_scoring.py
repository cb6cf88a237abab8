"""Tests for section 10.3: masked_softmax, AdditiveAttention, DotProductAttention."""

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.explore import attention_scoring

SETTINGS = settings(max_examples=30, deadline=None)


def keep_mask(valid_lens, batch_size, num_queries, num_keys):
    """Boolean (batch_size, num_queries, num_keys) mask, True where a key takes part."""
    lens = valid_lens if valid_lens.dim() == 2 else valid_lens[:, None].expand(-1, num_queries)
    return torch.arange(num_keys) < lens[:, :, None]


@st.composite
def scores_and_lens(draw, allow_zero=True, two_d=None):
    batch_size = draw(st.integers(1, 4))
    num_queries = draw(st.integers(1, 5))
    num_keys = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 100.0]))
    low = 0 if allow_zero else 1
    if two_d is None:
        two_d = draw(st.booleans())
    shape = (batch_size, num_queries) if two_d else (batch_size,)
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(batch_size, num_queries, num_keys, generator=gen) * scale
    lens = torch.randint(low, num_keys + 1, shape, generator=gen)
    return X, lens


# ------------------------------------------------------------------ masked_softmax


@SETTINGS
@given(scores_and_lens())
def test_masked_softmax_properties(case):
    X, lens = case
    batch_size, num_queries, num_keys = X.shape
    W = d2l.masked_softmax(X, lens)
    keep = keep_mask(lens, batch_size, num_queries, num_keys)
    assert W.shape == X.shape
    assert not W.isnan().any()
    assert (W[keep] >= 0).all()
    assert (W[~keep] == 0).all()  # exactly zero, not merely small
    sums = W.sum(dim=-1)
    nonempty = keep.any(dim=-1)
    assert torch.allclose(sums[nonempty], torch.ones_like(sums[nonempty]), atol=1e-5)
    assert (W[~nonempty] == 0).all()


@SETTINGS
@given(scores_and_lens(allow_zero=False))
def test_masked_softmax_matches_softmax_on_valid_prefix(case):
    X, lens = case
    W = d2l.masked_softmax(X, lens)
    keep = keep_mask(lens, *X.shape)
    # Independent reference in float64: exponentiate, zero the padding, normalise.
    shift = X.double().masked_fill(~keep, float("-inf")).amax(dim=-1, keepdim=True)
    e = torch.exp(X.double() - shift) * keep
    expected = e / e.sum(dim=-1, keepdim=True)
    torch.testing.assert_close(W.double(), expected, atol=1e-6, rtol=1e-5)


@SETTINGS
@given(scores_and_lens(allow_zero=False))
def test_masked_softmax_an_empty_row_leaves_the_other_rows_unchanged(case):
    # Setting one length to 0 must not change, by a single bit, any row that still has keys.
    X, lens = case
    W = d2l.masked_softmax(X, lens)
    lens0 = lens.clone()
    lens0.view(-1)[0] = 0
    W0 = d2l.masked_softmax(X, lens0)
    nonempty = keep_mask(lens0, *X.shape).any(dim=-1)
    assert (~nonempty).any()
    assert (W0[~nonempty] == 0).all()
    torch.testing.assert_close(W0[nonempty], W[nonempty], atol=0, rtol=0)


@SETTINGS
@given(scores_and_lens())
def test_masked_softmax_gradients_finite(case):
    X, lens = case
    X = X.clone().requires_grad_(True)
    W = d2l.masked_softmax(X, lens)
    (W * torch.linspace(-1, 1, W.numel()).reshape(W.shape)).sum().backward()
    assert torch.isfinite(X.grad).all()
    keep = keep_mask(lens, *X.shape)
    assert (X.grad[~keep] == 0).all()


def test_masked_softmax_none_is_plain_softmax():
    torch.manual_seed(0)
    X = torch.randn(2, 3, 5)
    assert torch.equal(d2l.masked_softmax(X, None), torch.softmax(X, dim=-1))


def test_masked_softmax_float_lens_equal_int_lens():
    torch.manual_seed(0)
    X = torch.randn(2, 3, 5)
    lens = torch.tensor([[1, 0, 5], [2, 3, 4]])
    assert torch.equal(d2l.masked_softmax(X, lens), d2l.masked_softmax(X, lens.float()))


def test_masked_softmax_all_masked_row_is_zero_not_uniform():
    X = torch.zeros(1, 1, 4)
    W = d2l.masked_softmax(X, torch.tensor([0]))
    assert torch.equal(W, torch.zeros(1, 1, 4))


@pytest.mark.parametrize(
    "lens, fragment",
    [
        (torch.tensor([1, 2, 3]), "(batch_size,) = (2,)"),
        (torch.tensor([[1, 2]]), "(batch_size, num_queries) = (2, 3)"),
        (torch.ones(2, 3, 1, dtype=torch.long), "(batch_size, num_queries) = (2, 3)"),
        (torch.tensor([2, 6]), "num_keys=5"),
        (torch.tensor([-1, 2]), "between 0 and num_keys=5"),
        (torch.tensor([1.5, 2.0]), "whole numbers"),
    ],
)
def test_masked_softmax_rejects_bad_valid_lens(lens, fragment):
    with pytest.raises(ValueError) as info:
        d2l.masked_softmax(torch.zeros(2, 3, 5), lens)
    assert fragment in str(info.value)


@pytest.mark.parametrize("shape", [(5,), (3, 5), (1, 2, 3, 5)])
def test_masked_softmax_rejects_wrong_ndim(shape):
    with pytest.raises(ValueError, match=r"\(batch_size, num_queries, num_keys\)"):
        d2l.masked_softmax(torch.zeros(shape), None)


# -------------------------------------------------------------- DotProductAttention


@pytest.mark.parametrize("two_d", [False, True])
@SETTINGS
@given(data=st.data())
def test_dot_product_matches_torch_sdpa(two_d, data):
    X, lens = data.draw(scores_and_lens(allow_zero=False, two_d=two_d))
    batch_size, num_queries, num_kv = X.shape
    d = data.draw(st.integers(1, 16))
    value_dim = data.draw(st.integers(1, 6))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    q = torch.randn(batch_size, num_queries, d, generator=gen)
    k = torch.randn(batch_size, num_kv, d, generator=gen)
    v = torch.randn(batch_size, num_kv, value_dim, generator=gen)
    attention = d2l.DotProductAttention(dropout=0.5).eval()
    ours = attention(q, k, v, lens)
    mask = keep_mask(lens, batch_size, num_queries, num_kv)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    assert attention.attention_weights.shape == (batch_size, num_queries, num_kv)


def test_dot_product_without_valid_lens_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
    ours = d2l.DotProductAttention(dropout=0)(q, k, v)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-5)


def test_dot_product_zero_length_rows_give_zero_output_and_finite_grads():
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4, requires_grad=True)
    k = torch.randn(2, 5, 4, requires_grad=True)
    v = torch.randn(2, 5, 3, requires_grad=True)
    lens = torch.tensor([[0, 2, 5], [3, 0, 0]])
    out = d2l.DotProductAttention(dropout=0)(q, k, v, lens)
    assert torch.equal(out[0, 0], torch.zeros(3))
    assert torch.equal(out[1, 1:], torch.zeros(2, 3))
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert torch.equal(q.grad[0, 0], torch.zeros(4))  # an empty row does not depend on its query
    # A batch of only empty rows: zero output everywhere, never NaN.
    out = d2l.DotProductAttention(dropout=0)(q, k, v, torch.tensor([0, 0]))
    assert torch.equal(out, torch.zeros(2, 3, 3))


def test_dot_product_ignores_padding_values():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 1, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 3)
    lens = torch.tensor([2, 4])
    attention = d2l.DotProductAttention(dropout=0)
    out = attention(q, k, v, lens)
    v2, k2 = v.clone(), k.clone()
    v2[0, 2:], v2[1, 4:] = 1e4, -1e4
    k2[0, 2:], k2[1, 4:] = 50.0, 50.0
    assert torch.equal(attention(q, k2, v2, lens), out)


@pytest.mark.parametrize(
    "shapes, fragment",
    [
        (((2, 1, 4), (2, 5, 3), (2, 5, 2)), "(batch_size, num_kv, d=4), got (2, 5, 3)"),
        (((2, 1, 4), (2, 5, 4), (2, 6, 2)), "(batch_size=2, num_kv=5, value_dim)"),
        (((3, 1, 4), (2, 5, 4), (2, 5, 2)), "batch_size"),
        (((1, 4), (2, 5, 4), (2, 5, 2)), "(batch_size, num_queries, query_size)"),
        (((2, 1, 4), (5, 4), (2, 5, 2)), "(batch_size, num_kv, key_size)"),
        (((2, 1, 4), (2, 5, 4), (2, 5)), "(batch_size=2, num_kv=5, value_dim)"),
    ],
)
def test_dot_product_rejects_bad_shapes(shapes, fragment):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError) as info:
        d2l.DotProductAttention(dropout=0)(q, k, v)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- AdditiveAttention


def test_additive_shape_and_weights():
    torch.manual_seed(0)
    attention = d2l.AdditiveAttention(key_size=3, query_size=7, num_hiddens=8, dropout=0.2).eval()
    q, k, v = torch.randn(2, 4, 7), torch.randn(2, 6, 3), torch.randn(2, 6, 5)
    lens = torch.tensor([[6, 1, 3, 2], [4, 4, 5, 6]])
    out = attention(q, k, v, lens)
    assert out.shape == (2, 4, 5)
    W = attention.attention_weights
    assert W.shape == (2, 4, 6)
    torch.testing.assert_close(W.sum(dim=-1), torch.ones(2, 4))
    assert (W[~keep_mask(lens, 2, 4, 6)] == 0).all()


@pytest.mark.parametrize("lens", [None, torch.tensor([3, 6]), torch.tensor([[1, 6, 2], [5, 0, 3]])])
def test_additive_matches_hand_written_computation(lens):
    torch.manual_seed(0)
    key_size, query_size, h = 3, 5, 4
    attention = d2l.AdditiveAttention(key_size, query_size, h, dropout=0).eval()
    q, k, v = torch.randn(2, 3, query_size), torch.randn(2, 6, key_size), torch.randn(2, 6, 2)
    out = attention(q, k, v, lens).double()
    Wq = attention.W_q.weight.double()  # (h, query_size)
    Wk = attention.W_k.weight.double()  # (h, key_size)
    wv = attention.w_v.weight.double().reshape(h)
    expected = torch.zeros(2, 3, 2, dtype=torch.float64)
    for b in range(2):
        for i in range(3):
            if lens is None:
                n = 6
            else:
                n = int(lens[b] if lens.dim() == 1 else lens[b, i])
            if n == 0:
                continue  # no valid key: the output stays a zero vector
            scores = [wv @ torch.tanh(Wq @ q[b, i].double() + Wk @ k[b, j].double())
                      for j in range(n)]
            exps = [math.exp(s.item()) for s in scores]
            total = sum(exps)
            for j in range(n):
                expected[b, i] += exps[j] / total * v[b, j].double()
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "shapes, fragment",
    [
        (((2, 1, 6), (2, 5, 3), (2, 5, 2)), "query_size=7"),
        (((2, 1, 7), (2, 5, 4), (2, 5, 2)), "key_size=3"),
        (((2, 1, 7), (2, 5, 3), (2, 4, 2)), "(batch_size=2, num_kv=5, value_dim)"),
        (((2, 7), (2, 5, 3), (2, 5, 2)), "(batch_size, num_queries, query_size)"),
    ],
)
def test_additive_rejects_bad_shapes(shapes, fragment):
    q, k, v = (torch.zeros(s) for s in shapes)
    attention = d2l.AdditiveAttention(key_size=3, query_size=7, num_hiddens=4, dropout=0)
    with pytest.raises(ValueError) as info:
        attention(q, k, v)
    assert fragment in str(info.value)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 3)
    attention = d2l.DotProductAttention(dropout=0.5)
    attention.eval()
    first = attention(q, k, v)
    assert torch.equal(attention(q, k, v), first)
    attention.train()
    assert not torch.equal(attention(q, k, v), first)


# ------------------------------------------------------------ shared structure


def test_attention_pooling_needs_a_scoring_function():
    with pytest.raises(NotImplementedError, match="scoring function"):
        d2l.AttentionPooling(dropout=0.0)(torch.zeros(1, 1, 2), torch.zeros(1, 3, 2),
                                          torch.zeros(1, 3, 1))


@pytest.mark.parametrize("make", [lambda: d2l.AdditiveAttention(3, 5, 4, 0.0),
                                  lambda: d2l.DotProductAttention(0.0)])
def test_scores_feed_the_masked_softmax(make):
    """forward == masked_softmax(score(q, k)) @ v: the subclass only chooses the scores."""
    torch.manual_seed(0)
    attention = make().eval()
    d_q, d_k = (5, 3) if isinstance(attention, d2l.AdditiveAttention) else (3, 3)
    q, k, v = torch.randn(2, 4, d_q), torch.randn(2, 6, d_k), torch.randn(2, 6, 2)
    lens = torch.tensor([[6, 1, 0, 3], [2, 2, 5, 4]])
    out = attention(q, k, v, lens)
    weights = d2l.masked_softmax(attention.score(q, k), lens)
    torch.testing.assert_close(attention.attention_weights, weights)
    torch.testing.assert_close(out, torch.bmm(weights, v))


def test_additive_hidden_tensor_passes_through_w_v():
    """The (batch, num_queries, num_kv, h) hidden tensor goes through w_v (hooks can see it)."""
    seen = []
    attention = d2l.AdditiveAttention(key_size=4, query_size=6, num_hiddens=16, dropout=0.0)
    attention.w_v.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].shape))
    attention(torch.randn(2, 3, 6), torch.randn(2, 5, 4), torch.randn(2, 5, 2))
    assert seen == [(2, 3, 5, 16)]
    assert set(attention.state_dict()) == {"W_k.weight", "W_q.weight", "w_v.weight"}


# ------------------------------------------- masked_softmax: sync-free, same numbers as before


def masked_softmax_before(X, valid_lens):
    """masked_softmax as it was before it became sync-free (kept here as the reference): it read
    `has_key.all()` on the host and took a shorter path when every row had a valid key."""
    lens = torch.as_tensor(valid_lens)
    lens = lens[:, None] if lens.dim() == 1 else lens
    keep = torch.arange(X.shape[-1]) < lens[..., None]
    has_key = keep[..., :1]
    if has_key.all():
        return F.softmax(X.masked_fill(~keep, float("-inf")), dim=-1)
    scores = X.masked_fill(has_key & ~keep, float("-inf"))
    return torch.where(has_key, F.softmax(scores, dim=-1), 0.0)


@settings(max_examples=60, deadline=None)
@given(scores_and_lens(), st.booleans())
def test_masked_softmax_is_bit_identical_to_the_previous_formula(case, no_empty_rows):
    """10.4 and 10.7 train on masked_softmax: for every row with at least one valid key the
    weights and the gradients must be exactly (bit for bit) what the previous code gave."""
    X, lens = case
    if no_empty_rows:  # the batches of 10.4 and 10.7: the previous code's shorter path
        lens = lens.clamp(min=1)
    upstream = torch.randn(X.shape, generator=torch.Generator().manual_seed(1))
    grads, weights = [], []
    for f in (d2l.masked_softmax, masked_softmax_before):
        x = X.clone().requires_grad_(True)
        w = f(x, lens)
        (w * upstream).sum().backward()
        weights.append(w.detach())
        grads.append(x.grad)
    rows = keep_mask(lens, *X.shape).any(dim=-1)
    assert torch.equal(weights[0][rows], weights[1][rows])
    assert torch.equal(grads[0][rows], grads[1][rows])
    assert (weights[0][~rows] == 0).all() and (grads[0][~rows] == 0).all()


@pytest.mark.parametrize("two_d", [False, True])
def test_masked_softmax_reads_no_values_off_the_device(two_d):
    """On the meta device a tensor has no values: any host synchronisation (`.item()`, `if
    tensor:`, `.all()` in a branch) raises. masked_softmax and the attention classes must not."""
    X = torch.randn(2, 3, 5, device="meta")
    lens = torch.zeros((2, 3) if two_d else (2,), dtype=torch.long, device="meta")
    assert d2l.masked_softmax(X, lens).shape == (2, 3, 5)
    q, k, v = (torch.randn(2, n, 4, device="meta") for n in (3, 5, 5))
    for attention in (d2l.DotProductAttention(0.1), d2l.AdditiveAttention(4, 4, 8, 0.1)):
        attention.to("meta")
        assert attention(q, k, v, lens).shape == (2, 3, 4)


# ------------------------------------------------------------------ explorer states


def test_masking_states_hold_what_masked_softmax_returns_for_each_valid_length():
    scores = torch.randn(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weight_rows, text_rows = attention_scoring.masking_states(scores, lengths=[0, 2, 5])
    assert len(weight_rows) == 3 * 2 * 3 * 5 and len(text_rows) == 3 * 2
    for L in (0, 2, 5):
        for causal in (False, True):
            lens = torch.tensor([[min(i + 1, L) for i in range(3)]] if causal else [L])
            expected = d2l.masked_softmax(scores[None], lens)[0]
            state = [r for r in weight_rows if (r["valid_len"], r["causal"]) == (L, causal)]
            assert [r["weight"] for r in state] == pytest.approx(expected.reshape(-1).tolist(),
                                                                 abs=1e-4)
            assert [(r["query"], r["key"]) for r in state][:6] == [
                ("q0", "k0"), ("q0", "k1"), ("q0", "k2"), ("q0", "k3"), ("q0", "k4"), ("q1", "k0")]
            (line,) = [r["text"] for r in text_rows if (r["valid_len"], r["causal"]) == (L, causal)]
            keep = torch.arange(5) < lens[0][..., None] if causal else torch.arange(5) < L
            masked = [r["masked"] for r in state]
            assert masked == (~keep.expand(3, 5)).int().reshape(-1).tolist()
            # masked_softmax fills masked scores with -inf, except in a row with no key (L = 0),
            # which it leaves unfilled
            filled = [r["filled"] for r in state]
            assert filled == ([0] * 15 if L == 0 else masked)
            assert ("left unfilled" in line) == (L == 0)
            assert all(r["weight"] == 0 for r in state if r["masked"])
            assert [r["score"] for r in state] == pytest.approx(scores.reshape(-1).tolist(),
                                                                abs=1e-4)
            assert f"{sum(masked)} of 15 cells masked" in line
            assert f"valid_lens = {lens.reshape(-1).tolist()}" in line
            assert line.endswith("row sums: 0.00" if L == 0 else "row sums: 1.00")


def test_masking_explorer_masks_the_circle_scores_and_zero_is_white():
    explorer = attention_scoring.masking()
    assert [(c.name, c.default) for c in explorer.controls] == [("valid_len", 6),
                                                                 ("causal", False)]
    weights = explorer.views[0].data

    def state(L, causal):
        return torch.tensor([r["weight"] for r in weights
                             if r["valid_len"] == L and r["causal"] == causal]).reshape(10, 10)

    causal = state(10, True)
    assert torch.equal(causal, causal.tril()) and (causal.diagonal() > 0).all()
    assert state(10, False).argmax(dim=-1).tolist() == list(range(10))  # query i = key i
    # Masked: the weight moves to the nearest visible key, k_{L-1} or k0 round the circle.
    assert state(6, False).argmax(dim=-1).tolist() == [0, 1, 2, 3, 4, 5, 5, 5, 0, 0]
    assert state(4, False).argmax(dim=-1).tolist() == [0, 1, 2, 3, 3, 3, 3, 0, 0, 0]
    assert torch.equal(state(6, True)[6:], state(6, False)[6:])  # exercise 6
    # Vega draws weight 0 with matplotlib's Reds at 0, the colour show_heatmaps gives it.
    assert "#fff5f0" in json.dumps(explorer.spec)
    # Both heatmaps (scores with -inf, weights) draw the one shared dataset, each its own colours.
    assert explorer.spec["datasets"]["cells"] == weights
    assert explorer.spec["resolve"] == {"scale": {"color": "independent"}}
    assert '"-inf"' in json.dumps(explorer.spec)


def test_masking_explorer_keeps_its_layout_when_causal_is_ticked():
    # The causal text line is longer; laid out by the panels' sizes, nothing moves.
    import copy
    import re

    import vl_convert
    explorer = attention_scoring.masking()
    widths = []
    for causal in (False, True):
        spec = copy.deepcopy(explorer.spec)
        for param in spec["params"]:
            if param["name"] == "causal":
                param["value"] = causal
        widths.append(re.search(r'width="([\d.]+)"', vl_convert.vegalite_to_svg(spec)).group(1))
    assert widths[0] == widths[1]


def test_circle_scores_are_the_scaled_dot_products_of_keys_on_a_circle():
    scores = attention_scoring.circle_scores(10, radius=3.0)
    assert scores.shape == (10, 10)
    assert scores.diagonal().tolist() == pytest.approx([9 / math.sqrt(2)] * 10)
    assert scores[0, 5].item() == pytest.approx(-9 / math.sqrt(2))  # opposite keys
    assert torch.allclose(scores, scores.T)


def test_temperature_states_hold_softmax_weights_and_the_gradient_of_one_weight():
    scores = attention_scoring.ten_scores()
    torch.manual_seed(0)  # ten_scores is the notebook's row: one query, 10 keys, d = 256
    assert torch.equal(scores, (torch.randn(1, 256) @ torch.randn(10, 256).T)[0])
    weights, grads, texts = attention_scoring.temperature_states(scores, taus=(1, 16), target=2)
    assert len(weights) == len(grads) == 2 * 10 and len(texts) == 2
    for tau in (1, 16):
        a = F.softmax(scores / tau, dim=-1)
        jac = torch.autograd.functional.jacobian(lambda x: F.softmax(x, dim=-1), scores / tau)
        stored = [r["weight"] for r in weights if r["tau"] == tau]
        assert stored == pytest.approx(a.tolist(), abs=1e-4)
        stored = [r["grad"] for r in grads if r["tau"] == tau]
        assert stored == pytest.approx(jac[2].tolist(), abs=1e-4)
    line = {r["tau"]: r["text"] for r in texts}
    assert "(saturated)" in line[1] and "(not saturated)" in line[16]
    # the gradient that reaches the score s_2 = q.k_2 is the one with respect to z_2, over tau
    to_s = torch.autograd.functional.jacobian(lambda x: F.softmax(x / 16, dim=-1), scores)[2, 2]
    assert line[16].endswith(f"d alpha_2 / d s_2 = {to_s.item():.4f}")


def test_temperature_explorer_starts_unscaled_and_offers_sqrt_d():
    explorer = attention_scoring.temperature()
    (control,) = explorer.controls
    assert control.default == 1 and 16 in control.options and 256 in control.options
    top = {}
    for r in explorer.views[1].data:
        top[r["tau"]] = max(top.get(r["tau"], 0.0), r["weight"])
    assert top[1] > 0.99 and top[16] < 0.5 and top[256] < 0.12
    grad_k2 = {r["tau"]: r["grad"] for r in explorer.views[2].data if r["key"] == "k2"}
    assert grad_k2[1] == 0 and max(grad_k2, key=grad_k2.get) == 16


def test_winner_map_shows_short_keys_never_win_under_the_dot_product():
    axes = attention_scoring.plot_winner_map(steps=61)
    dot, gauss = (ax.images[0].get_array() for ax in axes)
    assert set(dot.compressed().tolist()) == {1, 3, 5}  # ties (the origin, ...) are blank
    assert set(gauss.compressed().tolist()) == set(range(6))
    d2l.plt.close("all")


def test_explorers_are_not_in_the_book_api():
    for name in ("masking_states", "temperature_states", "masking", "temperature",
                 "direction_target", "jacobian_norms", "comparison", "comparison_states",
                 "hexagon_keys", "scoring_functions", "retrieval_task", "plot_rows",
                 "KeyProjectedDotProduct", "circle_scores", "cost",
                 "ten_scores", "plot_winner_map", "plot_sweep", "plot_runs", "run_summary"):
        assert not hasattr(d2l, name)


def test_jacobian_norms_match_autograd():
    s = torch.randn(3, 5, dtype=torch.float64)
    a = torch.softmax(s, dim=-1)
    for row, norm in zip(s, attention_scoring.jacobian_norms(a)):
        jac = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, dim=-1), row)
        assert torch.isclose(jac.norm(), norm)


def test_cost_measures_the_hidden_tensor_additive_attention_keeps_for_backward():
    measured = attention_scoring.cost(batch_size=2, num_queries=8, num_kv=6, size=16, repeats=1)
    (t_add, m_add), (t_dot, m_dot) = measured["additive"], measured["scaled dot product"]
    assert t_add > 0 and t_dot > 0
    assert m_add > 2 * 8 * 6 * 16 * 4  # the (b, n, m, h) tanh output is saved
    assert m_dot < m_add / 3


def test_comparison_states_hold_the_weights_of_the_taught_classes():
    weights, arrows, text = attention_scoring.comparison_states(angles=(0, 90))
    keys = attention_scoring.hexagon_keys()
    q = torch.tensor([[[2.0, 0.0]]], dtype=torch.float64)
    dot = d2l.DotProductAttention(dropout=0.0)
    dot(q, keys[None], keys[None])
    got = [r["weight"] for r in weights if r["angle"] == 0 and r["function"] == "scaled dot"]
    assert torch.allclose(torch.tensor(got, dtype=torch.float64), dot.attention_weights[0, 0],
                          atol=0.006)
    # general q^T W k with W^T q = q turned by 60 degrees: the scaled dot product of that query
    turned = q @ attention_scoring.rotation(-60.0)
    assert torch.allclose(turned[0, 0], torch.tensor([1.0, 3 ** 0.5], dtype=torch.float64))
    general = [r["weight"] for r in weights
               if r["angle"] == 0 and r["function"].startswith("general")]
    assert max(general) == general[1] > 0.9
    # additive attention: the taught class, and |score| <= ||w_v||_1 for any query and key
    for name, model in attention_scoring.additive_models().items():
        w = [r["weight"] for r in weights if r["angle"] == 90 and r["function"] == name]
        model(q @ attention_scoring.rotation(90.0).T, keys[None], keys[None])
        assert torch.allclose(torch.tensor(w, dtype=torch.float64),
                              model.attention_weights[0, 0].detach(), atol=0.006)
        far = 100 * torch.randn(1, 50, 2, dtype=torch.float64)
        assert model.score(far, far).abs().max() <= model.w_v.weight.abs().sum() + 1e-9
    assert len(text) == 2 * 2 and all("<= ||w_v||_1" in r["text"] for r in text)
    assert {r["label"] for r in arrows} == {"q", "k0", "k1", "k2", "k3", "k4", "k5"}


def test_short_keys_never_win_and_small_additive_weights_ignore_the_query():
    weights, _, _ = attention_scoring.comparison_states()
    tops = {}
    for r in weights:
        key = (r["function"], r["angle"])
        if r["weight"] > tops.get(key, (None, -1))[1]:
            tops[key] = (r["key"], r["weight"])
    dot_tops = {k for (f, _), (k, _) in tops.items() if f == "scaled dot"}
    assert dot_tops == {"k1 (|k|=3)", "k3 (|k|=3)", "k5 (|k|=3)"}
    small = {k for (f, _), (k, _) in tops.items() if f == "additive (untrained), small W"}
    assert small == {"k1 (|k|=3)"}
    # the Gaussian kernel -|q - k|^2 / 2 gives the nearest key the most weight: short keys win too
    gauss = {a: k for (f, a), (k, _) in tops.items() if f.startswith("Gaussian")}
    assert set(gauss.values()) == {f"k{j} (|k|={int(n)})"
                                   for j, n in enumerate(attention_scoring.KEY_LENGTHS)}
    assert gauss[30] == gauss[0] == "k0 (|k|=1)"
    explorer = attention_scoring.comparison()
    assert [(c.name, c.default) for c in explorer.controls] == [("angle", 30)]
    assert len(explorer.to_json()) < 300_000


def test_gaussian_kernel_score_is_a_dot_product_with_a_key_length_penalty():
    funcs = attention_scoring.scoring_functions()
    (name,) = [n for n in funcs if n.startswith("Gaussian")]
    keys = attention_scoring.hexagon_keys()[None]
    q = torch.randn(1, 5, 2, dtype=torch.float64)
    shifted = q @ keys.transpose(1, 2) - 0.5 * (keys ** 2).sum(dim=-1)[:, None, :]
    torch.testing.assert_close(torch.softmax(funcs[name](q, keys), dim=-1),
                               torch.softmax(shifted, dim=-1))


def test_retrieval_task_is_seeded_and_turns_the_chosen_key():
    W1, batches1 = attention_scoring.retrieval_task(d=8, steps=2, batch=4, num_keys=3)
    W2, batches2 = attention_scoring.retrieval_task(d=8, steps=2, batch=4, num_keys=3)
    assert torch.equal(W1.weight, W2.weight)
    for (k1, v1, x1, w1, t1), (k2, v2, x2, w2, t2) in zip(batches1, batches2):
        assert all(torch.equal(a, b) for a, b in ((k1, k2), (v1, v2), (x1, x2), (w1, w2), (t1, t2)))
        chosen = k1[torch.arange(4), w1]
        assert torch.allclose(x1[:, 0].norm(dim=-1), chosen.norm(dim=-1))  # a rotation
        assert torch.equal(t1, v1[torch.arange(4), w1])


def test_run_summary_averages_gradients_of_saturated_and_other_rows():
    log = [dict(loss=1.0, saturated=torch.tensor([True, False]), grad=torch.tensor([1e-4, 0.2]),
                right=torch.tensor([False, True]))] * 10
    (s,) = attention_scoring.run_summary(log, windows=((0, 10),))
    assert s["saturated"] == 0.5 and s["wrong_saturated"] == 1.0 and s["saturated_and_wrong"] == 0.5
    assert math.isnan(s["moved"])  # not logged
    assert math.isclose(s["grad_saturated"], 1e-4, rel_tol=1e-6)
    assert math.isclose(s["grad_other"], 0.2, rel_tol=1e-6)


def test_comparison_explorer_states_the_prose_reads():
    """The numbers cell 30 reads off explorer states it does not store."""
    weights, _, _ = attention_scoring.comparison_states()

    def row(function, angle):
        return {r["key"].split(" ")[0]: r["weight"] for r in weights
                if r["function"].startswith(function) and r["angle"] == angle}

    def top(function, angle):
        w = row(function, angle)
        return max(w, key=w.get), max(w.values())

    assert top("scaled dot", 30)[0] == "k1" and top("Gaussian", 30)[0] == "k0"
    assert top("additive (untrained), large W", 30) == ("k0", pytest.approx(0.68, abs=0.005))
    assert top("additive (untrained), large W", 195) == ("k0", pytest.approx(0.36, abs=0.005))
    small = [row("additive (untrained), small W", a)["k1"] for a in range(0, 360, 15)]
    assert min(small) == pytest.approx(0.28, abs=0.005)
    assert max(small) == pytest.approx(0.42, abs=0.005)
    for angle in range(0, 360, 15):  # the dot products never put a short key on top
        for function in ("scaled dot", "general"):
            assert top(function, angle)[0] in {"k1", "k3", "k5"}
