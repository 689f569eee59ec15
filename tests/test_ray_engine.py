"""Label inference on Ray (a local instance, 2 CPUs) against the local process pool, on real ACDC slices."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the distributed extra (ray) is not installed")

from scribblesup.datasets import open_dataset  # noqa: E402
from scribblesup.labelling import _label_one, label_dataset  # noqa: E402
from scribblesup.propagation import default_params  # noqa: E402
from scribblesup.ray_engine import ray_map, start  # noqa: E402

N = 10


@pytest.fixture(scope="module")
def slices(acdc_root):
    start(None, 2)
    return open_dataset("acdc", acdc_root, split="train", limit=N)


def pngs(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def local_labels(slices, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    result = label_dataset(slices, out, workers=2, progress=False)
    return out, result


def test_ray_gives_the_local_engine_s_labels_byte_for_byte(slices, local_labels, tmp_path):
    out, local = local_labels
    result = label_dataset(slices, tmp_path, workers=2, progress=False, engine="ray")
    assert len(pngs(tmp_path)) == N and pngs(tmp_path) == pngs(out)
    assert np.array_equal(result.confusion.counts, local.confusion.counts) and result.complete


def crash_once(job, marker=None):
    """Kill this worker process the first time it meets sample ``marker.stem`` (a node lost mid-task)."""
    marker = Path(os.environ["SCRIBBLESUP_TEST_MARKER"])
    if job[1] == marker.stem and not marker.exists():
        marker.touch()
        os._exit(1)
    return _label_one(job)


def test_a_task_whose_worker_dies_is_run_again_without_losing_or_duplicating_outputs(slices, local_labels, tmp_path):
    out, _ = local_labels
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    target = slices.ids[5]
    marker = tmp_path / "marker" / f"{target}"
    marker.parent.mkdir()
    os.environ["SCRIBBLESUP_TEST_MARKER"] = str(marker)  # workers started from here on inherit it
    try:
        ray.shutdown()
        start(None, 2)
        params = default_params("acdc")
        jobs = [(slices, i, tmp_path / "labels" / f"{i}.png", params, None, None, None, None) for i in slices.ids]
        (tmp_path / "labels").mkdir()
        results = list(ray_map(crash_once, jobs, workers=2, chunk=1))
    finally:
        del os.environ["SCRIBBLESUP_TEST_MARKER"]
        ray.shutdown()
        start(None, 2)
    assert marker.exists(), "the worker was never killed: the test tested nothing"
    assert len(results) == N and pngs(tmp_path / "labels") == pngs(out)
    assert not [p for p in (tmp_path / "labels").iterdir() if p.suffix != ".png"]  # no half-written file


def test_the_pipeline_on_ray_gives_the_local_pipeline_s_labels(tmp_path):
    """Round 1 adds the network unary: computed by an actor holding the network on Ray, here in this process."""
    from scribblesup.pipeline import run_pipeline
    from test_runs import demo_config

    runs = {}
    for engine in ("local", "ray"):
        config = demo_config(tmp_path, engine, "pipeline.rounds=1", "pipeline.finetune_steps=1",
                             "pipeline.workers=2", f"pipeline.engine={engine}", "propagation.n_segments=300",
                             f"pipeline.cache_dir={tmp_path / engine / 'cache'}")
        runs[engine] = run_pipeline(config, progress=False)
    for k in (0, 1):
        local, on_ray = (pngs(runs[e] / f"round{k}" / "pseudo") for e in ("local", "ray"))
        assert len(local) == 3 and local == on_ray


def test_without_ray_the_engine_says_how_to_install_it(tmp_path):
    from scribblesup.demo import DEMO_DATA

    code = ("import sys; sys.modules['ray'] = None; from scribblesup.cli import main; "
            f"sys.exit(main(['propagate', '--dataset', 'folder', '--root', {str(DEMO_DATA / 'acdc')!r}, "
            f"'--out', {str(tmp_path / 'out')!r}, '--engine', 'ray']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "pip install 'scribblesup[distributed]'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()  # nothing written
