"""A small model samples and fine-tunes on one CPU thread, whatever torch's default, and the default comes back after;
a candidate evaluated on the CPU gets no more threads than there are idle cores.

With torch's one-thread-per-core default, every op of a small model waits on the other threads, and on a busy machine
that wait dominates: the demo's sampling and fine-tuning slowed 20x or more once other processes held the cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from llm_fixtures import build_tiny_model_dir, small_corpus

from archloop.evaluation import executor as executor_module
from archloop.evaluation.evaluate import EvalResult, EvalTask
from archloop.evaluation.executor import LocalExecutor, idle_cores
from archloop.evaluation.sandbox import SandboxLimits
from archloop.llm.finetune import LoraSettings, SftSettings, finetune
from archloop.llm.generate import GenerationSettings, Generator, load_model
from archloop.llm.prompts import training_pair
from archloop.llm.threads import SMALL_MODEL_PARAMETERS, cpu_threads, cpu_threads_for

BIG = SMALL_MODEL_PARAMETERS * 10


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@contextmanager
def torch_threads_seen_in_forward(default: int) -> Iterator[list[int]]:
    """Set torch's thread count to `default` and record the count in force at every module forward inside."""
    seen: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(default)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda _module, _args: seen.append(torch.get_num_threads())
    )
    try:
        yield seen
    finally:
        handle.remove()
        torch.set_num_threads(before)


def test_a_small_model_gets_one_thread_and_a_large_one_the_idle_cores_within_torchs_limit():
    assert cpu_threads_for(1_200_000, available=16, idle=16) == 1
    assert cpu_threads_for(BIG, available=16, idle=16) == 16
    assert cpu_threads_for(BIG, available=16, idle=4) == 4
    assert cpu_threads_for(BIG, available=4, idle=16) == 4


def test_idle_cores_are_the_cores_the_load_leaves_and_at_least_one():
    assert idle_cores(cpu_count=16, load=11.6) == 4
    assert idle_cores(cpu_count=2, load=0.2) == 2
    assert idle_cores(cpu_count=2, load=9.0) == 1


def test_a_cpu_candidate_on_a_busy_machine_trains_on_the_idle_cores_only(monkeypatch: pytest.MonkeyPatch):
    threads: list[int] = []

    def fake_evaluate(
        task: EvalTask, _data: object, _protocol: object, limits: SandboxLimits, **_: object
    ) -> EvalResult:
        threads.append(limits.threads)
        return EvalResult(task.candidate, "ok")

    monkeypatch.setattr(executor_module, "evaluate_candidate", fake_evaluate)
    monkeypatch.setattr(executor_module.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(executor_module.os, "getloadavg", lambda: (6.2, 6.0, 6.0))
    pool = LocalExecutor(None, fork_server=False)  # type: ignore[arg-type]  # the data set is never read here
    try:
        assert pool.slots[0].threads == 8
        assert [r.outcome for r in pool.map_unordered([EvalTask("c1", "code")])] == ["ok"]
    finally:
        pool.close()
    assert threads == [2]


def test_sampling_a_small_model_on_the_cpu_uses_one_thread_and_restores_the_default(model_dir: Path):
    loaded = load_model(model_dir, device="cpu")
    with torch_threads_seen_in_forward(2) as seen:
        Generator(loaded, GenerationSettings(max_new_tokens=4, batch_size=2)).generate(2, seed=0)
        after = torch.get_num_threads()
    assert seen and set(seen) == {1}
    assert after == 2


def test_fine_tuning_a_small_model_on_the_cpu_uses_one_thread_and_restores_the_default(model_dir: Path, tmp_path: Path):
    tokenizer = load_model(model_dir, device="cpu").tokenizer
    pairs = [(p, c[:200]) for p, c in (training_pair(code, tokenizer) for code in small_corpus())]
    settings = SftSettings(
        warmup_steps=1, epochs=1, batch_size=1, grad_accum=1, max_steps=2, max_length=1024, optimizer="adamw"
    )
    with torch_threads_seen_in_forward(2) as seen:
        result = finetune(
            model_dir, pairs, out_dir=tmp_path / "a", settings=settings, lora=LoraSettings(r=4), device="cpu"
        )
        after = torch.get_num_threads()
    assert result.steps == 2
    assert seen and set(seen) == {1}
    assert after == 2


def test_off_the_cpu_the_thread_count_is_left_alone():
    before = torch.get_num_threads()
    with cpu_threads(torch.nn.Linear(2, 2), torch.device("cuda")) as threads:
        assert threads == before == torch.get_num_threads()
