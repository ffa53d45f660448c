"""Where a host keeps what ArchLoop builds or decodes once (the demo model, decoded data sets): a leaf module."""

from __future__ import annotations

from pathlib import Path

# run.cache_dir when unset; "~" is resolved where it is used (on a Ray node: for the user its workers run as).
DEFAULT_CACHE_DIR = "~/.cache/archloop"


def cache_root(cache_dir: str | None) -> Path:
    """The configured cache folder (or the default), with "~" resolved for the current user."""
    return Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
