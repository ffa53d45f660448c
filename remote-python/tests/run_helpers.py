"""Helpers for tests that drive the CLI, the daemon and attach as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
# The product's CLI, and tests/daemon_entry.py: the same CLI with stand-in stages (and its daemons too).
ARCHLOOP = (sys.executable, "-m", "archloop")
DAEMON_ENTRY = TESTS_DIR / "daemon_entry.py"


def stand_in(stages: str = "scripted", *, slow: float = 0.0, halt_at: str | None = None) -> tuple[str, ...]:
    """The command of archloop's CLI with stand-in stages (see tests/daemon_entry.py for the options)."""
    halt = ("--halt-at", halt_at) if halt_at else ()
    return (sys.executable, str(DAEMON_ENTRY), "--stages", stages, "--slow", str(slow), *halt)


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


def cli(*args: str, command: Sequence[str] = ARCHLOOP, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run an archloop command: the product's CLI unless `command` is a stand_in(...)."""
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# A net written by hand that passes the static contract check (what candidate.submit accepts).
HUMAN_NET = (
    "import torch\n"
    "import torch.nn as nn\n\n\n"
    "def supported_hyperparameters():\n"
    "    return {'lr', 'momentum'}\n\n\n"
    "class Net(nn.Module):\n"
    "    def __init__(self, in_shape, out_shape, prm, device):\n"
    "        super().__init__()\n"
    "        self.device = device\n"
    "        self.fc = nn.Linear(3 * 32 * 32, out_shape[0])\n\n"
    "    def forward(self, x):\n"
    "        return self.fc(x.flatten(1))\n\n"
    "    def train_setup(self, prm):\n"
    "        self.criteria = (nn.CrossEntropyLoss(),)\n"
    "        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])\n\n"
    "    def learn(self, train_data):\n"
    "        for inputs, labels in train_data:\n"
    "            self.optimizer.zero_grad()\n"
    "            self.criteria[0](self(inputs), labels).backward()\n"
    "            self.optimizer.step()\n"
)
