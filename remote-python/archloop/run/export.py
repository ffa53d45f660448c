"""`archloop export`: a run's accepted/selected nets in LEMUR's file layout and its per-cycle table as CSV and JSON.

Layout written under OUT: `ab/nn/nn/<name>.py` for every candidate in the fine-tuning set (selected or accepted,
never rejected), `stats.csv` and `stats.json` with the paper's columns per finished cycle (plus the Wilson intervals
in the JSON), and `candidates.json` with the metrics of each exported net. Existing files with the same names are
overwritten; nothing else under OUT is touched. Failures: StoreError for a directory that is not a run, OSError for
an unwritable OUT.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from archloop.run.selection import PAPER_COLUMNS, paper_row
from archloop.run.store import RunStore

LEMUR_NET_DIR = Path("ab") / "nn" / "nn"


@dataclass(frozen=True)
class ExportSummary:
    nets: int
    cycles: int
    out_dir: Path


def lemur_name(run_id: str, candidate: str) -> str:
    """A LEMUR-style module name: a Python identifier that says where the net came from."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in f"{run_id}_{candidate}")
    return f"ArchLoop_{safe}"


def export_run(run_dir: Path, out_dir: Path) -> ExportSummary:
    with RunStore(run_dir) as store:
        info = store.run_info()
        last_cycle = store.current_cycle()
        nets = store.training_candidates(last_cycle)
        cycles = [c.stats for c in store.cycles() if c.stats is not None]
    net_dir = out_dir / LEMUR_NET_DIR
    net_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in nets:
        name = lemur_name(info.id, c.id)
        (net_dir / f"{name}.py").write_text(c.code or "", encoding="utf-8")
        rows.append(
            {
                "name": name,
                "candidate": c.id,
                "cycle": c.cycle,
                "accuracy": c.accuracy,
                "params": c.params,
                "maxJaccard": c.max_jaccard,
                "nearest": c.nearest,
                "reason": c.select_reason or ("accepted" if c.verdict == "accept" else None),
                "annotation": c.annotation,
                "tags": c.tags,
            }
        )
    (out_dir / "candidates.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    with open(out_dir / "stats.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PAPER_COLUMNS)
        for stats in cycles:
            writer.writerow(paper_row(stats))
    (out_dir / "stats.json").write_text(json.dumps({"run": info.id, "cycles": cycles}, indent=2) + "\n")
    return ExportSummary(nets=len(rows), cycles=len(cycles), out_dir=out_dir)
