"""The dataset labelling loop: content-keyed region-graph cache, settings record, inputs never overwritten,
sample ids that cannot leave their folders (bundled demo data and tiny synthetic trees)."""

import shutil

import numpy as np
import pytest
from PIL import Image

from scribblesup.cli import main
from scribblesup.datasets import check_sample_id, open_dataset
from scribblesup.demo import DEMO_DATA
from scribblesup.io import read_label_png
from scribblesup.labelling import RegionGraphCache, label_dataset, parallel_map
from scribblesup.propagation import default_params, propagate_scribbles


def flipped_copy(src, dst):
    """The same dataset with every image, scribble and label flipped left-right: same ids, other content."""
    shutil.copytree(src, dst)
    for folder in ("images", "scribbles", "labels"):
        for p in (dst / folder).glob("*.png"):
            im = Image.open(p)
            im.load()
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(p)
    return dst


def test_label_dataset_equals_single_image_propagation(tmp_path):
    ds = open_dataset("folder", DEMO_DATA / "acdc")
    params = default_params("acdc")
    result = label_dataset(ds, tmp_path / "out", params, workers=2, progress=False)
    assert result.complete and result.images == 3 and result.coverage == 1.0
    for s in ds:
        direct = propagate_scribbles(s.image, s.scribble, 4, params).labels
        assert np.array_equal(read_label_png(tmp_path / "out" / f"{s.id}.png"), direct)
    assert 0.5 < result.confusion.miou <= 1


def test_the_cache_never_serves_another_images_graph(tmp_path):
    params = default_params("acdc")
    a = open_dataset("folder", DEMO_DATA / "acdc")
    b = open_dataset("folder", flipped_copy(DEMO_DATA / "acdc", tmp_path / "flipped"))
    assert a.ids == b.ids
    cache = RegionGraphCache(tmp_path / "cache", params).fill(a, progress=False)
    first = label_dataset(a, tmp_path / "a", params, cache=cache, progress=False)
    # the same cache folder and ids, other images: entries are recomputed, so the labels are the uncached ones
    second = label_dataset(b, tmp_path / "b", params, cache=cache, progress=False)
    fresh = label_dataset(b, tmp_path / "b_fresh", params, progress=False)
    for i in b.ids:
        assert np.array_equal(read_label_png(tmp_path / "b" / f"{i}.png"), read_label_png(tmp_path / "b_fresh" / f"{i}.png"))
    assert second.confusion.miou == pytest.approx(fresh.confusion.miou)
    assert first.confusion.miou == pytest.approx(second.confusion.miou, abs=0.05)  # flipping changes little
    s = b.load(b.ids[0])
    assert np.array_equal(cache.get(b.ids[0], s.image).labels, params.superpixels(s.image))


def test_parallel_map_keeps_order():
    assert list(parallel_map(abs, range(-20, 0), workers=2)) == list(range(20, 0, -1))
    assert list(parallel_map(abs, iter([-1, -2]), workers=1)) == [1, 2]


def test_propagate_refuses_a_folder_made_with_other_settings(tmp_path, capsys):
    args = ["propagate", "--dataset", "folder", "--root", str(DEMO_DATA / "acdc"), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    before = (tmp_path / "o" / "patient003_frame01_slice_5.png").read_bytes()
    assert main(args + ["--n-segments", "300"]) == 2
    assert "made with other settings (params)" in capsys.readouterr().err
    assert (tmp_path / "o" / "patient003_frame01_slice_5.png").read_bytes() == before
    assert main(args + ["--n-segments", "300", "--overwrite"]) == 0
    assert (tmp_path / "o" / "patient003_frame01_slice_5.png").read_bytes() != before


@pytest.mark.parametrize("option", [["--n-segments", "0"], ["--delta-color", "0"], ["--pairwise-weight", "-1"],
                                    ["--limit", "0"], ["--limit", "-2"], ["--workers", "0"]])
def test_propagate_refuses_nonsense_options(tmp_path, capsys, option):
    args = ["propagate", "--dataset", "folder", "--root", str(DEMO_DATA / "acdc"), "--out", str(tmp_path / "o")]
    try:
        code = main(args + option)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert not (tmp_path / "o").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_outputs_that_are_inputs_are_refused(tmp_path, capsys):
    image = tmp_path / "img.png"
    scribble = tmp_path / "scr.png"
    shutil.copy(DEMO_DATA / "acdc" / "images" / "patient003_frame01_slice_5.png", image)
    shutil.copy(DEMO_DATA / "acdc" / "scribbles" / "patient003_frame01_slice_5.png", scribble)
    before = image.read_bytes(), scribble.read_bytes()
    for out in (["-o", str(image)], ["-o", str(tmp_path / "l.png"), "--overlay", str(scribble)],
                ["-o", str(tmp_path / "." / "img.png")]):
        assert main(["propagate", str(image), str(scribble), *out]) == 2
        assert "would overwrite the input" in capsys.readouterr().err
    assert (image.read_bytes(), scribble.read_bytes()) == before
    assert not (tmp_path / "l.png").exists()


def test_predict_never_overwrites_its_inputs(tmp_path, capsys):
    from test_runs import demo_config
    from scribblesup.train import train

    run = train(demo_config(tmp_path), progress=False)
    images = tmp_path / "images"
    shutil.copytree(DEMO_DATA / "acdc" / "images", images)
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    assert main(["predict", "--run", str(run), "--checkpoint", "last", str(images), "-o", str(images)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before
    (tmp_path / "b").mkdir()
    shutil.copy(images / "patient003_frame01_slice_5.png", tmp_path / "b" / "patient003_frame01_slice_5.png")
    assert main(["predict", "--run", str(run), "--checkpoint", "last", str(images / "patient003_frame01_slice_5.png"),
                 str(tmp_path / "b" / "patient003_frame01_slice_5.png"), "-o", str(tmp_path / "p")]) == 2
    assert "two outputs would be written" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/b", ".hidden", "", "x\x00y"])
def test_sample_ids_are_plain_file_names(bad):
    with pytest.raises(ValueError, match="not a plain file name"):
        check_sample_id(bad, "list.txt")


def test_voc_split_list_with_a_traversal_id_is_refused(tmp_path):
    root = tmp_path / "VOC2012"
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n../../outside\n")
    with pytest.raises(ValueError, match=r"train\.txt: sample id '\.\./\.\./outside' is not a plain file name"):
        open_dataset("voc", root, split="train")


def test_bad_propagation_options_are_named_as_typed(tmp_path, capsys):
    args = ["propagate", "--dataset", "folder", "--root", str(DEMO_DATA / "acdc"), "--out", str(tmp_path / "o")]
    assert main(args + ["--n-segments", "0"]) == 2
    assert "error: --n-segments must be >= 1, got 0" in capsys.readouterr().err
    assert main(args + ["--superpixels", "slic", "--delta-texture", "0"]) == 2
    assert "error: --delta-texture must be > 0" in capsys.readouterr().err
