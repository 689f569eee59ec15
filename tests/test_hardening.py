"""Careless or hostile input: clear errors naming the file, nothing destroyed, no tracebacks (tiny generated data and
the bundled demo data)."""

import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from data_tools.cli import main as data_tools
from scribblesup.cli import main
from scribblesup.config import load_config
from scribblesup.datasets import open_dataset
from scribblesup.demo import DEMO_DATA
from scribblesup.io import read_image, write_label_png
from scribblesup.train import train

from test_runs import demo_config


def cli(args):
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


def acdc_slice(path, shape=(16, 20), scribble_shape=None, nan=False):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    if nan:
        image[3, 4] = np.nan
    label = np.zeros(shape, np.uint8)
    label[4:10, 5:12] = 3
    scribble = np.full(scribble_shape or shape, 4, np.uint16)
    scribble[6, 6:10] = 3
    scribble[1, 1:8] = 0
    with h5py.File(path, "w") as f:
        f["image"], f["label"], f["scribble"] = image, label, scribble


@pytest.fixture
def acdc_tree(tmp_path):
    folder = tmp_path / "ACDC" / "ACDC_training_slices"
    folder.mkdir(parents=True)
    acdc_slice(folder / "patient021_frame01_slice_1.h5")
    acdc_slice(folder / "patient021_frame01_slice_2.h5", nan=True)
    acdc_slice(folder / "patient022_frame01_slice_1.h5", scribble_shape=(16, 21))
    return tmp_path / "ACDC"


def test_check_lists_every_problem_with_its_file(acdc_tree, capsys):
    assert data_tools(["check", "--dataset", "acdc", "--root", str(acdc_tree), "--split", "train"]) == 1
    out = capsys.readouterr().out
    assert "patient021_frame01_slice_2: image has NaN or infinite values" in out
    assert "patient022_frame01_slice_1.h5 scribble: size 21x16 differs from the image's 20x16" in out
    assert "2 problem(s)" in out


def test_check_catches_a_wrong_size_camvid_label(tmp_path, capsys):
    root = tmp_path / "CamVid"
    for d in ("train", "trainannot"):
        (root / d).mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(root / "train" / "a.png")
    Image.fromarray(np.zeros((12, 15), np.uint8)).save(root / "trainannot" / "a.png")
    (root / "train.txt").write_text("a\n")
    assert data_tools(["check", "--dataset", "camvid", "--root", str(root), "--split", "train"]) == 1
    assert "trainannot/a.png: size 15x12 differs from the image's 16x12" in capsys.readouterr().out


def test_a_nan_slice_is_named_in_training_and_propagation(acdc_tree, tmp_path, capsys):
    config = load_config(None, [f"output.root={tmp_path / 'runs'}", f"data.root={acdc_tree}", "data.fold=1",
                                "data.supervision=scribble", "train.steps=1", "data.val_split=train"])
    with pytest.raises(ValueError, match="sample patient021_frame01_slice_2: the image has NaN"):
        train(config, progress=False)
    assert cli(["propagate", "--dataset", "acdc", "--root", str(acdc_tree), "--fold", "1", "--out",
                str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "sample patient021_frame01_slice_2 of acdc: image has NaN" in err and "Traceback" not in err


def test_bad_images_are_blamed_on_the_image(tmp_path, capsys):
    scribble = np.full((1, 1), 0, np.uint8)
    write_label_png(tmp_path / "s.png", scribble)
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "tiny.png")
    assert cli(["propagate", str(tmp_path / "tiny.png"), str(tmp_path / "s.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert "tiny.png: image is 1x1 pixels: too small to segment" in capsys.readouterr().err
    np.save(tmp_path / "nan.npy", np.full((8, 8), np.nan, np.float32))
    write_label_png(tmp_path / "s8.png", np.zeros((8, 8), np.uint8))
    assert cli(["propagate", str(tmp_path / "nan.npy"), str(tmp_path / "s8.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert "nan.npy: image has NaN or infinite values" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_oversized_inputs_are_refused_before_decoding(tmp_path, monkeypatch):
    xml = ("<annotation><size><width>100000</width><height>100000</height></size>"
           "<polygon><tag>cat</tag><point><X>1</X><Y>1</Y></point></polygon></annotation>")
    (tmp_path / "huge.xml").write_text(xml)
    from scribblesup.datasets.voc import read_scribble_xml

    with pytest.raises(ValueError, match=r"huge\.xml: image of 100000x100000 pixels is larger than the limit"):
        read_scribble_xml(tmp_path / "huge.xml")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setenv("SCRIBBLESUP_MAX_PIXELS", "1000")
    with pytest.raises(ValueError, match=r"big\.png: image of 40x40 pixels is larger than the limit of 1000"):
        read_image(tmp_path / "big.png")
    monkeypatch.setenv("SCRIBBLESUP_MAX_PIXELS", "2000")
    assert read_image(tmp_path / "big.png").shape == (40, 40, 1)


def test_shrink_and_synthesize_refuse_to_overwrite_their_inputs(tmp_path, capsys):
    folder = tmp_path / "scribbles"
    shutil.copytree(DEMO_DATA / "acdc" / "scribbles", folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert data_tools(["shrink-scribbles", "--scribbles", str(folder), "--ratio", "0.3", "--out", str(folder)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert data_tools(["synthesize-scribbles", "--labels", str(folder), "--out", str(folder / ".." / "scribbles")]) == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    (folder / ".x.png.abc.tmp.png").write_bytes(b"partial")  # a killed writer's leftover is not an input
    assert data_tools(["shrink-scribbles", "--scribbles", str(folder), "--ratio", "0.3", "--out", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(before)


def test_training_errors_name_the_file(tmp_path):
    pseudo = tmp_path / "pseudo"
    ds = open_dataset("folder", DEMO_DATA / "acdc")
    for s in ds:
        write_label_png(pseudo / f"{s.id}.png", np.where(s.label == 3, 7, s.label))
    config = demo_config(tmp_path, "ids", "data.supervision=pseudo", f"data.pseudo_dir={pseudo}")
    with pytest.raises(ValueError, match=r"pseudo/patient\d+_frame01_slice_\d\.png: class ids \[7\] beyond the "
                                         r"dataset's 4 classes"):
        train(config, progress=False)
    mixed = tmp_path / "mixed"
    shutil.copytree(DEMO_DATA / "acdc", mixed)
    first = sorted((mixed / "images").iterdir())[0]
    Image.open(first).convert("RGB").save(first)
    config = demo_config(tmp_path, "mixed", f"data.root={mixed}")
    with pytest.raises(ValueError, match="mix channel counts"):
        train(config, progress=False)


def test_an_output_path_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "dir.png").mkdir()
    image = DEMO_DATA / "acdc" / "images" / "patient003_frame01_slice_5.png"
    scribble = DEMO_DATA / "acdc" / "scribbles" / "patient003_frame01_slice_5.png"
    assert cli(["propagate", str(image), str(scribble), "-o", str(tmp_path / "dir.png")]) == 2
    err = capsys.readouterr().err
    assert "dir.png: is a folder, expected a file path" in err and "Traceback" not in err


def test_an_unwritable_output_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    image = DEMO_DATA / "acdc" / "images" / "patient003_frame01_slice_5.png"
    scribble = DEMO_DATA / "acdc" / "scribbles" / "patient003_frame01_slice_5.png"
    assert cli(["propagate", str(image), str(scribble), "-o", str(tmp_path / "file" / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "file" in err and len(err.splitlines()) == 1


def test_an_empty_split_is_an_error(tmp_path, capsys):
    root = tmp_path / "CamVid"
    (root / "train").mkdir(parents=True)
    (root / "train.txt").write_text("\n")
    assert cli(["propagate", "--dataset", "camvid", "--root", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "no images listed" in capsys.readouterr().err


def test_an_output_onto_a_file_of_the_input_folder_is_refused(tmp_path, capsys):
    """tune-propagation -o ROOT/classes.txt would have replaced the dataset's class list."""
    import shutil

    from scribblesup.cli import main

    root = tmp_path / "d"
    shutil.copytree(DEMO_DATA / "acdc", root)
    before = (root / "classes.txt").read_bytes()
    assert main(["tune-propagation", "--dataset", "folder", "--root", str(root), "--split", "all",
                 "-o", str(root / "classes.txt")]) == 2
    assert "a file of the input folder" in capsys.readouterr().err
    assert (root / "classes.txt").read_bytes() == before
