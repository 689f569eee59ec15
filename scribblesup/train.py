"""Training a segmentation network on full labels, scribbles (partial cross-entropy) or pseudo labels.

Repeatable and resumable: every random choice of step t (batch, augmentation,
dropout) is drawn from generators seeded by (seed, t), and the learning rate is
a function of t, so a run restarted from its last checkpoint replays exactly the
steps it would have taken. Checkpoints are written atomically.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from .datasets import open_dataset
from .inference import evaluate_model, format_report, pick_device, to_tensor
from .io import atomic_path, read_label_png
from .models import create_model, load_pretrained

CSV_FIELDS = ["step", "loss", "lr", "val_score", "val_miou", "val_mean_dice", "seconds"]


def open_split(config: dict, split: str):
    """The dataset split a config names (its adapter, fold, and scribble folder for the training split)."""
    d = config["data"]
    options = {}
    if d["dataset"] == "acdc":
        options["fold"] = d["fold"]
    if d.get("scribble_dir") and d["dataset"] in ("acdc", "camvid", "voc") and split == d["train_split"]:
        options["scribble_dir"] = d["scribble_dir"]
    return open_dataset(d["dataset"], d["root"], split=split, **options)


class TrainingSamples:
    """The training split in memory: images and the targets the supervision asks for."""

    def __init__(self, config: dict):
        d = config["data"]
        self.dataset = open_split(config, d["train_split"])
        ids = self.dataset.ids[: d["limit"]] if d["limit"] else self.dataset.ids
        self.images, self.targets = [], []
        for sample_id in tqdm(ids, desc="load training data", unit="img", leave=False):
            s = self.dataset.load(sample_id)
            if d["supervision"] == "full":
                if s.label is None:
                    raise ValueError(f"sample {sample_id} has no ground truth for full supervision")
                target = s.label
            elif d["supervision"] == "scribble":
                target = s.scribble
            else:
                path = Path(d["pseudo_dir"]) / f"{sample_id}.png"
                target = read_label_png(path, self.dataset.info.palette)
                if target.shape != s.image.shape[:2]:
                    raise ValueError(f"{path}: pseudo label size {target.shape[::-1]} differs from the image's "
                                     f"{s.image.shape[1::-1]}")
            self.images.append(to_tensor(s.image))
            self.targets.append(torch.from_numpy(target.astype(np.int64)))
        self.ids = ids
        self.in_channels = self.images[0].shape[0]


def _augment(image: torch.Tensor, target: torch.Tensor, size, rng: np.random.Generator, aug: dict):
    """One random affine view (scale, rotation, flip, translation) resampled to ``size``.

    The whole image is mapped onto the output before zooming (aspect follows
    ``size``); outside the image, targets are 255 (ignored) and images 0.
    """
    s = rng.uniform(*aug["scale"]) if aug.get("scale") else 1.0
    angle = math.radians(rng.uniform(-aug["rotate"], aug["rotate"])) if aug.get("rotate") else 0.0
    flip = -1.0 if aug.get("flip") and rng.random() < 0.5 else 1.0
    # translation keeps the view inside the image when zoomed in
    room = max(0.0, 1.0 - 1.0 / s)
    tx, ty = rng.uniform(-room, room), rng.uniform(-room, room)
    cos, sin = math.cos(angle) / s, math.sin(angle) / s
    theta = torch.tensor([[flip * cos, -sin, tx], [flip * sin, cos, ty]], dtype=torch.float32)[None]
    grid = F.affine_grid(theta, (1, 1, *size), align_corners=False)
    img = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    tgt = F.grid_sample((target[None, None].float() + 1), grid, mode="nearest", padding_mode="zeros",
                        align_corners=False)[0, 0].long() - 1
    tgt[tgt < 0] = 255
    return img, tgt


def batch_for_step(samples: TrainingSamples, step: int, config: dict):
    """The (images, targets) batch of step ``step``: a pure function of the seed and the step."""
    t, aug, size = config["train"], config["augment"], tuple(config["data"]["input_size"])
    n, b, seed = len(samples.images), t["batch_size"], t["seed"]
    positions = range(step * b, (step + 1) * b)
    order = {}
    idx = []
    for p in positions:
        epoch = p // n
        if epoch not in order:
            order[epoch] = np.random.default_rng((seed, 0, epoch)).permutation(n)
        idx.append(order[epoch][p % n])
    rng = np.random.default_rng((seed, 1, step))
    pairs = [_augment(samples.images[i], samples.targets[i], size, rng, aug) for i in idx]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def partial_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Cross-entropy over labelled pixels only (255 ignored); 0 when a batch has none."""
    total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
    return total / (target != ignore_index).sum().clamp(min=1)


def _lr(config: dict, step: int) -> float:
    t = config["train"]
    return t["lr"] * (1.0 - step / t["steps"]) ** t["poly_power"]


def _optimizer(model, config: dict):
    t = config["train"]
    params = [p for p in model.parameters() if p.requires_grad]
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=t["lr"], weight_decay=t["weight_decay"])
    raise ValueError(f"train.optimizer must be sgd or adamw, got {t['optimizer']!r}")


def build_model(config: dict, num_classes: int, in_channels: int):
    """The network a config describes (and its local pretrained weights, if any)."""
    m = config["model"]
    model = create_model(m["name"], num_classes, in_channels, width=m["width"], **(m.get("options") or {}))
    if m.get("pretrained"):
        load_pretrained(model, m["pretrained"])
    return model


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def file_logger(path: Path) -> logging.Logger:
    """A logger that appends timestamped lines to ``path`` (one per file, not propagated)."""
    log = logging.getLogger(f"scribblesup.log.{Path(path).resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    return log


def _rewrite_csv(path: Path, keep_until: int) -> None:
    """Drop CSV rows after ``keep_until`` (steps a killed run logged past its last checkpoint)."""
    if not path.is_file():
        return
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)


def open_run_dir(run_dir: Path, config: dict, resume: bool, exists_if: Path, log_name: str) -> logging.Logger:
    """Create (or, with ``resume``, reopen) a run folder: write its ``config.yaml``, return its file logger.

    Raises ``FileExistsError`` when ``exists_if`` is there and ``resume`` is not set.
    """
    if exists_if.is_file() and not resume:
        raise FileExistsError(f"{run_dir}: a run is already there; add --resume to continue it, "
                              "or choose another name (--set name=...)")
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    return file_logger(run_dir / log_name)


def train(config: dict, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Train a network as ``config`` says; return the run folder.

    The run folder ``output.root/name`` receives ``config.yaml`` (resolved),
    ``train.log``, ``scalars.csv`` (loss and lr every ``log_every`` steps,
    validation scores every ``eval_every``), ``last.pt`` and ``best.pt``
    (model, optimizer, step, config, best score) and ``eval_<split>.md/json``
    for the final model.

    Parameters
    ----------
    config : dict
        From :func:`scribblesup.config.load_config`.
    resume : bool
        Continue from ``last.pt`` of the run folder (the same result as an uninterrupted run).
    progress : bool
        Show a progress bar with ETA.
    stop_after : int, optional
        Stop after this many steps of this call without a final checkpoint (simulates a kill; tests).
    """
    t = config["train"]
    run_dir = Path(config["output"]["root"]) / config["name"]
    last = run_dir / "last.pt"
    log = open_run_dir(run_dir, config, resume, exists_if=last, log_name="train.log")
    device = pick_device(t["device"])
    samples = TrainingSamples(config)
    val = open_split(config, config["data"]["val_split"])
    val_ids = val.ids[: config["data"]["val_limit"]] if config["data"]["val_limit"] else val.ids
    k = samples.dataset.info.num_classes

    torch.manual_seed(t["seed"])
    model = build_model(config, k, samples.in_channels).to(device)
    optimizer = _optimizer(model, config)
    use_amp = bool(t["amp"]) and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    start, best = 0, -math.inf
    if resume and last.is_file():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, best = state["step"], state["best_score"]
        _rewrite_csv(run_dir / "scalars.csv", start)
        log.info(f"resumed at step {start}")
    else:
        if t.get("init_from"):
            init = torch.load(t["init_from"], map_location=device, weights_only=False)
            model.load_state_dict(init["model"] if "model" in init else init)
            log.info(f"initialised from {t['init_from']}")
        log.info(f"start: {config['name']} on {device}, {len(samples.ids)} training images, "
                 f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    csv_path = run_dir / "scalars.csv"
    new_csv = not csv_path.is_file()
    csv_file = csv_path.open("a", newline="")
    writer = csv.DictWriter(csv_file, CSV_FIELDS)
    if new_csv:
        writer.writeheader()

    def checkpoint(step: int, path: Path):
        _save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                     "step": step, "best_score": best, "config": config, "in_channels": samples.in_channels})

    model.train()
    t0 = time.time()
    bar = tqdm(range(start, t["steps"]), initial=start, total=t["steps"], desc=config["name"], unit="step",
               disable=not progress)
    running = []
    try:
        for step in bar:
            if stop_after is not None and step - start >= stop_after:
                return run_dir
            images, targets = batch_for_step(samples, step, config)
            images, targets = images.to(device), targets.to(device)
            lr = _lr(config, step)
            for g in optimizer.param_groups:
                g["lr"] = lr
            torch.manual_seed(t["seed"] * 1_000_003 + step)  # dropout of this step
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                loss = partial_cross_entropy(model(images), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            running.append(loss.item())
            done = step + 1
            if done % t["log_every"] == 0 or done == t["steps"]:
                mean = float(np.mean(running))
                running = []
                bar.set_postfix(loss=f"{mean:.4f}", lr=f"{lr:.2e}")
                writer.writerow({"step": done, "loss": f"{mean:.6f}", "lr": f"{lr:.6g}",
                                 "seconds": f"{time.time() - t0:.1f}"})
                csv_file.flush()
                log.info(f"step {done} loss {mean:.4f} lr {lr:.3g}")
            if done % t["eval_every"] == 0 or done == t["steps"]:
                result = evaluate_model(model, val, config["data"]["input_size"], device, ids=val_ids)
                score = result["score"]
                writer.writerow({"step": done, "val_score": f"{score:.6f}",
                                 "val_miou": f"{result['confusion']['miou']:.6f}",
                                 "val_mean_dice": f"{result.get('mean_dice', float('nan')):.6f}",
                                 "seconds": f"{time.time() - t0:.1f}"})
                csv_file.flush()
                extra = "" if result["score_name"] == "mIoU" else f" mIoU {result['confusion']['miou']:.4f}"
                log.info(f"step {done} validation {result['score_name']} {score:.4f}{extra}")
                if score > best:
                    best = score
                    checkpoint(done, run_dir / "best.pt")
            if done % t["checkpoint_every"] == 0 or done == t["steps"]:
                checkpoint(done, last)
    finally:
        bar.close()
        csv_file.close()
    final = evaluate_model(model, val, config["data"]["input_size"], device, ids=val_ids)
    split = config["data"]["val_split"]
    (run_dir / f"eval_{split}_last.json").write_text(json.dumps(final, indent=1))
    (run_dir / f"eval_{split}_last.md").write_text(format_report(final, f"{config['name']}: {split}, last checkpoint"))
    log.info(f"done: {final['score_name']} {final['score']:.4f} (best {best:.4f}) in {time.time() - t0:.0f} s")
    return run_dir


def load_run(run_dir, checkpoint: str = "best", device=None):
    """The model, config and info of a finished run (``best`` or ``last`` checkpoint)."""
    run_dir = Path(run_dir)
    path = run_dir / f"{checkpoint}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint (is {run_dir} a run folder?)")
    device = device or pick_device("auto")
    state = torch.load(path, map_location=device, weights_only=False)
    config = state["config"]
    ds = open_split(config, config["data"]["val_split"])
    model = create_model(config["model"]["name"], ds.info.num_classes, state["in_channels"],
                         width=config["model"]["width"], **(config["model"].get("options") or {}))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config, ds.info
