"""Past one process: label inference on Ray against the local process pool, and data-parallel training (torchrun,
2 CPU processes, gloo) against one process at the same global batch.

    python experiments/bench_engines.py                       # both parts
    python experiments/bench_engines.py --part labels --n 200 --repeats 3

1. Labels: the same ``--n`` ACDC training slices (fold 1), 2 workers each, round 0's graph cut. Each repetition runs
   each engine in a fresh process (local first, then Ray, alternating), timing the labelling call; Ray's start-up
   (``ray.init`` of a local instance) is timed apart. Pseudo labels are compared byte for byte. From the measured
   per-image cost the time of one round over PASCAL VOC's 10,582 training images and over 100,000 images is
   extrapolated (scaled by pixels: VOC images average about 500 x 375).
2. Training: ``unet_full_acdc-fold1_cpu.yaml`` for ``--steps`` steps (batch 8, ``data.limit`` 200) in 1 process and
   in 2 (``torchrun --nproc_per_node 2``), with the network's BatchNorm and without it; the per-step loss curves are
   compared and the throughput ratio reported.

Writes experiments/results/bench_engines.md and .csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import write_table

LABELS = r"""
import json, sys, time
from pathlib import Path
from scribblesup.datasets import open_dataset
from scribblesup.labelling import label_dataset
engine, out, n, root = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = open_dataset("acdc", root, split="train", fold=1, limit=n)
init = 0.0
if engine == "ray":
    from scribblesup.ray_engine import start
    t = time.perf_counter(); start(None, 2); init = time.perf_counter() - t
t = time.perf_counter()
r = label_dataset(ds, out, workers=2, progress=False, engine=engine)
seconds = time.perf_counter() - t
pixels = sum(ds.load(i).image.shape[0] * ds.load(i).image.shape[1] for i in ds.ids)
print(json.dumps({"seconds": seconds, "init": init, "miou": r.confusion.miou, "pixels": pixels}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_labels(args, tmp: Path) -> list[dict]:
    times = {"local": [], "ray": []}
    outs = {}
    for rep in range(args.repeats):
        for engine in ("local", "ray"):
            out = tmp / f"{engine}{rep}"
            r = subprocess.run([sys.executable, "-c", LABELS, engine, str(out), str(args.n), str(args.root)],
                               capture_output=True, text=True, check=True)
            result = json.loads(r.stdout.strip().splitlines()[-1])
            times[engine].append(result)
            outs[engine] = out
            print(engine, rep, result, flush=True)
    same = all((outs["ray"] / p.name).read_bytes() == p.read_bytes() for p in outs["local"].glob("*.png"))
    same = same and len(list(outs["ray"].glob("*.png"))) == len(list(outs["local"].glob("*.png"))) == args.n
    local = float(np.median([r["seconds"] for r in times["local"]]))
    ray = float(np.median([r["seconds"] for r in times["ray"]]))
    init = float(np.median([r["init"] for r in times["ray"]]))
    pixels = times["local"][0]["pixels"]
    per_image = local * 2 / args.n  # worker-seconds per ACDC slice
    per_mpixel = local * 2 / (pixels / 1e6)
    overhead = (ray - local) * 2 / args.n  # extra worker-seconds per image on Ray
    rows = [{"part": "labels", "what": f"local process pool, 2 workers, {args.n} ACDC slices", "seconds": local,
             "all": " ".join(f"{r['seconds']:.2f}" for r in times["local"]), "ratio": 1.0},
            {"part": "labels", "what": "Ray (local instance, 2 CPUs), same slices", "seconds": ray,
             "all": " ".join(f"{r['seconds']:.2f}" for r in times["ray"]), "ratio": ray / local,
             "note": f"byte-identical: {same}; + {init:.1f} s ray.init"}]
    voc_mpixels = 500 * 375 / 1e6
    for n_images, name in ((10582, "VOC train_aug"), (100000, "100,000 images")):
        for workers in (16, 64, 256):
            cost = n_images * (per_mpixel * voc_mpixels + max(overhead, 0)) / workers
            rows.append({"part": "estimate", "what": f"{name} (500 x 375), {workers} workers on Ray",
                         "seconds": cost, "note": f"{cost / 60:.1f} min"})
    rows.append({"part": "estimate", "what": "measured cost", "seconds": per_image,
                 "note": f"{per_image:.3f} worker-s per ACDC slice, {per_mpixel:.2f} worker-s per megapixel, Ray "
                         f"overhead {overhead * 1000:.1f} worker-ms per image"})
    return rows


def train_run(tmp: Path, name: str, processes: int, args, extra=()) -> dict:
    sets = ["--config", "experiments/configs/unet_full_acdc-fold1_cpu.yaml", "--set", f"name={name}",
            f"output.root={tmp}", f"data.root={args.root}", "data.limit=200", "data.val_limit=20",
            f"train.steps={args.steps}", "train.log_every=1", f"train.eval_every={args.steps}",
            f"train.checkpoint_every={args.steps}", *extra]
    cmd = [sys.executable, "-m", "scribblesup", "train", *sets]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr",
               "127.0.0.1", "--master_port", str(free_port()), "-m", "scribblesup", "train", *sets]
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
    with (tmp / name / "scalars.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["loss"]]
    losses = np.array([float(r["loss"]) for r in rows])
    seconds = float(rows[-1]["seconds"]) - float(rows[0]["seconds"])
    return {"losses": losses, "steps_per_second": (len(rows) - 1) / seconds}


def bench_training(args, tmp: Path) -> list[dict]:
    rows = []
    for bn in (True, False):
        extra = [f"model.options.batch_norm={'true' if bn else 'false'}"]
        one = train_run(tmp, f"one_bn{bn}", 1, args, extra)
        two = train_run(tmp, f"two_bn{bn}", 2, args, extra)
        diff = np.abs(one["losses"] - two["losses"])
        label = "with BatchNorm" if bn else "without BatchNorm"
        rows.append({"part": "training", "what": f"UNet {label}: 2 processes (gloo) vs 1, {args.steps} steps, "
                     "global batch 8", "seconds": None, "ratio": two["steps_per_second"] / one["steps_per_second"],
                     "note": f"loss curves: max |diff| {diff.max():.2e}, mean {diff.mean():.2e} (first "
                             f"{one['losses'][0]:.4f}, last {one['losses'][-1]:.4f}); steps/s 1 process "
                             f"{one['steps_per_second']:.2f}, 2 processes {two['steps_per_second']:.2f}"})
        print(rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path("../shared/data/ACDC"))
    ap.add_argument("--part", choices=["labels", "training", "both"], default="both")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("labels", "both"):
            rows += bench_labels(args, Path(tmp))
        if args.part in ("training", "both"):
            rows += bench_training(args, Path(tmp))
    write_table("bench_engines", "Ray label inference and torchrun training against one process", rows,
                [("part", "part", ""), ("what", "what", ""), ("seconds (median)", "seconds", ".2f"),
                 ("each repetition", "all", ""), ("ratio", "ratio", ".3f"), ("note", "note", "")],
                notes=["Labels: wall time of the labelling call, each engine in a fresh process per repetition "
                       "(median shown); ratio = Ray / local, so overhead = ratio - 1. Training: ratio = steps per "
                       "second of 2 processes (1 thread each, torchrun's default) over 1 process (2 threads). "
                       "Estimates: measured worker-seconds per megapixel x VOC image size, plus the measured Ray "
                       "overhead per image, over the workers (no network unary: round 0's cost)."])


if __name__ == "__main__":
    main()
