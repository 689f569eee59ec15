"""Dataset adapters: one small class per layout, each with class names and palette."""

from .acdc import ACDC_INFO, ACDCSlices
from .base import Dataset, DatasetInfo, Sample
from .camvid import CAMVID_INFO, CamVid
from .folder import FolderDataset, read_classes_file

DATASETS = {"acdc": ACDCSlices, "camvid": CamVid, "folder": FolderDataset}


def open_dataset(name: str, root, split: str = "train", **options) -> Dataset:
    """Open a dataset by name (``acdc``, ``camvid``, ``folder``); options go to the adapter.

    ``fold`` is only meaningful for ACDC and is dropped for the others.
    """
    try:
        cls = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None
    if cls is FolderDataset:
        options = {}
    elif cls is not ACDCSlices:
        options.pop("fold", None)
    return cls(root, split=split, **options)


__all__ = ["ACDCSlices", "CamVid", "FolderDataset", "read_classes_file", "Dataset", "DatasetInfo", "Sample", "ACDC_INFO", "CAMVID_INFO", "DATASETS", "open_dataset"]
