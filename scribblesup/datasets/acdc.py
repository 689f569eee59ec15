"""ACDC cardiac MRI slices with hand-drawn scribbles, as published by WSL4MIS."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from ..conventions import UNLABELLED
from ..io import read_label_png
from .base import Dataset, DatasetInfo, Sample, check_shapes

ACDC_INFO = DatasetInfo(
    name="acdc",
    class_names=("background", "RV", "Myo", "LV"),
    palette=np.array([[0, 0, 0], [228, 26, 28], [77, 175, 74], [55, 126, 184]], dtype=np.uint8),
)
ACDC_SCRIBBLE_UNLABELLED = 4
_NAME = re.compile(r"patient(\d{3})_frame(\d{2})_slice_(\d+)\.h5$")


def fold_patients(fold: int) -> set:
    """Patients tested in ``fold`` (1..5) of the WSL4MIS protocol: fold k tests 20(k-1)+1 .. 20k."""
    if fold not in range(1, 6):
        raise ValueError(f"ACDC fold must be 1..5, got {fold}")
    return set(range(20 * (fold - 1) + 1, 20 * fold + 1))


class ACDCSlices(Dataset):
    """2D slices of ACDC (``ACDC_training_slices/patientPPP_frameFF_slice_S.h5``).

    Parameters
    ----------
    root : path-like
        The ``ACDC`` folder (holding ``ACDC_training_slices``) or that folder itself.
    split : {"train", "val", "all"}
        ``train``: the 80 patients outside the fold; ``val``: the fold's 20 patients.
    fold : int
        1..5; fold k holds out patients 20(k-1)+1 .. 20k.
    scribble_dir : path-like, optional
        Read scribbles from ``<scribble_dir>/<id>.png`` (e.g. shrunk ones) instead of the h5 files.

    Scribble code 4 (unlabelled) becomes 255.
    """

    info = ACDC_INFO

    def __init__(self, root, split: str = "train", fold: int = 1, scribble_dir=None):
        root = Path(root)
        folder = root / "ACDC_training_slices" if (root / "ACDC_training_slices").is_dir() else root
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such ACDC folder")
        files = sorted(p for p in folder.glob("*.h5") if _NAME.search(p.name))
        if not files:
            raise FileNotFoundError(f"{folder}: no patientPPP_frameFF_slice_S.h5 files")
        if split not in ("train", "val", "all"):
            raise ValueError(f"ACDC split must be train, val or all, got {split!r}")
        held_out = fold_patients(fold)

        def wanted(p):
            patient = int(_NAME.search(p.name).group(1))
            return split == "all" or (patient in held_out) == (split == "val")

        def order(p):
            m = _NAME.search(p.name)
            return int(m.group(1)), int(m.group(2)), int(m.group(3))

        self.files = {p.stem: p for p in sorted(filter(wanted, files), key=order)}
        self.ids = list(self.files)
        self.split, self.fold = split, fold
        self.scribble_dir = Path(scribble_dir) if scribble_dir else None
        if self.scribble_dir is not None and not self.scribble_dir.is_dir():
            raise FileNotFoundError(f"{self.scribble_dir}: no such scribble folder")

    def load(self, sample_id: str) -> Sample:
        path = self.files[sample_id]
        try:
            with h5py.File(path, "r") as f:
                image = f["image"][()].astype(np.float32)
                label = f["label"][()].astype(np.uint8)
                scribble = f["scribble"][()]
        except (OSError, KeyError) as exc:
            raise ValueError(f"{path}: not a readable ACDC slice with image/label/scribble ({exc})") from exc
        if image.ndim != 2:
            raise ValueError(f"{path}: image of shape {image.shape}, expected one H x W slice")
        check_shapes(image, {f"{path} label": label, f"{path} scribble": scribble})
        scribble = np.where(scribble == ACDC_SCRIBBLE_UNLABELLED, UNLABELLED, scribble).astype(np.uint8)
        if self.scribble_dir is not None:
            scribble_path = self.scribble_dir / f"{sample_id}.png"
            scribble = read_label_png(scribble_path)
            check_shapes(image, {scribble_path: scribble})
        return Sample(sample_id, image[:, :, None], scribble, label)

    @staticmethod
    def patient(sample_id: str) -> str:
        """``patientPPP`` of a slice id (both frames of a patient stay on one side of a holdout)."""
        return sample_id.split("_frame", 1)[0]

    @staticmethod
    def volume_id(sample_id: str) -> str:
        """``patientPPP_frameFF`` of a slice id: the 3D volume it belongs to."""
        return sample_id.rsplit("_slice_", 1)[0]

    def volumes(self) -> dict:
        """Slice ids of each 3D volume of the split, in slice order: ``{volume_id: [slice ids]}``."""
        out = {}
        for sample_id in self.ids:  # ids are sorted by patient, frame, slice
            out.setdefault(self.volume_id(sample_id), []).append(sample_id)
        return out

    def load_volume(self, volume_id: str) -> Sample:
        """A 3D volume rebuilt by stacking its slices: image (D, H, W, 1), scribble and label (D, H, W)."""
        slices = self.volumes().get(volume_id)
        if not slices:
            raise KeyError(f"no volume {volume_id!r} in the {self.split} split of fold {self.fold}")
        samples = [self.load(i) for i in slices]
        return Sample(
            volume_id,
            np.stack([s.image for s in samples]),
            np.stack([s.scribble for s in samples]),
            np.stack([s.label for s in samples]),
        )
