"""The llm package's sections of a run's config: `[model]`, `[generation]`, `[lora]` and `[sft]`.

Kept apart from generate.py and finetune.py (which import them from here) so that reading a config never imports
torch or transformers: `archloop doctor` must work on a host that lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archloop.settings import (
    device_name,
    non_empty,
    non_negative,
    positive,
    probability,
    setting,
    unit_interval,
)

# The paper's LoRA targets (Llama-family names).
PAPER_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Quantization = Literal["none", "4bit", "8bit"]


@dataclass(frozen=True)
class ModelSettings:
    """The `[model]` section: which code LLM, how it is loaded, and where it runs."""

    id: str = setting("deepseek-ai/deepseek-coder-7b-instruct-v1.5", non_empty(), "hub id, local path, or 'demo'")
    quantization: Quantization = setting(
        "4bit",
        None,
        "'4bit' = NF4 (QLoRA, as in the paper), '8bit' = bitsandbytes LLM.int8, 'none' = bf16 on CUDA, fp32 on the "
        "CPU; 4bit and 8bit need a CUDA GPU and the gpu extra (pip install 'archloop[gpu]')",
    )
    device: str = setting("auto", device_name(allow_auto=True), "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class GenerationSettings:
    """The `[generation]` section: decoding settings; defaults are the paper's (docs, "decoding")."""

    temperature: float = setting(0.7, positive(), "sampling temperature")
    top_k: int = setting(100, non_negative(), "top-k sampling (0 = off)")
    top_p: float = setting(0.95, unit_interval(), "nucleus sampling")
    max_new_tokens: int = setting(2048, positive(), "tokens per completion")
    max_retries: int = setting(5, non_negative(), "retries after a failed check, each hotter")
    temperature_step: float = setting(0.1, non_negative(), "temperature added per retry")
    batch_size: int = setting(8, positive(), "completions sampled together (and committed together)")

    def temperature_for(self, attempt: int) -> float:
        """Temperature of the 1-based `attempt`: each retry adds `temperature_step`."""
        return self.temperature + self.temperature_step * (attempt - 1)


@dataclass(frozen=True)
class LoraSettings:
    """The `[lora]` section, the paper's LoRA preset by default."""

    r: int = setting(32, positive(), "LoRA rank")
    alpha: int = setting(32, positive(), "LoRA alpha")
    dropout: float = setting(0.05, probability(), "LoRA dropout")
    target_modules: list[str] = setting(
        list(PAPER_TARGETS), None, "modules that get adapters (empty = the model family's equivalents of the paper's)"
    )


# Optimizer names the `[sft] optimizer` key accepts: bitsandbytes' paged and plain 8-bit AdamW, torch's AdamW.
Optimizer = Literal["paged_adamw_8bit", "adamw_8bit", "adamw", "adamw_torch"]


@dataclass(frozen=True)
class SftSettings:
    """The `[sft]` section: the paper's SFT settings by default."""

    learning_rate: float = setting(1e-5, positive(), "peak learning rate")
    weight_decay: float = setting(0.01, non_negative(), "AdamW weight decay")
    warmup_steps: int = setting(20, non_negative(), "linear warm-up steps")
    epochs: int = setting(5, positive(), "epochs over the cumulative set per cycle")
    later_epochs: int = setting(2, positive(), "epochs once the run is past `later_from_cycle`")
    later_from_cycle: int = setting(6, positive(), "first cycle that trains `later_epochs`")
    batch_size: int = setting(1, positive(), "per-device batch")
    grad_accum: int = setting(8, positive(), "gradient accumulation steps")
    max_length: int = setting(4096, positive(), "tokens per training example")
    optimizer: Optimizer = setting(
        "paged_adamw_8bit",
        None,
        "'paged_adamw_8bit' or 'adamw_8bit' (bitsandbytes; without CUDA or bitsandbytes they fall back to torch "
        "AdamW with a logged warning), or 'adamw' / 'adamw_torch' (torch AdamW)",
    )
    gradient_checkpointing: bool = setting(True, None, "trade compute for memory (on CUDA; the CPU never does)")
    bf16: bool = setting(True, None, "bf16 autocast (on CUDA; the CPU trains in fp32)")
    include_seed_pairs: bool = setting(True, None, "start the training set from the seed corpus")
    max_steps: int = setting(0, non_negative(), "cap on optimizer steps per cycle (0 = none; for time-boxed runs)")
    keep_adapters: int = setting(
        3,
        non_negative(),
        "adapters kept on disk: the last N cycles' (0 = all); the one the next cycle continues from and those marked "
        "with adapter.keep are never deleted",
    )

    def epochs_for(self, cycle: int) -> int:
        """The paper trains 5 epochs per cycle early on and 2 later."""
        return self.epochs if cycle < self.later_from_cycle else self.later_epochs
