"""How good is the embedded demo model? Build (or reuse) it, sample candidates with the paper's prompt and decoding,
and report how many pass the static contract check, how many build and forward, and how many are novel.

Run: remote-python/.venv/bin/python bench/demo_model_bench.py [--candidates 16] [--pretrain-seconds 300]

Generated code runs only in a child process with a timeout (it is untrusted model output).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

from archloop.evaluation.contract import check_source  # noqa: E402
from archloop.llm.demo_model import (  # noqa: E402
    INFO_FILE,
    DemoModelConfig,
    default_corpus,
    ensure_demo_model,
    models_dir,
    printing_progress,
)
from archloop.llm.generate import GenerationSettings, Generator, load_model  # noqa: E402
from archloop.novelty.minhash import MinHashIndex  # noqa: E402

BUILD_AND_FORWARD = """
import sys, torch
torch.set_num_threads(1)
namespace = {}
exec(compile(sys.stdin.read(), "<candidate>", "exec"), namespace)
net = namespace["Net"]((1, 3, 32, 32), (10,), {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "weight_decay": 0.0},
                       torch.device("cpu"))
out = net.eval()(torch.zeros(1, 3, 32, 32))
assert tuple(out.shape) == (1, 10), tuple(out.shape)
print(sum(p.numel() for p in net.parameters()))
"""


def builds_in_child(code: str) -> int | None:
    """Parameter count if the candidate builds and maps (1,3,32,32) to (1,10) in a child process, else None."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", BUILD_AND_FORWARD], input=code, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return None
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cache-dir", default=str(models_dir()))  # where the demo runs keep theirs
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=1024)
    parser.add_argument("--pretrain-seconds", type=float, default=None, help="override the build's time cap")
    parser.add_argument("--steps", type=int, default=None, help="override the build's step count")
    parser.add_argument("--temperature", type=float, default=None, help="default: the paper's 0.7")
    parser.add_argument("--top-k", type=int, default=None, help="default: the paper's 100")
    parser.add_argument("--baseline", action="store_true", help="also build and sample a seeds-only model")
    parser.add_argument("--save", default=None, help="write the candidates' code and verdicts to this JSON file")
    args = parser.parse_args()
    config = DemoModelConfig()
    if args.pretrain_seconds is not None:
        config = replace(config, max_seconds=args.pretrain_seconds)
    if args.steps is not None:
        config = replace(config, steps=args.steps)

    results = {"demo model": measure(config, args)}
    if args.baseline:
        # The same recipe without the procedural family: what the seeds and their variants alone teach.
        results["baseline: seeds only"] = measure(replace(config, family_nets=0), args)
        ours, base = results["demo model"], results["baseline: seeds only"]
        for key, label in (
            ("valid", "valid nets (build + forward, <= 300k params)"),
            ("novel_valid", "valid and novel"),
        ):
            ratio = ours[key] / base[key] if base[key] else float("inf")
            print(
                f"{label}: demo model {ours[key]}/{ours['n']}, seeds only {base[key]}/{base['n']}; ratio {ratio:.1f}x"
            )
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=2))


def measure(config: DemoModelConfig, args: argparse.Namespace) -> dict:
    """Build (or reuse) the model of `config`, sample, and print and return what the candidates are worth."""
    model_dir = ensure_demo_model(args.cache_dir, on_progress=printing_progress(30.0), config=config)
    info = json.loads((model_dir / INFO_FILE).read_text())
    print(
        f"demo model {model_dir}: {info['parameters'] / 1e6:.2f}M params, {info['examples']} training examples, "
        f"{info['steps']} steps in {info['seconds']} s ({info.get('threads')} threads), final loss {info['final_loss']:.3f}"
    )

    loaded = load_model(model_dir, device="cpu")
    settings = GenerationSettings(max_new_tokens=args.new_tokens, batch_size=8, max_retries=0)
    if args.temperature is not None:
        settings = replace(settings, temperature=args.temperature)
    if args.top_k is not None:
        settings = replace(settings, top_k=args.top_k)
    sampling_started = time.perf_counter()
    results = Generator(loaded, settings).generate(args.candidates, seed=0)
    sampling_seconds = time.perf_counter() - sampling_started

    seeds = default_corpus()
    index = MinHashIndex()
    index.add_many((f"seed-{i}", code) for i, code in enumerate(seeds))
    rows = []
    for result in results:
        report = check_source(result.code)
        params = builds_in_child(result.code) if report.ok else None
        novelty = index.query(result.code)
        rows.append(
            {
                "index": result.index,
                "tokens": result.tokens,
                "finish": result.finish_reason,
                "contract_ok": report.ok,
                "problem": report.message,
                "builds": params is not None,
                "params": params,
                "max_jaccard": round(novelty.max_jaccard, 3),
                "novel": novelty.novel,
                "code": result.code,
            }
        )
    n = len(rows)
    contract_ok = sum(r["contract_ok"] for r in rows)
    builds = sum(r["builds"] for r in rows)
    fits = sum(r["builds"] and (r["params"] or 0) <= 300_000 for r in rows)
    novel_valid = sum(r["builds"] and r["novel"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    print(
        f"\nsampled {n} candidates ({tokens} tokens) in {sampling_seconds:.1f} s = {tokens / sampling_seconds:.1f} tokens/s"
    )
    print(f"{'measure':<40} {'count':>6} {'share':>7}")
    for name, count in [
        ("ended with EOS (not cut at max tokens)", sum(r["finish"] == "eos" for r in rows)),
        ("pass static contract check", contract_ok),
        ("build + forward (1,3,32,32)->(1,10)", builds),
        ("... and <= 300k params", fits),
        ("valid and novel (MinHash < 0.85 vs seeds)", novel_valid),
    ]:
        print(f"{name:<40} {count:>6} {count / max(1, n):>6.0%}")
    for r in rows:
        print(
            f"  #{r['index']:<3} tokens {r['tokens']:>5} contract {'ok ' if r['contract_ok'] else 'bad'} "
            f"builds {'yes' if r['builds'] else 'no '} J={r['max_jaccard']:.2f} {r['problem'] or ''}"[:150]
        )
    return {"n": n, "valid": fits, "novel_valid": novel_valid, "info": info, "rows": rows}


if __name__ == "__main__":
    main()
