"""The prompt and the fine-tuning pairs rendered through the preset models' real chat templates.

Each fixture in fixtures/chat_templates/ is a published tokenizer config (its README names the sources). The tokenizer
is a small byte-level BPE trained here, given the fixture's chat template and special tokens, so these tests check
what the template does with the prompt, not a model's vocabulary.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from llm_fixtures import small_corpus
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from archloop.llm.finetune import IGNORE_INDEX, encode_pair
from archloop.llm.prompts import (
    FENCE_CLOSE,
    FORCED_PREFIX,
    SYSTEM_TEXT,
    USER_TEXT,
    PromptSpec,
    render_prompt,
    training_pair,
)
from archloop.llm.stopping import StopAtMarker

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
DEEPSEEK_CODER = "deepseek-coder-1.3b-instruct"
DEEPSEEK_LLM = "deepseek-llm-chat-format"
QWEN = "qwen2.5-coder-instruct"
BOS = "<｜begin▁of▁sentence｜>"
DEEPSEEK_CODER_DEFAULT_SYSTEM = "You are an AI programming assistant, utilizing the Deepseek Coder model"
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud."

# What each template writes before the system text, between system and user text, and before the reply.
EXPECTED_LAYOUT = {
    DEEPSEEK_CODER: (BOS, "### Instruction:\n", "\n### Response:\n"),
    DEEPSEEK_LLM: (BOS, "\n\nUser: ", "\n\nAssistant: "),
    QWEN: ("<|im_start|>system\n", "<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
}
# The assistant header each template writes before a reply.
ASSISTANT_HEADER = {DEEPSEEK_CODER: "### Response:\n", DEEPSEEK_LLM: "Assistant: ", QWEN: "<|im_start|>assistant\n"}
# The token each template ends an assistant turn with.
END_OF_TURN = {DEEPSEEK_CODER: "<|EOT|>", DEEPSEEK_LLM: "<｜end▁of▁sentence｜>", QWEN: "<|im_end|>"}
# Special tokens the real vocabularies hold as single tokens, beyond the config's bos/eos/pad.
EXTRA_SPECIALS = {QWEN: ["<|im_start|>"]}


def _token(value: Any) -> str | None:
    return value["content"] if isinstance(value, dict) else value


@cache
def _tokenizer(name: str) -> PreTrainedTokenizerFast:
    config = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    bos, eos, pad = (_token(config.get(key)) for key in ("bos_token", "eos_token", "pad_token"))
    specials = [t for t in dict.fromkeys([bos, eos, pad, *EXTRA_SPECIALS.get(name, [])]) if t]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([SYSTEM_TEXT, USER_TEXT, FORCED_PREFIX, *small_corpus()], trainer=trainer)
    if config.get("add_bos_token") and bos:
        # As the real LlamaTokenizerFast does: with special tokens on, every encoding starts with BOS.
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, backend.token_to_id(bos))]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=bos, eos_token=eos, pad_token=pad, clean_up_tokenization_spaces=False
    )
    tokenizer.chat_template = config["chat_template"]
    tokenizer.padding_side = "left"
    return tokenizer


def _sampling_ids(tokenizer: PreTrainedTokenizerFast, prompt: str) -> list[int]:
    """The ids a sampled row conditions on: the batch encoding generate.py makes, less its left padding."""
    encoded = tokenizer([prompt, prompt + " longer"], padding=True, add_special_tokens=False, return_tensors="pt")
    row, mask = encoded["input_ids"][0], encoded["attention_mask"][0]
    return row[mask.bool()].tolist()


def _seed_code() -> str:
    return small_corpus()[0]


ALL = [DEEPSEEK_CODER, DEEPSEEK_LLM, QWEN]


@pytest.mark.parametrize("name", ALL)
def test_the_prompt_puts_system_user_and_forced_prefix_where_the_template_puts_them(name):
    tokenizer = _tokenizer(name)
    before_system, between, before_reply = EXPECTED_LAYOUT[name]
    expected = before_system + SYSTEM_TEXT + between + USER_TEXT + before_reply + FORCED_PREFIX
    assert render_prompt(tokenizer) == expected


@pytest.mark.parametrize("name", ALL)
def test_the_forced_prefix_opens_the_assistant_turn_with_no_end_of_turn_before_it(name):
    tokenizer = _tokenizer(name)
    prompt = render_prompt(tokenizer)
    turn = prompt[prompt.rindex(ASSISTANT_HEADER[name]) :]
    assert turn == ASSISTANT_HEADER[name] + FORCED_PREFIX
    assert END_OF_TURN[name] not in turn and tokenizer.eos_token not in turn
    assert prompt.endswith(FORCED_PREFIX)


def test_deepseek_llm_layout_gets_the_space_its_replies_start_with():
    # Its generation prompt is "Assistant:" but its replies are rendered "Assistant: {reply}"; appending the prefix
    # to the generation prompt would show the model "Assistant:```python", a layout it never saw in training.
    prompt = render_prompt(_tokenizer(DEEPSEEK_LLM))
    assert "Assistant: ```python\n" in prompt and "Assistant:```" not in prompt


@pytest.mark.parametrize("name", ALL)
def test_the_prompt_tokenizes_with_one_bos_at_most_and_sampling_sees_the_same_ids(name):
    tokenizer = _tokenizer(name)
    prompt = render_prompt(tokenizer)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token is None:
        assert BOS not in prompt
    else:
        assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert _sampling_ids(tokenizer, prompt) == ids


@pytest.mark.parametrize("name", ALL)
def test_a_training_pair_has_the_sampling_boundary_and_ends_with_the_fence_then_the_templates_end_of_turn(name):
    tokenizer = _tokenizer(name)
    pair = training_pair(_seed_code(), tokenizer)
    assert pair.prompt == render_prompt(tokenizer)
    example = encode_pair(tokenizer, pair.prompt, pair.completion, max_length=8192)
    assert example is not None
    prompt_ids = _sampling_ids(tokenizer, pair.prompt)
    cut = len(prompt_ids)
    assert example.input_ids[:cut] == prompt_ids
    assert example.labels[:cut] == [IGNORE_INDEX] * cut
    completion = example.input_ids[cut:]
    assert example.labels[cut:] == completion
    end_of_turn = tokenizer.convert_tokens_to_ids(END_OF_TURN[name])
    assert completion[-1] == end_of_turn == tokenizer.eos_token_id
    assert tokenizer.decode(completion[:-1], clean_up_tokenization_spaces=False).endswith("\n" + FENCE_CLOSE)
    if tokenizer.bos_token is not None:
        assert example.input_ids.count(tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("name", ALL)
def test_the_end_of_turn_the_pair_teaches_is_the_one_the_template_writes_after_a_reply(name):
    tokenizer = _tokenizer(name)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": "REPLY"}], tokenize=False
    )
    after_reply = rendered.split("REPLY", 1)[1]
    specials = set(tokenizer.all_special_tokens) | set(EXTRA_SPECIALS.get(name, []))
    first_special = min((after_reply.index(t), t) for t in specials if t in after_reply)[1]
    assert first_special == END_OF_TURN[name] == tokenizer.eos_token


@pytest.mark.parametrize("name", ALL)
def test_generation_stops_at_the_closing_fence_before_the_end_of_turn_token(name):
    tokenizer = _tokenizer(name)
    pair = training_pair(_seed_code(), tokenizer)
    example = encode_pair(tokenizer, pair.prompt, pair.completion, max_length=8192)
    assert example is not None
    prompt_length = len(_sampling_ids(tokenizer, pair.prompt))
    marker = PromptSpec().stop_marker
    assert marker is not None
    stop = StopAtMarker(tokenizer, marker, prompt_length)
    ids = example.input_ids
    stopped_at = next(
        k
        for k in range(prompt_length + 1, len(ids) + 1)
        if bool(stop(torch.tensor([ids[:k]]), None)[0])  # type: ignore[arg-type]
    )
    # The closing fence is the completion's last text token: the stop fires there, EOS is the token after it.
    assert stopped_at == len(ids) - 1


def test_deepseek_coder_gets_our_system_prompt_instead_of_its_default_not_beside_it():
    prompt = render_prompt(_tokenizer(DEEPSEEK_CODER))
    assert DEEPSEEK_CODER_DEFAULT_SYSTEM not in prompt
    assert prompt.count(SYSTEM_TEXT) == 1
    assert prompt.startswith(BOS + SYSTEM_TEXT)


def test_deepseek_coder_injects_its_default_system_prompt_only_when_none_is_given():
    # The template's behaviour the previous test relies on: our system message suppresses the default one.
    tokenizer = _tokenizer(DEEPSEEK_CODER)
    bare = tokenizer.apply_chat_template([{"role": "user", "content": "u"}], tokenize=False, add_generation_prompt=True)
    assert bare.startswith(BOS + DEEPSEEK_CODER_DEFAULT_SYSTEM)


def test_qwen_gets_our_system_prompt_instead_of_its_default():
    prompt = render_prompt(_tokenizer(QWEN))
    assert QWEN_DEFAULT_SYSTEM not in prompt and prompt.count("<|im_start|>system") == 1
