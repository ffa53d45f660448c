"""Linux Landlock: an unprivileged process restricts its own (and its descendants') file, TCP and signal access.

The sandbox child calls `restrict_self` after loading its data and before running candidate code, so a candidate
can read only Python's install, the archloop package, system libraries, /proc, /sys, /dev and the files it was
handed, can write only its scratch folder, cannot open TCP connections (ABI >= 4) and cannot signal processes
outside its domain (ABI >= 6). Landlock also blocks ptrace and /proc/PID/mem of processes outside the domain.

Failure: when the kernel lacks Landlock (before 5.13, or disabled), `restrict_self` returns None and changes
nothing; the caller records that. An error while building the rules raises OSError (the child then refuses to run
the candidate rather than run it unconfined).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Syscall numbers are the same on every architecture (added in 5.13, after the syscall table unification).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
# Rights that make sense on a single file (the kernel rejects directory rights on a file rule).
_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

READ = FS_READ_FILE | FS_READ_DIR
READ_EXEC = READ | FS_EXECUTE


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass(frozen=True)
class PathRule:
    """Access `rights` (FS_* bits) to `path` and everything beneath it."""

    path: Path
    rights: int


@dataclass(frozen=True)
class LandlockStatus:
    abi: int
    network_restricted: bool
    signals_scoped: bool
    skipped: tuple[str, ...]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is not available."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return 0
    result = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(result), 0)


def restrict_self(rules: Iterable[PathRule]) -> LandlockStatus | None:
    """Allow only `rules` from now on, for this process and all it starts. Irreversible. None if unsupported.

    Paths that do not exist are skipped (and listed in the status); all file-system rights not granted by a rule,
    all TCP bind/connect (ABI >= 4) and signals to processes outside the domain (ABI >= 6) are denied.
    """
    abi = abi_version()
    if abi < 1:
        return None
    libc = _libc()
    handled_fs = _FS_BY_ABI.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(
        handled_access_fs=handled_fs,
        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0,
    )
    # Older kernels accept the larger struct as long as the fields they do not know are zero.
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset_fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset_fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    skipped: list[str] = []
    try:
        for rule in rules:
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                skipped.append(str(rule.path))
                continue
            try:
                rights = rule.rights & handled_fs
                if not os.path.isdir(rule.path):
                    rights &= _FILE_ONLY
                beneath = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
                if libc.syscall(
                    _SYS_ADD_RULE, ruleset_fd, _RULE_PATH_BENEATH, ctypes.byref(beneath), ctypes.c_uint32(0)
                ):
                    err = ctypes.get_errno()
                    raise OSError(err, f"landlock_add_rule {rule.path}: {os.strerror(err)}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(NO_NEW_PRIVS): {os.strerror(err)}")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset_fd, ctypes.c_uint32(0)):
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(ruleset_fd)
    return LandlockStatus(abi=abi, network_restricted=abi >= 4, signals_scoped=abi >= 6, skipped=tuple(skipped))
