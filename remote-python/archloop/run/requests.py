"""The wire requests about one run, applied to its store: shared by the daemon and by `attach` when no daemon runs.

Every state change is committed to the store before this returns, so the caller acknowledges only what is durable.
Failures are RequestError with a wire ErrorCode ('bad_request', 'not_found', 'conflict', 'unavailable', ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from archloop.evaluation.contract import check_source
from archloop.run.files import daemon_pid
from archloop.run.recheck import RecheckRequestError, cancel_recheck, queue_recheck
from archloop.run.records import NotFound, StoreError
from archloop.run.store import RunStore, is_run_dir

# States that mean "a daemon is working on it": without a live daemon they read as stopped.
_LIVE_STATES = ("running", "paused", "stopping")
# States in which a live daemon's run can still be paused or asked to stop.
_ACTIVE_STATES = ("created", "running", "paused")


class RequestError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RunControl(Protocol):
    """What a live daemon offers the request handler (the store change is already committed when these run)."""

    def stop(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


# Starts a daemon for the run (resume); returns its pid. Raises RequestError('conflict', ...) if one runs.
Launcher = Callable[[], int]


@dataclass(frozen=True)
class RequestContext:
    store: RunStore
    run_dir: Path
    control: RunControl | None  # None: no daemon in this process (attach without a daemon)
    launch: Launcher | None


def run_summary(store: RunStore, run_dir: Path) -> dict[str, Any]:
    """The wire RunSummary of a run."""
    info = store.run_info()
    alive = daemon_pid(run_dir) is not None
    state = info.state
    if not alive and state in _LIVE_STATES:
        state = "stopped"  # its daemon died (kill -9, reboot): `start` resumes it
    return {
        "run": info.id,
        "name": info.name[:256],
        "dir": str(run_dir.resolve()),
        "state": state,
        "cycle": store.current_cycle(),
        "cycles": info.target_cycles,
        "lastSeq": store.last_seq(),
        "daemonAlive": alive,
        "createdAt": info.created_at,
    }


def list_runs(root: Path) -> list[dict[str, Any]]:
    """RunSummary of every run directly under `root` (and `root` itself if it is a run), newest first."""
    dirs = [root] if is_run_dir(root) else []
    if root.is_dir():
        dirs += sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p))
    summaries = []
    for d in dirs:
        try:
            with RunStore(d) as store:
                summaries.append(run_summary(store, d))
        except (StoreError, OSError) as exc:
            # One broken run must not hide the others; it is left out and named on stderr by the CLI caller.
            summaries.append({"error": f"{d}: {exc}", "dir": str(d)})
    good = [s for s in summaries if "error" not in s]
    good.sort(key=lambda s: s["createdAt"], reverse=True)
    return good


def handle_request(ctx: RequestContext, method: str, params: Mapping[str, Any]) -> Any:
    """Apply one request; returns its result or raises RequestError."""
    store = ctx.store
    try:
        if method == "run.status":
            return run_summary(store, ctx.run_dir)
        if method == "runs.list":
            root = params.get("root")
            return list_runs(Path(root).expanduser() if root else ctx.run_dir.resolve().parent)
        if method == "candidate.verdict":
            event = store.set_verdict(str(params["candidate"]), params.get("verdict"))
            return {"seq": event.seq}
        if method == "candidate.annotate":
            event = store.annotate(str(params["candidate"]), str(params["text"]), list(params.get("tags", [])))
            return {"seq": event.seq}
        if method == "adapter.keep":
            keep = params["keep"]
            if not isinstance(keep, bool):
                raise RequestError("bad_request", f"adapter.keep: keep must be true or false, got {keep!r}")
            event = store.set_adapter_keep(int(params["cycle"]), keep)
            return {"seq": event.seq}
        if method == "candidate.submit":
            return submit_candidate(store, params)
        if method in ("candidate.recheck", "recheck.cancel"):
            return _recheck(ctx, method, params)
        if method == "run.stop":
            # Only a run under way can be asked to stop; stopping an ended one is a no-op, not a new state.
            if ctx.control is not None and store.run_info().state in _ACTIVE_STATES:
                store.set_state("stopping")
                ctx.control.stop()
            elif ctx.control is not None:
                ctx.control.stop()  # an ended run's daemon still running re-checks: they stop and stay queued
            return run_summary(store, ctx.run_dir)
        if method == "run.pause":
            if ctx.control is None:
                raise RequestError("unavailable", "no daemon is running this run: nothing to pause")
            state = store.run_info().state
            if state not in ("running", "paused"):
                raise RequestError("conflict", f"the run is {state}: only a running run can be paused")
            store.set_state("paused")
            ctx.control.pause()
            return run_summary(store, ctx.run_dir)
        if method in ("run.resume", "run.start"):
            _refuse_if_stopping(ctx)
            cycles = params.get("cycles")
            if cycles is not None and int(cycles) > store.run_info().target_cycles:
                store.set_target_cycles(int(cycles))
            return _resume(ctx)
        if method == "cycle.run":
            count = int(params["count"])
            if count < 1:
                raise RequestError("bad_request", f"count must be >= 1, got {count}")
            _refuse_if_stopping(ctx)
            target = store.add_cycles(count)
            summary = _resume(ctx)
            return {**summary, "cycles": target}
    except NotFound as exc:
        raise RequestError("not_found", str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestError("bad_request", f"{method}: bad params ({exc})") from None
    raise RequestError("unknown_method", f"unknown method {method!r}")


def submit_candidate(store: RunStore, params: Mapping[str, Any]) -> dict[str, Any]:
    """Store a human-written candidate (the wire CandidateSubmitResult), or refuse it with the static check's
    problems at their lines of the submitted code: a refusal is a result, so the editor can show where."""
    code, parent, prefer = params["code"], params.get("parent"), params.get("cycle", "current")
    if not isinstance(code, str):
        raise RequestError(
            "bad_request", f"candidate.submit: code must be the module's text, got {type(code).__name__}"
        )
    if parent is not None and not isinstance(parent, str):
        raise RequestError("bad_request", "candidate.submit: parent must be a candidate id")
    report = check_source(code)
    if not report.ok:
        problems = [{"line": p.line, "message": p.message[:60_000]} for p in report.problems]
        return {"accepted": False, "outcome": report.outcome, "problems": problems[:1000]}
    # The model's slots of a cycle are 0 .. candidates_per_cycle - 1: a human one takes the next free index above.
    per_cycle = int(store.run_info().config.get("run", {}).get("candidates_per_cycle", 0))
    record, _events = store.submit_candidate(code, parent, str(prefer), first_index=per_cycle)
    return {"accepted": True, "candidate": record.id, "cycle": record.cycle}


def _recheck(ctx: RequestContext, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Queue (or cancel) a re-check. A finished run with no daemon gets one, which runs the queue and exits; any other
    run's queue runs when its daemon does (queueing never resumes a stopped run's cycles)."""
    try:
        if method == "recheck.cancel":
            return cancel_recheck(ctx.store, str(params["recheck"]))
        result = queue_recheck(ctx.store, params)
    except RecheckRequestError as exc:
        raise RequestError(exc.code, str(exc)) from None
    started = False
    if ctx.store.run_info().state == "finished" and daemon_pid(ctx.run_dir) is None and ctx.launch is not None:
        ctx.launch()
        started = True
    return {**result, "daemonStarted": started}


def _refuse_if_stopping(ctx: RequestContext) -> None:
    # A live daemon asked to stop cannot be taken back: it would end the run anyway.
    if ctx.control is not None and ctx.store.run_info().state == "stopping":
        raise RequestError("conflict", "the run is stopping after its current step; start it again once it has stopped")


def _resume(ctx: RequestContext) -> dict[str, Any]:
    if ctx.control is not None:
        if ctx.store.run_info().state == "paused":
            ctx.store.set_state("running")  # records run.resumed; a running or ending loop sets its own state
        ctx.control.resume()
    elif daemon_pid(ctx.run_dir) is None:
        if ctx.launch is None:
            raise RequestError("unavailable", "no daemon is running and this process cannot start one")
        ctx.launch()
    return run_summary(ctx.store, ctx.run_dir)
