"""Edges: label boundaries, the boundary F-measure, HED trained on label boundaries (bundled demo data)."""

import json

import numpy as np
import pytest
import torch

from scribblesup.edges import boundary_f_measure, label_boundaries


def test_boundaries_of_a_square_known_answer():
    lab = np.zeros((8, 8), np.uint8)
    lab[2:6, 2:6] = 1
    b = label_boundaries(lab)
    inner = np.zeros((8, 8), bool)
    inner[2:6, 2:6] = True
    ring_in = inner & ~np.pad(np.ones((2, 2), bool), 3)  # the square's own outline
    grown = np.zeros((8, 8), bool)
    grown[1:7, 1:7] = True
    cross = grown.copy()
    cross[[1, 1, 6, 6], [1, 6, 1, 6]] = False  # 4-neighbours only: corners outside do not touch the square
    ring_out = cross & ~inner
    assert np.array_equal(b == 1, ring_in | ring_out)
    assert set(np.unique(b)) == {0, 1}
    # torch batches give the same
    assert torch.equal(label_boundaries(torch.from_numpy(lab)[None]).squeeze(0), torch.from_numpy(b).long())


def test_boundaries_ignore_unlabelled():
    lab = np.zeros((4, 6), np.uint8)
    lab[:, 3:] = 255
    b = label_boundaries(lab)
    assert (b[:, 3:] == 255).all() and (b[:, 2] == 255).all() and (b[:, :2] == 0).all()
    lab = np.array([[0, 0, 0, 1, 255, 255]] * 3, np.uint8)  # a class boundary beside an unknown region
    b = label_boundaries(lab)
    assert b[0].tolist() == [0, 0, 1, 1, 255, 255]


def test_f_measure_on_a_shifted_square():
    truth = label_boundaries(np.pad(np.ones((10, 10), np.uint8), 5))
    shifted = np.roll(truth == 1, 2, axis=1).astype(float)
    exact = boundary_f_measure([truth.astype(float)], [truth])
    assert exact["ods"] == pytest.approx(1.0) and exact["ois"] == pytest.approx(1.0)
    assert boundary_f_measure([shifted], [truth], tolerance=2)["ods"] == pytest.approx(1.0)
    near = boundary_f_measure([shifted], [truth], tolerance=1)["ods"]
    assert 0.2 < near < 0.8  # the top and bottom rows still match, the sides do not
    assert boundary_f_measure([np.zeros_like(shifted)], [truth])["ods"] == 0.0


def test_ods_picks_one_threshold_for_all_images_ois_one_each():
    truth = np.zeros((12, 12), np.uint8)
    truth[:, 6] = 1
    a = np.where(truth == 1, 0.3, 0.0)  # right at a low threshold only
    b = np.where(truth == 1, 0.9, 0.6)  # right at a high threshold only
    r = boundary_f_measure([a, b], [truth, truth], tolerance=0)
    assert r["ois"] == pytest.approx(1.0) and r["ods"] < 0.9


def test_hed_learns_edges_on_the_demo_data_and_is_scored(tmp_path):
    from scribblesup.cli import main
    from scribblesup.train import train
    from test_runs import demo_config

    config = demo_config(tmp_path, "hed", "model.name=hed", "train.task=edges", "data.input_size=[64,64]",
                         "train.steps=30", "train.eval_every=30", "train.lr=0.003", "train.log_every=5")
    run = train(config, progress=False)
    losses = [float(l.split(",")[1]) for l in (run / "scalars.csv").read_text().splitlines()[1:] if l.split(",")[1]]
    assert losses[-1] < 0.8 * losses[0]
    result = json.loads((run / "eval_all_last.json").read_text())
    assert result["score_name"] == "ODS F" and 0 < result["score"] <= 1 and result["images"] == 3
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["model_spec"]["name"] == "hed" and state["model_spec"]["num_classes"] == 1
    assert main(["evaluate", "--run", str(run), "--checkpoint", "last"]) == 0


def test_edges_task_rejects_scribbles_and_class_weights():
    from scribblesup.config import load_config

    with pytest.raises(ValueError, match="boundaries of dense label maps"):
        load_config(None, ["train.task=edges", "data.supervision=scribble"])
    with pytest.raises(ValueError, match="balances edge and non-edge"):
        load_config(None, ["train.task=edges", "train.class_weights=median_frequency"])


def test_an_edge_map_places_the_cut_where_colour_cannot():
    """A flat image: colour and texture say nothing, so without edges the cut goes anywhere; an edge map along
    column 18 puts it there."""
    from scribblesup.propagation import PropagationParams, propagate_scribbles
    from scribblesup.superpixels import build_region_graph

    h, w = 20, 30
    img = np.full((h, w), 0.5)
    yy, xx = np.mgrid[:h, :w]
    superpixels = (xx // 3) + 10 * (yy // 5)  # a grid: a region boundary every 3 columns
    scr = np.full((h, w), 255, np.uint8)
    scr[:, 1], scr[:, 28] = 0, 1
    edges = np.zeros((h, w))
    edges[:, 17:19] = 1.0
    graph = build_region_graph(img, superpixels)
    with_edges = propagate_scribbles(img, scr, 2, PropagationParams(edge_weight=5.0), graph=graph, edges=edges).labels
    assert (with_edges[:, :18] == 0).all() and (with_edges[:, 18:] == 1).all()
    without = propagate_scribbles(img, scr, 2, PropagationParams(edge_weight=0.0), graph=graph, edges=edges).labels
    assert not np.array_equal(without, with_edges)
    assert np.array_equal(propagate_scribbles(img, scr, 2, PropagationParams(), graph=graph).labels, without)


def test_pipeline_with_an_edge_network_on_the_demo_data(tmp_path):
    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import RunDir, read_csv
    from test_runs import demo_config

    config = demo_config(tmp_path, "edgepipe", "pipeline.rounds=1", "pipeline.finetune_steps=1", "pipeline.workers=1",
                         "pipeline.edge_steps=3", "propagation.edge_weight=2", "propagation.n_segments=300")
    run = RunDir(run_pipeline(config, progress=False))
    assert run.edges.last.is_file() and json.loads(run.edges.evaluation("all", "last").read_text())["score_name"] == "ODS F"
    edge_config = (run.edges.config).read_text()
    assert "task: edges" in edge_config and "round0/pseudo" in edge_config  # trained on round 0's labels
    assert len(read_csv(run.rounds_csv)) == 2 and len(list(run.round(1).pseudo.glob("*.png"))) == 3
    assert "edge network: 3 steps on round 0's pseudo-label boundaries" in run.log("pipeline").read_text()
    from scribblesup.config import load_config

    with pytest.raises(ValueError, match="propagation.edge_weight > 0"):
        load_config(None, ["pipeline.edge_steps=3"])
