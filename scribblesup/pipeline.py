"""The ScribbleSup method end to end: alternating label inference (graph cut) and network training.

Round 0 propagates the scribbles with the scribble unary and the pairwise term;
each round trains the network on that round's pseudo labels; rounds 1..R add
the previous round's network unary -log P to the graph cut. Superpixels and
region graphs are computed once per training image and cached. Every step
writes its outputs atomically and is skipped when they exist, so a killed run
resumes where it stopped (``resume=True``).

The run folder's layout is :mod:`scribblesup.runs`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import distributed
from .config import TEST_ONLY, Config, config_differences, load_config
from .datasets import open_split
from .inference import format_logit_offset, pick_device
from .labelling import LabellingResult, RegionGraphCache, label_dataset
from .propagation import PropagationParams, check_per_class
from .runs import RunDir, link_tree, load_run, open_run_dir, run_lock, write_json, write_rounds_csv
from .train import check_logit_offset, train


def cache_folder(config: Config) -> Path:
    """Where the region graphs of a dataset and superpixel setting are cached (shared between runs).

    Entries are checked against the image's content when used (:class:`RegionGraphCache`), so a folder shared by
    two datasets of the same name never serves the wrong graph.
    """
    root = config.pipeline.cache_dir or Path(config.output.root) / "cache"
    p = config.propagation_params()
    key = (f"{p.superpixel_method}-n{p.n_segments}-c{p.compactness}" if p.superpixel_method == "slic"
           else f"{p.superpixel_method}-s{p.fh_scale}")
    return Path(root) / config.data.dataset / key


def region_graph_cache(config: Config) -> RegionGraphCache:
    """The region-graph cache of a config's dataset and superpixel setting."""
    return RegionGraphCache(cache_folder(config), config.propagation_params())


# what only rounds >= 1 use: two configs that differ in nothing else have the same round 0 (labels and network)
ROUNDS_ONLY = ("name", "output.root", "propagation.network_weight", "propagation.level", "propagation.pixel_weight",
               "propagation.ignore_margin", "propagation.network_confidence", "propagation.network_offset",
               "propagation.refine_weight", "propagation.edge_weight", "pipeline.rounds", "pipeline.init",
               "pipeline.finetune_steps", "pipeline.finetune_lr", "pipeline.later_crf_loss_weight",
               "pipeline.workers", "pipeline.engine", "pipeline.ray_address", "pipeline.cache_dir",
               "pipeline.edge_steps", "pipeline.relabel", "pipeline.unweight_network", "train.eval_every",
               "train.checkpoint_every", "train.log_every", "train.device", *TEST_ONLY)


def share_round_zero(source, config: Config) -> bool:
    """Start ``config``'s run folder with the finished round 0 of the run at ``source`` (hard links), when the two
    configs differ only in what rounds >= 1 use (:data:`ROUNDS_ONLY`); True when round 0 is shared.

    Variants of a recipe that change only the later rounds (label-inference options, the same-steps control) then
    train round 0 once. A run folder that already has a round 0, or a source whose round 0 is unfinished, is left
    alone. Run folders write by atomic rename, so the links are never written through.
    """
    src, dst = RunDir(source), RunDir(config.run_dir())
    if dst.round(0).path.exists() or not src.config.is_file() or not src.round(0).labels_json.is_file():
        return False
    if not src.round(0).evaluation(config.data.val_split, "last").is_file():
        return False
    if any(k not in ROUNDS_ONLY for k in config_differences(load_config(src.config), config)):
        return False
    link_tree(src.round(0).path, dst.round(0).path)
    return True


def unweighted_params(params: PropagationParams, class_weights: Path, num_classes: int) -> PropagationParams:
    """``params`` with a network's class-weight prior taken out of its unary (``pipeline.unweight_network``).

    A network trained with a class-weighted cross-entropy learns ``q_c`` proportional to ``w_c p_c``; the logit
    offset ``-log w_c`` (added to ``params.network_offset``) gives ``p`` back before the network votes on labels.
    ``class_weights`` is the ``class_weights.json`` of the run that trained the network; unweighted: no change. A
    class of weight 0 was never a target, so its probability says nothing to undo: its offset stays 0.
    ``ValueError`` naming the file when it is missing, unreadable, or holds other than ``num_classes`` weights.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "class_weights.json"
    >>> _ = f.write_text('{"weights": [2.0, 0.5]}')
    >>> p = unweighted_params(PropagationParams(network_offset=[0.0, -1.0]), f, 2)
    >>> np.round(p.network_offset, 3).tolist()
    [-0.693, -0.307]
    """
    try:
        weights = json.loads(class_weights.read_text())["weights"]
        w = None if weights is None else np.asarray(weights, np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{class_weights}: not the loss weights pipeline.unweight_network needs ({exc})") from None
    if w is None:
        return params
    if w.shape != (num_classes,):
        raise ValueError(f"{class_weights}: {w.size} loss weights for {num_classes} classes")
    offset = -np.log(np.where(w > 0, w, 1.0))
    if params.network_offset is not None:
        offset = offset + np.asarray(params.network_offset, np.float64)
    return dataclasses.replace(params, network_offset=offset.tolist())


def round_config(config: Config, run: RunDir, k: int) -> Config:
    """The training config of round ``k``: pseudo-label supervision, and fine-tuning from round k-1 if asked."""
    c = copy.deepcopy(config)
    p = config.pipeline
    c.name = run.round(k).path.name
    c.output.root = str(run.path)
    c.data.supervision = "pseudo"
    c.data.pseudo_dir = str(run.round(k if p.relabel else 0).pseudo)
    if k > 0 and p.init == "finetune":
        c.train.init_from = str(run.round(k - 1).last)
        c.train.steps = p.finetune_steps or config.train.steps
        c.train.lr = p.finetune_lr or config.train.lr
    if k > 0 and p.later_crf_loss_weight is not None:
        c.train.crf_loss.weight = p.later_crf_loss_weight
    return c


def edge_config(config: Config, run: RunDir) -> Config:
    """The edge network's training config: HED on the boundaries of round 0's pseudo labels (no ground truth)."""
    c = copy.deepcopy(config)
    c.name = run.edges.path.name
    c.output.root = str(run.path)
    c.model.name, c.model.options = "hed", {}
    c.train.task, c.train.class_weights = "edges", "none"
    c.train.steps = config.pipeline.edge_steps
    c.train.init_from = None
    c.data.supervision = "pseudo"
    c.data.pseudo_dir = str(run.round(0).pseudo)
    return c


def run_pipeline(config: Config, resume: bool = False, progress: bool = True,
                 interrupt: tuple[int, str, int] | None = None) -> Path | None:
    """Run ScribbleSup: round 0 graph cut, then train / infer labels for ``pipeline.rounds`` more rounds.

    Parameters
    ----------
    config : Config
        From :func:`scribblesup.config.load_config`; sections ``data``, ``model``, ``train`` (round 0's
        schedule), ``propagation`` and ``pipeline``.
    resume : bool
        Continue a run folder that exists (finished steps are skipped; an unfinished training resumes
        from its last checkpoint, an unfinished label inference from its last written PNG).
    progress : bool
        Progress bars.
    interrupt : (round, "labels" | "train", count), optional
        Stop after ``count`` images or steps of that phase of that round, as a kill would (tests).

    Returns
    -------
    Path or None
        The run folder (None when interrupted).
    """
    if config.pipeline.engine == "ray":
        from .ray_engine import ray_module

        ray_module()  # not installed: say so before the run folder is made
    with distributed.writer_only(run_lock(config.run_dir())):
        return _run(config, resume, progress, interrupt)


def shrinking_classes(run: RunDir, k: int, class_names, drop: float = 0.2) -> list[str]:
    """Warnings for classes whose pseudo-label area fell by more than ``drop`` from round k-1 to round k: the
    network unary may be teaching the graph cut its own mistakes (confirmation bias)."""
    before = json.loads(run.round(k - 1).labels_json.read_text()).get("class_pixels")
    after = json.loads(run.round(k).labels_json.read_text()).get("class_pixels")
    if not before or not after:
        return []
    return [f"round {k}: class {name} shrank from {a} to {b} pseudo-label pixels ({(b - a) / a:+.0%}): "
            "a sign of confirmation bias" for name, a, b in zip(class_names, before, after) if a and b < (1 - drop) * a]


def edge_network(config: Config, run: RunDir, log, progress: bool, device):
    """The edge network of a pipeline run, trained (or resumed) on round 0's pseudo labels when it is not done."""
    cfg = edge_config(config, run)
    if not run.edges.evaluation(cfg.data.val_split, "last").is_file():
        t0 = time.perf_counter()
        train(cfg, resume=run.edges.last.is_file(), progress=progress)
        ev = json.loads(run.edges.evaluation(cfg.data.val_split, "last").read_text())
        log.info(f"edge network: {cfg.train.steps} steps on round 0's pseudo-label boundaries, ODS F "
                 f"{ev['score']:.4f} on {cfg.data.val_split} ({time.perf_counter() - t0:.0f} s)")
    model, _, _ = load_run(run.edges.path, "last", device)
    return model


def _run(config: Config, resume: bool, progress: bool, interrupt) -> Path | None:
    p = config.pipeline
    run = RunDir(config.run_dir())
    device = pick_device(config.train.device)
    # under torchrun: every rank trains (data-parallel) and labels its share of the images; rank 0 writes the rest
    ctx, device = distributed.setup(device)
    # the splits open before anything is written (a missing split is an error at start)
    dataset = open_split(config.data, config.data.train_split, limit=config.data.limit)
    open_split(config.data, config.data.val_split)
    try:
        check_per_class(config.propagation_params(), dataset.info.num_classes)
    except ValueError as exc:
        raise ValueError(f"propagation.{exc} of {config.data.dataset}") from None
    check_logit_offset(config, dataset.info.class_names)  # before label inference, not after round 0's training
    error = log = None
    if ctx.main:
        try:
            log = open_run_dir(run, config, resume, exists_if=run.config, log_name="pipeline")
        except (ValueError, OSError) as exc:
            error = exc
    else:
        log = distributed.quiet_logger(ctx)
    distributed.agree(error)
    params = config.propagation_params()
    share = dataset.subset(ctx.shard(dataset.ids)) if ctx.active else dataset
    val_split = config.data.val_split
    processes = f", {ctx.world_size} processes" if ctx.active else ""
    log.info(f"{'resume' if resume else 'start'}: {config.name}, {len(dataset.ids)} training images, "
             f"{p.rounds} rounds after round 0{processes}, propagation {params.to_dict()} "
             f"({config.propagation_source()})")
    t0 = time.perf_counter()
    cache = region_graph_cache(config).fill(share, p.workers, progress and ctx.main, p.engine, p.ray_address)
    distributed.barrier()
    log.info(f"region graphs ready in {cache.folder} ({time.perf_counter() - t0:.0f} s)")
    for k in range(p.rounds + 1):
        rnd = run.round(k)
        if k > 0 and not p.relabel and ctx.main and not rnd.labels_json.is_file():
            # the same-steps control: round k trains on round 0's labels (round_config), recorded as such
            rnd.path.mkdir(parents=True, exist_ok=True)
            write_json(rnd.labels_json, {**json.loads(run.round(0).labels_json.read_text()), "seconds": 0.0,
                                         "labels_of_round": 0})
        distributed.barrier()
        if not rnd.labels_json.is_file():
            model = edge_model = None
            round_params = params
            if k > 0:
                model, _, _ = load_run(run.round(k - 1).path, "last", device)
                if p.edge_steps:
                    edge_model = edge_network(config, run, log, progress, device)
                if p.unweight_network:
                    round_params = unweighted_params(params, run.round(k - 1).class_weights,
                                                     dataset.info.num_classes)
                    if round_params is not params:
                        offsets = dict(zip(dataset.info.class_names, np.round(round_params.network_offset, 3)))
                        log.info(f"round {k}: network unary unweighted, logit offsets {format_logit_offset(offsets)}")
            stop = interrupt[2] if interrupt and interrupt[:2] == (k, "labels") else None
            label = dict(params=round_params, cache=cache, model=model, input_size=config.data.input_size,
                         refine=p.refine_pseudo, workers=p.workers, edge_model=edge_model, engine=p.engine,
                         address=p.ray_address)
            t1 = time.perf_counter()
            if ctx.active:  # each rank its share; rank 0 then reads and scores them all below
                done = label_dataset(share, rnd.pseudo, progress=False, stop_after=stop, **label).complete
                if distributed.all_sum(torch.tensor(int(done))).item() < ctx.world_size:
                    return None
            if ctx.main:
                result: LabellingResult = label_dataset(dataset, rnd.pseudo, progress=progress, stop_after=stop,
                                                        **label)
                if not result.complete:
                    return None
                summary = result.summary(dataset.info.class_names)
                summary["seconds"] = time.perf_counter() - t1  # with the ranks' shares under torchrun
                write_json(rnd.labels_json, summary)
                quality = f"pseudo-label mIoU {summary['pseudo']['miou']:.4f}, " if summary["pseudo"] else ""
                log.info(f"round {k}: labels {quality}coverage {result.coverage:.4f} in {summary['seconds']:.0f} s")
                if k > 0:
                    for line in shrinking_classes(run, k, dataset.info.class_names):
                        log.info(line)
            distributed.barrier()
        eval_file = rnd.evaluation(val_split, "last")
        if not eval_file.is_file():
            stop = interrupt[2] if interrupt and interrupt[:2] == (k, "train") else None
            t1 = time.perf_counter()
            train(round_config(config, run, k), resume=rnd.last.is_file(), progress=progress, stop_after=stop)
            if not eval_file.is_file():
                return None
            if ctx.main:
                ev = json.loads(eval_file.read_text())
                ev["train_seconds"] = time.perf_counter() - t1
                write_json(eval_file, ev)
                log.info(f"round {k}: network {ev['score_name']} {ev['score']:.4f} on {val_split} "
                         f"({ev['train_seconds']:.0f} s)")
        if ctx.main:
            write_rounds_csv(run, p.rounds, val_split)
        distributed.barrier()
    log.info(f"done in {time.perf_counter() - t0:.0f} s (this call)")
    return run.path
