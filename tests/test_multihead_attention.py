"""Tests of section 10.5: transpose_qkv / transpose_output and MultiHeadAttention."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import d2l_attention as d2l
from d2l_attention import testing


# torch.nn.MultiheadAttention needs query size == embed_dim; keys and values may differ.
@pytest.mark.parametrize("sizes", [(16, 16, 16), (16, 12, 20)])
def test_matches_torch_multihead_attention_1d_valid_lens(sizes):
    query_size, key_size, value_size = sizes
    num_hiddens, num_heads, batch, nq, nk = 16, 4, 3, 5, 7
    torch.manual_seed(0)
    ours = d2l.MultiHeadAttention(key_size, query_size, value_size, num_hiddens, num_heads,
                                  dropout=0.3).eval()
    ref = testing.torch_multihead_attention(ours)
    q = torch.randn(batch, nq, query_size)
    k, v = torch.randn(batch, nk, key_size), torch.randn(batch, nk, value_size)
    valid_lens = torch.tensor([3, 7, 1])
    padding = torch.arange(nk)[None, :] >= valid_lens[:, None]  # True = ignore
    want, _ = ref(q, k, v, key_padding_mask=padding, need_weights=False)
    torch.testing.assert_close(ours(q, k, v, valid_lens), want, atol=1e-5, rtol=1e-5)


def test_matches_torch_multihead_attention_2d_valid_lens():
    num_hiddens, num_heads, batch, nq, nk = 12, 3, 2, 4, 6
    torch.manual_seed(1)
    ours = d2l.MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens, num_heads,
                                  dropout=0).eval()
    ref = testing.torch_multihead_attention(ours)
    x = torch.randn(batch, nq, num_hiddens)
    kv = torch.randn(batch, nk, num_hiddens)
    valid_lens = torch.tensor([[1, 2, 3, 4], [6, 5, 4, 3]])
    blocked = torch.arange(nk)[None, None, :] >= valid_lens[:, :, None]  # (batch, nq, nk)
    attn_mask = blocked.repeat_interleave(num_heads, dim=0)  # torch wants (batch*heads, nq, nk)
    want, _ = ref(x, kv, kv, attn_mask=attn_mask, need_weights=False)
    torch.testing.assert_close(ours(x, kv, kv, valid_lens), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("valid_lens", [None, torch.tensor([2, 5]),
                                        torch.tensor([[1, 2, 3], [5, 4, 3]])])
def test_output_and_weight_shapes(valid_lens):
    net = d2l.MultiHeadAttention(30, 20, 40, num_hiddens=100, num_heads=5, dropout=0).eval()
    out = net(torch.randn(2, 3, 20), torch.randn(2, 5, 30), torch.randn(2, 5, 40), valid_lens)
    assert out.shape == (2, 3, 100)
    assert net.attention.attention_weights.shape == (10, 3, 5)


def test_heads_see_their_own_example_lengths():
    net = d2l.MultiHeadAttention(8, 8, 8, num_hiddens=8, num_heads=2, dropout=0).eval()
    x = torch.randn(2, 3, 8)
    net(x, x, x, torch.tensor([1, 3]))
    weights = net.attention.attention_weights  # rows: b0h0, b0h1, b1h0, b1h1
    assert torch.equal(weights[:2, :, 1:], torch.zeros(2, 3, 2))
    assert (weights[2:] > 0).all()


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 4), n=st.integers(1, 6), head_dim=st.integers(1, 5),
       num_heads=st.integers(1, 4))
def test_transpose_round_trip_is_exact(batch, n, head_dim, num_heads):
    X = torch.randn(batch, n, head_dim * num_heads)
    Y = d2l.transpose_qkv(X, num_heads)
    assert Y.shape == (batch * num_heads, n, head_dim)
    assert torch.equal(d2l.transpose_output(Y, num_heads), X)


def test_transpose_qkv_puts_each_head_in_its_own_row():
    X = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    Y = d2l.transpose_qkv(X, 2)
    # head 1 of example 0 holds the last two features of every position of example 0
    assert torch.equal(Y[1], X[0, :, 2:])
    assert torch.equal(Y[2], X[1, :, :2])


def test_indivisible_hidden_size_names_both_numbers():
    with pytest.raises(ValueError, match=r"num_hiddens=100.*num_heads=3"):
        d2l.MultiHeadAttention(10, 10, 10, num_hiddens=100, num_heads=3, dropout=0)


@pytest.mark.parametrize("valid_lens", [None, torch.tensor([2, 6])])
def test_per_head_weights_and_bias_match_torch(valid_lens):
    num_hiddens, num_heads, batch, nq, nk = 12, 3, 2, 4, 6
    torch.manual_seed(2)
    ours = d2l.MultiHeadAttention(10, num_hiddens, 8, num_hiddens, num_heads, dropout=0,
                                  bias=True).eval()
    ref = testing.torch_multihead_attention(ours)
    q = torch.randn(batch, nq, num_hiddens)
    k, v = torch.randn(batch, nk, 10), torch.randn(batch, nk, 8)
    mask = None if valid_lens is None else torch.arange(nk)[None, :] >= valid_lens[:, None]
    want, want_w = ref(q, k, v, key_padding_mask=mask, average_attn_weights=False)
    got = ours(q, k, v, valid_lens)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    got_w = ours.attention.attention_weights.reshape(batch, num_heads, nq, nk)
    torch.testing.assert_close(got_w, want_w, atol=1e-6, rtol=1e-5)
    assert testing.mha_difference(ours, q, k, v, valid_lens) < 1e-5
    assert testing.mha_difference(ours, q, k, v, valid_lens, per_head=True) < 1e-6


def test_heads_are_independent_distributions_not_one():
    """Same parameters with 1 head and with 4 heads: equal parameter counts, different outputs."""
    torch.manual_seed(3)
    four = d2l.MultiHeadAttention(8, 8, 8, 8, 4, dropout=0).eval()
    one = d2l.MultiHeadAttention(8, 8, 8, 8, 1, dropout=0).eval()
    one.load_state_dict(four.state_dict())
    x = torch.randn(1, 5, 8)
    assert not torch.allclose(four(x, x, x), one(x, x, x), atol=1e-3)
    assert four.attention.attention_weights.shape == (4, 5, 5)
    assert one.attention.attention_weights.shape == (1, 5, 5)


def test_inputs_of_the_wrong_size_are_named_in_the_error():
    net = d2l.MultiHeadAttention(key_size=6, query_size=4, value_size=5, num_hiddens=8,
                                 num_heads=2, dropout=0)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 7, 6), torch.randn(2, 7, 5)
    with pytest.raises(ValueError, match=r"keys must have shape \(.*key_size=6\)"):
        net(q, v, v)
    with pytest.raises(ValueError, match=r"queries must have shape \(batch_size, num_queries, "):
        net(q[0], k, v)
    with pytest.raises(ValueError, match=r"values must have shape \(.*value_size=5\)"):
        net(q, k, torch.randn(2, 7, 6))
    with pytest.raises(ValueError, match="between 0 and num_keys=7"):
        net(q, k, v, torch.tensor([1, 8]))
    with pytest.raises(ValueError, match="valid_lens"):
        net(q, k, v, torch.tensor([1, 2, 3]))


def test_transpose_functions_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"num_hiddens=10 is not divisible by num_heads=4"):
        d2l.transpose_qkv(torch.zeros(2, 3, 10), 4)
    with pytest.raises(ValueError, match="num_heads=4"):
        d2l.transpose_output(torch.zeros(6, 3, 2), 4)
    with pytest.raises(ValueError, match=r"X must have shape \(batch_size \* num_heads"):
        d2l.transpose_output(torch.zeros(6, 3), 2)
    with pytest.raises(ValueError, match=r"\(batch_size, n, num_hiddens\)"):
        d2l.transpose_qkv(torch.zeros(3, 10), 2)


class _Readout(torch.nn.Module):
    """Self-attention followed by a scalar readout per position, like the section's NeighbourNet."""

    def __init__(self, size, num_hiddens, num_heads):
        super().__init__()
        self.mha = d2l.MultiHeadAttention(size, size, size, num_hiddens, num_heads, dropout=0)
        self.readout = torch.nn.Linear(num_hiddens, 1)

    def forward(self, x):
        return self.readout(self.mha(x, x, x)).squeeze(-1)


def test_forward_with_heads_zeroes_masked_heads_before_w_o_and_removes_its_hook():
    torch.manual_seed(4)
    net = _Readout(size=5, num_hiddens=6, num_heads=3).eval()
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        full = net(x)
        got = d2l.forward_with_heads(net, net.mha, [True, False, True], x)
        # Independent route: zero rows [2, 4) of W_v, so head 2 (index 1) outputs zeros.
        net.mha.W_v.weight[2:4] = 0
        want = net(x)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(got, full, atol=1e-3)
    assert len(net.mha.W_o._forward_pre_hooks) == 0
    with pytest.raises(ValueError, match="one flag per head"):
        d2l.forward_with_heads(net, net.mha, [True, False], x)


def test_head_mask_states_hold_the_taught_weights_and_the_masked_losses():
    torch.manual_seed(5)
    h, n, example, decimals = 3, 4, 1, 3
    net = _Readout(size=5, num_hiddens=6, num_heads=h).eval()
    x, target = torch.randn(3, n, 5), torch.randn(3, n)
    weight_rows, loss_rows, prediction_rows = d2l.head_mask_states(net, net.mha, x, target,
                                                                   example=example)
    assert len(weight_rows) == h and all(len(w) == n * n for w in weight_rows)
    assert len(loss_rows) == 2 ** h and len(prediction_rows) == 2 ** h * 2 * n
    with torch.no_grad():
        net(x)
    taught = net.mha.attention.attention_weights  # row b * h + i: head i of example b
    for i in range(h):
        assert [r["weight"] for r in weight_rows[i]] == pytest.approx(
            taught[example * h + i].flatten().tolist(), abs=10 ** -decimals)
        assert [(r["query"], r["key"]) for r in weight_rows[i][:2]] == [("0", "0"), ("0", "1")]
    for keep in itertools.product((True, False), repeat=h):
        state = {f"head{i + 1}": k for i, k in enumerate(keep)}
        pruned = _Readout(size=5, num_hiddens=6, num_heads=h).eval()
        pruned.load_state_dict(net.state_dict())
        with torch.no_grad():
            for i in range(h):
                if not keep[i]:
                    pruned.mha.W_v.weight[2 * i:2 * (i + 1)] = 0
            pred = pruned(x)
        mine = [r for r in prediction_rows if all(r[k] == v for k, v in state.items())]
        for series, want in (("target", target[example]), ("prediction", pred[example])):
            assert [r["y"] for r in mine if r["series"] == series] == pytest.approx(
                want.tolist(), abs=10 ** -decimals)
        (line,) = [r["text"] for r in loss_rows if all(r[k] == v for k, v in state.items())]
        assert f"MSE = {((pred - target) ** 2).mean().item():.2f}" in line
