"""Tests of section 10.4: the Bahdanau attention decoders and the training loop they rely on."""

import copy

import pytest
import torch
from torch import nn

import d2l_attention as d2l

VOCAB, EMBED, HIDDEN, LAYERS = 13, 8, 16, 2


def make_pair(dropout=0.0, seed=0):
    """A GRU encoder and a plain attention decoder, plus a fast decoder with the same weights."""
    torch.manual_seed(seed)
    encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDEN, LAYERS, dropout)
    plain = d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDEN, LAYERS, dropout)
    fast = d2l.FastSeq2SeqAttentionDecoder(VOCAB, EMBED, HIDDEN, LAYERS, dropout)
    fast.load_state_dict(plain.state_dict())
    return encoder, plain, fast


def random_batch(batch_size=5, src_steps=7, tgt_steps=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (batch_size, src_steps), generator=g)
    Y = torch.randint(0, VOCAB, (batch_size, tgt_steps), generator=g)
    valid = torch.randint(1, src_steps + 1, (batch_size,), generator=g)
    valid[0] = src_steps  # at least one full-length row
    return X, Y, valid


def test_attention_decoder_base_has_no_weights():
    with pytest.raises(NotImplementedError):
        _ = d2l.AttentionDecoder().attention_weights


@pytest.mark.parametrize("cls_name", ["Seq2SeqAttentionDecoder", "FastSeq2SeqAttentionDecoder"])
def test_decoder_shapes_and_weights(cls_name):
    encoder, plain, fast = make_pair()
    decoder = plain if cls_name == "Seq2SeqAttentionDecoder" else fast
    encoder.eval()
    decoder.eval()
    X, Y, valid = random_batch()
    out, state = decoder(Y, decoder.init_state(encoder(X, valid), valid))
    assert out.shape == (5, 6, VOCAB)
    weights = decoder.attention_weights
    assert len(weights) == 6 and all(w.shape == (5, 1, 7) for w in weights)
    weights = torch.cat(weights, dim=1)  # (batch, tgt_steps, src_steps)
    assert torch.allclose(weights.sum(-1), torch.ones(5, 6), atol=1e-6)
    padded = torch.arange(7)[None, None, :] >= valid[:, None, None]
    assert weights[padded.expand_as(weights)].abs().max() == 0
    hidden = state[1] if decoder is plain else state[3]
    assert hidden.shape == (LAYERS, 5, HIDDEN)


def test_fast_decoder_matches_plain_in_eval_mode():
    encoder, plain, fast = make_pair(dropout=0.3)
    for m in (encoder, plain, fast):
        m.eval()
    X, Y, valid = random_batch()
    enc_outputs = encoder(X, valid)
    out_p, state_p = plain(Y, plain.init_state(enc_outputs, valid))
    out_f, state_f = fast(Y, fast.init_state(enc_outputs, valid))
    assert torch.allclose(out_p, out_f, atol=1e-6)
    assert torch.allclose(state_p[1], state_f[3], atol=1e-6)  # final decoder hidden state
    assert torch.allclose(torch.cat(plain.attention_weights, 1),
                          torch.cat(fast.attention_weights, 1), atol=1e-6)


def test_fast_decoder_matches_plain_gradients():
    """With dropout 0 the training-mode forward and all parameter gradients agree."""
    encoder, plain, fast = make_pair(dropout=0.0)
    X, Y, valid = random_batch()
    grads = []
    for decoder in (plain, fast):
        enc = copy.deepcopy(encoder)
        decoder.train()
        out, _ = decoder(Y, decoder.init_state(enc(X, valid), valid))
        (out ** 2).sum().backward()
        named = dict(decoder.named_parameters())
        named.update({f"enc.{k}": v for k, v in enc.named_parameters()})
        grads.append({k: v.grad for k, v in named.items()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5), name


def test_fast_decoder_without_valid_lens_matches_plain():
    encoder, plain, fast = make_pair()
    for m in (encoder, plain, fast):
        m.eval()
    X, Y, _ = random_batch()
    enc_outputs = encoder(X)
    out_p, _ = plain(Y, plain.init_state(enc_outputs, None))
    out_f, _ = fast(Y, fast.init_state(enc_outputs, None))
    assert torch.allclose(out_p, out_f, atol=1e-6)


def test_fast_decoder_projects_keys_once():
    encoder, plain, fast = make_pair()
    X, Y, valid = random_batch(tgt_steps=6)
    counts = {}
    for name, decoder in (("plain", plain), ("fast", fast)):
        calls = []
        decoder.attention.W_k.register_forward_hook(lambda *args, calls=calls: calls.append(1))
        decoder(Y, decoder.init_state(encoder(X, valid), valid))
        counts[name] = len(calls)
    assert counts == {"plain": 6, "fast": 1}


def test_fast_decoder_is_a_drop_in_subclass():
    _, plain, fast = make_pair()
    assert isinstance(fast, d2l.Seq2SeqAttentionDecoder)
    assert isinstance(fast, d2l.AttentionDecoder)
    assert plain.state_dict().keys() == fast.state_dict().keys()


def tiny_vocab():
    tokens = [["a", "b", "c", "d"]] * 2
    return d2l.Vocab(tokens, reserved_tokens=["<pad>", "<bos>", "<eos>"])


@pytest.mark.parametrize("cls_name", ["Seq2SeqAttentionDecoder", "FastSeq2SeqAttentionDecoder"])
def test_predict_stops_at_eos(cls_name):
    vocab = tiny_vocab()
    torch.manual_seed(0)
    encoder = d2l.Seq2SeqEncoder(len(vocab), EMBED, HIDDEN, LAYERS)
    decoder = getattr(d2l, cls_name)(len(vocab), EMBED, HIDDEN, LAYERS)
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
                             d2l.FastSeq2SeqAttentionDecoder(len(vocab), EMBED, HIDDEN, LAYERS))
    reference = copy.deepcopy(net)
    seen_steps = []
    net.decoder.register_forward_hook(lambda m, args, out: seen_steps.append(args[0].shape[1]))
    torch.manual_seed(1)
    result = d2l.train_seq2seq(net, batches, 0.01, 3, vocab, "cpu")
    assert max(seen_steps) <= 4 < num_steps  # the padding-only steps were really skipped

    torch.manual_seed(1)  # the same initialization as train_seq2seq
    reference.apply(d2l.seq2seq._xavier_init)
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01, fused=True)
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
    _, plain, _ = make_pair()
    assert isinstance(plain.attention, d2l.AdditiveAttention)
    assert isinstance(plain.rnn, nn.GRU)
    assert plain.rnn.input_size == EMBED + HIDDEN and plain.rnn.num_layers == LAYERS
