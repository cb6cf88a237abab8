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
# # 10.2 注意力汇聚：Nadaraya-Watson 核回归
#
# 上一节把注意力写成了“按查询与键的匹配程度，对值加权求和”，但没有说清权重 $\alpha$ 从哪里来。
# 这一节用统计学里一个六十年代的老方法——**Nadaraya-Watson 核回归**（kernel regression）——
# 把这个框架落到实处。它足够简单，可以一眼看清每个权重的含义；又恰好包含了注意力机制的全部要素：
# 查询、键、值、softmax 权重，以及一个可以学习的参数。我们会依次看到：
# 与查询无关的平均汇聚、不带参数的注意力汇聚、带一个可学习参数的注意力汇聚，
# 以及“核的宽度”怎样决定拟合的光滑程度。

# %%
import os

import torch
from torch import nn

import d2l_attention as d2l

# %% [markdown]
# ## 生成数据集
#
# 考虑一个一维回归问题：给定 $n$ 个输入—输出对 $\{(x_1, y_1), \ldots, (x_n, y_n)\}$，
# 对新的输入 $x$ 预测输出 $\hat{y} = f(x)$。训练数据由下面的函数加噪声生成：
#
# $$y_i = 2\sin(x_i) + x_i^{0.8} + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, 0.5^2).$$
#
# 取 $n = 50$ 个训练样本，输入在 $[0, 5)$ 上均匀采样并**排序**（排序只是为了让后面的热图好读）；
# 测试输入是 $0, 0.1, \ldots, 4.9$ 这 50 个等距点，它们的真实输出不含噪声。

# %%
def f(x):
    return 2 * torch.sin(x) + x**0.8


torch.manual_seed(0)
n_train = 50
x_train, _ = torch.sort(torch.rand(n_train) * 5)  # 排序后的训练输入
y_train = f(x_train) + torch.normal(0.0, 0.5, (n_train,))  # 带噪声的训练输出
x_test = torch.arange(0, 5, 0.1)  # 测试输入
y_truth = f(x_test)  # 测试输入处的真实输出
n_test = len(x_test)
print("x_train:", tuple(x_train.shape), " x_test:", tuple(x_test.shape))

# %% [markdown]
# 下面的函数画出真实曲线（实线）、预测曲线（虚线）和训练样本（圆点），后面每种方法都用它来比较。

# %%
def plot_kernel_reg(y_hat, ax=None, title=None):
    """Plot the true curve, a prediction `y_hat` (n_test,) and the training points."""
    d2l.plot(x_test, [y_truth, y_hat.detach()], "x", "y", legend=["Truth", "Pred"],
             xlim=[0, 5], ylim=[-1, 5], axes=ax)
    ax = ax if ax is not None else d2l.plt.gca()
    ax.plot(x_train, y_train, "o", alpha=0.5)
    if title:
        ax.set_title(title)


def test_mse(y_hat):
    """Mean squared error against the noise-free truth on the test grid."""
    return ((y_hat - y_truth) ** 2).mean().item()


# %% [markdown]
# ## 平均汇聚
#
# 最朴素的估计器不看查询，对所有训练输出取平均（average pooling）：
#
# $$f(x) = \frac{1}{n} \sum_{i=1}^{n} y_i.$$
#
# 它就是上一节说的“权重恒为 $1/n$”的汇聚。预测是一条水平线，显然离真实曲线很远。

# %%
y_hat_avg = torch.full((n_test,), y_train.mean().item())
print(f"prediction: {y_hat_avg[0].item():.3f} everywhere, test MSE {test_mse(y_hat_avg):.3f}")
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_avg)
d2l.plt.show()

# %% [markdown]
# ## 非参数注意力汇聚
#
# 平均汇聚的问题在于它忽略了输入 $x_i$。Nadaraya 和 Watson 的想法是：离查询 $x$ 越近的训练样本，
# 它的输出 $y_i$ 越可信，就应该分到越大的权重：
#
# $$f(x) = \sum_{i=1}^{n} \frac{K(x - x_i)}{\sum_{j=1}^{n} K(x - x_j)}\, y_i,$$
#
# 其中 $K$ 是**核**（kernel），一个在 $0$ 处最大、随 $|u|$ 增大而衰减的函数。
# 用注意力的语言说：查询是 $x$，键是 $x_i$，值是 $y_i$，权重 $\alpha(x, x_i) = K(x-x_i) / \sum_j K(x-x_j)$
# 非负且和为 1。这就是 10.1 节注意力汇聚公式的一个具体实例。
#
# 取**高斯核**（Gaussian kernel）
#
# $$K(u) = \frac{1}{\sqrt{2\pi}} \exp\left(-\frac{u^2}{2}\right),$$
#
# 常数 $1/\sqrt{2\pi}$ 在分子分母中约掉，权重恰好是一个 softmax：
#
# $$f(x) = \sum_{i=1}^{n} \frac{\exp\left(-\frac{1}{2}(x - x_i)^2\right)}
#   {\sum_{j=1}^{n} \exp\left(-\frac{1}{2}(x - x_j)^2\right)}\, y_i
#   = \sum_{i=1}^{n} \operatorname{softmax}\left(-\frac{1}{2}(x - x_i)^2\right) y_i,$$
#
# softmax 在 $i = 1, \ldots, n$ 上进行。这个估计器没有任何需要学习的参数，
# 所以叫**非参数**（nonparametric）注意力汇聚。对 $n_\text{test}$ 个查询一起计算时，
# 把查询排成列、键排成行，差值 $x - x_i$ 通过广播得到一个 $(n_\text{test}, n)$ 的矩阵，
# 按行做 softmax 就是注意力权重矩阵，再乘以值向量 $(n,)$ 得到 $(n_\text{test},)$ 个预测。

# %%
# (n_test, 1) - (1, n_train) -> (n_test, n_train)：每行是一个查询与全部键的差
diffs = x_test.unsqueeze(1) - x_train.unsqueeze(0)
attention_weights = torch.softmax(-diffs**2 / 2, dim=1)
y_hat_np = attention_weights @ y_train  # (n_test, n_train) @ (n_train,) -> (n_test,)
print("attention weights:", tuple(attention_weights.shape), " prediction:", tuple(y_hat_np.shape))
print(f"test MSE {test_mse(y_hat_np):.3f}")
assert torch.allclose(attention_weights.sum(dim=1), torch.ones(n_test))
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_np)
d2l.plt.show()

# %% [markdown]
# 预测曲线已经跟上了真实函数的起伏，只是在峰谷处被“削平”了：高斯核较宽，
# 每个查询都要参考相当远处的样本。把注意力权重画成热图：行是（排序后的）测试输入，
# 列是（排序后的）训练输入。因为两者都排过序，离查询近的键都在对角线附近，亮带就沿对角线分布。

# %%
d2l.show_heatmaps(attention_weights.unsqueeze(0).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs")
d2l.plt.show()

# %% [markdown]
# ## 批量矩阵乘法
#
# 为了在小批量上高效地做加权平均，需要**批量矩阵乘法**（batch matrix multiplication）`torch.bmm`。
# 它接受两个三维张量 $\mathbf{X}$：$(b, a, c)$ 和 $\mathbf{Y}$：$(b, c, d)$，
# 对 $b$ 个批次分别做矩阵乘法 $\mathbf{X}_i \mathbf{Y}_i$，输出形状为 $(b, a, d)$。
# 批次维 $b$ 必须相同，第一个张量的最后一维必须等于第二个张量的中间一维。

# %%
X = torch.ones((2, 1, 4))
Y = torch.ones((2, 4, 6))
print("bmm:", tuple(X.shape), "x", tuple(Y.shape), "->", tuple(torch.bmm(X, Y).shape))

# %% [markdown]
# 加权平均正好可以写成批量矩阵乘法：对每个查询，把它的权重看成 $(1, n)$ 的行向量、
# 对应的值看成 $(n, 1)$ 的列向量，两者相乘得到 $(1, 1)$ 的加权和。
# 下面 2 个查询各有 10 个键值对，结果与逐元素相乘再求和一致：

# %%
torch.manual_seed(0)
weights = torch.softmax(torch.randn(2, 10), dim=1)  # (2, 10)，每行和为 1
values = torch.arange(20.0).reshape(2, 10)  # (2, 10)
pooled = torch.bmm(weights.unsqueeze(1), values.unsqueeze(-1))  # (2,1,10) x (2,10,1)
print("pooled:", tuple(pooled.shape), [round(v, 3) for v in pooled.reshape(-1).tolist()])
assert torch.allclose(pooled.reshape(-1), (weights * values).sum(dim=1))

# %% [markdown]
# ## 带参数注意力汇聚
#
# 非参数汇聚的好处是：只要数据足够多、核足够窄，它能逼近任何光滑函数，即一致性（consistency）。
# 但核的宽度是人为固定的。在查询与键的距离上乘一个**可学习的**标量 $w$，就得到带参数的版本：
#
# $$f(x) = \sum_{i=1}^{n} \operatorname{softmax}\left(-\frac{1}{2}\big((x - x_i) w\big)^2\right) y_i.$$
#
# 对比高斯密度 $\exp\big(-u^2 / (2\sigma^2)\big)$ 可以看出 $w = 1/\sigma$：$|w|$ 越大，核越窄，
# 每个查询只看离自己很近的少数几个键；$w = 0$ 时所有权重相等，退化为平均汇聚。
#
# 模型的输入按小批量组织：`queries` 是 $(n_q,)$ 个查询，`keys` 和 `values` 都是 $(n_q, n_k)$，
# 第 $q$ 行是第 $q$ 个查询可以参考的键和值。这样每个查询可以有自己的一组键值对，
# 训练时会用到这一点。注意力权重保存在 `attention_weights` 里，以便画热图。

# %%
#@save
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with a learnable Gaussian kernel width `w`.

    forward(queries, keys, values):
        queries: (num_queries,)
        keys, values: (num_queries, num_keys); row q holds the key-value pairs of query q
        returns: (num_queries,), the attention-weighted average of each row of `values`
    After a call, `attention_weights` holds the softmax weights, (num_queries, num_keys).
    """

    def __init__(self, w=None, **kwargs):
        super().__init__(**kwargs)
        init = torch.rand((1,)) if w is None else torch.tensor([float(w)])
        self.w = nn.Parameter(init)
        self.attention_weights = None

    def forward(self, queries, keys, values):
        if queries.dim() != 1:
            raise ValueError(
                f"queries must have shape (num_queries,), got {tuple(queries.shape)}; "
                "flatten them with queries.reshape(-1)")
        if keys.shape != values.shape or keys.dim() != 2 or keys.shape[0] != queries.shape[0]:
            raise ValueError(
                f"keys and values must both have shape (num_queries, num_keys) = "
                f"({queries.shape[0]}, num_keys), got keys {tuple(keys.shape)} and values "
                f"{tuple(values.shape)}; give every query one row of keys and one of values, "
                "e.g. x_train.repeat(num_queries, 1)")
        # (num_queries, 1) - (num_queries, num_keys): distance of each query to its own keys
        scores = -((queries.unsqueeze(1) - keys) * self.w) ** 2 / 2
        self.attention_weights = torch.softmax(scores, dim=1)
        # (num_queries, 1, num_keys) x (num_queries, num_keys, 1) -> (num_queries, 1, 1)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)


# %% [markdown]
# 先检查形状，并验证两个特例：$w = 1$ 时它与上面的非参数汇聚完全相同，$w = 0$ 时它等于平均汇聚。

# %%
test_keys = x_train.repeat(n_test, 1)  # (n_test, n_train)：每个测试查询都参考全部训练样本
test_values = y_train.repeat(n_test, 1)
with torch.no_grad():
    y_hat_w1 = NWKernelRegression(w=1.0)(x_test, test_keys, test_values)
    y_hat_w0 = NWKernelRegression(w=0.0)(x_test, test_keys, test_values)
print("keys:", tuple(test_keys.shape), " output:", tuple(y_hat_w1.shape))
assert torch.allclose(y_hat_w1, y_hat_np, atol=1e-6)
assert torch.allclose(y_hat_w0, y_hat_avg, atol=1e-5)
print("w=1 matches the nonparametric pooling; w=0 matches average pooling")

# %% [markdown]
# 形状不匹配时，模型会说明需要怎样的输入：

# %%
try:
    NWKernelRegression(w=1.0)(x_test, x_train.repeat(3, 1), y_train.repeat(3, 1))
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## 训练
#
# 怎样训练 $w$？如果让每个训练样本的查询去参考**包括它自己在内**的全部训练样本，
# 那么最优解是 $w \to \infty$：每个点只看自己，训练误差为零，却什么也没学到。
# 所以采用“留一”（leave-one-out）的做法：第 $i$ 个训练输入 $x_i$ 作为查询时，
# 键和值只取**其余** $n - 1$ 个样本。用一个去掉对角线的布尔掩码（`~eye`）从
# $(n, n)$ 的平铺矩阵里挑出这些元素，得到 $(n, n - 1)$ 的键和值。

# %%
off_diagonal = ~torch.eye(n_train, dtype=torch.bool)  # 对角线为 False：去掉“自己”
train_keys = x_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)
train_values = y_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)
print("keys:", tuple(train_keys.shape), " values:", tuple(train_values.shape))
assert not (train_keys == x_train.unsqueeze(1)).any()  # 没有任何一行包含查询自己

# %% [markdown]
# 损失是平方误差，对 50 个样本求和后反向传播；优化器为随机梯度下降（SGD），学习率 0.5，训练 5 轮。
# 每轮都用全部训练样本，所以训练是确定性的。下图随训练实时更新。

# %%
torch.manual_seed(0)
net = NWKernelRegression()
w_init = net.w.item()
loss = nn.MSELoss(reduction="none")
trainer = torch.optim.SGD(net.parameters(), lr=0.5)
animator = d2l.Animator(xlabel="epoch", ylabel="loss", xlim=[1, 5], figsize=(3.5, 2.5))
losses = []
for epoch in range(5):
    trainer.zero_grad()
    l = loss(net(x_train, train_keys, train_values), y_train)
    l.sum().backward()
    trainer.step()
    losses.append(l.sum().item())
    animator.add(epoch + 1, losses[-1])
w_learned = net.w.item()
print(f"epoch {epoch + 1}, loss {losses[-1]:.3f}, w {w_init:.2f} -> {w_learned:.1f}")
assert losses[-1] < 0.5 * losses[0]
assert w_learned > 2

# %% [markdown]
# 损失在第一步就大幅下降，$w$ 从不到 1 一下子跳到了十几。这是因为损失对 50 个样本**求和**，
# 学习率 0.5 对这个梯度来说步子很大；之后 $w$ 只是缓慢回落。练习 3 会看到，
# 留一损失的最小值其实在 $w \approx 4$ 附近，5 轮 SGD 越过了它。
#
# 用训练好的模型预测测试数据：每个测试查询参考全部 50 个训练样本。

# %%
with torch.no_grad():
    y_hat_trained = net(x_test, test_keys, test_values)
for name, y_hat in [("average", y_hat_avg), ("nonparametric", y_hat_np),
                    ("trained", y_hat_trained)]:
    print(f"{name:>14}: test MSE {test_mse(y_hat):.3f}")
assert test_mse(y_hat_trained) < test_mse(y_hat_np) < test_mse(y_hat_avg)
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_trained)
d2l.plt.show()

# %% [markdown]
# 测试误差比非参数版本小得多，峰谷也跟上了；但曲线变得不那么平滑，开始追随个别带噪声的点。
# 热图解释了原因：与非参数汇聚相比，亮带变得又细又集中。

# %%
d2l.show_heatmaps(net.attention_weights.unsqueeze(0).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs")
d2l.plt.show()

# %% [markdown]
# ## 核宽度的作用
#
# 为什么 $w$ 越大，权重越“尖锐”？注意力分数是 $-\frac{1}{2}(x - x_i)^2 w^2$：
# 两个键与查询的距离分别为 $d_1 < d_2$ 时，它们的权重之比是
#
# $$\frac{\alpha_1}{\alpha_2} = \exp\left(\frac{w^2}{2}\,(d_2^2 - d_1^2)\right),$$
#
# 随 $w^2$ 指数增长。$w$ 很大时，最近的一两个键几乎拿走全部权重，预测就是近邻输出的平均，
# 噪声得不到平滑（方差大）；$w$ 很小时，远处的键也分到可观的权重，曲线被抹平（偏差大）。
# 核宽度 $\sigma = 1/w$ 就是在偏差与方差之间取舍的旋钮。
#
# 下图并排画出四个宽度。在 JupyterLab 里运行这个单元格，下方还会出现一个滑块，
# 拖动它可以连续改变 $w$；没有交互前端时（例如在命令行执行或测试笔记本）只显示静态图。

# %%
def predict_with_width(w):
    """Nonparametric prediction on the test grid with kernel width 1/w, shape (n_test,)."""
    with torch.no_grad():
        return NWKernelRegression(w=w)(x_test, test_keys, test_values)


def show_width(w):
    d2l.plt.figure(figsize=(3.5, 2.5))
    plot_kernel_reg(predict_with_width(w), title=f"w = {w:.1f}")
    d2l.plt.show()


def widget_frontend_available():
    """True in a kernel started by a Jupyter server (JupyterLab/Notebook) with ipywidgets."""
    if "JPY_SESSION_NAME" not in os.environ:  # nbclient, nbval, scripts: no widget frontend
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


widths = [0.5, 1.0, 4.0, 16.0]
fig, axes = d2l.plt.subplots(1, len(widths), figsize=(12, 2.6), sharey=True)
for ax, w in zip(axes, widths):
    plot_kernel_reg(predict_with_width(w), ax=ax, title=f"w = {w:.1f}")
print("test MSE:", {w: round(test_mse(predict_with_width(w)), 3) for w in widths})
d2l.plt.show()

if widget_frontend_available():
    import ipywidgets as widgets

    _ = widgets.interact(show_width, w=widgets.FloatSlider(
        value=1.0, min=0.2, max=20.0, step=0.2, description="w"))

# %% [markdown]
# 测试误差随 $w$ 先降后升：$w = 0.5$ 几乎是平均汇聚，$w = 16$ 已经在拟合噪声，
# 中间的 $w = 4$ 最好。可学习的 $w$ 让模型自己去找这个平衡点，这正是
# “带参数的注意力”比固定规则更灵活的地方；后面几节的注意力评分函数会有更多可学习的参数。

# %% [markdown]
# ## 小结
#
# * Nadaraya-Watson 核回归是注意力机制的一个实例：查询是新输入，键是训练输入，值是训练输出。
# * 平均汇聚给所有值相同的权重；用高斯核时，注意力权重是 $-\frac{1}{2}(x - x_i)^2$ 的 softmax，离查询越近的键权重越大。
# * 在距离上乘一个可学习的 $w$ 就得到带参数的注意力汇聚；$w$ 越大核越窄，权重越集中，拟合越不平滑。
# * 训练 $w$ 时要用留一法，否则每个查询只看自己就能把训练误差降为零。
# * `torch.bmm` 对一批矩阵分别相乘：$(b, a, c) \times (b, c, d) \to (b, a, d)$，可以批量计算加权平均。
#
# ## 练习
#
# 1. 把训练样本增加到 500 个。固定 $w = 1$ 和 $w = 16$ 的非参数估计，测试误差分别怎样变化？为什么？
# 2. 把高斯核换成拉普拉斯核 $K(u) \propto \exp(-|u|)$ 和矩形核 $K(u) \propto \mathbb{1}[|u| \le 1]$，
#    比较它们的注意力热图和测试误差。
# 3. 如果训练时不把查询自己从键值对里去掉，训练目标会怎样依赖 $w$？留一损失在哪里最小？
#    这对 5 轮 SGD 得到的 $w$ 说明了什么？

# %% tags=["solution"]
# 练习 1 的参考答案：宽核（w=1）的误差主要来自偏差，多给数据几乎没用；
# 窄核（w=16）的误差主要来自方差（每个查询只看少数几个点），数据越多，邻域里的点越多，噪声被平均掉。
def make_data(n, seed=0):
    torch.manual_seed(seed)
    x, _ = torch.sort(torch.rand(n) * 5)
    return x, f(x) + torch.normal(0.0, 0.5, (n,))


for n in [50, 500]:
    x_n, y_n = make_data(n)
    errors = {}
    for w in [1.0, 16.0]:
        with torch.no_grad():
            y_hat = NWKernelRegression(w=w)(x_test, x_n.repeat(n_test, 1), y_n.repeat(n_test, 1))
        errors[w] = test_mse(y_hat)
    print(f"n={n:>3}: " + ", ".join(f"w={w:.0f} test MSE {e:.3f}" for w, e in errors.items()))
    if n == 50:
        errors_50 = errors
assert errors[16.0] < errors_50[16.0] / 4  # narrow kernel: big gain
assert errors[1.0] > errors_50[1.0] * 0.8  # wide kernel: bias stays

# %% tags=["solution"]
# 练习 2 的参考答案：三种核都把权重集中在对角线附近；矩形核在窗口内等权、窗口外为零，
# 热图上是一条边缘清晰的带。这份数据上矩形核（半宽 1）的有效宽度比高斯核（标准差 1）小，误差也更小。
dist = x_test.unsqueeze(1) - x_train.unsqueeze(0)  # (n_test, n_train)
inside = (dist.abs() <= 1).float()
assert (inside.sum(dim=1) > 0).all()  # every query has at least one key in its window
kernels = {
    "Gaussian": torch.softmax(-dist**2 / 2, dim=1),
    "Laplace": torch.softmax(-dist.abs(), dim=1),
    "Boxcar": inside / inside.sum(dim=1, keepdim=True),
}
for name, weights_k in kernels.items():
    assert torch.allclose(weights_k.sum(dim=1), torch.ones(n_test))
    print(f"{name:>8}: test MSE {test_mse(weights_k @ y_train):.3f}")
d2l.show_heatmaps(torch.stack(list(kernels.values())).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs",
                  titles=list(kernels), figsize=(9, 3))
d2l.plt.show()

# %% tags=["solution"]
# 练习 3 的参考答案：包含自己时，目标随 w 单调下降（w 越大，每个点越只看自己），
# 训练会把 w 推向无穷；留一损失在 w≈4 附近有一个内部最小值。5 轮 SGD 停在 w≈16，
# 第一步越过了这个最小值，之后回落得很慢——更小的学习率或更多轮次能更接近它。
def train_objective(w, leave_one_out):
    keys = train_keys if leave_one_out else x_train.repeat(n_train, 1)
    vals = train_values if leave_one_out else y_train.repeat(n_train, 1)
    with torch.no_grad():
        return ((NWKernelRegression(w=w)(x_train, keys, vals) - y_train) ** 2).sum().item()


grid = [1.0, 2.0, 4.0, 8.0, 16.0, 64.0]
with_self = [train_objective(w, leave_one_out=False) for w in grid]
loo = [train_objective(w, leave_one_out=True) for w in grid]
print("with self    :", [round(v, 1) for v in with_self])
print("leave-one-out:", [round(v, 1) for v in loo])
print("best w on the grid (leave-one-out):", grid[loo.index(min(loo))])
assert all(a > b for a, b in zip(with_self, with_self[1:]))
assert 1.0 < grid[loo.index(min(loo))] < 16.0
