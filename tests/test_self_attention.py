"""Tests of section 10.6: PositionalEncoding, its explorers and the reversal ablation."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import d2l_attention as d2l
from d2l_attention import explorers
from d2l_attention.explore import self_attention as sa


def closed_form(i, col, d):
    """Independent float64 value of P[i, col] for the sinusoidal encoding."""
    m = col // 2  # frequency index
    angle = i / 10000 ** (2 * m / d)
    return math.sin(angle) if col % 2 == 0 else math.cos(angle)


@pytest.mark.parametrize("d", [4, 32, 100])
def test_values_match_closed_form(d):
    P = d2l.PositionalEncoding(d, dropout=0, max_len=200).P[0]
    rng = np.random.default_rng(d)
    for i, col in zip(rng.integers(0, 200, 25), rng.integers(0, d, 25)):
        assert abs(P[i, col].item() - closed_form(int(i), int(col), d)) < 2e-5, (i, col)


def test_dropout_zero_adds_exactly_the_encoding():
    torch.manual_seed(0)
    pe = d2l.PositionalEncoding(16, dropout=0).eval()
    X = torch.randn(3, 7, 16)
    out = pe(X)
    assert out.shape == X.shape
    torch.testing.assert_close(out - X, pe.P[:, :7].expand(3, -1, -1))


def test_dropout_is_active_only_in_training():
    pe = d2l.PositionalEncoding(16, dropout=0.5)
    X = torch.zeros(2, 10, 16)
    assert torch.equal(pe.eval()(X), pe.P[:, :10].expand(2, -1, -1))
    torch.manual_seed(0)
    assert (pe.train()(X) == 0).any()


@pytest.mark.parametrize("delta", [1, 3, 11])
def test_relative_position_is_a_rotation(delta):
    d, n = 20, 80
    P = d2l.PositionalEncoding(d, dropout=0, max_len=n).P[0].double()
    omega = 1 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    M = torch.zeros(d, d, dtype=torch.float64)
    for m, w in enumerate(omega.tolist()):
        c, s = math.cos(delta * w), math.sin(delta * w)
        M[2 * m:2 * m + 2, 2 * m:2 * m + 2] = torch.tensor([[c, s], [-s, c]])
    # float32 encoding: allow its rounding, but a wrong frequency would be off by ~1
    assert (P[delta:] - P[:-delta] @ M.T).abs().max() < 1e-4


def test_errors_say_what_to_change():
    with pytest.raises(ValueError, match="even"):
        d2l.PositionalEncoding(7, dropout=0)
    pe = d2l.PositionalEncoding(8, dropout=0, max_len=5)
    with pytest.raises(ValueError, match="max_len=5"):
        pe(torch.zeros(1, 6, 8))
    with pytest.raises(ValueError, match=r"\(batch_size, num_steps, num_hiddens=8\)"):
        pe(torch.zeros(1, 4, 6))


def test_encoding_moves_with_the_module_and_is_not_a_parameter():
    pe = d2l.PositionalEncoding(8, dropout=0)
    assert list(pe.parameters()) == []
    assert pe.to(torch.float64).P.dtype == torch.float64
    assert pe(torch.zeros(1, 3, 8, dtype=torch.float64)).dtype == torch.float64


def test_self_attention_keeps_the_input_shape():
    net = d2l.MultiHeadAttention(12, 12, 12, 12, 3, dropout=0).eval()
    X = torch.randn(2, 5, 12)
    assert net(X, X, X, torch.tensor([5, 2])).shape == X.shape


def test_encoding_is_accurate_at_large_positions():
    """Angles computed in float64: even at position 999 every entry is within float32 rounding."""
    d = 64
    P = d2l.PositionalEncoding(d, dropout=0, max_len=1000).P[0]
    for col in range(d):
        assert abs(P[999, col].item() - closed_form(999, col, d)) < 1e-6, col


def test_encoding_is_not_saved_in_the_state_dict():
    pe = d2l.PositionalEncoding(8, dropout=0.1, max_len=20)
    assert "P" not in pe.state_dict() and pe.P.shape == (1, 20, 8)
    fresh = d2l.PositionalEncoding(8, dropout=0.1, max_len=20)
    fresh.load_state_dict(pe.state_dict())  # strict load of an (empty) state_dict


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_self_attention_is_permutation_equivariant_until_positions_are_added(n, seed):
    torch.manual_seed(seed)
    net = d2l.MultiHeadAttention(8, 8, 8, 8, 2, dropout=0).eval()
    X = torch.randn(1, n, 8)
    perm = torch.randperm(n)
    with torch.no_grad():
        torch.testing.assert_close(net(X[:, perm], X[:, perm], X[:, perm]),
                                   net(X, X, X)[:, perm], atol=1e-5, rtol=1e-5)
        if perm.tolist() != sorted(perm.tolist()):  # a real reordering
            pe = d2l.PositionalEncoding(8, dropout=0).eval()
            Xa, Xb = pe(X), pe(X[:, perm])
            assert not torch.allclose(net(Xb, Xb, Xb), net(Xa, Xa, Xa)[:, perm], atol=1e-4)


def test_rotation_for_offset_maps_each_encoding_to_the_one_delta_later():
    P = d2l.PositionalEncoding(12, dropout=0, max_len=40).P[0].double()
    M = d2l.rotation_for_offset(7, 12)
    assert M.shape == (12, 12)
    torch.testing.assert_close(M @ M.T, torch.eye(12, dtype=torch.float64))  # a rotation
    assert (P[:-7] @ M.T - P[7:]).abs().max() < 1e-5
    assert (P[:-6] @ M.T - P[6:]).abs().max() > 0.1  # the wrong offset does not fit


def test_rotation_states_hold_the_encoding_its_shift_and_the_rotated_point():
    pe = d2l.PositionalEncoding(16, dropout=0.5)  # dropout: the states must come from eval mode
    pairs, positions, offsets = (0, 3), (0, 4), (0, 2, 5)
    layers = sa.rotation_states(pe, 12, pairs, positions, offsets)
    counts = {name: len(rows) for name, rows in layers.items()}
    assert counts == {"circle": 2 * 73, "encoding": 2 * 12, "p_i": 2 * 2, "p_i+delta": 2 * 2 * 3,
                      "M p_i": 2 * 2 * 3, "text": 2 * 3 * 2}
    P = pe.P[0].double()
    for r in layers["encoding"]:
        assert (r["sin"], r["cos"]) == pytest.approx(
            (P[r["i"], 2 * r["pair"]].item(), P[r["i"], 2 * r["pair"] + 1].item()), abs=1e-4)
    for r in layers["p_i"]:
        assert (r["sin"], r["cos"]) == pytest.approx(
            (P[r["pos"], 2 * r["pair"]].item(), P[r["pos"], 2 * r["pair"] + 1].item()), abs=1e-4)
    for shifted, rotated in zip(layers["p_i+delta"], layers["M p_i"]):
        m, i, delta = shifted["pair"], shifted["pos"], shifted["delta"]
        assert (rotated["pair"], rotated["pos"], rotated["delta"]) == (m, i, delta)
        want = P[i + delta, 2 * m:2 * m + 2].tolist()
        assert [shifted["sin"], shifted["cos"]] == pytest.approx(want, abs=1e-4)
        got = (d2l.rotation_for_offset(delta, 16) @ P[i])[2 * m:2 * m + 2].tolist()
        assert [rotated["sin"], rotated["cos"]] == pytest.approx(got, abs=1e-4)
    for r in layers["circle"]:
        assert r["sin"] ** 2 + r["cos"] ** 2 == pytest.approx(1, abs=1e-3)
    (line,) = [r["text"] for r in layers["text"]
               if (r["pair"], r["delta"], r["line"]) == (3, 5, 0)]
    assert f"{5 * 10000 ** (-6 / 16):.3f} rad" in line


def test_score_states_hold_the_softmax_of_the_position_only_scores():
    pe = d2l.PositionalEncoding(8, dropout=0.5)  # dropout: the states must come from eval mode
    trained = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    weight_rows, trained_rows, text_rows = sa.score_states(pe, trained, num_positions=10,
                                                           offsets=(-3, 0, 2))
    # delta = 2: only the 8 queries whose key i + 2 exists are drawn; delta = -3: queries 3..9
    assert len(weight_rows) == 7 * 10 + 100 + 8 * 10 and len(text_rows) == 3 * 2
    assert len(trained_rows) == 16 and all("delta" not in r for r in trained_rows)
    want = torch.softmax(trained.double(), dim=-1)
    for r in trained_rows:
        assert r["weight"] == pytest.approx(want[int(r["query"]), int(r["key"])].item(), abs=0.006)
    assert max(int(r["query"]) for r in weight_rows if r["delta"] == 2) == 7
    assert min(int(r["query"]) for r in weight_rows if r["delta"] == -3) == 3
    P = pe.P[0, :10].double()
    for delta in (2, -3):
        want = torch.softmax((P @ d2l.rotation_for_offset(delta, 8).T) @ P.T, dim=-1)
        for r in weight_rows:
            if r["delta"] == delta:
                assert r["weight"] == pytest.approx(want[int(r["query"]), int(r["key"])].item(),
                                                    abs=0.006)
    text = {r["delta"]: r["text"] for r in text_rows if r["line"] == 0}
    assert text[0].endswith("[0]") and text[2].endswith("queries 0..7: [2]")
    assert text[-3].endswith("queries 3..9: [-3]")
    right = [r["text"] for r in text_rows if r["line"] == 1][0]
    assert right.endswith(str(trained.argmax(dim=-1).tolist()))  # softmax keeps the argmax
    # the axis order is 0..n-1 although delta = -3 comes first in `offsets`
    assert [r["query"] for r in weight_rows[:100:10]] == [str(i) for i in range(10)]


def test_distance_figure_puts_every_pair_at_its_offset():
    P = d2l.PositionalEncoding(8, dropout=0).P[0, :5].double()
    sa.distance_figure(P @ P.T)
    fig = d2l.plt.gcf()
    xy = fig.axes[0].collections[0].get_offsets()
    assert len(xy) == 25 and sorted(set(xy[:, 0].tolist())) == list(range(-4, 5))
    d2l.plt.close(fig)


def test_free_expectation_is_exact_on_a_case_small_enough_to_enumerate():
    import itertools
    vocab, seq_len = 4, 5
    draws = list(itertools.product(range(vocab), repeat=seq_len - 1))
    want = sum(max(d.count(t) for t in set(d)) for d in draws) / len(draws) / (seq_len - 1)
    assert sa.free_expectation(vocab, seq_len) == pytest.approx(want, abs=1e-12)
    assert sa.free_expectation() == pytest.approx(0.22388, abs=1e-5)


def test_free_spread_is_about_the_binomial_scale():
    spread = sa.free_spread(num_sequences=1000, samples=20_000)
    assert 0.002 < spread < 0.01


def test_saved_for_backward_splits_the_square_attention_weights_from_the_rest():
    torch.manual_seed(0)
    layer = d2l.MultiHeadAttention(8, 8, 8, 8, num_heads=1, dropout=0)
    square, rest = sa.saved_for_backward(lambda X: layer(X, X, X), 32, 8)
    assert square == 32 * 32 * 4  # only the softmax output, float32
    conv = torch.nn.Conv1d(8, 8, 3, padding=1)
    assert sa.saved_for_backward(lambda X: conv(X.transpose(1, 2)), 32, 8)[0] == 0 < rest


def test_plane_view_puts_both_axes_on_one_fixed_domain():
    view = explorers.plane_view([{"a": 0.5, "b": -0.5}], "a", "b", domain=(-2, 2))
    ex = explorers.explorer(view, controls=[], title="plane")
    enc = ex.spec["encoding"]
    assert enc["x"]["scale"]["domain"] == enc["y"]["scale"]["domain"] == [-2, 2]


def test_rotation_and_score_explorers_start_where_the_text_says():
    pe = d2l.PositionalEncoding(32, dropout=0)
    rot = sa.rotation(pe, 60)
    assert {c.name: c.default for c in rot.controls} == {"pos": 10, "delta": 3}
    dots = sa.score_explorer(pe, torch.eye(8))
    assert dots.controls[0].default == 3
    assert list(dots.controls[0].values) == list(range(0, 9))  # forward only: ex 3(a) asks back
    assert len(rot.to_json()) + len(dots.to_json()) < 450_000


def test_wall_clock_times_each_function_and_restores_the_thread_count():
    threads, calls = torch.get_num_threads(), []
    seconds = sa.wall_clock([lambda x: calls.append(("a", x)), lambda x: calls.append(("b", x))],
                            7, repeats=3)
    assert len(seconds) == 2 and all(s >= 0 for s in seconds)
    assert calls == [("a", 7), ("b", 7)] * 4  # one warm-up, then alternating
    assert torch.get_num_threads() == threads


def test_rotary_net_scores_depend_on_the_offset_only():
    torch.manual_seed(0)
    net = sa.RotaryNet().double().eval()
    tokens = torch.randint(0, 30, (1, 12))
    M2 = d2l.rotation_for_offset(2, 32)
    with torch.no_grad():
        X = net.embedding(tokens)
        R = net.rotations[:12]
        q = torch.einsum("nij,bnj->bni", R, net.W_q(X))[0]
        k = torch.einsum("nij,bnj->bni", R, net.W_k(X))[0]
        a, b = net.W_q(X)[0], net.W_k(X)[0]
        for i in (0, 5, 9):  # (M_i a)^T (M_(i+2) b) = a^T M_2 b, whatever i
            assert (q[i] @ k[i + 2]).item() == pytest.approx((a[i] @ (M2 @ b[i + 2])).item())
        assert net(tokens).shape == (1, 12, 30)


def test_train_shift_learns_the_previous_token_and_the_learned_table_has_spare_rows():
    net = sa.train_shift("learned", num_steps=150)
    assert net.positions.P.shape[1] == 16
    trained, beyond = sa.shift_accuracy(net, 16)
    assert trained > 0.9 and 0 <= beyond <= 1
    tokens, target = sa.shift_batch(2, torch.Generator().manual_seed(0), 5)
    assert torch.equal(target[:, 1:], tokens[:, :-1])


@pytest.fixture(scope="module")
def small_ablation():
    return sa.train_ablation(num_steps=60)


def test_reversal_net_is_the_taught_attention_with_the_chosen_positions(small_ablation):
    nets = small_ablation.nets
    assert isinstance(nets["sinusoidal"].positions, d2l.PositionalEncoding)
    assert isinstance(nets["learned"].positions, sa.LearnedPositions)
    assert isinstance(nets["none"].positions, torch.nn.Identity)
    for net in nets.values():
        assert isinstance(net.attention, d2l.MultiHeadAttention) and net.attention.num_heads == 1
    with pytest.raises(ValueError, match="choose one of"):
        sa.make_positions("rotary")


def test_none_is_permutation_equivariant_so_weights_follow_the_tokens(small_ablation):
    """Without positions, permuting a sequence permutes the logits and the attention weights."""
    net = small_ablation.nets["none"]
    tokens = small_ablation.tokens[:4]
    perm = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])
    with torch.no_grad():
        logits = net(tokens)
        weights = net.attention.attention.attention_weights
        logits_p = net(tokens[:, perm])
        weights_p = net.attention.attention.attention_weights
    torch.testing.assert_close(logits_p, logits[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights_p, weights[:, perm][:, :, perm], atol=1e-5, rtol=1e-5)


def test_ablation_numbers_match_the_nets(small_ablation):
    ab = small_ablation
    tokens, target = ab.tokens, ab.tokens.flip(1)
    for name, net in ab.nets.items():
        with torch.no_grad():
            pred = net(tokens).argmax(dim=-1)
        assert torch.equal(pred, ab.prediction[name])
        assert ab.accuracy[name] == pytest.approx((pred == target).float().mean().item())
    w = ab.weights["sinusoidal"]
    assert ab.weight_on_reversed("sinusoidal") == pytest.approx(
        sum(w[:, i, 7 - i].mean().item() for i in range(8)) / 8, abs=1e-6)
    # with positions: the position-only scores are those of W_q and W_k on the encoding
    net = ab.nets["sinusoidal"]
    P = net.positions.P[0, :8]
    want = net.attention.W_q(P) @ net.attention.W_k(P).T / math.sqrt(sa.D_MODEL)
    torch.testing.assert_close(ab.position_scores("sinusoidal"), want.detach())


def test_multiset_bound_is_one_seventh_without_repeats_and_one_for_constant_sequences():
    distinct = torch.arange(8)[None]
    assert sa.multiset_bound(distinct) == pytest.approx(1 / 7)
    constant = torch.zeros(1, 8, dtype=torch.long)
    assert sa.multiset_bound(constant) == pytest.approx(1.0)
    pair = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6]])  # token 0 twice
    # queries 0, 1: the most frequent other token appears once -> 1/7; the others see 0 twice
    assert sa.multiset_bound(pair) == pytest.approx((2 * 1 + 6 * 2) / 7 / 8)


def test_ablation_explorer_rows_hold_each_nets_weights(small_ablation):
    weight_rows, text_rows = sa.ablation_states(small_ablation, sequences=(-1, 0, 2))
    assert len(weight_rows) == 3 * 3 * 64 and len(text_rows) == 3 * 3 * 2
    for r in weight_rows[::37]:
        name, s = r["encoding"], r["sequence"]
        w = small_ablation.mean_weights(name) if s < 0 else small_ablation.weights[name][s]
        assert r["weight"] == pytest.approx(w[r["row"], r["col"]].item(), abs=0.006)
    (line,) = [r["text"] for r in text_rows
               if (r["encoding"], r["sequence"], r["line"]) == ("none", 0, 0)]
    assert f"{small_ablation.bound:.3f}" in line
    ex = sa.ablation_explorer(small_ablation)
    assert [c.name for c in ex.controls] == ["encoding", "sequence"]
    assert [c.default for c in ex.controls] == ["none", 1]  # where the text starts the reader
    assert len(ex.to_json()) < 400_000


def test_weight_by_token_splits_the_weights_by_the_query_token(small_ablation):
    ab = small_ablation
    w, tok = ab.weights["none"], ab.tokens
    own, same, other = ab.weight_by_token("none")
    assert own == pytest.approx(w.diagonal(dim1=1, dim2=2).mean().item(), abs=1e-6)
    s, q, j = torch.nonzero((tok[:, :, None] == tok[:, None, :])
                            & ~torch.eye(8, dtype=torch.bool), as_tuple=True)
    assert same == pytest.approx(w[s, q, j].mean().item(), abs=1e-6)
    # the three kinds of key together hold each query's total weight of 1
    counts = [8 * len(tok), len(s), 64 * len(tok) - 8 * len(tok) - len(s)]
    assert sum(c * v for c, v in zip(counts, (own, same, other))) == pytest.approx(8 * len(tok))


def test_committed_sweep_has_seed_0_of_each_encoding_for_both_kernels():
    for kernel in ("DEFAULT", "AVX2"):
        runs = sa.committed_sweep(seed=0, kernel=kernel)
        assert set(runs) == set(sa.ENCODINGS)
        assert runs["sinusoidal"]["accuracy"] > 0.95 > runs["none"]["accuracy"]
    assert sa.committed_sweep(kernel="NO_SUCH_KERNEL") is None


def test_sentence_heatmaps_label_each_panel_with_its_own_words():
    A = torch.softmax(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    sa.sentence_heatmaps([A, A[[2, 1, 0]][:, [2, 1, 0]]],
                         [["dog", "bites", "man"], ["man", "bites", "dog"]], ["A", "A'"])
    fig = d2l.plt.gcf()
    left, right = fig.axes[:2]
    assert [t.get_text() for t in left.get_xticklabels()] == ["dog", "bites", "man"]
    assert [t.get_text() for t in right.get_yticklabels()] == ["man", "bites", "dog"]
    assert left.texts[0].get_text() == f"{A[0, 0]:.2f}"
    assert right.texts[0].get_text() == f"{A[2, 2]:.2f}"
    d2l.plt.close(fig)


def test_fit_is_the_notebooks_loop_and_train_reversal_uses_it():
    """train_reversal = reversal_net + fit: the same weights as the loop the notebook shows."""
    a = sa.train_reversal("none", num_steps=20)
    b, losses = sa.fit(sa.reversal_net("none"), num_steps=20)
    assert len(losses) == 20
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert next(b.parameters()).dtype == torch.float64


def test_best_free_accuracy_averages_the_tie_breaks():
    distinct = torch.arange(8)[None]  # every other token once: a 1-in-7 guess per query
    assert sa.best_free_accuracy(distinct) == pytest.approx(1 / 7)
    constant = torch.zeros(1, 8, dtype=torch.long)
    assert sa.best_free_accuracy(constant) == pytest.approx(1.0)
    tokens = torch.randint(0, 30, (500, 8), generator=torch.Generator().manual_seed(0))
    assert abs(sa.best_free_accuracy(tokens) - sa.multiset_bound(tokens)) < 0.02


def test_train_shift_accepts_a_position_module():
    net = sa.train_shift(sa.LearnedPositions(sa.D_MODEL, 16), num_steps=5)
    assert isinstance(net.positions, sa.LearnedPositions) and net.positions.P.shape[1] == 16
