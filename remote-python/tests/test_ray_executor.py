"""RayExecutor on a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster), sandbox included.

One cluster for the module (Ray start-up takes many seconds on a 2-core machine): a head node and a worker node with
one CPU each. The fault test adds a third node and removes it while it runs a candidate. Nothing fake: real Ray
nodes (separate raylets), real sandboxed training on a small synthetic set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from procs import descendants, running  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from run_helpers import wait_for  # noqa: E402
from scripted_stages import ScriptedStages  # noqa: E402

from archloop.config import config_from_dict  # noqa: E402
from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.data import cache_synthetic  # noqa: E402
from archloop.evaluation.evaluate import FAST, EvalResult, EvalTask  # noqa: E402
from archloop.evaluation.executor import LocalExecutor  # noqa: E402
from archloop.evaluation.ray_executor import DataSpec, RayExecutor, RayExecutorError, RaySettings  # noqa: E402
from archloop.evaluation.sandbox import SandboxLimits  # noqa: E402
from archloop.run.llm_stages import LlmStages  # noqa: E402
from archloop.run.loop import LoopHooks, RunLoop, open_run  # noqa: E402
from archloop.run.stages import EvalJob, Evaluation, StopPredicate  # noqa: E402

pytestmark = pytest.mark.ray

LENET = next(s.code for s in load_seed_corpus() if s.name == "lenet")
N_TRAIN, N_TEST, DATA_SEED = 192, 64, 3


def _slow(seconds: int) -> str:
    """LeNet that sleeps while being built: long enough to kill its node while it runs."""
    return LENET.replace(
        "super().__init__()", f"super().__init__()\n        import time\n        time.sleep({seconds})"
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Each node gets its own raylet and object store; small stores keep three nodes within memory.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20})
    try:
        c.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> DataSpec:
    return DataSpec(
        "synthetic", str(tmp_path_factory.mktemp("ray-data")), n_train=N_TRAIN, n_test=N_TEST, seed=DATA_SEED
    )


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> SandboxLimits:
    return SandboxLimits(timeout_s=60, memory_mb=3072, scratch_root=tmp_path_factory.mktemp("ray-scratch"))


def _node_of(notes: tuple[str, ...]) -> str:
    return next(n.split()[2] for n in notes if n.startswith("ray node "))


def test_candidates_spread_over_both_nodes_and_match_the_local_executor(cluster, spec, limits, tmp_path):
    tasks = [EvalTask(f"c{i}", LENET, seed=i) for i in range(4)]
    with RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
        assert executor.capacity() == 2
        assert executor.describe() == "ray: 2 nodes, 2 CPU, 0 GPU"
        results = list(executor.map_unordered(tasks))
    assert sorted(r.candidate for r in results) == [t.candidate for t in tasks]  # each exactly once
    assert all(r.outcome == "ok" for r in results), [r.message for r in results]
    assert len({_node_of(r.notes) for r in results}) == 2  # both nodes trained candidates

    local_data = cache_synthetic(tmp_path / "data", N_TRAIN, N_TEST, DATA_SEED)  # the same bytes as every node's
    with LocalExecutor(local_data, FAST, limits, workers=1) as local:
        expected = {r.candidate: r for r in local.map_unordered(tasks[:2])}
    for r in results:
        if r.candidate in expected:
            assert (r.outcome, r.accuracy, r.params) == (
                expected[r.candidate].outcome,
                expected[r.candidate].accuracy,
                expected[r.candidate].params,
            )


def test_the_sandbox_applies_inside_the_ray_worker(cluster, spec, limits):
    crash = LENET.replace("super().__init__()", "super().__init__()\n        import os\n        os.abort()")
    broken = "def f(:\n"
    with RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
        results = {r.candidate: r for r in executor.map_unordered([EvalTask("abort", crash), EvalTask("bad", broken)])}
    assert results["abort"].outcome == "crashed"  # the child died, the Ray worker did not
    assert results["bad"].outcome == "syntax_error"


def test_should_stop_halts_new_tasks_and_reports_those_started(cluster, spec, limits):
    tasks = [EvalTask(f"s{i}", LENET, seed=i) for i in range(6)]
    submitted: list[str] = []

    def feed() -> Iterator[EvalTask]:
        for t in tasks:
            submitted.append(t.candidate)
            yield t

    results = []
    with RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
        for r in executor.map_unordered(feed(), should_stop=lambda: len(results) >= 1):
            results.append(r)
    assert len(submitted) < len(tasks)
    assert sorted(r.candidate for r in results) == sorted(submitted)


SANDBOX = "archloop.evaluation.sandbox_child"


def _raylet_pid(node: Any) -> int:
    return node.all_processes["raylet"][0].process.pid


def test_a_node_dying_mid_batch_loses_nothing_and_counts_nothing_twice(cluster, spec, limits):
    doomed = cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    cluster.wait_for_nodes()
    # 20 s: longer than the 10 s the orphan check below allows, so an orphaned candidate would fail it.
    tasks = [EvalTask(f"k{i}", _slow(20), seed=i) for i in range(4)]
    results: list[EvalResult] = []
    with RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=0, max_retries=3)) as executor:
        assert executor.capacity() == 3
        consumer = threading.Thread(target=lambda: results.extend(executor.map_unordered(tasks)), daemon=True)
        consumer.start()
        # Wait until a candidate's sandbox child runs under the doomed node, then take the node away.
        deadline = time.monotonic() + 90
        # (the worker's fork server and a candidate forked from it: two sandbox_child processes).
        while len(sandboxes := [pid for pid, cmd in descendants(_raylet_pid(doomed)) if SANDBOX in cmd]) < 2:
            assert time.monotonic() < deadline, "no candidate started on the doomed node"
            time.sleep(0.2)
        cluster.remove_node(doomed)
        # The dead node's fork server and candidate go with it rather than train on for nothing.
        wait_for(lambda: not any(map(running, sandboxes)), 10, "the dead node's sandbox processes to end")
        consumer.join(timeout=150)
        assert not consumer.is_alive()
    assert sorted(r.candidate for r in results) == [t.candidate for t in tasks]  # none lost, none twice
    assert all(r.outcome == "ok" for r in results), [r.message for r in results]
    assert len({_node_of(r.notes) for r in results}) == 2  # the doomed node delivered nothing


def test_an_impossible_request_is_refused_with_a_clear_error(cluster, spec, limits):
    with pytest.raises(RayExecutorError, match="no node can run a candidate needing 1 CPU and 1 GPU"):
        RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=1))
    assert ray.is_initialized()  # the test's own connection was not torn down


def test_a_node_without_the_data_records_crashed_and_the_batch_goes_on(cluster, limits, tmp_path):
    missing = DataSpec("cifar10", str(tmp_path / "cache"), source=str(tmp_path / "no-such-archive.tar.gz"))
    with RayExecutor(missing, FAST, limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
        results = list(executor.map_unordered([EvalTask("a", LENET), EvalTask("b", LENET)]))
    assert sorted(r.candidate for r in results) == ["a", "b"]
    assert all(r.outcome == "crashed" and "DataError" in (r.message or "") for r in results)


def test_doctor_lists_the_clusters_nodes(cluster, tmp_path):
    # A separate process, so doctor really joins the cluster at its address (and leaves it).
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "archloop",
            "doctor",
            "--json",
            "--run-root",
            str(tmp_path),
            "--ray-address",
            cluster.address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(out.stdout)
    ray_cluster = report["ray_cluster"]
    assert ray_cluster["connected"] and ray_cluster["error"] is None, ray_cluster
    alive = [n for n in ray_cluster["nodes"] if n["alive"]]
    assert len(alive) == 2 and all(n["cpus"] == 1 and n["gpus"] == 0 for n in alive)


def test_a_ray_run_evaluates_through_the_stages_and_says_so_in_run_created(cluster, tmp_path):
    data = {
        "run": {"cache_dir": str(tmp_path / "cache")},
        "evaluation": {
            "executor": "ray",
            "ray_address": cluster.address,
            "ray_num_gpus": 0,
            "protocol": "fast",
            "data": "synthetic",
            "synthetic_train": N_TRAIN,
            "synthetic_test": N_TEST,
            "time_limit_s": 60.0,
        },
    }
    config = config_from_dict(data)
    with open_run(tmp_path / "run", config) as store:
        created = store.events_since(0)[0]
    assert created.kind == "run.created" and created.data["executor"] == f"ray @ {cluster.address}"
    stages = LlmStages(config, tmp_path / "run")
    try:
        jobs = [EvalJob("a", LENET, 1), EvalJob("b", LENET, 2)]
        results = list(stages.evaluate(jobs, lambda: False))
    finally:
        stages.close()
    assert sorted(r.candidate for r in results) == ["a", "b"]
    assert all(r.outcome == "ok" and r.accuracy is not None for r in results), [r.message for r in results]
    assert ray.is_initialized()  # closing the stages left the test's own connection alone


class _RayScriptedStages(ScriptedStages):
    """The scripted stand-in stages (tests/scripted_stages.py) except evaluation, which goes through a real
    RayExecutor. The scripted codes fail the contract check inside the Ray worker: cheap, and each is one result."""

    def __init__(self, state_file: Path, spec: DataSpec, limits: SandboxLimits) -> None:
        super().__init__(state_file)
        self.spec, self.limits = spec, limits
        self.submitted: list[str] = []

    def evaluate(self, jobs: Sequence[EvalJob], should_stop: StopPredicate) -> Iterator[Evaluation]:
        def feed() -> Iterator[EvalTask]:
            for job in jobs:
                self.submitted.append(job.candidate)
                yield EvalTask(job.candidate, job.code, job.seed)

        with RayExecutor(self.spec, FAST, self.limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
            for r in executor.map_unordered(feed(), should_stop=should_stop):
                yield Evaluation(r.candidate, r.outcome, r.accuracy, r.params, None, None, None, None, r.message)


def test_resume_resubmits_only_candidates_without_a_result(cluster, spec, limits, tmp_path):
    config = config_from_dict(
        {"run": {"name": "t", "cycles": 1, "candidates_per_cycle": 8}, "generation": {"batch_size": 4}}
    )
    stop = {"now": False, "evaluated": 0}

    def stop_after_two_results(name: str, cycle: int) -> None:
        if name == "evaluation":
            stop["evaluated"] += 1
            stop["now"] = stop["evaluated"] >= 2

    first = _RayScriptedStages(tmp_path / "state.json", spec, limits)
    with open_run(tmp_path / "r", config) as store:
        hooks = LoopHooks(should_stop=lambda: stop["now"], checkpoint=stop_after_two_results)
        assert RunLoop(store, config, first, hooks).run() == "stopped"
        evaluated_first = {c.id for c in store.candidates() if c.eval_outcome is not None}
    second = _RayScriptedStages(tmp_path / "state.json", spec, limits)  # the restarted daemon: a new executor
    with open_run(tmp_path / "r", config) as store:
        assert RunLoop(store, config, second, LoopHooks()).run() == "completed"
        kinds = [e.data["candidate"] for e in store.events_since(0, limit=10_000) if e.kind == "candidate.evaluated"]
        evaluated_all = {c.id for c in store.candidates() if c.eval_outcome is not None}
    assert evaluated_first and set(first.submitted) == evaluated_first  # everything submitted was recorded
    assert not set(second.submitted) & evaluated_first  # nothing with a result went out again
    assert set(second.submitted) | evaluated_first == evaluated_all
    assert len(kinds) == len(set(kinds)) == len(evaluated_all)  # one candidate.evaluated per candidate
