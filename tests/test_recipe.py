"""Label-inference options beyond the 2016 paper: pixel-level rounds, pseudo labels that leave uncertain pixels
open, and class areas tracked round over round (known answers on tiny images; the bundled demo data)."""

from dataclasses import replace

import numpy as np
import pytest

from scribblesup.propagation import PropagationParams, low_margin, propagate_scribbles


def straddling_case():
    """Two halves split at column 10; superpixels are 4-column blocks, so the block 8..11 straddles the boundary."""
    h, w = 12, 20
    img = np.zeros((h, w))
    img[:, 10:] = 1.0
    superpixels = np.broadcast_to(np.arange(w) // 4, (h, w)).copy()
    p = np.empty((2, h, w))
    p[0] = np.where(np.arange(w) < 10, 0.9, 0.1)
    p[1] = 1 - p[0]
    scr = np.full((h, w), 255, np.uint8)
    scr[:, 1], scr[:, 18] = 0, 1
    return img, superpixels, p, scr


def test_a_pixel_level_round_recovers_a_boundary_that_a_superpixel_straddles():
    img, superpixels, p, scr = straddling_case()
    truth = np.where(np.arange(20) < 10, 0, 1)
    region = propagate_scribbles(img, scr, 2, PropagationParams(network_weight=1.0), p, superpixels=superpixels).labels
    assert (region[:, 8:12] == region[0, 8]).all()  # the straddling block takes one class: 2 columns wrong
    assert (region != truth).sum() == 2 * 12
    pixel = propagate_scribbles(img, scr, 2, PropagationParams(level="pixel"), p, superpixels=superpixels).labels
    assert (pixel == truth).all()


def test_pixel_level_keeps_scribbles_and_scribbled_classes_only():
    img, superpixels, p, scr = straddling_case()
    p3 = np.concatenate([p * 0.5, np.full((1, 12, 20), 0.5)])  # a third class the network likes, never scribbled
    scr[5, 12] = 0  # a scribble inside the other half
    out = propagate_scribbles(img, scr, 3, PropagationParams(level="pixel"), p3, superpixels=superpixels).labels
    assert set(np.unique(out)) <= {0, 1} and out[5, 12] == 0


def test_low_margin_pixels_are_left_open_but_scribbles_are_kept():
    img, superpixels, p, scr = straddling_case()
    p = p.copy()
    p[0, :, 14:17], p[1, :, 14:17] = 0.52, 0.48  # an uncertain band
    scr[3, 15] = 1
    params = PropagationParams(level="pixel", ignore_margin=0.1)
    out = propagate_scribbles(img, scr, 2, params, p, superpixels=superpixels).labels
    band = np.zeros((12, 20), bool)
    band[:, 14:17] = True
    band[3, 15] = False
    assert (out[band] == 255).all() and out[3, 15] == 1 and (out[~band] != 255).all()
    assert low_margin(scr, 2, p, 0.1).sum() == band.sum()
    # the margin is taken among the scribbled classes: a class no scribble names does not make pixels uncertain
    p3 = np.concatenate([p[:, :, :] * 0.5, np.full((1, 12, 20), 0.5)])
    assert low_margin(scr, 3, p3, 0.1).sum() == band.sum()


def test_recipe_end_to_end_on_the_demo_data(tmp_path):
    """The pipeline with pixel-level rounds, open uncertain pixels and median-frequency weights per round."""
    import json

    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import RunDir, read_csv
    from test_runs import demo_config

    config = demo_config(tmp_path, "recipe", "pipeline.rounds=1", "pipeline.finetune_steps=1", "pipeline.workers=1",
                         "propagation.n_segments=300", "propagation.level=pixel", "propagation.ignore_margin=0.05",
                         "train.class_weights=median_frequency")
    run = RunDir(run_pipeline(config, progress=False))
    rows = read_csv(run.rounds_csv)
    assert float(rows[0]["pseudo_coverage"]) == 1.0 and float(rows[1]["pseudo_coverage"]) < 1.0
    weights = [json.loads(run.round(k).class_weights.read_text()) for k in (0, 1)]
    assert all(w["source"].startswith("pseudo labels in") for w in weights)
    assert weights[0]["pixels"] != weights[1]["pixels"]  # recomputed on each round's labels
    labels = json.loads(run.round(1).labels_json.read_text())
    assert sum(labels["class_pixels"]) < sum(json.loads(run.round(0).labels_json.read_text())["class_pixels"])


def test_shrinking_classes_are_flagged(tmp_path):
    import json

    from scribblesup.pipeline import shrinking_classes
    from scribblesup.runs import RunDir

    run = RunDir(tmp_path)
    for k, areas in ((0, [100, 480, 50]), (1, [120, 370, 45])):
        run.round(k).path.mkdir()
        run.round(k).labels_json.write_text(json.dumps({"class_pixels": areas}))
    lines = shrinking_classes(run, 1, ["Sky", "Car", "Pole"])
    assert len(lines) == 1 and "class Car shrank from 480 to 370" in lines[0] and "-23%" in lines[0]


def test_an_unsure_network_abstains_below_the_confidence_threshold():
    """Regions A | C | B: C looks like A, the scribbles name A (class 0) and B (class 1); the network leans to 1 in C
    with confidence 0.6. It decides C while it may speak; below a 0.7 threshold its unary is dropped in C and the
    pairwise term hands C to A."""
    img = np.full((12, 18), 0.2)
    img[:, 12:] = 0.9
    superpixels = np.repeat(np.array([0] * 6 + [1] * 6 + [2] * 6)[None], 12, axis=0)
    scr = np.full((12, 18), 255, np.uint8)
    scr[6, 2], scr[6, 15] = 0, 1
    p = np.empty((2, 12, 18))
    p[0] = np.select([superpixels == 0, superpixels == 1], [0.9, 0.4], 0.1)
    p[1] = 1 - p[0]
    params = PropagationParams(network_weight=5.0, use_boundary_length=False)
    speaks = propagate_scribbles(img, scr, 2, params, p, superpixels=superpixels)
    abstains = propagate_scribbles(img, scr, 2, replace(params, network_confidence=0.7), p, superpixels=superpixels)
    assert speaks.region_labels.tolist() == [0, 1, 1] and abstains.region_labels.tolist() == [0, 0, 1]
    # only C's network unary is dropped: A and B (confidence 0.9) keep theirs (their scribbled costs are inf)
    assert np.allclose(speaks.energy.unary[1] - abstains.energy.unary[1], 5 * -np.log([0.4, 0.6]))
    assert np.array_equal(speaks.energy.unary[[0, 2]], abstains.energy.unary[[0, 2]])


def test_refine_moves_a_straddling_superpixel_boundary_only_as_far_as_the_prior_allows():
    """The refine level starts from the superpixel labels (the straddling block 8..11 one class: 2 columns wrong) and
    lets the pixel cut follow the network and the image edge; a prior far stronger than -log P keeps them."""
    img, superpixels, p, scr = straddling_case()
    truth = np.where(np.arange(20) < 10, 0, 1)
    params = PropagationParams(network_weight=1.0, level="refine", refine_weight=0.5)
    region = propagate_scribbles(img, scr, 2, replace(params, level="superpixel"), p, superpixels=superpixels).labels
    refined = propagate_scribbles(img, scr, 2, params, p, superpixels=superpixels).labels
    kept = propagate_scribbles(img, scr, 2, replace(params, refine_weight=10.0), p, superpixels=superpixels).labels
    assert (region != truth).sum() == 2 * 12 and (refined == truth).all() and (kept == region).all()
    # -log 0.1 - -log 0.9 = 2.2 per pixel for the network: a prior of 0.5 yields, one of 10 holds


def test_a_class_bias_hands_the_regions_a_cut_is_indifferent_about_to_the_cheaper_neighbour():
    """Five equal blocks of one colour, scribbled 0 | . | 1 | . | 2: the cut costs the same wherever it runs, so the
    unscribbled blocks are a tie. A cost on the middle class gives them to the outer classes; a cost on the outer
    classes gives them to the middle one. Scribbled blocks keep their class whatever the bias."""
    img = np.full((8, 20), 0.5)
    superpixels = np.repeat((np.arange(20) // 4)[None], 8, axis=0)
    scr = np.full((8, 20), 255, np.uint8)
    scr[4, 1], scr[4, 9], scr[4, 17] = 0, 1, 2
    params = PropagationParams(use_boundary_length=False)
    thin = propagate_scribbles(img, scr, 3, replace(params, class_bias=[0, 0.1, 0]), superpixels=superpixels)
    thick = propagate_scribbles(img, scr, 3, replace(params, class_bias=[0.1, 0, 0.1]), superpixels=superpixels)
    assert thin.region_labels.tolist() == [0, 0, 1, 2, 2] and thick.region_labels.tolist() == [0, 1, 1, 1, 2]
    # one unit is one average region: the middle class costs 0.1 per block, whatever the (equal) block size
    assert np.allclose(thin.energy.unary[1], [np.log(3), np.log(3) + 0.1, np.log(3)])


def test_a_small_class_bias_leaves_a_contrast_edge_where_it_is():
    img = np.zeros((16, 16))
    img[:, 8:] = 1
    scr = np.full((16, 16), 255, np.uint8)
    scr[8, 2], scr[8, 13] = 0, 1
    for bias in ([0, 0.1], [0.1, 0]):
        out = propagate_scribbles(img, scr, 2, PropagationParams(n_segments=16, class_bias=bias))
        assert (out.labels[:, :8] == 0).all() and (out.labels[:, 8:] == 1).all()
    with pytest.raises(ValueError, match="class_bias has 3 values for 2 classes"):
        propagate_scribbles(img, scr, 2, PropagationParams(n_segments=16, class_bias=[0, 0, 0.1]))


def test_a_network_offset_calibrates_the_network_before_it_votes():
    """Two unscribbled blocks between a 0- and a 1-scribbled block, no pairwise term: the network's 0.6 for class 1
    hands them to class 1; its logit lowered by log(0.6/0.4) + 0.1 tips them to class 0 (known answer), in every
    use of the probabilities (the ignore margin too); a list of the wrong length is refused."""
    from scribblesup.energy import calibrate_probabilities

    img = np.full((4, 16), 0.5)
    superpixels = np.repeat((np.arange(16) // 4)[None], 4, axis=0)
    scr = np.full((4, 16), 255, np.uint8)
    scr[2, 1], scr[2, 14] = 0, 1
    p = np.stack([np.full((4, 16), 0.4), np.full((4, 16), 0.6)])
    params = PropagationParams(pairwise_weight=0, network_weight=1.0)
    plain = propagate_scribbles(img, scr, 2, params, p, superpixels=superpixels)
    tipped = replace(params, network_offset=[0.0, -np.log(1.5) - 0.1])
    calibrated = propagate_scribbles(img, scr, 2, tipped, p, superpixels=superpixels)
    assert plain.region_labels.tolist() == [0, 1, 1, 1] and calibrated.region_labels.tolist() == [0, 0, 0, 1]
    # an offset of log(1.5) exactly makes the network's two classes equally likely: margin 0, every unscribbled pixel
    # left open by any ignore margin
    even = calibrate_probabilities(p, [0.0, -np.log(1.5)])
    assert np.allclose(even, 0.5)
    opened = propagate_scribbles(img, scr, 2, replace(params, network_offset=[0.0, -np.log(1.5)], ignore_margin=0.01),
                                 p, superpixels=superpixels).labels
    assert ((opened == 255) == (scr == 255)).all()
    with pytest.raises(ValueError, match="network_offset has 3 values for 2 classes"):
        propagate_scribbles(img, scr, 2, replace(params, network_offset=[0, 0, 1]), p, superpixels=superpixels)


def demo_recipe_overrides(tmp_path):
    """An ACDC recipe config shrunk to the bundled demo data (ACDC's four classes): one round, a few steps."""
    from test_runs import DEMO_DATA

    return [f"output.root={tmp_path}", "data.dataset=folder", f"data.root={DEMO_DATA / 'acdc'}",
            "data.train_split=all", "data.val_split=all", "data.input_size=[32,32]", "model.width=0.125",
            "train.steps=2", "train.batch_size=2", "train.eval_every=2", "train.checkpoint_every=1",
            "pipeline.rounds=1", "pipeline.finetune_steps=1", "pipeline.workers=1"]


def test_the_class_bias_recipe_runs_end_to_end_on_the_demo_data(tmp_path):
    """experiments/configs/scribblesup-bias_acdc-fold1_cpu.yaml, shrunk to the bundled demo data (ACDC's four
    classes), runs its rounds; on these three images a Myo bias of 0.1 flips no region in round 0, 0.3 hands some of
    Myo's to the background, as the known-answer tests above say it should."""
    import json
    from pathlib import Path

    from scribblesup.config import load_config
    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import RunDir

    recipe = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "scribblesup-bias_acdc-fold1_cpu.yaml"
    small = demo_recipe_overrides(tmp_path)
    runs = {}
    for name, extra in (("recipe", []), ("paper", ["propagation.class_bias=null", "pipeline.rounds=0"]),
                        ("stronger", ["propagation.class_bias=[0,0,0.3,0]", "pipeline.rounds=0"])):
        runs[name] = RunDir(run_pipeline(load_config(recipe, [*small, f"name={name}", *extra]), progress=False))
    assert runs["recipe"].round(1).checkpoint("last").is_file()
    assert load_config(runs["recipe"].config).propagation.class_bias == [0, 0, 0.1, 0]
    area = {k: json.loads(r.round(0).labels_json.read_text())["class_pixels"] for k, r in runs.items()}
    assert area["recipe"] == area["paper"]
    (bg, rv, myo, lv), (bg0, rv0, myo0, lv0) = area["stronger"], area["paper"]
    assert myo < myo0 and bg - bg0 == myo0 - myo and (rv, lv) == (rv0, lv0)


@pytest.mark.parametrize("recipe, loss, offset", [
    ("scribblesup-bias-sw", "scribbles' partial cross-entropy x 1\n", "Myo=-1.5"),
    ("scribblesup-bias-gcrf", "scribbles' partial cross-entropy x 1 + gated CRF x 0.3\n", "Myo=-1.5 RV=1")])
def test_the_recipes_train_every_round_with_their_scribble_terms(tmp_path, recipe, loss, offset):
    """experiments/configs/<recipe>_acdc-fold1_cpu.yaml on the bundled demo data: scribblesup-bias-sw (the
    recommended ACDC recipe) and scribblesup-bias-gcrf (its ablation with the gated CRF loss). Every round's network
    trains on the pseudo labels plus the recipe's scribble terms, the graph cut carries the Myo bias, and the final
    round is also scored with the config's test-time offset; the same-steps control fine-tunes on round 0's labels
    with the same terms."""
    from pathlib import Path

    from scribblesup.config import load_config
    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import RunDir

    configs = Path(__file__).resolve().parents[1] / "experiments" / "configs"
    small = demo_recipe_overrides(tmp_path)
    for stem in (f"{recipe}_acdc-fold1_cpu", f"{recipe}-control_acdc-fold1_cpu"):
        config = load_config(configs / f"{stem}.yaml", small)
        run = RunDir(run_pipeline(config, progress=False))
        assert config.propagation.class_bias == [0, 0, 0.1, 0]
        for k in (0, 1):
            log = run.round(k).log().read_text()
            assert f"loss: cross-entropy + {loss}" in log, (stem, k)
        assert f"with test.logit_offset {offset}:" in run.round(1).log().read_text()
        trained_on = load_config(run.round(1).config).data.pseudo_dir
        assert Path(trained_on) == run.round(0 if "control" in stem else 1).pseudo
