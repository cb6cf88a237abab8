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
# $n$ 个值上的一个概率分布。与之对照，平均汇聚相当于把所有权重固定为 $1/n$，
# 不管查询是什么。下面用一个很小的例子把两者放在一起看。

# %% [markdown]
# ![Queries, keys, values and attention pooling](figures/10.1-qkv-pooling.svg)
#
# 图 10.1.1 查询、键和值：查询（自主性提示）与每个键（非自主性提示）比较得到注意力权重，注意力汇聚按权重对值（感官输入）加权求和（这里 $n = 4$，四个权重和为 1）

# %%
#@save
def attention_pooling(query, keys, values, tau=1.0):
    """Dot-product attention pooling of one query: weights softmax(keys @ query / tau), shape
    (n,), and the pooled value weights @ values. query: (d,), keys: (n, d), values: (n, v)."""
    weights = torch.softmax(keys @ query / tau, dim=0)  # 点积衡量匹配程度，softmax 使权重和为 1
    return weights, weights @ values


# %%
keys = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # 3 个键，每个 2 维
values = torch.tensor([[10.0], [20.0], [30.0]])  # 与键配对的 3 个值
query = torch.tensor([1.0, 0.0])  # 查询：“我在找第一维大的东西”

average = values.mean(dim=0)  # 平均汇聚：与查询无关
weights, attended = attention_pooling(query, keys, values)  # 注意力汇聚：按权重加权求和
print("attention weights:", [round(w, 3) for w in weights.tolist()])
print(f"average pooling  : {average.item():.2f}")
print(f"attention pooling: {attended.item():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.isclose(weights.sum(), torch.tensor(1.0)) and weights.argmax() == 0
assert average.item() == 20.0 and 10.0 < attended.item() < 15.0

# %% [markdown]
# 平均汇聚给出 20；注意力汇聚把大部分权重分给与查询最匹配的第 1 个键，结果被拉向 10。换一个查询，汇聚结果就会改变——这正是“自主性提示”起作用的方式。
# 至于 $\alpha$ 怎样计算（这里用了点积再做 softmax），是 10.2 和 10.3 节的主题。

# %% [markdown]
# ### 动手试试：转动查询
#
# 下面的探索器（explorer）预先用 `attention_pooling` 算好了查询方向 $\theta$（查询 $\mathbf{q} = (\cos\theta, \sin\theta)$）
# 和温度 $\tau$（打分先除以 $\tau$，练习 5 会用到）的每一种组合。拖动滑块：
# 把 $\theta$ 从 0° 转到 90°，看权重怎样从 $\mathbf{k}_1$ 移到 $\mathbf{k}_3$、汇聚结果怎样从 10 附近走向 30 附近；
# 再把 $\tau$ 调小，看权重何时几乎变成 one-hot。为什么 $\mathbf{k}_2$ 从来不会独占最大的权重？（它与 $\mathbf{k}_3$ 同向，却只有一半长。）

# %%
#@save
def pooling_states(keys, values, angles, taus):
    """Explorer rows: for each query angle (degrees) and temperature, the weights over the keys
    and one line with the pooled value, all from `attention_pooling`."""
    weights_rows, text_rows = [], []
    names = [f"k{i + 1}" for i in range(len(keys))]
    for theta in angles:
        query = torch.tensor([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
        for tau in taus:
            weights, pooled = attention_pooling(query, keys, values, tau)
            state = {"theta": theta, "tau": tau}
            weights_rows += d2l.rows(state, row_labels=("key", names), weight=weights)
            text_rows += d2l.rows(state, text=[f"pooled value = {pooled.item():.2f} "
                                               f"(average pooling: {values.mean().item():.2f})"])
    return weights_rows, text_rows


# %%
angles, taus = range(0, 181, 15), [0.25 * i for i in range(1, 13)]
weight_rows, text_rows = pooling_states(keys, values, angles, taus)
d2l.explorer((d2l.bar_view(weight_rows, "key", "weight", title="attention weights"),),
             d2l.text_view(text_rows, "text"),
             controls=[d2l.Slider("theta", angles, "query angle θ (degrees)"),
                       d2l.Slider("tau", taus, "temperature τ", default=1.0)],
             title="Turn the query", columns=1)

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
by_state = {(r["theta"], r["tau"], r["key"]): r["weight"] for r in weight_rows}
assert by_state[(0, 1.0, "k1")] > 0.7 and by_state[(90, 1.0, "k3")] > 0.6
assert all(by_state[(t, tau, "k2")] <= by_state[(t, tau, "k3")] for t in angles for tau in taus)
pooled = {(r["theta"], r["tau"]): float(r["text"].split()[3]) for r in text_rows}
assert pooled[(0, 1.0)] < 15 < 25 < pooled[(90, 1.0)]

# %% [markdown]
# ## 注意力的可视化
#
# 注意力权重构成一个矩阵：行对应查询，列对应键。把它画成热图（heatmap），
# 就能一眼看出每个查询“看”向了哪些键。下面的 `show_heatmaps` 接受形状为
# （显示的行数，显示的列数，查询的数目，键的数目）的四维张量，
# 这样可以把多层、多头的注意力权重排成网格一次画出（10.5 和 10.7 节会用到）。

# %%
#@save
def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None):
    """Draw a grid of heatmaps on one shared colour scale, with one colourbar true for all.

    matrices: (num_rows, num_cols, num_queries, num_keys); in each panel, rows are queries and
        columns are keys.
    titles: None or one title per grid column.
    xticklabels, yticklabels: None or one label per key / per query (tokens, for example).
    """
    d2l.check_heatmaps(matrices, titles, xticklabels, yticklabels)
    num_rows, num_cols, num_queries, num_keys = matrices.shape
    values = matrices.detach().cpu().float()
    # One scale for every panel: the same colour means the same weight everywhere in the figure.
    low, high = min(0.0, values.min().item()), values.max().item()
    norm = d2l.plt.Normalize(vmin=low, vmax=high if high > low else low + 1.0)
    d2l.use_svg_display()
    fig, axes = d2l.plt.subplots(num_rows, num_cols, figsize=figsize,
                                 sharex=True, sharey=True, squeeze=False)
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            image = ax.imshow(values[i, j].numpy(), cmap=cmap, norm=norm)
            if xticklabels is not None:
                ax.set_xticks(range(num_keys), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(num_queries), yticklabels)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(image, ax=axes, shrink=0.6)


# %% [markdown]
# 最简单的例子：查询与键一一对应、且只关注“自己”。此时注意力权重是单位矩阵，
# 热图上只有对角线是亮的。

# %%
attention_weights = torch.eye(10).reshape((1, 1, 10, 10))
print("shape:", tuple(attention_weights.shape))
show_heatmaps(attention_weights, xlabel="Keys", ylabel="Queries")
d2l.plt.show()

# %% [markdown]
# 再看一个更像真实模型的例子：对随机打分按行做 softmax。每一行仍然和为 1，
# 但权重分散在多个键上，颜色深浅表示每个查询把多少注意力分给了各个键。

# %%
torch.manual_seed(0)
scores = torch.randn(6, 8)  # 6 个查询，8 个键
random_weights = torch.softmax(scores, dim=-1)
print("row sums:", [round(s, 4) for s in random_weights.sum(dim=-1).tolist()])
show_heatmaps(random_weights.reshape(1, 1, 6, 8), xlabel="Keys", ylabel="Queries")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (random_weights > 0).all()
assert torch.allclose(random_weights.sum(dim=-1), torch.ones(6))

# %% [markdown]
# ### 为什么所有面板共用一个颜色刻度
#
# 热图的颜色只有在**同一个刻度**上才可比。如果每个面板各自把自己的最大值画成最深的红色，
# 那么一个“几乎只看一个键”的查询和一个“把注意力摊给所有键”的查询会被画得一样深，
# 读者就无从比较两者的集中程度。`show_heatmaps` 因此让所有面板共用同一个颜色范围（从 0 到全图的最大权重），
# 并只画一个颜色条（colorbar）：同样的颜色在图中任何位置都代表同样的权重。
#
# 书中的 `show_heatmaps` 让 `imshow` 按每个面板自己的最小值和最大值着色，颜色条取自最后画的那个面板；
# 这里所有面板共用一个刻度、颜色条对每个面板都成立，因为只有这样，不同面板（例如 10.5 节的不同注意力头）的颜色才能互相比较。
# 书中的函数也没有 `xticklabels` 和 `yticklabels`；这里加上了，因为后面几节要把词元或位置标在坐标轴上（例如 10.4 节的源句词元和译文词元）。
#
# 下面把同一组打分分别除以 0.5 和 5 后做 softmax：前者集中、后者平坦。
# 共用刻度时，平坦的那一幅明显更浅——这正是我们想看到的差别。

# %%
torch.manual_seed(0)
scores = torch.randn(6, 8)
sharp, flat = torch.softmax(scores / 0.5, dim=-1), torch.softmax(scores / 5, dim=-1)
print(f"largest weight: sharp {sharp.max().item():.3f}, flat {flat.max().item():.3f}")
show_heatmaps(torch.stack([sharp, flat]).unsqueeze(0), xlabel="Keys", ylabel="Queries",
              titles=["scores / 0.5", "scores / 5"], figsize=(7, 3.2),
              xticklabels=[f"k{j}" for j in range(8)], yticklabels=[f"q{i}" for i in range(6)])
limits = [tuple(round(v, 3) for v in ax.images[0].get_clim())
          for ax in d2l.plt.gcf().axes if ax.images]
print("colour range of each panel:", limits)
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert len(set(limits)) == 1 and limits[0][1] >= sharp.max().item() - 1e-3
assert flat.max() < 0.5 * sharp.max()

# %% [markdown]
# 两幅图的颜色范围相同，都从 0 到较集中那幅的最大权重。右图最深的格子也远比左图浅：
# 除以 5 之后，每个查询的注意力都摊在 8 个键上，没有哪个键能拿到左图那样大的权重。
# 若各画各的刻度，右图最深的格子也会是深红色，这个差别就看不出来了。
# 形状或标签个数不对时，`show_heatmaps` 会报错并说明需要什么，而不是画出一张错误的图。

# %% [markdown]
# ### 动手试试：温度
#
# 把同一组 $6 \times 8$ 打分除以任意温度 $\tau$：下面的热图同样只用一个颜色刻度（0 到 1），
# 每个 $\tau$ 的权重都已算好。把 $\tau$ 从 1 拖到 0.25，每行最深的格子更深、其余更浅，权重向最大打分的那个键集中；
# 拖到 3，整张图变浅，所有权重都挤到均匀的 $1/8 = 0.125$ 附近（没有一个超过 0.25）。练习 5 要求的正是 $\tau$ 走到两端的极限。

# %%
taus = [0.25 * i for i in range(1, 13)]
heat_rows = [row for tau in taus for row in d2l.rows(
    {"tau": tau}, weight=torch.softmax(scores / tau, dim=-1),
    row_labels=("query", [f"q{i}" for i in range(6)]), col_labels=("key", [f"k{j}" for j in range(8)]))]
d2l.explorer(d2l.heatmap_view(heat_rows, "key", "query", width=320, height=220),
             controls=[d2l.Slider("tau", taus, "temperature τ", default=1.0)],
             title="softmax(scores / tau)")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
heat = {tau: torch.tensor([r["weight"] for r in heat_rows if r["tau"] == tau]).reshape(6, 8)
        for tau in taus}
assert (heat[0.25].max(dim=1).values > heat[1.0].max(dim=1).values).all()
assert heat[3.0].max() < 0.25 and heat[3.0].min() > 0.05

# %% [markdown]
# ## 小结
#
# * 人的注意力受非自主性提示（刺激的突出性）和自主性提示（观察者的意图）共同驱动。
# * 注意力机制用查询表示自主性提示，用键表示非自主性提示，键与值成对出现。
# * 注意力汇聚按查询与键的匹配程度对值加权求和；权重非负且和为 1。平均汇聚是权重恒为 $1/n$ 的特例。
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
# 仍用本节开头的键和值。什么样的查询 $\mathbf{q} = [q_1, q_2]$ 使注意力汇聚的结果**恰好**等于平均汇聚的 20？
# 先推导条件，再写成函数 `ex3_gives_average(q)`：直接用你推出的条件返回 `True` 或 `False`（不要调用 softmax）。
# 然后给出一个非零查询 `ex3_query`，它的汇聚结果是 20、权重却**不**均匀；再给出使三个权重都等于 $1/3$ 的查询
# `ex3_uniform_query`。汇聚结果等于平均值，是否意味着权重均匀？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 权重和为 1，故 10 a1 + 20 a2 + 30 a3 = 20 + 10 (a3 - a1)：结果为 20 当且仅当 a1 = a3，
# 即两个打分相等：q.k1 = 2 q1 与 q.k3 = 2 q2，所以 q1 = q2（一整条直线）。
# 权重均匀还要 a2 = a1，即 q2 = 2 q1，与 q1 = q2 合起来只有 q = 0。
# 所以结果等于平均值不等于权重均匀：q = [1, 1] 给出 [0.42, 0.16, 0.42]，加权和仍是 20。
def ex3_gives_average(q):
    return bool(q[0] == q[1])


ex3_query = torch.tensor([1.0, 1.0])
ex3_uniform_query = torch.tensor([0.0, 0.0])
for name, q in (("ex3_query", ex3_query), ("ex3_uniform_query", ex3_uniform_query)):
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
# 这对“键的长度”意味着什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 打分为 q.k1 = 2, q.(c k2) = c, q.k3 = 2，所以 alpha_2(c) = e^c / (e^c + 2 e^2)。
# alpha_2 = 1/2 时 e^c = 2 e^2，即 c = 2 + ln 2 ≈ 2.693。c -> ∞ 时 alpha_2 -> 1，c -> -∞ 时 -> 0：
# 方向不变，只把键拉长，就能让它独占注意力（反向拉长则被完全忽略）；键的长度和方向一样决定权重。
def ex4_alpha2(c):
    return 1.0 / (1.0 + 2.0 * math.exp(2.0 - c))


ex4_c_half = 2.0 + math.log(2.0)
print(f"c_half = {ex4_c_half:.4f}; alpha_2 at c = -5, 0, 2, c_half, 10:",
      [round(ex4_alpha2(c), 4) for c in (-5.0, 0.0, 2.0, ex4_c_half, 10.0)])


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
# 先在上面的温度探索器里把 $\tau$ 拖到两端，猜一猜极限是什么样子。
# 用本节的 $6 \times 8$ 随机打分（`torch.manual_seed(0)` 后 `torch.randn(6, 8)`）与 $\tau = 10^{-3}$ 和 $\tau = 10^{3}$ 的 softmax 比一比。

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
