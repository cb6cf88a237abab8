"""10.4's alignment demonstration over seeds and CPU kernels: does attention align, and where
does the model without attention break?

    python tools/alignment.py --seeds 5 --kernels default,avx2 --save alignment
    python tools/alignment.py --quick                      # 1 seed, 2 epochs: a smoke test

Each run trains, from one seed, the Bahdanau model and the model without attention on the
made-up reordering task of `d2l_attention.explore.bahdanau_attention` with the notebook's
settings (`ALIGNMENT_CONFIG`), and measures on the test sentences: the share translated word for
word, by source length, and for the Bahdanau model the share of content words whose largest
attention weight falls on the source word they translate. `--kernels` runs each seed in a fresh
process under ATEN_CPU_CAPABILITY=KERNEL (`native`: PyTorch's choice), as `tools/bench.py` does.
`--save NAME` writes results/NAME.json, which 10.4 draws.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

KERNEL_ENV = "ATEN_CPU_CAPABILITY"


def worker(seed, quick, threads):
    import torch

    from d2l_attention.explore import bahdanau_attention as ba

    torch.set_num_threads(threads)
    config = ba.ALIGNMENT_CONFIG
    if quick:
        config = dataclasses.replace(config, num_epochs=2, train_pairs=200, test_pairs=50)
    out = ba.train_pair(config, seed)
    out.update(seed=seed, kernel=torch.backends.cpu.get_cpu_capability(),
               epochs=config.num_epochs)
    return out


def run_in_subprocess(seed, kernel, args):
    env = dict(os.environ)
    env.pop(KERNEL_ENV, None)
    if kernel != "native":
        env[KERNEL_ENV] = kernel
    cmd = [sys.executable, __file__, "--worker", str(seed), "--threads", str(args.threads)]
    proc = subprocess.run(cmd + (["--quick"] if args.quick else []), env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"seed {seed} under {KERNEL_ENV}={kernel} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(runs):
    """Min and max over the runs of every figure the notebook quotes."""
    def span(values):
        return {"min": round(min(values), 3), "max": round(max(values), 3)}

    lengths = sorted({int(n) for r in runs for n in r["bahdanau"]["by_length"]})
    return {
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python tools/alignment.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..SEEDS-1 (default 1)")
    parser.add_argument("--kernels", default="native",
                        help="comma-separated CPU kernels: default, avx2, avx512, native")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--quick", action="store_true", help="2 epochs on 200 pairs: a smoke test")
    parser.add_argument("--save", metavar="NAME", help="also write results/NAME.json")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        print(json.dumps(worker(args.worker, args.quick, args.threads)))
        return 0
    kernels = [k.strip().lower() for k in args.kernels.split(",") if k.strip()]
    jobs = [(seed, kernel) for kernel in kernels for seed in range(args.seeds)]
    runs = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for r in pool.map(lambda job: run_in_subprocess(*job, args), jobs):
            runs.append(r)
            b, s = r["bahdanau"], r["seq2seq"]
            print(f"seed {r['seed']} {r['kernel']:7s} bahdanau exact {b['exact']:.3f} aligned "
                  f"{b['aligned']:.3f} (all words {b['aligned_all']:.3f}) | no attention exact "
                  f"{s['exact']:.3f}", flush=True)
    summary = summarize(runs)
    print(json.dumps(summary, indent=1))
    if args.save:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import results

        command = "python tools/alignment.py " + shlex.join(argv)
        print(f"wrote {results.write(args.save, command, {'summary': summary, 'runs': runs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
