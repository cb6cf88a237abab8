"""Explorers, attention figures and decoding counts of section 10.7 (the Transformer).

Everything here is built on the section's taught components, called through `d2l`:
`d2l.TransformerEncoder` / `d2l.TransformerDecoder` (through a trained `d2l.EncoderDecoder`),
`d2l.predict_seq2seq` and `d2l.show_heatmaps`. The notebook shows each with one call::

    from d2l_attention.explore import transformer
    att = transformer.teacher_forced(net, "i'm home .", "je suis chez moi .", src_vocab,
                                     tgt_vocab, num_steps)
    transformer.show_attention(att, "cross")
    transformer.attention_explorer(net, engs, fras, src_vocab, tgt_vocab, num_steps)
    transformer.eval_mask_explorer(net, "i'm home .", "je suis chez moi .", src_vocab, ...)
    transformer.cache_explorer(net, "i'm home .", src_vocab, tgt_vocab, num_steps)

Because the decoder's cache is its causal mask (the notebook shows it), one pass over a whole
target sentence gives, row for row, the weights that greedy decoding computes step by step
whenever the greedy translation is that sentence; `teacher_forced` uses this, and
`greedy_rows_match` checks it on a trained model.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

import d2l_attention as d2l
from d2l_attention import explorers as ex
from d2l_attention.explore import read_results  # noqa: F401 (the notebook reads results here)
from d2l_attention.seq2seq import predict_seq2seq_batch

__all__ = ["position_labels", "Attention", "teacher_forced", "greedy_rows_match",
           "strongest_keys", "show_attention", "attention_states", "attention_explorer",
           "eval_mask_states", "eval_mask_explorer", "cache_states", "cache_explorer",
           "show_alignment", "layer_inputs", "decoder_step", "read_results", "show_heldout",
           "greedy_batch", "nmt_pairs", "position_bug"]

KINDS = {"encoder": ("encoder", "source", "source"),
         "decoder": ("decoder", "target", "target"),
         "cross": ("cross", "target", "source")}
AXIS_TITLES = {"source": "source token", "target": "decoder input"}


def position_labels(tokens):
    """Tokens tagged with their position (from 0): '0 <bos>', '1 je', ... A repeated token keeps
    its own row or column in a heatmap."""
    return [f"{i} {token}" for i, token in enumerate(tokens)]


def _source(net, sentence, src_vocab, num_steps):
    device = next(net.parameters()).device
    ids = src_vocab[sentence.lower().split(" ")] + [src_vocab["<eos>"]]
    valid = torch.tensor([len(ids)], device=device)
    src = torch.tensor([d2l.truncate_pad(ids, num_steps, src_vocab["<pad>"])], device=device)
    return src, valid, len(ids)


class Attention(NamedTuple):
    """One teacher-forced pass: weights (num_layers, num_heads, queries, keys), padding left out.

    encoder: source x source; decoder: target x target (0 above the diagonal unless the book's
    eval-mode mask was used); cross: target x source. source: the source tokens and <eos>;
    target: <bos> and the target tokens (the decoder's inputs); log_probs: (len(target),) the
    log-probability the model gives each next reference token (the target's tokens, then
    <eos>); predicted: the most probable next token at each position."""

    encoder: torch.Tensor
    decoder: torch.Tensor
    cross: torch.Tensor
    source: list
    target: list
    log_probs: torch.Tensor
    predicted: list


def _without_valid_lens(attention, args):  # the book: dec_valid_lens = None in eval mode
    return args[:3] + (None,)


def teacher_forced(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps,
                   book_mask=False):
    """Feed `tgt_sentence` to the trained translator's decoder in one pass (eval mode), as when
    scoring a translation, and return its `Attention`. book_mask=True computes what the book's
    decoder computes in eval mode: every layer's masked self-attention gets valid_lens=None
    (through a forward pre-hook, removed afterwards), so a query also sees later positions."""
    device = next(net.parameters()).device
    net.eval()
    src, src_valid, n_src = _source(net, src_sentence, src_vocab, num_steps)
    target = ["<bos>"] + tgt_sentence.split()
    labels = tgt_vocab[tgt_sentence.split() + ["<eos>"]]
    hooks = [blk.attention1.register_forward_pre_hook(_without_valid_lens)
             for blk in net.decoder.blks] if book_mask else []
    try:
        with torch.no_grad():
            enc_outputs = net.encoder(src, src_valid)
            encoder = torch.stack(net.encoder.attention_weights)
            Y_hat, _ = net.decoder(torch.tensor([tgt_vocab[target]], device=device),
                                   net.decoder.init_state(enc_outputs, src_valid))
    finally:
        for hook in hooks:
            hook.remove()
    # batch size 1: each layer's weights are (num_heads, queries, keys)
    self_w, cross_w = (torch.stack(w).cpu() for w in net.decoder.attention_weights)
    log_probs = torch.log_softmax(Y_hat[0].float(), -1).cpu()
    return Attention(encoder.cpu()[..., :n_src, :n_src], self_w, cross_w[..., :n_src],
                     src_sentence.lower().split(" ") + ["<eos>"], target,
                     log_probs[torch.arange(len(labels)), torch.tensor(labels)],
                     tgt_vocab.to_tokens(Y_hat[0].argmax(-1).tolist()))


SWAP_SOURCES = ("i'm home .", "he's home .", "i'm calm .")  # 10.7: one source word changed


def swap_probe(net, src_vocab, tgt_vocab, num_steps, sources=SWAP_SOURCES,
               target="je suis chez moi ."):
    """10.7's source-word swap: the decoder input fixed to `target`, for each source sentence
    log p(suis | je), log p(moi | je suis chez) and the word predicted at moi's place:
    {source: {"log p(suis)", "log p(moi)", "predicted at moi"}}."""
    rows = {}
    for source in sources:
        s = teacher_forced(net, source, target, src_vocab, tgt_vocab, num_steps)
        rows[source] = {"log p(suis)": round(float(s.log_probs[1]), 4),
                        "log p(moi)": round(float(s.log_probs[3]), 4),
                        "predicted at moi": s.predicted[3]}
    return rows


def greedy_rows_match(net, src_sentence, src_vocab, tgt_vocab, num_steps):
    """Greedy decoding with the cache vs `teacher_forced` on the greedy translation: returns
    (translation, max |difference| over every layer, head and step of the decoder
    self-attention and encoder-decoder attention rows)."""
    device = next(net.parameters()).device
    translation, steps = d2l.predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps,
                                             device, save_attention_weights=True)
    att = teacher_forced(net, src_sentence, translation, src_vocab, tgt_vocab, num_steps)
    gap = 0.0
    for t, (self_w, cross_w) in enumerate(steps[:len(att.target)]):
        for layer in range(len(self_w)):
            gap = max(gap, (self_w[layer][:, 0].cpu() - att.decoder[layer, :, t, :t + 1])
                      .abs().max().item(),
                      (cross_w[layer][:, 0, :len(att.source)].cpu() - att.cross[layer, :, t])
                      .abs().max().item())
    return translation, gap


def strongest_keys(weights, queries, keys):
    """One line per layer and head: query -> the key it gives the most weight (and that weight).
    weights: (num_layers, num_heads, len(queries), len(keys))."""
    lines = []
    for layer in range(weights.shape[0]):
        for head in range(weights.shape[1]):
            w = weights[layer, head]
            pairs = ", ".join(f"{q}->{keys[b]} {w[i, b]:.2f}"
                              for i, (q, b) in enumerate(zip(queries, w.argmax(-1).tolist())))
            lines.append(f"layer {layer + 1} head {head + 1}: {pairs}")
    return "\n".join(lines)


def show_attention(att, kind, panel=3.0, lines=False):
    """Draw one heatmap per layer (rows) and head (columns) on one colour scale, tokens on both
    axes (lines=True first prints `strongest_keys`). kind: "encoder", "decoder" or "cross"."""
    weights = getattr(att, kind)
    _, q_axis, k_axis = KINDS[kind]
    queries, keys = getattr(att, q_axis), getattr(att, k_axis)
    if lines:
        print(strongest_keys(weights, queries, keys))
    num_layers, num_heads = weights.shape[:2]
    d2l.show_heatmaps(weights, xlabel=f"Key ({AXIS_TITLES[k_axis]})",
                      ylabel=f"Query ({AXIS_TITLES[q_axis]})",
                      figsize=(panel * num_heads + 1.2, panel * num_layers),
                      xticklabels=keys, yticklabels=queries)
    for k, ax in enumerate(d2l.plt.gcf().axes[:num_layers * num_heads]):  # colourbar last
        ax.set_title(f"Layer {k // num_heads + 1} / Head {k % num_heads + 1}")
    d2l.plt.show()


# ----------------------------------------------------------------------------------------------
# Explorer 1: every sentence, kind, layer and head


def attention_states(net, sentences, references, src_vocab, tgt_vocab, num_steps, decimals=2,
                     kinds=tuple(KINDS)):
    """Explorer rows of a translator's attention: for each sentence, kind ("encoder", "decoder",
    "cross"), layer and head (both from 1), the weights of queries x keys of `teacher_forced`
    on the reference translation (the rows greedy decoding computes when it produces the
    reference; a reference None feeds the greedy translation). Returns (heatmap rows, sorted by
    key and then query position so that the axes read in position order; one text row per
    sentence and kind with the greedy translation). kinds: the kinds of attention to keep."""
    device = next(net.parameters()).device
    heat_rows, text_rows = [], []
    for sentence, reference in zip(sentences, references):
        translation, _ = d2l.predict_seq2seq(net, sentence, src_vocab, tgt_vocab, num_steps,
                                             device)
        reference = reference or translation  # None: feed the greedy translation
        att = teacher_forced(net, sentence, reference, src_vocab, tgt_vocab, num_steps)
        for kind in kinds:
            name, q_axis, k_axis = KINDS[kind]
            weights = getattr(att, name)
            queries = position_labels(getattr(att, q_axis))
            keys = position_labels(getattr(att, k_axis))
            for layer in range(weights.shape[0]):
                for head in range(weights.shape[1]):
                    state = {"sentence": sentence, "kind": kind, "layer": layer + 1,
                             "head": head + 1}
                    heat_rows += ex.rows(state, row_labels=("query", queries),
                                         col_labels=("key", keys), decimals=decimals,
                                         weight=weights[layer, head])
            text_rows += ex.rows({"sentence": sentence, "kind": kind}, text=[
                f"{sentence} => greedy: {translation}; reference fed: {reference}   "
                f"(queries: {AXIS_TITLES[q_axis]}s; keys: {AXIS_TITLES[k_axis]}s)"])
    heat_rows.sort(key=lambda r: (r["col"], r["row"]))  # first seen = axis order: by position
    return heat_rows, text_rows


def attention_explorer(net, sentences, references, src_vocab, tgt_vocab, num_steps,
                       default_sentence=None, default_kind="cross", default_layer=1,
                       default_head=1, kinds=tuple(KINDS)):
    """Sentence x kind x layer x head over `attention_states`, starting at the given state;
    `kinds` limits the kinds of attention offered (one kind: no kind menu)."""
    heat, text = attention_states(net, sentences, references, src_vocab, tgt_vocab, num_steps,
                                  kinds=kinds)
    layers = sorted({r["layer"] for r in heat})
    heads = sorted({r["head"] for r in heat})
    labels = {"encoder": "encoder self-attention", "decoder": "decoder self-attention",
              "cross": "encoder-decoder attention"}
    kind_menu = [ex.Select("kind", tuple(kinds), "attention", default=default_kind,
                           labels=tuple(labels[k] for k in kinds))] if len(kinds) > 1 else []
    return ex.explorer(
        ex.heatmap_view(heat, "key", "query", width=260, height=220),
        ex.text_view(text, "text", width=620, size=12),
        controls=[ex.Select("sentence", sentences, "sentence",
                            default=default_sentence or sentences[-1])] + kind_menu + [
                  ex.Select("layer", layers, "layer", default=default_layer),
                  ex.Select("head", heads, "head", default=default_head)],
        title="Attention of the trained translator", columns=1)


# ----------------------------------------------------------------------------------------------
# Explorer 2: the book's eval-mode decoder sees the future


def eval_mask_states(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps,
                     decimals=2):
    """Explorer rows of `teacher_forced` over `tgt_sentence` with this section's causal mask
    (book_mask=False) and as the book's decoder computes it in eval mode (book_mask=True): the
    decoder self-attention per layer and head (from 1), and per mode a text row with the largest
    weight above the diagonal, the next token predicted at each position and the
    log-probability of the reference."""
    heat_rows, text_rows = [], []
    for book_mask in (False, True):
        att = teacher_forced(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps,
                             book_mask=book_mask)
        labels = position_labels(att.target)
        for layer in range(att.decoder.shape[0]):
            for head in range(att.decoder.shape[1]):
                heat_rows += ex.rows({"book_mask": book_mask, "layer": layer + 1,
                                      "head": head + 1}, row_labels=("query", labels),
                                     col_labels=("key", labels), decimals=decimals,
                                     weight=att.decoder[layer, head])
        text_rows += ex.rows({"book_mask": book_mask}, row_labels=("line", [0, 1]), text=[
            f"largest weight above the diagonal: {att.decoder.triu(1).max().item():.2f}; "
            f"log-probability of the reference: {att.log_probs.sum().item():.2f}",
            f"next token predicted at each position: {' '.join(att.predicted)}"])
    return heat_rows, text_rows


def eval_mask_explorer(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps,
                       default_layer=None, default_head=None):
    """A book_mask checkbox x layer x head over `eval_mask_states`, opening at `default_layer`
    and `default_head` (from 1; the first ones if None)."""
    heat, text = eval_mask_states(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab,
                                  num_steps)
    layers = sorted({r["layer"] for r in heat})
    heads = sorted({r["head"] for r in heat})
    return ex.explorer(
        ex.heatmap_view(heat, "key", "query", width=260, height=220),
        ex.text_view(text, "text", width=620, height=40, size=12),
        controls=[ex.Checkbox("book_mask", "book's eval-mode decoder (no causal mask)"),
                  ex.Select("layer", layers, "layer", default_layer),
                  ex.Select("head", heads, "head", default_head)],
        title=f"Decoder self-attention, the whole reference {tgt_sentence} at once (eval mode)",
        columns=1)


# ----------------------------------------------------------------------------------------------
# Explorer 3: greedy decoding with the cache, step by step


def cache_states(net, sentence, src_vocab, tgt_vocab, num_steps, decimals=2):
    """Explorer rows of greedy decoding with the cache, step by step (from 0), for every layer
    and head (from 1): at step t, the decoder self-attention rows of queries 0..t, each as it was
    computed at its own step (query s over the s + 1 positions it saw), so the rows of earlier
    steps stay as they were and the new query adds one row and one column. Every step holds the
    whole grid of all decoded positions (a fixed frame): cells not computed yet have weight
    None and are drawn blank. A text row per step
    gives the input, what the cache holds, the tokens emitted so far and this step's output.
    From d2l.predict_seq2seq(..., save_attention_weights=True)."""
    device = next(net.parameters()).device
    translation, steps = d2l.predict_seq2seq(net, sentence, src_vocab, tgt_vocab, num_steps,
                                             device, save_attention_weights=True)
    outputs = translation.split() + ["<eos>"]  # what each step emits
    inputs = position_labels((["<bos>"] + outputs)[:len(steps)])
    # rows[s][layer]: (heads, s + 1), the new query's row at step s
    new_rows = [[w[:, 0].cpu() for w in self_w] for self_w, _ in steps]
    n = len(steps)
    heat_rows, text_rows = [], []
    for t in range(n):
        for layer in range(len(new_rows[0])):
            for head in range(new_rows[0][layer].shape[0]):
                state = {"step": t, "layer": layer + 1, "head": head + 1}
                for s in range(n):  # query s, as computed at step s; a blank cell if not yet
                    for k in range(n):
                        seen = s <= t and k <= s
                        weight = (round(new_rows[s][layer][head, k].item(), decimals) + 0.0
                                  if seen else None)
                        heat_rows.append({**state, "row": s, "col": k, "query": inputs[s],
                                          "key": inputs[k], "weight": weight})
        text_rows += ex.rows({"step": t}, text=[
            f"step {t}: input {inputs[t]!r}; the cache holds each layer's inputs at {t} earlier "
            f"positions (re-projected to keys and values now); emitted so far: "
            f"{' '.join(outputs[:t]) or '(nothing)'}; emits: {outputs[t]}"])
    return heat_rows, text_rows


def _framed_heatmap(data, x, y, *, width, height, x_title, y_title):
    """`ex.heatmap_view` on a fixed frame: both axes always list every label (in first-seen
    order), and cells whose weight is None stay blank, so rows appear in place as a slider moves."""
    x_order = list(dict.fromkeys(r[x] for r in data))
    y_order = list(dict.fromkeys(r[y] for r in data))

    def draw(alt, base):
        enc = dict(x=alt.X(f"{x}:N", sort=x_order, scale=alt.Scale(domain=x_order),
                           title=x_title),
                   y=alt.Y(f"{y}:N", sort=y_order, scale=alt.Scale(domain=y_order),
                           title=y_title))
        filled = base.transform_filter("isValid(datum.weight)")
        cells = filled.mark_rect().encode(
            **enc, color=alt.Color("weight:Q", scale=ex._matplotlib_scale("reds", (0, 1)),
                                   title="weight"),
            tooltip=[f"{x}:N", f"{y}:N", alt.Tooltip("weight:Q", format=".3f")])
        frame = base.mark_rect(fill=None, stroke="#dddddd", strokeWidth=0.5).encode(**enc)
        labels = filled.mark_text(fontSize=10).encode(
            **enc, text=alt.Text("weight:Q", format=".2f"),
            color=alt.condition("datum.weight > 0.6", alt.value("white"), alt.value("black")))
        return frame + cells + labels

    return ex.View(data, draw, width, height)


def cache_explorer(net, sentence, src_vocab, tgt_vocab, num_steps, default_step=None,
                   default_layer=1, default_head=1):
    """A decoding-step slider x layer x head over `cache_states`, starting at default_step (or
    half way)."""
    heat, text = cache_states(net, sentence, src_vocab, tgt_vocab, num_steps)
    num_decoded = 1 + max(r["step"] for r in heat)
    if default_step is None:
        default_step = num_decoded // 2
    step = ([ex.Slider("step", range(num_decoded), "decoding step t", default=default_step)]
            if num_decoded > 1 else [ex.Select("step", (0,), "decoding step t")])
    layers, heads = sorted({r["layer"] for r in heat}), sorted({r["head"] for r in heat})
    return ex.explorer(
        _framed_heatmap(heat, "key", "query", width=260, height=220,
                        x_title="key (cached positions, then the new token)",
                        y_title="query (the step that computed the row)"),
        ex.text_view(text, "text", width=620, size=12),
        controls=step + [ex.Select("layer", layers, "layer", default=default_layer),
                         ex.Select("head", heads, "head", default=default_head)],
        title=f"Greedy decoding of {sentence} with the cache", columns=1)


# ----------------------------------------------------------------------------------------------
# One picture of the alignment: encoder-decoder attention averaged over every layer and head


def show_alignment(atts, titles, figsize=(9, 3.4)):
    """For each `Attention` in atts, the encoder-decoder weights averaged over all layers and
    heads (decoder inputs x source tokens), each row's largest weight boxed. Rows are labelled
    'input -> output' (the token the row emits next). Returns the averaged matrices."""
    plt = d2l.plt
    d2l.use_svg_display()
    fig, axes = plt.subplots(1, len(atts), figsize=figsize, squeeze=False)
    means = []
    for ax, att, title in zip(axes[0], atts, titles):
        mean = att.cross.mean((0, 1))  # (queries, source)
        means.append(mean)
        image = ax.imshow(mean.numpy(), cmap="Reds", vmin=0, vmax=1)
        for i, j in enumerate(mean.argmax(-1).tolist()):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=1.2))
            ax.text(j, i, f"{mean[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if mean[i, j] > 0.6 else "black")
        outputs = att.target[1:] + ["<eos>"]
        ax.set_xticks(range(len(att.source)), att.source, rotation=90)
        ax.set_yticks(range(len(att.target)), [f"{q} -> {o}" for q, o in
                                                zip(att.target, outputs)])
        ax.set_xlabel("Key (source token)")
        ax.set_title(title, fontsize=9)
    axes[0][0].set_ylabel("Query (decoder input -> output)")
    fig.subplots_adjust(wspace=0.7)
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="mean weight (2 layers x 4 heads)")
    plt.show()
    return means


# ----------------------------------------------------------------------------------------------
# One decoder step for one token, taken apart


def layer_inputs(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps, layer):
    """The inputs of decoder layer `layer` (from 0) in the teacher-forced pass over
    `tgt_sentence` (eval mode): (num_queries, num_hiddens), captured by a forward pre-hook on its
    masked self-attention; returns (those inputs, the pass's `Attention`)."""
    inputs = {}
    hook = net.decoder.blks[layer].attention1.register_forward_pre_hook(
        lambda module, args: inputs.update(X=args[0]))  # returns None: the inputs unchanged
    try:
        att = teacher_forced(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps)
    finally:
        hook.remove()
    return inputs["X"][0].detach(), att


def decoder_step(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps, t, layer=0,
                 head=0):
    """Decoder self-attention of the query at position t (from 0) in one head, computed by hand
    from the layer's W_q, W_k and the layer's inputs: returns a dict with the keys (tokens of
    the positions), the scores q.k/sqrt(d_head) of all positions (the later ones masked to
    -inf), the softmax weights and the model's own weights for the same row."""
    X, att = layer_inputs(net, src_sentence, tgt_sentence, src_vocab, tgt_vocab, num_steps, layer)
    mha = net.decoder.blks[layer].attention1
    d_head = X.shape[-1] // mha.num_heads
    cols = slice(head * d_head, (head + 1) * d_head)
    with torch.no_grad():
        q = mha.W_q(X)[t, cols].cpu()
        K = mha.W_k(X)[:, cols].cpu()
    scores = K @ q / d_head ** 0.5
    masked = scores.clone()
    masked[t + 1:] = float("-inf")
    return {"tokens": att.target, "query": att.target[t], "scores": scores,
            "masked": masked, "weights": torch.softmax(masked, -1),
            "model": att.decoder[layer, head, t]}


# ----------------------------------------------------------------------------------------------
# The committed benchmark results (results/NAME.json, written by `python tools/book.py bench`)


HELDOUT_NAMES = {"seq2seq": "seq2seq (9.7)", "bahdanau": "Bahdanau (10.4)",
                 "transformer": "Transformer (10.7)"}


def show_heldout(heldout, figsize=(5, 2.6)):
    """Bars of held-out BLEU (mean of the seeds, min-max as error bars) per model of
    results/heldout.json's figures."""
    plt = d2l.plt
    d2l.use_svg_display()
    summary = heldout["summary"]
    names = [n for n in HELDOUT_NAMES if n in summary]
    means = [summary[n]["held-out BLEU"] for n in names]
    low = [m - summary[n]["min"] for m, n in zip(means, names)]
    high = [summary[n]["max"] - m for m, n in zip(means, names)]
    fig, ax = plt.subplots(figsize=figsize)
    ax.barh(range(len(names)), means, xerr=[low, high], color=["C1", "C0", "C2"][:len(names)],
            capsize=4)
    for i, m in enumerate(means):
        ax.text(m + 0.015, i + 0.12, f"{m:.3f}", fontsize=8)
    ax.set_yticks(range(len(names)), [HELDOUT_NAMES[n] for n in names])
    ax.set_xlim(0, 0.55)
    ax.set_xlabel(f"corpus BLEU on {heldout['test_pairs']} unseen pairs "
                  f"(mean, min-max of {summary[names[0]]['runs']} seeds)")
    plt.show()



# ----------------------------------------------------------------------------------------------
# What the book's decoding positions cost: greedy decoding of many sentences at once


def greedy_batch(net, sentences, src_vocab, tgt_vocab, num_steps, positions_from_zero=False):
    """Greedy translations of `sentences` in one batch, step by step with the decoder's cache
    (`predict_seq2seq_batch`). positions_from_zero=True decodes as the book's TransformerDecoder
    does: every step adds the positional encoding of position 0 (the step's own position within
    its one-token input) instead of position t."""
    dec = net.decoder

    def book_step(Y, state):  # the book's decoder: offset 0 at every step
        H = d2l.embed_with_positions(dec.embedding, dec.pos_encoding, Y, offset=0)
        for blk in dec.blks:
            H, state = blk(H, state)
        return dec.dense(H), state

    translations, _ = predict_seq2seq_batch(net, [s.split(" ") for s in sentences], src_vocab,
                                            tgt_vocab, num_steps,
                                            step=book_step if positions_from_zero else None)
    return [" ".join(t) for t in translations]


def nmt_pairs(num_train=600, num_test=500, num_steps=10):
    """(training pairs, unseen pairs) of (English, French) strings: the first `num_train` pairs
    of fra-eng (what `d2l.load_data_nmt` trains on) and up to `num_test` pairs after them whose
    English sentence is not among the training ones nor repeated, both sides shorter than
    num_steps tokens (so that with <eos> they fit)."""
    raw = d2l.read_data_nmt()
    raw = "\n".join(raw.split("\n", 20 * (num_train + num_test))[:20 * (num_train + num_test)])
    pairs = [tuple(p.split("\t")) for p in d2l.preprocess_nmt(raw).split("\n")
             if p.count("\t") == 1]
    train = pairs[:num_train]
    seen, tests = {e for e, _ in train}, []
    for eng, fra in pairs[num_train:]:
        if eng not in seen and len(eng.split(" ")) < num_steps and len(fra.split(" ")) < num_steps:
            seen.add(eng)
            tests.append((eng, fra))
            if len(tests) == num_test:
                break
    return train, tests


def position_bug(net, src_vocab, tgt_vocab, num_steps, num_train=600, num_test=500):
    """Greedy decoding of the training pairs and of unseen pairs (`nmt_pairs`) with positions
    counted on (this section) and from 0 at every step (the book). Returns {(pairs, scheme):
    {"exact": sentences translated word for word as the reference, "pairs": how many,
    "bleu": corpus BLEU (n-grams up to 2, as results/heldout.json)}}."""
    train, tests = nmt_pairs(num_train, num_test, num_steps)
    out = {}
    for name, pairs in (("training", train), ("unseen", tests)):
        refs = [fra for _, fra in pairs]
        for scheme, from_zero in (("positions 0..t", False), ("book: position 0", True)):
            preds = greedy_batch(net, [eng for eng, _ in pairs], src_vocab, tgt_vocab,
                                 num_steps, positions_from_zero=from_zero)
            out[name, scheme] = {"exact": sum(p == r for p, r in zip(preds, refs)),
                                 "pairs": len(pairs), "bleu": d2l.corpus_bleu(preds, refs, 2)}
    return out
