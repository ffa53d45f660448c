"""The `[novelty]` section of a run's config (read by minhash.py, structure.py's caller and the loop).

Kept apart from minhash.py so that reading a config never imports numpy or datasketch.
"""

from __future__ import annotations

from dataclasses import dataclass

from archloop.settings import Check, non_negative, positive, setting, unit_interval

# The paper's tokens (identifiers whole, every other non-space character alone) and the MinHash permutation seed: fixed,
# since stored signatures are only comparable under the same ones.
TOKEN_PATTERN = r"[A-Za-z_]\w*|[^\s]"
MINHASH_SEED = 1


# The three ways a candidate can be called a duplicate: token MinHash-Jaccard (the paper's gate), the AST structural
# signature (exact match) and the layer graph's Weisfeiler-Lehman similarity.
MEASURES = ("minhash", "structure", "graph")


def measures() -> Check:
    return (
        lambda v: len(v) > 0 and set(v) <= set(MEASURES),
        "made of 'minhash', 'structure' or 'graph' (at least one)",
    )


def permutations() -> Check:
    return (lambda v: 2 <= v <= 65535, "in [2, 65535]")


@dataclass(frozen=True)
class NoveltySettings:
    """The `[novelty]` section: the paper's generation-time filter and the selection-time structural check."""

    threshold: float = setting(0.85, unit_interval(), "MinHash-LSH Jaccard threshold for a near-duplicate")
    num_perm: int = setting(128, permutations(), "MinHash permutations")
    shingle: int = setting(7, positive(), "tokens per shingle")
    check_at_generation: bool = setting(True, None, "regenerate near-duplicates while sampling (paper's code)")
    let_through_after: int = setting(5, non_negative(), "after this many rejections a candidate is let through")
    structural_dedup: bool = setting(True, None, "selection drops candidates whose AST signature was seen")
    gate: list[str] = setting(
        ["minhash"], measures(), "which measures call a candidate a duplicate: any of minhash, structure, graph"
    )
    graph_threshold: float = setting(0.95, unit_interval(), "layer-graph WL cosine similarity for a duplicate")

    def __post_init__(self) -> None:
        if self.shingle < 1 or not 2 <= self.num_perm <= 65535 or not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"invalid novelty settings: {self}")
        if not self.gate or not set(self.gate) <= set(MEASURES) or not 0.0 < self.graph_threshold <= 1.0:
            raise ValueError(f"invalid novelty settings: gate must be a non-empty list of {MEASURES}: {self}")
