"""Throughput of the Ray executor against the local one on the same batch, and Ray's per-task overhead.

    remote-python/.venv/bin/python bench/ray_bench.py [--candidates 8] [--repeats 3]

Three set-ups on this host, each warmed up first (Ray workers and fork servers started, data decoded), then timed
on the same batch of LeNet candidates (`fast` protocol, 256 synthetic training images, 64 test):
- local: LocalExecutor, one worker per core (the baseline);
- ray 1 node: a Ray node with all the cores, one CPU per task;
- ray 2 nodes: two Ray nodes (ray.cluster_utils.Cluster) with half the cores each.
Per-task overhead: the median latency of ONE candidate at a time, a trivial net (pool + linear) whose evaluation is
nearly all sandbox, Ray against local, and of a candidate the static check stops (no sandbox process at all: the
pure Ray round trip). On a shared machine, read throughput as indicative; the overhead figures are medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

import ray  # noqa: E402
from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.data import cache_synthetic  # noqa: E402
from archloop.evaluation.evaluate import FAST, EvalTask  # noqa: E402
from archloop.evaluation.executor import Executor, LocalExecutor  # noqa: E402
from archloop.evaluation.ray_executor import DataSpec, RayExecutor, RaySettings  # noqa: E402
from archloop.evaluation.sandbox import SandboxLimits  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

LENET = next(s.code for s in load_seed_corpus() if s.name == "lenet")
from bench_nets import TRIVIAL  # noqa: E402  (bench/ is sys.path[0] when a benchmark runs)

N_TRAIN, N_TEST, SEED = 256, 64, 7


def run_batch(executor: Executor, tasks: list[EvalTask]) -> float:
    started = time.perf_counter()
    results = list(executor.map_unordered(tasks))
    seconds = time.perf_counter() - started
    bad = [r for r in results if r.outcome != "ok"]
    if bad or len(results) != len(tasks):
        raise SystemExit(f"batch failed: {[(r.candidate, r.outcome, r.message) for r in bad]}")
    return seconds


def latency(executor: Executor, make: Callable[[int], EvalTask], repeats: int) -> float:
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        list(executor.map_unordered([make(i)]))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(name: str, executor: Executor, batch: list[EvalTask], repeats: int) -> dict[str, float | str]:
    run_batch(executor, [EvalTask(f"warm{i}", LENET, seed=100 + i) for i in range(os.cpu_count() or 1)])
    seconds = min(run_batch(executor, batch) for _ in range(repeats))
    trivial = latency(executor, lambda i: EvalTask(f"t{i}", TRIVIAL, seed=i), repeats + 2)
    stopped = latency(executor, lambda i: EvalTask(f"x{i}", "def f(:\n"), repeats + 4)
    return {
        "name": name,
        "seconds": seconds,
        "per_min": len(batch) / seconds * 60,
        "trivial": trivial,
        "static": stopped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    batch = [EvalTask(f"c{i}", LENET, seed=i) for i in range(args.candidates)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        limits = SandboxLimits(timeout_s=300, memory_mb=3072, scratch_root=root / "scratch")
        (root / "scratch").mkdir()
        spec = DataSpec("synthetic", str(root / "data"), n_train=N_TRAIN, n_test=N_TEST, seed=SEED)
        with LocalExecutor(cache_synthetic(root / "data", N_TRAIN, N_TEST, SEED), FAST, limits, workers=cores) as local:
            rows.append(measure(f"local, {cores} workers", local, batch, args.repeats))
        for nodes in (1, 2):
            per_node = max(1, cores // nodes)
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": per_node})
            try:
                for _ in range(nodes - 1):
                    cluster.add_node(num_cpus=per_node)
                cluster.wait_for_nodes()
                ray.init(address=cluster.address, log_to_driver=False)
                with RayExecutor(spec, FAST, limits, RaySettings(num_cpus=1, num_gpus=0)) as executor:
                    rows.append(measure(f"ray, {nodes} node(s) x {per_node} CPU", executor, batch, args.repeats))
            finally:
                ray.shutdown()
                cluster.shutdown()
    print(f"{platform.machine()}, {cores} CPUs, {platform.python_version()}, ray {ray.__version__}")
    print(
        f"batch: {args.candidates} x LeNet, fast protocol, {N_TRAIN} train / {N_TEST} test images; best of {args.repeats}"
    )
    base = rows[0]
    print(f"{'executor':<26}{'batch s':>9}{'cand/min':>10}{'vs local':>10}{'1 trivial s':>13}{'1 static s':>12}")
    for r in rows:
        ratio = float(r["per_min"]) / float(base["per_min"])
        print(
            f"{r['name']:<26}{r['seconds']:>9.1f}{r['per_min']:>10.1f}{ratio:>9.2f}x"
            f"{r['trivial']:>13.2f}{r['static']:>12.3f}"
        )
    for r in rows[1:]:
        print(
            f"per-task overhead of {r['name']}: +{float(r['trivial']) - float(base['trivial']):.2f} s per sandboxed "
            f"candidate, +{float(r['static']) - float(base['static']):.3f} s round trip without a sandbox"
        )


if __name__ == "__main__":
    main()
