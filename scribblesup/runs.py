"""Run folders: their layout, opening and locking them, checkpoints, and reading finished runs.

The layout of a run folder is spelled out here and nowhere else::

    <output.root>/<name>/
        config.yaml             the resolved config
        train.log | pipeline.log
        scalars.csv             loss and lr every train.log_every steps, validation scores every train.eval_every
        last.pt  best.pt        checkpoints (plain tensors, numbers, strings: loadable with weights_only=True)
        class_weights.json      the loss's class weights, what they were counted on, the counts
        eval_<split>_<checkpoint>[_offset<class><value>][_<refine>].json / .md   (scribblesup evaluate)
        rounds.csv              (scribblesup run) one row per round
        edges/                  (scribblesup run, pipeline.edge_steps) the edge network trained on round 0's labels
        round<k>/               (scribblesup run) a training run folder, plus
            pseudo/<id>.png     the round's pseudo labels
            labels.json         their quality against ground truth, coverage and time

A checkpoint holds what is needed to rebuild its model without the dataset (``model_spec``: network name, class
count, input channels, width, options; ``classes``: names and colours), so a run folder alone predicts.
"""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import yaml

from .config import TEST_ONLY, Config, config_differences
from .inference import format_logit_offset, format_report
from .io import atomic_path, remove_stale_temp_files

SCALAR_FIELDS = ["step", "loss", "lr", "val_score", "val_miou", "val_mean_dice", "seconds"]
ROUND_FIELDS = ["round", "pseudo_miou", "pseudo_pixel_accuracy", "pseudo_coverage", "val_score", "val_miou",
                "val_mean_dice", "label_seconds", "train_seconds"]
# what a --resume may change in a run's config: the schedule's length, the run's bookkeeping, and what only
# evaluate / predict read (test.*)
RESUMABLE_CHANGES = ("train.steps", "pipeline.rounds", "train.eval_every", "train.checkpoint_every",
                     "train.log_every", "pipeline.workers", "train.device", "data.root", "output.root",
                     "pipeline.cache_dir", *TEST_ONLY)


def offset_tag(values: dict | None, prefix: str = "offset") -> str:
    """How file names carry per-class values (a logit offset; ``prefix="bias"``: a class bias):
    ``_<prefix><class><value>`` per non-zero class, sorted by name.

    Examples
    --------
    >>> offset_tag({"Myo": -1.5, "RV": 0.0, "Traffic light": 1})
    '_offsetMyo-1.5_offsetTraffic-light+1'
    >>> offset_tag({"Myo": 0.1}, prefix="bias")
    '_biasMyo+0.1'
    """
    return "".join(f"_{prefix}{re.sub(r'[^A-Za-z0-9]+', '-', str(name))}{value:+g}"
                   for name, value in sorted((values or {}).items()) if value)


class RunDir:
    """Paths inside one run folder (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __truediv__(self, other) -> Path:
        return self.path / other

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    def checkpoint(self, which: str = "last") -> Path:
        if which not in ("last", "best"):
            raise ValueError(f"checkpoint must be last or best, got {which!r}")
        return self.path / f"{which}.pt"

    @property
    def class_weights(self) -> Path:
        return self.path / "class_weights.json"

    @property
    def scalars(self) -> Path:
        return self.path / "scalars.csv"

    @property
    def rounds_csv(self) -> Path:
        return self.path / "rounds.csv"

    def log(self, name: str = "train") -> Path:
        return self.path / f"{name}.log"

    def evaluation(self, split: str, checkpoint: str = "last", refine: str | None = None, suffix: str = ".json",
                   logit_offset: dict | None = None):
        """``eval_<split>_<checkpoint>[_offset<class><value>...][_<refine>]<suffix>``: an evaluation result of this
        run (``logit_offset``: ``{class name: value}``, e.g. ``_offsetMyo-1.5``)."""
        offset = offset_tag(logit_offset)
        return self.path / f"eval_{split}_{checkpoint}{offset}{'_' + refine if refine else ''}{suffix}"

    def write_evaluation(self, result: dict, name: str, split: str, checkpoint: str = "last",
                         refine: str | None = None, logit_offset: dict | None = None) -> Path:
        """Write an evaluation's result (``.json``) and its Markdown report (``.md``, titled by the run's ``name``,
        the split, the checkpoint, the offset and the refinement) under the names of :meth:`evaluation`, each
        atomically; returns the report's path."""
        write_json(self.evaluation(split, checkpoint, refine, logit_offset=logit_offset), result)
        calibrated = f", logit offset {format_logit_offset(logit_offset)}" if logit_offset else ""
        refined = f", refined by {refine}" if refine else ""
        md = self.evaluation(split, checkpoint, refine, suffix=".md", logit_offset=logit_offset)
        with atomic_path(md) as tmp:
            tmp.write_text(format_report(result, f"{name}: {split}, {checkpoint} checkpoint{calibrated}{refined}"))
        return md

    def round(self, k: int) -> "RunDir":
        return RunDir(self.path / f"round{k}")

    @property
    def pseudo(self) -> Path:
        return self.path / "pseudo"

    @property
    def edges(self) -> "RunDir":
        """(scribblesup run with pipeline.edge_steps) the edge network's training run folder."""
        return RunDir(self.path / "edges")

    @property
    def labels_json(self) -> Path:
        return self.path / "labels.json"


def file_logger(path: Path) -> logging.Logger:
    """A logger that appends timestamped lines to ``path`` (one per file, not propagated)."""
    log = logging.getLogger(f"scribblesup.log.{Path(path).resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    return log


def close_logger(path: Path) -> None:
    log = logging.getLogger(f"scribblesup.log.{Path(path).resolve()}")
    for h in list(log.handlers):
        h.close()
        log.removeHandler(h)


@contextmanager
def run_lock(run_dir: Path):
    """Hold an OS lock on ``run_dir`` (``.lock``): a second process on the same run folder fails at once.

    The lock is released on exit and by the OS when the process dies (kill included). A folder this call made and
    left holding nothing but the lock (a run refused before it wrote anything) is removed again.
    """
    run_dir = Path(run_dir)
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileExistsError(f"{run_dir}: another process is using this folder (locked); wait for it "
                                  "or choose another name (--set name=...)") from None
        locked = True
        yield
    finally:
        if made and locked and [p.name for p in run_dir.iterdir()] == [".lock"]:
            (run_dir / ".lock").unlink(missing_ok=True)  # still holding the lock: no other process is inside
            try:
                run_dir.rmdir()
            except OSError:  # another process made a file there meanwhile: its folder now
                pass
        os.close(fd)


def open_run_dir(run: RunDir, config: Config, resume: bool, exists_if: Path, log_name: str) -> logging.Logger:
    """Create (or, with ``resume``, reopen) a run folder: write its ``config.yaml``, return its file logger.

    A new run refuses a folder where ``exists_if`` is. A resumed run refuses a config that differs from the saved
    one in anything but :data:`RESUMABLE_CHANGES`, naming the keys, before writing anything.
    """
    if exists_if.is_file() and not resume:
        raise FileExistsError(f"{run.path}: a run is already there; add --resume to continue it, "
                              "or choose another name (--set name=...)")
    if resume and run.config.is_file():
        from .config import load_config

        saved = load_config(run.config)
        changed = [k for k in config_differences(saved, config) if k not in RESUMABLE_CHANGES and k != "name"]
        if changed:
            raise ValueError(f"{run.config}: --resume with a different config ({', '.join(changed)}); a resumed run "
                             f"may change only {', '.join(RESUMABLE_CHANGES)}. Start a new run (--set name=...) "
                             "to change the others")
    run.path.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temp_files(run.path)
    with atomic_path(run.config) as tmp:
        tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    log = file_logger(run.log(log_name))
    if removed:
        log.info(f"removed {removed} temporary file(s) a killed run had left")
    return log


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint atomically. ``state`` holds only tensors, numbers, strings, lists and dicts."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path, device=None) -> dict:
    """Read a checkpoint safely (``weights_only=True``: no code in the file runs); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=device or "cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file; all mean "not a checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a readable scribblesup checkpoint ({first})") from None


def model_spec(config: Config, num_classes: int, in_channels: int) -> dict:
    """What rebuilds a run's network: stored in its checkpoints."""
    m = config.model
    return {"name": m.name, "num_classes": int(num_classes), "in_channels": int(in_channels), "width": m.width,
            "options": dict(m.options or {})}


def class_info(info) -> dict:
    """A dataset's class names and colours, as plain lists (stored in checkpoints)."""
    return {"dataset": info.name, "names": list(info.class_names), "palette": np.asarray(info.palette).tolist()}


def load_run(run_dir, checkpoint: str = "best", device=None):
    """The model, config and class info of a trained run folder, from its checkpoint alone.

    Returns
    -------
    (torch.nn.Module in eval mode, Config, DatasetInfo)
    """
    from .datasets import DatasetInfo
    from .inference import pick_device
    from .models import create_model

    run = RunDir(run_dir)
    path = run.checkpoint(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint (is {run.path} a run folder?)")
    device = device or pick_device("auto")
    state = load_checkpoint(path, device)
    try:
        spec, classes = state["model_spec"], state["classes"]
        config = Config.from_dict(state["config"], str(path))
        model = create_model(spec["name"], spec["num_classes"], spec["in_channels"], width=spec["width"],
                             **spec["options"])
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a checkpoint of this scribblesup version ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); retrain the run") from None
    info = DatasetInfo(classes["dataset"], tuple(classes["names"]), np.array(classes["palette"], np.uint8))
    return model.to(device).eval(), config, info


def read_csv(path) -> list[dict]:
    """Rows of a run's CSV file (``scalars.csv``, ``rounds.csv``); [] when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def rewrite_scalars(run: RunDir, keep_until: int) -> None:
    """Drop ``scalars.csv`` rows after ``keep_until`` (steps a killed run logged past its last checkpoint)."""
    if not run.scalars.is_file():
        return
    rows = [r for r in read_csv(run.scalars) if int(r["step"]) <= keep_until]
    with atomic_path(run.scalars) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, SCALAR_FIELDS)
        w.writeheader()
        w.writerows(rows)


def train_seconds(run: RunDir) -> float:
    """Training wall time of a run from its ``scalars.csv`` (resumed parts add up)."""
    total, last = 0.0, 0.0
    for row in read_csv(run.scalars):
        s = float(row["seconds"])
        if s < last:  # the run was resumed: its clock restarted
            total += last
        last = s
    return total + last


def link_tree(src, dst) -> None:
    """Hard-link copy of the folder ``src`` into ``dst`` unless ``dst`` exists (run folders write files by atomic
    rename, so a linked file is never written through)."""
    if not Path(dst).exists():
        shutil.copytree(src, dst, copy_function=os.link)


def write_rounds_csv(run: RunDir, rounds: int, val_split: str = "val") -> list[dict]:
    """Collect each round's ``labels.json`` and final evaluation into ``rounds.csv``; return the rows."""
    rows = []
    for k in range(rounds + 1):
        r = run.round(k)
        if not r.labels_json.is_file():
            break
        lab = json.loads(r.labels_json.read_text())
        row = {"round": k, "pseudo_coverage": f"{lab['coverage']:.6f}", "label_seconds": f"{lab['seconds']:.1f}"}
        if lab["pseudo"]:
            row.update(pseudo_miou=f"{lab['pseudo']['miou']:.6f}",
                       pseudo_pixel_accuracy=f"{lab['pseudo']['pixel_accuracy']:.6f}")
        ev_file = r.evaluation(val_split, "last")
        if ev_file.is_file():
            ev = json.loads(ev_file.read_text())
            row.update(val_score=f"{ev['score']:.6f}", val_miou=f"{ev['confusion']['miou']:.6f}",
                       val_mean_dice=f"{ev['mean_dice']:.6f}" if "mean_dice" in ev else "",
                       train_seconds=f"{ev.get('train_seconds', float('nan')):.1f}")
        rows.append(row)
    with atomic_path(run.rounds_csv) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, ROUND_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return rows


def pseudo_label_rounds(run: RunDir) -> list[tuple[int, Path]]:
    """``(k, round<k>/pseudo)`` for every round of a pipeline run that has pseudo labels, in order."""
    out, k = [], 0
    while run.round(k).pseudo.is_dir():
        out.append((k, run.round(k).pseudo))
        k += 1
    return out


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))
