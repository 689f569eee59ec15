"""Run folders: safe checkpoints that rebuild their model, resume checks, the folder lock (bundled demo data)."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from scribblesup.cli import main
from scribblesup.config import config_differences, load_config
from scribblesup.demo import DEMO_DATA
from scribblesup.runs import RunDir, load_checkpoint, load_run, run_lock
from scribblesup.train import train


def demo_overrides(tmp_path, name="demo") -> list[str]:
    return [f"name={name}", f"output.root={tmp_path}", "data.dataset=folder", f"data.root={DEMO_DATA / 'acdc'}",
            "data.train_split=all", "data.val_split=all", "data.input_size=[32,32]", "model.width=0.125",
            "train.steps=2", "train.batch_size=2", "train.eval_every=2", "train.checkpoint_every=1"]


def demo_config(tmp_path, name="demo", *extra):
    return load_config(None, [*demo_overrides(tmp_path, name), *extra])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    return train(demo_config(tmp), progress=False), tmp


class Payload:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_planted_checkpoint_runs_no_code(demo_run, tmp_path, capsys):
    run_dir, _ = demo_run
    marker = tmp_path / "payload_ran"
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    torch.save({"model": Payload(marker)}, planted / "best.pt")
    assert main(["evaluate", "--run", str(planted)]) == 2
    err = capsys.readouterr().err
    assert "best.pt: not a readable scribblesup checkpoint" in err and "Traceback" not in err
    assert main(["predict", "--run", str(planted), str(DEMO_DATA / "acdc" / "images"), "-o", str(tmp_path / "p")]) == 2
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(planted / "best.pt")
    assert not marker.exists(), "unpickling the checkpoint ran the planted code"
    # and init_from refuses it too
    with pytest.raises(ValueError, match="not a readable"):
        train(demo_config(tmp_path, "init", f"train.init_from={planted / 'best.pt'}"), progress=False)
    assert not marker.exists()


def test_truncated_checkpoint_is_a_clear_error(demo_run, tmp_path, capsys):
    run_dir, _ = demo_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "last.pt").write_bytes((run_dir / "last.pt").read_bytes()[:1000])
    assert main(["evaluate", "--run", str(broken), "--checkpoint", "last"]) == 2
    assert "last.pt: not a readable scribblesup checkpoint" in capsys.readouterr().err


def test_a_run_folder_alone_rebuilds_the_model(demo_run, tmp_path):
    run_dir, _ = demo_run
    state = torch.load(run_dir / "last.pt", weights_only=True)
    assert state["model_spec"] == {"name": "unet", "num_classes": 4, "in_channels": 1, "width": 0.125, "options": {}}
    assert state["classes"]["names"] == ["background", "RV", "Myo", "LV"]
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for f in ("config.yaml", "last.pt"):
        (moved / f).write_bytes((run_dir / f).read_bytes())
    model, config, info = load_run(moved, "last", torch.device("cpu"))
    assert info.num_classes == 4 and info.palette.shape == (4, 3) and config.name == "demo"
    ref, _, _ = load_run(run_dir, "last", torch.device("cpu"))
    x = torch.rand(1, 1, 32, 32)
    assert torch.equal(model(x), ref(x))


def test_resume_refuses_a_changed_config_before_writing(demo_run, tmp_path):
    _, tmp = demo_run
    run = RunDir(tmp / "demo")
    before = run.config.read_text()
    with pytest.raises(ValueError, match=r"--resume with a different config \(model.width, train.lr\)"):
        train(demo_config(tmp, "demo", "model.width=0.25", "train.lr=0.01"), resume=True, progress=False)
    assert run.config.read_text() == before
    # more steps is an allowed change
    train(demo_config(tmp, "demo", "train.steps=3"), resume=True, progress=False)
    assert torch.load(run.last, weights_only=True)["step"] == 3


def test_a_locked_run_folder_is_refused(tmp_path):
    code = ("import sys, time; from scribblesup.runs import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "r")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FileExistsError, match="another process is using this folder"):
            with run_lock(tmp_path / "r"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path / "r"):  # released by the kill
        pass


def test_a_run_refused_before_it_writes_leaves_no_folder(tmp_path):
    # a folder the lock made and nothing else wrote to goes again (bad input: nothing half-written)
    with pytest.raises(ValueError):
        with run_lock(tmp_path / "new"):
            raise ValueError("bad input")
    assert not (tmp_path / "new").exists()
    with run_lock(tmp_path / "kept"):
        (tmp_path / "kept" / "config.yaml").write_text("x")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [".lock", "config.yaml"]
    # a folder that was there before stays, empty or not
    (tmp_path / "old").mkdir()
    with run_lock(tmp_path / "old"):
        pass
    assert (tmp_path / "old").is_dir()
    # through the command line: one line, exit 2, no run folder
    recipe = pathlib.Path(__file__).resolve().parents[1] / "experiments/configs/scribblesup-bias-gcrf_acdc-fold1_cpu.yaml"
    r = subprocess.run([sys.executable, "-m", "scribblesup", "run", "--config", str(recipe), "--set", f"output.root={tmp_path / 'runs'}", "name=x", "propagation.class_bias=[0,0.1]"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "class_bias has 2 values" in r.stderr
    assert not (tmp_path / "runs" / "x").exists()
    # a test-time offset naming a class the data lacks: refused before round 0's label inference, not after training
    r = subprocess.run([sys.executable, "-m", "scribblesup", "run", "--config", str(recipe), "--set", f"output.root={tmp_path / 'runs'}", "name=x", "test.logit_offset={Aorta: 1}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "test.logit_offset: logit offset for Aorta: no such class (classes: background, RV, Myo, LV)" in r.stderr
    assert not (tmp_path / "runs" / "x").exists()


def test_outputs_get_the_usual_permissions(demo_run):
    run_dir, _ = demo_run
    for f in ("last.pt", "config.yaml", "eval_all_last.json"):
        mode = (run_dir / f).stat().st_mode & 0o777
        assert mode & 0o044 == 0o044, f"{f} has mode {oct(mode)}"  # group/other readable under the usual umask
    assert not list(run_dir.glob(".*.tmp*"))


def test_folder_dataset_lists_no_hidden_temp_files(tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(DEMO_DATA / "acdc", root)
    (root / "images" / ".patient003_frame01_slice_5.png.x1y2.tmp.png").write_bytes(b"half written")
    from scribblesup.datasets import open_dataset

    ds = open_dataset("folder", root)
    assert len(ds) == 3 and not any(i.startswith(".") for i in ds.ids)
    assert np.isfinite(ds[0].image).all()


def test_pipeline_end_to_end_on_the_bundled_demo_data(tmp_path):
    """Without ../shared: two rounds of graph cut and training on the demo slices, scored, evaluated from the folder."""
    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import read_csv

    config = demo_config(tmp_path, "pipe", "pipeline.rounds=1", "pipeline.finetune_steps=1", "pipeline.workers=1",
                         "propagation.n_segments=300")
    run = RunDir(run_pipeline(config, progress=False))
    rows = read_csv(run.rounds_csv)
    assert [r["round"] for r in rows] == ["0", "1"]
    assert float(rows[0]["pseudo_miou"]) > 0.5 and float(rows[0]["pseudo_coverage"]) == 1.0
    for k in (0, 1):
        assert sorted(p.stem for p in run.round(k).pseudo.glob("*.png")) == [
            "patient003_frame01_slice_5", "patient011_frame01_slice_4", "patient017_frame01_slice_3"]
    assert torch.load(run.round(1).last, weights_only=True)["step"] == 1
    assert main(["evaluate", "--run", str(run.round(1).path), "--checkpoint", "last"]) == 0
    assert run.round(1).evaluation("all", "last").is_file()


def test_training_and_the_pipeline_without_validation_labels(tmp_path, capsys):
    """Scribbles only, no dense labels anywhere: a warning, no traceback, best.pt is the last checkpoint."""
    import shutil

    from scribblesup.pipeline import run_pipeline
    from scribblesup.runs import read_csv

    root = tmp_path / "nolabels"
    shutil.copytree(DEMO_DATA / "acdc", root)
    shutil.rmtree(root / "labels")
    run = RunDir(train(demo_config(tmp_path, "scr", f"data.root={root}", "data.supervision=scribble"), progress=False))
    assert "has no labels" in capsys.readouterr().err and "has no labels" in run.log().read_text()
    best, last = (torch.load(p, weights_only=True) for p in (run.best, run.last))
    assert best["step"] == last["step"] == 2 and all(torch.equal(best["model"][k], last["model"][k]) for k in best["model"])
    assert "not scored" in run.evaluation("all", "last", suffix=".md").read_text()
    pipe = RunDir(run_pipeline(demo_config(tmp_path, "pipe", f"data.root={root}", "pipeline.rounds=1",
                                           "pipeline.finetune_steps=1", "pipeline.workers=1"), progress=False))
    rows = read_csv(pipe.rounds_csv)
    assert len(rows) == 2 and rows[0]["pseudo_miou"] == "" and float(rows[1]["pseudo_coverage"]) == 1.0


def test_training_validates_on_a_holdout_of_its_training_images(tmp_path):
    import json

    run = train(demo_config(tmp_path, "held", "data.holdout=1", "data.val_split=holdout"), progress=False)
    result = json.loads((run / "eval_holdout_last.json").read_text())
    assert result["images"] == 1  # the held-out image; the other two trained
    assert "2 training images" in (run / "train.log").read_text()


def test_a_class_bias_of_the_wrong_length_stops_the_pipeline_before_it_writes(tmp_path):
    from scribblesup.pipeline import run_pipeline

    config = demo_config(tmp_path, "bias", "propagation.class_bias=[0,0.1]")
    with pytest.raises(ValueError, match="propagation.class_bias has 2 values for 4 classes"):
        run_pipeline(config, progress=False)
    assert not (tmp_path / "bias" / "config.yaml").exists() and not (tmp_path / "cache").exists()


def test_a_logit_offset_calibrates_evaluate_and_predict_and_a_wrong_class_is_refused(demo_run, tmp_path, capsys):
    """A class's logit lowered far enough is never predicted (known answer); the offset shifts every log-probability
    by its value up to one constant per pixel (invariant); the evaluation is filed under its own name."""
    import json

    from scribblesup.inference import logit_offset_vector, predict_probabilities
    from scribblesup.io import write_image

    run_path, _ = demo_run
    run = RunDir(run_path)
    assert main(["evaluate", "--run", str(run.path), "--checkpoint", "last", "--logit-offset", "Myo=-1000"]) == 0
    path = run.evaluation("all", "last", logit_offset={"Myo": -1000})
    assert path.name == "eval_all_last_offsetMyo-1000.json"
    result = json.loads(path.read_text())
    assert result["logit_offset"] == {"Myo": -1000}
    assert np.array(result["confusion"]["confusion_matrix"])[:, 2].sum() == 0  # no pixel predicted Myo
    report = path.with_suffix(".md").read_text()  # its report beside it, titled by the run, split and offset
    assert report.startswith(f"# demo: all, last checkpoint, logit offset Myo=-1000\n")
    model, config, info = load_run(run.path, "last")
    image = np.random.default_rng(0).random((40, 36, 1)).astype(np.float32)
    offset = logit_offset_vector({"RV": 0.5, "LV": -2.0}, info.class_names)
    plain, shifted = (np.log(predict_probabilities(model, image, config.data.input_size, logit_offset=o))
                      for o in (None, offset))
    drift = shifted - plain - offset[:, None, None]
    assert np.allclose(drift, drift[:1], atol=1e-4)  # the same constant for every class of a pixel
    write_image(tmp_path / "img.png", image)
    assert main(["predict", "--run", str(run.path), "--checkpoint", "last", str(tmp_path / "img.png"), "-o",
                 str(tmp_path / "pred"), "--probabilities", "--logit-offset", "Myo=-1000"]) == 0
    assert np.load(tmp_path / "pred" / "img_prob.npy")[2].max() == 0
    # a class the run does not have: one line naming the run and the classes, exit 2, nothing written
    capsys.readouterr()
    before = sorted(p.name for p in run.path.iterdir())
    assert main(["evaluate", "--run", str(run.path), "--logit-offset", "Aorta=1"]) == 2
    err = capsys.readouterr().err
    assert "Aorta: no such class" in err and str(run.path) in err and "Traceback" not in err
    assert main(["predict", "--run", str(run.path), str(tmp_path / "img.png"), "-o", str(tmp_path / "p2"),
                 "--logit-offset", "Aorta=1"]) == 2
    assert sorted(p.name for p in run.path.iterdir()) == before and not (tmp_path / "p2").exists()


def test_a_config_logit_offset_is_what_evaluate_applies_and_training_ignores(tmp_path, capsys):
    """test.logit_offset travels with the run (its checkpoints) and is evaluate's default; --no-logit-offset gives the
    run's own plain evaluation back; a resume may change it; a class the data lacks is refused before training."""
    import json

    config = demo_config(tmp_path, "cal", "test.logit_offset={Myo: -1000}")
    assert main(["train", "--set", *demo_overrides(tmp_path, "cal"), "test.logit_offset={Myo: -1000}"]) == 0
    assert "all, last checkpoint, logit offset Myo=-1000" in capsys.readouterr().out  # printed beside the plain one
    run = RunDir(config.run_dir())
    plain = json.loads(run.evaluation("all", "last").read_text())  # the run's own score: not calibrated
    assert "logit_offset" not in plain
    written = run.evaluation("all", "last", logit_offset={"Myo": -1000})
    assert np.array(json.loads(written.read_text())["confusion"]["confusion_matrix"])[:, 2].sum() == 0  # no Myo
    written.unlink()
    assert main(["evaluate", "--run", str(run.path), "--checkpoint", "last"]) == 0
    calibrated = json.loads(written.read_text())
    assert calibrated["logit_offset"] == {"Myo": -1000}
    assert np.array(calibrated["confusion"]["confusion_matrix"])[:, 2].sum() == 0  # no pixel predicted Myo
    assert main(["evaluate", "--run", str(run.path), "--checkpoint", "last", "--no-logit-offset"]) == 0
    again = json.loads(run.evaluation("all", "last").read_text())
    assert again["confusion"]["confusion_matrix"] == plain["confusion"]["confusion_matrix"]
    with pytest.raises(SystemExit) as exit_:  # argparse: the two are exclusive
        main(["evaluate", "--run", str(run.path), "--no-logit-offset", "--logit-offset", "Myo=1"])
    assert exit_.value.code == 2
    # what evaluate reads changes nothing in training: a resume may change it, and round 0 is shared across it
    changed = demo_config(tmp_path, "cal", "test.logit_offset={LV: 0.5}")
    assert config_differences(config, changed) == ["test.logit_offset"]
    train(changed, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"test.logit_offset: logit offset for Aorta: no such class"):
        train(demo_config(tmp_path, "bad", "test.logit_offset={Aorta: 1}"), progress=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match=r"--set test.logit_offset=\{Myo: high\}: test.logit_offset.Myo must be float, got .high."):
        load_config(None, ["test.logit_offset={Myo: high}"])
