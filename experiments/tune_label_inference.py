"""Choose the label inference of rounds >= 1 (superpixel, pixel or refine level, the Potts weight, the refine level's
prior weight, the margin under which pixels stay unlabelled, the confidence under which the network abstains) on a
holdout subset of the training patients / images.

    python experiments/tune_label_inference.py --dataset acdc --holdout 8
    python experiments/tune_label_inference.py --dataset camvid --holdout 40

Takes round 0 of a main ScribbleSup run (``--recipe``'s ``<recipe>_<data>_<schedule>.yaml``, by default the paper's
``scribblesup``; run or resumed first: its network
trained on round 0's pseudo labels of every training image, as in the pipeline) and runs round 1's label inference
on the ``data.holdout`` groups of the training split (ACDC: whole patients; CamVid: images spread over the split)
under each setting of a grid, scoring the labels against those images' ground truth: mIoU (an unlabelled pixel
counts as wrong), the accuracy of the labelled pixels, and the share of pixels labelled. These are training images
with labels, never the split whose score is reported. References on the same images: round 0's pseudo labels and
the network's own argmax.

``--network RUN`` votes with another run's network instead: a holdout run's (``tune_on_holdout.py``, trained
without the held-out groups) gives the labels a cross-fitted round would draw, with a network that never learned
those images' labels.

Writes experiments/results/tune_label_inference_<data>_<schedule>.md, .csv and .json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import (RESULTS, add_dataset_args, checked_config, config_path, load_config, piped, tag, usage_error,
                    write_table)
from scribblesup.datasets import open_split
from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.labelling import RegionGraphCache, label_dataset
from scribblesup.metrics import ConfusionMatrix
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run


def scores(confusion: ConfusionMatrix, coverage: float) -> dict:
    labelled = confusion.matrix
    return {"miou": confusion.miou, "labelled_accuracy": float(np.trace(labelled) / max(labelled.sum(), 1)),
            "coverage": coverage}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--holdout", type=int, required=True, help="groups of the training split to score on")
    ap.add_argument("--network", type=Path, default=None, metavar="RUN",
                    help="vote with this run's network instead (a training run, or a pipeline's folder: its round 0), "
                         "e.g. a holdout run's, which never trained on the held-out images (cross-fitting)")
    ap.add_argument("--recipe", default="scribblesup",
                    help="the main run whose round 0 labels and network are used (its config "
                         "experiments/configs/<recipe>_<data>_<schedule>.yaml), e.g. scribblesup-bias-sw")
    ap.add_argument("--pixel-weights", type=float, nargs="*", default=[0.3, 1.0, 3.0])
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.2, 0.5])
    ap.add_argument("--confidences", type=float, nargs="*", default=[0.5, 0.7, 0.9],
                    help="superpixel level: network_confidence thresholds (the network abstains below them)")
    ap.add_argument("--refine-weights", type=float, nargs="*", default=[0.3, 1.0, 3.0],
                    help="refine level, with each of the --pixel-weights >= 1: refine_weight values")
    ap.add_argument("--segments", type=int, nargs="*", default=[],
                    help="superpixel level: n_segments values for rounds >= 1 (finer superpixels lift the ceiling the "
                         "region labels have where the network unary joins; round 0 keeps the config's)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="propagation overrides of every row (e.g. the recipe's propagation.class_bias=[0,0,0.1,0])")
    ap.add_argument("--suffix", default="", help="appended to the result files' name (a partial grid's own table)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule) + args.suffix
    path = config_path(args.recipe, args.dataset, args.schedule)
    checked_config(path, args.set)  # a bad --set stops here, before the main run is trained or resumed
    other = None
    if args.network is not None:  # a pipeline's folder votes with its round 0, a training run with itself
        other = RunDir(args.network).round(0) if RunDir(args.network).round(0).path.is_dir() else RunDir(args.network)
        if not other.last.is_file():
            usage_error(f"--network {args.network}: no finished network there ({other.last} is missing)")
        try:  # a planted or corrupt checkpoint stops here too, before the main run is trained or resumed
            voting = load_run(other.path, "last")
        except (OSError, ValueError) as exc:
            usage_error(f"--network {args.network}: {exc}")
    run = RunDir(piped(load_config(path)))
    config = load_config(run.config, [f"data.holdout={args.holdout}", *args.set])
    holdout = open_split(config.data, "holdout")
    params = config.propagation_params()
    cache = region_graph_cache(config).fill(holdout, args.workers, progress=False)
    voter = run.round(0).path if other is None else other.path
    model, _, info = load_run(voter, "last") if other is None else voting
    k, size = info.num_classes, config.data.input_size

    network, previous = ConfusionMatrix(k), ConfusionMatrix(k)
    for i in holdout.ids:
        s = holdout.load(i)
        network.update(s.label, predict_probabilities(model, s.image, size,
                                                         logit_offset=params.network_offset).argmax(0))
        previous.update(s.label, read_label_png(run.round(0).pseudo / f"{i}.png"))
    rows = [{"labels": "network argmax (the voting network, no graph cut"
             + (", with propagation.network_offset)" if params.network_offset else ")"), **scores(network, 1.0)},
            {"labels": "round 0 pseudo labels (scribbles + pairwise)", **scores(previous, 1.0)}]
    grid = [dict(level="superpixel", ignore_margin=m) for m in args.margins]
    grid += [dict(level="superpixel", network_confidence=c) for c in args.confidences]
    grid += [dict(level="pixel", pixel_weight=w, ignore_margin=m) for w in args.pixel_weights for m in args.margins]
    grid += [dict(level="refine", pixel_weight=w, refine_weight=r) for w in args.pixel_weights if w >= 1
             for r in args.refine_weights]
    grid += [dict(level="superpixel", n_segments=n) for n in args.segments]
    for setting in grid:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            setting_params = replace(params, **setting)
            # other superpixels than round 0's: their own region graphs (computed here, timed with the labels)
            own = (cache if setting_params.n_segments == params.n_segments
                   else RegionGraphCache(Path(tmp) / "cache", setting_params).fill(holdout, args.workers, progress=False))
            r = label_dataset(holdout, Path(tmp) / "labels", setting_params, cache=own, model=model, input_size=size,
                              workers=args.workers, progress=False)
            seconds = time.perf_counter() - t0
        label = ", ".join(f"{key} {v:g}" if isinstance(v, float) else f"{key} {v}" for key, v in setting.items())
        rows.append({"labels": f"round 1: {label}", **setting, **scores(r.confusion, r.coverage), "seconds": seconds,
                     **{f"iou_{n}": v for n, v in zip(info.class_names, r.confusion.iou)}})
        print(rows[-1], flush=True)
    full = [r for r in rows if "level" in r and r.get("ignore_margin", 0) == 0]
    best = max(full, key=lambda r: r["miou"])
    write_table(f"tune_label_inference_{t}", f"Label inference of rounds >= 1 on {args.holdout} held-out training "
                f"groups, {args.dataset} ({t})", rows,
                [("labels", "labels", ""), ("mIoU", "miou", ".4f"), ("labelled-pixel accuracy", "labelled_accuracy",
                 ".4f"), ("labelled share", "coverage", ".3f"), ("seconds", "seconds", ".0f")]
                + [(n, f"iou_{n}", ".3f") for n in info.class_names],
                notes=[f"{len(holdout.ids)} training images of the `data.holdout: {args.holdout}` groups, scored "
                       f"against their ground truth (an unlabelled pixel counts as wrong in the mIoU). Round 0: "
                       f"`{run.path}`; the voting network (and the argmax row): `{voter}`; lambda "
                       f"{params.network_weight:g} (the config's). Best without a margin: {best['labels']} "
                       f"({best['miou']:.4f})."
                       + (f" Propagation overrides of every row: {' '.join(args.set)}." if args.set else "")])
    (RESULTS / f"tune_label_inference_{t}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
