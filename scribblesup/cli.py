"""The ``scribblesup`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .propagation import PropagationParams, default_params


def _add_propagation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("propagation (defaults measured on the training splits, see README)")
    g.add_argument("--superpixels", dest="superpixel_method", choices=["slic", "felzenszwalb"], default=None)
    g.add_argument("--n-segments", type=int, default=None, help="approximate number of SLIC superpixels")
    g.add_argument("--compactness", type=float, default=None, help="SLIC compactness")
    g.add_argument("--fh-scale", type=float, default=None, help="Felzenszwalb scale")
    g.add_argument("--pairwise-weight", type=float, default=None, help="lambda of the pairwise term (0 disables it)")
    g.add_argument("--delta-color", type=float, default=None)
    g.add_argument("--delta-texture", type=float, default=None)
    g.add_argument("--no-boundary-length", dest="use_boundary_length", action="store_false", default=None,
                   help="do not scale pairwise weights by shared boundary length")


def _params(args, dataset: str | None) -> PropagationParams:
    overrides = {}
    for name in PropagationParams.__dataclass_fields__:
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    return default_params(dataset, **overrides)


def _cmd_propagate(args) -> int:
    from .datasets import DATASETS, open_dataset
    from .io import overlay, read_image, read_label_png, write_image, write_label_png
    from .propagation import propagate_dataset, propagate_scribbles

    params = _params(args, args.dataset)
    if args.root is not None:
        if args.dataset is None:
            raise SystemExit("error: --root needs --dataset (one of: " + ", ".join(DATASETS) + ")")
        if args.out is None:
            raise SystemExit("error: --dataset mode needs --out DIR")
        options = {"fold": args.fold} if args.dataset == "acdc" else {}
        if args.scribbles is not None:
            if args.dataset not in ("camvid", "voc"):
                raise SystemExit("error: --scribbles applies to camvid and voc (ACDC and folder datasets hold their own)")
            options["scribble_dir"] = args.scribbles
        dataset = open_dataset(args.dataset, args.root, split=args.split, **options)
        if args.limit:
            dataset.ids = dataset.ids[: args.limit]
        confusion = propagate_dataset(dataset, args.out, params, workers=args.workers, overwrite=args.overwrite)
        print(f"wrote {len(dataset)} pseudo labels to {args.out}")
        if confusion is not None:
            names = dataset.info.class_names
            print("pseudo-label IoU against ground truth:")
            for name, v in zip(names, confusion.iou):
                print(f"  {name:<12} {v:.4f}")
            print(f"  mIoU         {confusion.miou:.4f}")
            print(f"  pixel acc.   {confusion.pixel_accuracy:.4f}")
        return 0

    if args.image is None or args.scribble is None or args.output is None:
        raise SystemExit("error: give IMAGE SCRIBBLE -o LABELS.png, or --dataset NAME --root DIR --out DIR")
    info = getattr(DATASETS[args.dataset], "info", None) if args.dataset else None  # a folder's classes live in it
    colors = info.palette if info else None
    image = read_image(args.image)
    scribble = read_label_png(args.scribble, colors)
    if args.num_classes:
        num_classes = args.num_classes
    elif info:
        num_classes = info.num_classes
    else:
        labelled = scribble[scribble != 255]
        if labelled.size == 0:
            raise ValueError(f"{args.scribble}: scribble has no labelled pixel (all 255)")
        num_classes = int(labelled.max()) + 1
    try:
        result = propagate_scribbles(image, scribble, num_classes, params)
    except ValueError as exc:
        raise ValueError(f"{args.scribble}: {exc}") from exc
    picture = overlay(image, result.labels, colors, scribble=scribble) if args.overlay else None
    write_label_png(args.output, result.labels, colors)
    if picture is not None:
        write_image(args.overlay, picture)
    counts = np.bincount(result.labels.ravel(), minlength=num_classes)
    print(f"wrote {args.output}: {result.graph.n_regions} superpixels, "
          f"class pixel counts {dict((i, int(c)) for i, c in enumerate(counts) if c)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribblesup", description="Scribble-supervised semantic segmentation.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "propagate",
        help="turn scribbles into dense labels (superpixel graph cut)",
        description="One image: scribblesup propagate IMAGE SCRIBBLE.png -o LABELS.png [--overlay OVERLAY.png]. "
        "A dataset: scribblesup propagate --dataset acdc|camvid --root DIR --out DIR. "
        "Scribble PNGs: 255 = unlabelled, other values = class ids.",
    )
    p.add_argument("image", nargs="?", type=Path, help="image (PNG, JPEG, ... or .npy)")
    p.add_argument("scribble", nargs="?", type=Path, help="scribble PNG (class ids, 255 = unlabelled)")
    p.add_argument("-o", "--output", type=Path, help="output label PNG (palette)")
    p.add_argument("--overlay", type=Path, help="also write the labels blended over the image")
    p.add_argument("--num-classes", type=int, help="number of classes (default: the dataset's, or max scribble id + 1)")
    p.add_argument("--dataset", choices=["acdc", "camvid", "voc", "folder"],
                   help="dataset: class count and palette; with --root, the whole dataset")
    p.add_argument("--root", type=Path, help="dataset folder (ACDC: ../shared/data/ACDC; CamVid: the SegNet CamVid folder)")
    p.add_argument("--split", default="train", help="train or val (default: train); VOC: any ImageSets list")
    p.add_argument("--scribbles", type=Path,
                   help="CamVid: folder of scribble PNGs (default: synthesised on the fly); "
                   "VOC: folder of PASCAL-Scribble XML or PNG files (default: found under --root)")
    p.add_argument("--fold", type=int, default=1, help="ACDC fold 1..5 (default 1)")
    p.add_argument("--out", type=Path, help="output folder for --dataset mode")
    p.add_argument("--workers", type=int, default=1, help="processes for --dataset mode")
    p.add_argument("--limit", type=int, help="only the first N samples of the split (a quick look)")
    p.add_argument("--overwrite", action="store_true", help="recompute outputs that exist (default: resume)")
    _add_propagation_options(p)
    p.set_defaults(func=_cmd_propagate)

    t = sub.add_parser("train", help="train a network (full, scribble/pCE or pseudo-label supervision)",
                       description="Train as a YAML config says; --set key.sub=value overrides it "
                       "(e.g. --set train.steps=100 data.supervision=scribble).")
    t.add_argument("--config", type=Path, help="YAML config (default: the built-in defaults)")
    t.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="config overrides")
    t.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    t.set_defaults(func=_cmd_train)

    u = sub.add_parser("run", help="the ScribbleSup method: graph-cut pseudo labels and training, alternated for rounds",
                       description="Round 0: propagate the scribbles (scribble unary + pairwise graph cut) and train "
                       "on the pseudo labels; rounds 1..R: graph cut with the network unary added, then train again. "
                       "Writes <output.root>/<name>/rounds.csv (pseudo-label quality and validation score per round), "
                       "the pseudo labels of every round, and one training run folder per round.")
    u.add_argument("--config", type=Path, help="YAML config (e.g. experiments/configs/scribblesup_acdc-fold1_cpu.yaml)")
    u.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="config overrides (e.g. pipeline.rounds=1)")
    u.add_argument("--resume", action="store_true", help="continue a killed run where it stopped")
    u.set_defaults(func=_cmd_run)

    e = sub.add_parser("evaluate", help="score a trained run on a split (IoU, mIoU, accuracy; ACDC: Dice, HD95)")
    e.add_argument("--run", type=Path, required=True, help="run folder")
    e.add_argument("--split", help="default: the config's validation split")
    e.add_argument("--checkpoint", choices=["best", "last"], default="best")
    e.add_argument("--limit", type=int, help="first N images only")
    e.add_argument("--refine", choices=["densecrf", "mrf"],
                   help="post-process predictions: fully connected CRF (needs pydensecrf2) or grid MRF")
    e.set_defaults(func=_cmd_evaluate)

    r = sub.add_parser("predict", help="predict label maps for images with a trained run")
    r.add_argument("--run", type=Path, required=True)
    r.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    r.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    r.add_argument("--checkpoint", choices=["best", "last"], default="best")
    r.add_argument("--probabilities", action="store_true", help="also write <name>_prob.npy (K, H, W) float16")
    r.set_defaults(func=_cmd_predict)

    d = sub.add_parser("demo", help="run the bundled demo on a few real images",
                       description="Propagate the scribbles of the bundled real sample (3 ACDC slices with hand-drawn "
                       "scribbles, 3 CamVid images with synthesised ones), train a small UNet briefly on the ACDC "
                       "pseudo labels; write labels, overlays, predictions and a summary.")
    d.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)")
    d.add_argument("--train-steps", type=int, default=150, help="training steps on the pseudo labels (0: skip)")
    d.set_defaults(func=_cmd_demo)
    return parser


def _cmd_train(args) -> int:
    from .config import load_config
    from .train import train

    config = load_config(args.config, args.set or ())
    run_dir = train(config, resume=args.resume)
    print(f"run folder: {run_dir}")
    print((run_dir / f"eval_{config['data']['val_split']}_last.md").read_text())
    return 0


def _cmd_run(args) -> int:
    from .config import load_config
    from .pipeline import run_pipeline

    config = load_config(args.config, args.set or ())
    run_dir = run_pipeline(config, resume=args.resume)
    print(f"run folder: {run_dir}")
    print((run_dir / "rounds.csv").read_text())
    return 0


def _cmd_evaluate(args) -> int:
    import json

    from .inference import evaluate_model, format_report
    from .train import load_run, open_split

    model, config, _ = load_run(args.run, args.checkpoint)
    split = args.split or config["data"]["val_split"]
    ds = open_split(config, split)
    ids = ds.ids[: args.limit] if args.limit else None
    result = evaluate_model(model, ds, config["data"]["input_size"], ids=ids, progress=True, refine=args.refine)
    stem = args.run / f"eval_{split}_{args.checkpoint}{'_' + args.refine if args.refine else ''}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))
    refined = f", refined by {args.refine}" if args.refine else ""
    report = format_report(result, f"{config['name']}: {split}, {args.checkpoint} checkpoint{refined}")
    stem.with_suffix(".md").write_text(report)
    print(report)
    print(f"wrote {stem}.md and .json")
    return 0


def _cmd_predict(args) -> int:
    from .datasets.folder import IMAGE_SUFFIXES
    from tqdm import tqdm

    from .inference import predict_probabilities
    from .io import atomic_path, read_image, write_label_png
    from .train import load_run

    model, config, info = load_run(args.run, args.checkpoint)
    files = []
    for p in args.inputs:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError(f"{', '.join(map(str, args.inputs))}: no images")
    for path in tqdm(files, desc="predict", unit="img"):
        image = read_image(path)
        probs = predict_probabilities(model, image, config["data"]["input_size"])
        write_label_png(args.output / f"{path.stem}.png", probs.argmax(0).astype(np.uint8), info.palette)
        if args.probabilities:
            with atomic_path(args.output / f"{path.stem}_prob.npy") as tmp:
                np.save(tmp, probs.astype(np.float16))
    print(f"wrote {len(files)} predictions to {args.output}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, train_steps=args.train_steps)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``scribblesup`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
