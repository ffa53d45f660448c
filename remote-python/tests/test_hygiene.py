"""Long-run hygiene with scripted stages: adapter retention (keep the last N and marked ones, resume still finds the
adapter it continues from) and the free-disk check before each stage that writes."""

from pathlib import Path

import pytest
from scripted_stages import ScriptedStages
from test_loop import small_config
from wire import assert_server_message

from archloop.run.hygiene import MB, adapters_to_delete
from archloop.run.loop import LoopError, LoopHooks, RunLoop, open_run
from archloop.run.records import AdapterRecord
from archloop.run.requests import RequestContext, RequestError, handle_request
from archloop.run.store import RunStore


class Crash(BaseException):
    """Stands in for a kill: not an Exception, so the loop records nothing on its way out."""


class AdapterCheckingStages(ScriptedStages):
    """Scripted stages that fail the test if generation or fine-tuning is handed an adapter that is not on disk."""

    def generate(self, count, adapter_dir, *args, **kwargs):
        assert adapter_dir is None or (adapter_dir / "adapter.json").is_file(), f"{adapter_dir} was deleted"
        return super().generate(count, adapter_dir, *args, **kwargs)

    def finetune(self, cycle, pairs, previous_adapter, *args, **kwargs):
        assert previous_adapter is None or (previous_adapter / "adapter.json").is_file(), f"{previous_adapter} gone"
        return super().finetune(cycle, pairs, previous_adapter, *args, **kwargs)


def on_disk(run_dir: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in (run_dir / "adapters").glob("cycle-*")}


def request(store: RunStore, method: str, params: dict):
    return handle_request(RequestContext(store, store.run_dir, None, None), method, params)


def test_retention_keeps_the_last_n_and_the_marked_adapters_across_four_cycles(tmp_path):
    run_dir = tmp_path / "r"
    config = small_config(cycles=4, candidates=4, sft={"keep_adapters": 1})
    store = open_run(run_dir, config)
    after_cycle: dict[int, set[int]] = {}

    def checkpoint(name: str, cycle: int) -> None:
        if name == "between-cycles":
            after_cycle[cycle] = on_disk(run_dir)
            if cycle == 2:
                assert request(store, "adapter.keep", {"cycle": 2, "keep": True})["seq"] > 0

    stages = AdapterCheckingStages(run_dir / "scripted-state.json")
    assert RunLoop(store, config, stages, LoopHooks(checkpoint=checkpoint)).run() == "completed"
    # keep_adapters = 1: each cycle keeps its own; cycle 2's, marked once cycle 2 ended, outlives its turn.
    assert after_cycle == {1: {1}, 2: {2}, 3: {2, 3}, 4: {2, 4}}
    assert [(c, prev) for c, _, prev in stages.finetune_calls] == [
        (1, None),
        (2, "cycle-1"),
        (3, "cycle-2"),
        (4, "cycle-3"),
    ]
    records = {a.cycle: a for a in store.adapters()}
    assert {c for c, a in records.items() if a.deleted} == {1, 3} and records[2].keep
    deleted = [e for e in store.events_since(0, limit=10_000) if e.kind in ("adapter.deleted", "adapter.kept")]
    assert [(e.kind, e.data["cycle"]) for e in deleted] == [
        ("adapter.deleted", 1),
        ("adapter.kept", 2),
        ("adapter.deleted", 3),
    ]
    for e in deleted:
        assert_server_message(e.to_wire(store.run_id))
    assert all(e.data["bytes"] > 0 for e in deleted if e.kind == "adapter.deleted")

    # A deleted adapter cannot be kept, and a cycle without one is named as such.
    with pytest.raises(RequestError) as gone:
        request(store, "adapter.keep", {"cycle": 1, "keep": True})
    assert gone.value.code == "bad_request" and "already deleted" in gone.value.message
    with pytest.raises(RequestError) as missing:
        request(store, "adapter.keep", {"cycle": 9, "keep": False})
    assert missing.value.code == "not_found" and "cycle 9 has no adapter" in missing.value.message
    with pytest.raises(RequestError) as bad:
        request(store, "adapter.keep", {"cycle": 2, "keep": "yes"})
    assert bad.value.code == "bad_request"


def test_keep_adapters_zero_keeps_every_adapter(tmp_path):
    run_dir = tmp_path / "r"
    config = small_config(cycles=3, candidates=3, sft={"keep_adapters": 0})
    store = open_run(run_dir, config)
    assert RunLoop(store, config, ScriptedStages(run_dir / "s.json")).run() == "completed"
    assert on_disk(run_dir) == {1, 2, 3} and not any(a.deleted for a in store.adapters())


@pytest.mark.parametrize("crash_at", ["finetune", "finish_cycle"])
def test_resume_after_a_crash_in_fine_tune_continues_from_an_adapter_still_on_disk(tmp_path, crash_at):
    """keep_adapters = 1 and a kill in cycle 3's fine-tune (mid-training, or after its adapter was recorded but
    before the cycle finished): the resumed fine-tune trains again from cycle 2's adapter, which must still exist."""
    run_dir = tmp_path / "r"
    config = small_config(cycles=4, candidates=4, sft={"keep_adapters": 1})
    store = open_run(run_dir, config)

    def checkpoint(name: str, cycle: int) -> None:
        if crash_at == "finetune" and (name, cycle) == ("finetune", 3):
            raise Crash()

    if crash_at == "finish_cycle":
        real_finish = store.finish_cycle

        def finish_cycle(cycle, *rest):
            if cycle == 3:
                raise Crash()
            return real_finish(cycle, *rest)

        store.finish_cycle = finish_cycle  # type: ignore[method-assign]
    stages = AdapterCheckingStages(run_dir / "scripted-state.json")
    with pytest.raises(Crash):
        RunLoop(store, config, stages, LoopHooks(checkpoint=checkpoint)).run()
    store.close()
    assert 2 in on_disk(run_dir)

    with RunStore(run_dir) as resumed:
        again = AdapterCheckingStages(run_dir / "scripted-state.json")
        assert RunLoop(resumed, config, again).run() == "completed"
        assert [(c, prev) for c, _, prev in again.finetune_calls] == [(3, "cycle-2"), (4, "cycle-3")]
        assert on_disk(run_dir) == {4}
        deletions = [e.data["cycle"] for e in resumed.events_since(0, limit=10_000) if e.kind == "adapter.deleted"]
        assert sorted(deletions) == [1, 2, 3]  # each once, whatever the crash interrupted


def test_retention_never_deletes_the_adapter_the_next_cycle_continues_from():
    def made(*cycles, keep=()):
        return [AdapterRecord(c, f"cycle-{c}", f"/x/cycle-{c}", 1, None, 0.0, 1, keep=c in keep) for c in cycles]

    assert [a.cycle for a in adapters_to_delete(made(1, 2, 3, 4), 2, 5)] == [1, 2]
    # Cycle 4's adapter is recorded but cycle 4 is not finished: the next fine-tune starts again from cycle 3.
    assert [a.cycle for a in adapters_to_delete(made(1, 2, 3, 4), 1, 4)] == [1, 2]
    assert [a.cycle for a in adapters_to_delete(made(1, 2, 3, keep=(1,)), 1, 4)] == [2]
    assert adapters_to_delete(made(1, 2, 3), 0, 4) == []


def _low_disk_run(tmp_path, free_mb: dict[str, int], checkpoint=None):
    run_dir = tmp_path / "runs" / "r"
    config = small_config(run={"name": "t", "cycles": 2, "candidates_per_cycle": 4, "min_free_disk_mb": 2048})
    store = open_run(run_dir, config)
    asked: list[Path] = []

    def disk_free(path: Path) -> int:
        asked.append(path)
        return free_mb["now"] * MB

    loop = RunLoop(
        store,
        config,
        ScriptedStages(run_dir / "s.json"),
        LoopHooks(checkpoint=checkpoint or (lambda *a: None)),
        disk_free=disk_free,
    )
    return run_dir, store, loop, asked


def test_a_full_disk_ends_the_run_with_a_run_error_that_says_what_to_free(tmp_path):
    old = tmp_path / "runs" / "old-run"
    open_run(old, small_config()).close()
    (old / "adapters" / "cycle-1").mkdir(parents=True)
    (old / "adapters" / "cycle-1" / "adapter.bin").write_bytes(b"\0" * (3 * MB))
    run_dir, store, loop, asked = _low_disk_run(tmp_path, {"now": 100})
    with pytest.raises(LoopError):
        loop.run()
    assert asked and asked[0] == run_dir
    (error,) = [e for e in store.events_since(0) if e.kind == "run.error"]
    assert_server_message(error.to_wire(store.run_id))
    message = error.data["message"]
    assert error.data["fatal"] and error.data["stage"] == "generating"
    assert message.startswith(f"only 100 MB free under {run_dir} before generation ([run] min_free_disk_mb = 2048)")
    assert f"this run's adapters take 0 MB in {run_dir / 'adapters'}" in message and "keep_adapters" in message
    assert f"other runs under {run_dir.parent} take 3 MB (old-run 3 MB)" in message
    assert store.candidates() == []  # nothing was sampled or committed


def test_a_disk_that_fills_during_a_cycle_stops_before_the_fine_tune_and_the_run_resumes_once_freed(tmp_path):
    free = {"now": 50_000}

    def fill_after_selection(name: str, cycle: int) -> None:
        if name == "after-selection":
            free["now"] = 10

    run_dir, store, loop, _ = _low_disk_run(tmp_path, free, fill_after_selection)
    with pytest.raises(LoopError):
        loop.run()
    (error,) = [e for e in store.events_since(0) if e.kind == "run.error"]
    assert error.data["stage"] == "finetuning" and "only 10 MB free" in error.data["message"]
    assert "before fine-tune" in error.data["message"] and not on_disk(run_dir)
    free["now"] = 50_000
    _, _, resumed, _ = _low_disk_run(tmp_path, free)
    assert resumed.run() == "completed" and on_disk(run_dir) == {1, 2}


def test_min_free_disk_zero_turns_the_check_off(tmp_path):
    run_dir = tmp_path / "r"
    config = small_config(run={"name": "t", "cycles": 1, "candidates_per_cycle": 3, "min_free_disk_mb": 0})
    store = open_run(run_dir, config)

    def never(path: Path) -> int:
        raise AssertionError("the disk was measured with the check off")

    assert RunLoop(store, config, ScriptedStages(run_dir / "s.json"), disk_free=never).run() == "completed"
