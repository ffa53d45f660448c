"""The run daemon: one detached process per run directory that runs the loop and answers requests on a Unix socket.

`start_daemon(run_dir)` launches `python -m archloop daemon --run-dir D` in a new session (no terminal, stdin from
/dev/null, stdout/stderr appended to daemon.log) and waits until its socket answers. `serve(run_dir)` is that
process: it takes an exclusive flock on daemon.lock (one daemon per run; a second one exits with code 3 naming the
holder), writes daemon.pid, serves the socket on background threads and runs the loop on the main thread. It runs
the real stages unless its caller passes others (the tests' entry script passes stand-ins and a halt checkpoint).

Socket protocol (internal to ArchLoop, JSON lines): a client sends wire `request` objects and gets wire `response`s;
a client that sends {"type": "subscribe"} also receives {"type": "notify", "seq": N} after every store commit and
the ephemeral wire `stream` messages. State-changing requests are committed to the store before the response.

SIGTERM (or run.stop): the loop stops at the next safe point (stages poll should_stop), records run.finished
'stopped', and the daemon exits 0. A failing stage is recorded as a fatal run.error and the daemon exits 1.

One module though over 400 lines: the process lifecycle (lock, socket, signals) and the threads it runs share one state.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from archloop.config import ConfigError, RunConfig, config_from_dict
from archloop.run.files import RunFiles, RunLocked, acquire_run_lock, daemon_pid, rotate_log
from archloop.run.loop import LoopError, LoopHooks, RunLoop
from archloop.run.recheck import GatedStages, Rechecker, RecheckRunner
from archloop.run.records import StoredEvent
from archloop.run.requests import RequestContext, RequestError, handle_request
from archloop.run.stages import Stages
from archloop.run.store import RunStore

LINE_CAP = 8 * 1024 * 1024
SEND_TIMEOUT_S = 5.0
# Messages a client may fall behind by before it is dropped (a few seconds of a busy run's notifications).
SUBSCRIBER_QUEUE = 4096
EXIT_LOCKED = 3
# What start_daemon runs, followed by `--run-dir D`.
DAEMON_COMMAND: tuple[str, ...] = (sys.executable, "-m", "archloop", "daemon")

# Builds a run's stages from its configuration and directory.
StagesFactory = Callable[[RunConfig, Path], Stages]
# Called by the loop at each named point (stage, cycle); see LoopHooks.checkpoint.
Checkpoint = Callable[[str, int], None]


class DaemonError(RuntimeError):
    """The daemon could not be started or reached; the message says why (and where its log is)."""


class DaemonRunning(DaemonError):
    def __init__(self, run_dir: Path, pid: int) -> None:
        super().__init__(f"a daemon (pid {pid}) is already running for {run_dir}")
        self.pid = pid


# ---- the control the loop and the request threads share ---------------------------------------------------------


class DaemonControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._paused = False
        self.on_stop: list[Callable[[], None]] = []  # told at once (a running re-check is killed)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for callback in list(self.on_stop):
            callback()

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def wait_if_paused(self) -> None:
        with self._cond:
            while self._paused and not self._stop.is_set():
                self._cond.wait(timeout=1.0)


# ---- subscribers ------------------------------------------------------------------------------------------------


class _Connection:
    """One client socket. Messages go through a bounded queue drained by the connection's own writer thread, so no
    client, however slow, holds up the loop's commits: one that falls SUBSCRIBER_QUEUE messages behind (or whose
    socket accepts nothing for SEND_TIMEOUT_S) is dropped. That loses nothing durable: events are in the store, and
    a client re-reads it from its last seq when it reconnects; only token streams in between are missed."""

    def __init__(self, sock: socket.socket, limit: int = SUBSCRIBER_QUEUE) -> None:
        self.sock = sock
        self.alive = True
        self._limit = limit
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="archloop-conn-writer", daemon=True)
        self._writer.start()

    def send(self, message: dict[str, Any]) -> bool:
        """Queue a message; never blocks. False once the connection is dropped (it is then closed)."""
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._cond:
            if not self.alive:
                return False
            if len(self._queue) >= self._limit:
                self._drop_locked()
                return False
            self._queue.append(data)
            self._cond.notify()
            return True

    def close(self) -> None:
        """Let the writer finish what is queued (a last error response is not lost), then stop it."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._writer.join(SEND_TIMEOUT_S)

    def _drop_locked(self) -> None:
        self.alive = False
        self._queue.clear()
        self._cond.notify()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader too, which then removes it from the hub

    def _write(self) -> None:
        while True:
            with self._cond:
                while self.alive and not self._queue and not self._closing:
                    self._cond.wait()
                if not self.alive or not self._queue:
                    return
                batch = b"".join(self._queue)
                self._queue.clear()
            if not self._send_all(batch):
                with self._cond:
                    self._drop_locked()
                return

    def _send_all(self, data: bytes) -> bool:
        """Write all of `data`; False if the peer is gone or accepted nothing for SEND_TIMEOUT_S. Non-blocking
        sends: the socket itself stays blocking for the reader thread, which shares it."""
        view = memoryview(data)
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        while view:
            try:
                if not poller.poll(SEND_TIMEOUT_S * 1000):
                    return False
                sent = self.sock.send(view, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue
            except (OSError, ValueError):
                return False
            view = view[sent:]
        return True


class Hub:
    """Fan-out of commit notifications and token streams to subscribed connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[_Connection] = []
        # In-process listeners told of every commit (the re-check runner looks at its queue again).
        self.listeners: list[Callable[[Sequence[StoredEvent]], None]] = []

    def add(self, conn: _Connection) -> None:
        with self._lock:
            self._subscribers.append(conn)

    def remove(self, conn: _Connection) -> None:
        with self._lock:
            if conn in self._subscribers:
                self._subscribers.remove(conn)

    def broadcast(self, message: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers)
        for conn in targets:
            if not conn.send(message):
                self.remove(conn)

    def on_commit(self, events: Sequence[StoredEvent]) -> None:
        self.broadcast({"type": "notify", "seq": events[-1].seq})
        for listener in list(self.listeners):
            listener(events)


# ---- the socket server ------------------------------------------------------------------------------------------


class RequestServer:
    def __init__(self, run_dir: Path, path: Path, hub: Hub, control: DaemonControl) -> None:
        self.run_dir = run_dir
        self.path = path
        self.hub = hub
        self.control = control
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a killed daemon (we hold the lock, so it is not live)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self._thread = threading.Thread(target=self._accept, name="archloop-accept", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="archloop-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(None)
        conn = _Connection(client)
        store: RunStore | None = None
        try:
            store = RunStore(self.run_dir, on_commit=self.hub.on_commit)
            ctx = RequestContext(store=store, run_dir=self.run_dir, control=self.control, launch=None)
            reader = client.makefile("rb")
            while True:
                line = reader.readline(LINE_CAP + 1)
                if not line:
                    return
                if len(line) > LINE_CAP:
                    conn.send(_error(None, "bad_request", "line over 8 MiB"))
                    return
                self._handle_line(conn, ctx, line)
        except OSError:
            return
        finally:
            self.hub.remove(conn)
            conn.close()
            if store is not None:
                store.close()
            with contextlib.suppress(OSError):
                client.close()

    def _handle_line(self, conn: _Connection, ctx: RequestContext, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            conn.send(_error(None, "bad_request", "not JSON"))
            return
        if not isinstance(message, dict):
            conn.send(_error(None, "bad_request", "not a JSON object"))
            return
        if message.get("type") == "subscribe":
            # Confirm before adding: the subscriber re-reads the store after this, so no notify is missed.
            conn.send({"type": "subscribed"})
            self.hub.add(conn)
            return
        request_id = message.get("id")
        if message.get("type") != "request" or not isinstance(request_id, (int, str)):
            conn.send(_error(None, "bad_request", "expected a request with an id"))
            return
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        try:
            result = handle_request(ctx, str(message.get("method")), params)
        except RequestError as exc:
            conn.send(_error(request_id, exc.code, exc.message))
            return
        except Exception as exc:  # a bug or a broken store: answer, never kill the daemon
            conn.send(_error(request_id, "internal", f"{type(exc).__name__}: {exc}"))
            return
        conn.send({"type": "response", "id": request_id, "ok": True, "result": result})


def _error(request_id: int | str | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "response", "id": request_id, "ok": False, "error": {"code": code, "message": message}}


# ---- the daemon process -----------------------------------------------------------------------------------------


def real_stages(config: RunConfig, run_dir: Path) -> Stages:
    """The stages of a real run (the LLM, the sandbox, MinHash, LoRA). Imported on first use: they pull in torch."""
    from archloop.run.llm_stages import build_stages

    return build_stages(config, run_dir)


def _no_checkpoint(stage: str, cycle: int) -> None:
    return None


def serve(run_dir: Path, *, stages_factory: StagesFactory = real_stages, checkpoint: Checkpoint | None = None) -> int:
    """Run the daemon in this process until the run finishes or is stopped. Exit codes: 0 done/stopped, 1 failed,
    3 another daemon holds the run. `stages_factory` and `checkpoint` let an embedding caller (the tests) run stand-in
    stages and act at the loop's checkpoints."""
    run_dir = run_dir.resolve()
    files = RunFiles(run_dir)
    try:
        lock_fd = acquire_run_lock(run_dir)
    except RunLocked as exc:
        print(f"archloop daemon: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    control = DaemonControl()
    hub = Hub()
    server: RequestServer | None = None
    store: RunStore | None = None
    try:
        store = RunStore(run_dir, on_commit=hub.on_commit)
        info = store.run_info()
        config = config_from_dict(info.config, source=str(run_dir / "run.sqlite"), preset=info.preset)
        server = RequestServer(run_dir, files.socket_path(), hub, control)
        files.socket_record.write_text(str(server.path) + "\n")
        server.start()
        signal.signal(signal.SIGTERM, lambda *_: control.stop())
        signal.signal(signal.SIGINT, lambda *_: control.stop())
        print(f"archloop daemon pid {os.getpid()} serving {run_dir} on {server.path}", flush=True)
        return _run(run_dir, store, config, control, hub, stages_factory, checkpoint or _no_checkpoint)
    except ConfigError as exc:
        if store is not None:
            store.run_error(f"stored configuration is invalid: {exc}", None, fatal=True)
        print(f"archloop daemon: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.close()
        with contextlib.suppress(OSError):
            files.socket_record.unlink()
        with contextlib.suppress(OSError):
            files.pid.unlink()
        if store is not None:
            store.close()
        os.close(lock_fd)  # releases the flock: from here on the run reads as not running


def _run(
    run_dir: Path,
    store: RunStore,
    config: RunConfig,
    control: DaemonControl,
    hub: Hub,
    stages_factory: StagesFactory,
    checkpoint: Checkpoint,
) -> int:
    try:
        stages = stages_factory(config, run_dir)
    except Exception as exc:
        store.run_error(f"cannot build the stages: {type(exc).__name__}: {exc}", "setup", fatal=True)
        print(f"archloop daemon: cannot build the stages: {exc}", file=sys.stderr, flush=True)
        return 1
    runner = _recheck_runner(run_dir, stages, config, control, hub)
    gpu_shared = bool(getattr(runner and runner.rechecker, "gpu_shared", False))
    loop_stages: Stages = GatedStages(stages, runner, gpu_shared) if runner is not None else stages
    hooks = LoopHooks(
        should_stop=control.should_stop,
        wait_if_paused=control.wait_if_paused,
        on_stream=hub.broadcast,
        checkpoint=checkpoint,
    )
    loop = RunLoop(store, config, loop_stages, hooks)
    try:
        while True:
            result = loop.run()
            # cycle.run may have raised the target just as the last cycle finished: keep going then.
            more = store.run_info().target_cycles > store.finished_cycles()
            if result == "completed" and more and not control.should_stop():
                continue
            if runner is not None and not control.should_stop():
                runner.wait_idle()  # queued re-checks run before the daemon goes (a run.stop ends them)
            print(f"archloop daemon: run {result}", flush=True)
            return 0
    except LoopError as exc:
        print(f"archloop daemon: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if runner is not None:
            runner.stop()
            runner.join()
        stages.close()


def _recheck_runner(
    run_dir: Path, stages: Stages, config: RunConfig, control: DaemonControl, hub: Hub
) -> RecheckRunner | None:
    """The re-check runner for stages that can re-check (the real ones, or a stand-in with `recheck`), started."""
    rechecker: Rechecker | None = stages if isinstance(stages, Rechecker) else None
    if rechecker is None and "archloop.run.llm_stages" in sys.modules:  # only then can they be the real stages
        from archloop.run.recheck_executor import rechecker_for

        rechecker = rechecker_for(stages)
    if rechecker is None:
        return None
    runner = RecheckRunner(
        lambda: RunStore(run_dir, on_commit=hub.on_commit),
        rechecker,
        during_evaluation=config.evaluation.recheck_share > 0,
        should_stop=control.should_stop,
    )
    hub.listeners.append(runner.wake)
    control.on_stop.append(runner.stop)
    runner.start()
    return runner


# ---- clients: start, stop, request ------------------------------------------------------------------------------


def connect(run_dir: Path, timeout: float = 5.0) -> socket.socket | None:
    """A connected socket to the run's live daemon, or None if there is none."""
    path = RunFiles(run_dir).recorded_socket()
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def request(run_dir: Path, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
    """One request to the live daemon; returns its result, raises RequestError (its error) or DaemonError."""
    sock = connect(run_dir, timeout)
    if sock is None:
        raise DaemonError(f"no daemon is running for {run_dir}")
    with sock:
        message = {"type": "request", "id": 1, "method": method, "params": params or {}}
        sock.sendall((json.dumps(message) + "\n").encode())
        reader = sock.makefile("rb")
        while True:
            line = reader.readline(LINE_CAP + 1)
            if not line:
                raise DaemonError(f"the daemon of {run_dir} closed the connection")
            reply = json.loads(line)
            if reply.get("type") == "response" and reply.get("id") == 1:
                if reply["ok"]:
                    return reply["result"]
                raise RequestError(reply["error"]["code"], reply["error"]["message"])


def start_daemon(
    run_dir: Path,
    *,
    wait_s: float = 60.0,
    env: dict[str, str] | None = None,
    command: Sequence[str] = DAEMON_COMMAND,
) -> int:
    """Launch the detached daemon for an existing run (`command --run-dir D`); returns its pid once its socket answers.

    Raises DaemonRunning if one already holds the run, DaemonError (with the log's tail) if it exits or hangs.
    """
    run_dir = run_dir.resolve()
    files = RunFiles(run_dir)
    pid = daemon_pid(run_dir)
    if pid is not None:
        raise DaemonRunning(run_dir, pid)
    rotate_log(files.log)  # the daemon appends its stdout/stderr: keep the log bounded across restarts
    with open(files.log, "ab") as log:
        proc = subprocess.Popen(
            [*command, "--run-dir", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: no SIGHUP when the SSH link or the terminal goes
            close_fds=True,
            env=env,
        )
    # Reap it when it exits, so a long-lived parent (attach) keeps no zombie.
    threading.Thread(target=proc.wait, name="archloop-reap", daemon=True).start()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            if code == 0:
                return proc.pid  # it already finished what was left of the run (or was stopped): a success
            if code == EXIT_LOCKED:
                raise DaemonRunning(run_dir, daemon_pid(run_dir) or -1)
            raise DaemonError(f"the daemon exited with code {code}; see {files.log}:\n{_tail(files.log)}")
        if daemon_pid(run_dir) == proc.pid:
            sock = connect(run_dir, timeout=1.0)
            if sock is not None:
                sock.close()
                return proc.pid
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not answer within {wait_s:.0f} s; see {files.log}")


def stop_daemon(run_dir: Path, *, wait_s: float = 60.0) -> int | None:
    """Ask the daemon to stop (run.stop, committed first; SIGTERM if its socket is gone) and wait for it to exit.

    Returns the pid that was stopped, or None if no daemon ran. Raises DaemonError if it outlives `wait_s`.
    """
    pid = daemon_pid(run_dir)
    if pid is None:
        return None
    try:
        request(run_dir, "run.stop", timeout=10.0)
    except (DaemonError, RequestError, OSError, ValueError):
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if daemon_pid(run_dir) is None:
            return pid
        time.sleep(0.05)
    raise DaemonError(f"the daemon (pid {pid}) did not stop within {wait_s:.0f} s")


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")
