"""GPU check: ArchLoop's on-device evaluator vs the LEMUR-style DataLoader reference, at real GPU sizes.

    PYTHONPATH=remote-python python bench/gpu_eval.py            # on a GPU host; needs only torch (+ numpy)

Synthetic CIFAR-shaped data (no download), seed nets from archloop.corpus.seeds, both protocols; the reference gets
DataLoader workers as LEMUR would use on such a host. Then one candidate through the real sandbox on the GPU
(no RLIMIT_AS, Landlock with /dev/nvidia*), to show CUDA works inside it. Prints a table; about 2-3 minutes.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.data import ImageSplit, cache_synthetic, synthetic_arrays  # noqa: E402
from archloop.evaluation.evaluate import FAST, PAPER, EvalTask, accuracy_percent, train_and_predict  # noqa: E402
from archloop.evaluation.launcher import SpawnLauncher  # noqa: E402
from archloop.evaluation.sandbox import SandboxLimits, evaluate_candidate  # noqa: E402
from lemur_reference import reference_evaluate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--nets", default="lenet,resnet_basic,mobilenetv2")
    parser.add_argument("--images", default="5000,1000", help="train,test images")
    parser.add_argument(
        "--paper-images",
        default=None,
        help="train,test for the 256 px protocol (default: --images)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="reference DataLoader workers",
    )
    parser.add_argument("--skip-sandbox", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    seeds = {s.name: s.code for s in load_seed_corpus()}
    print(f"# gpu_eval on {name}, torch {torch.__version__}, reference DataLoader workers {args.workers}")
    print(
        f"{'protocol':<8} {'net':<14} {'images':>11} {'archloop s':>10} {'reference s':>11} {'ratio':>6} "
        f"{'img/s ours':>10} {'acc ours':>8} {'acc ref':>8} {'peak MiB':>8}"
    )
    for protocol in (PAPER, FAST):
        sizes = args.paper_images if protocol is PAPER and args.paper_images else args.images
        n_train, n_test = (int(v) for v in sizes.split(","))
        arrays = synthetic_arrays(n_train, n_test, seed=0)
        train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in arrays)
        # ArchLoop holds the uint8 set on the device once (what the sandbox child does), outside the clock.
        on_device = ImageSplit(train_x.to(device), train_y.to(device))
        test_on_device = test_x.to(device)
        for net_name in args.nets.split(","):
            namespace: dict = {}
            exec(compile(seeds[net_name], net_name, "exec"), namespace)
            train_and_predict(
                namespace,
                ImageSplit(on_device.images[:64], on_device.labels[:64]),
                test_on_device[:64],
                protocol,
                device,
                seed=1,
            )  # warm-up: cuDNN autotuning and lazy imports, both sides share
            started = time.perf_counter()
            ours = train_and_predict(namespace, on_device, test_on_device, protocol, device, seed=0)
            ours_total = time.perf_counter() - started
            started = time.perf_counter()
            ref = reference_evaluate(
                namespace,
                (train_x, train_y),
                (test_x, test_y),
                batch_size=protocol.batch_size,
                image_size=protocol.image_size,
                flip_test=protocol.flip_test,
                prm=protocol.prm(),
                device=device,
                seed=0,
                num_workers=args.workers,
            )
            ref_total = time.perf_counter() - started
            print(
                f"{protocol.name:<8} {net_name:<14} {f'{n_train}/{n_test}':>11} {ours_total:>10.2f} {ref_total:>11.2f} "
                f"{ref_total / ours_total:>5.2f}x {ours.images_per_second:>10.0f} "
                f"{accuracy_percent(ours.predictions, test_y.numpy()):>7.1f}% {ref.accuracy:>7.1f}% "
                f"{ours.peak_memory_mb:>8.0f}",
                flush=True,
            )
    if not args.skip_sandbox:
        with tempfile.TemporaryDirectory(prefix="gpu-eval-") as work:
            dataset = cache_synthetic(Path(work), n_train=2000, n_test=500, seed=0)
            sandbox_device = "cuda:0" if device.type == "cuda" else "cpu"
            started = time.perf_counter()
            result = evaluate_candidate(
                EvalTask("lenet", seeds["lenet"]),
                dataset,
                FAST,
                SandboxLimits(timeout_s=300),
                device=sandbox_device,
                launcher=SpawnLauncher(),
            )
            print(
                f"sandboxed lenet on {sandbox_device}: {result.outcome} accuracy {result.accuracy} "
                f"peak {result.peak_memory_mb} MiB, {time.perf_counter() - started:.1f} s wall, "
                f"notes {list(result.notes)} {result.message or ''}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
