"""The typed config: values checked at load, inheritance through base:, overrides."""

import pytest
import yaml

from scribblesup.cli import main
from scribblesup.config import Config, config_differences, load_config


@pytest.mark.parametrize("override, message", [
    ("train.steps=abc", "train.steps must be int, got 'abc'"),
    ("train.steps=0", "train.steps must be >= 1, got 0"),
    ("train.batch_size=0", "train.batch_size must be >= 1"),
    ("train.eval_every=0", "train.eval_every must be >= 1"),
    ("train.lr=-1", "train.lr must be > 0"),
    ("train.amp=3", "train.amp must be bool"),
    ("pipeline.rounds=-1", "pipeline.rounds must be >= 0"),
    ("pipeline.init=both", "pipeline.init must be one of finetune, scratch"),
    ("propagation.delta_color=0", "propagation.delta_color must be > 0"),
    ("propagation.pairwise_weight=-0.5", "propagation.pairwise_weight must be >= 0"),
    ("propagation.n_segments=0", "propagation.n_segments must be >= 1"),
    ("data.input_size=[64]", "data.input_size must have 2 values"),
    ("data.limit=0", "data.limit must be >= 1"),
    ("data.dataset=imagenet", "data.dataset must be one of acdc, camvid, voc, folder"),
    ("train.stepz=3", "unknown config key 'train.stepz'"),
])
def test_bad_values_are_named_with_their_source(override, message):
    with pytest.raises(ValueError) as err:
        load_config(None, [override])
    assert f"--set {override}" in str(err.value) and message in str(err.value)


def test_file_errors_name_the_file(tmp_path):
    (tmp_path / "c.yaml").write_text("train:\n  batch_size: 0\n")
    with pytest.raises(ValueError, match=r"c\.yaml: train\.batch_size must be >= 1"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("train: [1, 2]\n")
    with pytest.raises(ValueError, match=r"d\.yaml: train must be a mapping"):
        load_config(tmp_path / "d.yaml")


def test_values_are_typed_and_ints_widen_to_floats():
    c = load_config(None, ["train.lr=1", "propagation.n_segments=300", "data.input_size=[64, 96]"])
    assert isinstance(c, Config) and c.train.lr == 1.0 and isinstance(c.train.lr, float)
    assert c.propagation.n_segments == 300 and c.propagation_params().n_segments == 300
    assert c.propagation.delta_color is None  # null: the dataset's measured default
    assert c.propagation_params().delta_color == 0.3  # acdc's
    assert c.data.input_size == [64, 96] and c.name == "run"


def test_base_inheritance_and_name(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"data": {"dataset": "camvid", "input_size": [64, 64]},
                                                        "train": {"steps": 50, "lr": 0.01}}))
    (tmp_path / "child.yaml").write_text("base: base.yaml\ntrain:\n  steps: 7\n")
    c = load_config(tmp_path / "child.yaml")
    assert (c.name, c.train.steps, c.train.lr, c.data.dataset) == ("child", 7, 0.01, "camvid")
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="loops back"):
        load_config(tmp_path / "loop.yaml")


def test_cross_field_rules_apply_after_all_overrides():
    with pytest.raises(ValueError, match="pseudo_dir"):
        load_config(None, ["data.supervision=pseudo"])
    c = load_config(None, ["data.supervision=pseudo", "data.pseudo_dir=somewhere"])
    assert c.data.pseudo_dir == "somewhere"


def test_round_trip_through_a_dict():
    c = load_config(None, ["train.steps=12", "model.options={dropout: 0.1}"])
    assert Config.from_dict(c.to_dict()) == c
    assert config_differences(c, load_config(None, ["train.steps=13", "model.options={dropout: 0.1}"])) == ["train.steps"]


def test_every_set_option_applies(tmp_path, capsys):
    """Two --set options: both apply (a typo in the first is reported, not dropped)."""
    assert main(["train", "--set", "train.stepz=3", "--set", "train.steps=2"]) == 2
    assert "unknown config key 'train.stepz'" in capsys.readouterr().err


def test_committed_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.yaml"))
    assert len(configs) >= 12
    for path in configs:
        c = load_config(path)
        assert c.name == path.stem
        if path.stem.startswith("unet_pce"):
            assert c.data.supervision == "scribble"
