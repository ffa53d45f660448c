"""LocalExecutor: slot planning, completion order, stopping, recovery, and a 100-candidate hostile/valid batch."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from pathlib import Path

import pytest
from hostile_corpus import header, hostile_code, hostile_files, landlock_missing, segfault_with_hidden_import
from run_helpers import wait_for

from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.contract import check_source
from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import FAST, EvalTask
from archloop.evaluation.executor import LocalExecutor, Slot, plan_slots
from archloop.evaluation.sandbox import OUTCOMES, SandboxLimits

SEEDS = load_seed_corpus()
LENET = next(s.code for s in SEEDS if s.name == "lenet")
# Slow on purpose (a 3 GB fill, a fork storm) or about the spawn path: covered one by one in test_sandbox.py.
NOT_IN_BATCH = {"memory_bomb", "fork_bomb", "read_secrets", "signal_parent"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cache_synthetic(tmp_path_factory.mktemp("data"), n_train=128, n_test=64, seed=1)


@pytest.fixture(scope="module")
def limits(tmp_path_factory) -> SandboxLimits:
    return SandboxLimits(
        timeout_s=10,
        memory_mb=3072,
        max_processes=48,
        max_open_files=128,
        max_file_size_mb=16,
        output_limit_bytes=200_000,
        scratch_root=tmp_path_factory.mktemp("scratch"),
    )


@pytest.fixture(scope="module")
def executor(dataset, limits):
    """One pool for the module: its fork server starts once (seconds of torch import on a busy 2-core machine)."""
    with LocalExecutor(dataset, FAST, limits, workers=2) as pool:
        yield pool


def test_slots_split_cpu_cores_and_gpu_memory():
    assert plan_slots(["cpu"], 2, cpu_count=8) == [Slot("cpu", 4, None), Slot("cpu", 4, None)]
    assert plan_slots(["cpu"], 4, cpu_count=2) == [Slot("cpu", 1, None)] * 4
    gpu = plan_slots(["cuda:0", "cuda:1"], 3, cpu_count=16)
    assert [s.device for s in gpu] == ["cuda:0"] * 3 + ["cuda:1"] * 3
    assert all(s.gpu_memory_fraction == pytest.approx(0.3) for s in gpu)
    assert plan_slots(["cuda:0"], 1, cpu_count=16)[0].gpu_memory_fraction is None
    with pytest.raises(ValueError):
        plan_slots(["cpu"], 0, cpu_count=2)
    with pytest.raises(ValueError):
        plan_slots([], 1, cpu_count=2)


def test_results_come_in_completion_order_and_stop_halts_new_work(dataset, limits):
    # 15 s: long enough that even a loaded 2-core machine finishes a fast one first (4 s was not, at load 15); its own
    # pool, so the other tests keep their short timeout.
    slow = LENET.replace("super().__init__()", "super().__init__()\n        import time\n        time.sleep(15)")
    tasks = [EvalTask("slow", slow)] + [EvalTask(f"fast{i}", LENET, seed=i) for i in range(6)]
    started: list[str] = []

    def feed():
        for task in tasks:
            started.append(task.candidate)
            yield task

    results = []
    with LocalExecutor(dataset, FAST, dataclasses.replace(limits, timeout_s=60), workers=2) as executor:
        for result in executor.map_unordered(feed(), should_stop=lambda: len(results) >= 3):
            results.append(result)
    assert results[0].candidate != "slow"  # a fast one overtook it
    assert all(r.outcome == "ok" for r in results), [r.message for r in results]
    assert len(started) < len(tasks)  # stopping left tasks unsubmitted
    assert {r.candidate for r in results} == set(started)  # ...and everything started was reported


def test_a_dead_fork_server_is_restarted(executor):
    os.kill(executor._server._proc.pid, signal.SIGKILL)  # the machinery, not a candidate, dies
    # Wait until the executor's fork server has seen its death (its reader thread marks it dead), never on time: a
    # launch that reaches the dead server before that is the race this test used to lose on a loaded machine.
    wait_for(lambda: executor._server._dead, timeout=60, what="the fork server to notice its death")
    results = list(executor.map_unordered([EvalTask("b", LENET), EvalTask("c", LENET, seed=1)]))
    assert [r.outcome for r in results] == ["ok", "ok"]


def _batch(dataset, target: Path) -> list[tuple[EvalTask, str]]:
    """100 candidates: every seed net, seed-net variants, the hostile corpus, and code the static check stops."""
    batch: list[tuple[EvalTask, str]] = [(EvalTask(f"seed-{s.name}", s.code, seed=0), "ok") for s in SEEDS]
    for path in hostile_files():
        if path.stem in NOT_IN_BATCH or landlock_missing(path):
            continue
        code = hostile_code(path, dataset, target, port=9, n_test=64)
        report = check_source(code)
        # The static check runs first in the executor: forbidden imports end there, the rest reach the sandbox.
        expected = report.outcome if not report.ok else header(path, "expect")
        batch.append((EvalTask(f"hostile-{path.stem}", code, seed=0), expected))
    # The static check is not the boundary: the same segfault with its import hidden reaches the sandbox.
    hidden = segfault_with_hidden_import()
    assert check_source(hidden).ok
    batch.append((EvalTask("hostile-segfault-hidden-import", hidden), "crashed"))
    broken = ["def f(:\n", "class Net:\n    pass\n", LENET.replace("def learn(self, train_data)", "def learn(self)")]
    for i in range(12):
        code = broken[i % len(broken)]
        batch.append((EvalTask(f"static-{i}", code), check_source(code).outcome))
    cheap = [s for s in SEEDS if s.name in ("lenet", "resnet_basic", "network_in_network", "shufflenet")]
    i = 0
    while len(batch) < 100:
        seed_net = cheap[i % len(cheap)]
        batch.append((EvalTask(f"variant-{i}-{seed_net.name}", seed_net.code, seed=i + 1), "ok"))
        i += 1
    return batch


@pytest.mark.slow
def test_hundred_candidate_batch_every_outcome_correct(executor, dataset, limits, tmp_path):
    target = tmp_path / "pwned.txt"
    batch = _batch(dataset, target)
    assert len(batch) == 100 and len({t.candidate for t, _ in batch}) == 100
    expected = {t.candidate: outcome for t, outcome in batch}
    assert set(expected.values()) >= {
        "ok",
        "timeout",
        "out_of_memory",
        "crashed",
        "output_limit",
        "shape_error",
        "nan_loss",
        "import_error",
        "runtime_error",
        "contract_error",
        "syntax_error",
    }
    threads_before, fds_before = threading.active_count(), len(os.listdir("/proc/self/fd"))
    results = list(executor.map_unordered(t for t, _ in batch))
    wrong = [f"{r.candidate}: {r.outcome} ({r.message})" for r in results if r.outcome != expected[r.candidate]]
    assert wrong == []
    assert sorted(r.candidate for r in results) == sorted(expected)
    assert all(r.outcome in OUTCOMES for r in results)
    ok = [r for r in results if r.outcome == "ok"]
    assert all(r.accuracy is not None and 0 <= r.accuracy <= 100 and r.params for r in ok)
    assert not target.exists()
    assert list(limits.scratch_root.iterdir()) == []
    assert (threading.active_count(), len(os.listdir("/proc/self/fd"))) == (threads_before, fds_before)
