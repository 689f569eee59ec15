"""Synthetic scribbles against the real hand-drawn ACDC ones: per class, pixels per stroke, strokes per slice
(slices where the class is present) and the scribbled fraction of the class's pixels.

Both synthesis protocols draw from the same slices' dense labels (seed 0, per-slice seeds): ``medial_axis``
(:func:`scribblesup.scribbles.synthesize_scribbles`, the protocol of the committed CamVid tables) and ``curve``
(:func:`scribblesup.scribbles.curve_scribbles`). A stroke is a connected component (8-neighbourhood) of one
class's scribbled pixels. The goal: every ratio to the real value within +-30 %.

    python experiments/stroke_realism.py                 # the training slices (the curve protocol was tuned on
    python experiments/stroke_realism.py --split val     # every 10th of them); the held-out patients 1-20

Writes experiments/results/stroke_realism_acdc[_val].md and .csv.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

from common import write_table
from scribblesup.datasets import open_dataset
from scribblesup.scribbles import sample_seed, synthesize


def statistics(pairs, k: int):
    """(pixels per stroke, strokes per slice with the class, scribbled fraction of the class) per class."""
    px, strokes, present, area = (np.zeros(k) for _ in range(4))
    for scribble, label in pairs:
        for c in range(k):
            mask = scribble == c
            px[c] += mask.sum()
            strokes[c] += ndi.label(mask, structure=np.ones((3, 3)))[1]
            present[c] += (label == c).any()
            area[c] += (label == c).sum()
    return px / np.maximum(strokes, 1), strokes / np.maximum(present, 1), px / np.maximum(area, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data/ACDC")
    ap.add_argument("--split", default="train")
    ap.add_argument("--every", type=int, default=1, help="every n-th slice")
    args = ap.parse_args()
    ds = open_dataset("acdc", args.root, split=args.split, fold=1)
    ids = ds.ids[:: args.every]
    pairs = {"real": [], "medial_axis": [], "curve": []}
    seconds = {"medial_axis": 0.0, "curve": 0.0}
    for i in ids:
        s = ds.load(i)
        pairs["real"].append((s.scribble, s.label))
        for protocol in ("medial_axis", "curve"):
            t = time.perf_counter()
            pairs[protocol].append((synthesize(s.label, sample_seed(0, i), protocol), s.label))
            seconds[protocol] += time.perf_counter() - t
    k = ds.info.num_classes
    stats = {name: statistics(p, k) for name, p in pairs.items()}
    rows, worst = [], {}
    measures = ("pixels per stroke", "strokes per slice", "scribbled fraction")
    for c, name in enumerate(ds.info.class_names):
        for m, measure in enumerate(measures):
            real = stats["real"][m][c]
            row = {"class": name, "measure": measure, "real": real}
            for protocol in ("medial_axis", "curve"):
                value = stats[protocol][m][c]
                row[protocol], row[f"{protocol}_ratio"] = value, value / real
                worst[protocol] = max(worst.get(protocol, 0.0), abs(value / real - 1))
            rows.append(row)
    name = "stroke_realism_acdc" + ("" if args.split == "train" else f"_{args.split}")
    write_table(name, f"Synthetic scribbles against the real ACDC ones ({len(ids)} {args.split} "
                "slices of fold 1)", rows,
                [("class", "class", ""), ("measure", "measure", ""), ("real", "real", ".4g"),
                 ("medial_axis", "medial_axis", ".4g"), ("ratio", "medial_axis_ratio", ".2f"),
                 ("curve", "curve", ".4g"), ("ratio", "curve_ratio", ".2f")],
                notes=[f"Ratios are synthetic / real; goal: every ratio in 0.7..1.3. Largest deviation: medial_axis "
                       f"{worst['medial_axis']:.0%}, curve {worst['curve']:.0%}. Synthesis time per slice: "
                       f"medial_axis {seconds['medial_axis'] / len(ids) * 1000:.0f} ms, curve "
                       f"{seconds['curve'] / len(ids) * 1000:.0f} ms."])


if __name__ == "__main__":
    main()
