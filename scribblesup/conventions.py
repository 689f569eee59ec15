"""Conventions every module shares: the unlabelled value and the image array format.

This is the lowest room of the package: it imports nothing from it.
"""

from __future__ import annotations

import numpy as np

#: Class id of "no label": unscribbled pixels, void ground truth, pseudo labels left open. Ignored by every loss
#: and metric.
UNLABELLED = 255


def as_float_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32 H x W x C in [0, 1] (C = 1 or 3).

    Parameters
    ----------
    image : ndarray
        H x W or H x W x C array; integers are scaled by their dtype's maximum.

    Returns
    -------
    ndarray
        float32 array of shape (H, W, C).

    Examples
    --------
    >>> as_float_image(np.full((2, 3), 255, np.uint8)).shape
    (2, 3, 1)
    >>> float(as_float_image(np.full((2, 3), 255, np.uint8)).max())
    1.0
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H x W, H x W x 1 or H x W x 3 image, got shape {image.shape}")
    if image.shape[2] == 4:  # drop alpha
        image = image[:, :, :3]
    if np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float32) / np.iinfo(image.dtype).max
    return np.ascontiguousarray(image, dtype=np.float32)


# the dataset adapters by name (scribblesup.datasets.DATASETS holds the classes; configs and the command line take
# these names)
DATASET_NAMES = ("acdc", "camvid", "voc", "folder", "nifti")
