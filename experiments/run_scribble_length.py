"""The scribble-length ablation of the ScribbleSup paper: each stroke shrunk to 1, 0.5, 0.3, 0.1 of its length,
and to a click (one pixel per stroke), then the ScribbleSup pipeline on the shrunk scribbles.

    python experiments/run_scribble_length.py --dataset acdc --schedule cpu
    python experiments/run_scribble_length.py --dataset camvid --schedule cpu

The training split's scribbles are shrunk once into runs/scribbles/<data>_ratio<r>/ (seeded per image:
scribblesup.scribbles.shrink_scribbles); the pipeline config is experiments/configs/scribblesup_<data>_<schedule>.yaml
with ``data.scribble_dir`` pointing there. ``--rounds`` (cpu default 0: round 0's graph cut and training only;
otherwise the config's rounds) keeps the CPU budget. Ratio 1 is the main run's scribbles (the same run folder
when it has the rounds asked for). Writes experiments/results/scribble_length_<data>_<schedule>[_round<R>].md, .csv
and figures/scribble_length_<data>_<schedule>[_round<R>].png (the suffix when ``--rounds`` is not the default).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scribblesup.config import load_config
from scribblesup.conventions import UNLABELLED
from scribblesup.io import read_label_png, write_label_png
from scribblesup.pipeline import cache_folder, cache_region_graphs, label_inference, propagation_params, run_pipeline
from scribblesup.scribbles import sample_seed, shrink_scribbles
from scribblesup.train import open_split

DATA_TAG = {"acdc": "acdc-fold1", "camvid": "camvid"}
RATIOS = [1.0, 0.5, 0.3, 0.1, 0.0]


def write_shrunk(config: dict, ratio: float, folder: Path | None, seed: int = 0) -> float:
    """Shrunk scribbles of the training split into ``folder`` (kept if there); returns the scribbled-pixel fraction.

    ``folder=None`` only measures the dataset's own scribbles.
    """
    dataset = open_split(config, config["data"]["train_split"])
    scribbled = total = 0
    for i in tqdm(dataset.ids, desc=f"scribbles at length {ratio:g}", unit="img"):
        path = folder / f"{i}.png" if folder else None
        if path is not None and path.is_file():
            out = read_label_png(path)
        else:
            out = shrink_scribbles(dataset.load(i).scribble, ratio, sample_seed(seed, i))
            if path is not None:
                write_label_png(path, out, dataset.info.palette)
        scribbled += int((out != UNLABELLED).sum())
        total += out.size
    return scribbled / total


def labels_only_row(base: dict, path: Path, ratio: float, coverage: float, folder: Path | None) -> dict:
    """Round 0's pseudo labels of the shrunk scribbles, scored; no training."""
    config = load_config(path, [f"data.scribble_dir={folder}"] if folder else [])
    params = propagation_params(config)
    dataset = open_split(config, config["data"]["train_split"])
    graphs = cache_region_graphs(dataset, cache_folder(config, params), params, config["pipeline"]["workers"])
    out = Path(base["output"]["root"]) / "scribble_length_labels" / f"{base['name']}_ratio{ratio:g}"
    result = label_inference(dataset, out, graphs, params, workers=config["pipeline"]["workers"])
    return {"ratio": ratio, "scribbled_pixels_pct": 100 * coverage, "pseudo_miou": result["pseudo"]["miou"],
            "score": float("nan"), "score_name": "(not trained)", "run": str(out)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATA_TAG), required=True)
    ap.add_argument("--schedule", default="cpu")
    ap.add_argument("--ratios", type=float, nargs="+", default=RATIOS)
    ap.add_argument("--rounds", type=int, help="pipeline rounds after round 0 (default: cpu 0, else the config's)")
    ap.add_argument("--labels-only", action="store_true",
                    help="round 0's pseudo labels only, no training (pseudo-label quality per length)")
    args = ap.parse_args()
    tag = f"{DATA_TAG[args.dataset]}_{args.schedule}"
    path = Path("experiments/configs") / f"scribblesup_{tag}.yaml"
    base = load_config(path)
    default_rounds = 0 if args.schedule == "cpu" else base["pipeline"]["rounds"]
    rounds = 0 if args.labels_only else (args.rounds if args.rounds is not None else default_rounds)
    rows = []
    t_start = time.time()
    main_dir = Path(base["output"]["root"]) / base["name"]
    for ratio in args.ratios:
        # ratio 1: the dataset's own scribbles (no folder); otherwise shrunk once into runs/scribbles/
        folder = None if ratio == 1 else Path(base["output"]["root"]) / "scribbles" / f"{tag}_ratio{ratio:g}"
        coverage = write_shrunk(base, ratio, folder)
        if args.labels_only:
            rows.append(labels_only_row(base, path, ratio, coverage, folder))
            print(rows[-1], flush=True)
            continue
        if folder is None and (main_dir / f"round{rounds}" / "eval_val_last.json").is_file():
            run_dir = main_dir  # the main run's first rounds are exactly this experiment
        else:
            overrides = [f"name={base['name']}_ratio{ratio:g}", f"pipeline.rounds={rounds}"]
            run_dir = run_pipeline(load_config(path, overrides + ([f"data.scribble_dir={folder}"] if folder else [])),
                                   resume=True)
        with (run_dir / "rounds.csv").open() as f:
            last = [r for r in csv.DictReader(f)][rounds]
        ev = json.loads((run_dir / f"round{rounds}" / "eval_val_last.json").read_text())
        rows.append({"ratio": ratio, "scribbled_pixels_pct": 100 * coverage, "pseudo_miou": float(last["pseudo_miou"]),
                     "score": ev["score"], "score_name": ev["score_name"], "run": str(run_dir)})
        print(rows[-1], flush=True)

    results = Path("experiments/results")
    suffix = "_labels" if args.labels_only else ("" if rounds == default_rounds else f"_round{rounds}")
    with (results / f"scribble_length_{tag}{suffix}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    score_name = rows[0]["score_name"]
    title = "round 0 pseudo labels only (no training)" if args.labels_only else f"after round {rounds}"
    lines = [f"# Scribble length: {args.dataset} ({tag}), {title}", "",
             "| length ratio | scribbled pixels (%) | pseudo-label mIoU (train) |"
             + ("" if args.labels_only else f" validation {score_name} |"), "|---|---|---|" + ("" if args.labels_only else "---|")]
    for r in rows:
        label = "click" if r["ratio"] == 0 else f"{r['ratio']:g}"
        lines.append(f"| {label} | {r['scribbled_pixels_pct']:.3f} | {r['pseudo_miou']:.4f} |"
                     + ("" if args.labels_only else f" {r['score']:.4f} |"))
    lines += ["", f"Command: `python experiments/run_scribble_length.py --dataset {args.dataset} --schedule "
              f"{args.schedule}{' --labels-only' if args.labels_only else ''}"
              f"{'' if args.rounds is None else f' --rounds {args.rounds}'}"
              f"{'' if args.ratios == RATIOS else ' --ratios ' + ' '.join(f'{r:g}' for r in args.ratios)}` ({(time.time() - t_start) / 60:.1f} min in the call that wrote this table)."]
    (results / f"scribble_length_{tag}{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    from scribblesup.figures import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = np.arange(len(rows))
    ax.plot(x, [r["pseudo_miou"] for r in rows], "o-", label="pseudo-label mIoU (train)")
    if not args.labels_only:
        ax.plot(x, [r["score"] for r in rows], "s-", label=f"validation {score_name}")
    ax.set_xticks(x, ["click" if r["ratio"] == 0 else f"{r['ratio']:g}" for r in rows])
    ax.set(xlabel="scribble length ratio", title=f"{args.dataset}: scribble length (round {rounds})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, results / "figures" / f"scribble_length_{tag}{suffix}.png")


if __name__ == "__main__":
    main()
