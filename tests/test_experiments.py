"""The experiment scripts run and write their tables through experiments/common.py (bundled demo data)."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    assert versus([0.80], [0.70]) == "+0.1000 (one seed each: no spread yet)"
    assert versus([0.80, 0.81], [0.70]) == "+0.1050 (> 2 sd = 0.0141; one side has one seed: no claim)"


def test_paired_gaps_are_taken_seed_by_seed_over_the_common_seeds():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from run_main_table import paired, versus
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    ref, row = {0: 0.80, 1: 0.85, 2: 0.90}, {0: 0.79, 1: 0.84, 2: 0.88, 3: 0.5}
    # a shift hidden by the seed spread is plain seed by seed: differences 0.01 / 0.01 / 0.02
    assert paired(ref, row) == "+0.0133 +- 0.0058 over seeds 0 1 2"
    assert versus(list(ref.values()), [0.79, 0.84, 0.88]).endswith("(<= 2 sd = 0.1000)")
    assert paired(ref, {2: 0.5, 5: 0.4}) == "-"  # one common seed: no spread


def test_per_run_records_come_back_with_their_types(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from common import read_records
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    path = tmp_path / "runs.csv"
    path.write_text("method,seed,steps,score,hd95,run\nfull supervision,1,2500.0,0.8693,,runs/a\n")
    assert read_records(path, text=("method", "run"), integers=("seed", "steps")) == [
        {"method": "full supervision", "seed": 1, "steps": 2500, "score": 0.8693, "hd95": None, "run": "runs/a"}]
    assert read_records(tmp_path / "missing.csv") == []


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


def _main_table():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import run_main_table
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    return run_main_table


def test_seeds_table_grows_over_calls_and_compares_with_the_reference(tmp_path, monkeypatch):
    run_main_table = _main_table()
    monkeypatch.setattr(run_main_table, "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["common"], "RESULTS", tmp_path)

    class Args:
        dataset, reference = "acdc", "B"

    def row(method, seed, score):
        return {"method": method, "seed": seed, "steps": 10, "score": score, "train_minutes": 1.0 + seed,
                "run": f"runs/{method}_{seed}", "per_class": f"RV {score:.4f} / Myo 0.5000"}

    # a call whose reference has not run yet (the table is rewritten after each run): no gaps, no exit
    run_main_table.write_seeds_table(Args, "t", {("full supervision", 0): row("full supervision", 0, 0.9)},
                                     "mean Dice", 0.25)
    assert "| full supervision | 0 | 10 | 0.9000 | 100.0 | 0.9000 | RV 0.900 / Myo 0.500 | - |" in (tmp_path / "main_t_seeds.md").read_text()
    (tmp_path / "main_t_seeds_runs.csv").unlink()
    per_run = {}
    for rows in ([row("full supervision", 0, 0.9), row("B", 0, 0.8)],  # a first call: seed 0
                 [row("full supervision", 1, 0.9), row("B", 1, 0.82), row("full supervision", 2, 0.9),
                  row("B", 2, 0.84), row("C", 2, 0.5)]):  # a later call: seeds 1 and 2, a new row C
        per_run = run_main_table.read_runs(tmp_path / "main_t_seeds_runs.csv")
        per_run.update({(r["method"], r["seed"]): r for r in rows})
        run_main_table.write_seeds_table(Args, "t", per_run, "mean Dice", 0.25)
    md = (tmp_path / "main_t_seeds.md").read_text()
    assert ("| B | 0 1 2 | 10 | 0.8200 +- 0.0200 | 91.1 | 0.8000 / 0.8200 / 0.8400 | RV 0.820 / Myo 0.500 | reference "
            "| - | 2.0 |") in md
    assert "| full supervision | 0 1 2 | 10 | 0.9000 +- 0.0000 | 100.0 |" in md
    assert "Per class: Dice per structure, the mean over the seeds." in md and "{" not in md
    assert "| C | 2 | 10 | 0.5000 | 55.6 | 0.5000 | RV 0.500 / Myo 0.500 | +0.3200 (> 2 sd = 0.0400; one side has one seed: no claim) | - | 3.0 |" in md
    back = run_main_table.read_runs(tmp_path / "main_t_seeds_runs.csv")
    assert back[("B", 1)]["score"] == 0.82 and back[("B", 1)]["seed"] == 1 and len(back) == 7


def test_a_run_keeps_every_calibrated_row_of_earlier_calls_and_scores_them_with_it():
    """An earlier call's row of another offset (Myo -1.5, before RV +1 joined) belongs to the run: reused with it, and
    named among the offsets a run scored afresh is scored with, so a retrained network replaces all its rows."""
    run_main_table = _main_table()

    class Args:
        dataset, schedule, scribbles, nopairwise_rounds, refine, seeds_mode = "acdc", "cpu", None, None, False, True
        recipes, train_recipes, only, logit_offset = ["scribblesup-bias"], [], ["scribblesup-bias"], [("Myo", -1.0)]

    seed, base = 95, "scribblesup-bias, round 3"  # a seed no session trains
    digest = run_main_table.config_digest(run_main_table.load_config(run_main_table.config_path(
        "scribblesup-bias", "acdc", "cpu"), [f"train.seed={seed}"]))
    methods = [base, f"{base}, logit offset Myo=-1", f"{base}, logit offset Myo=-1.5 RV=1", f"{base}, logit offset Myo=-2"]
    committed = {(m, s): {"method": m, "seed": s, "score": 0.8, "config": digest} for m in methods for s in (seed, 7)}
    committed[("scribblesup-bias-control, round 3, logit offset LV=1", seed)] = {"config": digest}  # another run
    assert run_main_table.earlier_offsets(committed, seed, base, methods[:2]) == [{"Myo": -1.5, "RV": 1.0},
                                                                                  {"Myo": -2.0}]
    recorded = []
    run_main_table.seed_rows(Args, seed, committed, recorded.extend)
    assert [r["method"] for r in recorded] == methods
    assert run_main_table.parse_logit_offset("Myo=-1.5 Traffic light=1") == {"Myo": -1.5, "Traffic light": 1.0}


def test_seeds_table_reuses_committed_rows_instead_of_retraining(tmp_path, monkeypatch):
    """Run folders stay on the machine that trained them: a later session with the committed rows trains nothing."""
    run_main_table = _main_table()

    class Args:
        dataset, schedule, scribbles, nopairwise_rounds = "acdc", "cpu", None, None
        recipes, train_recipes, refine, seeds_mode = ["scribblesup-bias"], [], False, True

    names = (["full supervision"] + [f"ScribbleSup, round {k}" for k in range(4)] + ["scribblesup-bias, round 3",
                                                                                      "pCE (scribbles only)"])
    seed = 97  # a seed no session trains: none of its run folders exists here
    configs = {m: run_main_table.config_digest(run_main_table.load_config(run_main_table.config_path(
        r, "acdc", "cpu"), [f"train.seed={seed}"])) for m, r in zip(names, ["unet_full", *["scribblesup"] * 4,
                                                                            "scribblesup-bias", "unet_pce"])}
    committed = {(m, seed): {"method": m, "seed": seed, "score": 0.5 + 0.05 * i, "config": configs[m]}
                 for i, m in enumerate(names)}
    # a row made with another config (a default changed since) is not reused: that run would be trained
    stale = dict(committed)
    stale[("full supervision", seed)] = dict(committed[("full supervision", seed)], config="0" * 12)
    digest = configs["full supervision"]
    assert run_main_table.reused_rows(stale, seed, ["full supervision"], digest) is None
    assert run_main_table.reused_rows(committed, seed, ["full supervision"], digest) == [
        committed[("full supervision", seed)]]
    assert configs["ScribbleSup, round 0"] != configs["scribblesup-bias, round 3"]
    recorded = []
    rows, ctx = run_main_table.seed_rows(Args, seed, committed, recorded.extend)
    # run in `names` order (the pipelines before pCE), returned in the table's order
    assert [r["method"] for r in recorded] == names
    assert [r["method"] for r in rows] == [names[0], names[-1], *names[1:-1]]
    assert rows[-1]["pct_of_full"] == 100 * 0.75 / 0.5
    assert ctx["runs"] == {} and not ctx["ss_config"].run_dir().exists()


@pytest.mark.parametrize("recipes, train_recipes, methods, ranks", [
    # a pipeline recipe: --logit-offset gives its final round a calibrated row
    (["scribblesup-bias"], [], ["scribblesup-bias, round 3", "scribblesup-bias, round 3, logit offset Myo=-1"],
     [5, 5]),
    # the peer, a training recipe: its calibrated row is its config's (Myo -1.5, tuned on its own holdout network),
    # whatever --logit-offset says, and ranks with the other training recipes
    ([], ["unet_pce-gcrf"], ["unet_pce-gcrf", "unet_pce-gcrf, logit offset Myo=-1.5"], [2, 2]),
])
def test_only_runs_the_named_recipes_and_leaves_the_other_rows_alone(recipes, train_recipes, methods, ranks):
    """--only RECIPE: the one run of that recipe, none of the baselines before it in the table's order; its
    calibrated row is a row of its own in the record, reused with the plain one and scored again without it."""
    run_main_table = _main_table()
    recipe = (recipes + train_recipes)[0]

    class Args:
        dataset, schedule, scribbles, nopairwise_rounds, refine, seeds_mode = "acdc", "cpu", None, None, False, True
        only, logit_offset = [recipe], [("Myo", -1.0)]

    Args.recipes, Args.train_recipes = recipes, train_recipes
    seed = 96  # a seed no session trains
    digest = run_main_table.config_digest(run_main_table.load_config(run_main_table.config_path(
        recipe, "acdc", "cpu"), [f"train.seed={seed}"]))
    committed = {(m, seed): {"method": m, "seed": seed, "score": 0.8 + 0.01 * i, "config": digest}
                 for i, m in enumerate(methods)}
    recorded = []
    rows, ctx = run_main_table.seed_rows(Args, seed, committed, recorded.extend)
    assert [r["method"] for r in recorded] == methods
    assert [run_main_table.rank(r) for r in rows] == ranks
    assert ctx["full_score"] is None and rows[0]["pct_of_full"] is None
    # a call without the calibrated row committed would score it: the plain row alone is not reused for both
    assert run_main_table.reused_rows({k: v for k, v in committed.items() if k[0] == methods[0]}, seed, methods,
                                      digest) is None


def test_a_recipe_configs_logit_offset_gives_its_calibrated_row_and_leaves_the_digest_alone():
    """The recipe scribblesup-bias-gcrf carries test.logit_offset: its final round gets the calibrated row without
    --logit-offset, and its config digest (what committed rows are matched by) ignores the test section."""
    run_main_table = _main_table()

    class Args:
        recipes, logit_offset = ["scribblesup-bias-gcrf"], None

    path = run_main_table.config_path("scribblesup-bias-gcrf", "acdc", "cpu")
    config = run_main_table.load_config(path)
    assert run_main_table.logit_offset(Args, "scribblesup-bias-gcrf", config) == {"Myo": -1.5, "RV": 1.0}
    assert run_main_table.logit_offset(Args, "scribblesup-bias", config) == {}  # not one of --recipes
    Args.logit_offset = [("Myo", -1.0)]
    assert run_main_table.logit_offset(Args, "scribblesup-bias-gcrf", config) == {"Myo": -1.0}
    plain = run_main_table.load_config(path, ["test.logit_offset={}"])
    assert run_main_table.config_digest(plain) == run_main_table.config_digest(config)
    # the peer (a training recipe) has its own offset, tuned on its own holdout network: --logit-offset is the
    # pipeline recipes' and leaves it alone
    peer = run_main_table.load_config(run_main_table.config_path("unet_pce-gcrf", "acdc", "cpu"))
    assert run_main_table.logit_offset(Args, "unet_pce-gcrf", peer) == {}  # not one of --train-recipes
    Args.train_recipes = ["unet_pce-gcrf"]
    assert run_main_table.logit_offset(Args, "unet_pce-gcrf", peer) == {"Myo": -1.5}


def test_score_only_trains_nothing_and_records_what_is_finished(tmp_path):
    run_main_table = _main_table()

    class Args:
        dataset, schedule, scribbles, nopairwise_rounds = "acdc", "cpu", None, None
        recipes, train_recipes, refine, seeds_mode, score_only = ["scribblesup-bias"], ["unet_pce-gcrf"], False, True, True

    seed = 98  # a seed no session trains
    recorded = []
    rows, ctx = run_main_table.seed_rows(Args, seed, {("pCE (scribbles only)", seed): {"config": "x"}}, recorded.extend)
    assert rows == [] and recorded == [] and ctx["full_score"] is None and ctx["runs"] == {}


def test_tables_name_each_class_score_and_average_it_over_seeds():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from common import class_scores, parse_per_class, per_class
        from run_main_table import mean_per_class
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    # ACDC's evaluation has Dice per structure; CamVid's only the confusion's IoU per class (None: absent class)
    acdc = class_scores({"dice": {"RV": 0.3463, "Myo": 0.8081}, "confusion": {}})
    assert per_class(acdc) == "RV 0.346 / Myo 0.808"
    camvid = class_scores({"confusion": {"per_class_iou": {"Sky": 0.91, "Pole": None}}})
    assert per_class(camvid) == "Sky 0.910 / Pole -"
    assert parse_per_class(per_class(camvid, digits=4)) == {"Sky": 0.91, "Pole": None}
    assert parse_per_class("") is None
    # the seeds table: each class's mean over the seeds; a class absent in one seed has no mean; a row written
    # before the column existed makes the whole cell unknown rather than a mean over fewer seeds
    rows = [{"per_class": "RV 0.8000 / Myo 0.7000 / Pole -"}, {"per_class": "RV 0.9000 / Myo 0.7500 / Pole 0.1000"}]
    assert mean_per_class(rows) == "RV 0.850 / Myo 0.725 / Pole -"
    assert mean_per_class(rows + [{"per_class": None}]) == "-"


def test_an_unknown_recipe_ends_in_one_line_and_exit_2(tmp_path):
    env = dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path))
    r = subprocess.run([sys.executable, "experiments/run_main_table.py", "--dataset", "acdc", "--seeds", "0",
                        "--recipes", "scribblesup-nosuch", "--score-only"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "scribblesup-nosuch_acdc-fold1_cpu.yaml: no such config" in r.stderr and "scribblesup-bias" in r.stderr
    assert list(tmp_path.iterdir()) == []
    # rewriting the table from its CSV refuses the same way before it writes anything
    (tmp_path / "main_acdc-fold1_cpu_seeds_runs.csv").write_text("method,seed,steps,score,train_minutes,run\n"
                                                                  "full supervision,0,10,0.9,1.0,runs/a\n")
    r = subprocess.run([sys.executable, "experiments/run_main_table.py", "--dataset", "acdc", "--seeds", "0",
                        "--train-recipes", "unet_nosuch", "--table-only"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unet_nosuch_acdc-fold1_cpu.yaml: no such config" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["main_acdc-fold1_cpu_seeds_runs.csv"]
    # so does a reference that names no row of the CSV (it used to write a table without its gap columns)
    r = subprocess.run([sys.executable, "experiments/run_main_table.py", "--dataset", "acdc", "--seeds", "0",
                        "--reference", "full supervison", "--table-only"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--reference 'full supervison': no such row" in r.stderr and "(rows: full supervision)" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["main_acdc-fold1_cpu_seeds_runs.csv"]
    r = subprocess.run([sys.executable, "experiments/run_main_table.py", "--dataset", "acdc", "--seeds", "0",
                        "--reference", "full supervision", "--table-only"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| full supervision | 0 | 10 | 0.9000 | 100.0 |" in (tmp_path / "main_acdc-fold1_cpu_seeds.md").read_text()


@pytest.mark.parametrize("variant, message", [
    (["bad", "unet_pce", "train.crf_loss.weight=abc"], "--variant bad: --set train.crf_loss.weight=abc: "
                                                        "train.crf_loss.weight must be float, got 'abc'"),
    (["bad", "unet_nosuch"], "unet_nosuch_camvid_cpu.yaml: no such config"),
])
def test_the_holdout_tuner_checks_every_variant_before_training(tmp_path, variant, message):
    env = dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path))
    r = subprocess.run([sys.executable, "experiments/tune_on_holdout.py", "--dataset", "camvid", "--holdout", "40",
                        "--variant", "fine", "unet_pce", "--variant", *variant], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_the_label_inference_tuner_checks_its_overrides_before_training(tmp_path):
    env = dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path))
    r = subprocess.run([sys.executable, "experiments/tune_label_inference.py", "--dataset", "camvid", "--holdout", "40",
                        "--set", "propagation.class_bias=abc"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "propagation.class_bias must be a list, got 'abc'" in r.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty" / "round0").mkdir(parents=True)  # a pipeline folder whose round 0 never finished
    r = subprocess.run([sys.executable, "experiments/tune_label_inference.py", "--dataset", "camvid", "--holdout", "40",
                        "--network", str(tmp_path / "empty")], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].endswith(f"no finished network there ({tmp_path / 'empty' / 'round0' / 'last.pt'} "
                                              "is missing)")
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


@pytest.mark.parametrize("args, message", [
    (["--class", "Myocardium"], "logit offset for Myocardium: no such class (classes: background, RV, Myo, LV)"),
    (["--class", "RV", "--fixed", "Myo=-1.5", "--offsets", "0", "inf"], "logit offset for RV: inf is not a finite"),
    (["--class", "RV", "--then", "LV", "Aorta"], "--then Aorta: no such class (classes: background, RV, Myo, LV)"),
    (["--class", "RV", "--fixed", "Myo=-1.5", "--then", "Myo"], "--then Myo: already tuned or held in this call"),
    (["--class", "RV", "--then", "LV", "--variants", "a", "b"], "--then tunes one variant's offsets class after class"),
])
def test_the_offset_tuner_refuses_a_bad_class_or_value_in_one_line(tmp_path, args, message):
    env = dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path))
    r = subprocess.run([sys.executable, "experiments/tune_logit_offset.py", "--dataset", "acdc", "--holdout", "8",
                        "--variants", "ss-bias0.1-sw1-gcrf0.3", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def _offset_tuner(tmp_path, monkeypatch):
    """experiments/tune_logit_offset.py as a module, writing its tables under ``tmp_path``."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import tune_logit_offset
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    monkeypatch.setattr(sys.modules["common"], "RESULTS", tmp_path)
    monkeypatch.setattr(tune_logit_offset, "RESULTS", tmp_path)
    return tune_logit_offset


def test_then_tunes_class_after_class_with_the_best_so_far_held(tmp_path, monkeypatch):
    """Coordinate-wise: a score whose best is Building +1 and then, with it held, Car -0.5 (the Car optimum
    depends on Building's offset, so Car tuned without Building held would pick another value)."""
    tune_logit_offset = _offset_tuner(tmp_path, monkeypatch)
    seen = []

    def evaluation(path, split, logit_offset):
        o = logit_offset or {}
        b, c = o.get("Building", 0.0), o.get("Car", 0.0)
        seen.append(dict(o))
        score = 0.5 - (b - 1) ** 2 - (c + 0.5 * b) ** 2
        return {"score": score, "confusion": {"miou": score, "per_class": {}}}

    monkeypatch.setattr(tune_logit_offset, "evaluation", evaluation)
    monkeypatch.setattr(tune_logit_offset, "class_scores", lambda ev: {})
    monkeypatch.setattr(tune_logit_offset, "final_round", lambda run: tune_logit_offset.RunDir(run))
    args = argparse.Namespace(dataset="camvid", schedule="cpu", holdout=40, name="Building", then=["Car"],
                              variants=["recipe"], offsets=[0, -0.5, 0.5, 1, 1.5])
    assert tune_logit_offset.tune_classes(args, {}, {"recipe": "runs/recipe"}) == {"Building": 1, "Car": -0.5}
    assert seen[-1] == {"Building": 1, "Car": 1.5} and len(seen) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "logit_offset_camvid_cpu_Building.csv", "logit_offset_camvid_cpu_Building.md",
        "logit_offset_camvid_cpu_Car_offsetBuilding+1.csv", "logit_offset_camvid_cpu_Car_offsetBuilding+1.md"]


def test_the_offset_table_keeps_the_variants_a_later_call_did_not_score(tmp_path, monkeypatch):
    """A call that tunes one variant (say a control's offset, its holdout run new) keeps the rows earlier calls wrote
    for other variants, whose runs may be gone from the machine, and replaces its own variant's rows."""
    tune_logit_offset = _offset_tuner(tmp_path, monkeypatch)

    def row(variant, offset, score, best=""):
        return {"variant": variant, "offset": offset, "fixed": "", "score": score, "miou": score - 0.03,
                "per_class": "RV 0.8 / Myo 0.8 / LV 0.9", "run": f"runs/{variant}/round3", "best": best}

    class Args:
        dataset, schedule, name, holdout = "acdc", "cpu", "Myo", 8
        variants = ["recipe", "peer"]

    tune_logit_offset.write_results(Args, {}, [row("recipe", 0.0, 0.84), row("recipe", -1.5, 0.85, "best"),
                                               row("peer", 0.0, 0.68, "best")])
    Args.variants = ["control", "recipe"]  # the recipe rescored, the control new, the peer not on the machine
    md = tune_logit_offset.write_results(Args, {}, [row("recipe", -1.5, 0.86, "best"), row("control", -1.0, 0.87)])
    lines = (tmp_path / "logit_offset_acdc-fold1_cpu_Myo.csv").read_text().splitlines()
    assert [line.split(",")[:4] for line in lines[1:]] == [["peer", "0.0", "", "0.68"], ["recipe", "-1.5", "", "0.86"],
                                                            ["control", "-1.0", "", "0.87"]]
    assert "| peer | 0 |  | 0.6800 | 0.6500 | RV 0.8 / Myo 0.8 / LV 0.9 | best | runs/peer/round3 |" in md.read_text()


def test_new_options_at_their_neutral_value_keep_committed_config_digests():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        from common import config_path, seeded
        from run_main_table import config_digest, read_runs
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    committed = read_runs(ROOT / "experiments/results/main_acdc-fold1_cpu_seeds_runs.csv")
    by_method = {method: r["config"] for (method, seed), r in committed.items() if seed == 0}
    full = seeded(config_path("unet_full", "acdc", "cpu"), 0)
    ss = seeded(config_path("scribblesup", "acdc", "cpu"), 0)
    # the rows were committed before train.scribble_weight existed: an option left at 0 retrains nothing
    assert config_digest(full) == by_method["full supervision"]
    assert config_digest(ss) == by_method["ScribbleSup, round 3"]
    ss.train.scribble_weight = 1.0
    assert config_digest(ss) != by_method["ScribbleSup, round 3"]
    ss.train.scribble_weight = 0.0
    ss.propagation.network_offset = [0.0, 0.0, -1.5, 0.0]
    assert config_digest(ss) != by_method["ScribbleSup, round 3"]
    ss.propagation.network_offset = None
    ss.pipeline.unweight_network = True
    assert config_digest(ss) != by_method["ScribbleSup, round 3"]


def test_a_control_run_alone_finds_its_recipes_round_zero_left_by_an_earlier_call(tmp_path):
    """--only scribblesup-gcrf-control after --only scribblesup-gcrf: the recipe's run folder on this machine is where
    the control's round 0 comes from (not only pipelines of the same call); the control itself and folders that do
    not exist are never sources."""
    run_main_table = _main_table()
    recipe, control, other = (run_main_table.load_config(run_main_table.config_path(r, "camvid", "cpu"),
                                                         [f"output.root={tmp_path}", "train.seed=1", f"name={r}_seed1"])
                              for r in ("scribblesup-gcrf", "scribblesup-gcrf-control", "scribblesup"))
    pipelines = [other, recipe, control]
    assert run_main_table.round_zero_sources(pipelines, control) == []
    for c in (recipe, control):
        c.run_dir().mkdir(parents=True)
    assert run_main_table.round_zero_sources(pipelines, control) == [recipe.run_dir()]
    other.run_dir().mkdir()
    assert run_main_table.round_zero_sources(pipelines, control) == [other.run_dir(), recipe.run_dir()]


def _experiment(name: str):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "experiments"))


@pytest.fixture(scope="module")
def sw_demo(tmp_path_factory):
    """The recommended ACDC recipe's pipeline shrunk to the demo data (one round, a finetune_lr of its own), run
    once for the tests of the scripts that read a pipeline's rounds: its config and run folder."""
    from test_recipe import demo_recipe_overrides

    from scribblesup.config import load_config
    from scribblesup.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("sw_demo")
    config = load_config(ROOT / "experiments" / "configs" / "scribblesup-bias-sw_acdc-fold1_cpu.yaml",
                         [*demo_recipe_overrides(root), "name=ss", "pipeline.finetune_lr=0.0007"])
    return config, run_pipeline(config, progress=False)


def test_oracle_rounds_train_the_pipelines_rounds_on_the_ground_truth(sw_demo):
    """experiments/oracle_rounds.py: rounds 1..R as the pipeline trains them (fine-tuned from round 0, the rounds'
    steps, learning rate and seed), on the ground truth instead of pseudo labels, with no scribble term."""
    from scribblesup.config import load_config
    from scribblesup.runs import RunDir

    config, path = sw_demo
    final = _experiment("oracle_rounds").oracle_rounds(config)
    source = RunDir(path)
    assert final.path == path.parent / "ss-oracle" / "round1" and final.checkpoint("last").is_file()
    piped, oracle = load_config(source.round(1).config), load_config(final.config)
    assert piped.data.supervision == "pseudo" and piped.train.scribble_weight == 1
    assert oracle.data.supervision == "full" and oracle.data.pseudo_dir is None and oracle.train.scribble_weight == 0
    assert Path(oracle.train.init_from) == source.round(0).last == Path(piped.train.init_from)
    assert (oracle.train.steps, oracle.train.lr, oracle.train.seed) == (1, 0.0007, 0)
    assert (piped.train.steps, piped.train.lr, piped.train.seed) == (1, 0.0007, 0)
    assert "loss: cross-entropy + scribbles' partial cross-entropy x 1\n" in source.round(1).log().read_text()
    assert "loss: cross-entropy +" not in final.log().read_text()


def test_label_news_splits_the_labels_changes_into_corrections_and_new_errors(sw_demo):
    """experiments/label_news.py on a demo pipeline's round 1: the labels' accuracy minus the network's is the
    corrections minus the new errors, the network's errors are the corrected plus the shared ones, and the labels
    differ from the network at least where they correct or spoil it."""
    row = _experiment("label_news").label_news(sw_demo[1], 1, 1)
    assert row["images"] == 3 and row["round"] == 1
    assert row["labels_right"] - row["network_right"] == pytest.approx(row["corrected"] - row["new_errors"])
    assert 1 - row["network_right"] == pytest.approx(row["corrected"] + row["shared_errors"])
    assert row["corrected"] + row["new_errors"] <= row["differ"] + 1e-12
    assert 0 < row["network_right"] < 1 and row["differ"] > 0


def test_label_news_refuses_an_unreadable_checkpoint_in_one_line(sw_demo, tmp_path):
    import shutil

    run = tmp_path / "ss"
    shutil.copytree(sw_demo[1], run)
    (run / "round0" / "last.pt").write_bytes(b"not a checkpoint")
    results = tmp_path / "results"
    r = subprocess.run([sys.executable, "experiments/label_news.py", "--round", "1", str(run)], cwd=ROOT,
                       env=dict(os.environ, SCRIBBLESUP_RESULTS=str(results)), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{run / 'round0' / 'last.pt'}: not a readable scribblesup checkpoint" in r.stderr.splitlines()[-1]
    assert not results.exists() or list(results.iterdir()) == []


def test_round0_limits_colour_model_prefers_each_class_on_its_own_colour():
    """pseudo_label_limits.py's per-image colour model: a class's cost is lowest on the colour its scribbles sampled;
    the nearest scribble's class splits a row at the midpoint."""
    limits = _experiment("pseudo_label_limits")
    image = np.zeros((8, 8, 3))
    image[:, 4:] = [0.9, 0.1, 0.1]
    scribble = np.full((8, 8), 255, np.uint8)
    scribble[3, 1], scribble[3, 6] = 0, 1
    cost = limits.colour_model_cost(image, scribble, 3)
    assert cost.shape == (3, 8, 8)
    assert (cost[0, :, :4] < cost[1, :, :4]).all() and (cost[1, :, 4:] < cost[0, :, 4:]).all()
    assert np.allclose(cost[2], cost[2, 0, 0] * (image[..., 0] == 0) + cost[2, 0, 7] * (image[..., 0] > 0))
    row = np.full((1, 6), 255, np.uint8)
    row[0, 0], row[0, 5] = 2, 5
    assert limits.nearest_scribble(row).tolist() == [[2, 2, 2, 5, 5, 5]]


def test_round0_limits_table_on_the_demo_data(tmp_path):
    """Round 0 of the demo CamVid images: each labelling's row, and the superpixel ceiling above the cut."""
    import csv

    run_script(tmp_path, "experiments/pseudo_label_limits.py", "--dataset", "folder", "--root",
               str(DEMO_DATA / "camvid"), "--every", "1")
    rows = list(csv.DictReader((tmp_path / "pseudo_label_limits_camvid_round0.csv").open()))
    names = [r["labels"] for r in rows]
    assert names[1] == "graph cut (round 0)" and names[-1] == "nearest scribble" and len(names) == 6
    miou = {r["labels"]: float(r["miou"]) for r in rows}
    assert all(0 < v < 1 for v in miou.values())
    assert miou[names[0]] > miou["graph cut (round 0)"] > miou["nearest scribble"] - 0.2
    text = (tmp_path / "pseudo_label_limits_camvid_round0.md").read_text()
    assert "labelled area over the true area" in text


def test_round0_limits_refuse_a_missing_dataset_folder_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "experiments/pseudo_label_limits.py", "--dataset", "camvid", "--root",
                        str(tmp_path / "nothing")], cwd=ROOT, env=dict(os.environ, SCRIBBLESUP_RESULTS=str(tmp_path)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {tmp_path / 'nothing' / 'train'}: no such CamVid image folder (split 'train')"
