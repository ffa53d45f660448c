"""No network for candidates: UDP and TCP to listeners on loopback are both refused inside the sandbox, and the
listeners receive nothing. The control (the seccomp filter off) shows the datagram does arrive without it."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from archloop.evaluation import netguard
from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import FAST, EvalTask
from archloop.evaluation.landlock import abi_version
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate, make_fork_server

pytestmark = pytest.mark.skipif(not netguard.supported(), reason="no seccomp filter for this platform")

# Tries both, then raises with what happened to each, so the test reads the child's view from the message.
CANDIDATE = """
import socket
import torch.nn as nn

def supported_hyperparameters():
    return {"lr", "momentum"}

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        seen = []
        try:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"exfiltrated", ("127.0.0.1", __UDP__))
            seen.append("udp sent")
        except OSError as exc:
            seen.append(f"udp {type(exc).__name__}")
        try:
            socket.create_connection(("127.0.0.1", __TCP__), timeout=5).sendall(b"exfiltrated")
            seen.append("tcp sent")
        except OSError as exc:
            seen.append(f"tcp {type(exc).__name__}")
        raise RuntimeError("; ".join(seen))
"""


@dataclass
class Listeners:
    udp: socket.socket
    tcp: socket.socket

    def code(self) -> str:
        return CANDIDATE.replace("__UDP__", str(self.udp.getsockname()[1])).replace(
            "__TCP__", str(self.tcp.getsockname()[1])
        )

    def ready(self, timeout_s: float) -> list[str]:
        """Which listener got a datagram or a connection, waiting at most `timeout_s` for either."""
        readable, _, _ = select.select([self.udp, self.tcp], [], [], timeout_s)
        return sorted("udp" if s is self.udp else "tcp" for s in readable)


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    yield Listeners(udp, tcp)
    udp.close()
    tcp.close()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cache_synthetic(tmp_path_factory.mktemp("data"), n_train=16, n_test=8, seed=0)


@pytest.fixture(scope="module")
def limits(tmp_path_factory) -> SandboxLimits:
    return SandboxLimits(timeout_s=60, memory_mb=3072, scratch_root=tmp_path_factory.mktemp("scratch"))


@pytest.fixture(scope="module")
def fork_server(limits):
    server = make_fork_server(limits.scratch_root)
    yield server
    server.close()


def run(code: str, dataset, limits: SandboxLimits, fork_server) -> tuple[str, str, list[str]]:
    result = evaluate_candidate(EvalTask("net", code), dataset, FAST, limits, static_check=False, launcher=fork_server)
    return result.outcome, result.message or "", list(result.notes)


def test_udp_and_tcp_to_loopback_listeners_are_refused(listeners, dataset, limits, fork_server):
    outcome, message, notes = run(listeners.code(), dataset, limits, fork_server)
    assert outcome == "runtime_error"
    assert "udp PermissionError" in message and "tcp PermissionError" in message, message
    assert "seccomp: sockets other than AF_UNIX refused" in notes
    # The child has exited; anything it sent is already queued on loopback. Wait a bounded time for it anyway.
    assert listeners.ready(timeout_s=1.0) == []


def test_without_the_filter_the_datagram_arrives(listeners, dataset, limits, fork_server):
    # The control: the attack is real, and the filter is what stops UDP (Landlock ABI >= 4 still stops TCP).
    outcome, message, _ = run(listeners.code(), dataset, replace(limits, seccomp=False), fork_server)
    assert outcome == "runtime_error" and "udp sent" in message, message
    assert "udp" in listeners.ready(timeout_s=30.0)
    assert listeners.udp.recv(64) == b"exfiltrated"
    if abi_version() >= 4:
        assert "tcp PermissionError" in message, message


def test_doctor_probe_says_the_filter_works_here():
    # The probe installs the filter in a throwaway process: UDP and TCP refused, AF_UNIX (torch may use it) open.
    assert netguard.probe() is True


def test_doctor_names_the_active_guards_and_what_stays_open():
    active, gaps = netguard.sandbox_guards()
    assert "seccomp: sockets other than AF_UNIX refused (UDP, TCP, raw, netlink)" in active
    assert any("AF_UNIX" in gap for gap in gaps)
    assert any(g.startswith("landlock abi") for g in active) == (abi_version() >= 1)
