"""Lookups the built-in rules make for whole batches at once: hash tables over int64 keys, rank
bitmaps and direct tables over dense ones, bucketed searches of sorted keys, and string codes
against a large vocabulary. Each answers a batch with a few numpy passes and no Python loop
per event; a binary search over a large array costs a cache miss per step, so none is used
on events."""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.detectors.base import hash64
from snoopbench.detectors.columns import arr, codes, lookup

_FIB = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Fibonacci hashing



class BucketSearch:
    """``np.searchsorted(keys, query, side="right")`` on sorted int64 keys, for queries that
    know their bucket: a binary search is a cache miss per step on a large array, this is a
    direct table of where each bucket starts and a short scan within it.

    ``buckets`` (codes in ``[0, n_buckets)``, non-decreasing) give each key its bucket, and
    the keys are sorted within each bucket. The answer is the position of the first key of the
    query's bucket above the query, or the bucket's end: that is ``np.searchsorted`` on sorted
    keys when the bucket is a non-decreasing function of the key and a query's bucket the same
    function of the query (clipped to the range). Keys need not be sorted across buckets, so a
    key can leave out what the bucket says (no ``bucket << bits | key`` to overflow).
    """

    def __init__(self, keys: np.ndarray, buckets: np.ndarray, n_buckets: int) -> None:
        self.keys = keys
        self.n_buckets = n_buckets
        # where each bucket starts; bucket n_buckets (past the last) is empty, at the end
        self.first = np.searchsorted(buckets, np.arange(n_buckets + 2))
        self.run = int(np.bincount(buckets).max()) if len(keys) else 0

    def right(self, query: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        b = np.clip(bucket, 0, self.n_buckets)
        pos, end = self.first[b], self.first[b + 1]
        last = len(self.keys) - 1
        active = np.arange(len(query))
        for _ in range(self.run):  # within the bucket: at most ``run`` keys to step over
            p = pos[active]
            step = (p < end[active]) & (self.keys[np.minimum(p, last)] <= query[active])
            active = active[step]
            if not len(active):
                break
            pos[active] += 1
        return pos


class HashMap:
    """A growable open-addressing hash table from non-negative int64 keys to 8-byte values,
    read and written for whole arrays at once (Fibonacci hashing, linear probing, at most half
    full). Keys and values sit side by side, so a look-up touches one cache line."""

    def __init__(self, capacity: int = 1024, dtype: type = np.int64) -> None:
        bits = max(4, int(np.ceil(np.log2(3 * capacity + 1))))
        self.shift = np.uint64(64 - bits)
        self.table = np.zeros((1 << bits, 2), np.int64)
        self.table[:, 0] = -1
        self.slots = self.table[:, 0]
        self.values = self.table[:, 1].view(dtype)
        self.count = 0

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * _FIB) >> self.shift).view(np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key, -1 if absent (keys below 0 are never present)."""
        pos = self._home(keys)
        slot_key = self.slots[pos]
        out = np.where(slot_key == keys, pos, -1)
        more = np.flatnonzero((slot_key != keys) & (slot_key != -1))
        mask = len(self.slots) - 1
        while len(more):
            pos_m = (pos[more] + 1) & mask
            pos[more] = pos_m
            slot_key = self.slots[pos_m]
            want = keys[more]
            hit = slot_key == want
            out[more[hit]] = pos_m[hit]
            more = more[~hit & (slot_key != -1)]
        if len(keys) and keys.min() < 0:
            out[keys < 0] = -1
        return out

    def get(self, keys: np.ndarray, default=-1) -> tuple[np.ndarray, np.ndarray]:
        """(found, value) per key."""
        slot = self.find(np.asarray(keys, np.int64))
        return slot >= 0, self.at(slot, default)

    def at(self, slot: np.ndarray, default=-1) -> np.ndarray:
        """The values in ``slot`` (from :meth:`find`), ``default`` for -1."""
        return np.where(slot >= 0, self.values[slot], default)

    def set(self, keys: np.ndarray, values: np.ndarray, slot: np.ndarray | None = None) -> None:
        """Set the values of distinct ``keys`` (adding the new ones); ``slot``: their
        :meth:`find`, if the caller has it."""
        keys = np.asarray(keys, np.int64)
        values = np.asarray(values, self.values.dtype)
        if slot is None:
            slot = self.find(keys)
        old = slot >= 0
        self.values[slot[old]] = values[old]
        new = np.flatnonzero(~old & (keys >= 0))
        if self.count + len(new) > len(self.slots) // 2:
            held = self.slots >= 0
            old_keys, old_values = self.slots[held], self.values[held]
            self.__init__(self.count + len(new), self.values.dtype)
            self._insert(old_keys, old_values)
        self._insert(keys[new], values[new])

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Place keys known to be absent and distinct."""
        mask = len(self.slots) - 1
        pending = np.arange(len(keys))
        slot = self._home(keys)
        while len(pending):
            s = slot[pending]
            free = self.slots[s] == -1
            s_free, k_free = s[free], pending[free]
            self.slots[s_free] = keys[k_free]  # of keys sharing a free slot, one wins
            won = self.slots[s_free] == keys[k_free]
            self.values[s_free[won]] = values[k_free[won]]
            placed = np.zeros(len(keys), bool)
            placed[k_free[won]] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & mask
        self.count += len(keys)


class HashIndex:
    """Positions of non-negative int64 keys in an array of distinct keys (-1 if absent): about
    one random memory access per query, against ~log2(n) for a binary search."""

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64)
        self.map = HashMap(len(keys))
        self.map.set(keys, np.arange(len(keys)))

    def __call__(self, query: np.ndarray) -> np.ndarray:
        return self.map.get(query)[1]


class RankBitmap:
    """Positions of keys in a sorted array of distinct keys in ``[0, n_cells)`` (-1 if absent),
    from a bitmap of the keys: one read per query, of a word holding 32 cells' bits and, above
    them, the count of keys in the words before; then a popcount. No probing; 2 bits per cell."""

    def __init__(self, sorted_keys: np.ndarray, n_cells: int) -> None:
        cell = np.asarray(sorted_keys, np.int64) + 1  # cells 0 and n_cells + 1 stay empty:
        self.n_cells = n_cells  # queries outside are clipped to them
        bits = np.zeros(((n_cells + 1) >> 5) + 1, np.int64)
        word = cell >> 5
        if len(cell):
            starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
            bits[word[starts]] = np.bitwise_or.reduceat(np.int64(1) << (cell & 31), starts)
        before = np.zeros(len(bits), np.int64)
        np.cumsum(popcount(bits[:-1]), out=before[1:])
        self.words = (before << 32) | bits

    def __call__(self, query: np.ndarray) -> np.ndarray:
        cell = np.clip(query, -1, self.n_cells) + 1
        word = self.words[cell >> 5]
        bit = cell & 31
        rank = (word >> 32) + popcount(word & _BELOW[bit])
        return np.where((word >> bit) & 1, rank, -1)


#: The bits below bit b, for b in 0..31.
_BELOW = np.array([(1 << b) - 1 for b in range(32)], np.int64)
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each non-negative 64-bit integer."""
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(x)
    return _POPCOUNT8[np.ascontiguousarray(x).view(np.uint8)].reshape(-1, 8).sum(
        axis=1, dtype=np.int64)


class IdIndex:
    """Positions of ids in a sorted id array (-1 if absent), through a direct table when the
    ids are dense enough (people, addresses, vehicles, users usually are), else a hash table."""

    def __init__(self, sorted_ids: np.ndarray) -> None:
        self.ids = np.asarray(sorted_ids, np.int64)
        self.lo = int(self.ids[0]) if len(self.ids) else 0
        span = int(self.ids[-1]) - self.lo + 1 if len(self.ids) else 0
        self.table: np.ndarray | None = None
        self.hashed: HashIndex | None = None
        if 0 < span <= max(4 * len(self.ids), 1 << 16) and span < 1 << 28 and self.lo > -2**62:
            self.table = np.full(span + 2, -1, np.int64)  # -1 on either side, for those outside
            self.table[self.ids - self.lo + 1] = np.arange(len(self.ids))
        elif len(self.ids) and self.lo >= 0:
            self.hashed = HashIndex(self.ids)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if self.hashed is not None:
            return self.hashed(ids)
        if self.table is None:
            pos, found = lookup(self.ids, ids)
            return np.where(found, pos, -1)
        return self.table[np.clip(ids - (self.lo - 1), 0, len(self.table) - 1)]


class Vocabulary:
    """:func:`codes` for batch after batch against one large vocabulary (references).

    ``pc.index_in`` hashes the whole vocabulary again on every call. Here each batch's distinct
    strings are packed into three 64-bit words (those up to 24 bytes long) and looked up by a
    hash of their words in a table built once, then compared word for word, so the codes are
    exact; longer strings go through a dict.
    """

    def __init__(self, vocabulary: pa.Array) -> None:
        self.vocabulary = vocabulary
        self.code: dict[str, int] = {}
        for i, word in enumerate(vocabulary.to_pylist()):
            self.code.setdefault(word, i)
        self.words, self.fits = _packed(arr(vocabulary))
        prints, first = np.unique(_fingerprint(self.words), return_index=True)
        first = first[self.fits[first]]  # the first of equal strings: codes() gives that one
        self.rows = HashMap(len(first))
        self.rows.set(_fingerprint(self.words[first]), first)
        if len(prints) < np.count_nonzero(self.fits) or not len(first):
            self.rows = None  # two strings share a fingerprint (2**-63 odds): the dict answers

    def __call__(self, values: Any) -> np.ndarray:
        values = arr(values)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return codes(values, self.vocabulary)
        encoded = pc.dictionary_encode(values, null_encoding="encode")  # null: a word too
        return self.distinct(encoded.dictionary)[encoded.indices.to_numpy()]

    def distinct(self, strings: pa.Array) -> np.ndarray:
        """Codes of distinct strings."""
        if self.rows is None:
            return np.fromiter(map(self.code.get, strings.to_pylist(), repeat(-1)), np.int64,
                               len(strings))
        words, fits = _packed(strings)
        row = self.rows.get(_fingerprint(words))[1]
        same = (row >= 0) & (self.words[row] == words).all(axis=1) & fits
        out = np.where(same, row, -1)
        if strings.null_count:
            out[~strings.is_valid().to_numpy(zero_copy_only=False)] = -1
        long = np.flatnonzero(~fits)
        if len(long):
            out[long] = [self.code.get(w, -1) for w in strings.take(long).to_pylist()]
        return out


_PACKED_WORDS = 3
#: The low k bytes of a 64-bit word, for k = 0..8.
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)


def _packed(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each string as three little-endian 64-bit words, zero-padded, with its length in a
    fourth; and whether it fits (at most 24 bytes)."""
    n = len(strings)
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    offsets = np.frombuffer(strings.buffers()[1], width, n + 1 + strings.offset)
    offsets = offsets[strings.offset:].astype(np.int64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(hi - lo + 8 * (_PACKED_WORDS + 1), np.uint8)
    if hi > lo:
        padded[:hi - lo] = np.frombuffer(strings.buffers()[2], np.uint8)[lo:hi]
    at_byte = np.ndarray((len(padded) - 7,), np.uint64, padded, 0, (1,))  # a word at each byte
    start, length = offsets[:-1] - lo, np.diff(offsets)
    words = np.empty((n, _PACKED_WORDS + 1), np.uint64)
    for k in range(_PACKED_WORDS):
        words[:, k] = at_byte[start + 8 * k] & _LOW_BYTES[np.clip(length - 8 * k, 0, 8)]
    words[:, _PACKED_WORDS] = length
    return words, length <= 8 * _PACKED_WORDS


def _fingerprint(words: np.ndarray) -> np.ndarray:
    """A non-negative 63-bit hash of each row of packed words."""
    h = np.zeros(len(words), np.uint64)
    for k in range(words.shape[1]):
        h = hash64(h ^ words[:, k], k)
    return (h >> np.uint64(1)).astype(np.int64)
