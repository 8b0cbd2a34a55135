"""Who held which case when: the ``tasking`` table as a fast (user, case, time) lookup."""

from __future__ import annotations

import numpy as np

from detectors.columns import NEVER, T_BITS, HashIndex, RankBitmap, group_cummax

#: Above this many (user, case) cells (a 64 MiB bitmap) the pairs go in a hash table instead.
_BITMAP_CELLS = 1 << 28


class Holdings:
    """Intervals during which users held cases, answering "did user u hold case c at t?".

    Most (user, case) pairs have one interval: its start and end are found through a bitmap of
    the (user, case) grid (or a hash table on large forces). Pairs held over several intervals
    (directly, then through the team) take a second search on ``(pair << 42 | since)`` keys,
    with the latest end among the intervals started so far.
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
        if 0 < n_users * self.n_cases <= _BITMAP_CELLS:
            self.rows: RankBitmap | HashIndex = RankBitmap(self.keys, n_users * self.n_cases)
        else:
            self.rows = HashIndex(self.keys)

    def __call__(self, user: np.ndarray, case: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Whether each user held each case (dense case code, -1: none) at ``ts`` (UTC ms)."""
        if not len(self.keys):
            return np.zeros(len(ts), bool)
        key = np.where((user >= 0) & (case >= 0), user.astype(np.int64) * self.n_cases + case, -1)
        rank = self.rows(key)
        held = (rank >= 0) & (self.since[rank] <= ts) & (ts <= self.until[rank])
        multi = np.flatnonzero((rank >= 0) & self.multi[rank])
        if len(multi):
            r, t = rank[multi], ts[multi]
            i = np.searchsorted(self.packed, (r << T_BITS) | np.clip(t, 0, (1 << T_BITS) - 1),
                                side="right") - 1
            j = np.maximum(i, 0)
            held[multi] = (i >= 0) & ((self.packed[j] >> T_BITS) == r) \
                & (self.packed_until[j] >= t)
        return held
