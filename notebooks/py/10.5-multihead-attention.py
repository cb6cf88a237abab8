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
# # 10.5 多头注意力
#
# 10.3 节的缩放点积注意力（scaled dot-product attention）对每个查询只产生**一个**权重分布。
# 可是一个词往往同时需要好几种信息：句法上依附于谁、指代的是谁、前后是什么词……
# 一个分布只给出一个加权平均：几种信息混在同一个向量里，后面的层分不开。
# 本节回答的问题是：**能否让同一组查询、键和值同时用几种不同的方式“看”输入？**
# 做法是 Vaswani 等人（2017，[Attention Is All You Need](https://arxiv.org/abs/1706.03762)）提出的
# 多头注意力（multi-head attention）：先把查询、键、值分别投影到 $h$ 个不同的低维子空间，
# 在每个子空间里独立地做一次注意力汇聚（每一次称为一个“头”，head），再把 $h$ 个结果拼接起来、
# 用一个线性层融合。下一节的自注意力和 10.7 节的 Transformer 都直接建立在这个组件之上。
#
# 本节用参数一样多的对照实验演示多头比单头多出的两样东西：
#
# 1. **带符号的组合。** 一个头的输出是值的加权平均，每个值进来的符号相同；几个头的平均经 $\mathbf{W}_o$ 组合时可以异号。
#    小任务上，单头能学会 $v_{i+1} + v_{i-1}$（误差约 0），学不会 $v_{i+1} - v_{i-1}$（误差停在下界 1），两个头可以。
# 2. **分开的通道。** 各头的输出拼接在不同的分量上，$\mathbf{W}_o$ 能把“前一个词”和“后一个词”区别对待；单头把它们平均进同一个向量。
#    在真实句子上猜被遮住的词，4 个头比 1 个头猜得准，不同的头各看不同的位置（这一点本页只演示，没有和第 1 点分开测量）。

# %%
import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.explore import multihead_attention as explore

# %% [markdown]
# ## 数学
#
# 设查询 $\mathbf{q} \in \mathbb{R}^{d_q}$、键 $\mathbf{k} \in \mathbb{R}^{d_k}$、值
# $\mathbf{v} \in \mathbb{R}^{d_v}$（键和值成对出现，共有若干对）。第 $i$ 个头（$i = 1, \ldots, h$）
# 有自己的三个可学习投影矩阵
#
# $$\mathbf{W}_q^{(i)} \in \mathbb{R}^{p_q \times d_q}, \qquad
#   \mathbf{W}_k^{(i)} \in \mathbb{R}^{p_k \times d_k}, \qquad
#   \mathbf{W}_v^{(i)} \in \mathbb{R}^{p_v \times d_v},$$
#
# 并在投影后的空间里做一次注意力汇聚 $f$（这里用缩放点积注意力，因此要求 $p_q = p_k$）：
#
# $$\mathbf{h}_i = f\left(\mathbf{W}_q^{(i)} \mathbf{q},\ \mathbf{W}_k^{(i)} \mathbf{k},\
#   \mathbf{W}_v^{(i)} \mathbf{v}\right) \in \mathbb{R}^{p_v}.$$
#
# $h$ 个头的输出首尾拼接成长为 $h p_v$ 的向量，再经过输出投影
# $\mathbf{W}_o \in \mathbb{R}^{p_o \times h p_v}$：
#
# $$\operatorname{MultiHead}(\mathbf{q}, \mathbf{k}, \mathbf{v})
#   = \mathbf{W}_o \begin{bmatrix} \mathbf{h}_1 \\ \vdots \\ \mathbf{h}_h \end{bmatrix}
#   \in \mathbb{R}^{p_o}.$$
#
# 把 $\mathbf{W}_o$ 按列分成 $h$ 块，$\mathbf{W}_o = [\mathbf{W}_o^{(1)}, \ldots, \mathbf{W}_o^{(h)}]$，
# 每块 $\mathbf{W}_o^{(r)} \in \mathbb{R}^{p_o \times p_v}$，矩阵乘向量就按块展开成一个和：
#
# $$\mathbf{W}_o \begin{bmatrix} \mathbf{h}_1 \\ \vdots \\ \mathbf{h}_h \end{bmatrix}
#   = \sum_{r=1}^{h} \mathbf{W}_o^{(r)} \mathbf{h}_r .$$
#
# 拼接再投影等于**每个头各自经过一个线性映射 $\mathbf{W}_o^{(r)}$，再相加**：映射可以异号（训练一节靠它相减），
# 也可以对不同的头做完全不同的事（真实句子一节靠它区分前后的词）。
#
# **把 $h$ 个头摞成一个矩阵。** 实现中取 $p_q = p_k = p_v = p = p_o / h$，并记 $p_o$ 为 `num_hiddens`。
# 把 $h$ 个头的查询投影矩阵竖着摞起来，得到一个 $p_o \times d_q$ 的矩阵
#
# $$\mathbf{W}_q = \begin{bmatrix} \mathbf{W}_q^{(1)} \\ \vdots \\ \mathbf{W}_q^{(h)} \end{bmatrix}
#   \in \mathbb{R}^{p_o \times d_q}, \qquad
#   \mathbf{W}_q \mathbf{q} = \begin{bmatrix} \mathbf{W}_q^{(1)} \mathbf{q} \\ \vdots \\
#   \mathbf{W}_q^{(h)} \mathbf{q} \end{bmatrix},$$
#
# 所以**一个**输出宽度为 `num_hiddens` 的全连接层就一次算出了所有头的投影：
# 把结果的分量从 1 数起，第 $i$ 个头的投影是第 $(i-1)p + 1$ 到第 $ip$ 个分量，记作 $\mathbf{q}_i$。
# 键和值同理。这也是 `num_hiddens` 必须能被 `num_heads` 整除的原因。
#
# **和单头比，变的只是 softmax。** 参数量与宽度为 $p_o$ 的单头相同（下面“深入一步”里还数了乘加次数）。不同的是注意力权重：把单头的分数按头的分段拆开，
#
# $$\frac{(\mathbf{W}_q\mathbf{q})^\top (\mathbf{W}_k\mathbf{k})}{\sqrt{p_o}}
#   = \frac{1}{\sqrt{h}} \sum_{i=1}^{h} \frac{\mathbf{q}_i^\top \mathbf{k}_i}{\sqrt{p}},$$
#
# 单头对 $h$ 段分数先**求和**再做一次 softmax，多头对每段**分别**做 softmax，得到 $h$ 个分布，能同时看不同的键。

# %% [markdown]
# ![Multi-head attention: split, attend, concatenate, project](figures/10.5-multihead.svg)
#
# 图 10.5.1 多头注意力的数学：每个头用各自的投影 $\mathbf{W}_q^{(i)}, \mathbf{W}_k^{(i)}, \mathbf{W}_v^{(i)}$ 把查询、键和值变成 $p = p_o/h$ 维，各自计算注意力，再把 $h$ 个头的输出（各 $p$ 维）拼接成 $p_o$ 维，经 $\mathbf{W}_o$ 线性变换得到输出。实现并不真的建 $h$ 组投影，而是把它们摞成一个矩阵，见图 10.5.2。

# %% [markdown]
# ## 实现
#
# 照图 10.5.1 写就是对头做循环（练习 3）。实现用两招去掉循环：三个投影各是**一个**摞起来的全连接层（上面的 $\mathbf{W}_q$），
# 再把“头”这一维并入批量维，交给 10.3 节的 `DotProductAttention` **一次**算完。
#
# 代码里下标从 0 开始：第 $i$ 个头（$i = 1, \ldots, h$）是下标 $i-1$，占投影结果最后一维的 $[(i-1)p,\ ip)$。
# `transpose_qkv` 把最后一维拆成（头，每头维度）两维（`unflatten`），交换“步”和“头”两维（`transpose`），
# 再把批量和头两维合并（`flatten`）。`transpose_output` 反过来做，最后把 $h$ 个头的输出首尾相接，
# 这正是公式里的 $[\mathbf{h}_1; \ldots; \mathbf{h}_h]$。

# %%
#@save
def transpose_qkv(X, num_heads):
    """Split the features into `num_heads` blocks and fold the heads into the batch axis.

    X: (batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads).
    Row b * num_heads + i of the result holds block i (head i + 1) of example b.
    """
    d2l.check_shape(X, "X", "(batch_size, n, num_hiddens)")
    d2l.check_divisible(X.shape[-1], num_heads)
    # (b, n, h, p): head i + 1 owns features [i*p, (i+1)*p), p = num_hiddens / h
    per_head = X.unflatten(-1, (num_heads, -1))
    return per_head.transpose(1, 2).flatten(0, 1)  # (b, h, n, p) -> (b*h, n, p)


#@save
def transpose_output(X, num_heads):
    """Inverse of `transpose_qkv`: concatenate the heads of each example along the features.

    X: (batch_size * num_heads, n, num_hiddens / num_heads) -> (batch_size, n, num_hiddens).
    """
    d2l.check_folded_heads(X, num_heads)
    per_example = X.unflatten(0, (-1, num_heads))  # (batch_size, num_heads, n, p)
    return per_example.transpose(1, 2).flatten(2)  # (b, n, h, p) -> heads side by side


# %% [markdown]
# 下图把这几步画出来（批量大小 $b=2$，$n=3$ 步，$h=4$ 个头，每头 $p=2$ 维）。
# 为了能跟踪每个数，投影结果取成 $0, 1, \ldots, 47$；颜色表示这个分量属于哪个头，
# 与左边 `W_q.weight` 的行块一一对应。

# %%
drawn = explore.reshape_figure(batch_size=2, num_steps=3, num_heads=4, head_dim=2)
d2l.plt.show()

# %% [markdown]
# 图 10.5.2 `transpose_qkv` 的形状链：$(b, n, hp) \to (b, n, h, p) \to (b, h, n, p) \to (bh, n, p)$。
#
# 读图：`W_q.weight` 的前两行（下标 0、1）是头 1 的投影矩阵，所以投影结果每一行的前两列（下标 0、1，蓝色）属于头 1。
# `unflatten` 只是把每一行切成 4 段；`transpose` 之后，同一个头的 3 步凑成一个 $3 \times 2$ 的小矩阵
# （样本 0 的头 1 是 `[[0, 1], [8, 9], [16, 17]]`）；`flatten` 再把（样本，头）两维并成批量维：
# 样本 $b$ 的第 $i$ 个头落在第 $b h + (i-1)$ 行，同一样本的 $h$ 个头彼此相邻。
# 用 `transpose_qkv` 本身核对两行，确认 `transpose_output` 是它的逆，并与书中用 `reshape`、`permute` 的写法比较：

# %%
X = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
heads = transpose_qkv(X, num_heads=4)
print("transpose_qkv   :", tuple(X.shape), "->", tuple(heads.shape))
print("transpose_output:", tuple(heads.shape), "->", tuple(transpose_output(heads, 4).shape))
print("row 1 = example 0, head 2:", heads[1].tolist())
print("row 4 = example 1, head 1:", heads[4].tolist())
print("max |transpose_output(transpose_qkv(X)) - X| =",
      (transpose_output(heads, 4) - X).abs().max().item())
book_heads = X.reshape(2, 3, 4, -1).permute(0, 2, 1, 3).reshape(-1, 3, 2)  # the book's version
print("max |book's reshape/permute - transpose_qkv(X)| =", (book_heads - heads).abs().max().item())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(heads[1], X[0, :, 2:4]) and torch.equal(heads[4], X[1, :, 0:2])
assert torch.equal(drawn["bh n p"].float(), heads)  # the figure draws transpose_qkv's output
# The book's reshape/permute version gives the same tensors, bit for bit.
assert torch.equal(book_heads, heads)
assert torch.equal(heads.reshape(-1, 4, 3, 2).permute(0, 2, 1, 3).reshape(2, 3, -1),
                   transpose_output(heads, 4))

# %% [markdown]
# 有了这两个函数，多头注意力就是“三个投影 → 拆头 → 点积注意力 → 合头 → 输出投影”。
# 有效长度 `valid_lens` 要跟着批量维一起扩展：第 $b$ 个样本的 $h$ 个头排在相邻的
# $h$ 行，所以每个有效长度要**原地连续**重复 $h$ 次（`repeat_interleave`）；
# `Tensor.repeat` 会把整个向量首尾相接地重复，顺序就错了（练习 4）。
# 形状为（批量大小，查询数）的二维 `valid_lens` 同样沿第 0 维重复。

# %%
#@save
class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_size); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Output: (batch_size, num_queries, num_hiddens).
    After a forward pass, `self.attention.attention_weights` has shape
    (batch_size * num_heads, num_queries, num_kv); row b * num_heads + i is head i + 1 of
    example b.
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        d2l.check_divisible(num_hiddens, num_heads)
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        # The stacked projections of all heads: rows [i*p, (i+1)*p) of each weight are head i+1's.
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        d2l.check_qkv(queries, keys, values, self.W_q.in_features, self.W_k.in_features)
        d2l.check_shape(values, "values", "(batch_size, num_kv, value_size)",
                        value_size=self.W_v.in_features)
        q = transpose_qkv(self.W_q(queries), self.num_heads)
        k = transpose_qkv(self.W_k(keys), self.num_heads)
        v = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            valid_lens = torch.as_tensor(valid_lens, device=queries.device)
            d2l.check_valid_lens(valid_lens, *queries.shape[:2], keys.shape[1])
            # Every head of example b must see example b's lengths: repeat each one in place.
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        per_head = self.attention(q, k, v, valid_lens)  # (batch_size * num_heads, n_q, p)
        return self.W_o(transpose_output(per_head, self.num_heads))


# %% [markdown]
# 用一个小例子检查形状：批量大小 2，4 个查询，6 个键值对，`num_hiddens=100`，5 个头。
# 为了显示查询、键、值的维度可以各不相同，这里让它们分别是 20、30、40 维。
# 最后一行试着建一个 3 头的模块：100 维分不成 3 个等宽的头，构造时就报错，并列出可用的头数。

# %%
torch.manual_seed(0)
num_hiddens, num_heads = 100, 5
attention = MultiHeadAttention(key_size=30, query_size=20, value_size=40,
                               num_hiddens=num_hiddens, num_heads=num_heads, dropout=0.5)
attention.eval()
batch_size, num_queries, num_kvpairs = 2, 4, 6
valid_lens = torch.tensor([3, 2])
Q = torch.randn(batch_size, num_queries, 20)
K = torch.randn(batch_size, num_kvpairs, 30)
V = torch.randn(batch_size, num_kvpairs, 40)
out = attention(Q, K, V, valid_lens)
print("output           :", tuple(out.shape))
print("attention weights:", tuple(attention.attention.attention_weights.shape))
try:  # 100 features cannot be cut into 3 equal heads
    MultiHeadAttention(30, 20, 40, num_hiddens=100, num_heads=3, dropout=0)
except ValueError as error:
    message = str(error)
    print("num_heads=3:", message)

# %% [markdown]
# 摞起来的投影里，每个头的那几行就是它自己的 $\mathbf{W}^{(i)}$。把样本 0 的头 2 单独算一遍：
# 取三个投影权重的第 $[p, 2p)$ 行（$p = 100/5 = 20$），在这个头的 20 维子空间里做一次点积注意力，
# 它的权重应当就是模块存下的第 $0 \cdot 5 + 1 = 1$ 行：

# %%
p = num_hiddens // num_heads
head_rows = slice(1 * p, 2 * p)  # head 2 (index 1)
q_2, k_2, v_2 = (inputs[:1] @ W.weight[head_rows].T for inputs, W in
                 ((Q, attention.W_q), (K, attention.W_k), (V, attention.W_v)))
one_head = d2l.DotProductAttention(dropout=0)
one_head(q_2, k_2, v_2, valid_lens[:1])
print("head 2 alone, query 0:", [round(w, 2) for w in one_head.attention_weights[0, 0].tolist()])
print("module, row 1, query 0:",
      [round(w, 2) for w in attention.attention.attention_weights[1, 0].tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(one_head.attention_weights[0], attention.attention.attention_weights[1],
                      atol=1e-6)
assert out.shape == (batch_size, num_queries, num_hiddens)
assert attention.attention.attention_weights.shape == (batch_size * num_heads, num_queries,
                                                       num_kvpairs)
assert list(attention.state_dict()) == ["W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight"]
assert "num_hiddens=100" in message and "num_heads=3" in message

# %% [markdown]
# ### 形状是怎样流动的
#
# 下面用上面那个模块的子层把前向传播逐步重做一遍，打印真实的形状，并与直接调用模块的输出比较。
#
# <details><summary>深入一步：各步形状一览</summary>
#
# 记批量大小为 $b$，查询数为 $n_q$，键值对数为 $n_k$，头数为 $h$，`num_hiddens` 为 $p_o$。
#
# | 步骤 | 张量 | 形状 |
# |:--|:--|:--|
# | 输入 | 查询 / 键 / 值 | $(b, n_q, d_q)$ / $(b, n_k, d_k)$ / $(b, n_k, d_v)$ |
# | 线性投影 `W_q`、`W_k`、`W_v` | 所有头的投影 | $(b, n_q, p_o)$ / $(b, n_k, p_o)$ / $(b, n_k, p_o)$ |
# | `transpose_qkv` | 头并入批量维 | $(b h, n_q, p_o/h)$ / $(b h, n_k, p_o/h)$ / $(b h, n_k, p_o/h)$ |
# | `repeat_interleave` | 有效长度 | $(b,) \to (b h,)$，或 $(b, n_q) \to (b h, n_q)$ |
# | 缩放点积注意力 | 注意力权重 | $(b h, n_q, n_k)$ |
# | 缩放点积注意力 | 每个头的输出 | $(b h, n_q, p_o/h)$ |
# | `transpose_output` | 拼接各头 | $(b, n_q, p_o)$ |
# | 输出投影 `W_o` | 最终输出 | $(b, n_q, p_o)$ |
#
# </details>

# %%
steps = [("queries", Q), ("keys", K), ("values", V)]
q, k, v = attention.W_q(Q), attention.W_k(K), attention.W_v(V)
steps += [("W_q(queries)", q), ("W_k(keys)", k), ("W_v(values)", v)]
q, k, v = (transpose_qkv(t, num_heads) for t in (q, k, v))
steps += [("transpose_qkv(q)", q), ("transpose_qkv(k)", k), ("transpose_qkv(v)", v)]
lens = torch.repeat_interleave(valid_lens, repeats=num_heads, dim=0)
steps.append(("valid_lens repeated", lens))
heads_out = attention.attention(q, k, v, lens)
steps += [("attention weights", attention.attention.attention_weights),
          ("per-head output", heads_out)]
concat = transpose_output(heads_out, num_heads)
final = attention.W_o(concat)
steps += [("transpose_output", concat), ("W_o(...)", final)]
for name, t in steps:
    print(f"{name:20s} {tuple(t.shape)}")
print("repeated valid_lens:", lens.tolist())
print("max |step by step - attention(Q, K, V, valid_lens)| =", (final - out).abs().max().item())

# %% [markdown]
# <details><summary>深入一步：与 PyTorch 的 nn.MultiheadAttention 对照；参数、乘加次数和秩随头数怎样变</summary>
#
# PyTorch 的 `torch.nn.MultiheadAttention` 是同一个数学模型（只是查询的维度必须等于 `embed_dim`，我们的 `query_size` 可以任取）。
# 查询、键、值同为 `embed_dim` 维时，三个投影摞在**一个** `in_proj_weight` 里（先 $\mathbf{W}_q$、再 $\mathbf{W}_k$、再 $\mathbf{W}_v$，
# 每块内第 $i$ 个头同样占第 $[(i-1)p, ip)$ 行），输出投影是 `out_proj`；有效长度写成布尔的 `key_padding_mask`（`True` 表示忽略该键）；
# 默认返回各头权重的平均，`average_attn_weights=False` 才返回每个头的。`explore.compare_with_torch()` 这样复制权重：
#
# ```python
# theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
# theirs.out_proj.weight.copy_(ours.W_o.weight)
# padding = torch.arange(num_kv) >= valid_lens[:, None]
# out, w = theirs(Q, K, K, key_padding_mask=padding, average_attn_weights=False)
# ```
#
# （这个对照里值就用键，所以调用写成 `theirs(Q, K, K, ...)`。）下面第一行是两边输出和每个头权重的最大差（0：同样的矩阵乘法，头的排列也相同）。
# 其余几行对 $h = 1, 2, 4, 8$（查询、键、值和 $p_o$ 都是 64 维，批量 2，$n_q = 5$，$n_k = 9$）数出：参数量都是 $4 \cdot 64^2 = 16384$；
# 两次批量矩阵乘法 `bmm` 的浮点运算数（PyTorch 的 `FlopCounterMode` 数的）都是 $2 \cdot 2 \cdot 2 \cdot 5 \cdot 9 \cdot 64 = 23040$；
# 每个样本存的注意力权重是 $45h$；头 1 的 $64 \times 64$ 打分矩阵 $\mathbf{W}_q^{(1)\top} \mathbf{W}_k^{(1)}$ 的秩是 $64/h$：
# 头越多，每个头能表达的打分方式越受限（Bhojanapalli 等人，2020，[Low-Rank Bottleneck in Multi-head Attention Models](https://arxiv.org/abs/2002.07028)）。
#
# </details>

# %%
print("max |ours - nn.MultiheadAttention|: output {:.0e}, per-head weights {:.0e}".format(
    *explore.compare_with_torch()))
for h, (params, flops, weights, rank) in explore.head_costs().items():
    print(f"num_heads={h}: {params} parameters, {flops} bmm FLOPs, {weights} attention weights "
          f"per example, rank of head 1's score matrix {rank}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert max(explore.compare_with_torch()) < 1e-5
assert explore.head_costs() == {h: (4 * 64 ** 2, 2 * 2 * 2 * 5 * 9 * 64, 45 * h, 64 // h)
                                 for h in (1, 2, 4, 8)}

# %% [markdown]
# ### 同样的权重：一个 softmax，还是 $h$ 个
#
# 这是本节的关键。把**同一组**投影权重装进一个 4 头模块和一个 1 头模块：
# 参数的形状与头数无关，所以 4 头模块的 `state_dict()` 可以原样载入 1 头模块（`load_state_dict`）。
# 取一个查询，把两边的分数和权重并排画出来：上排是分数，下排是 softmax 后的权重；
# 前 4 列是 4 个头，最后一列是单头。按“数学”一节的恒等式，单头的分数应当等于 4 个头的分数之和再除以 $\sqrt{4}$。
# （随机初始化的投影给出的分数都很小，各头的分布都接近均匀；为了让分布看得出形状，这里把输入放大 3 倍。）

# %%
torch.manual_seed(0)
four = MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=4, dropout=0).eval()
X6 = 3 * torch.randn(1, 6, 16)  # 6 tokens; self-attention: queries = keys = values
one = MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=1, dropout=0).eval()
one.load_state_dict(four.state_dict())  # same parameter shapes for any h: load them as they are
contrast = explore.softmax_contrast(four, X6, X6, query=0, single=one)
d2l.plt.show()
summed = contrast["head_scores"].sum(dim=0) / 4 ** 0.5
print("1 head, score of each key      :", [round(s, 2) for s in contrast["single_scores"].tolist()])
print("sum of the 4 head scores / √4  :", [round(s, 2) for s in summed.tolist()])
for name, w in [*((f"head {i + 1}", w) for i, w in enumerate(contrast["head_weights"])),
                ("1 head", contrast["single_weights"])]:
    print(f"{name}: largest weight {w.max():.2f} on k{w.argmax()}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (contrast["single_scores"] - summed).abs().max() < 1e-5
_peaks = contrast["head_weights"].argmax(dim=-1).tolist()
assert len(set(_peaks)) == 4  # four heads, four different keys
assert contrast["single_weights"].argmax() == 1 and contrast["single_weights"][2] < 0.05
with torch.no_grad():  # the weights drawn are the taught module's
    four(X6, X6, X6)
assert torch.equal(contrast["head_weights"], four.attention.attention_weights[:, 0])
with torch.no_grad():
    one(X6, X6, X6)
assert torch.equal(contrast["single_weights"], one.attention.attention_weights[0, 0])

# %% [markdown]
# 读图：4 个头的最大权重落在 4 个不同的键上（头 1 在 k2、头 2 在 k4、头 3 在 k1、头 4 在 k5），
# 多头的输出因此同时带着这 4 个位置的值。单头只有一个分布：它先把分数加起来，
# 头 1 给 k2 的高分被其他三个头给 k2 的负分几乎全部抵消（和除以 2 后只剩 0.11），
# 最后 k1 占 0.77、k5 占 0.21，k2 只有 0.01。
# 参数一个不差，区别只在 softmax 做在求和之前还是之后。
# 这组权重是随机的，各头看哪里没有意义；下面训练一个模型，看头数多是否真的有用。

# %% [markdown]
# ## 训练：一个头可以相加，两个头才能相减
#
# 构造一个小任务：序列有 8 个位置（循环排列），
# 每个位置的输入是它的位置独热（one-hot）编码 $\mathbf{e}_i$ 拼上一个随机标量 $v_i \sim \mathcal{N}(0, 1)$，目标是
# $y_i = v_{i+1} - v_{i-1}$（下标按 8 取模）。模型只有一个多头注意力层加一个线性读出层；
# 查询和键只用位置编码 $\mathbf{e}_i$（注意力只能按位置挑选邻居），值是完整的输入 $(\mathbf{e}_j, v_j)$。
#
# **单头做不到。** 注意力权重 $a_{ij}$ 只依赖位置，$v_j$ 只经过线性的值投影、$\mathbf{W}_o$ 和读出层，
# 所以预测是 $\hat{y}_i = c \sum_j a_{ij} v_j + b_i$：一个常数因子 $c$ 乘一个加权平均（$a_{ij} \ge 0$），$b_i$ 不含 $v$。
# $v_j$ 的系数 $c\,a_{ij}$ 因此全部同号。相加没问题（两个邻居各占一半权重，$c = 2$），相减要 $+1$ 和 $-1$，最多做对一个，误差至少是 1。
#
# <details><summary>深入一步：误差下界 1 的证明</summary>
#
# 由于 $v_j$ 独立、均值为 0、方差为 1，均方误差等于系数误差的平方和加上 $b_i^2$：
#
# $$\mathbb{E}\big[(\hat{y}_i - y_i)^2\big] = \sum_j \big(c\,a_{ij} - t_{ij}\big)^2 + b_i^2 \ \ge\ 1, \qquad
#   t_{ij} = [j = i+1] - [j = i-1],$$
#
# 因为两个系数 $c\,a_{i,i+1}$ 与 $c\,a_{i,i-1}$ 同号，离 $+1$ 和 $-1$ 的距离的平方和至少是 1。
#
# </details>
#
# **两个头可以。** 按“数学”一节的按头展开，每个头经过自己的一串线性映射再相加，所以 $v_j$ 的系数是 $\sum_r c_r a^{(r)}_{ij}$，每个头有自己的因子
# $c_r = \mathbf{w}^\top \mathbf{W}_o^{(r)} \mathbf{W}_v^{(r)}[:, v]$（$[:, v]$ 是 $\mathbf{W}_v^{(r)}$ 中对应 $v_j$ 的那一列）。
# $c_1$、$c_2$ 可以异号，两个非负的分布就能相减：例如头 1 只看 $i+1$、头 2 只看 $i-1$，$c_1 = 1$、$c_2 = -1$。
# 下面训练 1、2、4 个头的模型；它们的 `num_hiddens` 相同，因此参数量也相同。作为对照，再用同样的代码训练一个单头模型去拟合和 $v_{i+1} + v_{i-1}$。

# %%
n_pos = 8


def neighbour_batch(batch_size, generator, sign=-1):
    """Inputs (batch, 8, 9) = position one-hot + value; targets (batch, 8) = v[i+1] + sign * v[i-1]."""
    vals = torch.randn(batch_size, n_pos, generator=generator)
    pos = torch.eye(n_pos).expand(batch_size, n_pos, n_pos)
    inputs = torch.cat([pos, vals.unsqueeze(-1)], dim=-1)
    return inputs, torch.roll(vals, -1, dims=1) + sign * torch.roll(vals, 1, dims=1)


class NeighbourNet(nn.Module):
    def __init__(self, num_heads):
        super().__init__()
        self.mha = MultiHeadAttention(n_pos, n_pos, n_pos + 1, 16, num_heads, dropout=0)
        self.readout = nn.Linear(16, 1)  # one scalar prediction per position

    def forward(self, inputs):
        positions = inputs[..., :n_pos]  # queries and keys: where a token is, not its value
        return self.readout(self.mha(positions, positions, inputs)).squeeze(-1)


def train_neighbour(num_heads, num_steps=300, seed=0, sign=-1):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = NeighbourNet(num_heads)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(num_steps):
        inputs, target = neighbour_batch(64, gen, sign)
        loss = ((net(inputs) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def count_params(net):
    return sum(p.numel() for p in net.parameters())


torch.set_num_threads(1)  # tiny tensors: more threads only wait for each other
test_inputs, test_target = neighbour_batch(1024, torch.Generator().manual_seed(2))
nets, mse = {}, {}
for h in (1, 2, 4):
    nets[h] = train_neighbour(h)
    with torch.no_grad():
        mse[h] = ((nets[h](test_inputs) - test_target) ** 2).mean().item()
    print(f"v[i+1] - v[i-1], {h} head(s): {count_params(nets[h])} parameters, test MSE {mse[h]:.2f}")
sum_net = train_neighbour(1, sign=+1)
sum_inputs, sum_target = neighbour_batch(1024, torch.Generator().manual_seed(2), sign=+1)
with torch.no_grad():
    sum_mse = ((sum_net(sum_inputs) - sum_target) ** 2).mean().item()
print(f"v[i+1] + v[i-1], 1 head:  {count_params(sum_net)} parameters, test MSE {sum_mse:.4f}")
print(f"variance of the target: {test_target.var():.2f}; "
      f"mean of v² in the test set: {test_inputs[..., -1].pow(2).mean():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert count_params(nets[1]) == count_params(nets[2]) == count_params(nets[4])
assert mse[1] > 0.9  # the bound 1 above, up to the sampling noise of the test set
assert mse[2] < 0.05 and mse[4] < 0.05
assert sum_mse < 0.01  # one head averages two positions without trouble

# %% [markdown]
# 参数一样多，单头的误差停在理论下界 1 附近，两个头和四个头几乎做到了零误差；
# 而同一个单头模型拟合和 $v_{i+1} + v_{i-1}$ 时误差几乎为 0（第四行）。所以单头的障碍不是“一个分布只能看一个位置”，
# 它可以把权重平分给两个邻居；障碍是**符号**：一个分布里的值只能同号地进来。
# 单头的 0.99 比下界 1 还低一点，并不矛盾：下界说的是**期望**，$\mathbb{E}[v_j^2] = 1$；
# 测试集只有 1024 条随机序列，它上面 $v^2$ 的平均是 0.99（最后一行），单头模型漏掉一个邻居，误差就是这个平均。
# 换随机种子 0–4 重训，单头的误差在 0.99–1.02 之间（见文末“与书中代码的差别”）。
# 画出两个头的注意力权重（行是查询的位置，列是键的位置；查询和键只含位置，所以每个样本的权重都相同）。
# 均匀分布时每个权重都是 $1/8 = 0.125$：

# %%
with torch.no_grad():
    nets[2](test_inputs[:1])
w2 = nets[2].mha.attention.attention_weights  # (num_heads, 8, 8) for one example
positions = [str(i) for i in range(n_pos)]
d2l.show_heatmaps(w2.unsqueeze(0), xlabel="Key position", ylabel="Query position",
                  titles=["Head 1", "Head 2"], figsize=(7, 3.2),
                  xticklabels=positions, yticklabels=positions)
d2l.plt.show()
i = torch.arange(n_pos)
offset = [((w2[h].argmax(dim=-1) - i) % n_pos).tolist() for h in range(2)]
for h in range(2):
    print(f"head {h + 1}: argmax key - query (mod 8) = {offset[h]}, "
          f"largest weight per row {w2[h].max(dim=-1).values.min():.2f}-"
          f"{w2[h].max(dim=-1).values.max():.2f} (uniform: 0.125)")
print(f"all weights: {w2.min():.2f} to {w2.max():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert sorted(map(tuple, offset)) == [(1,) * n_pos, (n_pos - 1,) * n_pos]
_target = torch.roll(torch.eye(n_pos), 1, dims=1) - torch.roll(torch.eye(n_pos), -1, dims=1)
for seed in (1, 2):  # the same two patterns for other seeds: not luck of seed 0
    _net = train_neighbour(2, seed=seed)
    with torch.no_grad():
        assert ((_net(test_inputs) - test_target) ** 2).mean() < 0.05
    _w = _net.mha.attention.attention_weights[:2]
    assert sorted(tuple(((_w[h].argmax(-1) - i) % n_pos).tolist()) for h in range(2)) \
        == [(1,) * n_pos, (n_pos - 1,) * n_pos]
    assert (explore.value_coefficients(_net, n_pos) - _target).abs().max() < 0.1

# %% [markdown]
# 两个头并没有“各看一个邻居”：两个分布都很宽，权重在 0.05 到 0.25 之间（最后一行），每行最大的也只有 0.2 左右，
# 四分之三以上的权重散在其他位置上；热图里每行有深有浅，但没有一格接近 1。
# 能分辨的只是峰的位置：对每个查询 $i$，头 1 的最大权重在右邻居 $i+1$ 上，头 2 的在左邻居 $i-1$ 上
# （热图里颜色最深的两条错开、首尾相接的对角线）。把头 1 的权重减去头 2 的权重，
# 画在以 0 为中心的红蓝色标上（红为正、蓝为负、白为 0）：

# %%
first = 0 if offset[0][0] == 1 else 1  # the head that prefers i + 1
diff = w2[first] - w2[1 - first]
limit = diff.abs().max().item()
fig, ax = d2l.plt.subplots(figsize=(4, 3.2))
image = ax.imshow(diff.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
ax.set_xticks(range(n_pos), positions)
ax.set_yticks(range(n_pos), positions)
ax.set(xlabel="Key position", ylabel="Query position",
       title=f"Head {first + 1} (i+1) minus head {2 - first} (i-1)")
fig.colorbar(image, ax=ax, label="weight difference")
d2l.plt.show()
neighbours = (i[:, None] - i[None, :]) % n_pos  # 7: key i+1, 1: key i-1
background = diff[(neighbours != 1) & (neighbours != n_pos - 1)]
print(f"difference at key i+1: {diff[neighbours == n_pos - 1].min():.2f} to "
      f"{diff[neighbours == n_pos - 1].max():.2f}; at key i-1: {diff[neighbours == 1].min():.2f} "
      f"to {diff[neighbours == 1].max():.2f}; elsewhere at most {background.abs().max():.3f}")
# v_j reaches the prediction through head r as c_r * weight: readout . W_o (head r's columns)
# . W_v (head r's rows, the value's column)
head_dim = 16 // 2
c = [(nets[2].readout.weight @ nets[2].mha.W_o.weight[:, r * head_dim:(r + 1) * head_dim]
      @ nets[2].mha.W_v.weight[r * head_dim:(r + 1) * head_dim, -1]).item() for r in range(2)]
print(f"factor c on each head's weights: head 1 {c[0]:.1f}, head 2 {c[1]:.1f}")
w_first = w2[first]
other = (neighbours != 1) & (neighbours != n_pos - 1)
print(f"head {first + 1}, mean weight: at key i+1 {w_first[neighbours == n_pos - 1].mean():.3f}, "
      f"at key i-1 {w_first[neighbours == 1].mean():.3f}, elsewhere {w_first[other].mean():.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert first == 0  # the prose names head 1 as the i+1 head
assert ((diff.argmax(dim=-1) - i) % n_pos == 1).all()
assert ((diff.argmin(dim=-1) - i) % n_pos == n_pos - 1).all()
assert background.abs().max() < 0.01
assert c[0] > 0 > c[1] and abs(c[0] + c[1]) < 0.2 * c[0]  # similar size, opposite signs

# %% [markdown]
# 差在 $i+1$ 处为正（红）、在 $i-1$ 处为负（蓝），其余位置是白的：两个**几乎相同的宽分布**，
# 只在两个邻居上差 $\pm 0.16$。这 0.16 来自峰和“凹”两部分：头 1 的平均权重在 $i+1$ 上比其他位置高，在 $i-1$ 上比其他位置低（最后一行）；头 2 的因子符号相反，零误差要求它的分布与头 1 互补。
# 倒数第二行是从训练好的参数算出的因子 $c_1 \approx 6.4$、$c_2 \approx -6.4$，于是 $v_j$ 的系数是 $6.4\,(a^{(1)}_{ij} - a^{(2)}_{ij})$，两个邻居上 $6.4 \times (\pm 0.16) \approx \pm 1$。
# 背景为什么正好相同？误差为 0 **迫使**它相同：邻居以外的系数 $c_1 a^{(1)}_{ij} + c_2 a^{(2)}_{ij}$ 必须为 0，而 $c_1 = -c_2$，所以 $a^{(1)}_{ij} = a^{(2)}_{ij}$，差图上那些格子是白的。
#
#
# <details><summary>深入一步：平坦的解和尖锐的解</summary>
#
# 平坦不是必需的。`explore.hand_set_neighbour` 手工设一组权重：头 1 只看 $i+1$、头 2 只看 $i-1$（权重几乎是独热的），$c_1 = 1$、$c_2 = -1$，
# 测试误差同样是 0（下面探索器里选 hand-set 就是它）：只要 $c_r$ 与权重差的乘积对上 $\pm 1$，尖也好平也好都是最优解，损失函数分不出它们。
# 训练为什么停在平的那个，下面只是一种理解方式，本页没有测：随机初始化的分数很小，每个头起初都接近均匀分布；
# 梯度同时放大 $|c_r|$ 和拉开两个头的权重差，误差降到 0 时这两者刚好乘出 $\pm 1$，此后梯度也变成 0，再没有什么推动权重变尖。
#
# </details>
#
# ### 动手试试：屏蔽一个头
#
# 探索器对查询位置 $i = 3$ 画出从权重到系数的每一步：左图是每个头的权重 $a^{(r)}_{3j}$；右图彩色线是每个头的那一份 $c_r a^{(r)}_{3j}$，
# 黑线是模型给 $v_j$ 的系数（把 $v = 0$ 和 $v = \mathbf{e}_j$ 送进模型、两次预测之差），灰线是目标。
# 控件选头数、权重（trained 或手工设的尖锐解 hand-set）和要屏蔽的头（它的输出在进入 $\mathbf{W}_o$ 前置零；左图里画成虚线）。
#
# 它停在 2 个头、trained、不屏蔽：左图两条宽分布，除了键 4 和键 2 处处重合；右图里它们被乘上 $+6.4$ 和 $-6.4$，黑线与灰线重合。
# 先预测，再动控件验证：
#
# 1. 屏蔽头 1。黑线会变成什么样？误差比单头模型（0.99）高还是低？
# 2. 换成 hand-set 再屏蔽头 1。这回丢掉的是什么？
# 3. 选 1 个头（trained）。黑线能和灰线的哪一半重合？
#
# <details><summary>答案（本次运行）</summary>
#
# 1. 黑线只剩头 2 那一份（橙线藏在黑线下面）：一条 $-0.5$ 到 $-1.4$ 的负平线，背景不再被抵消，误差从 0.00 升到 5.50（屏蔽头 2 是 5.63），
#    比把单头模型唯一的头也屏蔽掉（只剩偏置，2.02）还差。平坦的解里，一个头离开搭档就全错。
# 2. 每个头几乎只看一个键，因子 $\pm 1$，每一份只是一根尖刺；屏蔽头 1 只丢掉键 4 上的 $+1$，误差 0.99，和单头一样：尖锐的解里每个头各管一个邻居。
# 3. 只有一个因子、一个符号：trained 的 $c_1 = -1.0$ 只做对了键 2 上的 $-1$，误差 0.99。
#    （选 4 个头：因子两正两负，屏蔽任何一个头误差都升到 1.59–3.06，练习 2 会用到。）
#
# </details>

# %%
hand_set = {h: explore.hand_set_neighbour(NeighbourNet(h)) for h in nets}
explore.heads_explorer(nets, test_inputs, test_target, hand_set=hand_set, heads=2, query=3)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_s = explore.neighbour_states(nets, test_inputs, test_target, 3, hand_set)
_mse = {(r["heads"], r["kind"], r["mask"]): float(r["text"].rsplit(" ", 1)[1])
        for r in _s["text"] if r["line"] == 2}
assert _mse[2, "trained", 0] < 0.01 and _mse[2, "hand-set", 0] < 0.01
assert min(_mse[2, "trained", 1], _mse[2, "trained", 2]) > 4  # flat: a head alone is far off
assert all(abs(_mse[2, "hand-set", m] - 0.99) < 0.02 for m in (1, 2))  # sharp: one neighbour lost
assert abs(_mse[1, "trained", 0] - 0.99) < 0.02 and 1.9 < _mse[1, "trained", 1] < 2.1
assert all(1.2 < _mse[4, "trained", m] < 3.5 for m in (1, 2, 3, 4))
_sum = {(r["heads"], r["kind"], r["mask"], r["key"]): r["coefficient"] for r in _s["coefficients"]
        if r["series"] == explore.SUM_SERIES}
assert _sum[2, "trained", 0, 4] == 1.0 and _sum[2, "trained", 0, 2] == -1.0
assert all(-1.5 < _sum[2, "trained", 1, j] < -0.4 for j in range(n_pos))  # the negative flat line
with torch.no_grad():
    nets[2](test_inputs[:1])
    _w2 = nets[2].mha.attention.attention_weights[:2, 3]
    hand_set[2](test_inputs[:1])
assert _w2.argmax(-1).tolist() == [4, 2] and 0.2 < _w2.max() < 0.26
assert hand_set[2].mha.attention.attention_weights[:2].max(-1).values.min() > 0.99

# %% [markdown]
# ## 真实句子上的头
#
# 邻居任务里查询只含位置，头要看哪里是我们设计的。换成真实的英文句子：取 fra-eng 英文一侧 4–8 个词元的句子（每句一次），
# 把每句里随机一个词换成 `<mask>`，让模型猜它。模型和 `NeighbourNet` 同一个形状（`explore.ClozeNet`）：一个 `MultiHeadAttention` 层
# 加一个线性读出层，查询只是被遮住的那个**位置**的位置嵌入，键和值是每个词的词嵌入加位置嵌入。
# 1 个头和 4 个头的模型 `num_hiddens` 都是 64，参数一样多，各训练 400 步：

# %% tags=["nbval-ignore-output"]
data = explore.cloze_data()  # the English side of fra-eng (D2L_DATA_DIR or the cache)
cloze = {h: explore.train_cloze(data, num_heads=h) for h in (1, 4)}
for h, net in cloze.items():
    print(f"{h} head(s): {count_params(net)} parameters, hidden word guessed right in "
          f"{explore.cloze_accuracy(net, data):.0%} of {len(data['test'][0])} test sentences")
for name, acc in explore.cloze_baselines(data).items():
    print(f"no attention, always guess the {name} (from the training sentences): {acc:.0%}")

# %% [markdown]
# 参数一样多，4 个头猜对 35%，1 个头只猜对 25%。后两行是不用注意力的两个尺子：总猜训练句子里最常见的词（句号）猜对 17%；
# 按“第几个位置、句子多长”猜那里最常见的词（例如最后一个位置猜句号）猜对 27%。
# 这一次运行里单头（25%）还不如后一条规则，4 个头比它高 8 个百分点；换种子 0–4 重训，单头在 23%–29% 之间，与这条规则相当，4 个头总比单头高 6–13 个百分点。
# 这条规则还用到了句子长度，所以这几个百分点只是“读别的词”带来的收益的粗略估计。
# 下图是 4 个头在一个句子上的权重：
# 第 $i$ 行是遮住第 $i$ 个词时每个头看向哪里（每次只遮一个词，一行一次前向传播）。下面几行对 2000 个测试句子统计每个头最大权重的位置：

# %% tags=["nbval-ignore-output"]
sentence = "tom is taller than mary ."
words = sentence.split()
cloze_weights = explore.sentence_heads(cloze[4], data["vocab"], sentence)  # (heads, hidden, word)
d2l.show_heatmaps(cloze_weights.unsqueeze(0), xlabel="Word looked at", ylabel="Hidden word",
                  titles=[f"Head {r + 1}" for r in range(4)], figsize=(11, 3.4),
                  xticklabels=words, yticklabels=words)
d2l.plt.show()
shares, _ = explore.head_offsets(cloze[4], data)
first_word, last_word = explore.head_ends(cloze[4], data)
for r in range(4):
    print(f"head {r + 1}: largest weight on the word 2 before / 1 before / 1 after / 2 after the "
          f"hidden one in {' / '.join(f'{x:.0%}' for x in shares[r])} of the test sentences; "
          f"on the first word in {first_word[r]:.0%}, on the last in {last_word[r]:.0%}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_acc = {h: explore.cloze_accuracy(net, data) for h, net in cloze.items()}
assert _acc[4] > _acc[1] + 0.05
_before, _after = shares[:, 1], shares[:, 2]  # the word 1 before / 1 after the hidden one
assert _before.max() > 0.3 and _after.max() > 0.3 and _before.argmax() != _after.argmax()
assert torch.equal(cloze_weights, explore.sentence_heads(cloze[4], data["vocab"], sentence))

# %% [markdown]
# 在这一句上，头 1 多看后一个词（遮住 tom 看 is，遮住 than 看 mary，遮住 mary 看句号），
# 头 2 多看前一个词（is 看 tom，taller 看 is，句号看 mary），头 3、头 4 多看句子两端的 tom 或句号；
# 有几格深色落在被遮住的那一格自己身上（例如头 2 的 than、mary 两行），那一格只带位置。
# 这些头是尖锐的，和邻居任务里的宽分布不同。测试集上的统计说的是同一件事：头 1 的最大权重落在后一个词上的句子占 39%，头 2 落在前一个词上的占 40%；
# 头 3 落在句首或句尾的占 27% + 45%，头 4 占 40% + 40%。
# 哪个编号的头做哪件事随随机种子变；换种子重训，总有一个头偏看前一个词、另一个头偏看后一个词（见文末“与书中代码的差别”）。
#
# 这里起作用的应是多头的第二样东西，而不是邻居任务里的符号（本页没有把两者分开测）：前一个词和后一个词说的是不同的事（“the ___”和“___ the”），
# 单头把它们平均进同一个向量，读出层分不清哪部分来自前面；4 个头的输出拼接在不同的分量上，$\mathbf{W}_o^{(r)}$ 各读各的。
# 10.7 节在一个训练好的翻译模型上画出了 [Transformer 每一层、每个头的注意力](10.7-transformer.ipynb)，那里同一层的不同头也看向不同的词元。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * `transpose_qkv`、`transpose_output`：书中用 `reshape` 和 `permute`；这里用 `unflatten`、`transpose`、`flatten`，
#   因为它们直接说出“把最后一维拆成（头，每头维度）”“交换两维”“合并两维”；两种写法的结果逐位相同（图 10.5.2 下面打印的差为 0）。
# * 子模块的属性名和创建顺序（`attention`、`W_q`、`W_k`、`W_v`、`W_o`）与书中相同：属性名决定参数名，
#   创建顺序决定 `parameters()` 和 `state_dict()` 的顺序，所以书中保存的参数可以直接载入。
# * 书中不检查 `num_hiddens` 能否被 `num_heads` 整除，除不尽时要到前向传播里的 `reshape` 才报一个看不出原因的形状错误；
#   这里在构造时就抛出 `ValueError`，说明 `num_hiddens` 和 `num_heads` 各是多少、可以选哪些头数（第一个形状实验的最后一行）。
#   输入的最后一维与 `query_size` 等不符时，`forward` 同样报出是哪个参数不对。
# * 书中 `forward` 的 `valid_lens` 没有默认值；这里默认为 `None`，不需要遮蔽时可以少传一个参数。
# * 书中的形状实验用全 1 的输入、查询键值都是 100 维；这里用随机输入和 20、30、40 维，
#   因为全 1 输入下每个头的权重都相同（在有效的键上均匀分布），练习 1 画出各头的权重时就看不出头与头的区别。
# * 邻居任务之后的张量都很小，多线程只会互相等待，所以代码把线程数设为 1；要恢复就调用 `torch.set_num_threads`。
# * 书中没有训练多头模型；这里的邻居任务是为本节设计的。关于训练结果的说法（单头误差约 1、2 头和 4 头约 0、
#   2 头模型的两个峰分别在 $i+1$ 和 $i-1$、两个分布都很平）在随机种子 0–4、两种 CPU 内核（`ATEN_CPU_CAPABILITY=default` 和 `avx2`）上都成立：
#   `python tools/sweep_heads.py --seeds 5 --out results/sweep-heads.json` 用本页的训练代码重训，结果存在
#   仓库里的 `results/sweep-heads.json`（单头 0.99–1.02，2 头和 4 头至多 0.0002，2 头每行最大权重至多 0.31）。
# * 书中没有真实文本上的多头实验；“猜被遮住的词”的模型和数据（fra-eng 英文一侧前 60000 行里 4–8 个词元、各不相同的句子，出现少于 5 次的词记作 `<unk>`）
#   在 `d2l_attention/explore/multihead_attention.py` 里，建在本节的 `MultiHeadAttention` 上。
#   训练结果随 CPU 内核差一两个百分点（种子 0：default 33.75%、avx2 35.5%），所以这两格的输出不逐位比较。
#   `python tools/sweep_cloze.py` 在随机种子 0–4、两种 CPU 内核上重训，结果存在仓库的 `results/sweep-cloze.json`：
#   4 个头都比 1 个头多猜对 6–13 个百分点，并且总有一个头最常看前一个词（37%–51% 的句子）、另一个头最常看后一个词（33%–60%）。
#
# </details>
#
# ## 小结
#
# * 多头注意力把查询、键、值投影到 $h$ 个子空间，在每个子空间里独立做注意力汇聚，拼接后再用 $\mathbf{W}_o$ 融合；
#   拼接再投影等于各头各自经过一个线性映射再相加。
# * 所有头的投影是一个摞起来的全连接层，参数量与同宽度的单头相同；`transpose_qkv` 把头并入批量维（样本 $b$ 的头 $i$ 在第 $bh+(i-1)$ 行），有效长度用 `repeat_interleave` 逐个样本复制。
# * 同样的权重，单头对各段分数的和做一次 softmax，多头对每段分别做 softmax，得到 $h$ 个分布。
# * 两样东西：一个头只能同号地组合值（单头学得会 $v_{i+1} + v_{i-1}$，学不会 $v_{i+1} - v_{i-1}$），几个头经 $\mathbf{W}_o$ 可以异号地组合；
#   各头的输出拼接在不同的分量上，从不同位置读来的信息不会混成一个平均。
# * 在真实句子上猜被遮住的词，参数一样多，4 个头（35%）比 1 个头（25%）和只按位置猜（27%）都准，不同的头各自偏向前一个词、后一个词、句子两端。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 把本节第一个形状实验（模块 `attention`：5 个头，批量大小 2，4 个查询，6 个键值对，
# 有效长度 `valid_lens = [3, 2]`）里**每个头**的注意力权重画出来。
# 定义 `ex1_weights`，形状为（批量大小，头数，查询数，键值对数），即 `ex1_weights[b, i]` 是样本 `b` 的头 `i + 1`（下标 `i`）的权重矩阵；
# 画成**一张**图、用**一个**颜色刻度：每行一个样本，每列一个头（标题 `"Head 1"`……），坐标轴标上查询和键。
# 从图中能看出有效长度的作用吗？用数字说明你看到的。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
with torch.no_grad():
    attention(Q, K, V, valid_lens)
# Rows b * num_heads + i belong to head i of example b: unflatten the first axis.
ex1_weights = attention.attention.attention_weights.unflatten(0, (batch_size, num_heads))
d2l.show_heatmaps(ex1_weights, xlabel="Keys", ylabel="Queries",
                  titles=[f"Head {i + 1}" for i in range(num_heads)], figsize=(11, 4.2),
                  xticklabels=[f"k{j}" for j in range(num_kvpairs)],
                  yticklabels=[f"q{j}" for j in range(num_queries)])
for b, ax in enumerate(d2l.plt.gcf().axes[:batch_size * num_heads:num_heads]):
    ax.set_ylabel(f"Example {b}\nQueries")
d2l.plt.show()
for b, n in enumerate(valid_lens.tolist()):
    kept = ex1_weights[b, :, :, :n]
    print(f"example {b}, valid_len {n}: total weight on keys k{n}-k5 "
          f"{ex1_weights[b, :, :, n:].sum():.1f}; weights on k0-k{n - 1} from {kept.min():.2f} "
          f"to {kept.max():.2f}, mean {kept.mean():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex1_weights.shape) == (2, 5, 4, 6), "ex1_weights should have shape (2, 5, 4, 6)"
assert torch.allclose(ex1_weights.sum(dim=-1), torch.ones(2, 5, 4)), "each row is a distribution"
assert (ex1_weights[0, :, :, 3:] == 0).all() and (ex1_weights[1, :, :, 2:] == 0).all(), \
    "keys beyond each example's valid length must get zero weight in every head"
with torch.no_grad():
    attention(Q, K, V, valid_lens)
_row = attention.attention.attention_weights[1, 0]  # example 0, head 2 (index 1), query 0
assert torch.allclose(ex1_weights[0, 1, 0], _row), \
    f"ex1_weights[0, 1, 0] should be {[round(x, 3) for x in _row.tolist()]} (example 0, head 2)"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
with torch.no_grad():
    attention(Q, K, V, valid_lens)
_w = attention.attention.attention_weights
for _b in range(2):
    for _i in range(5):
        assert torch.allclose(ex1_weights[_b, _i], _w[_b * 5 + _i]), (_b, _i)


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：能。样本 0 的有效长度是 3，5 个头的每一行都只在 k0–k2 上有颜色，k3–k5 是白的；样本 1 的有效长度是 2，
# 只有 k0、k1 有颜色。打印的数字说明这不是“颜色太浅”：被遮蔽的键上的权重之和是 0.0，
# 每行的权重全部分给了有效的键，所以有效键越少，每个键分到的越多（样本 0 平均 1/3 ≈ 0.33，样本 1 平均 1/2 = 0.50）。
# 同一个样本的 5 个头用的是同一个有效长度（`repeat_interleave` 把它复制给了每个头），
# 但在有效的键之间，各头的分配并不相同（例如样本 0 的 q0：头 1 偏向 k0，头 3 偏向 k2），这正是多头的用意。
# 共用一个颜色刻度时，样本 1 的格子整体更深，也是因为权重只分给了两个键。

# %% [markdown]
# ### 练习 2
#
# 假设我们手里有一个训练好的多头注意力模型，想剪掉最不重要的头来加快预测。
# 怎样设计实验来衡量一个头的重要性？在小模型上动手：取上面训练好的 4 头 `NeighbourNet`（`nets[4]`，
# `num_hiddens=16`，每头 4 维），**逐个屏蔽**每个头
# （把该头的输出在拼接后、进入 $\mathbf{W}_o$ 之前置零，例如用 `explore.forward_with_heads(net, net.mha, keep, inputs)`，
# `keep` 是每个头一个的布尔值），在测试集 `test_inputs` 上测均方误差。
# 定义 `ex2_net`（训练好的 4 头模型）和 `ex2_importance`：长度为 4 的张量，下标 `i` 处是屏蔽头 `i + 1` 后
# 测试均方误差的**增加量**。然后按重要性从低到高剪掉头，看看能剪掉几个而误差不明显变大。
# 对 2 头模型 `nets[2]` 也比较一下：只屏蔽头 1、只屏蔽头 2、两个都屏蔽，误差各是多少？
# 单独屏蔽一个头的误差增加量，能说明“这个头单独贡献了多少”吗？
# 最后回到上面的探索器，选 4 个头，先看 trained、再看 hand-set，逐个屏蔽每个头：两种权重下误差各升多少？为什么差这么多？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def mse_with_heads(net, keep):
    """Test MSE of `net` when only the heads with keep[i] == True contribute."""
    with torch.no_grad():
        pred = explore.forward_with_heads(net, net.mha, keep, test_inputs)  # masked: zeros
    return ((pred - test_target) ** 2).mean().item()


ex2_net = nets[4]
all_heads = torch.ones(4, dtype=torch.bool)
base = mse_with_heads(ex2_net, all_heads)
ex2_importance = torch.tensor([mse_with_heads(ex2_net, all_heads & (torch.arange(4) != i)) - base
                               for i in range(4)])
print(f"test MSE with all heads: {base:.2f}")
print("MSE increase when one head is masked:", [round(x, 2) for x in ex2_importance.tolist()])
keep = all_heads.clone()
for i in ex2_importance.argsort().tolist():  # prune the least important first
    keep[i] = False
    print(f"keep heads {[j + 1 for j in range(4) if keep[j]]}: MSE {mse_with_heads(ex2_net, keep):.2f}")
print("2 heads:", ", ".join(f"keep {kept}: MSE {mse_with_heads(nets[2], torch.tensor(keep)):.2f}"
                            for kept, keep in [("both", [True, True]), ("head 1", [True, False]),
                                               ("head 2", [False, True]), ("none", [False, False])]))
with torch.no_grad():
    ex2_net(test_inputs[:1])
peak_offsets = (ex2_net.mha.attention.attention_weights[:4].argmax(-1) - torch.arange(n_pos)) % n_pos
for r in range(4):
    print(f"4 heads, head {r + 1}: peak key - query (mod 8) for queries 0-7 = {peak_offsets[r].tolist()}")
print("4 heads, factors c_r:", [round(x, 2) for x in explore.head_factors(ex2_net).tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex2_importance.shape) == (4,), "ex2_importance should hold one number per head"
assert ex2_net.mha.num_heads == 4, "ex2_net should be the 4-head NeighbourNet"
assert ex2_importance.max() > 0.5, "masking a head the task relies on must raise the MSE a lot"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
# Independent route: a head whose rows of W_v are zero outputs zeros.
for _i in range(4):
    _pruned = NeighbourNet(4).eval()
    _pruned.load_state_dict(ex2_net.state_dict())
    with torch.no_grad():
        _pruned.mha.W_v.weight[_i * 4:(_i + 1) * 4] = 0
        _full = ((ex2_net(test_inputs) - test_target) ** 2).mean().item()
        _cut = ((_pruned(test_inputs) - test_target) ** 2).mean().item()
    assert abs((_cut - _full) - float(ex2_importance[_i])) < 1e-4, _i

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：最直接的实验是**消融**（ablation）：在验证集上依次屏蔽每个头（把它的输出置零，或换成它在数据上的平均输出），
# 记录指标（损失、准确率、BLEU）变差多少，变差越多越重要。但 2 头模型提醒我们这个数字要小心读：
# 单独屏蔽任何一个头，误差（5.6 或 5.5）都比两个头都屏蔽（2.0，只剩读出层的偏置）时还大，
# 因为每个头的输出都带着一大块要靠另一个头抵消的背景（差值热图里相减后消失的部分），拿掉搭档，背景就留在了输出里。
# 所以单独屏蔽的增加量衡量的是“其余的头没有它时怎样”，而不是“它单独贡献了多少”。上面的 4 头小模型里，屏蔽任何一个头都会让均方误差
# 从约 0 升到 1.6～3.1（见 `ex2_importance`），在这个种子（0）上没有可以白白剪掉的头；但换种子就不一定：
# 仓库里 `results/sweep-heads.json` 中种子 4 的 4 头模型因子是 $[-4.57, 6.81, -2.13, -0.11]$，头 4 的因子接近 0，它那一份 $c_4 a^{(4)}_{ij}$ 的每个系数都不超过 0.11，对值的贡献很小（遮住它会怎样，这里没有量）。
# 本页这个种子上，
# 屏蔽头 4 后的 3.06 甚至比 4 个头全屏蔽（只剩偏置）的 2.03 还差，原因同上：剩下三个头的背景不再相互抵消；
# 大模型里则常见相反的情形：Michel 等人（2019，[Are Sixteen Heads Really Better than One?](https://arxiv.org/abs/1905.10650)）
# 发现训练好的 Transformer 在测试时去掉许多头、甚至每层只留一个头，指标也几乎不变；
# Voita 等人（2019，[Analyzing Multi-Head Self-Attention](https://arxiv.org/abs/1905.09418)）用带 $L_0$ 惩罚的门控剪掉了编码器的大部分头，
# 留下的少数头各有可解释的分工（看相邻位置、看句法关系、看罕见词）。逐步剪枝的输出还显示了一个陷阱：只剪掉最不重要的头 2 时
# 误差约 1.6，再剪掉头 3 反而降到约 0.6——头之间会互相补偿、抵消，单独屏蔽得到的重要性不能简单相加。
# 实验设计上要注意：(1) 在独立的验证集上测，并重复几个随机种子，看重要性排序是否稳定；
# (2) 头之间会互相补偿，逐个屏蔽会低估“一组冗余头”的作用，所以要**逐步**剪枝、每剪一步重新测量
# （必要时微调几步再测）；(3) 消融要跑 $h$ 次前向，头很多时可用一阶近似代替：给每个头乘一个门控系数
# $\xi_i$（初值 1），用验证集上 $|\partial \mathcal{L} / \partial \xi_i|$ 的平均值作重要性，
# 一次反向传播就得到所有头的分数；也可以训练时给门控加 $L_0$/$L_1$ 稀疏惩罚，让不重要的头自动关掉。
# (4) 剪枝的目的是提速，最后要实际测剪枝后模型的预测时间和指标，画出“速度—质量”曲线来决定剪多少。
#
# 探索器里的 4 头模型（打印的最后 5 行）：头 1、头 3 的峰大多在 $i+1$（偏移 1，分别在 5 个和 7 个查询上），
# 头 2、头 4 的峰大多在 $i-1$（偏移 7，各在 6 个查询上），因子 $c_r$ 也是两正（头 1、头 3）两负（头 2、头 4）。
# 但和 2 头模型一样，每个头都是平的分布，它的那一份 $c_r a^{(r)}_{ij}$ 带着一大块背景，只有 4 份加在一起背景才抵消。
# 屏蔽一个头，抵消就被打破，所以误差升到 1.6～3.1，而不是“另一个看同一邻居的头还在，所以没事”。
# 探索器里换成 hand-set 就看得出区别：每个头只是一根尖刺、因子 $\pm 0.5$，屏蔽任何一个头只丢掉一个邻居上的一半系数，误差只有 $0.5^2 = 0.25$。
# 逐步剪枝剩下的头 1 和头 4 一正一负，两份背景大部分抵消，误差 0.63 比只剪头 2 时低；
# 但它们的因子大小不等（约 4.4 与 $-4.7$），两个分布也不是为彼此抵消而训练的，所以没有凑成 2 头模型那样误差为 0 的一对。

# %% [markdown]
# ### 练习 3
#
# 不用 `transpose_qkv`，而是**逐个头循环**地实现多头注意力：对模块 `attention` 的第 $i$ 个头，
# 取出 `W_q.weight`、`W_k.weight`、`W_v.weight` 的第 $[(i-1)p, ip)$ 行（$p$ = `num_hiddens / num_heads`）作为该头的投影（上面单独算头 2 时就是这样取的），
# 用 `d2l.DotProductAttention` 算出该头的输出，把 5 个头的输出沿最后一维拼接，再经过 `W_o`。
# 在输入 `Q, K, V, valid_lens` 上定义结果 `ex3_loop_output`，它应当与 `attention(Q, K, V, valid_lens)` 一致。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
head_dim = num_hiddens // num_heads
single = d2l.DotProductAttention(dropout=0)
outputs = []
with torch.no_grad():
    for i in range(num_heads):
        rows = slice(i * head_dim, (i + 1) * head_dim)
        q_i = Q @ attention.W_q.weight[rows].T
        k_i = K @ attention.W_k.weight[rows].T
        v_i = V @ attention.W_v.weight[rows].T
        outputs.append(single(q_i, k_i, v_i, valid_lens))
    ex3_loop_output = attention.W_o(torch.cat(outputs, dim=-1))
with torch.no_grad():
    module_output = attention(Q, K, V, valid_lens)
print("loop output:", tuple(ex3_loop_output.shape),
      f"; max |loop - attention(Q, K, V, valid_lens)| = {(ex3_loop_output - module_output).abs().max():.0e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex3_loop_output.shape) == (2, 4, 100), "ex3_loop_output should have shape (2, 4, 100)"
with torch.no_grad():
    _want = attention(Q, K, V, valid_lens)
assert (ex3_loop_output - _want).abs().max() < 1e-5, "the per-head loop must give the module's output"

# %% [markdown]
# ### 练习 4
#
# 如果在 `forward` 里把 `valid_lens.repeat_interleave(self.num_heads, dim=0)` 换成 `valid_lens.repeat(self.num_heads)`，
# 什么时候结果会出错？对 2 个头的模块 `ex4_net = MultiHeadAttention(4, 4, 4, 4, 2, dropout=0)`
# 和自注意力输入 `ex4_X`（形状 (2, 3, 4)），找一组会暴露错误的一维有效长度 `ex4_valid_lens`，
# 并定义 `ex4_gap`：正确的输出与“用 `repeat` 扩展有效长度”得到的输出之间的最大绝对差。
# 再找一组不会暴露错误的有效长度 `ex4_harmless_lens`（批量大小仍为 2），说明原因。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# repeat gives [l0, l1, l0, l1] but the rows are [b0h0, b0h1, b1h0, b1h1]: with l0 != l1,
# head 2 of example 0 and head 1 of example 1 use the other example's length.
torch.manual_seed(0)
ex4_net = MultiHeadAttention(4, 4, 4, 4, 2, dropout=0).eval()
ex4_X = torch.randn(2, 3, 4)
ex4_valid_lens = torch.tensor([1, 3])
ex4_harmless_lens = torch.tensor([2, 2])  # equal lengths: both orders give the same list


def wrong_forward(net, X, lens):
    q, k, v = (transpose_qkv(W(X), net.num_heads) for W in (net.W_q, net.W_k, net.W_v))
    per_head = net.attention(q, k, v, lens.repeat(net.num_heads))
    return net.W_o(transpose_output(per_head, net.num_heads))


with torch.no_grad():
    ex4_gap = (ex4_net(ex4_X, ex4_X, ex4_X, ex4_valid_lens)
               - wrong_forward(ex4_net, ex4_X, ex4_valid_lens)).abs().max().item()
    harmless_gap = (ex4_net(ex4_X, ex4_X, ex4_X, ex4_harmless_lens)
                    - wrong_forward(ex4_net, ex4_X, ex4_harmless_lens)).abs().max().item()
for name, lens_, gap in (("ex4_valid_lens", ex4_valid_lens, ex4_gap),
                         ("ex4_harmless_lens", ex4_harmless_lens, harmless_gap)):
    print(f"{name} {lens_.tolist()}: repeat_interleave {lens_.repeat_interleave(2).tolist()}, "
          f"repeat {lens_.repeat(2).tolist()}, max |right - wrong| = {gap:.3f}")
try:  # a 2-D valid_lens (batch, queries) needs one repeat count per dimension
    torch.tensor([[1, 2, 3], [3, 2, 1]]).repeat(2)
except RuntimeError as error:
    print("2-D valid_lens with repeat(2):", str(error).split(".")[0])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex4_net.num_heads == 2 and tuple(ex4_X.shape) == (2, 3, 4)
assert ex4_valid_lens.shape == (2,) and ex4_harmless_lens.shape == (2,)
assert ex4_valid_lens.repeat(2).tolist() != ex4_valid_lens.repeat_interleave(2).tolist(), \
    "ex4_valid_lens should be expanded differently by repeat and repeat_interleave"
assert ex4_gap > 1e-3, "the wrong expansion should change the output"
assert ex4_harmless_lens.repeat(2).tolist() == ex4_harmless_lens.repeat_interleave(2).tolist(), \
    "ex4_harmless_lens should not expose the bug"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：折叠后的第 $r = b h + (i-1)$ 行是样本 $b$ 的第 $i$ 个头，应当用 $l_b$。
# `repeat_interleave` 给出 $[l_0, l_0, l_1, l_1]$（$h = 2$），第 $r$ 行拿到 $l_{\lfloor r/h \rfloor} = l_b$，正确；
# `repeat` 把整个向量首尾相接，给出 $[l_0, l_1, l_0, l_1]$，第 $r$ 行拿到 $l_{r \bmod B}$（$B$ 是批量大小）。
# 上面的 `[1, 3]` 里，样本 0 的头 2 用了样本 1 的长度 3、样本 1 的头 1 用了长度 1，输出差 0.238。
# 一般地，两种写法只在下面三种情形下给出同一个列表：批量大小 $B = 1$、头数 $h = 1$，或者所有样本的有效长度都相等
# （`[2, 2]` 就是这样，差为 0.000）。反过来，只要 $B \ge 2$、$h \ge 2$：样本 0 的前 $h$ 行拿到 $l_0, l_1, \ldots$，
# 要与 $l_0$ 相同就得 $l_1 = l_0$；依此类推，第 $r$ 行拿到的 $l_{r \bmod B}$ 必须等于 $l_{\lfloor r/h \rfloor}$，而 $\lfloor r/h \rfloor < r$，
# 逐个推下去所有长度都等于 $l_0$。所以这个错误在“批量 > 1、头数 > 1、长度不全相等”时一定出现，而常见的调试输入
# （单个样本、单头、或长度相同的批量）恰好都看不出来，这正是它危险的地方。
# 二维的 `valid_lens`（批量大小，查询数）则不会悄悄出错：`repeat(h)` 只给了一个重复次数，PyTorch 直接报错（上面打印的那句）；
# 写成 `repeat(h, 1)` 才能运行，而那样又会像一维时一样把样本的顺序排错。
