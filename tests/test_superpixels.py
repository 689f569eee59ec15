import networkx as nx
import numpy as np
import pytest
from skimage.segmentation import slic

from scribblesup.superpixels import adjacency, build_region_graph, compute_superpixels, relabel_contiguous


def halves(h=20, w=20, rgb=False):
    img = np.zeros((h, w), np.float32)
    img[:, w // 2 :] = 1.0
    return np.repeat(img[:, :, None], 3, axis=2) if rgb else img


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("shape", [(20, 20), (17, 31), (64, 9)])
def test_superpixels_contiguous_and_respect_edges(method, rgb, shape):
    img = halves(*shape, rgb=rgb)
    labels = compute_superpixels(img, method=method, n_segments=24)
    assert labels.shape == shape and labels.dtype == np.int32
    assert labels.min() == 0
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    # no superpixel straddles the sharp vertical edge
    left = np.unique(labels[:, : shape[1] // 2])
    right = np.unique(labels[:, shape[1] // 2 :])
    assert not set(left) & set(right)


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="slic, felzenszwalb"):
        compute_superpixels(halves(), method="watershed")


def test_relabel_contiguous_keeps_order():
    lab = np.array([[5, 5, 9], [2, 9, 2]])
    assert relabel_contiguous(lab).tolist() == [[1, 1, 2], [0, 2, 0]]


def test_adjacency_known_answer():
    lab = np.array([[0, 0, 1], [0, 0, 1], [2, 2, 1]])
    edges, length = adjacency(lab)
    assert edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    # 0|1: two horizontal pairs; 0/2: two vertical pairs; 1-2: one horizontal pair
    assert length.tolist() == [2, 2, 1]


def test_region_graph_features_known_answer():
    img = np.zeros((4, 6), np.float32)
    img[:, 3:] = 1.0
    lab = np.zeros((4, 6), np.int32)
    lab[:, 3:] = 1
    g = build_region_graph(img, lab, color_bins=25, texture_bins=10)
    assert g.n_regions == 2
    assert g.size.tolist() == [12, 12]
    assert np.allclose(g.centroid, [[1.5, 1.0], [1.5, 4.0]])
    assert np.allclose(g.mean_color[:, 0], [0.0, 1.0])
    assert g.color_hist.shape == (2, 25) and np.allclose(g.color_hist.sum(1), 1)
    assert g.color_hist[0, 0] == 1 and g.color_hist[1, 24] == 1
    assert g.texture_hist.shape == (2, 20) and np.allclose(g.texture_hist.sum(1), 2)
    assert g.edges.tolist() == [[0, 1]] and g.boundary_length.tolist() == [4]


def test_colour_histogram_has_bins_per_channel():
    rng = np.random.default_rng(0)
    img = rng.random((30, 30, 3)).astype(np.float32)
    lab = compute_superpixels(img, n_segments=20)
    g = build_region_graph(img, lab)
    assert g.color_hist.shape == (g.n_regions, 75)
    assert np.allclose(g.color_hist.reshape(g.n_regions, 3, 25).sum(2), 1)


def test_region_graph_matches_brute_force_on_slic():
    rng = np.random.default_rng(1)
    img = rng.random((40, 50, 3))
    lab = relabel_contiguous(slic(img, 30, start_label=0))
    g = build_region_graph(img, lab)
    pairs = {}
    h, w = lab.shape
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy < h and x + dx < w and lab[y, x] != lab[y + dy, x + dx]:
                    k = tuple(sorted((lab[y, x], lab[y + dy, x + dx])))
                    pairs[k] = pairs.get(k, 0) + 1
    assert sorted(pairs) == [tuple(e) for e in g.edges.tolist()]
    assert [pairs[tuple(e)] for e in g.edges.tolist()] == g.boundary_length.tolist()
    for r in range(g.n_regions):
        assert np.allclose(g.mean_color[r], img[lab == r].mean(0))


def test_to_networkx():
    lab = np.array([[0, 0, 1], [2, 2, 1]])
    g = build_region_graph(np.zeros((2, 3)), lab).to_networkx()
    assert isinstance(g, nx.Graph)
    assert sorted(g.edges) == [(0, 1), (0, 2), (1, 2)]
    assert g.nodes[1]["size"] == 2 and g.edges[0, 2]["boundary_length"] == 2


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="differs"):
        build_region_graph(np.zeros((4, 4)), np.zeros((4, 5), int))
