"""LoRA SFT on a tiny real Llama: masking, learning, continuing the previous adapter, loading it, cancelling."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from llm_fixtures import build_tiny_model_dir, small_corpus
from safetensors.torch import load_file

from archloop.llm.finetune import (
    IGNORE_INDEX,
    PAPER_TARGETS,
    FinetuneError,
    LoraSettings,
    SftSettings,
    _optimizer,
    encode_pair,
    find_lora_targets,
    finetune,
)
from archloop.llm.generate import GenerationSettings, Generator, ModelLoadError, load_model
from archloop.llm.prompts import training_pair

FAST = SftSettings(
    learning_rate=5e-3,
    warmup_steps=1,
    epochs=50,
    grad_accum=2,
    max_steps=6,
    max_length=1024,
    optimizer="adamw",
)
LORA = LoraSettings(r=8, alpha=32, dropout=0.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def pairs(model_dir: Path) -> list[tuple[str, str]]:
    # Short completions keep the steps fast; the prompt is the real (long) one, which must be masked out.
    tokenizer = load_model(model_dir, device="cpu").tokenizer
    return [(prompt, completion[:300]) for prompt, completion in (training_pair(c, tokenizer) for c in small_corpus())]


def adapter_weights(adapter_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def test_defaults_are_the_papers_lora_and_sft_settings():
    lora, sft = LoraSettings(), SftSettings()
    assert (lora.r, lora.alpha, lora.dropout, len(lora.target_modules)) == (32, 32, 0.05, 7)
    assert (sft.optimizer, sft.gradient_checkpointing, sft.bf16) == ("paged_adamw_8bit", True, True)
    assert (sft.learning_rate, sft.weight_decay, sft.warmup_steps, sft.epochs) == (1e-5, 0.01, 20, 5)
    assert (sft.batch_size, sft.grad_accum, sft.max_length) == (1, 8, 4096)


def test_prompt_tokens_are_masked_out_of_the_labels(model_dir: Path, pairs: list[tuple[str, str]]):
    tokenizer = load_model(model_dir, device="cpu").tokenizer
    prompt, completion = pairs[0]
    example = encode_pair(tokenizer, prompt, completion, max_length=4096)
    assert example is not None
    prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert example.labels[:prompt_length] == [IGNORE_INDEX] * prompt_length
    assert example.labels[prompt_length:] == example.input_ids[prompt_length:]
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(example.input_ids[prompt_length:-1]) == completion
    # Too long: the prompt is kept whole and the completion cut; no room for any completion token: None.
    cut = encode_pair(tokenizer, prompt, completion, max_length=prompt_length + 3)
    assert (
        cut is not None
        and cut.labels[prompt_length:] == cut.input_ids[prompt_length:]
        and len(cut.labels) == prompt_length + 3
    )
    assert encode_pair(tokenizer, prompt, completion, max_length=prompt_length) is None


def test_masked_loss_ignores_the_prompt(model_dir: Path, pairs: list[tuple[str, str]]):
    loaded = load_model(model_dir, device="cpu")
    prompt, completion = pairs[0]
    example = encode_pair(loaded.tokenizer, prompt, completion, max_length=4096)
    assert example is not None
    ids, labels = torch.tensor([example.input_ids]), torch.tensor([example.labels])
    with torch.no_grad():
        logits = loaded.model(input_ids=ids).logits
        loss = loaded.model(input_ids=ids, labels=labels).loss
    start = labels[0].ne(IGNORE_INDEX).nonzero()[0].item()
    expected = torch.nn.functional.cross_entropy(logits[0, start - 1 : -1], ids[0, start:])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_lora_targets_are_found_for_llama_and_gpt2_layouts(model_dir: Path):
    from transformers import GPT2Config, GPT2LMHeadModel

    assert find_lora_targets(load_model(model_dir, device="cpu").model) == list(PAPER_TARGETS)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=64))
    assert find_lora_targets(gpt2) == ["c_attn", "c_proj", "c_fc"]
    with pytest.raises(FinetuneError):
        find_lora_targets(torch.nn.Sequential(torch.nn.ReLU()))


def test_loss_decreases_and_the_adapter_is_saved_and_loads_for_generation(
    model_dir: Path, pairs: list[tuple[str, str]], tmp_path: Path
):
    progress: list[tuple[int, int, float, float]] = []
    result = finetune(
        model_dir,
        pairs,
        out_dir=tmp_path / "cycle-1",
        settings=replace(FAST, max_steps=10),
        on_progress=lambda *args: progress.append(args),
        lora=LORA, device="cpu",
    )
    assert not result.cancelled and result.steps == 10 and result.examples == 2
    assert [p[0] for p in progress] == list(range(1, 11)) and all(p[1] == 10 for p in progress)
    losses = [p[2] for p in progress]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.15, losses  # ~6.0 -> ~5.7 here
    assert progress[-1][3] == 0.0
    info = json.loads((tmp_path / "cycle-1" / "archloop_finetune.json").read_text())
    assert info["steps"] == 10 and info["base_model"] == str(model_dir)
    loaded = load_model(model_dir, tmp_path / "cycle-1", device="cpu")
    assert loaded.adapter_dir == tmp_path / "cycle-1"
    candidates = Generator(loaded, GenerationSettings(max_new_tokens=4)).generate(1)
    assert len(candidates) == 1 and candidates[0].tokens >= 1


def test_second_cycle_continues_from_the_first_adapter(model_dir: Path, pairs: list[tuple[str, str]], tmp_path: Path):
    first = finetune(model_dir, pairs, out_dir=tmp_path / "c1", settings=FAST, lora=LORA, device="cpu")
    assert first.adapter_dir is not None
    c1 = adapter_weights(first.adapter_dir)
    # lr 0 keeps the weights exactly as loaded: a continued adapter equals cycle 1, a fresh one has B == 0.
    frozen = replace(FAST, learning_rate=0.0, max_steps=1)
    continued = finetune(
        model_dir, pairs, out_dir=tmp_path / "c2", previous_adapter=first.adapter_dir, settings=frozen, lora=LORA, device="cpu"
    )
    assert continued.adapter_dir is not None
    c2 = adapter_weights(continued.adapter_dir)
    assert c2.keys() == c1.keys()
    assert all(torch.equal(c1[k], c2[k]) for k in c1)
    fresh = adapter_weights(
        finetune(model_dir, pairs, out_dir=tmp_path / "fresh", settings=frozen, lora=LORA, device="cpu").adapter_dir
    )  # type: ignore[arg-type]
    lora_b = [k for k in fresh if "lora_B" in k]
    assert lora_b and all(not fresh[k].any() for k in lora_b)
    assert any(c1[k].any() for k in lora_b)
    # With a real learning rate the continued adapter trains on (is_trainable=True): weights move away from cycle 1.
    trained = finetune(
        model_dir,
        pairs,
        out_dir=tmp_path / "c2b",
        previous_adapter=first.adapter_dir,
        settings=replace(FAST, max_steps=2),
        lora=LORA, device="cpu",
    )
    moved = adapter_weights(trained.adapter_dir)  # type: ignore[arg-type]
    assert any(not torch.equal(c1[k], moved[k]) for k in lora_b)


def test_cancellation_stops_between_steps_and_saves_nothing(
    model_dir: Path, pairs: list[tuple[str, str]], tmp_path: Path
):
    polls = {"n": 0}

    def stop_on_fifth_poll() -> bool:
        polls["n"] += 1
        return polls["n"] >= 5

    result = finetune(
        model_dir, pairs, out_dir=tmp_path / "out", settings=FAST, should_stop=stop_on_fifth_poll, lora=LORA, device="cpu"
    )
    assert result.cancelled and result.adapter_dir is None
    assert result.steps == 2  # two full steps of grad_accum=2 micro-batches, then the fifth poll stops
    assert not (tmp_path / "out").exists()


def test_pairs_that_cannot_fit_are_an_error_and_a_bad_adapter_is_classified(
    model_dir: Path, pairs: list[tuple[str, str]], tmp_path: Path
):
    with pytest.raises(FinetuneError, match="max_length=10"):
        finetune(model_dir, pairs, out_dir=tmp_path / "x", settings=replace(FAST, max_length=10), lora=LORA, device="cpu")
    with pytest.raises(ModelLoadError) as caught:
        finetune(model_dir, pairs, out_dir=tmp_path / "y", previous_adapter=tmp_path, settings=FAST, lora=LORA, device="cpu")
    assert caught.value.kind == "adapter"


def test_8bit_optimizers_fall_back_to_adamw_with_a_warning_and_unknown_names_are_refused(caplog):
    model = torch.nn.Linear(2, 2)
    with caplog.at_level(logging.WARNING, logger="archloop.llm.finetune"):
        optimizer = _optimizer(model, SftSettings(optimizer="paged_adamw_8bit"), on_cuda=False)
    assert type(optimizer) is torch.optim.AdamW
    assert "'paged_adamw_8bit' needs CUDA; training with torch AdamW instead" in caplog.text
    assert type(_optimizer(model, SftSettings(optimizer="adamw_torch"), on_cuda=False)) is torch.optim.AdamW
    with pytest.raises(FinetuneError, match="unknown optimizer 'sgd'"):
        _optimizer(model, SftSettings(optimizer="sgd"), on_cuda=False)  # type: ignore[arg-type]


def test_the_tokens_trained_on_are_counted_without_padding(
    model_dir: Path, pairs: list[tuple[str, str]], tmp_path: Path
):
    # One step over one micro-batch holding both pairs: exactly their tokens (the shorter one's padding excluded).
    settings = replace(FAST, batch_size=2, grad_accum=1, max_steps=1)
    result = finetune(model_dir, pairs[:2], out_dir=tmp_path / "a", settings=settings, lora=LORA, device="cpu")
    tokenizer = load_model(model_dir, device="cpu").tokenizer
    lengths = [len(encode_pair(tokenizer, p, c, FAST.max_length).input_ids) for p, c in pairs[:2]]
    assert lengths[0] != lengths[1]  # so padding would show if it were counted
    assert result.steps == 1 and result.tokens == sum(lengths)
