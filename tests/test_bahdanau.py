"""Tests of section 10.4: the Bahdanau attention decoder and the training loop it relies on."""

import copy

import pytest
import torch
from torch import nn

import d2l_attention as d2l

VOCAB, EMBED, HIDDEN, LAYERS = 13, 8, 16, 2


def make_models(dropout=0.0, seed=0):
    """A GRU encoder and the section's attention decoder."""
    torch.manual_seed(seed)
    encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDEN, LAYERS, dropout)
    decoder = d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDEN, LAYERS, dropout)
    return encoder, decoder


def random_batch(batch_size=5, src_steps=7, tgt_steps=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (batch_size, src_steps), generator=g)
    Y = torch.randint(0, VOCAB, (batch_size, tgt_steps), generator=g)
    valid = torch.randint(1, src_steps + 1, (batch_size,), generator=g)
    valid[0] = src_steps  # at least one full-length row
    valid[1] = 1  # and one that is all padding after its first token
    return X, Y, valid


def decode_by_hand(decoder, enc_outputs, valid, Y):
    """The decoder's equations written out directly with 10.3's pieces: score, masked softmax,
    weighted sum, GRU step. Returns the scores, the stacked weights and the final state."""
    outputs, hidden = enc_outputs
    enc = outputs.transpose(0, 1)
    scores, weights = [], []
    for emb in decoder.embedding(Y).transpose(0, 1):
        alpha = d2l.masked_softmax(decoder.attention.score(hidden[-1].unsqueeze(1), enc), valid)
        context = alpha @ enc
        weights.append(alpha)
        out, hidden = decoder.rnn(torch.cat((context[:, 0], emb), -1).unsqueeze(0), hidden)
        scores.append(decoder.dense(out[0]))
    return torch.stack(scores, 1), torch.cat(weights, 1), hidden


def test_attention_decoder_base_has_no_weights():
    with pytest.raises(NotImplementedError):
        _ = d2l.AttentionDecoder().attention_weights


def test_decoder_shapes_weights_and_state():
    encoder, decoder = make_models()
    encoder.eval()
    decoder.eval()
    X, Y, valid = random_batch()
    state = decoder.init_state(encoder(X, valid), valid)
    values, hidden, lens = state  # the book's three entries
    assert values.shape == (5, 7, HIDDEN) and hidden.shape == (LAYERS, 5, HIDDEN)
    assert lens is valid
    out, new_state = decoder(Y, state)
    assert out.shape == (5, 6, VOCAB)
    assert len(new_state) == 3 and new_state[0] is values
    weights = decoder.attention_weights
    assert len(weights) == 6 and all(w.shape == (5, 1, 7) for w in weights)
    weights = torch.cat(weights, dim=1)  # (batch, tgt_steps, src_steps)
    assert torch.allclose(weights.sum(-1), torch.ones(5, 6), atol=1e-6)
    padded = torch.arange(7)[None, None, :] >= valid[:, None, None]
    assert weights[padded.expand_as(weights)].abs().max() == 0
    assert torch.equal(weights[1, :, 0], torch.ones(6))  # one valid key takes all the weight


@pytest.mark.parametrize("with_valid_lens", [True, False])
def test_decoder_computes_the_equations(with_valid_lens):
    """The decoder is the section's equations: the same scores, state and weights as writing
    them out with 10.3's score and masked softmax."""
    encoder, decoder = make_models()
    encoder.eval()
    decoder.eval()
    X, Y, valid = random_batch()
    valid = valid if with_valid_lens else None
    enc_outputs = encoder(X, valid)
    out, state = decoder(Y, decoder.init_state(enc_outputs, valid))
    out_ref, weights_ref, hidden_ref = decode_by_hand(decoder, enc_outputs, valid, Y)
    assert torch.allclose(out, out_ref, atol=1e-6)
    assert torch.allclose(state[1], hidden_ref, atol=1e-6)
    assert torch.allclose(torch.cat(decoder.attention_weights, 1), weights_ref, atol=1e-6)


def test_step_by_step_decoding_equals_one_pass():
    """predict_seq2seq feeds one token at a time and carries the state: the same scores."""
    encoder, decoder = make_models()
    encoder.eval()
    decoder.eval()
    X, Y, valid = random_batch()
    state = decoder.init_state(encoder(X, valid), valid)
    out, _ = decoder(Y, state)
    steps = []
    for t in range(Y.shape[1]):
        o, state = decoder(Y[:, t:t + 1], state)
        steps.append(o)
    assert torch.allclose(torch.cat(steps, 1), out, atol=1e-6)


def tiny_vocab():
    tokens = [["a", "b", "c", "d"]] * 2
    return d2l.Vocab(tokens, reserved_tokens=["<pad>", "<bos>", "<eos>"])


def test_predict_stops_at_eos():
    vocab = tiny_vocab()
    torch.manual_seed(0)
    encoder = d2l.Seq2SeqEncoder(len(vocab), EMBED, HIDDEN, LAYERS)
    decoder = d2l.Seq2SeqAttentionDecoder(len(vocab), EMBED, HIDDEN, LAYERS)
    net = d2l.EncoderDecoder(encoder, decoder)
    with torch.no_grad():  # make the output layer always prefer <eos>
        decoder.dense.weight.zero_()
        decoder.dense.bias.zero_()
        decoder.dense.bias[vocab["<eos>"]] = 10.0
    translation, weights = d2l.predict_seq2seq(net, "a b", vocab, vocab, num_steps=6,
                                               device="cpu", save_attention_weights=True)
    assert translation == ""
    assert len(weights) == 1  # one decoding step, then <eos>
    with torch.no_grad():  # now <eos> never wins: decoding runs for num_steps steps
        decoder.dense.bias[vocab["<eos>"]] = -10.0
        decoder.dense.bias[vocab["c"]] = 10.0
    translation, weights = d2l.predict_seq2seq(net, "a b", vocab, vocab, num_steps=6,
                                               device="cpu", save_attention_weights=True)
    assert translation == "c c c c c c" and len(weights) == 6
    assert all(w[0].shape == (1, 1, 6) for w in weights)
    # "a b <eos>": three valid source positions, the three padded ones get no weight
    assert all(w[0][0, 0, 3:].abs().max() == 0 for w in weights)


def test_train_seq2seq_cutting_padding_is_exact():
    """train_seq2seq skips target steps that are padding in the whole batch; with dropout 0 the
    trained weights and the reported loss match a plain loop over the full num_steps."""
    vocab = tiny_vocab()
    g = torch.Generator().manual_seed(0)
    num_steps, n = 8, 24
    X = torch.randint(4, len(vocab), (n, num_steps), generator=g)
    X_valid = torch.randint(2, 5, (n,), generator=g)
    Y = torch.randint(4, len(vocab), (n, num_steps), generator=g)
    Y_valid = torch.randint(1, 5, (n,), generator=g)  # at most 4 of 8 steps are real
    Y = d2l.sequence_mask(Y, Y_valid, value=vocab["<pad>"])
    batches = list(d2l.load_array((X, X_valid, Y, Y_valid), 8, is_train=False))
    torch.manual_seed(0)
    net = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(len(vocab), EMBED, HIDDEN, LAYERS),
                             d2l.Seq2SeqAttentionDecoder(len(vocab), EMBED, HIDDEN, LAYERS))
    reference = copy.deepcopy(net)
    seen_steps = []
    net.decoder.register_forward_hook(lambda m, args, out: seen_steps.append(args[0].shape[1]))
    torch.manual_seed(1)
    result = d2l.train_seq2seq(net, batches, 0.01, 3, vocab, "cpu")
    assert max(seen_steps) <= 4 < num_steps  # the padding-only steps were really skipped

    torch.manual_seed(1)  # the same initialization as train_seq2seq
    reference.apply(d2l.seq2seq._xavier_init)
    optimizer = d2l.seq2seq._adam(list(reference.parameters()), 0.01, "cpu")  # as train_seq2seq
    loss = d2l.MaskedSoftmaxCELoss()
    reference.train()
    for _ in range(3):
        loss_sum, tokens = 0.0, 0
        for Xb, Xv, Yb, Yv in batches:
            optimizer.zero_grad()
            dec_input = torch.cat([torch.full((Yb.shape[0], 1), vocab["<bos>"]), Yb[:, :-1]], 1)
            Y_hat, _ = reference(Xb, dec_input, Xv)
            assert Y_hat.shape[1] == num_steps
            l = loss(Y_hat, Yb, Yv)
            l.sum().backward()
            d2l.grad_clipping(reference, 1)
            optimizer.step()
            loss_sum += l.sum().item()
            tokens += int(Yv.sum())
    assert result.loss == pytest.approx(loss_sum / tokens, rel=1e-5)
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        assert torch.allclose(p, q, atol=1e-5), name


def test_layers_are_the_books():
    _, decoder = make_models()
    assert isinstance(decoder, d2l.AttentionDecoder)
    assert isinstance(decoder.attention, d2l.AdditiveAttention)
    assert isinstance(decoder.rnn, nn.GRU)
    assert decoder.rnn.input_size == EMBED + HIDDEN and decoder.rnn.num_layers == LAYERS
    assert [name for name, _ in decoder.named_children()] == [
        "attention", "embedding", "rnn", "dense"]
    assert not hasattr(d2l, "FastSeq2SeqAttentionDecoder")  # one taught class, no twin


def test_translate_and_score_uses_the_models_device():
    """The sentences go where the model's parameters are, whatever `device` the caller passes:
    a batch sent to "meta" would fail on the CPU model."""
    vocab = tiny_vocab()
    torch.manual_seed(0)
    net = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(len(vocab), EMBED, HIDDEN, LAYERS),
                             d2l.Seq2SeqAttentionDecoder(len(vocab), EMBED, HIDDEN, LAYERS))
    expected = d2l.translate_and_score(net, ["a b"], ["c d"], vocab, vocab, 4, "cpu",
                                       verbose=False)
    for device in ("meta", None):
        got = d2l.translate_and_score(net, ["a b"], ["c d"], vocab, vocab, 4, device,
                                      verbose=False)
        assert got[:2] == expected[:2]


# ------------------------------------------------ the alignment demonstration (explore module)

def test_reorder_pairs_alignment_translates_word_by_word():
    from d2l_attention.explore import bahdanau_attention as ba

    lexicon = {**ba.NOUNS, **ba.ADJECTIVES, **ba.VERBS, "the": "le", "and": "et", ".": "."}
    triples = ba.reorder_pairs(200, 0)
    assert triples == ba.reorder_pairs(200, 0) and triples != ba.reorder_pairs(200, 1)
    crossings = 0
    for src, tgt, align in triples:
        assert len(tgt) == len(align) == len(src)  # one target word per source word
        assert sorted(align) == list(range(len(src)))
        assert [lexicon[src[a]] for a in align] == tgt
        crossings += sum(a > b for a, b in zip(align, align[1:]))
        assert len(src) + 1 <= ba.ALIGNMENT_CONFIG.num_steps
    assert crossings > len(triples)  # the order changes, more than once a sentence on average
    src, tgt, align = ba.reorder_pair(__import__("random").Random(0), 1, p_adjective=1.0)
    assert align == [0, 2, 1, 4, 6, 5, 3, 7]  # le N A le N A V .


def svg_for(explorer, **values):
    """The SVG Vega draws for `explorer` with its controls set to `values`."""
    import vl_convert

    spec = copy.deepcopy(explorer.spec)
    for param in spec["params"]:
        if param["name"] in values:
            param["value"] = values.pop(param["name"])
    return vl_convert.vegalite_to_svg(spec)


def tiny_alignment_models():
    from d2l_attention.explore import bahdanau_attention as ba

    config = ba.AlignmentConfig(train_pairs=64, test_pairs=8, max_clauses=2, num_hiddens=16)
    train_iter, src_vocab, tgt_vocab, test = config.data()
    torch.manual_seed(0)
    net = config.net(src_vocab, tgt_vocab)
    plain = config.net(src_vocab, tgt_vocab, attention=False)
    for model in (net, plain):
        model.apply(d2l.seq2seq._xavier_init)
    return ba, config, src_vocab, tgt_vocab, test, net, plain


def test_greedy_decode_matches_predict_seq2seq():
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    sources = [s for s, _, _ in test]
    outs, weights = ba.greedy_decode(net, sources, src_vocab, tgt_vocab, config.num_steps)
    plain_outs, none = ba.greedy_decode(plain, sources, src_vocab, tgt_vocab, config.num_steps)
    assert none is None
    for src, out, w, plain_out in zip(sources, outs, weights, plain_outs):
        translation, seq = d2l.predict_seq2seq(net, " ".join(src), src_vocab, tgt_vocab,
                                               config.num_steps, "cpu", True)
        assert " ".join(out) == translation and w.shape == (len(seq), len(src) + 1)
        expected = torch.cat([step[0][0, :, :len(src) + 1] for step in seq])
        assert torch.allclose(w, expected, atol=1e-6)
        assert " ".join(plain_out) == d2l.predict_seq2seq(
            plain, " ".join(src), src_vocab, tgt_vocab, config.num_steps, "cpu")[0]


def test_step_hits_feeds_the_reference_and_hides_the_keys_after_the_aligned_word():
    """10.4's key hiding: with all keys, step-by-step decoding is teacher forcing in one pass;
    hiding keeps only h_1 .. h_a at the step that translates source word a."""
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    batch = ba.reference_batch(test, src_vocab, tgt_vocab, config.num_steps)
    X, X_valid_len, dec_X, Y, aligned = batch
    net.eval()
    with torch.no_grad():
        Y_hat, _ = net(X, dec_X, X_valid_len)
    assert torch.equal(d2l.step_hits(net, batch, hide_later_keys=False), Y_hat.argmax(-1) == Y)
    seen = []
    net.decoder.attention.register_forward_hook(
        lambda module, args, out: seen.append(module.attention_weights[:, 0].clone()))
    d2l.step_hits(net, batch, hide_later_keys=True)
    for i, w in enumerate(seen):  # step i: (batch, keys), zero after the aligned word
        keys = torch.arange(w.shape[1])
        assert (w[keys[None, :] > aligned[:, i:i + 1]] == 0).all()
        assert torch.allclose(w.sum(-1), torch.ones(len(w)))
    assert len(seen) == config.num_steps


def test_evaluate_counts_aligned_words_of_exact_translations():
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    triples = test[:3]
    # A stand-in for a perfect model: greedy_decode returns the references and one-hot weights
    # on the aligned words, except the first content word of the first sentence.
    fake_weights = []
    for i, (src, tgt, align) in enumerate(triples):
        w = torch.zeros(len(tgt) + 1, len(src) + 1)
        w[torch.arange(len(tgt)), torch.tensor(align)] = 1
        w[-1, -1] = 1
        if i == 0:
            w[1] = torch.roll(w[1], 1)
        fake_weights.append(w)
    real = ba.greedy_decode
    ba.greedy_decode = lambda *args: ([t for _, t, _ in triples], fake_weights)
    try:
        result = ba.evaluate(net, triples, src_vocab, tgt_vocab, config.num_steps)
    finally:
        ba.greedy_decode = real
    content = sum(t in ba.CONTENT for _, tgt, _ in triples for t in tgt)
    assert result["exact"] == 1 and result["counts"] == {"content words": content,
                                                         "sentences": 3}
    assert result["aligned"] == pytest.approx(1 - 1 / content)
    assert set(result["by_length"]) == {len(s) for s, _, _ in triples}


def test_epoch_snapshots_keep_the_parameters_of_every_epoch_without_changing_training():
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    train_iter = config.data()[0]
    first = [b for _, b in zip(range(2), train_iter)]
    torch.manual_seed(0)
    plain_run = copy.deepcopy(net)
    d2l.train_seq2seq(plain_run, first, config.lr, 3, tgt_vocab, "cpu")
    torch.manual_seed(0)
    snapshots = ba.EpochSnapshots(net, first)
    d2l.train_seq2seq(net, snapshots, config.lr, 3, tgt_vocab, "cpu")
    states = snapshots.states()
    assert len(states) == 4  # after 0, 1, 2 and 3 epochs
    for name, p in net.state_dict().items():
        assert torch.equal(states[-1][name], p) and torch.equal(plain_run.state_dict()[name], p)
    assert not torch.equal(states[0]["decoder.dense.weight"], states[1]["decoder.dense.weight"])


def test_teacher_forced_weights_and_shares():
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    triples = test[:3]
    weights = ba.teacher_forced_weights(net, triples, src_vocab, tgt_vocab, config.num_steps)
    for w, (src, tgt, _) in zip(weights, triples):
        assert w.shape == (len(tgt) + 1, len(src) + 1)
        assert torch.allclose(w.sum(-1), torch.ones(len(tgt) + 1), atol=1e-5)
    # the first row is the step that reads <bos>: the decoder's own first step
    (_, ), (greedy,) = ba.greedy_decode(net, [triples[0][0]], src_vocab, tgt_vocab,
                                        config.num_steps)
    assert torch.allclose(weights[0][0], greedy[0], atol=1e-6)
    # one-hot weights on the aligned words, one content word moved one to the right
    fake = []
    for src, tgt, align in triples:
        w = torch.zeros(len(tgt) + 1, len(src) + 1)
        w[torch.arange(len(tgt)), torch.tensor(align)] = 1
        fake.append(w)
    content = [j for j, t in enumerate(triples[0][1]) if t in ba.CONTENT]
    fake[0][content[0]] = torch.roll(fake[0][content[0]], 1)
    total = sum(t in ba.CONTENT for _, tgt, _ in triples for t in tgt)
    shares = ba.on_word_shares(fake, triples)
    assert shares == {"on the word": pytest.approx(1 - 1 / total), "within one word": 1.0}


def test_training_explorer_holds_every_epochs_weights_and_shares():
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    train_iter = config.data()[0]
    snapshots = ba.EpochSnapshots(net, [b for _, b in zip(range(2), train_iter)])
    d2l.train_seq2seq(net, snapshots, config.lr, 2, tgt_vocab, "cpu")
    example = max(test, key=lambda t: len(t[0]))
    curves = ba.over_training({"bahdanau": (net, snapshots)}, test[:5], example, src_vocab,
                              tgt_vocab, config.num_steps)
    shares, pictures = curves["bahdanau"]["shares"], curves["bahdanau"]["example"]
    assert len(shares) == len(pictures) == 3
    final = copy.deepcopy(net.state_dict())
    assert all(torch.equal(final[k], v) for k, v in snapshots.states()[-1].items())
    scratch = net
    scratch.load_state_dict(snapshots.states()[1])
    (w1,) = ba.teacher_forced_weights(scratch, [example], src_vocab, tgt_vocab, config.num_steps)
    assert torch.allclose(pictures[1], w1)
    assert shares[1] == ba.on_word_shares(
        ba.teacher_forced_weights(scratch, test[:5], src_vocab, tgt_vocab, config.num_steps),
        test[:5])
    heat, boxes, step_rows, text_rows, share_rows, cols, labels = ba.training_states(curves,
                                                                                     example)
    got = {(r["step"], r["i"]): r["weight"] for r in heat if r["epoch"] == 1}
    for (i, j), v in got.items():
        assert abs(v - float(w1[i - 1, j])) < 0.006
    assert all(float(w1[i, j]) < 0.02 for i in range(w1.shape[0]) for j in range(w1.shape[1])
               if (i + 1, j) not in got)  # the cells left out are (near) zero
    assert cols[-1] == f"{len(example[0]) + 1} <eos>" and labels[0] == f"1 {example[1][0]}"
    assert [(b["step"], b["i"]) for b in boxes] == [(i + 1, a) for i, a in enumerate(example[2])]
    assert {(r["at"], r["measure"]) for r in share_rows} == {
        (e, "within one word") for e in range(3)}
    assert {r["share"] for r in share_rows if r["at"] == 1} == {
        round(shares[1]["within one word"], 3)}
    assert step_rows == [{"t": t, "step": t} for t in range(1, len(labels) + 1)]
    # the context line of step 2 at epoch 1 names its largest weight first
    line = next(r["text"] for r in text_rows if (r["epoch"], r["t"]) == (1, 2))
    top = int(w1[1].argmax())
    assert line.startswith(f"{example[1][1]}: c_2 = {float(w1[1, top]):.2f} h_{top + 1} ")
    view = ba.explore_training(curves, example)
    epoch, model, step = view.controls
    assert epoch.values == (0.0, 1.0, 2.0) and epoch.default == 1.0
    assert model.options == ("bahdanau",)
    assert step.values == tuple(float(t) for t in range(1, len(labels) + 1))
    assert len(view.to_json()) < 300_000
    svg = svg_for(view, epoch=2, t=2)
    assert cols[0] in svg and labels[-2] in svg  # the labels computed in Vega are drawn
    assert "c_2 = " in svg and "c_3 = " not in svg  # one decoding step's line at a time


def test_context_line_writes_the_weighted_sum():
    from d2l_attention.explore import bahdanau_attention as ba

    w = torch.tensor([[0.1, 0.6, 0.3, 0.0], [0.5, 0.2, 0.2, 0.1]])
    assert ba.context_line(w, 1, ["a", "b", "c"]) == (
        "c_1 = 0.60 h_2 b + 0.30 h_3 c + 0.10 h_1 a + ... (0.00 elsewhere)")


def test_hiding_later_keys_by_valid_length_matches_a_mask_by_hand():
    """The notebook's experiment: step i may attend to the keys up to the aligned word only.
    Setting the valid length per step equals masking the scores by hand."""
    ba, config, src_vocab, tgt_vocab, test, net, plain = tiny_alignment_models()
    X, X_valid_len, dec_X, Y, aligned = ba.reference_batch(test, src_vocab, tgt_vocab,
                                                           config.num_steps)
    assert dec_X.shape == Y.shape == aligned.shape == (len(test), config.num_steps)
    assert [aligned[b, :len(a)].tolist() for b, (_, _, a) in enumerate(test)] == [
        a for _, _, a in test]
    net.eval()
    dec = net.decoder
    with torch.no_grad():
        state = dec.init_state(net.encoder(X, X_valid_len), X_valid_len)
        enc, hidden = state[0], state[1]
        for i in range(3):
            state[2] = aligned[:, i] + 1
            Y_hat, state = dec(dec_X[:, i:i + 1], state)
            scores = dec.attention.score(hidden[-1].unsqueeze(1), enc)  # (batch, 1, num_kv)
            keep = torch.arange(enc.shape[1])[None, None, :] <= aligned[:, i, None, None]
            alpha = torch.softmax(scores.masked_fill(~keep, float("-inf")), -1)
            assert torch.allclose(dec.attention_weights[0], alpha, atol=1e-6)
            x = torch.cat((alpha @ enc, dec.embedding(dec_X[:, i:i + 1])), -1)
            out, hidden = dec.rnn(x.permute(1, 0, 2), hidden)
            assert torch.allclose(Y_hat[:, 0], dec.dense(out[0]), atol=1e-5)
    hits = torch.zeros(Y.shape, dtype=torch.bool)
    nouns = set(ba.NOUNS.values())
    for b, (_, tgt, _) in enumerate(test):
        hits[b, :len(tgt)] = torch.tensor([w in nouns for w in tgt])
    shares = ba.accuracy_by_class(hits, test)
    assert shares == {"nouns": 1.0, "adjectives": 0.0, "verbs": 0.0, "le, et, .": 0.0}


def test_train_longer_measures_at_checkpoints_without_changing_training():
    from d2l_attention.explore import bahdanau_attention as ba

    config = ba.AlignmentConfig(train_pairs=64, test_pairs=8, max_clauses=2, num_hiddens=16)
    got = ba.train_longer(0, epochs=2, checkpoints=(1,), config=config)
    assert set(got["checkpoints"]) == {"1", "2"}
    train_iter, src_vocab, tgt_vocab, test = config.data()
    torch.manual_seed(0)
    net = config.net(src_vocab, tgt_vocab, attention=False)
    d2l.train_seq2seq(net, train_iter, config.lr, 2, tgt_vocab, "cpu")
    assert got["checkpoints"]["2"]["test"] == ba.evaluate(
        net, test, src_vocab, tgt_vocab, config.num_steps)["by_length"]
    train = ba.reorder_pairs(config.train_pairs, 0, config.max_clauses)
    assert got["checkpoints"]["2"]["train loss"] == pytest.approx(
        ba.token_loss(net, train, src_vocab, tgt_vocab, config.num_steps))
    summary = ba.summarize_longer([got, got])
    assert summary["2"]["train loss"] == round(got["checkpoints"]["2"]["train loss"], 4)


def test_bidirectional_encoder_feeds_the_taught_decoder_unchanged():
    from d2l_attention.explore import bahdanau_attention as ba

    torch.manual_seed(0)
    enc = d2l.BiSeq2SeqEncoder(10, 8, 16, 2)
    X = torch.randint(0, 10, (3, 5))
    out, state = enc(X)
    assert out.shape == (5, 3, 16) and state.shape == (2, 3, 16)
    _, raw = enc.rnn(enc.embedding(X).permute(1, 0, 2))  # (layers * 2, batch, 8)
    for layer in range(2):  # each layer's forward and backward final states, side by side
        assert torch.equal(state[layer], torch.cat([raw[2 * layer], raw[2 * layer + 1]], -1))
    assert torch.equal(out[-1, :, :8], raw[-2]) and torch.equal(out[0, :, 8:], raw[-1])
    dec = d2l.Seq2SeqAttentionDecoder(10, 8, 16, 2)
    Y, _ = dec(X, dec.init_state((out, state), torch.tensor([5, 3, 1])))
    assert Y.shape == (3, 5, 10)
    with pytest.raises(ValueError, match="even"):
        d2l.BiSeq2SeqEncoder(10, 8, 15, 2)
    assert type(ba.ALIGNMENT_CONFIG.net(tiny_vocab(), tiny_vocab(),
                                        bidirectional=True).encoder) is d2l.BiSeq2SeqEncoder


def test_offset_shares_and_length_groups():
    from d2l_attention.explore import bahdanau_attention as ba

    result = {"offsets": {"-1": 1, "0": 2, "1": 1, "5": 4},
              "by_length": {6: 1.0, 7: 0.5, 12: 0.0, 13: 0.5}}
    assert ba.offset_shares(result) == {-3: 0, -2: 0, -1: 0.125, 0: 0.25, 1: 0.125, 2: 0, 3: 0}
    assert ba.offset_share(result, lambda d: d > 0) == 5 / 8
    assert ba.exact_between(result, 6, 8) == 0.75 and ba.exact_between(result, 12, 16) == 0.25
    assert ba._runs_of_lengths([6, 7, 8, 12, 13, 18]) == [[6, 7, 8], [12, 13], [18]]
