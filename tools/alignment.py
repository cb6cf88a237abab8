"""10.4's alignment demonstration over seeds and CPU kernels: does attention align, and where
does the model without attention break?

    python tools/book.py sweep alignment --seeds 5 --kernels default,avx2 --jobs 2 --save alignment
    python tools/book.py sweep alignment --seeds 5 --models bidirectional --merge alignment
    python tools/book.py sweep alignment --quick          # 1 seed, 2 epochs: a smoke test

Each run trains, from one seed, the Bahdanau model and the model without attention on the
made-up reordering task of `d2l_attention.explore.bahdanau_attention` with the notebook's
settings (`ALIGNMENT_CONFIG`), and the Bahdanau model with a bidirectional encoder (the paper's
encoder; `bidirectional`), and measures on the test sentences: the share translated word for
word, by source length, and for the Bahdanau model the share of content words whose largest
attention weight falls on the source word they translate, and where it falls instead (offsets),
and, with the reference fed in, each word class's accuracy with all keys and with the keys after
the translated word hidden. `--kernels` runs each seed in a fresh process under
ATEN_CPU_CAPABILITY=KERNEL (`native`: PyTorch's choice), as `tools/bench.py` does.
`--save NAME` writes results/NAME.json, which 10.4 draws; `--merge NAME` adds the `--models`
trained now to the runs of results/NAME.json with the same seed and kernel and rewrites it.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import shlex
import subprocess
import sys
from pathlib import Path

import common  # the same folder (a worker runs this file: its folder is on sys.path)
from common import KERNEL_ENV


def worker(seed, quick, threads, models):
    import torch

    from d2l_attention.explore import bahdanau_attention as ba

    torch.set_num_threads(threads)
    config = ba.ALIGNMENT_CONFIG
    if quick:
        config = dataclasses.replace(config, num_epochs=2, train_pairs=200, test_pairs=50)
    out = ba.train_pair(config, seed, models=models)
    out.update(seed=seed, kernel=torch.backends.cpu.get_cpu_capability(),
               epochs=config.num_epochs)
    return out


def run_in_subprocess(seed, kernel, args):
    env = common.kernel_env(kernel)
    cmd = [sys.executable, __file__, "--worker", str(seed), "--threads", str(args.threads),
           "--models", args.models]
    proc = subprocess.run(cmd + (["--quick"] if args.quick else []), env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"seed {seed} under {KERNEL_ENV}={kernel} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def offset_shares(offsets, lo=-3, hi=3):
    """{d: share of content words whose largest weight lies d words from the aligned one} for
    d in lo..hi, from evaluate's `offsets` (JSON keys are strings)."""
    offsets = {int(d): n for d, n in offsets.items()}
    total = max(sum(offsets.values()), 1)
    return {d: offsets.get(d, 0) / total for d in range(lo, hi + 1)}


def summarize(runs):
    """Min and max over the runs of every figure the notebook quotes."""
    def span(values):
        return {"min": round(min(values), 3), "max": round(max(values), 3)}

    lengths = sorted({int(n) for r in runs for n in r["bahdanau"]["by_length"]})
    summary = {
        "runs": len(runs),
        "bahdanau aligned (content words)": span([r["bahdanau"]["aligned"] for r in runs]),
        "bahdanau aligned (all words)": span([r["bahdanau"]["aligned_all"] for r in runs]),
        "bahdanau exact": span([r["bahdanau"]["exact"] for r in runs]),
        "seq2seq exact": span([r["seq2seq"]["exact"] for r in runs]),
        "exact by source length": {
            str(n): {m: span([r[m]["by_length"][str(n)] for r in runs
                              if str(n) in r[m]["by_length"]])
                     for m in ("bahdanau", "seq2seq")} for n in lengths},
    }
    for model in ("bahdanau", "bidirectional"):
        have = [r[model] for r in runs if model in r]
        if have:
            shares = [offset_shares(m["offsets"]) for m in have]
            summary[f"{model} offsets (content words)"] = {
                str(d): span([s[d] for s in shares]) for d in shares[0]}
        if have and all("by_class" in m for m in have):  # accuracy by word class, keys hidden
            summary[f"{model} accuracy by class"] = {
                keys: {c: span([m["by_class"][keys][c] for m in have])
                       for c in have[0]["by_class"][keys]} for keys in have[0]["by_class"]}
    if all("bidirectional" in r for r in runs):
        summary["bidirectional exact"] = span([r["bidirectional"]["exact"] for r in runs])
        summary["bidirectional aligned (content words)"] = span(
            [r["bidirectional"]["aligned"] for r in runs])
    return summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python tools/book.py sweep alignment",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..SEEDS-1 (default 1)")
    parser.add_argument("--kernels", default="native",
                        help="comma-separated CPU kernels: default, avx2, avx512, native")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--quick", action="store_true", help="2 epochs on 200 pairs: a smoke test")
    parser.add_argument("--models", default="bahdanau,seq2seq,bidirectional",
                        help="comma-separated: bahdanau, seq2seq, bidirectional (default all)")
    parser.add_argument("--save", metavar="NAME", help="also write results/NAME.json")
    parser.add_argument("--merge", metavar="NAME",
                        help="add these models to results/NAME.json's runs (same seed, kernel)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        print(json.dumps(worker(args.worker, args.quick, args.threads,
                                tuple(args.models.split(",")))))
        return 0
    kernels = common.kernel_list(args.kernels)
    jobs = [(seed, kernel) for kernel in kernels for seed in range(args.seeds)]
    runs = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for r in pool.map(lambda job: run_in_subprocess(*job, args), jobs):
            runs.append(r)
            print(f"seed {r['seed']} {r['kernel']:7s} " + " | ".join(
                f"{m} exact {r[m]['exact']:.3f}"
                + (f" aligned {r[m]['aligned']:.3f}" if "aligned" in r[m] else "")
                for m in ("bahdanau", "seq2seq", "bidirectional") if m in r), flush=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import results

    command = shlex.join(["python", "tools/book.py", "sweep", "alignment", *argv])
    if args.merge:
        path = Path(__file__).resolve().parent.parent / "results" / f"{args.merge}.json"
        record = json.loads(path.read_text(encoding="utf-8"))
        old_runs = record["figures"]["runs"]
        for r in runs:
            match = [o for o in old_runs if (o["seed"], o["kernel"]) == (r["seed"], r["kernel"])]
            if not match:
                raise SystemExit(f"--merge: no run with seed {r['seed']} and kernel "
                                 f"{r['kernel']} in {path}")
            match[0].update({m: r[m] for m in args.models.split(",")})
        runs, command = old_runs, record["command"] + " && " + command
        args.save = args.merge
    summary = summarize(runs)
    print(json.dumps(summary, indent=1))
    if args.save:
        print(f"wrote {results.write(args.save, command, {'summary': summary, 'runs': runs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
