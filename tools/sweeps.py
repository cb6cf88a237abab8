"""The seed (and CPU-kernel) sweeps behind the trained-model claims that notebooks check against
results/: `python tools/book.py sweep NAME [ARGS ...]` (`sweep NAME --help` for its ARGS).

    alignment  10.4: alignment share, exactness by length, key hiding     (tools/alignment.py)
    longer     10.4: the model without attention trained 60 epochs, with checkpoints
               (d2l_attention.explore.bahdanau_attention.longer_sweep)
    heads      10.5: the neighbour task's 1-, 2- and 4-head models       (tools/sweep_heads.py)
    cloze      10.5: guess the hidden word: accuracy, offsets, ablation  (tools/sweep_cloze.py)
    positions  10.6: the reversal task with each positional encoding
               (d2l_attention.explore.self_attention.write_sweep)
    learned    10.1: the attention matrix one trained 10.4 model gives one sentence
               (d2l_attention.explore.attention_cues.learned_alignment)

`alignment` runs each seed under each of its `--kernels` in a fresh process itself, `longer` each
seed in a fresh process under the kernel it is given. The others
measure under this process's CPU kernel and add that kernel's runs to their file; given
`--kernels default,avx2`, this command runs them once per kernel, each in a fresh process
with ATEN_CPU_CAPABILITY=KERNEL (a process cannot change its kernel).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import KERNEL_ENV, ROOT, kernel_env, kernel_list

SWEEPS = {
    "alignment": "10.4: alignment share, exactness by length, key hiding (seeds x kernels)",
    "longer": "10.4: the model without attention trained longer, with checkpoints (seeds)",
    "heads": "10.5: the neighbour task's 1-, 2- and 4-head models (seeds)",
    "cloze": "10.5: guess the hidden word: accuracy, head offsets, head ablation (seeds)",
    "positions": "10.6: the reversal task with each positional encoding (seeds)",
    "learned": "10.1: the attention matrix of one trained 10.4 model on one sentence (one seed)",
}


def positions(argv):
    """10.6's sweep: write_sweep under this process's kernel."""
    parser = argparse.ArgumentParser(prog="python tools/book.py sweep positions",
                                     description=SWEEPS["positions"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--out", default=str(ROOT / "results" / "sweep-positions.json"),
                        help="JSON file to add this kernel's runs to")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from d2l_attention.explore import self_attention

    self_attention.write_sweep(args.out, range(args.seeds))
    return 0


def longer(argv):
    """10.4's longer training of the model without attention, one process per seed."""
    import shlex

    parser = argparse.ArgumentParser(prog="python tools/book.py sweep longer",
                                     description=SWEEPS["longer"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--checkpoints", default="15,30,45", help="epochs to measure at too")
    parser.add_argument("--jobs", type=int, default=3, help="seeds at a time")
    parser.add_argument("--save", metavar="NAME", help="also write results/NAME.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import results
    from d2l_attention.explore import bahdanau_attention

    figures = bahdanau_attention.longer_sweep(
        range(args.seeds), args.epochs, tuple(int(c) for c in args.checkpoints.split(",")),
        args.jobs)
    bahdanau_attention.print_longer(figures)
    if args.save:
        command = shlex.join(["python", "tools/book.py", "sweep", "longer", *argv])
        print("wrote", results.write(args.save, command, figures))
    return 0


def learned(argv):
    """10.1's learned attention matrix, on one thread, into results/learned-alignment.json."""
    import shlex

    parser = argparse.ArgumentParser(prog="python tools/book.py sweep learned",
                                     description=SWEEPS["learned"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    import results
    from d2l_attention.explore import attention_cues

    torch.set_num_threads(1)
    translation, weights = attention_cues.learned_alignment(train=True, seed=args.seed)
    figures = {"source": attention_cues.LEARNED_SOURCE, "seed": args.seed,
               "translation": translation,
               "weights": [[round(w, 2) for w in row] for row in weights.tolist()]}
    print(" ".join(translation))
    command = shlex.join(["python", "tools/book.py", "sweep", "learned", *argv])
    print("wrote", results.write("learned-alignment", command, figures))
    return 0


def module_main(name):
    """The sweep's `main(argv)`, imported when it runs (they import torch)."""
    if name in LOCAL:
        return LOCAL[name]
    import importlib

    return importlib.import_module({"alignment": "alignment", "heads": "sweep_heads",
                                    "cloze": "sweep_cloze"}[name]).main


# the sweeps defined in this file
LOCAL = {"positions": positions, "longer": longer, "learned": learned}


def run(args) -> int:
    rest = list(args.args)
    if args.name not in ("alignment", "longer"):  # one kernel per process: --kernels handled here
        pick = argparse.ArgumentParser(add_help=False)
        pick.add_argument("--kernels", default=None)
        known, rest = pick.parse_known_args(rest)
        if known.kernels:
            for kernel in kernel_list(known.kernels):
                print(f"== sweep {args.name} under {KERNEL_ENV}={kernel}", flush=True)
                subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "sweep",
                                args.name, *rest], env=kernel_env(kernel), check=True)
            return 0
    return module_main(args.name)(rest) or 0


def register(sub) -> None:
    """The `sweep` command of tools/book.py."""
    p = sub.add_parser("sweep", help="the seed x CPU-kernel sweeps behind notebook claims",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=SWEEPS, help="which sweep")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="its arguments (--kernels default,avx2 for every sweep; NAME --help)")
    p.set_defaults(run=run)
