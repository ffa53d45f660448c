"""No network for candidates: a seccomp filter that refuses every socket other than AF_UNIX.

Landlock (landlock.py) stops TCP bind/connect only; UDP, raw and netlink sockets stay open to a process. The sandbox
child calls `refuse_network` after its own setup and before it compiles the candidate's code: from then on
`socket()` and `socketpair()` of any family but AF_UNIX fail with EPERM (Python raises PermissionError), for the
child and everything it starts; torch needs no other family on CPU or CUDA. `io_uring_setup` is refused too (an
io_uring can open sockets without the socket syscall), and so is every syscall of a foreign ABI (32-bit x86, x32),
whose socket numbers the filter does not check.

What stays open: AF_UNIX sockets (a local daemon listening on a path the candidate can name, e.g. a Docker or D-Bus
socket; Landlock ABI >= 6 closes abstract ones) and sockets already open when the filter is installed (the child
holds none but its pipes to the parent).

Failure: on an architecture the filter does not know, or a kernel without seccomp filters, `refuse_network`
returns None and changes nothing (the caller records that); any other error raises OSError, and the child then
refuses to run the candidate.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_X32_SYSCALL_BIT = 0x40000000
# Classic BPF opcodes: load a 32-bit word of seccomp_data, compare and jump, return.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
# Offsets in struct seccomp_data: nr, arch, then args[6] as u64 (the low word of args[0] first: little-endian).
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    socket: int
    socketpair: int
    io_uring_setup: int
    x32: bool  # x86_64 kernels also accept x32 syscall numbers (nr | 0x40000000)


_ABIS = {
    "x86_64": _Abi(0xC000003E, 41, 53, 425, x32=True),
    "aarch64": _Abi(0xC00000B7, 198, 199, 425, x32=False),
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _program(abi: _Abi) -> list[tuple[int, str | int, str | int, int]]:
    """The filter as (code, jump-if-true, jump-if-false, k); jumps name a label ("allow", "deny", "family") or 0."""
    prog: list[tuple[int, str | int, str | int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 0, "deny", abi.audit_arch),
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if abi.x32:
        prog.append((_JGE_K, "deny", 0, _X32_SYSCALL_BIT))
    prog += [
        (_JEQ_K, "deny", 0, abi.io_uring_setup),
        (_JEQ_K, "family", 0, abi.socket),
        (_JEQ_K, "family", "allow", abi.socketpair),
    ]
    return prog


def _assemble(abi: _Abi) -> ctypes.Array[_Filter]:
    body = _program(abi)
    labels = {"family": len(body), "allow": len(body) + 2, "deny": len(body) + 3}
    body += [(_LD_W_ABS, 0, 0, _ARG0_LOW), (_JEQ_K, "allow", "deny", socket.AF_UNIX)]
    body += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)]

    def offset(at: int, target: str | int) -> int:
        return target if isinstance(target, int) else labels[target] - at - 1

    filters = (_Filter * len(body))()
    for i, (code, jt, jf, k) in enumerate(body):
        filters[i] = _Filter(code, offset(i, jt), offset(i, jf), k)
    return filters


def supported() -> bool:
    return sys.platform == "linux" and platform.machine() in _ABIS


def refuse_network() -> str | None:
    """Install the filter on this process (irreversible, inherited by children). None when it cannot be had here."""
    if not supported():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    filters = _assemble(_ABIS[platform.machine()])
    program = _Program(len(filters), ctypes.cast(filters, ctypes.POINTER(_Filter)))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(NO_NEW_PRIVS): {os.strerror(err)}")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0):
        err = ctypes.get_errno()
        if err == errno.EINVAL:  # the kernel was built without seccomp filters
            return None
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {os.strerror(err)}")
    return "seccomp: sockets other than AF_UNIX refused"


def _probe_here() -> int:
    """Exit 0 when, after the filter, UDP and TCP sockets are refused and AF_UNIX ones are not; 1 otherwise."""
    if refuse_network() is None:
        return 1
    for family, kind in ((socket.AF_INET, socket.SOCK_DGRAM), (socket.AF_INET6, socket.SOCK_STREAM)):
        try:
            socket.socket(family, kind).close()
        except PermissionError:
            continue
        return 1
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    return 0


def probe() -> bool:
    """Whether the filter installs and works on this host, tried in a throwaway process (for `archloop doctor`)."""
    if not supported():
        return False
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archloop.evaluation.netguard", "--probe"], capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def sandbox_guards() -> tuple[list[str], list[str]]:
    """(the guards a candidate gets on this host, what stays open), in words for `archloop doctor` and the README."""
    from archloop.evaluation.landlock import abi_version

    abi = abi_version()
    active: list[str] = []
    gaps: list[str] = []
    if abi >= 1:
        covers = ["files"] + (["TCP"] if abi >= 4 else []) + (["signals", "abstract unix sockets"] if abi >= 6 else [])
        active.append(f"landlock abi {abi}: {', '.join(covers)}")
    else:
        gaps.append("no Landlock: a candidate can read and write whatever this user can")
    if probe():
        active.append("seccomp: sockets other than AF_UNIX refused (UDP, TCP, raw, netlink)")
        gaps.append("AF_UNIX sockets to local daemons listening on a path")
    else:
        gaps.append("no seccomp filter: a candidate can send UDP" + (" and open TCP" if abi < 4 else ""))
    if abi < 6:
        gaps.append("signals to other processes of this user and abstract unix sockets (Landlock abi < 6)")
    return active, gaps


if __name__ == "__main__":
    if sys.argv[1:] != ["--probe"]:
        sys.stderr.write("usage: python -m archloop.evaluation.netguard --probe\n")
        sys.exit(2)
    sys.exit(_probe_here())
