"""Novelty filter benchmark: LSH query time per candidate vs brute-force Jaccard, at 10^3, 10^4 and 10^5 stored codes.

Run: `remote-python/.venv/bin/python bench/novelty_bench.py [--sizes 1000 10000 100000] [--queries 300]`.

The stored codes are realistic: lineages of mutated seed nets (re-tuned widths and kernels, renamed locals, swapped
activations and pooling, duplicated or dropped layers, grafted helper blocks from other families, comments), the
way a run's accepted generations descend from each other. Queries are half near-copies of stored codes (one more
mutation) and half fresh, heavily mutated seeds.

Measured per candidate:
- The loop's query (`MinHashIndex.query_or_nearest`: LSH, then the exact nearest stored code when LSH names none)
  against the same query with the plain scan of every full signature, and with the previous nearest-neighbour path
  (a 4-bit pass over every row, then full comparison of the rows that can win), in CPU time: the mean over all
  queries, and the mean and the slowest of the queries where LSH named none (the worst case: the scan ran); with
  how often each names the same nearest key and Jaccard as the plain scan, and the bytes the index's arrays hold.
- LSH: `MinHashIndex.query(code)`, everything included (tokenise, shingle, MinHash, LSH lookup, score candidates).
- Baselines on the same data, each answering "highest Jaccard against every stored code":
  exact Jaccard of shingle sets pair by pair (`np.intersect1d` per stored code), exact Jaccard as one sparse
  matrix-vector product (the strongest exact brute force), datasketch `MinHash.jaccard` pair by pair, and one
  numpy scan of the signature matrix (the strongest approximate brute force). Slow baselines are timed on a
  sample of the queries, as the sample column says.
Building the signatures uses `Shingler.signatures` (numpy-vectorised shingle hashing; each distinct shingle of a
batch is permuted once); its per-code cost is printed beside datasketch's default per-shingle SHA-1 path.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "remote-python"))

from archloop.corpus.seeds import load_seed_corpus  # noqa: E402
from archloop.novelty.minhash import (  # noqa: E402  (the two private helpers: the previous path's baseline)
    MINHASH_SEED,
    MinHashIndex,
    NoveltySettings,
    Shingler,
    _nibble_agreement,
    _pack_nibbles,
)
from datasketch import LeanMinHash, MinHash  # noqa: E402
from scipy import sparse  # noqa: E402  (datasketch already depends on scipy)

WIDTHS = ["8", "12", "16", "24", "32", "40", "48", "64", "96", "128"]
ACTIVATIONS = ["ReLU", "GELU", "SiLU", "LeakyReLU", "ELU", "Mish", "Hardswish", "ReLU6"]
POOLS = ["MaxPool2d", "AvgPool2d"]
WIDTH_LITERAL = re.compile(r"(?<![\w.])(8|12|16|24|32|48|64|96|128)(?![\w.])")
WORDS = ["wider", "stem", "try", "residual", "cheaper", "gate", "mixing", "tweak", "variant", "faster", "stage"]
LAYER_LINE = re.compile(r"^\s+nn\.\w+\(.*\),\s*$")
ASSIGNED = re.compile(r"^\s+([a-z_][a-z0-9_]*)\s*=", re.MULTILINE)
BLOCK_START = re.compile(r"^(class |def )", re.MULTILINE)


@dataclass
class Mutator:
    """Realistic edits of LEMUR-contract nets, driven by one seeded RNG so every run sees the same corpus."""

    seeds: Sequence[str]
    rng: random.Random

    def mutate(self, code: str, steps: int) -> str:
        edits: list[Callable[[str], str]] = [
            self.retune_numbers,
            self.rename_local,
            self.swap_activation,
            self.swap_pooling,
            self.duplicate_layer,
            self.drop_layer,
            self.add_comment,
            self.graft_block,
        ]
        weights = [4, 3, 2, 1, 2, 2, 2, 1]
        for edit in self.rng.choices(edits, weights=weights, k=steps):
            code = edit(code)
        return code

    def retune_numbers(self, code: str) -> str:
        # Whole channel/width literals only: not parts of names (conv1) or floats (0.25).
        return WIDTH_LITERAL.sub(
            lambda match: self.rng.choice(WIDTHS) if self.rng.random() < 0.3 else match.group(0),
            code,
        )

    def rename_local(self, code: str) -> str:
        names = sorted(set(ASSIGNED.findall(code)) - {"self"})
        if not names:
            return code
        old = self.rng.choice(names)
        return replace_word(code, old, f"{old}_{self.rng.choice(WORDS)}")

    def swap_activation(self, code: str) -> str:
        present = [name for name in ACTIVATIONS if f"nn.{name}(" in code]
        if not present:
            return code
        old = self.rng.choice(present)
        return code.replace(f"nn.{old}(", f"nn.{self.rng.choice(ACTIVATIONS)}(", self.rng.randint(1, 3))

    def swap_pooling(self, code: str) -> str:
        old, new = POOLS if self.rng.random() < 0.5 else POOLS[::-1]
        return code.replace(old, new, 1)

    def _layer_lines(self, lines: list[str]) -> list[int]:
        # The cheap substring test first: a regex per line dominated corpus generation.
        return [number for number, line in enumerate(lines) if "nn." in line and LAYER_LINE.match(line)]

    def duplicate_layer(self, code: str) -> str:
        lines = code.split("\n")
        candidates = self._layer_lines(lines)
        if not candidates:
            return code
        number = self.rng.choice(candidates)
        lines.insert(number, lines[number])
        return "\n".join(lines)

    def drop_layer(self, code: str) -> str:
        lines = code.split("\n")
        candidates = self._layer_lines(lines)
        if len(candidates) < 3:
            return code
        del lines[self.rng.choice(candidates)]
        return "\n".join(lines)

    def add_comment(self, code: str) -> str:
        lines = code.split("\n")
        number = self.rng.randrange(len(lines))
        indent = re.match(r"\s*", lines[number]).group(0)
        words = " ".join(self.rng.choices(WORDS, k=self.rng.randint(2, 6)))
        lines.insert(number, f"{indent}# {words}")
        return "\n".join(lines)

    def graft_block(self, code: str) -> str:
        donor = self.rng.choice(self.seeds)
        starts = [match.start() for match in BLOCK_START.finditer(donor)]
        blocks = [donor[start:end] for start, end in zip(starts, [*starts[1:], len(donor)], strict=True)]
        helpers = [block for block in blocks if not block.startswith(("class Net", "def supported_hyperparameters"))]
        if not helpers or "\nclass Net" not in code:
            return code
        return code.replace("\nclass Net", "\n" + self.rng.choice(helpers) + "\nclass Net", 1)


def replace_word(code: str, old: str, new: str) -> str:
    """`re.sub(rf"\\b{old}\\b", new, code)` without compiling a pattern per name (5x faster on this corpus)."""
    parts = code.split(old)
    out = [parts[0]]
    for part in parts[1:]:
        before, after = out[-1][-1:], part[:1]
        bounded = not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_")
        out.append((new if bounded else old) + part)
    return "".join(out)


def make_corpus(seeds: Sequence[str], size: int, rng: random.Random) -> list[str]:
    """Lineages: each code mutates a seed (30%) or an earlier code (70%), like accepted generations of a run."""
    mutator = Mutator(seeds, rng)
    corpus: list[str] = []
    for _ in range(size):
        parent = rng.choice(seeds) if not corpus or rng.random() < 0.3 else rng.choice(corpus)
        child = mutator.mutate(parent, rng.randint(1, 4))
        if len(child) > 20_000:  # grafting can snowball; restart the lineage from a seed
            child = mutator.mutate(rng.choice(seeds), rng.randint(1, 4))
        corpus.append(child)
    return corpus


def make_queries(seeds: Sequence[str], corpus: Sequence[str], count: int, rng: random.Random) -> list[str]:
    mutator = Mutator(seeds, rng)
    near = [mutator.mutate(rng.choice(corpus), 1) for _ in range(count // 2)]
    far = [mutator.mutate(rng.choice(seeds), 10) for _ in range(count - count // 2)]
    return near + far


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def exact_jaccard_pairwise(query: np.ndarray, stored: Sequence[np.ndarray]) -> float:
    best = 0.0
    for other in stored:
        common = len(np.intersect1d(query, other, assume_unique=True))
        best = max(best, common / (len(query) + len(other) - common))
    return best


def sparse_incidence(shingle_sets: Sequence[np.ndarray]) -> tuple[sparse.csc_matrix, np.ndarray]:
    """Rows are stored codes, columns distinct shingle hashes (sorted vocabulary), entries 1."""
    vocabulary, columns = np.unique(np.concatenate(shingle_sets), return_inverse=True)
    indptr = np.concatenate(([0], np.cumsum([len(hashes) for hashes in shingle_sets])))
    data = np.ones(len(columns), dtype=np.float32)
    matrix = sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=(len(shingle_sets), len(vocabulary)))
    return matrix.tocsc(), vocabulary


def exact_jaccard_sparse(
    query: np.ndarray, matrix: sparse.csc_matrix, row_sizes: np.ndarray, vocabulary: np.ndarray
) -> float:
    """Exact max Jaccard against every stored code with one sparse column-sum: |q & s| for all s at once."""
    # Both arrays are sorted and unique: shingles the corpus never saw add to |q| only.
    columns = np.searchsorted(vocabulary, query[np.isin(query, vocabulary, assume_unique=True)])
    common = np.asarray(matrix[:, columns].sum(axis=1)).ravel()
    return float(np.max(common / (len(query) + row_sizes - common)))


def minhash_pairwise(query: LeanMinHash, stored: Sequence[LeanMinHash]) -> float:
    return max(query.jaccard(other) for other in stored)


@dataclass
class Row:
    size: int
    build_s: float
    lsh_mean_ms: float
    lsh_p95_ms: float
    lookup_mean_ms: float
    lsh_cpu_ms: float
    baselines: dict[str, tuple[float, int]]  # name -> (mean ms per query, queries timed)
    agreement: tuple[int, int]  # (queries where the LSH verdict matches exact brute force, queries compared)
    # The loop's query (LSH, then the nearest when LSH names none), CPU ms, per path: "plain" (scan of every full
    # signature), "4-bit" (the previous path: 4-bit pass over every row first), "now" (`query_or_nearest`).
    loop_ms: dict[str, float]  # mean over all queries
    fallback_ms: dict[str, float]  # mean over the queries where LSH named none (the scan ran): the worst case
    fallback_max_ms: dict[str, float]  # the slowest of those queries
    loop_fallbacks: int  # queries where LSH named no key, so the nearest-neighbour scan ran
    loop_decisive: int  # of those, where the exact nearest reaches the threshold: the scan, not LSH, says duplicate
    loop_same: dict[str, int]  # per path, queries naming the same nearest key with the same Jaccard as "plain"
    index_bytes: dict[str, int]  # the index's numpy arrays at this size (allocated, doubling capacity)
    disagreements: tuple[int, int, int]  # (duplicates LSH let through, novel ones it flagged, of both: within 0.05)


def run_size(
    size: int,
    corpus: Sequence[str],
    signatures: np.ndarray,
    shingle_sets: Sequence[np.ndarray],
    queries: Sequence[str],
    settings: NoveltySettings,
    samples: dict[str, int],
) -> Row:
    keys = [f"code{i}" for i in range(size)]
    index = MinHashIndex(settings)
    build_s, _ = timed(lambda: index.add_signatures(keys, signatures[:size]))

    lsh_times = []
    verdicts = []
    cpu_start = time.process_time()
    for query in queries:
        elapsed, result = timed(lambda query=query: index.query(query))
        lsh_times.append(elapsed)
        verdicts.append(result)
    # CPU time excludes waiting for a core, which wall-clock time on a shared machine does not.
    lsh_cpu_ms = 1000 * (time.process_time() - cpu_start) / len(queries)

    paths: dict[str, Callable[[str], tuple[str | None, float, bool]]] = {
        "plain": lambda query: loop_query_before(index, query, index.nearest_exhaustive),
        "4-bit": lambda query: loop_query_before(index, query, lambda s: nearest_4bit_before(index, s)),
        "now": lambda query: loop_query_now(index, query),
    }
    loop: dict[str, list[float]] = {name: [] for name in paths}
    fallback: dict[str, list[float]] = {name: [] for name in paths}
    same = dict.fromkeys(paths, 0)
    plain_answers = []
    for query in queries:
        answers: dict[str, tuple[str | None, float, bool]] = {}
        elapsed = {}
        for name, path in paths.items():
            elapsed[name], answers[name] = timed_cpu(lambda query=query, path=path: path(query))
            loop[name].append(elapsed[name])
        for name in paths:
            if answers["plain"][2]:  # LSH named none: the nearest-neighbour path ran
                fallback[name].append(elapsed[name])
            same[name] += answers[name][:2] == answers["plain"][:2]
        plain_answers.append(answers["plain"])
    fallbacks = len(fallback["plain"])
    decisive = sum(1 for answer in plain_answers if answer[2] and answer[1] >= settings.threshold)

    shingler = index.shingler
    query_sets = [shingler.shingle_hashes(query) for query in queries]
    query_signatures = [shingler.signature(query) for query in queries]
    lookup_times = [timed(lambda s=s: index.query_signature(s))[0] for s in query_signatures]
    stored_sets = shingle_sets[:size]
    baselines: dict[str, tuple[float, int]] = {}

    def sample(name: str) -> list[int]:
        count = min(len(queries), samples[name] if size >= 10_000 else len(queries))
        step = max(1, len(queries) // count)
        return list(range(0, len(queries), step))[:count]

    # Exact Jaccard, one pair at a time.
    chosen = sample("pairwise")
    times, exact_by_query = [], {}
    for q in chosen:
        elapsed, value = timed(lambda q=q: exact_jaccard_pairwise(query_sets[q], stored_sets))
        times.append(elapsed)
        exact_by_query[q] = value
    baselines["exact, pair by pair"] = (1000 * statistics.mean(times), len(chosen))

    # Exact Jaccard as one sparse product (building the matrix is index construction, not timed).
    matrix, vocabulary = sparse_incidence(stored_sets)
    row_sizes = np.array([len(hashes) for hashes in stored_sets], dtype=np.float32)
    chosen = sample("sparse")
    times = []
    for q in chosen:
        elapsed, value = timed(lambda q=q: exact_jaccard_sparse(query_sets[q], matrix, row_sizes, vocabulary))
        times.append(elapsed)
        exact_by_query.setdefault(q, value)
    baselines["exact, sparse product"] = (1000 * statistics.mean(times), len(chosen))

    # MinHash estimate, datasketch pair by pair.
    lean = [LeanMinHash(seed=MINHASH_SEED, hashvalues=row, scheme="affine32") for row in signatures[:size]]
    chosen = sample("minhash_pairwise")
    times = []
    for q in chosen:
        query_minhash = LeanMinHash(seed=MINHASH_SEED, hashvalues=query_signatures[q], scheme="affine32")
        elapsed, _ = timed(lambda query_minhash=query_minhash: minhash_pairwise(query_minhash, lean))
        times.append(elapsed)
    baselines["MinHash, pair by pair"] = (1000 * statistics.mean(times), len(chosen))

    # MinHash estimate, one numpy scan of the signature matrix (`nearest_exhaustive`; `MinHashIndex.nearest` answers
    # the same with pruning passes, timed in the loop-query table).
    times = [timed(lambda query=query: index.nearest_exhaustive(shingler.signature(query)))[0] for query in queries]
    baselines["MinHash, matrix scan"] = (1000 * statistics.mean(times), len(queries))

    agree = sum(1 for q, exact in exact_by_query.items() if verdicts[q].novel == (exact < settings.threshold))
    # Where they disagree, say which way and whether the exact Jaccard sat near the threshold (MinHash with 128
    # permutations has a standard error of about 0.03 there, so near-threshold flips are expected).
    missed = [exact for q, exact in exact_by_query.items() if verdicts[q].novel and exact >= settings.threshold]
    extra = [exact for q, exact in exact_by_query.items() if not verdicts[q].novel and exact < settings.threshold]
    near = sum(1 for exact in missed + extra if abs(exact - settings.threshold) <= 0.05)
    lsh_ms = sorted(1000 * t for t in lsh_times)
    return Row(
        size=size,
        build_s=build_s,
        lsh_mean_ms=statistics.mean(lsh_ms),
        lsh_p95_ms=lsh_ms[int(0.95 * (len(lsh_ms) - 1))],
        lookup_mean_ms=1000 * statistics.mean(lookup_times),
        lsh_cpu_ms=lsh_cpu_ms,
        baselines=baselines,
        agreement=(agree, len(exact_by_query)),
        disagreements=(len(missed), len(extra), near),
        loop_ms={name: 1000 * statistics.mean(times) for name, times in loop.items()},
        fallback_ms={name: 1000 * statistics.mean(times or [float("nan")]) for name, times in fallback.items()},
        fallback_max_ms={name: 1000 * max(times or [float("nan")]) for name, times in fallback.items()},
        loop_fallbacks=fallbacks,
        loop_decisive=decisive,
        loop_same=same,
        index_bytes=index.array_bytes(),
    )


def timed_cpu(function: Callable[[], object]) -> tuple[float, object]:
    # CPU time: the loop-query comparison should not depend on who else shares the cores.
    start = time.process_time()
    result = function()
    return time.process_time() - start, result


def loop_query_before(
    index: MinHashIndex, code: str, nearest: Callable[[np.ndarray], tuple[str, float] | None]
) -> tuple[str | None, float, bool]:
    """The loop's query with another nearest-neighbour path: LSH, then when it names no key, `nearest`."""
    signature = index.shingler.signature(code)  # once, as `query_or_nearest` does
    result = index.query_signature(signature)
    if result.nearest is not None:
        return result.nearest, result.max_jaccard, False
    closest = nearest(signature)
    return (*closest, True) if closest else (None, 0.0, True)


def loop_query_now(index: MinHashIndex, code: str) -> tuple[str | None, float, bool]:
    """`query_or_nearest` (whether LSH named none is the plain path's answer: LSH's, the same for every path)."""
    result = index.query_or_nearest(code)
    return result.nearest, result.max_jaccard, False


def nearest_4bit_before(index: MinHashIndex, signature: np.ndarray) -> tuple[str, float] | None:
    """The previous `nearest_signature`, kept here as a baseline: the 4-bit pass over every stored row, the floor
    from the rows with the highest bound, then full comparison of the rows whose bound reaches it."""
    size = len(index)
    if not size:
        return None
    words = index._nibble_words
    query = _pack_nibbles(signature.reshape(1, -1), words, padding=1)[0]
    bound = _nibble_agreement(index._nibbles[:size], query, words * 16)
    top = np.flatnonzero(bound == bound.max())
    floor = int(np.count_nonzero(index._matrix[top] == signature, axis=1).max())
    rows = np.flatnonzero(bound >= floor)
    if len(rows) > size // 4:
        return index.nearest_exhaustive(signature)
    agreement = np.count_nonzero(index._matrix[rows] == signature, axis=1)
    return index._keys[int(rows[int(np.argmax(agreement))])], float(agreement.max()) / index.settings.num_perm


def print_table(rows: Sequence[Row]) -> None:
    names = list(rows[0].baselines)
    print()
    print(
        "| stored | index build (s) | LSH query ms mean / p95 | LSH query CPU ms | of which LSH lookup + scoring ms | "
        + " | ".join(f"{n} ms (x LSH) [n]" for n in names)
        + " | LSH verdict = exact |"
    )
    print("|" + " --- |" * (6 + len(names)))
    for row in rows:
        cells = [
            f"{row.size:,}",
            f"{row.build_s:.1f}",
            f"{row.lsh_mean_ms:.2f} / {row.lsh_p95_ms:.2f}",
            f"{row.lsh_cpu_ms:.2f}",
            f"{row.lookup_mean_ms:.2f}",
            *(f"{ms:.1f} ({ms / row.lsh_mean_ms:,.0f}x) [{n}]" for ms, n in row.baselines.values()),
            f"{row.agreement[0]}/{row.agreement[1]} (missed {row.disagreements[0]}, over-flagged "
            f"{row.disagreements[1]}; {row.disagreements[2]} within 0.05 of 0.85)",
        ]
        print("| " + " | ".join(cells) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairwise-sample", type=int, default=5, help="queries timed pair by pair at >= 10^4")
    args = parser.parse_args(argv)

    settings = NoveltySettings()
    seeds = [seed.code for seed in load_seed_corpus()]
    rng = random.Random(args.seed)
    largest = max(args.sizes)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start "
        f"(wall-clock times below include whatever else shares these cores); "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"settings: {settings}")

    elapsed, corpus = timed(lambda: make_corpus(seeds, largest, rng))
    lengths = [len(code) for code in corpus]
    print(f"corpus: {largest:,} mutated seed nets in {elapsed:.1f}s, {statistics.mean(lengths):,.0f} chars mean")
    queries = make_queries(seeds, corpus, args.queries, rng)

    shingler = Shingler(settings)
    elapsed, shingle_sets = timed(lambda: [shingler.shingle_hashes(code) for code in corpus])
    print(f"shingle sets: {largest:,} in {elapsed:.1f}s = {1e6 * elapsed / largest:.0f} us/code (tokenise + hash)")
    elapsed, rows = timed(lambda: [shingler.signature_of_hashes(hashes) for hashes in shingle_sets])
    signatures = np.stack(rows)
    print(f"MinHash from shingle sets: {1e6 * elapsed / largest:.0f} us/code (numpy, datasketch affine32 scheme)")
    sample = corpus[:200]
    elapsed_single, _ = timed(lambda: [shingler.signature(code) for code in sample])
    tokens = [shingler._pattern.findall(code) for code in sample]

    def datasketch_default() -> None:
        for code_tokens in tokens:
            minhash = MinHash(num_perm=settings.num_perm, seed=MINHASH_SEED)
            minhash.update_batch(
                " ".join(code_tokens[i : i + settings.shingle]).encode()
                for i in range(len(code_tokens) - settings.shingle + 1)
            )

    elapsed_default, _ = timed(datasketch_default)
    print(
        f"signature per code, whole path: {1e6 * elapsed_single / len(sample):.0f} us (ours) vs "
        f"{1e6 * elapsed_default / len(sample):.0f} us (datasketch default SHA-1 update_batch, tokenising excluded)"
    )

    samples = {"pairwise": args.pairwise_sample, "sparse": 40, "minhash_pairwise": 2 * args.pairwise_sample}
    rows = []
    for size in sorted(args.sizes):
        start = time.perf_counter()
        rows.append(run_size(size, corpus, signatures, shingle_sets, queries, settings, samples))
        print(f"  {size:,} stored: measured in {time.perf_counter() - start:.1f}s", flush=True)
    print_table(rows)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(
        "\nThe loop's query (LSH, then the exact nearest stored net when LSH names none), CPU ms per query, by the"
        " nearest-neighbour path: plain = scan of every full signature; 4-bit = the previous path (4-bit pass over"
        " every row first); now = `query_or_nearest` (2-bit pass, 4-bit pass over the survivors, full comparison)."
    )
    print(
        "| stored | mean, all queries: plain / 4-bit / now | LSH named none [n; of which Jaccard >= threshold]: mean "
        "plain / 4-bit / now "
        "| slowest of those: plain / 4-bit / now | LSH named none: plain / now; 4-bit / now "
        "| same nearest and Jaccard as plain: 4-bit; now | index arrays |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        loop, scan, slowest = row.loop_ms, row.fallback_ms, row.fallback_max_ms

        def three(values: dict[str, float]) -> str:
            return " / ".join(f"{values[name]:.2f}" for name in ("plain", "4-bit", "now"))

        memory = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in row.index_bytes.items())
        print(
            f"| {row.size:,} | {three(loop)} | {three(scan)} [{row.loop_fallbacks}; {row.loop_decisive}] | {three(slowest)} "
            f"| {scan['plain'] / scan['now']:.1f}x; {scan['4-bit'] / scan['now']:.1f}x "
            f"| {row.loop_same['4-bit']}/{len(queries)}; {row.loop_same['now']}/{len(queries)} | {memory} |"
        )
    print(
        "\nLSH query = tokenise + shingle + MinHash + LSH lookup + score candidates. Ratios are baseline / LSH mean."
        "\n[n] = queries the baseline was timed on (the rest of the table uses all queries)."
        "\n'LSH verdict = exact': queries where novel/not-novel from LSH matches the exact max Jaccard vs 0.85."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
