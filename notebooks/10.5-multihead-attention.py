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
# **一个让计算量不变的选择。** 实现中取 $p_q = p_k = p_v = p_o / h$，并记 $p_o$ 为 `num_hiddens`。
# 这样 $h$ 个头的投影矩阵竖着摞起来恰好是一个 $p_o \times d_q$ 的矩阵，
# 可以用**一个**全连接层一次算出所有头的投影，再把最后一维切成 $h$ 段。
# 参数量和计算量都与“一个 `num_hiddens` 维的单头注意力”相同，只是点积被分成了 $h$ 组。
# 这也是 `num_hiddens` 必须能被 `num_heads` 整除的原因。

# %% [markdown]
# ## 实现
#
# 关键技巧是把“头”这一维并入批量维：形状为（批量大小，序列长度，`num_hiddens`）的张量，
# 先把最后一维拆成（`num_heads`，`num_hiddens/num_heads`），再把头的维度挪到前面、与批量维合并。
# 于是 $h$ 个头可以被当作一个大小为 `batch_size * num_heads` 的批量，
# 交给 10.3 节的 `DotProductAttention` **一次**并行算完。`transpose_output` 做相反的变换。

# %%
#@save
def transpose_qkv(X, num_heads):
    """Split the last axis into heads and fold the heads into the batch axis.

    X: (batch_size, n, num_hiddens) -> (batch_size * num_heads, n, num_hiddens / num_heads).
    Row b * num_heads + i of the result is head i of example b.
    """
    if X.shape[-1] % num_heads != 0:
        raise ValueError(f"the last axis of X has size {X.shape[-1]}, which is not divisible "
                         f"by num_heads={num_heads}; choose num_heads that divides it")
    # (batch_size, n, num_heads, num_hiddens / num_heads)
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
    # (batch_size, num_heads, n, num_hiddens / num_heads)
    X = X.permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X, num_heads):
    """Undo `transpose_qkv`: concatenate the heads along the last axis.

    X: (batch_size * num_heads, n, num_hiddens / num_heads) -> (batch_size, n, num_hiddens).
    """
    if X.shape[0] % num_heads != 0:
        raise ValueError(f"the first axis of X has size {X.shape[0]}, which is not a multiple "
                         f"of num_heads={num_heads}; pass the output of transpose_qkv with the "
                         "same num_heads")
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
    X = X.permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


# %% [markdown]
# 先确认这两个函数互为逆变换，并看清每个头拿到的是哪一段：
# 第 0 个样本、第 1 个头应当正好是原张量最后一维的第 2、3 列（`num_hiddens=8`，4 个头，每头 2 维）。

# %%
X = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
heads = transpose_qkv(X, num_heads=4)
print("transpose_qkv   :", tuple(X.shape), "->", tuple(heads.shape))
print("transpose_output:", tuple(heads.shape), "->", tuple(transpose_output(heads, 4).shape))
print("example 0, head 1:", heads[1].tolist())
assert torch.equal(heads[1], X[0, :, 2:4])
assert torch.equal(transpose_output(heads, num_heads=4), X)

# %% [markdown]
# 有了这两个函数，多头注意力只是“三个投影 → 拆头 → 点积注意力 → 合头 → 输出投影”。
# 有效长度 `valid_lens` 要跟着批量维一起扩展：拆头后第 $b$ 个样本的 $h$ 个头排在相邻的
# $h$ 行（行号 $b h, \ldots, b h + h - 1$），所以每个有效长度要**原地连续**重复 $h$ 次，
# 这正是 `torch.repeat_interleave` 的行为（`Tensor.repeat` 会把整个向量首尾相接地重复，
# 顺序就错了）。形状为（批量大小，查询数）的二维 `valid_lens` 同样沿第 0 维重复。

# %%
#@save
class MultiHeadAttention(nn.Module):
    """Multi-head attention built on scaled dot-product attention.

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_size); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Output: (batch_size, num_queries, num_hiddens).
    After a forward pass, `self.attention.attention_weights` has shape
    (batch_size * num_heads, num_queries, num_kv).
    """

    def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout,
                 bias=False, **kwargs):
        super().__init__(**kwargs)
        if num_hiddens % num_heads != 0:
            raise ValueError(f"num_hiddens={num_hiddens} is not divisible by "
                             f"num_heads={num_heads}; choose num_heads that divides num_hiddens")
        self.num_heads = num_heads
        self.attention = d2l.DotProductAttention(dropout)
        # One Linear per role computes the projections of all heads at once.
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        # (batch_size * num_heads, n, num_hiddens / num_heads)
        queries = transpose_qkv(self.W_q(queries), self.num_heads)
        keys = transpose_qkv(self.W_k(keys), self.num_heads)
        values = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            # Head i of example b sits at row b * num_heads + i: repeat each length in place.
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(transpose_output(output, self.num_heads))


# %% [markdown]
# 用一个小例子检查形状：批量大小 2，4 个查询，6 个键值对，`num_hiddens=100`，5 个头。
# 为了显示查询、键、值的维度可以各不相同，这里让它们分别是 20、30、40 维。

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
assert out.shape == (batch_size, num_queries, num_hiddens)

# %% [markdown]
# `num_hiddens` 不能被头数整除时，构造函数直接说明问题和改法：

# %%
try:
    MultiHeadAttention(30, 20, 40, num_hiddens=100, num_heads=3, dropout=0)
except ValueError as e:
    print("ValueError:", e)

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
assert torch.allclose(final, out)

# %% [markdown]
# ## 可视化：每个头各看哪里
#
# 每个头有自己的投影，因此同一个查询在不同的头里会得到不同的权重分布。
# 下面取一个序列（6 个查询、8 个键，有效长度 6），4 个头、每头 4 维。刚初始化的投影给出的分数都很小，
# 权重几乎是均匀的，为了让差别看得清楚，这里把投影矩阵的初始值放大（相当于把打分的“温度”调低）。
# 注意力权重的形状是 $(b h, n_q, n_k)$，按 $(b, h, n_q, n_k)$ 重排后，
# `show_heatmaps` 会把每个头画成一列。

# %%
torch.manual_seed(0)
demo = MultiHeadAttention(8, 8, 8, num_hiddens=16, num_heads=4, dropout=0)
for layer in (demo.W_q, demo.W_k):
    nn.init.normal_(layer.weight, std=1.0)
demo.eval()
X = torch.randn(1, 6, 8)
Y = torch.randn(1, 8, 8)
with torch.no_grad():
    demo(X, Y, Y, torch.tensor([6]))
w = demo.attention.attention_weights.reshape(1, 4, 6, 8)
print("weights shape for plotting:", tuple(w.shape))
print("masked keys get zero weight:", bool((w[..., 6:] == 0).all()))
print("key with the largest weight for query 0, per head:", w[0, :, 0].argmax(dim=-1).tolist())
assert torch.allclose(w.sum(dim=-1), torch.ones(1, 4, 6))
d2l.show_heatmaps(w, xlabel="Keys", ylabel="Queries",
                  titles=[f"head {i + 1}" for i in range(4)], figsize=(8, 2.5))
d2l.plt.show()

# %% [markdown]
# 四个头对同一个查询给出了不同的分布：有的头几乎只盯住一个键，有的头分散在几个键上；
# 第 7、8 个键超出有效长度，在所有头里权重都是 0。
# 训练会让这些“视角”各自变得有用，下面的练习 2 就用一个小任务展示这一点。

# %% [markdown]
# ## 小结
#
# * 多头注意力把查询、键、值投影到 $h$ 个子空间，在每个子空间里独立做注意力汇聚，拼接后再用 $\mathbf{W}_o$ 融合。
# * 取每头维度为 `num_hiddens / num_heads` 时，所有头的投影可以用一个全连接层一次算出，
#   参数量和计算量与同宽度的单头注意力相同。
# * `transpose_qkv` 把头并入批量维，使 $h$ 个头能在一次批量矩阵乘法里并行计算；`transpose_output` 是它的逆变换。
# * 有效长度要用 `repeat_interleave` 为每个头各复制一份，掩蔽才会落在正确的头上。
#
# ## 练习
#
# 1. 查询、键、值都是 `num_hiddens` 维且不带偏置时，多头注意力有多少参数？与 `num_heads=1` 相比呢？
# 2. 构造一个小任务：每个位置的目标是“后一个位置的值减去前一个位置的值”。
#    分别用 1 个头和 2 个头（`num_hiddens` 相同）训练，比较误差并解释原因。
# 3. 在 `forward` 里把 `repeat_interleave` 换成 `valid_lens.repeat(self.num_heads)`，
#    什么情况下结果会出错？构造一个例子让它暴露出来。

# %% tags=["solution"]
# 练习 1 的参考答案：四个 num_hiddens x num_hiddens 的矩阵，与头数无关。
def count_params(net):
    return sum(p.numel() for p in net.parameters())

d = 64
counts = {h: count_params(MultiHeadAttention(d, d, d, d, h, dropout=0)) for h in (1, 2, 4, 8)}
print("parameters by num_heads:", counts)
assert all(c == 4 * d * d for c in counts.values())

# %% tags=["solution"]
# 练习 2 的参考答案。输入 = 位置的 one-hot（8 维）+ 一个标量值 v；目标 y_i = v_{i+1} - v_{i-1}（循环）。
# 单头只能给出一个非负的权重分布，v_{i+1} 和 v_{i-1} 在输出里的系数同号，做不出“相减”；
# 两个头可以各盯一个邻居，再由 W_o 赋予相反的符号。
n_pos = 8


def toy_batch(batch_size, generator):
    vals = torch.randn(batch_size, n_pos, generator=generator)
    pos = torch.eye(n_pos).expand(batch_size, n_pos, n_pos)
    inputs = torch.cat([pos, vals.unsqueeze(-1)], dim=-1)
    target = torch.roll(vals, -1, dims=1) - torch.roll(vals, 1, dims=1)
    return inputs, target


def train_toy(num_heads, num_steps=200):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    net = nn.ModuleDict({
        "mha": MultiHeadAttention(n_pos + 1, n_pos + 1, n_pos + 1, 16, num_heads, dropout=0),
        "readout": nn.Linear(16, 1),  # one scalar prediction per position
    })
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(num_steps):
        inputs, target = toy_batch(64, gen)
        pred = net["readout"](net["mha"](inputs, inputs, inputs)).squeeze(-1)
        loss = ((pred - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        inputs, target = toy_batch(1024, torch.Generator().manual_seed(2))
        pred = net["readout"](net["mha"](inputs, inputs, inputs)).squeeze(-1)
        return ((pred - target) ** 2).mean().item()


mse = {h: train_toy(h) for h in (1, 2)}
print(f"test MSE with 1 head: {mse[1]:.1f}, with 2 heads: {mse[2]:.1f} (target variance 2)")
assert mse[1] > 0.3 and mse[2] < 0.05

# %% tags=["solution"]
# 练习 3 的参考答案：repeat 得到 [l0, l1, l0, l1, ...]，而拆头后的行序是 [b0h0, b0h1, ..., b1h0, ...]。
# 只要批量里的有效长度不全相同（且批量大小大于 1），就会有头用上别的样本的长度。
lens = torch.tensor([1, 3])
print("repeat_interleave:", torch.repeat_interleave(lens, repeats=2, dim=0).tolist())
print("repeat           :", lens.repeat(2).tolist())
torch.manual_seed(0)
net = MultiHeadAttention(4, 4, 4, num_hiddens=4, num_heads=2, dropout=0).eval()
Xq = torch.randn(2, 3, 4)
with torch.no_grad():
    net(Xq, Xq, Xq, lens)
good = net.attention.attention_weights.clone()
with torch.no_grad():  # the same computation with the wrong repetition
    q_, k_, v_ = (transpose_qkv(W(Xq), 2) for W in (net.W_q, net.W_k, net.W_v))
    net.attention(q_, k_, v_, lens.repeat(2))
bad = net.attention.attention_weights
print("rows of head 1 of example 0 that look past valid_len=1:",
      int((bad[1, :, 1:] > 0).any(dim=-1).sum()), "(wrong)",
      int((good[1, :, 1:] > 0).any(dim=-1).sum()), "(right)")
assert (bad[1, :, 1:] > 0).any() and not (good[1, :, 1:] > 0).any()
