"""Train the chapter's two translation models outside Jupyter and report speed and BLEU.

    python -m d2l_attention.bench                # both models, book settings, seed 0
    python -m d2l_attention.bench --seeds 5      # seeds 0-4, per-seed lines and the mean BLEU
    python -m d2l_attention.bench --quick        # a few epochs: a smoke test, not a benchmark

The models, data and hyperparameters are those of the notebooks 10.4 (Bahdanau attention,
250 epochs) and 10.7 (Transformer, 200 epochs): the first 600 fra-eng pairs, batch 64,
num_steps 10, lr 0.005. One line per model and seed::

    bahdanau    seed 0 epochs 250 wall 44.5 s 14259 tokens/s loss 0.019 bleu 1.000 ... mean 0.915

(the four BLEU scores in the order go . / i lost . / he's calm . / i'm home .).

With several seeds a `mean` line per model follows, averaging each sentence's BLEU over the
seeds. tokens/s: target tokens (without padding) of all epochs over the wall time of the whole
`train_seq2seq` call, set-up included, as the book's reference scripts measure it.
"""

import argparse
import contextlib
import io
import sys
import time

import torch

import d2l_attention as d2l

ENGS = ["go .", "i lost .", "he's calm .", "i'm home ."]
FRAS = ["va !", "j'ai perdu .", "il est calme .", "je suis chez moi ."]
BATCH_SIZE, NUM_STEPS, LR = 64, 10, 0.005
EPOCHS = {"bahdanau": 250, "transformer": 200}
QUICK_EPOCHS = 3


def build_bahdanau(src_vocab, tgt_vocab):
    """The 10.4 model: GRU encoder + Seq2SeqAttentionDecoder (embed 32, hidden 32, 2 layers)."""
    embed_size, num_hiddens, num_layers, dropout = 32, 32, 2, 0.1
    encoder = d2l.Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
    decoder = d2l.Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers,
                                          dropout)
    return d2l.EncoderDecoder(encoder, decoder)


def build_transformer(src_vocab, tgt_vocab):
    """The 10.7 model: hidden 32, 2 layers, 4 heads, FFN 64, dropout 0.1 (the taught classes)."""
    num_hiddens, num_layers, dropout = 32, 2, 0.1
    ffn_num_input, ffn_num_hiddens, num_heads = 32, 64, 4
    key_size = query_size = value_size = 32
    norm_shape = [32]
    encoder = d2l.TransformerEncoder(len(src_vocab), key_size, query_size, value_size,
                                     num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens,
                                     num_heads, num_layers, dropout)
    decoder = d2l.TransformerDecoder(len(tgt_vocab), key_size, query_size, value_size,
                                     num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens,
                                     num_heads, num_layers, dropout)
    return d2l.EncoderDecoder(encoder, decoder)


def run(model, seed, num_epochs, device):
    """Train one model from `seed`; return a dict with the measurements and translations."""
    torch.manual_seed(seed)
    train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(BATCH_SIZE, NUM_STEPS)
    build = build_bahdanau if model == "bahdanau" else build_transformer
    net = build(src_vocab, tgt_vocab)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # train_seq2seq's own summary line
        result = d2l.train_seq2seq(net, train_iter, LR, num_epochs, tgt_vocab, device)
    wall = time.perf_counter() - start
    translations, bleus, _ = d2l.translate_and_score(net, ENGS, FRAS, src_vocab, tgt_vocab,
                                                     NUM_STEPS, device, verbose=False)
    # Like the reference scripts: target tokens over the wall time of the whole train_seq2seq call.
    tokens = result.tokens_per_sec * result.seconds
    return {"model": model, "seed": seed, "epochs": num_epochs, "wall": wall,
            "tokens_per_sec": tokens / wall, "loss": result.loss,
            "bleu": bleus, "translations": translations}


def format_run(r):
    bleus = " ".join(f"{b:.3f}" for b in r["bleu"])
    return (f"{r['model']:11s} seed {r['seed']} epochs {r['epochs']} wall {r['wall']:.1f} s "
            f"{r['tokens_per_sec']:.0f} tokens/s loss {r['loss']:.3f} bleu {bleus} "
            f"mean {sum(r['bleu']) / len(r['bleu']):.3f}")


def format_mean(runs):
    n = len(runs)
    per_sentence = [sum(r["bleu"][i] for r in runs) / n for i in range(len(ENGS))]
    tokens = sum(r["tokens_per_sec"] for r in runs) / n
    wall = sum(r["wall"] for r in runs) / n
    bleus = " ".join(f"{b:.3f}" for b in per_sentence)
    return (f"{runs[0]['model']:11s} mean of {n} seeds epochs {runs[0]['epochs']} "
            f"wall {wall:.1f} s {tokens:.0f} tokens/s bleu {bleus} "
            f"mean {sum(per_sentence) / len(per_sentence):.3f}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m d2l_attention.bench",
        description="Train the Bahdanau and Transformer translators with the notebooks' "
                    "settings; print speed, final loss and BLEU of the four test sentences.")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train with seeds 0..SEEDS-1 and report the mean BLEU (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs per model: a smoke test of the pipeline")
    parser.add_argument("--models", default="bahdanau,transformer",
                        help="comma-separated subset of: bahdanau, transformer")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the number of epochs of every model")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, as in the notebooks)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, ... (default: d2l.try_gpu())")
    parser.add_argument("--verbose", action="store_true",
                        help="also print the four translations of every run")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in EPOCHS]
    if unknown or not models:
        parser.error(f"--models {args.models!r}: choose from {', '.join(EPOCHS)}")
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds}: use 1 or more")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: use 1 or more")
    args.models = models
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {device}"
          f"{', quick mode' if args.quick else ''}", flush=True)
    for model in args.models:
        num_epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS[model])
        runs = []
        for seed in range(args.seeds):
            runs.append(run(model, seed, num_epochs, device))
            print(format_run(runs[-1]), flush=True)
            if args.verbose:
                for eng, translation in zip(ENGS, runs[-1]["translations"]):
                    print(f"    {eng:12s} => {translation}", flush=True)
        if len(runs) > 1:
            print(format_mean(runs), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except d2l.DataError as e:  # no data and no network: one message that says what to do
        sys.exit(f"error: {e}")
