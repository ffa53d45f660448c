"""Shared by the LLM tests: a tiny random Llama + byte-level BPE tokenizer saved to a temp dir, and a few nets.

Real transformers/PEFT/tokenizers objects throughout; only the size is toy (a hub download is impossible here).
"""

from __future__ import annotations

from pathlib import Path

import torch

from archloop.llm.demo_model import DemoModelConfig, default_corpus, save_untrained_model, tiny_config

torch.set_num_threads(1)

# Two seeds keep tokenizer training and the prompt short; the tokenizer still covers every byte.
SEED_NAMES_FOR_TESTS = 2


def small_corpus() -> list[str]:
    return default_corpus()[:SEED_NAMES_FOR_TESTS]


def build_tiny_model_dir(out_dir: Path, config: DemoModelConfig | None = None) -> Path:
    """A saved, randomly initialised tiny Llama (2 layers, hidden 64) with its tokenizer."""
    save_untrained_model(out_dir, small_corpus(), config or tiny_config())
    return out_dir
