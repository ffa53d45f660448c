"""CIFAR-10 data: where it lies on a host. (The loader and on-device transforms live here too.)"""

from __future__ import annotations

import os
from pathlib import Path

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"


def cifar10_candidates(extra: list[Path] | None = None) -> list[Path]:
    """Places to look for CIFAR-10, most specific first: $ARCHLOOP_CIFAR10, then the usual data folders."""
    roots: list[Path] = list(extra or [])
    if env := os.environ.get("ARCHLOOP_CIFAR10"):
        roots.append(Path(env))
    home = Path.home()
    roots += [home / ".cache" / "archloop", home / "data", home / ".torch" / "datasets", Path("/data"), Path("data")]
    found: list[Path] = []
    for root in roots:
        if root.name in (CIFAR_FOLDER, CIFAR_ARCHIVE):
            found.append(root)
        else:
            found += [root / CIFAR_FOLDER, root / "cifar10" / CIFAR_FOLDER, root / CIFAR_ARCHIVE]
    return found
