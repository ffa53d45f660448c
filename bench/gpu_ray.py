"""GPU check for the Ray executor: several concurrent candidates per GPU, Ray against the local executor.

    remote-python/.venv/bin/python bench/gpu_ray.py [--candidates 16] [--per-gpu 1 2 4] [--train 10000]

On a GPU host with `archloop[ray]` installed. Starts a local Ray instance over this host's GPUs (or joins
RAY_ADDRESS), then for each K in --per-gpu evaluates the same batch of seed nets (`fast` protocol, synthetic
CIFAR-shaped data, no download) with num_gpus = 1/K per Ray task, and with LocalExecutor(workers=K) on every GPU as
the baseline. Checks that every candidate trained on a GPU inside the sandbox (its notes name the cuda device) and
prints candidates/min per set-up. About 3-5 minutes on one H100/H200 with the defaults.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.data import cache_synthetic  # noqa: E402
from archloop.evaluation.evaluate import FAST, EvalResult, EvalTask  # noqa: E402
from archloop.evaluation.executor import Executor, LocalExecutor  # noqa: E402
from archloop.evaluation.ray_executor import DataSpec, RayExecutor, RaySettings  # noqa: E402
from archloop.evaluation.sandbox import SandboxLimits  # noqa: E402

NETS = ("lenet", "resnet_basic", "alexnet_style", "network_in_network")
SEED = 11


def timed(executor: Executor, tasks: list[EvalTask]) -> tuple[float, list[EvalResult]]:
    started = time.perf_counter()
    results = list(executor.map_unordered(tasks))
    return time.perf_counter() - started, results


def check(name: str, results: list[EvalResult], tasks: list[EvalTask], on_ray: bool) -> str:
    if sorted(r.candidate for r in results) != sorted(t.candidate for t in tasks):
        return f"{name}: results do not match the batch (lost or repeated candidates)"
    bad = [(r.candidate, r.outcome, (r.message or "")[:120]) for r in results if r.outcome != "ok"]
    if bad:
        return f"{name}: {len(bad)} failed: {bad[:3]}"
    if on_ray and not all(any("cuda:" in n for n in r.notes) for r in results):
        return f"{name}: some candidates did not run on a GPU: {[r.notes for r in results][:3]}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for a GPU host (bench/ray_bench.py runs on CPUs)")
    import ray

    gpus = torch.cuda.device_count()
    seeds = {s.name: s.code for s in load_seed_corpus()}
    batch = [EvalTask(f"c{i}", seeds[NETS[i % len(NETS)]], seed=i) for i in range(args.candidates)]
    warm = [EvalTask(f"w{i}", seeds["lenet"], seed=100 + i) for i in range(gpus * max(args.per_gpu))]
    rows: list[tuple[str, float]] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "scratch").mkdir()
        limits = SandboxLimits(timeout_s=600, memory_mb=16384, scratch_root=root / "scratch")
        files = cache_synthetic(root / "data", args.train, args.test, SEED)
        spec = DataSpec("synthetic", str(root / "data"), n_train=args.train, n_test=args.test, seed=SEED)
        devices = [f"cuda:{i}" for i in range(gpus)]
        for k in args.per_gpu:
            with LocalExecutor(files, FAST, limits, workers=k, devices=devices) as local:
                timed(local, warm[: gpus * k])
                seconds, results = timed(local, batch)
            problems.append(check(f"local x{k}", results, batch, on_ray=False))
            rows.append((f"local, {k} per GPU", seconds))
        if not os.environ.get("RAY_ADDRESS"):
            ray.init(num_gpus=gpus, num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        try:
            for k in args.per_gpu:
                settings = RaySettings(num_cpus=max(1, (os.cpu_count() or 2) // (gpus * k) // 2), num_gpus=1 / k)
                with RayExecutor(spec, FAST, limits, settings) as executor:
                    timed(executor, warm[: gpus * k])
                    seconds, results = timed(executor, batch)
                problems.append(check(f"ray x{k}", results, batch, on_ray=True))
                rows.append((f"ray, num_gpus=1/{k}", seconds))
        finally:
            ray.shutdown()
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(gpus))
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, {gpus} GPU(s): {names}; torch {torch.__version__}")
    print(f"batch: {args.candidates} seed nets ({', '.join(NETS)}), fast protocol, {args.train}/{args.test} images")
    print(f"{'executor':<24}{'batch s':>9}{'cand/min':>10}")
    for name, seconds in rows:
        print(f"{name:<24}{seconds:>9.1f}{args.candidates / seconds * 60:>10.1f}")
    for p in filter(None, problems):
        print("PROBLEM:", p)


if __name__ == "__main__":
    main()
