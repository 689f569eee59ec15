"""Choose ``propagation.class_bias`` (a per-pixel cost of one class in the graph cut) on a holdout subset of the
training patients / images, for round 0's labels (scribbles and pairwise term) and round 1's (plus the network).

    python experiments/tune_class_bias.py --dataset acdc --holdout 8 --class Myo --biases 0.02 0.05 0.1 0.2 0.5
    python experiments/tune_class_bias.py --dataset acdc --holdout 8 --class RV --fixed Myo=0.1 \\
        --biases -0.001 -0.002 -0.005 -0.01 -0.02 0.05 --round1-biases --workers 1

Why: on ACDC the round-0 graph cut gives the myocardium 1.33 times its true area (16 % of the LV cavity and 6 % of
the RV are labelled Myo; experiments/README.md): a cut whose only data term are the scribbles has a shrinking bias,
and the thin class between the cavities and the background takes the regions it leaves. A cost per pixel of that
class counters it.

Round 0 is scored for every bias (seconds); round 1 (``--round1-biases``, minutes each) uses round 0's network of
the main ScribbleSup run (``scribblesup_<data>_<schedule>.yaml``, trained on the unbiased round-0 labels of every
training image: a lower bound of what a biased pipeline's round 1 sees). ``--fixed`` holds other classes' biases
(chosen before) in place while one more class is tuned; a negative bias favours the class (only the differences
between classes count). Labels are scored against the held-out images' ground truth, never against the split whose
score is reported. Writes experiments/results/tune_class_bias_<data>_<schedule>_<class>[_bias<class><value>...].md
and .csv.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import numpy as np

from common import add_class_args, add_dataset_args, config_path, held_values, load_config, piped, tag, write_table
from scribblesup.datasets import open_split
from scribblesup.labelling import label_dataset
from scribblesup.pipeline import region_graph_cache
from scribblesup.runs import RunDir, load_run, offset_tag


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_args(ap)
    ap.add_argument("--holdout", type=int, required=True, help="groups of the training split to score on")
    add_class_args(ap, "class bias")
    ap.add_argument("--biases", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2, 0.5])
    ap.add_argument("--round1-biases", type=float, nargs="*", default=[0.05, 0.1, 0.2],
                    help="biases also scored in round 1 (with round 0's network); 0 is always scored")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    fixed = held_values(ap, args, "class bias", [*args.biases, *args.round1_biases])
    t = tag(args.dataset, args.schedule)
    path = config_path("scribblesup", args.dataset, args.schedule)
    config = load_config(path, [f"data.holdout={args.holdout}"])
    holdout = open_split(config.data, "holdout")
    names = list(holdout.info.class_names)
    params = config.propagation_params()
    cache = region_graph_cache(config).fill(holdout, args.workers, progress=False)
    model = None
    rows = []
    for round_, biases in ((0, [0.0, *args.biases]), (1, [0.0, *args.round1_biases])):
        if round_ == 1:
            if not args.round1_biases:
                break
            model, _, _ = load_run(RunDir(piped(load_config(path))).round(0).path, "last")
        for b in biases:
            bias = [fixed.get(n, 0.0) for n in names]
            bias[names.index(args.name)] = b
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                r = label_dataset(holdout, tmp, replace(params, class_bias=bias if any(bias) else None), cache=cache,
                                  model=model, input_size=config.data.input_size, workers=args.workers,
                                  progress=False)
                seconds = time.perf_counter() - t0
            pred = r.confusion.matrix.sum(axis=0)
            truth = r.confusion.matrix.sum(axis=1)
            c = names.index(args.name)
            row = {"round": round_, "bias": b, "miou": r.confusion.miou, "seconds": seconds,
                   "area_ratio": float(pred[c] / max(truth[c], 1)),
                   **{f"iou_{n}": v for n, v in zip(names, r.confusion.iou)},
                   **{f"into_{n}": float(r.confusion.matrix[i, c] / max(truth[i], 1))
                      for i, n in enumerate(names) if i != c},
                   **{f"lost_{n}": float(r.confusion.matrix[c, i] / max(truth[c], 1))
                      for i, n in enumerate(names) if i != c}}
            rows.append(row)
            print(row, flush=True)
    held = ", ".join(f"{n} {v:g}" for n, v in fixed.items())
    write_table(f"tune_class_bias_{t}_{args.name}{offset_tag(fixed, 'bias')}",
                f"Class bias of {args.name}{f' (held: {held})' if fixed else ''} on {args.holdout} held-out training "
                f"groups, {args.dataset} ({t})", rows,
                [("round", "round", ""), (f"{args.name} bias", "bias", "g"), ("mIoU", "miou", ".4f"),
                 (f"{args.name} area / true area", "area_ratio", ".3f")]
                + [(n, f"iou_{n}", ".3f") for n in names]
                + [(f"{n} labelled {args.name}", f"into_{n}", ".3f") for n in names if n != args.name]
                + [(f"{args.name} labelled {n}", f"lost_{n}", ".3f") for n in names if n != args.name]
                + [("seconds", "seconds", ".0f")],
                notes=[f"{len(holdout.ids)} training images of the `data.holdout: {args.holdout}` groups, scored "
                       f"against their ground truth (`<class> labelled {args.name}`: the share of that class's true pixels labelled {args.name}; "
                       f"`{args.name} labelled <class>`: the share of {args.name}'s true pixels labelled that class). The bias is a cost per pixel of {args.name} in units of one "
                       "average superpixel (`propagation.class_bias`); every other setting is the config's "
                       f"(`{path.name}`). Round 1: round 0's network of the main run (trained on unbiased labels), "
                       f"lambda {params.network_weight:g}."])


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
