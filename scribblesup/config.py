"""Experiment configuration: one YAML file per experiment, parsed once into typed, validated dataclasses.

A config file has the sections ``data``, ``model``, ``augment``, ``train``, ``propagation``, ``pipeline``,
``test`` and ``output`` (any may be left out: the defaults below fill it) and an optional ``name``. A ``base:`` key
names another config file (relative to this one), or a list of them (later ones win), whose values this file overrides,
section by section, as mmsegmentation's ``_base_`` does. ``key.sub=value`` overrides (``--set``) apply last.

Every value is checked when the config is loaded, before anything is written: unknown keys, wrong types and
out-of-range values are errors that name the file (or the ``--set`` text) and the key.

Examples
--------
>>> c = load_config(None, ["train.steps=10", "data.dataset=camvid"])
>>> c.train.steps, c.data.dataset, c.name
(10, 'camvid', 'run')
>>> load_config(None, ["train.steps=0"])
Traceback (most recent call last):
...
ValueError: --set train.steps=0: train.steps must be >= 1, got 0
"""

from __future__ import annotations

import copy
import typing
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from pathlib import Path

import yaml

from .losses import CLASS_WEIGHTINGS
from .conventions import DATASET_NAMES
from .propagation import PRESETS, PropagationParams
from .validation import check_value

SUPERVISIONS = ("full", "scribble", "pseudo")


def _f(default, **rules):
    """A dataclass field with validation ``rules``: ``min``, ``gt`` (strictly greater), ``max``, ``choices``,
    ``length`` (of a list)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=rules)
    return field(default=default, metadata=rules)


@dataclass
class DataConfig:
    dataset: str = _f("acdc", choices=DATASET_NAMES)
    root: str = "../shared/data/ACDC"
    fold: int = _f(1, min=1, max=5)  # ACDC only
    train_split: str = "train"
    val_split: str = "val"
    val_root: str | None = None  # the validation split's dataset folder, when it is not data.root
    # hold N training patients (ACDC) / volumes / images out of the training split as split "holdout", a labelled
    # subset for choosing hyperparameters (val_split: holdout), never the split whose score is reported
    holdout: int | None = _f(None, min=1)
    supervision: str = _f("full", choices=SUPERVISIONS)  # full | scribble (partial cross-entropy) | pseudo
    pseudo_dir: str | None = None  # folder of <id>.png pseudo labels, for supervision: pseudo
    scribble_dir: str | None = None  # scribble PNGs instead of the adapter's own (training split)
    input_size: list[int] = _f([128, 128], length=2, min=8)  # (H, W) the network sees
    limit: int | None = _f(None, min=1)  # first N training samples (quick runs, tests)
    val_limit: int | None = _f(None, min=1)
    # the adapter's own options; nifti: fold (0-based, nnU-Net's), axis, normalise (percentile | zscore | window),
    # window ([lo, hi], CT): scribblesup.datasets.nifti
    options: dict = _f({})
    # propagation defaults of a kind of data for a folder / NIfTI dataset: mri (ACDC's) or street (CamVid's)
    preset: str | None = _f(None, choices=tuple(PRESETS))


@dataclass
class ModelConfig:
    name: str = "unet"
    width: float = _f(0.25, gt=0)
    pretrained: str | None = None
    options: dict = _f({})


@dataclass
class AugmentConfig:
    flip: bool = True
    scale: list[float] | None = _f([0.8, 1.2], length=2, gt=0)
    rotate: float = _f(0.0, min=0)


@dataclass
class GatedCRFConfig:
    """The gated CRF loss (Obukhov et al. 2019) added to the cross-entropy: a regularised-loss method."""

    weight: float = _f(0.0, min=0)  # 0: off
    radius: int = _f(5, min=1)  # neighbourhood, on the downscaled maps
    sigma_xy: float = _f(6.0, gt=0)  # pixels
    sigma_rgb: float = _f(0.1, gt=0)  # intensities in [0, 1]
    downscale: int = _f(2, min=1)


@dataclass
class TrainConfig:
    steps: int = _f(2000, min=1)
    batch_size: int = _f(8, min=1)
    optimizer: str = _f("adamw", choices=("adamw", "sgd"))
    lr: float = _f(1e-3, gt=0)
    momentum: float = _f(0.9, min=0)
    weight_decay: float = _f(1e-4, min=0)
    poly_power: float = _f(0.9, min=0)
    seed: int = _f(0, min=0)
    eval_every: int = _f(500, min=1)
    checkpoint_every: int = _f(100, min=1)
    log_every: int = _f(20, min=1)
    amp: bool = True  # mixed precision, CUDA only
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    init_from: str | None = None  # a checkpoint (.pt of a run) whose model weights start training: fine-tuning
    # per-class loss weights: none | median_frequency | sqrt_median_frequency | inverse_sqrt_frequency |
    # [w0, w1, ...], computed from the labels this run trains on (dense labels, scribbles, or the round's pseudo
    # labels): scribblesup.losses
    class_weights: str | list[float] = _f("none", choices=CLASS_WEIGHTINGS, min=0)
    # segmentation, or edges: the network (e.g. hed) learns the boundaries of the label maps it trains on, with the
    # class-balanced sigmoid cross-entropy on every output map; scored by the boundary F-measure
    task: str = _f("segmentation", choices=("segmentation", "edges"))
    crf_loss: GatedCRFConfig = field(default_factory=GatedCRFConfig)
    # pseudo-label supervision (the pipeline's rounds): the weight of a partial cross-entropy on the scribbles added
    # to the pseudo labels' cross-entropy. Each term is a mean over its own labelled pixels, so the scribbled pixels
    # keep the hold they have in pCE however many pixels the pseudo labels cover (what lets a regularised loss such
    # as crf_loss join dense labels without smoothing thin classes away). 0: off
    scribble_weight: float = _f(0.0, min=0)


def _propagation_section():
    """``propagation``: every field of :class:`PropagationParams`, optional (None = the dataset's default).

    Derived from the dataclass, so the list of options is written once.
    """
    hints = typing.get_type_hints(PropagationParams)
    return make_dataclass("PropagationConfig", [
        (f.name, hints[f.name] | None, field(default=None, metadata=f.metadata)) for f in fields(PropagationParams)
    ])


PropagationConfig = _propagation_section()


@dataclass
class PipelineConfig:
    rounds: int = _f(3, min=0)  # rounds after round 0: R
    init: str = _f("finetune", choices=("finetune", "scratch"))  # rounds 1..R from the previous network or anew
    finetune_steps: int | None = _f(None, min=1)  # steps of rounds 1..R when fine-tuning (default: train.steps)
    finetune_lr: float | None = _f(None, gt=0)  # their peak learning rate (default: train.lr)
    # the gated CRF loss weight of rounds 1..R (default: train.crf_loss.weight, every round): e.g. 0 keeps the loss
    # in round 0, where the superpixel labels are raggedest, and drops it once the network unary joins the labels
    later_crf_loss_weight: float | None = _f(None, min=0)
    refine_pseudo: str | None = _f(None, choices=("densecrf", "mrf"))  # refine pseudo labels after each graph cut
    workers: int = _f(2, min=1)  # processes for superpixels and graph cuts (engine ray without an address: its CPUs)
    engine: str = _f("local", choices=("local", "ray"))  # label inference: a local process pool, or Ray tasks
    ray_address: str | None = None  # engine ray: the cluster to join (e.g. HEAD:6379); null: start a local Ray
    cache_dir: str | None = None  # superpixel / region-graph cache (default: <output.root>/cache)
    # an edge network (HED, same width and input size) trained for this many steps on round 0's pseudo-label
    # boundaries; its edge maps join the pairwise term of rounds 1..R (propagation.edge_weight). null: none
    edge_steps: int | None = _f(None, min=1)
    # false: rounds 1..R infer no new labels and train on round 0's again, the same steps and schedule: the
    # same-steps control that tells what the rounds' better labels add beyond their extra training
    relabel: bool = True
    # true: rounds 1..R take the loss's class-weight prior out of the network before it votes on the labels. A
    # network trained with weights w learns P_c proportional to w_c p_c, so its logits are offset by -log w_c, w the
    # weights of the round that trained it (its class_weights.json), on top of propagation.network_offset
    unweight_network: bool = False


@dataclass
class TestConfig:
    """What ``scribblesup evaluate`` and ``predict`` apply to a trained network; nothing in training or label
    inference reads it (the end of training scores the last checkpoint with it too, beside the plain score), so a
    resumed run, or a variant sharing round 0, may differ in it. A trained run keeps the value it was trained with
    (in its checkpoints); the command line overrides it."""

    # post-hoc logit adjustment, {class name: value} added to the class's logit before the softmax (e.g.
    # {Myo: -1.5}); choose it on held-out training images (experiments/tune_logit_offset.py), never on the split
    # whose score is reported. The command line's --logit-offset replaces it; --no-logit-offset drops it
    logit_offset: dict[str, float] = _f({})


# the keys only evaluate / predict read: a resume may change them, and they leave round 0 shareable
TEST_ONLY = tuple(f"test.{f.name}" for f in fields(TestConfig))


@dataclass
class OutputConfig:
    root: str = "runs"


@dataclass
class Config:
    """A whole experiment: see the module docstring. ``name`` is the run folder's name under ``output.root``."""

    name: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    propagation: PropagationConfig = field(default_factory=PropagationConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    test: TestConfig = field(default_factory=TestConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (YAML- and checkpoint-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config", check: bool = True) -> "Config":
        """Validate a nested dict (e.g. a YAML file's content over the defaults) into a ``Config``.

        ``check=False`` checks each value but not the rules that tie values together (:meth:`check`).
        """
        config = _build(cls, data, "", source)
        if check:
            config.check(source)
        return config

    def check(self, source: str = "config") -> None:
        """Rules that tie several values together."""
        if self.train.task == "edges" and self.data.supervision == "scribble":
            raise ValueError(f"{source}: train.task: edges learns the boundaries of dense label maps; use "
                             "data.supervision: full or pseudo")
        if self.train.task == "edges" and self.train.class_weights != "none":
            raise ValueError(f"{source}: train.task: edges balances edge and non-edge pixels itself; leave "
                             "train.class_weights at none")
        if self.train.task == "edges" and self.train.scribble_weight > 0:
            raise ValueError(f"{source}: train.task: edges learns boundaries of dense label maps; leave "
                             "train.scribble_weight at 0")
        if self.pipeline.edge_steps and not (self.propagation.edge_weight or 0) > 0:
            raise ValueError(f"{source}: pipeline.edge_steps trains an edge network for the pairwise term; give it a "
                             "weight, propagation.edge_weight > 0")
        if self.train.task == "edges" and self.test.logit_offset:
            raise ValueError(f"{source}: train.task: edges maps are not calibrated; leave test.logit_offset empty")
        if self.data.supervision == "pseudo" and not self.data.pseudo_dir:
            raise ValueError(f"{source}: data.supervision: pseudo needs data.pseudo_dir "
                             "(a folder of <id>.png pseudo labels)")

    def run_dir(self) -> Path:
        """The run folder this config writes: ``output.root/name``."""
        return Path(self.output.root) / self.name

    def propagation_params(self) -> PropagationParams:
        """The dataset's measured propagation defaults with this config's ``propagation`` overrides."""
        from .propagation import default_params

        overrides = {k: v for k, v in asdict(self.propagation).items() if v is not None}
        return default_params(self.data.dataset, self.data.preset, **overrides)

    def propagation_source(self) -> str:
        """Where the propagation parameters in force come from (the run logs say it)."""
        from .propagation import params_source

        keys = sorted(k for k, v in asdict(self.propagation).items() if v is not None)
        return params_source(self.data.dataset, self.data.preset) + (
            f", with propagation.{', propagation.'.join(keys)} from the config" if keys else "")


def _build(cls, data, path: str, source: str):
    if not isinstance(data, dict):
        raise ValueError(f"{source}: {path.rstrip('.') or 'a config'} must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ValueError(f"{source}: unknown config key {path + str(unknown[0])!r}; valid here: {', '.join(known)}")
    values = {}
    for name, f in known.items():
        if name not in data:
            continue
        hint = hints[name]
        if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
            values[name] = _build(hint, data[name], f"{path}{name}.", source)
        else:
            try:
                values[name] = check_value(data[name], hint, path + name, dict(f.metadata))
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
    return cls(**values)


# mapping-valued keys: a config or override replaces them whole, and a change is one key (test.logit_offset)
WHOLE_MAPPINGS = ("options", "logit_offset")


def _merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``, section by section (lists and :data:`WHOLE_MAPPINGS` are replaced whole)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict) and key not in WHOLE_MAPPINGS:
            out[key] = _merge(out[key], value)
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
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ValueError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
    return nested


def read_config_file(path, _seen=()) -> dict:
    """A config file's values as a nested dict, its ``base:`` chain resolved (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    if path.resolve() in _seen:
        raise ValueError(f"{path}: base: chain loops back to this file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config is a mapping of sections")
    base = data.pop("base", None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else base
    if not isinstance(bases, list) or not bases or not all(isinstance(b, str) for b in bases):
        raise ValueError(f"{path}: base: must be the path of another config file, or a list of them")
    merged = {}
    for b in bases:  # later files override earlier ones, this file overrides them all
        merged = _merge(merged, read_config_file(path.parent / b, _seen + (path.resolve(),)))
    return _merge(merged, data)


def load_config(path=None, overrides=()) -> Config:
    """Read a YAML config (and its ``base:`` files) over the defaults, apply ``key.sub=value`` overrides, validate.

    ``name`` defaults to the config file's stem (``run`` without a file). Errors name the file or the override.
    """
    data: dict = {}
    source = "defaults"
    if path is not None:
        data = read_config_file(path)
        source = str(path)
        Config.from_dict(data, source, check=False)  # errors name the file before any override is applied
        if data.get("name") is None:
            data["name"] = Path(path).stem
    for text in overrides:
        data = _merge(data, parse_override(text))
        Config.from_dict(data, f"--set {text}", check=False)
    if data.get("name") is None:
        data["name"] = "run"
    return Config.from_dict(data, source)


def config_differences(old: Config, new: Config) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k not in WHOLE_MAPPINGS:
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    a, b = dict(flat(old.to_dict())), dict(flat(new.to_dict()))
    return [k for k in a if a[k] != b.get(k)]

