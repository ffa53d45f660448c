"""What a run spends: device time, tokens and wall time per stage and per cycle, and the `[run] budget_*` caps.

Device-seconds are the time a device was held for the run's work: the LLM while it samples (the generation stage's
seconds) and fine-tunes (the fine-tune stage's seconds), and each evaluated candidate while it trains and is tested
(its train + test seconds; candidates on parallel slots add up, as GPU-hours do). On a host whose work runs on the
CPU they are CPU-seconds, and every record says which (`llmDevice`, `evalDevice`).

Everything is computed from the store (RunStore.cost_totals), so a resumed run counts what it spent before the
crash; only the stage that is running now adds its not yet committed seconds (`pending`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archloop.config import RunConfig, RunSettings

# The paper's quality bar for "a novel net": the ≥ 40 % column of its table, independent of the selection threshold.
NOVEL_ACCURACY = 40.0
# Stages whose seconds are device time of the LLM (evaluation counts each candidate's own time instead).
_LLM_STAGES = ("generate", "finetune")


def device_kind(devices: Sequence[str]) -> str:
    """'gpu' when the work runs on a CUDA device, else 'cpu'; 'auto' and an empty list mean CUDA when present."""
    if any(d.startswith("cuda") for d in devices):
        return "gpu"
    if devices and all(d == "cpu" for d in devices):
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "gpu" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Devices:
    llm: str  # where generation and fine-tuning run: 'gpu' or 'cpu'
    evaluation: str  # where candidates train

    @classmethod
    def of(cls, config: RunConfig) -> Devices:
        return cls(device_kind([config.model.device]), device_kind(list(config.evaluation.devices)))


def _stage(totals: Mapping[str, float], name: str) -> float:
    return totals.get(f"stage:{name}", 0.0)


def device_seconds(totals: Mapping[str, float], pending: Mapping[str, float] | None = None) -> float:
    llm = sum(_stage(totals, s) + (pending or {}).get(s, 0.0) for s in _LLM_STAGES)
    return llm + totals.get("eval_device_seconds", 0.0)


def cycle_cost(totals: Mapping[str, float], devices: Devices, pairs: int) -> dict[str, Any]:
    """cycle.finished's `cost` (the wire CycleCost) from one cycle's cost_totals."""
    spent = device_seconds(totals)
    novel40 = int(totals.get("novel40", 0))
    generated, trained = int(totals.get("tokens", 0)), int(totals.get("trained_tokens", 0))
    return {
        "llmDevice": devices.llm,
        "evalDevice": devices.evaluation,
        "generation": {"seconds": round(_stage(totals, "generate"), 3), "tokens": generated},
        "validation": {"seconds": round(_stage(totals, "validate"), 3)},
        "novelty": {
            "seconds": round(_stage(totals, "novelty"), 3),
            "checked": int(totals.get("checked", 0)),
            "novel": int(totals.get("novel", 0)),
        },
        "evaluation": {
            "seconds": round(_stage(totals, "evaluate"), 3),
            "deviceSeconds": round(totals.get("eval_device_seconds", 0.0), 3),
            "evaluated": int(totals.get("evaluated", 0)),
        },
        "finetune": {"seconds": round(_stage(totals, "finetune"), 3), "tokens": trained, "pairs": pairs},
        "deviceSeconds": round(spent, 3),
        "tokens": generated + trained,
        "novel40": novel40,
        "deviceSecondsPerNovel40": round(spent / novel40, 3) if novel40 else None,
    }


def _hours(hours: float) -> str:
    return f"{hours:.2f}" if hours >= 0.1 else f"{hours:.3f}"  # a small test budget still shows what was spent


def budget_reason(
    run: RunSettings, totals: Mapping[str, float], devices: Devices, pending: Mapping[str, float] | None = None
) -> str | None:
    """The run.finished detail naming the first `[run] budget_*` the run has reached, or None (0 = no budget)."""
    pending = pending or {}
    if run.budget_gpu_hours > 0:
        hours = device_seconds(totals, pending) / 3600
        if hours >= run.budget_gpu_hours:
            unit = "GPU" if "gpu" in (devices.llm, devices.evaluation) else "CPU"
            return f"budget: {run.budget_gpu_hours:g} {unit}-hours reached after {_hours(hours)} h"
    if run.budget_tokens > 0:
        tokens = int(totals.get("tokens", 0) + totals.get("trained_tokens", 0) + pending.get("tokens", 0))
        if tokens >= run.budget_tokens:
            return f"budget: {run.budget_tokens:,} tokens reached after {tokens:,} tokens"
    if run.budget_wall_hours > 0:
        working = sum(v for k, v in totals.items() if k.startswith("stage:")) + sum(
            v for k, v in pending.items() if k != "tokens"
        )
        hours = working / 3600
        if hours >= run.budget_wall_hours:
            return f"budget: {run.budget_wall_hours:g} wall-hours reached after {_hours(hours)} h"
    return None
