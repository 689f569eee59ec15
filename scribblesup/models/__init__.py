"""Segmentation networks by name: ``create_model(name, num_classes, in_channels, **options)``.

A plain dictionary, no registry: each entry builds one network.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .unet import UNet
from .vgg import FCN, HED, DeconvNet, DeepLabVGG, SegNet

MODELS = {
    "fcn32s": partial(FCN, stride=32),
    "fcn16s": partial(FCN, stride=16),
    "fcn8s": partial(FCN, stride=8),
    "deeplab-largefov": partial(DeepLabVGG, rates=(12,)),
    "deeplab-aspp": partial(DeepLabVGG, rates=(6, 12, 18, 24)),
    "segnet": SegNet,
    "deconvnet": DeconvNet,
    "unet": UNet,
    "hed": HED,
}
EDGE_MODELS = ("hed",)  # networks whose output is edge maps, not class scores


def create_model(name: str, num_classes: int, in_channels: int = 3, **options) -> nn.Module:
    """Build a segmentation network; its output has the input's height and width.

    Parameters
    ----------
    name : str
        One of ``fcn32s``, ``fcn16s``, ``fcn8s``, ``deeplab-largefov``, ``deeplab-aspp``, ``segnet``,
        ``deconvnet``, ``unet``; or ``hed`` (edges: ``num_classes=1``, output (N, 6, H, W) side + fused maps).
    num_classes : int
    in_channels : int
        1 for grayscale (MRI), 3 for colour.
    **options
        ``width`` (channel multiplier, e.g. 0.25 to train on a CPU), ``batch_norm``,
        ``dropout``; FCN: ``learnable_upsampling``.

    Examples
    --------
    >>> net = create_model("unet", num_classes=4, in_channels=1, width=0.125)
    >>> net(torch.zeros(1, 1, 37, 50)).shape
    torch.Size([1, 4, 37, 50])
    """
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}") from None
    return factory(num_classes=num_classes, in_channels=in_channels, **options)


def load_pretrained(model: nn.Module, path, verbose: bool = True) -> dict:
    """Load a local state dict (e.g. torchvision's VGG16 ``vgg16-397923af.pth``) into a model's encoder.

    Tensors are matched in order among those of equal shape: the source's
    ``features.*`` convolution (and BatchNorm) tensors go to the encoder's; a
    torchvision VGG classifier's first two layers go to FCN's fc6 / fc7 when the
    shapes agree after reshaping. Nothing is downloaded.

    Returns
    -------
    dict
        ``matched`` (target names), ``skipped_source`` and ``unmatched_target`` (names).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file is not a plain state dict
        raise ValueError(f"{path}: not a readable state dict of tensors ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    target = model.state_dict()
    src_items = [(k, v) for k, v in state.items() if torch.is_tensor(v)]
    tgt_keys = [k for k in target if k.startswith("encoder.") and not k.endswith("num_batches_tracked")]
    src_feats = [(k, v) for k, v in src_items if k.startswith("features.") or k.startswith("encoder.")]
    matched, used = {}, set()
    j = 0
    for k in tgt_keys:
        while j < len(src_feats) and src_feats[j][1].shape != target[k].shape:
            j += 1
        if j == len(src_feats):
            break
        matched[k] = src_feats[j][1]
        used.add(src_feats[j][0])
        j += 1
    for fc, src_key in (("fc6.0", "classifier.0"), ("fc7.0", "classifier.3")):
        for part in ("weight", "bias"):
            tk, sk = f"{fc}.{part}", f"{src_key}.{part}"
            if tk in target and sk in state and state[sk].numel() == target[tk].numel():
                matched[tk] = state[sk].reshape(target[tk].shape)
                used.add(sk)
    model.load_state_dict(matched, strict=False)
    report = {
        "matched": sorted(matched),
        "skipped_source": [k for k, _ in src_items if k not in used],
        "unmatched_target": [k for k in tgt_keys if k not in matched],
    }
    if verbose:
        print(f"{path}: loaded {len(report['matched'])} tensors; {len(report['unmatched_target'])} encoder tensors "
              f"left at their initialisation; {len(report['skipped_source'])} source tensors unused")
    return report


__all__ = ["MODELS", "EDGE_MODELS", "create_model", "load_pretrained", "FCN", "DeepLabVGG", "SegNet", "DeconvNet",
           "UNet", "HED"]
