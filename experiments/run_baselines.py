"""Train the baseline configs (full supervision and pCE) and collect their validation scores.

    python experiments/run_baselines.py experiments/configs/unet_full_acdc-fold1_cpu.yaml ...

Each run resumes if it was interrupted; the table goes to experiments/results/baselines_cpu.md (and .csv)
(ACDC: mean Dice and HD95 per 3D volume over RV, Myo, LV; CamVid: mIoU), with each run's training time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import evaluation, load_config, trained, write_table
from scribblesup.runs import RunDir, train_seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+", type=Path)
    ap.add_argument("--name", default="baselines_cpu", help="table name under experiments/results/")
    args = ap.parse_args()
    rows = []
    for path in args.configs:
        config = load_config(path)
        run_dir = trained(config)
        r = evaluation(run_dir)
        rows.append({"config": config.name, "supervision": config.data.supervision,
                     "score": f"{r['score_name']} {r['score']:.4f}", "miou": r["confusion"]["miou"],
                     "mean_dice": r.get("mean_dice"), "mean_hd95": r.get("mean_hd95"),
                     "train_minutes": train_seconds(RunDir(run_dir)) / 60})
        print(rows[-1], flush=True)
    write_table(args.name, "Baselines", rows, [
        ("config", "config", ""), ("supervision", "supervision", ""), ("validation score", "score", ""),
        ("mIoU", "miou", ".4f"), ("mean Dice", "mean_dice", ".4f"), ("mean HD95 (px)", "mean_hd95", ".2f"),
        ("training (min)", "train_minutes", ".1f")],
        notes=["Scores are of the last checkpoint on the validation split (ACDC: fold 1's 20 held-out patients, "
               "40 volumes; CamVid: val, 101 images)."])


if __name__ == "__main__":
    main()
