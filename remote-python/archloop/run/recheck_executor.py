"""The real stages' re-check evaluation: the run's sandbox and executor kind (local or Ray), trained for E epochs.

Each re-check batch gets an executor of its own, so the loop's executor is never shared or waited for: its size is
`[evaluation] recheck_share` of the workers (at least one), its per-candidate time limit E times the configured one.
`stop_recheck` closes that executor from another thread: a local one's fork server then kills every child it
started; a Ray one is shut down when this process owns the Ray connection.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence

from archloop.callbacks import StopPredicate
from archloop.evaluation.evaluate import EvalTask
from archloop.evaluation.executor import Executor, LocalExecutor
from archloop.run.llm_stages import LlmStages, evaluation_of, shares_device
from archloop.run.stages import EvalJob, Evaluation, Stages


class ExecutorRechecker:
    def __init__(self, stages: LlmStages) -> None:
        self._stages = stages
        self._lock = threading.Lock()
        self._pool: Executor | None = None

    @property
    def gpu_shared(self) -> bool:
        """Whether re-checks would train on a GPU the LLM uses (then the loop's every stage holds them back)."""
        ev = self._stages.config.evaluation
        devices = list(ev.devices) or [self._stages._device]
        return ev.executor == "local" and any(shares_device(self._stages.config.model.device, d) for d in devices)

    def _executor(self, epochs: int) -> Executor:
        ev = self._stages.config.evaluation
        protocol = dataclasses.replace(self._stages._protocol(), epochs=epochs)
        limits = dataclasses.replace(self._stages._limits, timeout_s=ev.time_limit_s * epochs)
        if ev.executor == "ray":
            return self._stages._ray_executor(protocol, limits)
        workers = max(1, round(ev.workers * ev.recheck_share))
        devices = list(ev.devices) or [self._stages._device]
        return LocalExecutor(self._stages.dataset(), protocol, limits, workers=workers, devices=devices)

    def recheck(self, jobs: Sequence[EvalJob], epochs: int, should_stop: StopPredicate) -> Iterator[Evaluation]:
        tasks = [EvalTask(job.candidate, job.code, job.seed) for job in jobs]
        data = self._stages.data_kind()
        pool = self._executor(epochs)
        with self._lock:
            self._pool = pool
        try:
            for r in pool.map_unordered(tasks, should_stop=should_stop):
                yield evaluation_of(r, data=data, protocol=None, epochs=epochs, message=r.message)
        finally:
            with self._lock:
                self._pool = None
            pool.close()

    def stop_recheck(self) -> None:
        with self._lock:
            pool = self._pool
        if pool is not None:
            pool.close()


def rechecker_for(stages: Stages) -> ExecutorRechecker | None:
    return ExecutorRechecker(stages) if isinstance(stages, LlmStages) else None
