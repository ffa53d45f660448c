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

import collections
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from archloop.run.daemon import DaemonError, DaemonRunning, connect, start_daemon
from archloop.run.records import StoreError
from archloop.run.requests import RequestContext, RequestError, handle_request
from archloop.run.store import RunStore
from archloop.wire import protocol

LINE_CAP = 8 * 1024 * 1024
POLL_S = 0.25
RECONNECT_S = 0.5
REPLAY_BATCH = 500
EXIT_PROTOCOL = 2
# Lines waiting for stdout before token deltas are dropped and the follower waits (it resumes from the store).
OUTPUT_QUEUE = 1024
# How long an ending session waits for a reader that does not read to take its last lines.
FINISH_S = 5.0


def _now_ms() -> float:
    return round(time.time() * 1000, 3)


class Output:
    """Whole lines to stdout, written by one writer thread from a queue, so no sender blocks on a slow reader.

    A client that stops reading (a sleeping laptop, a half-open SSH link) must not hold up the daemon link that
    feeds it: `send` (hello, responses, logs: a few per client request) always queues; `send_stream` drops token
    deltas while OUTPUT_QUEUE lines are waiting (they are ephemeral, and each candidate's code arrives whole in its
    candidate.generated event); `send_event` waits for room, which stalls only the follower, and the follower reads
    the store by seq, so a stalled client later gets every event exactly once. `closed` once the reader went away.
    """

    def __init__(self, stream: IO[bytes], limit: int = OUTPUT_QUEUE) -> None:
        self._stream = stream
        self._limit = limit
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._abandoned = False
        self._finishing = False
        self.closed = threading.Event()
        self.dropped_streams = 0
        self._writer = threading.Thread(target=self._write, name="attach-stdout", daemon=True)
        self._writer.start()

    def send(self, message: Any) -> None:
        self._put(protocol.encode(message))

    def send_stream(self, message: Any) -> None:
        data = protocol.encode(message)
        with self._cond:
            if len(self._queue) >= self._limit:
                self.dropped_streams += 1
                return
        self._put(data)

    def send_event(self, message: Any) -> bool:
        """Queue an event once there is room; False (not sent) if the reader went away or the session is ending."""
        data = protocol.encode(message)
        with self._cond:
            while len(self._queue) >= self._limit and not (self.closed.is_set() or self._abandoned):
                self._cond.wait()
            if self.closed.is_set() or self._abandoned:
                return False
            self._queue.append(data)
            self._cond.notify_all()
            return True

    def abandon(self) -> None:
        """The session is ending: wake a follower waiting for room."""
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()

    def finish(self, wait_s: float = FINISH_S) -> None:
        """Write what is queued (at most `wait_s` for a reader that does not read), then stop the writer."""
        with self._cond:
            self._finishing = True
            self._cond.notify_all()
        self._writer.join(wait_s)

    def _put(self, data: bytes) -> None:
        with self._cond:
            if not self.closed.is_set():
                self._queue.append(data)
                self._cond.notify_all()

    def _write(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._finishing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = b"".join(self._queue)
                self._queue.clear()
                self._cond.notify_all()  # room for the follower
            try:
                self._stream.write(batch)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                with self._cond:
                    self.closed.set()
                    self._queue.clear()
                    self._cond.notify_all()
                return

    def log(self, level: Literal["debug", "info", "warn", "error"], message: str) -> None:
        self.send(protocol.log(level, message[:60_000], _now_ms(), source="attach"))

    def error(self, request_id: Any, code: Any, message: str) -> None:
        self.send(protocol.response_error(request_id, code, message[:60_000]))


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
                self.out.send_stream(message)
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
        out.send(protocol.hello("server"))
        out.log("error", str(exc))
        out.finish()
        return 1
    out.send(protocol.hello("server", run=run_id))
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
                if not out.send_event(event.to_wire(run_id)):
                    break
                last = event.seq
            if len(events) == REPLAY_BATCH:
                continue
            wake.wait(poll_s)
            wake.clear()
    finally:
        closing.set()
        link.stop()
        store.close()
        out.finish()
    return exit_code[0]


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
    decoder = protocol.LineDecoder(LINE_CAP)
    greeted = [False]

    def handle(item: protocol.Line | protocol.Rejection) -> bool:
        """Act on one input line; False ends the session (a hello with another protocol version)."""
        nonlocal store
        decoded = (
            protocol.decode_client_message(item.data, item.line_number) if isinstance(item, protocol.Line) else item
        )
        if decoded is None:
            return True
        if isinstance(decoded, protocol.Rejection):
            if decoded.request_id is not None:
                out.error(decoded.request_id, decoded.error_code, decoded.detail)
            else:
                level: Literal["warn", "error"] = "error" if decoded.reason == "line_too_long" else "warn"
                out.log(level, f"dropped input line {decoded.line_number}: {decoded.detail} ({decoded.preview!r})")
            return True
        message: dict[str, Any] = dict(decoded)
        if message["type"] == "hello":
            problem = protocol.check_hello(message)
            if problem is not None:
                out.log("error", problem)
                exit_code[0] = EXIT_PROTOCOL
                return False
            greeted[0] = True
            return True
        if not greeted[0]:
            out.error(message["id"], "bad_request", "send a hello before any request")
            return True
        if link.forward(message):
            return True
        if store is None:
            store = RunStore(run_dir)
        _handle_locally(store, run_dir, message, out, launcher)
        link.retry_now.set()  # a request may have launched the daemon: connect to it at once
        wake.set()
        return True

    try:
        while not closing.is_set():
            chunk = _read_chunk(stdin)
            items = decoder.feed(chunk) if chunk else decoder.end()
            for item in items:
                if not handle(item):
                    return
            if not chunk:
                return
    finally:
        if store is not None:
            store.close()
        closing.set()
        out.abandon()
        wake.set()


def _read_chunk(stdin: IO[bytes]) -> bytes:
    """Whatever stdin has now (up to 64 KiB), b'' at EOF: lines are framed by the protocol's LineDecoder."""
    read1 = getattr(stdin, "read1", None)
    if read1 is not None:
        return bytes(read1(65536))
    return os.read(stdin.fileno(), 65536)


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
    out.send(protocol.response_ok(message["id"], result))
