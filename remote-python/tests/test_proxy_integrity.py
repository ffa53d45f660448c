"""The one-epoch proxy cannot be gamed: honest nets of every seed family train as before, and every way of training
past one pass (tests/hostile/proxy_*.py) ends as `proxy_violation` with its counts, in the real sandbox."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hostile_corpus import HOSTILE, header, hostile_code

from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import FAST, EvalTask
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate, make_fork_server
from archloop.run.records import CandidateRecord
from archloop.run.selection import SelectionRule, select_candidates

torch.set_num_threads(1)
TRAIN, TEST, BATCH = 96, 32, 16  # six batches: three steps per batch is 18 updates against a limit of 6
PROTOCOL = replace(FAST, name="proxy-test", batch_size=BATCH, eval_batch_size=BATCH)
SEEDS = load_seed_corpus()
GAMING = sorted(HOSTILE.glob("proxy_*.py"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cache_synthetic(tmp_path_factory.mktemp("data"), n_train=TRAIN, n_test=TEST, seed=0)


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@pytest.fixture(scope="module")
def limits(scratch_root) -> SandboxLimits:
    return SandboxLimits(timeout_s=120, memory_mb=3072, max_processes=48, max_open_files=128, scratch_root=scratch_root)


@pytest.fixture(scope="module")
def fork_server(scratch_root):
    server = make_fork_server(scratch_root)
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s.name)
def test_honest_nets_of_every_seed_family_train_unchanged(seed, dataset, limits, fork_server):
    result = evaluate_candidate(EvalTask(seed.name, seed.code), dataset, PROTOCOL, limits, launcher=fork_server)
    assert result.outcome == "ok", f"{result.outcome}: {result.message}"
    assert result.accuracy is not None


def test_the_gaming_corpus_has_six_patterns_or_more():
    assert len(GAMING) >= 6
    assert all(header(p, "expect") == "proxy_violation" for p in GAMING)


@pytest.mark.slow
@pytest.mark.parametrize("path", GAMING, ids=lambda p: p.stem)
def test_training_past_one_pass_is_a_proxy_violation(path, dataset, limits, fork_server):
    code = hostile_code(path, dataset, Path("/nonexistent"), 1, TEST)
    result = evaluate_candidate(
        EvalTask(path.stem, code), dataset, PROTOCOL, limits, static_check=False, launcher=fork_server
    )
    assert result.outcome == "proxy_violation", f"{result.outcome}: {result.message}"
    assert result.accuracy is None
    message = result.message or ""
    assert f"It drew {TRAIN // BATCH} batches ({TRAIN} images)" in message, message
    assert re.search(r"counted \d+ images forward, \d+ updates, \d+ optimizer steps", message), message


def test_a_proxy_violation_is_never_selected_by_the_rule():
    def record(i: int, outcome: str) -> CandidateRecord:
        return CandidateRecord(
            id=f"c1-{i:04d}", cycle=1, index=i, status="evaluated", code="x", valid=True, novel=True,
            signature=f"s{i}", eval_outcome=outcome, accuracy=99.0,
        )  # fmt: skip

    selection = select_candidates([record(0, "proxy_violation"), record(1, "ok")], SelectionRule(min_selected=1))
    assert selection.selected == ["c1-0001"]
