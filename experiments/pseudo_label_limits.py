"""Where the pseudo labels lose: the superpixel ceiling, and pixel-level refinement of a round's pseudo labels.

On every N-th training image of a pipeline run:
- the superpixel ceiling: each superpixel given its ground-truth majority class (the best any superpixel
  labelling can score);
- round r's graph-cut pseudo labels, and round r-1's network argmax (restricted to the scribbled classes);
- pixel-level refinement of round r's pseudo labels: the grid MRF and DenseCRF on
  ``a * onehot(pseudo) + (1 - a) * P`` (P: round r-1's network), scribbled pixels kept.

    python experiments/pseudo_label_limits.py --run runs/scribblesup_acdc-fold1_cpu --round 2 --every 10

Without a run, round 0 (scribbles and image only, no network) on every N-th training image of a dataset:
the superpixel ceiling of the default superpixels, the default graph cut, the same cut with a per-image
colour model of each scribbled class added to its unary (Boykov-Jolly's interactive graph cut: a joint RGB
histogram of the class's scribbled pixels, smoothed towards the image's), and the nearest scribble's class:

    python experiments/pseudo_label_limits.py --dataset camvid --root ../shared/data/CamVid --every 12

Writes experiments/results/pseudo_label_limits_<dataset>[_round0].md and .csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from common import every_nth, load_config, usage_error, write_table
from scribblesup.crf import DenseCRFParams, densecrf, refinement_options
from scribblesup.graphcut import grid_mrf, probability_unary
from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.metrics import ConfusionMatrix
from scribblesup.conventions import UNLABELLED, as_float_image
from scribblesup.datasets import open_dataset, open_split
from scribblesup.energy import Energy, network_unary
from scribblesup.graphcut import alpha_expansion
from scribblesup.pipeline import region_graph_cache
from scribblesup.propagation import build_energy, default_params, validate_image
from scribblesup.superpixels import build_region_graph
from scribblesup.runs import RunDir, load_run


def superpixel_ceiling(superpixels: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Each superpixel labelled with its ground-truth majority class."""
    lab = np.where(label >= k, k, label).astype(np.int64)
    n = int(superpixels.max()) + 1
    counts = np.bincount(superpixels.ravel().astype(np.int64) * (k + 1) + lab.ravel(), minlength=n * (k + 1))
    return counts.reshape(n, k + 1)[:, :k].argmax(1)[superpixels]


def colour_model_cost(image: np.ndarray, scribble: np.ndarray, k: int, bins: int = 8,
                      strength: float = 1.0) -> np.ndarray:
    """(K, H, W) -log p(colour | class), each class's joint histogram (``bins`` per channel) of its scribbled
    pixels in this image, smoothed towards the whole image's histogram with ``strength * bins**C`` pseudo-pixels
    (a class with no scribble gets the image's histogram)."""
    image = validate_image(image)
    index = np.zeros(image.shape[:2], np.int64)
    for c in range(image.shape[2]):
        index = index * bins + np.clip((image[..., c] * bins).astype(np.int64), 0, bins - 1)
    n_bins = bins ** image.shape[2]
    whole = np.bincount(index.ravel(), minlength=n_bins) + 1.0
    whole /= whole.sum()
    scribbled = scribble != UNLABELLED
    counts = np.bincount(scribble[scribbled].astype(np.int64) * n_bins + index[scribbled],
                         minlength=k * n_bins).reshape(k, n_bins)
    p = (counts + strength * n_bins * whole) / (counts.sum(1, keepdims=True) + strength * n_bins)
    return -np.log(p)[:, index]


def nearest_scribble(scribble: np.ndarray) -> np.ndarray:
    """Every pixel given the class of its nearest scribbled pixel (Euclidean)."""
    _, (rows, cols) = ndi.distance_transform_edt(scribble == UNLABELLED, return_indices=True)
    return scribble[rows, cols]


def round0_limits(dataset, colour_weights=(0.1, 0.3, 1.0)) -> tuple[list, dict]:
    """Round-0 labels of each image of ``dataset`` against the superpixel ceiling: (row names, ConfusionMatrix
    per row)."""
    info = dataset.info
    k = info.num_classes
    params = default_params(info.name)
    names = ["superpixel ceiling (ground-truth majority per superpixel)", "graph cut (round 0)"]
    names += [f"graph cut + colour model x {w}" for w in colour_weights]
    names += ["nearest scribble"]
    scores = {n: ConfusionMatrix(k) for n in names}
    for i in dataset.ids:
        s = dataset.load(i)
        image = validate_image(s.image)
        graph = build_region_graph(image, params.superpixels(image))
        energy = build_energy(graph, s.scribble, k, params)
        # each region's summed cost in units of the mean region (the class bias's scale): its mean cost x size
        colour = network_unary(graph.labels, np.exp(-colour_model_cost(image, s.scribble, k)))
        colour *= (graph.size / graph.size.mean())[:, None]
        scribbled = s.scribble != UNLABELLED
        outs = [superpixel_ceiling(graph.labels, s.label, k)]
        for w in (0.0, *colour_weights):
            cut = alpha_expansion(Energy(energy.unary + w * colour, energy.edges, energy.weights),
                                  max_cycles=params.max_cycles)
            out = cut.labels[graph.labels].astype(np.uint8)
            out[scribbled] = s.scribble[scribbled]
            outs.append(out)
        outs.append(nearest_scribble(s.scribble))
        for n, out in zip(names, outs):
            scores[n].update(s.label, out)
    return names, scores


def params_text(dataset: str) -> str:
    p = default_params(dataset)
    size = f"scale {p.fh_scale:g}" if p.superpixel_method == "felzenszwalb" else f"{p.n_segments} segments"
    return (f"{p.superpixel_method} superpixels, {size}; delta colour {p.delta_color:g}, texture "
            f"{p.delta_texture:g}")


def main_round0(args):
    try:
        dataset = open_dataset(args.dataset, args.root, "train", **({"fold": args.fold} if args.fold else {}))
    except (OSError, ValueError, KeyError) as exc:
        usage_error(str(exc).strip("'\""))
    dataset = every_nth(dataset, args.every)
    info = dataset.info
    names, scores = round0_limits(dataset)
    rows = [{"labels": n, "miou": scores[n].miou, "pixel_accuracy": scores[n].pixel_accuracy,
             **dict(zip(info.class_names, scores[n].iou))} for n in names]
    m = scores[names[1]].matrix.astype(float)
    area = m.sum(0) / np.maximum(m.sum(1), 1)
    recall = np.diag(m) / np.maximum(m.sum(1), 1)
    write_table(f"pseudo_label_limits_{info.name}_round0",
                f"Pseudo-label limits, {info.name}: round 0 (scribbles and image, no network)",
                rows, [("labels", "labels", ""), ("mIoU", "miou", ".4f"), ("pixel acc.", "pixel_accuracy", ".4f")]
                + [(c, c, ".3f") for c in info.class_names],
                notes=[f"{len(dataset.ids)} training images (every {args.every}-th), "
                       f"the dataset's propagation defaults ({params_text(info.name)}); IoU against ground truth.",
                       "The graph cut's labelled area over the true area, per class: "
                       + " / ".join(f"{c} {a:.2f}" for c, a in zip(info.class_names, area)) + ".",
                       "Its recall (share of each class's pixels it labels right): "
                       + " / ".join(f"{c} {r:.2f}" for c, r in zip(info.class_names, recall)) + "."])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, help="pipeline run folder (without it: round 0 of --dataset)")
    ap.add_argument("--round", type=int, default=2, help="round r >= 1 whose pseudo labels are examined")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--dataset", help="round 0 of this dataset's training split (instead of --run)")
    ap.add_argument("--root", help="the dataset's folder (with --dataset)")
    ap.add_argument("--fold", type=int, default=None, help="ACDC fold (with --dataset; default 1)")
    args = ap.parse_args()
    if (args.run is None) == (args.dataset is None):
        ap.error("give either --run or --dataset with --root")
    if args.run is None:
        if not args.root:
            ap.error("--dataset needs --root")
        return main_round0(args)
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
