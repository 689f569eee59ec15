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
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common import FIGURES, add_dataset_args, config_path, load_config, piped, tag, write_table
from scribblesup.config import Config
from scribblesup.conventions import UNLABELLED
from scribblesup.datasets import open_split
from scribblesup.figures import pyplot, save_figure
from scribblesup.io import read_label_png, write_label_png
from scribblesup.labelling import label_dataset
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, read_csv
from scribblesup.scribbles import sample_seed, shrink_scribbles

RATIOS = [1.0, 0.5, 0.3, 0.1, 0.0]


def write_shrunk(config: Config, ratio: float, folder: Path | None, seed: int = 0) -> float:
    """Shrunk scribbles of the training split into ``folder`` (kept if there); returns the scribbled-pixel fraction.

    ``folder=None`` only measures the dataset's own scribbles.
    """
    dataset = open_split(config.data, config.data.train_split)
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


def labels_only_row(base: Config, path: Path, ratio: float, coverage: float, folder: Path | None) -> dict:
    """Round 0's pseudo labels of the shrunk scribbles, scored; no training."""
    config = load_config(path, [f"data.scribble_dir={folder}"] if folder else [])
    dataset = open_split(config.data, config.data.train_split)
    workers = config.pipeline.workers
    cache = region_graph_cache(config).fill(dataset, workers)
    out = Path(base.output.root) / "scribble_length_labels" / f"{base.name}_ratio{ratio:g}"
    result = label_dataset(dataset, out, config.propagation_params(), cache=cache, workers=workers)
    return {"ratio": ratio, "scribbled_pixels_pct": 100 * coverage, "pseudo_miou": result.confusion.miou,
            "score": float("nan"), "score_name": "(not trained)", "run": str(out)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--ratios", type=float, nargs="+", default=RATIOS)
    ap.add_argument("--rounds", type=int, help="pipeline rounds after round 0 (default: cpu 0, else the config's)")
    ap.add_argument("--labels-only", action="store_true",
                    help="round 0's pseudo labels only, no training (pseudo-label quality per length)")
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule)
    path = config_path("scribblesup", args.dataset, args.schedule)
    base = load_config(path)
    default_rounds = 0 if args.schedule == "cpu" else base.pipeline.rounds
    rounds = 0 if args.labels_only else (args.rounds if args.rounds is not None else default_rounds)
    rows = []
    main_run = RunDir(base.run_dir())
    for ratio in args.ratios:
        # ratio 1: the dataset's own scribbles (no folder); otherwise shrunk once into runs/scribbles/
        folder = None if ratio == 1 else Path(base.output.root) / "scribbles" / f"{t}_ratio{ratio:g}"
        coverage = write_shrunk(base, ratio, folder)
        if args.labels_only:
            rows.append(labels_only_row(base, path, ratio, coverage, folder))
            print(rows[-1], flush=True)
            continue
        if folder is None and main_run.round(rounds).evaluation(base.data.val_split, "last").is_file():
            run = main_run  # the main run's first rounds are exactly this experiment
        else:
            overrides = [f"name={base.name}_ratio{ratio:g}", f"pipeline.rounds={rounds}"]
            run = RunDir(piped(load_config(path, overrides + ([f"data.scribble_dir={folder}"] if folder else []))))
        last = read_csv(run.rounds_csv)[rounds]
        ev = json.loads(run.round(rounds).evaluation(base.data.val_split, "last").read_text())
        rows.append({"ratio": ratio, "scribbled_pixels_pct": 100 * coverage, "pseudo_miou": float(last["pseudo_miou"]),
                     "score": ev["score"], "score_name": ev["score_name"], "run": str(run.path)})
        print(rows[-1], flush=True)

    suffix = "_labels" if args.labels_only else ("" if rounds == default_rounds else f"_round{rounds}")
    score_name = rows[0]["score_name"]
    for r in rows:
        r["length"] = "click" if r["ratio"] == 0 else f"{r['ratio']:g}"
    title = "round 0 pseudo labels only (no training)" if args.labels_only else f"after round {rounds}"
    columns = [("length ratio", "length", ""), ("scribbled pixels (%)", "scribbled_pixels_pct", ".3f"),
               ("pseudo-label mIoU (train)", "pseudo_miou", ".4f")]
    if not args.labels_only:
        columns.append((f"validation {score_name}", "score", ".4f"))
    write_table(f"scribble_length_{t}{suffix}", f"Scribble length: {args.dataset} ({t}), {title}", rows, columns,
                csv_fields=["ratio", "scribbled_pixels_pct", "pseudo_miou", "score", "score_name", "run"])

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = np.arange(len(rows))
    ax.plot(x, [r["pseudo_miou"] for r in rows], "o-", label="pseudo-label mIoU (train)")
    if not args.labels_only:
        ax.plot(x, [r["score"] for r in rows], "s-", label=f"validation {score_name}")
    ax.set_xticks(x, [r["length"] for r in rows])
    ax.set(xlabel="scribble length ratio", title=f"{args.dataset}: scribble length (round {rounds})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, FIGURES / f"scribble_length_{t}{suffix}.png")


if __name__ == "__main__":
    main()
