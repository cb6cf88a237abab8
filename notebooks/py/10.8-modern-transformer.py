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
# # 10.8 从 2017 年到今天
#
# 10.7 节的 Transformer 是 2017 年的编码器–解码器。GPT、LLaMA 这些今天的大语言模型仍由它的注意力层和前馈层搭成。
# 本节在一个按字符训练的小语言模型上做出两类改动，每处给出一个看得见的数：
#
# * **结构**：只留解码器；层规范化挪到子层之前（pre-LN）；旋转位置编码（RoPE）。
#   LLaMA 还换了规范化（RMSNorm）、前馈网络（SwiGLU），并让几个查询头共用一组键值头（GQA），本节不涉及。
# * **推理**（模型不变，算得更省）：生成时缓存键和值；融合的注意力算子。

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import d2l_attention as d2l
from d2l_attention.explore import modern_transformer as modern

torch.set_num_threads(1)  # tiny tensors: more threads only wait for each other

# %% [markdown]
# ## 只有解码器的语言模型
#
# 语言模型没有源序列，只需要**带因果掩码的自注意力 + 前馈网络**：10.7 节的 `EncoderBlock` 加上 `causal_valid_lens`
# 就够了（第 $t$ 个查询只看位置 $0, \ldots, t$）。GPT 就是这样的堆叠。
# 下面的 `TinyGPT` 把字符嵌入和可学习的位置嵌入相加，过 `num_layers` 个层，再用全连接层给出下一个字符的分数
# （`pre_ln` 在下一小节用到）。

# %%
#@save
class TinyGPT(nn.Module):
    """Character + learned position embeddings, num_layers EncoderBlocks, dense to the vocab."""

    def __init__(self, vocab_size, d=32, num_heads=4, num_layers=2, max_len=32, causal=True,
                 pre_ln=False):
        super().__init__()
        self.causal, self.pre_ln = causal, pre_ln
        self.embedding = nn.Embedding(vocab_size, d)
        self.position = nn.Embedding(max_len, d)
        blocks = [d2l.EncoderBlock(d, d, d, d, [d], d, 2 * d, num_heads, 0.0)
                  for _ in range(num_layers)]
        self.blks = d2l.named_blocks(blocks)
        self.final_ln = nn.LayerNorm(d) if pre_ln else nn.Identity()
        self.dense = nn.Linear(d, vocab_size)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, tokens):  # (batch_size, T) -> (batch_size, T, vocab_size)
        b, T = tokens.shape
        mask = d2l.causal_valid_lens(b, T) if self.causal else None
        X = self.embedding(tokens) + self.position(torch.arange(T))
        for blk in self.blks:
            X = pre_ln_block(blk, X, mask) if self.pre_ln else blk(X, mask)
        return self.dense(self.final_ln(X))


# %% [markdown]
# 训练数据是 fra-eng 前 3000 个句对的英语一侧，按字符切开；每个位置预测下一个字符（交叉熵，Adam，随机截取 32 个字符的窗口）。
# 同一个模型再训练一个**不加**掩码的版本，两者都从 `i'm ` 开始贪心续写：

# %% tags=["nbval-ignore-output"]
text, chars, ids = modern.char_data(num_lines=3000)
print(f"{len(text)} characters, alphabet of {len(chars)}")
lms, prompt = {}, "i'm "
for causal in (True, False):
    torch.manual_seed(0)
    lms[causal] = TinyGPT(len(chars), causal=causal)
    losses = modern.train_char_lm(lms[causal], ids, num_steps=300, window=32)
    print(f"{'causal mask' if causal else 'no mask':11s}: training loss {sum(losses[-20:]) / 20:.2f}; "
          f"continues {prompt!r} as {modern.generate(lms[causal], chars, prompt, 28)!r}")
with torch.no_grad():  # the very next character after a short prefix, where generation starts
    for causal, lm in lms.items():
        scores = lm(torch.tensor([[chars.index(c) for c in "she's"]]))[0, -1]
        print(f"{'causal mask' if causal else 'no mask':11s}: after 'she's' predicts "
              f"{chars[scores.argmax()]!r}")

# %% [markdown]
# 不加掩码的模型训练损失低得多，续写却是乱码。带掩码的模型写出的是通顺片段的循环：贪心解码每步只取最可能的字符，
# 一旦回到同一段文字就会一直重复（换成按概率采样可以打破循环）。在没见过的句子（第 3001–3500 个句对）上数一数它猜对下一个字符的比例：

# %% tags=["nbval-ignore-output"]
held = " ".join(modern.english_lines(3000, 3500))
held = torch.tensor([chars.index(c) for c in held if c in chars])
windows = held[:len(held) // 33 * 33].reshape(-1, 33)  # inputs 0..31, targets 1..32
with torch.no_grad():
    for causal, lm in lms.items():
        right = (lm(windows[:, :-1]).argmax(-1) == windows[:, 1:]).float().mean(0)  # per position
        print(f"{'causal mask' if causal else 'no mask':11s}: next character right at positions "
              f"0-30: {right[:-1].mean():.2f}, at position 31: {right[-1]:.2f}")

# %% [markdown]
# 不加掩码时，位置 $t$ 要预测的字符就在输入的位置 $t+1$，注意力直接去看它就是答案：在位置 0–30 上它几乎全对。
# 只有窗口的最后一个位置 31 后面没有答案可抄，32 个位置里只有它教模型真正地预测；在那里它只猜对 0.36，不如带掩码的模型（0.53）。
# 生成时，最后一个位置是 3、4、5……，模型在这些位置上只学会了抄，而后面什么也没有，所以写出乱码：
# 上面在 `she's` 之后，带掩码的模型猜出空格（对），不加掩码的模型猜 `'e'`。
# 因果掩码让训练时的每个位置都处在生成时的处境：只看得到过去。
#
# 在探索器里看“抄答案”：默认是不加掩码的模型里最爱看下一个位置的头（第 1 层第 4 个头）。热图的第 $t$ 行是查询 $t$ 的注意力权重。
# 前 12 行（最后一行后面没有位置）里有 9 行把 0.9 以上的权重放在对角线右边一格，即位置 $t+1$，答案所在的位置；下方一行字显示它在这句话上 12 个字符全猜对。
# 勾上 “trained with the causal mask”，对角线右上方全是白的；这个模型只能从过去猜，所以只猜对 5 个，
# 而它生成时的处境和训练时一样。

# %% tags=["nbval-ignore-output"]
modern.mask_explorer(lms, chars, "she's happy .")

# %% [markdown]
# ## 前置层规范化（pre-LN）
#
# 10.7 节（和原论文）的层规范化在残差相加**之后**（后置，post-LN）：$\mathbf{X}_l = \operatorname{LN}(\mathbf{X}_{l-1} + f_l(\mathbf{X}_{l-1}))$。
# GPT-2 以来的模型大多挪到子层**之前**（前置，pre-LN）：$\mathbf{X}_l = \mathbf{X}_{l-1} + f_l(\operatorname{LN}(\mathbf{X}_{l-1}))$，最后再规范化一次。
# 于是 $\mathbf{X}_L = \mathbf{X}_0 + \sum_{l=1}^{L} f_l(\cdot)$：输入到输出有一条恒等的直路，损失对 $\mathbf{X}_L$ 的梯度原样传到每一层；
# 后置结构里，梯度每过一层都要穿过一次层规范化：
#
# ![Post-LN and pre-LN blocks](figures/10.8-pre-post-ln.svg)
#
# 同一个 `EncoderBlock` 的参数，换个顺序：

# %%
#@save
def pre_ln_block(blk, X, valid_lens):
    """The parameters of a d2l.EncoderBlock in the pre-LN order: X + f(LN(X)), both sublayers."""
    H = blk.addnorm1.ln(X)
    X = X + blk.attention(H, H, H, valid_lens)
    return X + blk.ffn(blk.addnorm2.ln(X))


# %% [markdown]
# Xiong 等人（2020）分析初始化时的梯度：后置结构最后一层参数的梯度比前置大，约为 $\sqrt{L}$ 倍（$L$ 为层数），
# 所以后置结构要靠学习率预热（warm-up）才能稳定训练。量一量：12 层的 `TinyGPT`，5 次初始化，一批训练窗口，每层参数的梯度范数：

# %%
def block_gradient_norms(lm, batch):
    """Gradient norm of each block's parameters for one batch of windows (batch_size, T + 1)."""
    scores = lm(batch[:, :-1])
    F.cross_entropy(scores.flatten(0, 1), batch[:, 1:].flatten()).backward()
    return [torch.cat([p.grad.flatten() for p in blk.parameters()]).norm().item() for blk in lm.blks]


batch = windows[:16]
norms = {}
for depth in (6, 12, 24):
    for pre_ln in (False, True):
        rows = []
        for seed in range(5):
            torch.manual_seed(seed)
            rows.append(block_gradient_norms(TinyGPT(len(chars), num_layers=depth, pre_ln=pre_ln), batch))
        norms[depth, "pre-LN" if pre_ln else "post-LN"] = torch.tensor(rows)  # (5, depth)
modern.plot_layer_gradients({order: norms[12, order] for order in ("post-LN", "pre-LN")})
for order in ("post-LN", "pre-LN"):
    print(f"L = 12, {order:7s}: mean over 5 inits, layers 1-12: "
          f"{[round(x, 2) for x in norms[12, order].mean(0).tolist()]}")
ratios = {depth: norms[depth, "post-LN"][:, -1] / norms[depth, "pre-LN"][:, -1]
          for depth in (6, 12, 24)}
for depth, ratio in ratios.items():
    print(f"L = {depth:2d}: post-LN / pre-LN at the last layer, mean of 5 inits {ratio.mean():.1f} "
          f"(range {ratio.min():.1f}-{ratio.max():.1f}); sqrt(L) = {math.sqrt(depth):.1f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert ratios[24].mean() > max(ratios[6].mean(), ratios[12].mean())
assert (norms[12, "pre-LN"][:, 0] > norms[12, "pre-LN"][:, -1]).all()
assert norms[12, "post-LN"].mean(0)[-1] > norms[12, "post-LN"].mean(0)[0]

# %% [markdown]
# 12 层时（图），后置结构的梯度均值从输入端到输出端总体上升（1.08 → 1.72，中间有起伏），与 Xiong 等人的图 3 一致；
# 但 5 次初始化之间的差别（图中的带）比这个趋势还宽。前置结构大体下降（0.89 → 0.58），而他们的图中前置各层大致持平。NormFormer（Shleifer 等人，2021）也报告了前置结构浅层梯度比深层大。
# 最后一层的比值随层数增大，与 $\sqrt{L}$ 同向，但 6 层和 12 层几乎一样：每个深度只有 5 次初始化，这里只能说“几倍，且层数越多越大”。
#
# 预热真的要紧吗？6 层、学习率 0.01 各训练 300 步：后置不预热、后置预热（前 75 步学习率线性升到 0.01）、前置不预热：

# %% tags=["nbval-ignore-output"]
curves = {}
for label, pre_ln, warmup in (("post-LN", False, 0), ("post-LN + warm-up", False, 75),
                              ("pre-LN", True, 0)):
    torch.manual_seed(0)
    lm = TinyGPT(len(chars), num_layers=6, max_len=16, pre_ln=pre_ln)
    curves[label] = modern.train_char_lm(lm, ids, num_steps=300, window=16, batch_size=16,
                                         warmup=warmup)
    print(f"{label:17s}: mean loss of the last 20 steps {sum(curves[label][-20:]) / 20:.2f}")
freq = torch.bincount(ids).float() / len(ids)
print(f"entropy of the character frequencies: {-(freq[freq > 0] * freq[freq > 0].log()).sum():.2f} nats")
modern.plot_losses(curves)

# %% [markdown]
# 后置不预热的损失在 50 步后停在 2.83 附近，再也不降。这正是字符频率的熵（2.82）：模型只学会了按频率猜字符，完全不看上下文。
# 同一个模型预热后降到 2.15；前置不预热降到 1.80。这是一个随机种子的结果；它与 Xiong 等人的结论一致：
# 后置结构靠预热才训练得动，前置结构不需要，这也是 GPT-2 以来的模型改用前置的原因之一。
#
# ## 键值缓存（KV cache）
#
# 上面的 `generate` 每生成一个字符，都把整个前缀重新输入一遍，每层把前缀的每个位置重新投影成查询、键和值。
# 可是因果掩码下，位置 $j$ 的键 $\mathbf{k}_j = \mathbf{W}_k\mathbf{x}_j$ 和值 $\mathbf{v}_j$ 一旦算出就不再改变。
# 所以每层把投影**之后**的键和值存起来，每步只为新词元做投影，再让它的查询看缓存里的全部键。
# 10.7 节解码器的 `state[2]` 存的是每层的**输入**，每步仍把整个前缀重新投影成键和值；这里存的是投影的结果，重复的投影全省掉了：

# %%
#@save
def step_with_cache(lm, token, t, cache):
    """One new token (1, 1) at position t through a post-LN TinyGPT; cache[l] = [K, V] of
    block l, (1, t, d) each, grows by the new token's key and value. Returns its scores."""
    X = lm.embedding(token) + lm.position(torch.tensor([t]))  # (1, 1, d)
    for blk, kv in zip(lm.blks, cache):
        mha = blk.attention
        q, k, v = mha.W_q(X), mha.W_k(X), mha.W_v(X)  # only the new position is projected
        kv[0], kv[1] = torch.cat([kv[0], k], dim=1), torch.cat([kv[1], v], dim=1)
        heads = mha.attention(*(d2l.transpose_qkv(Z, mha.num_heads) for Z in (q, *kv)))
        Y = blk.addnorm1(X, mha.W_o(d2l.transpose_output(heads, mha.num_heads)))
        X = blk.addnorm2(Y, blk.ffn(Y))
    return lm.dense(X)[0, -1]


def generate_with_cache(lm, chars, prompt, num_chars):
    """Greedy continuation of `prompt` by num_chars characters with step_with_cache; returns
    (the text, the cache)."""
    d = lm.embedding.embedding_dim
    cache = [[torch.zeros(1, 0, d), torch.zeros(1, 0, d)] for _ in lm.blks]
    ids = [chars.index(c) for c in prompt]
    with torch.no_grad():
        for t in range(len(prompt) + num_chars - 1):  # the prompt goes in one token at a time
            scores = step_with_cache(lm, torch.tensor([[ids[t]]]), t, cache)
            if t == len(ids) - 1:
                ids.append(scores.argmax().item())
    return "".join(chars[i] for i in ids), cache


# %% [markdown]
# 新查询不需要掩码：缓存里只有过去。同一个带掩码的模型，续写 28 个字符，有缓存和没有缓存各一遍；钩子数出每个线性层投影了多少个位置：

# %% tags=["nbval-ignore-output"]
lm = lms[True]
counts, remove = modern.count_rows(lm)
with_cache, cache = generate_with_cache(lm, chars, prompt, 28)
rows_cached = dict(counts)
counts.clear()
without_cache = modern.generate(lm, chars, prompt, 28)
remove()
print(f"with the cache:    {with_cache!r}\nwithout the cache: {without_cache!r}")
for name in ("attention.W_k", "attention.W_v", "attention.W_q", "ffn.dense1"):
    print(f"positions through {name:13s} (both layers): {rows_cached[name]:4d} with the cache, "
          f"{counts[name]:4d} without")
print("cache of block 1: K", tuple(cache[0][0].shape), "V", tuple(cache[0][1].shape))

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert with_cache == without_cache
assert rows_cached["attention.W_k"] == 2 * 31 and counts["attention.W_k"] == 2 * sum(range(4, 32))

# %% [markdown]
# 两种方式写出同一串字符。生成 $N$ 个位置时，不用缓存每层要投影 $1 + 2 + \cdots + N \approx N^2/2$ 个位置（这里续写从 4 个字符的前缀开始，
# $4 + 5 + \cdots + 31 = 490$ 个，两层 980），用缓存只投影 $N$ 个（31 个，两层 62）：省下的正是键、值、查询和前馈网络的重复投影。
# 代价是显存：每层存 $2 \times N \times d$ 个数。注意力分数仍要新查询对全部 $t+1$ 个键各算一次。
#
# ## 融合的注意力算子
#
# PyTorch 的 `F.scaled_dot_product_attention` 把 $\operatorname{softmax}(\mathbf{Q}\mathbf{K}^\top/\sqrt{d})\mathbf{V}$ 算成一个算子，
# 在 GPU 上它可以调用 FlashAttention 一类的融合内核（fused kernel），分块计算，不把 $T \times T$ 的权重矩阵写回显存。
# 这里只验证它算的就是 10.3 节的 `DotProductAttention` 加因果掩码（在 CPU 上，不测速度和显存）：

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
q, k, v = torch.randn(2, 6, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8)
ours = d2l.DotProductAttention(dropout=0.0)(q, k, v, d2l.causal_valid_lens(2, 6))
print(f"max |ours - fused|: {(ours - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max():.1e}")

# %% [markdown]
# ## 旋转位置编码（RoPE）
#
# 10.6 节把位置编码**加**在输入上，位置 $i$、第 $m$ 对列的角度是 $\theta_{im} = i\,\omega_m$，$\omega_m = 10000^{-2m/d}$。
# LLaMA 等模型改用旋转位置编码（rotary position embedding，Su 等人，2021）：在每层算分数之前，
# 把位置 $i$ 的查询和键的第 $m$ 对坐标 $(x_{2m}, x_{2m+1})$ 旋转角度 $\theta_{im}$。
# 旋转矩阵满足 $\mathbf{R}_i^\top \mathbf{R}_j = \mathbf{R}_{j-i}$，所以分数 $(\mathbf{R}_i\mathbf{q})^\top(\mathbf{R}_j\mathbf{k}) = \mathbf{q}^\top \mathbf{R}_{j-i}\mathbf{k}$
# 只取决于**偏移** $\delta = j - i$，不取决于 $i$ 本身。

# %%
#@save
def rope(X, base=10000):
    """Rotate pair m of X: (..., T, d) at position i by theta_im = i * omega_m (d even)."""
    T, d = X.shape[-2], X.shape[-1]
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,): omega_m
    theta = torch.arange(T, dtype=torch.float32)[:, None] * omega  # (T, d/2): theta_im
    cos, sin = torch.cos(theta), torch.sin(theta)
    x_even, x_odd = X[..., 0::2], X[..., 1::2]
    return torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1).flatten(-2)


# %% [markdown]
# 把同一个查询 $\mathbf{q}$ 放在每个位置 $i$、同一个键 $\mathbf{k}$ 放在每个位置 $j$，看偏移 $\delta = 2$ 的分数。
# 对照组是 10.6 节的做法：把位置编码 $\mathbf{p}_i$ 加在向量上，分数是 $(\mathbf{q} + \mathbf{p}_i)^\top(\mathbf{k} + \mathbf{p}_j)$。

# %%
torch.manual_seed(0)
T, d = 40, 16
q, k = torch.randn(d), torch.randn(d)
P = d2l.PositionalEncoding(d, 0.0).P[0, :T]  # 10.6: p_i, (T, d)
rotary = rope(q.expand(T, d)) @ rope(k.expand(T, d)).T  # rotary[i, j]: query at i, key at j
additive = (q + P) @ (k + P).T
for name, scores in (("RoPE", rotary), ("added p_i", additive)):
    print(f"{name:9s}: score at offset 2 for i = 0, 10, 20, 30: "
          f"{[round(scores[i, i + 2].item(), 3) for i in (0, 10, 20, 30)]}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (rotary[1:, 1:] - rotary[:-1, :-1]).abs().max() < 1e-4  # every offset, not only 2
assert max(additive[i, i + 2] for i in range(30)) - min(additive[i, i + 2] for i in range(30)) > 1

# %% [markdown]
# RoPE 下四个数相同：模型只能通过分数“看到”两个词隔多远。位置编码加在输入上时，同一偏移的分数随绝对位置变化；
# 10.6 节说过，相对偏移在那里要靠 $\mathbf{W}_q$、$\mathbf{W}_k$ 学出来，RoPE 则直接写进了分数。
#
# <details><summary>与书中代码的差别</summary>
#
# 印刷版第 10 章到 Transformer 为止，没有这一节；本节的模型和实验都是新增的。
# `TinyGPT` 直接用 10.7 节的 `EncoderBlock`（后置层规范化），位置用可学习的嵌入而不是 10.6 节的正弦编码，全连接层按 Xavier 初始化（与 `d2l.train_seq2seq` 相同）。
# 前置的版本不改层的参数，只改计算的顺序（`pre_ln_block`），所以两种顺序比较的是同一组参数。
#
# </details>
#
# ## 小结
#
# * 只有解码器的语言模型就是带因果掩码的 `EncoderBlock` 堆叠；去掉掩码，它训练时抄下一个字符，损失很低，生成的却是乱码。
# * 前置层规范化给输入到输出留了一条恒等的直路；初始化时后置结构最后一层的梯度是前置的数倍，层数越多倍数越大。
# * 键值缓存存下投影之后的键和值，每步只投影新词元，生成的结果不变。
# * `F.scaled_dot_product_attention` 与显式的 softmax 注意力是同一个函数；RoPE 旋转查询和键，分数只取决于相对偏移。
#
# ## 练习
#
# ### 练习 1
#
# 在上面的探索器里找出不加掩码的模型中“看下一个位置”的头。然后用代码验证：对两个模型的每一层、每个头，
# 在 `"she's happy ."` 上算对角线右边一格（查询 $t$、键 $t+1$）的平均权重，
# 存为字典 `ex1_next_weight[causal, layer, head]`（层和头从 1 数）。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex1-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
ex1_ids = torch.tensor([[chars.index(c) for c in "she's happy ."]])
ex1_next_weight = {}
with torch.no_grad():
    for causal, lm in lms.items():
        lm(ex1_ids)
        for layer, blk in enumerate(lm.blks):
            weights = blk.attention.attention.attention_weights  # (num_heads, T, T)
            for head in range(weights.shape[0]):
                ex1_next_weight[causal, layer + 1, head + 1] = torch.diagonal(
                    weights[head], offset=1).mean().item()
for causal in (False, True):
    print(f"causal={causal}:", {key[1:]: round(w, 2) for key, w in ex1_next_weight.items()
                                if key[0] == causal})

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print(f"largest weight on t+1, no mask: {max(w for k, w in ex1_next_weight.items() if not k[0]):.2f}; "
      f"causal: {max(w for k, w in ex1_next_weight.items() if k[0]):.2f}")
assert len(ex1_next_weight) == 2 * 2 * 4, "two models x 2 layers x 4 heads"
assert max(w for k, w in ex1_next_weight.items() if k[0]) == 0, "the causal mask hides t+1"
assert max(w for k, w in ex1_next_weight.items() if not k[0]) > 0.5, "some head copies t+1"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex1-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不加掩码的模型里，第 1 层第 2、4 个头在位置 $t+1$ 上的平均权重是 0.76、0.82（探索器默认打开的就是第 4 个头），
# 第 1 层另两个头是 0.34、0.40，第 2 层都不到 0.15：抄答案主要是第 1 层做的。带掩码的模型每个头都是 0，掩码把位置 $t+1$ 的权重置为 0。

# %% [markdown]
# ### 练习 2
#
# 键值缓存占多少内存？用上面 `generate_with_cache` 返回的缓存数一数它存了多少个数，存为 `ex2_numel`，
# 并与 $2 \times \text{层数} \times N \times d$ 比较。再算 GPT-2 small（12 层，$d = 768$）在 $N = 1024$ 个位置、每个数 4 字节时缓存有多少 MiB，
# 存为 `ex2_gpt2_mib`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex2_numel = sum(K.numel() + V.numel() for K, V in cache)
ex2_formula = 2 * len(lm.blks) * cache[0][0].shape[1] * lm.embedding.embedding_dim
ex2_gpt2_mib = 2 * 12 * 1024 * 768 * 4 / 2**20
print(f"our cache: {ex2_numel} numbers (2 x layers x N x d = {ex2_formula}); "
      f"GPT-2 small at N = 1024: {ex2_gpt2_mib:.0f} MiB")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(f"ex2_numel = {ex2_numel}, ex2_gpt2_mib = {ex2_gpt2_mib:.1f}")
assert ex2_numel == 2 * 2 * 31 * 32, "2 layers, K and V, 31 positions, d = 32"
assert abs(ex2_gpt2_mib - 72) < 0.5

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：缓存里有 $2 \times 2 \times 31 \times 32 = 3968$ 个数，正是 $2 \times \text{层数} \times N \times d$
# （31 个位置：最后生成的字符还没有输入过）。GPT-2 small 在 1024 个位置时是 $2 \times 12 \times 1024 \times 768 \times 4$ 字节 $= 72$ MiB，
# 每条序列一份；批量生成时乘以批量大小：批量 32 时是 $32 \times 72$ MiB $\approx 2.3$ GiB，
# 而 GPT-2 small 的参数（约 1.24 亿个，4 字节）只有约 0.47 GiB。缓存随 $N$ 和批量线性增长，这正是 GQA 让几个查询头共用键值头的原因。

# %% [markdown]
# ### 练习 3
#
# 只旋转查询、不旋转键，分数还只取决于偏移吗？用上面的 `q`、`k` 和 `rope` 算出 $(\mathbf{R}_i\mathbf{q})^\top\mathbf{k}_j$ 的 $T \times T$ 矩阵，
# 把偏移 2 上分数的最大值减最小值（$i = 0, \ldots, 29$）存为 `ex3_spread_query_only`，两边都旋转时的同一个数存为 `ex3_spread_both`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex3-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
def ex3_spread(scores, delta=2, num=30):
    diagonal = torch.stack([scores[i, i + delta] for i in range(num)])
    return (diagonal.max() - diagonal.min()).item()


ex3_spread_query_only = ex3_spread(rope(q.expand(T, d)) @ k.expand(T, d).T)
ex3_spread_both = ex3_spread(rope(q.expand(T, d)) @ rope(k.expand(T, d)).T)
print(f"spread at offset 2: query only {ex3_spread_query_only:.3f}, both {ex3_spread_both:.1e}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print(f"ex3_spread_query_only = {ex3_spread_query_only:.3f}, ex3_spread_both = {ex3_spread_both:.1e}")
assert ex3_spread_both < 1e-4, "rotating both: the score depends on the offset only"
assert ex3_spread_query_only > 0.5, "rotating only the query: it depends on the position i"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex3-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：不再只取决于偏移。只旋转查询时分数是 $\mathbf{q}^\top\mathbf{R}_i^\top\mathbf{k}$，含有绝对位置 $i$（键的位置 $j$ 则完全不起作用），
# 偏移 2 上的分数随 $i$ 变化（打印的最大差 8.64）；两边都旋转时 $\mathbf{R}_i^\top\mathbf{R}_j = \mathbf{R}_{j-i}$，只剩偏移，最大差是舍入误差。
