"""The ``scribblesup`` command."""

from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import fields
from pathlib import Path

import numpy as np

from .conventions import DATASET_NAMES, UNLABELLED
from .propagation import PRESETS, PropagationParams, default_params


def add_propagation_options(p: argparse.ArgumentParser) -> None:
    """One option per field of :class:`PropagationParams` (default None: the dataset's measured value)."""
    g = p.add_argument_group("propagation (default: the dataset's measured values, see docs/method.md)")
    hints = typing.get_type_hints(PropagationParams)
    for f in fields(PropagationParams):
        flag = f.metadata.get("cli", "--" + f.name.replace("_", "-"))
        hint = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        kind = hint[0]
        helptext = f.metadata.get("help", "")
        if kind is bool:
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif typing.get_origin(kind) is list:
            g.add_argument(flag, dest=f.name, type=typing.get_args(kind)[0], nargs="+", default=None, help=helptext)
        else:
            g.add_argument(flag, dest=f.name, type=kind, default=None, choices=f.metadata.get("choices"),
                           help=helptext)


def propagation_params(args, dataset: str | None) -> PropagationParams:
    """The dataset's (or ``--preset``'s) measured parameters with the options given on the command line."""
    overrides = {f.name: getattr(args, f.name) for f in fields(PropagationParams) if getattr(args, f.name, None) is not None}
    try:
        return default_params(dataset, getattr(args, "preset", None), **overrides)
    except ValueError as exc:  # name the option as the user typed it
        text = str(exc)
        for f in fields(PropagationParams):
            if text.startswith(f.name + " "):
                text = f.metadata.get("cli", "--" + f.name.replace("_", "-")) + text[len(f.name):]
        raise ValueError(text) from None


def _cmd_propagate(args) -> int:
    from .datasets import DATASETS, open_dataset
    from .io import check_outputs, overlay, read_image, read_label_png, write_image, write_label_png
    from .labelling import label_dataset
    from .propagation import propagate_scribbles, validate_image
    from .runs import run_lock

    params = propagation_params(args, args.dataset)
    if args.root is not None:
        if args.dataset is None:
            raise ValueError("--root needs --dataset (one of: " + ", ".join(DATASETS) + ")")
        if args.out is None:
            raise ValueError("--dataset mode needs --out DIR")
        dataset = open_dataset(args.dataset, args.root, split=args.split, fold=args.fold, scribble_dir=args.scribbles,
                               limit=args.limit)
        check_outputs([args.out], [args.root] + ([args.scribbles] if args.scribbles else []))
        if args.engine == "ray":
            from .ray_engine import ray_module

            ray_module()  # not installed: say so before the output folder is made
        record = {"dataset": args.dataset, "root": str(Path(args.root).resolve()), "split": args.split,
                  "fold": (args.fold or 1) if args.dataset == "acdc" else None,
                  "scribbles": str(Path(args.scribbles).resolve()) if args.scribbles else None,
                  "params": params.to_dict()}
        from .propagation import params_source

        print(f"propagation: {params_source(args.dataset, args.preset)}", flush=True)
        with run_lock(args.out):
            result = label_dataset(dataset, args.out, params, workers=args.workers, overwrite=args.overwrite,
                                   record=record, engine=args.engine, address=args.ray_address)
        print(f"wrote {len(dataset)} pseudo labels to {args.out}")
        if result.confusion is not None:
            print("pseudo-label IoU against ground truth:")
            for name, v in zip(dataset.info.class_names, result.confusion.iou):
                print(f"  {name:<12} {v:.4f}")
            print(f"  mIoU         {result.confusion.miou:.4f}")
            print(f"  pixel acc.   {result.confusion.pixel_accuracy:.4f}")
        return 0

    if args.image is None or args.scribble is None or args.output is None:
        raise ValueError("give IMAGE SCRIBBLE -o LABELS.png, or --dataset NAME --root DIR --out DIR")
    check_outputs([args.output] + ([args.overlay] if args.overlay else []), [args.image, args.scribble])
    info = getattr(DATASETS[args.dataset], "info", None) if args.dataset else None  # a folder's classes live in it
    colors = info.palette if info else None
    image = read_image(args.image)
    try:
        validate_image(image)
    except ValueError as exc:
        raise ValueError(f"{args.image}: {exc}") from None
    scribble = read_label_png(args.scribble, colors)
    if args.num_classes:
        num_classes = args.num_classes
    elif info:
        num_classes = info.num_classes
    else:
        labelled = scribble[scribble != UNLABELLED]
        if labelled.size == 0:
            raise ValueError(f"{args.scribble}: scribble has no labelled pixel (all 255)")
        num_classes = int(labelled.max()) + 1
    try:
        result = propagate_scribbles(image, scribble, num_classes, params)
    except ValueError as exc:
        raise ValueError(f"{args.scribble}: {exc}") from None
    picture = overlay(image, result.labels, colors, scribble=scribble) if args.overlay else None
    write_label_png(args.output, result.labels, colors)
    if picture is not None:
        write_image(args.overlay, picture)
    counts = np.bincount(result.labels.ravel(), minlength=num_classes)
    print(f"wrote {args.output}: {result.graph.n_regions} superpixels, "
          f"class pixel counts {dict((i, int(c)) for i, c in enumerate(counts) if c)}")
    return 0


def class_value(text: str) -> tuple[str, float]:
    """``CLASS=VALUE`` (e.g. ``Myo=-1.5``) -> ``("Myo", -1.5)``."""
    name, sep, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not name or number is None or not np.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected CLASS=VALUE with a finite number (e.g. Myo=-1.5), got {text!r}")
    return name, number


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


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
    p.add_argument("--dataset", choices=DATASET_NAMES,
                   help="dataset: class count and palette; with --root, the whole dataset")
    p.add_argument("--root", type=Path, help="dataset folder (ACDC: ../shared/data/ACDC; CamVid: the SegNet CamVid folder)")
    p.add_argument("--split", default="train", help="train or val (default: train); VOC: any ImageSets list")
    p.add_argument("--scribbles", type=Path,
                   help="CamVid: folder of scribble PNGs (default: synthesised on the fly); "
                   "VOC: folder of PASCAL-Scribble XML or PNG files (default: found under --root)")
    p.add_argument("--fold", type=int, default=None, help="ACDC fold 1..5 (default 1)")
    p.add_argument("--out", type=Path, help="output folder for --dataset mode")
    p.add_argument("--workers", type=_positive, default=1, help="processes for --dataset mode")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="--dataset mode: a local process pool, or tasks on Ray (pip install 'scribblesup[distributed]')")
    p.add_argument("--ray-address", help="--engine ray: the cluster to join (default: start a local Ray)")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="propagation defaults of a kind of data for a folder / NIfTI dataset (mri: ACDC's measured "
                   "ones, street: CamVid's)")
    p.add_argument("--limit", type=_positive, help="only the first N samples of the split (a quick look)")
    p.add_argument("--overwrite", action="store_true", help="recompute outputs that exist (default: resume)")
    add_propagation_options(p)
    p.set_defaults(func=_cmd_propagate)

    a = sub.add_parser("annotate", help="draw scribbles in the browser, see the dense labels as you draw",
                       description="A local web app: the dataset's images, a class palette, brush, undo/redo, zoom; "
                       "after each stroke the graph cut's dense labels (and, with --run, the network's unary). "
                       "Every stroke is saved at once as the image's scribble PNG (a folder dataset's scribbles/, or "
                       "--out). Needs the annotate extra: pip install 'scribblesup[annotate]'.")
    a.add_argument("root", type=Path, help="the dataset folder (a folder dataset: images/ and classes.txt)")
    a.add_argument("--dataset", choices=DATASET_NAMES, default="folder")
    a.add_argument("--split", help="default: all (folder), train (the others)")
    a.add_argument("--fold", type=int, default=None, help="ACDC fold (default 1)")
    a.add_argument("--out", type=Path, help="where scribble PNGs are saved (default: ROOT/scribbles for a folder "
                   "dataset; required for the read-only layouts)")
    a.add_argument("--export", type=Path, help="where 'export' writes dense label PNGs (default: beside --out, "
                   "dense_labels/)")
    a.add_argument("--run", type=Path, help="a trained run: its network's unary joins the energy")
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (other than loopback: --token needed)")
    a.add_argument("--port", type=int, default=8765)
    a.add_argument("--token", help="a secret every request must carry (?token=... in the page's address)")
    a.add_argument("--preset", choices=list(PRESETS),
                   help="propagation defaults of a kind of data for a folder dataset (mri: ACDC's, street: CamVid's)")
    add_propagation_options(a)
    a.set_defaults(func=_cmd_annotate)

    g = sub.add_parser("tune-propagation", help="choose propagation parameters on a few densely labelled images",
                       description="Grid search of round 0 (superpixels, colour/texture bandwidths, boundary length) "
                       "on up to --labelled images of the split that have dense labels, scored by pseudo-label mIoU; "
                       "writes the best setting as a config snippet to include with base: (docs/usage.md).")
    g.add_argument("--dataset", choices=DATASET_NAMES, required=True)
    g.add_argument("--root", type=Path, required=True)
    g.add_argument("--split", default="train")
    g.add_argument("--fold", type=int, default=None, help="ACDC fold (default 1)")
    g.add_argument("--labelled", type=_positive, default=20, help="images with dense labels to tune on (default 20)")
    g.add_argument("--superpixels", nargs="+", help="grid: method:size[:compactness] ... (default: a built-in grid)")
    g.add_argument("--deltas", nargs="+", type=float, help="grid of delta_color and delta_texture")
    g.add_argument("--workers", type=_positive, default=2)
    g.add_argument("-o", "--out", type=Path, default=Path("tuned_propagation.yaml"), help="the snippet (YAML)")
    g.set_defaults(func=_cmd_tune_propagation)

    t = sub.add_parser("train", help="train a network (full, scribble/pCE or pseudo-label supervision)",
                       description="Train as a YAML config says; --set key.sub=value overrides it "
                       "(e.g. --set train.steps=100 data.supervision=scribble).")
    t.add_argument("--config", type=Path, help="YAML config (default: the built-in defaults)")
    t.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="config overrides (repeatable; all of them apply)")
    t.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    t.set_defaults(func=_cmd_train)

    u = sub.add_parser("run", help="the ScribbleSup method: graph-cut pseudo labels and training, alternated for rounds",
                       description="Round 0: propagate the scribbles (scribble unary + pairwise graph cut) and train "
                       "on the pseudo labels; rounds 1..R: graph cut with the network unary added, then train again. "
                       "Writes <output.root>/<name>/rounds.csv (pseudo-label quality and validation score per round), "
                       "the pseudo labels of every round, and one training run folder per round.")
    u.add_argument("--config", type=Path, help="YAML config (e.g. experiments/configs/scribblesup_acdc-fold1_cpu.yaml)")
    u.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="config overrides (e.g. pipeline.rounds=1; repeatable)")
    u.add_argument("--resume", action="store_true", help="continue a killed run where it stopped")
    u.set_defaults(func=_cmd_run)

    e = sub.add_parser("evaluate", help="score a trained run on a split (IoU, mIoU, accuracy; volumes: Dice, HD95)",
                       description="Score a run on its own validation split, or on any dataset the project reads "
                       "(--dataset/--root/--split): per-class IoU and mIoU; Dice and HD95 per 3D volume where volumes "
                       "are known (ACDC, NIfTI; HD95 in mm where the voxel spacing is known).")
    e.add_argument("--run", type=Path, required=True, help="run folder")
    e.add_argument("--split", help="default: the config's validation split")
    e.add_argument("--dataset", choices=DATASET_NAMES,
                   help="another dataset to score on (default: the run's)")
    e.add_argument("--root", type=Path, help="its folder (default: the run's data.root)")
    e.add_argument("--fold", type=int, help="ACDC fold of --root (default: the run's)")
    e.add_argument("--checkpoint", choices=["best", "last"], default="best")
    e.add_argument("--limit", type=_positive, help="first N images only")
    e.add_argument("--refine", choices=["densecrf", "mrf"],
                   help="post-process predictions: fully connected CRF (needs pydensecrf2) or grid MRF")
    _offset_args(e, "test-time calibration: add VALUE to CLASS's logit before the softmax (e.g. Myo=-1.5; chosen "
                    "on held-out training images: docs/method.md); default: the run config's test.logit_offset")
    e.set_defaults(func=_cmd_evaluate)

    r = sub.add_parser("predict", help="predict label maps for images with a trained run")
    r.add_argument("--run", type=Path, required=True)
    r.add_argument("inputs", nargs="+", type=Path,
                   help="image files or folders; NIfTI volumes (.nii, .nii.gz) are predicted slice by slice and "
                   "written back as NIfTI with the input's affine and header")
    r.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    r.add_argument("--checkpoint", choices=["best", "last"], default="best")
    r.add_argument("--probabilities", action="store_true", help="also write <name>_prob.npy (K, H, W) float16")
    _offset_args(r, "test-time calibration, as in evaluate (the probabilities written are the calibrated ones); "
                    "default: the run config's test.logit_offset")
    r.set_defaults(func=_cmd_predict)

    d = sub.add_parser("demo", help="run the bundled demo on a few real images",
                       description="Propagate the scribbles of the bundled real sample (3 ACDC slices with hand-drawn "
                       "scribbles, 3 CamVid images with synthesised ones), train a small UNet briefly on the ACDC "
                       "pseudo labels; write labels, overlays, predictions and a summary.")
    d.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)")
    d.add_argument("--train-steps", type=int, default=150, help="training steps on the pseudo labels (0: skip)")
    d.set_defaults(func=_cmd_demo)
    return parser


def _cmd_annotate(args) -> int:
    import ipaddress

    from .datasets import open_dataset

    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not args.token:
        raise ValueError(f"--host {args.host} is reachable from other machines: give --token SECRET too")
    try:
        import uvicorn

        from .annotate import Annotator, create_app
    except ImportError as exc:
        raise ImportError(f"scribblesup annotate needs the annotate extra ({exc.name} is missing): "
                          "pip install 'scribblesup[annotate]'") from None
    split = args.split or ("all" if args.dataset == "folder" else "train")
    dataset = open_dataset(args.dataset, args.root, split=split, fold=args.fold)
    out = args.out or (Path(args.root) / "scribbles" if args.dataset == "folder" else None)
    if out is None:
        raise ValueError(f"a {args.dataset} dataset is read-only here: give --out DIR for the scribbles")
    model = input_size = None
    if args.run is not None:
        from .runs import load_run

        model, config, info = load_run(args.run, "best")
        if tuple(info.class_names) != tuple(dataset.info.class_names):
            raise ValueError(f"{args.run}: its classes ({', '.join(info.class_names)}) are not the dataset's "
                             f"({', '.join(dataset.info.class_names)})")
        input_size = config.data.input_size
    annotator = Annotator(dataset, out, propagation_params(args, args.dataset), Path(out) / ".cache", model,
                          input_size)
    app = create_app(annotator, token=args.token, export_dir=args.export or Path(out).parent / "dense_labels")
    address = f"http://{args.host}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"scribblesup annotate: {len(dataset.ids)} images of {args.root}, scribbles saved in {out}")
    print(f"open {address}  (Ctrl+C stops; nothing drawn is lost)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_tune_propagation(args) -> int:
    from .datasets import open_dataset
    from .io import atomic_path, check_outputs
    from .tuning import DELTAS, SUPERPIXELS, labelled_subset, params_yaml, parse_superpixels, tune_propagation

    for spec in args.superpixels or ():
        parse_superpixels(spec)
    check_outputs([args.out], [args.root])
    dataset = labelled_subset(open_dataset(args.dataset, args.root, split=args.split, fold=args.fold), args.labelled)
    results = tune_propagation(dataset, args.superpixels or SUPERPIXELS, args.deltas or DELTAS,
                               workers=args.workers)
    best = results[0]
    for r in results[:5]:
        print(f"mIoU {r.miou:.4f}  superpixels {r.setting[0]}, delta_color {r.setting[1]}, "
              f"delta_texture {r.setting[2]}, boundary length {r.setting[3]}")
    note = (f"scribblesup tune-propagation --dataset {args.dataset} --root {args.root} --split {args.split}: "
            f"best of {len(results)} settings,\nround-0 pseudo-label mIoU {best.miou:.4f} on {len(dataset.ids)} "
            f"labelled images; include with base: [recipe.yaml, {args.out.name}]")
    with atomic_path(args.out) as tmp:
        tmp.write_text(params_yaml(best, note))
    print(f"wrote {args.out}")
    return 0


def _cmd_train(args) -> int:
    from . import distributed
    from .config import load_config
    from .runs import RunDir
    from .train import train

    config = load_config(args.config, args.set or ())
    run = RunDir(train(config, resume=args.resume))
    if not distributed.writes():  # under torchrun rank 0 reports
        return 0
    print(f"run folder: {run.path}")
    print(run.evaluation(config.data.val_split, "last", suffix=".md").read_text())
    _print_calibrated(run, config)
    return 0


def _cmd_run(args) -> int:
    from . import distributed
    from .config import load_config
    from .pipeline import run_pipeline
    from .runs import RunDir

    config = load_config(args.config, args.set or ())
    run = RunDir(run_pipeline(config, resume=args.resume))
    if not distributed.writes():
        return 0
    print(f"run folder: {run.path}")
    print(run.rounds_csv.read_text())
    _print_calibrated(run.round(config.pipeline.rounds), config)
    return 0


def _print_calibrated(run, config) -> None:
    """The run's evaluation with its config's ``test.logit_offset``, where training wrote one."""
    offset = dict(config.test.logit_offset)
    md = run.evaluation(config.data.val_split, "last", suffix=".md", logit_offset=offset)
    if offset and md.is_file():
        print(md.read_text())


def _offset_args(parser, help_text: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--logit-offset", nargs="+", type=class_value, metavar="CLASS=VALUE", help=help_text)
    group.add_argument("--no-logit-offset", action="store_true", help="no calibration, whatever the config says")


def _logit_offset(args, config) -> dict | None:
    """The test-time logit offset in force: the command line's, else the run config's ``test.logit_offset``."""
    if args.no_logit_offset:
        return None
    return dict(args.logit_offset) if args.logit_offset else dict(config.test.logit_offset) or None


def _cmd_evaluate(args) -> int:
    from .datasets import open_dataset, open_split
    from .inference import evaluate_run
    from .runs import RunDir, load_run

    run = RunDir(args.run)
    model, config, info = load_run(run.path, args.checkpoint)
    split = args.split or config.data.val_split
    label = split
    if args.dataset or args.root:  # another dataset: the run's adapter options only if it is the run's adapter
        name = args.dataset or config.data.dataset
        root = args.root or Path(config.data.root)
        options = dict(config.data.options) if name == config.data.dataset else {}
        ds = open_dataset(name, root, split=split, fold=args.fold or config.data.fold, options=options)
        if ds.info.num_classes != info.num_classes:
            raise ValueError(f"{root}: {ds.info.num_classes} classes ({', '.join(ds.info.class_names)}); the run "
                             f"predicts {info.num_classes} ({', '.join(info.class_names)})")
        label = f"{name}-{Path(root).resolve().name}-{split}"
    else:
        ds = open_split(config.data, split)
    ids = ds.ids[: args.limit] if args.limit else None
    offset = _logit_offset(args, config)
    try:
        result = evaluate_run(model, config, ds, ids=ids, progress=True, refine=args.refine, logit_offset=offset)
    except ValueError as exc:
        raise ValueError(f"{run.path}: {exc}") from None
    md = run.write_evaluation(result, config.name, label, args.checkpoint, args.refine, logit_offset=offset)
    print(md.read_text())
    print(f"wrote {md} and .json")
    return 0


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


def _cmd_predict(args) -> int:
    from tqdm import tqdm

    from .datasets.folder import IMAGE_SUFFIXES
    from .datasets.nifti import case_of, normalise_volume, read_volume, write_prediction
    from .inference import format_logit_offset, logit_offset_vector, predict_probabilities
    from .io import atomic_path, check_outputs, read_image, write_label_png
    from .runs import load_run

    model, config, info = load_run(args.run, args.checkpoint)
    offsets = _logit_offset(args, config)
    try:
        offset = logit_offset_vector(offsets, info.class_names)
    except ValueError as exc:
        raise ValueError(f"{args.run}: {exc}") from None
    files = []
    for p in args.inputs:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if (f.suffix.lower() in IMAGE_SUFFIXES or _is_nifti(f))
                            and not f.name.startswith("."))
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError(f"{', '.join(map(str, args.inputs))}: no images")
    # a volume's prediction is named as nnU-Net names it: the case, without the channel suffix _0000
    outputs = [args.output / (f"{case_of(path).removesuffix('_0000')}.nii.gz" if _is_nifti(path) else f"{path.stem}.png")
               for path in files]
    probability_files = [args.output / f"{path.stem}_prob.npy" for path in files
                         if not _is_nifti(path)] if args.probabilities else []
    check_outputs(outputs + probability_files, files)
    options = config.data.options if config.data.dataset == "nifti" else {}
    axis = options.get("axis", 2)
    for path, out in tqdm(list(zip(files, outputs)), desc="predict", unit="img"):
        if _is_nifti(path):  # a volume: normalised as in training, sliced, predicted, stacked back
            data, reference = read_volume(path)
            volume = np.moveaxis(normalise_volume(data, options.get("normalise", "percentile"),
                                                  options.get("window")), axis, 0)
            labels = np.stack([predict_probabilities(model, v[:, :, None], config.data.input_size,
                                                     logit_offset=offset).argmax(0)
                               for v in volume]).astype(np.uint8)
            write_prediction(out, labels, reference, axis)
            continue
        image = read_image(path)
        probs = predict_probabilities(model, image, config.data.input_size, logit_offset=offset)
        write_label_png(out, probs.argmax(0).astype(np.uint8), info.palette)
        if args.probabilities:
            with atomic_path(args.output / f"{path.stem}_prob.npy") as tmp:
                np.save(tmp, probs.astype(np.float16))
    calibrated = f" (logit offset {format_logit_offset(offsets)})" if offsets else ""
    print(f"wrote {len(files)} predictions to {args.output}{calibrated}")
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
    except OSError as exc:  # permissions, a folder where a file was expected, a full disk ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if "scribblesup.distributed" in sys.modules:  # a torchrun job: leave its process group
            sys.modules["scribblesup.distributed"].shutdown()


if __name__ == "__main__":
    sys.exit(main())
