"""The main table: full supervision, pCE and ScribbleSup (rounds 0..R, with and without the pairwise term,
with and without CRF/MRF refinement at test time), all on the same network and schedule.

    python experiments/run_main_table.py --dataset acdc --schedule cpu
    python experiments/run_main_table.py --dataset camvid --schedule cpu

Configs: experiments/configs/unet_{full,pce}_<data>_<schedule>.yaml and scribblesup_<data>_<schedule>.yaml
(<data> = acdc-fold1 or camvid). Every run resumes if interrupted and is skipped when finished, so the command
can be rerun to (re)build the table. ``--nopairwise-rounds`` sets how many rounds the variant without the
pairwise term runs (cpu default 0: round 0 only, compared with round 0 of the main run).

Over seeds, with more recipes (each ``<recipe>_<data>_<schedule>.yaml``: pipeline configs with ``--recipes``, their
final round a row; training configs with ``--train-recipes``), each row compared with ``--reference``'s (the gap of
the means and whether it exceeds two standard deviations of the seed spread):

    python experiments/run_main_table.py --dataset acdc --schedule cpu --seeds 0 1 2 --no-refine --skip-figures \
        --recipes scribblesup-control --train-recipes unet_pce-gcrf --reference "ScribbleSup, round 3"

CamVid with the scribbles of the curve protocol (the pCE and ScribbleSup rows; full supervision is shared):

    python experiments/run_main_table.py --dataset camvid --schedule cpu --scribbles curve

Writes experiments/results/main_<data>_<schedule>.md and .csv (seed 0 alone), or main_<data>_<schedule>_seeds.md
(mean +- std and the per-seed values) and _seeds_runs.csv (one row per run), and figures
experiments/results/figures/rounds_<data>_<schedule>.png and qualitative_<data>_<schedule>.png.
"""

from __future__ import annotations

import argparse

import numpy as np

from common import (FIGURES, add_dataset_args, config_path, evaluation, load_config, mean_std, piped, seeded, tag,
                    trained, write_table)
from scribblesup.conventions import UNLABELLED
from scribblesup.crf import refine
from scribblesup.datasets import open_split
from scribblesup.figures import plot_rounds, pseudo_labels_of, qualitative_grid
from scribblesup.inference import predict_probabilities
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run, read_csv, train_seconds

REFINEMENTS = ("densecrf", "mrf")


def qualitative(ss_dir, final_dir, config, out, n: int = 3):
    """Grid of n training images: image, scribbles, superpixels, pseudo labels per round, prediction,
    DenseCRF-refined prediction, ground truth."""
    dataset = open_split(config.data, config.data.train_split)
    cache = region_graph_cache(config)
    model, _, info = load_run(final_dir, "last")
    # images where every class of the dataset's ground truth is present, spread over the split
    picks = []
    for i in dataset.ids[len(dataset.ids) // (2 * n)::max(1, len(dataset.ids) // (4 * n))]:
        s = dataset.load(i)
        if len(np.unique(s.label[s.label != UNLABELLED])) >= min(info.num_classes, 4):
            picks.append(s)
        if len(picks) == n:
            break
    rows = []
    for s in picks:
        probs = predict_probabilities(model, s.image, config.data.input_size)
        row = {"image": s.image, "scribbles": s.scribble, "superpixels": cache.get(s.id, s.image).labels}
        row.update(pseudo_labels_of(ss_dir, s.id))
        row["prediction"] = probs.argmax(0).astype(np.uint8)
        try:
            row["+ DenseCRF"] = refine(s.image, probs, "densecrf")
        except ImportError:
            row["+ MRF"] = refine(s.image, probs, "mrf")
        row["ground truth"] = s.label
        rows.append(row)
    return qualitative_grid(rows, out, info.palette)


def versus(reference, scores) -> str:
    """``+0.012 (> 2 sd)``: the reference's mean minus these scores' mean, and whether the gap exceeds two standard
    deviations of the larger seed spread of the two (the issue's bar for "beats")."""
    gap = float(np.mean(reference) - np.mean(scores))
    spread = max(np.std(reference, ddof=1) if len(reference) > 1 else 0.0,
                 np.std(scores, ddof=1) if len(scores) > 1 else 0.0)
    return f"{gap:+.4f} ({'>' if abs(gap) > 2 * spread else '<='} 2 sd = {2 * spread:.4f})"


def seed_rows(args, seed: int) -> tuple[list[dict], dict]:
    """Every row of the table for one seed (the no-pairwise ablation and the figures: seed 0 only)."""
    # synthesised scribbles of another protocol: the scribble-supervised runs get it (and their own names)
    weak = [f"data.options.scribble_protocol={args.scribbles}"] if args.scribbles else []
    suffix = f"_{args.scribbles}" if args.scribbles else ""
    full_config = seeded(config_path("unet_full", args.dataset, args.schedule), seed)
    pce_config = seeded(config_path("unet_pce", args.dataset, args.schedule), seed, weak, suffix)
    full_dir, pce_dir = trained(full_config), trained(pce_config)
    ss_path = config_path("scribblesup", args.dataset, args.schedule)
    ss_config = seeded(ss_path, seed, weak, suffix)
    runs = {"ScribbleSup": (piped(ss_config), ss_config)}
    if seed == 0:
        np_rounds = (args.nopairwise_rounds if args.nopairwise_rounds is not None
                     else (0 if args.schedule == "cpu" else ss_config.pipeline.rounds))
        np_config = load_config(ss_path, [*weak, f"name={ss_config.name}_nopairwise", "propagation.pairwise_weight=0",
                                          f"pipeline.rounds={np_rounds}"])
        runs["ScribbleSup without pairwise"] = (piped(np_config), np_config)
    for recipe in args.recipes:
        config = seeded(config_path(recipe, args.dataset, args.schedule), seed, weak, suffix)
        # round 0 from any earlier pipeline of this seed it matches (a recipe's same-steps control: the recipe's)
        runs[recipe] = (piped(config, share_from=[d for d, _ in runs.values()]), config)
    trained_recipes = {}
    for recipe in args.train_recipes:
        config = seeded(config_path(recipe, args.dataset, args.schedule), seed, weak, suffix)
        trained_recipes[recipe] = (trained(config), config)
    full = evaluation(full_dir)
    rows = []

    def add(method, run_dir, pseudo=None, refined=True, steps=None):
        r = {"method": method, "seed": seed, "run": str(run_dir), "pseudo_miou": pseudo, "steps": steps}
        for m in (None,) + (REFINEMENTS if refined else ()):
            ev = evaluation(run_dir, m)
            r[f"score{'_' + m if m else ''}"] = ev["score"]
            if m is None:
                r["miou"] = ev["confusion"]["miou"]
                r["hd95"] = ev.get("mean_hd95")
        r["train_minutes"] = train_seconds(RunDir(run_dir)) / 60
        r["pct_of_full"] = 100 * r["score"] / full["score"]
        rows.append(r)

    add("full supervision", full_dir, steps=full_config.train.steps, refined=args.refine)
    add("pCE (scribbles only)", pce_dir, steps=pce_config.train.steps, refined=args.refine)
    for label, (run_dir, config) in trained_recipes.items():
        add(label, run_dir, steps=config.train.steps, refined=args.refine)
    for label, (run_dir, config) in runs.items():
        steps0 = config.train.steps
        ft = config.pipeline.finetune_steps or steps0
        last = config.pipeline.rounds
        for row in read_csv(RunDir(run_dir).rounds_csv):
            k = int(row["round"])
            if label in args.recipes and k != last:
                continue  # extra recipes: the final round only
            add(f"{label}, round {k}", RunDir(run_dir).round(k).path, float(row["pseudo_miou"]),
                refined=(k == last and args.refine), steps=steps0 + k * ft if config.pipeline.init == "finetune" else steps0)
    return rows, {"full": full, "pce_dir": pce_dir, "runs": runs, "ss_config": ss_config}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="training seeds; more than one adds main_<data>_<schedule>_seeds.md with mean +- std")
    ap.add_argument("--recipes", nargs="*", default=[],
                    help="more pipeline configs to compare (<recipe>_<data>_<schedule>.yaml; final round only)")
    ap.add_argument("--train-recipes", nargs="*", default=[],
                    help="more training configs to compare (<recipe>_<data>_<schedule>.yaml, e.g. unet_pce-gcrf)")
    ap.add_argument("--reference", help="with --seeds: the method (a row's name) every other row is compared with")
    ap.add_argument("--nopairwise-rounds", type=int, help="rounds of the no-pairwise variant (default: cpu 0, else all)")
    ap.add_argument("--no-refine", dest="refine", action="store_false", help="skip the DenseCRF / MRF columns")
    ap.add_argument("--skip-figures", action="store_true")
    ap.add_argument("--scribbles", choices=["medial_axis", "curve"],
                    help="CamVid: the scribble synthesis protocol of the scribble-supervised rows (runs and tables "
                         "named with it; default: the configs', medial_axis)")
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule) + (f"_{args.scribbles}" if args.scribbles else "")
    per_seed = {seed: seed_rows(args, seed) for seed in args.seeds}
    rows, ctx = per_seed[args.seeds[0]]
    full = ctx["full"]
    score_name = full["score_name"]
    ss_config = ctx["ss_config"]

    extra_columns = score_name != "mIoU"  # mean Dice (ACDC) also shows mIoU and HD95; CamVid's score is the mIoU
    columns = [("method", "method", ""), ("steps", "steps", ""), ("pseudo-label mIoU (train)", "pseudo_miou", ".4f"),
               (score_name, "score", ".4f"), ("+ DenseCRF", "score_densecrf", ".4f"), ("+ MRF", "score_mrf", ".4f"),
               ("% of full", "pct_of_full", ".1f")]
    if extra_columns:
        columns += [("mIoU", "miou", ".4f"), ("HD95 (px)", "hd95", ".2f")]
    columns.append(("training (min)", "train_minutes", ".1f"))
    note = (f"Same network (UNet width {ss_config.model.width}) and input size for every row; `steps` = total training "
            "steps (ScribbleSup: round 0 from scratch plus fine-tuning rounds). Runs found finished were not retrained. "
            "Pseudo-label times per round are in each run's rounds.csv.")
    fields = ["method", "seed", "steps", "pseudo_miou", "score", "score_densecrf", "score_mrf", "pct_of_full", "miou",
              "hd95", "train_minutes", "run"]
    if args.seeds == [0]:
        write_table(f"main_{t}", f"Main table: {args.dataset} ({t}), validation {score_name}", rows, columns,
                    notes=[note], csv_fields=fields)
    else:
        all_rows = [r for seed in args.seeds for r in per_seed[seed][0]]
        full_mean = np.mean([r["score"] for r in all_rows if r["method"] == "full supervision"])
        summary = []
        for method in dict.fromkeys(r["method"] for r in all_rows):
            mine = [r for r in all_rows if r["method"] == method]
            scores = [r["score"] for r in mine]
            summary.append({"method": method, "seeds": len(mine), "steps": mine[0]["steps"],
                            "score": mean_std(scores), "pct_of_full": 100 * np.mean(scores) / full_mean,
                            "per_seed": " / ".join(f"{v:.4f}" for v in scores), "scores": scores})
        ref_columns = []
        if args.reference:
            ref = next((r for r in summary if r["method"] == args.reference), None)
            if ref is None:
                raise SystemExit(f"--reference {args.reference!r}: no such row ({', '.join(r['method'] for r in summary)})")
            for r in summary:
                r["vs_reference"] = versus(ref["scores"], r["scores"]) if r is not ref else "reference"
            ref_columns = [(f"{args.reference} minus this", "vs_reference", "")]
        write_table(f"main_{t}_seeds", f"Main table over seeds {args.seeds}: {args.dataset} ({t}), validation "
                    f"{score_name}", summary,
                    [("method", "method", ""), ("seeds", "seeds", ""), ("steps", "steps", ""),
                     (f"{score_name} (mean +- std)", "score", ""), ("% of full (of the means)", "pct_of_full", ".1f"),
                     ("per seed", "per_seed", ""), *ref_columns],
                    notes=[note + " The no-pairwise ablation runs with seed 0 only. Per-run values: the CSV."])
        import csv as _csv

        from common import RESULTS

        with (RESULTS / f"main_{t}_seeds_runs.csv").open("w", newline="") as f:
            w = _csv.DictWriter(f, fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(all_rows)

    if not args.skip_figures:
        runs = ctx["runs"]
        ss_dir = runs["ScribbleSup"][0]
        refs = {"full supervision": full["score"], "pCE": evaluation(ctx["pce_dir"])["score"]}
        curves = {"ScribbleSup": ss_dir}
        if "ScribbleSup without pairwise" in runs:
            curves["without pairwise"] = runs["ScribbleSup without pairwise"][0]
        plot_rounds(curves, FIGURES / f"rounds_{t}.png", score_name, refs, title=f"{args.dataset}, {args.schedule} schedule")
        qualitative(ss_dir, RunDir(ss_dir).round(ss_config.pipeline.rounds).path, ss_config,
                    FIGURES / f"qualitative_{t}.png")
        print(f"figures in {FIGURES}")


if __name__ == "__main__":
    main()
