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

import dataclasses
import random

import torch

import d2l_attention as d2l
from d2l_attention import explorers

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

    def net(self, src_vocab, tgt_vocab, attention=True):
        """The taught Bahdanau model, or 9.7's decoder without attention (same sizes)."""
        encoder = d2l.Seq2SeqEncoder(len(src_vocab), self.embed_size, self.num_hiddens,
                                     self.num_layers, self.dropout)
        decoder = (d2l.Seq2SeqAttentionDecoder if attention else d2l.Seq2SeqDecoder)(
            len(tgt_vocab), self.embed_size, self.num_hiddens, self.num_layers, self.dropout)
        return d2l.EncoderDecoder(encoder, decoder)


ALIGNMENT_CONFIG = AlignmentConfig()


def greedy_decode(net, sources, src_vocab, tgt_vocab, num_steps):
    """Greedy translation of a batch of token lists, as `d2l.predict_seq2seq` does one sentence
    at a time (same padding, same steps). Returns (translations: token lists without <eos>,
    weights: per sentence a (steps taken, len(source) + 1) tensor, or None without attention).
    """
    device = next(net.parameters()).device
    net.eval()
    arrays, valid = d2l.build_array_nmt([[t.lower() for t in s] for s in sources], src_vocab,
                                        num_steps)
    eos = tgt_vocab["<eos>"]
    # a class that defines attention_weights (the notebook's own class counts too)
    has_attention = getattr(type(net.decoder), "attention_weights", None) is not None
    with torch.inference_mode():
        arrays, valid = arrays.to(device), valid.to(device)
        state = net.decoder.init_state(net.encoder(arrays, valid), valid)
        token = torch.full((len(sources), 1), tgt_vocab["<bos>"], dtype=torch.long,
                           device=device)
        tokens, weights = [], []
        for _ in range(num_steps):
            Y, state = net.decoder(token, state)
            token = Y.argmax(dim=2)
            tokens.append(token[:, 0])
            if has_attention:
                weights.append(net.decoder.attention_weights[0][:, 0])
            if bool((torch.stack(tokens, 1) == eos).any(1).all()):
                break
    tokens = torch.stack(tokens, 1).cpu()
    weights = torch.stack(weights, 1).cpu() if weights else None
    translations, weight_list = [], []
    for b, row in enumerate(tokens.tolist()):
        steps = row.index(eos) + 1 if eos in row else len(row)
        translations.append(tgt_vocab.to_tokens(row[:steps - 1] if eos in row else row))
        if weights is not None:
            weight_list.append(weights[b, :steps, :len(sources[b]) + 1])
    return translations, (weight_list if weights is not None else None)


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


def train_pair(config=ALIGNMENT_CONFIG, seed=0, device="cpu", verbose=False):
    """Train the Bahdanau model and the model without attention on the task (seed `seed`, one
    after the other, same data) and evaluate both on the test set: the sweep's unit."""
    import contextlib
    import io

    train_iter, src_vocab, tgt_vocab, test = config.data()
    out = {}
    for name, attention, epochs in (("bahdanau", True, config.num_epochs),
                                    ("seq2seq", False, config.plain_epochs)):
        torch.manual_seed(seed)
        net = config.net(src_vocab, tgt_vocab, attention)
        with contextlib.redirect_stdout(None if verbose else io.StringIO()):
            result = d2l.train_seq2seq(net, train_iter, config.lr, epochs, tgt_vocab, device)
        out[name] = {"loss": result.loss,
                     **evaluate(net, test, src_vocab, tgt_vocab, config.num_steps)}
    return out


def decoding_states(net, plain_net, triples, src_vocab, tgt_vocab, num_steps, decimals=2):
    """Explorer rows: the greedy translation of each triple's source, step by step, by the
    Bahdanau model `net` (its attention weights) and by `plain_net` (no attention).

    Returns (heat_rows, text_rows). heat_rows: per sentence (index in `triples`), step (1, 2, ...)
    and source token, that step's weight; rows are labelled "step token <- aligned source word"
    when the step's token is the reference's, the source columns "position word".
    text_rows: per sentence and step, what both models emit. Sorted by step and position.
    """
    sources = [s for s, _, _ in triples]
    outs, weights = greedy_decode(net, sources, src_vocab, tgt_vocab, num_steps)
    plain, _ = greedy_decode(plain_net, sources, src_vocab, tgt_vocab, num_steps)
    heat_rows, text_rows = [], []
    for s, ((src, tgt, align), out, w, other) in enumerate(zip(triples, outs, weights, plain)):
        cols = [f"{j + 1} {t}" for j, t in enumerate(src + ["<eos>"])]
        out = out + ["<eos>"] * (w.shape[0] - len(out))
        other = other + ["<eos>"]
        for i, row in enumerate(w):
            ref = tgt[i] if i < len(tgt) else "<eos>"
            source = (src + ["<eos>"])[align[i] if i < len(align) else len(src)]
            label = f"{i + 1} {out[i]}" + (f" <- {source}" if out[i] == ref else " (wrong)")
            state = {"sentence": s, "step": i + 1}
            heat_rows += explorers.rows({**state, "output": label}, row_labels=("source", cols),
                                        weight=row, decimals=decimals)
            top = int(row.argmax())
            theirs = other[i] if i < len(other) else "(stopped)"
            text_rows += explorers.rows({**state, "line": i + 1}, text=[
                f"{i + 1:2d}  with attention {out[i]!r} (top weight {float(row[top]):.2f} on "
                f"{cols[top].split(' ', 1)[1]!r})  |  without: {theirs!r}"
                + ("" if theirs == ref else f" (wrong, reference {ref!r})")])
    heat_rows.sort(key=lambda r: (r["step"], r["i"]))
    return heat_rows, text_rows


def explore_alignment(net, plain_net, triples, src_vocab, tgt_vocab, num_steps, default=0):
    """The section's explorer: pick a sentence, step through greedy decoding; the heatmap adds
    the Bahdanau model's weights row by row (matplotlib's Reds from 0 to 1, as the static
    heatmap), the text says what each model emits at that step."""
    heat_rows, text_rows = decoding_states(net, plain_net, triples, src_vocab, tgt_vocab,
                                           num_steps)
    max_steps = max(r["step"] for r in heat_rows)
    width = 18 * max(len(s) + 1 for s, _, _ in triples)
    labels = tuple(" ".join(s)[:60] for s, _, _ in triples)
    return explorers.explorer(
        explorers.heatmap_view(heat_rows, "source", "output", width=width,
                               height=15 * max_steps, x_title="Source tokens (keys)",
                               y_title="Generated tokens (queries) <- the word they translate"),
        explorers.text_view(text_rows, "text", width=width + 200, height=14 * max_steps,
                             size=11),
        controls=[explorers.Select("sentence", tuple(range(len(triples))), "sentence",
                                   default=default, labels=labels),
                  explorers.Slider("step", range(1, max_steps + 1), "decoding step",
                                   default=max_steps, upto=True)],
        title="Greedy decoding with and without attention", columns=1)


# ------------------------------------------------------------- figures and committed results

def alignment_heatmap(weights, source, translation, alignment, figsize=(6.5, 5.5)):
    """The weights of one greedy translation (rows: the generated tokens `translation` and
    <eos>, columns: source tokens and <eos>) on matplotlib's Reds from 0 (white) to 1, the
    explorer's scale; a black box marks the source word each reference word translates."""
    from matplotlib import patches

    plt = d2l.plt
    fig, ax = plt.subplots(figsize=figsize)
    image = ax.imshow(weights.numpy(), cmap="Reds", vmin=0, vmax=1)
    for i, j in enumerate(alignment[:weights.shape[0]]):
        ax.add_patch(patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black",
                                       linewidth=1.2))
    ax.set_xticks(range(len(source) + 1), list(source) + ["<eos>"], rotation=90)
    ax.set_yticks(range(weights.shape[0]), (list(translation) + ["<eos>"])[:weights.shape[0]])
    ax.set_xlabel("Source tokens (keys)")
    ax.set_ylabel("Generated tokens (queries)")
    ax.set_title("black boxes: the word each target word translates", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig


def plot_by_length(runs, sweep=None, figsize=(6, 3.2)):
    """Share of test sentences translated exactly against source length, one line per model
    (`runs`: {name: evaluate(...) result}); `sweep` (the summary of results/alignment.json)
    adds each model's min-max over the sweep's runs as a band."""
    plt = d2l.plt
    colours = {"bahdanau": "C0", "seq2seq": "C1"}
    names = {"bahdanau": "with attention (Bahdanau)", "seq2seq": "without attention (9.7)"}
    fig, ax = plt.subplots(figsize=figsize)
    for model, result in runs.items():
        lengths = sorted(int(n) for n in result["by_length"])
        ax.plot(lengths, [result["by_length"][n] for n in lengths], "o-",
                color=colours[model], label=names[model] + ", this run")
        if sweep:
            span = sweep["exact by source length"]
            xs = [n for n in lengths if model in span.get(str(n), {})]
            ax.fill_between(xs, [span[str(n)][model]["min"] for n in xs],
                            [span[str(n)][model]["max"] for n in xs], color=colours[model],
                            alpha=0.2, label=f"{names[model]}, min-max of {sweep['runs']} runs")
    ax.set_xlabel("source sentence length (words)")
    ax.set_ylabel("translated exactly")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def offset_share(result, keep):
    """Share of the content words in `evaluate`'s `result` whose largest weight lies at an
    offset d (top position - aligned position) with keep(d) true; JSON keys are strings."""
    offsets = {int(d): n for d, n in result["offsets"].items()}
    return sum(n for d, n in offsets.items() if keep(d)) / max(sum(offsets.values()), 1)


def results_path(name):
    from pathlib import Path

    return Path(d2l.__file__).resolve().parents[1] / "results" / f"{name}.json"


def read_results(name):
    """The figures of the committed results/NAME.json (written by tools/alignment.py or
    tools/bench.py), with the command that produced them."""
    import json

    record = json.loads(results_path(name).read_text(encoding="utf-8"))
    return record["command"], record["figures"]
