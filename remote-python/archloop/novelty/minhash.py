"""Novelty: the paper's generation-time MinHash/LSH filter and its selection-time structural signature.

Generation time (docs/METHOD.md, settings): code is tokenised by the regex `[A-Za-z_]\\w*|[^\\s]`, cut into 7-token
shingles, sketched with a 128-permutation MinHash and looked up in a MinHashLSH index at threshold 0.85. A candidate
whose best LSH candidate reaches the threshold is a near-duplicate (`novel=False`).

How the sketch is computed (and why it is datasketch-compatible but faster): each distinct token is hashed once
(BLAKE2b, cached per `Shingler`), a shingle's 32-bit hash is a polynomial over its 7 token hashes computed for all
shingles at once with numpy, and the MinHash is datasketch's own "affine32" scheme (MurmurHash3 finaliser, then
`a*h+b` in uint32 with datasketch's seeded permutations). The result equals
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash).update_batch(shingles)` bit for bit (a test checks
this) and LSH/`LeanMinHash` interoperate with it, but costs one numpy pass per code instead of one SHA-1 per shingle.

Query semantics (a decision, documented here because the editor relies on it): `MinHashIndex.query` reports the
highest *estimated* Jaccard among the LSH candidates only. When LSH returns no candidate, the result is
`max_jaccard=0.0, nearest=None, novel=True`: nothing in the index is close enough to be worth a comparison. The
nearest neighbour below the threshold (for the editor's diff) comes from `MinHashIndex.nearest`: exact over all
stored keys, a 2-bit pass over every row, a 4-bit pass over the few that can still win, then full comparison of a
handful (about 1/20 of the plain scan's cost at 10^5); `query_or_nearest` is the loop's query (LSH, then
`nearest` when LSH names nothing).

Structural signature (selection time): `structural_signature` is a SHA-256 over an AST summary (classes, blocks,
layer-call sequence, residual/concat flags, depth) that ignores comments, formatting, numeric literals and the
names of locals, attributes and user-defined helpers.

Failure behaviour: code with no tokens raises ValueError from every sketching entry point; source that does not
parse raises ValueError from `structural_signature`. Nothing here executes the code it is given.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from archloop.novelty.settings import MINHASH_SEED, TOKEN_PATTERN, NoveltySettings

__all__ = ["MINHASH_SEED", "TOKEN_PATTERN", "NoveltySettings"]  # with the index they configure

_SCHEME = "affine32"  # datasketch >= 2.0: bijective uint32 permutations, no 61-bit prime fold
_MASK64 = (1 << 64) - 1
# Odd 64-bit multipliers: the polynomial base for combining token hashes, and a final avalanche multiplier.
_POLY_BASE = 0x9E3779B97F4A7C15
_AVALANCHE = 0xFF51AFD7ED558CCD


@dataclass(frozen=True)
class NoveltyResult:
    """Outcome of a query: the best estimated Jaccard, which stored key gave it, and the verdict."""

    max_jaccard: float
    nearest: str | None
    novel: bool


def tokenize(code: str) -> list[str]:
    """The paper's tokens: identifiers/keywords as one token, every other non-space character on its own."""
    return re.findall(TOKEN_PATTERN, code)


def _fmix32(values: np.ndarray) -> np.ndarray:
    # MurmurHash3's 32-bit finaliser, exactly as datasketch's affine32 scheme pre-mixes its input.
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _finish(polynomial: np.ndarray) -> np.ndarray:
    # Fold the 64-bit polynomial into 32 bits with an avalanche step so every token bit reaches the result.
    polynomial = polynomial ^ (polynomial >> np.uint64(33))
    polynomial = polynomial * np.uint64(_AVALANCHE)
    polynomial = polynomial ^ (polynomial >> np.uint64(33))
    return (polynomial & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def token_hash(token: str) -> int:
    """Stable 64-bit hash of one token (BLAKE2b), identical in every process, unlike Python's `hash`."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def shingle_hash(shingle: Sequence[str]) -> int:
    """Scalar reference of the vectorised shingle hash: a 32-bit hash of a token sequence.

    Used as datasketch's `hashfunc` in tests to prove that `Shingler.signature` is a standard MinHash.
    """
    polynomial = 0
    for token in shingle:
        polynomial = (polynomial * _POLY_BASE + token_hash(token)) & _MASK64
    polynomial ^= polynomial >> 33
    polynomial = (polynomial * _AVALANCHE) & _MASK64
    polynomial ^= polynomial >> 33
    return polynomial & 0xFFFFFFFF


@dataclass
class Shingler:
    """Turns code into shingle hashes and MinHash signatures under one `NoveltySettings`.

    Holds a cache of token hashes (code vocabularies are small and repetitive) and datasketch's permutation
    parameters for the configured seed. Not thread-safe; give each thread its own.
    """

    settings: NoveltySettings = field(default_factory=NoveltySettings)
    max_cached_tokens: int = 1_000_000
    _token_hashes: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(TOKEN_PATTERN)
        permutations = MinHash(num_perm=self.settings.num_perm, seed=MINHASH_SEED, scheme=_SCHEME).permutations
        self._a_column = np.array(permutations[0], dtype=np.uint32).reshape(-1, 1)
        self._b_column = np.array(permutations[1], dtype=np.uint32).reshape(-1, 1)

    def shingle_hashes(self, code: str) -> np.ndarray:
        """Sorted distinct 32-bit hashes of the code's shingles (a code shorter than one shingle is one shingle).

        Raises ValueError if the code has no tokens at all.
        """
        tokens = self._pattern.findall(code)
        if not tokens:
            raise ValueError("code has no tokens to compare")
        if len(self._token_hashes) > self.max_cached_tokens:
            self._token_hashes.clear()  # bounded memory against adversarial vocabularies
        cache = self._token_hashes
        for token in set(tokens).difference(cache):
            cache[token] = token_hash(token)
        hashes = np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
        width = min(self.settings.shingle, len(tokens))
        count = len(tokens) - width + 1
        polynomial = np.zeros(count, dtype=np.uint64)
        base = np.uint64(_POLY_BASE)
        with np.errstate(over="ignore"):
            for offset in range(width):
                polynomial = polynomial * base + hashes[offset : offset + count]
            return np.unique(_finish(polynomial))

    def signature(self, code: str) -> np.ndarray:
        """The MinHash signature (num_perm uint32 values) of one code. Raises ValueError for token-less code."""
        return self.signature_of_hashes(self.shingle_hashes(code))

    def signature_of_hashes(self, shingle_hashes: np.ndarray) -> np.ndarray:
        """The MinHash signature of a set of shingle hashes (from `shingle_hashes`), for callers that keep both."""
        # (num_perm, 1) x (n,) -> (num_perm, n): uint32 wraparound is the modulus. One temporary, added to in
        # place, and a min along contiguous rows: measured 4-5x faster than `(h[:, None] * a + b).min(axis=0)`,
        # whose two fresh half-megabyte temporaries cost a page fault per 4 KiB here.
        permuted = self._a_column * _fmix32(shingle_hashes.astype(np.uint32, copy=False))
        np.add(permuted, self._b_column, out=permuted)
        return permuted.min(axis=1)

    def signatures(self, codes: Sequence[str]) -> np.ndarray:
        """Signatures of many codes as an (n, num_perm) uint32 matrix. Raises ValueError naming a token-less code.

        One code at a time on purpose: permuting each distinct shingle of a batch once and gathering rows per
        code was measured slower here (the gathered (shingles x num_perm) array leaves the cache, while one
        code's ~500 x 128 block stays in L2).
        """
        result = np.empty((len(codes), self.settings.num_perm), dtype=np.uint32)
        for row, code in enumerate(codes):
            try:
                result[row] = self.signature(code)
            except ValueError as error:
                raise ValueError(f"code #{row}: {error}") from None
        return result


class MinHashIndex:
    """The corpus a candidate must differ from: MinHashLSH for the verdict, a signature matrix for exact scans.

    Keys are caller-chosen strings (corpus ids, candidate ids). `add` raises ValueError for a key already present
    or code with no tokens. The corpus only grows: a run indexes its seeds and each candidate once.
    """

    def __init__(self, settings: NoveltySettings | None = None) -> None:
        self.settings = settings or NoveltySettings()
        self.shingler = Shingler(self.settings)
        self._lsh = MinHashLSH(threshold=self.settings.threshold, num_perm=self.settings.num_perm)
        # LSH is keyed by each signature's row in `_matrix`, so a query maps thousands of LSH candidates to their
        # signatures with one numpy gather instead of a dict lookup each (measured: that lookup was most of the
        # scoring time with large candidate sets).
        self._matrix = np.empty((16, self.settings.num_perm), dtype=np.uint32)
        # The low 2 bits of every signature value, 64 to a word, one contiguous row per word (shape (2 * words,
        # capacity), so a pass is one numpy call per word over all nets): the first pass of `nearest`, 32 bytes per
        # stored net at 128 permutations (3.2 MB at 10^5 beside the matrix's 51 MB and the nibbles' 6.4 MB).
        self._bit_words = -(-self.settings.num_perm // 64)
        self._bits = np.zeros((_LOW_BITS * self._bit_words, 16), dtype=np.uint64)
        # The low 4 bits of every signature value, 16 to a 64-bit word: the second pass of `nearest`.
        self._nibble_words = -(-self.settings.num_perm // 128) * 8  # whole groups of 8 words (see _nibble_agreement)
        self._nibbles = np.zeros((16, self._nibble_words), dtype=np.uint64)
        self._keys: list[str] = []  # row -> key
        self._rows: dict[str, int] = {}  # key -> row
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._keys)

    def array_bytes(self) -> dict[str, int]:
        """Bytes allocated by the numpy arrays the scans read (capacity doubles, so up to 2x what `len` needs);
        LSH's own tables (datasketch, Python dicts) come on top."""
        return {"signatures": self._matrix.nbytes, "4-bit": self._nibbles.nbytes, "2-bit": self._bits.nbytes}

    def _lean(self, signature: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=MINHASH_SEED, hashvalues=signature, scheme=_SCHEME)

    def add(self, key: str, code: str) -> None:
        """Index `code` under `key`."""
        self.add_signature(key, self.shingler.signature(code))

    def add_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Index many (key, code) pairs in one LSH insertion session."""
        pairs = list(items)
        signatures = self.shingler.signatures([code for _, code in pairs])
        self._insert_many([key for key, _ in pairs], signatures)

    def add_signature(self, key: str, signature: np.ndarray) -> None:
        """Index a precomputed signature (from `Shingler.signature`)."""
        self._insert_many([key], np.asarray(signature, dtype=np.uint32).reshape(1, -1))

    def add_signatures(self, keys: Sequence[str], signatures: np.ndarray) -> None:
        """Index many precomputed signatures at once (an (n, num_perm) matrix from `Shingler.signatures`)."""
        if len(keys) != len(signatures):
            raise ValueError(f"{len(keys)} keys for {len(signatures)} signatures")
        self._insert_many(list(keys), np.asarray(signatures, dtype=np.uint32))

    def _insert_many(self, keys: list[str], signatures: np.ndarray) -> None:
        if signatures.shape[1:] != (self.settings.num_perm,):
            raise ValueError(f"signatures must have {self.settings.num_perm} values, got shape {signatures.shape}")
        duplicates = [key for key in keys if key in self._rows]
        if duplicates or len(set(keys)) != len(keys):
            raise ValueError(f"key(s) already in the novelty index: {sorted(set(duplicates))[:5] or 'repeated'}")
        first, needed = self._size, self._size + len(keys)
        self._matrix = _grown(self._matrix, needed, first)
        self._matrix[first:needed] = signatures
        self._nibbles = _grown(self._nibbles, needed, first)
        self._nibbles[first:needed] = _pack_nibbles(signatures, self._nibble_words, padding=0)
        if needed > self._bits.shape[1]:  # doubling along the row axis, as `_grown` does for the others
            grown = np.zeros((len(self._bits), max(needed, 2 * self._bits.shape[1])), dtype=np.uint64)
            grown[:, :first] = self._bits[:, :first]
            self._bits = grown
        self._bits[:, first:needed] = _pack_low_bits(signatures, self._bit_words).T
        self._keys.extend(keys)
        self._rows.update(zip(keys, range(first, needed), strict=True))
        self._size = needed
        with self._lsh.insertion_session(buffer_size=max(1, len(keys))) as session:
            for row in range(first, needed):
                # check_duplication=False: rows are fresh by construction, and the check costs a storage lookup.
                session.insert(row, self._lean(self._matrix[row]), check_duplication=False)

    def query(self, code: str) -> NoveltyResult:
        """The generation-time verdict for `code` (see the module docstring for the no-candidate case)."""
        return self.query_signature(self.shingler.signature(code))

    def query_signature(self, signature: np.ndarray) -> NoveltyResult:
        candidates = self._lsh.query(self._lean(signature))
        if not candidates:
            return NoveltyResult(max_jaccard=0.0, nearest=None, novel=True)
        rows = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        agreement = np.count_nonzero(self._matrix[rows] == signature, axis=1)
        best = int(np.argmax(agreement))
        jaccard = float(agreement[best]) / self.settings.num_perm
        nearest = self._keys[int(rows[best])]
        return NoveltyResult(max_jaccard=jaccard, nearest=nearest, novel=jaccard < self.settings.threshold)

    def query_or_nearest(self, code: str) -> NoveltyResult:
        """The loop's query: the LSH verdict, or when LSH finds nothing, the nearest stored key over all keys.

        Equal to `query(code)` followed by `nearest(code)` when `query` names no key, with one signature computed.
        Empty index: `max_jaccard=0.0, nearest=None, novel=True`.
        """
        return self.query_or_nearest_signature(self.shingler.signature(code))

    def query_or_nearest_signature(self, signature: np.ndarray) -> NoveltyResult:
        """`query_or_nearest` for a precomputed signature."""
        result = self.query_signature(signature)
        if result.nearest is not None:
            return result
        closest = self.nearest_signature(signature)
        if closest is None:
            return result
        key, jaccard = closest
        return NoveltyResult(max_jaccard=jaccard, nearest=key, novel=jaccard < self.settings.threshold)

    def nearest(self, code: str) -> tuple[str, float] | None:
        """The stored key with the highest estimated Jaccard to `code`, over all keys, and that Jaccard.

        None for an empty index. Exactly the answer of `nearest_exhaustive` (same key, ties to the earliest added).
        """
        return self.nearest_signature(self.shingler.signature(code))

    def nearest_signature(self, signature: np.ndarray) -> tuple[str, float] | None:
        """`nearest` for a precomputed signature.

        Exact, in three passes that each bound the count of permutations whose full values agree from above (equal
        values have equal low bits), and each read less than the plain scan's 512 bytes per stored net:
        1. Low 2 bits of every value (32 bytes a net, false agreement 1/4): permutations whose low bits differ are a
           lower bound of those whose values differ. The few rows that differ least are compared in full; their
           best agreement is a floor for the answer, and only rows whose bound reaches the floor survive (on the
           bench's fallback queries at 10^5: 1 to 2,397 of 100,000 rows, 0.23 ms for the pass).
        2. Low 4 bits of the survivors (64 bytes a net, false agreement 1/16): a tighter bound, a better floor.
        3. Full comparison of the rows whose 4-bit bound reaches the floor (a handful).
        A row with the best agreement never falls below any floor, so the answer and its ties survive every pass;
        ties go to the earliest row, as in the exhaustive scan.
        """
        if not self._size:
            return None
        signature = np.asarray(signature, dtype=np.uint32)
        num_perm = self.settings.num_perm
        low_bits = _pack_low_bits(signature.reshape(1, -1), self._bit_words)[0]
        differing = _low_bit_disagreement(self._bits[:, : self._size], low_bits)
        floor = self._best_agreement(_fewest(differing, _FLOOR_ROWS), signature)
        survivors = np.flatnonzero(differing <= num_perm - floor)
        query = _pack_nibbles(signature.reshape(1, -1), self._nibble_words, padding=1)[0]
        if len(survivors) > self._size // 4:  # a query agreeing with almost nothing: 4-bit pass over every row
            survivors = np.arange(self._size)
            bound = _nibble_agreement(self._nibbles[: self._size], query, self._nibble_words * 16)
        else:
            bound = _nibble_agreement(self._nibbles[survivors], query, self._nibble_words * 16)
        floor = max(floor, self._best_agreement(survivors[bound == bound.max()], signature))
        rows = survivors[bound >= floor]
        if len(rows) > self._size // 4:  # the 4-bit bound pruned nothing either: the plain scan is cheaper
            return self.nearest_exhaustive(signature)
        agreement = np.count_nonzero(self._matrix[rows] == signature, axis=1)
        best = int(rows[int(np.argmax(agreement))])
        return self._keys[best], float(agreement.max()) / num_perm

    def _best_agreement(self, rows: np.ndarray, signature: np.ndarray) -> int:
        return int(np.count_nonzero(self._matrix[rows] == signature, axis=1).max())

    def nearest_exhaustive(self, signature: np.ndarray) -> tuple[str, float] | None:
        """The reference scan of every full signature (what `nearest` answers, at about 20x its cost at 10^5)."""
        if not self._size:
            return None
        agreement = np.count_nonzero(self._matrix[: self._size] == signature, axis=1)
        best = int(np.argmax(agreement))
        return self._keys[best], float(agreement[best]) / self.settings.num_perm


_CHUNK = 8192  # rows per block of the nibble pass: its temporaries stay in L2
_NIBBLE_LSB = np.uint64(0x1111111111111111)
_BYTE_SUM = np.uint64(0x0101010101010101)  # x * this >> 56: the sum of x's eight bytes (when it fits a byte)


_FLOOR_ROWS = 8  # rows compared in full to set the first floor: more rows, a better floor, more gathering
_LOW_BITS = 2  # bits per value in the first pass: false agreement 1/4 (1 bit: 1/2, and 4x the survivors at 10^5)


def _pack_low_bits(signatures: np.ndarray, words: int) -> np.ndarray:
    """Bit b (< _LOW_BITS) of each value, 64 per uint64 word: permutation 64*w + k in bit k of word b*words + w.
    Unused bits are 0 in both the stored rows and the query, so they never differ. Shape (len(signatures),
    _LOW_BITS * words)."""
    packed = np.zeros((len(signatures), _LOW_BITS, words * 8), dtype=np.uint8)
    for bit in range(_LOW_BITS):
        plane = ((signatures >> bit) & 1).astype(np.uint8)
        packed[:, bit, : -(-signatures.shape[1] // 8)] = np.packbits(plane, axis=1, bitorder="little")
    return packed.reshape(len(signatures), -1).view(np.uint64)


def _low_bit_disagreement(stored: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Per stored row (a column of `stored`, whose rows are the words of `_pack_low_bits`), how many permutations
    differ in at least one of their low bits: a lower bound of how many differ in full."""
    words = len(query) // _LOW_BITS
    differing = np.zeros(stored.shape[1], dtype=np.uint16 if words * 64 < 65536 else np.uint32)
    # Word by word over contiguous rows, one numpy call per word and bit over all rows: no reduction along a short
    # axis (slow in numpy), and unlike the nibble pass, blocks of rows were measured slower here (per-call overhead
    # outweighs the cache: 0.23 ms unblocked vs 0.31 ms in 8,192-row blocks at 10^5).
    x = np.empty(stored.shape[1], dtype=np.uint64)
    t = np.empty_like(x)
    counts = np.empty(stored.shape[1], dtype=np.uint8)
    for word in range(words):
        np.bitwise_xor(stored[word], query[word], out=x)
        for bit in range(1, _LOW_BITS):
            np.bitwise_xor(stored[bit * words + word], query[bit * words + word], out=t)
            np.bitwise_or(x, t, out=x)
        np.bitwise_count(x, out=counts)
        differing += counts
    return differing


def _fewest(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of at least `count` (or all) of the smallest values, cheaper than argpartition (measured 0.66 ms
    at 10^5): the rows at the minimum, widened by one step at a time."""
    cutoff = int(values.min())
    rows = np.flatnonzero(values <= cutoff)
    while len(rows) < count and len(rows) < len(values):
        cutoff += 1
        rows = np.flatnonzero(values <= cutoff)
    return rows


def _pack_nibbles(signatures: np.ndarray, words: int, padding: int) -> np.ndarray:
    """The low 4 bits of each value, 16 per uint64 (permutation 16*w + k in nibble k of word w); unused nibbles are
    `padding` (0 stored, 1 in a query, so they never agree)."""
    nibbles = np.full((len(signatures), words * 16), padding, dtype=np.uint64)
    nibbles[:, : signatures.shape[1]] = signatures & 0xF
    shifts = np.arange(16, dtype=np.uint64) * np.uint64(4)
    return np.bitwise_or.reduce(nibbles.reshape(len(signatures), words, 16) << shifts, axis=2)


def _nibble_agreement(stored: np.ndarray, query: np.ndarray, nibbles: int) -> np.ndarray:
    """Per stored row, how many permutations agree with the query in their low 4 bits (a uint64 array)."""
    result = np.empty(len(stored), dtype=np.uint64)
    differ = np.empty((_CHUNK, stored.shape[1]), dtype=np.uint64)
    spread = np.empty_like(differ)
    counts = np.empty((_CHUNK, stored.shape[1]), dtype=np.uint8)
    groups = stored.shape[1] // 8
    for start in range(0, len(stored), _CHUNK):
        block = stored[start : start + _CHUNK]
        rows = len(block)
        x, t = differ[:rows], spread[:rows]
        # Fold each nibble's 4 bits into its lowest bit: set where the nibbles differ.
        np.bitwise_xor(block, query, out=x)
        np.right_shift(x, np.uint64(1), out=t)
        np.bitwise_or(x, t, out=x)
        np.right_shift(x, np.uint64(2), out=t)
        np.bitwise_or(x, t, out=x)
        np.bitwise_and(x, _NIBBLE_LSB, out=x)
        np.bitwise_count(x, out=counts[:rows])  # differing nibbles per word, <= 16
        # Eight such counts (<= 128 together) summed by one multiply per group of 8 words; measured faster than
        # numpy's integer matmul or a reduction along the short axis.
        packed = counts[:rows].view(np.uint64) * _BYTE_SUM
        packed >>= np.uint64(56)
        differing = packed[:, 0] if groups == 1 else packed.sum(axis=1)
        np.subtract(np.uint64(nibbles), differing, out=result[start : start + rows])
    return result


def _grown(array: np.ndarray, needed: int, used: int) -> np.ndarray:
    """`array` with room for `needed` rows (doubling, so n inserts cost O(n)), its first `used` rows kept."""
    if needed <= len(array):
        return array
    grown = np.empty((max(needed, 2 * len(array)), *array.shape[1:]), dtype=array.dtype)
    grown[:used] = array[:used]
    return grown
