"""Re-checks with scripted stages: queued as events, run behind the loop on their own thread, resumed after a restart.

Order, not time, is what is asserted: a re-check held until the loop finishes its cycle proves the loop waits for
nothing of it, and its results land after the cycle's evaluation."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from scripted_stages import ScriptedStages, scripted_accuracy
from test_loop import run_loop, small_config
from wire import assert_client_message, assert_server_message

from archloop.run.daemon import serve
from archloop.run.loop import LoopHooks, RunLoop
from archloop.run.recheck import GatedStages, RecheckRunner, pending_jobs, queue_recheck
from archloop.run.requests import RequestContext, RequestError, handle_request
from archloop.run.stages import EvalJob, Evaluation
from archloop.run.store import RunStore


def _result(job: EvalJob, epochs: int) -> Evaluation:
    accuracy = min(100.0, scripted_accuracy(job.code) + epochs + job.seed / 10)
    return Evaluation(job.candidate, "ok", accuracy, 10, 0.1, 0.01, None, None, None, epochs=epochs)


class HeldRechecker:
    """Holds each re-check evaluation until `release` is set; `stop_recheck` ends the one held now."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.released = False
        self.killed = False
        self.started = 0
        self.kills = 0

    def release(self) -> None:
        with self.cond:
            self.released = True
            self.cond.notify_all()

    def recheck(self, jobs: Sequence[EvalJob], epochs: int, should_stop) -> Iterator[Evaluation]:
        with self.cond:
            self.killed = False
        for job in jobs:
            if should_stop():
                return
            with self.cond:
                self.started += 1
                self.cond.notify_all()
                while not (self.released or self.killed):
                    self.cond.wait()
                if self.killed:
                    return
            yield _result(job, epochs)

    def stop_recheck(self) -> None:
        with self.cond:
            self.killed = True
            self.kills += 1
            self.cond.notify_all()


class RecheckingScripted(ScriptedStages):
    """Scripted stages that also re-check (instantly), as the daemon's stand-in."""

    def recheck(self, jobs: Sequence[EvalJob], epochs: int, should_stop) -> Iterator[Evaluation]:
        for job in jobs:
            if should_stop():
                return
            yield _result(job, epochs)

    def stop_recheck(self) -> None:
        return None


def _events(store: RunStore, kind: str):
    return [e for e in store.events_since(0, limit=100_000) if e.kind == kind]


def _ctx(store: RunStore, run_dir) -> RequestContext:
    return RequestContext(store=store, run_dir=run_dir, control=None, launch=None)


def test_a_request_queues_the_top_k_of_a_cycle_with_its_seeds_and_bad_requests_say_what_to_fix(tmp_path):
    run_dir = tmp_path / "r"
    store, _, _ = run_loop(run_dir, small_config(cycles=1))
    params = {"candidates": {"cycle": 1, "top_k": 2}, "epochs": 3, "seeds": 2}
    assert_client_message({"type": "request", "id": 1, "method": "candidate.recheck", "params": params})
    result = handle_request(_ctx(store, run_dir), "candidate.recheck", params)
    ok = sorted((c for c in store.candidates(1) if c.eval_outcome == "ok"), key=lambda c: -(c.accuracy or 0))
    assert result["candidates"] == [ok[0].id, ok[1].id] and result["jobs"] == 4 and not result["daemonStarted"]
    (queued,) = _events(store, "recheck.queued")
    assert_server_message(queued.to_wire(store.run_id))
    assert queued.data == {
        "recheck": result["recheck"],
        "candidates": result["candidates"],
        "epochs": 3,
        "seeds": [0, 1],
    }
    assert [(j.candidate, j.seed, j.epochs) for j in pending_jobs(store)] == [
        (ok[0].id, 0, 3),
        (ok[0].id, 1, 3),
        (ok[1].id, 0, 3),
        (ok[1].id, 1, 3),
    ]
    invalid = next(c for c in store.candidates(1) if c.eval_outcome != "ok")
    for bad, code, words in [
        ({"candidates": [invalid.id], "epochs": 2, "seeds": 1}, "conflict", "outcome ok"),
        ({"candidates": ["c9-0000"], "epochs": 2, "seeds": 1}, "not_found", "no candidate c9-0000"),
        ({"candidates": {"cycle": 5, "top_k": 2}, "epochs": 2, "seeds": 1}, "not_found", "cycle 5"),
        ({"candidates": [ok[0].id], "epochs": 0, "seeds": 1}, "bad_request", "epochs must be"),
    ]:
        with pytest.raises(RequestError) as err:
            handle_request(_ctx(store, run_dir), "candidate.recheck", bad)
        assert err.value.code == code and words in err.value.message
    handle_request(_ctx(store, run_dir), "recheck.cancel", {"recheck": result["recheck"]})
    assert pending_jobs(store) == []
    with pytest.raises(RequestError) as err:
        handle_request(_ctx(store, run_dir), "recheck.cancel", {"recheck": result["recheck"]})
    assert err.value.code == "conflict"


def test_a_recheck_runs_after_the_loops_evaluation_and_never_holds_up_the_cycle(tmp_path):
    run_dir = tmp_path / "r"
    store, stages, _ = run_loop(run_dir, small_config(cycles=1))
    queued = queue_recheck(store, {"candidates": {"cycle": 1, "top_k": 2}, "epochs": 5, "seeds": 1})
    store.set_target_cycles(2)
    rechecker = HeldRechecker()
    runner = RecheckRunner(lambda: RunStore(run_dir), rechecker, during_evaluation=False, should_stop=lambda: False)
    evaluating = []

    def on_cycle_finished(stats):
        # The loop got here while a re-check was held: it waited for nothing of it. Only now may re-checks finish.
        rechecker.release()

    class Watch(GatedStages):
        def evaluate(self, jobs, should_stop):
            yield from super().evaluate(jobs, should_stop)
            evaluating.append(rechecker.started)

    runner.start()
    with rechecker.cond:  # a re-check is under way before the cycle starts
        while rechecker.started == 0:
            rechecker.cond.wait()
    loop_store = RunStore(run_dir)
    result = RunLoop(
        loop_store, small_config(cycles=2), Watch(stages, runner), LoopHooks(on_cycle_finished=on_cycle_finished)
    ).run()
    assert result == "completed"
    runner.wait_idle()
    runner.stop()
    runner.join()
    assert rechecker.kills >= 1  # the held re-check was stopped when the loop's evaluation began
    events = store.events_since(0, limit=100_000)
    rechecked = [e for e in events if e.kind == "candidate.rechecked"]
    assert sorted(e.data["candidate"] for e in rechecked) == sorted(queued["candidates"])
    last_eval = max(e.seq for e in events if e.kind == "candidate.evaluated" and e.data["cycle"] == 2)
    cycle_done = next(e.seq for e in events if e.kind == "cycle.finished" and e.data["cycle"] == 2)
    assert all(e.seq > cycle_done > last_eval for e in rechecked)
    for e in rechecked:
        assert_server_message(e.to_wire(store.run_id))
        assert e.data["epochs"] == 5 and e.data["outcome"] == "ok" and e.data["recheck"] == queued["recheck"]
        assert e.data["cycle"] == 1
    assert pending_jobs(store) == []


def test_a_stopped_runner_leaves_the_rest_queued_and_a_new_daemon_finishes_it(tmp_path):
    run_dir = tmp_path / "r"
    store, _, _ = run_loop(run_dir, small_config(cycles=1))
    queue_recheck(store, {"candidates": {"cycle": 1, "top_k": 2}, "epochs": 2, "seeds": 2})
    rechecker = HeldRechecker()
    runner = RecheckRunner(lambda: RunStore(run_dir), rechecker, during_evaluation=False, should_stop=lambda: False)
    runner.start()
    with rechecker.cond:
        while rechecker.started == 0:
            rechecker.cond.wait()
    runner.stop()  # as a daemon stopping mid-re-check: the held evaluation is killed and not recorded
    runner.join()
    assert _events(store, "candidate.rechecked") == [] and len(pending_jobs(store)) == 4

    # A daemon started for the finished run runs what is queued, then exits.
    assert serve(run_dir, stages_factory=lambda config, d: RecheckingScripted(d / "scripted-state.json")) == 0
    rechecked = _events(store, "candidate.rechecked")
    assert len(rechecked) == 4 and pending_jobs(store) == []
    assert len({(e.data["candidate"], e.data["seed"]) for e in rechecked}) == 4
    assert store.run_info().state == "finished"


class BrokenRechecker:
    """The machinery fails (as with no data set): the runner records it on each job instead of retrying forever."""

    def recheck(self, jobs: Sequence[EvalJob], epochs: int, should_stop) -> Iterator[Evaluation]:
        raise RuntimeError("CIFAR-10 not found")
        yield  # a generator, as the real one

    def stop_recheck(self) -> None:
        return None


def test_a_recheck_whose_machinery_fails_is_recorded_as_crashed_with_the_reason(tmp_path):
    run_dir = tmp_path / "r"
    store, _, _ = run_loop(run_dir, small_config(cycles=1))
    queue_recheck(store, {"candidates": {"cycle": 1, "top_k": 1}, "epochs": 2, "seeds": 2})
    runner = RecheckRunner(
        lambda: RunStore(run_dir), BrokenRechecker(), during_evaluation=False, should_stop=lambda: False
    )
    runner.start()
    runner.wait_idle()
    runner.stop()
    runner.join()
    rechecked = _events(store, "candidate.rechecked")
    assert [e.data["outcome"] for e in rechecked] == ["crashed", "crashed"]
    assert all("CIFAR-10 not found" in e.data["message"] for e in rechecked)
    assert all(e.data["accuracy"] is None for e in rechecked) and pending_jobs(store) == []


def test_on_the_llms_gpu_generation_and_fine_tuning_hold_rechecks_back_too(tmp_path):
    calls = []

    class Recorder:
        def set_loop_evaluating(self, evaluating: bool) -> None:
            calls.append(evaluating)

    stages = ScriptedStages(tmp_path / "state.json")
    shared = GatedStages(stages, Recorder(), gpu_shared=True)
    shared.generate(1, None, lambda *_: None, None, lambda: False)
    list(shared.evaluate([], lambda: False))
    assert calls == [True, False, True, False]
    calls.clear()
    apart = GatedStages(stages, Recorder())
    apart.generate(1, None, lambda *_: None, None, lambda: False)
    list(apart.evaluate([], lambda: False))
    assert calls == [True, False]  # the evaluation only
