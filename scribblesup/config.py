"""Experiment configuration: one YAML file per experiment, overridable with ``key.sub=value``."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

DEFAULTS = {
    "name": None,  # run folder name; default: the config file's stem
    "data": {
        "dataset": "acdc",
        "root": "../shared/data/ACDC",
        "fold": 1,
        "train_split": "train",
        "val_split": "val",
        "supervision": "full",  # full | scribble (partial cross-entropy) | pseudo
        "pseudo_dir": None,  # folder of <id>.png pseudo labels, for supervision: pseudo
        "scribble_dir": None,  # CamVid / VOC: scribble PNGs instead of the adapter's default
        "input_size": [128, 128],  # (H, W) the network sees, in training and inference
        "limit": None,  # first N training samples (quick runs, tests)
        "val_limit": None,
    },
    "model": {"name": "unet", "width": 0.25, "pretrained": None, "options": {}},
    "augment": {"flip": True, "scale": [0.8, 1.2], "rotate": 0.0},
    "train": {
        "steps": 2000,
        "batch_size": 8,
        "optimizer": "adamw",  # adamw | sgd
        "lr": 1e-3,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "poly_power": 0.9,
        "seed": 0,
        "eval_every": 500,
        "checkpoint_every": 100,
        "log_every": 20,
        "amp": True,  # mixed precision, CUDA only
        "device": "auto",  # auto | cpu | cuda | mps
        "init_from": None,  # a checkpoint (.pt of a run) whose model weights start training: fine-tuning
    },
    # scribble propagation (graph cut); null = the dataset's measured default (scribblesup.propagation)
    "propagation": {
        "superpixel_method": None,  # slic | felzenszwalb
        "n_segments": None,
        "compactness": None,
        "fh_scale": None,
        "pairwise_weight": None,  # 0 = no pairwise term
        "delta_color": None,
        "delta_texture": None,
        "use_boundary_length": None,
        "network_weight": None,  # lambda of the network unary -log P in rounds 1..R
        "max_cycles": None,
    },
    # `scribblesup run`: alternating label inference (graph cut) and training
    "pipeline": {
        "rounds": 3,  # rounds after round 0: R
        "init": "finetune",  # rounds 1..R start from the previous round's network (finetune) or anew (scratch)
        "finetune_steps": None,  # training steps of rounds 1..R when fine-tuning (default: train.steps)
        "finetune_lr": None,  # their peak learning rate (default: train.lr)
        "refine_pseudo": None,  # null | densecrf | mrf: refine pseudo labels after each graph cut
        "workers": 2,  # processes for superpixels and graph cuts
        "cache_dir": None,  # superpixel / region-graph cache (default: <output.root>/cache)
    },
    "output": {"root": "runs"},
}


def _merge(base: dict, update: dict, path: str, source: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in base:
            raise ValueError(f"{source}: unknown config key {where!r}; valid here: {', '.join(base)}")
        if isinstance(base[key], dict) and key != "options":
            if not isinstance(value, dict):
                raise ValueError(f"{source}: {where!r} must be a mapping")
            out[key] = _merge(base[key], value, where + ".", source)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict:
    """``"train.lr=0.01"`` -> ``{"train": {"lr": 0.01}}`` (the value parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected key=value, e.g. train.steps=100")
    key, value = text.split("=", 1)
    nested: dict = {}
    node = nested
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = yaml.safe_load(value)
    return nested


def load_config(path=None, overrides=()) -> dict:
    """Read a YAML config over the defaults, then apply ``key.sub=value`` overrides.

    Unknown keys are errors naming the file and the key.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config is a mapping of sections")
        config = _merge(config, data, "", str(path))
        if config["name"] is None:
            config["name"] = path.stem
    for text in overrides:
        config = _merge(config, parse_override(text), "", f"--set {text}")
    if config["name"] is None:
        config["name"] = "run"
    if config["data"]["supervision"] not in ("full", "scribble", "pseudo"):
        raise ValueError(f"data.supervision must be full, scribble or pseudo, got {config['data']['supervision']!r}")
    if config["data"]["supervision"] == "pseudo" and not config["data"]["pseudo_dir"]:
        raise ValueError("data.supervision: pseudo needs data.pseudo_dir (a folder of <id>.png pseudo labels)")
    return config
