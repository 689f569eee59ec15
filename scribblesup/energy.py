"""The ScribbleSup energy over superpixel labels.

E(y) = sum_i psi_scr(y_i) + sum_i -log P(y_i | X) + sum_(i,j) w_ij [y_i != y_j]

Unaries are (N, K) arrays of costs; ``np.inf`` marks a label a region may not
take (hard constraint). The pairwise term is a Potts model with one weight per
edge of the region graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conventions import UNLABELLED
from .superpixels import RegionGraph


@dataclass
class Energy:
    """A Potts energy on a general graph.

    Attributes
    ----------
    unary : ndarray
        (N, K) cost of each label for each node; ``np.inf`` forbids a label.
    edges : ndarray
        (E, 2) node pairs.
    weights : ndarray
        (E,) non-negative cost paid when the two nodes of an edge differ.
    """

    unary: np.ndarray
    edges: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        self.unary = np.asarray(self.unary, dtype=np.float64)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        self.weights = np.asarray(self.weights, dtype=np.float64).reshape(-1)
        if self.unary.ndim != 2:
            raise ValueError(f"unary must be (N, K), got shape {self.unary.shape}")
        if len(self.edges) != len(self.weights):
            raise ValueError(f"{len(self.edges)} edges but {len(self.weights)} weights")
        if (self.weights < 0).any():
            raise ValueError("pairwise weights must be non-negative")
        if len(self.edges) and (self.edges.min() < 0 or self.edges.max() >= self.unary.shape[0]):
            raise ValueError("edge endpoints must be node indices 0..N-1")

    @property
    def n_nodes(self) -> int:
        return int(self.unary.shape[0])

    @property
    def n_labels(self) -> int:
        return int(self.unary.shape[1])

    def __call__(self, labels: np.ndarray) -> float:
        """Evaluate the energy of a labelling (``np.inf`` if it breaks a hard constraint)."""
        labels = np.asarray(labels)
        u = self.unary[np.arange(self.n_nodes), labels].sum()
        cut = labels[self.edges[:, 0]] != labels[self.edges[:, 1]]
        return float(u + self.weights[cut].sum())


def scribble_counts(superpixels: np.ndarray, scribble: np.ndarray, num_classes: int) -> np.ndarray:
    """Count scribbled pixels of each class in each region: (N, K) integer array."""
    n = int(superpixels.max()) + 1
    mask = scribble != UNLABELLED
    cls = scribble[mask].astype(np.int64)
    if cls.size and cls.max() >= num_classes:
        raise ValueError(f"scribble has class id {int(cls.max())} but only {num_classes} classes exist")
    flat = superpixels[mask].astype(np.int64) * num_classes + cls
    return np.bincount(flat, minlength=n * num_classes).reshape(n, num_classes)


def scribble_unary(superpixels: np.ndarray, scribble: np.ndarray, num_classes: int) -> np.ndarray:
    """The scribble unary psi_scr over regions.

    * A region touched by scribbles takes their class (cost 0, other classes
      forbidden). **Conflict rule:** when scribbles of several classes touch one
      region, the class with the most scribbled pixels in it wins, ties going to
      the lowest class id. (The scribbled pixels themselves keep their own class
      in the pixel output of :func:`scribblesup.propagation.propagate_scribbles`.)
    * A region no scribble touches may take any class scribbled in this image,
      at cost -log(1 / |scribbled classes|); other classes are forbidden.

    Parameters
    ----------
    superpixels : ndarray
        (H, W) region map, labels 0..N-1.
    scribble : ndarray
        (H, W) class ids, 255 = unlabelled.
    num_classes : int
        Number of classes K.

    Returns
    -------
    ndarray
        (N, K) float64 costs with ``np.inf`` for forbidden labels.
    """
    if superpixels.shape != scribble.shape:
        raise ValueError(f"scribble shape {scribble.shape} differs from superpixel map shape {superpixels.shape}")
    counts = scribble_counts(superpixels, scribble, num_classes)
    present = counts.sum(axis=0) > 0
    if not present.any():
        raise ValueError("the scribble has no labelled pixel")
    unary = np.full(counts.shape, np.inf)
    unary[:, present] = -np.log(1.0 / present.sum())
    touched = counts.sum(axis=1) > 0
    winner = counts[touched].argmax(axis=1)
    unary[touched] = np.inf
    unary[np.flatnonzero(touched), winner] = 0.0
    return unary


def network_unary(superpixels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The network unary: -log P(y | X) averaged over each region's pixels.

    Parameters
    ----------
    superpixels : ndarray
        (H, W) region map, labels 0..N-1.
    probabilities : ndarray
        (K, H, W) per-pixel class probabilities (e.g. a softmax output).
    eps : float
        Floor on probabilities before the log.

    Returns
    -------
    ndarray
        (N, K) float64 costs.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3 or probabilities.shape[1:] != superpixels.shape:
        raise ValueError(
            f"probabilities must be (K, H, W) with H, W = {superpixels.shape}, got {probabilities.shape}"
        )
    n = int(superpixels.max()) + 1
    flat = superpixels.ravel()
    size = np.bincount(flat, minlength=n)
    nll = -np.log(np.clip(probabilities.reshape(probabilities.shape[0], -1), eps, 1.0))
    return np.stack([np.bincount(flat, nll[k], n) for k in range(nll.shape[0])], axis=1) / size[:, None]


def calibrate_probabilities(probabilities: np.ndarray, offset) -> np.ndarray:
    """Class probabilities with a logit offset: ``P_c exp(offset_c)``, normalised per pixel.

    The softmax of logits shifted by ``offset``, computed from the probabilities (post-hoc logit adjustment).

    Parameters
    ----------
    probabilities : ndarray
        (K, ...) probabilities, summing to 1 over the first axis.
    offset : sequence of float
        (K,) added to each class's logit.

    Returns
    -------
    ndarray
        (K, ...) float64 probabilities.

    Examples
    --------
    >>> p = np.array([[0.6], [0.4]])
    >>> calibrate_probabilities(p, [-np.log(1.5), 0.0]).round(3).ravel().tolist()
    [0.5, 0.5]
    """
    p = np.asarray(probabilities, np.float64)
    shift = np.asarray(offset, np.float64) - np.max(offset)
    weighted = p * np.exp(shift).reshape((-1,) + (1,) * (p.ndim - 1))
    return weighted / np.maximum(weighted.sum(axis=0, keepdims=True), np.finfo(np.float64).tiny)


def class_bias_unary(superpixels: np.ndarray, bias) -> np.ndarray:
    """A per-pixel cost of each class, summed over each region: ``bias[c] * size / mean size`` (a class prior).

    Graph cuts whose only data term are the scribbles have a shrinking bias: a region between two scribbles goes to
    the class whose contour is cheaper, so a thin class between two others (the myocardium between the ventricles'
    cavities and the background) absorbs the regions the cut leaves. A per-pixel class cost counters it; only the
    differences between classes matter, so the lowest bias is taken as 0. Scaled by the region's size relative to
    the mean region, one unit is one average superpixel's worth, the scale of the boundary-length pairwise term.

    Parameters
    ----------
    superpixels : ndarray
        (H, W) region map, labels 0..N-1.
    bias : sequence of float
        (K,) cost per pixel of each class, in units of one average region.

    Returns
    -------
    ndarray
        (N, K) float64 costs.

    Examples
    --------
    >>> sp = np.array([[0, 0, 0, 1]])
    >>> class_bias_unary(sp, [0.0, 1.0]).tolist()
    [[0.0, 1.5], [0.0, 0.5]]
    """
    bias = np.asarray(bias, np.float64)
    size = np.bincount(np.asarray(superpixels).ravel()).astype(np.float64)
    return (size / size.mean())[:, None] * (bias - bias.min())[None, :]


def region_confidence(superpixels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The network's confidence per region: the mean over its pixels of the top class probability.

    Examples
    --------
    >>> sp = np.array([[0, 0, 1, 1]])
    >>> p = np.array([[[0.9, 0.7, 0.5, 0.5]], [[0.1, 0.3, 0.5, 0.5]]])
    >>> region_confidence(sp, p).round(2).tolist()
    [0.8, 0.5]
    """
    flat = superpixels.ravel()
    n = int(flat.max()) + 1
    top = np.asarray(probabilities).reshape(len(probabilities), -1).max(axis=0)
    return np.bincount(flat, top, n) / np.bincount(flat, minlength=n)


def pairwise_weights(
    graph: RegionGraph,
    weight: float = 1.0,
    delta_color: float = 0.1,
    delta_texture: float = 0.1,
    use_boundary_length: bool = False,
    edge_strength: np.ndarray | None = None,
    edge_weight: float = 0.0,
) -> np.ndarray:
    """ScribbleSup pairwise weights on the region graph's edges.

    w_ij = weight * exp(-|hc_i - hc_j|^2 / delta_color^2 - |ht_i - ht_j|^2 / delta_texture^2 - edge_weight * e_ij)

    Parameters
    ----------
    graph : RegionGraph
        Region graph with colour (``hc``) and texture (``ht``) histograms.
    weight : float
        lambda, the overall strength of the pairwise term.
    delta_color, delta_texture : float
        Bandwidths of the colour and texture histogram distances.
    use_boundary_length : bool
        Multiply each weight by the edge's shared boundary length divided by
        the mean boundary length (so ``weight`` keeps its scale).
    edge_strength : ndarray, optional
        (E,) edge probability along each shared boundary (e.g. HED's, :func:`scribblesup.superpixels.boundary_means`):
        a likely edge makes the regions cheaper to separate.
    edge_weight : float
        Its weight in the exponent; 0 ignores it. A large ``delta_color`` / ``delta_texture`` with a positive
        ``edge_weight`` uses the edge map instead of the colour and texture distances.

    Returns
    -------
    ndarray
        (E,) non-negative weights.
    """
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    dc = ((graph.color_hist[i] - graph.color_hist[j]) ** 2).sum(axis=1)
    dt = ((graph.texture_hist[i] - graph.texture_hist[j]) ** 2).sum(axis=1)
    exponent = -dc / delta_color**2 - dt / delta_texture**2
    if edge_strength is not None and edge_weight > 0:
        exponent = exponent - edge_weight * np.asarray(edge_strength, np.float64)
    w = weight * np.exp(exponent)
    if use_boundary_length and len(w):
        w = w * graph.boundary_length / graph.boundary_length.mean()
    return w
