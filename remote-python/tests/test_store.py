import sqlite3
import threading

import pytest
from wire import assert_server_message

from archloop.config import load_config
from archloop.run.loop import open_run
from archloop.run.records import AdapterRecord, NotFound, StoreError
from archloop.run.store import RunStore


@pytest.fixture
def store(tmp_path):
    s = open_run(tmp_path / "run-a", load_config(preset="demo"))
    yield s
    s.close()


def test_new_run_has_one_run_created_event_valid_on_the_wire(store):
    events = store.events_since(0)
    assert [e.kind for e in events] == ["run.created"]
    assert events[0].seq == 1
    assert_server_message(events[0].to_wire(store.run_id))
    assert store.run_info().state == "created"


def test_reopening_an_existing_run_keeps_it_and_adds_no_event(tmp_path, store):
    again = open_run(store.run_dir, load_config(preset="paper"))
    assert again.run_info().name == "demo"  # the stored config wins over a new one
    assert again.last_seq() == 1
    again.close()


def test_store_pragmas_are_wal_and_normal_sync(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_opening_a_directory_without_a_run_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="not an ArchLoop run"):
        RunStore(tmp_path)


def test_candidate_lifecycle_emits_one_valid_event_per_step_in_order(store):
    store.start_cycle(1, 2, None)
    cid, started = store.start_candidate(1, 0)
    assert started is not None
    assert store.start_candidate(1, 0)[1] is None  # a reopened slot gets no second event
    store.candidate_generated(cid, "code", 1, 10, 0.5)
    store.candidate_validated(cid, True, "ok", None, None, 100)
    store.candidate_novelty(cid, 0.2, "seed:x", True, "abc", False)
    store.candidate_evaluated(
        cid,
        outcome="ok",
        accuracy=41.5,
        params=100,
        train_seconds=1.0,
        eval_seconds=0.1,
        peak_memory_mb=None,
        images_per_second=None,
        message=None,
    )
    kinds = [e.kind for e in store.events_since(1)]
    assert kinds == [
        "cycle.started",
        "candidate.started",
        "candidate.generated",
        "candidate.validated",
        "candidate.novelty",
        "candidate.evaluated",
    ]
    for e in store.events_since(0):
        assert_server_message(e.to_wire(store.run_id))
    with pytest.raises(ValueError, match="expected 'generating'"):
        store.candidate_generated(cid, "again", 1, 1, 0.1)  # a step recorded twice is refused


def test_events_since_returns_exactly_the_later_events_with_a_limit(store):
    store.start_cycle(1, 5, None)
    for i in range(5):
        store.start_candidate(1, i)
    seqs = [e.seq for e in store.events_since(0)]
    assert seqs == list(range(1, 8))
    assert [e.seq for e in store.events_since(3)] == [4, 5, 6, 7]
    assert [e.seq for e in store.events_since(3, limit=2)] == [4, 5]
    assert store.events_since(7) == []


def test_verdict_and_annotation_on_unknown_candidate_is_not_found(store):
    with pytest.raises(NotFound):
        store.set_verdict("c9-0001", "accept")
    with pytest.raises(NotFound):
        store.annotate("c9-0001", "x", [])


def test_verdicts_and_annotations_are_stored_with_events(store):
    store.start_cycle(1, 1, None)
    cid, _ = store.start_candidate(1, 0)
    store.set_verdict(cid, "reject")
    store.annotate(cid, "looks like VGG", ["vgg"])
    record = store.candidate(cid)
    assert record.verdict == "reject" and record.annotation == "looks like VGG" and record.tags == ["vgg"]
    last = store.events_since(0)[-2:]
    assert [e.kind for e in last] == ["candidate.verdict", "candidate.annotated"]
    for e in last:
        assert_server_message(e.to_wire(store.run_id))
    with pytest.raises(ValueError):
        store.set_verdict(cid, "maybe")


def test_concurrent_writers_get_unique_increasing_seqs(store):
    store.start_cycle(1, 200, None)
    errors = []

    def writer(offset):
        try:
            s = RunStore(store.run_dir)
            for i in range(50):
                s.start_candidate(1, offset + i)
            s.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 50,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [e.seq for e in store.events_since(0, limit=10_000)]
    assert seqs == sorted(set(seqs)) and len(seqs) == 2 + 200


def test_listener_hears_of_events_only_after_commit(tmp_path):
    heard = []

    def listener(events):
        other = RunStore(tmp_path / "r")
        heard.append((events[0].seq, other.last_seq()))  # already visible to another connection
        other.close()

    s = open_run(tmp_path / "r", load_config(preset="demo"), on_commit=listener)
    s.start_cycle(1, 1, None)
    assert heard == [(1, 1), (2, 2)]
    s.close()


def _set_schema_version(run_dir, version):
    db = sqlite3.connect(run_dir / "run.sqlite")
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    db.close()


def test_a_store_of_a_newer_schema_is_refused_naming_both_versions(store):
    from archloop.run import schema as store_module

    _set_schema_version(store.run_dir, 99)
    with pytest.raises(StoreError) as refused:
        RunStore(store.run_dir)
    message = str(refused.value)
    assert "99" in message and f"up to {store_module.SCHEMA_VERSION}" in message and "Update ArchLoop" in message


def test_an_older_store_is_migrated_step_by_step_on_open_and_keeps_its_data(store, monkeypatch):
    """A fabricated next layout (version n + 1 adds a column): opening a version-n run upgrades it once, in place."""
    from archloop.run import schema as store_module

    current = store_module.SCHEMA_VERSION
    calls = []

    def add_column(db):
        calls.append(current)
        db.execute("ALTER TABLE candidates ADD COLUMN note TEXT")

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(store_module, "MIGRATIONS", {current: add_column})
    with RunStore(store.run_dir) as upgraded:
        assert upgraded.schema_version() == current + 1 and upgraded.last_seq() == 1
        columns = [row[1] for row in upgraded._db.execute("PRAGMA table_info(candidates)")]
        assert "note" in columns
    with RunStore(store.run_dir):
        pass
    assert calls == [current]  # the second open finds it current: nothing runs twice


def test_an_older_store_without_a_migration_path_says_which_release_can_open_it(store, monkeypatch):
    from archloop.run import schema as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", {})
    _set_schema_version(store.run_dir, store_module.SCHEMA_VERSION - 1)
    with pytest.raises(StoreError) as refused:
        RunStore(store.run_dir)
    assert f"no migration from store schema version {store_module.SCHEMA_VERSION - 1}" in str(refused.value)


def test_the_raw_reply_goes_into_the_generated_event_beside_the_extracted_code(store):
    store.start_cycle(1, 2, None)
    with_raw, _ = store.start_candidate(1, 0)
    plain, _ = store.start_candidate(1, 1)
    store.candidate_generated(with_raw, "code\n", 1, 10, 0.5, raw="Here is it:\n```python\ncode\n```\n")
    store.candidate_generated(plain, "code\n", 1, 10, 0.5)
    events = [e for e in store.events_since(0) if e.kind == "candidate.generated"]
    assert events[0].data["raw"] == "Here is it:\n```python\ncode\n```\n" and "raw" not in events[1].data
    for event in events:
        assert_server_message(event.to_wire(store.run_id))
    assert store.candidate(with_raw).code == "code\n"  # only the extracted code is the candidate's


def test_a_version_1_store_gains_the_adapter_retention_columns_and_keeps_its_adapters(tmp_path):
    run_dir = tmp_path / "old"
    with open_run(run_dir, load_config(preset="demo")) as s:
        s.start_cycle(1, 1, None)
        s.record_adapter(AdapterRecord(1, "cycle-1", str(run_dir / "adapters" / "cycle-1"), 3, 0.5, 1.0, 4), 1.0)
    # Rebuild the adapters table as version 1 wrote it (no keep / deleted_at) and mark the store version 1.
    db = sqlite3.connect(run_dir / "run.sqlite")
    with db:
        db.execute("CREATE TABLE v1 AS SELECT cycle, id, dir, steps, loss, seconds, pairs FROM adapters")
        db.execute("DROP TABLE adapters")
        db.execute("ALTER TABLE v1 RENAME TO adapters")
        _drop_candidate_origin(db)
    db.close()
    _set_schema_version(run_dir, 1)
    with RunStore(run_dir) as upgraded:
        assert upgraded.schema_version() == 3
        (adapter,) = upgraded.adapters()
        assert (adapter.id, adapter.steps, adapter.keep, adapter.deleted) == ("cycle-1", 3, False, False)
        event = upgraded.set_adapter_keep(1, True)
        assert event.kind == "adapter.kept" and upgraded.adapter(1).keep
        assert_server_message(event.to_wire(upgraded.run_id))


def _drop_candidate_origin(db: sqlite3.Connection) -> None:
    # The candidates table as versions 1 and 2 wrote it: no origin / parent.
    db.execute("ALTER TABLE candidates DROP COLUMN origin")
    db.execute("ALTER TABLE candidates DROP COLUMN parent")


def test_a_version_2_store_gains_candidate_origin_and_its_candidates_read_as_the_models(tmp_path):
    run_dir = tmp_path / "old"
    with open_run(run_dir, load_config(preset="demo")) as s:
        s.start_cycle(1, 1, None)
        s.start_candidate(1, 0)
    db = sqlite3.connect(run_dir / "run.sqlite")
    with db:
        _drop_candidate_origin(db)
    db.close()
    _set_schema_version(run_dir, 2)
    with RunStore(run_dir) as upgraded:
        assert upgraded.schema_version() == 3
        (c,) = upgraded.candidates(1)
        assert (c.origin, c.parent) == ("model", None)


def test_a_submitted_candidate_is_stored_as_generated_and_human_written_with_its_parent(store):
    store.start_cycle(1, 2, None)
    parent, _ = store.start_candidate(1, 0)
    record, events = store.submit_candidate("code\n", parent, "current", first_index=2)
    assert (record.id, record.cycle, record.index, record.status) == ("c1-0002", 1, 2, "generated")
    assert (record.origin, record.parent, record.code) == ("human", parent, "code\n")
    assert [e.kind for e in events] == ["candidate.started", "candidate.generated"]
    for event in events:
        assert event.data["origin"] == "human" and event.data["parent"] == parent
        assert_server_message(event.to_wire(store.run_id))
    again, _ = store.submit_candidate("other\n", None, "current", first_index=2)
    assert again.id == "c1-0003" and again.parent is None
    # Past generating, 'current' goes to the next cycle; 'next' always does.
    store.set_cycle_stage(1, "evaluating")
    assert store.submit_candidate("x\n", None, "current", first_index=2)[0].cycle == 2
    assert store.submit_candidate("x\n", None, "next", first_index=2)[0].id == "c2-0003"
    with pytest.raises(NotFound):
        store.submit_candidate("x\n", "c9-0000", "current", first_index=2)


def test_a_candidate_accepted_before_its_novelty_check_is_not_its_own_nearest_neighbour(store):
    store.start_cycle(1, 1, None)
    cid, _ = store.start_candidate(1, 0)
    store.candidate_generated(cid, "code", 1, 10, 0.5)
    store.candidate_validated(cid, True, "ok", None, None, 100)
    store.set_verdict(cid, "accept")  # a person accepts it from its tab while the loop has not checked it yet
    assert cid not in {c.id for c in store.corpus_candidates()}
    store.candidate_novelty(cid, 0.2, "seed:x", True, "abc", False)
    assert cid in {c.id for c in store.corpus_candidates()}
