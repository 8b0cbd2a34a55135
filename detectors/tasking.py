"""Who held which case when: the ``tasking`` table as a fast (user, case, time) lookup."""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import NEVER, T_BITS, group_cummax, padded
from snoopbench.detectors.lookups import BucketSearch, HashIndex, RankBitmap

#: Above this many (user, case) cells (a 64 MiB bitmap) the pairs go in a hash table instead.
_BITMAP_CELLS = 1 << 28


class Holdings:
    """Intervals during which users held cases, answering "did user u hold case c at t?".

    Most (user, case) pairs have one interval: its start and end are found through a bitmap of
    the (user, case) grid (or a hash table on large forces). So do pairs held over several
    intervals (directly, then through the team) that leave no gap between them. Pairs with a
    gap take a second search, of their starts within the pair, with the latest end among the
    intervals started so far; so does every pair held several times for times outside
    ``[0, 2**42)`` ms, where starts are clipped.
    """

    def __init__(self, user: np.ndarray, case: np.ndarray, since: np.ndarray, until: np.ndarray,
                 n_users: int, n_cases: int) -> None:
        # a (user, case) cell is user * stride + case + 1: with no user or no case, never a key
        self.stride = max(n_cases, 0) + 1
        ok = (user >= 0) & (case >= 0)
        key = user[ok].astype(np.int64) * self.stride + case[ok] + 1
        since = np.clip(since[ok], 0, (1 << T_BITS) - 1)
        until = until[ok]
        self.keys, rank = np.unique(key, return_inverse=True)
        rank = rank.reshape(-1).astype(np.int64)
        n = len(self.keys)
        first = np.full(n, NEVER, np.int64)
        np.minimum.at(first, rank, since)
        last = np.full(n, -1, np.int64)
        np.maximum.at(last, rank, until)
        multi = np.bincount(rank, minlength=n) > 1
        m = multi[rank]
        # the intervals of pairs held several times, by pair then start (both kept apart: a
        # pair << 42 | start key overflows past 2**21 pairs, which a large force has)
        order = np.lexsort((since[m], rank[m]))  # stable, like a sort of the pair and start
        self.pair, self.start = rank[m][order], since[m][order]
        self.until_so_far = group_cummax(self.pair, until[m][order])
        self.intervals = BucketSearch(self.start, self.pair, n)
        pair = self.pair
        gap = (pair[1:] == pair[:-1]) & (self.start[1:] > self.until_so_far[:-1] + 1)
        gapped = np.zeros(n, bool)
        gapped[pair[1:][gap]] = True
        self.multi = padded(multi, False)
        # (since, until) of each pair side by side, one read; -2 marks a pair with a gap
        # (searched); the pair after the last, for rank -1, is never held
        self.bounds = np.empty((n + 1, 2), np.int64)
        self.bounds[:n, 0] = np.where(gapped, NEVER, first)
        self.bounds[:n, 1] = np.where(gapped, -2, last)
        self.bounds[n] = NEVER, -1
        self.bounds = self.bounds.ravel()
        if 0 < n_users * self.stride <= _BITMAP_CELLS:
            self.rows: RankBitmap | HashIndex = RankBitmap(self.keys, n_users * self.stride)
        else:
            self.rows = HashIndex(self.keys)

    def __call__(self, user: np.ndarray, case: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Whether each user held each case (dense case code, -1: none) at ``ts`` (UTC ms)."""
        if not len(self.keys):
            return np.zeros(len(ts), bool)
        at = 2 * self.rows(np.asarray(user, np.int64) * self.stride + case + 1)
        until = self.bounds[at + 1]
        held = (self.bounds[at] <= ts) & (ts <= until)
        if len(ts) and (ts.min() < 0 or ts.max() >= 1 << T_BITS):
            multi = np.flatnonzero(self.multi[at // 2])
        else:
            multi = np.flatnonzero(until == -2)
        if len(multi):
            r, t = at[multi] // 2, ts[multi]
            i = self.intervals.right(np.clip(t, 0, (1 << T_BITS) - 1), r) - 1
            j = np.maximum(i, 0)
            held[multi] = (i >= 0) & (self.pair[j] == r) & (self.until_so_far[j] >= t)
        return held
