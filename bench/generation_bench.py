"""Batched vs one-by-one candidate generation throughput on a tiny Llama, on this machine's CPU.

Run: remote-python/.venv/bin/python bench/generation_bench.py [--candidates 8] [--new-tokens 96] [--threads 1]

The model has the demo model's shape with random weights (what matters here is the decoding loop, not quality) and a
tokenizer trained on the seed corpus; every row is forced to the same length (EOS suppressed), so both modes do the
same work. Prints a table with the one-by-one baseline beside batched sampling (with and without live streaming)
and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

import torch  # noqa: E402
from archloop.llm.demo_model import DemoModelConfig, default_corpus, save_untrained_model  # noqa: E402
from archloop.llm.generate import GenerationSettings, Generator, LoadedModel, load_model  # noqa: E402


def suppress_eos(loaded: LoadedModel) -> None:
    """Every row runs to max_new_tokens, so batched and sequential runs generate the same number of tokens."""
    eos = loaded.tokenizer.eos_token_id

    def hook(module: torch.nn.Module, args: tuple[object, ...], out: torch.Tensor) -> torch.Tensor:
        out[..., eos] = -1e4
        return out

    loaded.model.lm_head.register_forward_hook(hook)


def measure(
    loaded: LoadedModel, candidates: int, batch_size: int, new_tokens: int, stream: bool
) -> tuple[int, float, float]:
    """(tokens, wall seconds, CPU seconds of this process): CPU time stays meaningful on a machine shared with others."""
    settings = GenerationSettings(max_new_tokens=new_tokens, batch_size=batch_size)
    deltas = {"n": 0}

    def on_delta(index: int, text: str) -> None:
        deltas["n"] += 1

    started, cpu_started = time.perf_counter(), time.process_time()
    results = Generator(loaded, settings).generate(candidates, on_delta=on_delta if stream else None, seed=0)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return sum(r.tokens for r in results), seconds, cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = DemoModelConfig()
    with tempfile.TemporaryDirectory() as folder:
        save_untrained_model(Path(folder), default_corpus(), config)
        loaded = load_model(folder, device="cpu")
    suppress_eos(loaded)
    prompt_tokens = len(loaded.tokenizer(Generator(loaded).prompt_text, add_special_tokens=False)["input_ids"])
    params = sum(p.numel() for p in loaded.model.parameters())
    measure(loaded, 1, 1, 8, stream=False)  # warm-up: first-call allocations are not throughput

    rows = [
        ("one by one (baseline)", 1, False),
        (f"batched x{args.candidates}", args.candidates, False),
        (f"batched x{args.candidates} + streaming", args.candidates, True),
    ]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"model: Llama {params / 1e6:.2f}M params (demo shape, random weights); prompt {prompt_tokens} tokens")
    print(f"{args.candidates} candidates x {args.new_tokens} new tokens\n")
    header = f"{'mode':<32} {'tokens':>7} {'wall s':>7} {'tokens/s':>9} {'vs base':>8} {'CPU s':>7} {'tok/CPU-s':>10} {'vs base':>8}"
    print(header)
    baseline = cpu_baseline = None
    for name, batch_size, stream in rows:
        tokens, seconds, cpu_seconds = measure(loaded, args.candidates, batch_size, args.new_tokens, stream)
        rate, cpu_rate = tokens / seconds, tokens / cpu_seconds
        baseline, cpu_baseline = baseline or rate, cpu_baseline or cpu_rate
        print(
            f"{name:<32} {tokens:>7} {seconds:>7.2f} {rate:>9.1f} {rate / baseline:>7.2f}x "
            f"{cpu_seconds:>7.2f} {cpu_rate:>10.1f} {cpu_rate / cpu_baseline:>7.2f}x"
        )


if __name__ == "__main__":
    main()
