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
# 把它们都塞进同一个分布里，只能得到一个折中的平均。
# 本节回答的问题是：**能否让同一组查询、键和值同时用几种不同的方式“看”输入？**
# 做法是多头注意力（multi-head attention）：先把查询、键、值分别投影到 $h$ 个不同的低维子空间，
# 在每个子空间里独立地做一次注意力汇聚（每一次称为一个“头”，head），再把 $h$ 个结果拼接起来、
# 用一个线性层融合。下一节的自注意力和 10.7 节的 Transformer 都直接建立在这个组件之上。

# %%
import torch
from torch import nn

import d2l_attention as d2l

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
# 每个头看到的是输入的一个不同线性“视角”，$\mathbf{W}_o$ 再决定怎样把这些视角组合起来。
#
# **把 $h$ 个头摞成一个矩阵。** 实现中取 $p_q = p_k = p_v = p_o / h$，并记 $p_o$ 为 `num_hiddens`。
# 把 $h$ 个头的查询投影矩阵竖着摞起来，得到一个 $p_o \times d_q$ 的矩阵
#
# $$\mathbf{W}_q = \begin{bmatrix} \mathbf{W}_q^{(1)} \\ \vdots \\ \mathbf{W}_q^{(h)} \end{bmatrix}
#   \in \mathbb{R}^{p_o \times d_q}, \qquad
#   \mathbf{W}_q \mathbf{q} = \begin{bmatrix} \mathbf{W}_q^{(1)} \mathbf{q} \\ \vdots \\
#   \mathbf{W}_q^{(h)} \mathbf{q} \end{bmatrix},$$
#
# 所以**一个**输出宽度为 `num_hiddens` 的全连接层就一次算出了所有头的投影：
# 结果的第 $i$ 段（第 $(i-1)p_o/h$ 到 $i p_o/h - 1$ 个分量）正是第 $i$ 个头的投影。
# 键和值同理。这也是 `num_hiddens` 必须能被 `num_heads` 整除的原因。
#
# **哪些东西与单头相同，哪些不同。** 记查询数为 $n_q$、键值对数为 $n_k$。
#
# * **投影的参数量与头数无关**：$\mathbf{W}_q, \mathbf{W}_k, \mathbf{W}_v, \mathbf{W}_o$ 共
#   $p_o(d_q + d_k + d_v + p_o)$ 个参数（不含偏置），与一个宽度为 $p_o$ 的单头注意力完全相同。
# * **打分的乘加次数也相同**：每个头算 $n_q n_k$ 个长为 $p_o/h$ 的点积，$h$ 个头合计
#   $n_q n_k p_o$ 次乘法，与单头的 $n_q n_k$ 个长为 $p_o$ 的点积一样多；加权求和值向量同理。
# * **但注意力权重不同**：单头只有**一个**关于键的概率分布，它的分数是所有分量的点积之和；
#   多头有 $h$ 个**各自归一化**的分布。把单头的分数按头的分段拆开，
#
#   $$\frac{\mathbf{q}^\top \mathbf{k}}{\sqrt{p_o}}
#     = \frac{1}{\sqrt{h}} \sum_{i=1}^{h} \frac{\mathbf{q}_i^\top \mathbf{k}_i}{\sqrt{p_o / h}},$$
#
#   单头对 $h$ 段分数先**求和**再做一次 softmax，多头对每段**分别**做 softmax，
#   因此能同时把注意力放在不同的键上。代价是 softmax 和权重矩阵多了 $h$ 倍：
#   每个样本要存 $h\, n_q n_k$ 个权重（单头是 $n_q n_k$），这部分内存和 softmax 的计算量都随头数线性增长。
#
# 下面的实现之后，我们会逐条在数值上验证这三点。

# %% [markdown]
# ![Multi-head attention: split, attend, concatenate, project](figures/10.5-multihead.svg)
#
# 图 10.5.1 多头注意力：每个头用各自的线性投影变换查询、键和值，并行计算注意力，再把 $h$ 个头的输出拼接，经 $\mathbf{W}_o$ 线性变换得到输出

# %% [markdown]
# ## 实现
#
# 关键技巧是把“头”这一维并入批量维，这样 $h$ 个头就变成了一个大小为 `batch_size * num_heads`
# 的批量，交给 10.3 节的 `DotProductAttention` **一次**并行算完。
#
# `transpose_qkv` 直接照着上面的分段写：把最后一维 $p_o$ 拆成两维（$h$，$p_o/h$）（`unflatten`），
# 第 $i$ 段 $[i p_o/h, (i+1) p_o/h)$ 正好落在第 $i$ 个头的位置；交换“步”和“头”两维得到
# （批量大小，$h$，$n$，$p_o/h$），再把前两维合并。
# 合并后第 $b$ 个样本的第 $i$ 个头位于第 $b h + i$ 行，同一样本的 $h$ 个头彼此相邻。
# `transpose_output` 反过来：把第 0 维拆回（批量大小，$h$），换回“步”在前，再把最后两维（$h$，$p_o/h$）
# 合并成一维，也就是把 $h$ 个头的输出首尾相接，这正是公式里的 $[\mathbf{h}_1; \ldots; \mathbf{h}_h]$。
# 拆维、换维都只是换一种方式看同一块内存，只有最后的合并复制一次数据。
# 书中用 `reshape` 和 `permute` 写这两个函数；这里用 `unflatten` 和 `transpose`，因为它们直接说出
# “把最后一维拆成（头，每头维度）”和“交换两维”，结果与书中的写法逐位相同。

# %%
#@save
def transpose_qkv(X, num_heads):
    """Split the features into `num_heads` blocks and fold the heads into the batch axis.

    X: (batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads).
    Row b * num_heads + i of the result holds block i (head i) of example b.
    """
    d2l.check_shape(X, "X", "(batch_size, n, num_hiddens)")
    d2l.check_divisible(X.shape[-1], num_heads)
    # (b, n, h, p): head i owns features [i*p, (i+1)*p), p = num_hiddens / h
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
# 先确认这两个函数互为逆变换，并看清每个头拿到的是哪一段：
# 第 0 个样本、第 1 个头（第 $0 \cdot 4 + 1 = 1$ 行）应当正好是原张量最后一维的第 2、3 列
# （`num_hiddens=8`，4 个头，每头 2 维）；第 1 个样本、第 0 个头在第 $1 \cdot 4 + 0 = 4$ 行。

# %%
X = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
heads = transpose_qkv(X, num_heads=4)
print("transpose_qkv   :", tuple(X.shape), "->", tuple(heads.shape))
print("transpose_output:", tuple(heads.shape), "->", tuple(transpose_output(heads, 4).shape))
print("row 1 = example 0, head 1:", heads[1].tolist())
print("row 4 = example 1, head 0:", heads[4].tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(heads[1], X[0, :, 2:4]) and torch.equal(heads[4], X[1, :, 0:2])
assert torch.equal(transpose_output(heads, num_heads=4), X)

# %% [markdown]
# 有了这两个函数，多头注意力就是“三个投影 → 拆头 → 点积注意力 → 合头 → 输出投影”。
# 有效长度 `valid_lens` 要跟着批量维一起扩展：第 $b$ 个样本的 $h$ 个头排在相邻的
# $h$ 行，所以每个有效长度要**原地连续**重复 $h$ 次（`repeat_interleave`）；
# `Tensor.repeat` 会把整个向量首尾相接地重复，顺序就错了（练习 4）。书中的 PyTorch 代码同样用 `repeat_interleave`。
# 形状为（批量大小，查询数）的二维 `valid_lens` 同样沿第 0 维重复。
# 构造函数的参数与书中相同；子模块按 `attention`、`W_q`、`W_k`、`W_v`、`W_o` 的顺序注册，
# 因此参数的名字（`W_q.weight` 等）与书中的模型一致，书中训练好的参数可以直接载入。
# 书中不检查 `num_hiddens` 能否被 `num_heads` 整除，除不尽时要到前向传播里的 `reshape` 才报一个看不出原因的形状错误；
# 这里在构造时就报错并列出可选的头数，因为这个错误越早、越直白越好改。
# 书中 `forward` 的 `valid_lens` 没有默认值；这里默认为 `None`，因为不需要遮蔽时（例如 10.6 节的一些实验）可以少传一个参数。

# %%
#@save
class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_size); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Output: (batch_size, num_queries, num_hiddens).
    After a forward pass, `self.attention.attention_weights` has shape
    (batch_size * num_heads, num_queries, num_kv); row b * num_heads + i is head i of example b.
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        d2l.check_divisible(num_hiddens, num_heads)
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        # The stacked projections of all heads: rows [i*p, (i+1)*p) of each weight are head i's.
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
# 书中的这个实验用全 1 的输入、查询键值都是 100 维；这里用随机输入，因为全 1 输入下每个头的权重都相同
# （在有效的键上均匀分布），练习 1 画出各头的权重时就看不出头与头的区别。
# 参数不合适时（例如 `num_heads=3` 除不尽 100），构造函数和 `forward` 会抛出 `ValueError`，说明问题和改法。

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
print("state_dict keys  :", list(attention.state_dict()))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert out.shape == (batch_size, num_queries, num_hiddens)
assert attention.attention.attention_weights.shape == (batch_size * num_heads, num_queries,
                                                       num_kvpairs)

# %% [markdown]
# ### 形状是怎样流动的
#
# 记批量大小为 $b$，查询数为 $n_q$，键值对数为 $n_k$，头数为 $h$，`num_hiddens` 为 $p_o$。
# 一次前向传播中各个张量的形状如下：
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
# 下面用上面那个模块的子层把这几步逐一重做一遍，打印真实的形状，并确认结果与直接调用模块一致。

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

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(final, out)

# %% [markdown]
# ### 与 PyTorch 的 `nn.MultiheadAttention` 对照
#
# PyTorch 自带的 `torch.nn.MultiheadAttention` 实现的是同一个数学模型，只是参数的存放方式不同：
# 它要求查询的维度等于 `embed_dim`（即 `num_hiddens`），键和值的维度可以不同（`kdim`、`vdim`），
# 此时三个投影分别存在 `q_proj_weight`、`k_proj_weight`、`v_proj_weight` 里，输出投影是 `out_proj`；
# 有效长度则要写成布尔的 `key_padding_mask`（`True` 表示忽略该键）。
# `d2l_attention.testing.mha_difference` 把我们模块的权重原样复制进一个 `nn.MultiheadAttention`，
# 在同一组输入上比较两者的输出，或（`per_head=True`）比较每个头的注意力权重
# （PyTorch 默认返回各头权重的**平均**，`average_attn_weights=False` 才返回每个头的权重）。

# %%
from d2l_attention import testing

torch.manual_seed(0)
ours = MultiHeadAttention(key_size=12, query_size=16, value_size=20, num_hiddens=16,
                          num_heads=4, dropout=0)
Qc, Kc, Vc = torch.randn(3, 5, 16), torch.randn(3, 7, 12), torch.randn(3, 7, 20)
lens_c = torch.tensor([7, 4, 1])
diffs = [testing.mha_difference(ours, Qc, Kc, Vc, lens_c, per_head=p) for p in (False, True)]
print(f"ours vs nn.MultiheadAttention, max diff < 1e-5: outputs {diffs[0] < 1e-5}, "
      f"per-head weights {diffs[1] < 1e-5}")

# %% [markdown]
# 按头比较的权重也一致，说明两者对“第 $b$ 个样本的第 $i$ 个头”的排列相同，
# 有效长度也落在了正确的头上。
#
# ### 参数量相同，注意力分布不同
#
# 现在验证“数学”一节的三条结论。对 $h = 1, 2, 4, 8$（$p_o = 64$，批量大小 2，$n_q = 5$，$n_k = 9$）数一数：
# 参数量应当都等于 $p_o(d_q + d_k + d_v + p_o)$；打分和加权求和（两次批量矩阵乘法 `bmm`）的浮点运算数
# 用 PyTorch 的 `FlopCounterMode` 来数，应当与头数无关，都是 $2 \times 2 \times 2\, n_q n_k p_o$
# （批量 2，两次乘法，每次乘加算 2 次运算）；存下的注意力权重个数则应当是单头的 $h$ 倍。

# %%
from torch.utils.flop_counter import FlopCounterMode


def count_params(net):
    return sum(p.numel() for p in net.parameters())


torch.manual_seed(0)
d_q, d_k, d_v, p_o = 20, 30, 40, 64
Qp, Kp, Vp = torch.randn(2, 5, d_q), torch.randn(2, 9, d_k), torch.randn(2, 9, d_v)
costs = {}
for h in (1, 2, 4, 8):
    net = MultiHeadAttention(d_k, d_q, d_v, p_o, h, dropout=0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(Qp, Kp, Vp)
    bmm_flops = sum(n for op, n in counter.get_flop_counts()["Global"].items() if "bmm" in str(op))
    costs[h] = (count_params(net), bmm_flops, net.attention.attention_weights.numel() // 2)
    print(f"num_heads={h}: {costs[h][0]} parameters, {costs[h][1]} bmm FLOPs, "
          f"{costs[h][2]} attention weights per example")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(c == (p_o * (d_q + d_k + d_v + p_o), 2 * 2 * 2 * 5 * 9 * p_o, h * 5 * 9)
           for h, c in costs.items())

# %% [markdown]
# 分布不同：把**同一组**投影权重装进一个 1 头模块和一个 4 头模块。按上面的公式，
# 单头的分数应当等于 4 个头的分数之和再除以 $\sqrt{4}$；可两个模块的输出并不相同，
# 因为一个对和做 softmax，另一个对每一段分别做 softmax。

# %%
torch.manual_seed(0)
four = MultiHeadAttention(16, 16, 16, 16, num_heads=4, dropout=0).eval()
one = MultiHeadAttention(16, 16, 16, 16, num_heads=1, dropout=0).eval()
one.load_state_dict(four.state_dict())  # identical parameters, only the head count differs
Xs, Ys = torch.randn(1, 5, 16), torch.randn(1, 6, 16)
with torch.no_grad():
    q4, k4 = transpose_qkv(four.W_q(Xs), 4), transpose_qkv(four.W_k(Ys), 4)
    scores_4 = q4 @ k4.transpose(1, 2) / (16 / 4) ** 0.5           # (4, n_q, n_k)
    scores_1 = four.W_q(Xs) @ four.W_k(Ys).transpose(1, 2) / 16 ** 0.5  # (1, n_q, n_k)
    out_4, out_1 = four(Xs, Ys, Ys), one(Xs, Ys, Ys)
score_gap = (scores_1[0] - scores_4.sum(dim=0) / 4 ** 0.5).abs().max().item()
output_gap = (out_4 - out_1).abs().max().item()
print(f"single-head score = sum of head scores / sqrt(4), up to 1e-5: {score_gap < 1e-5}")
print(f"max |output with 4 heads - output with 1 head|: {output_gap:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert score_gap < 1e-5 and output_gap > 0.01

# %% [markdown]
# ## 训练：让不同的头学会看不同的地方
#
# 头数多的好处要在训练后才看得出来。构造一个小任务：序列有 8 个位置（循环排列），
# 每个位置的输入是它的位置独热（one-hot）编码 $\mathbf{e}_i$ 拼上一个随机标量 $v_i \sim \mathcal{N}(0, 1)$，目标是
# $y_i = v_{i+1} - v_{i-1}$（下标按 8 取模）。模型只有一个多头注意力层加一个线性读出层；
# 查询和键只用位置编码 $\mathbf{e}_i$（注意力只能按位置挑选邻居），值是完整的输入 $(\mathbf{e}_j, v_j)$。
#
# **单头做不到。** 注意力权重 $a_{ij}$ 只依赖位置，$v_j$ 只经过线性的值投影、$\mathbf{W}_o$ 和读出层，
# 所以预测对 $v$ 是线性的：$\hat{y}_i = c \sum_j a_{ij} v_j + b_i$，其中常数 $c$ 对所有 $j$ 相同、$a_{ij} \ge 0$。
# 于是 $v_j$ 的系数 $c\,a_{ij}$ 全部同号，而目标要求 $v_{i+1}$ 的系数为 $+1$、$v_{i-1}$ 的为 $-1$。
# 由于 $v_j$ 独立、方差为 1，均方误差等于系数误差的平方和，最好也只能把其中一个系数做对：
#
# $$\mathbb{E}\big[(\hat{y}_i - y_i)^2\big] = \sum_j \big(c\,a_{ij} - t_{ij}\big)^2 \ \ge\ 1, \qquad
#   t_{ij} = [j = i+1] - [j = i-1].$$
#
# **两个头可以。** 第 $h$ 个头给出系数 $c_h a^{(h)}_{ij}$，两个头的 $c_1$、$c_2$ 可以异号：
# 一个头偏向 $i+1$、另一个偏向 $i-1$，再由 $\mathbf{W}_o$ 和读出层相减。
# 两个模型的 `num_hiddens` 相同，因此参数量也相同。

# %%
n_pos = 8


def neighbour_batch(batch_size, generator):
    """Inputs (batch, 8, 9) = position one-hot + value; targets (batch, 8) = v[i+1] - v[i-1]."""
    vals = torch.randn(batch_size, n_pos, generator=generator)
    pos = torch.eye(n_pos).expand(batch_size, n_pos, n_pos)
    inputs = torch.cat([pos, vals.unsqueeze(-1)], dim=-1)
    return inputs, torch.roll(vals, -1, dims=1) - torch.roll(vals, 1, dims=1)


class NeighbourNet(nn.Module):
    def __init__(self, num_heads):
        super().__init__()
        self.mha = MultiHeadAttention(n_pos, n_pos, n_pos + 1, 16, num_heads, dropout=0)
        self.readout = nn.Linear(16, 1)  # one scalar prediction per position

    def forward(self, inputs):
        positions = inputs[..., :n_pos]  # queries and keys: where a token is, not its value
        return self.readout(self.mha(positions, positions, inputs)).squeeze(-1)


def train_neighbour(num_heads, num_steps=300, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = NeighbourNet(num_heads)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(num_steps):
        inputs, target = neighbour_batch(64, gen)
        loss = ((net(inputs) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


test_inputs, test_target = neighbour_batch(1024, torch.Generator().manual_seed(2))
nets, mse = {}, {}
for h in (1, 2):
    nets[h] = train_neighbour(h)
    with torch.no_grad():
        mse[h] = ((nets[h](test_inputs) - test_target) ** 2).mean().item()
    print(f"{h} head(s): {count_params(nets[h])} parameters, test MSE {mse[h]:.2f}")
print("variance of the target: 2.0")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert count_params(nets[1]) == count_params(nets[2])
assert mse[1] > 0.9  # the bound 1 above, up to the sampling noise of the test set
assert mse[2] < 0.05

# %% [markdown]
# 参数一样多，单头的误差停在理论下界 1 附近，两个头几乎做到了零误差。
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

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert sorted(map(tuple, offset)) == [(1,) * n_pos, (n_pos - 1,) * n_pos]
for seed in (1, 2):  # the same two patterns for other seeds: not luck of seed 0
    _net = train_neighbour(2, seed=seed)
    with torch.no_grad():
        assert ((_net(test_inputs) - test_target) ** 2).mean() < 0.05
    _w = _net.mha.attention.attention_weights[:2]
    assert sorted(tuple(((_w[h].argmax(-1) - i) % n_pos).tolist()) for h in range(2)) \
        == [(1,) * n_pos, (n_pos - 1,) * n_pos]

# %% [markdown]
# 两个头的权重都不尖锐：每行最大的权重只有 0.2 左右，其余权重散在各个位置上，离均匀的 0.125 不远。
# 但对每个查询 $i$，一个头的最大权重都在右邻居 $i+1$ 上，另一个都在左邻居 $i-1$ 上
# （热图里两条错开、首尾相接的对角线）。把“看 $i+1$ 的头”的权重减去“看 $i-1$ 的头”的权重，
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
      f"to {diff[neighbours == 1].max():.2f}; elsewhere |difference| < 0.01: "
      f"{bool(background.abs().max() < 0.01)}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert ((diff.argmax(dim=-1) - i) % n_pos == 1).all()
assert ((diff.argmin(dim=-1) - i) % n_pos == n_pos - 1).all()

# %% [markdown]
# 差在 $i+1$ 处为正（红）、在 $i-1$ 处为负（蓝），其余位置几乎是白的：散在其他位置的“背景”两个头几乎一样，相减后相互抵消——
# 这正是 $\mathbf{W}_o$ 和读出层要做的减法，剩下的恰好是目标 $v_{i+1} - v_{i-1}$ 所需的 $+$、$-$ 两个系数（再乘一个常数）。
# 单个头只有一个非负分布，做不出这样的差；这就是多头的意义：$h$ 个独立归一化的分布可以同时看不同的位置，
# 再被线性地组合起来。

# %% [markdown]
# ### 动手试试：屏蔽头
#
# 两个头各自的输出对预测有多重要？做一次消融（ablation）：屏蔽（mask）一个头，即在拼接之后、进入 $\mathbf{W}_o$ 之前把它的
# $p_o/h$ 个输出分量置零，其余计算不变。`forward_with_heads` 不改写 `MultiHeadAttention`，只在它的 `W_o` 上临时挂一个
# 前向预钩子（forward pre-hook），把被屏蔽的头的那一段输入乘以 0，然后照常调用整个模型；
# `head_mask_states` 用它对两个头的每一种开关组合预先算好：每个头的注意力权重（行是查询位置，列是键位置）、
# 第一个测试序列上的预测与目标，以及整个测试集上的均方误差。
#
# 取消勾选 “keep head 1” 或 “keep head 2”。先看热图：它们纹丝不动，因为屏蔽发生在注意力**之后**，头“看哪里”没有变，
# 变的只是它的结果还能不能传到输出。再看误差和预测：只屏蔽一个头时，误差不只是升到单头的下界 1 以上，
# 甚至比两个头都屏蔽（模型只剩读出层的偏置，对每个位置都输出同一个常数）还大；第一条测试序列的预测曲线也整体离开了目标。
# 为什么？每个头都把整条序列的 $v_j$ 按它那些不小的背景权重加起来，再乘上一个系数；
# 要把 $i \pm 1$ 处并不大的权重差放大成目标所需的 $\pm 1$，这个系数必须很大。
# 两个头的这一部分经过 $\mathbf{W}_o$ 和读出层后正好相互抵消，就像上面差值热图里相减后消失的背景。拿掉一个头，另一个头被放大的背景就原样留在了输出里：
# 预测几乎只随整条序列的 $\sum_j v_j$ 上下摆动，而目标 $v_{i+1} - v_{i-1}$ 与这个和毫不相关。

# %%
#@save
def forward_with_heads(net, mha, keep, *inputs):
    """`net(*inputs)` with head i of `mha` (a MultiHeadAttention inside `net`) masked where
    keep[i] is False: its output is zeroed after the concatenation, before `mha.W_o`.

    The taught forward runs unchanged; a forward pre-hook on `mha.W_o`, removed afterwards,
    multiplies the features [i*p, (i+1)*p) of masked head i by 0 (p = num_hiddens / num_heads).
    """
    keep = torch.as_tensor(keep, dtype=torch.bool)
    if keep.shape != (mha.num_heads,):
        raise ValueError(f"keep must hold one flag per head ({mha.num_heads}), got {keep.tolist()}")
    scale = keep.float().repeat_interleave(mha.W_o.in_features // mha.num_heads)
    handle = mha.W_o.register_forward_pre_hook(lambda module, args: (args[0] * scale.to(args[0]),))
    try:
        return net(*inputs)
    finally:
        handle.remove()


#@save
def head_mask_states(net, mha, inputs, target, example=0, decimals=3):
    """Explorer rows for every on/off combination of the heads of `mha` inside `net`, where
    `net(inputs)` predicts `target` (both (batch_size, n)) and the loss is the mean squared error.

    Returns (weight_rows, loss_rows, prediction_rows). weight_rows[i]: head i's attention weights
    for example `example`, query x key, from `mha.attention.attention_weights` (masking acts after
    the attention, so they do not depend on the mask). loss_rows: one text line per mask;
    prediction_rows: the target and the prediction at each position of that example per mask.
    A mask is the columns head1, ..., headh (True = kept), as `forward_with_heads` takes it."""
    import itertools

    h, weight_rows, loss_rows, prediction_rows = mha.num_heads, None, [], []
    for keep in itertools.product((True, False), repeat=h):  # all heads kept first
        state = {f"head{i + 1}": kept for i, kept in enumerate(keep)}
        with torch.no_grad():
            pred = forward_with_heads(net, mha, keep, inputs)
        if weight_rows is None:
            weights = mha.attention.attention_weights.unflatten(0, (-1, h))[example]
            labels = [[str(j) for j in range(n)] for n in weights.shape[1:]]
            weight_rows = [d2l.rows({}, row_labels=("query", labels[0]),
                                    col_labels=("key", labels[1]), weight=weights[i],
                                    decimals=decimals) for i in range(h)]
        mse = ((pred - target) ** 2).mean().item()
        kept = ", ".join(str(i + 1) for i in range(h) if keep[i]) or "none"
        loss_rows += d2l.rows(state, text=[f"heads kept: {kept} | test MSE = {mse:.2f} "
                                           f"(predicting 0: {(target ** 2).mean().item():.2f})"])
        for series, y in (("target", target[example]), ("prediction", pred[example])):
            prediction_rows += d2l.rows({**state, "series": series}, y=y, decimals=decimals)
    return weight_rows, loss_rows, prediction_rows


# %%
weight_rows, loss_rows, prediction_rows = head_mask_states(nets[2], nets[2].mha, test_inputs,
                                                           test_target)
head_maps = [d2l.heatmap_view(w, "key", "query", title=f"head {i + 1}: attention weights",
                              domain=(0, 0.3), width=220, height=200, x_title="key position",
                              y_title="query position") for i, w in enumerate(weight_rows)]
d2l.explorer(*head_maps,
             d2l.line_view(prediction_rows, "i", "y", color="series", points=True,
                           y_domain=(-5, 5), title="first test sequence",
                           x_title="position i", y_title="y"),
             d2l.text_view(loss_rows, "text", width=420),
             controls=[d2l.Checkbox("head1", "keep head 1", default=True),
                       d2l.Checkbox("head2", "keep head 2", default=True)],
             title="Mask heads of the trained 2-head model", columns=2)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
loss = {(r["head1"], r["head2"]): float(r["text"].split("= ")[1].split()[0]) for r in loss_rows}
assert loss[(True, True)] < 0.05 and min(loss[(True, False)], loss[(False, True)]) > 1
assert min(loss[(True, False)], loss[(False, True)]) > loss[(False, False)]
const = [r["y"] for r in prediction_rows if r["series"] == "prediction" and not r["head1"]
         and not r["head2"]]
assert max(const) - min(const) < 1e-3  # only the readout bias is left: one constant
curve = {(r["head1"], r["head2"], r["series"], r["i"]): r["y"] for r in prediction_rows}
for keep in ((True, False), (False, True)):
    assert sum(abs(curve[(*keep, "prediction", j)] - curve[(*keep, "target", j)])
               for j in range(n_pos)) / n_pos > 1
assert all(-5 < r["y"] < 5 for r in prediction_rows)
assert all(0 <= r["weight"] < 0.3 for w in weight_rows for r in w)
with torch.no_grad():
    nets[2](test_inputs)
    _weights_all = nets[2].mha.attention.attention_weights.clone()
    _sums = test_inputs[..., -1].sum(dim=1, keepdim=True).expand(-1, n_pos).flatten()
    follow = {keep: torch.corrcoef(torch.stack([forward_with_heads(
        nets[2], nets[2].mha, keep, test_inputs).flatten(), _sums]))[0, 1].abs().item()
        for keep in ((True, True), (True, False), (False, True))}
assert torch.equal(nets[2].mha.attention.attention_weights, _weights_all)  # masking moves no weight
assert follow[(True, True)] < 0.1 < 0.8 < min(follow[(True, False)], follow[(False, True)])

# %% [markdown]
# ## 小结
#
# * 多头注意力把查询、键、值投影到 $h$ 个子空间，在每个子空间里独立做注意力汇聚，拼接后再用 $\mathbf{W}_o$ 融合。
# * 取每头维度为 `num_hiddens / num_heads` 时，所有头的投影是一个摞起来的全连接层：
#   投影的参数量和打分的乘加次数与同宽度的单头相同，但 softmax 和注意力权重多了 $h$ 倍，
#   得到的是 $h$ 个独立的分布，而不是一个。
# * `transpose_qkv` 把头并入批量维（第 $b$ 个样本的第 $i$ 个头在第 $bh+i$ 行），使 $h$ 个头在一次批量矩阵乘法里并行计算；
#   `transpose_output` 是它的逆变换；有效长度要用 `repeat_interleave` 逐个样本复制。
# * 我们的实现与 `torch.nn.MultiheadAttention` 在复制权重后输出一致（误差 $< 10^{-5}$）；
#   在需要同时关注两个邻居的任务上，参数量相同的 2 头模型远胜 1 头模型，两个头各学会看一个邻居。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 把本节第一个形状实验（模块 `attention`：5 个头，批量大小 2，4 个查询，6 个键值对，
# 有效长度 `valid_lens = [3, 2]`）里**每个头**的注意力权重画出来。
# 定义 `ex1_weights`，形状为（批量大小，头数，查询数，键值对数），即 `ex1_weights[b, i]` 是第 $b$ 个样本第 $i$ 个头的权重矩阵；
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
    ax.set_ylabel(f"Example {b + 1}\nQueries")
d2l.plt.show()
for b, n in enumerate(valid_lens.tolist()):
    kept = ex1_weights[b, :, :, :n]
    print(f"example {b + 1}, valid_len {n}: total weight on keys k{n}-k5 "
          f"{ex1_weights[b, :, :, n:].sum():.1f}; weights on k0-k{n - 1} from {kept.min():.2f} "
          f"to {kept.max():.2f}, mean {kept.mean():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex1_weights.shape) == (2, 5, 4, 6), "ex1_weights should have shape (2, 5, 4, 6)"
assert torch.allclose(ex1_weights.sum(dim=-1), torch.ones(2, 5, 4)), "each row is a distribution"
assert (ex1_weights[0, :, :, 3:] == 0).all() and (ex1_weights[1, :, :, 2:] == 0).all(), \
    "keys beyond each example's valid length must get zero weight in every head"
with torch.no_grad():
    attention(Q, K, V, valid_lens)
_row = attention.attention.attention_weights[1, 0]  # example 0, head 1, query 0
assert torch.allclose(ex1_weights[0, 1, 0], _row), \
    f"ex1_weights[0, 1, 0] should be {[round(x, 3) for x in _row.tolist()]} (example 0, head 1)"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
with torch.no_grad():
    attention(Q, K, V, valid_lens)
_w = attention.attention.attention_weights
for _b in range(2):
    for _i in range(5):
        assert torch.allclose(ex1_weights[_b, _i], _w[_b * 5 + _i]), (_b, _i)


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：能。样本 1 的有效长度是 3，5 个头的每一行都只在 k0–k2 上有颜色，k3–k5 是白的；样本 2 的有效长度是 2，
# 只有 k0、k1 有颜色。打印的数字说明这不是“颜色太浅”：被遮蔽的键上的权重之和是 0.0，
# 每行的权重全部分给了有效的键，所以有效键越少，每个键分到的越多（样本 1 平均 1/3 ≈ 0.33，样本 2 平均 1/2 = 0.50）。
# 同一个样本的 5 个头用的是同一个有效长度（`repeat_interleave` 把它复制给了每个头），
# 但在有效的键之间，各头的分配并不相同（例如样本 1 的 q0：头 1 偏向 k0，头 3 偏向 k2），这正是多头的用意。
# 共用一个颜色刻度时，样本 2 的格子整体更深，也是因为权重只分给了两个键。

# %% [markdown]
# ### 练习 2
#
# 假设我们手里有一个训练好的多头注意力模型，想剪掉最不重要的头来加快预测。
# 怎样设计实验来衡量一个头的重要性？先在上面的“屏蔽头”探索器里把 2 头模型的头逐个取消勾选、再同时取消，
# 比较三种情况的误差：单独屏蔽一个头的误差增加量，能说明“没有这个头会怎样”吗？
# 再在小模型上动手：用 4 个头（`num_hiddens=16`，每头 4 维）
# 训练本节的 `NeighbourNet`（`train_neighbour(4)`），然后**逐个屏蔽**每个头
# （把该头的输出在拼接后、进入 $\mathbf{W}_o$ 之前置零，例如用上面的 `forward_with_heads`），在测试集 `test_inputs` 上测均方误差。
# 定义 `ex2_net`（训练好的 4 头模型）和 `ex2_importance`：长度为 4 的张量，第 $i$ 项是屏蔽第 $i$ 个头后
# 测试均方误差的**增加量**。然后按重要性从低到高剪掉头，看看能剪掉几个而误差不明显变大。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def mse_with_heads(net, keep):
    """Test MSE of `net` when only the heads with keep[i] == True contribute."""
    with torch.no_grad():
        pred = forward_with_heads(net, net.mha, keep, test_inputs)  # a pruned head outputs zeros
    return ((pred - test_target) ** 2).mean().item()


ex2_net = train_neighbour(4)
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
# 记录指标（损失、准确率、BLEU）变差多少，变差越多越重要。但探索器里的 2 头模型已经提醒我们这个数字要小心读：
# 单独屏蔽任何一个头，误差都比两个头都屏蔽时还大，因为剩下的那个头失去了与它相互抵消的搭档；
# 单独屏蔽的增加量衡量的是“其余的头没有它时怎样”，而不是“它单独贡献了多少”。上面的 4 头小模型里，屏蔽任何一个头都会让均方误差
# 从约 0 升到 1.6～3.1（见 `ex2_importance`），说明这个小任务里每个头都分担了一部分工作，没有可以白白剪掉的头；
# 大模型里常见的情形则是许多头被屏蔽后指标几乎不变。逐步剪枝的输出还显示了一个陷阱：只剪掉最不重要的头 2 时
# 误差约 1.6，再剪掉头 3 反而降到约 0.6——头之间会互相补偿、抵消，单独屏蔽得到的重要性不能简单相加。
# 实验设计上要注意：(1) 在独立的验证集上测，并重复几个随机种子，看重要性排序是否稳定；
# (2) 头之间会互相补偿，逐个屏蔽会低估“一组冗余头”的作用，所以要**逐步**剪枝、每剪一步重新测量
# （必要时微调几步再测）；(3) 消融要跑 $h$ 次前向，头很多时可用一阶近似代替：给每个头乘一个门控系数
# $\xi_i$（初值 1），用验证集上 $|\partial \mathcal{L} / \partial \xi_i|$ 的平均值作重要性，
# 一次反向传播就得到所有头的分数；也可以训练时给门控加 $L_0$/$L_1$ 稀疏惩罚，让不重要的头自动关掉。
# (4) 剪枝的目的是提速，最后要实际测剪枝后模型的预测时间和指标，画出“速度—质量”曲线来决定剪多少。

# %% [markdown]
# ### 练习 3
#
# 不用 `transpose_qkv`，而是**逐个头循环**地实现多头注意力：对模块 `attention` 的第 $i$ 个头，
# 取出 `W_q.weight`、`W_k.weight`、`W_v.weight` 的第 $i$ 段行（每段 `num_hiddens / num_heads` 行）作为该头的投影，
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
print("loop output:", tuple(ex3_loop_output.shape))

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
# head 1 of example 0 and head 0 of example 1 use the other example's length.
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
print("repeat_interleave:", ex4_valid_lens.repeat_interleave(2).tolist(),
      " repeat:", ex4_valid_lens.repeat(2).tolist(), f" gap {ex4_gap:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex4_net.num_heads == 2 and tuple(ex4_X.shape) == (2, 3, 4)
assert ex4_valid_lens.shape == (2,) and ex4_harmless_lens.shape == (2,)
assert ex4_valid_lens.repeat(2).tolist() != ex4_valid_lens.repeat_interleave(2).tolist(), \
    "ex4_valid_lens should be expanded differently by repeat and repeat_interleave"
assert ex4_gap > 1e-3, "the wrong expansion should change the output"
assert ex4_harmless_lens.repeat(2).tolist() == ex4_harmless_lens.repeat_interleave(2).tolist(), \
    "ex4_harmless_lens should not expose the bug"
