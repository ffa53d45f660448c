import pytest

from archloop.run.records import CandidateRecord
from archloop.run.selection import SelectionRule, cycle_stats, format_table, select_candidates, wilson_interval


def cand(i, acc, novel=True, verdict=None, sig=None, outcome="ok", valid=True):
    return CandidateRecord(
        id=f"c1-{i:04d}",
        cycle=1,
        index=i,
        status="evaluated" if acc is not None else "invalid",
        code="x",
        valid=valid,
        novel=novel,
        signature=sig or f"s{i}",
        eval_outcome=outcome if acc is not None else None,
        accuracy=acc,
        verdict=verdict,
    )


def test_threshold_then_fallback_until_min_selected_in_descending_accuracy():
    cs = [cand(0, 45), cand(1, 39), cand(2, 36), cand(3, 37.5), cand(4, 34.9), cand(5, 50)]
    sel = select_candidates(cs, SelectionRule(min_selected=3))
    assert sel.reasons == {"c1-0005": "threshold", "c1-0000": "threshold", "c1-0001": "fallback"}


def test_fallback_is_not_used_when_threshold_already_gives_enough():
    cs = [cand(i, 41 + i) for i in range(16)] + [cand(99, 38)]
    sel = select_candidates(cs, SelectionRule())
    assert len(sel.selected) == 16 and "c1-0099" not in sel.reasons


def test_non_novel_rejected_and_failed_candidates_are_never_selected_by_the_rule():
    cs = [cand(0, 60, novel=False), cand(1, 60, verdict="reject"), cand(2, 60, outcome="nan_loss"), cand(3, None)]
    assert select_candidates(cs, SelectionRule()).reasons == {}


def test_accept_forces_in_a_candidate_the_rule_would_drop():
    cs = [cand(0, 10, verdict="accept"), cand(1, None, verdict="accept"), cand(2, 45)]
    assert select_candidates(cs, SelectionRule()).reasons == {
        "c1-0002": "threshold",
        "c1-0000": "accepted",
        "c1-0001": "accepted",
    }


def test_structural_duplicates_are_dropped_keeping_the_most_accurate():
    cs = [cand(0, 45, sig="same"), cand(1, 55, sig="same"), cand(2, 47, sig="seed-sig")]
    sel = select_candidates(cs, SelectionRule(), seen_signatures={"seed-sig"})
    assert sel.reasons == {"c1-0001": "threshold"}


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [(0, 0, (0.0, 0.0)), (5, 10, (23.66, 76.34)), (0, 10, (0.0, 27.75)), (10, 10, (72.25, 100.0))],
)
def test_wilson_interval_matches_reference_values(k, n, expected):
    assert wilson_interval(k, n) == pytest.approx(expected, abs=0.01)


def test_paper_average_valid_rate_interval_is_reproduced():
    # docs/METHOD.md: mean valid rate 50.6% with Wilson 95% CI 45.0-56.1 (that width fits about 310 samples).
    low, high = wilson_interval(157, 310)
    assert low == pytest.approx(45.0, abs=0.3) and high == pytest.approx(56.1, abs=0.3)


def test_cycle_stats_columns_and_failure_classes():
    cs = [cand(0, 45), cand(1, 30), cand(2, None, valid=False), cand(3, None, outcome="timeout")]
    cs[2] = CandidateRecord(**{**cs[2].__dict__, "outcome": "syntax_error"})
    cs.append(CandidateRecord(**{**cand(4, 0).__dict__, "eval_outcome": "timeout", "accuracy": None}))
    stats = cycle_stats(1, cs, unique_models=1, total_train_prompts=12, stage_seconds={"generate": 1.5})
    assert stats["generated"] == 5 and stats["valid"] == 4 and stats["validPct"] == 80.0
    assert stats["trained"] == 2 and stats["bestAcc"] == 45 and stats["meanAcc"] == 37.5
    assert stats["atLeast40Pct"] == 50.0
    assert stats["failures"] == {"syntax_error": 1, "timeout": 1}
    table = format_table([stats])
    assert "Valid (%)" in table.splitlines()[0] and "80.0" in table.splitlines()[1]


def test_cycle_stats_of_a_cycle_that_trained_nothing_has_nulls():
    stats = cycle_stats(2, [cand(0, None, valid=False)], unique_models=0, total_train_prompts=0, stage_seconds={})
    assert stats["bestAcc"] is None and stats["atLeast40CI"] is None and stats["validCI"] == [0.0, 79.35]
