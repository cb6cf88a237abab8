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
# GPT、LLaMA 仍由 10.7 节（2017 年）的注意力层和前馈层搭成。本节把此后的改动放进一个按字符训练的小语言模型：
#
# * 只有解码器的语言模型，按概率抽样生成；
# * 层规范化挪到子层之前（pre-LN）；旋转位置编码（RoPE）；
# * 缓存键和值（KV cache）；LLaMA 系列的 RMSNorm、SwiGLU 和 GQA；
# * 分块计算的注意力（FlashAttention 的思路）。

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
# （第 $t$ 个查询只看位置 $0, \ldots, t$）。`TinyGPT` 把字符嵌入和可学习的位置嵌入相加，过 `num_layers` 个层，
# 给出下一个字符的分数（`pre_ln`、`positions="rope"` 后面讲）。

# %%
#@save
class TinyGPT(nn.Module):
    """Character embeddings (+ learned position embeddings, or RoPE inside attention),
    num_layers EncoderBlocks, dense to the vocab."""

    def __init__(self, vocab_size, d=32, num_heads=4, num_layers=2, max_len=32, causal=True,
                 pre_ln=False, positions="learned"):
        super().__init__()
        self.causal, self.pre_ln, self.rotary = causal, pre_ln, positions == "rope"
        self.embedding = nn.Embedding(vocab_size, d)
        self.position = None if self.rotary else nn.Embedding(max_len, d)
        blocks = [d2l.EncoderBlock(key_size=d, query_size=d, value_size=d, num_hiddens=d,
                                   norm_shape=[d], ffn_num_input=d, ffn_num_hiddens=2 * d,
                                   num_heads=num_heads, dropout=0.0) for _ in range(num_layers)]
        for blk in blocks if self.rotary else []:  # same sizes; queries and keys get rotated
            blk.attention = RotaryAttention(d, d, d, d, num_heads, 0.0)  # defined under RoPE below
        self.blks = d2l.named_blocks(blocks)
        self.final_ln = nn.LayerNorm(d) if pre_ln else nn.Identity()
        self.dense = nn.Linear(d, vocab_size)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, tokens):  # (batch_size, T) -> (batch_size, T, vocab_size)
        b, T = tokens.shape
        mask = d2l.causal_valid_lens(b, T) if self.causal else None
        X = self.embedding(tokens)
        if self.position is not None:
            X = X + self.position(torch.arange(T))
        for blk in self.blks:
            X = pre_ln_block(blk, X, mask) if self.pre_ln else blk(X, mask)  # pre_ln_block: pre-LN below
        return self.dense(self.final_ln(X))


# %% [markdown]
# 训练数据是 fra-eng 前 3000 个句对的英语一侧，按字符切开；每个位置预测下一个字符（随机的 32 字符窗口）。
# 同一个模型再训练一个**不加**掩码的版本，两者都从 `i'm ` 开始贪心续写（每步取最可能的字符）：

# %% tags=["nbval-ignore-output"]
text, chars, ids = modern.char_data(num_lines=3000)
print(f"{len(text)} characters, alphabet of {len(chars)}")
lms, final_loss, prompt = {}, {}, "i'm "
for causal in (True, False):
    torch.manual_seed(0)
    lms[causal] = TinyGPT(len(chars), causal=causal)
    losses = modern.train_char_lm(lms[causal], ids, num_steps=300, window=32)
    final_loss[causal] = sum(losses[-20:]) / 20
    print(f"{'causal mask' if causal else 'no mask':11s}: training loss {final_loss[causal]:.2f}; "
          f"continues {prompt!r} as {modern.generate(lms[causal], chars, prompt, 28)!r}")
with torch.no_grad():  # the very next character after a short prefix, where generation starts
    for causal, lm in lms.items():
        scores = lm(torch.tensor([[chars.index(c) for c in "she's"]]))[0, -1]
        print(f"{'causal mask' if causal else 'no mask':11s}: after 'she's' predicts "
              f"{chars[scores.argmax()]!r}")

# %% [markdown]
# 不加掩码的模型训练损失低得多，续写却是乱码。在没见过的句子（第 3001–3500 个句对）上数猜对下一个字符的比例：

# %% tags=["nbval-ignore-output"]
held = " ".join(modern.english_lines(3000, 3500))
held = torch.tensor([chars.index(c) for c in held if c in chars])


def right_by_position(lm, windows):
    """Fraction of next characters guessed right at each position; windows: (n, T + 1)."""
    with torch.no_grad():
        return (lm(windows[:, :-1]).argmax(-1) == windows[:, 1:]).float().mean(0)


windows = held[:len(held) // 33 * 33].reshape(-1, 33)  # inputs 0..31, targets 1..32
for causal, lm in lms.items():
    right = right_by_position(lm, windows)
    print(f"{'causal mask' if causal else 'no mask':11s}: next character right at positions "
          f"0-30: {right[:-1].mean():.2f}, at position 31: {right[-1]:.2f}")

# %% [markdown]
# 不加掩码时，位置 $t$ 的答案就在输入的位置 $t+1$：位置 0–30 几乎全对。只有位置 31 后面没有答案可抄，它只猜对 0.36（带掩码：0.53）。
# 本页外测得：提示长 5、16、31、32 时，最后一个位置猜对 0.09、0.11、0.27、0.36，不抄的预测主要学在绝对位置 31 上。
# 续写 `i'm ` 时最后一个位置是 3，所以它写出乱码（`she's` 之后猜 `'e'`；带掩码的模型猜空格，对）。
# 因果掩码让训练时的每个位置都处在生成时的处境：只看得到过去。
#
# 探索器默认显示不加掩码的模型的一个头，第 $t$ 行是查询 $t$ 的权重：
# 前 12 行有 9 行把 0.9 以上的权重放在对角线右边一格（位置 $t+1$），12 个字符全猜对。
# 勾上 “trained with the causal mask”，右上方全白，只猜对 5 个。

# %% tags=["nbval-ignore-output"]
modern.mask_explorer(lms, chars, "she's happy .")

# %% [markdown]
# ## 抽样
#
# 贪心续写陷进了循环 `i'm none . i'm none .`。改为抽样：分数除以温度（temperature）$\tau$ 再做 softmax，只在最可能的 $k$ 个字符里抽（top-$k$）：

# %% tags=["nbval-ignore-output"]
def sample(lm, chars, prompt, num_chars, temperature=1.0, top_k=None, seed=0):
    """Continue `prompt`, drawing each character from softmax(scores / temperature) over the top_k."""
    generator, ids = torch.Generator().manual_seed(seed), [chars.index(c) for c in prompt]
    with torch.no_grad():
        for _ in range(num_chars):
            scores = lm(torch.tensor([ids[-32:]]))[0, -1] / temperature
            if top_k is not None:  # keep the k largest scores
                scores[scores < scores.topk(top_k).values[-1]] = -math.inf
            ids.append(torch.multinomial(F.softmax(scores, dim=-1), 1, generator=generator).item())
    return "".join(chars[i] for i in ids)


print(f"greedy            : {modern.generate(lms[True], chars, prompt, 40)!r}")
for temperature, top_k in ((1.0, None), (0.7, 5), (0.3, 5)):
    print(f"tau = {temperature}, top-k = {str(top_k):4s}: "
          f"{sample(lms[True], chars, prompt, 40, temperature, top_k)!r}")

# %% [markdown]
# 每种设置只抽一次，都没进入 `i'm none .` 的循环，$\tau = 0.3$ 这串又重复起来（`i'm sa…` 三次）。
#
# ## 前置层规范化（pre-LN）
#
# 10.7 节的层规范化在残差相加**之后**（后置，post-LN）：$\mathbf{X}_l = \operatorname{LN}(\mathbf{X}_{l-1} + f_l(\mathbf{X}_{l-1}))$。
# GPT-2 起大多挪到子层**之前**（前置，pre-LN）：$\mathbf{X}_l = \mathbf{X}_{l-1} + f_l(\operatorname{LN}(\mathbf{X}_{l-1}))$，最后再规范化一次。
# 于是 $\mathbf{X}_L = \mathbf{X}_0 + \sum_{l=1}^{L} f_l(\cdot)$：输入到输出有一条恒等的直路。通常的论证：后置结构里，梯度每过一层都要穿过一次层规范化（见图，本节未测）：
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
# Xiong 等人（2020）推导出（本节未测）：初始化时后置结构最后一层的梯度约为前置的 $\sqrt{L}$ 倍（$L$ 为层数），故需学习率预热（warm-up）。
# 6 层、学习率 0.01，各训练 300 步、3 个种子：后置不预热、后置预热（前 75 步线性升到 0.01）、前置不预热：

# %% tags=["nbval-ignore-output"]
freq = torch.bincount(ids).float() / len(ids)
entropy = -(freq[freq > 0] * freq[freq > 0].log()).sum().item()
print(f"entropy of the character frequencies: {entropy:.2f} nats")
curves = {}
for label, pre_ln, warmup in (("post-LN", False, 0), ("post-LN + warm-up", False, 75),
                              ("pre-LN", True, 0)):
    finals = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        lm = TinyGPT(len(chars), num_layers=6, max_len=16, pre_ln=pre_ln)
        losses = modern.train_char_lm(lm, ids, num_steps=300, window=16, batch_size=16,
                                      warmup=warmup, seed=seed)
        curves.setdefault(label, losses)  # seed 0 is drawn
        finals.append(round(sum(losses[-20:]) / 20, 2))
    print(f"{label:17s}: mean loss of the last 20 steps, seeds 0, 1, 2: {finals}")
modern.plot_losses(curves, hline=(entropy, "entropy of the character frequencies"))

# %% [markdown]
# 图中是种子 0：后置不预热的损失 50 步后停在虚线上，即字符频率的熵（2.82）：模型只按频率猜、不看上下文。
# 三个种子都卡住（2.83、2.81、2.85）；预热在两个种子上走出平台（2.15、2.09），种子 2 仍在 2.72；前置三个种子都到 1.8 左右。
#
# ## 旋转位置编码（RoPE）
#
# LLaMA 等模型不在输入上加位置编码，而用旋转位置编码（rotary position embedding，Su 等人，2021）：在每个头里，
# 把 $\mathbf{W}_q$、$\mathbf{W}_k$ 投影之后位置 $i$ 的查询和键的第 $m$ 对坐标 $(x_{2m}, x_{2m+1})$ 旋转角度 $\theta_{im} = i\,\omega_m$（$\omega_m = 10000^{-2m/d}$，$d$ 是每个头的维数）。
# 写成矩阵，$\mathbf{R}_i^\top \mathbf{R}_j = \mathbf{R}_{j-i}$，所以分数 $(\mathbf{R}_i\mathbf{q})^\top(\mathbf{R}_j\mathbf{k}) = \mathbf{q}^\top \mathbf{R}_{j-i}\mathbf{k}$
# 只取决于**偏移** $\delta = j - i$。

# %%
#@save
def rope(X, start=0, base=10000):
    """Rotate pair m of X: (..., T, d) at position i = start, ..., start + T - 1 by
    theta_im = i * omega_m (d even)."""
    T, d = X.shape[-2], X.shape[-1]
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,): omega_m
    theta = torch.arange(start, start + T, dtype=torch.float32)[:, None] * omega  # (T, d/2)
    cos, sin = torch.cos(theta), torch.sin(theta)
    x_even, x_odd = X[..., 0::2], X[..., 1::2]
    return torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1).flatten(-2)


#@save
class RotaryAttention(d2l.MultiHeadAttention):
    """d2l.MultiHeadAttention whose heads rotate their queries and keys (RoPE) after W_q, W_k."""

    def heads(self, queries, keys, values, start=0):
        """Per-head queries, keys, values (batch_size * num_heads, T, d / num_heads); queries and
        keys rotated to positions start, start + 1, ..."""
        q, k, v = (d2l.transpose_qkv(W(X), self.num_heads)
                   for W, X in ((self.W_q, queries), (self.W_k, keys), (self.W_v, values)))
        return rope(q, start), rope(k, start), v

    def attend(self, q, K, V, valid_lens=None):
        """Each head's attention over its keys K and values V, heads joined by W_o."""
        if valid_lens is not None:
            valid_lens = valid_lens.repeat_interleave(self.num_heads, dim=0)
        return self.W_o(d2l.transpose_output(self.attention(q, K, V, valid_lens), self.num_heads))

    def forward(self, queries, keys, values, valid_lens=None):
        return self.attend(*self.heads(queries, keys, values), valid_lens)


# %% [markdown]
# $\mathbf{q}$、$\mathbf{k}$ 的第 $m = 1$ 对放在两组位置上，偏移都是 2：

# %%
torch.manual_seed(0)
T, d = 40, 16
q, k = torch.randn(d), torch.randn(d)
pair_scores = modern.plot_rope_pair(q, k, m=1, positions=((1, 3), (5, 7)))
print(f"pair m = 1, omega_1 = {10000 ** (-2 / d):.3f}: its score at (i, j) = (1, 3): {pair_scores[0]:.3f}, "
      f"at (5, 7): {pair_scores[1]:.3f}")

# %% [markdown]
# 左图 $\mathbf{q}$ 转了 $\omega_1$，右图转了 $5\omega_1$；两图中 $\mathbf{k}$ 都比 $\mathbf{q}$ 多转 $2\omega_1$（虚线到实线的弧），夹角不变，这一对的点积都是 −0.420。
# 分数是 $d/2$ 对这样的点积之和，每对按自己的 $\omega_m$ 转。
#
# 同一个 $\mathbf{q}$ 放在每个位置 $i$、同一个 $\mathbf{k}$ 放在每个位置 $j$，取偏移 2 的分数；
# 对照组加 10.6 节的位置编码：$(\mathbf{q} + \mathbf{p}_i)^\top(\mathbf{k} + \mathbf{p}_j) = \mathbf{q}^\top\mathbf{k} + \mathbf{q}^\top\mathbf{p}_j + \mathbf{p}_i^\top\mathbf{k} + \mathbf{p}_i^\top\mathbf{p}_j$。
# 最后一项只取决于偏移，中间两个交叉项却取决于绝对位置：

# %%
P = d2l.PositionalEncoding(d, 0.0).P[0, :T]  # 10.6: p_i, (T, d)
rotary = rope(q.expand(T, d)) @ rope(k.expand(T, d)).T  # rotary[i, j]: query at i, key at j
additive = (q + P) @ (k + P).T
for name, scores in (("RoPE", rotary), ("added p_i", additive)):
    print(f"{name:9s}: score at offset 2 for i = 0, 10, 20, 30: "
          f"{[round(scores[i, i + 2].item(), 3) for i in (0, 10, 20, 30)]}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (rotary[1:, 1:] - rotary[:-1, :-1]).abs().max() < 1e-4  # every offset, not only 2
assert max(additive[i, i + 2] for i in range(30)) - min(additive[i, i + 2] for i in range(30)) > 1
assert ((P @ P.T)[1:, 1:] - (P @ P.T)[:-1, :-1]).abs().max() < 1e-4  # p_i^T p_j: the offset only

# %% [markdown]
# RoPE 下四个数相同，加性编码的随 $i$ 变。探索器里拖动 $i$：

# %% tags=["nbval-ignore-output"]
modern.rope_explorer(q, k)

# %% [markdown]
# RoPE 的曲线（蓝）不随 $i$ 动；加性编码的（橙）随之移动：偏移 $-8$ 处在 4.76（$i = 8$）和 12.63（$i = 24$）之间来回变。
#
# RoPE 模型（`positions="rope"`）同样训练 300 步。它没有位置表，能读 128 个字符，超过训练窗口（32）：

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
rope_lm = TinyGPT(len(chars), positions="rope")
losses = modern.train_char_lm(rope_lm, ids, num_steps=300, window=32)
long_windows = held[:len(held) // 129 * 129].reshape(-1, 129)  # inputs 0..127
print(f"learned positions: training loss {final_loss[True]:.2f}; right at 0-31: "
      f"{right_by_position(lms[True], windows).mean():.2f}; position 32 on: no embedding (max_len = 32)")
right = right_by_position(rope_lm, long_windows)
print(f"RoPE             : training loss {sum(losses[-20:]) / 20:.2f}; right at 0-31: "
      f"{right[:32].mean():.2f}, 32-63: {right[32:64].mean():.2f}, 64-127: {right[64:].mean():.2f}")

# %% [markdown]
# 单个种子上，RoPE 的训练损失（1.32）和窗口内正确率（0.55）都好于可学习的位置（1.59、0.50）。超出训练窗口能算，但变差（32–63：0.41，64–127：0.30）。
#
# ## 键值缓存（KV cache）
#
# `generate` 每步把整个前缀重新输入、重新投影。可是因果掩码下，位置 $j$ 的键 $\mathbf{k}_j = \mathbf{W}_k\mathbf{x}_j$ 和值 $\mathbf{v}_j$ 算出后不再改变。
# 所以每层存下投影**之后**的键和值，每步只投影新词元；新查询看缓存里的全部键，不需要掩码。
# 用上面的 RoPE 模型：新词元按自己的位置 $t$ 旋转（`start=t`），不从 0 数。核心是循环里的第 2–4 行：

# %%
#@save
def step_with_cache(lm, token, t, cache):
    """One new token (1, 1) at position t through a TinyGPT with RoPE (post- or pre-LN);
    cache[l] = [K, V] of block l grows by the new token's key and value. Returns its scores."""
    X = lm.embedding(token)  # (1, 1, d); RoPE: no position embedding
    for blk, kv in zip(lm.blks, cache):
        H = blk.addnorm1.ln(X) if lm.pre_ln else X  # what the attention reads
        q, k, v = blk.attention.heads(H, H, H, start=t)  # rotated to position t
        kv[0], kv[1] = torch.cat([kv[0], k], dim=1), torch.cat([kv[1], v], dim=1)
        A = blk.attention.attend(q, *kv)  # all cached keys: no mask needed
        if lm.pre_ln:  # the order of pre_ln_block
            X = X + A
            X = X + blk.ffn(blk.addnorm2.ln(X))
        else:  # the order of EncoderBlock
            Y = blk.addnorm1(X, A)
            X = blk.addnorm2(Y, blk.ffn(Y))
    return lm.dense(lm.final_ln(X))[0, -1]


#@save
def generate_with_cache(lm, chars, prompt, num_chars):
    """Greedy continuation of `prompt` by num_chars characters with step_with_cache; returns
    (the text, the cache)."""
    ids, empty = [chars.index(c) for c in prompt], torch.zeros(1, 0, lm.embedding.embedding_dim)
    with torch.no_grad():
        cache = [list(blk.attention.heads(empty, empty, empty)[1:]) for blk in lm.blks]  # 0 keys
        for t in range(len(prompt) + num_chars - 1):  # the prompt too, one token at a time
            scores = step_with_cache(lm, torch.tensor([[ids[t]]]), t, cache)
            if t == len(ids) - 1:
                ids.append(scores.argmax().item())
    return "".join(chars[i] for i in ids), cache


# %% [markdown]
# 续写 28 个字符（提示也逐个输入），有、无缓存各一遍，数出每个线性层投影的位置数：

# %% tags=["nbval-ignore-output"]
counts, remove = modern.count_rows(rope_lm)
with_cache, cache = generate_with_cache(rope_lm, chars, prompt, 28)
rows_cached = dict(counts)
counts.clear()
without_cache = modern.generate(rope_lm, chars, prompt, 28)
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
# 两种方式写出同一串。不用缓存每层投影 $4 + 5 + \cdots + 31 = 490$ 个位置（两层 980，约 $N^2/2$），用缓存只投影 $N = 31$ 个（两层 62）。
# 上面比的是不用缓存。10.7 节缓存每层的输入，已只有新词元过 $\mathbf{W}_q$ 和前馈层；
# 新的是 $\mathbf{W}_k$、$\mathbf{W}_v$ 不再每步重投影全部输入。
# 代价是显存：每层存 $2 \times N \times d$ 个数。
#
# ## 今天的块：RMSNorm、SwiGLU、GQA
#
# LLaMA 的块是前置规范化加 RoPE，换上 RMSNorm 和 SwiGLU；Llama 2 的 34B、70B 和 Llama 3 又用了 GQA：
#
# * **RMSNorm**：不减均值，只除以均方根：$\mathbf{g} \odot \mathbf{x} / \sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}$。
# * **SwiGLU**：带门控的前馈网络 $\mathbf{W}_2(\operatorname{SiLU}(\mathbf{W}_1\mathbf{x}) \odot \mathbf{W}_3\mathbf{x})$，三个矩阵。
# * **GQA**（grouped-query attention）：每几个查询头共用一个键值头，$\mathbf{W}_k$、$\mathbf{W}_v$ 和缓存随之变小。

# %%
#@save
class RMSNorm(nn.Module):
    """g * x / sqrt(mean(x^2) + eps) over the last axis: LayerNorm without the mean and the bias."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, X):
        return self.weight * X / torch.sqrt(X.pow(2).mean(-1, keepdim=True) + self.eps)


#@save
class SwiGLU(nn.Module):
    """Gated feed-forward network W_2 (silu(W_1 x) * W_3 x), without biases."""

    def __init__(self, d, num_hiddens):
        super().__init__()
        self.W_1, self.W_3 = nn.Linear(d, num_hiddens, bias=False), nn.Linear(d, num_hiddens, bias=False)
        self.W_2 = nn.Linear(num_hiddens, d, bias=False)

    def forward(self, X):
        return self.W_2(F.silu(self.W_1(X)) * self.W_3(X))


#@save
class GroupedQueryAttention(RotaryAttention):
    """RotaryAttention whose num_heads query heads share num_kv_heads key-value heads."""

    def __init__(self, d, num_heads, num_kv_heads):
        super().__init__(d, d, d, d, num_heads, 0.0)
        self.num_kv_heads = num_kv_heads
        self.W_k = nn.Linear(d, d // num_heads * num_kv_heads, bias=False)  # num_kv_heads heads
        self.W_v = nn.Linear(d, d // num_heads * num_kv_heads, bias=False)

    def heads(self, queries, keys, values, start=0):  # keys, values: num_kv_heads heads each
        q = rope(d2l.transpose_qkv(self.W_q(queries), self.num_heads), start)
        k = rope(d2l.transpose_qkv(self.W_k(keys), self.num_kv_heads), start)
        return q, k, d2l.transpose_qkv(self.W_v(values), self.num_kv_heads)

    def attend(self, q, K, V, valid_lens=None):  # key-value head g serves query heads g*r .. g*r+r-1
        r = self.num_heads // self.num_kv_heads
        return super().attend(q, K.repeat_interleave(r, dim=0), V.repeat_interleave(r, dim=0), valid_lens)


# %% [markdown]
# RMSNorm 比层规范化，SwiGLU（43 个隐藏单元）比 10.7 节的前馈网络（64 个）：

# %% tags=["nbval-ignore-output"]
num_params = lambda module: sum(p.numel() for p in module.parameters())
torch.manual_seed(0)
X = torch.randn(3, 32)
X = X - X.mean(-1, keepdim=True)  # rows with mean 0
print(f"RMSNorm: {num_params(RMSNorm(32))} parameters, LayerNorm {num_params(nn.LayerNorm(32))}; "
      f"max |RMSNorm - LayerNorm| on rows with mean 0: {(RMSNorm(32)(X) - nn.LayerNorm(32)(X)).abs().max():.0e}")
print(f"SwiGLU, 43 hidden units: {num_params(SwiGLU(32, 43))} parameters; "
      f"10.7's FFN, 64 hidden units: {num_params(d2l.PositionWiseFFN(32, 64, 32))}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (RMSNorm(32)(X) - nn.LayerNorm(32)(X)).abs().max() < 1e-5
assert num_params(SwiGLU(32, 43)) == 3 * 32 * 43 and num_params(d2l.PositionWiseFFN(32, 64, 32)) == 4192

# %% [markdown]
# 换进前置、RoPE 的 `TinyGPT`（未训练），4 个查询头共用 4、2、1 个键值头，用缓存续写：

# %%
def llama_like(num_kv_heads, d=32):
    """An untrained pre-LN RoPE TinyGPT with RMSNorm, SwiGLU and GQA swapped in (seed 0)."""
    torch.manual_seed(0)
    lm = TinyGPT(len(chars), d=d, pre_ln=True, positions="rope")
    for blk in lm.blks:
        blk.addnorm1.ln, blk.addnorm2.ln = RMSNorm(d), RMSNorm(d)
        blk.ffn = SwiGLU(d, 43)
        blk.attention = GroupedQueryAttention(d, num_heads=4, num_kv_heads=num_kv_heads)
    lm.final_ln = RMSNorm(d)
    return lm.eval()


for num_kv_heads in (4, 2, 1):
    model = llama_like(num_kv_heads)
    model_text, model_cache = generate_with_cache(model, chars, prompt, 28)
    differ = sum(a != b for a, b in zip(model_text, modern.generate(model, chars, prompt, 28)))
    print(f"{num_kv_heads} key-value heads: cache {sum(K.numel() + V.numel() for K, V in model_cache):4d} numbers, "
          f"K of block 1 {tuple(model_cache[0][0].shape)}; characters differing from the uncached run: {differ}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert differ == 0 and sum(K.numel() + V.numel() for K, V in model_cache) == 3968 // 4

# %% [markdown]
# RMSNorm 参数少一半，初始化时（$\mathbf{g} = 1$）在均值为 0 的行上与层规范化相同（差 2e-07）；SwiGLU 的参数与前馈网络相当（4128 对 4192）。
# 共用 2 个、1 个键值头时，缓存从 3968 个数降到 1984、992 个；有无缓存续写相同。
#
# ## 分块计算注意力
#
# 显式的注意力先算出 $T \times T$ 的分数矩阵，存下来给反向传播。它的大小（一条序列）：

# %%
for n in (1024, 8192, 32768):
    print(f"T = {n:5d}: T x T float32 weights {n * n * 4 / 2**20:6.0f} MiB per head, "
          f"{12 * n * n * 4 / 2**30:5.2f} GiB per layer of 12 heads")

# %% [markdown]
# FlashAttention（Dao 等人，2022）把查询和键值都切成放得进 GPU 片上存储（SRAM）的块，分数不写回显存、反向传播时重算，快在显存读写少。
# `tiled_attention` 只演示其核心（不带因果掩码）：键和值 $B$ 个一块，每次算 $T \times B$ 的分数。难点是 softmax 的分母要看完整行。
# 每个查询记住：目前的最大分数 $m$、$\ell = \sum e^{s - m}$、$\mathbf{o} = \sum e^{s - m}\mathbf{v}$。
# 新的一块里若有更大的分数，$m$ 变成 $m'$，旧的 $\ell$、$\mathbf{o}$ 乘上 $e^{m - m'}$，再加上新块的项；最后 $\mathbf{o}/\ell$ 就是 softmax 加权的和：

# %%
#@save
def tiled_attention(Q, K, V, tile=64):
    """softmax(Q K^T / sqrt(d)) V (no mask), reading the keys and values `tile` at a time."""
    m = torch.full(Q.shape[:-1] + (1,), -math.inf)  # running max of each query's scores
    l = torch.zeros(Q.shape[:-1] + (1,))  # running sum of exp(score - m)
    O = torch.zeros(Q.shape[:-1] + V.shape[-1:])  # running sum of exp(score - m) * value
    for j in range(0, K.shape[-2], tile):
        S = Q @ K[..., j:j + tile, :].transpose(-1, -2) / math.sqrt(Q.shape[-1])  # (..., T, tile)
        m_new = torch.maximum(m, S.amax(-1, keepdim=True))
        P = torch.exp(S - m_new)
        rescale = torch.exp(m - m_new)  # the old sums were taken against the old max
        l = l * rescale + P.sum(-1, keepdim=True)
        O = O * rescale + P @ V[..., j:j + tile, :]
        m = m_new
    return O / l


# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
Q, K, V = (torch.randn(4, 1024, 32) for _ in range(3))  # 4 heads, T = 1024, 32 dimensions each
explicit = F.softmax(Q @ K.transpose(1, 2) / math.sqrt(32), dim=-1) @ V
print(f"max |tiled - explicit| {(tiled_attention(Q, K, V, tile=64) - explicit).abs().max():.0e}; "
      f"max |F.scaled_dot_product_attention - explicit| {(F.scaled_dot_product_attention(Q, K, V) - explicit).abs().max():.0e}")
print(f"scores held at a time per head: {1024 * 64} (1024 x 64) instead of {1024 * 1024} (1024 x 1024)")
s = Q[0, 2] @ K[0, :128].T / math.sqrt(32)  # head 1, query 2: its scores in tiles 1 and 2
print(f"head 1, query 2: max score {s[:64].max():.2f} after tile 1, {s.max():.2f} after tile 2; "
      f"l and o rescaled by exp({s[:64].max():.2f} - {s.max():.2f}) = {torch.exp(s[:64].max() - s.max()):.2f}")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["check"]
assert (tiled_attention(Q, K, V, tile=64) - explicit).abs().max() < 1e-5

# %% [markdown]
# 分块与显式计算只差舍入误差（3e-07）；每个头同时只存 1024 × 64 个分数，是 $T \times T$ 的 1/16（没测显存）。
# 一次更新：头 1 的查询 2 在第 1 块的最大分数是 2.27，第 2 块有 3.01，旧的 $\ell$、$\mathbf{o}$ 乘 $e^{2.27 - 3.01} = 0.48$。
# GPU 上 `F.scaled_dot_product_attention` 可调用这样计算的融合内核（fused kernel）。
#
# 用缓存时要小心：`is_causal=True` 的掩码从左上角对齐，查询 $j$ 只看键 $0, \ldots, j$。一个新查询对 6 个缓存的键：

# %%
torch.manual_seed(0)
q_new, K, V = torch.randn(1, 1, 8), torch.randn(1, 6, 8), torch.randn(1, 6, 8)
ours = d2l.DotProductAttention(dropout=0.0)(q_new, K, V)  # no mask: the cache holds only the past
for is_causal in (True, False):
    fused = F.scaled_dot_product_attention(q_new, K, V, is_causal=is_causal)
    print(f"is_causal={is_causal!s:5s}: max |fused - ours| {(fused - ours).abs().max():.2f}, "
          f"max |fused - value of key 0| {(fused - V[:, :1]).abs().max():.2f}")

# %% [markdown]
# `is_causal=True` 给出的正是键 0 的值（差 0.00），离正确结果差 2.36：配合缓存要用 `is_causal=False`。
#
# <details><summary>与书中代码的差别</summary>
#
# 印刷版第 10 章到 Transformer 为止，没有这一节；本节的模型和实验都是新增的。
# `TinyGPT` 直接用 10.7 节的 `EncoderBlock`（后置层规范化），位置用可学习的嵌入而不是 10.6 节的正弦编码，全连接层按 Xavier 初始化（与 `d2l.train_seq2seq` 相同）。
# 前置的版本不改层的参数，只改计算的顺序（`pre_ln_block`）；`RotaryAttention` 把 `MultiHeadAttention` 的前向计算拆成 `heads` 和 `attend` 两步，供缓存调用。
# LLaMA 的 SwiGLU 隐藏层约为 $\frac{2}{3} \cdot 4d$，这里按 10.7 节的 $2d$ 取 $\frac{2}{3} \cdot 2d \approx 43$。
#
# </details>
#
# ## 小结
#
# * 语言模型是带因果掩码的 `EncoderBlock` 堆叠；不加掩码，它训练时抄答案，生成乱码。
# * 前置层规范化留出恒等的直路；6 层的后置结构在学习率 0.01 下卡在字符频率的熵上，预热（3 个种子中 2 个）或前置能走出来。
# * RoPE 旋转查询和键，分数只取决于偏移。
# * 键值缓存只投影新词元；GQA 让查询头共用键值头，缓存按组缩小。
# * 分块注意力靠运行中的最大值重新缩放，不存 $T \times T$ 的分数；配合缓存不能用 `is_causal=True`。
#
# ## 练习
#
# ### 练习 1
#
# 对两个模型的每一层、每个头，在 `"she's happy ."` 上算查询 $t$ 对键 $t+1$ 的平均权重，
# 存为字典 `ex1_next_weight[causal, layer, head]`（层和头从 1 数）。哪些头在抄答案？

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
# 参考答案：不加掩码的模型里，第 1 层第 2、4 个头的平均权重是 0.76、0.82，另两个头 0.34、0.40，第 2 层都不到 0.15；带掩码的每个头都是 0。
# 按权重看，抄答案的主要是第 1 层的头 2、4。

# %% [markdown]
# ### 练习 2
#
# 数一数键值缓存一节 `generate_with_cache` 返回的 `cache` 存了多少个数（`ex2_numel`），与 $2 \times \text{层数} \times N \times d$ 比较。
# GPT-2 small（12 层，$d = 768$）在 $N = 1024$、每个数 4 字节时缓存有多少 MiB（`ex2_gpt2_mib`）？

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex2-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
ex2_numel = sum(K.numel() + V.numel() for K, V in cache)
ex2_formula = 2 * len(rope_lm.blks) * cache[0][0].shape[1] * rope_lm.embedding.embedding_dim
ex2_gpt2_mib = 2 * 12 * 1024 * 768 * 4 / 2**20
print(f"our cache: {ex2_numel} numbers (2 x layers x N x d = {ex2_formula}); "
      f"GPT-2 small at N = 1024: {ex2_gpt2_mib:.0f} MiB")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(f"ex2_numel = {ex2_numel}, ex2_gpt2_mib = {ex2_gpt2_mib:.1f}")
assert ex2_numel == 2 * 2 * 31 * 32, "2 layers, K and V, 31 positions, d = 32"
assert abs(ex2_gpt2_mib - 72) < 0.5

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex2-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：$2 \times 2 \times 31 \times 32 = 3968$，正是公式（31 个位置：最后生成的字符还没有输入过）。
# GPT-2 small：$2 \times 12 \times 1024 \times 768 \times 4$ 字节 $= 72$ MiB，每条序列一份。

# %% [markdown]
# ### 练习 3
#
# 只旋转查询、不旋转键，分数还只取决于偏移吗？用上面的 `q`、`k`、`rope` 算 $(\mathbf{R}_i\mathbf{q})^\top\mathbf{k}_j$，
# 把偏移 2 上分数的最大值减最小值（$i = 0, \ldots, 29$）存为 `ex3_spread_query_only`，两边都旋转时的存为 `ex3_spread_both`。

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
# 参考答案：不再只取决于偏移。只旋转查询时分数是 $\mathbf{q}^\top\mathbf{R}_i^\top\mathbf{k}$，含有绝对位置 $i$，
# 偏移 2 上的分数随 $i$ 变化（打印的最大差 8.64）；两边都旋转时 $\mathbf{R}_i^\top\mathbf{R}_j = \mathbf{R}_{j-i}$，只剩偏移，最大差是舍入误差。

# %% [markdown]
# ### 练习 4
#
# 学习率从 0.01 降到 0.001（不预热），后置结构还会卡在 2.82 吗？**先写下预测**，再按上面的设置（6 层，窗口 16，批量 16，种子 0）
# 训练 300 步，把最后 20 步的平均损失存为 `ex4_loss_low_lr`。

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": false, "grade_id": "ex4-solution", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution", "nbval-ignore-output"]
torch.manual_seed(0)
ex4_lm = TinyGPT(len(chars), num_layers=6, max_len=16)
ex4_losses = modern.train_char_lm(ex4_lm, ids, num_steps=300, window=16, batch_size=16, lr=0.001)
ex4_loss_low_lr = sum(ex4_losses[-20:]) / 20
print(f"post-LN, lr = 0.001, no warm-up: mean loss of the last 20 steps {ex4_loss_low_lr:.2f} "
      f"(entropy {entropy:.2f})")

# %% jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["nbval-ignore-output"]
print(f"ex4_loss_low_lr = {ex4_loss_low_lr:.2f}")
assert ex4_loss_low_lr < entropy - 0.2, "a small learning rate gets past the frequency plateau"

# %% [markdown] jupyter={"outputs_hidden": true, "source_hidden": true} nbgrader={"grade": true, "grade_id": "ex4-answer", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
# 参考答案：这一个种子上没有卡住：损失降到 2.07，低于 2.82 的平台。所以单是降低学习率也能走出平台：小学习率让开头每步都小，这正是预热在开头做的事，也与后置结构开头梯度偏大的论证相合。
