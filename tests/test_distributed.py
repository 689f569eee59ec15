"""Data-parallel training under torchrun (2 CPU processes, gloo) on the bundled demo data: one set of outputs,
the one-process result (without BatchNorm: same weights to float rounding), resume after a kill."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import free_port
import torch

from scribblesup.demo import DEMO_DATA
from scribblesup.distributed import Context, agree

COMMON = ["data.dataset=folder", f"data.root={DEMO_DATA / 'acdc'}", "data.train_split=all", "data.val_split=all",
          "data.input_size=[32,32]", "model.width=0.125", "train.batch_size=4", "train.log_every=1",
          "model.options.batch_norm=false"]


def command(tmp_path, name, *extra, processes=2, verb="train"):
    sets = ["--set", f"name={name}", f"output.root={tmp_path}", *COMMON, *extra]
    if processes == 1:
        return [sys.executable, "-m", "scribblesup", verb, *sets]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr",
            "127.0.0.1", "--master_port", str(free_port()), "-m", "scribblesup", verb, *sets]


def failure(r) -> str:
    """What a failed torchrun said: the ranks' own errors (the CLI's one-line ``error: ...`` and exceptions, which
    come early in stderr) and the launcher's summary at the end."""
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ") or "Error" in x]
    return "\n".join(lines[:20]) + "\n...\n" + r.stderr[-1500:]


def run(cmd, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, **kw)


def weights(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)["model"]


def losses(run_dir):
    with (run_dir / "scalars.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r["loss"]]


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    steps = ["train.steps=8", "train.eval_every=4", "train.checkpoint_every=4"]
    for name, n in (("one", 1), ("two", 2)):
        r = run(command(tmp, name, *steps, processes=n))
        assert r.returncode == 0, failure(r)
    return tmp, r


def test_two_processes_train_like_one(two_runs):
    tmp, r = two_runs
    # the same global batch split over 2 processes: the same loss curve and weights as one process, up to the order
    # of float additions (no BatchNorm here: on CPU each process normalises by its own half of the batch)
    assert losses(tmp / "two") == pytest.approx(losses(tmp / "one"), abs=1e-5)
    assert max_difference(weights(tmp / "one"), weights(tmp / "two")) < 1e-5
    assert r.stdout.count("run folder:") == 1  # rank 0 reports


def test_rank_zero_alone_writes_one_set_of_outputs(two_runs):
    tmp, _ = two_runs
    names = lambda d: sorted(p.name for p in d.iterdir())  # noqa: E731
    assert names(tmp / "two") == names(tmp / "one")
    log = (tmp / "two" / "train.log").read_text()
    assert log.count("start: two") == 1 and "in 2 processes" in log
    rows = list(csv.DictReader((tmp / "two" / "scalars.csv").open()))
    assert [r["step"] for r in rows if r["loss"]] == [str(s) for s in range(1, 9)]  # once each, not once a rank


def test_a_killed_two_process_run_resumes_to_the_same_weights(two_runs, tmp_path):
    tmp, _ = two_runs
    cmd = command(tmp_path, "killed", "train.steps=8", "train.eval_every=4", "train.checkpoint_every=4")
    last = tmp_path / "killed" / "last.pt"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not last.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
    proc.wait()
    assert last.is_file() and torch.load(last, weights_only=True)["step"] < 8, "killed too late to test resume"
    r = run(cmd + ["--resume"])
    assert r.returncode == 0, failure(r)
    assert torch.load(last, weights_only=True)["step"] == 8
    assert max_difference(weights(tmp_path / "killed"), weights(tmp / "two")) < 1e-6


def test_batch_norm_under_two_processes_stays_close(tmp_path):
    """With BatchNorm each CPU process normalises by its half of the batch (PyTorch's SyncBatchNorm is GPU-only):
    the loss curve stays within a few hundredths of the one-process one."""
    bn = ["model.options.batch_norm=true", "train.steps=6", "train.eval_every=6", "train.checkpoint_every=6"]
    for name, n in (("one", 1), ("two", 2)):
        r = run(command(tmp_path, name, *bn, processes=n))
        assert r.returncode == 0, failure(r)
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), abs=0.05)
    assert losses(tmp_path / "two") != losses(tmp_path / "one")


def test_the_pipeline_under_two_processes_gives_the_one_process_labels(tmp_path):
    extra = ["train.steps=4", "train.eval_every=4", "train.checkpoint_every=2", "train.batch_size=2",
             "pipeline.rounds=1", "pipeline.finetune_steps=2", "pipeline.workers=1", "propagation.n_segments=300"]
    for name, n in (("one", 1), ("two", 2)):
        r = run(command(tmp_path, name, *extra, processes=n, verb="run"))
        assert r.returncode == 0, failure(r)
    for k in (0, 1):
        one = sorted((tmp_path / "one" / f"round{k}" / "pseudo").glob("*.png"))
        two = sorted((tmp_path / "two" / f"round{k}" / "pseudo").glob("*.png"))
        assert [p.name for p in one] == [p.name for p in two] and len(one) == 3
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))
    assert max_difference(weights(tmp_path / "one" / "round1"), weights(tmp_path / "two" / "round1")) < 1e-5


def test_a_batch_that_does_not_split_is_refused(tmp_path):
    r = run(command(tmp_path, "odd", "train.batch_size=3", "train.steps=2"))
    # each worker says why in one line and exits 2 (the launcher then reports the failed workers)
    assert r.returncode != 0 and "error: train.batch_size 3 does not split over 2 processes" in r.stderr


def test_context_outside_torchrun():
    ctx = Context()
    assert ctx.main and not ctx.active and ctx.shard([1, 2, 3]) == [1, 2, 3]
    assert Context(1, 2).shard(list("abcde")) == ["b", "d"]
    agree(None)  # nothing to agree on in one process
    with pytest.raises(KeyError):
        agree(KeyError("x"))
