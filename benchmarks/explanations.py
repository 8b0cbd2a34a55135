"""Detectors' explanations: which to ask for inside the sandbox, and reading them back outside.

An alert is a user-day; its explanation is that of the user-day's highest-scoring event (the
earliest, on a tie), as the detector gave it: a Python detector through its optional
``explain(batch, rows)`` (see :class:`snoopbench.detectors.base.Detector`), called on the batch
it has just scored, or an ``exec:`` program through the ``explanation`` column of its ``{out}``.

Asking for every event's explanation would cost as much as scoring again and fill the disk, so
the worker asks only for events that may become alerts: an event that sets its user-day's
highest score so far while that user-day is among the ``per_day`` first of its day so far, in
the order alerts are chosen (score, then the fixed hash that breaks ties). Every final alert's
top event passes that test when it is scored (a user-day's place can only fall as the day goes
by), so the kept explanations are a superset of the alerts' ones, and about
``per_day * log(users per day)`` a day, whatever the dataset's size: ties (a day of zeros) do
not multiply them.

The worker writes them to ``explanations.parquet`` (``position``: the event's place in the
scoring period; ``text``) as it goes. The harness reads the file back with its own users and
days, so an explanation attaches only to the user-day of the event it was written for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.benchmarks.metrics import _TIE_KEY
from snoopbench.contract.info import user_day_keys
from snoopbench.detectors.base import hash64

EXPLANATIONS_FILE = "explanations.parquet"
#: At most this many characters of an explanation are kept.
MAX_CHARS = 500
#: Largest explanations file the harness reads (a detector writes it; it is not trusted).
MAX_FILE_BYTES = 512 << 20
_SCHEMA = pa.schema([("position", pa.int64()), ("text", pa.string())])


class CandidateFilter:
    """Picks, batch by batch, the events whose explanation may be an alert's (module docstring).

    Events arrive in time order; ``add`` is given each batch's users, local days and scores and
    returns the rows (indices into the batch) to explain.
    """

    def __init__(self, per_day: int) -> None:
        self.per_day = max(int(per_day), 1)
        self._keys = np.empty(0, np.int64)   # open user-days (sorted) and their best so far
        self._best = np.empty(0)

    def add(self, user: np.ndarray, day: np.ndarray, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, np.float64)
        if not len(s):
            return np.empty(0, np.int64)
        rows, bkeys, bbest = _user_day_tops(np.asarray(user, np.int64), np.asarray(day, np.int64), s)
        at = np.searchsorted(self._keys, bkeys)
        known = at < len(self._keys)
        known[known] = self._keys[at[known]] == bkeys[known]
        old = np.full(len(bkeys), -np.inf)
        old[known] = self._best[at[known]]
        raised = bbest > old
        self._best[at[known & raised]] = bbest[known & raised]
        if (~known).any():
            merged = np.r_[self._keys, bkeys[~known]]
            values = np.r_[self._best, bbest[~known]]
            o = np.argsort(merged, kind="stable")
            self._keys, self._best = merged[o], values[o]
        bdays = bkeys >> 32
        take = raised & np.isfinite(bbest)
        open_days = self._keys >> 32
        bhash = hash64(bkeys, _TIE_KEY)
        for d in np.unique(bdays[take]):
            on_day = open_days == d
            if on_day.sum() <= self.per_day:
                continue
            # the day's k-th user-day so far, in the order alerts are chosen: score, then hash
            best, h = self._best[on_day], hash64(self._keys[on_day], _TIE_KEY)
            kth = np.lexsort((h, -best))[self.per_day - 1]
            mine = bdays == d
            take[mine] &= (bbest[mine] > best[kth]) | ((bbest[mine] == best[kth])
                                                        & (bhash[mine] <= h[kth]))
        # days before the batch's last are over: events come in time order
        keep = open_days >= int(day[-1])
        self._keys, self._best = self._keys[keep], self._best[keep]
        return np.sort(rows[take])


def _user_day_tops(user: np.ndarray, day: np.ndarray, s: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user-day of a batch: the first row reaching its highest score, its key (sorted) and
    that score. Dense arrays over the batch's users and days where they are few (no sort)."""
    u0, d0 = int(user.min()), int(day.min())
    width = int(user.max()) - u0 + 1
    size = width * (int(day.max()) - d0 + 1)
    if size > 4 * len(s) + 100_000:  # ids too spread out for dense arrays: sort
        keys = user_day_keys(user, day)
        order = np.argsort(keys, kind="stable")
        sorted_keys, sorted_s = keys[order], s[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        best = np.maximum.reduceat(sorted_s, starts)
        counts = np.diff(np.r_[starts, len(s)])
        at_best = np.flatnonzero(sorted_s == np.repeat(best, counts))  # -inf == -inf too
        return order[at_best[np.searchsorted(at_best, starts)]], sorted_keys[starts], best
    slot = (day - d0) * width + (user - u0)
    best = np.full(size, -np.inf)
    np.maximum.at(best, slot, s)
    first = np.full(size, len(s), np.int64)
    hit = np.flatnonzero(s == best[slot])  # rows at their user-day's best, rising
    np.minimum.at(first, slot[hit], hit)
    used = np.flatnonzero(first < len(s))  # slots in key order: day first, then user
    rows = first[used]
    return rows, user_day_keys(user[rows], day[rows]), best[used]


class ExplanationWriter:
    """Appends (position, text) rows to the explanations file, a row group at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, positions: np.ndarray, texts: Sequence[object]) -> None:
        keep = [(int(p), str(t)[:MAX_CHARS]) for p, t in zip(positions, texts)
                if t is not None and str(t).strip()]
        if not keep:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, _SCHEMA)
        pos, text = zip(*keep)
        self._writer.write_table(pa.table([pa.array(pos, pa.int64()), pa.array(text, pa.string())],
                                          schema=_SCHEMA))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_texts(texts: object, n: int) -> list[object]:
    """The contract's check on one ``explain`` result: a sequence of ``n`` strings or None."""
    from snoopbench.benchmarks.worker import DetectorFault

    try:
        out = list(texts)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DetectorFault(f"explain() returned {type(texts).__name__}, not a sequence") from exc
    if len(out) != n:
        raise DetectorFault(f"explain() returned {len(out)} explanations for {n} rows")
    bad = [t for t in out if t is not None and not isinstance(t, str)]
    if bad:
        raise DetectorFault(f"explain() returned a {type(bad[0]).__name__}; expected str or None")
    return out


def read_explanations(path: Path, users_at, days_at) -> dict[int, str]:
    """The explanations file as user-day key -> the explanation of that user-day's top event.

    ``users_at(positions)`` and ``days_at(positions)`` give the harness's own users and local
    days of period positions. Rows naming a position outside the period are ignored; for a
    user-day named several times, the last row counts (the worker writes a user-day again only
    when a later event beats its score). A file that is not readable is ignored: explanations
    are extra, the scores are what the detector is judged on.
    """
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        return {}
    try:
        table = pq.read_table(path)
        pos = table["position"].cast(pa.int64()).to_numpy()
        text = table["text"].cast(pa.string()).to_pylist()
    except (pa.ArrowException, KeyError, OSError):
        return {}
    if not len(pos):
        return {}
    valid = np.flatnonzero(pos >= 0)
    positions = pos[valid]
    users = users_at(positions)
    inside = users >= 0
    valid, positions, users = valid[inside], positions[inside], users[inside]
    keys = user_day_keys(users, days_at(positions))
    return {int(k): text[i] for k, i in zip(keys, valid)}


def users_at(period, positions: np.ndarray, batch_size: int = 1 << 16) -> np.ndarray:
    """The user of each period position (-1 outside the period), reading the user column once."""
    positions = np.asarray(positions, np.int64)
    out = np.full(len(positions), -1, np.int64)
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    start = 0
    for chunk in period.iter_users(batch_size):
        lo, hi = np.searchsorted(sorted_pos, [start, start + len(chunk)])
        out[order[lo:hi]] = chunk[sorted_pos[lo:hi] - start]
        start += len(chunk)
    return out
