"""How a sandbox child process comes to exist: a fresh interpreter per candidate, or a fork of a warm fork server.

`SpawnLauncher` starts `python -m archloop.evaluation.sandbox_child` with subprocess (start_new_session=True). Clean, but each
child pays for importing torch (1-4 s of CPU here). `ForkServer` starts that interpreter ONCE, lets it import torch
and archloop (never CUDA: a CUDA context does not survive fork), and then forks one child per candidate, which calls
setsid() (its own session and process group), takes the pipes the parent sent it over a Unix socket (SCM_RIGHTS),
switches to its scratch folder and allow-listed environment, and runs exactly the same child code as a spawned one.
The fork server itself runs with the allow-listed environment and holds nothing secret.

Both return a `Launched` (pid + wait). Failure: `launch` raises OSError when no process can be started (fork
server dead and not restartable); a child whose exit status is lost (fork server died) reports `lost`.

No forked child outlives its owner: when the process holding the ForkServer dies (a daemon or Ray worker killed -9),
the fork server sees its socket close and SIGKILLs every child's process group before it exits; if the fork server
itself is killed, the kernel SIGKILLs each child (PR_SET_PDEATHSIG). Otherwise an orphaned candidate would keep its
GPU memory and cores until it finished, or forever if it loops, while a resumed run evaluates it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHILD_MODULE = "archloop.evaluation.sandbox_child"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class ChildFds:
    """The child's ends of its four pipes: job in, stdout, stderr, result channel."""

    stdin: int
    stdout: int
    stderr: int
    result: int


class Launched(Protocol):
    pid: int

    def wait(self, timeout: float | None) -> int | None:
        """The exit code (negative: killed by that signal), or None while it runs. `lost` when unknowable."""
        ...

    @property
    def lost(self) -> bool: ...


class Launcher(Protocol):
    def launch(self, scratch: Path, env: dict[str, str], fds: ChildFds) -> Launched: ...

    def close(self) -> None: ...


class _Spawned:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    def wait(self, timeout: float | None) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def lost(self) -> bool:
        return False


class SpawnLauncher:
    """A fresh interpreter per candidate (the default: nothing is shared with any other candidate)."""

    def launch(self, scratch: Path, env: dict[str, str], fds: ChildFds) -> Launched:
        proc = subprocess.Popen(
            [sys.executable, "-s", "-m", CHILD_MODULE, "--result-fd", str(fds.result)],
            stdin=fds.stdin,
            stdout=fds.stdout,
            stderr=fds.stderr,
            cwd=scratch,
            env=env,
            start_new_session=True,
            pass_fds=(fds.result,),
        )
        return _Spawned(proc)

    def close(self) -> None:
        pass


class _Forked:
    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid

    def wait(self, timeout: float | None) -> int | None:
        return self.server._wait(self.pid, timeout)

    @property
    def lost(self) -> bool:
        return self.server._dead and self.pid not in self.server._exits


class ForkServer:
    """One warm interpreter (torch imported) that forks sandbox children on request. Thread-safe; close() it."""

    def __init__(self, env: dict[str, str], cwd: Path, remove_on_close: bool = False) -> None:
        self._env, self._cwd, self._remove_on_close = env, cwd, remove_on_close
        self._lock = threading.Lock()  # one launch at a time: replies come back in order
        self._cond = threading.Condition()
        self._exits: dict[int, int] = {}
        self._launched: list[int] = []
        self._dead = True
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-s", "-m", CHILD_MODULE, "--zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        self._sock = ours
        self._dead = False
        self._ready = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # Wait for its imports here, so no candidate's clock runs while torch loads.
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._dead, timeout=300):
                raise OSError("fork server did not become ready within 300 s")

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            with self._cond:
                if "ready" in message:
                    self._ready = True
                elif "launched" in message:
                    self._launched.append(int(message["launched"]))
                else:
                    self._exits[int(message["exited"])] = int(message["code"])
                self._cond.notify_all()
        with self._cond:
            self._dead = True
            self._cond.notify_all()

    def launch(self, scratch: Path, env: dict[str, str], fds: ChildFds) -> Launched:
        with self._lock:
            if self._dead:
                self._restart()
            request = json.dumps({"scratch": str(scratch), "env": env}).encode()
            try:
                socket.send_fds(self._sock, [request], [fds.stdin, fds.stdout, fds.stderr, fds.result])
            except OSError as exc:
                raise OSError(f"fork server unreachable: {exc}") from exc
            with self._cond:
                if not self._cond.wait_for(lambda: self._launched or self._dead, timeout=60):
                    raise OSError("fork server did not answer within 60 s")
                if not self._launched:
                    raise OSError("fork server died while launching a child")
                pid = self._launched.pop(0)
        return _Forked(self, pid)

    def _restart(self) -> None:
        self._shutdown()
        self._start()

    def _wait(self, pid: int, timeout: float | None) -> int | None:
        with self._cond:
            self._cond.wait_for(lambda: pid in self._exits or self._dead, timeout=timeout)
            return self._exits.pop(pid, None)

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)  # it exits when its socket closes
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._reader.join(timeout=5)

    def close(self) -> None:
        with self._lock:
            self._shutdown()
            if self._remove_on_close:
                shutil.rmtree(self._cwd, ignore_errors=True)


def zygote_loop(sock_fd: int, run_child: object) -> int:
    """The fork server's side (runs in the warm interpreter): fork a child per request, report exits.

    `run_child(result_fd) -> int` is the child's main; it runs in the forked process after setsid, dup2 of the
    pipes to 0/1/2, chdir to scratch and the environment swap.
    """
    import select
    import tempfile

    sock = socket.socket(fileno=sock_fd)
    children: set[int] = set()
    server_pid = os.getpid()
    libc = _libc()
    sock.send(b'{"ready": true}')

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            children.discard(pid)
            sock.send(json.dumps({"exited": pid, "code": os.waitstatus_to_exitcode(status)}).encode())

    while True:
        ready, _, _ = select.select([sock], [], [], 0.05)
        reap()
        if not ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
        except OSError:
            data = b""
        if not data:  # the owner closed its end or died: no child may outlive it
            for child in children:  # each called setsid(): its pid is its process group, so this takes what it started
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
            return 0
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                _die_with_parent(libc, server_pid)
                sock.close()
                os.setsid()
                for target, fd in zip((0, 1, 2), fds[:3], strict=True):
                    os.dup2(fd, target)
                    os.close(fd)
                os.chdir(request["scratch"])
                os.environ.clear()
                os.environ.update(request["env"])
                tempfile.tempdir = None  # TMPDIR changed; forget the fork server's cached choice
                code = run_child(fds[3])  # type: ignore[operator]
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(OSError, ValueError):
                        stream.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        sock.send(json.dumps({"launched": pid}).encode())


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _die_with_parent(libc: ctypes.CDLL | None, parent_pid: int) -> None:
    """In a forked child: have the kernel SIGKILL us when the fork server dies, however it dies (Linux only)."""
    if libc is None or libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not Linux: the fork server's kill on a closed socket still applies
    if os.getppid() != parent_pid:
        os._exit(70)  # the fork server died before the request took effect
