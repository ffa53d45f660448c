"""Evaluation for E epochs in the real sandbox (the re-check's longer training): `learn` is called once per epoch,
and the proxy-integrity counter judges each call on its own, so training is honest per epoch, not only in total."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from archloop.evaluation.data import cache_synthetic
from archloop.evaluation.evaluate import FAST, EvalTask
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate

torch.set_num_threads(1)
TRAIN, TEST, BATCH = 96, 32, 16

_NET = """
import torch
import torch.nn as nn

def supported_hyperparameters():
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.calls = 0
        self.body = nn.Sequential(
            nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, out_shape[0]),
        )

    def forward(self, x):
        return self.body(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def step(self, inputs, labels):
        self.optimizer.zero_grad()
        self.criteria(self(inputs), labels).backward()
        self.optimizer.step()
"""

HONEST = (
    _NET
    + """
    def learn(self, train_data):
        self.calls += 1
        print(f"learn call {self.calls}", flush=True)
        for inputs, labels in train_data:
            self.step(inputs, labels)
"""
)

# Two passes in the first call, then a call that only drains its batches: in total it is exactly E passes.
FRONT_LOADED = (
    _NET
    + """
    def learn(self, train_data):
        self.calls += 1
        batches = list(train_data)
        if self.calls == 1:
            for _ in range(2):
                for inputs, labels in batches:
                    self.step(inputs, labels)
"""
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cache_synthetic(tmp_path_factory.mktemp("data"), n_train=TRAIN, n_test=TEST, seed=0)


@pytest.fixture()
def limits(tmp_path) -> SandboxLimits:
    return SandboxLimits(timeout_s=120, memory_mb=3072, max_processes=48, max_open_files=128, scratch_root=tmp_path)


def _protocol(epochs: int):
    return replace(FAST, name="epochs-test", epochs=epochs, batch_size=BATCH, eval_batch_size=BATCH)


def test_three_epochs_call_learn_three_times_in_the_sandbox(dataset, limits):
    result = evaluate_candidate(EvalTask("honest", HONEST, seed=1), dataset, _protocol(3), limits)
    assert result.outcome == "ok", f"{result.outcome}: {result.message}"
    assert result.accuracy is not None and 0.0 <= result.accuracy <= 100.0
    assert [line for line in result.output_tail.splitlines() if line.startswith("learn call")] == [
        "learn call 1",
        "learn call 2",
        "learn call 3",
    ]
    assert result.images_per_second is not None and result.images_per_second > 0


def test_two_passes_in_one_epoch_are_a_violation_even_when_the_total_is_honest(dataset, limits):
    result = evaluate_candidate(EvalTask("front", FRONT_LOADED, seed=1), dataset, _protocol(2), limits)
    assert result.outcome == "proxy_violation", f"{result.outcome}: {result.message}"
    assert "epoch 1 of 2" in (result.message or "")


def test_the_real_stages_recheck_for_e_epochs_and_s_seeds_on_their_own_executor(tmp_path):
    from archloop.config import config_from_dict
    from archloop.run.llm_stages import LlmStages
    from archloop.run.recheck_executor import rechecker_for
    from archloop.run.stages import EvalJob

    evaluation = {"protocol": "fast", "data": "synthetic", "synthetic_train": TRAIN, "synthetic_test": TEST}
    config = config_from_dict(
        {"run": {"cache_dir": str(tmp_path / "cache")}, "evaluation": {**evaluation, "batch_size": BATCH}}
    )
    stages = LlmStages(config, tmp_path / "run")
    rechecker = rechecker_for(stages)
    assert rechecker is not None
    try:
        jobs = [EvalJob("recheck-0", HONEST, 0), EvalJob("recheck-1", HONEST, 1)]
        results = {r.candidate: r for r in rechecker.recheck(jobs, 2, lambda: False)}
    finally:
        stages.close()
    assert sorted(results) == ["recheck-0", "recheck-1"]
    for r in results.values():
        assert r.outcome == "ok", f"{r.outcome}: {r.message}"
        assert r.epochs == 2 and r.data == "synthetic" and r.accuracy is not None
    rechecker.stop_recheck()  # nothing runs: a no-op
