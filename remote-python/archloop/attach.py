"""`archloop attach --run-dir D --since SEQ`: the wire protocol on stdin/stdout for one client (the extension).

It sends a server `hello`, checks the client's `hello`, replays every stored event after SEQ in seq order, then
follows the store: it learns of new events from the daemon's commit notifications and, so it also works when no
daemon runs (or one starts later), from a short poll. Token streams come from the daemon only (they are never
stored). Requests go to the daemon when one runs; otherwise run.status/runs.list are answered here, verdicts and
annotations are committed to the store here, and run.start/run.resume/cycle.run launch the daemon (= resume).

Any number of attach processes may follow one run. Bad input never ends the process: an unparsable or over-long
line (8 MiB cap) gets a `log` message, a bad request an error `response`. stdin EOF ends it with exit code 0; a
protocol version mismatch in the client's hello ends it with exit code 2 after a `log` naming both versions.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from archloop import PROTOCOL_VERSION, __version__
from archloop.daemon import DaemonError, DaemonRunning, connect, start_daemon
from archloop.run_requests import RequestContext, RequestError, handle_request
from archloop.store import RunStore, StoreError

LINE_CAP = 8 * 1024 * 1024
POLL_S = 0.25
RECONNECT_S = 0.5
REPLAY_BATCH = 500
EXIT_PROTOCOL = 2
METHODS = (
    "run.start",
    "run.stop",
    "run.pause",
    "run.resume",
    "cycle.run",
    "candidate.verdict",
    "candidate.annotate",
    "run.status",
    "runs.list",
)


def _now_ms() -> float:
    return round(time.time() * 1000, 3)


class Output:
    """Serialised writes of whole lines to stdout (several threads send); `closed` once the reader went away."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self.closed.is_set():
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                self.closed.set()

    def log(self, level: str, message: str) -> None:
        self.send({"type": "log", "level": level, "message": message[:60_000], "ts": _now_ms(), "source": "attach"})

    def error(self, request_id: Any, code: str, message: str) -> None:
        self.send(
            {"type": "response", "id": request_id, "ok": False, "error": {"code": code, "message": message[:60_000]}}
        )


def read_line(stream: IO[bytes], cap: int = LINE_CAP) -> tuple[bytes | None, bool]:
    """(line, too_long). None at EOF. An over-long line is consumed up to its newline and returned empty."""
    line = stream.readline(cap + 1)
    if not line:
        return None, False
    if len(line) <= cap:
        return line, False
    while not line.endswith(b"\n"):
        line = stream.readline(cap)
        if not line:
            break
    return b"", True


@dataclass
class DaemonLink:
    """The connection to the run's daemon, re-established whenever one is running. Forwards its streams and the
    responses to forwarded requests to the client; wakes the follower on each commit notification."""

    run_dir: Path
    out: Output
    wake: threading.Event
    closing: threading.Event
    _sock: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set to retry the connection now (a daemon was just launched) instead of at the next RECONNECT_S tick.
    retry_now: threading.Event = field(default_factory=threading.Event)
    _ids: dict[int, Any] = field(default_factory=dict)
    _next: int = 0

    def run(self) -> None:
        while not self.closing.is_set():
            sock = connect(self.run_dir, timeout=2.0)
            if sock is None:
                self.retry_now.wait(RECONNECT_S)
                self.retry_now.clear()
                continue
            sock.settimeout(None)
            try:
                sock.sendall(b'{"type":"subscribe"}\n')
                with self._lock:
                    self._sock = sock
                self._read(sock)
            except OSError:
                pass
            finally:
                with self._lock:
                    self._sock = None
                    lost = list(self._ids.values())
                    self._ids.clear()
                with contextlib.suppress(OSError):
                    sock.close()
                for client_id in lost:
                    self.out.error(client_id, "unavailable", "the daemon went away before answering")
                self.wake.set()  # the daemon may have committed its last events just before leaving

    def _read(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        while True:
            line, too_long = read_line(reader)
            if line is None:
                return
            if too_long:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind = message.get("type")
            if kind in ("notify", "subscribed"):
                self.wake.set()
            elif kind == "stream":
                self.out.send(message)
            elif kind == "response":
                with self._lock:
                    client_id = self._ids.pop(message.get("id"), None) if message.get("id") is not None else None
                if client_id is not None:
                    self.out.send({**message, "id": client_id})

    def forward(self, message: dict[str, Any]) -> bool:
        """Send a request to the daemon under an id of our own; False if no daemon is connected."""
        with self._lock:
            if self._sock is None:
                return False
            self._next += 1
            self._ids[self._next] = message["id"]
            data = (json.dumps({**message, "id": self._next}) + "\n").encode()
            try:
                self._sock.sendall(data)
            except OSError:
                self._ids.pop(self._next, None)
                return False
        return True

    def stop(self) -> None:
        self.retry_now.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)


def check_request(message: dict[str, Any]) -> str | None:
    """Why a client message is not an acceptable request (None if it is). The daemon checks params itself."""
    request_id = message.get("id")
    if isinstance(request_id, bool) or not (
        (isinstance(request_id, int) and request_id >= 0) or (isinstance(request_id, str) and 0 < len(request_id) <= 64)
    ):
        return "a request needs an id (integer >= 0 or a string of 1-64 characters)"
    if message.get("method") not in METHODS:
        return f"unknown method {message.get('method')!r}"
    if not isinstance(message.get("params"), dict):
        return "params must be an object"
    return None


def attach(
    run_dir: Path,
    since: int,
    stdin: IO[bytes],
    stdout: IO[bytes],
    *,
    launch: Callable[[Path], int] | None = None,
    poll_s: float = POLL_S,
) -> int:
    """Serve one client until stdin EOF (0) or a protocol mismatch (2). Returns the exit code."""
    out = Output(stdout)
    run_dir = run_dir.resolve()
    try:
        store = RunStore(run_dir)
        run_id = store.run_id
    except StoreError as exc:
        out.send(_hello(None))
        out.log("error", str(exc))
        return 1
    out.send(_hello(run_id))
    wake = threading.Event()
    closing = threading.Event()
    exit_code = [0]
    link = DaemonLink(run_dir, out, wake, closing)
    threading.Thread(target=link.run, name="attach-daemon", daemon=True).start()
    launcher = launch or (lambda d: start_daemon(d))
    reader = threading.Thread(
        target=_read_client,
        args=(run_dir, stdin, out, link, closing, wake, exit_code, launcher),
        name="attach-stdin",
        daemon=True,
    )
    reader.start()
    last = max(0, since)
    try:
        while not closing.is_set() and not out.closed.is_set():
            events = store.events_since(last, REPLAY_BATCH)
            for event in events:
                out.send(event.to_wire(run_id))
                last = event.seq
            if len(events) == REPLAY_BATCH:
                continue
            wake.wait(poll_s)
            wake.clear()
    finally:
        closing.set()
        link.stop()
        store.close()
    return exit_code[0]


def _hello(run_id: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "role": "server",
        "software": f"archloop {__version__}",
    }
    if run_id is not None:
        message["run"] = run_id
    return message


def _read_client(
    run_dir: Path,
    stdin: IO[bytes],
    out: Output,
    link: DaemonLink,
    closing: threading.Event,
    wake: threading.Event,
    exit_code: list[int],
    launcher: Callable[[Path], int],
) -> None:
    store: RunStore | None = None
    greeted = False
    try:
        while not closing.is_set():
            line, too_long = read_line(stdin)
            if line is None:
                return
            if too_long:
                out.log("error", f"dropped an input line over {LINE_CAP} bytes")
                continue
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                out.log("warn", f"dropped a line that is not JSON: {line[:80]!r}")
                continue
            if not isinstance(message, dict):
                out.log("warn", f"dropped a line that is not a JSON object: {line[:80]!r}")
                continue
            if message.get("type") == "hello":
                if message.get("protocol") != PROTOCOL_VERSION:
                    out.log(
                        "error",
                        f"protocol version mismatch: client speaks {message.get('protocol')!r}, "
                        f"this backend speaks {PROTOCOL_VERSION}",
                    )
                    exit_code[0] = EXIT_PROTOCOL
                    return
                greeted = True
                continue
            if message.get("type") != "request":
                out.log("warn", f"dropped a message of unknown type {message.get('type')!r}")
                continue
            problem = check_request(message)
            if problem is not None:
                out.error(message.get("id") if _is_id(message.get("id")) else 0, "bad_request", problem)
                continue
            if not greeted:
                out.error(message["id"], "bad_request", "send a hello before any request")
                continue
            if link.forward(message):
                continue
            if store is None:
                store = RunStore(run_dir)
            _handle_locally(store, run_dir, message, out, launcher)
            link.retry_now.set()  # a request may have launched the daemon: connect to it at once
            wake.set()
    finally:
        if store is not None:
            store.close()
        closing.set()
        wake.set()


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and 0 < len(value) <= 64
    )


def _handle_locally(
    store: RunStore, run_dir: Path, message: dict[str, Any], out: Output, launcher: Callable[[Path], int]
) -> None:
    def launch() -> int:
        try:
            return launcher(run_dir)
        except DaemonRunning as exc:
            raise RequestError("conflict", str(exc)) from None
        except DaemonError as exc:
            raise RequestError("unavailable", str(exc)) from None

    ctx = RequestContext(store=store, run_dir=run_dir, control=None, launch=launch)
    try:
        result = handle_request(ctx, message["method"], message["params"])
    except RequestError as exc:
        out.error(message["id"], exc.code, exc.message)
        return
    except Exception as exc:  # a broken store: answer, keep serving
        out.error(message["id"], "internal", f"{type(exc).__name__}: {exc}")
        return
    out.send({"type": "response", "id": message["id"], "ok": True, "result": result})
