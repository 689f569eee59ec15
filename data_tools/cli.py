"""``python -m data_tools``: prepare, convert and check scribble datasets."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scribblesup.conventions import UNLABELLED
from scribblesup.datasets import DATASETS, open_dataset
from scribblesup.datasets.base import sample_problems
from scribblesup.io import check_outputs, read_label_png, write_label_png
from scribblesup.datasets.voc import read_scribble_xml
from scribblesup.scribbles import curve_scribbles, sample_seed, shrink_scribbles, synthesize_scribbles

PNG = "*.png"


def _png_files(folder: Path, what: str) -> list:
    """The PNG files of a folder (hidden ones, e.g. a killed writer's temporary files, are not inputs)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such {what} folder")
    files = sorted(p for p in folder.glob(PNG) if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{folder}: no {what} PNG files")
    return files


def _open(args):
    return open_dataset(args.dataset, args.root, split=args.split, fold=args.fold)


def cmd_synthesize(args) -> int:
    """Label PNGs -> synthesised scribble PNGs (same names)."""
    files = _png_files(args.labels, "label")
    check_outputs([args.out / p.name for p in files], files)
    done = 0
    for path in tqdm(files, desc="synthesize", unit="img"):
        out = args.out / path.name
        if out.is_file() and not args.overwrite:
            continue
        label = read_label_png(path)
        if args.void is not None:
            label = np.where(label == args.void, UNLABELLED, label).astype(np.uint8)
        if args.protocol == "curve":
            scribble = curve_scribbles(label, seed=sample_seed(args.seed, path.stem))
        else:
            scribble = synthesize_scribbles(label, seed=sample_seed(args.seed, path.stem),
                                            region_fraction=args.region_fraction, margin=args.margin,
                                            prune=args.prune, min_area=args.min_area, width=args.width)
        write_label_png(out, scribble)
        done += 1
    print(f"wrote {done} scribble maps to {args.out} ({len(files) - done} already there)")
    return 0


def cmd_shrink(args) -> int:
    """Scribble PNGs -> each stroke shrunk to a length ratio (0 = clicks)."""
    files = _png_files(args.scribbles, "scribble")
    if not 0 <= args.ratio <= 1:
        raise ValueError(f"--ratio {args.ratio}: expected a length ratio in 0..1 (0 = one click per stroke)")
    check_outputs([args.out / p.name for p in files], files)
    for path in tqdm(files, desc=f"shrink to {args.ratio}", unit="img"):
        scribble = read_label_png(path)
        write_label_png(args.out / path.name, shrink_scribbles(scribble, args.ratio, sample_seed(args.seed, path.stem)))
    print(f"wrote {len(files)} scribble maps shrunk to ratio {args.ratio} to {args.out}")
    return 0


def cmd_convert_pascal(args) -> int:
    """PASCAL-Scribble XML files -> palette PNGs (0..20, 255 unlabelled)."""
    if not args.xml.is_dir():
        raise FileNotFoundError(f"{args.xml}: no such folder")
    files = sorted(p for p in args.xml.glob("*.xml") if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{args.xml}: no XML files")
    from scribblesup.datasets.voc import VOC_INFO

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in tqdm(files, desc="convert", unit="file"):
            write_label_png(args.out / f"{path.stem}.png", read_scribble_xml(path, args.width, clip=args.clip),
                            VOC_INFO.palette)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"wrote {len(files)} scribble PNGs to {args.out}")
    return 0


def cmd_check(args) -> int:
    """Validate a dataset: every sample loads, sizes agree, values finite, class ids in range, every scribble marks
    something; each problem listed with its sample and file; exit 1 on any."""
    ds = _open(args)
    k = ds.info.num_classes
    problems, scribbled, pixels, with_label, agree, marked_gt = [], 0, 0, 0, 0, 0
    for sample_id in tqdm(ds.ids, desc="check", unit="img"):
        try:
            s = ds.load(sample_id)
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{sample_id}: {exc}")
            continue
        problems += [f"{sample_id}: {p}" for p in sample_problems(s, k)]
        marked = s.scribble != UNLABELLED
        scribbled += int(marked.sum())
        pixels += marked.size
        if s.label is not None:
            with_label += 1
            both = marked & (s.label != UNLABELLED)
            agree += int((s.scribble[both] == s.label[both]).sum())
            marked_gt += int(both.sum())
    print(f"{args.dataset} {args.split}: {len(ds)} samples, {with_label} with ground truth, {k} classes")
    print(f"scribbled pixels: {scribbled / max(pixels, 1):.4%}")
    if marked_gt:
        print(f"scribble agreement with ground truth: {agree / marked_gt:.4%}")
    for p in problems:
        print(f"problem: {p}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_stats(args) -> int:
    """Class frequencies of scribbles and labels, and image sizes."""
    ds = _open(args)
    k = ds.info.num_classes
    scr = np.zeros(k, np.int64)
    lab = np.zeros(k, np.int64)
    sizes: dict = {}
    for s in tqdm(ds, total=len(ds), desc="stats", unit="img"):
        scr += np.bincount(s.scribble[s.scribble < k].ravel(), minlength=k)
        if s.label is not None:
            lab += np.bincount(s.label[s.label < k].ravel(), minlength=k)
        sizes[s.scribble.shape] = sizes.get(s.scribble.shape, 0) + 1
    print(f"{args.dataset} {args.split}: {len(ds)} samples")
    print(f"{'class':<14} {'scribble px':>12} {'share':>7} {'label px':>12} {'share':>7}")
    for name, a, b in zip(ds.info.class_names, scr, lab):
        print(f"{name:<14} {a:>12} {a / max(scr.sum(), 1):>7.2%} {b:>12} {b / max(lab.sum(), 1):>7.2%}")
    common = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    print("most common sizes (H x W): " + ", ".join(f"{h}x{w} ({n})" for (h, w), n in common))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_tools", description="Prepare and check scribble datasets.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synthesize-scribbles", help="synthesise scribbles from dense label PNGs",
                       description=synthesize_scribbles.__doc__.split("\n\n")[1])
    p.add_argument("--labels", type=Path, required=True, help="folder of label PNGs (class ids)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--void", type=int, default=None, help="label value to treat as void (e.g. 11 for CamVid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--protocol", choices=["medial_axis", "curve"], default="medial_axis",
                   help="medial_axis: the earlier protocol (the options below); curve: strokes calibrated on the "
                   "real ACDC scribbles (experiments/results/stroke_realism_acdc.md)")
    p.add_argument("--region-fraction", type=float, default=1.0)
    p.add_argument("--margin", type=float, default=0.06)
    p.add_argument("--prune", type=float, default=0.1)
    p.add_argument("--min-area", type=int, default=64)
    p.add_argument("--width", type=int, default=3)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("shrink-scribbles", help="shrink each stroke to a length ratio (0 = one click per stroke)")
    p.add_argument("--scribbles", type=Path, required=True)
    p.add_argument("--ratio", type=float, required=True, help="1, 0.5, 0.3, 0.1, or 0 for clicks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_shrink)

    p = sub.add_parser("convert-pascal-scribble", help="rasterise PASCAL-Scribble XML files to palette PNGs")
    p.add_argument("--xml", type=Path, required=True, help="folder of <id>.xml files (e.g. pascal_2012/)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--width", type=int, default=3, help="line width in pixels (default 3)")
    p.add_argument("--clip", action="store_true", help="clip points outside the image instead of failing")
    p.set_defaults(func=cmd_convert_pascal)

    for name, func, text in (("check", cmd_check, "validate a dataset tree"), ("stats", cmd_stats, "class statistics")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dataset", choices=sorted(DATASETS), required=True)
        p.add_argument("--root", type=Path, required=True)
        p.add_argument("--split", default="train")
        p.add_argument("--fold", type=int, default=1, help="ACDC fold")
        p.set_defaults(func=func)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # permissions, a folder where a file was expected, a full disk ...
        print(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        return 2
