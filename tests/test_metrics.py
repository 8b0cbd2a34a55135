"""The scoring rules (benchmarks.metrics): properties with hypothesis, and a few fixed cases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snoopbench.benchmarks.dataset import local_days, local_midnight_ms
from snoopbench.benchmarks.intervals import wilson
from snoopbench.benchmarks.metrics import (
    Period, alerts_per_day, average_precision, evaluate_alerts, evaluate_scores, key_days,
    Interval, mean_interval, mean_share_interval, select_alerts, user_day_keys, user_day_max,
)

from strategies import grid_scores, periods


@given(periods())
def test_perfect_alerts_give_recall_and_precision_one(period: Period) -> None:
    m = evaluate_alerts(period, period.labelled_keys)
    if (period.episode >= 0).any():
        assert m.recall == 1.0 and m.precision == 1.0
        assert m.false_alerts_per_day == 0.0
        assert all(v == 1.0 for v in m.recall_by_kind.values())
        assert m.ttd_median_days == 0.0
    else:
        assert m.recall is None and m.n_alerts == 0


@given(periods())
def test_no_alerts_give_recall_zero(period: Period) -> None:
    m = evaluate_alerts(period, np.empty(0, np.int64))
    assert m.n_alerts == 0 and m.precision is None and m.false_alerts_per_day == 0
    assert m.recall == (0.0 if (period.episode >= 0).any() else None)
    assert m.ttd_median_days is None


@given(periods(), st.data())
def test_recall_never_falls_as_budget_rises(period: Period, data) -> None:
    scores = grid_scores(data.draw, period.n_events)
    budgets = sorted(data.draw(st.lists(st.floats(0, 500), min_size=2, max_size=4)))
    results = [evaluate_scores(period, scores, b) for b in budgets]
    for lo, hi in zip(results, results[1:]):
        assert lo.n_caught <= hi.n_caught and lo.n_alerts <= hi.n_alerts


@given(periods(), st.data())
def test_alerts_respect_the_daily_cap_and_the_floor(period: Period, data) -> None:
    scores = grid_scores(data.draw, period.n_events)
    budget = data.draw(st.floats(0, 2000))
    per_day = alerts_per_day(budget, period.n_staff)
    ud = user_day_max(period, scores)
    mask = select_alerts(period.keys, ud, per_day, floor=scores.min())
    days = key_days(period.keys[mask])
    if days.size:
        assert np.bincount(days - days.min()).max() <= per_day
    assert (ud[mask] > scores.min()).all()
    # every user-day that beats an alerted one on its day is alerted too
    for day in np.unique(days):
        on_day = key_days(period.keys) == day
        assert ud[on_day & ~mask].max(initial=-np.inf) <= ud[on_day & mask].min()


@given(periods(), st.data())
def test_metrics_are_bounded_and_consistent(period: Period, data) -> None:
    scores = grid_scores(data.draw, period.n_events)
    m = evaluate_scores(period, scores, data.draw(st.floats(0, 1000)))
    for value in (m.recall, m.precision, m.average_precision, *m.recall_by_kind.values()):
        assert value is None or 0.0 <= value <= 1.0
    assert m.n_true_alerts <= m.n_alerts and m.n_caught <= m.n_episodes
    if m.ttd_median_days is not None:
        assert 0 <= m.ttd_median_days <= m.ttd_p90_days


@given(periods(), st.data())
def test_only_the_ranking_matters(period: Period, data) -> None:
    scores = grid_scores(data.draw, period.n_events)
    budget = data.draw(st.floats(0, 1000))
    a = evaluate_scores(period, scores, budget)
    b = evaluate_scores(period, np.exp(scores) * 3.0 + 1.0, budget)
    assert a == b


@given(periods())
def test_constant_scores_raise_no_alert(period: Period) -> None:
    for value in (0.0, -3.0, 7.5):
        m = evaluate_scores(period, np.full(period.n_events, value), 1000.0)
        assert m.n_alerts == 0 and (m.recall in (0.0, None))


@given(periods(), st.data())
def test_input_order_does_not_matter(period: Period, data) -> None:
    scores = np.round(grid_scores(data.draw, period.n_events), 1)  # many ties
    perm = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(period.n_events)
    shuffled = Period(period.user[perm], period.day[perm], period.episode[perm], period.kinds,
                      period.n_staff, period.n_days)
    assert evaluate_scores(period, scores, 300.0) == evaluate_scores(shuffled, scores[perm], 300.0)


@given(periods(), st.data())
def test_matches_a_plain_reading_of_the_rules(period: Period, data) -> None:
    """A slow, loop-by-loop reading of the contract agrees with the vectorised one (no ties)."""
    scores = data.draw(st.permutations(list(range(period.n_events)))).copy()
    scores = np.array(scores, dtype=float)
    per_day = data.draw(st.integers(0, 4))
    best: dict[tuple[int, int], float] = {}
    for u, d, s in zip(period.user, period.day, scores):
        best[(u, d)] = max(best.get((u, d), -np.inf), s)
    floor = scores.min()
    alerted = set()
    for day in {d for _, d in best}:
        ranked = sorted(((s, k) for k, s in best.items() if k[1] == day), reverse=True)
        alerted |= {k for s, k in ranked[:per_day] if s > floor}
    caught = {e for u, d, e in zip(period.user, period.day, period.episode)
              if e >= 0 and (u, d) in alerted}
    present = {e for e in period.episode if e >= 0}
    mask = select_alerts(period.keys, user_day_max(period, scores), per_day, floor)
    fast = evaluate_alerts(period, period.keys[mask])
    assert fast.n_alerts == len(alerted)
    assert fast.n_caught == len(caught)
    assert fast.recall == (len(caught) / len(present) if present else None)


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.booleans()), min_size=1, max_size=80))
def test_average_precision_in_unit_interval_and_matches_definition(pairs) -> None:
    scores = np.array([p[0] for p in pairs])
    labels = np.array([p[1] for p in pairs])
    ap = average_precision(scores, labels)
    if not labels.any():
        assert ap is None
        return
    assert 0.0 <= ap <= 1.0 + 1e-12
    # reference: mean over positives of the precision at their own score threshold
    ref = np.mean([labels[scores >= s].mean() for s in scores[labels]])
    assert ap == pytest.approx(ref)


def test_average_precision_fixed_cases() -> None:
    assert average_precision(np.array([3.0, 2, 1]), np.array([1, 0, 0])) == 1.0
    assert average_precision(np.array([1.0, 2, 3]), np.array([1, 0, 0])) == pytest.approx(1 / 3)
    assert average_precision(np.zeros(4), np.array([1, 0, 0, 0])) == pytest.approx(0.25)
    # NaN ranks with -inf: the positive ties with a negative at the bottom, precision 1/3
    assert average_precision(np.array([np.nan, -np.inf, 1.0]), np.array([1, 0, 0])) == 1 / 3


def test_alerts_per_day_rounds_up() -> None:
    assert alerts_per_day(5, 50) == 1
    assert alerts_per_day(5, 200) == 1
    assert alerts_per_day(5, 3600) == 18
    assert alerts_per_day(0.1, 3000) == 1  # 0.30000000000000004 must not become 2 either
    assert alerts_per_day(0, 46000) == 0
    with pytest.raises(ValueError):
        alerts_per_day(-1, 10)


def test_time_to_detect_counts_local_days_from_the_first_event() -> None:
    # episode 0: events on days 10, 12, 13 by user 1; only day 13 is alerted -> TTD 3
    period = Period(user=np.array([1, 1, 1, 2], np.int32),
                    day=np.array([10, 12, 13, 12], np.int32),
                    episode=np.array([0, 0, 0, -1], np.int32),
                    kinds=np.array(["pursuit"], dtype=object), n_staff=10, n_days=4)
    m = evaluate_alerts(period, user_day_keys(np.array([1, 2]), np.array([13, 12])))
    assert (m.recall, m.precision, m.ttd_median_days) == (1.0, 0.5, 3.0)
    assert m.false_alerts_per_day == 0.25


def test_local_days_follow_london_time_across_the_clock_change() -> None:
    utc = [dt.datetime(2024, 3, 30, 23, 30, tzinfo=dt.timezone.utc),  # GMT: still the 30th
           dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.timezone.utc),  # BST: already 1 April
           dt.datetime(2024, 10, 26, 23, 30, tzinfo=dt.timezone.utc)]  # BST: 27 October
    ms = np.array([int(t.timestamp() * 1000) for t in utc])
    days = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d))
            for d in local_days(ms, "Europe/London")]
    assert days == [dt.date(2024, 3, 30), dt.date(2024, 4, 1), dt.date(2024, 10, 27)]
    assert local_midnight_ms(dt.date(2024, 4, 1), "Europe/London") == int(
        dt.datetime(2024, 3, 31, 23, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)


@given(st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_mean_interval_brackets_the_mean(values) -> None:
    iv = mean_interval(values)
    assert iv.low <= iv.mean + 1e-12 and iv.mean <= iv.high + 1e-12 and iv.n == len(values)


def test_mean_interval_fixed_cases() -> None:
    assert mean_interval([]) is None and mean_interval([None]) is None
    one = mean_interval([0.5, None])
    assert (one.mean, one.low, one.high, one.n) == (0.5, None, None, 1)
    iv = mean_interval([0.0, 1.0])  # sd 0.707, t(1) = 12.706 -> half width 6.353
    assert iv.mean == 0.5 and iv.high - iv.mean == pytest.approx(6.353, abs=1e-3)


@given(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0])), min_size=1, max_size=12),
       st.one_of(st.none(), st.integers(1, 500)))
def test_share_intervals_stay_within_0_and_1_and_hold_the_mean(values, trials) -> None:
    iv = mean_share_interval(values, trials)
    assert iv.mean == pytest.approx(float(np.mean(values))) and iv.n == len(values)
    if len(values) < 2:
        assert iv.low is None and iv.high is None
        return
    assert 0.0 <= iv.low <= iv.mean <= iv.high <= 1.0
    if trials is None and len(set(values)) == 1:  # no spread and no count: nothing to widen
        assert iv.low == iv.high == iv.mean


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), st.integers(1, 400))
def test_a_share_interval_is_never_narrower_than_binomial_sampling(values, trials) -> None:
    iv = mean_share_interval(values, trials)
    low, high = wilson(iv.mean * trials, trials)
    assert iv.low <= low + 1e-9 and iv.high >= high - 1e-9


def test_share_interval_fixed_cases() -> None:
    # recall 0 on every seed of 26 episodes: not [0, 0], but the Wilson bound of 0/26
    iv = mean_share_interval([0.0, 0.0], trials=26)
    assert iv.low == 0.0 and iv.high == pytest.approx(3.8415 / (26 + 3.8415), abs=1e-4)
    # the t-interval of [0.1, 0.2, 0.0] runs below 0; this one does not
    assert mean_interval([0.1, 0.2, 0.0]).low < 0 <= mean_share_interval([0.1, 0.2, 0.0]).low
    assert mean_share_interval([0.3, 0.3]) == Interval(0.3, 0.3, 0.3, 2)  # no spread, no count
    assert mean_share_interval([None, 0.5]).low is None and mean_share_interval([]) is None
    with pytest.raises(ValueError):
        mean_share_interval([0.5, 1.5])
