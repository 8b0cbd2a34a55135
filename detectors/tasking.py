"""Who held which case when: the ``tasking`` table as a fast (user, case, time) lookup."""

from __future__ import annotations

import numpy as np

from detectors.columns import NEVER, T_BITS, HashIndex, group_cummax

#: Above this many (user, case) cells the lookup is a binary search instead of a direct table.
_DENSE_CELLS = 1 << 24


class Holdings:
    """Intervals during which users held cases, answering "did user u hold case c at t?".

    Most (user, case) pairs have one interval: its start and end are read from a direct table
    (or a hash table on large forces). Pairs held over several intervals (directly, then
    through the team) take a second search on ``(pair << 42 | since)`` keys, with the latest
    end among the intervals started so far.
    """

    def __init__(self, user: np.ndarray, case: np.ndarray, since: np.ndarray, until: np.ndarray,
                 n_users: int, n_cases: int) -> None:
        self.n_cases = max(n_cases, 1)
        ok = (user >= 0) & (case >= 0)
        key = user[ok].astype(np.int64) * self.n_cases + case[ok]
        since = np.clip(since[ok], 0, (1 << T_BITS) - 1)
        until = until[ok]
        self.keys, rank = np.unique(key, return_inverse=True)
        rank = rank.reshape(-1).astype(np.int64)
        n = len(self.keys)
        self.since = np.full(n, NEVER, np.int64)
        np.minimum.at(self.since, rank, since)
        self.until = np.full(n, -1, np.int64)
        np.maximum.at(self.until, rank, until)
        self.multi = np.bincount(rank, minlength=n) > 1
        m = self.multi[rank]
        packed = (rank[m] << T_BITS) | since[m]
        order = np.argsort(packed, kind="stable")
        self.packed = packed[order]
        self.packed_until = group_cummax(rank[m][order], until[m][order])
        self.table: np.ndarray | None = None
        self.hashed: HashIndex | None = None
        if 0 < n_users * self.n_cases <= _DENSE_CELLS:
            self.table = np.full(n_users * self.n_cases, -1, np.int32)
            self.table[self.keys] = np.arange(n, dtype=np.int32)
        else:
            self.hashed = HashIndex(self.keys)

    def __call__(self, user: np.ndarray, case: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Whether each user held each case (dense case code, -1: none) at ``ts`` (UTC ms)."""
        out = np.zeros(len(ts), bool)
        idx = np.flatnonzero((user >= 0) & (case >= 0))
        if not len(idx) or not len(self.keys):
            return out
        key = user[idx].astype(np.int64) * self.n_cases + case[idx]
        if self.table is not None:
            rank = self.table[np.minimum(key, len(self.table) - 1)].astype(np.int64)
            rank[key >= len(self.table)] = -1
        else:
            rank = self.hashed(key)
        idx, rank = idx[rank >= 0], rank[rank >= 0]
        t = ts[idx]
        held = (self.since[rank] <= t) & (t <= self.until[rank])
        multi = self.multi[rank]
        if multi.any():
            r, tm = rank[multi], np.clip(t[multi], 0, (1 << T_BITS) - 1)
            i = np.searchsorted(self.packed, (r << T_BITS) | tm, side="right") - 1
            j = np.maximum(i, 0)
            held[multi] = (i >= 0) & ((self.packed[j] >> T_BITS) == r) \
                & (self.packed_until[j] >= t[multi])
        out[idx] = held
        return out
