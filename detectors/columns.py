"""Column helpers shared by the built-in rules: the contract's vocabularies, string columns to
codes, timestamps to milliseconds, and lookups on sorted int64 keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.base import hash64

# The contract's vocabularies (DESIGN.md, "Dataset directory"); unknown values get code -1.
SYSTEMS = ("PNC", "PND", "RMS", "CAD", "DEMS", "ANPR")
ACTIONS = ("search", "view", "create", "update", "print", "export", "download", "share", "delete")
ENTITY_TYPES = ("person", "vehicle", "address", "crime", "incident", "intel", "custody", "media")
SYS = {s: i for i, s in enumerate(SYSTEMS)}
ACT = {a: i for i, a in enumerate(ACTIONS)}
ET = {e: i for i, e in enumerate(ENTITY_TYPES)}
#: Actions that take a copy out of the system.
COPY_ACTIONS = (ACT["print"], ACT["export"], ACT["download"], ACT["share"])
#: Entity types that are look-ups of someone (rather than of a police record).
PERSONAL = (ET["person"], ET["vehicle"], ET["address"])
NEVER = np.iinfo(np.int64).max
DAY_MS = 86_400_000
QUARTER_MS = 900_000
T_BITS = 42  # timestamps packed under a key: ms since 1970 fit in 42 bits until 2109
VOCAB = {"system": pa.array(SYSTEMS), "action": pa.array(ACTIONS),
        "entity_type": pa.array(ENTITY_TYPES)}


def lookup(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``query`` in ``sorted_keys`` (clipped to valid) and whether each was found."""
    if not len(sorted_keys):
        return np.zeros(len(query), np.int64), np.zeros(len(query), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == query


def take(values: np.ndarray, pos: np.ndarray, ok: np.ndarray, fill: Any) -> np.ndarray:
    """``values[pos]`` where ``ok``, else ``fill`` (safe on an empty ``values``)."""
    if not len(values):
        return np.full(len(pos), fill)
    return np.where(ok, values[np.clip(pos, 0, len(values) - 1)], fill)


class HashMap:
    """A growable open-addressing hash table from non-negative int64 keys to int64 values,
    read and written for whole arrays at once (linear probing, at most half full)."""

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(4, int(np.ceil(np.log2(3 * capacity + 1))))
        self.slots = np.full(size, -1, np.int64)
        self.values = np.zeros(size, np.int64)
        self.count = 0

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return (hash64(keys, 0x1D) & np.uint64(len(self.slots) - 1)).astype(np.int64)

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key, -1 if absent (keys below 0 are never present)."""
        out = np.full(len(keys), -1, np.int64)
        active = np.flatnonzero(keys >= 0)
        pos = self._home(keys[active])
        mask = len(self.slots) - 1
        while len(active):
            slot_key = self.slots[pos]
            hit = slot_key == keys[active]
            out[active[hit]] = pos[hit]
            more = (slot_key != -1) & ~hit
            active, pos = active[more], (pos[more] + 1) & mask
        return out

    def get(self, keys: np.ndarray, default: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """(found, value) per key."""
        slot = self._find(np.asarray(keys, np.int64))
        found = slot >= 0
        return found, np.where(found, self.values[np.maximum(slot, 0)], default)

    def set(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Set the values of distinct ``keys`` (adding the new ones)."""
        keys = np.asarray(keys, np.int64)
        values = np.asarray(values, np.int64)
        slot = self._find(keys)
        self.values[slot[slot >= 0]] = values[slot >= 0]
        new = np.flatnonzero((slot < 0) & (keys >= 0))
        if self.count + len(new) > len(self.slots) // 2:
            old = self.slots >= 0
            old_keys, old_values = self.slots[old], self.values[old]
            self.__init__(self.count + len(new))
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
            taken, first = np.unique(s[free], return_index=True)
            winners = pending[free][first]
            self.slots[taken] = keys[winners]
            self.values[taken] = values[winners]
            placed = np.zeros(len(keys), bool)
            placed[winners] = True
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


class IdIndex:
    """Positions of ids in a sorted id array (-1 if absent), through a direct table when the
    ids are dense enough (people, addresses, vehicles, users usually are), else a hash table."""

    def __init__(self, sorted_ids: np.ndarray) -> None:
        self.ids = np.asarray(sorted_ids, np.int64)
        self.lo = int(self.ids[0]) if len(self.ids) else 0
        span = int(self.ids[-1]) - self.lo + 1 if len(self.ids) else 0
        self.table: np.ndarray | None = None
        self.hashed: HashIndex | None = None
        if 0 < span <= max(4 * len(self.ids), 1 << 16) and span < 1 << 28:
            self.table = np.full(span, -1, np.int64)
            self.table[self.ids - self.lo] = np.arange(len(self.ids))
        elif len(self.ids) and self.lo >= 0:
            self.hashed = HashIndex(self.ids)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if self.hashed is not None:
            return self.hashed(ids)
        if self.table is None:
            pos, found = lookup(self.ids, ids)
            return np.where(found, pos, -1)
        i = ids - self.lo
        ok = (i >= 0) & (i < len(self.table))
        return np.where(ok, self.table[np.where(ok, i, 0)], -1)


def entity_key(etype: np.ndarray, entity: np.ndarray) -> np.ndarray:
    """One int64 per (entity type, entity id): the type in the top byte."""
    return (np.asarray(etype, np.int64) << 56) | (np.asarray(entity, np.int64) & ((1 << 56) - 1))


def codes(values: Any, vocabulary: pa.Array) -> np.ndarray:
    """The index of each string in ``vocabulary`` (-1 for null or unknown)."""
    if not len(vocabulary):
        return np.full(len(values), -1, np.int64)
    return int_values(arr(pc.index_in(values, value_set=vocabulary)), -1)


def int_values(a: pa.Array, fill: int) -> np.ndarray:
    """An integer Arrow array as int64, nulls as ``fill``, read straight from its buffers."""
    n = len(a)
    validity, data = a.buffers()[0], a.buffers()[1]
    if data is None or not n:
        return np.full(n, fill, np.int64)
    width = a.type.bit_width // 8
    values = np.frombuffer(data, dtype=np.dtype(f"<i{width}"), count=n + a.offset)[a.offset:]
    values = values.astype(np.int64)
    if a.null_count and validity is not None:
        bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
        values[~bits[a.offset:a.offset + n].astype(bool)] = fill
    return values


def ms(values: Any) -> np.ndarray:
    """UTC milliseconds of a timestamp column, whatever its unit (null: never)."""
    values = arr(values)
    if pa.types.is_timestamp(values.type) and values.type.unit != "ms":
        values = values.cast(pa.timestamp("ms", tz=values.type.tz), safe=False)
    return values.cast(pa.int64()).fill_null(NEVER).to_numpy(zero_copy_only=False)


def column(table: pa.Table | pa.RecordBatch, name: str, fill: Any = None) -> pa.Array:
    """A column, or a constant column of ``fill`` if the table lacks it (older datasets)."""
    if name in table.schema.names:
        return arr(table.column(name))
    return pa.array([fill] * table.num_rows)


def ints(table: pa.Table, name: str, fill: int = -1) -> np.ndarray:
    """An integer column as int64, nulls (or a missing column) as ``fill``."""
    col = column(table, name, fill)
    return col.cast(pa.int64()).fill_null(fill).to_numpy(zero_copy_only=False)


def group_cummax(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running max of ``values`` within runs of equal, sorted (non-negative) ``group`` codes."""
    if not len(values):
        return np.asarray(values)
    vals, rank = np.unique(values, return_inverse=True)
    offset = np.asarray(group, np.int64) * len(vals)
    return vals[np.maximum.accumulate(offset + rank.reshape(-1)) - offset]


def arr(col: Any) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def np_column(col: Any) -> np.ndarray:
    return arr(col).to_numpy(zero_copy_only=False)
