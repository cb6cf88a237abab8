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
# 人每时每刻都被远超大脑处理能力的感官信息包围，却总能把有限的“算力”投向少数重要的东西。
# 本章要回答的问题是：**神经网络能否也学会“挑重点”？** 这一节先不谈训练，只搭一个概念框架：
# 注意力由什么驱动，怎样用查询（query）、键（key）和值（value）把它写成计算，
# 以及怎样把“关注了哪里”画出来。后面几节的每个模型都建立在这个框架之上。

# %%
import math

import torch

import d2l_attention as d2l
from d2l_attention.explore import attention_cues

# %% [markdown]
# ## 生物学中的注意力提示
#
# 心理学家常用“双组件”（two-component）框架来描述人怎样分配注意力：
#
# * **非自主性提示**（nonvolitional cue）：由环境中物体本身的**突出性**（saliency）引起。
#   桌上摆着五本黑白封面的书和一个红色的杯子，视线会不由自主地先落到杯子上——不需要任何意图。
# * **自主性提示**（volitional cue）：由观察者的**意图**驱动。同一张桌子，如果你想读书，
#   就会有意识地把目光移向书，哪怕它们并不醒目。
#
# 两种提示可以同时存在：前者是“刺激在召唤我”，后者是“我在寻找什么”。
# 接下来会看到，把“我在寻找什么”显式地交给模型，正是注意力机制与普通神经网络层的分界线。

# %% [markdown]
# ## 查询、键和值
#
# 只考虑非自主性提示时，模型可以用全连接层或者简单的平均、最大汇聚（pooling）来处理输入，
# 这些操作对每个输入一视同仁或只看输入本身。加入自主性提示后，需要一个新的角色：
#
# * **查询** $\mathbf{q}$：自主性提示，即“我在找什么”；
# * **键** $\mathbf{k}_i$：每个感官输入携带的非自主性提示，即“我是什么”；
# * **值** $\mathbf{v}_i$：与键一一配对的感官输入本身，即“我能提供什么”。
#
# **注意力汇聚**（attention pooling）用查询与每个键的匹配程度来决定从各个值中取多少：
#
# $$f(\mathbf{q}, \{(\mathbf{k}_1, \mathbf{v}_1), \ldots, (\mathbf{k}_n, \mathbf{v}_n)\})
#   = \sum_{i=1}^{n} \alpha(\mathbf{q}, \mathbf{k}_i)\, \mathbf{v}_i,
#   \qquad \alpha(\mathbf{q}, \mathbf{k}_i) \ge 0,\ \sum_{i=1}^{n} \alpha(\mathbf{q}, \mathbf{k}_i) = 1.$$
#
# 其中 $\alpha(\mathbf{q}, \mathbf{k}_i)$ 称为**注意力权重**（attention weight）：
# $n$ 个值上的一个概率分布。与之对照，平均汇聚相当于把所有权重固定为 $1/n$，不管查询是什么。
# 这一节用最简单的匹配程度：点积 $\mathbf{q}^\top\mathbf{k}_i$ 称为**打分**（score），
# 再用 softmax 把打分变成权重：
#
# $$\alpha(\mathbf{q}, \mathbf{k}_i) = \frac{\exp(\mathbf{q}^\top\mathbf{k}_i)}{\sum_{j=1}^{n} \exp(\mathbf{q}^\top\mathbf{k}_j)}.$$
#
# 其他打分方式是 10.2 和 10.3 节的主题。（到 10.6 节的自注意力，查询、键和值来自同一组输入，
# “自主”与“非自主”的比喻就不再贴切，但计算还是这一个。）
#
# 还有一个比心理学更直接的读法：注意力汇聚是一次**软的字典查找**（soft dictionary lookup）。
# Python 的字典 `d[q]` 拿查询和键比对，只有完全相同的那个键命中，取回与它配对的值；
# 注意力汇聚让每个键都“部分命中”，匹配得越好，它的值在结果里占得越多。
# 这也说明了键和值为什么是两样东西：键只用来被比较（凭什么找到我），值才是被取走的内容（找到后拿走什么），
# 就像电话簿按姓名查、取走的却是号码。本节后面会看到，权重集中到极限时，软查找就变回字典那样的精确查找。
# 下面用一个很小的例子把注意力汇聚和平均汇聚放在一起看：一个查询、三个二维的键，值是 10、20、30。

# %% [markdown]
# ![The notebook's example: one query, three keys, values 10/20/30, weights 0.79/0.11/0.11, output 13.20](figures/10.1-qkv-pooling.svg)
#
# 图 10.1.1 下面代码里的例子：查询 $\mathbf{q}=(1,0)$ 与每个键做点积得到打分，softmax 把打分变成权重，注意力汇聚按权重对值加权求和，得到 13.20（平均汇聚是 20）

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

average = values.mean(dim=0)  # 平均汇聚：与查询无关
weights, attended = attention_pooling(query, keys, values)  # 注意力汇聚：按权重加权求和
print("attention weights:", " ".join(f"{w:.4f}" for w in weights.tolist()))
print(f"average pooling  : {average.item():.2f}")
print(f"attention pooling: {attended.item():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.isclose(weights.sum(), torch.tensor(1.0)) and weights.argmax() == 0
assert average.item() == 20.0 and round(attended.item(), 2) == 13.20

# %% [markdown]
# 平均汇聚给出 20；注意力汇聚把 0.7870 的权重分给与查询最匹配的 $\mathbf{k}_1$，结果被拉向它的值 10，得到 13.20。
# `attention_pooling` 只有两行，把它拆开一步一步算，每一列都能用计算器核对（权重印 4 位小数，乘出来与最后一列在四舍五入的范围内一致）：

# %%
scores = keys @ query  # 第 1 步：打分 q·k_i
exp_scores = torch.exp(scores)  # 第 2 步：取指数，每个打分都变成正数
step_weights = exp_scores / exp_scores.sum()  # 第 3 步：归一化，和为 1（第 2、3 步合起来就是 softmax）
weighted = step_weights * values[:, 0]  # 第 4 步：每个值乘以它的权重，再求和
print(f"{'key':>4}{'value':>7}{'score':>7}{'exp':>8}{'weight':>8}{'weight*value':>14}")
for i in range(len(keys)):
    print(f"{f'k{i + 1}':>4}{values[i, 0].item():7.0f}{scores[i].item():7.2f}"
          f"{exp_scores[i].item():8.3f}{step_weights[i].item():8.4f}{weighted[i].item():14.2f}")
print(f"{'sum':>4}{'':>14}{exp_scores.sum().item():8.3f}{step_weights.sum().item():8.4f}"
      f"{weighted.sum().item():14.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(step_weights, weights) and torch.isclose(weighted.sum(), attended[0])
assert abs(exp_scores[0].item() - math.e**2) < 1e-4

# %% [markdown]
# $\mathbf{k}_2$ 和 $\mathbf{k}_3$ 与查询垂直，打分都是 0，$e^0 = 1$；$\mathbf{k}_1$ 的打分 2 变成 $e^2 \approx 7.389$，
# 占了总和 9.389 的 0.7870（$7.389/9.389$），另外两个各占 $1/9.389 \approx 0.1065$。
# 最后一列的和 13.20 正是 `attention_pooling` 的结果。
#
# ### 动手试试：转动查询
#
# 这个例子里只有一个查询。换一个查询，权重和结果都会变，这正是“自主性提示”起作用的方式。
# 下面的探索器（explorer）把三个键画成平面上的蓝色箭头，查询 $\mathbf{q} = (\cos\theta, \sin\theta)$ 是一支长度为 1 的橙色箭头；
# 右边是 `attention_pooling` 算出的三个权重；下方的数轴上，绿色刻度是三个值，虚线是平均汇聚的 20，紫色圆点是注意力汇聚的结果，旁边是打分和结果的数字。
# 滑块 θ 转动查询，滑块 c 把 $\mathbf{k}_2$ 换成 $c\,\mathbf{k}_2$（只改长度，不改方向）。
# 开始时是上面的例子（θ = 0°，c = 1）。先猜，再拖：
#
# 1. θ = 45° 时查询正好在 $\mathbf{k}_1$ 和 $\mathbf{k}_3$ 中间。这两个键长度相同，哪一个的权重更大？汇聚结果是多少？
# 2. $\mathbf{k}_2$ 与 $\mathbf{k}_3$ 方向相同，长度只有一半。θ 从 0° 转到 180°，$\mathbf{k}_2$ 的权重能超过 $\mathbf{k}_3$ 吗？
#    继续转过 180°，有没有哪个 θ 让最短的 $\mathbf{k}_2$ 拿到三个权重中最大的一个？
# 3. θ 停在 90°，把 c 从 1 拖到 2，再拖到 3.5：$\mathbf{k}_2$ 的权重怎样变？c = 2 时，$\mathbf{k}_2$ 和 $\mathbf{k}_3$ 的两根柱子是什么关系？

# %%
attention_cues.turning_query(keys, values)

# %% [markdown]
# 拖完再读答案。下面把上面几个状态的数字打印出来，与你拖到的画面对照：

# %%
attention_cues.print_states(keys, values, [(45, 1.0), (90, 1.0), (180, 1.0), (210, 1.0),
                                           (90, 2.0), (90, 3.5)])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
states = attention_cues.turning_query_states(keys, values)
w = {(r["theta"], r["c"], r["key"]): r["weight"] for r in states["weights"]}
assert w[(45, 1.0, "k1")] == w[(45, 1.0, "k3")] and "pooled value = 20.00" in " ".join(
    r["text"] for r in states["text"] if (r["theta"], r["c"]) == (45, 1.0))
assert all(w[(t, 1.0, "k2")] < w[(t, 1.0, "k3")] for t in range(15, 180, 15))
assert w[(0, 1.0, "k2")] == w[(0, 1.0, "k3")] and w[(180, 1.0, "k2")] == w[(180, 1.0, "k3")]
k2_wins = [t for t in range(0, 360, 15)
           if w[(t, 1.0, "k2")] > max(w[(t, 1.0, "k1")], w[(t, 1.0, "k3")])]
assert k2_wins == [195, 210, 225, 240], k2_wins  # 180° < θ < 180° + arctan 2 ≈ 243.4°
assert all(w[(t, 2.0, "k2")] == w[(t, 2.0, "k3")] for t in range(0, 360, 15))
assert [round(w[(90, c, "k2")], 3) for c in (1.0, 2.0, 3.5)] == [0.245, 0.468, 0.798]

# %% [markdown]
# 三个答案都来自同一个式子：点积 $\mathbf{q}^\top\mathbf{k} = \|\mathbf{q}\|\,\|\mathbf{k}\|\cos\varphi$（$\varphi$ 是两者的夹角）
# 既看方向，也看长度。
#
# 1. θ = 45° 时，$\mathbf{k}_1$ 和 $\mathbf{k}_3$ 的打分都是 $2\cos 45^\circ = 1.41$，权重打平（0.401 与 0.401），
#    汇聚结果恰好是平均值 20.00，虽然权重并不均匀（练习 3 会问：还有哪些查询也给出 20？）。
# 2. θ 在 0° 与 180° 之间时 $\sin\theta > 0$，$\mathbf{k}_3$ 的打分 $2\sin\theta$ 总是 $\mathbf{k}_2$ 的两倍，
#    $\mathbf{k}_2$ 的权重不会超过 $\mathbf{k}_3$（θ = 90° 时 0.245 对 0.665）；θ = 0° 和 180° 时查询与两者都垂直，打分都是 0，权重打平。
#    转过 180° 后查询背向它们，打分变成负数，这时长的 $\mathbf{k}_3$ 被罚得更重：θ = 210° 时打分是 −1.73、−0.50、−1.00，
#    最短的 $\mathbf{k}_2$ 拿到最大的权重 0.527。长度放大的是打分的绝对值，不论正负。（它在哪些角度最大？下一节一次算完全部 24 个角度。）
# 3. θ = 90° 时 $\mathbf{k}_2$ 的打分就是 c。c 从 1 到 3.5，它的权重从 0.245 升到 0.798。c = 2 时 $c\,\mathbf{k}_2 = \mathbf{k}_3$：
#    两个键完全相同，对任何查询打分都相同，所以两根柱子在每个 θ 都一样高（θ = 90° 时都是 0.468）。
#    只把一个键拉长，它就能在自己指向的那一侧拿走大部分注意力；练习 4 会推出这条曲线的闭式，以及 $c \to \infty$ 时的极限。
#
# **比喻在哪里不成立。** 开头的双组件框架帮我们给三个角色起名字，但它不是点积注意力的说明书，上面的数字就有三处对不上：
#
# * 非自主性提示本该不需要意图就起作用。可是没有查询时（$\mathbf{q} = \mathbf{0}$），三个打分都是 0，$e^0 = 1$，
#   三个权重都是 $1/3$：键自己吸引不到任何注意力（练习 3 会证明只有 $\mathbf{q} = \mathbf{0}$ 给出均匀权重）。
# * 键的长度最像“突出性”，但它只通过查询起作用：打分是 $\|\mathbf{q}\|\,\|\mathbf{k}\|\cos\varphi$，
#   查询与键垂直时（例如 θ = 0° 时的 $\mathbf{k}_2$），键再长打分也是 0。
# * 查询背向时，长度反而成了惩罚：θ = 210° 时赢的是最短、最“不醒目”的 $\mathbf{k}_2$。
#
# 在点积注意力里，一切注意力都经过查询；要让某个输入不靠查询也被注意，打分里得另加一项与查询无关的量。

# %% [markdown]
# ## 从一个查询到一批查询：矩阵形式
#
# 探索器一次只转一个查询。把 24 个角度 θ = 0°, 15°, …, 345° 的查询按行叠成矩阵 $\mathbf{Q}$（24×2），
# 三个键叠成 $\mathbf{K}$（3×2），值叠成 $\mathbf{V}$（3×1），所有打分就是一次矩阵乘法：
# $\mathbf{Q}\mathbf{K}^\top$ 是 24×3 的矩阵，第 $i$ 行第 $j$ 列是 $\mathbf{q}_i^\top\mathbf{k}_j$。
# 对每一行做 softmax 得到**注意力权重矩阵** $\mathbf{A}$（行对应查询，列对应键，每行和为 1），再乘 $\mathbf{V}$：
#
# $$\mathbf{A} = \operatorname{softmax}\big(\mathbf{Q}\mathbf{K}^\top / \tau\big), \qquad \text{输出} = \mathbf{A}\mathbf{V}\ \ (24 \times 1).$$
#
# `attention_pooling` 写成 `queries @ keys.T` 和 `dim=-1` 正是为此：传入一个查询 (d,) 得到 (n,) 个权重，
# 传入 m 个查询 (m, d) 得到 (m, n) 的权重矩阵。下面一次算完 24 个查询，再与逐个查询的循环比较：

# %%
thetas = list(range(0, 360, 15))
Q = attention_cues.unit_queries(thetas)  # (24, 2)：每行一个查询 (cos θ, sin θ)
A, pooled = attention_pooling(Q, keys, values)  # 一次矩阵乘法算完全部查询
one_by_one = torch.stack([attention_pooling(q, keys, values)[1] for q in Q])
print("Q", tuple(Q.shape), "@ K^T", tuple(keys.T.shape), "-> A", tuple(A.shape),
      "; A @ V ->", tuple(pooled.shape))
print(f"max |matrix form - one query at a time| = {(pooled - one_by_one).abs().max().item():.4f}")
print("θ where the shortest key k2 gets the largest weight:",
      [t for t, a in zip(thetas, A.tolist()) if a[1] > max(a[0], a[2])])

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (pooled - one_by_one).abs().max() < 1e-5 and torch.allclose(A.sum(dim=1), torch.ones(24))
assert [t for t, a in zip(thetas, A.tolist()) if a[1] > max(a[0], a[2])] == [195, 210, 225, 240]
A_c2 = attention_pooling(Q, keys * torch.tensor([[1.0], [2.0], [1.0]]), values)[0]
assert torch.equal(A_c2[:, 1], A_c2[:, 2])  # c = 2: k2 and k3 identical at every θ

# %% [markdown]
# 矩阵形式与逐个查询的结果一样（最大差 0.0000）。最短的 $\mathbf{k}_2$ 在 θ = 195° 到 240° 这四个角度拿到最大的权重：
# 查询背向 $\mathbf{k}_2$、$\mathbf{k}_3$，又还没转到 $\mathbf{k}_1$ 那一侧（由打分 $\sin\theta > 2\sin\theta$ 与 $\sin\theta > 2\cos\theta$
# 可以算出，正是 $180^\circ < \theta < 180^\circ + \arctan 2 \approx 243.4^\circ$）。
#
# ## 注意力的可视化
#
# 权重矩阵 $\mathbf{A}$ 画成热图（heatmap），就能一眼看出每个查询“看”向了哪些键：一行是一个查询，一列是一个键，颜色越深权重越大。
# 书中的 `show_heatmaps` 接受形状为（显示的行数，显示的列数，查询的数目，键的数目）的四维张量，
# 这样可以把多层、多头的注意力权重排成网格一次画出（10.5 和 10.7 节会用到）。
# 所有面板共用一个颜色刻度，只画一个颜色条：同样的颜色在图中任何位置都代表同样的权重。

# %%
#@save
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Heatmaps of matrices (num_rows, num_cols, num_queries, num_keys) on one colour scale;
    titles: one per grid column; xticklabels / yticklabels: one per key / per query."""
    d2l.check_heatmaps(matrices, titles, xticklabels, yticklabels)
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
# 把 24×3 的 $\mathbf{A}$ 变成一行一列的网格（形状 (1, 1, 24, 3)）画出来，左边标上每个查询的角度：

# %%
attention_weights = A.reshape((1, 1, 24, 3))
print("shape:", tuple(attention_weights.shape))
show_heatmaps(attention_weights, xlabel="Keys", ylabel="Query angle θ", figsize=(2.6, 5.2),
              xticklabels=["k1", "k2", "k3"], yticklabels=[f"{t}°" for t in thetas])
d2l.plt.show()

# %% [markdown]
# 这张图就是整个探索器（c = 1 时）压成了一张图。从上往下看每一行最深的格子：θ = 0° 到 30° 在 $\mathbf{k}_1$ 列；
# 45° 一行 $\mathbf{k}_1$ 与 $\mathbf{k}_3$ 打平；60° 到 165° 在 $\mathbf{k}_3$ 列（这一段 $\mathbf{k}_2$ 列浅一些：它与 $\mathbf{k}_3$ 同向，却只有一半长）；
# 180° 一行 $\mathbf{k}_2$ 与 $\mathbf{k}_3$ 打平；195° 到 240° 在 $\mathbf{k}_2$ 列；255° 到 345° 又回到 $\mathbf{k}_1$ 列。
# 每一行的三个格子加起来都是 1，所以没有哪一行全白。
#
# ### 温度：一个控制集中程度的旋钮
#
# `attention_pooling` 还有一个参数 $\tau > 0$，称为**温度**（temperature）：打分先除以 $\tau$ 再做 softmax，
# $\alpha_i = \operatorname{softmax}(\mathbf{s}/\tau)_i$。它不改变打分的排序，只改变权重有多集中。
# 下面还是这 24 个查询，三幅图分别取 $\tau = 0.1$、1（就是上面那张图）和 100，行仍然是查询。
# 看图之前先猜：$\tau$ 很小时每一行是什么样？θ = 45° 那一行（$\mathbf{k}_1$ 与 $\mathbf{k}_3$ 打平）呢？$\tau$ 很大时呢？

# %%
taus = [0.1, 1, 100]
by_tau = torch.stack([attention_pooling(Q, keys, values, tau)[0] for tau in taus])  # (3, 24, 3)
show_heatmaps(by_tau.unsqueeze(0), xlabel="Keys", ylabel="Query angle θ",
              titles=[f"τ = {tau:g}" for tau in taus], figsize=(6, 5.2),
              xticklabels=["k1", "k2", "k3"], yticklabels=[f"{t}°" for t in thetas])
d2l.plt.show()

# %% [markdown]
# $\tau = 0.1$ 时几乎每一行都只剩一个深红的格子：权重全给了打分最大的键，成了 one-hot；
# θ = 45° 和 180° 这两行有两个键并列最大，两个格子一样深，各一半（240° 一行也还看得出两格：那里 $\mathbf{k}_1$ 与 $\mathbf{k}_2$ 的打分只差 0.13）。$\tau = 100$ 时整幅图一片均匀的浅色：每个权重都接近 $1/3$。
# 三幅图共用一个颜色刻度（0 到 1），所以并列行里的格子（0.5）确实比 one-hot 行的格子（1.0）浅，而不是各自被拉伸到最深。
# 下面把 θ = 0° 和 θ = 45° 两行在六个温度下的数字打印出来：

# %%
print(f"{'tau':>5}   {'θ = 0°: weights':<20}{'pooled':>7}   {'θ = 45°: weights':<20}{'pooled':>7}")
for tau in [0.1, 0.3, 1, 3, 10, 100]:
    w, p = attention_pooling(Q[[0, 3]], keys, values, tau)  # θ = 0° 与 45° 两个查询
    print(f"{tau:>5g}" + "".join(f"   {' '.join(f'{a:.3f}' for a in row):<20}{v:7.2f}"
                                   for row, v in zip(w.tolist(), p[:, 0].tolist())))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
w_cold, p_cold = attention_pooling(Q[[0, 3]], keys, values, 0.1)
w_hot = attention_pooling(Q[[0, 3]], keys, values, 100)[0]
assert w_cold[0, 0] > 0.999 and abs(p_cold[0, 0] - 10) < 1e-3
assert (w_cold[1, [0, 2]] - 0.5).abs().max() < 1e-3 and (w_hot - 1 / 3).abs().max() < 0.005
assert all(abs(attention_pooling(Q[3], keys, values, tau)[1].item() - 20) < 1e-4
           for tau in [0.1, 0.3, 1, 3, 10, 100])
assert (by_tau[0].max(dim=1).values > 0.49).all() and (by_tau[2] - 1 / 3).abs().max() < 0.01

# %% [markdown]
# $\tau = 0.1$ 时，θ = 0° 的权重全在打分最大的 $\mathbf{k}_1$ 上（1.000），汇聚结果 10.00 正是 $v_1$：
# 这就是字典的**精确查找**，查询找到最匹配的那一个键，原样取回它的值。θ = 45° 有两个键并列最大，它们平分权重（0.500 与 0.500），
# 查找返回两个值的平均。$\tau$ 越大，权重越平：$\tau = 100$ 时两行的三个权重都离 $1/3$ 不到 0.005（0.338、0.331、0.331 与 0.334、0.332、0.334），
# θ = 0° 的汇聚结果 19.93 接近平均汇聚的 20。θ = 45° 的汇聚结果在每个 $\tau$ 下都是 20.00：$\mathbf{k}_1$ 和 $\mathbf{k}_3$ 的权重始终相等。
# 有限的 $\tau$ 给出的是**软查找**：每个值都贡献一点，权重随查询连续变化、可以求导，神经网络才能通过训练学会“查哪里”。
# 练习 5 会证明这两个极限。
#
# 温度会在后面两节换个名字再出现：10.2 节的高斯核 $\exp\big(-w^2(x - x_i)^2/2\big)$ 中，
# $w^2$ 就是 $1/\tau$（打分是 $-(x - x_i)^2/2$），$w$ 越大核越窄，也就是温度越低、权重越集中；
# 10.3 节的缩放点积注意力把打分除以 $\sqrt{d}$，就是取 $\tau = \sqrt{d}$，用来抵消维度 $d$ 变大时点积的量级跟着变大的效应
# （查询和键的各分量独立、均值为 0、方差为 1 时，点积的均值是 0，标准差是 $\sqrt{d}$）。
# 三个名字，同一个旋钮。

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中这一节只讲概念和 `show_heatmaps`，没有计算注意力汇聚的代码；这里的 `attention_pooling`、三个键的例子、矩阵形式和温度都是为了在本节就看到注意力汇聚在计算。
# * 书中用 `torch.eye(10)` 演示 `show_heatmaps`：单位矩阵是“每个查询只看与自己同位置的键”，只有对角线是亮的；这里画的是 24 个查询真正算出来的权重矩阵。
# * 书中的 `show_heatmaps` 让每个面板按自己的最小值和最大值着色，颜色条取自最后画的那个面板；这里所有面板共用一个刻度，颜色条对每个面板都成立，不同面板（例如 10.5 节的不同注意力头）的颜色才能互相比较。
# * 这里的 `show_heatmaps` 多了 `xticklabels` 和 `yticklabels` 两个参数，后面几节用它们把词元标在坐标轴上（例如 10.4 节的源句与译文）；参数的形状和标签个数由库里的 `d2l.check_heatmaps` 检查。书中的调用方式照样能用。
#
# </details>

# %% [markdown]
# ## 小结
#
# * 人的注意力受非自主性提示（刺激的突出性）和自主性提示（观察者的意图）共同驱动。
# * 注意力机制用查询表示自主性提示，用键表示非自主性提示，键与值成对出现。
# * 注意力汇聚按查询与键的匹配程度对值加权求和：打分 → softmax → 加权求和；权重非负且和为 1。平均汇聚是权重恒为 $1/n$ 的特例。
# * 注意力汇聚是软的字典查找：键用来比较，值是被取走的内容；权重集中到只剩一个键时，就是精确查找。
# * 多个查询一起算是两次矩阵乘法：$\operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top/\tau)\,\mathbf{V}$，权重矩阵的行对应查询、列对应键。
# * 点积打分同时看方向和长度：查询转向哪个键，哪个键的权重就大；把一个键拉长，它的打分按比例放大（正负都放大）。键的长度只通过查询起作用：$\mathbf{q} = \mathbf{0}$ 时权重均匀。
# * 温度 $\tau$ 控制权重的集中程度：$\tau \to 0$ 趋于 one-hot，$\tau \to \infty$ 趋于均匀；10.2 节的 $w^2$ 和 10.3 节的 $1/\sqrt{d}$ 都是 $1/\tau$。
# * 注意力权重矩阵可以画成热图：行是查询，列是键；多幅热图只有在同一颜色刻度上才能互相比较。
#
# ## 练习
#
# ### 练习 1
#
# 在机器翻译中，解码器一个词元一个词元地生成译文。生成下一个词元时，什么可以充当自主性提示（查询）？
# 非自主性提示（键）和感官输入（值）又分别是什么？

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：解码器“此刻想找什么”由它自己的状态决定：已经生成的前缀所对应的解码器隐状态
# （即将输出下一个词元时的那一个）就是查询，它体现了“意图”。感官输入是源句子：
# 编码器为每个源词元产生的表示就是值；与这些值一一配对、用来和查询比较的键，
# 通常也取这些编码器表示本身（或它们的线性变换）。它们是“非自主的”，因为无论解码器想找什么，
# 源句子的内容都在那里。每生成一个词元，查询就变一次，于是注意力会在源句子上移动——
# 10.4 节的 Bahdanau 注意力正是这样设计的。

# %% [markdown]
# ### 练习 2
#
# 为什么要对点积做 softmax，而不直接拿点积当权重？用本节开头的键和值，取查询 $\mathbf{q} = [1, -1]$：
# 把“原始点积当权重”的汇聚 $\sum_i (\mathbf{q}^\top \mathbf{k}_i)\, v_i$ 存为 `ex2_raw`，
# 把 softmax 后的汇聚存为 `ex2_soft`；再把查询加倍为 $[2, -2]$，结果分别存为 `ex2_raw_doubled` 和 `ex2_soft_doubled`
# （都是 Python 浮点数）。哪一种结果总落在值的范围 $[10, 30]$ 之内？为什么一定如此？查询加倍时两者各怎样变化？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def ex2_pool(q, soft):
    scores = keys @ q
    return ((torch.softmax(scores, dim=0) if soft else scores) @ values).item()


q = torch.tensor([1.0, -1.0])
ex2_raw, ex2_soft = ex2_pool(q, soft=False), ex2_pool(q, soft=True)
ex2_raw_doubled, ex2_soft_doubled = ex2_pool(2 * q, soft=False), ex2_pool(2 * q, soft=True)
print(f"raw dot products: {ex2_raw:.2f}, doubled query: {ex2_raw_doubled:.2f}")
print(f"softmax weights : {ex2_soft:.2f}, doubled query: {ex2_soft_doubled:.2f}")
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
# 仍用本节开头的键和值。探索器里 θ = 45° 的查询给出的汇聚结果恰好是平均汇聚的 20.00。
# 先在探索器里转一圈，找出另一个给出 20.00 的 θ；再推导：什么样的查询 $\mathbf{q} = [q_1, q_2]$ 使注意力汇聚的结果**恰好**等于 20？
# 把条件写成函数 `ex3_gives_average(q)`：直接用你推出的条件返回 `True` 或 `False`（不要调用 softmax）。
# 然后给出一个非零查询 `ex3_query`，它的汇聚结果是 20、权重却**不**均匀；再给出使三个权重都等于 $1/3$ 的查询
# `ex3_uniform_query`，并说明它是唯一的。汇聚结果等于平均值，是否意味着权重均匀？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 权重和为 1，故 10 a1 + 20 a2 + 30 a3 = 20 + 10 (a3 - a1)：结果为 20 当且仅当 a1 = a3，
# 即两个打分相等：q.k1 = 2 q1 与 q.k3 = 2 q2，所以 q1 = q2（一整条直线）。
# 权重均匀还要 a2 = a1，即 q2 = 2 q1，与 q1 = q2 合起来只有 q = 0。
# 所以结果等于平均值不等于权重均匀：q = [1, 1] 给出 [0.42, 0.16, 0.42]，加权和仍是 20。
# 探索器里另一个给出 20.00 的角度是 θ = 225°：q = (cos 225°, sin 225°) = (-0.71, -0.71) 也在直线 q1 = q2 上
# （单位圆与这条直线只交于 45° 和 225° 两点）。
def ex3_gives_average(q):
    return bool(q[0] == q[1])


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
# 点积不只看方向，也看长度。取查询 $\mathbf{q} = [1, 1]$，把本节的第 2 个键换成 $c\,\mathbf{k}_2$（$c$ 为实数），其余不变。
# 推导第 2 个权重 $\alpha_2(c)$ 的闭式表达，写成函数 `ex4_alpha2(c)`（参数和返回值都是 Python 浮点数，不要调用 softmax），
# 并求出使 $\mathbf{k}_2$ 恰好得到一半注意力的 $c$，存为 `ex4_c_half`。$c \to \infty$ 和 $c \to -\infty$ 时 $\alpha_2$ 趋于多少？
# 这对“键的长度”意味着什么？探索器里的 c 滑块做的正是这件事：先把 θ 放在 45°、拖动 c，看 $\mathbf{k}_2$ 的权重在哪个 c 附近过半。
# 那里的查询是单位向量 $[1, 1]/\sqrt{2}$，不是 $[1, 1]$；过半的 c 为什么与你推出的 `ex4_c_half` 不同？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 打分为 q.k1 = 2, q.(c k2) = c, q.k3 = 2，所以 alpha_2(c) = e^c / (e^c + 2 e^2)。
# alpha_2 = 1/2 时 e^c = 2 e^2，即 c = 2 + ln 2 ≈ 2.693。c -> ∞ 时 alpha_2 -> 1，c -> -∞ 时 -> 0：
# 方向不变，只把键拉长，就能让它独占注意力（反向拉长则被完全忽略）；键的长度和方向一样决定权重。
def ex4_alpha2(c):
    return 1.0 / (1.0 + 2.0 * math.exp(2.0 - c))


ex4_c_half = 2.0 + math.log(2.0)
print(f"c_half = {ex4_c_half:.4f}; alpha_2 at c = -5, 0, 2, c_half, 10:",
      [round(ex4_alpha2(c), 4) for c in (-5.0, 0.0, 2.0, ex4_c_half, 10.0)])
# 探索器的查询 [1, 1]/sqrt(2) 把三个打分都除以 sqrt(2)（相当于温度 tau = sqrt(2)）：打分为 sqrt(2), c/sqrt(2), sqrt(2)，
# 过半处 c/sqrt(2) = sqrt(2) + ln 2，即 c = 2 + sqrt(2) ln 2 ≈ 2.98，滑块上的 c = 3 处 alpha_2 刚过 1/2。
q45 = torch.tensor([1.0, 1.0]) / math.sqrt(2)
c45 = 2 + math.sqrt(2) * math.log(2)
print(f"explorer at theta = 45°: c_half = {c45:.2f}; alpha_2 at c = 3: "
      f"{attention_pooling(q45, keys * torch.tensor([[1.0], [3.0], [1.0]]), values)[0][1].item():.3f}")


# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def ex4_softmax_alpha2(c):
    scaled = keys.clone()
    scaled[1] *= c
    return torch.softmax(scaled @ torch.tensor([1.0, 1.0]), dim=0)[1].item()


for c in (-1.0, 0.0, 1.5, 3.0):
    print(f"c = {c:4.1f}: ex4_alpha2 {ex4_alpha2(c):.5f}, softmax {ex4_softmax_alpha2(c):.5f}")
    assert abs(ex4_alpha2(c) - ex4_softmax_alpha2(c)) < 1e-5, (
        f"ex4_alpha2({c}) = {ex4_alpha2(c):.5f}, but softmax gives {ex4_softmax_alpha2(c):.5f}")
print(f"ex4_c_half = {ex4_c_half:.4f}: softmax gives alpha_2 = {ex4_softmax_alpha2(ex4_c_half):.5f}")
assert abs(ex4_softmax_alpha2(ex4_c_half) - 0.5) < 1e-4, "at ex4_c_half, k_2 should get exactly 1/2"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
for c in (-8.0, 0.5, 2.0, 5.0, 12.0):
    assert abs(ex4_alpha2(c) - ex4_softmax_alpha2(c)) < 1e-5, c
assert abs(ex4_c_half - (2 + math.log(2))) < 1e-4


# %% [markdown]
# ### 练习 5
#
# 把打分除以**温度**（temperature）$\tau > 0$ 再做 softmax：$\alpha_i = \operatorname{softmax}(\mathbf{s} / \tau)_i$。
# 先证明 $\alpha_i / \alpha_j = \exp\big((s_i - s_j)/\tau\big)$，再由它推出 $\tau \to 0^+$ 和 $\tau \to \infty$ 时权重的极限
# （别忘了几个打分并列最大的情形）。把两个极限写成函数 `ex5_cold(scores)` 和 `ex5_hot(scores)`：
# 输入形状 `(..., n)` 的打分，沿最后一维返回极限权重，不调用 softmax。
# 上面温度热图的左右两幅（$\tau = 0.1$ 与 $\tau = 100$）已经露出了两个极限的样子，θ = 45° 和 180° 两行还有并列的情形。
# 用一组 $6 \times 8$ 随机打分（`torch.manual_seed(0)` 后 `torch.randn(6, 8)`）与 $\tau = 10^{-3}$ 和 $\tau = 10^{3}$ 的 softmax 比一比。

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
