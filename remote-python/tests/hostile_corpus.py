"""The hostile candidate corpus in tests/hostile/: its files, their `# key: value` header lines, and their code with
the placeholders filled in. Shared by the sandbox and executor tests and by bench/gpu_executor.py."""

from __future__ import annotations

import re
from pathlib import Path

from archloop.evaluation.data import DatasetFiles
from archloop.evaluation.landlock import abi_version

HOSTILE = Path(__file__).parent / "hostile"


def hostile_files() -> list[Path]:
    return sorted(HOSTILE.glob("*.py"))


def header(path: Path, key: str) -> str | None:
    match = re.search(rf"^# {key}: (\S+)", path.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def landlock_missing(path: Path) -> str | None:
    """Why this kernel cannot contain `path` (its `# needs: landlock-N` line), or None."""
    needs = header(path, "needs")
    if needs and abi_version() < int(needs.split("-")[1]):
        return f"needs Landlock ABI {needs.split('-')[1]}, the kernel has {abi_version()}"
    return None


def hostile_code(path: Path, dataset: DatasetFiles, target: Path, port: int, n_test: int) -> str:
    """The candidate's code aimed at this run: the file to write outside, the data's paths, a port, the test size."""
    return (
        path.read_text()
        .replace("__TARGET__", str(target))
        .replace("__LABELS__", str(dataset.test_labels))
        .replace("__IMAGES__", str(dataset.test_images))
        .replace("__PORT__", str(port))
        .replace("__N_TEST__", str(n_test))
    )


def segfault_with_hidden_import() -> str:
    """segfault.py with its ctypes import hidden from the static check: the sandbox, not the check, must contain it."""
    return (HOSTILE / "segfault.py").read_text().replace("import ctypes", 'ctypes = __import__("c" + "types")')
