"""What every dataset adapter provides: samples with image, scribble and ground truth."""

from __future__ import annotations

import copy

import re
from dataclasses import dataclass

import numpy as np

from ..conventions import UNLABELLED

_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def check_sample_id(sample_id: str, source) -> str:
    """A sample id is a plain file stem: letters, digits, ``_ . + -``, not starting with a dot, no separators.

    Output and cache paths are built from ids, so an id such as ``../x`` or ``/etc/x`` is refused, with the file
    it came from (``source``).

    Examples
    --------
    >>> check_sample_id("2007_000032", "train.txt")
    '2007_000032'
    >>> check_sample_id("../x", "train.txt")
    Traceback (most recent call last):
    ...
    ValueError: train.txt: sample id '../x' is not a plain file name (letters, digits, _ . + -)
    """
    if not isinstance(sample_id, str) or not _SAFE_ID.fullmatch(sample_id) or len(sample_id) > 200:
        raise ValueError(f"{source}: sample id {sample_id!r} is not a plain file name (letters, digits, _ . + -)")
    return sample_id


def check_shapes(image: np.ndarray, maps: dict) -> None:
    """Every map (``{source: array or None}``: label, scribble) is 2D and of the image's size; ``ValueError`` names
    the source otherwise."""
    h, w = image.shape[:2]
    for source, arr in maps.items():
        if arr is None:
            continue
        if arr.ndim != 2 or arr.shape != (h, w):
            raise ValueError(f"{source}: size {'x'.join(map(str, arr.shape[::-1]))} differs from the image's {w}x{h}")


def sample_problems(sample: "Sample", num_classes: int) -> list[str]:
    """What a later command would trip on in one loaded sample: non-finite image values, an image too small to
    segment, class ids beyond ``num_classes``, a scribble with no labelled pixel."""
    problems = []
    if not np.isfinite(sample.image).all():
        problems.append("image has NaN or infinite values")
    if min(sample.image.shape[:2]) < 2:
        problems.append(f"image is {sample.image.shape[1]}x{sample.image.shape[0]} pixels: too small to segment")
    for what, arr in (("scribble", sample.scribble), ("label", sample.label)):
        if arr is None:
            continue
        bad = np.unique(arr[(arr != UNLABELLED) & (arr >= num_classes)])
        if bad.size:
            problems.append(f"{what} class ids {bad.tolist()} beyond the {num_classes} classes")
    if not (sample.scribble != UNLABELLED).any():
        problems.append("scribble has no labelled pixel")
    return problems


@dataclass
class Sample:
    """One training or evaluation example.

    Attributes
    ----------
    id : str
        Unique name within the dataset (used for output file names).
    image : ndarray
        float32 (H, W, C) in [0, 1], C = 1 or 3.
    scribble : ndarray
        uint8 (H, W) class ids, 255 = unlabelled.
    label : ndarray or None
        uint8 (H, W) dense ground truth, 255 = void; None when unknown.
    """

    id: str
    image: np.ndarray
    scribble: np.ndarray
    label: np.ndarray | None = None


@dataclass
class DatasetInfo:
    """Class names and colours of a dataset (index = class id)."""

    name: str
    class_names: tuple
    palette: np.ndarray  # (K, 3) uint8

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class Dataset:
    """Base class: an indexable list of :class:`Sample` with ``info`` and ``ids``."""

    info: DatasetInfo
    ids: list

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        return self.load(self.ids[index])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def subset(self, ids) -> "Dataset":
        """The same dataset restricted to ``ids`` (a shallow copy: files are shared, nothing is reloaded)."""
        sub = copy.copy(self)
        sub.ids = list(ids)
        return sub

    def load(self, sample_id: str) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError
