"""Tests for d2l_attention.seq2seq: masking, the masked loss, the encoder-decoder wiring,
greedy prediction, BLEU and the training loop."""

import collections
import contextlib
import dataclasses
import io
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import d2l_attention as d2l
from d2l_attention.seq2seq import (
    Decoder,
    Encoder,
    EncoderDecoder,
    MaskedSoftmaxCELoss,
    Seq2SeqEncoder,
    TrainResult,
    bleu,
    predict_seq2seq,
    sequence_mask,
    train_seq2seq,
)
from d2l_attention.text import Vocab, build_array_nmt, load_array

RESERVED = ["<pad>", "<bos>", "<eos>"]


# --- sequence_mask -----------------------------------------------------------------------------

def test_sequence_mask_2d():
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    before = X.clone()
    out = sequence_mask(X, torch.tensor([1, 2]))
    assert out.tolist() == [[1, 0, 0], [4, 5, 0]]
    assert torch.equal(X, before)  # the input is not modified


def test_sequence_mask_3d_with_value():
    X = torch.ones(2, 3, 4)
    out = sequence_mask(X, torch.tensor([1, 2]), value=-1)
    expected = torch.ones(2, 3, 4)
    expected[0, 1:, :] = -1
    expected[1, 2:, :] = -1
    assert torch.equal(out, expected)
    assert torch.equal(X, torch.ones(2, 3, 4))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_sequence_mask_property(draw):
    batch = draw.draw(st.integers(1, 4))
    steps = draw.draw(st.integers(1, 6))
    extra = draw.draw(st.lists(st.integers(1, 3), max_size=2))
    valid = draw.draw(st.lists(st.integers(0, steps + 1), min_size=batch, max_size=batch))
    X = torch.arange(1, batch * steps * math.prod(extra) + 1, dtype=torch.float32)
    X = X.reshape(batch, steps, *extra)
    out = sequence_mask(X, torch.tensor(valid), value=-7.0)
    assert out.shape == X.shape
    for i in range(batch):
        for j in range(steps):
            if j >= valid[i]:
                assert (out[i, j] == -7.0).all()
            else:
                assert torch.equal(out[i, j], X[i, j])


# --- MaskedSoftmaxCELoss -----------------------------------------------------------------------

def test_masked_softmax_ce_loss_matches_cross_entropy_on_valid_positions():
    torch.manual_seed(0)
    batch, steps, vocab = 3, 4, 5
    pred = torch.randn(batch, steps, vocab, requires_grad=True)
    label = torch.randint(0, vocab, (batch, steps))
    valid_len = torch.tensor([4, 2, 0])
    loss = MaskedSoftmaxCELoss()(pred, label, valid_len)
    assert loss.shape == (batch,)
    for i in range(batch):
        n = int(valid_len[i])
        ref = pred.detach()[i, :n]
        ce = F.cross_entropy(ref, label[i, :n], reduction="sum") if n else 0.0
        # Averaged over all num_steps positions, padding included (as the book does).
        expected = float(ce) / steps
        assert float(loss[i].detach()) == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert float(loss[2].detach()) == 0.0
    loss.sum().backward()
    assert (pred.grad[0] != 0).any()
    assert (pred.grad[1, 2:] == 0).all() and (pred.grad[2] == 0).all()  # padding: no gradient


def test_masked_softmax_ce_loss_by_hand():
    # Uniform logits over 4 classes: every valid position costs ln 4.
    pred = torch.zeros(2, 3, 4)
    label = torch.tensor([[0, 1, 2], [3, 3, 3]])
    loss = MaskedSoftmaxCELoss()(pred, label, torch.tensor([3, 1]))
    assert loss.tolist() == pytest.approx([math.log(4), math.log(4) / 3])


# --- Encoder / Decoder / EncoderDecoder --------------------------------------------------------

def test_base_interfaces_raise():
    with pytest.raises(NotImplementedError):
        Encoder()(torch.zeros(1))
    with pytest.raises(NotImplementedError):
        Decoder().init_state(None)
    with pytest.raises(NotImplementedError):
        Decoder()(torch.zeros(1), None)


def test_seq2seq_encoder_shapes():
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    encoder.eval()
    X = torch.randint(0, 10, (4, 7))
    output, state = encoder(X)
    assert output.shape == (7, 4, 16)
    assert state.shape == (2, 4, 16)
    # The top layer's output at the last step is its final hidden state.
    assert torch.allclose(output[-1], state[-1])


def test_seq2seq_encoder_matches_step_by_step_gru():
    # Each sequence of the batch, run alone through embedding + GRU, gives its own column.
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    encoder.eval()
    X = torch.randint(0, 10, (3, 5))
    output, state = encoder(X)
    with torch.no_grad():
        for b in range(3):
            emb = encoder.embedding.weight[X[b]].unsqueeze(1)  # (num_steps, 1, embed_size)
            ref_out, ref_state = encoder.rnn(emb)
            assert torch.allclose(output[:, b:b + 1], ref_out, atol=1e-6)
            assert torch.allclose(state[:, b:b + 1], ref_state, atol=1e-6)


def test_encoder_decoder_wiring():
    calls = {}

    class FakeEncoder(Encoder):
        def forward(self, X, *args):
            calls["encoder"] = (X, args)
            return ("enc-out", X)

    class FakeDecoder(Decoder):
        def init_state(self, enc_outputs, *args):
            calls["init_state"] = (enc_outputs, args)
            return "state"

        def forward(self, X, state):
            calls["decoder"] = (X, state)
            return "Y", "new-state"

    net = EncoderDecoder(FakeEncoder(), FakeDecoder())
    enc_X, dec_X, valid = torch.zeros(2, 3), torch.ones(2, 3), torch.tensor([3, 1])
    assert net(enc_X, dec_X, valid) == ("Y", "new-state")
    assert calls["encoder"][0] is enc_X and calls["encoder"][1] == (valid,)
    assert calls["init_state"][0] == ("enc-out", enc_X) and calls["init_state"][1] == (valid,)
    assert calls["decoder"][0] is dec_X and calls["decoder"][1] == "state"


class TinyDecoder(Decoder):
    """The book's GRU decoder: context = encoder's final top-layer state, fed at every step."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, *args):
        return enc_outputs[1]

    def forward(self, X, state):
        X = self.embedding(X).permute(1, 0, 2)
        context = state[-1].repeat(X.shape[0], 1, 1)
        output, state = self.rnn(torch.cat((X, context), 2), state)
        return self.dense(output).permute(1, 0, 2), state


def test_encoder_decoder_with_gru_shapes():
    encoder = Seq2SeqEncoder(10, 8, 16, 2)
    net = EncoderDecoder(encoder, TinyDecoder(12, 8, 16, 2))
    Y, state = net(torch.zeros(4, 7, dtype=torch.long), torch.zeros(4, 5, dtype=torch.long))
    assert Y.shape == (4, 5, 12)
    assert state.shape == (2, 4, 16)


# --- predict_seq2seq ---------------------------------------------------------------------------

class ScriptedDecoder(Decoder):
    """Emits `script[t]` at step t (whatever its input) and records what it was fed."""

    def __init__(self, script, vocab_size):
        super().__init__()
        self.script, self.vocab_size = script, vocab_size
        self.inputs = []
        self.attention_weights = None

    def init_state(self, enc_outputs, *args):
        self.init_args = (enc_outputs, args)
        return 0

    def forward(self, X, state):
        self.inputs.append(X.tolist())
        logits = torch.zeros(X.shape[0], 1, self.vocab_size)
        logits[:, 0, self.script[state]] = 1.0
        self.attention_weights = f"weights at step {state}"
        return logits, state + 1


class RecordingEncoder(Encoder):
    def forward(self, X, *args):
        self.seen = (X.tolist(), [a.tolist() for a in args])
        return "enc-out"


def _vocabs():
    src_vocab = Vocab(["go", "."], reserved_tokens=RESERVED)
    tgt_vocab = Vocab(["il", "pleut", "va", "!"], reserved_tokens=RESERVED)
    return src_vocab, tgt_vocab


def test_predict_seq2seq_stops_at_eos():
    src_vocab, tgt_vocab = _vocabs()
    il, pleut, eos, bos = (tgt_vocab[t] for t in ("il", "pleut", "<eos>", "<bos>"))
    decoder = ScriptedDecoder([il, pleut, eos, il, il, il, il, il, il, il], len(tgt_vocab))
    encoder = RecordingEncoder()
    net = EncoderDecoder(encoder, decoder)
    translation, weights = predict_seq2seq(net, "Go .", src_vocab, tgt_vocab, num_steps=10,
                                           device="cpu")
    assert translation == "il pleut"
    assert weights == []
    assert len(decoder.inputs) == 3  # stopped at <eos>, long before num_steps
    assert decoder.inputs == [[[bos]], [[il]], [[pleut]]]  # greedy: each output is fed back
    go, dot, src_eos, pad = (src_vocab[t] for t in ("go", ".", "<eos>", "<pad>"))
    assert encoder.seen == ([[go, dot, src_eos] + [pad] * 7], [[3]])
    assert decoder.init_args == ("enc-out", (torch.tensor([3]),))
    assert not net.training


def test_predict_seq2seq_without_eos_runs_num_steps_and_saves_weights():
    src_vocab, tgt_vocab = _vocabs()
    va, bang = tgt_vocab["va"], tgt_vocab["!"]
    decoder = ScriptedDecoder([va, bang, va, bang, va], len(tgt_vocab))
    net = EncoderDecoder(RecordingEncoder(), decoder)
    translation, weights = predict_seq2seq(net, "go unknownword", src_vocab, tgt_vocab,
                                           num_steps=4, device="cpu", save_attention_weights=True)
    assert translation == "va ! va !"
    assert weights == [f"weights at step {t}" for t in range(4)]
    assert net.encoder.seen[0][0][1] == src_vocab.unk


# --- bleu --------------------------------------------------------------------------------------

def book_bleu(pred_seq, label_seq, k):
    """The book's BLEU (d2l 9.7), used as an independent reference where it is defined."""
    pred_tokens, label_tokens = pred_seq.split(" "), label_seq.split(" ")
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[" ".join(label_tokens[i: i + n])] += 1
        for i in range(len_pred - n + 1):
            if label_subs[" ".join(pred_tokens[i: i + n])] > 0:
                num_matches += 1
                label_subs[" ".join(pred_tokens[i: i + n])] -= 1
        score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
    return score


def test_bleu_identical_is_one():
    assert bleu("a b c d", "a b c d", 2) == 1.0
    assert bleu("il pleut .", "il pleut .", 3) == 1.0


def test_bleu_worked_example():
    # label "a b c d e" (5 tokens), pred "a b d e" (4 tokens), k = 2:
    #   brevity penalty  exp(min(0, 1 - 5/4)) = exp(-1/4)
    #   p_1 = 4/4   (a, b, d, e all occur in the label)
    #   p_2 = 2/3   (pred bigrams "a b", "b d", "d e"; the label has "a b" and "d e")
    #   BLEU = exp(-1/4) * (4/4) ** (1/2) * (2/3) ** (1/4)
    expected = math.exp(-0.25) * 1.0 ** 0.5 * (2 / 3) ** 0.25
    assert bleu("a b d e", "a b c d e", 2) == pytest.approx(expected, rel=1e-12)


def test_bleu_clips_repeated_matches():
    # pred "a a a" vs label "a b", k = 1: no brevity penalty (1 - 2/3 > 0), and "a" matches
    # only as often as the label has it: p_1 = 1/3, BLEU = (1/3) ** (1/2).
    assert bleu("a a a", "a b", 1) == pytest.approx((1 / 3) ** 0.5, rel=1e-12)


def test_bleu_no_match_is_zero():
    assert bleu("x y", "a b", 2) == 0.0


def test_bleu_empty_or_too_short_prediction_is_zero():
    assert bleu("", "a b c", 2) == 0.0
    assert bleu("a", "a b c", 2) == 0.0  # no bigram in a one-token prediction
    assert bleu("a b", "a b c", 3) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=8),
       st.lists(st.sampled_from("abcd"), min_size=1, max_size=8),
       st.integers(1, 4))
def test_bleu_matches_book(pred, label, k):
    pred_seq, label_seq = " ".join(pred), " ".join(label)
    if len(pred) < k:
        assert bleu(pred_seq, label_seq, k) == 0.0  # the book divides by zero here
    else:
        assert bleu(pred_seq, label_seq, k) == pytest.approx(book_bleu(pred_seq, label_seq, k))
    assert 0.0 <= bleu(pred_seq, label_seq, k) <= 1.0


# --- train_seq2seq -----------------------------------------------------------------------------

class UniformNet(nn.Module):
    """Predicts the same logits (a learnable bias) everywhere; records what it is fed."""

    def __init__(self, vocab_size):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.calls = []

    def forward(self, enc_X, dec_X, *args):
        self.calls.append((enc_X.clone(), dec_X.clone(), [a.clone() for a in args]))
        return self.bias.expand(dec_X.shape[0], dec_X.shape[1], -1), None


def test_train_seq2seq_feeds_bos_shifted_targets_and_reports_loss_per_token():
    vocab = Vocab(list("abc"), reserved_tokens=RESERVED)
    bos, eos, pad = vocab["<bos>"], vocab["<eos>"], vocab["<pad>"]
    a, b, c = vocab["a"], vocab["b"], vocab["c"]
    X = torch.tensor([[a, b, eos, pad], [c, eos, pad, pad]])
    X_valid = torch.tensor([3, 2])
    Y = torch.tensor([[b, c, a, eos], [a, eos, pad, pad]])
    Y_valid = torch.tensor([4, 2])
    net = UniformNet(len(vocab))
    result = train_seq2seq(net, load_array((X, X_valid, Y, Y_valid), 2, is_train=False),
                           lr=0.0, num_epochs=1, tgt_vocab=vocab, device="cpu")
    (enc_X, dec_X, args), = net.calls
    assert torch.equal(enc_X, X) and len(args) == 1 and torch.equal(args[0], X_valid)
    # Teacher forcing: <bos> then the target without its last token.
    assert dec_X.tolist() == [[bos, b, c, a], [bos, a, eos, pad]]
    # Uniform logits cost ln|V| per valid token; each row's loss is averaged over num_steps
    # (4), summed over the batch and divided by the valid tokens (6):
    #   (4 ln|V| / 4 + 2 ln|V| / 4) / 6 = ln|V| / 4.
    assert result.loss == pytest.approx(math.log(len(vocab)) / 4, rel=1e-6)


def test_train_seq2seq_cuts_source_padding_only_where_the_encoder_ignores_it():
    vocab = Vocab(list("abc"), reserved_tokens=RESERVED)
    eos, pad, a = vocab["<eos>"], vocab["<pad>"], vocab["a"]
    X = torch.tensor([[a, a, eos, pad, pad], [a, eos, pad, pad, pad]])
    X_valid = torch.tensor([3, 2])
    Y, Y_valid = X.clone(), X_valid.clone()
    for ignores, width in ((False, 5), (True, 3)):
        net = UniformNet(len(vocab))
        net.encoder = Encoder()
        net.encoder.ignores_padding = ignores
        train_seq2seq(net, load_array((X, X_valid, Y, Y_valid), 2, is_train=False),
                      lr=0.0, num_epochs=1, tgt_vocab=vocab, device="cpu")
        (enc_X, dec_X, _), = net.calls
        assert torch.equal(enc_X, X[:, :width]) and dec_X.shape == (2, 3)
    assert Encoder.ignores_padding is False  # the safe default: recurrent encoders read padding


def _copy_task(num_examples=32, num_steps=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    letters = list("abcde")
    lines = []
    for _ in range(num_examples):
        n = int(torch.randint(2, 5, (1,), generator=gen))
        lines.append([letters[int(i)] for i in torch.randint(0, 5, (n,), generator=gen)])
    vocab = Vocab(lines, reserved_tokens=RESERVED)
    X, X_valid = build_array_nmt(lines, vocab, num_steps)
    return X, X_valid, vocab


def test_train_seq2seq_learns_copy_task(capsys):
    torch.manual_seed(0)
    X, X_valid, vocab = _copy_task()
    data_iter = load_array((X, X_valid, X, X_valid), batch_size=8)
    net = EncoderDecoder(Seq2SeqEncoder(len(vocab), 16, 32, 1), TinyDecoder(len(vocab), 16, 32, 1))

    # lr=0: one epoch at the (seeded) initial weights measures the initial loss.
    torch.manual_seed(1)
    initial = train_seq2seq(net, data_iter, lr=0.0, num_epochs=1, tgt_vocab=vocab, device="cpu")
    torch.manual_seed(1)  # the same initial weights again
    num_epochs = 10
    result = train_seq2seq(net, data_iter, lr=0.02, num_epochs=num_epochs, tgt_vocab=vocab,
                           device=torch.device("cpu"))

    assert isinstance(result, TrainResult)
    assert math.isfinite(initial.loss) and math.isfinite(result.loss)
    assert result.loss < 0.7 * initial.loss
    assert result.tokens_per_sec > 0 and result.seconds > 0
    # Throughput counts the valid target tokens of every epoch.
    total_tokens = num_epochs * int(X_valid.sum())
    assert result.tokens_per_sec * result.seconds == pytest.approx(total_tokens)
    out = capsys.readouterr().out
    assert f"loss {result.loss:.3f}" in out and "tokens/sec on cpu" in out


def test_seq2seq_decoder_full_pass_equals_the_book_decoder_and_step_by_step():
    """Without attention: a teacher-forced pass equals the book's decoder (same weights), and
    decoding one step at a time equals that pass (the context stays the encoder's summary)."""
    from d2l_attention import Seq2SeqDecoder

    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(10, 8, 16, 2)
    ours, book = Seq2SeqDecoder(12, 8, 16, 2), TinyDecoder(12, 8, 16, 2)
    book.load_state_dict(ours.state_dict())  # same parameter names and shapes
    X = torch.randint(0, 10, (3, 7))
    Y = torch.randint(0, 12, (3, 5))
    enc_outputs = encoder(X)
    full, (hidden, _) = ours(Y, ours.init_state(enc_outputs))
    book_full, book_hidden = book(Y, book.init_state(enc_outputs))
    assert torch.allclose(full, book_full, atol=1e-6) and torch.allclose(hidden, book_hidden)
    state, steps = ours.init_state(enc_outputs), []
    for t in range(Y.shape[1]):
        out, state = ours(Y[:, t:t + 1], state)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-6)


@pytest.mark.parametrize("name", d2l.seq2seq.SPEEDUPS)
def test_training_without_a_speedup_learns_the_same(name):
    """Each speed-up changes how fast, not what is computed (up to float rounding). Without
    dropout: with it, a cut batch draws its dropout masks from other positions of the random
    stream, so the runs differ by chance, not by what they compute."""
    def train(speedups):
        torch.manual_seed(0)
        vocab = d2l.Vocab([list("abcdef")], reserved_tokens=["<pad>", "<bos>", "<eos>"])
        lines = [list("abc"), list("de"), list("fab"), list("c")] * 4
        X, X_len = d2l.build_array_nmt(lines, vocab, 6)
        data = d2l.load_array((X, X_len, X, X_len), 8, is_train=False)
        net = dataclasses.replace(d2l.TRANSFORMER_CONFIG, dropout=0.0).net(vocab, vocab)
        with contextlib.redirect_stdout(io.StringIO()):
            return d2l.train_seq2seq(net, data, 0.01, 3, vocab, torch.device("cpu"),
                                     speedups=speedups).loss

    without = tuple(s for s in d2l.seq2seq.SPEEDUPS if s != name)
    assert train(without) == pytest.approx(train(d2l.seq2seq.SPEEDUPS), rel=1e-5)


def test_train_seq2seq_names_an_unknown_speedup():
    with pytest.raises(ValueError, match="choose from"):
        d2l.train_seq2seq(None, [], 0.01, 1, None, "cpu", speedups=("turbo",))
