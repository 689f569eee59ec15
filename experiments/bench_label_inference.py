"""Time one label-inference round over the training set, and refinement per image, against peers in the same run.

- a label-inference round with the network unary (network prediction + graph cut per image, cached region
  graphs), over the whole training split, against one training epoch of the same network (the same number of
  images through forward + backward + AdamW at the training input size and batch);
- building the region-graph cache (superpixels + features), once per dataset;
- DenseCRF and the grid MRF per validation image, against the network's forward pass on that image.

    python experiments/bench_label_inference.py --run runs/scribblesup_acdc-fold1_cpu
    python experiments/bench_label_inference.py --run runs/scribblesup_camvid_cpu

Writes experiments/results/bench_label_inference_<dataset>.md.
"""

from __future__ import annotations

import argparse
import copy
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from scribblesup.crf import refine, refinement_options
from scribblesup.inference import predict_probabilities
from scribblesup.pipeline import cache_region_graphs, label_inference, propagation_params
from scribblesup.train import TrainingSamples, _optimizer, batch_for_step, load_run, open_split, partial_cross_entropy


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a pipeline run with round 0 trained")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache-images", type=int, default=100, help="images for the cache-building time")
    ap.add_argument("--refine-images", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = ap.parse_args()
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    params = propagation_params(config)
    model, _, info = load_run(args.run / "round0", "last", torch.device("cpu"))
    dataset = open_split(config, config["data"]["train_split"])
    size = config["data"]["input_size"]
    n = len(dataset.ids)

    from scribblesup.pipeline import cache_folder

    graphs = cache_region_graphs(dataset, cache_folder(config, params), params, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        label_inference(dataset, tmp, graphs, params, model, size, workers=args.workers)
        label_round = time.perf_counter() - t0

    # one training epoch of the same network on the same images
    cfg = copy.deepcopy(config)
    cfg["data"]["supervision"] = "full"
    samples = TrainingSamples(cfg)
    net = copy.deepcopy(model).train()
    opt = _optimizer(net, cfg)
    steps = max(1, n // cfg["train"]["batch_size"])
    t0 = time.perf_counter()
    for step in range(steps):
        x, y = batch_for_step(samples, step, cfg)
        loss = partial_cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    epoch = time.perf_counter() - t0

    sub = copy.copy(dataset)
    sub.ids = dataset.ids[:: max(1, n // args.cache_images)][: args.cache_images]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cache_region_graphs(sub, tmp, params, workers=1, progress=False)
        cache_per_image = (time.perf_counter() - t0) / len(sub.ids)

    val = open_split(config, config["data"]["val_split"])
    timing = {"forward": [], "densecrf": [], "mrf": []}
    for i in val.ids[:: max(1, len(val.ids) // args.refine_images)][: args.refine_images]:
        s = val.load(i)
        t0 = time.perf_counter()
        probs = predict_probabilities(model, s.image, size)
        timing["forward"].append(time.perf_counter() - t0)
        for method in ("densecrf", "mrf"):
            t0 = time.perf_counter()
            refine(s.image, probs, method, **refinement_options(info.name, method))
            timing[method].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in timing.items()}

    lines = [f"# Label inference and refinement time, {info.name}", "",
             f"{platform.machine()}, {torch.get_num_threads()} torch threads, {args.workers} graph-cut workers, CPU.", "",
             "| what | time | ratio to peer | peer |", "|---|---|---|---|",
             f"| label-inference round with the network unary, {n} training images | {label_round:.1f} s "
             f"({1000 * label_round / n:.1f} ms/image) | {label_round / epoch:.2f} | one training epoch "
             f"({steps} steps of {cfg['train']['batch_size']}): {epoch:.1f} s |",
             f"| region-graph cache (superpixels + features), per image, 1 process | {1000 * cache_per_image:.1f} ms | "
             f"{cache_per_image * n / epoch:.2f} (whole split) | the same epoch |",
             f"| DenseCRF per validation image (median of {len(timing['forward'])}) | {1000 * med['densecrf']:.1f} ms | "
             f"{med['densecrf'] / med['forward']:.1f} | network forward {1000 * med['forward']:.1f} ms |",
             f"| grid MRF per validation image | {1000 * med['mrf']:.1f} ms | {med['mrf'] / med['forward']:.1f} | "
             "the same forward |", "",
             f"Command: `python experiments/bench_label_inference.py --run {args.run}`"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench_label_inference_{info.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
