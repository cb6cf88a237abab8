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
# ![Scoring function, softmax and weighted sum; additive vs scaled dot-product scoring](figures/10.3-scoring.svg)
#
# 图 10.3.1 注意力汇聚的输出是值的加权和：评分函数 $a(\mathbf{q}, \mathbf{k}_i)$ 经 softmax 得到权重 $\alpha_i$；右侧对比加性注意力与缩放点积注意力两种评分函数

# %% [markdown]
# ## 掩蔽 softmax 操作
#
# 机器翻译等任务会把长短不一的句子用填充词元（padding）补齐到同一长度后放进一个小批量。
# 填充位置没有意义，不应分到任何注意力。为此给每个样本（或每个查询）一个**有效长度**
# （valid length）$L$，只在前 $L$ 个键上做 softmax，其余位置的权重恰好为 0：
#
# $$\alpha_i = \begin{cases}
#   \dfrac{\exp(s_i)}{\sum_{j=1}^{L} \exp(s_j)}, & i \le L, \\[1ex]
#   0, & i > L,
# \end{cases}
# \qquad\text{约定 } L = 0 \text{ 时所有 } \alpha_i = 0.$$
#
# 最后一条约定值得细说。原书的实现把被掩蔽的分数替换成 $-10^6$ 再做普通 softmax。
# 只要一行里还有有效的键，这没问题：$\exp(-10^6)$ 下溢为 0。但如果某一行**全部**被掩蔽
# （$L=0$，例如一个空的源句子，或者某个只由填充组成的查询行），这一行的分数全都等于 $-10^6$，
# softmax 对相等的分数给出**均匀分布** $1/m$——注意力输出变成填充位置上值的平均，
# 纯填充的内容就这样悄悄“泄漏”进了下游计算。若改用 $-\infty$ 填充，又会得到
# $\exp(-\infty)/\sum \exp(-\infty) = 0/0$，即 NaN，并在反向传播中污染整个模型。
#
# 下面的实现两者都避免：被掩蔽的分数填 $-\infty$（于是它们的权重严格为 0），
# 没有任何有效键的行保留原来的有限分数（softmax 有定义，梯度有限），softmax 之后再把这些行置零。
# 由于第 $j$ 个键参与当且仅当 $j < L$，“这一行有没有有效的键”只需看第 0 个键是否参与。
# 训练翻译模型时每个句子至少有一个词元（`<eos>`），$L = 0$ 的行并不出现，
# 所以代码先查一次：没有这样的行，就只做填充和 softmax 两步，省掉最后的置零。
# `valid_lens` 可以是一维的（每个样本一个长度，所有查询共用），也可以是二维的（每个查询一个长度）。
#
# 代码分两步：`_key_mask` 检查 `valid_lens` 并把它变成布尔掩码（第 $j$ 个键参与某一行的 softmax，
# 当且仅当 $j < L$）；`masked_softmax` 再按掩码计算权重。

# %%
#@save
def _key_mask(valid_lens, batch_size, num_queries, num_keys, device=None):
    """Boolean mask, True where a key takes part in the softmax.

    valid_lens: (batch_size,) or (batch_size, num_queries), whole numbers in [0, num_keys].
    Returns (batch_size, 1, num_keys) for per-example lengths, (batch_size, num_queries, num_keys)
    for per-query lengths; either broadcasts against the scores.
    """
    lens = torch.as_tensor(valid_lens, device=device)
    if tuple(lens.shape) == (batch_size,):
        lens = lens[:, None]  # one length shared by all queries of an example
    elif tuple(lens.shape) != (batch_size, num_queries):
        raise ValueError(
            f"valid_lens must have shape (batch_size,) = ({batch_size},) or "
            f"(batch_size, num_queries) = ({batch_size}, {num_queries}), "
            f"got shape {tuple(lens.shape)}"
        )
    if lens.numel() == 0:  # an empty batch: nothing to check
        return torch.zeros(*lens.shape, num_keys, dtype=torch.bool, device=lens.device)
    lo, hi = (v.item() for v in torch.aminmax(lens))  # one pass over the lengths: the range
    if lo < 0 or hi > num_keys or (lens.is_floating_point() and (lens != lens.round()).any()):
        raise ValueError(
            f"valid_lens must hold whole numbers between 0 and num_keys={num_keys}, got values "
            f"from {lo} to {hi}"
        )
    # Key position j takes part in a row whose valid length is L exactly when j < L.
    return torch.arange(num_keys, device=lens.device) < lens[..., None]


# %%
#@save
def masked_softmax(X, valid_lens):
    """Softmax over the last axis that only looks at the first `valid_len` keys of each row.

    X: (batch_size, num_queries, num_keys) attention scores.
    valid_lens: None (every key is valid), (batch_size,) with one length per example, or
        (batch_size, num_queries) with one length per query; whole numbers in [0, num_keys]
        (an integer or integer-valued float tensor).
    Returns weights with the shape of X: masked keys get exactly 0, and a row whose valid
    length is 0 is all zeros (its attention output is then a zero vector, never NaN).
    """
    if X.dim() != 3:
        raise ValueError(
            f"masked_softmax expects X of shape (batch_size, num_queries, num_keys), "
            f"got shape {tuple(X.shape)}; add a batch axis with unsqueeze(0)"
        )
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    keep = _key_mask(valid_lens, *X.shape, device=X.device)
    # Key j takes part when j < L, so a row has a valid key exactly when key 0 takes part.
    has_key = keep[..., :1]
    if has_key.all():  # the usual case: exp(-inf) = 0 gives masked keys exactly zero weight
        return F.softmax(X.masked_fill(~keep, float("-inf")), dim=-1)
    # A row with no valid key would be all -inf, and softmax would return 0/0 = NaN: such a row
    # keeps its finite scores here, and its weights are set to zero after the softmax.
    scores = X.masked_fill(has_key & ~keep, float("-inf"))
    return torch.where(has_key, F.softmax(scores, dim=-1), 0.0)


# %% [markdown]
# 两个样本、每个样本两个查询、四个键。一维的 `valid_lens` 让第一个样本只看前 2 个键，
# 第二个样本只看前 3 个键：

# %%
torch.manual_seed(0)
X = torch.rand(2, 2, 4)
weights = masked_softmax(X, torch.tensor([2, 3]))
print(weights.round(decimals=4))
assert torch.allclose(weights.sum(dim=-1), torch.ones(2, 2))
assert (weights[0, :, 2:] == 0).all() and (weights[1, :, 3:] == 0).all()

# %% [markdown]
# 二维的 `valid_lens` 给每个查询单独的长度。这里第二个样本的第一个查询有效长度为 0，
# 它的整行权重都是 0，而不是 NaN 或均匀分布：

# %%
weights = masked_softmax(X, torch.tensor([[1, 3], [0, 4]]))
print(weights.round(decimals=4))
print("row sums:", weights.sum(dim=-1).round(decimals=4).tolist())
assert (weights[1, 0] == 0).all() and not weights.isnan().any()

# %% [markdown]
# 作为对照，把原书的做法（掩蔽位置填 $-10^6$）和直接填 $-\infty$ 的做法在全被掩蔽的一行上算一遍
# （只是演示，不保存到库中）。`d2l.sequence_mask` 是第 9 章用过的掩蔽函数：

# %%
row = X[1:, :1]  # one example, one query, 4 keys; suppose valid_len = 0
zero_len = torch.tensor([0])
with_big_negative = F.softmax(d2l.sequence_mask(row.reshape(1, 4), zero_len, value=-1e6), dim=-1)
with_neg_inf = F.softmax(d2l.sequence_mask(row.reshape(1, 4), zero_len, value=float("-inf")), dim=-1)
ours = masked_softmax(row, zero_len)
print("fill -1e6 :", with_big_negative.round(decimals=4).tolist())
print("fill -inf :", with_neg_inf.tolist())
print("ours      :", ours.reshape(-1).tolist())
values = torch.arange(4.0).reshape(1, 4, 1)  # pretend these are values at padding positions
print(f"output with -1e6: {(with_big_negative @ values.reshape(4, 1)).item():.2f} "
      f"(mean of padding), ours: {torch.bmm(ours, values).item():.2f}")
assert torch.allclose(with_big_negative, torch.full((1, 4), 0.25))
assert with_neg_inf.isnan().all() and (ours == 0).all()

# %% [markdown]
# 填 $-10^6$ 给出均匀的 $1/4$，输出是填充值的平均 1.5；填 $-\infty$ 给出 NaN；
# 我们的实现给出全 0。
# 不合法的输入会直接报错并说明期望的形状或取值范围，而不是在后面的矩阵乘法里才失败：

# %%
for bad_lens in (torch.tensor([1, 2, 3]), torch.tensor([2, 5]), torch.tensor([-1, 2])):
    try:
        masked_softmax(X, bad_lens)
    except ValueError as e:
        print("ValueError:", e)


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
# 注意力类都先检查输入形状，这个检查放在一个小的辅助函数里：

# %%
#@save
def _check_qkv(queries, keys, values):
    """Raise ValueError unless queries, keys and values have consistent 3-D shapes.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim).
    """
    expected = {"queries": "(batch_size, num_queries, query_size)",
                "keys": "(batch_size, num_kv, key_size)",
                "values": "(batch_size, num_kv, value_dim)"}
    for name, t in (("queries", queries), ("keys", keys), ("values", values)):
        if t.dim() != 3:
            raise ValueError(f"{name} must have shape {expected[name]}, got {tuple(t.shape)}")
    batch_size, num_kv = keys.shape[0], keys.shape[1]
    if queries.shape[0] != batch_size or values.shape[0] != batch_size:
        raise ValueError(
            f"queries, keys and values must share batch_size, got shapes {tuple(queries.shape)}, "
            f"{tuple(keys.shape)} and {tuple(values.shape)}"
        )
    if values.shape[1] != num_kv:
        raise ValueError(
            f"values must have shape (batch_size, num_kv, value_dim) = ({batch_size}, {num_kv}, "
            f"value_dim) to pair with keys of shape {tuple(keys.shape)}, got {tuple(values.shape)}"
        )


# %% [markdown]
# 加性注意力和下面的缩放点积注意力只在**评分函数**上不同：两者都是“打分 → 掩蔽 softmax →
# 对值加权求和”。所以先写一个基类 `AttentionPooling`，把共同的后两步写一次；
# 子类只需实现 `score(queries, keys)`，返回形状为 (`batch_size`, `num_queries`, `num_kv`) 的分数。
# 训练时对注意力权重做暂退法（dropout），相当于随机遮住一些键值对。

# %%
#@save
class AttentionPooling(nn.Module):
    """Attention pooling: softmax(score(q, k)) @ v, with masking and dropout on the weights.

    Subclasses implement score(queries, keys) -> (batch_size, num_queries, num_kv).
    forward(queries, keys, values, valid_lens=None):
        queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
        values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
        (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
        `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights = None

    def score(self, queries, keys):
        raise NotImplementedError("a subclass of AttentionPooling defines its scoring function")

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values)
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

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(dropout, **kwargs)
        self.key_size, self.query_size = key_size, query_size
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def score(self, queries, keys):
        for name, t, size in (("queries", queries, self.query_size), ("keys", keys, self.key_size)):
            if t.shape[-1] != size:
                axes = "num_queries, query_size" if name == "queries" else "num_kv, key_size"
                raise ValueError(
                    f"{name} must have shape (batch_size, {axes}) with "
                    f"{axes.split(', ')[1]}={size}, got {tuple(t.shape)}"
                )
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
# All keys are equal, so the valid pairs share the weight evenly: the output is their mean.
assert torch.allclose(output[0, 0], values[0, :2].mean(dim=0), atol=1e-5)
assert torch.allclose(output[1, 0], values[1, :6].mean(dim=0), atol=1e-5)

# %% [markdown]
# 因为所有的键都相同，评分函数对每个键打出同样的分，有效范围内的权重是均匀的：
# 第一个样本的输出是前 2 行值的平均 $[2, 3, 4, 5]$，第二个是前 6 行的平均 $[10, 11, 12, 13]$。
# 注意力权重也证实了这一点：第一行前 2 个键各得 $1/2$，第二行前 6 个键各得 $1/6$，其余恰好为 0。

# %%
additive_weights = attention.attention_weights.detach().reshape(2, 10)
print(additive_weights.round(decimals=3))
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
# 其中 softmax 按行进行（并按有效长度掩蔽）。为什么要除以 $\sqrt{d}$，下一小节用实验说明。

# %%
#@save
class DotProductAttention(AttentionPooling):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(dropout, **kwargs)

    def score(self, queries, keys):
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"keys must have shape (batch_size, num_kv, d) with the queries' d={d}, "
                f"got keys of shape {tuple(keys.shape)}; project them to size {d} first"
            )
        # All n x m dot products at once: (batch, n, d) @ (batch, d, m) -> (batch, n, m)
        return queries @ keys.transpose(-2, -1) / math.sqrt(d)


# %% [markdown]
# 同一个例子，只是查询改成与键同样的 2 维：

# %%
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 2))
attention = DotProductAttention(dropout=0.5)
attention.eval()
output = attention(queries, keys, values, valid_lens)
print("output shape:", tuple(output.shape))
print(output.round(decimals=4))
assert torch.allclose(output[1, 0], values[1, :6].mean(dim=0), atol=1e-5)

# Values behind the valid length cannot influence the output.
changed = values.clone()
changed[0, 2:] = 1000.0
changed[1, 6:] = 1000.0
assert torch.equal(attention(queries, keys, changed, valid_lens), output)

# %% [markdown]
# 键全都相同时，无论查询是什么，权重都是均匀的，热图上看不出任何东西。
# 下一小节换一组彼此不同的键，把掩蔽的作用画出来。
#
# ### 与 PyTorch 的实现对照
#
# PyTorch 自带缩放点积注意力 `F.scaled_dot_product_attention`。它的布尔掩码 `attn_mask`
# 以 `True` 表示“这个键参与 softmax”，正好是 `_key_mask` 给出的掩码。
# 在随机输入和逐查询的有效长度上比较两者（长度都不为 0：PyTorch 对全被掩蔽的行会给出 NaN）：

# %%
# NBVAL_IGNORE_OUTPUT
# (the last digits of the difference depend on the CPU's kernels; the bound holds everywhere)
torch.manual_seed(0)
q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
lens = torch.randint(1, 7, (3, 4))  # one valid length per query, 1..6
ours = DotProductAttention(dropout=0.0)(q, k, v, lens)
reference = F.scaled_dot_product_attention(q, k, v, attn_mask=_key_mask(lens, 3, 4, 6))
max_diff = (ours - reference).abs().max().item()
print("output:", tuple(ours.shape), f" max |ours - PyTorch| = {max_diff:.1e}")
assert max_diff < 1e-6

# %% [markdown]
# 两者的差别只在浮点舍入的量级（具体数字随 CPU 的计算内核略有不同，但都远小于 $10^{-6}$），
# 我们的实现与 PyTorch 计算的是同一个函数。
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
# 键的长度与查询不一致时，点积无从定义，错误信息会说明需要的形状：

# %%
try:
    attention(torch.ones(2, 1, 3), keys, values, valid_lens)
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## 实验：为什么要除以 $\sqrt{d}$
#
# 设查询与键的各分量独立，均值为 0、方差为 1。点积 $\mathbf{q}^\top\mathbf{k} = \sum_{j=1}^{d} q_j k_j$
# 是 $d$ 个独立项之和，每项方差为 1，所以
#
# $$\operatorname{Var}(\mathbf{q}^\top\mathbf{k}) = d, \qquad
#   \operatorname{Var}\!\left(\frac{\mathbf{q}^\top\mathbf{k}}{\sqrt{d}}\right) = 1.$$
#
# 分数的标准差随 $\sqrt{d}$ 增长时，softmax 的输入差距越来越大，输出趋于 one-hot：
# 几乎全部权重落在一个键上，其余权重（以及它们的梯度）接近 0，模型就很难学习。
# 下面对不同的 $d$ 各抽 1000 个查询、每个查询配 10 个随机键，测量点积的方差，
# 以及不缩放和缩放两种情况下每行最大注意力权重的平均值（1 表示完全饱和，$1/10$ 表示均匀）。

# %%
torch.manual_seed(0)
dims = [4, 16, 64, 256, 1024]
num_trials, num_keys = 1000, 10
variances, max_unscaled, max_scaled = [], [], []
for d in dims:
    q = torch.randn(num_trials, 1, d)
    k = torch.randn(num_trials, num_keys, d)
    dots = torch.bmm(q, k.transpose(1, 2))  # (num_trials, 1, num_keys)
    variances.append(dots.var().item())
    max_unscaled.append(F.softmax(dots, dim=-1).max(dim=-1).values.mean().item())
    max_scaled.append(F.softmax(dots / math.sqrt(d), dim=-1).max(dim=-1).values.mean().item())

print(f"{'d':>5} {'Var(q.k)/d':>11} {'max w (q.k)':>12} {'max w (q.k/sqrt d)':>19}")
for d, var, mu, ms in zip(dims, variances, max_unscaled, max_scaled):
    print(f"{d:>5} {var / d:>11.2f} {mu:>12.3f} {ms:>19.3f}")
for d, var in zip(dims, variances):
    assert 0.5 < var / d < 2, "the variance of q.k should grow like d"
assert max_unscaled[-1] > 0.9, "without scaling the softmax should saturate at large d"
assert all(0.2 < ms < 0.6 for ms in max_scaled), "with scaling the weights should stay spread out"

# %%
d2l.use_svg_display()
fig, axes = d2l.plt.subplots(1, 2, figsize=(7, 2.6))
d2l.plot(dims, [variances, dims], xlabel="d", ylabel="variance",
         legend=["Var(q.k) measured", "d"], xscale="log", yscale="log", axes=axes[0])
d2l.plot(dims, [max_unscaled, max_scaled], xlabel="d", ylabel="mean max weight",
         legend=["q.k", "q.k / sqrt(d)"], xscale="log", ylim=(0, 1.05), axes=axes[1])
fig.tight_layout()
d2l.plt.show()

# %% [markdown]
# 左图：测得的方差与 $d$ 几乎重合。右图：不缩放时，最大权重随 $d$ 增大迅速逼近 1；
# 缩放后它与 $d$ 无关，始终停留在同一水平（10 个标准正态分数的 softmax 的典型最大值）。
# 这就是缩放点积注意力里 $1/\sqrt{d}$ 的作用：让分数的尺度不随维度变化，
# softmax 保持在梯度不会消失的区域。

# %% [markdown]
# ## 小结
#
# * 注意力汇聚的输出是值的加权和，权重是评分函数 $a(\mathbf{q}, \mathbf{k}_i)$ 经 softmax 得到的概率分布；选不同的评分函数就得到不同的注意力，其余步骤（掩蔽 softmax、加权求和）都相同，所以两种注意力共用基类 `AttentionPooling`。
# * 掩蔽 softmax 只在有效长度内分配权重；被掩蔽的位置权重严格为 0，有效长度为 0 的行输出全 0 权重——用 $-10^6$ 填充会给出均匀权重（填充泄漏），用 $-\infty$ 会给出 NaN。
# * 加性注意力用一个单隐藏层 MLP 打分，查询与键的长度可以不同；缩放点积注意力没有参数，要求长度相同，批量计算就是矩阵乘法，结果与 PyTorch 的 `F.scaled_dot_product_attention` 一致。
# * 随机向量的点积方差随维度 $d$ 线性增长；除以 $\sqrt{d}$ 使分数方差保持为 1，避免 softmax 饱和。
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
### BEGIN SOLUTION
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
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex1_keys.shape) == (2, 10, 2), "ex1_keys should have shape (2, 10, 2)"
assert len({tuple(k.tolist()) for k in ex1_keys[0]}) == 10, "the 10 keys must differ from each other"
for ex1_w in (ex1_additive_weights, ex1_dot_weights):
    assert tuple(ex1_w.shape) == (2, 1, 10), "weights should have shape (2, 1, 10)"
    assert torch.allclose(ex1_w.sum(dim=-1), torch.ones(2, 1)), "each row must sum to 1"
    assert (ex1_w[0, 0, 2:] == 0).all() and (ex1_w[1, 0, 6:] == 0).all(), "mask with [2, 6]"
### BEGIN HIDDEN TESTS
assert ex1_dot_weights[1, 0, :6].std() > 1e-3, "distinct keys: dot-product weights are not uniform"
assert (ex1_additive_weights - ex1_dot_weights).abs().max() > 0.01, \
    "with distinct keys the two scoring functions give different weights"
### END HIDDEN TESTS

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
### BEGIN SOLUTION
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
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
ex2_general = GeneralAttention(query_size=20, key_size=3)
assert isinstance(ex2_general.W, nn.Parameter) and tuple(ex2_general.W.shape) == (20, 3)
ex2_out = ex2_general(torch.randn(2, 4, 20), torch.randn(2, 5, 3), torch.randn(2, 5, 6),
                      torch.tensor([[5, 1, 3, 0], [2, 5, 4, 1]]))
assert tuple(ex2_out.shape) == (2, 4, 6), "output: (batch_size, num_queries, value_dim)"
assert tuple(ex2_general.attention_weights.shape) == (2, 4, 5)
assert (ex2_general.attention_weights[0, 1, 1:] == 0).all(), "valid_lens must be respected"
### BEGIN HIDDEN TESTS
ex2_q, ex2_k, ex2_v = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 4)
ex2_lens = torch.tensor([[1, 3, 5], [2, 0, 4]])
ex2_general = GeneralAttention(query_size=8, key_size=8)
with torch.no_grad():
    ex2_general.W.copy_(torch.eye(8) / math.sqrt(8))
    ex2_diff = (ex2_general(ex2_q, ex2_k, ex2_v, ex2_lens)
                - DotProductAttention(0.0)(ex2_q, ex2_k, ex2_v, ex2_lens)).abs().max()
assert ex2_diff < 1e-6, "with W = I / sqrt(d) general attention is scaled dot-product attention"
### END HIDDEN TESTS

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
### BEGIN SOLUTION
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
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
ex3_tq, ex3_tk = torch.randn(2, 3, 5), torch.randn(2, 7, 5)
ex3_scores = sum_score(ex3_tq, ex3_tk)
assert tuple(ex3_scores.shape) == (2, 3, 7), "scores: (batch_size, num_queries, num_kv)"
### BEGIN HIDDEN TESTS
assert torch.allclose(ex3_scores, (ex3_tq[:, :, None, :] + ex3_tk[:, None, :, :]).sum(dim=-1),
                      atol=1e-5), "sum_score should be the sum of all entries of q + k"
assert ex3_spread_sum < 1e-6, "with sum scores every query gets the same weights"
assert ex3_spread_dot > 0.1, "with dot-product scores the weights depend on the query"
### END HIDDEN TESTS

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
### BEGIN SOLUTION
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
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert isinstance(ex4_hidden_shape, tuple) and len(ex4_hidden_shape) == 4, \
    "the hidden tensor has 4 axes: (batch_size, num_queries, num_kv, num_hiddens)"
### BEGIN HIDDEN TESTS
assert ex4_hidden_shape == (2, 3, 5, 16)
assert abs(ex4_ratio - 16) < 1e-9, "h times more elements than the scores"
assert abs(ex4_gib - 2.0) < 0.01
### END HIDDEN TESTS

# %% [markdown]
# ### 练习 5
#
# 缩放因子为什么是 $1/\sqrt{d}$ 而不是 $1/d$？沿用上面实验的设置（`torch.manual_seed(0)`，
# 每个 $d$ 取 1000 个标准正态查询、各配 10 个标准正态键），对 $d \in \{4, 64, 1024\}$
# 计算分数除以 $d$ 时“每行最大权重的平均值”，存为字典 `ex5_mean_max`（键为 $d$）。
# 它随 $d$ 怎样变化？这说明了什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
# 除以 d 时分数的标准差是 sqrt(d) / d = 1 / sqrt(d)，随 d 增大趋于 0：softmax 趋于均匀的 1/10，
# 注意力什么也不挑了。只有除以 sqrt(d) 才让分数的尺度与 d 无关。
torch.manual_seed(0)
ex5_mean_max = {}
for d in [4, 64, 1024]:
    q, k = torch.randn(1000, 1, d), torch.randn(1000, 10, d)
    w = F.softmax(q @ k.transpose(1, 2) / d, dim=-1)
    ex5_mean_max[d] = w.max(dim=-1).values.mean().item()
print({d: round(m, 3) for d, m in ex5_mean_max.items()})
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex5_mean_max) == {4, 64, 1024}, "ex5_mean_max needs the keys 4, 64 and 1024"
assert all(0.1 - 1e-6 <= v <= 1 for v in ex5_mean_max.values()), "a max over 10 weights is >= 1/10"
### BEGIN HIDDEN TESTS
assert ex5_mean_max[4] > ex5_mean_max[64] > ex5_mean_max[1024], "dividing by d flattens the weights"
assert ex5_mean_max[1024] < 0.11, "at d = 1024 the weights are almost uniform (1/10)"
assert ex5_mean_max[4] > 0.15, "at d = 4 the weights are still visibly uneven"
### END HIDDEN TESTS
