"""The detached daemon: start, lock, requests over its socket, stop, SIGTERM — all as real processes."""

import os
import signal

import pytest
from run_helpers import HUMAN_NET, cli, stand_in, wait_for, write_config
from wire import assert_server_message

from archloop.run.daemon import DaemonControl, connect, request, start_daemon
from archloop.run.files import RunFiles, daemon_pid
from archloop.run.requests import RequestContext, RequestError, handle_request
from archloop.run.store import RunStore


@pytest.fixture
def paused_run(tmp_path):
    """A started daemon kept busy by slow scripted stages, stopped at the end."""
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.toml", cycles=50, candidates=4)
    command = stand_in(slow=0.05)
    result = cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command)
    assert result.returncode == 0, result.stderr
    yield run_dir, command
    cli("stop", "--run-dir", str(run_dir), command=command)


def test_start_launches_a_detached_daemon_in_its_own_session_and_stop_ends_it(paused_run):
    run_dir, command = paused_run
    pid = daemon_pid(run_dir)
    assert pid and pid > 0
    assert os.getsid(pid) == pid  # session leader: survives the terminal/SSH link that started it
    assert (run_dir / "daemon.log").exists() and RunFiles(run_dir).recorded_socket() is not None
    status = cli("status", "--run-dir", str(run_dir), "--json", command=command)
    assert '"daemonAlive": true' in status.stdout
    stopped = cli("stop", "--run-dir", str(run_dir), command=command)
    assert stopped.returncode == 0 and f"daemon {pid} stopped" in stopped.stdout
    assert daemon_pid(run_dir) is None
    with RunStore(run_dir) as store:
        assert store.run_info().state == "stopped"
        last = store.events_since(0, limit=100_000)[-1]
        assert last.kind == "run.finished" and last.data["reason"] == "stopped"


def test_a_second_start_names_the_pid_holding_the_run_and_fails(paused_run):
    run_dir, command = paused_run
    pid = daemon_pid(run_dir)
    again = cli("start", "--run-dir", str(run_dir), command=command)
    assert again.returncode == 3 and str(pid) in again.stderr
    # The daemon entry point itself refuses too (the flock, not the pid file, decides).
    direct = cli("daemon", "--run-dir", str(run_dir), command=command)
    assert direct.returncode == 3 and "held by" in direct.stderr


def test_requests_round_trip_and_state_changes_are_committed_before_the_answer(paused_run):
    run_dir, command = paused_run
    wait_for(lambda: RunStore(run_dir).candidates(), what="a candidate")
    cid = RunStore(run_dir).candidates()[0].id
    result = request(run_dir, "candidate.verdict", {"candidate": cid, "verdict": "accept"})
    with RunStore(run_dir) as store:  # read right after the answer: already durable
        assert store.candidate(cid).verdict == "accept"
        assert store.events_since(result["seq"] - 1, 1)[0].kind == "candidate.verdict"
    request(run_dir, "candidate.annotate", {"candidate": cid, "text": "nice", "tags": ["a"]})
    assert RunStore(run_dir).candidate(cid).annotation == "nice"
    assert request(run_dir, "run.pause")["state"] == "paused"
    assert RunStore(run_dir).run_info().state == "paused"
    assert request(run_dir, "run.resume")["state"] == "running"
    target = request(run_dir, "cycle.run", {"count": 3})["cycles"]
    assert RunStore(run_dir).run_info().target_cycles == target
    with pytest.raises(RequestError) as missing:
        request(run_dir, "candidate.verdict", {"candidate": "c99-0001", "verdict": "accept"})
    assert missing.value.code == "not_found"
    with pytest.raises(RequestError) as bad:
        request(run_dir, "candidate.verdict", {"candidate": cid, "verdict": "maybe"})
    assert bad.value.code == "bad_request"
    with pytest.raises(RequestError) as unknown:
        request(run_dir, "run.explode")
    assert unknown.value.code == "unknown_method"
    assert request(run_dir, "run.status")["daemonAlive"] is True


def test_a_candidate_submitted_to_a_live_run_is_evaluated_by_its_loop(paused_run):
    run_dir, command = paused_run
    wait_for(lambda: RunStore(run_dir).candidates(), what="a candidate")
    parent = RunStore(run_dir).candidates()[0].id
    result = request(run_dir, "candidate.submit", {"code": HUMAN_NET, "parent": parent})
    assert result["accepted"] is True and result["candidate"].endswith("-0004")  # above the model's four slots
    with RunStore(run_dir) as store:  # durable when answered
        assert store.candidate(result["candidate"]).origin == "human"

    def evaluated():
        with RunStore(run_dir) as store:
            c = store.candidate(result["candidate"])
            return c if c.status == "evaluated" else None

    done = wait_for(evaluated, what="the submitted candidate to be evaluated")
    assert (done.eval_outcome, done.parent, done.cycle) == ("ok", parent, result["cycle"])
    refused = request(run_dir, "candidate.submit", {"code": "class Net:\n    pass\n"})
    assert refused["accepted"] is False and refused["problems"]


def _events_after(run_dir, seq):
    with RunStore(run_dir) as store:
        return [e.to_wire(store.run_id) for e in store.events_since(seq, limit=100_000)]


def test_pause_resume_target_and_stop_are_events_committed_with_their_state(paused_run):
    run_dir, command = paused_run
    wait_for(lambda: RunStore(run_dir).run_info().state == "running", what="the loop to run")
    start = RunStore(run_dir).last_seq()
    paused = request(run_dir, "run.pause")
    # The answer's lastSeq already covers the event: the state and its event are one commit.
    state_events = [e for e in _events_after(run_dir, start) if e["kind"].startswith("run.")]
    assert [e["kind"] for e in state_events] == ["run.paused"] and state_events[0]["seq"] <= paused["lastSeq"]
    assert request(run_dir, "run.pause")["state"] == "paused"  # asked again: no second event
    resumed = request(run_dir, "run.resume")
    target = request(run_dir, "cycle.run", {"count": 2})["cycles"]
    assert resumed["state"] == "running"
    stopping = request(run_dir, "run.stop")
    assert stopping["state"] == "stopping"
    with pytest.raises(RequestError) as refused:  # a stop cannot be taken back by resuming
        request(run_dir, "run.resume")
    assert refused.value.code == "conflict" and "stopping" in refused.value.message
    wait_for(lambda: daemon_pid(run_dir) is None, what="the daemon to stop")
    events = _events_after(run_dir, start)
    for event in events:
        assert_server_message(event)
    run_events = [(e["kind"], e["data"]) for e in events if e["kind"].startswith("run.")]
    assert run_events == [
        ("run.paused", {}),
        ("run.resumed", {}),
        ("run.target_changed", {"cycles": target}),
        ("run.stop_requested", {}),
        ("run.finished", {"reason": "stopped", "cycles": RunStore(run_dir).finished_cycles()}),
    ]
    # Stopping or pausing the ended run records nothing: there is nothing to stop.
    last = RunStore(run_dir).last_seq()
    with RunStore(run_dir) as store:
        ctx = RequestContext(store, run_dir, DaemonControl(), None)
        assert handle_request(ctx, "run.stop", {})["state"] == "stopped"
        with pytest.raises(RequestError) as not_running:
            handle_request(ctx, "run.pause", {})
        assert not_running.value.code == "conflict" and "stopped" in not_running.value.message
        assert store.last_seq() == last


def test_sigterm_stops_after_the_current_step_and_exits_zero(tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.toml", cycles=50, candidates=4)
    command = stand_in(slow=0.05)
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
    pid = daemon_pid(run_dir)
    wait_for(lambda: RunStore(run_dir).last_seq() > 5, what="progress")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: daemon_pid(run_dir) is None, what="daemon exit")
    with RunStore(run_dir) as store:
        assert store.run_info().state == "stopped"
        assert store.events_since(0, limit=100_000)[-1].kind == "run.finished"
    assert "run stopped" in (run_dir / "daemon.log").read_text()


def test_a_finished_run_daemon_exits_and_cycle_run_resumes_it(tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.toml", cycles=1, candidates=2)
    command = stand_in()
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
    wait_for(lambda: daemon_pid(run_dir) is None, what="the daemon to finish")
    with RunStore(run_dir) as store:
        assert store.run_info().state == "finished" and store.finished_cycles() == 1
    last = RunStore(run_dir).last_seq()
    start_daemon(run_dir, command=daemon_command(command))  # nothing left to do: it exits without a second run.finished
    wait_for(lambda: daemon_pid(run_dir) is None, what="the daemon to finish")
    assert RunStore(run_dir).last_seq() == last
    target = request_or_local_cycle_run(run_dir, command)
    wait_for(lambda: RunStore(run_dir).finished_cycles() == target and daemon_pid(run_dir) is None, what="cycle 2")
    with RunStore(run_dir) as store:
        kinds = [e.kind for e in store.events_since(last, limit=10_000)]
        assert kinds.count("cycle.finished") == 1 and kinds[-1] == "run.finished"


def daemon_command(cli_command):
    """The daemon of a stand-in CLI command (start_daemon appends --run-dir)."""
    return (*cli_command, "daemon")


def request_or_local_cycle_run(run_dir, command):
    """cycle.run without a daemon: commit the new target and launch the daemon, as attach does."""
    from archloop.run.requests import RequestContext, handle_request

    with RunStore(run_dir) as store:
        ctx = RequestContext(store, run_dir, None, lambda: start_daemon(run_dir, command=daemon_command(command)))
        return handle_request(ctx, "cycle.run", {"count": 1})["cycles"]


def test_long_run_dir_paths_use_a_short_socket_recorded_in_the_run_dir(tmp_path):
    run_dir = tmp_path / ("d" * 60) / ("e" * 60) / "run"
    config = write_config(tmp_path / "c.toml", cycles=50, candidates=4)
    command = stand_in(slow=0.05)
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
    try:
        recorded = RunFiles(run_dir).recorded_socket()
        assert recorded is not None and len(str(recorded)) < 108 and not str(recorded).startswith(str(run_dir))
        assert request(run_dir, "run.status")["daemonAlive"]
    finally:
        assert cli("stop", "--run-dir", str(run_dir), command=command).returncode == 0


def test_a_subscriber_that_never_reads_does_not_hold_up_the_run(tmp_path):
    """A raw socket subscriber that reads nothing: its socket buffer fills within the first cycle; the daemon then
    queues for it on the connection's writer thread and drops it, instead of blocking the loop's commits."""
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.toml", cycles=4, candidates=60, generation={"batch_size": 6})
    command = stand_in(slow=0.005)
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
    sock = connect(run_dir)
    assert sock is not None
    try:
        sock.sendall(b'{"type":"subscribe"}\n')
        wait_for(lambda: daemon_pid(run_dir) is None, timeout=90, what="the run to finish with a stalled subscriber")
        with RunStore(run_dir) as store:
            assert store.run_info().state == "finished" and store.finished_cycles() == 4
    finally:
        sock.close()


def test_a_daemon_start_rotates_an_oversized_log_and_keeps_a_bounded_number(tmp_path):
    from archloop.run.files import LOG_KEEP, LOG_MAX_BYTES

    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.toml", cycles=1, candidates=2)
    command = stand_in()
    assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
    wait_for(lambda: daemon_pid(run_dir) is None, what="the run to finish")
    log = run_dir / "daemon.log"
    for generation in range(LOG_KEEP + 2):  # more restarts than kept logs, each finding an oversized log
        log.write_bytes(f"old {generation}\n".encode() * (LOG_MAX_BYTES // 6 + 1))
        start_daemon(run_dir, command=(*command, "daemon"))
        wait_for(lambda: daemon_pid(run_dir) is None, what="the daemon to exit")
        assert log.stat().st_size < LOG_MAX_BYTES and "archloop daemon pid" in log.read_text()
    kept = sorted(p.name for p in run_dir.glob("daemon.log.*"))
    assert kept == [f"daemon.log.{n}" for n in range(1, LOG_KEEP + 1)]
    assert (run_dir / "daemon.log.1").read_text().startswith(f"old {LOG_KEEP + 1}")  # the newest rotated first
