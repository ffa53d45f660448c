"""Novelty measured three ways: token MinHash-Jaccard (the paper's gate), the AST structural signature (exact match)
and the layer graph's Weisfeiler-Lehman similarity, each with its score and nearest stored net.

`ThreeWayIndex` keeps the three indexes side by side; `[novelty] gate` says which of them decide the verdict (a
candidate is a duplicate when any gating measure calls it one). Code that does not parse has no structure or
graph: it is indexed by tokens only, and queried it scores 0 on the other two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from archloop.novelty.graph import GraphIndex, graph_vector
from archloop.novelty.minhash import MinHashIndex
from archloop.novelty.settings import NoveltySettings
from archloop.novelty.structure import structural_signature


@dataclass(frozen=True)
class Measure:
    """One measure's answer: its score in [0, 1], the stored key it came from, and whether it calls a duplicate."""

    measure: str  # minhash | structure | graph
    score: float
    nearest: str | None
    duplicate: bool
    gate: bool  # whether this measure decides the verdict

    def wire(self) -> dict[str, object]:
        nearest = None if self.nearest is None else self.nearest[:256]
        score = min(1.0, max(0.0, self.score))
        return {
            "measure": self.measure,
            "score": score,
            "nearest": nearest,
            "duplicate": self.duplicate,
            "gate": self.gate,
        }


@dataclass(frozen=True)
class ThreeWayResult:
    measures: tuple[Measure, ...]
    novel: bool  # no gating measure calls it a duplicate
    explanation: str

    def of(self, measure: str) -> Measure:
        return next(m for m in self.measures if m.measure == measure)


# What `add` computes from one code: its MinHash signature, and its structural signature and graph vector (None for
# code that does not parse).
Features = tuple[np.ndarray, str | None, sparse.csr_matrix | None]


class FeatureCache:
    """Features by code digest, kept across rebuilds of the index (a run rebuilds it when a verdict changes, and
    re-reading a 10^4-net corpus three ways costs tens of seconds). Bounded: cleared when full."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[bytes, Features] = {}

    def get(self, code: str, compute: Callable[[str], Features]) -> Features:
        digest = hashlib.blake2b(code.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        found = self._entries.get(digest)
        if found is None:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            found = self._entries[digest] = compute(code)
        return found


class ThreeWayIndex:
    """The stored nets under all three measures. Keys are caller-chosen; `add` raises ValueError for a repeated key."""

    def __init__(self, settings: NoveltySettings | None = None, cache: FeatureCache | None = None) -> None:
        self.settings = settings or NoveltySettings()
        self.minhash = MinHashIndex(self.settings)
        self.graph = GraphIndex()
        self.cache = cache or FeatureCache()
        self._structures: dict[str, str] = {}  # signature -> first key stored with it

    def __len__(self) -> int:
        return len(self.minhash)

    def _features(self, code: str) -> Features:
        try:
            structure, vector = structural_signature(code), graph_vector(code)
        except ValueError:
            structure, vector = None, None  # unparseable: tokens only
        return self.minhash.shingler.signature(code), structure, vector

    def add(self, key: str, code: str) -> None:
        signature, structure, vector = self.cache.get(code, self._features)
        self.minhash.add_signature(key, signature)
        if structure is not None and vector is not None:
            self.graph.add_vector(key, vector)
            self._structures.setdefault(structure, key)

    def query(self, code: str) -> ThreeWayResult:
        gate = set(self.settings.gate)
        tokens = self.minhash.query_or_nearest(code)
        measures = [Measure("minhash", tokens.max_jaccard, tokens.nearest, not tokens.novel, "minhash" in gate)]
        try:
            same = self._structures.get(structural_signature(code))
            graph = self.graph.query(code)
        except ValueError:
            same, graph = None, None
        measures.append(Measure("structure", 1.0 if same else 0.0, same, same is not None, "structure" in gate))
        similarity, nearest = (graph.similarity, graph.nearest) if graph else (0.0, None)
        duplicate = nearest is not None and similarity >= self.settings.graph_threshold
        measures.append(Measure("graph", similarity, nearest, duplicate, "graph" in gate))
        novel = not any(m.duplicate and m.gate for m in measures)
        return ThreeWayResult(tuple(measures), novel, explain(measures, self.settings))


def explain(measures: list[Measure], settings: NoveltySettings) -> str:
    """One sentence: which measure calls it a duplicate and why, and which decide (e.g. 'near-duplicate by tokens
    (J=0.91 with seed:resnet_basic); same structure as c3-1; layer graph 0.97 similar to c2-4')."""
    parts = []
    for m in measures:
        if m.measure == "minhash":
            if m.duplicate:
                parts.append(f"near-duplicate by tokens (J={m.score:.2f} with {m.nearest})")
            elif m.nearest is not None:
                parts.append(f"new by tokens (J={m.score:.2f} < {settings.threshold:g} with {m.nearest})")
            else:
                parts.append("new by tokens (nothing stored)")
        elif m.measure == "structure":
            parts.append(f"same structure as {m.nearest}" if m.duplicate else "new structure")
        elif m.nearest is not None:
            verb = ">=" if m.duplicate else "<"
            parts.append(f"layer graph {m.score:.2f} similar to {m.nearest} ({verb} {settings.graph_threshold:g})")
        else:
            parts.append("layer graph: nothing to compare")
    deciding = [m.measure for m in measures if m.gate and m.duplicate]
    verdict = f"duplicate by the gate ({', '.join(deciding)})" if deciding else "novel by the gate"
    gate = ", ".join(settings.gate)
    return f"{'; '.join(parts)}: {verdict} [{gate}]"
