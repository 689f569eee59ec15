"""A plain folder: ``images/``, ``scribbles/``, optional ``labels/``, and ``classes.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions import UNLABELLED
from ..io import read_image, read_label_png
from .base import Dataset, DatasetInfo, Sample, check_sample_id

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")


def read_classes_file(path: Path) -> DatasetInfo:
    """Read ``classes.txt``: one class a line, ``name R G B``, in class-id order (``#`` starts a comment)."""
    names, colors = [], []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts[1:]):
            raise ValueError(f"{path}:{n}: expected 'name R G B' with colours 0..255, got {line!r}")
        names.append(parts[0])
        colors.append([int(p) for p in parts[1:]])
    if not names:
        raise ValueError(f"{path}: no classes")
    return DatasetInfo(Path(path).parent.name, tuple(names), np.array(colors, np.uint8))


class FolderDataset(Dataset):
    """Images with scribble PNGs of the same stem, optional dense labels.

    Layout::

        root/classes.txt           name R G B per line, class id = line order
        root/images/<id>.png|jpg   the images
        root/scribbles/<id>.png    class ids, 255 = unlabelled
        root/labels/<id>.png       optional ground truth, 255 = void
        root/<split>.txt           optional: the ids of a split, one a line (e.g. train.txt, val.txt)

    Splits: ``all`` is every image; any other name is ``<split>.txt``, except that ``train`` without a
    ``train.txt`` is every image. A ``val`` (or other) split with no list is an error, so a run never validates on
    its own training images by accident (``data.val_root`` names a separate validation folder).
    """

    def __init__(self, root, split: str = "all"):
        root = Path(root)
        images = root / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"{images}: no such folder (expected images/, scribbles/, classes.txt)")
        self.info = read_classes_file(root / "classes.txt")
        # hidden files (e.g. a killed writer's temporary files) are not inputs
        self.paths = {check_sample_id(p.stem, images): p for p in sorted(images.iterdir())
                      if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}
        if not self.paths:
            raise FileNotFoundError(f"{images}: no images")
        listing = root / f"{split}.txt"
        if split != "all" and listing.is_file():
            ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            missing = [i for i in ids if i not in self.paths]
            if missing:
                raise ValueError(f"{listing}: ids with no image in {images}: {', '.join(missing[:5])}")
            self.paths = {i: self.paths[i] for i in ids}
        elif split not in ("all", "train"):
            raise ValueError(f"{root}: no {split!r} split: add {split}.txt (one image id a line), use "
                             f"split 'all', or give a separate validation folder (data.val_root)")
        self.ids = list(self.paths)
        self.root, self.split = root, split

    def load(self, sample_id: str) -> Sample:
        image = read_image(self.paths[sample_id])
        scribble_path = self.root / "scribbles" / f"{sample_id}.png"
        if not scribble_path.is_file():
            raise FileNotFoundError(f"{scribble_path}: image {self.paths[sample_id].name} has no scribble")
        scribble = read_label_png(scribble_path, self.info.palette)
        label_path = self.root / "labels" / f"{sample_id}.png"
        label = read_label_png(label_path, self.info.palette) if label_path.is_file() else None
        k = self.info.num_classes
        for path, arr in ((scribble_path, scribble), (label_path, label)):
            if arr is None:
                continue
            if arr.shape != image.shape[:2]:
                raise ValueError(f"{path}: size {arr.shape[1]}x{arr.shape[0]} differs from image size "
                                 f"{image.shape[1]}x{image.shape[0]}")
            bad = np.unique(arr[(arr != UNLABELLED) & (arr >= k)])
            if bad.size:
                raise ValueError(f"{path}: class ids {bad.tolist()} beyond the {k} classes of classes.txt")
        return Sample(sample_id, image, scribble, label)
