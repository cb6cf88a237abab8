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
# # 10.3 注意力评分函数
#
# 10.2 节的 Nadaraya-Watson 核回归用高斯核衡量查询与键的相近程度，再经 softmax 变成注意力权重。
# 把高斯核里的指数部分抽出来，就得到一个更一般的概念：**注意力评分函数**（attention scoring function），
# 它给每个“查询–键”对打一个实数分，softmax 再把这些分数变成概率分布。
# 本节回答的问题是：**分数应该怎样算，批量计算时怎样处理长短不一的序列？**
# 我们实现两种最常用的评分函数——加性注意力和缩放点积注意力——以及它们共同依赖的掩蔽 softmax，
# 并用一个小实验说明点积为什么要除以 $\sqrt{d}$。后面的 Bahdanau 注意力、多头注意力和
# Transformer 都直接调用这里的组件。

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention import testing

# %% [markdown]
# ## 注意力汇聚的一般形式
#
# 设查询 $\mathbf{q} \in \mathbb{R}^{q}$，以及 $m$ 个键值对
# $(\mathbf{k}_1, \mathbf{v}_1), \ldots, (\mathbf{k}_m, \mathbf{v}_m)$，其中
# $\mathbf{k}_i \in \mathbb{R}^{k}$，$\mathbf{v}_i \in \mathbb{R}^{v}$。
# 注意力汇聚是值的加权和：
#
# $$f\big(\mathbf{q}, (\mathbf{k}_1, \mathbf{v}_1), \ldots, (\mathbf{k}_m, \mathbf{v}_m)\big)
#   = \sum_{i=1}^{m} \alpha(\mathbf{q}, \mathbf{k}_i)\, \mathbf{v}_i \in \mathbb{R}^{v},$$
#
# 权重由评分函数 $a: \mathbb{R}^{q} \times \mathbb{R}^{k} \to \mathbb{R}$ 经 softmax 得到：
#
# $$\alpha(\mathbf{q}, \mathbf{k}_i) = \operatorname{softmax}\big(a(\mathbf{q}, \mathbf{k}_i)\big)
#   = \frac{\exp\big(a(\mathbf{q}, \mathbf{k}_i)\big)}{\sum_{j=1}^{m} \exp\big(a(\mathbf{q}, \mathbf{k}_j)\big)}.$$
#
# 于是权重非负、和为 1。换一个评分函数 $a$，就换了一种注意力。
# 代码里总是成批计算：
#
# | 张量 | 形状 |
# |---|---|
# | 查询 `queries` | (`batch_size`, `num_queries`, $q$) |
# | 键 `keys` | (`batch_size`, `num_kv`, $k$) |
# | 值 `values` | (`batch_size`, `num_kv`, $v$) |
# | 分数与注意力权重 | (`batch_size`, `num_queries`, `num_kv`) |
# | 输出 | (`batch_size`, `num_queries`, $v$) |
#
# 输出就是注意力权重与值的批量矩阵乘法（`torch.bmm`）。

# %% [markdown]
# ![Scoring function, masking, softmax and weighted sum; additive vs scaled dot-product scoring](figures/10.3-scoring.svg)
#
# 图 10.3.1 注意力汇聚的输出是值的加权和：评分函数 $a(\mathbf{q}, \mathbf{k}_i)$ 给每个键打分，
# 超出有效长度 $L$ 的键（填充）的分数换成 $-\infty$，softmax 之后它们的权重为 0；右侧对比加性注意力与缩放点积注意力两种评分函数

# %% [markdown]
# ## 掩蔽 softmax 操作
#
# 机器翻译等任务会把长短不一的句子用填充词元（padding）补齐到同一长度后放进一个小批量。
# 填充位置没有意义，不应分到任何注意力。为此给每个样本（或每个查询）一个**有效长度**
# （valid length）$L$，只在前 $L$ 个键上做 softmax，其余位置的权重恰好为 0：
#
# $$\alpha_i = \begin{cases}
#   \dfrac{\exp(s_i)}{\sum_{j=1}^{L} \exp(s_j)}, & i \le L, \\[1ex]
#   0, & i > L.
# \end{cases}$$
#
# 做法是在 softmax 之前把第 $L$ 个之后的分数换成 $-\infty$：$\exp(-\infty) = 0$，这些键的权重就严格为 0，
# 其余权重重新归一化。书中把被掩蔽的分数换成 $-10^6$；这里换成 $-\infty$，因为 $-10^6$ 只是“很负”，
# 它的权重为 0 要靠 $\exp$ 下溢，而 $-\infty$ 不论分数的尺度和数据类型都给出严格的 0
# （float16 最大只能表示 65504，书中的赋值在半精度下得到的本来就是 $-\infty$）。
# `valid_lens` 可以是一维的（每个样本一个长度，所有查询共用），也可以是二维的（每个查询一个长度）。
# 第 $i$ 个键（从 0 数起）参与某一行的 softmax，当且仅当 $i < L$，掩码就是一次比较。
# 最后一行 `torch.where` 处理 $L = 0$ 的行，留到演示完普通掩蔽之后再讲。

# %%
#@save
def masked_softmax(X, valid_lens):
    """Softmax over the last axis that only looks at the first `valid_len` keys of each row.

    X: (batch_size, num_queries, num_keys) attention scores.
    valid_lens: None, (batch_size,) or (batch_size, num_queries); whole numbers in [0, num_keys].
    Returns weights with the shape of X: masked keys get exactly 0, and a row whose valid
    length is 0 is all zeros (its attention output is then a zero vector, never NaN).
    """
    d2l.check_shape(X, "X", "(batch_size, num_queries, num_keys)", "add a batch axis with unsqueeze(0)")
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    d2l.check_valid_lens(valid_lens, *X.shape)
    lens = torch.as_tensor(valid_lens, device=X.device)
    if lens.dim() == 1:
        lens = lens[:, None]  # one length shared by all queries of an example
    keep = torch.arange(X.shape[-1], device=X.device) < lens[..., None]
    has_key = keep[..., :1]  # key 0 takes part exactly when the row has a valid key
    weights = F.softmax(X.masked_fill(has_key & ~keep, float("-inf")), dim=-1)
    return torch.where(has_key, weights, 0.0)


# %% [markdown]
# 两个样本、每个样本两个查询、四个键。一维的 `valid_lens` 让第一个样本只看前 2 个键，
# 第二个样本只看前 3 个键：

# %%
torch.manual_seed(0)
X = torch.rand(2, 2, 4)
weights = masked_softmax(X, torch.tensor([2, 3]))
print(weights.round(decimals=4))
print("row sums:", weights.sum(dim=-1).round(decimals=4).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(weights.sum(dim=-1), torch.ones(2, 2))
assert (weights[0, :, 2:] == 0).all() and (weights[1, :, 3:] == 0).all()

# %% [markdown]
# 第一个样本的两行只在前 2 列上有权重，第二个样本的两行只在前 3 列上，每行的和仍是 1。
# 二维的 `valid_lens` 给每个查询单独的长度，这里四行分别只看前 1、3、2、4 个键：

# %%
weights = masked_softmax(X, torch.tensor([[1, 3], [2, 4]]))
print(weights.round(decimals=4))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(weights[0, 0], torch.tensor([1.0, 0, 0, 0]))
assert torch.equal((weights > 0).sum(dim=-1), torch.tensor([[1, 3], [2, 4]]))
assert torch.allclose(weights.sum(dim=-1), torch.ones(2, 2))

# %% [markdown]
# 只看 1 个键的那一行把全部权重 1 给了键 0：softmax 只有一个参与者时就是 1。
#
# ### 边界情况：有效长度为 0 的行
#
# 如果某一行**没有任何**有效的键（$L = 0$，例如一个空的源句子，或者只由填充组成的查询行），
# 上面的公式是 $0/0$。直接把四个分数都填成 $-\infty$，softmax 给出的正是 NaN，它会在反向传播中污染整个模型。
# 书中填 $-10^6$，这一行的分数全都相等，softmax 给出**均匀分布** $1/m$，
# 注意力输出变成填充位置上值的平均，纯填充的内容就这样悄悄“泄漏”进了下游计算；
# 这里约定 $L = 0$ 的行权重全为 0（输出是零向量），因为填充不该分到任何注意力。
# `masked_softmax` 对这样的行不做填充（`has_key & ~keep` 在这一行全是 `False`，分数保持有限，
# softmax 有定义、梯度有限），softmax 之后再由 `torch.where` 把它置零。下面在一行 $L = 0$ 上比较三种做法
# （`d2l.sequence_mask` 是第 9 章用过的掩蔽函数，只用于对照）：

# %%
row = X[1:, :1].reshape(1, 4)  # one query, 4 keys; suppose its valid_len is 0
zero_len = torch.tensor([0])
for name, fill in (("fill -1e6", -1e6), ("fill -inf", float("-inf"))):
    print(f"{name:<10}:", F.softmax(d2l.sequence_mask(row, zero_len, value=fill), dim=-1)
          .round(decimals=4).tolist())
print(f"{'ours':<10}:", masked_softmax(row[None], zero_len)[0].tolist())

# %% [markdown]
# 填 $-10^6$ 给出均匀的 $1/4$，填 $-\infty$ 给出 NaN，我们的实现给出全 0。
# 同一批里其余的行不受影响：把第二个样本第一个查询的有效长度改成 0，
# 只有这一行变成 0，其余三行与上面二维 `valid_lens` 的结果完全相同。

# %%
weights_zero = masked_softmax(X, torch.tensor([[1, 3], [0, 4]]))
print(weights_zero.round(decimals=4))
print("row sums:", weights_zero.sum(dim=-1).round(decimals=4).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (weights_zero[1, 0] == 0).all() and not weights_zero.isnan().any()
assert torch.equal(weights_zero[0], weights[0]) and torch.equal(weights_zero[1, 1], weights[1, 1])

# %% [markdown]
# `masked_softmax` 对每一行都走同样的三步（填充、softmax、`torch.where`），不先检查“这一批有没有
# $L = 0$ 的行”：在 GPU 上，这样的检查要把结果读回 CPU，每次调用都得停下来等设备算完
# （主机同步，host synchronization）。`d2l.check_valid_lens` 同理只在 CPU 张量上检查取值，
# 在其他设备上只检查形状。对至少有一个有效键的行，这三步与“只填充再 softmax”给出逐位相同的权重和梯度
# （测试 `tests/test_attention_scoring.py` 在随机输入上逐位比较）。

# %% [markdown]
# ### 动手试试：有效长度
#
# 下面的探索器把 6 个查询对 8 个键的一组随机分数（固定随机种子）交给 `masked_softmax`，
# 所有查询共用一个有效长度 $L$（一维 `valid_lens`），$L = 0, 1, \ldots, 8$ 的权重都已算好；
# 热图的行是查询、列是键，颜色刻度固定为 0 到 1。先看 $L = 8$（不掩蔽），再把滑块往左拖：
# 从第 $L$ 列（从 0 数起）起的键全部变成 0，被挤出的权重重新分给留下的键，留下的格子只会变深，
# 每一行仍然和为 1；$L = 1$ 时第一列全是 1；拖到 $L = 0$，整张图都是 0，正是上面约定的
# “没有有效键的行权重全为 0”，而不是均匀的 $1/8$。

# %%
#@save
def masking_states(scores, lengths):
    """Explorer rows: for each valid length L (shared by all queries), the weights that
    `masked_softmax` gives the (num_queries, num_keys) `scores`, and a line with the row sums."""
    weight_rows, text_rows = [], []
    num_queries, num_keys = scores.shape
    queries, keys = [f"q{i}" for i in range(num_queries)], [f"k{j}" for j in range(num_keys)]
    for L in lengths:
        weights = masked_softmax(scores[None], torch.tensor([L]))[0]
        state = {"valid_len": L}
        weight_rows += d2l.rows(state, weight=weights, row_labels=("query", queries),
                                col_labels=("key", keys))
        sums = sorted({f"{s:.2f}" for s in weights.sum(dim=-1).tolist()})
        text_rows += d2l.rows(state, text=[f"valid_len = {L}: {num_keys - L} of {num_keys} keys "
                                           f"masked (weight 0); row sums: {', '.join(sums)}"])
    return weight_rows, text_rows


# %%
torch.manual_seed(0)
mask_scores = torch.randn(6, 8, dtype=torch.float64)
lengths = list(range(9))
mask_rows, mask_text = masking_states(mask_scores, lengths)
d2l.explorer(d2l.heatmap_view(mask_rows, "key", "query", width=320, height=220,
                              title="masked_softmax(scores, valid_len)"),
             d2l.text_view(mask_text, "text", width=320),
             controls=[d2l.Slider("valid_len", lengths, "valid length L", default=8)],
             title="Mask the keys beyond the valid length", columns=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
heat = {L: torch.tensor([r["weight"] for r in mask_rows if r["valid_len"] == L]).reshape(6, 8)
        for L in lengths}
assert all((heat[L][:, L:] == 0).all() and torch.allclose(heat[L].sum(1), torch.ones(6), atol=1e-3)
           and (heat[L][:, :L] >= heat[L + 1][:, :L]).all() for L in lengths[1:-1])
assert (heat[1][:, 0] == 1).all() and (heat[0] == 0).all() and (heat[8] > 0).all()

# %% [markdown]
# ## 加性注意力
#
# 当查询和键的长度不同（$q \ne k$）时，可以用**加性注意力**（additive attention）作为评分函数：
#
# $$a(\mathbf{q}, \mathbf{k}) = \mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{q} + \mathbf{W}_k \mathbf{k}) \in \mathbb{R},$$
#
# 其中可学习参数 $\mathbf{W}_q \in \mathbb{R}^{h \times q}$、$\mathbf{W}_k \in \mathbb{R}^{h \times k}$、
# $\mathbf{w}_v \in \mathbb{R}^{h}$。它相当于把查询和键拼接起来，送入一个隐藏单元数为 $h$、
# 激活函数为 $\tanh$、没有偏置项的单隐藏层多层感知机。
#
# 加性注意力和下面的缩放点积注意力只在**评分函数**上不同：两者都是“打分 → 掩蔽 softmax →
# 对值加权求和”。书中两个类各自写完整的 `forward`；这里先写一个基类 `AttentionPooling`，
# 把共同的后两步只写一次，子类只实现 `score(queries, keys)`，因为两份相同的代码容易改了一份忘了另一份
# （构造参数、属性名 `W_k`、`W_q`、`w_v`、`attention_weights`、`dropout` 和 `state_dict` 都与书中相同）。
#
# 训练时对注意力权重做暂退法（dropout），相当于随机遮住一些键值对。`nn.Dropout(p)` 以概率 $p$
# 把每个权重置 0，并把留下的权重乘以 $1/(1-p)$，使每个权重的期望不变；所以训练模式下
# 每行权重的和不再是 1（只有期望是 1）。`attention_weights` 保存的是暂退之前的权重。

# %%
#@save
class AttentionPooling(nn.Module):
    """Attention pooling: softmax(score(q, k)) @ v, with masking and dropout on the weights.

    Subclasses implement score(queries, keys) -> (batch_size, num_queries, num_kv).
    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def score(self, queries, keys):
        raise NotImplementedError("a subclass of AttentionPooling defines its scoring function")

    def forward(self, queries, keys, values, valid_lens=None):
        d2l.check_qkv(queries, keys, values)
        # (batch_size, num_queries, num_kv), kept before dropout for the heatmaps
        self.attention_weights = masked_softmax(self.score(queries, keys), valid_lens)
        return self.dropout(self.attention_weights) @ values


# %% [markdown]
# 加性注意力的分数：先把查询投影成 (`batch_size`, `num_queries`, $h$)、键投影成
# (`batch_size`, `num_kv`, $h$)，再用索引 `None` 分别插入键轴和查询轴，广播相加就得到所有
# “查询–键”对的隐藏表示，形状为 (`batch_size`, `num_queries`, `num_kv`, $h$)；
# $\tanh$ 之后由 $\mathbf{w}_v$ 把最后一维压成一个数。

# %%
#@save
class AdditiveAttention(AttentionPooling):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size).
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(dropout, **kwargs)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def score(self, queries, keys):
        d2l.check_qkv(queries, keys, keys, self.W_q.in_features, self.W_k.in_features)
        # (batch, num_queries, 1, h) + (batch, 1, num_kv, h) -> one hidden vector per pair
        hidden = torch.tanh(self.W_q(queries)[:, :, None, :] + self.W_k(keys)[:, None, :, :])
        return self.w_v(hidden)[..., 0]  # (batch_size, num_queries, num_kv)


# %% [markdown]
# 用一个小例子试一试：批量大小为 2，每个样本 1 个 20 维查询、10 个二维键和 10 个四维值；
# 两个样本的值相同（0 到 39 排成 10 行 4 列），有效长度分别为 2 和 6。

# %%
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 20))
keys = torch.ones((2, 10, 2))
values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
valid_lens = torch.tensor([2, 6])

attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
attention.eval()  # no dropout in the demo
output = attention(queries, keys, values, valid_lens)
print("output shape:", tuple(output.shape))
print(output.detach().round(decimals=4))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(output[0, 0], values[0, :2].mean(dim=0), atol=1e-5)
assert torch.allclose(output[1, 0], values[1, :6].mean(dim=0), atol=1e-5)

# %% [markdown]
# 因为所有的键都相同，评分函数对每个键打出同样的分，有效范围内的权重是均匀的：
# 第一个样本的输出是前 2 行值的平均 $[2, 3, 4, 5]$，第二个是前 6 行的平均 $[10, 11, 12, 13]$。
# 注意力权重也证实了这一点：第一行前 2 个键各得 $1/2$，第二行前 6 个键各得 $1/6 \approx 0.167$，其余恰好为 0。

# %%
additive_weights = attention.attention_weights.detach().reshape(2, 10)
print(additive_weights.round(decimals=3))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(additive_weights[0, :2], torch.full((2,), 1 / 2))
assert torch.allclose(additive_weights[1, :6], torch.full((6,), 1 / 6))
assert (additive_weights[0, 2:] == 0).all() and (additive_weights[1, 6:] == 0).all()

# %% [markdown]
# ## 缩放点积注意力
#
# 当查询和键的长度相同（都是 $d$）时，点积是更省计算的评分函数：它没有参数，
# 批量计算就是一次矩阵乘法。**缩放点积注意力**（scaled dot-product attention）再除以 $\sqrt{d}$：
#
# $$a(\mathbf{q}, \mathbf{k}) = \frac{\mathbf{q}^\top \mathbf{k}}{\sqrt{d}}.$$
#
# 对 $n$ 个查询 $\mathbf{Q} \in \mathbb{R}^{n \times d}$、$m$ 个键值对
# $\mathbf{K} \in \mathbb{R}^{m \times d}$、$\mathbf{V} \in \mathbb{R}^{m \times v}$，整体写成
#
# $$\operatorname{softmax}\left(\frac{\mathbf{Q}\mathbf{K}^\top}{\sqrt{d}}\right)\mathbf{V} \in \mathbb{R}^{n \times v},$$
#
# 其中 softmax 按行进行（并按有效长度掩蔽）。为什么要除以 $\sqrt{d}$，本节最后用实验说明。

# %%
#@save
class DotProductAttention(AttentionPooling):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(dropout, **kwargs)

    def score(self, queries, keys):
        d = queries.shape[-1]
        d2l.check_shape(keys, "keys", "(batch_size, num_kv, d)", "project them to size d first", d=d)
        # All n x m dot products at once: (batch, n, d) @ (batch, d, m) -> (batch, n, m)
        return queries @ keys.transpose(-2, -1) / math.sqrt(d)


# %% [markdown]
# 同一个例子，只是查询改成与键同样的 2 维，暂退概率取 0.5：

# %%
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 2))
attention = DotProductAttention(dropout=0.5)
attention.eval()
output = attention(queries, keys, values, valid_lens)
print("output shape:", tuple(output.shape))
print(output.round(decimals=4))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(output[1, 0], values[1, :6].mean(dim=0), atol=1e-5)
changed = values.clone()  # values behind the valid length cannot influence the output
changed[0, 2:], changed[1, 6:] = 1000.0, 1000.0
assert torch.equal(attention(queries, keys, changed, valid_lens), output)

# %% [markdown]
# 评估模式（`eval()`）下暂退法不起作用，输出与加性注意力相同。切回训练模式，看一看暂退法对这两行权重
# （$1/2$ 和 $1/6$）做了什么，再对 10000 次随机暂退取平均：

# %%
attention.train()
torch.manual_seed(1)
dropped = attention.dropout(attention.attention_weights)
print(dropped.reshape(2, 10).round(decimals=3))
print("row sums:", [f"{s:.3f}" for s in dropped.sum(dim=-1).reshape(-1)])
sums = torch.stack([attention.dropout(attention.attention_weights).sum(dim=-1)
                    for _ in range(10000)])
print("mean row sums over 10000 draws:", [f"{s:.2f}" for s in sums.mean(dim=0).reshape(-1)])
attention = attention.eval()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
kept = dropped != 0
assert torch.allclose(dropped[kept], (attention.attention_weights / (1 - 0.5))[kept])
assert not torch.allclose(dropped.sum(dim=-1), torch.ones(2, 1))
assert torch.allclose(sums.mean(dim=0), torch.ones(2, 1), atol=0.03)

# %% [markdown]
# 留下的权重翻了一倍（$1/2 \to 1$，$1/6 \to 0.333$），其余变成 0：这一次第一行的两个权重都留下了，
# 行和是 2；第二行 6 个权重留下 4 个，行和是 $4/3$。一次暂退之后的行和不再是 1，
# 对很多次暂退取平均，行和才回到 1。
#
# 键全都相同时，无论查询是什么，权重都是均匀的，热图上看不出任何东西。
# 下面先与 PyTorch 对照，再换一组彼此不同的键，把掩蔽的作用画出来。
#
# ### 与 PyTorch 的实现对照
#
# PyTorch 自带缩放点积注意力 `F.scaled_dot_product_attention`。在随机输入和逐查询的有效长度上比较两者
# （长度都不为 0：PyTorch 对全被掩蔽的行给出 NaN）：

# %%
torch.manual_seed(0)
q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
lens = torch.randint(1, 7, (3, 4))  # one valid length per query, 1..6
diff = testing.sdpa_difference(DotProductAttention(dropout=0.0), q, k, v, lens)
print(f"ours vs F.scaled_dot_product_attention: max diff < 1e-6: {diff < 1e-6}")

# %% [markdown]
# 两者的差别只在浮点舍入的量级，我们的实现与 PyTorch 计算的是同一个函数。
#
# ## 可视化：掩蔽怎样改变注意力
#
# 取 10 个两两不同的二维键，均匀分布在半径为 3 的圆上（键 $j$ 的方向角为 $36° \times j$），
# 再取 10 个查询，第 $i$ 个查询与键 $i$ 方向相同。点积在方向一致时最大，所以不加掩蔽时，
# 每个查询的权重集中在“自己的”键及其两侧的邻居上，热图是一条对角带。再看两种掩蔽：
#
# * 每个样本一个有效长度 6（一维 `valid_lens`）：所有查询都只能看键 0 到 5；
# * 每个查询一个有效长度 $i + 1$（二维 `valid_lens` $= [1, 2, \ldots, 10]$）：第 $i$ 个查询只能看键 0 到 $i$。
#   10.7 节的 Transformer 解码器正是用这种掩蔽让每个位置看不到“未来”。

# %%
angles = torch.arange(10) * (2 * math.pi / 10)
circle_keys = 3 * torch.stack([angles.cos(), angles.sin()], dim=-1).reshape(1, 10, 2)
circle_queries = circle_keys.clone()  # query i points in the direction of key i
masks = {"valid_lens = None": None,
         "valid_lens = 6": torch.tensor([6]),
         "valid_lens = [1, 2, ..., 10]": torch.arange(1, 11).reshape(1, 10)}
attention = DotProductAttention(dropout=0.0)
masked_weights = []
for lens in masks.values():
    attention(circle_queries, circle_keys, circle_keys, lens)
    masked_weights.append(attention.attention_weights[0])
masked_weights = torch.stack(masked_weights)  # (3 settings, 10 queries, 10 keys)
print("most attended key per query:")
for name, w in zip(masks, masked_weights):
    print(f"  {name:<29}", w.argmax(dim=-1).tolist())
labels = [f"k{j}" for j in range(10)]
d2l.show_heatmaps(masked_weights.unsqueeze(0), xlabel="Keys", ylabel="Queries", titles=list(masks),
                  figsize=(11, 3.8), xticklabels=labels, yticklabels=[f"q{i}" for i in range(10)])
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
no_mask, per_example, per_query = masked_weights
assert no_mask.argmax(dim=-1).tolist() == list(range(10))
assert (per_example[:, 6:] == 0).all()
assert per_example.argmax(dim=-1).tolist() == [0, 1, 2, 3, 4, 5, 5, 5, 0, 0]
assert torch.equal(per_query, per_query.tril()) and per_query.argmax(dim=-1).tolist() == list(range(10))
assert torch.allclose(masked_weights.sum(dim=-1), torch.ones(3, 10))

# %% [markdown]
# 左图：最深的格子在对角线上，每个查询最关注方向相同的键，两侧的邻居也分到一些权重。
# 中图：键 6 到 9 的四列全是 0。查询 6 和 7 看不到自己的键，权重转到能看到的键里方向最接近的键 5；
# 查询 8 和 9 则转到键 0（圆上键 9 的下一个就是键 0）。右图：对角线以上全是 0，成了下三角；
# 查询 0 只能看键 0，权重为 1。三幅图共用一个颜色刻度，深浅可以直接比较：
# 被掩蔽挤出来的权重都重新分给了可见的键，每一行仍然和为 1。

# %% [markdown]
# ## 实验：为什么要除以 $\sqrt{d}$
#
# 设查询与键的各分量独立，均值为 0、方差为 1。点积 $\mathbf{q}^\top\mathbf{k} = \sum_{j=1}^{d} q_j k_j$
# 是 $d$ 个独立项之和，每项方差为 1，所以
#
# $$\operatorname{Var}(\mathbf{q}^\top\mathbf{k}) = d, \qquad
#   \operatorname{Var}\!\left(\frac{\mathbf{q}^\top\mathbf{k}}{\sqrt{d}}\right) = 1.$$
#
# 分数的标准差随 $\sqrt{d}$ 增长时，softmax 的输入差距越来越大，输出趋于 one-hot。
# 这对学习有什么影响？权重 $\boldsymbol{\alpha} = \operatorname{softmax}(\mathbf{s})$ 对分数的导数
# （雅可比矩阵，Jacobian）是
#
# $$\frac{\partial \boldsymbol{\alpha}}{\partial \mathbf{s}} = \operatorname{diag}(\boldsymbol{\alpha}) - \boldsymbol{\alpha}\boldsymbol{\alpha}^\top,
#   \qquad \text{即} \quad \frac{\partial \alpha_i}{\partial s_j} = \alpha_i(\delta_{ij} - \alpha_j).$$
#
# $\boldsymbol{\alpha}$ 趋于 one-hot 时，每一项 $\alpha_i(1-\alpha_i)$ 和 $\alpha_i\alpha_j$ 都趋于 0：
# 不只是小权重的梯度，**整个**雅可比矩阵都趋于 0，连得到几乎全部权重的那个键，其分数也收不到梯度，
# 模型就很难再学习。下面对不同的 $d$ 各抽 1000 个查询、每个查询配 10 个随机键，测量点积的方差、
# 每行最大注意力权重的平均值（1 表示完全饱和，$1/10$ 表示均匀），以及雅可比矩阵的 Frobenius 范数
# $\lVert \partial\boldsymbol{\alpha}/\partial\mathbf{s} \rVert_F$ 的平均值，不缩放和缩放两种情况各算一遍
# （10 个权重全相等时这个范数是 0.3，one-hot 时是 0）。

# %%
def softmax_jacobian_norm(scores):
    """Mean over rows of ||diag(a) - a a^T||_F, a = softmax(scores) over the last axis."""
    a = F.softmax(scores, dim=-1)
    jacobian = torch.diag_embed(a) - a[..., :, None] * a[..., None, :]
    return jacobian.norm(dim=(-2, -1)).mean().item()


torch.manual_seed(0)
dims = [4, 16, 64, 256, 1024]
num_trials, num_keys = 1000, 10
variances, max_unscaled, max_scaled, grad_unscaled, grad_scaled = [], [], [], [], []
for d in dims:
    q = torch.randn(num_trials, 1, d)
    k = torch.randn(num_trials, num_keys, d)
    dots = torch.bmm(q, k.transpose(1, 2))  # (num_trials, 1, num_keys)
    variances.append(dots.var().item())
    max_unscaled.append(F.softmax(dots, dim=-1).max(dim=-1).values.mean().item())
    max_scaled.append(F.softmax(dots / math.sqrt(d), dim=-1).max(dim=-1).values.mean().item())
    grad_unscaled.append(softmax_jacobian_norm(dots))
    grad_scaled.append(softmax_jacobian_norm(dots / math.sqrt(d)))

print(f"{'d':>5} {'Var(q.k)/d':>11} {'max weight':>18} {'||d alpha / d s||_F':>21}")
print(f"{'':>17} {'q.k':>7} {'q.k/sqrt d':>10} {'q.k':>9} {'q.k/sqrt d':>11}")
for row in zip(dims, variances, max_unscaled, max_scaled, grad_unscaled, grad_scaled):
    d, var, mu, ms, gu, gs = row
    print(f"{d:>5} {var / d:>11.2f} {mu:>7.3f} {ms:>10.3f} {gu:>9.3f} {gs:>11.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for d, var in zip(dims, variances):
    assert 0.5 < var / d < 2, "the variance of q.k should grow like d"
assert max_unscaled[-1] > 0.9, "without scaling the softmax should saturate at large d"
assert all(0.2 < ms < 0.6 for ms in max_scaled), "with scaling the weights should stay spread out"
assert all(a > b for a, b in zip(grad_unscaled, grad_unscaled[1:])) and grad_unscaled[-1] < 0.1
assert max(grad_scaled) - min(grad_scaled) < 0.05 and min(grad_scaled) > 0.3
s = torch.randn(10, dtype=torch.float64)  # the closed form is the Jacobian autograd computes
assert torch.allclose(torch.autograd.functional.jacobian(lambda x: F.softmax(x, dim=-1), s).norm(),
                      torch.tensor(softmax_jacobian_norm(s), dtype=torch.float64))

# %%
d2l.use_svg_display()
fig, axes = d2l.plt.subplots(1, 3, figsize=(10, 2.8))
d2l.plot(dims, [variances, dims], xlabel="d", ylabel="variance",
         legend=["Var(q.k) measured", "d"], xscale="log", yscale="log", axes=axes[0])
d2l.plot(dims, [max_unscaled, max_scaled], xlabel="d", ylabel="mean max weight",
         legend=["q.k", "q.k / sqrt(d)"], xscale="log", ylim=(0, 1.05), axes=axes[1])
d2l.plot(dims, [grad_unscaled, grad_scaled], xlabel="d", ylabel="mean ||d alpha / d s||_F",
         legend=["q.k", "q.k / sqrt(d)"], xscale="log", ylim=(0, 0.5), axes=axes[2])
fig.tight_layout()
d2l.plt.show()

# %% [markdown]
# 左图：测得的方差与 $d$ 几乎重合（表中 $\operatorname{Var}/d$ 在 0.97 到 1.02 之间）。
# 中图：不缩放时，最大权重的平均值从 $d = 4$ 的 0.494 升到 $d = 1024$ 的 0.970，权重几乎是 one-hot；
# 缩放后它停在 0.30 到 0.33 之间，与 $d$ 基本无关。
# 右图是梯度：不缩放时雅可比矩阵的范数从 0.337 掉到 0.042，只剩八分之一；缩放后始终在 0.34 到 0.35 之间。
# 这就是缩放点积注意力里 $1/\sqrt{d}$ 的作用：让分数的尺度不随维度变化，
# softmax 保持在梯度不会消失的区域。

# %% [markdown]
# ### 动手试试：维度与缩放
#
# 上面的表和图是 1000 个查询的平均。下面的探索器只看**一个**查询：对每个 $d \in \{2, 4, \ldots, 512\}$，
# 固定随机种子抽一个标准正态查询和 20 个标准正态键。
# 上图是 20 个分数：不勾选缩放时是点积 $\mathbf{q}^\top\mathbf{k}_j$，勾选后是 `DotProductAttention`
# 的分数 $\mathbf{q}^\top\mathbf{k}_j/\sqrt{d}$；纵轴对所有状态都相同，分散程度可以直接比较。
# 中图是 softmax 之后的权重，最下面一行给出这 20 个分数的标准差和最大的权重。
# 先不勾选缩放，把 $d$ 从 2 调到 512：点散得越来越开，标准差大致跟着 $\sqrt{d}$ 增长，权重随之集中，
# 到 $d = 512$ 几乎是 one-hot（全部权重落在一个键上）。再勾选缩放：不论 $d$ 多大，
# 分数的标准差都在 1 附近（$d$ 很小时偏离大一些：一个查询的长度 $\lVert\mathbf{q}\rVert$ 与 $\sqrt{d}$
# 的相对差别这时更大），权重摊在许多键上，没有一个超过 0.3。

# %%
#@save
def scaling_states(dims, num_keys=20, seed=0):
    """Explorer rows: for each dimension d, one standard normal query against `num_keys`
    standard normal keys (float64, seeded), with scaling off (plain q.k through `masked_softmax`)
    and on (`DotProductAttention`): the scores, the weights and a line with their spread."""
    torch.manual_seed(seed)
    attention = DotProductAttention(dropout=0.0)
    score_rows, weight_rows, text_rows = [], [], []
    names = [f"k{j}" for j in range(num_keys)]
    for d in dims:
        q = torch.randn(1, 1, d, dtype=torch.float64)
        k = torch.randn(1, num_keys, d, dtype=torch.float64)
        for scaled in (False, True):
            if scaled:
                scores = attention.score(q, k)
                attention(q, k, k)
                weights = attention.attention_weights
            else:
                scores = q @ k.transpose(1, 2)
                weights = masked_softmax(scores, None)
            state = {"d": d, "scaled": scaled}
            score_rows += d2l.rows(state, row_labels=("key", names), score=scores[0, 0])
            weight_rows += d2l.rows(state, row_labels=("key", names), weight=weights[0, 0])
            text_rows += d2l.rows(state, text=[
                f"std of the {num_keys} scores = {scores.std().item():.2f} (sqrt(d) = "
                f"{math.sqrt(d):.2f}); largest weight = {weights.max().item():.2f}"])
    return score_rows, weight_rows, text_rows


# %%
explore_dims = [2**i for i in range(1, 10)]
score_rows, weight_rows, spread_text = scaling_states(explore_dims)
bound = 10 * math.ceil(max(abs(r["score"]) for r in score_rows) / 10)
d2l.explorer(d2l.point_view(score_rows, "i", "score", title="scores of one query", width=520,
                            height=180, y_domain=(-bound, bound), x_title="key j"),
             d2l.bar_view(weight_rows, "key", "weight", title="softmax weights", width=520,
                          height=160),
             d2l.text_view(spread_text, "text", width=520),
             controls=[d2l.Select("d", explore_dims, "dimension d", default=2),
                       d2l.Checkbox("scaled", "divide the scores by sqrt(d)", default=False)],
             title="Why divide by sqrt(d)", columns=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
spread = {(d, on): torch.tensor([r["score"] for r in score_rows if (r["d"], r["scaled"]) == (d, on)])
          .std().item() for d in explore_dims for on in (False, True)}
top = {(d, on): max(r["weight"] for r in weight_rows if (r["d"], r["scaled"]) == (d, on))
       for d in explore_dims for on in (False, True)}
assert all(0.5 < spread[d, False] / math.sqrt(d) < 1.5 and 0.5 < spread[d, True] < 1.5
           and top[d, True] < 0.3 for d in explore_dims) and top[512, False] > 0.95 > top[2, False]
assert max(abs(spread[d, True] - 1) for d in (64, 128, 256, 512)) < abs(spread[4, True] - 1)

# %% [markdown]
# ## 小结
#
# * 注意力汇聚的输出是值的加权和，权重是评分函数 $a(\mathbf{q}, \mathbf{k}_i)$ 经 softmax 得到的概率分布；选不同的评分函数就得到不同的注意力，其余步骤（掩蔽 softmax、加权求和）都相同，所以两种注意力共用基类 `AttentionPooling`。训练时对权重做暂退法：留下的权重乘以 $1/(1-p)$，一次暂退后的行和不再是 1，只有期望是 1。
# * 掩蔽 softmax 把有效长度之外的分数换成 $-\infty$，这些位置的权重严格为 0；有效长度为 0 的行输出全 0 权重——书中填 $-10^6$ 会给出均匀权重（填充泄漏），全填 $-\infty$ 会给出 NaN。它对每一行都走同样的步骤，不需要主机同步。
# * 加性注意力用一个单隐藏层 MLP 打分，查询与键的长度可以不同；缩放点积注意力没有参数，要求长度相同，批量计算就是矩阵乘法，结果与 PyTorch 的 `F.scaled_dot_product_attention` 一致。
# * 随机向量的点积方差随维度 $d$ 线性增长；不缩放时 softmax 饱和，整个雅可比矩阵 $\operatorname{diag}(\boldsymbol{\alpha}) - \boldsymbol{\alpha}\boldsymbol{\alpha}^\top$ 趋于 0（$d = 1024$ 时范数只剩 0.042）；除以 $\sqrt{d}$ 使分数方差保持为 1，梯度不随 $d$ 消失。
#
# ## 练习
#
# ### 练习 1
#
# 修改本节小例子里的键，让它们彼此不同：例如第 $j$ 个键取 $[j, j + 1] / 10$（两个样本相同）。
# 查询和值不变（加性注意力用 20 维查询，点积注意力用 2 维查询，都在 `torch.manual_seed(0)` 之后用
# `torch.normal(0, 1, ...)` 生成；加性注意力取 `num_hiddens=8`，在生成查询之后创建），
# 有效长度仍为 `[2, 6]`。把新的键存为 `ex1_keys`，两种注意力的权重分别存为
# `ex1_additive_weights` 和 `ex1_dot_weights`（形状都是 `(2, 1, 10)`），并把它们画在同一幅图里。
# 两种注意力还会给出相同的权重吗？为什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex1_keys = (torch.arange(10.0)[:, None] + torch.tensor([0.0, 1.0])).div(10).repeat(2, 1, 1)
ex1_values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
ex1_lens = torch.tensor([2, 6])
torch.manual_seed(0)
ex1_additive = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.0)
ex1_additive(torch.normal(0, 1, (2, 1, 20)), ex1_keys, ex1_values, ex1_lens)
ex1_additive_weights = ex1_additive.attention_weights.detach()
torch.manual_seed(0)
ex1_dot = DotProductAttention(dropout=0.0)
ex1_dot(torch.normal(0, 1, (2, 1, 2)), ex1_keys, ex1_values, ex1_lens)
ex1_dot_weights = ex1_dot.attention_weights
print("additive:\n", ex1_additive_weights.reshape(2, 10).round(decimals=3))
print("dot product:\n", ex1_dot_weights.reshape(2, 10).round(decimals=3))
d2l.show_heatmaps(torch.stack([ex1_additive_weights.reshape(2, 10), ex1_dot_weights.reshape(2, 10)])
                  .unsqueeze(0), xlabel="Keys", ylabel="Examples",
                  titles=["Additive", "Scaled dot product"], figsize=(9, 3))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex1_keys.shape) == (2, 10, 2), "ex1_keys should have shape (2, 10, 2)"
assert len({tuple(k.tolist()) for k in ex1_keys[0]}) == 10, "the 10 keys must differ from each other"
for ex1_w in (ex1_additive_weights, ex1_dot_weights):
    assert tuple(ex1_w.shape) == (2, 1, 10), "weights should have shape (2, 1, 10)"
    assert torch.allclose(ex1_w.sum(dim=-1), torch.ones(2, 1)), "each row must sum to 1"
    assert (ex1_w[0, 0, 2:] == 0).all() and (ex1_w[1, 0, 6:] == 0).all(), "mask with [2, 6]"
torch.manual_seed(0)
ex1_check_q = torch.normal(0, 1, (2, 1, 2))
ex1_expected = masked_softmax(ex1_check_q @ ex1_keys.transpose(1, 2) / math.sqrt(2),
                              torch.tensor([2, 6]))
assert torch.allclose(ex1_dot_weights, ex1_expected, atol=1e-6), \
    f"dot-product weights should be softmax(q k^T / sqrt(2)) = {ex1_expected.reshape(2, 10)}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex1_dot_weights[1, 0, :6].std() > 1e-3, "distinct keys: dot-product weights are not uniform"
assert (ex1_additive_weights - ex1_dot_weights).abs().max() > 0.01, \
    "with distinct keys the two scoring functions give different weights"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不再相同。本节的例子里所有键都相等，任何评分函数都给每个键打同样的分，
# softmax 之后在有效范围内都是均匀的 $1/2$ 和 $1/6$，所以两种注意力“碰巧”一致。
# 键彼此不同后，分数取决于评分函数本身：点积注意力的分数是 $\mathbf{q}^\top\mathbf{k}_j/\sqrt{2}$，
# 这里随 $j$ 单调变化，权重偏向有效范围的一端；加性注意力的分数由随机初始化的 $\mathbf{W}_q$、
# $\mathbf{W}_k$、$\mathbf{w}_v$ 决定，查询也是另一个 20 维向量，与点积的分数没有关系，
# 于是两者的权重不再相同（上面的输出里第二个样本相差约 0.04）。两者一致只是“键全相同”这个特例的巧合。

# %% [markdown]
# ### 练习 2
#
# 只用矩阵乘法，能否为长度不同的查询（$q$ 维）和键（$k$ 维）设计一个评分函数？
# 实现“一般”（general，也叫双线性（bilinear））注意力 $a(\mathbf{q}, \mathbf{k}) = \mathbf{q}^\top \mathbf{W} \mathbf{k}$：
# 定义类 `GeneralAttention(query_size, key_size, dropout=0.0)`，继承本节的 `AttentionPooling`，
# 可学习参数 `self.W` 是形状为 `(query_size, key_size)` 的 `nn.Parameter`。
# 它与缩放点积注意力是什么关系？提示：当 $q = k = d$ 时取 $\mathbf{W} = \mathbf{I} / \sqrt{d}$。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class GeneralAttention(AttentionPooling):
    """a(q, k) = q^T W k; queries (batch, n, query_size), keys (batch, m, key_size)."""

    def __init__(self, query_size, key_size, dropout=0.0):
        super().__init__(dropout)
        self.W = nn.Parameter(torch.randn(query_size, key_size) / math.sqrt(query_size * key_size))

    def score(self, queries, keys):
        # (batch, n, q) @ (q, k) @ (batch, k, m) -> (batch, n, m): two matrix products
        return queries @ self.W @ keys.transpose(-2, -1)


torch.manual_seed(0)
ex2_demo = GeneralAttention(query_size=20, key_size=2)
print("q = 20, k = 2 ->", tuple(ex2_demo(torch.randn(2, 1, 20), torch.randn(2, 10, 2),
                                         torch.randn(2, 10, 4)).shape))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
ex2_general = GeneralAttention(query_size=20, key_size=3)
assert isinstance(ex2_general.W, nn.Parameter) and tuple(ex2_general.W.shape) == (20, 3)
ex2_out = ex2_general(torch.randn(2, 4, 20), torch.randn(2, 5, 3), torch.randn(2, 5, 6),
                      torch.tensor([[5, 1, 3, 0], [2, 5, 4, 1]]))
assert tuple(ex2_out.shape) == (2, 4, 6), "output: (batch_size, num_queries, value_dim)"
assert tuple(ex2_general.attention_weights.shape) == (2, 4, 5)
assert (ex2_general.attention_weights[0, 1, 1:] == 0).all(), "valid_lens must be respected"
ex2_tq, ex2_tk = torch.randn(2, 4, 20), torch.randn(2, 5, 3)
assert torch.allclose(ex2_general.score(ex2_tq, ex2_tk),
                      ex2_tq @ ex2_general.W @ ex2_tk.transpose(1, 2), atol=1e-5), \
    "score(queries, keys) should be queries @ W @ keys^T"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
ex2_q, ex2_k, ex2_v = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 4)
ex2_lens = torch.tensor([[1, 3, 5], [2, 0, 4]])
ex2_general = GeneralAttention(query_size=8, key_size=8)
with torch.no_grad():
    ex2_general.W.copy_(torch.eye(8) / math.sqrt(8))
    ex2_diff = (ex2_general(ex2_q, ex2_k, ex2_v, ex2_lens)
                - DotProductAttention(0.0)(ex2_q, ex2_k, ex2_v, ex2_lens)).abs().max()
assert ex2_diff < 1e-6, "with W = I / sqrt(d) general attention is scaled dot-product attention"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：可以。$\mathbf{W} \in \mathbb{R}^{q \times k}$ 把键映射到查询的空间（或反过来），
# 分数矩阵就是两次矩阵乘法 $\mathbf{Q}\mathbf{W}\mathbf{K}^\top$，对 $q \ne k$ 同样成立。
# 缩放点积注意力是它的特例：$q = k = d$、$\mathbf{W} = \mathbf{I}/\sqrt{d}$ 时两者完全相同
# （测试里两者输出的差在 $10^{-6}$ 以内）。与加性注意力相比，它不需要物化
# (`batch_size`, `num_queries`, `num_kv`, $h$) 的中间张量，参数也只有 $qk$ 个。

# %% [markdown]
# ### 练习 3
#
# 当查询和键的长度相同时，用向量求和 $a(\mathbf{q}, \mathbf{k}) = \mathbf{1}^\top(\mathbf{q} + \mathbf{k})$
# （两个向量相加后把各分量加起来）作为评分函数，会比点积更好吗？
# 定义函数 `sum_score(queries, keys)`：输入 (`batch_size`, `num_queries`, $d$) 和 (`batch_size`, `num_kv`, $d$)，
# 返回 (`batch_size`, `num_queries`, `num_kv`) 的分数。再对 `torch.manual_seed(0)` 后的随机
# `torch.randn(1, 4, 8)` 个查询和 `torch.randn(1, 6, 8)` 个键，分别用 `sum_score` 和缩放点积打分、做 softmax，
# 把“不同查询之间权重的最大差别” $\max_{i, j} |\alpha_{ij} - \alpha_{1j}|$ 存为 `ex3_spread_sum` 和 `ex3_spread_dot`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def sum_score(queries, keys):
    """1^T (q + k) for every pair: (batch, n, d), (batch, m, d) -> (batch, n, m)."""
    return queries.sum(dim=-1)[:, :, None] + keys.sum(dim=-1)[:, None, :]


torch.manual_seed(0)
ex3_q, ex3_k = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
ex3_sum_weights = F.softmax(sum_score(ex3_q, ex3_k), dim=-1)
ex3_dot_weights = F.softmax(ex3_q @ ex3_k.transpose(-2, -1) / math.sqrt(8), dim=-1)
ex3_spread_sum = (ex3_sum_weights - ex3_sum_weights[:, :1]).abs().max().item()
ex3_spread_dot = (ex3_dot_weights - ex3_dot_weights[:, :1]).abs().max().item()
# The sum-score spread is rounding noise; its last digits depend on the CPU, so print a bound.
print(f"largest difference between queries: sum below 1e-6: {ex3_spread_sum < 1e-6}, "
      f"dot {ex3_spread_dot:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
ex3_tq, ex3_tk = torch.randn(2, 3, 5), torch.randn(2, 7, 5)
ex3_scores = sum_score(ex3_tq, ex3_tk)
assert tuple(ex3_scores.shape) == (2, 3, 7), "scores: (batch_size, num_queries, num_kv)"
ex3_by_hand = (ex3_tq[1, 2] + ex3_tk[1, 4]).sum()
assert torch.allclose(ex3_scores[1, 2, 4], ex3_by_hand, atol=1e-5), \
    f"score of query 2 and key 4 in example 1 should be 1^T(q + k) = {ex3_by_hand:.4f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert torch.allclose(ex3_scores, (ex3_tq[:, :, None, :] + ex3_tk[:, None, :, :]).sum(dim=-1),
                      atol=1e-5), "sum_score should be the sum of all entries of q + k"
assert ex3_spread_sum < 1e-6, "with sum scores every query gets the same weights"
assert ex3_spread_dot > 0.1, "with dot-product scores the weights depend on the query"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不会，反而更差。$\mathbf{1}^\top(\mathbf{q} + \mathbf{k}) = \mathbf{1}^\top\mathbf{q} + \mathbf{1}^\top\mathbf{k}$，
# 查询那一项对所有键都一样，而 softmax 对每行加上同一个常数不变，于是权重
# $\operatorname{softmax}_j(\mathbf{1}^\top\mathbf{k}_j)$ 与查询完全无关：不同查询的权重差别只有浮点误差的量级，
# 而点积注意力下差别很大（上面的输出）。注意力失去了“按查询挑选”的能力，退化成一个固定的加权平均。
# 任何把查询和键**分开相加**的线性评分都有这个问题；点积把两者相乘，分数才真正依赖“查询–键”这一对。
# 加性注意力也是先相加，但相加之后还有非线性的 $\tanh$，所以没有这个问题。

# %% [markdown]
# ### 练习 4
#
# 加性注意力在计算中要物化一个 (`batch_size`, `num_queries`, `num_kv`, $h$) 的隐藏张量，
# 点积注意力只需要 (`batch_size`, `num_queries`, `num_kv`) 的分数。用前向钩子（forward hook）
# 实测：在 `AdditiveAttention(key_size=4, query_size=4, num_hiddens=16, dropout=0)` 的 `w_v` 上注册
# `register_forward_hook`，记下它的输入张量的形状，存为 `ex4_hidden_shape`（元组）；
# 对 `batch_size=2`、3 个查询、5 个键值对，把这个张量的元素个数与点积注意力权重的元素个数之比存为 `ex4_ratio`。
# 再按这个比例估算 `batch_size=64`、长度 128 的自注意力、$h = 512$ 时加性注意力隐藏张量的 float32 大小（GiB），
# 存为 `ex4_gib`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex4_seen = []
ex4_additive = AdditiveAttention(key_size=4, query_size=4, num_hiddens=16, dropout=0.0)
ex4_handle = ex4_additive.w_v.register_forward_hook(
    lambda module, inputs, output: ex4_seen.append(tuple(inputs[0].shape)))
torch.manual_seed(0)
ex4_q, ex4_k, ex4_v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 2)
ex4_additive(ex4_q, ex4_k, ex4_v)
ex4_handle.remove()
ex4_dot = DotProductAttention(dropout=0.0)
ex4_dot(ex4_q, ex4_k, ex4_v)
ex4_hidden_shape = ex4_seen[0]
ex4_ratio = math.prod(ex4_hidden_shape) / ex4_dot.attention_weights.numel()
ex4_gib = 64 * 128 * 128 * 512 * 4 / 2**30
print("hidden tensor:", ex4_hidden_shape, " dot-product scores:",
      tuple(ex4_dot.attention_weights.shape), f" ratio {ex4_ratio:.0f}")
print(f"additive hidden tensor at 64 x 128 x 128 x 512: {ex4_gib:.1f} GiB; "
      f"dot-product scores: {64 * 128 * 128 * 4 / 2**20:.1f} MiB")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert isinstance(ex4_hidden_shape, tuple) and len(ex4_hidden_shape) == 4, \
    "the hidden tensor has 4 axes: (batch_size, num_queries, num_kv, num_hiddens)"
assert abs(ex4_ratio - math.prod(ex4_hidden_shape) / (2 * 3 * 5)) < 1e-9, \
    "ex4_ratio = elements of the hidden tensor / elements of the 2 x 3 x 5 weights"
assert 1 < ex4_gib < 3, "64 * 128 * 128 * 512 float32 numbers are about 2 GiB"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex4_hidden_shape == (2, 3, 5, 16)
assert abs(ex4_ratio - 16) < 1e-9, "h times more elements than the scores"
assert abs(ex4_gib - 2.0) < 0.01

# %% [markdown]
# ### 练习 5
#
# 缩放因子为什么是 $1/\sqrt{d}$ 而不是 $1/d$？先在上面的“维度与缩放”探索器里勾选缩放，
# 把 $d$ 从 2 调到 512，看分数的标准差和最大权重怎样（不）变化；再想一想：若改为除以 $d$，
# $d = 512$ 时分数的标准差大约是多少，权重会是什么样子？然后沿用上面实验的设置（`torch.manual_seed(0)`，
# 每个 $d$ 取 1000 个标准正态查询、各配 10 个标准正态键），对 $d \in \{4, 64, 1024\}$
# 计算分数除以 $d$ 时“每行最大权重的平均值”，存为字典 `ex5_mean_max`（键为 $d$）。
# 它随 $d$ 怎样变化？这说明了什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex5_mean_max = {}
for d in [4, 64, 1024]:
    q, k = torch.randn(1000, 1, d), torch.randn(1000, 10, d)
    w = F.softmax(q @ k.transpose(1, 2) / d, dim=-1)
    ex5_mean_max[d] = w.max(dim=-1).values.mean().item()
print("divide by d:      ", {d: round(m, 3) for d, m in ex5_mean_max.items()})
print("divide by sqrt(d):", {d: round(m, 3) for d, m in zip(dims, max_scaled) if d in ex5_mean_max})
# 参考答案：除以 d 时，每行最大权重的平均值随 d 增大而下降（上面第一行输出：0.192、0.121、0.105），
# 逼近均匀分布的 1/10。这时分数的标准差是 sqrt(d) / d = 1 / sqrt(d)，随 d 趋于 0，softmax 趋于均匀，
# 注意力什么也不挑了；除以 sqrt(d) 时它始终在 0.3 左右（第二行输出），与 d 无关。
# 不缩放，d 越大权重越接近 one-hot（梯度消失）；除以 d，d 越大权重越接近均匀（不再按键挑选）。
# 只有除以 sqrt(d) 让分数的方差保持为 1，权重的形状与 d 无关。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex5_mean_max) == {4, 64, 1024}, "ex5_mean_max needs the keys 4, 64 and 1024"
assert all(0.1 - 1e-6 <= v <= 1 for v in ex5_mean_max.values()), "a max over 10 weights is >= 1/10"
assert ex5_mean_max[4] < max_scaled[0] - 0.05, \
    f"at d = 4 dividing by d = 4 should flatten the weights more than dividing by sqrt(d) = 2 " \
    f"(mean max weight {max_scaled[0]:.3f}); got {ex5_mean_max[4]:.3f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex5_mean_max[4] > ex5_mean_max[64] > ex5_mean_max[1024], "dividing by d flattens the weights"
assert ex5_mean_max[1024] < 0.11, "at d = 1024 the weights are almost uniform (1/10)"
assert ex5_mean_max[4] > 0.15, "at d = 4 the weights are still visibly uneven"
