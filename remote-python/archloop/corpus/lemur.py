"""Import the LEMUR corpus (ABrain-One/nn-dataset): the nets a run starts from (training pairs and novelty corpus).

A LEMUR source is an nn-dataset checkout, the `nn-dataset` 2.1.2 wheel (a zip, read in place: the last release that
ships the corpus), or any folder in that layout:

- `ab/nn/nn/<Name>.py`: one net per file, written in LEMUR's contract.
- `ab/nn/stat/train/<task>_<dataset>_<metric>_<Name>/<epoch>.json`: a JSON list of trials, each
  `{"accuracy": float in [0, 1], "batch", "dropout", "lr", "momentum", "transform", "uid", "duration", ...}`.
  LEMUR splits the folder name on `_` into exactly those four parts; the metric may be a comma list.

`build_lemur_set` keeps the nets whose best recorded CIFAR-10 accuracy reaches `min_accuracy`, that pass the
contract check (evaluation/contract.py, the check every candidate gets), and, with `dedup`, one net per near-duplicate
cluster as the authors' nn-dup does (10-token shingles, 256-permutation MinHash, LSH at 0.85, kept only if its exact
shingle Jaccard to every LSH candidate is below 0.90; the more accurate net of a cluster wins). The result is cached
per source and settings under the cache directory, so only the first run pays the ~10^4 contract checks.

Failure behaviour: a location that is not a LEMUR source raises `LemurLayoutError` naming what was expected; inside
a valid source no single bad file stops the import (unreadable nets are rejected as `unreadable`, malformed
statistics are skipped and counted). Nothing is executed: code is only read and parsed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import multiprocessing
import os
import time
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from archloop.corpus.settings import LEMUR_DOWNLOAD, CorpusSettings
from archloop.evaluation.contract import check_source

NETS_DIR = "ab/nn/nn"
STAT_DIR = "ab/nn/stat/train"
KEY_PREFIX = "lemur:"
TASK, DATASET, METRIC = "img-classification", "cifar-10", "acc"
# nn-dup's settings (the authors' corpus deduplication).
DEDUP_SHINGLE, DEDUP_PERMUTATIONS, DEDUP_LSH, DEDUP_JACCARD = 10, 256, 0.85, 0.90
_CACHE_VERSION = 1


class LemurLayoutError(ValueError):
    """The given location is no LEMUR source (no `ab/nn/nn` with nets in it)."""


@dataclass(frozen=True)
class LemurNet:
    """One kept net: `key` is `lemur:<Name>`, `accuracy` its best recorded CIFAR-10 accuracy in percent."""

    key: str
    code: str
    accuracy: float


@dataclass
class LemurReport:
    """How many nets each step kept (statistics, accuracy, contract, dedup), the contract's reasons, and the time."""

    source: str = ""
    scanned: int = 0
    contract_ok: int = 0
    with_accuracy: int = 0
    accurate: int = 0
    kept: int = 0
    rejected_by_kind: dict[str, int] = field(default_factory=dict)
    stat_problems: int = 0
    seconds: float = 0.0
    cached: bool = False

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.rejected_by_kind.items())
        return (
            f"{self.scanned} LEMUR nets: {self.with_accuracy} with CIFAR-10 statistics, {self.accurate} reach the"
            f" accuracy bar, {self.contract_ok} of those pass the contract check"
            + (f" ({kinds} rejected)" if kinds else "")
            + f", {self.kept} kept after dedup; {self.seconds:.1f} s{' (cached)' if self.cached else ''}"
        )


@dataclass(frozen=True)
class LemurSet:
    nets: tuple[LemurNet, ...]  # most accurate first
    report: LemurReport


# ---- reading a source --------------------------------------------------------------------------------------------


class _Source:
    """A LEMUR tree in a folder or a zip: relative paths (`ab/nn/...`) listed and read the same way."""

    def __init__(self, location: str | Path) -> None:
        path = Path(location).expanduser()
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as error:
                raise LemurLayoutError(f"{path}: not a LEMUR wheel or zip ({error})") from None
            self._names = self._zip.namelist()
            self.root = path
        else:
            candidates = [path, path.parent] if path.name == "ab" else [path]
            root = next((c for c in candidates if (c / NETS_DIR).is_dir()), None)
            if root is None:
                raise LemurLayoutError(
                    f"{path}: no LEMUR corpus there (expected {NETS_DIR}/*.py in an nn-dataset checkout, the "
                    f"nn-dataset 2.1.2 wheel, or a folder in that layout); get it with: {' '.join(LEMUR_DOWNLOAD)}"
                )
            self.root = root
            self._names = [
                p.relative_to(root).as_posix()
                for base in (root / NETS_DIR, root / STAT_DIR)
                if base.is_dir()
                for p in base.rglob("*")
                if p.is_file()
            ]
        if not any(self._is_net(name) for name in self._names):
            raise LemurLayoutError(f"{path}: holds no {NETS_DIR}/*.py (is it the nn-dataset 2.1.2 wheel?)")

    @staticmethod
    def _is_net(name: str) -> bool:
        folder, _, file = name.rpartition("/")
        return folder == NETS_DIR and file.endswith(".py") and not file.startswith("__")

    def nets(self) -> list[str]:
        return sorted(name for name in self._names if self._is_net(name))

    def stat_files(self) -> list[str]:
        prefix = f"{STAT_DIR}/{TASK}_{DATASET}_"
        return sorted(name for name in self._names if name.startswith(prefix) and name.endswith(".json"))

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.root / name).read_bytes()

    def fingerprint(self) -> str:
        """Changes when the source does: the wheel's size and mtime, or every listed file's."""
        digest = hashlib.sha256(str(self.path.resolve()).encode())
        files = [self.path] if self._zip is not None else [self.root / name for name in sorted(self._names)]
        for file in files:
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return digest.hexdigest()[:32]


def count_lemur_nets(location: str | Path) -> int:
    """How many nets the LEMUR source at `location` holds (`archloop doctor`'s check); LemurLayoutError, naming the
    command that gets the corpus, when there is none there (a missing path included). Reads only the listing."""
    return len(_Source(location).nets())


def read_accuracies(source: _Source, report: LemurReport | None = None) -> dict[str, float]:
    """Best recorded CIFAR-10 accuracy (percent) over every epoch and trial, keyed by net name."""
    best: dict[str, float] = {}
    problems = 0
    for name in source.stat_files():
        config, _, epoch_file = name[len(STAT_DIR) + 1 :].partition("/")
        parts = config.split("_", 3)
        if "/" in epoch_file or not epoch_file[:-5].isdigit() or len(parts) != 4:
            continue  # LEMUR keeps backups and reports beside the epoch files
        if METRIC not in parts[2].split(","):
            continue
        try:
            trials = json.loads(source.read(name))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            problems += 1
            continue
        values = [
            float(t["accuracy"])
            for t in (trials if isinstance(trials, list) else [])
            if isinstance(t, dict)
            and isinstance(t.get("accuracy"), (int, float))
            and not isinstance(t["accuracy"], bool)
            and math.isfinite(t["accuracy"])
        ]
        if not values:
            problems += 1
            continue
        net = parts[3]
        best[net] = max(best.get(net, 0.0), max(values) * 100.0)
    if report is not None:
        report.stat_problems += problems
    return best


def _check(code: str) -> str | None:
    """None when the net passes the contract check, else the first problem's kind."""
    verdict = check_source(code)
    if verdict.ok:
        return None
    return verdict.problems[0].kind if verdict.problems else verdict.outcome


def _checked(codes: list[str]) -> list[str | None]:
    workers = min(len(codes) // 500 + 1, os.cpu_count() or 1)
    if workers <= 1:
        return _without_gc(codes)
    # ast parsing is CPU-bound: one process per core; spawned, since the daemon calling this has threads.
    chunks = [codes[i : i + 256] for i in range(0, len(codes), 256)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [kind for chunk in pool.map(_without_gc, chunks) for kind in chunk]


def _without_gc(codes: list[str]) -> list[str | None]:
    """Check codes with the cyclic GC paused: ast trees hold no cycles (refcounting frees them), and the collector
    walking ~10^5 fresh nodes per file made parsing 3.6x slower (measured on LEMUR's nets)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [_check(code) for code in codes]
    finally:
        if enabled:
            gc.enable()


# ---- dedup -------------------------------------------------------------------------------------------------------


def dedup(codes: list[str]) -> list[int]:
    """Indices of the codes nn-dup keeps, in the given order (put the preferred net of a cluster first)."""
    from datasketch import LeanMinHash, MinHashLSH

    from archloop.novelty.minhash import NoveltySettings, Shingler

    shingler = Shingler(NoveltySettings(threshold=DEDUP_LSH, num_perm=DEDUP_PERMUTATIONS, shingle=DEDUP_SHINGLE))
    lsh = MinHashLSH(threshold=DEDUP_LSH, num_perm=DEDUP_PERMUTATIONS)
    kept_shingles: dict[int, np.ndarray] = {}
    kept: list[int] = []
    for index, code in enumerate(codes):
        try:
            shingles = shingler.shingle_hashes(code)
        except ValueError:
            continue  # no tokens: nothing to train on either
        sketch = LeanMinHash(seed=1, hashvalues=shingler.signature_of_hashes(shingles), scheme="affine32")
        if any(_jaccard(shingles, kept_shingles[other]) >= DEDUP_JACCARD for other in lsh.query(sketch)):
            continue
        lsh.insert(index, sketch, check_duplication=False)
        kept_shingles[index] = shingles
        kept.append(index)
    return kept


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


# ---- the set a run starts from -----------------------------------------------------------------------------------


def build_lemur_set(settings: CorpusSettings, cache_dir: Path | None = None) -> LemurSet:
    """The LEMUR nets a run starts from, most accurate first (cached under `cache_dir/lemur` when given).

    Raises LemurLayoutError when `settings.lemur` is no LEMUR source (or is 'none').
    """
    if not settings.enabled:
        raise LemurLayoutError("no LEMUR source configured ([corpus] lemur = 'none')")
    started = time.perf_counter()
    source = _Source(settings.lemur)
    cache_file = None
    if cache_dir is not None:
        key = json.dumps([_CACHE_VERSION, source.fingerprint(), settings.min_accuracy, settings.dedup])
        cache_file = cache_dir / "lemur" / f"set-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        cached = _load_cached(cache_file)
        if cached is not None:
            cached.report.seconds, cached.report.cached = time.perf_counter() - started, True
            return cached
    report = LemurReport(source=str(source.path))
    accuracies = read_accuracies(source, report)
    names = source.nets()
    report.scanned = len(names)
    # The accuracy bar first: it is a dict lookup, while the contract check parses the net (the costly step).
    scored = [(accuracies[Path(n).stem], Path(n).stem, n) for n in names if Path(n).stem in accuracies]
    report.with_accuracy = len(scored)
    accurate = [entry for entry in scored if entry[0] >= settings.min_accuracy]
    report.accurate = len(accurate)
    codes = [source.read(path).decode("utf-8", errors="replace") for _, _, path in accurate]
    verdicts = _checked(codes)
    report.rejected_by_kind = dict(Counter(kind for kind in verdicts if kind is not None).most_common())
    passing = sorted(
        (
            (acc, name, code)
            for (acc, name, _), code, kind in zip(accurate, codes, verdicts, strict=True)
            if kind is None
        ),
        key=lambda entry: (-entry[0], entry[1]),
    )
    report.contract_ok = len(passing)
    accurate = passing
    keep = dedup([code for _, _, code in accurate]) if settings.dedup else range(len(accurate))
    nets = tuple(LemurNet(KEY_PREFIX + accurate[i][1], accurate[i][2], round(accurate[i][0], 2)) for i in keep)
    report.kept = len(nets)
    report.seconds = time.perf_counter() - started
    result = LemurSet(nets, report)
    if cache_file is not None:
        _store_cached(cache_file, result)
    return result


def _load_cached(path: Path) -> LemurSet | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LemurSet(tuple(LemurNet(**net) for net in data["nets"]), LemurReport(**data["report"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # absent or from another version: rebuilt


def _store_cached(path: Path, lemur: LemurSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    data = {"nets": [asdict(net) for net in lemur.nets], "report": asdict(lemur.report)}
    temporary.write_text(json.dumps(data), encoding="utf-8")
    temporary.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
