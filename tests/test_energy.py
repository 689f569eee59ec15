import numpy as np
import pytest

from scribblesup.energy import Energy, network_unary, pairwise_weights, scribble_unary
from scribblesup.superpixels import build_region_graph

U = 255


def test_scribble_unary_fixes_touched_regions_and_restricts_others():
    sp = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    scr = np.full(sp.shape, U, np.uint8)
    scr[0, 0] = 1
    scr[1, 3] = 3
    u = scribble_unary(sp, scr, num_classes=4)
    assert u[0].tolist() == [np.inf, 0, np.inf, np.inf]
    assert u[3].tolist() == [np.inf, np.inf, np.inf, 0]
    # free regions: only the two scribbled classes, at -log(1/2)
    for r in (1, 2):
        assert np.isinf(u[r, [0, 2]]).all()
        assert np.allclose(u[r, [1, 3]], np.log(2))


def test_scribble_conflict_majority_then_lowest_id():
    sp = np.zeros((2, 4), int)
    scr = np.full(sp.shape, U, np.uint8)
    scr[0, :3] = 2
    scr[1, 0] = 1
    assert np.argmin(scribble_unary(sp, scr, 3)[0]) == 2  # majority
    scr[0, 2] = U
    scr[1, 1] = 1  # tie 2 vs 2
    assert np.argmin(scribble_unary(sp, scr, 3)[0]) == 1


def test_scribble_unary_errors():
    sp = np.zeros((2, 2), int)
    with pytest.raises(ValueError, match="no labelled pixel"):
        scribble_unary(sp, np.full((2, 2), U, np.uint8), 2)
    with pytest.raises(ValueError, match="class id 5"):
        scribble_unary(sp, np.array([[5, U], [U, U]], np.uint8), 2)


def test_network_unary_is_region_mean_nll():
    sp = np.array([[0, 0, 1]])
    p = np.array([[[0.5, 0.25, 1.0]], [[0.5, 0.75, 0.0]]])
    u = network_unary(sp, p)
    assert np.allclose(u[0], [(-np.log(0.5) - np.log(0.25)) / 2, (-np.log(0.5) - np.log(0.75)) / 2])
    assert np.isclose(u[1, 0], 0) and np.isfinite(u[1, 1]) and u[1, 1] > 10


def test_pairwise_weights_formula_and_boundary_scaling():
    img = np.zeros((4, 6))
    img[:, 4:] = 1
    lab = np.repeat(np.array([[0, 0, 1, 1, 2, 2]]), 4, 0)
    g = build_region_graph(img, lab)
    w = pairwise_weights(g, weight=2.0, delta_color=1.0, delta_texture=1e9)
    # regions 0 and 1 share colour histogram -> full weight; 1 and 2 differ by 2 in squared L2
    assert np.isclose(w[0], 2.0) and np.isclose(w[1], 2.0 * np.exp(-2.0))
    g.boundary_length = np.array([2.0, 6.0])
    wb = pairwise_weights(g, 2.0, 1.0, 1e9, use_boundary_length=True)
    assert np.allclose(wb, w * np.array([0.5, 1.5]))


def test_energy_evaluation():
    e = Energy([[0, 1], [2, 0], [0, np.inf]], [[0, 1], [1, 2]], [3, 5])
    assert e([0, 1, 0]) == 0 + 0 + 0 + 3 + 5
    assert e([0, 0, 0]) == 2
    assert e([0, 0, 1]) == np.inf


def test_energy_validation():
    with pytest.raises(ValueError, match="non-negative"):
        Energy([[0, 1]], [[0, 0]], [-1])
    with pytest.raises(ValueError, match="edges"):
        Energy([[0, 1]], [[0, 0]], [1, 2])
