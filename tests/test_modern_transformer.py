"""Tests of section 10.8: the decoder-only LM, pre-LN, the K/V cache, RoPE and the explorer.

The taught pieces (`d2l.TinyGPT`, `d2l.pre_ln_block`, `d2l.step_with_cache`, `d2l.rope`) come
from the notebook's `#@save` cells; the explorer and the helpers of
d2l_attention.explore.modern_transformer are checked against them.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.explore import modern_transformer as modern

CHARS = list(" abcdefgh.")


def tiny(causal=True, pre_ln=False, layers=2, seed=0, positions="learned"):
    torch.manual_seed(seed)
    return d2l.TinyGPT(len(CHARS), d=16, num_heads=4, num_layers=layers, max_len=12,
                       causal=causal, pre_ln=pre_ln, positions=positions).eval()


# --- the taught pieces -------------------------------------------------------------------------

def test_pre_ln_block_is_x_plus_f_of_layer_norm():
    torch.manual_seed(0)
    blk = d2l.EncoderBlock(16, 16, 16, 16, [16], 16, 32, 4, 0.0).eval()
    X = torch.randn(2, 3, 16)
    H = blk.addnorm1.ln(X)
    Y = X + blk.attention(H, H, H, None)
    expected = Y + blk.ffn(blk.addnorm2.ln(Y))
    assert torch.allclose(d2l.pre_ln_block(blk, X, None), expected)


@pytest.mark.parametrize("pre_ln", [False, True])
@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_causal_lm_outputs_do_not_depend_on_later_tokens(pre_ln, positions):
    lm = tiny(pre_ln=pre_ln, positions=positions)
    x = torch.randint(0, len(CHARS), (1, 8), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[0, 5:] = (y[0, 5:] + 1) % len(CHARS)
    with torch.no_grad():
        assert torch.allclose(lm(x)[0, :5], lm(y)[0, :5], atol=1e-6)
        unmasked = tiny(causal=False, pre_ln=pre_ln, positions=positions)
        assert not torch.allclose(unmasked(x)[0, :5], unmasked(y)[0, :5])


def llama_like(num_kv_heads, d=16, layers=2, seed=0):
    """tiny() with pre-LN, RoPE, RMSNorm, SwiGLU and GQA, as the notebook builds it."""
    lm = tiny(pre_ln=True, positions="rope", layers=layers, seed=seed)
    for blk in lm.blks:
        blk.addnorm1.ln, blk.addnorm2.ln = d2l.RMSNorm(d), d2l.RMSNorm(d)
        blk.ffn = d2l.SwiGLU(d, 21)
        blk.attention = d2l.GroupedQueryAttention(d, num_heads=4, num_kv_heads=num_kv_heads)
    lm.final_ln = d2l.RMSNorm(d)
    return lm.eval()


@pytest.mark.parametrize("pre_ln", [False, True])
def test_step_with_cache_is_the_causal_pass(pre_ln):
    lm = tiny(positions="rope", pre_ln=pre_ln)
    x = torch.randint(0, len(CHARS), (1, 9), generator=torch.Generator().manual_seed(2))
    cache = [[torch.zeros(4, 0, 4), torch.zeros(4, 0, 4)] for _ in lm.blks]
    with torch.no_grad():
        full = lm(x)[0]
        steps = torch.stack([d2l.step_with_cache(lm, x[:, t:t + 1], t, cache) for t in range(9)])
    assert torch.allclose(full, steps, atol=1e-5)
    assert all(K.shape == V.shape == (4, 9, 4) for K, V in cache)
    # the cache holds the projected and rotated keys, and the projected values, of every position
    blk, X = lm.blks[0], lm.embedding(x)
    if pre_ln:
        X = blk.addnorm1.ln(X)
    K = d2l.transpose_qkv(blk.attention.W_k(X), 4)
    assert torch.allclose(cache[0][0], d2l.rope(K), atol=1e-5)
    assert torch.allclose(cache[0][1], d2l.transpose_qkv(blk.attention.W_v(X), 4), atol=1e-5)


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
def test_llama_like_model_cache_is_the_causal_pass_and_shrinks(num_kv_heads):
    lm = llama_like(num_kv_heads)
    x = torch.randint(0, len(CHARS), (1, 9), generator=torch.Generator().manual_seed(2))
    text, cache = d2l.generate_with_cache(lm, CHARS, "ab", 8)
    assert all(K.shape == V.shape == (num_kv_heads, 9, 4) for K, V in cache)
    assert text == modern.generate(lm, CHARS, "ab", 8, window=12)
    cache = [[torch.zeros(num_kv_heads, 0, 4)] * 2 for _ in lm.blks]
    with torch.no_grad():
        steps = torch.stack([d2l.step_with_cache(lm, x[:, t:t + 1], t, cache) for t in range(9)])
        assert torch.allclose(lm(x)[0], steps, atol=1e-5)


def test_rms_norm_and_swiglu_follow_their_formulas():
    torch.manual_seed(0)
    X = torch.randn(2, 3, 8)
    norm = d2l.RMSNorm(8)
    with torch.no_grad():
        norm.weight.uniform_()
    expected = norm.weight * X / torch.sqrt((X ** 2).mean(-1, keepdim=True) + 1e-5)
    assert torch.allclose(norm(X), expected, atol=1e-6)
    assert sum(p.numel() for p in norm.parameters()) == 8
    centred = X - X.mean(-1, keepdim=True)
    assert torch.allclose(d2l.RMSNorm(8)(centred), nn.LayerNorm(8)(centred), atol=1e-5)
    ffn = d2l.SwiGLU(8, 5)
    expected = (F.silu(X @ ffn.W_1.weight.T) * (X @ ffn.W_3.weight.T)) @ ffn.W_2.weight.T
    assert torch.allclose(ffn(X), expected, atol=1e-6)
    assert sum(p.numel() for p in ffn.parameters()) == 3 * 8 * 5


def test_grouped_query_attention_shares_key_value_heads():
    torch.manual_seed(0)
    X = torch.randn(2, 5, 8)
    lens = d2l.causal_valid_lens(2, 5)
    # as many key-value heads as query heads: RotaryAttention with the same weights
    gqa = d2l.GroupedQueryAttention(8, num_heads=4, num_kv_heads=4).eval()
    rotary = d2l.RotaryAttention(8, 8, 8, 8, 4, 0.0).eval()
    rotary.load_state_dict(gqa.state_dict())
    assert torch.allclose(gqa(X, X, X, lens), rotary(X, X, X, lens), atol=1e-6)
    # 2 key-value heads: query heads 1, 2 read key-value head 1; 3, 4 read head 2
    gqa = d2l.GroupedQueryAttention(8, num_heads=4, num_kv_heads=2).eval()
    assert gqa.W_k.weight.shape == gqa.W_v.weight.shape == (4, 8)
    q, k, v = gqa.heads(X, X, X)
    assert q.shape == (8, 5, 2) and k.shape == v.shape == (4, 5, 2)
    full = d2l.RotaryAttention(8, 8, 8, 8, 4, 0.0).eval()
    full.W_q, full.W_o = gqa.W_q, gqa.W_o
    with torch.no_grad():
        full.W_k.weight.copy_(gqa.W_k.weight.view(2, 1, 2, 8).expand(2, 2, 2, 8).reshape(8, 8))
        full.W_v.weight.copy_(gqa.W_v.weight.view(2, 1, 2, 8).expand(2, 2, 2, 8).reshape(8, 8))
    assert torch.allclose(gqa(X, X, X, lens), full(X, X, X, lens), atol=1e-6)


def test_tiled_attention_is_softmax_attention():
    torch.manual_seed(0)
    Q, K, V = torch.randn(3, 10, 4), torch.randn(3, 37, 4), torch.randn(3, 37, 6)
    expected = F.softmax(Q @ K.transpose(1, 2) / 2, dim=-1) @ V
    for tile in (1, 8, 37, 64):  # 37 = 4 * 8 + 5: a short last tile
        assert torch.allclose(d2l.tiled_attention(Q, K, V, tile=tile), expected, atol=1e-5)
    assert torch.allclose(d2l.tiled_attention(100 * Q, K, V, tile=8),  # large scores: rescaling
                          F.softmax(100 * Q @ K.transpose(1, 2) / 2, dim=-1) @ V, atol=1e-4)


def test_rope_model_has_no_position_table_and_reads_past_max_len():
    lm = tiny(positions="rope")
    assert lm.position is None
    assert all(isinstance(blk.attention, d2l.RotaryAttention) for blk in lm.blks)
    with torch.no_grad():
        assert lm(torch.zeros(1, 30, dtype=torch.long)).shape == (1, 30, len(CHARS))  # max_len 12


def test_rotary_attention_rotates_each_heads_queries_and_keys():
    torch.manual_seed(0)
    mha = d2l.RotaryAttention(8, 8, 8, 8, 2, 0.0).eval()
    X = torch.randn(3, 5, 8)
    lens = d2l.causal_valid_lens(3, 5)
    q, k, v = (d2l.transpose_qkv(W(X), 2) for W in (mha.W_q, mha.W_k, mha.W_v))
    heads = d2l.DotProductAttention(0.0)(d2l.rope(q), d2l.rope(k), v, lens.repeat_interleave(2, 0))
    expected = mha.W_o(d2l.transpose_output(heads, 2))
    assert torch.allclose(mha(X, X, X, lens), expected, atol=1e-6)
    # the same weights without the rotation give another output
    plain = d2l.MultiHeadAttention(8, 8, 8, 8, 2, 0.0)
    plain.load_state_dict(mha.state_dict())
    assert not torch.allclose(plain(X, X, X, lens), expected, atol=1e-4)


def test_rope_start_continues_the_positions():
    torch.manual_seed(0)
    X = torch.randn(2, 7, 8)
    assert torch.allclose(d2l.rope(X)[:, 3:], d2l.rope(X[:, 3:], start=3), atol=1e-6)


def test_generate_with_cache_matches_generate_and_projects_each_position_once():
    lm = tiny(positions="rope")
    counts, remove = modern.count_rows(lm)
    text, cache = d2l.generate_with_cache(lm, CHARS, "ab", 6)
    cached = dict(counts)
    counts.clear()
    again = modern.generate(lm, CHARS, "ab", 6, window=12)
    remove()
    assert text == again and len(text) == 8
    assert cached["attention.W_k"] == 2 * 7  # 7 positions fed, 2 layers
    assert counts["attention.W_k"] == 2 * sum(range(2, 8))
    assert cached.keys() == counts.keys() == {"attention.W_q", "attention.W_k", "attention.W_v",
                                              "attention.W_o", "ffn.dense1", "ffn.dense2"}
    assert cache[0][0].shape == (4, 7, 4)


def test_rope_depends_on_the_offset_only_and_keeps_norms():
    torch.manual_seed(0)
    T, d = 20, 8
    q, k = torch.randn(d), torch.randn(d)
    Q, K = d2l.rope(q.expand(T, d)), d2l.rope(k.expand(T, d))
    scores = Q @ K.T
    assert (scores[1:, 1:] - scores[:-1, :-1]).abs().max() < 1e-4
    assert torch.allclose(Q.norm(dim=-1), q.norm().expand(T), atol=1e-5)
    assert torch.allclose(Q[0], q)  # position 0: no rotation
    # pair m at position 1 turns by omega_m = 10000^(-2m/d), 10.6's frequencies
    omega = 10000 ** (-torch.arange(0, d, 2) / d)
    angle = torch.atan2(Q[1, 1::2], Q[1, 0::2]) - torch.atan2(q[1::2], q[0::2])
    assert torch.allclose(torch.remainder(angle - omega + math.pi, 2 * math.pi) - math.pi,
                          torch.zeros(d // 2), atol=1e-5)


def test_the_fused_op_is_dot_product_attention_with_the_causal_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 6, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    ours = d2l.DotProductAttention(0.0)(q, k, v, d2l.causal_valid_lens(2, 6))
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True),
                          atol=1e-6)


# --- the library helpers -----------------------------------------------------------------------

class _NextInCycle(nn.Module):
    """Scores that put all the weight on token (x + 1) % vocab_size."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size, self.w = vocab_size, nn.Parameter(torch.zeros(1))

    def forward(self, tokens):
        nxt = (tokens + 1) % self.vocab_size
        return 20 * nn.functional.one_hot(nxt, self.vocab_size).float() + self.w


def test_train_char_lm_and_generate():
    ids = torch.tensor([0, 1, 2, 3] * 20)
    lm = _NextInCycle(4)
    losses = modern.train_char_lm(lm, ids, num_steps=2, window=8, batch_size=4)
    assert len(losses) == 2 and losses[-1] < 1e-6 and not lm.training
    assert modern.generate(lm, ["a", "b", "c", "d"], "ab", num_chars=5, window=8) == "abcdabc"


def test_train_char_lm_warmup_raises_the_rate_linearly():
    lm = tiny()
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        modern.train_char_lm(lm, torch.arange(40) % len(CHARS), num_steps=6, window=8,
                             batch_size=2, lr=0.01, warmup=4)
    finally:
        torch.optim.Adam.step = original
    assert seen == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


def test_plots_draw():
    torch.manual_seed(0)
    q, k = torch.randn(8), torch.randn(8)
    scores = modern.plot_rope_pair(q, k, m=1, positions=((1, 3), (5, 7)))
    Q, K = d2l.rope(q.expand(8, 8)), d2l.rope(k.expand(8, 8))
    assert scores == pytest.approx([(Q[1, 2:4] @ K[3, 2:4]).item()] * 2, abs=1e-5)
    modern.plot_losses({"a": [3.0, 2.0, 1.0] * 5}, smooth=3, hline=(2.0, "entropy"))
    d2l.plt.close("all")


def test_rope_offset_states_are_the_taught_scores():
    torch.manual_seed(0)
    q, k = torch.randn(8), torch.randn(8)
    rows = modern.rope_offset_states(q, k, positions=range(4, 13, 4), offsets=range(-3, 4))
    assert len(rows) == 2 * 3 * 7
    T = 16
    rotary = d2l.rope(q.expand(T, 8)) @ d2l.rope(k.expand(T, 8)).T
    P = d2l.PositionalEncoding(8, 0.0).P[0, :T]
    additive = (q + P) @ (k + P).T
    for r in rows:
        S = rotary if r["encoding"] == "RoPE" else additive
        assert r["score"] == pytest.approx(S[r["i"], r["i"] + r["offset"]].item(), abs=1e-3)
    # RoPE: the same curve at every i; added p_i: it moves
    curve = lambda name, i: [r["score"] for r in rows if (r["encoding"], r["i"]) == (name, i)]
    assert curve("RoPE", 4) == pytest.approx(curve("RoPE", 12), abs=2e-3)
    assert curve("added p_i", 4) != pytest.approx(curve("added p_i", 12), abs=0.1)
    spec = modern.rope_explorer(q, k, positions=range(4, 13, 4), offsets=range(-3, 4)).spec
    assert {p["name"]: p["value"] for p in spec["params"]}["i"] == 4


def test_mask_explorer_states_are_the_models_weights():
    lms = {True: tiny(), False: tiny(causal=False, seed=1)}
    text = "ab ca."
    heat, lines = modern.mask_states(lms, CHARS, text)
    ids = torch.tensor([[CHARS.index(c) for c in text]])
    for causal, lm in lms.items():
        with torch.no_grad():
            lm(ids)
        w = lm.blks[1].attention.attention.attention_weights[2]  # layer 2, head 3
        cells = [r for r in heat if (r["causal"], r["layer"], r["head"]) == (causal, 2, 3)]
        assert len(cells) == len(text) ** 2
        for r in cells:
            assert r["weight"] == pytest.approx(w[r["row"], r["col"]].item(), abs=0.006)
        above = [r["weight"] for r in heat if r["causal"] == causal and r["col"] > r["row"]]
        assert (max(above) == 0) == causal
    assert [r["causal"] for r in lines] == [True, False]
    assert all("right:" in r["text"] for r in lines)
    assert heat[0]["query"] == "0 a" and heat[2]["key"] == "2 _"
    explorer = modern.mask_explorer(lms, CHARS, text)
    assert "causal (on/off)" in repr(explorer)
    # it opens on the unmasked model's head that reads t + 1 most
    params = {p["name"]: p["value"] for p in explorer.spec["params"]}
    best = max(((l, h) for l in (1, 2) for h in (1, 2, 3, 4)),
               key=lambda lh: modern.next_position_weight(heat, False, *lh))
    assert (params["causal"], params["layer"], params["head"]) == (False, *best)
    with torch.no_grad():
        lms[False](ids)
    w = lms[False].blks[best[0] - 1].attention.attention.attention_weights[best[1] - 1]
    assert modern.next_position_weight(heat, False, *best) == pytest.approx(
        torch.diagonal(w, offset=1).mean().item(), abs=0.006)


def test_helpers_are_not_in_the_book_api():
    for name in ("char_data", "train_char_lm", "generate", "count_rows", "mask_states",
                 "mask_explorer", "plot_losses", "english_lines", "rope_explorer",
                 "plot_rope_pair"):
        assert not hasattr(d2l, name), name
