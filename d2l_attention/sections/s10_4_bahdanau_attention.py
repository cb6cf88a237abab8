# Generated from notebooks/py/10.4-bahdanau-attention.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.4-bahdanau-attention.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.4 Bahdanau 注意力 (Bahdanau Attention): the components saved with `#@save`."""

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_min_lens
from ..seq2seq import Decoder, bleu, predict_seq2seq
from .s10_3_attention_scoring import AdditiveAttention

__all__ = ['AttentionDecoder', 'Seq2SeqAttentionDecoder', 'translate_and_score', 'TEST_ENGS', 'TEST_FRAS', 'UNSEEN_ENG']


# %% notebooks/py/10.4-bahdanau-attention.py:112
class AttentionDecoder(Decoder):
    """Base class of decoders that keep the attention weights of their last forward pass."""

    @property
    def attention_weights(self):
        raise NotImplementedError


# %% notebooks/py/10.4-bahdanau-attention.py:134
class Seq2SeqAttentionDecoder(AttentionDecoder):
    """GRU decoder with additive (Bahdanau) attention over the encoder outputs.

    init_state(enc_outputs, enc_valid_lens): enc_outputs is the encoder's (outputs, state) with
    outputs (num_steps, batch_size, num_hiddens) and state (num_layers, batch_size, num_hiddens);
    enc_valid_lens: None or (batch_size,) with values >= 1. Returns the state
    [enc_outputs (batch_size, num_kv, num_hiddens), hidden_state, enc_valid_lens, keys, padding]:
    the book's three entries, then the keys projected by attention.W_k once per sequence
    (batch_size, num_kv, num_hiddens) and the padding mask (batch_size, num_kv), True = padding.
    forward(X, state): X (batch_size, num_steps) target token indices ->
    (batch_size, num_steps, vocab_size) scores and the new state.
    attention_weights: one (batch_size, 1, num_kv) tensor per decoding step (before dropout).
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.attention = AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        outputs, hidden_state = enc_outputs
        values = outputs.transpose(0, 1)  # (batch_size, num_kv, num_hiddens)
        positions = torch.arange(values.shape[1], device=values.device)
        if enc_valid_lens is None:
            padding = torch.zeros(values.shape[:2], dtype=torch.bool, device=values.device)
        else:
            check_min_lens(enc_valid_lens, "enc_valid_lens", 1, "every source sequence "
                               "keeps its <eos> at least; drop empty sequences before decoding")
            padding = positions[None, :] >= enc_valid_lens[:, None]
        # W_k h_t does not depend on the decoding step: project the keys once per sequence.
        keys = self.attention.W_k(values)
        return [values, hidden_state, enc_valid_lens, keys, padding]

    def attend(self, query, keys, values, padding):
        """Additive attention of one query per example over keys already projected by W_k.

        query: (batch_size, num_hiddens) decoder state; keys, values: (batch_size, num_kv,
        num_hiddens); padding: (batch_size, num_kv) bool. Returns the context
        (batch_size, 1, num_hiddens) and the weights (batch_size, 1, num_kv).
        """
        attention = self.attention
        features = torch.tanh(attention.W_q(query).unsqueeze(1) + keys)  # (batch, num_kv, h)
        scores = attention.w_v(features).squeeze(-1)  # (batch_size, num_kv)
        weights = F.softmax(scores.masked_fill(padding, float("-inf")), dim=-1).unsqueeze(1)
        return torch.bmm(attention.dropout(weights), values), weights

    def forward(self, X, state):
        values, hidden_state, enc_valid_lens, keys, padding = state
        embs = self.embedding(X).transpose(0, 1)  # (num_steps, batch_size, embed_size)
        step_outputs, self._attention_weights = [], []
        for emb in embs:  # one target position at a time: the query is the newest state
            context, weights = self.attend(hidden_state[-1], keys, values, padding)
            rnn_input = torch.cat((context.squeeze(1), emb), dim=-1).unsqueeze(0)
            out, hidden_state = self.rnn(rnn_input, hidden_state)  # out: (1, batch_size, h)
            step_outputs.append(out.squeeze(0))
            self._attention_weights.append(weights)
        outputs = self.dense(torch.stack(step_outputs, dim=1))  # (batch_size, steps, vocab)
        return outputs, [values, hidden_state, enc_valid_lens, keys, padding]

    @property
    def attention_weights(self):
        return self._attention_weights


# %% notebooks/py/10.4-bahdanau-attention.py:297
def translate_and_score(net, engs, fras, src_vocab, tgt_vocab, num_steps, device=None,
                        verbose=True):
    """Translate each sentence of `engs` greedily and score it against `fras` with BLEU (k=2).

    The sentences go to the device of net's parameters (`device` is accepted for the book's
    call pattern and not needed). Prints one line per sentence and the mean BLEU when `verbose`.
    Returns (translations, bleus, attention_weight_seqs): per sentence, predict_seq2seq's list
    of per-step attention weights.
    """
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


# The book's four test sentences and their references; UNSEEN_ENG is not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."
