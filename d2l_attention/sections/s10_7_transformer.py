# Generated from notebooks/10.7-transformer.py by `make lib`: DO NOT EDIT.
# Edit notebooks/10.7-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.7 Transformer (Transformer): the components saved with `#@save`."""

import dataclasses
import math

import torch
from torch import nn

from ..checks import check_block_sizes, check_last_axis, check_same_shape
from ..explorers import rows
from ..seq2seq import Encoder, EncoderDecoder, TrainingConfig, predict_seq2seq
from ..text import truncate_pad
from .s10_4_bahdanau_attention import AttentionDecoder
from .s10_5_multihead_attention import MultiHeadAttention
from .s10_6_self_attention import PositionalEncoding

__all__ = ['PositionWiseFFN', 'AddNorm', 'EncoderBlock', 'embed_with_positions', 'named_blocks', 'TransformerEncoder', 'causal_valid_lens', 'DecoderBlock', 'TransformerDecoder', 'transformer_net', 'TransformerConfig', 'TRANSFORMER_CONFIG', 'stack_decoder_steps', 'position_labels', 'attention_states', 'eval_mask_states', 'cache_states']


# %% notebooks/10.7-transformer.py:107
class PositionWiseFFN(nn.Module):
    """FFN(x) = W_2 relu(W_1 x + b_1) + b_2, the same MLP at every position.

    X: (batch_size, num_steps, ffn_num_input) -> (batch_size, num_steps, ffn_num_outputs);
    any number of leading axes works, only the last one is transformed.
    """

    def __init__(self, ffn_num_input, ffn_num_hiddens, ffn_num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)  # W_1, b_1
        self.relu = nn.ReLU()
        self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)  # W_2, b_2

    def forward(self, X):
        check_last_axis(X, self.dense1.in_features, "ffn_num_input", "pass num_hiddens")
        hidden = self.relu(self.dense1(X))  # (..., ffn_num_hiddens)
        return self.dense2(hidden)


# %% notebooks/10.7-transformer.py:184
class AddNorm(nn.Module):
    """Residual connection, then layer normalization: LayerNorm(X + Dropout(Y)).

    X: a sublayer's input, Y: its output, both (batch_size, num_steps, num_hiddens);
    normalized_shape: the trailing axes LayerNorm normalizes, usually [num_hiddens].
    """

    def __init__(self, normalized_shape, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, X, Y):
        check_same_shape(X, Y, "the residual connection adds a sublayer's input and output, "
                                   "so the sublayer must keep the shape")
        residual = X + self.dropout(Y)
        return self.ln(residual)


# %% notebooks/10.7-transformer.py:222
class EncoderBlock(nn.Module):
    """Transformer encoder layer (post-LN): self-attention and FFN, each wrapped in AddNorm.

    X: (batch_size, num_steps, num_hiddens); valid_lens: None or (batch_size,), the number of
    real (non-padding) tokens per sequence -> (batch_size, num_steps, num_hiddens).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        check_block_sizes(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input)
        self.attention = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                                num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X, valid_lens):
        mixed = self.addnorm1(X, self.attention(X, X, X, valid_lens))  # across positions
        return self.addnorm2(mixed, self.ffn(mixed))  # within each position


# %% notebooks/10.7-transformer.py:279
def embed_with_positions(embedding, pos_encoding, tokens, offset=0):
    """sqrt(d) * embedding(tokens) + P[offset : offset + num_steps], then pos_encoding's dropout.

    tokens: (batch_size, num_steps) indices -> (batch_size, num_steps, d), d the embedding size;
    pos_encoding: a d2l.PositionalEncoding of the same d.
    """
    num_steps, max_len = tokens.shape[1], pos_encoding.P.shape[1]
    if offset + num_steps > max_len:
        raise ValueError(f"positions {offset}..{offset + num_steps - 1} exceed max_len={max_len}; "
                         "build the PositionalEncoding with a larger max_len")
    X = embedding(tokens) * math.sqrt(embedding.embedding_dim)
    return pos_encoding.dropout(X + pos_encoding.P[:, offset:offset + num_steps].to(X.dtype))


def named_blocks(blocks):
    """nn.Sequential of `blocks` named block0, block1, ... (the key layout of the book's models)."""
    stack = nn.Sequential()
    for i, blk in enumerate(blocks):
        stack.add_module(f"block{i}", blk)
    return stack


class TransformerEncoder(Encoder):
    """Transformer encoder: embedding + positional encoding, then num_layers EncoderBlocks.

    X: (batch_size, num_steps) token indices, valid_lens: (batch_size,)
    -> (batch_size, num_steps, num_hiddens). After a forward pass, attention_weights[i] holds
    layer i's self-attention weights, (batch_size * num_heads, num_steps, num_steps).
    """

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, use_bias=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = named_blocks(
            EncoderBlock(key_size, query_size, value_size, num_hiddens, norm_shape,
                         ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias)
            for _ in range(num_layers))

    # Every attention in the blocks masks the padding keys, and everything else acts on each
    # position alone: outputs at real positions do not depend on the padding (shown below).
    ignores_padding = True

    def forward(self, X, valid_lens, *args):
        X = embed_with_positions(self.embedding, self.pos_encoding, X)
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X

    @property
    def attention_weights(self):
        return [getattr(blk.attention.attention, "attention_weights", None) for blk in self.blks]


# %% notebooks/10.7-transformer.py:363
def causal_valid_lens(batch_size, num_queries, num_past=0, device=None):
    """Valid lengths of a causal mask: query j (at position num_past + j) sees keys 0..num_past + j.

    Returns (batch_size, num_queries) lengths num_past + 1, ..., num_past + num_queries, or None
    when num_queries == 1: a single new query may see every cached key and itself.
    """
    if num_queries == 1:
        return None
    lens = torch.arange(num_past + 1, num_past + num_queries + 1, device=device)
    return lens.expand(batch_size, num_queries)


class DecoderBlock(nn.Module):
    """The i-th Transformer decoder layer (post-LN): masked self-attention, encoder-decoder
    attention and FFN, each wrapped in AddNorm.

    X: (batch_size, num_steps, num_hiddens), the new positions; state: [enc_outputs,
    enc_valid_lens, cache] with enc_outputs (batch_size, num_kv, num_hiddens), enc_valid_lens
    (batch_size,) and cache[i] this layer's earlier inputs (batch_size, num_past, num_hiddens)
    or None. Returns (output of X's shape, state with cache[i] extended by X).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, i, **kwargs):
        super().__init__(**kwargs)
        check_block_sizes(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input)
        self.i = i

        def attention():
            return MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                          num_heads, dropout)

        self.attention1, self.addnorm1 = attention(), AddNorm(norm_shape, dropout)
        self.attention2, self.addnorm2 = attention(), AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm3 = AddNorm(norm_shape, dropout)

    def forward(self, X, state):
        enc_outputs, enc_valid_lens, cache = state
        past = cache[self.i]
        num_past = 0 if past is None else past.shape[1]
        seen = X if past is None else torch.cat((past, X), dim=1)  # keys/values: past + new
        cache[self.i] = seen
        causal = causal_valid_lens(X.shape[0], X.shape[1], num_past, X.device)
        Y = self.addnorm1(X, self.attention1(X, seen, seen, causal))
        Z = self.addnorm2(Y, self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z)), state


# %% notebooks/10.7-transformer.py:445
class TransformerDecoder(AttentionDecoder):
    """Transformer decoder: embedding + positional encoding, num_layers DecoderBlocks, dense.

    X: (batch_size, num_steps) token indices -> (batch_size, num_steps, vocab_size) scores.
    attention_weights: [self-attention weights per layer, encoder-decoder weights per layer]
    of the last forward pass, each (batch_size * num_heads, num_steps, num_kv).
    """

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens, self.num_layers = num_hiddens, num_layers
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = named_blocks(
            DecoderBlock(key_size, query_size, value_size, num_hiddens, norm_shape,
                         ffn_num_input, ffn_num_hiddens, num_heads, dropout, i)
            for i in range(num_layers))
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        return [enc_outputs, enc_valid_lens, [None] * self.num_layers]

    def forward(self, X, state):
        cache = state[2]
        offset = 0 if cache[0] is None else cache[0].shape[1]  # positions already decoded
        X = embed_with_positions(self.embedding, self.pos_encoding, X, offset)
        for blk in self.blks:
            X, state = blk(X, state)
        return self.dense(X), state

    @property
    def attention_weights(self):
        def weights(attention):
            return getattr(attention.attention, "attention_weights", None)

        return [[weights(blk.attention1) for blk in self.blks],
                [weights(blk.attention2) for blk in self.blks]]


# %% notebooks/10.7-transformer.py:575
def transformer_net(src_vocab, tgt_vocab, num_hiddens, num_layers, num_heads, ffn_num_hiddens,
                    dropout):
    """This section's translator; its sizes are in `TRANSFORMER_CONFIG`. The residual
    connections need the key, query, value and FFN-input sizes equal to num_hiddens, so one
    number sets them all."""
    sizes = (num_hiddens, num_hiddens, num_hiddens, num_hiddens, [num_hiddens], num_hiddens)
    encoder = TransformerEncoder(len(src_vocab), *sizes, ffn_num_hiddens, num_heads, num_layers,
                                 dropout)
    decoder = TransformerDecoder(len(tgt_vocab), *sizes, ffn_num_hiddens, num_heads, num_layers,
                                 dropout)
    return EncoderDecoder(encoder, decoder)


@dataclasses.dataclass(frozen=True)
class TransformerConfig(TrainingConfig):
    """10.7's translator: the book's sizes, and the training settings of `d2l.TrainingConfig`
    with 250 epochs (the book trains 200); the notebooks, `make bench` and the tests read
    `TRANSFORMER_CONFIG`."""

    num_hiddens: int = 32
    num_layers: int = 2
    num_heads: int = 4
    ffn_num_hiddens: int = 64
    dropout: float = 0.1
    num_epochs: int = 250

    def net(self, src_vocab, tgt_vocab):
        return transformer_net(src_vocab, tgt_vocab, self.num_hiddens, self.num_layers,
                               self.num_heads, self.ffn_num_hiddens, self.dropout)


TRANSFORMER_CONFIG = TransformerConfig()


# %% notebooks/10.7-transformer.py:769
def stack_decoder_steps(saved):
    """One greedy translation's decoder weights, saved by predict_seq2seq per step as
    [self-attention per layer, encoder-decoder attention per layer], each (heads, 1, keys):
    stacked into (layers, heads, steps, steps) self-attention, 0 above the diagonal, and
    (layers, heads, steps, source positions) encoder-decoder attention."""
    num_layers, (num_heads, _, num_src) = len(saved[0][0]), saved[0][1][0].shape
    self_att = torch.zeros(num_layers, num_heads, len(saved), len(saved))
    cross = torch.zeros(num_layers, num_heads, len(saved), num_src)
    for t, (self_w, cross_w) in enumerate(saved):  # step t's query sees positions 0..t
        for layer in range(num_layers):
            self_att[layer, :, t, :t + 1] = self_w[layer][:, 0].cpu()
            cross[layer, :, t] = cross_w[layer][:, 0].cpu()
    return self_att, cross


# %% notebooks/10.7-transformer.py:839
def position_labels(tokens):
    """Tokens tagged with their position (from 0): '0 <bos>', '1 je', ... A repeated token keeps
    its own row or column in a heatmap."""
    return [f"{i} {token}" for i, token in enumerate(tokens)]


def attention_states(net, sentences, src_vocab, tgt_vocab, num_steps, decimals=2):
    """Explorer rows of a translator's attention: for each sentence, kind ("encoder", "decoder",
    "cross"), layer and head (both from 1), the weights of queries x keys.

    Each sentence is translated greedily by d2l.predict_seq2seq(..., save_attention_weights=True).
    The encoder's attention_weights, read right after that call, are the sentence's encoder
    self-attention; the decoder's rows of each step, stacked by `stack_decoder_steps`, are its
    self-attention (0 above the diagonal) and its encoder-decoder attention. Padding keys (weight 0) are left out.
    Returns (heatmap rows, sorted by key and then query position so that the axes read in
    position order; one text row per sentence and kind)."""
    device = next(net.parameters()).device
    heat_rows, text_rows = [], []
    for sentence in sentences:
        translation, steps = predict_seq2seq(net, sentence, src_vocab, tgt_vocab, num_steps,
                                                 device, save_attention_weights=True)
        src = position_labels(sentence.lower().split(" ") + ["<eos>"])
        dec = position_labels((["<bos>"] + translation.split())[:len(steps)])
        encoder = torch.stack(net.encoder.attention_weights)  # (layers, heads, steps, steps)
        encoder = encoder[..., :len(src), :len(src)].cpu()
        num_layers, num_heads = encoder.shape[:2]
        decoder, cross = stack_decoder_steps(steps)
        cross = cross[..., :len(src)]
        kinds = {"encoder": (encoder, src, src, "source tokens", "source tokens"),
                 "decoder": (decoder, dec, dec, "decoder inputs", "decoder inputs"),
                 "cross": (cross, dec, src, "decoder inputs", "source tokens")}
        for kind, (weights, queries, keys, q_name, k_name) in kinds.items():
            for layer in range(num_layers):
                for head in range(num_heads):
                    state = {"sentence": sentence, "kind": kind, "layer": layer + 1,
                             "head": head + 1}
                    heat_rows += rows(state, row_labels=("query", queries),
                                          col_labels=("key", keys), decimals=decimals,
                                          weight=weights[layer, head])
            text_rows += rows({"sentence": sentence, "kind": kind}, text=[
                f"{sentence} => {translation}   (queries: {q_name}; keys: {k_name})"])
    heat_rows.sort(key=lambda r: (r["col"], r["row"]))  # first seen = axis order: by position
    return heat_rows, text_rows


# %% notebooks/10.7-transformer.py:928
def eval_mask_states(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps,
                     decimals=2):
    """Explorer rows of one teacher-forced pass of the decoder in eval mode over `tgt_sentence`
    (the whole target at once, as when scoring a translation): the decoder self-attention per
    layer and head (from 1) with this section's causal mask (book_mask=False) and as the book's
    decoder computes it in eval mode (book_mask=True: the masked self-attention gets
    valid_lens=None, so a query also sees later positions), and one text row per mode with the
    largest weight above the diagonal and the next token predicted at each position."""
    device = next(net.parameters()).device
    net.eval()
    src_ids = src_vocab[src_sentence.lower().split(" ")] + [src_vocab["<eos>"]]
    src_valid = torch.tensor([len(src_ids)], device=device)
    src = torch.tensor([truncate_pad(src_ids, num_steps, src_vocab["<pad>"])], device=device)
    tokens = ["<bos>"] + tgt_sentence.split()
    labels = position_labels(tokens)

    def no_valid_lens(attention, args):  # the book: dec_valid_lens = None in eval mode
        return args[:3] + (None,)

    heat_rows, text_rows = [], []
    for book_mask in (False, True):
        hooks = [blk.attention1.register_forward_pre_hook(no_valid_lens)
                 for blk in net.decoder.blks] if book_mask else []
        try:
            with torch.no_grad():
                state = net.decoder.init_state(net.encoder(src, src_valid), src_valid)
                Y_hat, _ = net.decoder(torch.tensor([tgt_vocab[tokens]], device=device), state)
        finally:
            for hook in hooks:
                hook.remove()
        weights = torch.stack(net.decoder.attention_weights[0]).cpu()  # (layers, heads, T, T)
        for layer in range(weights.shape[0]):
            for head in range(weights.shape[1]):
                heat_rows += rows({"book_mask": book_mask, "layer": layer + 1,
                                       "head": head + 1}, row_labels=("query", labels),
                                      col_labels=("key", labels), decimals=decimals,
                                      weight=weights[layer, head])
        predicted = " ".join(tgt_vocab.to_tokens(Y_hat[0].argmax(-1).tolist()))
        text_rows += rows({"book_mask": book_mask}, text=[
            f"largest weight above the diagonal: {weights.triu(1).max().item():.2f}; "
            f"next token predicted at each position: {predicted}"])
    return heat_rows, text_rows


# %% notebooks/10.7-transformer.py:1162
def cache_states(net, sentence, src_vocab, tgt_vocab, num_steps, decimals=2):
    """Explorer rows of greedy decoding with the cache, step by step (from 0): at step t, the
    decoder self-attention row of the one new query over the t + 1 positions it sees (the
    cache's t and its own), for every layer and head, and a text row with the input, the number
    of positions seen, the tokens emitted so far and this step's output.
    From d2l.predict_seq2seq(..., save_attention_weights=True)."""
    device = next(net.parameters()).device
    translation, steps = predict_seq2seq(net, sentence, src_vocab, tgt_vocab, num_steps,
                                             device, save_attention_weights=True)
    outputs = translation.split() + ["<eos>"]  # what each step emits
    inputs = position_labels((["<bos>"] + outputs)[:len(steps)])
    heat_rows, text_rows = [], []
    for t, (self_w, _) in enumerate(steps):  # self_w[layer]: (heads, 1, t + 1)
        weights = torch.cat([w[:, 0] for w in self_w]).cpu()  # (layers * heads, t + 1)
        num_heads, seen = self_w[0].shape[0], weights.shape[1]
        names = [f"layer {k // num_heads + 1} head {k % num_heads + 1}"
                 for k in range(weights.shape[0])]
        heat_rows += rows({"step": t}, row_labels=("head", names), decimals=decimals,
                              col_labels=("key", inputs[:seen]), weight=weights)
        text_rows += rows({"step": t}, text=[
            f"step {t}: input {inputs[t]!r}; keys: {seen} ({t} cached + the new one); "
            f"emitted so far: {' '.join(outputs[:t]) or '(nothing)'}; emits: {outputs[t]}"])
    return heat_rows, text_rows
