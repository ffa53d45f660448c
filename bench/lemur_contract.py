"""How much of LEMUR the static contract check accepts, and why it rejects the rest.

Usage: remote-python/.venv/bin/python bench/lemur_contract.py [LEMUR source]
(default: the nn-dataset 2.1.2 wheel scripts/setup.sh puts in ~/.cache/archloop/lemur). Prints the share accepted
over every net in ab/nn/nn/ and each rejection reason (the first problem's kind) with its count and an example.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from archloop.corpus.lemur import _checked, _Source
from archloop.corpus.settings import LEMUR_WHEEL


def main() -> None:
    source = _Source(sys.argv[1] if len(sys.argv) > 1 else Path(LEMUR_WHEEL).expanduser())
    names = source.nets()
    started = time.perf_counter()
    kinds = _checked([source.read(name).decode("utf-8", errors="replace") for name in names])
    seconds = time.perf_counter() - started
    accepted = sum(kind is None for kind in kinds)
    print(
        f"{accepted} of {len(names)} LEMUR nets pass the contract check ({100 * accepted / len(names):.2f} %), {seconds:.1f} s"
    )
    examples = {kind: Path(name).stem for name, kind in zip(names, kinds, strict=True) if kind is not None}
    for kind, count in Counter(kind for kind in kinds if kind is not None).most_common():
        print(f"  {count:5d} {kind} (e.g. {examples[kind]})")


if __name__ == "__main__":
    main()
