"""Re-checks: a longer evaluation (E epochs, S seeds) of chosen candidates, to test how well the one-epoch proxy ranks.

The queue is the run store's events: `recheck.queued` names the candidates, epochs and seeds; each finished
evaluation is a `candidate.rechecked`; `recheck.cancelled` drops what a re-check has not yet run. What is queued and
not yet rechecked is `pending_jobs`, so a daemon restarted after a crash or a stop resumes the queue where it was.

Priority: the loop comes first. `RecheckRunner` runs in the daemon beside the loop, on its own executor (the same
sandbox and executor kind as the loop's, built by the stages' `recheck`), and the loop never waits for it. With
`[evaluation] recheck_share = 0` a re-check starts only while the loop is not evaluating, and one still running
when the loop's evaluation begins is stopped (killed; it stays queued and runs again later). With a share above 0
re-checks also run during the loop's evaluation, on that share of the workers. `GatedStages` is how the runner
learns when the loop evaluates: it wraps the loop's stages and marks the evaluation's start and end (and, when
re-checks would train on the GPU the LLM uses, generation and fine-tuning too: then they run only between stages).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from archloop.callbacks import StopPredicate
from archloop.run.stages import EvalJob, Evaluation, Stages
from archloop.run.store import RunStore

QUEUED, CANCELLED, RECHECKED = "recheck.queued", "recheck.cancelled", "candidate.rechecked"
MAX_EPOCHS, MAX_SEEDS, MAX_CANDIDATES = 1000, 100, 1000


class RecheckRequestError(ValueError):
    """A re-check request that cannot be queued; the message says what to change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RecheckJob:
    recheck: str
    candidate: str
    cycle: int
    code: str
    epochs: int
    seed: int


@runtime_checkable
class Rechecker(Protocol):
    """What stages offer to run re-checks: `recheck` evaluates `jobs` for `epochs` epochs on an executor of its own
    (task ids are the jobs' `candidate`); `stop_recheck`, called from another thread, kills what it runs now."""

    def recheck(self, jobs: Sequence[EvalJob], epochs: int, should_stop: StopPredicate) -> Iterator[Evaluation]: ...

    def stop_recheck(self) -> None: ...


# ---- the queue ----------------------------------------------------------------------------------------------------


def _bounded_int(params: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecheckRequestError("bad_request", f"candidate.recheck: {name} must be a whole number {low}..{high}")
    return value


def resolve_candidates(store: RunStore, spec: Any) -> list[str]:
    """The ids a request names: a list of ids, or {cycle, top_k}: the cycle's top K by one-epoch accuracy."""
    if isinstance(spec, Mapping):
        cycle, top_k = spec.get("cycle"), spec.get("top_k")
        if not isinstance(cycle, int) or not isinstance(top_k, int) or top_k < 1:
            raise RecheckRequestError("bad_request", "candidate.recheck: candidates must be {cycle, top_k >= 1}")
        scored = [c for c in store.candidates(cycle) if c.eval_outcome == "ok" and c.accuracy is not None]
        if not scored:
            raise RecheckRequestError("not_found", f"cycle {cycle} has no evaluated candidate with an accuracy yet")
        scored.sort(key=lambda c: (-(c.accuracy or 0.0), c.id))
        return [c.id for c in scored[:top_k]]
    if not isinstance(spec, list) or not spec or len(spec) > MAX_CANDIDATES:
        raise RecheckRequestError(
            "bad_request", f"candidate.recheck: candidates must be 1..{MAX_CANDIDATES} ids or {{cycle, top_k}}"
        )
    ids = list(dict.fromkeys(str(c) for c in spec))
    for cid in ids:
        record = store.candidate(cid)
        if record is None:
            raise RecheckRequestError("not_found", f"no candidate {cid} in this run")
        if record.eval_outcome != "ok" or record.code is None:
            raise RecheckRequestError(
                "conflict",
                f"candidate {cid} has no successful one-epoch evaluation to compare with: re-check only "
                "candidates that trained (outcome ok)",
            )
    return ids


def queue_recheck(store: RunStore, params: Mapping[str, Any]) -> dict[str, Any]:
    """Record a `recheck.queued` event for the request; returns {recheck, candidates, jobs, seq}."""
    ids = resolve_candidates(store, params.get("candidates"))
    epochs = _bounded_int(params, "epochs", 1, MAX_EPOCHS)
    seeds = list(range(_bounded_int(params, "seeds", 1, MAX_SEEDS)))
    recheck = f"rc-{uuid.uuid4().hex[:10]}"
    event = store.append_event(QUEUED, {"recheck": recheck, "candidates": ids, "epochs": epochs, "seeds": seeds})
    return {"recheck": recheck, "candidates": ids, "jobs": len(ids) * len(seeds), "seq": event.seq}


def cancel_recheck(store: RunStore, recheck: str) -> dict[str, Any]:
    queued = {e.data["recheck"] for e in store.events_of_kinds([QUEUED])}
    if recheck not in queued:
        raise RecheckRequestError("not_found", f"no re-check {recheck} in this run")
    if recheck in {e.data["recheck"] for e in store.events_of_kinds([CANCELLED])}:
        raise RecheckRequestError("conflict", f"re-check {recheck} is already cancelled")
    return {"seq": store.append_event(CANCELLED, {"recheck": recheck}).seq}


def pending_jobs(store: RunStore) -> list[RecheckJob]:
    """Queued (candidate, seed) evaluations with no result and no cancel, in the order they were queued."""
    events = store.events_of_kinds([QUEUED, CANCELLED, RECHECKED])
    cancelled = {e.data["recheck"] for e in events if e.kind == CANCELLED}
    done = {(e.data["recheck"], e.data["candidate"], e.data["seed"]) for e in events if e.kind == RECHECKED}
    jobs: list[RecheckJob] = []
    for e in events:
        if e.kind != QUEUED or e.data["recheck"] in cancelled:
            continue
        for cid in e.data["candidates"]:
            record = store.candidate(cid)
            if record is None or record.code is None:
                continue
            for seed in e.data["seeds"]:
                if (e.data["recheck"], cid, seed) not in done:
                    jobs.append(RecheckJob(e.data["recheck"], cid, record.cycle, record.code, e.data["epochs"], seed))
    return jobs


def record_result(store: RunStore, job: RecheckJob, result: Evaluation) -> None:
    accuracy = result.accuracy if result.outcome == "ok" else None
    store.append_event(
        RECHECKED,
        {
            "cycle": job.cycle,
            "candidate": job.candidate,
            "recheck": job.recheck,
            "epochs": job.epochs,
            "seed": job.seed,
            "outcome": result.outcome,
            "accuracy": None if accuracy is None else round(float(accuracy), 4),
            "trainSeconds": result.train_seconds,
            "message": None if result.message is None else result.message[:60_000],
        },
    )


# ---- running ------------------------------------------------------------------------------------------------------


class RecheckRunner:
    """Runs pending re-checks on its own thread and store connection, behind the loop (see the module docstring)."""

    def __init__(
        self,
        open_store: Callable[[], RunStore],
        rechecker: Rechecker,
        *,
        during_evaluation: bool,
        should_stop: StopPredicate,
    ) -> None:
        self._open_store = open_store
        self._rechecker = rechecker
        self.rechecker = rechecker
        self._during_evaluation = during_evaluation
        self._should_stop = should_stop
        self._cond = threading.Condition()
        self._changes = 0  # bumped by every commit: the runner looks at the queue again
        self._loop_evaluating = False
        self._running: str | None = None  # the re-check whose batch runs now
        self._interrupted = False
        self._stopped = False
        self._idle = False  # until the runner has looked at the queue
        self._thread: threading.Thread | None = None

    # -- called from other threads --

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="archloop-recheck", daemon=True)
        self._thread.start()

    def wake(self, events: Sequence[Any] = ()) -> None:
        """Events were committed (a new queue entry, a cancel, a stop request): look again. A cancel of the re-check
        that runs now kills it at once."""
        with self._cond:
            self._changes += 1
            cancelled = {e.data.get("recheck") for e in events if e.kind == CANCELLED}
            stop = self._running is not None and self._running in cancelled
            if stop:
                self._interrupted = True
            self._cond.notify_all()
        if stop:
            self._rechecker.stop_recheck()

    def set_loop_evaluating(self, evaluating: bool) -> None:
        with self._cond:
            self._loop_evaluating = evaluating
            self._changes += 1
            stop = evaluating and not self._during_evaluation and self._running is not None
            if stop:
                self._interrupted = True
            self._cond.notify_all()
        if stop:
            self._rechecker.stop_recheck()  # killed re-checks stay queued: they run again after the evaluation

    def stop(self) -> None:
        """Stop now (the daemon is stopping): kill what runs; the queue stays for the next daemon."""
        with self._cond:
            self._stopped = True
            self._interrupted = self._running is not None
            self._cond.notify_all()
        self._rechecker.stop_recheck()
        self.wake()

    def wait_idle(self) -> None:
        """Block until nothing is pending or running (or the daemon stops): a finished run drains its queue."""
        with self._cond:
            while not (self._idle or self._halted()):
                self._cond.wait()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    # -- the runner's thread --

    def _main(self) -> None:
        with self._open_store() as store:
            while not self._halted():
                with self._cond:
                    seen = self._changes
                jobs = [] if self._gate_closed() else pending_jobs(store)
                if jobs:
                    self._run_batch(store, jobs, self._cancel_check(store))
                    continue
                with self._cond:
                    self._idle = not pending_jobs(store)
                    self._cond.notify_all()
                    while self._changes == seen and not self._halted():
                        self._cond.wait()
                    self._idle = False
        with self._cond:
            self._idle = True
            self._cond.notify_all()

    def _halted(self) -> bool:
        return self._stopped or self._should_stop()

    def _gate_closed(self) -> bool:
        with self._cond:
            return self._loop_evaluating and not self._during_evaluation

    def _cancel_check(self, store: RunStore) -> Callable[[str], bool]:
        def cancelled(recheck: str) -> bool:
            return any(e.data["recheck"] == recheck for e in store.events_of_kinds([CANCELLED]))

        return cancelled

    def _run_batch(self, store: RunStore, jobs: list[RecheckJob], cancelled: Callable[[str], bool]) -> None:
        """One re-check's pending jobs of the first epochs value, until done, cancelled, gated or stopped."""
        first = jobs[0]
        batch = [j for j in jobs if j.recheck == first.recheck and j.epochs == first.epochs]
        by_task = {f"recheck-{i}": job for i, job in enumerate(batch)}
        tasks = [EvalJob(task, job.code, job.seed) for task, job in by_task.items()]
        with self._cond:
            self._running, self._interrupted = first.recheck, False

        def should_stop() -> bool:
            return self._halted() or self._gate_closed() or self._interrupted_now() or cancelled(first.recheck)

        done: set[str] = set()
        failure: str | None = None
        try:
            for result in self._rechecker.recheck(tasks, first.epochs, should_stop):
                if self._interrupted_now() or cancelled(first.recheck):
                    continue  # killed on purpose: not the candidate's result; it stays queued (or cancelled)
                record_result(store, by_task[result.candidate], result)
                done.add(result.candidate)
        except Exception as exc:  # the machinery failed (no data set, no Ray): say so on each job, not retry forever
            failure = f"the re-check could not run: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self._running = None
        if should_stop() and failure is None:
            return  # stopped, gated or cancelled: what did not finish stays queued
        for task, job in by_task.items():
            if task not in done:
                message = failure or "the executor returned no result for this re-check"
                record_result(store, job, Evaluation(task, "crashed", None, None, None, None, None, None, message))

    def _interrupted_now(self) -> bool:
        with self._cond:
            return self._interrupted


class GatedStages:
    """The loop's stages, telling the re-check runner when the loop's evaluation starts and ends. With `gpu_shared`
    (re-checks train on the GPU the LLM uses) generation and fine-tuning hold re-checks back too: a re-check must
    never take the memory the loop's own stages need."""

    def __init__(self, stages: Stages, runner: RecheckRunner, gpu_shared: bool = False) -> None:
        self._stages = stages
        self._runner = runner
        self._gpu_shared = gpu_shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stages, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if not self._gpu_shared:
            return self._stages.generate(*args, **kwargs)
        self._runner.set_loop_evaluating(True)
        try:
            return self._stages.generate(*args, **kwargs)
        finally:
            self._runner.set_loop_evaluating(False)

    def finetune(self, *args: Any, **kwargs: Any) -> Any:
        if not self._gpu_shared:
            return self._stages.finetune(*args, **kwargs)
        self._runner.set_loop_evaluating(True)
        try:
            return self._stages.finetune(*args, **kwargs)
        finally:
            self._runner.set_loop_evaluating(False)

    def evaluate(self, jobs: Sequence[EvalJob], should_stop: StopPredicate) -> Iterator[Evaluation]:
        self._runner.set_loop_evaluating(True)
        try:
            yield from self._stages.evaluate(jobs, should_stop)
        finally:
            self._runner.set_loop_evaluating(False)
