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
# 图 10.1.1 查询、键和值：查询（自主性提示）与每个键（非自主性提示）比较得到注意力权重，注意力汇聚按权重对值（感官输入）加权求和

# %%
torch.manual_seed(0)
keys = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # 3 个键，每个 2 维
values = torch.tensor([[10.0], [20.0], [30.0]])  # 与键配对的 3 个值
query = torch.tensor([1.0, 0.0])  # 查询：“我在找第一维大的东西”

average = values.mean(dim=0)  # 平均汇聚：与查询无关
weights = torch.softmax(keys @ query, dim=0)  # 用点积衡量查询与每个键的匹配程度
attended = weights @ values  # 注意力汇聚：按权重加权求和
print("attention weights:", [round(w, 3) for w in weights.tolist()])
print(f"average pooling  : {average.item():.2f}")
print(f"attention pooling: {attended.item():.2f}")
assert torch.isclose(weights.sum(), torch.tensor(1.0))

# %% [markdown]
# 平均汇聚给出 20；注意力汇聚把大部分权重分给与查询最匹配的第 1 个键，结果被拉向 10。换一个查询，汇聚结果就会改变——这正是“自主性提示”起作用的方式。
# 至于 $\alpha$ 怎样计算（这里用了点积再做 softmax），是 10.2 和 10.3 节的主题。

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
    if matrices.dim() != 4:
        raise ValueError(
            f"show_heatmaps expects a 4-D tensor (num_rows, num_cols, num_queries, num_keys), "
            f"got shape {tuple(matrices.shape)}; add axes with reshape or unsqueeze"
        )
    num_rows, num_cols, num_queries, num_keys = matrices.shape
    for what, labels, want, unit in (
            ("titles", titles, num_cols, "columns of heatmaps"),
            ("xticklabels", xticklabels, num_keys, "keys (columns of each heatmap)"),
            ("yticklabels", yticklabels, num_queries, "queries (rows of each heatmap)")):
        if labels is not None and len(labels) != want:
            raise ValueError(f"got {len(labels)} {what} for {want} {unit}; "
                             f"pass exactly one label per item, or None")
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

# %% [markdown]
# ### 为什么所有面板共用一个颜色刻度
#
# 热图的颜色只有在**同一个刻度**上才可比。如果每个面板各自把自己的最大值画成最深的红色，
# 那么一个“几乎只看一个键”的查询和一个“把注意力摊给所有键”的查询会被画得一样深，
# 读者就无从比较两者的集中程度。`show_heatmaps` 因此让所有面板共用同一个颜色范围（从 0 到全图的最大权重），
# 并只画一个颜色条（colorbar）：同样的颜色在图中任何位置都代表同样的权重。
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
figure = d2l.plt.gcf()
limits = {tuple(round(v, 3) for v in ax.images[0].get_clim()) for ax in figure.axes if ax.images}
print("colour range of every panel:", limits)
assert len(limits) == 1 and max(limits.pop()) >= sharp.max().item() - 1e-3
assert flat.max() < 0.5 * sharp.max()
d2l.plt.show()

# %% [markdown]
# 两幅图的颜色范围相同，都从 0 到较集中那幅的最大权重。右图最深的格子也远比左图浅：
# 除以 5 之后，每个查询的注意力都摊在 8 个键上，没有哪个键能拿到左图那样大的权重。
# 若各画各的刻度，右图最深的格子也会是深红色，这个差别就看不出来了。
#
# 形状或标签个数不对时，`show_heatmaps` 会直接说明需要什么，而不是画出一张错误的图：

# %%
for bad_call in (lambda: show_heatmaps(torch.eye(3), xlabel="Keys", ylabel="Queries"),
                 lambda: show_heatmaps(torch.eye(3).reshape(1, 1, 3, 3), xlabel="Keys",
                                       ylabel="Queries", xticklabels=["a", "b"])):
    try:
        bad_call()
    except ValueError as e:
        print("ValueError:", e)

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
# 随机生成一个 $5 \times 8$ 的打分矩阵（先 `torch.manual_seed(0)`），对每一行做 softmax，
# 得到一个合法的注意力权重矩阵，存为 `ex2_weights`，并用 `show_heatmaps` 画出来。
# 合法意味着什么？每个元素非负，每一行和为 1。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
torch.manual_seed(0)
ex2_weights = torch.softmax(torch.randn(5, 8), dim=-1)
show_heatmaps(ex2_weights.reshape(1, 1, 5, 8), xlabel="Keys", ylabel="Queries", figsize=(3.5, 3))
d2l.plt.show()
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex2_weights.shape) == (5, 8), "ex2_weights should have shape (5, 8)"
assert (ex2_weights >= 0).all(), "attention weights must be non-negative"
assert torch.allclose(ex2_weights.sum(dim=-1), torch.ones(5)), "every row must sum to 1"
assert ex2_weights.std(dim=-1).min() > 1e-3, "rows should come from random scores, not be uniform"
assert not torch.allclose(ex2_weights[0], ex2_weights[1]), "rows should differ from each other"

# %% [markdown]
# ### 练习 3
#
# 把本节开头小例子中的查询换成 $[0, 1]$（键和值不变），重新计算注意力权重和汇聚结果，
# 分别存为 `ex3_weights`（形状 `(3,)`）和 `ex3_pooled`（一个 Python 浮点数）。
# 结果比原来大还是小？为什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
# 查询偏向第二维，第 3 个键 [0, 2] 与它的点积最大，于是结果被拉向 30。
ex3_weights = torch.softmax(keys @ torch.tensor([0.0, 1.0]), dim=0)
ex3_pooled = (ex3_weights @ values).item()
print("weights:", [round(w, 3) for w in ex3_weights.tolist()], f" pooled: {ex3_pooled:.2f}")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex3_weights.shape) == (3,), "ex3_weights should hold one weight per key"
assert torch.isclose(ex3_weights.sum(), torch.tensor(1.0)), "the weights must sum to 1"
assert isinstance(ex3_pooled, float), "ex3_pooled should be a Python float (use .item())"
### BEGIN HIDDEN TESTS
assert ex3_weights.argmax().item() == 2, "the third key matches the query [0, 1] best"
assert 25.0 < ex3_pooled < 26.5, "pooled value should be pulled towards 30"
### END HIDDEN TESTS

# %% [markdown]
# ### 练习 4
#
# 把打分除以一个**温度**（temperature）$\tau > 0$ 再做 softmax：$\operatorname{softmax}(\mathbf{s} / \tau)$。
# 用本节的 $6 \times 8$ 随机打分（`torch.manual_seed(0)` 后 `torch.randn(6, 8)`），
# 对 $\tau \in \{0.1, 1, 10\}$ 计算“每行最大权重的平均值”，存为字典 `ex4_mean_max`（键为 $\tau$），
# 并把三个权重矩阵并排画在一幅图里。$\tau$ 很小和很大时，热图分别是什么样子？
# 提示：8 个键上的权重，最大值至少是 $1/8$，至多是 1。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
### BEGIN SOLUTION
# tau 小时大多数行几乎只剩打分最大的那个键（接近 one-hot；两个最高分很接近的行会分给两个键），
# tau 大时各键的权重趋于相同的 1/8。
torch.manual_seed(0)
ex4_scores = torch.randn(6, 8)
ex4_temps = [0.1, 1.0, 10.0]
ex4_grid = torch.stack([torch.softmax(ex4_scores / t, dim=-1) for t in ex4_temps])
ex4_mean_max = {t: w.max(dim=-1).values.mean().item() for t, w in zip(ex4_temps, ex4_grid)}
print("mean max weight per row:", {t: round(m, 3) for t, m in ex4_mean_max.items()})
show_heatmaps(ex4_grid.unsqueeze(0), xlabel="Keys", ylabel="Queries",
              titles=[f"tau = {t}" for t in ex4_temps], figsize=(9, 3))
d2l.plt.show()
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex4_mean_max) == {0.1, 1.0, 10.0}, "ex4_mean_max needs the keys 0.1, 1.0 and 10.0"
m = [ex4_mean_max[t] for t in (0.1, 1.0, 10.0)]
assert all(1 / 8 - 1e-6 <= v <= 1 + 1e-6 for v in m), "a max weight over 8 keys lies in [1/8, 1]"
assert m[0] > m[1] > m[2], "a higher temperature must spread the weights: mean max should drop"
### BEGIN HIDDEN TESTS
assert m[0] > 0.8, "tau=0.1 should be close to one-hot"
assert m[2] < 0.15, "tau=10 should be nearly uniform (close to 1/8)"
### END HIDDEN TESTS
