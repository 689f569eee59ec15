"""The ScribbleSup method end to end: alternating label inference (graph cut) and network training.

Round 0 propagates the scribbles with the scribble unary and the pairwise term;
each round trains the network on that round's pseudo labels; rounds 1..R add
the previous round's network unary -log P to the graph cut. Superpixels and
region graphs are computed once per training image and cached. Every step
writes its outputs atomically and is skipped when they exist, so a killed run
resumes where it stopped (``resume=True``).

Run folder ``output.root/name``::

    config.yaml  pipeline.log  rounds.csv
    round0/pseudo/<id>.png  round0/labels.json  round0/{last,best}.pt, scalars.csv, eval_val_last.json ...
    round1/...
"""

from __future__ import annotations

import copy
import csv
import json
import multiprocessing as mp
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .crf import refine_labels
from .energy import UNLABELLED
from .inference import pick_device, predict_probabilities
from .io import atomic_path, read_label_png, write_label_png
from .metrics import ConfusionMatrix
from .propagation import PropagationParams, default_params, parallel_map, propagate_scribbles
from .superpixels import RegionGraph, as_float_image, build_region_graph
from .train import load_run, open_run_dir, open_split, train

ROUND_FIELDS = ["round", "pseudo_miou", "pseudo_pixel_accuracy", "pseudo_coverage", "val_score", "val_miou",
                "val_mean_dice", "label_seconds", "train_seconds"]


def propagation_params(config: dict) -> PropagationParams:
    """The dataset's measured propagation defaults with the config's ``propagation`` overrides."""
    overrides = {k: v for k, v in (config.get("propagation") or {}).items() if v is not None}
    return default_params(config["data"]["dataset"], **overrides)


def cache_folder(config: dict, params: PropagationParams) -> Path:
    """Where the region graphs of a dataset and superpixel setting are cached (shared between runs)."""
    root = config["pipeline"]["cache_dir"] or Path(config["output"]["root"]) / "cache"
    p = params
    key = (f"{p.superpixel_method}-n{p.n_segments}-c{p.compactness}" if p.superpixel_method == "slic"
           else f"{p.superpixel_method}-s{p.fh_scale}")
    return Path(root) / config["data"]["dataset"] / key


def save_region_graph(path, graph: RegionGraph) -> None:
    """Write a region graph to ``path`` (compressed ``.npz``, atomically)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **asdict(graph))


def load_region_graph(path) -> RegionGraph:
    """Read a region graph written by :func:`save_region_graph`."""
    try:
        with np.load(path) as z:
            return RegionGraph(**{f.name: z[f.name] for f in fields(RegionGraph)})
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable region-graph cache file ({exc}); delete it to recompute") from exc


def _cache_one(job):
    dataset, sample_id, path, params = job
    image = as_float_image(dataset.load(sample_id).image)
    save_region_graph(path, build_region_graph(image, params.superpixels(image)))
    return sample_id


def cache_region_graphs(dataset, folder, params: PropagationParams, workers: int = 1, progress: bool = True) -> Path:
    """Compute (once) the superpixels and region graph of every sample; ``<folder>/<id>.npz``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(dataset, i, folder / f"{i}.npz", params) for i in dataset.ids if not (folder / f"{i}.npz").is_file()]
    for _ in tqdm(parallel_map(_cache_one, todo, workers), total=len(todo), desc="superpixels + region graphs",
                  unit="img", disable=not progress):
        pass
    return folder


def _label_one(job):
    """Graph cut of one training image; writes its pseudo label and returns its confusion counts."""
    dataset, sample_id, graph_path, out_path, params, probabilities, refine = job
    sample = dataset.load(sample_id)
    k = dataset.info.num_classes
    graph = load_region_graph(graph_path)
    labels = propagate_scribbles(sample.image, sample.scribble, k, params, probabilities, graph=graph).labels
    if refine:
        scribbled = sample.scribble != UNLABELLED
        labels = refine_labels(sample.image, labels, k, refine, keep=scribbled)
    write_label_png(out_path, labels, dataset.info.palette)
    return _scores(k, sample.label, labels)


def _reload_one(job):
    dataset, sample_id, _, out_path, *_ = job
    return _scores(dataset.info.num_classes, dataset.load(sample_id).label, read_label_png(out_path))


def _scores(k, label, labels):
    covered = int((labels != UNLABELLED).sum())
    counts = ConfusionMatrix(k).update(label, labels).counts if label is not None else None
    return counts, covered, labels.size


def _bounded(pool, fn, jobs, limit):
    """``pool.apply_async`` over a lazy job iterator, at most ``limit`` jobs in flight (in order)."""
    pending = deque()
    for job in jobs:
        pending.append(pool.apply_async(fn, (job,)))
        while len(pending) >= limit:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def label_inference(dataset, out_dir, graph_dir, params: PropagationParams, model=None, input_size=None,
                    refine: str | None = None, workers: int = 1, progress: bool = True,
                    stop_after: int | None = None) -> dict | None:
    """One round of label inference over a dataset: graph cut per image, one palette PNG per image.

    Parameters
    ----------
    dataset : scribblesup.datasets.Dataset
        Training split (images and scribbles; ground truth, if present, scores the pseudo labels).
    out_dir : path-like
        Folder for ``<id>.png``; existing files are kept (resume).
    graph_dir : path-like
        Cached region graphs (:func:`cache_region_graphs`).
    params : PropagationParams
    model : torch.nn.Module, optional
        The previous round's network: its probabilities add the unary ``network_weight * -log P``.
    input_size : (int, int), optional
        Size the network takes.
    refine : {"densecrf", "mrf"}, optional
        Refine each pseudo label map (scribbled pixels are kept).
    workers : int
        Processes for the graph cuts (the network runs in this process).
    stop_after : int, optional
        Stop after this many new images (simulates a kill; tests). Returns None then.

    Returns
    -------
    dict or None
        ``pseudo`` (confusion summary against ground truth, or None without it), ``coverage``
        (labelled fraction of pixels), ``images``, ``seconds``.
    """
    t0 = time.perf_counter()
    out_dir, graph_dir = Path(out_dir), Path(graph_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(dataset, i, graph_dir / f"{i}.npz", out_dir / f"{i}.png", params, None, refine) for i in dataset.ids]
    done = [j for j in jobs if j[3].is_file()]
    todo = [j for j in jobs if not j[3].is_file()][:stop_after]
    if model is not None:
        model.eval()
        device = next(model.parameters()).device

        def with_probabilities(batch):
            for job in batch:
                image = dataset.load(job[1]).image
                probabilities = predict_probabilities(model, image, input_size, device).astype(np.float32)
                yield job[:5] + (probabilities,) + job[6:]

        todo_iter = with_probabilities(todo)
    else:
        todo_iter = iter(todo)
    k = dataset.info.num_classes
    confusion, covered, total, scored = ConfusionMatrix(k), 0, 0, 0
    with ExitStack() as stack:
        if workers > 1 and len(todo) > 1:
            pool = stack.enter_context(mp.Pool(workers))
            computed = _bounded(pool, _label_one, todo_iter, 2 * workers)
        else:
            computed = map(_label_one, todo_iter)
        results = [map(_reload_one, done), computed]
        bar = tqdm(total=len(done) + len(todo), desc="label inference", unit="img", disable=not progress)
        for part in results:
            for counts, cov, size in part:
                if counts is not None:
                    confusion.counts += counts
                    scored += 1
                covered, total = covered + cov, total + size
                bar.update()
        bar.close()
    if stop_after is not None and len(done) + len(todo) < len(jobs):
        return None
    return {"pseudo": confusion.summary(dataset.info.class_names) if scored else None,
            "coverage": covered / max(total, 1), "images": len(jobs), "seconds": time.perf_counter() - t0}


def round_config(config: dict, run_dir: Path, k: int) -> dict:
    """The training config of round ``k``: pseudo-label supervision, and fine-tuning from round k-1 if asked."""
    c = copy.deepcopy(config)
    p = config["pipeline"]
    c["name"] = f"round{k}"
    c["output"]["root"] = str(run_dir)
    c["data"]["supervision"] = "pseudo"
    c["data"]["pseudo_dir"] = str(run_dir / f"round{k}" / "pseudo")
    if k > 0 and p["init"] == "finetune":
        c["train"]["init_from"] = str(run_dir / f"round{k - 1}" / "last.pt")
        c["train"]["steps"] = p["finetune_steps"] or config["train"]["steps"]
        c["train"]["lr"] = p["finetune_lr"] or config["train"]["lr"]
    elif p["init"] not in ("finetune", "scratch"):
        raise ValueError(f"pipeline.init must be finetune or scratch, got {p['init']!r}")
    return c


def _write_rounds_csv(run_dir: Path, rounds: int) -> list[dict]:
    rows = []
    for k in range(rounds + 1):
        labels_file, eval_file = run_dir / f"round{k}" / "labels.json", run_dir / f"round{k}" / "eval_val_last.json"
        if not labels_file.is_file():
            break
        lab = json.loads(labels_file.read_text())
        row = {"round": k, "pseudo_coverage": f"{lab['coverage']:.6f}", "label_seconds": f"{lab['seconds']:.1f}"}
        if lab["pseudo"]:
            row.update(pseudo_miou=f"{lab['pseudo']['miou']:.6f}",
                       pseudo_pixel_accuracy=f"{lab['pseudo']['pixel_accuracy']:.6f}")
        if eval_file.is_file():
            ev = json.loads(eval_file.read_text())
            row.update(val_score=f"{ev['score']:.6f}", val_miou=f"{ev['confusion']['miou']:.6f}",
                       val_mean_dice=f"{ev['mean_dice']:.6f}" if "mean_dice" in ev else "",
                       train_seconds=f"{ev.get('train_seconds', float('nan')):.1f}")
        rows.append(row)
    with atomic_path(run_dir / "rounds.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, ROUND_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return rows


def run_pipeline(config: dict, resume: bool = False, progress: bool = True,
                 interrupt: tuple[int, str, int] | None = None) -> Path | None:
    """Run ScribbleSup: round 0 graph cut, then train / infer labels for ``pipeline.rounds`` more rounds.

    Parameters
    ----------
    config : dict
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
    p = config["pipeline"]
    run_dir = Path(config["output"]["root"]) / config["name"]
    log = open_run_dir(run_dir, config, resume, exists_if=run_dir / "config.yaml", log_name="pipeline.log")
    params = propagation_params(config)
    dataset = open_split(config, config["data"]["train_split"])
    if config["data"]["limit"]:
        dataset.ids = dataset.ids[: config["data"]["limit"]]
    log.info(f"{'resume' if resume else 'start'}: {config['name']}, {len(dataset.ids)} training images, "
             f"{p['rounds']} rounds after round 0, propagation {params.to_dict()}")
    t0 = time.perf_counter()
    graph_dir = cache_region_graphs(dataset, cache_folder(config, params), params, p["workers"], progress)
    log.info(f"region graphs ready in {graph_dir} ({time.perf_counter() - t0:.0f} s)")
    for k in range(p["rounds"] + 1):
        round_dir = run_dir / f"round{k}"
        labels_file = round_dir / "labels.json"
        cfg = round_config(config, run_dir, k)
        if not labels_file.is_file():
            model = None
            if k > 0:
                model, _, _ = load_run(run_dir / f"round{k - 1}", "last", pick_device(config["train"]["device"]))
            stop = interrupt[2] if interrupt and interrupt[:2] == (k, "labels") else None
            result = label_inference(dataset, round_dir / "pseudo", graph_dir, params, model,
                                     config["data"]["input_size"], p["refine_pseudo"], p["workers"], progress, stop)
            if result is None:
                return None
            with atomic_path(labels_file) as tmp:
                tmp.write_text(json.dumps(result, indent=1))
            quality = f"pseudo-label mIoU {result['pseudo']['miou']:.4f}, " if result["pseudo"] else ""
            log.info(f"round {k}: labels {quality}coverage {result['coverage']:.4f} in {result['seconds']:.0f} s")
        eval_file = round_dir / f"eval_{config['data']['val_split']}_last.json"
        if not eval_file.is_file():
            stop = interrupt[2] if interrupt and interrupt[:2] == (k, "train") else None
            t1 = time.perf_counter()
            train(cfg, resume=(round_dir / "last.pt").is_file(), progress=progress, stop_after=stop)
            if not eval_file.is_file():
                return None
            ev = json.loads(eval_file.read_text())
            ev["train_seconds"] = time.perf_counter() - t1
            with atomic_path(eval_file) as tmp:
                tmp.write_text(json.dumps(ev, indent=1))
            log.info(f"round {k}: network {ev['score_name']} {ev['score']:.4f} on {config['data']['val_split']} "
                     f"({ev['train_seconds']:.0f} s)")
        _write_rounds_csv(run_dir, p["rounds"])
    log.info(f"done in {time.perf_counter() - t0:.0f} s (this call)")
    return run_dir
