"""Choose lambda, the weight of the network unary -log P, by measurement on a training subset.

Takes a pipeline run whose round k is trained, and runs round k+1's label
inference (scribble unary + lambda * network unary + pairwise) on every N-th
training image for several lambdas, scoring the pseudo labels against ground
truth. Also reports the network's own argmax (restricted to nothing) on the
same images, and round k's pseudo labels, as references.

    python experiments/tune_network_weight.py --run runs/scribblesup_acdc-fold1_cpu --round 0 --every 5
    python experiments/tune_network_weight.py --run runs/scribblesup_camvid_cpu --round 0 --every 4

Writes experiments/results/tune_network_weight_<dataset>.md and .json.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.metrics import ConfusionMatrix
from scribblesup.pipeline import cache_folder, label_inference, propagation_params
from scribblesup.train import load_run, open_split

WEIGHTS = [0.1, 0.3, 1.0, 3.0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="pipeline run folder")
    ap.add_argument("--round", type=int, default=0, help="the trained round whose network gives the unary")
    ap.add_argument("--every", type=int, default=5, help="every N-th training image")
    ap.add_argument("--weights", type=float, nargs="+", default=WEIGHTS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = ap.parse_args()

    import yaml

    config = yaml.safe_load((args.run / "config.yaml").read_text())
    params = propagation_params(config)
    dataset = open_split(config, config["data"]["train_split"])
    subset = copy.copy(dataset)
    subset.ids = dataset.ids[:: args.every]
    graph_dir = cache_folder(config, params)
    model, _, info = load_run(args.run / f"round{args.round}", "last")
    size = config["data"]["input_size"]
    k = info.num_classes

    network, previous = ConfusionMatrix(k), ConfusionMatrix(k)
    for i in subset.ids:
        s = subset.load(i)
        network.update(s.label, predict_probabilities(model, s.image, size).argmax(0))
        previous.update(s.label, read_label_png(args.run / f"round{args.round}" / "pseudo" / f"{i}.png"))
    rows = [("network argmax (no graph cut)", network.miou, None), (f"round {args.round} pseudo labels", previous.miou, None)]
    for w in args.weights:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            r = label_inference(subset, tmp, graph_dir, replace(params, network_weight=w), model, size,
                                workers=args.workers, progress=False)
            rows.append((f"graph cut, lambda = {w:g}", r["pseudo"]["miou"], time.perf_counter() - t0))
            print(rows[-1], flush=True)
    name = config["data"]["dataset"]
    lines = [f"# Network-unary weight lambda, {name}: label inference after round {args.round}",
             "", f"{len(subset.ids)} training images (every {args.every}-th), pseudo-label mIoU against ground truth; "
             f"run `{args.run}`.", "", "| labels | mIoU | seconds |", "|---|---|---|"]
    lines += [f"| {n} | {m:.4f} | {'' if t is None else f'{t:.0f}'} |" for n, m, t in rows]
    best = max((r for r in rows if r[0].startswith("graph cut")), key=lambda r: r[1])
    lines += ["", f"Best: {best[0]} ({best[1]:.4f})."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"tune_network_weight_{name}.md").write_text("\n".join(lines) + "\n")
    (args.out / f"tune_network_weight_{name}.json").write_text(
        json.dumps([{"labels": n, "miou": m, "seconds": t} for n, m, t in rows], indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
