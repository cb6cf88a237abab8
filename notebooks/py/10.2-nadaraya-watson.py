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
# **Nadaraya-Watson 核回归**（kernel regression）按距离给训练样本加权来预测，小到能看清每个权重。
# 它就是一次注意力汇聚：本节最后会看到，它恰好是点积打分加一个偏置，查询和键的投影只有一个数 $w$。

# %%
import torch
from torch import nn

import d2l_attention as d2l
from d2l_attention.checks import check_shape
from d2l_attention.explore import nadaraya_watson as nw

# %% [markdown]
# ## 生成数据集
#
# $$y_i = 2\sin(x_i) + x_i^{0.8} + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, 0.5^2).$$
#
# 50 个训练输入在 $[0, 5)$ 上均匀采样并排序；
# 测试输入是 $0, 0.1, \ldots, 4.9$，对照不含噪声的真实值。

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


# %%
def plot_kernel_reg(y_hat, ax=None, title=None):  # 书中的画图函数：真实曲线、预测、训练样本
    d2l.plot(x_test, [y_truth, y_hat], "x", "y", legend=["Truth", "Pred"],
             xlim=[0, 5], ylim=[-1, 5], axes=ax)
    ax = ax if ax is not None else d2l.plt.gca()
    ax.plot(x_train, y_train, "o", alpha=0.5)
    ax.set_title(title)


def test_mse(y_hat):  # 与不含噪声的真实输出比
    return ((y_hat - y_truth) ** 2).mean().item()


# %% [markdown]
# ## 平均汇聚
#
# 最简的估计器不看查询，对所有 $y_i$ 取平均（average pooling）：权重恒为 $1/n$ 的注意力汇聚。

# %%
y_hat_avg = torch.full((n_test,), y_train.mean().item())
print(f"prediction {y_hat_avg[0].item():.3f} at every x, test MSE {test_mse(y_hat_avg):.3f}")

# %% [markdown]
# ## 非参数注意力汇聚
#
# Nadaraya 和 Watson 让离查询 $x$ 越近的样本权重越大：
#
# $$f(x) = \sum_{i=1}^{n} \frac{K(x - x_i)}{\sum_{j=1}^{n} K(x - x_j)}\, y_i .$$
#
# 核（kernel）$K$ 在 0 处最大、向两边衰减。查询是 $x$，键是 $x_i$，值是 $y_i$，权重非负且和为 1：这就是注意力汇聚。
# 取高斯核（Gaussian kernel）$K(u) \propto \exp(-\frac{u^2}{2})$，权重正是 softmax：
#
# $$f(x) = \sum_{i=1}^{n} \operatorname{softmax}\left(-\tfrac{1}{2}(x - x_i)^2\right) y_i .$$
#
# 它没有要学的参数，是**非参数**（nonparametric）模型。

# %% [markdown]
# ![Nadaraya-Watson kernel weights as attention](figures/10.2-kernel-weights.svg)
#
# 图 10.2.1 查询 $x$ 给每个键 $x_i$ 的高斯核权重，预测是值 $y_i$ 的加权和（示意：12 个点，$\sigma = 1$）

# %%
# (n_test, 1) - (1, n_train) -> (n_test, n_train)：每行是一个查询与全部键的差
diffs = x_test.unsqueeze(1) - x_train.unsqueeze(0)
attention_weights = torch.softmax(-diffs**2 / 2, dim=1)  # 按行 softmax
y_hat_np = attention_weights @ y_train  # (n_test, n_train) @ (n_train,) -> (n_test,)
print(f"test MSE: average pooling {test_mse(y_hat_avg):.3f}, Gaussian kernel {test_mse(y_hat_np):.3f}")
fig, axes = d2l.plt.subplots(1, 2, figsize=(7, 2.5), sharey=True)
plot_kernel_reg(y_hat_avg, axes[0], "average pooling")
plot_kernel_reg(y_hat_np, axes[1], "Gaussian kernel (sigma = 1)")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(attention_weights.sum(dim=1), torch.ones(n_test))  # 每行权重和为 1
assert test_mse(y_hat_np) < 0.6 * test_mse(y_hat_avg)

# %% [markdown]
# 高斯核的预测顺着真实函数起伏，误差约减半，但峰谷被削平。
# 热图的行是测试输入，列是训练输入：

# %%
d2l.show_heatmaps(attention_weights.unsqueeze(0).unsqueeze(0),
                  xlabel="Sorted training inputs", ylabel="Sorted testing inputs", figsize=(3.5, 3.5))
d2l.plt.show()
top = attention_weights.max(dim=1).values  # 每行（每个查询）最大的权重
print(f"largest weight per row: first row {top[0]:.3f}, rows 10-39 at most {top[10:40].max():.3f}, "
      f"last row {top[-1]:.3f}")
print(f"x = 0: prediction {y_hat_np[0]:.2f}, f(x) {y_truth[0]:.2f}; "
      f"x = 4.9: prediction {y_hat_np[-1]:.2f}, f(x) {y_truth[-1]:.2f}")
# 局部线性：用同样的权重拟合直线 a + b (x_i - x)，预测取截距 a（加权最小二乘的解）
u = -diffs  # x_i - x
m1, m2 = (attention_weights * u).sum(1), (attention_weights * u**2).sum(1)
y_hat_ll = (m2 * y_hat_np - m1 * (attention_weights * u * y_train).sum(1)) / (m2 - m1**2)
print(f"local linear, same weights: x = 0: prediction {y_hat_ll[0]:.2f}; test MSE {test_mse(y_hat_ll):.3f}")

# %% [markdown]
# 深色带沿对角线，但又宽又淡：中间查询的最大权重至多约 5%。
# 两角更深：边上的查询只在一侧有键。
#
# 它也只能借内侧的值（**边界偏差**）：$f$ 在 0 附近很陡，$x = 0$ 处预测高出 2.18；右端 $f$ 平缓，只差 0.03。
# 加权平均是在局部拟合常数；用同样的权重拟合直线（**局部线性回归**，local linear regression），$x = 0$ 处只高 0.75，测试误差从 0.428 降到 0.123。
#
# ## 带参数注意力汇聚：锐度 $w$
#
# 在距离上乘一个**可学习**的标量 $w$：
#
# $$f(x) = \sum_{i=1}^{n} \operatorname{softmax}\left(-\tfrac{1}{2}\big((x - x_i) w\big)^2\right) y_i .$$
#
# $w = 1/\sigma$ 是核宽度的倒数，称为**锐度**（sharpness）：$w$ 越大，查询只看越近的键。
# 书中的模型收 $(n_q, n_k)$ 的 `keys`、`values`：每个查询一行键（训练时去掉它自己，见留一法）。

# %% [markdown]
# 逐行加权用**批量矩阵乘法**（batch matrix multiplication）`torch.bmm`：$(n, a, b)$ 乘 $(n, b, c)$ 得 $(n, a, c)$。
# 每个查询一行权重（$a = 1$）乘一列值（$c = 1$），就是一次加权平均：

# %%
alpha = torch.tensor([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])  # 2 个查询，各 3 个权重
vals = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])  # 各自的 3 个值
pooled = torch.bmm(alpha.unsqueeze(1), vals.unsqueeze(-1))  # (2, 1, 3) @ (2, 3, 1) -> (2, 1, 1)
print(pooled.shape, pooled.reshape(-1), "= (alpha * vals).sum(-1):", (alpha * vals).sum(-1))


# %%
#@save
class NWKernelRegression(nn.Module):
    """Nadaraya-Watson kernel regression with one learnable sharpness `w` (kernel width 1/w).

    queries: (num_queries,); keys, values: (num_queries, num_keys), row q for query q.
    Returns (num_queries,); `attention_weights` keeps the softmax weights.
    """

    def __init__(self, w=None, **kwargs):
        super().__init__(**kwargs)
        init = torch.rand((1,)) if w is None else torch.tensor([float(w)])
        self.w = nn.Parameter(init)
        self.attention_weights = None

    def forward(self, queries, keys, values):
        check_shape(values, "values", "(num_queries, num_keys)",  # one row of keys per query
                    num_queries=len(queries), num_keys=keys.shape[-1])
        scores = -((queries.reshape(-1, 1) - keys) * self.w) ** 2 / 2  # (num_queries, num_keys)
        self.attention_weights = torch.softmax(scores, dim=-1)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)


# %% [markdown]
# 测试时各行相同。$w = 1$ 是上面的非参数汇聚，$w = 0$ 是平均汇聚：

# %%
test_keys = x_train.expand(n_test, -1)  # (n_test, n_train)，每行都是全部训练输入
test_values = y_train.expand(n_test, -1)
with torch.no_grad():
    y_hat_w1 = NWKernelRegression(w=1.0)(x_test, test_keys, test_values)
    y_hat_w0 = NWKernelRegression(w=0.0)(x_test, test_keys, test_values)
print(f"max |w = 1 - nonparametric| = {(y_hat_w1 - y_hat_np).abs().max():.1e}, "
      f"max |w = 0 - average| = {(y_hat_w0 - y_hat_avg).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(y_hat_w1, y_hat_np, atol=1e-6)
assert torch.allclose(y_hat_w0, y_hat_avg, atol=1e-5)
with torch.no_grad():  # bmm with one row of weights and one column of values is a row-wise sum
    net_check = NWKernelRegression(w=4.0)
    pooled = net_check(x_test, test_keys, test_values)
    assert torch.allclose(pooled, (net_check.attention_weights * test_values).sum(1), atol=1e-6)

# %% [markdown]
# ### $w^2$ 就是温度的倒数
#
# 对距离 $d$，分数 $-\frac{1}{2}(wd)^2 = -\frac{d^2}{2\tau}$，$\tau = 1/w^2$ 就是 10.1 节的温度。
# 下图：查询 $x = 2.5$ 的权重（上）与预测（下）：

# %%
w_mse, w_alpha = {}, {}
with torch.no_grad():
    for w in (1.0, 4.0, 16.0):
        model = NWKernelRegression(w=w)
        w_mse[w] = test_mse(model(x_test, test_keys, test_values))
        model(torch.tensor([2.5]), x_train.unsqueeze(0), y_train.unsqueeze(0))  # 一个查询 x = 2.5
        w_alpha[w] = model.attention_weights[0]  # (n_train,)
nw.plot_sharpness(x_train, y_train, x_test, y_truth, ws=(1.0, 4.0, 16.0), model_class=NWKernelRegression)
print("test MSE:", {w: round(e, 3) for w, e in w_mse.items()})
print("weight on the 4 nearest keys of x = 2.5:", {w: round(a.topk(4).values.sum().item(), 2)
                                                   for w, a in w_alpha.items()})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
d = 2.5 - x_train  # temperature tau = 1 / w^2: the same softmax
assert torch.allclose(torch.softmax(-(d * 4) ** 2 / 2, 0), torch.softmax(-d**2 / 2 / (1 / 16), 0))
assert w_mse[1.0] > w_mse[4.0] < w_mse[16.0]
assert abs(w_mse[1.0] - test_mse(y_hat_np)) < 1e-6
for w in w_mse:  # the figure draws what these cells computed
    _, alpha_lib = nw.predict(w, torch.tensor([2.5]), x_train, y_train)
    assert torch.allclose(alpha_lib[0], w_alpha[w], atol=1e-6)
    assert abs(test_mse(nw.predict(w, x_test, x_train, y_train)[0]) - w_mse[w]) < 1e-6
peaks = [w_alpha[w].max().item() for w in (1.0, 4.0, 16.0)]
assert peaks[0] < 0.05 < peaks[1] < 0.2 < peaks[2]
assert w_alpha[16.0].topk(4).values.sum() > 0.9

# %% [markdown]
# $w = 1$ 把权重摊开，削平峰谷；$w = 16$ 在 $x = 2.5$ 把 0.96 的权重交给最近的四个键，预测跟着噪声起伏。
# 换 20 组数据 $D$ 量出这两种误差。记 $\bar y(x)$ 为各组预测 $\hat y_D(x)$ 的平均，上划线为对测试输入平均：
#
# $$\text{偏差}^2 = \overline{\big(\bar y(x) - f(x)\big)^2}, \qquad \text{方差} = \overline{\operatorname{mean}_D \big(\hat y_D(x) - \bar y(x)\big)^2} .$$
#
# 两者之和恰是 20 组的平均测试误差（**偏差**，bias；**方差**，variance）：

# %%
def make_data(n, seed=0):
    """n sorted training inputs in [0, 5) and their noisy outputs, as in this section."""
    torch.manual_seed(seed)
    x, _ = torch.sort(torch.rand(n) * 5)
    return x, f(x) + torch.normal(0.0, 0.5, (n,))


preds = {}  # w -> (20, n_test)：每组数据一行预测
with torch.no_grad():
    for w in (1.0, 4.0, 16.0):
        preds[w] = torch.stack([NWKernelRegression(w=w)(x_test, x.expand(n_test, -1), y.expand(n_test, -1))
                                for x, y in (make_data(n_train, seed) for seed in range(20))])
nw.plot_bias_variance(x_test, y_truth, preds)
for w, p in preds.items():
    bias2, var = ((p.mean(0) - y_truth) ** 2).mean(), p.var(0, unbiased=False).mean()
    print(f"w = {w:g}: bias^2 {bias2:.3f} + variance {var:.3f} = {bias2 + var:.3f} = mean test MSE "
          f"{((p - y_truth) ** 2).mean():.3f}; this section's data set: {test_mse(p[0]):.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
bias2 = {w: ((p.mean(0) - y_truth) ** 2).mean().item() for w, p in preds.items()}
var = {w: p.var(0, unbiased=False).mean().item() for w, p in preds.items()}
assert all(abs(bias2[w] + var[w] - ((p - y_truth) ** 2).mean().item()) < 1e-5 for w, p in preds.items())
assert bias2[1.0] > bias2[4.0] > bias2[16.0] and var[1.0] < var[4.0] < var[16.0]
assert bias2[4.0] + var[4.0] < min(bias2[1.0] + var[1.0], bias2[16.0] + var[16.0])
assert torch.allclose(make_data(n_train)[1], y_train)  # seed 0 is this section's data

# %% [markdown]
# $w = 1$ 几乎全是偏差，$w = 16$ 几乎全是方差，$w = 4$ 两者之和最小。
# 本节这组数据在 $w = 4$ 时误差 0.049，低于平均 0.063：一组数据只是一次抽样。
#
# ## 训练 $w$：留一法
#
# 训练点若能看到**自己**，$w$ 越大越只看自己，训练误差一路下降（下文灰线）。
# **留一法**（leave-one-out）让第 $i$ 个点只看其余 $n - 1$ 个点，得到 $\hat y_{-i}(w)$：
#
# $$L(w) = \tfrac{1}{2} \sum_{i=1}^{n} \big(\hat y_{-i}(w) - y_i\big)^2 .$$
#
# 这就是留一**交叉验证**（cross-validation）。第 $i$ 行的键缺 $x_i$：

# %%
off_diagonal = ~torch.eye(n_train, dtype=torch.bool)  # 对角线为 False：去掉“自己”
train_keys = x_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)  # (50, 49)
train_values = y_train.repeat(n_train, 1)[off_diagonal].reshape(n_train, n_train - 1)
self_keys, self_values = x_train.expand(n_train, -1), y_train.expand(n_train, -1)  # 含自己：(50, 50)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert not (train_keys == x_train.unsqueeze(1)).any()  # 没有任何一行包含查询自己
assert train_keys.shape == (n_train, n_train - 1)

# %% [markdown]
# 对训练点 $x_{25}$（从 0 数起）比较两种键的权重：

# %%
alpha_self, alpha_loo = {}, {}
with torch.no_grad():
    for w in (4.0, 16.0):
        net_self = NWKernelRegression(w=w)
        net_self(x_train, self_keys, self_values)
        alpha_self[w] = net_self.attention_weights  # (50, 50)
        net_loo = NWKernelRegression(w=w)
        net_loo(x_train, train_keys, train_values)  # 留一：(50, 49)
        alpha_loo[w] = torch.zeros(n_train, n_train)
        alpha_loo[w][off_diagonal] = net_loo.attention_weights.flatten()  # 放回 (50, 50)，对角线为 0
nw.plot_self_vs_loo(x_train, alpha_self, alpha_loo, row=25)
own_max = (alpha_self[16.0].argmax(dim=1) == torch.arange(n_train)).sum().item()
print(f"w = 16, with self: x_25 gives itself {alpha_self[16.0][25, 25]:.2f}; "
      f"largest weight on itself in {own_max} of {n_train} rows")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (alpha_self[16.0].argmax(dim=1) == torch.arange(n_train)).all()  # each row's largest is itself
assert (alpha_loo[16.0].diagonal() == 0).all()
assert 0.1 < alpha_self[4.0].diagonal().mean() < 0.2 < 0.4 < alpha_self[16.0].diagonal().mean()

# %% [markdown]
# 灰柱（含自己）：$w = 16$ 时 50 个训练点给自己的权重都是全行最大。
# 蓝柱（留一）：自己那格为 0。
#
# ### 留一损失的最低点
#
# 三条曲线：留一均方误差 $2L(w)/n$、含自己的同一误差、测试误差：

# %%
ws = [0.25 * i for i in range(1, 81)]  # w = 0.25, 0.5, ..., 20
curves = {"loo": [], "self": [], "test": []}
with torch.no_grad():
    for w in ws:
        model = NWKernelRegression(w=w)
        curves["loo"].append(((model(x_train, train_keys, train_values) - y_train) ** 2).mean().item())
        curves["self"].append(((model(x_train, self_keys, self_values) - y_train) ** 2).mean().item())
        curves["test"].append(test_mse(model(x_test, test_keys, test_values)))
nw.plot_loo_curves(ws, curves)
w_loo_best, w_test_best = (ws[c.index(min(c))] for c in (curves["loo"], curves["test"]))
print(f"lowest leave-one-out {min(curves['loo']):.3f} at w = {w_loo_best:.2f}, "
      f"lowest test MSE {min(curves['test']):.3f} at w = {w_test_best:.2f}")
print(f"mean squared noise in y_train: {((y_train - f(x_train)) ** 2).mean():.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
loo = dict(zip(ws, curves["loo"]))
with torch.no_grad():
    model = NWKernelRegression(w=200.0)
    self_at_200 = ((model(x_train, self_keys, self_values) - y_train) ** 2).mean().item()
assert all(a > b for a, b in zip(curves["self"], curves["self"][1:]))  # with self: falls all the way
assert self_at_200 < 0.01
assert 3 < w_loo_best < 5 and 3 < w_test_best < 5  # both curves bottom out near w = 4
assert abs(curves["loo"][ws.index(4.0)] - nw.loo_loss(4.0, x_train, y_train)) < 1e-6
assert max(loo[3.0], loo[6.0]) < 1.06 * min(curves["loo"]) < 1.06 * 1.1 * min(curves["loo"]) < loo[16.0]

# %% [markdown]
# * 灰线（含自己）一路下降。
# * 蓝线（留一）与红线（测试）的最低点很近；蓝线高出约 0.3，即 $y_i$ 的噪声均方。
# * 谷底很平：换一组数据，最低点会动（练习 3）。
#
# ### 按书中的设置训练
#
# 书中对求和的 $L(w)$ 用学习率 0.5 训练 5 轮。
# 这里训练 100 轮，并试学习率 0.1：

# %%
def train_nw(num_epochs, lr=0.5):
    torch.manual_seed(0)
    net = NWKernelRegression()
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    w_history = [net.w.item()]
    for _ in range(num_epochs):
        trainer.zero_grad()
        ((net(x_train, train_keys, train_values) - y_train) ** 2 / 2).sum().backward()  # L(w)
        trainer.step()
        w_history.append(net.w.item())
    return net, w_history


net, w_history = train_nw(5)
w_learned = net.w.item()
_, w_history_long = train_nw(100)
_, w_history_slow = train_nw(100, lr=0.1)
nw.plot_sgd_on_loo(ws, curves["loo"], {"lr 0.5": w_history_long, "lr 0.1": w_history_slow})
for lr, h in ((0.5, w_history_long), (0.1, w_history_slow)):
    print(f"lr {lr}: w after epoch", {e: round(h[e], 2) for e in (0, 1, 5, 20, 46, 100)})
net0 = NWKernelRegression(w=w_history[0])
((net0(x_train, train_keys, train_values) - y_train) ** 2 / 2).sum().backward()  # 第 1 轮的梯度
print(f"epoch 1: dL/dw = {net0.w.grad.item():.1f}, so w = {w_history[0]:.2f} - 0.5 * ({net0.w.grad.item():.1f}) "
      f"= {w_history[1]:.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
def loo_grad(w):  # gradient of the summed loss L(w) at w
    net_g = NWKernelRegression(w=w)
    ((net_g(x_train, train_keys, train_values) - y_train) ** 2 / 2).sum().backward()
    return net_g.w.grad.item()


near = next(e for e, w in enumerate(w_history_long) if abs(w - w_loo_best) < 0.1)
assert w_history_long[:6] == w_history  # the long run starts as the book's
assert abs(w_history_long[-1] - w_loo_best) < 0.5  # ... and 100 epochs find it
assert w_history[0] < 1 and w_history[1] > 8 and 8 < w_learned < 9  # one step overshoots past 8
assert all(0 < a - b < 0.2 for a, b in zip(w_history[1:], w_history[2:]))  # then it slowly falls
assert abs(loo_grad(w_history[0]) + 16.4) < 0.05 and abs(loo_grad(w_history[1]) - 0.18) < 0.01
assert abs(loo_grad(w_loo_best) - 0.02) < 0.01 and near == 46
assert all(a < b for a, b in zip(w_history_slow, w_history_slow[1:])) and w_history_slow[-1] < w_loo_best + 0.1

# %% [markdown]
# 求和损失 50 项相加，第一步的梯度大（最后一行）：$w$ 从 0.5 跳到 8.7，越过谷底 4，之后每轮只回约 0.1，46 轮才回到谷底附近。
# 学习率 0.1 时 $w$ 从下方单调走近谷底。每个 $w$ 把 90% 的权重交给几个键？

# %%
def keys_for_mass(weights, mass=0.9):
    """Mean over rows of how many of the largest weights reach `mass`; weights: (rows, keys)."""
    cumulative = weights.sort(dim=1, descending=True).values.cumsum(dim=1)
    return ((cumulative < mass).sum(dim=1) + 1).float().mean().item()


with torch.no_grad():
    y_hat_trained = net(x_test, test_keys, test_values)
keys_90, trained_mse = {}, {}
for label, w in {"fixed": 1.0, "trained 5 epochs": w_learned, "trained 100 epochs": w_history_long[-1]}.items():
    model = NWKernelRegression(w=w)
    with torch.no_grad():
        trained_mse[label] = test_mse(model(x_test, test_keys, test_values))
    keys_90[label] = keys_for_mass(model.attention_weights)
    print(f"{label:>18}, w = {w:5.2f}: 90% of the weight on {keys_90[label]:4.1f} keys, test MSE {trained_mse[label]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert keys_90["fixed"] > 20 and keys_90["trained 5 epochs"] < keys_90["trained 100 epochs"] < 10
assert test_mse(y_hat_trained) < 0.25 * test_mse(y_hat_np)
assert abs(trained_mse["trained 5 epochs"] - test_mse(y_hat_trained)) < 1e-6
assert test_mse(y_hat_trained) > 1.5 * w_mse[4.0]
assert abs(trained_mse["trained 100 epochs"] - w_mse[4.0]) < 0.001

# %% [markdown]
# 学习 $w$，就是学习注意力集中在多少个键上：从 26 个，到 5 轮后越过头的不到 5 个，再到训练到底的 8.4 个。
# 书中 5 轮后停在越过谷底的 $w$ 上：误差 0.084，训练到底是 0.049。
#
# ### 动手试试：查询和锐度
#
# 菜单选 $w$，滑块拖查询 $x$。左：拟合；中：这个查询的权重；右：它的预测随 $w$ 的变化（蓝线是 $f(x)$）。
#
# **先猜，再拖**：(1) 查询在 $x = 0$：预测高于还是低于 $f(0) = 0$？有没有 $w$ 能把它拉到 0？
# (2) $w = 0$ 时拖查询，权重还动吗？(3) 右图：$x = 1$ 和 $x = 3$ 处，哪个 $w$ 的预测最接近 $f(x)$？

# %%
nw.sharpness_explorer(x_train, y_train, x_test, y_truth, f=f, model_class=NWKernelRegression,
                      marks={"trained 5 epochs": w_learned, "leave-one-out best": w_loo_best})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
ex_states = nw.sharpness_states(x_train, y_train, x_test, y_truth, [0.0, 1.0, 4.0, 16.0], [0.0, 1.0, 2.5, 3.0, 5.0],
                                f=f, model_class=NWKernelRegression)
ex_text = {}
for r in ex_states["text"]:
    ex_text[(r["w"], r["q"])] = ex_text.get((r["w"], r["q"]), "") + " | " + r["text"]
assert "prediction 2.18 | true value f(x) = 0.00" in ex_text[(1.0, 0.0)]
assert "largest weight 0.020" in ex_text[(0.0, 0.0)] and "prediction 2.43" in ex_text[(0.0, 5.0)]
assert ex_text[(0.0, 0.0)].split("largest")[-1].split("closest")[0] == \
    ex_text[(0.0, 5.0)].split("largest")[-1].split("closest")[0]  # w = 0: the weights do not move
for w, peak, keys in ((1.0, 0.040, 33), (4.0, 0.145, 8), (16.0, 0.385, 4)):
    assert f"largest weight {peak:.3f} | 90% of the weight on {keys} keys" in ex_text[(w, 2.5)]
assert ex_text[(1.0, 0.0)].endswith("| closest to f(x) over w: 0.65 at w = 6.25")
assert ex_text[(1.0, 2.5)].endswith("| closest to f(x) over w: 3.28 at w = 4.25")
assert "true value f(x) = 2.68" in ex_text[(1.0, 1.0)] and ex_text[(1.0, 1.0)].endswith("over w: 2.72 at w = 0.75")
assert "true value f(x) = 2.69" in ex_text[(1.0, 3.0)] and ex_text[(1.0, 3.0)].endswith("over w: 2.63 at w = 16")
ex_curves = nw.query_curves(x_train, y_train, [0.25 * i for i in range(65)], [0.0, 2.5, 5.0], f=f)
ex_pred = {(r["q"], r["sharpness"]): r["y"] for r in ex_curves if r["series"] == "prediction"}
assert ex_pred[(2.5, 4.0)] < f(torch.tensor(2.5)) < ex_pred[(2.5, 4.5)]
assert abs(y_train[0] - 0.92) < 0.005 and abs(ex_pred[(0.0, 16.0)] - 0.81) < 0.005
assert abs(y_train.min() - 0.42) < 0.005

# %% [markdown]
# <details><summary>猜完再展开：这一次运行里看到的</summary>
#
# 1. $x = 0$、$w = 1$：小丘只剩右半边（所有键都在查询右侧），预测 2.18，比 $f(0) = 0$ **偏高**。
#    右图的虚线最接近 0 的地方是 $w = 6.25$ 处，仍有 0.65。没有哪个 $w$ 能到 0：预测是 $y_i$ 的加权平均，不会低于最小的 $y_i = 0.42$。
# 2. $w = 0$ 时权重处处是 $1/50 = 0.02$，预测都是 2.43：没有比较，就没有注意力。
# 3. $x = 1$ 处 $w = 0.75$ 最近（2.72 对 2.68），$x = 3$ 处要 $w = 16$（2.63 对 2.69）。
#    每个查询合适的锐度不同（在一组数据上也部分是在追噪声），一个标量 $w$ 只能折中。
#
# </details>

# %% [markdown]
# ## 从一个 $w$ 到 10.3 节的注意力
#
# 核就是打分函数（scoring function）：换核只换 softmax 之前的分数。对 $u = x - x_i$，
# 高斯核是 $-\frac{1}{2}(wu)^2$，拉普拉斯核（Laplace）是 $-w|u|$，矩形核（boxcar）窗口内为 0、窗口外为 $-\infty$（softmax 后为 0，同 10.3 节的掩码）。
# 三者取同一标准差 0.25（$w = 4$ 的高斯核）：

# %%
sigma = 0.25
kernel_scores = {"Gaussian": -(diffs / sigma) ** 2 / 2,
                 "Laplace": -(2**0.5 / sigma) * diffs.abs(),  # 标准差 sqrt(2)/w
                 "boxcar": torch.where(diffs.abs() <= 3**0.5 * sigma, 0.0, -torch.inf)}  # U(-h, h)：h/sqrt(3)
kernel_weights = {name: torch.softmax(s, dim=1) for name, s in kernel_scores.items()}  # (n_test, n_train)
kernel_mse = {name: test_mse(a @ y_train) for name, a in kernel_weights.items()}
nw.plot_kernel_shapes(x_train, kernel_weights, 2.5, row=25, test_mse=kernel_mse)
print("test MSE:", {name: round(e, 3) for name, e in kernel_mse.items()}, f"| Gaussian w = 1: {test_mse(y_hat_np):.3f}")
print("largest weight at x = 2.5:", {name: round(a[25].max().item(), 2) for name, a in kernel_weights.items()},
      f"| boxcar keys with weight: {(kernel_weights['boxcar'][25] > 0).sum().item()}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert abs(x_test[25] - 2.5) < 1e-6 and abs(kernel_mse["Gaussian"] - w_mse[4.0]) < 1e-6
assert all(torch.allclose(a.sum(1), torch.ones(n_test)) for a in kernel_weights.values())
assert max(kernel_mse.values()) < 0.5 * test_mse(y_hat_np)  # shape matters less than width

# %% [markdown]
# 同宽时形状差别很大（第二行），测试误差却只差 0.01；宽度从 $\sigma = 1$ 改到 0.25，误差从 0.428 降到 0.049。
#
# 高斯核离 10.1 节的点积并不远。令查询 $q = wx$、键 $k_i = wx_i$：
#
# $$-\tfrac{1}{2}(q - k_i)^2 = q k_i - \tfrac{1}{2}k_i^2 - \tfrac{1}{2}q^2 .$$
#
# 最后一项对同一行的键都相同，在 softmax 里约掉：NW 就是 $\operatorname{softmax}(q k_i + b_i)$ 对值 $y_i$ 加权，键的偏置 $b_i = -\frac{1}{2}k_i^2$。
# $w$ 是最简单的投影：$W_q = W_k = w$，只有一个数。

# %%
w = 4.0
q, k = w * x_test.reshape(-1, 1), w * x_train.reshape(-1, 1)  # 查询 (n_test, 1)，键 (n_train, 1)
b = -(k**2).sum(1) / 2  # 键的偏置 (n_train,)
y_hat_attn = torch.softmax(q @ k.T + b, dim=1) @ y_train  # softmax(q k^T + b) v
with torch.no_grad():
    y_hat_nw = NWKernelRegression(w=w)(x_test, test_keys, test_values)
print(f"softmax(q k^T + b) v vs NWKernelRegression(w = 4): max |diff| = {(y_hat_attn - y_hat_nw).abs().max():.1e}")
print(f"without the key bias b:                           max |diff| = "
      f"{(torch.softmax(q @ k.T, dim=1) @ y_train - y_hat_nw).abs().max():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(y_hat_attn, y_hat_nw, atol=1e-5)

# %% [markdown]
# 偏置不能丢（第二行）。若键的长度都相同，偏置也约掉，只剩点积；这时把查询放大 $c$ 倍，温度变成 $1/c$：

# %%
torch.manual_seed(0)
q, k = torch.randn(3, 2), torch.randn(6, 2)  # 二维的查询和键
k_unit = k / k.norm(dim=1, keepdim=True)  # 把每个键缩放到长度 1
print("first query scaled by c -> its largest weight:",
      {c: round(torch.softmax(c * q[0] @ k_unit.T, dim=0).max().item(), 2) for c in (0.5, 1, 2, 4)})

# %% [markdown]
# 查询越长，权重越集中：查询的长度就是它自己的锐度。
# 一个标量 $w$ 只能调“看多宽”，不能改“看什么”：10.3 节起 $W_q$、$W_k$ 是可学习的矩阵，且 $W_q \ne W_k$。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中的 `NWKernelRegression` 只能随机初始化 $w$；这里的构造函数多一个可选参数 `w=`，
#   用来直接构造固定锐度的模型，不训练也能比较。
# * 书中在 `forward` 里把查询 `repeat_interleave` 成与键同形；这里用广播 `queries.reshape(-1, 1) - keys`，
#   并在入口用一行检查值的形状，不对时抛出说明形状的 `ValueError`。
# * 书中用 `repeat` 复制测试时的键和值；这里用 `expand`，结果相同，不复制数据。
# * 书中的损失写成 `nn.MSELoss(reduction='none')` 再除以 2 求和；这里直接写出 $\frac{1}{2}(\hat y_i - y_i)^2$ 再求和，数值相同。
# * 书中用 `d2l.Animator` 画每轮的损失；这里把每步的 $w$ 画在留一曲线上。
#
# </details>
#
# ## 小结
#
# * 核回归就是注意力汇聚：查询是新输入，键和值是训练样本。
# * 锐度 $w = 1/\sigma$（$w^2 = 1/\tau$）在偏差与方差之间取舍。
# * 训练 $w$ 要留一（交叉验证）；学习率 0.5 的第一步越过谷底，平坦的一侧回得慢，要训练到底。
# * 核是打分函数，同宽时形状影响小；NW 就是 $\operatorname{softmax}(q k_i + b_i)$ 加权，$q = wx$、$k_i = wx_i$。
#
# ## 练习
#
# ### 练习 1
#
# 训练样本越多，非参数估计是否越准？用 `make_data` 分别取 $n = 50$ 和 $n = 500$，对 $w = 1$（宽核）和 $w = 16$（窄核）
# 计算测试误差，存为字典 `ex1_mse`，键为 `(n, w)`。哪种核获益更多？为什么？
# 再在网格 `[1, 2, 3, 4, 6, 8, 12, 16]` 上找出每个 $n$ 测试误差最小的 $w$，存为 `ex1_best_w[n]`：数据变多时，最好的核变宽还是变窄？


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
# 参考答案：窄核获益多得多。$w = 1$ 时，$n$ 从 50 增到 500，误差只从 0.428 降到 0.393：主要是偏差，数据多了也不消失。
# $w = 16$ 时从 0.129 降到 0.015，约九分之一：主要是方差，点多了噪声被平均掉。
# 最好的 $w$ 从 4 移到 6 到 8 之间（网格上两者打印出的误差相同）：核变窄了，正合**一致性**（consistency：$n \to \infty$ 时估计收敛到 $f$）的要求（只试了两个 $n$）。


# %% [markdown]
# ### 练习 2
#
# 正文打印了凑够 90% 权重的键数。能不能从 $\sigma = 1/w$ 预测它？
# 提示：高斯分布 90% 的质量在 $\pm 1.645\sigma$ 之内；训练输入每单位长度约 $n/5 = 10$ 个键。
# 对 `ex2_ws = [1.0, 4.0, w_learned]` 算出预测的键数 `ex2_predicted[w]`，再用正文的 `keys_for_mass`
# 量出实际的 `ex2_measured[w]`（对全部测试查询平均）。哪个 $w$ 预测得准？哪个不准，为什么？

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
for w in (1.0, 4.0):  # the 90% window is x ± 1.645 / w
    half = 1.645 / w
    past = ((x_test - half < 0) | (x_test + half > 5)).sum().item()
    print(f"w = {w:g}: the window x ± {half:.2f} runs past [0, 5) for {past} of {n_test} test queries")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex2_predicted) == set(ex2_measured) == set(ex2_ws), "one entry per w in ex2_ws"
assert abs(ex2_measured[w_learned] - keys_90["trained 5 epochs"]) < 1e-6, "measure as in the main text"
assert abs(ex2_predicted[1.0] - 32.9) < 1, "2 x 1.645 sigma x 10 keys per unit is 32.9 at w = 1"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert abs(ex2_predicted[4.0] - ex2_measured[4.0]) < 1, "at w = 4 prediction and count agree within one key"
assert ex2_measured[1.0] < ex2_predicted[1.0] - 4, "at w = 1 the window runs past the ends"
assert abs(ex2_predicted[w_learned] * w_learned - 32.9) < 1


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：90% 的权重落在宽 $3.29\sigma$ 的窗口里，约 $32.9/w$ 个键。
# $w = 1$ 量出的少得多：窗口 $\pm 1.65$ 在 50 个查询中 33 个伸出 $[0, 5)$（上面打印），那一侧没有键。
# 计数把越过 90% 的那个键整个算进去，偏多不到一个：训练后的 $w$ 因此多 0.6。
# $w = 4$ 看似准（8.2 对 8.4），是两者抵消：窗口 $\pm 0.41$ 在 9 个查询处伸出数据。

# %% [markdown]
# ### 练习 3
#
# 换一组数据，留一法还能选准 $w$ 吗？
# 用 `make_data(50, seed)` 对 `seed = 0, 1, 2, 3, 4`，在网格 `ex3_grid = [1, 2, 3, 4, 6, 8, 12, 16]` 上求
# 留一平方误差之和最小的 $w$（`ex3_loo_w[seed]`）、测试误差最小的 $w$（`ex3_test_w[seed]`），
# 以及 `ex3_mse[seed] = (留一所选 w 的测试误差, 最小测试误差)`。留一法选得多准？代价多大？会选出 $w = 1$ 或 $16$ 吗？

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
# 参考答案：不是每次都选对。五组数据上留一法选出的 $w$ 在 3 到 8 之间，最好的 $w$ 在 3 到 6 之间，只有 seed 0 两者都是 4。
# 留一损失的谷底很平：每行打印的 $2L(w)/n$ 在最好的 $w$ 处只比最低值高不到 4%，而 $w = 1$ 处是最低值的 1.9 到 2.5 倍，
# 代价有时不小（有一组是最优的近 3 倍）。但它从不选 $w = 1$ 或 $16$。

# %% [markdown]
# ### 练习 4
#
# 把正文的拉普拉斯核（分数 $-w\,|x - x_i|$）做成带参数的注意力汇聚，$w$ 可学习。
# 定义 `nn.Module` 实例 `ex4_model`（接口同 `NWKernelRegression`，权重存在 `attention_weights`），
# 用留一法**训练到收敛**（打印最后的梯度），再预测测试输入，
# 测试误差存为 `ex4_test_mse`。它和 $w = 4$ 的高斯核相比如何？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class LaplaceKernelRegression(nn.Module):
    """Attention pooling with scores -w |x - x_i| (a Laplace kernel of sharpness w)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, queries, keys, values):
        self.attention_weights = torch.softmax(-self.w * (queries[:, None] - keys).abs(), dim=-1)
        return (self.attention_weights * values).sum(dim=-1)


# 均方误差的梯度比正文的求和损失小 25 倍，学习率 5 也是从下方爬向最低点；训练到梯度接近 0
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
# 参考答案：训练到收敛后（最后的梯度不到千分之一），拉普拉斯核的测试误差 0.056 比 $w = 4$ 的高斯核（0.049）高约 14%，
# 但明显好于训练 5 轮的高斯核（0.084）。换核形状的代价（14%）比锐度没调好的代价（约 70%）小。

# %% [markdown]
# ### 练习 5
#
# 把 $W_q$ 与 $W_k$ 分开：$q = w_q x$，$k_i = w_k x_i$，分数 $q k_i - \frac{1}{2}k_i^2$。
# 写一个类（构造函数 `(w_q=1.0, w_k=1.0)`，接口同 `NWKernelRegression`），核对 $w_q = w_k = 4$ 时与 `NWKernelRegression(w=4)` 相同；
# 再从 $w_q = w_k = 1$ 用留一法训练到收敛，得到 `ex5_model` 和 `ex5_test_mse`。
# 分数等于 $-\frac{1}{2}w_k^2\big(x_i - \frac{w_q}{w_k}x\big)^2$ 加每行相同的常数：$w_q / w_k$ 决定查询看向哪里。学到的比值是多少？分开有用吗？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class TwoProjectionNW(nn.Module):
    """Attention pooling with query q = w_q x, keys k_i = w_k x_i and scores q k_i - k_i^2 / 2."""

    def __init__(self, w_q=1.0, w_k=1.0):
        super().__init__()
        self.w_q = nn.Parameter(torch.tensor([float(w_q)]))
        self.w_k = nn.Parameter(torch.tensor([float(w_k)]))

    def forward(self, queries, keys, values):
        q, k = self.w_q * queries.reshape(-1, 1), self.w_k * keys  # (num_queries, 1), (num_queries, num_keys)
        self.attention_weights = torch.softmax(q * k - k**2 / 2, dim=-1)
        return (self.attention_weights * values).sum(dim=-1)


with torch.no_grad():
    tied = TwoProjectionNW(4.0, 4.0)(x_test, test_keys, test_values)
    print(f"w_q = w_k = 4 vs NWKernelRegression(w = 4): max |diff| = {(tied - y_hat_nw).abs().max():.1e}")
ex5_model = TwoProjectionNW()
optimizer = torch.optim.Adam(ex5_model.parameters(), lr=0.1)
for _ in range(300):
    optimizer.zero_grad()
    l = ((ex5_model(x_train, train_keys, train_values) - y_train) ** 2).mean()
    l.backward()
    optimizer.step()
with torch.no_grad():
    ex5_test_mse = test_mse(ex5_model(x_test, test_keys, test_values))
w_q, w_k = ex5_model.w_q.item(), ex5_model.w_k.item()
print(f"trained: w_q {w_q:.2f}, w_k {w_k:.2f}, w_q / w_k {w_q / w_k:.3f}, leave-one-out MSE {l.item():.3f}, "
      f"largest |gradient| {max(ex5_model.w_q.grad.abs().item(), ex5_model.w_k.grad.abs().item()):.4f}")
print(f"test MSE: two projections {ex5_test_mse:.3f}, one w = 4 {w_mse[4.0]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
ex5_class = type(ex5_model)
with torch.no_grad():
    ex5_tied = ex5_class(w_q=4.0, w_k=4.0)(x_test, test_keys, test_values)
assert ex5_tied.shape == (n_test,), "predict one output per test input"
assert torch.allclose(ex5_tied, y_hat_nw, atol=1e-5), "w_q = w_k = 4 should be NWKernelRegression(w=4)"
assert sum(p.numel() for p in ex5_model.parameters() if p.requires_grad) == 2, "two learnable scalars"
with torch.no_grad():
    assert abs(test_mse(ex5_model(x_test, test_keys, test_values)) - ex5_test_mse) < 1e-5, \
        "ex5_test_mse should be this model's error"
print(f"w_q = w_k = 4 matches NWKernelRegression; test MSE {ex5_test_mse:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
ex5_ratio = ex5_model.w_q.item() / ex5_model.w_k.item()
assert 0.9 < ex5_ratio < 1.1, "trained, the query still looks where it is (w_q / w_k near 1)"
assert ex5_test_mse < 1.5 * w_mse[4.0], "trained to convergence it comes near the tuned w = 4"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：$w_q = w_k = 4$ 时两者只差浮点误差。训练后 $w_q \approx 3.94$、$w_k \approx 3.88$，比值约 1.02：查询仍看向自己所在的位置，
# 测试误差 0.056，与单个 $w = 4$ 的 0.049 相近。一维回归里该看的就是最近的 $x_i$，多出的自由没有用处；
# 10.3 节起查询和键是向量，$W_q \ne W_k$ 才让查询去看与自己不同的东西。
