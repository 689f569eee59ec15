"""The main table: full supervision, pCE and ScribbleSup (rounds 0..R, with and without the pairwise term,
with and without CRF/MRF refinement at test time), all on the same network and schedule.

    python experiments/run_main_table.py --dataset acdc --schedule cpu
    python experiments/run_main_table.py --dataset camvid --schedule cpu

Configs: experiments/configs/unet_{full,pce}_<data>_<schedule>.yaml and scribblesup_<data>_<schedule>.yaml
(<data> = acdc-fold1 or camvid). Every run resumes if interrupted and is skipped when finished, so the command
can be rerun to (re)build the table. ``--nopairwise-rounds`` sets how many rounds the variant without the
pairwise term runs (cpu default 0: round 0 only, compared with round 0 of the main run).

Writes experiments/results/main_<data>_<schedule>.md and .csv, and figures
experiments/results/figures/rounds_<data>_<schedule>.png and qualitative_<data>_<schedule>.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from scribblesup.config import load_config
from scribblesup.crf import refine
from scribblesup.figures import plot_rounds, pseudo_labels_of, qualitative_grid
from scribblesup.inference import evaluate_model, predict_probabilities
from scribblesup.pipeline import cache_folder, load_region_graph, propagation_params, run_pipeline
from scribblesup.train import load_run, open_split, train

DATA_TAG = {"acdc": "acdc-fold1", "camvid": "camvid"}
CONFIGS = Path("experiments/configs")
RESULTS = Path("experiments/results")
REFINEMENTS = ("densecrf", "mrf")


def finished(run_dir: Path, config: dict) -> bool:
    return (run_dir / f"eval_{config['data']['val_split']}_last.json").is_file()


def train_baseline(path: Path) -> Path:
    config = load_config(path)
    run_dir = Path(config["output"]["root"]) / config["name"]
    if not finished(run_dir, config):
        train(config, resume=True)
    return run_dir


def run_scribblesup(path: Path, overrides=()) -> Path:
    config = load_config(path, overrides)
    run_dir = Path(config["output"]["root"]) / config["name"]
    run_pipeline(config, resume=True)
    return run_dir


def evaluation(run_dir: Path, method: str | None) -> dict:
    """Validation result of a run's last checkpoint, refined by ``method`` (cached in the run folder)."""
    suffix = f"_{method}" if method else ""
    path = run_dir / f"eval_val_last{suffix}.json"
    if not path.is_file():
        model, config, _ = load_run(run_dir, "last")
        ds = open_split(config, config["data"]["val_split"])
        t0 = time.perf_counter()
        result = evaluate_model(model, ds, config["data"]["input_size"], progress=True, refine=method)
        result["seconds"] = time.perf_counter() - t0
        path.write_text(json.dumps(result, indent=1))
    return json.loads(path.read_text())


def train_seconds(run_dir: Path) -> float:
    """Training wall time of a run from its scalars.csv (last logged time; resumed parts add up)."""
    import csv as _csv

    total, last = 0.0, 0.0
    with (run_dir / "scalars.csv").open() as f:
        for row in _csv.DictReader(f):
            s = float(row["seconds"])
            if s < last:  # the run was resumed: its clock restarted
                total += last
            last = s
    return total + last


def qualitative(ss_dir: Path, final_dir: Path, config: dict, out: Path, n: int = 3) -> Path:
    """Grid of n training images: image, scribbles, superpixels, pseudo labels per round, prediction,
    DenseCRF-refined prediction, ground truth."""
    dataset = open_split(config, config["data"]["train_split"])
    params = propagation_params(config)
    graphs = cache_folder(config, params)
    model, _, info = load_run(final_dir, "last")
    # images where every class of the dataset's ground truth is present, spread over the split
    picks = []
    for i in dataset.ids[len(dataset.ids) // (2 * n)::max(1, len(dataset.ids) // (4 * n))]:
        s = dataset.load(i)
        if len(np.unique(s.label[s.label != 255])) >= min(info.num_classes, 4):
            picks.append(s)
        if len(picks) == n:
            break
    rows = []
    for s in picks:
        probs = predict_probabilities(model, s.image, config["data"]["input_size"])
        row = {"image": s.image, "scribbles": s.scribble, "superpixels": load_region_graph(graphs / f"{s.id}.npz").labels}
        row.update(pseudo_labels_of(ss_dir, s.id))
        row["prediction"] = probs.argmax(0).astype(np.uint8)
        try:
            row["+ DenseCRF"] = refine(s.image, probs, "densecrf")
        except ImportError:
            row["+ MRF"] = refine(s.image, probs, "mrf")
        row["ground truth"] = s.label
        rows.append(row)
    return qualitative_grid(rows, out, info.palette)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATA_TAG), required=True)
    ap.add_argument("--schedule", default="cpu", help="cpu or gpu: which configs")
    ap.add_argument("--nopairwise-rounds", type=int, help="rounds of the no-pairwise variant (default: cpu 0, else all)")
    ap.add_argument("--skip-figures", action="store_true")
    args = ap.parse_args()
    tag = f"{DATA_TAG[args.dataset]}_{args.schedule}"
    t_start = time.time()

    full_dir = train_baseline(CONFIGS / f"unet_full_{tag}.yaml")
    pce_dir = train_baseline(CONFIGS / f"unet_pce_{tag}.yaml")
    ss_path = CONFIGS / f"scribblesup_{tag}.yaml"
    ss_config = load_config(ss_path)
    ss_dir = run_scribblesup(ss_path)
    rounds = ss_config["pipeline"]["rounds"]
    np_rounds = args.nopairwise_rounds if args.nopairwise_rounds is not None else (0 if args.schedule == "cpu" else rounds)
    np_dir = run_scribblesup(ss_path, [f"name={ss_config['name']}_nopairwise", "propagation.pairwise_weight=0",
                                       f"pipeline.rounds={np_rounds}"])

    full = evaluation(full_dir, None)
    score_name = full["score_name"]
    rows = []

    def add(method, run_dir, pseudo=None, refined=True, steps=None):
        r = {"method": method, "run": str(run_dir), "pseudo_miou": pseudo, "steps": steps}
        for m in (None,) + (REFINEMENTS if refined else ()):
            ev = evaluation(run_dir, m)
            r[f"score{'_' + m if m else ''}"] = ev["score"]
            if m is None:
                r["miou"] = ev["confusion"]["miou"]
                r["hd95"] = ev.get("mean_hd95")
        r["train_minutes"] = train_seconds(run_dir) / 60
        rows.append(r)

    def rounds_of(run_dir):
        with (run_dir / "rounds.csv").open() as f:
            return list(csv.DictReader(f))

    add("full supervision", full_dir, steps=load_config(CONFIGS / f"unet_full_{tag}.yaml")["train"]["steps"])
    add("pCE (scribbles only)", pce_dir, steps=load_config(CONFIGS / f"unet_pce_{tag}.yaml")["train"]["steps"])
    t = ss_config["train"]["steps"]
    ft = ss_config["pipeline"]["finetune_steps"] or t
    for row in rounds_of(ss_dir):
        k = int(row["round"])
        add(f"ScribbleSup, round {k}", ss_dir / f"round{k}", float(row["pseudo_miou"]), refined=(k == rounds),
            steps=t + k * ft if ss_config["pipeline"]["init"] == "finetune" else t)
    for row in rounds_of(np_dir):
        k = int(row["round"])
        add(f"ScribbleSup without pairwise, round {k}", np_dir / f"round{k}", float(row["pseudo_miou"]),
            refined=(k == np_rounds), steps=t + k * ft if ss_config["pipeline"]["init"] == "finetune" else t)

    for r in rows:
        r["pct_of_full"] = 100 * r["score"] / full["score"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    fields = ["method", "steps", "pseudo_miou", "score", "score_densecrf", "score_mrf", "pct_of_full", "miou", "hd95",
              "train_minutes", "run"]
    with (RESULTS / f"main_{tag}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def fmt(v, spec=".4f"):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    extra_columns = score_name != "mIoU"  # mean Dice (ACDC) also shows mIoU and HD95; CamVid's score is the mIoU
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [f"# Main table: {args.dataset} ({tag}), validation {score_name}",
             "", f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, "
             f"{'CUDA' if torch.cuda.is_available() else 'CPU only'}; commit {commit}. "
             f"Same network (UNet width {ss_config['model']['width']}) and input size for every row; `steps` = total "
             "training steps (ScribbleSup: round 0 from scratch plus fine-tuning rounds).", "",
             f"| method | steps | pseudo-label mIoU (train) | {score_name} | + DenseCRF | + MRF | % of full | "
             + ("mIoU | HD95 (px) | " if extra_columns else "") + "training (min) |",
             "|---|---|---|---|---|---|---|" + ("---|---|" if extra_columns else "") + "---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['steps']} | {fmt(r['pseudo_miou'])} | {fmt(r['score'])} | "
                     f"{fmt(r.get('score_densecrf'))} | {fmt(r.get('score_mrf'))} | {fmt(r['pct_of_full'], '.1f')} | "
                     + (f"{fmt(r['miou'])} | {fmt(r['hd95'], '.2f')} | " if extra_columns else "")
                     + f"{fmt(r['train_minutes'], '.1f')} |")
    lines += ["", f"Command: `python experiments/run_main_table.py --dataset {args.dataset} --schedule {args.schedule}`"
              f" ({(time.time() - t_start) / 60:.1f} min in the call that wrote this table; runs it found finished "
              "were not retrained). Pseudo-label times per round are in each run's rounds.csv."]
    (RESULTS / f"main_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    if not args.skip_figures:
        figures = RESULTS / "figures"
        refs = {"full supervision": full["score"], "pCE": evaluation(pce_dir, None)["score"]}
        plot_rounds({"ScribbleSup": ss_dir, "without pairwise": np_dir}, figures / f"rounds_{tag}.png", score_name,
                    refs, title=f"{args.dataset}, {args.schedule} schedule")
        qualitative(ss_dir, ss_dir / f"round{rounds}", ss_config, figures / f"qualitative_{tag}.png")
        print(f"figures in {figures}")


if __name__ == "__main__":
    main()
