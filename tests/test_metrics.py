import numpy as np
import pytest

from scribblesup.metrics import ConfusionMatrix, dice, hd95


def test_confusion_matrix_hand_computed_with_ignore():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pr = np.array([[0, 1, 1, 1], [2, 0, 0, 255]])
    cm = ConfusionMatrix(3).update(gt, pr)
    # rows gt, cols prediction; the 255 ground-truth pixel is skipped, the 255 prediction counts as wrong
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # IoU: class 0: 1 / (2 + 2 - 1); class 1: 2 / (3 + 3 - 2); class 2: 1 / (2 + 1 - 1)
    assert np.allclose(cm.iou, [1 / 3, 2 / 4, 1 / 2])
    assert np.isclose(cm.miou, np.mean([1 / 3, 1 / 2, 1 / 2]))
    assert np.isclose(cm.pixel_accuracy, 4 / 7)
    assert np.isclose(cm.mean_accuracy, np.mean([1 / 2, 2 / 3, 1 / 2]))
    summary = cm.summary(["a", "b", "c"])
    assert summary["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert summary["predicted_outside_classes"] == [0, 1, 0] and summary["per_class_iou"]["b"] == 0.5
    cm.update(gt, gt)  # accumulates
    assert cm.counts.sum() == 14


def test_absent_class_is_nan_and_left_out_of_miou():
    cm = ConfusionMatrix(3).update(np.array([0, 1]), np.array([0, 1]))
    assert np.isnan(cm.iou[2]) and cm.miou == 1.0


def test_dice_known_answers():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert dice(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == pytest.approx(2 * 4 / 16)


def test_hd95_known_answers():
    a = np.zeros((20, 20, 20), bool)
    a[5:10, 5:10, 5:10] = True
    assert hd95(a, a) == 0.0
    b = np.roll(a, 3, axis=0)  # shifted by 3 voxels
    assert hd95(a, b) == pytest.approx(3.0)
    assert hd95(a, b, spacing=(2.0, 1.0, 1.0)) == pytest.approx(6.0)
    assert np.isnan(hd95(a, np.zeros_like(a))) and hd95(np.zeros_like(a), np.zeros_like(a)) == 0.0
    # 2D: a single extra far pixel in 1 of many surface points does not move the 95th percentile
    p = np.zeros((50, 50), bool)
    p[10:30, 10:30] = True
    q = p.copy()
    q[45, 45] = True
    assert hd95(p, q) == 0.0


def test_match_channels():
    from scribblesup.inference import match_channels

    rgb = np.random.default_rng(0).random((4, 5, 3))
    assert match_channels(rgb, 3) is rgb
    assert np.allclose(match_channels(rgb, 1)[:, :, 0], rgb.mean(2))
    assert match_channels(rgb[:, :, :1], 3).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="2 channels"):
        match_channels(rgb[:, :, :2], 3)
