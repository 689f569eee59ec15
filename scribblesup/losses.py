"""Losses: (class-weighted) partial cross-entropy for segmentation, class-balanced sigmoid cross-entropy for edges,
and the class weights computed from the labels a run may see.

255 (:data:`scribblesup.conventions.UNLABELLED`) is ignored everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .conventions import UNLABELLED

CLASS_WEIGHTINGS = ("none", "median_frequency", "sqrt_median_frequency", "inverse_sqrt_frequency")


def partial_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = UNLABELLED,
                          weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over labelled pixels only (255 ignored); 0 when a batch has none.

    With ``weight`` (K,), each pixel's term is multiplied by its class's weight and the sum is divided by the sum of
    the weights of the labelled pixels (PyTorch's weighted mean).

    Examples
    --------
    >>> logits = torch.zeros(1, 2, 1, 2)
    >>> round(float(partial_cross_entropy(logits, torch.tensor([[[0, 255]]]))), 4)  # log 2
    0.6931
    """
    total, denominator = partial_cross_entropy_terms(logits, target, ignore_index, weight)
    return total / denominator


def partial_cross_entropy_terms(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = UNLABELLED,
                                weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum of :func:`partial_cross_entropy`'s terms and what it is divided by (the labelled pixels, or the sum
    of their weights; at least 1, or 1e-12 with weights): data-parallel training divides the sums of all ranks'
    terms by the sum of their denominators, which is the one-process loss of the whole batch."""
    if weight is None:
        total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
        return total, (target != ignore_index).sum().float().clamp(min=1)
    weight = weight.to(logits.device, torch.float32)
    total = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="sum")
    labelled = target != ignore_index
    return total, weight[target[labelled]].sum().clamp(min=1e-12)


def class_pixel_counts(targets, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class: labelled pixels of the class, and labelled pixels of the images in which the class appears.

    ``targets``: iterable of (H, W) label maps (numpy or torch), 255 ignored.
    """
    counts = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for t in targets:
        t = t.numpy() if torch.is_tensor(t) else np.asarray(t)
        t = t[t < num_classes]
        c = np.bincount(t.ravel().astype(np.int64), minlength=num_classes)
        counts += c
        image_pixels += np.where(c > 0, t.size, 0)
    return counts, image_pixels


def class_weights(counts: np.ndarray, image_pixels: np.ndarray, method: str | list) -> np.ndarray | None:
    """Per-class loss weights from the counts of :func:`class_pixel_counts`.

    Parameters
    ----------
    method : {"none", "median_frequency", "sqrt_median_frequency", "inverse_sqrt_frequency"} or list of float
        ``median_frequency`` (SegNet, after Eigen and Fergus): ``w_c = median(f) / f_c`` with ``f_c`` the pixels of
        class c over the pixels of the images where c appears; ``sqrt_median_frequency``: its square root,
        ``w_c = sqrt(median(f) / f_c)``, the same ranking at half the spread (log scale);
        ``inverse_sqrt_frequency``: ``w_c = 1 / sqrt(f_c)`` with ``f_c`` the class's share of all labelled pixels,
        scaled to mean 1 over the present classes; a list gives the weights as they are.

    Returns
    -------
    ndarray or None
        (K,) float64 weights; None for ``none``. **A class absent from the counted labels gets weight 1**: it has no
        pixel to weigh, so its weight changes no loss; the median is taken over the present classes.

    Examples
    --------
    >>> class_weights(np.array([10, 30, 0]), np.array([40, 40, 0]), "median_frequency").tolist()
    [2.0, 0.6666666666666666, 1.0]
    >>> class_weights(np.array([10, 40, 0]), np.array([40, 40, 0]), "sqrt_median_frequency").round(4).tolist()
    [1.5811, 0.7906, 1.0]
    """
    counts, image_pixels = np.asarray(counts, np.float64), np.asarray(image_pixels, np.float64)
    k = len(counts)
    if isinstance(method, (list, tuple, np.ndarray)):
        w = np.asarray(method, np.float64)
        if w.shape != (k,) or (w < 0).any() or not np.isfinite(w).all():
            raise ValueError(f"class weights must be {k} finite non-negative numbers, got {list(method)}")
        return w
    if method == "none":
        return None
    present = counts > 0
    if not present.any():
        raise ValueError("no labelled pixel to compute class weights from")
    w = np.ones(k)
    if method in ("median_frequency", "sqrt_median_frequency"):
        f = counts[present] / image_pixels[present]
        w[present] = np.median(f) / f
        if method == "sqrt_median_frequency":
            w = np.sqrt(w)
    elif method == "inverse_sqrt_frequency":
        f = counts[present] / counts.sum()
        raw = 1.0 / np.sqrt(f)
        w[present] = raw / raw.mean()
    else:
        raise ValueError(f"class weighting must be one of {', '.join(CLASS_WEIGHTINGS)} or a list, got {method!r}")
    return w


def balanced_bce(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = UNLABELLED) -> torch.Tensor:
    """HED's class-balanced sigmoid cross-entropy (Xie and Tu 2015) over the labelled pixels of a batch.

    ``target`` holds 1 (edge), 0 (not edge) or 255 (ignored). Edge pixels are weighted by ``beta = |Y-| / |Y|`` and
    the others by ``1 - beta``, so the rare edges count as much as the common non-edges; the sum is divided by the
    number of labelled pixels.

    Examples
    --------
    >>> logits = torch.zeros(1, 1, 1, 4)
    >>> # 3 labelled pixels, 1 edge: beta = 2/3; log 2 x (2/3 + 1/3 + 1/3) / 3
    >>> round(float(balanced_bce(logits, torch.tensor([[[[1, 0, 0, 255]]]]))), 4)
    0.3081
    """
    target = target.reshape(logits.shape)
    labelled = target != ignore_index
    n = labelled.sum().clamp(min=1)
    positive = (target == 1) & labelled
    beta = ((labelled & ~positive).sum() / n).float()
    weight = torch.where(positive, beta, 1.0 - beta) * labelled
    y = positive.float()
    loss = F.binary_cross_entropy_with_logits(logits.float(), y, weight=weight, reduction="sum")
    return loss / n


def gated_crf_loss(probabilities: torch.Tensor, images: torch.Tensor, radius: int = 5, sigma_xy: float = 6.0,
                   sigma_rgb: float = 0.1, mask: torch.Tensor | None = None, downscale: int = 2) -> torch.Tensor:
    """The gated CRF loss of Obukhov et al. (2019), a regularised loss for weak supervision in plain PyTorch.

    For pixel pairs (i, j) within ``radius`` of each other (on the maps downscaled by ``downscale``), the loss is
    the mean of ``K_ij * (1 - sum_c p_i^c p_j^c)``: the chance that two pixels take different classes, weighted by a
    Gaussian kernel on position and intensity, ``K_ij = exp(-|xy_i - xy_j|^2 / 2 sigma_xy^2 - |I_i - I_j|^2 /
    2 sigma_rgb^2)`` (positions in pixels of the full-size image, intensities in [0, 1]). Similar neighbours that
    disagree cost; a disagreement across an intensity edge costs little. ``mask`` (N, H, W) gates the pixels that
    take part (1 inside the image, 0 outside after augmentation); pairs with a gated pixel do not count.

    Parameters
    ----------
    probabilities : Tensor
        (N, K, H, W) softmax of the network.
    images : Tensor
        (N, C, H, W) the images it saw.

    Examples
    --------
    >>> certain = torch.zeros(1, 2, 8, 8); certain[:, 0] = 1  # every pixel surely class 0: nothing disagrees
    >>> float(gated_crf_loss(certain, torch.rand(1, 1, 8, 8)))
    0.0
    """
    if downscale > 1:
        probabilities = F.avg_pool2d(probabilities, downscale, ceil_mode=True)
        images = F.avg_pool2d(images.float(), downscale, ceil_mode=True)
        if mask is not None:
            mask = F.avg_pool2d(mask[:, None].float(), downscale, ceil_mode=True)[:, 0]
    n, k, h, w = probabilities.shape
    size = 2 * radius + 1
    unfold = lambda t: F.unfold(t, size, padding=radius).view(t.shape[0], t.shape[1], size * size, h, w)  # noqa: E731
    gate = torch.ones(n, 1, h, w, device=probabilities.device) if mask is None else mask[:, None].float()
    neigh_gate = unfold(gate)  # zero padding also gates pairs that leave the map
    neigh_img = unfold(images)
    dy, dx = torch.meshgrid(torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1), indexing="ij")
    d2_xy = ((dy ** 2 + dx ** 2).float() * downscale ** 2).view(1, size * size, 1, 1).to(probabilities.device)
    d2_rgb = ((neigh_img - images[:, :, None]) ** 2).sum(1)
    kernel = torch.exp(-d2_xy / (2 * sigma_xy ** 2) - d2_rgb / (2 * sigma_rgb ** 2))
    kernel = kernel * neigh_gate[:, 0] * gate
    kernel[:, size * size // 2] = 0  # no pair of a pixel with itself
    agree = (unfold(probabilities) * probabilities[:, :, None]).sum(1)
    return (kernel * (1 - agree)).sum() / gate.sum().clamp(min=1)
