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
# 10.1 节用点积给键打分，10.2 节用高斯核；两者都是先给每个“查询–键”对打一个实数分，
# 再用 softmax 把分数变成权重。给分数的这个函数叫**注意力评分函数**（attention scoring function）。
# 本节回答：**分数应该怎样算？** 我们实现加性注意力和缩放点积注意力（连同处理填充的掩蔽），
# 看两者能学到什么偏好、$1/\sqrt{d}$ 为什么就是 10.1 节的温度，以及为什么默认用点积。后面各节都直接调用这里的组件。

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.explore import attention_scoring

torch.set_num_threads(1)  # every tensor in this section is small: one thread is the fastest

# %% [markdown]
# ## 注意力汇聚的一般形式
#
# 查询 $\mathbf{q} \in \mathbb{R}^{q}$，$m$ 个键值对 $(\mathbf{k}_i \in \mathbb{R}^{k}, \mathbf{v}_i \in \mathbb{R}^{v})$。
# 注意力汇聚是值的加权和，权重由评分函数 $a: \mathbb{R}^{q} \times \mathbb{R}^{k} \to \mathbb{R}$ 经 softmax 得到：
#
# $$f\big(\mathbf{q}, (\mathbf{k}_1, \mathbf{v}_1), \ldots, (\mathbf{k}_m, \mathbf{v}_m)\big)
#   = \sum_{i=1}^{m} \alpha(\mathbf{q}, \mathbf{k}_i)\, \mathbf{v}_i, \qquad
#   \alpha(\mathbf{q}, \mathbf{k}_i) = \frac{\exp\big(a(\mathbf{q}, \mathbf{k}_i)\big)}{\sum_{j=1}^{m} \exp\big(a(\mathbf{q}, \mathbf{k}_j)\big)}.$$
#
# 换一个评分函数 $a$，就换了一种注意力。代码里总是成批计算：
#
# | 张量 | 形状 |
# |---|---|
# | 查询 `queries` | (`batch_size`, `num_queries`, $q$) |
# | 键 `keys` | (`batch_size`, `num_kv`, $k$) |
# | 值 `values` | (`batch_size`, `num_kv`, $v$) |
# | 分数与注意力权重 | (`batch_size`, `num_queries`, `num_kv`) |
# | 输出 | (`batch_size`, `num_queries`, $v$) |
#

# %% [markdown]
# ![Scoring function, masking, softmax and weighted sum; additive vs scaled dot-product scoring](figures/10.3-scoring.svg)
#
# 图 10.3.1 评分函数给每个键打分，有效长度 $L$ 之外的键（填充）的分数换成 $-\infty$，softmax 后权重为 0，
# 输出是值的加权和；右侧对比两种评分函数

# %% [markdown]
# ## 两种评分函数
#
# **加性注意力**（additive attention）把查询和键分别线性投影到 $h$ 维，相加，过 $\tanh$，再用一个向量压成一个数：
#
# $$a(\mathbf{q}, \mathbf{k}) = \mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{q} + \mathbf{W}_k \mathbf{k}) \in \mathbb{R},$$
#
# 可学习参数 $\mathbf{W}_q \in \mathbb{R}^{h \times q}$、$\mathbf{W}_k \in \mathbb{R}^{h \times k}$、
# $\mathbf{w}_v \in \mathbb{R}^{h}$：一个单隐藏层 MLP，查询和键的长度可以不同，偏好要靠训练学出来。
#
# **缩放点积注意力**（scaled dot-product attention）要求查询和键的长度相同（都是 $d$），没有参数：
#
# $$a(\mathbf{q}, \mathbf{k}) = \frac{\mathbf{q}^\top \mathbf{k}}{\sqrt{d}}
#   = \frac{\lVert\mathbf{q}\rVert\,\lVert\mathbf{k}\rVert\cos\theta}{\sqrt{d}}.$$
#
# 它的偏好由几何决定：与查询方向一致（$\theta$ 小）**并且**长的键得分高。批量写成
# $\operatorname{softmax}\big(\mathbf{Q}\mathbf{K}^\top/\sqrt{d}\big)\mathbf{V}$（softmax 按行），就是两次矩阵乘法；
# $1/\sqrt{d}$ 从何而来，后面的实验讲。实现之前先解决批量计算里的填充问题。

# %% [markdown]
# ## 掩蔽 softmax 操作
#
# 一个小批量里长短不一的句子用填充词元（padding）补齐。填充位置不应分到注意力，所以给每个样本（或每个查询）一个
# **有效长度**（valid length）$L$，只在前 $L$ 个键上做 softmax：
#
# $$\alpha_i = \begin{cases}
#   \dfrac{\exp(s_i)}{\sum_{j=1}^{L} \exp(s_j)}, & i \le L, \\[1ex]
#   0, & i > L.
# \end{cases}$$
#
# 做法是在 softmax 之前把第 $L$ 个之后的分数换成 $-\infty$（$\exp(-\infty) = 0$）。
# **编号约定：** 公式和图 10.3.1 按数学习惯从 1 数起（$\mathbf{k}_1, \ldots, \mathbf{k}_m$，条件 $i \le L$）；
# 代码、热图和探索器按 Python 从 0 数起（`k0`…`k9`，键 $j$ 可见当且仅当 $j < L$）。同一个键在两处的编号差 1，下文的文字跟随代码从 0 数。
# 两个样本、每个样本两个查询、四个键，有效长度分别为 2 和 3：

# %%
torch.manual_seed(0)
X = torch.rand(2, 2, 4)  # scores: (batch_size=2, num_queries=2, num_keys=4)
keep = torch.arange(4) < torch.tensor([2, 3])[:, None, None]  # (2, 1, 4): True = the key counts
print(F.softmax(X.masked_fill(~keep, float("-inf")), dim=-1).round(decimals=4))

# %% [markdown]
# 只有一种情况这样处理不了：一行**没有任何**有效的键（$L = 0$，例如一个空的源句子）。
# 这一行的分数全是 $-\infty$，softmax 是 $0/0$：

# %%
print(F.softmax(torch.full((4,), float("-inf")), dim=-1))

# %% [markdown]
# NaN 会在反向传播中污染整个模型。我们约定 $L = 0$ 的行权重全为 0（输出零向量，填充不该分到注意力）。
# 概念上这一行的分数全是 $-\infty$（后面的探索器就这样画）；实现里为了避开 $0/0$，这一行不填 $-\infty$，softmax 之后再由 `torch.where` 置零。`valid_lens` 可以是一维的（每个样本一个长度），也可以是二维的（每个查询一个长度）。

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
    has_key = keep[..., :1]  # False only in the rows with L = 0: those are not filled
    weights = F.softmax(X.masked_fill(has_key & ~keep, float("-inf")), dim=-1)
    return torch.where(has_key, weights, 0.0)


# %% [markdown]
# 同样的分数，这次用二维的 `valid_lens`：四行分别只看前 1、3、0、4 个键。

# %%
weights = masked_softmax(X, torch.tensor([[1, 3], [0, 4]]))
print(weights.round(decimals=4))
print("row sums:", weights.sum(dim=-1).round(decimals=4).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(weights[0, 0], torch.tensor([1.0, 0, 0, 0]))
assert torch.equal((weights > 0).sum(dim=-1), torch.tensor([[1, 3], [0, 4]]))
assert (weights[1, 0] == 0).all() and not weights.isnan().any()
core = F.softmax(X.masked_fill(~keep, float("-inf")), dim=-1)  # rows with keys: bit-identical
assert torch.equal(masked_softmax(X, torch.tensor([2, 3])), core)

# %% [markdown]
# 只看 1 个键的行把全部权重给了键 0；$L = 0$ 的行和是 0 而不是 NaN。
#
# 再看一组有意义的分数：10 个一样长的二维键均匀排在圆上，查询 $i$ 与键 $i$ 同向，不掩蔽时热图是一条对角带。
# 中图每个样本一个有效长度 6（一维 `valid_lens`）；右图每个查询一个有效长度 $i + 1$（二维 `valid_lens`），
# 第 $i$ 个查询只能看键 0 到 $i$：10.7 节的解码器用这种**因果掩蔽**挡住“未来”。被掩蔽的格子是灰色，很小的权重是白色。

# %%
circle_angles = torch.arange(10) * (2 * math.pi / 10)
circle_keys = 3 * torch.stack([circle_angles.cos(), circle_angles.sin()], dim=-1).reshape(1, 10, 2)
circle_scores = circle_keys @ circle_keys.transpose(1, 2) / math.sqrt(2)  # query i = key i
masks = {"valid_lens = None": None,
         "valid_lens = 6": torch.tensor([6]),
         "valid_lens = [1, 2, ..., 10]": torch.arange(1, 11).reshape(1, 10)}
masked_weights = torch.stack([masked_softmax(circle_scores, lens)[0] for lens in masks.values()])
print("most attended key per query:")
for name, w in zip(masks, masked_weights):
    print(f"  {name:<29}", w.argmax(dim=-1).tolist())
print(f"row sums, all three panels: min {masked_weights.sum(dim=-1).min():.4f}, "
      f"max {masked_weights.sum(dim=-1).max():.4f}")
attention_scoring.show_masked_heatmaps(
    masked_weights, [torch.ones(10, 10, dtype=torch.bool), torch.arange(10) < 6,
                     torch.ones(10, 10, dtype=torch.bool).tril()], list(masks), figsize=(11, 3.8))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
no_mask, per_example, per_query = masked_weights
assert no_mask.argmax(dim=-1).tolist() == list(range(10))
assert (per_example[:, 6:] == 0).all()
assert per_example.argmax(dim=-1).tolist() == [0, 1, 2, 3, 4, 5, 5, 5, 0, 0]
assert torch.equal(per_query, per_query.tril()) and per_query.argmax(dim=-1).tolist() == list(range(10))
assert torch.allclose(masked_weights.sum(dim=-1), torch.ones(3, 10))
assert torch.allclose(attention_scoring.circle_scores(10).float(), circle_scores[0])  # the explorer's
assert masked_softmax(circle_scores, torch.tensor([4]))[0].argmax(dim=-1).tolist() == [0, 1, 2, 3, 3, 3, 3, 0, 0, 0]

# %% [markdown]
# 中图：查询 6 和 7 的权重转到可见的键里方向最近的键 5，查询 8 和 9 转到键 0（圆上键 9 的下一个）。
# 被挤出来的权重都分给了可见的键，每行仍和为 1（上面输出的最后一行）。
#
# 下面的探索器并排画出掩蔽的两步：左边是分数，被掩蔽的换成 $-\infty$；右边是按行 softmax 后的权重，从中图的状态（$L = 6$）开始。
# 每行的权重只是**可见**分数的 softmax：被挡住的键不进分母。滑块是有效长度 $L$；勾选 causal 后第 $i$ 个查询的长度是 $\min(i + 1, L)$
# （$L = 10$ 时就是右图）。把 $L$ 往左拖：分数不变，每行在剩下的键上重新归一化，权重转给剩下的分数里最大的键
# （$L = 4$ 时 $\mathbf{q}_7$ 到 $\mathbf{q}_9$ 转给 $\mathbf{k}_0$）；拖到 $L = 0$ 时整张图都是灰的，行和为 0。

# %%
attention_scoring.masking()

# %% [markdown]
# ## 实现两种注意力
#
# 两种注意力共用“掩蔽 softmax → 对值加权求和”，所以基类 `AttentionPooling` 做这两步，
# 子类只实现评分函数 `score(queries, keys)`。训练时对权重做暂退法（dropout），随机遮住一些键值对
# （见文末的“差别”）；`attention_weights` 保存暂退之前的权重，供热图使用。

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
# 加性注意力把两个投影用索引 `None` 分别插入键轴和查询轴，广播相加得到每个“查询–键”对的隐藏向量
# (`batch_size`, `num_queries`, `num_kv`, $h$)，$\tanh$ 之后由 $\mathbf{w}_v$ 压成一个数。

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
# 看一遍中间张量的形状（2 个三维查询、4 个二维键、$h = 5$），再按公式手算查询 1 对键 3 的分数，与类的输出比较：

# %%
torch.manual_seed(0)
additive = AdditiveAttention(key_size=2, query_size=3, num_hiddens=5, dropout=0.0)
q_demo, k_demo = torch.randn(1, 2, 3), torch.randn(1, 4, 2)
q_proj = additive.W_q(q_demo)[:, :, None]  # (1, 2, 1, 5): a new key axis
k_proj = additive.W_k(k_demo)[:, None]  # (1, 1, 4, 5): a new query axis
pairs = torch.tanh(q_proj + k_proj)  # broadcast: one hidden vector per (query, key) pair
print("W_q(q)[:, :, None]", tuple(q_proj.shape), " W_k(k)[:, None]", tuple(k_proj.shape),
      " tanh(sum)", tuple(pairs.shape), " scores", tuple(additive.score(q_demo, k_demo).shape))
hidden = torch.tanh(additive.W_q.weight @ q_demo[0, 1] + additive.W_k.weight @ k_demo[0, 3])
print("tanh(W_q q_1 + W_k k_3) =", hidden.detach().numpy().round(3))
print(f"w_v . that = {(additive.w_v.weight[0] @ hidden).item():.4f};  "
      f"class: score[0, 1, 3] = {additive.score(q_demo, k_demo)[0, 1, 3].item():.4f}")

# %% [markdown]
# 分数是 (1, 2, 4)，但算出它之前要先存下 (1, 2, 4, 5) 的隐藏张量：每个“查询–键”对一个 $h$ 维向量。

# %% [markdown]
# 缩放点积注意力的分数是一次批量矩阵乘法：

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
# 先用书中的小例子检查形状和掩蔽：批量大小为 2，每个样本 1 个查询、10 个二维键和 10 个四维值（0 到 39），有效长度 2 和 6。
# 这里的键**全都相同**，任何评分函数都给它们同样的分，所以两种注意力都给出有效范围内值的平均：

# %%
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 20))
keys = torch.ones((2, 10, 2))
values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
valid_lens = torch.tensor([2, 6])

attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
attention.eval()  # no dropout in the demo
output = attention(queries, keys, values, valid_lens)
print("additive output:", tuple(output.shape), output.detach().reshape(2, 4).round(decimals=4).tolist())
torch.manual_seed(0)
attention = DotProductAttention(dropout=0.5)
attention.eval()
output = attention(torch.normal(0, 1, (2, 1, 2)), keys, values, valid_lens)
print("dot-product output:", tuple(output.shape), output.reshape(2, 4).round(decimals=4).tolist())
print("weights:", attention.attention_weights.reshape(2, 10).round(decimals=4))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for b, L in enumerate([2, 6]):
    assert torch.allclose(output[b, 0], values[b, :L].mean(dim=0), atol=1e-5)
    assert torch.allclose(attention.attention_weights[b, 0, :L], torch.full((L,), 1 / L))
    assert (attention.attention_weights[b, 0, L:] == 0).all()


# %% [markdown]
# ## 手算一个例子
#
# 把缩放点积注意力的每一步拆开：2 个查询、3 个键、$d = 2$，值取 10、20、30（一维）；
# 第一个查询只看前 2 个键，第二个查询看全部 3 个（二维 `valid_lens` $= [[2, 3]]$）。

# %%
Q = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])  # (1, 2 queries, d=2)
K = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3 keys, d=2)
V = torch.tensor([[[10.0], [20.0], [30.0]]])  # (1, 3 keys, 1)
lens = torch.tensor([[2, 3]])
steps = {"Q K^T": Q @ K.transpose(1, 2)}
steps["/ sqrt(d)"] = steps["Q K^T"] / math.sqrt(2)
steps["mask"] = steps["/ sqrt(d)"].masked_fill(torch.arange(3) >= lens[..., None], float("-inf"))
steps["softmax"] = F.softmax(steps["mask"], dim=-1)
steps["@ V"] = steps["softmax"] @ V
for name, value in steps.items():
    print(f"{name} {tuple(value.shape)}:\n{value[0].numpy().round(3)}")

# %% [markdown]
# 逐行核对第一个查询 $[2, 0]$：点积 $2, 0, 2$，除以 $\sqrt{2}$ 得 $1.414, 0, 1.414$；第三个键被掩蔽；
# softmax 给出 $e^{1.414}/(e^{1.414} + 1) = 4.11/5.11 = 0.804$ 和 $0.196$；输出 $0.804 \times 10 + 0.196 \times 20 = 11.96$。
# 第二行请读者自己核对（权重 $1/9.23 = 0.108$ 和两个 $4.11/9.23 = 0.446$）。
# 我们的类和 PyTorch 自带的 `F.scaled_dot_product_attention` 给出同样的结果；后者的掩码是布尔张量，`True` 表示“可以看”：

# %%
ours = DotProductAttention(dropout=0.0)(Q, K, V, lens)
attend = torch.arange(3) < lens[..., None]  # (1, 2, 3), True = attend
theirs = F.scaled_dot_product_attention(Q, K, V, attn_mask=attend)
print("ours: ", ours[0, :, 0].numpy().round(3), " torch:", theirs[0, :, 0].numpy().round(3))
print(f"max |ours - torch| = {(ours - theirs).abs().max():.1e}")
nothing = torch.zeros(1, 2, 3, dtype=torch.bool)  # no query may attend to any key (L = 0)
empty_ours = DotProductAttention(dropout=0.0)(Q, K, V, torch.tensor([[0, 0]]))
empty_theirs = F.scaled_dot_product_attention(Q, K, V, attn_mask=nothing)
print(f"L = 0 for both queries (torch {torch.__version__}): ours", empty_ours[0, :, 0].numpy(),
      " torch", empty_theirs[0, :, 0].numpy())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(ours, steps["@ V"]) and torch.allclose(ours, theirs, atol=1e-5)
assert (empty_ours == 0).all()
torch.manual_seed(0)  # random inputs and per-query lengths agree with PyTorch as well
q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
rnd_lens = torch.randint(1, 7, (3, 4))
rnd_mask = torch.arange(6) < rnd_lens[..., None]
assert torch.allclose(DotProductAttention(0.0)(q, k, v, rnd_lens),
                      F.scaled_dot_product_attention(q, k, v, attn_mask=rnd_mask), atol=1e-6)

# %% [markdown]
# 最后一行：键全被掩蔽时（$L = 0$），我们的类按约定给出零向量，这里的 PyTorch 版本也是。

# %% [markdown]
# ## 两种评分函数给同一组键打分
#
# 现在让键彼此不同。6 个二维键，方向角依次为 $0°, 60°, \ldots, 300°$，长度交替为 1 和 3
# （$\mathbf{k}_1, \mathbf{k}_3, \mathbf{k}_5$ 是长键）；6 个查询长度都是 2，第 $i$ 个查询与键 $i$ 同向：

# %%
angles = torch.arange(6) * (math.pi / 3)
directions = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (6, 2) unit vectors
geo_keys = (torch.tensor([1.0, 3.0, 1.0, 3.0, 1.0, 3.0])[:, None] * directions)[None]  # (1, 6, 2)
geo_queries = 2 * directions[None]  # (1, 6, 2): query i points like key i
attention_scoring.draw_vectors(geo_queries[0], geo_keys[0])
d2l.plt.show()

# %% [markdown]
# 设想任务要的是“只看方向”：每个查询最关注与自己同向的键，与键的长短无关
# （目标权重取 $\operatorname{softmax}_j(4\cos\theta_{ij})$）。这个例子是特意挑的：目标不看长度，键组又是对称的。
# 给评分函数加上可学习的参数，学得会吗？比较缩放点积（没有参数）、点积加一个可学习的 $2 \times 2$ 矩阵 $\mathbf{W}_k$
# （分数 $\mathbf{q}^\top\mathbf{W}_k\mathbf{k}/\sqrt{2}$，10.5 节投影的做法）和加性注意力（$h = 8$）。
#
# 后两种用同一个训练循环 `train_direction`：300 步 Adam，每步 32 个方向随机、长度为 2 的查询，
# 最小化目标权重与模型权重之间的交叉熵。

# %%
def train_direction(attention, keys, steps=300, batch=32, lr=0.05):
    """Fit the attention weights over `keys` to the direction-only target; returns the losses."""
    optimizer = torch.optim.Adam(attention.parameters(), lr=lr)
    draws = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        angle = torch.rand(1, batch, generator=draws) * (2 * math.pi)
        queries = 2 * torch.stack([angle.cos(), angle.sin()], dim=-1)  # (1, batch, 2), length 2
        attention(queries, keys, keys)
        target = attention_scoring.direction_target(queries, keys)  # softmax(4 cos(angle))
        loss = -(target * torch.log(attention.attention_weights + 1e-9)).sum(dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


torch.manual_seed(0)
projected = attention_scoring.KeyProjectedDotProduct(2)  # DotProductAttention on (queries, W_k keys)
projected_losses = train_direction(projected, geo_keys)
torch.manual_seed(0)
trained = AdditiveAttention(key_size=2, query_size=2, num_hiddens=8, dropout=0.0)
losses = train_direction(trained, geo_keys)

# %% [markdown]
# 四幅热图共用一个颜色刻度：

# %%
target = attention_scoring.direction_target(geo_queries, geo_keys)[0]
dot_attention = DotProductAttention(dropout=0.0)
dot_attention(geo_queries, geo_keys, geo_keys)
projected(geo_queries, geo_keys, geo_keys)
trained(geo_queries, geo_keys, geo_keys)
print(f"training loss (cross-entropy), step 1 -> 300: dot product with W_k "
      f"{projected_losses[0]:.3f} -> {projected_losses[-1]:.3f}, additive {losses[0]:.3f} -> {losses[-1]:.3f}")
print("learned W_k:\n", projected.W_k.weight.detach().numpy().round(2))
geo_weights = torch.stack([target, dot_attention.attention_weights[0],
                           projected.attention_weights[0].detach(),
                           trained.attention_weights[0].detach()])  # (4, 6 queries, 6 keys)
titles = ["Target: direction only", "Scaled dot product", "Dot product, learned W_k",
          "Additive, trained"]
labels = [f"k{j} (|k|={1 if j % 2 == 0 else 3})" for j in range(6)]
d2l.show_heatmaps(geo_weights.unsqueeze(0), xlabel="Keys", ylabel="Queries", titles=titles,
                  figsize=(13, 3.6), xticklabels=labels, yticklabels=[f"q{i} ({60 * i}°)" for i in range(6)])
d2l.plt.show()
print(f"{'':<25} {'weight on own key (q0..q5)':<30} {'mean |w - target|':>17}")
for name, w in zip(titles, geo_weights):
    print(f"{name:<25} {' '.join(f'{x:.2f}' for x in w.diagonal().tolist()):<30} "
          f"{(w - target).abs().mean():>17.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
dot_w, projected_w, trained_w = geo_weights[1:]
assert dot_w[0, 1] > 1.9 * dot_w[0, 0] and torch.isclose(dot_w[0, 1], dot_w[0, 5])
assert (projected_w.diagonal()[::2] < 0.3).all() and (projected_w.diagonal()[1::2] > 0.6).all()
W_k = projected.W_k.weight.detach()
assert (W_k - W_k.diagonal().mean() * torch.eye(2)).abs().max() < 0.1  # about a multiple of I
assert trained_w.argmax(dim=-1).tolist() == list(range(6)) and (trained_w.diagonal() > 0.6).all()
assert (trained_w - target).abs().mean() < 0.5 * (projected_w - target).abs().mean()
assert losses[-1] < projected_losses[-1] - 0.2 and losses[-1] < losses[0] - 0.5

# %% [markdown]
# 点积（第二幅）：$\mathbf{q}_0$ 同向的短键 $\mathbf{k}_0$ 只分到 0.19，大头给了两侧偏 60° 的长键：
# 分数 $\lVert\mathbf{q}\rVert\lVert\mathbf{k}\rVert\cos\theta/\sqrt{2}$ 对 $\mathbf{k}_0$ 是 $1.41$，对 $\mathbf{k}_1$ 是 $2.12$。点积同时奖励方向和长度。
#
# 加上 $\mathbf{W}_k$（第三幅）只修好了一半：训练把它学成了约 $0.59\,\mathbf{I}$，即把所有分数乘以 0.59，一个温度；
# 长键那几行变得接近目标，短键仍然只分到 0.22。一般说来，双线性分数 $\mathbf{q}^\top\mathbf{W}_k\mathbf{k}$ **不只是**温度：
# $\mathbf{W}_k$ 可以放大某些方向、压掉某些分量（10.5 节的投影正是为此而学）。但它对键长总是线性的（键长 3 倍，分数 3 倍），
# 而在**这组对称的键**上，最好的 $\mathbf{W}_k$ 恰好是 $c\,\mathbf{I}$（为什么见下面的注），所以这里它只能当温度用。
# 加性注意力（第四幅）的 $\tanh$ 是非线性的，它学会了“不看长度”：每个查询都把最多的权重给了同向的键，离目标的平均差距最小。
# 实践中要“只看方向”时，常见的做法是先把 $\mathbf{q}$、$\mathbf{k}$ 归一化成单位向量再做点积（余弦注意力、QK-norm）。

# %% [markdown]
# <details><summary>深入一步：为什么这里最好的 W_k 是 cI；与 10.2 节的联系</summary>
#
# * **对称性。** 键和查询的分布在旋转 120° 和关于 $\mathbf{k}_0$ 方向的镜像下不变；损失对 $\mathbf{W}_k$ 是凸的
#   （分数对 $\mathbf{W}_k$ 线性，交叉熵对分数凸）。把任一最优解对这些对称变换取平均不会更差，平均出来的矩阵与这些变换都可交换，
#   而与它们都可交换的 $2 \times 2$ 矩阵只有 $c\,\mathbf{I}$。键组不对称时这个论证不成立，最优的 $\mathbf{W}_k$ 一般不是 $c\,\mathbf{I}$。
# * **与 10.2 节的联系。** 由 $\mathbf{q}^\top\mathbf{k} = -\tfrac{1}{2}\lVert\mathbf{q} - \mathbf{k}\rVert^2 + \tfrac{1}{2}\lVert\mathbf{q}\rVert^2 + \tfrac{1}{2}\lVert\mathbf{k}\rVert^2$
#   （中间一项整行相同，softmax 不理会），缩放点积就是高斯核分数 $-\tfrac{1}{2}\lVert\mathbf{q} - \mathbf{k}\rVert^2 w^2$
#   取 $w^2 = 1/\sqrt{d}$，再加上每个键的“长度奖励” $\lVert\mathbf{k}\rVert^2/(2\sqrt{d})$：键一样长时两者给出同样的权重，上面的短键吃亏正是这一项。
#
# </details>

# %% [markdown]
# ## 实验：$1/\sqrt{d}$ 是一个温度
#
# 10.1 节把分数除以温度 $\tau$：$\tau$ 越小权重越尖，越大越平。$1/\sqrt{d}$ 就是 $\tau = \sqrt{d}$。为什么取 $\sqrt{d}$？若查询与键的各分量独立、均值 0、方差 1：
#
# $$\operatorname{Var}(\mathbf{q}^\top\mathbf{k}) = d, \qquad
#   \operatorname{Var}\!\left(\frac{\mathbf{q}^\top\mathbf{k}}{\sqrt{d}}\right) = 1.$$
#
# 不缩放时 $d$ 越大，温度相当于越低。这对学习有什么影响？softmax 的雅可比矩阵（Jacobian）是
#
# $$\frac{\partial \boldsymbol{\alpha}}{\partial \mathbf{s}} = \operatorname{diag}(\boldsymbol{\alpha}) - \boldsymbol{\alpha}\boldsymbol{\alpha}^\top,
#   \qquad \frac{\partial \alpha_i}{\partial s_j} = \alpha_i(\delta_{ij} - \alpha_j).$$
#
# $\boldsymbol{\alpha}$ 趋于 one-hot 时**整个**矩阵趋于 0（Frobenius 范数：one-hot 为 0，10 个键均匀时 0.30），
# 这一行的分数就几乎收不到梯度，我们说它**饱和**了（下面取范数小于 0.01）。对每个 $d$ 抽 1000 个查询、各配 10 个随机键：

# %%
torch.manual_seed(0)
dims = [4, 16, 64, 256, 1024]
num_trials, num_keys = 1000, 10
variances, stats, row_norms = [], {False: [], True: []}, {}
for d in dims:
    dots = (torch.randn(num_trials, 1, d) @ torch.randn(num_trials, num_keys, d).transpose(1, 2))[:, 0]
    variances.append(dots.var().item())
    for scaled in (False, True):
        a = F.softmax(dots / (math.sqrt(d) if scaled else 1.0), dim=-1)  # (num_trials, num_keys)
        jacobian = torch.diag_embed(a) - a[:, :, None] * a[:, None, :]  # (num_trials, 10, 10)
        row_norms[scaled] = jacobian.norm(dim=(-2, -1))  # kept for the largest d
        stats[scaled].append(dict(max=a.max(dim=-1).values.mean().item(),
                                  saturated=(row_norms[scaled] < 0.01).float().mean().item()))

print(f"Var(q.k) / d: {[round(v / d, 2) for v, d in zip(variances, dims)]}")
print(f"{'d':>6} {'mean max weight':>24} {'saturated rows':>24}")
print(f"{'':>6} {'q.k':>11} {'q.k/sqrt(d)':>12} {'q.k':>11} {'q.k/sqrt(d)':>12}")
for d, raw, scl in zip(dims, stats[False], stats[True]):
    print(f"{d:>6} {raw['max']:>11.3f} {scl['max']:>12.3f} {raw['saturated']:>11.0%} {scl['saturated']:>12.0%}")
for scaled, name in ((False, "q.k"), (True, "q.k/sqrt(d)")):
    lo, med, hi = row_norms[scaled].quantile(torch.tensor([0.05, 0.5, 0.95])).tolist()
    print(f"d = {dims[-1]}, {name:<11} ||da/ds|| per row: median {med:.2f}, 5%-95% {lo:.2f}-{hi:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
unscaled, scaled_ = stats[False], stats[True]
for d, var in zip(dims, variances):
    assert 0.5 < var / d < 2, "the variance of q.k should grow like d"
assert unscaled[-1]["max"] > 0.9 and all(0.2 < r["max"] < 0.6 for r in scaled_)
assert all(a["saturated"] <= b["saturated"] for a, b in zip(unscaled, unscaled[1:]))
assert unscaled[-1]["saturated"] > 0.5 and max(r["saturated"] for r in scaled_) < 0.05
assert row_norms[False].median() < 0.01 and (row_norms[True] > 0.2).float().mean() > 0.95
s = torch.randn(10, dtype=torch.float64)  # the closed form is the Jacobian autograd computes
a = F.softmax(s, dim=-1)
assert torch.allclose(torch.autograd.functional.jacobian(lambda x: F.softmax(x, dim=-1), s),
                      torch.diag(a) - a[:, None] * a[None, :])

# %%
fig, axes = d2l.plt.subplots(1, 3, figsize=(11, 2.8))
d2l.plot(dims, [[r["max"] for r in stats[False]], [r["max"] for r in stats[True]]], xlabel="d",
         ylabel="mean max weight", legend=["q.k", "q.k / sqrt(d)"], xscale="log",
         ylim=(0, 1.05), axes=axes[0])
d2l.plot(dims, [[r["saturated"] for r in stats[False]], [r["saturated"] for r in stats[True]]],
         xlabel="d", ylabel="rows with ||da/ds|| < 0.01", legend=["q.k", "q.k / sqrt(d)"],
         xscale="log", ylim=(-0.05, 1.05), axes=axes[1])
axes[2].hist([row_norms[False], row_norms[True]], bins=25, range=(0, 0.5), color=["C0", "m"],
             label=["q.k", "q.k / sqrt(d)"])
axes[2].set_xlabel(f"||da/ds|| per row, d = {dims[-1]}"), axes[2].set_ylabel("rows")
axes[2].legend()
fig.tight_layout()
d2l.plt.show()

# %% [markdown]
# 不缩放时，$d$ 越大权重越接近 one-hot（左图），饱和的行越多（中图），$d = 1024$ 时大多数行几乎收不到梯度；
# 右图是这时每行雅可比矩阵范数的直方图：不缩放时堆在 0 附近，缩放后集中在 0.35 上下（上面输出的最后两行：中位数和 5%–95% 的范围）。
# 缩放后每个 $d$ 都一样：最大权重约 0.3，没有饱和的行。这就是温度 $\tau = \sqrt{d}$ 的作用：softmax 的形状不随维度变化。
#
# 饱和对学习意味着什么？训练一个小模型：每个样本有 10 个 256 维的随机键，各带一个标量值；查询 $\mathbf{x}$ 是其中一个键
# 经过未知旋转 $\mathbf{R}$ 的结果。模型学一个矩阵 $\mathbf{W}$ 把它转回去，让 `DotProductAttention` 找到那个键，损失是与那个键的值之差的平方。
# 几次训练只差 $1/\sqrt{d}$：“不缩放”把 $\sqrt{d}\,\mathbf{W}\mathbf{x}$ 交给同一个类，分数就是 $\mathbf{q}^\top\mathbf{k}$；
# 第三次还把学习率除以 $16 = \sqrt{256}$，排除“只是学习率太大”。

# %%
def retrieval_run(scaled, d=256, steps=120, lr=0.01, num_keys=10, batch=32):
    """Learn W so that attention finds the key behind each rotated query; per step: loss, share saturated."""
    torch.manual_seed(0)  # float64: the unscaled run is chaotic, and float32 rounding would shift it
    rotation = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0]  # the unknown R
    W = nn.Linear(d, d, bias=False, dtype=torch.float64)
    nn.init.normal_(W.weight, 0.0, 1 / math.sqrt(d))  # W x has unit-variance entries, like the keys
    attention, optimizer = DotProductAttention(dropout=0.0), torch.optim.Adam(W.parameters(), lr=lr)
    draws, rows = torch.Generator().manual_seed(1), torch.arange(batch)
    losses, saturated = [], []
    for _ in range(steps):
        keys = torch.randn(batch, num_keys, d, generator=draws, dtype=torch.float64)
        values = torch.randn(batch, num_keys, 1, generator=draws, dtype=torch.float64)
        which = torch.randint(0, num_keys, (batch,), generator=draws)  # the key behind each query
        x = (keys[rows, which] @ rotation)[:, None]  # (batch, 1, d)
        queries = W(x) if scaled else W(x) * math.sqrt(d)  # unscaled: the score is plain q.k
        loss = ((attention(queries, keys, values)[:, 0] - values[rows, which]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        norms = attention_scoring.jacobian_norms(attention.attention_weights.detach()[:, 0])
        saturated.append((norms < 0.01).float().mean().item())
    return losses, saturated


# %% [markdown]
# 下表是每段 10 步的平均损失和饱和的行的比例：

# %%
runs = {"q.k / sqrt(d)": retrieval_run(scaled=True),
        "q.k": retrieval_run(scaled=False),
        "q.k, lr / 16": retrieval_run(scaled=False, lr=0.01 / 16)}
windows = [(0, 10), (20, 30), (50, 60), (110, 120)]
print(f"{'':<14}" + "".join(f"  steps {a + 1}-{b}".ljust(22) for a, b in windows))
print(f"{'':<14}" + "  loss  saturated     " * len(windows))
for name, (run_losses, saturated) in runs.items():
    print(f"{name:<14}" + "".join(f"  {sum(run_losses[a:b]) / 10:4.2f}  {sum(saturated[a:b]) / 10:>6.0%}      "
                                  for a, b in windows))
d2l.plot(list(range(1, 121)), [runs[name][0] for name in runs], xlabel="step", ylabel="squared error",
         legend=list(runs), figsize=(5, 2.8))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
(scaled_losses, scaled_sat), (raw_losses, raw_sat), (slow_losses, slow_sat) = runs.values()
assert raw_sat[0] > 0.5 and scaled_sat[0] == 0.0 and sum(scaled_sat[110:]) / 10 > 0.5
assert max(scaled_losses[30:]) < 0.2 and sum(scaled_losses[30:]) < 0.1 * sum(raw_losses[30:])
assert sum(slow_losses[100:]) > sum(raw_losses[100:]) > 3 * sum(scaled_losses[100:])

# %% [markdown]
# 缩放的模型一开始没有饱和的行，二十几步就学会了；之后饱和的行变多，但它们饱和在**正确**的键上（损失接近 0），那不是问题。
# 不缩放的模型一开始就有一半以上的行饱和在随机的键上，这些行的梯度几乎为 0，损失曲线又慢又抖。
# 学习率除以 16 没有帮助，反而更糟。问题在于**一开始**就饱和。
#
# ### 动手试试：温度
#
# 探索器抽一个 512 维的查询和 10 个键，维度为 $d$ 时取它们的前 $d$ 个分量。上图是分数（纵轴随除数而定、不随 $d$ 变），
# 中图是权重；第二个菜单是除数，即温度 $\tau$：1（不缩放）、$\sqrt{d}$ 或 $d$。一个查询的柱子很嘈杂，请读**最下面一行**：
# 另外 500 个查询的平均最大权重和饱和的行的比例。它从 $d = 512$、不缩放开始：权重全落在一个键上，65% 的行饱和。
# 选 $\sqrt{d}$ 后再把 $d$ 从 2 拖到 512：平均最大权重一直在 0.29 到 0.33 之间，没有饱和的行，这就是“形状不随 $d$ 变”。

# %%
attention_scoring.scaling()

# %% [markdown]
# ## 用哪一种、为什么
#
# 实践中默认用缩放点积注意力，原因有两个。
#
# * **计算。** 点积注意力的分数是一次矩阵乘法，中间结果是 (b, n, m)；加性注意力的隐藏张量是 (b, n, m, h)，大 $h$ 倍。
#   下面实测一次前向加反向（8 个样本、128 个查询和键值对、$d = h = 64$），内存是自动微分为反向传播保存的张量。

# %% tags=["nbval-ignore-output"]
measured = attention_scoring.cost(batch_size=8, num_queries=128, num_kv=128, size=64)
for name, (seconds, saved) in measured.items():
    print(f"{name:<19} forward + backward {seconds * 1000:7.1f} ms   saved for backward {saved / 2**20:6.2f} MiB")
(t_add, m_add), (t_dot, m_dot) = measured.values()
print(f"additive / dot product: time x{t_add / t_dot:.0f}, memory x{m_add / m_dot:.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert m_add > 8 * 128 * 128 * 64 * 4 > 20 * m_dot  # the (b, n, m, h) hidden tensor alone
assert t_add > 5 * t_dot

# %% [markdown]
# 加性注意力保存的 33 MiB 里 32 MiB 是 (8, 128, 128, 64) 的 float32 隐藏张量；点积只保存 $\mathbf{Q}$、$\mathbf{K}$、$\mathbf{V}$ 和权重，1.25 MiB。
# 时间随机器和负载变化，这次运行里加性注意力慢了一个数量级以上。
#
# * **参数在上游。** 10.5–10.7 节里查询和键是学出来的投影，分数 $\mathbf{q}^\top\mathbf{W}_q^\top\mathbf{W}_k\mathbf{k}$
#   是可学习的双线性函数（练习 2，它也能处理 $q \ne k$）：偏好学在投影里，仍然只是矩阵乘法。
#   加性注意力独有的是分数经 $\tanh$ 非线性、且有界；需要这两点时才用它。
#
# ## 小结
#
# * 注意力汇聚是值的加权和，权重是评分函数的分数经（掩蔽）softmax 得到的；有效长度之外的权重严格为 0，$L = 0$ 的行全为 0。
# * 点积偏爱方向一致且长的键。可学习的投影能让它偏向某些方向、忽略某些分量，但分数仍对键长线性
#   （在本节对称的键组上，最好的投影是 $c\,\mathbf{I}$，只起温度的作用）；加性注意力经 $\tanh$ 能学会“只看方向”。
# * $1/\sqrt{d}$ 是温度 $\tau = \sqrt{d}$：不缩放时 softmax 一开始就饱和，梯度消失，训练慢得多；缩放后 softmax 的形状不随 $d$ 变。
# * 缩放点积注意力省内存、快得多，偏好又可以学在投影里，所以它是默认选择。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * **掩蔽的填充值。** 书中用 $-10^6$，它的权重为 0 要靠 $\exp$ 下溢；$-\infty$ 在任何尺度和数据类型下都给出严格的 0
#   （float16 最大只能表示 65504，$-10^6$ 在半精度下本来就是 $-\infty$）。
# * **$L = 0$ 的行。** 书中的做法给出均匀的 $1/m$，填充位置的值“泄漏”进输出；这里给出全 0。
#   PyTorch 的 `F.scaled_dot_product_attention` 从 2.5 版起（PR #133882）也返回 0，更早的版本返回 NaN。
# * **基类。** 书中两个类各写完整的 `forward`；这里共用基类 `AttentionPooling`，子类只写 `score`。
#   构造参数、属性名和 `state_dict` 都与书中相同，书中的代码照常运行。
# * **暂退法。** 书中的演示都在评估模式；`nn.Dropout(p)` 在训练模式下把每个权重以概率 $p$ 置 0、其余乘以 $1/(1-p)$，
#   所以一次暂退后一行权重的和不是 1，只有**期望**是 1。下面对小例子的点积权重抽一次、再抽 10000 次取平均：
#   这一次第一行的和是 0，因为它仅有的 2 个可见键恰好都被遮住，这一步的输出是零向量；平均下来两行都接近 1。
# * **形状检查。** `d2l.check_shape` 等在形状不对时说明如何修改；书中没有这些检查。
#
# </details>

# %%
torch.manual_seed(0)
drop = nn.Dropout(0.5).train()
toy_weights = attention.attention_weights  # (2, 1, 10): rows 1/2, 1/2 and 1/6 x 6
print("row sums, one draw:          ", [f"{x:.2f}" for x in drop(toy_weights).sum(dim=-1).flatten().tolist()])
mean_sums = drop(toy_weights[:, 0].expand(10000, 2, 10)).sum(dim=-1).mean(dim=0)  # 10000 independent draws
print("row sums, mean of 10000 draws:", [f"{x:.3f}" for x in mean_sums.tolist()])

# %% [markdown]
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
ex1_queries = torch.normal(0, 1, (2, 1, 20))
ex1_additive = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.0)
ex1_additive(ex1_queries, ex1_keys, ex1_values, ex1_lens)
ex1_additive_weights = ex1_additive.attention_weights.detach()
torch.manual_seed(0)
ex1_dot = DotProductAttention(dropout=0.0)
ex1_dot(torch.normal(0, 1, (2, 1, 2)), ex1_keys, ex1_values, ex1_lens)
ex1_dot_weights = ex1_dot.attention_weights
print("additive:\n", ex1_additive_weights.reshape(2, 10).numpy().round(3))
print("dot product:\n", ex1_dot_weights.reshape(2, 10).numpy().round(3))
print(f"max |additive - dot product| = {(ex1_additive_weights - ex1_dot_weights).abs().max():.3f}")
fig, ax = d2l.plt.subplots(figsize=(5.5, 3))
ax.bar(torch.arange(10) - 0.2, ex1_additive_weights[1, 0], width=0.4, label="Additive")
ax.bar(torch.arange(10) + 0.2, ex1_dot_weights[1, 0], width=0.4, label="Scaled dot product")
ax.axvspan(5.5, 9.5, color="#bdbdbd", label="masked (valid_len 6)")
ax.axhline(1 / 6, color="k", lw=0.8, ls="--", label="uniform 1/6")
ax.set_xticks(range(10)), ax.set_xlabel("key j (example 1)"), ax.set_ylabel("weight")
ax.set_ylim(0, 0.3), ax.set_xlim(-0.5, 9.5), ax.legend(fontsize=8, loc="upper right")
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
# 参考答案：不再相同。（两种注意力的查询不同，是本节小例子的设定：加性注意力的查询是 20 维，
# 点积要求查询与键同为 2 维，同一个查询没法喂给两者。键全相同时，无论查询是什么权重都均匀，所以这不妨碍比较“一致”是否只是巧合。）
# 本节的小例子里所有键都相等，任何评分函数都给每个键打同样的分，
# softmax 之后在有效范围内都是均匀的 $1/2$ 和 $1/6$，所以两种注意力“碰巧”一致。
# 键彼此不同后，分数取决于评分函数本身。点积注意力的分数 $\mathbf{q}^\top\mathbf{k}_j/\sqrt{2}$
# 随 $j$ 线性变化（相邻两个键差 $\mathbf{q}^\top[0.1, 0.1]/\sqrt{2}$），权重偏向有效范围的一端。
# 加性注意力的权重则几乎是平的（上面第二个样本从 0.179 缓缓降到 0.156；图中两组柱子的斜率不同，灰色的键 6 到 9 被掩蔽，两者都是 0）。由相邻权重之比可以读出分数之差：
# 加性约 $\ln(0.179/0.174) \approx 0.03$，点积约 $\ln(0.217/0.194) \approx 0.11$。相邻两个键只差 $[0.1, 0.1]$，
# 这点差别先乘以初始化时很小的 $\mathbf{W}_k$（元素不超过 $1/\sqrt{2} \approx 0.71$），经过 $\tanh$，
# 再乘以更小的 $\mathbf{w}_v$（元素不超过 $1/\sqrt{8} \approx 0.35$），到分数里只剩百分之几；
# $\tanh$ 有界，分数本身也不会超过 $\lVert\mathbf{w}_v\rVert_1$。
# 所以两者的权重不再相同（第二个样本的第一个权重：点积 0.217，加性 0.179），
# 两者一致只是“键全相同”这个特例的巧合。

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
# The special case W = I / sqrt(d), in float64: the same outputs as scaled dot-product attention.
ex2_q, ex2_k, ex2_v = (torch.randn(2, n, 8, dtype=torch.float64) for n in (3, 5, 5))
ex2_special = GeneralAttention(query_size=8, key_size=8).double()
with torch.no_grad():
    ex2_special.W.copy_(torch.eye(8, dtype=torch.float64) / math.sqrt(8))
    ex2_gap = (ex2_special(ex2_q, ex2_k, ex2_v) - DotProductAttention(0.0)(ex2_q, ex2_k, ex2_v)).abs().max()
print(f"W = I / sqrt(8): max |general - scaled dot product| = {ex2_gap:.0e}")

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
# （上面的输出：float64 下两者的最大差别在 $10^{-16}$ 的量级，只是舍入误差）。与加性注意力相比，它不需要物化
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
print(f"largest difference between the queries' weights: sum {ex3_spread_sum:.6f}, "
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
# 用前向钩子（forward hook）找出加性注意力物化的隐藏张量：在
# `AdditiveAttention(key_size=4, query_size=4, num_hiddens=16, dropout=0)` 的 `w_v` 上注册
# `register_forward_hook`，把它的输入张量的形状存为 `ex4_hidden_shape`（元组）；
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
# 缩放因子为什么是 $1/\sqrt{d}$ 而不是 $1/d$？先在上面的“温度”探索器里把除数选成 $\sqrt{d}$，
# 把 $d$ 从 2 调到 512，看分数的标准差和最大权重怎样（不）变化；再把除数换成 $d$：
# $d = 512$ 时分数的标准差是多少，权重是什么样子，为什么饱和的行也是 0%？然后沿用上面实验的设置（`torch.manual_seed(0)`，
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
print("divide by sqrt(d):", {d: round(m, 3) for d, m in zip(dims, (r["max"] for r in stats[True])) if d in ex5_mean_max})
torch.manual_seed(0)
ex5_q, ex5_k = torch.randn(1000, 1, 512), torch.randn(1000, 10, 512)
ex5_std_512 = (ex5_q @ ex5_k.transpose(1, 2) / 512).std().item()
print(f"d = 512, divide by d: std of the scores = {ex5_std_512:.3f} (1 / sqrt(512) = {1 / math.sqrt(512):.3f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex5_mean_max) == {4, 64, 1024}, "ex5_mean_max needs the keys 4, 64 and 1024"
assert all(0.1 - 1e-6 <= v <= 1 for v in ex5_mean_max.values()), "a max over 10 weights is >= 1/10"
assert ex5_mean_max[4] < stats[True][0]["max"] - 0.05, \
    f"at d = 4 dividing by d = 4 should flatten the weights more than dividing by sqrt(d) = 2 " \
    f"(mean max weight {stats[True][0]['max']:.3f}); got {ex5_mean_max[4]:.3f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex5_mean_max[4] > ex5_mean_max[64] > ex5_mean_max[1024], "dividing by d flattens the weights"
assert ex5_mean_max[1024] < 0.11, "at d = 1024 the weights are almost uniform (1/10)"
assert ex5_mean_max[4] > 0.15, "at d = 4 the weights are still visibly uneven"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：除以 $d$ 时分数的标准差是 $\sqrt{d}/d = 1/\sqrt{d}$，$d = 512$ 时约 0.044（上面最后一行测得的值），
# 10 个分数之间只差几个百分点，softmax 几乎是均匀的 $1/10$。每行最大权重的平均值随 $d$ 增大而下降
# （第一行输出：0.192、0.121、0.105），逼近 $1/10$，注意力什么也不挑了；除以 $\sqrt{d}$ 时它始终在 0.3 左右（第二行输出）。
# 用温度的话说：$1/d$ 对应 $\tau = d$，温度随 $d$ 升得太快；不缩放是 $\tau = 1$，$d$ 越大权重越接近 one-hot，
# 大多数行饱和、收不到梯度。除以 $d$ 时没有饱和的行（探索器里 0%），但那是因为权重几乎均匀：
# 没有饱和，也没有选择，模型要先把分数放大 $\sqrt{d}$ 倍才能开始挑键。只有 $\tau = \sqrt{d}$ 让分数的方差保持为 1，权重的形状与 $d$ 无关。

# %% [markdown]
# ### 练习 6
#
# 解码器的自注意力要同时挡住两样东西：“未来”的键（因果掩蔽）和填充的键。在上面掩蔽一节的探索器里勾选 causal，
# 把 $L$ 从 10 拖到 6：哪几行变了，哪几行没变？为什么？然后写函数 `causal_padded_lens(valid_lens, num_queries)`：
# 输入每个样本一个有效长度 `valid_lens`（形状 (`batch_size`,)），返回二维的 `valid_lens`
# （形状 (`batch_size`, `num_queries`)），让第 $i$ 个查询只看键 $0, \ldots, i$ 中不是填充的那些。
# 把 `causal_padded_lens(torch.tensor([5, 8]), 8)` 存为 `ex6_lens`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex6-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def causal_padded_lens(valid_lens, num_queries):
    """Query i of example b sees keys 0..min(i, valid_lens[b] - 1): (batch,) -> (batch, num_queries)."""
    return torch.minimum(torch.arange(1, num_queries + 1)[None, :], valid_lens[:, None])


ex6_lens = causal_padded_lens(torch.tensor([5, 8]), 8)
print(ex6_lens)
torch.manual_seed(0)
ex6_weights = masked_softmax(torch.randn(2, 8, 8), ex6_lens)
print("keys each query attends to, example 0:", (ex6_weights[0] > 0).sum(dim=-1).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex6-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
ex6_check = causal_padded_lens(torch.tensor([3, 1, 6]), 4)
assert tuple(ex6_check.shape) == (3, 4), "one valid length per query: (batch_size, num_queries)"
assert ex6_check[1].tolist() == [1, 1, 1, 1], "with valid_len 1 every query sees key 0 only"
assert tuple(ex6_lens.shape) == (2, 8), "ex6_lens = causal_padded_lens(torch.tensor([5, 8]), 8)"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex6_check.tolist() == [[1, 2, 3, 3], [1, 1, 1, 1], [1, 2, 3, 4]]
assert ex6_lens.tolist() == [[1, 2, 3, 4, 5, 5, 5, 5], [1, 2, 3, 4, 5, 6, 7, 8]]

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex6-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：只有 $q_6$ 到 $q_9$ 四行变了，$q_0$ 到 $q_5$ 不变。因果掩蔽已经让第 $i$ 个查询只看键 $0, \ldots, i$；
# 对 $i < 6$，这些键都在有效长度 6 之内，填充掩码挡不到它们。$i \ge 6$ 的查询本来还能看键 6 到 $i$（包括同向的键 $i$），
# 现在这些键是填充，被挡住（探索器里分数变成灰色的 −inf，权重为 0），权重重新分给键 0 到 5：$q_6$、$q_7$ 转给方向最近的 $k_5$，
# $q_8$、$q_9$ 转给 $k_0$，与不勾选 causal 时 $L = 6$ 的这四行相同。所以两种掩蔽叠加时，
# 第 $i$ 个查询的有效长度是 $\min(i + 1, L)$；上面输出的第一个样本（$L = 5$、8 个查询）正是 $[1, 2, 3, 4, 5, 5, 5, 5]$。
