"""Helpers for tests that drive the CLI, the daemon and attach as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
PACKAGE_ROOT = TESTS_DIR.parent


def scripted_env(**extra: str) -> dict[str, str]:
    """Environment for a daemon that uses the scripted stand-in stages of tests/scripted_stages.py."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(PACKAGE_ROOT), env.get("PYTHONPATH", "")])
    env["ARCHLOOP_STAGES_FACTORY"] = "scripted_stages:build_scripted_stages"
    env.update(extra)
    return env


def write_config(path: Path, cycles: int = 2, candidates: int = 6, **sections: dict[str, Any]) -> Path:
    tables = {
        "run": {"name": "t", "cycles": cycles, "candidates_per_cycle": candidates},
        "generation": {"batch_size": 2},
        "selection": {"min_selected": 2},
        **sections,
    }
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archloop", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
