"""Import the LEMUR corpus (ABrain-One/nn-dataset) as novelty/fine-tuning corpus entries.

LEMUR's layout, mirrored from the nn-dataset repository (and the `nn-dataset` wheel, which ships the same `ab/`
tree):

- `ab/nn/nn/<Name>.py`: one net per file, written in the contract of PAPER.md.
- `ab/nn/stat/train/<task>_<dataset>_<metric>_<Name>/<epoch>.json` (older releases: `ab/nn/stat/<config>/`): a JSON
  list of trials, each `{"accuracy": float, "batch": int, "dropout": float, "lr": float, "momentum": float,
  "transform": str, "uid": str, "duration": int}`. LEMUR itself splits the directory name on `_` into exactly those
  four parts (`conf_to_names`); the metric may be a comma list (`bleu,meteor,cider`).

`iter_lemur` yields a `CorpusEntry` for every net that passes `contract.check_source` and records every other net
in the `ImportReport` it is given (with the contract's problem kind), so a caller can say "8,028 files: 7,311
imported, 717 rejected (412 not_a_set, ...)". Nothing is executed: code is only read and parsed.

Failure behaviour: a location that is not a LEMUR tree raises `LemurLayoutError` up front; inside a valid tree no
single bad file stops the import. Unreadable or non-UTF-8 net files are rejected with kind `unreadable`; malformed
stat directories, files or trials are skipped and listed in `ImportReport.stat_problems`.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archloop.evaluation.contract import KNOWN_HYPERPARAMETERS, check_source

NETS_DIR = Path("ab/nn/nn")
STAT_DIRS = (Path("ab/nn/stat/train"), Path("ab/nn/stat"))  # current layout first, then the pre-2025 one
KEY_PREFIX = "lemur:"


class LemurLayoutError(ValueError):
    """The given location holds no LEMUR tree (no `ab/nn/nn` directory under it)."""


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus net. `key` is stable across imports (`lemur:<Name>`); `source` is the file it came from,
    relative to the LEMUR root; `accuracy_by_epoch` is the best recorded accuracy per epoch for the selected
    task/dataset/metric, or None when LEMUR has no statistics for it."""

    key: str
    code: str
    source: str
    accuracy_by_epoch: dict[int, float] | None = None


@dataclass(frozen=True)
class RejectedNet:
    name: str
    source: str
    kind: str
    message: str


@dataclass
class ImportReport:
    """What an import saw. Filled in while `iter_lemur` runs; complete once the iterator is exhausted."""

    root: Path | None = None
    scanned: int = 0
    imported: int = 0
    rejected: list[RejectedNet] = field(default_factory=list)
    stat_problems: list[str] = field(default_factory=list)

    def rejected_by_kind(self) -> dict[str, int]:
        return dict(Counter(rejection.kind for rejection in self.rejected).most_common())

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.rejected_by_kind().items())
        text = f"{self.scanned} nets scanned: {self.imported} imported, {len(self.rejected)} rejected"
        return (
            text
            + (f" ({kinds})" if kinds else "")
            + (f"; {len(self.stat_problems)} stat problems" if self.stat_problems else "")
        )


def find_lemur_root(location: str | Path | None = None) -> Path:
    """The directory that contains `ab/nn/nn`.

    `location` may be a checkout root, the `ab` package directory itself, or None to find an installed
    `nn-dataset` (`pip install nn-dataset`) through the import system without importing it (LEMUR's modules
    print and touch the file system on import). Raises LemurLayoutError if no LEMUR tree is found.
    """
    if location is None:
        spec = importlib.util.find_spec("ab")
        places = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(place).parent for place in places]
        if not candidates:
            raise LemurLayoutError("no LEMUR location given and no installed 'ab' package (pip install nn-dataset)")
    else:
        path = Path(location)
        candidates = [path, path.parent] if path.name == "ab" else [path]
    for candidate in candidates:
        if (candidate / NETS_DIR).is_dir():
            return candidate
    raise LemurLayoutError(
        f"no LEMUR tree (expected {NETS_DIR}/ with one .py per net) under {', '.join(map(str, candidates))}"
    )


def read_accuracies(
    root: Path, task: str, dataset: str, metric: str, report: ImportReport | None = None
) -> dict[str, dict[int, float]]:
    """Best accuracy per epoch for every net with statistics for (task, dataset, metric), keyed by net name."""
    problems = report.stat_problems if report is not None else []
    stat_dir = next((root / candidate for candidate in STAT_DIRS if (root / candidate).is_dir()), None)
    if stat_dir is None:
        return {}
    accuracies: dict[str, dict[int, float]] = {}
    for config_dir in sorted(path for path in stat_dir.iterdir() if path.is_dir()):
        parts = config_dir.name.split("_", 3)
        if len(parts) != 4:
            problems.append(f"{config_dir.name}: not <task>_<dataset>_<metric>_<nn>")
            continue
        config_task, config_dataset, config_metric, name = parts
        if (config_task, config_dataset) != (task, dataset) or metric not in config_metric.split(","):
            continue
        for epoch_file in sorted(config_dir.glob("*.json")):
            if not epoch_file.stem.isdigit():
                continue  # LEMUR keeps backups and reports beside the epoch files
            best = _best_accuracy(epoch_file, problems)
            if best is not None:
                epochs = accuracies.setdefault(name, {})
                epoch = int(epoch_file.stem)
                epochs[epoch] = max(best, epochs.get(epoch, best))
    return accuracies


def _best_accuracy(epoch_file: Path, problems: list[str]) -> float | None:
    where = f"{epoch_file.parent.name}/{epoch_file.name}"
    try:
        trials = json.loads(epoch_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{where}: unreadable ({type(error).__name__}: {error})")
        return None
    if not isinstance(trials, list):
        problems.append(f"{where}: expected a list of trials, found {type(trials).__name__}")
        return None
    values = [
        float(trial["accuracy"])
        for trial in trials
        if isinstance(trial, dict)
        and isinstance(trial.get("accuracy"), (int, float))
        and not isinstance(trial.get("accuracy"), bool)
        and math.isfinite(trial["accuracy"])
    ]
    if len(values) != len(trials):
        problems.append(f"{where}: {len(trials) - len(values)} trial(s) without a numeric accuracy")
    return max(values) if values else None


def iter_lemur(
    location: str | Path | None = None,
    report: ImportReport | None = None,
    *,
    task: str = "img-classification",
    dataset: str = "cifar-10",
    metric: str = "acc",
    require_statistics: bool = False,
    strict_hyperparameters: bool = False,
) -> Iterator[CorpusEntry]:
    """Yield the contract-conforming nets of a LEMUR tree, in name order, recording rejects in `report`.

    `require_statistics` keeps only nets with statistics for (task, dataset, metric), the paper's corpus.
    `strict_hyperparameters` also rejects nets declaring hyperparameters beyond lr/momentum/dropout/weight_decay;
    it is off by default because a corpus for novelty should include every real net, evaluable here or not.
    Raises LemurLayoutError before yielding anything if `location` holds no LEMUR tree.
    """
    report = report if report is not None else ImportReport()
    root = find_lemur_root(location)
    report.root = root
    accuracies = read_accuracies(root, task, dataset, metric, report)
    known = KNOWN_HYPERPARAMETERS if strict_hyperparameters else None
    for net_file in sorted((root / NETS_DIR).glob("*.py")):
        if net_file.name.startswith("__"):
            continue
        name = net_file.stem
        source = net_file.relative_to(root).as_posix()
        if require_statistics and name not in accuracies:
            continue
        report.scanned += 1
        try:
            code = net_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            report.rejected.append(RejectedNet(name, source, "unreadable", f"{type(error).__name__}: {error}"))
            continue
        verdict = check_source(code, known_hyperparameters=known)
        if not verdict.ok:
            kind = verdict.problems[0].kind if verdict.problems else verdict.outcome
            report.rejected.append(RejectedNet(name, source, kind, verdict.message or verdict.outcome))
            continue
        report.imported += 1
        yield CorpusEntry(KEY_PREFIX + name, code, source, accuracies.get(name))
