"""Tests of section 10.1: show_heatmaps (one colour scale, a true colourbar, labels, errors) and
the explorer of d2l_attention/explore/attention_cues.py against the taught attention_pooling."""

import json

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

import d2l_attention as d2l  # noqa: E402
from d2l_attention.explore import attention_cues  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def draw(matrices, **kwargs):
    """Call show_heatmaps and return (heatmap images, colourbar) of the figure it drew."""
    d2l.show_heatmaps(matrices, xlabel="Keys", ylabel="Queries", **kwargs)
    fig = plt.gcf()
    images = [im for ax in fig.axes for im in ax.images]
    colorbars = [ax for ax in fig.axes if not ax.images]
    assert len(colorbars) == 1, "expected exactly one colourbar axis"
    return images, colorbars[0]


def panels_with_different_ranges():
    """2 x 3 panels whose maxima differ by a factor of 20 (0.05 ... 1.0)."""
    torch.manual_seed(0)
    base = torch.rand(2, 3, 4, 5)
    scale = torch.tensor([[0.05, 0.2, 0.4], [0.6, 0.8, 1.0]]).reshape(2, 3, 1, 1)
    return base / base.amax(dim=(2, 3), keepdim=True) * scale


def test_every_panel_uses_the_same_colour_limits():
    matrices = panels_with_different_ranges()
    images, _ = draw(matrices, figsize=(6, 4))
    assert len(images) == 6
    limits = {im.get_clim() for im in images}
    assert len(limits) == 1, f"panels use different colour limits: {limits}"
    low, high = limits.pop()
    assert low <= matrices.min().item() and high >= matrices.max().item()
    # Per-panel scaling would stretch the faintest panel (max 0.05) to full colour.
    assert high == pytest.approx(1.0, abs=1e-6)


def test_colourbar_range_covers_every_panel():
    matrices = panels_with_different_ranges()
    images, colorbar_ax = draw(matrices, figsize=(6, 4))
    bar_low, bar_high = sorted(colorbar_ax.get_ylim())  # a vertical colourbar: values run along y
    for panel in matrices.reshape(-1, 4, 5):
        assert bar_low <= panel.min().item() + 1e-6
        assert bar_high >= panel.max().item() - 1e-6
    assert (bar_low, bar_high) == pytest.approx(images[0].get_clim(), abs=1e-6)


def test_negative_values_extend_the_scale_below_zero():
    matrices = torch.tensor([[[[-2.0, 1.0]], [[0.5, 3.0]]]])  # (1, 2, 1, 2)
    images, _ = draw(matrices)
    assert all(im.get_clim() == pytest.approx((-2.0, 3.0)) for im in images)


def test_constant_matrices_still_get_a_valid_scale():
    images, _ = draw(torch.zeros(1, 2, 3, 3))
    low, high = images[0].get_clim()
    assert high > low


def test_tick_labels_titles_and_axis_labels_appear():
    xt, yt = ["a", "b", "c", "d", "e"], ["q1", "q2", "q3", "q4"]
    d2l.show_heatmaps(panels_with_different_ranges()[:1, :2], xlabel="Keys", ylabel="Queries",
                      titles=["Head 1", "Head 2"], xticklabels=xt, yticklabels=yt, figsize=(6, 3))
    heat_axes = [ax for ax in plt.gcf().axes if ax.images]
    assert len(heat_axes) == 2
    for ax, title in zip(heat_axes, ["Head 1", "Head 2"]):
        assert [t.get_text() for t in ax.get_xticklabels()] == xt
        assert ax.get_title() == title
        assert ax.get_xlabel() == "Keys"
    # The panels share their y axis, so only the first column shows the query labels.
    assert [t.get_text() for t in heat_axes[0].get_yticklabels()] == yt
    assert heat_axes[0].get_ylabel() == "Queries"


@pytest.mark.parametrize("shape", [(4,), (3, 3), (1, 3, 3), (1, 1, 1, 3, 3)])
def test_wrong_number_of_axes_raises(shape):
    expected = (r"matrices must have shape \(num_rows, num_cols, num_queries, num_keys\), got "
                r".*; add axes with reshape or unsqueeze")
    with pytest.raises(ValueError, match=expected):
        d2l.show_heatmaps(torch.zeros(shape), xlabel="Keys", ylabel="Queries")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"titles": ["only one"]}, "got 1 titles (one per column of heatmaps), need 2"),
     ({"xticklabels": ["a", "b"]}, "got 2 xticklabels (one per key), need 5"),
     ({"yticklabels": ["a", "b", "c", "d", "e"]}, "got 5 yticklabels (one per query), need 4")],
)
def test_wrong_number_of_labels_raises(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        d2l.show_heatmaps(torch.zeros(1, 2, 4, 5), xlabel="Keys", ylabel="Queries", **kwargs)
    assert fragment in str(info.value)
    assert str(info.value).endswith(", or None")


def example():
    keys = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    values = torch.tensor([[10.0], [20.0], [30.0]])
    return keys, values


def test_turning_query_states_hold_what_attention_pooling_returns():
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values, angles=[0, 45, 210],
                                                 lengths=[1.0, 2.0])
    n_tau = len(attention_cues.TAUS)
    assert len(states["weights"]) == 3 * 2 * n_tau * 3 and len(states["text"]) == 3 * 2 * n_tau
    for theta in (0, 45, 210):
        query = torch.tensor([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
        for c in (1.0, 2.0):
            for tau in attention_cues.TAUS:
                scaled = keys.clone()
                scaled[1] *= c
                weights, pooled = d2l.attention_pooling(query, scaled, values, tau)
                at = (theta, c, tau)
                stored = [r for r in states["weights"] if (r["theta"], r["c"], r["tau"]) == at]
                assert [r["weight"] for r in stored] == pytest.approx(weights.tolist(), abs=1e-3)
                # The grey numbers over the bars are what the softmax sees: q.k / tau.
                assert [r["score"] for r in stored] == pytest.approx(
                    (scaled @ query / tau).tolist(), abs=0.01)
                text = " ".join(r["text"] for r in states["text"]
                                if (r["theta"], r["c"], r["tau"]) == at)
                assert f"pooled {pooled.item() + 0.0:.2f}" in text


def test_temperature_is_the_query_length():
    keys, values = example()
    q = attention_cues.unit_query(30)
    for a in (0.25, 2.0, 4.0):
        w_tau = d2l.attention_pooling(q, keys, values, 1 / a)[0]
        w_long = d2l.attention_pooling(a * q, keys, values)[0]
        assert torch.allclose(w_tau, w_long, atol=1e-6)


def test_no_negative_zero_in_the_explorer_text():
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values, angles=[90, 270], lengths=[1.0])
    assert not any("-0.00" in r["text"] for r in states["text"])


def test_scaled_key_is_drawn_last_narrow_and_solid():
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values, angles=[0], lengths=[1.0, 2.0])
    for c in (1.0, 2.0):
        rows = [r for r in states["keys"] if r["c"] == c]
        assert rows[-1]["name"].startswith("k2")
        assert rows[-1]["width"] < min(r["width"] for r in rows[:-1])
        assert rows[-1]["opacity"] == 1.0 > max(r["opacity"] for r in rows[:-1])


def test_arrows_are_the_query_over_tau_and_the_scaled_keys():
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values, angles=[0, 90],
                                                 lengths=[-1.0, 0.0, 0.5, 3.0])
    # The query is drawn as q / tau: its length is the query length that tau stands for, cut
    # at MAX_ARROW (and then labelled with its true length) where it would leave the plot.
    q90 = {r["tau"]: (r["x"], r["y"]) for r in states["query"] if r["theta"] == 90}
    assert q90 == {tau: (pytest.approx(0.0, abs=1e-6),
                         pytest.approx(min(1 / tau, attention_cues.MAX_ARROW)))
                   for tau in attention_cues.TAUS}
    cut = {r["tau"]: r["name"] for r in states["query"] if r["theta"] == 90 and r["tau"] < 0.4}
    assert cut == {0.1: "q/τ (10× q, cut)", 0.25: "q/τ (4× q, cut)"}
    k = {(r["c"], r["name"]): (r["x"], r["y"]) for r in states["keys"]}
    assert k[(3.0, "k2 (v=20)")] == (0.0, 3.0) and k[(0.5, "k2 (v=20)")] == (0.0, 0.5)
    assert k[(0.0, "k2 (v=20)")] == (0.0, 0.0) and k[(-1.0, "k2 (v=20)")] == (0.0, -1.0)
    assert k[(3.0, "k1 (v=10)")] == (2.0, 0.0) and k[(3.0, "k3 (v=30)")] == (0.0, 2.0)


def test_turning_query_starts_at_the_sections_example_and_draws_arrows():
    keys, values = example()
    explorer = attention_cues.turning_query(keys, values)
    params = {p["name"]: p["value"] for p in explorer.spec["params"]}
    assert params == {"theta": 0.0, "c": 1.0, "tau": 1.0}
    spec = json.dumps(explorer.spec)
    assert '"rule"' in spec and '"triangle-up"' in spec and "attention weights" in spec
    assert len(spec) < 320_000
    assert min(attention_cues.LENGTHS) < 0 and 0.0 in attention_cues.LENGTHS
    assert explorer.png()[:4] == b"\x89PNG"


def test_print_states_prints_the_weights_of_attention_pooling(capsys):
    keys, values = example()
    attention_cues.print_states(keys, values, [(210, 1.0)])
    out = capsys.readouterr().out.splitlines()
    weights, pooled = d2l.attention_pooling(
        torch.tensor([math.cos(math.radians(210)), math.sin(math.radians(210))]), keys, values)
    assert " ".join(f"{w:.3f}" for w in weights.tolist()) in out[1]
    assert out[1].endswith(f"{pooled.item():.2f}")


def test_attention_pooling_weights_sum_to_one_and_pool_the_values():
    weights, pooled = d2l.attention_pooling(torch.tensor([1.0, 0.0]), torch.eye(2),
                                            torch.tensor([[0.0], [1.0]]), tau=1.0)
    assert weights.sum().item() == pytest.approx(1.0)
    assert pooled.item() == pytest.approx(weights[1].item())
    assert weights[0] > weights[1]


def test_attention_pooling_of_many_queries_matches_one_at_a_time():
    keys, values = example()
    queries = attention_cues.unit_queries([0, 45, 210])
    weights, pooled = d2l.attention_pooling(queries, keys, values, tau=0.5)
    assert weights.shape == (3, 3) and pooled.shape == (3, 1)
    for q, w, p in zip(queries, weights, pooled):
        w1, p1 = d2l.attention_pooling(q, keys, values, tau=0.5)
        assert torch.allclose(w, w1, atol=1e-6) and torch.allclose(p, p1, atol=1e-5)


def test_number_line_dot_is_the_pooled_value_and_labels_sit_apart():
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values, angles=[90], lengths=[1.0, 2.0])
    for row in states["pooled"]:
        scaled = keys.clone()
        scaled[1] *= row["c"]
        pooled = d2l.attention_pooling(attention_cues.unit_query(90), scaled, values, row["tau"])[1]
        assert row["pooled"] == pytest.approx(pooled.item(), abs=1e-4)
    # At c = 2, k2 and k3 coincide: their labels must not (left and right of the tip).
    labels = {r["name"][:2]: (r["lx"], r["ly"]) for r in states["keys"] if r["c"] == 2.0}
    assert labels["k2"][0] < 0 < labels["k3"][0] and labels["k2"][1] == labels["k3"][1]
    q = next(r for r in states["query"] if r["tau"] == 1.0)
    assert (q["x"], q["y"]) == (pytest.approx(0.0, abs=1e-6), 1.0) and q["lx"] > 0.1


def test_query_label_stays_off_the_key_labels_and_the_text_line_is_short():
    """The query's label sits beside its shaft, so a query lying along a key (theta = 0 with
    tau = 0.5 on k1) does not overprint a key's label at the default c = 1; the text line stays
    short enough for its 230-pixel view at every state."""
    keys, values = example()
    states = attention_cues.turning_query_states(keys, values)
    labels = {}
    for r in states["keys"]:
        labels.setdefault(r["c"], []).append(attention_cues._label_box(r["lx"], r["ly"], r["name"]))
    for q in states["query"]:  # at the default c = 1
        box = attention_cues._label_box(q["lx"], q["ly"], q["name"])
        assert not any(attention_cues._overlaps(box, k) for k in labels[1.0]), (
            q["theta"], q["tau"])
    q = next(r for r in states["query"] if (r["theta"], r["tau"]) == (0, 0.5))
    k1 = next(r for r in states["keys"] if r["c"] == 1.0 and r["name"].startswith("k1"))
    assert (q["x"], q["y"]) == (k1["x"], k1["y"]) and abs(q["ly"] - k1["ly"]) > 0.3
    assert max(len(r["text"]) for r in states["text"]) <= 36


def sentence():
    vectors = {"the": [0, 0, 0, 1, 0], "black": [0, 0, 0, 0, 1], "cat": [0.8, 0.6, 0, 0, 0],
               "sat": [0, 0, 1, 0, 0], "on": [0, 0.6, 0, 0.8, 0], "mat": [0, 1, 0, 0, 0]}
    meaning = {"le": "the", "chat": "cat", "noir": "black", "s'assit": "sat", "sur": "on",
               "tapis": "mat"}
    english = "the black cat sat on the mat".split()
    french = "le chat noir s'assit sur le tapis".split()
    vocab = list(vectors)
    X_en = torch.tensor([vectors[w] for w in english])
    torch.manual_seed(0)  # the section's translations: near, not equal, to their words
    X_fr = torch.tensor([vectors[meaning[w]] for w in french]) + (
        0.2 * torch.randn(len(french), 5)).round(decimals=2)
    V = torch.eye(len(vocab))[[vocab.index(w) for w in english]]
    return X_fr, X_en, V, french, english, vocab


def test_sentence_states_hold_what_attention_pooling_returns():
    X_fr, X_en, V, french, english, vocab = sentence()
    states = attention_cues.sentence_states(X_fr, X_en, V, french, english, vocab,
                                            taus=(0.1, 0.5))
    assert len(states["matrix"]) == 2 * 7 * 7 and len(states["retrieved"]) == 2 * 7 * 6
    for tau in (0.1, 0.5):
        weights, pooled = d2l.attention_pooling(X_fr, X_en, V, tau)
        stored = [r["weight"] for r in states["matrix"] if r["tau"] == tau]
        assert stored == pytest.approx(weights.flatten().tolist(), abs=5e-3)  # 2 decimals
        shares = [r["share"] for r in states["retrieved"] if r["tau"] == tau]
        assert shares == pytest.approx(pooled.flatten().tolist(), abs=5e-3)
        # The raw-score rows are the scores the taught softmax turns into these weights.
        scores = torch.tensor([r["score"] for r in states["scores"] if r["tau"] == tau])
        assert scores.tolist() == pytest.approx((X_fr @ X_en.T / tau).flatten().tolist(), abs=5e-3)
        assert torch.allclose(torch.softmax(scores.reshape(7, 7), dim=-1), weights, atol=2e-2)
    # Repeated words get distinct labels, so the two rows "le" stay two rows of the heatmap.
    assert attention_cues._unique(french)[::5] == ["le #1", "le #2"]
    assert len({r["key"] for r in states["matrix"]}) == 7


def test_sentence_attention_starts_at_the_sections_heatmap():
    X_fr, X_en, V, french, english, vocab = sentence()
    explorer = attention_cues.sentence_attention(X_fr, X_en, V, french, english, vocab)
    params = {p["name"]: p["value"] for p in explorer.spec["params"]}
    assert params == {"tau": 0.25, "french": "sur"}
    assert 0.25 in attention_cues.SENTENCE_TAUS and len(json.dumps(explorer.spec)) < 200_000
    assert explorer.png()[:4] == b"\x89PNG"


def test_sentence_explorer_frames_and_names_the_chosen_row():
    X_fr, X_en, V, french, english, vocab = sentence()
    states = attention_cues.sentence_states(X_fr, X_en, V, french, english, vocab, taus=(0.25,))
    lines = {r["french"]: r["text"] for r in attention_cues._chosen_text(states)}
    pooled = d2l.attention_pooling(X_fr, X_en, V, 0.25)[1]
    top = pooled[4].argmax().item()  # sur
    assert lines["sur"].startswith("chosen query: sur") and f"{vocab[top]} " in lines["sur"]
    frame = attention_cues._row_highlight(attention_cues._unique(french))
    assert [r["query"] for r in frame.data] == [r["french"] for r in frame.data]


def test_query_map_is_the_taught_pooling_over_the_plane_and_draws():
    keys = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    values = torch.tensor([[10.0], [20.0], [30.0]])
    xs, ys, F = attention_cues.query_map(keys, values, extent=(-1.0, 2.0, -0.5, 1.5), steps=7)
    assert F.shape == (7, 7)
    for j, i in ((0, 0), (3, 5), (6, 2)):
        q = torch.tensor([xs[i].item(), ys[j].item()])
        assert F[j, i].item() == pytest.approx(d2l.attention_pooling(q, keys, values)[1].item(),
                                               abs=1e-5)
    assert torch.all((F >= 10) & (F <= 30))
    path = [(0.0, 0.0), (-0.5, 0.5), (-1.0, 1.3)]
    fig = attention_cues.plot_query_map(keys, values, path, torch.tensor([-6.67, 6.67]))
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "(135°)" in texts and "step 2\nf = " in texts and "τ=0.25" in texts
    # the three sectors where one key wins far from the origin, each labelled with its value
    assert all(f"f → {v}\n(k{i} wins)" in texts for i, v in ((1, 10), (2, 20), (3, 30)))


def test_stored_learned_alignment_is_a_weight_matrix_over_its_sentence():
    translation, weights = attention_cues.learned_alignment()
    # the committed run (results/learned-alignment.json) translated the sentence the plot labels
    assert attention_cues.read_results("learned-alignment")[1]["source"] == \
        attention_cues.LEARNED_SOURCE
    assert weights.shape == (len(translation) + 1, len(attention_cues.LEARNED_SOURCE) + 1)
    assert torch.allclose(weights.sum(dim=1), torch.ones(len(weights)), atol=0.03)
    assert translation[:3] == ["le", "chat", "noir"]  # the opening's example, translated
    attention_cues.show_learned_alignment()
    assert len(plt.get_fignums()) == 1
