"""The scoring rules of the public contract, as pure functions on numpy arrays.

The unit of an alert is a **user-day**: one user on one local day of the force (the calendar day
in the dataset's time zone, Europe/London unless the scenario says otherwise). The rules, with
the choices the contract leaves open:

- A user-day's score is the highest score of that user's events that day. NaN counts as -inf.
- A detector's **floor** is its lowest finite event score in the scoring period. Only user-days
  scoring strictly above the floor can become alerts: a score at the floor says "nothing here".
  So ``null`` (all zeros), or any constant detector, raises no alert at all, and a detector whose
  scores are all negative still works. Events scored -inf (left out by an ``exec:`` program) are
  never alerted.
- The budget ``K`` is alerts per day per 1,000 staff. Each local day gets
  ``ceil(K * staff / 1000)`` alerts at most (ceil, so a small force still gets one alert a day
  when K > 0, and a detector never gets less than its budget): the top-scoring eligible
  user-days of that day. Ties are broken by a fixed hash of (user, day), so results are
  reproducible and no user id is systematically favoured.
- An episode is **caught** when an alerted user-day holds one of its labelled events (the
  user-day of the event's ``user_id``). Recall counts only episodes with at least one labelled
  event in the scoring period.
- Precision is the share of alerts whose user-day holds at least one labelled event (of any
  episode); it is ``None`` when there are no alerts. False alerts per day divide the other
  alerts by the number of local days in the scoring period.
- Time to detect is counted in whole local days, from the day of the episode's first labelled
  event in the scoring period to the day of the first alert that catches it (0: same day).
- Event-level average precision ranks every scored event by score (ties form one threshold,
  as in scikit-learn); it is ``None`` when the period holds no labelled event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Iterable

import numpy as np

from snoopbench.benchmarks.intervals import Z95, wilson
from snoopbench.contract.info import user_day_keys  # the one definition of a user-day key
from snoopbench.detectors.base import hash64

_TIE_KEY = 0x5EED_B3AC  # fixed: tie-breaking must not change between runs
_NO_DAY = np.iinfo(np.int32).max


def key_days(keys: np.ndarray) -> np.ndarray:
    """The local day number (days since 1970-01-01) of user-day keys."""
    return (np.asarray(keys, np.int64) >> 32).astype(np.int32)


def alerts_per_day(budget: float, n_staff: int) -> int:
    """The daily alert cap for a budget of ``budget`` alerts per day per 1,000 staff (ceil)."""
    if not math.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    return math.ceil(round(budget * n_staff / 1000.0, 9))


@dataclass(frozen=True)
class Period:
    """The scoring period's events as the rules see them, before any detector.

    ``episode`` holds, per event, the index of its episode in ``kinds`` or -1 if unlabelled.
    """

    user: np.ndarray
    day: np.ndarray
    episode: np.ndarray
    kinds: np.ndarray
    n_staff: int
    n_days: int

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.day) != n or len(self.episode) != n:
            raise ValueError("user, day and episode must have one entry per event")

    @property
    def n_events(self) -> int:
        return len(self.user)

    @cached_property
    def _groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keys = user_day_keys(self.user, self.day)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        new = np.ones(len(keys), dtype=bool)
        new[1:] = sorted_keys[1:] != sorted_keys[:-1]
        starts = np.flatnonzero(new)
        inverse = np.empty(len(keys), dtype=np.int64)
        inverse[order] = np.cumsum(new) - 1
        return sorted_keys[starts], inverse, order, starts

    @property
    def keys(self) -> np.ndarray:
        """The distinct user-days of the period (sorted keys)."""
        return self._groups[0]

    @property
    def event_user_day(self) -> np.ndarray:
        """Per event, the index of its user-day in :attr:`keys`."""
        return self._groups[1]

    def only_labelled(self) -> Period:
        """The period less its unlabelled events: all that :func:`evaluate_alerts` reads."""
        keep = self.episode >= 0
        return replace(self, user=self.user[keep], day=self.day[keep], episode=self.episode[keep])

    @cached_property
    def labelled_keys(self) -> np.ndarray:
        """The distinct user-days holding at least one labelled event."""
        return np.unique(self.keys[self.event_user_day[self.episode >= 0]])


@dataclass(frozen=True)
class Metrics:
    """What the contract reports for one detector (or one alerts file) on one dataset."""

    recall: float | None
    recall_by_kind: dict[str, float]
    precision: float | None
    false_alerts_per_day: float
    ttd_median_days: float | None
    ttd_p90_days: float | None
    average_precision: float | None = None
    n_alerts: int = 0
    n_true_alerts: int = 0
    n_episodes: int = 0
    n_caught: int = 0
    alerts_per_day: int | None = None
    alert_budget: float = 0.0
    caught_by_kind: dict[str, int] = field(default_factory=dict)
    episodes_by_kind: dict[str, int] = field(default_factory=dict)
    ttd_days: tuple[float, ...] = ()  # per caught episode, in episode order


def clean(scores: np.ndarray) -> np.ndarray:
    """Scores as float64 with NaN turned into -inf (never alerted, ranked last)."""
    s = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(s), -np.inf, s)


def floor_of(scores: np.ndarray) -> float:
    """The lowest finite score (+inf if none): user-days must score above it to alert."""
    finite = scores[np.isfinite(scores)]
    return float(finite.min()) if finite.size else math.inf


def user_day_max(period: Period, scores: np.ndarray) -> np.ndarray:
    """Each user-day's score: the max of its events' scores (aligned with ``period.keys``)."""
    s = clean(scores)
    if len(s) != period.n_events:
        raise ValueError(f"{len(s)} scores for {period.n_events} events")
    if not len(s):
        return np.empty(0)
    _, _, order, starts = period._groups
    return np.maximum.reduceat(s[order], starts)


def select_alerts(
    keys: np.ndarray, scores: np.ndarray, per_day: int, floor: float | None = None
) -> np.ndarray:
    """Mask of the user-days that become alerts: each day, the ``per_day`` highest scores.

    With a ``floor``, only scores strictly above it are eligible. Ties go by a fixed hash.
    """
    keys = np.asarray(keys, np.int64)
    scores = clean(scores)
    if not len(keys) or per_day <= 0:
        return np.zeros(len(keys), dtype=bool)
    take = daily_rank(keys, scores) < per_day
    if floor is not None:
        take &= scores > floor
    return take


def daily_rank(keys: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each user-day's place in its day's queue (0: the day's highest score), ties by a fixed
    hash: the order in which :func:`select_alerts` takes them."""
    keys = np.asarray(keys, np.int64)
    scores = clean(scores)
    day = key_days(keys)
    order = np.lexsort((hash64(keys, _TIE_KEY), -scores, day))
    sorted_day = day[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_day[1:] != sorted_day[:-1]
    group_start = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - group_start
    return rank


def evaluate_alerts(period: Period, alert_keys: np.ndarray) -> Metrics:
    """Recall, precision, false alerts and time to detect of a set of alerted user-days.

    ``alert_keys`` may hold user-days without any event in the period: they are false alerts.
    """
    alert_keys = np.unique(np.asarray(alert_keys, np.int64))
    labelled = period.episode >= 0
    ev_keys = period.keys[period.event_user_day[labelled]]
    ev_episode = period.episode[labelled]
    ev_day = np.asarray(period.day, np.int32)[labelled]
    hit = np.isin(ev_keys, alert_keys)

    n_ep = len(period.kinds)
    first_day = np.full(n_ep, _NO_DAY, dtype=np.int32)
    np.minimum.at(first_day, ev_episode, ev_day)
    catch_day = np.full(n_ep, _NO_DAY, dtype=np.int32)
    np.minimum.at(catch_day, ev_episode[hit], ev_day[hit])
    present = first_day != _NO_DAY
    caught = present & (catch_day != _NO_DAY)

    kinds = np.asarray(period.kinds, dtype=object)
    recall_by_kind: dict[str, float] = {}
    caught_by_kind: dict[str, int] = {}
    episodes_by_kind: dict[str, int] = {}
    for kind in sorted(set(kinds[present])):
        of_kind = present & (kinds == kind)
        caught_by_kind[kind] = int(caught[of_kind].sum())
        episodes_by_kind[kind] = int(of_kind.sum())
        recall_by_kind[kind] = caught_by_kind[kind] / episodes_by_kind[kind]

    n_alerts = len(alert_keys)
    n_true = int(np.isin(alert_keys, period.labelled_keys).sum())
    ttd = (catch_day - first_day)[caught].astype(np.float64)
    n_present = int(present.sum())
    return Metrics(
        recall=int(caught.sum()) / n_present if n_present else None,
        recall_by_kind=recall_by_kind,
        precision=n_true / n_alerts if n_alerts else None,
        false_alerts_per_day=(n_alerts - n_true) / max(period.n_days, 1),
        ttd_median_days=float(np.median(ttd)) if ttd.size else None,
        ttd_p90_days=float(np.percentile(ttd, 90)) if ttd.size else None,
        n_alerts=n_alerts,
        n_true_alerts=n_true,
        n_episodes=n_present,
        n_caught=int(caught.sum()),
        alert_budget=implied_budget(n_alerts, period.n_days, period.n_staff),
        caught_by_kind=caught_by_kind,
        episodes_by_kind=episodes_by_kind,
        ttd_days=tuple(ttd.tolist()),
    )


def implied_budget(n_alerts: int, n_days: int, n_staff: int) -> float:
    """The budget (alerts per day per 1,000 staff) that ``n_alerts`` over ``n_days`` amount to."""
    if n_days <= 0 or n_staff <= 0:
        return 0.0
    return n_alerts / n_days / n_staff * 1000.0


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Event-level average precision; tied scores form one threshold. None without positives."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return None
    s = clean(scores)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    ends = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s) - 1]
    tp = np.cumsum(y_sorted)[ends]
    precision = tp / (ends + 1)
    recall = tp / tp[-1]
    return ap_sum(np.diff(np.r_[0.0, recall]), precision)


def ap_sum(recall_steps: np.ndarray, precision: np.ndarray) -> float:
    """Sum of recall steps times precision, exactly rounded.

    ``math.fsum`` makes the sum independent of how many zero steps (thresholds without a
    positive) lie between the others, so a streaming count that never sees those thresholds
    (:mod:`benchmarks.streaming`) gives the very same float.
    """
    return math.fsum((recall_steps * precision).tolist())


def evaluate_scores(period: Period, scores: np.ndarray, budget: float) -> Metrics:
    """Every metric of a detector's event scores at budget ``budget`` (the harness's rule)."""
    s = clean(scores)
    ud = user_day_max(period, s)
    per_day = alerts_per_day(budget, period.n_staff)
    alerted = select_alerts(period.keys, ud, per_day, floor=floor_of(s))
    metrics = evaluate_alerts(period, period.keys[alerted])
    return replace(
        metrics,
        average_precision=average_precision(s, period.episode >= 0),
        alerts_per_day=per_day,
    )


def sweep_budgets(
    period: Period, scores: np.ndarray, budgets: Iterable[float]
) -> dict[float, Metrics]:
    """The alert metrics of the same scores at several budgets, without scoring again.

    Each is what :func:`evaluate_scores` gives at that budget, less the event-level average
    precision, which does not depend on the budget (None here). A larger budget alerts a
    superset of user-days, so recall never falls as the budget grows.
    """
    s = clean(scores)
    ud = user_day_max(period, s)
    floor = floor_of(s)
    out: dict[float, Metrics] = {}
    for budget in budgets:
        per_day = alerts_per_day(budget, period.n_staff)
        alerted = select_alerts(period.keys, ud, per_day, floor=floor)
        out[float(budget)] = replace(evaluate_alerts(period, period.keys[alerted]),
                                     alerts_per_day=per_day)
    return out


# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
)


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its 95% t-interval (``low``/``high`` None with fewer than 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int


def t_quantile_975(df: int) -> float:
    """Student's t 97.5% quantile: a table to 30 degrees of freedom, Cornish-Fisher beyond."""
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z95
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_interval(values: Iterable[float | None]) -> Interval | None:
    """Mean and 95% interval of a metric over seeds, ignoring None (failed or undefined) runs."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not v.size:
        return None
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, None, None, 1)
    half = t_quantile_975(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, int(v.size))


def mean_share_interval(values: Iterable[float | None], trials: int | None = None
                        ) -> Interval | None:
    """Mean over seeds of a share (a proportion in [0, 1]) and its 95% interval, within [0, 1].

    A Wilson score interval around the mean of the per-seed shares, with an effective sample
    size matched to the spread between seeds (a design-effect adjustment, as for clustered
    samples: Korn & Graubard 1998): ``n_eff = mean * (1 - mean) / (s**2 / n)``, at most
    ``trials`` (the pooled count of what the shares are shares of, e.g. episodes: the
    interval is never narrower than pure binomial sampling allows). The quantile is Student's
    t with n - 1 degrees of freedom, as for :func:`mean_interval`, since the spread is
    estimated from few seeds; where the seeds agree more closely than binomial sampling of
    ``trials`` would let them, it is the plain Wilson interval of the pooled count (normal
    quantile). Unlike a t-interval, the bounds stay in [0, 1] and always hold
    the mean. ``trials`` unknown and every seed equal: the interval is the mean itself.
    (:func:`benchmarks.intervals.share_interval` is the pooled form, for counted numerators.)
    """
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not v.size:
        return None
    if ((v < 0) | (v > 1)).any():
        raise ValueError("shares must lie in [0, 1]")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, None, None, 1)
    var_of_mean = float(v.var(ddof=1)) / v.size if np.ptp(v) > 0 else 0.0  # no rounding noise
    n_eff = math.inf if var_of_mean == 0 else mean * (1 - mean) / var_of_mean
    z = t_quantile_975(v.size - 1)
    if trials is not None and trials > 0 and n_eff >= trials:
        n_eff, z = float(trials), Z95  # seeds agree within binomial noise: the pooled count
    if not math.isfinite(n_eff) or n_eff <= 0:
        return Interval(mean, mean, mean, int(v.size))
    low, high = wilson(mean * n_eff, n_eff, z)
    return Interval(mean, min(low, mean), max(high, mean), int(v.size))

