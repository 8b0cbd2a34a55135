"""The scoring rules on a stream of event scores, in memory that does not grow with the stream.

:mod:`benchmarks.metrics` states the rules and applies them to whole arrays: the reference.
:class:`ScoreFold` gives the very same numbers from scores that arrive chunk by chunk in event
order, holding only:

- the user-days of the days still open (a day closes once its last event has gone by; events
  come in time order, so that is about one day's user-days);
- each closed day's best user-days, as many as the largest budget alerts in a day: the alerts;
- the lowest finite score (the floor: applied at the end, it can only remove alerts);
- the labelled events' scores (few), and per distinct one how many unlabelled events score at
  least as high, which is all event-level average precision needs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Iterable

import numpy as np

from snoopbench.benchmarks.metrics import (
    Metrics, Period, alerts_per_day, ap_sum, clean, evaluate_alerts, key_days, select_alerts,
    user_day_keys,
)


def group_max(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and the largest of the values under each."""
    keys = np.asarray(keys, np.int64)
    if not len(keys):
        return keys, np.empty(0)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.maximum.reduceat(np.asarray(values)[order], starts)


class ScoreFold:
    """Folds a detector's event scores, chunk by chunk, into the metrics of the rules.

    ``truth``: the period's labelled events only (see :meth:`Period.only_labelled`), with the
    period's kinds, staff and days; ``positions``: their positions in the stream (rising);
    ``positive_scores``: their scores, read ahead (average precision counts the unlabelled
    events against them as they go by); ``day_stops``: each local day of the period and the
    position just after its last event; ``max_per_day``: the largest daily alert cap that
    :meth:`metrics` or :meth:`sweep` will be asked for.
    """

    def __init__(self, truth: Period, positions: np.ndarray, positive_scores: np.ndarray,
                 day_stops: tuple[np.ndarray, np.ndarray], max_per_day: int) -> None:
        self.truth = truth
        self._positions = np.asarray(positions, np.int64)
        positives = clean(positive_scores)
        if len(positives) != len(self._positions) or len(positives) != truth.n_events:
            raise ValueError("one position and one score per labelled event")
        self._levels, self._at_level = np.unique(positives, return_counts=True)
        self._unlabelled_above = np.zeros(len(self._levels) + 1, np.int64)
        days, stops = (np.asarray(a) for a in day_stops)
        order = np.argsort(stops, kind="stable")
        self._close_days, self._close_at = days[order], stops[order]
        self._n_closed = 0
        self._max_per_day = max_per_day
        self._seen = 0
        self._floor = math.inf
        self._open_keys, self._open_best = np.empty(0, np.int64), np.empty(0)
        self._alert_keys: list[np.ndarray] = []
        self._alert_best: list[np.ndarray] = []

    def add(self, user: np.ndarray, day: np.ndarray, scores: np.ndarray) -> None:
        """Fold in the next events: their users, local days and scores."""
        s = clean(scores)
        if len(user) != len(s) or len(day) != len(s):
            raise ValueError("user, day and scores must have one entry per event")
        start, self._seen = self._seen, self._seen + len(s)
        finite = s[np.isfinite(s)]
        if finite.size:
            self._floor = min(self._floor, float(finite.min()))
        self._count_unlabelled(start, s)
        keys, best = group_max(user_day_keys(user, day), s)
        if len(self._open_keys):
            keys, best = group_max(np.r_[self._open_keys, keys], np.r_[self._open_best, best])
        self._open_keys, self._open_best = keys, best
        done = int(np.searchsorted(self._close_at, self._seen, side="right"))
        self._close(self._close_days[self._n_closed:done])
        self._n_closed = done

    def _count_unlabelled(self, start: int, s: np.ndarray) -> None:
        if not len(self._levels):
            return
        lo, hi = np.searchsorted(self._positions, [start, start + len(s)])
        unlabelled = np.delete(s, self._positions[lo:hi] - start)
        # an unlabelled score v counts against every level <= v: bin j holds those above j levels
        above = np.searchsorted(self._levels, unlabelled, side="right")
        self._unlabelled_above += np.bincount(above, minlength=len(self._levels) + 1)

    def _close(self, days: np.ndarray) -> None:
        """Keep the best user-days of ``days`` (complete now) and forget the others."""
        if not len(days) or not len(self._open_keys):
            return
        closing = np.isin(key_days(self._open_keys), days)
        keys, best = self._open_keys[closing], self._open_best[closing]
        top = select_alerts(keys, best, self._max_per_day)
        self._alert_keys.append(keys[top])
        self._alert_best.append(best[top])
        self._open_keys, self._open_best = self._open_keys[~closing], self._open_best[~closing]

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        self._close(np.unique(key_days(self._open_keys)))  # the stream has ended
        keys = np.concatenate([np.empty(0, np.int64), *self._alert_keys])
        best = np.concatenate([np.empty(0), *self._alert_best])
        order = np.argsort(keys, kind="stable")  # ties beyond the hash go by key, as in metrics
        self._alert_keys, self._alert_best = [keys[order]], [best[order]]
        return keys[order], best[order]

    def _alerts(self, per_day: int) -> np.ndarray:
        if per_day > self._max_per_day:
            raise ValueError(f"the fold keeps {self._max_per_day} alerts a day, not {per_day}")
        keys, best = self._candidates()
        return keys[select_alerts(keys, best, per_day, floor=self._floor)]

    def ranked_alerts(self, per_day: int) -> tuple[np.ndarray, np.ndarray]:
        """The alerted user-days at ``per_day`` alerts a day (keys, sorted) and their scores: what
        a force's reviewers would see, each day's best first by score."""
        if per_day > self._max_per_day:
            raise ValueError(f"the fold keeps {self._max_per_day} alerts a day, not {per_day}")
        keys, best = self._candidates()
        chosen = select_alerts(keys, best, per_day, floor=self._floor)
        return keys[chosen], best[chosen]

    def average_precision(self) -> float | None:
        """Event-level average precision, as :func:`benchmarks.metrics.average_precision`."""
        if not len(self._levels):
            return None
        labelled_ge = np.cumsum(self._at_level[::-1])  # per level, highest first
        unlabelled_ge = np.cumsum(self._unlabelled_above[::-1])[:-1]
        precision = labelled_ge / (labelled_ge + unlabelled_ge)
        recall = labelled_ge / labelled_ge[-1]
        return ap_sum(np.diff(np.r_[0.0, recall]), precision)

    def metrics(self, budget: float) -> Metrics:
        """What :func:`benchmarks.metrics.evaluate_scores` gives on the whole stream."""
        per_day = alerts_per_day(budget, self.truth.n_staff)
        return replace(evaluate_alerts(self.truth, self._alerts(per_day)),
                       average_precision=self.average_precision(), alerts_per_day=per_day)

    def sweep(self, budgets: Iterable[float]) -> dict[float, Metrics]:
        """What :func:`benchmarks.metrics.sweep_budgets` gives on the whole stream."""
        out: dict[float, Metrics] = {}
        for budget in budgets:
            per_day = alerts_per_day(budget, self.truth.n_staff)
            out[float(budget)] = replace(evaluate_alerts(self.truth, self._alerts(per_day)),
                                         alerts_per_day=per_day)
        return out
