"""The experiment scripts run and write their tables through experiments/common.py (bundled demo data)."""

import os
import subprocess
import sys
from pathlib import Path

from scribblesup.demo import DEMO_DATA

ROOT = Path(__file__).resolve().parents[1]


def run_script(tmp_path, *args):
    env = dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path))
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_tune_propagation_writes_its_table_with_provenance(tmp_path):
    run_script(tmp_path, "experiments/tune_propagation.py", "--dataset", "folder", "--root", str(DEMO_DATA / "acdc"),
               "--every", "1", "--superpixels", "slic:300", "--deltas", "0.3", "1", "--workers", "1")
    md = (tmp_path / "tune_propagation_folder.md").read_text()
    assert md.startswith("# Propagation tuning on folder train") and "| mIoU |" in md
    assert "Command: `python experiments/tune_propagation.py --dataset folder" in md and "commit" in md
    rows = (tmp_path / "tune_propagation_folder.csv").read_text().splitlines()
    assert rows[0].startswith("miou,superpixels") and len(rows) == 1 + 8  # 2 colour x 2 texture deltas x boundary on/off


def test_versus_says_when_a_gap_exceeds_two_standard_deviations():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from run_main_table import versus
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    # sample standard deviations 0.01 each: the bar is 0.02
    assert versus([0.80, 0.81, 0.82], [0.70, 0.71, 0.72]) == "+0.1000 (> 2 sd = 0.0200)"
    assert versus([0.80, 0.81, 0.82], [0.79, 0.80, 0.81]) == "+0.0100 (<= 2 sd = 0.0200)"
    assert versus([0.80, 0.81, 0.82], [0.85, 0.86, 0.87]).startswith("-0.0500 (> 2 sd")


def test_class_weights_table_keeps_the_seeds_a_call_did_not_score(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import run_class_weights
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    # the scripts read their results folder at import, and another test may have imported `common` first
    monkeypatch.setattr(run_class_weights, "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["common"], "RESULTS", tmp_path)

    def row(recipe, weighting, seed, score):
        return {"recipe": recipe, "weighting": weighting, "seed": seed, "score": score, "score_name": "mIoU",
                "miou": score, "iou_A": score, "iou_B": None, "run": f"runs/{recipe}_{seed}"}

    class Args:
        dataset, weighting = "camvid", "median_frequency"

    run_class_weights.write_results("t", Args, [row("scribblesup", "none", 0, 0.4), row("unet_full", "none", 0, 0.5)])
    # a later call over seed 1 only: seed 0's rows stay, seed 1's join them, a rescored seed 0 would replace its row
    run_class_weights.write_results("t", Args, [row("scribblesup", "none", 1, 0.6)])
    lines = (tmp_path / "class_weights_t_runs.csv").read_text().splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [["unet_full", "none", "0"], ["scribblesup", "none", "0"],
                                                            ["scribblesup", "none", "1"]]
    md = (tmp_path / "class_weights_t.md").read_text()
    assert "| scribblesup | none | 0 1 | 0.5000 +- 0.1414 |" in md


def test_class_weights_table_scores_no_run_made_with_another_config(tmp_path, capsys):
    """A configs' default that changes (CamVid's class weights did) leaves run folders of the old config under the
    names the new one would use: the table-only call must not score them as the new variant."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import run_class_weights
        from common import evaluation
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    from scribblesup.train import train
    from test_runs import demo_config

    config = demo_config(tmp_path, "cw", "train.class_weights=none")
    evaluation(train(config, progress=False))
    assert run_class_weights.final_run("unet_full", config, train=False).path == config.run_dir()
    weighted = demo_config(tmp_path, "cw", "train.class_weights=median_frequency")
    assert run_class_weights.final_run("unet_full", weighted, train=False) is None
    assert "made with another config (train.class_weights); not scored" in capsys.readouterr().out
    assert run_class_weights.final_run("unet_full", demo_config(tmp_path, "unfinished"), train=False) is None
