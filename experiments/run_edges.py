"""HED edges: boundary F-measure with full labels, and HED's edge map in ScribbleSup's pairwise term (weak setting).

    python experiments/run_edges.py --dataset acdc --schedule cpu
    python experiments/run_edges.py --dataset camvid --schedule cpu

1. ``hed_full_<data>_<schedule>.yaml``: HED trained on the boundaries of the dense training labels; ODS and OIS
   boundary F-measure (tolerance 2 px) on the validation split.
2. The weak setting, no ground truth: HED trained for ``--edge-steps`` on the boundaries of round 0's pseudo labels
   of the main ScribbleSup run (``scribblesup_<data>_<schedule>.yaml``, run or resumed first), then round 1's label
   inference (round 0's network unary + pairwise) over the whole training split without the edge map and with it
   at each ``--edge-weights`` value; pseudo-label mIoU against the training ground truth and the time per round.
   Without the edge map this is the main run's round-1 labelling, recomputed in the same call for the timing.

Writes experiments/results/edges_<data>_<schedule>.md and .csv.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from common import add_dataset_args, config_path, evaluation, load_config, piped, tag, trained, write_table
from scribblesup.datasets import open_split
from scribblesup.labelling import label_dataset
from scribblesup.pipeline import edge_config, region_graph_cache
from scribblesup.runs import RunDir, load_run
from scribblesup.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--edge-steps", type=int, default=500, help="HED training steps on round 0's pseudo labels")
    ap.add_argument("--edge-weights", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t = tag(args.dataset, args.schedule)
    rows = []

    full = evaluation(trained(load_config(config_path("hed_full", args.dataset, args.schedule))))
    b = full["boundary"]
    rows.append({"what": "HED on dense labels (full supervision), validation", "ods": b["ods"], "ois": b["ois"],
                 "precision": b["ods_precision"], "recall": b["ods_recall"]})

    ss = load_config(config_path("scribblesup", args.dataset, args.schedule))
    run = RunDir(piped(load_config(config_path("scribblesup", args.dataset, args.schedule),
                                   [f"pipeline.rounds={max(1, ss.pipeline.rounds)}"])))
    weak = load_config(config_path("scribblesup", args.dataset, args.schedule),
                       [f"pipeline.edge_steps={args.edge_steps}", f"propagation.edge_weight={args.edge_weights[0]}"])
    ecfg = edge_config(weak, run)
    t0 = time.perf_counter()
    if not run.edges.evaluation(ecfg.data.val_split, "last").is_file():
        train(ecfg, resume=run.edges.last.is_file())
    edge_seconds = time.perf_counter() - t0
    b = evaluation(run.edges.path)["boundary"]
    rows.append({"what": f"HED on round 0's pseudo-label boundaries ({args.edge_steps} steps), validation",
                 "ods": b["ods"], "ois": b["ois"], "precision": b["ods_precision"], "recall": b["ods_recall"]})

    device = torch.device("cpu")
    model, _, _ = load_run(run.round(0).path, "last", device)
    edge_model, _, _ = load_run(run.edges.path, "last", device)
    dataset = open_split(ss.data, ss.data.train_split)
    cache = region_graph_cache(ss).fill(dataset, args.workers)
    params = ss.propagation_params()
    for weight in [0.0] + list(args.edge_weights):
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            r = label_dataset(dataset, tmp, replace(params, edge_weight=weight), cache=cache, model=model,
                              input_size=ss.data.input_size, workers=args.workers,
                              edge_model=edge_model if weight > 0 else None)
            seconds = time.perf_counter() - t1
        rows.append({"what": f"round-1 pseudo labels, edge weight {weight:g}" + (" (no edge map)" if not weight else ""),
                     "pseudo_miou": r.confusion.miou, "seconds": seconds,
                     **{f"iou_{n}": v for n, v in zip(dataset.info.class_names, r.confusion.iou)}})
        print(rows[-1], flush=True)
    names = dataset.info.class_names
    write_table(f"edges_{t}", f"HED edges and the edge-map pairwise term, {args.dataset} ({t})", rows,
                [("what", "what", ""), ("ODS F", "ods", ".4f"), ("OIS F", "ois", ".4f"),
                 ("precision", "precision", ".3f"), ("recall", "recall", ".3f"),
                 ("pseudo-label mIoU (train)", "pseudo_miou", ".4f"), ("label inference (s)", "seconds", ".0f")]
                + [(n, f"iou_{n}", ".3f") for n in names],
                notes=[f"Boundary F-measure at a 2 px tolerance (distance matching, no thinning: see "
                       f"scribblesup.edges). The weak edge network never sees ground truth: it learns round 0's "
                       f"pseudo-label boundaries of `{run.path}` ({edge_seconds / 60:.1f} min of training in this "
                       "call; 0 when it was there). Round-1 labels use round 0's network unary at the config's "
                       "lambda; one seed."])


if __name__ == "__main__":
    main()
