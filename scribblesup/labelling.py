"""Label inference over a whole dataset: the one loop behind ``scribblesup propagate --dataset``, every round of
``scribblesup run`` and the experiments.

Per image: superpixels and region graph (from the content-keyed cache when one is given), the ScribbleSup graph
cut (with the network unary when a model is given), optional refinement, one palette PNG written atomically.
Existing outputs are kept (resume) and still count in the score. Work runs in a pool of processes through
:func:`parallel_map` (``engine="local"``), or as tasks on a Ray cluster (``engine="ray"``,
:mod:`scribblesup.ray_engine`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .conventions import UNLABELLED, as_float_image
from .datasets.base import check_sample_id
from .io import atomic_path, read_label_png, remove_stale_temp_files, write_label_png
from .metrics import ConfusionMatrix
from .propagation import PropagationParams, default_params, propagate_scribbles
from .superpixels import build_region_graph, load_region_graph, save_region_graph

RECORD = "labelling.json"  # the settings an output folder was made with


ENGINES = ("local", "ray")


def parallel_map(fn, jobs, workers: int = 1, window: int | None = None, engine: str = "local",
                 address: str | None = None):
    """``fn`` over ``jobs`` (any iterable, consumed lazily), results in order.

    With ``workers > 1``, in a pool of processes with at most ``window`` (default ``2 * workers``) jobs in flight:
    a job's inputs can be made in this process (e.g. a network's probabilities) while workers run earlier jobs.
    ``engine="ray"``: as tasks on the Ray cluster at ``address`` (or a local one with ``workers`` CPUs).
    """
    if engine == "ray":
        from .ray_engine import ray_map

        yield from ray_map(fn, jobs, workers, window, address)
        return
    if workers <= 1:
        yield from map(fn, jobs)
        return
    window = window or 2 * workers
    with mp.Pool(workers) as pool:
        pending = deque()
        for job in jobs:
            pending.append(pool.apply_async(fn, (job,)))
            while len(pending) >= window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


@dataclass
class NetworkMaps:
    """The networks a labelling round adds to the graph cut: a segmentation network's probabilities (the unary
    ``-log P``) and an edge network's edge map, each at the input size it was trained at."""

    model: Any = None
    input_size: Any = None
    edge_model: Any = None
    edge_input_size: Any = None

    def to(self, device=None) -> "NetworkMaps":
        """The networks in eval mode (on ``device`` when one is given)."""
        for m in (self.model, self.edge_model):
            if m is not None:
                (m if device is None else m.to(device)).eval()
        return self

    def __call__(self, image: np.ndarray):
        """(probabilities or None, edges or None) of one image, float32."""
        from .inference import predict_edges, predict_probabilities

        probabilities = edges = None
        if self.model is not None:
            probabilities = predict_probabilities(self.model, image, self.input_size).astype(np.float32)
        if self.edge_model is not None:
            edges = predict_edges(self.edge_model, image, self.edge_input_size or self.input_size).astype(np.float32)
        return probabilities, edges


class RegionGraphCache:
    """Superpixels and region graphs of a dataset's images, computed once, at ``<folder>/<id>.npz``.

    Each entry stores a key made of the image's bytes and the superpixel parameters, checked on every load: a
    changed image (or other parameters) under the same id is recomputed, never served stale.
    """

    def __init__(self, folder, params: PropagationParams):
        self.folder, self.params = Path(folder), params

    def key(self, image: np.ndarray) -> str:
        p = self.params
        h = hashlib.sha256(np.ascontiguousarray(image).tobytes())
        h.update(repr((image.shape, str(image.dtype), p.superpixel_method, p.n_segments, p.compactness,
                       p.fh_scale)).encode())
        return h.hexdigest()

    def path(self, sample_id: str) -> Path:
        return self.folder / f"{check_sample_id(sample_id, self.folder)}.npz"

    def get(self, sample_id: str, image: np.ndarray):
        """The region graph of ``image`` (id ``sample_id``): from the cache when its key matches, else computed."""
        image = as_float_image(image)
        key, path = self.key(image), self.path(sample_id)
        if path.is_file():
            try:
                return load_region_graph(path, key)
            except ValueError:
                pass  # stale or unreadable: recomputed below, replacing the entry
        graph = build_region_graph(image, self.params.superpixels(image))
        save_region_graph(path, graph, key)
        return graph

    def fill(self, dataset, workers: int = 1, progress: bool = True, engine: str = "local",
             address: str | None = None) -> "RegionGraphCache":
        """Compute the entries that are missing (stale ones are replaced when they are next used)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.folder, older_than=3600)  # the cache is shared: only files no writer still holds
        todo = [(self, dataset, i) for i in dataset.ids if not self.path(i).is_file()]
        for _ in tqdm(parallel_map(_cache_one, todo, workers, engine=engine, address=address), total=len(todo), desc="superpixels + region graphs",
                      unit="img", disable=not progress or not todo):
            pass
        return self


def _cache_one(job):
    cache, dataset, sample_id = job
    cache.get(sample_id, dataset.load(sample_id).image)


@dataclass
class LabellingResult:
    """What a labelling pass over a dataset gives.

    Attributes
    ----------
    confusion : ConfusionMatrix or None
        Pseudo labels against ground truth, over the samples that have one (None if none has).
    covered, pixels : int
        Labelled pixels (not 255) and all pixels.
    images : int
    seconds : float
    complete : bool
        False when stopped early (``stop_after``).
    class_pixels : ndarray
        (K,) pixels given each class (the labels' class areas, round over round a sign of confirmation bias).
    """

    confusion: ConfusionMatrix | None
    covered: int
    pixels: int
    images: int
    seconds: float
    complete: bool = True
    class_pixels: np.ndarray | None = None

    @property
    def coverage(self) -> float:
        return self.covered / max(self.pixels, 1)

    def summary(self, class_names) -> dict:
        """Plain dict (``labels.json`` of a pipeline round)."""
        return {"pseudo": self.confusion.summary(class_names) if self.confusion is not None else None,
                "coverage": self.coverage, "images": self.images, "seconds": self.seconds,
                "class_pixels": None if self.class_pixels is None else self.class_pixels.tolist()}


def _label_one(job):
    """Graph cut of one image; writes its label PNG and returns (confusion counts or None, covered, pixels)."""
    dataset, sample_id, out_path, params, cache, probabilities, refine, edges = job
    sample = dataset.load(sample_id)
    k = dataset.info.num_classes
    graph = cache.get(sample_id, sample.image) if cache is not None else None
    try:
        labels = propagate_scribbles(sample.image, sample.scribble, k, params, probabilities, graph=graph,
                                     edges=edges).labels
    except ValueError as exc:
        raise ValueError(f"sample {sample_id} of {dataset.info.name}: {exc}") from None
    if refine:
        from .crf import refine_labels

        labels = refine_labels(sample.image, labels, k, refine, keep=sample.scribble != UNLABELLED)
    write_label_png(out_path, labels, dataset.info.palette)
    return _scores(k, sample.label, labels)


def _label_with_maps(job, maps):
    """:func:`_label_one` with the network maps computed elsewhere (a Ray actor)."""
    probabilities, edges = maps
    return _label_one(job[:5] + (probabilities, job[6], edges))


def _reload_one(job):
    dataset, sample_id, out_path, *_ = job
    return _scores(dataset.info.num_classes, dataset.load(sample_id).label, read_label_png(out_path))


def _scores(k, label, labels):
    counts = ConfusionMatrix(k).update(label, labels).counts if label is not None else None
    areas = np.bincount(labels[labels < k].ravel().astype(np.int64), minlength=k)
    return counts, int((labels != UNLABELLED).sum()), labels.size, areas


def check_record(out_dir: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to add to an output folder made with other settings (unless ``overwrite``); record them."""
    record = Path(out_dir) / RECORD
    if record.is_file() and not overwrite:
        try:
            old = json.loads(record.read_text())
        except ValueError:
            old = None
        if old != settings:
            diff = sorted(k for k in set(old or {}) | set(settings) if (old or {}).get(k) != settings.get(k))
            raise FileExistsError(f"{out_dir}: made with other settings ({', '.join(diff) or 'unreadable record'}); "
                                  "use another folder, or --overwrite to recompute every output")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(settings, indent=1, sort_keys=True))


def label_dataset(dataset, out_dir, params: PropagationParams | None = None, *, cache: RegionGraphCache | None = None,
                  model=None, input_size=None, refine: str | None = None, workers: int = 1, overwrite: bool = False,
                  progress: bool = True, stop_after: int | None = None, record: dict | None = None,
                  edge_model=None, edge_input_size=None, engine: str = "local",
                  address: str | None = None) -> LabellingResult:
    """Label every sample of a dataset by graph cut; one palette PNG ``<out_dir>/<id>.png`` per sample.

    Parameters
    ----------
    dataset : scribblesup.datasets.Dataset
        Images and scribbles (ground truth, where present, scores the labels).
    out_dir : path-like
        Output folder. Existing outputs are kept and counted (resume) unless ``overwrite``.
    params : PropagationParams, optional
        Default: :func:`scribblesup.propagation.default_params` of the dataset.
    cache : RegionGraphCache, optional
        Region graphs computed once per image (pipelines); without it each image's are computed here.
    model : torch.nn.Module, optional
        A network whose probabilities add the unary ``params.network_weight * -log P`` (rounds >= 1).
    input_size : (int, int), optional
        Size the network takes.
    refine : {"densecrf", "mrf"}, optional
        Refine each label map (scribbled pixels are kept).
    workers : int
        Processes for the graph cuts (the network runs in this process).
    overwrite : bool
        Recompute outputs that exist.
    progress : bool
        A tqdm progress bar.
    stop_after : int, optional
        Stop after this many new images (simulates a kill; tests); the result then has ``complete=False``.
    record : dict, optional
        Settings the folder is made with: stored in ``labelling.json``; a folder made with others is refused
        (unless ``overwrite``).
    edge_model : torch.nn.Module, optional
        An edge network (e.g. HED) whose edge map weakens the pairwise term across likely edges
        (``params.edge_weight``), at ``edge_input_size``.
    engine : {"local", "ray"}
        A pool of ``workers`` processes here (the networks run in this process), or Ray tasks (the networks in
        actors that hold them once) on the cluster at ``address`` (default: a local Ray with ``workers`` CPUs).

    Returns
    -------
    LabellingResult
    """
    t0 = time.perf_counter()
    if engine == "ray":
        from .ray_engine import ray_module

        ray_module()  # not installed: say so before anything is written
    params = params or default_params(dataset.info.name)
    out_dir = Path(out_dir)
    if record is not None:
        check_record(out_dir, record, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out_dir)
    jobs = [(dataset, check_sample_id(i, dataset.info.name), out_dir / f"{i}.png", params, cache, None, refine, None)
            for i in dataset.ids]
    exists = [j[2].is_file() and not overwrite for j in jobs]
    done = [j for j, e in zip(jobs, exists) if e]
    todo = [j for j, e in zip(jobs, exists) if not e][:stop_after]
    maps = (NetworkMaps(model, input_size, edge_model, edge_input_size)
            if model is not None or edge_model is not None else None)
    n_workers = workers if len(todo) > 1 else 1
    if engine == "ray":
        from .ray_engine import ray_map

        fn = _label_one if maps is None else _label_with_maps
        labelled = ray_map(fn, todo, workers, address=address, maps=maps, dataset=dataset)
    elif maps is not None:
        maps.to()

        def with_network_maps(batch):  # the networks run here, the graph cuts in the workers
            for job in batch:
                probabilities, edges = maps(dataset.load(job[1]).image)
                yield job[:5] + (probabilities, job[6], edges)

        labelled = parallel_map(_label_one, with_network_maps(todo), n_workers)
    else:
        labelled = parallel_map(_label_one, todo, n_workers)
    k = dataset.info.num_classes
    confusion, covered, pixels, scored = ConfusionMatrix(k), 0, 0, 0
    areas = np.zeros(k, np.int64)
    bar = tqdm(total=len(done) + len(todo), desc="label inference", unit="img", disable=not progress)
    for part in (map(_reload_one, done), labelled):
        for counts, cov, size, area in part:
            if counts is not None:
                confusion.counts += counts
                scored += 1
            covered, pixels = covered + cov, pixels + size
            areas += area
            bar.update()
    bar.close()
    return LabellingResult(confusion if scored else None, covered, pixels, len(jobs), time.perf_counter() - t0,
                           complete=len(done) + len(todo) == len(jobs), class_pixels=areas)
