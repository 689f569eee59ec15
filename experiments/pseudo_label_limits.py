"""Where the pseudo labels lose: the superpixel ceiling, and pixel-level refinement of a round's pseudo labels.

On every N-th training image of a pipeline run:
- the superpixel ceiling: each superpixel given its ground-truth majority class (the best any superpixel
  labelling can score);
- round r's graph-cut pseudo labels, and round r-1's network argmax (restricted to the scribbled classes);
- pixel-level refinement of round r's pseudo labels: the grid MRF and DenseCRF on
  ``a * onehot(pseudo) + (1 - a) * P`` (P: round r-1's network), scribbled pixels kept.

    python experiments/pseudo_label_limits.py --run runs/scribblesup_acdc-fold1_cpu --round 2 --every 10

Writes experiments/results/pseudo_label_limits_<dataset>.md and .csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common import every_nth, load_config, write_table
from scribblesup.crf import DenseCRFParams, densecrf, refinement_options
from scribblesup.graphcut import grid_mrf, probability_unary
from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.metrics import ConfusionMatrix
from scribblesup.conventions import UNLABELLED, as_float_image
from scribblesup.datasets import open_split
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run


def superpixel_ceiling(superpixels: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Each superpixel labelled with its ground-truth majority class."""
    lab = np.where(label >= k, k, label).astype(np.int64)
    n = int(superpixels.max()) + 1
    counts = np.bincount(superpixels.ravel().astype(np.int64) * (k + 1) + lab.ravel(), minlength=n * (k + 1))
    return counts.reshape(n, k + 1)[:, :k].argmax(1)[superpixels]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="pipeline run folder")
    ap.add_argument("--round", type=int, default=2, help="round r >= 1 whose pseudo labels are examined")
    ap.add_argument("--every", type=int, default=10)
    args = ap.parse_args()
    run = RunDir(args.run)
    config = load_config(run.config)
    model, _, info = load_run(run.round(args.round - 1).path, "last")
    dataset = every_nth(open_split(config.data, config.data.train_split), args.every)
    cache = region_graph_cache(config)
    k = info.num_classes
    crf_options = refinement_options(info.name, "densecrf")
    mrf_weight = refinement_options(info.name, "mrf").get("weight", 1.0)
    names = ["superpixel ceiling (ground-truth majority per superpixel)", f"round {args.round} graph-cut pseudo labels",
             f"round {args.round - 1} network argmax (scribbled classes only)"]
    names += [f"pixel MRF on a*pseudo + (1-a)*P, a = {a}" for a in (0.5, 0.8)]
    names += [f"DenseCRF on a*pseudo + (1-a)*P, a = {a}" for a in (0.5, 0.8)]
    scores = {n: ConfusionMatrix(k) for n in names}
    ids = dataset.ids
    for i in ids:
        s = dataset.load(i)
        image = as_float_image(s.image)
        pseudo = read_label_png(run.round(args.round).pseudo / f"{i}.png")
        p = predict_probabilities(model, s.image, config.data.input_size)
        allowed = np.zeros(k, bool)
        allowed[np.unique(s.scribble[s.scribble != UNLABELLED])] = True
        p = p * allowed[:, None, None]
        p /= p.sum(0, keepdims=True)
        scribbled = s.scribble != UNLABELLED
        outs = [superpixel_ceiling(cache.get(i, s.image).labels, s.label, k), pseudo, p.argmax(0)]
        onehot = np.eye(k)[np.minimum(pseudo, k - 1)].transpose(2, 0, 1)
        for a in (0.5, 0.8):
            out = grid_mrf(image, probability_unary(a * onehot + (1 - a) * p), weight=mrf_weight)
            out[scribbled] = s.scribble[scribbled]
            outs.append(out)
        for a in (0.5, 0.8):
            out = densecrf(image, a * onehot + (1 - a) * p, DenseCRFParams(**crf_options)).argmax(0)
            out[scribbled] = s.scribble[scribbled]
            outs.append(out)
        for n, out in zip(names, outs):
            scores[n].update(s.label, out)
    rows = [{"labels": n, "miou": scores[n].miou, **dict(zip(info.class_names, scores[n].iou))} for n in names]
    write_table(f"pseudo_label_limits_{info.name}", f"Pseudo-label limits, {info.name}: round {args.round} of "
                f"`{args.run}`", rows, [("labels", "labels", ""), ("mIoU", "miou", ".4f")]
                + [(c, c, ".3f") for c in info.class_names],
                notes=[f"{len(ids)} training images (every {args.every}-th); IoU against ground truth."])


if __name__ == "__main__":
    main()
