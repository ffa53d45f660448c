"""The run store: one SQLite database per run directory (`run.sqlite`), the only persistent state of a run.

Every state change is ONE transaction that also appends its event(s) to the `events` table, so an event is in the
store before anyone can see it, and a crash leaves either both or neither. `seq` is an INTEGER PRIMARY KEY assigned
inside a write transaction (`BEGIN IMMEDIATE` serialises writers), so readers see seqs appear in increasing order.

Several processes use one store at once (the daemon's loop and request threads, any number of `attach` processes):
WAL mode lets readers proceed beside the single writer; the busy timeout makes a writer wait for the lock instead of
failing. Each thread must open its own `RunStore` (sqlite3 connections are not shared across threads).

Failures: a missing or foreign database raises StoreError; a request about an unknown candidate raises NotFound;
sqlite3 errors other than these propagate (they mean a broken disk or file, which the caller reports as internal).

One module though over 400 lines: every state change is one method that writes its rows and its event in one
transaction; split by table, that discipline would be spread over several classes (records.py and schema.py hold
the rest).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archloop.run import schema
from archloop.run.records import (
    CYCLE_STAGES,
    RUN_STATES,
    AdapterRecord,
    CandidateRecord,
    CycleRecord,
    NotFound,
    RunInfo,
    StoredEvent,
    StoreError,
    candidate_id,
)
from archloop.run.schema import DB_NAME

BUSY_TIMEOUT_MS = 30_000

# The event each requested state change records (run.finished and run.error record the others).
_STATE_EVENTS = {"paused": "run.paused", "stopping": "run.stop_requested", "running": "run.resumed"}



def run_id_for(run_dir: Path) -> str:
    """A wire-safe run id from the directory name (the protocol's Id pattern)."""
    slug = re.sub(r"[^A-Za-z0-9_.:-]+", "-", run_dir.resolve().name).strip("-._:")
    return (slug or "run")[:128]


def is_run_dir(path: Path) -> bool:
    return (path / DB_NAME).is_file()


def _now_ms() -> float:
    return round(time.time() * 1000, 3)


EventListener = Callable[[Sequence[StoredEvent]], None]


class RunStore:
    """One connection to a run's database. Not thread-safe: open one per thread."""

    def __init__(self, run_dir: Path, *, create: bool = False, on_commit: EventListener | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not create and not self.path.is_file():
            raise StoreError(f"{self.run_dir}: not an ArchLoop run (no {DB_NAME})")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so each change is exactly one transaction.
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._on_commit = on_commit
        if create:
            self._db.executescript(schema.SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(schema.SCHEMA_VERSION),)
            )
        else:
            try:
                self._db.execute("SELECT 1 FROM run LIMIT 1")
            except sqlite3.DatabaseError as exc:
                self._db.close()
                raise StoreError(f"{self.path}: not an ArchLoop run store ({exc})") from None
            try:
                schema.upgrade(self._db, self.path)
            except BaseException:
                self._db.close()
                raise

    def schema_version(self) -> int:
        """The schema version this store is at (after the upgrade on open)."""
        return schema.schema_version(self._db)

    # ---- plumbing ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[list[StoredEvent]]:
        """One write transaction; yields the list that `_append` fills, and tells the listener after COMMIT."""
        events: list[StoredEvent] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield events
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        if events and self._on_commit is not None:
            self._on_commit(events)

    def _append(self, events: list[StoredEvent], kind: str, data: dict[str, Any]) -> StoredEvent:
        ts = _now_ms()
        cur = self._db.execute(
            "INSERT INTO events (ts, kind, data) VALUES (?, ?, ?)", (ts, kind, json.dumps(data, allow_nan=False))
        )
        event = StoredEvent(seq=int(cur.lastrowid or 0), ts=ts, kind=kind, data=data)
        events.append(event)
        return event

    # ---- run ---------------------------------------------------------------------------------------------------

    @classmethod
    def create_run(
        cls,
        run_dir: Path,
        *,
        name: str,
        preset: str | None,
        config: dict[str, Any],
        target_cycles: int,
        created_event: dict[str, Any],
        on_commit: EventListener | None = None,
    ) -> RunStore:
        """Create the run (if the directory has none yet) and its `run.created` event; returns the open store.

        If the run already exists, it is left as it is (its stored config wins) and the store is returned.
        """
        store = cls(run_dir, create=True, on_commit=on_commit)
        with store._tx() as events:
            exists = store._db.execute("SELECT 1 FROM run").fetchone()
            if exists is None:
                store._db.execute(
                    "INSERT INTO run (id, name, preset, config, created_at, state, target_cycles) VALUES (?,?,?,?,?,?,?)",
                    (run_id_for(run_dir), name, preset, json.dumps(config), _now_ms(), "created", target_cycles),
                )
                store._append(events, "run.created", created_event)
        return store

    def run_info(self) -> RunInfo:
        row = self._db.execute("SELECT * FROM run").fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the store has no run")
        return RunInfo(
            id=row["id"],
            name=row["name"],
            preset=row["preset"],
            config=json.loads(row["config"]),
            created_at=row["created_at"],
            state=row["state"],
            target_cycles=row["target_cycles"],
        )

    @property
    def run_id(self) -> str:
        return self.run_info().id

    def set_state(self, state: str) -> StoredEvent | None:
        """A state change asked for by a request or a starting daemon (running, paused, stopping).

        The change and its event are one transaction: run.paused, run.stop_requested, or run.resumed when a run that
        was paused, stopping or ended runs again. Setting the state it already has records nothing (returns None).
        """
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}")
        with self._tx() as events:
            previous = self.run_info().state
            if previous == state:
                return None
            self._db.execute("UPDATE run SET state = ?", (state,))
            kind = _STATE_EVENTS.get(state)
            if kind is None or (state == "running" and previous == "created"):
                return None  # run.created already says the run is under way
            return self._append(events, kind, {})

    def add_cycles(self, count: int) -> int:
        """Raise the target by `count` cycles beyond the last finished one (or the current target); returns it."""
        with self._tx() as events:
            info = self.run_info()
            done = self.finished_cycles()
            target = max(info.target_cycles, done) + count
            self._set_target(events, info.target_cycles, target)
        return target

    def set_target_cycles(self, target: int) -> None:
        with self._tx() as events:
            self._set_target(events, self.run_info().target_cycles, target)

    def _set_target(self, events: list[StoredEvent], previous: int, target: int) -> None:
        if target != previous:
            self._db.execute("UPDATE run SET target_cycles = ?", (target,))
            self._append(events, "run.target_changed", {"cycles": target})

    def run_finished(self, reason: str, cycles: int, state: str, detail: str | None = None) -> StoredEvent:
        """`detail` says what ended the run in words (which budget was reached, and at what)."""
        data: dict[str, Any] = {"reason": reason, "cycles": cycles}
        if detail is not None:
            data["detail"] = detail[:1000]
        with self._tx() as events:
            self._db.execute("UPDATE run SET state = ?", (state,))
            return self._append(events, "run.finished", data)

    def run_error(self, message: str, stage: str | None, fatal: bool) -> StoredEvent:
        with self._tx() as events:
            if fatal:
                self._db.execute("UPDATE run SET state = 'failed'")
            return self._append(events, "run.error", {"message": message[:60_000], "stage": stage, "fatal": fatal})

    # ---- events ------------------------------------------------------------------------------------------------

    def events_since(self, seq: int, limit: int = 1000) -> list[StoredEvent]:
        rows = self._db.execute(
            "SELECT seq, ts, kind, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [StoredEvent(r["seq"], r["ts"], r["kind"], json.loads(r["data"])) for r in rows]

    def last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def append_event(self, kind: str, data: dict[str, Any]) -> StoredEvent:
        """An event with no row change of its own (fine-tune progress)."""
        with self._tx() as events:
            return self._append(events, kind, data)

    def events_of_kinds(self, kinds: Sequence[str]) -> list[StoredEvent]:
        """Every event of the given kinds, in seq order (the re-check queue is kept as events)."""
        marks = ",".join("?" * len(kinds))
        rows = self._db.execute(
            f"SELECT seq, ts, kind, data FROM events WHERE kind IN ({marks}) ORDER BY seq", tuple(kinds)
        ).fetchall()
        return [StoredEvent(r["seq"], r["ts"], r["kind"], json.loads(r["data"])) for r in rows]

    # ---- cycles ------------------------------------------------------------------------------------------------

    def start_cycle(self, cycle: int, candidates: int, adapter: str | None) -> StoredEvent | None:
        """Open a cycle (idempotent: a resumed cycle keeps its row and gets no second cycle.started)."""
        with self._tx() as events:
            if self._db.execute("SELECT 1 FROM cycles WHERE cycle = ?", (cycle,)).fetchone():
                return None
            self._db.execute(
                "INSERT INTO cycles (cycle, stage, candidates, adapter, started_at) VALUES (?, 'generating', ?, ?, ?)",
                (cycle, candidates, adapter, _now_ms()),
            )
            return self._append(events, "cycle.started", {"cycle": cycle, "candidates": candidates, "adapter": adapter})

    def cycle(self, cycle: int) -> CycleRecord | None:
        row = self._db.execute("SELECT * FROM cycles WHERE cycle = ?", (cycle,)).fetchone()
        return None if row is None else self._cycle_record(row)

    def cycles(self) -> list[CycleRecord]:
        return [self._cycle_record(r) for r in self._db.execute("SELECT * FROM cycles ORDER BY cycle")]

    @staticmethod
    def _cycle_record(row: sqlite3.Row) -> CycleRecord:
        return CycleRecord(
            cycle=row["cycle"],
            stage=row["stage"],
            candidates=row["candidates"],
            adapter=row["adapter"],
            stage_seconds=json.loads(row["stage_seconds"]),
            stats=json.loads(row["stats"]) if row["stats"] else None,
        )

    def finished_cycles(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM cycles WHERE stage = 'finished'").fetchone()
        return int(row[0])

    def current_cycle(self) -> int:
        row = self._db.execute("SELECT MAX(cycle) FROM cycles").fetchone()
        return int(row[0] or 0)

    def set_cycle_stage(self, cycle: int, stage: str, stage_name: str | None = None, seconds: float = 0.0) -> None:
        """Move a cycle to `stage`, adding `seconds` to the time spent in `stage_name` (the step just done)."""
        if stage not in CYCLE_STAGES:
            raise ValueError(f"unknown cycle stage {stage!r}")
        with self._tx():
            self._set_stage(cycle, stage, stage_name, seconds)

    def add_stage_seconds(self, cycle: int, stage_name: str, seconds: float) -> None:
        with self._tx():
            self._set_stage(cycle, None, stage_name, seconds)

    def _set_stage(self, cycle: int, stage: str | None, stage_name: str | None, seconds: float) -> None:
        row = self._db.execute("SELECT stage, stage_seconds FROM cycles WHERE cycle = ?", (cycle,)).fetchone()
        if row is None:
            raise NotFound(f"no cycle {cycle}")
        spent: dict[str, float] = json.loads(row["stage_seconds"])
        if stage_name is not None:
            spent[stage_name] = round(spent.get(stage_name, 0.0) + max(seconds, 0.0), 3)
        self._db.execute(
            "UPDATE cycles SET stage = ?, stage_seconds = ? WHERE cycle = ?",
            (stage or row["stage"], json.dumps(spent), cycle),
        )

    def record_selection(
        self, cycle: int, reasons: dict[str, str], total_train_prompts: int, select_seconds: float
    ) -> StoredEvent:
        """Mark the selected candidates and move the cycle to fine-tuning, with its cycle.selected event."""
        with self._tx() as events:
            self._db.execute("UPDATE candidates SET selected = 0, select_reason = NULL WHERE cycle = ?", (cycle,))
            for cid, reason in reasons.items():
                self._db.execute("UPDATE candidates SET selected = 1, select_reason = ? WHERE id = ?", (reason, cid))
            self._set_stage(cycle, "finetuning", "select", select_seconds)
            return self._append(
                events,
                "cycle.selected",
                {
                    "cycle": cycle,
                    "selected": list(reasons),
                    "reasons": reasons,
                    "totalTrainPrompts": total_train_prompts,
                },
            )

    def record_adapter(
        self, adapter: AdapterRecord, finetune_seconds: float, extra: dict[str, Any] | None = None
    ) -> StoredEvent:
        """`extra`: the optional finetune.done fields (tokens trained, pairs by origin), in the event only."""
        with self._tx() as events:
            # A fine-tune redone after a crash replaces the record but keeps the user's keep mark.
            self._db.execute(
                "INSERT INTO adapters (cycle, id, dir, steps, loss, seconds, pairs) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (cycle) DO UPDATE SET id = excluded.id, dir = excluded.dir, steps = excluded.steps, "
                "loss = excluded.loss, seconds = excluded.seconds, pairs = excluded.pairs, deleted_at = NULL",
                (
                    adapter.cycle,
                    adapter.id,
                    adapter.dir,
                    adapter.steps,
                    adapter.loss,
                    adapter.seconds,
                    adapter.pairs,
                ),
            )
            self._set_stage(adapter.cycle, "finetuning", "finetune", finetune_seconds)
            return self._append(
                events,
                "finetune.done",
                {
                    "cycle": adapter.cycle,
                    "adapter": adapter.id,
                    "steps": adapter.steps,
                    "loss": adapter.loss,
                    "seconds": round(adapter.seconds, 3),
                    **(extra or {}),
                },
            )

    def adapter(self, cycle: int) -> AdapterRecord | None:
        row = self._db.execute("SELECT * FROM adapters WHERE cycle = ?", (cycle,)).fetchone()
        return None if row is None else self._adapter_record(row)

    def adapters(self) -> list[AdapterRecord]:
        """Every adapter the run made, deleted ones included, by cycle."""
        return [self._adapter_record(r) for r in self._db.execute("SELECT * FROM adapters ORDER BY cycle")]

    @staticmethod
    def _adapter_record(row: sqlite3.Row) -> AdapterRecord:
        return AdapterRecord(
            row["cycle"],
            row["id"],
            row["dir"],
            row["steps"],
            row["loss"],
            row["seconds"],
            row["pairs"],
            keep=bool(row["keep"]),
            deleted=row["deleted_at"] is not None,
        )

    def set_adapter_keep(self, cycle: int, keep: bool) -> StoredEvent:
        """Mark (or unmark) a cycle's adapter so that retention never deletes it (the adapter.keep request)."""
        with self._tx() as events:
            row = self._db.execute("SELECT id, deleted_at FROM adapters WHERE cycle = ?", (cycle,)).fetchone()
            if row is None:
                raise NotFound(f"cycle {cycle} has no adapter (one is saved when the cycle's fine-tune ends)")
            if keep and row["deleted_at"] is not None:
                raise ValueError(f"the adapter of cycle {cycle} was already deleted by retention; it cannot be kept")
            self._db.execute("UPDATE adapters SET keep = ? WHERE cycle = ?", (int(keep), cycle))
            return self._append(events, "adapter.kept", {"cycle": cycle, "adapter": row["id"], "keep": keep})

    def adapter_deleted(self, cycle: int, freed_bytes: int) -> StoredEvent:
        """Record that retention removed a cycle's adapter files (called after they are gone)."""
        with self._tx() as events:
            row = self._db.execute("SELECT id FROM adapters WHERE cycle = ?", (cycle,)).fetchone()
            if row is None:
                raise NotFound(f"cycle {cycle} has no adapter")
            self._db.execute("UPDATE adapters SET deleted_at = ? WHERE cycle = ?", (_now_ms(), cycle))
            return self._append(
                events, "adapter.deleted", {"cycle": cycle, "adapter": row["id"], "bytes": max(0, freed_bytes)}
            )

    def latest_adapter(self, before_cycle: int) -> AdapterRecord | None:
        row = self._db.execute(
            "SELECT cycle FROM adapters WHERE cycle < ? ORDER BY cycle DESC LIMIT 1", (before_cycle,)
        ).fetchone()
        return None if row is None else self.adapter(int(row["cycle"]))

    def finish_cycle(self, cycle: int, stats: dict[str, Any], cost: dict[str, Any] | None = None) -> StoredEvent:
        data: dict[str, Any] = {"cycle": cycle, "stats": stats}
        if cost is not None:
            data["cost"] = cost  # what the cycle spent (run/costs.py), in the event only
        with self._tx() as events:
            self._db.execute(
                "UPDATE cycles SET stage = 'finished', finished_at = ?, stats = ? WHERE cycle = ?",
                (_now_ms(), json.dumps(stats), cycle),
            )
            return self._append(events, "cycle.finished", data)

    # ---- costs -------------------------------------------------------------------------------------------------

    def cost_totals(self, cycle: int | None = None) -> dict[str, float]:
        """What a cycle (or, with None, the whole run) has spent so far, from what is committed: tokens generated,
        the candidates' own generation seconds, evaluation device-seconds (train + test of every evaluated
        candidate), tokens fine-tuned on (finetune.done), each stage's seconds, and the novelty counts."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(gen_seconds), 0) AS gen_seconds, "
            "COALESCE(SUM(COALESCE(train_seconds, 0) + COALESCE(eval_seconds, 0)), 0) AS eval_device_seconds, "
            "COALESCE(SUM(status = 'evaluated'), 0) AS evaluated, "
            "COALESCE(SUM(status IN ('checked', 'evaluated')), 0) AS checked, "
            "COALESCE(SUM(status IN ('checked', 'evaluated') AND novel = 1), 0) AS novel, "
            "COALESCE(SUM(novel = 1 AND accuracy >= 40), 0) AS novel40 "
            "FROM candidates WHERE ? IS NULL OR cycle = ?",
            (cycle, cycle),
        ).fetchone()
        totals = {key: float(value) for key, value in zip(row.keys(), row, strict=True)}
        trained = self._db.execute(
            "SELECT COALESCE(SUM(json_extract(data, '$.tokens')), 0) FROM events WHERE kind = 'finetune.done' "
            "AND (? IS NULL OR json_extract(data, '$.cycle') = ?)",
            (cycle, cycle),
        ).fetchone()
        totals["trained_tokens"] = float(trained[0] or 0)
        rows = self._db.execute("SELECT stage_seconds FROM cycles WHERE ? IS NULL OR cycle = ?", (cycle, cycle))
        for r in rows:
            for name, seconds in json.loads(r["stage_seconds"]).items():
                totals[f"stage:{name}"] = totals.get(f"stage:{name}", 0.0) + float(seconds)
        return totals

    # ---- candidates --------------------------------------------------------------------------------------------

    def start_candidate(self, cycle: int, index: int) -> tuple[str, StoredEvent | None]:
        """Open a candidate slot; a slot left 'generating' by a crash is reused without a second event."""
        cid = candidate_id(cycle, index)
        with self._tx() as events:
            row = self._db.execute("SELECT status FROM candidates WHERE id = ?", (cid,)).fetchone()
            if row is not None:
                return cid, None
            self._db.execute(
                "INSERT INTO candidates (id, cycle, idx, status) VALUES (?, ?, ?, 'generating')", (cid, cycle, index)
            )
            event = self._append(events, "candidate.started", {"cycle": cycle, "candidate": cid, "index": index})
        return cid, event

    def submit_candidate(
        self, code: str, parent: str | None, prefer: str, first_index: int
    ) -> tuple[CandidateRecord, list[StoredEvent]]:
        """Store a human-written candidate as generated, in one transaction with its two events.

        It joins the current cycle while that is still generating (validation and novelty run then too) when
        `prefer` is 'current', else the next cycle; its index is at least `first_index` (the model's slots are
        below it, so it never takes one of `candidates_per_cycle`). The loop validates it like the model's.
        """
        if prefer not in ("current", "next"):
            raise ValueError(f"cycle must be 'current' or 'next', got {prefer!r}")
        with self._tx() as events:
            if parent is not None:
                self._require_candidate(parent, None)
            current = self.current_cycle()
            record = self.cycle(current) if current else None
            if record is None:
                cycle = max(current, 1)  # no cycle started yet: the first one takes it
            elif prefer == "current" and record.stage == "generating":
                cycle = current
            else:
                cycle = current + 1
            row = self._db.execute("SELECT MAX(idx) FROM candidates WHERE cycle = ?", (cycle,)).fetchone()
            index = max(first_index, 0 if row[0] is None else int(row[0]) + 1)
            cid = candidate_id(cycle, index)
            self._db.execute(
                "INSERT INTO candidates (id, cycle, idx, status, code, attempts, tokens, gen_seconds, origin, parent) "
                "VALUES (?, ?, ?, 'generated', ?, 1, 0, 0, 'human', ?)",
                (cid, cycle, index, code, parent),
            )
            provenance = {"origin": "human", "parent": parent}
            self._append(events, "candidate.started", {**provenance, "cycle": cycle, "candidate": cid, "index": index})
            self._append(
                events,
                "candidate.generated",
                {
                    **provenance,
                    "cycle": cycle,
                    "candidate": cid,
                    "code": code,
                    "attempts": 1,
                    "tokens": 0,
                    "seconds": 0,
                },
            )
        stored = self.candidate(cid)
        assert stored is not None
        return stored, list(events)

    def candidate_generated(
        self,
        cid: str,
        code: str,
        attempts: int,
        tokens: int,
        seconds: float,
        raw: str | None = None,
        adapter: str | None | bool = False,
    ) -> StoredEvent:
        """`code` is the extracted module; `raw`, the model's reply it came from, is kept in the event only.
        `adapter`: the adapter that wrote it (None: the base model; False: not said), in the event only."""
        data_raw: dict[str, Any] = {} if raw is None else {"raw": raw}
        if adapter is not False:
            data_raw["adapter"] = adapter
        with self._tx() as events:
            cycle = self._require_candidate(cid, "generating")
            self._db.execute(
                "UPDATE candidates SET status = 'generated', code = ?, attempts = ?, tokens = ?, gen_seconds = ? "
                "WHERE id = ?",
                (code, attempts, tokens, seconds, cid),
            )
            return self._append(
                events,
                "candidate.generated",
                {
                    **self._provenance(cid),
                    "cycle": cycle,
                    "candidate": cid,
                    "code": code,
                    "attempts": max(1, attempts),
                    "tokens": max(0, tokens),
                    "seconds": round(max(0.0, seconds), 3),
                    **data_raw,
                },
            )

    def candidate_validated(
        self,
        cid: str,
        ok: bool,
        outcome: str,
        message: str | None,
        line: int | None,
        params: int | None,
        layers: list[dict[str, Any]] | None = None,
        layers_truncated: bool = False,
        seconds: float | None = None,
    ) -> StoredEvent:
        """`layers`: the validation forward's leaf modules (evaluation/layers.py), on the event only, not in a column."""
        with self._tx() as events:
            cycle = self._require_candidate(cid, "generated")
            self._db.execute(
                "UPDATE candidates SET status = ?, valid = ?, outcome = ?, message = ?, line = ?, params = ? "
                "WHERE id = ?",
                ("validated" if ok else "invalid", int(ok), outcome, message, line, params, cid),
            )
            return self._append(
                events,
                "candidate.validated",
                {
                    **self._provenance(cid),
                    "cycle": cycle,
                    "candidate": cid,
                    "ok": ok,
                    "outcome": outcome,
                    "message": None if message is None else message[:60_000],
                    "line": line,
                    "params": params,
                    **({"layers": layers, "layersTruncated": layers_truncated} if layers is not None else {}),
                    **({} if seconds is None else {"seconds": round(max(0.0, seconds), 3)}),  # validation time
                },
            )

    def candidate_novelty(
        self,
        cid: str,
        max_jaccard: float,
        nearest: str | None,
        novel: bool,
        signature: str,
        let_through: bool,
        *,
        measures: list[dict[str, object]] | None = None,
        explanation: str | None = None,
    ) -> StoredEvent:
        with self._tx() as events:
            cycle = self._require_candidate(cid, "validated")
            self._db.execute(
                "UPDATE candidates SET status = 'checked', max_jaccard = ?, nearest = ?, novel = ?, let_through = ?, "
                "signature = ? WHERE id = ?",
                (max_jaccard, nearest, int(novel), int(let_through), signature, cid),
            )
            return self._append(
                events,
                "candidate.novelty",
                {
                    **self._provenance(cid),
                    "cycle": cycle,
                    "candidate": cid,
                    "maxJaccard": min(1.0, max(0.0, max_jaccard)),
                    "nearest": None if nearest is None else nearest[:256],
                    "novel": novel,
                    "signature": signature[:128],
                    # Novelty three ways, where the index measured them (the event is where they are stored).
                    **({"measures": measures} if measures else {}),
                    **({"explanation": explanation[:512]} if explanation else {}),
                },
            )

    def candidate_evaluated(
        self,
        cid: str,
        *,
        outcome: str,
        accuracy: float | None,
        params: int | None,
        train_seconds: float | None,
        eval_seconds: float | None,
        peak_memory_mb: float | None,
        images_per_second: float | None,
        message: str | None,
        data: str | None = None,
        protocol: str | None = None,
        epochs: int | None = None,
        device: str | None = None,
    ) -> StoredEvent:
        # What the accuracy was measured on goes into the event only when the stages said (optional on the wire).
        measured: dict[str, Any] = {
            k: v for k, v in (("data", data), ("protocol", protocol), ("epochs", epochs)) if v is not None
        }
        if device is not None:
            # The device time it held: GPU-seconds on a GPU, CPU-seconds otherwise.
            measured["device"] = device
            measured["deviceSeconds"] = round((train_seconds or 0.0) + (eval_seconds or 0.0), 3)
        with self._tx() as events:
            cycle = self._require_candidate(cid, "checked")
            self._db.execute(
                "UPDATE candidates SET status = 'evaluated', eval_outcome = ?, accuracy = ?, "
                "params = COALESCE(?, params), train_seconds = ?, eval_seconds = ?, peak_memory_mb = ?, "
                "images_per_second = ?, eval_message = ? WHERE id = ?",
                (
                    outcome,
                    accuracy,
                    params,
                    train_seconds,
                    eval_seconds,
                    peak_memory_mb,
                    images_per_second,
                    message,
                    cid,
                ),
            )
            return self._append(
                events,
                "candidate.evaluated",
                {
                    **self._provenance(cid),
                    "cycle": cycle,
                    "candidate": cid,
                    "outcome": outcome,
                    "accuracy": accuracy,
                    "params": params,
                    "trainSeconds": train_seconds,
                    "evalSeconds": eval_seconds,
                    "peakMemoryMB": peak_memory_mb,
                    "imagesPerSecond": images_per_second,
                    "message": None if message is None else message[:60_000],
                    **measured,
                },
            )

    def set_verdict(self, cid: str, verdict: str | None) -> StoredEvent:
        """Record a human verdict (accept/reject/None). It takes effect at the next selection or fine-tune."""
        if verdict not in ("accept", "reject", None):
            raise ValueError(f"verdict must be 'accept', 'reject' or null, got {verdict!r}")
        with self._tx() as events:
            cycle = self._require_candidate(cid, None)
            self._db.execute("UPDATE candidates SET verdict = ? WHERE id = ?", (verdict, cid))
            return self._append(events, "candidate.verdict", {"cycle": cycle, "candidate": cid, "verdict": verdict})

    def annotate(self, cid: str, text: str, tags: list[str]) -> StoredEvent:
        with self._tx() as events:
            cycle = self._require_candidate(cid, None)
            self._db.execute(
                "UPDATE candidates SET annotation = ?, tags = ? WHERE id = ?", (text, json.dumps(tags), cid)
            )
            return self._append(
                events, "candidate.annotated", {"cycle": cycle, "candidate": cid, "text": text, "tags": tags}
            )

    def _provenance(self, cid: str) -> dict[str, Any]:
        """What a human-written candidate's events add (origin and parent); nothing for the model's."""
        row = self._db.execute("SELECT origin, parent FROM candidates WHERE id = ?", (cid,)).fetchone()
        if row is None or row["origin"] == "model":
            return {}
        return {"origin": row["origin"], "parent": row["parent"]}

    def _require_candidate(self, cid: str, status: str | None) -> int:
        row = self._db.execute("SELECT cycle, status FROM candidates WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise NotFound(f"no candidate {cid!r} in this run")
        if status is not None and row["status"] != status:
            # A step recorded twice would duplicate its event: refuse (the loop's resume logic is wrong if this fires).
            raise ValueError(f"candidate {cid} is {row['status']!r}, expected {status!r}")
        return int(row["cycle"])

    def candidate(self, cid: str) -> CandidateRecord | None:
        row = self._db.execute("SELECT * FROM candidates WHERE id = ?", (cid,)).fetchone()
        return None if row is None else self._candidate_record(row)

    def candidates(self, cycle: int | None = None) -> list[CandidateRecord]:
        if cycle is None:
            rows = self._db.execute("SELECT * FROM candidates ORDER BY cycle, idx")
        else:
            rows = self._db.execute("SELECT * FROM candidates WHERE cycle = ? ORDER BY idx", (cycle,))
        return [self._candidate_record(r) for r in rows]

    @staticmethod
    def _candidate_record(row: sqlite3.Row) -> CandidateRecord:
        def flag(v: Any) -> bool | None:
            return None if v is None else bool(v)

        return CandidateRecord(
            id=row["id"],
            cycle=row["cycle"],
            index=row["idx"],
            status=row["status"],
            code=row["code"],
            valid=flag(row["valid"]),
            outcome=row["outcome"],
            message=row["message"],
            params=row["params"],
            max_jaccard=row["max_jaccard"],
            nearest=row["nearest"],
            novel=flag(row["novel"]),
            let_through=bool(row["let_through"]),
            signature=row["signature"],
            eval_outcome=row["eval_outcome"],
            accuracy=row["accuracy"],
            verdict=row["verdict"],
            annotation=row["annotation"],
            tags=json.loads(row["tags"]),
            selected=bool(row["selected"]),
            select_reason=row["select_reason"],
            origin=row["origin"],
            parent=row["parent"],
        )

    def training_candidates(self, up_to_cycle: int) -> list[CandidateRecord]:
        """Candidates in the cumulative fine-tuning set: selected or accepted, never rejected (docs/DESIGN.md)."""
        rows = self._db.execute(
            "SELECT * FROM candidates WHERE cycle <= ? AND code IS NOT NULL "
            "AND (selected = 1 OR verdict = 'accept') AND COALESCE(verdict, '') != 'reject' ORDER BY cycle, idx",
            (up_to_cycle,),
        )
        return [self._candidate_record(r) for r in rows]

    def corpus_candidates(self) -> list[CandidateRecord]:
        """Run candidates that count as novelty corpus: accepted by the filter or by a human, never rejected. A
        candidate still on its way to its own novelty check is not corpus yet, even when accepted early: else it
        would be its own nearest neighbour (Jaccard 1)."""
        rows = self._db.execute(
            "SELECT * FROM candidates WHERE code IS NOT NULL AND COALESCE(verdict, '') != 'reject' "
            "AND status NOT IN ('generating', 'generated', 'validated') "
            "AND (verdict = 'accept' OR selected = 1 OR novel = 1) "
            "ORDER BY cycle, idx"
        )
        return [self._candidate_record(r) for r in rows]

    def verdict_version(self) -> int:
        """Seq of the latest verdict event: the loop rebuilds its novelty index when this moves."""
        row = self._db.execute("SELECT MAX(seq) FROM events WHERE kind = 'candidate.verdict'").fetchone()
        return int(row[0] or 0)
