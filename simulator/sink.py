"""Column buffers for audit events: every access, legitimate or not, is written through here.

Processes emit bursts of rows as numpy arrays. The sink buckets them by local day and, once a day can
no longer receive rows, writes the bucket to an Arrow IPC file for the merge step. The episode column
travels with the rows only until the merge splits it off into ``truth/labels``.
"""

from __future__ import annotations

from pathlib import Path

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
    """Per-shard event buffers, bucketed by local day, spilled to ``dir/day-NNNNN.arrow``."""

    def __init__(self, out_dir: Path, midnights: np.ndarray, days: int, user_ids: np.ndarray,
                 workstations: np.ndarray, references: list[str], rng: np.random.Generator):
        self.dir = out_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.midnights = midnights[: days + 1]
        self.days = days
        self.user_ids = user_ids
        self.workstations = workstations
        self.references = references
        self.rng = rng
        self.buckets: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.rows_per_day = np.zeros(days, dtype=np.int64)
        self.flushed = -1

    def emit(self, ts, staff, system, action, entity_type, entity_id, ref, episode=-1) -> None:
        """Append a burst of rows. Scalars broadcast; ``staff`` are force staff indexes."""
        ts = np.asarray(ts, dtype=np.int64)
        n = ts.shape[0]
        if n == 0:
            return
        cols = [np.broadcast_to(np.asarray(c), (n,)) for c in
                (staff, system, action, entity_type, entity_id, ref, episode)]
        day = np.searchsorted(self.midnights, ts, side="right") - 1
        ok = (day >= 0) & (day < self.days)
        if not ok.all():
            ts, day, cols = ts[ok], day[ok], [c[ok] for c in cols]
        if ts.shape[0] == 0:
            return
        if int(day.min()) <= self.flushed:
            raise RuntimeError("event emitted for a day already written")  # a simulator bug, never input
        if day[0] == day[-1] and (day == day[0]).all():
            self.buckets.setdefault(int(day[0]), []).append((ts, *cols))
            return
        for d in np.unique(day):
            m = day == d
            self.buckets.setdefault(int(d), []).append((ts[m], *(c[m] for c in cols)))

    def flush_before(self, day: int) -> None:
        """Write every bucket of a day before ``day``: no process may emit into them any more."""
        for d in sorted(k for k in self.buckets if k < day):
            self._write(d)
        self.flushed = max(self.flushed, day - 1)

    def close(self) -> None:
        self.flush_before(self.days)

    def _write(self, day: int) -> None:
        parts = self.buckets.pop(day)
        ts, staff, system, action, etype, eid, ref, episode = (np.concatenate(c) for c in zip(*parts))
        n = len(ts)
        ref = ref.astype(np.int64)
        has = ref >= 0
        uniq, inv = np.unique(ref[has], return_inverse=True)
        codes = np.full(n, -1, dtype=np.int32)
        codes[has] = inv
        dictionary = pa.array([self.references[i] for i in uniq], type=pa.string())
        ref_arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=~has), dictionary)
        ws = self.workstations[staff] + self.rng.integers(0, 4, n, dtype=np.int32)
        table = pa.table([
            pa.array(ts), pa.array(self.rng.integers(0, 2**63, n, dtype=np.uint64)),
            pa.array(self.user_ids[staff].astype(np.int32)), pa.array(system.astype(np.uint8)),
            pa.array(action.astype(np.uint8)), pa.array(etype.astype(np.uint8)),
            pa.array(eid.astype(np.int64)), ref_arr, pa.array(ws.astype(np.int32)),
            pa.array(episode.astype(np.int32)),
        ], schema=SHARD_SCHEMA)
        feather.write_feather(table, self.dir / f"day-{day:05d}.arrow", compression="uncompressed")
        self.rows_per_day[day] += n
