"""A shard's tasking log, kept on disk in sorted runs, and its one-row-per-user-and-reference table
made by an external merge, so that memory does not grow with the days simulated.

Rows (staff, reference, via, since, until) are given as the shard runs. Every ``SPILL_ROWS`` rows the
log sorts what it holds by (staff, reference, via, since) and writes it as a run (Arrow IPC,
uncompressed, read back memory-mapped). The final table keeps one row per (user, reference): the
first row in that order (direct over team, then the earliest start), the latest end (open if any
row is), sorted by (since, user, reference). It is made in two passes, each over a bounded slice:

1. staff ranges of at most ``BUCKET_ROWS`` rows: each range's rows from every run are aggregated
   and written, sorted by (since, user, reference), as a run of finished rows;
2. windows of start time across those runs: each window's rows are sorted and given out.

The result is the same table, row for row, as aggregating every row at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from snoopbench.contract.schema import TS

RAW = pa.schema([("staff", pa.int32()), ("ref", pa.int64()), ("via", pa.int8()), ("since", pa.int64()),
                 ("until", pa.int64())])
ORDER = [("since", "ascending"), ("user_id", "ascending"), ("reference", "ascending")]


class TaskLog:
    """Tasking rows (staff, reference, via, since, until) as they are given, spilled in sorted runs."""

    COMPACT_EVERY = 4096
    SPILL_ROWS = 1 << 19     # rows held in memory before a run is written (about 15 MB)
    BUCKET_ROWS = 1 << 19    # raw rows aggregated at once in the final merge
    WINDOW_STEP = 1 << 15    # finished rows per run and start-time window in the final merge

    def __init__(self, spill_dir: Path | None = None):
        self._arrays: list[tuple[np.ndarray, ...]] = []
        self._held = 0
        self.spill_dir = spill_dir
        self.runs: list[Path] = []

    def rows(self, staff: np.ndarray, refs: np.ndarray, via: int, since: np.ndarray, until: np.ndarray) -> None:
        if len(staff):
            self._arrays.append((staff.astype(np.int32), refs.astype(np.int64), np.full(len(staff), via, np.int8),
                                 since.astype(np.int64), until.astype(np.int64)))
            self._held += len(staff)
        if len(self._arrays) >= self.COMPACT_EVERY:
            self._compact()
        if self.spill_dir is not None and self._held >= self.SPILL_ROWS:
            self._spill()

    def _compact(self) -> None:
        if len(self._arrays) > 1:
            self._arrays = [tuple(np.concatenate(c) for c in zip(*self._arrays))]

    def _memory(self) -> tuple[np.ndarray, ...]:
        self._compact()
        if not self._arrays:
            return tuple(np.zeros(0, f.type.to_pandas_dtype()) for f in RAW)
        return self._arrays[0]

    def _spill(self) -> None:
        staff, ref, via, since, until = self._memory()
        order = np.lexsort((since, via, ref, staff))
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"tasking-{len(self.runs):05d}.arrow"
        _write(pa.table([c[order] for c in (staff, ref, via, since, until)], schema=RAW), path)
        self.runs.append(path)
        self._arrays, self._held = [], 0

    def _run_tables(self) -> list[pa.Table]:
        """Every run (memory-mapped) and the rows still in memory, each sorted by staff."""
        staff, ref, via, since, until = self._memory()
        order = np.argsort(staff, kind="stable")
        held = pa.table([c[order] for c in (staff, ref, via, since, until)], schema=RAW)
        return [feather.read_table(p, memory_map=True) for p in self.runs] + [held]

    def held_by(self, staff: int, via: int = 0) -> set[int]:
        """References ever given to ``staff`` (directly, by default) so far."""
        out: set[int] = set()
        for t in self._run_tables():
            s = _col(t, "staff")
            lo, hi = np.searchsorted(s, [staff, staff + 1])
            part = t.slice(lo, hi - lo)
            out.update(_col(part, "ref")[_col(part, "via") == via].tolist())
        return out

    def table_parts(self, users: np.ndarray, ref_str: np.ndarray) -> Iterator[pa.Table]:
        """The tasking table (see the module docstring) in parts, in order; ``users`` maps staff to
        user ids, ``ref_str`` reference indexes to strings."""
        runs = self._run_tables()
        staff_cols = [_col(t, "staff") for t in runs]
        bounds = _staff_bounds(staff_cols, self.BUCKET_ROWS)
        if self.spill_dir is None:
            bounds = bounds[[0, -1]]
        finished = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            parts = []
            for t, s in zip(runs, staff_cols):
                a, b = np.searchsorted(s, [lo, hi])
                parts.append(t.slice(a, b - a))
            done = _aggregate(pa.concat_tables(parts), users, ref_str).sort_by(ORDER)
            if len(bounds) == 2:  # one bucket: already the whole table
                yield _finish(done)
                return
            path = self.spill_dir / f"finished-{len(finished):05d}.arrow"
            _write(done, path)
            finished.append(path)
        del runs, staff_cols
        yield from _merge_by_since([feather.read_table(p, memory_map=True) for p in finished], self.WINDOW_STEP)


def _write(t: pa.Table, path: Path) -> None:
    """One record batch, so that columns read back memory-mapped are single chunks (no copies)."""
    feather.write_feather(t, path, compression="uncompressed", chunksize=max(1, t.num_rows))


def _col(t: pa.Table, name: str) -> np.ndarray:
    c = t[name]
    return c.chunk(0).to_numpy() if c.num_chunks == 1 else c.to_numpy()


def _staff_bounds(staff_cols: list[np.ndarray], bucket_rows: int) -> np.ndarray:
    """Staff boundaries [b0, b1, ...) of ranges holding about ``bucket_rows`` rows each (a range
    holds at least one staff member, whatever their rows)."""
    top = max((int(s[-1]) + 1 for s in staff_cols if len(s)), default=1)
    counts = np.zeros(top, np.int64)
    for s in staff_cols:
        counts += np.bincount(s, minlength=top)[:top]
    cum = np.cumsum(counts)
    total = int(cum[-1])
    if total <= bucket_rows:
        return np.array([0, top], np.int64)
    marks = np.searchsorted(cum, np.arange(bucket_rows, total, bucket_rows), side="left") + 1
    return np.unique(np.concatenate([[0], marks, [top]]))


def _aggregate(t: pa.Table, users: np.ndarray, ref_str: np.ndarray) -> pa.Table:
    """One row per (staff, reference): the first row in (staff, ref, via, since) order, with the latest
    end (open if any is). ``since`` and ``until`` stay int64 here (``until`` null when open)."""
    staff, ref, via, since, until = (_col(t, n) for n in RAW.names)
    order = np.lexsort((since, via, ref, staff))
    staff, ref, via, since, until = staff[order], ref[order], via[order], since[order], until[order]
    first = np.r_[True, (staff[1:] != staff[:-1]) | (ref[1:] != ref[:-1])] if len(staff) else np.zeros(0, bool)
    group = np.cumsum(first) - 1
    open_ended = np.zeros(int(first.sum()), bool)
    np.logical_or.at(open_ended, group, until < 0)
    last_until = np.full(int(first.sum()), np.iinfo(np.int64).min)
    np.maximum.at(last_until, group, until)
    staff, ref, via, since = staff[first], ref[first], via[first], since[first]
    return pa.table({
        "user_id": pa.array(users[staff], pa.int32()),
        "reference": pa.array(ref_str[ref], pa.string()),
        "since": pa.array(since, pa.int64()),
        "until": pa.array(last_until, pa.int64(), mask=open_ended),
        "via": pa.array(np.where(via == 0, "direct", "team"), pa.string()),
    })


def _finish(t: pa.Table) -> pa.Table:
    """Times as timestamps, as the context table declares them."""
    return t.set_column(2, "since", t["since"].cast(TS)).set_column(3, "until", t["until"].cast(TS))


def _merge_by_since(runs: list[pa.Table], step: int) -> Iterator[pa.Table]:
    """Runs each sorted by (since, user, reference), merged in start-time windows of at most
    ``step`` rows per run, given out in parts of about a row group."""
    since = [_col(t, "since") for t in runs]
    cuts = np.unique(np.concatenate([s[::step] for s in since if len(s)] + [np.zeros(0, np.int64)]))
    if not len(cuts):
        return  # (never: runs are only merged when there are more rows than one bucket holds)
    edges = np.r_[cuts, max(int(s[-1]) for s in since if len(s)) + 1]
    buffered: list[pa.Table] = []
    rows = 0
    for lo, hi in zip(edges[:-1], edges[1:]):
        parts = []
        for t, s in zip(runs, since):
            a, b = np.searchsorted(s, [lo, hi])
            if b > a:
                parts.append(t.slice(a, b - a))
        window = pa.concat_tables(parts).sort_by(ORDER)
        buffered.append(window)
        rows += window.num_rows
        if rows >= 1 << 18:
            yield _finish(pa.concat_tables(buffered).combine_chunks())
            buffered, rows = [], 0
    if buffered:
        yield _finish(pa.concat_tables(buffered).combine_chunks())
