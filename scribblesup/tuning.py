"""Choosing propagation parameters by measurement: a grid search of round 0 (scribble unary + pairwise) on a few
images that have dense labels, scored by pseudo-label mIoU.

Superpixels and region graphs are computed once per superpixel setting and image, and reused across the energy
parameters. The pairwise weight is not searched: with the scribble unary alone, every free region pays the same
constant for each allowed class, so scaling all pairwise weights leaves the minimiser unchanged; it matters only
once the network unary joins (rounds 1..R).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .metrics import ConfusionMatrix
from .propagation import PropagationParams, propagate_scribbles
from .superpixels import build_region_graph, compute_superpixels

SUPERPIXELS = ("slic:300", "slic:600", "slic:1200", "slic:2000", "felzenszwalb:50", "felzenszwalb:100",
               "felzenszwalb:300")
DELTAS = (0.3, 1.0, 3.0)
BOUNDARY = (True, False)


def parse_superpixels(spec: str) -> tuple[str, float, float | None]:
    """``method:size[:compactness]`` -> (method, size, compactness or None).

    Examples
    --------
    >>> parse_superpixels("slic:1200")
    ('slic', 1200.0, None)
    >>> parse_superpixels("felzenszwalb:50")
    ('felzenszwalb', 50.0, None)
    """
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("slic", "felzenszwalb"):
        raise ValueError(f"superpixels {spec!r}: expected slic:N[:compactness] or felzenszwalb:SCALE")
    try:
        return parts[0], float(parts[1]), float(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise ValueError(f"superpixels {spec!r}: size and compactness must be numbers") from None


def setting_params(spec: str, delta_color: float, delta_texture: float, boundary: bool) -> PropagationParams:
    """The :class:`PropagationParams` of one grid point."""
    method, size, compactness = parse_superpixels(spec)
    sp = dict(n_segments=int(size), compactness=compactness) if method == "slic" else dict(fh_scale=size)
    return PropagationParams(superpixel_method=method, delta_color=delta_color, delta_texture=delta_texture,
                             use_boundary_length=boundary, **sp)


def score_image(job) -> dict:
    """Confusion counts of every grid point on one image: ``{(spec, dc, dt, boundary): counts}``."""
    dataset, sample_id, superpixels, deltas, boundary = job
    s = dataset.load(sample_id)
    k = dataset.info.num_classes
    out = {}
    for spec in superpixels:
        method, size, compactness = parse_superpixels(spec)
        sp = compute_superpixels(s.image, method=method, n_segments=int(size), compactness=compactness, scale=size)
        graph = build_region_graph(s.image, sp)
        for dc, dt, bl in itertools.product(deltas, deltas, boundary):
            labels = propagate_scribbles(s.image, s.scribble, k, setting_params(spec, dc, dt, bl), graph=graph).labels
            out[(spec, dc, dt, bl)] = ConfusionMatrix(k).update(s.label, labels).counts
    return out


@dataclass
class TuningResult:
    miou: float
    setting: tuple  # (superpixels spec, delta_color, delta_texture, boundary length)

    @property
    def params(self) -> PropagationParams:
        return setting_params(*self.setting)


def labelled_subset(dataset, count: int | None):
    """Up to ``count`` images of ``dataset`` that have dense labels, spread evenly over it (all if None)."""
    ids = [i for i in dataset.ids if dataset.load(i).label is not None]
    if not ids:
        raise ValueError(f"no image of this {dataset.info.name} split has dense labels: tuning needs a few")
    if count is not None and count < len(ids):
        ids = [ids[int(j)] for j in np.linspace(0, len(ids) - 1, count).round()]
    return dataset.subset(ids)


def tune_propagation(dataset, superpixels=SUPERPIXELS, deltas=DELTAS, boundary=BOUNDARY, workers: int = 1,
                     progress: bool = True) -> list[TuningResult]:
    """Every grid point's pseudo-label mIoU over ``dataset`` (images with labels), best first.

    Examples
    --------
    >>> from scribblesup.datasets import open_dataset
    >>> from scribblesup.demo import DEMO_DATA
    >>> ds = open_dataset("folder", DEMO_DATA / "acdc", split="all")
    >>> best = tune_propagation(ds, ["slic:300"], [0.3, 3.0], [True], progress=False)[0]
    >>> best.setting[0], 0.5 < best.miou <= 1
    ('slic:300', True)
    """
    from tqdm import tqdm

    from .labelling import parallel_map

    jobs = [(dataset, i, list(superpixels), list(deltas), list(boundary)) for i in dataset.ids]
    totals = {}
    for res in tqdm(parallel_map(score_image, jobs, workers), total=len(jobs), desc="propagation grid",
                    unit="img", disable=not progress):
        for key, counts in res.items():
            totals[key] = totals.get(key, 0) + counts
    results = []
    for key, counts in totals.items():
        cm = ConfusionMatrix(dataset.info.num_classes)
        cm.counts = counts
        results.append(TuningResult(cm.miou, key))
    return sorted(results, key=lambda r: -r.miou)


def params_yaml(result: TuningResult, note: str) -> str:
    """A config snippet with the chosen parameters (include it with ``base:``), ``note`` as its comment."""
    import yaml

    p = result.params
    fields = ["superpixel_method", "n_segments", "compactness"] if p.superpixel_method == "slic" else [
        "superpixel_method", "fh_scale"]
    fields += ["delta_color", "delta_texture", "use_boundary_length"]
    body = yaml.safe_dump({"propagation": {f: getattr(p, f) for f in fields}}, sort_keys=False)
    return "".join(f"# {line}\n" for line in note.splitlines()) + body
