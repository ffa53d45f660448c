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


def _brute_force(matrix: np.ndarray, keys: list[str], query: np.ndarray, num_perm: int) -> tuple[str, float]:
    """An independent exact scan: the count of equal values per stored row, the earliest row of the highest."""
    agreement = (matrix == query).sum(axis=1)
    best = int(np.flatnonzero(agreement == agreement.max())[0])
    return keys[best], agreement[best] / num_perm


def _families(rng: np.random.Generator, count: int, num_perm: int) -> np.ndarray:
    """Signatures in a few lineages (each a perturbed copy of an earlier one), so agreements span 0 to num_perm."""
    rows = [rng.integers(0, 2**32, size=num_perm, dtype=np.uint32) for _ in range(4)]
    while len(rows) < count:
        child = rows[int(rng.integers(len(rows)))].copy()
        changed = rng.random(num_perm) < rng.choice([0.02, 0.1, 0.3])
        # Half the changes keep the low 4 bits (a 2- and 4-bit pass cannot tell them from a match).
        child[changed] += np.where(rng.random(int(changed.sum())) < 0.5, 16, 1).astype(np.uint32) * rng.integers(
            1, 1000, size=int(changed.sum()), dtype=np.uint32
        )
        rows.append(child)
    return np.stack(rows)


def _probes(rng: np.random.Generator, stored: np.ndarray, band: int) -> list[np.ndarray]:
    """Near copies, distant copies, one change per LSH band (LSH names none, yet Jaccard is 1 - bands/num_perm >=
    0.85: the novelty decision rests on the scan), low-bit look-alikes and values agreeing with nothing."""
    num_perm = stored.shape[1]
    probes = []
    for _ in range(12):
        base = stored[int(rng.integers(len(stored)))]
        for fraction in (0.05, 0.25, 0.6):
            probe = base.copy()
            changed = rng.random(num_perm) < fraction
            probe[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint32)
            probes.append(probe)
        per_band = base.copy()
        per_band[np.arange(0, num_perm, band) + rng.integers(band)] ^= 1 << 20  # same low bits, one per band
        probes.append(per_band)
        probes.append(base + np.uint32(64))  # agrees with `base` in every low 2 and 4 bits, in no full value
    probes.append(rng.integers(0, 2**32, size=num_perm, dtype=np.uint32))
    return probes


def test_nearest_agrees_with_brute_force_as_the_index_grows_one_net_at_a_time():
    rng = np.random.default_rng(11)
    index = MinHashIndex()
    num_perm, band = index.settings.num_perm, index._lsh.r
    signatures = _families(rng, 700, num_perm)
    keys = [f"net{i}" for i in range(len(signatures))]
    fallbacks = decisive = 0
    for count, (key, signature) in enumerate(zip(keys, signatures, strict=True), start=1):
        index.add_signature(key, signature)  # one at a time: the low-bit and nibble arrays grow by doubling
        if count not in (1, 2, 17, 33, 100, 257, 700):
            continue
        for probe in _probes(rng, signatures[:count], band):
            expected = _brute_force(signatures[:count], keys[:count], probe, num_perm)
            assert index.nearest_signature(probe) == expected == index.nearest_exhaustive(probe)
            result = index.query_or_nearest_signature(probe)
            if index.query_signature(probe).nearest is None:
                fallbacks += 1
                decisive += expected[1] >= index.settings.threshold
                assert (result.nearest, result.max_jaccard) == expected
                assert result.novel == (expected[1] < index.settings.threshold)
    assert fallbacks > 50 and decisive > 10  # the scan ran, also where it decided a duplicate LSH missed


def test_every_pass_of_nearest_is_exercised_at_a_few_thousand_rows():
    # Rows that agree with the query in every low bit but no full value, many of them, before the true nearest:
    # the 2-bit and 4-bit passes keep them all, and the full comparison must still pick the real one.
    rng = np.random.default_rng(5)
    num_perm = 128
    query = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)
    decoys = np.repeat((query + np.uint32(256))[None, :], 600, axis=0)  # low 8 bits equal, bound 128, true 0
    unrelated = rng.integers(0, 2**32, size=(3000, num_perm), dtype=np.uint32)
    near = query.copy()
    near[:30] += np.uint32(1)  # 98 of 128 agree
    nearer = query.copy()
    nearer[:20] += np.uint32(1 << 16)  # 108 agree, low bits all equal
    matrix = np.concatenate([decoys, unrelated, near[None], unrelated[:50], nearer[None], nearer[None]])
    keys = [f"k{i}" for i in range(len(matrix))]
    index = MinHashIndex()
    index.add_signatures(keys[:2000], matrix[:2000])
    index.add_signatures(keys[2000:], matrix[2000:])
    for probe in (query, near, nearer, unrelated[7], rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)):
        assert index.nearest_signature(probe) == _brute_force(matrix, keys, probe, num_perm)
    assert index.nearest_signature(query) == (keys[len(matrix) - 2], 108 / 128)  # the earlier of the two ties
