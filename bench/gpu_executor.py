"""GPU check of the path a real run takes: LocalExecutor's fork server and sandbox on a GPU, for speed and for safety.

    PYTHONPATH=remote-python python bench/gpu_executor.py     # on a GPU host; torch + numpy only; ~3 min on an H200
    PYTHONPATH=remote-python python bench/gpu_executor.py --device cpu --images 512,128 --workers 2   # check on a CPU

1. Throughput: the seed nets (one per family) under the `paper` protocol on synthetic CIFAR-shaped images, through
   LocalExecutor on one device, one candidate at a time (the baseline: the paper evaluates one model at a time) and
   then N at a time (`--workers`), the GPU shared by memory fraction. Each set-up is warmed up first (fork server
   started, one candidate run), then timed on the whole batch: candidates/min, and the ratio to one at a time.
2. Hostile candidates on the device: every file in remote-python/tests/hostile through the same executor, several at a
   time, each outcome checked against its `# expect:` line; and a GPU-memory hog that asks for half the card while
   its share is 0.9/N of it (expected `out_of_memory`; four LeNets in the batch must still come back `ok`).
   Exit status 1 on any mismatch.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python" / "tests"))  # the hostile corpus

from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.contract import check_source  # noqa: E402
from archloop.evaluation.data import cache_synthetic  # noqa: E402
from archloop.evaluation.evaluate import FAST, PAPER, EvalTask  # noqa: E402
from archloop.evaluation.executor import LocalExecutor  # noqa: E402
from archloop.evaluation.sandbox import SandboxLimits  # noqa: E402
from bench_nets import GPU_HOG  # noqa: E402  (bench/ is sys.path[0] when a benchmark runs)
from hostile_corpus import header, hostile_code, hostile_files, segfault_with_hidden_import  # noqa: E402


def timed_batch(executor: LocalExecutor, tasks: list[EvalTask]) -> tuple[float, list]:
    started = time.perf_counter()
    results = list(executor.map_unordered(tasks))
    return time.perf_counter() - started, results


def throughput(args: argparse.Namespace, dataset, limits: SandboxLimits, protocol) -> None:
    seeds = load_seed_corpus()
    tasks = [EvalTask(s.name, s.code) for s in seeds]
    print(f"\n== throughput: {len(tasks)} seed nets, {protocol.name} protocol, {args.images} images, on {args.device}")
    print(f"{'at a time':>9} {'seconds':>8} {'cand/min':>9} {'vs 1':>6} {'ok':>6} {'mean acc':>8} {'first step s':>12}")
    baseline = None
    for workers in [1, *(int(w) for w in args.workers.split(",") if int(w) > 1)]:
        with LocalExecutor(dataset, protocol, limits, workers=workers, devices=[args.device]) as executor:
            timed_batch(executor, tasks[:1])  # warm-up: fork server, first CUDA context, cuDNN
            seconds, results = timed_batch(executor, tasks)
        per_minute = len(tasks) * 60 / seconds
        baseline = baseline or per_minute
        ok = [r for r in results if r.outcome == "ok"]
        mean_acc = statistics.mean(r.accuracy for r in ok) if ok else float("nan")
        firsts = [r.first_step_seconds for r in ok if r.first_step_seconds is not None]
        first = statistics.median(firsts) if firsts else float("nan")
        print(
            f"{workers:>9} {seconds:>8.1f} {per_minute:>9.1f} {per_minute / baseline:>5.2f}x "
            f"{len(ok):>3}/{len(tasks):<2} {mean_acc:>7.1f}% {first:>12.2f}",
            flush=True,
        )
        for r in results:
            if r.outcome != "ok":
                print(f"   {r.candidate}: {r.outcome}: {(r.message or '')[:160]}")


def hostile(args: argparse.Namespace, dataset, limits: SandboxLimits, n_test: int) -> int:
    workers = max(int(w) for w in args.workers.split(","))
    tasks, expected = [], {}
    target = Path(limits.scratch_root or tempfile.gettempdir()).parent / "outside-the-sandbox.txt"
    for path in hostile_files():
        if path.stem == "fork_bomb":  # expects the fork limit the sandbox tests set for it alone; see test_sandbox.py
            continue
        code = hostile_code(path, dataset, target, port=9, n_test=n_test)
        tasks.append(EvalTask(path.stem, code))
        # The executor runs the static check first: forbidden imports end there, the rest reach the sandbox.
        report = check_source(code)
        expected[path.stem] = report.outcome if not report.ok else header(path, "expect")
    # The static check is not the boundary: the same segfault with its import hidden reaches the sandbox.
    hidden = segfault_with_hidden_import()
    tasks.append(EvalTask("segfault_hidden_import", hidden))
    expected["segfault_hidden_import"] = "crashed"
    if args.device.startswith("cuda"):
        tasks.append(EvalTask("gpu_hog", GPU_HOG))
        expected["gpu_hog"] = "out_of_memory" if workers > 1 else "ok"
    # Valid neighbours in the same batch: the hostile ones must not harm them.
    lenet = next(s.code for s in load_seed_corpus() if s.name == "lenet")
    for i in range(4):
        tasks.insert(i * len(tasks) // 4, EvalTask(f"lenet_{i}", lenet, seed=i))
        expected[f"lenet_{i}"] = "ok"
    print(
        f"\n== hostile: {len(tasks)} candidates ({len(tasks) - 4} hostile, 4 LeNets), {workers} at a time on {args.device}"
    )
    with LocalExecutor(dataset, FAST, limits, workers=workers, devices=[args.device]) as executor:
        seconds, results = timed_batch(executor, tasks)
    mismatches = 0
    for r in sorted(results, key=lambda r: r.candidate):
        want = expected[r.candidate]
        good = r.outcome == want
        mismatches += not good
        print(
            f"  {'ok ' if good else 'BAD'} {r.candidate:<20} {r.outcome:<16} (expect {want}) {(r.message or '')[:90]}"
        )
    print(f"{len(results)} candidates in {seconds:.1f} s; {mismatches} not as expected")
    return 1 if mismatches or len(results) != len(tasks) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", default="5000,1000", help="train,test synthetic images")
    parser.add_argument("--protocol", choices=["paper", "fast"], default="paper")
    parser.add_argument("--workers", default="4,8", help="candidates at a time to compare with one at a time")
    parser.add_argument("--skip-hostile", action="store_true")
    args = parser.parse_args()
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"# gpu_executor on {name}, torch {torch.__version__}")
    n_train, n_test = (int(v) for v in args.images.split(","))
    with tempfile.TemporaryDirectory(prefix="gpu-executor-") as work:
        dataset = cache_synthetic(Path(work) / "data", n_train=n_train, n_test=n_test, seed=0)
        limits = SandboxLimits(timeout_s=120, memory_mb=8192, scratch_root=Path(work))
        throughput(args, dataset, limits, PAPER if args.protocol == "paper" else FAST)
        if args.skip_hostile:
            return 0
        return hostile(args, dataset, SandboxLimits(timeout_s=20, memory_mb=4096, scratch_root=Path(work)), n_test)


if __name__ == "__main__":
    raise SystemExit(main())
