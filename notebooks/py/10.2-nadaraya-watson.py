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
# 这一节看统计学里一个六十年代的方法——**Nadaraya-Watson 核回归**（kernel regression）：它小到可以看清每一个权重，
# 却已经有查询、键、值、softmax 权重和一个可以学习的参数。主线三步：核回归**就是**注意力汇聚；一个参数 $w$ 控制权重有多**尖锐**；
# 用留一法让模型自己学 $w$。最后看它怎样通向 10.3 节的点积注意力。

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
# 图 10.2.1 Nadaraya-Watson 核回归就是注意力汇聚：测试输入 $x$ 是查询，训练输入 $x_i$ 是键、训练输出 $y_i$ 是值，高斯核权重决定预测 $\hat y = \sum_i \alpha(x, x_i)\, y_i$。示意图用 12 个训练点、查询 $x = 2.5$，核与下面的代码相同，宽度 $\sigma = 1$
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
# 平均汇聚是一条水平线；高斯核的预测大致顺着真实函数起伏，误差约为平均汇聚的一半，
# 但峰谷被“削平”了，左端也明显偏高：每个查询都参考了相当远处的样本。把注意力权重画成热图，
# 行是（排序后的）测试输入，列是（排序后的）训练输入；两者都排过序，离查询近的键都在对角线附近：

# %%
d2l.show_heatmaps(attention_weights.unsqueeze(0).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs")
d2l.plt.show()
top = attention_weights.max(dim=1).values  # 每行（每个查询）最大的权重
print(f"largest weight per row: first row {top[0]:.3f}, rows 10-39 at most {top[10:40].max():.3f}, "
      f"last row {top[-1]:.3f}")

# %% [markdown]
# 亮带沿对角线分布，但很宽、颜色淡：每行最大的权重（上面打印）只有几个百分点，权重摊在几十个键上；
# 两端的查询只有一侧有近邻，最大权重更大一些。

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
# 第 $q$ 行是第 $q$ 个查询可以参考的键和值。为什么不像上面那样用一个权重矩阵乘**一个**值向量？
# 训练时（下文的留一法）每个查询都去掉自己，各有一行不同的键和值，值也成了矩阵。
# 每行各做一次加权和：第 $q$ 行的权重是 $(1, n_k)$ 的行、值是 $(n_k, 1)$ 的列，
# 书中用**批量矩阵乘法**（batch matrix multiplication）`torch.bmm` 把 $n_q$ 个这样的乘积一次算完：
# $(n_q, 1, n_k) \times (n_q, n_k, 1) \to (n_q, 1, 1)$。权重保存在 `attention_weights` 里，以便画图。

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
# 为什么 $w$ 越大，权重越“尖锐”？两个键与查询的距离为 $d_1 < d_2$ 时，权重之比是
#
# $$\frac{\alpha_1}{\alpha_2} = \exp\left(\frac{w^2}{2}\,(d_2^2 - d_1^2)\right),$$
#
# 随 $w^2$ 指数增长。这正是 10.1 节的温度：把分数 $-\frac{1}{2}(x - x_i)^2$ 除以温度 $\tau$ 再做 softmax，
# 这里 $\tau = 1/w^2$，$w^2$ 是**逆温度**。下面对三个 $w$ 各算一次：整条测试曲线的误差，和查询 $x = 2.5$ 分给各个键的权重；
# 图中每列一个 $w$，上面是这些权重，下面是预测曲线；图下打印这些数字。

# %%
w_mse, w_alpha = {}, {}
with torch.no_grad():
    for w in (1.0, 4.0, 16.0):
        model = NWKernelRegression(w=w)
        w_mse[w] = test_mse(model(x_test, test_keys, test_values))
        model(torch.tensor([2.5]), x_train.unsqueeze(0), y_train.unsqueeze(0))  # 一个查询 x = 2.5
        w_alpha[w] = model.attention_weights[0]  # (n_train,)
nw.plot_sharpness(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0, 16.0))  # 只画图
print("test MSE:", {w: round(e, 3) for w, e in w_mse.items()})
print("4 largest weights at x = 2.5:",
      {w: [round(v, 2) for v in a.sort(descending=True).values[:4].tolist()] for w, a in w_alpha.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert w_mse[1.0] > w_mse[4.0] < w_mse[16.0]
assert abs(w_mse[1.0] - test_mse(y_hat_np)) < 1e-6
for w in w_mse:  # the figure draws what these cells computed
    _, alpha_lib = nw.predict(w, torch.tensor([2.5]), x_train, y_train)
    assert torch.allclose(alpha_lib[0], w_alpha[w], atol=1e-6)
    assert abs(test_mse(nw.predict(w, x_test, x_train, y_train)[0]) - w_mse[w]) < 1e-6
peaks = [w_alpha[w].max().item() for w in (1.0, 4.0, 16.0)]
assert peaks[0] < 0.05 < peaks[1] < 0.2 < peaks[2]

# %% [markdown]
# 三条权重曲线的峰都在 $x = 2.5$，宽窄却差很多。$w = 1$ 把权重摊在很多键上，
# 预测把峰谷削平：这是**偏差**。$w = 16$（$\sigma \approx 0.06$）把大部分权重交给最近的四个键，
# 预测跟着这几个带噪声的输出起伏：这是**方差**。$w = 4$ 居中，三者中测试误差最小。
# 锐度就是在偏差与方差之间取舍的旋钮（练习 1 看数据变多时这个取舍怎样移动）。
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
# 训练和书中一样：损失是每个样本平方误差的一半，对 50 个样本**求和**（$L(w) = \frac{1}{2}\sum_i (\hat y_i - y_i)^2$），
# 随机梯度下降（SGD），学习率 0.5，训练 5 轮；每轮用全部训练样本，所以训练是确定性的。

# %%
def train_nw(num_epochs, lr=0.5, reduce=torch.sum):
    """Train w on the leave-one-out pairs with the book's loss (half the squared error, summed;
    `reduce=torch.mean` averages instead); returns the net, and w and the loss after 0, 1, ... epochs."""
    torch.manual_seed(0)
    net = NWKernelRegression()
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    w_history, losses = [net.w.item()], []
    for epoch in range(num_epochs + 1):
        l = reduce((net(x_train, train_keys, train_values) - y_train) ** 2 / 2)
        losses.append(l.item())  # loss after `epoch` epochs
        if epoch < num_epochs:
            trainer.zero_grad()
            l.backward()
            trainer.step()
            w_history.append(net.w.item())
    return net, w_history, losses


net, w_history, losses = train_nw(5)
w_learned = net.w.item()
print("loss after 0, 1, ..., 5 epochs:", [round(v, 2) for v in losses])
print("w after 0, 1, ..., 5 epochs:   ", [round(v, 2) for v in w_history])
with torch.no_grad():
    y_hat_trained = net(x_test, test_keys, test_values)
print(f"test MSE: w = 1 {test_mse(y_hat_np):.3f}, trained w = {w_learned:.2f} "
      f"{test_mse(y_hat_trained):.3f}, w = 4 {w_mse[4.0]:.3f}")
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_trained, title=f"trained 5 epochs, w = {w_learned:.2f}")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert losses[-1] < 0.5 * losses[0] and losses == sorted(losses, reverse=True)
assert w_history[0] < 1 and w_history[1] > 8  # one step takes w from below 1 to above 8
assert all(0 < a - b < 0.2 for a, b in zip(w_history[1:], w_history[2:]))  # then it slowly falls
assert 8 < w_learned < 9
assert test_mse(y_hat_trained) < 0.25 * test_mse(y_hat_np)
assert test_mse(y_hat_trained) > 1.5 * w_mse[4.0]

# %% [markdown]
# 损失在第一轮就降了一大半，测试误差远小于 $w = 1$。但 $w$ 第一步就从 0.5 跳到 8 以上，之后每轮只回落一点；
# 预测已经有些跟着噪声起伏，测试误差比 $w = 4$ 高。为了看清发生了什么，在一串 $w$ 上算出训练最小化的留一损失，
# 和“含自己的训练损失”、测试误差放在一起（都用每个点的平均平方误差，留一损失即 $2L(w)/n$，最低点与 $L(w)$ 相同），
# 再把三次训练中 $w$ 走过的路画上去：书中的 5 轮、同样设置的 100 轮，以及把损失改成**平均**（梯度小 50 倍）的 200 轮：

# %%
ws = [0.25 * i for i in range(1, 81)]  # w = 0.25, 0.5, ..., 20
curves = {"loo": [], "self": [], "test": []}
with torch.no_grad():
    for w in ws:
        model = NWKernelRegression(w=w)
        curves["loo"].append(((model(x_train, train_keys, train_values) - y_train) ** 2).mean().item())
        curves["self"].append(((model(x_train, x_train.repeat(n_train, 1), y_train.repeat(n_train, 1))
                                - y_train) ** 2).mean().item())
        curves["test"].append(test_mse(model(x_test, test_keys, test_values)))
w_loo_best, w_test_best = (ws[c.index(min(c))] for c in (curves["loo"], curves["test"]))
_, w_history_long, _ = train_nw(100)
_, w_history_mean, _ = train_nw(200, reduce=torch.mean)
nw.plot_loss_landscape(ws, curves, x_train, y_train, w_history, w_history_long, w_mean=w_history_mean)
with torch.no_grad():
    y_hat_long = NWKernelRegression(w=w_history_long[-1])(x_test, test_keys, test_values)
print(f"lowest leave-one-out 2L(w)/n {min(curves['loo']):.3f} at w = {w_loo_best:.2f}, "
      f"lowest test MSE {min(curves['test']):.3f} at w = {w_test_best:.2f}")
print(f"summed loss, 100 epochs: w = {w_history_long[-1]:.2f}, test MSE {test_mse(y_hat_long):.3f}; "
      f"mean loss, 200 epochs: w = {w_history_mean[-1]:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(a > b for a, b in zip(curves["self"], curves["self"][1:]))  # with self: falls all the way
assert 3 < w_loo_best < 5 and 3 < w_test_best < 5  # both curves bottom out near w = 4
assert w_history[1] > 2 * w_loo_best  # the first step jumps far past the minimum ...
assert abs(w_history_long[-1] - w_loo_best) < 0.5  # ... and 100 epochs find it
assert test_mse(y_hat_long) < 0.7 * test_mse(y_hat_trained)
assert w_history_mean == sorted(w_history_mean) and w_history_mean[-1] < w_loo_best - 0.2  # climbs, never past
assert abs(curves["loo"][ws.index(4.0)] - nw.loo_loss(4.0, x_train, y_train)) < 1e-6
check_net = NWKernelRegression(w=w_history[0])  # the first step: lr 0.5 times a summed gradient
((check_net(x_train, train_keys, train_values) - y_train) ** 2 / 2).sum().backward()
assert abs(w_history[1] - w_history[0] + 0.5 * check_net.w.grad.item()) < 1e-4

# %% [markdown]
# 图里读出三件事：
#
# * 含自己的训练损失（灰色点线）随 $w$ 一路下降：用它训练，$w$ 会一直变大——这就是要留一的原因。
# * 在这份数据上，留一损失（蓝色实线）和测试误差（红色虚线）的最低点几乎在同一处（上面打印）：留一损失是个合理的目标。
#   这只是一组数据上的结论；换一组数据是否还选得这么准，留给练习 3 用几个随机种子检验。
#   蓝线整体更高，因为它的目标 $y_i$ 带着噪声（名义方差 $0.5^2 = 0.25$，这 50 个样本的实际噪声还要大一些），
#   而测试误差对照的是不含噪声的 $f(x)$。
# * 问题出在优化。书中的损失是 50 个样本之**和**，起点处梯度很大，学习率 0.5 的第一步（橙色箭头）就越过最低点，
#   落在右边平缓的坡上，每轮只回落一点，100 轮（绿色）才回到最低点附近。改成平均损失（紫色），$w$ 从下方爬向最低点、不会越过，
#   但 200 轮后还没到。所以“可学习的 $w$ 自己找到偏差与方差的平衡点”成立，前提是优化做得足够好。

# %% [markdown]
# 训练改变的是注意力有多集中。量化它：每个查询把权重从大到小累加，要几个键才凑够 90%？对全部测试查询取平均：

# %%
def keys_for_mass(weights, mass=0.9):
    """Mean over rows of how many of the largest weights reach `mass`; weights: (rows, keys)."""
    cumulative = weights.sort(dim=1, descending=True).values.cumsum(dim=1)
    return ((cumulative < mass).sum(dim=1) + 1).float().mean().item()


heat_ws = {"fixed": 1.0, "trained 5 epochs": w_learned, "leave-one-out best": w_loo_best}
keys_90 = {}
with torch.no_grad():
    for label, w in heat_ws.items():
        model = NWKernelRegression(w=w)
        model(x_test, test_keys, test_values)
        keys_90[label] = keys_for_mass(model.attention_weights)
nw.plot_weight_heatmaps(tuple(heat_ws.values()), tuple(heat_ws), x_train, y_train, x_test)  # 只画图
print("keys holding 90% of the weight:", {k: round(v, 1) for k, v in keys_90.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert keys_90["fixed"] > 20 and keys_90["trained 5 epochs"] < keys_90["leave-one-out best"] < 10
for label, w in heat_ws.items():  # the figure's titles count the same keys
    assert abs(nw.keys_for_mass(nw.predict(w, x_test, x_train, y_train)[1]).float().mean() - keys_90[label]) < 1e-6

# %% [markdown]
# 三幅热图的色标相同，标题里是凑够 90% 权重的键数。$w = 1$ 的带又宽又淡；训练 5 轮后带最窄、颜色最深；
# 留一最优的 $w$ 居中。学习 $w$，就是学习注意力该集中在多少个键上（练习 2 从 $\sigma$ 预测这些键数）。

# %% [markdown]
# ### 动手试试：查询、锐度和留一损失
#
# 菜单选锐度 $w$（0 是平均汇聚，4 是留一最优，8.33 是训练 5 轮后），滑块拖动查询 $x$。
# 左：整条预测，菱形是当前查询的预测；中：这个查询分给各个键的权重（平方根纵轴，所有状态相同）；
# 右：留一损失和测试误差随 $w$ 的曲线，菱形是当前的 $w$。每个面板下方打印着数字（左边还有真实值 $f(x)$）。
#
# **先猜，再拖**：(1) 把查询拖到左端 $x = 0$，权重曲线会变成什么形状？那里的预测会高于还是低于 $f(0) = 0$？
# (2) 选 $w = 0$ 再拖动查询，权重还会跟着动吗？(3) 把查询放回 $x = 2.5$，依次选 1、4、8.33、16：中间的小丘和右边的菱形怎样一起变化？

# %%
nw.sharpness_explorer(x_train, y_train, x_test, y_truth, f=f,
                      marks={"trained 5 epochs": w_learned, "leave-one-out best": w_loo_best})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
ex_states = nw.sharpness_states(x_train, y_train, x_test, y_truth, [0.0, 1.0, 4.0, round(w_learned, 2), 16.0],
                                [0.0, 2.5, 5.0], f=f)
ex_text = {}
for r in ex_states["text"]:
    ex_text[(r["w"], r["q"])] = ex_text.get((r["w"], r["q"]), "") + " | " + r["text"]
assert "prediction 0.71 | true value f(x) = 0.00 | largest weight 0.253 | 90% of the weight on 4 keys" \
    in ex_text[(4.0, 0.0)]
assert "prediction 2.18 | true value f(x) = 0.00 | largest weight 0.067 | 90% of the weight on 20 keys" \
    in ex_text[(1.0, 0.0)]
assert "largest weight 0.040 | 90% of the weight on 33 keys" in ex_text[(1.0, 2.5)]
assert "largest weight 0.020 | 90% of the weight on 45 keys" in ex_text[(0.0, 0.0)]
assert ex_text[(0.0, 0.0)].split("largest")[-1] == ex_text[(0.0, 5.0)].split("largest")[-1]  # w = 0
assert "prediction 2.43" in ex_text[(0.0, 0.0)] and "prediction 2.43" in ex_text[(0.0, 5.0)]
for w, peak, keys, loo, mse in ((1.0, 0.040, 33, 0.779, 0.428), (4.0, 0.145, 8, 0.360, 0.049),
                                (round(w_learned, 2), 0.234, 5, 0.397, 0.084), (16.0, 0.385, 4, 0.452, 0.129)):
    assert f"largest weight {peak:.3f} | 90% of the weight on {keys} keys" in ex_text[(w, 2.5)]
    assert f"2L(w)/n {loo:.3f}, test MSE {mse:.3f}" in ex_text[(w, 2.5)]

# %% [markdown] jupyter={"source_hidden": true}
# <details><summary>猜完再展开：这一次运行里看到的</summary>
#
# 1. 拖到 $x = 0$（$w = 1$），小丘只剩右半边：所有键都在查询右侧，最大权重 0.067，90% 的权重在 20 个键上。
#    这些键的输出大多比 $f(0) = 0.00$ 大，预测 2.18，**偏高**；$w = 4$ 只借最近的 4 个键，预测 0.71，偏得少，
#    但只要核有宽度，边界上的查询就只能向内“借”值。
# 2. $w = 0$ 时无论查询在哪，权重都是平的 $1/50 = 0.02$，预测都是 2.43：没有查询与键的比较，就没有注意力。
#    $w > 0$ 时小丘跟着查询平移：**查询决定哪些键分到权重**。
# 3. 在 $x = 2.5$ 依次选 1、4、8.33、16，小丘越来越高、越来越窄（最大权重 0.040、0.145、0.234、0.385；
#    90% 的权重在 33、8、5、4 个键上）；右边的菱形走过谷底：留一损失 0.779、0.360、0.397、0.452，
#    测试误差 0.428、0.049、0.084、0.129。
#
# </details>

# %% [markdown]
# ## 从一个 $w$ 到 10.3 节的注意力
#
# 高斯核的分数其实已经藏着 10.3 节的**点积**。对 $d$ 维的查询 $\mathbf{q}$ 和键 $\mathbf{k}$，把平方展开：
#
# $$-\tfrac{1}{2}\|\mathbf{q} - \mathbf{k}\|^2 = \mathbf{q}^\top \mathbf{k} - \tfrac{1}{2}\|\mathbf{k}\|^2 - \tfrac{1}{2}\|\mathbf{q}\|^2 .$$
#
# 最后一项只与查询有关，对同一行的所有键都一样，在 softmax 里约掉。所以高斯核的权重就是
# “点积 $\mathbf{q}^\top \mathbf{k}$ 加上只与键有关的偏置 $-\frac{1}{2}\|\mathbf{k}\|^2$”的 softmax（本节 $d = 1$：$x\,x_i - \frac{1}{2}x_i^2$）。
# 在二维的随机查询和键上验证；再看偏置什么时候能丢：

# %%
torch.manual_seed(0)
q, k = torch.randn(3, 2), torch.randn(6, 2)  # 3 个二维查询，6 个二维键


def gaussian_weights(q, k):
    return torch.softmax(-((q[:, None, :] - k[None, :, :]) ** 2).sum(-1) / 2, dim=1)  # (3, 6)


dot_bias = torch.softmax(q @ k.T - (k**2).sum(1) / 2, dim=1)  # 点积 + 键的偏置
k_unit = k / k.norm(dim=1, keepdim=True)  # 把每个键缩放到长度 1
print(f"Gaussian vs dot product + key bias:           max |diff| = "
      f"{(gaussian_weights(q, k) - dot_bias).abs().max():.1e}")
print(f"Gaussian vs plain dot product, keys as drawn: max |diff| = "
      f"{(gaussian_weights(q, k) - torch.softmax(q @ k.T, dim=1)).abs().max():.2f}")
print(f"Gaussian vs plain dot product, unit keys:     max |diff| = "
      f"{(gaussian_weights(q, k_unit) - torch.softmax(q @ k_unit.T, dim=1)).abs().max():.1e}")

# %% [markdown]
# 第一行只差浮点舍入：展开式成立。第二行说明键的长度各不相同时偏置不能丢；第三行，键的长度都相同，
# 偏置对同一行的所有键相同，也在 softmax 里约掉，只剩点积。本节的一维键 $x_i$ 长度各不相同（$|x_i|$ 从 0 到 5），
# 所以偏置 $-\frac{1}{2}x_i^2$ 一直都在；乘上 $w^2$，点积就带上了温度。
# Nadaraya-Watson 只是这种注意力最小的一种：整个模型只有一个标量 $w$，只能调节“看多宽”，不能改变“看什么”。后面几节补上的是：
#
# * **查询和键是 $d$ 维向量**，分数是 $\mathbf{q}^\top \mathbf{k}$；10.3 节的缩放点积注意力除以 $\sqrt{d}$，和这里的 $w^2$ 一样是温度旋钮。
# * **查询和键的表示是学出来的**：加性注意力和多头注意力先用可学习的矩阵 $\mathbf{W}_q, \mathbf{W}_k$ 变换它们再比较；这里的 $x$ 和 $x_i$ 原样进入核。
#
# 书中还提到，非参数的 Nadaraya-Watson 估计具有**一致性**（consistency）：数据足够多时收敛到最优结果；
# 条件是核的宽度随 $n$ 增大而变窄（练习 1 量一量最好的 $w$ 怎样随 $n$ 移动）。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的 `NWKernelRegression` 只能随机初始化 $w$；这里的构造函数多一个可选参数 `w=`，
#   用它直接构造固定锐度的模型（$w = 1$、$w = 0$、探索器里的每个 $w$），不训练也能比较。
# * 书中在 `forward` 里把查询 `repeat_interleave` 成与键同形；这里用广播 `queries[:, None] - keys`，
#   并在入口检查三个输入的形状，形状不对时给出说明怎样改的 `ValueError`。
# * 书中的损失写成 `nn.MSELoss(reduction='none')` 再除以 2 求和；这里直接写出 $\frac{1}{2}(\hat y_i - y_i)^2$ 再求和，数值相同。
# * 书中用 `d2l.Animator` 画每轮的损失，再画训练后的权重热图；这里打印每轮之后的损失和 $w$，
#   把 $w$ 走过的路画在留一损失曲线上，训练后的热图与 $w = 1$ 和留一最优的 $w$ 并排、同一色标。
#
# </details>
#
# ## 小结
#
# * Nadaraya-Watson 核回归就是注意力汇聚：查询是新输入，键是训练输入，值是训练输出，高斯核的权重是 $-\frac{1}{2}(x - x_i)^2$ 的 softmax；平均汇聚是权重全为 $1/n$ 的特例。
# * 可学习的锐度 $w = 1/\sigma$ 是逆温度（$w^2 = 1/\tau$），在偏差与方差之间取舍。
# * 训练 $w$ 要用留一法，每个查询有自己的一行键值（`torch.bmm` 一次算完各行的加权和）；在这份数据上留一损失的最低点选对了 $w$（换一组数据时见练习 3），而且要优化到底才到得了。
# * 高斯核的分数是点积 $\mathbf{q}^\top\mathbf{k}$ 加一个键的偏置 $-\frac{1}{2}\|\mathbf{k}\|^2$，键长度相同时只剩点积：10.3 节的点积注意力由此而来。
#
# ## 练习
#
# ### 练习 1
#
# 训练样本越多，非参数的 Nadaraya-Watson 估计是否就越准？用与本节相同的生成方式
# （`make_data` 已给出）分别取 $n = 50$ 和 $n = 500$ 个样本，对固定的 $w = 1$（宽核）和 $w = 16$（窄核）
# 计算测试误差，存为字典 `ex1_mse`，键为 `(n, w)`，例如 `ex1_mse[(500, 16.0)]`。
# 哪种核从更多的数据中获益更多？为什么？（把答案和正文的偏差—方差取舍联系起来。）
# 再在网格 `[1, 2, 3, 4, 6, 8, 12, 16]` 上找出每个 $n$ 测试误差最小的 $w$，存为 `ex1_best_w[n]`：
# 数据变多时，最好的核变宽还是变窄？

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
ex1_mse, ex1_best_w = {}, {}
for n in [50, 500]:
    x_n, y_n = make_data(n)
    grid_mse = {}
    for w in [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]:
        with torch.no_grad():
            y_hat = NWKernelRegression(w=w)(x_test, x_n.repeat(n_test, 1), y_n.repeat(n_test, 1))
        grid_mse[w] = test_mse(y_hat)
    ex1_mse.update({(n, w): grid_mse[w] for w in (1.0, 16.0)})
    ex1_best_w[n] = min(grid_mse, key=grid_mse.get)
    print(f"n = {n}: test MSE on the grid", {w: round(e, 3) for w, e in grid_mse.items()})
print({k: round(v, 3) for k, v in ex1_mse.items()}, " best w:", ex1_best_w)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex1_mse) == {(50, 1.0), (50, 16.0), (500, 1.0), (500, 16.0)}, "ex1_mse needs 4 keys (n, w)"
assert abs(ex1_mse[(50, 1.0)] - test_mse(y_hat_np)) < 1e-4, "n=50, w=1 is this section's estimate"
assert abs(ex1_mse[(50, 16.0)] - w_mse[16.0]) < 1e-4, \
    f"n=50, w=16 should match the main text's {w_mse[16.0]:.3f}, got {ex1_mse[(50, 16.0)]:.3f}"
assert set(ex1_best_w) == {50, 500}, "ex1_best_w needs the keys 50 and 500"
assert ex1_best_w[50] == 4.0, f"n = 50 is this section's data: its best w is 4, got {ex1_best_w[50]}"
print("n = 50 matches the main text:", {k: round(v, 3) for k, v in ex1_mse.items() if k[0] == 50})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex1_mse[(500, 16.0)] < ex1_mse[(50, 16.0)] / 4, "the narrow kernel gains a lot from data"
assert ex1_mse[(500, 1.0)] > 0.8 * ex1_mse[(50, 1.0)], "the wide kernel's bias stays"
assert 6.0 <= ex1_best_w[500] <= 8.0, "with 10x the data the best kernel is narrower"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：窄核获益多得多。$w = 1$ 时，$n$ 从 50 增到 500，测试误差只从 0.428 降到 0.393：
# 它的误差主要是偏差（把峰谷抹平、边界上向内借值），与数据多少无关。$w = 16$ 时误差从 0.129 降到 0.015，约为原来的九分之一：
# 它的误差主要是方差，数据多了，同样窄的邻域里点更多，噪声被平均掉。
# 最好的 $w$ 也随之移动：$n = 50$ 时是 4，$n = 500$ 时是 6 到 8 之间（网格上 6 和 8 打印出的误差相同），核变窄了。
# 这就是书中“一致性”的条件：要让估计随数据增多而收敛到真实函数，核宽度必须随 $n$ 增大而变窄（$w$ 变大），
# 但又要慢到邻域里的点数仍在增长；固定 $w = 1$ 的估计永远收敛不到 $f$。


# %% [markdown]
# ### 练习 2
#
# 正文热图的标题给出了凑够 90% 权重的键数。能不能不数，直接从 $\sigma = 1/w$ 预测它？
# 提示：高斯分布 90% 的质量落在均值 $\pm 1.645\sigma$ 之内；训练输入在 $[0, 5)$ 上大致均匀，每单位长度约 $n/5 = 10$ 个键。
# 对 `ex2_ws = [1.0, 4.0, w_learned]` 算出预测的键数 `ex2_predicted[w]`，再用正文的 `keys_for_mass`
# 量出实际的键数 `ex2_measured[w]`（对全部测试查询平均）。哪个 $w$ 预测得准？哪个不准，为什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex2_ws = [1.0, 4.0, w_learned]
keys_per_unit = n_train / 5
ex2_predicted, ex2_measured = {}, {}
with torch.no_grad():
    for w in ex2_ws:
        ex2_predicted[w] = 2 * 1.645 / w * keys_per_unit  # the window ±1.645 sigma, times the density
        model = NWKernelRegression(w=w)
        model(x_test, test_keys, test_values)
        ex2_measured[w] = keys_for_mass(model.attention_weights)
        print(f"w = {w:.2f} (sigma = {1 / w:.3f}): predicted {ex2_predicted[w]:.1f} keys, "
              f"measured {ex2_measured[w]:.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex2_predicted) == set(ex2_measured) == set(ex2_ws), "one entry per w in ex2_ws"
assert abs(ex2_measured[w_learned] - keys_90["trained 5 epochs"]) < 1e-6, "measure as in the main text"
assert abs(ex2_predicted[1.0] - 32.9) < 1, "2 x 1.645 sigma x 10 keys per unit is 32.9 at w = 1"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert abs(ex2_predicted[4.0] - ex2_measured[4.0]) < 1, "at w = 4 the window fits inside the data"
assert ex2_measured[1.0] < ex2_predicted[1.0] - 4, "at w = 1 the window runs past the ends"
assert abs(ex2_predicted[w_learned] * w_learned - 32.9) < 1


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：90% 的权重落在宽 $2 \times 1.645\sigma$ 的窗口里，窗口里约有 $3.29\sigma \times 10 = 32.9/w$ 个键。
# $w = 4$ 时预测得很准（上面的输出）：窗口 $\pm 0.41$，大多数查询的窗口都在数据之内。
# $w = 1$ 时量出的比预测少得多：窗口 $\pm 1.6$ 比数据区间的一半还宽，大多数查询的窗口伸出 $[0, 5)$ 之外，
# 那一侧没有键，权重归一化后集中到另一侧，凑够 90% 所需的键就少了。
# 训练后的 $w$ 窗口只有 $\pm 0.2$ 左右，只装得下约 4 个键；键数是整数，最后一个键常常把累计权重推过 90% 很多，
# 所以量出的比预测略多。锐度越大，注意力越集中：键数大致与 $\sigma$ 成正比。

# %% [markdown]
# ### 练习 3
#
# 正文里留一损失和测试误差的最低点都在 $w \approx 4$（见留一损失曲线图）。这是这一组数据的巧合，还是留一法总能选对锐度？
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
    print("   2L(w)/n on the grid:", [round(v / 50, 3) for v in loo])

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
# 只有 seed 0 恰好两者都是 4（见上面的输出）。原因是留一损失在最低点附近很平
# （每行打印的 $2L(w)/n$ 在测试误差最小的 $w$ 处只比最低值高不到 4%，而 $w = 1$ 处是最低值的 1.9 到 2.5 倍），最低点落在哪里带有偶然性；
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
ex4_row_max = ex4_model.attention_weights.max(dim=1).values
print(f"largest weight per row: Laplace {ex4_row_max.min().item():.2f} to {ex4_row_max.max().item():.2f}", end="")
for w in (4.0, 16.0):
    row_max = nw.predict(w, x_test, x_train, y_train)[1].max(dim=1).values
    print(f"; Gaussian w = {w:g} {row_max.min().item():.2f} to {row_max.max().item():.2f}", end="")
print()
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
# 参考答案：训练到收敛后（最后的梯度不到千分之一），拉普拉斯核的测试误差
# 与调好的高斯核（$w = 4$）相差无几，也好于正文训练 5 轮的高斯核（见上面的输出）。
# 核的形状不如锐度要紧，而锐度要靠留一损失**优化到底**才选得好（练习 5 从另一面说明同一件事）。
# 热图里的亮带比正文 $w = 1$ 的高斯核窄得多，每行最大的权重（上面打印的范围）略高于 $w = 4$ 的高斯核，远低于 $w = 16$：它的锐度接近调好的高斯核。

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
# 高斯核的带是渐变的，而且比看上去宽：$\sigma = 1$ 时 $\pm 1$ 之内平均只有约四分之三的权重（见上面的输出；图 10.2.1 的 67% 是 12 个键、一个居中查询的情形，这里是 50 个随机的键、对全部查询取平均），
# 其余的权重落在 $\pm 2$、$\pm 3$ 处的远键上，把峰谷抹得更平。矩形核把全部权重留在 $\pm 1$ 之内，
# 它的有效宽度（均匀分布 $U(-1, 1)$ 的标准差 $1/\sqrt{3} \approx 0.58$）相当于 $w \approx 1.7$ 的高斯核，
# 偏差小得多。它的测试误差（0.211）和 $w = 1.5$ 的高斯核（0.212）几乎一样，比 $w = 1.73$ 的（0.159）差一些。
# 说到底还是锐度：矩形核赢在更窄，而不是形状更好。
