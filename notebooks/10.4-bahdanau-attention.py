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
# $\mathbf{c}_{t'}$”。解码器的初始状态仍是编码器的最终隐状态。成批计算时各张量的形状如下
# （$b$ 为批量大小，$T$ 为源序列长度 `num_steps`，$L$ 为层数）：
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
# 如果每步都调用一次 10.3 节的 `AdditiveAttention`，这两样会在每个解码步重算一遍（训练时反向传播也跟着重算），
# 算的却是同一个结果。所以 `init_state` 在每个序列开始时把它们各算**一次**，放进状态里：
#
# * 状态的前三项与书中相同：`[enc_outputs, hidden_state, enc_valid_lens]`，其中 `enc_outputs`
#   已换成批量在前的布局 $(b, T, h)$，直接作为值；
# * 之后多两项预先算好的张量：投影后的键 `keys` $=\mathbf{W}_k\mathbf{h}_t$，形状 $(b, T, h)$，
#   和布尔掩码 `padding`，形状 $(b, T)$，填充位置为 `True`。
#
# 每一步只剩与查询有关的部分，由 `attend` 方法完成：它用的正是 `self.attention` 里的
# `W_q`、`w_v` 和 `dropout`，数学与 `AdditiveAttention` 完全相同，只是键已经投影过了。

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
            if (enc_valid_lens < 1).any():
                raise ValueError("every source sequence needs enc_valid_lens >= 1 (its <eos> "
                                 "at least); drop empty sequences before decoding")
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
# 用一个小批量检查形状：4 个样本，源序列和目标序列都是 7 步，词表大小 10，嵌入 8 维，
# 隐藏单元 16 个，2 层 GRU。

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
assert output.shape == (4, 7, 10) and new_state[1].shape == (2, 4, 16)
assert len(decoder.attention_weights) == 7
assert decoder.attention_weights[0].shape == (4, 1, 7)
# padded source positions get exactly zero attention
assert decoder.attention_weights[0][3, 0, 1:].abs().max() == 0

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
assert torch.equal(context, context_10_3) and torch.equal(weights, weights_10_3)

calls = []
hook = decoder.attention.W_k.register_forward_hook(lambda *args: calls.append(1))
decoder(X, decoder.init_state(encoder(X), valid_lens))
hook.remove()
print(f"W_k calls for {X.shape[1]} decoding steps: {len(calls)}")
assert len(calls) == 1

# %% [markdown]
# 两条路径逐位相同：做的是同一组运算，只是 $\mathbf{W}_k \mathbf{h}_t$ 从每步一次变成了每个序列一次。
# 一个训练批量（64 个样本、10 个源位置、32 个隐藏单元、最多 10 个解码步）上，
# 这省下了最多 9 次 $640 \times 32$ 与 $32 \times 32$ 的矩阵乘法，以及反向传播里对应的梯度计算。
# 规模这么小的模型，每个运算的耗时主要是固定开销（Python 调用、算子分派、为反向传播记账），
# 所以每个解码步少一个运算，就直接少一份开销。
#
# ## 数据清洗：一个词只有一种写法
#
# 训练之前先看一眼数据。fra-eng 的法语句子里，撇号（apostrophe）有两种写法：键盘上的 `'` 和排版用的弯撇号 `’`（U+2019）；
# 感叹号、问号前的空格也有普通空格、不间断空格（U+00A0）、窄不间断空格（U+202F）和细空格（U+2009）几种。
# 人看起来一模一样，词表却只认字符：`j'ai` 和 `j’ai` 会成为两个互不相干的词元，各自只有一部分训练样本；
# `recule !` 里的细空格会让 `recule` 后面粘上一个看不见的字符。更糟的是，模型可能把 `i lost .` 译成 `j’ai perdu .`，
# 人读来完全正确，BLEU 却判它与参考译文 `j'ai perdu .` 不同。
#
# 所以 `d2l.preprocess_nmt` 在原书的预处理（转小写、在标点前加空格）之前多做两步清洗：
# 把弯撇号和法语书名号 `« »` 换成 ASCII 的 `'` 和 `"`，把各种空格换成普通空格并合并连续的空格。
# 下面数一数训练用的前 600 个句子对里这些字符出现了多少次，以及清洗前后几个常见词的写法：

# %%
raw = "\n".join(d2l.read_data_nmt().split("\n", 600)[:600])
variants = {"\u2019": "right single quote U+2019", "\u202f": "narrow no-break space U+202F",
            "\u2009": "thin space U+2009", "\xa0": "no-break space U+00A0"}
for char, name in variants.items():
    print(f"{name:29s} {raw.count(char):3d}")
raw_words = collections.Counter(
    word.lower().strip(".!?") for line in raw.split("\n") for word in line.split("\t")[1].split())
_, cleaned_target = d2l.tokenize_nmt(d2l.preprocess_nmt(raw))
cleaned_words = collections.Counter(token for line in cleaned_target for token in line)
for word in ("j'ai", "c'est", "l'ai"):
    curly = word.replace("'", "\u2019")
    print(f"raw: {word} {raw_words[word]:2d} + {curly} {raw_words[curly]:2d}   ->   "
          f"cleaned: {word} {cleaned_words[word]:2d}")
    assert cleaned_words[word] == raw_words[word] + raw_words[curly] and not cleaned_words[curly]
assert not any(set(token) & set(variants) for token in cleaned_words)  # no variant is left
assert raw.count("\u2019") == 13 and raw.count("\u2009") == 3

# %% [markdown]
# 清洗以后，`j'ai` 的 32 次出现都归到同一个词元上。目标语言的词表也因此少了一个词元（`j’ai` 和 `j'ai` 合并了）。
# 这一步不改变任何超参数，却让“训练集里的句子能逐字译对”不再取决于模型在两种撇号之间怎么选。
#
# ## 训练
#
# 训练循环 `d2l.train_seq2seq` 与 9.7 节的接口相同，内部有几处不改变所算内容的提速：
#
# * **数据迭代器**一次用下标切出整个小批量，而不是像 `DataLoader` 那样逐个样本取出再拼接；
# * **Adam** 使用融合实现（`fused=True`），所有参数的更新在一个内核里完成，而不是每个参数十来个小运算；
#   在 CPU 上，训练开始时还把所有参数搬进同一块连续内存，每个参数成为其中一段的视图（view），
#   梯度也一样。于是 Adam 和梯度清零每步只处理一个张量，而不是几十个。Adam 逐元素更新，算出的数值不变；
# * **跳过整批都是填充的目标步。** 这 600 个句子很短，却都被填充到 10 步。
#   一个批量里最长的目标之后的那些步，对每个样本都是填充：损失函数把它们屏蔽了，
#   而解码器是因果的（causal，第 $t'$ 步的输出只依赖前面的输入），截掉它们不会改变前面任何一步的输出。
#   训练循环把损失按原来的步数重新平均，所以损失值和梯度都与不截断时相同。
#   （源序列不能这样截：GRU 编码器会一直读到第 10 步，最终隐状态依赖这些填充词元。
#   10.7 节的 Transformer 编码器可以，那里会讲原因。）
#
# 下面看一下截断能省多少：每个批量实际需要的目标步数平均是多少。

# %%
batch_size, num_steps = 64, 10
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
torch.manual_seed(0)
longest = [int(Y_valid_len.max()) for _, _, _, Y_valid_len in train_iter]
mean_longest = sum(longest) / len(longest)
print(f"batches per epoch: {len(longest)}, decoder steps per batch: "
      f"{mean_longest:.1f} instead of {num_steps}")
assert len(longest) == 10 and mean_longest < num_steps

# %% [markdown]
# 这些张量非常小（一次注意力只涉及 $64 \times 10 \times 32$ 个数），多线程能分到的活很少；而 CPU 被别的程序占用时，
# 每个小运算都要等所有线程到齐，反而可能慢很多。所以训练前把 PyTorch 的算子内线程数设为 1。
#
# 下面这个计时函数测一次前向加反向传播的时间（取多次的中位数），练习 2 和 10.7 节会用它比较不同的模型：

# %%
#@save
def time_training_step(net, batch, repeats=20):
    """Median seconds of one forward + backward pass of an encoder-decoder on a training batch.

    batch: (X, X_valid_len, Y, Y_valid_len) as load_data_nmt yields it; Y is the decoder input.
    """
    X, X_valid_len, Y, _ = batch
    net.train()
    timer = d2l.Timer()
    for _ in range(repeats):
        timer.start()
        Y_hat, _ = net(X, Y, X_valid_len)
        Y_hat.sum().backward()
        timer.stop()
    return sorted(timer.times)[repeats // 2]


# %% [markdown]
# 超参数与书中相同：嵌入 32 维、32 个隐藏单元、2 层、暂退概率（dropout）0.1、批量 64、每句 10 步、
# 学习率 0.005、250 轮。编码器沿用 9.7 节的 `Seq2SeqEncoder`。

# %%
#@save
def bahdanau_net(src_vocab, tgt_vocab, embed_size=32, num_hiddens=32, num_layers=2, dropout=0.1):
    """This section's translator (the book's sizes): Seq2SeqEncoder + Seq2SeqAttentionDecoder."""
    encoder = d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
    decoder = Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers,
                                      dropout)
    return d2l.EncoderDecoder(encoder, decoder)


BAHDANAU_TRAINING = {"batch_size": 64, "num_steps": 10, "lr": 0.005, "num_epochs": 250}


# %%
torch.set_num_threads(1)
torch.manual_seed(0)
embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
lr, num_epochs, device = BAHDANAU_TRAINING["lr"], BAHDANAU_TRAINING["num_epochs"], d2l.try_gpu()
net = bahdanau_net(src_vocab, tgt_vocab, embed_size, num_hiddens, num_layers, dropout)
result = d2l.train_seq2seq(net, train_iter, lr, num_epochs, tgt_vocab, device)
print(f"final loss below 0.05: {result.loss < 0.05}")
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
assert abs(example - (3 / 4) ** 0.5 * (1 / 3) ** 0.25) < 1e-12 and round(example, 3) == 0.658
assert d2l.bleu("il est .", "il est calme .", k=2) < 1  # too short: the brevity penalty bites
assert (round((1 / 3) ** 0.5, 3), round((1 / 3) ** 0.25, 3)) == (0.577, 0.760)

# %% [markdown]
# 用训练好的模型逐句贪心翻译（greedy），并算出 BLEU。10.7 节还要对 Transformer 做同样的事，
# 所以把“逐句翻译、打分、收集注意力权重”写成一个函数：

# %%
#@save
def translate_and_score(net, engs, fras, src_vocab, tgt_vocab, num_steps, device, verbose=True):
    """Translate each sentence of `engs` greedily and score it against `fras` with BLEU (k=2).

    Prints one line per sentence and the mean BLEU when `verbose`. Returns (translations, bleus,
    attention_weight_seqs): per sentence, predict_seq2seq's list of per-step attention weights.
    """
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
# 下面翻译四个英语句子。其中三句原样出现在训练数据里；第三句 `he's calm .` 不在训练数据中，后面专门讨论。
# 训练结果会随随机种子、也随浮点运算的顺序而变：PyTorch 在 CPU 上按处理器支持的向量指令选择计算内核
# （AVX-512、AVX2，或不用向量指令的通用内核），不同内核里浮点加法的顺序不同，舍入误差也就不同。
# 我们用本节的设置把种子 0–4 在这三种内核下各训练了一次（共 15 次）：训练集里的三句每次都逐字译对（45/45），
# 下面对它们断言精确的译文；`he's calm .` 一次也没有译对（0/15），所以对它只断言 BLEU 小于 1，
# 它的译文（下面这一格输出的这一行）因种子和 CPU 而异。

# %%
#@save
# The book's four test sentences and their references; UNSEEN_ENG is not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."

# %%
# NBVAL_IGNORE_OUTPUT
# The he's calm . line depends on the CPU's floating-point kernels; the asserts hold for all.
engs, fras = list(TEST_ENGS), list(TEST_FRAS)
translations, bleus, attention_weight_seqs = translate_and_score(
    net, engs, fras, src_vocab, tgt_vocab, num_steps, device)
# the three training sentences come out exactly right
assert [translations[i] for i in (0, 1, 3)] == ["va !", "j'ai perdu .", "je suis chez moi ."]
assert [bleus[i] for i in (0, 1, 3)] == [1.0, 1.0, 1.0]
# he's calm . varies between runs (see below); in no run we measured was it right
assert bleus[2] < 1

# %% [markdown]
# ## 可视化
#
# 取 `i'm home .` 翻译时每个解码步的注意力权重，画成热图：行是生成的词元（查询，最后一行是生成 `<eos>` 的那一步），
# 列是源词元（键），只画有效的源位置（包括 `<eos>`）。

# %%
src_tokens = engs[-1].split() + ["<eos>"]
out_tokens = translations[-1].split() + ["<eos>"]
# predict_seq2seq keeps, per step, the decoder's list of weights: one (1, 1, num_kv) tensor
all_weights = torch.cat([step[0] for step in attention_weight_seqs[-1]], dim=0).squeeze(1).cpu()
attention_weights = all_weights[:, :len(src_tokens)]  # (output steps, source tokens)
d2l.show_heatmaps(attention_weights.reshape(1, 1, *attention_weights.shape),
                  xlabel="Source tokens (keys)", ylabel="Generated tokens (queries)",
                  figsize=(4, 4), xticklabels=src_tokens, yticklabels=out_tokens)
d2l.plt.show()

# %% [markdown]
# 下面把图里的数读出来：每个生成词元最看重哪个源词元、权重多大，以及分给 `i'm` 的权重。

# %%
# NBVAL_IGNORE_OUTPUT
# The weights themselves vary with the seed and the floating-point kernels; the asserts hold for all.
for out_token, row in zip(out_tokens, attention_weights):
    print(f"{out_token:6s} -> {src_tokens[int(row.argmax())]:6s} {float(row.max()):.2f}   "
          f"(weight on i'm {float(row[0]):.2f})")
assert out_tokens[:4] == ["je", "suis", "chez", "moi"]
assert torch.allclose(attention_weights.sum(-1), torch.ones(len(out_tokens)), atol=1e-5)
assert all_weights[:, len(src_tokens):].abs().max() == 0  # padding gets exactly zero weight
row_gap = (attention_weights[:, None] - attention_weights[None]).abs().amax(-1)
print(f"largest difference between two steps' weights on one source token: "
      f"{float(row_gap.max()):.2f}")
assert row_gap.max() > 0.05  # the steps do not all look at the source the same way

# %% [markdown]
# 每一行的权重和为 1，填充位置（图中没画）的权重严格为 0，不同的生成步给同一个源词元的权重也不同：
# 每一步确实在用不同的权重重新组合源句子——这是固定上下文变量做不到的。
# 至于哪一步最看重哪个源词元、分到多少，随随机种子和 CPU 内核而变，上面打印的只是这一次的结果。
# 也不必指望它像机器翻译论文插图里那样整齐地沿对角线排列：GRU 编码器在 `.` 和 `<eos>` 处的隐状态
# 已经读完了整句话，本身就概括了 `home`，生成 `chez moi` 时看这些位置也能得到需要的信息。

# %% [markdown]
# ## 泛化：训练集中没有的句子
#
# 四个测试句子里有三个原样出现在训练数据中（`go .`、`i lost .`、`i'm home .`），
# 模型只要“记住”就能译对。`he's calm .` 却**不在**这 600 个句子对里：

# %%
raw = "\n".join(d2l.read_data_nmt().split("\n", 600)[:600])
source, target = d2l.tokenize_nmt(d2l.preprocess_nmt(raw), num_examples=600)
pairs = [(" ".join(s), " ".join(t)) for s, t in zip(source, target)]
print("he's calm . in training data:", any(s == "he's calm ." for s, _ in pairs))
for s, t in pairs:
    if s.startswith("he's") or "calm ." in s:
        print(f"  {s:14s} -> {t}")
assert not any(s == "he's calm ." for s, _ in pairs)
assert all(s in {s for s, _ in pairs} for s in ("go .", "i lost .", "i'm home ."))
hes = [t for s, t in pairs if s.startswith("he's")]
calm = [t for s, t in pairs if s.endswith(" calm .")]
print(f"{len(hes)} pairs 'he's X .', all translated 'il est ...': "
      f"{all(t.startswith('il est') for t in hes)}; {len(calm)} pairs with 'calm', "
      f"all with 'calme': {all('calme' in t for t in calm)}")
assert len(hes) == 6 and all(t.startswith("il est") for t in hes)
assert len(calm) == 5 and all("calme" in t for t in calm)

# %% [markdown]
# 要译对它，模型得把两条线索组合起来：`he's X .` → `il est X .`（上面 6 个句子对）
# 以及 `calm` → `calme`（5 个句子对）。这需要真正的泛化，而不是记忆。
# 在上面说的 15 次训练（种子 0–4 × 三种 CPU 内核）里，这一句一次也没译对：
#
# | `he's calm .` 的译文 | 次数 | BLEU |
# |---|---|---|
# | `il est bon .` | 9 | 0.658 |
# | `il est paresseux .` | 3 | 0.658 |
# | `il est riche .` | 1 | 0.658 |
# | `il essaye .` | 1 | 0 |
# | `ne <unk> pas .` | 1 | 0 |
#
# 15 次里有 13 次保留了 `il est X .` 的句式，却把 `calm` 换成了训练集里见过的形容词（BLEU 0.658，就是上面算过的例子）；
# 另外两次连句式都没保住。模型学会了句式，却没有把 `calm` → `calme` 这条线索用上。
# 一个合理的猜测是数据太少：600 个句子、250 轮训练，模型很容易记住训练句子，
# 而不是学会“主语 + est + 形容词”这样的规律。
#
# 四个句子毕竟太少，判断不了注意力到底有没有帮助。本库的基准模块（`python -m d2l_attention.bench --heldout --seeds 3`）
# 做了一个更像样的比较：
# 在前 5000 个句子对上训练 30 轮，再翻译其后 500 个从未见过的英语句子，用语料级 BLEU（corpus BLEU，
# 把所有句子的 $n$ 元语法匹配数和长度先加总再套用上面的公式）打分，每个模型 3 个随机种子：
#
# | 模型 | 500 个没见过的句子对：语料 BLEU 均值（最小–最大） | 最后 500 个训练句子对 |
# |---|---|---|
# | 无注意力的 seq2seq（9.7 节的解码器，固定上下文变量） | 0.381（0.372–0.393） | 0.412 |
# | Bahdanau 注意力（本节） | 0.398（0.394–0.403） | 0.427 |
# | Transformer（10.7 节） | 0.453（0.449–0.459） | 0.547 |
#
# 三个模型的嵌入和隐藏单元都是 32 维，训练设置相同（批量 64、每句 10 步、学习率 0.005、30 轮）。
# 在这三个种子里，Bahdanau 模型的每一次都比无注意力模型的每一次好，但差距（约 0.02）不比种子之间的起伏大多少：
# 在这个规模上，注意力对小小的 GRU 模型只有一点帮助；换成完全基于注意力的 Transformer，差距就明显了（约 0.07）。
# 这张表来自一台机器、三个种子，是一个分布的粗略样本，不是定论。
#
# 加大训练数据和训练轮数（`--train-pairs 20000 --heldout-epochs 50`，每个模型要花上不少时间）以后，
# Bahdanau 与无注意力模型之间的这点差距并没有变清楚，反而消失了：同样三个种子，无注意力的 seq2seq 得 0.406（0.392–0.421），
# Bahdanau 得 0.408（0.392–0.427），两个范围几乎重合；Transformer 得 0.518（0.490–0.536），领先更多。
# 一个可能的原因是这里的句子都很短（连同 `<eos>` 最多 10 个词元）：这么短的句子，一个固定长度的上下文变量也装得下，
# 而注意力主要帮助长句子。Bahdanau 等人的原始实验里，句子越长，注意力模型领先得越多。

# %% [markdown]
# ## 小结
#
# * Bahdanau 注意力把解码器上一步的隐状态当作查询、把编码器各时间步的隐状态当作键和值，
#   每一步重新计算上下文变量，从而摆脱了固定长度上下文的瓶颈。
# * 解码器每一步的输入是上下文与上一个词元嵌入的拼接；因为查询依赖上一步状态，解码只能逐步进行。
# * 键的投影 $\mathbf{W}_k\mathbf{h}_t$ 和填充掩码不随解码步变化，在 `init_state` 里每个序列算一次即可，
#   结果与每步重算逐位相同。
# * BLEU 用 $n$ 元语法精确率和简短惩罚给译文打分；注意力权重画成热图，可以看到生成每个词时模型“看”的是源句子的哪些位置。
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
# 用正文的超参数（种子 0）训练 30 轮。定义 `ex1_net`（训练好的 `d2l.EncoderDecoder`）和 `ex1_loss`（最后一轮的损失）。
# 与 GRU 相比，循环层的参数多了多少？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
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
lstm_params = sum(p.numel() for p in ex1_net.decoder.rnn.parameters())
gru_params = sum(p.numel() for p in net.decoder.rnn.parameters())
print(f"decoder recurrent parameters: LSTM {lstm_params}, GRU {gru_params} "
      f"(ratio {lstm_params / gru_params:.3f})")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rnns = [m for m in ex1_net.modules() if isinstance(m, nn.RNNBase)]
assert len(rnns) == 2 and all(isinstance(m, nn.LSTM) for m in rnns), \
    "both the encoder and the decoder should use nn.LSTM (and no GRU)"
ex1_net.eval()
X_check, X_len_check, Y_check, _ = next(iter(train_iter))
with torch.no_grad():
    Y_hat, _ = ex1_net(X_check.to(device), Y_check.to(device), X_len_check.to(device))
assert Y_hat.shape == (X_check.shape[0], num_steps, len(tgt_vocab))
ex1_weights = torch.cat(ex1_net.decoder.attention_weights, dim=1)
assert torch.allclose(ex1_weights.sum(-1), torch.ones_like(ex1_weights.sum(-1)), atol=1e-5)
print(f"after 30 epochs: LSTM loss {ex1_loss:.3f}")
lstm_n = sum(p.numel() for p in ex1_net.decoder.rnn.parameters())
gru_n = sum(p.numel() for p in net.decoder.rnn.parameters())
assert 3 * lstm_n == 4 * gru_n, "keep the GRU's sizes: an LSTM layer has 4 gates where a GRU has 3"
assert ex1_loss < 0.3, "after 30 epochs the LSTM model should have learned something"

# %% [markdown]
# ### 练习 2
#
# 把解码器里的加性注意力换成 10.3 节的缩放点积注意力（这里查询和键都是 $h=32$ 维，可以直接做点积）。
# 提示：点积注意力的键不需要投影，`init_state` 里可以把缩放因子 $1/\sqrt{h}$ 预先乘进键，`attend` 里只剩一次批量矩阵乘法。
# 定义 `ex2_params`（字典，`"additive"` 和 `"dot"` 两种解码器注意力层的参数个数）、
# `ex2_losses`（同样两个键，用正文超参数、种子 0 各训练 30 轮后的损失）和 `ex2_dot_net`（训练好的点积版本）。
# 再用 `time_training_step` 比较两者一次前向加反向传播的时间：换成点积对训练效率有什么影响？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# NBVAL_IGNORE_OUTPUT
### BEGIN SOLUTION
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


additive_net, additive_loss = make_and_train(d2l.Seq2SeqAttentionDecoder)
ex2_dot_net, dot_loss = make_and_train(DotSeq2SeqAttentionDecoder)
ex2_params = {name: sum(p.numel() for p in model.decoder.attention.parameters())
              for name, model in (("additive", additive_net), ("dot", ex2_dot_net))}
ex2_losses = {"additive": additive_loss, "dot": dot_loss}
torch.manual_seed(0)
timing_batch = next(iter(train_iter))
ex2_step_ms = {name: 1000 * time_training_step(model, timing_batch)
               for name, model in (("additive", additive_net), ("dot", ex2_dot_net))}
print(f"one forward + backward pass: additive {ex2_step_ms['additive']:.1f} ms, "
      f"dot product {ex2_step_ms['dot']:.1f} ms")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print("attention parameters:", ex2_params)
print(f"after 30 epochs: additive loss {ex2_losses['additive']:.3f}, "
      f"dot product loss {ex2_losses['dot']:.3f}")
assert isinstance(ex2_dot_net.decoder.attention, d2l.DotProductAttention)
ex2_dot_net.eval()
X_check, X_len_check, Y_check, _ = next(iter(train_iter))
with torch.no_grad():
    ex2_dot_net(X_check.to(device), Y_check.to(device), X_len_check.to(device))
ex2_weights = torch.cat(ex2_dot_net.decoder.attention_weights, dim=1).cpu()
padded = torch.arange(num_steps)[None, None, :] >= X_len_check[:, None, None]
assert ex2_weights[padded.expand_as(ex2_weights)].abs().max() == 0, "mask the padding"
assert torch.allclose(ex2_weights.sum(-1), torch.ones(ex2_weights.shape[:2]), atol=1e-5)
assert max(ex2_losses.values()) < 0.3, "both models should learn within 30 epochs"
### BEGIN HIDDEN TESTS
assert ex2_params == {"additive": 2 * num_hiddens * num_hiddens + num_hiddens, "dot": 0}
### END HIDDEN TESTS

# %% [markdown]
# 换成点积注意力，训练效率有什么变化？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：点积注意力没有参数（`ex2_params`：加性注意力的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$ 共
# $2 \times 32 \times 32 + 32 = 2080$ 个，点积为 0），每个解码步的运算也更少：加性注意力每步要算
# $\mathbf{W}_q\mathbf{s}$、与键相加、对 $b \times T \times h$ 个数取 $\tanh$、再乘 $\mathbf{w}_v$，
# 点积只需一次批量矩阵乘法（缩放已在 `init_state` 里乘进了键）。这些小运算的耗时以固定开销为主，
# 所以注意力这一部分更省时；但每个解码步里 GRU、拼接和输出层的开销不变，整体的差别不大，
# `ex2_step_ms` 给出了实测的时间（具体数字随硬件和负载而变）。
# 训练 30 轮后两者的损失都已降到 0.3 以下，说明在这个小任务上，去掉注意力的参数并不妨碍学习；
# 但点积要求查询和键维数相同，加性注意力则没有这个限制。

# %% [markdown]
# ### 练习 3
#
# 检查训练好的 `net` 的注意力权重：取 `train_iter` 的第一个小批量（先 `torch.manual_seed(0)`），
# 在评估模式下跑一次前向传播，把各解码步的权重拼成 `ex3_weights`，形状 (批量大小, 解码步数, 源序列长度)，
# 并把这个批量的源有效长度存为 `ex3_valid_lens`。每一步在有效源位置上的权重之和是否为 1？填充位置的权重是否**恰好**为 0？为什么是恰好？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
net.eval()
torch.manual_seed(0)
X_b, ex3_valid_lens, Y_b, _ = next(iter(train_iter))
with torch.inference_mode():
    enc_outputs = net.encoder(X_b.to(device), ex3_valid_lens.to(device))
    net.decoder(Y_b.to(device), net.decoder.init_state(enc_outputs, ex3_valid_lens.to(device)))
ex3_weights = torch.cat(net.decoder.attention_weights, dim=1).cpu()  # (batch, steps, num_kv)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex3_weights.shape == (batch_size, num_steps, num_steps), ex3_weights.shape
assert ex3_valid_lens.shape == (batch_size,) and int(ex3_valid_lens.min()) >= 1
row_sums = ex3_weights.sum(dim=-1)
pad = (torch.arange(num_steps)[None, None, :] >= ex3_valid_lens[:, None, None]).expand_as(
    ex3_weights)
print(f"row sums within 1e-5 of 1: {bool(((row_sums - 1).abs() < 1e-5).all())}; "
      f"{int(pad.sum())} padded entries, largest weight there: {float(ex3_weights[pad].max())}")
assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5)
assert pad.any() and ex3_weights[pad].max().item() == 0.0
assert ex3_weights[~pad].min().item() > 0  # valid positions all get some weight

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：每一行在有效位置上的权重之和与 1 的差不超过浮点舍入误差，填充位置的权重恰好为 0。
# 之所以是恰好，而不是“很小”，是因为掩码把填充位置的分数设成 $-\infty$，而 $\exp(-\infty) = 0$ 在浮点数里也精确成立；
# 如果像有些实现那样填一个很大的负数（如 $-10^6$），权重会是一个极小但不为零的数。

# %% [markdown]
# ### 练习 4
#
# 本节把键的投影 $\mathbf{W}_k\mathbf{h}_t$ 移到了 `init_state`，为什么不能同样把查询的投影 $\mathbf{W}_q\mathbf{s}_{t'-1}$
# 也预先算好？用 `predict_seq2seq` 翻译一个句子时（它每生成一个词元就调用一次解码器），`W_k` 和 `W_q` 各被调用几次？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：查询 $\mathbf{s}_{t'-1}$ 是解码器上一步的隐状态，要等上一步的 GRU 算完才知道，
# 所以它的投影只能在每一步现算；键 $\mathbf{h}_t$ 是编码器的输出，解码开始前就全部已知，而且整个解码过程中不变。
# `predict_seq2seq` 只在开始时调用一次 `init_state`，之后每步只调用解码器的 `forward`，
# 所以翻译一个句子时 `W_k` 只被调用 1 次，`W_q` 则每个解码步调用 1 次：生成了 $n$ 个词元（含 `<eos>`）就是 $n$ 次。
# 如果每步都调用 `AdditiveAttention`，`W_k` 也会被调用 $n$ 次。
