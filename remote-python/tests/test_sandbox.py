"""The sandbox: validation, scoring the candidate cannot fake, and the hostile corpus (tests/hostile/*.py).

Every hostile file is a real candidate that misbehaves in one way; each must end with the outcome in its
`# expect:` line while this (parent) process stays healthy and nothing of the candidate survives.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile_corpus import HOSTILE, header, hostile_code, hostile_files, landlock_missing

from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import FAST, PAPER, EvalTask, accuracy_percent, train_and_predict
from archloop.evaluation.landlock import abi_version
from archloop.evaluation.launcher import SpawnLauncher
from archloop.evaluation.sandbox import (
    OUTCOMES,
    SandboxLimits,
    child_devices,
    evaluate_candidate,
    make_fork_server,
    validate_candidate,
)

torch.set_num_threads(1)
TRAIN, TEST = 128, 64
SEEDS = {s.name: s.code for s in load_seed_corpus()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cache_synthetic(tmp_path_factory.mktemp("data"), n_train=TRAIN, n_test=TEST, seed=0)


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@pytest.fixture(scope="module")
def limits(scratch_root) -> SandboxLimits:
    return SandboxLimits(
        timeout_s=60,
        memory_mb=3072,
        max_processes=48,
        max_open_files=128,
        max_file_size_mb=16,
        output_limit_bytes=200_000,
        scratch_root=scratch_root,
    )


@pytest.fixture(scope="module")
def fork_server(scratch_root):
    server = make_fork_server(scratch_root)
    yield server
    server.close()


def sandbox_leftovers(scratch_root: Path) -> list[str]:
    """Processes whose working folder is (or was) inside the scratch root, and files left in it."""
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(f"{scratch_root}/"):
                left.append(f"pid {entry} in {cwd}")
    return left + [f"file {p}" for p in scratch_root.iterdir()]


def parent_health() -> tuple[int, int, int]:
    """(threads, open fds, RSS MiB) of this test process."""
    with open("/proc/self/status") as handle:
        rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
    return threading.active_count(), len(os.listdir("/proc/self/fd")), rss // 1024


def test_outcomes_are_the_wire_protocols_enum():
    schema = (Path(__file__).parents[2] / "src" / "protocol" / "messages.ts").read_text()
    enum = re.search(r"export const Outcome = z\.enum\(\[(.*?)\]\)", schema, re.DOTALL)
    assert enum is not None
    assert tuple(re.findall(r"'(\w+)'", enum.group(1))) == OUTCOMES


# --- validation ------------------------------------------------------------------------------------------------------


class _NoProcess:
    def launch(self, *args, **kwargs):
        raise AssertionError("a process was started for code the static check rejects")

    def close(self):
        pass


def test_static_failures_start_no_process(limits):
    assert validate_candidate("def broken(:\n", limits, launcher=_NoProcess()).outcome == "syntax_error"
    assert validate_candidate("import torch\n", limits, launcher=_NoProcess()).outcome == "contract_error"
    segfault = (HOSTILE / "segfault.py").read_text()  # imports ctypes: stopped statically
    result = validate_candidate(segfault, limits, launcher=_NoProcess())
    assert result.outcome == "contract_error" and "ctypes" in (result.message or "")


def test_seed_nets_validate_with_their_parameter_counts(limits, fork_server):
    for name in ("lenet", "resnet_basic", "mobilenetv2"):
        namespace: dict = {}
        exec(compile(SEEDS[name], name, "exec"), namespace)
        expected = sum(p.numel() for p in namespace["Net"]((1, 3, 32, 32), (10,), FAST.prm(), "cpu").parameters())
        result = validate_candidate(SEEDS[name], limits, launcher=fork_server)
        assert (result.outcome, result.params) == ("ok", expected), name


def test_validation_classifies_shape_import_and_runtime_errors(limits, fork_server):
    wrong = validate_candidate((HOSTILE / "wrong_shape.py").read_text(), limits, launcher=fork_server)
    assert wrong.outcome == "shape_error" and "(1, 7)" in (wrong.message or "")
    missing = validate_candidate((HOSTILE / "missing_module.py").read_text(), limits, launcher=fork_server)
    assert missing.outcome == "import_error" and "archloop_no_such_module" in (missing.message or "")
    boom = SEEDS["lenet"].replace("super().__init__()", "super().__init__()\n        raise ValueError('boom')")
    failed = validate_candidate(boom, limits, launcher=fork_server)
    assert failed.outcome == "runtime_error" and "boom" in (failed.message or "")
    assert failed.line == boom.splitlines().index("        raise ValueError('boom')") + 1


# --- evaluation: scores the candidate cannot fake ----------------------------------------------------------------


def test_sandbox_accuracy_equals_in_process_accuracy_despite_the_secret_order(dataset, limits, fork_server):
    task = EvalTask("lenet", SEEDS["lenet"], seed=3)
    sandboxed = evaluate_candidate(task, dataset, FAST, limits, launcher=fork_server)
    assert sandboxed.outcome == "ok", sandboxed.message
    namespace: dict = {}
    exec(compile(SEEDS["lenet"], "<candidate>", "exec"), namespace)
    test = dataset.load_test()
    local = train_and_predict(namespace, dataset.load_train(), test.images, FAST, torch.device("cpu"), seed=3)
    assert sandboxed.accuracy == accuracy_percent(local.predictions, test.labels.numpy())
    assert sandboxed.params == local.params and sandboxed.train_seconds > 0 and sandboxed.peak_memory_mb > 0
    assert sandboxed.first_step_seconds is not None and sandboxed.first_step_seconds < sandboxed.wall_seconds


def test_paper_protocol_is_deterministic_under_a_seed_with_test_flips(dataset, limits, fork_server):
    task = EvalTask("lenet", SEEDS["lenet"], seed=11)
    runs = [
        evaluate_candidate(task, dataset, PAPER, limits, train_limit=32, test_limit=32, launcher=fork_server)
        for _ in range(2)
    ]
    assert [r.outcome for r in runs] == ["ok", "ok"], runs[0].message
    assert runs[0].accuracy == runs[1].accuracy


def test_evaluation_runs_the_static_check_first(dataset, limits):
    result = evaluate_candidate(EvalTask("x", "def f(:\n"), dataset, FAST, limits, launcher=_NoProcess())
    assert result.outcome == "syntax_error" and result.accuracy is None


# --- the hostile corpus ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def health(fork_server, dataset, limits):
    """The parent's threads/fds/RSS once the fork server is warm, checked again after the whole corpus ran."""
    evaluate_candidate(EvalTask("warm", SEEDS["lenet"]), dataset, FAST, limits, launcher=fork_server)
    before = parent_health()
    yield
    after = parent_health()
    assert after[0] == before[0], f"threads {before[0]} -> {after[0]}"
    assert after[1] == before[1], f"open fds {before[1]} -> {after[1]}"
    assert after[2] - before[2] < 100, f"RSS {before[2]} -> {after[2]} MiB"


def prepare(path: Path, dataset, target: Path, port: int) -> str:
    return hostile_code(path, dataset, target, port, TEST)


def test_hostile_corpus_has_at_least_twenty_kinds():
    assert len(hostile_files()) >= 20
    assert all(header(p, "expect") in OUTCOMES for p in hostile_files())


@pytest.mark.slow
@pytest.mark.parametrize("path", hostile_files(), ids=lambda p: p.stem)
def test_hostile_candidate_is_contained_and_classified(
    path, dataset, limits, fork_server, scratch_root, listener, health, tmp_path, monkeypatch
):
    if reason := landlock_missing(path):
        pytest.skip(reason)
    expected = header(path, "expect")
    target = tmp_path / "pwned.txt"
    signals: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda sig, frame: signals.append(sig))
    monkeypatch.setenv("ARCHLOOP_TEST_SECRET", "hunter2")
    # A short clock only for the candidates that are meant to hang.
    run_limits = replace(limits, timeout_s=2.5) if expected == "timeout" else limits
    if expected == "out_of_memory":
        run_limits = replace(run_limits, memory_mb=1536)  # reach the limit sooner
    if path.stem == "fork_bomb":
        run_limits = replace(run_limits, max_processes=24)
    launcher = SpawnLauncher() if header(path, "launcher") == "spawn" else fork_server
    try:
        result = evaluate_candidate(
            EvalTask(path.stem, prepare(path, dataset, target, listener.getsockname()[1]), seed=0),
            dataset,
            FAST,
            run_limits,
            static_check=False,  # reach the sandbox with code the static check would stop
            launcher=launcher,
        )
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert result.outcome == expected, f"{result.outcome}: {result.message}\n{result.output_tail[-800:]}"
    assert sandbox_leftovers(scratch_root) == []
    assert not target.exists(), "a write outside scratch landed"
    assert signals == [], "the candidate signalled the parent"
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected
    if result.outcome == "ok":
        assert result.accuracy is not None and result.accuracy < 40.0  # no faked score
    if launcher is not fork_server and result.outcome == "ok":  # the spawn path trains and scores like the fork path
        assert result.params and result.train_seconds and result.first_step_seconds
    if path.stem in ("read_labels", "write_outside", "network", "signal_parent"):
        assert "Permission" in (result.message or ""), result.message


@pytest.mark.skipif(abi_version() < 1, reason="the kernel has no Landlock")
def test_reading_labels_from_disk_would_work_without_landlock(dataset, limits, fork_server, tmp_path):
    # The control for `read_labels`: the attack is real, and Landlock is what stops it.
    code = prepare(HOSTILE / "read_labels.py", dataset, tmp_path / "t", 1)
    result = evaluate_candidate(
        EvalTask("cheat", code),
        dataset,
        FAST,
        replace(limits, landlock=False),
        static_check=False,
        launcher=fork_server,
    )
    assert result.outcome == "ok" and result.accuracy == 100.0


def test_landlock_is_reported_in_the_notes(dataset, limits, fork_server):
    result = evaluate_candidate(EvalTask("lenet", SEEDS["lenet"]), dataset, FAST, limits, launcher=fork_server)
    if abi_version() >= 1:
        assert any(n.startswith("landlock abi") for n in result.notes)
    else:
        assert any("landlock unavailable" in n for n in result.notes)


def test_predictions_are_read_strictly(dataset, limits, fork_server):
    # A candidate that replaces the harness's answer with the wrong number of class ids gets runtime_error.
    forged = prepare(HOSTILE / "forge_result.py", dataset, Path("/nonexistent"), 1).replace(f"[0] * {TEST}", "[0] * 3")
    result = evaluate_candidate(
        EvalTask("short", forged), dataset, FAST, limits, static_check=False, launcher=fork_server
    )
    assert result.outcome == "runtime_error" and "class ids" in (result.message or "")
    out_of_range = forged.replace("[0] * 3", f"[11] * {TEST}")
    result = evaluate_candidate(
        EvalTask("range", out_of_range), dataset, FAST, limits, static_check=False, launcher=fork_server
    )
    assert result.outcome == "runtime_error"
    assert np.all(np.load(dataset.test_labels) < 10)


def test_a_gpu_child_sees_only_its_card_and_names_it_with_an_index():
    # torch.cuda.set_per_process_memory_fraction (several candidates sharing a card) refuses a bare "cuda".
    assert child_devices("cuda:3") == ("3", "cuda:0")
    assert child_devices("cuda") == ("0", "cuda:0")
    assert child_devices("cpu") == (None, "cpu")
    assert torch.device(child_devices("cuda:1")[1]).index == 0
