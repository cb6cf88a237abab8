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
# 到目前为止，查询来自一处（例如解码器），键和值来自另一处（例如编码器）。
# 让**同一组词元**同时充当查询、键和值，每个词元就能直接读取序列里的所有词元，
# 这就是**自注意力**（self-attention）。本节先在一句话上看自注意力算了什么，
# 再推导它与卷积神经网络、循环神经网络相比的代价；然后看到它分不出词序，
# 用**位置编码**（positional encoding）把顺序补回来；最后训练一层自注意力把序列反转，
# 比较有无位置编码时它学到的注意力。本节的 $n$ 始终表示序列长度，$d$ 表示每个词元的维度。

# %%
import math

import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.explore import self_attention

# %% [markdown]
# ## 自注意力
#
# 给定输入序列 $\mathbf{x}_1, \ldots, \mathbf{x}_n$（每个 $\mathbf{x}_i \in \mathbb{R}^d$），
# 自注意力输出同样长度的序列 $\mathbf{y}_1, \ldots, \mathbf{y}_n$：
#
# $$\mathbf{y}_i = f\big(\mathbf{x}_i, (\mathbf{x}_1, \mathbf{x}_1), \ldots, (\mathbf{x}_n, \mathbf{x}_n)\big) \in \mathbb{R}^d,$$
#
# 其中 $f$ 是 10.1 节的注意力汇聚：第 $i$ 个词元作查询，所有词元（包括它自己）作键和值。
# 把 $n$ 个词元排成矩阵 $\mathbf{X} \in \mathbb{R}^{n \times d}$，**同一个** $\mathbf{X}$ 乘三个矩阵得到查询、键和值，
# 再用 10.3 节的缩放点积注意力：
#
# $$\mathbf{Q} = \mathbf{X}\mathbf{W}_q^\top,\quad \mathbf{K} = \mathbf{X}\mathbf{W}_k^\top,\quad \mathbf{V} = \mathbf{X}\mathbf{W}_v^\top,\qquad
#   \mathbf{A} = \operatorname{softmax}\!\left(\frac{\mathbf{Q}\mathbf{K}^\top}{\sqrt{d}}\right)\ (\text{按行}),\qquad \mathbf{Y} = \mathbf{A}\mathbf{V}.$$
#
# 为什么要三个矩阵？在一句话上比较：“狗咬人”（dog bites man）的三个词各取一个随机的 16 维嵌入。
# 下面三幅图依次是：(1) 不投影，$\mathbf{W}_q = \mathbf{W}_k = \mathbf{I}$，评分就是 $\mathbf{X}\mathbf{X}^\top/\sqrt{d}$；
# (2) $\mathbf{W}_k = \mathbf{I}$，手工设置 $\mathbf{W}_q$，让 bites 的查询指向 dog 的嵌入（专为这两个随机嵌入造的，见图下）；
# (3) 随机的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{W}_v$（还没有训练）。

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
dog, bites = E[0], E[1]
W_find = I + 2 * torch.outer(dog, bites) / bites.dot(bites)  # W_find @ bites = bites + 2 dog
A_plain, _ = self_attention_weights(E, I, I, I)
A_find, _ = self_attention_weights(E, W_find, I, I)
A, Y = self_attention_weights(E, W_q, W_k, W_v)
self_attention.sentence_heatmaps([A_plain, A_find, A], [words] * 3,
                                 ["W_q = W_k = I", "hand-set W_q", "random W_q, W_k, W_v"])
d2l.plt.show()
S = E @ E.T
print(f"X Xᵀ: max |S - Sᵀ| = {(S - S.T).abs().max():.1f}, diagonal {S.diagonal().round().tolist()}, "
      f"largest off-diagonal {(S - S.diagonal().diag()).max():.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert A_plain.argmax(dim=-1).tolist() == [0, 1, 2]  # X Xᵀ: every word attends most to itself
assert A_find.argmax(dim=-1).tolist() == [0, 0, 2] and round(A_find[1, 0].item(), 2) == 0.77
assert [round(v, 2) for v in A[0].tolist()] == [0.40, 0.22, 0.38]

# %% [markdown]
# 每行是一个词作查询时分给三个键的权重，每行和为 1。
# (1) 不投影时，每个词都最关注自己：$\mathbf{x}_i^\top\mathbf{x}_i = \|\mathbf{x}_i\|^2$（13、19、12）远大于与别的词的点积（最大 5.2）。
# 评分矩阵 $\mathbf{S} = \mathbf{X}\mathbf{X}^\top$ 是对称的（打印的 $\max|\mathbf{S} - \mathbf{S}^\top| = 0$）：dog 对 bites 的评分等于 bites 对 dog 的评分（点积都约为 3）。
# 图中的**权重**却不对称：dog 给 bites 0.07，bites 给 dog 只有 0.02。这是按行 softmax 造成的：每一行只在自己的行内归一化，
# bites 的自身评分（19）比 dog 的（13）大，它那一行被自己占得更满，分给 dog 的就更少。
# 所以对称的评分也会得到不对称的权重，但这种不对称只来自各行的归一化不同，并不是 bites 在“找” dog。
# (2) 查询和键分开投影后，评分 $\mathbf{x}_i^\top\mathbf{W}_q^\top\mathbf{W}_k\mathbf{x}_j$ 本身就可以不对称。
# 这里的 $\mathbf{W}_q = \mathbf{I} + 2\,\mathbf{x}_{\text{dog}}\mathbf{x}_{\text{bites}}^\top/\|\mathbf{x}_{\text{bites}}\|^2$ 把 bites 的查询变成 $\mathbf{x}_{\text{bites}} + 2\,\mathbf{x}_{\text{dog}}$：
# 它对 dog 的评分从约 3 升到约 $3 + 2 \times 13 \approx 30$，超过对自己的约 $19 + 2 \times 3 = 25$，于是 bites 把 0.77 的权重给了 dog；
# 同一个矩阵也改了别的词的查询：dog 的查询变成约 $1.31\,\mathbf{x}_{\text{dog}}$（多出的 $2\,\mathbf{x}_{\text{dog}}\cdot 3/19$ 仍沿 dog 的方向），只是更专注地看自己（0.90 → 0.95）；
# man 的查询也多了一点 dog 的方向，给 dog 的权重从 0.04 升到 0.19。投影作用在每个词上，改一处会牵动别处。
# 这个矩阵是对着这两个随机嵌入手工造的，不是一条“动词找主语”的通用规则；训练要做的，正是从数据里学出这类有方向的投影。
# “我在找什么”（查询）和“我能被怎样找到”（键）成了两件事，$\mathbf{W}_v$ 再决定被读出的是什么；训练学的就是这三个矩阵。
# (3) 随机矩阵下的权重还没有意义，但计算是一样的：dog 那一行是 0.40、0.22、0.38，
# 所以 $\mathbf{y}_{\text{dog}} = 0.40\,\mathbf{v}_{\text{dog}} + 0.22\,\mathbf{v}_{\text{bites}} + 0.38\,\mathbf{v}_{\text{man}}$：
# 每个输出都一步读到了整句话。
#
# 10.5 节的多头注意力做的正是这件事（另外分了头、多一个输出投影 $\mathbf{W}_o$）：自注意力就是把同一个张量作为查询、键和值传三次。
# 把它的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{W}_v$ 换成上面三个随机矩阵，用一个头，它的注意力权重就是 $\mathbf{A}$；
# 输入形状为（批量大小，$n$，`num_hiddens`），输出形状与输入相同：

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
# ## 比较卷积神经网络、循环神经网络和自注意力
#
# 把长度为 $n$、每个词元 $d$ 维的序列映射成另一个同样形状的序列，有三种常见做法。
# 比较三个指标：**计算复杂度**（一层的乘加次数）、**顺序操作**（sequential operations，
# 必须一个接一个完成、无法并行的步骤数）和**最大路径长度**（maximum path length：
# 对所有输入位置 $s$ 和输出位置 $t$，取信息从 $\mathbf{x}_s$ 到达 $\mathbf{y}_t$ 最少要经过的步数（一层或一次递推算一步），
# 再取其中最大的；越短越容易学到远距离依赖）。结论如下（逐项推导在图 10.6.1 后的折叠段落里）：
#
# | 层 | 计算复杂度 | 顺序操作 | 最大路径长度 |
# | --- | --- | --- | --- |
# | 卷积（CNN，核大小 $k$） | $\mathcal{O}(knd^2)$ | $\mathcal{O}(1)$ | $\mathcal{O}(n/k)$ |
# | 循环（RNN） | $\mathcal{O}(nd^2)$ | $\mathcal{O}(n)$ | $\mathcal{O}(n)$ |
# | 自注意力 | $\mathcal{O}(n^2d)$ | $\mathcal{O}(1)$ | $\mathcal{O}(1)$ |

# %% [markdown]
# ![CNN, RNN and self-attention: connectivity and path length](figures/10.6-cnn-rnn-self-attention.svg)
#
# 图 10.6.1 比较卷积神经网络（核大小 $k$）、循环神经网络和自注意力：最大路径长度分别为 $O(n/k)$、$O(n)$、$O(1)$，顺序操作数分别为 $O(1)$、$O(n)$、$O(1)$

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
# 渐近记号藏起了常数。取 $d = 64$、$k = 3$，数出每种层的三个量
# （卷积 $knd^2$；RNN 用 GRU，每步 $6d^2$；自注意力连同投影共 $2n^2d + 4nd^2$）。这是数出来的，不是计时。

# %%
d, k = 64, 3  # representation size, kernel size


def layer_costs(n):
    """Counted costs of one layer on a length-n sequence: name -> (multiply-adds,
    sequential operations, maximum path length)."""
    return {"CNN (k=3)": (k * n * d * d, 1, math.ceil((n - 1) / (k // 2))),
            "RNN (GRU)": (6 * n * d * d, n, n),
            "self-attention": (2 * n * n * d + 4 * n * d * d, 1, 1)}


lengths = [16, 64, 256, 4096]
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
# * **乘加次数**：卷积和 GRU 随 $n$ 线性增长，卷积（$3nd^2$）始终最便宜。
#   自注意力在 $n < d$ 时由线性的投影项 $4nd^2$ 主导，比 GRU 便宜；在 $n = d = 64$ 处两者恰好相等
#   （都是 $6d^3 \approx 1.6 \times 10^6$）；之后 $2n^2d$ 占主导，$n = 4096$ 时已是 GRU 的 20 多倍。
#
# 自注意力还要为反向传播保存 $n \times n$ 的注意力权重，**内存**也随 $n^2$ 增长。
# 下面数出每种层一次前向传播为反向传播保存的字节数（自注意力拆成 $n \times n$ 的张量和其余部分）：

# %%
memory = self_attention.memory_table(d=64, k=3, lengths=(256, 512, 1024, 2048))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
square, rest = memory["self-attention"][-1]
assert square == 2048 * 2048 * 4 and rest < square / 4
assert all(sum(b[-1]) / sum(b[-2]) < 2.3 for name, b in memory.items() if name != "self-attention")

# %% [markdown]
# 卷积和 GRU 每翻一倍乘不到 2（线性增长）。自注意力保存的唯一一个 $n \times n$ 张量是 softmax 的输出 $\mathbf{A}$：
# 它每翻一倍正好乘 4（$n = 2048$ 时 16 MiB），总数的倍数从 2.70 升到 3.49，并继续趋近 4。
# FlashAttention 一类的实现不保存 $\mathbf{A}$、在反向传播时分块重算，内存只随 $n$ 线性增长，但 $\mathcal{O}(n^2 d)$ 的计算量省不掉。

# %% [markdown]
# ## 位置编码
#
# ### 自注意力分不出先后：置换等变
#
# 回到开头的矩阵形式 $\mathbf{A} = \operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top / \sqrt{d})$、$\mathbf{Y} = \mathbf{A}\mathbf{V}$
# （多头时每个头都如此，再乘 $\mathbf{W}_o$）。用置换矩阵 $\boldsymbol{\Pi}$ 打乱词元的顺序，输入变成 $\boldsymbol{\Pi}\mathbf{X}$，于是
# $\mathbf{Q}' = \boldsymbol{\Pi}\mathbf{Q}$、$\mathbf{K}' = \boldsymbol{\Pi}\mathbf{K}$、$\mathbf{V}' = \boldsymbol{\Pi}\mathbf{V}$，
#
# $$\mathbf{A}' = \operatorname{softmax}\!\left(\frac{\boldsymbol{\Pi}\mathbf{Q}\mathbf{K}^\top\boldsymbol{\Pi}^\top}{\sqrt{d}}\right)
#   = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top, \qquad
#   \mathbf{Y}' = \mathbf{A}'\mathbf{V}' = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top\boldsymbol{\Pi}\mathbf{V}
#   = \boldsymbol{\Pi}\mathbf{Y}.$$
#
# 第一个等号成立，是因为按行的 softmax 与行、列的重排可交换；最后一步用了 $\boldsymbol{\Pi}^\top\boldsymbol{\Pi} = \mathbf{I}$。
# 也就是说，自注意力是**置换等变**（permutation equivariant）的：打乱输入，输出只是以同样的方式被打乱，
# 每个词元得到的结果与它在序列中的位置无关。在“狗咬人”上看：“人咬狗”（man bites dog）是同样三个词，
# 第一个和第三个对调，$\boldsymbol{\Pi}$ 把顺序 $(0, 1, 2)$ 换成 $(2, 1, 0)$。用同样的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{W}_v$ 再算一遍：

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
# 右图的每个数都能在左图里找到：dog 那一行在两幅图里都是“给 dog 0.40、给 bites 0.22、给 man 0.38”，
# 只是 dog 和 man 在两句话里换了位置，矩阵的行和列跟着换，正是 $\boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top$。
# 每个词读到的东西不变，输出也不变（打印到小数点后 6 位，两个差都是 0）：模型分不出谁咬谁。
# 解决办法是在输入里加入位置信息，让同一个词元在不同位置上的输入不同。
#
# ### 正弦位置编码
#
# 基于正弦和余弦的**固定**位置编码：对输入 $\mathbf{X} \in \mathbb{R}^{n \times d}$，
# 构造同形状的 $\mathbf{P}$，输出 $\mathbf{X} + \mathbf{P}$，其中
#
# $$p_{i, 2m} = \sin(i\,\omega_m), \qquad p_{i, 2m+1} = \cos(i\,\omega_m), \qquad
#   \omega_m = 10000^{-2m/d} = \exp\!\left(-\frac{2m}{d}\ln 10000\right), \quad m = 0, \ldots, d/2 - 1.$$
#
# 本节用 $i$、$j$ 表示查询和键的位置（注意力权重 $a_{ij}$），所以频率下标写作 $m$。
# 行 $i$ 是位置；第 $m$ 对列是一个以角频率 $\omega_m$ 旋转的单位向量 $(\sin i\omega_m, \cos i\omega_m)$，
# 频率从 $\omega_0 = 1$（每 $2\pi \approx 6.3$ 个位置转一圈）几何递减到 $\omega_{d/2-1} = 10000^{-(d-2)/d}$：
# $d$ 很大时接近 $10^{-4}$（约 $6 \times 10^4$ 个位置才转一圈），下面 $d = 32$ 时是 $1.8 \times 10^{-4}$（约 $3.5 \times 10^4$ 个位置一圈）。
# 实现时算出角度矩阵 $\theta_{im} = i\,\omega_m$（一个外积），把 $(\sin\theta_{im}, \cos\theta_{im})$ 放进第 $2m$、$2m+1$ 列；
# 前向时截取前 $n$ 行加到输入上，再做暂退（dropout）。
# 编码是**加**到输入上而不是拼接在后面：维度不变，后面各层不必改形状。投影是线性的，$\mathbf{W}_q(\mathbf{x}_i + \mathbf{p}_i) = \mathbf{W}_q\mathbf{x}_i + \mathbf{W}_q\mathbf{p}_i$，
# 但两者并没有分开：评分 $(\mathbf{W}_q(\mathbf{x}_i + \mathbf{p}_i))^\top\mathbf{W}_k(\mathbf{x}_j + \mathbf{p}_j)$ 展开成四项，
# 除了“词元–词元”和“位置–位置”两项，还有 $\mathbf{x}_i^\top\mathbf{W}_q^\top\mathbf{W}_k\mathbf{p}_j$ 这样的交叉项（下面的反转实验会单独看“位置–位置”那一项）。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的频率下标写作 $j$；这里写作 $m$（$k$ 留给卷积核大小）。
# * 书中用 float32 计算角度 $i\,\omega_m$；这里用 float64 算好再转成 float32：float32 的相对舍入误差约 $6 \times 10^{-8}$，位置 1000 处角度的误差就可到 $10^{-4}$ rad。
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
# 现在回到“狗咬人”和“人咬狗”：把 16 维的位置编码加到同样的嵌入上（第 0、1、2 个位置分别加 $\mathbf{p}_0$、$\mathbf{p}_1$、$\mathbf{p}_2$），
# 再用同样的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{W}_v$ 算一遍：

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
# 右图不再是左图的行列重排（对应的权重最多差 0.23）。例如 man 那一行：在“狗咬人”里它给 dog 0.61，在“人咬狗”里给 dog 0.84。
# 三个词的输出也都变了，变化是输出长度（约 5.3）的 8% 到 25%。这个层没有训练过，这些差别的大小是随机的，
# 但已经不是零：同一个词在不同位置上的输入不同了，模型从此有可能分出谁咬谁；下面的反转实验会看到，训练能把这种差别变成有用的信息。

# %% [markdown]
# 回到编码本身，看第 6 到 9 列随位置的变化：第 6、7 列是第 $m = 3$ 对，第 8、9 列是第 $m = 4$ 对；同一对的两列频率相同、相差四分之一周期，对的序号 $m$ 越大，频率越低、周期越长。

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
# 为什么频率沿编码维度递减？对照二进制计数：从 0 数到 7 时，最低位每个数都翻转，
# 次低位每两个数翻转一次，最高位每四个数才翻转一次。位置编码用连续的正弦、余弦代替了 0/1，
# 但“高位变化慢、低位变化快”的结构是一样的，而且浮点数比比特更节省维度。

# %%
for i in range(8):
    print(f"{i} in binary is {i:>03b}")

# %% [markdown]
# 把整个编码矩阵画成热图，能看到同样的结构。为了看清，下面把 16 个正弦列（竖线左边）和 16 个余弦列（右边）分开排，
# 每一半里按对的序号 $m$ 排、频率从左到右递减（第 $m$ 个正弦列是原来的第 $2m$ 列）；颜色以 0 为白、正为红、负为蓝。
# 每一半的左边几列（高频）随位置快速正负交替；右边几列（低频）在这 60 个位置上几乎不变：
# 正弦列停在 0 附近（白），余弦列停在 1 附近（深红），所以呈现竖条纹。

# %%
self_attention.encoding_heatmap(P[0])  # sin columns | cos columns, each in order m
d2l.plt.show()

# %% [markdown]
# ### 相对位置信息
#
# 固定位置编码还有一个好处：对任意固定的偏移 $\delta$，位置 $i + \delta$ 的编码是位置 $i$
# 编码的**线性变换**，而且这个变换只依赖 $\delta$、不依赖 $i$。对每一对列
# （频率 $\omega_m$），由两角和公式：
#
# $$\begin{bmatrix} \cos(\delta \omega_m) & \sin(\delta \omega_m) \\ -\sin(\delta \omega_m) & \cos(\delta \omega_m) \end{bmatrix}
#   \begin{bmatrix} p_{i, 2m} \\ p_{i, 2m+1} \end{bmatrix}
# = \begin{bmatrix} \sin((i+\delta)\omega_m) \\ \cos((i+\delta)\omega_m) \end{bmatrix}
# = \begin{bmatrix} p_{i+\delta, 2m} \\ p_{i+\delta, 2m+1} \end{bmatrix}.$$
#
# 把 $d/2$ 个这样的 $2 \times 2$ 旋转块排成块对角矩阵 $\mathbf{M}_\delta$，
# 就有 $\mathbf{p}_{i+\delta} = \mathbf{M}_\delta \mathbf{p}_i$ 对所有 $i$ 成立。
# 这正是正弦和余弦要成对出现的原因：$\sin((i+\delta)\omega_m)$ 要用到 $\cos(i\omega_m)$，只有正弦一列时，偏移无法写成对编码的线性变换；成对之后，偏移就是一个旋转。
# 下面在数值上验证它
# （用 float64 计算，排除 float32 舍入的干扰）。

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
# 下面的探索器（explorer）把上面的编码（60 个位置、32 维）按列对画在平面上：第 $m$ 对列 $(\sin i\omega_m, \cos i\omega_m)$ 总落在单位圆上，
# $i = 0$ 时在正上方，$i$ 每增加 1 就顺时针转过 $\omega_m$；红色小点是全部 60 个位置（低频的 $m = 6$ 上它们挤成一段弧）。四个面板是 $m = 0, 2, 4, 6$。
# 起始状态 $i = 10$、$\delta = 3$：橙点 $\mathbf{p}_{i+\delta}$ 比蓝点 $\mathbf{p}_i$ 顺时针多转了 $\delta\omega_m$（3、0.95、0.3、0.095 rad），
# 黑色叉号 $\mathbf{M}_\delta\mathbf{p}_i$（`rotation_for_offset` 算出）正好落在橙点上；圆下的文字给出转角和所有 $i$ 上的最大误差（只剩 float32 的舍入）。
# 拖动 $i$：两个点一起沿圆移动，夹角不变——变换只依赖 $\delta$，不依赖 $i$。
# 再把 $\delta$ 拖大：圆上只看得到转角除以 $2\pi$ 的余数。$\delta = 5$ 时 $m = 0$ 转了 5 rad，看起来像逆时针转了 $2\pi - 5 \approx 1.3$ rad；
# $\delta = 20$ 时 $m = 2$ 转了 6.32 rad，两个点几乎重合。单看一对列分不出这些偏移，几对频率不同的列合起来才让每个偏移对应一个不同的旋转。

# %%
self_attention.rotation(pos_encoding, num_steps)

# %% [markdown]
# ### 动手试试：评分里的位置部分
#
# 旋转还意味着：两个位置编码的点积只与两者相距多远有关。每对列贡献
# $\sin i\omega_m \sin j\omega_m + \cos i\omega_m \cos j\omega_m = \cos((i-j)\omega_m)$，所以
#
# $$\mathbf{p}_i^\top \mathbf{p}_j = \sum_{m=0}^{d/2-1} \cos\big((i-j)\,\omega_m\big),$$
#
# 在 $i = j$ 时取最大值 $d/2 = 16$，分不出 $j$ 在 $i$ 之前还是之后。它也**不是**距离的单调函数：
# 高频项（$\omega_0 = 1$，周期约 6.3）随距离来回摆动，所以更远的位置可能点积更大：

# %%
gram = P64 @ P64.T  # gram[i, j] = p_i . p_j
print("p_20 . p_j:", "  ".join(f"j = {j} (distance {abs(j - 20)}): {gram[20, j]:.1f}"
                                for j in (48, 52, 4, 1)))

# %% [markdown]
# 注意力用的也并不是 $\mathbf{p}_i^\top \mathbf{p}_j$ 本身。只看位置部分，查询 $i$ 对键 $j$ 的评分是
# $(\mathbf{W}_q\mathbf{p}_i)^\top(\mathbf{W}_k\mathbf{p}_j) = \mathbf{p}_i^\top \mathbf{W}_q^\top \mathbf{W}_k \mathbf{p}_j$。
# 对一般的 $\mathbf{W}_q$、$\mathbf{W}_k$，它既不只依赖 $i - j$，也不在 $j = i$ 处最大；
# 但旋转给了模型一条可学的路：若 $\mathbf{W}_k = \mathbf{I}$、$\mathbf{W}_q = \mathbf{M}_\delta$，评分就成了
# $(\mathbf{M}_\delta\mathbf{p}_i)^\top\mathbf{p}_j = \mathbf{p}_{i+\delta}^\top\mathbf{p}_j$，每个查询 $i$ 都在 $j = i + \delta$ 处评分最高，即“看后面第 $\delta$ 个位置”。
#
# 下面的探索器画出 16 个位置上每个查询对各个键的权重 $\operatorname{softmax}_j\big((\mathbf{W}_q\mathbf{p}_i)^\top\mathbf{p}_j\big)$（$\mathbf{W}_k = \mathbf{I}$，不除以 $\sqrt{d}$，峰更明显）。
# 起始状态 $\delta = -1$ 是一个随机的 $\mathbf{W}_q$：几乎每一行的权重都堆在键 12、13 附近，评分最高的键减去查询位置从 $-2$ 到 $13$ 五花八门（图下一行）。
# 把 $\delta$ 拖到 0 以上，$\mathbf{W}_q = \mathbf{M}_\delta$：有第 $i + \delta$ 个键的每一行（查询 $0, \ldots, 15 - \delta$），峰都落在 $j = i + \delta$（峰值 0.42 到 0.58），
# 对角线向右平移 $\delta$ 格，图下只剩一个偏移 $[\delta]$；图下这一行只统计这些查询。
# 最后 $\delta$ 个查询没有第 $i + \delta$ 个键：其中 $i + \delta$ 刚超出末端的前三个把峰放在最后一个键 15 上，一个比一个弱（$\delta = 8$ 时查询 8、9、10 的峰值是 0.70、0.47、0.21）；
# 再往后（$\delta = 8$ 时查询 11 到 15）峰落在键 13、14、15、10、11 这些地方，最大权重只有 0.17 到 0.22，几乎是一片摊开的浅红。
# 相对偏移是**可以学到的**，不是自动得到的。

# %%
self_attention.score_explorer(pos_encoding)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
score_text = {r["delta"]: r["text"] for r in self_attention.score_states(pos_encoding)[1]}
assert all(score_text[delta].endswith(f"[{delta}]") for delta in range(9))
assert score_text[-1].endswith("[-2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]")
assert [round(gram[20, j].item(), 1) for j in (48, 52, 4, 1)] == [6.0, 9.6, 7.9, 10.6]

# %% [markdown]
# 再往前一步：与其把 $\mathbf{p}_i$ 加到输入上、再指望 $\mathbf{W}_q$ 学出旋转，不如直接把位置 $i$ 的查询 $\mathbf{q}$ 旋转成 $\mathbf{M}_i\mathbf{q}$、位置 $j$ 的键 $\mathbf{k}$ 旋转成 $\mathbf{M}_j\mathbf{k}$
# （$\mathbf{M}_i$ 就是 `rotation_for_offset(i, d)`：它把 $\mathbf{p}_0$ 转到 $\mathbf{p}_i$）。
# 旋转的角度相加，$\mathbf{M}_i^\top\mathbf{M}_j = \mathbf{M}_{j-i}$，所以评分 $(\mathbf{M}_i\mathbf{q})^\top(\mathbf{M}_j\mathbf{k}) = \mathbf{q}^\top\mathbf{M}_{j-i}\mathbf{k}$ 只取决于偏移 $j - i$。
# 取一对随机的 $\mathbf{q}$、$\mathbf{k}$ 试几组位置：

# %%
torch.manual_seed(0)
q, k = torch.randn(encoding_dim, dtype=torch.float64), torch.randn(encoding_dim, dtype=torch.float64)
for i, j in ((0, 3), (10, 13), (40, 43), (13, 10)):
    score = (rotation_for_offset(i, encoding_dim) @ q) @ (rotation_for_offset(j, encoding_dim) @ k)
    print(f"i = {i:2d}, j = {j:2d}, j - i = {j - i:+d}: (M_i q) . (M_j k) = {score:.6f}")

# %% [markdown]
# 偏移都是 $+3$ 的三组评分相同，偏移 $-3$ 的不同：与 $\mathbf{p}_i^\top \mathbf{p}_j$ 不同，它还分得出键在查询之前还是之后。
# 这就是旋转位置编码（rotary position embedding，RoPE），今天的许多大语言模型都用它；10.7 节把它写成一个函数，在每层算评分之前作用在查询和键上。

# %% [markdown]
# ## 实验：没有位置编码会怎样——反转序列
#
# 位置编码真的能让自注意力学会“按位置取数”吗？没有它又会怎样？找一个我们事先知道正确注意力模式的任务：
# 输入 $n = 8$ 个随机词元 $x_0, \ldots, x_7$（词表大小 30），要求输出 $y_i = x_{7-i}$。
# 模型只有三部分：32 维词元嵌入加上位置信息、**一个**单头自注意力层（上面的 `d2l.MultiHeadAttention`）、
# 一个把每个位置映射到词表的线性读出层。这里故意**不用**残差连接：位置 $i$ 的输出只能通过注意力权重 $a_{ij}$ 读取位置 $j$ 的信息，
# 所以要完成任务，第 $i$ 个查询就必须把权重放在第 $7-i$ 个键上。
#
# 这个模式用正弦编码是表达得出来的：由两角和公式，对每一对列
# $\sin((n-1-i)\omega_m) = \sin((n-1)\omega_m)\cos(i\omega_m) - \cos((n-1)\omega_m)\sin(i\omega_m)$，
# $\cos((n-1-i)\omega_m)$ 同理，所以存在一个线性变换把 $\mathbf{p}_i$ 变成 $\mathbf{p}_{n-1-i}$；
# 查询投影若包含它，查询 $i$ 与键 $j$ 的位置部分之积
# $\mathbf{p}_{n-1-i}^\top \mathbf{p}_j = \sum_{m} \cos((n-1-i-j)\,\omega_m)$ 恰在 $j = n-1-i$ 处最大（每一项都等于 1）。
#
# 模型在下面。我们训练它三次，只换加在嵌入上的位置信息：正弦位置编码（`PositionalEncoding`）、
# 可学习的位置编码（一张 $8 \times 32$ 的可训练表，练习 2 会自己实现它），以及不加任何位置信息（`nn.Identity`）。
# 三次用同样的随机种子和同样的训练批量（Adam，400 步，每批 64 条序列，学习率从 0.05 线性降到 0，交叉熵损失），再在同样的 1000 条新序列上测试。
# 训练循环是库里的 `self_attention.train_reversal`，`train_ablation` 对三种编码各调用一次。它用 float64 训练：
# float32 下，随机初始化和矩阵乘法在不同的 CPU 内核（AVX2 与默认内核）上舍入不同，400 步后差别会长到注意力权重的第二位小数；
# 用 float64，两种内核上训练出的权重只差约 $10^{-13}$，下面存下的数字在任何 CPU 上都能重现。

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
# 三幅图是 1000 条测试序列上的平均注意力权重，共用一个颜色刻度（0 为白）。
# 正弦编码和可学习编码都学出了一条**反对角线**：第 $i$ 个查询几乎把全部权重放在第 $7-i$ 个键上（平均 0.98 和 1.00），
# 读出那里的词元，准确率 1.00。没有位置编码时，每一行把权重几乎平均地摊在其余 7 个键上（约 $1/7$），
# 只有查询自己的位置更淡；准确率只有 0.22。
#
# 0.22 不是训练得不够，而是不看位置所能做到的最好。由于置换等变，没有位置编码的模型在位置 $i$ 的输出只取决于自己的词元 $x_i$
# 和整个序列里“有哪些词元”（一个多重集），不知道哪个词元在第 $7-i$ 位。
# 给定这些信息，目标 $x_{7-i}$ 等可能是其余 7 个词元中的任何一个，所以最好的策略是输出其余词元里出现次数最多的那个，
# 猜对的概率是它的出现次数除以 7：各不相同时是 $1/7 \approx 0.14$，有重复时更高。
# 把这个概率在 1000 条测试序列上平均，得到的是最优策略的**期望**准确率，即上面打印的 0.220，无位置模型达到了它。
# 模型的 0.223 略高于 0.220，并不是超过了最优策略：期望值是平均意义上的，在一组具体的测试序列上，
# 实际猜中的比例取决于并列时选了哪一个、碰巧对了多少，会落在期望值上下。
#
# 那无位置模型自己的位置为什么更淡？它看不到位置，认不出“自己”，能认出的只是“和查询相同的词元”：
# 查询和键都由词元嵌入投影而来，同一个词元的 $\mathbf{q}$、$\mathbf{k}$ 之积可以学得偏小。
# 自己的词元 $x_i$ 永远不是答案（答案在其余 7 个位置上），所以训练把它压低；压低的是这个词元，不是这个位置：

# %%
own, same_token, other_token = ablation.weight_by_token("none")
print(f"none: mean weight on the query's own position {own:.2f}, on another position holding "
      f"the query's token {same_token:.2f}, on a key with a different token {other_token:.2f}")

# %% [markdown]
# 别处出现的同一个词元也一样淡：模型分不出这两种键。这几乎不损失什么：那个词元只有在序列里出现至少三次时才是唯一的“其余词元里最多的”，
# 所以无位置模型仍达到了上面的 0.22。
#
# 用下面的探索器逐条看：选择编码，再拖动测试序列（$-1$ 是 1000 条的平均）。纵轴每行写着“位置: 词元 → 模型输出”，
# 横轴是“位置: 词元”。选 sinusoidal 或 learned，每行的深色格子都在反对角线上，输出正是倒过来的序列；
# 选 none 看序列 0：它的 8 个词元各不相同，每行的权重都摊在 0.07 到 0.15 之间（自己的位置最淡），
# 输出只是其余词元中的某一个：这条序列 8 个里碰巧对了 3 个，而词元各不相同时每个查询猜对的机会只有 $1/7$。
# 输出里同几个词元反复出现（10、21、3）：其余 7 个词元各出现一次、并列最多，模型在并列者中偏爱的总是那几个，这正是“输出最多的其余词元”这一策略的痕迹。

# %%
self_attention.ablation_explorer(ablation)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
# The claims above, for this seed; results/sweep-positions.json holds seeds 0-4 on two CPU kernels.
reversed_keys = list(range(self_attention.SEQ_LEN - 1, -1, -1))
for name in ("sinusoidal", "learned"):
    assert ablation.accuracy[name] > 0.95
    assert ablation.mean_weights(name).argmax(dim=-1).tolist() == reversed_keys
    assert ablation.weight_on_reversed(name) > 0.9
assert abs(ablation.accuracy["none"] - ablation.bound) < 0.03
assert ablation.mean_weights("none").max() < 0.5
assert ablation.position_scores("sinusoidal").argmax(dim=-1).tolist() == reversed_keys
assert ablation.position_scores("learned").argmax(dim=-1).tolist() == reversed_keys  # exercise 2
assert [round(v, 2) for v in ablation.weight_by_token("none")] == [0.08, 0.09, 0.13]
none0 = ablation.weights["none"][0]  # test sequence 0, as read in the text above
assert len(set(ablation.tokens[0].tolist())) == 8
assert 0.05 < none0.min() and none0.max() < 0.2 and (none0.diagonal() == none0.min(dim=-1).values).all()
assert (ablation.prediction["none"][0] == ablation.tokens[0].flip(0)).sum() == 3
assert ablation.prediction["none"][0].tolist() == [10, 10, 10, 21, 3, 21, 21, 3]

# %% [markdown]
# 训练出的查询、键投影是否真的用了上面那条“位置部分之积”的路？只把正弦编码 $\mathbf{p}_i$ 送进训练好的 $\mathbf{W}_q$、$\mathbf{W}_k$，
# 看每个查询位置评分最高的键：

# %%
position_scores = ablation.position_scores("sinusoidal")  # (W_q p_i) . (W_k p_j) / sqrt(d)
print("query i -> key with the highest position-only score:",
      position_scores.argmax(dim=-1).tolist())

# %% [markdown]
# 正是 $7, 6, \ldots, 0$：单凭位置部分，训练好的投影就把查询 $i$ 指向了键 $7-i$。
# 换随机种子 0–4、在两种 CPU 内核上重训（结果存在 `results/sweep-positions.json`），结论不变：

# %%
sweep_accuracy = self_attention.sweep_summary()

# %% [markdown]
# 两种位置编码每次都是 1.00，无位置时每次都在 0.22 附近。10 次都用同一组测试序列，所以无位置模型每次都略高于 0.2196，是同一组序列上同一种“运气”，不是 10 次独立的证据。

# %% [markdown]
# ## 小结
#
# * 自注意力让同一组词元同时充当查询、键和值，输出与输入同形状。
# * 逐项推导：卷积 $\mathcal{O}(knd^2)$、RNN $\mathcal{O}(nd^2)$、自注意力 $\mathcal{O}(n^2 d)$；
#   自注意力的顺序操作和最大路径长度都是 $\mathcal{O}(1)$，但计算和注意力权重的内存随 $n^2$ 增长：
#   $d = 64$ 时它的乘加次数在 $n = d$ 处与 GRU 相等，之后更多；$n$ 从 1024 翻到 2048，
#   朴素实现为反向传播保存的内存乘 3.5，卷积和 GRU 不到 2。
# * 自注意力是置换等变的：不加位置编码时，“人咬狗”的注意力权重正是“狗咬人”的行列重排 $\boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top$，每个词的输出不变；
#   加上位置编码，这个对应关系就被打破了。
# * 正弦/余弦位置编码像连续版的二进制计数；任意偏移 $\delta$ 对应一个只依赖 $\delta$ 的旋转。
#   两个编码的点积只依赖距离，但不随距离单调；相对位置要靠 $\mathbf{W}_q$、$\mathbf{W}_k$ 学出来。
#   把查询和键按各自的位置旋转（RoPE），评分就只依赖偏移 $j - i$。
# * 反转实验：一层自注意力加正弦或可学习的位置编码，准确率 1.00，注意力是反对角线；
#   去掉位置编码，准确率 0.22，正是只凭“序列里有哪些词元”所能达到的最好期望准确率。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 设想把许多层自注意力直接叠起来表示一个序列（位置编码只在最底层加一次），会有什么问题？
# 先做一个小实验：取 6 个随机初始化的自注意力层（`d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0)`，
# 先 `torch.manual_seed(0)` 再依次创建），输入为 `torch.randn(1, 10, 32)` 加上 32 维的正弦位置编码。
# 用“各词元表示两两之间余弦相似度的平均值”衡量词元之间还有多大区别，记录第 0 层（输入）到第 6 层的数值：
# (a) 直接叠加 $\mathbf{X} \leftarrow \operatorname{SelfAttn}(\mathbf{X})$，定义 `ex1_plain`；
# (b) 带残差连接 $\mathbf{X} \leftarrow \mathbf{X} + \operatorname{SelfAttn}(\mathbf{X})$，定义 `ex1_residual`；
# (c) 直接叠加时每层注意力权重的平均熵除以 $\ln 10$（1 表示完全均匀），定义 `ex1_entropy`（长 6）；
# (d) 把每层的 $\mathbf{W}_q$ 权重乘 30（注意力更尖锐），再直接叠加，定义 `ex1_sharp`（长 7）。
# 坍缩是“未训练的层接近均匀地求平均”造成的，还是层数本身造成的？与反转实验里训练好的那一层（它的平均权重几乎全在一个键上）对比，
# 在答案单元里讨论深层堆叠的问题。

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
# 参考答案：(1) **表示坍缩**，而且有两个原因，实验把它们分开了。未训练的层权重接近均匀（第一层的熵是最大值的 0.97），
# 一层就把词元平均到几乎相同（余弦相似度 0.28 → 0.98）——这是初始化的效果，训练好的层不会这样：反转实验里那一层的熵只有最大值的零点零几，
# 每个查询几乎只读一个键。但把 $\mathbf{W}_q$ 乘 30 让第一层变尖锐（熵 0.13）后，第一层只把相似度提到 0.37，
# 第二层后仍升到 0.91、第三层后到 1.0：每层都是凸组合，词元变得越相近，下一层的评分就越接近、权重越均匀，坍缩随深度自我加速。
# 这就是 Dong 等人（2021）研究的**秩坍缩**（rank collapse）：没有残差连接和前馈网络的纯注意力堆叠，输出随深度趋于秩 1
# （他们证明收敛是双指数速度的；这里 6 层的小实验只显示了趋势，看不出速度）。
# 带残差连接时相似度只从 0.28 缓慢升到 0.44，所以深层模型需要残差连接（以及层规范化、前馈网络，10.7 节）。
# (2) 一个推理（上面没有测量）：位置编码只在输入加一次，若各层把词元混成几乎相同的表示，位置信息也随之混掉；
# 这是许多模型在每层注意力里直接使用相对位置（如旋转位置编码）的一个动机。

# %% [markdown]
# ### 练习 2
#
# 实现反转实验里的**可学习**位置编码：类 `LearnedPositionalEncoding(num_hiddens, max_len=1000)`，
# 持有形状为（1，`max_len`，`num_hiddens`）的可训练参数 `P`（用小的随机数初始化），前向时把前 $n$ 行加到输入上；
# 序列长于 `max_len` 时抛出说明原因的 `ValueError`。
# 定义 `ex2_params`：`num_hiddens=512`、`max_len=1000`（原论文的规模）时它有多少参数。
# 在上面的探索器里比较 learned 和 sinusoidal：可学习的编码学到了什么、有什么是它做不到而正弦编码做得到的？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
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

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：可学习的表有 `max_len` × `num_hiddens` 个参数（论文规模下 512000 个，反转模型里 8 × 32 = 256 个）；
# 正弦编码没有参数。在探索器里，learned 与 sinusoidal 一样学出了反对角线、准确率 1.00：
# 训练只要求每个位置有一个可区分的向量，让 $\mathbf{W}_q$、$\mathbf{W}_k$ 能把查询 $i$ 配到键 $7-i$：
# 只把学到的表送进训练好的 $\mathbf{W}_q$、$\mathbf{W}_k$，每个查询 $i$ 评分最高的键正是 $7, 6, \ldots, 0$（上面最后一行），与正弦编码一样。
# 做不到的是**没见过的位置**：表里只有 `max_len` 行，第 `max_len` 个位置以后没有编码（上面的 `ValueError`），
# 而且即使表更长，训练中从未出现的行也只是初始的随机数。正弦编码对任意位置都有定义，偏移 $\delta$ 总对应同一个旋转 $\mathbf{M}_\delta$，
# 所以有理由期望它更容易推广到训练时没见过的位置；但“有定义”不等于“能用”，这只是论证，本节没有在更长的序列上测试
# （反转任务还依赖长度 $n$：在 $n = 8$ 上学到的是“查询 $i$ 看键 $7-i$”，换成别的长度本来就不对）。

# %% [markdown]
# ### 练习 3
#
# 在“评分里的位置部分”的探索器里，$\mathbf{W}_q = \mathbf{M}_\delta$（$\mathbf{W}_k = \mathbf{I}$）让每个查询看后面第 $\delta$ 个位置。
# (a) 怎样的 $\mathbf{W}_q$ 让每个查询看**前面**第 $\delta$ 个位置（$j = i - \delta$）？写函数 `ex3_look_back(delta, num_hiddens)` 返回这个矩阵，
# 并用上面 60 个位置的 `P64` 验证：对 $i \ge \delta$ 的每个查询，评分 $(\mathbf{W}_q\mathbf{p}_i)^\top\mathbf{p}_j$ 最高的键是 $i - \delta$。
# (b) 若查询和键用**同一个**投影，$\mathbf{W}_q = \mathbf{W}_k = \mathbf{M}_3$，每个查询看哪里？定义 `ex3_same`：这时 60 个查询各自评分最高的键减去查询位置（一个列表）。
# 结合本节开头 $\mathbf{W}_q = \mathbf{W}_k = \mathbf{I}$ 的热图，说明为什么查询和键要用不同的矩阵。

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
# 参考答案：(a) 往回转：$\mathbf{W}_q = \mathbf{M}_\delta^\top = \mathbf{M}_{-\delta}$。每个 $2\times 2$ 块是旋转，转置就是反向旋转，
# 所以 $\mathbf{M}_\delta^\top\mathbf{p}_i = \mathbf{p}_{i-\delta}$，评分 $\mathbf{p}_{i-\delta}^\top\mathbf{p}_j$ 在 $j = i - \delta$ 处最大。
# 上面打印的 $i \ge 3$ 的 57 个查询全部是 $-3$；前 3 个查询没有第 $i - 3$ 个键，只能看别处。
# (b) 每个查询都看自己（偏移只有 0）：评分是 $(\mathbf{M}_3\mathbf{p}_i)^\top(\mathbf{M}_3\mathbf{p}_j) = \mathbf{p}_i^\top\mathbf{M}_3^\top\mathbf{M}_3\mathbf{p}_j = \mathbf{p}_i^\top\mathbf{p}_j$，
# 旋转在两边抵消（$\mathbf{M}_3^\top\mathbf{M}_3 = \mathbf{I}$，上面打印的误差在 $10^{-16}$ 量级），又回到了开头 $\mathbf{W}_q = \mathbf{W}_k = \mathbf{I}$ 的情形。
# 一般地，$\mathbf{W}_q = \mathbf{W}_k$ 时评分矩阵 $\mathbf{X}\mathbf{W}^\top\mathbf{W}\mathbf{X}^\top$ 对称，“$i$ 找 $j$”和“$j$ 找 $i$”的评分必然相同；
# （按行 softmax 后的权重可以不对称，但那只来自各行的归一化，见开头第 (1) 幅图。）
# 要表达“看后面第 3 个”“bites 看 dog 而 dog 不看 bites”这样有方向的关系，查询和键必须用不同的矩阵。

# %% [markdown]
# ### 练习 4
#
# 给反转实验里**没有位置编码**的模型加一条残差连接：读出层读的是 $\mathbf{x}_i + \operatorname{SelfAttn}(\mathbf{X})_i$ 而不是 $\operatorname{SelfAttn}(\mathbf{X})_i$。
# 先预测：准确率会超过 0.22 吗？再验证：写 `d2l.ReversalNet` 的子类 `ResidualReversalNet`（只改 `forward`），
# 用 `self_attention.train_reversal("none", make_net=ResidualReversalNet)` 训练（同样的种子和批量），
# 用 `self_attention.evaluate_reversal(net)` 在同样的 1000 条测试序列上测试，定义它的准确率 `ex4_accuracy`，
# 以及 `ex4_share`：它的输出中“恰是其余 7 个词元里出现次数最多的一个”的比例（用 `ablation.tokens`）。

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
# 参考答案：不会。残差连接只把查询自己的 $\mathbf{x}_i$ 加回来，整个模型仍然置换等变：位置 $i$ 的输出仍只取决于 $x_i$ 和序列的多重集，
# 正文里 0.22 的上界照样成立。训练结果如上：准确率与不带残差时几乎相同（仍贴着上界），输出几乎总是“其余词元里最多的一个”。
# 残差连接解决的是深层堆叠时的表示坍缩（练习 1），不是顺序问题；顺序信息只能来自位置编码（或 RoPE 这类把位置放进评分的办法）。
