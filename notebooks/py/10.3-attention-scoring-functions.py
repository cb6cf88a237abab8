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
# # 10.3 注意力评分函数
#
# 10.1 节用点积给键打分，10.2 节用高斯核，再用 softmax 把分数变成权重。
# 打分的函数叫**注意力评分函数**（attention scoring function）。**分数应该怎样算？**
# 主线：两种评分函数（加性与缩放点积）→ 批量计算与掩蔽 → 实现 → $1/\sqrt{d}$ 就是 10.1 节的温度 → 为什么默认用缩放点积。标着“深入一步”的小节可以先跳过。

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.checks import check_qkv, check_shape, check_valid_lens  # readable shape errors
from d2l_attention.explore import attention_scoring

torch.set_num_threads(1)  # every tensor in this section is small: one thread is the fastest

# %% [markdown]
# ## 两种评分函数
#
# 查询 $\mathbf{q}$ 的输出是 $\sum_i \alpha_i \mathbf{v}_i$，权重 $\boldsymbol{\alpha}$ 是分数 $a(\mathbf{q}, \mathbf{k}_i)$ 的 softmax。
#
# **加性注意力**（additive attention）把 $[\mathbf{q}; \mathbf{k}]$ 送进一个单隐藏层 MLP；$\mathbf{W}[\mathbf{q}; \mathbf{k}] = \mathbf{W}_q\mathbf{q} + \mathbf{W}_k\mathbf{k}$，所以查询（$q$ 维）与键（$k$ 维）的长度可以不同：
#
# $$a(\mathbf{q}, \mathbf{k}) = \mathbf{w}_v^\top \tanh(\mathbf{W}_q \mathbf{q} + \mathbf{W}_k \mathbf{k}), \qquad
#   \mathbf{W}_q \in \mathbb{R}^{h \times q},\ \mathbf{W}_k \in \mathbb{R}^{h \times k},\ \mathbf{w}_v \in \mathbb{R}^{h}.$$
#
# **缩放点积注意力**（scaled dot-product attention）没有参数，要求 $\mathbf{q}, \mathbf{k} \in \mathbb{R}^{d}$：
#
# $$a(\mathbf{q}, \mathbf{k}) = \frac{\mathbf{q}^\top \mathbf{k}}{\sqrt{d}} = \frac{\lVert\mathbf{q}\rVert\,\lVert\mathbf{k}\rVert\cos\theta}{\sqrt{d}}.$$

# %% [markdown]
# ## 批量形式与掩蔽
#
# 一批序列长短不一，短的用填充词元（padding）补齐。查询 $i$ 只该看前 $L_i$ 个键（**有效长度**，valid length），
# 其余键的分数记作 $-\infty$，softmax 给它们 0。查询、键、值按行叠成 $\mathbf{Q}, \mathbf{K}, \mathbf{V}$，一次算完（softmax 按行，$\mathbf{M}$ 是掩码）：
#
# $$\operatorname{softmax}\Big(\frac{\mathbf{Q}\mathbf{K}^\top}{\sqrt{d}} + \mathbf{M}\Big)\mathbf{V}, \qquad
#   M_{ij} = \begin{cases} 0, & j < L_i \\ -\infty, & j \ge L_i. \end{cases}$$

# %% [markdown]
# ![Q K^T / sqrt(d), mask, row-wise softmax, times V, on a 2 x 3 example](figures/10.3-scoring.svg)
#
# 图 10.3.1 上式的一个例子（数与下面打印的相同）：2 个查询、3 个键、$d = 2$，值为 10、20、30；
# `valid_lens` $= [[2, 3]]$。

# %%
Q = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])  # (1, n=2, d=2)
K = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, m=3, d=2)
V = torch.tensor([[[10.0], [20.0], [30.0]]])  # (1, m=3, 1)
lens = torch.tensor([[2, 3]])  # q0 sees k0, k1; q1 sees all three
attn_mask = torch.arange(3) < lens[..., None]  # (1, 2, 3) bool, True = may attend
steps = {"Q K^T": Q @ K.transpose(1, 2)}
steps["/ sqrt(d)"] = steps["Q K^T"] / math.sqrt(2)
steps["mask"] = steps["/ sqrt(d)"].masked_fill(~attn_mask, float("-inf"))
steps["softmax"] = F.softmax(steps["mask"], dim=-1)
steps["@ V"] = steps["softmax"] @ V
print("attn_mask:", attn_mask[0].tolist())
for name, value in steps.items():
    print(f"{name:<9}", " | ".join(" ".join(f"{x:5.2f}" for x in row) for row in value[0].tolist()))

# %% [markdown]
# 核对 $\mathbf{q}_0$：$\mathbf{k}_2$ 被挡住，$e^{1.41}/(e^{1.41} + 1) = 0.804$，输出 $0.804 \times 10 + 0.196 \times 20 = 11.96$。
# $L_i = 0$ 的行全是 $-\infty$，softmax 得 $0/0$ = NaN，反向传播时 NaN 也流进梯度。所以下面的函数不填这样的行，直接给权重 0：

# %%
#@save
def masked_softmax(X, valid_lens):
    """Softmax over the last axis that only looks at the first `valid_len` keys of each row.

    X: (batch_size, num_queries, num_keys) attention scores.
    valid_lens: None, (batch_size,) or (batch_size, num_queries); whole numbers in [0, num_keys].
    Returns weights with the shape of X: masked keys get exactly 0, and a row whose valid
    length is 0 is all zeros (its attention output is then a zero vector, never NaN).
    """
    check_shape(X, "X", "(batch_size, num_queries, num_keys)")
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    check_valid_lens(valid_lens, *X.shape)
    lens = torch.as_tensor(valid_lens, device=X.device)
    if lens.dim() == 1:
        lens = lens[:, None]  # one length shared by all queries of an example
    keep = torch.arange(X.shape[-1], device=X.device) < lens[..., None]
    has_key = keep[..., :1]  # False only in the rows with L = 0: left unfilled, set to 0
    weights = F.softmax(X.masked_fill(has_key & ~keep, float("-inf")), dim=-1)
    return torch.where(has_key, weights, 0.0)


# %%
V_nan = V.clone().requires_grad_()
(F.softmax(torch.full((1, 1, 3), float("-inf")), dim=-1) @ V_nan).sum().backward()
print("softmax of an all -inf row:", F.softmax(torch.full((3,), float("-inf")), dim=-1).tolist(),
      "  its gradient for V:", V_nan.grad.flatten().tolist())
V_ok = V.clone().requires_grad_()
empty = masked_softmax(steps["/ sqrt(d)"], torch.tensor([[0, 3]]))
(empty[:, :1] @ V_ok).sum().backward()  # the L = 0 row only
print("masked_softmax, valid_lens [[0, 3]]:", [[round(x, 2) for x in row] for row in empty[0].tolist()],
      "  gradient for V from its L = 0 row:", V_ok.grad.flatten().tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (empty[0, 0] == 0).all() and torch.equal(empty[0, 1], steps["softmax"][0, 1])
assert torch.isfinite(V_ok.grad).all() and V_nan.grad.isnan().all()

# %% [markdown]
# 空的行权重是 0，梯度也是有限的 0；另一行不变。
#
# 放到词元上：句子 “I like tea” 用 `<pad>` 补到 5 个词元，每个词元既是查询也是键（8 维随机嵌入）。
# 左图整句共用 `valid_lens = [3]`。右图每个词元一个有效长度 $\min(i+1, 3)$：词元 $i$ 不看它后面的词元（**因果掩蔽**，causal mask，10.7 节的解码器用它挡住“未来”），也不看填充。

# %%
tokens = ["I", "like", "tea", "<pad>", "<pad>"]
torch.manual_seed(0)
X = nn.Embedding(4, 8)(torch.tensor([[0, 1, 2, 3, 3]])).detach()  # (1, 5, 8): both <pad> share one vector
token_scores = X @ X.transpose(1, 2) / math.sqrt(8)  # every token is a query and a key
token_weights = {"valid_lens = [3]": masked_softmax(token_scores, torch.tensor([3])),
                 "valid_lens = [[1, 2, 3, 3, 3]]": masked_softmax(token_scores, torch.tensor([[1, 2, 3, 3, 3]]))}
for name, w in token_weights.items():
    print(f"{name:<30} weights of 'like' on {tokens}: {w[0, 1].numpy().round(2)}")
d2l.show_heatmaps(torch.cat(list(token_weights.values()))[None], xlabel="key", ylabel="query",
                  titles=list(token_weights), xticklabels=tokens, yticklabels=tokens, figsize=(6.5, 3.2))
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for w in token_weights.values():
    assert (w[..., 3:] == 0).all() and torch.allclose(w.sum(dim=-1), torch.ones(1, 5))
assert (token_weights["valid_lens = [[1, 2, 3, 3, 3]]"][0].triu(1) == 0).all()

# %% [markdown]
# `<pad>` 两列的权重都是 0（两个 `<pad>` 查询的输出不用）；右图中 like 只看 I 和它自己。
#
# ### 动手试试：掩蔽
#
# 换到 10 个键上：长为 3 的二维键均匀排在圆上，查询 $i$ 与键 $i$ 同向。从 $L = 6$ 开始：q6、q7 的权重转给可见键里
# 方向最近的 k5，q8、q9 转给 k0，都是 0.96。把 $L$ 拖到 0：分数不填（左图），权重全是 0。

# %%
attention_scoring.masking()

# %% [markdown]
# ## 两种注意力的实现
#
# 两种注意力共用“掩蔽 softmax → 加权求和”，基类 `AttentionPooling` 做这两步，子类只写 `score`。

# %%
#@save
class AttentionPooling(nn.Module):
    """Attention pooling: softmax(score(q, k)) @ v, with masking and dropout on the weights.

    Subclasses implement score(queries, keys) -> (batch_size, num_queries, num_kv).
    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size);
    values: (batch_size, num_kv, value_dim); valid_lens: None, (batch_size,) or
    (batch_size, num_queries). Returns (batch_size, num_queries, value_dim).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def score(self, queries, keys):
        raise NotImplementedError("a subclass of AttentionPooling defines its scoring function")

    def forward(self, queries, keys, values, valid_lens=None):
        check_qkv(queries, keys, values)
        # (batch_size, num_queries, num_kv), kept before dropout for the heatmaps
        self.attention_weights = masked_softmax(self.score(queries, keys), valid_lens)
        return self.dropout(self.attention_weights) @ values


# %% [markdown]
# 加性注意力用 `None` 插入键轴和查询轴，广播相加，得到每个“查询–键”对的 $h$ 维隐藏向量：

# %%
#@save
class AdditiveAttention(AttentionPooling):
    """Additive attention: a(q, k) = w_v^T tanh(W_q q + W_k k).

    queries: (batch_size, num_queries, query_size); keys: (batch_size, num_kv, key_size).
    """

    def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
        super().__init__(dropout, **kwargs)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def score(self, queries, keys):
        check_shape(queries, "queries", "(batch_size, num_queries, query_size)",
                        query_size=self.W_q.in_features)
        check_shape(keys, "keys", "(batch_size, num_kv, key_size)", key_size=self.W_k.in_features)
        # (batch, num_queries, 1, h) + (batch, 1, num_kv, h) -> one hidden vector per pair
        hidden = torch.tanh(self.W_q(queries)[:, :, None, :] + self.W_k(keys)[:, None, :, :])
        return self.w_v(hidden)[..., 0]  # (batch_size, num_queries, num_kv)


# %% [markdown]
# 2 个三维查询、4 个二维键、$h = 5$：中间张量的形状，以及手算的查询 1 对键 3 的分数：

# %%
torch.manual_seed(0)
additive = AdditiveAttention(key_size=2, query_size=3, num_hiddens=5, dropout=0.0)
q_demo, k_demo = torch.randn(1, 2, 3), torch.randn(1, 4, 2)
pairs = torch.tanh(additive.W_q(q_demo)[:, :, None] + additive.W_k(k_demo)[:, None])
print("hidden", tuple(pairs.shape), "-> scores", tuple(additive.score(q_demo, k_demo).shape))
by_hand = additive.w_v.weight[0] @ torch.tanh(additive.W_q.weight @ q_demo[0, 1]
                                              + additive.W_k.weight @ k_demo[0, 3])
print(f"w_v . tanh(W_q q_1 + W_k k_3) = {by_hand.item():.4f};  "
      f"class: score[0, 1, 3] = {additive.score(q_demo, k_demo)[0, 1, 3].item():.4f}")


# %% [markdown]
# 为了 (1, 2, 4) 个分数，先要存 (1, 2, 4, 5) 的隐藏张量：每个查询–键对一个 $h$ 维向量。缩放点积的分数只是一次批量矩阵乘法：

# %%
#@save
class DotProductAttention(AttentionPooling):
    """Scaled dot-product attention: a(q, k) = q^T k / sqrt(d).

    queries: (batch_size, num_queries, d); keys: (batch_size, num_kv, d).
    """

    def __init__(self, dropout, **kwargs):
        super().__init__(dropout, **kwargs)

    def score(self, queries, keys):
        d = queries.shape[-1]
        check_shape(keys, "keys", "(batch_size, num_kv, d)", d=d)
        # All n x m dot products at once: (batch, n, d) @ (batch, d, m) -> (batch, n, m)
        return queries @ keys.transpose(-2, -1) / math.sqrt(d)


# %%
ours = DotProductAttention(dropout=0.0)(Q, K, V, lens)  # the example of Fig. 10.3.1 again
theirs = F.scaled_dot_product_attention(Q, K, V, attn_mask=attn_mask)
print(f"DotProductAttention(Q, K, V, valid_lens): {ours.flatten().numpy().round(2)}; "
      f"max |ours - F.scaled_dot_product_attention| = {(ours - theirs).abs().max():.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert torch.allclose(ours, steps["@ V"]) and torch.allclose(ours, theirs, atol=1e-5)
torch.manual_seed(0)  # random inputs and per-query lengths agree with PyTorch as well
q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
rnd_lens = torch.randint(1, 7, (3, 4))
assert torch.allclose(DotProductAttention(0.0)(q, k, v, rnd_lens),
                      F.scaled_dot_product_attention(q, k, v, attn_mask=torch.arange(6) < rnd_lens[..., None]),
                      atol=1e-6)
assert torch.equal(masked_softmax(steps["/ sqrt(d)"], torch.tensor([2])),
                   F.softmax(steps["/ sqrt(d)"].masked_fill(torch.arange(3) >= 2, float("-inf")), dim=-1))

assert (DotProductAttention(0.0)(Q, K, V, torch.tensor([[0, 0]])) == 0).all()

# %% [markdown]
# 书中的小例子：2 个样本，10 个**全相同**的二维键，有效长度 2 和 6。
# 键全相同，任何评分函数都给它们同样的分，两种注意力都输出有效范围内值的平均：

# %%
torch.manual_seed(0)
queries = torch.normal(0, 1, (2, 1, 20))
keys = torch.ones((2, 10, 2))
values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
valid_lens = torch.tensor([2, 6])

attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
attention.eval()  # no dropout in the demo
output = attention(queries, keys, values, valid_lens)
print("additive output:   ", tuple(output.shape), output.detach().reshape(2, 4).round(decimals=4).tolist())
torch.manual_seed(0)
attention = DotProductAttention(dropout=0.5)
attention.eval()
output = attention(torch.normal(0, 1, (2, 1, 2)), keys, values, valid_lens)
print("dot-product output:", tuple(output.shape), output.reshape(2, 4).round(decimals=4).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for b, L in enumerate([2, 6]):
    assert torch.allclose(output[b, 0], values[b, :L].mean(dim=0), atol=1e-5)
    assert torch.allclose(attention.attention_weights[b, 0, :L], torch.full((L,), 1 / L))
    assert (attention.attention_weights[b, 0, L:] == 0).all()

# %% [markdown]
# ## $1/\sqrt{d}$ 是一个温度
#
# 10.1 节把分数除以温度 $\tau$，$\tau$ 越小权重越尖；这里 $\tau = \sqrt{d}$。若查询与键的分量独立、均值 0、方差 1，
# 则 $\operatorname{Var}(\mathbf{q}^\top\mathbf{k}) = d$：不缩放时 $d$ 越大，温度相当于越低。
# 害处在梯度：记 softmax 的输入为 $z_j = s_j/\tau$（$s_j = \mathbf{q}^\top\mathbf{k}_j$），它的雅可比矩阵（Jacobian）$\partial\boldsymbol{\alpha}/\partial\mathbf{z} = \operatorname{diag}(\boldsymbol{\alpha}) - \boldsymbol{\alpha}\boldsymbol{\alpha}^\top$ 在 $\boldsymbol{\alpha}$ 趋于 one-hot 时趋于 0。
# $d = 256$ 时 10 个分数缩放与不缩放的权重，及键 2（不是赢家）的权重对各个 $z_j$ 的梯度；假如键 2 是对的键，要靠这行梯度抬高它。

# %%
def jacobian_norms(a):
    """||d alpha / d z||_F for each softmax row a (..., m), z its input: the Jacobian is diag(a) - a a^T."""
    return (torch.diag_embed(a) - a[..., :, None] * a[..., None, :]).norm(dim=(-2, -1))


torch.manual_seed(0)
s = (torch.randn(1, 256) @ torch.randn(10, 256).T)[0]  # 10 scores q.k, d = 256
two_rows = {"q.k / sqrt(d)": F.softmax(s / 16, dim=-1), "q.k": F.softmax(s, dim=-1)}
attention_scoring.plot_rows(two_rows, target=2)
d2l.plt.show()
for name, a in two_rows.items():
    print(f"{name:<14} largest weight {a.max():.3f}   ||da/dz|| = {jacobian_norms(a):.1e}")

# %% [markdown]
# 不缩放的一行几乎是 one-hot，雅可比矩阵的范数是 $10^{-8}$ 量级（缩放的 0.35），键 2 的梯度处处近于 0。范数小于 0.01 的行我们叫它**饱和**（saturated）：分数变，权重几乎不动。
#
# ### 动手试试：温度
#
# 菜单从 $\tau = 1$（不缩放）开始：权重全在 k8，梯度全是 0。$\tau = 4$ 时梯度开始出现。
# 下面一栏是键 2 的权重对 softmax 输入 $z_j = s_j/\tau$ 的梯度：$\tau = 16 = \sqrt{d}$ 时最大（0.13），$\tau = 32$、64 时 0.12、0.11。它是 $\alpha_2(1-\alpha_2)$，跟着键 2 的权重走（$\tau = 16$ 时 0.15）。
# 传回分数 $s_2 = \mathbf{q}^\top\mathbf{k}_2$（再到 $\mathbf{W}_q$、$\mathbf{W}_k$）还要乘 $1/\tau$，就是状态行的最后一项：$\tau = 8$ 时最大（0.0097），$\tau = 16$ 时 0.0079，$\tau = 64$ 只剩 0.0017。
# 所以 $\tau$ 不是越大越好，$\sqrt{d}$ 也不是这一行的最优值：它的理由是下面的方差。
# $\tau = 256 = d$ 时最大权重只剩 0.11，接近均匀的 1/10。

# %%
attention_scoring.temperature()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
_w, _g, _ = attention_scoring.temperature_states(attention_scoring.ten_scores())
_grad2 = {r["tau"]: r["grad"] for r in _g if r["key"] == "k2"}  # d alpha_2 / d s_2 per tau
_alpha2 = {r["tau"]: r["weight"] for r in _w if r["key"] == "k2"}
assert max(_grad2, key=_grad2.get) == 16 and [round(_grad2[t], 2) for t in (16, 32, 64)] == [0.13, 0.12, 0.11]
assert max(_alpha2, key=_alpha2.get) == 16 and round(_alpha2[16], 2) == 0.15
assert all(abs(_grad2[t] - _alpha2[t] * (1 - _alpha2[t])) < 1e-3 for t in _grad2)
_s = attention_scoring.ten_scores().double().requires_grad_()  # the gradient that reaches s = q.k
_to_s = {t: torch.autograd.grad(F.softmax(_s / t, dim=-1)[2], _s)[0][2].item() for t in _grad2}
assert max(_to_s, key=_to_s.get) == 8 and [round(_to_s[t], 4) for t in (8, 16, 64)] == [0.0097, 0.0079, 0.0017]

# %% [markdown]
# 每个 $d$ 取 1000 个查询、各配 10 个键，除数为 1、$\sqrt{d}$、$d$：

# %%
torch.manual_seed(0)
dims, divisors = [4, 16, 64, 256, 1024], {"1": lambda d: 1.0, "sqrt(d)": math.sqrt, "d": float}
variances, stats = [], {name: [] for name in divisors}  # stats: (mean max weight, share saturated)
for d in dims:
    dots = (torch.randn(1000, 1, d) @ torch.randn(1000, 10, d).transpose(1, 2))[:, 0]  # (1000, 10)
    variances.append(dots.var().item())
    for name, tau in divisors.items():
        a = F.softmax(dots / tau(d), dim=-1)
        stats[name].append((a.max(dim=-1).values.mean().item(), (jacobian_norms(a) < 0.01).float().mean().item()))
print(f"Var(q.k) / d: {[round(v / d, 2) for v, d in zip(variances, dims)]}")
for name, r in stats.items():
    print(f"d = 1024, divide by {name:<7}: mean max weight {r[-1][0]:.3f}, saturated rows {r[-1][1]:.0%}")
attention_scoring.plot_sweep(dims, stats)
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
for d, var in zip(dims, variances):
    assert 0.5 < var / d < 2, "the variance of q.k should grow like d"
raw, root, lin = stats["1"], stats["sqrt(d)"], stats["d"]
assert raw[-1][0] > 0.9 and all(0.2 < r[0] < 0.6 for r in root) and lin[-1][0] < 0.11
assert all(a[1] <= b[1] for a, b in zip(raw, raw[1:]))
assert raw[-1][1] > 0.5 and max(r[1] for r in root) < 0.05 and max(r[1] for r in lin) == 0
r = torch.randn(10, dtype=torch.float64)  # the closed form is the Jacobian autograd computes
assert torch.isclose(jacobian_norms(F.softmax(r, dim=-1)),
                     torch.autograd.functional.jacobian(lambda x: F.softmax(x, dim=-1), r).norm())
assert jacobian_norms(two_rows["q.k"]) < 1e-6 < 0.1 < jacobian_norms(two_rows["q.k / sqrt(d)"])

# %% [markdown]
# 不缩放时 $d = 1024$ 有 78% 的行饱和。除以 $\sqrt{d}$，平均最大权重一直约 0.3，没有饱和的行。
# 除以 $d$ 也不饱和（右图，按 $z$ 算），但权重趋于均匀的 $1/10$，传回 $\mathbf{q}^\top\mathbf{k}$ 的梯度还要再乘 $1/d$。$\sqrt{d}$ 让分数方差保持为 1，softmax 的形状不随 $d$ 变。

# %% [markdown]
# ### 深入一步：饱和会拖慢学习吗？
#
# 检索任务：10 个 256 维的随机键 $\mathbf{k}_j$ 各带一个值 $v_j$，输入 $\mathbf{x}$ 是键 $\mathbf{k}_c$ 经固定旋转的结果。模型只学 $\mathbf{W}$；对的 $\mathbf{W}$ 把旋转转回去，查询就与 $\mathbf{k}_c$ 同向：
#
# $$\mathbf{x} \xrightarrow{\mathbf{W}} \mathbf{q} \xrightarrow{\text{attention}} \hat{y} = \sum_j \alpha_j v_j, \qquad \text{loss} = (\hat{y} - v_c)^2.$$
#
# 一行**选错**指它的最大权重不在键 $c$ 上。“不缩放”把分数乘 16（$= \sqrt{d}$）：起点的分数大 16 倍，每步的变化也更大（表第一列）。
# 两个对照：学习率除以 16，步子变小；$\mathbf{W}$ 的初值除以 16，起点的分数与缩放的相同。优化器是 Adam。每种设置 3 个种子，表中是最小–最大：

# %%
def train(scale, lr=0.01, init_std=1 / 16, steps=120, seed=0):
    W, batches = attention_scoring.retrieval_task(d=256, steps=steps, init_std=init_std, seed=seed)  # float64
    attention, optimizer = DotProductAttention(dropout=0.0), torch.optim.Adam(W.parameters(), lr=lr)
    log = []
    for keys, values, x, which, target in batches:  # x: key `which`, turned; target: its value
        Wx = W(x)
        Wx.retain_grad()  # to read the gradient each row sends back
        loss = ((attention(Wx * scale, keys, values)[:, 0] - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # how far this step moved the scores
            moved = (attention.score(W(x) * scale, keys) - attention.score(Wx * scale, keys)).abs().mean()
        a = attention.attention_weights.detach()[:, 0]
        log.append(dict(loss=loss.item(), saturated=jacobian_norms(a) < 0.01, moved=moved.item(),
                        grad=Wx.grad[:, 0].norm(dim=-1), right=a.argmax(dim=-1) == which))
    return log


settings = {"q.k / sqrt(d)": dict(scale=1.0), "q.k": dict(scale=16.0),
            "q.k, lr / 16": dict(scale=16.0, lr=0.01 / 16), "q.k, W / 16": dict(scale=16.0, init_std=1 / 256)}
seeds = [{name: train(**kw, seed=seed) for name, kw in settings.items()} for seed in range(3)]
print(f"{'':<15}{'change/step':>13}{'sat. & wrong':>14}{'saturated':>12}{'sat. & wrong':>14}{'loss':>12}")
print(f"{'run':<15}{'steps 1-10':>13}{'steps 1-10':>14}{'111-120':>12}{'111-120':>14}{'111-120':>12}")
span = lambda rows, key, f: "-".join(dict.fromkeys(f"{g(r[key] for r in rows):{f}}" for g in (min, max)))
for name in settings:  # per seed, the means over steps 1-10 and over steps 111-120
    early, late = zip(*(attention_scoring.run_summary(runs[name], ((0, 10), (110, 120))) for runs in seeds))
    print(f"{name:<15}{span(early, 'moved', '.2f'):>13}{span(early, 'saturated_and_wrong', '.0%'):>14}"
          f"{span(late, 'saturated', '.0%'):>12}{span(late, 'saturated_and_wrong', '.0%'):>14}"
          f"{span(late, 'loss', '.2f'):>12}")
first = attention_scoring.run_summary(seeds[0]["q.k"], ((0, 10),))[0]
print(f"q.k, seed 0, steps 1-10: gradient per row {first['grad_saturated']:.0e} if saturated, "
      f"{first['grad_other']:.0e} otherwise")
attention_scoring.plot_runs(seeds[0])  # seed 0
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
summary = {name: attention_scoring.run_summary(log) for name, log in seeds[0].items()}
scaled_, raw_, slow_, small_ = summary.values()
assert raw_[0]["saturated"] > 0.5 and scaled_[0]["saturated"] == 0.0 and scaled_[-1]["saturated"] > 0.5
assert raw_[0]["grad_saturated"] < 0.01 * raw_[0]["grad_other"] and raw_[0]["wrong_saturated"] > 0.8
assert scaled_[1]["wrong_saturated"] == 0 and scaled_[-1]["loss"] < 0.01 and scaled_[1]["loss"] < 0.1
assert slow_[-1]["loss"] > raw_[-1]["loss"] > 10 * small_[-1]["loss"]
assert small_[0]["saturated"] < 0.5 * raw_[0]["saturated"]
assert 4 * scaled_[0]["moved"] < raw_[0]["moved"] and slow_[0]["moved"] < scaled_[0]["moved"] < small_[0]["moved"]

# %% [markdown]
# **饱和本身无害，饱和又选错才有害。** 缩放的模型最后 68–75% 的行饱和，但饱和又选错的是 0%，损失 0.00：选对了的行损失已近 0，梯度小也不要紧。
# 不缩放时前 10 步约一半的行饱和又选错。种子 0 的前 10 步里，饱和的行送回的梯度平均只有 $6 \times 10^{-4}$，其余行是 0.2：
# 整批的梯度由没饱和的行主导，饱和又选错的行改得很慢，第 111–120 步还剩 2–8%，损失 0.04–0.23（缩放的是 0.00）。
#
# 步子大小不是原因。学习率除以 16 后每步的变化（0.19–0.20）比缩放的还小，饱和又选错的行却一直约一半（绿线），损失停在 1.36–1.56。
# $\mathbf{W}$ 的初值除以 16 步子最大，但前 10 步饱和又选错的只有 6–13%（红线），最后损失 0.01–0.04：害处在**一开始**就饱和。

# %% [markdown]
# ## 为什么默认用缩放点积
#
# 加性注意力的隐藏张量是 (b, n, m, h)，点积的分数只有 (b, n, m)。
# 单线程 CPU 上实测一次前向加反向（$b = 8$，$n = m = 128$，$d = h = 64$；内存指为反向传播保存的张量）：

# %% tags=["nbval-ignore-output"]
measured = attention_scoring.cost(batch_size=8, num_queries=128, num_kv=128, size=64)
for name, (seconds, saved) in measured.items():
    print(f"{name:<19} forward + backward {seconds * 1000:7.1f} ms   saved for backward {saved / 2**20:6.2f} MiB")
(t_add, m_add), (t_dot, m_dot) = measured.values()
hidden = 8 * 128 * 128 * 64 * 4  # bytes of the (b, n, m, h) float32 hidden tensor
print(f"additive / dot product: time x{t_add / t_dot:.0f}, memory x{m_add / m_dot:.1f}")
print(f"hidden tensor {hidden / 2**20:.0f} MiB, {hidden / m_dot:.1f} times what the dot product saves: "
      f"additive saves it plus about the same -> 1 + {hidden / m_dot:.1f} = {1 + hidden / m_dot:.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert m_add > hidden > 20 * m_dot and abs(m_add / m_dot - 1 - hidden / m_dot) < 0.1
assert t_add > 5 * t_dot

# %% [markdown]
# 内存比不是 $h = 64$：两者都存 $\mathbf{Q}, \mathbf{K}, \mathbf{V}$（$3bnd$ 个数）和权重（$bnm$ 个），加性注意力再存隐藏张量（$bnmh$ 个），
# 比值是 $1 + \frac{mh}{m + 3d} = 1 + 25.6$（最后一行）。键越多，比值越接近 $1 + h$。
#
# 时间差几十倍，却不是因为算得多：加性注意力逐元素地做约 $3bnmh$ 次运算（加、tanh、乘 $\mathbf{w}_v$），点积注意力做 $2bnmd$ 次乘加，这里 $h = d$，同一量级。
# 慢在加性注意力要把 (b, n, m, h) 的张量写进内存、逐个过 tanh、再读回来（反向传播再来一遍）；点积注意力是两次矩阵乘法，读进来的数反复使用。

# %% [markdown]
# ## 深入一步：评分函数偏爱哪些键
#
# 6 个二维键，方向角 $0°, 60°, \ldots, 300°$，长度交替为 1 和 3；查询长度为 2。
# 点积对 $\mathbf{k}$ 是线性的，线性函数在多边形上的最大值总在某个角上，所以最高分总落在键的凸包的顶点上。
# 短键在长键的三角形之内，不是顶点，永远拿不到最高分。
# 可学的 $\mathbf{W}$ 也改不了：$\mathbf{q}^\top\mathbf{W}\mathbf{k} = (\mathbf{W}^\top\mathbf{q})^\top\mathbf{k}$，只是换了个查询。
#
# 10.2 节的高斯核不同：$-\tfrac12\lVert\mathbf{q}-\mathbf{k}\rVert^2 = \mathbf{q}^\top\mathbf{k} - \tfrac12\lVert\mathbf{k}\rVert^2 - \tfrac12\lVert\mathbf{q}\rVert^2$。
# 最后一项对一行的键都相同，softmax 不理会；中间一项罚长键：

# %%
angles = torch.arange(6) * (math.pi / 3)
directions = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (6, 2) unit vectors
geo_keys = (torch.tensor([1.0, 3.0, 1.0, 3.0, 1.0, 3.0])[:, None] * directions)[None]  # (1, 6, 2)
geo_queries = 2 * directions[None]  # (1, 6, 2): query i points like key i
dot_attention = DotProductAttention(dropout=0.0)
dot_attention(geo_queries, geo_keys, geo_keys)
print("q0 weights:", dot_attention.attention_weights[0, 0].numpy().round(2))
torch.manual_seed(0)
many_q = torch.randn(100_000, 2)  # 100000 queries, every direction, many lengths
top = (many_q @ geo_keys[0].T).argmax(dim=-1)
gauss = -0.5 * torch.cdist(many_q, geo_keys[0]) ** 2  # 10.2's Gaussian kernel as a score
shifted = many_q @ geo_keys[0].T - 0.5 * geo_keys[0].norm(dim=-1) ** 2  # q.k - |k|^2 / 2
print("which key scores highest, k0..k5:  q.k", top.bincount(minlength=6).tolist(),
      "  -|q - k|^2 / 2", gauss.argmax(dim=-1).bincount(minlength=6).tolist())
print(f"max |softmax(-|q - k|^2 / 2) - softmax(q.k - |k|^2 / 2)| = "
      f"{(F.softmax(gauss, dim=-1) - F.softmax(shifted, dim=-1)).abs().max():.6f}")
attention_scoring.plot_winner_map()  # colour: the key with the highest score at each query
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
dot_w = dot_attention.attention_weights[0]
assert dot_w[0, 1] > 1.9 * dot_w[0, 0] and torch.isclose(dot_w[0, 1], dot_w[0, 5])
assert (dot_w.diagonal()[::2] < 0.25).all() and (dot_w.diagonal()[1::2] > 0.5).all()
assert (top.bincount(minlength=6)[::2] == 0).all() and (gauss.argmax(dim=-1).bincount(minlength=6) > 1000).all()
W_k, q0 = torch.randn(2, 2, dtype=torch.float64), geo_queries[0, 0].double()
assert torch.allclose(q0 @ W_k @ geo_keys[0].double().T, (W_k.T @ q0) @ geo_keys[0].double().T)

# %% [markdown]
# 10 万个查询中，点积下短键 k0、k2、k4 一次也没赢（左图没有它们的颜色），q0 给同向的 k0 只有 0.19；高斯核下每个键都赢过，赢的是最近的键（右图）。
#
# 滑块转动查询，五种评分函数给这组键打分；虚线是凸包。一般注意力的 $\mathbf{W}^\top$ 把查询转 60°；
# 加性注意力两行**未训练**（$h = 8$，$\mathbf{W}_q, \mathbf{W}_k$ 元素的标准差 0.2 或 3）。

# %%
attention_scoring.comparison()

# %% [markdown]
# 查询在 30°：缩放点积把最大权重给长键 k1（0.87），高斯核给最近的短键 k0（0.56）。
#
# $\tanh$ 不是线性的，凸包的论证对加性注意力不成立：large W 给短键 k0 0.68。
# 但未训练时选谁是任意的：转到 195°，查询背对 k0，large W 仍把最大权重给 k0（0.36）。
#
# $\mathbf{W}$ 小时 $\tanh$ 近似线性，分数近似 $f(\mathbf{q}) + g(\mathbf{k})$，$f(\mathbf{q})$ 在 softmax 里不起作用。
# 所以转一圈 k1 始终最大（0.28 到 0.42）。一般注意力那行的短键也从没赢过：只是换了个查询。
# 下方的文字：$|\tanh| \le 1$，所以 $|a| \le \lVert\mathbf{w}_v\rVert_1$：加性注意力的分数有上界，权重能多尖由 $\mathbf{w}_v$ 的大小决定。

# %% [markdown]
# **高维中这种情形少见**：随机的键几乎都是凸包的顶点。10 个随机键、10 万个查询，几个键拿到过最高分：

# %%
torch.manual_seed(0)
for d in [2, 8, 64]:
    rand_keys = torch.randn(10, d)
    winners = (torch.randn(100_000, d) @ rand_keys.T).argmax(dim=-1).unique().numel()
    print(f"d = {d:>2}: {winners} of 10 keys score highest for some query")

# %% [markdown]
# $d = 2$ 时只有一半的键能赢，$d = 8$ 起 10 个都能。留下的是偏向：方向相同时 $\mathbf{q}^\top\mathbf{k}$ 与 $\lVert\mathbf{k}\rVert$ 成正比，**键越长，点积注意力越偏向它**。

# %% [markdown]
# ## 小结
#
# * 掩蔽 softmax 给被挡住的键（如 `<pad>`）严格的 0，$L = 0$ 的行全为 0。
# * 加性注意力（10.4 节的 Bahdanau 注意力）允许 $q \ne k$，但要存 (b, n, m, h) 的隐藏张量；缩放点积只是矩阵乘法，是默认选择。
# * $1/\sqrt{d}$ 是温度：不缩放时行饱和、梯度近 0。
# * 点积偏向长键；高斯核罚键长，最近的键赢。
# %% [markdown]
# ## 练习
#
# ### 练习 1
#
# 让书中小例子的键彼此不同：第 $j$ 个键取 $[j, j + 1]/10$（两个样本相同），存为 `ex1_keys`。
# 其余照上面的代码（先 `torch.manual_seed(0)`、生成查询，再创建加性注意力）。
# 把两种注意力的权重存为 `ex1_additive_weights` 和 `ex1_dot_weights`（形状 `(2, 1, 10)`），把第二个样本的两组权重画在一幅图里。两者还相同吗？为什么？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex1_keys = (torch.arange(10.0)[:, None] + torch.tensor([0.0, 1.0])).div(10).repeat(2, 1, 1)
ex1_values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
ex1_lens = torch.tensor([2, 6])
torch.manual_seed(0)
ex1_queries = torch.normal(0, 1, (2, 1, 20))
ex1_additive = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.0)
ex1_additive(ex1_queries, ex1_keys, ex1_values, ex1_lens)
ex1_additive_weights = ex1_additive.attention_weights.detach()
torch.manual_seed(0)
ex1_dot = DotProductAttention(dropout=0.0)
ex1_dot(torch.normal(0, 1, (2, 1, 2)), ex1_keys, ex1_values, ex1_lens)
ex1_dot_weights = ex1_dot.attention_weights
print(f"largest |entry|: W_k {ex1_additive.W_k.weight.abs().max():.2f}, "
      f"w_v {ex1_additive.w_v.weight.abs().max():.2f}")
print("additive:\n", ex1_additive_weights.reshape(2, 10).numpy().round(3))
print("dot product:\n", ex1_dot_weights.reshape(2, 10).numpy().round(3))
print(f"max |additive - dot product| = {(ex1_additive_weights - ex1_dot_weights).abs().max():.3f}")
fig, ax = d2l.plt.subplots(figsize=(5.5, 3))
ax.bar(torch.arange(10) - 0.2, ex1_additive_weights[1, 0], width=0.4, label="Additive")
ax.bar(torch.arange(10) + 0.2, ex1_dot_weights[1, 0], width=0.4, label="Scaled dot product")
ax.axvspan(5.5, 9.5, color="#bdbdbd", label="masked (valid_len 6)")
ax.axhline(1 / 6, color="k", lw=0.8, ls="--", label="uniform 1/6")
ax.set_xticks(range(10)), ax.set_xlabel("key j (example 1)"), ax.set_ylabel("weight")
ax.set_ylim(0, 0.3), ax.set_xlim(-0.5, 9.5), ax.legend(fontsize=8, loc="upper right")
d2l.plt.show()

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert tuple(ex1_keys.shape) == (2, 10, 2), "ex1_keys should have shape (2, 10, 2)"
assert len({tuple(k.tolist()) for k in ex1_keys[0]}) == 10, "the 10 keys must differ from each other"
for ex1_w in (ex1_additive_weights, ex1_dot_weights):
    assert tuple(ex1_w.shape) == (2, 1, 10), "weights should have shape (2, 1, 10)"
    assert torch.allclose(ex1_w.sum(dim=-1), torch.ones(2, 1)), "each row must sum to 1"
    assert (ex1_w[0, 0, 2:] == 0).all() and (ex1_w[1, 0, 6:] == 0).all(), "mask with [2, 6]"
torch.manual_seed(0)
ex1_check_q = torch.normal(0, 1, (2, 1, 2))
ex1_expected = masked_softmax(ex1_check_q @ ex1_keys.transpose(1, 2) / math.sqrt(2),
                              torch.tensor([2, 6]))
assert torch.allclose(ex1_dot_weights, ex1_expected, atol=1e-6), \
    f"dot-product weights should be softmax(q k^T / sqrt(2)) = {ex1_expected.reshape(2, 10)}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex1_dot_weights[1, 0, :6].std() > 1e-3, "distinct keys: dot-product weights are not uniform"
assert (ex1_additive_weights - ex1_dot_weights).abs().max() > 0.01, \
    "with distinct keys the two scoring functions give different weights"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不再相同。点积第二个样本的权重从 0.217 降到 0.123，
# 加性注意力的几乎是平的（0.179 到 0.156）：相邻键只差 $[0.1, 0.1]$，经过 $\mathbf{W}_k$（元素最大 0.68）、$\tanh$ 和 $\mathbf{w}_v$（最大 0.32）
# 只剩很小的差。

# %% [markdown]
# ### 练习 2
#
# 只用矩阵乘法，能否给 $q$ 维的查询和 $k$ 维的键打分？实现一般（general，也叫双线性（bilinear））注意力 $a(\mathbf{q}, \mathbf{k}) = \mathbf{q}^\top \mathbf{W} \mathbf{k}$：
# `GeneralAttention(query_size, key_size, dropout=0.0)` 继承 `AttentionPooling`，`self.W` 是形状 `(query_size, key_size)` 的 `nn.Parameter`。
# 它与缩放点积注意力是什么关系？（提示：$\mathbf{W} = \mathbf{I}/\sqrt{d}$。）

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
class GeneralAttention(AttentionPooling):
    """a(q, k) = q^T W k; queries (batch, n, query_size), keys (batch, m, key_size)."""

    def __init__(self, query_size, key_size, dropout=0.0):
        super().__init__(dropout)
        self.W = nn.Parameter(torch.randn(query_size, key_size) / math.sqrt(query_size * key_size))

    def score(self, queries, keys):
        # (batch, n, q) @ (q, k) @ (batch, k, m) -> (batch, n, m): two matrix products
        return queries @ self.W @ keys.transpose(-2, -1)


torch.manual_seed(0)
ex2_demo = GeneralAttention(query_size=20, key_size=2)
print("q = 20, k = 2 ->", tuple(ex2_demo(torch.randn(2, 1, 20), torch.randn(2, 10, 2),
                                         torch.randn(2, 10, 4)).shape))
# The special case W = I / sqrt(d), in float64: the same outputs as scaled dot-product attention.
ex2_q, ex2_k, ex2_v = (torch.randn(2, n, 8, dtype=torch.float64) for n in (3, 5, 5))
ex2_special = GeneralAttention(query_size=8, key_size=8).double()
with torch.no_grad():
    ex2_special.W.copy_(torch.eye(8, dtype=torch.float64) / math.sqrt(8))
    ex2_gap = (ex2_special(ex2_q, ex2_k, ex2_v) - DotProductAttention(0.0)(ex2_q, ex2_k, ex2_v)).abs().max()
print(f"W = I / sqrt(8): max |general - scaled dot product| = {ex2_gap:.0e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
ex2_general = GeneralAttention(query_size=20, key_size=3)
assert isinstance(ex2_general.W, nn.Parameter) and tuple(ex2_general.W.shape) == (20, 3)
ex2_out = ex2_general(torch.randn(2, 4, 20), torch.randn(2, 5, 3), torch.randn(2, 5, 6),
                      torch.tensor([[5, 1, 3, 0], [2, 5, 4, 1]]))
assert tuple(ex2_out.shape) == (2, 4, 6), "output: (batch_size, num_queries, value_dim)"
assert tuple(ex2_general.attention_weights.shape) == (2, 4, 5)
assert (ex2_general.attention_weights[0, 1, 1:] == 0).all(), "valid_lens must be respected"
ex2_tq, ex2_tk = torch.randn(2, 4, 20), torch.randn(2, 5, 3)
assert torch.allclose(ex2_general.score(ex2_tq, ex2_tk),
                      ex2_tq @ ex2_general.W @ ex2_tk.transpose(1, 2), atol=1e-5), \
    "score(queries, keys) should be queries @ W @ keys^T"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
ex2_q, ex2_k, ex2_v = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 4)
ex2_lens = torch.tensor([[1, 3, 5], [2, 0, 4]])
ex2_general = GeneralAttention(query_size=8, key_size=8)
with torch.no_grad():
    ex2_general.W.copy_(torch.eye(8) / math.sqrt(8))
    ex2_diff = (ex2_general(ex2_q, ex2_k, ex2_v, ex2_lens)
                - DotProductAttention(0.0)(ex2_q, ex2_k, ex2_v, ex2_lens)).abs().max()
assert ex2_diff < 1e-6, "with W = I / sqrt(d) general attention is scaled dot-product attention"


# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：可以。分数矩阵是 $\mathbf{Q}\mathbf{W}\mathbf{K}^\top$，两次矩阵乘法，$q \ne k$ 也成立。
# $\mathbf{W} = \mathbf{I}/\sqrt{d}$ 时它就是缩放点积注意力（上面：float64 下差 4e-16，是舍入误差）。

# %% [markdown]
# ### 练习 3
#
# 用 $a(\mathbf{q}, \mathbf{k}) = \mathbf{1}^\top(\mathbf{q} + \mathbf{k})$ 打分会比点积好吗？写函数 `sum_score(queries, keys)`：形状 $(b, n, d)$ 和 $(b, m, d)$ → $(b, n, m)$。`torch.manual_seed(0)` 后取 `torch.randn(1, 4, 8)` 个查询、`torch.randn(1, 6, 8)` 个键，用它和缩放点积打分、做 softmax，
# 把不同查询之间权重的最大差别 $\max_{i, j} |\alpha_{ij} - \alpha_{0j}|$ 存为 `ex3_spread_sum` 和 `ex3_spread_dot`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def sum_score(queries, keys):
    """1^T (q + k) for every pair: (batch, n, d), (batch, m, d) -> (batch, n, m)."""
    return queries.sum(dim=-1)[:, :, None] + keys.sum(dim=-1)[:, None, :]


torch.manual_seed(0)
ex3_q, ex3_k = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
ex3_sum_weights = F.softmax(sum_score(ex3_q, ex3_k), dim=-1)
ex3_dot_weights = F.softmax(ex3_q @ ex3_k.transpose(-2, -1) / math.sqrt(8), dim=-1)
ex3_spread_sum = (ex3_sum_weights - ex3_sum_weights[:, :1]).abs().max().item()
ex3_spread_dot = (ex3_dot_weights - ex3_dot_weights[:, :1]).abs().max().item()
print(f"largest difference between the queries' weights: sum {ex3_spread_sum:.6f}, "
      f"dot {ex3_spread_dot:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
ex3_tq, ex3_tk = torch.randn(2, 3, 5), torch.randn(2, 7, 5)
ex3_scores = sum_score(ex3_tq, ex3_tk)
assert tuple(ex3_scores.shape) == (2, 3, 7), "scores: (batch_size, num_queries, num_kv)"
ex3_by_hand = (ex3_tq[1, 2] + ex3_tk[1, 4]).sum()
assert torch.allclose(ex3_scores[1, 2, 4], ex3_by_hand, atol=1e-5), \
    f"score of query 2 and key 4 in example 1 should be 1^T(q + k) = {ex3_by_hand:.4f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert torch.allclose(ex3_scores, (ex3_tq[:, :, None, :] + ex3_tk[:, None, :, :]).sum(dim=-1),
                      atol=1e-5), "sum_score should be the sum of all entries of q + k"
assert ex3_spread_sum < 1e-6, "with sum scores every query gets the same weights"
assert ex3_spread_dot > 0.1, "with dot-product scores the weights depend on the query"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：更差。$\mathbf{1}^\top\mathbf{q}$ 对一行里的所有键都一样，softmax 不理会每行加上的常数，
# 所以权重与查询无关（上面：0.000000，点积 0.580）。任何 $f(\mathbf{q}) + g(\mathbf{k})$ 形式的分数都如此，$\mathbf{W}$ 很小的加性注意力也接近这种情形。

# %% [markdown]
# ### 练习 4
#
# 取 $d = 256$：`torch.manual_seed(0)` 后生成
# `torch.randn(1000, 1, 256)` 个查询和 `torch.randn(1000, 10, 256)` 个键，对 $\tau \in \{1, 2, 4, 8, 16, 32\}$ 算 $\operatorname{softmax}(\mathbf{q}^\top\mathbf{k}/\tau)$
# 中饱和行的比例和平均最大权重，存为字典 `ex4_saturated`、`ex4_mean_max`（键为 $\tau$）。不饱和的 $\tau$ 不止 16 一个，为什么仍用 $\sqrt{d}$？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
torch.manual_seed(0)
ex4_dots = (torch.randn(1000, 1, 256) @ torch.randn(1000, 10, 256).transpose(1, 2))[:, 0]
ex4_saturated, ex4_mean_max = {}, {}
for tau in [1, 2, 4, 8, 16, 32]:
    ex4_a = F.softmax(ex4_dots / tau, dim=-1)
    ex4_saturated[tau] = (jacobian_norms(ex4_a) < 0.01).float().mean().item()
    ex4_mean_max[tau] = ex4_a.max(dim=-1).values.mean().item()
    print(f"tau = {tau:>2}: saturated {ex4_saturated[tau]:4.0%}, mean max weight {ex4_mean_max[tau]:.3f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert set(ex4_saturated) == set(ex4_mean_max) == {1, 2, 4, 8, 16, 32}, "keys: the six temperatures"
assert all(0.1 - 1e-6 <= v <= 1 for v in ex4_mean_max.values()), "a max over 10 weights is >= 1/10"
assert ex4_saturated[1] > 0.5 and ex4_saturated[16] == 0, \
    f"at d = 256 tau = 1 saturates most rows and tau = 16 none; got {ex4_saturated[1]:.2f}, {ex4_saturated[16]:.2f}"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
torch.manual_seed(0)
ex4_check = (torch.randn(1000, 1, 256) @ torch.randn(1000, 10, 256).transpose(1, 2))[:, 0]
for tau in [1, 2, 4, 8, 16, 32]:
    ex4_w = F.softmax(ex4_check / tau, dim=-1)
    assert abs(ex4_saturated[tau] - (jacobian_norms(ex4_w) < 0.01).float().mean().item()) < 1e-6
    assert abs(ex4_mean_max[tau] - ex4_w.max(dim=-1).values.mean().item()) < 1e-5
assert ex4_saturated[8] == 0 and ex4_mean_max[8] > ex4_mean_max[16] > ex4_mean_max[32]

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：$d = 256$ 时 $\tau = 8$ 也不饱和，权重更尖（平均最大 0.525）；$\tau = 32$ 的 0.196 约是均匀（0.1）的两倍。
# 合适的 $\tau$ 随 $d$ 变（正文对 $d$ 的扫描）；$\tau = \sqrt{d}$ 让分数方差对所有 $d$ 都是 1。
# $\mathbf{W}_q, \mathbf{W}_k$ 可学，能吸收常数，$\sqrt{d}$ 定的是起始尺度。

# %% [markdown]
# ### 练习 5
#
# 解码器要同时挡住“未来”的键和填充的键。在掩蔽探索器里勾选 causal，把 $L$ 从 10 拖到 6：哪几行变了？为什么？
# 再写函数 `causal_padded_lens(valid_lens, num_queries)`：把形状 $(b,)$ 的有效长度变成 $(b, n)$ 的 `valid_lens`，让查询 $i$ 只看键 $0, \ldots, i$ 中不是填充的那些。把 `causal_padded_lens(torch.tensor([5, 8]), 8)` 存为 `ex5_lens`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex5-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def causal_padded_lens(valid_lens, num_queries):
    """Query i of example b sees keys 0..min(i, valid_lens[b] - 1): (batch,) -> (batch, num_queries)."""
    return torch.minimum(torch.arange(1, num_queries + 1)[None, :], valid_lens[:, None])


ex5_lens = causal_padded_lens(torch.tensor([5, 8]), 8)
print(ex5_lens)
torch.manual_seed(0)
ex5_weights = masked_softmax(torch.randn(2, 8, 8), ex5_lens)
print("keys each query attends to, example 0:", (ex5_weights[0] > 0).sum(dim=-1).tolist())

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
ex5_check = causal_padded_lens(torch.tensor([3, 1, 6]), 4)
assert tuple(ex5_check.shape) == (3, 4), "one valid length per query: (batch_size, num_queries)"
assert ex5_check[1].tolist() == [1, 1, 1, 1], "with valid_len 1 every query sees key 0 only"
assert tuple(ex5_lens.shape) == (2, 8), "ex5_lens = causal_padded_lens(torch.tensor([5, 8]), 8)"

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["hidden-tests"]
assert ex5_check.tolist() == [[1, 2, 3, 3], [1, 1, 1, 1], [1, 2, 3, 4]]
assert ex5_lens.tolist() == [[1, 2, 3, 4, 5, 5, 5, 5], [1, 2, 3, 4, 5, 6, 7, 8]]

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex5-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：只有 $\mathbf{q}_6$ 到 $\mathbf{q}_9$ 变了：$i < 6$ 时键 $0, \ldots, i$ 都在有效长度之内；$i \ge 6$ 的查询原本还看键 6 到 $i$，
# 现在它们是填充，权重转给键 0 到 5。查询 $i$ 的有效长度是 $\min(i + 1, L)$；上面第一个样本正是 $[1, 2, 3, 4, 5, 5, 5, 5]$。


# %% [markdown]
# <details><summary>与书中代码的差别</summary>
#
# * **掩蔽的填充值。** 书中用 $-10^6$，权重为 0 要靠 $\exp$ 下溢；$-\infty$ 在任何尺度和数据类型下都给出严格的 0
#   （float16 最大只能表示 65504：半精度下书中的 $-10^6$ 变成 $-\infty$，没有可见键的行得到 NaN，见下面的输出）。
# * **$L = 0$ 的行。** 书中的做法给出均匀的 $1/m$（下面的输出），填充的值“泄漏”进输出；这里给出全 0。
# * **基类。** 书中两个类各写完整的 `forward`；这里共用基类 `AttentionPooling`，子类只写 `score`。
#   构造参数、属性名和 `state_dict` 都与书中相同。
# * **暂退法（dropout）。** `attention_weights` 存暂退之前的权重；书中的演示都在评估模式。`nn.Dropout(p)` 在训练模式下把每个权重以概率 $p$ 置 0、其余乘以 $1/(1-p)$，
#   所以暂退之后一行权重的和只在期望上是 1；一行可见的键恰好全被遮住时，这一步的输出是零向量。
# * **编号。** 书中从 1 编号，这里从 0。
# * **形状检查。** `check_shape` 等在形状不对时说明怎样改；书中没有这些检查。
#
# </details>

# %%
for dtype in (torch.float32, torch.float16):  # the book's fill: X[masked] = -1e6, on an L = 0 row
    X = torch.zeros(1, 4, dtype=dtype)
    X[torch.ones(1, 4, dtype=torch.bool)] = -1e6
    print(f"the book's -1e6 fill, {dtype}: scores {X[0].tolist()}, weights {F.softmax(X, dim=-1)[0].tolist()}")
