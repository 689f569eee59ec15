"""Segmentation metrics from one dataset-level confusion matrix."""

from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """A dataset-level confusion matrix (rows: ground truth, columns: prediction), one bincount per update.

    Pixels whose ground truth is ``ignore_index`` (or outside 0..K-1) are skipped.
    A prediction outside 0..K-1 (e.g. 255, "no label") counts as wrong.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
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
