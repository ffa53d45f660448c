"""The embedded demo model: offline tokenizer, valid augmentations, a cached build that load_model accepts."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from llm_fixtures import small_corpus

from archloop.llm.demo_model import (
    INFO_FILE,
    MAX_TOKEN_CHARS,
    DemoModelConfig,
    builds_and_fits,
    cache_key,
    default_corpus,
    ensure_demo_model,
    make_variants,
    rescale_widths,
    tiny_config,
    train_tokenizer,
)
from archloop.llm.generate import GenerationSettings, Generator, load_model
from archloop.llm.prompts import FORCED_PREFIX


def test_tokenizer_round_trips_the_whole_seed_corpus_and_unseen_text():
    corpus = default_corpus()
    assert len(corpus) >= 16
    tokenizer = train_tokenizer(corpus, vocab_size=2048)
    for code in [*corpus, "x = 'größe 🙂'\n\tpass  # tabs, emoji\n"]:
        ids = tokenizer(code, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == code
    # The merges learn the corpus: code compresses to well under one token per 2 characters.
    assert len(tokenizer(corpus[0])["input_ids"]) < len(corpus[0]) / 2


def test_tokens_may_span_spaces_and_lines_but_stay_short():
    corpus = default_corpus()
    tokenizer = train_tokenizer(corpus, vocab_size=2048)
    pieces = [tokenizer.decode([i]) for i in range(len(tokenizer)) if i not in tokenizer.all_special_ids]
    assert max(len(piece) for piece in pieces) <= MAX_TOKEN_CHARS
    # No regex pre-split: merges cross spaces and newlines (indentation + keyword), which shortens code ~3x.
    assert any(" " in piece.strip() or "\n" in piece.strip("\n") for piece in pieces)


def test_rescaling_keeps_a_width_shared_by_two_layers_shared():
    code = "nn.Conv2d(3, 32, 3)\nnn.BatchNorm2d(32)\nnn.Linear(32 * 4, 10)\nx = 1e-3 + 0.5 + w16\n"
    assert (
        rescale_widths(code, 1.5)
        == "nn.Conv2d(3, 48, 3)\nnn.BatchNorm2d(48)\nnn.Linear(48 * 4, 15)\nx = 1e-3 + 0.5 + w16\n"
    )


def test_variants_differ_from_the_seed_and_still_build_forward_and_fit_the_budget():
    seed = small_corpus()[0]
    variants = make_variants(seed, 3, random.Random(1))
    assert variants
    for variant in variants:
        assert variant != seed
        assert builds_and_fits(variant)
    assert not builds_and_fits(seed.replace("nn.Linear(", "nn.Linear(7 + "))  # a broken variant is detected


def test_cache_key_follows_corpus_config_and_is_stable():
    corpus = small_corpus()
    config = DemoModelConfig()
    assert cache_key(corpus, config) == cache_key(list(corpus), DemoModelConfig())
    assert cache_key(corpus, config) != cache_key([*corpus[:-1], corpus[-1] + "\n# edited\n"], config)
    assert cache_key(corpus, config) != cache_key(corpus, replace(config, steps=config.steps + 1))


def test_tiny_build_is_loadable_generates_and_the_second_call_is_cached(tmp_path: Path):
    corpus = small_corpus()
    stages: list[str] = []
    config = tiny_config()
    built = ensure_demo_model(tmp_path, config=config, corpus=corpus, on_progress=lambda s, d, t: stages.append(s))
    assert {"augment", "pretrain", "save"} <= set(stages)
    assert (built / INFO_FILE).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no temp dir left behind
    loaded = load_model(built, device="cpu")
    assert loaded.tokenizer.chat_template
    results = Generator(loaded, GenerationSettings(max_new_tokens=6, batch_size=2)).generate(2)
    assert len(results) == 2 and all(r.raw.startswith(FORCED_PREFIX) for r in results)

    stages.clear()
    started = time.perf_counter()
    again = ensure_demo_model(tmp_path, config=config, corpus=corpus, on_progress=lambda s, d, t: stages.append(s))
    assert again == built and stages == [] and time.perf_counter() - started < 1.0

    changed = ensure_demo_model(tmp_path, config=config, corpus=[corpus[0]])
    assert changed != built and (changed / INFO_FILE).is_file()

    (built / "tokenizer.json").unlink()  # a damaged cache entry is rebuilt, not returned
    rebuilt = ensure_demo_model(tmp_path, config=config, corpus=corpus)
    assert rebuilt == built and (built / "tokenizer.json").is_file()
    assert load_model(rebuilt, device="cpu").tokenizer.chat_template


def test_an_empty_corpus_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="non-empty"):
        ensure_demo_model(tmp_path, corpus=[])


def test_shared_prompt_loss_equals_the_full_sequence_loss(tmp_path: Path):
    from llm_fixtures import build_tiny_model_dir

    from archloop.llm.demo_model import completion_loss, shared_prompt
    from archloop.llm.finetune import collate, encode_pair
    from archloop.llm.prompts import training_pair

    loaded = load_model(build_tiny_model_dir(tmp_path), device="cpu")
    tokenizer = loaded.tokenizer
    examples = [encode_pair(tokenizer, *training_pair(code, tokenizer), 2048) for code in small_corpus()]
    assert all(e is not None for e in examples)
    prompt = shared_prompt(examples)  # type: ignore[arg-type]
    assert prompt == tokenizer(training_pair(small_corpus()[0], tokenizer)[0], add_special_tokens=False)["input_ids"]
    import torch

    with torch.no_grad():
        full = loaded.model(**collate(examples, tokenizer.pad_token_id)).loss  # type: ignore[arg-type]
        shared = completion_loss(loaded.model, prompt, examples, tokenizer.pad_token_id)  # type: ignore[arg-type]
    assert shared.item() == pytest.approx(full.item(), rel=1e-5)


def test_printing_progress_prints_stage_changes_and_ends_not_every_step(capsys):
    from archloop.llm.demo_model import printing_progress

    progress = printing_progress(interval_s=3600)
    for done in range(1, 301):
        progress("pretrain", done, 300)
    progress("save", 0, 1)
    progress("save", 1, 1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-2:] for line in lines] == [
        ["pretrain", "1/300"],
        ["pretrain", "300/300"],
        ["save", "0/1"],
        ["save", "1/1"],
    ]


def test_models_live_under_the_run_cache_dir_which_defaults_to_the_users_cache(monkeypatch, tmp_path: Path):
    from archloop.llm.demo_model import models_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    assert models_dir() == tmp_path / ".cache" / "archloop" / "models"
    assert models_dir("~/elsewhere") == tmp_path / "elsewhere" / "models"
    assert models_dir(tmp_path / "c") == tmp_path / "c" / "models"
