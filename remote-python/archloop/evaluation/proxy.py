"""The one-epoch proxy's integrity: count, from outside the candidate's code, what its `learn` did.

The loop selects (and fine-tunes the LLM on) candidates by their accuracy after ONE pass over the training data, so
a `learn` that caches the batches and trains several passes, or steps several times per batch, would win by cheating.
`LearnMeter` counts while `learn` runs:
- batches and images drawn from the iterator handed to `learn`;
- images through the net in training mode (a forward pre-hook on the net);
- in-place updates of each parameter: its version counter moves on every optimizer step and every manual in-place
  update, whoever makes it; the bumps made inside one optimizer step count as one update, every other bump as one;
- optimizer steps, per optimizer (global step hooks; a step nested in another, e.g. a wrapping optimizer, is one);
- parameters whose storage was swapped (`p.data = ...` moves no version counter, so it cannot be counted).
`violation` says why the counts exceed one pass (with a small tolerance), or None.

It runs in the candidate's process: a candidate that clears the hooks only moves its steps from "optimizer" to
"manual" updates, still counted; one that trains a private copy of the net with raw tensor operations and copies the
result in is not caught (the wall clock and the timeout are what bound it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

# Slack over one pass: 5 % more images through the net or updates than batches drawn.
TOLERANCE = 0.05


@dataclass(frozen=True)
class LearnCounts:
    batches: int
    samples_drawn: int
    samples_forward: int
    updates: int  # the most in-place updates any one parameter received
    optimizer_steps: int  # all outermost steps, every optimizer together
    most_steps_one_optimizer: int
    replaced: int  # parameters whose storage was swapped or that left the net


class LearnMeter:
    """Counts what `learn` does with the net's parameters (taken as they are after `train_setup`). Use as a context."""

    def __init__(self, net: torch.nn.Module) -> None:
        self._net = net
        self._params = list(net.parameters())
        self._start = [p._version for p in self._params]
        self._pointers = [p.data_ptr() for p in self._params]
        self._step_bumps = [0] * len(self._params)  # version bumps made inside counted optimizer steps
        self._step_updates = [0] * len(self._params)  # counted optimizer steps that moved the parameter
        self._before_step: list[int] = []
        self._depth = 0
        self._steps: dict[int, int] = {}
        self._replaced: set[int] = set()
        self.batches = 0
        self.samples_drawn = 0
        self.samples_forward = 0
        self._handles: list[Any] = []
        self._final: list[int] | None = None

    def count(
        self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`batches` as handed to learn, counting what is drawn."""
        for batch in batches:
            self.batches += 1
            self.samples_drawn += _rows(batch[0])
            self._check_storage()
            yield batch

    def __enter__(self) -> LearnMeter:
        self._handles = [
            self._net.register_forward_pre_hook(self._on_forward),
            register_optimizer_step_pre_hook(self._on_step_start),
            register_optimizer_step_post_hook(self._on_step_end),
        ]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._check_storage()
        self._final = [p._version for p in self._params]
        current = {id(p) for p in self._net.parameters()}
        self._replaced |= {i for i, p in enumerate(self._params) if id(p) not in current}

    def _on_forward(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if module.training and args:
            self.samples_forward += _rows(args[0])
        self._check_storage()

    def _on_step_start(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._depth == 0:
            self._before_step = [p._version for p in self._params]
        self._depth += 1

    def _on_step_end(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._depth = max(self._depth - 1, 0)
        if self._depth or len(self._before_step) != len(self._params):
            return
        self._steps[id(optimizer)] = self._steps.get(id(optimizer), 0) + 1
        for i, p in enumerate(self._params):
            moved = p._version - self._before_step[i]
            if moved > 0:
                self._step_bumps[i] += moved
                self._step_updates[i] += 1
        self._check_storage()

    def _check_storage(self) -> None:
        for i, p in enumerate(self._params):
            if p.data_ptr() != self._pointers[i]:
                self._replaced.add(i)

    def counts(self) -> LearnCounts:
        final = self._final if self._final is not None else [p._version for p in self._params]
        updates = [
            self._step_updates[i] + max(final[i] - self._start[i] - self._step_bumps[i], 0)
            for i in range(len(self._params))
        ]
        return LearnCounts(
            batches=self.batches,
            samples_drawn=self.samples_drawn,
            samples_forward=self.samples_forward,
            updates=max(updates, default=0),
            optimizer_steps=sum(self._steps.values()),
            most_steps_one_optimizer=max(self._steps.values(), default=0),
            replaced=len(self._replaced),
        )


def violation(counts: LearnCounts, tolerance: float = TOLERANCE) -> str | None:
    """Why `counts` exceed one pass over what learn drew, or None when they do not."""
    max_samples = math.floor(counts.samples_drawn * (1 + tolerance))
    max_updates = math.floor(counts.batches * (1 + tolerance))
    reasons = []
    if counts.samples_forward > max_samples:
        reasons.append(f"{counts.samples_forward} images went through the net in training mode (at most {max_samples})")
    if counts.updates > max_updates:
        reasons.append(f"a parameter was updated {counts.updates} times (at most {max_updates})")
    if counts.most_steps_one_optimizer > max_updates:
        reasons.append(f"one optimizer stepped {counts.most_steps_one_optimizer} times (at most {max_updates})")
    if counts.replaced:
        reasons.append(f"{counts.replaced} parameters were replaced or had their storage swapped, which hides updates")
    if not reasons:
        return None
    return (
        f"learn went past one pass over the training data: {'; '.join(reasons)}. It drew {counts.batches} batches "
        f"({counts.samples_drawn} images); counted {counts.samples_forward} images forward, {counts.updates} updates, "
        f"{counts.optimizer_steps} optimizer steps. Train one step per batch, once over the batches given."
    )


def _rows(x: object) -> int:
    return int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() > 0 else 0
