"""ArchLoop's evaluator vs a LEMUR-style reference (per-image CPU transforms + DataLoader) on the same nets and data.

    remote-python/.venv/bin/python bench/eval_bench.py [--nets lenet,resnet_basic] [--threads 1]

Both sides run the net's own train_setup/learn for one epoch and then measure test accuracy, in this process (the
sandbox's fixed start-up cost is measured apart by bench/sandbox_overhead.py). Data: a synthetic CIFAR-shaped set
(CIFAR-10 cannot be downloaded here), a subset per protocol so the whole run takes a few minutes on 2 cores.
Prints one row per (protocol, net) with both times, the ratio (reference / ArchLoop) and both accuracies.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote-python"))

from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.evaluation.data import ImageSplit, synthetic_arrays  # noqa: E402
from archloop.evaluation.evaluate import FAST, PAPER, accuracy_percent, train_and_predict  # noqa: E402
from lemur_reference import reference_evaluate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default="lenet,resnet_basic,mobilenetv2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side; the best time counts")
    parser.add_argument(
        "--paper-images",
        default="128,64",
        help="train,test images for the 256 px paper protocol",
    )
    parser.add_argument(
        "--fast-images",
        default="2048,512",
        help="train,test images for the 32 px fast protocol",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    seeds = {s.name: s.code for s in load_seed_corpus()}
    nets = args.nets.split(",")
    print(
        f"# eval_bench on {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
        f"{args.threads} thread(s), device cpu"
    )
    print(
        f"{'protocol':<8} {'net':<14} {'images':>10} {'archloop s':>10} {'reference s':>11} {'ratio':>6} "
        f"{'acc ours':>8} {'acc ref':>8}"
    )
    for protocol, sizes in ((PAPER, args.paper_images), (FAST, args.fast_images)):
        n_train, n_test = (int(v) for v in sizes.split(","))
        train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in synthetic_arrays(n_train, n_test, seed=0))
        for name in nets:
            namespace: dict = {}
            exec(compile(seeds[name], name, "exec"), namespace)
            # Warm-up outside the clock: the first optimizer imports torch._dynamo (seconds), for either side.
            torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            ours_total = ref_total = float("inf")
            for repeat in range(args.repeats):  # alternate which side goes first; keep each side's best time
                for side in ("ours", "ref") if repeat % 2 == 0 else ("ref", "ours"):
                    started = time.perf_counter()
                    if side == "ours":
                        split = ImageSplit(train_x, train_y)
                        ours = train_and_predict(namespace, split, test_x, protocol, device, seed=0)
                        ours_total = min(ours_total, time.perf_counter() - started)
                    else:
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
                        )
                        ref_total = min(ref_total, time.perf_counter() - started)
            print(
                f"{protocol.name:<8} {name:<14} {f'{n_train}/{n_test}':>10} {ours_total:>10.2f} {ref_total:>11.2f} "
                f"{ref_total / ours_total:>5.2f}x {accuracy_percent(ours.predictions, test_y.numpy()):>7.1f}% "
                f"{ref.accuracy:>7.1f}%",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
