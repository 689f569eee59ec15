import numpy as np
import pytest
from PIL import Image

from scribblesup.datasets import CAMVID_INFO
from scribblesup.io import atomic_path, read_image, read_label_png, write_label_png


def test_palette_png_round_trip(tmp_path):
    lab = np.array([[0, 1, 2], [10, 255, 3]], np.uint8)
    write_label_png(tmp_path / "a.png", lab, CAMVID_INFO.palette)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "P"
        pal = np.array(im.getpalette()).reshape(-1, 3)
    assert pal[1].tolist() == [128, 0, 0] and pal[255].tolist() == [255, 255, 255]
    assert np.array_equal(read_label_png(tmp_path / "a.png"), lab)


def test_rgb_label_converted_with_palette_or_explained(tmp_path):
    lab = np.array([[0, 3], [8, 255]], np.uint8)
    pal = np.vstack([CAMVID_INFO.palette, np.zeros((256 - 11, 3), np.uint8)])
    pal[255] = 255
    Image.fromarray(pal[lab]).save(tmp_path / "rgb.png")
    assert np.array_equal(read_label_png(tmp_path / "rgb.png", CAMVID_INFO.palette), lab)
    with pytest.raises(ValueError, match="rgb.png: an RGB colour image"):
        read_label_png(tmp_path / "rgb.png")
    Image.fromarray(np.full((2, 2, 3), 7, np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match=r"odd.png: .*colour \(7, 7, 7\)"):
        read_label_png(tmp_path / "odd.png", CAMVID_INFO.palette)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.png") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_read_image_gray_and_colour(tmp_path):
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.zeros((1, 2, 3), np.uint8)).save(tmp_path / "c.png")
    assert read_image(tmp_path / "g.png").shape == (1, 2, 1)
    assert read_image(tmp_path / "g.png").max() == 1.0
    assert read_image(tmp_path / "c.png").shape == (1, 2, 3)
