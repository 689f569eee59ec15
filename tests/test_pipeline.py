"""The ScribbleSup pipeline end to end on a few real ACDC slices: rounds, pseudo labels, CSV, resume."""

import csv
import json

import numpy as np
import pytest
import torch

from scribblesup.cli import main
from scribblesup.config import load_config
from scribblesup.datasets import open_dataset
from scribblesup.figures import plot_rounds, pseudo_labels_of, qualitative_grid
from scribblesup.io import read_label_png
from scribblesup.pipeline import cache_folder, run_pipeline, share_round_zero
from scribblesup.superpixels import build_region_graph, compute_superpixels, load_region_graph, save_region_graph

N_TRAIN = 6


def pipeline_config(acdc_root, tmp_path, name, *extra):
    return load_config(None, [
        f"name={name}", f"output.root={tmp_path}", f"data.root={acdc_root}", f"data.limit={N_TRAIN}",
        "data.val_limit=4", "data.input_size=[48,48]", "model.width=0.125", "train.batch_size=2", "train.steps=4",
        "train.eval_every=4", "train.checkpoint_every=1", "train.log_every=2", "pipeline.rounds=2",
        "pipeline.finetune_steps=3", "pipeline.workers=1", "propagation.n_segments=400", *extra,
    ])


def rounds_csv(run_dir):
    with (run_dir / "rounds.csv").open() as f:
        return list(csv.DictReader(f))


def final_weights(run_dir, k=2):
    return torch.load(run_dir / f"round{k}" / "last.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def finished_run(acdc_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    config = pipeline_config(acdc_root, tmp, "straight", "pipeline.workers=2")
    return run_pipeline(config, progress=False), tmp


def test_every_round_writes_pseudo_labels_scores_and_a_network(finished_run, acdc_root):
    run_dir, _ = finished_run
    ds = open_dataset("acdc", acdc_root, split="train")
    ids = ds.ids[:N_TRAIN]
    rows = rounds_csv(run_dir)
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    for k, row in enumerate(rows):
        assert 0 < float(row["pseudo_miou"]) <= 1 and float(row["pseudo_coverage"]) == 1.0
        assert row["val_score"] != "" and 0 <= float(row["val_score"]) <= 1
        assert (run_dir / f"round{k}" / "last.pt").is_file()
        assert sorted(p.stem for p in (run_dir / f"round{k}" / "pseudo").glob("*.png")) == sorted(ids)
        for i in ids[:3]:  # scribbled pixels keep their class in every round
            s = ds.load(i)
            labels = read_label_png(run_dir / f"round{k}" / "pseudo" / f"{i}.png")
            marked = s.scribble != 255
            assert labels.shape == s.label.shape and (labels[marked] == s.scribble[marked]).all()
    assert float(rows[0]["pseudo_miou"]) > 0.5  # round 0 on real scribbles is a real segmentation
    log = (run_dir / "pipeline.log").read_text()
    assert "round 2: network" in log and "pseudo-label mIoU" in log
    # fine-tuning: round 1 starts from round 0's network
    assert "initialised from" in (run_dir / "round1" / "train.log").read_text()


def test_round_zero_labels_match_single_image_propagation(finished_run, acdc_root):
    """The cached region graphs give the same labels as propagating from scratch."""
    from scribblesup.propagation import propagate_scribbles

    run_dir, _ = finished_run
    config = load_config(run_dir / "config.yaml")
    ds = open_dataset("acdc", acdc_root, split="train")
    i = ds.ids[2]
    s = ds.load(i)
    direct = propagate_scribbles(s.image, s.scribble, 4, config.propagation_params()).labels
    assert (read_label_png(run_dir / "round0" / "pseudo" / f"{i}.png") == direct).all()


@pytest.mark.parametrize("where", [(1, "labels", 0), (1, "labels", 2), (1, "train", 1)])
def test_resume_after_an_interruption_gives_the_same_run(finished_run, acdc_root, where):
    reference, tmp = finished_run
    name = f"cut_{where[0]}_{where[1]}_{where[2]}"  # (1, "labels", 0): killed between rounds 0 and 1
    assert run_pipeline(pipeline_config(acdc_root, tmp, name), progress=False, interrupt=where) is None
    run_dir = tmp / name
    if where[1] == "labels":
        assert len(list((run_dir / f"round{where[0]}" / "pseudo").glob("*.png"))) == where[2]
        assert not (run_dir / f"round{where[0]}" / "labels.json").exists()
    else:
        assert not (run_dir / f"round{where[0]}" / "eval_val_last.json").exists()
    with pytest.raises(FileExistsError, match="--resume"):
        run_pipeline(pipeline_config(acdc_root, tmp, name), progress=False)
    run_pipeline(pipeline_config(acdc_root, tmp, name), resume=True, progress=False)
    assert [r["pseudo_miou"] for r in rounds_csv(run_dir)] == [r["pseudo_miou"] for r in rounds_csv(reference)]
    a, b = final_weights(reference), final_weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_more_rounds_continue_a_finished_run(finished_run, acdc_root):
    reference, tmp = finished_run
    run_pipeline(pipeline_config(acdc_root, tmp, "grow", "pipeline.rounds=1"), progress=False)
    assert len(rounds_csv(tmp / "grow")) == 2
    run_pipeline(pipeline_config(acdc_root, tmp, "grow"), resume=True, progress=False)
    assert len(rounds_csv(tmp / "grow")) == 3
    a, b = final_weights(reference), final_weights(tmp / "grow")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_without_pairwise_round_zero_labels_only_scribbled_superpixels(finished_run, acdc_root):
    _, tmp = finished_run
    config = pipeline_config(acdc_root, tmp, "nopair", "propagation.pairwise_weight=0", "pipeline.rounds=1")
    run_dir = run_pipeline(config, progress=False)
    rows = rounds_csv(run_dir)
    assert 0 < float(rows[0]["pseudo_coverage"]) < 0.5  # scribbled superpixels only; the rest is 255
    assert float(rows[1]["pseudo_coverage"]) == 1.0  # the network unary labels every region in round 1
    labels = read_label_png(next((run_dir / "round0" / "pseudo").glob("*.png")))
    assert (labels == 255).any()


def test_scratch_rounds_do_not_start_from_the_previous_network(finished_run, acdc_root):
    _, tmp = finished_run
    run_dir = run_pipeline(pipeline_config(acdc_root, tmp, "scratch", "pipeline.init=scratch", "pipeline.rounds=1"),
                           progress=False)
    assert "initialised from" not in (run_dir / "round1" / "train.log").read_text()
    assert torch.load(run_dir / "round1" / "last.pt", weights_only=True)["step"] == 4  # train.steps, not finetune_steps


def test_same_steps_control_trains_every_round_on_round_zero_labels(finished_run, acdc_root):
    reference, tmp = finished_run
    config = pipeline_config(acdc_root, tmp, "control", "pipeline.relabel=false")
    assert share_round_zero(reference, config)  # only rounds >= 1 differ: round 0 is the reference's, linked
    assert (tmp / "control" / "round0" / "last.pt").samefile(reference / "round0" / "last.pt")
    assert not share_round_zero(reference, config)  # a run folder with a round 0 is left alone
    run_dir = run_pipeline(config, progress=False)
    rows = rounds_csv(run_dir)
    assert [r["pseudo_miou"] for r in rows] == [rounds_csv(reference)[0]["pseudo_miou"]] * 3
    assert not (run_dir / "round1" / "pseudo").exists()  # no label inference after round 0
    assert json.loads((run_dir / "round2" / "labels.json").read_text())["labels_of_round"] == 0
    for k in (1, 2):
        cfg = load_config(run_dir / f"round{k}" / "config.yaml")
        assert cfg.data.pseudo_dir == str(run_dir / "round0" / "pseudo") and cfg.train.steps == 3
    assert not all(torch.equal(final_weights(reference)[k], final_weights(run_dir)[k]) for k in final_weights(run_dir))


def test_round_zero_is_shared_only_when_nothing_it_uses_differs(finished_run, acdc_root):
    reference, tmp = finished_run
    assert not share_round_zero(reference, pipeline_config(acdc_root, tmp, "other_loss", "train.crf_loss.weight=0.1"))
    assert not share_round_zero(reference, pipeline_config(acdc_root, tmp, "other_seed", "train.seed=1"))
    assert not (tmp / "other_loss").exists() and not (tmp / "other_seed").exists()
    assert share_round_zero(reference, pipeline_config(acdc_root, tmp, "pixel", "propagation.level=pixel",
                                                       "propagation.ignore_margin=0.1", "pipeline.rounds=1"))
    assert share_round_zero(reference, pipeline_config(acdc_root, tmp, "later", "pipeline.later_crf_loss_weight=0.1"))


def test_a_later_crf_loss_weight_changes_rounds_one_on_only(acdc_root, tmp_path):
    from scribblesup.pipeline import round_config
    from scribblesup.runs import RunDir

    config = pipeline_config(acdc_root, tmp_path, "r0crf", "train.crf_loss.weight=0.03",
                             "pipeline.later_crf_loss_weight=0")
    run = RunDir(config.run_dir())
    assert [round_config(config, run, k).train.crf_loss.weight for k in (0, 1, 2)] == [0.03, 0, 0]
    every = pipeline_config(acdc_root, tmp_path, "every", "train.crf_loss.weight=0.03")
    assert [round_config(every, run, k).train.crf_loss.weight for k in (0, 1)] == [0.03, 0.03]


def test_region_graph_cache_round_trip(acdc_root, tmp_path):
    s = open_dataset("acdc", acdc_root, split="train").load(open_dataset("acdc", acdc_root, split="train").ids[0])
    graph = build_region_graph(s.image, compute_superpixels(s.image, n_segments=300))
    save_region_graph(tmp_path / "g.npz", graph)
    back = load_region_graph(tmp_path / "g.npz")
    for f in ("labels", "edges", "boundary_length", "color_hist", "texture_hist", "size"):
        assert np.array_equal(getattr(graph, f), getattr(back, f))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz.*delete it"):
        load_region_graph(tmp_path / "bad.npz")


def test_cache_is_shared_by_superpixel_setting(acdc_root, tmp_path):
    a = pipeline_config(acdc_root, tmp_path, "a")
    b = pipeline_config(acdc_root, tmp_path, "b", "propagation.pairwise_weight=0")
    c = pipeline_config(acdc_root, tmp_path, "c", "propagation.n_segments=800")
    assert cache_folder(a) == cache_folder(b) != cache_folder(c)


def test_cli_run_and_refined_evaluation(finished_run, acdc_root, capsys):
    reference, tmp = finished_run
    args = ["run", "--set", "name=cli", f"output.root={tmp}", f"data.root={acdc_root}", "data.limit=4",
            "data.val_limit=2", "data.input_size=[48,48]", "model.width=0.125", "train.batch_size=2", "train.steps=2",
            "train.eval_every=2", "pipeline.rounds=1", "pipeline.finetune_steps=1", "pipeline.workers=1",
            "propagation.n_segments=400"]
    assert main(args) == 0
    assert "pseudo_miou" in capsys.readouterr().out
    assert main(args) == 2  # exists: asks for --resume
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    for method in ("mrf", "densecrf"):
        assert main(["evaluate", "--run", str(reference / "round2"), "--checkpoint", "last", "--limit", "3",
                     "--refine", method]) == 0
        result = json.loads((reference / "round2" / f"eval_val_last_{method}.json").read_text())
        assert result["refine"] == method and result["images"] == 3


def test_figures_of_a_run(finished_run, acdc_root, tmp_path):
    run_dir, _ = finished_run
    out = plot_rounds({"run": run_dir}, tmp_path / "rounds.png", "mIoU", {"full": 0.9})
    assert out.stat().st_size > 1000
    ds = open_dataset("acdc", acdc_root, split="train")
    s = ds.load(ds.ids[0])
    pseudo = pseudo_labels_of(run_dir, s.id)
    assert list(pseudo) == ["pseudo r0", "pseudo r1", "pseudo r2"]
    row = {"image": s.image, "scribbles": s.scribble, "superpixels": compute_superpixels(s.image, n_segments=200),
           **pseudo, "ground truth": s.label}
    grid = qualitative_grid([row, row], tmp_path / "grid.png", ds.info.palette)
    from PIL import Image

    with Image.open(grid) as im:
        assert im.size[0] > im.size[1] > 100


def kill_when(proc, ready, deadline_s=180):
    """SIGKILL ``proc`` as soon as ``ready()`` holds (polled every few ms)."""
    import os
    import signal
    import time

    deadline = time.time() + deadline_s
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("phase", ["labels", "train"])
def test_sigkill_of_a_real_run_then_resume(acdc_root, tmp_path, phase):
    """A `scribblesup run` process killed with SIGKILL inside label inference or inside training resumes to the
    uninterrupted run's labels and weights, and leaves no temporary file behind."""
    import subprocess
    import sys

    overrides = [f"output.root={tmp_path}", f"data.root={acdc_root}", "data.limit=40", "data.val_limit=4",
                 "data.input_size=[48,48]", "model.width=0.125", "train.batch_size=2", "train.steps=6",
                 "train.eval_every=6", "train.checkpoint_every=1", "pipeline.rounds=1", "pipeline.finetune_steps=3",
                 "pipeline.workers=1", "propagation.n_segments=400"]
    reference = run_pipeline(load_config(None, ["name=reference", *overrides]), progress=False)
    args = [sys.executable, "-m", "scribblesup", "run", "--set", "name=killed", *overrides]
    run = tmp_path / "killed"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if phase == "labels":  # round 0's label inference: killed after its first pseudo labels
        kill_when(proc, lambda: len(list((run / "round0" / "pseudo").glob("*.png"))) >= 2)
        written = len(list((run / "round0" / "pseudo").glob("*.png")))
        assert 0 < written < 40 and not (run / "round0" / "labels.json").exists(), "the kill missed label inference"
    else:  # round 0's training: killed after its first checkpoint
        kill_when(proc, lambda: (run / "round0" / "last.pt").exists())
        assert not (run / "round0" / "eval_val_last.json").exists(), "the kill came after training"
    assert subprocess.run(args + ["--resume"], capture_output=True).returncode == 0
    assert not [p for p in run.rglob(".*") if ".tmp" in p.name], "a temporary file was left behind"
    for k in (0, 1):
        for png in (reference / f"round{k}" / "pseudo").glob("*.png"):
            assert png.read_bytes() == (run / f"round{k}" / "pseudo" / png.name).read_bytes()
    a, b = final_weights(reference, 1), final_weights(run, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unweighting_gives_back_the_unweighted_network_and_its_labels(finished_run, acdc_root, tmp_path):
    from scribblesup.energy import calibrate_probabilities
    from scribblesup.inference import parse_logit_offset
    from scribblesup.pipeline import unweighted_params
    from scribblesup.propagation import PropagationParams

    # a weighted network's q_c ~ w_c p_c: the offsets give p back, on top of any network_offset
    w, p = np.array([4.0, 1.0, 0.25]), np.array([[0.2], [0.3], [0.5]])
    q = w[:, None] * p / (w[:, None] * p).sum()
    f = tmp_path / "class_weights.json"
    f.write_text(json.dumps({"weights": w.tolist()}))
    params = unweighted_params(PropagationParams(network_offset=[0.0, 0.0, 1.0]), f, 3)
    assert np.allclose(calibrate_probabilities(q, params.network_offset), calibrate_probabilities(p, [0, 0, 1]))
    f.write_text(json.dumps({"weights": [0.0, 2.0]}))  # a class never trained on: nothing to undo
    assert np.allclose(unweighted_params(PropagationParams(), f, 2).network_offset, [0.0, -np.log(2.0)])
    f.write_text(json.dumps({"weights": None}))
    plain = PropagationParams()
    assert unweighted_params(plain, f, 2) is plain
    # a missing, corrupt or wrong-sized file: one error naming it
    for text, what in [(None, "not the loss weights"), ("{oops", "not the loss weights"),
                       ('{"weights": [1.0, 2.0]}', "2 loss weights for 3 classes")]:
        g = tmp_path / "bad.json"
        g.unlink(missing_ok=True)
        if text is not None:
            g.write_text(text)
        with pytest.raises(ValueError, match=f"bad.json: {what}"):
            unweighted_params(plain, g, 3)
    # in a run: round 1 votes with -log of round 0's loss weights, and only rounds >= 1 change (round 0 is shared)
    reference, tmp = finished_run
    weighted = pipeline_config(acdc_root, tmp, "weighted", "train.class_weights=median_frequency",
                               "pipeline.rounds=1")
    config = pipeline_config(acdc_root, tmp, "unweighted", "train.class_weights=median_frequency",
                             "pipeline.rounds=1", "pipeline.unweight_network=true")
    run_pipeline(weighted, progress=False)
    assert share_round_zero(tmp / "weighted", config)
    run_pipeline(config, progress=False)
    weights = json.loads((tmp / "unweighted" / "round0" / "class_weights.json").read_text())["weights"]
    log = (tmp / "unweighted" / "pipeline.log").read_text().splitlines()
    line = next(s for s in log if "network unary unweighted" in s)
    offsets = list(parse_logit_offset(line.split("logit offsets ")[1]).values())
    assert np.allclose(offsets, -np.log(weights), atol=5e-4) and np.ptp(offsets) > 0.1
    files = sorted((tmp / "weighted" / "round1" / "pseudo").glob("*.png"))
    assert len(files) == N_TRAIN
    assert any((read_label_png(f) != read_label_png(tmp / "unweighted" / "round1" / "pseudo" / f.name)).any()
               for f in files)  # the prior moved some labels
