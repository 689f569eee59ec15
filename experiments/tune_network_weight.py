"""Choose lambda, the weight of the network unary -log P, by measurement on a training subset.

Takes a pipeline run whose round k is trained, and runs round k+1's label
inference (scribble unary + lambda * network unary + pairwise) on every N-th
training image for several lambdas, scoring the pseudo labels against ground
truth. Also reports the network's own argmax (restricted to nothing) on the
same images, and round k's pseudo labels, as references.

    python experiments/tune_network_weight.py --run runs/scribblesup_acdc-fold1_cpu --round 0 --every 5
    python experiments/tune_network_weight.py --run runs/scribblesup_camvid_cpu --round 0 --every 4

Writes experiments/results/tune_network_weight_<dataset>.md, .csv and .json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import RESULTS, every_nth, load_config, write_table
from scribblesup.datasets import open_split
from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.labelling import label_dataset
from scribblesup.metrics import ConfusionMatrix
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run

WEIGHTS = [0.1, 0.3, 1.0, 3.0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="pipeline run folder")
    ap.add_argument("--round", type=int, default=0, help="the trained round whose network gives the unary")
    ap.add_argument("--every", type=int, default=5, help="every N-th training image")
    ap.add_argument("--weights", type=float, nargs="+", default=WEIGHTS)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    run = RunDir(args.run)
    config = load_config(run.config)
    params = config.propagation_params()
    subset = every_nth(open_split(config.data, config.data.train_split), args.every)
    cache = region_graph_cache(config)
    model, _, info = load_run(run.round(args.round).path, "last")
    size = config.data.input_size
    k = info.num_classes

    network, previous = ConfusionMatrix(k), ConfusionMatrix(k)
    for i in subset.ids:
        s = subset.load(i)
        network.update(s.label, predict_probabilities(model, s.image, size).argmax(0))
        previous.update(s.label, read_label_png(run.round(args.round).pseudo / f"{i}.png"))
    rows = [{"labels": "network argmax (no graph cut)", "miou": network.miou, "seconds": None},
            {"labels": f"round {args.round} pseudo labels", "miou": previous.miou, "seconds": None}]
    for w in args.weights:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            r = label_dataset(subset, tmp, replace(params, network_weight=w), cache=cache, model=model,
                              input_size=size, workers=args.workers, progress=False)
            rows.append({"labels": f"graph cut, lambda = {w:g}", "miou": r.confusion.miou,
                         "seconds": time.perf_counter() - t0})
            print(rows[-1], flush=True)
    name = config.data.dataset
    best = max((r for r in rows if r["labels"].startswith("graph cut")), key=lambda r: r["miou"])
    write_table(f"tune_network_weight_{name}", f"Network-unary weight lambda, {name}: label inference after round "
                f"{args.round}", rows, [("labels", "labels", ""), ("mIoU", "miou", ".4f"), ("seconds", "seconds", ".0f")],
                notes=[f"{len(subset.ids)} training images (every {args.every}-th), pseudo-label mIoU against ground "
                       f"truth; run `{args.run}`. Best: {best['labels']} ({best['miou']:.4f})."])
    (RESULTS / f"tune_network_weight_{name}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
