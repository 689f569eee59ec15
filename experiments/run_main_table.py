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

Writes experiments/results/main_<data>_<schedule>.md and .csv (seed 0 alone) and figures
experiments/results/figures/rounds_<data>_<schedule>.png and qualitative_<data>_<schedule>.png; with ``--seeds``,
main_<data>_<schedule>_seeds.md (mean +- std and the per-seed values) and _seeds_runs.csv (one row per run), both
rewritten as each run finishes. The per-run CSV is the record across calls and machines: a call adds its runs to the
rows already there, and a run whose rows are there and whose folder is not on this machine is not retrained, so a
table over seeds can be built one seed (or one run) per session; ``--score-only`` adds the runs finished on this
machine and trains nothing (a session ending mid-seed), ``--table-only`` rewrites the table from the CSV, and
``--only <recipe>...`` trains just those runs (e.g. a recipe and its control for one more seed) and keeps the rest.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from common import (FIGURES, RESULTS, add_dataset_args, class_scores, config_path, evaluation, load_config, mean_std,
                    parse_per_class, per_class, piped, read_records, seeded, tag, trained, write_table)
from scribblesup.cli import class_value
from scribblesup.conventions import UNLABELLED
from scribblesup.crf import refine
from scribblesup.datasets import open_split
from scribblesup.figures import plot_rounds, pseudo_labels_of, qualitative_grid
from scribblesup.inference import format_logit_offset, parse_logit_offset, predict_probabilities
from scribblesup.pipeline import region_graph_cache
from scribblesup.io import atomic_path
from scribblesup.runs import RunDir, load_run, read_csv, train_seconds

REFINEMENTS = ("densecrf", "mrf")
NOPAIRWISE = "scribblesup-nopairwise"  # --only's name of the no-pairwise ablation (seed 0)
BASE_RECIPES = ("unet_full", "scribblesup", "unet_pce", NOPAIRWISE)


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
    if len(reference) < 2 and len(scores) < 2:
        return f"{gap:+.4f} (one seed each: no spread yet)"
    spread = max(np.std(reference, ddof=1) if len(reference) > 1 else 0.0,
                 np.std(scores, ddof=1) if len(scores) > 1 else 0.0)
    # one side's spread alone understates the uncertainty of a one-seed row: the mark is then no claim
    lone = "" if len(reference) > 1 and len(scores) > 1 else "; one side has one seed: no claim"
    return f"{gap:+.4f} ({'>' if abs(gap) > 2 * spread else '<='} 2 sd = {2 * spread:.4f}{lone})"


def paired(reference: dict, scores: dict) -> str:
    """``+0.0056 +- 0.0041 over seeds 0 1 2``: the reference's score minus this row's, seed by seed ({seed: score}),
    over the seeds both rows have: the mean and the sample sd of those differences. Runs of one seed share its data
    order and, in a pipeline, often round 0, so the paired spread is the finer measure of a difference; ``-`` with
    fewer than two common seeds."""
    common = sorted(set(reference) & set(scores))
    if len(common) < 2:
        return "-"
    d = np.array([reference[s] - scores[s] for s in common])
    return f"{d.mean():+.4f} +- {d.std(ddof=1):.4f} over seeds {' '.join(map(str, common))}"


def seed_rows(args, seed: int, committed: dict | None = None, record=lambda rows: None) -> tuple[list[dict], dict]:
    """Every row of the table for one seed (the no-pairwise ablation and the figures: seed 0 only).

    ``committed``: rows of earlier calls by (method, seed) (the seeds table's per-run CSV); a run whose rows are all
    there and whose folder is not on this machine is not retrained (run folders stay local, the CSV is committed),
    so a table over seeds can be built over several sessions. ``record`` gets each run's rows as soon as it is
    scored (the seeds table is rewritten then).
    """
    committed = committed or {}
    # synthesised scribbles of another protocol: the scribble-supervised runs get it (and their own names)
    weak = [f"data.options.scribble_protocol={args.scribbles}"] if args.scribbles else []
    suffix = f"_{args.scribbles}" if args.scribbles else ""
    full_config = seeded(config_path("unet_full", args.dataset, args.schedule), seed)
    pce_config = seeded(config_path("unet_pce", args.dataset, args.schedule), seed, weak, suffix)
    ss_path = config_path("scribblesup", args.dataset, args.schedule)
    ss_config = seeded(ss_path, seed, weak, suffix)
    # (row label, config, pipeline?, every round a row?) in the order they run: the reference points and the
    # pipelines first, so a call cut short has the comparisons that matter most (the table orders rows by `rank`)
    # (recipe name, row label, config, pipeline?, every round a row?)
    units = [("unet_full", "full supervision", full_config, False, False),
             ("scribblesup", "ScribbleSup", ss_config, True, True)]
    units += [(recipe, recipe, seeded(config_path(recipe, args.dataset, args.schedule), seed, weak, suffix), True,
               False) for recipe in args.recipes]
    units.append(("unet_pce", "pCE (scribbles only)", pce_config, False, False))
    units += [(recipe, recipe, seeded(config_path(recipe, args.dataset, args.schedule), seed, weak, suffix), False,
               False) for recipe in args.train_recipes]
    if seed == 0:
        np_rounds = (args.nopairwise_rounds if args.nopairwise_rounds is not None
                     else (0 if args.schedule == "cpu" else ss_config.pipeline.rounds))
        np_config = load_config(ss_path, [*weak, f"name={ss_config.name}_nopairwise", "propagation.pairwise_weight=0",
                                          f"pipeline.rounds={np_rounds}"])
        units.append((NOPAIRWISE, "ScribbleSup without pairwise", np_config, True, True))
    pipelines = [config for *_, config, pipeline, _ in units if pipeline]
    only = getattr(args, "only", None)
    if only:
        units = [u for u in units if u[0] in only]

    rows, runs, full_score, pce_dir = [], {}, None, None
    for _, label, config, pipeline, every_round in units:
        last = config.pipeline.rounds
        methods = ([f"{label}, round {k}" for k in (range(last + 1) if every_round else [last])] if pipeline
                   else [label])
        base = f"{label}, round {last}" if pipeline else label
        if logit_offset(args, label, config):
            methods.append(offset_method(logit_offset(args, label, config), base))
        # the run's other calibrated rows of earlier calls: scored again with it, so a run's rows are one network's
        earlier = earlier_offsets(committed, seed, base, methods)
        methods += [offset_method(o, base) for o in earlier]
        final = RunDir(config.run_dir()).round(last) if pipeline else RunDir(config.run_dir())
        digest = config_digest(config)
        finished = final.evaluation(config.data.val_split, "last").is_file()
        mine = None if finished else reused_rows(committed, seed, methods, digest)
        if mine is not None:
            print(f"{config.name}: rows of an earlier call reused (no finished {final.path} here)", flush=True)
        elif getattr(args, "score_only", False) and not finished:
            print(f"{config.name}: not finished here, skipped (--score-only)", flush=True)
            continue
        if mine is None:
            if pipeline:
                # round 0 from another pipeline of this seed it matches (a recipe's same-steps control: the
                # recipe's), also one an earlier --only call left on this machine
                run_dir = piped(config, share_from=round_zero_sources(pipelines, config))
                runs[label] = (run_dir, config)
            else:
                run_dir = trained(config)
                if label == "pCE (scribbles only)":
                    pce_dir = run_dir
            mine = scored_rows(args, seed, label, config, run_dir, pipeline, every_round, earlier)
            for r in mine:
                r["config"] = digest
        if label == "full supervision":
            full_score = mine[0]["score"]
        for r in mine:
            r["pct_of_full"] = 100 * r["score"] / full_score if full_score else None
        rows += mine
        record(mine)
    return sorted(rows, key=rank), {"full_score": full_score, "runs": runs, "pce_dir": pce_dir,
                                     "ss_config": ss_config}


def round_zero_sources(pipelines: list, config) -> list[Path]:
    """The run folders on this machine whose round 0 ``config``'s pipeline may take (:func:`common.piped` checks
    that nothing round 0 uses differs): the seed's other pipelines, in the table's order, whether this call runs
    them or an earlier ``--only`` call did."""
    return [c.run_dir() for c in pipelines if c.run_dir() != config.run_dir() and c.run_dir().is_dir()]


def logit_offset(args, label: str, config) -> dict:
    """The logit offset of a run's calibrated row (empty: no such row): for the final round of each of ``--recipes``,
    ``--logit-offset`` or else the recipe config's ``test.logit_offset``; for each of ``--train-recipes`` (a peer,
    whose offset is tuned on its own holdout network), its config's ``test.logit_offset``."""
    if label in args.recipes and getattr(args, "logit_offset", None):
        return dict(args.logit_offset)
    if label in args.recipes or label in getattr(args, "train_recipes", []):
        return dict(config.test.logit_offset)
    return {}


def earlier_offsets(committed: dict, seed: int, base: str, methods: list[str]) -> list[dict]:
    """The logit offsets of ``base``'s calibrated rows that earlier calls recorded for ``seed``, besides ``methods``.

    A run scored afresh (retrained because its folder is gone, or finished on this machine) is scored with each of
    them again, so every row of one run comes from one network: a network retrained on another machine need not be
    bit-identical to the one an earlier session trained (ACDC's recipe at seed 2, 2026-12-03: 0.8282 against 0.8365).
    """
    prefix = f"{base}, logit offset "
    return [parse_logit_offset(m[len(prefix):]) for m, s in committed
            if s == seed and m.startswith(prefix) and m not in methods]


def offset_method(offset: dict, method: str) -> str:
    """``scribblesup-bias-gcrf, round 3, logit offset Myo=-1.5``: the row of a run's calibrated evaluation."""
    return f"{method}, logit offset {format_logit_offset(offset)}"


def rank(row: dict) -> int:
    """The table's row order: full supervision, pCE, other training recipes, ScribbleSup's rounds, its ablation, the
    other pipeline recipes."""
    m = row["method"]
    if m == "full supervision":
        return 0
    if m.startswith("pCE"):
        return 1
    if ", round " not in m:
        return 2
    return 3 if m.startswith("ScribbleSup, ") else 4 if m.startswith("ScribbleSup without") else 5


def reused_rows(committed: dict, seed: int, methods: list[str], digest: str) -> list[dict] | None:
    """The committed rows of a run, when every one is there and was made with the config of this ``digest``; else None
    (the run is trained or resumed). The caller asks only for runs not finished on this machine (a finished run
    folder is scored afresh)."""
    if not all(committed.get((m, seed), {}).get("config") == digest for m in methods):
        return None
    return [committed[(m, seed)] for m in methods]


DIGEST_NEUTRAL = [("train", "scribble_weight", 0.0), ("propagation", "network_offset", None),
                  ("pipeline", "unweight_network", False)]


def config_digest(config) -> str:
    """12 hex digits of the resolved config (its name aside): a committed row is reused only for the config that made
    it, never for one whose defaults changed since."""
    d = config.to_dict()
    d.pop("name", None)
    d.pop("test", None)  # what evaluate applies changes no training (a calibrated row's method names its offset)
    # options added since the first committed rows, at the value that leaves training as it was: left out, so
    # adding an option does not retrain what it cannot change (any other value is part of the digest)
    for section, key, neutral in DIGEST_NEUTRAL:
        if key in d.get(section, {}) and d[section][key] == neutral:
            del d[section][key]
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def scored_rows(args, seed, label, config, run_dir, pipeline: bool, every_round: bool, earlier=()) -> list[dict]:
    """The rows of one finished run: one per round of a pipeline (``every_round``) or its final round, and its
    calibrated rows: this call's logit offset and the ``earlier`` ones (:func:`earlier_offsets`)."""
    refine_last = args.refine and not args.seeds_mode

    def row(method, path, pseudo=None, refined=True, steps=None, logit_offset=None):
        r = {"method": method, "seed": seed, "run": str(path), "pseudo_miou": pseudo, "steps": steps}
        for m in (None,) + (REFINEMENTS if refined else ()):
            ev = evaluation(path, m, logit_offset=logit_offset)
            r[f"score{'_' + m if m else ''}"] = ev["score"]
            if m is None:
                r["miou"] = ev["confusion"]["miou"]
                r["hd95"] = ev.get("mean_hd95")
                r["per_class"] = per_class(class_scores(ev), digits=4)
        r["train_minutes"] = train_seconds(RunDir(path)) / 60
        return r

    offset = logit_offset(args, label, config)
    offsets = ([offset] if offset else []) + list(earlier)
    if not pipeline:
        out = [row(label, run_dir, refined=refine_last, steps=config.train.steps)]
        out += [row(offset_method(o, label), run_dir, refined=False, steps=config.train.steps, logit_offset=o)
                for o in offsets]
        return out
    steps0 = config.train.steps
    ft = config.pipeline.finetune_steps or steps0
    last = config.pipeline.rounds
    out = []
    for r in read_csv(RunDir(run_dir).rounds_csv):
        k = int(r["round"])
        if k != last and not every_round:
            continue
        steps = steps0 + k * ft if config.pipeline.init == "finetune" else steps0
        out.append(row(f"{label}, round {k}", RunDir(run_dir).round(k).path, float(r["pseudo_miou"]),
                       refined=(k == last and refine_last), steps=steps))
        if k == last:
            out += [row(offset_method(o, f"{label}, round {k}"), RunDir(run_dir).round(k).path,
                        float(r["pseudo_miou"]), refined=False, steps=steps, logit_offset=o) for o in offsets]
    return out


RUN_FIELDS = ["method", "seed", "steps", "pseudo_miou", "score", "score_densecrf", "score_mrf", "pct_of_full", "miou",
              "hd95", "per_class", "train_minutes", "run", "config"]


def read_runs(path: Path) -> dict:
    """The per-run rows of a seeds table's CSV by (method, seed)."""
    rows = read_records(path, text=("method", "run", "config", "per_class"), integers=("seed", "steps"))
    return {(r["method"], r["seed"]): r for r in rows}


def mean_per_class(rows: list[dict]) -> str:
    """``RV 0.831 / Myo 0.755 / LV 0.881``: each class's score, the mean over ``rows`` (one per seed); ``-`` when a row
    has no per-class record (rows of a call before the column existed)."""
    values = [parse_per_class(r.get("per_class")) for r in rows]
    if not values or any(v is None for v in values):
        return "-"
    return per_class({name: (float(np.mean([v[name] for v in values])) if all(v[name] is not None for v in values)
                             else None) for name in values[0]})


def seeds_summary(per_run: dict, reference: str | None = None) -> list[dict]:
    """One row per method over the seeds it has: mean +- std, the per-seed values and % of full supervision (of the
    means); with ``reference``, the gap to that method and whether it exceeds two standard deviations."""
    all_rows = sorted(per_run.values(), key=lambda r: r["seed"])
    methods = list(dict.fromkeys(r["method"] for r in sorted(per_run.values(), key=rank)))
    full = [r["score"] for r in all_rows if r["method"] == "full supervision"]
    summary = []
    for method in methods:
        mine = [r for r in all_rows if r["method"] == method]
        scores = [r["score"] for r in mine]
        summary.append({"method": method, "seeds": " ".join(str(r["seed"]) for r in mine), "steps": mine[0]["steps"],
                        "score": mean_std(scores), "pct_of_full": 100 * np.mean(scores) / np.mean(full) if full else None,
                        "per_seed": " / ".join(f"{v:.4f}" for v in scores),
                        "by_seed": {r["seed"]: r["score"] for r in mine},  # in seed order (all_rows is sorted)
                        "per_class": mean_per_class(mine),
                        "train_minutes": float(np.mean([r["train_minutes"] for r in mine]))})
    if reference:
        ref = next((r for r in summary if r["method"] == reference), None)
        if ref is None:  # not trained yet (the table is rewritten after each run): no gaps until it is
            print(f"--reference {reference!r}: no such row yet ({', '.join(r['method'] for r in summary)})")
        for r in summary:
            r["vs_reference"] = (None if ref is None else "reference" if r is ref
                                 else versus(list(ref["by_seed"].values()), list(r["by_seed"].values())))
            r["paired"] = None if ref is None or r is ref else paired(ref["by_seed"], r["by_seed"])
    return summary


def write_seeds_table(args, t: str, per_run: dict, score_name: str, width) -> None:
    """main_<t>_seeds.md (mean +- std over the seeds each row has so far) and _seeds_runs.csv (one row per run)."""
    summary = seeds_summary(per_run, args.reference)
    ref_columns = ([(f"{args.reference} minus this", "vs_reference", ""),
                    ("the same, seed by seed (mean +- sd)", "paired", "")] if args.reference else [])
    note = (f"Same network (UNet width {width}) and input size for every row; `steps` = total training steps "
            "(ScribbleSup: round 0 from scratch plus fine-tuning rounds); `training (min)`: mean over the seeds of a "
            "run's own training time (a pipeline round: that round's training; a recipe's final round shares nothing "
            "with the others). Rows are added as runs finish, over several calls if need be (run folders stay on "
            "the machine that trained them; the per-run CSV is the record). The no-pairwise ablation runs with seed "
            "0 only. The gap column: the reference's mean minus the row's, against two standard deviations of the "
            "larger seed spread (the issue's bar for a claim); beside it the per-seed differences over the seeds "
            "both rows have (runs of one seed share its data order, pipelines often their round 0). "
            f"Per class: {'Dice per structure' if score_name == 'mean Dice' else 'IoU'}, the "
            "mean over the seeds.")
    write_table(f"main_{t}_seeds", f"Main table over seeds: {args.dataset} ({t}), validation {score_name}", summary,
                [("method", "method", ""), ("seeds", "seeds", ""), ("steps", "steps", ""),
                 (f"{score_name} (mean +- std)", "score", ""), ("% of full (of the means)", "pct_of_full", ".1f"),
                 ("per seed", "per_seed", ""), ("per class (mean over seeds)", "per_class", ""), *ref_columns,
                 ("training (min)", "train_minutes", ".1f")],
                notes=[note], csv_fields=["method", "seeds", "steps", "score", "pct_of_full", "per_seed",
                                          "per_class", "vs_reference", "paired", "train_minutes"])
    rows = sorted(per_run.values(), key=lambda r: (r["seed"], rank(r)))  # stable: a rank's rows in run order
    with atomic_path(RESULTS / f"main_{t}_seeds_runs.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, RUN_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--seeds", type=int, nargs="+",
                    help="training seeds: writes main_<data>_<schedule>_seeds.md (mean +- std), adding to the rows "
                         "of earlier calls (without it: seed 0 and the single-seed main table)")
    ap.add_argument("--recipes", nargs="*", default=[],
                    help="more pipeline configs to compare (<recipe>_<data>_<schedule>.yaml; final round only)")
    ap.add_argument("--train-recipes", nargs="*", default=[],
                    help="more training configs to compare (<recipe>_<data>_<schedule>.yaml, e.g. unet_pce-gcrf)")
    ap.add_argument("--only", nargs="+", metavar="RECIPE",
                    help="with --seeds: train (or reuse) only these of the table's runs, by recipe name (unet_full, "
                         f"scribblesup, unet_pce, {NOPAIRWISE}, or one of --recipes / --train-recipes), in the "
                         "table's order; the other rows of the CSV stay as they are")
    ap.add_argument("--logit-offset", nargs="+", type=class_value, metavar="CLASS=VALUE",
                    help="the calibrated row of the final round of each of --recipes: its network with this logit "
                         "offset at test time, instead of the recipe config's test.logit_offset (chosen on held-out "
                         "training groups, experiments/tune_logit_offset.py)")
    ap.add_argument("--reference", help="with --seeds: the method (a row's name) every other row is compared with")
    ap.add_argument("--table-only", action="store_true",
                    help="with --seeds: rewrite the seeds table from its per-run CSV, training nothing")
    ap.add_argument("--score-only", action="store_true",
                    help="with --seeds: add the rows of the runs finished on this machine, train nothing (a session "
                         "ending mid-seed records what it has)")
    ap.add_argument("--nopairwise-rounds", type=int, help="rounds of the no-pairwise variant (default: cpu 0, else all)")
    ap.add_argument("--no-refine", dest="refine", action="store_false", help="skip the DenseCRF / MRF columns")
    ap.add_argument("--skip-figures", action="store_true")
    ap.add_argument("--scribbles", choices=["medial_axis", "curve"],
                    help="CamVid: the scribble synthesis protocol of the scribble-supervised rows (runs and tables "
                         "named with it; default: the configs', medial_axis)")
    args = ap.parse_args()
    args.seeds_mode = args.seeds is not None
    for recipe in (*args.recipes, *args.train_recipes):  # every call, --table-only too: one line, exit 2, nothing written
        config_path(recipe, args.dataset, args.schedule)
    if args.only:
        known = {*BASE_RECIPES, *args.recipes, *args.train_recipes}
        unknown = [r for r in args.only if r not in known]
        if unknown or not args.seeds_mode:
            ap.error(f"--only {' '.join(unknown)}: not a run of this table (choose from {', '.join(sorted(known))})"
                     if unknown else "--only needs --seeds")
    t = tag(args.dataset, args.schedule) + (f"_{args.scribbles}" if args.scribbles else "")
    ss_config = load_config(config_path("scribblesup", args.dataset, args.schedule))
    score_name = "mean Dice" if args.dataset == "acdc" else "mIoU"

    if args.seeds_mode:
        runs_csv = RESULTS / f"main_{t}_seeds_runs.csv"
        per_run = read_runs(runs_csv)
        if args.table_only:
            if not per_run:
                ap.error(f"--table-only: {runs_csv} holds no runs")
            methods = list(dict.fromkeys(m for m, _ in per_run))
            if args.reference and args.reference not in methods:  # nothing will be trained that could add it
                ap.error(f"--reference {args.reference!r}: no such row in {runs_csv} (rows: {'; '.join(methods)})")
            write_seeds_table(args, t, per_run, score_name, ss_config.model.width)
            return
        if not args.skip_figures:
            args.skip_figures = True
            print("--seeds: no figures (the single-seed call draws them)")

        def record(rows):
            per_run.update({(r["method"], r["seed"]): r for r in rows})
            write_seeds_table(args, t, per_run, score_name, ss_config.model.width)

        for seed in args.seeds:
            seed_rows(args, seed, dict(per_run), record)
        return

    rows, ctx = seed_rows(args, 0)
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
    write_table(f"main_{t}", f"Main table: {args.dataset} ({t}), validation {score_name}", rows, columns,
                notes=[note], csv_fields=RUN_FIELDS)

    if not args.skip_figures:
        runs = ctx["runs"]
        ss_config = ctx["ss_config"]
        ss_dir = runs["ScribbleSup"][0]
        refs = {"full supervision": ctx["full_score"], "pCE": evaluation(ctx["pce_dir"])["score"]}
        curves = {"ScribbleSup": ss_dir}
        if "ScribbleSup without pairwise" in runs:
            curves["without pairwise"] = runs["ScribbleSup without pairwise"][0]
        plot_rounds(curves, FIGURES / f"rounds_{t}.png", score_name, refs, title=f"{args.dataset}, {args.schedule} schedule")
        qualitative(ss_dir, RunDir(ss_dir).round(ss_config.pipeline.rounds).path, ss_config,
                    FIGURES / f"qualitative_{t}.png")
        print(f"figures in {FIGURES}")


if __name__ == "__main__":
    main()
