"""The loop's bookkeeping with scripted stages (fast), and the 2-cycle end-to-end loop with the real stages."""

from pathlib import Path

import pytest
from scripted_stages import ScriptedStages
from wire import assert_server_message

from archloop.config import config_from_dict
from archloop.run.loop import LoopHooks, RunLoop, open_run


def small_config(cycles=2, candidates=8, **sections):
    data = {
        "run": {"name": "t", "cycles": cycles, "candidates_per_cycle": candidates},
        "generation": {"batch_size": 3},
        "selection": {"min_selected": 2},
        **sections,
    }
    return config_from_dict(data)


def run_loop(run_dir: Path, config, hooks=None, stages=None):
    store = open_run(run_dir, config)
    stages = stages or ScriptedStages(run_dir / "scripted-state.json")
    result = RunLoop(store, config, stages, hooks).run()
    return store, stages, result


def test_two_cycles_emit_schema_valid_events_in_stage_order(tmp_path):
    streams = []
    store, stages, result = run_loop(tmp_path / "r", small_config(), LoopHooks(on_stream=streams.append))
    assert result == "completed"
    events = store.events_since(0, limit=10_000)
    for e in events:
        assert_server_message(e.to_wire(store.run_id))
    for s in streams:
        assert_server_message(s)
    kinds = [e.kind for e in events]
    assert kinds[0] == "run.created" and kinds[-1] == "run.finished"
    assert kinds.count("cycle.started") == 2 and kinds.count("cycle.finished") == 2
    assert kinds.count("candidate.generated") == 16
    # Within a cycle: all generation before evaluation-stage end, selection before fine-tune, fine-tune before finish.
    for cycle in (1, 2):
        of = [e.kind for e in events if e.data.get("cycle") == cycle]
        assert of.index("cycle.selected") < of.index("finetune.done") < of.index("cycle.finished")
        assert max(i for i, k in enumerate(of) if k == "candidate.evaluated") < of.index("cycle.selected")
    assert store.run_info().state == "finished"
    # Streams: the deltas of a candidate, in offset order, spell its committed code.
    by_candidate = {}
    for s in streams:
        if s["offset"] == 0:
            by_candidate[s["candidate"]] = ""
        by_candidate[s["candidate"]] += s["delta"]
    for c in store.candidates():
        assert by_candidate[c.id] == c.code


def test_fine_tune_continues_the_previous_adapter_on_the_cumulative_set(tmp_path):
    store, stages, _ = run_loop(tmp_path / "r", small_config())
    (c1, pairs1, prev1), (c2, pairs2, prev2) = stages.finetune_calls
    assert (c1, prev1) == (1, None) and (c2, prev2) == (2, "cycle-1")
    selected = [c for c in store.candidates() if c.selected]
    assert pairs2 == 1 + len(selected) >= pairs1  # seed pair + every selected candidate so far
    assert (store.run_dir / "adapters" / "cycle-2" / "adapter.json").is_file()
    stats = store.cycle(2).stats
    assert stats["totalTrainPrompts"] == pairs2


def test_invalid_and_duplicate_candidates_are_classified_and_not_trained(tmp_path):
    config = small_config(cycles=1, candidates=10, novelty={"check_at_generation": False})
    store, _, _ = run_loop(tmp_path / "r", config)
    cs = store.candidates(1)
    invalid = [c for c in cs if c.valid is False]
    dupes = [c for c in cs if c.novel is False]
    assert invalid and all(c.outcome == "syntax_error" and c.status == "invalid" for c in invalid)
    assert dupes and all(c.status == "checked" and c.accuracy is None for c in dupes)
    stats = store.cycle(1).stats
    assert stats["failures"] == {"syntax_error": len(invalid)}
    assert stats["generated"] == 10 and stats["trained"] == 10 - len(invalid) - len(dupes)


def test_reject_before_selection_keeps_a_candidate_out_and_out_of_the_corpus(tmp_path):
    config = small_config(cycles=1, candidates=4, selection={"threshold": 0.0, "fallback_threshold": 0.0})
    rejected = []

    def reject_first(name, cycle):
        if name == "before-selection" and not rejected:
            store = open_run(tmp_path / "r", config)
            first = next(c for c in store.candidates(1) if c.status == "evaluated")
            store.set_verdict(first.id, "reject")
            rejected.append(first.id)

    store, _, _ = run_loop(tmp_path / "r", config, LoopHooks(checkpoint=reject_first))
    assert rejected and not store.candidate(rejected[0]).selected
    assert rejected[0] not in {c.id for c in store.corpus_candidates()}
    assert all(c.selected for c in store.candidates(1) if c.status == "evaluated" and c.id != rejected[0])


def test_a_candidate_rejected_while_it_was_generated_never_joins_the_novelty_corpus(tmp_path):
    from archloop.run.loop import _StageClock

    config = small_config(cycles=1, candidates=2)
    store = open_run(tmp_path / "r", config)
    stages = ScriptedStages(tmp_path / "r" / "scripted-state.json")
    loop = RunLoop(store, config, stages)
    store.start_cycle(1, 2, None)
    code = "def supported_hyperparameters():\n    return {'lr'}\n# rejected while streaming\n"
    for index in (0, 1):
        cid, _ = store.start_candidate(1, index)
        store.candidate_generated(cid, code, 1, 10, 0.1)
    store.set_verdict("c1-0000", "reject")  # the user rejects it before its novelty check
    loop._check_candidate(1, "c1-0000", _StageClock())
    loop._check_candidate(1, "c1-0001", _StageClock())
    # The same code again is novel: the rejected one is not corpus, so it cannot make its twin a duplicate.
    assert store.candidate("c1-0001").novel is True
    assert "c1-0000" not in {c.id for c in store.corpus_candidates()}


def test_accept_after_selection_joins_from_the_next_fine_tune(tmp_path):
    config = small_config(cycles=1, candidates=8, selection={"threshold": 100.0, "fallback_threshold": 100.0})
    accepted = []

    def accept_late(name, cycle):
        if name == "after-selection":
            store = open_run(tmp_path / "r", config)
            late = next(c for c in store.candidates(1) if c.status == "evaluated")
            store.set_verdict(late.id, "accept")
            accepted.append(late.id)

    store, stages, _ = run_loop(tmp_path / "r", config, LoopHooks(checkpoint=accept_late))
    assert not store.candidate(accepted[0]).selected  # too late for this cycle's selection ...
    assert stages.finetune_calls[0][1] == 2  # ... but in the fine-tune that follows it: seed + accepted


def test_stop_request_ends_the_run_as_stopped_and_a_new_loop_resumes_it(tmp_path):
    config = small_config(cycles=2, candidates=6)
    stop = {"now": False}

    def stop_mid_generation(name, cycle):
        if name == "generation":
            stop["now"] = True

    hooks = LoopHooks(should_stop=lambda: stop["now"], checkpoint=stop_mid_generation)
    store, stages, result = run_loop(tmp_path / "r", config, hooks)
    assert result == "stopped" and store.run_info().state == "stopped"
    generated_before = {c.id: c.code for c in store.candidates() if c.code}
    store2, _, result2 = run_loop(tmp_path / "r", config, stages=stages)
    assert result2 == "completed"
    after = {c.id: c.code for c in store2.candidates() if c.code}
    assert all(after[k] == v for k, v in generated_before.items())  # committed code is never re-generated
    assert len(after) == 12
    kinds = [e.kind for e in store2.events_since(0, limit=10_000)]
    assert kinds.count("candidate.generated") == 12 and kinds.count("cycle.started") == 2


def test_a_stage_that_raises_is_a_fatal_run_error(tmp_path):
    class Broken(ScriptedStages):
        def finetune(self, *args, **kwargs):
            raise OSError("disk full")

    config = small_config(cycles=1, candidates=2)
    from archloop.run.loop import LoopError

    with pytest.raises(LoopError, match="disk full"):
        run_loop(tmp_path / "r", config, stages=Broken(tmp_path / "s.json"))
    store = open_run(tmp_path / "r", config)
    last = store.events_since(0, limit=1000)[-1]
    assert last.kind == "run.error" and last.data["stage"] == "finetuning" and last.data["fatal"]
    assert store.run_info().state == "failed"


# ---- the real stages -----------------------------------------------------------------------------------------------


def test_two_cycle_loop_with_the_real_stages_on_cpu(tmp_path, shared_tiny_llama):
    """Tiny random Llama + real PEFT + sandbox + MinHash: both cycles run every stage and keep one adapter each."""
    import torch
    from real_stages import real_config

    from archloop.run.llm_stages import build_stages

    torch.set_num_threads(1)
    config = config_from_dict(real_config(shared_tiny_llama, tmp_path / "cache"))
    store = open_run(tmp_path / "run", config)
    streams = []
    stages = build_stages(config, store.run_dir)
    try:
        result = RunLoop(store, config, stages, LoopHooks(on_stream=streams.append)).run()
    finally:
        stages.close()
    assert result == "completed"
    events = store.events_since(0, limit=100_000)
    for e in events:
        assert_server_message(e.to_wire(store.run_id))
    assert streams and all(s["candidate"].startswith("c") for s in streams)
    candidates = store.candidates()
    assert len(candidates) == 6 and all(c.code and c.code.startswith("import") for c in candidates)
    assert all(c.outcome is not None for c in candidates)  # every one validated and classified
    for cycle in (1, 2):
        adapter = store.adapter(cycle)
        assert adapter is not None and adapter.steps == 2 and adapter.pairs >= 16  # the 16 seeds at least
        assert (Path(adapter.dir) / "adapter_config.json").is_file()
        assert store.cycle(cycle).stats["generated"] == 3
    import json

    info = json.loads((Path(store.adapter(2).dir) / "archloop_finetune.json").read_text())
    assert info["previous_adapter"] == store.adapter(1).dir  # cycle 2 continued cycle 1's adapter
    progress = [e for e in events if e.kind == "finetune.progress"]
    assert {e.data["cycle"] for e in progress} == {1, 2}


HUMAN_CODE = "import torch\nclass Net:\n    written_by = 'a person'\n"


def test_human_candidates_go_through_the_same_steps_and_enter_the_fine_tuning_set(tmp_path):
    config = small_config(cycles=2, candidates=4, selection={"threshold": 0.0, "fallback_threshold": 0.0})
    submitted = {}

    def submit(name, cycle):
        # One while cycle 1 generates (it joins cycle 1), one after its generation (it waits for cycle 2).
        if name == "generation" and cycle == 1 and "during" not in submitted:
            with open_run(tmp_path / "r", config) as other:
                submitted["during"] = other.submit_candidate(HUMAN_CODE, "c1-0000", "current", 4)[0].id
        if name == "before-selection" and cycle == 1:
            with open_run(tmp_path / "r", config) as other:
                late = HUMAN_CODE + "# later\n"
                submitted["late"] = other.submit_candidate(late, None, "current", 4)[0].id

    store, stages, result = run_loop(tmp_path / "r", config, LoopHooks(checkpoint=submit))
    assert result == "completed" and submitted == {"during": "c1-0004", "late": "c2-0004"}
    during, late = store.candidate("c1-0004"), store.candidate("c2-0004")
    for c in (during, late):
        assert (c.origin, c.status, c.eval_outcome, c.selected) == ("human", "evaluated", "ok", True)
    assert during.parent == "c1-0000" and late.parent is None
    # They do not take the model's slots: each cycle still generated its four.
    for cycle in (1, 2):
        assert sorted(c.index for c in store.candidates(cycle) if c.origin == "model") == [0, 1, 2, 3]
    events = [e for e in store.events_since(0, limit=10_000) if e.data.get("candidate") == "c1-0004"]
    assert [e.kind for e in events] == [
        "candidate.started",
        "candidate.generated",
        "candidate.validated",
        "candidate.novelty",
        "candidate.evaluated",
    ]
    for e in events:
        assert (e.data["origin"], e.data["parent"]) == ("human", "c1-0000")
        assert_server_message(e.to_wire(store.run_id))
    model_event = next(e for e in store.events_since(0, limit=10_000) if e.kind == "candidate.evaluated")
    assert "origin" not in model_event.data
    # The fine-tune of cycle 1 trained on it, built as the model's pairs are.
    (c1, pairs1, _), _ = stages.finetune_calls
    assert pairs1 == 1 + sum(1 for c in store.candidates(1) if c.selected)
    assert "c1-0004" in {c.id for c in store.training_candidates(1)}
    done = [e.data for e in store.events_since(0, limit=10_000) if e.kind == "finetune.done"]
    assert [d["pairsByOrigin"].get("human") for d in done] == [1, 2]  # counted apart, cumulatively


def test_a_human_duplicate_is_held_by_the_novelty_gate_and_a_broken_one_fails_validation(tmp_path):
    from scripted_stages import SEED_CODE

    config = small_config(cycles=1, candidates=2, selection={"threshold": 0.0, "fallback_threshold": 0.0})
    store = open_run(tmp_path / "r", config)
    duplicate = store.submit_candidate(SEED_CODE, None, "current", 2)[0].id
    broken = store.submit_candidate("def broken(:\n", None, "current", 2)[0].id
    store, _, _ = run_loop(tmp_path / "r", config)
    dup = store.candidate(duplicate)
    assert (dup.status, dup.novel, dup.let_through, dup.selected) == ("checked", False, False, False)
    assert (store.candidate(broken).status, store.candidate(broken).outcome) == ("invalid", "syntax_error")
