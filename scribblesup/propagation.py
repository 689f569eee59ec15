"""Scribble propagation: superpixels, region graph, ScribbleSup energy, graph cut."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .conventions import UNLABELLED, as_float_image
from .energy import (Energy, calibrate_probabilities, class_bias_unary, network_unary, pairwise_weights,
                     region_confidence, scribble_counts, scribble_unary)
from .graphcut import ExpansionResult, alpha_expansion
from .validation import check_fields
from .superpixels import SUPERPIXEL_METHODS, RegionGraph, boundary_means, build_region_graph, compute_superpixels


@dataclass
class PropagationParams:
    """Parameters of scribble propagation (defaults measured on training splits; see README).

    Attributes
    ----------
    superpixel_method : {"slic", "felzenszwalb"}
    n_segments : int
        Approximate SLIC superpixel count.
    compactness : float, optional
        SLIC compactness (default depends on grayscale or colour).
    fh_scale : float
        Felzenszwalb scale.
    pairwise_weight : float
        lambda of the pairwise term; 0 disables it.
    delta_color, delta_texture : float
        Bandwidths of the histogram distances in the pairwise term.
    use_boundary_length : bool
        Scale pairwise weights by shared boundary length.
    network_weight : float
        Multiplier of the network unary when probabilities are given.
    max_cycles : int
        Alpha-expansion cycles at most.
    """

    superpixel_method: str = field(default="slic", metadata=dict(
        choices=SUPERPIXEL_METHODS, cli="--superpixels", help="superpixel algorithm"))
    n_segments: int = field(default=1200, metadata=dict(min=1, help="approximate number of SLIC superpixels"))
    compactness: float | None = field(default=None, metadata=dict(
        gt=0, help="SLIC compactness (default: 0.1 for grayscale, 10 for colour)"))
    fh_scale: float = field(default=100.0, metadata=dict(gt=0, help="Felzenszwalb scale"))
    pairwise_weight: float = field(default=1.0, metadata=dict(min=0, help="weight of the pairwise term (0 disables it)"))
    delta_color: float = field(default=1.0, metadata=dict(gt=0, help="bandwidth of the colour-histogram distance"))
    delta_texture: float = field(default=1.0, metadata=dict(gt=0, help="bandwidth of the texture-histogram distance"))
    use_boundary_length: bool = field(default=True, metadata=dict(
        cli="--boundary-length", help="scale pairwise weights by the shared boundary length"))
    network_weight: float = field(default=1.0, metadata=dict(min=0, help="lambda of the network unary -log P"))
    max_cycles: int = field(default=10, metadata=dict(min=1, help="alpha-expansion cycles at most"))
    edge_weight: float = field(default=0.0, metadata=dict(
        min=0, help="weight of an edge map along superpixel boundaries in the pairwise term (0: unused)"))
    level: str = field(default="superpixel", metadata=dict(
        choices=("superpixel", "pixel", "refine"),
        help="with a network unary (rounds >= 1): label superpixels, or pixels (grid graph cut, not capped by the "
             "superpixels), or refine: the superpixel labels, then a pixel cut that leaves them where the network "
             "and the image edges pay more than refine_weight"))
    pixel_weight: float = field(default=1.0, metadata=dict(
        gt=0, help="pixel and refine levels: weight of the contrast-sensitive Potts term against -log P"))
    refine_weight: float = field(default=1.0, metadata=dict(
        min=0, help="refine level: the cost per pixel of leaving its superpixel-level label"))
    ignore_margin: float = field(default=0.0, metadata=dict(
        min=0, max=1, help="with a network unary: leave unscribbled pixels whose top-two probability margin "
                           "(among the scribbled classes) is below this unlabelled (255); 0: off"))
    class_bias: list[float] | None = field(default=None, metadata=dict(
        help="a cost per pixel of each class (K values, in units of one average superpixel; the lowest counts as 0) "
             "added in every round: it counters the graph cut's shrinking bias toward a thin class; null: none"))
    network_offset: list[float] | None = field(default=None, metadata=dict(
        help="with a network unary (rounds >= 1): a logit offset per class (K values) applied to the network's "
             "probabilities before any use (P_c proportional to P_c exp(offset_c)): it calibrates a network whose "
             "labels taught it a bias (e.g. a too-thick class) before it votes on the next labels; null: none"))
    network_confidence: float = field(default=0.0, metadata=dict(
        min=0, max=1, help="superpixel level, with a network unary: superpixels whose mean top probability is "
                           "below this get no network unary (scribbles and the pairwise term decide); 0: off"))

    def __post_init__(self):
        check_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)

    def superpixels(self, image: np.ndarray) -> np.ndarray:
        """Superpixel map of ``image`` with these parameters."""
        return compute_superpixels(
            image, method=self.superpixel_method, n_segments=self.n_segments,
            compactness=self.compactness, scale=self.fh_scale,
        )


# Chosen by experiments/tune_propagation.py on the training splits (round 0 pseudo-label mIoU);
# results in experiments/results/tune_propagation_*.md.
DATASET_DEFAULTS = {
    "acdc": dict(superpixel_method="slic", n_segments=2000, delta_color=0.3, delta_texture=1.0, use_boundary_length=True),
    "camvid": dict(superpixel_method="felzenszwalb", fh_scale=50.0, delta_color=3.0, delta_texture=1.0,
                   use_boundary_length=True),
}


# presets a folder or NIfTI dataset can declare (``data.preset``): the measured defaults of the dataset of that kind
PRESETS = {"mri": "acdc", "street": "camvid"}
_TITLES = {"acdc": "ACDC", "camvid": "CamVid"}


def params_source(dataset: str | None, preset: str | None = None) -> str:
    """Where a run's propagation defaults come from, in words (the logs say it).

    Examples
    --------
    >>> params_source("folder", "mri")
    'preset mri (measured on ACDC)'
    >>> params_source("nifti")
    'generic defaults (no preset for nifti: set data.preset or tune them, docs/datasets.md)'
    """
    if preset:
        return f"preset {preset} (measured on {_TITLES[PRESETS[preset]]})"
    if dataset in DATASET_DEFAULTS:
        return f"{dataset}'s measured defaults"
    return f"generic defaults (no preset for {dataset}: set data.preset or tune them, docs/datasets.md)"


def default_params(dataset: str | None = None, preset: str | None = None, **overrides) -> PropagationParams:
    """Propagation parameters measured for ``dataset`` or ``preset`` (generic ones for others), with overrides."""
    base = DATASET_DEFAULTS[PRESETS[preset]] if preset else DATASET_DEFAULTS.get(dataset, {})
    return PropagationParams(**{**base, **overrides})


@dataclass
class Propagation:
    """Result of :func:`propagate_scribbles`.

    Attributes
    ----------
    labels : ndarray
        (H, W) uint8 dense pseudo labels; scribbled pixels keep their class. With neither a
        pairwise term nor a network unary, regions no scribble touches are 255 (unlabelled).
    region_labels : ndarray
        (N,) label of each superpixel.
    graph : RegionGraph
    energy : Energy
    expansion : ExpansionResult
    timings : dict
        Seconds spent in ``superpixels``, ``graph`` (graph, features, energy) and ``graphcut``.
    """

    labels: np.ndarray
    region_labels: np.ndarray
    graph: RegionGraph
    energy: Energy
    expansion: ExpansionResult
    timings: dict = field(default_factory=dict)


def validate_image(image: np.ndarray) -> np.ndarray:
    """Check an image can be segmented; return it as float32 H x W x C.

    Raises ``ValueError`` for a wrong shape, NaN or infinite values, or an image smaller than 2 x 2.
    """
    img = as_float_image(image)
    if min(img.shape[:2]) < 2:
        raise ValueError(f"image is {img.shape[1]}x{img.shape[0]} pixels: too small to segment")
    if not np.isfinite(img).all():
        raise ValueError("image has NaN or infinite values")
    return img


def validate_scribble(scribble: np.ndarray, image_shape: tuple, num_classes: int) -> np.ndarray:
    """Check a scribble map against its image and class count; return it as uint8.

    Raises ``ValueError`` with the problem: size mismatch, class ids out of
    range, or no labelled pixel.
    """
    scribble = np.asarray(scribble)
    if scribble.ndim != 2:
        raise ValueError(f"scribble must be a single-channel H x W map, got shape {scribble.shape}")
    if scribble.shape != tuple(image_shape[:2]):
        raise ValueError(
            f"scribble size {scribble.shape[1]}x{scribble.shape[0]} differs from image size "
            f"{image_shape[1]}x{image_shape[0]} (width x height)"
        )
    labelled = scribble != UNLABELLED
    if not labelled.any():
        raise ValueError("scribble has no labelled pixel (all 255)")
    bad = np.unique(scribble[labelled & (scribble >= num_classes)])
    if bad.size:
        raise ValueError(
            f"scribble has class ids {bad.tolist()} beyond the {num_classes} classes (0..{num_classes - 1}, 255 = unlabelled)"
        )
    return scribble.astype(np.uint8)


PER_CLASS = ("class_bias", "network_offset")  # the parameters with one value per class


def check_per_class(params: PropagationParams, num_classes: int) -> None:
    """``ValueError`` unless each of :data:`PER_CLASS` is off or has one value per class (checked before work
    starts)."""
    for name in PER_CLASS:
        values = getattr(params, name)
        if values is not None and len(values) != num_classes:
            raise ValueError(f"{name} has {len(values)} values for {num_classes} classes")


def build_energy(
    graph: RegionGraph,
    scribble: np.ndarray,
    num_classes: int,
    params: PropagationParams,
    probabilities: np.ndarray | None = None,
    edges: np.ndarray | None = None,
) -> Energy:
    """Assemble the ScribbleSup energy for one image's region graph (``edges``: an (H, W) edge probability map)."""
    unary = scribble_unary(graph.labels, scribble, num_classes)
    if params.class_bias is not None:
        check_per_class(params, num_classes)
        unary = unary + class_bias_unary(graph.labels, params.class_bias)
    if probabilities is not None and params.network_weight > 0:
        net = network_unary(graph.labels, probabilities)
        if params.network_confidence > 0:  # the network abstains where it is unsure (a confirmation-bias guard)
            net = net * (region_confidence(graph.labels, probabilities) >= params.network_confidence)[:, None]
        unary = unary + params.network_weight * net
    if params.pairwise_weight > 0:
        strength = None
        if edges is not None and params.edge_weight > 0:
            strength = boundary_means(graph.labels, graph.edges, edges)
        weights = pairwise_weights(
            graph, params.pairwise_weight, params.delta_color, params.delta_texture, params.use_boundary_length,
            strength, params.edge_weight,
        )
    else:
        weights = np.zeros(len(graph.edges))
    return Energy(unary, graph.edges, weights)


def propagate_scribbles(
    image: np.ndarray,
    scribble: np.ndarray,
    num_classes: int,
    params: PropagationParams | None = None,
    probabilities: np.ndarray | None = None,
    superpixels: np.ndarray | None = None,
    graph: RegionGraph | None = None,
    edges: np.ndarray | None = None,
) -> Propagation:
    """Turn a scribble map into dense labels with the ScribbleSup graph cut.

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C) image, floats in [0, 1] or integers.
    scribble : ndarray
        (H, W) class ids, 255 = unlabelled.
    num_classes : int
        Number of classes K of the dataset.
    params : PropagationParams, optional
    probabilities : ndarray, optional
        (K, H, W) network probabilities; adds the network unary -log P.
    superpixels : ndarray, optional
        Precomputed superpixel map (skips the superpixel step).
    graph : RegionGraph, optional
        Precomputed region graph (skips superpixels and features).
    edges : ndarray, optional
        (H, W) edge probabilities (e.g. of HED); with ``params.edge_weight > 0`` they weaken the pairwise term
        across likely edges.

    Returns
    -------
    Propagation

    Examples
    --------
    >>> img = np.zeros((16, 16)); img[:, 8:] = 1
    >>> scr = np.full((16, 16), 255, np.uint8); scr[8, 2] = 0; scr[8, 13] = 1
    >>> out = propagate_scribbles(img, scr, num_classes=2, params=PropagationParams(n_segments=16))
    >>> bool((out.labels[:, :8] == 0).all() and (out.labels[:, 8:] == 1).all())
    True
    """
    params = params or PropagationParams()
    img = validate_image(image)
    scribble = validate_scribble(scribble, img.shape, num_classes)
    if probabilities is not None and params.network_offset is not None:
        check_per_class(params, num_classes)
        probabilities = calibrate_probabilities(probabilities, params.network_offset)
    timings = {}
    t0 = time.perf_counter()
    if graph is None:
        if superpixels is None:
            superpixels = params.superpixels(img)
        t1 = time.perf_counter()
        graph = build_region_graph(img, superpixels)
    else:
        t1 = t0
    energy = build_energy(graph, scribble, num_classes, params, probabilities, edges)
    t2 = time.perf_counter()
    expansion = alpha_expansion(energy, max_cycles=params.max_cycles)
    t3 = time.perf_counter()
    timings.update(superpixels=t1 - t0, graph=t2 - t1, graphcut=t3 - t2)
    region_labels = expansion.labels
    if params.pairwise_weight <= 0 and (probabilities is None or params.network_weight <= 0):
        # nothing but the scribbles decides: regions no scribble touches stay unlabelled
        touched = scribble_counts(graph.labels, scribble, num_classes).sum(axis=1) > 0
        region_labels = np.where(touched, region_labels, UNLABELLED)
    dense = region_labels[graph.labels].astype(np.uint8)
    labelled = scribble != UNLABELLED
    if probabilities is not None and params.level in ("pixel", "refine"):
        t4 = time.perf_counter()
        prior = dense if params.level == "refine" else None
        dense = pixel_labels(img, scribble, num_classes, probabilities, params.pixel_weight, prior,
                             params.refine_weight)
        timings["pixels"] = time.perf_counter() - t4
    if probabilities is not None and params.ignore_margin > 0:
        dense = np.where(low_margin(scribble, num_classes, probabilities, params.ignore_margin), UNLABELLED, dense)
    dense = dense.astype(np.uint8)
    dense[labelled] = scribble[labelled]
    return Propagation(dense, region_labels, graph, energy, expansion, timings)


def allowed_classes(scribble: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) bool: the classes scribbled in this image (the only ones its pixels may take)."""
    allowed = np.zeros(num_classes, bool)
    allowed[np.unique(scribble[scribble != UNLABELLED])] = True
    return allowed


def pixel_labels(image: np.ndarray, scribble: np.ndarray, num_classes: int, probabilities: np.ndarray,
                 weight: float = 1.0, prior: np.ndarray | None = None, prior_weight: float = 0.0) -> np.ndarray:
    """Pixel-level ScribbleSup labelling: a grid graph cut with the network unary ``-log P``, the scribbles as hard
    constraints (a scribbled pixel keeps its class; others may take only the image's scribbled classes) and a
    contrast-sensitive Potts term of strength ``weight`` (:func:`scribblesup.graphcut.grid_mrf`).

    Not capped by the superpixels: a boundary that crosses a superpixel is followed. With ``prior`` (an (H, W) label
    map, e.g. the superpixel-level labels; 255 = none) every other class costs ``prior_weight`` more per pixel, so
    the cut moves the prior's boundaries only where the network and the image edges outweigh that.

    Examples
    --------
    >>> img = np.zeros((4, 6)); img[:, 3:] = 1
    >>> p = np.zeros((2, 4, 6)); p[0, :, :3] = 0.8; p[1, :, :3] = 0.2; p[0, :, 3:] = 0.2; p[1, :, 3:] = 0.8
    >>> scr = np.full((4, 6), 255, np.uint8); scr[0, 0], scr[0, 5] = 0, 1
    >>> pixel_labels(img, scr, 2, p)[0].tolist()
    [0, 0, 0, 1, 1, 1]
    """
    from .graphcut import grid_mrf, probability_unary

    unary = probability_unary(np.asarray(probabilities, np.float64))
    unary[~allowed_classes(scribble, num_classes)] = np.inf
    rows, cols = np.nonzero(scribble != UNLABELLED)
    pinned = np.full(unary.shape, np.inf)
    pinned[scribble[rows, cols], rows, cols] = 0.0
    unary[:, rows, cols] = pinned[:, rows, cols]
    if prior is not None and prior_weight > 0:
        leave = np.arange(num_classes)[:, None, None] != prior[None]
        unary += prior_weight * (leave & (prior != UNLABELLED)[None])
    return grid_mrf(as_float_image(image), unary, weight=weight).astype(np.uint8)


def low_margin(scribble: np.ndarray, num_classes: int, probabilities: np.ndarray, margin: float) -> np.ndarray:
    """(H, W) bool: unscribbled pixels where the network's two most probable scribbled classes are closer than
    ``margin`` (after renormalising over the scribbled classes): what the pseudo labels should not claim to know."""
    p = np.asarray(probabilities, np.float64) * allowed_classes(scribble, num_classes)[:, None, None]
    p = p / np.maximum(p.sum(axis=0, keepdims=True), 1e-12)
    top2 = np.sort(p, axis=0)[-2:] if p.shape[0] > 1 else np.concatenate([np.zeros_like(p), p])
    return (top2[1] - top2[0] < margin) & (scribble == UNLABELLED)
