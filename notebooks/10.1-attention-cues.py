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
    for what, labels, want in (("titles", titles, num_cols), ("xticklabels", xticklabels, num_keys),
                               ("yticklabels", yticklabels, num_queries)):
        if labels is not None and len(labels) != want:
            raise ValueError(f"got {len(labels)} {what} for {want} "
                             f"{'columns of heatmaps' if what == 'titles' else 'rows/columns'}")
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
# 形状不对时，`show_heatmaps` 会直接说明需要怎样的张量，而不是画出一张错误的图：

# %%
try:
    show_heatmaps(torch.eye(3), xlabel="Keys", ylabel="Queries")
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## 小结
#
# * 人的注意力受非自主性提示（刺激的突出性）和自主性提示（观察者的意图）共同驱动。
# * 注意力机制用查询表示自主性提示，用键表示非自主性提示，键与值成对出现。
# * 注意力汇聚按查询与键的匹配程度对值加权求和；权重非负且和为 1。平均汇聚是权重恒为 $1/n$ 的特例。
# * 注意力权重矩阵可以画成热图：行是查询，列是键。
#
# ## 练习
#
# 1. 把上面小例子中的查询换成 `[0.0, 1.0]`，注意力汇聚的结果会怎样变化？为什么？
# 2. 把打分乘以一个“温度”系数 $1/\tau$ 再做 softmax。$\tau$ 很小和很大时，热图分别是什么样子？

# %% tags=["solution"]
# 练习 1 的参考答案：查询偏向第二维，第 3 个键匹配得最好，结果被拉向 30。
query2 = torch.tensor([0.0, 1.0])
weights2 = torch.softmax(keys @ query2, dim=0)
print("weights:", [round(w, 3) for w in weights2.tolist()])
print(f"attention pooling: {(weights2 @ values).item():.2f}")
assert (weights2 @ values).item() > attended.item()

# %% tags=["solution"]
# 练习 2 的参考答案：tau 小时每行几乎只剩最大的一个键（接近 one-hot），tau 大时趋于均匀分布。
torch.manual_seed(0)
scores = torch.randn(6, 8)
temps = [0.1, 1.0, 10.0]
grid = torch.stack([torch.softmax(scores / t, dim=-1) for t in temps]).unsqueeze(0)
print("max weight per row, averaged:",
      [round(w, 2) for w in grid[0].max(dim=-1).values.mean(dim=-1).tolist()])
show_heatmaps(grid, xlabel="Keys", ylabel="Queries",
              titles=[f"tau={t}" for t in temps], figsize=(7, 2.5))
d2l.plt.show()
