"""The roster: how far an access is from its user's nearest rostered shift."""

from __future__ import annotations

import numpy as np

from detectors.columns import DAY_MS, T_BITS

_WEEK = 7 * DAY_MS


class Roster:
    """Rostered shifts as sorted ``(user << 42 | start)`` keys, with each shift's start and end."""

    def __init__(self, user: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        ok = user >= 0
        start = np.clip(start[ok], 0, (1 << T_BITS) - 1)
        key = (user[ok].astype(np.int64) << T_BITS) | start
        order = np.argsort(key, kind="stable")
        self.keys, self.start, self.end = key[order], start[order], end[ok][order]

    def off_shift_ms(self, user: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Milliseconds from each access (user index, UTC ms) to the user's nearest shift: 0 on
        shift, at most a week, which is also what a user with no shift at all gets."""
        keys = self.keys
        if not len(keys):
            return np.full(len(ts), _WEEK, np.int64)
        u = np.maximum(user, 0).astype(np.int64)
        i = np.searchsorted(keys, (u << T_BITS) | np.clip(ts, 0, (1 << T_BITS) - 1),
                            side="right") - 1  # the last shift starting at or before
        prev, nxt = np.maximum(i, 0), np.minimum(i + 1, len(keys) - 1)
        has_prev = (i >= 0) & ((keys[prev] >> T_BITS) == u)
        has_next = (i + 1 < len(keys)) & ((keys[nxt] >> T_BITS) == u)
        after = np.where(has_prev, ts - self.end[prev], _WEEK)
        before = np.where(has_next, self.start[nxt] - ts, _WEEK)
        gap = np.minimum(np.maximum(after, 0), np.maximum(before, 0))
        return np.where(user >= 0, np.minimum(gap, _WEEK), _WEEK)
