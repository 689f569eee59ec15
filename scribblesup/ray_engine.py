"""Label inference on a Ray cluster (the ``distributed`` extra): ``pipeline.engine: ray``, ``--engine ray``.

One Ray task per small batch of images (``CHUNK``): it reads each image and its cached region graph from storage
every worker sees (the dataset root and the cache folder), runs the graph cut and writes the label PNG atomically, so a task that dies and is
retried (Ray retries tasks whose worker died) leaves neither a half-written nor a duplicated output. The network
maps (-log P and edges) come from a few actors that hold the networks once (one per GPU of the cluster, else
one); the graph cuts run in CPU tasks, i.e. processes, since PyMaxflow holds the GIL.

Ray is joined at ``address`` (an existing cluster: ``ray start --head`` on one machine, ``ray start --address``
on the others), or started here with ``workers`` CPUs when no address is given, once per process.
"""

from __future__ import annotations

from collections import deque

TASK_RETRIES = 3  # a task whose worker process died runs again up to this many times
CHUNK = 4  # images per task: the job's shared parts (the dataset's file list) are sent once per task


def ray_module():
    """``ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError("the ray engine needs Ray: pip install 'scribblesup[distributed]' "
                          "(or pipeline.engine: local)") from None
    return ray


def start(address: str | None = None, workers: int = 2):
    """Join the Ray cluster at ``address``, or start a local instance with ``workers`` CPUs (once per process)."""
    ray = ray_module()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
    return ray


def _network_actor(ray):
    @ray.remote(max_restarts=TASK_RETRIES, max_task_retries=TASK_RETRIES)
    class NetworkMaps:
        """Holds the networks once; gives an image's (probabilities, edges)."""

        def __init__(self, maps, dataset):
            import torch

            torch.set_num_threads(1)
            self.maps, self.dataset = maps.to("cuda" if torch.cuda.is_available() else "cpu"), dataset

        def compute(self, sample_ids):
            return [self.maps(self.dataset.load(i).image) for i in sample_ids]

    return NetworkMaps


def _remote_call(ray):
    @ray.remote(max_retries=TASK_RETRIES)
    def call(fn, jobs, maps=None):
        return [fn(job) for job in jobs] if maps is None else [fn(job, m) for job, m in zip(jobs, maps)]

    return call


def ray_map(fn, jobs, workers: int = 2, window: int | None = None, address: str | None = None,
            maps=None, dataset=None, chunk: int = CHUNK):
    """``fn`` over ``jobs`` as Ray tasks of ``chunk`` jobs, results in order (at most ``window`` tasks in flight,
    default 2 per CPU of the cluster).

    With ``maps`` (a :class:`scribblesup.labelling.NetworkMaps`), each job's network maps are computed first by an
    actor holding the networks (``job[1]`` is the sample id of ``dataset``) and handed to ``fn(job, maps)``.
    """
    ray = start(address, workers)
    call = _remote_call(ray)
    actors = []
    if maps is not None:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        options = {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": 0}
        maps_ref, dataset_ref = ray.put(maps), ray.put(dataset)
        actors = [_network_actor(ray).options(**options).remote(maps_ref, dataset_ref) for _ in range(max(1, gpus))]
    window = window or 2 * max(1, int(ray.cluster_resources().get("CPU", workers)))
    pending = deque()

    def submit(batch):
        if actors:
            actor = actors[len(pending) % len(actors)]
            return call.remote(fn, batch, actor.compute.remote([job[1] for job in batch]))
        return call.remote(fn, batch)

    batch = []
    for job in jobs:
        batch.append(job)
        if len(batch) == chunk:
            pending.append(submit(batch))
            batch = []
        while len(pending) >= window:
            yield from ray.get(pending.popleft())
    if batch:
        pending.append(submit(batch))
    while pending:
        yield from ray.get(pending.popleft())
