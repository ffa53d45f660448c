"""How a stage declares its settings section: `setting(default, check, doc)` fields on a frozen dataclass.

Each stage package owns the dataclasses it reads (llm/settings.py: `[model]`, `[generation]`, `[lora]`, `[sft]`;
novelty/settings.py: `[novelty]`; evaluation/settings.py: `[evaluation]`), with the key names users write in TOML.
config.py composes those sections into a RunConfig and validates a TOML table against a section by its type hints
and the per-key checks declared here. This module is a leaf: every stage may import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A run configuration that cannot be used; the message is meant for the user as is."""


# Each check is (predicate, what a good value is); the parser words the error as "<key> must be <what>, got <value>".
Check = tuple[Callable[[Any], bool], str]

# 'cpu', 'cuda' or 'cuda:N': what torch.device accepts for the devices ArchLoop runs on.
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def is_device(value: str) -> bool:
    return _DEVICE.fullmatch(value) is not None


def positive() -> Check:
    return (lambda v: v > 0, "> 0")


def positive_or_none() -> Check:
    return (lambda v: v is None or v > 0, "> 0 (or absent)")


def non_negative() -> Check:
    return (lambda v: v >= 0, ">= 0")


def non_negative_or_none() -> Check:
    return (lambda v: v is None or v >= 0, ">= 0 (or absent)")


def unit_interval() -> Check:
    return (lambda v: 0 < v <= 1, "in (0, 1]")


def percent() -> Check:
    return (lambda v: 0 <= v <= 100, "a percentage in [0, 100]")


def probability() -> Check:
    return (lambda v: 0 <= v < 1, "in [0, 1)")


def non_empty() -> Check:
    return (lambda v: len(v) > 0, "non-empty")


def device_name(allow_auto: bool) -> Check:
    """One device: 'cpu', 'cuda', 'cuda:N' (and 'auto' where the stage picks)."""
    words = "'auto', 'cpu', 'cuda' or 'cuda:N'" if allow_auto else "'cpu', 'cuda' or 'cuda:N'"
    return (lambda v: (allow_auto and v == "auto") or is_device(v), words)


def device_names() -> Check:
    return (lambda v: all(is_device(d) for d in v), "made of 'cpu', 'cuda' or 'cuda:N'")


def setting(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A config key: its default, an optional value check and a one-line description (shown by `--help-config`)."""
    metadata = {"check": check, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)
