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
# 对没有任何有效键的行先把分数填成 0（softmax 有定义，梯度有限），softmax 之后再把这些行置零。
# `valid_lens` 可以是一维的（每个样本一个长度，所有查询共用），也可以是二维的（每个查询一个长度）。

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
    batch_size, num_queries, num_keys = X.shape
    valid_lens = torch.as_tensor(valid_lens, device=X.device)
    if valid_lens.dim() == 1 and valid_lens.shape[0] == batch_size:
        lens = valid_lens[:, None, None]  # one length shared by all queries of an example
    elif valid_lens.dim() == 2 and tuple(valid_lens.shape) == (batch_size, num_queries):
        lens = valid_lens[:, :, None]
    else:
        raise ValueError(
            f"valid_lens must have shape (batch_size,) = ({batch_size},) or "
            f"(batch_size, num_queries) = ({batch_size}, {num_queries}), "
            f"got shape {tuple(valid_lens.shape)}"
        )
    bad = (valid_lens < 0) | (valid_lens > num_keys)
    if valid_lens.is_floating_point():
        bad = bad | (valid_lens != valid_lens.round())
    if bad.any():  # a single host sync covers all value checks
        raise ValueError(
            f"valid_lens must hold whole numbers between 0 and num_keys={num_keys}, got values "
            f"from {valid_lens.min().item()} to {valid_lens.max().item()}"
        )
    keep = torch.arange(num_keys, device=X.device) < lens  # (batch_size, 1 or num_queries, num_keys)
    empty = lens == 0
    # -inf (not -1e6) gives masked keys exactly zero weight. Rows without any valid key are
    # filled with zeros before the softmax (no 0/0, finite gradients) and zeroed after it.
    scores = X.masked_fill(~keep, float("-inf")).masked_fill(empty, 0.0)
    return F.softmax(scores, dim=-1).masked_fill(empty, 0.0)


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
# 实现时先把查询投影成 (`batch_size`, `num_queries`, $h$)、键投影成 (`batch_size`, `num_kv`, $h$)，
# 再各插入一个长度为 1 的轴，借助广播得到所有“查询–键”对的和，形状为
# (`batch_size`, `num_queries`, `num_kv`, $h$)。
#
# 两个注意力类都先检查输入形状。这个检查放在一个小的辅助函数里：

# %%
#@save
def _check_qkv(queries, keys, values, query_size=None, key_size=None):
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
    if query_size is not None and queries.shape[2] != query_size:
        raise ValueError(
            f"queries must have shape (batch_size, num_queries, query_size) with "
            f"query_size={query_size}, got {tuple(queries.shape)}"
        )
    if key_size is not None and keys.shape[2] != key_size:
        raise ValueError(
            f"keys must have shape (batch_size, num_kv, key_size) with key_size={key_size}, "
            f"got {tuple(keys.shape)}"
        )


# %%
#@save
class AdditiveAttention(nn.Module):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(**kwargs)
        self.key_size, self.query_size = key_size, query_size
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values, self.query_size, self.key_size)
        queries, keys = self.W_q(queries), self.W_k(keys)
        # (batch_size, num_queries, 1, h) + (batch_size, 1, num_kv, h): every query meets every key
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)  # (batch_size, num_queries, num_kv)
        self.attention_weights = masked_softmax(scores, valid_lens)
        # Dropout on the weights randomly hides some key-value pairs during training.
        return torch.bmm(self.dropout(self.attention_weights), values)


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
# 热图上，第一行只有前 2 格、第二行只有前 6 格有颜色：

# %%
print(attention.attention_weights.detach().reshape(2, 10).round(decimals=3))
d2l.show_heatmaps(attention.attention_weights.reshape((1, 1, 2, 10)),
                  xlabel="Keys", ylabel="Queries", figsize=(5, 2))
d2l.plt.show()

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
class DotProductAttention(nn.Module):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim) and keeps
    `self.attention_weights`: (batch_size, num_queries, num_kv), taken before dropout.
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        _check_qkv(queries, keys, values)
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"keys must have shape (batch_size, num_kv, d) with the queries' d={d}, "
                f"got keys of shape {tuple(keys.shape)}; project them to size {d} first"
            )
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


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

# %%
d2l.show_heatmaps(attention.attention_weights.reshape((1, 1, 2, 10)),
                  xlabel="Keys", ylabel="Queries", figsize=(5, 2))
d2l.plt.show()

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
# * 注意力汇聚的输出是值的加权和，权重是评分函数 $a(\mathbf{q}, \mathbf{k}_i)$ 经 softmax 得到的概率分布；选不同的评分函数就得到不同的注意力。
# * 掩蔽 softmax 只在有效长度内分配权重；被掩蔽的位置权重严格为 0，有效长度为 0 的行输出全 0 权重——用 $-10^6$ 填充会给出均匀权重（填充泄漏），用 $-\infty$ 会给出 NaN。
# * 加性注意力用一个单隐藏层 MLP 打分，查询与键的长度可以不同；缩放点积注意力没有参数，要求长度相同，批量计算就是矩阵乘法。
# * 随机向量的点积方差随维度 $d$ 线性增长；除以 $\sqrt{d}$ 使分数方差保持为 1，避免 softmax 饱和。
#
# ## 练习
#
# 1. 修改小例子中的键，让它们彼此不同（例如第 $i$ 个键为 $[i, i]/10$），缩放点积注意力的权重和输出会怎样变化？
# 2. 实现“一般”（general，也叫双线性）评分函数 $a(\mathbf{q}, \mathbf{k}) = \mathbf{q}^\top \mathbf{W} \mathbf{k}$，
#    其中 $\mathbf{W} \in \mathbb{R}^{q \times k}$ 可学习。它与缩放点积注意力是什么关系？它能处理 $q \ne k$ 吗？
# 3. 加性注意力在计算中要物化一个 (`batch_size`, `num_queries`, `num_kv`, $h$) 的张量，
#    点积注意力只需要 (`batch_size`, `num_queries`, `num_kv`) 的分数。对一个 Transformer 规模的设置比较两者的元素个数。

# %% tags=["solution"]
# 练习 1 的参考答案：键不再相同，q.k_i = (q1 + q2) * i / 10 随 i 单调变化，
# 权重不再均匀，而是偏向有效范围的一端（哪一端取决于 q1 + q2 的符号）。
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 2))
distinct_keys = (torch.arange(10, dtype=torch.float32) / 10).reshape(1, 10, 1).repeat(2, 1, 2)
attention = DotProductAttention(dropout=0)
output = attention(queries, distinct_keys, values, valid_lens)
w = attention.attention_weights
print("q1 + q2:", [round(x, 3) for x in queries.sum(dim=-1).reshape(-1).tolist()])
print("weights:\n", w.reshape(2, 10).round(decimals=3))
print("output:\n", output.reshape(2, 4).round(decimals=3))
for b, n in enumerate(valid_lens.tolist()):
    row = w[b, 0, :n]
    increasing = queries[b].sum() > 0
    assert (row.diff() > 0).all() if increasing else (row.diff() < 0).all()
    assert (w[b, 0, n:] == 0).all()

# %% tags=["solution"]
# 练习 2 的参考答案：W 是 k -> q 的线性映射；W = I / sqrt(d) 时退化为缩放点积注意力，
# 而 q != k 时它照样可用（这正是点积做不到的）。
class GeneralAttention(nn.Module):
    """a(q, k) = q^T W k. queries: (batch_size, num_queries, query_size);
    keys: (batch_size, num_kv, key_size); values: (batch_size, num_kv, value_dim)."""

    def __init__(self, key_size, query_size, dropout=0.0):
        super().__init__()
        self.W = nn.Linear(key_size, query_size, bias=False)  # maps keys into query space
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        scores = torch.bmm(queries, self.W(keys).transpose(1, 2))
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


torch.manual_seed(0)
d = 8
q, k, v = torch.randn(2, 3, d), torch.randn(2, 5, d), torch.randn(2, 5, 4)
general = GeneralAttention(key_size=d, query_size=d)
with torch.no_grad():
    general.W.weight.copy_(torch.eye(d) / math.sqrt(d))
lens = torch.tensor([[1, 3, 5], [2, 0, 4]])  # per-query lengths, one of them empty
diff = (general(q, k, v, lens) - DotProductAttention(0)(q, k, v, lens)).abs().max()
print("general attention with W = I/sqrt(d) matches dot product:", bool(diff < 1e-6))
assert diff < 1e-6

# q != k: 20-dimensional queries against 2-dimensional keys, as in the additive example
general = GeneralAttention(key_size=2, query_size=20)
out = general(torch.randn(2, 1, 20), keys, values, valid_lens)
print("output shape with q=20, k=2:", tuple(out.shape))
print("parameters: general", sum(p.numel() for p in general.parameters()),
      "| additive (h=8)", sum(p.numel() for p in AdditiveAttention(2, 20, 8, 0).parameters()))
assert out.shape == (2, 1, 4)

# %% tags=["solution"]
# 练习 3 的参考答案：以 batch_size=64、长度 128 的自注意力、h=512 为例。
batch_size, num_queries, num_kv, h = 64, 128, 128, 512
additive_elems = batch_size * num_queries * num_kv * h
dot_elems = batch_size * num_queries * num_kv
print(f"additive features: {additive_elems:,} elements ({additive_elems * 4 / 2**30:.1f} GiB float32)")
print(f"dot-product scores: {dot_elems:,} elements ({dot_elems * 4 / 2**20:.1f} MiB float32)")
assert additive_elems // dot_elems == h
