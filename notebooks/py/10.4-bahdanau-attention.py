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
# 句子一长，这个向量就成了瓶颈：它要装下整句话，而翻译第 3 个词和第 8 个词时，真正相关的源词并不相同。
# Bahdanau 等人在 2014 年提出的办法是：**让解码器在每一步自己决定看源句子的哪些位置。**
# 上下文变量不再固定，而是每一步用注意力汇聚重新算一次——这正是 10.3 节加性注意力的用武之地。
#
# 本节先用一张图走一遍解码的一步，再写出公式和代码，照书中的做法在 fra-eng 上训练它；
# 然后在一个词序会变、正确对齐已知的翻译任务上看两件事：训练好的注意力落在哪里（单向和双向编码器不一样），
# 以及没有注意力时，句子越长翻译越差——论文图 2 的缩小版。

# %%
import time

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.explore import bahdanau_attention

# %% [markdown]
# ## 解码的一步
#
# ![The Bahdanau encoder-decoder at one decoding step](figures/10.4-bahdanau-step.svg)
#
# 图 10.4.1 Bahdanau 注意力在解码时间步 $t'$ 的计算：以上一步的解码器状态 $\mathbf{s}_{t'-1}$ 为查询、编码器隐状态 $\mathbf{h}_t$ 为键和值，得到上下文变量 $\mathbf{c}_{t'}$，与 $y_{t'-1}$ 的嵌入拼接后输入解码器 RNN（线宽表示注意力权重）
#
# 沿着图从下往上读一步：
# 1. 编码器读完源句子，每个位置留下一个隐状态 $\mathbf{h}_1, \ldots, \mathbf{h}_T$（图下方一排），它们既是键也是值。
# 2. 解码器拿出上一步的状态 $\mathbf{s}_{t'-1}$ 当查询，给每个 $\mathbf{h}_t$ 打一个分，softmax 成权重（图里的线宽：0.57 那条最粗）。
# 3. 按权重把 $\mathbf{h}_t$ 加起来，得到这一步专用的上下文 $\mathbf{c}_{t'}$：它主要是 0.57 那个位置的内容。
# 4. $\mathbf{c}_{t'}$ 与上一个输出词的嵌入拼在一起送进解码器 RNN，得到新状态 $\mathbf{s}_{t'}$ 和这一步的词；
#    $\mathbf{s}_{t'}$ 又是下一步的查询，于是下一步的权重可以落到别的位置上。
#
# 9.7 节的解码器没有第 2、3 步：每一步拿到的都是同一个上下文。下面把这四步写成公式。
#
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
# 解码器的初始状态与 9.7 节一样，是编码器的最终隐状态。
# Bahdanau 等人的编码器是双向 RNN（bidirectional RNN），$\mathbf{h}_t$ 拼接了从左读到 $t$
# 和从右读到 $t$ 的两个隐状态；书中和这里都沿用 9.7 节的单向 GRU，$\mathbf{h}_t$ 只读过前 $t$ 个词元。
# 论文的输出层也不同：它除了 $\mathbf{s}_{t'}$，还直接接收 $\mathbf{c}_{t'}$ 和 $y_{t'-1}$ 的嵌入，
# $P(y_{t'} \mid y_1, \ldots, y_{t'-1}, \mathbf{x}) = g(y_{t'-1}, \mathbf{s}_{t'}, \mathbf{c}_{t'})$，
# $g$ 是一个带 maxout 单元的“深输出”层（deep output）；书中和这里只用 $\mathbf{W}_o \mathbf{s}_{t'}$，
# $\mathbf{c}_{t'}$ 和 $y_{t'-1}$ 只经由 GRU 的输入进入 $\mathbf{s}_{t'}$。
# 成批计算时各张量的形状如下（$b$ 为批量大小，$T$ 为源序列长度 `num_steps`，$L$ 为层数）：
#
# | 张量 | 形状 |
# |---|---|
# | 编码器输出（键和值） | $(b, T, h)$ |
# | 解码器隐状态 | $(L, b, h)$，查询取最后一层 $(b, h)$（`attend` 在 $\mathbf{W}_q$ 之后才补上中间一维，与 $(b, T, h)$ 的键相加） |
# | 一步的注意力权重 | $(b, 1, T)$ |
# | 一步的上下文 $\mathbf{c}_{t'}$ | $(b, 1, h)$ |
# | GRU 一步的输入 $[\mathbf{c}_{t'}; \mathbf{e}_{t'}]$ | $(1, b, h + e)$ |
# | 解码器输出 | $(b, \text{目标步数}, |\mathcal{V}|)$ |
#
# 注意查询依赖**上一步**的解码器状态，所以解码器只能一步一步地算，不能像编码器那样把整段序列一次交给 GRU。
#
# $y_{t'-1}$ 的来源在训练和预测时不同：训练用 9.7 节的强制教学（teacher forcing），输入参考译文的上一个词（第一步是 `<bos>`），
# `forward` 一次拿到整段目标序列；预测用贪心解码（greedy decoding），把模型上一步分数最高的词送回来当输入，
# 每生成一个词调用一次解码器。本节的翻译、热图和探索器都是后者。

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
# 所以 `init_state` 在每个序列开始时把这两样算**一次**，放进解码器状态：
# 9.7 节的三项 `(enc_outputs, hidden_state, enc_valid_lens)` 之后，再加投影好的键 `keys`
# （$=\mathbf{W}_k\mathbf{h}_t$，形状 $(b, T, h)$）和布尔掩码 `padding`（形状 $(b, T)$，填充位置为 `True`）。
# 每一步只剩与查询有关的部分，由 `attend` 方法完成：它用 `self.attention`（10.3 节的 `AdditiveAttention`）里的
# `W_q`、`w_v` 和 `dropout`。
# Bahdanau 等人在论文附录 A 里也指出，$\mathbf{U}_a \mathbf{h}_j$（即这里的 $\mathbf{W}_k \mathbf{h}_t$）可以预先算好。

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
print(f"max |context - 10.3's context| = {(context - context_10_3).abs().max().item():.1e}, "
      f"max |weights - 10.3's weights| = {(weights - weights_10_3).abs().max().item():.1e}")

calls = []
hook = decoder.attention.W_k.register_forward_hook(lambda *args: calls.append(1))
decoder(X, decoder.init_state(encoder(X), valid_lens))
hook.remove()
print(f"W_k calls for {X.shape[1]} decoding steps: {len(calls)}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(context, context_10_3) and torch.equal(weights, weights_10_3)
assert len(calls) == 1


# %% [markdown]
# 两条路径的前向结果逐位相同：做的是同一组运算，只是 $\mathbf{W}_k \mathbf{h}_t$ 从每步一次变成了每个序列一次。
#
# ## 训练：书中的 fra-eng 实验
#
# 先照书中的做法训练：数据是 fra-eng 的前 600 个句子对，用 9.5 节的 `preprocess_nmt` 预处理；
# 编码器沿用 9.7 节的 `Seq2SeqEncoder`，解码器是上面的 `Seq2SeqAttentionDecoder`，超参数与书中相同。

# %%
torch.set_num_threads(1)  # tensors this small train fastest on one thread
embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
batch_size, num_steps, lr, num_epochs, device = 64, 10, 0.005, 250, d2l.try_gpu()
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
torch.manual_seed(0)
encoder = d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
decoder = Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout)
net = d2l.EncoderDecoder(encoder, decoder)
result = d2l.train_seq2seq(net, train_iter, lr, num_epochs, tgt_vocab, device)

# %% [markdown]
# 250 轮后，训练损失（上面一行打印的 `loss`）降到 0.019。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert result.loss < 0.05
config = d2l.BAHDANAU_CONFIG
assert (config.embed_size, config.num_hiddens, config.num_layers, config.dropout) == (
    embed_size, num_hiddens, num_layers, dropout)
assert (config.batch_size, config.num_steps, config.lr, config.num_epochs) == (
    batch_size, num_steps, lr, num_epochs)
assert [n for n, _ in config.net(src_vocab, tgt_vocab).named_parameters()] == [
    n for n, _ in net.named_parameters()]

# %% [markdown]
# 用训练好的模型逐句贪心翻译书中的四个英语句子，并用 9.7 节的 BLEU 打分
# （`d2l.bleu`，句子很短，取 $k=2$：只看单个词和相邻词对；完全相同得 1）。
# 10.7 节还要对 Transformer 做同样的事，所以把“逐句翻译、打分、收集注意力权重”写成一个函数：

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


#@save
# The book's four test sentences and their references; UNSEEN_ENG is not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."

# %% tags=["nbval-ignore-output"]
translations, bleus, _ = translate_and_score(net, TEST_ENGS, TEST_FRAS, src_vocab, tgt_vocab,
                                             num_steps, device)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert [translations[i] for i in (0, 1, 3)] == ["va !", "j'ai perdu .", "je suis chez moi ."]
assert [bleus[i] for i in (0, 1, 3)] == [1.0, 1.0, 1.0]
assert bleus[2] < 1 and translations[2].startswith("il est ") and "calme" not in translations[2]

# %% [markdown]
# 另外三句原样出现在训练数据里，逐字译对了。`he's calm .` 却**不在**这 600 个句子对里（下面打印的第一个数）：
# 训练数据里有 6 个以 `he's` 开头、译成 `il est …` 的句子对，5 个以 `calm .` 结尾、译文含 `calme` 的句子对
# （这些计数由下面折叠的检查单元格核对），要译对它，模型得把这两条线索组合起来，这一次训练没有做到
# （它保留了 `il est … .` 的句式，形容词却不对；具体译成什么随 CPU 的浮点运算顺序而变）。
# 这是组合泛化的问题，不是注意力的问题。与注意力有关的是句子的长度：

# %%
raw = "\n".join(d2l.read_data_nmt().split("\n", 600)[:600])  # the 600 pairs used for training
source, target = d2l.tokenize_nmt(d2l.preprocess_nmt(raw), num_examples=600)
lengths = torch.tensor([len(s) for s in source])
print(f"training pairs whose English is {UNSEEN_ENG!r}: "
      f"{sum(' '.join(s) == UNSEEN_ENG for s in source)}; English sentences: "
      f"{lengths.min()} to {lengths.max()} tokens (punctuation included), mean "
      f"{lengths.float().mean():.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
pairs = [(" ".join(s), " ".join(t)) for s, t in zip(source, target)]
assert not any(s == UNSEEN_ENG for s, _ in pairs)
assert all(s in {s for s, _ in pairs} for s in ("go .", "i lost .", "i'm home ."))
hes = [t for s, t in pairs if s.startswith("he's")]
calm = [t for s, t in pairs if s.endswith(" calm .")]
assert len(hes) == 6 and all(t.startswith("il est") for t in hes)
assert len(calm) == 5 and all("calme" in t for t in calm)
assert int(lengths.max()) <= 4

# %% [markdown]
# 源句子最多 4 个词元，加上 `<eos>` 也只有 5 个位置可看。画出 `i'm home .` 的译文每一步的注意力权重
# （颜色从 0 的白到 1 的深红，与本节后面的热图相同）：

# %% tags=["nbval-ignore-output"]
fra_weights = bahdanau_attention.fra_eng_heatmap(net, "i'm home .", src_vocab, tgt_vocab,
                                                 num_steps)
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert fra_weights.shape == (6, 4) and float(fra_weights.max()) < 0.9

# %% [markdown]
# 这一次运行里没有一行集中在一个词上，每一步最大的权重都不超过 0.52（上面打印的一行）：`je`、`chez`、`.` 最看 `<eos>`，
# `suis` 最看 `.`，只有 `moi`（0.38）和 `<eos>`（0.52）最看 `i'm`，注意力没有学出对齐。
# 也许因为源句子只有 4 个位置，整句话放进编码器最后的隐状态并不难，解码器不必靠注意力找词
# （这里没有在 fra-eng 上训练不带注意力的对照模型，这只是猜测；文末的留出集 BLEU 比较了两者的翻译质量）。要看对齐，得换更长、词序会变、正确答案已知的句子。

# %% [markdown]
# ## 注意力在看哪里：一个知道答案的翻译任务
#
# 下面换一个人造的翻译任务：英语句子由“the [形容词] 名词 动词 the [形容词] 名词”这样的分句组成，一到三个分句用 `and` 连起来；
# 译文把每个词换成法语词，词序却变了：形容词照法语的习惯放到名词后面（`the black dog` → `le chien noir`），
# 动词照日语的习惯放到分句末尾（`the man sees the dog` → `le homme le chien voit`）。
# 每个目标词恰好翻译一个源词，所以每个生成的词**应该**看哪个源词是已知的；在每个形容词和每个动词处，两种语言的词序交叉。
# 数据由本节的演示模块 `bahdanau_attention` 生成，尺寸和训练设置都在下面的配置里：

# %%
align_config = bahdanau_attention.AlignmentConfig(
    train_pairs=2000, test_pairs=300, max_clauses=3, embed_size=32, num_hiddens=64, num_layers=2,
    dropout=0.1, batch_size=64, lr=0.005, num_epochs=10, plain_epochs=15)
align_iter, align_src_vocab, align_tgt_vocab, align_test = align_config.data()
for src, tgt, alignment in (align_test[0], align_test[2]):
    print("source   :", " ".join(src))
    print("target   :", " ".join(tgt))
    print("alignment:", alignment, "(target word i translates source word alignment[i])")
print(f"{align_config.train_pairs} training pairs, {len(align_test)} test pairs (drawn apart), "
      f"source lengths {min(len(s) for s, _, _ in align_test)} to "
      f"{max(len(s) for s, _, _ in align_test)} words; vocabularies "
      f"{len(align_src_vocab)} / {len(align_tgt_vocab)} tokens")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert align_config == bahdanau_attention.ALIGNMENT_CONFIG  # what tools/alignment.py sweeps
assert all(len(t) == len(a) for _, t, a in align_test)

# %% [markdown]
# 模型还是本节的 `Seq2SeqAttentionDecoder` 配 9.7 节的 `Seq2SeqEncoder`，用同一个 `d2l.train_seq2seq` 训练，
# 只是隐藏单元多一些（64 个），句子也长得多（最多 24 个词，加上 `<eos>` 是 25 步）。
# 测试集用另一个随机种子生成，上面说的“drawn apart”只是这个意思，并没有去重：300 个测试句子里有 3 个碰巧也在 2000 个训练句子里，
# 其余都是新句子。损失每一轮画一个点：

# %%
torch.manual_seed(0)
align_net = d2l.EncoderDecoder(
    d2l.Seq2SeqEncoder(len(align_src_vocab), align_config.embed_size, align_config.num_hiddens,
                       align_config.num_layers, align_config.dropout),
    Seq2SeqAttentionDecoder(len(align_tgt_vocab), align_config.embed_size,
                            align_config.num_hiddens, align_config.num_layers,
                            align_config.dropout))
align_train = d2l.train_seq2seq(align_net, align_iter, align_config.lr, align_config.num_epochs,
                                align_tgt_vocab, device, plot_every=1)

# %% [markdown]
# 在 300 个测试句子上贪心翻译，再取一个有三个分句的长句子，把每一步的注意力权重画出来。
# 黑框标出每个目标词所翻译的源词，即正确的对齐。

# %% tags=["nbval-ignore-output"]
align_eval = bahdanau_attention.evaluate(align_net, align_test, align_src_vocab, align_tgt_vocab,
                                         align_config.num_steps)
example = next(t for t in align_test if t[0].count("and") == 2 and len(t[0]) >= 20)
translation, weights = bahdanau_attention.greedy_decode(
    align_net, [example[0]], align_src_vocab, align_tgt_vocab, align_config.num_steps)
bahdanau_attention.alignment_heatmap(weights[0], example[0], translation[0], example[2])
d2l.plt.show()
print(f"test sentences translated exactly: {align_eval['exact']:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert align_eval["exact"] >= 0.95
assert translation[0] == example[1]  # the drawn sentence is translated exactly

# %% [markdown]
# 读这张图（这一次运行，种子 0）：实词那些行的深色格子沿对角线排成一条带，大多落在黑框上或黑框右边不远处；
# 第一行 `le` 就已经看向两个词之后的名词。形容词与名词交叉的四处里，两处（`oiseau gris`、`garçon blanc`）
# 在生成形容词的那一行**跳回**左边的形容词，正好落进黑框；另两处留在名词或它右边的词上。
# 动词那几行颜色浅，分散在动词之后的几个词上；`.` 和 `<eos>` 两行哪里都不深：它们由句子结构决定，不必到源句子里找。
#
# 下面把 300 个测试句子（这一次全部逐字译对）的实词都算上，数一数最大权重落在哪里：
# 0 表示正好落在应翻译的源词上，+1 表示落在它右边一个词上。只数名词、形容词和动词，因为 `le`、`et`、`.` 由语法就能决定。
# 为了检验偏右是不是因为编码器只从左往右读，同样的设置又训练了一次，只把编码器换成论文用的双向 GRU
# （`bahdanau_attention.BiSeq2SeqEncoder`：每个方向 32 个隐藏单元，拼起来仍是 64 维，解码器不用改）。
# 双向模型和种子 1–4 不在这里训练，结果是事先跑好存下的（出处见本节末尾的“与书中代码的差别”）；须线是种子 0–4 的最小值到最大值：

# %% tags=["nbval-ignore-output"]
sweep_command, sweep = bahdanau_attention.read_results("alignment")
bahdanau_attention.plot_offsets(align_eval, sweep)
d2l.plt.show()
bahdanau_attention.print_offsets(align_eval, sweep)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
share = bahdanau_attention.offset_share
assert share(align_eval, lambda d: d == 0) >= 0.1  # the aligned word itself
assert share(align_eval, lambda d: 0 <= d <= 3) >= 0.78  # it or one of the next three
assert share(align_eval, lambda d: d < 0) <= 0.01  # almost never before it
for r in sweep["runs"]:  # the same over seeds 0-4, and the bidirectional encoder
    assert share(r["bahdanau"], lambda d: 0 <= d <= 3) >= 0.8
    assert share(r["bahdanau"], lambda d: d < 0) <= 0.01
    assert share(r["bidirectional"], lambda d: d < 0) >= 0.05  # it looks left too
    assert share(r["bidirectional"], lambda d: abs(d) <= 1) > share(r["bahdanau"],
                                                                    lambda d: abs(d) <= 1)

# %% [markdown]
# 单向编码器（蓝）：这一次运行，最大权重正好落在应翻译的源词上的与落在它右边 1 到 3 个词上的大约各占一半（0.465、0.512），
# 落在它左边的几乎没有（五个种子里最多 0.002）。换成双向编码器（绿），右边的柱子矮了，左边 −1 那根长了出来，
# 最大权重落在应翻译的词左右一个词之内的，从单向的 0.481–0.898 升到 0.908–0.952（五个种子）。
#
# 原因在 $\mathbf{h}_t$ 读过什么。单向 GRU 的 $\mathbf{h}_t$ 只读过前 $t$ 个词：第 $t$ 个词的信息还留在
# $\mathbf{h}_{t+1}, \mathbf{h}_{t+2}, \ldots$ 里，注意力从其中任何一个都能取到它，而 $\mathbf{h}_{t-1}$ 还没读到这个词，
# 所以最大权重只落在它上或它右边。双向编码器的 $\mathbf{h}_t$ 两边都读，这个词的信息向左右两边扩散，权重也就不再只偏向右边。
# 正好落在词本身上的比例，双向编码器也更高、更稳：五个种子依次是 0.452、0.559、0.545、0.515、0.512（平均 0.517），
# 单向是 0.465、0.301、0.330、0.542、0.140（平均 0.356）；双向在 5 个种子里有 3 个更高，最差的种子也好得多（0.452 对 0.140）。
# 单向略高的两个种子是 0 和 3（0.465 对 0.452，0.542 对 0.515），本节运行的恰好是种子 0，所以只看这一次运行会得出相反的印象。
# （每个种子的数存在 `results/alignment.json`，上面只打印了范围。）


# %% [markdown]
# ## 没有注意力：固定长度的瓶颈
#
# 现在在同样的数据上训练 9.7 节没有注意力的解码器 `d2l.Seq2SeqDecoder`：尺寸相同，每一步的上下文都是编码器最上层最后的隐状态（64 维）。
# 让它多训练一半的轮数（15 轮），先看损失曲线有没有走平：

# %%
torch.manual_seed(0)
plain_net = d2l.EncoderDecoder(
    d2l.Seq2SeqEncoder(len(align_src_vocab), align_config.embed_size, align_config.num_hiddens,
                       align_config.num_layers, align_config.dropout),
    d2l.Seq2SeqDecoder(len(align_tgt_vocab), align_config.embed_size, align_config.num_hiddens,
                       align_config.num_layers, align_config.dropout))
plain_train = d2l.train_seq2seq(plain_net, align_iter, align_config.lr, align_config.plain_epochs,
                                align_tgt_vocab, device, plot_every=1)

# %% [markdown]
# 有注意力的模型（上一节的曲线）第 6 轮起损失几乎为 0；没有注意力的模型 15 轮后还有 0.022，而且还在往下走，并没有收敛。
# 所以下面能说的只是：同样的数据、同样的编码器，没有注意力的模型训练 15 轮后还没拟合，有注意力的模型第 6 轮就拟合了；
# 它训练到收敛后能译对多少，这里没有量。
#
# 注意力也有代价。这一次运行打印的速度是：有注意力的模型每秒 3211.9 个词元，没有注意力的模型 9622.5 个。
# 这是两次各自的单次计时（同一个模型在本页不同单元里打印的速度就相差近 2 倍），只能说明有注意力的慢得多，倍数不可细读。
# 没有注意力时，每一步的上下文都一样，解码器可以把整段目标序列一次交给 GRU；有注意力时，查询是上一步的状态，
# 解码器只能在 Python 循环里一步一步地调用 GRU 和 `attend`（上面“模型”一节末尾说的那一点）。这应是慢下来的主要原因，但本页没有单独计时。
#
# 下面按源句子的长度统计逐字译对的句子所占的比例——论文图 2 的缩小版
# （论文画的是 BLEU；这里的任务有唯一的正确译文，直接数译对的句子）。实线是这一次运行在 300 个测试句子上的结果，
# 色带是种子 0–4 的最小值到最大值；虚线是没有注意力的模型在前 300 个**训练**句子上的结果：
# 如果它只是没学会推广到新句子，训练句子应该译得好得多（测试集大多是新句子，见上面数据一节的说明）。

# %% tags=["nbval-ignore-output"]
plain_eval = bahdanau_attention.evaluate(plain_net, align_test, align_src_vocab, align_tgt_vocab,
                                         align_config.num_steps)
plain_seen = bahdanau_attention.evaluate(plain_net, align_config.train_sample(300),
                                         align_src_vocab, align_tgt_vocab, align_config.num_steps)
bahdanau_attention.plot_by_length({"bahdanau": align_eval, "seq2seq": plain_eval},
                                  sweep["summary"], train=plain_seen)
d2l.plt.show()
bahdanau_attention.print_by_length({"with attention, test": align_eval,
                                    "without attention, test": plain_eval,
                                    "without attention, training sentences": plain_seen})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
exact_between = bahdanau_attention.exact_between
assert exact_between(align_eval, 18, 24) >= 0.9 and exact_between(align_eval, 6, 8) >= 0.9
assert exact_between(plain_eval, 6, 8) >= 0.4  # short sentences fit in the fixed vector
assert exact_between(plain_eval, 18, 24) <= 0.1  # long ones do not
assert exact_between(plain_eval, 6, 8) > exact_between(plain_eval, 12, 16) + 0.2
assert exact_between(plain_seen, 18, 24) <= 0.1  # not even the sentences it was trained on
assert exact_between(plain_seen, 12, 16) <= exact_between(plain_eval, 12, 16) + 0.2
summary = sweep["summary"]
assert summary["runs"] >= 5 and summary["bahdanau aligned (content words)"]["min"] >= 0.1
assert summary["bahdanau exact"]["min"] >= 0.95 and summary["seq2seq exact"]["max"] <= 0.4
for n, span in summary["exact by source length"].items():
    if int(n) >= 18:
        assert span["bahdanau"]["min"] >= 0.9 and span["seq2seq"]["max"] <= 0.1, n

# %% [markdown]
# 两个模型的编码器完全一样，差别只在解码器能不能回头看每个位置的 $\mathbf{h}_t$。
# 没有注意力的模型在 1 个分句（6–8 个词）的测试句子上还能译对 0.66，2 个分句只剩 0.05，3 个分句一句也译不对；
# 有注意力的模型只训练了 10 轮，在每个长度上都全部译对（五个种子里每个长度都不低于 0.96）。
# 虚线说明问题不在推广：没有注意力的模型在训练过的句子上也只译对 0.73、0.04、0.00——训练 15 轮后，它连训练过的长句子都还没有拟合。
# 这与导言说的瓶颈相符，形状也像论文图 2：那里 RNNencdec 的 BLEU 随句子变长而下降，
# 用最长 50 个词的句子训练的 RNNsearch-50 基本不变，用最长 30 个词训练的 RNNsearch-30 在长句子上也下降，但仍高于两个 RNNencdec 模型。
# 但这不是瓶颈的证明：没有注意力的模型损失还在降，它是装不下整句话还是只是学得慢，训练更久或加大隐状态才分得清，这里没有量。


# %% [markdown]
# ### 动手试试：一步一步地解码
#
# 下面的探索器把一个两分句的测试句子的贪心解码一步一步摊开（思路来自 Alammar 的逐步解码动画）。
# 它打开在第 1 步；拖动“解码步”（decoding step）滑块，左边的热图每步多出一行：这一步的查询对各个源词元算出的注意力权重，
# 黑框是这一步**应该**翻译的源词，颜色标尺同上（鼠标停在格子上可以看到数值）。
# 右边逐步列出参考译文、有注意力的模型和没有注意力的模型生成的词（绿色：与参考相同；橙色：不同）。
# 要看的是两件事。(1) 四个形容词步（第 3、6、11、14 步）的前一步，深色格子都在名词上；到了形容词这一步，
# 它跳回黑框里的形容词，还是留在名词上？两个动词步（第 7、15 步）的深色落在黑框的哪一边？
# (2) 没有注意力的模型从哪一步开始出错、错成什么样。

# %% tags=["nbval-ignore-output"]
explorer_triple = next(t for t in align_test if len(t[0]) == 16)
bahdanau_attention.explore_alignment(align_net, plain_net, explorer_triple, align_src_vocab,
                                     align_tgt_vocab, align_config.num_steps)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
(explorer_out,), _ = bahdanau_attention.greedy_decode(
    align_net, [explorer_triple[0]], align_src_vocab, align_tgt_vocab, align_config.num_steps)
(plain_out,), _ = bahdanau_attention.greedy_decode(
    plain_net, [explorer_triple[0]], align_src_vocab, align_tgt_vocab, align_config.num_steps)
assert explorer_out == explorer_triple[1] and plain_out != explorer_triple[1]

# %% [markdown]
# <details><summary>先自己拖一遍、猜一猜，再展开：这一次运行里看到的</summary>
#
# 有注意力的模型逐字译对了这个句子。
#
# (1) 四个形容词步里三个跳回。以第一个分句为例：第 1 步生成 `le` 时最大权重（0.64）已经在两个词之后的 `horse` 上，
# 第 2 步生成 `cheval` 仍在 `horse`，第 3 步生成 `blanc` 跳回黑框里的 `white`（0.66）；第 11、14 步的 `vert` 也跳回了 `green`。
# 第 6 步的 `vert` 没有：最大权重（0.41）留在 `bird` 上，`green` 只有 0.26，模型照样译对了。
# 两个动词步（第 7、15 步）都落在黑框右边一个词，即动词后面的 `the` 上。
#
# (2) 没有注意力的模型错了 5 个词（第 3、5、10、13、15 步），错的都是同类的词（`blanc` 成了 `grand`，`cheval` 成了 `garçon`，
# `aime` 成了 `entend`……）；`le`、`et`、`.` 和句式全对。句式它记住了，具体是哪个词却没能从那个固定的状态里读出来。
#
# </details>


# %% [markdown]
# ## 回到真实数据
#
# 按上面的瓶颈解释，源句子短时注意力的好处应该小，而 fra-eng 开头的句子很短（前 600 个只有 2–4 个词元）。
# 下面读出事先跑好的一组比较（出处见本节末尾的“与书中代码的差别”）：在 fra-eng 的前 5000 个句子对上训练 30 轮，
# 再翻译其后 500 个没见过的英语句子（两边都不到 10 个词元），用语料级 BLEU（corpus BLEU，先把所有句子的 $n$ 元语法匹配数和长度加总再套公式）打分，
# 比较没有注意力的 seq2seq、本节的 Bahdanau 模型和 10.7 节的 Transformer。参数个数是这些模型在 5000 个句子对的词表上的个数：

# %%
bahdanau_attention.print_heldout()

# %% [markdown]
# 注意力让 GRU 模型只好了一点（0.381<!-- result: heldout | summary.seq2seq.held-out BLEU | .3f --> → 0.398<!-- result: heldout | summary.bahdanau.held-out BLEU | .3f -->，三个种子的范围刚刚分开），参数只多了 2080 个（约 1.5%，即注意力的
# $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$：$2 \times 32 \times 32 + 32$，这些模型的隐藏单元是 32 个）；Transformer 好得多，参数约多 10%。
# 这与瓶颈的解释相符，但不是它的证明：测试用的句子对两边都不到 `num_steps` = 10 个词元（这样截断不会影响打分），
# 全是短句，所以这组比较按设计就看不出长句子上的好处。
# 另外，只有一个参考译文时，语料级 BLEU 远到不了 1：连训练过的句子对也只有 0.41–0.55。


# %% [markdown]
# ## 小结
#
# * Bahdanau 注意力以解码器上一步的隐状态为查询、编码器各步的隐状态为键和值，每一步重新算上下文变量，
#   与上一个词元的嵌入拼接后送进 GRU；查询依赖上一步的状态，所以解码只能逐步进行。
# * 键的投影 $\mathbf{W}_k\mathbf{h}_t$ 和填充掩码不随解码步变化，在 `init_state` 里每个序列算一次即可，结果与每步重算逐位相同。
# * 在知道正确对齐的任务上，训练好的注意力跟着译文在源句子上移动，形容词与名词交叉处常常跟着跳回去（上面两个句子的 8 处里有 5 处）；
#   单向编码器的 $\mathbf{h}_t$ 只读过前 $t$ 个词，最大权重落在该看的词上或它之后一到三个词上，几乎从不落在它之前。
#   换成论文的双向编码器，最大权重九成以上落在该看的词左右一个词之内。
# * 没有注意力时，整句话要挤进编码器最后的隐状态。在同样的数据上，它训练 15 轮后还没拟合（损失仍在降），源句子越长译对的越少，
#   连训练过的长句子也译不对；有注意力的模型第 6 轮就拟合了，在各个长度上都译得对。这与瓶颈的解释相符，但没有训练到收敛，
#   还不能说是容量的极限。代价是速度：解码只能逐步进行，这里训练明显慢得多（单次计时，倍数不可细读）。
# * 书中 fra-eng 的句子很短，在那里注意力只带来很小的提高。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 解码器状态：书中是三项 `(enc_outputs, hidden_state, enc_valid_lens)`，每步调用一次
#   `self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)`；这里多两项（投影好的键和填充掩码），
#   每步调用 `attend`。数学相同，前向结果逐位相同（上面的比较）。
# * 掩码：书中的 `masked_softmax` 把填充位置的分数换成 $-10^6$，这里换成 $-\infty$，填充位置的权重恰好为 0（练习 3）。
#   代价是一个没有有效词元的源序列会得到 NaN，所以 `init_state` 要求每个有效长度至少为 1（至少有 `<eos>`），否则报错。
# * `d2l.preprocess_nmt` 除了书中 9.5 节的处理，还把弯撇号 `’` 换成 `'`、法语引号 `« »` 换成 `"`、细空格换成普通空格，
#   否则 `j'ai` 与 `j’ai` 会成为两个词元。
# * `d2l.train_seq2seq` 与书中的接口和所算的损失相同，只多一个关键字参数 `plot_every`（书中固定每 10 轮画一个点，
#   本节只训练 10 或 15 轮的两个模型用 `plot_every=1`）；它去掉整批都是填充的时间步、用融合的 Adam，
#   这几处提速各省多少时间由 `python tools/book.py bench --speedups` 量出，存在 `results/speedups.json`。
# * `predict_seq2seq` 把句子送到模型参数所在的设备上；书中的版本要调用者另外传入 `device`，两者不一致时会报错。
# * 9.7 节的 `d2l.Seq2SeqDecoder` 每步的上下文都是编码器最后一层的最终隐状态；书中的版本在逐步预测时取解码器自己最新的状态，
#   训练和预测看到的上下文不同。本节的瓶颈比较用的是前者。
# * 书中的热图只标位置编号；这里标出词元。
# * 事先跑好的结果：对齐任务的种子 0–4 在 `results/alignment.json`（`python tools/alignment.py`），
#   fra-eng 上的 BLEU 比较在 `results/heldout.json`（`python tools/book.py bench --heldout --seeds 3 --save heldout`）；
#   正文 fra-eng 训练的超参数也存在 `d2l.BAHDANAU_CONFIG` 里，基准程序和测试按它训练。
#
# </details>

# %% [markdown]
# ## 练习
#
# 以下练习互不依赖，只用到正文里 fra-eng 的数据（`train_iter`、`src_vocab`、`tgt_vocab`）、超参数和训练好的 `net`。

# %% [markdown]
# ### 练习 1
#
# 把实验里的 GRU 换成 LSTM（长短期记忆网络，long short-term memory）：编码器和解码器都换。
# LSTM 的状态是一对张量 $(\mathbf{H}, \mathbf{C})$，注意查询应取隐状态 $\mathbf{H}$ 的最后一层，而不是记忆元 $\mathbf{C}$。
# 用正文的超参数（种子 0）训练 30 轮。定义 `ex1_net`（训练好的 `d2l.EncoderDecoder`）、`ex1_loss`（最后一轮的损失）
# 和 `ex1_rnn_params`（字典，`"gru"` 和 `"lstm"`：两种解码器循环层 `decoder.rnn` 的参数个数）；
# 为了公平比较，再用同样的设置（种子 0、30 轮）训练正文的 GRU 模型，把它最后一轮的损失存为 `ex1_gru_loss`。
# 与 GRU 相比，循环层的参数多了多少？为什么？30 轮后哪个损失更低？

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
torch.manual_seed(0)
ex1_gru_net = d2l.BAHDANAU_CONFIG.net(src_vocab, tgt_vocab)
ex1_gru_loss = d2l.train_seq2seq(ex1_gru_net, train_iter, lr, 30, tgt_vocab, device).loss
ex1_rnn_params = {name: sum(p.numel() for p in model.decoder.rnn.parameters())
                  for name, model in (("gru", ex1_gru_net), ("lstm", ex1_net))}

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
print(f"after 30 epochs (seed 0): LSTM loss {ex1_loss:.3f}, GRU loss {ex1_gru_loss:.3f}; "
      f"largest |attention row sum - 1| = {float((ex1_weights.sum(-1) - 1).abs().max()):.1e}")
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
# 同样训练 30 轮（种子 0），LSTM 模型的损失比 GRU 模型高（上面打印的两个值）：参数多了三分之一，
# 在这么短的训练里却学得更慢，而不是更快。这只是训练损失，也只是一个种子；要说哪个翻译得更好，
# 还得多试几个种子，并在没见过的句子上比 BLEU。

# %% [markdown]
# ### 练习 2
#
# 把解码器里的加性注意力换成 10.3 节的缩放点积注意力（这里查询和键都是 $h=32$ 维，可以直接做点积）。
# 提示：点积注意力的键不需要投影，`init_state` 里可以把缩放因子 $1/\sqrt{h}$ 预先乘进键，`attend` 里只剩一次批量矩阵乘法。
# 定义 `ex2_params`（字典，`"additive"` 和 `"dot"` 两种解码器注意力层的参数个数）、
# `ex2_losses`（同样两个键，用正文超参数、种子 0 各训练 30 轮后的损失）和 `ex2_dot_net`（训练好的点积版本）。
# 书中问的是“如何影响训练的效率”。从两方面量：
# 用 `torch.utils.flop_counter.FlopCounterMode` 数两种模型在一个训练批量上一次前向加反向传播的浮点运算次数（FLOPs），
# 存为 `ex2_flops`（同样两个键）；再在**同一个单元格里交替**给两种模型计时（各 7 次，每次在同样的 5 个小批量上训练，
# 交替进行，机器负载的起伏对两者一样），取中位数存为 `ex2_seconds`（同样两个键）。
# 换成点积对训练效率有什么影响？实测时间的比值与 FLOPs 的比值一致吗？

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


def train_seconds(model, batches):
    """Wall time of training `model` on `batches` (as train_seq2seq does, without the plot)."""
    dev = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr)
    loss = d2l.MaskedSoftmaxCELoss()
    model.train()
    start = time.perf_counter()
    for X, X_valid_len, Y, Y_valid_len in batches:
        X, X_valid_len, Y, Y_valid_len = (t.to(dev) for t in (X, X_valid_len, Y, Y_valid_len))
        optimizer.zero_grad()
        bos = torch.full((Y.shape[0], 1), tgt_vocab["<bos>"], dtype=Y.dtype, device=dev)
        Y_hat, _ = model(X, torch.cat([bos, Y[:, :-1]], 1), X_valid_len)
        loss(Y_hat, Y, Y_valid_len).sum().backward()
        optimizer.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


timing_batches = [batch for _, batch in zip(range(5), train_iter)]
times = {"additive": [], "dot": []}
for _ in range(7):  # alternate, so both models see the same load on the machine
    for name, model in (("additive", additive_net), ("dot", ex2_dot_net)):
        times[name].append(train_seconds(model, timing_batches))
ex2_seconds = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print("attention parameters:", ex2_params)
print(f"FLOPs of one forward + backward pass: additive {ex2_flops['additive'] / 1e6:.1f} M, "
      f"dot product {ex2_flops['dot'] / 1e6:.1f} M "
      f"(dot / additive = {ex2_flops['dot'] / ex2_flops['additive']:.3f})")
print(f"training time on 5 batches, median of 7 alternating runs: additive "
      f"{ex2_seconds['additive'] * 1e3:.0f} ms, dot product {ex2_seconds['dot'] * 1e3:.0f} ms "
      f"(dot / additive = {ex2_seconds['dot'] / ex2_seconds['additive']:.2f})")
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
assert set(ex2_seconds) == {"additive", "dot"} and min(ex2_seconds.values()) > 0

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex2_params == {"additive": 2 * num_hiddens * num_hiddens + num_hiddens, "dot": 0}

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：点积注意力没有参数（`ex2_params`：加性注意力的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$ 共
# $2 \times 32 \times 32 + 32 = 2080$ 个，点积为 0），每个解码步的运算也更少：加性注意力每步要算
# $\mathbf{W}_q\mathbf{s}$、与键相加、对 $b \times T \times h$ 个数取 $\tanh$、再乘 $\mathbf{w}_v$，
# 点积只需一次批量矩阵乘法（缩放已在 `init_state` 里乘进了键）。
# `FlopCounterMode` 只数矩阵乘法一类的运算（`mm`、`bmm`、`addmm` 等），加法、$\tanh$、softmax 这类运算都不计。
# 所以比值 0.944 比较的只是矩阵乘法：点积版本省掉了 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$ 的矩阵乘法（多了一次算分数的批量矩阵乘法），总共只少约 6%，
# 因为模型的其余部分（编码器、解码器的 GRU、输出层）两种版本完全一样。加性版本独有的加法和 $\tanh$ 没有数进去，
# 只会让真实的运算差距比这个比值显示的更大。
# 交替计时的比值是 0.98（这次存下的运行：加性 508 ms、点积 495 ms）。这只是 7 次交替运行的一个中位数，没有量波动范围，
# 0.98 与 0.944 之间几个百分点的差别分不出是不是噪声；能说的只是两者的时间很接近。
# 计时随机器和负载而变（所以这个单元格的输出不参与 nbval 的比较），但结论一样：在这样的小模型上，换成点积对训练速度影响很小。
# 按轮数算的学习效率也差不多：训练 30 轮后加性 0.098、点积 0.108，彼此接近（上面打印的两个值）。
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
# 在正文的探索器里把解码步滑块一格一格地拖：热图每多出一行，就用了一个新的查询。
# 本节把键的投影 $\mathbf{W}_k\mathbf{h}_t$ 移到了 `init_state`，为什么不能同样把查询的投影 $\mathbf{W}_q\mathbf{s}_{t'-1}$
# 也预先算好？用 `predict_seq2seq` 翻译一个句子时（它每生成一个词元就调用一次解码器），`W_k` 和 `W_q` 各被调用几次？
# 用前向钩子数一数翻译 `"i'm home ."` 时的调用次数，存为字典 `ex4_calls`（键 `"W_k"`、`"W_q"`），
# 并把生成的词元数（含 `<eos>`）存为 `ex4_steps`；再像书中那样每步调用一次 `net.decoder.attention`
# （它在内部投影键），解码同样多的步数，把 `W_k` 的调用次数存为 `ex4_book_calls`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex4_calls = {"W_k": 0, "W_q": 0}
hooks = [getattr(net.decoder.attention, name).register_forward_hook(
    lambda *args, name=name: ex4_calls.__setitem__(name, ex4_calls[name] + 1))
    for name in ex4_calls]
_, ex4_weight_seq = d2l.predict_seq2seq(net, "i'm home .", src_vocab, tgt_vocab, num_steps,
                                        next(net.parameters()).device, True)
ex4_steps = len(ex4_weight_seq)  # one decoder call per generated token, <eos> included
ex4_calls_ours = dict(ex4_calls)
ex4_calls.update({"W_k": 0, "W_q": 0})
with torch.no_grad():  # the book's decoder: AdditiveAttention projects the keys at every step
    src = torch.tensor([src_vocab["i'm home .".split()] + [src_vocab["<eos>"]]],
                       device=next(net.parameters()).device)
    enc_outputs, hidden = net.encoder(src)
    enc_values = enc_outputs.transpose(0, 1)
    for _ in range(ex4_steps):
        net.decoder.attention(hidden[-1].unsqueeze(1), enc_values, enc_values, None)
ex4_book_calls = ex4_calls["W_k"]
ex4_calls = ex4_calls_ours
for hook in hooks:
    hook.remove()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
print(f"translating \"i'm home .\": {ex4_steps} decoding steps, calls {ex4_calls}; "
      f"the book's per-step AdditiveAttention calls W_k {ex4_book_calls} times")
assert ex4_calls["W_k"] == 1, "init_state projects the keys once per sentence"
assert ex4_calls["W_q"] == ex4_steps, "the query is projected once per decoding step"
assert ex4_book_calls == ex4_steps, "AdditiveAttention projects the keys at every call"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：查询 $\mathbf{s}_{t'-1}$ 是解码器上一步的隐状态，要等上一步的 GRU 算完才知道，
# 所以它的投影只能在每一步现算；键 $\mathbf{h}_t$ 是编码器的输出，解码开始前就全部已知，而且整个解码过程中不变。
# `predict_seq2seq` 只在开始时调用一次 `init_state`，之后每步只调用解码器的 `forward`。
# 上面数出的结果正是这样：翻译 `i'm home .` 时解码器生成了 `je suis chez moi .` 和 `<eos>`，共 6 步，
# `W_k` 只被调用 1 次（在 `init_state` 里），`W_q` 被调用 6 次，每个解码步 1 次。
# 像书中那样每步都调用 `AdditiveAttention` 时，`W_k` 也被调用 6 次（上面打印的最后一个数）。
