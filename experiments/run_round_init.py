"""Fine-tune or from scratch: how rounds 1..R should start their network (``pipeline.init``).

    python experiments/run_round_init.py --dataset acdc --schedule cpu
    python experiments/run_round_init.py --dataset camvid --schedule cpu

Compares the main run (experiments/configs/scribblesup_<data>_<schedule>.yaml, ``pipeline.init: finetune``: each
round fine-tunes the previous round's network for ``pipeline.finetune_steps``) with the same pipeline trained from
scratch every round (``pipeline.init=scratch``: ``train.steps`` at ``train.lr``, the paper's choice). Round 1's
pseudo labels depend only on round 0's network, which both share, so the scratch run folder
``runs/<name>_scratch`` starts with hard links to the main run's round 0 and round-1 labels; later rounds (``--rounds``,
cpu default 1) compute their own. A control separates the two things a round changes: ``runs/<name>_samelabels``
fine-tunes round 0's network for as many steps and rounds as the main run, on round 0's own labels every round, so
the gain from better labels is what the main run adds over it. The main run is run (or resumed)
first if needed. Writes
experiments/results/round_init_<data>_<schedule>.md and .csv.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from common import add_dataset_args, config_path, load_config, piped, tag, write_table
from scribblesup.runs import RunDir, link_tree, read_csv


def seed_run(main_dir: Path, run_dir: Path, labels_of: dict[int, int]) -> None:
    """Start ``run_dir`` with the main run's round 0 and, for each round k, round ``labels_of[k]``'s pseudo labels."""
    main, run = RunDir(main_dir), RunDir(run_dir)
    link_tree(main.round(0).path, run.round(0).path)
    for k, source in labels_of.items():
        run.round(k).path.mkdir(parents=True, exist_ok=True)
        link_tree(main.round(source).pseudo, run.round(k).pseudo)
        if not run.round(k).labels_json.exists():
            os.link(main.round(source).labels_json, run.round(k).labels_json)


def round_rows(run_dir: Path, rounds: int, steps: list[int]) -> list[dict]:
    rows = read_csv(RunDir(run_dir).rounds_csv)[: rounds + 1]
    total = 0
    out = []
    for r in rows:
        k = int(r["round"])
        total += steps[k]
        out.append({"round": k, "steps": steps[k], "total_steps": total, "pseudo_miou": float(r["pseudo_miou"]),
                    "val_score": float(r["val_score"]), "train_seconds": float(r["train_seconds"])})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--rounds", type=int, help="rounds after round 0 to compare (default: cpu 1, else the config's)")
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule)
    path = config_path("scribblesup", args.dataset, args.schedule)
    base = load_config(path)
    rounds = args.rounds if args.rounds is not None else (1 if args.schedule == "cpu" else base.pipeline.rounds)
    if base.pipeline.init != "finetune":
        raise SystemExit(f"{path}: expected pipeline.init: finetune in the main config")
    main_rounds = base.pipeline.rounds
    main_dir = piped(load_config(path, [f"pipeline.rounds={max(rounds, main_rounds)}"]))
    scratch_name = f"{base.name}_scratch"
    scratch_dir = Path(base.output.root) / scratch_name
    seed_run(main_dir, scratch_dir, {1: 1})  # round 1's labels come from round 0's network: the same for both
    piped(load_config(path, [f"name={scratch_name}", "pipeline.init=scratch", f"pipeline.rounds={rounds}"]))
    same_name = f"{base.name}_samelabels"
    same_dir = Path(base.output.root) / same_name
    seed_run(main_dir, same_dir, {k: 0 for k in range(1, main_rounds + 1)})
    piped(load_config(path, [f"name={same_name}", f"pipeline.rounds={main_rounds}"]))

    steps0 = base.train.steps
    ft = base.pipeline.finetune_steps or steps0
    rows = []
    for init, run_dir, n, steps in (("finetune", main_dir, main_rounds, [steps0] + [ft] * main_rounds),
                                    ("scratch", scratch_dir, rounds, [steps0] * (rounds + 1)),
                                    ("finetune on round 0's labels (control)", same_dir, main_rounds,
                                     [steps0] + [ft] * main_rounds)):
        for r in round_rows(run_dir, n, steps):
            if r["round"] > 0 or run_dir == main_dir:
                rows.append({"init": init, **r, "steps_text": f"{r['steps']} / {r['total_steps']}"})
    score_name = json.loads(RunDir(main_dir).round(0).evaluation(base.data.val_split, "last").read_text())["score_name"]
    write_table(f"round_init_{t}", f"Rounds after round 0: fine-tune vs from scratch, {args.dataset} ({t})", rows,
                [("init", "init", ""), ("round", "round", ""), ("steps (this round / total)", "steps_text", ""),
                 ("pseudo-label mIoU (train)", "pseudo_miou", ".4f"), (f"validation {score_name}", "val_score", ".4f"),
                 ("training time (s)", "train_seconds", ".0f")],
                notes=[f"Fine-tune: {ft} steps at lr {base.pipeline.finetune_lr or base.train.lr:g} from the previous "
                       f"round's network; scratch: {steps0} steps at lr {base.train.lr:g} from a fresh initialisation. "
                       "Round 0 is shared. The control fine-tunes round 0's network on round 0's labels again: what "
                       "extra steps alone give."],
                csv_fields=["init", "round", "steps", "total_steps", "pseudo_miou", "val_score", "train_seconds"])


if __name__ == "__main__":
    main()
