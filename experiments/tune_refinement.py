"""Choose the DenseCRF kernels and the MRF weight by measurement on a training subset.

The network of a finished run predicts every N-th training image (never the validation split, which the
main table scores); each refinement setting is scored by mIoU against ground truth.

    python experiments/tune_refinement.py --run runs/scribblesup_acdc-fold1_cpu/round0 --every 20
    python experiments/tune_refinement.py --run runs/scribblesup_camvid_cpu/round0 --every 12 \
        --sxy 10 20 40 80 --srgb 5 10 20 --weights 3 5

Writes experiments/results/tune_refinement_<dataset>.md and .json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from common import RESULTS, every_nth, write_table
from scribblesup.crf import DenseCRFParams, densecrf
from scribblesup.graphcut import grid_mrf, probability_unary
from scribblesup.inference import predict_probabilities
from scribblesup.metrics import ConfusionMatrix
from scribblesup.conventions import as_float_image
from scribblesup.datasets import open_split
from scribblesup.runs import load_run

SXY = [5, 10, 20, 40]
SRGB = [3, 5, 10, 20]
WEIGHT = [1, 3, 5]
MRF_WEIGHT = [0.3, 1, 3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a trained run folder (e.g. a pipeline round)")
    ap.add_argument("--every", type=int, default=15)
    ap.add_argument("--sxy", type=float, nargs="+", default=SXY, help="bilateral spatial stds")
    ap.add_argument("--srgb", type=float, nargs="+", default=SRGB, help="bilateral intensity stds (0-255)")
    ap.add_argument("--weights", type=float, nargs="+", default=WEIGHT, help="bilateral weights")
    ap.add_argument("--mrf-weights", type=float, nargs="+", default=MRF_WEIGHT)
    args = ap.parse_args()
    model, config, info = load_run(args.run, "last")
    dataset = every_nth(open_split(config.data, config.data.train_split), args.every)
    ids = dataset.ids
    k = info.num_classes
    settings = {"network argmax": None}
    settings.update({f"densecrf sxy {a:g} srgb {b:g} w {c:g}": ("densecrf", DenseCRFParams(bilateral_sxy=a, bilateral_srgb=b,
                                                                                  bilateral_weight=c))
                     for a, b, c in itertools.product(args.sxy, args.srgb, args.weights)})
    settings.update({f"mrf weight {w:g}": ("mrf", w) for w in args.mrf_weights})
    scores = {name: ConfusionMatrix(k) for name in settings}
    seconds = {name: 0.0 for name in settings}
    for i in ids:
        s = dataset.load(i)
        probs = predict_probabilities(model, s.image, config.data.input_size)
        image = as_float_image(s.image)
        for name, how in settings.items():
            t0 = time.perf_counter()
            if how is None:
                pred = probs.argmax(0)
            elif how[0] == "densecrf":
                pred = densecrf(image, probs, how[1]).argmax(0)
            else:
                pred = grid_mrf(image, probability_unary(probs), weight=how[1])
            seconds[name] += time.perf_counter() - t0
            scores[name].update(s.label, pred)
    rows = sorted(({"setting": n, "miou": scores[n].miou, "seconds_per_image": seconds[n] / len(ids)}
                   for n in settings), key=lambda r: -r["miou"])
    name = info.name
    write_table(f"tune_refinement_{name}", f"Refinement settings, {name}", rows,
                [("setting", "setting", ""), ("mIoU", "miou", ".4f"), ("s/image", "seconds_per_image", ".3f")],
                notes=[f"{len(ids)} training images (every {args.every}-th), network `{args.run}` (last checkpoint); "
                       "mIoU against ground truth; seconds per image on this machine."])
    (RESULTS / f"tune_refinement_{name}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
