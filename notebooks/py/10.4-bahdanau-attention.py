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
# 9.7 节的序列到序列（seq2seq）模型把整个源句子压进编码器最后的一个隐状态，解码器每一步都只看这一个上下文变量（context variable）。
# 句子再长，也只有这一个固定长度的向量。Bahdanau 等人（2014）的办法是：**解码器每生成一个词，都用注意力重新决定看源句子的哪些位置。**
# 本节写出这个解码器，再在一个对齐已知的翻译任务上看：注意力大体学会跟着译文在源句子上移动；去掉它，没见过的长句子几乎都译不对；训练 4 倍长，三个分句的仍几乎全错。

# %%
import random
import time

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.explore import bahdanau_attention

# %% [markdown]
# ## 解码的一步
#
# ![The Bahdanau encoder-decoder at one decoding step](figures/10.4-bahdanau-step.svg)
#
# 图 10.4.1 解码时间步 $t'$：上一步的解码器状态 $\mathbf{s}_{t'-1}$ 是查询，编码器隐状态 $\mathbf{h}_1, \ldots, \mathbf{h}_4$ 既是键也是值（线宽：下面手算的注意力权重）
#
# 上下文变量按 10.3 节的加性注意力（additive attention）每步重算：
#
# $$\mathbf{c}_{t'} = \sum_{t=1}^{T} \alpha_{t't}\, \mathbf{h}_t, \qquad
#   \alpha_{t't} = \operatorname{softmax}_t\big(a(\mathbf{s}_{t'-1}, \mathbf{h}_t)\big), \qquad
#   a(\mathbf{s}, \mathbf{h}) = \mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{s} + \mathbf{W}_k \mathbf{h}).$$
#
# $\mathbf{h}_t, \mathbf{s}_{t'} \in \mathbb{R}^{h}$，$h$ 为隐藏单元数；填充位置不参与 softmax。
# $\mathbf{c}_{t'}$ 与上一个输出词元的嵌入 $\mathbf{e}_{t'}$ 拼接后送进 GRU，全连接层给出词表上的分数：
#
# $$\mathbf{s}_{t'} = \operatorname{GRU}\big(\mathbf{s}_{t'-1}, [\mathbf{c}_{t'}; \mathbf{e}_{t'}]\big), \qquad
#   \mathbf{o}_{t'} = \mathbf{W}_o \mathbf{s}_{t'} + \mathbf{b}_o .$$
#
# 初始状态 $\mathbf{s}_0$ 是编码器的最终隐状态。查询依赖上一步，所以只能逐步解码。先用手设的参数走一遍（$T=4$）：

# %%
attention = d2l.AdditiveAttention(key_size=2, query_size=2, num_hiddens=2, dropout=0)
with torch.no_grad():  # hand-set parameters (AdditiveAttention's layers have no bias)
    attention.W_q.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
    attention.W_k.weight.copy_(torch.eye(2))
    attention.w_v.weight.copy_(torch.tensor([[1.0, 2.0]]))
h = torch.tensor([[[0.0, 1.0], [1.0, -0.5], [1.0, 0.5], [-1.0, 0.5]]])  # (1, T=4, 2): keys = values
s = torch.tensor([[[-0.9, 0.0]]])  # (1, 1, 2): the query s_{t'-1} (a GRU state: entries in (-1, 1))
q, k = attention.W_q(s), attention.W_k(h)  # (1, 1, 2) and (1, 4, 2)
features = torch.tanh(q + k)  # q is added to every W_k h_t
scores = attention.w_v(features).squeeze(-1)  # a(s, h_t): (1, 4)
alpha = torch.softmax(scores, dim=-1)
c = alpha @ h[0]  # c_t' = sum_t alpha_t h_t
pairs = lambda rows: "  ".join(str(tuple(round(x, 2) for x in r)) for r in rows.tolist())
print("W_q s                 :", pairs(q[0]))
print("W_k h_t               :", pairs(k[0]))
print("tanh(W_q s + W_k h_t) :", pairs(features[0]))
print("scores w_v^T tanh(...):", [round(x, 2) for x in scores[0].tolist()])
print("weights alpha_t       :", [round(x, 2) for x in alpha[0].tolist()])
print("context c_t'          :", [round(x, 2) for x in c[0].tolist()])
print(f"max |c - AdditiveAttention(s, h, h)| = {(c - attention(s, h, h)).abs().max():.1e}")

# %% [markdown]
# $\mathbf{w}_v = (1, 2)$ 看重 $\tanh$ 后的第二个分量。$\mathbf{h}_3 = (1, 0.5)$ 的两个分量都为正，分数 1.42 最高，拿到权重 0.47，$\mathbf{c}_{t'} = (0.43, 0.6)$ 被拉向它；
# $\mathbf{h}_1 = (0, 1)$ 的第二个分量更大，可第一个分量是 0，被 $\mathbf{W}_q \mathbf{s}$ 的 $-0.45$ 一推成了负的（$-0.42$），分数 1.1，排第二。
# 训练调的正是 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$。
#
# “每步重算”靠的是查询：下一步的 $\mathbf{s}_{t'}$ 不同，权重就不同。换成 $\mathbf{s} = (0.9, -0.9)$ 再算一次，并和去掉 $\tanh$ 的分数 $\mathbf{w}_v^\top(\mathbf{W}_q \mathbf{s} + \mathbf{W}_k \mathbf{h}_t)$ 比较：

# %%
for query in (s, torch.tensor([[[0.9, -0.9]]])):
    features = torch.tanh(attention.W_q(query) + attention.W_k(h))  # (1, 4, 2): one row per key
    context = attention(query, h, h)
    linear = torch.softmax(attention.w_v(attention.W_q(query) + attention.W_k(h)).squeeze(-1), dim=-1)
    print(f"s = {pairs(query[0])}:  tanh(W_q s + W_k h_t) {pairs(features[0])}")
    print(f"   scores {[round(x, 2) for x in attention.score(query, h)[0, 0].tolist()]}, "
          f"weights {[round(x, 2) for x in attention.attention_weights[0, 0].tolist()]}, "
          f"c = {[round(x, 2) for x in context[0, 0].tolist()]};  without tanh: "
          f"weights {[round(x, 2) for x in linear[0].tolist()]}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_weights = [round(x, 2) for x in attention.attention_weights[0, 0].tolist()]  # s = (0.9, -0.9)
assert _weights == [0.51, 0.07, 0.33, 0.08] and alpha.argmax() == 2  # another key wins: h_1, not h_3
_first_query = torch.softmax(attention.w_v(attention.W_q(s) + attention.W_k(h)).squeeze(-1), dim=-1)
assert torch.allclose(linear, _first_query)  # without tanh the query cancels in the softmax

# %% [markdown]
# 查询决定每个分量落在 $\tanh$ 的陡处还是平处。$\mathbf{W}_q \mathbf{s} = (0.45, -0.45)$ 把第一个分量推向平处：$\mathbf{h}_3$ 比 $\mathbf{h}_1$ 多出的从 0.92 缩到 0.48；
# 第二个分量被拉回陡处：$\mathbf{h}_1$ 比 $\mathbf{h}_3$ 多出的从 0.3 变成 0.45，乘上 $\mathbf{w}_v$ 的 2 是 0.9。于是 $\mathbf{h}_1$ 赢了（0.51，$\mathbf{h}_3$ 降到 0.33），$\mathbf{c}$ 从 (0.43, 0.6) 移到 (0.32, 0.69)。
# 去掉 $\tanh$，两个查询的权重完全一样：分数成了 $\mathbf{w}_v^\top \mathbf{W}_q \mathbf{s} + \mathbf{w}_v^\top \mathbf{W}_k \mathbf{h}_t$，第一项对每个键都相同，在 softmax 里消掉。
# 加性注意力里，**查询只能通过非线性的 $\tanh$ 改变权重。**
#
# ## 实现
#
# 带注意力的解码器在 9.7 节 `Decoder` 的接口上多一个属性 `attention_weights`，可视化时用它取出每一步的权重：

# %%
#@save
class AttentionDecoder(d2l.Decoder):
    """Base class of decoders that keep the attention weights of their last forward pass."""

    @property
    def attention_weights(self):
        raise NotImplementedError


# %% [markdown]
# 解码器的状态有三项：编码器各步的输出（键和值）、GRU 的隐状态和源序列的有效长度。`forward` 每一步取最后一层的隐状态当查询：

# %%
#@save
class Seq2SeqAttentionDecoder(AttentionDecoder):
    """GRU decoder with additive (Bahdanau) attention over the encoder outputs.

    State: [enc_outputs (batch_size, num_kv, num_hiddens), hidden_state (num_layers,
    batch_size, num_hiddens), enc_valid_lens (batch_size,) or None].
    forward: X (batch_size, num_steps) -> (batch_size, num_steps, vocab_size) and the state;
    attention_weights: one (batch_size, 1, num_kv) tensor per step.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(**kwargs)
        self.attention = d2l.AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
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


# %% [markdown]
# 一个小批量：4 个样本，源和目标都是 7 步，有效长度 7、5、3、1。

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
print("output:", tuple(output.shape), "| keys and values:", tuple(state[0].shape),
      "| hidden state:", tuple(state[1].shape))
print("attention weights:", len(decoder.attention_weights), "steps x",
      tuple(decoder.attention_weights[0].shape))
print("step 1, example 4:", decoder.attention_weights[0][3, 0].tolist())

# %% [markdown]
# 第 4 个样本只有一个有效位置，它拿走全部权重，6 个填充位置恰好是 0。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert output.shape == (4, 7, 10) and new_state[1].shape == (2, 4, 16) and len(new_state) == 3
assert len(decoder.attention_weights) == 7
assert decoder.attention_weights[0].shape == (4, 1, 7)
assert decoder.attention_weights[0][3, 0].tolist() == [1.0] + [0.0] * 6

# %% [markdown]
# ## 一个知道答案的翻译任务
#
# 书中的 fra-eng 句子只有 1–3 个词加句号，看不出注意力是否在“找词”。这里换一个对齐已知的任务。
# 英语句子由一到三个分句组成（`and` 连接），每个分句是“the [形容词] 名词 动词 the [形容词] 名词”。
# 译文逐词换成法语词，词序却变了：形容词放到名词后面（`the black dog` → `le chien noir`），动词放到分句末尾。
# 每个目标词恰好翻译一个源词（`align`），它**应该**看哪里是已知的；`align` 只用来打分，训练只见到句子对：

# %%
NOUNS, ADJECTIVES, VERBS = (bahdanau_attention.NOUNS, bahdanau_attention.ADJECTIVES,
                            bahdanau_attention.VERBS)  # English -> French, 8 + 6 + 6 words
print(NOUNS, ADJECTIVES, VERBS, sep="\n")


def noun_phrase(rng):
    noun = rng.choice(sorted(NOUNS))
    if rng.random() < 0.6:  # "the black dog" -> "le chien noir": the adjective moves behind
        adj = rng.choice(sorted(ADJECTIVES))
        return ["the", adj, noun], ["le", NOUNS[noun], ADJECTIVES[adj]], [0, 2, 1]
    return ["the", noun], ["le", NOUNS[noun]], [0, 1]


def reorder_pair(rng):
    """(source, target, align): target word i translates source word align[i]."""
    src, tgt, align = [], [], []
    for clause in range(rng.randint(1, 3)):
        if clause:
            align.append(len(src))
            src.append("and")
            tgt.append("et")
        subj, verb, obj = noun_phrase(rng), rng.choice(sorted(VERBS)), noun_phrase(rng)
        at = len(src) + len(subj[0])  # where the verb is in the source
        align += [len(src) + i for i in subj[2]] + [at + 1 + i for i in obj[2]] + [at]
        src += subj[0] + [verb] + obj[0]
        tgt += subj[1] + obj[1] + [VERBS[verb]]  # the verb goes to the end of its clause
    return src + ["."], tgt + ["."], align + [len(src)]


for src, tgt, align in (reorder_pair(random.Random(4)), reorder_pair(random.Random(7))):
    print(" ".join(src), "->", " ".join(tgt), "| align", align)

# %% [markdown]
# 训练集是 `random.Random(0)` 抽出的 2000 个句子对（`train_pairs`），测试集是 `random.Random(1)` 抽出的 300 个：

# %%
torch.set_num_threads(1)  # tensors this small train fastest on one thread
device = d2l.try_gpu()
align_config = bahdanau_attention.AlignmentConfig(
    train_pairs=2000, test_pairs=300, max_clauses=3, embed_size=32, num_hiddens=64, num_layers=2,
    dropout=0.1, batch_size=64, lr=0.005, num_epochs=10, plain_epochs=15)
align_iter, align_src_vocab, align_tgt_vocab, align_test = align_config.data()
lengths = [len(s) for s, _, _ in align_test]
print(f"{len(align_test)} test pairs, source lengths {min(lengths)} to {max(lengths)} words")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert align_config == bahdanau_attention.ALIGNMENT_CONFIG  # what `book.py sweep alignment` trains
rng = random.Random(1)
assert all(triple == reorder_pair(rng) for triple in align_test)  # the generator shown above
rng = random.Random(0)
assert [reorder_pair(rng) for _ in range(2000)] == bahdanau_attention.reorder_pairs(2000, 0)

# %% [markdown]
# ## 注意力在看哪里
#
# 单向 GRU 的 $\mathbf{h}_t$ 只读过前 $t$ 个词。Bahdanau 等人用的是双向 RNN（bidirectional RNN）：
# $\mathbf{h}_t$ 拼接从左读到 $t$ 和从右读到 $t$ 的两个隐状态（反向的 GRU 从补齐的第 25 步读起，先读过句尾的 `<pad>`）。每个方向 $h/2$ 个单元，拼起来仍是 $h$ 维（初始状态同样拼接），解码器不用改：

# %%
#@save
class BiSeq2SeqEncoder(d2l.Seq2SeqEncoder):
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


# %% [markdown]
# 两个模型（隐藏单元 64 个）各训练 10 轮，种子 0；先画单向、后画双向的损失。`EpochSnapshots` 每轮开始时存一份参数：

# %%
def alignment_model(encoder_class, decoder_class):
    c = align_config
    torch.manual_seed(0)
    return d2l.EncoderDecoder(
        encoder_class(len(align_src_vocab), c.embed_size, c.num_hiddens, c.num_layers, c.dropout),
        decoder_class(len(align_tgt_vocab), c.embed_size, c.num_hiddens, c.num_layers, c.dropout))


uni_net = alignment_model(d2l.Seq2SeqEncoder, Seq2SeqAttentionDecoder)
bi_net = alignment_model(BiSeq2SeqEncoder, Seq2SeqAttentionDecoder)
snapshots = {}
for name, model in (("bahdanau", uni_net), ("bidirectional", bi_net)):
    snapshots[name] = bahdanau_attention.EpochSnapshots(model, align_iter)
    d2l.train_seq2seq(model, snapshots[name], align_config.lr, align_config.num_epochs,
                      align_tgt_vocab, device, plot_every=1)

# %% [markdown]
# 下图是一个测试句子的贪心翻译：第 $t'$ 行是第 $t'$ 步（查询 $\mathbf{s}_{t'-1}$），第 $t$ 列是键 $\mathbf{h}_t$，颜色是 $\alpha_{t't}$，黑框是这一行该译的源词。
# 本节只数一个量：实词（名词、形容词、动词）那一行的最大权重离黑框多远，记作偏移 $d$（0 在词上，+1 在它右边一个词）；$|d| \le 1$ 的实词所占比例叫**对齐率**。

# %% tags=["nbval-ignore-output"]
evals = {name: bahdanau_attention.evaluate(model, align_test, align_src_vocab, align_tgt_vocab,
                                           align_config.num_steps)
         for name, model in (("bahdanau", uni_net), ("bidirectional", bi_net))}
example = next(t for t in align_test if t[0].count("and") == 2 and len(t[0]) >= 20)
panels = []
for name, model in (("one-directional encoder", uni_net), ("bidirectional encoder", bi_net)):
    (out,), (w,) = bahdanau_attention.greedy_decode(model, [example[0]], align_src_vocab,
                                                    align_tgt_vocab, align_config.num_steps)
    panels.append((name, w, out))
bahdanau_attention.alignment_heatmaps(panels, example[0], example[2])
d2l.plt.show()
sweep_command, sweep = bahdanau_attention.read_results("alignment")  # seeds 0-4 x 2 CPU kernels
for name, result in evals.items():
    near = bahdanau_attention.offset_share(result, lambda d: abs(d) <= 1)
    reruns = [bahdanau_attention.offset_share(r[name], lambda d: abs(d) <= 1) for r in sweep["runs"]]
    print(f"{name:13s} test sentences translated exactly: {result['exact']:.3f}; "
          f"alignment share (|d| <= 1): {near:.3f} (10 reruns: {min(reruns):.2f}-{max(reruns):.2f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert min(r["exact"] for r in evals.values()) >= 0.95
assert all(out == example[1] for _, _, out in panels)  # both drawn sentences are exact
_near = {m: sorted(bahdanau_attention.offset_share(r[m], lambda d: abs(d) <= 1)
                   for r in sweep["runs"]) for m in ("bahdanau", "bidirectional")}
assert [round(_near[m][i], 2) for m in _near for i in (0, -1)] == [0.46, 0.91, 0.89, 0.95]

# %% [markdown]
# 这次运行的图里，深色格子排成一条带，跟着译文移动（对齐率：单向 0.861，双向 0.912）；形容词行常跳回左边的形容词（4 处里单向 3 处、双向 2 处在框里）。
# 这次的单向模型对齐得偏好：换种子 0–4、两种 CPU 内核重训 10 次，单向的对齐率 0.46–0.91，双向 0.89–0.95（下面“最大权重落在哪里”一节画出这 10 次）。
# 动词行却不在框上：单向面板的 `aime`、`entend`、`entend` 落在框右边 2–4 个词上（双向 3 行里 1 行在框里），可 300 个测试句子全部逐字译对了。
#
# ## 对齐是学出来的
#
# 黑框从未进入训练。滑块走过这次训练的每一轮（热图喂参考译文，右图是测试集的对齐率）；
# 解码步滑块选一行（蓝框），下面写出这一步 $\mathbf{c}_{t'} = \sum_t \alpha_{t't}\mathbf{h}_t$ 最大的三项。

# %% tags=["nbval-ignore-output"]
curves = bahdanau_attention.over_training(
    {"bahdanau": (uni_net, snapshots["bahdanau"]),
     "bidirectional": (bi_net, snapshots["bidirectional"])},
    align_test, example, align_src_vocab, align_tgt_vocab, align_config.num_steps)
bahdanau_attention.print_over_training(curves)
bahdanau_attention.explore_training(curves, example, default_epoch=4, default_step=3)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for curve in curves.values():
    first, last = curve["shares"][0], curve["shares"][-1]
    assert first["within one word"] < 0.5 < last["within one word"]
    assert last["on the word"] > first["on the word"] + 0.1
view = bahdanau_attention.explore_training(curves, example, default_epoch=4, default_step=3)
assert len(view.to_json()) < 480_000

# %% [markdown]
# 这次运行里，单向的对齐率从训练前的 0.07 升到第 4 轮的 0.66、第 10 轮的 0.86；双向从 0.03 升到 0.91。
# 打开时是第 4 轮的单向模型、第 3 步 `gris`：$\mathbf{c}_3$ 最大的两项是 `4 likes`（0.33）和 `3 bird`（0.28），`2 grey` 只有 0.13；带偏在黑框右边，第 4、5 步的 `le chien` 都看 `8 and`（0.82、0.87）。
# 试试：拖动解码步，$\mathbf{c}_{t'}$ 的最大项怎样移动？`gris` 的最大权重在第几轮第一次落进黑框？第 10 轮换成双向编码器，带落在黑框的哪一边？
#
# <details><summary>这次运行里看到的</summary>
#
# 第 4 轮，最大项随 $t'$ 向右移：第 1 步在 `3 bird`，第 4 步 `8 and`，第 12 步 `15 and`，第 16 步 `18 boy`，第 19 步 `23 <eos>`。
# `gris`：第 5 轮（0.33）。第 2–4 轮它落在黑框右边一两个词上；之后除第 8 轮外都留在 `2 grey` 上，第 10 轮 0.67。
# 双向第 10 轮：带大多落在黑框上或它左边（22 行里 6 行在右边），权重更分散（最大项 0.3–0.7），例如第 7 步 `aime` 正落在 `4 likes` 上（0.56），第 22 步 `.` 看 `19 hears`（0.72）。
#
# </details>
#
# ## 最大权重落在哪里
#
# 300 个测试句子全部实词的偏移 $d$：柱是本页这次运行，须线是种子 0–4 在两种 CPU 内核上共 10 次训练的范围（事先跑好，`results/alignment.json`；换一种 CPU，同一种子的数也会变）。
# 本页的种子 0 不是那 10 次之一：本页先建好两个模型再依次训练，随机数用的次序不同。

# %% tags=["nbval-ignore-output"]
bahdanau_attention.plot_offsets(evals, sweep)
d2l.plt.show()
bahdanau_attention.print_offsets(evals, sweep)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
share = bahdanau_attention.offset_share
uni, bi = evals["bahdanau"], evals["bidirectional"]
assert share(uni, lambda d: 0 <= d <= 3) >= 0.78 and share(uni, lambda d: d < 0) <= 0.01
assert share(bi, lambda d: d < 0) >= 0.1  # the bidirectional encoder looks left too
assert share(bi, lambda d: 1 <= d <= 3) < share(uni, lambda d: 1 <= d <= 3) - 0.1
for r in sweep["runs"]:  # the same over seeds 0-4 under two CPU kernels
    assert share(r["bahdanau"], lambda d: 0 <= d <= 3) >= 0.8
    assert share(r["bahdanau"], lambda d: d < 0) <= 0.01
    assert share(r["bidirectional"], lambda d: d < 0) >= 0.05
    assert share(r["bidirectional"], lambda d: 1 <= d <= 3) < share(r["bahdanau"],
                                                                   lambda d: 1 <= d <= 3)

# %% [markdown]
# 10 次都成立的是方向：单向编码器（蓝）的最大权重几乎从不落在词左边（这次 0.000），不在词上的几乎都在右边（0.479）；双向编码器（绿）有 0.376 落在左边。
# 单向的 $\mathbf{h}_{t}$ 只读过前 $t$ 个词，词左边的键里还没有这个词；双向的键两边都读过。
#
# ## 信息从哪里来：遮住后面的键
#
# 单向模型译动词时，最大权重落在动词右边、已读过动词的状态上。拿走它们会怎样？
# 喂参考译文；译第 $a$ 个源词时把有效长度设成 $a$，只留 $\mathbf{h}_1, \ldots, \mathbf{h}_a$。数每类词预测对的比例：

# %%
#@save
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


# %% tags=["nbval-ignore-output"]
reference = bahdanau_attention.reference_batch(align_test, align_src_vocab, align_tgt_vocab,
                                               align_config.num_steps, device)
masked = {f"{name}, {keys}": step_hits(model, reference, hide)
          for name, model in (("one-directional", uni_net), ("bidirectional", bi_net))
          for keys, hide in (("all keys", False), ("keys up to the word", True))}
bahdanau_attention.print_accuracy_by_class(masked, align_test, sweep["summary"])  # + 10 runs

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
acc = {k: bahdanau_attention.accuracy_by_class(v, align_test) for k, v in masked.items()}
uni_hidden = acc["one-directional, keys up to the word"]
assert min(acc["one-directional, all keys"].values()) >= 0.99
assert 0.5 < uni_hidden["verbs"] < 0.95  # the verbs lose most, but most survive
assert uni_hidden["verbs"] < min(uni_hidden["nouns"], uni_hidden["adjectives"]) - 0.05
assert min(acc["bidirectional, keys up to the word"].values()) >= 0.98
for r in sweep["runs"]:  # seeds 0-4 under two CPU kernels: the verbs lose most every time
    uni_all, uni_hid = (r["bahdanau"]["by_class"][k] for k in ("all keys", "keys up to the word"))
    assert min(uni_all[c] for c in ("nouns", "adjectives", "verbs")) >= 0.99
    assert 0.5 < uni_hid["verbs"] < min(uni_hid["nouns"], uni_hid["adjectives"], 0.95)
    assert min(r["bidirectional"]["by_class"]["keys up to the word"].values()) >= 0.93
spans = sweep["summary"]["bahdanau accuracy by class"]["keys up to the word"]
assert [round(spans[c][m], 2) for c in ("verbs", "adjectives", "nouns") for m in ("min", "max")
        ] == [0.61, 0.91, 0.84, 1.0, 0.86, 1.0]  # the ranges quoted below

# %% [markdown]
# 遮住后面的键，单向模型的动词从 1.00 降到 0.86，名词 0.99、形容词 1.00 几乎不变。
# 最后两行是换种子 0–4、换两种 CPU 内核重训的 10 次（`results/alignment.json`）：每次都是实词里动词掉得最多（0.61–0.91），形容词和名词留在 0.84–1.00；双向模型四类最低 0.94。
# 最大权重所在的键帮了忙，却不是必需的：
# 多数动词照样译对，信息还在剩下的键（$\mathbf{h}_a$ 读过这个动词）和解码器状态里。**最大权重落在哪里，不等于信息从哪里来。**
# 双向模型四类都还是 1.00：它要的信息在词上和词左边的键里都有。
#
# ## 没有注意力：一个固定长度的上下文
#
# 同样的编码器配 9.7 节没有注意力的 `d2l.Seq2SeqDecoder`：每一步的上下文都是编码器最上层最后的隐状态（64 维）。本页训练它 15 轮：

# %%
plain_net = alignment_model(d2l.Seq2SeqEncoder, d2l.Seq2SeqDecoder)
plain_train = d2l.train_seq2seq(plain_net, align_iter, align_config.lr,
                                align_config.plain_epochs, align_tgt_vocab, device, plot_every=1)

# %% [markdown]
# 按源句子长度数逐字译对的比例（论文图 2 的缩小版，论文画 BLEU）。虚线是没有注意力的模型在它训练过的前 300 句上；
# 点线是它训练 60 轮的结果（3 个种子，事先跑好：`results/alignment-longer.json`）；色带是那 10 次训练的范围：

# %% tags=["nbval-ignore-output"]
plain_eval = bahdanau_attention.evaluate(plain_net, align_test, align_src_vocab, align_tgt_vocab,
                                         align_config.num_steps)
plain_seen = bahdanau_attention.evaluate(plain_net, align_config.train_sample(300),
                                         align_src_vocab, align_tgt_vocab, align_config.num_steps)
_, longer = bahdanau_attention.read_results("alignment-longer")
bahdanau_attention.plot_by_length({"bahdanau": evals["bahdanau"], "seq2seq": plain_eval},
                                  sweep["summary"], train=plain_seen, longer=longer)
d2l.plt.show()
bahdanau_attention.print_by_length({"with attention, test": evals["bahdanau"],
                                    "without attention, test": plain_eval,
                                    "without attention, training sentences": plain_seen})
bahdanau_attention.print_longer(longer)
_, heldout = bahdanau_attention.read_results("heldout")
print("fra-eng, 500 held-out pairs, BLEU (3 seeds):", {
    m: heldout["summary"][m]["held-out BLEU"] for m in ("bahdanau", "seq2seq")})
reruns = sorted((r["bahdanau"]["exact"], r["bahdanau"]["loss"], r["seed"], r["kernel"]) for r in sweep["runs"])
print(f"with attention, 10 reruns: exact >= 0.99 in {sum(r[0] >= 0.99 for r in reruns)}; lowest: seed {reruns[0][2]} "
      f"{reruns[0][3]}, {reruns[0][0]:.2f}, training loss {reruns[0][1]:.5f} (the others "
      f"{min(r[1] for r in reruns[1:]):.5f}-{max(r[1] for r in reruns[1:]):.5f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
exact_between = bahdanau_attention.exact_between
align_eval = evals["bahdanau"]
assert exact_between(align_eval, 18, 24) >= 0.9 and exact_between(align_eval, 6, 8) >= 0.9
assert exact_between(plain_eval, 6, 8) >= 0.4  # short sentences fit in the fixed vector
assert exact_between(plain_eval, 18, 24) <= 0.1  # long ones do not
assert exact_between(plain_eval, 6, 8) > exact_between(plain_eval, 12, 16) + 0.2
assert exact_between(plain_seen, 18, 24) <= 0.1  # not even the sentences it was trained on
runs = sweep["runs"]  # seeds 0-4 under two CPU kernels
assert len(runs) == 10 and sum(r["bahdanau"]["exact"] >= 0.99 for r in runs) == 9
odd = next(r for r in runs if r["bahdanau"]["exact"] < 0.99)  # the run the text describes
_losses = [r["bahdanau"]["loss"] for r in runs if r is not odd]  # as low as the others' (quoted)
assert f"{odd['bahdanau']['loss']:.5f}" == "0.00061" and f"{min(_losses):.5f}-{max(_losses):.5f}" == "0.00028-0.00070"
assert (odd["seed"], odd["kernel"], round(odd["bahdanau"]["exact"], 2)) == (1, "AVX2", 0.84)
assert exact_between(odd["bahdanau"], 12, 16) < 0.7 and exact_between(odd["bahdanau"], 18, 24) >= 0.99
assert max(r["seq2seq"]["exact"] for r in runs) <= 0.4
for r in runs:  # 3 clauses (18-24 words): attention translates them, 9.7's model does not
    assert exact_between(r["bahdanau"], 18, 24) >= 0.9 and exact_between(r["seq2seq"], 18, 24) <= 0.1
for run in longer["runs"]:  # 60 epochs: it fits the long training sentences, not unseen ones
    last = run["checkpoints"][str(longer["epochs"])]
    assert last["train loss"] < 0.05 and exact_between({"by_length": last["test"]}, 18, 24) <= 0.15
    assert exact_between({"by_length": last["train"]}, 18, 24) >= 0.6
# %% [markdown]
# 这次运行里，没有注意力的模型 15 轮后译对 1 个分句（6–8 个词）的测试句子 0.66，2 个分句 0.05，3 个分句 0.00；有注意力的 10 轮后都是 1.00。
# 色带里的 10 次运行（种子 0–4 × 两种 CPU 内核），把 3 个分句（18–24 个词）的测试句子合起来数，有注意力的模型每次都译对九成以上（单个长度的点样本少，会低到 0.75），没有注意力的每次不到一成。
# 有一次例外值得看（最后一行）：种子 1 在 AVX2 内核上只译对 0.84 的测试句子，3 个分句的全对，2 个分句的里 13–16 个词的只对 0.45–0.60，
# 训练损失却和别的 9 次一样低（0.00061，别的 0.00028–0.00070）。低训练损失不保证每种长度都学会。
# 15 轮还没训练完。训练到 60 轮（3 个种子），训练句子上每个词元的损失降到 0.03 奈特（表中的 loss/token；训练时打印的 loss 沿用书中的算法，还除以了 `num_steps`，所以小得多），训练过的 3 分句句子译对 0.72–0.81，没见过的只有 0.04–0.10。
# 它背得下长句子，却不会把没见过的长句子压进 64 维再译出来；注意力绕开了这个瓶颈。加宽隐状态能否追上，本节没有量。
# 短句子是另一面：fra-eng 留出的 500 句上，有无注意力的 BLEU 是 0.398 对 0.381（3 个种子）。

# %% [markdown]
# ## 小结
#
# * Bahdanau 注意力以解码器上一步的状态为查询、编码器各步的隐状态为键和值，每一步用加性注意力重算上下文变量；查询依赖上一步，所以解码逐步进行。
# * 训练从未见过对齐，注意力却学会跟着译文移动（这次对齐率 0.86、0.91；10 次重训单向 0.46–0.91）。单向编码器的最大权重落在词上或右边，双向的也落到左边。
# * 最大权重不等于信息来源：遮住单向模型右边的键，动词仍有 0.86 译对。
# * 没有注意力，整句挤在一个 64 维向量里：训练 60 轮，没见过的 3 分句句子也只译对 0.04–0.10；有注意力的 10 轮后这次全对（10 次重训里 9 次译对 99% 以上）。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的 `masked_softmax` 把填充位置的分数换成 $-10^6$；这里用 10.3 节的版本，换成 $-\infty$，填充位置的权重恰好为 0（练习 3）。
# * 论文的输出层是带 maxout 的“深输出”层，直接接收 $\mathbf{s}_{t'}$、$\mathbf{c}_{t'}$ 和 $y_{t'-1}$；书中和这里只用 $\mathbf{W}_o \mathbf{s}_{t'}$。
# * `d2l.train_seq2seq` 多一个关键字参数 `plot_every`（书中固定每 10 轮画一点）；它还跳过整批都是填充的时间步、用融合的 Adam，
#   各省多少时间见 `results/speedups.json`（`python tools/book.py bench speedups`）。
# * `predict_seq2seq` 把句子送到模型参数所在的设备上；`d2l.preprocess_nmt` 还统一了弯撇号、法语引号和细空格。
# * 9.7 节的 `d2l.Seq2SeqDecoder` 每步的上下文都是编码器最后一层的最终隐状态；书中的版本在逐步预测时改用解码器自己最新的状态。
# * 论文的双向编码器把反向的 $\overleftarrow{\mathbf{h}}_1$ 经过一层 $\tanh$ 变换作为 $\mathbf{s}_0$；这里的 `BiSeq2SeqEncoder` 直接拼接两个方向的最终状态。
# * 书中在 fra-eng 上训练 250 轮，翻译四个句子，画 `i'm home .` 的热图；本页不重复（fra-eng 只在练习里训练 10 轮），热图都画在对齐已知的合成任务上。
# * 打印和画出的损失沿用书中的算法：每个词元的平均交叉熵（奈特）再除以 `num_steps`。
#
# </details>

# %% [markdown]
# ## 练习
#
# 以下练习互不依赖，都做在书中的 fra-eng 实验上：前 600 个句子对、书中的超参数，`net` 训练 10 轮（书中 250 轮）：

# %%
embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
batch_size, num_steps, lr, num_epochs = 64, 10, 0.005, 10
train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size, num_steps)
torch.manual_seed(0)
encoder = d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
decoder = Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout)
net = d2l.EncoderDecoder(encoder, decoder)
result = d2l.train_seq2seq(net, train_iter, lr, num_epochs, tgt_vocab, device, plot_every=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert result.loss < 1.5
config = d2l.BAHDANAU_CONFIG
assert (config.embed_size, config.num_hiddens, config.num_layers, config.dropout) == (
    embed_size, num_hiddens, num_layers, dropout)
assert (config.batch_size, config.num_steps, config.lr) == (batch_size, num_steps, lr)
assert [n for n, _ in config.net(src_vocab, tgt_vocab).named_parameters()] == [
    n for n, _ in net.named_parameters()]


# %% [markdown]
# 书中的四个测试句子和给译文打分的函数（10.7 节还会用到）：

# %%
#@save
def translate_and_score(net, engs, fras, src_vocab, tgt_vocab, num_steps, device=None,
                        verbose=True):
    """Translate each of `engs` greedily (on the device of net's parameters; `device` is
    ignored) and score it against `fras` with BLEU (k=2). Prints a line per sentence and the
    mean when `verbose`. Returns (translations, bleus, per sentence the per-step weights)."""
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
# The book's four test sentences and their references; the one not among the training pairs.
TEST_ENGS = ("go .", "i lost .", "he's calm .", "i'm home .")
TEST_FRAS = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
UNSEEN_ENG = "he's calm ."


# %% [markdown]
# ### 练习 1
#
# 把 GRU 换成 LSTM（长短期记忆网络，long short-term memory），编码器和解码器都换；查询取隐状态 $\mathbf{H}$ 的最后一层，而不是记忆元 $\mathbf{C}$。
# 用正文的超参数（种子 0）训练 10 轮，定义 `ex1_net`、`ex1_loss`（最后一轮的损失）、`ex1_rnn_params`
# （字典，`"gru"` 和 `"lstm"`：解码器循环层 `decoder.rnn` 的参数个数），并以同样设置训练 GRU 模型，损失存为 `ex1_gru_loss`。
# 循环层的参数多了多少？为什么？哪个损失更低？

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
        enc_outputs, (H, C), enc_valid_lens = state
        outputs, self._attention_weights = [], []
        for x in self.embedding(X).permute(1, 0, 2):
            context = self.attention(H[-1].unsqueeze(1), enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, x.unsqueeze(1)), dim=-1)
            out, (H, C) = self.rnn(x.permute(1, 0, 2), (H, C))
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, (H, C), enc_valid_lens]


torch.manual_seed(0)
ex1_net = d2l.EncoderDecoder(
    LSTMSeq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout),
    LSTMSeq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout))
ex1_loss = d2l.train_seq2seq(ex1_net, train_iter, lr, 10, tgt_vocab, device, plot_every=1).loss
torch.manual_seed(0)
ex1_gru_net = d2l.BAHDANAU_CONFIG.net(src_vocab, tgt_vocab)
ex1_gru_loss = d2l.train_seq2seq(ex1_gru_net, train_iter, lr, 10, tgt_vocab, device,
                                 plot_every=1).loss
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
print(f"after 10 epochs (seed 0): LSTM loss {ex1_loss:.3f}, GRU loss {ex1_gru_loss:.3f}")
assert len(rnns) == 2 and all(isinstance(m, nn.LSTM) for m in rnns), \
    "both the encoder and the decoder should use nn.LSTM (and no GRU)"
assert Y_hat.shape == (X_check.shape[0], num_steps, len(tgt_vocab))
assert torch.allclose(ex1_weights.sum(-1), torch.ones_like(ex1_weights.sum(-1)), atol=1e-5)
assert 3 * ex1_rnn_params["lstm"] == 4 * ex1_rnn_params["gru"], \
    "keep the GRU's sizes: an LSTM layer has 4 gates where a GRU has 3"
assert ex1_loss < 1.5, "after 10 epochs the LSTM model should have learned something"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：循环层从 15744 个参数变成 20992 个，正好 $4/3$ 倍：每个门有同样形状的一组 $\mathbf{W}_x$、$\mathbf{W}_h$ 和偏置，
# GRU 有 3 组（重置门、更新门、候选隐状态），LSTM 有 4 组（输入门、遗忘门、输出门、候选记忆元）。
# 10 轮后（种子 0）LSTM 的损失 0.237，GRU 0.201：参数多了三分之一，在这么短的训练里没有学得更快（只是一个种子的训练损失）。

# %% [markdown]
# ### 练习 2
#
# 把解码器的加性注意力换成 10.3 节的缩放点积注意力（查询和键都是 $h=32$ 维）。定义 `ex2_dot_net`（正文超参数、种子 0、训练 10 轮），
# `ex2_params`（字典，`"additive"` 和 `"dot"`：注意力层的参数个数）和 `ex2_losses`（同样两个键，10 轮后的损失）。
# 书中问“如何影响训练的效率”：用 `torch.utils.flop_counter.FlopCounterMode` 数一个训练批量前向加反向的浮点运算次数（`ex2_flops`）；
# 再**交替**给两种模型计时（各 5 次，每次训练同样的 3 个小批量），各次时间存为 `ex2_times`（每个键一个列表），中位数存为 `ex2_seconds`。
# 时间之比与 FLOPs 之比一致吗？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
from torch.utils.flop_counter import FlopCounterMode


class DotSeq2SeqAttentionDecoder(d2l.Seq2SeqAttentionDecoder):
    """Seq2SeqAttentionDecoder scoring with scaled dot products instead of additive attention."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, **kwargs)
        self.attention = d2l.DotProductAttention(dropout)


def make_and_train(decoder_cls, num_epochs=10):
    torch.manual_seed(0)
    model = d2l.EncoderDecoder(
        d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout),
        decoder_cls(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout))
    return model, d2l.train_seq2seq(model, train_iter, lr, num_epochs, tgt_vocab, device,
                                    plot_every=1).loss


def train_step(model, batch, optimizer):
    """One training step on `batch` as train_seq2seq takes it (teacher forcing)."""
    loss = d2l.MaskedSoftmaxCELoss()
    dev = next(model.parameters()).device
    X, X_valid_len, Y, Y_valid_len = (t.to(dev) for t in batch)
    bos = torch.full((Y.shape[0], 1), tgt_vocab["<bos>"], dtype=Y.dtype, device=dev)
    Y_hat, _ = model(X, torch.cat([bos, Y[:, :-1]], 1), X_valid_len)
    loss(Y_hat, Y, Y_valid_len).sum().backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad()


additive_net, additive_loss = make_and_train(d2l.Seq2SeqAttentionDecoder)
ex2_dot_net, dot_loss = make_and_train(DotSeq2SeqAttentionDecoder)
models = {"additive": additive_net, "dot": ex2_dot_net}
ex2_params = {name: sum(p.numel() for p in m.decoder.attention.parameters())
              for name, m in models.items()}
ex2_losses = {"additive": additive_loss, "dot": dot_loss}
torch.manual_seed(0)
batches = [batch for _, batch in zip(range(3), train_iter)]
ex2_flops = {}
for name, model in models.items():
    model.train()
    with FlopCounterMode(display=False) as counter:
        train_step(model, batches[0], None)
    model.zero_grad()
    ex2_flops[name] = counter.get_total_flops()
optimizers = {name: torch.optim.Adam(m.parameters(), lr) for name, m in models.items()}
ex2_times = {"additive": [], "dot": []}
for _ in range(5):  # alternate, so both models see the same load on the machine
    for name, model in models.items():
        start = time.perf_counter()
        for batch in batches:
            train_step(model, batch, optimizers[name])
        ex2_times[name].append(time.perf_counter() - start)
ex2_seconds = {name: sorted(ts)[len(ts) // 2] for name, ts in ex2_times.items()}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print("attention parameters:", ex2_params)
print(f"FLOPs of one forward + backward pass: additive {ex2_flops['additive'] / 1e6:.1f} M, "
      f"dot product {ex2_flops['dot'] / 1e6:.1f} M "
      f"(dot / additive = {ex2_flops['dot'] / ex2_flops['additive']:.3f})")
print("training time on 3 batches, median (min-max) of 5 alternating runs: " + ", ".join(
    f"{name} {ex2_seconds[name] * 1e3:.0f} ms ({min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f})"
    for name, ts in ex2_times.items())
      + f" (dot / additive = {ex2_seconds['dot'] / ex2_seconds['additive']:.2f})")
print(f"after 10 epochs: additive loss {ex2_losses['additive']:.3f}, "
      f"dot product loss {ex2_losses['dot']:.3f}")
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
assert max(ex2_losses.values()) < 1.5, "both models should learn within 10 epochs"
assert ex2_flops["dot"] < ex2_flops["additive"], "the dot product needs no W_q, W_k or w_v"
assert set(ex2_seconds) == {"additive", "dot"} and min(ex2_seconds.values()) > 0
assert all(len(ex2_times[name]) == 5 and min(ex2_times[name]) <= ex2_seconds[name]
           <= max(ex2_times[name]) for name in ex2_seconds)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex2_params == {"additive": 2 * num_hiddens * num_hiddens + num_hiddens, "dot": 0}

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：点积注意力没有参数（加性的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{w}_v$ 共 $2 \times 32 \times 32 + 32 = 2080$ 个），打分只要一次批量矩阵乘法 $\mathbf{Q}\mathbf{K}^\top$，加上两者共有的权重乘值，每步两次。
# `FlopCounterMode` 只数矩阵乘法一类的运算（加法、$\tanh$、softmax 不计），比值 0.754 说明点积省掉了约四分之一的矩阵乘法：
# 正文的解码器每步都重算 $\mathbf{W}_k\mathbf{h}_t$（练习 4）。计时的比值不必等于 FLOPs 的比值：两者相同的部分（GRU、Python 循环）和 FLOPs 不计的逐元素运算（加性注意力的 $\tanh$ 和加法）都占时间，
# 比值还随机器和负载变（上面打印的是这次的），这里没有剖析。10 轮后的损失相近（0.201 对 0.210），只有一个种子。
# 点积还要求查询和键维数相同，加性注意力没有这个限制。

# %% [markdown]
# ### 练习 3
#
# 检查训练好的 `net` 的注意力权重：取 `train_iter` 的第一个小批量（先 `torch.manual_seed(0)`），在评估模式下跑一次前向传播，
# 把各解码步的权重拼成 `ex3_weights`（形状：批量大小, 解码步数, 源序列长度），源有效长度存为 `ex3_valid_lens`。
# 每一步在有效位置上的权重之和是否为 1？填充位置的权重是否**恰好**为 0？为什么是恰好？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
net.eval()
net_dev = next(net.parameters()).device
torch.manual_seed(0)
X_b, ex3_valid_lens, Y_b, _ = next(iter(train_iter))
with torch.inference_mode():
    enc_outputs = net.encoder(X_b.to(net_dev), ex3_valid_lens.to(net_dev))
    net.decoder(Y_b.to(net_dev), net.decoder.init_state(enc_outputs, ex3_valid_lens.to(net_dev)))
ex3_weights = torch.cat(net.decoder.attention_weights, dim=1).cpu()  # (batch, steps, num_kv)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
assert ex3_weights.shape == (batch_size, num_steps, num_steps), ex3_weights.shape
assert ex3_valid_lens.shape == (batch_size,) and int(ex3_valid_lens.min()) >= 1
row_sums = ex3_weights.sum(dim=-1)
pad = (torch.arange(num_steps)[None, None, :] >= ex3_valid_lens[:, None, None]).expand_as(
    ex3_weights)
print(f"largest |row sum - 1| = {float((row_sums - 1).abs().max()):.1e}; "
      f"{int(pad.sum())} padded entries, largest weight there: {float(ex3_weights[pad].max())}; "
      f"smallest weight on a valid position: {float(ex3_weights[~pad].min()):.1e}")
assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5)
assert pad.any() and ex3_weights[pad].max().item() == 0.0
assert ex3_weights[~pad].min().item() > 0  # valid positions all get some weight

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：是的。每行之和与 1 只差浮点舍入，填充位置上最大的权重是 `0.0`，每个有效位置都大于 0（上面打印的三个数）。
# 恰好为 0，是因为 10.3 节的 `masked_softmax` 把填充位置的分数设成 $-\infty$，$\exp(-\infty) = 0$ 在浮点数里精确成立；
# 填一个有限的负数（书中用 $-10^6$）则只是靠 $\exp$ 下溢才得到 0。

# %% [markdown]
# ### 练习 4
#
# 正文的解码器每一步都重算 $\mathbf{W}_k\mathbf{h}_t$，而它不随解码步变化。写一个子类 `PreprojectedDecoder`：`init_state` 把投影好的键作为第四项放进状态，每步只投影查询。
# 把正文 `net` 的解码器参数载入它（`load_state_dict`），在 `train_iter` 的第一个小批量上（先 `torch.manual_seed(0)`，评估模式）
# 比较两者的输出，最大绝对差存为 `ex4_diff`。再交替给一次前向传播计时（各 7 次，各次时间存为 `ex4_times`，中位数存为 `ex4_seconds`）：
# 键 `"book"` 是正文的解码器，`"preprojected"` 是你的，`"W_k every step"` 是你的解码器每步重新投影一次键（只差这一次矩阵乘法）。
# $\mathbf{W}_k$ 本身省下多少？为什么查询的投影 $\mathbf{W}_q\mathbf{s}_{t'-1}$ 不能同样预先算好？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class PreprojectedDecoder(d2l.Seq2SeqAttentionDecoder):
    """Seq2SeqAttentionDecoder that projects the keys with W_k once per sequence (or, with
    `reproject`, again at every step: to time that one matrix product)."""

    reproject = False

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        state = super().init_state(enc_outputs, enc_valid_lens)
        return state + [self.attention.W_k(state[0])]  # keys: (batch_size, num_kv, h)

    def forward(self, X, state):
        enc_outputs, hidden_state, enc_valid_lens, keys = state
        att = self.attention
        outputs, self._attention_weights = [], []
        for x in self.embedding(X).permute(1, 0, 2):
            if self.reproject:
                keys = att.W_k(enc_outputs)
            features = torch.tanh(att.W_q(hidden_state[-1]).unsqueeze(1) + keys)
            weights = d2l.masked_softmax(att.w_v(features).permute(0, 2, 1), enc_valid_lens)
            context = att.dropout(weights) @ enc_outputs  # (batch_size, 1, num_hiddens)
            x = torch.cat((context, x.unsqueeze(1)), dim=-1)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(weights)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens, keys]


net_dev = next(net.parameters()).device
ex4_net = d2l.EncoderDecoder(net.encoder, PreprojectedDecoder(
    len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout)).to(net_dev)
ex4_net.decoder.load_state_dict(net.decoder.state_dict())
net.eval()
ex4_net.eval()
torch.manual_seed(0)
batch = [t.to(net_dev) for t in next(iter(train_iter))]
with torch.inference_mode():
    ex4_diff = float((net(batch[0], batch[2], batch[1])[0]
                      - ex4_net(batch[0], batch[2], batch[1])[0]).abs().max())
    ex4_times = {"book": [], "preprojected": [], "W_k every step": []}
    for _ in range(7):  # alternate, so all see the same load on the machine
        for name, model in zip(ex4_times, (net, ex4_net, ex4_net)):
            ex4_net.decoder.reproject = name == "W_k every step"
            start = time.perf_counter()
            model(batch[0], batch[2], batch[1])
            ex4_times[name].append(time.perf_counter() - start)
    ex4_net.decoder.reproject = False
ex4_seconds = {name: sorted(ts)[len(ts) // 2] for name, ts in ex4_times.items()}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print(f"max |preprojected - book| = {ex4_diff:.1e}; one forward pass, median (min-max) of 7 "
      "alternating runs:", *(f"{name:15s} {ex4_seconds[name] * 1e3:5.1f} ms ({min(ts) * 1e3:.1f}-"
                             f"{max(ts) * 1e3:.1f})" for name, ts in ex4_times.items()),
      sep="\n  ")
print(f"W_k alone: {(ex4_seconds['W_k every step'] - ex4_seconds['preprojected']) * 1e3:.1f} ms "
      f"of the book's {ex4_seconds['book'] * 1e3:.1f} ms")
assert isinstance(ex4_net.decoder, d2l.Seq2SeqAttentionDecoder)
assert len(ex4_net.decoder.init_state(net.encoder(batch[0]), batch[1])) == 4
assert ex4_diff < 1e-5, "the same computation, only moved out of the loop"
assert set(ex4_seconds) == {"book", "preprojected", "W_k every step"}
assert all(len(ex4_times[name]) == 7 for name in ex4_seconds)

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：两者的输出逐位相同（差 0.0e+00），只是把同一个运算移出了循环。
# 正文的解码器还多走 `AttentionPooling.forward`（形状检查、模块调用），所以 $\mathbf{W}_k$ 本身的代价是 `"W_k every step"` 减 `"preprojected"`（上面打印的 `W_k alone`）。
# $T=10$、$h=32$ 时它每步只是一次 $(b, T, h)$ 乘 $(h, h)$ 的小矩阵乘法，只占一次前向的一小部分；两行的时间范围不重叠时，`W_k alone` 就是测得到的节省，重叠时它小于计时的波动。
# 键在解码前就全部已知且不变；查询 $\mathbf{s}_{t'-1}$ 要等上一步的 GRU 算完，它的投影只能每步现算。（Bahdanau 等人在论文附录 A 里也指出 $\mathbf{U}_a \mathbf{h}_j$ 可以预先算好。）
