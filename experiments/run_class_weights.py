"""Class-weighted cross-entropy on CamVid (or ACDC): each recipe with and without class weights, over seeds.

    python experiments/run_class_weights.py --dataset camvid --seeds 0 1 2
    python experiments/run_class_weights.py --dataset camvid --seeds 0 1 2 --recipes unet_full scribblesup
    python experiments/run_class_weights.py --dataset camvid --seeds 0 1 2 --recipes unet_full scribblesup --table-only

Recipes are the `cpu` (or ``--schedule``) configs ``<recipe>_<data>_<schedule>.yaml``; the weighted variant adds
``train.class_weights=<--weighting>`` (default median_frequency), counted on what each run trains on (dense labels,
scribbles, or each round's pseudo labels). The variant the config already has is named by the config (seed 0: the
committed configs' runs, shared with the main table), the other ``<stem>_<weighting>`` (``_none`` when the config
weights); other seeds add ``_seed<s>``. Writes experiments/results/class_weights_<data>_<schedule>.md and .csv
(mean +- std over seeds, per-class IoU means; the CSV has one row per run).
"""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np

from common import (RESULTS, add_dataset_args, config_path, evaluation, mean_std, piped, read_records, seeded, tag,
                    trained, write_table)
from scribblesup.config import config_differences, load_config
from scribblesup.io import atomic_path
from scribblesup.runs import RunDir


def final_run(recipe: str, config, train: bool = True) -> RunDir | None:
    """The run whose last checkpoint is scored: trained or resumed first unless ``train`` is False; then None when
    the run is unfinished or its folder holds a run of another config (e.g. made before a config's default changed)."""
    if not train:
        top = RunDir(config.run_dir())
        run = top.round(config.pipeline.rounds) if recipe == "scribblesup" else top
        if not run.evaluation(config.data.val_split, "last").is_file():
            return None
        changed = [k for k in config_differences(load_config(top.config), config) if k != "name"]
        if changed:
            print(f"{top.path}: made with another config ({', '.join(changed)}); not scored", flush=True)
            return None
        return run
    if recipe == "scribblesup":
        return RunDir(piped(config)).round(config.pipeline.rounds)
    return RunDir(trained(config))


def merged(t: str, per_run: list[dict]) -> list[dict]:
    """``per_run`` plus the rows of the committed per-run CSV for runs this call did not score (other seeds or
    recipes), so a call over some seeds never drops the others from the table."""
    done = {(r["recipe"], r["weighting"], r["seed"]) for r in per_run}
    old = read_records(RESULTS / f"class_weights_{t}_runs.csv", text=("recipe", "weighting", "score_name", "run"),
                       integers=("seed",))
    rows = [r for r in old if (r["recipe"], r["weighting"], r["seed"]) not in done] + per_run
    order = {"unet_full": 0, "unet_pce": 1, "scribblesup": 2}
    return sorted(rows, key=lambda r: (order.get(r["recipe"], 3), r["recipe"], r["weighting"] != "none", r["seed"]))


def write_results(t: str, args, per_run: list[dict]) -> None:
    """The table (mean +- std over the seeds done so far, per recipe and weighting) and the per-run CSV."""
    per_run = merged(t, per_run)
    names = [k[4:] for k in per_run[0] if k.startswith("iou_")]
    rows = []
    for recipe in dict.fromkeys(r["recipe"] for r in per_run):
        for weighting in ("none", args.weighting):
            runs = [r for r in per_run if r["recipe"] == recipe and r["weighting"] == weighting]
            if not runs:
                continue
            row = {"recipe": recipe, "weighting": weighting, "seeds": " ".join(str(r["seed"]) for r in runs),
                   "score": mean_std([r["score"] for r in runs]), "miou": mean_std([r["miou"] for r in runs])}
            for n in names:
                vals = [r[f"iou_{n}"] for r in runs if r[f"iou_{n}"] is not None]
                row[n] = float(np.mean(vals)) if vals else None
            rows.append(row)
    score_name = per_run[0]["score_name"]
    columns = [("recipe", "recipe", ""), ("class weights", "weighting", ""), ("seeds", "seeds", ""),
               (f"{score_name} (mean +- std)", "score", "")]
    if score_name != "mIoU":
        columns.append(("mIoU", "miou", ""))
    columns += [(n, n, ".3f") for n in names]
    write_table(f"class_weights_{t}", f"Class-weighted cross-entropy, {args.dataset} ({t})", rows, columns,
                notes=["Validation scores of the last checkpoint (ScribbleSup: of the last round); per-class "
                       "columns are IoU means over the seeds listed. Weights from what each run trains on "
                       "(`class_weights.json` in each run folder; for ScribbleSup each round's pseudo labels). "
                       "Per-run values: the CSV ending in `_runs`.",
                       "Since 2026-11-26 median-frequency weights are the CamVid configs' default (they won for both "
                       "recipes on every seed); the unweighted runs are the `_none` ones."])
    with atomic_path(RESULTS / f"class_weights_{t}_runs.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, list(per_run[0]))
        w.writeheader()
        w.writerows(per_run)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipes", nargs="+", default=["unet_full"], help="unet_full, unet_pce, scribblesup")
    ap.add_argument("--weighting", default="median_frequency")
    ap.add_argument("--table-only", action="store_true",
                    help="train nothing: the table of the runs already finished and scored")
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule)
    per_run = []
    # recipe-major, then seed: every finished pair (with and without weights) rewrites the table, so a killed
    # call leaves a table of complete pairs behind and the next call resumes the unfinished run
    for recipe in args.recipes:
        path = config_path(recipe, args.dataset, args.schedule)
        default = str(load_config(path).train.class_weights)
        for seed in args.seeds:
            for weighting in ("none", args.weighting):
                suffix = "" if weighting == default else f"_{weighting}"
                config = seeded(path, seed, [f"train.class_weights={weighting}"], suffix)
                run = final_run(recipe, config, train=not args.table_only)
                if run is None:
                    continue
                ev = evaluation(run.path)
                per_run.append({"recipe": recipe, "weighting": weighting, "seed": seed, "score": ev["score"],
                                "score_name": ev["score_name"], "miou": ev["confusion"]["miou"],
                                **{f"iou_{k}": v for k, v in ev["confusion"]["per_class_iou"].items()},
                                "run": str(run.path)})
                print(per_run[-1], flush=True)
            if per_run:
                write_results(t, args, per_run)
    print(json.dumps({"runs": len(per_run)}))


if __name__ == "__main__":
    main()
