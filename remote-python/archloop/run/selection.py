"""Which candidates of a cycle go into the fine-tuning set, and the cycle's statistics in the paper's columns.

Pure functions over `CandidateRecord`s: no store, no I/O, so the rule and the numbers are tested on their own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from archloop.run.records import CandidateRecord

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class SelectionRule:
    threshold: float = 40.0
    fallback_threshold: float = 35.0
    min_selected: int = 15
    structural_dedup: bool = True


@dataclass(frozen=True)
class Selection:
    """Selected candidate ids in selection order, each with the rule that let it in."""

    reasons: dict[str, str]

    @property
    def selected(self) -> list[str]:
        return list(self.reasons)


def _trained(c: CandidateRecord) -> bool:
    return c.status == "evaluated" and c.eval_outcome == "ok" and c.accuracy is not None


def select_candidates(
    candidates: Sequence[CandidateRecord], rule: SelectionRule, seen_signatures: Iterable[str] = ()
) -> Selection:
    """The paper's rule (docs/METHOD.md, step 5) plus human verdicts (docs/DESIGN.md, "The run model").

    Novel candidates at or above `threshold` are selected; if fewer than `min_selected`, novel ones at or above
    `fallback_threshold` are added in descending accuracy until there are `min_selected`. A candidate whose structural
    signature was already seen (the seed corpus, earlier selections, or a better candidate of this cycle) is not
    novel at selection time. `accept` forces a candidate in whatever its numbers; `reject` keeps it out.
    """
    seen = set(seen_signatures)
    reasons: dict[str, str] = {}
    eligible = [c for c in candidates if c.verdict != "reject" and c.novel and _trained(c)]
    eligible.sort(key=lambda c: (-(c.accuracy or 0.0), c.index))

    def take(c: CandidateRecord, reason: str) -> None:
        if rule.structural_dedup and c.signature:
            if c.signature in seen:
                return
            seen.add(c.signature)
        reasons[c.id] = reason

    for c in eligible:
        if (c.accuracy or 0.0) >= rule.threshold:
            take(c, "threshold")
    for c in eligible:
        if len(reasons) >= rule.min_selected:
            break
        if c.id not in reasons and rule.fallback_threshold <= (c.accuracy or 0.0) < rule.threshold:
            take(c, "fallback")
    for c in candidates:
        if c.verdict == "accept" and c.code is not None:
            reasons[c.id] = "accepted"  # a human accept overrides the rule and the dedup
    return Selection(reasons=reasons)


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion, in percent; (0, 0) when there is nothing to count."""
    if total <= 0:
        return (0.0, 0.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (round(max(0.0, centre - half) * 100, 2), round(min(1.0, centre + half) * 100, 2))


def cycle_stats(
    cycle: int,
    candidates: Sequence[CandidateRecord],
    *,
    unique_models: int,
    total_train_prompts: int,
    stage_seconds: dict[str, float],
    threshold: float = 40.0,
) -> dict[str, Any]:
    """The paper's six columns plus Wilson intervals, failure counts by class and seconds per stage (wire CycleStats).

    Valid = passed validation / generated; Best, Mean and >=40% are over trained candidates (evaluated with outcome
    ok); failures count every non-ok outcome of validation or evaluation by class.
    """
    generated = [c for c in candidates if c.code is not None]
    valid = [c for c in generated if c.valid]
    trained = [c for c in generated if _trained(c)]
    accuracies = [float(c.accuracy) for c in trained if c.accuracy is not None]
    at_least = sum(1 for a in accuracies if a >= threshold)
    failures: Counter[str] = Counter()
    for c in generated:
        if c.valid is False and c.outcome:
            failures[c.outcome] += 1
        elif c.status == "evaluated" and c.eval_outcome and c.eval_outcome != "ok":
            failures[c.eval_outcome] += 1
    return {
        "cycle": cycle,
        "generated": len(generated),
        "valid": len(valid),
        "validPct": round(100 * len(valid) / len(generated), 2) if generated else 0.0,
        "validCI": list(wilson_interval(len(valid), len(generated))),
        "trained": len(trained),
        "bestAcc": round(max(accuracies), 2) if accuracies else None,
        "meanAcc": round(sum(accuracies) / len(accuracies), 2) if accuracies else None,
        "atLeast40Pct": round(100 * at_least / len(accuracies), 2) if accuracies else None,
        "atLeast40CI": list(wilson_interval(at_least, len(accuracies))) if accuracies else None,
        "uniqueModels": unique_models,
        "totalTrainPrompts": total_train_prompts,
        "failures": dict(sorted(failures.items())),
        "stageSeconds": {k: round(v, 3) for k, v in stage_seconds.items()},
    }


PAPER_COLUMNS = ("Cycle", "Valid (%)", "Best (%)", "Mean (%)", ">=40% (%)", "Unique Models", "Total Train Prompts")


def paper_row(stats: dict[str, Any]) -> list[str]:
    """One row of the paper's table from a CycleStats dict ('-' where a cycle trained nothing)."""

    def pct(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    return [
        str(stats["cycle"]),
        f"{stats['validPct']:.1f}",
        pct(stats["bestAcc"]),
        pct(stats["meanAcc"]),
        pct(stats["atLeast40Pct"]),
        str(stats["uniqueModels"]),
        str(stats["totalTrainPrompts"]),
    ]


def format_table(rows: Sequence[dict[str, Any]], header: bool = True) -> str:
    """The paper's per-cycle table as fixed-width text."""
    widths = [max(len(c), 8) for c in PAPER_COLUMNS]
    lines = []
    if header:
        lines.append("  ".join(c.rjust(w) for c, w in zip(PAPER_COLUMNS, widths, strict=True)))
    for stats in rows:
        lines.append("  ".join(v.rjust(w) for v, w in zip(paper_row(stats), widths, strict=True)))
    return "\n".join(lines)
