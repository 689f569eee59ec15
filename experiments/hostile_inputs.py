"""Careless and hostile inputs against the command line: what each does, and whether it does harm.

Every case runs the real CLI (``scribblesup`` / ``python -m data_tools``) in a fresh temporary folder on the bundled
demo data (or a few generated files) and records the exit status, the first line of the error, whether a traceback
was printed, and the harm the case is about (code run, input changed, wrong result reported, ...).

    python experiments/hostile_inputs.py                       # this checkout
    python experiments/hostile_inputs.py --code /path/to/older/checkout --name hostile_inputs_before

``--code`` runs another checkout of the project (e.g. a ``git worktree`` of an older commit) with this venv. Writes
experiments/results/<name>.md and .csv.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import write_table
from scribblesup.demo import DEMO_DATA
from scribblesup.io import write_label_png

LAUNCH = ("import runpy, sys; root = sys.argv.pop(1); module = sys.argv.pop(1)\n"
          "if root:\n    sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
          "    sys.path.insert(0, root)\n"
          "sys.argv[0] = module; runpy.run_module(module, run_name='__main__')\n")
TINY = ["data.dataset=folder", "data.train_split=all", "data.val_split=all", "data.input_size=[32,32]",
        "model.width=0.125", "train.batch_size=2", "train.eval_every=2", "train.checkpoint_every=1"]


class Case:
    def __init__(self, code: str, work: Path):
        self.code, self.work = code, work

    def run(self, module: str, *args, timeout: int = 300):
        r = subprocess.run([sys.executable, "-c", LAUNCH, self.code, module, *map(str, args)], cwd=self.work,
                           capture_output=True, text=True, timeout=timeout)
        lines = [l for l in r.stderr.splitlines() if l.strip() and "%|" not in l]
        error = next((l for l in reversed(lines) if l.startswith("error") or "Error" in l), lines[-1] if lines else "")
        return {"exit": r.returncode, "error": error[:150], "traceback": "Traceback" in r.stderr}

    def cli(self, *args, **kw):
        return self.run("scribblesup", *args, **kw)

    def tools(self, *args, **kw):
        return self.run("data_tools", *args, **kw)

    def demo_copy(self, name="ds"):
        return Path(shutil.copytree(DEMO_DATA / "acdc", self.work / name))

    def train_demo(self, name="run", *extra):
        root = self.demo_copy(f"data_{name}")
        r = self.cli("train", "--set", f"name={name}", "output.root=runs", f"data.root={root}", *TINY,
                     "train.steps=2", *extra)
        return self.work / "runs" / name, r


def digest(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


# ---------------------------------------------------------------------------------------------------- the cases
# each returns (result dict from Case.run, harm: str or "")

def planted_checkpoint(c: Case):
    run, _ = c.train_demo()
    marker = c.work / "payload_ran"
    torch.save({"model": Payload(marker), "config": {}, "in_channels": 1}, run / "best.pt")
    r = c.cli("evaluate", "--run", run)
    return r, "code in the checkpoint ran" if marker.exists() else ""


def predict_into_its_input_folder(c: Case):
    run, _ = c.train_demo()
    images = c.demo_copy("in") / "images"
    before = digest(images)
    r = c.cli("predict", "--run", run, "--checkpoint", "last", images, "-o", images)
    return r, "input images replaced" if digest(images) != before else ""


def predict_two_inputs_one_name(c: Case):
    run, _ = c.train_demo()
    for d in ("a", "b"):
        (c.work / d).mkdir()
        shutil.copy(DEMO_DATA / "acdc" / "images" / "patient003_frame01_slice_5.png", c.work / d / "x.png")
    r = c.cli("predict", "--run", run, "--checkpoint", "last", c.work / "a" / "x.png", c.work / "b" / "x.png",
              "-o", c.work / "p")
    n = len(list((c.work / "p").glob("*.png"))) if (c.work / "p").exists() else 0
    return r, f"{n} output for 2 inputs, exit 0" if r["exit"] == 0 and n < 2 else ""


def propagate_output_is_the_image(c: Case):
    root = c.demo_copy()
    image, scribble = root / "images" / "patient003_frame01_slice_5.png", root / "scribbles" / "patient003_frame01_slice_5.png"
    before = image.read_bytes()
    r = c.cli("propagate", image, scribble, "-o", image)
    return r, "input image overwritten" if image.read_bytes() != before else ""


def propagate_overlay_is_the_scribble(c: Case):
    root = c.demo_copy()
    image, scribble = root / "images" / "patient003_frame01_slice_5.png", root / "scribbles" / "patient003_frame01_slice_5.png"
    before = scribble.read_bytes()
    r = c.cli("propagate", image, scribble, "-o", c.work / "l.png", "--overlay", scribble)
    return r, "input scribble overwritten" if scribble.read_bytes() != before else ""


def shrink_into_its_input_folder(c: Case):
    folder = c.demo_copy() / "scribbles"
    before = digest(folder)
    r = c.tools("shrink-scribbles", "--scribbles", folder, "--ratio", "0.3", "--out", folder)
    return r, "original scribbles replaced" if digest(folder) != before else ""


def stale_region_graph_cache(c: Case):
    a = c.demo_copy("a")
    b = c.demo_copy("b")
    for folder in ("images", "scribbles", "labels"):
        for p in (b / folder).glob("*.png"):
            im = Image.open(p)
            im.load()
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(p)
    common = ["output.root=runs", *TINY, "train.steps=1", "pipeline.rounds=0", "pipeline.workers=1",
              "propagation.n_segments=300"]
    c.cli("run", "--set", "name=a", f"data.root={a}", *common)
    r = c.cli("run", "--set", "name=b", f"data.root={b}", *common)
    c.cli("run", "--set", "name=b_fresh", f"data.root={b}", "pipeline.cache_dir=fresh_cache", *common)
    cached, fresh = c.work / "runs" / "b" / "round0" / "pseudo", c.work / "runs" / "b_fresh" / "round0" / "pseudo"
    same = cached.is_dir() and digest(cached) == digest(fresh)
    return r, "" if same else "pseudo labels made from another image's superpixels"


def voc_id_with_dot_dot(c: Case):
    root = c.work / "VOC2012"
    for d in ("JPEGImages", "ImageSets/Segmentation", "scribbles"):
        (root / d).mkdir(parents=True)
    (c.work / "outside").mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(c.work / "outside" / "x.jpg")
    scr = np.full((10, 20), 255, np.uint8)
    scr[2, 3:8] = 1
    write_label_png(c.work / "outside" / "x.png", scr)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("../../outside/x\n")
    r = c.cli("propagate", "--dataset", "voc", "--root", root, "--scribbles", root / "scribbles", "--out",
              c.work / "out" / "a" / "b")
    escaped = (c.work / "out" / "outside" / "x.png").exists() or (c.work / "outside" / "x.png").stat().st_mtime == 0
    return r, "read a file outside the root and wrote outside --out" if escaped or r["exit"] == 0 else ""


def two_set_options(c: Case):
    root = c.demo_copy()
    r = c.cli("train", "--set", "train.stepz=3", "--set", "name=s", "output.root=runs", f"data.root={root}", *TINY,
              "train.steps=2")
    return r, "the first --set (with its typo) silently dropped" if r["exit"] == 0 else ""


def resume_with_another_width(c: Case):
    run, _ = c.train_demo("w", "train.steps=4")
    (run / "eval_all_last.json").unlink(missing_ok=True)
    before = (run / "config.yaml").read_text()
    r = c.cli("train", "--resume", "--set", "name=w", "output.root=runs", f"data.root={c.work / 'data_w'}", *TINY,
              "train.steps=4", "model.width=0.25")
    return r, "config.yaml rewritten to no longer match last.pt" if (run / "config.yaml").read_text() != before else ""


def resume_with_another_supervision(c: Case):
    run, _ = c.train_demo("sup", "train.steps=2")
    r = c.cli("train", "--resume", "--set", "name=sup", "output.root=runs", f"data.root={c.work / 'data_sup'}", *TINY,
              "train.steps=4", "data.supervision=scribble")
    return r, "a hybrid run (2 steps full, 2 steps scribbles) accepted" if r["exit"] == 0 else ""


def propagate_into_a_folder_made_otherwise(c: Case):
    root = c.demo_copy()
    c.cli("propagate", "--dataset", "folder", "--root", root, "--out", c.work / "o")
    before = digest(c.work / "o")
    r = c.cli("propagate", "--dataset", "folder", "--root", root, "--out", c.work / "o", "--n-segments", "100")
    unchanged = digest(c.work / "o") == before
    return r, "old outputs kept and scored as the new parameters'" if r["exit"] == 0 and unchanged else ""


def check_misses_a_nan_slice(c: Case):
    import h5py

    folder = c.work / "ACDC" / "ACDC_training_slices"
    folder.mkdir(parents=True)
    for name, nan in (("patient021_frame01_slice_1", False), ("patient021_frame01_slice_2", True)):
        image = np.random.default_rng(0).random((16, 20)).astype(np.float32)
        image[3, 4] = np.nan if nan else image[3, 4]
        scribble = np.full((16, 20), 4, np.uint16)
        scribble[6, 6:10] = 3
        with h5py.File(folder / f"{name}.h5", "w") as f:
            f["image"], f["label"], f["scribble"] = image, np.zeros((16, 20), np.uint8), scribble
    r = c.tools("check", "--dataset", "acdc", "--root", c.work / "ACDC", "--split", "train")
    return r, "the NaN slice passes the check" if r["exit"] == 0 else ""


def check_misses_a_wrong_size_label(c: Case):
    root = c.work / "CamVid"
    for d in ("train", "trainannot"):
        (root / d).mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(root / "train" / "a.png")
    lab = np.zeros((12, 15), np.uint8)
    lab[:, :7] = 3
    Image.fromarray(lab).save(root / "trainannot" / "a.png")
    (root / "train.txt").write_text("a\n")
    r = c.tools("check", "--dataset", "camvid", "--root", root, "--split", "train")
    return r, "the wrong-size label passes the check" if r["exit"] == 0 else ""


def nan_image(c: Case):
    np.save(c.work / "nan.npy", np.full((8, 8), np.nan, np.float32))
    write_label_png(c.work / "s.png", np.zeros((8, 8), np.uint8))
    r = c.cli("propagate", c.work / "nan.npy", c.work / "s.png", "-o", c.work / "o.png")
    return r, "the error blames another file" if "nan.npy" not in r["error"] else ""


def pseudo_label_id_beyond_classes(c: Case):
    root = c.demo_copy()
    for p in (root / "labels").glob("*.png"):
        arr = np.asarray(Image.open(p))
        write_label_png(c.work / "pseudo" / p.name, np.where(arr == 3, 7, arr))
    r = c.cli("train", "--set", "name=p", "output.root=runs", f"data.root={root}", *TINY, "train.steps=2",
              "data.supervision=pseudo", f"data.pseudo_dir={c.work / 'pseudo'}")
    return r, "the error names no file" if "pseudo" not in r["error"] else ""


def config_value(c: Case, *overrides):
    root = c.demo_copy()
    r = c.cli("train", "--set", "name=v", "output.root=runs", f"data.root={root}", *TINY, *overrides)
    made = (c.work / "runs" / "v").exists()
    return r, ("accepted" if r["exit"] == 0 else "") + (" run folder created" if made else "")


def propagate_option(c: Case, *options):
    root = c.demo_copy()
    r = c.cli("propagate", "--dataset", "folder", "--root", root, "--out", c.work / "o", *options)
    return r, "accepted" if r["exit"] == 0 else ""


def output_is_a_folder(c: Case):
    root = c.demo_copy()
    (c.work / "dir.png").mkdir()
    r = c.cli("propagate", root / "images" / "patient003_frame01_slice_5.png",
              root / "scribbles" / "patient003_frame01_slice_5.png", "-o", c.work / "dir.png")
    return r, ""


def huge_png(c: Case):
    Image.new("1", (20000, 20000)).save(c.work / "huge.png")
    write_label_png(c.work / "s.png", np.zeros((8, 8), np.uint8))
    r = c.cli("propagate", c.work / "huge.png", c.work / "s.png", "-o", c.work / "o.png")
    return r, ""


def output_file_mode(c: Case):
    root = c.demo_copy()
    r = c.cli("propagate", "--dataset", "folder", "--root", root, "--out", c.work / "o")
    mode = (c.work / "o" / "patient003_frame01_slice_5.png").stat().st_mode & 0o777
    return r, f"outputs created mode {oct(mode)}" if mode & 0o044 != 0o044 else ""


def hidden_temp_png_in_a_folder_dataset(c: Case):
    root = c.demo_copy()
    (root / "images" / ".patient003_frame01_slice_5.png.abc.tmp.png").write_bytes(b"half")
    r = c.cli("propagate", "--dataset", "folder", "--root", root, "--out", c.work / "o")
    return r, "a killed writer's temporary file read as an input" if r["exit"] != 0 else ""


def empty_split(c: Case):
    root = c.work / "CamVid"
    (root / "train").mkdir(parents=True)
    (root / "train.txt").write_text("\n")
    r = c.cli("propagate", "--dataset", "camvid", "--root", root, "--out", c.work / "o")
    return r, "exit 0 on nothing" if r["exit"] == 0 else ""


CASES = [
    ("planted checkpoint: `evaluate --run` on a .pt whose pickle runs code", planted_checkpoint),
    ("`predict DIR -o DIR`", predict_into_its_input_folder),
    ("`predict a/x.png b/x.png`", predict_two_inputs_one_name),
    ("`propagate IMG SCR -o IMG`", propagate_output_is_the_image),
    ("`propagate ... --overlay SCR`", propagate_overlay_is_the_scribble),
    ("`data_tools shrink-scribbles --out` = its input folder", shrink_into_its_input_folder),
    ("region-graph cache: flipped data, same ids", stale_region_graph_cache),
    ("VOC split list id `../../outside/x`", voc_id_with_dot_dot),
    ("two `--set` options, a typo in the first", two_set_options),
    ("`--resume` with another model width", resume_with_another_width),
    ("`--resume` with another supervision", resume_with_another_supervision),
    ("`propagate --out` into a folder made with other parameters", propagate_into_a_folder_made_otherwise),
    ("`data_tools check`: a NaN ACDC slice", check_misses_a_nan_slice),
    ("`data_tools check`: a wrong-size CamVid label", check_misses_a_wrong_size_label),
    ("a NaN image", nan_image),
    ("pseudo label with a class id beyond the classes", pseudo_label_id_beyond_classes),
    ("`train.steps: abc`", lambda c: config_value(c, "train.steps=abc")),
    ("`train.steps: 0`", lambda c: config_value(c, "train.steps=0")),
    ("`train.batch_size: 0`", lambda c: config_value(c, "train.batch_size=0", "train.steps=2")),
    ("`train.eval_every: 0`", lambda c: config_value(c, "train.eval_every=0", "train.steps=2")),
    ("`pipeline.rounds: -1` (train)", lambda c: config_value(c, "pipeline.rounds=-1", "train.steps=2")),
    ("`propagate --n-segments 0`", lambda c: propagate_option(c, "--n-segments", "0")),
    ("`propagate --pairwise-weight -1`", lambda c: propagate_option(c, "--pairwise-weight", "-1")),
    ("`propagate --delta-color 0`", lambda c: propagate_option(c, "--delta-color", "0")),
    ("`propagate --limit 0`", lambda c: propagate_option(c, "--limit", "0")),
    ("`propagate --limit -1`", lambda c: propagate_option(c, "--limit", "-1")),
    ("an output path that is a folder", output_is_a_folder),
    ("a 20000 x 20000 PNG", huge_png),
    ("output file permissions", output_file_mode),
    ("hidden temporary PNG in a folder dataset", hidden_temp_png_in_a_folder_dataset),
    ("an empty split", empty_split),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--code", default="", help="another checkout to run (default: this one)")
    ap.add_argument("--name", default="hostile_inputs", help="table name under experiments/results/")
    ap.add_argument("--only", nargs="*", help="substrings of case names to run")
    args = ap.parse_args()
    rows = []
    for title, fn in CASES:
        if args.only and not any(o in title for o in args.only):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                result, harm = fn(Case(str(Path(args.code).resolve()) if args.code else "", Path(tmp)))
            except Exception as exc:  # noqa: BLE001 - a case that cannot run is reported, not fatal
                result, harm = {"exit": "-", "error": f"case failed: {exc}"[:150], "traceback": False}, "?"
        rows.append({"case": title, "exit": result["exit"], "traceback": "yes" if result["traceback"] else "",
                     "harm": harm or "none", "message": result["error"].replace("|", "/")})
        print(json.dumps(rows[-1]), flush=True)
    write_table(args.name, "Careless and hostile inputs against the command line", rows,
                [("case", "case", ""), ("exit", "exit", ""), ("traceback", "traceback", ""), ("harm", "harm", ""),
                 ("message (last error line)", "message", "")],
                notes=[f"Code: {code_version(args.code)}. Each case runs the CLI in a fresh temporary folder; `harm` is "
                       "what the case is about (code run, an input changed, a wrong result reported as right ...)."])


def code_version(code: str) -> str:
    if not code:
        return "this checkout"
    commit = subprocess.run(["git", "-C", code, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"the checkout at commit {commit.stdout.strip() or '?'} (`--code`)"


if __name__ == "__main__":
    main()
