"""Real-stage run configurations for the end-to-end tests, and the one stand-in they need.

Everything is the product's own code (transformers + PEFT on a tiny random Llama with a locally trained tokenizer,
the sandbox, the executor on synthetic data, MinHash novelty) except `SeedVariantStages.generate`: a code LLM
that writes VALID nets cannot exist here (no hub download, no GPU to train one), and a random tiny model writes
none, so that one stage replays width-rescaled seed nets to drive valid code through the real downstream stages.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from archloop.corpus.seeds import load_seed_corpus
from archloop.llm.demo_model import rescale_widths, strip_seed_header
from archloop.run.llm_stages import LlmStages
from archloop.run.stages import CodeCheck, DeltaCallback, GeneratedCode, StopPredicate


def real_config(model_dir: Path, cache_dir: Path, cycles: int = 2, candidates: int = 3) -> dict[str, Any]:
    return {
        "run": {"name": "e2e", "cycles": cycles, "candidates_per_cycle": candidates, "cache_dir": str(cache_dir)},
        "model": {"id": str(model_dir), "quantization": "none", "device": "cpu"},
        "generation": {"max_new_tokens": 24, "batch_size": candidates, "max_retries": 0},
        # Seed variants keep their seed's structure, so the selection-time structural dedup would drop them all.
        "novelty": {"threshold": 0.97, "structural_dedup": False},
        "evaluation": {
            "protocol": "fast",
            "data": "synthetic",
            "synthetic_train": 128,
            "synthetic_test": 64,
            "time_limit_s": 120.0,
            "workers": 1,
        },
        "selection": {"threshold": 0.0, "fallback_threshold": 0.0, "min_selected": 2},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "sft": {
            "learning_rate": 1e-3,
            "warmup_steps": 0,
            "epochs": 1,
            "later_epochs": 1,
            "batch_size": 1,
            "grad_accum": 1,
            "max_length": 2048,
            "max_steps": 2,
            "optimizer": "adamw",
            "gradient_checkpointing": False,
            "bf16": False,
        },
    }


def toml_text(data: dict[str, Any]) -> str:
    import json

    lines = []
    for table, values in data.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


class SeedVariantStages(LlmStages):
    """LlmStages whose generation replays rescaled seed nets (see the module docstring for why)."""

    def generate(
        self,
        count: int,
        adapter_dir: Path | None,
        on_delta: DeltaCallback,
        check: CodeCheck | None,
        should_stop: StopPredicate,
        seed: int = 0,
    ) -> list[GeneratedCode]:
        seeds = [strip_seed_header(s.code) for s in load_seed_corpus() if s.name in ("lenet", "alexnet_style")]
        counter = self.run_dir / "variant-counter"
        out = []
        for position in range(count):
            if should_stop():
                break
            serial = int(counter.read_text()) if counter.exists() else 0
            counter.write_text(str(serial + 1))
            rng = random.Random(serial)
            code = rescale_widths(seeds[serial % len(seeds)], rng.choice((0.5, 0.75)))
            on_delta(position, code, True)
            out.append(GeneratedCode(position, code, 1, len(code) // 4, 0.0))
            time.sleep(0.05)
        return out
