"""What the sandbox costs: time from submit to the first training step, and a whole trivial evaluation.

    remote-python/.venv/bin/python bench/sandbox_overhead.py [--repeats 3]

A trivial net (pool + linear) on 32 synthetic images, so nearly all the time is the sandbox: a fresh interpreter
(`spawn`: imports torch, sets limits and Landlock) or a fork of the warm fork server (`fork`), against the same
evaluation in this process. Prints medians, with the in-process baseline and the ratio.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

from archloop.evaluation.data import cache_synthetic  # noqa: E402
from archloop.evaluation.evaluate import FAST, EvalTask, train_and_predict  # noqa: E402
from archloop.evaluation.launcher import SpawnLauncher  # noqa: E402
from archloop.evaluation.sandbox import (
    SandboxLimits,
    evaluate_candidate,
    make_fork_server,
    validate_candidate,
)  # noqa: E402
from bench_nets import TRIVIAL  # noqa: E402  (bench/ is sys.path[0] when a benchmark runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="sandbox-overhead-"))
    dataset = cache_synthetic(work / "data", n_train=32, n_test=32, seed=0)
    limits = SandboxLimits(timeout_s=300, scratch_root=None)
    task = EvalTask("trivial", TRIVIAL)

    namespace: dict = {}
    exec(compile(TRIVIAL, "trivial", "exec"), namespace)
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)  # the same torch._dynamo warm-up the fork server does
    local = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        train_and_predict(
            namespace,
            dataset.load_train(),
            dataset.load_test().images,
            FAST,
            torch.device("cpu"),
            0,
        )
        local.append(time.perf_counter() - started)

    started = time.perf_counter()
    server = make_fork_server()
    server_start = time.perf_counter() - started
    rows: list[tuple[str, float, float, float]] = []
    try:
        for name, launcher in (("spawn", SpawnLauncher()), ("fork", server)):
            first, total, validate = [], [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                result = evaluate_candidate(task, dataset, FAST, limits, launcher=launcher)
                total.append(time.perf_counter() - started)
                if result.outcome != "ok" or result.first_step_seconds is None:
                    print(f"{name}: {result.outcome} {result.message}", file=sys.stderr)
                    return 1
                first.append(result.first_step_seconds)
                started = time.perf_counter()
                validate_candidate(TRIVIAL, limits, launcher=launcher)
                validate.append(time.perf_counter() - started)
            rows.append(
                (
                    name,
                    statistics.median(first),
                    statistics.median(total),
                    statistics.median(validate),
                )
            )
    finally:
        server.close()

    base = statistics.median(local)
    print(f"# sandbox_overhead on {platform.machine()}, torch {torch.__version__}, median of {args.repeats}")
    print(f"fork server start-up (once per executor): {server_start:.2f} s")
    print(
        f"{'launcher':<10} {'submit->1st step s':>18} {'evaluation s':>12} {'validation s':>12} {'in-process s':>12} {'ratio':>7}"
    )
    for name, first, total, validate in rows:
        print(f"{name:<10} {first:>18.3f} {total:>12.3f} {validate:>12.3f} {base:>12.3f} {total / base:>6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
