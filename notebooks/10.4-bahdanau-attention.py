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
# # 10.4 Bahdanau 注意力
#
# 9.7 节的序列到序列（seq2seq）模型把整个源句子压进编码器最后的隐状态，
# 解码器生成每一个词时都只能看这一个固定的上下文变量（context variable）。
# 句子一长，这个向量就成了瓶颈：开头的信息早已被后面的词“冲淡”，而且翻译第 3 个词和第 8 个词时，
# 真正相关的源词并不相同。
# Bahdanau 等人在 2014 年提出的办法是：**让解码器在每一步自己决定看源句子的哪些位置。**
# 上下文变量不再固定，而是每一步用注意力汇聚重新算一次——这正是 10.3 节加性注意力的用武之地。
#
# 本节回答三个问题：模型怎样写成公式和代码（以及哪些计算不必在每个解码步重做）；
# 怎样给译文打分（BLEU）；训练好的模型在一个**训练集中没有出现过**的句子上表现如何。

# %%
import collections
import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l

# %% [markdown]
# ## 模型
#
# 设源句子有 $T$ 个词元，编码器（与 9.7 节相同的多层 GRU）在时间步 $t$ 的最后一层隐状态为
# $\mathbf{h}_t \in \mathbb{R}^{h}$；解码器在第 $t'$ 步开始时的（最后一层）隐状态为
# $\mathbf{s}_{t'-1} \in \mathbb{R}^{h}$，其中 $h$ 是隐藏单元数 `num_hiddens`。
# Bahdanau 注意力把 $\mathbf{s}_{t'-1}$ 当作**查询**，把所有 $\mathbf{h}_t$ 既当作**键**又当作**值**：
#
# $$\mathbf{c}_{t'} = \sum_{t=1}^{T} \alpha(\mathbf{s}_{t'-1}, \mathbf{h}_t)\, \mathbf{h}_t,
#   \qquad
#   \alpha(\mathbf{s}_{t'-1}, \mathbf{h}_t)
#   = \frac{\exp\big(a(\mathbf{s}_{t'-1}, \mathbf{h}_t)\big)}
#          {\sum_{j=1}^{T} \exp\big(a(\mathbf{s}_{t'-1}, \mathbf{h}_j)\big)},$$
#
# 评分函数 $a$ 是 10.3 节的加性注意力：
#
# $$a(\mathbf{s}, \mathbf{h}) = \mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{s} + \mathbf{W}_k \mathbf{h}),
#   \qquad \mathbf{W}_q, \mathbf{W}_k \in \mathbb{R}^{h \times h},\ \mathbf{w}_v \in \mathbb{R}^{h}.$$
#
# 填充出来的源位置（超过有效长度的 $t$）不参与 softmax，权重为 0。
# 得到上下文 $\mathbf{c}_{t'}$ 后，把它与上一个输出词元的嵌入 $\mathbf{e}_{t'} \in \mathbb{R}^{e}$
# 拼接，作为 GRU 这一步的输入，再由全连接层给出词表上的分数：
#
# $$\mathbf{s}_{t'} = \operatorname{GRU}\big(\mathbf{s}_{t'-1}, [\mathbf{c}_{t'}; \mathbf{e}_{t'}]\big),
#   \qquad \mathbf{o}_{t'} = \mathbf{W}_o \mathbf{s}_{t'} + \mathbf{b}_o \in \mathbb{R}^{|\mathcal{V}|}.$$
#
# 与 9.7 节相比只改了一处：上下文从“编码器最后一步的隐状态，每步都一样”变成了“每步重新加权的
# $\mathbf{c}_{t'}$”。解码器的初始状态仍是编码器的最终隐状态。
# Bahdanau 等人的编码器是双向 RNN（bidirectional RNN），$\mathbf{h}_t$ 拼接了从左读到 $t$
# 和从右读到 $t$ 的两个隐状态；书中和这里都沿用 9.7 节的单向 GRU，$\mathbf{h}_t$ 只读过前 $t$ 个词元。
# 成批计算时各张量的形状如下（$b$ 为批量大小，$T$ 为源序列长度 `num_steps`，$L$ 为层数）：
#
# | 张量 | 形状 |
# |---|---|
# | 编码器输出（键和值） | $(b, T, h)$ |
# | 解码器隐状态 | $(L, b, h)$，查询取最后一层 $(b, 1, h)$ |
# | 一步的注意力权重 | $(b, 1, T)$ |
# | 一步的上下文 $\mathbf{c}_{t'}$ | $(b, 1, h)$ |
# | GRU 一步的输入 $[\mathbf{c}_{t'}; \mathbf{e}_{t'}]$ | $(1, b, h + e)$ |
# | 解码器输出 | $(b, \text{目标步数}, |\mathcal{V}|)$ |
#
# 注意查询依赖**上一步**的解码器状态，所以解码器只能一步一步地算，不能像编码器那样把整段序列一次交给 GRU。

# %% [markdown]
# ![The Bahdanau encoder-decoder at one decoding step](figures/10.4-bahdanau-step.svg)
#
# 图 10.4.1 Bahdanau 注意力在解码时间步 $t'$ 的计算：以上一步的解码器状态 $\mathbf{s}_{t'-1}$ 为查询、编码器隐状态 $\mathbf{h}_t$ 为键和值，得到上下文变量 $\mathbf{c}_{t'}$，与 $y_{t'-1}$ 的嵌入拼接后输入解码器 RNN（线宽表示注意力权重）

# %% [markdown]
# ## 实现
#
# 先定义一个带注意力的解码器接口：在 9.7 节 `Decoder` 的基础上多一个只读属性 `attention_weights`，
# 可视化时靠它取出每一步的权重。

# %%
#@save
class AttentionDecoder(d2l.Decoder):
    """Base class of decoders that keep the attention weights of their last forward pass."""

    @property
    def attention_weights(self):
        raise NotImplementedError


# %% [markdown]
# 解码器按上面的公式逐步计算，但先看一眼哪些量**不随解码步变化**。加性注意力的评分
# $\mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{s}_{t'-1} + \mathbf{W}_k \mathbf{h}_t)$ 里，
# 查询 $\mathbf{s}_{t'-1}$ 每步都变，键的投影 $\mathbf{W}_k \mathbf{h}_t$ 却只依赖编码器输出，
# 对同一个源句子的每个解码步都相同；哪些源位置是填充，也只由有效长度决定。
#
# 书中的解码器状态是三项 `(enc_outputs, hidden_state, enc_valid_lens)`，每步调用一次
# `self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)`；这里的状态在这三项之后多两项：
# 投影好的键 `keys` $=\mathbf{W}_k\mathbf{h}_t$（形状 $(b, T, h)$）和布尔掩码 `padding`
# （形状 $(b, T)$，填充位置为 `True`），由 `init_state` 在每个序列开始时算**一次**，
# 因为它们在每个解码步都一样，书中的写法却在每一步（训练时连同反向传播）重算一遍。
# 每一步只剩与查询有关的部分，由 `attend` 方法完成：它用的正是 `self.attention` 里的
# `W_q`、`w_v` 和 `dropout`，数学与 `AdditiveAttention` 完全相同，只是键已经投影过了。
#
# 书中的 `masked_softmax` 把填充位置的分数换成 $-10^6$；这里换成 $-\infty$，
# 因为 $\exp(-\infty) = 0$，填充位置的权重恰好为 0 而不只是很小。代价是：一个源序列若没有一个有效词元，
# 整行都是 $-\infty$，softmax 得到 NaN，所以 `init_state` 要求每个有效长度至少为 1（至少有 `<eos>`）。

# %%
#@save
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
        self.attention = d2l.AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
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
            d2l.check_min_lens(enc_valid_lens, "enc_valid_lens", 1, "every source sequence "
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


# %% [markdown]
# 用一个小批量看一下形状：4 个样本，源序列和目标序列都是 7 步，词表大小 10，嵌入 8 维，
# 隐藏单元 16 个，2 层 GRU；四个样本的有效长度分别是 7、5、3、1。

# %%
torch.manual_seed(0)
encoder = d2l.Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
decoder = Seq2SeqAttentionDecoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
encoder.eval()
decoder.eval()
X = torch.zeros((4, 7), dtype=torch.long)  # (batch_size, num_steps)
valid_lens = torch.tensor([7, 5, 3, 1])
state = decoder.init_state(encoder(X), valid_lens)
output, new_state = decoder(X, state)
print("output           :", tuple(output.shape))
print("enc_outputs      :", tuple(state[0].shape))
print("hidden state     :", tuple(state[1].shape))
print("projected keys   :", tuple(state[3].shape))
print("padding mask     :", tuple(state[4].shape), state[4][3].int().tolist())
print("attention weights:", len(decoder.attention_weights), "x",
      tuple(decoder.attention_weights[0].shape))
print("first step, example 4:", decoder.attention_weights[0][3, 0].tolist())

# %% [markdown]
# 第 4 个样本只有一个有效位置，它拿走了全部权重 1.0，6 个填充位置的权重恰好是 0.0。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert output.shape == (4, 7, 10) and new_state[1].shape == (2, 4, 16)
assert len(decoder.attention_weights) == 7
assert decoder.attention_weights[0].shape == (4, 1, 7)
assert decoder.attention_weights[0][3, 0].tolist() == [1.0] + [0.0] * 6

# %% [markdown]
# 预先投影键只是换了计算的时机，结果必须与“每步调用一次 `AdditiveAttention`”完全相同。
# 取第一步的查询（编码器最后一层的最终隐状态），分别交给 10.3 节的 `self.attention`（它在内部投影键）
# 和 `attend`（用预先投影好的键），比较上下文和注意力权重；再用前向钩子（forward hook）数一数，
# 解码 7 步的一次前向传播里 `W_k` 被调用了几次：

# %%
values, hidden_state, enc_valid_lens, keys, padding = state
query = hidden_state[-1]  # (batch_size, num_hiddens)
context_10_3 = decoder.attention(query.unsqueeze(1), values, values, enc_valid_lens)
weights_10_3 = decoder.attention.attention_weights
context, weights = decoder.attend(query, keys, values, padding)
print("same context:", torch.equal(context, context_10_3),
      "| same weights:", torch.equal(weights, weights_10_3))

calls = []
hook = decoder.attention.W_k.register_forward_hook(lambda *args: calls.append(1))
decoder(X, decoder.init_state(encoder(X), valid_lens))
hook.remove()
print(f"W_k calls for {X.shape[1]} decoding steps: {len(calls)}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(context, context_10_3) and torch.equal(weights, weights_10_3)
assert len(calls) == 1

# %% [markdown]
# 两条路径逐位相同：做的是同一组运算，只是 $\mathbf{W}_k \mathbf{h}_t$ 从每步一次变成了每个序列一次
# （反向传播里对应的梯度计算也一样）。
#
# ## 数据：一个词只有一种写法
#
# 训练数据与 9.7 节相同：fra-eng 的前 600 个句子对。法语句子里的撇号（apostrophe）有两种写法：
# 键盘上的 `'` 和排版用的弯撇号 `’`（U+2019）。词表只认字符，`j'ai` 和 `j’ai` 会成为两个互不相干的词元；
# 模型如果把 `i lost .` 译成 `j’ai perdu .`，BLEU 也会判它与参考译文 `j'ai perdu .` 不同。
# 书中 9.5 节的 `preprocess_nmt` 把不间断空格（U+00A0）和窄不间断空格（U+202F）换成普通空格，再转小写、在标点前加空格；
# 这里的 `d2l.preprocess_nmt` 还把弯撇号换成 `'`、把法语引号（guillemets）`« »` 换成 `"`、
# 把细空格（U+2009）换成普通空格并合并连续的空格，因为否则同一个词会有两种写法。
# 数一数清洗前后三个常见词的写法：

# %%
raw = "\n".join(d2l.read_data_nmt().split("\n", 600)[:600])  # the 600 pairs used for training
raw_words = collections.Counter(
    word.lower().strip(".!?") for line in raw.split("\n") for word in line.split("\t")[1].split())
_, cleaned_target = d2l.tokenize_nmt(d2l.preprocess_nmt(raw))
cleaned_words = collections.Counter(token for line in cleaned_target for token in line)
for word in ("j'ai", "c'est", "l'ai"):
    curly = word.replace("'", "\u2019")
    print(f"raw: {word} {raw_words[word]:2d} + {curly} {raw_words[curly]:2d}   ->   "
          f"cleaned: {word} {cleaned_words[word]:2d}")

# %% [markdown]
# 清洗以后，`j'ai` 的 32 次出现都归到同一个词元上，`j’ai` 不再是单独的词元。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(cleaned_words[w] == raw_words[w] + raw_words[w.replace("'", "\u2019")]
           and not cleaned_words[w.replace("'", "\u2019")] for w in ("j'ai", "c'est", "l'ai"))
assert cleaned_words["j'ai"] == 32
assert not any(set(token) & set("\u2019\u202f\u2009\xa0\xab\xbb") for token in cleaned_words)

# %% [markdown]
# ## 训练
#
# 超参数与书中相同：嵌入 32 维、32 个隐藏单元、2 层、暂退概率（dropout）0.1、批量 64、每句 10 步、
# 学习率 0.005、250 轮。编码器沿用 9.7 节的 `Seq2SeqEncoder`。这些数只写在一个地方：
# 配置对象 `BAHDANAU_CONFIG`（与 9.7 节的 `d2l.Seq2SeqConfig` 同样的字段），本节、基准程序和测试都读它。

# %%
#@save
def bahdanau_net(src_vocab, tgt_vocab, embed_size, num_hiddens, num_layers, dropout):
    """This section's translator: Seq2SeqEncoder + Seq2SeqAttentionDecoder. Its sizes are in
    `BAHDANAU_CONFIG` (`BAHDANAU_CONFIG.net(src_vocab, tgt_vocab)`)."""
    encoder = d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
    decoder = Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers,
                                      dropout)
    return d2l.EncoderDecoder(encoder, decoder)


@dataclasses.dataclass(frozen=True)
class BahdanauConfig(d2l.Seq2SeqConfig):
    """10.4's translator: the book's sizes and training settings (9.7's, trained 250 epochs)."""

    num_epochs: int = 250

    def net(self, src_vocab, tgt_vocab):
        return bahdanau_net(src_vocab, tgt_vocab, self.embed_size, self.num_hiddens,
                            self.num_layers, self.dropout)


BAHDANAU_CONFIG = BahdanauConfig()


# %% [markdown]
# 训练循环 `d2l.train_seq2seq` 与 9.7 节的接口和所算的损失相同；它内部的几处提速不改变所算的内容，
# 这些提速、训练在多个随机种子和三种 CPU 计算内核下的结果，见[附录：可复现性与速度](appendix-reproducibility.html)。
# （这么小的张量用不上多线程，所以训练前把线程数设为 1。）

# %%
torch.set_num_threads(1)
config = BAHDANAU_CONFIG
batch_size, num_steps = config.batch_size, config.num_steps
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
torch.manual_seed(0)
embed_size, num_hiddens, num_layers, dropout = (config.embed_size, config.num_hiddens,
                                                config.num_layers, config.dropout)
lr, num_epochs, device = config.lr, config.num_epochs, d2l.try_gpu()
net = bahdanau_net(src_vocab, tgt_vocab, embed_size, num_hiddens, num_layers, dropout)
result = d2l.train_seq2seq(net, train_iter, lr, num_epochs, tgt_vocab, device)

# %% [markdown]
# 250 轮后，训练集上每个词元的平均损失降到 0.05 以下（上面一行打印的 `loss`）。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert result.loss < 0.05

# %% [markdown]
# ## 用 BLEU 评价翻译
#
# 怎样给一句译文打分？9.7 节用的 BLEU（bilingual evaluation understudy）把预测序列与参考译文比较，
# 看预测里的 $n$ 元语法（$n$-gram，连续 $n$ 个词元）有多少也出现在参考译文中。
# 记 $p_n$ 为 $n$ 元语法的精确率（precision）：预测序列中能在参考译文里找到匹配的 $n$ 元语法所占的比例
# （参考译文里每个 $n$ 元语法最多被匹配一次）；$\mathrm{len}_{\text{label}}$ 和 $\mathrm{len}_{\text{pred}}$
# 分别是参考译文和预测序列的词元数，$k$ 是考虑的最长 $n$ 元语法。则
#
# $$\mathrm{BLEU} = \exp\left(\min\left(0,\ 1 - \frac{\mathrm{len}_{\text{label}}}{\mathrm{len}_{\text{pred}}}\right)\right)
#   \prod_{n=1}^{k} p_n^{1/2^n}.$$
#
# * 连乘的部分奖励匹配。指数 $1/2^n$ 随 $n$ 变小：长的 $n$ 元语法本来就更难匹配，
#   它的精确率低一些受到的惩罚较轻。例如 $p = 1/3$ 作为 $p_1$ 会让分数乘上 $(1/3)^{1/2} \approx 0.577$，
#   作为 $p_2$ 只乘上 $(1/3)^{1/4} \approx 0.760$。
# * 指数因子是简短惩罚（brevity penalty）：只看精确率的话，只输出一两个有把握的词就能得高分；
#   预测比参考译文短时这个因子小于 1，不短时等于 1。
#
# 完全相同的句子得 1，没有一个词对上得 0。本节的句子只有几个词，所以取 $k=2$（只看单个词和相邻词对）。
# 例如把 `il est calme .` 译成 `il est riche .`：4 个词对了 3 个，$p_1 = 3/4$；3 个相邻词对里只有
# `il est` 对了，$p_2 = 1/3$；长度相同，没有简短惩罚，所以
# $\mathrm{BLEU} = (3/4)^{1/2}(1/3)^{1/4} \approx 0.658$。

# %%
example = d2l.bleu("il est riche .", "il est calme .", k=2)
print(f"bleu('il est riche .', 'il est calme .', k=2) = {example:.3f}")
print(f"bleu('il est .', 'il est calme .', k=2) = {d2l.bleu('il est .', 'il est calme .', k=2):.3f}"
      "  (too short: the brevity penalty)")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert abs(example - (3 / 4) ** 0.5 * (1 / 3) ** 0.25) < 1e-12 and round(example, 3) == 0.658
assert d2l.bleu("il est .", "il est calme .", k=2) < 1
assert (round((1 / 3) ** 0.5, 3), round((1 / 3) ** 0.25, 3)) == (0.577, 0.760)

# %% [markdown]
# 用训练好的模型逐句贪心翻译（greedy），并算出 BLEU。10.7 节还要对 Transformer 做同样的事，
# 所以把“逐句翻译、打分、收集注意力权重”写成一个函数。句子总是送到模型参数所在的设备上：
# 书中的 `predict_seq2seq` 要调用者另外传入 `device`，两者不一致时会报错。

# %%
#@save
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
        translation, attention_weight_seq = d2l.predict_seq2seq(
            net, eng, src_vocab, tgt_vocab, num_steps, device, save_attention_weights=True)
        translations.append(translation)
        bleus.append(d2l.bleu(translation, fra, k=2))
        attention_weight_seqs.append(attention_weight_seq)
        if verbose:
            print(f"{eng:12s} => {translation:20s} bleu {bleus[-1]:.3f}")
    if verbose:
        print(f"mean bleu {sum(bleus) / len(bleus):.3f}")
    return translations, bleus, attention_weight_seqs


# %% [markdown]
# 下面翻译书中的四个英语句子。其中三句原样出现在训练数据里，每次训练都逐字译对
# （5 个随机种子 × 3 种 CPU 计算内核的 15 次训练，共 45/45<!-- result: sweep | summary.bahdanau all.training sentences exact | s --> 句）；
# 第三句 `he's calm .` 不在训练数据中，它的译文随随机种子和 CPU 的浮点运算顺序而变（统计见附录），后面专门讨论。

# %%
#@save
# The book's four test sentences and their references; UNSEEN_ENG is not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."

# %% tags=["nbval-ignore-output"]
# The he's calm . line depends on the CPU's floating-point kernels; the checks hold for all.
engs, fras = list(TEST_ENGS), list(TEST_FRAS)
translations, bleus, attention_weight_seqs = translate_and_score(
    net, engs, fras, src_vocab, tgt_vocab, num_steps, device)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert [translations[i] for i in (0, 1, 3)] == ["va !", "j'ai perdu .", "je suis chez moi ."]
assert [bleus[i] for i in (0, 1, 3)] == [1.0, 1.0, 1.0]
assert bleus[2] < 1  # he's calm . was wrong in every run measured (see the appendix)

# %% [markdown]
# ## 可视化
#
# 取 `i'm home .` 翻译时每个解码步的注意力权重，画成热图：行是生成的词元（查询，最后一行是生成 `<eos>` 的那一步），
# 列是源词元（键），只画有效的源位置（包括 `<eos>`），每格写上权重。
# 有效的源位置有 $T = 4$ 个，所以均匀分配（什么都不挑）时每格是 $1/T = 0.25$，在颜色条上用黑线标出。
# 书中的热图只标位置编号；这里标出词元和 $1/T$，因为要读的正是每一行偏离均匀分配多远。

# %%
src_tokens = engs[-1].split() + ["<eos>"]
out_tokens = translations[-1].split() + ["<eos>"]
# predict_seq2seq keeps, per step, the decoder's list of weights: one (1, 1, num_kv) tensor
all_weights = torch.cat([step[0] for step in attention_weight_seqs[-1]], dim=0).squeeze(1).cpu()
attention_weights = all_weights[:, :len(src_tokens)]  # (output steps, source tokens)
uniform = 1 / len(src_tokens)
d2l.show_heatmaps(attention_weights.reshape(1, 1, *attention_weights.shape),
                  xlabel="Source tokens (keys)", ylabel="Generated tokens (queries)",
                  figsize=(4.5, 4), xticklabels=src_tokens, yticklabels=out_tokens)
fig = d2l.plt.gcf()
heatmap, colorbar = fig.axes[0], fig.axes[-1]
for (i, j), w in zip(torch.cartesian_prod(*map(torch.arange, attention_weights.shape)).tolist(),
                     attention_weights.flatten().tolist()):
    heatmap.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=8,
                 color="white" if w > 0.3 else "black")
colorbar.axhline(uniform, color="black", linewidth=2)
heatmap.set_title(f"black line on the colour bar: uniform 1/T = {uniform:.2f}", fontsize=8)
d2l.plt.show()

# %% [markdown]
# 把图里的数按行读出来：每个生成词元最看重哪个源词元、权重多大，比均匀分配 $1/T$ 大多少：

# %% tags=["nbval-ignore-output"]
# The weights themselves vary with the seed and the floating-point kernels; the checks hold for all.
for out_token, row in zip(out_tokens, attention_weights):
    print(f"{out_token:6s} -> {src_tokens[int(row.argmax())]:6s} {float(row.max()):.2f} "
          f"({float(row.max()) / uniform:.1f} x 1/T)   smallest {float(row.min()):.2f}")
print(f"weights range from {float(attention_weights.min()):.2f} to "
      f"{float(attention_weights.max()):.2f}; uniform would be {uniform:.2f} everywhere")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert out_tokens[:4] == ["je", "suis", "chez", "moi"]
assert torch.allclose(attention_weights.sum(-1), torch.ones(len(out_tokens)), atol=1e-5)
assert all_weights[:, len(src_tokens):].abs().max() == 0  # padding gets exactly zero weight
row_gap = (attention_weights[:, None] - attention_weights[None]).abs().amax(-1)
assert row_gap.max() > 0.05  # the steps do not all look at the source the same way
assert attention_weights.max() < 0.9  # far from one source token per step

# %% [markdown]
# 这张热图离“每一步盯住一个源词”很远：没有哪个权重接近 1，把打印出的最大权重与均匀分配的 $1/T = 0.25$ 比一比
# （具体的数是这一次运行的结果，随种子和 CPU 内核而变，所以正文不引用它们）。
# 它能说明的是：每一行的和为 1，填充位置的权重恰好为 0，而且各行并不相同——每一步确实在用不同的权重
# 重新组合源句子，这是固定上下文变量做不到的。逐行读上面打印的结果：有没有生成词元最看重与它对应的源词
# （比如 `chez` 与 `home`、`.` 与 `.`）？哪些把最大的权重给了 `<eos>`？
#
# 这样短的句子说明不了注意力的真正用处。GRU 编码器是从左往右读的，`.` 和 `<eos>` 处的隐状态已经读完了整句话，
# 本身就概括了 `i'm` 和 `home`（这也许就是有些生成词元偏向 `<eos>` 的原因）；
# 只有 4 个位置可选、末尾两个位置又概括了全句时，模型没有理由学出像论文插图那样沿对角线排列的尖锐权重。要看到注意力“对齐”源词和目标词，
# 需要更长的句子：Bahdanau 等人的实验里，注意力模型的优势正是在长句子上才明显。

# %% [markdown]
# ### 动手试试：逐步解码
#
# 上面的热图是解码结束后的整体；下面的探索器把 `predict_seq2seq` 的贪心解码一步一步摊开
# （思路来自 Alammar 的逐步解码动画）。菜单选一个英语句子，再拖动“解码步”（decoding step）滑块：
# 每走一步，热图多出一行，即这一步以上一步的解码器状态为查询、对各个有效源词元算出的注意力权重
# （行和为 1，坐标轴上的数字是位置）；热图下面也多出一行文字：这一步生成的词元、到这一步为止的译文，以及权重最大的源词元。
# 选 `i'm home .` 并把滑块拖到底，得到的正是上面那张热图；较短的译文在滑块到头之前就已生成 `<eos>`，之后不再变化。
# 看一看：哪些步的权重行与前一步明显不同？这些步生成的是什么词元？
# 所有状态都由 `decoding_states` 用本节训练好的 `net` 算出。有内核的读者可以修改下面的 `explorer_engs`，
# 加上自己的句子（用空格隔开词元和标点，例如 `"i'm calm ."`；词表里没有的词会成为 `<unk>`，坐标轴上照样显示），
# 重新运行这个单元格，看模型怎样一步步翻译它。

# %%
#@save
def decoding_states(net, engs, src_vocab, tgt_vocab, num_steps, decimals=2):
    """Explorer rows for the greedy translation of each sentence in `engs` by predict_seq2seq.

    Returns (heat_rows, text_rows). heat_rows: per sentence (its index in `engs`), decoding step
    (1, 2, ...) and valid source token, that step's attention weight (the decoder's
    attention_weights saved by predict_seq2seq), labelled "position token" on both axes.
    text_rows: per sentence and step, one line with the token emitted and the translation so far.
    Sorted by step and source position, so every chart axis lists its labels in that order.
    """
    device = next(net.parameters()).device
    heat_rows, text_rows = [], []
    for s, eng in enumerate(engs):
        translation, weight_seq = d2l.predict_seq2seq(
            net, eng, src_vocab, tgt_vocab, num_steps, device, save_attention_weights=True)
        src = src_vocab.to_tokens(src_vocab[eng.lower().split(" ")]) + ["<eos>"]
        src = [f"{j + 1} {t}" for j, t in enumerate(src[:num_steps])]
        out = translation.split()
        out += ["<eos>"] * (len(weight_seq) - len(out))  # the last step emitted <eos>, if any
        for i, step_weights in enumerate(weight_seq):
            row = step_weights[0][0, 0, :len(src)]  # one decoder call per step: (1, 1, num_kv)
            state = {"sentence": s, "step": i + 1, "output": f"{i + 1} {out[i]}"}
            heat_rows += d2l.rows(state, row_labels=("source", src), weight=row,
                                  decimals=decimals)
            top = int(row.argmax())
            text_rows += d2l.rows({**state, "line": i + 1}, text=[
                f"step {i + 1} emits {out[i]!r}: {' '.join(out[:i + 1])}  |  "
                f"most weight on {src[top].split(' ', 1)[1]!r} ({float(row[top]):.2f})"])
    heat_rows.sort(key=lambda r: (r["step"], r["i"]))
    return heat_rows, text_rows


# %% tags=["nbval-ignore-output"]
explorer_engs = list(TEST_ENGS)  # edit and re-run to decode your own sentences
heat_rows, text_rows = decoding_states(net, explorer_engs, src_vocab, tgt_vocab, num_steps)
max_steps = max(r["step"] for r in heat_rows)
d2l.explorer(
    d2l.heatmap_view(heat_rows, "source", "output", width=260, height=220,
                     x_title="Source tokens (keys)", y_title="Generated tokens (queries)"),
    d2l.text_view(text_rows, "text", width=420, height=18 * max_steps, size=12),
    controls=[d2l.Select("sentence", tuple(range(len(explorer_engs))), "sentence",
                         default=len(explorer_engs) - 1, labels=tuple(explorer_engs)),
              d2l.Slider("step", range(1, max(max_steps, 2) + 1), "decoding step",
                         default=min(3, max_steps), upto=True)],
    title="Greedy decoding, one step at a time", columns=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
home = explorer_engs.index("i'm home .")
home_rows = [r for r in heat_rows if r["sentence"] == home]
home_heat = torch.tensor([[r["weight"] for r in home_rows if r["step"] == i + 1]
                          for i in range(len(out_tokens))])
assert torch.allclose(home_heat, attention_weights, atol=0.005)  # the heatmap above, step by step
for s, eng in enumerate(explorer_engs):
    steps = sorted({r["step"] for r in heat_rows if r["sentence"] == s})
    assert steps == list(range(1, len(translations[s].split()) + 2))  # every token, then <eos>
    for i in steps:
        row = [r["weight"] for r in heat_rows if (r["sentence"], r["step"]) == (s, i)]
        assert len(row) == len(eng.split()) + 1 and abs(sum(row) - 1) <= 0.005 * len(row)
    last = [r["text"] for r in text_rows if (r["sentence"], r["step"]) == (s, steps[-1])]
    assert f"emits '<eos>': {translations[s]} <eos>".replace("  ", " ") in last[0]

# %% [markdown]
# ## 泛化：训练集中没有的句子
#
# 四个测试句子里有三个原样出现在训练数据中（`go .`、`i lost .`、`i'm home .`），
# 模型只要“记住”就能译对。`he's calm .` 却**不在**这 600 个句子对里：

# %%
source, target = d2l.tokenize_nmt(d2l.preprocess_nmt(raw), num_examples=600)
pairs = [(" ".join(s), " ".join(t)) for s, t in zip(source, target)]
print("he's calm . in training data:", any(s == "he's calm ." for s, _ in pairs))
for s, t in pairs:
    if s.startswith("he's") or "calm ." in s:
        print(f"  {s:14s} -> {t}")
hes = [t for s, t in pairs if s.startswith("he's")]
calm = [t for s, t in pairs if s.endswith(" calm .")]
print(f"{len(hes)} pairs 'he's X .', all translated 'il est ...': "
      f"{all(t.startswith('il est') for t in hes)}; {len(calm)} pairs with 'calm', "
      f"all with 'calme': {all('calme' in t for t in calm)}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert not any(s == "he's calm ." for s, _ in pairs)
assert all(s in {s for s, _ in pairs} for s in ("go .", "i lost .", "i'm home ."))
assert len(hes) == 6 and all(t.startswith("il est") for t in hes)
assert len(calm) == 5 and all("calme" in t for t in calm)

# %% [markdown]
# 要译对它，模型得把两条线索组合起来：`he's X .` → `il est X .`（上面 6 个句子对）
# 以及 `calm` → `calme`（5 个句子对）。这需要真正的泛化，而不是记忆。
# 上面这一次训练把它译成了 `il est bon .`：保留了 `il est X .` 的句式，却把 `calm` 换成了训练集里见过的形容词
# （BLEU 0.658，就是上面算过的例子）。在那 15 次训练里，这一句一次也没有译对
# （0/15<!-- result: sweep | summary.bahdanau all.he's calm . exact | s -->，统计见[附录](appendix-reproducibility.html)）。一个合理的猜测是数据太少：600 个句子、250 轮训练，
# 模型很容易记住训练句子，而不是学会“主语 + est + 形容词”这样的规律。
#
# 四个句子太少，判断不了注意力到底有没有帮助。基准程序（`python tools/book.py bench --heldout`）
# 做了一个更像样的比较：在前 5000 个句子对上训练，再翻译其后 500 个从未见过的英语句子，
# 用语料级 BLEU（corpus BLEU，把所有句子的 $n$ 元语法匹配数和长度先加总再套用上面的公式）打分。
# 比较的三个模型是无注意力的 seq2seq（9.7 节的解码器，固定上下文变量）、本节的 Bahdanau 模型和 10.7 节的 Transformer，
# 嵌入和隐藏单元都是 32 维，训练设置相同。3 个随机种子平均，三者的语料级 BLEU 分别是
# 0.381<!-- result: heldout | summary.seq2seq.held-out BLEU | .3f -->、
# 0.398<!-- result: heldout | summary.bahdanau.held-out BLEU | .3f --> 和
# 0.453<!-- result: heldout | summary.transformer.held-out BLEU | .3f -->：
# 注意力让 GRU 模型好了一点，Transformer 好得多（每个模型的最小值和最大值见[附录：可复现性与速度](appendix-reproducibility.html)）。
# 先看三个模型在本节的词表上各有多少参数：

# %%
torch.manual_seed(0)
models = {"seq2seq, no attention (9.7)": d2l.SEQ2SEQ_CONFIG.net(src_vocab, tgt_vocab),
          "Bahdanau attention (10.4)": BAHDANAU_CONFIG.net(src_vocab, tgt_vocab),
          "Transformer (10.7)": d2l.TRANSFORMER_CONFIG.net(src_vocab, tgt_vocab)}
param_counts = {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}
for name, count in param_counts.items():
    print(f"{name:28s} {count:6d} parameters")
print("Bahdanau minus seq2seq:", param_counts["Bahdanau attention (10.4)"]
      - param_counts["seq2seq, no attention (9.7)"], "= attention's W_q, W_k, w_v:",
      sum(p.numel() for p in net.decoder.attention.parameters()))

# %% [markdown]
# 9.7 节的解码器每步也把一个 32 维的上下文与嵌入拼接后输入 GRU，所以 Bahdanau 模型只多出注意力的
# $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$：$2 \times 32 \times 32 + 32 = 2080$ 个参数，多了约 4%；
# Transformer 约多 29%。三者大小相近，比较的主要是结构，而不是参数多少。
# 这里的句子都很短（连同 `<eos>` 最多 10 个词元），一个固定长度的上下文变量也装得下，
# 所以不要指望注意力给小小的 GRU 模型带来大的差别；注意力主要帮助长句子。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert param_counts == {"seq2seq, no attention (9.7)": 47304, "Bahdanau attention (10.4)": 49384,
                        "Transformer (10.7)": 60872}

# %% [markdown]
# ## 小结
#
# * Bahdanau 注意力把解码器上一步的隐状态当作查询、把编码器各时间步的隐状态当作键和值，
#   每一步重新计算上下文变量，从而摆脱了固定长度上下文的瓶颈。
# * 解码器每一步的输入是上下文与上一个词元嵌入的拼接；因为查询依赖上一步状态，解码只能逐步进行。
# * 键的投影 $\mathbf{W}_k\mathbf{h}_t$ 和填充掩码不随解码步变化，在 `init_state` 里每个序列算一次即可，
#   结果与每步重算逐位相同。
# * BLEU 用 $n$ 元语法精确率和简短惩罚给译文打分；注意力权重画成热图，可以看到生成每个词时模型“看”的是源句子的哪些位置——
#   在这么短的句子上，权重离均匀分配 $1/T$ 不远。
# * 训练集中出现过的句子容易译对；`he's calm .` 这样需要组合泛化的句子是检验模型的更好试金石。
#
# ## 练习
#
# 以下练习互不依赖，只用到正文里的数据（`train_iter`、`src_vocab`、`tgt_vocab`）、超参数和训练好的 `net`。

# %% [markdown]
# ### 练习 1
#
# 把实验里的 GRU 换成 LSTM（长短期记忆网络，long short-term memory）：编码器和解码器都换。
# LSTM 的状态是一对张量 $(\mathbf{H}, \mathbf{C})$，注意查询应取隐状态 $\mathbf{H}$ 的最后一层，而不是记忆元 $\mathbf{C}$。
# 用正文的超参数（种子 0）训练 30 轮。定义 `ex1_net`（训练好的 `d2l.EncoderDecoder`）、`ex1_loss`（最后一轮的损失）
# 和 `ex1_rnn_params`（字典，`"gru"` 和 `"lstm"`：两种解码器循环层 `decoder.rnn` 的参数个数）。
# 与 GRU 相比，循环层的参数多了多少？为什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class LSTMSeq2SeqEncoder(d2l.Seq2SeqEncoder):
    """Seq2SeqEncoder with an LSTM: the state is the pair (H, C)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.rnn = nn.LSTM(embed_size, num_hiddens, num_layers, dropout=dropout)


class LSTMSeq2SeqAttentionDecoder(d2l.Seq2SeqAttentionDecoder):
    """Seq2SeqAttentionDecoder with an LSTM; the query is the top layer of H."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.rnn = nn.LSTM(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, state):
        values, (H, C), enc_valid_lens, keys, padding = state
        step_outputs, self._attention_weights = [], []
        for emb in self.embedding(X).transpose(0, 1):
            context, weights = self.attend(H[-1], keys, values, padding)
            rnn_input = torch.cat((context.squeeze(1), emb), dim=-1).unsqueeze(0)
            out, (H, C) = self.rnn(rnn_input, (H, C))
            step_outputs.append(out.squeeze(0))
            self._attention_weights.append(weights)
        outputs = self.dense(torch.stack(step_outputs, dim=1))
        return outputs, [values, (H, C), enc_valid_lens, keys, padding]


torch.manual_seed(0)
ex1_net = d2l.EncoderDecoder(
    LSTMSeq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout),
    LSTMSeq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout))
ex1_loss = d2l.train_seq2seq(ex1_net, train_iter, lr, 30, tgt_vocab, device).loss
ex1_rnn_params = {name: sum(p.numel() for p in model.decoder.rnn.parameters())
                  for name, model in (("gru", net), ("lstm", ex1_net))}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rnns = [m for m in ex1_net.modules() if isinstance(m, nn.RNNBase)]
print("recurrent layers:", [type(m).__name__ for m in rnns])
print(f"decoder recurrent parameters: {ex1_rnn_params} "
      f"(lstm / gru = {ex1_rnn_params['lstm'] / ex1_rnn_params['gru']:.3f}, expected 4/3)")
ex1_dev = next(ex1_net.parameters()).device
ex1_net.eval()
X_check, X_len_check, Y_check, _ = next(iter(train_iter))
with torch.no_grad():
    Y_hat, _ = ex1_net(X_check.to(ex1_dev), Y_check.to(ex1_dev), X_len_check.to(ex1_dev))
ex1_weights = torch.cat(ex1_net.decoder.attention_weights, dim=1)
print(f"after 30 epochs: LSTM loss {ex1_loss:.3f} (should be below 0.3); "
      f"attention rows sum to 1: {bool(torch.allclose(ex1_weights.sum(-1), torch.ones(1), atol=1e-5))}")
assert len(rnns) == 2 and all(isinstance(m, nn.LSTM) for m in rnns), \
    "both the encoder and the decoder should use nn.LSTM (and no GRU)"
assert Y_hat.shape == (X_check.shape[0], num_steps, len(tgt_vocab))
assert torch.allclose(ex1_weights.sum(-1), torch.ones_like(ex1_weights.sum(-1)), atol=1e-5)
assert 3 * ex1_rnn_params["lstm"] == 4 * ex1_rnn_params["gru"], \
    "keep the GRU's sizes: an LSTM layer has 4 gates where a GRU has 3"
assert ex1_loss < 0.3, "after 30 epochs the LSTM model should have learned something"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：解码器的循环层从 15744 个参数变成 20992 个，多了 5248 个，正好是 $4/3$ 倍（上面打印的 `ex1_rnn_params`）。
# 原因是每一层的每个“门”都有同样形状的一组权重：输入到隐状态的 $\mathbf{W}_x \in \mathbb{R}^{h \times d}$、
# 隐状态到隐状态的 $\mathbf{W}_h \in \mathbb{R}^{h \times h}$ 和偏置。GRU 有 3 组（重置门、更新门、候选隐状态），
# LSTM 有 4 组（输入门、遗忘门、输出门、候选记忆元），层数和宽度不变时参数之比就是 $4/3$。
# 30 轮后 LSTM 模型的损失（上面打印的值）已降到 0.3 以下，能学，但这个数并不说明 LSTM 更好或更差：
# 要比较，得用同样的轮数训练 GRU 模型（练习 2 里的加性注意力模型就是），并在没见过的句子上比 BLEU。

# %% [markdown]
# ### 练习 2
#
# 把解码器里的加性注意力换成 10.3 节的缩放点积注意力（这里查询和键都是 $h=32$ 维，可以直接做点积）。
# 提示：点积注意力的键不需要投影，`init_state` 里可以把缩放因子 $1/\sqrt{h}$ 预先乘进键，`attend` 里只剩一次批量矩阵乘法。
# 定义 `ex2_params`（字典，`"additive"` 和 `"dot"` 两种解码器注意力层的参数个数）、
# `ex2_losses`（同样两个键，用正文超参数、种子 0 各训练 30 轮后的损失）和 `ex2_dot_net`（训练好的点积版本）。
# 书中问的是“如何影响训练的效率”。计时的结果随机器和负载而变，所以这里数一个不随机器而变的量：
# 用 `torch.utils.flop_counter.FlopCounterMode` 数两种模型在一个训练批量上一次前向加反向传播的浮点运算次数（FLOPs），
# 存为 `ex2_flops`（同样两个键）。换成点积对训练效率有什么影响？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
from torch.utils.flop_counter import FlopCounterMode


class DotSeq2SeqAttentionDecoder(d2l.Seq2SeqAttentionDecoder):
    """Seq2SeqAttentionDecoder scoring with scaled dot products instead of additive attention."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.attention = d2l.DotProductAttention(dropout)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        values = enc_outputs[0].transpose(0, 1)
        keys = values / values.shape[-1] ** 0.5  # no projection; scale once per sequence
        positions = torch.arange(values.shape[1], device=values.device)
        padding = positions[None, :] >= enc_valid_lens[:, None]
        return [values, enc_outputs[1], enc_valid_lens, keys, padding]

    def attend(self, query, keys, values, padding):
        scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (batch_size, num_kv)
        weights = F.softmax(scores.masked_fill(padding, float("-inf")), dim=-1).unsqueeze(1)
        return torch.bmm(self.attention.dropout(weights), values), weights


def make_and_train(decoder_cls, num_epochs=30):
    torch.manual_seed(0)
    model = d2l.EncoderDecoder(
        d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout),
        decoder_cls(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout))
    return model, d2l.train_seq2seq(model, train_iter, lr, num_epochs, tgt_vocab, device).loss


def training_flops(model, batch):
    """FLOPs of one forward + backward pass on a training batch (on the model's device)."""
    X, X_valid_len, Y, _ = batch
    dev = next(model.parameters()).device
    model.train()
    with FlopCounterMode(display=False) as counter:
        Y_hat, _ = model(X.to(dev), Y.to(dev), X_valid_len.to(dev))
        Y_hat.sum().backward()
    model.zero_grad()
    return counter.get_total_flops()


additive_net, additive_loss = make_and_train(d2l.Seq2SeqAttentionDecoder)
ex2_dot_net, dot_loss = make_and_train(DotSeq2SeqAttentionDecoder)
ex2_params = {name: sum(p.numel() for p in model.decoder.attention.parameters())
              for name, model in (("additive", additive_net), ("dot", ex2_dot_net))}
ex2_losses = {"additive": additive_loss, "dot": dot_loss}
torch.manual_seed(0)
flop_batch = next(iter(train_iter))
ex2_flops = {name: training_flops(model, flop_batch)
             for name, model in (("additive", additive_net), ("dot", ex2_dot_net))}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print("attention parameters:", ex2_params)
print(f"FLOPs of one forward + backward pass: additive {ex2_flops['additive'] / 1e6:.1f} M, "
      f"dot product {ex2_flops['dot'] / 1e6:.1f} M "
      f"(dot / additive = {ex2_flops['dot'] / ex2_flops['additive']:.3f})")
print(f"after 30 epochs: additive loss {ex2_losses['additive']:.3f}, "
      f"dot product loss {ex2_losses['dot']:.3f} (both should be below 0.3)")
assert isinstance(ex2_dot_net.decoder.attention, d2l.DotProductAttention)
ex2_dev = next(ex2_dot_net.parameters()).device
ex2_dot_net.eval()
X_check, X_len_check, Y_check, _ = next(iter(train_iter))
with torch.no_grad():
    ex2_dot_net(X_check.to(ex2_dev), Y_check.to(ex2_dev), X_len_check.to(ex2_dev))
ex2_weights = torch.cat(ex2_dot_net.decoder.attention_weights, dim=1).cpu()
padded = torch.arange(num_steps)[None, None, :] >= X_len_check[:, None, None]
assert ex2_weights[padded.expand_as(ex2_weights)].abs().max() == 0, "mask the padding"
assert torch.allclose(ex2_weights.sum(-1), torch.ones(ex2_weights.shape[:2]), atol=1e-5)
assert max(ex2_losses.values()) < 0.3, "both models should learn within 30 epochs"
assert ex2_flops["dot"] < ex2_flops["additive"], "the dot product needs no W_q, W_k or w_v"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex2_params == {"additive": 2 * num_hiddens * num_hiddens + num_hiddens, "dot": 0}

# %% [markdown]
# 换成点积注意力，训练效率有什么变化？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：点积注意力没有参数（`ex2_params`：加性注意力的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$ 共
# $2 \times 32 \times 32 + 32 = 2080$ 个，点积为 0），每个解码步的运算也更少：加性注意力每步要算
# $\mathbf{W}_q\mathbf{s}$、与键相加、对 $b \times T \times h$ 个数取 $\tanh$、再乘 $\mathbf{w}_v$，
# 点积只需一次批量矩阵乘法（缩放已在 `init_state` 里乘进了键）。
# 但注意力只占整个模型运算的一小部分：上面数出的 FLOPs 里，点积版本只比加性版本少约 6%（比值约 0.94），
# 编码器和解码器的 GRU、嵌入和输出层的运算一点没少，所以一步训练的开销只略有下降
# （实测的时间还取决于机器，这么小的运算常常以调用开销为主）。
# 按轮数算的学习效率也差不多：训练 30 轮后两者的损失都降到 0.3 以下、彼此接近（上面打印的两个值）。
# 此外点积要求查询和键维数相同，加性注意力没有这个限制。

# %% [markdown]
# ### 练习 3
#
# 检查训练好的 `net` 的注意力权重：取 `train_iter` 的第一个小批量（先 `torch.manual_seed(0)`），
# 在评估模式下跑一次前向传播，把各解码步的权重拼成 `ex3_weights`，形状 (批量大小, 解码步数, 源序列长度)，
# 并把这个批量的源有效长度存为 `ex3_valid_lens`。每一步在有效源位置上的权重之和是否为 1？填充位置的权重是否**恰好**为 0？为什么是恰好？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
net.eval()
net_dev = next(net.parameters()).device
torch.manual_seed(0)
X_b, ex3_valid_lens, Y_b, _ = next(iter(train_iter))
with torch.inference_mode():
    enc_outputs = net.encoder(X_b.to(net_dev), ex3_valid_lens.to(net_dev))
    net.decoder(Y_b.to(net_dev), net.decoder.init_state(enc_outputs, ex3_valid_lens.to(net_dev)))
ex3_weights = torch.cat(net.decoder.attention_weights, dim=1).cpu()  # (batch, steps, num_kv)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex3_weights.shape == (batch_size, num_steps, num_steps), ex3_weights.shape
assert ex3_valid_lens.shape == (batch_size,) and int(ex3_valid_lens.min()) >= 1
row_sums = ex3_weights.sum(dim=-1)
pad = (torch.arange(num_steps)[None, None, :] >= ex3_valid_lens[:, None, None]).expand_as(
    ex3_weights)
print(f"every |row sum - 1| < 1e-5: {bool(((row_sums - 1).abs() < 1e-5).all())}; "
      f"{int(pad.sum())} padded entries, largest weight there: {float(ex3_weights[pad].max())} "
      f"(should be 0.0); every valid position > 0: {bool((ex3_weights[~pad] > 0).all())}")
assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5)
assert pad.any() and ex3_weights[pad].max().item() == 0.0
assert ex3_weights[~pad].min().item() > 0  # valid positions all get some weight

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：是的。上面打印的结果：每一行在有效位置上的权重之和与 1 的差都小于 $10^{-5}$（只差浮点舍入误差），
# 3830 个填充位置上最大的权重是 `0.0`，而每个有效位置都分到了大于 0 的权重。
# 之所以是恰好，而不是“很小”，是因为掩码把填充位置的分数设成 $-\infty$，而 $\exp(-\infty) = 0$ 在浮点数里也精确成立；
# 书中的 `masked_softmax` 填的是 $-10^6$，权重是 $\exp(-10^6 - \text{最大分数})$，在 float32 里也会下溢成 0，
# 但那只是下溢的结果；如果填的负数不够大（比如 $-10$），填充位置就会分到一个小但不为零的权重。

# %% [markdown]
# ### 练习 4
#
# 先在正文“逐步解码”的探索器里选 `i'm home .`，把解码步滑块一格一格拖到底：一共几步？热图每多出一行，
# 就用了一个新的查询。本节把键的投影 $\mathbf{W}_k\mathbf{h}_t$ 移到了 `init_state`，为什么不能同样把查询的投影 $\mathbf{W}_q\mathbf{s}_{t'-1}$
# 也预先算好？用 `predict_seq2seq` 翻译一个句子时（它每生成一个词元就调用一次解码器），`W_k` 和 `W_q` 各被调用几次？
# 用前向钩子数一数翻译 `"i'm home ."` 时的调用次数，存为字典 `ex4_calls`（键 `"W_k"`、`"W_q"`），
# 并把生成的词元数（含 `<eos>`）存为 `ex4_steps`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex4_calls = {"W_k": 0, "W_q": 0}
hooks = [getattr(net.decoder.attention, name).register_forward_hook(
    lambda *args, name=name: ex4_calls.__setitem__(name, ex4_calls[name] + 1))
    for name in ex4_calls]
_, ex4_weight_seq = d2l.predict_seq2seq(net, "i'm home .", src_vocab, tgt_vocab, num_steps,
                                        next(net.parameters()).device, True)
for hook in hooks:
    hook.remove()
ex4_steps = len(ex4_weight_seq)  # one decoder call per generated token, <eos> included

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
print(f"translating \"i'm home .\": {ex4_steps} decoding steps, calls {ex4_calls}")
assert ex4_calls["W_k"] == 1, "init_state projects the keys once per sentence"
assert ex4_calls["W_q"] == ex4_steps, "the query is projected once per decoding step"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：查询 $\mathbf{s}_{t'-1}$ 是解码器上一步的隐状态，要等上一步的 GRU 算完才知道，
# 所以它的投影只能在每一步现算；键 $\mathbf{h}_t$ 是编码器的输出，解码开始前就全部已知，而且整个解码过程中不变。
# `predict_seq2seq` 只在开始时调用一次 `init_state`，之后每步只调用解码器的 `forward`。
# 上面数出的结果正是这样：翻译 `i'm home .` 时解码器生成了 `je suis chez moi .` 和 `<eos>`，共 6 步，
# `W_k` 只被调用 1 次（在 `init_state` 里），`W_q` 被调用 6 次，每个解码步 1 次。
# 如果像书中那样每步都调用 `AdditiveAttention`，`W_k` 也会被调用与步数一样多的次数。
