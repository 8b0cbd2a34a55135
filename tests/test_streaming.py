"""Scoring as a stream: the fold (benchmarks.streaming), the one-pass scan of the period
(benchmarks.dataset) and the harness give the in-memory rules' numbers, and the harness's own
memory does not grow with the dataset."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.detectors.registry import parse_spec
from hypothesis import given
from hypothesis import strategies as st

from snoopbench.benchmarks.dataset import (
    local_days, local_midnight_ms, open_dataset, scoring_period, truth_dir_of,
)
from snoopbench.benchmarks.harness import score_dataset
from snoopbench.benchmarks.metrics import (
    Period, alerts_per_day, average_precision, evaluate_scores, sweep_budgets,
)
from snoopbench.benchmarks.streaming import ScoreFold
from snoopbench.benchmarks.worker import check_scores, load_context, split_stream
from snoopbench.detectors import create
from snoopbench.detectors.base import call_fit

from fake_detectors import register_fakes
from strategies import grid_scores, periods
from snoopbench.benchmarks.synthetic import build_synthetic_dataset

register_fakes()


def _fold(period: Period, scores: np.ndarray, cuts: list[int], most_per_day: int) -> ScoreFold:
    """``scores`` folded in chunks that end at ``cuts`` (repeats give empty chunks)."""
    labelled = np.flatnonzero(period.episode >= 0)
    days = np.unique(period.day)
    stops = np.array([np.flatnonzero(period.day == d)[-1] + 1 for d in days])
    fold = ScoreFold(period.only_labelled(), labelled, scores[labelled], (days, stops),
                     most_per_day)
    edges = [0, *sorted(cuts), period.n_events]
    for a, b in zip(edges[:-1], edges[1:]):
        fold.add(period.user[a:b], period.day[a:b], scores[a:b])
    return fold


@given(periods(), st.data())
def test_the_fold_gives_the_in_memory_metrics(period: Period, data) -> None:
    if data.draw(st.booleans(), label="in time order"):
        order = np.argsort(period.day, kind="stable")
        period = replace(period, user=period.user[order], day=period.day[order],
                         episode=period.episode[order])
    n = period.n_events
    scores = grid_scores(data.draw, n)
    left_out = data.draw(st.lists(st.integers(0, n - 1), max_size=4), label="left out")
    scores[left_out] = -np.inf  # what an exec: program did not score
    budget = data.draw(st.floats(0, 1000), label="budget")
    budgets = data.draw(st.lists(st.floats(0, 1000), max_size=3), label="budgets")
    most = max(alerts_per_day(b, period.n_staff) for b in (budget, *budgets))
    cuts = data.draw(st.lists(st.integers(0, n), max_size=6), label="cuts")
    fold = _fold(period, scores, cuts, most)
    assert fold.metrics(budget) == evaluate_scores(period, scores, budget)
    assert fold.sweep(budgets) == sweep_budgets(period, scores, budgets)


_WIDE = st.floats(-1e300, 1e300) | st.sampled_from([-np.inf, 0.0, 1.0])


@given(st.lists(st.tuples(_WIDE, st.booleans()), min_size=1, max_size=150), st.data())
def test_streamed_average_precision_is_exactly_the_in_memory_one(pairs, data) -> None:
    scores = np.array([p[0] for p in pairs])
    labels = np.array([p[1] for p in pairs])
    n = len(scores)
    period = Period(user=np.zeros(n, np.int32), day=np.zeros(n, np.int32),
                    episode=np.where(labels, 0, -1).astype(np.int32),
                    kinds=np.array(["family"], dtype=object), n_staff=10, n_days=1)
    cuts = data.draw(st.lists(st.integers(0, n), max_size=5))
    assert _fold(period, scores, cuts, 1).average_precision() == average_precision(scores, labels)


def test_the_fold_refuses_a_budget_beyond_what_it_kept() -> None:
    period = Period(user=np.array([1, 2, 3], np.int32), day=np.array([5, 5, 5], np.int32),
                    episode=np.array([0, -1, -1], np.int32),
                    kinds=np.array(["family"], dtype=object), n_staff=1000, n_days=1)
    fold = _fold(period, np.array([2.0, 1.0, 0.0]), [1], alerts_per_day(5, 1000))
    assert fold.metrics(5).n_alerts == 2 and fold.metrics(5).recall == 1.0
    with pytest.raises(ValueError, match="alerts a day"):
        fold.metrics(6)


def _whole_read(dataset: Path) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """n_warmup and the period's users, days and episodes, read whole (how scoring once read)."""
    ds = open_dataset(dataset)
    events = pa.concat_tables(pq.read_table(p, columns=["event_id", "ts", "user_id"])
                              for p in ds.parts)
    ts = events["ts"].cast(pa.int64()).to_numpy()
    first = ds.start_date + dt.timedelta(days=ds.warmup_days)
    n_warmup = int(np.searchsorted(ts, local_midnight_ms(first, ds.timezone)))
    labels = pq.read_table(dataset / "truth" / "labels.parquet")
    ep_ids = list(pq.read_table(dataset / "truth" / "episodes.parquet")["episode_id"].to_pylist())
    episode = np.full(len(ts), -1, np.int32)
    at = np.searchsorted(events["event_id"].to_numpy(), labels["event_id"].to_numpy())
    episode[at] = [ep_ids.index(e) for e in labels["episode_id"].to_pylist()]
    return (n_warmup, events["user_id"].to_numpy()[n_warmup:],
            local_days(ts, ds.timezone)[n_warmup:], episode[n_warmup:])


@pytest.mark.parametrize("batch_size", [97, 1000, 1 << 16])
def test_the_scan_finds_what_a_whole_read_finds(synthetic_dataset, batch_size) -> None:
    ds = open_dataset(synthetic_dataset)
    scanned = scoring_period(ds, truth_dir_of(ds, None), batch_size)
    n_warmup, user, day, episode = _whole_read(synthetic_dataset)
    assert (scanned.n_warmup, scanned.n_events) == (n_warmup, len(user))
    whole = scanned.period
    assert np.array_equal(whole.user, user) and np.array_equal(whole.day, day)
    assert np.array_equal(whole.episode, episode)
    assert whole.day.dtype == np.int32 and whole.user.dtype == np.int32
    assert scanned.n_days == day[-1] - day[0] + 1 == 8  # the days span the clock change
    assert (scanned.n_episodes, scanned.n_episodes_warmup_only) == (5, 1)
    assert np.array_equal(scanned.labelled.episode, episode[episode >= 0])


@pytest.fixture(scope="module")
def partial_exec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An outside program that scores every other event, and leaves the rest out."""
    script = tmp_path_factory.mktemp("exec") / "partial.py"
    script.write_text(
        "import os, sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "events, out = sys.argv[1:]\n"
        "ids = pa.concat_tables(pq.read_table(os.path.join(events, p), columns=['event_id'])\n"
        "                       for p in sorted(os.listdir(events)))['event_id'].to_numpy()\n"
        "pq.write_table(pa.table({'event_id': ids[::2], 'score': (ids[::2] % 7) * 1.0}), out)\n"
    )
    return f"exec:{shlex.quote(sys.executable)} {shlex.quote(str(script))} {{events}} {{out}}"


def test_the_harness_gives_what_the_in_memory_rules_give(synthetic_dataset, partial_exec):
    specs, budgets = ["random:seed=3", "fake_volume", partial_exec], [0, 1, 5, 50, 1000]
    result = score_dataset(synthetic_dataset, specs, budget=5, budgets=budgets, batch_size=700)
    ds = open_dataset(synthetic_dataset)
    period = scoring_period(ds, truth_dir_of(ds, None))
    context, parts = load_context(ds.context_dir), tuple(str(p) for p in ds.parts)
    for spec in specs[:2]:
        detector = create(spec)
        history, stream = split_stream(parts, 700, period.n_warmup)
        call_fit(detector, context, history, ds.info)
        scores = np.concatenate([check_scores(detector.score(b), b) for b in stream])
        row = next(d for d in result.detectors if d.name == parse_spec(spec).name)
        assert row.metrics == evaluate_scores(period.period, scores, 5), spec
        assert row.budget_sweep == sweep_budgets(period.period, scores, budgets), spec
    ids = period.event_id[period.n_warmup:]
    scores = np.where(np.arange(period.n_total)[period.n_warmup:] % 2 == 0, (ids % 7) * 1.0,
                      -np.inf)
    row = next(d for d in result.detectors if d.name == parse_spec(partial_exec).name)
    assert row.metrics == evaluate_scores(period.period, scores, 5) and row.metrics.n_alerts
    assert row.budget_sweep == sweep_budgets(period.period, scores, budgets)


def _parent_peak(dataset: Path) -> int:
    """The harness process's peak of traced allocations while it scores the baselines."""
    tracemalloc.start()
    try:
        result = score_dataset(dataset, [], batch_size=4096)
        assert [d.status for d in result.detectors] == ["ok", "ok"]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_harness_memory_does_not_grow_with_the_period(tmp_path) -> None:
    short = build_synthetic_dataset(tmp_path / "short", n_staff=100, days=10,
                                    events_per_day=40.0)
    long = build_synthetic_dataset(tmp_path / "long", n_staff=100, days=30, events_per_day=40.0)
    _parent_peak(short)  # once before measuring: one-off costs (the fork server) are paid
    small, large = _parent_peak(short), _parent_peak(long)
    # the long period has 3.5x the events; holding them would take some 30 MB more
    assert large < 1.3 * small + 2**20, (small, large)
