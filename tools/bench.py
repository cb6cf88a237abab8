"""Train the chapter's translation models outside Jupyter: speed, BLEU, and how both vary.

    python tools/book.py bench train                    # both models, book settings, seed 0
    python tools/book.py bench train --seeds 5          # seeds 0-4 and a summary per model
    python tools/book.py bench sweep --seeds 5 --kernels default,avx2,native --jobs 2
                                                        # the seeds x CPU-kernel sweep
    python tools/book.py bench heldout                  # corpus BLEU on unseen pairs, 3 models
    python tools/book.py bench train --quick            # a few epochs: a smoke test
    python tools/book.py bench against "CMD {model} {epochs} {seed}" --seeds 2
                                                        # speed ratio against another
                                                        # implementation, alternating runs
    python tools/book.py bench speedups --seeds 2       # what each speed-up of train_seq2seq saves
    ... --save NAME                                     # also write results/NAME.json, which
                                                        # the appendix renders

A tool, not part of the library: it trains the library's models (`import d2l_attention`).

The models, data and hyperparameters come from the library, saved from the notebooks: each
model's configuration object, `d2l.BAHDANAU_CONFIG` (10.4) and `d2l.TRANSFORMER_CONFIG` (10.7)
(`heldout` also `d2l.SEQ2SEQ_CONFIG`, 9.7's), builds the model (`.net`) and holds its training
settings; the test sentences are `d2l.TEST_ENGS`/`d2l.TEST_FRAS`. One line per model and seed::

    bahdanau    seed 0 epochs 250 wall 44.5 s 14259 tokens/s loss 0.019 bleu 1.000 ... mean 0.915

(the four BLEU scores in the order of `d2l.TEST_ENGS`). tokens/s: target tokens (without
padding) of all epochs over the wall time of the whole `train_seq2seq` call, set-up included, as
the book's reference scripts measure it.

`sweep --kernels` runs every seed once per CPU kernel family. PyTorch picks its vector kernels
when it is imported, from the environment variable ATEN_CPU_CAPABILITY (`default`, `avx2`,
`avx512`, ...; `native` leaves the choice to PyTorch), so each run is a fresh process. Other
CPUs run other kernels; this is how one machine shows what they would compute. The summary
counts, per model and kernel, the runs whose training sentences all come out exact, the runs
that translate the unseen sentence exactly, and the mean BLEU with its range.

`against COMMAND` compares speed in one sitting: for each model and seed it runs COMMAND (a
shell command in which `{model}`, `{epochs}` and `{seed}` are replaced; it must print a JSON line
with `tokens_per_s`, as the book's reference training scripts do), then our run of the same model,
epochs and seed in a fresh process, alternating, and prints the ratio of the mean tokens/s.

`heldout` measures what the four sentences cannot: training on the first `--train-pairs`
pairs, it translates the pairs that follow whose English sentence is not among the training
sentences, and scores them with corpus BLEU, for the chapter-9 model without attention
(`d2l.seq2seq_net`), the Bahdanau model and the Transformer.
"""

import argparse
import concurrent.futures
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import common
from common import KERNEL_ENV

torch = d2l = None  # imported by load_library(), when a benchmark runs


def load_library():
    """Import torch and the library. Not at the top: `tools/book.py` builds every command's
    parser before the project's environment exists, and must work while the library is broken."""
    global torch, d2l
    import torch

    import d2l_attention as d2l

QUICK_EPOCHS = 3
RECIPES = {  # name: its configuration (sizes, training settings, `.net`), saved from a notebook
    "bahdanau": lambda: d2l.BAHDANAU_CONFIG,
    "transformer": lambda: d2l.TRANSFORMER_CONFIG,
}
HELDOUT_MODELS = {"seq2seq": lambda: d2l.SEQ2SEQ_CONFIG, **RECIPES}


# What each speed-up of `train_seq2seq` does (d2l_attention.seq2seq.SPEEDUPS switches them);
# `bench speedups` measures each one's share of the training time (its workers train without one).
SPEEDUPS = {
    "fused_adam": "Adam as one fused kernel (seq2seq._adam)",
    "cut_padding": "steps that are padding in the whole batch cut (seq2seq._cut_padding)",
    "foreach_clipping": "gradient clipping in one call over all gradients (utils.grad_clipping)",
}


def active_speedups(without=()):
    """The speed-ups `train_seq2seq` uses when those in `without` are switched off."""
    return tuple(name for name in d2l.seq2seq.SPEEDUPS if name not in without)


def settings(model):
    """The configuration of `model` (a name of HELDOUT_MODELS, which holds every RECIPE)."""
    return HELDOUT_MODELS[model]()


def cpu_kernel():
    """The CPU kernel family PyTorch uses in this process, e.g. 'AVX512', 'AVX2', 'DEFAULT'."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch < 2.1
        return os.environ.get(KERNEL_ENV, "native")


def quiet_train(net, data_iter, lr, num_epochs, tgt_vocab, device, without=()):
    with contextlib.redirect_stdout(io.StringIO()):  # train_seq2seq's own summary line
        return d2l.train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device,
                                 speedups=active_speedups(without))


def train_one(model, seed, make_data, num_epochs, device, without=()):
    """Seed, build the data (`make_data()` -> data_iter, src_vocab, tgt_vocab) and the model with
    its notebook's settings, train it quietly. Returns (net, vocabs, TrainResult, wall seconds of
    the whole `train_seq2seq` call)."""
    cfg = settings(model)
    torch.manual_seed(seed)
    data_iter, src_vocab, tgt_vocab = make_data()
    net = cfg.net(src_vocab, tgt_vocab)
    start = time.perf_counter()
    result = quiet_train(net, data_iter, cfg.lr, num_epochs, tgt_vocab, device, without)
    return net, (src_vocab, tgt_vocab), result, time.perf_counter() - start


def run(model, seed, num_epochs, device, without=()):
    """Train one model from `seed` on the notebook's data; return the measurements."""
    cfg = settings(model)
    net, (src_vocab, tgt_vocab), result, wall = train_one(
        model, seed, lambda: d2l.load_data_nmt(cfg.batch_size, cfg.num_steps), num_epochs,
        device, without)
    translations, bleus, _ = d2l.translate_and_score(
        net, d2l.TEST_ENGS, d2l.TEST_FRAS, src_vocab, tgt_vocab, cfg.num_steps, device,
        verbose=False)
    # Like the reference scripts: target tokens over the wall time of the whole train_seq2seq call.
    tokens = result.tokens_per_sec * result.seconds
    out = {"model": model, "seed": seed, "epochs": num_epochs, "wall": wall,
           "tokens_per_sec": tokens / wall, "loss": result.loss, "kernel": cpu_kernel(),
           "bleu": bleus, "translations": translations}
    if model == "transformer":  # 10.7's source-word swap, checked over the sweep's runs
        from d2l_attention.explore import transformer
        out["swap"] = transformer.swap_probe(net, src_vocab, tgt_vocab, cfg.num_steps)
    return out


def format_run(r, with_kernel=False):
    bleus = " ".join(f"{b:.3f}" for b in r["bleu"])
    return (f"{r['model']:11s} seed {r['seed']} epochs {r['epochs']} wall {r['wall']:.1f} s "
            f"{r['tokens_per_sec']:.0f} tokens/s loss {r['loss']:.3f} bleu {bleus} "
            f"mean {sum(r['bleu']) / len(r['bleu']):.3f}"
            + (f" kernel {r['kernel']}" if with_kernel else ""))


def format_mean(runs):
    n = len(runs)
    per_sentence = [sum(r["bleu"][i] for r in runs) / n for i in range(len(d2l.TEST_ENGS))]
    tokens = sum(r["tokens_per_sec"] for r in runs) / n
    wall = sum(r["wall"] for r in runs) / n
    bleus = " ".join(f"{b:.3f}" for b in per_sentence)
    return (f"{runs[0]['model']:11s} mean of {n} seeds epochs {runs[0]['epochs']} "
            f"wall {wall:.1f} s {tokens:.0f} tokens/s bleu {bleus} "
            f"mean {sum(per_sentence) / len(per_sentence):.3f}")


def summarize(runs):
    """Per model and kernel (and over all kernels): exact training sentences, exact unseen
    sentence, mean BLEU with min-max. Returns the table's lines and its rows, keyed by
    "model kernel"."""
    seen = [i for i, e in enumerate(d2l.TEST_ENGS) if e != d2l.UNSEEN_ENG]
    unseen = d2l.TEST_ENGS.index(d2l.UNSEEN_ENG)
    lines = [f"{'model':11s} {'kernel':8s} {'runs':>4s}  {'training sentences exact':>24s}  "
             f"{d2l.UNSEEN_ENG + ' exact':>17s}  mean BLEU (min-max)"]
    table = {}
    for model in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        kernels = list(dict.fromkeys(r["kernel"] for r in mine))
        for kernel in kernels + (["all"] if len(kernels) > 1 else []):
            rs = [r for r in mine if kernel in ("all", r["kernel"])]
            exact = sum(r["translations"][i] == d2l.TEST_FRAS[i] for r in rs for i in seen)
            runs_exact = sum(all(r["translations"][i] == d2l.TEST_FRAS[i] for i in seen)
                             for r in rs)
            hit = sum(r["translations"][unseen] == d2l.TEST_FRAS[unseen] for r in rs)
            means = [sum(r["bleu"]) / len(r["bleu"]) for r in rs]
            table[f"{model} {kernel}"] = {
                "epochs": rs[0].get("epochs"), "runs": len(rs),
                "training sentences exact": f"{exact}/{len(rs) * len(seen)}",
                "runs with all training sentences exact": f"{runs_exact}/{len(rs)}",
                f"{d2l.UNSEEN_ENG} exact": f"{hit}/{len(rs)}",
                "mean BLEU": round(sum(means) / len(means), 3),
                "min BLEU": round(min(means), 3), "max BLEU": round(max(means), 3)}
            lines.append(
                f"{model:11s} {kernel:8s} {len(rs):4d}  "
                f"{f'{exact}/{len(rs) * len(seen)} ({runs_exact}/{len(rs)} runs)':>24s}  "
                f"{f'{hit}/{len(rs)}':>17s}  {sum(means) / len(means):.3f} "
                f"({min(means):.3f}-{max(means):.3f})")
    return lines, table


# --- held-out evaluation -------------------------------------------------------------------

def heldout_split(train_pairs, test_pairs, num_steps):
    """Preprocessed (source, target) token lists: the first `train_pairs` pairs for training and
    up to `test_pairs` of the pairs after them for testing. A test pair must fit in `num_steps`
    with its `<eos>` on both sides (so truncation never decides its score), and its English
    sentence must not occur among the training sentences (nor earlier in the test set)."""
    raw = d2l.read_data_nmt()
    pairs = [p for p in d2l.preprocess_nmt(raw).split("\n") if p.count("\t") == 1]
    if len(pairs) < train_pairs + 1:
        raise ValueError(f"--train-pairs {train_pairs}: the corpus has only {len(pairs)} pairs")
    source, target = d2l.tokenize_nmt("\n".join(pairs[:train_pairs]))
    seen = {" ".join(s) for s in source}
    tests = []
    for pair in pairs[train_pairs:]:
        eng, fra = pair.split("\t")
        if (eng not in seen and len(eng.split(" ")) < num_steps
                and len(fra.split(" ")) < num_steps):
            seen.add(eng)  # one pair per English sentence: later translations of it are skipped
            tests.append((eng, fra))
            if len(tests) == test_pairs:
                break
    return source, target, tests


def run_heldout(model, seed, args, device):
    """Train one model from `seed` on the first `--train-pairs` pairs; corpus BLEU on unseen
    pairs and on as many training pairs."""
    cfg = settings(model)
    source, target, tests = heldout_split(args.train_pairs, args.test_pairs, cfg.num_steps)
    net, (src_vocab, tgt_vocab), result, wall = train_one(
        model, seed,
        lambda: d2l.nmt_data_from_tokens(source, target, cfg.batch_size, cfg.num_steps),
        epochs_for(args, model), device, args.without)
    parameters = sum(p.numel() for p in net.parameters())
    preds = [d2l.predict_seq2seq(net, eng, src_vocab, tgt_vocab, cfg.num_steps, device)[0]
             for eng, _ in tests]
    refs = [fra for _, fra in tests]
    train_preds = [d2l.predict_seq2seq(net, " ".join(s), src_vocab, tgt_vocab, cfg.num_steps,
                                       device)[0] for s in source[-len(tests):]]
    train_refs = [" ".join(t) for t in target[-len(tests):]]
    return {"model": model, "seed": seed, "epochs": epochs_for(args, model), "wall": wall,
            "loss": result.loss, "train_pairs": len(source), "test_pairs": len(tests),
            "parameters": parameters,
            "heldout_bleu": d2l.corpus_bleu(preds, refs, k=2),
            "train_bleu": d2l.corpus_bleu(train_preds, train_refs, k=2),
            "kernel": cpu_kernel(), "examples": list(zip([e for e, _ in tests[:3]], preds[:3]))}


def format_heldout(r):
    return (f"{r['model']:11s} seed {r['seed']} train pairs {r['train_pairs']} epochs "
            f"{r['epochs']} wall {r['wall']:.1f} s loss {r['loss']:.3f} corpus bleu: "
            f"training pairs {r['train_bleu']:.3f} held-out {r['heldout_bleu']:.3f} "
            f"({r['test_pairs']} pairs)")


# --- speed against another implementation ------------------------------------------------

def run_against(command, model, epochs, seed):
    """Run the comparison command for one model; return its JSON line (with tokens_per_s)."""
    cmd = (command.replace("{model}", model).replace("{epochs}", str(epochs))
           .replace("{seed}", str(seed)))
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"--against command failed (exit {proc.returncode}): {cmd}\n"
                           f"{proc.stderr[-2000:]}")
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and "tokens_per_s" in r:
            return r
    raise RuntimeError(f"--against command printed no JSON line with 'tokens_per_s': {cmd}\n"
                       f"its output ended with:\n{proc.stdout[-1000:]}")


def format_ratio(model, ours, theirs):
    """The summary line of a speed comparison: mean tokens/s of both and their ratio."""
    a, b = sum(ours) / len(ours), sum(theirs) / len(theirs)
    return (f"{model:11s} ours {a:.0f} tokens/s ({', '.join(f'{x:.0f}' for x in ours)}), "
            f"theirs {b:.0f} tokens/s ({', '.join(f'{x:.0f}' for x in theirs)}): {a / b:.2f}x")


def compare(args):
    """Alternate the --against command and our own run; print both and the ratios; return the
    figures."""
    lines, table = [], {}
    for model in args.models:
        epochs = epochs_for(args, model)
        ours, theirs = [], []
        for seed in range(args.seeds):
            r = run_against(args.against, model, epochs, seed)
            theirs.append(float(r["tokens_per_s"]))
            print(f"{model:11s} seed {seed} epochs {epochs} theirs {theirs[-1]:.0f} tokens/s"
                  + (f" ({r['threads']} thread(s))" if "threads" in r else ""), flush=True)
            mine = run_in_subprocess(args, "native", model, seed, epochs)
            ours.append(mine["tokens_per_sec"])
            print(format_run(mine) + f" ({args.threads} thread(s))", flush=True)
        lines.append(format_ratio(model, ours, theirs))
        table[model] = {"epochs": epochs, "runs each": len(ours),
                        "ours tokens/s": round(sum(ours) / len(ours)),
                        "theirs tokens/s": round(sum(theirs) / len(theirs)),
                        "ratio": round(sum(ours) / sum(theirs), 2)}
    print("# tokens/s, ours vs --against, alternating runs in one sitting")
    for line in lines:
        print(line)
    return {"threads": args.threads, "summary": table}


# --- what each speed-up gains ------------------------------------------------------------

def measure_speedups(args):
    """For each model and seed: one run with every speed-up, then one without each, alternating
    in fresh processes; print and return each speed-up's share of the training time."""
    table = {}
    for model in args.models:
        epochs = epochs_for(args, model)
        runs = {name: [] for name in ["all", *SPEEDUPS]}
        for seed in range(args.seeds):
            for name in runs:
                r = run_in_subprocess(args, "native", model, seed, epochs,
                                      () if name == "all" else (name,))
                runs[name].append(r["tokens_per_sec"])
                print(f"{model:11s} seed {seed} epochs {epochs} "
                      f"{'all speed-ups' if name == 'all' else 'without ' + name:28s} "
                      f"{r['tokens_per_sec']:.0f} tokens/s loss {r['loss']:.4f}", flush=True)
        full = sum(runs["all"]) / len(runs["all"])
        for name, what in SPEEDUPS.items():
            without = sum(runs[name]) / len(runs[name])
            saved = 100 * (1 - without / full)
            table[f"{model} {name}"] = {"what": what, "tokens/s with": round(full),
                                        "tokens/s without": round(without),
                                        "training time saved %": round(saved, 1)}
            print(f"{model:11s} {name:17s} with {full:.0f} tokens/s, without {without:.0f}: "
                  f"saves {saved:.1f} % of the training time", flush=True)
    return {"threads": args.threads, "seeds": args.seeds, "summary": table}


# --- process handling ----------------------------------------------------------------------

def worker_command(args, model, seed, epochs, without=()):
    """A fresh process that trains one run: this command's options, serialized, with the one
    model, seed, epochs and switched-off speed-ups filled in."""
    job = {k: v for k, v in vars(args).items() if k not in ("argv", "run")}
    job.update(models=[model], seeds=seed, epochs=epochs, without=list(without))
    # default=str: book.py's own options (--venv, a Path) ride along; the worker ignores them
    return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job, default=str)]


def run_in_subprocess(args, kernel, model, seed, epochs, without=()):
    proc = subprocess.run(worker_command(args, model, seed, epochs, without),
                          env=common.kernel_env(kernel),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{model} seed {seed} under {KERNEL_ENV}={kernel} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


DESCRIPTION = ("Train the chapter's translators with the notebooks' settings; print speed, "
               "final loss and BLEU, over seeds and CPU kernels, or on held-out pairs.")
HELDOUT_EPOCHS = 30
MODES = {  # subcommand: (its help, whether --jobs may run several processes)
    "train": ("train each model once per seed (in this process; --jobs N: in N at a time)", True),
    "sweep": ("every seed once per CPU kernel family, each run in a fresh process", True),
    "heldout": ("corpus BLEU on unseen pairs: seq2seq (no attention), bahdanau, transformer",
                True),
    "against": ("speed ratio against another implementation, runs alternating", False),
    "speedups": ("what each speed-up of train_seq2seq saves, runs alternating", False),
}


def add_common(parser):
    """The options every subcommand takes."""
    parser.add_argument("--seeds", type=int, default=1,
                        help="train with seeds 0..SEEDS-1 and summarize (default 1)")
    parser.add_argument("--models", default=None,
                        help="comma-separated subset of: bahdanau, transformer (heldout: also "
                             "seq2seq); default all")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every model (default: each model's own; heldout: "
                             f"{HELDOUT_EPOCHS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs per model: a smoke test of the pipeline")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time, each in its own process (speed figures are then "
                             "shared-machine figures; default 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, as in the notebooks)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: d2l.try_gpu())")
    parser.add_argument("--save", metavar="NAME", default=None,
                        help="also write every figure to results/NAME.json (with the command, "
                             "date, torch version, CPU kernel and threads) for the appendix")
    parser.add_argument("--verbose", action="store_true",
                        help="also print the translations of every run")


def add_arguments(parser):
    """`bench MODE [options]`: one subcommand per kind of measurement."""
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True)
    for mode, (help_, _) in MODES.items():
        p = sub.add_parser(mode, help=help_, description=help_)
        add_common(p)
        if mode == "sweep":
            p.add_argument("--kernels", required=True,
                           help="comma-separated CPU kernel families: default, avx2, avx512, "
                                "native (PyTorch's choice)")
        if mode == "heldout":
            p.add_argument("--train-pairs", type=int, default=5000,
                           help="train on the first N pairs (default 5000)")
            p.add_argument("--test-pairs", type=int, default=500,
                           help="score on up to N unseen pairs after them (default 500)")
        if mode == "against":
            p.add_argument("against", metavar="COMMAND",
                           help="a shell command with {model}, {epochs} and {seed} that prints a "
                                "JSON line with tokens_per_s; runs alternate with ours, one per "
                                "seed")


def finish(parser, args):
    """Check the parsed options and normalise the lists (errors exit through `parser`)."""
    known = HELDOUT_MODELS if args.mode == "heldout" else RECIPES
    models = ([m.strip() for m in args.models.split(",") if m.strip()] if args.models
              else list(known))
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        parser.error(f"--models {args.models!r}: choose from {', '.join(known)}")
    for name in ("seeds", "threads", "jobs", "epochs", "train_pairs", "test_pairs"):
        if getattr(args, name, None) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: use 1 or more")
    if args.jobs > 1 and not MODES[args.mode][1]:
        parser.error(f"bench {args.mode} alternates runs one at a time: leave out --jobs")
    args.models = models
    args.without = []  # speed-ups switched off: set per run by `speedups`
    args.kernels = (common.kernel_list(args.kernels)
                    if getattr(args, "kernels", None) else None)
    if args.mode == "sweep" and not args.kernels:
        parser.error("bench sweep --kernels: name at least one kernel family")
    return args


def build_parser(prog="python tools/book.py bench", parser=None):
    parser = parser or argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = finish(parser, parser.parse_args(argv))
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def register(sub):
    """The `bench` command of tools/book.py."""
    parser = sub.add_parser("bench", help="train the translators: speed, loss, BLEU",
                            description=DESCRIPTION)
    build_parser(parser=parser)
    parser.set_defaults(run=lambda args: cli(finish(parser, args)))


def epochs_for(args, model):
    if args.epochs:
        return args.epochs
    if args.quick:
        return QUICK_EPOCHS
    return HELDOUT_EPOCHS if args.mode == "heldout" else settings(model).num_epochs


def save(args, argv, figures):
    """results/NAME.json for --save NAME: the command, its environment, the figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import results

    command = "python tools/book.py bench " + shlex.join(argv)  # quoted, so it runs as it reads
    print(f"wrote {results.write(args.save, command, figures)}")


def run_worker(job):
    """One run in this process (a worker started by `run_in_subprocess`); one JSON line."""
    load_library()
    args = argparse.Namespace(**json.loads(job))
    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    model, seed = args.models[0], args.seeds
    r = (run_heldout(model, seed, args, device) if args.mode == "heldout"
         else run(model, seed, epochs_for(args, model), device, args.without))
    print(json.dumps(r))
    return 0


def main(argv=None):
    return cli(parse_args(argv))


def cli(args):
    """`run_command`, with a missing data set reported in one line that says what to do."""
    try:
        return run_command(args)
    except Exception as e:
        if d2l is None or not isinstance(e, d2l.DataError):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


def run_command(args):
    """The benchmark `args` (parsed and checked) ask for; prints its figures, returns 0."""
    load_library()
    argv = args.argv
    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    if args.mode in ("against", "speedups"):
        figures = compare(args) if args.mode == "against" else measure_speedups(args)
        if args.save:
            save(args, argv, figures)
        return 0
    heldout = args.mode == "heldout"
    processes = bool(args.kernels) or args.jobs > 1  # --jobs alone: parallel, PyTorch's kernels
    kernels = args.kernels or (["native"] if processes else ["this process"])
    print(f"# torch {torch.__version__}, {args.threads} thread(s), device {device}, "
          f"kernels: {', '.join(kernels)}{', quick mode' if args.quick else ''}"
          + (f", {args.jobs} jobs at a time" if processes and args.jobs > 1 else ""),
          flush=True)
    jobs = [(kernel, model, seed) for model in args.models for kernel in kernels
            for seed in range(args.seeds)]
    fmt = format_heldout if heldout else (lambda r: format_run(r, bool(args.kernels)))
    runs = []

    def report(r):
        runs.append(r)
        print(fmt(r), flush=True)
        if args.verbose:
            pairs = (r["examples"] if heldout
                     else zip(d2l.TEST_ENGS, r["translations"]))
            for eng, translation in pairs:
                print(f"    {eng:12s} => {translation}", flush=True)

    if processes:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_in_subprocess, args, k, m, s, epochs_for(args, m))
                       for k, m, s in jobs]
            for future in futures:
                report(future.result())
    else:
        for _, model, seed in jobs:
            report(run_heldout(model, seed, args, device) if heldout
                   else run(model, seed, epochs_for(args, model), device))
    figures = {"device": str(device), "threads": args.threads, "jobs": args.jobs}
    if heldout:
        print(f"# held-out corpus BLEU (k=2), {runs[0]['test_pairs']} unseen pairs, "
              f"{runs[0]['train_pairs']} training pairs, {runs[0]['epochs']} epochs")
        table = {}
        for model in args.models:
            rs = [r for r in runs if r["model"] == model]
            b = [r["heldout_bleu"] for r in rs]
            table[model] = {
                "parameters": rs[0]["parameters"], "runs": len(rs),
                "held-out BLEU": round(sum(b) / len(b), 3), "min": round(min(b), 3),
                "max": round(max(b), 3),
                "training pairs BLEU": round(sum(r["train_bleu"] for r in rs) / len(rs), 3),
                "seconds per run": round(sum(r["wall"] for r in rs) / len(rs))}
            print(f"{model:11s} runs {len(rs)} held-out {sum(b) / len(b):.3f} "
                  f"({min(b):.3f}-{max(b):.3f}) training pairs "
                  f"{sum(r['train_bleu'] for r in rs) / len(rs):.3f} "
                  f"wall {sum(r['wall'] for r in rs) / len(rs):.0f} s", flush=True)
        figures.update(train_pairs=runs[0]["train_pairs"], test_pairs=runs[0]["test_pairs"],
                       epochs=runs[0]["epochs"], summary=table)
    else:
        if len(runs) > 1 and not args.kernels:
            for model in args.models:
                print(format_mean([r for r in runs if r["model"] == model]), flush=True)
        lines, table = summarize(runs)
        if len(runs) > 1:
            print(f"# seeds 0-{args.seeds - 1}; exact = the translation equals the reference")
            for line in lines:
                print(line, flush=True)
        figures.update(seeds=args.seeds, summary=table)
    if args.save:
        figures["runs"] = [{k: v for k, v in r.items() if k != "examples"} for r in runs]
        save(args, argv, figures)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(run_worker(sys.argv[2]))
    sys.exit(main())
