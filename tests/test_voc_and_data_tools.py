import re

import numpy as np
import pytest
from PIL import Image

from data_tools.cli import main as data_tools
from scribblesup.datasets import open_dataset
from scribblesup.io import read_label_png, write_label_png

from test_scribbles import XML


@pytest.fixture
def voc(tmp_path):
    """A two-image VOC tree: one XML scribble, one PNG scribble."""
    root = tmp_path / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "pascal_2012"):
        (root / d).mkdir(parents=True)
    for name in ("2007_000032", "2007_000033"):
        Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        lab = np.zeros((10, 20), np.uint8)
        lab[:5, :15] = 1
        lab[:, 16:19] = 20
        write_label_png(root / "SegmentationClass" / f"{name}.png", lab)
    (root / "pascal_2012" / "2007_000032.xml").write_text(XML)
    scr = np.full((10, 20), 255, np.uint8)
    scr[2, 3:8] = 1
    write_label_png(root / "pascal_2012" / "2007_000033.png", scr)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n2007_000033\n")
    return root


def test_voc_loads_xml_and_png_scribbles(voc):
    ds = open_dataset("voc", voc, "train")
    assert len(ds) == 2 and ds.info.num_classes == 21
    a, b = ds[0], ds[1]
    assert a.image.shape == (10, 20, 3) and a.label.shape == (10, 20)
    assert a.scribble[2, 5] == 1 and a.scribble[5, 17] == 20 and a.scribble[7, 5] == 0
    assert (b.scribble[2, 3:8] == 1).all() and (b.scribble != 255).sum() == 5


def test_voc_bad_input(voc):
    with pytest.raises(FileNotFoundError, match="split list 'val' not found"):
        open_dataset("voc", voc, "val")
    (voc / "ImageSets/Segmentation/train.txt").write_text("2007_000032\n2007_000034\n")
    Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(voc / "JPEGImages" / "2007_000034.jpg")
    ds = open_dataset("voc", voc, "train")
    with pytest.raises(FileNotFoundError, match=re.escape("2007_000034.xml|.png: image 2007_000034 has no scribble")):
        ds[1]
    write_label_png(voc / "pascal_2012" / "2007_000034.png", np.zeros((10, 20), np.uint8))
    with pytest.raises(ValueError, match=re.escape("2007_000034.png: scribble size 20x10 differs from image 2007_000034.jpg size 20x12")):
        ds[1]
    write_label_png(voc / "pascal_2012" / "2007_000034.png", np.full((12, 20), 30, np.uint8))
    with pytest.raises(ValueError, match=r"class ids \[30\] beyond the 21 VOC classes"):
        ds[1]


def test_acdc_volumes_rebuild_by_stacking(acdc_root):
    ds = open_dataset("acdc", acdc_root, "val", fold=1)
    vols = ds.volumes()
    assert len(vols) == 40  # 20 patients x 2 phases
    v = ds.load_volume("patient001_frame01")
    assert v.image.shape[0] == len(vols["patient001_frame01"]) and v.label.ndim == 3
    assert np.array_equal(v.label[3], ds.load("patient001_frame01_slice_3").label)


def test_data_tools_help(capsys):
    with pytest.raises(SystemExit) as e:
        data_tools(["--help"])
    assert e.value.code == 0
    assert "synthesize-scribbles" in capsys.readouterr().out


def test_data_tools_synthesize_shrink_convert(tmp_path, voc, capsys):
    labels = tmp_path / "labels"
    lab = np.zeros((60, 80), np.uint8)
    lab[:, 40:] = 1
    lab[0:5, :] = 11
    write_label_png(labels / "a.png", lab)
    assert data_tools(["synthesize-scribbles", "--labels", str(labels), "--out", str(tmp_path / "scr"), "--void", "11"]) == 0
    scr = read_label_png(tmp_path / "scr" / "a.png")
    marked = scr != 255
    assert marked.any() and (scr[marked] == lab[marked]).all() and 11 not in scr
    assert data_tools(["shrink-scribbles", "--scribbles", str(tmp_path / "scr"), "--ratio", "0",
                       "--out", str(tmp_path / "clicks")]) == 0
    assert (read_label_png(tmp_path / "clicks" / "a.png") != 255).sum() == 2
    assert data_tools(["convert-pascal-scribble", "--xml", str(voc / "pascal_2012"), "--out", str(tmp_path / "png")]) == 0
    with Image.open(tmp_path / "png" / "2007_000032.png") as im:
        assert im.mode == "P"
    assert data_tools(["synthesize-scribbles", "--labels", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "none: no such label folder" in capsys.readouterr().err


def test_data_tools_check_reports_problems_with_files(voc, capsys):
    assert data_tools(["check", "--dataset", "voc", "--root", str(voc)]) == 0
    out = capsys.readouterr().out
    assert "2 samples, 2 with ground truth" in out and "0 problem(s)" in out
    (voc / "pascal_2012" / "2007_000032.xml").write_text(XML.replace("plane", "spaceship"))
    (voc / "pascal_2012" / "2007_000033.png").unlink()
    assert data_tools(["check", "--dataset", "voc", "--root", str(voc)]) == 1
    out = capsys.readouterr().out
    assert "2007_000032.xml: scribble 1 has unknown class name 'spaceship'" in out
    assert "2007_000033.xml|.png: image 2007_000033 has no scribble" in out
    assert "2 problem(s)" in out


def test_data_tools_check_and_stats_on_real_acdc(acdc_root, capsys):
    assert data_tools(["check", "--dataset", "acdc", "--root", str(acdc_root), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "390 samples, 390 with ground truth, 4 classes" in out
    frac = float(out.split("scribbled pixels: ")[1].split("%")[0])
    agree = float(out.split("agreement with ground truth: ")[1].split("%")[0])
    assert 0.5 < frac < 3 and agree > 99.9
    assert data_tools(["stats", "--dataset", "acdc", "--root", str(acdc_root), "--split", "val"]) == 0
    assert "LV" in capsys.readouterr().out
