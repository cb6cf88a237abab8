# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,jupyter,-all
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
# 10.4 节的 Bahdanau 模型以循环神经网络为骨架，得一个时间步接一个时间步地算。
# 10.6 节的自注意力也能把一个序列变成另一个序列；原论文的论点是，它的各位置之间没有先后依赖，在 GPU 这样的并行硬件上可以同时算（本节在 CPU 上，没有演示这一点）。
# 能不能**完全不用循环层**，只靠注意力搭出编码器–解码器？Vaswani 等人（2017）的 Transformer 就是这样的模型。
#
# 本节用 10.5 节的多头注意力和 10.6 节的位置编码搭出它，在英–法数据上训练，再让一个句子走完全程。

# %%
import math

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention import testing
from d2l_attention.explore import transformer

# %% [markdown]
# ## 模型
#
# ![The Transformer architecture](figures/10.7-transformer.svg)
#
# 图 10.7.1 Transformer 架构：编码器与解码器各由 $N$ 个相同的层堆叠而成，每个子层后接残差连接和层规范化（Add & Norm）
#
# 左边的编码器层（block）有两个子层：多头自注意力，和对每个位置做同一个两层 MLP 的基于位置的前馈网络（positionwise feed-forward network）。
#
# 右边的解码器层多一个子层：先是带掩蔽的自注意力（位置 $j$ 只看 $0, \ldots, j$，即因果（causal）掩码），
# 再是编码器–解码器注意力（键和值来自编码器的输出），最后是前馈网络。
#
# 底部的输入是 $\sqrt{d}\,\mathbf{e}_{x_t} + \mathbf{p}_t$：词元嵌入加位置编码（10.6 节）。下文层和头从 1 数，位置从 0 数。

# %% [markdown]
# ## 实现
#
# ### 基于位置的前馈网络
#
# $\operatorname{FFN}(\mathbf{x}) = \mathbf{W}_2 \max(0, \mathbf{W}_1 \mathbf{x} + \mathbf{b}_1) + \mathbf{b}_2$。
# 注意力的输出只是值向量的加权平均，对搬来的内容做非线性变换的是它。
# `nn.Linear` 只作用在最后一维，同一组参数自然用在每个位置上。

# %%
#@save
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


# %% [markdown]
# 把位置打乱，输出也只是跟着打乱：

# %%
torch.manual_seed(0)
ffn, X, perm = PositionWiseFFN(4, 8, 6), torch.randn(2, 3, 4), torch.tensor([2, 0, 1])
print(f"max |FFN(permuted X) - permuted FFN(X)|: {(ffn(X[:, perm]) - ffn(X)[:, perm]).abs().max():.5f}")

# %% [markdown]
# ### 残差连接和层规范化
#
# 图中每个 Add & Norm 把子层的输入 $\mathbf{X}$ 和输出 $\mathbf{Y}$ 合起来：
#
# $$\operatorname{AddNorm}(\mathbf{X}, \mathbf{Y}) = \operatorname{LayerNorm}\big(\mathbf{X} + \operatorname{Dropout}(\mathbf{Y})\big).$$
#
# 按标准的说法，残差连接（residual connection）让子层只需学对 $\mathbf{X}$ 的修正，也给梯度一条绕过子层的路（本节没有演示，10.8 节再看这条直路）。
# 本节按原论文把层规范化放在相加之后（10.8 节比较两种放法）。
#
# 层规范化（layer normalization）把一个位置的 $d$ 维特征减去均值、除以标准差，再逐维乘 $\boldsymbol{\gamma}$、加 $\boldsymbol{\beta}$。
# 为什么不用批量规范化（batch normalization）？它在整个批量上求均值和方差，一个词元的输出就取决于同批的填充，层规范化不会：

# %%
torch.manual_seed(0)
token = torch.randn(1, 1, 4)  # 一个词元，4 维特征
batch_a = torch.cat([token, torch.randn(1, 2, 4)], dim=1)  # 与 2 个别的位置同批
batch_b = torch.cat([token, torch.zeros(1, 6, 4)], dim=1)  # 与 6 个全零“填充”同批
ln, bn = nn.LayerNorm(4), nn.BatchNorm1d(4)
ln_diff = (ln(batch_a)[0, 0] - ln(batch_b)[0, 0]).abs().max().item()
bn_diff = (bn(batch_a.mT)[0, :, 0] - bn(batch_b.mT)[0, :, 0]).abs().max().item()  # .mT: (b, d, T)
print(f"same token, different batch -> layer norm changes by {ln_diff:.4f}, "
      f"batch norm changes by {bn_diff:.4f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert ln_diff < 1e-6 and bn_diff > 0.1

# %%
#@save
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


# %%
out = AddNorm([4], 0.5).eval()(torch.ones((2, 3, 4)), torch.arange(24.0).reshape(2, 3, 4))
print(f"shape {tuple(out.shape)}; per position: max |mean| {out.mean(-1).abs().max():.4f},",
      f"std from {out.std(-1, unbiased=False).min():.4f} to {out.std(-1, unbiased=False).max():.4f}")

# %% [markdown]
# ### 编码器
#
# 残差要把输出与 $\mathbf{X}$ 相加，所以书中接口的六个尺寸必须是同一个宽度 $d$：`one_width` 检查并取出 $d$，`tied_sizes(d)` 写好六个。

# %%
#@save
def one_width(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input):
    """The one width d that the residual connections allow the book's six sizes."""
    if {key_size, query_size, value_size, ffn_num_input, norm_shape[-1]} != {num_hiddens}:
        raise ValueError("set key_size, query_size, value_size, ffn_num_input and norm_shape"
                         f"[-1] to num_hiddens={num_hiddens}: the residuals add them up")
    return num_hiddens


#@save
def tied_sizes(d):
    """The six sizes tied to one width d, as keyword arguments."""
    return dict(key_size=d, query_size=d, value_size=d, num_hiddens=d, norm_shape=[d],
                ffn_num_input=d)


#@save
class EncoderBlock(nn.Module):
    """Transformer encoder layer (post-LN): self-attention and FFN, each wrapped in AddNorm.

    X: (batch_size, num_steps, num_hiddens); valid_lens: None or (batch_size,), the number of
    real (non-padding) tokens per sequence -> (batch_size, num_steps, num_hiddens).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        d = one_width(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input)
        self.attention = d2l.MultiHeadAttention(d, d, d, d, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(d, ffn_num_hiddens, d)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X, valid_lens):
        mixed = self.addnorm1(X, self.attention(X, X, X, valid_lens))  # across positions
        return self.addnorm2(mixed, self.ffn(mixed))  # within each position


# %% [markdown]
# 拷入同样的参数，与 PyTorch 的 `nn.TransformerEncoderLayer`（`norm_first=False`，后置层规范化）对照：

# %%
torch.manual_seed(0)
blk = EncoderBlock(**tied_sizes(16), ffn_num_hiddens=32, num_heads=4, dropout=0.0)
diff = testing.encoder_layer_difference(blk, torch.randn(3, 6, 16), torch.tensor([6, 4, 1]))
print(f"max |EncoderBlock - nn.TransformerEncoderLayer| at the valid positions: {diff:.5f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert diff < 1e-5
assert blk.attention.W_q.bias is None and blk.attention.W_o.bias is None  # zero biases map exactly

# %% [markdown]
# 整个编码器：嵌入加位置编码（`embed_with_positions`），再过 `num_layers` 个编码器层。

# %%
#@save
def embed_with_positions(embedding, pos_encoding, tokens, offset=0):
    """sqrt(d) * embedding(tokens) + P[offset : offset + num_steps], then pos_encoding's dropout.

    tokens: (batch_size, num_steps) indices -> (batch_size, num_steps, d)."""
    X = embedding(tokens) * math.sqrt(embedding.embedding_dim)
    P = pos_encoding.P[:, offset:offset + tokens.shape[1]]  # rows offset.. (max_len rows in all)
    return pos_encoding.dropout(X + P.to(X.dtype))


#@save
def named_blocks(blocks):
    """nn.Sequential of `blocks` named block0, block1, ... (the key layout of the book's models)."""
    stack = nn.Sequential()
    for i, blk in enumerate(blocks):
        stack.add_module(f"block{i}", blk)
    return stack


#@save
class TransformerEncoder(d2l.Encoder):
    """Transformer encoder: embedding + positional encoding, then num_layers EncoderBlocks.

    X: (batch_size, num_steps) token indices, valid_lens: (batch_size,)
    -> (batch_size, num_steps, num_hiddens). attention_weights: one tensor per layer."""

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, use_bias=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = d2l.PositionalEncoding(num_hiddens, dropout)
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


# %% [markdown]
# ### 解码器与因果掩码
#
# 解码器的状态是 `[编码器输出, 编码器有效长度, 各层的缓存]`，`state[2][i]` 存放 `blks[i]`（第 $i+1$ 层）见过的全部输入。
# 整句输入时（训练，或给译文打分）要加因果掩码；
# 逐词预测时，每层把新词元拼到缓存后面。有 $p$ 个缓存位置时，第 $j$ 个新查询的有效长度是 $p + j + 1$。
# 书中只在训练时（`self.training`）加掩码；这里只要一次输入多于一个词元就加。

# %%
#@save
def causal_valid_lens(batch_size, num_queries, num_past=0, device=None):
    """Valid lengths of a causal mask: query j (at position num_past + j) sees keys 0..num_past + j.

    Returns (batch_size, num_queries) lengths, or None when num_queries == 1 (sees the whole cache)."""
    if num_queries == 1:
        return None
    lens = torch.arange(num_past + 1, num_past + num_queries + 1, device=device)
    return lens.expand(batch_size, num_queries)


# %% [markdown]
# 画成矩阵，第 $j$ 行（查询）只有前 $j+1$ 列（键）可看，对角线以上全白：

# %%
lens = causal_valid_lens(1, 6)[0]  # query j may see lens[j] keys
print("valid lengths of 6 queries:", lens.tolist())
causal_mask = (torch.arange(6) < lens[:, None]).float()  # (queries, keys), 1 = may see
d2l.show_heatmaps(causal_mask.reshape(1, 1, 6, 6), xlabel="key position", ylabel="query position")
d2l.plt.show()

# %%
#@save
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
        self.attention1 = d2l.MultiHeadAttention(d, d, d, d, num_heads, dropout)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.attention2 = d2l.MultiHeadAttention(d, d, d, d, num_heads, dropout)
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


# %% [markdown]
# 解码器层与 PyTorch 的 `nn.TransformerDecoderLayer` 对照：

# %%
torch.manual_seed(0)
blk = DecoderBlock(**tied_sizes(16), ffn_num_hiddens=32, num_heads=4, dropout=0.0, i=0)
diff = testing.decoder_layer_difference(blk, torch.randn(2, 5, 16), torch.randn(2, 7, 16),
                                        torch.tensor([7, 3]))
print(f"max |DecoderBlock - nn.TransformerDecoderLayer|: {diff:.5f}")

# %% [markdown]
# 整个解码器。逐词预测时位置编码从缓存长度接着数，与训练时第 $t$ 个词元带位置 $t$ 的编码一致；
# 书中每步都加位置 0 的编码（代价在“翻译”一节量）。

# %%
#@save
class TransformerDecoder(d2l.AttentionDecoder):
    """Transformer decoder: embedding + positional encoding, num_layers DecoderBlocks, dense.

    X: (batch_size, num_steps) token indices -> (batch_size, num_steps, vocab_size) scores.
    attention_weights: [self-attention per layer, encoder-decoder per layer]."""

    def __init__(self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape,
                 ffn_num_input, ffn_num_hiddens, num_heads, num_layers, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens, self.num_layers = num_hiddens, num_layers
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = d2l.PositionalEncoding(num_hiddens, dropout)
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


# %% [markdown]
# ### 缓存就是掩码
#
# 逐词输入时，第 $t$ 步的查询只看得到缓存里的 $0, \ldots, t$；整句输入时，掩码让它也只看这些位置。两者应当相同：

# %%
torch.manual_seed(0)
decoder = TransformerDecoder(vocab_size=200, **tied_sizes(24), ffn_num_hiddens=48, num_heads=8,
                             num_layers=2, dropout=0.0).eval()
enc_out, enc_valid = torch.randn(2, 100, 24), torch.tensor([100, 40])  # an encoder's outputs
Y = torch.randint(0, 200, (2, 6))
whole, _ = decoder(Y, decoder.init_state(enc_out, enc_valid))  # 6 queries, causal mask
state = decoder.init_state(enc_out, enc_valid)
steps = [decoder(Y[:, t:t + 1], state)[0] for t in range(6)]  # 1 query per call, the cache grows
print(f"max |whole target with the mask - one token at a time with the cache|: "
      f"{(whole - torch.cat(steps, dim=1)).abs().max():.5f}")

# %% [markdown]
# 差为 0：整句输入一次就得到逐词解码每一步的那一行。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert [c.shape[1] for c in state[2]] == [6, 6]
assert torch.allclose(whole, torch.cat(steps, dim=1), atol=1e-5)
decoder(Y, decoder.init_state(enc_out, enc_valid))
assert max(w.triu(1).max().item() for w in decoder.attention_weights[0]) == 0.0
decoder.train()
train_whole, _ = decoder(Y, decoder.init_state(enc_out, enc_valid))
assert max(w.triu(1).max().item() for w in decoder.attention_weights[0]) == 0.0
assert torch.allclose(train_whole, whole, atol=1e-6)  # dropout 0: the same function
_ = decoder.eval()

# %% [markdown]
# ## 训练
#
# 超参数同书中，训练 250 轮：

# %%
#@save
def transformer_net(src_vocab, tgt_vocab, num_hiddens, num_layers, num_heads, ffn_num_hiddens,
                    dropout):
    """This section's translator, an EncoderDecoder of a TransformerEncoder and Decoder."""
    sizes = tied_sizes(num_hiddens)
    rest = dict(ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers,
                dropout=dropout)
    encoder = TransformerEncoder(vocab_size=len(src_vocab), **sizes, **rest)
    decoder = TransformerDecoder(vocab_size=len(tgt_vocab), **sizes, **rest)
    return d2l.EncoderDecoder(encoder, decoder)


# %%
torch.set_num_threads(1)  # tensors this small train fastest on one thread (10.4)
num_hiddens, num_layers, num_heads, ffn_num_hiddens, dropout = 32, 2, 4, 64, 0.1
batch_size, num_steps, lr, num_epochs = 64, 10, 0.005, 250
device = d2l.try_gpu()
torch.manual_seed(0)
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
net = transformer_net(src_vocab, tgt_vocab, num_hiddens, num_layers, num_heads, ffn_num_hiddens,
                      dropout)
result = d2l.train_seq2seq(net, train_iter, lr, num_epochs, tgt_vocab, device)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert result.loss < 0.1
config = d2l.TRANSFORMER_CONFIG  # what make bench and the tests train: the same model
assert (config.num_hiddens, config.num_layers, config.num_heads, config.ffn_num_hiddens,
        config.dropout) == (num_hiddens, num_layers, num_heads, ffn_num_hiddens, dropout)
assert (config.batch_size, config.num_steps, config.lr, config.num_epochs) == (
    batch_size, num_steps, lr, num_epochs)

# %% [markdown]
# 训练用强制教学（teacher forcing）：解码器的输入是目标右移一位、开头补 `<bos>`，位置 $t$ 的输出要预测目标的第 $t$ 个词元。
# 取一个批量的第一行看，再亲手算损失：掩码为 0 的填充位置不计。
# 库里的损失按书中的做法对每句除以 `num_steps`（10）：训练时打印的 0.029 乘 10，约是每个真实词元 0.29。
# 下面的 0.1993 是 eval 模式下（不开 dropout）一个批量的值。

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
X, X_valid_len, Y, Y_valid_len = (t.to(device) for t in next(iter(train_iter)))
dec_input = torch.cat([torch.full_like(Y[:, :1], tgt_vocab["<bos>"]), Y[:, :-1]], 1)  # shift right
for name, vocab, row in [("source", src_vocab, X[0]), ("decoder input", tgt_vocab, dec_input[0]),
                         ("target", tgt_vocab, Y[0])]:
    print(f"{name:13s}", " ".join(vocab.to_tokens(row.tolist())))
mask = torch.arange(num_steps, device=device) < Y_valid_len[:, None]  # (batch, steps)
print("valid lengths", X_valid_len[0].item(), Y_valid_len[0].item(), "mask", mask[0].int().tolist())
with torch.no_grad():
    Y_hat, _ = net.eval()(X, dec_input, X_valid_len)  # (batch, steps, vocab)
nll = -torch.log_softmax(Y_hat, dim=-1).gather(-1, Y[..., None]).squeeze(-1)  # (batch, steps)
by_hand = (nll * mask).sum() / mask.sum()  # mean over the real target tokens
library = d2l.MaskedSoftmaxCELoss()(Y_hat, Y, Y_valid_len).sum() * num_steps / mask.sum()
print(f"loss per target token: by hand {by_hand:.4f}, d2l.MaskedSoftmaxCELoss {library:.4f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert abs(by_hand - library) < 1e-5 and (~mask[0]).any() and Y[0, ~mask[0]].eq(tgt_vocab["<pad>"]).all()

# %% [markdown]
# ## 翻译
#
# 用 10.4 节的 `translate_and_score` 翻译同样的四个句子：

# %% tags=["nbval-ignore-output"]
engs, fras = list(d2l.TEST_ENGS), list(d2l.TEST_FRAS)
translations, bleus, _ = d2l.translate_and_score(net, engs, fras, src_vocab, tgt_vocab,
                                                 num_steps, device)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
# the three training sentences come out exactly right
assert [translations[i] for i in (0, 1, 3)] == ["va !", "j'ai perdu .", "je suis chez moi ."]
assert [bleus[i] for i in (0, 1, 3)] == [1.0, 1.0, 1.0]

# %% [markdown]
# `go .`、`i lost .`、`i'm home .` 连同译文都在训练数据里；`he's calm .` 不在，`he's lazy .`、`he's rich .` 等和 `i'm calm .` 在（对数据查过）。
#
# 照书中的做法（每步都加位置 0 的编码）解码同一个模型，在训练用的 600 个句子对和其后 500 个没见过的句子对上比较：

# %% tags=["nbval-ignore-output"]
position_cost = transformer.position_bug(net, src_vocab, tgt_vocab, num_steps)
for (pairs, scheme), r in position_cost.items():
    print(f"{pairs:8s} {scheme:16s}: {r['exact']:3d} of {r['pairs']} word for word, "
          f"corpus BLEU {r['bleu']:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert [r["pairs"] for r in position_cost.values()] == [600, 600, 500, 500]
if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):  # the stored run
    assert [r["exact"] for r in position_cost.values()] == [146, 146, 4, 4]
    assert all(abs(r["bleu"] - b) < 0.0006 for r, b in zip(position_cost.values(),
                                                           [0.664, 0.661, 0.329, 0.330]))

# %% [markdown]
# 几乎没有代价：训练句对上逐字译对的都是 146 个，BLEU 0.664 对 0.661；没见过的句子上 0.329 对 0.330。
# 这只说明换成书中的位置编号，这个模型的贪心解码几乎不变。
# 146 of 600 要对着上限读：600 个句对里英文只有 331 种，其中 165 种有不止一种法文译法；每句只给一个译文，
# 而参考译文里有词表外的词（模型只能写 `<unk>`）就不可能逐字对上，所以最多逐字对上 178 对（对数据数过），146 是它的 82%。
#
# ## 一句话走一遍
#
# 用训练好的模型自己的模块，把 `i'm home .` 和解码器的 6 个输入走完全程，每步打印形状：

# %% tags=["nbval-ignore-output"]
src = torch.tensor([src_vocab["i'm home . <eos>".split()]], device=device)  # (b = 1, 4 tokens)
tgt = torch.tensor([tgt_vocab["<bos> je suis chez moi .".split()]], device=device)  # (1, 6)
enc, dec, shape = net.encoder.eval(), net.decoder.eval(), lambda t: tuple(t.shape)
with torch.no_grad():
    X = embed_with_positions(enc.embedding, enc.pos_encoding, src)
    token_norm = (enc.embedding(src) * math.sqrt(num_hiddens)).norm(dim=-1).mean()
    print("source", shape(src), "-> sqrt(d) * embedding + P:", shape(X), f"norm of the token "
          f"part {token_norm:.1f}, of P {enc.pos_encoding.P[0, :4].norm(dim=-1).mean():.1f}")
    for i, blk in enumerate(enc.blks):
        X = blk(X, None)  # one sentence: no padding to mask
        print(f"encoder layer {i + 1}:", shape(X), "self-attention weights (heads, queries, keys)",
              shape(blk.attention.attention.attention_weights))
    Y, state = embed_with_positions(dec.embedding, dec.pos_encoding, tgt), dec.init_state(X, None)
    dec_inputs = []  # each decoder layer's input, (1, 6, d)
    for i, blk in enumerate(dec.blks):
        dec_inputs.append(Y)
        Y, state = blk(Y, state)
        w = [shape(a.attention.attention_weights) for a in (blk.attention1, blk.attention2)]
        print(f"decoder layer {i + 1}:", shape(Y), "masked self-attention", w[0], "encoder-decoder", w[1])
    logits = dec.dense(Y)
print("logits", shape(logits), "-> largest at each position:",
      " ".join(tgt_vocab.to_tokens(logits[0].argmax(-1).tolist())))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
with torch.no_grad():  # the walk-through is the model's own forward pass
    walk_gap = (net(src, tgt, torch.tensor([4], device=device))[0] - logits).abs().max()
assert walk_gap < 1e-5 and shape(logits) == (1, 6, len(tgt_vocab))
assert tgt_vocab.to_tokens(logits[0].argmax(-1).tolist()) == fras[3].split() + ["<eos>"]
assert abs(enc.pos_encoding.P[0, :4].norm(dim=-1).mean() - 4.0) < 1e-4 and token_norm > 20
if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):  # the stored run
    assert abs(token_norm - 28.6) < 0.06

# %% [markdown]
# 解码器每层一次调用就算完 6 个位置，GRU 则要一步等一步；这在并行硬件上能省多少时间，本节没有演示。
# 全连接层给出每个位置对 200 个词的分数（logits），最大的正是下一个参考词元。
#
# 为什么乘 $\sqrt{d}$，原论文没有说明（常见的猜测与嵌入和输出层共享权重有关，这里没有验证）。
# 本节的嵌入按 $\mathcal{N}(0,1)$ 初始化，这个因子改变的是词元部分与位置部分之比：范数 28.6 对 4.0，不乘只有 $28.6/\sqrt{32} \approx 5.1$（练习 9 去掉它训练）。
#
# ## 拆开注意力
#
# 走这一遍时，每个注意力模块都留下了它算出的权重，形状是（头，查询，键）。按层叠起来，连同每个位置给下一个参考词元的对数概率，放进一个 `Attention`：

# %%
log_probs = torch.log_softmax(logits[0], dim=-1).cpu()  # (6 positions, vocabulary)
att = transformer.Attention(
    encoder=torch.stack(enc.attention_weights).cpu(),  # (layers, heads, 4 queries, 4 keys)
    decoder=torch.stack(dec.attention_weights[0]).cpu(),  # masked self-attention
    cross=torch.stack(dec.attention_weights[1]).cpu(),  # queries: target; keys: source
    source="i'm home . <eos>".split(), target="<bos> je suis chez moi .".split(),
    log_probs=log_probs[torch.arange(6), tgt_vocab["je suis chez moi . <eos>".split()]],
    predicted=tgt_vocab.to_tokens(logits[0].argmax(-1).tolist()))
for name in ("encoder", "decoder", "cross"):
    print(f"att.{name:7s} (layers, heads, queries, keys) = {tuple(getattr(att, name).shape)}")

# %% [markdown]
# 整句输入参考译文时，第 $t$ 行就是贪心解码第 $t$ 步算出的那一行（缓存就是掩码，译文又相同）。
# `transformer.teacher_forced(net, 源句, 译文, ...)` 把上面几行包成一个函数，下面用它换句子。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
tf_att = transformer.teacher_forced(net, engs[-1], fras[-1], src_vocab, tgt_vocab, num_steps)
for name in ("encoder", "decoder", "cross", "log_probs"):
    assert (getattr(att, name) - getattr(tf_att, name)).abs().max() < 1e-5, name
assert (att.source, att.target, att.predicted) == (tf_att.source, tf_att.target, tf_att.predicted)
greedy, gap = transformer.greedy_rows_match(net, engs[-1], src_vocab, tgt_vocab, num_steps)
assert greedy == fras[-1] and gap < 1e-5  # teacher-forced rows = greedy decoding's rows
# the encoder's full weights, padding included, are still in the model:
assert torch.stack(net.encoder.attention_weights)[..., len(att.source):].max() == 0
# Which head does what is quoted for the stored run; the AVX2/AVX512 kernels train that model,
# the default kernel trains another one (the alignment counts below hold for both).
stored_run = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")

# %% [markdown]
# ### 编码器自注意力
#
# 每行一层、每列一个头，共用一个颜色刻度：

# %% tags=["nbval-ignore-output"]
transformer.show_attention(att, "encoder")
enc_peak = att.encoder.amax(-1)  # each row's largest weight: (layers, heads, queries)
for i in range(2):
    print(f"layer {i + 1}: each row's largest weight, mean {enc_peak[i].mean():.2f}, "
          f"smallest {enc_peak[i].min():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert enc_peak[0].mean() > 0.9 and enc_peak[1].mean() < enc_peak[0].mean() - 0.1
if stored_run:  # layer 1: the "." and <eos> rows read one content word, the same in each head
    punct = att.encoder[0, :, 2:].argmax(-1)  # (heads, 2)
    assert (punct[:, 0] == punct[:, 1]).all() and (punct < 2).all()
    assert punct[:, 0].tolist() == [1, 0, 0, 1]  # home, i'm, i'm, home
    assert (att.encoder[0, 1].argmax(-1) == att.encoder[0, 2].argmax(-1)).sum() == 3
    punct2 = att.encoder[1, :, 2:].argmax(-1)  # layer 2 continues it: home, i'm, home, i'm
    assert punct2[:, 0].tolist() == [1, 0, 1, 0] and (punct2[:, 0] == punct2[:, 1]).all()
    assert att.encoder[1, :, :2].amax(-1).mean() < att.encoder[1, :, 2:].amax(-1).mean() - 0.2
    assert abs(enc_peak[1].min() - 0.39) < 0.006 and abs(enc_peak[1, 3, 1] - 0.39) < 0.006
    assert abs(enc_peak[1].max() - 0.99) < 0.006 and abs(enc_peak[1, 0, 2] - 0.40) < 0.006

# %% [markdown]
# 第 1 层每行几乎只看一个词元（最大权重平均 0.99），第 2 层更分散（平均 0.75，最小 0.39）。
# 标点两行读的是实词：这次运行里，`.` 和 `<eos>` 在第 1 层的 4 个头里都只看一个实词，头 1、4 看 `home`，头 2、3 看 `i'm`；
# 第 2 层这两行的最大项是头 1、3 在 `home`、头 2、4 在 `i'm`，可权重更分散（头 1 的 `.` 行最大项只有 0.40）。
#
# ### 解码器自注意力

# %% tags=["nbval-ignore-output"]
transformer.show_attention(att, "decoder")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert att.decoder.triu(1).max() == 0
prev = att.decoder[1, 2].diagonal(-1)  # layer 2 head 3: query t on key t - 1
assert not stored_run or prev[1:4].min() > 0.9  # suis->je, chez->suis, moi->chez
if stored_run:  # but not je (itself and <bos>) nor . (<bos> and suis)
    l2h3 = att.decoder[1, 2]
    assert l2h3[1, :2].sum() > 0.95 and l2h3[1, 1] > 0.5
    assert l2h3[5, [0, 2]].sum() > 0.9 and l2h3[5].max() < 0.6

# %% [markdown]
# 每张图对角线以上都恰好为 0，这就是因果掩码。这次运行里第 2 层第 3 头的中间三行看**前一个**词元（`suis` 看 `je`，`chez` 看 `suis`，`moi` 看 `chez`）。
# 第 1 层 4 个头各除去 `<bos>` 自己那一行（掩码只给它看自己，必然是 1），余下 20 行里有 9 行几乎全压在 `<bos>` 上（颜色接近 1）；第 1 层 `<bos>` 位置的输入对每个句子都一样，这些行从这个头拿到的近乎常量。
#
# ### 一个查询的一步
#
# 亲手算这个头里查询 `suis`（位置 2）的一行，从走一遍时记下的第 2 层输入开始：
# 分数 $\mathbf{q}^\top\mathbf{k}_j/\sqrt{8}$，位置 3 以后换成 $-\infty$，softmax，对值加权求和：

# %% tags=["nbval-ignore-output"]
X = dec_inputs[1][0]  # layer 2's input from the walk-through: (6 positions, d)
mha, t, head = dec.blks[1].attention1, 2, slice(16, 24)  # layer 2, query suis, head 3
with torch.no_grad():  # this head's 8 dimensions
    q, K, V = mha.W_q(X)[t, head], mha.W_k(X)[:, head], mha.W_v(X)[:, head]
scores = K @ q / math.sqrt(8)  # one score per position
masked = scores.masked_fill(torch.arange(len(scores)) > t, float("-inf"))
weights = torch.softmax(masked, dim=0)
for key, s, m, w in zip(att.target, scores, masked, weights):
    print(f"key {key:6s} score {s:6.2f}  after the mask {m:6.2f}  weight {w:.2f}")
print(f"max |by hand - the model's row|: {(weights - att.decoder[1, 2, t]).abs().max():.5f}")
head_out = weights @ V  # what this head passes on for suis
print(f"|head output - value of je| / |value of je|: {(head_out - V[1]).norm() / V[1].norm():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
step = transformer.decoder_step(net, engs[-1], fras[-1], src_vocab, tgt_vocab, num_steps, t=2,
                                layer=1, head=2)
assert torch.allclose(step["weights"], weights, atol=1e-6)
assert (weights - att.decoder[1, 2, t]).abs().max() < 1e-5
assert masked[3:].eq(float("-inf")).all()
if stored_run:
    assert scores.argmax() == 3 and weights[1] > 0.9  # the masked chez scores highest; je wins
    assert (head_out - V[1]).norm() / V[1].norm() < 0.2

# %% [markdown]
# 这个头把 0.97 给了 `je`，输出离 `je` 的值向量只差 4%。
# 被遮住的 `chez` 分数最高（6.85），但那里的权重恒为 0，这个分数得不到梯度。
#
# 逐词生成的第 2 步，缓存里的 `<bos>`、`je` 加上新来的 `suis`，正是没被遮住的三个键。
# 缓存存的是每层的**输入**，不是键和值：每步都用 $\mathbf{W}_k$、$\mathbf{W}_v$ 把它们重新投影一遍。
# 探索器停在第 2 步的第 2 层第 3 头，每行是某一步的新查询，最后一行正是 0.02、0.97、0.00。
# 拖动 `decoding step t`：6×6 的格子不动，每步填上一行，已填的行不再变；第 5 步就是上面解码器图里第 2 层第 3 头的下三角。

# %% tags=["nbval-ignore-output"]
transformer.cache_explorer(net, engs[-1], src_vocab, tgt_vocab, num_steps, default_step=2,
                           default_layer=2, default_head=3)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_, cache_gap = transformer.greedy_rows_match(net, engs[-1], src_vocab, tgt_vocab, num_steps)
assert cache_gap < 1e-5  # the explorer's rows = the teacher-forced rows
cache_rows, cache_text = transformer.cache_states(net, engs[-1], src_vocab, tgt_vocab, num_steps)
num_decoded = 1 + max(r["step"] for r in cache_rows)
assert num_decoded == len(att.target)  # <bos> + 5 tokens: the last step emits <eos>
for r in cache_rows:  # every filled cell of every step is the teacher-forced (= masked) row
    q, k = int(r["query"].split()[0]), r["col"]
    assert (r["weight"] is None) == (q > r["step"] or k > q)  # blank: not computed yet
    if r["weight"] is not None:
        assert abs(r["weight"] - att.decoder[r["layer"] - 1, r["head"] - 1, q, k].item()) < 0.006
assert len(cache_rows) == num_layers * num_heads * num_decoded ** 3  # a fixed 6 x 6 frame
assert [r["text"].split("emits: ")[1] for r in cache_text] == translations[-1].split() + ["<eos>"]
step2 = {r["col"]: r["weight"] for r in cache_rows if r["step"] == 2 and r["layer"] == 2
         and r["head"] == 3 and r["query"] == "2 suis"}
assert all(abs(step2[c] - weights[c].item()) < 0.006 for c in range(3))

# %% [markdown]
# ### 不加掩码会怎样：书中的 eval 模式
#
# 书中的解码器在 `eval()` 模式下不加掩码。逐词预测时没有后文可看，不受影响；
# 整句打分（或画注意力图）时就不同了。勾选复选框换成书中的做法：
# 第 2 层第 3 头对角线以上出现了权重，`2 suis` 把 1.00 给了后面的 `3 chez`。

# %% tags=["nbval-ignore-output"]
transformer.eval_mask_explorer(net, engs[-1], fras[-1], src_vocab, tgt_vocab, num_steps,
                               default_layer=2, default_head=3)

# %% tags=["nbval-ignore-output"]
for book_mask in (False, True):
    s = transformer.teacher_forced(net, engs[3], fras[3], src_vocab, tgt_vocab, num_steps, book_mask)
    print(f"{'book (no mask)' if book_mask else 'causal mask':14s}: log-probability of the reference "
          f"{s.log_probs.sum():6.2f}; predicted next tokens: {' '.join(s.predicted)}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
causal_pass = transformer.teacher_forced(net, engs[-1], fras[-1], src_vocab, tgt_vocab, num_steps)
book_pass = transformer.teacher_forced(net, engs[-1], fras[-1], src_vocab, tgt_vocab, num_steps,
                                       book_mask=True)
assert causal_pass.predicted == fras[-1].split() + ["<eos>"] != book_pass.predicted
assert book_pass.log_probs.sum() < causal_pass.log_probs.sum() - 1
assert book_pass.decoder.triu(1).max() > 0.5
assert not stored_run or book_pass.decoder[1, 2, 2, 3] > 0.95  # suis -> chez

# %% [markdown]
# 看得到答案，模型反而更差：它带着掩码训练，没学过用这些位置。位置 0 的预测从 `je` 变成句号，
# 参考译文的对数概率从 $-0.08$ 降到 $-1.94$，而且不报错。
#
# ### 编码器–解码器注意力
#
# 8 个（层，头）的平均，右边是没见过的 `he's calm .`；纵轴是“输入 -> 这一行输出的词”：

# %% tags=["nbval-ignore-output"]
calm = transformer.teacher_forced(net, engs[2], fras[2], src_vocab, tgt_vocab, num_steps)
home_mean, calm_mean = transformer.show_alignment(
    [att, calm], ["i'm home . -> je suis chez moi .", "he's calm . (unseen) -> il est calme ."])
print("row 3 chez -> moi, mean weight on", ", ".join(
    f"{key} {w:.2f}" for key, w in zip(att.source, home_mean[3].tolist())))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
def heads_reading(kind_att, query, key):
    """How many of the 8 heads give `key` the most weight in the row of input `query`."""
    row = kind_att.cross[:, :, kind_att.target.index(query)]  # (layers, heads, source)
    return int((row.argmax(-1) == kind_att.source.index(key)).sum())


assert torch.stack(net.decoder.attention_weights[1])[..., len(att.source):].max() == 0
assert heads_reading(att, "je", "i'm") >= 4 and heads_reading(att, "suis", "home") >= 5
assert heads_reading(calm, "est", "calm") >= 4
if stored_run:
    assert home_mean[1].argmax() == 0 and home_mean[2].argmax() == 1
    assert home_mean[3].argmax() == 0 and home_mean[5].argmax() == 0  # chez -> moi, . -> <eos>
    assert home_mean[5].max() < 0.3  # the <eos> row is nearly uniform
    assert calm_mean[2].argmax() == 1
    assert calm.cross[1, 2, calm.target.index("est"), calm.source.index("calm")] > 0.95

# %% [markdown]
# 读图（这次运行）：输出 `suis` 的一行读 `i'm`（0.61），输出 `chez` 的读 `home`（0.83），没见过的句子里输出 `calme` 的读 `calm`（0.62）；
# 输出 `moi` 的一行给 `i'm` 0.38、`home` 0.33，分不出偏向哪个。
#
# 输出靠哪个源词，要改动输入才知道：解码器输入固定为 `<bos> je suis chez moi .`，只换源句里的一个词，看 `suis` 和 `moi` 的对数概率：

# %% tags=["nbval-ignore-output"]
swap_sources = ["i'm home .", "he's home .", "i'm calm ."]  # one source word changed
for source in swap_sources:
    s = transformer.teacher_forced(net, source, fras[3], src_vocab, tgt_vocab, num_steps)
    greedy, _ = d2l.predict_seq2seq(net, source, src_vocab, tgt_vocab, num_steps, device)
    print(f"{source:11s} log p(suis | je) {s.log_probs[1]:6.2f}, log p(moi | je suis chez) "
          f"{s.log_probs[3]:6.2f}, predicted there: {s.predicted[3]:6s} greedy: {greedy}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
swaps = [transformer.teacher_forced(net, source, fras[3], src_vocab, tgt_vocab, num_steps)
         for source in swap_sources]
probe = transformer.swap_probe(net, src_vocab, tgt_vocab, num_steps)  # what the sweep records
assert tuple(swap_sources) == transformer.SWAP_SOURCES and all(
    abs(row["log p(suis)"] - sw.log_probs[1]) < 1e-3 and abs(row["log p(moi)"] - sw.log_probs[3]) < 1e-3
    and row["predicted at moi"] == sw.predicted[3] for row, sw in zip(probe.values(), swaps))
_, swap_sweep = transformer.read_results("sweep-swap")  # seeds 0-4 under two CPU kernels
swept = [run["swap"] for run in swap_sweep["runs"]]
assert len(swept) == 10 and all(
    r["i'm home ."]["log p(suis)"] > -0.01 and r["i'm home ."]["log p(moi)"] > -0.1 for r in swept)
suis_drop = sorted(r["he's home ."]["log p(suis)"] for r in swept)  # i'm -> he's
moi_drop = sorted(r["i'm calm ."]["log p(moi)"] for r in swept)  # home -> calm
assert sum(v < -1 for v in suis_drop) == 5 and -0.5 < suis_drop[5] and suis_drop[4] < -1.7
assert (round(suis_drop[4], 1), round(suis_drop[0], 1)) == (-1.8, -7.0)  # quoted below
assert sum(v < -1 for v in moi_drop) == 5 and -0.2 < moi_drop[5]
if stored_run:
    assert [sw.predicted[3] for sw in swaps] == ["moi"] * 3
    assert all(abs(sw.log_probs[1] - v) < 0.006 for sw, v in zip(swaps, [0.0, -2.61, 0.0]))
    assert all(abs(sw.log_probs[3] - v) < 0.006 for sw, v in zip(swaps, [-0.01, -0.09, -0.16]))
    assert abs(home_mean[3, 0] - 0.38) < 0.006 and abs(home_mean[3, 1] - 0.33) < 0.006

# %% [markdown]
# 把 `i'm` 换成 `he's`，`je` 之后的 `suis` 从 $-0.00$ 降到 $-2.61$，与这一行的权重（`i'm` 0.61）相符（换词经自注意力也改了其余的键，所以只是相符）。
# `moi` 却几乎不动：换掉 `i'm`（$-0.09$）或 `home`（$-0.16$），模型在 `chez` 之后都仍预测 `moi`。
# `je suis chez` 在 600 个训练句对里只出现一次，就在这一句里，后面是 `moi`（对数据查过）：这个模型背下了目标前缀，`moi` 不看源句也猜得到，
# 所以 0.38 对 0.33 的权重不说明它靠哪个源词。
#
# 这是这一个模型的性质。换种子 0–4、两种 CPU 内核重训 10 次（`results/sweep-swap.json`），原句上 `suis`、`moi` 每次都几乎确定。
# 把 `i'm` 换成 `he's`，`suis` 降过 1 的有 5 次（$-1.8$ 到 $-7.0$），另 5 次降不到 0.5：训练数据里 `je` 后面 107 次有 67 次是 `suis`（对数据查过），目标前缀本身就偏向它。
# 把 `home` 换成 `calm`，`moi` 降过 1 的也有 5 次，另 5 次几乎不动。输出靠哪个源词，换一次训练就可能变；要知道，就得像这样改动输入去查。
#
# 探索器里多了没见过的 `he's home .`，喂的是模型的贪心译文 `il est paresseux .`（训练句对里 `he's lazy .` 的译文，对数据查过）。

# %% tags=["nbval-ignore-output"]
transformer.attention_explorer(net, [engs[3], "he's home .", engs[2]], [fras[3], None, fras[2]],
                               src_vocab, tgt_vocab, num_steps, default_sentence="he's home .",
                               default_layer=1, default_head=2, kinds=("cross",))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
if stored_run:
    hes_greedy, _ = d2l.predict_seq2seq(net, "he's home .", src_vocab, tgt_vocab, num_steps, device)
    assert hes_greedy == "il est paresseux ."
    hes = transformer.teacher_forced(net, "he's home .", hes_greedy, src_vocab, tgt_vocab, num_steps)
    assert abs(hes.cross[0, 1, 2, 1] - 0.67) < 0.006 and abs(hes.cross[1, 2, 2, 1] - 0.98) < 0.006

# %% [markdown]
# 它停在第 1 层第 2 头：输出 `paresseux` 的一行（`2 est`）把 0.67 给了 `home`，第 2 层第 3 头是 0.98。
# 权重落在 `home` 上，输出却不是它的翻译。切换句子和头，找权重与输出对不上的行。

# %% [markdown]
# ## 在没见过的句子上
#
# 在 fra-eng 的前 5000 个句子对上训练 30 轮，翻译其后 500 个没见过的句子（32 维，各 3 个种子）：

# %%
_, heldout = transformer.read_results("heldout")
transformer.show_heldout(heldout)
for name, row in heldout["summary"].items():
    print(f"{name:11s} {row['parameters']:6d} parameters, held-out BLEU {row['held-out BLEU']:.3f} "
          f"({row['min']:.3f}-{row['max']:.3f}), {row['seconds per run']} s per run")

# %% [markdown]
# Transformer 的 BLEU 是 0.453<!-- result: heldout | summary.transformer.held-out BLEU | .3f -->，
# 比 Bahdanau 模型的 0.398<!-- result: heldout | summary.bahdanau.held-out BLEU | .3f --> 和 seq2seq 的 0.381<!-- result: heldout | summary.seq2seq.held-out BLEU | .3f -->
# 高出一截，三个种子的范围互不重叠，参数只多 8%–10%。在单线程 CPU 上它反而最慢（每次 49 s，对 42 s 和 27 s）；原论文所说的并行加速这里没有演示。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# eval 模式下的掩码和预测时的位置编码在正文里；其余的差别：
#
# * 书中的演示写 `AddNorm([3, 4], 0.5)` 和 `norm_shape=[100, 24]`，把一句里所有位置的特征放在一起规范化；
#   这里写 `[4]` 和 `[24]`：层规范化应当只对每个位置自己的特征做（书中训练时用的也是 `[32]`）。
# * 书中的 `masked_softmax` 把屏蔽的分数置为 $-10^6$；这里置为 $-\infty$，屏蔽的权重恰好为 0（10.3 节）。
# * 书中训练 200 轮，这里 250 轮：200 轮时并非每个种子都把三个训练句子逐字译对（[附录](appendix-reproducibility.html)有两张表）。
#   同样的设置也写在库里的 `d2l.TRANSFORMER_CONFIG` 中，`make bench` 和测试按它训练。
# * `d2l.train_seq2seq` 看到 `TransformerEncoder.ignores_padding = True`，会把整批都是填充的源序列列截掉；
#   真实位置上的输出不变（练习 7）。
# * `embed_with_positions` 和 `named_blocks` 是编码器和解码器共用的小函数；参数的名字和布局（`blks.block0...`）与书中相同。
# * 标明“这次运行”的读图针对存储的这次训练（AVX2/AVX512 内核上重跑得到的就是它）；换种子或内核会训练出另一个模型，
#   哪个头做什么不一定重现。
# * 原论文的训练配方还有三样本节没用：嵌入与输出层共享权重（weight tying）；学习率预热（warm-up），本节 2 层后置层规范化的模型不预热也训练得好（损失 0.029），10.8 节只在 6 层、学习率 0.01 时看到不预热训练不动；
#   标签平滑（label smoothing，$\epsilon = 0.1$），原论文说它使困惑度变差、BLEU 变好。
#
# </details>
#
# 今天的改动（前置层规范化、只有解码器、键值缓存、旋转位置编码）见 10.8 节。

# %% [markdown]
# ## 小结
#
# * 编码器和解码器都是相同的层的堆叠：多头注意力和逐位置的前馈网络，各包在残差连接和层规范化里。
# * 一个查询的一步：分数 $\mathbf{q}^\top\mathbf{k}_j/\sqrt{d/h}$（每个头 $d/h = 8$ 维），掩码把后面的位置换成 $-\infty$，softmax，对值加权求和。
# * 缓存就是掩码：整句带掩码与逐词带缓存的结果相同。书中 eval 模式下不加掩码，整句打分看到了后文；书中预测时位置从 0 数，这次几乎没有代价。
# * 权重说明一行从哪里取信息，不说明输出靠哪个源词：这次运行换掉 `i'm`，`suis` 的对数概率降 2.61，`moi` 几乎不动；换种子重训，依赖哪个词也会变。
# * 没见过的句子上 BLEU 0.453，高于 Bahdanau 模型的 0.398。
#
# ## 练习
#
# ### 练习 1
#
# 把 Transformer 加深：用 `transformer_net` 分别构造 2 层和 4 层的模型（其余超参数同上，`torch.manual_seed(0)` 之后构造），
# 在同样的数据上各训练 30 轮。把结果存进字典
# `ex1_results[num_layers] = {"params": 参数个数, "seconds": 训练秒数, "loss": 最后一轮的损失,
# "bleu": 本节四个测试句子的平均 BLEU}`（用 `d2l.translate_and_score(..., verbose=False)`），并打印译文。
# 加深对训练速度和翻译效果各有什么影响？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
def ex1_train(ex1_net, num_epochs=30):
    """Train, translate the four test sentences; the measurements of exercises 1, 2 and 9."""
    trained = d2l.train_seq2seq(ex1_net, train_iter, lr, num_epochs, tgt_vocab, device)
    ex1_translations, ex1_bleus, _ = d2l.translate_and_score(
        ex1_net, engs, fras, src_vocab, tgt_vocab, num_steps, device, verbose=False)
    print(ex1_translations)
    return {"params": sum(p.numel() for p in ex1_net.parameters()), "seconds": trained.seconds,
            "loss": trained.loss, "bleu": sum(ex1_bleus) / len(ex1_bleus)}


ex1_results, ex1_nets = {}, {}
for ex1_layers in (2, 4):
    torch.manual_seed(0)
    ex1_nets[ex1_layers] = transformer_net(src_vocab, tgt_vocab, num_hiddens, ex1_layers,
                                           num_heads, ffn_num_hiddens, dropout)
    ex1_results[ex1_layers] = ex1_train(ex1_nets[ex1_layers])
for ex1_layers, r in ex1_results.items():
    print(f"{ex1_layers} layers: {r['params']} parameters, {r['seconds']:.1f} s, "
          f"loss {r['loss']:.3f}, mean BLEU {r['bleu']:.3f}")
ex1_seed_bleus = [ex1_results[2]["bleu"]]  # how much does one run fluctuate? seed 1
for ex1_seed in (1,):
    torch.manual_seed(ex1_seed)
    ex1_seed_bleus.append(ex1_train(transformer_net(
        src_vocab, tgt_vocab, num_hiddens, 2, num_heads, ffn_num_hiddens, dropout))["bleu"])
print("2 layers, seeds 0, 1: mean BLEU", [round(b, 3) for b in ex1_seed_bleus])
from torch.utils.flop_counter import FlopCounterMode  # speed: count the work of one batch

ex1_X, ex1_X_valid, ex1_Y, _ = next(iter(train_iter))
ex1_flops = {}
for ex1_layers, ex1_net in ex1_nets.items():
    with FlopCounterMode(display=False) as ex1_counter, torch.no_grad():
        ex1_net.eval()(ex1_X.to(device), ex1_Y.to(device), ex1_X_valid.to(device))
    ex1_flops[ex1_layers] = ex1_counter.get_total_flops()
print("forward FLOPs of one batch:", ex1_flops,
      f"-> 4 layers / 2 layers = {ex1_flops[4] / ex1_flops[2]:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
assert set(ex1_results) == {2, 4}, "ex1_results needs the keys 2 and 4"
print({k: {name: round(v, 3) for name, v in r.items()} for k, r in ex1_results.items()})
assert all(set(r) == {"params", "seconds", "loss", "bleu"} for r in ex1_results.values())
ex1_block_params = ex1_results[4]["params"] - ex1_results[2]["params"]
assert ex1_block_params == 2 * (8416 + 12576), f"2 more blocks in encoder and decoder: {ex1_block_params}"
assert all(0 < r["loss"] < 1 and r["seconds"] > 0 for r in ex1_results.values())
assert all(0 <= r["bleu"] <= 1 for r in ex1_results.values()), "BLEU lies in [0, 1]"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：每多一层，编码器多 8416 个参数，解码器多 12576 个（多一个注意力子层）；2 层到 4 层共多 41984 个。
# 速度看计算量：一批的前向浮点运算 4 层是 2 层的 1.88 倍（不到 2 倍，因为输出层的运算量不随层数变），
# 训练时间也随之增加（秒数见上；它随机器负载波动，只能粗看）。
# 翻译：30 轮后 2 层模型的损失 0.103，4 层 0.163：同样的轮数下 4 层学得更慢。四个句子的平均 BLEU 分不开它们：
# 每句只有少数几种可能的得分，2 层模型换一个种子就从 0.293 变成 0.128（`seeds 0, 1` 一行），比 4 层的 0.193 还低。
# 要比较译得好坏，得像 `results/heldout.json` 那样在 500 个没见过的句子上、多个种子地比。
# 深的后置层规范化堆叠为什么难训练，10.8 节讲原因（那里没有测梯度）。

# %% [markdown]
# ### 练习 2
#
# 在 Transformer 里用加性注意力（10.3 节）代替缩放点积注意力，是个好主意吗？试一试：
# 把 `transformer_net` 构造的 2 层模型里每个 `d2l.MultiHeadAttention` 的打分模块 `attention`
# 换成 `d2l.AdditiveAttention`（每个头的查询和键都是 $d/h = 8$ 维），照练习 1 训练 30 轮，
# 结果存进 `ex2_results`（与练习 1 相同的四个键），与练习 1 的 2 层模型比较。再从计算方式上说明原因。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
torch.manual_seed(0)
ex2_net = transformer_net(src_vocab, tgt_vocab, num_hiddens, 2, num_heads, ffn_num_hiddens, dropout)
for ex2_mha in [m for m in ex2_net.modules() if isinstance(m, d2l.MultiHeadAttention)]:
    ex2_mha.attention = d2l.AdditiveAttention(8, 8, 8, dropout)  # one scorer shared by the heads
ex2_results = ex1_train(ex2_net)
for name, r in (("dot product", ex1_results[2]), ("additive", ex2_results)):
    print(f"{name:11s}: {r['params']} parameters, {r['seconds']:.1f} s, loss {r['loss']:.3f}, "
          f"mean BLEU {r['bleu']:.3f}")
import time  # speed: one scorer, 4 heads of 8 dimensions, a short and a long sequence

for ex2_T in (10, 512):
    ex2_q = torch.randn(4, ex2_T, 8)
    for name, scorer in (("dot product", d2l.DotProductAttention(0.0)),
                         ("additive", d2l.AdditiveAttention(8, 8, 8, 0.0))):
        with torch.no_grad():
            scorer.eval()(ex2_q, ex2_q, ex2_q, None)  # warm-up
            start = time.perf_counter()
            for _ in range(3):
                scorer(ex2_q, ex2_q, ex2_q, None)
        print(f"T = {ex2_T:3d}, {name:11s}: {(time.perf_counter() - start) / 3 * 1e3:7.2f} ms per call")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
assert set(ex2_results) == {"params", "seconds", "loss", "bleu"}, "the four keys of exercise 1"
print({name: round(v, 3) for name, v in ex2_results.items()})
assert 0 < ex2_results["loss"] < 1 and 0 <= ex2_results["bleu"] <= 1

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex2_results["params"] - 60872 == 6 * (8 * 8 + 8 * 8 + 8), "W_q, W_k, w_v in 6 attentions"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：能训练，但一般不值得。加性注意力多了 816 个参数（6 个注意力各有 $\mathbf{W}_q, \mathbf{W}_k \in \mathbb{R}^{8\times 8}$ 和 $\mathbf{w}_v \in \mathbb{R}^{8}$），
# 存下的数字里加性注意力的损失更低（0.079 对 0.103）；两次训练的秒数不是同时测的，说明不了快慢。
# 两者平均 BLEU 都是 0.293，但这不说明译得一样好：四个句子的 BLEU 只能取少数几个值，点积模型只换种子就在 0.128 到 0.293 之间；
# 真正的比较要在 500 个没见过的句子上、多个种子（`results/heldout.json` 的做法）。
# （Vaswani 等人报告 $d_k$ 小时两者相近。）不值得的理由在计算方式上：
# 点积的分数 $\mathbf{Q}\mathbf{K}^\top$ 是一次矩阵乘法，能用高度优化的 GEMM 和融合算子；加性注意力要为每一对查询–键算
# $\mathbf{w}_v^\top\tanh(\mathbf{W}_q\mathbf{q} + \mathbf{W}_k\mathbf{k})$，中间张量 $(b, n_q, n_k, u)$ 比分数矩阵大 $u$ 倍。
# 它的长处（查询和键维度不同）在 Transformer 里用不上，点积随维度增大的饱和问题又已由 $1/\sqrt{d}$ 解决。
# 最后几行直接计时（数字随机器和负载变）：$T = 10$（本节的句子）时两者都不到 1 ms；
# $T = 512$ 时加性注意力慢了约一个数量级，它的中间张量有 $4 \times 512 \times 512 \times 8$ 个数，点积的分数矩阵只有它的 1/8。

# %% [markdown]
# ### 练习 3
#
# 做语言模型（预测下一个词元）时，应该用 Transformer 的编码器、解码器，还是两者都用？如何设计？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：用“只有解码器”的结构。语言模型没有源序列，去掉编码器和编码器–解码器注意力，
# 只留带因果掩码的自注意力和前馈网络，接一个输出下一个词元分数的全连接层；训练时整段输入，每个位置预测后一个词元，
# 生成时逐词解码（10.8 节训练了一个这样的字符级语言模型，并看去掉掩码会怎样）。只做理解（分类、抽取）时可以只用编码器（BERT）；
# 有明确的输入–输出之分时，编码器–解码器（T5）也很合适。

# %% [markdown]
# ### 练习 4
#
# 输入序列很长时，Transformer 会遇到什么困难？对本节尺寸的一个 `EncoderBlock`（$d = 32$，$d_{ff} = 64$，4 个头），
# 用 `torch.utils.flop_counter.FlopCounterMode` 数出 $T = 32, 64, \ldots, 1024$ 时一次前向计算里批量矩阵乘法
# （`aten.bmm`，注意力的两步）所占的比例，存在列表 `ex4_share` 里，把它开始占到一半的长度存为 `ex4_crossover`。
# 用 $d$ 和 $d_{ff}$ 写出这个长度；对原论文的尺寸（$d = 512$，$d_{ff} = 2048$）是多少？内存方面什么在平方增长？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
from torch.utils.flop_counter import FlopCounterMode

torch.manual_seed(0)
ex4_lengths = [32, 64, 128, 256, 512, 1024]
ex4_block = EncoderBlock(**tied_sizes(32), ffn_num_hiddens=64, num_heads=4, dropout=0.0).eval()
ex4_share = []
for T in ex4_lengths:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ex4_block(torch.randn(1, T, 32), None)
    flops = counter.get_flop_counts()["Global"]
    ex4_share.append(sum(n for op, n in flops.items() if "bmm" in str(op))
                     / counter.get_total_flops())
ex4_crossover = next(T for T, share in zip(ex4_lengths, ex4_share) if share >= 0.5)
print("attention's share of the FLOPs:", [round(x, 3) for x in ex4_share],
      f"-> half from T = {ex4_crossover}")
ex4_weights = ex4_block.attention.attention.attention_weights  # kept for the backward pass
print(f"T = 1024: attention weights {tuple(ex4_weights.shape)} = "
      f"{ex4_weights.numel() * 4 / 2**20:.0f} MiB; the layer's output {ex4_weights.shape[-1] * 32 * 4 / 2**10:.0f} KiB")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert len(ex4_share) == 6, "one share per length 32 .. 1024"
print("your shares:", [round(x, 3) for x in ex4_share], "crossover:", ex4_crossover)
assert abs(ex4_share[0] - 0.2) < 1e-6, f"at T = 32 attention is 1/5 of the FLOPs, got {ex4_share[0]:.3f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex4_crossover == 128
assert all(abs(x - T / (T + 128)) < 1e-6 for T, x in zip([32, 64, 128, 256, 512, 1024], ex4_share))


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：每个位置的四个投影要 $8d^2$ 次浮点运算，前馈网络要 $4 d\, d_{ff}$ 次，都随 $T$ 线性增长；
# 注意力的分数和加权求和每个位置要 $4Td$ 次，随 $T$ 平方增长。注意力所占的比例因此是 $T / (T + 2d + d_{ff})$，
# 正是上面数出的 $0.2, 0.333, 0.5, \ldots, 0.889$，一半出现在 $T = 2d + d_{ff} = 128$。对原论文的尺寸这是 3072：
# 几十个词元的句子里大头是投影和前馈网络。内存则先碰墙：每层每个头要存一个 $T \times T$ 的权重矩阵（反向传播要用），
# $T = 1024$ 时这一层的权重已有 16 MiB，是层输出（128 KiB）的 128 倍，$T$ 加倍它就翻两番。

# %% [markdown]
# ### 练习 5
#
# 怎样提高 Transformer 的计算和内存效率？（提示：参考 Tay 等人的综述 *Efficient Transformers: A Survey*。）

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：综述的几类方法：(1) 稀疏模式，只看局部窗口、跨步位置或少数全局词元（Sparse Transformer、Longformer、BigBird）；
# (2) 按内容分组，只在相近的键中算注意力（Reformer）；(3) 低秩近似，把键和值投影到固定的 $k$ 个（Linformer）；
# (4) 核方法 / 线性注意力，用 $\phi(\mathbf{q})^\top\phi(\mathbf{k})$ 近似 softmax，复杂度变为线性（Performer）；
# (5) 记忆与循环，缓存过去的片段（Transformer-XL）。此后的主流是不改数学、只改算法的做法：
# FlashAttention 这类融合算子分块计算、不存 $n\times n$ 的矩阵；生成时用键值缓存，并让多个查询头共享键值头（MQA/GQA）；此外还有混合精度和量化。

# %% [markdown]
# ### 练习 6
#
# 不用卷积神经网络，怎样用 Transformer 做图像分类？（提示：ViT。）把 $8\times 8$ 的图像切成 4 个 $4\times 4$ 的图块（patch），
# 每块展平后线性投影成一个词元，前面加一个可学习的分类词元（`[CLS]`），加上可学习的位置嵌入，过两个 `EncoderBlock`，
# 用分类词元的输出分类。数据：噪声背景上每个图块里有或没有一个 $2\times 2$ 的亮块，类别是亮块个数减 1（0–3），
# 单看一个图块看不出类别。把 256 张新图像上的准确率存在 `ex6_accuracy` 中。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex6-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
def ex6_images(n, generator):
    """n noisy 8x8 images; each 4x4 patch holds a bright 2x2 square or not (at least one does).
    Label: the number of squares minus 1 (0..3)."""
    images = 0.3 * torch.randn(n, 8, 8, generator=generator)
    count = torch.randint(1, 5, (n,), generator=generator)
    has_square = torch.rand(n, 4, generator=generator).argsort(dim=1) < count[:, None]
    for p in range(4):  # patch p: rows 4 * (p // 2) .., columns 4 * (p % 2) ..
        r = 4 * (p // 2) + torch.randint(0, 3, (n,), generator=generator)
        c = 4 * (p % 2) + torch.randint(0, 3, (n,), generator=generator)
        rows, cols = r[:, None] + torch.tensor([0, 0, 1, 1]), c[:, None] + torch.tensor([0, 1, 0, 1])
        images[torch.arange(n)[:, None], rows, cols] += has_square[:, p:p + 1].float()
    return images, count - 1


class TinyViT(nn.Module):
    def __init__(self, d=16, num_heads=2, num_layers=2, num_classes=4):
        super().__init__()
        self.patch_proj = nn.Linear(16, d)  # a flattened 4x4 patch -> a token
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(0.1 * torch.randn(1, 5, d))  # [CLS] + 4 patches
        self.blks = named_blocks(EncoderBlock(**tied_sizes(d), ffn_num_hiddens=2 * d,
                                              num_heads=num_heads, dropout=0.0)
                                 for _ in range(num_layers))
        self.head = nn.Linear(d, num_classes)

    def forward(self, images):  # (batch_size, 8, 8) -> (batch_size, num_classes)
        b = images.shape[0]
        patches = images.reshape(b, 2, 4, 2, 4).permute(0, 1, 3, 2, 4).reshape(b, 4, 16)
        X = torch.cat([self.cls.expand(b, -1, -1), self.patch_proj(patches)], dim=1) + self.pos
        for blk in self.blks:
            X = blk(X, None)
        return self.head(X[:, 0])


from torch.nn import functional as F

torch.manual_seed(0)
ex6_gen = torch.Generator().manual_seed(0)
ex6_test_x, ex6_test_y = ex6_images(256, ex6_gen)
ex6_model = TinyViT()
ex6_opt = torch.optim.Adam(ex6_model.parameters(), lr=0.01)
for _ in range(100):
    ex6_x, ex6_y = ex6_images(512, ex6_gen)  # fresh images every step: nothing to memorise
    ex6_loss = F.cross_entropy(ex6_model(ex6_x), ex6_y)
    ex6_opt.zero_grad()
    ex6_loss.backward()
    ex6_opt.step()
ex6_model.eval()
with torch.no_grad():
    ex6_accuracy = (ex6_model(ex6_test_x).argmax(-1) == ex6_test_y).float().mean().item()
print(f"train loss {ex6_loss.item():.3f}, test accuracy {ex6_accuracy:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex6-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
assert 0 <= ex6_accuracy <= 1, "ex6_accuracy is a fraction of the 256 test images"
print(f"test accuracy {ex6_accuracy:.3f} (chance: 0.25)")
assert ex6_accuracy > 0.9, f"accuracy {ex6_accuracy:.3f}: chance is 0.25; train longer?"

# %% [markdown]
# ### 练习 7
#
# 把一个有填充的批量在后面再补 5 个填充词元，
# 有效位置上 `TransformerEncoder`（dropout 为 0）的输出会变吗？10.4 节的 GRU 编码器（`d2l.Seq2SeqEncoder`）
# 的最终隐状态呢？把两个最大绝对差分别存为 `ex7_transformer_diff` 和 `ex7_gru_diff`，并解释。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex7-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex7_X = torch.tensor([[5, 6, 7, 1, 1, 1], [8, 9, 1, 1, 1, 1]])  # 1 = <pad>
ex7_valid = torch.tensor([3, 2])
ex7_longer = torch.cat([ex7_X, torch.ones(2, 5, dtype=torch.long)], dim=1)
ex7_encoder = TransformerEncoder(vocab_size=20, **tied_sizes(16), ffn_num_hiddens=32, num_heads=4,
                                 num_layers=2, dropout=0.0)
ex7_gru = d2l.Seq2SeqEncoder(20, 16, 16, 2)
ex7_encoder.eval()
ex7_gru.eval()
with torch.no_grad():
    short, long = ex7_encoder(ex7_X, ex7_valid), ex7_encoder(ex7_longer, ex7_valid)
    keep = torch.arange(6)[None, :] < ex7_valid[:, None]
    ex7_transformer_diff = (short[keep] - long[:, :6][keep]).abs().max().item()
    ex7_gru_diff = (ex7_gru(ex7_X)[1] - ex7_gru(ex7_longer)[1]).abs().max().item()
print(f"Transformer encoder: {ex7_transformer_diff:.5f}, GRU final state: {ex7_gru_diff:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex7-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(f"Transformer: {ex7_transformer_diff:.5f} (expect 0); GRU: {ex7_gru_diff:.3f} (expect > 0.001)")
assert ex7_transformer_diff < 1e-5, "valid positions never attend to padding"
assert ex7_gru_diff > 1e-3, "the GRU reads every padding token before its final state"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex7-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：Transformer 编码器有效位置的输出不变：注意力屏蔽了填充的键，层规范化和前馈网络又是逐位置的。
# GRU 的最终隐状态是把所有词元（包括填充）依次读完后的状态，多读 5 个填充就变了。所以对 Transformer 可以把每批源序列截到本批最长的句子，
# 结果不变、计算更少（`d2l.train_seq2seq` 看到 `ignores_padding = True` 就这样做）；对 GRU 编码器则不行。

# %% [markdown]
# ### 练习 8
#
# 在逐词解码的探索器里，第 $t$ 步的新查询能看到哪几个位置？整句输入时是什么起同样的作用？
# 因果掩码的一般形式：先把一个 3 个词元的前缀**一次**输入解码器（预测模式，dropout 为 0），
# 再把其余词元一个一个地输入。结果应当与整句一次输入相同吗？把最大绝对差存为 `ex8_max_diff`，
# 把第一次调用之后第 1 层缓存的长度存为 `ex8_cache_after_prefix`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex8-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex8_decoder = TransformerDecoder(vocab_size=20, **tied_sizes(16), ffn_num_hiddens=32, num_heads=4,
                                 num_layers=2, dropout=0.0)
ex8_decoder.eval()
ex8_enc, ex8_valid = torch.randn(2, 5, 16), torch.tensor([5, 3])
ex8_Y = torch.randint(0, 20, (2, 7))
ex8_full, _ = ex8_decoder(ex8_Y, ex8_decoder.init_state(ex8_enc, ex8_valid))
ex8_state = ex8_decoder.init_state(ex8_enc, ex8_valid)
ex8_parts = [ex8_decoder(ex8_Y[:, :3], ex8_state)[0]]  # the prefix: causal mask inside it
ex8_cache_after_prefix = ex8_state[2][0].shape[1]
for t in range(3, 7):
    ex8_parts.append(ex8_decoder(ex8_Y[:, t:t + 1], ex8_state)[0])
ex8_max_diff = (ex8_full - torch.cat(ex8_parts, dim=1)).abs().max().item()
print(f"cache after the prefix: {ex8_cache_after_prefix}, max diff: {ex8_max_diff:.5f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex8-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(f"cache after the prefix: {ex8_cache_after_prefix} (expect 3), max diff: {ex8_max_diff:.5f} (expect 0)")
assert ex8_cache_after_prefix == 3, "the prefix call stores its 3 positions"
assert ex8_max_diff < 1e-5, "prefix + cache must equal one causal pass"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex8-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：第 $t$ 步的新查询能看到位置 $0, \ldots, t$（探索器里第 $t$ 步有 $t+1$ 列）；整句输入时，是有效长度 $t+1$ 的因果掩码。
# 前缀一次输入时，3 个查询的有效长度是 1、2、3；之后每个新词元能看缓存里的全部 $p$ 个位置和自己。每个查询看到的位置都相同，
# 所以结果相同：最大差是 0，第一次调用后缓存里有 3 个位置。

# %% [markdown]
# ### 练习 9
#
# 去掉嵌入的 $\sqrt{d}$ 因子：`torch.manual_seed(0)` 之后用 `transformer_net` 构造 2 层模型，给两个嵌入层各注册一个前向钩子
# （`register_forward_hook`），把输出除以 $\sqrt{d}$；照练习 1 训练 30 轮，结果存进 `ex9_results`（同样的四个键）。
# 训练后解码器的词元嵌入（算上实际乘的因子）与位置编码的范数之比存为 `ex9_ratio`，与练习 1 的 2 层模型比较，并解释。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex9-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
def ex9_norm_ratio(ex9_model, scale):
    """Mean norm of the decoder's token embeddings times `scale`, over the positional norm."""
    tokens = ex9_model.decoder.embedding.weight.norm(dim=-1).mean() * scale
    return (tokens / ex9_model.decoder.pos_encoding.P[0, :10].norm(dim=-1).mean()).item()


torch.manual_seed(0)
ex9_net = transformer_net(src_vocab, tgt_vocab, num_hiddens, 2, num_heads, ffn_num_hiddens, dropout)
for ex9_embedding in (ex9_net.encoder.embedding, ex9_net.decoder.embedding):
    ex9_embedding.register_forward_hook(lambda module, inputs, out: out / math.sqrt(num_hiddens))
ex9_results = ex1_train(ex9_net)
ex9_ratio = ex9_norm_ratio(ex9_net, 1.0)
for name, r in (("with sqrt(d)", ex1_results[2]), ("without", ex9_results)):
    print(f"{name:12s}: loss {r['loss']:.3f}, mean BLEU {r['bleu']:.3f}")
ex9_base_ratio = ex9_norm_ratio(ex1_nets[2], math.sqrt(num_hiddens))
print(f"token norm / position norm after 30 epochs: without the factor {ex9_ratio:.2f}; "
      f"exercise 1's 2-layer model (x sqrt(d)) {ex9_base_ratio:.2f}")
print(f"exercise 1's 2-layer model over seeds 0-1: mean BLEU {min(ex1_seed_bleus):.3f} "
      f"to {max(ex1_seed_bleus):.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex9-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
assert set(ex9_results) == {"params", "seconds", "loss", "bleu"}, "the four keys of exercise 1"
print({name: round(v, 3) for name, v in ex9_results.items()}, f"ratio {ex9_ratio:.2f}")
assert ex9_results["params"] == 60872, "the same model: a hook adds no parameters"
assert 0 < ex9_results["loss"] < 2 and 0 <= ex9_results["bleu"] <= 1

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex9-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：去掉因子照样能训练：30 轮的损失 0.096（有因子 0.103），相差很小。两者平均 BLEU 都是 0.293，
# 但四个句子分不开这两个模型（有因子的模型只换种子就在 0.128 到 0.293 之间）；要比较译得好坏，得在 500 个没见过的句子上、
# 多个种子地比（`results/heldout.json` 的做法）。不乘 $\sqrt{d}$ 时，$\mathcal{N}(0,1)$ 的词元嵌入本来就和位置编码差不多大
# （训练后范数之比 1.42）；乘上后是 8.01 倍，两个模型的损失却差不多。只凭这一个种子、30 轮，
# 看不出本节按 $\mathcal{N}(0,1)$ 初始化、不共享权重的嵌入需要这个因子（正文里共享权重的理由只是一种解释，没有验证）。
