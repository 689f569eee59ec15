"""Choose training-side hyperparameters (loss weights, recipe options) on a holdout subset of the training data.

    python experiments/tune_on_holdout.py --dataset acdc --holdout 8 \\
        --variant pce-gcrf0.1 unet_pce train.crf_loss.weight=0.1 \\
        --variant pce-gcrf0.3 unet_pce train.crf_loss.weight=0.3 \\
        --variant ss-pixel scribblesup propagation.level=pixel

Each ``--variant NAME RECIPE [KEY=VALUE ...]`` is the config ``<RECIPE>_<data>_<schedule>.yaml`` with the overrides,
``data.holdout=N`` (N groups of the training split held out: ACDC whole patients, CamVid images) and
``data.val_split=holdout``, run as ``runs/<config stem>_holdout<N>_<NAME>``: it trains on the rest of the training
split and is scored on the held-out groups' ground truth, never on the split whose score is reported. Recipes named
``scribblesup*`` run the pipeline (the final round is scored; round 0 is taken from an earlier variant's run when
only later rounds differ, :func:`scribblesup.pipeline.share_round_zero`); the others train once. Finished runs are reused, so
adding a variant reruns nothing. Writes experiments/results/holdout_<data>_<schedule>.md and .csv (all variants
ever run with that holdout, so the table grows across calls).
"""

from __future__ import annotations

import argparse
import json

from common import (RESULTS, add_dataset_args, checked_config, class_scores, config_path, evaluation, per_class,
                    piped, tag, trained, write_table)
from scribblesup.config import Config
from scribblesup.runs import RunDir


def holdout_config(dataset: str, schedule: str, holdout: int, name: str, recipe: str, overrides) -> Config:
    path = config_path(recipe, dataset, schedule)
    return checked_config(path, [*overrides, f"data.holdout={holdout}", "data.val_split=holdout",
                                 f"name={path.stem}_holdout{holdout}_{name}"], what=f"--variant {name}: ")


def scored_run(recipe: str, config: Config, share_from=()) -> RunDir:
    """The run folder whose last checkpoint is scored (a pipeline's final round), run or resumed first; a pipeline
    takes round 0 from a run of ``share_from`` when only later rounds differ."""
    if recipe.startswith("scribblesup"):
        return RunDir(piped(config, share_from)).round(config.pipeline.rounds)
    return RunDir(trained(config))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--holdout", type=int, required=True, help="groups of the training split held out")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="NAME RECIPE [KEY=VALUE]",
                    help="a variant: its name, the recipe (config stem before _<data>_<schedule>), overrides")
    args = ap.parse_args()
    if any(len(v) < 2 for v in args.variant):
        ap.error("--variant takes a name and a recipe, then overrides")
    t = tag(args.dataset, args.schedule)
    table = RESULTS / f"holdout_{t}.json"
    done = json.loads(table.read_text()) if table.is_file() else {}
    # every variant's config first: a bad one stops before any training
    variants = [(name, recipe, overrides,
                 holdout_config(args.dataset, args.schedule, args.holdout, name, recipe, overrides))
                for name, recipe, *overrides in args.variant]
    for name, recipe, overrides, config in variants:
        run = scored_run(recipe, config, [r["run"] for r in done.values() if r["recipe"].startswith("scribblesup")])
        record(table, done, name, recipe, overrides, config, run, RunDir(config.run_dir()))
    write_holdout_table(t, args.dataset, done)


def record(table, done: dict, name: str, recipe: str, overrides, config: Config, run: RunDir, top: RunDir) -> None:
    """Score ``run`` (its last checkpoint) on the held-out groups and keep it as row ``config.name`` of ``table``."""
    ev = evaluation(run.path, split="holdout")
    done[config.name] = {"variant": name, "recipe": recipe, "overrides": " ".join(overrides) or "-",
                         "holdout": config.data.holdout, "score_name": ev["score_name"], "score": ev["score"],
                         "miou": ev["confusion"]["miou"], "per_class": per_class(class_scores(ev)), "run": str(top.path)}
    print(done[config.name], flush=True)
    table.write_text(json.dumps(done, indent=1))


def write_holdout_table(t: str, dataset: str, done: dict) -> None:
    """experiments/results/holdout_<t>.md and .csv: every variant ever run (``done``), by holdout, recipe, score."""
    rows = sorted(done.values(), key=lambda r: (r["holdout"], r["recipe"], -r["score"]))
    score_name = rows[0]["score_name"] if rows else "score"
    write_table(f"holdout_{t}", f"Hyperparameters on held-out training groups, {dataset} ({t})", rows,
                [("variant", "variant", ""), ("recipe", "recipe", ""), ("overrides", "overrides", ""),
                 ("held-out groups", "holdout", ""), (f"{score_name} (holdout)", "score", ".4f"), ("mIoU", "miou", ".4f"),
                 ("per class", "per_class", ""), ("run", "run", "")],
                notes=["Each run trains on the training split less the held-out groups and is scored on those groups' "
                       "ground truth (last checkpoint; ScribbleSup: the final round); one seed (the config's). The "
                       "reported split is never used here."])


if __name__ == "__main__":
    main()
