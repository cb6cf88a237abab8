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
# # 10.1 注意力提示
#
# 把 *the black cat* 译成 *le chat noir*，写 *noir* 的那一刻，该读的是源句里的 *black*，而不是把整句平均读一遍。
# 网络需要一种读法：按“此刻在找什么”，从许多输入里挑出该读的那个。

# %%
import math

import torch

import d2l_attention as d2l
from d2l_attention.checks import check_heatmaps
from d2l_attention.explore import attention_cues

# %% [markdown]
# ## 注意力提示与查询、键、值
#
# 心理学的“双组件”（two-component）框架把注意力的来源分成两种：
#
# * **非自主性提示**（nonvolitional cue）：物体本身的**突出性**（saliency）。五本黑白的书旁有一个红杯子，视线先落到杯子上。
# * **自主性提示**（volitional cue）：观察者的**意图**。想读书时，你把目光移向书。
#
# 注意力机制里，**查询**（query）$\mathbf{q}$ 是自主性提示（“我在找什么”）。每个输入带一个**键**（key）$\mathbf{k}_i$（“我是什么”），是非自主性提示；
# 还带一个**值**（value）$\mathbf{v}_i$（“我能提供什么”），是感官输入。

# %% [markdown]
# **注意力汇聚**（attention pooling）按查询与每个键的匹配程度，从各个值中取：
#
# $$f(\mathbf{q}, \{(\mathbf{k}_i, \mathbf{v}_i)\}_{i=1}^{n}) = \sum_{i=1}^{n} \alpha_i\, \mathbf{v}_i,
#   \qquad \alpha_i = \frac{\exp(\mathbf{q}^\top\mathbf{k}_i)}{\sum_{j=1}^{n} \exp(\mathbf{q}^\top\mathbf{k}_j)}.$$
#
# 这里的**评分函数**（scoring function）是点积，它的值叫**注意力分数**（attention score）；softmax 把分数变成和为 1 的**注意力权重**（attention weight）$\alpha_i$。
# 这是**软的字典查找**（soft dictionary lookup）：分数越高的键，它的值占得越多。

# %% [markdown]
# ![One query, three keys, values 10/20/30, weights 0.79/0.11/0.11, output 13.20](figures/10.1-qkv-pooling.svg)
#
# 图 10.1.1 下面代码里的例子：查询 $\mathbf{q}=(1,0)$，值 10、20、30，加权求和得 13.20

# %%
#@save
def attention_pooling(queries, keys, values, tau=1.0):
    """Dot-product attention pooling: weights softmax(queries @ keys.T / tau) over the n keys,
    and the pooled values weights @ values. queries: (d,) for one query or (m, d) for m;
    keys: (n, d); values: (n, v). Returns weights (n,) or (m, n) and pooled (v,) or (m, v)."""
    weights = torch.softmax(queries @ keys.T / tau, dim=-1)  # 点积衡量匹配程度，softmax 使每行和为 1
    return weights, weights @ values


# %%
keys = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # 3 个键，每个 2 维
values = torch.tensor([[10.0], [20.0], [30.0]])  # 与键配对的 3 个值
query = torch.tensor([1.0, 0.0])  # 查询：“我在找第一维大的东西”

scores = keys @ query  # 第 1 步：分数 q·k_i
exp_scores = torch.exp(scores)  # 第 2 步：取指数，都变成正数
weights = exp_scores / exp_scores.sum()  # 第 3 步：归一化，和为 1（第 2、3 步就是 softmax）
weighted = weights * values[:, 0]  # 第 4 步：每个值乘以权重，再求和
print(f"{'key':>4}{'value':>7}{'score':>7}{'exp':>8}{'weight':>8}{'weight*value':>14}")
for i in range(len(keys)):
    print(f"{f'k{i + 1}':>4}{values[i, 0].item():7.0f}{scores[i].item():7.2f}"
          f"{exp_scores[i].item():8.3f}{weights[i].item():8.4f}{weighted[i].item():14.2f}")
attended = attention_pooling(query, keys, values)[1]
uniform, average = attention_pooling(torch.zeros(2), keys, values)  # 没有查询：q = 0
print(f"q = (1, 0): pooled {attended.item():.2f}")
print("q = 0     : weights", [round(a, 3) for a in uniform.tolist()], f"pooled {average.item():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(attention_pooling(query, keys, values)[0], weights)
assert torch.isclose(weighted.sum(), attended[0]) and round(attended.item(), 2) == 13.20
assert torch.allclose(average, values.mean(dim=0)) and torch.allclose(uniform, torch.full((3,), 1 / 3))

# %% [markdown]
# $\mathbf{k}_1$ 的分数 2 变成 $e^2 \approx 7.389$，占 0.7870，结果被拉向它的值 10。
# $\mathbf{q} = \mathbf{0}$ 时分数全是 0，权重各 1/3，结果 20.00 就是平均汇聚：没有查询，注意力汇聚就是汇聚层。
#
# 桌上，键的两个特征是“红色”和“能读”。杯子的突出性属于它的键，与查询无关：写成分数偏置 $b_i$，$\alpha_i = \operatorname{softmax}_i(\mathbf{q}^\top\mathbf{k}_i + b_i)$。
# 这仍是点积：给键添一维 $b_i$、查询添一维 1，$[\mathbf{q}; 1]^\top[\mathbf{k}_i; b_i] = \mathbf{q}^\top\mathbf{k}_i + b_i$。
# 查询长 3，意图（书的分数 3）才略强于突出性（2）。

# %%
desk_keys = torch.tensor([[1.0, 0.0]] + [[0.0, 1.0]] * 5)  # 红杯子 (1, 0)；五本书 (0, 1)
salience = torch.tensor([2.0, 0, 0, 0, 0, 0])  # b_i：杯子醒目
read = torch.tensor([0.0, 3.0])  # 查询：“想读书”
for cue, desk_scores in (("b only (q = 0)", salience), ("query only, q.k", desk_keys @ read),
                         ("both, q.k + b", desk_keys @ read + salience)):
    gaze = torch.softmax(desk_scores, dim=0)  # 视线在 6 个物体上的分布
    print(f"{cue:<16}: cup {gaze[0].item():.2f}, each book {gaze[1].item():.2f}")

# %% [markdown]
# 只有 $b$（$\mathbf{q} = \mathbf{0}$）时杯子拿到 0.60。加上“想读书”，每本书拿 0.19；杯子还有 0.07，只看查询时是 0.01。

# %% [markdown]
# ### 查询可以学
#
# 这里的值是标量 $v_i$。记 $s_j = \mathbf{q}^\top\mathbf{k}_j$（τ = 1），由 softmax 的导数 $\partial\alpha_i/\partial s_j = \alpha_i(\delta_{ij} - \alpha_j)$：
#
# $$\frac{\partial f}{\partial \mathbf{q}} = \sum_i v_i \underbrace{\alpha_i\Big(\mathbf{k}_i - \sum_j \alpha_j \mathbf{k}_j\Big)}_{\partial \alpha_i/\partial \mathbf{q}}
#   = \sum_i \alpha_i\,(v_i - f)\,\mathbf{k}_i .$$
#
# 值高于 $f$ 的键把 $\mathbf{q}$ 拉向自己，低于的把它推开。在 $\mathbf{q} = \mathbf{0}$（$f = 20$）处，$\mathbf{k}_1$（值 10）推，$\mathbf{k}_3$（值 30）拉：

# %%
def angle(x, y):  # 向量 (x, y) 的方向，度
    return math.degrees(math.atan2(y, x))


w0, f0 = attention_pooling(torch.zeros(2), keys, values)
pull = (w0[:, None] * (values - f0) * keys).sum(dim=0)  # 上式在 q = 0 处：Σ α_i (v_i − f) k_i
print("df/dq at q = 0:", [round(g, 2) for g in pull.tolist()], f"-> {angle(*pull.tolist()):.0f} deg")

# %% [markdown]
# 用 SGD 只更新 $\mathbf{q}$，损失 $L = (f - 28)^2$（30 要无限长的查询）。$f < 28$ 时 $-\partial L/\partial \mathbf{q}$ 与 $\partial f/\partial \mathbf{q}$ 同向：

# %%
q = torch.zeros(2, requires_grad=True)  # 从 q = 0（平均汇聚）出发
optimizer = torch.optim.SGD([q], lr=0.01)
path = [tuple(q.tolist())]  # q 在查询平面上走过的点
for _ in range(50):
    loss = ((attention_pooling(q, keys, values)[1] - 28.0) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    path.append(tuple(q.tolist()))
w, got = attention_pooling(q.detach(), keys, values)
steps = torch.tensor(path).diff(dim=0).norm(dim=1)  # 每一步走多远
print(f"step 1: {angle(*path[1]):.0f} deg, length {steps[0].item():.2f}; steps 2-50: length "
      f"{steps[1:].sum().item():.2f} together; step 50: {angle(*path[-1]):.0f} deg,")
print("weights", [round(a, 3) for a in w.tolist()], f"pooled {got.item():.2f}")

# %%
attention_cues.plot_query_map(keys, values, path, pull)
d2l.plt.show()

# %% [markdown]
# 灰度是每个查询的结果 $f(\mathbf{q})$。离原点越远，越只取一个值：方向决定落在 10、20 还是 30 的平台上。
# 黑箭头（135°）垂直于等高线，指向上坡：离开 10，朝向 30。SGD 第一步最大（长 1.51：起点 $f = 20$ 离 28 最远），沿着黑箭头；后 49 步一共只走 0.36。50 步后 $f = 27.98$，$\mathbf{q}$ 指向 128°：
# 30 的平台从 45° 延到 180°，$\mathbf{q}$ 不必正对 $\mathbf{k}_3$。

# %% [markdown]
# ### 温度
#
# softmax 之前先把分数除以**温度**（temperature）$\tau$：$\alpha_i = \operatorname{softmax}_i(\mathbf{q}^\top\mathbf{k}_i/\tau)$，也就是在上图的 $\mathbf{q}/\tau$ 处查找。它调权重有多集中。
#
# 探索器在这张图的中心转动查询：蓝色箭头是键（细而深的是被拉长的 $\mathbf{k}_2$），橙色箭头是 $\mathbf{q}/\tau$，$\mathbf{q} = (\cos\theta, \sin\theta)$；右边是权重（灰字是分数），紫点是汇聚结果。一次动一个控件，先猜再动：
#
# 1. **θ** 从 0° 拖到 90°：哪些柱子长高？紫点往哪走？
# 2. **c**（把 $\mathbf{k}_2$ 拉长 c 倍，c < 0 时反向）：θ 停在 90°，c 从 1 选到 3.5，再选 −1。
# 3. **τ**：回到 θ = 0°、c = 1，τ 换成 2，再依次换成 0.5、0.1。

# %%
attention_cues.turning_query(keys, values)

# %% [markdown]
# <details><summary>答案（先自己拖过，再打开）</summary>
#
# 1. $\mathbf{k}_1$ 从 0.79 降到 0.09，$\mathbf{k}_2$ 从 0.11 升到 0.24，$\mathbf{k}_3$ 升到 0.67，紫点从 13.20 滑到 25.75：**查询决定取回哪个值**。θ = 45° 时 $\mathbf{k}_1$、$\mathbf{k}_3$ 打平，结果恰是 20（练习 3）。
# 2. θ = 90° 时 $\mathbf{k}_2$ 的分数就是 c：c = 2 时它与 $\mathbf{k}_3$ 一样（0.47），c = 3.5 时拿到 0.80，c = −1 时只剩 0.04。点积既看方向也看长度（练习 4）。
# 3. τ = 2 时分数减半，权重变成 0.58、0.21、0.21；τ = 0.5 时分数翻倍，$\mathbf{k}_1$ 拿到 0.96；τ = 0.1 时是 1.000，柱子冻成 one-hot：硬查找。温度不改分数的排序，只改权重有多集中（练习 5）。
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
print("tau = 1 (questions 1 and 2):")
attention_cues.print_states(keys, values, [(0, 1.0), (45, 1.0), (90, 1.0), (90, 2.0), (90, 3.5),
                                           (90, -1.0)])
for tau in (2.0, 0.5, 0.1):  # 问题 3
    print(f"tau = {tau:g}:")
    attention_cues.print_states(keys, values, [(0, 1.0)], tau=tau)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
states = attention_cues.turning_query_states(keys, values)
w = {(r["theta"], r["c"], r["tau"], r["key"]): r["weight"] for r in states["weights"]}
pooled_at = {(r["theta"], r["c"], r["tau"]): r["pooled"] for r in states["pooled"]}
assert round(pooled_at[(0, 1.0, 1.0)], 2) == 13.20 and round(pooled_at[(90, 1.0, 1.0)], 2) == 25.75
assert w[(45, 1.0, 1.0, "k1")] == w[(45, 1.0, 1.0, "k3")] and all(
    "pooled 20.00" in r["text"] for r in states["text"] if (r["theta"], r["c"]) == (45, 1.0))
assert all(w[(t, 2.0, tau, "k2")] == w[(t, 2.0, tau, "k3")] for t in attention_cues.ANGLES
           for tau in attention_cues.TAUS)
assert [round(w[(90, c, 1.0, "k2")], 3) for c in (-1.0, 0.0, 1.0, 2.0, 3.5)] == [
    0.042, 0.107, 0.245, 0.468, 0.798]
assert w[(0, 1.0, 0.5, "k1")] > 0.96 > 0.79 > w[(0, 1.0, 2.0, "k1")] > 0.5
assert not any("-0.00" in r["text"] for r in states["text"])
k2_wins = [t for t in attention_cues.ANGLES
           if w[(t, 1.0, 1.0, "k2")] > max(w[(t, 1.0, 1.0, "k1")], w[(t, 1.0, 1.0, "k3")])]
assert k2_wins == [195, 210, 225, 240]  # 练习 4 的区间 (180°, 243.4°)
assert [round(w[(210, 1.0, 1.0, k)], 2) for k in ("k1", "k2", "k3")] == [0.15, 0.53, 0.32]


# %% [markdown]
# 查询图（“查询可以学”一节）里的黑方块是查询 $(1, 0)$ 在 τ = 1、0.5、0.25 时查找的位置 $\mathbf{q}/\tau$（$f$ = 13.20、10.53、10.01）：τ 越小读得越远；τ → 0 是硬查找（只取分数最大的键的值）。
# 由链式法则，$\partial f/\partial \mathbf{q}$ 是 $f$ 在 $\mathbf{q}/\tau$ 处的梯度乘以 $1/\tau$：

# %%
def gradient_norm(q, tau=1.0):  # |∂f/∂q|，f 在温度 tau 下汇聚
    q = q.clone().requires_grad_()
    (grad,) = torch.autograd.grad(attention_pooling(q, keys, values, tau)[1].sum(), q)
    return grad.norm().item()


for tau in (10, 1, 0.1, 0.001):
    w = attention_pooling(query, keys, values, tau)[0]
    print(f"tau = {tau:<5g}: weights", [round(a, 2) for a in w.tolist()],
          f"|grad f at q/tau| = {gradient_norm(query / tau):.1e},",
          f"|df/dq| = {gradient_norm(query, tau):.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for theta in (0, 10, 80, 100):
    q_check = attention_cues.unit_query(theta)
    w_hard = attention_pooling(q_check, keys, values, tau=1e-3)[0]
    assert torch.equal(w_hard, torch.eye(3)[(keys @ q_check).argmax()])  # 精确的 one-hot，与 argmax 相同
for t in (10, 1, 0.1):  # 两种算法只差 1/τ
    assert math.isclose(gradient_norm(query, t), gradient_norm(query / t) / t, rel_tol=1e-4)
assert gradient_norm(query / 10) > gradient_norm(query) > 1e6 * gradient_norm(query / 0.1)
assert gradient_norm(query, 0.001) == 0
assert round(angle(*pull.tolist())) == 135 == round(angle(*path[1])) and round(angle(*path[-1])) == 128
assert round(got.item(), 2) == 27.98 and len(path) == 51
xs_map, ys_map, f_map = attention_cues.query_map(keys, values)
assert 10 <= f_map.min() < 10.01 and 29.5 < f_map.max() <= 30  # 值的凸组合
assert [round(attention_pooling(query / t, keys, values)[1].item(), 2) for t in (1, 0.5, 0.25)] == [
    13.2, 10.53, 10.01]

# %% [markdown]
# 权重平坦时 $f$ 反而陡：τ = 10（权重 0.38、0.31、0.31）时 $f$ 的梯度是 9.8，比 τ = 1 的 6.6 还大；$\partial f/\partial \mathbf{q}$ 只剩 0.98，全是 $1/\tau$ 缩的。
# 尖的一端才真饱和：τ = 0.1 时 $f$ 自己的梯度只有 1.0e−07，τ = 0.001 时是 0。硬注意力没有梯度，反向传播训练不了它。
# 10.3 节把点积除以 $\sqrt{d}$，就是不让高维下变大的点积把 softmax 推到这一端。

# %% [markdown]
# ## 一句话上的注意力：矩阵形式与热图
#
# 把 *the black cat sat on the mat* 译成 *le chat noir s'assit sur le tapis*：每个法语词问“哪个英语词和我意思相同”。
# 英语词向量是手工设的五个特征（长度都是 1）。*on* 是虚词（0.8），也带一点“物体”（0.6，它说物体在哪），所以它和 *the*、*mat* 都有几分像。
# 法语词向量是译词的向量加一点噪声，对齐要靠相似度找。

# %%
vectors = {"the": [0, 0, 0, 1, 0], "black": [0, 0, 0, 0, 1], "cat": [0.8, 0.6, 0, 0, 0],  # 特征：动物、物体、
           "sat": [0, 0, 1, 0, 0], "on": [0, 0.6, 0, 0.8, 0], "mat": [0, 1, 0, 0, 0]}  # 动作、虚词、颜色
meaning = {"le": "the", "chat": "cat", "noir": "black", "s'assit": "sat", "sur": "on", "tapis": "mat"}
english = "the black cat sat on the mat".split()
french = "le chat noir s'assit sur le tapis".split()
vocab = list(vectors)  # 6 个不同的英语词
X_en = torch.tensor([vectors[word] for word in english])  # (7, 5)
torch.manual_seed(0)
noise = (0.2 * torch.randn(len(french), 5)).round(decimals=2)  # 译词与原词相近而不相同
X_fr = torch.tensor([vectors[meaning[word]] for word in french]) + noise  # (7, 5)
V = torch.eye(len(vocab))[[vocab.index(word) for word in english]]  # (7, 6)：每个英语词是哪个词

# %% [markdown]
# 法语词向量 $\mathbf{X}_\text{fr}$ 作查询 $\mathbf{Q}$，英语词向量 $\mathbf{X}_\text{en}$ 作键 $\mathbf{K}$，值 $\mathbf{V}$ 是英语词的身份（6 个词，one-hot）。一次矩阵乘法算完 7 个查询：
#
# $$\mathbf{A} = \operatorname{softmax}\big(\mathbf{Q}\mathbf{K}^\top / \tau\big)\ (7 \times 7), \qquad \text{输出} = \mathbf{A}\mathbf{V}\ (7 \times 6).$$
#
# $\mathbf{A}$ 的每一行是图 10.1.1 的一次查询：

# %%
A, out = attention_pooling(X_fr, X_en, V)  # τ = 1
one_by_one = torch.stack([attention_pooling(q, X_en, V)[1] for q in X_fr])
print("A", tuple(A.shape), "output", tuple(out.shape),
      f"max |matrix form - one query at a time| = {(out - one_by_one).abs().max().item():.4f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (out - one_by_one).abs().max() < 1e-5 and torch.allclose(A.sum(dim=1), torch.ones(7))
assert torch.allclose(out.sum(dim=1), torch.ones(7))

# %% [markdown]
# 书中的 `show_heatmaps` 把四维张量（行数，列数，查询数，键数）画成热图（heatmap）网格：

# %%
#@save
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Heatmaps of matrices (num_rows, num_cols, num_queries, num_keys) on one colour scale;
    titles: one per grid column; xticklabels / yticklabels: one per key / per query."""
    check_heatmaps(matrices, titles, xticklabels, yticklabels)
    d2l.use_svg_display()
    matrices = matrices.detach().cpu().float()
    low, high = min(0.0, matrices.min().item()), matrices.max().item()
    norm = d2l.plt.Normalize(low, high if high > low else low + 1.0)  # 所有面板共用一个刻度
    fig, axes = d2l.plt.subplots(*matrices.shape[:2], figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices)):
            pcm = ax.imshow(matrix.numpy(), cmap=cmap, norm=norm)
            ax.set(xlabel=xlabel if i == len(axes) - 1 else "", ylabel=ylabel if j == 0 else "",
                   title=titles[j] if titles else "")
            if xticklabels is not None:
                ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(len(yticklabels)), yticklabels)
    fig.colorbar(pcm, ax=axes, shrink=0.6)


# %% [markdown]
# 温度作用在整个 $\mathbf{A}$ 上：τ = 1 和 τ = 0.1 并排，同一个颜色刻度：

# %%
A_cold = attention_pooling(X_fr, X_en, V, tau=0.1)[0]
show_heatmaps(torch.stack([A, A_cold]).unsqueeze(0), xlabel="English keys", ylabel="French queries",
              titles=["τ = 1", "τ = 0.1"], figsize=(6.4, 3.4),
              xticklabels=["the #1", "black", "cat", "sat", "on", "the #2", "mat"],
              yticklabels=["le #1", "chat", "noir", "s'assit", "sur", "le #2", "tapis"])
d2l.plt.show()

# %%
for tau in (1.0, 0.25, 0.1):
    row_max = attention_pooling(X_fr, X_en, V, tau)[0].max(dim=1).values  # 每个法语词最大的权重
    print(f"tau = {tau:<4g}: largest weight per row", [round(m, 2) for m in row_max.tolist()])

# %% [markdown]
# τ = 1 时 $\mathbf{A}$ 几乎一片淡色：每行最大权重只有 0.22 到 0.33。τ = 0.1 时 *chat*、*noir*、*s'assit*、*tapis* 到 0.91 以上，*sur* 只到 0.77。
# $\mathbf{A}$ 每行最大的一格都落在译词上，虽然没有一个法语向量与它的译词相同。
# *chat* 和 *noir* 的最大格左右交叉（形容词在后）：比较的是内容，不是位置。
#
# τ = 0.25 时每个法语词取回什么（$\mathbf{A}\mathbf{V}$ 的一行）：

# %%
A, out = attention_pooling(X_fr, X_en, V, tau=0.25)
for i in (2, 0):  # noir、第一个 le
    print(french[i], "->", {e: round(a, 2) for e, a in zip(vocab, out[i].tolist())})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert out[2].argmax() == vocab.index("black")
for tau in (1.0, 0.25, 0.1):  # 每个法语词的最大权重都在它的译词上
    assert attention_pooling(X_fr, X_en, V, tau)[0].argmax(dim=1).tolist() == [0, 2, 1, 3, 4, 0, 6]
assert out[4, vocab.index("on")] > out[4, vocab.index("the")] > 0.4

# %% [markdown]
# *noir* 取回 0.92 的 *black*；*le* 取回 0.84 的 *the*，混进 0.12 的 *on*。
#
# 动手试试：选一个法语词（框出的行）。左下是它的分数 $\mathbf{q}^\top\mathbf{k}_j/\tau$，右边是它取回的 $\mathbf{A}\mathbf{V}$。
#
# 1. 选 *sur*，τ = 1：哪一格权重最大？取回最多的是哪个词？再把 τ 拖到 0.1。
# 2. 选 *le #1*：它的格子能超过 0.5 吗？它取回的 *the* 呢？

# %%
attention_cues.sentence_attention(X_fr, X_en, V, french, english, vocab)

# %% [markdown]
# <details><summary>答案</summary>
#
# 1. τ = 1 时 *sur* 最大的一格在 *on*（0.22），取回最多的却是 *the*（0.36，*on* 0.22）：两个 *the* 各 0.18，$\mathbf{V}$ 把它们合成一个词。*sur* 与 *the* 的分数（0.89）接近 *on*（1.08），因为 *on* 与 *the* 共有“虚词”特征。默认的 τ = 0.25 已几乎打平（取回 *on* 0.46，*the* 0.42）；τ = 0.1 时分数放大 10 倍（10.84 对 8.90），*on* 拿到 0.77。两个 *the* 的键相同，权重总相等（10.6 节的位置编码才分得开）。
# 2. *le #1* 的两格各 0.49（τ = 0.1），任何 τ 下都不超过 0.5。但它取回的 *the* 是 0.98：$\mathbf{A}$ 把权重分给两个位置，$\mathbf{V}$ 又把它们合回同一个词。
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
sentence = attention_cues.sentence_states(X_fr, X_en, V, french, english, vocab, taus=(0.1, 0.25, 1.0))
cold = {(r["query"], r["key"]): r["weight"] for r in sentence["matrix"] if r["tau"] == 0.1}
got = {(r["french"], r["word"]): r["share"] for r in sentence["retrieved"] if r["tau"] == 0.1}
row_max = {w: max(v for (q, _), v in cold.items() if q == w)
           for w in ("chat", "noir", "s'assit", "tapis", "sur")}
assert row_max == {"chat": 0.99, "noir": 1.0, "s'assit": 0.99, "tapis": 0.91, "sur": 0.77}, row_max
assert cold[("le #1", "the #1")] == cold[("le #1", "the #2")] == 0.49 and got[("le #1", "the")] == 0.98
assert cold[("sur", "the #1")] == cold[("sur", "the #2")] == 0.11 and cold[("sur", "on")] == 0.77
hot = {(r["query"], r["key"]): r["weight"] for r in sentence["matrix"] if r["tau"] == 1.0}
assert max(hot.values()) == 0.33 and max(v for (q, _), v in hot.items() if q == "sur") == 0.22
score = {(r["tau"], r["french"], r["key"]): r["score"] for r in sentence["scores"]}
assert [score[(t, "sur", k)] for t in (1.0, 0.1) for k in ("on", "the #1", "the #2")] == [
    1.08, 0.89, 0.89, 10.84, 8.9, 8.9]
assert max(v for (t, f, _), v in score.items() if (t, f) == (1.0, "sur")) == 1.08
shares = {(r["tau"], r["french"], r["word"]): r["share"] for r in sentence["retrieved"]}
assert (shares[(1.0, "sur", "the")], shares[(1.0, "sur", "on")]) == (0.36, 0.22)  # 答案 1
assert (shares[(0.25, "sur", "on")], shares[(0.25, "sur", "the")]) == (0.46, 0.42)
assert hot[("sur", "the #1")] == hot[("sur", "the #2")] == 0.18 and hot[("sur", "on")] == 0.22
mid = {(r["query"], r["key"]): r["weight"] for r in sentence["matrix"] if r["tau"] == 0.25}
mid_max = [max(v for (q, _), v in mid.items() if q == w) for w in ("chat", "noir", "s'assit", "tapis")]
assert min(mid_max) == 0.55 and max(mid_max) == 0.92, mid_max
states_all = attention_cues.sentence_states(X_fr, X_en, V, french, english, vocab)
assert max(r["weight"] for r in states_all["matrix"] if r["query"] == "le #1") == 0.49
assert all(r["weight"] == mid[(r["query"], "the #2")] for r in sentence["matrix"]
           if r["tau"] == 0.25 and r["key"] == "the #1")  # 两个 the 的权重总相等

# %% [markdown]
# 查询来自一个序列、键和值来自另一个，叫**交叉注意力**（cross-attention）。
#
# ### 学出来的 A
#
# 10.4 节的 Bahdanau 模型只学翻译，没人教它对齐。那一节的任务是造的：英语逐词换成法语词，形容词放到名词后，动词放到分句末尾。
# *the black cat likes the small bird .* 的参考译文因此是 *le chat noir le oiseau petit aime .*（不是真正的法语），模型译对了。它写每个词时的 $\mathbf{A}$：

# %%
attention_cues.show_learned_alignment()
d2l.plt.show()

# %% [markdown]
# 写 *noir* 时 0.54 的权重落在 *black* 上，写 *chat* 时 0.75 在 *cat* 上。两个 *le* 的最大格却在接着要写的名词上（*cat* 0.70，*bird* 0.26）：这个任务里 *the* 总译成 *le*（任务的规则），读它定不了下一个词。
# 从第二个 *le* 起，每行最大格只有 0.17 到 0.50：*petit* 的 0.47 也落在 *bird* 上，*aime* 的 0.35 落在 *likes* 右边的 *the* 上。10.4 节细看。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中这一节只讲概念和 `show_heatmaps`，不计算注意力汇聚；这里的 `attention_pooling` 和所有例子都是为了在本节就看到它在计算。
# * 书中用 `torch.eye(10)` 演示 `show_heatmaps`；这里的热图是一句话上真正算出来的权重矩阵，书中的随机矩阵见练习 6。
# * 书中的 `show_heatmaps` 让每个面板按自己的范围着色，颜色条取自最后一个面板；这里所有面板共用一个刻度，不同面板（例如 10.5 节的不同注意力头）才能互相比较。
# * 这里的 `show_heatmaps` 多了 `xticklabels` 和 `yticklabels`，用来标出词元；练习 6 的答案按书中的方式调用它。
#
# </details>

# %% [markdown]
# ## 小结
#
# * 查询决定取回哪个值，$\mathbf{q} = \mathbf{0}$ 是平均汇聚；突出性是分数上的偏置 $b_i$。
# * $\partial f/\partial \mathbf{q} = \sum_i \alpha_i (v_i - f)\mathbf{k}_i$：查询能用梯度下降学。
# * $\tau \to 0$ 是硬查找（梯度为 0），$\tau \to \infty$ 是平均；10.3 节的 $1/\sqrt{d}$ 就是 $1/\tau$。
# * 矩阵形式 $\operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top/\tau)\,\mathbf{V}$，热图画出 $\mathbf{A}$。
#
# ## 练习
#
# ### 练习 1
#
# 在机器翻译中，解码器一个词元一个词元地生成译文。生成下一个词元时，什么可以充当自主性提示（查询）？
# 非自主性提示（键）和感官输入（值）又分别是什么？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：解码器“此刻想找什么”由它自己的状态决定：已经生成的前缀所对应的解码器隐状态就是查询，它体现了“意图”。感官输入是源句子：
# 编码器为每个源词元产生的表示就是值；与这些值一一配对、用来和查询比较的键，
# 通常也取这些编码器表示本身（或它们的线性变换）。它们是“非自主的”，因为无论解码器想找什么，
# 源句子的内容都在那里。每生成一个词元，查询就变一次，于是注意力会在源句子上移动——
# 10.4 节的 Bahdanau 注意力正是这样设计的（本节最后一张图）。

# %% [markdown]
# ### 练习 2
#
# 为什么要做 softmax，而不直接拿点积当权重？用本节的键和值、查询 $\mathbf{q} = [1, -1]$，把 $\sum_i (\mathbf{q}^\top \mathbf{k}_i)\, v_i$ 存为 `ex2_raw`，
# softmax 汇聚存为 `ex2_soft`；查询加倍为 $[2, -2]$ 时的结果存为 `ex2_raw_doubled`、`ex2_soft_doubled`（Python 浮点数）。
# 哪一种总落在 $[10, 30]$ 内？为什么？查询加倍时两者各怎样变？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def ex2_pool(q, soft):
    scores = keys @ q
    return ((torch.softmax(scores, dim=0) if soft else scores) @ values).item()


q = torch.tensor([1.0, -1.0])
ex2_raw, ex2_soft = ex2_pool(q, soft=False), ex2_pool(q, soft=True)
ex2_raw_doubled, ex2_soft_doubled = ex2_pool(2 * q, soft=False), ex2_pool(2 * q, soft=True)
print(f"raw dot products: {ex2_raw:.2f}, doubled query: {ex2_raw_doubled:.2f}")
print(f"softmax pooling : {ex2_soft:.2f}, doubled query: {ex2_soft_doubled:.2f}")
# 原始点积 [2, -1, -2] 有负数，和为 -1，于是“汇聚”成了 -60：它不是值的加权平均，
# 查询加倍它也加倍（-120），查询为 0 时输出恒为 0。softmax 让权重为正且和为 1，
# 汇聚就是值的凸组合，必然落在 [min v_i, max v_i] = [10, 30] 内；查询加倍只让分布更集中
# （10.81 -> 10.03，更接近最匹配的 v_1 = 10），输出却不会跑出值的范围。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(f"ex2_raw = {ex2_raw:.2f}, ex2_raw_doubled = {ex2_raw_doubled:.2f}")
print(f"ex2_soft = {ex2_soft:.2f}, ex2_soft_doubled = {ex2_soft_doubled:.2f}")
assert not 10 <= ex2_raw <= 30, "raw dot products [2, -1, -2] weight the values: 2*10 - 20 - 2*30"
assert abs(ex2_raw_doubled - 2 * ex2_raw) < 1e-4, "raw pooling is linear in q: doubling q doubles it"
assert 10 <= ex2_soft_doubled < ex2_soft <= 30, (
    "softmax pooling stays in [10, 30] and moves towards v_1 = 10 when the query doubles")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert abs(ex2_raw + 60) < 1e-4 and abs(ex2_raw_doubled + 120) < 1e-4
assert abs(ex2_soft - 10.809) < 1e-3 and abs(ex2_soft_doubled - 10.031) < 1e-3


# %% [markdown]
# ### 练习 3
#
# 探索器里 θ = 45° 给出的结果恰是 20.00。在探索器里找出另一个这样的 θ；再推导：什么样的 $\mathbf{q} = [q_1, q_2]$ 使结果**恰好**是 20？
# 把条件写成 `ex3_gives_average(q)`，返回 `True` 或 `False`（不调用 softmax）。再给出结果为 20、权重却不均匀的非零查询 `ex3_query`，
# 和使三个权重都是 $1/3$ 的查询 `ex3_uniform_query`（它唯一吗？）。结果等于平均值，是否意味着权重均匀？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 权重和为 1，故 10 a1 + 20 a2 + 30 a3 = 20 + 10 (a3 - a1)：结果为 20 当且仅当 a1 = a3，
# 即两个打分相等：q.k1 = 2 q1 与 q.k3 = 2 q2，所以 q1 = q2（一整条直线）。
# 权重均匀还要 a2 = a1，即 q2 = 2 q1，与 q1 = q2 合起来只有 q = 0。
# 所以结果等于平均值不等于权重均匀：q = [1, 1] 给出 [0.42, 0.16, 0.42]，加权和仍是 20。
# 探索器里另一个给出 20.00 的角度是 θ = 225°：q = (cos 225°, sin 225°) = (-0.71, -0.71) 也在直线 q1 = q2 上
# （单位圆与这条直线只交于 45° 和 225° 两点）。
def ex3_gives_average(q):
    return bool(torch.isclose(q[0], q[1], rtol=1e-5, atol=1e-6))


ex3_query = torch.tensor([1.0, 1.0])
ex3_uniform_query = torch.tensor([0.0, 0.0])
for name, q in (("theta = 225°", attention_cues.unit_query(225)), ("ex3_query", ex3_query),
                ("ex3_uniform_query", ex3_uniform_query)):
    w = torch.softmax(keys @ q, dim=0)
    print(f"{name}: weights {[round(x, 3) for x in w.tolist()]}, pooled {(w @ values).item():.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
ex3_w = torch.softmax(keys @ ex3_query, dim=0)
ex3_u = torch.softmax(keys @ ex3_uniform_query, dim=0)
print("ex3_query         -> weights", [round(x, 3) for x in ex3_w.tolist()],
      f"pooled {(ex3_w @ values).item():.3f}")
print("ex3_uniform_query -> weights", [round(x, 3) for x in ex3_u.tolist()],
      f"pooled {(ex3_u @ values).item():.3f}")
assert abs((ex3_w @ values).item() - 20) < 1e-4, "ex3_query must pool to exactly 20"
assert (ex3_w - 1 / 3).abs().max() > 1e-2, "ex3_query's weights should not be uniform"
assert torch.allclose(ex3_u, torch.full((3,), 1 / 3)), "ex3_uniform_query must give 1/3 each"
for q in ([2.0, 2.0], [1.0, 0.5], [-1.0, -1.0]):
    q = torch.tensor(q)
    got, want = ex3_gives_average(q), abs((torch.softmax(keys @ q, 0) @ values).item() - 20) < 1e-4
    assert got == want, f"ex3_gives_average({q.tolist()}) returned {got}; pooled == 20 is {want}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
torch.manual_seed(1)
for q in [torch.randn(2) for _ in range(20)] + [torch.full((2,), t) for t in (-3.0, 0.0, 0.7)]:
    pooled = (torch.softmax(keys @ q, 0) @ values).item()
    assert ex3_gives_average(q) == (abs(pooled - 20) < 1e-4), q.tolist()
assert torch.allclose(ex3_uniform_query, torch.zeros(2))


# %% [markdown]
# ### 练习 4
#
# 查询 $\mathbf{q} = [0, 1]$（θ = 90°），第 2 个键换成 $c\,\mathbf{k}_2$，τ = 1。推导 $\alpha_2(c)$ 的闭式，写成 `ex4_alpha2(c)`（Python 浮点数，不调用 softmax），
# 求出使 $\mathbf{k}_2$ 恰得一半注意力的 `ex4_c_half`，在探索器里拖 c 核对。$c \to \pm\infty$ 时 $\alpha_2$ 趋于多少？
#
# 再取 c = 1 转动 θ：有没有 θ 让最短的 $\mathbf{k}_2$ 拿到最大权重？把这些 θ（度，$0 \le \theta < 360$）构成的区间存为 `ex4_k2_range = (lo, hi)`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 打分为 q.k1 = 0, q.(c k2) = c, q.k3 = 2，所以 alpha_2(c) = e^c / (e^c + 1 + e^2)。
# alpha_2 = 1/2 时 e^c = 1 + e^2，即 c = ln(1 + e^2) ≈ 2.127：探索器里在 c = 2（0.468）与 2.5（0.592）之间过半。
# c -> ∞ 时 alpha_2 -> 1，c -> -∞ 时 -> 0：方向不变，只把键拉长，就能让它独占注意力
# （反向拉长则被完全忽略）；键的长度和方向一样决定权重。
def ex4_alpha2(c):
    return math.exp(c) / (math.exp(c) + 1.0 + math.exp(2.0))


ex4_c_half = math.log(1.0 + math.exp(2.0))
# c = 1 时打分为 2cosθ、sinθ、2sinθ。k2 胜过 k3：sinθ > 2 sinθ，即 sinθ < 0（转过 180°，负的打分被长度放大，长键罚得更重）；
# k2 胜过 k1：sinθ > 2cosθ。第四象限 cosθ > 0 > sinθ，不可能；第三象限两边除以 cosθ < 0，不等号反向，得 tanθ < 2，
# 即 θ < 180° + arctan 2 ≈ 243.43°。探索器里（每 15°）是 195° 到 240° 这四格。
ex4_k2_range = (180.0, 180.0 + math.degrees(math.atan(2.0)))
print(f"k2 has the largest weight for {ex4_k2_range[0]:.2f}° < θ < {ex4_k2_range[1]:.2f}°")
print(f"c_half = {ex4_c_half:.4f}; alpha_2 at c = -5, 1, 2, c_half, 2.5, 3.5, 10:",
      [round(ex4_alpha2(c), 3) for c in (-5.0, 1.0, 2.0, ex4_c_half, 2.5, 3.5, 10.0)])


# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def ex4_softmax_alpha2(c):
    scaled = keys.clone()
    scaled[1] *= c
    return torch.softmax(scaled @ torch.tensor([0.0, 1.0]), dim=0)[1].item()


for c in (-1.0, 1.0, 2.0, 3.5):
    print(f"c = {c:4.1f}: ex4_alpha2 {ex4_alpha2(c):.5f}, softmax {ex4_softmax_alpha2(c):.5f}")
    assert abs(ex4_alpha2(c) - ex4_softmax_alpha2(c)) < 1e-5, (
        f"ex4_alpha2({c}) = {ex4_alpha2(c):.5f}, but softmax gives {ex4_softmax_alpha2(c):.5f}")
print(f"ex4_c_half = {ex4_c_half:.4f}: softmax gives alpha_2 = {ex4_softmax_alpha2(ex4_c_half):.5f}")
assert abs(ex4_softmax_alpha2(ex4_c_half) - 0.5) < 1e-4, "at ex4_c_half, k_2 should get exactly 1/2"
ex4_grid = torch.arange(0.25, 360.0, 0.5)  # 每半度一个 θ（避开区间端点）
ex4_q = torch.stack([torch.cos(torch.deg2rad(ex4_grid)), torch.sin(torch.deg2rad(ex4_grid))], dim=1)
ex4_wins = torch.softmax(ex4_q @ keys.T, dim=1).argmax(dim=1) == 1
ex4_inside = (ex4_grid > ex4_k2_range[0]) & (ex4_grid < ex4_k2_range[1])
print(f"k2 has the largest weight at {ex4_grid[ex4_wins].min().item():.2f}° ... "
      f"{ex4_grid[ex4_wins].max().item():.2f}° (0.5° steps); ex4_k2_range = "
      f"({ex4_k2_range[0]:.2f}, {ex4_k2_range[1]:.2f})")
assert torch.equal(ex4_wins, ex4_inside), "ex4_k2_range should be exactly the angles where k2 wins"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
for c in (-8.0, 0.5, 2.0, 5.0, 12.0):
    assert abs(ex4_alpha2(c) - ex4_softmax_alpha2(c)) < 1e-5, c
assert abs(ex4_c_half - torch.log1p(torch.exp(torch.tensor(2.0))).item()) < 1e-4
assert ex4_k2_range[0] == 180 and abs(ex4_k2_range[1] - 243.435) < 1e-2


# %% [markdown]
# ### 练习 5
#
# 对 $\alpha_i = \operatorname{softmax}(\mathbf{s} / \tau)_i$ 证明 $\alpha_i / \alpha_j = \exp\big((s_i - s_j)/\tau\big)$，由此推出 $\tau \to 0^+$ 和 $\tau \to \infty$ 时的极限
# （包括几个打分并列最大的情形）。写成 `ex5_cold(scores)` 和 `ex5_hot(scores)`：输入 `(..., n)`，沿最后一维返回极限权重，不调用 softmax。
# 用 `torch.manual_seed(0)` 后的 `torch.randn(6, 8)` 与 $\tau = 10^{-3}$、$10^{3}$ 的 softmax 比一比。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# alpha_i / alpha_j = exp(s_i / tau) / exp(s_j / tau) = exp((s_i - s_j) / tau)：分母 sum_k exp(s_k / tau) 约掉了。
# tau -> 0+：若 s_i < max s，则对最大者 j 有 (s_i - s_j)/tau -> -∞，比值 -> 0，alpha_i -> 0；
#   几个并列最大的键之间比值恒为 1，于是它们平分全部权重（只有一个最大者时就是 one-hot）。
# tau -> ∞：所有比值 -> exp(0) = 1，权重都相等，即 1/n，与打分无关。
def ex5_cold(scores):
    top = (scores == scores.max(dim=-1, keepdim=True).values).float()
    return top / top.sum(dim=-1, keepdim=True)


def ex5_hot(scores):
    return torch.full_like(scores, 1.0 / scores.shape[-1])


torch.manual_seed(0)
ex5_scores = torch.randn(6, 8)
for tau, limit in ((1e-3, ex5_cold), (1e3, ex5_hot)):
    gap = (torch.softmax(ex5_scores / tau, dim=-1) - limit(ex5_scores)).abs().max().item()
    print(f"tau = {tau:g}: max |softmax - {limit.__name__}| = {gap:.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
ex5_s = torch.randn(6, 8)
cold_gap = (torch.softmax(ex5_s / 1e-3, dim=-1) - ex5_cold(ex5_s)).abs().max().item()
hot_gap = (torch.softmax(ex5_s / 1e3, dim=-1) - ex5_hot(ex5_s)).abs().max().item()
print(f"max |softmax(s / 1e-3) - ex5_cold(s)| = {cold_gap:.1e}")
print(f"max |softmax(s / 1e3)  - ex5_hot(s)|  = {hot_gap:.1e}")
assert tuple(ex5_cold(ex5_s).shape) == (6, 8) and tuple(ex5_hot(ex5_s).shape) == (6, 8)
assert cold_gap < 1e-3, "as tau -> 0 each row keeps only its largest score"
assert hot_gap < 1e-3, "as tau -> infinity every key gets the same weight"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
tied = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
assert torch.allclose(ex5_cold(tied), torch.tensor([[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25]]))
assert torch.allclose(ex5_hot(torch.randn(3, 5)), torch.full((3, 5), 0.2))
assert torch.allclose(ex5_cold(torch.tensor([0.0, -1.0, 5.0])), torch.tensor([0.0, 0.0, 1.0]))


# %% [markdown]
# ### 练习 6
#
# `torch.manual_seed(0)` 后取随机打分 `torch.randn(10, 10)`，按行 softmax，存为 `ex6_weights`，用 `show_heatmaps` 画出来。
# 哪个查询（行号，从 0 起）最集中（最大权重最大）？存为 `ex6_most_focused`，并打印每行的最大权重。图上的颜色能回答这个问题吗？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex6-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex6_weights = torch.softmax(torch.randn(10, 10), dim=-1)
ex6_most_focused = int(ex6_weights.max(dim=1).values.argmax())
print("largest weight of each query:", " ".join(f"{m:.2f}" for m in ex6_weights.max(dim=1).values.tolist()))
print("most focused query:", ex6_most_focused)
show_heatmaps(ex6_weights.reshape(1, 1, 10, 10), xlabel="Keys", ylabel="Queries")  # 书中的调用方式
d2l.plt.show()
# 这一次能：整幅图一个颜色刻度，最深的格子（0.665）远比其他行的最大值（至多 0.50）深，所以第 5 行最集中。
# 但颜色分不出 0.28、0.29 这样接近的行，排序还得看打印的数字。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex6-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
ex6_want = torch.softmax(torch.randn(10, 10), dim=-1)
print(f"max |ex6_weights - softmax(scores)| = {(ex6_weights - ex6_want).abs().max().item():.1e}")
print(f"ex6_most_focused = {ex6_most_focused}: its largest weight "
      f"{ex6_want[ex6_most_focused].max().item():.3f}")
assert tuple(ex6_weights.shape) == (10, 10) and torch.allclose(ex6_weights, ex6_want, atol=1e-6)
assert ex6_want[ex6_most_focused].max() == ex6_want.max(dim=1).values.max(), (
    "the most focused query is the row with the largest weight")
