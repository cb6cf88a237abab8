"""Seed sweep for 10.5's real-text demo: do the claims about the 1- and 4-head "guess the
hidden word" models hold on other seeds and CPU kernels?

    D2L_DATA_DIR=... ATEN_CPU_CAPABILITY=default nice python tools/sweep_cloze.py --seeds 5 \
        --out results/sweep-cloze.json

Data, model and training are the library's (`d2l_attention.explore.multihead_attention`:
`cloze_data`, `train_cloze`, `head_offsets`), the same calls the notebook makes, with the
training seed varied (the data split stays that of the page). With --out an existing file, the
run is added under its kernel name (ATEN_CPU_CAPABILITY) next to the runs already there.
"""
import argparse
import json
import sys
from pathlib import Path

import results  # the same folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from d2l_attention.explore import multihead_attention as explore  # noqa: E402

OFFSETS = (-2, -1, 1, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to add this kernel's run to")
    args = ap.parse_args()
    data = explore.cloze_data()
    runs = []
    for seed in range(args.seeds):
        acc = {}
        for h in (1, 4):
            net = explore.train_cloze(data, num_heads=h, seed=seed)
            acc[h] = round(explore.cloze_accuracy(net, data), 4)
        shares, first = explore.head_offsets(net, data, OFFSETS)  # the 4-head net
        runs.append({"seed": seed, "accuracy_1_head": acc[1], "accuracy_4_heads": acc[4],
                     "share_by_offset_per_head": {str(k): [round(x, 3) for x in
                                                           shares[:, j].tolist()]
                                                  for j, k in enumerate(OFFSETS)},
                     "share_first_word_per_head": [round(x, 3) for x in first.tolist()]})
        print(json.dumps(runs[-1]))
    best = {k: [max(r["share_by_offset_per_head"][k]) for r in runs] for k in ("-1", "1")}
    summary = {
        "accuracy_gain_4_over_1_range": [round(min(r["accuracy_4_heads"] - r["accuracy_1_head"]
                                                   for r in runs), 4),
                                         round(max(r["accuracy_4_heads"] - r["accuracy_1_head"]
                                                   for r in runs), 4)],
        "best_head_share_word_before_range": [min(best["-1"]), max(best["-1"])],
        "best_head_share_word_after_range": [min(best["1"]), max(best["1"])],
        "before_and_after_are_different_heads": all(
            max(range(4), key=lambda r: run["share_by_offset_per_head"]["-1"][r])
            != max(range(4), key=lambda r: run["share_by_offset_per_head"]["1"][r])
            for run in runs)}
    kernel = results.kernel_name()
    print(kernel, json.dumps(summary))
    if args.out:
        results.add_kernel_run(args.out, about=(
            "10.5 guess-the-hidden-word demo (tools/sweep_cloze.py): 1- and 4-head "
            "ClozeNet, 400 Adam steps, accuracy on 2000 test sentences; per CPU kernel"),
            summary=summary, runs=runs)


if __name__ == "__main__":
    main()
