"""Refinement: DenseCRF and the grid MRF clean a noisy prediction of a synthetic image with a known answer."""

import sys

import numpy as np
import pytest

from scribblesup.crf import DenseCRFParams, densecrf, refine, refine_labels


def two_regions(channels=1, seed=0):
    """A dark disc on a bright background; ground truth 1 inside, 0 outside; and a noisy 3-class prediction."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :80]
    truth = ((yy - 32) ** 2 + (xx - 40) ** 2 < 20**2).astype(np.uint8)
    image = np.where(truth, 0.2, 0.8) + rng.normal(0, 0.03, truth.shape)
    image = np.repeat(image[..., None], channels, axis=2).clip(0, 1)
    logits = rng.normal(0, 1.0, (3,) + truth.shape)
    logits[1] += 0.8 * truth
    logits[0] += 0.8 * (1 - truth)
    probs = np.exp(logits) / np.exp(logits).sum(0)
    return image, probs, truth


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("method", ["densecrf", "mrf"])
def test_refinement_fixes_a_noisy_prediction(method, channels):
    image, probs, truth = two_regions(channels)
    noisy = (probs.argmax(0) == truth).mean()
    assert noisy < 0.75  # the prediction alone is poor
    refined = refine(image, probs, method)
    assert refined.shape == truth.shape and refined.dtype == np.uint8
    assert (refined == truth).mean() > 0.97


def test_densecrf_returns_probabilities_and_respects_weights():
    image, probs, truth = two_regions()
    q = densecrf(image, probs)
    assert q.shape == probs.shape and np.allclose(q.sum(0), 1, atol=1e-4)
    # without pairwise kernels, mean field keeps the unary's argmax
    plain = densecrf(image, probs, DenseCRFParams(gaussian_weight=0, bilateral_weight=0))
    assert (plain.argmax(0) == probs.argmax(0)).all()


def test_refine_labels_keeps_pinned_pixels():
    image, _, truth = two_regions()
    labels = truth.copy()
    rng = np.random.default_rng(1)
    flips = rng.random(truth.shape) < 0.2
    labels[flips] = 1 - labels[flips]
    keep = np.zeros_like(truth, bool)
    keep[0, :10] = True
    labels[0, :10] = 1  # wrong, but pinned (a scribble says so)
    out = refine_labels(image, labels, 2, "densecrf", keep=keep)
    assert (out[0, :10] == 1).all()
    assert (out == truth)[~keep].mean() > 0.97 > (labels == truth).mean()


def test_unknown_method_and_size_mismatch():
    image, probs, _ = two_regions()
    with pytest.raises(ValueError, match="densecrf, mrf"):
        refine(image, probs, "bilateral")
    with pytest.raises(ValueError, match="differs"):
        densecrf(image[:10], probs)


def test_missing_pydensecrf_says_how_to_install(monkeypatch):
    image, probs, _ = two_regions()
    monkeypatch.setitem(sys.modules, "pydensecrf", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        refine(image, probs, "densecrf")
    assert refine(image, probs, "mrf").shape == image.shape[:2]  # the MRF needs nothing extra
