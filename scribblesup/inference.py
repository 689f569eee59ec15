"""Running a network on images and scoring it on a dataset."""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from .crf import refine as refine_prediction
from .crf import refinement_options
from .metrics import ConfusionMatrix, volume_scores


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if present, else Apple MPS, else CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) float image -> (C, H, W) float tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def match_channels(image: np.ndarray, in_channels: int) -> np.ndarray:
    """Give an (H, W, C) image the channel count a network expects: RGB to gray (mean) or gray to RGB (repeat)."""
    c = image.shape[2]
    if c == in_channels:
        return image
    if in_channels == 1 and c == 3:
        return image.mean(axis=2, keepdims=True)
    if in_channels == 3 and c == 1:
        return np.repeat(image, 3, axis=2)
    raise ValueError(f"image has {c} channels, the network takes {in_channels}")


def logit_offset_vector(offsets: dict | None, class_names) -> np.ndarray | None:
    """The per-class logit offset (K,) of ``{class name: value}`` (a test-time calibration, see
    :func:`predict_probabilities`); classes not named get 0. None or empty: None.

    Examples
    --------
    >>> logit_offset_vector({"Myo": -1.5}, ["background", "RV", "Myo", "LV"])
    array([ 0. ,  0. , -1.5,  0. ])
    """
    if not offsets:
        return None
    names = list(class_names)
    unknown = [name for name in offsets if name not in names]
    if unknown:
        raise ValueError(f"logit offset for {', '.join(map(str, unknown))}: no such class (classes: {', '.join(names)})")
    vector = np.zeros(len(names))
    for name, value in offsets.items():
        if not np.isfinite(value):
            raise ValueError(f"logit offset for {name}: {value} is not a finite number")
        vector[names.index(name)] = value
    return vector


def format_logit_offset(offsets: dict) -> str:
    """``Myo=-1.5``: how reports and tables name a logit offset.

    Examples
    --------
    >>> format_logit_offset({"Myo": -1.5, "LV": 0.25})
    'Myo=-1.5 LV=0.25'
    """
    return " ".join(f"{name}={value:g}" for name, value in offsets.items())


def parse_logit_offset(text: str) -> dict:
    """The inverse of :func:`format_logit_offset` (class names may hold spaces, not ``=``).

    Examples
    --------
    >>> parse_logit_offset("Myo=-1.5 Traffic light=1")
    {'Myo': -1.5, 'Traffic light': 1.0}
    """
    return {name: float(value) for name, value in re.findall(r"(.+?)=(\S+)(?: |$)", text)}


def _logits_at_image_size(model, image: np.ndarray, input_size, device=None) -> torch.Tensor:
    """The network's logits (1, K, H, W) for one image, resized to ``input_size`` for the network and back."""
    device = device or next(model.parameters()).device
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    x = to_tensor(match_channels(image, first_conv.in_channels))[None].to(device)
    size = x.shape[-2:]
    if input_size is not None and tuple(input_size) != tuple(size):
        x = F.interpolate(x, size=tuple(input_size), mode="bilinear", align_corners=False)
    return F.interpolate(model(x).float(), size=size, mode="bilinear", align_corners=False)


@torch.no_grad()
def predict_probabilities(model, image: np.ndarray, input_size, device=None, logit_offset=None) -> np.ndarray:
    """Class probabilities (K, H, W) of one image at its own size.

    The image is resized to ``input_size`` (the size the network was trained at),
    and the logits are resized back to the image's size before the softmax. A
    colour image given to a grayscale network is averaged to gray, and the
    other way round repeated (see :func:`match_channels`).

    ``logit_offset`` (K,), e.g. from :func:`logit_offset_vector`, is added to the
    logits before the softmax: a test-time calibration (post-hoc logit adjustment)
    that undoes a bias the training labels gave the network, such as the
    myocardium that graph-cut pseudo labels make too thick. Chosen on labelled
    held-out training images (experiments/tune_logit_offset.py), never on the
    split that is reported.
    """
    logits = _logits_at_image_size(model, image, input_size, device)
    if logit_offset is not None:
        logits = logits + torch.as_tensor(np.asarray(logit_offset), dtype=logits.dtype, device=logits.device)[:, None, None]
    return torch.softmax(logits, dim=1)[0].cpu().numpy()


@torch.no_grad()
def predict_edges(model, image: np.ndarray, input_size, device=None) -> np.ndarray:
    """Edge probability (H, W) of one image at its own size: the sigmoid of the network's last output channel (HED's
    fused map), resized back from ``input_size``."""
    return torch.sigmoid(_logits_at_image_size(model, image, input_size, device)[0, -1]).cpu().numpy()


def evaluate_edges(model, dataset, input_size, device=None, ids=None, progress: bool = False,
                   tolerance: float = 2.0) -> dict:
    """Score an edge network on a split: the boundary F-measure (ODS, OIS) of its edge maps against the boundaries
    of the ground-truth labels (:func:`scribblesup.edges.boundary_f_measure`). ``score`` is the ODS F."""
    from tqdm import tqdm

    from .edges import boundary_f_measure, label_boundaries

    was_training = model.training
    model.eval()
    ids = list(dataset.ids if ids is None else ids)
    preds, truths = [], []
    for sample_id in tqdm(ids, desc="evaluate edges", unit="img", disable=not progress, leave=False):
        s = dataset.load(sample_id)
        if s.label is None:
            continue
        preds.append(predict_edges(model, s.image, input_size, device))
        truths.append(label_boundaries(s.label))
    model.train(was_training)
    if not truths:
        raise ValueError("no sample of this split has ground truth to score edges against")
    boundary = boundary_f_measure(preds, truths, tolerance=tolerance)
    return {"boundary": boundary, "score": boundary["ods"], "score_name": "ODS F", "images": len(truths)}


def evaluate_model(model, dataset, input_size, device=None, ids=None, progress: bool = False,
                   refine: str | None = None, refine_options: dict | None = None,
                   logit_offset: dict | None = None) -> dict:
    """Score a network on a dataset split.

    ``refine`` (``densecrf`` or ``mrf``, see :func:`scribblesup.crf.refine`) post-processes
    each prediction with the image before scoring, with ``refine_options`` or else the
    dataset's measured settings (:func:`scribblesup.crf.refinement_options`).
    ``logit_offset`` (``{class name: value}``) calibrates the logits first
    (:func:`predict_probabilities`); the result records it.

    Returns the dataset-level confusion summary (per-class IoU, mIoU, pixel and
    mean accuracy) and, for datasets with 3D volumes (ACDC, NIfTI), Dice and HD95 per
    volume rebuilt from its slices, averaged over the foreground classes; HD95 in
    millimetres where the voxel spacing is known (NIfTI), else in pixels (``hd95_unit``).
    ``score`` is the mean Dice where volumes exist, else the mIoU.
    """
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    ids = list(dataset.ids if ids is None else ids)
    k = dataset.info.num_classes
    confusion = ConfusionMatrix(k)
    predictions = {}
    volumes = dataset.volumes() if hasattr(dataset, "volumes") else None
    offset = logit_offset_vector(logit_offset, dataset.info.class_names)
    for sample_id in tqdm(ids, desc="evaluate", unit="img", disable=not progress, leave=False):
        s = dataset.load(sample_id)
        probabilities = predict_probabilities(model, s.image, input_size, device, logit_offset=offset)
        if refine:
            options = refine_options if refine_options is not None else refinement_options(dataset.info.name, refine)
            pred = refine_prediction(s.image, probabilities, refine, **options)
        else:
            pred = probabilities.argmax(0).astype(np.uint8)
        confusion.update(s.label, pred)
        if volumes is not None:
            predictions[sample_id] = (pred, s.label)
    model.train(was_training)
    result = {"confusion": confusion.summary(dataset.info.class_names), "score": confusion.miou,
              "score_name": "mIoU", "images": len(ids), "refine": refine}
    if offset is not None:
        result["logit_offset"] = dict(logit_offset)
    if volumes is not None:
        foreground = range(1, k)
        per_volume = {}
        for vid, slice_ids in volumes.items():
            if not all(i in predictions for i in slice_ids):
                continue  # a partial volume (limited evaluation) is not scored
            pred = np.stack([predictions[i][0] for i in slice_ids])
            gt = np.stack([predictions[i][1] for i in slice_ids])
            spacing = dataset.spacing(vid) if hasattr(dataset, "spacing") else None
            per_volume[vid] = volume_scores(pred, gt, foreground, spacing)
        if per_volume:
            names = dataset.info.class_names
            dice = {names[c]: float(np.mean([v[c][0] for v in per_volume.values()])) for c in foreground}
            hd = {names[c]: _nanmean([v[c][1] for v in per_volume.values()]) for c in foreground}
            undefined = int(sum(np.isnan(v[c][1]) for v in per_volume.values() for c in foreground))
            result.update(
                per_volume={vid: {names[c]: {"dice": v[c][0], "hd95": v[c][1]} for c in foreground}
                            for vid, v in per_volume.items()},
                volumes=len(per_volume), dice=dice, hd95=hd, mean_dice=float(np.mean(list(dice.values()))),
                mean_hd95=_nanmean(list(hd.values())), hd95_undefined=undefined,
                hd95_unit="mm" if hasattr(dataset, "spacing") else "px",
                score=float(np.mean(list(dice.values()))), score_name="mean Dice",
            )
    return result


def evaluate_run(model, config, dataset, device=None, ids=None, progress: bool = False,
                 refine: str | None = None, logit_offset: dict | None = None) -> dict:
    """Score a trained run's network as its config's task says: :func:`evaluate_edges` for ``train.task: edges``,
    else :func:`evaluate_model` (optionally calibrated and refined)."""
    if config.train.task == "edges":
        if refine or logit_offset:
            raise ValueError("an edge network's maps are not refined or calibrated (that is for segmentations)")
        return evaluate_edges(model, dataset, config.data.input_size, device, ids=ids, progress=progress)
    return evaluate_model(model, dataset, config.data.input_size, device, ids=ids, progress=progress, refine=refine,
                          logit_offset=logit_offset)


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("nan")


def format_report(result: dict, title: str) -> str:
    """A Markdown table of an :func:`evaluate_model` (or :func:`evaluate_edges`) result."""
    if result.get("unscored"):
        return f"# {title}\n\nnot scored: the split has no labels\n"
    if "boundary" in result:
        b = result["boundary"]
        return (f"# {title}\n\n{result['images']} images; boundary F-measure, tolerance {b['tolerance']:g} px\n\n"
                f"| ODS F | precision | recall | threshold | OIS F |\n|---|---|---|---|---|\n"
                f"| {b['ods']:.4f} | {b['ods_precision']:.4f} | {b['ods_recall']:.4f} | {b['ods_threshold']:.2f} | "
                f"{b['ois']:.4f} |\n")
    c = result["confusion"]
    unit = result.get("hd95_unit", "px")
    lines = [f"# {title}", "", f"{result['images']} images", "",
             "| class | IoU |" + (f" Dice | HD95 ({unit}) |" if "dice" in result else ""),
             "|---|---|" + ("---|---|" if "dice" in result else "")]
    for name, iou in c["per_class_iou"].items():
        row = f"| {name} | {'-' if iou is None else f'{iou:.4f}'} |"
        if "dice" in result:
            row += f" {result['dice'][name]:.4f} | {result['hd95'][name]:.2f} |" if name in result["dice"] else " - | - |"
        lines.append(row)
    lines += ["", f"- mIoU {c['miou']:.4f}, pixel accuracy {c['pixel_accuracy']:.4f}, mean accuracy {c['mean_accuracy']:.4f}"]
    if "dice" in result:
        lines.append(f"- mean Dice {result['mean_dice']:.4f}, mean HD95 {result['mean_hd95']:.2f} {unit} over "
                     f"{result['volumes']} volumes (per 3D volume, foreground classes; "
                     f"{result['hd95_undefined']} class-volume HD95 undefined: one of prediction or truth empty)")
    return "\n".join(lines) + "\n"
