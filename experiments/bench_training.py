"""Training speed of every network on this machine: images per second, forward + backward + optimizer step.

Each network at the input size of the configs (ACDC: 1 channel, 128 x 128;
CamVid: 3 channels, 176 x 240), width 0.25, batch 8, AdamW, after warm-up steps.

    python experiments/bench_training.py

Writes experiments/results/bench_training_cpu.md and .csv.
"""

from __future__ import annotations

import argparse
import time

import torch

from common import write_table
from scribblesup.losses import partial_cross_entropy
from scribblesup.models import EDGE_MODELS, MODELS, create_model
from scribblesup.train import edge_loss


def images_per_second(name, in_channels, size, num_classes, width, batch, steps, warmup=2):
    torch.manual_seed(0)
    edges = name in EDGE_MODELS
    model = create_model(name, 1 if edges else num_classes, in_channels, width=width)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randn(batch, in_channels, *size)
    y = torch.randint(0, num_classes, (batch, *size))
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        loss = edge_loss(model(x), y) if edges else partial_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for name in MODELS:
        acdc = images_per_second(name, 1, (128, 128), 4, args.width, args.batch, args.steps)
        camvid = images_per_second(name, 3, (176, 240), 11, args.width, args.batch, args.steps)
        params = sum(p.numel() for p in create_model(name, 1 if name in EDGE_MODELS else 11, 3,
                                                     width=args.width).parameters()) / 1e6
        rows.append({"network": name, "parameters_m": params, "acdc_img_s": acdc, "camvid_img_s": camvid})
        print(f"{name}: {acdc:.1f} / {camvid:.1f} img/s", flush=True)
    write_table("bench_training_cpu", f"Training speed on CPU ({torch.get_num_threads()} threads), width {args.width}, "
                f"batch {args.batch}", rows,
                [("network", "network", ""), ("parameters (M)", "parameters_m", ".2f"),
                 ("ACDC 1x128x128, img/s", "acdc_img_s", ".1f"), ("CamVid 3x176x240, img/s", "camvid_img_s", ".1f")])


if __name__ == "__main__":
    main()
