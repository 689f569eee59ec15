import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scribblesup.energy import Energy
from scribblesup.graphcut import alpha_expansion, grid_mrf, label_unary, probability_unary


def brute_force(e: Energy) -> float:
    return min(e(np.array(y)) for y in itertools.product(range(e.n_labels), repeat=e.n_nodes))


@st.composite
def potts_energies(draw, max_nodes=6, max_labels=3, forbid=True):
    n = draw(st.integers(2, max_nodes))
    k = draw(st.integers(2, max_labels))
    unary = np.array(draw(st.lists(st.floats(0, 5), min_size=n * k, max_size=n * k))).reshape(n, k)
    if forbid:
        mask = np.array(draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))).reshape(n, k)
        keep = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
        mask[np.arange(n), keep] = False  # every node keeps one allowed label
        unary[mask] = np.inf
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    weights = draw(st.lists(st.floats(0, 5), min_size=len(chosen), max_size=len(chosen)))
    return Energy(unary, np.array(chosen, dtype=np.int64).reshape(-1, 2), weights)


@settings(max_examples=150, deadline=None)
@given(potts_energies())
def test_expansion_never_increases_energy_and_respects_hard_constraints(e):
    r = alpha_expansion(e)
    assert all(b <= a for a, b in zip(r.energies, r.energies[1:]))
    assert np.isfinite(r.energy) and np.isclose(r.energy, e(r.labels))
    assert np.isfinite(e.unary[np.arange(e.n_nodes), r.labels]).all()
    assert r.converged


@settings(max_examples=150, deadline=None)
@given(potts_energies())
def test_expansion_within_factor_two_of_brute_force(e):
    best = brute_force(e)
    assert alpha_expansion(e).energy <= 2 * best + 1e-9


@settings(max_examples=100, deadline=None)
@given(potts_energies(max_labels=2))
def test_expansion_exact_for_two_labels(e):
    assert np.isclose(alpha_expansion(e).energy, brute_force(e))


def test_expansion_exact_without_pairwise():
    rng = np.random.default_rng(0)
    u = rng.random((7, 4))
    e = Energy(u, [[0, 1], [2, 3]], [0.0, 0.0])
    r = alpha_expansion(e)
    assert r.labels.tolist() == u.argmin(1).tolist()


def test_chain_smoothing_known_answer():
    # a chain whose middle node weakly prefers label 1 but is pulled to 0 by strong neighbours
    u = np.array([[0, 9], [0.6, 0.5], [0, 9]], float)
    e = Energy(u, [[0, 1], [1, 2]], [1, 1])
    assert alpha_expansion(e).labels.tolist() == [0, 0, 0]
    assert brute_force(e) == e(np.array([0, 0, 0]))


def test_labels_nobody_may_take_are_skipped_and_infeasible_input_rejected():
    u = np.array([[0, np.inf, 1], [1, np.inf, 0]])
    r = alpha_expansion(Energy(u, [[0, 1]], [5]))
    assert 1 not in r.labels
    with pytest.raises(ValueError, match="no allowed label"):
        alpha_expansion(Energy([[np.inf, np.inf]], np.zeros((0, 2)), []))


def test_larger_random_graph_converges_and_beats_initial():
    rng = np.random.default_rng(3)
    n, k = 400, 6
    u = rng.random((n, k))
    edges = np.unique(np.sort(rng.integers(0, n, (2000, 2)), axis=1), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    e = Energy(u, edges, rng.random(len(edges)))
    r = alpha_expansion(e, max_cycles=20)
    assert r.converged and r.energy < r.energies[0]


def test_grid_mrf_removes_noise_on_synthetic_image():
    h, w = 40, 40
    truth = np.zeros((h, w), int)
    truth[:, 20:] = 1
    image = truth.astype(float)
    rng = np.random.default_rng(0)
    noisy = truth.copy()
    flip = rng.random((h, w)) < 0.15
    noisy[flip] = 1 - noisy[flip]
    refined = grid_mrf(image, label_unary(noisy, 2, confidence=0.7), weight=2.0)
    assert (refined != truth).mean() < 0.01 < (noisy != truth).mean()


def test_grid_mrf_keeps_confident_probabilities():
    p = np.zeros((3, 5, 5))
    p[0, :, :2] = 1
    p[2, :, 2:] = 1
    out = grid_mrf(np.zeros((5, 5)), probability_unary(p), weight=0.1)
    assert (out[:, :2] == 0).all() and (out[:, 2:] == 2).all()
