"""NIfTI volumes in the nnU-Net raw layout, generated here with known spacing and answers: slicing, normalisation,
splits, spacing-aware HD95, predictions written back aligned, bad volumes, and a scribble-only training set through
`scribblesup run`, `evaluate` and `predict`."""

import json

import nibabel as nib
import numpy as np
import pytest

from scribblesup.cli import main
from scribblesup.datasets import open_dataset
from scribblesup.datasets.nifti import normalise_volume, write_prediction
from scribblesup.metrics import hd95

SHAPE = (40, 36, 5)  # x, y, z: sliced along z (axis 2) by default
SPACING = (1.25, 1.5, 8.0)
CLASSES = {"background": 0, "inner": 1, "ring": 2}


def affine():
    a = np.diag([*SPACING, 1.0])
    a[:3, 3] = [-20.0, 10.0, 5.0]
    return a


def phantom(seed: int):
    """(image int16, label): a disc (class 1) inside a ring (class 2) on a noisy background, per z slice."""
    rng = np.random.default_rng(seed)
    x, y = np.mgrid[: SHAPE[0], : SHAPE[1]]
    cx, cy = 20 + rng.integers(-3, 4), 18 + rng.integers(-3, 4)
    r = np.hypot(x - cx, y - cy)
    label2d = np.where(r < 7, 1, np.where(r < 12, 2, 0)).astype(np.uint8)
    label = np.repeat(label2d[:, :, None], SHAPE[2], axis=2)
    image = np.choose(label, [100, 700, 400]).astype(np.float32) + rng.normal(0, 20, SHAPE)
    return image.astype(np.int16), label


def scribbles_of(label, unlabelled=255):
    """Strokes per slice: the row through the disc's centre (every class crosses it) and the first column."""
    s = np.full(label.shape, unlabelled, np.uint8)
    for z in range(label.shape[2]):
        row = int(np.nonzero(label[:, :, z] == 1)[0].mean())
        s[row, :, z] = label[row, :, z]
        s[:, 0, z] = 0
    return s


def save(path, data, dtype=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data, dtype or data.dtype), affine())
    img.header.set_zooms(SPACING + (1.0,) * (np.ndim(data) - 3))
    nib.save(img, str(path))


def make_dataset(root, train=4, test=2, labels_tr=False, unlabelled=255):
    meta = {"labels": CLASSES, "channel_names": {"0": "MRI"}, "file_ending": ".nii.gz", "numTraining": train}
    if unlabelled != 255:
        meta["scribble_unlabelled"] = unlabelled
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for n in range(train + test):
        image, label = phantom(n)
        case = f"case_{n:03d}"
        if n < train:
            save(root / "imagesTr" / f"{case}_0000.nii.gz", image)
            save(root / "scribblesTr" / f"{case}.nii.gz", scribbles_of(label, unlabelled))
            if labels_tr:
                save(root / "labelsTr" / f"{case}.nii.gz", label)
        else:
            save(root / "imagesTs" / f"{case}_0000.nii.gz", image)
            save(root / "labelsTs" / f"{case}.nii.gz", label)
    return root


@pytest.fixture
def nnunet(tmp_path):
    return make_dataset(tmp_path / "Dataset001_Phantom")


def test_slices_volumes_and_spacing(nnunet):
    ds = open_dataset("nifti", nnunet, split="train")
    assert len(ds.ids) == 4 * SHAPE[2] and ds.ids[0] == "case_000_slice_000"
    assert ds.info.class_names == ("background", "inner", "ring")
    s = ds.load("case_001_slice_003")
    image, label = phantom(1)
    assert s.image.shape == (40, 36, 1) and s.label is None  # no labelsTr: scribbles only
    assert 0 <= s.image.min() and s.image.max() <= 1
    np.testing.assert_array_equal(s.scribble, scribbles_of(label)[:, :, 3])
    assert ds.volumes()["case_002"] == [f"case_002_slice_{k:03d}" for k in range(5)]
    assert ds.spacing("case_000") == (8.0, 1.25, 1.5)  # the slice axis first, as volumes are stacked
    along_x = open_dataset("nifti", nnunet, split="train", options={"axis": 0})
    assert len(along_x.ids) == 4 * 40 and along_x.load(along_x.ids[7]).image.shape == (36, 5, 1)
    assert along_x.spacing("case_000") == (1.25, 1.5, 8.0)
    test = open_dataset("nifti", nnunet, split="test")
    v = test.load_volume("case_004")
    assert v.label.shape == (5, 40, 36) and np.array_equal(v.label, np.moveaxis(phantom(4)[1], 2, 0))


def test_normalisation_per_volume():
    v = np.concatenate([np.zeros(2), np.linspace(0, 100, 996), np.full(2, 1e6)]).reshape(10, 10, 10)  # 0.2 % outliers
    p = normalise_volume(v, "percentile")
    assert p.min() == 0 and p.max() == 1 and p.reshape(-1)[-1] == 1  # the outliers are clipped
    assert np.median(p) == pytest.approx(0.5, abs=0.02)  # not squashed by the 1e6 outliers
    z = normalise_volume(np.array([[[1.0, 2.0, 3.0]]]), "zscore")
    assert z.ravel()[1] == pytest.approx(0.5) and z.ravel()[0] < 0.5 < z.ravel()[2]
    with pytest.raises(ValueError, match="window"):
        normalise_volume(v, "window", [10, 5])


def test_the_declared_unlabelled_value(tmp_path):
    root = make_dataset(tmp_path / "d", train=1, test=0, unlabelled=9)
    s = open_dataset("nifti", root, split="train").load("case_000_slice_000")
    assert set(np.unique(s.scribble)) == {0, 1, 2, 255}


def test_splits_from_nnunet_folds_and_lists(nnunet):
    (nnunet / "splits_final.json").write_text(json.dumps([{"train": ["case_000", "case_001", "case_002"],
                                                           "val": ["case_003"]}]))
    assert {i.split("_slice_")[0] for i in open_dataset("nifti", nnunet, split="val").ids} == {"case_003"}
    assert len(open_dataset("nifti", nnunet, split="train").ids) == 3 * 5
    (nnunet / "splits_final.json").unlink()
    with pytest.raises(ValueError, match="no 'val' split: add val.txt"):
        open_dataset("nifti", nnunet, split="val")
    (nnunet / "val.txt").write_text("case_002\n")
    assert len(open_dataset("nifti", nnunet, split="val").ids) == 5
    (nnunet / "val.txt").write_text("case_999\n")
    with pytest.raises(ValueError, match="case_999"):
        open_dataset("nifti", nnunet, split="val")


def test_a_folder_dataset_has_splits_too(tmp_path):
    import shutil

    from scribblesup.demo import DEMO_DATA

    root = tmp_path / "f"
    shutil.copytree(DEMO_DATA / "acdc", root)
    ids = open_dataset("folder", root, split="all").ids
    assert open_dataset("folder", root, split="train").ids == ids  # no train.txt: every image
    with pytest.raises(ValueError, match="no 'val' split"):
        open_dataset("folder", root, split="val")
    (root / "val.txt").write_text(ids[0] + "\n")
    assert open_dataset("folder", root, split="val").ids == ids[:1]


def test_a_volume_over_the_size_limit_is_refused_before_decoding(nnunet, monkeypatch):
    monkeypatch.setenv("SCRIBBLESUP_MAX_VOXELS", "1000")
    ds = open_dataset("nifti", nnunet, split="train")
    with pytest.raises(ValueError, match="larger than the limit of 1000"):
        ds.load(ds.ids[0])


def test_hd95_in_millimetres_on_a_known_shift():
    truth = np.zeros((6, 20, 20), bool)
    truth[1:4, 5:15, 5:15] = True
    shifted = np.roll(truth, 1, axis=0)  # one slice further along the slice axis
    assert hd95(shifted, truth, spacing=(8.0, 1.25, 1.5)) == pytest.approx(8.0)
    assert hd95(shifted, truth) == pytest.approx(1.0)


def test_predictions_are_written_back_aligned(nnunet, tmp_path):
    ref = nib.load(str(nnunet / "imagesTs" / "case_004_0000.nii.gz"))
    labels = np.moveaxis(phantom(4)[1], 2, 0)
    out = tmp_path / "pred" / "case_004.nii.gz"
    write_prediction(out, labels, ref, axis=2)
    back = nib.load(str(out))
    np.testing.assert_allclose(back.affine, ref.affine)
    assert back.header.get_zooms() == ref.header.get_zooms() and back.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(back.dataobj), phantom(4)[1])
    assert sorted(p.name for p in out.parent.iterdir()) == ["case_004.nii.gz"]  # no temporary file left


@pytest.mark.parametrize("problem, message", [
    ("4d", "4D volume"), ("shape", "differs from the image's"), ("affine", "affine differs"),
    ("values", r"values \[7\] are not classes"), ("json", "no .labels. entry"),
])
def test_bad_volumes_are_named(tmp_path, problem, message):
    root = make_dataset(tmp_path / "bad", train=2, test=0, labels_tr=True)
    case = root / "labelsTr" / "case_001.nii.gz"
    image, label = phantom(1)
    if problem == "4d":
        case = root / "imagesTr" / "case_001_0000.nii.gz"
        save(case, np.stack([image, image], axis=3))
    elif problem == "shape":
        save(case, label[:, :30])
    elif problem == "affine":
        img = nib.Nifti1Image(label, affine() @ np.diag([1, 1, 2, 1]))
        nib.save(img, str(case))
    elif problem == "values":
        label = label.copy()
        label[0, 0, 0] = 7
        save(case, label)
    else:
        case = root / "dataset.json"
        case.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match=message) as info:
        ds = open_dataset("nifti", root, split="train")
        for i in ds.ids:
            ds.load(i)
    assert str(case) in str(info.value) or case.name in str(info.value)


def test_scribble_only_training_run_evaluate_and_predict(nnunet, tmp_path, capsys):
    """No dense training labels: `scribblesup run` trains on the pseudo labels, validates on the labelled test
    volumes; `evaluate` gives Dice and HD95 in mm per volume; `predict` writes NIfTI aligned with the input."""
    sets = ["--set", "name=phantom", f"output.root={tmp_path / 'runs'}", "data.dataset=nifti", f"data.root={nnunet}",
            "data.train_split=train", "data.val_split=test", "data.input_size=[40,36]", "model.width=0.125",
            "train.steps=40", "train.batch_size=4", "train.eval_every=40", "train.checkpoint_every=20", "train.lr=0.01",
            "augment.scale=null", "pipeline.rounds=1", "pipeline.finetune_steps=10", "pipeline.workers=1",
            "propagation.n_segments=150", "data.preset=mri"]
    assert main(["run", *sets]) == 0
    capsys.readouterr()
    run = tmp_path / "runs" / "phantom"
    assert "(preset mri (measured on ACDC), with propagation.n_segments from the config)" in (
        run / "pipeline.log").read_text()
    labels = json.loads((run / "round0" / "labels.json").read_text())
    assert labels["pseudo"] is None and labels["coverage"] == 1.0  # nothing to score pseudo labels against
    assert main(["evaluate", "--run", str(run / "round1"), "--checkpoint", "last"]) == 0
    result = json.loads((run / "round1" / "eval_test_last.json").read_text())
    assert result["volumes"] == 2 and result["hd95_unit"] == "mm" and result["mean_dice"] > 0.5
    assert "HD95 (mm)" in capsys.readouterr().out
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(run / "round1"), "--checkpoint", "last", str(nnunet / "imagesTs"),
                 "-o", str(out)]) == 0
    pred = nib.load(str(out / "case_004.nii.gz"))
    ref = nib.load(str(nnunet / "imagesTs" / "case_004_0000.nii.gz"))
    np.testing.assert_allclose(pred.affine, ref.affine)
    dice = 2 * ((np.asarray(pred.dataobj) == 1) & (phantom(4)[1] == 1)).sum() / (
        (np.asarray(pred.dataobj) == 1).sum() + (phantom(4)[1] == 1).sum())
    assert dice > 0.5
    # evaluate anything: the same run on another root, named in the output
    assert main(["evaluate", "--run", str(run / "round1"), "--checkpoint", "last", "--root", str(nnunet),
                 "--split", "test"]) == 0
    assert (run / "round1" / f"eval_nifti-{nnunet.name}-test_last.json").is_file()


def test_the_documented_config_for_your_own_data_loads(nnunet, tmp_path):
    from pathlib import Path

    from scribblesup.config import load_config
    from scribblesup.datasets import open_split

    repo = Path(__file__).resolve().parents[1]
    block = (repo / "docs" / "datasets.md").read_text().split("```yaml\n")[1].split("```")[0]
    block = block.replace("experiments/configs/", f"{repo}/experiments/configs/")
    block = block.replace("/data/Dataset001_Heart", str(nnunet))
    (tmp_path / "my.yaml").write_text(block)
    config = load_config(tmp_path / "my.yaml")
    assert config.data.dataset == "nifti" and config.data.preset == "mri" and config.pipeline.rounds == 3
    assert config.propagation_params().delta_color == 0.3  # ACDC's measured setting
    assert len(open_split(config.data, config.data.val_split).ids) == 2 * SHAPE[2]


def test_a_plain_folder_of_volumes_with_split_lists(tmp_path):
    root = tmp_path / "plain"
    for n in range(3):
        image, label = phantom(n)
        save(root / "images" / f"scan{n}.nii.gz", image)
        save(root / "scribbles" / f"scan{n}.nii", scribbles_of(label))
        save(root / "labels" / f"scan{n}.nii.gz", label)
    (root / "classes.txt").write_text("background 0 0 0\ninner 255 0 0\nring 0 255 0\n")
    (root / "val.txt").write_text("scan2\n")
    (root / "train.txt").write_text("scan0\nscan1\n")
    train = open_dataset("nifti", root, split="train", options={"normalise": "zscore"})
    assert [train.volume_id(i) for i in train.ids[::5]] == ["scan0", "scan1"]
    s = train.load("scan1_slice_004")
    np.testing.assert_array_equal(s.label, phantom(1)[1][:, :, 4])
    val = open_dataset("nifti", root, split="val")
    assert val.volumes() == {"scan2": [f"scan2_slice_{k:03d}" for k in range(5)]}
    with pytest.raises(ValueError, match="no test split"):
        open_dataset("nifti", root, split="test")
