"""Pseudo-label quality: ScribbleSup graph-cut propagation vs scikit-image's random walker.

Both propagate the same scribbles on the same training images in the same run;
each is scored by the dataset-level mIoU of its dense labels against ground
truth. Random walker: ``skimage.segmentation.random_walker`` with its default
beta (130) and its fastest solver, conjugate gradient with a multigrid
preconditioner (``mode="cg_mg"``, needs ``pip install pyamg``; ``cg_j`` without
it), scribbles as seeds. Workers run single-threaded (OMP_NUM_THREADS=1):
BLAS threads in several processes on 2 cores made random walker ~8x slower.

    python experiments/compare_random_walker.py --dataset acdc --root ../shared/data/ACDC
    python experiments/compare_random_walker.py --dataset camvid --root ../shared/data/CamVid

Random walker's beta, swept on the tuning subsets (see README):

    python experiments/compare_random_walker.py --dataset acdc --root ../shared/data/ACDC --every 5 --beta 1000 --tag _every5_beta1000

Writes experiments/results/compare_random_walker_<dataset><tag>.md and .csv.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from skimage.segmentation import random_walker
from tqdm import tqdm

from common import every_nth, write_table  # noqa: E402
from scribblesup.conventions import UNLABELLED  # noqa: E402
from scribblesup.datasets import open_dataset  # noqa: E402
from scribblesup.labelling import parallel_map  # noqa: E402
from scribblesup.metrics import ConfusionMatrix
from scribblesup.propagation import default_params, propagate_scribbles


RW_MODE = "cg_mg" if importlib.util.find_spec("pyamg") else "cg_j"


def random_walker_labels(image: np.ndarray, scribble: np.ndarray, beta: float = 130.0) -> np.ndarray:
    seeds = np.where(scribble == UNLABELLED, 0, scribble.astype(np.int32) + 1)
    classes = np.unique(seeds[seeds > 0])
    if len(classes) == 1:  # one class scribbled: nothing to decide
        return np.full(scribble.shape, classes[0] - 1, np.uint8)
    gray = image.shape[2] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = random_walker(image[:, :, 0] if gray else image, seeds, beta=beta, mode=RW_MODE,
                            channel_axis=None if gray else -1)
    return (out - 1).astype(np.uint8)


def _one(args):
    dataset, sample_id, beta = args
    s = dataset.load(sample_id)
    k = dataset.info.num_classes
    t0 = time.perf_counter()
    ours = propagate_scribbles(s.image, s.scribble, k, default_params(dataset.info.name)).labels
    t1 = time.perf_counter()
    rw = random_walker_labels(s.image, s.scribble, beta)
    t2 = time.perf_counter()
    return (ConfusionMatrix(k).update(s.label, ours).counts, ConfusionMatrix(k).update(s.label, rw).counts,
            t1 - t0, t2 - t1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--every", type=int, default=1, help="use every n-th training image (1 = all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--beta", type=float, default=130.0, help="random walker beta (skimage default 130)")
    ap.add_argument("--tag", default="", help="suffix of the result file")
    args = ap.parse_args()
    ds = every_nth(open_dataset(args.dataset, args.root, split="train", fold=args.fold), args.every)
    ids = ds.ids
    k = ds.info.num_classes
    ours, rw = ConfusionMatrix(k), ConfusionMatrix(k)
    t_ours = t_rw = 0.0
    start = time.time()
    for a, b, ta, tb in tqdm(parallel_map(_one, [(ds, i, args.beta) for i in ids], args.workers), total=len(ids)):
        ours.counts += a
        rw.counts += b
        t_ours += ta
        t_rw += tb
    rows = [{"class": name, "ours": a, "rw": b} for name, a, b in zip(ds.info.class_names, ours.iou, rw.iou)]
    rows += [{"class": "**mIoU**", "ours": ours.miou, "rw": rw.miou},
             {"class": "pixel accuracy", "ours": ours.pixel_accuracy, "rw": rw.pixel_accuracy},
             {"class": "seconds / image (one process)", "ours": t_ours / len(ids), "rw": t_rw / len(ids)}]
    write_table(f"compare_random_walker_{args.dataset}{args.tag}", f"Pseudo-label quality on {args.dataset} train"
                + (f" (fold {args.fold})" if args.dataset == "acdc" else "") + f": {len(ids)} images", rows,
                [("class", "class", ""), ("graph cut (ours) IoU", "ours", ".4f"), ("random walker IoU", "rw", ".4f")],
                notes=[f"parameters: {default_params(args.dataset).to_dict()}; random walker mode {RW_MODE}, "
                       f"beta {args.beta:g}; {args.workers} workers, every {args.every}-th image"],
                provenance_extra=f"wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
