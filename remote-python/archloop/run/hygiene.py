"""What keeps a long run inside its disk: adapter retention, and the free-disk check before each stage that writes.

Retention keeps the adapters of the last `[sft] keep_adapters` cycles, the one the next cycle continues from (resume
needs it) and those the user marked with adapter.keep; it deletes the files first and then records `adapter.deleted`,
so a crash between the two only leaves a record that the next pass completes (a missing folder counts as deleted).

The free-disk check raises LowDiskError, whose message says how much is free, where, and what can be freed; the loop
records it as the run's fatal run.error. How free space is measured is a parameter (`DiskFree`), so a test can
simulate a full disk without filling one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from archloop.run.records import AdapterRecord
from archloop.run.store import RunStore, is_run_dir

ADAPTERS_DIR = "adapters"  # under the run folder, one `cycle-N` folder per fine-tune
MB = 1024 * 1024
# Bytes free on the file system that holds a path.
DiskFree = Callable[[Path], int]


class LowDiskError(RuntimeError):
    """Too little free space to start a stage that writes; the message says what to free."""


def disk_free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def folder_bytes(path: Path) -> int:
    """Size of the files under `path` (0 if it does not exist); files that vanish while walking are skipped."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def check_free_disk(run_dir: Path, min_free_mb: int, stage: str, disk_free: DiskFree = disk_free_bytes) -> None:
    """Raise LowDiskError when fewer than `min_free_mb` MB are free under `run_dir` (0 = no check)."""
    if min_free_mb <= 0:
        return
    free = disk_free(run_dir)
    if free >= min_free_mb * MB:
        return
    raise LowDiskError(
        f"only {free / MB:.0f} MB free under {run_dir} before {stage} ([run] min_free_disk_mb = {min_free_mb}); "
        f"{_what_to_free(run_dir)}; then start the run again to resume it where it stopped"
    )


def _what_to_free(run_dir: Path) -> str:
    adapters = run_dir / ADAPTERS_DIR
    parts = [
        f"this run's adapters take {folder_bytes(adapters) / MB:.0f} MB in {adapters} "
        f"(lower [sft] keep_adapters to keep fewer)"
    ]
    root = run_dir.resolve().parent
    others = []
    for sibling in sorted(root.iterdir()) if root.is_dir() else []:
        if sibling.is_dir() and sibling.resolve() != run_dir.resolve() and is_run_dir(sibling):
            others.append((folder_bytes(sibling), sibling.name))
    if others:
        largest = ", ".join(f"{name} {size / MB:.0f} MB" for size, name in sorted(others, reverse=True)[:5])
        parts.append(f"other runs under {root} take {sum(s for s, _ in others) / MB:.0f} MB ({largest})")
    else:
        parts.append(f"there are no other runs under {root}")
    return "; ".join(parts)


def adapters_to_delete(adapters: list[AdapterRecord], keep_last: int, next_cycle: int) -> list[AdapterRecord]:
    """The adapters retention deletes now, given every adapter record and the cycle that runs next.

    Kept: the last `keep_last` cycles' adapters (0 = all), the latest adapter made before `next_cycle` (the next
    fine-tune and generation continue from it), any of `next_cycle` or later (its cycle is not finished), and any
    the user marked.
    """
    if keep_last <= 0:
        return []
    made = sorted(a.cycle for a in adapters if a.cycle < next_cycle)
    recent = set(made[-keep_last:])
    continued_from = made[-1] if made else None
    return [
        a
        for a in adapters
        if not a.deleted and not a.keep and a.cycle < next_cycle and a.cycle not in recent and a.cycle != continued_from
    ]


def prune_adapters(store: RunStore, keep_last: int, next_cycle: int) -> list[tuple[int, int]]:
    """Delete the adapters retention no longer keeps; returns (cycle, bytes freed) for each, each one recorded."""
    pruned = []
    own = (store.run_dir / ADAPTERS_DIR).resolve()
    for adapter in adapters_to_delete(store.adapters(), keep_last, next_cycle):
        folder = Path(adapter.dir)
        if not folder.resolve().is_relative_to(own):
            continue  # never delete outside this run's adapters folder (a run folder moved since it was recorded)
        size = folder_bytes(folder)
        if folder.exists():
            shutil.rmtree(folder)
        store.adapter_deleted(adapter.cycle, size)
        pruned.append((adapter.cycle, size))
    return pruned
