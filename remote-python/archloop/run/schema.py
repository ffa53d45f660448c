"""The run store's SQLite layout and its migrations: what `run.sqlite` holds, and how an older store is upgraded.

A store records the schema version it was written with; `RunStore` upgrades an older one on open through MIGRATIONS
(one function per version step, run inside the transaction that records the new version) and refuses a newer one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from archloop.run.records import StoreError

DB_NAME = "run.sqlite"
# The layout this code writes. A store of an older version is upgraded on open by MIGRATIONS; a newer one is refused.
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, preset TEXT, config TEXT NOT NULL, created_at REAL NOT NULL,
  state TEXT NOT NULL, target_cycles INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
  cycle INTEGER PRIMARY KEY, stage TEXT NOT NULL, candidates INTEGER NOT NULL, adapter TEXT,
  started_at REAL NOT NULL, finished_at REAL, stage_seconds TEXT NOT NULL DEFAULT '{}', stats TEXT
);
CREATE TABLE IF NOT EXISTS candidates (
  id TEXT PRIMARY KEY, cycle INTEGER NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL,
  code TEXT, attempts INTEGER, tokens INTEGER, gen_seconds REAL,
  valid INTEGER, outcome TEXT, message TEXT, line INTEGER, params INTEGER,
  max_jaccard REAL, nearest TEXT, novel INTEGER, let_through INTEGER, signature TEXT,
  accuracy REAL, train_seconds REAL, eval_seconds REAL, peak_memory_mb REAL, images_per_second REAL,
  eval_outcome TEXT, eval_message TEXT,
  verdict TEXT, annotation TEXT, tags TEXT NOT NULL DEFAULT '[]',
  selected INTEGER NOT NULL DEFAULT 0, select_reason TEXT,
  origin TEXT NOT NULL DEFAULT 'model', parent TEXT,
  UNIQUE (cycle, idx)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adapters (
  cycle INTEGER PRIMARY KEY, id TEXT NOT NULL, dir TEXT NOT NULL, steps INTEGER NOT NULL, loss REAL,
  seconds REAL NOT NULL, pairs INTEGER NOT NULL, keep INTEGER NOT NULL DEFAULT 0, deleted_at REAL
);
"""


def _v1_adapter_retention(db: sqlite3.Connection) -> None:
    # Version 2: an adapter can be marked to keep, and one deleted by retention says when (its files are gone).
    db.execute("ALTER TABLE adapters ADD COLUMN keep INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE adapters ADD COLUMN deleted_at REAL")


def _v2_candidate_origin(db: sqlite3.Connection) -> None:
    # Version 3: a candidate is written by the model or by a person (candidate.submit), with the one it came from.
    db.execute("ALTER TABLE candidates ADD COLUMN origin TEXT NOT NULL DEFAULT 'model'")
    db.execute("ALTER TABLE candidates ADD COLUMN parent TEXT")


# MIGRATIONS[n] upgrades a store from schema version n to n + 1, inside the transaction that then records n + 1 (so
# a step uses execute(), never executescript(), which would commit half-way).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_adapter_retention, 2: _v2_candidate_origin}


def schema_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row is not None else SCHEMA_VERSION


def upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a store of a newer schema (naming both versions); run the migrations on an older one."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} was written by a newer ArchLoop; this one reads "
            f"versions up to {SCHEMA_VERSION}. Update ArchLoop on this host (or open the run where it was made)."
        )
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")  # one writer migrates; the others then find the new version
    try:
        version = schema_version(db)
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise StoreError(
                    f"{path}: no migration from store schema version {version} to {version + 1}; "
                    f"open this run with the ArchLoop release that made it"
                )
            step(db)
            version += 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
