"""Cost accounting, budgets and lineage with scripted stages: what cycle.finished and finetune.done say adds up to
what the candidate events say, a budget ends the run at a safe point with its reason, and adapters count their pairs
by origin."""

from pathlib import Path

import pytest
from scripted_stages import ScriptedStages
from wire import assert_server_message

from archloop.config import config_from_dict
from archloop.run.costs import Devices, budget_reason
from archloop.run.loop import LoopHooks, RunLoop, open_run


def small_config(cycles=2, candidates=8, run=None, **sections):
    data = {
        "run": {"name": "t", "cycles": cycles, "candidates_per_cycle": candidates, **(run or {})},
        "generation": {"batch_size": 3},
        "selection": {"min_selected": 2},
        **sections,
    }
    return config_from_dict(data)


def run_loop(run_dir: Path, config, hooks=None):
    store = open_run(run_dir, config)
    result = RunLoop(store, config, ScriptedStages(run_dir / "scripted-state.json"), hooks).run()
    return store, result


def events_of(store, kind, cycle=None):
    return [
        e.data
        for e in store.events_since(0, limit=100_000)
        if e.kind == kind and (cycle is None or e.data.get("cycle") == cycle)
    ]


def test_each_cycle_cost_adds_up_to_its_candidates_and_fine_tune(tmp_path):
    store, result = run_loop(tmp_path / "r", small_config())
    assert result == "completed"
    for e in store.events_since(0, limit=10_000):
        assert_server_message(e.to_wire(store.run_id))  # the new optional fields are in the wire schema
    for cycle in (1, 2):
        (finished,) = events_of(store, "cycle.finished", cycle)
        cost = finished["cost"]
        generated = events_of(store, "candidate.generated", cycle)
        evaluated = events_of(store, "candidate.evaluated", cycle)
        (done,) = events_of(store, "finetune.done", cycle)
        assert cost["generation"]["tokens"] == sum(e["tokens"] for e in generated) > 0
        assert all(e["device"] == cost["evalDevice"] for e in evaluated)
        assert cost["evaluation"]["evaluated"] == len(evaluated) > 0
        assert cost["evaluation"]["deviceSeconds"] == pytest.approx(sum(e["deviceSeconds"] for e in evaluated))
        assert cost["evaluation"]["deviceSeconds"] == pytest.approx(0.6 * len(evaluated))  # scripted 0.5 + 0.1 s
        assert cost["finetune"]["tokens"] == done["tokens"] > 0
        assert cost["tokens"] == cost["generation"]["tokens"] + cost["finetune"]["tokens"]
        device = cost["generation"]["seconds"] + cost["evaluation"]["deviceSeconds"] + cost["finetune"]["seconds"]
        assert cost["deviceSeconds"] == pytest.approx(device, abs=0.002)
        novel40 = [
            c for c in store.candidates(cycle) if c.novel and not c.let_through and (c.accuracy or 0) >= 40
        ]
        assert cost["novel40"] == len(novel40)
        if novel40:
            assert cost["deviceSecondsPerNovel40"] == pytest.approx(cost["deviceSeconds"] / len(novel40), abs=0.002)
        validated = events_of(store, "candidate.validated", cycle)
        assert validated and all(e["seconds"] >= 0 for e in validated)
        assert cost["validation"]["seconds"] >= 0


def test_each_candidate_names_the_adapter_that_wrote_it(tmp_path):
    store, _ = run_loop(tmp_path / "r", small_config())
    assert {e["adapter"] for e in events_of(store, "candidate.generated", 1)} == {None}  # the base model
    assert {e["adapter"] for e in events_of(store, "candidate.generated", 2)} == {"cycle-1"}


def test_each_adapter_counts_its_pairs_by_origin_with_its_loss(tmp_path):
    config = small_config(cycles=2, candidates=8)
    accepted = []

    def accept_late(name, cycle):
        if name == "after-selection" and cycle == 1:
            with open_run(tmp_path / "r", config) as store:
                late = next(c for c in store.candidates(1) if c.status == "evaluated" and not c.selected)
                store.set_verdict(late.id, "accept")
                accepted.append(late.id)

    store, _ = run_loop(tmp_path / "r", config, LoopHooks(checkpoint=accept_late))
    selected1 = {c.id for c in store.candidates(1) if c.selected}
    (done1,) = events_of(store, "finetune.done", 1)
    assert done1["pairsByOrigin"] == {"seed": 1, "lemur": 0, "selected": len(selected1), "accepted": 1}
    assert done1["loss"] == pytest.approx(1 / 3)
    (done2,) = events_of(store, "finetune.done", 2)
    selected2 = {c.id for c in store.candidates(2) if c.selected}
    origins = done2["pairsByOrigin"]
    assert origins["accepted"] == 1 and origins["selected"] == len(selected1) + len(selected2)
    assert sum(origins.values()) == store.adapter(2).pairs  # every pair has one origin


def test_a_token_budget_ends_the_run_between_batches_with_its_reason(tmp_path):
    config = small_config(cycles=3, candidates=8, run={"budget_tokens": 30})
    store, result = run_loop(tmp_path / "r", config)
    assert result == "budget"
    finished = events_of(store, "run.finished")
    assert [f["reason"] for f in finished] == ["budget"]
    spent = sum(e["tokens"] for e in events_of(store, "candidate.generated"))
    assert finished[0]["detail"] == f"budget: 30 tokens reached after {spent:,} tokens"
    assert spent >= 30 and store.finished_cycles() == 0  # ended within cycle 1's generation, not at its end
    assert len(events_of(store, "candidate.generated")) < 8
    assert store.run_info().state == "stopped"
    for e in store.events_since(0, limit=10_000):
        assert_server_message(e.to_wire(store.run_id))


def test_a_device_hour_budget_ends_evaluation_after_a_result_and_leaves_the_rest_unevaluated(tmp_path):
    # Scripted candidates hold the device 0.6 s each: 0.0005 h (1.8 s) is reached at the third result.
    config = small_config(cycles=2, candidates=8, run={"budget_gpu_hours": 0.0005})
    store, result = run_loop(tmp_path / "r", config)
    assert result == "budget"
    (finished,) = events_of(store, "run.finished")
    unit = "GPU" if "gpu" in (Devices.of(config).llm, Devices.of(config).evaluation) else "CPU"
    assert finished["reason"] == "budget" and finished["detail"].startswith(f"budget: 0.0005 {unit}-hours reached after")
    evaluated = [c for c in store.candidates(1) if c.status == "evaluated"]
    waiting = [c for c in store.candidates(1) if c.status == "checked" and c.novel]
    assert 1 <= len(evaluated) <= 3 and waiting  # the rest stay to evaluate, none marked crashed
    assert all(c.eval_outcome == "ok" for c in evaluated)


def test_budget_reason_names_each_budget_and_zero_means_none():
    cpu = Devices("cpu", "cpu")
    totals = {"stage:generate": 1800.0, "stage:finetune": 1800.0, "eval_device_seconds": 3600.0, "tokens": 900.0}
    run = small_config().run
    assert budget_reason(run, totals, cpu) is None  # every budget 0: none
    gpu = small_config(run={"budget_gpu_hours": 2}).run
    assert budget_reason(gpu, totals, Devices("gpu", "gpu")) == "budget: 2 GPU-hours reached after 2.00 h"
    assert budget_reason(gpu, {**totals, "eval_device_seconds": 0.0}, cpu) is None
    assert budget_reason(gpu, {**totals, "eval_device_seconds": 0.0}, cpu, {"generate": 3600.0}) == (
        "budget: 2 CPU-hours reached after 2.00 h"  # the running stage's uncommitted seconds count
    )
    tokens = small_config(run={"budget_tokens": 1000}).run
    assert budget_reason(tokens, {**totals, "trained_tokens": 100.0}, cpu) == (
        "budget: 1,000 tokens reached after 1,000 tokens"
    )
    small = small_config(run={"budget_gpu_hours": 0.01}).run
    assert budget_reason(small, {"eval_device_seconds": 38.0}, cpu) == "budget: 0.01 CPU-hours reached after 0.011 h"
    wall = small_config(run={"budget_wall_hours": 1.5}).run
    working = {"stage:generate": 1800.0, "stage:validate": 900.0, "stage:evaluate": 2700.0}
    assert budget_reason(wall, working, cpu) == "budget: 1.5 wall-hours reached after 1.50 h"
    assert budget_reason(wall, {"stage:evaluate": 5000.0}, cpu) is None
