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
# 人时时刻刻被远超大脑处理能力的感官信息包围，却总能把有限的“算力”投向少数重要的东西。
# 神经网络能否也学会“挑重点”？这一节回答三件事：注意力由什么驱动，
# 怎样用查询（query）、键（key）和值（value）把它写成计算（查询还能用梯度下降学出来），怎样把“关注了哪里”画出来。

# %%
import torch

import d2l_attention as d2l
from d2l_attention.explore import attention_cues

# %% [markdown]
# ## 生物学中的注意力提示
#
# 心理学的“双组件”（two-component）框架把注意力的来源分成两种：
#
# * **非自主性提示**（nonvolitional cue）：由物体本身的**突出性**（saliency）引起。
#   桌上五本黑白封面的书和一个红色杯子，视线会不由自主地先落到杯子上。
# * **自主性提示**（volitional cue）：由观察者的**意图**驱动。想读书时，你会有意把目光移向书，哪怕它们并不醒目。
#
# 把“我在找什么”显式地交给模型，正是注意力机制与普通神经网络层的分界线。下面先搭起计算，再回到这张桌子，把杯子和书算一遍。

# %% [markdown]
# ## 查询、键和值
#
# 全连接层、平均汇聚或最大汇聚（pooling）只看输入本身。加入自主性提示，就多了三个角色：
#
# * **查询** $\mathbf{q}$：自主性提示，“我在找什么”；
# * **键** $\mathbf{k}_i$：每个输入携带的非自主性提示，“我是什么”；
# * **值** $\mathbf{v}_i$：与键配对的输入本身，“我能提供什么”。
#
# **注意力汇聚**（attention pooling）按查询与每个键的匹配程度，决定从各个值中取多少：
#
# $$f(\mathbf{q}, \{(\mathbf{k}_1, \mathbf{v}_1), \ldots, (\mathbf{k}_n, \mathbf{v}_n)\})
#   = \sum_{i=1}^{n} \alpha(\mathbf{q}, \mathbf{k}_i)\, \mathbf{v}_i,
#   \qquad \alpha(\mathbf{q}, \mathbf{k}_i) \ge 0,\ \sum_{i=1}^{n} \alpha(\mathbf{q}, \mathbf{k}_i) = 1.$$
#
# **注意力权重**（attention weight）$\alpha(\mathbf{q}, \mathbf{k}_i)$ 是 $n$ 个值上的概率分布；平均汇聚就是把它们都固定为 $1/n$。
# 这一节的匹配程度用点积 $\mathbf{q}^\top\mathbf{k}_i$，称为**打分**（score），再用 softmax 变成权重：
#
# $$\alpha(\mathbf{q}, \mathbf{k}_i) = \frac{\exp(\mathbf{q}^\top\mathbf{k}_i)}{\sum_{j=1}^{n} \exp(\mathbf{q}^\top\mathbf{k}_j)}.$$
#
# 另一个读法是**软的字典查找**（soft dictionary lookup）：字典 `d[q]` 只让完全相同的键命中；注意力汇聚让每个键都“部分命中”，打分越高，它的值占得越多。
# 键只用来比较，值才被取走，所以两者分开。先看一个很小的例子：一个查询、三个二维的键，值是 10、20、30。

# %% [markdown]
# ![The notebook's example: one query, three keys, values 10/20/30, weights 0.79/0.11/0.11, output 13.20](figures/10.1-qkv-pooling.svg)
#
# 图 10.1.1 下面代码里的例子：查询 $\mathbf{q}=(1,0)$ 与每个键做点积得到打分，softmax 把打分变成权重，按权重对值加权求和得到 13.20（平均汇聚是 20）

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
# 注意力汇聚把 0.7870 的权重给了与查询最匹配的 $\mathbf{k}_1$，结果被拉向它的值 10。把 `attention_pooling` 拆开一步一步算
# （权重印 4 位小数，乘出来与最后一列在四舍五入的范围内一致）：

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
assert abs(exp_scores[0].item() - torch.exp(torch.tensor(2.0)).item()) < 1e-4

# %% [markdown]
# $\mathbf{k}_2$、$\mathbf{k}_3$ 与查询垂直，打分 0，$e^0 = 1$；$\mathbf{k}_1$ 的打分 2 变成 $e^2 \approx 7.389$，占总和 9.389 的 0.7870。
#
# ### 回到桌上的杯子和书
#
# 同样的计算也能写出开头那张桌子。键有两个特征：醒目（红色）和能读（纸做的）。被醒目的东西吸引，写成只看“红色”的查询 $(1, 0)$；
# “我想读书”这个意图，写成只看“能读”的查询 $(0, 1)$。两个查询一样长，差别只在方向。值取 one-hot 的“视线落在哪一样”，汇聚结果就是视线的分布：

# %%
desk_cues = torch.tensor([[2.0, 0.0]] + [[0.0, 1.0]] * 5)  # 红杯子醒目；五本黑白的书不醒目，但能读
gaze = torch.eye(6)  # 值：视线落在第几样东西上
for cue, q in (("drawn by saliency, q = (1, 0)", [1.0, 0.0]), ("intent to read,  q = (0, 1)", [0.0, 1.0])):
    _, seen = attention_pooling(torch.tensor(q), desk_cues, gaze)
    print(f"{cue}: cup {seen[0].item():.2f}, five books together {seen[1:].sum().item():.2f}")

# %% [markdown]
# 同一桌东西、同样的键，只换查询，视线就从杯子（0.60）转到五本书（合计 0.93）。
#
# ### 动手试试：转动查询
#
# 回到 10、20、30 的例子。探索器（explorer）左边是蓝色的键和橙色的查询 $\mathbf{q} = (\cos\theta, \sin\theta)$，
# 右边是权重（柱子上方灰色的是打分），下方紫色圆点是汇聚结果，虚线是平均汇聚的 20。开始时是上面的例子。一次只动一个控件，先猜，再拖：
#
# 1. **θ**：从 0° 拖到 90°。哪根柱子长高？圆点往哪走？
# 2. **c**（把 $\mathbf{k}_2$ 换成 $c\,\mathbf{k}_2$）：θ 停在 90°，把 c 从 1 拖到 3.5，再拖到 −1。
# 3. **τ**（**温度**，temperature：打分先除以 τ）：回到 θ = 0°、c = 1，把 τ 换成 0.5，再换成 2。

# %%
attention_cues.turning_query(keys, values)

# %% [markdown]
# <details><summary>答案（先自己拖过，再打开）</summary>
#
# 1. 查询转向 $\mathbf{k}_3$，$\mathbf{k}_1$ 的柱子从 0.79 降到 0.09，$\mathbf{k}_3$ 的升到 0.67，圆点从 13.20 滑到 25.75，越过了平均的 20：**查询决定取回哪个值**。
#    途中 θ = 45° 时 $\mathbf{k}_1$、$\mathbf{k}_3$ 打平，结果恰好是 20（练习 3）。
# 2. θ = 90° 时 $\mathbf{k}_2$ 的打分就是 c。c = 2 时 $c\,\mathbf{k}_2 = \mathbf{k}_3$，两根柱子一样高（0.47）；c = 3.5 时它拿到 0.80；
#    c = −1 时背向查询，只剩 0.04。点积既看方向也看长度（练习 4）。
# 3. 因为 $\mathbf{q}^\top\mathbf{k}/\tau = (\mathbf{q}/\tau)^\top\mathbf{k}$，橙色箭头画的是 $\mathbf{q}/\tau$：τ = 0.5 时它长 2，打分翻倍，$\mathbf{k}_1$ 拿到 0.96；
#    τ = 2 时打分减半，权重趋向均匀（0.58、0.21、0.21）。温度不改打分的排序，只改权重有多集中（练习 5）。
#
# 下面折叠的单元格把这些状态多印一位小数，与探索器里的一致。
#
# </details>

# %% jupyter={"outputs_hidden": true, "source_hidden": true}
print("tau = 1 (questions 1 and 2):")
attention_cues.print_states(keys, values, [(0, 1.0), (45, 1.0), (90, 1.0), (90, 2.0), (90, 3.5),
                                           (90, -1.0)])
for tau in (0.5, 2.0):  # 问题 3
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

# %% [markdown]
# ### 查询可以学
#
# 权重随 $\mathbf{q}$ 连续变化、处处可导，所以查询也可以交给梯度下降去找：
# 从 $\mathbf{q} = \mathbf{0}$（权重均匀，结果 20）出发，要求汇聚结果等于 28，损失取 $(\text{结果} - 28)^2$，只更新 $\mathbf{q}$。

# %%
q = torch.zeros(2, requires_grad=True)  # 从“没有意图”出发
optimizer = torch.optim.SGD([q], lr=0.01)
for step in range(51):
    w, got = attention_pooling(q, keys, values)
    loss = ((got - 28.0) ** 2).sum()
    if step in (0, 5, 50):
        print(f"step {step:2d}: q = ({q[0].item():5.2f}, {q[1].item():5.2f}), weights",
              " ".join(f"{a:.3f}" for a in w.tolist()), f"-> pooled {got.item():.2f}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

# %% [markdown]
# 5 步后结果已到 27.50，50 步后是 27.98。梯度把 $\mathbf{q}$ 推离 $\mathbf{k}_1$（第一维变负：它的值 10 太小）、转向 $\mathbf{k}_3$（第二维变正：30 最大），
# 权重变成 0.005、0.192、0.803。没有人告诉它“去看 $\mathbf{k}_3$”，它从目标里学会了查哪里。
# 硬的字典查找（只取打分最大的键的值）没有这条路：

# %%
for theta in (0, 10):  # 把查询转 10°
    q_turned = attention_cues.unit_query(theta).requires_grad_()
    soft = attention_pooling(q_turned, keys, values)[1].sum()
    hard = attention_pooling(q_turned, keys, values, tau=1e-3)[1].sum()  # τ → 0：只取打分最大的键的值
    (g_soft,), (g_hard,) = torch.autograd.grad(soft, q_turned), torch.autograd.grad(hard, q_turned)
    print(f"θ = {theta:2d}°: soft {soft.item():5.2f}, gradient ({g_soft[0]:5.2f}, {g_soft[1]:5.2f}); "
          f"hard {hard.item():5.2f}, gradient ({g_hard[0] + 0.0:.2f}, {g_hard[1] + 0.0:.2f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for theta in (0, 10, 80, 100):
    q_check = attention_cues.unit_query(theta)
    w_hard = attention_pooling(q_check, keys, values, tau=1e-3)[0]
    assert torch.equal(w_hard, torch.eye(3)[(keys @ q_check).argmax()])  # 精确的 one-hot，与 argmax 相同
assert g_hard.abs().max() == 0 and g_soft.abs().min() > 1

# %% [markdown]
# 硬查找写成 τ = 0.001 的汇聚：权重已经是精确的 1、0、0，取回的就是打分最大的键的值（练习 5 的 τ → 0 极限）。
# 软汇聚跟着查询从 13.20 动到 14.11，autograd 给出非零梯度；硬查找停在 10.00，梯度是 (0.00, 0.00)，梯度下降无从下手。
# 书中说的硬注意力（只看一处，不可微）因此要用强化学习（reinforcement learning）来训练，软注意力则直接反向传播。
#
# ### 比喻在哪里不成立
#
# 非自主性提示本该不靠意图就起作用，可上面杯子的“醒目”也是写成查询 $(1, 0)$ 才起作用的。没有查询时：

# %%
uniform, pooled_q0 = attention_pooling(torch.zeros(2), keys, values)  # q = 0：没有任何意图
print("q = (0, 0): weights", " ".join(f"{a:.3f}" for a in uniform.tolist()),
      f"; pooled {pooled_q0.item():.2f}")
long_k2 = keys * torch.tensor([[1.0], [3.0], [1.0]])  # c = 3：k2 拉长 3 倍
print("θ = 0°, c = 3: weights", " ".join(f"{a:.3f}" for a in attention_pooling(query, long_k2, values)[0].tolist()))
away = attention_cues.unit_query(270)  # q = (0, -1)：背向 k2 和 k3
print("θ = 270°    : weights", " ".join(f"{a:.3f}" for a in attention_pooling(away, keys, values)[0].tolist()))

# %% [markdown]
# 权重都是 1/3，结果就是平均的 20.00：键自己吸引不到注意力。键的长度最像“突出性”，却只通过查询起作用：
# 与查询垂直的 $\mathbf{k}_2$ 拉长 3 倍，权重仍是 0.107（第二行）；查询背向时长度反而是惩罚：θ = 270° 时，长的 $\mathbf{k}_3$ 只拿到 0.090，比短的 $\mathbf{k}_2$（0.245）还少（第三行，练习 4）。在点积注意力里，一切注意力都经过查询。
#
# ## 软的字典查找：一个有意义的例子
#
# 值不必是一个数。下面桌上有四样东西，键描述它“是什么”（三个特征：红色、纸做的、高），值是它在桌上的位置 (x, y)（厘米）。
# 查询就是“我要找杯子”：用杯子的键去查。键的形状是 (4, 3)，值的形状是 (4, 2)，两者的维度无关，只要行数相同。

# %%
names = ["cup", "mug", "book", "lamp"]
desk_keys = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.0, 0.6],  # 特征：红色、纸做的、高
                          [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
desk_values = torch.tensor([[10.0, 20.0], [15.0, 25.0], [60.0, 5.0], [90.0, 40.0]])  # 位置 (x, y)
desk = dict(zip(names, desk_values.tolist()))  # 普通的字典：只有键完全相同才命中
print("keys", tuple(desk_keys.shape), "values", tuple(desk_values.shape), "; d['cup'] =", desk["cup"])
offsets = desk_values - desk_values[0]  # 每样东西离杯子的位置差 v_i - d['cup']
for tau in (0.01, 0.1, 0.25, 0.5):
    w, where = attention_pooling(desk_keys[0], desk_keys, desk_values, tau)  # 查询：杯子的键
    pulls = w[:, None] * offsets  # 误差 where - d['cup'] 正好是各行 w_i (v_i - d['cup']) 之和
    print(f"tau = {tau:<4g}: weights", " ".join(f"{a:.3f}" for a in w.tolist()),
          "-> pooled", [round(x, 2) for x in where.tolist()],
          f"; error {(where - desk_values[0]).norm().item():5.2f}: mug {pulls[1].norm().item():4.2f},"
          f" book+lamp {pulls[2:].sum(dim=0).norm().item():4.2f}")
print("desk key lengths:", " ".join(f"{n:.2f}" for n in desk_keys.norm(dim=1).tolist()))
w_k2, got_k2 = attention_pooling(keys[1], keys, values, 0.01)  # 回到三个键的例子：用 k2 本身去查
print("three keys, query = k2, tau = 0.01: weights", " ".join(f"{a:.3f}" for a in w_k2.tolist()),
      f"-> pooled {got_k2.item():.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
w_lookup, lookup = attention_pooling(desk_keys[0], desk_keys, desk_values, 0.01)
assert torch.allclose(lookup, desk_values[0]) and w_lookup[0] > 0.9999
for tau, mug_leads in ((0.1, True), (0.25, True), (0.5, False)):
    w_t, where_t = attention_pooling(desk_keys[0], desk_keys, desk_values, tau)
    pulls_t = w_t[:, None] * offsets
    assert torch.allclose(pulls_t.sum(dim=0), where_t - desk_values[0], atol=1e-4)
    assert (pulls_t[1].norm() > pulls_t[2:].sum(dim=0).norm()) == mug_leads

# %% [markdown]
# τ = 0.01 时权重是 one-hot，结果正好是 `d['cup']` 的 [10.0, 20.0]。这要求键一样长（这里都是 1.00）：τ → 0 取回的是**点积最大**的键的值，
# 用 $\mathbf{k}_2$ 本身去查，更长的 $\mathbf{k}_3 = 2\mathbf{k}_2$ 赢，取回 30 而不是 20（最后一行）。
#
# τ 升高，别的值就漏进结果，这是软查找的代价。权重和为 1，所以误差“结果 − `d['cup']`”恰好是每样东西的 $w_i(\mathbf{v}_i - \mathbf{v}_\text{cup})$ 之和，
# 可以按来源拆开（与坐标原点放在哪里无关）。先漏进来的是**相似**的键：τ = 0.1 时马克杯拿到 0.119，误差 0.85 几乎全来自它，书和台灯的权重还是 0.000；
# τ = 0.25 时马克杯（0.302）仍是误差的大头（2.14 对 1.60）。到 τ = 0.5，书和台灯各只有 0.070，却离杯子远得多，
# 拉偏 9.07，超过马克杯的 2.44，误差升到 10.99。相似的键先漏，不相似的键要等温度更高才漏，但一漏就因为离得远而代价大。
#
# ## 一句话上的注意力：矩阵形式与热图
#
# 把 *the black cat sat on the mat* 译成 *le chat noir s'assit sur le tapis* 时，写每个法语词都拿它去查英语句子（10.4 节的用法）。
# 键是手工设的词向量，五个特征：动物、物体、动作、虚词、颜色；同义词在两种语言里向量相同，长度都是 1。
# 值与键不同：值是英语词的身份（词表 6 个词，one-hot），于是输出的每一行写明一个法语词从哪些英语词取了多少。
#
# 把 7 个法语查询按行叠成 $\mathbf{Q}$（7×5），7 个英语键叠成 $\mathbf{K}$（7×5），值叠成 $\mathbf{V}$（7×6）。
# $\mathbf{Q}\mathbf{K}^\top$ 是 7×7 的打分矩阵，对每一行做 softmax 得到**注意力权重矩阵** $\mathbf{A}$（行对应查询，列对应键）：
#
# $$\mathbf{A} = \operatorname{softmax}\big(\mathbf{Q}\mathbf{K}^\top / \tau\big), \qquad \text{输出} = \mathbf{A}\mathbf{V}\ \ (7 \times 6).$$
#
# `attention_pooling` 写成 `queries @ keys.T` 和 `dim=-1`，正是为了一个查询 (d,) 和 m 个查询 (m, d) 都能用：

# %%
vectors = {"the": [0, 0, 0, 1, 0], "black": [0, 0, 0, 0, 1], "cat": [0.8, 0.6, 0, 0, 0],  # 特征：动物、物体、
           "sat": [0, 0, 1, 0, 0], "on": [0, 0.6, 0, 0.8, 0], "mat": [0, 1, 0, 0, 0]}  # 动作、虚词、颜色
meaning = {"le": "the", "chat": "cat", "noir": "black", "s'assit": "sat", "sur": "on", "tapis": "mat"}
english = "the black cat sat on the mat".split()
french = "le chat noir s'assit sur le tapis".split()
vocab = list(vectors)  # 6 个不同的英语词
K = torch.tensor([vectors[word] for word in english], dtype=torch.float32)  # (7, 5)
Q = torch.tensor([vectors[meaning[word]] for word in french], dtype=torch.float32)  # (7, 5)
V = torch.eye(len(vocab))[[vocab.index(word) for word in english]]  # (7, 6)：每个英语词是哪个词
A, out = attention_pooling(Q, K, V, tau=0.25)  # 一次矩阵乘法算完全部查询
one_by_one = torch.stack([attention_pooling(q, K, V, tau=0.25)[1] for q in Q])
print("Q", tuple(Q.shape), "@ K^T", tuple(K.T.shape), "-> A", tuple(A.shape), "; A @ V", tuple(V.shape),
      "->", tuple(out.shape))
print(f"max |matrix form - one query at a time| = {(out - one_by_one).abs().max().item():.4f}")
for i in (2, 0, 4):  # noir、第一个 le、sur：输出是词表上的分布
    print(f"output for {french[i]:>4}:", " ".join(f"{e}={a:.2f}" for e, a in zip(vocab, out[i].tolist())))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (out - one_by_one).abs().max() < 1e-5 and torch.allclose(A.sum(dim=1), torch.ones(7))
assert torch.allclose(K.norm(dim=1), torch.ones(7)) and torch.allclose(Q.norm(dim=1), torch.ones(7))
assert torch.allclose(out.sum(dim=1), torch.ones(7)) and out[2].argmax() == vocab.index("black")
assert out[4, vocab.index("on")] > out[4, vocab.index("the")] > 0.4

# %% [markdown]
# 两种算法一样（最大差 0.0000）。读输出：*noir* 一行 0.90 是 *black*，它几乎只取回了 *black*；*le* 从两个 *the* 取回 0.79，还混进 0.18 的 *on*；
# *sur* 最含糊，*on* 0.45、*the* 0.41 差不多各半。这些比例从哪来，要看 $\mathbf{A}$：把它画成热图（heatmap），一行一个查询，一列一个键，颜色越深权重越大。
# 书中的 `show_heatmaps` 接受四维张量（显示的行数，显示的列数，查询数，键数），以便把多层、多头的注意力排成网格，每个面板按自己的范围着色。
# 这里的版本让所有面板共用一个颜色刻度，不同面板的深浅才能互相比较（练习 6 问的就是这一点）。

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
# 并排画两幅：左边 τ = 1，右边是上面算的 τ = 0.25，形状 (1, 2, 7, 7)。先猜：两行 *le* 会是什么样？

# %%
by_tau = torch.stack([attention_pooling(Q, K, V, tau)[0] for tau in (1.0, 0.25)]).unsqueeze(0)
show_heatmaps(by_tau, xlabel="English keys", ylabel="French queries", titles=["τ = 1", "τ = 0.25"],
              figsize=(7, 3.6), xticklabels=english, yticklabels=french)
d2l.plt.show()
for i in (0, 4):  # 第一个 le 和 sur
    print(f"tau = 0.25, {french[i]:>4}:", " ".join(f"{e}={a:.2f}" for e, a in zip(english, A[i].tolist())))
print(f"tau = 1: largest weight in any row {by_tau[0, 0].max().item():.2f} (uniform: 1/7 = {1 / 7:.2f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert A.argmax(dim=1).tolist() == [0, 2, 1, 3, 4, 0, 6] and torch.equal(A[0], A[5])
assert torch.isclose(A[0, 0], A[0, 5]) and (A[[1, 2, 3, 6]].max(dim=1).values > 0.6).all()
assert by_tau[0, 0].max() < 0.35 and torch.equal(by_tau[0, 1], A)

# %% [markdown]
# 右图（τ = 0.25）里 7 行中有 4 行（*chat*、*noir*、*s'assit*、*tapis*）只有一个深色格子：这些法语词找到了意思相同的英语词，不管它站在哪里。
# *chat* 和 *noir* 两行的深格左右交叉（法语的形容词在名词后面）：注意力比较的是内容，不看位置。
# 两行 *le* 一模一样：两个 *the* 的键完全相同，各约 0.40（合起来是上面输出里的 0.79），剩下的 0.18 漏给了同样带“虚词”特征的 *on*。
# 点积分不出哪个 *the* 在前，10.6 节的位置编码就是为此加进去的。除两行 *le* 外，*sur* 最分散（最大权重 0.45）：它与两个 *the* 共享“虚词”（各 0.20），与 *mat* 共享“物体”。
# 左图（τ = 1）几乎一片浅色：单位向量的打分只在 0 到 1 之间，最大的权重只有 0.31，离均匀的 1/7 ≈ 0.14 不远。集中与否全看温度。
#
# ### 真实网络里的查询、键和值
#
# 这里的 $\mathbf{Q}$、$\mathbf{K}$、$\mathbf{V}$ 是手工设的。在网络里，它们由输入经过学到的线性映射算出：
# $\mathbf{Q} = \mathbf{X}_\text{fr}\mathbf{W}_q$，$\mathbf{K} = \mathbf{X}_\text{en}\mathbf{W}_k$，$\mathbf{V} = \mathbf{X}_\text{en}\mathbf{W}_v$，
# 三个矩阵 $\mathbf{W}$ 像上面的 $\mathbf{q}$ 一样用梯度下降学出来（上面的例子相当于 $\mathbf{W}_q = \mathbf{W}_k = \mathbf{I}$）。
# 查询来自一个序列（法语）、键和值来自另一个（英语），叫**交叉注意力**（cross-attention），10.4 节的解码器就这样用；
# 10.6 节的**自注意力**（self-attention）让三者来自同一个序列。10.3 节换别的打分函数，10.5 节用几组 $\mathbf{W}$ 并行算出多个注意力头。

# %%
torch.manual_seed(0)
W_q, W_k, W_v = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 3)  # 未训练的映射：词向量 5 维 -> 4、4、3 维
A_net, out_net = attention_pooling(Q @ W_q, K @ W_k, K @ W_v)  # Q、K 在这里就是两种语言的词向量 X_fr、X_en
print("Q W_q", tuple((Q @ W_q).shape), " K W_k", tuple((K @ W_k).shape), " K W_v", tuple((K @ W_v).shape),
      "-> A", tuple(A_net.shape), ", output", tuple(out_net.shape))

# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * 书中这一节只讲概念和 `show_heatmaps`，不计算注意力汇聚；这里的 `attention_pooling` 和所有例子都是为了在本节就看到它在计算。
# * 书中用 `torch.eye(10)` 演示 `show_heatmaps`；这里画的是一句话上真正算出来的权重矩阵，书中的随机矩阵见练习 6。
# * 书中的 `show_heatmaps` 让每个面板按自己的范围着色，颜色条取自最后一个面板；这里所有面板共用一个刻度，不同面板（例如 10.5 节的不同注意力头）才能互相比较。
# * 这里的 `show_heatmaps` 多了 `xticklabels` 和 `yticklabels`，用来标出词元；参数由库里的 `d2l.check_heatmaps` 检查。书中的调用方式照样能用。
#
# </details>

# %% [markdown]
# ## 小结
#
# * 注意力由非自主性提示（突出性）和自主性提示（意图）驱动；注意力机制用查询表示意图，键与值成对出现。
# * 注意力汇聚 = 打分 → softmax → 对值加权求和，是软的字典查找：查询决定取回哪个值；键 (n, d) 用来比较，值 (n, v) 被取走。
# * 点积打分同时看方向和长度；$\mathbf{q} = \mathbf{0}$ 时权重均匀，一切注意力都经过查询。权重对查询可导，查询可以用梯度下降学出来（硬查找不行）。
# * 多个查询一起算：$\operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top/\tau)\,\mathbf{V}$，权重矩阵的行是查询、列是键，画成热图就看出每个词元在看哪里。
# * 在网络里 $\mathbf{Q}$、$\mathbf{K}$、$\mathbf{V}$ 由输入乘以学到的 $\mathbf{W}_q$、$\mathbf{W}_k$、$\mathbf{W}_v$ 得到；查询和键值来自不同序列是交叉注意力，来自同一序列是自注意力（10.6 节）。
# * 温度 $\tau$（等于把查询拉长 $1/\tau$ 倍）控制集中程度：$\tau \to 0$ 取回点积最大的键的值，$\tau \to \infty$ 是平均。10.2 节的 $w^2$、10.3 节的 $1/\sqrt{d}$ 都是 $1/\tau$。
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
# 取探索器里 θ = 90° 的查询 $\mathbf{q} = [0, 1]$，把第 2 个键换成 $c\,\mathbf{k}_2$（$c$ 为实数，τ = 1）。
# 推导第 2 个权重 $\alpha_2(c)$ 的闭式表达，写成函数 `ex4_alpha2(c)`（参数和返回值都是 Python 浮点数，不要调用 softmax），
# 并求出使 $\mathbf{k}_2$ 恰好得到一半注意力的 $c$，存为 `ex4_c_half`；在探索器里拖 c 核对。$c \to \pm\infty$ 时 $\alpha_2$ 趋于多少？
#
# 长度也可能是惩罚：c = 1、θ = 210° 时，最短的 $\mathbf{k}_2$ 反而拿到最大的权重。
# 求出 $\mathbf{k}_2$ 权重最大的全部 θ（度，$0 \le \theta < 360$），它是一个区间，存为 `ex4_k2_range = (lo, hi)`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
import math


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
# 把打分除以**温度**（temperature）$\tau > 0$ 再做 softmax：$\alpha_i = \operatorname{softmax}(\mathbf{s} / \tau)_i$。
# 先证明 $\alpha_i / \alpha_j = \exp\big((s_i - s_j)/\tau\big)$，再由它推出 $\tau \to 0^+$ 和 $\tau \to \infty$ 时权重的极限
# （别忘了几个打分并列最大的情形）。把两个极限写成函数 `ex5_cold(scores)` 和 `ex5_hot(scores)`：
# 输入形状 `(..., n)` 的打分，沿最后一维返回极限权重，不调用 softmax。
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


# %% [markdown]
# ### 练习 6
#
# 书中的这个练习用 `show_heatmaps` 画一个随机的注意力权重矩阵。`torch.manual_seed(0)` 后取 10×10 的随机打分 `torch.randn(10, 10)`，
# 对每一行做 softmax，存为 `ex6_weights`（10 个查询、10 个键），用 `show_heatmaps` 画出来（行是查询，列是键）。
# 哪个查询（行号，从 0 起）的注意力最集中（最大权重最大）？存为 `ex6_most_focused`，并打印每行的最大权重。
# 图上的颜色能回答这个问题吗？如果把 10 个查询画成 10 个面板、每个面板各用自己的颜色刻度（书中的做法），还能吗？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex6-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex6_weights = torch.softmax(torch.randn(10, 10), dim=-1)
ex6_most_focused = int(ex6_weights.max(dim=1).values.argmax())
print("largest weight of each query:", " ".join(f"{m:.2f}" for m in ex6_weights.max(dim=1).values.tolist()))
print("most focused query:", ex6_most_focused)
show_heatmaps(ex6_weights.reshape(1, 1, 10, 10), xlabel="Keys", ylabel="Queries", figsize=(3.5, 3.5))
d2l.plt.show()
# 能：整幅图一个颜色刻度，最深的格子所在的行就是最集中的查询。若每个面板各自拉伸到自己的最大值，
# 每个面板里最深的格子颜色都一样，面板之间就无法比较集中程度。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex6-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(0)
ex6_want = torch.softmax(torch.randn(10, 10), dim=-1)
print(f"max |ex6_weights - softmax(scores)| = {(ex6_weights - ex6_want).abs().max().item():.1e}")
print(f"ex6_most_focused = {ex6_most_focused}: its largest weight "
      f"{ex6_want[ex6_most_focused].max().item():.3f}")
assert tuple(ex6_weights.shape) == (10, 10) and torch.allclose(ex6_weights, ex6_want, atol=1e-6)
assert ex6_want[ex6_most_focused].max() == ex6_want.max(dim=1).values.max(), (
    "the most focused query is the row with the largest weight")
