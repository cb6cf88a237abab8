"""Tests of section 10.7: the Transformer blocks, masking and the decoding cache.

Where PyTorch has its own version of a block (nn.TransformerEncoderLayer / DecoderLayer, post-norm
with ReLU), the tests copy our weights into it (d2l_attention.testing.torch_encoder_layer /
torch_decoder_layer, the helpers the notebook's one-line cross-checks use) and compare outputs.
"""

import math

import pytest
import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention import testing
from d2l_attention.explore import transformer

D, HEADS, FFN, LAYERS, VOCAB = 16, 4, 32, 2, 23


def encoder_block(dropout=0.0, use_bias=False):
    return d2l.EncoderBlock(D, D, D, D, [D], D, FFN, HEADS, dropout, use_bias)


def make_encoder(dropout=0.0):
    return d2l.TransformerEncoder(VOCAB, D, D, D, D, [D], D, FFN, HEADS, LAYERS, dropout)


def make_decoder(dropout=0.0):
    return d2l.TransformerDecoder(VOCAB, D, D, D, D, [D], D, FFN, HEADS, LAYERS, dropout)


def tokens(batch_size, num_steps, seed=0):
    return torch.randint(0, VOCAB, (batch_size, num_steps),
                         generator=torch.Generator().manual_seed(seed))


# --- shapes ------------------------------------------------------------------------------------

def test_positionwise_ffn_shape_and_independence():
    torch.manual_seed(0)
    ffn = d2l.PositionWiseFFN(4, 8, 6)
    X = torch.randn(3, 5, 4)
    out = ffn(X)
    assert out.shape == (3, 5, 6)
    # each position is transformed on its own: permuting positions permutes the outputs
    perm = torch.randperm(5)
    assert torch.allclose(ffn(X[:, perm]), out[:, perm], atol=1e-6)


def test_addnorm_is_layernorm_of_the_residual_sum():
    torch.manual_seed(0)
    add_norm = d2l.AddNorm([D], dropout=0.5)
    add_norm.eval()
    X, Y = torch.randn(2, 3, D), torch.randn(2, 3, D)
    expected = nn.functional.layer_norm(X + Y, (D,))
    assert torch.allclose(add_norm(X, Y), expected, atol=1e-5)
    out = add_norm(X, Y)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 3), atol=1e-5)


def test_block_and_stack_shapes():
    torch.manual_seed(0)
    X, valid = torch.randn(2, 9, D), torch.tensor([9, 4])
    blk = encoder_block()
    assert blk(X, valid).shape == (2, 9, D)
    encoder = make_encoder()
    enc_out = encoder(tokens(2, 9), valid)
    assert enc_out.shape == (2, 9, D)
    assert len(encoder.attention_weights) == LAYERS
    assert all(w.shape == (2 * HEADS, 9, 9) for w in encoder.attention_weights)
    dec_blk = d2l.DecoderBlock(D, D, D, D, [D], D, FFN, HEADS, 0.0, 0)
    out, state = dec_blk(torch.randn(2, 6, D), [enc_out, valid, [None]])
    assert out.shape == (2, 6, D) and state[2][0].shape == (2, 6, D)
    decoder = make_decoder()
    Y_hat, state = decoder(tokens(2, 6, seed=1), decoder.init_state(enc_out, valid))
    assert Y_hat.shape == (2, 6, VOCAB)
    self_w, cross_w = decoder.attention_weights
    assert all(w.shape == (2 * HEADS, 6, 6) for w in self_w)
    assert all(w.shape == (2 * HEADS, 6, 9) for w in cross_w)


def test_encoder_padding_gets_no_attention():
    torch.manual_seed(0)
    encoder = make_encoder()
    encoder.eval()
    valid = torch.tensor([9, 4])
    encoder(tokens(2, 9), valid)
    for w in encoder.attention_weights:
        w = w.reshape(2, HEADS, 9, 9)
        assert w[1, :, :, 4:].abs().max() == 0
        assert torch.allclose(w.sum(-1), torch.ones(2, HEADS, 9), atol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_encoder_outputs_at_real_positions_ignore_the_padding(training):
    """What TransformerEncoder.ignores_padding promises, and train_seq2seq relies on."""
    torch.manual_seed(0)
    encoder = make_encoder(dropout=0.0)
    encoder.train(training)
    assert d2l.TransformerEncoder.ignores_padding
    X, valid = tokens(2, 9), torch.tensor([5, 3])
    full = encoder(X, valid)
    cut = encoder(X[:, :5], valid)
    for i, n in enumerate(valid.tolist()):
        assert torch.allclose(full[i, :n], cut[i, :n], atol=1e-5)


# --- masking and the decoding cache ------------------------------------------------------------

@pytest.mark.parametrize("mode", ["train", "eval"])
def test_decoder_self_attention_is_causal_in_both_modes(mode):
    """A full-sequence pass never sees the future, whatever self.training says."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    decoder.train(mode == "train")
    enc_out, valid = torch.randn(3, 5, D), torch.tensor([5, 2, 3])
    Y = tokens(3, 7)
    Y_hat, _ = decoder(Y, decoder.init_state(enc_out, valid))
    above = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1)
    for w in decoder.attention_weights[0]:
        assert w[:, above].abs().max() == 0
        assert w[:, ~above].min() > 0
    # changing later target tokens never changes earlier outputs
    Y2 = Y.clone()
    Y2[:, 4:] = (Y2[:, 4:] + 1) % VOCAB
    Y_hat2, _ = decoder(Y2, decoder.init_state(enc_out, valid))
    assert torch.allclose(Y_hat[:, :4], Y_hat2[:, :4], atol=1e-5)
    assert not torch.allclose(Y_hat[:, 4:], Y_hat2[:, 4:], atol=1e-3)


def test_eval_teacher_forced_pass_equals_cached_step_by_step_decoding():
    """Eval mode: one pass over the whole target == one token at a time with the cache."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.3)  # eval mode switches dropout off
    decoder.eval()
    enc_out, valid = torch.randn(2, 5, D), torch.tensor([5, 3])
    Y = tokens(2, 6)
    full, state_full = decoder(Y, decoder.init_state(enc_out, valid))
    full_self = [w.clone() for w in decoder.attention_weights[0]]
    assert all(c.shape == (2, 6, D) for c in state_full[2])
    state = decoder.init_state(enc_out, valid)
    steps = []
    for t in range(Y.shape[1]):
        out, state = decoder(Y[:, t:t + 1], state)
        steps.append(out)
        assert all(c.shape == (2, t + 1, D) for c in state[2])  # the cache grows by one
        # the last query row of the full pass's weights is this step's only row
        for w_full, w_step in zip(full_self, decoder.attention_weights[0]):
            assert torch.allclose(w_full[:, t:t + 1, :t + 1], w_step, atol=1e-6)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)


def test_cache_matches_recomputing_the_full_prefix():
    """At every step, the cached decoder equals a fresh causal pass over the whole prefix."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    decoder.eval()
    enc_out, valid = torch.randn(2, 5, D), torch.tensor([5, 3])
    Y = tokens(2, 6)
    state = decoder.init_state(enc_out, valid)
    for t in range(Y.shape[1]):
        cached, state = decoder(Y[:, t:t + 1], state)
        recomputed, _ = decoder(Y[:, :t + 1], decoder.init_state(enc_out, valid))
        assert torch.allclose(cached[:, 0], recomputed[:, -1], atol=1e-5)


def test_prefix_then_cache_equals_one_pass():
    """A chunk of several new positions after a cache is masked causally at its offset."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    decoder.eval()
    enc_out, valid = torch.randn(2, 5, D), torch.tensor([5, 3])
    Y = tokens(2, 8)
    full, _ = decoder(Y, decoder.init_state(enc_out, valid))
    state = decoder.init_state(enc_out, valid)
    first, state = decoder(Y[:, :2], state)
    second, state = decoder(Y[:, 2:6], state)  # 4 new queries after 2 cached positions
    self_w = decoder.attention_weights[0][0]  # (batch * heads, 4, 6)
    assert self_w.shape == (2 * HEADS, 4, 6)
    allowed = torch.arange(6)[None, :] <= torch.arange(2, 6)[:, None]
    assert self_w[:, ~allowed].abs().max() == 0
    third, state = decoder(Y[:, 6:], state)
    assert torch.allclose(full, torch.cat([first, second, third], dim=1), atol=1e-5)


def test_causal_valid_lens():
    assert d2l.causal_valid_lens(2, 3).tolist() == [[1, 2, 3], [1, 2, 3]]
    assert d2l.causal_valid_lens(1, 2, num_past=4).tolist() == [[5, 6]]
    assert d2l.causal_valid_lens(3, 1, num_past=4) is None


def test_decoder_positions_continue_after_the_cache():
    """Step t embeds position t (not 0): the input equals the full pass's input at t."""
    torch.manual_seed(0)
    decoder = make_decoder(dropout=0.0)
    Y = tokens(1, 4)
    full = d2l.embed_with_positions(decoder.embedding, decoder.pos_encoding, Y)
    step = d2l.embed_with_positions(decoder.embedding, decoder.pos_encoding, Y[:, 3:], offset=3)
    assert torch.allclose(full[:, 3:], step)
    expected = decoder.embedding(Y[:, 3:]) * math.sqrt(D) + decoder.pos_encoding.P[:, 3:4]
    assert torch.allclose(step, expected)
    with pytest.raises(RuntimeError):  # only max_len positions are encoded
        d2l.embed_with_positions(decoder.embedding, decoder.pos_encoding, Y, offset=998)


def test_predict_stops_at_eos():
    vocab = d2l.Vocab([["a", "b", "c"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    torch.manual_seed(0)
    args = (D, D, D, D, [D], D, FFN, HEADS, LAYERS, 0.0)
    net = d2l.EncoderDecoder(d2l.TransformerEncoder(len(vocab), *args),
                             d2l.TransformerDecoder(len(vocab), *args))
    dense = net.decoder.dense
    with torch.no_grad():
        dense.weight.zero_()
        dense.bias.zero_()
        dense.bias[vocab["b"]] = 5.0
    translation, weights = d2l.predict_seq2seq(net, "a c", vocab, vocab, 5, "cpu", True)
    assert translation == "b b b b b" and len(weights) == 5
    with torch.no_grad():
        dense.bias[vocab["<eos>"]] = 10.0
    translation, weights = d2l.predict_seq2seq(net, "a c", vocab, vocab, 5, "cpu", True)
    assert translation == "" and len(weights) == 1


# --- sizes that cannot work ---------------------------------------------------------------------

@pytest.mark.parametrize("sizes, name", [((16, 16, 16, 16, [16], 32), "ffn_num_input"),
                                         ((16, 8, 16, 16, [16], 16), "query_size"),
                                         ((16, 16, 16, 16, [8], 16), "norm_shape")])
def test_block_sizes_that_break_the_residual_are_rejected(sizes, name):
    key, query, value, hiddens, norm, ffn_in = sizes
    with pytest.raises(ValueError, match=name):
        d2l.EncoderBlock(key, query, value, hiddens, norm, ffn_in, FFN, HEADS, 0.0)
    with pytest.raises(ValueError, match=name):
        d2l.DecoderBlock(key, query, value, hiddens, norm, ffn_in, FFN, HEADS, 0.0, 0)


def test_addnorm_rejects_a_sublayer_that_changes_the_shape():
    with pytest.raises(ValueError, match="keep the shape"):
        d2l.AddNorm([D], 0.0)(torch.randn(2, 3, D), torch.randn(2, 1, D))


# --- cross-checks against PyTorch's own layers -------------------------------------------------

@pytest.mark.parametrize("use_bias", [False, True])
def test_encoder_block_matches_torch_encoder_layer(use_bias):
    torch.manual_seed(0)
    ours = encoder_block(use_bias=use_bias)
    theirs = testing.torch_encoder_layer(ours)
    assert sum(p.numel() for p in theirs.parameters()) >= sum(p.numel() for p in ours.parameters())
    ours.eval()
    theirs.eval()
    X, valid = torch.randn(3, 6, D), torch.tensor([6, 4, 1])
    padding = torch.arange(6)[None, :] >= valid[:, None]
    with torch.no_grad():
        expected = theirs(X, src_key_padding_mask=padding)
        got = ours(X, valid)
    keep = ~padding  # torch may zero out padded rows; compare the valid positions
    assert torch.allclose(got[keep], expected[keep], atol=1e-5)
    # a different block gives a different function: the comparison can fail
    other = encoder_block(use_bias=use_bias)
    other.eval()
    with torch.no_grad():
        assert not torch.allclose(other(X, valid)[keep], expected[keep], atol=1e-3)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_decoder_block_matches_torch_decoder_layer(mode):
    torch.manual_seed(0)
    ours = d2l.DecoderBlock(D, D, D, D, [D], D, FFN, HEADS, 0.0, 0)
    theirs = testing.torch_decoder_layer(ours)
    ours.train(mode == "train")  # dropout 0: the causal mask must be on in both modes
    theirs.eval()
    X, enc, valid = torch.randn(2, 5, D), torch.randn(2, 7, D), torch.tensor([7, 3])
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    memory_padding = torch.arange(7)[None, :] >= valid[:, None]
    with torch.no_grad():
        expected = theirs(X, enc, tgt_mask=causal, memory_key_padding_mask=memory_padding)
        got, _ = ours(X, [enc, valid, [None]])
    assert torch.allclose(got, expected, atol=1e-5)


def test_the_notebook_cross_checks_agree():
    """The one-line cross-checks of the section: encoder and decoder layers vs PyTorch's."""
    torch.manual_seed(0)
    blk = encoder_block()
    X, valid = torch.randn(3, 6, D), torch.tensor([6, 4, 1])
    assert testing.encoder_layer_difference(blk, X, valid) < 1e-5
    dec = d2l.DecoderBlock(D, D, D, D, [D], D, FFN, HEADS, 0.0, 0)
    diff = testing.decoder_layer_difference(dec, torch.randn(2, 5, D), torch.randn(2, 7, D),
                                            torch.tensor([7, 3]))
    assert diff < 1e-5


def test_copy_helpers_left_the_book_api():
    for name in ("torch_encoder_layer", "torch_decoder_layer", "_copy_attention_into"):
        assert not hasattr(d2l, name), name


def test_ffn_rejects_the_wrong_width():
    with pytest.raises(RuntimeError):
        d2l.PositionWiseFFN(4, 8, 6)(torch.randn(2, 3, 5))


def test_one_width_is_the_width_the_book_sizes_share():
    assert d2l.one_width(**d2l.tied_sizes(12)) == 12
    with pytest.raises(ValueError, match="key_size"):
        d2l.one_width(8, 12, 12, 12, [12], 12)


# --- explorers: the states come from the taught model --------------------------------------------

def toy_translator(favourite="b", strength=5.0):
    """An untrained translator on a toy vocabulary whose output layer prefers `favourite`."""
    vocab = d2l.Vocab([["a", "b", "c"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    torch.manual_seed(0)
    args = (D, D, D, D, [D], D, FFN, HEADS, LAYERS, 0.0)
    net = d2l.EncoderDecoder(d2l.TransformerEncoder(len(vocab), *args),
                             d2l.TransformerDecoder(len(vocab), *args))
    with torch.no_grad():
        net.decoder.dense.bias[vocab[favourite]] += strength
    return net.eval(), vocab


def stored(rows, **state):
    """The (queries x keys) matrix of one state of an explorer's heatmap rows."""
    cells = [r for r in rows if all(r[k] == v for k, v in state.items())]
    m = torch.zeros(1 + max(r["row"] for r in cells), 1 + max(r["col"] for r in cells))
    for r in cells:
        m[r["row"], r["col"]] = r["weight"]
    return m


def encode(net, vocab, sentence, num_steps):
    ids = vocab[sentence.split()] + [vocab["<eos>"]]
    valid = torch.tensor([len(ids)])
    src = torch.tensor([d2l.truncate_pad(ids, num_steps, vocab["<pad>"])])
    return net.encoder(src, valid), valid, len(ids)


def test_teacher_forced_holds_one_causal_pass_and_the_reference_log_probabilities():
    net, vocab = toy_translator()
    att = transformer.teacher_forced(net, "a c", "c a b", vocab, vocab, 5)
    assert att.source == ["a", "c", "<eos>"] and att.target == ["<bos>", "c", "a", "b"]
    with torch.no_grad():
        enc_out, valid, n_src = encode(net, vocab, "a c", 5)
        encoder = torch.stack(net.encoder.attention_weights)[..., :n_src, :n_src]
        Y = torch.tensor([vocab[att.target]])
        Y_hat, _ = net.decoder(Y, net.decoder.init_state(enc_out, valid))
        decoder, cross = (torch.stack(w) for w in net.decoder.attention_weights)
    assert torch.allclose(att.encoder, encoder) and torch.allclose(att.decoder, decoder)
    assert torch.allclose(att.cross, cross[..., :n_src]) and att.decoder.triu(1).max() == 0
    log_probs = torch.log_softmax(Y_hat[0], -1)
    labels = vocab[["c", "a", "b", "<eos>"]]
    assert torch.allclose(att.log_probs, log_probs[torch.arange(4), torch.tensor(labels)])
    assert att.predicted == vocab.to_tokens(Y_hat[0].argmax(-1).tolist())


def test_greedy_rows_equal_the_teacher_forced_rows_of_the_translation():
    net, vocab = toy_translator()
    translation, gap = transformer.greedy_rows_match(net, "a c", vocab, vocab, 5)
    assert translation == "b b b b b" and gap < 1e-5


def test_strongest_keys_reads_the_argmax_of_each_row():
    weights = torch.tensor([[[[0.1, 0.9], [0.7, 0.3]]]])  # one layer, one head
    assert transformer.strongest_keys(weights, ["x", "y"], ["k0", "k1"]) == (
        "layer 1 head 1: x->k1 0.90, y->k0 0.70")


def test_attention_states_hold_the_models_weights_for_each_sentence_kind_layer_and_head():
    net, vocab = toy_translator()
    sentences, references, num_steps = ["a c", "b"], ["c a", "a"], 5
    rows, text = transformer.attention_states(net, sentences, references, vocab, vocab,
                                              num_steps, decimals=4)
    assert len(text) == len(sentences) * 3
    total = 0
    for sentence, reference in zip(sentences, references):
        with torch.no_grad():
            enc_out, valid, n_src = encode(net, vocab, sentence, num_steps)
            encoder = torch.stack(net.encoder.attention_weights)[..., :n_src, :n_src]
            dec_in = torch.tensor([vocab[["<bos>"] + reference.split()]])
            net.decoder(dec_in, net.decoder.init_state(enc_out, valid))  # one causal pass
            decoder, cross = (torch.stack(w) for w in net.decoder.attention_weights)
        expected = {"encoder": encoder, "decoder": decoder, "cross": cross[..., :n_src]}
        for kind, weights in expected.items():
            for layer in range(LAYERS):
                for head in range(HEADS):
                    got = stored(rows, sentence=sentence, kind=kind, layer=layer + 1,
                                 head=head + 1)
                    assert got.shape == weights[layer, head].shape
                    assert got.flatten().tolist() == pytest.approx(
                        weights[layer, head].flatten().tolist(), abs=1e-4)
                    total += got.numel()
        (line,) = [r["text"] for r in text if (r["sentence"], r["kind"]) == (sentence, "cross")]
        assert "greedy: b b b b b" in line and f"reference fed: {reference}" in line
    assert len(rows) == total
    # the rows' first-seen order (the heatmap's axis order) is position order in every state
    for axis, index in (("key", "col"), ("query", "row")):
        order = list(dict.fromkeys(r[axis] for r in rows))
        for sentence in sentences:
            for kind in expected:
                labels = {r[axis]: r[index] for r in rows
                          if (r["sentence"], r["kind"]) == (sentence, kind)}
                positions = [labels[a] for a in order if a in labels]
                assert positions == sorted(positions) == list(range(len(labels)))
    chart = transformer.attention_explorer(net, sentences, references, vocab, vocab, num_steps)
    assert "Attention of the trained translator" in repr(chart)


def test_attention_states_feed_the_greedy_translation_for_a_missing_reference():
    net, vocab = toy_translator()
    rows, text = transformer.attention_states(net, ["a c"], [None], vocab, vocab, 5,
                                              kinds=("cross",), decimals=4)
    assert "reference fed: b b b b b" in text[0]["text"]
    att = transformer.teacher_forced(net, "a c", "b b b b b", vocab, vocab, 5)
    assert stored(rows, layer=1, head=1).flatten().tolist() == pytest.approx(
        att.cross[0, 0].flatten().tolist(), abs=1e-4)


def test_attention_explorer_can_offer_one_kind():
    net, vocab = toy_translator()
    rows, text = transformer.attention_states(net, ["a c"], ["c a"], vocab, vocab, 5,
                                              kinds=("cross",))
    assert {r["kind"] for r in rows} == {"cross"} and len(text) == 1
    chart = transformer.attention_explorer(net, ["a c", "b"], ["c a", "a"], vocab, vocab, 5,
                                           kinds=("cross",))
    assert "Attention of the trained translator" in repr(chart)


def test_layer_inputs_are_what_the_layers_self_attention_reads():
    net, vocab = toy_translator()
    X, att = transformer.layer_inputs(net, "a c", "c a b", vocab, vocab, 5, layer=1)
    with torch.no_grad():
        enc_out, valid, _ = encode(net, vocab, "a c", 5)
        Y = d2l.embed_with_positions(net.decoder.embedding, net.decoder.pos_encoding,
                                     torch.tensor([vocab[["<bos>", "c", "a", "b"]]]))
        expected, _ = net.decoder.blks[0](Y, net.decoder.init_state(enc_out, valid))
    assert torch.allclose(X, expected[0], atol=1e-6)
    assert att.target == ["<bos>", "c", "a", "b"]


def test_cache_states_hold_every_query_so_far_as_computed_at_its_own_step():
    net, vocab = toy_translator()
    rows, text = transformer.cache_states(net, "a c", vocab, vocab, 5, decimals=4)
    _, steps = d2l.predict_seq2seq(net, "a c", vocab, vocab, 5, "cpu", True)
    assert len(text) == len(steps) == 5
    assert len(rows) == LAYERS * HEADS * 5 * 5 * 5  # every step: the whole 5 x 5 frame
    labels = [f"{i} {tok}" for i, tok in enumerate(["<bos>"] + ["b"] * 4)]
    for t in range(5):
        step_rows = [r for r in rows if r["step"] == t]
        assert {r["key"] for r in step_rows} == {r["query"] for r in step_rows} == set(labels)
        for layer in range(LAYERS):
            for head in range(HEADS):
                cells = {(r["row"], r["col"]): r["weight"] for r in step_rows
                         if (r["layer"], r["head"]) == (layer + 1, head + 1)}
                assert len(cells) == 25
                for s in range(5):  # row s: what step s computed, unchanged since
                    for k in range(5):
                        if s > t or k > s:  # not computed yet / not seen: blank
                            assert cells[s, k] is None
                        else:
                            assert cells[s, k] == pytest.approx(
                                steps[s][0][layer][head, 0, k].item(), abs=1e-4)
        (line,) = [r["text"] for r in text if r["step"] == t]
        assert f"inputs at {t} earlier positions" in line and line.endswith("emits: b")
    chart = transformer.cache_explorer(net, "a c", vocab, vocab, 5)
    assert "Greedy decoding" in repr(chart)
    spec = chart.to_json()
    assert spec.count('"domain": ["0 <bos>", "1 b", "2 b", "3 b", "4 b"]') == 6  # fixed axes
    assert "isValid(datum.weight)" in spec  # blank cells draw no colour and no number
    net, vocab = toy_translator("<eos>", 10.0)  # stops at once: one step, emitting <eos>
    rows, text = transformer.cache_states(net, "a c", vocab, vocab, 5)
    assert len(rows) == LAYERS * HEADS and text[0]["text"].endswith("emits: <eos>")
    transformer.cache_explorer(net, "a c", vocab, vocab, 5)  # one step: still an explorer


def test_eval_mask_states_compare_the_causal_mask_with_the_books_unmasked_eval_pass():
    net, vocab = toy_translator()
    rows, text = transformer.eval_mask_states(net, "a c", "c a b", vocab, vocab, 5, decimals=4)
    assert len(rows) == 2 * LAYERS * HEADS * 4 * 4 and len(text) == 4
    with torch.no_grad():
        enc_out, valid, _ = encode(net, vocab, "a c", 5)
        Y = torch.tensor([vocab[["<bos>", "c", "a", "b"]]])
        Y_hat, _ = net.decoder(Y, net.decoder.init_state(enc_out, valid))
        causal = torch.stack(net.decoder.attention_weights[0])
        X = d2l.embed_with_positions(net.decoder.embedding, net.decoder.pos_encoding, Y)
        attention = net.decoder.blks[0].attention1
        attention(X, X, X, None)  # the book's eval mode: layer 1 without valid lengths
        unmasked = attention.attention.attention_weights
    later = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    for head in range(HEADS):
        for layer in range(LAYERS):
            got = stored(rows, book_mask=False, layer=layer + 1, head=head + 1)
            assert got.flatten().tolist() == pytest.approx(
                causal[layer, head].flatten().tolist(), abs=1e-4)
            assert got[later].max() == 0
        leaky = stored(rows, book_mask=True, layer=1, head=head + 1)
        assert leaky.flatten().tolist() == pytest.approx(unmasked[head].flatten().tolist(),
                                                         abs=1e-4)
        assert leaky[later].max() > 0.1  # the queries see later positions
    predicted = " ".join(vocab.to_tokens(Y_hat[0].argmax(-1).tolist()))
    lines = {(r["book_mask"], r["line"]): r["text"] for r in text}
    assert lines[False, 1].endswith(predicted)
    assert "diagonal: 0.00" in lines[False, 0] and "diagonal: 0.00" not in lines[True, 0]
    log_prob = torch.log_softmax(Y_hat[0], -1)[torch.arange(4), torch.tensor(
        vocab[["c", "a", "b", "<eos>"]])].sum().item()
    assert f"log-probability of the reference: {log_prob:.2f}" in lines[False, 0]
    # the hooks are gone: the same pass is causal again
    with torch.no_grad():
        net.decoder(Y, net.decoder.init_state(enc_out, valid))
    assert all(w[:, later].max() == 0 for w in net.decoder.attention_weights[0])
    assert "eval mode" in repr(transformer.eval_mask_explorer(net, "a c", "c a b", vocab, vocab, 5))
    opened = transformer.eval_mask_explorer(net, "a c", "c a b", vocab, vocab, 5,
                                            default_layer=2, default_head=1)
    values = {p["name"]: p["value"] for p in opened.spec["params"]}
    assert values["layer"] == 2 and values["head"] == 1 and values["book_mask"] is False


def test_decoder_step_by_hand_is_the_models_row():
    net, vocab = toy_translator()
    for t in range(4):
        for layer in range(LAYERS):
            for head in range(HEADS):
                step = transformer.decoder_step(net, "a c", "c a b", vocab, vocab, 5, t, layer,
                                                head)
                assert step["tokens"] == ["<bos>", "c", "a", "b"]
                assert torch.allclose(step["weights"], step["model"], atol=1e-6)
                assert step["weights"][t + 1:].sum() == 0
                assert torch.equal(step["masked"][:t + 1], step["scores"][:t + 1])


def test_show_alignment_averages_the_cross_attention_over_layers_and_heads():
    net, vocab = toy_translator()
    att = transformer.teacher_forced(net, "a c", "c a b", vocab, vocab, 5)
    (mean,) = transformer.show_alignment([att], ["toy"])
    d2l.plt.close("all")
    assert torch.allclose(mean, att.cross.mean((0, 1)))
    assert torch.allclose(mean.sum(-1), torch.ones(4), atol=1e-5)


def test_read_results_and_show_heldout():
    _, heldout = transformer.read_results("heldout")
    assert {"seq2seq", "bahdanau", "transformer"} <= set(heldout["summary"])
    transformer.show_heldout(heldout)
    d2l.plt.close("all")


def test_explorer_builders_left_the_book_api():
    for name in ("attention_states", "eval_mask_states", "cache_states", "position_labels",
                 "stack_decoder_steps", "show_alignment", "decoder_step", "layer_inputs",
                 "show_heldout"):
        assert not hasattr(d2l, name), name


# --- torch.compile -----------------------------------------------------------------------------

def test_the_translator_compiles_into_one_graph():
    """torch.compile traces the whole model without a graph break (the valid_lens value checks,
    a host sync, are skipped while it traces)."""
    net = d2l.EncoderDecoder(make_encoder(0.1), make_decoder(0.1))
    explanation = torch._dynamo.explain(net)(tokens(3, 5), tokens(3, 5, seed=1),
                                             torch.tensor([5, 3, 1]))
    assert explanation.graph_break_count == 0, explanation.break_reasons


# --- the book's decoding positions ------------------------------------------------------------

def test_greedy_batch_is_predict_seq2seq_for_each_sentence():
    net, vocab = toy_translator("c", 0.5)  # a weak preference: the outputs vary
    torch.manual_seed(1)
    with torch.no_grad():
        net.decoder.embedding.weight.mul_(3.0)
    sentences = ["a c", "b", "c c a", "a b c b a"]
    expected = [d2l.predict_seq2seq(net, s, vocab, vocab, 6, "cpu")[0] for s in sentences]
    assert transformer.greedy_batch(net, sentences, vocab, vocab, 6) == expected


def test_greedy_batch_from_position_zero_decodes_as_the_books_decoder():
    """positions_from_zero=True: each step's token gets P[0], as in the book's forward."""
    net, vocab = toy_translator("c", 0.5)
    with torch.no_grad():
        net.decoder.embedding.weight.mul_(3.0)
    dec = net.decoder
    sentences = ["a c", "c c a"]
    got = transformer.greedy_batch(net, sentences, vocab, vocab, 6, positions_from_zero=True)
    for sentence, translation in zip(sentences, got):
        enc_out, valid, _ = encode(net, vocab, sentence, 6)
        state, Y, out = dec.init_state(enc_out, valid), torch.tensor([[vocab["<bos>"]]]), []
        with torch.no_grad():
            for _ in range(6):
                H = dec.embedding(Y) * math.sqrt(D) + dec.pos_encoding.P[:, :1]
                for blk in dec.blks:
                    H, state = blk(H, state)
                Y = dec.dense(H).argmax(-1)
                if Y.item() == vocab["<eos>"]:
                    break
                out.append(Y.item())
        assert translation == " ".join(vocab.to_tokens(out))


def test_nmt_pairs_split_training_and_unseen_pairs(monkeypatch):
    lines = ["Go.\tVa !", "Hi.\tSalut !", "Go.\tMarche.", "Run!\tCours !", "Hi.\tSalut.",
             "Who?\tQui ?", "Wow!\tÇa alors !", "A b c d e f g h i j.\tX."]
    monkeypatch.setattr(d2l, "read_data_nmt", lambda: "\n".join(lines))
    train, tests = transformer.nmt_pairs(num_train=2, num_test=3, num_steps=10)
    assert train == [("go .", "va !"), ("hi .", "salut !")]
    # go and hi are seen; the 11-token sentence does not fit
    assert tests == [("run !", "cours !"), ("who ?", "qui ?"), ("wow !", "ça alors !")]


def test_position_bug_counts_exact_translations_and_bleu(monkeypatch):
    net, vocab = toy_translator()  # always emits b
    monkeypatch.setattr(transformer, "nmt_pairs",
                        lambda *args: ([("a", "b b b b b"), ("c", "a")], [("a c", "b b")]))
    out = transformer.position_bug(net, vocab, vocab, 5)
    assert out["training", "positions 0..t"] == {"exact": 1, "pairs": 2,
                                                 "bleu": d2l.corpus_bleu(["b b b b b"] * 2,
                                                                         ["b b b b b", "a"], 2)}
    assert set(out) == {(p, s) for p in ("training", "unseen")
                        for s in ("positions 0..t", "book: position 0")}
