import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scribblesup.datasets import open_dataset
from scribblesup.metrics import ConfusionMatrix
from scribblesup.propagation import PropagationParams, default_params, propagate_scribbles

U = 255


def test_two_flat_halves_recovered_exactly():
    img = np.zeros((30, 40, 3), np.float32)
    img[:, 20:] = (0.9, 0.2, 0.1)
    scr = np.full((30, 40), U, np.uint8)
    scr[10:20, 5] = 0
    scr[15, 28:35] = 1
    out = propagate_scribbles(img, scr, num_classes=2, params=PropagationParams(n_segments=30))
    truth = np.zeros((30, 40), np.uint8)
    truth[:, 20:] = 1
    assert np.array_equal(out.labels, truth)


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_unscribbled_region_takes_the_class_of_the_neighbour_it_resembles(method):
    # left third dark (class 0, scribbled), middle third dark too (no scribble),
    # right third bright (class 1, scribbled): the middle joins class 0
    img = np.zeros((30, 60), np.float32)
    img[:, 40:] = 1.0
    rng = np.random.default_rng(0)
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    scr = np.full(img.shape, U, np.uint8)
    scr[15, 2:15] = 0
    scr[15, 45:58] = 1
    out = propagate_scribbles(img.clip(0, 1), scr, 2, PropagationParams(superpixel_method=method, n_segments=40))
    assert (out.labels[:, 20:38] == 0).mean() > 0.95
    assert (out.labels[:, 42:] == 1).mean() > 0.95


@st.composite
def scribbled_images(draw):
    h, w = draw(st.integers(8, 24)), draw(st.integers(8, 24))
    k = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, 3)).astype(np.float32)
    scr = np.full((h, w), U, np.uint8)
    n = draw(st.integers(1, 8))
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    scr[ys, xs] = rng.integers(0, k, n)
    return img, scr, k


@settings(max_examples=60, deadline=None)
@given(scribbled_images())
def test_scribbles_kept_and_only_scribbled_classes_appear(case):
    img, scr, k = case
    out = propagate_scribbles(img, scr, k, PropagationParams(n_segments=12))
    marked = scr != U
    assert np.array_equal(out.labels[marked], scr[marked])
    assert set(np.unique(out.labels)) <= set(np.unique(scr[marked]))
    # each region touched by a scribble takes a class scribbled in it
    for r in np.unique(out.graph.labels[marked]):
        assert out.region_labels[r] in set(scr[marked & (out.graph.labels == r)])
    assert all(b <= a for a, b in zip(out.expansion.energies, out.expansion.energies[1:]))


def test_network_unary_overrides_flat_prior():
    # nothing links the middle to either side's look, but the network is sure it is class 1
    img = np.zeros((20, 30), np.float32)
    img[:, 10:20] = 0.5
    img[:, 20:] = 1.0
    scr = np.full(img.shape, U, np.uint8)
    scr[10, 2] = 0
    scr[10, 27] = 1
    probs = np.full((2, 20, 30), 0.5)
    probs[0, :, 10:20], probs[1, :, 10:20] = 0.01, 0.99
    out = propagate_scribbles(img, scr, 2, PropagationParams(n_segments=12), probabilities=probs)
    assert (out.labels[:, 11:19] == 1).all()


def test_input_errors():
    img = np.zeros((10, 10))
    with pytest.raises(ValueError, match="differs from image size"):
        propagate_scribbles(img, np.zeros((10, 11), np.uint8), 2)
    with pytest.raises(ValueError, match="no labelled pixel"):
        propagate_scribbles(img, np.full((10, 10), U, np.uint8), 2)
    with pytest.raises(ValueError, match=r"class ids \[7\]"):
        propagate_scribbles(img, np.full((10, 10), 7, np.uint8), 2)


def _miou(dataset, ids):
    cm = ConfusionMatrix(dataset.info.num_classes)
    for sample_id in ids:
        s = dataset.load(sample_id)
        out = propagate_scribbles(s.image, s.scribble, dataset.info.num_classes, default_params(dataset.info.name))
        marked = s.scribble != U
        assert np.array_equal(out.labels[marked], s.scribble[marked])
        cm.update(s.label, out.labels)
    return cm


def test_real_acdc_slices(acdc_root):
    ds = open_dataset("acdc", acdc_root, split="train", fold=1)
    cm = _miou(ds, ds.ids[100:1500:100])
    # graph-cut propagation of the real scribbles: background near perfect, structures well above chance
    assert cm.iou[0] > 0.95 and cm.miou > 0.7, cm.iou


def test_real_camvid_images(camvid_root):
    ds = open_dataset("camvid", camvid_root, split="train")
    cm = _miou(ds, ds.ids[::90])
    assert cm.pixel_accuracy > 0.8 and cm.miou > 0.5, cm.iou
