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
# 一个注意力头能算出“右邻居减左邻居” $v_{i+1} - v_{i-1}$ 吗？只有一层、注意力权重只由位置决定（打分不看值 $v$）时，不能。
# 10.3 节的缩放点积注意力（scaled dot-product attention）对每个查询只有**一个**非负的权重分布，输出是值的加权平均。
# 多头注意力（multi-head attention；Vaswani 等人，2017，[Attention Is All You Need](https://arxiv.org/abs/1706.03762)）给每个查询 $h$ 个分布，
# 每个叫一个“头”（head），各自读值，再加起来。
#
# **两个键的小例子。** 要从左、右邻居的值 $v_L, v_R$ 算出 $v_R - v_L$。一个头输出 $m\,(a_L v_L + a_R v_R)$，$a_L, a_R \ge 0$：
# 两个系数 $m a_L$、$m a_R$ 同号，凑不出 $-1$ 和 $+1$。两个头就行：头 1 全看右边（$a_R = 1$）、乘 $m_1 = +1$，
# 头 2 全看左边、乘 $m_2 = -1$，相加正好是 $v_R - v_L$。
#
# 白话说：一个头也能同时看几处（权重各 ½ 就把两处的值加起来），但它拿到的只是这些值的非负加权和，再经同一组投影读出：每处的贡献同号、读法相同。
# 要一处加、一处减，或两处各用一种读法，就要几个头。后面真实句子上，4 个头里一个偏向前一个词、一个偏向后一个词，但分工并不干净。

# %%
import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.checks import check_qkv, check_shape, check_valid_lens
from d2l_attention.explore import multihead_attention as explore

# %% [markdown]
# ![Multi-head attention: split, attend, concatenate, project](figures/10.5-multihead.svg)
#
# 图 10.5.1 多头注意力：每个头用自己的投影各做一次注意力，$h$ 个输出拼接后经 $\mathbf{W}_o$ 得到输出。

# %% [markdown]
# ## 数学
#
# 第 $r$ 个头（$r = 1, \ldots, h$）用自己的 $\mathbf{W}_q^{(r)}, \mathbf{W}_k^{(r)}, \mathbf{W}_v^{(r)}$（各 $p$ 行）投影查询 $\mathbf{q}$、键 $\mathbf{k}_j$、值 $\mathbf{v}_j$，
# 记 $\mathbf{q}_r = \mathbf{W}_q^{(r)} \mathbf{q}$、$\mathbf{k}_{rj} = \mathbf{W}_k^{(r)} \mathbf{k}_j$，做一次缩放点积注意力：
#
# $$a^{(r)}_j = \operatorname{softmax}_j \frac{\mathbf{q}_r^\top \mathbf{k}_{rj}}{\sqrt{p}} \ \ge 0, \qquad
#   \mathbf{o}_r = \sum_j a^{(r)}_j\, \mathbf{W}_v^{(r)} \mathbf{v}_j \in \mathbb{R}^{p}.$$
#
# 拼接 $h$ 个输出再乘 $\mathbf{W}_o \in \mathbb{R}^{p_o \times hp}$。把 $\mathbf{W}_o$ 按列分成 $h$ 块 $\mathbf{W}_o^{(r)}$，这就是按头的和：
#
# $$\operatorname{MultiHead}(\mathbf{q}, \mathbf{k}, \mathbf{v})
#   = \mathbf{W}_o \begin{bmatrix} \mathbf{o}_1 \\ \vdots \\ \mathbf{o}_h \end{bmatrix}
#   = \sum_{r=1}^{h} \mathbf{W}_o^{(r)} \mathbf{o}_r
#   = \sum_{r=1}^{h} \sum_j a^{(r)}_j\, \mathbf{M}_r \mathbf{v}_j, \qquad
#   \mathbf{M}_r = \mathbf{W}_o^{(r)} \mathbf{W}_v^{(r)}.$$
#
# 头 $r$ 对看到的每个值用**同一个** $\mathbf{M}_r$，只按非负的 $a^{(r)}_j$ 调大小：开头例子里的 $m$ 就是它。单头只有一个 $\mathbf{M}$。
# 算一个例子：一个头，$p = p_o = 2$，给 $\mathbf{v}_L, \mathbf{v}_R$ 的权重是 0.25、0.75。输出对 $\mathbf{v}_j$ 的导数（雅可比矩阵）就是 $\mathbf{v}_j$ 的系数：

# %%
W_v = torch.tensor([[1., 2.], [0., 1.]])  # one head, p = 2
W_o = torch.tensor([[1., 0.], [1., -1.]])  # p_o = 2
a = torch.tensor([0.25, 0.75])  # its weights on v_L, v_R: a softmax, >= 0
head = lambda v_L, v_R: W_o @ (a[0] * W_v @ v_L + a[1] * W_v @ v_R)
coef_L, coef_R = torch.autograd.functional.jacobian(head, (torch.zeros(2), torch.zeros(2)))
print("M = W_o W_v:", (W_o @ W_v).tolist())
print("coefficient of v_L:", coef_L.tolist(), "  of v_R:", coef_R.tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(coef_L, 0.25 * W_o @ W_v) and torch.equal(coef_R, 0.75 * W_o @ W_v)
torch.manual_seed(0)  # concatenate-then-project = the sum over heads (h = 4, p = 3, p_o = 5)
_o = [torch.randint(-3, 4, (3,)).float() for _ in range(4)]
_W = torch.randint(-3, 4, (5, 12)).float()
assert torch.equal(_W @ torch.cat(_o), sum(_W[:, 3 * r:3 * (r + 1)] @ _o[r] for r in range(4)))

# %% [markdown]
# 两个系数是 $0.25\mathbf{M}$ 和 $0.75\mathbf{M}$：换什么权重都只是 $\mathbf{M}$ 的非负倍数。$\mathbf{v}_R - \mathbf{v}_L$ 要的系数是 $\mathbf{I}$ 和 $-\mathbf{I}$，一个头给不出。

# %% [markdown]
# **摞起来。** 取 $p = p_o / h$（$p_o$ 即 `num_hiddens`），把各头的 $\mathbf{W}_q^{(r)}$ 竖着摞成一个 $p_o$ 行的 $\mathbf{W}_q$（$\mathbf{W}_k$、$\mathbf{W}_v$ 同理），
# $\mathbf{W}_q \mathbf{q}$ 的第 $r$ 段就是 $\mathbf{q}_r$。一个全连接层算出所有头，参数与宽 $p_o$ 的单头一样多。
#
# **变的只是 softmax。** 同样的 $\mathbf{W}_q$、$\mathbf{W}_k$ 当作一个头用，分数按段拆开是
#
# $$\frac{(\mathbf{W}_q\mathbf{q})^\top (\mathbf{W}_k\mathbf{k}_j)}{\sqrt{p_o}}
#   = \frac{1}{\sqrt{h}} \sum_{r=1}^{h} \frac{\mathbf{q}_r^\top \mathbf{k}_{rj}}{\sqrt{p}}.$$
#
# 单头把 $h$ 段分数**加起来**再做一次 softmax；多头对每段**分别**做，得到 $h$ 个分布。

# %% [markdown]
# ## 实现
#
# 先照图 10.5.1 写：对头循环，第 $r$ 个头取摞起来的权重里属于它的 $p$ 行。

# %%
def multihead_loop(queries, keys, values, valid_lens, W_q, W_k, W_v, W_o, num_heads):
    """Fig. 10.5.1 head by head; W_*: the stacked weights (num_hiddens, in_features)."""
    p = W_q.shape[0] // num_heads
    attention = d2l.DotProductAttention(dropout=0)
    heads = []
    for r in range(num_heads):  # head r + 1 owns rows [r*p, (r+1)*p)
        rows = slice(r * p, (r + 1) * p)
        heads.append(attention(queries @ W_q[rows].T, keys @ W_k[rows].T,
                               values @ W_v[rows].T, valid_lens))
    return torch.cat(heads, dim=-1) @ W_o.T  # concatenate, then project


# %% [markdown]
# 批量的版本把“头”并入批量维，只调用一次 10.3 节的 `DotProductAttention`。
# `transpose_qkv` 把最后一维拆成（头，每头维度）（`unflatten`），交换“步”和“头”（`transpose`），
# 再合并批量和头（`flatten`）；`transpose_output` 反过来做。

# %%
#@save
def transpose_qkv(X, num_heads):
    """(batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads);
    row b * num_heads + i holds feature block i (head i + 1) of example b."""
    check_shape(X, "X", "(batch_size, n, num_hiddens)")
    if X.shape[-1] % num_heads:
        raise ValueError(f"num_hiddens={X.shape[-1]} is not divisible by num_heads={num_heads}")
    # (b, n, h, p): head i + 1 owns features [i*p, (i+1)*p), p = num_hiddens / h
    per_head = X.unflatten(-1, (num_heads, -1))
    return per_head.transpose(1, 2).flatten(0, 1)  # (b, h, n, p) -> (b*h, n, p)


#@save
def transpose_output(X, num_heads):
    """Inverse of `transpose_qkv`: the heads of each example side by side, (b, n, num_hiddens)."""
    check_shape(X, "X", "(batch_size * num_heads, n, num_hiddens / num_heads)")
    if X.shape[0] % num_heads:
        raise ValueError(f"first axis {X.shape[0]} is not a multiple of num_heads={num_heads}")
    per_example = X.unflatten(0, (-1, num_heads))  # (batch_size, num_heads, n, p)
    return per_example.transpose(1, 2).flatten(2)  # (b, n, h, p) -> heads side by side


# %% [markdown]
# 下图跟踪每个数（$b=2$，$n=3$，$h=4$，$p=2$；投影结果取成 $0, 1, \ldots, 47$ 以便辨认）。颜色表示分量属于哪个头。

# %%
drawn = explore.reshape_figure(batch_size=2, num_steps=3, num_heads=4, head_dim=2)
d2l.plt.show()

# %% [markdown]
# 图 10.5.2 `transpose_qkv`：$(b, n, hp) \to (b, n, h, p) \to (b, h, n, p) \to (bh, n, p)$。
# 样本 0 的头 1 是 `[[0, 1], [8, 9], [16, 17]]`；样本 $b$ 的头 $r$ 在第 $bh + (r-1)$ 行。下面核对两行：

# %%
X = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
heads = transpose_qkv(X, num_heads=4)
print("transpose_qkv:", tuple(X.shape), "->", tuple(heads.shape))
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
# 有效长度 `valid_lens` 要跟着批量维扩展：样本 $b$ 的 $h$ 个头排在相邻的 $h$ 行，
# 所以每个长度要**原地连续**重复 $h$ 次（`repeat_interleave`）；`Tensor.repeat` 把整个向量首尾相接，顺序就错了（练习 3）。

# %%
#@save
class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention: (batch_size, num_queries, num_hiddens) out;
    valid_lens None, (batch_size,) or (batch_size, num_queries). attention.attention_weights:
    (batch_size * num_heads, num_queries, num_kv), row b * num_heads + i = head i + 1 of b."""

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or num_hiddens % num_heads:
            raise ValueError(f"num_hiddens={num_hiddens} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        # The stacked projections of all heads: rows [i*p, (i+1)*p) of each weight are head i+1's.
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        check_qkv(queries, keys, values, self.W_q.in_features, self.W_k.in_features)
        check_shape(values, "values", "(batch_size, num_kv, value_size)", value_size=self.W_v.in_features)
        q = transpose_qkv(self.W_q(queries), self.num_heads)
        k = transpose_qkv(self.W_k(keys), self.num_heads)
        v = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            valid_lens = torch.as_tensor(valid_lens, device=queries.device)
            check_valid_lens(valid_lens, *queries.shape[:2], keys.shape[1])
            # Every head of example b must see example b's lengths: repeat each one in place.
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        per_head = self.attention(q, k, v, valid_lens)  # (batch_size * num_heads, n_q, p)
        return self.W_o(transpose_output(per_head, self.num_heads))


# %% [markdown]
# 检查形状（批量 2，4 个查询，6 个键值对，`num_hiddens=100`，5 个头；查询、键、值为 20、30、40 维），
# 再用同一组权重与循环版本比较。

# %%
torch.manual_seed(0)
num_hiddens, num_heads = 100, 5
attention = MultiHeadAttention(key_size=30, query_size=20, value_size=40,
                               num_hiddens=num_hiddens, num_heads=num_heads, dropout=0.5)
attention.eval()  # as in the book dropout=0.5; eval() turns it off, so outputs are repeatable
batch_size, num_queries, num_kvpairs = 2, 4, 6
valid_lens = torch.tensor([3, 2])
Q = torch.randn(batch_size, num_queries, 20)
K = torch.randn(batch_size, num_kvpairs, 30)
V = torch.randn(batch_size, num_kvpairs, 40)
out = attention(Q, K, V, valid_lens)
print("output", tuple(out.shape), "attention weights", tuple(attention.attention.attention_weights.shape))
with torch.no_grad():
    loop = multihead_loop(Q, K, V, valid_lens, attention.W_q.weight, attention.W_k.weight,
                          attention.W_v.weight, attention.W_o.weight, num_heads)
print(f"max |head-by-head loop - batched module| = {(loop - out).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
try:  # 100 features cannot be cut into 3 equal heads
    MultiHeadAttention(30, 20, 40, num_hiddens=100, num_heads=3, dropout=0)
except ValueError as error:
    message = str(error)
assert (loop - out).abs().max() < 1e-5
assert out.shape == (batch_size, num_queries, num_hiddens)
assert attention.attention.attention_weights.shape == (batch_size * num_heads, num_queries,
                                                       num_kvpairs)
assert list(attention.state_dict()) == ["W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight"]
assert "num_hiddens=100" in message and "num_heads=3" in message

# %% [markdown]
# <details><summary>深入一步：各步形状；与 PyTorch 的 nn.MultiheadAttention 对照；参数、计算量（FLOPs）和秩随头数怎样变</summary>
#
# 记批量大小 $b$，查询数 $n_q$，键值对数 $n_k$，头数 $h$，`num_hiddens` 为 $p_o$：
#
# | 步骤 | 形状 |
# |:--|:--|
# | 输入查询 / 键 / 值 | $(b, n_q, d_q)$ / $(b, n_k, d_k)$ / $(b, n_k, d_v)$ |
# | `W_q`、`W_k`、`W_v` | $(b, n_q, p_o)$ / $(b, n_k, p_o)$ / $(b, n_k, p_o)$ |
# | `transpose_qkv` | $(b h, n_q, p_o/h)$ / $(b h, n_k, p_o/h)$ / $(b h, n_k, p_o/h)$ |
# | `valid_lens.repeat_interleave` | $(b,) \to (b h,)$，或 $(b, n_q) \to (b h, n_q)$ |
# | 注意力权重 / 每个头的输出 | $(b h, n_q, n_k)$ / $(b h, n_q, p_o/h)$ |
# | `transpose_output`、`W_o` | $(b, n_q, p_o)$ |
#
# `torch.nn.MultiheadAttention` 是同一个模型（查询维度必须等于 `embed_dim`）。三个投影摞在一个 `in_proj_weight` 里（先 $\mathbf{W}_q$、再 $\mathbf{W}_k$、再 $\mathbf{W}_v$，块内头的顺序与这里相同），
# 输出投影是 `out_proj`；有效长度写成布尔的 `key_padding_mask`（`True` 表示忽略）；`average_attn_weights=False` 才返回每个头的权重。`explore.compare_with_torch()` 这样复制权重（值就用键）：
#
# ```python
# theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
# theirs.out_proj.weight.copy_(ours.W_o.weight)
# padding = torch.arange(num_kv) >= valid_lens[:, None]
# out, w = theirs(Q, K, K, key_padding_mask=padding, average_attn_weights=False)
# ```
#
# 下面的代价表里各维 $p_o = 64$（批量 2，5 个查询，9 个键：$\mathbf{QK}^\top$ 和乘 $\mathbf{V}$ 各 $2 \cdot 2 \cdot 5 \cdot 9 \cdot 64$ 次浮点运算）。头数从 1 到 8，参数和 `bmm` 计算量不变；注意力权重变成 $h$ 倍。
# 头 1 打分矩阵 $\mathbf{W}_q^{(1)\top} \mathbf{W}_k^{(1)}$ 的秩至多是 $p = p_o/h = 64/h$（随机初始化时正好是）：头越多，每个头能表达的打分方式越受限（Bhojanapalli 等人，2020，[Low-Rank Bottleneck in Multi-head Attention Models](https://arxiv.org/abs/2002.07028)）。
#
# </details>

# %%
print("max |ours - nn.MultiheadAttention|: output {:.0e}, per-head weights {:.0e}".format(
    *explore.compare_with_torch()))
for h, (params, flops, weights, rank) in explore.head_costs().items():
    print(f"num_heads={h}: {params} parameters, {flops} bmm FLOPs, {weights} attention weights, score rank {rank}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert max(explore.compare_with_torch()) < 1e-5
assert explore.head_costs() == {h: (4 * 64 ** 2, 2 * 2 * 2 * 5 * 9 * 64, 45 * h, 64 // h)
                                 for h in (1, 2, 4, 8)}


# %% [markdown]
# ### 同样的权重：一个 softmax，还是 $h$ 个
#
# 参数的形状与头数无关，4 头模块的 `state_dict()` 可以原样载入 1 头模块。单头的分数应当等于 4 个头的分数之和除以 $\sqrt{4}$：

# %%
torch.manual_seed(0)
four = MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=4, dropout=0).eval()
X6 = 3 * torch.randn(1, 6, 16)  # 6 tokens (x3: larger scores, peaked weights); queries = keys = values
one = MultiHeadAttention(16, 16, 16, num_hiddens=16, num_heads=1, dropout=0).eval()
one.load_state_dict(four.state_dict())  # same parameter shapes for any h: load them as they are
contrast = explore.softmax_contrast_states(four, X6, X6, query=0, single=one)
with torch.no_grad():  # each head's scores for query 0: its own p = 4 features of q and k
    q = transpose_qkv(four.W_q(X6), 4)[:, 0]  # (4 heads, p)
    k = transpose_qkv(four.W_k(X6), 4)  # (4 heads, 6 keys, p)
    single_scores = one.W_k(X6)[0] @ one.W_q(X6)[0, 0] / 16 ** 0.5  # 1 head: p = p_o = 16
head_scores = (k @ q.unsqueeze(-1)).squeeze(-1) / 4 ** 0.5  # (4 heads, 6 keys), / sqrt(p)
summed = head_scores.sum(dim=0) / 4 ** 0.5
print("1 head, score of each key    :", [round(s, 2) for s in single_scores.tolist()])
print("sum of the 4 head scores / √4:", [round(s, 2) for s in summed.tolist()])
print("largest weight:", ", ".join(f"{name} {w.max():.2f} on k{w.argmax()}" for name, w in [
    *zip(["head 1", "head 2", "head 3", "head 4"], contrast["head_weights"]), ("1 head", contrast["single_weights"])]))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (single_scores - summed).abs().max() < 1e-5
torch.testing.assert_close(single_scores, contrast["single_scores"])  # what the explorer draws
torch.testing.assert_close(head_scores, contrast["head_scores"])
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
# 对查询 0，4 个头的峰落在 4 个不同的键上（k2、k4、k1、k5）。单头先求和：头 1 给 k2 的高分被其他头的负分抵消（只剩 0.11），k1 占 0.77。
# 探索器里单头分数柱上的黑色短线是 4 个头的分数之和除以 2，与柱顶重合。
# 试一试：找一个查询，两个头的峰落在同一个键上，单头的峰却不在那里。
#
# <details><summary>答案（本次运行）</summary>
#
# 查询 2：头 2、头 4 的峰都在 k3（0.94、0.79），单头却把 0.77 放在 k0，那是头 3 的峰（头 1 的峰在 k4）。头 3 给 k3 的分数是 $-5.15$，把和拉到 3.68；k0 上是 4.91。
# 去掉头 3 再求和（仍除以 $\sqrt{4}$），k3 得 6.26、k0 只得 2.58：是头 3 一个头的强烈反对压过了两个头的赞成。
#
# </details>

# %%
explore.softmax_explorer(four, X6, single=one, query=0)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_q2 = explore.softmax_contrast_states(four, X6, X6, query=2, single=one)  # the answer above
assert _q2["head_weights"].argmax(-1).tolist() == [4, 3, 0, 3] and _q2["single_weights"].argmax() == 0
assert abs(_q2["single_scores"][3] - 3.68) < 0.01 and abs(_q2["head_scores"][2, 3] + 5.15) < 0.01
_without_3 = _q2["head_scores"][[0, 1, 3]].sum(0) / 2  # the sum without head 3
assert _without_3.argmax() == 3 and abs(_without_3[3] - 6.26) < 0.01 and abs(_without_3[0] - 2.58) < 0.01

# %% [markdown]
# ## 训练：一个头只有一个读法
#
# 序列有 8 个位置（循环），位置 $i$ 的输入是独热（one-hot）编码 $\mathbf{e}_i$ 拼上 $\mathbf{v}_i \sim \mathcal{N}(0, \mathbf{I})$。
# 模型是一个多头注意力层加线性读出 $\mathbf{w}$；查询和键只用 $\mathbf{e}_i$，值是整个输入。预测是
#
# $$\hat{y}_i = \sum_r \sum_j a^{(r)}_{ij}\, \mathbf{m}_r^\top \mathbf{v}_j + b_i, \qquad \mathbf{m}_r^\top = \mathbf{w}^\top \mathbf{M}_r \text{ 中对应 } \mathbf{v} \text{ 的列}，$$
#
# $b_i$ 不含 $\mathbf{v}$。单头时 $\mathbf{v}_j$ 的系数是 $a_{ij}\mathbf{m}$：**同一个方向**，只有非负的长短。三个目标：
#
# | 目标 $y_i$ | $\mathbf{v}_{i+1}$、$\mathbf{v}_{i-1}$ 要的系数 | 单头 |
# |:--|:--|:--|
# | $v_{i+1} + v_{i-1}$（$v$ 是标量） | $+1$、$+1$ | 能：$a = \tfrac12, \tfrac12$，$m = 2$ |
# | $v_{i+1} - v_{i-1}$ | $+1$、$-1$：异号 | 不能 |
# | $\mathbf{v}_{i+1}[0] + \mathbf{v}_{i-1}[1]$（$\mathbf{v} \in \mathbb{R}^2$，分量从 0 数） | $(1, 0)$、$(0, 1)$：不同方向 | 不能 |
#
# 每个目标训练 1 个和 2 个头（相减再加 4 个），`num_hiddens` 都是 16。先是数据：

# %%
n_pos = 8
TASKS = {  # target = next_coef . v[i+1] + prev_coef . v[i-1]
    "v[i+1] + v[i-1]": ((1.0,), (1.0,)),
    "v[i+1] - v[i-1]": ((1.0,), (-1.0,)),
    "v[i+1][0] + v[i-1][1]": ((1.0, 0.0), (0.0, 1.0)),
}


def neighbour_batch(batch_size, generator, next_coef=(1.0,), prev_coef=(-1.0,)):
    """Inputs (batch, 8, 8 + d) = position one-hot + d values; targets (batch, 8)."""
    vals = torch.randn(batch_size, n_pos, len(next_coef), generator=generator)
    pos = torch.eye(n_pos).expand(batch_size, n_pos, n_pos)
    target = (torch.roll(vals, -1, dims=1) @ torch.tensor(next_coef)
              + torch.roll(vals, 1, dims=1) @ torch.tensor(prev_coef))
    return torch.cat([pos, vals], dim=-1), target


# %%
class NeighbourNet(nn.Module):
    def __init__(self, num_heads, value_dims=1):
        super().__init__()
        self.mha = MultiHeadAttention(n_pos, n_pos, n_pos + value_dims, 16, num_heads, dropout=0)
        self.readout = nn.Linear(16, 1)  # one scalar prediction per position

    def forward(self, inputs):
        positions = inputs[..., :n_pos]  # queries and keys: where a token is, not its value
        return self.readout(self.mha(positions, positions, inputs)).squeeze(-1)


# %% [markdown]
# 训练 300 步，在 1024 个新序列上测误差：

# %%
def train_neighbour(num_heads, task="v[i+1] - v[i-1]", num_steps=300, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = NeighbourNet(num_heads, value_dims=len(TASKS[task][0]))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(num_steps):
        inputs, target = neighbour_batch(64, gen, *TASKS[task])
        loss = ((net(inputs) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def test_mse(net, task="v[i+1] - v[i-1]"):
    inputs, target = neighbour_batch(1024, torch.Generator().manual_seed(2), *TASKS[task])
    with torch.no_grad():
        return ((net(inputs) - target) ** 2).mean().item()


count_params = lambda net: sum(p.numel() for p in net.parameters())


torch.set_num_threads(1)  # tiny tensors: more threads only wait for each other
runs = {"v[i+1] + v[i-1]": (1, 2), "v[i+1] - v[i-1]": (1, 2, 4), "v[i+1][0] + v[i-1][1]": (1, 2)}
trained = {(task, h): train_neighbour(h, task) for task, heads in runs.items() for h in heads}
for task, heads in runs.items():
    print(f"{task:22s} heads {heads}: parameters {[count_params(trained[task, h]) for h in heads]},",
          "test MSE", [round(test_mse(trained[task, h], task), 2) for h in heads])
nets = {h: trained["v[i+1] - v[i-1]", h] for h in (1, 2, 4)}

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
mse = {key: test_mse(net, key[0]) for key, net in trained.items()}
assert all(count_params(trained[t, 1]) == count_params(net) for (t, h), net in trained.items())
assert mse["v[i+1] + v[i-1]", 1] < 0.01  # one head averages two positions without trouble
for _task in ("v[i+1] - v[i-1]", "v[i+1][0] + v[i-1][1]"):
    assert mse[_task, 1] > 0.9 and mse[_task, 2] < 0.05  # the bound 1, up to sampling noise
_task = "v[i+1][0] + v[i-1][1]"  # seeds 0-4 of the difference: results/sweep-heads.json
for _seed in (1, 2):  # not luck of seed 0
    assert test_mse(train_neighbour(1, _task, seed=_seed), _task) > 0.9
    assert test_mse(train_neighbour(2, _task, seed=_seed), _task) < 0.05
assert mse["v[i+1] - v[i-1]", 4] < 0.05

# %% [markdown]
# 同一行的参数一样多。单头学会了相加，相减和分读两个分量都停在 1 附近（打印的 0.99 略低于 1，是 1024 个测试序列上估计的抽样误差），两个头都降到 0.0。
#
# 为什么是 1？$\mathbf{v}_j$ 独立、均值 0、协方差 $\mathbf{I}$，所以均方误差是系数误差的平方和（$\mathbf{t}_{ij}$ 是目标系数）：
#
# $$\mathbb{E}\big[(\hat{y}_i - y_i)^2\big] = \sum_j \big\|a_{ij}\mathbf{m} - \mathbf{t}_{ij}\big\|^2 + b_i^2 .$$
#
# 单头的系数 $a_{ij}\mathbf{m}$ 只能落在射线 $\{s\mathbf{m} : s \ge 0\}$ 上，误差至少是 $\mathbf{t}_{i,i+1}$、$\mathbf{t}_{i,i-1}$ 到射线的距离平方和。下图是训练好的单头：

# %%
i = torch.arange(n_pos)
panels = []
for task in ("v[i+1] - v[i-1]", "v[i+1][0] + v[i-1][1]"):
    net = trained[task, 1]
    with torch.no_grad():  # one head: m^T = w^T M, the columns of M that multiply v
        m = (net.readout.weight @ net.mha.W_o.weight @ net.mha.W_v.weight[:, n_pos:])[0]
        net(neighbour_batch(1, torch.Generator().manual_seed(0), *TASKS[task])[0])
    a = net.mha.attention.attention_weights[0]  # (query i, key j): from positions only
    panels.append((task, m, a[i, (i + 1) % n_pos], a[i, (i - 1) % n_pos], *TASKS[task]))
    print(f"{task}: m = {[round(x, 2) for x in m.tolist()]}, mean weight on key i+1 "
          f"{a[i, (i + 1) % n_pos].mean():.2f}, on i-1 {a[i, (i - 1) % n_pos].mean():.2f}")
bounds = explore.ray_figure(panels)
d2l.plt.show()

# %% [markdown]
# 左图：单头学成 $m = -1.03$，0.97 的权重放在 $i-1$ 上，$v_{i-1}$ 的系数正落在目标 $-1$ 上；$v_{i+1}$ 的目标 $+1$ 在射线另一侧，距离 1。
# 右图：目标 $(1,0)$、$(0,1)$ 互相垂直，射线夹在中间时两个距离平方是 $\sin^2\theta$、$\cos^2\theta$，和为 1；模型的两个点（$0.28\mathbf{m}$、$0.67\mathbf{m}$）几乎就在垂足上。
# 两个头有两条射线，误差的下限就不再是 1，上面两个头的误差都降到 0.0（图里只画了单头）。训练出的 2 头模型并不是一个头对准一个目标：它的两个头都很宽，因子一正一负，互相抵消出 $v_{i+1} - v_{i-1}$（见下面的“深入一步”）。（这是一层的限制：深的模型里前面的层能把邻居的值先复制进一个词的表示。）
# $\mathbf{M}_r$ 即所谓 OV 电路（[Elhage 等人，2021](https://transformer-circuits.pub/2021/framework/index.html)）。

# %% [markdown]
# <details><summary>深入一步：相减的 2 头模型怎样分工（宽的解与尖的解）</summary>
#
# 照公式算每个头的因子 $m_r = \mathbf{w}^\top \mathbf{W}_o^{(r)} \mathbf{W}_v^{(r)}$ 中乘 $v$ 的那个数（下面第一行）：一正一负，大小约 6.4。
# 训练出的两个头是**宽**的（每个头把权重摊在所有键上，0.05 到 0.25），峰在 $i+1$ 和 $i-1$。
# 离开 $i \pm 1$，两个分布相等（差 0.000），乘上 $\pm 6.4$ 后抵消；在 $i+1$ 上差 0.16，$6.4 \times 0.16 \approx 1$。第二行把两份加起来：查询 3 只在键 4 上是 $+1$、键 2 上是 $-1$。
#
# **尖**的解可以手工设（`explore.hand_set_neighbour`）：把 8 个位置放在圆上，头 1 的查询用位置 $i$ 的角度、键用转过一格的角度，
# 于是查询 $i$ 与键 $i+1$ 的方向相同、分数最高，圆的半径取 10，分数差很大，softmax 几乎全落在 $i+1$；头 2 反向转一格，看 $i-1$；$m = \pm 1$。误差也是 0.00（第三行）：宽尖都行，这次训练停在了宽的。
#
# </details>

# %%
test_inputs, test_target = neighbour_batch(1024, torch.Generator().manual_seed(2))
hand_set = {h: explore.hand_set_neighbour(NeighbourNet(h)) for h in nets}
with torch.no_grad():
    nets[2](test_inputs[:1])
w2 = nets[2].mha.attention.attention_weights  # (2 heads, 8 queries, 8 keys) for one example
c, i = explore.head_factors(nets[2]), torch.arange(n_pos)
diff = w2[0] - w2[1]  # head 1 minus head 2, (query, key)
nxt, prv = diff[i, (i + 1) % n_pos], diff[i, (i - 1) % n_pos]
rest = diff.clone()
rest[i, (i + 1) % n_pos] = rest[i, (i - 1) % n_pos] = 0
print(f"m_r = {[round(x, 2) for x in c.tolist()]}; weights {w2.min():.2f} to {w2.max():.2f}; head 1 - head 2 "
      f"at key i+1 {nxt.mean():.2f}, at i-1 {prv.mean():.2f}, elsewhere at most {rest.abs().max():.3f} in size")
print("m_1 a^(1) + m_2 a^(2) for query 3, keys 0-7:",
      [round(x, 2) for x in (c[0] * w2[0, 3] + c[1] * w2[1, 3]).tolist()])
print(f"hand-set (head 1 only on i+1, head 2 only on i-1, m = ±1): test MSE {test_mse(hand_set[2]):.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
offset = [((w2[h].argmax(dim=-1) - i) % n_pos).tolist() for h in range(2)]
assert offset == [[1] * n_pos, [n_pos - 1] * n_pos]
assert c[0] > 0 > c[1] and abs(c[0] + c[1]) < 0.2 * c[0]  # similar size, opposite signs
assert 0.9 < (c[0] * nxt).mean() < 1.1 and rest.abs().max() < 0.01  # equal backgrounds
_target = torch.roll(torch.eye(n_pos), 1, dims=1) - torch.roll(torch.eye(n_pos), -1, dims=1)
for seed in (1, 2):  # the same two patterns for other seeds: not luck of seed 0
    _net = train_neighbour(2, seed=seed)
    _net(test_inputs[:1])
    _w = _net.mha.attention.attention_weights[:2]
    assert sorted(tuple(((_w[h].argmax(-1) - i) % n_pos).tolist()) for h in range(2)) \
        == [(1,) * n_pos, (n_pos - 1,) * n_pos]
    assert (explore.value_coefficients(_net, n_pos) - _target).abs().max() < 0.1
with torch.no_grad():
    hand_set[2](test_inputs[:1])
assert hand_set[2].mha.attention.attention_weights[:2].max(-1).values.min() > 0.99

# %% [markdown]
# ### 动手试试：屏蔽一个头
#
# 探索器对查询 $i = 3$ 画出：左图每个头的权重 $a^{(r)}_{3j}$；右图彩色线是每个头的那一份 $m_r a^{(r)}_{3j}$，
# 黑线是它们的和，灰带是目标。起始是训练好的 2 头模型；hand-set 是手工设的尖的解（上面的深入一步）。先预测，再验证：
#
# 1. 屏蔽头 1。黑线会变成什么样？误差比单头模型（0.99）高还是低？
# 2. 换成 hand-set 再屏蔽头 1。这回丢掉的是什么？
# 3. 选 1 个头（trained）。黑线能和灰带的哪一半重合？
# 4. 选 4 个头（trained）。四份是尖是宽，$m_r$ 各是什么符号？
#
# <details><summary>答案（本次运行）</summary>
#
# 1. 黑线只剩头 2 那一份：一条处处为负的曲线（$-1.42$ 到 $-0.45$），背景不再被抵消，误差 5.50，比什么都不看还差（选 1 个头再屏蔽它：2.02）。宽的解里，一个头离开搭档就全错。
# 2. 每个头只是一根尖刺；屏蔽头 1 只丢掉键 4 上的 $+1$，误差 0.99，和单头一样。
# 3. 只有一个 $m$、一个符号：$m = -1.0$，只做对了键 2 上的 $-1$，误差 0.99。
# 4. 四份都宽，$m_r$ 两正两负（$+4.4, -3.4, +3.7, -4.7$）：还是宽的解，背景靠正负抵消，所以屏蔽任何一个头都会露出背景（练习 2）。
#
# </details>

# %%
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
assert [round(x, 1) for x in explore.head_factors(nets[4]).tolist()] == [4.4, -3.4, 3.7, -4.7]
_sum = {(r["heads"], r["kind"], r["mask"], r["key"]): r["coefficient"] for r in _s["coefficients"]
        if r["series"] == explore.SUM_SERIES}
assert _sum[2, "trained", 0, 4] == 1.0 and _sum[2, "trained", 0, 2] == -1.0
assert all(-1.5 < _sum[2, "trained", 1, j] < -0.4 for j in range(n_pos))  # the negative flat line
with torch.no_grad():
    nets[2](test_inputs[:1])
_w2 = nets[2].mha.attention.attention_weights[:2, 3]
assert _w2.argmax(-1).tolist() == [4, 2] and 0.2 < _w2.max() < 0.26


# %% [markdown]
# ## 真实句子上的头
#
# fra-eng 英文一侧 4–8 个词元的句子，每句随机一个词换成 `<mask>`，让模型猜它。
# 模型和 `NeighbourNet` 一样是一个 `MultiHeadAttention` 层加线性读出。注意力本身不知道词的次序（键值对换个顺序，输出不变），
# 所以把位置嵌入加进键和值，查询只用被遮住的位置（10.6 节专讲位置编码）：

# %%
#@save
class ClozeNet(nn.Module):
    """Guess the hidden word of a sentence with one MultiHeadAttention layer (Sec. 10.5)."""

    def __init__(self, vocab_size, num_heads, num_hiddens=64, max_len=8):
        super().__init__()
        self.word = nn.Embedding(vocab_size, num_hiddens)
        self.pos = nn.Embedding(max_len, num_hiddens)
        self.mha = MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens,
                                      num_heads, dropout=0)
        self.readout = nn.Linear(num_hiddens, vocab_size)

    def forward(self, tokens, lens, where):
        """tokens (batch, n) with <mask> at `where` (batch,) -> scores (batch, vocab_size)."""
        X = self.word(tokens) + self.pos.weight[:tokens.shape[1]]  # keys = values: word + position
        queries = self.pos(where).unsqueeze(1)  # the query: only *where* the hidden word is
        return self.readout(self.mha(queries, X, X, lens)[:, 0])  # sees the heads' output only


# %% [markdown]
# 读出层只看到注意力的输出：被遮住的位置只通过“看哪里”影响猜测。
# 1 头和 4 头各训练 400 步（`explore.train_cloze`：交叉熵，Adam），与两个不用注意力的猜法比：总猜最常见的词；按（位置，句长）查训练句里那里最常见的词。

# %% tags=["nbval-ignore-output"]
data = explore.cloze_data()  # the English side of fra-eng (D2L_DATA_DIR or the cache)
cloze = {h: explore.train_cloze(data, num_heads=h) for h in (1, 4)}
print("parameters:", {f"{h} head(s)": count_params(net) for h, net in cloze.items()})
tokens, lens, where, answers = data["test"]
place = (where > 0).long() + (where == lens - 1).long()  # 0: first word, 1: middle, 2: last
guesses = explore.cloze_baseline_guesses(data)  # no attention
with torch.no_grad():
    guesses.update({f"{h} head(s)": net(tokens, lens, where).argmax(-1) for h, net in cloze.items()})
print(f"right in {len(answers)} test sentences: all / hidden word first / middle / last")
for name, guess in guesses.items():
    right = (guess == answers).float()
    print(f"{name:26s}", *(f"{right[rows].mean():6.1%}" for rows in (place >= 0, place == 0, place == 1, place == 2)))
with torch.no_grad():
    cloze[1](tokens, lens, where)
w1 = cloze[1].mha.attention.attention_weights[:, 0]  # 1 head: (test sentences, words)
print(f"1 head: mean largest weight {w1.max(-1).values.mean():.4f}; on the last word when the hidden "
      f"word is in the middle: {(w1.argmax(-1) == lens - 1)[place == 1].float().mean():.1%}")
print("1 head's commonest guess in the middle / at the end:",
      data["vocab"].to_tokens([guesses["1 head(s)"][place == k].mode().values.item() for k in (1, 2)]))

# %% [markdown]
# 这次运行里，参数一样多，4 个头 35.5%；单头 24.9%，不比按（位置，句长）查表的 27.3% 强（换种子单头 23%–29%），句中更差（6.7% 对 10.6%）。
# 单头几乎只看一个词（平均最大权重 0.9997），遮住的在句中时 98.5% 看最后一个词。读出层于是只拿到句尾的词和它的位置（即句长），
# 不知道被遮住的是第几个词，最常猜 a；查表两样都知道。遮住的是最后一个词时，单头看到的正是 `<mask>`，猜句号，82.2%，与查表相同；
# 4 个头到 98.0%，多出的只能来自别的头读到的句中词：位置和句长，查表已经用尽了。
#
# 下图：同一句上单头和 4 个头看哪里（第 $i$ 行遮住第 $i$ 个词）；下面是 2000 个测试句上各头最大权重的落点：

# %% tags=["nbval-ignore-output"]
sentence = "tom is taller than mary ."
words = sentence.split()
cloze_weights = explore.sentence_heads(cloze[4], data["vocab"], sentence)  # (heads, hidden, word)
single_weights = explore.sentence_heads(cloze[1], data["vocab"], sentence)
d2l.show_heatmaps(torch.cat([single_weights, cloze_weights]).unsqueeze(0), xlabel="Word looked at",
                  ylabel="Hidden word", titles=["1 head"] + [f"Head {r + 1} of 4" for r in range(4)],
                  figsize=(13, 3.4), xticklabels=words, yticklabels=words)
d2l.plt.show()
shares, _ = explore.head_offsets(cloze[4], data)  # (heads, offsets -2, -1, +1, +2)
print("largest weight on the word 2 before / 1 before / 1 after / 2 after the hidden one, share of sentences:")
for r in range(4):
    print(f"head {r + 1} of 4:", [f"{x:.0%}" for x in shares[r].tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_acc = {h: explore.cloze_accuracy(net, data) for h, net in cloze.items()}
assert _acc[4] > _acc[1] + 0.05
assert (w1.argmax(-1) == lens - 1)[place == 1].float().mean() > 0.9  # 1 head: the sentence end
_right = {h: [(guesses[f"{h} head(s)"] == answers)[place == k].float().mean() for k in range(3)]
          for h in cloze}
assert all(_right[4][k] > _right[1][k] for k in range(3))  # 4 heads: better at every place
_before, _after = shares[:, 1], shares[:, 2]  # the word 1 before / 1 after the hidden one
assert _before.max() > 0.3 and _after.max() > 0.3 and _before.argmax() != _after.argmax()
assert torch.equal(cloze_weights, explore.sentence_heads(cloze[4], data["vocab"], sentence))
_others = [r for r in range(4) if r not in (_before.argmax(), _after.argmax())]  # heads 3, 4 here
assert all(_before[r] + _after[r] < 0.5 for r in _others)  # mostly not on an adjacent word


# %% [markdown]
# 这次运行里，头 2 最常看前一个词（40% 的句子，后一个词只 5%），头 1 最常看后一个词（39%，另有 27% 看前一个词）；这一句上两者各有三行如此。
# 单头也可以把权重分给几个词，可那样读到的是它们的加权平均；这次训练出的单头几乎只看一个词（平均最大权重 0.9997），守着句尾。4 个头里两个分别偏向前一个词和后一个词；头 3、头 4 的最大权重大多不在紧邻的两个词上（头 3 有 24% 落在往前第二个词上，头 4 有 14% 落在往后第二个词上）。
#
# 头真的在用它看的邻居吗？屏蔽头 $r$：乘 $\mathbf{W}_o$ 之前，把拼接里它的 $p$ 维换掉。换成什么？这里换成这个头在测试句上的平均输出：拿走的只是它随句子变的那部分，它对所有句子都一样的那部分留下
# （邻居任务里这两种换法几乎一样，见练习 2）；再按它的最大权重落在前一个词、后一个词还是别处分组（± 是标准误）：

# %%
#@save
def with_heads(net, keep, *inputs, fill=None):
    """net(*inputs) with head r of net.mha replaced by `fill` (default 0) where keep[r] is False."""
    p = net.mha.W_o.in_features // net.mha.num_heads
    kept = torch.as_tensor(keep).float().repeat_interleave(p)  # 1: the head's own output, 0: fill
    fill = torch.zeros_like(kept) if fill is None else fill

    def replace(W_o, args):  # the concatenation, before W_o, on the model's device
        x = args[0]
        return (x * kept.to(x) + (1 - kept.to(x)) * fill.to(x),)

    handle = net.mha.W_o.register_forward_pre_hook(replace)
    try:
        return net(*inputs)
    finally:
        handle.remove()


# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    right = (cloze[4](tokens, lens, where).argmax(-1) == answers).float()
    peak = cloze[4].mha.attention.attention_weights[:, 0].argmax(-1).view(-1, 4) - where[:, None]
    average = explore.head_outputs(cloze[4], cloze[4].mha, tokens, lens, where).mean((0, 1))
    print(f"4 heads: accuracy {right.mean():.1%}. Change when one head is masked, by where that head looks:")
    for r in range(4):  # peak[:, r]: offset of head r's largest weight from the hidden word
        masked = with_heads(cloze[4], torch.arange(4) != r, tokens, lens, where, fill=average)
        change = (masked.argmax(-1) == answers).float() - right
        groups = {"1 before": peak[:, r] == -1, "1 after": peak[:, r] == 1, "elsewhere": peak[:, r].abs() != 1}
        print(f"head {r + 1} masked: all {change.mean():+.1%};", ", ".join(
            f"{name} ({rows.float().mean():.0%}) {change[rows].mean():+.1%}"
            f" ± {torch.nan_to_num(change[rows].std() / rows.sum() ** 0.5):.1%}" for name, rows in groups.items()))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_lost = explore.head_ablation(cloze[4], data)  # {head: {offset: (change, standard error)}}
for _r in range(4):  # the page's printed figures, computed again by the sweep's head_ablation
    with torch.no_grad():
        _m = with_heads(cloze[4], torch.arange(4) != _r, tokens, lens, where, fill=average)
    _change = (_m.argmax(-1) == answers).float() - right
    torch.testing.assert_close(_change[peak[:, _r] == 1].mean(), torch.tensor(_lost[_r][1][0]),
                               equal_nan=True)  # nan: no sentence where head r reads the next word
_next, _prev = shares[:, 2].argmax().item(), shares[:, 1].argmax().item()  # next- / previous-word head
assert _lost[_next][1][0] < _lost[_next][-1][0]  # costs more where it reads the next word than the
assert _lost[_prev][-1][0] < _lost[_prev][1][0]  # previous one, and vice versa (both CPU kernels)
from d2l_attention.explore import committed_results

_sweep = committed_results("sweep-cloze")  # `book.py sweep cloze`: seeds 0-4, two CPU kernels
_runs = [r for kernel in ("default", "avx2") for r in _sweep[kernel]["runs"]]
assert len(_runs) == 10 and all(r["previous_word_head_costs_more_before"] for r in _runs)
assert [r["seed"] for r in _runs if not r["next_word_head_costs_more_after"]] == [4, 4]
_after = [r["ablation_change_by_offset_per_head"]["1"][r["next_word_head"]][0] for r in _runs]
assert (round(-100 * max(_after)), round(-100 * min(_after))) == (4, 16)  # quoted below
with torch.no_grad():
    _z = with_heads(cloze[4], [True] * 4, tokens, lens, where, fill=average)
assert torch.equal(_z.argmax(-1) == answers, right.bool())  # nothing masked: the same guesses


# %% [markdown]
# 这次运行里，屏蔽头 1，它看后一个词的句子丢 16.3 个百分点（± 1.5），别处约 8：它在用后一个词。头 2 的 −4.0 对别处 −2.6 在噪声之内。别处也丢：头有偏好，不是干净的分工。
#
# 换种子 0–4、两种 CPU 内核重训 10 次（`results/sweep-cloze.json`）：最常看前一个词的那个头，每次都是在它看前一个词的句子上比在它看后一个词的句子上丢得多；
# 最常看后一个词的那个头反过来比，有 8 次如此，种子 4 的两次反过来（这里比的是两种邻居，不是“别处”）。它在看后一个词的句子上丢 4–16 个百分点，大小随种子变，偏好的方向大多不变。
#
# ### 动手试试：遮住一个词，屏蔽一个头
#
# 左图是 4 头模型各头对各词的权重，右图是前 5 个猜测；屏蔽的头换成它的平均输出。起始状态遮住 “i am not sure about it .” 的 i。
#
# 1. 哪个头看 am？屏蔽它，i 的概率会怎样？屏蔽别的头呢？
# 2. 换成 “tom is taller than mary .”，遮住 is（hide word 1）。头 1、头 2 看哪里？分别屏蔽它们。
#
# <details><summary>答案（本次运行）</summary>
#
# 1. 头 1 看 am（权重 1.00），模型猜 i，概率 0.96；屏蔽头 1，i 只剩 0.06，第一名变成 the（0.10）；屏蔽头 2、3、4，i 仍在 0.92 以上。
# 2. 头 1、头 2 都看前一个词 tom。屏蔽头 1，is 从 0.19 降到 0.048，排到 had（0.049）之后，几乎并列；屏蔽头 2，is 降到 0.09，仍是第一。两个头都在帮这个猜测。
#
# </details>

# %% tags=["nbval-ignore-output"]
explore.cloze_explorer(cloze[4], data["vocab"], sentence=1, hidden=0, fill=average)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_s = explore.cloze_states(cloze[4], data["vocab"], fill=average)
_t = torch.tensor([data["vocab"][words]])
_t[0, 2] = data["vocab"][explore.MASK]
with torch.no_grad():
    _p = cloze[4](_t, torch.tensor([len(words)]), torch.tensor([2])).softmax(-1)[0]
_top = [r for r in _s["guesses"] if (r["sentence"], r["hidden"], r["mask"]) == (sentence, 2, 0)]
assert abs(_top[0]["probability"] - _p.max().item()) < 1e-3
assert _top[0]["guess"] == "1. " + data["vocab"].to_tokens(int(_p.argmax()))
_w = [r["weight"] for r in _s["weights"] if (r["sentence"], r["hidden"], r["head"]) == (sentence, 2, "head 1")]
torch.testing.assert_close(torch.tensor(_w), cloze_weights[0, 2], atol=1e-3, rtol=0)

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * `transpose_qkv`、`transpose_output`：书中用 `reshape` 和 `permute`；这里用 `unflatten`、`transpose`、`flatten`，
#   因为它们直接说出“拆一维”“交换两维”“合并两维”；结果逐位相同（图 10.5.2 下面打印的差为 0）。
# * 子模块的属性名和创建顺序（`attention`、`W_q`、`W_k`、`W_v`、`W_o`）与书中相同，所以书中保存的参数可以直接载入。
# * 书中不检查 `num_hiddens` 能否被 `num_heads` 整除，除不尽时到 `reshape` 才报一个看不出原因的错；这里构造时就抛出 `ValueError`。
#   输入的最后一维与 `query_size` 等不符时，`forward` 也报出是哪个参数不对。
# * 书中 `forward` 的 `valid_lens` 没有默认值；这里默认为 `None`。
# * 书中的形状实验用全 1 的输入、查询键值都是 100 维；这里用随机输入和 20、30、40 维，否则各头的权重都相同，练习 1 看不出头与头的区别。
# * 邻居任务的张量都很小，多线程只会互相等待，所以代码把线程数设为 1；要恢复就调用 `torch.set_num_threads`。
# * 书中没有训练多头模型；邻居任务和猜词任务是为本节设计的（猜词的数据和训练循环在 `d2l_attention/explore/multihead_attention.py`，训练的是上面的 `ClozeNet`）。
#   换随机种子 0–4 重训（不在本页运行；`python tools/book.py sweep heads`、`sweep cloze` 的结果存在 `results/sweep-heads.json`、`results/sweep-cloze.json`）：相减任务单头 0.99–1.02，2 头和 4 头至多 0.0002；
#   猜词时 4 个头 34%–36%、单头 23%–29%（有的种子单头高于查表的 27.3%），每次都有一个头最常看前一个词、另一个头最常看后一个词。猜词的数字随 CPU 内核差一两个百分点，那几格的输出不逐位比较。
#
# </details>
#
# ## 小结
#
# * 多头注意力：$h$ 个头各自投影、各做一次注意力，拼接后乘 $\mathbf{W}_o$，等于 $\sum_r \sum_j a^{(r)}_j \mathbf{M}_r \mathbf{v}_j$。
# * 实现把各头的投影摞成一个全连接层，`transpose_qkv` 把头并入批量维，有效长度用 `repeat_interleave` 复制。
# * 同样的权重，单头对各段分数的和做一次 softmax，多头对每段分别做。
# * 一个头的系数都是同一个 $\mathbf{M}$ 的非负倍数：相减和分读两个分量的误差至少是 1（两个目标到射线的距离平方和）；两个头做得到。
# * 猜词：单头把唯一的分布花在句尾，句中输给按位置查表；4 个头里一个最常看前一个词、一个最常看后一个词（偏好，不是分工）；
#   参数一样多，正确率更高（这次 35.5% 对 24.9%）。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 把本节第一个形状实验（模块 `attention`，5 个头，`valid_lens = [3, 2]`）里**每个头**的注意力权重画出来。
# 定义 `ex1_weights`，形状为（批量大小，头数，查询数，键值对数），即 `ex1_weights[b, i]` 是样本 `b` 的头 `i + 1` 的权重矩阵；
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
# 参考答案：能。样本 0（有效长度 3）的每一行只在 k0–k2 上有颜色，样本 1（有效长度 2）只在 k0、k1 上有。被遮蔽的键上权重之和是 0.0，
# 所以有效键越少，每个键分到的越多（平均 0.33 与 0.50）。5 个头用同一个有效长度，但在有效的键之间分配不同
# （例如样本 0 的 q0：头 1 偏向 k0，头 3 偏向 k2）。

# %% [markdown]
# ### 练习 2
#
# 想剪掉训练好的模型里最不重要的头来加快预测，怎样衡量一个头的重要性？
# 动手：对 4 头的 `NeighbourNet`（`nets[4]`）**逐个屏蔽**每个头（用上面的 `with_heads(net, keep, test_inputs)`，
# `keep` 每个头一个布尔值），在 `test_inputs` 上测均方误差。定义 `ex2_net`（这个模型）和 `ex2_importance`：
# 长度 4，下标 `i` 处是屏蔽头 `i + 1`（换成 0）后误差的**增加量**；再换成这个头在各位置的平均输出（`fill`）重做，定义 `ex2_mean_importance`。
# 按重要性从低到高剪掉头，能剪几个？两种屏蔽的结论一样吗？
# 对 `nets[2]` 比较只屏蔽头 1、只屏蔽头 2、两个都屏蔽的误差：单独屏蔽的增加量能说明“这个头单独贡献了多少”吗？
# 在探索器里选 4 个头，分别对 trained 和 hand-set 逐个屏蔽：误差为什么差这么多？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def mse_with_heads(net, keep, fill=None):
    """Test MSE of `net` when the heads with keep[i] == False are replaced by `fill` (or 0)."""
    with torch.no_grad():
        pred = with_heads(net, keep, test_inputs, fill=fill)
    return ((pred - test_target) ** 2).mean().item()


ex2_net = nets[4]
all_heads = torch.ones(4, dtype=torch.bool)
base = mse_with_heads(ex2_net, all_heads)
average4 = explore.head_outputs(ex2_net, ex2_net.mha, test_inputs).mean(0)  # (8 positions, 16)
fills = {"zeros": None, "average": average4}
increase = {name: torch.tensor([mse_with_heads(ex2_net, all_heads & (torch.arange(4) != i), fill) - base
                                for i in range(4)]) for name, fill in fills.items()}
ex2_importance, ex2_mean_importance = increase["zeros"], increase["average"]
print(f"test MSE with all heads: {base:.2f}")
for name, fill in fills.items():
    print(f"masked with {name}: MSE increase per head", [round(x, 2) for x in increase[name].tolist()])
    keep = all_heads.clone()
    for i in increase[name].argsort().tolist():  # prune the least important first
        keep[i] = False
        print(f"  keep heads {[j + 1 for j in range(4) if keep[j]]}: MSE {mse_with_heads(ex2_net, keep, fill):.2f}")
print("2 heads:", ", ".join(f"keep {kept}: MSE {mse_with_heads(nets[2], torch.tensor(keep)):.2f}"
                            for kept, keep in [("both", [True, True]), ("head 1", [True, False]),
                                               ("head 2", [False, True]), ("none", [False, False])]))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex2_importance.shape) == (4,), "ex2_importance should hold one number per head"
assert ex2_net.mha.num_heads == 4, "ex2_net should be the 4-head NeighbourNet"
assert ex2_importance.max() > 0.5, "masking a head the task relies on must raise the MSE a lot"
assert tuple(ex2_mean_importance.shape) == (4,), "ex2_mean_importance should hold one number per head"

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
# 参考答案：用**消融**（ablation）：在留出的数据上（实际应当用验证集）依次屏蔽每个头，看指标变差多少。
# **能剪几个？0 个。** 换成 0：屏蔽任何一个头，误差都从 0.00 升到 1.6–3.1；逐步剪枝 1.59 → 0.63 → 3.85 → 2.03，剪第二个后反而变小：头互相补偿，重要性不能相加。
# 换成平均输出，数字几乎不变（增加 1.57–2.93；1.57 → 0.59 → 3.77 → 2.01），结论相同：平均只补回与值无关的部分（位置带来的常数），
# 而这里要靠搭档抵消的背景是宽权重乘上随机的值，平均是 0。
# 2 头模型里只留一个头，误差 5.63 或 5.50，比两个都屏蔽（2.02）还大：单独屏蔽的增加量衡量的是“其余的头没有它时怎样”，不是它单独的贡献。
# hand-set 的头是尖刺（$m = \pm 0.5$），屏蔽一个只丢掉一个邻居上一半的系数，误差 0.25。
# 设计上：换几个种子；逐步剪、每步重测；头很多时给每个头乘门控 $\xi_r$，用 $|\partial \mathcal{L} / \partial \xi_r|$ 作重要性
# （Michel 等人，2019，[Are Sixteen Heads Really Better than One?](https://arxiv.org/abs/1905.10650)），
# 或对门控加 $L_0$ 惩罚（Voita 等人，2019）；最后实测速度。

# %% [markdown]
# ### 练习 3
#
# 如果在 `forward` 里把 `valid_lens.repeat_interleave(self.num_heads, dim=0)` 换成 `valid_lens.repeat(self.num_heads)`，
# 什么时候结果会出错？对 2 个头的模块 `ex3_net = MultiHeadAttention(4, 4, 4, 4, 2, dropout=0)`
# 和自注意力输入 `ex3_X`（形状 (2, 3, 4)），找一组会暴露错误的一维有效长度 `ex3_valid_lens`，
# 并定义 `ex3_gap`：正确的输出与“用 `repeat` 扩展有效长度”得到的输出之间的最大绝对差。
# 再找一组不会暴露错误的有效长度 `ex3_harmless_lens`，说明原因。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# repeat gives [l0, l1, l0, l1] but the rows are [b0h0, b0h1, b1h0, b1h1]: with l0 != l1,
# head 2 of example 0 and head 1 of example 1 use the other example's length.
torch.manual_seed(0)
ex3_net = MultiHeadAttention(4, 4, 4, 4, 2, dropout=0).eval()
ex3_X = torch.randn(2, 3, 4)
ex3_valid_lens = torch.tensor([1, 3])
ex3_harmless_lens = torch.tensor([2, 2])  # equal lengths: both orders give the same list


def wrong_forward(net, X, lens):
    q, k, v = (transpose_qkv(W(X), net.num_heads) for W in (net.W_q, net.W_k, net.W_v))
    per_head = net.attention(q, k, v, lens.repeat(net.num_heads))
    return net.W_o(transpose_output(per_head, net.num_heads))


with torch.no_grad():
    ex3_gap = (ex3_net(ex3_X, ex3_X, ex3_X, ex3_valid_lens)
               - wrong_forward(ex3_net, ex3_X, ex3_valid_lens)).abs().max().item()
    harmless_gap = (ex3_net(ex3_X, ex3_X, ex3_X, ex3_harmless_lens)
                    - wrong_forward(ex3_net, ex3_X, ex3_harmless_lens)).abs().max().item()
for name, lens_, gap in (("ex3_valid_lens", ex3_valid_lens, ex3_gap),
                         ("ex3_harmless_lens", ex3_harmless_lens, harmless_gap)):
    print(f"{name} {lens_.tolist()}: repeat_interleave {lens_.repeat_interleave(2).tolist()}, "
          f"repeat {lens_.repeat(2).tolist()}, max |right - wrong| = {gap:.3f}")
try:  # a 2-D valid_lens (batch, queries) needs one repeat count per dimension
    torch.tensor([[1, 2, 3], [3, 2, 1]]).repeat(2)
except RuntimeError as error:
    print("2-D valid_lens with repeat(2):", str(error).split(".")[0])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex3_net.num_heads == 2 and tuple(ex3_X.shape) == (2, 3, 4)
assert ex3_valid_lens.shape == (2,) and ex3_harmless_lens.shape == (2,)
assert ex3_valid_lens.repeat(2).tolist() != ex3_valid_lens.repeat_interleave(2).tolist(), \
    "ex3_valid_lens should be expanded differently by repeat and repeat_interleave"
assert ex3_gap > 1e-3, "the wrong expansion should change the output"
assert ex3_harmless_lens.repeat(2).tolist() == ex3_harmless_lens.repeat_interleave(2).tolist(), \
    "ex3_harmless_lens should not expose the bug"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：折叠后的第 $r = bh + (i-1)$ 行是样本 $b$ 的头 $i$，应当用 $l_b$。`repeat_interleave` 给出 $[l_0, l_0, l_1, l_1]$（$h = 2$），
# 第 $r$ 行拿到 $l_{\lfloor r/h \rfloor} = l_b$；`repeat` 给出 $[l_0, l_1, l_0, l_1]$，第 $r$ 行拿到 $l_{r \bmod B}$（$B$ 是批量大小）。
# 上面的 `[1, 3]` 里样本 0 的头 2 用了长度 3，输出差 0.238。两者只在 $B = 1$、$h = 1$ 或所有长度相等（`[2, 2]`，差 0.000）时一致：
# 若 $B, h \ge 2$，要对每个 $r$ 都有 $l_{r \bmod B} = l_{\lfloor r/h \rfloor}$，从 $r = 1$ 起逐个推下去，所有长度都等于 $l_0$。
# 常见的调试输入（单个样本、单头、等长批量）恰好看不出这个错误。二维的 `valid_lens` 用 `repeat(h)` 直接报错（上面打印的那句）。
