"""The `[corpus]` section of a run's config: where LEMUR comes from and which of its nets a run starts from.

Read by corpus/lemur.py (`build_lemur_set`) and the loop (run/loop.py), which makes the kept nets the initial
fine-tuning set and part of the novelty corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

from archloop.settings import Check, percent, setting

# Where `scripts/setup.sh` and `archloop doctor`'s hint put the 2.1.2 wheel (the last one that ships the corpus).
LEMUR_WHEEL = "~/.cache/archloop/lemur/nn_dataset-2.1.2-py3-none-any.whl"
LEMUR_DOWNLOAD = ("pip", "download", "nn-dataset==2.1.2", "--no-deps", "-d", "~/.cache/archloop/lemur")


def _positive_or_none() -> Check:
    return (lambda v: v is None or v > 0, "> 0 (or absent)")


@dataclass(frozen=True)
class CorpusSettings:
    """The `[corpus]` section. `lemur` is a path to an nn-dataset checkout, its 2.1.2 wheel, or a folder in that
    layout (`ab/nn/nn/*.py`, `ab/nn/stat/train/...`); "none" (the default) starts from the seed nets only."""

    lemur: str = setting("none", None, "LEMUR source: an nn-dataset checkout, its 2.1.2 wheel, or 'none'")
    min_accuracy: float = setting(
        40.0, percent(), "keep LEMUR nets whose best recorded CIFAR-10 accuracy (%) is >= this"
    )
    dedup: bool = setting(True, None, "drop near-duplicates as nn-dup does (10-token shingles, LSH 0.85, Jaccard 0.90)")
    max_pairs: int | None = setting(None, _positive_or_none(), "at most this many LEMUR nets become training pairs")

    @property
    def enabled(self) -> bool:
        return self.lemur.strip().lower() not in ("", "none")
