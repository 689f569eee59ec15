"""Speed of scribble propagation per image, against SLIC alone and against gco's graph cut.

For each image: the dataset's default superpixels (SLIC on ACDC,
Felzenszwalb on CamVid), region graph + features + energy, and alpha-expansion
(PyMaxflow); the total is reported as a ratio to SLIC alone (skimage ``slic``
with the same superpixel count, default compactness), measured in the same run. The same energies are then minimised by gco-wrapper's
``cut_general_graph`` (expansion, same initial labelling; a benchmark-only
dependency: ``pip install gco-wrapper``), and we report the time ratio and the
energy ratio (our energy / gco's, both evaluated in float64).

    python experiments/bench_propagation.py --dataset acdc --root ../shared/data/ACDC --n 100
    python experiments/bench_propagation.py --dataset camvid --root ../shared/data/CamVid --n 50

Writes experiments/results/bench_propagation_<dataset>.md and .csv.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import spread, write_table
from scribblesup.datasets import open_dataset
from scribblesup.graphcut import alpha_expansion, initial_labels
from scribblesup.propagation import build_energy, default_params
from scribblesup.superpixels import build_region_graph, compute_superpixels


def gco_minimise(energy, init):
    import gco

    unary = energy.unary.copy()
    finite = np.isfinite(unary)
    # A forbidden label must cost more than any gain from taking it: at most the
    # node's incident pairwise weights plus its unary range. gco scales every term
    # to integers by the largest one, so a needlessly large constant (say 2 x the
    # sum of all weights) costs it precision; measured: its energy above the floor
    # came out 2x ours. Per node, the tightest valid cost:
    incident = np.bincount(energy.edges.ravel(), np.repeat(energy.weights, 2), len(unary))
    span = np.where(finite, unary, 0).max(axis=1) - np.where(finite, unary, np.inf).min(axis=1)
    big = (incident + span + 1.0)[:, None] + np.where(finite, unary, 0).max(axis=1, keepdims=True)
    unary = np.where(finite, unary, big)
    k = unary.shape[1]
    return gco.cut_general_graph(
        energy.edges.astype(np.int32), energy.weights, unary, 1.0 - np.eye(k),
        n_iter=-1, algorithm="expansion", init_labels=init.astype(np.int32),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--n", type=int, default=50, help="images (spread over the training split)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats per image (minimum kept)")
    args = ap.parse_args()
    ds = spread(open_dataset(args.dataset, args.root, split="train", fold=1), args.n)
    params = default_params(args.dataset)
    ids = ds.ids
    rows = []
    for sample_id in ids:
        s = ds.load(sample_id)
        k = ds.info.num_classes
        t = {"slic": [], "superpixels": [], "graph": [], "cut": [], "gco": []}
        for _ in range(args.repeat):
            ts = time.perf_counter()
            compute_superpixels(s.image, "slic", n_segments=params.n_segments)
            t0 = time.perf_counter()
            sp = params.superpixels(s.image)
            t1 = time.perf_counter()
            graph = build_region_graph(s.image, sp)
            energy = build_energy(graph, s.scribble, k, params)
            t2 = time.perf_counter()
            ours = alpha_expansion(energy, max_cycles=params.max_cycles)
            t3 = time.perf_counter()
            init = initial_labels(energy.unary)
            t4 = time.perf_counter()
            theirs = gco_minimise(energy, init)
            t5 = time.perf_counter()
            for key, v in zip(t, (t0 - ts, t1 - t0, t2 - t1, t3 - t2, t5 - t4)):
                t[key].append(v)
        best = {key: min(v) for key, v in t.items()}
        # the energy less its floor (sum of each node's cheapest unary): what the cut can change
        floor = np.where(np.isfinite(energy.unary), energy.unary, np.inf).min(axis=1).sum()
        rows.append(dict(best, n_regions=graph.n_regions, e_ours=ours.energy, e_gco=energy(theirs), floor=floor))
    med = {key: float(np.median([r[key] for r in rows])) for key in ("slic", "superpixels", "graph", "cut", "gco")}
    total_ratio = np.median([(r["superpixels"] + r["graph"] + r["cut"]) / r["slic"] for r in rows])
    cut_ratio = np.median([r["cut"] / r["gco"] for r in rows])
    cut_ratio_sum = sum(r["cut"] for r in rows) / sum(r["gco"] for r in rows)
    # energies include the constant -log(1/|classes|) of free regions; compare the part that varies too
    def ratio(a, b):
        return 1.0 if abs(a - b) <= 1e-9 else a / b

    e_ratio = np.array([ratio(r["e_ours"], r["e_gco"]) for r in rows])
    x_ratio = np.array([ratio(r["e_ours"] - r["floor"], r["e_gco"] - r["floor"]) for r in rows])
    worse = np.array([r["e_ours"] - r["e_gco"] for r in rows])
    sp_total = med["superpixels"] + med["graph"] + med["cut"]
    table = [
        {"step": f"SLIC alone ({params.n_segments} segments), the reference", "ms": med["slic"] * 1e3, "ratio": "1.00"},
        {"step": f"superpixels ({params.superpixel_method})", "ms": med["superpixels"] * 1e3,
         "ratio": f"{med['superpixels'] / med['slic']:.2f}"},
        {"step": "region graph + features + energy", "ms": med["graph"] * 1e3, "ratio": f"{med['graph'] / med['slic']:.2f}"},
        {"step": "graph cut (alpha-expansion, PyMaxflow)", "ms": med["cut"] * 1e3, "ratio": f"{med['cut'] / med['slic']:.2f}"},
        {"step": "**total (superpixels + graph + cut)**", "ms": sp_total * 1e3,
         "ratio": f"**{total_ratio:.2f}** (median of per-image ratios)"},
    ]
    write_table(f"bench_propagation_{args.dataset}", f"Propagation speed on {args.dataset} ({len(rows)} training images, "
                f"min of {args.repeat} runs each, one process)", table,
                [("step", "step", ""), ("median ms / image", "ms", ".1f"), ("ratio to SLIC", "ratio", "")],
                notes=[f"median regions per image: {np.median([r['n_regions'] for r in rows]):.0f}",
                       f"gco cut_general_graph on the same energies: median {med['gco'] * 1e3:.2f} ms;"
                       f" our time / gco time: median {cut_ratio:.2f}, total {cut_ratio_sum:.2f}. "
                       f"Energy ours / gco: median {np.median(e_ratio):.6f}, worst {e_ratio.max():.6f};"
                       f" energy above its floor (sum of cheapest unaries), ours / gco: median {np.median(x_ratio):.4f},"
                       f" worst {x_ratio.max():.4f}; images where ours is lower {int((worse < -1e-9).sum())}, equal "
                       f"{int((np.abs(worse) <= 1e-9).sum())}, higher {int((worse > 1e-9).sum())}."])


if __name__ == "__main__":
    main()
