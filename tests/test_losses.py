"""Losses and class weights: known answers, ignored pixels, absent classes, where the weights come from."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scribblesup.losses import balanced_bce, class_pixel_counts, class_weights, partial_cross_entropy


def test_weighted_partial_cross_entropy_equals_a_hand_computation():
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 3.0]]]])  # (1, 2 classes, 1, 3)
    target = torch.tensor([[[0, 1, 255]]])
    w = torch.tensor([0.5, 2.0])
    p = torch.softmax(logits[0, :, 0], dim=0)  # (2, 3)
    expected = (0.5 * -torch.log(p[0, 0]) + 2.0 * -torch.log(p[1, 1])) / (0.5 + 2.0)
    assert torch.isclose(partial_cross_entropy(logits, target, weight=w), expected)
    # uniform weights give the unweighted loss
    assert torch.isclose(partial_cross_entropy(logits, target, weight=torch.ones(2)), partial_cross_entropy(logits, target))


def test_ignored_pixels_get_no_gradient_with_weights():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 255], [2, 255]]])
    partial_cross_entropy(logits, target, weight=torch.tensor([1.0, 5.0, 3.0])).backward()
    assert (logits.grad[0, :, :, 1] == 0).all() and (logits.grad[0, :, :, 0] != 0).all()


def test_median_frequency_known_answer_and_absent_class():
    # class 0: 30 px in 2 images of 20 labelled px each; class 1: 10 px in 1 image; class 2: absent
    targets = [np.array([0] * 20), np.array([0] * 10 + [1] * 10 + [255] * 5)]
    counts, image_pixels = class_pixel_counts([t.reshape(1, -1) for t in targets], 3)
    assert counts.tolist() == [30, 10, 0] and image_pixels.tolist() == [40, 20, 0]
    w = class_weights(counts, image_pixels, "median_frequency")
    f = np.array([30 / 40, 10 / 20])
    assert np.allclose(w[:2], np.median(f) / f) and w[2] == 1.0 and np.isfinite(w).all()
    assert np.allclose(class_weights(counts, image_pixels, "sqrt_median_frequency") ** 2, w)
    inv = class_weights(counts, image_pixels, "inverse_sqrt_frequency")
    assert np.isclose(inv[:2].mean(), 1.0) and inv[1] > inv[0] and inv[2] == 1.0
    assert class_weights(counts, image_pixels, "none") is None
    assert class_weights(counts, image_pixels, [1, 2, 3]).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="3 finite non-negative"):
        class_weights(counts, image_pixels, [1, 2])
    with pytest.raises(ValueError, match="no labelled pixel"):
        class_weights(np.zeros(3), np.zeros(3), "median_frequency")


def test_balanced_bce_balances_and_ignores():
    logits = torch.zeros(1, 1, 2, 4, requires_grad=True)
    target = torch.tensor([[[[1, 0, 0, 0], [0, 0, 0, 255]]]])
    loss = balanced_bce(logits, target)
    beta = 6 / 7  # non-edge share of the 7 labelled pixels
    expected = np.log(2) * (beta * 1 + (1 - beta) * 6) / 7
    assert np.isclose(loss.item(), expected, atol=1e-6)
    loss.backward()
    assert logits.grad[0, 0, 1, 3] == 0  # the ignored pixel
    g = logits.grad[0, 0]
    assert np.isclose(-g[0, 0].item(), 6 * g[0, 1].item(), atol=1e-7)  # one edge pulls as hard as six non-edges
    plain = F.binary_cross_entropy_with_logits(logits.detach()[0, 0, 0], target[0, 0, 0].float())
    assert not np.isclose(loss.item(), plain.item())


def test_scribble_run_counts_scribbles_and_pseudo_run_counts_pseudo_labels(tmp_path):
    """The weights of a weakly supervised run come from what it trains on, never from ground truth."""
    from scribblesup.demo import DEMO_DATA
    from scribblesup.io import read_label_png, write_label_png
    from scribblesup.datasets import open_dataset
    from scribblesup.train import train
    from test_runs import demo_config

    run = train(demo_config(tmp_path, "scr", "data.supervision=scribble", "train.class_weights=median_frequency"),
                progress=False)
    info = json.loads((run / "class_weights.json").read_text())
    ds = open_dataset("folder", DEMO_DATA / "acdc")
    scribbled = np.bincount(np.concatenate([s.scribble[s.scribble < 4] for s in ds]), minlength=4)
    labelled = np.bincount(np.concatenate([s.label[s.label < 4].ravel() for s in ds]), minlength=4)
    assert info["source"].startswith("scribbles") and info["pixels"] == scribbled.tolist() != labelled.tolist()
    assert "class weights (median_frequency, from scribbles" in (run / "train.log").read_text()
    pseudo = tmp_path / "pseudo"
    for s in ds:
        write_label_png(pseudo / f"{s.id}.png", np.where(s.label == 3, 2, s.label))  # no LV at all
    run = train(demo_config(tmp_path, "pse", "data.supervision=pseudo", f"data.pseudo_dir={pseudo}",
                            "train.class_weights=median_frequency"), progress=False)
    info = json.loads((run / "class_weights.json").read_text())
    assert info["source"].startswith("pseudo labels in") and info["pixels"][3] == 0 and info["weights"][3] == 1.0
    counts = np.bincount(np.concatenate([read_label_png(p).ravel() for p in sorted(pseudo.glob("*.png"))]), minlength=4)
    assert info["pixels"] == counts[:4].tolist()


def test_gated_crf_loss_prefers_cuts_along_intensity_edges():
    from scribblesup.losses import gated_crf_loss

    h, w = 16, 16
    split = torch.zeros(1, 2, h, w)
    split[:, 0, :, :8], split[:, 1, :, 8:] = 1, 1  # a hard cut between columns 7 and 8
    flat = torch.zeros(1, 1, h, w)
    edged = flat.clone()
    edged[..., 8:] = 1.0  # an intensity edge exactly where the cut is
    on_flat = gated_crf_loss(split, flat, radius=3, downscale=1)
    on_edge = gated_crf_loss(split, edged, radius=3, downscale=1)
    assert on_flat > 0 and on_edge < 1e-6 * on_flat
    uncertain = torch.full((1, 2, h, w), 0.5)
    assert gated_crf_loss(uncertain, flat, radius=3, downscale=1) > on_flat * 0  # 1 - 0.5 everywhere: positive
    # a known answer: two pixels, one pair each way, K = exp(-1 / (2 * 6^2)) on a flat image
    two = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    expected = 2 * np.exp(-1 / 72) / 2  # two ordered pairs, disagreement 1 each, over two pixels
    assert np.isclose(gated_crf_loss(two, torch.zeros(1, 1, 1, 2), radius=1, downscale=1).item(), expected, atol=1e-6)


def test_gated_crf_loss_reaches_unlabelled_pixels():
    """pCE gives unscribbled pixels no gradient; the regularised loss does."""
    from scribblesup.losses import gated_crf_loss

    logits = torch.randn(1, 3, 10, 10, requires_grad=True)
    gated_crf_loss(torch.softmax(logits, 1), torch.rand(1, 3, 10, 10), radius=2, downscale=1).backward()
    assert (logits.grad.abs().sum(1) > 0).all()


def test_training_with_the_gated_crf_loss(tmp_path):
    from scribblesup.train import train
    from test_runs import demo_config

    a = train(demo_config(tmp_path, "pce", "data.supervision=scribble"), progress=False)
    b = train(demo_config(tmp_path, "gcrf", "data.supervision=scribble", "train.crf_loss.weight=1.0"), progress=False)
    la = [l.split(",")[1] for l in (a / "scalars.csv").read_text().splitlines()[1:] if l.split(",")[1]]
    lb = [l.split(",")[1] for l in (b / "scalars.csv").read_text().splitlines()[1:] if l.split(",")[1]]
    assert la != lb  # the regulariser is part of the loss
