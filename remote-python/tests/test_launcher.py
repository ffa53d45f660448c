"""The fork server's children never outlive their owner, however the owner or the fork server dies.

A real fork server is started by a separate driver process (as a daemon or Ray worker would hold it) and launches a
real sandbox child, which blocks reading its job: this test holds the job pipe's write end, so only a kill ends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process lifetimes are Linux-specific")

DRIVER = """
import json, sys, time
from pathlib import Path
from archloop.launcher import ChildFds
from archloop.sandbox import make_fork_server

stdin, stdout, stderr, result = (int(fd) for fd in sys.argv[1:5])
scratch = Path(sys.argv[5])
server = make_fork_server(scratch)
child = server.launch(scratch, {"PATH": "/usr/bin:/bin"}, ChildFds(stdin, stdout, stderr, result))
print(json.dumps({"child": child.pid}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie (dead, not yet reaped by whoever inherited it) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


@pytest.fixture
def driven_child(tmp_path: Path):
    """(driver process, fork server pid, child pid); everything is killed afterwards whatever the test did."""
    job_read, job_write = os.pipe()
    outs = [os.pipe() for _ in range(3)]  # stdout, stderr, result channel
    child_ends = [job_read, *(w for _, w in outs)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *map(str, child_ends), str(scratch)],
        stdout=subprocess.PIPE,
        pass_fds=child_ends,
    )
    for fd in child_ends:
        os.close(fd)
    pids: list[int] = []
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()
        assert line, "the driver printed no child pid"
        child = json.loads(line)["child"]
        pids += [child, _parent_of(child)]
        assert _alive(child)
        yield driver, pids[1], child
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        driver.kill()
        driver.wait()
        for fd in [job_write, *(r for r, _ in outs)]:
            os.close(fd)


def test_a_child_dies_when_the_process_holding_its_fork_server_is_killed(driven_child):
    driver, server, child = driven_child
    driver.kill()  # SIGKILL: no clean-up code runs in the owner
    driver.wait()
    assert _gone_within(server, 10), "the fork server outlived its owner"
    assert _gone_within(child, 10), "the candidate outlived its owner"


def test_a_child_dies_when_its_fork_server_is_killed(driven_child):
    driver, server, child = driven_child
    os.kill(server, signal.SIGKILL)  # the fork server gets no chance to kill anything itself
    assert _gone_within(child, 10), "the candidate outlived its fork server"
    assert driver.poll() is None  # only the fork server died
