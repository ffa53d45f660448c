"""`archloop attach` as a real subprocess: replay, follow, streams, requests, several attachers, bad input, EOF."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest
from run_helpers import ARCHLOOP, HUMAN_NET, cli, stand_in, wait_for, write_config
from scripted_stages import ScriptedStages
from wire import assert_server_message

from archloop.config import config_from_dict
from archloop.run.files import daemon_pid
from archloop.run.loop import RunLoop, open_run
from archloop.run.store import RunStore

HELLO = {"type": "hello", "protocol": 1, "role": "client", "software": "test"}


class Attacher:
    def __init__(self, run_dir, since=0, command=ARCHLOOP):
        self.proc = subprocess.Popen(
            [*command, "attach", "--run-dir", str(run_dir), "--since", str(since)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def send(self, obj_or_bytes):
        data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else (json.dumps(obj_or_bytes) + "\n").encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self, timeout=30):
        message = self.lines.get(timeout=timeout)
        assert message is not None, f"attach ended: {self.proc.stderr.read().decode()[-2000:]}"
        assert_server_message(message)
        return message

    def until(self, predicate, timeout=60):
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.next(max(0.1, deadline - time.monotonic()))
            seen.append(message)
            if predicate(message):
                return seen
        raise AssertionError("predicate never held")

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


@pytest.fixture
def finished_run(tmp_path):
    config = config_from_dict({"run": {"name": "a", "cycles": 1, "candidates_per_cycle": 4}})
    store = open_run(tmp_path / "run", config)
    RunLoop(store, config, ScriptedStages(tmp_path / "s.json")).run()
    total = store.last_seq()
    store.close()
    return tmp_path / "run", total


def events_of(messages):
    return [m for m in messages if m["type"] == "event"]


def test_since_zero_replays_every_event_once_in_order_after_a_hello(finished_run):
    run_dir, total = finished_run
    a = Attacher(run_dir, 0)
    hello = a.next()
    assert hello["type"] == "hello" and hello["role"] == "server" and hello["protocol"] == 1
    a.send(HELLO)
    messages = a.until(lambda m: m.get("seq") == total)
    assert [m["seq"] for m in events_of(messages)] == list(range(1, total + 1))
    assert a.close() == 0  # stdin EOF ends it cleanly
    assert a.lines.get(timeout=5) is None  # nothing was repeated after the last event


def test_since_n_gives_exactly_the_events_after_n(finished_run):
    run_dir, total = finished_run
    n = total // 2
    a = Attacher(run_dir, n)
    a.next()
    a.send(HELLO)
    messages = a.until(lambda m: m.get("seq") == total)
    assert [m["seq"] for m in events_of(messages)] == list(range(n + 1, total + 1))
    assert a.close() == 0


def test_bad_input_gets_logs_and_errors_and_never_ends_the_process(finished_run):
    run_dir, _ = finished_run
    a = Attacher(run_dir, 10**6)
    a.next()
    a.send({"type": "request", "id": 1, "method": "run.status", "params": {}})
    early = a.until(lambda m: m["type"] == "response")[-1]
    assert early["ok"] is False and "hello" in early["error"]["message"]
    a.send(HELLO)
    a.send(b"this is not json\n")
    assert a.until(lambda m: m["type"] == "log")[-1]["level"] == "warn"
    a.send(b"x" * (8 * 1024 * 1024 + 10) + b"\n")
    too_long = a.until(lambda m: m["type"] == "log")[-1]
    assert too_long["level"] == "error" and "longer than" in too_long["message"]
    a.send({"type": "request", "id": 2, "method": "run.explode", "params": {}})
    bad = a.until(lambda m: m["type"] == "response")[-1]
    assert bad == {
        "type": "response",
        "id": 2,
        "ok": False,
        "error": {"code": "unknown_method", "message": bad["error"]["message"]},
    }
    a.send({"type": "request", "id": 3, "method": "candidate.verdict", "params": {"candidate": "x", "verdict": "meh"}})
    invalid = a.until(lambda m: m["type"] == "response")[-1]
    assert invalid["id"] == 3 and invalid["error"]["code"] == "bad_request"  # params checked against the schema
    a.send({"type": "request", "id": "s", "method": "run.status", "params": {}})
    status = a.until(lambda m: m["type"] == "response")[-1]
    assert status["ok"] and status["result"]["state"] == "finished" and status["result"]["daemonAlive"] is False
    assert a.close() == 0


def test_a_client_hello_with_another_protocol_version_is_named_and_ends_attach(finished_run):
    run_dir, _ = finished_run
    a = Attacher(run_dir, 10**6)
    a.next()
    a.send({**HELLO, "protocol": 99})
    log = a.until(lambda m: m["type"] == "log")[-1]
    assert "99" in log["message"] and "1" in log["message"] and log["level"] == "error"
    assert a.proc.wait(timeout=30) == 2


def test_without_a_daemon_verdicts_are_committed_and_arrive_as_events(finished_run):
    run_dir, total = finished_run
    cid = RunStore(run_dir).candidates()[0].id
    a = Attacher(run_dir, total)
    a.next()
    a.send(HELLO)
    a.send(
        {"type": "request", "id": 7, "method": "candidate.verdict", "params": {"candidate": cid, "verdict": "reject"}}
    )
    seen = a.until(lambda m: m.get("kind") == "candidate.verdict")
    response = next(m for m in seen if m["type"] == "response")
    assert response["ok"] and response["result"]["seq"] == total + 1
    assert RunStore(run_dir).candidate(cid).verdict == "reject"
    a.send({"type": "request", "id": 8, "method": "runs.list", "params": {}})
    listing = a.until(lambda m: m["type"] == "response")[-1]
    assert [r["run"] for r in listing["result"]] == ["run"]
    a.send({"type": "request", "id": 9, "method": "run.pause", "params": {}})
    assert a.until(lambda m: m["type"] == "response")[-1]["error"]["code"] == "unavailable"
    assert a.close() == 0


def test_two_attachers_follow_a_live_daemon_and_run_start_through_attach_resumes(tmp_path):
    run_dir = tmp_path / "run"
    command = stand_in(slow=0.15)
    config = write_config(tmp_path / "c.toml", cycles=1, candidates=4)
    # Create the run without starting it; attach's run.start launches the daemon.
    open_run(run_dir, config_from_dict({"run": {"name": "t", "cycles": 1, "candidates_per_cycle": 4}})).close()
    assert config.exists()
    a, b = Attacher(run_dir, 0, command), Attacher(run_dir, 0, command)
    for x in (a, b):
        x.next()
        x.send(HELLO)
    a.send({"type": "request", "id": 1, "method": "run.start", "params": {}})
    got_a = a.until(lambda m: m.get("kind") == "run.finished", timeout=90)
    got_b = b.until(lambda m: m.get("kind") == "run.finished", timeout=90)
    seq_a = [m["seq"] for m in events_of(got_a)]
    seq_b = [m["seq"] for m in events_of(got_b)]
    assert seq_a == seq_b == list(range(1, seq_a[-1] + 1))  # each event once, in order, to both
    start = next(m for m in got_a if m["type"] == "response")
    assert start["ok"] and start["id"] == 1
    streams = [m for m in got_a + got_b if m["type"] == "stream"]
    assert streams, "token streams from the daemon reach attachers"
    wait_for(lambda: daemon_pid(run_dir) is None, what="the daemon to exit")
    assert a.close() == 0 and b.close() == 0
    assert cli("status", "--run-dir", str(run_dir)).returncode == 0


def _run_rate(run_dir):
    """(events, events/s) of a finished run, from the stored timestamps of its first and last event."""
    with RunStore(run_dir) as store:
        events = store.events_since(0, limit=1_000_000)
    return len(events), len(events) / max(1e-3, (events[-1].ts - events[0].ts) / 1000)


def test_an_attach_whose_stdout_nobody_reads_does_not_slow_the_run_and_then_gets_every_event_once(tmp_path):
    command = stand_in()
    config = write_config(tmp_path / "c.toml", cycles=3, candidates=60, generation={"batch_size": 6})

    def start(name):
        run_dir = tmp_path / name
        assert cli("start", "--run-dir", str(run_dir), "--config", str(config), command=command).returncode == 0
        return run_dir

    alone = start("alone")
    wait_for(lambda: daemon_pid(alone) is None, timeout=60, what="the run without a client to finish")
    count, alone_rate = _run_rate(alone)
    allowed = max(30.0, 5 * count / alone_rate)

    stalled = tmp_path / "stalled"
    open_run(
        stalled,
        config_from_dict(
            {"run": {"name": "t", "cycles": 3, "candidates_per_cycle": 60}, "generation": {"batch_size": 6}}
        ),
    ).close()
    # A client whose stdout pipe nobody reads (a sleeping laptop, a half-open SSH link).
    client = subprocess.Popen(
        [*command, "attach", "--run-dir", str(stalled), "--since", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert cli("start", "--run-dir", str(stalled), command=command).returncode == 0
        wait_for(lambda: daemon_pid(stalled) is None, timeout=allowed, what="the run with a stalled client to finish")
        total, stalled_rate = _run_rate(stalled)
        print(f"\nevents/s: no client {alone_rate:.0f} ({count} events), stalled client {stalled_rate:.0f} ({total})")
        assert stalled_rate >= 0.5 * alone_rate, (alone_rate, stalled_rate)
        # Read again: every event exactly once, in seq order, then nothing more.
        seqs = []
        for line in client.stdout:
            message = json.loads(line)
            if message["type"] == "event":
                seqs.append(message["seq"])
                if message["seq"] == total:
                    break
        assert seqs == list(range(1, total + 1))
        client.stdin.close()
        assert client.wait(timeout=30) == 0
        assert [json.loads(line) for line in client.stdout if json.loads(line)["type"] == "event"] == []
    finally:
        if client.poll() is None:
            client.kill()
        client.wait()


def test_a_submitted_candidate_is_committed_with_its_events_or_refused_with_its_problem_lines(finished_run):
    run_dir, total = finished_run
    parent = RunStore(run_dir).candidates()[0].id
    a = Attacher(run_dir, total)
    a.next()
    a.send(HELLO)
    params = {"code": HUMAN_NET, "parent": parent, "cycle": "current"}
    a.send({"type": "request", "id": 1, "method": "candidate.submit", "params": params})
    seen = a.until(lambda m: m.get("kind") == "candidate.generated")
    response = next(m for m in seen if m["type"] == "response")
    # The run's only cycle is finished: the candidate waits for the next one, above the model's four slots.
    assert response["ok"] and response["result"] == {"accepted": True, "candidate": "c2-0004", "cycle": 2}
    # Committed before the answer: the store has it, and its two events follow.
    kinds = [m["kind"] for m in events_of(seen)]
    assert kinds == ["candidate.started", "candidate.generated"]
    assert all(m["data"]["origin"] == "human" and m["data"]["parent"] == parent for m in events_of(seen))
    stored = RunStore(run_dir).candidate("c2-0004")
    assert (stored.origin, stored.parent, stored.status, stored.code) == ("human", parent, "generated", HUMAN_NET)
    # A net the static check refuses: nothing is stored, and each problem says its line.
    broken = HUMAN_NET.replace("    def forward(self, x):\n", "    def forward(self, x:\n")
    a.send({"type": "request", "id": 2, "method": "candidate.submit", "params": {"code": broken}})
    refused = a.until(lambda m: m["type"] == "response")[-1]
    assert refused["ok"] and refused["result"]["accepted"] is False
    assert refused["result"]["outcome"] == "syntax_error"
    assert [p["line"] for p in refused["result"]["problems"]] == [15]
    a.send({"type": "request", "id": 3, "method": "candidate.submit", "params": {"code": HUMAN_NET, "parent": "c9-0"}})
    assert a.until(lambda m: m["type"] == "response")[-1]["error"]["code"] == "not_found"
    assert len(RunStore(run_dir).candidates()) == 5
    assert a.close() == 0
