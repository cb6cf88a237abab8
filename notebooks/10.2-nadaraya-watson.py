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
# # 10.2 注意力汇聚：Nadaraya-Watson 核回归
#
# 上一节把注意力写成了“按查询与键的匹配程度，对值加权求和”，但没有说权重 $\alpha$ 从哪里来。
# 这一节看统计学里一个六十年代的方法——**Nadaraya-Watson 核回归**（kernel regression）。
# 它小到可以看清每一个权重，却已经有注意力的全部要素：查询、键、值、softmax 权重和一个可以学习的参数。
# 主线只有三步：核回归**就是**注意力汇聚；一个参数 $w$ 控制权重有多**尖锐**；
# 让模型自己学 $w$，而且用留一法，使训练没法“作弊”。

# %%
import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.explore import nadaraya_watson as nw

# %% [markdown]
# ## 生成数据集
#
# 一维回归：给定 $n$ 个输入—输出对 $\{(x_1, y_1), \ldots, (x_n, y_n)\}$，对新的输入 $x$ 预测 $\hat{y} = f(x)$。
# 训练数据由下面的函数加噪声生成：
#
# $$y_i = 2\sin(x_i) + x_i^{0.8} + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, 0.5^2).$$
#
# 取 $n = 50$ 个训练输入，在 $[0, 5)$ 上均匀采样并**排序**（只为让热图好读）；
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
# 和书中一样，`plot_kernel_reg` 画出真实曲线（蓝色实线）、预测（品红虚线）和训练样本（橙色圆点）；
# `test_mse` 是预测与不含噪声的真实输出之间的均方误差。

# %%
def plot_kernel_reg(y_hat, ax=None, title=None):
    d2l.plot(x_test, [y_truth, y_hat], "x", "y", legend=["Truth", "Pred"],
             xlim=[0, 5], ylim=[-1, 5], axes=ax)
    ax = ax if ax is not None else d2l.plt.gca()
    ax.plot(x_train, y_train, "o", alpha=0.5)
    ax.set_title(title)


def test_mse(y_hat):
    return ((y_hat - y_truth) ** 2).mean().item()


# %% [markdown]
# ## 平均汇聚
#
# 最朴素的估计器不看查询，对所有训练输出取平均（average pooling）：
# $f(x) = \frac{1}{n} \sum_{i=1}^{n} y_i$。它就是上一节“权重恒为 $1/n$”的汇聚，每个查询得到同一个数：

# %%
y_hat_avg = torch.full((n_test,), y_train.mean().item())
print(f"prediction {y_hat_avg[0].item():.3f} at every x, test MSE {test_mse(y_hat_avg):.3f}")

# %% [markdown]
# ## 非参数注意力汇聚
#
# 平均汇聚忽略了输入 $x_i$。Nadaraya 和 Watson 的想法是：离查询 $x$ 越近的训练样本，
# 它的输出 $y_i$ 越可信，就该分到越大的权重：
#
# $$f(x) = \sum_{i=1}^{n} \frac{K(x - x_i)}{\sum_{j=1}^{n} K(x - x_j)}\, y_i,$$
#
# 其中 $K$ 是**核**（kernel），在 $0$ 处最大、随 $|u|$ 增大而衰减。
# 用注意力的语言说：查询是 $x$，键是 $x_i$，值是 $y_i$，权重 $\alpha(x, x_i) = K(x-x_i) / \sum_j K(x-x_j)$
# 非负且和为 1——正是 10.1 节的注意力汇聚。取**高斯核**（Gaussian kernel）
# $K(u) = \frac{1}{\sqrt{2\pi}} \exp(-\frac{u^2}{2})$，常数在分子分母中约掉，权重恰好是一个 softmax：
#
# $$f(x) = \sum_{i=1}^{n} \operatorname{softmax}\left(-\frac{1}{2}(x - x_i)^2\right) y_i,$$
#
# softmax 在 $i = 1, \ldots, n$ 上进行。注意力分数 $-\frac{1}{2}(x - x_i)^2$ 就是“查询与键有多近”。
# 这个估计器没有要学习的参数，所以叫**非参数**（nonparametric）注意力汇聚。

# %% [markdown]
# ![Nadaraya-Watson kernel weights as attention](figures/10.2-kernel-weights.svg)
#
# 图 10.2.1 Nadaraya-Watson 核回归就是注意力汇聚：测试输入 $x$ 是查询，训练输入 $x_i$ 是键、训练输出 $y_i$ 是值，高斯核权重决定预测 $\hat y = \sum_i \alpha(x, x_i)\, y_i$。示意图用 12 个训练点、查询 $x = 2.5$，核与下面的代码相同：$\sigma = 1$（即 $w = 1$）
#
# 对全部测试查询一起计算：查询排成列、键排成行，差值 $x - x_i$ 广播成 $(n_\text{test}, n)$ 的矩阵，
# 按行做 softmax 得到注意力权重矩阵，再乘以值向量 $(n,)$，得到 $(n_\text{test},)$ 个预测。

# %%
# (n_test, 1) - (1, n_train) -> (n_test, n_train)：每行是一个查询与全部键的差
diffs = x_test.unsqueeze(1) - x_train.unsqueeze(0)
attention_weights = torch.softmax(-diffs**2 / 2, dim=1)
y_hat_np = attention_weights @ y_train  # (n_test, n_train) @ (n_train,) -> (n_test,)
print("attention weights:", tuple(attention_weights.shape), " prediction:", tuple(y_hat_np.shape))
print(f"test MSE: average pooling {test_mse(y_hat_avg):.3f}, Gaussian kernel {test_mse(y_hat_np):.3f}")
fig, axes = d2l.plt.subplots(1, 2, figsize=(7, 2.5), sharey=True)
plot_kernel_reg(y_hat_avg, axes[0], "average pooling")
plot_kernel_reg(y_hat_np, axes[1], "Gaussian kernel (w = 1)")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(attention_weights.sum(dim=1), torch.ones(n_test))  # 每行权重和为 1
assert test_mse(y_hat_np) < 0.6 * test_mse(y_hat_avg)

# %% [markdown]
# 平均汇聚是一条水平线；高斯核的预测已经跟上了真实函数的起伏，误差约为平均汇聚的一半，
# 只是峰谷被“削平”了：每个查询都参考了相当远处的样本。把注意力权重画成热图，
# 行是（排序后的）测试输入，列是（排序后的）训练输入；两者都排过序，离查询近的键都在对角线附近：

# %%
d2l.show_heatmaps(attention_weights.unsqueeze(0).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs")
d2l.plt.show()

# %% [markdown]
# 亮带沿对角线分布，但很宽，颜色也淡：区间中部每行最大的权重只有约 0.04，每个查询把权重摊在二十多个键上；
# 只有两个角上颜色深一些（约 0.09），那里的查询只有一侧有近邻。
#
# ## 批量矩阵乘法
#
# 训练时要对一批查询各自做加权平均，书中用**批量矩阵乘法**（batch matrix multiplication）`torch.bmm`：
# $(b, a, c)$ 乘 $(b, c, d)$ 得到 $(b, a, d)$，对 $b$ 个批次分别做矩阵乘法。
# 把每个查询的权重看成 $(1, n)$ 的行、值看成 $(n, 1)$ 的列，乘积 $(1, 1)$ 就是加权和。
# 下面 2 个查询各有 10 个键值对，结果与逐元素相乘再求和相同：

# %%
torch.manual_seed(0)
weights = torch.softmax(torch.randn(2, 10), dim=1)  # (2, 10)，每行和为 1
values = torch.arange(20.0).reshape(2, 10)  # (2, 10)
pooled = torch.bmm(weights.unsqueeze(1), values.unsqueeze(-1))  # (2,1,10) x (2,10,1) -> (2,1,1)
print("pooled:", tuple(pooled.shape), [round(v, 3) for v in pooled.reshape(-1).tolist()])
print("elementwise:", [round(v, 3) for v in (weights * values).sum(dim=1).tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(pooled.reshape(-1), (weights * values).sum(dim=1))

# %% [markdown]
# ## 带参数注意力汇聚：锐度 $w$
#
# 非参数汇聚的核宽度是固定的（$\sigma = 1$）。在查询与键的距离上乘一个**可学习的**标量 $w$：
#
# $$f(x) = \sum_{i=1}^{n} \operatorname{softmax}\left(-\frac{1}{2}\big((x - x_i) w\big)^2\right) y_i.$$
#
# 对比高斯密度 $\exp\big(-u^2 / (2\sigma^2)\big)$ 可知 $w = 1/\sigma$：$w$ 是核宽度的**倒数**，
# 我们叫它**锐度**（sharpness）。$|w|$ 越大，核越窄，每个查询只看离自己很近的几个键；
# $w = 0$ 时所有权重相等，退化为平均汇聚。
#
# 模型按小批量组织：`queries` 是 $(n_q,)$ 个查询，`keys` 和 `values` 都是 $(n_q, n_k)$，
# 第 $q$ 行是第 $q$ 个查询可以参考的键和值，训练时每个查询就能有自己的一组键值对。
# 权重保存在 `attention_weights` 里，以便画图。

# %%
#@save
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with one learnable sharpness `w`.

    The scores are -((x - x_i) w)^2 / 2: a Gaussian kernel of width sigma = 1 / w, so `w` is
    the inverse width (larger w, narrower kernel, sharper weights); w = 0 is average pooling.
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
        d2l.check_shape(queries, "queries", "(num_queries,)", "flatten them: queries.reshape(-1)")
        d2l.check_shape(keys, "keys", "(num_queries, num_keys)", num_queries=len(queries))
        n_q, n_k = keys.shape
        d2l.check_shape(values, "values", "(num_queries, num_keys)", num_queries=n_q, num_keys=n_k)
        self.attention_weights = torch.softmax(self.log_kernel(queries, keys), dim=-1)
        # One weighted average per query: the (1, num_keys) row of weights times the
        # (num_keys, 1) column of values, batched over the queries.
        pooled = torch.bmm(self.attention_weights[:, None, :], values[:, :, None])
        return pooled[:, 0, 0]

    def log_kernel(self, queries, keys):
        """Attention scores -u^2/2 with u = w (x - x_i), the log of an unnormalised Gaussian.

        queries: (num_queries,); keys: (num_queries, num_keys) -> (num_queries, num_keys).
        The factor 1/sqrt(2 pi) of the density would cancel in the softmax, so it is left out.
        """
        u = self.w * (queries[:, None] - keys)  # distance to each key, in units of sigma = 1/w
        return -0.5 * u.square()


# %% [markdown]
# 先看形状和两个特例：$w = 1$ 时它就是上面的非参数汇聚，$w = 0$ 时它是平均汇聚。

# %%
test_keys = x_train.repeat(n_test, 1)  # (n_test, n_train)：每个测试查询都参考全部训练样本
test_values = y_train.repeat(n_test, 1)
with torch.no_grad():
    y_hat_w1 = NWKernelRegression(w=1.0)(x_test, test_keys, test_values)
    y_hat_w0 = NWKernelRegression(w=0.0)(x_test, test_keys, test_values)
print("keys:", tuple(test_keys.shape), " output:", tuple(y_hat_w1.shape))
print(f"max |w = 1 - nonparametric| = {(y_hat_w1 - y_hat_np).abs().max():.1e}, "
      f"max |w = 0 - average| = {(y_hat_w0 - y_hat_avg).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(y_hat_w1, y_hat_np, atol=1e-6)
assert torch.allclose(y_hat_w0, y_hat_avg, atol=1e-5)

# %% [markdown]
# ### 锐度就是温度的倒数
#
# 为什么 $w$ 越大，权重越“尖锐”？注意力分数是 $-\frac{1}{2}(x - x_i)^2 \cdot w^2$。
# 两个键与查询的距离为 $d_1 < d_2$ 时，权重之比是
#
# $$\frac{\alpha_1}{\alpha_2} = \exp\left(\frac{w^2}{2}\,(d_2^2 - d_1^2)\right),$$
#
# 随 $w^2$ 指数增长。这正是 10.1 节的温度：把分数 $-\frac{1}{2}(x - x_i)^2$ 除以温度 $\tau$ 再做 softmax，
# 这里 $\tau = 1/w^2$，$w^2$ 是**逆温度**。$w$ 大（温度低），最近的一两个键拿走几乎全部权重，
# 预测是近邻的平均，噪声没被平均掉（方差大）；$w$ 小（温度高），远处的键也分到可观的权重，
# 峰谷被抹平（偏差大）。10.3 节的缩放点积注意力把分数除以 $\sqrt{d}$，拧的是同一个旋钮。
#
# 下图每列一个 $w$：上面是查询 $x = 2.5$ 分给各个训练输入的权重 $\alpha(2.5, x_i)$，下面是整条预测曲线。

# %%
w_mse = nw.plot_sharpness(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0, 16.0))
print("test MSE:", {w: round(e, 3) for w, e in w_mse.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert w_mse[1.0] > w_mse[4.0] < w_mse[16.0]
assert abs(w_mse[1.0] - test_mse(y_hat_np)) < 1e-6
peaks = [nw.predict(w, torch.tensor([2.5]), x_train, y_train)[1].max().item() for w in (1, 4, 16)]
assert peaks[0] < 0.05 < peaks[1] < 0.2 < peaks[2]

# %% [markdown]
# 三个权重曲线的峰都在 $x = 2.5$，宽窄却差很多：$w = 1$ 把权重摊在二十多个键上，最大的只有 0.04，
# 预测把峰谷削平（偏差）；$w = 16$（$\sigma \approx 0.06$）把几乎全部权重交给最近的两三个键，
# 预测就是这两三个带噪声输出的平均，跟着噪声起伏（方差）；$w = 4$ 居中，测试误差最小（0.049）。
# 锐度就是在偏差与方差之间取舍的旋钮。数据越多，同样窄的核里点越多，噪声越容易被平均掉，
# 就能用更尖锐的核（练习 1 比较 $n = 50$ 和 $n = 500$）。
#
# ## 训练 $w$：留一法
#
# 能不能让模型自己找 $w$？如果每个训练样本作为查询时也能看到**它自己**，最优解是 $w \to \infty$：
# 每个点只看自己，训练误差为零，却什么也没学到。所以用**留一**（leave-one-out）：第 $i$ 个训练输入作为查询时，
# 键和值只取**其余** $n - 1$ 个样本。一个去掉对角线的布尔掩码（`~eye`）从 $(n, n)$ 的平铺矩阵里挑出它们：

# %%
off_diagonal = ~torch.eye(n_train, dtype=torch.bool)  # 对角线为 False：去掉“自己”
train_keys = x_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)
train_values = y_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)
print("keys:", tuple(train_keys.shape), " values:", tuple(train_values.shape))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert not (train_keys == x_train.unsqueeze(1)).any()  # 没有任何一行包含查询自己

# %% [markdown]
# 和书中一样：平方误差对 50 个样本**求和**，随机梯度下降（SGD），学习率 0.5，训练 5 轮；
# 每轮用全部训练样本，所以训练是确定性的。曲线上第 $k$ 个点是训练 $k$ 轮之后的损失（第 0 个点是训练前）。

# %%
def train_nw(num_epochs, lr=0.5, reduction="sum", animator=None):
    """Train w on the leave-one-out pairs; returns the net, and w and the loss after 0, 1, ... epochs."""
    torch.manual_seed(0)
    net = NWKernelRegression()
    loss = nn.MSELoss(reduction=reduction)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    w_history, losses = [net.w.item()], []
    for epoch in range(num_epochs + 1):
        l = loss(net(x_train, train_keys, train_values), y_train)  # loss after `epoch` epochs
        losses.append(l.item())
        if animator is not None:
            animator.add(epoch, l.item())
        if epoch < num_epochs:
            trainer.zero_grad()
            l.backward()
            trainer.step()
            w_history.append(net.w.item())
    return net, w_history, losses


animator = d2l.Animator(xlabel="epochs trained", ylabel="loss", xlim=[0, 5], figsize=(3.5, 2.5))
net, w_history, losses = train_nw(5, animator=animator)
w_learned = net.w.item()
print("loss after 0, 1, ..., 5 epochs:", [round(v, 2) for v in losses])
print("w after 0, 1, ..., 5 epochs:   ", [round(v, 2) for v in w_history])
with torch.no_grad():
    y_hat_trained = net(x_test, test_keys, test_values)
print(f"test MSE: w = 1 {test_mse(y_hat_np):.3f}, trained w = {w_learned:.2f} "
      f"{test_mse(y_hat_trained):.3f}, w = 4 {w_mse[4.0]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert losses[-1] < 0.5 * losses[0] and losses == sorted(losses, reverse=True)
assert w_history[0] < 1 and w_history[1] > 10  # one step takes w from below 1 to above 10
assert all(0 < a - b < 0.2 for a, b in zip(w_history[1:], w_history[2:]))  # then it slowly falls
assert 15 < w_learned < 18
assert test_mse(y_hat_trained) < 0.5 * test_mse(y_hat_np)
assert test_mse(y_hat_trained) > 2 * w_mse[4.0]

# %% [markdown]
# 损失在第一轮就降了一大半，训练后的测试误差不到 $w = 1$ 的三分之一。但 $w$ 从不到 1 一步跳到了 16.9，
# 5 轮后停在约 16——前面锐度图里 $w = 16$ 那一列：曲线已经在追随噪声，测试误差是 $w = 4$ 的两倍多。
# 书中训练 5 轮就拿去预测；这里多看一步：把训练真正最小化的留一损失 $L(w)$（除以 50）
# 画成 $w$ 的函数，和“含自己的训练损失”、测试误差放在一起，再把训练中 $w$ 走过的路标上去。
# 留一损失的目标 $y_i$ 带着方差 $0.5^2 = 0.25$ 的噪声，所以它整体比测试误差高，要比较的是两条曲线**最低点的位置**。

# %%
_, w_history_long, _ = train_nw(200)
curves, w_grid = nw.plot_loss_landscape(x_train, y_train, x_test, y_truth, w_history,
                                        w_history_long)
w_loo_best = w_grid[curves["loo"].index(min(curves["loo"]))]
w_test_best = w_grid[curves["test"].index(min(curves["test"]))]
print(f"lowest leave-one-out loss at w = {w_loo_best:.1f}, lowest test MSE at w = {w_test_best:.1f}")
with torch.no_grad():
    y_hat_long = NWKernelRegression(w=w_history_long[-1])(x_test, test_keys, test_values)
print(f"after 200 epochs: w = {w_history_long[-1]:.2f}, test MSE {test_mse(y_hat_long):.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(a > b for a, b in zip(curves["self"], curves["self"][1:]))  # with self: falls all the way
assert 3 < w_loo_best < 5 and 3 < w_test_best < 5  # both curves bottom out near w = 4
assert w_history[1] > 3 * w_loo_best  # the first step jumps far past the minimum ...
assert abs(w_history_long[-1] - w_loo_best) < 0.5  # ... and 200 epochs find it
assert test_mse(y_hat_long) < 0.5 * test_mse(y_hat_trained)

# %% [markdown]
# 图里读出三件事：
#
# * 含自己的训练损失（蓝色点线）随 $w$ 一路下降：用它训练，$w$ 会一直变大——这就是要留一的原因。
# * 留一损失（蓝色实线）在 $w \approx 4$ 处最低，测试误差（红色虚线）的最低点也在这里：**目标是对的**。
# * 但 5 轮训练的第一步（橙色箭头）就越过了最低点，落在右边一段平缓的坡上，每轮只回落一点；
#   训练 200 轮（绿色圆圈），$w$ 才沿坡回到最低点，测试误差随之降到约 0.05。
#
# 所以“可学习的 $w$ 自己找到偏差与方差的平衡点”成立，但前提是优化做得足够好。

# %% [markdown]
# <details><summary>深入一步：第一步为什么跳得这么远？</summary>
#
# 书中的损失是 50 个样本误差的**和**，梯度也是 50 个梯度之和。在起点 $w \approx 0.5$，$L(w)$ 很陡，
# 乘上学习率 0.5，一步就走出十几个单位。越过最低点以后，核已经窄到每个训练点只看一两个近邻，
# 再改变 $w$ 几乎不改变预测，梯度很小，所以每轮只回落一点。把损失改成**平均**（步长缩小 50 倍），
# $w$ 就从下方一步步爬向最低点，不会越过它。下面打印这两处的梯度，以及平均损失下 $w$ 的路径。
#
# </details>

# %%
for w0 in w_history[:2]:
    grad = nw.loo_gradient(w0, x_train, y_train)
    print(f"at w = {w0:5.2f}: dL/dw = {grad:7.2f}, SGD step = {-0.5 * grad:+6.2f}")
_, w_history_mean, _ = train_nw(200, reduction="mean")
print("mean loss, w after 0, 10, 50, 200 epochs:", [round(w_history_mean[i], 2) for i in (0, 10, 50, 200)])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert nw.loo_gradient(w_history[0], x_train, y_train) < -30
assert abs(nw.loo_gradient(w_history[1], x_train, y_train)) < 1
assert all(a < b < w_loo_best for a, b in zip(w_history_mean, w_history_mean[1:]))  # from below

# %% [markdown]
# ### 动手试试：锐度、偏差与方差
#
# 下面的探索器用 `NWKernelRegression` 预先算好了 $w = 1, 2, \ldots, 20$ 的每一种状态，只有一个滑块。
# 左上是预测曲线（颜色同上面的图），菱形是查询 $x = 2.5$ 处的预测；右上是这个查询分给各个键的权重；
# 左下是留一损失 $L(w)/n$（蓝色实线）和测试误差（红色虚线），两个菱形标出当前的 $w$ 在两条曲线上的位置；
# 右下是当前 $w$ 的数字。它从 $w = 4$ 开始。问题只有一个：**锐度怎样在偏差与方差之间取舍，留一法选中了哪里？**
#
# * 把 $w$ 拖到 1：权重摊成一个矮而宽的小丘，预测被抹平，两个菱形都爬上了曲线左侧的陡坡。
# * 再拖到 20：权重收缩成一个窄峰（最大约 0.48），预测跟着噪声锯齿状起伏，两个菱形沿右侧的缓坡慢慢升高。
# * 看两个菱形在哪个 $w$ 最低。

# %%
nw.sharpness_explorer(x_train, y_train, x_test, y_truth)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
ex_states = nw.sharpness_states(x_train, y_train, x_test, y_truth, [float(w) for w in range(1, 21)],
                                [0.25 * i for i in range(1, 81)])
ex_ws = [float(w) for w in range(1, 21)]
ex_peak = {w: max(r["weight"] for r in ex_states["weights"] if r["w"] == w) for w in ex_ws}
ex_wiggle = {w: torch.tensor([r["y"] for r in ex_states["fit"] if r["w"] == w]).diff().abs().sum()
             for w in ex_ws}
assert all(ex_peak[a] < ex_peak[b] for a, b in zip(ex_ws, ex_ws[1:]))
assert all(ex_wiggle[a] < ex_wiggle[b] for a, b in zip(ex_ws, ex_ws[1:]))
assert ex_peak[1.0] < 0.05 and 0.45 < ex_peak[20.0] < 0.5
for series in ("leave-one-out L(w)/n", "test MSE"):
    at_w = {r["w"]: r["loss"] for r in ex_states["at_w"] if r["series"] == series}
    assert min(at_w, key=at_w.get) == 4.0, series
    assert all(at_w[a] > at_w[b] for a, b in zip(ex_ws[:3], ex_ws[1:4]))
    assert all(at_w[a] < at_w[b] for a, b in zip(ex_ws[3:], ex_ws[4:]))
    assert at_w[1.0] - at_w[4.0] > 2 * (at_w[20.0] - at_w[4.0])  # steep on the left, gentle right
for seed in range(1, 5):  # too wide costs more than too narrow on other data sets, too
    torch.manual_seed(seed)
    x_s, _ = torch.sort(torch.rand(n_train) * 5)
    c = nw.loss_curves(x_s, f(x_s) + torch.normal(0.0, 0.5, (n_train,)), x_test, y_truth, ex_ws)
    for k in ("loo", "test"):
        assert c[k][0] - min(c[k]) > 1.5 * (c[k][-1] - min(c[k])), (seed, k)
        assert 3 <= ex_ws[c[k].index(min(c[k]))] <= 7, (seed, k)

# %% [markdown]
# 这一次运行里，两个菱形都在 $w = 4$ 最低（测试误差 0.049，留一损失 0.360）；从 4 往左，两条曲线都陡升，
# 往右升得慢：核太宽（偏差）比太窄（方差）代价大得多。留一法只用训练数据，
# 却和看得到真实函数的测试误差选中了同一个锐度——训练 $w$ 时最小化的正是这条蓝线。
# 换一组数据，两个最低点未必还重合（练习 3）。

# %% [markdown]
# <details><summary>深入一步：边界上的偏差</summary>
#
# 上面的预测曲线里，最显眼的误差在左端 $x = 0$：真实值 $f(0) = 0$，预测却高出一截。
# 原因不在噪声，而在**位置**：在区间内部，查询两侧都有训练点，加权平均的“重心”
# $\bar{x}(x) = \sum_i \alpha(x, x_i)\, x_i$ 落在查询附近；在 $x = 0$，所有训练点都在右侧，
# 重心被拉向区间内部，预测近似于 $f$ 在 $\bar{x}(0) > 0$ 附近的值。核越宽，重心被拉得越远。
# 下面的图画出 $w = 1$ 和 $w = 4$ 时的误差 $\hat{y}(x) - f(x)$（左）和重心的偏移 $\bar{x}(x) - x$（右）；
# 每行最后是**局部线性回归**（local linear regression）在 $x = 0$ 的误差：用同样的核权重，在查询附近拟合一条直线而不是一个常数。
#
# </details>

# %%
bias = nw.boundary_bias(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0))
for w, b in bias.items():
    print(f"w = {w:g}: at x = 0 / 4.9, error {b['error'][0]:+.2f} / {b['error'][-1]:+.2f}, shift "
          f"{b['shift'][0]:+.2f} / {b['shift'][-1]:+.2f}; local linear error at x = 0 "
          f"{b['local_linear_error'][0]:+.2f}")
nw.plot_boundary_bias(bias, x_test)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
interior = (x_test >= 1) & (x_test < 4)
for w, min_error, min_shift in ((1.0, 1.5, 0.5), (4.0, 0.4, 0.1)):
    error, shift = bias[w]["error"], bias[w]["shift"]
    assert error[0] > min_error and shift[0] > min_shift and shift[-1] < -min_shift, w
    assert error[0] > 2 * error[-1].abs(), "the left end errs far more than the right end"
    assert shift[interior].abs().max() < 0.5 * shift[0], "the centre moves most at the edges"
    assert error.abs().argmax() == 0, "the largest error is at x = 0"
    assert bias[w]["local_linear_error"][0].abs() < 0.5 * error[0]

# %% [markdown]
# <details><summary>读图：边界偏差 = 重心的偏移 × 函数在那里的变化</summary>
#
# $w = 1$ 时，$x = 0$ 处的重心偏到 0.83，预测误差约 +2.2，是整条曲线上最大的；
# $w = 4$ 时核窄得多，重心只偏 0.18，误差降到约 +0.7，但仍是这条曲线上最大的。
# 右端 $x = 4.9$ 的重心同样被拉向内部（偏移为负），误差却小得多：$f$ 在 $x \approx 4.4$ 处有一个极小值，
# 向内挪一点函数值几乎不变；而 $x = 0$ 附近 $f$ 上升得很快（$x^{0.8}$ 在 0 处的斜率是无穷大）。
# 区间中部的重心偏移比两端小得多。局部线性回归的直线能“向外延伸”到边界，
# 把 $x = 0$ 处的误差从 +2.18 降到 +0.75（$w = 1$）、从 +0.71 降到 +0.27（$w = 4$）；
# 它没有降到 0：直线只消掉了重心偏移带来的一阶偏差，而 $f$ 在 0 附近弯得厉害，一条直线也跟不上。
#
# </details>

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的 `NWKernelRegression` 只能随机初始化 $w$；这里的构造函数多一个可选参数 `w=`，
#   用它直接构造固定锐度的模型（$w = 1$、$w = 0$、探索器里的每个 $w$），不训练也能比较。
# * 书中在 `forward` 里把查询 `repeat_interleave` 成与键同形；这里用广播 `queries[:, None] - keys`，
#   并在入口检查三个输入的形状，形状不对时给出说明怎样改的 `ValueError`。
# * 书中用 `d2l.Animator` 从第 1 轮开始画每轮训练前的损失；这里横轴是“已训练的轮数”，
#   第 0 个点是训练前，最后一个点是训练 5 轮之后的损失。
# * 书中画出训练后的预测和权重热图；这里它们就是上面锐度图里 $w = 16$ 的一列（训练得到 $w \approx 16.2$）。
#
# </details>
#
# ## 小结
#
# * Nadaraya-Watson 核回归就是注意力汇聚：查询是新输入，键是训练输入，值是训练输出；用高斯核时，权重是 $-\frac{1}{2}(x - x_i)^2$ 的 softmax，离查询越近的键权重越大。平均汇聚是所有权重都为 $1/n$ 的特例。
# * 在距离上乘一个可学习的 $w$ 就得到带参数的注意力汇聚。$w = 1/\sigma$ 是核宽度的倒数（锐度），$w^2$ 是 10.1 节温度的倒数：$w$ 越大权重越集中，偏差小而方差大；$w$ 越小越平滑，偏差大而方差小。`torch.bmm`（$(b, a, c) \times (b, c, d) \to (b, a, d)$）批量计算这些加权平均。
# * 训练 $w$ 要用留一法，否则每个查询只看自己就能把训练误差降为零。这组数据上留一损失和测试误差都在 $w \approx 4$ 最低；书中的 5 轮训练第一步就越过了它（停在 $w \approx 16$），200 轮才回到最低点：目标对，还要优化得好。
#
# ## 练习
#
# ### 练习 1
#
# 训练样本越多，非参数的 Nadaraya-Watson 估计是否就越准？用与本节相同的生成方式
# （`make_data` 已给出）分别取 $n = 50$ 和 $n = 500$ 个样本，对固定的 $w = 1$（宽核）和 $w = 16$（窄核）
# 计算测试误差，存为字典 `ex1_mse`，键为 `(n, w)`，例如 `ex1_mse[(500, 16.0)]`。
# 哪种核从更多的数据中获益更多？为什么？（把答案和正文的偏差—方差取舍联系起来。）

# %%
def make_data(n, seed=0):
    """n sorted training inputs in [0, 5) and their noisy outputs, as in this section."""
    torch.manual_seed(seed)
    x, _ = torch.sort(torch.rand(n) * 5)
    return x, f(x) + torch.normal(0.0, 0.5, (n,))


# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 宽核（w=1）的误差主要来自偏差：它把峰谷抹平，多给数据也抹不回来。
# 窄核（w=16）的误差主要来自方差：每个查询只参考少数几个近邻，噪声没有被平均掉；
# 数据多了，同样宽的邻域里点更多，噪声被平均掉，误差大幅下降。
ex1_mse = {}
for n in [50, 500]:
    x_n, y_n = make_data(n)
    for w in [1.0, 16.0]:
        with torch.no_grad():
            y_hat = NWKernelRegression(w=w)(x_test, x_n.repeat(n_test, 1), y_n.repeat(n_test, 1))
        ex1_mse[(n, w)] = test_mse(y_hat)
print({k: round(v, 3) for k, v in ex1_mse.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex1_mse) == {(50, 1.0), (50, 16.0), (500, 1.0), (500, 16.0)}, "ex1_mse needs 4 keys (n, w)"
assert abs(ex1_mse[(50, 1.0)] - test_mse(y_hat_np)) < 1e-4, "n=50, w=1 is this section's estimate"
assert abs(ex1_mse[(50, 16.0)] - w_mse[16.0]) < 1e-4, \
    f"n=50, w=16 should match the main text's {w_mse[16.0]:.3f}, got {ex1_mse[(50, 16.0)]:.3f}"
print("n = 50 matches the main text:", {k: round(v, 3) for k, v in ex1_mse.items() if k[0] == 50})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex1_mse[(500, 16.0)] < ex1_mse[(50, 16.0)] / 4, "the narrow kernel gains a lot from data"
assert ex1_mse[(500, 1.0)] > 0.8 * ex1_mse[(50, 1.0)], "the wide kernel's bias stays"


# %% [markdown]
# ### 练习 2
#
# 训练后的 $w$ 是多少？对应的高斯核标准差 $\sigma = 1/w$ 是多少？
# 为了量化“权重更尖锐”，对每个测试查询数一数：按权重从大到小累加，要多少个训练样本才能凑够 90% 的权重？
# 分别对 $w = 1$ 和训练后的 $w$ 求这个数的平均值。定义 `ex2_w`、`ex2_sigma`，
# 以及字典 `ex2_keys_for_90`，键为 `"w = 1"` 和 `"trained"`。然后用正文的权重之比公式解释：两个数为什么差这么多？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def keys_for_mass(weights, mass=0.9):
    """Mean number of largest weights per row needed to reach `mass`; weights: (rows, keys)."""
    cumulative = weights.sort(dim=1, descending=True).values.cumsum(dim=1)
    return ((cumulative < mass).sum(dim=1) + 1).float().mean().item()


ex2_w = net.w.item()
ex2_sigma = 1 / ex2_w
ex2_keys_for_90 = {}
with torch.no_grad():
    for name, w in [("w = 1", 1.0), ("trained", ex2_w)]:
        model = NWKernelRegression(w=w)
        model(x_test, test_keys, test_values)
        ex2_keys_for_90[name] = keys_for_mass(model.attention_weights)
print(f"w = {ex2_w:.2f}, sigma = {ex2_sigma:.3f}")
print("keys holding 90% of the weight, on average:", {k: round(v, 1) for k, v in ex2_keys_for_90.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert abs(ex2_sigma * ex2_w - 1) < 1e-6, "sigma is 1 / w"
assert set(ex2_keys_for_90) == {"w = 1", "trained"}
assert abs(ex2_w - w_learned) < 1e-6, f"the trained w is {w_learned:.2f}, got {ex2_w:.2f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert abs(ex2_w - net.w.item()) < 1e-6, "ex2_w should be the trained model's w"
assert 1 <= ex2_keys_for_90["trained"] < ex2_keys_for_90["w = 1"] / 3, "trained weights are sharper"
assert 20 < ex2_keys_for_90["w = 1"] < 30, "a Gaussian of width 1 spreads over 20-30 keys"
assert ex2_keys_for_90["trained"] < 4, "the trained kernel needs only 2-3 keys"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：训练 5 轮后 $w$ 在 16 左右（$\sigma = 1/w$ 约 0.06），远大于非参数版本的 $w = 1$。
# 两个键到查询的距离为 $d_1 < d_2$ 时，它们的权重之比是 $\exp\big(\tfrac{w^2}{2}(d_2^2 - d_1^2)\big)$，
# 随 $w^2$ 指数增长：$w$ 从 1 变成 16，指数放大了约 256 倍，稍远一点的键的权重就被压到几乎为 0。
# 于是凑够 90% 权重所需的键从二十多个减少到两三个（见上面的输出），正文锐度图里 $w = 16$ 那一列的权重曲线也因此又窄又高。

# %% [markdown]
# ### 练习 3
#
# 正文里留一损失和测试误差的最低点都在 $w \approx 4$（先在上面的探索器里拖动 $w$，
# 看左下两条曲线上的菱形各在哪个 $w$ 最低）。这是这一组数据的巧合，还是留一法总能选对锐度？
# 用 `make_data(50, seed)` 对 `seed = 0, 1, 2, 3, 4` 各生成一组训练数据，在网格
# `ex3_grid = [1, 2, 3, 4, 6, 8, 12, 16]` 上求：留一平方误差之和最小的 $w$（字典 `ex3_loo_w`，键为 seed）、
# 测试误差最小的 $w$（`ex3_test_w`），以及两者的测试误差（`ex3_mse[seed] = (用留一 w 的测试误差, 最小测试误差)`）。
# 留一法选出的 $w$ 离最好的 $w$ 有多远？代价有多大？它会不会选出 $w = 1$ 或 $w = 16$？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def loo_and_test_errors(x, y, grid):
    """Summed leave-one-out errors and test MSEs over `grid` for the training set (x, y)."""
    n = len(x)
    keep = ~torch.eye(n, dtype=torch.bool)
    keys, vals = (t.repeat(n, 1)[keep].reshape(n, n - 1) for t in (x, y))
    loo, test = [], []
    with torch.no_grad():
        for w in grid:
            model = NWKernelRegression(w=w)
            loo.append(((model(x, keys, vals) - y) ** 2).sum().item())
            test.append(test_mse(model(x_test, x.repeat(n_test, 1), y.repeat(n_test, 1))))
    return loo, test


ex3_grid = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]
ex3_loo_w, ex3_test_w, ex3_mse = {}, {}, {}
for seed in range(5):
    loo, test = loo_and_test_errors(*make_data(50, seed), ex3_grid)
    i, j = loo.index(min(loo)), test.index(min(test))
    ex3_loo_w[seed], ex3_test_w[seed] = ex3_grid[i], ex3_grid[j]
    ex3_mse[seed] = (test[i], test[j])
    print(f"seed {seed}: leave-one-out picks w = {ex3_grid[i]:4.1f} (test MSE {test[i]:.3f}); "
          f"best w = {ex3_grid[j]:4.1f} (test MSE {test[j]:.3f}); w = 1: {test[0]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert set(ex3_loo_w) == set(ex3_test_w) == set(ex3_mse) == set(range(5)), "one entry per seed"
assert ex3_loo_w[0] == 4.0, f"seed 0 is this section's data: its LOO minimum is w = 4, got {ex3_loo_w[0]}"
assert abs(ex3_mse[0][0] - w_mse[4.0]) < 1e-4, \
    f"seed 0, w = 4 should have test MSE {w_mse[4.0]:.3f}, got {ex3_mse[0][0]:.3f}"
print("seed 0 matches the main text")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert all(ex3_mse[s][1] <= ex3_mse[s][0] + 1e-9 for s in range(5)), "the best test MSE is the minimum"
assert all(3.0 <= ex3_loo_w[s] <= 8.0 for s in range(5)), "LOO picks a middle w on every seed"
assert max(ex3_mse[s][0] / ex3_mse[s][1] for s in range(5)) > 2, "on some seed LOO costs over 2x"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不是每次都选对。五组数据上留一法选出的 $w$ 在 3 到 8 之间，测试误差最小的 $w$ 在 3 到 6 之间，
# 只有 seed 0 恰好两者都是 4（见上面的输出）。原因是留一损失在 $w = 3 \ldots 8$ 之间很平，
# 相邻网格点的差别小于 50 个带噪声样本本身造成的波动，最低点落在哪里带有偶然性；
# 代价有时不小（有一组数据的测试误差是最优 $w$ 的近 3 倍）。但它从不选 $w = 1$ 或 $w = 16$：
# 留一法可靠地排除了明显过宽和过窄的核，每组数据上它选出的 $w$ 的测试误差都比 $w = 1$ 小得多。

# %% [markdown]
# ### 练习 4
#
# 为本节的核回归设计另一种带参数的注意力汇聚，训练它并画出它的注意力权重。
# 参考方向：把高斯核换成拉普拉斯核（Laplace kernel），注意力分数为 $-w\,|x - x_i|$，$w$ 可学习。
# 定义一个 `nn.Module` 类的实例 `ex4_model`（与 `NWKernelRegression` 同样的 `forward(queries, keys, values)`
# 接口，前向计算后在 `attention_weights` 中保存权重），用留一法训练它，**训练到收敛**（正文说明了为什么：
# 停得太早，$w$ 会停在远离留一损失最低点的地方；打印最后的梯度，说明它确实停下了），
# 然后用全部训练样本预测测试输入（`ex4_model(x_test, test_keys, test_values)`），把测试误差存为 `ex4_test_mse`。
# 它和调好的高斯核（$w = 4$，测试误差见正文）相比如何？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class LaplaceKernelRegression(nn.Module):
    """Attention pooling with scores -w |x - x_i| (a Laplace kernel of sharpness w)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, queries, keys, values):
        self.attention_weights = torch.softmax(-self.w * (queries[:, None] - keys).abs(), dim=-1)
        return (self.attention_weights * values).sum(dim=-1)


# 平均损失的梯度比正文的求和损失小 50 倍，学习率 5 也是从下方爬向最低点；训练到梯度接近 0
torch.manual_seed(0)
ex4_model = LaplaceKernelRegression()
optimizer = torch.optim.SGD(ex4_model.parameters(), lr=5.0)
for _ in range(100):
    optimizer.zero_grad()
    l = ((ex4_model(x_train, train_keys, train_values) - y_train) ** 2).mean()
    l.backward()
    optimizer.step()
with torch.no_grad():
    ex4_test_mse = test_mse(ex4_model(x_test, test_keys, test_values))
print(f"Laplace: w {ex4_model.w.item():.2f}, leave-one-out loss {l.item():.3f}, "
      f"last dL/dw {ex4_model.w.grad.item():.4f}, test MSE {ex4_test_mse:.3f}")
print(f"Gaussian: w = 4 (tuned) {w_mse[4.0]:.3f}, trained 5 epochs {test_mse(y_hat_trained):.3f}")
d2l.show_heatmaps(ex4_model.attention_weights.detach().reshape(1, 1, n_test, n_train),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs",
                  titles=[f"Laplace, w = {ex4_model.w.item():.1f}"], figsize=(3.5, 3.5))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert isinstance(ex4_model, nn.Module) and not isinstance(ex4_model, NWKernelRegression), \
    "ex4_model should be a new nn.Module, not this section's NWKernelRegression"
assert sum(p.numel() for p in ex4_model.parameters() if p.requires_grad) >= 1, "it needs parameters"
with torch.no_grad():
    ex4_pred = ex4_model(x_test, test_keys, test_values)
ex4_weights = ex4_model.attention_weights
assert ex4_pred.shape == (n_test,), "predict one output per test input"
assert ex4_weights.shape == (n_test, n_train), "attention_weights: (num_queries, num_keys)"
assert (ex4_weights >= 0).all() and torch.allclose(ex4_weights.sum(dim=1), torch.ones(n_test))
assert abs(test_mse(ex4_pred) - ex4_test_mse) < 1e-5, "ex4_test_mse should be this model's error"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex4_test_mse < 1.5 * w_mse[4.0], \
    "trained to convergence, the pooling should come near the tuned Gaussian (w = 4)"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：训练到收敛后（最后的梯度不到千分之一），拉普拉斯核的 $w$ 停在约 5.3，测试误差 0.056，
# 与调好的高斯核（$w = 4$，0.049）相差无几，远好于正文训练 5 轮的高斯核（0.130）。
# 这又是正文的教训：核的形状不如锐度要紧，而锐度要靠留一损失**优化到底**才选得好。
# 热图里的亮带比正文 $w = 1$ 的高斯核窄得多，每行最大的权重约 0.1 到 0.3，介于正文 $w = 4$ 与 $w = 16$ 的权重曲线之间。

# %% [markdown]
# ### 练习 5
#
# 核的**形状**也会影响注意力。把高斯核换成矩形核（boxcar kernel）$K(u) = \mathbb{1}[|u| \le 1]$：
# 每个查询对距离不超过 1 的训练样本等权平均，窗口外的权重恰好为 0。
# 计算它的权重矩阵 `ex5_weights`（形状 $(n_\text{test}, n)$，每行和为 1）和测试误差 `ex5_test_mse`，
# 把它与 $w = 1$ 的高斯核权重并排画出。矩形核的热图和高斯核有什么不同？
# 两者都“只看 $\pm 1$ 左右的键”，为什么矩形核的测试误差小得多？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
inside = ((x_test[:, None] - x_train[None, :]).abs() <= 1).float()  # (n_test, n_train)
ex5_weights = inside / inside.sum(dim=1, keepdim=True)
ex5_test_mse = test_mse(ex5_weights @ y_train)
print(f"test MSE: boxcar {ex5_test_mse:.3f}, Gaussian w = 1 {test_mse(y_hat_np):.3f}")
inside_sigma = (diffs.abs() <= 1).float()  # Gaussian w = 1: weight the ±1 window holds
print(f"weight within ±1: boxcar 1.00, Gaussian w = 1 "
      f"{(attention_weights * inside_sigma).sum(dim=1).mean():.2f} (mean over queries)")
for w in (1.5, 3**0.5):  # a Gaussian with the boxcar's spread: std of U(-1, 1) is 1/sqrt(3)
    print(f"Gaussian w = {w:.2f}: test MSE {test_mse(nw.predict(w, x_test, x_train, y_train)[0]):.3f}")
d2l.show_heatmaps(torch.stack([attention_weights, ex5_weights]).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs",
                  titles=["Gaussian, w = 1", "Boxcar, |u| <= 1"], figsize=(7, 3.5))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex5_weights.shape == (n_test, n_train), "ex5_weights should have shape (n_test, n_train)"
assert torch.allclose(ex5_weights.sum(dim=1), torch.ones(n_test)), "every row must sum to 1"
ex5_far = (x_test[:, None] - x_train[None, :]).abs() > 1
assert (ex5_weights[ex5_far] == 0).all(), "keys farther than 1 must get exactly zero weight"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
ex5_near = ~ex5_far
for row, near in zip(ex5_weights, ex5_near):
    assert torch.allclose(row[near], torch.full((int(near.sum()),), 1 / int(near.sum())))
assert abs(test_mse(ex5_weights @ y_train) - ex5_test_mse) < 1e-6
assert ex5_test_mse < 0.6 * test_mse(y_hat_np), "the boxcar beats the Gaussian with sigma = 1"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：矩形核的带边缘清晰，窗口外的权重恰好为 0；带并不均匀：在两端（左上角和右下角），
# 窗口只有一侧有键，落在里面的键少，每个分到的权重更大，所以两角的带更窄、颜色更深。
# 高斯核的带是渐变的，而且比看上去宽：$\sigma = 1$ 时 $\pm 1$ 之内平均只有约四分之三的权重（见上面的输出），
# 其余的权重落在 $\pm 2$、$\pm 3$ 处的远键上，把峰谷抹得更平。矩形核把全部权重留在 $\pm 1$ 之内，
# 它的有效宽度（均匀分布 $U(-1, 1)$ 的标准差 $1/\sqrt{3} \approx 0.58$）相当于 $w \approx 1.7$ 的高斯核，
# 偏差小得多。它的测试误差（0.211）和 $w = 1.5$ 的高斯核（0.212）几乎一样，比 $w = 1.73$ 的（0.159）差一些：
# 硬边缘让预测在键进出窗口时跳动，这是矩形核多付的代价。
# 说到底还是锐度：矩形核赢在更窄，而不是形状更好。
