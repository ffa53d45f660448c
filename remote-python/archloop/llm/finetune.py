"""LoRA fine-tuning on the cumulative prompt/completion set, continuing the previous cycle's adapter.

A plain PyTorch loop (readable, cancellable between micro-steps) with the paper's SFT settings. The loss covers the
completion tokens only: prompt positions get label -100. The adapter is saved with PEFT's `save_pretrained`, so
`generate.load_model(base, adapter_dir)` and the next cycle's `finetune(previous_adapter=...)` both load it.

Failures: a base model that does not load raises `generate.ModelLoadError`; an unusable previous adapter raises
ModelLoadError(kind='adapter'); no trainable pairs raises `FinetuneError`. Cancellation is not an error: the result
says `cancelled=True` and nothing is saved.

It reads the `[lora]` (LoraSettings) and `[sft]` (SftSettings) sections (llm/settings.py).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from archloop.callbacks import ProgressCallback, StopPredicate
from archloop.llm.generate import ModelLoadError, Quantization, load_base_model, resolve_device
from archloop.llm.settings import PAPER_TARGETS, LoraSettings, SftSettings
from archloop.llm.threads import cpu_threads

# PEFT (0.21) still reads `model.is_gradient_checkpointing`, which transformers 5 deprecates with a FutureWarning on
# every adapter load: noise in each cycle's log that the user cannot act on.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)

log = logging.getLogger(__name__)

# The paper's targets (Llama-family names, in settings.py), then other families' names for the same projections.
EQUIVALENT_TARGETS: tuple[tuple[str, ...], ...] = (
    ("c_attn", "c_proj", "c_fc"),  # GPT-2, StarCoder
    ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),  # GPT-NeoX, Falcon
    ("Wqkv", "out_proj", "fc1", "fc2"),  # MPT, Phi
    ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),  # Phi-3
)
IGNORE_INDEX = -100
ADAPTER_INFO_FILE = "archloop_finetune.json"


class FinetuneError(ValueError):
    """The fine-tuning request cannot be carried out (no usable pairs, no LoRA targets)."""


@dataclass
class FinetuneResult:
    """`adapter_dir` is None when cancelled (nothing saved). `steps` counts optimizer steps taken."""

    adapter_dir: Path | None
    steps: int
    final_loss: float
    seconds: float
    cancelled: bool
    examples: int
    skipped_examples: int
    tokens: int = 0  # tokens the steps trained on (padding excluded), for the run's cost accounting


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    labels: list[int]


def encode_pair(
    tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str, max_length: int
) -> EncodedExample | None:
    """Token ids and labels of one pair: prompt then completion + EOS, each tokenized alone as in sampling.

    Prompt labels are IGNORE_INDEX so only the completion is learned. A too-long pair keeps its whole prompt and
    loses the end of its completion; None if the prompt alone leaves no room for a single completion token.
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion_ids = [*completion_ids, tokenizer.eos_token_id]
    room = max_length - len(prompt_ids)
    if room < 1 or not completion_ids:
        return None
    completion_ids = completion_ids[:room]
    return EncodedExample(prompt_ids + completion_ids, [IGNORE_INDEX] * len(prompt_ids) + completion_ids)


def collate(examples: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch (training has no next-token column to align) with attention mask and -100 labels."""
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        mask[row, :length] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def find_lora_targets(model: nn.Module) -> list[str]:
    """Leaf names of the model's attention/MLP projections: the paper's names if present, else a known equivalent
    set, else every Linear layer except the output head. Raises FinetuneError if the model has no Linear layer."""
    from transformers.pytorch_utils import Conv1D

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear | Conv1D) and module is not output and name
    }
    paper = [name for name in PAPER_TARGETS if name in names]
    if paper:
        return paper
    for family in EQUIVALENT_TARGETS:
        found = [name for name in family if name in names]
        if found:
            return found
    if not names:
        raise FinetuneError("the model has no Linear layers for LoRA to adapt")
    return sorted(names)


def finetune(
    model_id_or_path: str | Path,
    pairs: Sequence[tuple[str, str]],
    *,
    out_dir: str | Path,
    previous_adapter: str | Path | None = None,
    settings: SftSettings | None = None,
    lora: LoraSettings | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    should_stop: StopPredicate | None = None,
    device: str | torch.device = "auto",
    quantization: Quantization = "none",
) -> FinetuneResult:
    """Train a LoRA adapter on `pairs` (prompt, completion) for `settings.epochs` and save it to `out_dir`.

    Continues `previous_adapter` (loaded trainable) when given, else starts a fresh adapter with `lora`.
    `on_progress(step, total_steps, loss, eta_seconds)` follows each optimizer step; `should_stop()` is polled before
    each micro-step. `seed` fixes the shuffle and the adapter's initialisation. See the module docstring for failures.
    """
    settings = settings or SftSettings()
    lora = lora or LoraSettings()
    target = resolve_device(device)
    model_id = str(model_id_or_path)
    started = time.perf_counter()
    model, tokenizer = load_base_model(model_id, device=target, quantization=quantization)
    examples = [encode_pair(tokenizer, p, c, settings.max_length) for p, c in pairs]
    usable = [e for e in examples if e is not None]
    if not usable:
        raise FinetuneError(f"none of the {len(pairs)} pairs fits max_length={settings.max_length} with a completion")
    on_cuda = target.type == "cuda"
    torch.manual_seed(seed)  # a fresh adapter's initial weights
    peft_model = _with_adapter(model, model_id, previous_adapter, settings, lora, quantization != "none", on_cuda)
    bf16 = on_cuda and settings.bf16
    optimizer = _optimizer(peft_model, settings, on_cuda)
    per_step = settings.batch_size * settings.grad_accum
    total = math.ceil(len(usable) * settings.epochs / per_step)
    if settings.max_steps:
        total = min(total, settings.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, min(settings.warmup_steps, total), total)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    peft_model.train()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    step, loss_value, cancelled, tokens = 0, float("nan"), False, 0
    loop_started = time.perf_counter()
    batches = _batches(usable, settings, rng)
    with cpu_threads(peft_model, target):
        while step < total and not cancelled:
            window_losses: list[float] = []
            for _ in range(settings.grad_accum):
                if should_stop is not None and should_stop():
                    cancelled = True
                    break
                batch = {k: v.to(target) for k, v in collate(next(batches), pad_id).items()}
                tokens += int(batch["attention_mask"].sum())
                with torch.autocast(device_type=target.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = peft_model(**batch).loss
                (loss / settings.grad_accum).backward()
                window_losses.append(float(loss.detach()))
            if cancelled:
                break
            torch.nn.utils.clip_grad_norm_([p for p in peft_model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = sum(window_losses) / len(window_losses)
            if on_progress is not None:
                elapsed = time.perf_counter() - loop_started
                on_progress(step, total, loss_value, elapsed / step * (total - step))
    skipped = len(examples) - len(usable)
    if cancelled:
        return FinetuneResult(
            None, step, loss_value, time.perf_counter() - started, True, len(usable), skipped, tokens=tokens
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out))
    info = {
        "base_model": model_id,
        "previous_adapter": str(previous_adapter) if previous_adapter else None,
        "steps": step,
        "final_loss": loss_value,
        "examples": len(usable),
        "settings": asdict(settings),
        "lora": asdict(lora),
        "seed": seed,
    }
    (out / ADAPTER_INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return FinetuneResult(out, step, loss_value, time.perf_counter() - started, False, len(usable), skipped, tokens)


def _with_adapter(
    model: PreTrainedModel,
    model_id: str,
    previous_adapter: str | Path | None,
    settings: SftSettings,
    lora: LoraSettings,
    quantized: bool,
    on_cuda: bool,
) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    checkpointing = on_cuda and settings.gradient_checkpointing
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        # Frozen embeddings would give checkpointed blocks inputs without grad, and LoRA weights no gradient.
        model.enable_input_require_grads()
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if previous_adapter is not None:
        adapter = Path(previous_adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ModelLoadError(
                model_id, "adapter", f"{adapter} has no adapter_config.json", "Pass the previous cycle's adapter dir."
            )
        try:
            return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        except (ValueError, OSError, RuntimeError, KeyError, TypeError) as error:
            raise ModelLoadError(
                model_id, "adapter", f"adapter {adapter} does not fit this model ({error})", "Start a fresh adapter."
            ) from error
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias="none",
        target_modules=list(lora.target_modules or find_lora_targets(model)),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _optimizer(model: nn.Module, settings: SftSettings, on_cuda: bool) -> torch.optim.Optimizer:
    """The configured optimizer; the 8-bit ones fall back to torch AdamW (with a warning) where bitsandbytes or CUDA
    is missing, so a paper config still trains on a CPU host. An unknown name is a FinetuneError."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    choice = settings.optimizer
    if choice in ("paged_adamw_8bit", "adamw_8bit"):
        if on_cuda and importlib.util.find_spec("bitsandbytes") is not None:
            import bitsandbytes as bnb

            cls = bnb.optim.PagedAdamW8bit if choice == "paged_adamw_8bit" else bnb.optim.AdamW8bit
            return cls(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        missing = "CUDA" if not on_cuda else "bitsandbytes (pip install 'archloop[gpu]')"
        log.warning("[sft] optimizer %r needs %s; training with torch AdamW instead", choice, missing)
    elif choice not in ("adamw", "adamw_torch"):
        raise FinetuneError(
            f"unknown optimizer {choice!r}: use 'paged_adamw_8bit', 'adamw_8bit', 'adamw' or 'adamw_torch'"
        )
    return torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def _batches(examples: list[EncodedExample], settings: SftSettings, rng: random.Random) -> Any:
    """Endless micro-batches: each epoch is a fresh shuffle of the whole cumulative set."""
    while True:
        order = examples[:]
        rng.shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            yield order[start : start + settings.batch_size]
