"""``volume``: a user's daily volume per system and entity type against their own and their
role's warm-up, the classic threshold alert of user-behaviour analytics (UEBA)."""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import ENTITY_TYPES, SYSTEMS
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import stable_order

_N_CELLS = len(SYSTEMS) * len(ENTITY_TYPES)


def volume_cell(f: Frame) -> np.ndarray:
    """(system, entity type) of each event as one code in [0, 48)."""
    return np.clip(f.system, 0, len(SYSTEMS) - 1) * len(ENTITY_TYPES) \
        + np.clip(f.etype, 0, len(ENTITY_TYPES) - 1)


class DayCounter:
    """Running counts per small integer key within the current local day.

    Events come in time order, so days only move forward: the counts of a day are dropped when
    the next one starts. Counting uses one sort of the small keys packed with their positions,
    no hashing.
    """

    def __init__(self, n_keys: int) -> None:
        self.n_keys = n_keys
        self.day = None
        self.counts = np.zeros(n_keys, np.int64)

    def update(self, day: np.ndarray, keys: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), np.int64)
        cuts = np.flatnonzero(np.diff(day)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(keys)]):
            if lo == hi:
                continue
            if day[lo] != self.day:
                self.day, self.counts = day[lo], np.zeros(self.n_keys, np.int64)
            k = keys[lo:hi]
            order = stable_order(k)
            sk = k[order]
            new = np.r_[True, sk[1:] != sk[:-1]]
            start = np.maximum.accumulate(np.where(new, np.arange(len(sk)), 0))
            running = np.arange(len(sk)) - start + 1 + self.counts[sk]
            out[lo + order] = running
            last = np.r_[new[1:], True]
            self.counts[sk[last]] = running[last]
        return out


class VolumeDetector(RuleDetector):
    """How far a user's count so far today, in each (system, entity type), is above normal.

    Normal is the mean and spread of the user's warm-up days, shrunk towards their role's by
    ``prior`` days' worth (so a new or quiet user is judged by their peers); the spread has a
    Poisson floor. With ``log``, counts are compared on a log scale (heavy-tailed workloads). An event scores the z-score of its cell's running count, if at least ``z``
    and the count at least ``min_events`` (0 otherwise): a burst of look-ups in a system the
    user rarely touches stands out, a misuser who keeps to their normal volume does not.
    """

    name = "volume"

    def __init__(self, *, z: float = 3.0, min_events: int = 1, prior: float = 3.0,
                 log: bool = False, timezone: str | None = None) -> None:
        self.z = z
        self.min_events = min_events
        self.prior = prior
        self.log = log
        self.timezone = timezone

    def learn(self, history: Frame) -> None:
        index = self.index_
        n_users, n_roles = len(index.user_ids), len(index.roles) + 1
        known = history.user >= 0
        day = index.local_day(history)[known]
        user = history.user[known]
        cell = volume_cell(history)[known]
        first_day = int(day.min()) if len(day) else 0
        span = int(day.max()) - first_day + 1 if len(day) else 1
        ud = (user * span + (day - first_day)).astype(np.int64)
        active = np.bincount(np.unique(ud) // span, minlength=n_users).astype(np.float64)
        keys, counts = np.unique(ud * _N_CELLS + cell, return_counts=True)
        counts = np.log1p(counts) if self.log else counts.astype(np.float64)
        uc = (keys // (span * _N_CELLS)) * _N_CELLS + keys % _N_CELLS  # (user, cell) of each
        s1 = np.bincount(uc, weights=counts, minlength=n_users * _N_CELLS).reshape(n_users, -1)
        s2 = np.bincount(uc, weights=counts.astype(np.float64) ** 2,
                         minlength=n_users * _N_CELLS).reshape(n_users, -1)
        days = np.maximum(active, 1.0)[:, None]
        mu_u = s1 / days
        var_u = np.maximum(s2 / days - mu_u ** 2, 0.0)
        role = index.role_of(np.arange(n_users))
        r_days = np.bincount(role, weights=active, minlength=n_roles)[:, None]
        r_s1 = np.zeros((n_roles, _N_CELLS))
        r_s2 = np.zeros((n_roles, _N_CELLS))
        np.add.at(r_s1, role, s1)
        np.add.at(r_s2, role, s2)
        mu_r = r_s1 / np.maximum(r_days, 1.0)
        var_r = np.maximum(r_s2 / np.maximum(r_days, 1.0) - mu_r ** 2, 0.0)
        k = self.prior
        a = active[:, None]
        mu = (a * mu_u + k * mu_r[role]) / (a + k)
        var = (a * var_u + k * (var_r[role] + (mu_r[role] - mu) ** 2)) / (a + k)
        self.mean_ = np.vstack([mu, mu_r[-1:]])
        floor = 0.25 if self.log else self.mean_ + 1.0  # Poisson noise on counts
        self.sd_ = np.sqrt(np.vstack([var, var_r[-1:]]) + floor)
        self.counter_ = DayCounter((n_users + 1) * _N_CELLS)

    def score_frame(self, f: Frame) -> np.ndarray:
        n_users = len(self.mean_) - 1
        user = np.where(f.user >= 0, f.user, n_users)
        cell = volume_cell(f)
        count = self.counter_.update(self.index_.local_day(f), user * _N_CELLS + cell)
        value = np.log1p(count) if self.log else count
        z = (value - self.mean_[user, cell]) / self.sd_[user, cell]
        self.counted_ = (f, count, self.mean_[user, cell])
        return np.where((z >= self.z) & (count >= self.min_events), z, 0.0)

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        """The day's count in the event's system and entity type against the user's usual: a
        volume rule knows how much, not whom."""
        counted = getattr(self, "counted_", None)
        if counted is None or counted[0] is not f:
            return [None] * len(rows)
        _, count, mean = counted
        system, etype = f.system_at(rows), f.etype[rows]
        return [f"volume: {int(c)} {SYSTEMS[s] if s >= 0 else '?'} "
                f"{ENTITY_TYPES[e] if e >= 0 else '?'} events so far today, against a usual "
                f"{'log ' if self.log else ''}{m:.1f}"
                for c, m, s, e in zip(count[rows], mean[rows], system, etype)]
