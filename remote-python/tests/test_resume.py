"""kill -9 the daemon at a named stage, `archloop start` again: the run continues at the first unfinished step with
no candidate lost, duplicated or re-generated."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest
from run_helpers import cli, stand_in, wait_for, write_config

from archloop.run.files import daemon_pid
from archloop.run.store import RunStore

CANDIDATES = 5
BATCH = 2


def wait_for_halt(run_dir, timeout=60.0):
    """Wait for the daemon to reach its halt point; fail at once (with its log) if it died on the way."""

    def halted_or_dead():
        if (run_dir / "halted").exists():
            return True
        if (run_dir / "daemon.pid").exists() or daemon_pid(run_dir) is not None:
            return False
        raise AssertionError(f"the daemon exited before its halt point:\n{(run_dir / 'daemon.log').read_text()}")

    wait_for(halted_or_dead, timeout=timeout, what="the daemon to halt")


def snapshot(run_dir):
    with RunStore(run_dir) as store:
        return {c.id: c.code for c in store.candidates() if c.code is not None}, store.events_since(0, limit=100_000)


# Events a step may record at most once per candidate / per cycle; verdicts and annotations are the user's to repeat.
REPEATABLE = {"candidate.verdict", "candidate.annotated", "finetune.progress"}
ONCE_PER_CYCLE = ("cycle.started", "cycle.selected", "finetune.done", "cycle.finished")


def audit_store(run_dir, candidates=CANDIDATES, finished=False):
    """What must hold after any kill: seq contiguous from 1, each candidate index present once per cycle (all of them
    once the cycle is past generation), each candidate's step events once, each cycle's milestones at most once, and
    (once `finished`) every cycle complete with one run.finished at the end."""
    with RunStore(run_dir) as store:
        events = store.events_since(0, limit=1_000_000)
        candidates_by_cycle = Counter((c.cycle, c.index) for c in store.candidates())
        cycles = store.cycles()
        state = store.run_info().state
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq not contiguous"
    assert all(n == 1 for n in candidates_by_cycle.values()), f"an index twice: {candidates_by_cycle}"
    for record in cycles:
        indices = sorted(i for cy, i in candidates_by_cycle if cy == record.cycle)
        assert set(indices) <= set(range(candidates))
        if record.stage != "generating":
            assert indices == list(range(candidates)), f"cycle {record.cycle} at {record.stage} lacks candidates"
    per_candidate = Counter(
        (e.kind, e.data["candidate"]) for e in events if "candidate" in e.data and e.kind not in REPEATABLE
    )
    repeated = [key for key, n in per_candidate.items() if n > 1]
    assert not repeated, f"candidate events recorded twice: {repeated}"
    per_cycle = Counter((e.kind, e.data.get("cycle")) for e in events if e.kind in ONCE_PER_CYCLE)
    assert all(n == 1 for n in per_cycle.values()), f"cycle events recorded twice: {per_cycle}"
    if finished:
        assert state == "finished" and all(r.stage == "finished" for r in cycles)
        assert [e.kind for e in events].count("run.finished") == 1 and events[-1].kind == "run.finished"


def kill_at(run_dir, stage, config=None):
    """Start the daemon (creating the run from `config` if given) halting at `stage`, SIGKILL it there, return the
    candidates' code committed before the kill."""
    args = ["start", "--run-dir", str(run_dir)] + (["--config", str(config)] if config else [])
    started = cli(*args, command=stand_in(halt_at=stage))
    assert started.returncode == 0, started.stderr
    wait_for_halt(run_dir)
    before_kill, _ = snapshot(run_dir)
    os.kill(daemon_pid(run_dir), signal.SIGKILL)
    wait_for(lambda: daemon_pid(run_dir) is None, what="the lock to be released by the kill")
    (run_dir / "halted").unlink()
    return before_kill


def assert_consistent_two_cycle_run(run_dir, before_kill):
    codes, events = snapshot(run_dir)
    # Nothing committed before the kill was lost or re-generated.
    for cid, code in before_kill.items():
        assert codes[cid] == code
    assert sorted(codes) == sorted(f"c{cy}-{i:04d}" for cy in (1, 2) for i in range(CANDIDATES))
    kinds = Counter(e.kind for e in events)
    assert kinds["cycle.started"] == 2 and kinds["cycle.selected"] == 2
    assert kinds["finetune.done"] == 2 and kinds["cycle.finished"] == 2
    per_candidate = Counter((e.kind, e.data.get("candidate")) for e in events if "candidate" in e.data)
    duplicated = [key for key, n in per_candidate.items() if n > 1 and key[0] != "candidate.verdict"]
    assert not duplicated, f"steps recorded twice: {duplicated}"
    assert kinds["candidate.generated"] == 2 * CANDIDATES
    with RunStore(run_dir) as store:
        for c in store.candidates():
            assert c.status in ("invalid", "checked", "evaluated")
            if c.status == "checked":
                assert not (c.novel or c.let_through), f"{c.id} was eligible but never evaluated"
        assert store.run_info().state == "finished"
    # Sampling: only a candidate in flight at the kill (never committed) may have been sampled twice.
    serials = json.loads((run_dir / "scripted-state.json").read_text())["serial"]
    assert 2 * CANDIDATES <= serials <= 2 * CANDIDATES + BATCH
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize(
    "stage",
    [
        "generation:1",  # mid-generation: a batch half committed
        "evaluation:1",  # mid-evaluation: some results in, others not
        "before-selection:1",  # between evaluation and selection
        "after-selection:1",  # selected, fine-tune not started
        "finetune:2",  # mid-fine-tune: progress events written, adapter partial
        "between-cycles:1",  # cycle 1 finished, cycle 2 not started
    ],
)
def test_kill_minus_nine_at_a_stage_then_start_resumes_without_loss_or_duplication(tmp_path, stage):
    run_dir = tmp_path / "run"
    config = write_config(
        tmp_path / "c.toml",
        cycles=2,
        candidates=CANDIDATES,
        generation={"batch_size": BATCH},
        selection={"threshold": 30.0, "fallback_threshold": 10.0, "min_selected": 2},
        novelty={"check_at_generation": False},
    )
    halting = stand_in(halt_at=stage)
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=halting).returncode == 0
    wait_for_halt(run_dir)
    pid = daemon_pid(run_dir)
    before_kill, _ = snapshot(run_dir)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: daemon_pid(run_dir) is None, what="the lock to be released by the kill")
    (run_dir / "halted").unlink()
    status = cli("status", "--run-dir", str(run_dir), "--json")
    assert json.loads(status.stdout)["state"] == "stopped"  # a dead daemon's run reads as stopped
    resumed = cli("start", "--run-dir", str(run_dir), command=stand_in())
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: daemon_pid(run_dir) is None, timeout=120, what="the resumed run to finish")
    assert_consistent_two_cycle_run(run_dir, before_kill)


def test_real_stages_killed_mid_evaluation_resume_and_finish_the_cycle(tmp_path, shared_tiny_llama):
    """The daemon with the real sandbox, executor, MinHash, selection and PEFT (generation replays seed variants,
    see tests/real_stages.py): kill -9 while candidates are being trained, start again, and the run completes."""
    from real_stages import real_config, toml_text

    config = tmp_path / "real.toml"
    config.write_text(toml_text(real_config(shared_tiny_llama, tmp_path / "cache", cycles=1, candidates=2)))
    run_dir = tmp_path / "run"
    halting = stand_in("seed-variants", halt_at="evaluation:1")
    started = cli("start", "--run-dir", str(run_dir), "--config", str(config), command=halting)
    assert started.returncode == 0, started.stderr
    wait_for_halt(run_dir, timeout=240)
    before_kill, _ = snapshot(run_dir)
    os.kill(daemon_pid(run_dir), signal.SIGKILL)
    wait_for(lambda: daemon_pid(run_dir) is None, what="the kill to release the lock")
    (run_dir / "halted").unlink()
    assert cli("start", "--run-dir", str(run_dir), command=stand_in("seed-variants")).returncode == 0
    wait_for(lambda: daemon_pid(run_dir) is None, timeout=300, what="the resumed run to finish")
    codes, events = snapshot(run_dir)
    assert all(codes[k] == v for k, v in before_kill.items())
    kinds = Counter(e.kind for e in events)
    assert kinds["candidate.generated"] == 2 and kinds["cycle.finished"] == 1, (run_dir / "daemon.log").read_text()
    per_candidate = Counter((e.kind, e.data.get("candidate")) for e in events if "candidate" in e.data)
    assert max(per_candidate.values()) == 1
    with RunStore(run_dir) as store:
        trained = [c for c in store.candidates() if c.eval_outcome == "ok"]
        assert trained and all(0 <= c.accuracy <= 100 for c in trained)  # real one-epoch training on synthetic data
        assert any(c.selected for c in store.candidates())
        assert store.adapter(1).pairs > 16  # the seeds and the selected candidates
        assert store.run_info().state == "finished"
    assert (
        int((run_dir / "variant-counter").read_text()) == 2
    )  # nothing was sampled again  # only the in-flight batch could be sampled again


# Every checkpoint the loop names, in the order a two-cycle run passes them (the last, between-cycles:2, is its end).
EVERY_STAGE = [
    f"{name}:{cycle}"
    for cycle in (1, 2)
    for name in ("generation", "evaluation", "before-selection", "after-selection", "finetune", "between-cycles")
][:-1]


def test_chaos_sigkill_at_every_named_stage_in_turn_and_the_store_stays_sound(tmp_path):
    """One run killed at each of the loop's named stages in turn, resumed each time: the store is audited after every
    kill, and the run finishes with nothing lost, duplicated or sampled again beyond the batch in flight."""
    run_dir = tmp_path / "run"
    config = write_config(
        tmp_path / "c.toml",
        cycles=2,
        candidates=CANDIDATES,
        generation={"batch_size": BATCH},
        selection={"threshold": 30.0, "fallback_threshold": 10.0, "min_selected": 2},
        novelty={"check_at_generation": False},
    )
    committed: dict[str, str] = {}
    for number, stage in enumerate(EVERY_STAGE):
        before_kill = kill_at(run_dir, stage, config if number == 0 else None)
        assert all(before_kill[cid] == code for cid, code in committed.items()), f"code changed by the kill at {stage}"
        committed = before_kill
        audit_store(run_dir)
    resumed = cli("start", "--run-dir", str(run_dir), command=stand_in())
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: daemon_pid(run_dir) is None, timeout=120, what="the resumed run to finish")
    audit_store(run_dir, finished=True)
    codes, _ = snapshot(run_dir)
    assert all(codes[cid] == code for cid, code in committed.items())
    # Each kill at a generation checkpoint may lose the batch then in flight (sampled, never committed).
    serials = json.loads((run_dir / "scripted-state.json").read_text())["serial"]
    assert 2 * CANDIDATES <= serials <= 2 * CANDIDATES + 2 * BATCH
