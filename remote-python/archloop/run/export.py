"""`archloop export`: a run's accepted/selected nets in LEMUR's layout (code and training statistics) and its
per-cycle table as CSV and JSON.

Layout written under OUT:
- `ab/nn/nn/<name>.py` for every candidate in the fine-tuning set (selected or accepted, never rejected);
- `ab/nn/stat/train/img-classification_cifar-10_acc_<name>/1.json` for each of those with a recorded accuracy: one
  LEMUR trial, as LEMUR's trainer writes it (keys sorted; `accuracy` as a fraction of 1 after the run's one epoch,
  `duration` in nanoseconds, the `transform` and hyperparameters the evaluator passed in `prm`, `uid` the digest
  of those as LEMUR computes it), so corpus/lemur.py, or LEMUR itself, imports the nets with their accuracies;
- `stats.csv` and `stats.json` with the paper's columns per finished cycle (plus the Wilson intervals in the JSON),
  and `candidates.json` with the metrics of each exported net.

Names are `ArchLoop-<run>-<candidate>` with no `_`: LEMUR splits a statistics folder's name on every `_`. A net
whose accuracy was measured on synthetic data gets no statistics (it is no CIFAR-10 accuracy): its candidate.evaluated
event says which data it was (runs recorded before events said so: the config's `[evaluation] data`, where only an
explicit "synthetic" is known). Existing files with the same names are overwritten; nothing else under OUT is
touched. Failures: StoreError for a directory that is not a run, OSError for an unwritable OUT.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archloop.evaluation.contract import check_source
from archloop.evaluation.evaluate import PROTOCOLS, candidate_prm
from archloop.run.records import CandidateRecord
from archloop.run.selection import PAPER_COLUMNS, paper_row
from archloop.run.store import RunStore

LEMUR_NET_DIR = Path("ab") / "nn" / "nn"
LEMUR_STAT_DIR = Path("ab") / "nn" / "stat" / "train"
# LEMUR's statistics folder: <task>_<dataset>_<metric>_<net>; the run's accuracy is measured after one epoch.
LEMUR_CONFIG = ("img-classification", "cifar-10", "acc")
LEMUR_EPOCH = 1


@dataclass(frozen=True)
class ExportSummary:
    nets: int
    cycles: int
    out_dir: Path
    stats: int = 0  # nets written with LEMUR training statistics (those with a recorded accuracy)


def lemur_name(run_id: str, candidate: str) -> str:
    """A LEMUR net name that says where the net came from: letters, digits and `-` (LEMUR splits on `_`)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", f"{run_id}-{candidate}").strip("-")
    return f"ArchLoop-{safe}"


def lemur_uid(prm: dict[str, Any]) -> str:
    """LEMUR's trial uid: the md5 of the prm dict's text with all whitespace removed (its `Util.uuid4`)."""
    return hashlib.md5(re.sub(r"\s", "", str(prm)).encode()).hexdigest()


def lemur_trial(code: str, accuracy_percent: float, seconds: float | None, evaluation: dict[str, Any]) -> dict:
    """One trial of LEMUR's `stat/train/.../<epoch>.json`: the prm the evaluator passed the net (the run's protocol,
    its batch size, the defaults for the net's declared hyperparameters) with the accuracy and the duration."""
    protocol = PROTOCOLS[evaluation.get("protocol", "paper")]
    if evaluation.get("batch_size") is not None:
        protocol = dataclasses.replace(protocol, batch_size=int(evaluation["batch_size"]))
    prm = candidate_prm(check_source(code, known_hyperparameters=None).hyperparameters, protocol)
    prm.pop("epoch", None)  # the file name is the epoch; LEMUR keeps it out of the trial
    prm = dict(sorted(prm.items()))
    trial = {**prm, "uid": lemur_uid(prm), "accuracy": accuracy_percent / 100.0}
    if seconds is not None:
        trial["duration"] = round(seconds * 1e9)  # LEMUR: nanoseconds from train_setup to the evaluated epoch
    return dict(sorted(trial.items()))


def _evaluations(store: RunStore) -> dict[str, dict[str, Any]]:
    """Each evaluated candidate's candidate.evaluated event (its times, and the data and protocol when recorded)."""
    evaluated: dict[str, dict[str, Any]] = {}
    seq = 0
    while events := store.events_since(seq, limit=5000):
        for event in events:
            if event.kind == "candidate.evaluated":
                evaluated[event.data["candidate"]] = event.data
        seq = events[-1].seq
    return evaluated


def _seconds(event: dict[str, Any]) -> float | None:
    """Training plus test time: LEMUR's duration spans train_setup to the evaluated epoch."""
    train, test = event.get("trainSeconds"), event.get("evalSeconds")
    return None if train is None else train + (test or 0.0)


def export_run(run_dir: Path, out_dir: Path) -> ExportSummary:
    with RunStore(run_dir) as store:
        info = store.run_info()
        last_cycle = store.current_cycle()
        nets = store.training_candidates(last_cycle)
        cycles = [c.stats for c in store.cycles() if c.stats is not None]
        evaluated = _evaluations(store)
    evaluation = info.config.get("evaluation") or {}
    net_dir = out_dir / LEMUR_NET_DIR
    net_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    stats_written = 0
    for c in nets:
        name = lemur_name(info.id, c.id)
        (net_dir / f"{name}.py").write_text(c.code or "", encoding="utf-8")
        event = evaluated.get(c.id, {})
        data = event.get("data") or ("synthetic" if evaluation.get("data") == "synthetic" else "cifar10")
        if data == "cifar10" and c.accuracy is not None and c.code:
            protocol = {**evaluation, **({"protocol": event["protocol"]} if event.get("protocol") else {})}
            _write_stat(out_dir, name, c, _seconds(event), protocol)
            stats_written += 1
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
    return ExportSummary(nets=len(rows), cycles=len(cycles), out_dir=out_dir, stats=stats_written)


def _write_stat(
    out_dir: Path, name: str, candidate: CandidateRecord, seconds: float | None, evaluation: dict[str, Any]
) -> None:
    assert candidate.code is not None and candidate.accuracy is not None
    folder = out_dir / LEMUR_STAT_DIR / "_".join((*LEMUR_CONFIG, name))
    folder.mkdir(parents=True, exist_ok=True)
    trial = lemur_trial(candidate.code, candidate.accuracy, seconds, evaluation)
    # LEMUR's epoch file is a JSON list of trials; a run trains each net once.
    (folder / f"{LEMUR_EPOCH}.json").write_text(json.dumps([trial], indent=4) + "\n", encoding="utf-8")
