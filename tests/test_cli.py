import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from scribblesup.cli import main
from scribblesup.io import read_label_png, write_image, write_label_png


@pytest.fixture
def pair(tmp_path):
    img = np.zeros((24, 32, 3), np.float32)
    img[:, 16:] = (0.2, 0.6, 0.9)
    scr = np.full((24, 32), 255, np.uint8)
    scr[12, 2:10] = 0
    scr[12, 20:30] = 2
    write_image(tmp_path / "img.png", img)
    write_label_png(tmp_path / "scr.png", scr)
    return tmp_path / "img.png", tmp_path / "scr.png"


def test_single_image_writes_palette_png_and_overlay(pair, tmp_path, capsys):
    img, scr = pair
    out, ov = tmp_path / "out" / "labels.png", tmp_path / "out" / "overlay.png"
    assert main(["propagate", str(img), str(scr), "-o", str(out), "--overlay", str(ov), "--n-segments", "20"]) == 0
    with Image.open(out) as im:
        assert im.mode == "P"
    labels = read_label_png(out)
    assert (labels[:, :16] == 0).all() and (labels[:, 16:] == 2).all()
    assert Image.open(ov).size == (32, 24)
    assert list((tmp_path / "out").iterdir()) and not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def _fails(args, capsys, *fragments):
    assert main(args) == 2
    err = capsys.readouterr().err
    for f in fragments:
        assert f in err, err
    return err


def test_size_mismatch(pair, tmp_path, capsys):
    img, _ = pair
    write_label_png(tmp_path / "small.png", np.zeros((10, 10), np.uint8))
    out = tmp_path / "o.png"
    _fails(["propagate", str(img), str(tmp_path / "small.png"), "-o", str(out)], capsys, "small.png", "differs from image size")
    assert not out.exists()


def test_class_id_beyond_dataset(pair, tmp_path, capsys):
    img, _ = pair
    scr = np.full((24, 32), 255, np.uint8)
    scr[3, 3] = 9
    write_label_png(tmp_path / "bad.png", scr)
    out = tmp_path / "o.png"
    _fails(["propagate", str(img), str(tmp_path / "bad.png"), "-o", str(out), "--dataset", "acdc"], capsys,
           "bad.png", "class ids [9]", "4 classes")
    assert not out.exists()


def test_missing_and_unreadable_files(pair, tmp_path, capsys):
    img, scr = pair
    out = tmp_path / "o.png"
    _fails(["propagate", str(tmp_path / "nope.png"), str(scr), "-o", str(out)], capsys, "nope.png", "no such file")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    _fails(["propagate", str(img), str(tmp_path / "junk.png"), "-o", str(out)], capsys, "junk.png", "not a readable image")
    assert not out.exists()


def test_scribble_without_labelled_pixel(pair, tmp_path, capsys):
    img, _ = pair
    write_label_png(tmp_path / "empty.png", np.full((24, 32), 255, np.uint8))
    _fails(["propagate", str(img), str(tmp_path / "empty.png"), "-o", str(tmp_path / "o.png")], capsys,
           "empty.png", "no labelled pixel")


def test_empty_dataset_directory(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails(["propagate", "--dataset", "acdc", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "o")], capsys,
           "empty", "no patientPPP_frameFF_slice_S.h5 files")
    (tmp_path / "cv" / "train").mkdir(parents=True)
    _fails(["propagate", "--dataset", "camvid", "--root", str(tmp_path / "cv"), "--out", str(tmp_path / "o")], capsys,
           "cv/train.txt", "split list not found")


def test_dataset_mode_on_real_acdc_with_resume(acdc_root, tmp_path, capsys):
    out = tmp_path / "pseudo"
    args = ["propagate", "--dataset", "acdc", "--root", str(acdc_root), "--split", "val", "--limit", "4", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "mIoU" in text
    files = sorted(out.glob("*.png"))
    assert len(files) == 4 and files[0].name == "patient001_frame01_slice_0.png"
    with Image.open(files[0]) as im:
        assert im.mode == "P"
    # resume: an existing output is kept, a missing one recomputed; the score is unchanged
    stamp = files[1].stat().st_mtime_ns
    files[0].unlink()
    assert main(args) == 0
    again = capsys.readouterr().out
    assert files[0].exists() and files[1].stat().st_mtime_ns == stamp
    assert again.split("mIoU")[1].split()[0] == text.split("mIoU")[1].split()[0]


def test_demo_runs(tmp_path):
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "scribblesup", "demo", "--out", str(tmp_path / "demo"), "--train-steps", "20"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo" / "summary.md").is_file()
    assert len(list((tmp_path / "demo" / "acdc" / "pseudo_labels").glob("*.png"))) == 3
    acdc = float(r.stdout.split("acdc: 3 images, pseudo-label mIoU ")[1].split()[0])
    assert acdc > 0.6
    assert len(list((tmp_path / "demo" / "acdc" / "predictions").glob("*.png"))) == 3
    assert "acdc network: UNet" in r.stdout


def test_tune_propagation_writes_a_snippet_that_configs_include(tmp_path, capsys):
    """On the demo's labelled images: the best grid point becomes a config snippet; a config takes it with
    `base: [recipe, snippet]` and its values are the ones in force."""
    import yaml

    from scribblesup.config import load_config
    from scribblesup.demo import DEMO_DATA

    out = tmp_path / "tuned.yaml"
    assert main(["tune-propagation", "--dataset", "folder", "--root", str(DEMO_DATA / "acdc"), "--split", "all",
                 "--labelled", "2", "--superpixels", "slic:300", "felzenszwalb:100", "--deltas", "0.3", "3",
                 "--workers", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    best = float(printed.split("mIoU ")[1].split()[0])
    assert 0.5 < best <= 1 and f"round-0 pseudo-label mIoU {best:.4f} on 2 labelled images" in out.read_text()
    snippet = yaml.safe_load(out.read_text())["propagation"]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("propagation:\n  delta_color: 100.0\n  network_weight: 0.5\n")
    (tmp_path / "my.yaml").write_text("base: [recipe.yaml, tuned.yaml]\nname: mine\n")
    p = load_config(tmp_path / "my.yaml").propagation_params()
    assert p.delta_color == snippet["delta_color"] != 100.0  # the later base wins
    assert p.network_weight == 0.5 and p.superpixel_method == snippet["superpixel_method"]
    # a split without dense labels cannot be tuned on: said, not a traceback
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(DEMO_DATA / "acdc", bare)
    shutil.rmtree(bare / "labels")
    assert main(["tune-propagation", "--dataset", "folder", "--root", str(bare), "--split", "all",
                 "-o", str(tmp_path / "t2.yaml")]) == 2
    assert "has dense labels" in capsys.readouterr().err and not (tmp_path / "t2.yaml").exists()


def test_class_bias_option(pair, tmp_path, capsys):
    img, scr = pair
    out = tmp_path / "o.png"
    args = ["propagate", str(img), str(scr), "-o", str(out), "--n-segments", "20", "--dataset", "acdc"]
    _fails(args + ["--class-bias", "0", "0", "0.1"], capsys, "class_bias has 3 values for 4 classes")
    assert not out.exists()
    assert main(args + ["--class-bias", "0", "0", "0.1", "0"]) == 0
    labels = read_label_png(out)
    assert (labels[:, :16] == 0).all() and (labels[:, 16:] == 2).all()
