"""Choose the propagation defaults by measurement on the training splits.

Round 0 (scribble unary + pairwise) on a subset of training images: superpixel
method and count, colour/texture bandwidths and boundary-length scaling,
scored by pseudo-label mIoU against ground truth. Superpixels and region graphs
are computed once per setting and reused across the energy parameters.

The pairwise weight lambda is not tuned here: with the scribble unary alone,
every free region pays the same constant for each allowed class, so scaling
all pairwise weights by lambda leaves the minimiser unchanged. lambda matters
only once the network unary joins (the pipeline's rounds 1..R).

    python experiments/tune_propagation.py --dataset acdc --root ../shared/data/ACDC --every 5
    python experiments/tune_propagation.py --dataset camvid --root ../shared/data/CamVid --every 4

A second, finer grid (the first one's best settings were at its edge):

    python experiments/tune_propagation.py --dataset acdc --root ../shared/data/ACDC --every 5 --tag _fine \
        --superpixels slic:1200 slic:2000 slic:3000 slic:2000:0.03 slic:2000:0.3 --deltas 0.3 1 3
    python experiments/tune_propagation.py --dataset camvid --root ../shared/data/CamVid --every 4 --tag _fine \
        --superpixels slic:1200 slic:2000 slic:3000 slic:2000:5 slic:2000:20 felzenszwalb:50 felzenszwalb:100 --deltas 0.3 1 3
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import RESULTS, every_nth, write_table  # noqa: E402
from scribblesup.datasets import open_dataset  # noqa: E402
from scribblesup.tuning import BOUNDARY, tune_propagation  # noqa: E402

# the grid of the committed tables (`scribblesup tune-propagation` searches scribblesup.tuning's by default)
SUPERPIXELS = ["slic:300", "slic:600", "slic:1200", "felzenszwalb:100", "felzenszwalb:300"]
DELTAS = [0.1, 0.3, 1.0, 3.0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--every", type=int, default=5, help="use every n-th training image")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--superpixels", nargs="+", default=SUPERPIXELS, help="method:size[:compactness] ...")
    ap.add_argument("--deltas", nargs="+", type=float, default=DELTAS)
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args()
    ds = every_nth(open_dataset(args.dataset, args.root, split="train", fold=1), args.every)
    ids = ds.ids
    t0 = time.time()
    rows = [(r.miou, r.setting) for r in tune_propagation(ds, args.superpixels, args.deltas, BOUNDARY, args.workers)]
    best_per_sp = {}
    for miou, key in rows:
        best_per_sp.setdefault(key[0], (miou, key))
    best = [f"- {spec}: {miou:.4f} (delta_color {key[1]}, delta_texture {key[2]}, boundary length {key[3]})"
            for spec, (miou, key) in best_per_sp.items()]
    table = [{"miou": m, "superpixels": key[0], "delta_color": key[1], "delta_texture": key[2],
              "boundary_length": key[3]} for m, key in rows]
    write_table(f"tune_propagation_{args.dataset}{args.tag}", f"Propagation tuning on {args.dataset} train (every "
                f"{args.every}th image: {len(ids)} images, round 0)", table[:15],
                [("mIoU", "miou", ".4f"), ("superpixels (method:size[:compactness])", "superpixels", ""),
                 ("delta_color", "delta_color", ""), ("delta_texture", "delta_texture", ""),
                 ("boundary length", "boundary_length", "")],
                notes=["Best per superpixel setting:\n\n" + "\n".join(best)],
                provenance_extra=f"{time.time() - t0:.0f} s on {args.workers} workers")
    (RESULTS / f"tune_propagation_{args.dataset}{args.tag}.json").write_text(
        json.dumps([{"miou": m, "key": list(k)} for m, k in rows], indent=1))


if __name__ == "__main__":
    main()
