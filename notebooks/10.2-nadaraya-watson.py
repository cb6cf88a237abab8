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
# 上一节把注意力写成了“按查询与键的匹配程度，对值加权求和”，但没有说清权重 $\alpha$ 从哪里来。
# 这一节用统计学里一个六十年代的老方法——**Nadaraya-Watson 核回归**（kernel regression）——
# 把这个框架落到实处。它足够简单，可以一眼看清每个权重的含义；又恰好包含了注意力机制的全部要素：
# 查询、键、值、softmax 权重，以及一个可以学习的参数。我们会依次看到：
# 与查询无关的平均汇聚、不带参数的注意力汇聚、带一个可学习参数的注意力汇聚，
# 以及“核的宽度”怎样决定拟合的光滑程度。

# %%
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

# %% [markdown]
# ![Nadaraya-Watson kernel weights as attention](figures/10.2-kernel-weights.svg)
#
# 图 10.2.1 Nadaraya-Watson 核回归就是注意力汇聚：测试输入 $x$ 是查询，训练输入 $x_i$ 是键、训练输出 $y_i$ 是值，高斯核权重决定预测 $\hat y = \sum_i \alpha(x, x_i)\, y_i$。示意图用 12 个训练点、查询 $x = 2.5$，核与下面的代码相同：$\sigma = 1$（即 $w = 1$）

# %%
# (n_test, 1) - (1, n_train) -> (n_test, n_train)：每行是一个查询与全部键的差
diffs = x_test.unsqueeze(1) - x_train.unsqueeze(0)
attention_weights = torch.softmax(-diffs**2 / 2, dim=1)
y_hat_np = attention_weights @ y_train  # (n_test, n_train) @ (n_train,) -> (n_test,)
print("attention weights:", tuple(attention_weights.shape), " prediction:", tuple(y_hat_np.shape))
print(f"test MSE {test_mse(y_hat_np):.3f}")
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_np)
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(attention_weights.sum(dim=1), torch.ones(n_test))  # 每行权重和为 1

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
print("elementwise:", [round(v, 3) for v in (weights * values).sum(dim=1).tolist()])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
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
        u = self.w * (queries[:, None] - keys)  # scaled distance of each query to its own keys
        return -0.5 * u.square()


# %% [markdown]
# 先看形状，并验证两个特例：$w = 1$ 时它与上面的非参数汇聚完全相同，$w = 0$ 时它等于平均汇聚。

# %%
test_keys = x_train.repeat(n_test, 1)  # (n_test, n_train)：每个测试查询都参考全部训练样本
test_values = y_train.repeat(n_test, 1)


def predict_with_width(w):
    """Prediction on the test grid with a fixed kernel width 1/w, shape (n_test,)."""
    with torch.no_grad():
        return NWKernelRegression(w=w)(x_test, test_keys, test_values)


y_hat_w1, y_hat_w0 = predict_with_width(1.0), predict_with_width(0.0)
print("keys:", tuple(test_keys.shape), " output:", tuple(y_hat_w1.shape))
print("w = 1 equals the nonparametric pooling:", torch.allclose(y_hat_w1, y_hat_np, atol=1e-6))
print("w = 0 equals average pooling:", torch.allclose(y_hat_w0, y_hat_avg, atol=1e-5))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(y_hat_w1, y_hat_np, atol=1e-6)
assert torch.allclose(y_hat_w0, y_hat_avg, atol=1e-5)

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

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert not (train_keys == x_train.unsqueeze(1)).any()  # 没有任何一行包含查询自己

# %% [markdown]
# 和书中一样：损失是平方误差，对 50 个样本**求和**后反向传播；优化器为随机梯度下降（SGD），
# 学习率 0.5，训练 5 轮。每轮都用全部训练样本，所以训练是确定性的。下图随训练实时更新。

# %%
def train_nw(num_epochs, lr=0.5, animator=None, reduction="sum"):
    """Train NWKernelRegression on the leave-one-out pairs; returns (net, w per epoch, losses)."""
    torch.manual_seed(0)
    net = NWKernelRegression()
    w_history = [net.w.item()]  # w before training, then after every epoch
    loss = nn.MSELoss(reduction="none")
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        trainer.zero_grad()
        l = loss(net(x_train, train_keys, train_values), y_train)
        (l.sum() if reduction == "sum" else l.mean()).backward()
        trainer.step()
        losses.append(l.sum().item())  # the loss at the w before this epoch's step
        w_history.append(net.w.item())
        if animator is not None:
            animator.add(epoch + 1, losses[-1])
    return net, w_history, losses


animator = d2l.Animator(xlabel="epoch", ylabel="loss", xlim=[1, 5], figsize=(3.5, 2.5))
net, w_history, losses = train_nw(5, animator=animator)
w_learned = net.w.item()
print(f"epoch 5, loss {losses[-1]:.3f}")
print("loss per epoch:", [round(v, 2) for v in losses])
print("w before training and after each epoch:", [round(v, 2) for v in w_history])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert losses[-1] < 0.5 * losses[0]
assert w_history[0] < 1 and w_history[1] > 10  # one step takes w from below 1 to above 10
assert all(0 < a - b < 0.2 for a, b in zip(w_history[1:], w_history[2:]))  # then it slowly falls
assert 15 < w_learned < 18

# %% [markdown]
# 损失在第一轮后就大幅下降，$w$ 从不到 1 一步跳到了十以上，之后每轮只回落不到 0.2。
# 用训练好的模型预测测试数据：每个测试查询参考全部 50 个训练样本。

# %%
with torch.no_grad():
    y_hat_trained = net(x_test, test_keys, test_values)
for name, y_hat in [("average", y_hat_avg), ("nonparametric", y_hat_np),
                    ("trained", y_hat_trained)]:
    print(f"{name:>14}: test MSE {test_mse(y_hat):.3f}")
d2l.plt.figure(figsize=(3.5, 2.5))
plot_kernel_reg(y_hat_trained)
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert test_mse(y_hat_trained) < 0.5 * test_mse(y_hat_np) < 0.5 * test_mse(y_hat_avg)

# %% [markdown]
# 测试误差不到非参数版本的一半，峰谷也跟上了；但曲线变得不那么平滑，开始追随个别带噪声的点。
# 这是最好的 $w$ 吗？下面把几个量画成 $w$ 的函数，都按每个样本平均：
#
# * **留一损失**（leave-one-out loss）$L(w)$：训练循环真正在最小化的量（除以 50）；
#   每个训练点都由**其他**点预测，所以它是对“没见过的输入上的误差”的估计；
# * **含自己的训练损失**：查询也在自己的键里时的误差，它随 $w$ 一路下降（$w \to \infty$ 时趋于 0），
#   这正是不能用它来训练或选 $w$ 的原因；
# * **测试误差**：与不含噪声的真实曲线比较。留一损失的目标 $y_i$ 带着方差 $0.5^2 = 0.25$ 的噪声，
#   所以它整体比测试误差高出约 0.25 以上，要比较的是两条曲线**最低点的位置**。
#
# 训练 5 轮时 $w$ 走过的路径画在 $L(w)$ 上（实心点），训练 200 轮的路径用小圆圈画出。

# %%
def summed_loss(w, keys, values):
    """Summed squared error of the training points predicted from `keys`/`values` at width 1/w."""
    with torch.no_grad():
        return ((NWKernelRegression(w=w)(x_train, keys, values) - y_train) ** 2).sum().item()


w_grid = torch.linspace(0.25, 20, 80).tolist()
loo_curve = [summed_loss(w, train_keys, train_values) / n_train for w in w_grid]
self_curve = [summed_loss(w, x_train.repeat(n_train, 1), y_train.repeat(n_train, 1)) / n_train
              for w in w_grid]
test_curve = [test_mse(predict_with_width(w)) for w in w_grid]
w_loo_best = w_grid[loo_curve.index(min(loo_curve))]
w_test_best = w_grid[test_curve.index(min(test_curve))]
net_long, w_history_long, _ = train_nw(200)
w_long = net_long.w.item()
_, w_history_mean, _ = train_nw(200, reduction="mean")  # mean loss: 50 times smaller steps

probe = NWKernelRegression(w=w_history[0])  # the gradient of the summed loss at two points
for w0 in (w_history[0], w_history[1]):
    probe.w.data.fill_(w0)
    probe.w.grad = None
    ((probe(x_train, train_keys, train_values) - y_train) ** 2).sum().backward()
    print(f"at w = {w0:5.2f}: dL/dw = {probe.w.grad.item():7.2f}, SGD step = "
          f"{-0.5 * probe.w.grad.item():+6.2f}")
print(f"lowest leave-one-out loss at w = {w_loo_best:.1f}, lowest test MSE at w = {w_test_best:.1f}")
print(f"after 5 epochs: w = {w_learned:.2f}, test MSE {test_mse(y_hat_trained):.3f}")
print(f"after 200 epochs: w = {w_long:.2f}, test MSE {test_mse(predict_with_width(w_long)):.3f}")
print("mean instead of summed loss, w after 0, 10, 50, 200 epochs:",
      [round(w_history_mean[i], 2) for i in (0, 10, 50, 200)])

fig, ax = d2l.plt.subplots(figsize=(6, 3.5))
ax.plot(w_grid, loo_curve, color="C0", label="leave-one-out loss L(w) / n (trained on)")
ax.plot(w_grid, self_curve, color="C0", ls=":", label="training loss with self / n")
ax.plot(w_grid, test_curve, color="C3", ls="--", label="test MSE (noise-free truth)")
loo_at = lambda ws: [summed_loss(w, train_keys, train_values) / n_train for w in ws]  # noqa: E731
ax.plot(w_history_long[::10], loo_at(w_history_long[::10]), "o", mfc="none", color="C2",
        ms=5, label="path of w, 200 epochs (every 10th)")
ax.plot(w_history, loo_at(w_history), "o-", color="C1", ms=5, lw=0.8,
        label="path of w, 5 epochs")
ax.annotate("start", (w_history[0], loo_at(w_history[:1])[0]), xytext=(8, 0),
            textcoords="offset points", va="center", fontsize=9)
ax.annotate("after epoch 1", (w_history[1], loo_at(w_history[1:2])[0]), xytext=(-10, 12),
            textcoords="offset points", ha="center", fontsize=9)
ax.set_xlabel("w (kernel width 1/w)")
ax.set_ylabel("loss per point")
ax.set_xlim(0, 20)
ax.set_ylim(0, 1.3)
ax.legend(fontsize=8, loc="upper right")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert all(a > b for a, b in zip(self_curve, self_curve[1:]))  # with self: falls all the way
assert 3 < w_loo_best < 5 and 3 < w_test_best < 5  # both curves bottom out near w = 4
assert w_history[1] > 3 * w_loo_best  # the first step jumps far past the minimum ...
assert abs(w_long - w_loo_best) < 0.5  # ... and 200 epochs find it
assert all(a < b < w_loo_best for a, b in zip(w_history_mean, w_history_mean[1:]))  # from below
assert test_mse(predict_with_width(w_long)) < 0.5 * test_mse(y_hat_trained)

# %% [markdown]
# 图里能读出发生了什么：
#
# * 留一损失 $L(w)$ 在 $w \approx 4$ 处最低，测试误差的最低点也在这附近：最小化留一损失这个目标本身是对的。
# * 但 $L(w)$ 在 $w = 0.5$ 附近很陡，而损失是 50 个样本的**和**，梯度也是 50 个梯度之和；
#   乘上学习率 0.5，第一步把 $w$ 从 0.5 推到了 16.9，远远越过最低点（上面打印的 SGD step）。
# * 越过之后，$w$ 落在一段平缓的坡上：核已经窄到每个训练点只看它的一两个近邻，再改变 $w$
#   几乎不改变预测，梯度很小，每轮只回落约 0.17。5 轮停在 $w \approx 16$，
#   测试误差 0.130，而 $w \approx 4$ 的测试误差约 0.05。
# * 训练 200 轮，$w$ 才沿着这段坡慢慢回到留一损失的最低点（小圆圈），测试误差随之降到约 0.05。
#
# 所以“可学习的 $w$ 自己找到平衡点”只在优化做得足够好时成立：书中训练 5 轮就拿去预测；
# 这里照样训练 5 轮，但把整条 $L(w)$ 和路径画了出来，因为 5 轮的结果停在远离最低点的地方。
# 对损失取平均而不是求和（等于把步长缩小 50 倍），$w$ 从下方一步步爬向最低点，不会越过它
# （上面最后一行：200 轮后约 3.9）。还要注意，留一损失只是 50 个带噪声样本上的估计：换一组数据，它的最低点会移动，
# 与测试误差的最低点也未必重合（练习 3）。
#
# 训练后的权重为什么让曲线“追随噪声”？看一个查询 $x = 2.5$ 的权重随 $w$ 的变化：
# 下图把 $\alpha(2.5, x_i)$ 画成训练输入 $x_i$ 的函数，三个 $w$ 画在同一坐标系里。

# %%
query = 2.5
profile_widths = [1.0, 4.0, w_learned]
fig, ax = d2l.plt.subplots(figsize=(6, 3))
for w in profile_widths:
    model = NWKernelRegression(w=w)
    with torch.no_grad():
        model(torch.tensor([query]), x_train[None, :], y_train[None, :])
    alpha = model.attention_weights[0]
    ax.plot(x_train, alpha, "o-", ms=3, label=f"w = {w:.1f}: max weight {alpha.max():.2f}")
ax.axvline(query, color="gray", ls="--", lw=0.8)
ax.set_xlabel("training input x_i")
ax.set_ylabel("alpha(2.5, x_i)")
ax.set_xlim(0, 5)
ax.legend(fontsize=8)
d2l.plt.show()
sharpness = {}  # mean largest weight per test query
for name, w in [("w = 1", 1.0), ("w = 4", 4.0), ("trained", w_learned)]:
    model = NWKernelRegression(w=w)
    with torch.no_grad():
        model(x_test, test_keys, test_values)
    sharpness[name] = model.attention_weights.max(dim=1).values.mean().item()
print("mean largest weight per test query:", {k: round(v, 3) for k, v in sharpness.items()})

# %% [markdown]
# 三条曲线的峰都在 $x = 2.5$ 附近，但宽度差别很大：$w = 1$ 的权重摊在二十多个训练点上，最大的也只有 0.04；
# $w = 4$ 集中在 $2.5 \pm 0.5$ 之内；训练 5 轮得到的 $w \approx 16$ 几乎把全部权重交给最近的两三个点，
# 预测就是这两三个带噪声输出的平均，所以曲线跟着噪声起伏。
# 训练后全部测试查询的权重热图（颜色刻度见右侧色条）里，亮带也因此又细又集中：

# %%
d2l.show_heatmaps(net.attention_weights.detach().reshape(1, 1, n_test, n_train),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs",
                  titles=[f"Trained, w = {w_learned:.1f}"], figsize=(3.5, 3.5))
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
# 下图并排画出四个宽度；后面“动手试试”里的探索器可以逐个改变 $w$。

# %%
widths = [0.5, 1.0, 4.0, 16.0]
fig, axes = d2l.plt.subplots(1, len(widths), figsize=(12, 2.6), sharey=True)
for ax, w in zip(axes, widths):
    plot_kernel_reg(predict_with_width(w), ax=ax, title=f"w = {w:.1f}")
width_mse = {w: test_mse(predict_with_width(w)) for w in widths}
print("test MSE:", {w: round(e, 3) for w, e in width_mse.items()},
      f" (average pooling: {test_mse(y_hat_avg):.3f})")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert min(width_mse, key=width_mse.get) == 4.0
assert width_mse[0.5] > width_mse[1.0] > width_mse[4.0] < width_mse[16.0]
assert width_mse[0.5] > 0.8 * test_mse(y_hat_avg)  # nearly as poor as average pooling

# %% [markdown]
# 测试误差随 $w$ 先降后升：$w = 0.5$ 的曲线被抹得很平，误差接近平均汇聚；$w = 16$ 已经在拟合噪声；
# 四个宽度里中间的 $w = 4$ 最好，与上面留一损失的最低点一致。

# %% [markdown]
# ### 动手试试：核宽度与查询
#
# 下面的探索器预先用 `NWKernelRegression` 算好了宽度 $w = 1, 2, \ldots, 20$ 与查询 $x = 0, 0.5, \ldots, 5$ 的每一种组合。
# 左上是这个 $w$ 的预测曲线，菱形是查询处的预测；右上是这个查询分给各个训练输入（键）$x_i$ 的权重 $\alpha(x, x_i)$，
# 底部的小点是全部 50 个键，连线只画出四舍五入后不为 0 的权重；左下是留一损失 $L(w)/n$ 和测试误差随 $w$ 的曲线，
# 菱形标出当前的 $w$，圆点是训练 $w$ 时走过的路径（拖动 epoch 滑块，显示到这一轮为止的路径）；
# 右下的文字给出当前 $w$ 的测试误差和留一损失，以及查询处的预测和最大的权重。试一试：
#
# * 查询停在 $x = 2.5$，把 $w$ 从 1 拖到 20：权重从一个又矮又宽的小丘收缩成一个窄峰，分到权重的键越来越少，
#   最大的权重一路增大；预测曲线也从平滑变得曲折，开始追随个别带噪声的点。
# * 看左下两条曲线上的菱形：测试误差先降后升，在这组 $w$ 里与留一损失一样在 $w = 4$ 最低。
# * 把 epoch 从 0 拖到 200：第 1 轮 $w$ 一步跳过留一损失的最低点很远，之后沿着平缓的坡每轮只回落一点，
#   要几十轮才回到最低点，然后就停在那里（与上面静态图里的小圆圈相同）。
# * 把查询移到左端 $x = 0$：所有的键都在查询右侧，每个 $w$ 的预测都高于真实值 $f(0) = 0$，$w = 1$ 时高得最多。
#   下一小节解释这种边界偏差。

# %%
#@save
def kernel_width_states(x_train, y_train, x_test, y_truth, widths, queries, w_path,
                        curve_widths, decimals=3):
    """Explorer rows for NWKernelRegression at each kernel width in `widths` and query in `queries`.

    x_train, y_train: (n,) training pairs (keys and values); x_test, y_truth: the test grid and
    its noise-free outputs. Returns a dict of row lists (see `d2l.rows`), losses per point:
    "fit": the prediction on `x_test` for each w; "weights": alpha(query, x_i) for each
    (w, query), only the weights that round to more than 0; "marker": (query, prediction) for
    each (w, query); "text": for each w a line (line 0) with the test MSE and the
    leave-one-out loss L(w)/n, for each (w, query) a line (line 1) with the prediction and the
    largest weight; "curve": L(w)/n and the test MSE over `curve_widths`; "loss_at_w": L(w)/n
    at each w; "path": (w, L(w)/n) for each epoch of `w_path` (w before training, then after
    every epoch). Controls: w, query, epoch; the plotted widths are in the column "width".
    """
    n = len(x_train)
    keep = ~torch.eye(n, dtype=torch.bool)  # leave one out: query i never sees key i
    loo_keys, loo_values = (t.repeat(n, 1)[keep].reshape(n, n - 1) for t in (x_train, y_train))

    def losses(w):
        model = NWKernelRegression(w=w)
        with torch.no_grad():
            loo = ((model(x_train, loo_keys, loo_values) - y_train) ** 2).mean().item()
            y_hat = model(x_test, x_train.repeat(len(x_test), 1), y_train.repeat(len(x_test), 1))
        return loo, ((y_hat - y_truth) ** 2).mean().item(), y_hat

    out = {k: [] for k in ("fit", "weights", "marker", "text", "curve", "loss_at_w", "path")}
    for w in curve_widths:
        loo, mse, _ = losses(w)
        for name, value in (("leave-one-out loss L(w)/n", loo), ("test MSE", mse)):
            out["curve"] += d2l.rows({"width": w, "curve": name}, loss=[value], decimals=decimals)
    for epoch, w in enumerate(w_path):
        out["path"] += d2l.rows({"epoch": epoch, "curve": "training path of w"}, width=[w],
                                loss=[losses(w)[0]], decimals=decimals)
    query_tensor = torch.tensor([float(q) for q in queries])
    for w in widths:
        loo, mse, y_hat = losses(w)
        out["fit"] += d2l.rows({"w": w, "curve": "prediction"}, x=x_test, y=y_hat,
                               decimals=decimals)
        out["loss_at_w"] += d2l.rows({"w": w, "curve": "current w"}, width=[w], loss=[loo],
                                     decimals=decimals)
        out["text"] += d2l.rows({"w": w}, line=[0], text=[
            f"w = {w:g}: test MSE {mse:.3f}, leave-one-out loss L(w)/n {loo:.3f}"])
        model = NWKernelRegression(w=w)
        with torch.no_grad():
            pred = model(query_tensor, x_train.repeat(len(queries), 1),
                         y_train.repeat(len(queries), 1))
        for q, y_q, alpha in zip(queries, pred, model.attention_weights):
            state = {"w": w, "query": q}
            visible = alpha.round(decimals=decimals) > 0
            out["weights"] += d2l.rows(state, x=x_train[visible], weight=alpha[visible],
                                       decimals=decimals)
            out["marker"] += d2l.rows({**state, "curve": "prediction at the query"},
                                      x=[q], y=[y_q], decimals=decimals)
            out["text"] += d2l.rows(state, line=[1], text=[
                f"query x = {q:g}: prediction {y_q:.2f}, largest weight {alpha.max():.2f}"])
    return out


# %%
explorer_widths, explorer_queries = [float(w) for w in range(1, 21)], [0.5 * i for i in range(11)]
states = kernel_width_states(x_train, y_train, x_test, y_truth, explorer_widths,
                             explorer_queries, w_history_long, w_grid)
keys_rows = d2l.rows({}, x=x_train, weight=torch.zeros(n_train))  # every key, at weight 0
query_rows = [{"query": q} for q in explorer_queries]
fit_axes = dict(x_title="x", y_title="y")
weight_axes = dict(x_title="training input x_i (dots at 0: every key)",
                   y_title="weight alpha(x, x_i)")
loss_axes = dict(x_title="kernel width w", y_title="loss per point")
d2l.explorer(
    (d2l.line_view(d2l.rows({"curve": "truth"}, x=x_test, y=y_truth), "x", "y", color="curve",
                   y_domain=(-1, 5), title="prediction with kernel width 1/w", **fit_axes),
     d2l.point_view(d2l.rows({"curve": "training data"}, x=x_train, y=y_train), "x", "y",
                    color="curve", size=20, **fit_axes),
     d2l.line_view(states["fit"], "x", "y", color="curve", **fit_axes),
     d2l.rule_view(query_rows, "query"),
     d2l.point_view(states["marker"], "x", "y", color="curve", size=120, shape="diamond",
                    **fit_axes)),
    (d2l.point_view(keys_rows, "x", "weight", size=10, **weight_axes),
     d2l.line_view(states["weights"], "x", "weight", points=True, y_domain=(0, 1),
                   title="attention weights of the query", **weight_axes),
     d2l.rule_view(query_rows, "query")),
    (d2l.line_view(states["curve"], "width", "loss", color="curve", y_domain=(0, 1.3),
                   title="loss over w and the training path", **loss_axes),
     d2l.point_view(states["path"], "width", "loss", color="curve", size=40, **loss_axes),
     d2l.point_view(states["loss_at_w"], "width", "loss", color="curve", size=150,
                    shape="diamond", **loss_axes)),
    (d2l.text_view([r for r in states["text"] if r["line"] == 0], "text", height=60),
     d2l.text_view([r for r in states["text"] if r["line"] == 1], "text", height=60)),
    controls=[d2l.Slider("w", explorer_widths, "kernel width w", default=1.0),
              d2l.Slider("query", explorer_queries, "query x", default=2.5),
              d2l.Slider("epoch", range(len(w_history_long)), "training epoch", default=5,
                         upto=True)],
    title="Kernel width, query and leave-one-out loss", columns=2)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
peak = {w: max(r["weight"] for r in states["weights"] if (r["w"], r["query"]) == (w, 2.5))
        for w in explorer_widths}
n_keys = {w: sum((r["w"], r["query"]) == (w, 2.5) for r in states["weights"])
          for w in explorer_widths}
fit = {w: torch.tensor([r["y"] for r in states["fit"] if r["w"] == w]) for w in explorer_widths}
wiggle = {w: fit[w].diff().abs().sum().item() for w in explorer_widths}  # total variation
assert all(peak[a] < peak[b] and n_keys[a] >= n_keys[b]
           for a, b in zip(explorer_widths, explorer_widths[1:]))
assert n_keys[20.0] < n_keys[1.0] / 4 and wiggle[20.0] > 2 * wiggle[1.0]
assert all(wiggle[a] < wiggle[b] for a, b in zip(explorer_widths, explorer_widths[1:]))
mse = {w: test_mse(predict_with_width(w)) for w in explorer_widths}
loo_at_w = {r["w"]: r["loss"] for r in states["loss_at_w"]}
assert min(mse, key=mse.get) == min(loo_at_w, key=loo_at_w.get) == 4.0
assert all(mse[a] > mse[b] for a, b in zip(explorer_widths[:3], explorer_widths[1:4]))
assert all(mse[a] < mse[b] for a, b in zip(explorer_widths[3:], explorer_widths[4:]))
path = [r["width"] for r in states["path"]]
assert path[1] > 3 * 4.0 and all(a >= b for a, b in zip(path[1:], path[2:]))
assert all(a - b < 0.2 for a, b in zip(path[1:6], path[2:7])) and abs(path[-1] - 4.0) < 0.5
arrived = next(t for t, w in enumerate(path) if abs(w - path[-1]) < 0.1)
assert arrived > 20 and all(abs(w - path[-1]) < 0.1 for w in path[arrived:])
at_zero = {r["w"]: r["y"] for r in states["marker"] if r["query"] == 0.0}
assert min(at_zero.values()) > f(torch.tensor(0.0)).item() and max(at_zero, key=at_zero.get) == 1.0
assert all(r["x"] > 0 for r in states["weights"] if r["query"] == 0.0)

# %% [markdown]
# ## 边界上的偏差
#
# 上面几张图里最显眼的误差在左端 $x = 0$：真实值 $f(0) = 0$，预测却高出一大截。
# 原因不在噪声，而在**位置**：在区间内部，查询两侧都有训练点，加权平均的“重心”
# $\bar{x}(x) = \sum_i \alpha(x, x_i)\, x_i$ 落在查询附近；而在 $x = 0$，所有训练点都在右侧，
# 重心被拉向区间内部，预测近似于 $f$ 在 $\bar{x}(0) > 0$ 附近的值。核越宽，重心被拉得越远。
# 下图画出 $w = 1$ 和 $w = 4$ 时的误差 $\hat{y}(x) - f(x)$（左）和重心的偏移 $\bar{x}(x) - x$（右）。

# %%
fig, (ax_err, ax_shift) = d2l.plt.subplots(1, 2, figsize=(8, 2.8))
interior = (x_test >= 1) & (x_test < 4)
for w in (1.0, 4.0):
    model = NWKernelRegression(w=w)
    with torch.no_grad():
        error = model(x_test, test_keys, test_values) - y_truth
    shift = (model.attention_weights * test_keys).sum(dim=1) - x_test  # centre of the keys - x
    ax_err.plot(x_test, error, label=f"w = {w:.0f}")
    ax_shift.plot(x_test, shift, label=f"w = {w:.0f}")
    print(f"w = {w:.0f}: error at x = 0 / 4.9: {error[0].item():+.2f} / {error[-1].item():+.2f};"
          f" shift at x = 0 / 4.9: {shift[0].item():+.2f} / {shift[-1].item():+.2f};"
          f" largest |shift| for 1 <= x < 4: {shift[interior].abs().max().item():.2f}")
for ax, ylabel in ((ax_err, "prediction - truth"), (ax_shift, "weighted mean of keys - x")):
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel("x")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 5)
    ax.legend(fontsize=8)
fig.tight_layout()
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for w, min_error, min_shift in ((1.0, 1.5, 0.5), (4.0, 0.4, 0.1)):
    with torch.no_grad():
        error = predict_with_width(w) - y_truth
    model = NWKernelRegression(w=w)
    model(x_test, test_keys, test_values)
    shift = (model.attention_weights * test_keys).sum(dim=1).detach() - x_test
    assert error[0] > min_error and shift[0] > min_shift and shift[-1] < -min_shift, w
    assert error[0] > 2 * error[-1].abs(), "the left end errs far more than the right end"
    assert shift[interior].abs().max() < 0.5 * shift[0], "the centre moves most at the edges"
    assert error.abs().argmax() == 0, "the largest error is at x = 0"

# %% [markdown]
# 读图：$w = 1$ 时，$x = 0$ 处的重心偏到 0.83，预测误差约 +2.2，是整条曲线上最大的；
# $w = 4$ 时核窄得多，重心只偏 0.18，误差降到约 +0.7，但仍是这条曲线上最大的。
# 右端 $x = 4.9$ 的重心同样被拉向内部（偏移为负），误差却小得多：$f$ 在 $x \approx 4.4$ 处有一个极小值，
# 向内挪一点函数值几乎不变；而在 $x = 0$ 附近 $f$ 上升得很快（$x^{0.8}$ 在 0 处的斜率是无穷大），
# 挪 0.8 就差了 2 以上。区间中部的重心偏移比两端小得多（$1 \le x < 4$ 上，$w = 1$ 时不超过 0.31，$w = 4$ 时不超过 0.07）。
# 所以边界偏差 = 重心被拉向内部 × 函数在那里的变化。统计学里的标准补救是局部线性回归
# （local linear regression）：在查询附近拟合一条直线而不是一个常数，边界上的一阶偏差就消失了。
#
# 可学习的 $w$ 只有一个，它在偏差与方差之间取舍；后面几节的注意力评分函数有更多可学习的参数，
# 同样需要好的优化和没见过的数据来检验。

# %% [markdown]
# ## 小结
#
# * Nadaraya-Watson 核回归是注意力机制的一个实例：查询是新输入，键是训练输入，值是训练输出。
# * 平均汇聚给所有值相同的权重；用高斯核时，注意力权重是 $-\frac{1}{2}(x - x_i)^2$ 的 softmax，离查询越近的键权重越大。
# * 在距离上乘一个可学习的 $w$ 就得到带参数的注意力汇聚；$w$ 越大核越窄，权重越集中，拟合越不平滑。`torch.bmm`（$(b, a, c) \times (b, c, d) \to (b, a, d)$）批量计算这些加权平均。
# * 训练 $w$ 要用留一法，否则每个查询只看自己就能把训练误差降为零。留一损失在 $w \approx 4$ 处最低，但损失求和、学习率 0.5 时第一步就越过了它，5 轮停在 $w \approx 16$，200 轮才回到最低点：目标对，还要优化得好。
# * 在边界上所有近邻都在同一侧，加权平均的重心被拉向内部，预测偏向内部的函数值；核越宽，边界偏差越大。
#
# ## 练习
#
# ### 练习 1
#
# 训练样本越多，非参数的 Nadaraya-Watson 估计是否就越准？用与本节相同的生成方式
# （`make_data` 已给出）分别取 $n = 50$ 和 $n = 500$ 个样本，对固定的 $w = 1$（宽核）和 $w = 16$（窄核）
# 计算测试误差，存为字典 `ex1_mse`，键为 `(n, w)`，例如 `ex1_mse[(500, 16.0)]`。
# 哪种核从更多的数据中获益更多？为什么？

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
assert abs(ex1_mse[(50, 16.0)] - width_mse[16.0]) < 1e-4, \
    f"n=50, w=16 should match the main text's {width_mse[16.0]:.3f}, got {ex1_mse[(50, 16.0)]:.3f}"
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
# 以及字典 `ex2_keys_for_90`，键为 `"w = 1"` 和 `"trained"`。然后解释：为什么 $w$ 越大，权重越集中？

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
print(f"w = {ex2_w:.2f}, sigma = {ex2_sigma:.3f}; keys for 90 %:",
      {k: round(v, 1) for k, v in ex2_keys_for_90.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert abs(ex2_w - net.w.item()) < 1e-6, "ex2_w should be the trained model's w"
assert 1 <= ex2_keys_for_90["trained"] < ex2_keys_for_90["w = 1"] / 3, "trained weights are sharper"
assert 20 < ex2_keys_for_90["w = 1"] < 30, "a Gaussian of width 1 spreads over 20-30 keys"
assert ex2_keys_for_90["trained"] < 4, "the trained kernel needs only 2-3 keys"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：训练 5 轮后 $w$ 在 16 左右（$\sigma = 1/w$ 约 0.06），远大于非参数版本的 $w = 1$。
# 两个键到查询的距离为 $d_1 < d_2$ 时，它们的权重之比是 $\exp\big(\tfrac{w^2}{2}(d_2^2 - d_1^2)\big)$，
# 随 $w^2$ 指数增长：$w$ 从 1 变成 16，指数放大了约 256 倍，稍远一点的键的权重就被压到几乎为 0。
# 于是凑够 90% 权重所需的键从二十多个减少到两三个（见上面的输出），热图上的亮带变得又细又集中。

# %% [markdown]
# ### 练习 3
#
# 正文里留一损失和测试误差的最低点都在 $w \approx 4$（先在上面的核宽度探索器里拖动 $w$，
# 看两条曲线上的菱形各在哪个 $w$ 最低）。这是这一组数据的巧合，还是留一法总能选对宽度？
# 用 `make_data(50, seed)` 对 `seed = 0, 1, 2, 3, 4` 各生成一组训练数据，在网格
# `ex3_grid = [1, 2, 3, 4, 6, 8, 12, 16]` 上求：留一平方误差之和最小的 $w$（字典 `ex3_loo_w`，键为 seed）、
# 测试误差最小的 $w$（`ex3_test_w`），以及两者的测试误差（`ex3_mse[seed] = (用留一 w 的测试误差, 最小测试误差)`）。
# 留一法选出的宽度离最好的宽度有多远？代价有多大？它会不会选出 $w = 1$ 或 $w = 16$？

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
assert abs(ex3_mse[0][0] - test_mse(predict_with_width(4.0))) < 1e-4, \
    f"seed 0, w = 4 should have test MSE {test_mse(predict_with_width(4.0)):.3f}, got {ex3_mse[0][0]:.3f}"
print("seed 0 matches the main text")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert all(ex3_mse[s][1] <= ex3_mse[s][0] + 1e-9 for s in range(5)), "the best test MSE is the minimum"
assert all(3.0 <= ex3_loo_w[s] <= 8.0 for s in range(5)), "LOO picks a middle width on every seed"
assert max(ex3_mse[s][0] / ex3_mse[s][1] for s in range(5)) > 2, "on some seed LOO costs over 2x"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不是每次都选对。五组数据上留一法选出的 $w$ 在 3 到 8 之间，测试误差最小的 $w$ 在 3 到 6 之间，
# 只有 seed 0 恰好两者都是 4（见上面的输出）。原因是留一损失在 $w = 3 \ldots 8$ 之间很平，
# 相邻网格点的差别小于 50 个带噪声样本本身造成的波动，最低点落在哪里带有偶然性；
# 代价有时不小（有一组数据的测试误差是最优宽度的近 3 倍）。但它从不选 $w = 1$ 或 $w = 16$：
# 留一法可靠地排除了明显过宽和过窄的核，每组数据上它选出的宽度都比 $w = 1$ 的测试误差小得多。

# %% [markdown]
# ### 练习 4
#
# 为本节的核回归设计另一种带参数的注意力汇聚，训练它并画出它的注意力权重。
# 参考方向：把高斯核换成拉普拉斯核（Laplace kernel），注意力分数为 $-w\,|x - x_i|$，$w$ 可学习。
# 定义一个 `nn.Module` 类的实例 `ex4_model`（与 `NWKernelRegression` 同样的 `forward(queries, keys, values)`
# 接口，前向计算后在 `attention_weights` 中保存权重），用留一法训练它，
# 然后用全部训练样本预测测试输入（`ex4_model(x_test, test_keys, test_values)`），把测试误差存为 `ex4_test_mse`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class LaplaceKernelRegression(nn.Module):
    """Attention pooling with scores -w |x - x_i| (a Laplace kernel of learnable width 1/w)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, queries, keys, values):
        self.attention_weights = torch.softmax(-self.w * (queries[:, None] - keys).abs(), dim=-1)
        return (self.attention_weights * values).sum(dim=-1)


torch.manual_seed(0)
ex4_model = LaplaceKernelRegression()
optimizer = torch.optim.SGD(ex4_model.parameters(), lr=0.05)
for _ in range(50):
    optimizer.zero_grad()
    l = ((ex4_model(x_train, train_keys, train_values) - y_train) ** 2).mean()
    l.backward()
    optimizer.step()
with torch.no_grad():
    ex4_test_mse = test_mse(ex4_model(x_test, test_keys, test_values))
print(f"learned w {ex4_model.w.item():.2f}, test MSE {ex4_test_mse:.3f} "
      f"(Gaussian w = 1: {test_mse(y_hat_np):.3f})")
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
print(f"your model: test MSE {ex4_test_mse:.3f}; this section: w = 1 {test_mse(y_hat_np):.3f}, "
      f"w = 4 {width_mse[4.0]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex4_test_mse < test_mse(y_hat_np), "a trained pooling should beat the fixed w = 1"

# %% [markdown]
# ### 练习 5
#
# 核的**形状**也会影响注意力。把高斯核换成矩形核（boxcar kernel）$K(u) = \mathbb{1}[|u| \le 1]$：
# 每个查询对距离不超过 1 的训练样本等权平均，窗口外的权重恰好为 0。
# 计算它的权重矩阵 `ex5_weights`（形状 $(n_\text{test}, n)$，每行和为 1）和测试误差 `ex5_test_mse`，
# 把它与 $w = 1$ 的高斯核权重并排画出。矩形核的热图和高斯核有什么不同？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 矩形核在窗口内等权、窗口外为零，热图是一条边缘清晰、宽度均匀的带；高斯核的带是渐变的。
inside = ((x_test[:, None] - x_train[None, :]).abs() <= 1).float()  # (n_test, n_train)
ex5_weights = inside / inside.sum(dim=1, keepdim=True)
ex5_test_mse = test_mse(ex5_weights @ y_train)
print(f"test MSE: boxcar {ex5_test_mse:.3f}, Gaussian w = 1 {test_mse(y_hat_np):.3f}")
d2l.show_heatmaps(torch.stack([attention_weights, ex5_weights]).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs",
                  titles=["Gaussian, w = 1", "Boxcar, |u| <= 1"], figsize=(7, 3.5))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert ex5_weights.shape == (n_test, n_train), "ex5_weights should have shape (n_test, n_train)"
assert torch.allclose(ex5_weights.sum(dim=1), torch.ones(n_test)), "every row must sum to 1"
ex5_far = (x_test[:, None] - x_train[None, :]).abs() > 1
assert (ex5_weights[ex5_far] == 0).all(), "keys farther than 1 must get exactly zero weight"
print(f"boxcar: {ex5_test_mse:.3f} test MSE, {(~ex5_far).sum(dim=1).float().mean():.1f} keys "
      f"per query on average; Gaussian w = 1: {test_mse(y_hat_np):.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
ex5_near = ~ex5_far
for row, near in zip(ex5_weights, ex5_near):
    assert torch.allclose(row[near], torch.full((int(near.sum()),), 1 / int(near.sum())))
assert abs(test_mse(ex5_weights @ y_train) - ex5_test_mse) < 1e-6
