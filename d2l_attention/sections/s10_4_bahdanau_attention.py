# Generated from notebooks/py/10.4-bahdanau-attention.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.4-bahdanau-attention.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.4 Bahdanau 注意力 (Bahdanau Attention): the components saved with `#@save`."""

import torch
from torch import nn

from ..seq2seq import Decoder, Seq2SeqEncoder, bleu, predict_seq2seq
from .s10_3_attention_scoring import AdditiveAttention

__all__ = ['AttentionDecoder', 'Seq2SeqAttentionDecoder', 'BiSeq2SeqEncoder', 'step_hits', 'translate_and_score', 'TEST_ENGS', 'TEST_FRAS', 'UNSEEN_ENG']


# %% notebooks/py/10.4-bahdanau-attention.py:112
class AttentionDecoder(Decoder):
    """Base class of decoders that keep the attention weights of their last forward pass."""

    @property
    def attention_weights(self):
        raise NotImplementedError


# %% notebooks/py/10.4-bahdanau-attention.py:125
class Seq2SeqAttentionDecoder(AttentionDecoder):
    """GRU decoder with additive (Bahdanau) attention over the encoder outputs.

    State: [enc_outputs (batch_size, num_kv, num_hiddens), hidden_state (num_layers,
    batch_size, num_hiddens), enc_valid_lens (batch_size,) or None].
    forward: X (batch_size, num_steps) -> (batch_size, num_steps, vocab_size) and the state;
    attention_weights: one (batch_size, 1, num_kv) tensor per step.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.attention = AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        outputs, hidden_state = enc_outputs  # outputs: (num_steps, batch_size, num_hiddens)
        return [outputs.permute(1, 0, 2), hidden_state, enc_valid_lens]

    def forward(self, X, state):
        enc_outputs, hidden_state, enc_valid_lens = state
        outputs, self._attention_weights = [], []
        for x in self.embedding(X).permute(1, 0, 2):  # one target step: x (batch_size, embed)
            query = hidden_state[-1].unsqueeze(1)  # (batch_size, 1, num_hiddens)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, x.unsqueeze(1)), dim=-1)  # (batch_size, 1, h + embed)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))  # (num_steps, batch_size, vocab)
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

    @property
    def attention_weights(self):
        return self._attention_weights


# %% notebooks/py/10.4-bahdanau-attention.py:260
class BiSeq2SeqEncoder(Seq2SeqEncoder):
    """9.7's GRU encoder reading in both directions: num_hiddens // 2 units each way, so
    h_t = [forward h_t; backward h_t] has num_hiddens entries. Outputs (num_steps, batch_size,
    num_hiddens); state (num_layers, batch_size, num_hiddens)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        if num_hiddens % 2:
            raise ValueError(f"num_hiddens={num_hiddens} is odd; the two directions share it, "
                             "choose an even number")
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.rnn = nn.GRU(embed_size, num_hiddens // 2, num_layers, dropout=dropout,
                          bidirectional=True)

    def forward(self, X, *args):
        output, state = super().forward(X, *args)  # state: (num_layers * 2, batch_size, h / 2)
        state = state.reshape(-1, 2, *state.shape[1:])  # (num_layers, 2, batch_size, h / 2)
        return output, torch.cat((state[:, 0], state[:, 1]), dim=-1)


# %% notebooks/py/10.4-bahdanau-attention.py:402
def step_hits(net, batch, hide_later_keys):
    """Reference fed in: is each step's top-scoring word the reference's next word? `batch`:
    (X, X_valid_len, dec_X, Y, aligned), `aligned[:, i]` the source position step i translates."""
    X, X_valid_len, dec_X, Y, aligned = batch
    net.eval()
    with torch.inference_mode():
        state = net.decoder.init_state(net.encoder(X, X_valid_len), X_valid_len)
        hits = []
        for i in range(Y.shape[1]):  # one decoding step at a time
            if hide_later_keys:  # valid length a: keys h_1 .. h_a, up to the translated word
                state[2] = aligned[:, i] + 1
            Y_hat, state = net.decoder(dec_X[:, i:i + 1], state)
            hits.append(Y_hat[:, 0].argmax(-1) == Y[:, i])
    return torch.stack(hits, 1).cpu()


# %% notebooks/py/10.4-bahdanau-attention.py:567
def translate_and_score(net, engs, fras, src_vocab, tgt_vocab, num_steps, device=None,
                        verbose=True):
    """Translate each of `engs` greedily (on the device of net's parameters; `device` is
    ignored) and score it against `fras` with BLEU (k=2). Prints a line per sentence and the
    mean when `verbose`. Returns (translations, bleus, per sentence the per-step weights)."""
    device = next(net.parameters()).device
    translations, bleus, attention_weight_seqs = [], [], []
    for eng, fra in zip(engs, fras):
        translation, attention_weight_seq = predict_seq2seq(
            net, eng, src_vocab, tgt_vocab, num_steps, device, save_attention_weights=True)
        translations.append(translation)
        bleus.append(bleu(translation, fra, k=2))
        attention_weight_seqs.append(attention_weight_seq)
        if verbose:
            print(f"{eng:12s} => {translation:20s} bleu {bleus[-1]:.3f}")
    if verbose:
        print(f"mean bleu {sum(bleus) / len(bleus):.3f}")
    return translations, bleus, attention_weight_seqs


# The book's four test sentences and their references; the one not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."
