"""What better labels in rounds 1..R could give at most: the rounds trained on the ground truth (issue 12).

    python experiments/oracle_rounds.py --dataset acdc --holdout 8 --variant ss-bias0.1-sw1 scribblesup \\
        "propagation.class_bias=[0,0,0.1,0]" train.scribble_weight=1

Takes a pipeline variant of ``tune_on_holdout.py`` (same ``--holdout``, same ``--variant NAME RECIPE [KEY=VALUE]``;
run or resumed first) and trains its rounds 1..R again exactly as the pipeline does (``pipeline.round_config``: each
round fine-tuned from the one before, the rounds' steps, learning rate and seed, from the variant's own round 0),
except that each round learns the training images' ground truth instead of pseudo labels (``data.supervision:
full``; the scribbles' extra term is off, the ground truth covers them). No label inference can give rounds 1..R
better labels, so on the held-out groups this oracle bounds what relabelling can add on the schedule; the variant's
same-steps control (``pipeline.relabel=false``) is the other end. The row ``NAME-oracle`` joins
experiments/results/holdout_<data>_<schedule>.md (run folder ``runs/<variant run>-oracle/round<R>``), so
``tune_logit_offset.py --variants NAME-oracle`` calibrates it like any variant.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from common import RESULTS, add_dataset_args, piped, tag, trained
from tune_on_holdout import holdout_config, record, write_holdout_table

from scribblesup.pipeline import round_config
from scribblesup.runs import RunDir


def oracle_rounds(config, share_from=()) -> RunDir:
    """Rounds 1..R of pipeline ``config`` on the ground truth, from its round 0 (the pipeline run or resumed first;
    a new one takes round 0 from a run of ``share_from`` where only later rounds differ); the final round's folder."""
    source = RunDir(piped(config, share_from))
    oracle = RunDir(Path(config.output.root) / f"{config.name}-oracle")
    previous = source.round(0).last
    for k in range(1, config.pipeline.rounds + 1):
        c = round_config(config, source, k)
        c.output.root, c.name = str(oracle.path), oracle.round(k).path.name
        c.data.supervision, c.data.pseudo_dir = "full", None
        c.train.scribble_weight = 0.0
        if c.train.init_from is not None:  # pipeline.init: finetune (scratch rounds start anew, as in the pipeline)
            c.train.init_from = str(previous)
        trained(c)
        previous = oracle.round(k).last
    return oracle.round(config.pipeline.rounds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--holdout", type=int, required=True, help="groups of the training split held out")
    ap.add_argument("--variant", nargs="+", required=True, metavar="NAME RECIPE [KEY=VALUE]",
                    help="the tune_on_holdout.py pipeline variant: its name, the recipe (scribblesup*), overrides")
    args = ap.parse_args()
    if len(args.variant) < 2 or not args.variant[1].startswith("scribblesup"):
        ap.error("--variant takes a name and a pipeline recipe (scribblesup*), then overrides")
    name, recipe, *overrides = args.variant
    t = tag(args.dataset, args.schedule)
    config = holdout_config(args.dataset, args.schedule, args.holdout, name, recipe, overrides)
    table = RESULTS / f"holdout_{t}.json"
    done = json.loads(table.read_text()) if table.is_file() else {}
    final = oracle_rounds(config, [r["run"] for r in done.values() if r["recipe"].startswith("scribblesup")])
    record(table, done, f"{name}-oracle", recipe, [*overrides, "(rounds >= 1 on the ground truth: oracle_rounds.py)"],
           replace(config, name=f"{config.name}-oracle"), final, final)
    write_holdout_table(t, args.dataset, done)


if __name__ == "__main__":
    main()
