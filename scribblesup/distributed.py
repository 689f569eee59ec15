"""Data-parallel runs under ``torchrun``: the process group, the rank that writes, and the collectives we use.

``torchrun --nproc_per_node N -m scribblesup train --config C`` starts N processes with ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK`` set; :func:`setup` joins them into one process group (``nccl`` when the run trains on CUDA,
``gloo`` otherwise). Without those variables (a plain ``scribblesup train``) nothing here does anything: one
process, rank 0 of 1.

Conventions: rank 0 alone writes the run folder (logs, CSVs, checkpoints, evaluations, labels); every rank reads
what rank 0 wrote after a :func:`barrier`. The global batch (``train.batch_size``) is split evenly over the ranks.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

TIMEOUT_VARIABLE = "SCRIBBLESUP_DIST_TIMEOUT"  # seconds a rank waits for the others (rank 0's evaluation, labels)


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size`` (``local_rank`` on its node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    def shard(self, items: list) -> list:
        """This rank's share of ``items`` (every ``world_size``-th, starting at ``rank``).

        Examples
        --------
        >>> Context(1, 3).shard(list(range(8)))
        [1, 4, 7]
        """
        return list(items)[self.rank::self.world_size]


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher setting ``WORLD_SIZE``) with more
    than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def writes() -> bool:
    """Whether this process writes run folders: rank 0 of a ``torchrun`` job, or a plain run (known before
    :func:`setup`, from the launcher's ``RANK``)."""
    return int(os.environ.get("RANK", "0")) == 0 if launched() else True


def writer_only(manager):
    """``manager`` (e.g. a run folder's lock) on the writing rank, nothing on the others."""
    return manager if writes() else contextlib.nullcontext()


def quiet_logger(ctx: Context) -> logging.Logger:
    """A logger that writes nothing: the non-writing ranks' stand-in for a run folder's log."""
    log = logging.getLogger(f"scribblesup.rank{ctx.rank}")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def context() -> Context:
    """The current process's place (rank 0 of 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Context()


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group ``torchrun`` describes (once per process) and pick this rank's device.

    On CUDA each process takes the GPU ``LOCAL_RANK`` and the ``nccl`` backend; on CPU, ``gloo``. A plain run
    returns rank 0 of 1 and ``device`` unchanged.
    """
    if not launched():
        return Context(), device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_VARIABLE, "7200")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return context(), device


def shutdown() -> None:
    """Leave the process group (at the end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (nothing outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_sum(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over the ranks (``value`` itself outside a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value


def agree(error: BaseException | None) -> None:
    """Fail on every rank when one rank failed (so no rank waits for a collective that never comes).

    The rank that failed raises its own error; the others raise one that points to it.
    """
    if not (dist.is_available() and dist.is_initialized()):
        if error is not None:
            raise error
        return
    failed = all_sum(torch.tensor([0 if error is None else 1 << dist.get_rank()], dtype=torch.int64)).item()
    if error is not None:
        raise error
    if failed:
        ranks = [r for r in range(dist.get_world_size()) if failed >> r & 1]
        raise RuntimeError(f"rank {ranks[0]} failed (its message says why); rank {dist.get_rank()} stops too")


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` for data-parallel training: DistributedDataParallel, with SyncBatchNorm on CUDA (PyTorch's
    SyncBatchNorm runs on GPUs only: on CPU each process normalises by its own part of the batch). Outside a
    process group, ``model`` itself."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return model
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return torch.nn.parallel.DistributedDataParallel(model)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DistributedDataParallel wrapper (its state dict is a plain run's)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
