"""What every experiment script shares: data tags and config paths, finished-or-resumed runs, cached evaluations,
"every N-th image" subsets, and writing a result table (Markdown + CSV) with its provenance line.

Scripts run from the repository root (``python experiments/<script>.py ...``); this folder is on ``sys.path`` then,
so they ``import common``.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scribblesup.config import Config, load_config
from scribblesup.cli import class_value
from scribblesup.datasets import DATASETS, open_split
from scribblesup.inference import evaluate_run
from scribblesup.io import atomic_path
from scribblesup.pipeline import run_pipeline, share_round_zero
from scribblesup.runs import RunDir, load_run, read_csv, write_json
from scribblesup.train import train

DATA_TAG = {"acdc": "acdc-fold1", "camvid": "camvid"}
CONFIGS = Path("experiments/configs")
RESULTS = Path(os.environ.get("SCRIBBLESUP_RESULTS", "experiments/results"))  # tests write elsewhere
FIGURES = RESULTS / "figures"
STARTED = time.time()


def tag(dataset: str, schedule: str = "cpu") -> str:
    """``acdc-fold1_cpu``: the suffix of a dataset's configs and result files."""
    return f"{DATA_TAG[dataset]}_{schedule}"


def config_path(recipe: str, dataset: str, schedule: str = "cpu") -> Path:
    """``experiments/configs/<recipe>_<data>_<schedule>.yaml`` (recipe: ``scribblesup``, ``unet_full``, ...); a recipe
    with no such file ends the script with one line naming it and the recipes there are (exit 2)."""
    path = CONFIGS / f"{recipe}_{tag(dataset, schedule)}.yaml"
    if not path.is_file():
        there = sorted(p.name[: -len(f"_{tag(dataset, schedule)}.yaml")]
                       for p in CONFIGS.glob(f"*_{tag(dataset, schedule)}.yaml"))
        usage_error(f"{path}: no such config; recipes for {tag(dataset, schedule)}: {', '.join(there)}")
    return path


def usage_error(message: str):
    """End the script on bad input: one line on stderr, exit 2 (before anything is trained or written)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def checked_config(path, overrides=(), what: str = "") -> Config:
    """``load_config(path, overrides)``; a bad override ends the script in one line (``what`` first), exit 2."""
    try:
        return load_config(path, overrides)
    except ValueError as exc:
        usage_error(f"{what}{exc}")


def add_dataset_args(ap, schedule: bool = True) -> None:
    ap.add_argument("--dataset", choices=list(DATA_TAG), required=True)
    if schedule:
        ap.add_argument("--schedule", default="cpu", help="cpu or gpu: which configs")


def add_class_args(ap, what: str) -> None:
    """``--class`` (the class whose ``what`` is tuned) and ``--fixed CLASS=VALUE ...`` (other classes' values, chosen
    before and held in place: classes are tuned one at a time, coordinate-wise)."""
    ap.add_argument("--class", dest="name", required=True, help=f"the class whose {what} is tuned (e.g. Myo)")
    ap.add_argument("--fixed", nargs="+", type=class_value, default=[], metavar="CLASS=VALUE",
                    help=f"other classes' {what}, chosen before and held in place")


def held_values(ap, args, what: str, tried) -> dict:
    """``--fixed`` as ``{class: value}``, once ``--class``, ``--fixed`` and the values ``tried`` for the class are
    checked against the dataset's classes; bad input ends in one line and exit 2 (``ap.error``) before any work."""
    names = DATASETS[args.dataset].info.class_names
    fixed = dict(args.fixed)
    for name in (args.name, *fixed):
        if name not in names:
            ap.error(f"{what} for {name}: no such class (classes: {', '.join(names)})")
    if args.name in fixed:
        ap.error(f"--fixed {args.name}={fixed[args.name]:g}: that is the class being tuned (--class {args.name})")
    for value in tried:
        if not np.isfinite(value):
            ap.error(f"{what} for {args.name}: {value:g} is not a finite number")
    then = getattr(args, "then", [])  # more classes tuned in the same call, after --class
    for name in then:
        if name not in names or name == args.name or name in fixed or then.count(name) > 1:
            ap.error(f"--then {name}: " + (f"no such class (classes: {', '.join(names)})" if name not in names
                                           else "already tuned or held in this call"))
    return fixed


def trained(config: Config) -> Path:
    """The run folder of a training config, trained (or resumed) unless it is finished."""
    run = RunDir(config.run_dir())
    if not run.evaluation(config.data.val_split, "last").is_file():
        train(config, resume=True)
    return run.path


def piped(config: Config, share_from=()) -> Path:
    """The run folder of a pipeline config, run or resumed (finished steps are skipped). A new run first takes its
    round 0 from the first run folder of ``share_from`` whose config differs only in what rounds >= 1 use."""
    for source in share_from:
        if share_round_zero(source, config):
            print(f"{config.name}: round 0 shared with {source}", flush=True)
            break
    return run_pipeline(config, resume=True)


def seeded(path: Path, seed: int, overrides=(), suffix: str = "") -> Config:
    """The config at ``path`` with ``train.seed`` = ``seed`` and the run named ``<stem><suffix>`` (seed 0, the
    committed configs' seed) or ``<stem><suffix>_seed<seed>``."""
    name = Path(path).stem + suffix + ("" if seed == 0 else f"_seed{seed}")
    return load_config(path, [*overrides, f"train.seed={seed}", f"name={name}"])


def read_records(path: Path, text=(), integers=()) -> list[dict]:
    """The rows of a per-run results CSV (run_main_table, run_class_weights) with their types back: columns in
    ``text`` stay strings, those in ``integers`` become ints, the rest floats; an empty cell is None. A missing file
    has no rows."""
    return [{k: v if k in text else (int(float(v)) if k in integers else float(v)) if v else None
             for k, v in r.items()}
            for r in read_csv(path)]


def mean_std(values) -> str:
    """``0.412 +- 0.011`` (sample standard deviation; one value: no spread)."""
    values = np.asarray([v for v in values if v is not None], np.float64)
    if len(values) == 0:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{values.mean():.4f} +- {values.std(ddof=1):.4f}"


def class_scores(ev: dict) -> dict:
    """An evaluation's score per class: Dice per structure where the score is a mean Dice (ACDC), else the confusion's
    IoU per class (None: a class absent from both prediction and ground truth)."""
    return dict(ev.get("dice") or ev["confusion"]["per_class_iou"])


def per_class(values: dict, digits: int = 3) -> str:
    """``RV 0.346 / Myo 0.808 / LV 0.884`` from ``{class: score}`` (None: ``-``)."""
    return " / ".join(f"{name} {v:.{digits}f}" if v is not None else f"{name} -" for name, v in values.items())


def parse_per_class(text: str | None) -> dict | None:
    """The inverse of :func:`per_class` (None or empty: None)."""
    if not text:
        return None
    pairs = (item.rsplit(" ", 1) for item in text.split(" / "))
    return {name: None if v == "-" else float(v) for name, v in pairs}


def evaluation(run_dir, refine: str | None = None, checkpoint: str = "last", split: str | None = None,
               logit_offset: dict | None = None) -> dict:
    """A run's evaluation (optionally calibrated by a logit offset, ``{class: value}``, and refined), computed once
    and cached in the run folder."""
    run = RunDir(run_dir)
    config = load_config(run.config)
    split = split or config.data.val_split
    path = run.evaluation(split, checkpoint, refine, logit_offset=logit_offset)
    if not path.is_file():
        model, config, _ = load_run(run.path, checkpoint)
        ds = open_split(config.data, split)
        t0 = time.perf_counter()
        result = evaluate_run(model, config, ds, progress=True, refine=refine, logit_offset=logit_offset)
        result["seconds"] = time.perf_counter() - t0
        write_json(path, result)
    return json.loads(path.read_text())


def every_nth(dataset, n: int, count: int | None = None):
    """A copy of ``dataset`` keeping every ``n``-th sample (then the first ``count``): spread-out subsets."""
    return dataset.subset(dataset.ids[:: max(1, n)][:count])


def spread(dataset, count: int):
    """About ``count`` samples spread evenly over ``dataset``."""
    return every_nth(dataset, len(dataset.ids) // max(count, 1), count)


def command() -> str:
    """The command line that ran this script, as a user would type it."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def provenance(extra: str = "") -> str:
    """One line: machine, threads, device, commit, the command and its wall time so far."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return (f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, {device}; commit {commit or '?'}. "
            f"Command: `{command()}` ({(time.time() - STARTED) / 60:.1f} min in the call that wrote this table"
            f"{'; ' + extra if extra else ''}).")


def fmt(value, spec: str = ".4f") -> str:
    """A table cell: ``-`` for None and NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return format(value, spec) if isinstance(value, (int, float, np.floating)) else str(value)


def write_table(name: str, title: str, rows: list[dict], columns: list[tuple], notes: list[str] = (),
                csv_fields: list[str] | None = None, provenance_extra: str = "") -> Path:
    """Write ``experiments/results/<name>.md`` and ``.csv`` and print the Markdown.

    Parameters
    ----------
    columns : list of (header, key, format spec)
        The Markdown table's columns (format specs as :func:`fmt` takes them).
    notes : list of str
        Paragraphs between the title and the table.
    csv_fields : list of str, optional
        The CSV's columns (default: every key of the rows).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    fields = csv_fields or list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(RESULTS / f"{name}.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [f"# {title}", ""]
    for n in notes:
        lines += [n, ""]
    lines += ["| " + " | ".join(c[0] for c in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(key), spec) for _, key, spec in columns) + " |")
    lines += ["", provenance(provenance_extra)]
    text = "\n".join(lines) + "\n"
    with atomic_path(RESULTS / f"{name}.md") as tmp:
        tmp.write_text(text)
    print(text)
    return RESULTS / f"{name}.md"


__all__ = ["DATA_TAG", "CONFIGS", "RESULTS", "FIGURES", "tag", "config_path", "add_dataset_args", "trained", "piped",
           "evaluation", "seeded", "mean_std", "every_nth", "spread", "command", "provenance", "fmt", "write_table", "load_config", "checked_config", "usage_error"]
