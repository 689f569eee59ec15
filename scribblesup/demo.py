"""The bundled demo: scribble propagation on a few real images shipped with the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .conventions import UNLABELLED
from .datasets import open_dataset
from .io import overlay, read_label_png, write_image, write_label_png
from .labelling import label_dataset
from .propagation import default_params

DEMO_DATA = Path(__file__).parent / "demo_data"


def run_demo(out: Path, params: dict | None = None, train_steps: int = 150) -> dict:
    """Propagate the demo sample's scribbles, train briefly on them; write labels, overlays, ``summary.md``.

    Parameters
    ----------
    out : path-like
        Output folder.
    params : dict, optional
        Per-dataset ``PropagationParams`` keyword arguments (default: the measured defaults).
    train_steps : int
        Steps of training a small UNet on the ACDC pseudo labels (0 skips training).

    Returns
    -------
    dict
        mIoU of the pseudo labels per demo dataset, and of the trained network (``acdc_network``).
    """
    out = Path(out)
    scores, lines = {}, ["# scribblesup demo: scribble propagation on bundled real images", ""]
    for name in ("acdc", "camvid"):
        ds = open_dataset("folder", DEMO_DATA / name)
        kwargs = (params or {}).get(name, {})
        result = label_dataset(ds, out / name / "pseudo_labels", default_params(name, **kwargs), progress=False,
                               overwrite=True)
        for sample in ds:
            labels = read_label_png(out / name / "pseudo_labels" / f"{sample.id}.png")
            picture = np.concatenate(
                [
                    overlay(sample.image, np.full_like(sample.scribble, UNLABELLED), ds.info.palette,
                            scribble=sample.scribble),
                    overlay(sample.image, labels, ds.info.palette),
                    overlay(sample.image, sample.label, ds.info.palette),
                ],
                axis=1,
            )
            write_image(out / name / "overlays" / f"{sample.id}.png", picture)
        scores[name] = result.confusion.miou
        lines.append(f"- {name}: {len(ds)} images, pseudo-label mIoU {scores[name]:.3f} "
                     f"(overlays: scribbles | pseudo labels | ground truth in {out / name / 'overlays'})")
        print(lines[-1])
    if train_steps:
        scores["acdc_network"] = _train_on_pseudo_labels(out, train_steps, lines)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'summary.md'}")
    return scores


def _train_on_pseudo_labels(out: Path, steps: int, lines: list) -> float:
    """Train a small UNet on the ACDC demo slices' pseudo labels, predict them, score against ground truth."""
    from .config import load_config
    from .inference import evaluate_model, predict_probabilities
    from .runs import RunDir, load_run
    from .train import train

    config = load_config(None, [
        # three images: trained and scored on the same ones (a demo of the workflow, not a measurement)
        "name=acdc_unet_pseudo", f"output.root={out / 'runs'}", "data.dataset=folder", f"data.root={DEMO_DATA / 'acdc'}",
        "data.train_split=all", "data.val_split=all",
        "data.supervision=pseudo", f"data.pseudo_dir={out / 'acdc' / 'pseudo_labels'}", "data.input_size=[128,128]",
        "model.width=0.125", f"train.steps={steps}", "train.batch_size=4", f"train.eval_every={steps}",
        f"train.checkpoint_every={steps}", "train.log_every=10", "train.lr=0.003", "augment.rotate=15",
    ])
    run = RunDir(config.run_dir())
    train(config, resume=run.last.is_file())
    import torch

    model, config, info = load_run(run.path, "last", device=torch.device("cpu"))
    ds = open_dataset("folder", DEMO_DATA / "acdc")
    for sample in ds:
        pred = predict_probabilities(model, sample.image, config.data.input_size).argmax(0).astype(np.uint8)
        write_label_png(out / "acdc" / "predictions" / f"{sample.id}.png", pred, ds.info.palette)
    miou = evaluate_model(model, ds, config.data.input_size)["score"]
    lines.append(f"- acdc network: UNet (width 0.125) trained {steps} steps on the 3 pseudo labels; its predictions on "
                 f"those slices score mIoU {miou:.3f} against ground truth (training images: a smoke test of the "
                 f"pipeline, not a result; predictions in {out / 'acdc' / 'predictions'})")
    print(lines[-1])
    return miou
