"""Encoder-decoder machinery from the seq2seq chapter, with the zh-edition names and signatures."""

import collections
import dataclasses
import math
from typing import NamedTuple

import torch
from torch import nn

from .text import build_array_nmt, truncate_pad
from .utils import Animator, Timer, grad_clipping

__all__ = ["Encoder", "Decoder", "EncoderDecoder", "Seq2SeqEncoder", "Seq2SeqDecoder",
           "seq2seq_net", "TrainingConfig", "Seq2SeqConfig", "SEQ2SEQ_CONFIG", "BahdanauConfig",
           "BAHDANAU_CONFIG", "TransformerConfig", "TRANSFORMER_CONFIG", "sequence_mask",
           "MaskedSoftmaxCELoss", "TrainResult", "train_seq2seq", "predict_seq2seq", "bleu",
           "corpus_bleu"]


class Encoder(nn.Module):
    """Base encoder interface: `forward(X, *args)`.

    `ignores_padding`: True for an encoder whose outputs at real positions (and so everything a
    decoder that masks padding computes) do not depend on the padding after each source
    sentence. `train_seq2seq` then cuts the source columns that are padding in the whole batch.
    False here, the safe default: a recurrent encoder reads every position, padding included.
    """

    ignores_padding = False

    def forward(self, X, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    """Base decoder interface: `init_state(enc_outputs, *args)` then `forward(X, state)`."""

    def init_state(self, enc_outputs, *args):
        raise NotImplementedError

    def forward(self, X, state):
        raise NotImplementedError


class EncoderDecoder(nn.Module):
    """Glue an encoder and a decoder: the decoder starts from the encoder's outputs."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args):
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


class Seq2SeqEncoder(Encoder):
    """GRU encoder.

    `X: (batch_size, num_steps)` token indices -> `output: (num_steps, batch_size, num_hiddens)`,
    `state: (num_layers, batch_size, num_hiddens)`.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, *args):
        X = self.embedding(X).permute(1, 0, 2)  # the GRU wants time first
        output, state = self.rnn(X)
        return output, state


class Seq2SeqDecoder(Decoder):
    """GRU decoder without attention (chapter 9): one fixed context for the whole output.

    The context is the encoder's final top-layer state, a summary of the whole source sentence;
    it is fed, concatenated with the embedding of the previous token, at every step. The decoder
    starts from the encoder's final state. `X: (batch_size, num_steps)` ->
    `(batch_size, num_steps, vocab_size)`; the state is `(hidden, context)`.

    The book's version takes the context from the decoder's own newest state at each call, so
    step-by-step prediction sees another context than training did; here the context stays the
    encoder's, and decoding one step at a time equals one teacher-forced pass.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, *args):
        hidden = enc_outputs[1]  # (num_layers, batch_size, num_hiddens)
        return hidden, hidden[-1]

    def forward(self, X, state):
        hidden, context = state
        X = self.embedding(X).permute(1, 0, 2)  # (num_steps, batch_size, embed_size)
        context_per_step = context.unsqueeze(0).expand(X.shape[0], -1, -1)
        output, hidden = self.rnn(torch.cat((X, context_per_step), dim=2), hidden)
        return self.dense(output).permute(1, 0, 2), (hidden, context)


def seq2seq_net(src_vocab, tgt_vocab, embed_size, num_hiddens, num_layers, dropout):
    """The chapter-9 translator without attention: `EncoderDecoder(Seq2SeqEncoder,
    Seq2SeqDecoder)`. Its sizes are in `SEQ2SEQ_CONFIG` (`SEQ2SEQ_CONFIG.net(src, tgt)`)."""
    return EncoderDecoder(
        Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout),
        Seq2SeqDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout))


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the chapter's translators are trained (the book's values): minibatch size, tokens per
    sequence, learning rate and epochs. Each model's configuration adds its sizes and `net`."""

    batch_size: int = 64
    num_steps: int = 10
    lr: float = 0.005
    num_epochs: int = 300


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig(TrainingConfig):
    """A recurrent translator's sizes and training settings, written once (the book's values
    for 9.7's model; 10.4's `BahdanauConfig` has the same sizes). The notebooks, `make bench`
    and the tests read the configuration objects; `net` builds the model they describe,
    `dataclasses.replace(config, num_layers=3)` a variant."""

    embed_size: int = 32
    num_hiddens: int = 32
    num_layers: int = 2
    dropout: float = 0.1

    def net(self, src_vocab, tgt_vocab):
        return seq2seq_net(src_vocab, tgt_vocab, self.embed_size, self.num_hiddens,
                           self.num_layers, self.dropout)


SEQ2SEQ_CONFIG = Seq2SeqConfig()


@dataclasses.dataclass(frozen=True)
class BahdanauConfig(Seq2SeqConfig):
    """10.4's translator on fra-eng: 9.7's sizes and settings, trained 250 epochs; `net` builds
    Seq2SeqEncoder + 10.4's Seq2SeqAttentionDecoder (10.4's training cell uses these values)."""

    num_epochs: int = 250

    def net(self, src_vocab, tgt_vocab):
        from .sections import Seq2SeqAttentionDecoder  # generated from 10.4, imported after us

        return EncoderDecoder(
            Seq2SeqEncoder(len(src_vocab), self.embed_size, self.num_hiddens, self.num_layers,
                           self.dropout),
            Seq2SeqAttentionDecoder(len(tgt_vocab), self.embed_size, self.num_hiddens,
                                    self.num_layers, self.dropout))


BAHDANAU_CONFIG = BahdanauConfig()


@dataclasses.dataclass(frozen=True)
class TransformerConfig(TrainingConfig):
    """10.7's translator on fra-eng (the book's sizes, trained 250 epochs); `net` builds it with
    10.7's `transformer_net` (10.7's training cell uses these values; `make bench` and the tests
    read them here)."""

    num_hiddens: int = 32
    num_layers: int = 2
    num_heads: int = 4
    ffn_num_hiddens: int = 64
    dropout: float = 0.1
    num_epochs: int = 250

    def net(self, src_vocab, tgt_vocab):
        from .sections import transformer_net  # generated from 10.7, imported after us

        return transformer_net(src_vocab, tgt_vocab, self.num_hiddens, self.num_layers,
                               self.num_heads, self.ffn_num_hiddens, self.dropout)


TRANSFORMER_CONFIG = TransformerConfig()


def sequence_mask(X, valid_len, value=0):
    """Return a copy of `X` with `X[i, j, ...]` set to `value` where `j >= valid_len[i]`.

    `X: (batch_size, num_steps, ...)`, `valid_len: (batch_size,)`. Unlike the book's version the
    input is not modified in place.
    """
    steps = torch.arange(X.size(1), device=X.device)
    keep = steps[None, :] < valid_len.to(X.device)[:, None]  # (batch_size, num_steps)
    keep = keep.reshape(keep.shape + (1,) * (X.dim() - 2))
    return X.masked_fill(~keep, value)


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    """Cross-entropy that ignores padding. `pred: (batch_size, num_steps, vocab_size)`,
    `label: (batch_size, num_steps)`, `valid_len: (batch_size,)`; returns `(batch_size,)`."""

    def forward(self, pred, label, valid_len):
        weights = sequence_mask(torch.ones_like(label, dtype=pred.dtype), valid_len)
        self.reduction = "none"
        # Flatten to (batch_size * num_steps, vocab_size) rather than permuting to put the
        # classes on axis 1: the log-softmax then runs over contiguous memory, which is faster.
        unweighted = super().forward(pred.reshape(-1, pred.shape[-1]), label.reshape(-1))
        return (unweighted.reshape(label.shape) * weights).mean(dim=1)


class TrainResult(NamedTuple):
    """What `train_seq2seq` measured: final loss per token, throughput and wall time."""

    loss: float
    tokens_per_sec: float
    seconds: float


def _xavier_init(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
    if isinstance(m, nn.GRU):
        for name in m._flat_weights_names:
            if "weight" in name:
                nn.init.xavier_uniform_(m._parameters[name])


# The speed-ups `train_seq2seq` may use; each can be switched off (`speedups=`), and
# `python tools/book.py bench speedups` measures what each saves (results/speedups.json).
SPEEDUPS = ("fused_adam", "cut_padding", "foreach_clipping")


def _adam(params, lr, device):
    """Adam as one fused kernel where this torch has it (CPU since torch 2.4, CUDA), else the
    ordinary implementation: the same update rule either way."""
    if torch.device(device).type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except RuntimeError:  # e.g. torch < 2.4 on the CPU: "fused=True requires ... devices"
            pass
    return torch.optim.Adam(params, lr=lr)


def _cut_padding(net, X, X_valid_len, Y, Y_valid_len):
    """The batch without the time steps that are padding in every example, and the factor that
    keeps the loss equal to the mean over all the original steps.

    Steps after the longest target are padding everywhere: the loss ignores them, and a causal
    decoder's earlier outputs do not depend on them (every teacher-forced decoder is causal). The
    source columns after the longest source are cut only when the encoder declares
    `ignores_padding`. Read from the CPU batch, before it moves to the device: no device sync.
    Same loss value, same gradients as without the cut.
    """
    num_steps = Y.shape[1]
    Y = Y[:, :max(1, int(Y_valid_len.max()))]
    if getattr(getattr(net, "encoder", None), "ignores_padding", False):
        X = X[:, :max(1, int(X_valid_len.max()))]
    return (X, X_valid_len, Y, Y_valid_len), Y.shape[1] / num_steps


def train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device, *, speedups=SPEEDUPS,
                  plot_every=10):
    """Train a seq2seq model with teacher forcing; plot the loss every `plot_every` epochs.

    Prints one summary line and returns a `TrainResult`. The loss and the token count are summed
    on the device and read once per epoch (a host sync per batch is slow on a GPU). `speedups`
    names those of `SPEEDUPS` to use (all by default; the numbers are the same without them):
    `fused_adam` (`_adam`), `cut_padding` (`_cut_padding`) and `foreach_clipping`
    (`grad_clipping`'s one call over all gradients). What each saves is measured by
    `python tools/book.py bench speedups` and shown in the appendix.
    """
    unknown = sorted(set(speedups) - set(SPEEDUPS))
    if unknown:
        raise ValueError(f"speedups {unknown}: choose from {list(SPEEDUPS)}")
    net.apply(_xavier_init)
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]  # collected once, for clipping
    optimizer = (_adam(params, lr, device) if "fused_adam" in speedups
                 else torch.optim.Adam(params, lr=lr))
    loss = MaskedSoftmaxCELoss()
    net.train()
    # The loss is drawn every plot_every epochs; a run that short has no range to draw over.
    animator = Animator(xlabel="epoch", ylabel="loss",
                        xlim=[plot_every, num_epochs] if num_epochs > plot_every else None)
    timer, total_tokens, epoch_loss = Timer(), 0, float("nan")
    for epoch in range(num_epochs):
        loss_sum = torch.zeros((), device=device)
        token_sum = torch.zeros((), dtype=torch.long, device=device)
        for batch in data_iter:
            optimizer.zero_grad()
            batch, scale = (_cut_padding(net, *batch) if "cut_padding" in speedups
                            else (batch, 1.0))
            X, X_valid_len, Y, Y_valid_len = (t.to(device) for t in batch)
            bos = torch.full((Y.shape[0], 1), tgt_vocab["<bos>"], dtype=Y.dtype, device=device)
            dec_input = torch.cat([bos, Y[:, :-1]], 1)  # teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len) * scale
            l.sum().backward()
            grad_clipping(params, 1, foreach="foreach_clipping" in speedups)
            optimizer.step()
            loss_sum += l.detach().sum()
            token_sum += Y_valid_len.sum()
        tokens = int(token_sum)  # one host sync per epoch
        total_tokens += tokens
        epoch_loss = float(loss_sum) / tokens
        if (epoch + 1) % plot_every == 0:
            animator.add(epoch + 1, (epoch_loss,))
    seconds = timer.stop()
    result = TrainResult(epoch_loss, total_tokens / seconds, seconds)
    print(f"loss {result.loss:.3f}, {result.tokens_per_sec:.1f} tokens/sec on {device}")
    return result


def predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps, device,
                    save_attention_weights=False):
    """Greedy translation of one sentence (tokens separated by spaces, e.g. `"go ."`).

    Returns `(translation, attention_weight_seq)`; the list holds the decoder's
    `attention_weights` of each step when `save_attention_weights` is true. Stops at `<eos>`.
    """
    net.eval()
    src_tokens = src_vocab[src_sentence.lower().split(" ")] + [src_vocab["<eos>"]]
    with torch.inference_mode():
        enc_valid_len = torch.tensor([len(src_tokens)], device=device)
        src_tokens = truncate_pad(src_tokens, num_steps, src_vocab["<pad>"])
        enc_X = torch.tensor(src_tokens, dtype=torch.long, device=device).unsqueeze(0)
        enc_outputs = net.encoder(enc_X, enc_valid_len)
        dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
        dec_X = torch.tensor([[tgt_vocab["<bos>"]]], dtype=torch.long, device=device)
        output_seq, attention_weight_seq = [], []
        eos = tgt_vocab["<eos>"]
        for _ in range(num_steps):
            Y, dec_state = net.decoder(dec_X, dec_state)
            dec_X = Y.argmax(dim=2)
            pred = int(dec_X.squeeze(0).item())
            if save_attention_weights:
                attention_weight_seq.append(net.decoder.attention_weights)
            if pred == eos:
                break
            output_seq.append(pred)
    return " ".join(tgt_vocab.to_tokens(output_seq)), attention_weight_seq


def predict_seq2seq_batch(net, sources, src_vocab, tgt_vocab, num_steps, step=None):
    """Greedy translations of a batch of sources (token lists, e.g. `"go .".split()`): what
    `predict_seq2seq` does for one sentence (the same padding, the same steps), in one batch.

    `step(dec_X, state) -> (Y, state)` decodes one step in place of `net.decoder` (to decode
    another way). Returns `(translations, attention_weight_seq)`: per source its translation as
    a token list, up to `<eos>`, and per step the decoder's `attention_weights` (an empty list
    when the decoder's class has none). Stops once every sentence has produced `<eos>`.
    """
    step = step or net.decoder
    net.eval()
    device = next(net.parameters()).device
    X, valid = build_array_nmt([[t.lower() for t in s] for s in sources], src_vocab, num_steps)
    eos = tgt_vocab["<eos>"]
    keep_weights = getattr(type(net.decoder), "attention_weights", None) is not None
    with torch.inference_mode():
        X, valid = X.to(device), valid.to(device)
        state = net.decoder.init_state(net.encoder(X, valid), valid)
        dec_X = torch.full((len(sources), 1), tgt_vocab["<bos>"], dtype=torch.long,
                           device=device)
        outputs, attention_weight_seq = [], []
        done = torch.zeros(len(sources), dtype=torch.bool, device=device)
        for _ in range(num_steps):
            Y, state = step(dec_X, state)
            dec_X = Y.argmax(dim=2)
            outputs.append(dec_X[:, 0])
            if keep_weights:
                attention_weight_seq.append(net.decoder.attention_weights)
            done |= dec_X[:, 0] == eos
            if bool(done.all()):
                break
    rows = torch.stack(outputs, 1).tolist()
    return ([tgt_vocab.to_tokens(row[:row.index(eos)] if eos in row else row) for row in rows],
            attention_weight_seq)


def _ngram_matches(pred_tokens, label_tokens, n):
    """(matched, total) n-grams of a prediction: each n-gram of the prediction counts as matched
    at most as many times as it occurs in the reference (clipped counts)."""
    pred_grams = collections.Counter(
        tuple(pred_tokens[i:i + n]) for i in range(len(pred_tokens) - n + 1))
    label_grams = collections.Counter(
        tuple(label_tokens[i:i + n]) for i in range(len(label_tokens) - n + 1))
    matched = sum(min(c, label_grams[g]) for g, c in pred_grams.items())
    return matched, max(len(pred_tokens) - n + 1, 0)


def bleu(pred_seq, label_seq, k):
    """BLEU of a predicted sentence against one reference, n-grams up to `k`.

    `exp(min(0, 1 - len_label / len_pred)) * prod_n p_n ** (1 / 2**n)`; an empty prediction, or
    one shorter than `n` for some n <= k, scores 0.
    """
    pred_tokens, label_tokens = pred_seq.split(), label_seq.split()
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    if len_pred == 0:
        return 0.0
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, total = _ngram_matches(pred_tokens, label_tokens, n)
        if total == 0:
            return 0.0
        score *= math.pow(num_matches / total, math.pow(0.5, n))
    return score


def corpus_bleu(pred_seqs, label_seqs, k):
    """BLEU of a whole test set against one reference per sentence, n-grams up to `k`.

    The n-gram matches (clipped by the reference's counts, as in `bleu`) and the n-gram totals
    are summed over all sentences before the precisions p_n are formed, and the brevity penalty
    uses the total lengths: `exp(min(0, 1 - len_labels / len_preds)) * prod_n p_n ** (1 / 2**n)`.
    For a single sentence this equals `bleu`.
    """
    pred_seqs, label_seqs = list(pred_seqs), list(label_seqs)
    if len(pred_seqs) != len(label_seqs):
        raise ValueError(f"{len(pred_seqs)} predictions but {len(label_seqs)} references; "
                         "pass one reference per prediction")
    len_pred = len_label = 0
    matches, totals = [0] * k, [0] * k
    for pred_seq, label_seq in zip(pred_seqs, label_seqs):
        pred_tokens, label_tokens = pred_seq.split(), label_seq.split()
        len_pred, len_label = len_pred + len(pred_tokens), len_label + len(label_tokens)
        for n in range(1, k + 1):
            matched, total = _ngram_matches(pred_tokens, label_tokens, n)
            matches[n - 1] += matched
            totals[n - 1] += total
    if len_pred == 0 or 0 in totals:
        return 0.0
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        score *= math.pow(matches[n - 1] / totals[n - 1], math.pow(0.5, n))
    return score
