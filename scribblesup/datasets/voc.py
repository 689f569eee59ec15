"""PASCAL VOC 2012 with PASCAL-Scribble scribbles (XML or rasterised PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions import UNLABELLED
from ..io import check_size, default_palette, read_image, read_label_png
from ..scribbles import rasterize_polylines
from .base import Dataset, DatasetInfo, Sample, check_sample_id

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# the short names that PASCAL-Scribble's XML files use
VOC_ALIASES = {
    "plane": "aeroplane", "airplane": "aeroplane", "bike": "bicycle", "table": "diningtable",
    "dining table": "diningtable", "motorcycle": "motorbike", "plant": "pottedplant", "potted plant": "pottedplant",
    "monitor": "tvmonitor", "tv": "tvmonitor", "tv/monitor": "tvmonitor",
}



def parse_scribble_xml(path, class_names=VOC_CLASSES, aliases=None, clip: bool = False):
    """Read a PASCAL-Scribble XML file.

    The file holds ``<size><width/><height/></size>`` and one ``<polygon>`` per
    scribble, with a ``<tag>`` class name and ``<point><X>..</X><Y>..</Y></point>``
    vertices.

    Parameters
    ----------
    path : path-like
        The XML file.
    class_names : sequence of str
        Class names in id order (default: the 21 VOC classes).
    aliases : dict, optional
        Other names for classes (default: PASCAL-Scribble's short names, e.g. ``plane``).
    clip : bool
        Clip points outside the image onto its border (and say how many) instead of failing.

    Returns
    -------
    shape : (H, W)
    polylines : list of (class_id, (P, 2) float array of x, y)

    Raises
    ------
    ValueError
        Malformed XML, unknown class name, or points outside the image (without ``clip``);
        the message names the file.
    """
    import warnings
    import xml.etree.ElementTree as ET

    aliases = VOC_ALIASES if aliases is None else aliases
    index = {name.lower(): i for i, name in enumerate(class_names)}
    index.update({a.lower(): index[b.lower()] for a, b in aliases.items() if b.lower() in index})
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        shape = (int(size.find("height").text), int(size.find("width").text))
    except ET.ParseError as exc:
        raise ValueError(f"{path}: malformed XML ({exc})") from exc
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: no valid <size><width>..</width><height>..</height></size>") from exc
    check_size(shape[1], shape[0], path)  # a declared 100000 x 100000 image is refused before any allocation
    polylines, outside = [], 0
    for n, poly in enumerate(root.iter("polygon"), 1):
        tag = (poly.findtext("tag") or "").strip()
        if tag.lower() not in index:
            raise ValueError(
                f"{path}: scribble {n} has unknown class name {tag!r}; known: {', '.join(class_names)} "
                f"(and {', '.join(sorted(aliases))})"
            )
        try:
            pts = np.array([[float(p.findtext("X")), float(p.findtext("Y"))] for p in poly.iter("point")])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: scribble {n} ({tag}) has a point without numeric <X> and <Y>") from exc
        if len(pts) == 0:
            raise ValueError(f"{path}: scribble {n} ({tag}) has no <point>")
        bad = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] > shape[1] - 1) | (pts[:, 1] > shape[0] - 1)
        if bad.any():
            if not clip:
                x, y = pts[bad][0]
                raise ValueError(
                    f"{path}: scribble {n} ({tag}) has {int(bad.sum())} point(s) outside the "
                    f"{shape[1]}x{shape[0]} image, first ({x:g}, {y:g}); use clip to move them onto the border"
                )
            outside += int(bad.sum())
            pts = np.clip(pts, 0, [shape[1] - 1, shape[0] - 1])
        polylines.append((index[tag.lower()], pts))
    if outside:
        warnings.warn(f"{path}: {outside} point(s) outside the image clipped onto its border", stacklevel=2)
    return shape, polylines


def read_scribble_xml(path, width: int = 3, class_names=VOC_CLASSES, aliases=None, clip: bool = False) -> np.ndarray:
    """Rasterise a PASCAL-Scribble XML file into a scribble map (255 = unlabelled).

    See :func:`parse_scribble_xml` for the format and errors.
    """
    shape, polylines = parse_scribble_xml(path, class_names, aliases, clip)
    return rasterize_polylines(polylines, shape, width)


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
        self.ids = [check_sample_id(line.split()[0], listing) for line in listing.read_text().splitlines() if line.strip()]
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
        bad = np.unique(scribble[(scribble != UNLABELLED) & (scribble >= self.info.num_classes)])
        if bad.size:
            raise ValueError(f"{path}: class ids {bad.tolist()} beyond the 21 VOC classes")
        return Sample(sample_id, image, scribble, label)
