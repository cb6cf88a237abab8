"""Tests of section 10.5: transpose_qkv / transpose_output and MultiHeadAttention."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import d2l_attention as d2l
from d2l_attention import testing
from d2l_attention.explore import multihead_attention as explore


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


def test_with_heads_zeroes_masked_heads_before_w_o_and_removes_its_hook():
    torch.manual_seed(4)
    net = _Readout(size=5, num_hiddens=6, num_heads=3).eval()
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        full = net(x)
        got = d2l.with_heads(net, [True, False, True], x)
        # Independent route: zero rows [2, 4) of W_v, so head 2 (index 1) outputs zeros.
        net.mha.W_v.weight[2:4] = 0
        want = net(x)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(got, full, atol=1e-3)
    assert len(net.mha.W_o._forward_pre_hooks) == 0


def test_reshape_figure_draws_what_transpose_qkv_returns():
    import matplotlib

    matplotlib.use("Agg")
    s = explore.reshape_figure(batch_size=2, num_steps=3, num_heads=4, head_dim=2)
    X = s["b n hp"]
    assert torch.equal(s["bh n p"], d2l.transpose_qkv(X, 4))
    assert torch.equal(d2l.transpose_output(s["bh n p"], 4), X)
    # head i of example b: block [b, :, i] of the unflattened X, and row b*h + i after folding
    for b, i in itertools.product(range(2), range(4)):
        assert torch.equal(s["b h n p"][b, i], X[b, :, 2 * i:2 * i + 2])
        assert torch.equal(s["bh n p"][b * 4 + i], s["b n h p"][b, :, i])
    d2l.plt.close("all")


def test_softmax_contrast_holds_the_identity_and_the_taught_weights():
    torch.manual_seed(0)
    net = d2l.MultiHeadAttention(8, 8, 8, 8, num_heads=4, dropout=0).eval()
    x = 3 * torch.randn(1, 5, 8)
    s = explore.softmax_contrast_states(net, x, x, query=2)
    torch.testing.assert_close(s["single_scores"], s["head_scores"].sum(0) / 2,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s["head_weights"], torch.softmax(s["head_scores"], -1))
    torch.testing.assert_close(s["single_weights"], torch.softmax(s["single_scores"], -1))
    with torch.no_grad():
        net(x, x, x)
    assert torch.equal(s["head_weights"], net.attention.attention_weights[:, 2])
    one = d2l.MultiHeadAttention(8, 8, 8, 8, num_heads=1, dropout=0).eval()
    one.load_state_dict(net.state_dict())
    with torch.no_grad():
        one(x, x, x)
    torch.testing.assert_close(s["single_weights"], one.attention.attention_weights[0, 2])


class _Neighbour(torch.nn.Module):
    """The section's NeighbourNet: positions are the queries and keys, (position, v) the values."""

    def __init__(self, n, num_heads):
        super().__init__()
        self.n = n
        self.mha = d2l.MultiHeadAttention(n, n, n + 1, 8, num_heads, dropout=0)
        self.readout = torch.nn.Linear(8, 1)

    def forward(self, inputs):
        pos = inputs[..., :self.n]
        return self.readout(self.mha(pos, pos, inputs)).squeeze(-1)


def _neighbour_data(n, batch):
    vals = torch.randn(batch, n)
    inputs = torch.cat([torch.eye(n).expand(batch, n, n), vals.unsqueeze(-1)], -1)
    return inputs, torch.roll(vals, -1, 1) - torch.roll(vals, 1, 1)


def test_value_coefficients_are_the_gradient_of_the_prediction():
    torch.manual_seed(6)
    n = 5
    net = _Neighbour(n, 2).eval()
    inputs, _ = _neighbour_data(n, 1)
    inputs.requires_grad_(True)
    jac = torch.stack([torch.autograd.grad(net(inputs)[0, i], inputs)[0][0, :, -1]
                       for i in range(n)])  # d prediction_i / d v_j
    torch.testing.assert_close(explore.value_coefficients(net, n), jac, atol=1e-5, rtol=1e-4)


def _neighbour_rows(rows, **key):
    return [r for r in rows if all(r[k] == v for k, v in key.items())]


def test_neighbour_states_hold_the_taught_weights_coefficients_and_masks():
    torch.manual_seed(7)
    n, q = 5, 2
    nets = {1: _Neighbour(n, 1).eval(), 2: _Neighbour(n, 2).eval()}
    inputs, target = _neighbour_data(n, 16)
    s = explore.neighbour_states(nets, inputs, target, query=q)
    for h, net in nets.items():
        with torch.no_grad():
            net(inputs[:1])
        taught = net.mha.attention.attention_weights
        for m in range(3):
            state = dict(heads=h, kind="trained", mask=m)
            keep = torch.tensor([r + 1 != m for r in range(h)])
            for i in range(h):
                got = [r["weight"] for r in _neighbour_rows(s["weights"], **state,
                                                            series=f"head {i + 1}")]
                assert got == pytest.approx(taught[i, q].tolist(), abs=0.005)
            # the model's coefficient with head m masked, measured through d2l.with_heads
            with torch.no_grad():
                basis = explore.basis_inputs(n)
                y = d2l.with_heads(net, keep, basis)
            coef = (y[1:] - y[0]).T[q]
            got = [r["coefficient"] for r in _neighbour_rows(s["coefficients"], **state,
                                                             series=explore.SUM_SERIES)]
            assert got == pytest.approx(coef.tolist(), abs=0.005)
            # the heads' shares c_r a^(r)_qj (0 for the masked head) add up to it (W_o per head)
            shares = torch.tensor([[r["coefficient"] for r in _neighbour_rows(
                s["coefficients"], **state, series=f"head {i + 1}")] for i in range(h)])
            assert shares.sum(0).tolist() == pytest.approx(coef.tolist(), abs=0.005 * (h + 1))
            if 1 <= m <= h:
                assert shares[m - 1].abs().max() == 0
            want = [r["coefficient"] for r in _neighbour_rows(s["coefficients"], **state,
                                                              series="target")]
            assert want == [1.0 if j == (q + 1) % n else -1.0 if j == (q - 1) % n else 0.0
                            for j in range(n)]
            with torch.no_grad():
                mse = ((d2l.with_heads(net, keep, inputs) - target) ** 2
                       ).mean().item()
            assert any(f"test MSE {mse:.2f}" in r["text"]
                       for r in _neighbour_rows(s["text"], **state))


def test_hand_set_neighbour_is_sharp_and_exact():
    n = 8
    inputs, target = _neighbour_data(n, 64)
    for h, want_mse in ((1, None), (2, 0.0), (4, 0.0)):
        torch.manual_seed(h)
        net = explore.hand_set_neighbour(_Neighbour(n, h))
        with torch.no_grad():
            pred = net(inputs)
        weights = net.mha.attention.attention_weights[:h]
        assert weights.max(-1).values.min() > 0.99
        for r in range(h):  # head r looks at i+1 (r even) or i-1 (r odd)
            side = 1 if r % 2 == 0 else -1
            assert ((weights[r].argmax(-1) - torch.arange(n)) % n == side % n).all()
        if want_mse is not None:
            assert ((pred - target) ** 2).mean() < 1e-6
        sign = torch.tensor([1.0 if r % 2 == 0 else -1.0 for r in range(h)])
        torch.testing.assert_close(explore.head_factors(net), sign / -(-h // 2))


def test_heads_explorer_shows_the_chosen_state_in_fixed_colours():
    from test_explorers import svg_for, texts

    torch.manual_seed(8)
    n = 5
    nets = {1: _Neighbour(n, 1).eval(), 2: _Neighbour(n, 2).eval()}
    hand_set = {h: explore.hand_set_neighbour(_Neighbour(n, h)) for h in nets}
    inputs, target = _neighbour_data(n, 16)
    shown = explore.heads_explorer(nets, inputs, target, hand_set=hand_set, heads=2, query=1)
    assert any("query 1, largest weight" in t for t in texts(svg_for(shown)))
    drawn = texts(svg_for(shown, heads=1))
    assert any(t.startswith("1 head, trained: factors") for t in drawn)
    assert any(t.startswith("head 2 masked") for t in texts(svg_for(shown, mask=2)))
    assert any(t.startswith("2 heads, hand-set") for t in texts(svg_for(shown, kind="hand-set")))
    scales = [c["encoding"]["color"]["scale"] for c in shown.spec["concat"][:2]]
    assert scales[0] == {"domain": ["head 1", "head 2"], "range": list(explore.HEAD_COLOURS[:2])}
    assert scales[1]["domain"] == [explore.SUM_SERIES, "target", "head 1", "head 2"]
    assert "legend" not in texts(svg_for(shown, heads=1))  # no stray label
    assert "head 2" not in texts(svg_for(shown, heads=1))  # legends: heads that exist
    assert "head 2" in texts(svg_for(shown, heads=2))
    # a head the chosen model lacks is named as such, and the masked head is dashed on the left
    drawn = texts(svg_for(shown, heads=1, mask=2))
    assert any(t.startswith("a 1-head model has no head 2") for t in drawn)
    weights = shown.spec["concat"][0]["encoding"]
    assert weights["strokeDash"]["field"] == "masked" and weights["opacity"]["field"] == "masked"
    s = explore.neighbour_states(nets, inputs, target, 1, hand_set)
    masked = {(r["series"], r["masked"]) for r in s["weights"]
              if r["heads"] == 2 and r["mask"] == 1}
    assert masked == {("head 1", 1), ("head 2", 0)}
    # equal lines stay visible: the heads are nudged apart around each key, the target is a band
    xs = sorted(r["x"] for r in s["weights"]
                if r["heads"] == 2 and r["mask"] == 0 and r["kind"] == "trained" and r["key"] == 0)
    assert xs[0] < 0 < xs[1]
    coefficients = shown.spec["concat"][1]["encoding"]
    assert "target" in coefficients["strokeWidth"]["condition"]["test"]


def test_cloze_baselines_guess_without_attention():
    pad = 0
    tokens = torch.tensor([[2, 3, 5, pad], [4, 3, 5, pad], [2, 4, 3, 5]])
    lens = torch.tensor([3, 3, 4])
    test = (torch.tensor([[1, 3, 5, pad], [2, 4, 1, 5]]), torch.tensor([3, 4]),
            torch.tensor([0, 2]), torch.tensor([2, 3]))
    got = explore.cloze_baseline_guesses({"train": (tokens, lens), "test": test})
    # most frequent word: 3 and 5 tie at 3 (bincount's argmax takes 3) -> right once of twice
    assert got["most frequent word"].tolist() == [3, 3]
    # position 0 of 3-word sentences: 2 or 4 (tie, 2); position 2 of 4-word ones: 3 -> both right
    assert got["(position, length) table"].tolist() == [2, 3]


def test_cloze_net_reads_the_hidden_word_through_the_taught_attention():
    from d2l_attention.text import Vocab

    sentences = [s.split() for s in ["tom is here .", "i am here .", "tom is tall .",
                                      "i am tall ."] * 3]
    vocab = Vocab(sentences, min_freq=1, reserved_tokens=["<pad>", explore.MASK])
    tokens = torch.tensor([vocab[s] for s in sentences])
    lens = torch.full((len(sentences),), 4)
    hidden, where, answers = explore.hide_one_word(tokens, lens, vocab,
                                                   torch.Generator().manual_seed(0))
    assert (hidden[torch.arange(len(tokens)), where] == vocab[explore.MASK]).all()
    assert torch.equal(answers, tokens[torch.arange(len(tokens)), where])
    torch.manual_seed(0)
    net = d2l.ClozeNet(len(vocab), num_heads=2, num_hiddens=8, max_len=4).eval()
    assert isinstance(net.mha, d2l.MultiHeadAttention)
    w = explore.sentence_heads(net, vocab, "tom is here .")  # (heads, hidden word, word)
    for i in range(4):  # row i: hide word i, query = position i only
        t = torch.tensor([vocab["tom is here .".split()]])
        t[0, i] = vocab[explore.MASK]
        with torch.no_grad():
            X = net.word(t) + net.pos.weight[:4]
            net.mha(net.pos.weight[i][None, None], X, X, torch.tensor([4]))
        torch.testing.assert_close(w[:, i], net.mha.attention.attention_weights[:, 0])
    data = {"vocab": vocab, "train": (tokens, lens), "test": (hidden, lens, where, answers)}
    shares, first = explore.head_offsets(net, data, offsets=(-1, 1))
    with torch.no_grad():
        net(hidden, lens, where)
    peak = net.mha.attention.attention_weights[:, 0].argmax(-1).reshape(-1, 2).T
    assert shares[1, 0].item() == pytest.approx((peak[1] - where == -1).float().mean().item())
    assert first[0].item() == pytest.approx((peak[0] == 0).float().mean().item())
    assert 0 <= explore.cloze_accuracy(net, data) <= 1


def test_cloze_explorer_states_come_from_the_taught_net():
    from d2l_attention.text import Vocab

    sentences = [s.split() for s in ["tom is here .", "i am here .", "tom is tall ."] * 3]
    vocab = Vocab(sentences, min_freq=1, reserved_tokens=["<pad>", explore.MASK])
    torch.manual_seed(0)
    net = d2l.ClozeNet(len(vocab), num_heads=2, num_hiddens=8, max_len=4).eval()
    chosen = ("tom is here .", "i am tall")
    s = explore.cloze_states(net, vocab, chosen, top=3)
    w = explore.sentence_heads(net, vocab, chosen[0])
    got = [r["weight"] for r in s["weights"]
           if (r["sentence"], r["hidden"], r["head"]) == (chosen[0], 1, "head 2")]
    assert got == pytest.approx(w[1, 1].tolist(), abs=1e-3)
    tokens = torch.tensor([vocab["i am tall".split()]])
    tokens[0, 2] = vocab[explore.MASK]
    keep = torch.tensor([False, True])  # head 1 masked
    with torch.no_grad():
        probs = d2l.with_heads(net, keep, tokens, torch.tensor([3]),
                                           torch.tensor([2])).softmax(-1)[0]
    rows = [r for r in s["guesses"] if (r["sentence"], r["hidden"], r["mask"]) == (chosen[1], 2, 1)]
    assert [r["probability"] for r in rows] == pytest.approx(probs.topk(3).values.tolist(),
                                                             abs=1e-3)
    assert rows[0]["guess"] == "1. " + vocab.to_tokens(int(probs.argmax()))
    short = [r["text"] for r in s["text"]
             if (r["sentence"], r["hidden"], r["mask"]) == (chosen[1], 3, 0)]
    assert short[0] == "this sentence has only 3 words"
    assert len(explore.cloze_explorer(net, vocab, chosen, hidden=1).to_json()) < 400_000


def test_ray_figure_bounds_are_the_squared_distances_to_the_ray():
    import matplotlib.pyplot as plt

    a = torch.full((3,), 0.5)
    bounds = explore.ray_figure([
        ("difference", torch.tensor([-1.0]), a, a, (1.0,), (-1.0,)),  # +1 is 1 away, -1 on it
        ("diagonal", torch.tensor([1.0, 1.0]), a, a, (1.0, 0.0), (0.0, 1.0)),  # 1/2 + 1/2
        ("backwards", torch.tensor([-1.0, -1.0]), a, a, (1.0, 0.0), (0.0, 1.0)),  # 1 + 1
    ])
    plt.close("all")
    assert bounds == pytest.approx([1.0, 1.0, 2.0])


def test_deep_dive_counts_and_torch_match():
    assert max(explore.compare_with_torch()) < 1e-5
    costs = explore.head_costs(heads=(1, 4), size=16)
    assert costs == {1: (4 * 16 ** 2, 2 * 2 * 2 * 5 * 9 * 16, 45, 16),
                     4: (4 * 16 ** 2, 2 * 2 * 2 * 5 * 9 * 16, 180, 4)}


def test_head_factors_are_the_readout_of_each_head():
    torch.manual_seed(9)
    n = 5
    net = _Neighbour(n, 2).eval()
    with torch.no_grad():
        net(basis_inputs := explore.basis_inputs(n))
        a = net.mha.attention.attention_weights[:2]  # (h, n, n), the same for every example
    c = explore.head_factors(net)
    torch.testing.assert_close(explore.value_coefficients(net, n),
                               (c[:, None, None] * a).sum(0), atol=1e-5, rtol=1e-4)
    assert basis_inputs.shape == (n + 1, n, n + 1)


def test_softmax_explorer_states_match_the_taught_module():
    import d2l_attention as d2l
    from d2l_attention.explore import multihead_attention as explore

    torch.manual_seed(0)
    four = d2l.MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=4, dropout=0).eval()
    X = torch.randn(1, 6, 16)
    s = explore.softmax_states(four, 3 * X)
    with torch.no_grad():
        four(3 * X, 3 * X, 3 * X)
    want = four.attention.attention_weights[:, 2]  # query 2, the 4 heads
    got = {(r["series"], r["key"]): r["weight"] for r in s["weights"] if r["query"] == 2}
    for h in range(4):
        for j in range(6):
            assert abs(got[f"head {h + 1}", f"k{j}"] - want[h, j].item()) < 0.006
    # the black tick on the single head's score bars is (sum of the head scores) / sqrt(h)
    for r in s["scores"]:
        if r["series"] == "1 head":
            assert abs(r["summed"] - r["score"]) < 0.011
    assert len(explore.softmax_explorer(four, X).to_json()) < 400_000
