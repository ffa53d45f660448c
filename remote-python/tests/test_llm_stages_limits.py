"""LlmStages as on a GPU, tested on the CPU: the LLM's memory is released before candidates train on its device (a
stand-in memory probe plays the GPU), validation has its own short time limit, and the parameter limit is classified."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from archloop.config import load_config
from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.evaluate import EvalResult
from archloop.run.llm_stages import DeviceMemory, LlmStages, shares_device
from archloop.run.stages import EvalJob

GIB = 2**30


def _config(model_device: str = "cuda:0", devices: tuple[str, ...] = ("cuda:0",), **evaluation):
    config = load_config(preset="demo")
    return dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, device=model_device),
        evaluation=dataclasses.replace(config.evaluation, devices=list(devices), **evaluation),
    )


class _Gpu:
    """A card of 80 GiB on which this process's LLM holds 14 GiB while loaded and another process holds 2 GiB."""

    def __init__(self, stages_ref: list[LlmStages]) -> None:
        self.stages_ref = stages_ref

    def __call__(self, device: str) -> DeviceMemory | None:
        if not device.startswith("cuda"):
            return None
        held = 14 * GIB if self.stages_ref and self.stages_ref[0]._loaded is not None else 0
        return DeviceMemory(free_bytes=80 * GIB - held - 2 * GIB, total_bytes=80 * GIB, held_bytes=held)


class _OomExecutor:
    def map_unordered(self, tasks, should_stop=None) -> Iterator[EvalResult]:
        for task in tasks:
            yield EvalResult(task.candidate, "out_of_memory", message="CUDA out of memory")

    def close(self) -> None:
        pass


def _stages(tmp_path, config) -> LlmStages:
    ref: list[LlmStages] = []
    stages = LlmStages(config, tmp_path, memory_probe=_Gpu(ref))
    ref.append(stages)
    stages._loaded = object()  # type: ignore[assignment]  # the sampling copy, as generate() leaves it
    stages._pool = _OomExecutor()  # type: ignore[assignment]
    return stages


def test_the_llm_is_released_before_candidates_train_on_its_gpu_and_an_oom_says_whose_memory_it_was(tmp_path):
    stages = _stages(tmp_path, _config("cuda:0", ("cuda:0",)))
    [result] = list(stages.evaluate([EvalJob("c1", "code", 0)], lambda: False))
    assert stages._loaded is None  # generate() loads it again for the next batch
    assert result.outcome == "out_of_memory"
    assert result.message.startswith("CUDA out of memory; the LLM held 14.0 GiB on cuda:0 and was released")
    assert "78.0 of 80.0 GiB were free when training began (other processes held 2.0 GiB)" in result.message


def test_the_llm_stays_loaded_when_candidates_train_on_another_gpu(tmp_path):
    stages = _stages(tmp_path, _config("cuda:0", ("cuda:1",)))
    [result] = list(stages.evaluate([EvalJob("c1", "code", 0)], lambda: False))
    assert stages._loaded is not None
    # The stand-in card is one counter for every index; what matters is that nothing was released.
    assert "the LLM held 14.0 GiB on cuda:1;" in result.message and "released" not in result.message


def test_on_the_cpu_nothing_is_released_and_messages_stay_as_they_were(tmp_path):
    stages = _stages(tmp_path, _config("cpu", ("cpu",)))
    [result] = list(stages.evaluate([EvalJob("c1", "code", 0)], lambda: False))
    assert stages._loaded is not None and result.message == "CUDA out of memory"


def test_which_devices_the_llm_shares_with_candidates():
    assert shares_device("auto", "cuda:1") and shares_device("cuda", "cuda:0") and shares_device("cuda:0", "cuda")
    assert not shares_device("cuda:0", "cuda:1") and not shares_device("auto", "cpu") and not shares_device("cpu", "cpu")


def _seed(name: str = "lenet") -> str:
    return next(s.code for s in load_seed_corpus() if s.name == name)


def test_validation_has_its_own_short_time_limit_not_the_training_one(tmp_path):
    code = _seed().replace("super().__init__()", "super().__init__()\n        while True:\n            pass", 1)
    assert "while True" in code
    config = _config("cpu", ("cpu",), time_limit_s=1800.0, validate_time_limit_s=3.0)
    stages = LlmStages(config, tmp_path)
    try:
        result = stages.validate(code)
    finally:
        stages.close()
    assert (result.ok, result.outcome) == (False, "timeout")
    assert "no result within 3 s" in (result.message or "")


def test_a_net_over_the_parameter_limit_is_too_many_params(tmp_path):
    stages = LlmStages(_config("cpu", ("cpu",), max_params=1000), tmp_path)
    unlimited = LlmStages(_config("cpu", ("cpu",), max_params=0), tmp_path)
    try:
        over = stages.validate(_seed())
        ok = unlimited.validate(_seed())
    finally:
        stages.close()
        unlimited.close()
    assert ok.ok and ok.params == 62006
    assert (over.ok, over.outcome, over.params) == (False, "too_many_params", 62006)
    assert over.message == "62,006 parameters; the limit is 1,000 ([evaluation] max_params)"


def test_the_default_parameter_limit_is_the_prompts():
    assert load_config(preset="paper").evaluation.max_params == 300_000
    assert load_config(preset="demo").evaluation.max_params == 300_000
