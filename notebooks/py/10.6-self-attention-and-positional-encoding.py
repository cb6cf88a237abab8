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
# **位置编码**（positional encoding）补上顺序。本节在一个反转任务上看没有它会怎样。$n$ 是序列长度，$d$ 是词元维度。

# %%
import math

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.explore import self_attention

# %% [markdown]
# ## 自注意力
#
# 词元 $i$ 作查询，所有词元（包括它自己）作键和值。把词元排成 $\mathbf{X} \in \mathbb{R}^{n \times d}$，
# **同一个** $\mathbf{X}$ 乘三个矩阵，再用 10.3 节的缩放点积注意力：
#
# $$\mathbf{Q} = \mathbf{X}\mathbf{W}_q^\top,\quad \mathbf{K} = \mathbf{X}\mathbf{W}_k^\top,\quad \mathbf{V} = \mathbf{X}\mathbf{W}_v^\top,\qquad
#   \mathbf{A} = \operatorname{softmax}\!\left(\frac{\mathbf{Q}\mathbf{K}^\top}{\sqrt{d}}\right)\ (\text{按行}),\qquad \mathbf{Y} = \mathbf{A}\mathbf{V}.$$
#
# 为什么要三个矩阵？在“狗咬人”（dog bites man）上看，每个词一个随机的 16 维嵌入：
# (1) 不投影；(2) 手工设置的 $\mathbf{W}_q$；(3) 随机的三个矩阵。

# %%
torch.manual_seed(0)
d_model = 16
words = ["dog", "bites", "man"]  # 狗咬人
E = torch.randn(len(words), d_model)  # one random embedding per word, in sentence order
W_q, W_k, W_v = (torch.randn(d_model, d_model) / math.sqrt(d_model) for _ in range(3))


def self_attention_weights(X, W_q, W_k, W_v):
    """X: (n, d) -> attention weights A (n, n) and outputs Y = A V (n, d)."""
    Q, K, V = X @ W_q.T, X @ W_k.T, X @ W_v.T  # queries, keys and values all come from X
    A = torch.softmax(Q @ K.T / math.sqrt(d_model), dim=-1)
    return A, A @ V


I = torch.eye(d_model)
dog, bites, man = E
basis, _ = torch.linalg.qr(torch.stack([dog, man], dim=1))
u = bites - basis @ (basis.T @ bites)  # the part of bites orthogonal to dog and man
W_find = I + 2 * torch.outer(dog, u) / u.dot(bites)  # bites -> bites + 2 dog; dog, man unchanged
A_plain, _ = self_attention_weights(E, I, I, I)
A_find, Y_find = self_attention_weights(E, W_find, I, I)
A, Y = self_attention_weights(E, W_q, W_k, W_v)
self_attention.sentence_heatmaps([A_plain, A_find, A], [words] * 3,
                                 ["(1) W_q = W_k = I", "(2) hand-set W_q", "(3) random W_q, W_k, W_v"])
d2l.plt.show()
for name, W in (("(1) W_q = I", I), ("(2) hand-set W_q", W_find)):
    print(name, "scores q_i . k_j (rows dog, bites, man):", ((E @ W.T) @ E.T).double().round(decimals=1).tolist())
print(f"(2) cos(y_bites, x_dog) = {torch.cosine_similarity(Y_find[1], dog, dim=0):.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert A_plain.argmax(dim=-1).tolist() == [0, 1, 2]  # X Xᵀ: every word attends most to itself
assert A_find.argmax(dim=-1).tolist() == [0, 0, 2] and round(A_find[1, 0].item(), 2) == 0.77
assert (A_find[[0, 2]] - A_plain[[0, 2]]).abs().max() < 1e-6  # only bites' row moves
assert [round(v, 2) for v in A[0].tolist()] == [0.40, 0.22, 0.38]

# %% [markdown]
# **(1) 不投影。** 每个词最关注自己：自身的点积（对角线 13.4、19.0、12.5）远大于与别的词的（最大 5.2）。评分矩阵对称。
#
# **(2) 只改 bites 的查询。** $\mathbf{W}_q$ 把 $\mathbf{x}_{\text{bites}}$ 变成 $\mathbf{x}_{\text{bites}} + 2\,\mathbf{x}_{\text{dog}}$，dog 和 man 不变。
# bites 对 dog 的评分从 3.0 升到 29.8，超过对自己的 25.0，权重 0.77 给了 dog。
# 查询（找什么）和键（怎样被找到）分开后，评分有了方向：bites 找 dog，dog 不找 bites。
# 这里 $\mathbf{W}_v = \mathbf{I}$，bites 取回的几乎就是 dog 被找到所用的向量（$\mathbf{y}_{\text{bites}}$ 与 $\mathbf{x}_{\text{dog}}$ 的余弦 0.95）。
# $\mathbf{W}_v$ 让“怎样被找到”（键）和“交出什么”（值）分开学。
#
# **(3) 随机投影（未训练）。** dog 一行是 0.40、0.22、0.38，
# 即 $\mathbf{y}_{\text{dog}} = 0.40\,\mathbf{v}_{\text{dog}} + 0.22\,\mathbf{v}_{\text{bites}} + 0.38\,\mathbf{v}_{\text{man}}$：每个输出一步读到整句话。
#
# 10.5 节的 `MultiHeadAttention` 把同一个张量传三次就是自注意力。换上这三个矩阵、用一个头，权重与 $\mathbf{A}$ 相同：

# %%
torch.manual_seed(0)  # for W_o, which the weights do not use
attention = d2l.MultiHeadAttention(d_model, d_model, d_model, d_model, num_heads=1, dropout=0)
with torch.no_grad():
    for projection, W in ((attention.W_q, W_q), (attention.W_k, W_k), (attention.W_v, W_v)):
        projection.weight.copy_(W)
    Y_class = attention(E[None], E[None], E[None])  # queries = keys = values
weights_gap = (attention.attention.attention_weights[0] - A).abs().max().item()
print("input:", tuple(E[None].shape), " output:", tuple(Y_class.shape),
      f" max |A - the class's attention weights| = {weights_gap:.6f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert weights_gap < 1e-6

# %% [markdown]
# ### 掩蔽自注意力
#
# 逐词生成的解码器（10.7 节）里，位置 $i$ 只能读 $0, \ldots, i$。
# 把 10.3 节 `valid_lens` 里查询 $i$ 的有效长度取 $i + 1$，就是**因果**（causal）掩蔽。把句末的 man 换成另一个词：

# %%
causal_lens = torch.arange(1, len(words) + 1)[None]  # (1, n): query i reads keys 0..i
E_other = torch.cat([E[:2], torch.randn(1, d_model, generator=torch.Generator().manual_seed(1))])
with torch.no_grad():
    Y_causal = attention(E[None], E[None], E[None], causal_lens)[0]
    A_causal = attention.attention.attention_weights[0].clone()
    Y_other = attention(E_other[None], E_other[None], E_other[None], causal_lens)[0]
self_attention.sentence_heatmaps([A, A_causal], [words] * 2, ["self-attention", "causal mask"])
d2l.plt.show()
print("per word |y(dog bites man) - y(dog bites <other word>)|:",
      "  ".join(f"{w} {g:.2f}" for w, g in zip(words, (Y_causal - Y_other).norm(dim=-1))))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(A_causal.triu(1), torch.zeros(3, 3))
assert (Y_causal - Y_other)[:2].abs().max() == 0 and (Y_causal - Y_other)[2].norm() > 0.1

# %% [markdown]
# 右图对角线以上全是 0。换掉 man 只改变 man 自己的输出，dog 和 bites 的差是 0。

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
# 图 10.6.1 三种层的连接（$n = 5$）：两层卷积（$k = 3$）后只有中间的 $\mathbf{y}_3$ 看到全部 5 个输入；循环网络要 5 步才把 $\mathbf{x}_1$ 传到 $\mathbf{h}_5$；自注意力一步读到每个词元

# %% [markdown]
# <details><summary>深入一步：逐项推导三种层的代价</summary>
#
# **卷积。** 一维卷积层有 $d$ 个输入通道、$d$ 个输出通道，核大小为 $k$。位置 $t$ 的第 $c$ 个输出通道是
#
# $$y_{t,c} = \sum_{s=0}^{k-1} \sum_{c'=1}^{d} w_{s,c,c'}\, x_{t+s-\lfloor k/2 \rfloor,\, c'},$$
#
# 一个输出分量要 $kd$ 次乘加，每个位置有 $d$ 个输出分量、共 $n$ 个位置，所以
#
# $$\text{乘加次数} = n \cdot d \cdot kd = knd^2 = \mathcal{O}(knd^2).$$
#
# 每个 $y_t$ 只依赖输入 $\mathbf{X}$，不依赖别的输出，$n$ 个位置可以同时算：顺序操作 $\mathcal{O}(1)$。
# 一层卷积让位置 $t$ 看到 $[t - \lfloor k/2 \rfloor, t + \lfloor k/2 \rfloor]$，即每叠一层，每一侧多看 $\lfloor k/2 \rfloor$ 个位置。
# 最远的一对是 $\mathbf{x}_1$ 和 $\mathbf{y}_n$（相距 $n-1$），要让 $\mathbf{y}_n$ 依赖 $\mathbf{x}_1$，需要 $L$ 层满足 $L\lfloor k/2 \rfloor \ge n-1$，即
#
# $$L = \left\lceil \frac{n-1}{\lfloor k/2 \rfloor} \right\rceil = \mathcal{O}(n/k).$$
#
# 图 10.6.1 里 $n = 5$、$k = 3$：中间的 $\mathbf{y}_3$ 两层后就同时看到了 $\mathbf{x}_1$ 和 $\mathbf{x}_5$，
# 但角上的 $\mathbf{y}_5$ 要 $\lceil 4/1 \rceil = 4$ 层才看到 $\mathbf{x}_1$。
# 注意 $k = 3$ 时这是 $n-1$ 层，和 RNN 几乎一样长；核越大越短，所以表中写 $\mathcal{O}(n/k)$。
#
# **循环神经网络。** 隐状态的更新 $\mathbf{h}_t = \phi(\mathbf{W}_{xh}\mathbf{x}_t + \mathbf{W}_{hh}\mathbf{h}_{t-1} + \mathbf{b})$
# 在每一步做两次 $d \times d$ 矩阵与向量的乘法，共 $2d^2$ 次乘加；$n$ 步合计
#
# $$\text{乘加次数} = n \cdot 2d^2 = \mathcal{O}(nd^2).$$
#
# （GRU 的两个门和候选隐状态各做两次这样的乘法，常数从 2 变成 6。）$\mathbf{h}_t$ 要等 $\mathbf{h}_{t-1}$ 算完才能开始，
# 这 $n$ 步只能一个接一个做：顺序操作 $\mathcal{O}(n)$。
# 信息从 $\mathbf{x}_1$ 传到 $\mathbf{y}_n = \mathbf{h}_n$ 要依次经过 $\mathbf{x}_1 \to \mathbf{h}_1 \to \mathbf{h}_2 \to \cdots \to \mathbf{h}_n$，
# 共 $n$ 步：最大路径长度 $n = \mathcal{O}(n)$。
#
# **自注意力。** 设 $\mathbf{Q}, \mathbf{K}, \mathbf{V} \in \mathbb{R}^{n \times d}$（它们都由 $\mathbf{X}$ 投影得到）。
# 输出 $\operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top/\sqrt{d})\,\mathbf{V}$ 分三步：
#
# $$\underbrace{\mathbf{Q}\mathbf{K}^\top}_{(n \times d)(d \times n):\ n^2 d} \quad\to\quad
#   \underbrace{\operatorname{softmax}}_{n \text{ 行，每行 } n \text{ 个数}:\ \mathcal{O}(n^2)} \quad\to\quad
#   \underbrace{\mathbf{A}\mathbf{V}}_{(n \times n)(n \times d):\ n^2 d},$$
#
# 合计 $2n^2 d + \mathcal{O}(n^2) = \mathcal{O}(n^2 d)$。
# （三个输入投影和输出投影另需 $4nd^2$ 次乘加，这与序列长度的关系和 RNN 一样是线性的；
# 表中只列注意力汇聚本身，因为随 $n$ 增长时占主导的是它。）
# 两次矩阵乘法和 softmax 的每个元素都只依赖输入，不依赖别的输出：顺序操作 $\mathcal{O}(1)$。
# 每个输出 $\mathbf{y}_i$ 直接以权重 $a_{ij}$ 读取每个 $\mathbf{x}_j$，任意两个位置之间只隔一步：
# 最大路径长度 $\mathcal{O}(1)$。
#
# 比较计算量：$n^2 d < nd^2 \iff n < d$，所以序列比表示维度短时，自注意力不比 RNN 贵；
# $n \gg d$ 时平方项占主导。
#
# </details>
#
# 取 $d = 64$、$k = 3$ 数一数（卷积 $knd^2$；GRU 每步 $6d^2$；自注意力连同投影 $2n^2d + 4nd^2$）：

# %%
d, k = 64, 3  # representation size, kernel size


def layer_costs(n):
    """Counted costs of one layer on a length-n sequence: name -> (multiply-adds,
    sequential operations, maximum path length)."""
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
# 自注意力的乘加在 $n < d$ 时比 GRU 少，$n = d$ 时相等（$6d^3 \approx 1.6 \times 10^6$），$n = 1024$ 时是 6 倍。卷积 $k = 3$ 的路径长度 $n - 1$ 和 GRU 差不多。
#
# ### 计时：$n$ 次小调用与一次大调用
#
# GRU 的第 $t$ 步要等 $\mathbf{h}_{t-1}$，只能调用 $n$ 次；自注意力把 $n$ 个位置交给一次调用。
# 在 CPU 上只用一个线程、数这个线程的 CPU 时间（共享机器上的其他进程不计入），取 5 次中最快的一次：

# %% tags=["nbval-ignore-output"]
def gru_steps(cell, X):
    """Run a GRU cell over X (batch_size, n, d) one step at a time: step t needs h_(t-1)."""
    h = torch.zeros(X.shape[0], X.shape[2], device=X.device)
    for t in range(X.shape[1]):
        h = cell(X[:, t], h)
    return h


device = d2l.try_gpu()
torch.manual_seed(0)
cell = nn.GRUCell(d, d).to(device)
layer = d2l.MultiHeadAttention(d, d, d, d, num_heads=1, dropout=0).to(device)
clock = "thread" if device.type == "cpu" else "wall"
print(f"device: {device}, threads: 1, clock: {clock}")
timing_lengths, gru_s, attention_s = [16, 32, 64, 128, 256, 512, 1024], [], []
for n in timing_lengths:
    X = torch.randn(1, n, d, device=device)
    g, a = self_attention.wall_clock([lambda X: gru_steps(cell, X), lambda X: layer(X, X, X)],
                                     X, reduce="min", clock=clock)
    gru_s.append(g)
    attention_s.append(a)
d2l.plot(timing_lengths, [gru_s, attention_s], xlabel="sequence length n", ylabel="seconds",
         legend=["GRU, n calls", "self-attention, 1 call"], xscale="log", yscale="log",
         figsize=(4.5, 3))
d2l.plt.show()
for n, g, a in zip(timing_lengths[-1:], gru_s[-1:], attention_s[-1:]):
    gru_macs, attention_macs = layer_costs(n)["RNN (GRU)"][0], layer_costs(n)["self-attention"][0]
    print(f"n = {n}: GRU {1e3 * g:.1f} ms = {1e3 * g / n:.3f} ms per step, "
          f"{gru_macs / g:.1e} multiply-adds/s | "
          f"self-attention {1e3 * a:.1f} ms, {attention_macs / a:.1e} multiply-adds/s")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
calls = []
hook = cell.register_forward_hook(lambda *args: calls.append(1))
with torch.no_grad():
    h_last = gru_steps(cell, X)
hook.remove()
assert len(calls) == X.shape[1] == 1024 and tuple(h_last.shape) == (1, d)
at_1024 = layer_costs(1024)
assert at_1024["self-attention"][0] == 6 * at_1024["RNN (GRU)"][0]

# %% [markdown]
# 对数坐标下 GRU 是斜率 1 的直线，每步约 0.05 ms，却只有 $6d^2 \approx 2.5 \times 10^4$ 次乘加：每秒约 $5 \times 10^8$ 次，自注意力约 $2 \times 10^{10}$ 次。
# 差距是 $n$ 次调用各自的固定开销（Python 和算子调度），不是并行：只有一个线程。在 GPU 上，一次调用里的乘法还会并行。
# 自注意力的曲线在 $n$ 大时变陡：平方项开始占主导。它还要为反向传播保存 $n \times n$ 的 $\mathbf{A}$：

# %%
memory = self_attention.memory_table(d=64, k=3, lengths=(256, 512, 1024, 2048))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
square, rest = memory["self-attention"][-1]
assert square == 2048 * 2048 * 4 and rest < square / 4
assert all(sum(b[-1]) / sum(b[-2]) < 2.3 for name, b in memory.items() if name != "self-attention")

# %% [markdown]
# 卷积和 GRU 每翻一倍乘不到 2；$\mathbf{A}$ 每翻一倍乘 4（$n = 2048$ 时 16 MiB）。

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
A_swapped, Y_swapped = self_attention_weights(E[perm], W_q, W_k, W_v)
self_attention.sentence_heatmaps([A, A_swapped], [words, swapped],
                                 ["dog bites man: A", "man bites dog: A'"])
d2l.plt.show()
print(f"max |A' - Π A Πᵀ| = {(A_swapped - A[perm][:, perm]).abs().max():.6f}, "
      f"max |Y' - Π Y| = {(Y_swapped - Y[perm]).abs().max():.6f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (A_swapped - A[perm][:, perm]).abs().max() < 5e-7 and (Y_swapped - Y[perm]).abs().max() < 5e-7

# %% [markdown]
# 两幅图里 dog 那一行都是“dog 0.40、bites 0.22、man 0.38”，只是换了位置；每个词的输出也不变（差为 0）：模型分不出谁咬谁。
#
# ### 正弦位置编码
#
# 对输入 $\mathbf{X} \in \mathbb{R}^{n \times d}$，构造同形状的 $\mathbf{P}$，输出 $\mathbf{X} + \mathbf{P}$，其中
#
# $$p_{i, 2m} = \sin(i\,\omega_m), \qquad p_{i, 2m+1} = \cos(i\,\omega_m), \qquad
#   \omega_m = 10000^{-2m/d}, \quad m = 0, \ldots, d/2 - 1.$$
#
# 行 $i$ 是位置，第 $m$ 对列是以角频率 $\omega_m$ 旋转的单位向量（$\omega_0 = 1$，之后几何递减）。编码是**加**上去的。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的频率下标写作 $j$；这里写作 $m$（$k$ 留给卷积核大小）。
# * 书中用 float32 计算角度 $i\,\omega_m$；这里用 float64 算好再转成 float32。用 float32 算时（$d = 32$），前 1000 个位置的角度最多差约 $3 \times 10^{-5}$ rad。
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
        d2l.check_even(num_hiddens, "num_hiddens", "columns come in sine/cosine pairs")
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        pair = torch.arange(num_hiddens // 2, dtype=torch.float64)
        omega = torch.exp(-math.log(10000.0) * 2 * pair / num_hiddens)  # (num_hiddens / 2,)
        theta = torch.outer(torch.arange(max_len, dtype=torch.float64), omega)
        # (max_len, num_hiddens / 2, 2) -> (max_len, num_hiddens): sin to column 2m, cos to 2m + 1
        P = torch.stack((theta.sin(), theta.cos()), dim=-1).flatten(start_dim=1)
        self.register_buffer("P", P.unsqueeze(0).float(), persistent=False)

    def forward(self, X):
        d2l.check_shape(X, "X", "(batch_size, num_steps, num_hiddens)",
                        num_hiddens=self.num_hiddens)
        d2l.check_at_most(X.shape[1], self.max_len, "sequence length", "max_len",
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
# 把 16 维的位置编码加到“狗咬人”和“人咬狗”的嵌入上，再算一遍：

# %%
pe16 = PositionalEncoding(d_model, dropout=0).eval()
A_pe, Y_pe = self_attention_weights(pe16(E[None])[0], W_q, W_k, W_v)
A_swapped_pe, Y_swapped_pe = self_attention_weights(pe16(E[perm][None])[0], W_q, W_k, W_v)
self_attention.sentence_heatmaps([A_pe, A_swapped_pe], [words, swapped],
                                 ["dog bites man + P", "man bites dog + P"])
d2l.plt.show()
output_gap = (Y_pe - Y_swapped_pe[perm]).norm(dim=-1)  # per word, in the order dog, bites, man
print(f"max |A' - Π A Πᵀ| = {(A_swapped_pe - A_pe[perm][:, perm]).abs().max():.2f}")
print("per word |y(dog bites man) - y(man bites dog)|:",
      "  ".join(f"{w} {g:.2f}" for w, g in zip(words, output_gap)),
      f"  (|y| is about {Y_pe.norm(dim=-1).mean():.1f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (A_swapped_pe - A_pe[perm][:, perm]).abs().max() > 0.2
relative_gap = output_gap / Y_pe.norm(dim=-1)  # dog, bites, man: about 0.13, 0.08, 0.25
assert (0.07 < relative_gap).all() and (relative_gap < 0.26).all()

# %% [markdown]
# 右图不再是左图的重排：man 给 dog 的权重从 0.61 变成 0.84；三个词的输出都变了，是输出长度（约 5.3）的 8% 到 25%。
# 层没有训练，这些差别是随机的，但不再是零。
#
# 编码本身：第 6、7 列是 $m = 3$ 对，第 8、9 列是 $m = 4$ 对；同一对的两列相差四分之一周期，$m$ 越大周期越长。

# %%
d2l.plot(torch.arange(num_steps), P[0, :, 6:10].T, xlabel="Row (position)",
         figsize=(6, 2.5), legend=[f"Col {c}" for c in range(6, 10)])
ax = d2l.plt.gca()
ax.legend(ax.get_lines(), [f"Col {c}" for c in range(6, 10)], loc="lower center",
          bbox_to_anchor=(0.5, 1.0), fontsize=7, ncol=4, frameon=False)
d2l.plt.show()

# %% [markdown]
# ### 绝对位置信息
#
# 像二进制计数（低位翻转快、高位慢），频率沿维度递减。热图左半是 16 个正弦列、右半是 16 个余弦列，各按 $m$ 频率递减；0 为白。
# 每半的前几列随位置快速正负交替；$m \ge 10$ 的列在这 60 个位置上几乎不变（正弦近 0，余弦近 1）。

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
# 偏移是只依赖 $\delta$、不依赖 $i$ 的线性变换。数值验证（float64）：

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
# 拖动 $i$：两点一起移动，夹角不变。$\delta = 20$ 时 $m = 2$ 转了 6.32 rad，两点几乎重合：要几对频率不同的列合起来才分得出偏移。

# %%
self_attention.rotation(pos_encoding, num_steps)

# %% [markdown]
# ### 动手试试：评分里的位置部分
#
# 每对列贡献 $\sin i\omega_m \sin j\omega_m + \cos i\omega_m \cos j\omega_m = \cos((i-j)\omega_m)$，所以
#
# $$\mathbf{p}_i^\top \mathbf{p}_j = \sum_{m=0}^{d/2-1} \cos\big((i-j)\,\omega_m\big)$$
#
# 只依赖距离，在 $i = j$ 处最大（$d/2 = 16$），分不出前后，而且**不**随距离单调：

# %%
gram = P64 @ P64.T  # gram[i, j] = p_i . p_j
print("p_20 . p_j:", "  ".join(f"j = {j} (distance {abs(j - 20)}): {gram[20, j]:.1f}"
                                for j in (20, 48, 52, 4, 1)))

# %% [markdown]
# 注意力用的是 $(\mathbf{W}_q\mathbf{p}_i)^\top(\mathbf{W}_k\mathbf{p}_j)$。取 $\mathbf{W}_k = \mathbf{I}$、$\mathbf{W}_q = \mathbf{M}_\delta$，
# 评分成了 $\mathbf{p}_{i+\delta}^\top\mathbf{p}_j$，每个查询都在 $j = i + \delta$ 处最高。
# 探索器左图画出 16 个位置上的 $\operatorname{softmax}_j\big((\mathbf{M}_\delta\mathbf{p}_i)^\top\mathbf{p}_j\big)$，右图换成随机的 $\mathbf{W}_q$。
# 起始 $\delta = 3$：峰都落在 $j = i + 3$（0.42 到 0.58）。把 $\delta$ 拖到负值，查询就看它之前的键（练习 3 用到）。
# 右图没有对角线，权重堆在键 12、13 附近：相对偏移是**可以学到的**，不是自动得到的。

# %%
self_attention.score_explorer(pos_encoding)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
score_weights, random_weights, score_lines = self_attention.score_states(pos_encoding)
score_text = {r["delta"]: r["text"] for r in score_lines}
assert all(score_text[delta].endswith(f"[{delta}]") for delta in range(-8, 9))
random_best = {max(range(16), key=lambda j: next(r["weight"] for r in random_weights
                                                 if r["query"] == str(i) and r["key"] == str(j)))
               for i in range(16)}
assert random_best <= {12, 13, 14}, random_best
peaks = [r["weight"] for r in score_weights if r["delta"] == 3 and int(r["key"]) == int(r["query"]) + 3]
assert len(peaks) == 13 and 0.41 < min(peaks) and max(peaks) < 0.59
assert [round(gram[20, j].item(), 1) for j in (48, 52, 4, 1)] == [6.0, 9.6, 7.9, 10.6]

# %% [markdown]
# 更直接的做法：把位置 $i$ 的查询旋转成 $\mathbf{M}_i\mathbf{q}$、位置 $j$ 的键旋转成 $\mathbf{M}_j\mathbf{k}$。
# 因为 $\mathbf{M}_i^\top\mathbf{M}_j = \mathbf{M}_{j-i}$，评分 $\mathbf{q}^\top\mathbf{M}_{j-i}\mathbf{k}$ 只取决于偏移 $j - i$：

# %%
torch.manual_seed(0)
q, k = torch.randn(encoding_dim, dtype=torch.float64), torch.randn(encoding_dim, dtype=torch.float64)
for i, j in ((0, 3), (10, 13), (40, 43), (13, 10)):
    score = (rotation_for_offset(i, encoding_dim) @ q) @ (rotation_for_offset(j, encoding_dim) @ k)
    print(f"i = {i:2d}, j = {j:2d}, j - i = {j - i:+d}: (M_i q) . (M_j k) = {score:.6f}")

# %% [markdown]
# 偏移 $+3$ 的三组评分相同，偏移 $-3$ 的不同：它分得出前后。这就是旋转位置编码（rotary position embedding，RoPE），
# 许多大语言模型用它；练习 2 把它与加法编码比较，10.7 节把它写成函数。

# %% [markdown]
# ## 实验：没有位置编码会怎样——反转序列
#
# 输入 $n = 8$ 个随机词元 $x_0, \ldots, x_7$（词表大小 30），要求输出 $y_i = x_{7-i}$。
# 模型：32 维词元嵌入加位置信息，**一个**单头自注意力层，一个线性读出层。没有残差连接，
# 位置 $i$ 只能通过 $a_{ij}$ 读到位置 $j$：查询 $i$ 必须看键 $7-i$。
# 训练三次，只换位置信息：正弦编码、可学习的编码（一张 $8 \times 32$ 的可训练表，练习 2 实现它）、不加（`nn.Identity`）；
# 同样的种子和批量（Adam，400 步，每批 64 条），同样的 1000 条测试序列。

# %%
#@save
class ReversalNet(nn.Module):
    """tokens (batch_size, n) -> logits (batch_size, n, vocab_size): token embedding plus
    position information -> one single-head self-attention layer -> linear readout.
    No residual connection: output i reads token j only through the attention weight a_ij."""

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
# Train one ReversalNet per encoding (the loop: self_attention.train_reversal) and test each
# on the same 1000 sequences: accuracy and attention weights
ablation = self_attention.train_ablation(("sinusoidal", "learned", "none"))
print(ablation.table())
print(f"none: accuracy {ablation.accuracy['none']:.3f}; "
      f"best expected accuracy without positions (see below): {ablation.bound:.3f}")

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
# 三幅图是 1000 条测试序列上的平均权重。正弦和可学习的编码都学出了**反对角线**：查询 $i$ 把 0.98 和 1.00 的权重放在键 $7-i$ 上，准确率 1.00。
# 没有位置编码时，每行把权重大致平摊在其余 7 个键上，准确率 0.22。
#
# 0.22 是不看位置所能做到的最好：没有位置，输出 $i$ 只取决于 $x_i$ 和序列里有哪些词元（多重集）。
# 目标等可能是其余 7 个词元中的任一个，最好是输出其中出现最多的那个，猜对的概率是它的次数除以 7。
# 它在 1000 条测试序列上的平均就是 0.220；模型的 0.223 与它的差在抽样误差（约 0.005）之内。
#
# 探索器逐条看（每行是“位置: 词元 → 输出”），打开在 none 的测试序列 0：8 个词元各不相同，权重摊在 0.07 到 0.15 之间，
# 8 个输出对了 3 个。换成 sinusoidal 或 learned，权重落在反对角线上；拖动测试序列（$-1$ 是平均）再看几条。

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
assert ablation.mean_weights("none").max() < 0.5
assert ablation.position_scores("sinusoidal").argmax(dim=-1).tolist() == reversed_keys
assert ablation.position_scores("learned").argmax(dim=-1).tolist() == reversed_keys  # exercise 2
none0 = ablation.weights["none"][0]  # test sequence 0, as read in the text above
assert len(set(ablation.tokens[0].tolist())) == 8
assert 0.05 < none0.min() and none0.max() < 0.2
assert (ablation.prediction["none"][0] == ablation.tokens[0].flip(0)).sum() == 3

# %% [markdown]
# 训练好的 $\mathbf{W}_q$、$\mathbf{W}_k$ 走的是“位置部分之积”那条路吗？只把正弦编码送进它们，看每个查询评分最高的键：

# %%
position_scores = ablation.position_scores("sinusoidal")  # (W_q p_i) . (W_k p_j) / sqrt(d)
print("query i -> key with the highest position-only score:",
      position_scores.argmax(dim=-1).tolist())

# %% [markdown]
# 正是 $7, 6, \ldots, 0$。种子 0–4、两种 CPU 内核（`results/sweep-positions.json`）：

# %%
sweep_accuracy = self_attention.sweep_summary()

# %% [markdown]
# 有位置编码每次都是 1.00，无位置每次都在 0.22 附近。

# %% [markdown]
# ## 小结
#
# * 自注意力里同一组词元充当查询、键和值；查询和键分开投影，评分才有方向。
# * 顺序操作和最大路径长度都是 $\mathcal{O}(1)$：一次调用代替 $n$ 次；代价是 $n^2$ 的计算和内存。
# * 自注意力是置换等变的：没有位置编码，“人咬狗”与“狗咬人”每个词的输出相同。
# * 正弦编码的偏移 $\delta$ 是旋转 $\mathbf{M}_\delta$；相对位置要靠 $\mathbf{W}_q$、$\mathbf{W}_k$ 学出来，RoPE 直接把旋转放进评分。
# * 反转实验：有位置编码准确率 1.00；没有只有 0.22，正是不看位置所能做到的最好。

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


def run_stack(q_scale, residual):
    torch.manual_seed(0)
    stack = [d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0).eval() for _ in range(6)]
    X = PositionalEncoding(32, dropout=0).eval()(torch.randn(1, 10, 32))
    cosines, entropies = [mean_pairwise_cosine(X)], []
    with torch.no_grad():
        for layer in stack:
            layer.W_q.weight.mul_(q_scale)
            Y = layer(X, X, X)
            X = X + Y if residual else Y
            cosines.append(mean_pairwise_cosine(X))
            entropies.append(relative_entropy(layer.attention.attention_weights))
    return cosines, entropies


ex1_plain, ex1_entropy = run_stack(1, residual=False)
ex1_residual, _ = run_stack(1, residual=True)
ex1_sharp, sharp_entropy = run_stack(30, residual=False)
trained_entropy = relative_entropy(ablation.weights["sinusoidal"])
print("plain stack   :", [round(v, 2) for v in ex1_plain])
print("with residuals:", [round(v, 2) for v in ex1_residual])
print("plain, entropy / ln 10 per layer:", [round(v, 2) for v in ex1_entropy])
print("W_q x 30      :", [round(v, 2) for v in ex1_sharp])
print("W_q x 30, entropy / ln 10 per layer:", [round(v, 2) for v in sharp_entropy])
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
# 参考答案：**表示坍缩**，有两个原因。未训练的层权重接近均匀（熵是最大值的 0.97），一层就把相似度从 0.28 推到 0.98；
# 训练好的反转层的熵只有 0.05。但 $\mathbf{W}_q$ 乘 30 后（熵 0.13），相似度仍是 0.37 → 0.91 → 1.0：每层都是凸组合，
# 词元越相近，下一层的权重越均匀，坍缩随深度自我加速。这是 Dong 等人（2021）的**秩坍缩**（rank collapse）；
# 带残差时相似度只到 0.44，所以深层模型需要残差连接（10.7 节）。

# %% [markdown]
# ### 练习 2
#
# 实现可学习的位置编码 `LearnedPositionalEncoding(num_hiddens, max_len=1000)`：可训练参数 `P`（1，`max_len`，`num_hiddens`），小随机数初始化，
# 把前 $n$ 行加到输入上，序列过长时抛出 `ValueError`。`ex2_params`：`num_hiddens=512`、`max_len=1000` 时的参数个数。
# 它能推广到没见过的位置吗？`self_attention.train_shift(encoding)` 在长度 8 上训练 $y_i = x_{i-1}$，`self_attention.shift_accuracy(net, 16)` 在长度 16 上测试。定义 `ex2_beyond`：`"learned"`（表有 16 行，后 8 行从未训练）、
# `"sinusoidal"` 和 `"rotary"`（RoPE）在位置 8 到 15 上的准确率。

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
print("learned table, query i -> key with the highest position-only score:",
      ablation.position_scores("learned").argmax(dim=-1).tolist())
ex2_beyond = {}
for encoding in ("learned", "sinusoidal", "rotary"):
    shift_net = self_attention.train_shift(encoding)  # y_i = x_(i-1) on length-8 sequences
    trained, ex2_beyond[encoding] = self_attention.shift_accuracy(shift_net, 16)
    print(f"{encoding:10s} previous token, length 16: positions 1-7 {trained:.2f}, "
          f"positions 8-15 {ex2_beyond[encoding]:.2f}")

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
# 参考答案：表有 `max_len` × `num_hiddens` 个参数（512000 个；反转模型里 256 个），正弦编码没有参数。
# 在反转任务上它学到的与正弦编码一样：查询 $i$ 位置部分评分最高的键正是 $7, \ldots, 0$。
# 没见过的位置上（上面最后三行），表的后 8 行只是初始随机数，准确率 0.04，与随机猜（1/30）相当；
# 正弦编码对任何位置都有定义，却也只有 0.15（这次运行；这几行随 CPU 内核略有变化）：有定义不等于能用，训练只在前 8 个位置上约束了 $\mathbf{W}_q$、$\mathbf{W}_k$。
# RoPE 的评分只取决于偏移 $j - i$，“看前一个”在新位置上照样成立：0.93。

# %% [markdown]
# ### 练习 3
#
# (a) 怎样的 $\mathbf{W}_q$（$\mathbf{W}_k = \mathbf{I}$）让每个查询看**前面**第 $\delta$ 个位置（先在评分探索器里把 $\delta$ 拖到 $-3$）？写 `ex3_look_back(delta, num_hiddens)` 返回它，
# 用 60 个位置的 `P64` 验证：对 $i \ge \delta$，评分最高的键是 $i - \delta$。
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
# 上面打印的 $i \ge 3$ 的查询全部是 $-3$；前 3 个查询没有第 $i - 3$ 个键。
# (b) 都看自己：$(\mathbf{M}_3\mathbf{p}_i)^\top(\mathbf{M}_3\mathbf{p}_j) = \mathbf{p}_i^\top\mathbf{p}_j$，旋转在两边抵消（误差 $10^{-16}$ 量级）。
# $\mathbf{W}_q = \mathbf{W}_k$ 时评分矩阵对称，“$i$ 找 $j$”与“$j$ 找 $i$”相同；要表达“看后面第 3 个”或“bites 找 dog”这样有方向的关系，两者必须不同。

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
      f"bound {ablation.bound:.3f}); share of outputs that are a most frequent other token {ex4_share:.2f}")

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
    f"accuracy {ex4_accuracy:.3f}: without positions no model can beat the bound {ablation.bound:.3f}"
assert ex4_share > 0.9, f"share {ex4_share:.2f}: the model should output a most frequent other token"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不会。残差只把 $\mathbf{x}_i$ 加回来，模型仍然置换等变，0.22 的上界照样成立：准确率仍贴着上界，输出几乎总是“其余词元里最多的一个”。
# 残差解决的是深层的表示坍缩（练习 1），不是顺序；顺序只能来自位置编码或 RoPE。
