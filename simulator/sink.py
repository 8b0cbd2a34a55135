"""Column buffers for audit events: every access, legitimate or not, is written through here.

Processes emit bursts of rows as numpy arrays. The sink buckets them by local day and, once a day can
no longer receive rows, writes the bucket to an Arrow IPC file for the merge step. The episode column
travels with the rows only until the merge splits it off into ``truth/labels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

# Columns of a shard's intermediate files (the merge turns codes into strings and assigns ids).
SHARD_SCHEMA = pa.schema([
    ("ts", pa.int64()),
    ("tiebreak", pa.uint64()),
    ("user_id", pa.int32()),
    ("system", pa.uint8()),
    ("action", pa.uint8()),
    ("entity_type", pa.uint8()),
    ("entity_id", pa.int64()),
    ("reference", pa.dictionary(pa.int32(), pa.string())),
    ("workstation_id", pa.int32()),
    ("episode", pa.int32()),
])


class EventSink:
    """Per-shard event buffers, bucketed by local day, spilled once a day is complete.

    ``spill(day, build)`` receives each finished day as a function that builds its
    :data:`SHARD_SCHEMA` table (to be called once, days in order); without one, days go to
    ``out_dir/day-NNNNN.arrow`` for a merge in another process.
    """

    def __init__(self, out_dir: Path, midnights: np.ndarray, days: int, user_ids: np.ndarray,
                 workstations: np.ndarray, references: list[str], rng: np.random.Generator,
                 spill: Callable[[int, Callable[[], pa.Table]], None] | None = None,
                 compression: str = "lz4"):
        self.dir = out_dir
        self.spill = spill
        self.compression = compression
        if spill is None:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.midnights = midnights[: days + 1]
        self.days = days
        self.user_ids = user_ids
        self.workstations = workstations
        self.references = references
        self.rng = rng
        self.buckets: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.pending: list[tuple] = []
        self.rows_per_day = np.zeros(days, dtype=np.int64)
        self.flushed = -1

    def emit(self, ts, staff, system, action, entity_type, entity_id, ref, episode=-1) -> None:
        """Append a burst of rows. Scalars broadcast; ``staff`` are force staff indexes.

        Cheap by design (one list append): bursts are combined and bucketed in :meth:`drain`.
        """
        self.pending.append((ts, staff, system, action, entity_type, entity_id, ref, episode))

    def drain(self) -> None:
        """Combine pending bursts into columns and bucket them by local day."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        ts_parts = [np.asarray(p[0], dtype=np.int64).reshape(-1) for p in pending]
        lengths = np.array([len(t) for t in ts_parts], dtype=np.int64)
        total = int(lengths.sum())
        if total == 0:
            return
        ts = np.concatenate(ts_parts)
        starts = np.cumsum(lengths) - lengths
        cols = [_column([p[j] for p in pending], lengths, starts, total, dt)
                for j, dt in enumerate((np.int64, np.uint8, np.uint8, np.uint8, np.int64, np.int64, np.int32), 1)]
        day = np.searchsorted(self.midnights, ts, side="right") - 1
        ok = (day >= 0) & (day < self.days)
        if not ok.all():
            ts, day, cols = ts[ok], day[ok], [c[ok] for c in cols]
        if ts.shape[0] == 0:
            return
        if int(day.min()) <= self.flushed:
            raise RuntimeError("event emitted for a day already written")  # a simulator bug, never input
        lo, hi = int(day.min()), int(day.max())
        if lo == hi:
            self.buckets.setdefault(lo, []).append((ts, *cols))
            return
        for d in range(lo, hi + 1):  # a burst spans a day or two: a mask per day beats a sort
            m = day == d
            if m.any():
                self.buckets.setdefault(d, []).append((ts[m], *(c[m] for c in cols)))

    def pending_rows(self) -> int:
        return sum(len(np.atleast_1d(p[0])) for p in self.pending) + sum(
            len(part[0]) for bucket in self.buckets.values() for part in bucket)

    def flush_before(self, day: int) -> None:
        """Write every bucket of a day before ``day``: no process may emit into them any more."""
        self.drain()
        for d in sorted(k for k in self.buckets if k < day):
            self._write(d)
        self.flushed = max(self.flushed, day - 1)

    def close(self) -> None:
        self.flush_before(self.days)

    def _write(self, day: int) -> None:
        parts = self.buckets.pop(day)
        self.rows_per_day[day] += sum(len(p[0]) for p in parts)
        if self.spill is not None:
            # Built where the day is merged (a thread beside the simulation), in day order.
            self.spill(day, lambda: self._table(parts))
        else:
            feather.write_feather(self._table(parts), self.dir / f"day-{day:05d}.arrow", compression=self.compression)

    def _table(self, parts: list[tuple[np.ndarray, ...]]) -> pa.Table:
        ts, staff, system, action, etype, eid, ref, episode = (np.concatenate(c) for c in zip(*parts))
        n = len(ts)
        ref = ref.astype(np.int64)
        has = ref >= 0
        # The day's references, in reference order, as a dictionary (marks beat np.unique's sort).
        seen = np.zeros(int(ref.max()) + 1 if n else 0, bool)
        seen[ref[has]] = True
        uniq = np.flatnonzero(seen)
        codes = np.full(n, -1, dtype=np.int32)
        codes[has] = (np.cumsum(seen) - 1)[ref[has]]
        dictionary = pa.array([self.references[i] for i in uniq], type=pa.string())
        ref_arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=~has), dictionary)
        ws = self.workstations[staff] + self.rng.integers(0, 4, n, dtype=np.int32)
        return pa.table([
            pa.array(ts), pa.array(self.rng.integers(0, 2**63, n, dtype=np.uint64)),
            pa.array(self.user_ids[staff].astype(np.int32)), pa.array(system.astype(np.uint8)),
            pa.array(action.astype(np.uint8)), pa.array(etype.astype(np.uint8)),
            pa.array(eid.astype(np.int64)), ref_arr, pa.array(ws.astype(np.int32)),
            pa.array(episode.astype(np.int32)),
        ], schema=SHARD_SCHEMA)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each (s, n), vectorised."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _column(values: list, lengths: np.ndarray, starts: np.ndarray, total: int, dtype) -> np.ndarray:
    """One column from per-burst values that are scalars (broadcast) or arrays."""
    scalar = np.fromiter((not (isinstance(v, np.ndarray) and v.ndim) for v in values), dtype=bool,
                         count=len(values))
    out = np.empty(total, dtype=dtype)
    if scalar.any():
        idx = np.flatnonzero(scalar)
        out[_ranges(starts[idx], lengths[idx])] = np.repeat(np.array([values[i] for i in idx], dtype=dtype),
                                                            lengths[idx])
    if not scalar.all():
        idx = np.flatnonzero(~scalar)
        out[_ranges(starts[idx], lengths[idx])] = np.concatenate(
            [np.asarray(values[i]).reshape(-1).astype(dtype, copy=False) for i in idx])
    return out
