"""Where a run's daemon files live, and whether its daemon is alive (by its lock, not by a pid that may be reused).

Layout of a run directory: run.sqlite (the store), daemon.lock (held with flock by the live daemon), daemon.pid,
daemon.log (the daemon's stdout/stderr), daemon.sock (its Unix socket) or, when that path is too long for
AF_UNIX (108 bytes), a short socket under the temp dir whose path is recorded in daemon.socket.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# sun_path holds 108 bytes including the NUL; stay well inside it.
MAX_SOCKET_PATH = 100
# daemon.log is rotated when a daemon starts and finds it over this size: daemon.log.1 .. daemon.log.LOG_KEEP.
LOG_MAX_BYTES = 8 * 1024 * 1024
LOG_KEEP = 3


@dataclass(frozen=True)
class RunFiles:
    run_dir: Path

    @property
    def lock(self) -> Path:
        return self.run_dir / "daemon.lock"

    @property
    def pid(self) -> Path:
        return self.run_dir / "daemon.pid"

    @property
    def log(self) -> Path:
        return self.run_dir / "daemon.log"

    @property
    def socket_record(self) -> Path:
        return self.run_dir / "daemon.socket"

    def socket_path(self) -> Path:
        """The daemon's socket path: in the run dir if short enough, else a short one under the temp dir."""
        inside = self.run_dir.resolve() / "daemon.sock"
        if len(os.fsencode(str(inside))) <= MAX_SOCKET_PATH:
            return inside
        digest = hashlib.sha256(os.fsencode(str(self.run_dir.resolve()))).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"archloop-{digest}.sock"

    def recorded_socket(self) -> Path | None:
        """The socket path the running daemon recorded (None if it never started or has cleaned up)."""
        try:
            text = self.socket_record.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return Path(text) if text else None


def daemon_pid(run_dir: Path) -> int | None:
    """The pid of the live daemon of `run_dir`, or None. Liveness is the flock on daemon.lock: a kill -9 releases it."""
    files = RunFiles(run_dir)
    try:
        fd = os.open(files.lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return int(files.pid.read_text().strip())
            except (OSError, ValueError):
                return -1  # locked, but the pid file is not written yet: alive, pid unknown
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLocked(RuntimeError):
    def __init__(self, run_dir: Path, pid: int | None) -> None:
        super().__init__(f"run {run_dir} is held by another process (pid {pid})")
        self.pid = pid


def acquire_run_lock(run_dir: Path) -> int:
    """Take the run's exclusive lock and write our pid; returns the fd (closing it releases the lock).

    Raises RunLocked naming the holder's pid if a daemon or a foreground `archloop run` already holds it.
    """
    files = RunFiles(run_dir)
    fd = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(run_dir, daemon_pid(run_dir)) from None
    files.pid.write_text(f"{os.getpid()}\n")
    return fd


def rotate_log(path: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> bool:
    """Shift `path` to `path.1` (and .1 to .2, ..., dropping the oldest beyond `keep`) if it is over `max_bytes`.
    Called before a daemon appends to its log, so a run resumed many times keeps at most (keep + 1) logs' worth."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    path.with_name(f"{path.name}.{keep}").unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    if keep > 0:
        path.replace(path.with_name(f"{path.name}.1"))
    else:
        path.unlink()
    return True
