import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from scribblesup.cli import main as cli
from scribblesup.config import load_config
from scribblesup.io import read_label_png, write_label_png
from scribblesup.train import TrainingSamples, batch_for_step, partial_cross_entropy, train


def tiny_overrides(acdc_root, tmp_path, name, *extra):
    return [
        f"name={name}", f"output.root={tmp_path}", f"data.root={acdc_root}", "data.limit=8", "data.val_limit=20",
        "data.input_size=[48,48]", "model.width=0.125", "train.batch_size=4", "train.steps=8",
        "train.eval_every=4", "train.checkpoint_every=2", "train.log_every=2", "augment.rotate=10", *extra,
    ]


def tiny(acdc_root, tmp_path, name, *extra):
    return load_config(None, tiny_overrides(acdc_root, tmp_path, name, *extra))


def test_partial_cross_entropy_ignores_unlabelled():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 255], [255, 255]]])
    loss = partial_cross_entropy(logits, target)
    assert torch.isclose(loss, torch.log(torch.tensor(3.0)))
    loss.backward()
    assert (logits.grad[0, :, 0, 1:] == 0).all() and (logits.grad[0, :, 1] == 0).all()
    assert partial_cross_entropy(logits, torch.full((1, 2, 2), 255)).item() == 0.0


def test_config_errors_name_the_key(tmp_path):
    (tmp_path / "c.yaml").write_text("train:\n  stepz: 3\n")
    with pytest.raises(ValueError, match=r"c.yaml: unknown config key 'train.stepz'"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match="pseudo_dir"):
        load_config(None, ["data.supervision=pseudo"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(None, ["train.steps"])
    with pytest.raises(ValueError, match="leave train.scribble_weight at 0"):
        load_config(None, ["train.task=edges", "train.scribble_weight=1"])


def test_batches_are_a_function_of_seed_and_step(acdc_root, tmp_path):
    config = tiny(acdc_root, tmp_path, "b")
    samples = TrainingSamples(config)
    a, b = batch_for_step(samples, 3, config), batch_for_step(samples, 3, config)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = batch_for_step(samples, 4, config)
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == (4, 1, 48, 48) and set(a[1].unique().tolist()) <= {0, 1, 2, 3, 255}


def test_training_lowers_the_loss_on_real_slices(acdc_root, tmp_path):
    config = tiny(acdc_root, tmp_path, "lower", "train.steps=30", "train.eval_every=30", "train.lr=0.003")
    run = train(config, progress=False)
    rows = [l.split(",") for l in (run / "scalars.csv").read_text().splitlines()[1:] if l.split(",")[1]]
    losses = [float(r[1]) for r in rows]
    assert losses[-1] < 0.7 * losses[0]
    for f in ("config.yaml", "train.log", "last.pt", "best.pt", "eval_val_last.md", "eval_val_last.json"):
        assert (run / f).is_file()
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["step"] == 30 and {"model", "optimizer", "config"} <= set(state)


def test_kill_and_resume_gives_the_same_weights(acdc_root, tmp_path):
    # validation (every 10 steps, on 4 slices) puts eval rows in the CSV between the training rows; 4 slices keep it quick
    overrides = ["train.steps=30", "train.eval_every=10", "data.val_limit=4"]
    reference = train(tiny(acdc_root, tmp_path, "straight", *overrides), progress=False)
    # a real kill: SIGKILL a training process as soon as it has written a checkpoint
    args = tiny_overrides(acdc_root, tmp_path, "killed", *overrides)
    proc = subprocess.Popen([sys.executable, "-m", "scribblesup", "train", "--set", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert 0 < state["step"] < 30, "the kill came too late to test anything"
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny(acdc_root, tmp_path, "killed", *overrides), progress=False)
    resumed = train(tiny(acdc_root, tmp_path, "killed", *overrides), resume=True, progress=False)
    a = torch.load(reference / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the CSV holds each logged row once: rows logged after the last checkpoint of the killed run were dropped
    rows = [tuple(l.split(",")[:2]) for l in (resumed / "scalars.csv").read_text().splitlines()[1:]]
    keys = [(int(step), loss == "") for step, loss in rows]
    assert len(keys) == len(set(keys)) and [k[0] for k in keys] == sorted(k[0] for k in keys)


def test_resume_before_the_first_checkpoint_starts_the_log_afresh(tmp_path):
    """A run killed before its first checkpoint leaves config.yaml and an empty (header still buffered) or partly
    flushed scalars.csv: the resumed run starts at step 0 and writes one header and each step once."""
    from scribblesup.runs import RunDir, read_csv, train_seconds
    from test_runs import demo_config

    config = demo_config(tmp_path, "early", "train.steps=4", "train.log_every=1", "train.checkpoint_every=4")
    run = RunDir(train(config, progress=False))
    logged = run.scalars.read_text()
    for leftover in ("", logged.splitlines(keepends=True)[1]):  # nothing flushed; a row flushed without its header
        run.last.unlink()
        run.scalars.write_text(leftover)
        train(config, resume=True, progress=False)
        rows = read_csv(run.scalars)
        assert [int(r["step"]) for r in rows if r["loss"]] == [1, 2, 3, 4]
        assert train_seconds(run) > 0


def test_pseudo_supervision_and_evaluate_predict_cli(acdc_root, tmp_path, capsys):
    from scribblesup.datasets import open_dataset

    ds = open_dataset("acdc", acdc_root, "train")
    pseudo = tmp_path / "pseudo"
    for sample_id in ds.ids[:8]:
        write_label_png(pseudo / f"{sample_id}.png", ds.load(sample_id).label)
    config = tiny(acdc_root, tmp_path, "pseudo", "data.supervision=pseudo", f"data.pseudo_dir={pseudo}")
    run = train(config, progress=False)
    assert cli(["evaluate", "--run", str(run), "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "mean Dice" in out and (run / "eval_val_best.md").is_file()
    import json

    report = json.loads((run / "eval_val_best.json").read_text())
    assert np.array(report["confusion"]["confusion_matrix"]).shape == (4, 4)
    assert all(set(v) == {"RV", "Myo", "LV"} for v in report["per_volume"].values())
    png = tmp_path / "img.png"
    from scribblesup.io import write_image

    write_image(png, ds.load(ds.ids[0]).image)
    assert cli(["predict", "--run", str(run), str(png), "-o", str(tmp_path / "pred"), "--probabilities"]) == 0
    pred = read_label_png(tmp_path / "pred" / "img.png")
    prob = np.load(tmp_path / "pred" / "img_prob.npy")
    assert pred.shape == ds.load(ds.ids[0]).image.shape[:2] and prob.shape == (4, *pred.shape)
    assert np.array_equal(prob.argmax(0), pred)
    assert cli(["evaluate", "--run", str(tmp_path / "nope")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_scribble_term_adds_its_own_mean_to_the_pseudo_labels_cross_entropy():
    from scribblesup.train import train_step

    model = torch.nn.Conv2d(1, 2, 1)
    torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)  # logits 0: every term is log 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    images = torch.rand(2, 1, 4, 4)
    pseudo = torch.zeros(2, 4, 4, dtype=torch.long)
    scribbles = torch.full((2, 4, 4), 255)
    scribbles[0, 0, :2] = 1  # 2 scribbled pixels of 32: their mean still counts with the whole weight
    step = dict(lr=0.0, amp_dtype=torch.float16, use_amp=False)
    both = torch.stack([pseudo, scribbles], 1)
    log2 = float(np.log(2))
    assert train_step(model, optimizer, scaler, images, pseudo, **step) == pytest.approx(log2)
    assert train_step(model, optimizer, scaler, images, both, **step, scribble_weight=0.5) == pytest.approx(1.5 * log2)
    assert train_step(model, optimizer, scaler, images, both, **step) == pytest.approx(log2)  # weight 0: off


def test_scribbles_travel_beside_pseudo_labels_through_the_same_view(acdc_root, tmp_path):
    from scribblesup.datasets import open_dataset

    ds = open_dataset("acdc", acdc_root, "train")
    pseudo = tmp_path / "pseudo"
    for sample_id in ds.ids[:8]:
        write_label_png(pseudo / f"{sample_id}.png", ds.load(sample_id).label)
    config = tiny(acdc_root, tmp_path, "s", "data.supervision=pseudo", f"data.pseudo_dir={pseudo}",
                  "train.scribble_weight=1")
    images, targets = batch_for_step(TrainingSamples(config), 3, config)
    labels, scribbles = targets[:, 0], targets[:, 1]
    plain = tiny(acdc_root, tmp_path, "p", "data.supervision=pseudo", f"data.pseudo_dir={pseudo}")
    images_alone, labels_alone = batch_for_step(TrainingSamples(plain), 3, plain)
    assert torch.equal(images, images_alone) and torch.equal(labels, labels_alone)
    # pseudo labels here are the ground truth, and the real scribbles agree with it where they were drawn
    drawn = scribbles != 255
    assert drawn.any() and (drawn.float().mean() < 0.2)
    assert (scribbles[drawn] == labels[drawn]).float().mean() > 0.95
    run = train(load_config(None, tiny_overrides(acdc_root, tmp_path, "run", "data.supervision=pseudo",
                                                 f"data.pseudo_dir={pseudo}", "train.scribble_weight=1",
                                                 "train.steps=4", "train.eval_every=4")), progress=False)
    assert "scribbles' partial cross-entropy x 1" in (run / "train.log").read_text()
    with pytest.raises(ValueError, match="scribble_weight adds the scribbles to pseudo labels; data.supervision is full"):
        TrainingSamples(tiny(acdc_root, tmp_path, "f", "train.scribble_weight=1"))
