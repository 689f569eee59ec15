"""Edges: the boundaries of label maps (targets for HED), and the boundary F-measure (ODS / OIS) that scores edge
maps against them."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from .conventions import UNLABELLED


def label_boundaries(labels):
    """Boundary map of a label map (or a batch of them): 1 where a 4-neighbour has another class, else 0.

    A pixel whose label is 255, or that touches a 255 pixel without touching another class, is 255 (unknown):
    boundaries of pseudo labels with open regions, or of images with void, are not guessed. Works on numpy arrays
    and torch tensors (..., H, W) and returns the same kind, uint8 / int64.

    Examples
    --------
    >>> lab = np.zeros((4, 5), np.uint8); lab[:, 3:] = 1
    >>> label_boundaries(lab)[0].tolist()
    [0, 0, 1, 1, 0]
    """
    is_numpy = not torch.is_tensor(labels)
    t = torch.from_numpy(np.array(labels)) if is_numpy else labels
    t = t.long()
    differ = torch.zeros_like(t, dtype=torch.bool)
    unknown = t == UNLABELLED
    near_unknown = unknown.clone()
    for dim in (-1, -2):
        a, b = t.narrow(dim, 0, t.shape[dim] - 1), t.narrow(dim, 1, t.shape[dim] - 1)
        both = (a != UNLABELLED) & (b != UNLABELLED)
        d = (a != b) & both
        one_open = (a == UNLABELLED) ^ (b == UNLABELLED)
        differ.narrow(dim, 0, t.shape[dim] - 1).logical_or_(d)
        differ.narrow(dim, 1, t.shape[dim] - 1).logical_or_(d)
        near_unknown.narrow(dim, 0, t.shape[dim] - 1).logical_or_(one_open)
        near_unknown.narrow(dim, 1, t.shape[dim] - 1).logical_or_(one_open)
    out = torch.where(differ & ~unknown, 1, torch.where(near_unknown, UNLABELLED, 0))
    return out.numpy().astype(np.uint8) if is_numpy else out


def _counts(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray, tolerance: float):
    """(matched predicted, predicted, matched true, true) boundary pixels within ``tolerance`` pixels."""
    pred = pred & valid
    n_pred, n_true = int(pred.sum()), int(truth.sum())
    if n_pred == 0 or n_true == 0:
        return 0, n_pred, 0, n_true
    to_truth = ndi.distance_transform_edt(~truth)
    to_pred = ndi.distance_transform_edt(~pred)
    return int((pred & (to_truth <= tolerance)).sum()), n_pred, int((truth & (to_pred <= tolerance)).sum()), n_true


def _f(tp_p, n_p, tp_t, n_t):
    p = tp_p / n_p if n_p else 0.0
    r = tp_t / n_t if n_t else 0.0
    return float(2 * p * r / (p + r)) if p + r > 0 else 0.0, float(p), float(r)


def boundary_f_measure(predictions, truths, tolerance: float = 2.0, thresholds: int = 25) -> dict:
    """ODS and OIS boundary F-measure of edge probability maps against true boundary maps.

    For each threshold, a predicted boundary pixel counts as right when a true one lies within ``tolerance``
    pixels (Euclidean), and a true one as found when a predicted one does; precision, recall and F follow.
    ODS: the best F of the counts summed over the dataset at one threshold. OIS: each image at its own best
    threshold, counts summed. Matching is by distance, not BSDS's one-to-one assignment, and maps are not thinned:
    a thick prediction is not penalised for its thickness beyond the tolerance (say so when comparing with BSDS
    figures).

    Parameters
    ----------
    predictions : iterable of (H, W) float arrays in [0, 1]
    truths : iterable of (H, W) arrays: 1 boundary, 0 not, 255 ignored (as :func:`label_boundaries` gives)
    tolerance : float
        Pixels.
    thresholds : int
        Evenly spaced in (0, 1).

    Returns
    -------
    dict
        ``ods``, ``ods_threshold``, ``ods_precision``, ``ods_recall``, ``ois``, ``images``.

    Examples
    --------
    >>> truth = np.zeros((20, 20), np.uint8); truth[:, 10] = 1
    >>> shifted = np.zeros((20, 20)); shifted[:, 12] = 1.0
    >>> boundary_f_measure([shifted], [truth], tolerance=1)["ods"], boundary_f_measure([shifted], [truth], tolerance=2)["ods"]
    (0.0, 1.0)
    """
    levels = (np.arange(thresholds) + 0.5) / thresholds
    totals = np.zeros((thresholds, 4), np.int64)
    best_per_image = np.zeros(4, np.int64)
    n = 0
    for pred, truth in zip(predictions, truths):
        truth = np.asarray(truth)
        valid = truth != UNLABELLED
        gt = truth == 1
        pred = np.asarray(pred, np.float64)
        rows = np.array([_counts(pred >= t, gt, valid, tolerance) for t in levels], np.int64)
        totals += rows
        best_per_image += rows[int(np.argmax([_f(*r)[0] for r in rows]))]
        n += 1
    fs = [_f(*r) for r in totals]
    i = int(np.argmax([f[0] for f in fs]))
    return {"ods": fs[i][0], "ods_threshold": float(levels[i]), "ods_precision": fs[i][1], "ods_recall": fs[i][2],
            "ois": _f(*best_per_image)[0], "images": n, "tolerance": tolerance}
