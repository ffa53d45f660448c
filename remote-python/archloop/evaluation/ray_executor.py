"""`RayExecutor`: the Executor interface (executor.py) on a Ray cluster, one Ray task per candidate.

Each candidate is a Ray task asking for `num_cpus` CPUs and `num_gpus` of a GPU (fractional shares put several
candidates on one GPU). Inside the task the usual sandbox runs (sandbox.evaluate_candidate): the candidate gets its
own process in its own process group and session on the worker's node, with the same limits as on a local host.

The data set never travels with a task: each task carries a `DataSpec` (a few bytes saying which data set), and
each node decodes it once into its own .npy cache (data.py), which every later task on that node reuses; a worker
process also remembers what it resolved, so the cache stamp is read once per process.

Results stream back in completion order (ray.wait). At most as many tasks are in flight as the cluster can run at
once, so `should_stop` stops new work quickly and the tasks already running finish and are yielded.

Failure:
- No Ray installed, no cluster at the address, or a per-task request no node can satisfy (e.g. num_gpus > 0 on a
  cluster without GPUs): `RayExecutorError` from the constructor, with what to do about it.
- A worker process or a node that dies mid-evaluation: Ray re-runs the task elsewhere, up to `max_retries` times.
  After that the candidate's result is `crashed` with a message naming the Ray error; the batch goes on.
- The task itself failing (e.g. the node lacks the CIFAR-10 archive named in the spec): `crashed`, with the message.
- Every pending task becoming impossible (the nodes that could run it left): after `unschedulable_after_s` it is
  cancelled and recorded as `crashed`. Every task yields exactly one result: none is lost or yielded twice.

One module though over 400 lines: the task, the node-side data rebuild and the retry rules only make sense together.
"""

from __future__ import annotations

import atexit
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from archloop.evaluation.data import DatasetFiles, cache_cifar10, cache_synthetic
from archloop.evaluation.evaluate import FAST, EvalProtocol, EvalResult, EvalTask
from archloop.evaluation.launcher import ForkServer
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate, make_fork_server

__all__ = [
    "ClusterNode",
    "DataSpec",
    "RayExecutor",
    "RayExecutorError",
    "RaySettings",
    "describe_cluster",
    "probe_cluster",
]


class RayExecutorError(RuntimeError):
    """The Ray executor cannot be used as configured; the message says why and what to change."""


@dataclass(frozen=True)
class DataSpec:
    """Which data set a task trains on, small enough to send with every task; each node materialises it locally.

    `cifar10`: `source` is the archive or folder ON EACH NODE (the same path everywhere). `synthetic`: generated from
    the sizes and seed, identical on every node. `cache_dir` is the node-local folder for the decoded .npy files.
    """

    kind: Literal["cifar10", "synthetic"]
    cache_dir: str
    source: str | None = None
    n_train: int = 2000
    n_test: int = 500
    seed: int = 0

    def materialise(self) -> DatasetFiles:
        """The node-local files, decoded on first use. Raises DataError when the source is missing or malformed."""
        cache = Path(self.cache_dir).expanduser()
        if self.kind == "cifar10":
            if not self.source:
                raise ValueError("a cifar10 DataSpec needs a source path")
            return cache_cifar10(Path(self.source).expanduser(), cache)
        return cache_synthetic(cache, self.n_train, self.n_test, self.seed)

    @staticmethod
    def for_files(files: DatasetFiles, cache_dir: Path, n_train: int, n_test: int, seed: int) -> DataSpec:
        """The spec that reproduces `files` (as data.py named them) on another node."""
        if files.name.startswith("cifar10:"):
            return DataSpec("cifar10", str(cache_dir), source=files.name.removeprefix("cifar10:"))
        return DataSpec("synthetic", str(cache_dir), n_train=n_train, n_test=n_test, seed=seed)


@dataclass(frozen=True)
class RaySettings:
    """How candidates are placed on the cluster.

    `address`: a cluster to join ("ray://host:10001" or "host:6379"); None uses RAY_ADDRESS, and without it starts a
    local Ray instance on this host. `num_gpus` None means a whole GPU per task when the cluster has GPUs, else none.
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float | None = None
    max_retries: int = 2
    unschedulable_after_s: float = 60.0
    fork_server: bool = True  # a warm fork server per Ray worker process; False spawns a fresh interpreter each time
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # extra ray.init arguments for a local instance


@dataclass(frozen=True)
class ClusterNode:
    """One node of the cluster as Ray reports it."""

    node_id: str
    address: str
    alive: bool
    cpus: float
    gpus: float
    gpu_types: tuple[str, ...]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayExecutorError(
            "the Ray executor needs Ray on this host and every node: pip install 'archloop[ray]'"
        ) from exc
    return ray


def describe_cluster(ray: Any) -> list[ClusterNode]:
    """The nodes of the connected cluster (alive or not), with CPU and GPU counts and GPU types when Ray knows them."""
    nodes = []
    for n in ray.nodes():
        resources = n.get("Resources", {})
        types = tuple(
            sorted(k.removeprefix("accelerator_type:") for k in resources if k.startswith("accelerator_type:"))
        )
        nodes.append(
            ClusterNode(
                node_id=str(n.get("NodeID", "")),
                address=str(n.get("NodeManagerAddress", "")),
                alive=bool(n.get("Alive", False)),
                cpus=float(resources.get("CPU", 0.0)),
                gpus=float(resources.get("GPU", 0.0)),
                gpu_types=types,
            )
        )
    return nodes


def probe_cluster(address: str) -> list[ClusterNode]:
    """The nodes of the cluster at `address` (for `archloop doctor`); joins and leaves it unless already connected.
    Raises RayExecutorError when Ray is missing or the cluster cannot be reached."""
    ray = _import_ray()
    if ray.is_initialized():
        return describe_cluster(ray)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:
        raise RayExecutorError(
            f"could not connect to the Ray cluster at {address}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return describe_cluster(ray)
    finally:
        ray.shutdown()


# A Ray worker process runs many tasks; resolving the spec once per process spares each later task the cache check.
@functools.lru_cache(maxsize=4)
def _node_dataset(spec: DataSpec) -> DatasetFiles:
    return spec.materialise()


# One warm fork server per Ray worker process (workers are reused across tasks), so a candidate does not pay for a
# fresh torch import. It exits by itself when the worker dies: it stops when its socket to the worker closes. It is
# keyed on nothing, so tasks with other limits or data still share it (its folder only holds torch's caches).
@functools.lru_cache(maxsize=1)
def _worker_fork_server() -> ForkServer:
    server = make_fork_server()
    atexit.register(server.close)  # removes its folder when the worker exits normally (a SIGKILL leaves 8 KB)
    return server


def evaluate_on_node(
    task: EvalTask,
    spec: DataSpec,
    protocol: EvalProtocol,
    limits: SandboxLimits,
    train_limit: int | None,
    test_limit: int | None,
    static_check: bool,
    gpu_share: float,
    fork_server: bool = True,
) -> EvalResult:
    """The body of one Ray task: the sandboxed evaluation on whatever device Ray gave this task.

    Ray sets CUDA_VISIBLE_DEVICES for a task with a GPU share; the sandbox child is pointed at that same physical
    GPU. Never raises for the candidate's behaviour (see sandbox.py); a missing data set raises DataError, which the
    driver records as `crashed`.
    """
    import ray

    gpu_ids = ray.get_gpu_ids()
    device = f"cuda:{gpu_ids[0]}" if gpu_ids else "cpu"
    threads = max(1, int(limits.threads))
    # As LocalExecutor does: 90% of the share, leaving room for each process's CUDA context.
    limits = replace(limits, threads=threads, gpu_memory_fraction=0.9 * gpu_share if 0 < gpu_share < 1 else None)
    result = evaluate_candidate(
        task,
        _node_dataset(spec),
        protocol,
        limits,
        device=device,
        train_limit=train_limit,
        test_limit=test_limit,
        static_check=static_check,
        launcher=_worker_fork_server() if fork_server else None,
    )
    node = ray.get_runtime_context().get_node_id()
    return replace(result, notes=(*result.notes, f"ray node {node[:12]} {device}"))


class RayExecutor:
    """Candidates as Ray tasks on an existing or a local cluster. Close it when done (it disconnects if it connected)."""

    def __init__(
        self,
        spec: DataSpec,
        protocol: EvalProtocol = FAST,
        limits: SandboxLimits | None = None,
        settings: RaySettings | None = None,
        train_limit: int | None = None,
        test_limit: int | None = None,
        static_check: bool = True,
    ) -> None:
        self.spec, self.protocol = spec, protocol
        self.settings = settings or RaySettings()
        if self.settings.num_cpus <= 0:
            raise RayExecutorError(f"num_cpus must be > 0, got {self.settings.num_cpus}")
        if self.settings.num_gpus is not None and self.settings.num_gpus < 0:
            raise RayExecutorError(f"num_gpus must be >= 0, got {self.settings.num_gpus}")
        if self.settings.max_retries < 0:
            raise RayExecutorError(f"max_retries must be >= 0, got {self.settings.max_retries}")
        # Threads per candidate follow its CPU share, so concurrent candidates on a node do not oversubscribe it.
        self.limits = replace(limits or SandboxLimits(), threads=max(1, int(self.settings.num_cpus)))
        self.train_limit, self.test_limit, self.static_check = train_limit, test_limit, static_check
        self._ray = _import_ray()
        self._owns_connection = False
        self._connect()
        self.num_gpus = self._gpu_share()
        self._check_feasible()
        self._remote = self._ray.remote(evaluate_on_node).options(
            num_cpus=self.settings.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=self.settings.max_retries,
            retry_exceptions=False,  # only system failures (a dead worker or node) are retried, never the candidate
        )
        self._closed = False

    # ---- the cluster -------------------------------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return  # the caller (a test, a notebook) already connected this process: use that cluster
        address = self.settings.address or os.environ.get("RAY_ADDRESS") or None
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False, **self.settings.init_kwargs)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError or ValueError depending on what failed
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise RayExecutorError(f"could not connect to {where}: {type(exc).__name__}: {exc}") from exc
        self._owns_connection = True

    def nodes(self) -> list[ClusterNode]:
        return describe_cluster(self._ray)

    def _gpu_share(self) -> float:
        if self.settings.num_gpus is not None:
            return float(self.settings.num_gpus)
        return 1.0 if any(n.alive and n.gpus > 0 for n in self.nodes()) else 0.0

    def _fits_somewhere(self) -> bool:
        return any(n.alive and n.cpus >= self.settings.num_cpus and n.gpus >= self.num_gpus for n in self.nodes())

    def _check_feasible(self) -> None:
        if not self._fits_somewhere():
            have = ", ".join(f"{n.address}: {n.cpus:g} CPU {n.gpus:g} GPU" for n in self.nodes() if n.alive) or "none"
            self.close()
            raise RayExecutorError(
                f"no node can run a candidate needing {self.settings.num_cpus:g} CPU and {self.num_gpus:g} GPU "
                f"(alive nodes: {have}); lower [evaluation] ray_num_cpus / ray_num_gpus"
            )

    def capacity(self) -> int:
        """How many candidates the alive nodes can run at once with the configured shares (at least 1)."""
        total = 0
        for n in self.nodes():
            if not n.alive:
                continue
            by_cpu = int(n.cpus // self.settings.num_cpus + 1e-9)
            by_gpu = int(n.gpus // self.num_gpus + 1e-9) if self.num_gpus > 0 else by_cpu
            total += min(by_cpu, by_gpu)
        return max(1, total)

    def describe(self) -> str:
        """A one-line summary for events and tooltips (at most 64 characters: run.created's `executor` limit)."""
        alive = [n for n in self.nodes() if n.alive]
        gpus = sum(n.gpus for n in alive)
        text = f"ray: {len(alive)} node{'s' * (len(alive) != 1)}, {sum(n.cpus for n in alive):g} CPU, {gpus:g} GPU"
        return text[:64]

    # ---- evaluation --------------------------------------------------------------------------------------------

    def _submit(self, task: EvalTask) -> Any:
        return self._remote.remote(
            task,
            self.spec,
            self.protocol,
            self.limits,
            self.train_limit,
            self.test_limit,
            self.static_check,
            self.num_gpus,
            self.settings.fork_server,
        )

    def _result_of(self, ref: Any, task: EvalTask) -> EvalResult:
        try:
            result = self._ray.get(ref)
        except Exception as exc:  # a lost worker or node past its retries, or the task itself raising
            return EvalResult(task.candidate, "crashed", message=_ray_failure_message(exc, self.settings.max_retries))
        if not isinstance(result, EvalResult) or result.candidate != task.candidate:
            return EvalResult(task.candidate, "crashed", message="the Ray task returned a result for another candidate")
        return result

    def map_unordered(
        self, tasks: Iterable[EvalTask], *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[EvalResult]:
        if self._closed:
            raise RuntimeError("RayExecutor is closed")
        pending_tasks = iter(tasks)
        in_flight: dict[Any, EvalTask] = {}
        exhausted = False
        stuck_since: float | None = None
        while True:
            if not exhausted:
                limit = self.capacity()
                while len(in_flight) < limit:
                    if should_stop is not None and should_stop():
                        exhausted = True
                        break
                    task = next(pending_tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    in_flight[self._submit(task)] = task
            if not in_flight:
                return
            ready, _ = self._ray.wait(list(in_flight), num_returns=1, timeout=5.0)
            if ready:
                stuck_since = None
                for ref in ready:
                    yield self._result_of(ref, in_flight.pop(ref))
                continue
            if self._fits_somewhere():
                stuck_since = None
                continue
            # No alive node can run these any more; Ray would keep them pending for ever.
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since < self.settings.unschedulable_after_s:
                continue
            for ref, task in list(in_flight.items()):
                self._ray.cancel(ref, force=True)
                del in_flight[ref]
                yield EvalResult(
                    task.candidate,
                    "crashed",
                    message=f"no node of the Ray cluster can run it any more (needs {self.settings.num_cpus:g} CPU, "
                    f"{self.num_gpus:g} GPU)",
                )
            exhausted = True

    def close(self) -> None:
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_connection = False
        self._closed = True

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ray_failure_message(exc: Exception, retries: int) -> str:
    name = type(exc).__name__
    cause = getattr(exc, "cause", None)  # RayTaskError wraps what the task raised
    if cause is not None:
        return f"the Ray task failed: {type(cause).__name__}: {cause}"[:2000]
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"lost on the Ray cluster after {retries} retries ({name}): {first_line}"[:2000]
