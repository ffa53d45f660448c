"""The `[evaluation]` section of a run's config: how candidates are trained, where, and under which limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archloop.settings import (
    device_names,
    non_negative,
    non_negative_or_none,
    positive,
    positive_or_none,
    setting,
)


@dataclass(frozen=True)
class EvaluationSettings:
    protocol: Literal["paper", "fast"] = setting("paper", None, "training protocol (evaluate.py)")
    batch_size: int | None = setting(
        None, positive_or_none(), "training batch size (default: the protocol's, paper 16, fast 128)"
    )
    data: Literal["auto", "cifar10", "synthetic"] = setting("auto", None, "auto = CIFAR-10 if found, else synthetic")
    data_path: str | None = setting(None, None, "CIFAR-10 archive or folder (default: search the usual places)")
    synthetic_train: int = setting(2000, positive(), "images in the synthetic training set")
    synthetic_test: int = setting(500, positive(), "images in the synthetic test set")
    executor: Literal["local", "ray"] = setting("local", None, "where candidates are trained")
    workers: int = setting(1, positive(), "candidates trained at once")
    recheck_share: float = setting(
        0.0,
        (lambda v: 0 <= v <= 1, "in [0, 1]"),
        "share of workers re-checks may use while the loop evaluates (0 = re-checks run only between the loop's "
        "evaluations, on one worker, and one running when an evaluation begins is stopped and queued again)",
    )
    devices: list[str] = setting(
        [], device_names(), "devices for the workers, each 'cpu', 'cuda' or 'cuda:N' (empty = CUDA if present, else cpu)"
    )
    ray_address: str | None = setting(None, None, "Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    ray_num_cpus: float = setting(1.0, positive(), "CPUs each candidate's Ray task reserves")
    ray_num_gpus: float | None = setting(
        None, non_negative_or_none(), "GPU share per Ray task, fractions allowed (default: 1 if any GPU)"
    )
    ray_max_retries: int = setting(2, non_negative(), "re-runs of a candidate whose Ray worker or node died")
    time_limit_s: float = setting(1800.0, positive(), "wall-clock limit per candidate (paper: 30 min)")
    validate_time_limit_s: float = setting(
        60.0, positive(), "wall-clock limit for validating a candidate (instantiate + one forward pass)"
    )
    max_params: int = setting(
        300_000, non_negative(), "trainable parameters a candidate may have (the prompt's limit; 0 = no limit)"
    )
    memory_limit_mb: int = setting(
        0, non_negative(), "memory limit per candidate process in MiB (0 = none: no address-space or resident cap)"
    )
