"""PASCAL VOC 2012 with PASCAL-Scribble scribbles (XML or rasterised PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import default_palette, read_image, read_label_png
from ..scribbles import VOC_CLASSES, read_scribble_xml
from .base import Dataset, DatasetInfo, Sample

VOC_INFO = DatasetInfo(name="voc", class_names=VOC_CLASSES, palette=default_palette(21))
# where PASCAL-Scribble's files are usually unpacked, relative to the VOC root
SCRIBBLE_DIRS = ("pascal_2012_scribble", "pascal_2012", "scribbles", "ScribbleAnnotation/pascal_2012")


class VOCScribble(Dataset):
    """VOC layout (``JPEGImages/``, ``SegmentationClass(Aug)/``, ``ImageSets/Segmentation/<split>.txt``) with scribbles.

    Parameters
    ----------
    root : path-like
        The ``VOC2012`` folder.
    split : str
        Name of a split list: ``ImageSets/Segmentation/<split>.txt`` or
        ``ImageSets/SegmentationAug/<split>.txt`` (e.g. ``train``, ``val``, ``train_aug``).
    scribble_dir : path-like, optional
        Folder of scribbles named ``<id>.xml`` (PASCAL-Scribble XML, rasterised
        here) or ``<id>.png`` (class ids 0..20, 255 unlabelled). Default: the
        first of ``SCRIBBLE_DIRS`` under ``root`` that exists.
    line_width : int
        Line width for rasterising XML scribbles (3, as the rasterised release).
    clip : bool
        Clip XML points outside the image onto its border (a warning says how many)
        instead of failing.

    Ground truth comes from ``SegmentationClassAug/`` when present, else
    ``SegmentationClass/`` (255 = void boundary); samples without it have
    ``label=None``.
    """

    info = VOC_INFO

    def __init__(self, root, split: str = "train", scribble_dir=None, line_width: int = 3, clip: bool = False):
        root = Path(root)
        if not (root / "JPEGImages").is_dir():
            raise FileNotFoundError(f"{root / 'JPEGImages'}: no such folder (is {root} a VOC2012 folder?)")
        lists = [root / "ImageSets" / d / f"{split}.txt" for d in ("Segmentation", "SegmentationAug")]
        listing = next((p for p in lists if p.is_file()), None)
        if listing is None:
            raise FileNotFoundError(f"{lists[0]}: split list {split!r} not found (nor in ImageSets/SegmentationAug)")
        self.ids = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
        if not self.ids:
            raise ValueError(f"{listing}: empty split list")
        if scribble_dir is None:
            found = [root / d for d in SCRIBBLE_DIRS if (root / d).is_dir()]
            if not found:
                raise FileNotFoundError(
                    f"{root}: no scribble folder ({', '.join(SCRIBBLE_DIRS)}); give scribble_dir"
                )
            scribble_dir = found[0]
        self.scribble_dir = Path(scribble_dir)
        if not self.scribble_dir.is_dir():
            raise FileNotFoundError(f"{self.scribble_dir}: no such scribble folder")
        self.root, self.split, self.line_width, self.clip = root, split, line_width, clip
        self.label_dirs = [root / d for d in ("SegmentationClassAug", "SegmentationClass") if (root / d).is_dir()]

    def scribble_path(self, sample_id: str) -> Path:
        for ext in (".png", ".xml"):
            p = self.scribble_dir / f"{sample_id}{ext}"
            if p.is_file():
                return p
        raise FileNotFoundError(f"{self.scribble_dir / sample_id}.xml|.png: image {sample_id} has no scribble")

    def load(self, sample_id: str) -> Sample:
        image_path = self.root / "JPEGImages" / f"{sample_id}.jpg"
        image = read_image(image_path)
        path = self.scribble_path(sample_id)
        if path.suffix == ".xml":
            scribble = read_scribble_xml(path, self.line_width, clip=self.clip)
        else:
            scribble = read_label_png(path, self.info.palette)
        label = None
        for d in self.label_dirs:
            if (d / f"{sample_id}.png").is_file():
                label = read_label_png(d / f"{sample_id}.png", self.info.palette)
                break
        for what, arr, p in (("scribble", scribble, path), ("label", label, None)):
            if arr is not None and arr.shape != image.shape[:2]:
                raise ValueError(f"{p or sample_id}: {what} size {arr.shape[1]}x{arr.shape[0]} differs from image "
                                 f"{image_path.name} size {image.shape[1]}x{image.shape[0]}")
        bad = np.unique(scribble[(scribble != 255) & (scribble >= self.info.num_classes)])
        if bad.size:
            raise ValueError(f"{path}: class ids {bad.tolist()} beyond the 21 VOC classes")
        return Sample(sample_id, image, scribble, label)
