"""The paper's prompt: rendering with and without a chat template, and fine-tuning pairs cut at the forced prefix."""

from __future__ import annotations

import pytest
from llm_fixtures import small_corpus

from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.contract import check_source
from archloop.llm.demo_model import builds_and_fits, strip_seed_header, train_tokenizer
from archloop.llm.prompts import (
    CODE_PREFIX,
    FORCED_PREFIX,
    PLAIN_TEMPLATE,
    PromptError,
    PromptSpec,
    completion_after_prefix,
    render_prompt,
    training_pair,
)


@pytest.fixture(scope="module")
def chat_tokenizer():
    return train_tokenizer([render_prompt(None), *small_corpus()], vocab_size=400)


def test_prompt_carries_the_papers_requirements_and_ends_with_the_forced_prefix():
    text = render_prompt(None)
    for needle in (
        "expert PyTorch architecture designer",
        "UNIQUE",
        "first",
        "NOVEL",
        "CIFAR-10",
        "32x32",
        "3 channels",
        "300,000",
        "REQUIRED FORMAT",
        "def supported_hyperparameters():",
        "def train_setup(self, prm)",
        "def learn(self, train_data)",
        "in_shape[1]",
        "out_shape[0]",
    ):
        assert needle in text, needle
    assert text.endswith(FORCED_PREFIX)
    assert FORCED_PREFIX == "```python\n" + CODE_PREFIX and CODE_PREFIX.startswith("import torch\n")


def test_plain_fallback_template_is_used_without_a_chat_template():
    spec = PromptSpec(system="SYS", user="USR", forced_prefix="PFX")
    assert render_prompt(None, spec) == PLAIN_TEMPLATE.format(bos="", system="SYS", user="USR") + "PFX"


def test_chat_template_renders_system_user_and_assistant_header(chat_tokenizer):
    spec = PromptSpec(system="SYS", user="USR", forced_prefix="PFX")
    assert render_prompt(chat_tokenizer, spec) == "<s>### System:\nSYS\n\n### User:\nUSR\n\n### Assistant:\nPFX"


def test_a_template_that_rejects_the_system_role_gets_it_folded_into_the_user_turn(chat_tokenizer):
    chat_tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}[assistant]"
    )
    spec = PromptSpec(system="SYS", user="USR", forced_prefix="PFX")
    assert render_prompt(chat_tokenizer, spec) == "[user]SYS\n\nUSR[assistant]PFX"


def test_code_starting_with_the_prefix_is_cut_exactly_there_and_the_target_closes_the_fence():
    code = CODE_PREFIX + "    return {'lr', 'momentum'}\n\n\nclass Net: ...\n"
    prompt, completion = training_pair(code)
    assert prompt == render_prompt(None)
    assert completion == "    return {'lr', 'momentum'}\n\n\nclass Net: ...\n```"
    assert PromptSpec().stop_marker == "\n```" and (prompt + completion).endswith(PromptSpec().stop_marker)


def test_an_unfenced_prefix_has_no_stop_marker_and_no_closing_fence():
    spec = PromptSpec(system="SYS", user="USR", forced_prefix="PFX")
    assert spec.stop_marker is None and spec.code_prefix == "PFX"
    assert training_pair("PFX    return {'lr'}\n", spec=spec).completion == "    return {'lr'}\n"


@pytest.mark.parametrize("seed", load_seed_corpus(), ids=lambda seed: seed.name)
def test_every_seed_becomes_a_pair_whose_prefix_plus_completion_still_satisfies_the_contract(seed):
    completion = completion_after_prefix(strip_seed_header(seed.code))
    assert completion.startswith("    return {")
    rebuilt = CODE_PREFIX + completion
    report = check_source(rebuilt)
    assert report.ok, (seed.name, report.problems)


def test_a_rebuilt_seed_still_builds_and_forwards():
    for code in small_corpus():
        assert builds_and_fits(CODE_PREFIX + completion_after_prefix(code))


def test_extra_imports_are_kept_and_the_prefix_imports_dropped():
    code = (
        "import math\nimport torch\nimport torch.nn as nn\n\n\ndef supported_hyperparameters():\n"
        "    return {'lr', 'momentum'}\n\n\nclass Net(nn.Module):\n    width = math.floor(3.5)\n"
    )
    completion = completion_after_prefix(code)
    assert completion.startswith("    return {'lr', 'momentum'}\n")
    assert "import math\n" in completion
    assert "import torch\n" not in completion
    assert completion.count("def supported_hyperparameters") == 0


def test_code_that_does_not_parse_is_a_prompt_error_naming_the_line():
    with pytest.raises(PromptError, match="line 2"):
        completion_after_prefix("import torch\ndef broken(:\n")


def test_code_without_supported_hyperparameters_is_a_prompt_error():
    with pytest.raises(PromptError, match="supported_hyperparameters"):
        completion_after_prefix("import torch\n\nclass Net: pass\n")
