"""Time one label-inference round over the training set, and refinement per image, against peers in the same run.

- a label-inference round with the network unary (network prediction + graph cut per image, cached region
  graphs), over the whole training split, against one training epoch of the same network (the same number of
  images through forward + backward + AdamW at the training input size and batch);
- building the region-graph cache (superpixels + features), once per dataset;
- DenseCRF and the grid MRF per validation image, against the network's forward pass on that image.

    python experiments/bench_label_inference.py --run runs/scribblesup_acdc-fold1_cpu
    python experiments/bench_label_inference.py --run runs/scribblesup_camvid_cpu

Writes experiments/results/bench_label_inference_<dataset>.md and .csv.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import load_config, spread, write_table
from scribblesup.crf import refine, refinement_options
from scribblesup.datasets import open_split
from scribblesup.inference import predict_probabilities
from scribblesup.labelling import RegionGraphCache, label_dataset
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run
from scribblesup.train import TrainingSamples, batch_for_step, make_optimizer, partial_cross_entropy


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a pipeline run with round 0 trained")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache-images", type=int, default=100, help="images for the cache-building time")
    ap.add_argument("--refine-images", type=int, default=30)
    args = ap.parse_args()
    run = RunDir(args.run)
    config = load_config(run.config)
    params = config.propagation_params()
    model, _, info = load_run(run.round(0).path, "last", torch.device("cpu"))
    dataset = open_split(config.data, config.data.train_split)
    size = config.data.input_size
    n = len(dataset.ids)

    cache = region_graph_cache(config).fill(dataset, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        label_dataset(dataset, tmp, params, cache=cache, model=model, input_size=size, workers=args.workers)
        label_round = time.perf_counter() - t0

    # one training epoch of the same network on the same images
    cfg = copy.deepcopy(config)
    cfg.data.supervision = "full"
    samples = TrainingSamples(cfg)
    net = copy.deepcopy(model).train()
    opt = make_optimizer(net, cfg)
    steps = max(1, n // cfg.train.batch_size)
    t0 = time.perf_counter()
    for step in range(steps):
        x, y = batch_for_step(samples, step, cfg)
        loss = partial_cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    epoch = time.perf_counter() - t0

    sub = spread(dataset, args.cache_images)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        RegionGraphCache(tmp, params).fill(sub, workers=1, progress=False)
        cache_per_image = (time.perf_counter() - t0) / len(sub.ids)

    val = spread(open_split(config.data, config.data.val_split), args.refine_images)
    timing = {"forward": [], "densecrf": [], "mrf": []}
    for i in val.ids:
        s = val.load(i)
        t0 = time.perf_counter()
        probs = predict_probabilities(model, s.image, size)
        timing["forward"].append(time.perf_counter() - t0)
        for method in ("densecrf", "mrf"):
            t0 = time.perf_counter()
            refine(s.image, probs, method, **refinement_options(info.name, method))
            timing[method].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in timing.items()}
    rows = [
        {"what": f"label-inference round with the network unary, {n} training images",
         "time": f"{label_round:.1f} s ({1000 * label_round / n:.1f} ms/image)", "ratio": label_round / epoch,
         "peer": f"one training epoch ({steps} steps of {cfg.train.batch_size}): {epoch:.1f} s"},
        {"what": "region-graph cache (superpixels + features), per image, 1 process",
         "time": f"{1000 * cache_per_image:.1f} ms", "ratio": cache_per_image * n / epoch,
         "peer": "the same epoch (whole split)"},
        {"what": f"DenseCRF per validation image (median of {len(timing['forward'])})",
         "time": f"{1000 * med['densecrf']:.1f} ms", "ratio": med["densecrf"] / med["forward"],
         "peer": f"network forward {1000 * med['forward']:.1f} ms"},
        {"what": "grid MRF per validation image", "time": f"{1000 * med['mrf']:.1f} ms",
         "ratio": med["mrf"] / med["forward"], "peer": "the same forward"},
    ]
    write_table(f"bench_label_inference_{info.name}", f"Label inference and refinement time, {info.name}", rows,
                [("what", "what", ""), ("time", "time", ""), ("ratio to peer", "ratio", ".2f"), ("peer", "peer", "")],
                notes=[f"{args.workers} graph-cut workers."])


if __name__ == "__main__":
    main()
