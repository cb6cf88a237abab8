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
# # 10.6 自注意力和位置编码
#
# 到目前为止，查询来自一处（例如解码器），键和值来自另一处（例如编码器）。
# 如果让**同一组词元**同时充当查询、键和值，每个词元就能直接“看到”序列里的所有其他词元，
# 这就是**自注意力**（self-attention）。本节回答两个问题：自注意力与卷积神经网络、
# 循环神经网络相比代价和收益各是什么——我们不只列出复杂度，还要**实际测量**；
# 以及，自注意力本身不关心顺序，怎样用**位置编码**（positional encoding）把顺序信息补回来。

# %%
import time

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
assert Y.shape == X.shape

# %% [markdown]
# ## 比较卷积神经网络、循环神经网络和自注意力
#
# 把长度为 $n$、每个词元 $d$ 维的序列映射成另一个同样形状的序列，有三种常见做法。
# 设卷积核大小为 $k$，比较三个指标：计算复杂度、**顺序操作**（sequential operations，
# 必须一个接一个完成、无法并行的步骤数）和**最大路径长度**（maximum path length，
# 任意两个位置之间信息要经过的最多层数/步数，越短越容易学到远距离依赖）：
#
# | 层 | 计算复杂度 | 顺序操作 | 最大路径长度 |
# | --- | --- | --- | --- |
# | 卷积（CNN） | $\mathcal{O}(knd^2)$ | $\mathcal{O}(1)$ | $\mathcal{O}(n/k)$ |
# | 循环（RNN） | $\mathcal{O}(nd^2)$ | $\mathcal{O}(n)$ | $\mathcal{O}(n)$ |
# | 自注意力 | $\mathcal{O}(n^2d)$ | $\mathcal{O}(1)$ | $\mathcal{O}(1)$ |
#
# 自注意力的路径最短、并行度最高，代价是计算量和**注意力矩阵的内存**随 $n$ 平方增长。
# 表格只是渐近结论，下面实际测一测：固定 $d = 64$、批量大小 1，让 $n$ 从 64 增长到 4096，
# 对一维卷积层（核大小 3）、GRU 层和单头自注意力层各做一次前向加反向传播，记录
#
# * **时间**：取 3 次中的最小值（机器有噪声，最小值最能代表计算本身）；
# * **反向传播需要保存的激活值大小**：用 `torch.autograd.graph.saved_tensors_hooks`
#   统计前向时为反向保存下来的张量字节数。训练时这部分内存必须一直保留，
#   而且它是确定的，不受机器快慢影响，正好用来检验 $n^2$ 还是 $n$。

# %%
def saved_activation_bytes(fn):
    """Bytes of the distinct tensors autograd saves for backward while running `fn()`."""
    seen = {}

    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def measure(layer_fn, n, d=64, repeats=3):
    """(best seconds of forward + backward, saved-activation bytes) for a length-n input."""
    best, nbytes = float("inf"), 0
    for _ in range(repeats):
        X = torch.randn(1, n, d, requires_grad=True)
        start = time.perf_counter()
        out, nbytes = saved_activation_bytes(lambda X=X: layer_fn(X))
        out.sum().backward()
        best = min(best, time.perf_counter() - start)
    return best, nbytes


# %%
torch.manual_seed(0)
d = 64
conv = nn.Conv1d(d, d, kernel_size=3, padding=1)
gru = nn.GRU(d, d, batch_first=True)
self_attn = d2l.MultiHeadAttention(d, d, d, d, num_heads=1, dropout=0)
layers = {
    "CNN (k=3)": lambda X: conv(X.transpose(1, 2)),  # Conv1d wants (batch, channels, n)
    "RNN (GRU)": lambda X: gru(X)[0],
    "self-attention": lambda X: self_attn(X, X, X),
}
lengths = [64, 128, 256, 512, 1024, 2048, 4096]
results = {name: [measure(fn, n) for n in lengths] for name, fn in layers.items()}


def slope(xs, ys):
    """Least-squares slope of log(ys) against log(xs): the exponent p in y ~ x^p."""
    lx = torch.tensor(xs, dtype=torch.float64).log()
    ly = torch.tensor(ys, dtype=torch.float64).log()
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / (lx * lx).sum())


upper = slice(len(lengths) // 2, None)  # fit on the larger n, where asymptotics dominate
mem_slopes = {name: slope(lengths[upper], [b for _, b in r[upper]]) for name, r in results.items()}
for name, s in mem_slopes.items():
    print(f"{name:15s} saved-activation memory ~ n^{s:.1f}")
assert mem_slopes["self-attention"] > 1.6
assert mem_slopes["CNN (k=3)"] < 1.2 and mem_slopes["RNN (GRU)"] < 1.2

# %% [markdown]
# 内存的指数是确定的：卷积和 GRU 保存的激活值随 $n$ 线性增长，自注意力要保存
# $n \times n$ 的注意力权重，指数接近 2。时间受机器负载影响，下一个单元的数字每次运行都会略有不同
# （nbval 不比较它的文本输出），但趋势是一致的。

# %%
# NBVAL_IGNORE_OUTPUT
time_slopes = {name: slope(lengths[upper], [t for t, _ in r[upper]]) for name, r in results.items()}
print(f"{'n':>6s}" + "".join(f"{name:>17s}" for name in results))
for i, n in enumerate(lengths):
    print(f"{n:6d}" + "".join(f"{results[name][i][0] * 1e3:14.2f} ms" for name in results))
for name, s in time_slopes.items():
    print(f"{name:15s} time ~ n^{s:.2f}")
# No assertion on seconds: they depend on the machine and its load (the memory check is exact).

fig, axes = d2l.plt.subplots(1, 2, figsize=(9, 3.2))
for name, r in results.items():
    axes[0].plot(lengths, [t for t, _ in r], "o-", label=f"{name} (slope {time_slopes[name]:.1f})")
    axes[1].plot(lengths, [b / 2**20 for _, b in r], "o-",
                 label=f"{name} (slope {mem_slopes[name]:.1f})")
for ax, ylabel in zip(axes, ["seconds (forward + backward)", "saved activations (MiB)"]):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length n")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
d2l.plt.tight_layout()
d2l.plt.show()

# %% [markdown]
# 在双对数坐标里，斜率就是 $n$ 的指数：自注意力的两条曲线都比卷积和 GRU 陡。
# 在较短的序列上（$n \lesssim d$），自注意力的 $n^2 d$ 并不比 $n d^2$ 大，
# 而 GRU 还要为 $n$ 个顺序步骤付出额外开销；序列越长，平方项越占主导。
# 这就是 Transformer 适合中等长度序列、而长序列需要稀疏或线性注意力等改进的原因。

# %% [markdown]
# ## 位置编码
#
# 自注意力对输入顺序是**置换等变**的：打乱词元顺序，输出也只是跟着打乱，模型分不出先后。
# 解决办法是在输入里加入位置信息。基于正弦和余弦的**固定**位置编码：
# 对输入 $\mathbf{X} \in \mathbb{R}^{n \times d}$，构造同形状的 $\mathbf{P}$，输出 $\mathbf{X} + \mathbf{P}$，其中
#
# $$p_{i, 2j} = \sin\left(\frac{i}{10000^{2j/d}}\right), \qquad
#   p_{i, 2j+1} = \cos\left(\frac{i}{10000^{2j/d}}\right).$$
#
# 行 $i$ 是位置，列 $2j$ 与 $2j+1$ 是一对共用频率 $\omega_j = 1/10000^{2j/d}$ 的正弦、余弦。
# 下面的实现预先算好 `max_len` 行，前向时截取前 $n$ 行，沿批量维广播相加后再做暂退（dropout）。

# %%
#@save
class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding added to the input, then dropout.

    X: (batch_size, num_steps, num_hiddens) with num_steps <= max_len. Output: same shape.
    `self.P`: (1, max_len, num_hiddens), P[0, i, 2j] = sin(i / 10000^(2j/d)),
    P[0, i, 2j+1] = cos(i / 10000^(2j/d)).
    """

    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        if num_hiddens % 2 != 0:
            raise ValueError(f"num_hiddens={num_hiddens} must be even: columns come in "
                             "sine/cosine pairs; use an even num_hiddens")
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.dropout = nn.Dropout(dropout)
        pos = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1)
        freq = torch.pow(10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
        angles = pos / freq  # (max_len, num_hiddens / 2)
        P = torch.zeros((1, max_len, num_hiddens))
        P[:, :, 0::2] = torch.sin(angles)
        P[:, :, 1::2] = torch.cos(angles)
        self.register_buffer("P", P, persistent=False)  # moves with .to(device)

    def forward(self, X):
        if X.dim() != 3 or X.shape[-1] != self.num_hiddens:
            raise ValueError(f"X must have shape (batch_size, num_steps, {self.num_hiddens}), "
                             f"got {tuple(X.shape)}")
        if X.shape[1] > self.max_len:
            raise ValueError(f"sequence length {X.shape[1]} exceeds max_len={self.max_len}; "
                             "create PositionalEncoding with a larger max_len")
        return self.dropout(X + self.P[:, :X.shape[1], :].to(X.dtype))


# %%
encoding_dim, num_steps = 32, 60
pos_encoding = PositionalEncoding(encoding_dim, 0).eval()
X = pos_encoding(torch.zeros((1, num_steps, encoding_dim)))
P = pos_encoding.P[:, :X.shape[1], :]
print("output:", tuple(X.shape), " P:", tuple(P.shape))
assert torch.equal(X, P)  # dropout 0 and zero input: the output is the encoding itself

# %% [markdown]
# 看第 6 到 9 列随位置的变化：列号越大，频率越低、周期越长；同一对正弦和余弦之间相差四分之一周期。

# %%
d2l.plot(torch.arange(num_steps), P[0, :, 6:10].T, xlabel="Row (position)",
         figsize=(6, 2.5), legend=[f"Col {d}" for d in range(6, 10)])
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
# 把整个编码矩阵画成热图，能看到同样的结构：左边的列（高频）变化快，右边的列（低频）几乎不变。

# %%
d2l.show_heatmaps(P[0, :, :].unsqueeze(0).unsqueeze(0), xlabel="Column (encoding dimension)",
                  ylabel="Row (position)", figsize=(3.5, 4), cmap="Blues")
d2l.plt.show()

# %% [markdown]
# ### 相对位置信息
#
# 固定位置编码还有一个好处：对任意固定的偏移 $\delta$，位置 $i + \delta$ 的编码是位置 $i$
# 编码的**线性变换**，而且这个变换只依赖 $\delta$、不依赖 $i$。对每一对列
# （频率 $\omega_j$），由两角和公式：
#
# $$\begin{bmatrix} \cos(\delta \omega_j) & \sin(\delta \omega_j) \\ -\sin(\delta \omega_j) & \cos(\delta \omega_j) \end{bmatrix}
#   \begin{bmatrix} p_{i, 2j} \\ p_{i, 2j+1} \end{bmatrix}
# = \begin{bmatrix} \sin((i+\delta)\omega_j) \\ \cos((i+\delta)\omega_j) \end{bmatrix}
# = \begin{bmatrix} p_{i+\delta, 2j} \\ p_{i+\delta, 2j+1} \end{bmatrix}.$$
#
# 把 $d/2$ 个这样的 $2 \times 2$ 旋转块排成块对角矩阵 $\mathbf{M}_\delta$，
# 就有 $\mathbf{p}_{i+\delta} = \mathbf{M}_\delta \mathbf{p}_i$ 对所有 $i$ 成立。下面在数值上验证它
# （用 float64 计算，排除 float32 舍入的干扰）。

# %%
def rotation_for_offset(delta, num_hiddens):
    """Block-diagonal M with M @ p_i == p_{i+delta} for the sinusoidal encoding."""
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    c, s = torch.cos(delta * omega), torch.sin(delta * omega)
    blocks = [torch.tensor([[ci, si], [-si, ci]], dtype=torch.float64)
              for ci, si in zip(c.tolist(), s.tolist())]
    return torch.block_diag(*blocks)


def encoding_float64(num_steps, num_hiddens):
    pos = torch.arange(num_steps, dtype=torch.float64)[:, None]
    omega = 1 / torch.pow(10000.0, torch.arange(0, num_hiddens, 2, dtype=torch.float64)
                          / num_hiddens)
    P64 = torch.zeros(num_steps, num_hiddens, dtype=torch.float64)
    P64[:, 0::2], P64[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    return P64


P64 = encoding_float64(num_steps, encoding_dim)
for delta in (1, 5, 17):
    M = rotation_for_offset(delta, encoding_dim)
    err = (P64[delta:] - P64[:-delta] @ M.T).abs().max().item()
    print(f"delta={delta:2d}: max |P[i+delta] - M P[i]| < 1e-12: {err < 1e-12}")
    assert err < 1e-12
# The float32 encoding of the class agrees with the float64 closed form too.
print("class encoding matches closed form:",
      torch.allclose(P[0].double(), P64, atol=1e-5))

# %% [markdown]
# ## 小结
#
# * 自注意力让同一组词元同时充当查询、键和值，输出与输入同形状。
# * 自注意力的并行度最高、最大路径长度为 $\mathcal{O}(1)$，但计算和注意力权重的内存随 $n^2$ 增长；
#   我们测得其保存的激活值指数约为 2，卷积和 GRU 约为 1。
# * 自注意力本身不区分顺序，位置编码把位置信息加进输入。
# * 正弦/余弦位置编码像连续版的二进制计数；任意偏移 $\delta$ 对应一个只依赖 $\delta$ 的旋转，
#   因此模型容易学到相对位置。
#
# ## 练习
#
# 1. 用可学习的位置嵌入（`nn.Parameter`，形状（1，`max_len`，`num_hiddens`））代替固定编码，
#    它有多少参数？对长度超过 `max_len` 的序列会怎样？
# 2. 验证固定编码的点积 $\mathbf{p}_i^\top \mathbf{p}_j$ 只依赖 $|i - j|$，并解释原因。

# %% tags=["solution"]
# 练习 1 的参考答案：max_len * num_hiddens 个参数，需要训练；它无法外推到更长的序列。
class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, num_hiddens, max_len=1000):
        super().__init__()
        self.P = nn.Parameter(torch.randn(1, max_len, num_hiddens) * 0.02)

    def forward(self, X):
        if X.shape[1] > self.P.shape[1]:
            raise ValueError(f"length {X.shape[1]} > max_len={self.P.shape[1]}: "
                             "a learned table has no rows for unseen positions")
        return X + self.P[:, :X.shape[1]]


torch.manual_seed(0)
learned = LearnedPositionalEmbedding(32, max_len=100)
print("parameters:", sum(p.numel() for p in learned.parameters()))
print("output:", tuple(learned(torch.zeros(2, 60, 32)).shape))
try:
    learned(torch.zeros(1, 101, 32))
except ValueError as e:
    print("ValueError:", e)

# %% tags=["solution"]
# 练习 2 的参考答案：p_i . p_j = sum_j [sin(i w)sin(j w) + cos(i w)cos(j w)] = sum_j cos((i - j) w)，
# 只依赖 i - j，而且 cos 是偶函数，所以只依赖 |i - j|。
G = P64 @ P64.T  # (num_steps, num_steps) Gram matrix
for k in (0, 3, 10):
    diag = torch.cat([torch.diagonal(G, k), torch.diagonal(G, -k)])
    spread = float(diag.max() - diag.min())
    print(f"|i-j|={k:2d}: p_i.p_j = {float(diag[0]):.3f} for every pair, spread < 1e-9: {spread < 1e-9}")
    assert spread < 1e-9
