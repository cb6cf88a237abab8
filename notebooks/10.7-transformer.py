# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10.7 Transformer
#
# 10.4 节的 Bahdanau 模型仍以循环神经网络为骨架：注意力只是帮解码器“回头看”，
# 编码器和解码器本身都得一个时间步一个时间步地算。10.6 节已经看到，自注意力（self-attention）
# 同样能把一个序列变成另一个序列，而且所有位置可以**同时**计算，任意两个位置之间的路径长度都是 1。
# 那么，能不能**完全不用循环层**，只靠注意力搭出一个编码器–解码器？
# Vaswani 等人在 2017 年给出的 Transformer 正是这样的模型，它后来成了几乎所有大模型的基础。
#
# 本节用 10.5 节的多头注意力和 10.6 节的位置编码把它一块一块搭起来，
# 在与 10.4 节相同的英–法数据上训练，并把编码器、解码器各层各头的注意力画出来。

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

# %% [markdown]
# ## 模型
#
# Transformer 的编码器和解码器都是 $n$ 个相同的**层**（block）堆叠而成。
#
# **编码器层**有两个子层（sublayer）：
#
# 1. 多头自注意力：查询、键、值都是上一层的输出；
# 2. 基于位置的前馈网络（positionwise feed-forward network）：对每个位置独立地做同一个两层 MLP。
#
# **解码器层**有三个子层：
#
# 1. 带掩蔽的多头自注意力（masked self-attention）：位置 $i$ 只能看位置 $1, \ldots, i$，
#    这样训练时虽然整句目标一起输入，每个位置也“看不到答案”；
# 2. 编码器–解码器注意力（encoder-decoder attention）：查询来自解码器上一子层，
#    键和值是编码器的最终输出；
# 3. 基于位置的前馈网络。
#
# 每个子层都包在**残差连接**（residual connection）和**层规范化**（layer normalization）里：
#
# $$\operatorname{AddNorm}(\mathbf{X}, \mathbf{Y}) = \operatorname{LayerNorm}\big(\mathbf{X} + \operatorname{Dropout}(\mathbf{Y})\big),
#   \qquad \mathbf{Y} = \operatorname{Sublayer}(\mathbf{X}).$$
#
# 层规范化对每个位置的 $d$ 维特征向量 $\mathbf{x}$ 单独做：
#
# $$\operatorname{LayerNorm}(\mathbf{x}) = \boldsymbol{\gamma} \odot \frac{\mathbf{x} - \mu}{\sqrt{\sigma^2 + \epsilon}} + \boldsymbol{\beta},
#   \qquad \mu = \frac{1}{d}\sum_{j=1}^{d} x_j,\quad \sigma^2 = \frac{1}{d}\sum_{j=1}^{d} (x_j - \mu)^2 .$$
#
# 前馈网络是 $\operatorname{FFN}(\mathbf{x}) = \mathbf{W}_2 \max(0, \mathbf{W}_1 \mathbf{x} + \mathbf{b}_1) + \mathbf{b}_2$，
# 其中 $\mathbf{W}_1 \in \mathbb{R}^{d_{ff} \times d}$，$\mathbf{W}_2 \in \mathbb{R}^{d \times d_{ff}}$。
# 因为残差连接要求子层的输入和输出形状相同，所以每一层、每个子层的输出都是 $(b, T, d)$：
# $b$ 为批量大小，$T$ 为序列长度，$d$ 为 `num_hiddens`。
#
# 输入端，词元嵌入乘以 $\sqrt{d}$ 后加上位置编码（嵌入初始值的尺度约为 1，乘上 $\sqrt{d}$ 使它与取值在
# $[-1, 1]$ 的位置编码相比不至于太小）；输出端，解码器最后接一个全连接层给出词表上的分数。
#
# | 位置 | 张量 | 形状 |
# |---|---|---|
# | 编码器输入 | 源词元 | $(b, T_{src})$ |
# | 编码器各层输出 | 表示 | $(b, T_{src}, d)$ |
# | 编码器自注意力权重（每层） | $h$ 个头 | $(b h, T_{src}, T_{src})$ |
# | 解码器自注意力权重（每层） | 训练时为下三角 | $(b h, T_{tgt}, T_{tgt})$ |
# | 编码器–解码器注意力权重（每层） | 查询来自解码器 | $(b h, T_{tgt}, T_{src})$ |
# | 解码器输出 | 词表分数 | $(b, T_{tgt}, |\mathcal{V}|)$ |

# %% [markdown]
# ## 实现
#
# ### 基于位置的前馈网络
#
# 它对输入的最后一维做变换，前面的维度（批量、位置）原样保留，因此同一组参数作用在每个位置上。

# %%
#@save
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


# %% [markdown]
# 同一个位置上的向量无论出现在哪个样本、哪个时间步，输出都相同：

# %%
torch.manual_seed(0)
ffn = PositionWiseFFN(4, 8, 6)
ffn.eval()
X = torch.ones((2, 3, 4))
out = ffn(X)
print("output shape:", tuple(out.shape))
print("position (0, 0):", [round(v, 4) for v in out[0, 0].tolist()])
assert torch.allclose(out[0, 0], out[1, 2])

# %% [markdown]
# ### 残差连接和层规范化
#
# 为什么用层规范化，而不是卷积网络里常用的批量规范化（batch normalization）？
# 批量规范化对**每个特征**在整个批量（和所有位置）上求均值和方差，
# 于是一个词元的输出取决于同一批里别的句子，以及批量里有多少填充；
# 层规范化只用这个词元自己的 $d$ 个特征，与批量大小、句子长度都无关，训练和预测时的行为也完全一样。
# 先看两者在同一个小矩阵上的差别：

# %%
ln = nn.LayerNorm(2)
bn = nn.BatchNorm1d(2)
X = torch.tensor([[1.0, 2.0], [2.0, 3.0]])  # 2 个样本，各 2 个特征
print("layer norm:", [[round(v, 4) for v in row] for row in ln(X).tolist()])  # 每行均值 0
print("batch norm:", [[round(v, 4) for v in row] for row in bn(X).tolist()])  # 每列均值 0

# %% [markdown]
# 再看序列的情形：同一个词元向量，所在批量里的其他位置变了（比如多了几个填充位置），
# 层规范化的结果不变，批量规范化的结果却跟着变。

# %%
torch.manual_seed(0)
token = torch.randn(1, 1, 4)  # 一个词元，4 维特征
batch_a = torch.cat([token, torch.randn(1, 2, 4)], dim=1)  # 与 2 个别的位置同批
batch_b = torch.cat([token, torch.zeros(1, 6, 4)], dim=1)  # 与 6 个全零“填充”同批
ln, bn = nn.LayerNorm(4), nn.BatchNorm1d(4)
ln_diff = (ln(batch_a)[0, 0] - ln(batch_b)[0, 0]).abs().max().item()
# BatchNorm1d wants (batch, features, length)
bn_a = bn(batch_a.transpose(1, 2)).transpose(1, 2)[0, 0]
bn_b = bn(batch_b.transpose(1, 2)).transpose(1, 2)[0, 0]
bn_diff = (bn_a - bn_b).abs().max().item()
print(f"same token, different batch -> layer norm changes by {ln_diff:.4f}, "
      f"batch norm changes by {bn_diff:.4f}")
assert ln_diff < 1e-6 and bn_diff > 0.1

# %%
#@save
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


# %%
add_norm = AddNorm([4], 0.5)
add_norm.eval()
out = add_norm(torch.ones((2, 3, 4)), torch.arange(24.0).reshape(2, 3, 4))
print("output shape:", tuple(out.shape))
print("mean / std of each position:", abs(round(out.mean().item(), 4)),
      round(out.std(dim=-1, unbiased=False).mean().item(), 4))

# %% [markdown]
# ### 编码器
#
# 编码器层 = 多头自注意力 + AddNorm + 前馈网络 + AddNorm。
# 有效长度 `valid_lens` 交给注意力，填充位置不会被任何查询看到。

# %%
#@save
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


# %%
torch.manual_seed(0)
X = torch.ones((2, 100, 24))
valid_lens = torch.tensor([3, 2])
encoder_blk = EncoderBlock(24, 24, 24, 24, [24], 24, 48, 8, 0.5)
encoder_blk.eval()
print("encoder block output:", tuple(encoder_blk(X, valid_lens).shape))

# %% [markdown]
# 整个编码器：嵌入（乘 $\sqrt{d}$）加位置编码，再过 `num_layers` 个编码器层。
# 每层的自注意力权重记在 `attention_weights` 里，供后面画图。

# %%
#@save
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


# %%
torch.manual_seed(0)
encoder = TransformerEncoder(200, 24, 24, 24, 24, [24], 24, 48, 8, 2, 0.5)
encoder.eval()
enc_out = encoder(torch.ones((2, 100), dtype=torch.long), valid_lens)
print("encoder output:", tuple(enc_out.shape))
print("layer-0 attention weights:", tuple(encoder.attention_weights[0].shape))
assert enc_out.shape == (2, 100, 24)

# %% [markdown]
# ### 解码器
#
# 解码器层的第 `i` 个实例负责第 `i` 层。它的状态 `state` 是一个列表：
# `[编码器输出, 编码器有效长度, 各层的缓存]`。
#
# * **训练时**整句目标一起输入，带掩蔽的自注意力用形状为 $(b, T)$ 的有效长度
#   $[1, 2, \ldots, T]$（每一行相同）实现“位置 $i$ 只看前 $i$ 个位置”。
# * **预测时**一次只输入一个词元。自注意力需要此前所有位置的表示作为键和值，
#   所以每层把已经见过的输入**缓存**在 `state[2][i]` 中，每一步把新词元拼到后面。
#   缓存里本来就只有过去的位置，不再需要掩码。新词元的位置编码也要接着缓存的长度往下数
#   （第 $t$ 步的词元是位置 $t-1$），否则每个新词元都会被当成位置 0——书中的实现正有这个问题，
#   它使预测时的输入与训练时不一致。

# %%
#@save
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


# %%
torch.manual_seed(0)
decoder_blk = DecoderBlock(24, 24, 24, 24, [24], 24, 48, 8, 0.5, 0)
decoder_blk.eval()
X = torch.ones((2, 100, 24))
state = [encoder_blk(X, valid_lens), valid_lens, [None]]
print("decoder block output:", tuple(decoder_blk(X, state)[0].shape))

# %% [markdown]
# 整个解码器：嵌入加位置编码，`num_layers` 个解码器层，最后一个全连接层输出词表分数。
# `attention_weights` 是两个列表：各层的自注意力权重和各层的编码器–解码器注意力权重。

# %%
#@save
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


# %% [markdown]
# 检查一下形状，并确认训练模式下的自注意力确实是“下三角”的：把 dropout 设为 0，
# 每一层的自注意力权重在对角线以上都应为 0。

# %%
torch.manual_seed(0)
decoder = TransformerDecoder(200, 24, 24, 24, 24, [24], 24, 48, 8, 2, 0.0)
decoder.train()  # training mode: the causal mask is on
Y = torch.ones((2, 6), dtype=torch.long)
dec_out, _ = decoder(Y, decoder.init_state(enc_out, valid_lens))
self_weights = decoder.attention_weights[0][0]  # (batch_size * num_heads, 6, 6)
above = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
print("decoder output:", tuple(dec_out.shape))
print("self-attention weights:", tuple(self_weights.shape))
print("largest weight above the diagonal:", self_weights[:, above].max().item())
assert self_weights[:, above].max().item() == 0.0

# %% [markdown]
# ## 在 CPU 上训练得更快
#
# 10.4 节对训练循环的改动（按下标切批量、融合的 Adam、跳过整批都是填充的目标步、单线程）在这里同样生效。
# 针对 Transformer 还有两处：
#
# 1. **源序列也可以截短。** 编码器把填充位置从注意力里屏蔽掉，层规范化和前馈网络又是逐位置的，
#    所以有效位置的输出与后面有多少填充无关；解码器的编码器–解码器注意力同样屏蔽了这些位置。
#    因此可以把每个批量的源序列截到本批最长的句子（这组数据里通常是 5 步而不是 10 步），结果不变。
#    （10.4 节的 GRU 编码器不能这样做：它的最终隐状态读过了所有填充词元。）
# 2. **更精简的注意力计算。** `d2l.MultiHeadAttention` 为了教学清楚，每次调用都把三个投影
#    各自拷贝成“头并入批量”的布局、把有效长度复制到每个头、检查参数，再构造掩码。
#    `FastMultiHeadAttention` 参数和结果都不变，只是少做几次运算：读同一个张量的投影合成**一次**矩阵乘法
#    （自注意力的查询、键、值；编码器–解码器注意力的键、值）；用视图（view）而不是拷贝拆出各个头；
#    直接由有效长度构造一次掩码。它同样把注意力权重保存在 `attention.attention_weights` 中，形状与父类相同。
#    它没有新增参数，所以 `use_fast_attention` 只需把网络里已有模块的类换掉。
#
# 你可能会想到 PyTorch 的融合算子 `F.scaled_dot_product_attention`：在 GPU 上它会调用融合内核。
# 但在 CPU 上、又要对注意力权重做 dropout 时，它退回到与手写版本相同的逐步计算，还要多做一次掩码类型转换，
# 我们在这台机器上测得整个训练反而慢约 5%；而且它不返回注意力权重。所以这里仍用显式的 softmax。

# %%
#@save
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


# %% [markdown]
# 先验证两者算的是同一个东西：dropout 为 0 时，同一组参数给出的输出和注意力权重应当一致，
# 无论是自注意力、带因果掩码的自注意力，还是查询与键值来自不同序列的注意力。

# %%
torch.manual_seed(0)
plain = d2l.MultiHeadAttention(16, 16, 16, 16, 4, 0.0)
fast = use_fast_attention(d2l.MultiHeadAttention(16, 16, 16, 16, 4, 0.0))
fast.load_state_dict(plain.state_dict())
print("class after use_fast_attention:", type(fast).__name__)
A, B = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
cases = {"self-attention": (A, A, A, torch.tensor([5, 3])),
         "causal self-attention": (A, A, A, torch.arange(1, 6).repeat(2, 1)),
         "cross attention": (A, B, B, torch.tensor([7, 2]))}
for name, args in cases.items():
    same = torch.allclose(plain(*args), fast(*args), atol=1e-5) and torch.allclose(
        plain.attention.attention_weights, fast.attention.attention_weights, atol=1e-6)
    print(f"{name:22s} same output and weights: {same}")
    assert same

# %% [markdown]
# 再粗略比较一个训练批量上前向加反向传播的耗时（输出随机器而变，不参与校验）。
# 书中的设置：32 个隐藏单元、2 层、4 个头、前馈网络 64 个隐藏单元。

# %%
# NBVAL_IGNORE_OUTPUT
torch.set_num_threads(1)  # tiny tensors: one thread is the safe choice (see 10.4)
batch_size, num_steps = 64, 10
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
num_hiddens, num_layers, dropout = 32, 2, 0.1
ffn_num_input, ffn_num_hiddens, num_heads = 32, 64, 4
key_size = query_size = value_size = 32
norm_shape = [32]


def make_net():
    encoder = TransformerEncoder(len(src_vocab), key_size, query_size, value_size, num_hiddens,
                                 norm_shape, ffn_num_input, ffn_num_hiddens, num_heads,
                                 num_layers, dropout)
    decoder = TransformerDecoder(len(tgt_vocab), key_size, query_size, value_size, num_hiddens,
                                 norm_shape, ffn_num_input, ffn_num_hiddens, num_heads,
                                 num_layers, dropout)
    return d2l.EncoderDecoder(encoder, decoder)


torch.manual_seed(0)
batch = next(iter(train_iter))
trimmed = next(iter(TrimSourcePadding([batch])))
plain_s = d2l.time_training_step(make_net(), batch)
fast_s = d2l.time_training_step(use_fast_attention(make_net()), trimmed)
print(f"plain: {plain_s * 1000:.1f} ms, fast attention + trimmed source: {fast_s * 1000:.1f} ms,"
      f" speed-up {plain_s / fast_s:.2f}x")

# %% [markdown]
# ## 训练
#
# 超参数与书中相同：32 个隐藏单元、2 层、4 个头、前馈网络 64 个隐藏单元、dropout 0.1，
# 批量 64、每句 10 步、学习率 0.005、训练 200 轮。

# %%
torch.manual_seed(0)
lr, num_epochs, device = 0.005, 200, d2l.try_gpu()
net = use_fast_attention(make_net())
result = d2l.train_seq2seq(net, TrimSourcePadding(train_iter), lr, num_epochs, tgt_vocab, device)
assert result.loss < 0.1

# %% [markdown]
# 用 10.4 节的 `translate_and_score` 翻译同样的四个句子。与 10.4 节一样，训练结果在不同机器上可能有细微差别，
# 只断言稳健的性质。

# %%
# NBVAL_IGNORE_OUTPUT
engs = ["go .", "i lost .", "he's calm .", "i'm home ."]
fras = ["va !", "j'ai perdu .", "il est calme .", "je suis chez moi ."]
translations, bleus, attention_weight_seqs = d2l.translate_and_score(
    net, engs, fras, src_vocab, tgt_vocab, num_steps, device)
assert sum(b == 1.0 for b in bleus) >= 2 and sum(bleus) / len(bleus) > 0.5

# %% [markdown]
# ## 可视化
#
# ### 编码器自注意力
#
# 最后一个句子 `i'm home .` 有 4 个有效词元（含 `<eos>`）；下图每行是一层，每列是一个头，
# 只画有效位置（填充位置的权重为 0）。

# %%
src_tokens = engs[-1].split() + ["<eos>"]
n_src = len(src_tokens)
enc_attention_weights = torch.cat(net.encoder.attention_weights, dim=0).reshape(
    num_layers, num_heads, -1, num_steps)
print("encoder weights (layers, heads, queries, keys):", tuple(enc_attention_weights.shape))
assert enc_attention_weights[..., n_src:].abs().max() == 0  # padded keys get no attention
d2l.show_heatmaps(enc_attention_weights[:, :, :n_src, :n_src].cpu(), xlabel="Key positions",
                  ylabel="Query positions", titles=[f"Head {i}" for i in range(1, 5)],
                  figsize=(7, 3.5))
d2l.plt.show()

# %% [markdown]
# ### 解码器自注意力和编码器–解码器注意力
#
# 预测时解码器每步只处理一个词元，所以每步得到的是一行权重：自注意力的第 $t$ 步有 $t$ 个键
# （此前生成的词元，包括 `<bos>`），编码器–解码器注意力每步有 10 个键（源序列，含填充）。
# 把各步的行拼起来，自注意力不足的位置补 0，就得到（层，头，生成步，键）形状的矩阵。

# %%
# attention_weight_seqs[-1][step] = [self-attention per layer, enc-dec attention per layer],
# each (num_heads, 1, num_kv) for this one-sentence batch
dec_attention_weight_seq = attention_weight_seqs[-1]
num_out = len(dec_attention_weight_seq)
self_rows, cross_rows = [], []
for step_weights in dec_attention_weight_seq:
    for layer in range(num_layers):
        w_self = step_weights[0][layer].squeeze(1)  # (num_heads, keys seen so far)
        self_rows.append(F.pad(w_self, (0, num_out - w_self.shape[-1])))
        cross_rows.append(step_weights[1][layer].squeeze(1))
# (steps, layers, heads, keys) -> (layers, heads, steps, keys)
dec_self = torch.stack(self_rows).reshape(num_out, num_layers, num_heads, -1).permute(1, 2, 0, 3)
dec_cross = torch.stack(cross_rows).reshape(num_out, num_layers, num_heads, -1).permute(1, 2, 0, 3)
assert torch.allclose(dec_self.sum(-1), torch.ones(num_layers, num_heads, num_out))
d2l.show_heatmaps(dec_self.cpu(), xlabel="Key positions", ylabel="Query positions",
                  titles=[f"Head {i}" for i in range(1, 5)], figsize=(7, 3.5))
d2l.plt.show()

# %% [markdown]
# 自注意力的每一行只在已经生成的位置上有权重（图中右上方为 0），这正是缓存与因果性的体现。
# 编码器–解码器注意力只画有效的源位置：

# %%
assert dec_cross[..., n_src:].abs().max() == 0  # padded source positions get no attention
d2l.show_heatmaps(dec_cross[..., :n_src].cpu(), xlabel="Source positions",
                  ylabel="Query positions", titles=[f"Head {i}" for i in range(1, 5)],
                  figsize=(8, 4))
d2l.plt.show()

# %% [markdown]
# 不同的头呈现出不同的模式：有的头几乎总盯着同一个源位置，有的头的权重随生成位置移动，
# 还有的头把权重分散在几个位置上（具体的图随机器和随机种子而变）。与 10.4 节单一的注意力分布相比，多头让每一层可以同时从几个角度组合信息。
#
# ## 讨论：泛化
#
# 10.4 节看到，`he's calm .` 不在训练数据中，要译对它需要组合 `he's X .` → `il est X .` 和
# `calm` → `calme` 两条线索。Bahdanau 模型在 5 个随机种子下一次也没译对。Transformer 的情况
# 更微妙：在这台机器上用种子 0–4 各训练一次，书中的参考实现译对了 2 次（另外几次输出
# `il est mouillé .`、`il est paresseux .`，还有一次只输出了 `<unk> .`），本节的实现也译对了 2 次
# （种子 3 和 4）；两者在另外三句上都没有出错。
# 上面的结果是种子 0 的情形。可见这一句正处在模型“会与不会”的边缘，
# 结论必须在多个种子上平均，而不能看一次运行。
# 一个可能的解释是：Transformer 的每个位置都能直接访问源句子的每个词元，组合
# “主语”和“形容词”两条线索更容易；10.4 节已经排除了“GRU 编码器读了填充”这个解释。
# 但只有 4 个测试句子、600 个训练句子，这样的比较只能当作线索，不能当作结论——
# `make bench SEEDS=5` 会在 5 个种子上训练两种模型并报告平均 BLEU。

# %% [markdown]
# ## 小结
#
# * Transformer 的编码器和解码器都由相同的层堆叠而成，层内只有（多头）注意力和逐位置的前馈网络，
#   每个子层都包在残差连接和层规范化里。
# * 解码器的自注意力在训练时用掩码保证位置 $i$ 只看前 $i$ 个位置；预测时逐词生成，
#   每层缓存此前的输入作为键和值。
# * 层规范化只用一个词元自己的特征，与批量和填充无关，因此比批量规范化更适合序列。
# * 在 CPU 上，截掉整批都是填充的源和目标位置、训练时走精简的注意力路径，
#   可以在不改变模型和结果的前提下明显提速。
#
# ## 练习
#
# 1. 解码器的缓存：用 dropout 为 0 的小解码器，比较“逐词元输入、靠缓存”得到的输出，
#    与“整句一次输入、靠掩码”得到的输出。它们应当相同吗？
# 2. 嵌入为什么要乘以 $\sqrt{d}$？比较 `nn.Embedding` 初始值的标准差与位置编码的标准差。
# 3. 只把编码器–解码器注意力的掩码去掉（让它也看填充位置），对一个有填充的批量，
#    有效位置的解码器输出会变吗？为什么源序列截短会因此不再等价？

# %% tags=["solution"]
# 练习 1 的参考答案：两者相同——缓存里恰好是掩码允许看的那些位置。
torch.manual_seed(0)
small_dec = TransformerDecoder(20, 16, 16, 16, 16, [16], 16, 32, 4, 2, 0.0)
enc_outputs, enc_valid = torch.randn(2, 5, 16), torch.tensor([5, 3])
Y = torch.randint(0, 20, (2, 6))
small_dec.train()  # the causal mask on, dropout is 0 anyway
full, _ = small_dec(Y, small_dec.init_state(enc_outputs, enc_valid))
small_dec.eval()  # the cache path
state = small_dec.init_state(enc_outputs, enc_valid)
steps = []
for t in range(Y.shape[1]):
    out, state = small_dec(Y[:, t:t + 1], state)
    steps.append(out)
incremental = torch.cat(steps, dim=1)
print("max difference:", round((full - incremental).abs().max().item(), 5))
print("cache of layer 0 holds", state[2][0].shape[1], "positions")
assert torch.allclose(full, incremental, atol=1e-5)

# %% tags=["solution"]
# 练习 2 的参考答案：nn.Embedding 初始值服从 N(0, 1)，乘 sqrt(d) 后标准差约为 sqrt(d)；
# 位置编码的各分量在 [-1, 1] 之间，标准差约 0.7。乘上 sqrt(d) 让词元本身的信息占主导。
torch.manual_seed(0)
d = 32
emb = nn.Embedding(1000, d)
pos = d2l.PositionalEncoding(d, 0)
pos.eval()
P = pos(torch.zeros(1, 100, d))  # the positional encoding alone
print(f"embedding std: {emb.weight.std().item():.2f}, scaled: "
      f"{(emb.weight * math.sqrt(d)).std().item():.2f}, positional encoding std: "
      f"{P.std().item():.2f}")
assert (emb.weight * math.sqrt(d)).std() > 5 * P.std()

# %% tags=["solution"]
# 练习 3 的参考答案：去掉掩码后，有效位置的查询也会看到填充位置的编码器输出，
# 输出随填充内容而变；源序列截短改变了填充的数量，结果也就不再相同。
torch.manual_seed(0)
cross = d2l.MultiHeadAttention(16, 16, 16, 16, 4, 0.0)
cross.eval()
queries = torch.randn(1, 3, 16)
enc = torch.randn(1, 8, 16)
valid = torch.tensor([5])
masked_full = cross(queries, enc, enc, valid)
masked_cut = cross(queries, enc[:, :5], enc[:, :5], valid)
unmasked_full = cross(queries, enc, enc, None)
unmasked_cut = cross(queries, enc[:, :5], enc[:, :5], None)
print("with mask, cut source changes output:",
      not torch.allclose(masked_full, masked_cut, atol=1e-6))
print("without mask, cut source changes output:",
      not torch.allclose(unmasked_full, unmasked_cut, atol=1e-6))
assert torch.allclose(masked_full, masked_cut, atol=1e-6)
assert not torch.allclose(unmasked_full, unmasked_cut, atol=1e-6)
