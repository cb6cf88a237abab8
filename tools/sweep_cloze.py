"""Seed sweep for 10.5's real-text demo: do the claims about the 1- and 4-head "guess the
hidden word" models hold on other seeds and CPU kernels?

    python tools/book.py sweep cloze --kernels default,avx2 --seeds 5 --out results/sweep-cloze.json

Data, model and training are the library's (`d2l_attention.explore.multihead_attention`:
`cloze_data`, `train_cloze`, `head_offsets`, `head_ablation`), the same calls the notebook makes
(the ablation: its check cell), with the training seed varied (the data split stays that of the
page). With --out an existing file, the
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


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python tools/book.py sweep cloze",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to add this kernel's run to")
    args = ap.parse_args(argv)
    data = explore.cloze_data()
    runs = []
    for seed in range(args.seeds):
        acc = {}
        for h in (1, 4):
            net = explore.train_cloze(data, num_heads=h, seed=seed)
            acc[h] = round(explore.cloze_accuracy(net, data), 4)
        shares, first = explore.head_offsets(net, data, OFFSETS)  # the 4-head net
        lost = explore.head_ablation(net, data)  # {head: {offset: (change, standard error)}}
        after, before = shares[:, 2].argmax().item(), shares[:, 1].argmax().item()
        runs.append({"seed": seed, "accuracy_1_head": acc[1], "accuracy_4_heads": acc[4],
                     "share_by_offset_per_head": {str(k): [round(x, 3) for x in
                                                           shares[:, j].tolist()]
                                                  for j, k in enumerate(OFFSETS)},
                     "share_first_word_per_head": [round(x, 3) for x in first.tolist()],
                     "ablation_change_by_offset_per_head": {
                         str(k): [[None if x != x else round(x, 4) for x in lost[r][k]]
                                  for r in range(4)]  # None: no sentence in that group
                         for k in (-1, 1, 0)},
                     "next_word_head": after, "previous_word_head": before,
                     "next_word_head_costs_more_after": lost[after][1][0] < lost[after][-1][0],
                     "previous_word_head_costs_more_before":
                         lost[before][-1][0] < lost[before][1][0]})
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
            for run in runs),
        "ablation: next-word head costs more after than before (runs)": sum(
            r["next_word_head_costs_more_after"] for r in runs),
        "ablation: previous-word head costs more before than after (runs)": sum(
            r["previous_word_head_costs_more_before"] for r in runs),
        "ablation: next-word head, change where it reads the word after (range)": [
            f(r["ablation_change_by_offset_per_head"]["1"][r["next_word_head"]][0] for r in runs)
            for f in (min, max)]}
    kernel = results.kernel_name()
    print(kernel, json.dumps(summary))
    if args.out:
        results.add_kernel_run(args.out, about=(
            "10.5 guess-the-hidden-word demo (python tools/book.py sweep cloze): 1- and 4-head "
            "ClozeNet, 400 Adam steps, accuracy on 2000 test sentences; per CPU kernel"),
            summary=summary, runs=runs)


if __name__ == "__main__":
    main()
