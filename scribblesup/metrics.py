"""Segmentation metrics from one dataset-level confusion matrix."""

from __future__ import annotations

import numpy as np

from .conventions import UNLABELLED


class ConfusionMatrix:
    """A dataset-level confusion matrix (rows: ground truth, columns: prediction), one bincount per update.

    Pixels whose ground truth is ``ignore_index`` (or outside 0..K-1) are skipped.
    A prediction outside 0..K-1 (e.g. 255, "no label") counts as wrong.
    """

    def __init__(self, num_classes: int, ignore_index: int = UNLABELLED):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # the last column counts predictions outside 0..K-1
        self.counts = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, target: np.ndarray, prediction: np.ndarray) -> "ConfusionMatrix":
        """Add one image (or batch) of ground truth and prediction."""
        target = np.asarray(target).ravel().astype(np.int64)
        prediction = np.asarray(prediction).ravel().astype(np.int64)
        if target.shape != prediction.shape:
            raise ValueError(f"target has {target.size} pixels, prediction {prediction.size}")
        k = self.num_classes
        ok = (target != self.ignore_index) & (target >= 0) & (target < k)
        pred = np.where((prediction >= 0) & (prediction < k), prediction, k)[ok]
        self.counts += np.bincount(target[ok] * (k + 1) + pred, minlength=k * (k + 1)).reshape(k, k + 1)
        return self

    @property
    def matrix(self) -> np.ndarray:
        """K x K confusion matrix."""
        return self.counts[:, : self.num_classes]

    @property
    def iou(self) -> np.ndarray:
        """Per-class IoU (NaN for a class absent from both ground truth and prediction)."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.counts.sum(axis=1) + self.matrix.sum(axis=0) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

    @property
    def miou(self) -> float:
        """Mean IoU over classes that occur."""
        return float(np.nanmean(self.iou))

    @property
    def pixel_accuracy(self) -> float:
        """Fraction of non-void pixels predicted right."""
        return float(np.diag(self.matrix).sum() / max(self.counts.sum(), 1))

    @property
    def mean_accuracy(self) -> float:
        """Mean over classes present in the ground truth of the per-class recall."""
        gt = self.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.nanmean(np.where(gt > 0, np.diag(self.matrix) / np.maximum(gt, 1), np.nan)))

    def summary(self, class_names=None) -> dict:
        """Per-class IoU, mIoU, pixel accuracy and mean accuracy as a JSON-friendly dict."""
        names = class_names or [str(i) for i in range(self.num_classes)]
        return {
            "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, self.iou)},
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "mean_accuracy": self.mean_accuracy,
            "confusion_matrix": self.matrix.tolist(),  # rows: ground truth, columns: prediction
            "predicted_outside_classes": self.counts[:, -1].tolist(),
        }


def dice(prediction: np.ndarray, target: np.ndarray) -> float:
    """Dice of two binary masks; 1 when both are empty."""
    prediction, target = np.asarray(prediction, bool), np.asarray(target, bool)
    total = prediction.sum() + target.sum()
    return 1.0 if total == 0 else float(2.0 * (prediction & target).sum() / total)


def _surface(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return mask & ~ndi.binary_erosion(mask, structure=ndi.generate_binary_structure(mask.ndim, 1), border_value=0)


def hd95(prediction: np.ndarray, target: np.ndarray, spacing=None) -> float:
    """95th percentile Hausdorff distance between the surfaces of two binary masks (2D or 3D).

    As medpy's ``hd95``: the 95th percentile of the distances from each surface
    voxel of one mask to the other's surface, both directions pooled. Distances
    are in voxels unless ``spacing`` is given. 0 when both masks are empty, NaN
    when exactly one is (undefined; callers report how many).
    """
    from scipy import ndimage as ndi

    prediction, target = np.asarray(prediction, bool), np.asarray(target, bool)
    if not prediction.any() and not target.any():
        return 0.0
    if not prediction.any() or not target.any():
        return float("nan")
    sp, st = _surface(prediction), _surface(target)
    to_target = ndi.distance_transform_edt(~st, sampling=spacing)[sp]
    to_prediction = ndi.distance_transform_edt(~sp, sampling=spacing)[st]
    return float(np.percentile(np.concatenate([to_target, to_prediction]), 95))


def volume_scores(prediction: np.ndarray, target: np.ndarray, classes, spacing=None) -> dict:
    """Dice and HD95 of each class in one volume: ``{class: (dice, hd95)}``."""
    return {c: (dice(prediction == c, target == c), hd95(prediction == c, target == c, spacing)) for c in classes}
