"""The loop's novelty query: the fast nearest-neighbour pass answers exactly what the plain scan answers."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

from archloop.corpus.seeds import load_seed_corpus
from archloop.novelty.minhash import MinHashIndex, NoveltySettings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from novelty_bench import Mutator  # noqa: E402  (the bench's realistic edits of seed nets)

SEEDS = {seed.name: seed.code for seed in load_seed_corpus()}


def test_nearest_equals_the_exhaustive_scan_on_seeds_and_generated_variants():
    rng = random.Random(3)
    mutator = Mutator(list(SEEDS.values()), rng)
    index = MinHashIndex()
    index.add_many(SEEDS.items())
    stored = list(SEEDS.values())
    for number in range(300):  # lineages, as a run's accepted generations
        child = mutator.mutate(rng.choice(stored), rng.randint(1, 4))
        index.add(f"variant{number}", child)
        stored.append(child)
    queries = [mutator.mutate(rng.choice(stored), steps) for steps in (1, 3, 10) for _ in range(40)]
    fallbacks = 0
    for query in queries:
        signature = index.shingler.signature(query)
        assert index.nearest_signature(signature) == index.nearest_exhaustive(signature)
        result = index.query_or_nearest(query)
        lsh = index.query_signature(signature)
        if lsh.nearest is None:
            fallbacks += 1
            key, jaccard = index.nearest_exhaustive(signature)
            assert (result.nearest, result.max_jaccard) == (key, jaccard)
            assert result.novel == (jaccard < index.settings.threshold)
        else:
            assert result == lsh
    assert fallbacks > 10  # the scan path was exercised, not only LSH hits


def test_ties_go_to_the_earliest_key_and_low_bit_collisions_do_not_fool_it():
    settings = NoveltySettings(num_perm=16)
    index = MinHashIndex(settings)
    query = np.arange(1, 17, dtype=np.uint32) * 1000
    collide = query + 256  # same low bits everywhere, no full value equal: bound 16, true 0
    half = query.copy()
    half[8:] += 1  # 8 agree in full
    index.add_signatures(["collide", "half-a", "half-b"], np.stack([collide, half, half]))
    assert index.nearest_signature(query) == ("half-a", 0.5) == index.nearest_exhaustive(query)


def test_num_perm_not_a_multiple_of_eight_and_an_empty_index():
    settings = NoveltySettings(num_perm=20)
    index = MinHashIndex(settings)
    assert index.nearest_signature(np.zeros(20, dtype=np.uint32)) is None
    rows = np.random.default_rng(0).integers(0, 2**32, size=(50, 20), dtype=np.uint32)
    index.add_signatures([f"k{i}" for i in range(50)], rows)
    for row in rows[:10]:
        probe = row.copy()
        probe[:5] ^= 1
        assert index.nearest_signature(probe) == index.nearest_exhaustive(probe)
