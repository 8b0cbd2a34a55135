"""``ensemble``: the built-in rules combined on one scale, as a monitoring team reads them together.

Each rule's scores mean different things (hours off shift, a closeness, a log-likelihood), so
each is calibrated: a score becomes its *surprise*, ``-log10`` of the share of past user-days
whose highest score of that rule reached it. The past is the warm-up plus every local day of the
stream already over, so a rule that never fired in the warm-up (no notable case yet) is judged
by the days since. A user-day carries, per rule, the highest surprise so far that day; the
ensemble adds them up (or takes the largest). Calibration changes only at local midnight, so
scores do not depend on how the stream is batched.
"""

from __future__ import annotations

from typing import Literal, Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import zone_of
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.index import ForceIndex
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import Groups, RunningMax

DEFAULT_RULES = "relationship+vip+watchlist+media_export+canary+off_shift+explanation"
_SCALE = 1000  # surprise is carried as an integer number of thousandths


class Calibration:
    """Past user-day maxima of one rule, turning its scores into surprise.

    Surprise is ``-log10`` of the share of past user-days that reached a score, among the
    user's role (a rule that fires on every disclosure officer's day means little for one
    more), shrunk towards the force's share by ``prior`` user-days' worth. Past the force's top
    it grows with ``log10`` of the ratio to the top. Scores of 0 or less have no surprise.
    """

    def __init__(self, n_roles: int, prior: float = 50.0) -> None:
        self.all = np.zeros(0, np.float64)
        self.by_role = [np.zeros(0, np.float64) for _ in range(n_roles)]
        self.prior = prior

    @staticmethod
    def _insert(sorted_: np.ndarray, new: np.ndarray) -> np.ndarray:
        new = np.sort(new)
        return np.insert(sorted_, np.searchsorted(sorted_, new), new)

    def add(self, day_max: np.ndarray, role: np.ndarray) -> None:
        self.all = self._insert(self.all, day_max)
        for r in np.unique(role):
            self.by_role[r] = self._insert(self.by_role[r], day_max[role == r])

    def __call__(self, scores: np.ndarray, role: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, np.float64)
        n = len(self.all)
        p_all = (n - np.searchsorted(self.all, s, side="left") + 1.0) / (n + 1.0)
        k_role = np.zeros(len(s))
        n_role = np.zeros(len(s))
        for r in np.unique(role):
            mine = np.flatnonzero(role == r)
            past = self.by_role[r]
            k_role[mine] = len(past) - np.searchsorted(past, s[mine], side="left")
            n_role[mine] = len(past)
        surprise = -np.log10((k_role + self.prior * p_all) / (n_role + self.prior))
        top = self.all[-1] if n else 0.0
        above = np.flatnonzero(s > top)
        if len(above):
            ratio = s[above] / top if top > 0 else 1.0 + s[above]
            surprise[above] += np.log10(np.maximum(ratio, 1.0))
        return np.where(s > 0, surprise, 0.0)


class _DayMaxima:
    """The highest score of each user-day not yet over (keys: day << 32 | user)."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.values = np.zeros(0, np.float64)

    def update(self, groups: Groups, scores: np.ndarray) -> None:
        if not groups.n:
            return
        top = np.maximum.reduceat(scores[groups.order], groups.starts)
        keys = np.concatenate([self.keys, groups.keys])
        values = np.concatenate([self.values, top])
        g = Groups(keys)
        self.keys, self.values = g.keys, np.maximum.reduceat(values[g.order], g.starts)

    def pop_before(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """The maxima of the user-days before ``day`` and their users' indices, removed."""
        cut = int(np.searchsorted(self.keys, day << 32))
        done, users = self.values[:cut], self.keys[:cut] & 0xFFFFFFFF
        self.keys, self.values = self.keys[cut:], self.values[cut:]
        return done, users


class EnsembleDetector(RuleDetector):
    """The built-in rules together: per-rule surprise, carried over the user-day, combined.

    ``rules`` lists rule ids joined by ``+`` (each with its default hyperparameters);
    ``combine`` is ``max`` (a user-day is as suspicious as its most surprising rule: targeted
    rules fire rarely and each on its own kind of misuse) or ``sum`` (evidence adds up, Fisher's
    way, which suits rules that fire together).
    """

    name = "ensemble"

    def __init__(self, *, rules: str = DEFAULT_RULES, combine: Literal["sum", "max"] = "max",
                 timezone: str | None = None) -> None:
        self.rules = rules
        self.combine = combine
        self.timezone = timezone

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        from snoopbench.detectors.registry import create

        if self.combine not in ("sum", "max"):
            raise ValueError(f"combine must be 'sum' or 'max', not {self.combine!r}")
        index = ForceIndex(context, zone_of(self, info))
        frame = index.decode(history)
        self.index_ = index
        self.rules_: list[RuleDetector] = []
        for ident in filter(None, (r.strip() for r in self.rules.replace(",", "+").split("+"))):
            rule = create(ident)
            if not isinstance(rule, RuleDetector):
                raise ValueError(f"ensemble: {ident!r} is not one of the built-in rules")
            self.rules_.append(rule)
        self.calibrations_ = [Calibration(len(index.roles) + 1) for _ in self.rules_]
        self.pending_ = [_DayMaxima() for _ in self.rules_]
        self.running_ = [RunningMax() for _ in self.rules_]
        self.day_ = None
        warm = [rule.fit_frame(index, frame) for rule in self.rules_]
        self._combine(frame, warm)  # calibrates on the warm-up's days

    def score_frame(self, f: Frame) -> np.ndarray:
        return self._combine(f, [rule.score_frame(f) for rule in self.rules_])

    def _combine(self, f: Frame, raw: list[np.ndarray]) -> np.ndarray:
        out = np.zeros(len(f))
        if not len(f) or not self.rules_:
            return out
        index = self.index_
        day = index.local_day(f)
        user = np.where(f.user >= 0, f.user, len(index.user_ids))  # unknown users share a slot
        role = f.role
        cuts = np.flatnonzero(np.diff(day)) + 1
        top = np.zeros(len(f), np.int64)  # per event, the rule carrying most of its score
        top_value = np.full(len(f), -np.inf)
        self.top_ = (f, top)
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(f)]):
            if self.day_ is None or day[lo] > self.day_:
                self.day_ = int(day[lo])
                for calibration, pending in zip(self.calibrations_, self.pending_):
                    done, users = pending.pop_before(self.day_)
                    calibration.add(done, index.role_of(np.where(users < len(index.user_ids),
                                                                 users, -1)))
            groups = Groups((day[lo:hi] << 32) | user[lo:hi])
            for k, scores in enumerate(raw):
                s = scores[lo:hi]
                self.pending_[k].update(groups, s)
                surprise = np.rint(self.calibrations_[k](s, role[lo:hi]) * _SCALE)
                carried = self._adjust(k, self.running_[k].update(groups, surprise) / _SCALE,
                                       groups, user[lo:hi])
                better = carried > top_value[lo:hi]
                top[lo:hi][better] = k
                top_value[lo:hi][better] = carried[better]
                out[lo:hi] = out[lo:hi] + carried if self.combine == "sum" \
                    else np.maximum(out[lo:hi], carried)
                self.running_[k].forget_below(self.day_ << 32)
        return out

    def _adjust(self, k: int, carried: np.ndarray, groups: Groups, user: np.ndarray) -> np.ndarray:
        """Rule ``k``'s carried surprise as the ensemble combines it: as is (``adaptive`` weighs it)."""
        return carried

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        """The explanation of the rule that carries most of the event's score."""
        kept = getattr(self, "top_", None)
        if kept is None or kept[0] is not f:
            return [None] * len(rows)
        out: list[str | None] = []
        for r in rows.tolist():
            rule = self.rules_[int(kept[1][r])]
            text = rule.explain_frame(f, np.array([r], np.int64))[0]
            out.append(None if text is None else f"ensemble ({rule.name}): {text}")
        return out
