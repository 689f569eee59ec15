"""What a round's pseudo labels tell its network that the network does not already say (issue 12).

A round of ScribbleSup trains network r on pseudo labels that the graph cut drew with network r-1's votes. Where
those labels only repeat network r-1 they teach nothing new; where they differ, they help if they are right where
the network was wrong (corrections) and harm where they are wrong where it was right (new errors). On every N-th
training image of each pipeline run, against the ground truth:

    python experiments/label_news.py --round 3 --every 4 \\
        runs/scribblesup_acdc-fold1_cpu_holdout8_ss-bias0.1-sw1 \\
        runs/scribblesup_acdc-fold1_cpu_holdout8_ss-bias0.1-sw1-refine-noff1.5

Per run: the mIoU of network r-1 (as it voted: with ``propagation.network_offset`` and, where
``pipeline.unweight_network`` is on, its class weights' offsets) and of round r's labels; the share of pixels where
the labels differ from the network, the network's errors the labels correct, and the labels' errors where the
network was right (both as a share of all pixels), and the network's errors the labels keep (the errors they
share). Writes experiments/results/label_news_<dataset>.md and .csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common import every_nth, load_config, usage_error, write_table
from scribblesup.datasets import open_split
from scribblesup.inference import predict_probabilities
from scribblesup.io import read_label_png
from scribblesup.metrics import ConfusionMatrix
from scribblesup.pipeline import unweighted_params
from scribblesup.runs import RunDir, load_run


def label_news(run_path: Path, r: int, every: int) -> dict:
    """The counts above for round ``r`` of the pipeline run at ``run_path`` (every ``every``-th training image)."""
    run = RunDir(run_path)
    config = load_config(run.round(r).config)
    train = every_nth(open_split(config.data, "train"), every)
    model, _, info = load_run(run.round(r - 1).path, "last")
    k = info.num_classes
    params = config.propagation_params()
    if config.pipeline.unweight_network:  # the network voted without its class weights' prior, as in the pipeline
        params = unweighted_params(params, run.round(r - 1).class_weights, k)
    offset = params.network_offset
    net_cm, lab_cm = ConfusionMatrix(k), ConfusionMatrix(k)
    counts = dict(pixels=0, differ=0, corrected=0, new_errors=0, shared_errors=0, network_right=0, labels_right=0)
    for i in train.ids:
        s = train.load(i)
        net = predict_probabilities(model, s.image, config.data.input_size, logit_offset=offset).argmax(0)
        lab = read_label_png(run.round(r).pseudo / f"{i}.png")
        truth = s.label
        known = truth < k
        net_cm.update(truth, net)
        lab_cm.update(truth, lab)
        net_ok, lab_ok = (net == truth)[known], (lab == truth)[known]
        counts["pixels"] += int(known.sum())
        counts["differ"] += int((net != lab)[known].sum())
        counts["corrected"] += int((~net_ok & lab_ok).sum())
        counts["new_errors"] += int((net_ok & ~lab_ok).sum())
        counts["shared_errors"] += int((~net_ok & ~lab_ok).sum())
        counts["network_right"] += int(net_ok.sum())
        counts["labels_right"] += int(lab_ok.sum())
    n = counts.pop("pixels")
    shown = "-" if offset is None else " ".join(f"{v:.2f}" for v in offset)
    return {"run": run.path.name, "round": r, "images": len(train.ids), "network_offset": shown,
            "network_miou": net_cm.miou, "labels_miou": lab_cm.miou, **{key: v / n for key, v in counts.items()},
            "kept_share": counts["shared_errors"] / max(counts["shared_errors"] + counts["corrected"], 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="pipeline run folders")
    ap.add_argument("--round", type=int, default=3, help="the round whose labels are read (>= 1)")
    ap.add_argument("--every", type=int, default=4, help="every N-th training image")
    args = ap.parse_args()
    if args.round < 1:
        ap.error("--round must be 1 or more (round 0's labels have no network behind them)")
    for path in args.runs:
        if not RunDir(path).round(args.round).pseudo.is_dir():
            ap.error(f"{path}: no round {args.round} pseudo labels")
    try:  # a missing or unreadable checkpoint or config: one line naming the file, before anything is written
        rows = [label_news(p, args.round, args.every) for p in args.runs]
    except (OSError, ValueError) as exc:
        usage_error(str(exc))
    dataset = load_config(RunDir(args.runs[0]).config).data.dataset
    write_table(f"label_news_{dataset}", f"What round {args.round}'s labels tell their network, {dataset}", rows,
                [("run", "run", ""), ("network_offset", "network_offset", ""), ("images", "images", ""),
                 ("network r-1 mIoU", "network_miou", ".4f"), ("labels mIoU", "labels_miou", ".4f"),
                 ("labels differ", "differ", ".4f"), ("corrected", "corrected", ".4f"),
                 ("new errors", "new_errors", ".4f"), ("shared errors", "shared_errors", ".4f"),
                 ("network errors kept", "kept_share", ".3f")],
                notes=["Shares of all ground-truth pixels of the images (every N-th training image; the held-out "
                       "groups of a holdout run are not among them). `corrected`: the network (as it voted: with "
                       "`propagation.network_offset` and the unweighting's offsets) was wrong, the labels right; "
                       "`new errors`: the other way round; `shared errors`: both wrong; `network errors kept`: "
                       "shared / (shared + corrected)."])


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
