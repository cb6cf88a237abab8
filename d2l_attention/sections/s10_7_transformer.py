# Generated from notebooks/10.7-transformer.ipynb by `make lib`: DO NOT EDIT.
# Edit notebooks/10.7-transformer.py instead, then run `make sync execute`
# (without make: `python tools/book.py sync`, then `python tools/book.py execute`).
"""Section 10.7 Transformer (Transformer): the components saved with `#@save`."""

import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

__all__ = ['PositionWiseFFN', 'AddNorm', 'EncoderBlock', 'TransformerEncoder', 'DecoderBlock', 'TransformerDecoder', 'FastMultiHeadAttention', 'use_fast_attention', 'TrimSourcePadding']


class PositionWiseFFN(nn.Module):
    """Two-layer MLP applied to every position independently.

    X: (batch_size, num_steps, ffn_num_input) -> (batch_size, num_steps, ffn_num_outputs).
    """

    def __init__(self, ffn_num_input, ffn_num_hiddens, ffn_num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    """Residual connection followed by layer normalization: LayerNorm(X + Dropout(Y)).

    X, Y: (batch_size, num_steps, num_hiddens); normalized_shape is usually [num_hiddens].
    """

    def __init__(self, normalized_shape, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, X, Y):
        return self.ln(X + self.dropout(Y))


class EncoderBlock(nn.Module):
    """Transformer encoder layer.

    X: (batch_size, num_steps, num_hiddens), valid_lens: (batch_size,) or None
    -> (batch_size, num_steps, num_hiddens).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.attention = d2l.MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                                num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class TransformerEncoder(d2l.Encoder):
    """Transformer encoder: embedding + positional encoding + num_layers EncoderBlocks.

    X: (batch_size, num_steps) token indices, valid_lens: (batch_size,)
    -> (batch_size, num_steps, num_hiddens). attention_weights[i]: layer i's
    (batch_size * num_heads, num_steps, num_steps) weights (None when not recorded).
    """

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, use_bias=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = d2l.PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential()
        for i in range(num_layers):
            self.blks.add_module(f"block{i}", EncoderBlock(
                key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                ffn_num_hiddens, num_heads, dropout, use_bias))

    def forward(self, X, valid_lens, *args):
        # scale the embeddings up to the size of the positional encoding, then add it
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
        self.attention_weights = [None] * len(self.blks)
        for i, blk in enumerate(self.blks):
            X = blk(X, valid_lens)
            self.attention_weights[i] = getattr(blk.attention.attention, "attention_weights", None)
        return X


class DecoderBlock(nn.Module):
    """The i-th Transformer decoder layer.

    X: (batch_size, num_steps, num_hiddens); state: [enc_outputs, enc_valid_lens, cache] with
    enc_outputs (batch_size, num_kv, num_hiddens) and cache[i] the inputs this layer has seen
    so far (None before the first step). Returns the layer output (same shape as X) and state.
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, i, **kwargs):
        super().__init__(**kwargs)
        self.i = i
        self.attention1 = d2l.MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                                 num_heads, dropout)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.attention2 = d2l.MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                                 num_heads, dropout)
        self.addnorm2 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm3 = AddNorm(norm_shape, dropout)

    def forward(self, X, state):
        enc_outputs, enc_valid_lens, cache = state
        # keys/values of the self-attention: every position seen so far, including this call's
        key_values = X if cache[self.i] is None else torch.cat((cache[self.i], X), dim=1)
        cache[self.i] = key_values
        if self.training:
            # position j (0-based) may look at keys 0..j: valid length j + 1 in every row
            batch_size, num_steps, _ = X.shape
            dec_valid_lens = torch.arange(1, num_steps + 1, device=X.device).repeat(batch_size, 1)
        else:
            dec_valid_lens = None  # the cache only holds the past
        Y = self.addnorm1(X, self.attention1(X, key_values, key_values, dec_valid_lens))
        Z = self.addnorm2(Y, self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z)), state


class TransformerDecoder(d2l.AttentionDecoder):
    """Transformer decoder: embedding + positional encoding + num_layers DecoderBlocks + dense.

    X: (batch_size, num_steps) token indices -> (batch_size, num_steps, vocab_size) scores.
    attention_weights: [self-attention weights per layer, encoder-decoder weights per layer],
    each (batch_size * num_heads, num_steps, num_kv) or None when not recorded.
    """

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = d2l.PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential()
        for i in range(num_layers):
            self.blks.add_module(f"block{i}", DecoderBlock(
                key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                ffn_num_hiddens, num_heads, dropout, i))
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        return [enc_outputs, enc_valid_lens, [None] * self.num_layers]

    def forward(self, X, state):
        # When predicting one token at a time, the cache already holds `offset` earlier positions:
        # the new tokens continue the numbering there instead of restarting at position 0.
        offset = 0 if state[2][0] is None else state[2][0].shape[1]
        X = self.embedding(X) * math.sqrt(self.num_hiddens)
        positions = self.pos_encoding.P[:, offset:offset + X.shape[1], :].to(X.device)
        X = self.pos_encoding.dropout(X + positions)
        self._attention_weights = [[None] * self.num_layers for _ in range(2)]
        for i, blk in enumerate(self.blks):
            X, state = blk(X, state)
            self._attention_weights[0][i] = getattr(
                blk.attention1.attention, "attention_weights", None)
            self._attention_weights[1][i] = getattr(
                blk.attention2.attention, "attention_weights", None)
        return self.dense(X), state

    @property
    def attention_weights(self):
        return self._attention_weights


class FastMultiHeadAttention(d2l.MultiHeadAttention):
    """d2l.MultiHeadAttention with the same parameters and results, computed with fewer ops.

    Same inputs, output and self.attention.attention_weights (batch_size * num_heads,
    num_queries, num_kv) as the parent. Projections that read the same tensor share one matmul,
    heads are views instead of copies, and the mask is built once from valid_lens. Every valid
    length must be >= 1 (a row without valid keys gives NaN here, zeros in the parent).
    """

    @staticmethod
    def _project(X, *layers):
        """Apply several Linear layers to the same X with a single matmul."""
        weight = torch.cat([layer.weight for layer in layers])
        bias = None if layers[0].bias is None else torch.cat([layer.bias for layer in layers])
        return F.linear(X, weight, bias).chunk(len(layers), dim=-1)

    def forward(self, queries, keys, values, valid_lens=None):
        batch_size, num_queries, num_kv = queries.shape[0], queries.shape[1], keys.shape[1]
        if queries is keys and keys is values:  # self-attention
            q, k, v = self._project(queries, self.W_q, self.W_k, self.W_v)
        elif keys is values:  # encoder-decoder attention
            q, (k, v) = self.W_q(queries), self._project(keys, self.W_k, self.W_v)
        else:
            q, k, v = self.W_q(queries), self.W_k(keys), self.W_v(values)

        def split_heads(t, n):  # (batch_size, n, num_hiddens) -> (batch_size, heads, n, head_dim)
            return t.view(batch_size, n, self.num_heads, -1).transpose(1, 2)

        q, k, v = split_heads(q, num_queries), split_heads(k, num_kv), split_heads(v, num_kv)
        scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])  # (batch, heads, n_q, n_kv)
        if valid_lens is not None:
            # True on keys past the valid length: (batch_size, n_kv) or (batch_size, n_q, n_kv)
            pad = torch.arange(num_kv, device=q.device) >= valid_lens.unsqueeze(-1)
            pad = pad[:, None, None, :] if valid_lens.dim() == 1 else pad[:, None]
            scores = scores.masked_fill(pad, float("-inf"))
        weights = F.softmax(scores, dim=-1)
        self.attention.attention_weights = weights.reshape(-1, num_queries, num_kv)
        out = self.attention.dropout(weights) @ v  # (batch_size, heads, num_queries, head_dim)
        return self.W_o(out.transpose(1, 2).reshape(batch_size, num_queries, -1))


def use_fast_attention(net):
    """Turn every d2l.MultiHeadAttention inside net into a FastMultiHeadAttention; returns net.

    FastMultiHeadAttention adds no parameters, so the existing modules keep their weights.
    """
    for module in net.modules():
        if type(module) is d2l.MultiHeadAttention:
            module.__class__ = FastMultiHeadAttention
    return net


class TrimSourcePadding:
    """Wrap a seq2seq data iterator: cut each source batch X after its longest sentence.

    Yields (X[:, :max(X_valid_len)], X_valid_len, Y, Y_valid_len). Exact for encoders whose
    outputs at valid positions ignore padding (TransformerEncoder), not for RNN encoders.
    """

    def __init__(self, data_iter):
        self.data_iter = data_iter

    def __len__(self):
        return len(self.data_iter)

    def __iter__(self):
        for X, X_valid_len, Y, Y_valid_len in self.data_iter:
            yield X[:, :max(1, int(X_valid_len.max()))], X_valid_len, Y, Y_valid_len
