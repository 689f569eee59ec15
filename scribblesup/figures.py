"""Figures of a ScribbleSup run: per-round curves and a qualitative grid (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .conventions import UNLABELLED, as_float_image
from .io import atomic_path, full_palette, read_label_png
from .runs import RunDir, pseudo_label_rounds, read_csv


def pyplot():
    """matplotlib's pyplot on the Agg backend, or an ImportError that says how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('figures need matplotlib: pip install matplotlib (or pip install "scribblesup[experiments]")') from exc
    return plt


def read_rounds(run_dir) -> list[dict]:
    """Rows of a pipeline run's ``rounds.csv`` (numbers as floats, missing as NaN)."""
    run = RunDir(run_dir)
    if not run.rounds_csv.is_file():
        raise FileNotFoundError(f"{run.rounds_csv}: no rounds.csv (is {run_dir} a `scribblesup run` folder?)")
    return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
            for row in read_csv(run.rounds_csv)]


def plot_rounds(runs: dict, out, score_name: str, references: dict | None = None, title: str = "") -> Path:
    """Pseudo-label mIoU (training set) and validation score per round, one line per run.

    Parameters
    ----------
    runs : dict
        ``{label: run folder}`` of pipeline runs.
    out : path-like
        PNG to write.
    score_name : str
        Name of the validation score (y label of the right panel).
    references : dict, optional
        ``{label: score}`` drawn as horizontal lines on the validation panel (e.g. full supervision, pCE).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, run_dir in runs.items():
        rows = read_rounds(run_dir)
        r = [row["round"] for row in rows]
        axes[0].plot(r, [row["pseudo_miou"] for row in rows], "o-", label=label)
        axes[1].plot(r, [row["val_score"] for row in rows], "o-", label=label)
    for i, (label, value) in enumerate((references or {}).items()):
        axes[1].axhline(value, color=f"C{i + len(runs)}", linestyle="--", label=label)
    axes[0].set(xlabel="round", ylabel="pseudo-label mIoU (training set)", title="label inference")
    axes[1].set(xlabel="round", ylabel=f"validation {score_name}", title="network")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out)


def colorize(labels: np.ndarray, palette) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 colours; 255 is white."""
    colors = full_palette(palette).copy()
    colors[UNLABELLED] = 255
    return colors[np.asarray(labels, dtype=np.uint8)]


def qualitative_grid(rows: list[dict], out, palette, columns: list[str] | None = None) -> Path:
    """A grid of images, one row per sample; each row is a dict of column title -> panel.

    Panels: ``image`` (H, W[, C] float), ``superpixels`` (region map, drawn as boundaries over the image),
    anything else a label map (class ids; 255 drawn white).
    """
    from skimage.segmentation import mark_boundaries

    plt = pyplot()
    columns = columns or list(rows[0])
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.9 * len(columns), 1.9 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        image = as_float_image(row["image"])
        rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
        for j, col in enumerate(columns):
            ax = axes[i, j]
            panel = row.get(col)
            if panel is None:
                ax.set_axis_off()
                continue
            if col == "image":
                shown = rgb
            elif col == "superpixels":
                shown = mark_boundaries(rgb, panel, color=(1, 1, 0))
            elif col == "scribbles":
                shown = rgb.copy()
                marked = panel != UNLABELLED
                shown[marked] = colorize(panel, palette)[marked] / 255.0
            else:
                shown = colorize(panel, palette)
            ax.imshow(shown, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out)


def pseudo_labels_of(run_dir, sample_id: str) -> dict:
    """``{"pseudo r0": labels, ...}`` for every round of a pipeline run that labelled ``sample_id``."""
    out = {}
    for k, folder in pseudo_label_rounds(RunDir(run_dir)):
        path = folder / f"{sample_id}.png"
        if path.is_file():
            out[f"pseudo r{k}"] = read_label_png(path)
    return out


def save_figure(fig, out) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
