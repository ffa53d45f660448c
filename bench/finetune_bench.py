"""LoRA SFT throughput of the product's `finetune()` (llm/finetune.py) at the demo preset's settings, on the CPU:
the current batching (a fresh shuffle, consecutive pairs form a batch, right-padded) against length-grouped batching
(shuffle, then pairs of similar length share a batch; batch order shuffled), which pads less. Same model, pairs,
settings and per-batch loss (mean over completion tokens); only which pairs share a batch differs.

  python bench/finetune_bench.py [--steps 24] [--pairs 64]

Prints real (unpadded) tokens/s, padded share and steps/s for each, and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

import archloop.llm.finetune as ft  # noqa: E402
from archloop.config import load_config  # noqa: E402
from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.llm.demo_corpus import sample_family_net  # noqa: E402
from archloop.llm.demo_model import ensure_demo_model, models_dir, strip_seed_header  # noqa: E402
from archloop.llm.prompts import training_pair  # noqa: E402


def grouped_batches(examples, settings, rng):
    """Shuffle, cut into windows of 16 batches, sort each window by length, batch it, shuffle the batch order."""
    size = settings.batch_size
    while True:
        order = examples[:]
        rng.shuffle(order)
        batches = []
        window = size * 16
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda e: len(e.input_ids))
            batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        rng.shuffle(batches)
        yield from batches


def measure(name: str, model: Path, pairs, config, steps: int, batches=None) -> float:
    counts = {"real": 0, "padded": 0}
    original_collate, original_batches = ft.collate, ft._batches

    def counting_collate(examples, pad_id):
        out = original_collate(examples, pad_id)
        counts["real"] += int(out["attention_mask"].sum())
        counts["padded"] += out["attention_mask"].numel()
        return out

    ft.collate = counting_collate
    if batches is not None:
        ft._batches = batches
    stamps: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = ft.finetune(
                model, pairs, out_dir=Path(tmp) / "a", settings=dataclasses.replace(config.sft, max_steps=steps),
                lora=config.lora, seed=1, device="cpu",
                on_progress=lambda *_: stamps.append(time.perf_counter()),
            )
    finally:
        ft.collate, ft._batches = original_collate, original_batches
    seconds = stamps[-1] - stamps[0]  # steps 2..N: set-up and the first step left out
    share = 1 - counts["real"] / counts["padded"]
    real_per_step = counts["real"] / len(stamps)
    rate = real_per_step * (len(stamps) - 1) / seconds
    print(f"{name:>16}: {rate:7.0f} real tokens/s, {share:5.1%} padding, {(len(stamps) - 1) / seconds:.2f} steps/s, "
          f"loss {result.final_loss:.3f}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--pairs", type=int, default=64)
    args = parser.parse_args()
    config = load_config(preset="demo")
    model = ensure_demo_model(models_dir())
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    rng = random.Random(0)
    codes = [strip_seed_header(s.code) for s in load_seed_corpus()]
    codes += [sample_family_net(rng) for _ in range(args.pairs - len(codes))]
    pairs = [tuple(training_pair(code, tokenizer)) for code in codes]
    lengths = sorted(len(tokenizer(p + c)["input_ids"]) for p, c in pairs)
    print(f"demo settings: batch {config.sft.batch_size} x accum {config.sft.grad_accum}, max_length "
          f"{config.sft.max_length}; {len(pairs)} pairs of {lengths[0]}-{lengths[-1]} tokens (median "
          f"{lengths[len(lengths) // 2]})")
    current = measure("current", model, pairs, config, args.steps)
    grouped = measure("length-grouped", model, pairs, config, args.steps, grouped_batches)
    print(f"length-grouped / current: {grouped / current:.2f}x")


if __name__ == "__main__":
    main()
