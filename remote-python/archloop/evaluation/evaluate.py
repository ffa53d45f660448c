"""Evaluation protocols: one epoch through the candidate's OWN `train_setup`/`learn`, then predictions on test images.

Two named protocols (`PROTOCOLS`):
- `paper`: the paper's settings (1 epoch, SGD lr 0.01, momentum 0.9, batch 16, dropout 0.2, `norm_256_flip` on
  train AND test: LEMUR applies the same transform, random flip included, to both).
- `fast`: the same hyperparameters at native 32 px with batch 128 and no test-time flip; a cheaper proxy for
  screening many candidates, not comparable in absolute accuracy to the paper's numbers.

`train_and_predict` runs inside the sandboxed child and never sees test labels: it returns class ids, and the parent
computes accuracy with `accuracy_percent` (see sandbox.py). Everything is seeded: the same seed gives the same
predictions on CPU. Failures of the candidate raise `CandidateFailure` with an Outcome string; the caller classifies
anything else it raises (a candidate may raise anything).
"""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archloop.evaluation.contract import hyperparameter_defaults
from archloop.evaluation.data import NUM_CLASSES, BatchTransform, ImageSplit, iterate_batches
from archloop.evaluation.proxy import LearnMeter, violation


class CandidateFailure(Exception):
    """The candidate misbehaved in a way with a specific Outcome (shape_error, nan_loss, contract_error...)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class EvalProtocol:
    """How one candidate is trained and tested. `image_size` 256 reproduces the paper's Resize(256)+CenterCrop(256)."""

    name: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    dropout: float
    image_size: int
    flip_train: bool
    flip_test: bool
    eval_batch_size: int

    def prm(self) -> dict[str, float]:
        return {"lr": self.lr, "momentum": self.momentum, "dropout": self.dropout}


# Inference uses the training batch size: on CPU, bigger batches at 256 px are SLOWER (allocations of hundreds of MB
# per activation fault in fresh pages each batch: 3x slower at 64 than at 16 for resnet_basic, measured).
PAPER = EvalProtocol("paper", 1, 16, 0.01, 0.9, 0.2, 256, flip_train=True, flip_test=True, eval_batch_size=16)
FAST = EvalProtocol("fast", 1, 128, 0.01, 0.9, 0.2, 32, flip_train=True, flip_test=False, eval_batch_size=128)
PROTOCOLS: dict[str, EvalProtocol] = {p.name: p for p in (PAPER, FAST)}


@dataclass(frozen=True)
class EvalTask:
    """One candidate to evaluate: its id in the run, its source code, and the seed for weights and data order."""

    candidate: str
    code: str
    seed: int = 0


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation produced. Numbers are None when the outcome is not `ok` (or when they were never reached)."""

    candidate: str
    outcome: str
    accuracy: float | None = None
    params: int | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    peak_memory_mb: float | None = None
    images_per_second: float | None = None
    message: str | None = None
    output_tail: str = ""
    line: int | None = None
    first_step_seconds: float | None = None  # from submit to the first training batch (sandbox start-up cost)
    wall_seconds: float | None = None  # the child process's whole life, as the parent saw it
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TrainedPredictions:
    """The child's report: predicted class ids for the test images as given, plus measurements."""

    predictions: np.ndarray
    params: int
    train_seconds: float
    eval_seconds: float
    peak_memory_mb: float
    images_per_second: float


def accuracy_percent(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of correct predictions in percent. Lengths must match (the caller checked the child's answer)."""
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {labels.shape[0]} labels")
    return float((predictions == labels).mean() * 100.0) if labels.size else 0.0


def candidate_prm(supported: Iterable[str], protocol: EvalProtocol) -> dict[str, Any]:
    """The prm LEMUR's trainer would pass: the protocol's lr/momentum/dropout, the paper's defaults for any other
    declared name, and `batch`, `transform` and `epoch`, which LEMUR adds whether declared or not.

    A declared name with no known default (only possible when the static check was skipped) gets 0.0, which is
    inside LEMUR's [0, 1] range and means "off" for the usual extras.
    """
    prm: dict[str, Any] = dict(protocol.prm())
    for name in sorted({str(n) for n in supported} - set(prm)):
        try:
            prm.update(hyperparameter_defaults([name]))
        except ValueError:
            prm[name] = 0.0
    flip = "_flip" if protocol.flip_train else ""
    prm.update(batch=protocol.batch_size, transform=f"norm_{protocol.image_size}{flip}", epoch=protocol.epochs)
    return prm


def parameter_count(net: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))


def parameter_checksum(net: torch.nn.Module) -> str:
    """A digest of every parameter's bytes: equal before and after `learn` means learn trained nothing."""
    digest = hashlib.sha256()
    for p in net.parameters():
        digest.update(p.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _all_finite(net: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in net.parameters())


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # On CPU: the process's peak resident set (Linux reports KiB); includes the interpreter and torch itself.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_and_predict(
    namespace: Mapping[str, Any],
    train: ImageSplit,
    test_images: torch.Tensor,
    protocol: EvalProtocol,
    device: torch.device,
    seed: int,
    on_first_step: Callable[[], None] | None = None,
) -> TrainedPredictions:
    """Build the candidate's Net, train it `protocol.epochs` epochs (one `learn` call each), predict `test_images`.

    `namespace` is the executed candidate module. `test_images` are uint8 (N,3,32,32) with any test-time flip
    already applied by the parent. Raises CandidateFailure for contract, shape and NaN problems; any other
    exception comes from the candidate and is the caller's to classify.
    """
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    net_class = namespace.get("Net")
    if not isinstance(net_class, type):
        raise CandidateFailure("contract_error", "the code defines no class Net")
    supported_fn = namespace.get("supported_hyperparameters")
    supported = supported_fn() if callable(supported_fn) else set()
    prm = candidate_prm(supported, protocol)
    # As LEMUR's trainer: the full batch shape, positional arguments, and the model moved before train_setup.
    in_shape = (protocol.batch_size, 3, protocol.image_size, protocol.image_size)
    net = net_class(in_shape, (NUM_CLASSES,), prm, device)
    if not isinstance(net, torch.nn.Module):
        raise CandidateFailure("contract_error", "Net(...) is not a torch.nn.Module")
    net.to(device)
    params = parameter_count(net)

    generator = torch.Generator().manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    started = time.perf_counter()
    net.train_setup(prm)
    _check_output_shape(net, protocol.image_size, device)
    before = parameter_checksum(net)

    def epoch_batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        transform = BatchTransform(protocol.image_size, protocol.flip_train)
        return iterate_batches(train, protocol.batch_size, transform, device, generator)

    net.train()
    for epoch in range(protocol.epochs):
        # One `learn` call is one epoch, as in LEMUR's trainer. A fresh meter per call keeps the proxy check honest
        # per epoch: two passes in one call cannot hide behind a call that drew its batches and trained nothing.
        meter = LearnMeter(net)
        batches: Iterable[tuple[torch.Tensor, torch.Tensor]] = meter.count(epoch_batches())
        if on_first_step is not None and epoch == 0:
            batches = _announce_first(batches, on_first_step)
        with meter:
            net.learn(batches)
        if (why := violation(meter.counts())) is not None:
            where = f" (epoch {epoch + 1} of {protocol.epochs})" if protocol.epochs > 1 else ""
            raise CandidateFailure("proxy_violation", why + where)
    _sync(device)
    train_seconds = time.perf_counter() - started
    if not _all_finite(net):
        raise CandidateFailure("nan_loss", "parameters are NaN or infinite after training (the loss diverged)")
    if parameter_checksum(net) == before:
        raise CandidateFailure("contract_error", "learn() did not update any parameter: the net was never trained")

    started = time.perf_counter()
    predictions = _predict(net, test_images, protocol, device)
    _sync(device)
    eval_seconds = time.perf_counter() - started
    return TrainedPredictions(
        predictions=predictions,
        params=params,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        peak_memory_mb=_peak_memory_mb(device),
        images_per_second=len(train) * protocol.epochs / train_seconds if train_seconds > 0 else 0.0,
    )


def _announce_first(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], callback: Callable[[], None]
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    for i, batch in enumerate(batches):
        if i == 0:
            callback()
        yield batch


def _require_logits(logits: object, batch: int) -> None:
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (batch, NUM_CLASSES):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise CandidateFailure("shape_error", f"forward returned {shape}, expected ({batch}, {NUM_CLASSES})")


def _check_output_shape(net: torch.nn.Module, image_size: int, device: torch.device) -> None:
    """Forward two blank images before training, in eval mode (no batch-norm statistics change, no dropout draw).

    A net with the wrong number of outputs then ends as `shape_error` with its shape, instead of failing inside the
    loss: on a GPU that failure is an opaque device-side assert that also poisons the process's CUDA context.
    """
    net.eval()
    with torch.no_grad():
        logits = net(torch.zeros(2, 3, image_size, image_size, device=device))
    net.train()
    _require_logits(logits, 2)


def _predict(
    net: torch.nn.Module, test_images: torch.Tensor, protocol: EvalProtocol, device: torch.device
) -> np.ndarray:
    transform = BatchTransform(protocol.image_size, flip=False)  # a test-time flip was applied by the parent
    net.eval()
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, test_images.shape[0], protocol.eval_batch_size):
            x = transform(test_images[start : start + protocol.eval_batch_size].to(device))
            logits = net(x)
            _require_logits(logits, x.shape[0])
            if not bool(torch.isfinite(logits).all()):
                raise CandidateFailure("nan_loss", "the trained net outputs NaN or infinite logits")
            out.append(logits.argmax(dim=1).to("cpu", torch.int64))
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)
