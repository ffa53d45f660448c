"""Batched sampling with live streaming, the retry rule, EOS, cancellation and load errors, on a tiny real Llama."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from llm_fixtures import build_tiny_model_dir

from archloop.llm.demo_model import train_tokenizer
from archloop.llm.generate import (
    BatchStreamer,
    GenerationSettings,
    Generator,
    LoadedModel,
    ModelLoadError,
    load_model,
)
from archloop.llm.prompts import CODE_PREFIX, FORCED_PREFIX


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedModel:
    return load_model(model_dir, device="cpu")


def short(**overrides: float | int) -> GenerationSettings:
    values = {"max_new_tokens": 24, "batch_size": 3, **overrides}
    return GenerationSettings(**values)  # type: ignore[arg-type]


def test_defaults_are_the_papers_decoding_settings():
    settings = GenerationSettings()
    assert (settings.temperature, settings.top_k, settings.top_p, settings.max_new_tokens) == (0.7, 100, 0.95, 2048)
    assert (settings.max_retries, settings.temperature_step) == (5, 0.1)
    assert settings.temperature_for(6) == pytest.approx(1.2)


def test_the_same_seed_samples_the_same_candidates_and_another_seed_others(loaded: LoadedModel):
    generator = Generator(loaded, short(temperature=1.0))

    def codes(seed: int) -> list[str]:
        torch.manual_seed(seed + 1000)  # whatever the global RNG holds before, the seed decides
        return [c.code for c in generator.generate(4, seed=seed)]

    first = codes(7)
    assert codes(7) == first
    assert codes(8) != first


def test_every_candidate_of_uneven_batches_streams_exactly_its_code(loaded: LoadedModel):
    streamed: dict[int, str] = {}

    def on_delta(index: int, text: str) -> None:
        streamed[index] = streamed.get(index, "") + text

    results = Generator(loaded, short()).generate(5, on_delta=on_delta)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    for result in results:
        assert result.raw.startswith(FORCED_PREFIX) and result.code.startswith(CODE_PREFIX)
        assert streamed[result.index] == result.raw
        assert result.attempts == 1 and result.passed_check
        assert 1 <= result.tokens <= 24
        assert result.finish_reason in ("eos", "stop", "length")
        assert result.seconds > 0


def test_a_failing_check_is_retried_five_times_each_hotter_and_the_last_attempt_returned(loaded: LoadedModel):
    attempts: list[tuple[int, int, float]] = []
    results = Generator(loaded, short(max_new_tokens=4)).generate(
        2, check=lambda code: False, on_attempt=lambda i, a, t: attempts.append((i, a, round(t, 6)))
    )
    for result in results:
        assert result.attempts == 6
        assert result.final_temperature == pytest.approx(1.2)
        assert not result.passed_check
        assert 6 <= result.tokens <= 24  # at most 4 new tokens per attempt, at least 1
    assert sorted(attempts) == [(i, a, round(0.7 + 0.1 * (a - 1), 6)) for i in (0, 1) for a in range(1, 7)]


def test_a_candidate_that_passes_on_its_second_attempt_stops_there(loaded: LoadedModel):
    calls: dict[str, int] = {"n": 0}

    def every_other(code: str) -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    results = Generator(loaded, short(max_new_tokens=4, batch_size=1)).generate(2, check=every_other)
    assert [r.attempts for r in results] == [2, 1]
    assert results[0].final_temperature == pytest.approx(0.8)


def test_a_crashing_check_counts_as_failed(loaded: LoadedModel):
    def crashes(code: str) -> bool:
        raise RuntimeError("checker bug")

    results = Generator(loaded, short(max_new_tokens=2, max_retries=1)).generate(1, check=crashes)
    assert results[0].attempts == 2 and not results[0].passed_check


def test_generation_stops_at_eos(model_dir: Path):
    loaded = load_model(model_dir, device="cpu")
    eos = loaded.tokenizer.eos_token_id
    # Make EOS the only likely token: every candidate must end after one token, with only the prefix as code.
    loaded.model.lm_head.register_forward_hook(
        lambda module, args, out: out.index_add(-1, torch.tensor([eos]), torch.full((*out.shape[:-1], 1), 1e4))
    )
    results = Generator(loaded, short(max_new_tokens=50)).generate(3)
    assert all(r.finish_reason == "eos" and r.tokens == 1 and r.raw == FORCED_PREFIX for r in results)
    # The prefix alone stops mid-function: extracted, classified, and given to the check as code.
    assert all(r.extraction is not None and r.extraction.outcome == "truncated" for r in results)
    assert all(r.code == CODE_PREFIX for r in results)


def test_each_row_of_a_batch_stops_at_its_own_closing_fence(model_dir: Path):
    loaded = load_model(model_dir, device="cpu")
    tokenizer = loaded.tokenizer
    reply = "    return {'lr'}\n```"
    wanted = tokenizer(reply, add_special_tokens=False)["input_ids"]
    filler = tokenizer(" x", add_special_tokens=False)["input_ids"][0]
    step = {"n": 0}

    def force(module: torch.nn.Module, args: object, out: torch.Tensor) -> torch.Tensor:
        # Row 1 writes a one-line function body and the closing fence; rows 0 and 2 write filler until the limit.
        index = step["n"]
        step["n"] += 1
        tokens = [filler, wanted[index] if index < len(wanted) else filler, filler]
        bonus = torch.zeros_like(out[:, -1, :])
        bonus[torch.arange(3), torch.tensor(tokens)] = 1e4
        out[:, -1, :] += bonus
        return out

    loaded.model.lm_head.register_forward_hook(force)
    streamed: dict[int, str] = {}

    def on_delta(index: int, text: str) -> None:
        streamed[index] = streamed.get(index, "") + text

    results = Generator(loaded, short(max_new_tokens=30, batch_size=3)).generate(3, on_delta=on_delta)
    stopped = results[1]
    assert stopped.finish_reason == "stop" and stopped.tokens == len(wanted)
    assert stopped.raw == FORCED_PREFIX + reply
    assert streamed[1] == stopped.raw
    assert stopped.code == CODE_PREFIX + "    return {'lr'}\n" and stopped.extraction.ok
    assert [results[i].finish_reason for i in (0, 2)] == ["length", "length"]
    assert [results[i].tokens for i in (0, 2)] == [30, 30]


def test_cancellation_stops_between_steps_and_returns_only_complete_candidates(loaded: LoadedModel):
    polls = {"n": 0}

    def stop_after_a_few_steps() -> bool:
        polls["n"] += 1
        return polls["n"] > 10

    started = time.perf_counter()
    results = Generator(loaded, short(max_new_tokens=2000, batch_size=2)).generate(
        4, should_stop=stop_after_a_few_steps
    )
    assert results == []
    assert polls["n"] <= 12
    assert time.perf_counter() - started < 20


def test_cancellation_after_the_first_batch_keeps_that_batch(loaded: LoadedModel):
    started: list[int] = []
    generator = Generator(loaded, short(max_new_tokens=3, batch_size=2))
    results = generator.generate(
        4, on_attempt=lambda index, attempt, temperature: started.append(index), should_stop=lambda: 2 in started
    )
    assert [r.index for r in results] == [0, 1]
    assert started == [0, 1, 2, 3]  # the second batch started, then was cancelled at its first step


def test_zero_candidates_is_empty_and_negative_is_an_error(loaded: LoadedModel):
    generator = Generator(loaded, short())
    assert generator.generate(0) == []
    with pytest.raises(ValueError):
        generator.generate(-1)


class FakeClock:
    """A clock the test advances by hand, to observe coalescing without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_streamer_never_splits_a_multibyte_character_and_coalesces_to_the_interval():
    # Trained on ASCII only, so every non-ASCII character is spread over several byte tokens.
    tokenizer = train_tokenizer(["def forward(self, x):\n    return x\n"] * 4, vocab_size=300)
    text = "    return 'größe → 🙂 网络'\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)
    clock = FakeClock()
    deltas: list[str] = []
    streamer = BatchStreamer(
        tokenizer, [0], [[]], {tokenizer.eos_token_id}, lambda i, t: deltas.append(t), 0.05, clock=clock
    )
    streamer.put(torch.tensor([[1]]))  # the prompt batch
    for token in ids:
        clock.now += 0.01  # 100 tokens/s: at most one callback per 5 tokens
        streamer.put(torch.tensor([token]))
    streamer.put(torch.tensor([tokenizer.eos_token_id]))
    streamer.put(torch.tensor([tokenizer.pad_token_id]))  # padding after EOS is ignored
    streamer.end()
    assert "".join(deltas) == text
    assert not any("\ufffd" in delta for delta in deltas)
    assert len(deltas) <= len(ids) * 0.01 / 0.05 + 2


def test_streamer_with_a_frozen_clock_sends_one_delta_per_row_at_the_end():
    tokenizer = train_tokenizer(["abc def"] * 3, vocab_size=270)
    rows: dict[int, list[str]] = {7: [], 9: []}
    streamer = BatchStreamer(
        tokenizer,
        [7, 9],
        [[], []],
        {tokenizer.eos_token_id},
        lambda i, t: rows[i].append(t),
        0.05,
        first_text="P:",
        clock=lambda: 0.0,
    )
    streamer.put(torch.tensor([[1], [1]]))
    row_tokens = [tokenizer("abc")["input_ids"], tokenizer("def def")["input_ids"]]
    eos = tokenizer.eos_token_id
    for step in range(max(map(len, row_tokens)) + 2):
        streamer.put(torch.tensor([tokens[step] if step < len(tokens) else eos for tokens in row_tokens]))
    streamer.end()
    assert rows == {7: ["P:abc"], 9: ["P:def def"]}


def test_missing_model_without_hub_is_a_not_found_error_naming_it_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import huggingface_hub.constants

    # No network here; offline mode makes the hub lookup fail at once instead of after connection retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as caught:
        load_model(tmp_path / "no-such-model", device="cpu")
    assert caught.value.kind == "not_found"
    assert "no-such-model" in str(caught.value)
    with pytest.raises(ModelLoadError) as caught:
        load_model("archloop-test/definitely-not-a-model", device="cpu")
    assert caught.value.kind == "not_found" and "--local-dir" in str(caught.value)


def test_a_model_that_is_not_a_causal_lm_is_classified(model_dir: Path, tmp_path: Path):
    from transformers import ViTConfig

    bad = tmp_path / "vit"
    bad.mkdir()
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(bad)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (bad / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(ModelLoadError) as caught:
        load_model(bad, device="cpu")
    assert caught.value.kind == "not_causal_lm"


def test_bad_adapter_and_impossible_quantization_are_classified(model_dir: Path, tmp_path: Path):
    with pytest.raises(ModelLoadError) as caught:
        load_model(model_dir, tmp_path, device="cpu")
    assert caught.value.kind == "adapter"
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": "not a number"}))
    with pytest.raises(ModelLoadError) as caught:
        load_model(model_dir, tmp_path, device="cpu")
    assert caught.value.kind == "adapter"
    if not torch.cuda.is_available():
        for quantization in ("4bit", "8bit"):
            with pytest.raises(ModelLoadError) as caught:
                load_model(model_dir, device="cpu", quantization=quantization)
            assert caught.value.kind == "quantization" and "archloop[gpu]" in str(caught.value)


def test_a_directory_without_weights_is_a_not_found_error_naming_the_directory(model_dir: Path, tmp_path: Path):
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    with pytest.raises(ModelLoadError) as caught:
        load_model(tmp_path, device="cpu")
    assert caught.value.kind == "not_found" and str(tmp_path) in str(caught.value)
