"""Dataset adapters: one small class per layout, each with class names and palette."""

import inspect

from ..conventions import DATASET_NAMES
from .acdc import ACDC_INFO, ACDCSlices
from .base import Dataset, DatasetInfo, Sample, check_sample_id
from .camvid import CAMVID_INFO, CamVid
from .folder import FolderDataset, read_classes_file
from .nifti import NiftiVolumes
from .voc import VOC_INFO, VOCScribble

DATASETS = {"acdc": ACDCSlices, "camvid": CamVid, "voc": VOCScribble, "folder": FolderDataset, "nifti": NiftiVolumes}
assert tuple(DATASETS) == DATASET_NAMES  # the names configs and the command line accept


# the adapters that take a scribble folder other than their own
SCRIBBLE_DIR_DATASETS = ("acdc", "camvid", "voc")


def open_dataset(name: str, root, split: str = "train", fold: int | None = None, scribble_dir=None,
                 limit: int | None = None, options: dict | None = None) -> Dataset:
    """Open a dataset by name (``acdc``, ``camvid``, ``voc``, ``folder``, ``nifti``).

    Parameters
    ----------
    name : str
    root : path-like
    split : str
    fold : int, optional
        ACDC's cross-validation fold (1..5, default 1); ignored by the other adapters.
    scribble_dir : path-like, optional
        Scribble PNGs ``<id>.png`` instead of the adapter's own (ACDC, CamVid, VOC; a folder dataset holds its own).
    limit : int, optional
        Keep the first ``limit`` samples.
    options : dict, optional
        The adapter's own options (``nifti``: ``fold``, ``axis``, ``normalise``, ``window``).
    """
    try:
        cls = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None
    extra, options = dict(options or {}), {}
    if cls is ACDCSlices and fold is not None:
        options["fold"] = fold
    if scribble_dir is not None:
        if name not in SCRIBBLE_DIR_DATASETS:
            raise ValueError(f"a {name} dataset holds its own scribbles; a scribble folder applies to "
                             f"{', '.join(SCRIBBLE_DIR_DATASETS)}")
        options["scribble_dir"] = scribble_dir
    accepted = set(inspect.signature(cls).parameters) - {"root", "split", "fold", "scribble_dir"}
    for key, value in extra.items():
        if key not in accepted:
            raise ValueError(f"data.options: a {name} dataset takes no option {key!r}"
                             f" (it takes: {', '.join(sorted(accepted)) or 'none'})")
        options[key] = value
    dataset = cls(root, split=split, **options)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        dataset.ids = dataset.ids[:limit]
    if not dataset.ids:
        raise ValueError(f"{root}: the {split!r} split of this {name} dataset is empty")
    return dataset


HOLDOUT = "holdout"  # the split of training groups held out by data.holdout, for choosing hyperparameters


def group_of(dataset, sample_id: str) -> str:
    """What a holdout keeps together: a patient (ACDC), a volume (NIfTI), else the image itself."""
    if hasattr(dataset, "patient"):
        return dataset.patient(sample_id)
    if hasattr(dataset, "volume_id"):
        return dataset.volume_id(sample_id)
    return sample_id


def holdout_groups(dataset, count: int) -> set:
    """``count`` groups of ``dataset`` spread evenly over it (deterministic: every k-th group in order).

    Examples
    --------
    >>> from scribblesup.demo import DEMO_DATA
    >>> sorted(holdout_groups(open_dataset("folder", DEMO_DATA / "acdc", split="all"), 1))
    ['patient003_frame01_slice_5']
    """
    groups = list(dict.fromkeys(group_of(dataset, i) for i in dataset.ids))
    if count >= len(groups):
        raise ValueError(f"data.holdout {count}: the training split has only {len(groups)} groups "
                         "(patients, volumes or images) to hold out from")
    step = len(groups) / count
    return {groups[int(k * step)] for k in range(count)}


def open_split(data, split: str, limit: int | None = None) -> Dataset:
    """The split ``split`` of the dataset a config's ``data`` section names (the scribble folder applies to its
    training split only; the validation split comes from ``data.val_root`` when one is given).

    With ``data.holdout: N``, N groups of the training split (ACDC: patients; NIfTI: volumes; others: images) are
    taken out of it and form the split ``holdout``: a labelled subset of the training data on which to choose
    hyperparameters, never the split whose score is reported.
    """
    held = data.holdout and split in (data.train_split, HOLDOUT)
    source = data.train_split if held else split
    scribble_dir = data.scribble_dir if source == data.train_split and data.dataset in SCRIBBLE_DIR_DATASETS else None
    root = data.val_root if data.val_root and split == data.val_split and not held else data.root
    dataset = open_dataset(data.dataset, root, split=source, fold=data.fold, scribble_dir=scribble_dir,
                           options=data.options)
    if held:
        groups = holdout_groups(dataset, data.holdout)
        dataset = dataset.subset([i for i in dataset.ids if (group_of(dataset, i) in groups) == (split == HOLDOUT)])
    if limit is not None:
        dataset = dataset.subset(dataset.ids[:limit])
    return dataset


__all__ = ["ACDCSlices", "CamVid", "VOCScribble", "VOC_INFO", "FolderDataset", "read_classes_file", "Dataset", "DatasetInfo", "Sample", "ACDC_INFO", "CAMVID_INFO", "DATASETS", "NiftiVolumes", "open_dataset", "open_split", "check_sample_id"]
