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
# 如果让**同一组词元**同时充当查询、键和值，每个词元就能直接“看到”序列里的所有其他词元，
# 这就是**自注意力**（self-attention）。本节回答两个问题：自注意力与卷积神经网络、
# 循环神经网络相比代价和收益各是什么——我们把复杂度逐项推导出来，按公式数出具体的次数，
# 再实际统计一次反向传播要保存的内存；
# 以及，自注意力本身不关心顺序，怎样用**位置编码**（positional encoding）把顺序信息补回来。
# 最后我们用一个答案已知的小任务（把序列反转）训练一个自注意力层，
# 亲眼看到它借助位置编码学出“第 $i$ 个输出看第 $n-1-i$ 个输入”的注意力模式。
# 本节的 $n$ 始终表示序列长度，$d$ 表示每个词元的维度。

# %%
import math

import torch
from torch import nn

import d2l_attention as d2l

# %% [markdown]
# ## 自注意力
#
# 给定输入序列 $\mathbf{x}_1, \ldots, \mathbf{x}_n$（每个 $\mathbf{x}_i \in \mathbb{R}^d$），
# 自注意力输出同样长度的序列 $\mathbf{y}_1, \ldots, \mathbf{y}_n$：
#
# $$\mathbf{y}_i = f\big(\mathbf{x}_i, (\mathbf{x}_1, \mathbf{x}_1), \ldots, (\mathbf{x}_n, \mathbf{x}_n)\big) \in \mathbb{R}^d,$$
#
# 其中 $f$ 是 10.1 节的注意力汇聚：第 $i$ 个词元作查询，所有词元（包括它自己）作键和值。
# 用 10.5 节的多头注意力实现时，只需把同一个张量传三次。
# 输入形状为（批量大小，序列长度 $n$，`num_hiddens`），输出形状与输入相同。

# %%
torch.manual_seed(0)
num_hiddens, num_heads = 100, 5
attention = d2l.MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens,
                                   num_heads, dropout=0.5).eval()
batch_size, num_queries = 2, 4
valid_lens = torch.tensor([3, 2])
X = torch.ones((batch_size, num_queries, num_hiddens))
Y = attention(X, X, X, valid_lens)
print("input :", tuple(X.shape))
print("output:", tuple(Y.shape))

# %% [markdown]
# ## 比较卷积神经网络、循环神经网络和自注意力
#
# 把长度为 $n$、每个词元 $d$ 维的序列映射成另一个同样形状的序列，有三种常见做法。
# 比较三个指标：**计算复杂度**（一层的乘加次数）、**顺序操作**（sequential operations，
# 必须一个接一个完成、无法并行的步骤数）和**最大路径长度**（maximum path length，
# 任意两个位置之间信息最多要经过多少步，越短越容易学到远距离依赖）。结论先列在这里，下面逐项推导：
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
# ### 卷积
#
# 一维卷积层有 $d$ 个输入通道、$d$ 个输出通道，核大小为 $k$。位置 $t$ 的第 $c$ 个输出通道是
#
# $$y_{t,c} = \sum_{s=0}^{k-1} \sum_{c'=1}^{d} w_{s,c,c'}\, x_{t+s-\lfloor k/2 \rfloor,\, c'},$$
#
# 一个输出分量要 $kd$ 次乘加，每个位置有 $d$ 个输出分量、共 $n$ 个位置，所以
#
# $$\text{乘加次数} = n \cdot d \cdot kd = knd^2 = \mathcal{O}(knd^2).$$
#
# 每个 $y_t$ 只依赖输入 $\mathbf{X}$，不依赖别的输出，$n$ 个位置可以同时算：顺序操作 $\mathcal{O}(1)$。
# 一层卷积让位置 $t$ 看到 $[t - \lfloor k/2 \rfloor, t + \lfloor k/2 \rfloor]$，即每叠一层，感受野扩大 $k-1$。
# 序列首尾相距 $n-1$，要让它们之间有路径，需要 $L$ 层满足 $L(k-1) \ge n-1$，即
#
# $$L = \left\lceil \frac{n-1}{k-1} \right\rceil = \mathcal{O}(n/k).$$
#
# 图 10.6.1 里 $n = 5$、$k = 3$：$L = \lceil 4/2 \rceil = 2$ 层后 $\mathbf{x}_1$ 和 $\mathbf{x}_5$ 才连通。
#
# ### 循环神经网络
#
# 隐状态的更新 $\mathbf{h}_t = \phi(\mathbf{W}_{xh}\mathbf{x}_t + \mathbf{W}_{hh}\mathbf{h}_{t-1} + \mathbf{b})$
# 在每一步做两次 $d \times d$ 矩阵与向量的乘法，共 $2d^2$ 次乘加；$n$ 步合计
#
# $$\text{乘加次数} = n \cdot 2d^2 = \mathcal{O}(nd^2).$$
#
# （GRU 有三个门、每个门两次矩阵与向量的乘法，常数从 2 变成 6；LSTM 是 8。）$\mathbf{h}_t$ 要等 $\mathbf{h}_{t-1}$ 算完才能开始，
# 这 $n$ 步只能一个接一个做：顺序操作 $\mathcal{O}(n)$。
# 信息从 $\mathbf{x}_1$ 传到 $\mathbf{h}_n$ 要依次经过 $\mathbf{h}_1 \to \mathbf{h}_2 \to \cdots \to \mathbf{h}_n$，
# 共 $n-1$ 次递推：最大路径长度 $\mathcal{O}(n)$。
#
# ### 自注意力
#
# 设 $\mathbf{Q}, \mathbf{K}, \mathbf{V} \in \mathbb{R}^{n \times d}$（它们都由 $\mathbf{X}$ 投影得到）。
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
# ### 把公式数成具体的数
#
# 渐近记号藏起了常数。取 $d = 64$、$k = 3$，按上面的推导数出每一层的三个量
# （RNN 用 GRU，每步 $6d^2$；自注意力连同投影共 $2n^2d + 4nd^2$）。
# 这些都是数出来的，不是计时：在较小的 $n$ 下，一次前向传播的墙钟时间主要由每次算子调用的固定开销
# 和机器上的其他负载决定，并不反映乘加次数，所以不能用几次计时来检验这里的指数。

# %%
d, k = 64, 3  # representation size, kernel size


def layer_costs(n):
    """Counted costs of one layer on a length-n sequence: name -> (multiply-adds,
    sequential operations, maximum path length)."""
    return {"CNN (k=3)": (k * n * d * d, 1, math.ceil((n - 1) / (k - 1))),
            "RNN (GRU)": (6 * n * d * d, n, n - 1),
            "self-attention": (2 * n * n * d + 4 * n * d * d, 1, 1)}


lengths = [2 ** p for p in range(4, 13)]  # n = 16, 32, ..., 4096
costs = [layer_costs(n) for n in lengths]
shown = [lengths.index(n) for n in (16, 64, 256, 4096)]
print(f"{'':16s}{'':15s}" + "".join(f"{'n=' + str(lengths[s]):>10s}" for s in shown))
for q, quantity in enumerate(["multiply-adds", "sequential ops", "max path length"]):
    for name in costs[0]:
        values = [costs[s][name][q] for s in shown]
        print(f"{quantity:16s}{name:15s}"
              + "".join(f"{v:10.1e}" if q == 0 else f"{v:10d}" for v in values))

fig, axes = d2l.plt.subplots(1, 3, figsize=(10, 3))
for q, (ax, ylabel) in enumerate(zip(axes, ["multiply-adds", "sequential operations",
                                            "maximum path length"])):
    for name in costs[0]:
        ax.plot(lengths, [c[name][q] for c in costs], "o-", markersize=3, label=name)
    ax.axvline(d, color="gray", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length n  (dotted: n = d = 64)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
axes[0].legend(fontsize=7)
d2l.plt.tight_layout()
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
at_d = layer_costs(d)
assert at_d["self-attention"][0] == at_d["RNN (GRU)"][0] == 6 * d ** 3
assert all(c["self-attention"][0] > c["RNN (GRU)"][0] for n, c in zip(lengths, costs) if n > d)
assert all(c["self-attention"][0] < c["RNN (GRU)"][0] for n, c in zip(lengths, costs) if n < d)

# %% [markdown]
# 读图（双对数坐标，斜率就是 $n$ 的指数）：
#
# * **乘加次数**：卷积和 GRU 是斜率 1 的直线，卷积（$3nd^2$）始终最便宜。
#   自注意力在 $n < d$ 时由线性的投影项 $4nd^2$ 主导，比 GRU 便宜；在 $n = d = 64$ 处两者恰好相等
#   （都是 $6d^3 \approx 1.6 \times 10^6$）；之后 $2n^2d$ 占主导，曲线变陡，$n = 4096$ 时已是 GRU 的 20 多倍。
# * **顺序操作**：GRU 随 $n$ 线性增长，卷积和自注意力一层都只要 1 步（中图里两条线重合在 1）。
# * **最大路径长度**：GRU 为 $n-1$，核大小 3 的卷积要 $\lceil (n-1)/2 \rceil$ 层，自注意力始终为 1。
#
# 计算量之外，自注意力还要为反向传播保存 $n \times n$ 的注意力权重，**内存**也随 $n^2$ 增长。
# 这一点可以实际统计，而且结果是确定的：用 `torch.autograd.graph.saved_tensors_hooks`
# 记下前向传播时为反向传播保存的每个张量（同一块存储只算一次），把字节数加起来。
# 训练时这部分内存必须一直保留到反向传播结束。

# %%
def saved_activation_bytes(layer_fn, n):
    """Bytes of the distinct tensors autograd saves for backward in one forward pass on a
    (1, n, d) input."""
    seen = {}

    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    X = torch.randn(1, n, d, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = layer_fn(X)  # keep the graph (and its saved tensors) alive while counting
    del out
    return sum(seen.values())


torch.manual_seed(0)
conv = nn.Conv1d(d, d, kernel_size=k, padding=1)
gru = nn.GRU(d, d, batch_first=True)
self_attn = d2l.MultiHeadAttention(d, d, d, d, num_heads=1, dropout=0)
layers = {
    "CNN (k=3)": lambda X: conv(X.transpose(1, 2)),  # Conv1d wants (batch, channels, n)
    "RNN (GRU)": lambda X: gru(X)[0],
    "self-attention": lambda X: self_attn(X, X, X),
}
mem_lengths = [256, 512, 1024, 2048]
memory = {name: [saved_activation_bytes(fn, n) for n in mem_lengths]
          for name, fn in layers.items()}
print(f"{'saved for backward':19s}" + "".join(f"{'n=' + str(n):>11s}" for n in mem_lengths)
      + "   growth per doubling of n")
for name, b in memory.items():
    print(f"{name:19s}" + "".join(f"{v / 2**20:7.2f} MiB" for v in b) + "  "
          + " ".join(f"x{b[i + 1] / b[i]:.2f}" for i in range(len(b) - 1)))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
ratio = {name: b[-1] / b[-2] for name, b in memory.items()}
assert ratio["self-attention"] > 3.0
assert ratio["CNN (k=3)"] < 2.3 and ratio["RNN (GRU)"] < 2.3

# %% [markdown]
# 序列长度每翻一倍，卷积和 GRU 保存的字节数的倍数随 $n$ 增大趋近 2，即线性增长（保存的张量里还有大小固定的权重，
# 所以 $n$ 小时倍数低于 2）；自注意力则越来越接近翻两番：
# 它保存的既有随 $n$ 线性增长的投影结果，也有 $n \times n$ 的注意力分数和权重；$n$ 翻倍时前者乘 2、后者乘 4，
# $n$ 越大平方项占比越高，所以倍数从约 2.7 逐步升到约 3.5，并继续趋近 4。
# 这就是 Transformer 适合中等长度序列、而长序列需要稀疏或线性注意力等改进的原因。
# 书中只给出复杂度表；这里把它推导出来并按公式数成具体的数、实际统计内存，因为渐近记号本身看不出 $n = d$ 附近谁更便宜。

# %% [markdown]
# ## 位置编码
#
# ### 自注意力分不出先后：置换等变
#
# 把自注意力写成矩阵形式：$\mathbf{Q} = \mathbf{X}\mathbf{W}_q^\top$、$\mathbf{K} = \mathbf{X}\mathbf{W}_k^\top$、
# $\mathbf{V} = \mathbf{X}\mathbf{W}_v^\top$，$\mathbf{A} = \operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top / \sqrt{d})$（按行），
# 输出 $\mathbf{Y} = \mathbf{A}\mathbf{V}$（多头时每个头都如此，再乘 $\mathbf{W}_o$）。
# 用置换矩阵 $\boldsymbol{\Pi}$ 打乱词元的顺序，输入变成 $\boldsymbol{\Pi}\mathbf{X}$，于是
# $\mathbf{Q}' = \boldsymbol{\Pi}\mathbf{Q}$、$\mathbf{K}' = \boldsymbol{\Pi}\mathbf{K}$、$\mathbf{V}' = \boldsymbol{\Pi}\mathbf{V}$，
#
# $$\mathbf{A}' = \operatorname{softmax}\!\left(\frac{\boldsymbol{\Pi}\mathbf{Q}\mathbf{K}^\top\boldsymbol{\Pi}^\top}{\sqrt{d}}\right)
#   = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top, \qquad
#   \mathbf{Y}' = \mathbf{A}'\mathbf{V}' = \boldsymbol{\Pi}\mathbf{A}\boldsymbol{\Pi}^\top\boldsymbol{\Pi}\mathbf{V}
#   = \boldsymbol{\Pi}\mathbf{Y}.$$
#
# 第一个等号成立，是因为按行的 softmax 对行的重排和（每行内相同的）列的重排都不敏感；
# 最后一步用了 $\boldsymbol{\Pi}^\top\boldsymbol{\Pi} = \mathbf{I}$。
# 也就是说，自注意力是**置换等变**（permutation equivariant）的：打乱输入，输出只是以同样的方式被打乱，
# 每个词元得到的结果与它在序列中的位置无关。用上面的多头注意力数值验证一下（不使用有效长度，所有词元都参与）：

# %%
torch.manual_seed(0)
self_attn_demo = d2l.MultiHeadAttention(16, 16, 16, 16, num_heads=4, dropout=0).eval()
X = torch.randn(1, 6, 16)
perm = torch.randperm(6)
with torch.no_grad():
    Y = self_attn_demo(X, X, X)
    Y_of_permuted = self_attn_demo(X[:, perm], X[:, perm], X[:, perm])
equivariance_gap = (Y_of_permuted - Y[:, perm]).abs().max().item()
print("permutation:", perm.tolist())
print(f"max |SelfAttn(X[perm]) - SelfAttn(X)[perm]| < 1e-5: {equivariance_gap < 1e-5}")

# %% [markdown]
# 对一句话来说这可不好：“狗咬人”和“人咬狗”里每个词得到的表示完全相同。
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
# 书中的频率下标写作 $j$；这里写作 $m$，因为本节用 $i$、$j$ 表示查询和键的位置（注意力权重 $a_{ij}$）、用 $k$ 表示卷积核大小，
# 后面把位置编码和注意力放在同一个式子里时不会混淆。
# 行 $i$ 是位置；第 $m$ 对列是一个以角频率 $\omega_m$ 旋转的单位向量 $(\sin i\omega_m, \cos i\omega_m)$，
# 频率从 $\omega_0 = 1$（每 $2\pi \approx 6.3$ 个位置转一圈）几何递减到约 $10^{-4}$（约 $6 \times 10^4$ 个位置才转一圈）。
# 因此编码的实现只需三步：算出角度矩阵 $\theta_{im} = i\,\omega_m$（一个外积）；
# 对每个角度取 $(\sin\theta_{im}, \cos\theta_{im})$；把这对数放进第 $2m$、$2m+1$ 列。
# 前向时截取前 $n$ 行，沿批量维广播相加后再做暂退（dropout）。
#
# 与书中的实现相比有三处不同：
#
# * 书中用 float32 计算角度；这里用 float64 计算再转成 float32，因为位置很大时 float32 的角度 $i\,\omega_m$ 本身已带舍入误差，$\sin$、$\cos$ 会把它原样带进编码。
# * 书中把 $\mathbf{P}$ 存成普通的张量属性、每次前向时 `.to(X.device)`；这里把它注册为不写入 `state_dict` 的缓冲区（`persistent=False`），因为这样它随模块的 `.to(device)` 一起移动一次，而 `state_dict` 仍与书中一样不含 $\mathbf{P}$（每次构造时都能重新算出来）。
# * 书中的 `forward` 不检查输入；这里各用一行检查形状和长度，因为最后一维为 1 的输入会被悄悄广播成 `num_hiddens` 维，过长的序列也只会得到一条不说明原因的形状错误。

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
print("output:", tuple(X.shape), " P:", tuple(P.shape))
print("P is in state_dict:", "P" in pos_encoding.state_dict())
print("P[0, 1, :4] =", [round(v, 4) for v in P[0, 1, :4].tolist()],
      " (sin 1, cos 1, sin w_1, cos w_1)")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.equal(X, P)  # dropout 0 and zero input: the output is the encoding itself
w1 = 10000 ** (-2 / encoding_dim)
assert torch.allclose(P[0, 1, :4], torch.tensor([math.sin(1), math.cos(1), math.sin(w1),
                                                 math.cos(w1)]))

# %% [markdown]
# 加上位置编码以后，同一个词元在不同位置上的输入不同，置换等变就被打破了：
# 重复上面的实验，只是在自注意力之前先加位置编码。

# %%
torch.manual_seed(0)
pe16 = PositionalEncoding(16, dropout=0).eval()
tokens = torch.randn(1, 6, 16)
with torch.no_grad():
    Xa, Xb = pe16(tokens), pe16(tokens[:, perm])  # position i gets P[i], whatever token sits there
    Z = self_attn_demo(Xa, Xa, Xa)
    Z_of_permuted = self_attn_demo(Xb, Xb, Xb)
pe_gap = (Z_of_permuted - Z[:, perm]).abs().max().item()
print(f"with positional encoding: max |SelfAttn(PE(X[perm])) - SelfAttn(PE(X))[perm]| = {pe_gap:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert pe_gap > 0.1

# %% [markdown]
# 看第 6 到 9 列随位置的变化：列号越大，频率越低、周期越长；同一对正弦和余弦之间相差四分之一周期。

# %%
d2l.plot(torch.arange(num_steps), P[0, :, 6:10].T, xlabel="Row (position)",
         figsize=(6, 2.5), legend=[f"Col {c}" for c in range(6, 10)])
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
# 把整个编码矩阵画成热图，能看到同样的结构：左边的列（高频）随位置快速变化；
# 右边的列（低频）在这 60 个位置上几乎不变，正弦列停在 0 附近、余弦列停在 1 附近，所以呈现竖条纹。

# %%
d2l.show_heatmaps(P[0, :, :].unsqueeze(0).unsqueeze(0), xlabel="Column (encoding dimension)",
                  ylabel="Row (position)", figsize=(3.5, 4), cmap="Blues")
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
# 就有 $\mathbf{p}_{i+\delta} = \mathbf{M}_\delta \mathbf{p}_i$ 对所有 $i$ 成立。下面在数值上验证它
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
def encoding_float64(num_steps, num_hiddens):
    pos = torch.arange(num_steps, dtype=torch.float64)[:, None]
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    P64 = torch.zeros(num_steps, num_hiddens, dtype=torch.float64)
    P64[:, 0::2], P64[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    return P64


P64 = encoding_float64(num_steps, encoding_dim)
rotation_errors = {}
for delta in (1, 5, 17):
    M = rotation_for_offset(delta, encoding_dim)
    rotation_errors[delta] = (P64[delta:] - P64[:-delta] @ M.T).abs().max().item()
    print(f"delta={delta:2d}: max |P[i+delta] - M P[i]| < 1e-12: {rotation_errors[delta] < 1e-12}")
# The float32 encoding of the class agrees with the float64 closed form too.
print("class encoding matches closed form:",
      torch.allclose(P[0].double(), P64, atol=1e-5))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(err < 1e-12 for err in rotation_errors.values())
assert torch.allclose(P[0].double(), P64, atol=1e-5)

# %% [markdown]
# ### 动手试试：偏移就是旋转
#
# 下面的探索器（explorer）把上面由 `PositionalEncoding` 对全零输入算出的编码（60 个位置、32 维）按列对画在平面上：
# 第 $m$ 对列 $(p_{i,2m}, p_{i,2m+1}) = (\sin i\omega_m, \cos i\omega_m)$ 总落在单位圆上，
# $i = 0$ 时在正上方 $(0, 1)$，$i$ 每增加 1 就顺时针转过角度 $\omega_m$。
# 四个面板是 $m = 0, 2, 4, 6$ 四对列（$\omega_m = 1, 0.316, 0.1, 0.0316$）。拖动偏移 $\delta$：
# 在每个圆上，$\mathbf{p}_{i+\delta}$ 都比 $\mathbf{p}_i$ 多转了 $\delta\omega_m$；
# 叉号 $\mathbf{M}_\delta\mathbf{p}_i$（用上面的 `rotation_for_offset` 算出）始终正好落在 $\mathbf{p}_{i+\delta}$ 上，
# 每个圆下的文字给出这对列的旋转角和所有 $i$ 上的最大误差（只剩 float32 的舍入）。
# 再拖动位置 $i$：两个点一起沿圆移动，夹角保持 $\delta\omega_m$ 不变——变换只依赖 $\delta$，不依赖 $i$。
# 比较四个面板：高频的 $m = 0$ 在 $\delta$ 较大时转过不止一圈；低频的 $m = 6$ 上，60 个位置只占不到半圈，同样的 $\delta$ 只转过一个小角度。

# %%
#@save
def rotation_states(pos_encoding, num_steps, pairs, positions, offsets):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode), by layer: for each column
    pair m in `pairs`, "circle" (the unit circle) and "encoding" (the points (p_{i,2m},
    p_{i,2m+1}) of all num_steps positions); for each position i in `positions` and offset delta
    in `offsets`, "p_i", "p_i+delta" and "M p_i" (M = rotation_for_offset(delta)); and "text":
    per pair and offset, two lines: the angle delta * w_m and max_i |M p_i - p_{i+delta}|."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_steps, d))[0].double()  # (num_steps, d)
    P2 = P.reshape(num_steps, d // 2, 2)  # P2[i, m] = (p_{i,2m}, p_{i,2m+1})
    omega = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    M = {delta: rotation_for_offset(delta, d) for delta in offsets}
    turn = torch.linspace(0, 2 * math.pi, 73, dtype=torch.float64)
    layers = {name: [] for name in ("circle", "encoding", "p_i", "p_i+delta", "M p_i", "text")}

    def points(layer, state, xy, label):  # xy: (k, 2), k points (sin, cos)
        layers[layer].extend(d2l.rows(state, sin=xy[:, 0], cos=xy[:, 1], point=[label] * len(xy)))

    for m in pairs:
        points("circle", {"pair": m}, torch.stack([turn.sin(), turn.cos()], dim=1), "unit circle")
        points("encoding", {"pair": m}, P2[:, m], f"p_0 … p_{num_steps - 1}")
        for i in positions:
            points("p_i", {"pair": m, "pos": i}, P2[i:i + 1, m], "p_i")
            for delta in offsets:
                state = {"pair": m, "pos": i, "delta": delta}
                points("p_i+delta", state, P2[i + delta:i + delta + 1, m], "p_(i+δ)")
                rotated = (M[delta] @ P[i]).reshape(d // 2, 2)
                points("M p_i", state, rotated[m:m + 1], "M_δ p_i")
    for delta in offsets:
        gap = (P[:num_steps - delta] @ M[delta].T - P[delta:]).abs()  # (num_steps - delta, d)
        gap = gap.reshape(-1, d // 2, 2).amax(dim=(0, 2))  # per pair: max over i
        for m in pairs:
            lines = [f"rotation angle δ·ω_m = {delta * omega[m].item():.3f} rad",
                     f"max over i |M_δ p_i − p_(i+δ)| = {gap[m].item():.1e}"]
            layers["text"] += d2l.rows({"pair": m, "delta": delta}, row_labels=("line", [0, 1]),
                                       text=lines)
    return layers


# %%
pairs, positions, offsets = (0, 2, 4, 6), range(0, 36, 5), range(0, 21)
layers = rotation_states(pos_encoding, num_steps, pairs, positions, offsets)
looks = {"circle": (6, "circle"), "encoding": (18, "circle"), "p_i": (120, "circle"),
         "p_i+delta": (140, "circle"), "M p_i": (70, "cross")}  # layer: (size, shape)


def circle_panel(m):
    """All layers of column pair m, drawn on one unit circle."""
    return tuple(d2l.plane_view(
        [r for r in layers[name] if r["pair"] == m], "sin", "cos", color="point", size=size,
        shape=shape, width=170, height=170, x_title=f"p_(i,{2 * m}) = sin(i·ω_m)",
        y_title=f"p_(i,{2 * m + 1}) = cos(i·ω_m)",
        title=f"pair m = {m}: ω_m = {10000 ** (-2 * m / encoding_dim):.3g}")
        for name, (size, shape) in looks.items())


d2l.explorer(*[circle_panel(m) for m in pairs],
             *[d2l.text_view([r for r in layers["text"] if r["pair"] == m], "text", width=170,
                             height=36, size=11) for m in pairs],
             controls=[d2l.Slider("pos", positions, "position i", default=10),
                       d2l.Slider("delta", offsets, "offset δ", default=5)],
             title="An offset δ rotates every (sin, cos) pair by the angle δ·ω_m", columns=4)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
p_i = {(r["pair"], r["pos"]): (r["sin"], r["cos"]) for r in layers["p_i"]}
assert all(abs(a["sin"] - b["sin"]) + abs(a["cos"] - b["cos"]) < 1e-3 and abs(a["sin"] * p_i[a["pair"], a["pos"]][0] + a["cos"] * p_i[a["pair"], a["pos"]][1] - math.cos(a["delta"] * 10000 ** (-2 * a["pair"] / encoding_dim))) < 1e-3 for a, b in zip(layers["p_i+delta"], layers["M p_i"]))  # noqa: E501
assert all(float(r["text"].split("= ")[-1]) < 1e-6 for r in layers["text"] if r["line"] == 1)
assert max(offsets) > 2 * math.pi
assert p_i[0, 0] == (0.0, 1.0) and min(r["sin"] for r in layers["encoding"] if r["pair"] == 6) >= 0

# %% [markdown]
# ### 动手试试：点积只看距离
#
# 旋转还意味着：两个位置编码的点积 $\mathbf{p}_i^\top \mathbf{p}_j$ 只与两者相距多远有关。
# 下面的探索器对每个位置 $i$ 画出 $\mathbf{p}_i$ 与所有位置 $j$ 的编码的点积（同样来自 `PositionalEncoding`）。
# 拖动位置 $i$：曲线总在 $j = i$ 处（虚线）取最大值 $d/2 = 16$，因为每对列贡献 $\sin^2 + \cos^2 = 1$；
# 整条曲线只是跟着 $i$ 平移，形状不变，在 $i$ 两侧对称。圆点是把位置 0 的曲线搬过来的 $\mathbf{p}_0^\top \mathbf{p}_{|i-j|}$，
# 它在每个 $i$ 下都与实线重合：$\mathbf{p}_i^\top \mathbf{p}_j$ 只依赖 $|i-j|$。为什么如此，留给练习 3 用三角恒等式证明。

# %%
#@save
def dot_profile_states(pos_encoding, num_steps, positions):
    """Explorer rows from `pos_encoding` applied to zeros (eval mode), by layer: for each
    position i in `positions`, "profile" (p_i . p_j for j = 0..num_steps-1), "shifted" (the
    profile of position 0 moved to i, p_0 . p_|i-j|), "rule" (j = i) and one "text" line."""
    d = pos_encoding.num_hiddens
    with torch.no_grad():
        P = pos_encoding.eval()(torch.zeros(1, num_steps, d))[0].double()  # (num_steps, d)
    gram, j = P @ P.T, torch.arange(num_steps)  # gram[i, j] = p_i . p_j
    layers = {name: [] for name in ("profile", "shifted", "rule", "text")}
    for i in positions:
        state, shifted = {"position": i}, gram[0, (j - i).abs()]
        layers["profile"] += d2l.rows(state, j=j, dot=gram[i], curve=["p_i · p_j"] * num_steps)
        layers["shifted"] += d2l.rows(state, j=j, dot=shifted,
                                      curve=["p_0 · p_|i−j|"] * num_steps)
        layers["rule"] += d2l.rows(state, j=[i])
        layers["text"] += d2l.rows(state, text=[
            f"largest p_i · p_j at j = {gram[i].argmax().item()}: {gram[i].max().item():.2f}; "
            f"max over j of |p_i · p_j − p_0 · p_|i−j|| = {(gram[i] - shifted).abs().max():.1e}"])
    return layers


# %%
query_positions = range(0, num_steps, 4)
profile = dot_profile_states(pos_encoding, num_steps, query_positions)
dot_range = (math.floor(min(r["dot"] for r in profile["profile"])), encoding_dim / 2 + 1)
style = dict(width=420, height=220, x_title="position j", y_title="p_i · p_j", y_domain=dot_range)
d2l.explorer((d2l.line_view(profile["profile"], "j", "dot", color="curve", **style),
              d2l.point_view(profile["shifted"], "j", "dot", color="curve", size=16, **style),
              d2l.rule_view(profile["rule"], "j", width=420, height=220)),
             d2l.text_view(profile["text"], "text", width=420),
             controls=[d2l.Slider("position", query_positions, "position i", default=20)],
             title="Dot product of position i's encoding with every position j", columns=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
dots = {(r["position"], r["j"]): r["dot"] for r in profile["profile"]}
assert all(max(range(num_steps), key=lambda j: dots[i, j]) == i and abs(dots[i, i] - 16) < 1e-3 for i in query_positions)  # noqa: E501
assert all(abs(dots[i, j] - dots[0, abs(i - j)]) < 1e-3 for i in query_positions for j in range(num_steps))  # noqa: E501

# %% [markdown]
# ## 实验：一个注意力模式已知的任务——反转序列
#
# 位置编码真的能让自注意力学会“按位置取数”吗？找一个我们事先知道正确注意力模式的任务：
# 输入 $n = 8$ 个随机词元 $x_0, \ldots, x_7$（词表大小 30），要求输出 $y_i = x_{7-i}$。
# 模型只有三部分：词元嵌入加正弦位置编码、**一个**单头自注意力层、一个把每个位置映射到词表的线性读出层。
# 这里故意**不用**残差连接：位置 $i$ 的输出只能通过注意力权重 $a_{ij}$ 读取位置 $j$ 的信息，
# 所以要完成任务，第 $i$ 个查询就必须把权重放在第 $7-i$ 个键上。
#
# 这个模式用正弦编码是表达得出来的：由两角和公式，对每一对列
# $\sin((n-1-i)\omega_m) = \sin((n-1)\omega_m)\cos(i\omega_m) - \cos((n-1)\omega_m)\sin(i\omega_m)$，
# $\cos((n-1-i)\omega_m)$ 同理，所以存在一个线性变换把 $\mathbf{p}_i$ 变成 $\mathbf{p}_{n-1-i}$；
# 查询投影学到它之后，查询 $i$ 与键 $j$ 的位置部分之积
# $\mathbf{p}_{n-1-i}^\top \mathbf{p}_j = \sum_{m} \cos((n-1-i-j)\,\omega_m)$ 恰在 $j = n-1-i$ 处最大（每一项都等于 1）。

# %%
vocab_size, seq_len, d_model = 30, 8, 32


def reversal_batch(batch_size, generator):
    """Random tokens (batch_size, seq_len) and their reversal, the targets."""
    tokens = torch.randint(0, vocab_size, (batch_size, seq_len), generator=generator)
    return tokens, tokens.flip(1)


class ReversalNet(nn.Module):
    """Token embedding + position information -> one self-attention layer -> linear readout.

    tokens: (batch_size, seq_len) -> logits (batch_size, seq_len, vocab_size). No residual
    connection: output i can only read token j through the attention weight a_ij.
    """

    def __init__(self, positions):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.positions = positions  # a module that adds position information to its input
        self.attention = d2l.MultiHeadAttention(d_model, d_model, d_model, d_model,
                                                num_heads=1, dropout=0)
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        X = self.positions(self.embedding(tokens))
        return self.readout(self.attention(X, X, X))


def train_reversal(positions, num_steps=400, lr=0.05, seed=0):
    """Train a ReversalNet with Adam; the learning rate decays linearly to 0."""
    torch.manual_seed(seed)
    net = ReversalNet(positions)
    generator = torch.Generator().manual_seed(seed + 100)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / num_steps)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(num_steps):
        tokens, target = reversal_batch(64, generator)
        loss = loss_fn(net(tokens).reshape(-1, vocab_size), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return net.eval()


def evaluate_reversal(net):
    """Token accuracy and attention weights (1000, seq_len, seq_len) on 1000 fresh sequences."""
    tokens, target = reversal_batch(1000, torch.Generator().manual_seed(12345))
    with torch.no_grad():
        accuracy = (net(tokens).argmax(dim=-1) == target).float().mean().item()
    return accuracy, net.attention.attention.attention_weights, tokens


# %%
reversal_net = train_reversal(PositionalEncoding(d_model, dropout=0))
accuracy, rev_weights, rev_tokens = evaluate_reversal(reversal_net)
expected_key = torch.arange(seq_len - 1, -1, -1)  # query i should look at key 7 - i
mean_weights = rev_weights.mean(dim=0)  # (seq_len, seq_len), averaged over 1000 sequences
weight_on_expected = rev_weights[:, torch.arange(seq_len), expected_key]  # (1000, seq_len)
hits = (rev_weights.argmax(dim=-1) == expected_key).float().mean().item()
print(f"token accuracy on 1000 new sequences: {accuracy:.2f}")
print("key with the largest mean weight, per query:", mean_weights.argmax(dim=-1).tolist())
print(f"mean weight on key 7 - i above 0.95: {bool(weight_on_expected.mean() > 0.95)}; "
      f"above 0.9 for every query: {bool((weight_on_expected.mean(dim=0) > 0.9).all())}")
print(f"share of (sequence, query) pairs whose largest weight is on key 7 - i: {hits:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert accuracy > 0.95
assert mean_weights.argmax(dim=-1).tolist() == expected_key.tolist()
assert weight_on_expected.mean() > 0.9 and weight_on_expected.mean(dim=0).min() > 0.85
assert hits > 0.95

# %% [markdown]
# 把学到的注意力权重画出来：左边是第一条测试序列，右边是 1000 条序列的平均。
# 平均图的列只能按**位置**标注（每条序列在同一位置上的词元各不相同），所以两幅图的横轴都标位置，
# 第一条序列的词元和模型的输出在图下方逐行打印出来。

# %%
with torch.no_grad():
    example_prediction = reversal_net(rev_tokens[:1]).argmax(dim=-1)[0].tolist()
d2l.show_heatmaps(torch.stack([rev_weights[0], mean_weights]).unsqueeze(0),
                  xlabel="Key position", ylabel="Query position",
                  titles=["Test sequence 0", "Mean over 1000 sequences"], figsize=(7, 3.6),
                  xticklabels=[str(j) for j in range(seq_len)],
                  yticklabels=[str(i) for i in range(seq_len)])
d2l.plt.show()
example = rev_tokens[0].tolist()
print("sequence 0, tokens at positions 0..7:", example)
for i in range(seq_len):
    j = rev_weights[0, i].argmax().item()
    print(f"query {i}: largest weight on key {j} (token {example[j]}) -> output "
          f"{example_prediction[i]}")

# %% [markdown]
# 两幅图都是一条**反对角线**：第 $i$ 个查询几乎把全部权重放在第 $7-i$ 个键上，
# 读出那里的词元，输出的正是反转后的序列——这正是反转所需要的模式。
# 练习 4 会去掉位置编码重做一次：由于置换等变，模型不知道哪个词元在哪个位置，
# 准确率跌到只凭“序列里有哪些词元”能猜对的水平，练习的答案把这个水平算了出来。

# %% [markdown]
# ## 小结
#
# * 自注意力让同一组词元同时充当查询、键和值，输出与输入同形状。
# * 逐项推导：卷积 $\mathcal{O}(knd^2)$、RNN $\mathcal{O}(nd^2)$、自注意力 $\mathcal{O}(n^2 d)$；
#   自注意力的顺序操作和最大路径长度都是 $\mathcal{O}(1)$，但计算和注意力权重的内存随 $n^2$ 增长：
#   $d = 64$ 时它的乘加次数在 $n = d$ 处与 GRU 相等，之后更多；$n$ 从 1024 翻到 2048，
#   它为反向传播保存的内存乘 3.5，卷积和 GRU 不到 2。
# * 自注意力是置换等变的（我们在数值上验证了），本身不区分顺序；把位置编码加到输入上打破了这种对称。
# * 正弦/余弦位置编码像连续版的二进制计数；任意偏移 $\delta$ 对应一个只依赖 $\delta$ 的旋转。
# * 一层带位置编码的自注意力能学会反转序列，学到的注意力权重正是预期的反对角线；
#   去掉位置编码后，准确率只剩只凭“序列里有哪些词元”能达到的上限 0.22（练习 4）。

# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 设想把许多层带位置编码的自注意力直接叠起来表示一个序列（位置编码只在最底层加一次），会有什么问题？
# 先做一个小实验：取 6 个随机初始化的自注意力层（`d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0)`，
# 先 `torch.manual_seed(0)` 再依次创建），输入为 `torch.randn(1, 10, 32)` 加上 32 维的正弦位置编码。
# 用“各词元表示两两之间余弦相似度的平均值”衡量词元之间还有多大区别，分别记录
# (a) 直接叠加 $\mathbf{X} \leftarrow \operatorname{SelfAttn}(\mathbf{X})$ 和
# (b) 带残差连接 $\mathbf{X} \leftarrow \mathbf{X} + \operatorname{SelfAttn}(\mathbf{X})$ 时，第 0 层（输入）到第 6 层的数值。
# 定义 `ex1_plain` 和 `ex1_residual`，各为长 7 的 Python 列表。然后在下面的答案单元里讨论深层堆叠的问题。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def mean_pairwise_cosine(X):
    """Mean cosine similarity over all pairs of distinct tokens of X: (1, n, d)."""
    Z = nn.functional.normalize(X[0], dim=-1)
    G = Z @ Z.T
    n = G.shape[0]
    return ((G.sum() - G.diagonal().sum()) / (n * (n - 1))).item()


torch.manual_seed(0)
stack = [d2l.MultiHeadAttention(32, 32, 32, 32, 4, dropout=0).eval() for _ in range(6)]
X0 = PositionalEncoding(32, dropout=0).eval()(torch.randn(1, 10, 32))
ex1_plain, ex1_residual = [mean_pairwise_cosine(X0)], [mean_pairwise_cosine(X0)]
plain, residual = X0, X0
with torch.no_grad():
    for layer in stack:
        plain = layer(plain, plain, plain)
        residual = residual + layer(residual, residual, residual)
        ex1_plain.append(mean_pairwise_cosine(plain))
        ex1_residual.append(mean_pairwise_cosine(residual))
print("plain stack   :", [round(v, 2) for v in ex1_plain])
print("with residuals:", [round(v, 2) for v in ex1_residual])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert len(ex1_plain) == 7 and len(ex1_residual) == 7, "one value for the input and each of 6 layers"
assert abs(ex1_plain[0] - ex1_residual[0]) < 1e-6, "both lists start from the same input"
assert ex1_plain[0] < 0.5, "the input tokens (random + positional encoding) are far from parallel"
assert ex1_plain[-1] > 0.99, \
    f"plain stack ends at {ex1_plain[-1]:.3f}; 6 attention layers should make the tokens parallel"
assert ex1_residual[-1] < 0.8, \
    f"residual stack ends at {ex1_residual[-1]:.3f}; residuals should keep the tokens apart"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：(1) **表示坍缩**：每层注意力都是对值向量的加权平均（凸组合），刚初始化时权重又接近均匀，
# 层层平均会让所有词元的表示趋于相同。上面的实验里，直接叠 6 层后词元间的平均余弦相似度从约 0.28 变成了约 1.0
# （两层就超过 0.99），位置信息也随之消失；带残差连接时它仍低于 0.5。所以深层模型需要残差连接
# （以及层规范化、前馈网络，10.7 节）。(2) **位置信息被稀释**：位置编码只在输入加一次，经过多层混合后，
# 高层表示里的位置信息只能靠残差通路保留；许多模型因此在每层注意力里直接使用相对位置（相对位置编码、旋转位置编码）。
# (3) **长度外推**：用长度不超过训练长度的序列训练，模型没见过更大位置的编码，推广到更长序列时效果变差。
# (4) **代价**：每层都是 $\mathcal{O}(n^2 d)$ 的计算和 $\mathcal{O}(n^2)$ 的权重内存，层数越多，长序列越贵；
# 深层网络也更难优化，通常需要学习率预热（warmup）等技巧。

# %% [markdown]
# ### 练习 2
#
# 设计一种**可学习**的位置编码：类 `LearnedPositionalEncoding(num_hiddens, max_len=1000)`，
# 持有形状为（1，`max_len`，`num_hiddens`）的可训练参数 `P`（用小的随机数初始化），前向时把前 $n$ 行加到输入上；
# 序列长于 `max_len` 时抛出说明原因的 `ValueError`。它有多少参数？
# 然后用它代替正弦编码训练本节的反转模型：`ex2_net = train_reversal(LearnedPositionalEncoding(d_model, max_len=seq_len))`，
# 并定义 `ex2_accuracy, ex2_weights, _ = evaluate_reversal(ex2_net)`。可学习的编码也能学出反对角线的注意力模式吗？

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


torch.manual_seed(0)
ex2_net = train_reversal(LearnedPositionalEncoding(d_model, max_len=seq_len))
ex2_accuracy, ex2_weights, _ = evaluate_reversal(ex2_net)
print("parameters of the table:", ex2_net.positions.P.numel())
print(f"accuracy {ex2_accuracy:.2f}, key with the largest mean weight:",
      ex2_weights.mean(dim=0).argmax(dim=-1).tolist())

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
# The learned table changed during training and produced the reversal pattern.
assert ex2_accuracy > 0.95, f"accuracy {ex2_accuracy:.2f}; expected > 0.95"
assert ex2_weights.mean(dim=0).argmax(dim=-1).tolist() == list(range(seq_len - 1, -1, -1))
assert ex2_weights[:, torch.arange(seq_len), torch.arange(seq_len - 1, -1, -1)].mean() > 0.9

# %% [markdown]
# ### 练习 3
#
# 对正弦编码，两个位置编码的点积 $\mathbf{p}_i^\top \mathbf{p}_j$ 只依赖 $|i-j|$。
# 用 `PositionalEncoding(64, 0, max_len=50).P` 算出 Gram 矩阵 `ex3_gram`（形状 (50, 50)，第 $(i,j)$ 项为 $\mathbf{p}_i^\top \mathbf{p}_j$），
# 并定义 `ex3_profile`：长 50 的张量，第 $\delta$ 项为 $\mathbf{p}_0^\top \mathbf{p}_\delta$。
# 先在上面的点积探索器里拖动位置 $i$，看峰值在哪里、曲线的形状是否随 $i$ 改变；再
# 用三角恒等式说明为什么 $\mathbf{p}_i^\top \mathbf{p}_j$ 只依赖 $|i-j|$，它在 $i = j$ 时等于多少？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# p_i . p_j = sum_m [sin(i w_m) sin(j w_m) + cos(i w_m) cos(j w_m)] = sum_m cos((i - j) w_m): i - j
# only, and cos is even, so |i - j| only; at i = j each of the d / 2 terms is 1: the sum is 32.
P50 = PositionalEncoding(64, 0, max_len=50).P[0].double()
ex3_gram = P50 @ P50.T
ex3_profile = ex3_gram[0]
print("p_0 . p_delta for delta = 0..5:", [round(v, 2) for v in ex3_profile[:6].tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex3_gram.shape) == (50, 50) and tuple(ex3_profile.shape) == (50,)
assert abs(float(ex3_profile[0]) - 32) < 1e-3, f"p_0 . p_0 = {float(ex3_profile[0]):.3f}; expected d / 2"
_idx = torch.arange(50)
_rebuilt = ex3_profile[(_idx[:, None] - _idx[None, :]).abs()].double()
assert (ex3_gram.double() - _rebuilt).abs().max() < 1e-3, "p_i . p_j should depend on |i - j| only"
assert (ex3_profile[1:].double() < ex3_profile[0].double()).all(), "p_i . p_j is largest at i = j"

# %% [markdown]
# ### 练习 4
#
# 去掉位置编码（把 `nn.Identity()` 作为 `positions` 传给 `train_reversal`）重新训练反转模型，
# 定义 `ex4_accuracy`（`evaluate_reversal` 给出的词元准确率）。结果与有位置编码时相比如何？用置换等变解释，
# 并算出一个不知道位置的模型在这 1000 条测试序列上最多能达到的准确率，与 `ex4_accuracy` 比较。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# Without positions, output i is a function of its own token x_i and of the multiset of all 8
# tokens only (permutation equivariance): it cannot know which token sits at position 7 - i.
# Given x_i and the multiset, the target x_{7-i} is equally likely to be any of the 7 other
# tokens, so the best any such model can do is to output the most frequent of those 7 and be
# right with probability (its count) / 7: 1/7 = 0.14 when all tokens differ, more with repeats.
ex4_net = train_reversal(nn.Identity())
ex4_accuracy, _, ex4_tokens = evaluate_reversal(ex4_net)
one_hot = nn.functional.one_hot(ex4_tokens, vocab_size)            # (1000, 8, vocab_size)
others = one_hot.sum(dim=1, keepdim=True) - one_hot  # counts of the 7 other tokens, per query
most = others.max(dim=-1).values                                    # (1000, 8)
with torch.no_grad():
    ex4_pred = ex4_net(ex4_tokens).argmax(dim=-1)
correct = ex4_pred == ex4_tokens.flip(1)
distinct = one_hot.sum(dim=1).max(dim=-1).values == 1               # sequences with no repeat
print(f"accuracy without positional encoding: {ex4_accuracy:.2f} (with it: {accuracy:.2f})")
print(f"best possible from the multiset alone, E[max count / 7]: {(most / 7).mean():.2f}")
print("share of outputs that are a most frequent other token:",
      f"{(others.gather(-1, ex4_pred[..., None])[..., 0] == most).float().mean():.2f}")
print(f"on the {int(distinct.sum())} sequences without repeats: accuracy "
      f"{correct[distinct].float().mean():.2f} (1/7 = {1 / 7:.2f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert 0 <= ex4_accuracy <= 1
assert ex4_accuracy < 0.4, \
    f"accuracy {ex4_accuracy:.2f}: without positions the model cannot reverse the sequence"
assert accuracy - ex4_accuracy > 0.5
