"""The roster: how far an access is from its user's nearest rostered shift."""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import DAY_MS, T_BITS
from snoopbench.detectors.lookups import BucketSearch

_WEEK = 7 * DAY_MS
_MAX_BUCKETS = 1 << 22


class Roster:
    """Rostered shifts sorted by user then start, with each shift's start and end, searched
    through (user, period) buckets: a period is a day on most forces."""

    def __init__(self, user: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        ok = user >= 0
        start = np.clip(start[ok], 0, (1 << T_BITS) - 1)
        user = user[ok].astype(np.int64)
        order = np.lexsort((start, user))  # stable, like a sort of user << 42 | start
        self.user, self.start, self.end = user[order], start[order], end[ok][order]
        users = self.user
        self.n_users = int(users.max()) + 1 if len(users) else 0
        first = int(self.start.min()) // DAY_MS if len(users) else 0
        days = int(self.start.max()) // DAY_MS - first + 1 if len(users) else 1
        self.period_ms = DAY_MS * max(1, -(-self.n_users * days // _MAX_BUCKETS))
        self.first_period = first * DAY_MS // self.period_ms
        self.n_periods = int(self.start.max()) // self.period_ms - self.first_period + 1 \
            if len(users) else 1
        self.search = BucketSearch(self.start, self._bucket(users, self.start),
                                   self.n_users * self.n_periods)

    def _bucket(self, user: np.ndarray, t: np.ndarray) -> np.ndarray:
        period = np.clip(t // self.period_ms - self.first_period, 0, self.n_periods - 1)
        return np.minimum(user, self.n_users) * self.n_periods + period

    def off_shift_ms(self, user: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Milliseconds from each access (user index, UTC ms) to the user's nearest shift: 0 on
        shift, at most a week, which is also what a user with no shift at all gets."""
        users = self.user
        if not len(users):
            return np.full(len(ts), _WEEK, np.int64)
        u = np.maximum(user, 0).astype(np.int64)
        t = np.clip(ts, 0, (1 << T_BITS) - 1)
        i = self.search.right(t, self._bucket(u, t)) - 1  # the last shift starting at or before
        prev, nxt = np.maximum(i, 0), np.minimum(i + 1, len(users) - 1)
        has_prev = (i >= 0) & (users[prev] == u)
        has_next = (i + 1 < len(users)) & (users[nxt] == u)
        after = np.where(has_prev, ts - self.end[prev], _WEEK)
        before = np.where(has_next, self.start[nxt] - ts, _WEEK)
        gap = np.minimum(np.maximum(after, 0), np.maximum(before, 0))
        return np.where(user >= 0, np.minimum(gap, _WEEK), _WEEK)
