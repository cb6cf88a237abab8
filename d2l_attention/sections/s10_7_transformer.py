# Generated from notebooks/py/10.7-transformer.py by `make lib`: DO NOT EDIT.
# Edit notebooks/py/10.7-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.7 Transformer (Transformer): the components saved with `#@save`."""

import math

import torch
from torch import nn

from ..seq2seq import Encoder, EncoderDecoder
from .s10_4_bahdanau_attention import AttentionDecoder
from .s10_5_multihead_attention import MultiHeadAttention
from .s10_6_self_attention import PositionalEncoding

__all__ = ['PositionWiseFFN', 'AddNorm', 'one_width', 'tied_sizes', 'EncoderBlock', 'embed_with_positions', 'named_blocks', 'TransformerEncoder', 'causal_valid_lens', 'DecoderBlock', 'TransformerDecoder', 'transformer_net']


# %% notebooks/py/10.7-transformer.py:60
class PositionWiseFFN(nn.Module):
    """FFN(x) = W_2 relu(W_1 x + b_1) + b_2, the same MLP at every position (last axis).

    X: (batch_size, num_steps, ffn_num_input) -> (batch_size, num_steps, ffn_num_outputs)."""

    def __init__(self, ffn_num_input, ffn_num_hiddens, ffn_num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)  # W_1, b_1
        self.relu = nn.ReLU()
        self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)  # W_2, b_2

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))  # hidden: (..., ffn_num_hiddens)


# %% notebooks/py/10.7-transformer.py:112
class AddNorm(nn.Module):
    """Residual connection, then layer normalization: LayerNorm(X + Dropout(Y)).

    X: a sublayer's input, Y: its output, both (batch_size, num_steps, num_hiddens)."""

    def __init__(self, normalized_shape, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, X, Y):
        if X.shape != Y.shape:
            raise ValueError(f"a sublayer must keep the shape: X {X.shape}, its output Y {Y.shape}")
        return self.ln(X + self.dropout(Y))


# %% notebooks/py/10.7-transformer.py:140
def one_width(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input):
    """The one width d that the residual connections allow the book's six sizes."""
    if {key_size, query_size, value_size, ffn_num_input, norm_shape[-1]} != {num_hiddens}:
        raise ValueError("set key_size, query_size, value_size, ffn_num_input and norm_shape"
                         f"[-1] to num_hiddens={num_hiddens}: the residuals add them up")
    return num_hiddens


def tied_sizes(d):
    """The six sizes tied to one width d, as keyword arguments."""
    return dict(key_size=d, query_size=d, value_size=d, num_hiddens=d, norm_shape=[d],
                ffn_num_input=d)


class EncoderBlock(nn.Module):
    """Transformer encoder layer (post-LN): self-attention and FFN, each wrapped in AddNorm.

    X: (batch_size, num_steps, num_hiddens); valid_lens: None or (batch_size,), the number of
    real (non-padding) tokens per sequence -> (batch_size, num_steps, num_hiddens).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        d = one_width(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input)
        self.attention = MultiHeadAttention(d, d, d, d, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(d, ffn_num_hiddens, d)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X, valid_lens):
        mixed = self.addnorm1(X, self.attention(X, X, X, valid_lens))  # across positions
        return self.addnorm2(mixed, self.ffn(mixed))  # within each position


# %% notebooks/py/10.7-transformer.py:195
def embed_with_positions(embedding, pos_encoding, tokens, offset=0):
    """sqrt(d) * embedding(tokens) + P[offset : offset + num_steps], then pos_encoding's dropout.

    tokens: (batch_size, num_steps) indices -> (batch_size, num_steps, d)."""
    X = embedding(tokens) * math.sqrt(embedding.embedding_dim)
    P = pos_encoding.P[:, offset:offset + tokens.shape[1]]  # rows offset.. (max_len rows in all)
    return pos_encoding.dropout(X + P.to(X.dtype))


def named_blocks(blocks):
    """nn.Sequential of `blocks` named block0, block1, ... (the key layout of the book's models)."""
    stack = nn.Sequential()
    for i, blk in enumerate(blocks):
        stack.add_module(f"block{i}", blk)
    return stack


class TransformerEncoder(Encoder):
    """Transformer encoder: embedding + positional encoding, then num_layers EncoderBlocks.

    X: (batch_size, num_steps) token indices, valid_lens: (batch_size,)
    -> (batch_size, num_steps, num_hiddens). attention_weights: one tensor per layer."""

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

    # Attention masks padding keys, the rest is per position: padding cannot matter (exercise 7).
    ignores_padding = True

    def forward(self, X, valid_lens, *args):
        X = embed_with_positions(self.embedding, self.pos_encoding, X)
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X

    @property
    def attention_weights(self):
        return [getattr(blk.attention.attention, "attention_weights", None) for blk in self.blks]


# %% notebooks/py/10.7-transformer.py:256
def causal_valid_lens(batch_size, num_queries, num_past=0, device=None):
    """Valid lengths of a causal mask: query j (at position num_past + j) sees keys 0..num_past + j.

    Returns (batch_size, num_queries) lengths, or None when num_queries == 1 (sees the whole cache)."""
    if num_queries == 1:
        return None
    lens = torch.arange(num_past + 1, num_past + num_queries + 1, device=device)
    return lens.expand(batch_size, num_queries)


# %% notebooks/py/10.7-transformer.py:278
class DecoderBlock(nn.Module):
    """Decoder layer i (post-LN): masked self-attention, encoder-decoder attention, FFN.

    X: (batch_size, num_steps, num_hiddens), the new positions; state: [enc_outputs,
    enc_valid_lens, cache], cache[i] this layer's earlier inputs or None.
    Returns (output of X's shape, state with cache[i] extended by X)."""

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, i, **kwargs):
        super().__init__(**kwargs)
        d = one_width(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input)
        self.i = i
        self.attention1 = MultiHeadAttention(d, d, d, d, num_heads, dropout)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.attention2 = MultiHeadAttention(d, d, d, d, num_heads, dropout)
        self.addnorm2 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(d, ffn_num_hiddens, d)
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


# %% notebooks/py/10.7-transformer.py:325
class TransformerDecoder(AttentionDecoder):
    """Transformer decoder: embedding + positional encoding, num_layers DecoderBlocks, dense.

    X: (batch_size, num_steps) token indices -> (batch_size, num_steps, vocab_size) scores.
    attention_weights: [self-attention per layer, encoder-decoder per layer]."""

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
        return [[getattr(b.attention1.attention, "attention_weights", None) for b in self.blks],
                [getattr(b.attention2.attention, "attention_weights", None) for b in self.blks]]


# %% notebooks/py/10.7-transformer.py:398
def transformer_net(src_vocab, tgt_vocab, num_hiddens, num_layers, num_heads, ffn_num_hiddens,
                    dropout):
    """This section's translator, an EncoderDecoder of a TransformerEncoder and Decoder."""
    sizes = tied_sizes(num_hiddens)
    rest = dict(ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers,
                dropout=dropout)
    encoder = TransformerEncoder(vocab_size=len(src_vocab), **sizes, **rest)
    decoder = TransformerDecoder(vocab_size=len(tgt_vocab), **sizes, **rest)
    return EncoderDecoder(encoder, decoder)
