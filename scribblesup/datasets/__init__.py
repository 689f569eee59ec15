"""Dataset adapters: one small class per layout, each with class names and palette."""

from .acdc import ACDC_INFO, ACDCSlices
from .base import Dataset, DatasetInfo, Sample
from .camvid import CAMVID_INFO, CamVid
from .folder import FolderDataset, read_classes_file
from .voc import VOC_INFO, VOCScribble

DATASETS = {"acdc": ACDCSlices, "camvid": CamVid, "voc": VOCScribble, "folder": FolderDataset}


def open_dataset(name: str, root, split: str = "train", **options) -> Dataset:
    """Open a dataset by name (``acdc``, ``camvid``, ``voc``, ``folder``); options go to the adapter.

    ``fold`` is only meaningful for ACDC and is dropped for the others; options
    the adapter does not take raise ``TypeError``.
    """
    try:
        cls = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None
    if cls is not ACDCSlices:
        options.pop("fold", None)
    return cls(root, split=split, **options)


__all__ = ["ACDCSlices", "CamVid", "VOCScribble", "VOC_INFO", "FolderDataset", "read_classes_file", "Dataset", "DatasetInfo", "Sample", "ACDC_INFO", "CAMVID_INFO", "DATASETS", "open_dataset"]
