"""How many CPU threads torch may use while the LLM samples or fine-tunes in this process.

torch splits every op over one thread per core, and each op ends by waiting for all of them. A small model's ops take
microseconds, so that wait is the whole cost, and when another process holds a core it lasts a scheduler time slice:
the 1.2M-parameter demo model sampled at 16 ms/step on 1 thread and 316-443 ms/step on 2 threads (2 cores, load
~10), the same model and adapter; a fine-tune step went from 0.07 s to 6 s the same way. Such a model runs on one
thread; a larger one uses the cores that are idle, as the demo model's build does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from archloop.evaluation.executor import idle_cores

# Below this many parameters an op is too small to be worth splitting across threads.
SMALL_MODEL_PARAMETERS = 50_000_000


def cpu_threads_for(parameters: int, available: int, idle: int) -> int:
    """Threads for a model of `parameters` on a CPU: 1 for a small model, else the `idle` cores (at least 1), never
    more than torch's `available`."""
    if parameters < SMALL_MODEL_PARAMETERS:
        return 1
    return max(1, min(available, idle))


@contextmanager
def cpu_threads(model: nn.Module, device: torch.device) -> Iterator[int]:
    """Limit torch's intra-op threads for `model` on the CPU while inside (see `cpu_threads_for`); restored after.

    Yields the thread count in use. On a GPU nothing changes: the CPU only launches kernels there.
    """
    before = torch.get_num_threads()
    if device.type != "cpu":
        yield before
        return
    parameters = sum(p.numel() for p in model.parameters())
    threads = cpu_threads_for(parameters, before, idle_cores())
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)
