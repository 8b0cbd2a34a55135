"""Column helpers shared by the built-in rules: the contract's vocabularies, string columns to
codes, timestamps to milliseconds, small array helpers. The lookups are in
:mod:`snoopbench.detectors.lookups`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.contract.schema import ACTIONS, ENTITY_TYPES, SYSTEMS

# Codes are positions in the contract's vocabularies; unknown values get code -1.
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


def padded(values: np.ndarray, fill: Any) -> np.ndarray:
    """``values`` with ``fill`` appended: indexed by positions where -1 means none, it gives
    ``fill`` for those in one read."""
    return np.append(values, fill)


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
    values = values.cast(pa.int64())
    return (values.fill_null(NEVER) if values.null_count else values).to_numpy(
        zero_copy_only=False)


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
    """Running max of ``values`` within runs of equal ``group`` codes (each run starts afresh,
    whatever the codes; no product of a code and a count is formed, so none can overflow)."""
    if not len(values):
        return np.asarray(values)
    group = np.asarray(group)
    vals, rank = np.unique(values, return_inverse=True)
    run = np.zeros(len(group), np.int64)
    np.cumsum(group[1:] != group[:-1], out=run[1:])
    offset = run * len(vals)  # below len(values) ** 2 <= 2**62 for any array that fits in memory
    return vals[np.maximum.accumulate(offset + rank.reshape(-1)) - offset]


def arr(col: Any) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def np_column(col: Any) -> np.ndarray:
    return arr(col).to_numpy(zero_copy_only=False)
