"""Refinement as a post-process: fully connected CRF (DenseCRF) and the pixel-grid MRF.

Both take per-pixel class probabilities (K, H, W) and the image, and return
a label map; :func:`refine` picks one by name. DenseCRF needs the optional
``pydensecrf2`` package (``pip install "scribblesup[crf]"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graphcut import grid_mrf, label_unary, probability_unary
from .conventions import as_float_image

REFINEMENTS = ("densecrf", "mrf")
INSTALL_DENSECRF = ('DenseCRF needs pydensecrf2, which is not installed: pip install pydensecrf2 '
                    '(or pip install "scribblesup[crf]"; it compiles from source, so a C++ compiler is needed)')


@dataclass
class DenseCRFParams:
    """Kernels of the fully connected CRF (Kraehenbuehl and Koltun 2011), in pixels and intensity levels (0-255).

    Attributes
    ----------
    gaussian_sxy, gaussian_weight : float
        Smoothness kernel: spatial std and weight.
    bilateral_sxy, bilateral_srgb, bilateral_weight : float
        Appearance kernel: spatial std, colour std (per channel, 0-255 scale) and weight.
    iterations : int
        Mean-field iterations.
    """

    gaussian_sxy: float = 3.0
    gaussian_weight: float = 3.0
    bilateral_sxy: float = 40.0
    bilateral_srgb: float = 10.0
    bilateral_weight: float = 5.0
    iterations: int = 5


# Chosen by experiments/tune_refinement.py on training subsets (results/tune_refinement_<dataset>.md).
DATASET_REFINEMENT = {
    "acdc": {"densecrf": dict(bilateral_sxy=5.0, bilateral_srgb=3.0, bilateral_weight=3.0), "mrf": dict(weight=3.0)},
    "camvid": {"densecrf": dict(bilateral_sxy=10.0, bilateral_srgb=5.0, bilateral_weight=5.0), "mrf": dict(weight=1.0)},
}


def refinement_options(dataset: str | None, method: str) -> dict:
    """The measured refinement settings of a dataset (empty: the generic defaults)."""
    return dict(DATASET_REFINEMENT.get(dataset, {}).get(method, {}))


def densecrf(image: np.ndarray, probabilities: np.ndarray, params: DenseCRFParams | None = None) -> np.ndarray:
    """Refined class probabilities (K, H, W) from a fully connected CRF with Gaussian and bilateral kernels.

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C) image, any number of channels (grayscale MRI included), floats in [0, 1] or integers.
    probabilities : ndarray
        (K, H, W) class probabilities, e.g. a network's softmax.
    params : DenseCRFParams, optional

    Returns
    -------
    ndarray
        (K, H, W) float32 marginals after mean-field inference.
    """
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import create_pairwise_bilateral, create_pairwise_gaussian
    except ImportError as exc:
        raise ImportError(INSTALL_DENSECRF) from exc
    params = params or DenseCRFParams()
    img = as_float_image(image)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    k, h, w = probabilities.shape
    if img.shape[:2] != (h, w):
        raise ValueError(f"image size {img.shape[:2]} differs from the probabilities' {(h, w)}")
    crf = dcrf.DenseCRF(h * w, k)
    unary = -np.log(np.clip(probabilities, 1e-6, 1.0)).reshape(k, -1)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseEnergy(create_pairwise_gaussian((params.gaussian_sxy,) * 2, (h, w)),
                          compat=params.gaussian_weight)
    channels = img.shape[2]
    bilateral = create_pairwise_bilateral((params.bilateral_sxy,) * 2, (params.bilateral_srgb,) * channels,
                                          np.ascontiguousarray(img * 255.0, dtype=np.float32), chdim=2)
    crf.addPairwiseEnergy(bilateral, compat=params.bilateral_weight)
    q = np.array(crf.inference(params.iterations), dtype=np.float32)
    return q.reshape(k, h, w)


def refine(image: np.ndarray, probabilities: np.ndarray, method: str, **options) -> np.ndarray:
    """Refine a prediction: ``densecrf`` (fully connected CRF) or ``mrf`` (4-connected contrast-sensitive Potts).

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C) image.
    probabilities : ndarray
        (K, H, W) class probabilities.
    method : {"densecrf", "mrf"}
    **options
        ``densecrf``: fields of :class:`DenseCRFParams`; ``mrf``: ``weight``, ``beta`` of
        :func:`scribblesup.graphcut.grid_mrf`.

    Returns
    -------
    ndarray
        (H, W) uint8 label map.
    """
    if method == "densecrf":
        return densecrf(image, probabilities, DenseCRFParams(**options)).argmax(0).astype(np.uint8)
    if method == "mrf":
        img = as_float_image(image)
        return grid_mrf(img, probability_unary(probabilities), **{"weight": 1.0, **options}).astype(np.uint8)
    raise ValueError(f"refinement must be one of {', '.join(REFINEMENTS)}, got {method!r}")


def refine_labels(image: np.ndarray, labels: np.ndarray, num_classes: int, method: str,
                  confidence: float = 0.8, keep: np.ndarray | None = None, **options) -> np.ndarray:
    """Refine a hard label map (e.g. pseudo labels) by treating it as ``confidence``-sure probabilities.

    Pixels where ``keep`` is True (e.g. scribbled pixels) keep their label. 255 stays unknown (flat).
    """
    probabilities = np.exp(-label_unary(labels, num_classes, confidence))
    out = refine(image, probabilities, method, **options)
    if keep is not None:
        out[keep] = np.asarray(labels)[keep]
    return out
