"""What the run store hands out: its records (run, cycle, candidate, adapter, event), the vocabularies of their
states, and the errors it raises. Plain frozen dataclasses: no database access here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Run states exactly as the wire protocol's RunState.
RUN_STATES = ("created", "running", "paused", "stopping", "stopped", "finished", "failed")
# Where a cycle is; a resumed daemon continues at the first unfinished one.
CYCLE_STAGES = ("generating", "evaluating", "selecting", "finetuning", "finished")
# A candidate's progress; each step is committed before the next begins. Exactly the wire schema's CandidateStatus
# (defined in the extension's src/protocol/messages.ts), which tests/test_candidate_status.py holds equal.
CANDIDATE_STATUSES = ("generating", "generated", "invalid", "validated", "checked", "evaluated")


class StoreError(RuntimeError):
    """The run directory has no usable store (missing, not an ArchLoop run, or of a schema this code cannot read)."""


class NotFound(KeyError):
    """A request named a candidate or cycle the run does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    ts: float  # Unix milliseconds, as on the wire
    kind: str
    data: dict[str, Any]

    def to_wire(self, run_id: str) -> dict[str, Any]:
        return {"type": "event", "seq": self.seq, "run": run_id, "ts": self.ts, "kind": self.kind, "data": self.data}


@dataclass(frozen=True)
class RunInfo:
    id: str
    name: str
    preset: str | None
    config: dict[str, Any]
    created_at: float  # Unix milliseconds
    state: str
    target_cycles: int


@dataclass(frozen=True)
class CycleRecord:
    cycle: int
    stage: str
    candidates: int
    adapter: str | None
    stage_seconds: dict[str, float]
    stats: dict[str, Any] | None


@dataclass(frozen=True)
class CandidateRecord:
    id: str
    cycle: int
    index: int
    status: str
    code: str | None = None
    valid: bool | None = None
    outcome: str | None = None  # validation outcome
    message: str | None = None
    params: int | None = None
    max_jaccard: float | None = None
    nearest: str | None = None
    novel: bool | None = None
    let_through: bool = False
    signature: str | None = None
    eval_outcome: str | None = None
    accuracy: float | None = None
    verdict: str | None = None
    annotation: str | None = None
    tags: list[str] = field(default_factory=list)
    selected: bool = False
    select_reason: str | None = None
    origin: str = "model"  # 'human': submitted from the editor (candidate.submit)
    parent: str | None = None  # the candidate a human-written one was edited from


@dataclass(frozen=True)
class AdapterRecord:
    cycle: int
    id: str
    dir: str
    steps: int
    loss: float | None
    seconds: float
    pairs: int
    keep: bool = False  # marked by the user (adapter.keep): retention never deletes it
    deleted: bool = False  # deleted by retention: `dir` no longer exists


def candidate_id(cycle: int, index: int) -> str:
    return f"c{cycle}-{index:04d}"
