"""Training a segmentation network on full labels, scribbles (partial cross-entropy) or pseudo labels.

Split as torchvision's reference scripts are: the data (:class:`TrainingSamples`, :func:`batch_for_step`), one
optimisation step (:func:`train_step`), the schedule (:func:`learning_rate`, :func:`make_optimizer`), evaluation
and checkpoints (:class:`Trainer`), and the loop (:func:`train`).

Repeatable and resumable: every random choice of step t (batch, augmentation, dropout) is drawn from generators
seeded by (seed, t), and the learning rate is a function of t, so a run restarted from its last checkpoint replays
exactly the steps it would have taken. Checkpoints are written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .config import Config
from .conventions import UNLABELLED
from .datasets import open_split
from .inference import evaluate_run, format_logit_offset, logit_offset_vector, pick_device, to_tensor
from .io import read_label_png
from .edges import label_boundaries
from . import distributed
from .losses import (balanced_bce, class_pixel_counts, class_weights, gated_crf_loss, partial_cross_entropy,
                     partial_cross_entropy_terms)
from .models import create_model, load_pretrained
from .runs import (SCALAR_FIELDS, RunDir, class_info, load_checkpoint, model_spec, open_run_dir, rewrite_scalars,
                   run_lock, save_checkpoint, write_json)


# ------------------------------------------------------------------------------------------------ data

class TrainingSamples:
    """The training split in memory: images and the targets the supervision asks for."""

    def __init__(self, config: Config, dataset=None):
        d = config.data
        self.dataset = dataset if dataset is not None else open_split(d, d.train_split, limit=d.limit)
        self.ids = list(self.dataset.ids)
        self.images, self.targets = [], []
        # train.scribble_weight: the scribbles too, beside the pseudo labels (one more target channel per batch)
        self.scribbles = [] if config.train.scribble_weight > 0 else None
        if self.scribbles is not None and d.supervision != "pseudo":
            raise ValueError(f"train.scribble_weight adds the scribbles to pseudo labels; data.supervision is "
                             f"{d.supervision} (use pseudo, or leave the weight at 0)")
        k = self.dataset.info.num_classes
        for sample_id in tqdm(self.ids, desc="load training data", unit="img", leave=False):
            s = self.dataset.load(sample_id)
            where = f"sample {sample_id}"
            if d.supervision == "full":
                if s.label is None:
                    raise ValueError(f"{where} has no ground truth for full supervision")
                target = s.label
            elif d.supervision == "scribble":
                target = s.scribble
            else:
                path = Path(d.pseudo_dir) / f"{sample_id}.png"
                where = str(path)
                target = read_label_png(path, self.dataset.info.palette)
                if target.shape != s.image.shape[:2]:
                    raise ValueError(f"{path}: pseudo label size {target.shape[::-1]} differs from the image's "
                                     f"{s.image.shape[1::-1]}")
            if self.scribbles is not None:
                if s.scribble is None:
                    raise ValueError(f"sample {sample_id} has no scribbles for train.scribble_weight")
                self.scribbles.append(torch.from_numpy(s.scribble.astype(np.int64)))
            both = target if self.scribbles is None else np.stack([target, s.scribble])
            bad = np.unique(both[(both != UNLABELLED) & (both >= k)])
            if bad.size:
                raise ValueError(f"{where}: class ids {bad.tolist()} beyond the dataset's {k} classes")
            if not np.isfinite(s.image).all():
                raise ValueError(f"sample {sample_id}: the image has NaN or infinite values")
            self.images.append(to_tensor(s.image))
            self.targets.append(torch.from_numpy(target.astype(np.int64)))
        channels = {im.shape[0] for im in self.images}
        if len(channels) > 1:
            raise ValueError(f"{d.root}: the training images mix channel counts {sorted(channels)} (grayscale and "
                             "colour); convert them to one")
        self.in_channels = self.images[0].shape[0]


def _draw_view(rng: np.random.Generator, aug) -> torch.Tensor:
    """The random affine view (scale, rotation, flip, translation) of one sample: a 1x2x3 ``affine_grid`` matrix."""
    s = rng.uniform(*aug.scale) if aug.scale else 1.0
    angle = math.radians(rng.uniform(-aug.rotate, aug.rotate)) if aug.rotate else 0.0
    flip = -1.0 if aug.flip and rng.random() < 0.5 else 1.0
    # translation keeps the view inside the image when zoomed in
    room = max(0.0, 1.0 - 1.0 / s)
    tx, ty = rng.uniform(-room, room), rng.uniform(-room, room)
    cos, sin = math.cos(angle) / s, math.sin(angle) / s
    return torch.tensor([[flip * cos, -sin, tx], [flip * sin, cos, ty]], dtype=torch.float32)[None]


def _augment(image: torch.Tensor, target: torch.Tensor, size, theta: torch.Tensor):
    """``image`` and ``target`` (H, W), or a stack of label maps (C, H, W), resampled to ``size`` through the view
    ``theta`` (:func:`_draw_view`).

    The whole image is mapped onto the output before zooming (aspect follows ``size``); outside the image,
    targets are 255 (ignored) and images 0.
    """
    grid = F.affine_grid(theta, (1, 1, *size), align_corners=False)
    img = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    stack = target if target.ndim == 3 else target[None]
    tgt = F.grid_sample((stack[None].float() + 1), grid, mode="nearest", padding_mode="zeros",
                        align_corners=False)[0].long() - 1
    tgt[tgt < 0] = UNLABELLED
    return img, (tgt if target.ndim == 3 else tgt[0])


def batch_for_step(samples: TrainingSamples, step: int, config: Config, part: tuple[int, int] = (0, 1)):
    """The (images, targets) batch of step ``step``: a pure function of the seed and the step.

    ``part=(rank, world_size)``: only that rank's contiguous share of the global batch (every rank draws the
    whole batch's choices, so the shares put together are the one-process batch).
    """
    t, size = config.train, tuple(config.data.input_size)
    n, b, seed = len(samples.images), t.batch_size, t.seed
    order = {}
    idx = []
    for p in range(step * b, (step + 1) * b):
        epoch = p // n
        if epoch not in order:
            order[epoch] = np.random.default_rng((seed, 0, epoch)).permutation(n)
        idx.append(order[epoch][p % n])
    rng = np.random.default_rng((seed, 1, step))
    views = [_draw_view(rng, config.augment) for _ in idx]
    rank, world = part
    lo, hi = rank * b // world, (rank + 1) * b // world
    # with scribbles beside the pseudo labels (train.scribble_weight): targets (B, 2, H, W), the same view for both
    target = ((lambda i: samples.targets[i]) if samples.scribbles is None
              else (lambda i: torch.stack([samples.targets[i], samples.scribbles[i]])))
    pairs = [_augment(samples.images[i], target(i), size, theta) for i, theta in zip(idx[lo:hi], views[lo:hi])]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


# ------------------------------------------------------------------------------------------------ loss, schedule

def learning_rate(config: Config, step: int) -> float:
    """Poly schedule: ``lr * (1 - step / steps) ** poly_power``."""
    t = config.train
    return t.lr * (1.0 - step / t.steps) ** t.poly_power


def make_optimizer(model, config: Config):
    """The optimizer ``train.optimizer`` names, over the trainable parameters."""
    t = config.train
    params = [p for p in model.parameters() if p.requires_grad]
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)


def build_model(config: Config, num_classes: int, in_channels: int):
    """The network a config describes (and its local pretrained weights, if any)."""
    m = config.model
    model = create_model(m.name, num_classes, in_channels, width=m.width, **(m.options or {}))
    if m.pretrained:
        load_pretrained(model, m.pretrained)
    return model


def edge_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """HED's deep supervision: the class-balanced sigmoid cross-entropy of every output map (side outputs and the
    fused one) against the boundaries of the target label maps, summed."""
    edges = label_boundaries(targets)
    return sum(balanced_bce(outputs[:, c], edges) for c in range(outputs.shape[1]))


def train_step(model, optimizer, scaler, images, targets, lr: float, amp_dtype, use_amp: bool,
               weight: torch.Tensor | None = None, task: str = "segmentation", crf=None, world_size: int = 1,
               scribble_weight: float = 0.0) -> float:
    """One optimisation step on one batch (``weight``: per-class loss weights; ``crf``: the gated CRF loss's
    settings, :class:`scribblesup.config.GatedCRFConfig`); returns the loss.

    ``targets`` (B, H, W), or (B, 2, H, W): pseudo labels and scribbles, whose partial cross-entropy (a mean over
    the scribbled pixels) joins the loss times ``scribble_weight``.

    With ``world_size > 1`` (a DistributedDataParallel ``model``, this rank's share of the batch), the
    cross-entropy is divided by the whole batch's labelled pixels (summed over the ranks), so the averaged
    gradients are those of the one-process loss; the returned loss is the whole batch's. The edge loss and the gated
    CRF term are per-rank means, averaged.
    """
    for g in optimizer.param_groups:
        g["lr"] = lr
    with torch.autocast(images.device.type, dtype=amp_dtype, enabled=use_amp):
        outputs = model(images)
        if task == "edges":
            loss = edge_loss(outputs, targets)
        else:
            scribbles = None
            if targets.ndim == 4:
                targets, scribbles = targets[:, 0], targets[:, 1]
            loss = 0.0
            for target, factor in ((targets, 1.0), (scribbles, scribble_weight)):
                if target is None or factor == 0:
                    continue
                total, denominator = partial_cross_entropy_terms(outputs, target, weight=weight)
                if world_size > 1:
                    denominator = distributed.all_sum(denominator.detach()) / world_size
                loss = loss + factor * total / denominator
            if crf is not None and crf.weight > 0:
                loss = loss + crf.weight * gated_crf_loss(torch.softmax(outputs.float(), 1), images, crf.radius,
                                                          crf.sigma_xy, crf.sigma_rgb, downscale=crf.downscale)
    value = loss.detach() if world_size == 1 else distributed.all_sum(loss.detach()) / world_size
    if not torch.isfinite(value):
        raise ValueError(f"the loss became {value.item()} (diverged); lower train.lr")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return value.item()


# ------------------------------------------------------------------------------------------------ the loop

def check_logit_offset(config: Config, class_names) -> None:
    """``test.logit_offset`` against the data's classes: evaluate and predict alone read it, but a class the data
    lacks (or a value that is not finite) is an error at the start of a run, not after its training."""
    try:
        logit_offset_vector(config.test.logit_offset, class_names)
    except ValueError as exc:
        raise ValueError(f"test.logit_offset: {exc}") from None


class Trainer:
    """The state of one training run: model, optimizer, run folder; checkpoints and evaluation."""

    def __init__(self, config: Config, resume: bool):
        self.config, t = config, config.train
        self.run = RunDir(config.run_dir())
        self.ctx, self.device = distributed.setup(pick_device(t.device))
        if self.ctx.active and t.batch_size % self.ctx.world_size:
            raise ValueError(f"train.batch_size {t.batch_size} does not split over {self.ctx.world_size} processes")
        # both splits open before anything is written: a missing split is an error at start
        train_split = open_split(config.data, config.data.train_split, limit=config.data.limit)
        self.val = open_split(config.data, config.data.val_split)
        # the training data (pseudo labels, scribbles) checked before the run folder is written: a bad input leaves
        # nothing behind
        self.samples = TrainingSamples(config, train_split)
        check_logit_offset(config, self.samples.dataset.info.class_names)
        error = None
        if self.ctx.main:  # rank 0 alone writes the run folder
            try:
                self.log = open_run_dir(self.run, config, resume, exists_if=self.run.last, log_name="train")
            except (ValueError, OSError) as exc:
                error = exc
        else:
            self.log = distributed.quiet_logger(self.ctx)
        distributed.agree(error)
        # a limited validation scores whole volumes only (evaluate_model skips partial ones)
        self.val_ids = self.val.ids[: config.data.val_limit] if config.data.val_limit else None
        self.scored = any(self.val.load(i).label is not None for i in (self.val_ids or self.val.ids)[:3])
        if not self.scored and self.ctx.main:
            message = (f"warning: the {config.data.val_split!r} split has no labels: training runs without a "
                       "validation score, and best.pt is the last checkpoint")
            self.log.info(message)
            print(message, file=sys.stderr)
        self.info = self.samples.dataset.info
        self.weight = self.loss_weights()
        torch.manual_seed(t.seed)
        self.outputs = 1 if t.task == "edges" else self.info.num_classes
        self.net = build_model(config, self.outputs, self.samples.in_channels).to(self.device)
        self.use_amp = bool(t.amp) and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.start, self.best = 0, -math.inf
        if resume and self.run.last.is_file():
            state = load_checkpoint(self.run.last, self.device)
            self.net.load_state_dict(state["model"])
            self.start, self.best = state["step"], state["best_score"]
            if self.ctx.main:
                rewrite_scalars(self.run, self.start)
            self.log.info(f"resumed at step {self.start}")
        else:
            state = None
            if t.init_from:
                init = load_checkpoint(t.init_from, self.device)
                self.net.load_state_dict(init["model"] if "model" in init else init)
                self.log.info(f"initialised from {t.init_from}")
            processes = f" in {self.ctx.world_size} processes" if self.ctx.active else ""
            self.log.info(f"start: {config.name} on {self.device}{processes}, {len(self.samples.ids)} training "
                          f"images, {sum(p.numel() for p in self.net.parameters()) / 1e6:.2f} M parameters")
            losses = [f"gated CRF x {t.crf_loss.weight:g}"] if t.crf_loss.weight > 0 else []
            if t.scribble_weight > 0:
                losses.insert(0, f"scribbles' partial cross-entropy x {t.scribble_weight:g}")
            if losses:
                self.log.info(f"loss: cross-entropy + {' + '.join(losses)}")
        # the model that trains: DistributedDataParallel under torchrun (self.net is the network inside)
        self.model = distributed.wrap(self.net, self.device)
        self.optimizer = make_optimizer(self.model, config)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])

    def loss_weights(self) -> torch.Tensor | None:
        """Class weights from the labels this run trains on (never ground truth in a weakly supervised run);
        written to ``class_weights.json`` with their source."""
        d, k = self.config.data, self.info.num_classes
        counts, image_pixels = class_pixel_counts(self.samples.targets, k)
        weights = class_weights(counts, image_pixels, self.config.train.class_weights)
        source = {"full": "dense labels (data.supervision: full)",
                  "scribble": "scribbles (data.supervision: scribble)",
                  "pseudo": f"pseudo labels in {d.pseudo_dir} (data.supervision: pseudo)"}[d.supervision]
        if self.ctx.main:
            write_json(self.run.class_weights, {
                "method": self.config.train.class_weights, "source": source, "classes": list(self.info.class_names),
                "pixels": counts.tolist(), "pixels_of_images_with_the_class": image_pixels.tolist(),
                "weights": None if weights is None else weights.tolist()})
        if weights is None:
            return None
        self.log.info(f"class weights ({self.config.train.class_weights}, from {source}): "
                      + ", ".join(f"{n} {w:.3g}" for n, w in zip(self.info.class_names, weights)))
        return torch.tensor(weights, dtype=torch.float32, device=self.device)

    def checkpoint(self, step: int, path: Path) -> None:
        save_checkpoint(path, {
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "step": step, "best_score": self.best,
            "config": self.config.to_dict(),
            "model_spec": model_spec(self.config, self.outputs, self.samples.in_channels),
            "classes": class_info(self.info),
        })

    def evaluate(self) -> dict:
        if not self.scored:
            return {"score": float("nan"), "score_name": "none (no validation labels)", "unscored": True,
                    "confusion": {"miou": float("nan")}, "images": 0}
        return evaluate_run(self.net, self.config, self.val, self.device, ids=self.val_ids)


def train(config: Config, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Train a network as ``config`` says; return the run folder.

    The run folder ``output.root/name`` (layout: :mod:`scribblesup.runs`) receives ``config.yaml``, ``train.log``,
    ``scalars.csv``, ``last.pt`` and ``best.pt`` and ``eval_<split>_last.md/json`` for the final model.

    Parameters
    ----------
    config : Config
        From :func:`scribblesup.config.load_config`.
    resume : bool
        Continue from ``last.pt`` of the run folder (the same result as an uninterrupted run).
    progress : bool
        Show a progress bar with ETA.
    stop_after : int, optional
        Stop after this many steps of this call without a final checkpoint (simulates a kill; tests).
    """
    with distributed.writer_only(run_lock(config.run_dir())):
        return _train(config, resume, progress, stop_after)


def _train(config: Config, resume: bool, progress: bool, stop_after: int | None) -> Path:
    t = config.train
    tr = Trainer(config, resume)
    run, log, main = tr.run, tr.log, tr.ctx.main
    part = (tr.ctx.rank, tr.ctx.world_size)
    csv_file = writer = None
    if main:
        # from step 0 nothing logged before is kept: a run killed before its first checkpoint may have left an empty
        # or partly flushed scalars.csv, which an append would extend without a header
        fresh = tr.start == 0
        new_csv = fresh or not run.scalars.is_file()
        csv_file = run.scalars.open("w" if fresh else "a", newline="")
        writer = csv.DictWriter(csv_file, SCALAR_FIELDS)
        if new_csv:
            writer.writeheader()
    tr.model.train()
    t0 = time.time()
    bar = tqdm(range(tr.start, t.steps), initial=tr.start, total=t.steps, desc=config.name, unit="step",
               disable=not progress or not main)
    running = []
    try:
        for step in bar:
            if stop_after is not None and step - tr.start >= stop_after:
                return run.path
            images, targets = batch_for_step(tr.samples, step, config, part)
            lr = learning_rate(config, step)
            torch.manual_seed(t.seed * 1_000_003 + step)  # dropout of this step
            running.append(train_step(tr.model, tr.optimizer, tr.scaler, images.to(tr.device),
                                      targets.to(tr.device), lr, tr.amp_dtype, tr.use_amp, tr.weight, t.task,
                                      t.crf_loss, tr.ctx.world_size, t.scribble_weight))
            done = step + 1
            if not main:  # rank 0 evaluates and writes while the others go on to the next step's collectives
                continue
            if done % t.log_every == 0 or done == t.steps:
                mean = float(np.mean(running))
                running = []
                bar.set_postfix(loss=f"{mean:.4f}", lr=f"{lr:.2e}")
                writer.writerow({"step": done, "loss": f"{mean:.6f}", "lr": f"{lr:.6g}",
                                 "seconds": f"{time.time() - t0:.1f}"})
                csv_file.flush()
                log.info(f"step {done} loss {mean:.4f} lr {lr:.3g}")
            if done % t.eval_every == 0 or done == t.steps:
                result = tr.evaluate()
                score = result["score"]
                miou = result["confusion"]["miou"] if "confusion" in result else float("nan")
                writer.writerow({"step": done, "val_score": f"{score:.6f}", "val_miou": f"{miou:.6f}",
                                 "val_mean_dice": f"{result.get('mean_dice', float('nan')):.6f}",
                                 "seconds": f"{time.time() - t0:.1f}"})
                csv_file.flush()
                extra = "" if result["score_name"] in ("mIoU", "ODS F") else f" mIoU {miou:.4f}"
                log.info(f"step {done} validation {result['score_name']} {score:.4f}{extra}")
                if score > tr.best:
                    tr.best = score
                    tr.checkpoint(done, run.best)
            if done % t.checkpoint_every == 0 or done == t.steps:
                tr.checkpoint(done, run.last)
                if not tr.scored:  # nothing to choose the best by: the last checkpoint stands in
                    tr.checkpoint(done, run.best)
    finally:
        bar.close()
        if csv_file is not None:
            csv_file.close()
    if main:
        final = tr.evaluate()
        split = config.data.val_split
        run.write_evaluation(final, config.name, split)
        log.info(f"done: {final['score_name']} {final['score']:.4f} (best {tr.best:.4f}) in {time.time() - t0:.0f} s")
        offset = dict(config.test.logit_offset)
        if offset and tr.scored:  # the calibrated score beside the plain one (what evaluate reports by default)
            calibrated = evaluate_run(tr.net, config, tr.val, tr.device, ids=tr.val_ids, logit_offset=offset)
            run.write_evaluation(calibrated, config.name, split, logit_offset=offset)
            log.info(f"with test.logit_offset {format_logit_offset(offset)}: {calibrated['score_name']} "
                     f"{calibrated['score']:.4f}")
    distributed.barrier()  # every rank returns once rank 0 has written the run's results
    return run.path
