"""NIfTI volumes (nibabel), served as 2D slices: the nnU-Net raw layout, or a plain folder of volumes.

nnU-Net raw layout (``dataset.json`` with ``labels``; ``imagesTs``, ``labelsTs``, ``labelsTr`` optional)::

    root/dataset.json                 {"labels": {"background": 0, "RV": 1, ...}, "file_ending": ".nii.gz"}
    root/imagesTr/<case>_0000.nii.gz  one channel per case
    root/labelsTr/<case>.nii.gz       dense labels (optional: a scribble-only training set has none)
    root/scribblesTr/<case>.nii.gz    scribbles: class ids, 255 (or dataset.json's "scribble_unlabelled") = none
    root/imagesTs/, root/labelsTs/    the test cases
    root/splits_final.json or splits.json   nnU-Net's folds: [{"train": [...], "val": [...]}, ...]

Plain folder: ``root/images/<case>.nii.gz``, ``root/scribbles/``, ``root/labels/`` (optional) and ``dataset.json``
(or ``classes.txt``). Either layout: ``<split>.txt`` files (one case a line) name further splits.

Splits: ``train`` and ``val`` are fold ``fold`` of the splits file (or ``train.txt`` / ``val.txt``; without any,
``train`` is every training case and ``val`` is an error), ``test`` the ``imagesTs`` cases, ``all`` every training
case, any other name ``<name>.txt``.

Each volume is normalised on its own (``normalise``): ``percentile`` clips to the 0.5th and 99.5th percentiles
and scales to [0, 1] (MRI), ``zscore`` subtracts the mean and divides by the standard deviation, clips to +-3 and
maps that to [0, 1], and ``window: [lo, hi]`` clips to a fixed window (CT, in Hounsfield units) and scales it to
[0, 1]. Slices are taken along array axis ``axis`` of the stored data (no reorientation), so predictions written
back (:func:`write_prediction`) line up voxel for voxel with the input, affine and header included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..conventions import UNLABELLED
from .base import Dataset, DatasetInfo, Sample, check_sample_id
from .folder import read_classes_file

SUFFIXES = (".nii.gz", ".nii")
NORMALISATIONS = ("percentile", "zscore", "window")
# colours for classes 0..: black, then a qualitative palette
_PALETTE = np.array([[0, 0, 0], [228, 26, 28], [77, 175, 74], [55, 126, 184], [152, 78, 163], [255, 127, 0],
                     [255, 255, 51], [166, 86, 40], [247, 129, 191], [153, 153, 153]], np.uint8)


def nibabel():
    try:
        import nibabel
    except ImportError:
        raise ImportError("NIfTI volumes need nibabel: pip install nibabel") from None
    return nibabel


def case_of(path: Path) -> str:
    """``case`` of ``case.nii.gz`` / ``case.nii``."""
    name = path.name
    for s in SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return path.stem


def max_voxels() -> int:
    """The largest volume read (``SCRIBBLESUP_MAX_VOXELS``, default 500 million: a 512 x 512 x 1900 CT): a header
    that declares more is refused before any voxel is decoded."""
    return int(os.environ.get("SCRIBBLESUP_MAX_VOXELS", 500_000_000))


def read_volume(path: Path):
    """(data as a 3D array, the nibabel image): 4D volumes are an error (a single-frame 4th axis is dropped)."""
    nib = nibabel()
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for a bad file
        raise ValueError(f"{path}: not a readable NIfTI volume ({exc})") from None
    if int(np.prod(img.shape, dtype=np.float64)) > max_voxels():
        raise ValueError(f"{path}: a volume of {' x '.join(map(str, img.shape))} voxels is larger than the limit of "
                         f"{max_voxels()} (set SCRIBBLESUP_MAX_VOXELS to raise it)")
    shape = img.shape
    if not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)):
        raise ValueError(f"{path}: a {len(shape)}D volume of shape {shape}; expected 3D (one channel, one time frame)")
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises several types for a bad file
        raise ValueError(f"{path}: not a readable NIfTI volume ({exc})") from None
    return (data[..., 0] if data.ndim == 4 else data), img


def normalise_volume(data: np.ndarray, method: str = "percentile", window=None) -> np.ndarray:
    """A volume's intensities mapped to [0, 1] as ``method`` says (see the module docstring).

    Examples
    --------
    >>> v = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    >>> n = normalise_volume(v)
    >>> float(n.min()), float(n.max())
    (0.0, 1.0)
    >>> normalise_volume(np.array([[[-1000.0, 40.0, 1000.0]]]), "window", [-160, 240]).round(2).tolist()
    [[[0.0, 0.5, 1.0]]]
    """
    x = data.astype(np.float32)
    if method == "window":
        if window is None or len(window) != 2 or not window[0] < window[1]:
            raise ValueError(f"normalise: window needs window: [lo, hi] with lo < hi, got {window}")
        lo, hi = float(window[0]), float(window[1])
    elif method == "zscore":
        mean, std = float(x.mean()), float(x.std())
        x = (x - mean) / (std if std > 0 else 1.0)
        lo, hi = -3.0, 3.0
    elif method == "percentile":
        lo, hi = (float(v) for v in np.percentile(x, [0.5, 99.5]))
    else:
        raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {method!r}")
    if hi <= lo:
        return np.zeros_like(x)
    return ((np.clip(x, lo, hi) - lo) / (hi - lo)).astype(np.float32)


def read_labels_json(path: Path) -> tuple[DatasetInfo, int]:
    """Classes (name -> value, nnU-Net v2; or value -> name, v1) and the scribbles' unlabelled value."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    labels = meta.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"{path}: no 'labels' entry (class name -> value)")
    try:
        if all(str(k).isdigit() for k in labels):  # v1: {"0": "background", ...}
            pairs = {int(k): str(v) for k, v in labels.items()}
        else:
            pairs = {int(v): str(k) for k, v in labels.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{path}: 'labels' must map class names to integer values") from None
    if sorted(pairs) != list(range(len(pairs))):
        raise ValueError(f"{path}: label values must be 0..{len(pairs) - 1}, got {sorted(pairs)}")
    channels = meta.get("channel_names", meta.get("modality", {"0": "image"}))
    if len(channels) != 1:
        raise ValueError(f"{path}: {len(channels)} channels ({', '.join(map(str, channels.values()))}); "
                         "one channel per case is supported")
    names = tuple(pairs[i] for i in range(len(pairs)))
    palette = np.array([_PALETTE[i % len(_PALETTE)] for i in range(len(names))], np.uint8)
    unlabelled = int(meta.get("scribble_unlabelled", UNLABELLED))
    return DatasetInfo(path.parent.name, names, palette), unlabelled


class NiftiVolumes(Dataset):
    """2D slices of 3D NIfTI volumes (see the module docstring for layouts, splits and normalisation).

    Parameters
    ----------
    root : path-like
    split : str
        ``train``, ``val``, ``test``, ``all`` or the name of a ``<split>.txt``.
    fold : int
        The fold of ``splits_final.json`` / ``splits.json`` (0-based, nnU-Net's numbering).
    axis : int
        The array axis (0, 1, 2) along which volumes are sliced.
    normalise : {"percentile", "zscore", "window"}
    window : [lo, hi], optional
        The intensity window of ``normalise: window``.
    """

    def __init__(self, root, split: str = "train", fold: int = 0, axis: int = 2, normalise: str = "percentile",
                 window=None):
        root = Path(root)
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
        if normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {normalise!r}")
        if normalise == "window":
            normalise_volume(np.zeros((1, 1, 1)), "window", window)  # checks the window
        self.root, self.split, self.fold, self.axis = root, split, fold, axis
        self.normalise, self.window = normalise, window
        self.nnunet = (root / "imagesTr").is_dir()
        if not self.nnunet and not (root / "images").is_dir():
            raise FileNotFoundError(f"{root}: no imagesTr/ (nnU-Net layout) or images/ folder of NIfTI volumes")
        if (root / "dataset.json").is_file():
            self.info, self.unlabelled = read_labels_json(root / "dataset.json")
        elif (root / "classes.txt").is_file():
            self.info, self.unlabelled = read_classes_file(root / "classes.txt"), UNLABELLED
        else:
            raise FileNotFoundError(f"{root}: no dataset.json (or classes.txt) naming the classes")
        test = split == "test"
        if self.nnunet:
            self.image_dir = root / ("imagesTs" if test else "imagesTr")
            self.label_dir = root / ("labelsTs" if test else "labelsTr")
            self.scribble_dir = None if test else root / "scribblesTr"
            images = {case_of(p)[: -len("_0000")]: p for p in self._files(self.image_dir)
                      if case_of(p).endswith("_0000")}
        else:
            if test:
                raise ValueError(f"{root}: a plain folder has no test split; list its cases in test.txt")
            self.image_dir, self.label_dir, self.scribble_dir = root / "images", root / "labels", root / "scribbles"
            images = {case_of(p): p for p in self._files(self.image_dir)}
        if not images:
            raise FileNotFoundError(f"{self.image_dir}: no NIfTI volumes")
        cases = self._split_cases(sorted(images), split)
        missing = [c for c in cases if c not in images]
        if missing:
            raise ValueError(f"{root}: the {split!r} split lists cases with no image: {', '.join(missing[:5])}")
        self.images = {c: images[c] for c in cases}
        self._slices = {}  # case -> number of slices, read from the headers
        ids = []
        for case in cases:
            check_sample_id(case, self.images[case])
            n = self._header_shape(self.images[case])[axis]
            self._slices[case] = n
            ids += [f"{case}_slice_{k:03d}" for k in range(n)]
        self.ids = ids
        self._cache = None

    @staticmethod
    def _files(folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIXES) and not p.name.startswith("."))

    @staticmethod
    def _header_shape(path: Path) -> tuple:
        try:
            shape = nibabel().load(str(path)).shape
        except Exception as exc:
            raise ValueError(f"{path}: not a readable NIfTI volume ({exc})") from None
        if len(shape) == 4 and shape[3] == 1:
            shape = shape[:3]
        if len(shape) != 3:
            raise ValueError(f"{path}: a {len(shape)}D volume of shape {shape}; expected 3D (one channel, one "
                             "time frame)")
        return shape

    def _split_cases(self, training: list[str], split: str) -> list[str]:
        if split == "test":
            return training
        listing = self.root / f"{split}.txt"
        if listing.is_file():
            return [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if split == "all":
            return training
        for name in ("splits_final.json", "splits.json"):
            path = self.root / name
            if path.is_file() and split in ("train", "val"):
                try:
                    folds = json.loads(path.read_text())
                    return list(folds[self.fold][split])
                except (ValueError, IndexError, KeyError, TypeError):
                    raise ValueError(f"{path}: no fold {self.fold} with a {split!r} list") from None
        if split == "train":
            return training
        raise ValueError(f"{self.root}: no {split!r} split: add {split}.txt (one case a line) or nnU-Net's "
                         "splits_final.json")

    def __getstate__(self):  # workers get the file lists, not the cached volume
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    @staticmethod
    def volume_id(sample_id: str) -> str:
        """The case a slice id belongs to."""
        return sample_id.rsplit("_slice_", 1)[0]

    def volumes(self) -> dict:
        """Slice ids of each volume, in slice order: ``{case: [slice ids]}``."""
        return {c: [f"{c}_slice_{k:03d}" for k in range(n)] for c, n in self._slices.items()}

    def spacing(self, case: str) -> tuple:
        """Voxel spacing (mm) of a case's volume as :meth:`load_volume` stacks it: slice axis first."""
        zooms = nibabel().load(str(self.images[case])).header.get_zooms()[:3]
        return (float(zooms[self.axis]), *(float(z) for i, z in enumerate(zooms) if i != self.axis))

    def _volume(self, case: str):
        """(image in [0, 1], scribble, label or None) of a case, with the slice axis first; the last one is kept."""
        if self._cache is not None and self._cache[0] == case:
            return self._cache[1]
        path = self.images[case]
        data, img = read_volume(path)
        image = normalise_volume(data, self.normalise, self.window)
        maps = {}
        for kind, folder in (("scribble", self.scribble_dir), ("label", self.label_dir)):
            p = None if folder is None else next((folder / f"{case}{s}" for s in SUFFIXES
                                                 if (folder / f"{case}{s}").is_file()), None)
            if p is None:
                maps[kind] = None
                continue
            arr, other = read_volume(p)
            if arr.shape != data.shape:
                raise ValueError(f"{p}: shape {arr.shape} differs from the image's {data.shape} ({path.name})")
            if not np.allclose(other.affine, img.affine, atol=1e-3):
                raise ValueError(f"{p}: its affine differs from the image's ({path.name}): not the same voxel grid")
            if not np.array_equal(arr, np.round(arr)):
                raise ValueError(f"{p}: non-integer values in a {kind} volume")
            arr = arr.astype(np.int64)
            if kind == "scribble":
                arr[arr == self.unlabelled] = UNLABELLED
            k = self.info.num_classes
            bad = np.unique(arr[(arr != UNLABELLED) & ((arr < 0) | (arr >= k))])
            if bad.size:
                raise ValueError(f"{p}: {kind} values {bad.tolist()} are not classes of dataset.json "
                                 f"(0..{k - 1}{', 255 = unlabelled' if kind == 'scribble' else ''})")
            maps[kind] = arr.astype(np.uint8)
        if maps["scribble"] is None:
            if self.split not in ("test", "val") and self.scribble_dir is not None and maps["label"] is None:
                raise FileNotFoundError(f"{self.scribble_dir}/{case}.nii.gz: case {case} has neither scribbles "
                                        "nor labels")
            maps["scribble"] = np.full(data.shape, UNLABELLED, np.uint8)
        volume = tuple(None if v is None else np.moveaxis(v, self.axis, 0)
                       for v in (image, maps["scribble"], maps["label"]))
        self._cache = (case, volume)
        return volume

    def load(self, sample_id: str) -> Sample:
        case = self.volume_id(sample_id)
        if case not in self.images:
            raise KeyError(f"no slice {sample_id!r} in the {self.split} split")
        k = int(sample_id.rsplit("_slice_", 1)[1])
        image, scribble, label = self._volume(case)
        return Sample(sample_id, image[k][:, :, None], scribble[k], None if label is None else label[k])

    def load_volume(self, case: str) -> Sample:
        """A whole case: image (D, H, W, 1), scribble and label (D, H, W), the slice axis first."""
        image, scribble, label = self._volume(case)
        return Sample(case, image[..., None], scribble, label)


def write_prediction(path, labels: np.ndarray, reference, axis: int) -> None:
    """Write a (D, H, W) label volume (slice axis first) as NIfTI aligned with ``reference`` (a nibabel image, or
    the path of the input volume): the input's affine and header, uint8 voxels."""
    from ..io import atomic_path

    nib = nibabel()
    if not hasattr(reference, "affine"):
        reference = nib.load(str(reference))
    data = np.moveaxis(np.asarray(labels, np.uint8), 0, axis)
    if data.shape != reference.shape[:3]:
        raise ValueError(f"{path}: prediction of shape {data.shape} for a volume of shape {reference.shape}")
    header = reference.header.copy()
    header.set_data_dtype(np.uint8)
    out = nib.Nifti1Image(data, reference.affine, header)
    out.set_qform(reference.affine, int(reference.header["qform_code"]) or 1)
    out.set_sform(reference.affine, int(reference.header["sform_code"]) or 1)
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    with atomic_path(path) as tmp:
        # nibabel picks gzip from the file name: write under the final suffix, then onto the temporary file
        tmp_named = tmp.with_name(tmp.name + suffix)
        try:
            nib.save(out, str(tmp_named))
            tmp_named.replace(tmp)
        finally:
            tmp_named.unlink(missing_ok=True)
