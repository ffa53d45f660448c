"""The callback types the stages and the loop share, defined once (a leaf: every package may import it)."""

from __future__ import annotations

from collections.abc import Callable

# Polled between steps (decoding steps, micro-batches, candidates); True asks the stage to stop early.
StopPredicate = Callable[[], bool]
# Fine-tuning progress: (optimizer step, total steps, loss or None before the first step, eta seconds or None).
ProgressCallback = Callable[[int, int, float | None, float | None], None]
