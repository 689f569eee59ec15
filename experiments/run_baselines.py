"""Train the baseline configs (full supervision and pCE) and collect their validation scores.

    python experiments/run_baselines.py experiments/configs/unet_full_acdc-fold1_cpu.yaml ...

Each run resumes if it was interrupted; the table goes to experiments/results/baselines_cpu.md
(ACDC: mean Dice and HD95 per 3D volume over RV, Myo, LV; CamVid: mIoU), with each run's wall time.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from scribblesup.config import load_config
from scribblesup.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("experiments/results/baselines_cpu.md"))
    args = ap.parse_args()
    rows = []
    for path in args.configs:
        config = load_config(path)
        run_dir = Path(config["output"]["root"]) / config["name"]
        t0 = time.time()
        if not (run_dir / f"eval_{config['data']['val_split']}_last.json").is_file():
            train(config, resume=True)
        result = json.loads((run_dir / f"eval_{config['data']['val_split']}_last.json").read_text())
        seconds = time.time() - t0
        rows.append((config["name"], config["data"]["supervision"], result, seconds))
        print(f"{config['name']}: {result['score_name']} {result['score']:.4f} ({seconds:.0f} s)", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"# Baselines, CPU schedule ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, commit {commit})",
        "",
        "| config | supervision | validation score | mIoU | mean Dice | mean HD95 (px) | wall time (this call) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sup, r, s in rows:
        dice = f"{r['mean_dice']:.4f}" if "mean_dice" in r else "-"
        hd = f"{r['mean_hd95']:.2f}" if "mean_hd95" in r else "-"
        lines.append(f"| {name} | {sup} | {r['score_name']} {r['score']:.4f} | {r['confusion']['miou']:.4f} | {dice} | {hd} | {s / 60:.1f} min |")
    lines += ["", "Command: `python experiments/run_baselines.py " + " ".join(map(str, args.configs)) + "`",
              "Scores are of the last checkpoint on the validation split (ACDC: fold 1's 20 held-out patients, 40 volumes; CamVid: val, 101 images)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
