"""Seed sweep for 10.5's neighbour task: do the claims about the trained 1/2/4-head models hold
on other seeds and CPU kernels?

    python tools/book.py sweep heads --kernels default,avx2 --seeds 5 --out results/sweep-heads.json

The task, model and training loop are executed from the notebook's own training cell
(notebooks/py/10.5-multihead-attention.py, the cell that defines `train_neighbour`), so the sweep
trains exactly what the page trains. With --out an existing file, the run is added under its
kernel name (ATEN_CPU_CAPABILITY) next to the runs already there.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import torch

import results  # the same folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import d2l_attention as d2l  # noqa: E402
from d2l_attention.explore import multihead_attention as explore  # noqa: E402


def training_cell():
    """Source of the notebook cell that defines the neighbour task and `train_neighbour`."""
    text = (ROOT / "notebooks" / "py" / "10.5-multihead-attention.py").read_text()
    for cell in re.split(r"^# %%.*$", text, flags=re.M):
        if "def train_neighbour" in cell:
            return cell.split("torch.set_num_threads")[0]
    raise SystemExit("no cell defines train_neighbour")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python tools/book.py sweep heads",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to add this kernel's run to")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ns = {"torch": torch, "nn": torch.nn, "d2l": d2l, "MultiHeadAttention": d2l.MultiHeadAttention}
    exec(training_cell(), ns)
    n = ns["n_pos"]
    test_inputs, test_target = ns["neighbour_batch"](1024, torch.Generator().manual_seed(2))
    target = torch.roll(torch.eye(n), 1, dims=1) - torch.roll(torch.eye(n), -1, dims=1)
    i = torch.arange(n)
    runs = []
    for seed in range(args.seeds):
        for h in (1, 2, 4):
            net = ns["train_neighbour"](h, seed=seed)
            with torch.no_grad():
                mse = ((net(test_inputs) - test_target) ** 2).mean().item()
                net(test_inputs[:1])
                w = net.mha.attention.attention_weights[:h]
            coef = explore.value_coefficients(net, n)
            offsets = [sorted(set(((w[r].argmax(-1) - i) % n).tolist())) for r in range(h)]
            runs.append({
                "seed": seed, "heads": h, "test_mse": round(mse, 4),
                "largest_weight": [round(w.max(-1).values.min().item(), 3),
                                   round(w.max(-1).values.max().item(), 3)],
                "argmax_offsets_per_head": offsets,
                "head_factors_c": [round(x, 2) for x in explore.head_factors(net).tolist()],
                "max_coefficient_error": round((coef - target).abs().max().item(), 4)})
            print(json.dumps(runs[-1]))
    kernel = results.kernel_name()
    summary = {
        "one_head_mse_range": [min(r["test_mse"] for r in runs if r["heads"] == 1),
                               max(r["test_mse"] for r in runs if r["heads"] == 1)],
        "two_four_heads_max_mse": max(r["test_mse"] for r in runs if r["heads"] > 1),
        "two_heads_split_i+1_i-1": all(
            sorted(map(tuple, r["argmax_offsets_per_head"])) == [(1,), (n - 1,)]
            for r in runs if r["heads"] == 2),
        "two_heads_largest_weight_max": max(r["largest_weight"][1]
                                            for r in runs if r["heads"] == 2)}
    print(kernel, json.dumps(summary))
    if args.out:
        results.add_kernel_run(args.out, about=(
            "10.5 neighbour task (python tools/book.py sweep heads): 1/2/4-head models, "
            "300 Adam steps, test MSE on 1024 fresh sequences; per CPU kernel"),
            summary=summary, runs=runs)


if __name__ == "__main__":
    main()
