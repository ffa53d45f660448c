"""Where candidates are evaluated: the `Executor` interface and `LocalExecutor`, a pool of sandboxed workers.

`LocalExecutor` runs `workers` candidates at once on each device: on a GPU each child sees only its device through
CUDA_VISIBLE_DEVICES (and a share of its memory); on CPU the cores are split between the concurrent children. The
data set is decoded once into the .npy cache (archloop.evaluation.data) and memory-mapped by every child; a warm fork server
(archloop.evaluation.launcher) spares each child the torch import. A Ray executor implements the same interface.

Failure: `map_unordered` never raises for a candidate's behaviour; a failure of the machinery itself around one
candidate (no process could be started) becomes that candidate's result with outcome `crashed` and a message
saying so, and the batch goes on.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from archloop.evaluation.data import DatasetFiles
from archloop.evaluation.evaluate import FAST, EvalProtocol, EvalResult, EvalTask
from archloop.evaluation.launcher import ForkServer
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate, make_fork_server

__all__ = ["EvalResult", "EvalTask", "Executor", "LocalExecutor", "Slot"]


class Executor(Protocol):
    def map_unordered(
        self, tasks: Iterable[EvalTask], *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[EvalResult]:
        """Evaluate `tasks`, yielding results in completion order. Once `should_stop()` is true no new task starts;
        those already running finish and are yielded."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Slot:
    """One place a candidate can run: a device and the CPU threads / GPU memory share it gets there."""

    device: str
    threads: int
    gpu_memory_fraction: float | None


def idle_cores(cpu_count: int | None = None, load: float | None = None) -> int:
    """Cores no process is using right now by the 1-minute load average (at least 1).

    torch waits for all of its threads at the end of every op, so a thread on a core another process holds stalls
    each op for a scheduler time slice: a demo candidate trained in 6 s on 1 thread and 23-32 s on 2 (2 cores, load
    ~9). A CPU child therefore gets no more threads than there are idle cores when it starts.
    """
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform: count the machine as idle
            load = 0.0
    return max(1, round((cpu_count or os.cpu_count() or 1) - load))


def plan_slots(devices: Sequence[str], workers: int, cpu_count: int) -> list[Slot]:
    """`workers` slots per device; CPU slots split the cores, GPU slots split the device memory."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not devices:
        raise ValueError("no devices given")
    cpu_slots = workers * sum(1 for d in devices if not d.startswith("cuda"))
    slots = []
    for device in devices:
        for _ in range(workers):
            if device.startswith("cuda"):
                # A GPU child still needs a CPU thread or two for the Python side of training.
                slots.append(Slot(device, 2, 0.9 / workers if workers > 1 else None))
            else:
                slots.append(Slot(device, max(1, cpu_count // max(cpu_slots, 1)), None))
    return slots


class LocalExecutor:
    """Sandboxed evaluation on this host's devices, `workers` candidates at a time per device. Close it when done."""

    def __init__(
        self,
        dataset: DatasetFiles,
        protocol: EvalProtocol = FAST,
        limits: SandboxLimits | None = None,
        workers: int = 1,
        devices: Sequence[str] = ("cpu",),
        train_limit: int | None = None,
        test_limit: int | None = None,
        fork_server: bool = True,
        static_check: bool = True,
    ) -> None:
        self.dataset = dataset
        self.protocol = protocol
        self.limits = limits or SandboxLimits()
        self.slots = plan_slots(devices, workers, os.cpu_count() or 1)
        self.train_limit, self.test_limit, self.static_check = train_limit, test_limit, static_check
        self._server: ForkServer | None = make_fork_server(self.limits.scratch_root) if fork_server else None
        self._closed = False

    def _evaluate(self, task: EvalTask, slot: Slot) -> EvalResult:
        threads = slot.threads if slot.device.startswith("cuda") else min(slot.threads, idle_cores())
        limits = replace(self.limits, threads=threads, gpu_memory_fraction=slot.gpu_memory_fraction)
        try:
            return evaluate_candidate(
                task,
                self.dataset,
                self.protocol,
                limits,
                device=slot.device,
                train_limit=self.train_limit,
                test_limit=self.test_limit,
                static_check=self.static_check,
                launcher=self._server,
            )
        except Exception as exc:  # the machinery failed, not the candidate: report it on this candidate and go on
            return EvalResult(
                task.candidate, "crashed", message=f"executor could not run it: {type(exc).__name__}: {exc}"
            )

    def map_unordered(
        self, tasks: Iterable[EvalTask], *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[EvalResult]:
        if self._closed:
            raise RuntimeError("LocalExecutor is closed")
        free: queue.Queue[Slot] = queue.Queue()
        for slot in self.slots:
            free.put(slot)
        done: queue.Queue[EvalResult] = queue.Queue()

        def work(task: EvalTask, slot: Slot) -> None:
            result = self._evaluate(task, slot)
            free.put(slot)  # before the result, so the consumer finds the slot free when it wakes
            done.put(result)

        pending = iter(tasks)
        exhausted = False
        in_flight = 0
        while True:
            while not exhausted and not free.empty():
                if should_stop is not None and should_stop():
                    exhausted = True
                    break
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                threading.Thread(target=work, args=(task, free.get()), daemon=True).start()
                in_flight += 1
            if in_flight == 0:
                return
            result = done.get()
            in_flight -= 1
            yield result

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._closed = True

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
