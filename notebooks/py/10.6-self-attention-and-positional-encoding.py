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
# # 10.6 自注意力和位置编码
#
# 让**同一组词元**同时充当查询、键和值，就是**自注意力**（self-attention）。它一步读到整个序列，却分不出词序；
# **位置编码**（positional encoding）补上顺序。本节用反转任务看没有它会怎样。$n$ 是序列长度，$d$ 是词元维度。

# %%
import math

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.checks import check_shape
from d2l_attention.explore import self_attention

# %% [markdown]
# ## 自注意力
#
# 把词元排成 $\mathbf{X} \in \mathbb{R}^{n \times d}$，**同一个** $\mathbf{X}$ 乘三个矩阵得到查询、键和值，再用 10.3 节的缩放点积注意力：
#
# $$\mathbf{Q} = \mathbf{X}\mathbf{W}_q^\top,\quad \mathbf{K} = \mathbf{X}\mathbf{W}_k^\top,\quad \mathbf{V} = \mathbf{X}\mathbf{W}_v^\top,\qquad
#   \mathbf{A} = \operatorname{softmax}\!\left(\frac{\mathbf{Q}\mathbf{K}^\top}{\sqrt{d}}\right)\ (\text{按行}),\qquad \mathbf{Y} = \mathbf{A}\mathbf{V}.$$
#
# 为什么要三个矩阵？看“狗咬人”（dog bites man）：每个词四个具名特征，投影矩阵手设。
# `W[r, c]` 把输入特征 $c$ 写进输出特征 $r$：`W_ask[0, 1] = 3` 让动词的查询写着 noun 3：“我找名词”。

# %%
def self_attention_weights(X, W_q, W_k, W_v):
    """X: (n, d) -> attention weights A (n, n) and outputs Y = A V (n, d)."""
    Q, K, V = X @ W_q.T, X @ W_k.T, X @ W_v.T  # queries, keys and values all come from X
    A = torch.softmax(Q @ K.T / math.sqrt(X.shape[1]), dim=-1)
    return A, A @ V


features, words = ["noun", "verb", "animal", "human"], ["dog", "bites", "man"]  # 狗咬人
X_words = torch.tensor([[1., 0, 1, 0],   # dog: a noun, an animal
                        [0., 1, 0, 0],   # bites: a verb
                        [1., 0, 0, 1]])  # man: a noun, a human
W_ask = torch.zeros(4, 4)
W_ask[0, 1] = 3  # query: a verb asks for "noun"
W_say = torch.zeros(4, 4)
W_say[0, 0] = 3  # key: a noun says "noun"
W_what = torch.diag(torch.tensor([0., 0, 1, 1]))  # value: what the word is (animal, human)
I = torch.eye(4)
A_plain, _ = self_attention_weights(X_words, I, I, I)
A_ask, Y_key = self_attention_weights(X_words, W_ask, W_say, W_say)  # value = key
_, Y_what = self_attention_weights(X_words, W_ask, W_say, W_what)
self_attention.sentence_heatmaps([A_plain, A_ask], [words] * 2,
                                 ["(1) W_q = W_k = I", "(2) W_q asks, W_k answers"])
d2l.plt.show()
Q, K, V = X_words @ W_ask.T, X_words @ W_say.T, X_words @ W_what.T  # one row per word
for name, M in (("Q", Q), ("K", K), ("V = X W_v^T", V)):
    print(f"{name:11s} {tuple(M.shape)}:", "  ".join(f"{w} {M[i].int().tolist()}"
                                                   for i, w in enumerate(words)))
for name, Y in (("W_v = W_k", Y_key), ("W_v = what it is", Y_what)):
    print(f"y_bites, {name:16s}:", "  ".join(f"{f} {v:.2f}" for f, v in zip(features, Y[1])))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert A_plain.argmax(dim=-1).tolist() == [0, 1, 2]  # X Xᵀ: every word attends most to itself
assert torch.allclose(A_ask[1, [0, 2]], torch.tensor([0.5, 0.5]), atol=0.01)
assert torch.allclose(A_ask[[0, 2]], torch.full((2, 3), 1 / 3))  # dog, man: zero queries
assert Y_key[1, 1:].abs().max() == 0 and Y_what[1, :2].abs().max() == 0

# %% [markdown]
# **(1) 不投影。** 评分 $\mathbf{x}_i^\top\mathbf{x}_j$ 对称；这三个词范数相近，所以各自最关注自己（0.51、0.45、0.51）。
#
# **(2) 查询问，键答。** bites 的查询 $[3, 0, 0, 0]$ 与 dog、man 的键 $[3, 0, 0, 0]$ 相乘得 9，与自己的键得 0：
# bites 把 0.50、0.50 给 dog 和 man，自己只得 0.01（dog、man 的查询是 0）。评分有了方向：bites 找 dog，dog 不找 bites。
#
# **值交出什么。** 若 $\mathbf{W}_v = \mathbf{W}_k$，bites 只取回 noun 2.98；$\mathbf{W}_v$ 交出“是什么”时，取回 animal 0.50、human 0.50。
#
# 10.5 节的 `MultiHeadAttention`（单头）把同一个张量传三次就是自注意力，权重与上面的函数相同：

# %%
torch.manual_seed(0)  # for W_o, which the weights do not use
X_batch = X_words[None]  # (batch_size, n, d) = (1, 3, 4)
attention = d2l.MultiHeadAttention(4, 4, 4, 4, num_heads=1, dropout=0)
with torch.no_grad():
    for projection, W in ((attention.W_q, W_ask), (attention.W_k, W_say), (attention.W_v, W_what)):
        projection.weight.copy_(W)
    Y_class = attention(X_batch, X_batch, X_batch)  # queries = keys = values
weights_gap = (attention.attention.attention_weights[0] - A_ask).abs().max().item()
print("input:", tuple(X_batch.shape), " output:", tuple(Y_class.shape),
      f" max |A - the class's attention weights| = {weights_gap:.6f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert weights_gap < 1e-6

# %% [markdown]
# ### 掩蔽自注意力
#
# 逐词生成的解码器（10.7 节）里，位置 $i$ 只能读 $0, \ldots, i$。
# 把 10.3 节 `valid_lens` 里查询 $i$ 的有效长度取 $i + 1$，就是**因果**（causal）掩蔽。再把句末的 man 换成 mail（只是名词）：

# %%
causal_lens = torch.arange(1, len(words) + 1)[None]  # (1, n): query i reads keys 0..i
X_mail = torch.cat([X_batch[:, :2], torch.tensor([[[1., 0, 0, 0]]])], dim=1)  # dog bites mail
with torch.no_grad():
    Y_causal = attention(X_batch, X_batch, X_batch, causal_lens)[0]
    A_causal = attention.attention.attention_weights[0].clone()
    Y_mail = attention(X_mail, X_mail, X_mail, causal_lens)[0]
self_attention.sentence_heatmaps([A_ask, A_causal], [words] * 2, ["self-attention", "causal mask"])
d2l.plt.show()
print("per word |y(dog bites man) - y(dog bites mail)|:",
      "  ".join(f"{w} {g:.2f}" for w, g in zip(words, (Y_causal - Y_mail).norm(dim=-1))))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(A_causal.triu(1), torch.zeros(3, 3))
assert (Y_causal - Y_mail)[:2].abs().max() == 0 and (Y_causal - Y_mail)[2].norm() > 0.1
assert A_causal[1, 0] > 0.98  # bites can no longer see man

# %% [markdown]
# 右图对角线以上全是 0：bites 看不到 man，0.99 给了 dog。换掉 man 只改变 man 的输出，dog 和 bites 的差是 0。

# %% [markdown]
# ## 比较卷积神经网络、循环神经网络和自注意力
#
# 比较三个量：**计算复杂度**（乘加次数）、**顺序操作**（sequential operations，必须一个接一个做的步数）
# 和**最大路径长度**（maximum path length：任一 $\mathbf{x}_s$ 到任一 $\mathbf{y}_t$ 最少经过的层数或步数；越短越易学到远距离依赖）。
#
# | 层 | 计算复杂度 | 顺序操作 | 最大路径长度 |
# | --- | --- | --- | --- |
# | 卷积（CNN，核大小 $k$） | $\mathcal{O}(knd^2)$ | $\mathcal{O}(1)$ | $\mathcal{O}(n/k)$ |
# | 循环（RNN） | $\mathcal{O}(nd^2)$ | $\mathcal{O}(n)$ | $\mathcal{O}(n)$ |
# | 自注意力 | $\mathcal{O}(n^2d)$ | $\mathcal{O}(1)$ | $\mathcal{O}(1)$ |

# %% [markdown]
# ![CNN, RNN and self-attention: connectivity and path length](figures/10.6-cnn-rnn-self-attention.svg)
#
# 图 10.6.1 三种层的连接（$n = 5$）：两层卷积（$k = 3$）后只有 $\mathbf{y}_3$ 看到全部输入；循环网络要 5 步把 $\mathbf{x}_1$ 传到 $\mathbf{h}_5$；自注意力一步读到每个词元

# %% [markdown]
# <details><summary>深入一步：逐项推导三种层的代价</summary>
#
# **卷积**（$d$ 个输入和输出通道，核大小 $k$）：一个输出分量 $kd$ 次乘加，$n$ 个位置、$d$ 个通道共 $knd^2$。
# 各位置只依赖输入，可以同时算：顺序操作 $\mathcal{O}(1)$。每叠一层，每侧多看 $\lfloor k/2 \rfloor$ 个位置，
# $\mathbf{y}_n$ 要看到 $\mathbf{x}_1$ 需 $\lceil (n-1)/\lfloor k/2 \rfloor \rceil = \mathcal{O}(n/k)$ 层（$n = 5$ 时 4 层；图 10.6.1 只画了 2 层）。
#
# **循环**：$\mathbf{h}_t = \phi(\mathbf{W}_{xh}\mathbf{x}_t + \mathbf{W}_{hh}\mathbf{h}_{t-1} + \mathbf{b})$ 每步两次 $d \times d$ 矩阵乘向量，
# $n$ 步共 $2nd^2$（GRU 三组这样的乘法，$6nd^2$）。$\mathbf{h}_t$ 要等 $\mathbf{h}_{t-1}$：顺序操作和路径长度都是 $n$。
#
# **自注意力**：$\mathbf{Q}\mathbf{K}^\top$ 和 $\mathbf{A}\mathbf{V}$ 各 $n^2 d$ 次乘加，softmax $\mathcal{O}(n^2)$，合计 $\mathcal{O}(n^2 d)$（四个投影另需 $4nd^2$）。
# 每个元素只依赖输入：顺序操作 $\mathcal{O}(1)$；$\mathbf{y}_i$ 直接读每个 $\mathbf{x}_j$：路径长度 $\mathcal{O}(1)$。
# $n < d$ 时 $n^2 d < nd^2$，自注意力不比 RNN 贵。
#
# </details>
#
# 取 $d = 64$、$k = 3$ 数一数（卷积 $knd^2$；GRU 每步 $6d^2$；自注意力连同投影 $2n^2d + 4nd^2$）：

# %%
d, k = 64, 3  # representation size, kernel size


def layer_costs(n):
    """Counted costs on a length-n sequence: name -> (multiply-adds of one layer, sequential
    operations of one layer, maximum path length). For the CNN the path length is the number of
    stacked layers that y_n needs to see x_1."""
    return {"CNN (k=3)": (k * n * d * d, 1, math.ceil((n - 1) / (k // 2))),
            "RNN (GRU)": (6 * n * d * d, n, n),
            "self-attention": (2 * n * n * d + 4 * n * d * d, 1, 1)}


lengths = [16, 64, 256, 1024, 4096]
costs = [layer_costs(n) for n in lengths]
print(f"{'':31s}" + "".join(f"{'n=' + str(n):>10s}" for n in lengths))
for q, quantity in enumerate(["multiply-adds", "sequential ops", "max path length"]):
    for name in costs[0]:
        print(f"{quantity:16s}{name:15s}"
              + "".join(f"{c[name][q]:10.1e}" if q == 0 else f"{c[name][q]:10d}" for c in costs))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
at_d = layer_costs(d)
assert at_d["self-attention"][0] == at_d["RNN (GRU)"][0] == 6 * d ** 3
assert all(c["self-attention"][0] > c["RNN (GRU)"][0] for n, c in zip(lengths, costs) if n > d)
assert all(c["self-attention"][0] < c["RNN (GRU)"][0] for n, c in zip(lengths, costs) if n < d)

# %% [markdown]
# 自注意力的乘加在 $n < d$ 时比 GRU 少，$n = d$ 时相等，$n = 1024$ 时是 6 倍。
# $k = 3$ 的卷积路径长度 $n - 1$，与 RNN 差不多：它数的是要叠几层，一层的顺序操作仍是 1。
#
# ### 量一量：时间和内存
#
# GRU 的第 $t$ 步要等 $\mathbf{h}_{t-1}$，只能调用 $n$ 次。
# 对照：同一个 GRU 单元取 $\mathbf{h}_{t-1} = \mathbf{0}$，一次处理 $n$ 个位置，乘加次数相同：

# %% tags=["nbval-ignore-output"]
def gru_steps(cell, X):
    """Run a GRU cell over X (batch_size, n, d) one step at a time: step t needs h_(t-1)."""
    h = torch.zeros(X.shape[0], X.shape[2])
    for t in range(X.shape[1]):
        h = cell(X[:, t], h)
    return h


costs = self_attention.cost_figure(gru_steps, d=d, k=k)  # on the CPU, one thread, fastest of 5
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
torch.manual_seed(0)
check_cell, check_X = nn.GRUCell(d, d), torch.randn(1, 1024, d)
calls = []
hook = check_cell.register_forward_hook(lambda *args: calls.append(1))
with torch.no_grad():
    h_last = gru_steps(check_cell, check_X)
hook.remove()
assert len(calls) == 1024 and tuple(h_last.shape) == (1, d)
with torch.no_grad():  # the control does the same multiply-adds as the first step, n times over
    assert torch.allclose(check_cell(check_X[0], torch.zeros_like(check_X[0]))[:1],
                          gru_steps(check_cell, check_X[:, :1]), atol=1e-5)
gru_s, control_s, attention_s = costs["seconds"][-1]
assert costs["threads"] == 1 and gru_s > 5 * control_s and gru_s > attention_s > control_s
at_1024 = layer_costs(1024)
assert at_1024["self-attention"][0] == 6 * at_1024["RNN (GRU)"][0]
square, rest = costs["memory"]["self-attention"][-1]
assert square == 2048 * 2048 * 4 and rest < square / 4
assert all(sum(b[-1]) / sum(b[-2]) < 2.3 for name, b in costs["memory"].items()
           if name != "self-attention")

# %% [markdown]
# 左图：$n = 1024$ 时，同一单元一次调用比 $n$ 次调用快几十倍。只有一个线程，没有并行可丢：
# 差距是 1024 次小调用（各一次矩阵乘向量，加固定的调用开销）对一次矩阵乘矩阵。依赖迫使它这样调用；
# 在多核或 GPU 上，它还让各位置无法并行（这里没有测）。
# 右图：$n$ 从 1024 翻到 2048，卷积的内存乘 1.84、GRU 乘 1.96；自注意力要为反向传播存 $n \times n$ 的 $\mathbf{A}$，
# $\mathbf{A}$ 乘 4.00，总量乘 3.49（$n = 2048$ 时 $\mathbf{A}$ 16 MiB，其余 2.6 MiB）。

# %% [markdown]
# ## 位置编码
#
# ### 自注意力分不出先后：置换等变
#
# 用置换矩阵 $\boldsymbol{\Pi}$ 打乱词元，查询、键、值都左乘 $\boldsymbol{\Pi}$，于是
#
# $$\mathbf{A}' = \operatorname{softmax}\!\left(\frac{\boldsymbol{\Pi}\mathbf{Q}\mathbf{K}^\top\boldsymbol{\Pi}^\top}{\sqrt{d}}\right)
#   = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top, \qquad
#   \mathbf{Y}' = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top\boldsymbol{\Pi}\mathbf{V} = \boldsymbol{\Pi}\mathbf{Y}$$
#
# 自注意力是**置换等变**（permutation equivariant）的：打乱输入，输出以同样的方式被打乱。
# “人咬狗”（man bites dog）对调第一个和第三个词：

# %%
perm = [2, 1, 0]  # 人咬狗: the first and the last word swapped
swapped = [words[p] for p in perm]
A_swapped, Y_swapped = self_attention_weights(X_words[perm], W_ask, W_say, W_what)
self_attention.sentence_heatmaps([A_ask, A_swapped], [words, swapped],
                                 ["dog bites man: A", "man bites dog: A'"])
d2l.plt.show()
print(f"max |A' - Π A Πᵀ| = {(A_swapped - A_ask[perm][:, perm]).abs().max():.6f}, "
      f"max |Y' - Π Y| = {(Y_swapped - Y_what[perm]).abs().max():.6f}")
for sentence, Y in ((words, Y_what), (swapped, Y_swapped)):
    print(f"{' '.join(sentence):14s}| y_bites: animal {Y[1, 2]:.2f}, human {Y[1, 3]:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (A_swapped - A_ask[perm][:, perm]).abs().max() < 5e-7
assert (Y_swapped - Y_what[perm]).abs().max() < 5e-7 and torch.equal(Y_swapped[1], Y_what[1])

# %% [markdown]
# bites 在中间，置换不动它：两句里它的输出都是 animal 0.50、human 0.50。模型分不出谁咬谁。
#
# ### 正弦位置编码
#
# 对输入 $\mathbf{X} \in \mathbb{R}^{n \times d}$，构造同形状的 $\mathbf{P}$，输出 $\mathbf{X} + \mathbf{P}$，其中
#
# $$p_{i, 2m} = \sin(i\,\omega_m), \qquad p_{i, 2m+1} = \cos(i\,\omega_m), \qquad
#   \omega_m = 10000^{-2m/d}, \quad m = 0, \ldots, d/2 - 1.$$
#
# 行 $i$ 是位置；第 $m$ 对列是以角频率 $\omega_m$ 旋转的单位向量。$\omega_m$ 从 1 几何递减，
# 基数 10000 让波长从 $2\pi$ 铺到近 $2\pi \cdot 10^4$：最快的一对分清相邻位置，最慢的一对上万个位置不重复。
# 每个 $\mathbf{p}_i$ 的范数是 $\sqrt{d/2}$（$d = 32$ 时 4）；10.7 节照书把嵌入乘 $\sqrt{d}$，那里词元部分的范数是 28.6，位置部分仍是 4：嵌入远大于位置（不乘则约 5.1，两者相当）。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的频率下标写作 $j$；这里写作 $m$（$k$ 留给卷积核大小）。
# * 书中用 float32 计算角度 $i\,\omega_m$，位置越大舍入误差越大；这里用 float64 算好再转成 float32，与 float64 闭式解只差一次 float32 舍入（旋转验证的最后一行打印这个差）。
# * 书中把 $\mathbf{P}$ 存成普通属性、每次前向时 `.to(X.device)`；这里注册为不写入 `state_dict` 的缓冲区（`persistent=False`），随模块一起移动。
# * 书中的 `forward` 不检查输入；这里检查形状和长度，给出说明原因的错误。
#
# </details>

# %%
#@save
class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding added to the input, then dropout.

    X: (batch_size, num_steps, num_hiddens) with num_steps <= max_len. Output: same shape.
    `self.P`: (1, max_len, num_hiddens) with P[0, i, 2m] = sin(i * w_m) and
    P[0, i, 2m + 1] = cos(i * w_m), where w_m = 10000^(-2m / num_hiddens).
    """

    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        if num_hiddens % 2:
            raise ValueError(f"num_hiddens={num_hiddens} is odd: the columns come in sine/cosine "
                             "pairs; use an even num_hiddens")
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        pair = torch.arange(num_hiddens // 2, dtype=torch.float64)
        omega = torch.exp(-math.log(10000.0) * 2 * pair / num_hiddens)  # (num_hiddens / 2,)
        theta = torch.outer(torch.arange(max_len, dtype=torch.float64), omega)
        # (max_len, num_hiddens / 2, 2) -> (max_len, num_hiddens): sin to column 2m, cos to 2m + 1
        P = torch.stack((theta.sin(), theta.cos()), dim=-1).flatten(start_dim=1)
        self.register_buffer("P", P.unsqueeze(0).float(), persistent=False)

    def forward(self, X):
        check_shape(X, "X", "(batch_size, num_steps, num_hiddens)", num_hiddens=self.num_hiddens)
        if X.shape[1] > self.max_len:
            raise ValueError(f"sequence length {X.shape[1]} exceeds max_len={self.max_len}: "
                             "create PositionalEncoding with a larger max_len")
        return self.dropout(X + self.P[:, :X.shape[1]].to(X.dtype))


# %%
encoding_dim, num_steps = 32, 60
pos_encoding = PositionalEncoding(encoding_dim, 0).eval()
X = pos_encoding(torch.zeros((1, num_steps, encoding_dim)))
P = pos_encoding.P[:, :X.shape[1], :]
print("output:", tuple(X.shape), " P:", tuple(P.shape), " state_dict keys:",
      list(pos_encoding.state_dict()))
print("P[0, 1, :4] =", [round(v, 4) for v in P[0, 1, :4].tolist()],
      " (sin 1, cos 1, sin w_1, cos w_1)")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(X, P)  # dropout 0 and zero input: the output is the encoding itself
w1 = 10000 ** (-2 / encoding_dim)
assert torch.allclose(P[0, 1, :4], torch.tensor([math.sin(1), math.cos(1), math.sin(w1),
                                                 math.cos(w1)]))


# %% [markdown]
# 第 6、7 列是 $m = 3$ 对，第 8、9 列是 $m = 4$ 对：同一对的两列相差四分之一周期，$m$ 越大周期越长。

# %%
d2l.plot(torch.arange(num_steps), P[0, :, 6:10].T, xlabel="Row (position)", figsize=(6, 2.5))
d2l.plt.legend([f"Col {c}" for c in range(6, 10)], loc="lower center", bbox_to_anchor=(0.5, 1.0),
               fontsize=7, ncol=4, frameon=False)
d2l.plt.show()

# %% [markdown]
# ### 绝对位置信息
#
# 像二进制计数：最低位翻得最快，越高的位翻得越慢。

# %%
print("  ".join(f"{i}: {i:03b}" for i in range(8)))

# %% [markdown]
# 正弦编码也是低维变得快、高维变得慢，只是连续变化（左半是正弦列，右半是余弦列）：
# 前几列正负交替；$m \ge 12$ 的列在这 60 个位置上几乎不变。

# %%
self_attention.encoding_heatmap(P[0])  # sin columns | cos columns, each in order m
d2l.plt.show()

# %% [markdown]
# ### 相对位置信息
#
# 对任意固定的偏移 $\delta$，由两角和公式，每一对列满足
#
# $$\begin{bmatrix} \cos(\delta \omega_m) & \sin(\delta \omega_m) \\ -\sin(\delta \omega_m) & \cos(\delta \omega_m) \end{bmatrix}
#   \begin{bmatrix} p_{i, 2m} \\ p_{i, 2m+1} \end{bmatrix}
# = \begin{bmatrix} p_{i+\delta, 2m} \\ p_{i+\delta, 2m+1} \end{bmatrix}.$$
#
# 把 $d/2$ 个这样的旋转块排成块对角矩阵 $\mathbf{M}_\delta$，就有 $\mathbf{p}_{i+\delta} = \mathbf{M}_\delta \mathbf{p}_i$：
# 偏移是只依赖 $\delta$ 的线性变换。数值验证（float64）：

# %%
#@save
def rotation_for_offset(delta, num_hiddens):
    """Block-diagonal M with M @ p_i == p_{i+delta} for the sinusoidal encoding."""
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    c, s = torch.cos(delta * omega), torch.sin(delta * omega)
    blocks = [torch.tensor([[ci, si], [-si, ci]], dtype=torch.float64)
              for ci, si in zip(c.tolist(), s.tolist())]
    return torch.block_diag(*blocks)


# %%
omega = torch.pow(10000.0, -torch.arange(0, encoding_dim, 2, dtype=torch.float64) / encoding_dim)
theta = torch.outer(torch.arange(num_steps, dtype=torch.float64), omega)
P64 = torch.stack((theta.sin(), theta.cos()), dim=-1).flatten(start_dim=1)  # float64 closed form
rotation_errors = {}
for delta in (1, 5, 17):
    M = rotation_for_offset(delta, encoding_dim)
    rotation_errors[delta] = (P64[delta:] - P64[:-delta] @ M.T).abs().max().item()
    print(f"delta={delta:2d}: max over i |p_(i+delta) - M_delta p_i| = {rotation_errors[delta]:.1e}")
print(f"class encoding (float32) vs float64 closed form: max gap "
      f"{(P[0].double() - P64).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(err < 1e-12 for err in rotation_errors.values())
assert torch.allclose(P[0].double(), P64, atol=1e-5)

# %% [markdown]
# ### 动手试试：偏移就是旋转
#
# 探索器（explorer）把第 $m = 0, 2, 4, 6$ 对列画在单位圆上。起始 $i = 10$、$\delta = 3$：
# 橙点 $\mathbf{p}_{i+\delta}$ 比蓝点 $\mathbf{p}_i$ 多转 $\delta\omega_m$（3、0.95、0.3、0.095 rad），$\mathbf{M}_\delta\mathbf{p}_i$ 的叉落在橙点上。
# 拖动 $i$：夹角不变。拖到 $\delta = 20$：$m = 2$ 转 $20 \times 0.316 = 6.32$ rad，刚过一圈，两点几乎重合，要几对频率合起来才分得出偏移。

# %%
self_attention.rotation(pos_encoding, num_steps)

# %% [markdown]
# ### 评分里的位置部分
#
# 每对列贡献 $\sin i\omega_m \sin j\omega_m + \cos i\omega_m \cos j\omega_m = \cos((i-j)\omega_m)$，所以
#
# $$\mathbf{p}_i^\top \mathbf{p}_j = \sum_{m=0}^{d/2-1} \cos\big((i-j)\,\omega_m\big).$$
#
# 把 60 个位置两两的 $\mathbf{p}_i^\top \mathbf{p}_j$ 全画出来，横轴是 $i - j$：

# %%
gram = P64 @ P64.T  # gram[i, j] = p_i . p_j, all 60 x 60 pairs
self_attention.distance_figure(gram)
d2l.plt.show()
print("p_20 . p_j:", "  ".join(f"j = {j} (distance {abs(j - 20)}): {gram[20, j]:.1f}"
                                for j in (20, 48, 52, 4, 1)))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
offset_of = torch.arange(num_steps)[:, None] - torch.arange(num_steps)[None, :]
by_offset = torch.cos(offset_of[..., None] * omega).sum(dim=-1)  # sum_m cos((i - j) w_m)
assert (gram - by_offset).abs().max() < 1e-10 and (gram - gram.T).abs().max() < 1e-12
assert gram.diagonal().allclose(torch.full((num_steps,), 16.0, dtype=torch.float64))
assert [round(gram[20, j].item(), 1) for j in (48, 52, 4, 1)] == [6.0, 9.6, 7.9, 10.6]

# %% [markdown]
# 3600 个点落在一条曲线上：只取决于 $i - j$，左右对称（分不出前后），$i = j$ 处最大（16），
# 却**不**随距离单调：距离 16 时 7.9，19 时 10.6。
#
# ### 回到狗咬人：谁咬谁
#
# 8 维词元：特征在第 0–3 维，4 维正弦编码 $\mathbf{p}_i$ 在第 4–7 维，两者相加；维度不重叠，相加就是拼接。
# 每个词的查询加上 $5\mathbf{p}_i$（“我的位置”），键加上 $\mathbf{M}_1\mathbf{p}_j = \mathbf{p}_{j+1}$（“我后面的位置”）：
# 位置部分在 $j + 1 = i$ 时最大，bites 找前面的主语。把句子倒过来：

# %%
P4 = PositionalEncoding(4, dropout=0).P[0, :3]  # p_0, p_1, p_2
content_part = torch.cat([X_words, torch.zeros(3, 4)], dim=1)  # features in dims 0-3
position_part = torch.cat([torch.zeros(3, 4), P4], dim=1)  # positions in dims 4-7
W_q_pos = torch.block_diag(W_ask, 5 * torch.eye(4))  # + "my position"
W_k_pos = torch.block_diag(W_say, rotation_for_offset(1, 4).float())  # + "the position after me"
W_v_pos = torch.block_diag(W_what, torch.zeros(4, 4))  # what the word is
for order in ([0, 1, 2], [2, 1, 0]):  # dog bites man, man bites dog
    A_pos, Y_pos = self_attention_weights(content_part[order] + position_part,  # X + P
                                          W_q_pos, W_k_pos, W_v_pos)
    print(" ".join(words[o] for o in order), "| bites ->",
          "  ".join(f"{words[o]} {a:.2f}" for o, a in zip(order, A_pos[1])),
          f"| y_bites: animal {Y_pos[1, 2]:.2f}, human {Y_pos[1, 3]:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(content_part + position_part, torch.cat([X_words, P4], dim=1))  # = concatenation
A_fwd = self_attention_weights(content_part + position_part, W_q_pos, W_k_pos, W_v_pos)[0]
assert A_fwd[1, 0] > 0.85 > 0.1 > A_fwd[1, 2]  # dog bites man: bites reads dog
assert torch.allclose(A_pos[1], A_fwd[1]) and Y_pos[1, 3] > 0.85  # man bites dog: reads man

# %% [markdown]
# 名词部分给 dog 和 man 同样的分，位置部分打破平局：bites 把 0.91 给前面的主语，倒过来后给 man，取回 human 而不是 animal。真实模型让内容和位置共用维度，代价是评分多出交叉项（见“评分的四项”）。

# %% [markdown]
# ## 实验：没有位置编码会怎样——反转序列
#
# 输入 $n = 8$ 个随机词元 $x_0, \ldots, x_7$（词表大小 30），要求输出 $y_i = x_{7-i}$。
# 模型（`ReversalNet`）只有**一个**单头自注意力层，没有残差连接：查询 $i$ 必须看键 $7-i$。
# 训练三次，只换位置信息：正弦编码、可学习的 $8 \times 32$ 表（练习 2）、不加（`nn.Identity`）。

# %%
#@save
class ReversalNet(nn.Module):
    """tokens (batch_size, n) -> logits (batch_size, n, vocab_size): embedding + positions ->
    one single-head self-attention layer -> linear readout (no residual: i reads j only via a_ij)."""

    def __init__(self, positions, vocab_size=30, num_hiddens=32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.positions = positions  # adds position information to the embeddings
        self.attention = d2l.MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens,
                                                num_hiddens, num_heads=1, dropout=0)
        self.readout = nn.Linear(num_hiddens, vocab_size)

    def forward(self, tokens):
        X = self.positions(self.embedding(tokens))
        return self.readout(self.attention(X, X, X))


# %%
def train(net, num_steps=400, lr=0.05, batch_size=64, seed=0):
    """Adam, learning rate falling linearly to 0. Returns the net and its accuracy per batch."""
    batches = torch.Generator().manual_seed(seed + 100)  # the same batches for every net
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / num_steps)
    accuracy = []
    for _ in range(num_steps):
        tokens, target = self_attention.reversal_batch(batch_size, batches)  # target: reversed
        logits = net(tokens)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        accuracy.append((logits.argmax(dim=-1) == target).double().mean().item())
    return net.eval(), accuracy


torch.set_num_threads(1)  # tensors this small train fastest on one thread
nets, accuracy = {}, {}
for name in ("sinusoidal", "learned", "none"):
    net = self_attention.reversal_net(name)  # d2l.ReversalNet(this position module), float64
    nets[name], accuracy[name] = train(net)
ablation = self_attention.Ablation(nets)  # tests each net on the same 1000 sequences
d2l.plot(list(range(1, 401)), [accuracy[n] for n in nets] + [[ablation.bound] * 400],
         xlabel="training step", ylabel="accuracy on the batch",
         legend=[*nets, "best without positions (expected)"], figsize=(5, 3))
d2l.plt.show()
print(ablation.table())
own, same, other = ablation.weight_by_token("none")  # mean weights of the none net
print(f"none: weight on its own position {own:.3f} | another position with the same token "
      f"{same:.3f} | a different token {other:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
# The nets above are those of the committed sweep (results/sweep-positions.json, seed 0).
committed = self_attention.committed_sweep(seed=0)
for name in committed or {}:
    assert round(ablation.accuracy[name], 4) == committed[name]["accuracy"], name
    assert round(ablation.weight_on_reversed(name), 4) == committed[name]["weight_on_reversed"]

# %%
self_attention.ablation_figure(ablation)
d2l.plt.show()

# %% [markdown]
# 有位置的两条曲线升到 1；none 停在虚线附近。平均权重热图里，正弦和可学习的编码学出**反对角线**（键 $7-i$ 上 0.98 和 1.00）。
# none 的对角线最淡（0.08 对 0.13），但它认不出位置：别处的同一词元也只得 0.085。它避开的是与自己相同的**词元**。
#
# 虚线：没有位置，输出 $i$ 只能用 $x_i$ 和序列里有哪些词元。目标 $x_{7-i}$ 等可能是其余 7 个词元中的任一个，
# 最好猜其中出现最多的，猜对的概率是它的次数除以 7。这 7 个词元从 30 个里独立抽取，枚举全部 $30^7$ 种抽法：

# %%
expected = self_attention.free_expectation()  # E[max count among 7 draws from 30] / 7, exact
spread = self_attention.free_spread(num_sequences=1000)  # standard deviation over 1000 sequences
print(f"best without positions: {expected:.4f} expected, {expected - 2 * spread:.3f} to "
      f"{expected + 2 * spread:.3f} on 1000 random sequences (2 SD); this guess on these 1000 "
      f"test sequences {self_attention.best_free_accuracy(ablation.tokens):.3f}; the none net "
      f"{ablation.accuracy['none']:.3f}")

# %% [markdown]
# none 落在这个范围里：不看位置能做到的，它都做到了。
#
# 探索器打开在 none 的测试序列 1。词元 21 在位置 0 和 2，这两行一样：
# 都只给两个 21 各 0.09，都输出 16。相同的词元得到相同的行：它只看内容。
# 换成 sinusoidal：两个 21 的行分开了，8 个全对。

# %%
self_attention.ablation_explorer(ablation)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
# The claims above, for this seed; results/sweep-positions.json holds seeds 0-4 on two CPU kernels.
reversed_keys = list(range(self_attention.SEQ_LEN - 1, -1, -1))
for name in ("sinusoidal", "learned"):
    assert ablation.accuracy[name] > 0.95
    assert ablation.mean_weights(name).argmax(dim=-1).tolist() == reversed_keys
    assert ablation.weight_on_reversed(name) > 0.9
    assert ablation.weights[name][0].argmax(dim=-1).tolist() == reversed_keys  # sequence 0
assert abs(ablation.accuracy["none"] - ablation.bound) < 0.03
assert abs(sum(accuracy["none"][-100:]) / 100 - ablation.bound) < 0.02
assert min(accuracy["sinusoidal"][-100:]) > 0.99 and min(accuracy["learned"][-100:]) > 0.99
assert ablation.mean_weights("none").max() < 0.5
assert ablation.position_scores("sinusoidal").argmax(dim=-1).tolist() == reversed_keys
assert ablation.position_scores("learned").argmax(dim=-1).tolist() == reversed_keys  # exercise 2
none1 = ablation.weights["none"][1]  # test sequence 1, as read in the text above
assert ablation.tokens[1].tolist() == [21, 20, 21, 25, 16, 5, 17, 16]
assert torch.allclose(none1[0], none1[2]) and none1[0, [0, 2]].max() < 0.1  # the two 21s
assert ablation.prediction["none"][1].tolist() == [16, 21, 16, 21, 21, 21, 21, 21]
assert 0.05 < none1.min() and none1.max() < 0.2
assert torch.equal(ablation.prediction["sinusoidal"][1], ablation.tokens[1].flip(0))  # 8/8
own, same, other = ablation.weight_by_token("none")
assert max(own, same) < 0.1 < other  # it avoids its own token, wherever it stands

# %% [markdown]
# ### 评分的四项
#
# 位置是**加**在内容上的，所以评分（记 $\mathbf{W} = \mathbf{W}_q^\top\mathbf{W}_k$）展开成四项：
#
# $$(\mathbf{x}_i + \mathbf{p}_i)^\top\mathbf{W}(\mathbf{x}_j + \mathbf{p}_j)
#   = \underbrace{\mathbf{x}_i^\top\mathbf{W}\mathbf{x}_j}_{\text{内容·内容}}
#   + \underbrace{\mathbf{x}_i^\top\mathbf{W}\mathbf{p}_j + \mathbf{p}_i^\top\mathbf{W}\mathbf{x}_j}_{\text{内容·位置}}
#   + \underbrace{\mathbf{p}_i^\top\mathbf{W}\mathbf{p}_j}_{\text{位置·位置}}.$$
#
# 在训练好的正弦网络里量每一项：键 $7-i$ 比该行平均高多少（margin）。

# %%
terms = [("content", "content"), ("content", "position"), ("position", "content"),
         ("position", "position"), ("x + p", "x + p")]
reversed_key = torch.arange(7, -1, -1)  # query i should read key 7 - i
net = ablation.nets["sinusoidal"]
scores, margins = {}, {}
with torch.no_grad():
    x = net.embedding(ablation.tokens)  # content x_j: (1000, 8, 32)
    p = net.positions(torch.zeros_like(x[:1]))  # position p_j: (1, 8, 32)
    parts = {"content": x, "position": p, "x + p": x + p}
    for a, b in terms:
        S = net.attention.W_q(parts[a]) @ net.attention.W_k(parts[b]).transpose(1, 2) / 32 ** 0.5
        scores[a, b] = S
        margins[a, b] = (S[:, torch.arange(8), reversed_key] - S.mean(dim=-1)).mean().item()
for (a, b), margin in margins.items():
    print(f"{a + ' . ' + b:22s} margin of key 7-i {margin:6.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert abs(sum(margins[t] for t in terms[:4]) - margins["x + p", "x + p"]) < 1e-6  # exact
assert margins["position", "position"] > 0.95 * margins["x + p", "x + p"] > 5
assert all(abs(margins[t]) < 0.5 for t in terms[:3])
assert torch.allclose(scores["position", "position"][0], ablation.position_scores("sinusoidal"))

# %% [markdown]
# 键 $7-i$ 的优势 15.58 里有 15.56 来自位置·位置项，其余三项都不到 0.05：读哪个键，由位置决定。
#
# ### 动手试试：手设的偏移与学出的评分
#
# 左图：$\mathbf{W}_q = \mathbf{M}_\delta$、$\mathbf{W}_k = \mathbf{I}$，评分 $\mathbf{p}_{i+\delta}^\top\mathbf{p}_j$ 按 $j$ 的 softmax。
# 起始 $\delta = 3$，峰都在 $j = i + 3$。
# 右图：上面这个网络的位置·位置项，每个查询把 0.89 到 1.00 的权重放在键 $7-i$ 上。
# 反转不是固定偏移，没有哪个 $\mathbf{M}_\delta$ 做得到；训练学出了它需要的 $\mathbf{W}_q^\top\mathbf{W}_k$。

# %%
self_attention.score_explorer(pos_encoding, scores["position", "position"][0])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
score_weights, trained_weights, score_lines = self_attention.score_states(
    pos_encoding, scores["position", "position"][0])
score_text = {r["delta"]: r["text"] for r in score_lines if r["line"] == 0}
assert all(score_text[delta].endswith(f"[{delta}]") for delta in range(0, 9))
peaks = [r["weight"] for r in score_weights
         if r["delta"] == 3 and int(r["key"]) == int(r["query"]) + 3]
assert len(peaks) == 13 and 0.41 < min(peaks) and max(peaks) < 0.59
trained_peaks = [r["weight"] for r in trained_weights if int(r["key"]) == 7 - int(r["query"])]
assert len(trained_peaks) == 8 and 0.89 <= min(trained_peaks) and max(trained_peaks) == 1.0

# %%
sweep_accuracy = self_attention.sweep_summary()  # other seeds: results/sweep-positions.json

# %% [markdown]
# 换种子：有位置编码每次 1.00；无位置的 0.2218 到 0.2266，都在上面的范围里。

# %% [markdown]
# ### 旋转位置编码
#
# 加法编码让评分多出交叉项。另一种做法：什么也不加，把位置 $i$ 的查询旋转成 $\mathbf{M}_i\mathbf{q}$、位置 $j$ 的键旋转成 $\mathbf{M}_j\mathbf{k}$。
# 因为 $\mathbf{M}_i^\top\mathbf{M}_j = \mathbf{M}_{j-i}$，评分 $\mathbf{q}^\top\mathbf{M}_{j-i}\mathbf{k}$ 只通过偏移 $j - i$ 依赖位置，没有交叉项：

# %%
torch.manual_seed(0)
q, k = torch.randn(encoding_dim, dtype=torch.float64), torch.randn(encoding_dim, dtype=torch.float64)
for i, j in ((0, 3), (10, 13), (40, 43), (13, 10)):
    score = (rotation_for_offset(i, encoding_dim) @ q) @ (rotation_for_offset(j, encoding_dim) @ k)
    print(f"i = {i:2d}, j = {j:2d}, j - i = {j - i:+d}: (M_i q) . (M_j k) = {score:.6f}")

# %% [markdown]
# 偏移 $+3$ 的三组评分相同，偏移 $-3$ 的不同：它分得出前后。这就是旋转位置编码（rotary position embedding，RoPE），
# 练习 2 把它与加法编码比较。

# %% [markdown]
# ## 小结
#
# * 同一组词元充当查询、键和值：查询和键分开投影，评分才有方向；值决定交出什么。
# * 顺序操作和最大路径长度都是 $\mathcal{O}(1)$，代价是 $n^2$ 的计算和内存。
# * 自注意力置换等变，分不出“狗咬人”和“人咬狗”。
# * 正弦编码的偏移是旋转 $\mathbf{M}_\delta$；RoPE 直接把旋转放进评分。
# * 反转实验：有位置编码 1.00，没有 0.22，即不看位置时最好猜法的期望（0.224）。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 把许多层自注意力直接叠起来会怎样？`torch.manual_seed(0)` 后建 6 个 `d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0)`，
# 输入 `torch.randn(1, 10, 32)` 加 32 维正弦编码，记录第 0 到 6 层词元两两余弦相似度的平均值：
# (a) 直接叠加 $\mathbf{X} \leftarrow \operatorname{SelfAttn}(\mathbf{X})$，`ex1_plain`；
# (b) 带残差 $\mathbf{X} \leftarrow \mathbf{X} + \operatorname{SelfAttn}(\mathbf{X})$，`ex1_residual`；
# (c) 直接叠加时每层权重的平均熵除以 $\ln 10$，`ex1_entropy`（长 6）；
# (d) 每层 $\mathbf{W}_q$ 乘 30 后直接叠加，`ex1_sharp`（长 7）。
# 坍缩来自未训练层的近似均匀平均，还是来自层数本身？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def mean_pairwise_cosine(X):
    """Mean cosine similarity over all pairs of distinct tokens of X: (1, n, d)."""
    Z = nn.functional.normalize(X[0], dim=-1)
    G = Z @ Z.T
    n = G.shape[0]
    return ((G.sum() - G.diagonal().sum()) / (n * (n - 1))).item()


def relative_entropy(weights):
    """Mean entropy of the rows of attention weights, divided by ln(number of keys)."""
    entropy = -(weights * weights.clamp_min(1e-12).log()).sum(dim=-1)
    return (entropy.mean() / math.log(weights.shape[-1])).item()


def run_stack(q_scale, residual, layer_norm=False):
    """Cosines (input + 6 layers), entropies (6 layers) and mean token norms (input + 6 layers)."""
    torch.manual_seed(0)
    stack = [d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0).eval() for _ in range(6)]
    X = PositionalEncoding(32, dropout=0).eval()(torch.randn(1, 10, 32))
    cosines, entropies, norms = [mean_pairwise_cosine(X)], [], [X.norm(dim=-1).mean().item()]
    with torch.no_grad():
        for layer in stack:
            layer.W_q.weight.mul_(q_scale)
            Y = layer(X, X, X)
            X = X + Y if residual else Y
            if layer_norm:  # rescale every token to norm sqrt(32): shrinking norms removed
                X = nn.functional.layer_norm(X, (32,))
            cosines.append(mean_pairwise_cosine(X))
            entropies.append(relative_entropy(layer.attention.attention_weights))
            norms.append(X.norm(dim=-1).mean().item())
    return cosines, entropies, norms


ex1_plain, ex1_entropy, _ = run_stack(1, residual=False)
ex1_residual, _, _ = run_stack(1, residual=True)
ex1_sharp, sharp_entropy, sharp_norms = run_stack(30, residual=False)
sharp_ln, _, sharp_ln_norms = run_stack(30, residual=False, layer_norm=True)
trained_entropy = relative_entropy(ablation.weights["sinusoidal"])
print("plain stack   :", [round(v, 2) for v in ex1_plain])
print("with residuals:", [round(v, 2) for v in ex1_residual])
print("plain, entropy / ln 10 per layer:", [round(v, 2) for v in ex1_entropy])
print("W_q x 30      :", [round(v, 2) for v in ex1_sharp])
print("W_q x 30, entropy / ln 10 per layer:", [round(v, 2) for v in sharp_entropy])
print("W_q x 30, mean token norm per layer:", [round(v, 2) for v in sharp_norms])
print("W_q x 30 + LayerNorm after each layer:", [round(v, 2) for v in sharp_ln],
      "| norms", [round(v, 2) for v in sharp_ln_norms[:3]], "...")
print(f"trained reversal layer, entropy / ln 8: {trained_entropy:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert len(ex1_plain) == 7 and len(ex1_residual) == 7 and len(ex1_sharp) == 7, \
    "one value for the input and each of 6 layers"
assert len(ex1_entropy) == 6, "one entropy per layer"
assert abs(ex1_plain[0] - ex1_residual[0]) < 1e-6, "both lists start from the same input"
assert ex1_plain[0] < 0.5, "the input tokens (random + positional encoding) are far from parallel"
assert ex1_plain[-1] > 0.99, \
    f"plain stack ends at {ex1_plain[-1]:.3f}; 6 attention layers should make the tokens parallel"
assert ex1_residual[-1] < 0.8, \
    f"residual stack ends at {ex1_residual[-1]:.3f}; residuals should keep the tokens apart"
assert ex1_entropy[0] > 0.9, "an untrained layer's weights are close to uniform"
assert ex1_sharp[1] < 0.5 < ex1_sharp[-1], "a sharp first layer keeps the tokens apart, depth not"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：**表示坍缩**，两个原因都有。未训练的层权重近乎均匀（熵 0.97），一层就把相似度从 0.28 推到 0.98。
# $\mathbf{W}_q$ 乘 30 后第 1 层很尖（熵 0.13，相似度 0.37），第 2 层的熵却已是 0.88：词元范数 6.8 → 1.93 → 0.52 → 0.15 逐层缩小（这主要来自 $\mathbf{W}_v$、$\mathbf{W}_o$ 的默认初始化把向量缩短，不是平均本身），评分随之缩小，权重变均匀。
# 每层后加 LayerNorm 保住范数，坍缩慢下来（0.37 → 0.58 → 0.78 → …），6 层后仍到 1.0：平均本身让词元相近，范数缩小（来自初始化）使它加速（**秩坍缩**，rank collapse，Dong 等人 2021）。
# 带残差时相似度只到 0.44：深层模型需要残差连接（10.7 节）。

# %% [markdown]
# ### 练习 2
#
# 实现可学习的位置编码 `LearnedPositionalEncoding(num_hiddens, max_len=1000)`：可训练参数 `P`（1，`max_len`，`num_hiddens`），小随机数初始化，
# 把前 $n$ 行加到输入上，序列过长时抛出 `ValueError`。`ex2_params`：`num_hiddens=512`、`max_len=1000` 时的参数个数。
# 它能推广到没见过的位置吗？`self_attention.train_shift(encoding)`（`encoding`：`"sinusoidal"`、`"rotary"` 或位置模块）在长度 8 上训练 $y_i = x_{i-1}$，`self_attention.shift_accuracy(net, 16)` 在长度 16 上测试。定义 `ex2_beyond`：`"learned"`、
# `"sinusoidal"` 和 `"rotary"`（RoPE）在位置 8 到 15 上的准确率；`"learned"` 用你的类 `LearnedPositionalEncoding(32, max_len=16)`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
class LearnedPositionalEncoding(nn.Module):
    """A trainable table of position vectors added to the input.

    X: (batch_size, num_steps, num_hiddens) with num_steps <= max_len. `P`: nn.Parameter of
    shape (1, max_len, num_hiddens): max_len * num_hiddens numbers, learned with the model.
    """

    def __init__(self, num_hiddens, max_len=1000):
        super().__init__()
        self.P = nn.Parameter(0.02 * torch.randn(1, max_len, num_hiddens))

    def forward(self, X):
        if X.shape[1] > self.P.shape[1]:
            raise ValueError(f"sequence length {X.shape[1]} exceeds max_len={self.P.shape[1]}: "
                             "a learned table has no row for unseen positions; use a larger max_len")
        return X + self.P[:, :X.shape[1]]


ex2_params = sum(p.numel() for p in LearnedPositionalEncoding(512, max_len=1000).parameters())
print("parameters for num_hiddens=512, max_len=1000:", ex2_params)
print("parameters of the table in the reversal model:",
      ablation.nets["learned"].positions.P.numel())
for name in ("learned", "sinusoidal"):
    print(f"reversal, {name}: query i -> key with the highest position-only score:",
          ablation.position_scores(name).argmax(dim=-1).tolist())
ex2_beyond = {}
torch.manual_seed(0)
for encoding in ("learned", "sinusoidal", "rotary"):
    positions = LearnedPositionalEncoding(32, max_len=16) if encoding == "learned" else encoding
    shift_net = self_attention.train_shift(positions)  # y_i = x_(i-1) on length-8 sequences
    trained, ex2_beyond[encoding] = self_attention.shift_accuracy(shift_net, 16)
    at_8 = self_attention.shift_accuracy(shift_net, 8)[0]
    print(f"{encoding:10s} previous token: length 8 {at_8:.2f} | length 16: positions 1-7 "
          f"{trained:.2f}, positions 8-15 {ex2_beyond[encoding]:.2f}")
    if encoding == "sinusoidal":  # which key does the position part pick on 16 positions?
        with torch.no_grad():
            P16 = shift_net.positions(torch.zeros(1, 16, 32, dtype=torch.float64))[0]
            S16 = shift_net.attention.W_q(P16) @ shift_net.attention.W_k(P16).T
        print("  position part, best key minus query for queries 1..15:",
              (S16.argmax(dim=-1) - torch.arange(16))[1:].tolist())
tokens16, _ = self_attention.shift_batch(1000, torch.Generator().manual_seed(12345), 16)
with torch.no_grad():  # shift_net is now the rotary one: where do queries 1..7 look?
    offset = shift_net.attention_weights(tokens16).argmax(dim=-1)[:, 1:8] - torch.arange(1, 8)
missed = offset[offset != -1]
print(f"  rotary, length 16, queries 1-7: most weight on key i-1 for "
      f"{(offset == -1).double().mean():.2f}; of the rest, at offsets beyond +7 (never seen in "
      f"training) {(missed > 7).double().mean():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
_pe = LearnedPositionalEncoding(16, max_len=50)
assert isinstance(_pe.P, nn.Parameter) and tuple(_pe.P.shape) == (1, 50, 16), "P: (1, max_len, d)"
assert sum(p.numel() for p in _pe.parameters()) == 50 * 16
_X = torch.randn(2, 7, 16)
assert torch.allclose(_pe(_X) - _X, _pe.P[:, :7].detach().expand(2, -1, -1), atol=1e-6), \
    "add the first n rows of P"
_pe(_X).sum().backward()
assert _pe.P.grad is not None and _pe.P.grad[:, :7].abs().sum() > 0, "P must be learnable"
try:
    _pe(torch.randn(1, 51, 16))
    raise AssertionError("a sequence longer than max_len must raise ValueError")
except ValueError:
    pass
assert ex2_params == 512 * 1000, f"ex2_params = {ex2_params}; the table has max_len x num_hiddens"
assert set(ex2_beyond) == {"learned", "sinusoidal", "rotary"}
assert ex2_beyond["learned"] < 0.1, "untrained rows: about chance (1/30)"
assert ex2_beyond["sinusoidal"] < 0.5 < ex2_beyond["rotary"], "only the offset-only scores carry over"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：表有 `max_len` × `num_hiddens` 个参数（512000；反转模型里 256），正弦编码没有参数。
# 新位置上（数字随内核略变）：表的后 8 行只是初始随机数，0.03，相当于随机猜（1/30）。
# 正弦编码有定义，却只有 0.15：训练只约束了前 8 个位置，位置部分对查询 1–7 选 $-1$，对 8–15 的选择（4、−8、−6、…）没有规律。
# RoPE 的评分只看偏移，新位置上照样 0.94；位置 1–7 降到 0.92：长度 16 时它们能看到训练没见过的偏移 $+8$ 以上，看错的全都看向这样的键。

# %% [markdown]
# ### 练习 3
#
# (a) 评分探索器里的 $\mathbf{M}_\delta$ 让查询看后面第 $\delta$ 个位置。怎样的 $\mathbf{W}_q$（$\mathbf{W}_k = \mathbf{I}$）让它看**前面**第 $\delta$ 个？写 `ex3_look_back(delta, num_hiddens)` 返回它。
# (b) 若 $\mathbf{W}_q = \mathbf{W}_k = \mathbf{M}_3$，每个查询看哪里？定义 `ex3_same`：60 个查询各自评分最高的键减去查询位置。
# 为什么查询和键要用不同的矩阵？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def ex3_look_back(delta, num_hiddens):
    """W_q with (W_q p_i) . p_j largest at j = i - delta: M_delta^T = M_(-delta), the rotation back."""
    return d2l.rotation_for_offset(delta, num_hiddens).T


def best_offsets(W_q, W_k, P):
    """For each query i: the key j with the largest (W_q p_i) . (W_k p_j), minus i."""
    scores = (P @ W_q.T) @ (P @ W_k.T).T
    return (scores.argmax(dim=-1) - torch.arange(len(P))).tolist()


back = best_offsets(ex3_look_back(3, encoding_dim), torch.eye(encoding_dim, dtype=torch.float64), P64)
M3 = rotation_for_offset(3, encoding_dim)
ex3_same = best_offsets(M3, M3, P64)
print("W_q = M_3^T, W_k = I: best key minus query for queries 0..2:", back[:3],
      " for queries 3..59:", sorted(set(back[3:])))
print("W_q = W_k = M_3: best key minus query, all 60 queries:", sorted(set(ex3_same)))
print(f"max |M_3^T M_3 - I| = {(M3.T @ M3 - torch.eye(encoding_dim, dtype=torch.float64)).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
for _delta in (1, 3, 7):
    _W = torch.as_tensor(ex3_look_back(_delta, encoding_dim), dtype=torch.float64)
    assert tuple(_W.shape) == (encoding_dim, encoding_dim)
    _best = ((P64 @ _W.T) @ P64.T).argmax(dim=-1)
    assert (_best[_delta:] == torch.arange(_delta, len(P64)) - _delta).all(), \
        f"delta = {_delta}: every query i >= delta should prefer key i - delta"
assert len(ex3_same) == 60 and set(ex3_same) == {0}, "M_3^T M_3 = I: every query prefers itself"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：(a) 往回转，$\mathbf{W}_q = \mathbf{M}_\delta^\top = \mathbf{M}_{-\delta}$：$\mathbf{M}_\delta^\top\mathbf{p}_i = \mathbf{p}_{i-\delta}$。
# 上面打印的 $i \ge 3$ 的查询全部是 $-3$。
# (b) 都看自己：$(\mathbf{M}_3\mathbf{p}_i)^\top(\mathbf{M}_3\mathbf{p}_j) = \mathbf{p}_i^\top\mathbf{p}_j$，旋转在两边抵消。
# $\mathbf{W}_q = \mathbf{W}_k$ 时评分矩阵对称，“$i$ 找 $j$”与“$j$ 找 $i$”相同；有方向的关系（“看后面第 3 个”、“bites 找 dog”）要求两者不同。

# %% [markdown]
# ### 练习 4
#
# 给无位置编码的反转模型加残差：读出层读 $\mathbf{x}_i + \operatorname{SelfAttn}(\mathbf{X})_i$。先预测：准确率会超过 0.22 吗？
# 写 `d2l.ReversalNet` 的子类 `ResidualReversalNet`（只改 `forward`），用 `self_attention.train_reversal("none", make_net=ResidualReversalNet)` 训练、
# `self_attention.evaluate_reversal(net)` 测试，定义准确率 `ex4_accuracy` 和 `ex4_share`：输出恰是“其余 7 个词元里最多的一个”的比例（用 `ablation.tokens`）。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class ResidualReversalNet(d2l.ReversalNet):
    """ReversalNet whose readout sees x_i + SelfAttn(X)_i."""

    def forward(self, tokens):
        X = self.positions(self.embedding(tokens))
        return self.readout(X + self.attention(X, X, X))


residual_net = self_attention.train_reversal("none", make_net=ResidualReversalNet)
ex4_accuracy, _, tokens, prediction = self_attention.evaluate_reversal(residual_net)
one_hot = nn.functional.one_hot(tokens, self_attention.VOCAB_SIZE)  # (1000, 8, vocab_size)
others = one_hot.sum(dim=1, keepdim=True) - one_hot  # counts of the 7 other tokens, per query
ex4_share = (others.gather(-1, prediction[..., None])[..., 0]
             == others.max(dim=-1).values).float().mean().item()
print(f"none + residual: accuracy {ex4_accuracy:.3f} (without the residual {ablation.accuracy['none']:.3f}, "
      f"expected best without positions {ablation.bound:.3f}); share of outputs that are a most frequent other token {ex4_share:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
_net = ResidualReversalNet(nn.Identity()).eval()
assert isinstance(_net, d2l.ReversalNet), "subclass d2l.ReversalNet"
_tokens = torch.randint(0, 30, (2, 8))
with torch.no_grad():
    _X = _net.embedding(_tokens)
    _want = _net.readout(_X + _net.attention(_X, _X, _X))
    assert torch.allclose(_net(_tokens), _want, atol=1e-6), "readout(x_i + SelfAttn(X)_i)"
assert torch.equal(tokens, ablation.tokens), "test on the same 1000 sequences"
assert ex4_accuracy < ablation.bound + 0.02, \
    f"accuracy {ex4_accuracy:.3f}: well above the expected best without positions {ablation.bound:.3f}"
assert ex4_share > 0.9, f"share {ex4_share:.2f}: the model should output a most frequent other token"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不会。残差只把 $\mathbf{x}_i$ 加回来，模型仍然置换等变，最好仍是猜“其余词元里最多的一个”（期望 0.224）：准确率与它相符，输出几乎总是这个词元。
# 残差治的是表示坍缩（练习 1），不是顺序。
