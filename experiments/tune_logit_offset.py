"""Choose a test-time logit offset for one class on held-out training groups (issue 12).

    python experiments/tune_logit_offset.py --dataset acdc --holdout 8 --class Myo \\
        --variants ss-bias0.1-sw1-gcrf0.3 ss-bias0.1-sw1-gcrf0.3-control --offsets 0 -0.5 -1 -1.5 -2 -3
    python experiments/tune_logit_offset.py --dataset acdc --holdout 8 --class RV --fixed Myo=-1.5 \\
        --variants ss-bias0.1-sw1-gcrf0.3 --offsets 0 0.5 1 -0.5 -1
    python experiments/tune_logit_offset.py --dataset camvid --holdout 40 --class Building --then Car Pavement \\
        --variants ss-sw1-gcrf0.01 --offsets 0 0.5 1 1.5 2 -0.5 -1

Networks trained on graph-cut pseudo labels inherit their biases: on ACDC the myocardium the cut makes too thick
(the shrinking bias) comes out of the network thicker still, eating into the LV cavity. Adding a constant to that
class's logit before the softmax (post-hoc logit adjustment; ``scribblesup evaluate|predict --logit-offset``)
undoes it without retraining. Each ``--variants`` name is a run of ``tune_on_holdout.py`` with the same
``--holdout`` (trained without the held-out groups; its final round is scored on them, last checkpoint), so the
offset is chosen on training patients' ground truth, never on the split whose score is reported. A call rewrites
its variants' rows of the table and keeps the other variants' from earlier calls. ``--fixed`` holds
other classes' offsets (chosen before) in place while one more class is tuned: offsets are chosen one class at a
time, coordinate-wise; ``--then`` goes on in one call, class after class, each with the best offsets so far held
(one table per class, as if each had been its own call). Each evaluation is cached in the run folder (``eval_holdout_last_offset<class><value>...json``).
Writes experiments/results/logit_offset_<data>_<schedule>_<class>[_offset<fixed class><value>...].md and .csv.
"""

from __future__ import annotations

import argparse
import json

from common import (RESULTS, add_class_args, add_dataset_args, class_scores, evaluation, held_values, load_config,
                    per_class, read_records, tag, write_table)
from scribblesup.inference import format_logit_offset
from scribblesup.runs import RunDir, offset_tag


def final_round(run: str) -> RunDir:
    """The folder scored for a run of tune_on_holdout.py: a pipeline's final round, or the training run itself."""
    top = RunDir(run)
    if top.rounds_csv.is_file():
        return top.round(load_config(top.config).pipeline.rounds)
    return top


def write_results(args, fixed: dict, rows: list[dict]):
    """The offset table of ``args.name`` (with ``fixed`` held): this call's rows for ``args.variants`` and, kept from
    earlier calls, the other variants' rows (their runs may be gone from this machine)."""
    t = tag(args.dataset, args.schedule)
    score_name = "mean Dice" if args.dataset == "acdc" else "mIoU"
    with_fixed = f", with {format_logit_offset(fixed)} held" if fixed else ""
    name = f"logit_offset_{t}_{args.name}{offset_tag(fixed)}"
    earlier = read_records(RESULTS / f"{name}.csv", text=("variant", "fixed", "per_class", "best", "run"))
    rows = [r for r in earlier if r["variant"] not in args.variants] + rows
    return write_table(
        name, f"Test-time logit offset of {args.name}{with_fixed} on {args.holdout} held-out training groups, "
        f"{args.dataset} ({t})", rows,
        [("variant", "variant", ""), (f"{args.name} offset", "offset", "g"), ("other offsets", "fixed", ""),
         (f"{score_name} (holdout)", "score", ".4f"), ("mIoU", "miou", ".4f"), ("per class", "per_class", ""),
         ("", "best", ""), ("run", "run", "")],
        notes=["Each variant's network (tune_on_holdout.py: trained without the held-out groups; ScribbleSup: "
               "its final round, last checkpoint) scored on the held-out groups' ground truth with the offset "
               "added to the class's logit before the softmax; the reported split is never used here."])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--holdout", type=int, required=True, help="the held-out groups of the tune_on_holdout.py runs")
    add_class_args(ap, "logit offset")
    ap.add_argument("--variants", nargs="+", required=True, help="variant names of tune_on_holdout.py runs")
    ap.add_argument("--offsets", nargs="+", type=float, default=[0, -0.5, -1, -1.5, -2, -3])
    ap.add_argument("--then", nargs="+", default=[], metavar="CLASS",
                    help="more classes, tuned one after another with the best offsets so far held (one variant; "
                         "one table per class, named with what it held)")
    args = ap.parse_args()
    fixed = held_values(ap, args, "logit offset", args.offsets)
    if args.then and len(args.variants) > 1:
        ap.error("--then tunes one variant's offsets class after class: give one --variants name")
    t = tag(args.dataset, args.schedule)
    holdout = RESULTS / f"holdout_{t}.json"
    done = json.loads(holdout.read_text()) if holdout.is_file() else {}
    runs = {r["variant"]: r["run"] for r in done.values() if r["holdout"] == args.holdout}
    missing = [v for v in args.variants if v not in runs]
    if missing:
        ap.error(f"{holdout}: no run of variant {', '.join(missing)} with --holdout {args.holdout} "
                 "(run it with tune_on_holdout.py first)")
    absent = [runs[v] for v in args.variants if not RunDir(runs[v]).config.is_file()]
    if absent:
        ap.error(f"{', '.join(absent)}: not on this machine (run folders stay where they trained)")
    tune_classes(args, fixed, runs)


def tune_classes(args, fixed: dict, runs: dict) -> dict:
    """``--class`` and then each of ``--then``, coordinate-wise: each class with ``fixed`` and the best offsets of
    the classes before it held. Returns ``{class: best offset}`` (of the first variant)."""
    chosen = {}
    for name in [args.name, *args.then]:
        chosen[name] = tune_class(argparse.Namespace(**{**vars(args), "name": name}), {**fixed, **chosen}, runs)
    return chosen


def tune_class(args, fixed: dict, runs: dict) -> float:
    """Score every offset of ``args.offsets`` for class ``args.name`` (``fixed`` held) on each variant's network,
    write the class's table, and return the best offset of the first variant."""
    rows, bests = [], []
    for variant in args.variants:
        scored = final_round(runs[variant])
        mine = []
        for offset in args.offsets:
            offsets = {**fixed, args.name: offset}
            ev = evaluation(scored.path, split="holdout", logit_offset={k: v for k, v in offsets.items() if v} or None)
            mine.append({"variant": variant, "offset": offset, "fixed": format_logit_offset(fixed),
                         "score": ev["score"], "miou": ev["confusion"]["miou"],
                         "per_class": per_class(class_scores(ev)), "run": str(scored.path)})
        best = max(mine, key=lambda r: r["score"])
        for r in mine:
            r["best"] = "best" if r is best else ""
        rows += mine
        bests.append(best["offset"])
        print(f"{variant}: best {args.name} offset {best['offset']:g} ({best['score']:.4f})", flush=True)
    write_results(args, fixed, rows)
    return bests[0]


if __name__ == "__main__":
    main()
