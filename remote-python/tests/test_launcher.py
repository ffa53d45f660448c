"""The fork server's children never outlive their owner, however the owner or the fork server dies.

A real fork server is started by a separate driver process (as a daemon or Ray worker would hold it) and launches a
real sandbox child, which blocks reading its job: this test holds the job pipe's write end, so only a kill ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from procs import parent_of, running
from run_helpers import wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process lifetimes are Linux-specific")

DRIVER = """
import json, sys, time
from pathlib import Path
from archloop.evaluation.launcher import ChildFds
from archloop.evaluation.sandbox import make_fork_server

stdin, stdout, stderr, result = (int(fd) for fd in sys.argv[1:5])
scratch = Path(sys.argv[5])
server = make_fork_server(scratch)
child = server.launch(scratch, {"PATH": "/usr/bin:/bin"}, ChildFds(stdin, stdout, stderr, result))
print(json.dumps({"child": child.pid}), flush=True)
time.sleep(600)
"""


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
        pids += [child, parent_of(child)]
        assert running(child)
        yield driver, pids[1], child
    finally:
        for pid in filter(running, pids):
            with contextlib.suppress(ProcessLookupError):  # it may end between the check and the kill
                os.kill(pid, signal.SIGKILL)
        driver.kill()
        driver.wait()
        for fd in [job_write, *(r for r, _ in outs)]:
            os.close(fd)


def test_a_child_dies_when_the_process_holding_its_fork_server_is_killed(driven_child):
    driver, server, child = driven_child
    driver.kill()  # SIGKILL: no clean-up code runs in the owner
    driver.wait()
    wait_for(lambda: not running(server), 10, "the fork server to end with its owner")
    wait_for(lambda: not running(child), 10, "the candidate to end with its owner")


def test_a_child_dies_when_its_fork_server_is_killed(driven_child):
    driver, server, child = driven_child
    os.kill(server, signal.SIGKILL)  # the fork server gets no chance to kill anything itself
    wait_for(lambda: not running(child), 10, "the candidate to end with its fork server")
    assert driver.poll() is None  # only the fork server died
