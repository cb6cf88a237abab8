"""10.4's demonstration: a made-up translation task whose word alignment is known, the
measurements read off it (alignment share, accuracy by source length) and the explorer.

The task (`reorder_pairs`): English-like sentences of one to three clauses, "the [adjective]
noun verb the [adjective] noun", joined by "and", translated word by word into French words in
another order: the adjective follows its noun (as in French: "the black dog" -> "le chien noir")
and the verb goes to the end of its clause (as in Japanese). Every target word comes from exactly
one source word, so the alignment is known, and it crosses at every adjective and every verb.

Everything here runs the section's taught classes through `import d2l_attention as d2l`
(`d2l.Seq2SeqAttentionDecoder`, `d2l.train_seq2seq`, ...); nothing is part of the book's API.
"""

import copy
import dataclasses
import json
import random

import torch

import d2l_attention as d2l
from d2l_attention import explorers
from d2l_attention.explore import read_results  # noqa: F401 (the notebook reads results here)
from d2l_attention.seq2seq import predict_seq2seq_batch

NOUNS = {"dog": "chien", "cat": "chat", "bird": "oiseau", "horse": "cheval", "man": "homme",
         "boy": "garçon", "wolf": "loup", "fox": "renard"}
ADJECTIVES = {"black": "noir", "white": "blanc", "green": "vert", "grey": "gris",
              "small": "petit", "big": "grand"}
VERBS = {"sees": "voit", "likes": "aime", "follows": "suit", "finds": "trouve",
         "watches": "regarde", "hears": "entend"}
CONTENT = frozenset({*NOUNS.values(), *ADJECTIVES.values(), *VERBS.values()})


def _noun_phrase(rng, p_adjective):
    noun = rng.choice(sorted(NOUNS))
    if rng.random() < p_adjective:
        adjective = rng.choice(sorted(ADJECTIVES))
        # the black dog -> le chien noir: target i comes from source align[i]
        return ["the", adjective, noun], ["le", NOUNS[noun], ADJECTIVES[adjective]], [0, 2, 1]
    return ["the", noun], ["le", NOUNS[noun]], [0, 1]


def reorder_pair(rng, num_clauses, p_adjective=0.6):
    """One (source tokens, target tokens, alignment) triple; target token i translates source
    token alignment[i]."""
    src, tgt, align = [], [], []
    for c in range(num_clauses):
        if c:
            align.append(len(src))
            src.append("and")
            tgt.append("et")
        subject, verb, obj = (_noun_phrase(rng, p_adjective), rng.choice(sorted(VERBS)),
                              _noun_phrase(rng, p_adjective))
        start, verb_at = len(src), len(src) + len(subject[0])
        src += subject[0] + [verb] + obj[0]
        tgt += subject[1] + obj[1] + [VERBS[verb]]  # the verb goes to the end of the clause
        align += ([start + i for i in subject[2]] + [verb_at + 1 + i for i in obj[2]]
                  + [verb_at])
    align.append(len(src))
    src.append(".")
    tgt.append(".")
    return src, tgt, align


def reorder_pairs(num_pairs, seed, max_clauses=3):
    """`num_pairs` triples with 1..max_clauses clauses each, drawn from `random.Random(seed)`."""
    rng = random.Random(seed)
    return [reorder_pair(rng, rng.randint(1, max_clauses)) for _ in range(num_pairs)]


@dataclasses.dataclass(frozen=True)
class AlignmentConfig:
    """The alignment demonstration's data, sizes and training settings (notebook and sweep)."""

    train_pairs: int = 2000
    test_pairs: int = 300
    max_clauses: int = 3
    embed_size: int = 32
    num_hiddens: int = 64
    num_layers: int = 2
    dropout: float = 0.1
    batch_size: int = 64
    lr: float = 0.005
    num_epochs: int = 10
    plain_epochs: int = 15  # the model without attention gets half as many again

    @property
    def num_steps(self):
        return 8 * self.max_clauses + 1  # the longest sentence (7 words a clause, "and", ".")

    def data(self):
        """(train_iter, src_vocab, tgt_vocab, test triples); the test set uses another seed."""
        train = reorder_pairs(self.train_pairs, 0, self.max_clauses)
        train_iter, src_vocab, tgt_vocab = d2l.nmt_data_from_tokens(
            [s for s, _, _ in train], [t for _, t, _ in train], self.batch_size, self.num_steps)
        return train_iter, src_vocab, tgt_vocab, reorder_pairs(self.test_pairs, 1,
                                                               self.max_clauses)

    def train_sample(self, n=300):
        """The first `n` training triples (the sentences the models were trained on)."""
        return reorder_pairs(self.train_pairs, 0, self.max_clauses)[:n]

    def net(self, src_vocab, tgt_vocab, attention=True, bidirectional=False):
        """The taught Bahdanau model, or 9.7's decoder without attention (same sizes);
        `bidirectional` swaps in 10.4's `d2l.BiSeq2SeqEncoder` (same h_t size, as in
        Bahdanau et al.)."""
        encoder = (d2l.BiSeq2SeqEncoder if bidirectional else d2l.Seq2SeqEncoder)(
            len(src_vocab), self.embed_size, self.num_hiddens, self.num_layers, self.dropout)
        decoder = (d2l.Seq2SeqAttentionDecoder if attention else d2l.Seq2SeqDecoder)(
            len(tgt_vocab), self.embed_size, self.num_hiddens, self.num_layers, self.dropout)
        return d2l.EncoderDecoder(encoder, decoder)


ALIGNMENT_CONFIG = AlignmentConfig()


def greedy_decode(net, sources, src_vocab, tgt_vocab, num_steps):
    """Greedy translation of a batch of token lists (`predict_seq2seq_batch`). Returns
    (translations: token lists without <eos>, weights: per sentence a (steps taken,
    len(source) + 1) tensor, or None without attention).
    """
    translations, weight_seq = predict_seq2seq_batch(net, sources, src_vocab, tgt_vocab,
                                                     num_steps)
    if not weight_seq:
        return translations, None
    weights = torch.stack([w[0][:, 0] for w in weight_seq], 1).cpu()  # (batch, steps, keys)
    # a sentence's steps: its words and the <eos> it stopped at (if the steps ran out first)
    return translations, [weights[b, :min(len(t) + 1, len(weight_seq)), :len(s) + 1]
                          for b, (t, s) in enumerate(zip(translations, sources))]


def evaluate(net, triples, src_vocab, tgt_vocab, num_steps):
    """What the alignment demonstration measures on `triples` (source, target, alignment).

    Returns a dict: `exact` (share of sentences translated word for word), `by_length` ({source
    length in words: share exact}), and with attention `aligned` (among the content words --
    nouns, adjectives, verbs -- of the sentences translated exactly, the share whose largest
    weight falls on their aligned source word), `aligned_all` (the same over every generated
    word but <eos>), `offsets` ({top position - aligned position: content words}) and
    `counts` (content words and sentences that entered `aligned`).
    """
    translations, weights = greedy_decode(net, [s for s, _, _ in triples], src_vocab, tgt_vocab,
                                          num_steps)
    by_length, hits, content, hits_all, words, sentences = {}, 0, 0, 0, 0, 0
    offsets = {}
    for i, ((src, tgt, align), out) in enumerate(zip(triples, translations)):
        ok = out == tgt
        by_length.setdefault(len(src), []).append(ok)
        if not ok or weights is None:
            continue
        sentences += 1
        top = weights[i].argmax(-1).tolist()
        for token, a, t in zip(tgt, align, top):
            words += 1
            hits_all += a == t
            if token in CONTENT:
                content += 1
                hits += a == t
                offsets[t - a] = offsets.get(t - a, 0) + 1
    result = {"exact": sum(map(sum, by_length.values())) / len(triples),
              "by_length": {n: sum(v) / len(v) for n, v in sorted(by_length.items())}}
    if weights is not None:
        result.update(aligned=hits / max(content, 1), aligned_all=hits_all / max(words, 1),
                      offsets=dict(sorted(offsets.items())),
                      counts={"content words": content, "sentences": sentences})
    return result


MODELS = ("bahdanau", "seq2seq", "bidirectional")


def train_pair(config=ALIGNMENT_CONFIG, seed=0, device="cpu", verbose=False, models=MODELS):
    """Train, from seed `seed` and on the same data, the Bahdanau model (`bahdanau`), the model
    without attention (`seq2seq`, `plain_epochs`) and the Bahdanau model with a bidirectional
    encoder (`bidirectional`), those named in `models`, and evaluate each on the test set: the
    sweep's unit. Returns {model: {"loss": ..., **evaluate(...)}}; the attention models also get
    "by_class": {"all keys" / "keys up to the word": accuracy_by_class of 10.4's step_hits}."""
    import contextlib
    import io

    train_iter, src_vocab, tgt_vocab, test = config.data()
    batch = reference_batch(test, src_vocab, tgt_vocab, config.num_steps, device)  # reference fed
    out = {}
    for name in models:
        torch.manual_seed(seed)
        net = config.net(src_vocab, tgt_vocab, attention=name != "seq2seq",
                         bidirectional=name == "bidirectional")
        epochs = config.plain_epochs if name == "seq2seq" else config.num_epochs
        with contextlib.redirect_stdout(None if verbose else io.StringIO()):
            result = d2l.train_seq2seq(net, train_iter, config.lr, epochs, tgt_vocab, device)
        out[name] = {"loss": result.loss,
                     **evaluate(net, test, src_vocab, tgt_vocab, config.num_steps)}
        if name != "seq2seq":  # 10.4's key hiding: accuracy by word class, all keys / keys up to
            out[name]["by_class"] = {  # the translated word
                keys: accuracy_by_class(d2l.step_hits(net, batch, hide), test)
                for keys, hide in (("all keys", False), ("keys up to the word", True))}
    return out


MODEL_LABELS = {"bahdanau": "attention, one-directional encoder",
                "bidirectional": "attention, bidirectional encoder",
                "seq2seq": "without attention (9.7)"}


class EpochSnapshots:
    """A data iterator for `d2l.train_seq2seq` that keeps a copy of `net`'s parameters each
    time an epoch starts (train_seq2seq iterates its data once per epoch, after initialising
    the parameters). `states()` returns them with the final ones: entry k holds the parameters
    after k epochs. Copying does not draw random numbers, so training is unchanged."""

    def __init__(self, net, data_iter):
        self.net, self.data_iter, self._states = net, data_iter, []

    def __iter__(self):
        self._states.append(copy.deepcopy(self.net.state_dict()))
        return iter(self.data_iter)

    def states(self):
        return self._states + [copy.deepcopy(self.net.state_dict())]


def teacher_forced_weights(net, triples, src_vocab, tgt_vocab, num_steps):
    """The attention weights when the decoder is fed each reference translation (as in
    training): per triple (source, target, alignment) a (len(target) + 1, len(source) + 1)
    tensor, one row per target word and <eos>, one column per source word and <eos>."""
    device = next(net.parameters()).device
    net.eval()
    X, valid = d2l.build_array_nmt([[t.lower() for t in s] for s, _, _ in triples], src_vocab,
                                   num_steps)
    Y, _ = d2l.build_array_nmt([t for _, t, _ in triples], tgt_vocab, num_steps)
    bos = torch.full((len(triples), 1), tgt_vocab["<bos>"], dtype=Y.dtype)
    with torch.inference_mode():
        net(X.to(device), torch.cat([bos, Y[:, :-1]], 1).to(device), valid.to(device))
        weights = torch.cat(net.decoder.attention_weights, 1).cpu()  # (batch, steps, num_kv)
    return [weights[b, :len(tgt) + 1, :len(src) + 1] for b, (src, tgt, _) in enumerate(triples)]


def on_word_shares(weights, triples):
    """Among the content words (nouns, adjectives, verbs) of the references, the share whose
    largest weight is on the source word they translate, and the share within one word of it."""
    on = near = total = 0
    for w, (_, tgt, align) in zip(weights, triples):
        top = w.argmax(-1).tolist()
        for token, a, t in zip(tgt, align, top):
            if token in CONTENT:
                total += 1
                on += t == a
                near += abs(t - a) <= 1
    return {"on the word": on / total, "within one word": near / total}


def over_training(runs, triples, example, src_vocab, tgt_vocab, num_steps):
    """Alignment as training goes on. `runs`: {model name: (net, EpochSnapshots)}. For every
    saved epoch, loads the parameters into the net and measures `on_word_shares` over `triples`
    with teacher forcing; keeps the weights on `example`. The net ends with its final
    parameters again. Returns {name: {"shares": [per epoch], "example": [per epoch a
    (len(target) + 1, len(source) + 1) tensor]}}."""
    out = {}
    for name, (net, snapshots) in runs.items():
        shares, pictures = [], []
        states = snapshots.states()
        for state in states:
            net.load_state_dict(state)
            weights = teacher_forced_weights(net, [*triples, example], src_vocab, tgt_vocab,
                                             num_steps)
            shares.append(on_word_shares(weights[:-1], triples))
            pictures.append(weights[-1])
        net.load_state_dict(states[-1])
        out[name] = {"shares": shares, "example": pictures}
    return out


def print_over_training(curves, epochs=(0, 1, 2, 4, 10)):
    """One line per model: the share of content words within one word after each of `epochs`."""
    print("epochs trained" + " " * 14 + "".join(f"{e:>6d}" for e in epochs))
    for name, curve in curves.items():
        values = "".join(f"{curve['shares'][e][MEASURE]:6.2f}" for e in epochs)
        print(f"{SHORT_LABELS[name]:16s}(test)      {values}")


SHORT_LABELS = {"bahdanau": "one-directional", "bidirectional": "bidirectional",
                "seq2seq": "no attention"}


MEASURE = "within one word"  # the one share the explorer draws (|offset| <= 1)


def _weights_view(heat_rows, box_rows, step_rows, cols, labels, width, height):
    """Heatmap on matplotlib's Reds from 0 (white) to 1, black boxes on the ground truth, a
    blue outline on the row of the decoding step chosen with the `t` slider; the reference's
    words on the rows, numbers in the tooltip only. The heat rows carry only indices (`step`,
    `i`); their labels come from `labels` and `cols`, to keep the JSON small."""

    def axes(alt):
        return dict(x=alt.X("source:N", sort=alt.EncodingSortField("i"),
                            title="source tokens (keys h_t)"),
                    y=alt.Y("output:N", sort=alt.EncodingSortField("step"),
                            title="step t': target word (query s_t'-1)"))

    def labelled(base):
        return base.transform_calculate(output=f"{json.dumps(labels)}[datum.step - 1]",
                                        source=f"{json.dumps(cols)}[datum.i || 0]")

    def cells(alt, base):
        return labelled(base).mark_rect().encode(
            **axes(alt), color=alt.Color("weight:Q", title="weight",
                                         scale=explorers._matplotlib_scale("reds", (0, 1))),
            tooltip=[alt.Tooltip("output:N", title="step, target"), "source:N",
                     alt.Tooltip("weight:Q", format=".2f")])

    def boxes(alt, base):
        return base.mark_rect(filled=False, stroke="black", strokeWidth=1.5).encode(**axes(alt))

    def row(alt, base):  # no x encoding: the outline spans the whole row
        return labelled(base).mark_rect(filled=False, stroke="#1f77b4", strokeWidth=2.5).encode(
            y=axes(alt)["y"])

    size = dict(width=width, height=height)
    return (explorers.View(heat_rows, cells, **size,
                           title="weights (under 0.02: white); black box: the word to translate"),
            explorers.View(box_rows, boxes, **size), explorers.View(step_rows, row, **size))


def context_line(weights, step, source, top=3):
    """c_t' written out as its largest terms: weights (one row per step) of one sentence,
    `step` counted from 1, `source` its tokens (without <eos>)."""
    cols = list(source) + ["<eos>"]
    row = weights[step - 1]
    order = row.argsort(descending=True)[:top].tolist()
    terms = " + ".join(f"{row[j]:.2f} h_{j + 1} {cols[j]}" for j in order)
    rest = sum(float(row[j]) for j in range(len(cols)) if j not in order)
    return f"c_{step} = {terms} + ... ({rest:.2f} elsewhere)"


def training_states(curves, example, threshold=0.02):
    """Explorer rows: heat_rows (per model, epoch, target step and source index `i`, the weight
    rounded to 2 places; weights under `threshold` are left out and drawn white, nearly as
    they would be), box_rows (the ground truth with its labels, the same in every state),
    step_rows (per decoding step `t`, its row), text_rows (per model, epoch and
    step `t`, c_t' written as a weighted sum), share_rows (per model and epoch `at`, the share
    of content words within one word), and the labels of the source words (`cols`) and of the
    target steps (`labels`)."""
    src, tgt, align = example
    cols = [f"{j + 1} {t}" for j, t in enumerate(src + ["<eos>"])]
    labels = [f"{i + 1} {t}" for i, t in enumerate(tgt + ["<eos>"])]
    heat_rows, share_rows, text_rows = [], [], []
    for name, curve in curves.items():
        for epoch, (w, shares) in enumerate(zip(curve["example"], curve["shares"])):
            for (step, i), v in zip(torch.cartesian_prod(torch.arange(w.shape[0]),
                                                          torch.arange(w.shape[1])).tolist(),
                                    w.flatten().tolist()):
                if v >= threshold:
                    heat_rows.append({"model": name, "epoch": epoch, "step": step + 1, "i": i,
                                      "weight": round(v, 2)})
            share_rows.append({"model": name, "at": epoch, "measure": MEASURE,
                               "share": round(shares[MEASURE], 3)})
            text_rows += [{"model": name, "epoch": epoch, "t": t,
                           "text": f"{labels[t - 1].split(' ', 1)[1]}: " + context_line(w, t, src)}
                          for t in range(1, w.shape[0] + 1)]
    box_rows = [{"step": i + 1, "output": labels[i], "source": cols[a], "i": a}
                for i, a in enumerate(align)]
    step_rows = [{"t": t, "step": t} for t in range(1, len(labels) + 1)]
    return heat_rows, box_rows, step_rows, text_rows, share_rows, cols, labels


def explore_training(curves, example, default_epoch=1, default_model="bahdanau", default_step=3):
    """The section's explorer: a slider over the epochs of the notebook's own training run, a
    model menu and a decoding-step slider; the heatmap shows the weights on `example` with the
    reference fed in (rows: target words; black boxes: the source word each translates; blue:
    the chosen step), the line under it that step's context vector as a weighted sum of the
    h_t, the chart beside it the share of content words whose largest weight is within one word
    of the word they translate (test set), a dashed rule at the chosen epoch."""
    heat_rows, box_rows, step_rows, text_rows, share_rows, cols, labels = training_states(
        curves, example)
    epochs = len(next(iter(curves.values()))["shares"])
    rule_rows = [{"epoch": e, "at": max(e, 0.08)} for e in range(epochs)]
    side = 17 * (len(example[0]) + 1)
    shares = explorers.line_view(share_rows, "at", "share", "measure", points=True,
                                 width=260, height=side // 2, y_domain=(0, 1),
                                 x_title="epochs trained",
                                 y_title="share of content words (test)",
                                 title="largest weight within one word of the word")
    marker = explorers.rule_view(rule_rows, "at", width=260, height=side // 2)
    line = explorers.text_view(text_rows, "text", width=side, height=24, size=12)
    return explorers.explorer(
        _weights_view(heat_rows, box_rows, step_rows, cols, labels, side, side),
        (shares, marker), line,
        controls=[explorers.Slider("epoch", range(epochs), "epochs trained",
                                   default=default_epoch),
                  explorers.Select("model", tuple(curves), "encoder", default=default_model,
                                   labels=[MODEL_LABELS[n] for n in curves]),
                  explorers.Slider("t", range(1, len(labels) + 1), "decoding step t'",
                                   default=default_step)],
        title="Alignment emerges during training (never shown the black boxes)", columns=2)


# ------------------------------------------------------------- hiding keys at inference

WORD_CLASSES = (("nouns", frozenset(NOUNS.values())),
                ("adjectives", frozenset(ADJECTIVES.values())),
                ("verbs", frozenset(VERBS.values())), ("le, et, .", frozenset({"le", "et", "."})))


def reference_batch(triples, src_vocab, tgt_vocab, num_steps, device="cpu"):
    """Teacher-forcing tensors for `triples` (source, target, alignment), on `device`: X and
    its valid lengths, the decoder's inputs (<bos> and the reference), the reference Y (with
    <eos>) and `aligned` (batch, num_steps): the source position (from 0) each target word
    translates (0 on the steps after the last word)."""
    X, X_valid_len = d2l.build_array_nmt([[t.lower() for t in s] for s, _, _ in triples],
                                         src_vocab, num_steps)
    Y, _ = d2l.build_array_nmt([t for _, t, _ in triples], tgt_vocab, num_steps)
    bos = torch.full((len(triples), 1), tgt_vocab["<bos>"], dtype=Y.dtype)
    aligned = torch.tensor([(a + [0] * num_steps)[:num_steps] for _, _, a in triples])
    return tuple(t.to(device) for t in (X, X_valid_len, torch.cat([bos, Y[:, :-1]], 1), Y,
                                        aligned))


def accuracy_by_class(hits, triples):
    """{word class: share of the reference's words of that class predicted right}, from `hits`
    (batch, num_steps) booleans, one per teacher-forced step."""
    out = {}
    for name, words in WORD_CLASSES:
        right = [bool(hits[b, i]) for b, (_, tgt, _) in enumerate(triples)
                 for i, w in enumerate(tgt) if w in words]
        out[name] = sum(right) / len(right)
    return out


def print_accuracy_by_class(rows, triples, sweep=None):
    """One line per {label: hits}: accuracy on nouns, adjectives, verbs and the rest; with
    `sweep` (the summary of results/alignment.json), the min-max over its runs with the keys
    after the word hidden, one line per model."""
    print(f"{'right next word (reference fed in)':47s}" + "".join(
        f"{name:>12s}" for name, _ in WORD_CLASSES))
    for label, hits in rows.items():
        shares = accuracy_by_class(hits, triples)
        print(f"{label:47s}" + "".join(f"{shares[name]:12.2f}" for name, _ in WORD_CLASSES))
    if sweep is None:
        return
    for model, label in (("bahdanau", "one-directional"), ("bidirectional", "bidirectional")):
        spans = sweep[f"{model} accuracy by class"]["keys up to the word"]
        print(f"{label + ', keys up to the word, ' + str(sweep['runs']) + ' runs':47s}" +
              "".join(f"{spans[name]['min']:.2f}-{spans[name]['max']:.2f}".rjust(12)
                      for name, _ in WORD_CLASSES))


# ------------------------------------------------------------- figures and committed results

def alignment_heatmap(weights, source, translation, alignment=None, figsize=(6.5, 5.5),
                      title="black boxes: the word each target word translates"):
    """The weights of one greedy translation (rows: the generated tokens `translation` and
    <eos>, columns: source tokens and <eos>) on matplotlib's Reds from 0 (white) to 1, the
    explorer's scale; a black box marks the source word each reference word translates
    (`alignment`, if given)."""
    from matplotlib import patches

    plt = d2l.plt
    fig, ax = plt.subplots(figsize=figsize)
    image = ax.imshow(weights.numpy(), cmap="Reds", vmin=0, vmax=1)
    for i, j in enumerate((alignment or [])[:weights.shape[0]]):
        ax.add_patch(patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=1.2))
    ax.set_xticks(range(len(source) + 1), list(source) + ["<eos>"], rotation=90)
    ax.set_yticks(range(weights.shape[0]), (list(translation) + ["<eos>"])[:weights.shape[0]])
    ax.set_xlabel("Source tokens (keys)")
    ax.set_ylabel("Generated tokens (queries)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig


def alignment_heatmaps(panels, source, alignment, figsize=(11, 5)):
    """Several models' weights for one source sentence side by side, one colour scale (Reds,
    0 to 1) and one colourbar: `panels` is a list of (title, weights, generated tokens);
    black boxes on the source word each reference word translates (`alignment`)."""
    from matplotlib import patches

    plt = d2l.plt
    fig, axes = plt.subplots(1, len(panels), figsize=figsize)
    for ax, (title, weights, translation) in zip(axes, panels):
        image = ax.imshow(weights.numpy(), cmap="Reds", vmin=0, vmax=1)
        for i, j in enumerate(alignment[:weights.shape[0]]):
            ax.add_patch(patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="black", linewidth=1.2))
        ax.set_xticks(range(len(source) + 1), list(source) + ["<eos>"], rotation=90)
        ax.set_yticks(range(weights.shape[0]),
                      (list(translation) + ["<eos>"])[:weights.shape[0]])
        ax.set_xlabel("source tokens (keys)")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("generated tokens (queries)")
    fig.colorbar(image, ax=list(axes), shrink=0.7, label="attention weight")
    return fig


COLOURS = {"bahdanau": "C0", "seq2seq": "C1", "bidirectional": "C2"}
NAMES = {"bahdanau": "with attention (Bahdanau)", "seq2seq": "without attention (9.7)",
         "bidirectional": "with attention, bidirectional encoder"}


def _runs_of_lengths(lengths):
    """Consecutive lengths in groups (1, 2 and 3 clauses): lines are not drawn across gaps."""
    groups = [[lengths[0]]]
    for n in lengths[1:]:
        (groups[-1].append(n) if n == groups[-1][-1] + 1 else groups.append([n]))
    return groups


def plot_by_length(runs, sweep=None, train=None, longer=None, figsize=(6, 3.2)):
    """Share of test sentences translated exactly against source length, one line per model
    (`runs`: {name: evaluate(...) result}); `sweep` (the summary of results/alignment.json)
    adds each model's min-max over the sweep's runs as a band; `train` (evaluate's result for
    the model without attention on training sentences) a dashed line; `longer` (the figures of
    results/alignment-longer.json) its mean over seeds after the longest training, dotted."""
    from matplotlib.ticker import MaxNLocator

    plt = d2l.plt
    fig, ax = plt.subplots(figsize=figsize)
    for model, result in runs.items():
        lengths = sorted(int(n) for n in result["by_length"])
        for k, group in enumerate(_runs_of_lengths(lengths)):
            ax.plot(group, [result["by_length"][n] for n in group], "o-", color=COLOURS[model],
                    label=NAMES[model] + ", this run" if k == 0 else None)
            if sweep:
                span = sweep["exact by source length"]
                xs = [n for n in group if model in span.get(str(n), {})]
                ax.fill_between(xs, [span[str(n)][model]["min"] for n in xs],
                                [span[str(n)][model]["max"] for n in xs],
                                color=COLOURS[model], alpha=0.2,
                                label=(f"{NAMES[model]}, min-max of {sweep['runs']} runs"
                                       if k == 0 else None))
    if train:
        lengths = sorted(int(n) for n in train["by_length"])
        for k, group in enumerate(_runs_of_lengths(lengths)):
            ax.plot(group, [train["by_length"][n] for n in group], "s--", color=COLOURS["seq2seq"],
                    markerfacecolor="white",
                    label="without attention, on training sentences" if k == 0 else None)
    if longer:
        epochs = str(longer["epochs"])
        mean = longer["summary"][epochs]["test by length"]
        lengths = sorted(int(n) for n in mean)
        for k, group in enumerate(_runs_of_lengths(lengths)):
            ax.plot(group, [mean[str(n)] for n in group], "^:", color=COLOURS["seq2seq"],
                    label=(f"without attention, {epochs} epochs (mean of "
                           f"{len(longer['runs'])} seeds)" if k == 0 else None))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("source sentence length (words)")
    ax.set_ylabel("translated exactly")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def exact_between(result, lo, hi):
    """Mean share exact over the source lengths lo..hi of evaluate's `result`."""
    values = [v for k, v in result["by_length"].items() if lo <= int(k) <= hi]
    return sum(values) / len(values)


LENGTH_GROUPS = (("1 clause (6-8 words)", 6, 8), ("2 clauses (12-16)", 12, 16),
                 ("3 clauses (18-24)", 18, 24))


def print_by_length(results):
    """One line per {label: evaluate result}: the share exact for 1, 2 and 3 clauses."""
    for name, result in results.items():
        print(f"{name:40s}" + "  ".join(f"{g} {exact_between(result, lo, hi):.2f}"
                                         for g, lo, hi in LENGTH_GROUPS))


def offset_shares(result, lo=-3, hi=3):
    """{d: share of content words whose largest weight lies d words after the aligned one}
    for d in lo..hi, from evaluate's `result` (its `offsets`; JSON keys are strings)."""
    offsets = {int(d): n for d, n in result["offsets"].items()}
    total = max(sum(offsets.values()), 1)
    return {d: offsets.get(d, 0) / total for d in range(lo, hi + 1)}


def plot_offsets(results, sweep, figsize=(6.5, 3)):
    """Where the largest weight lands, relative to the source word being translated (0: on
    it, +1: one word to its right), for this run's models (`results`: {"bahdanau": ...,
    "bidirectional": ...} from evaluate), whiskers from min to max over the committed sweep
    (`sweep`: the figures of results/alignment.json)."""
    import numpy as np

    plt = d2l.plt
    fig, ax = plt.subplots(figsize=figsize)
    ds = np.arange(-3, 4)
    for k, (model, result) in enumerate(results.items()):
        shares = offset_shares(result)
        span = sweep["summary"][f"{model} offsets (content words)"]
        lo = [span[str(d)]["min"] for d in ds]
        hi = [span[str(d)]["max"] for d in ds]
        ys = [shares[d] for d in ds]
        ax.bar(ds + (k - 0.5) * 0.38, ys, width=0.38, color=COLOURS[model],
               label=MODEL_LABELS[model],
               yerr=[np.subtract(ys, lo).clip(0), np.subtract(hi, ys).clip(0)], capsize=2,
               error_kw={"elinewidth": 0.8, "ecolor": "#444"})
    ax.set_xticks(ds, ["-3", "-2", "-1", "0\n(the word)", "+1", "+2", "+3"])
    ax.set_xlabel("where the largest weight lands, in words from the source word translated")
    ax.set_ylabel("share of content words")
    seeds = sorted({r["seed"] for r in sweep["runs"]})
    kernels = sorted({r["kernel"] for r in sweep["runs"]})
    ax.set_title(f"bars: this run (seed 0)\nwhiskers: min-max over {len(sweep['runs'])} runs, "
                 f"seeds {seeds[0]}-{seeds[-1]} x {'/'.join(kernels)} (results/alignment.json)",
                 fontsize=9)
    ax.legend(fontsize=7)
    return fig


def print_offsets(results, sweep):
    """This run's shares of content words whose largest weight lies left of, on and right of
    the word they translate, for each model in `results`, with the committed sweep's range."""
    groups = (("left of the word (d < 0)", lambda d: d < 0), ("on the word (d = 0)",
                                                              lambda d: d == 0),
              ("right of the word (d > 0)", lambda d: d > 0))
    print(f"{'largest weight':26s}" + "".join(f"{MODEL_LABELS[m].split(', ')[1]:>34s}"
                                               for m in results))
    for name, keep in groups:
        line = f"{name:26s}"
        for model, result in results.items():
            seeds = [offset_share(r[model], keep) for r in sweep["runs"]]
            line += f"{offset_share(result, keep):>16.3f} (seeds {min(seeds):.2f}-{max(seeds):.2f})"
        print(line)


def offset_share(result, keep):
    """Share of the content words in `evaluate`'s `result` whose largest weight lies at an
    offset d (top position - aligned position) with keep(d) true; JSON keys are strings."""
    offsets = {int(d): n for d, n in result["offsets"].items()}
    return sum(n for d, n in offsets.items() if keep(d)) / max(sum(offsets.values()), 1)


# ------------------------------------------------------------- the model without attention, longer

class _EpochHook:
    """A data iterator for `d2l.train_seq2seq` that calls `hook(k)` when epoch k + 1 starts
    (after k epochs), then iterates `data_iter`."""

    def __init__(self, data_iter, hook):
        self.data_iter, self.hook, self.epoch = data_iter, hook, 0

    def __iter__(self):
        self.hook(self.epoch)
        self.epoch += 1
        return iter(self.data_iter)


def token_loss(net, triples, src_vocab, tgt_vocab, num_steps):
    """Mean cross-entropy per reference token (nats), reference fed in, dropout off."""
    X, X_valid_len, dec_X, Y, _ = reference_batch(triples, src_vocab, tgt_vocab, num_steps)
    net.eval()
    with torch.inference_mode():
        Y_hat, _ = net(X, dec_X, X_valid_len)
        ce = torch.nn.functional.cross_entropy(Y_hat.transpose(1, 2), Y, reduction="none")
        valid = Y != tgt_vocab["<pad>"]
    return float(ce[valid].mean())


def train_longer(seed, epochs=60, checkpoints=(15, 30, 45), config=ALIGNMENT_CONFIG,
                 attention=False):
    """Train the model without attention (or with, `attention=True`) from `seed` for `epochs`
    and measure after each of `checkpoints` and at the end: the loss per token on the training
    pairs and the test pairs, and the share translated exactly by source length on the test
    pairs and on the first 300 training pairs. Measuring draws no random numbers, so the run is
    the one `epochs` epochs of `d2l.train_seq2seq` would give."""
    import contextlib
    import io

    torch.set_num_threads(1)
    train_iter, src_vocab, tgt_vocab, test = config.data()
    train = reorder_pairs(config.train_pairs, 0, config.max_clauses)
    torch.manual_seed(seed)
    net = config.net(src_vocab, tgt_vocab, attention=attention)
    record = {}

    def measure(k):
        if k not in checkpoints and k != epochs:
            return
        record[str(k)] = {
            "train loss": token_loss(net, train, src_vocab, tgt_vocab, config.num_steps),
            "test loss": token_loss(net, test, src_vocab, tgt_vocab, config.num_steps),
            "test": evaluate(net, test, src_vocab, tgt_vocab, config.num_steps)["by_length"],
            "train": evaluate(net, train[:300], src_vocab, tgt_vocab,
                              config.num_steps)["by_length"]}
        net.train()

    with contextlib.redirect_stdout(io.StringIO()):
        d2l.train_seq2seq(net, _EpochHook(train_iter, measure), config.lr, epochs, tgt_vocab,
                          "cpu")
    measure(epochs)
    return {"seed": seed, "epochs": epochs, "attention": attention,
            "kernel": torch.backends.cpu.get_cpu_capability(), "checkpoints": record}


def _exact_or_none(by_length, lo, hi):
    have = any(lo <= int(n) <= hi for n in by_length)
    return round(exact_between({"by_length": by_length}, lo, hi), 3) if have else None


def summarize_longer(runs):
    """Per checkpoint, the mean over `runs` of the losses and of the share exact by length (and
    each run's share exact for 1, 2 and 3 clauses)."""
    summary = {}
    for k in runs[0]["checkpoints"]:
        at = [r["checkpoints"][k] for r in runs]
        lengths = sorted({n for a in at for n in a["test"]}, key=int)
        summary[k] = {
            "train loss": round(sum(a["train loss"] for a in at) / len(at), 4),
            "test loss": round(sum(a["test loss"] for a in at) / len(at), 4),
            "test by length": {n: round(sum(a["test"][n] for a in at) / len(at), 3)
                               for n in lengths},
            "clauses": {split: [[_exact_or_none(a[split], lo, hi) for _, lo, hi in LENGTH_GROUPS]
                                 for a in at] for split in ("test", "train")}}
    return summary


def longer_sweep(seeds=(0, 1, 2), epochs=60, checkpoints=(15, 30, 45), jobs=3):
    """`train_longer` for each seed in its own process: {"epochs", "summary", "runs"}, what
    results/alignment-longer.json holds (`python tools/book.py sweep longer` writes it)."""
    import concurrent.futures
    import functools
    import multiprocessing

    run = functools.partial(train_longer, epochs=epochs, checkpoints=checkpoints)
    with concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run, seeds))
    return {"epochs": epochs, "summary": summarize_longer(runs), "runs": runs}


def print_longer(longer):
    """Per checkpoint: losses and the share exact for 1, 2 and 3 clauses (min-max over seeds)."""
    print(f"{'without attention, seeds ' + ','.join(str(r['seed']) for r in longer['runs']):34s}"
          "loss/token train  test   exact: " + "  ".join(g.split(" (")[0]
                                                         for g, _, _ in LENGTH_GROUPS))
    for k, at in longer["summary"].items():
        for split in ("test", "train"):
            spans = [[x for x in v if x is not None] for v in zip(*at["clauses"][split])]
            cells = "  ".join(f"{min(v):.2f}-{max(v):.2f}" if v else "   -     " for v in spans)
            losses = (f"{at['train loss']:10.2f} {at['test loss']:6.2f}" if split == "test"
                      else " " * 17)
            print(f"{k + ' epochs, ' + split + ' sentences':34s}{losses}          {cells}")
