"""The built-in rules at a large force's size: keys that used to pack an id above a timestamp
(``id << 42 | t``) overflowed past 2**21 ids (user-case pairs of a large force), and the
running maxima over those keys read out of bounds. The edges are tested here on their own,
cheaply; the whole of it on a world of the large force's shape in the long test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snoopbench.benchmarks.harness import score_dataset
from snoopbench.benchmarks.worker import load_context

from snoopbench.detectors.columns import group_cummax
from snoopbench.detectors.index import ForceIndex
from snoopbench.detectors.lookups import BucketSearch
from snoopbench.detectors.registry import BUILTIN, load
from snoopbench.detectors.roster import Roster
from snoopbench.detectors.tasking import Holdings
from snoopbench.simulator.run import simulate

import strategies  # noqa: F401 - the suite's hypothesis profile

BIG = 1 << 21  # the first id whose id << 42 no longer fits in an int64


def _naive_cummax(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for i in range(len(values)):
        out[i] = values[i] if i == 0 or group[i] != group[i - 1] else max(out[i - 1], values[i])
    return out


@given(st.lists(st.tuples(st.integers(0, 2**62), st.integers(-2**62, 2**62)), max_size=60))
def test_group_cummax_restarts_at_each_run_whatever_the_codes(rows) -> None:
    """Group codes of any size, in any order: each run of equal codes has its own maximum."""
    group = np.array([g for g, _ in rows], np.int64)
    values = np.array([v for _, v in rows], np.int64)
    assert np.array_equal(group_cummax(group, values), _naive_cummax(group, values))


@given(st.lists(st.lists(st.integers(0, 1000), max_size=6), min_size=1, max_size=20),
       st.lists(st.tuples(st.integers(-2, 22), st.integers(-5, 1005)), max_size=40))
def test_bucket_search_stays_within_the_bucket(buckets, queries) -> None:
    """Keys sorted only within their buckets (later buckets may hold smaller keys): a search
    never runs into the next bucket."""
    keys = np.array([k for b in buckets for k in sorted(b)], np.int64)
    bucket = np.repeat(np.arange(len(buckets)), [len(b) for b in buckets])
    search = BucketSearch(keys, bucket, len(buckets))
    qb = np.array([b for b, _ in queries], np.int64)
    qk = np.array([k for _, k in queries], np.int64)
    got = search.right(qk, qb)
    for g, b, k in zip(got, qb, qk):
        b = min(max(int(b), 0), len(buckets))
        start = sum(len(x) for x in buckets[:b])
        inside = sorted(buckets[b]) if b < len(buckets) else []
        assert g == start + sum(1 for x in inside if x <= k)


@settings(max_examples=8)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 4000), st.integers(0, 500)),
                min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5000)), min_size=1, max_size=30))
def test_holdings_past_two_million_pairs(intervals, queries) -> None:
    """A force with more than 2**21 (user, case) pairs held: the pairs held several times, ranked
    last, are answered from their own intervals (each ``pair << 42`` key overflowed)."""
    n_cases = 1024
    filler = BIG + 100  # pairs held once, on day 0, ranked before the ones under test
    fu, fc = np.divmod(np.arange(filler, dtype=np.int64), n_cases)
    top = int(fu[-1]) + 1  # users from here on hold the pairs under test, twice or more
    user = np.concatenate([fu, [top + p for p, _, _ in intervals] * 2])
    case = np.concatenate([fc, np.zeros(2 * len(intervals), np.int64)])
    since = np.concatenate([np.zeros(filler, np.int64), [s for _, s, _ in intervals],
                            [s + 10_000 for _, s, _ in intervals]])  # a second holding, later
    until = np.concatenate([np.full(filler, 10, np.int64), [s + d for _, s, d in intervals],
                            [s + 10_000 for _, s, _ in intervals]])
    held = Holdings(user, case, since, until, top + 21, n_cases)
    qu = np.array([top + p for p, _ in queries], np.int64)
    qt = np.array([t for _, t in queries], np.int64)
    expected = [any(top + p == u and s <= t <= s + d for p, s, d in intervals) for u, t in zip(qu, qt)]
    assert held(qu, np.zeros(len(qu), np.int64), qt).tolist() == expected
    assert held(fu[-3:], fc[-3:], np.full(3, 5)).all()  # the filler too
    assert not held(fu[-3:], fc[-3:], np.full(3, 11)).any()


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10 * 86_400_000),
                          st.integers(0, 12 * 3_600_000)), max_size=20),
       st.lists(st.tuples(st.integers(0, 4), st.integers(0, 12 * 86_400_000)), min_size=1,
                max_size=20))
def test_roster_past_two_million_users(shifts, accesses) -> None:
    """User indices above 2**21: each user's shifts are still their own."""
    user = np.array([BIG + u for u, _, _ in shifts], np.int64)
    start = np.array([s for _, s, _ in shifts], np.int64)
    end = start + np.array([d for _, _, d in shifts], np.int64)
    roster = Roster(user, start, end)
    au = np.array([BIG + u for u, _ in accesses], np.int64)
    at = np.array([t for _, t in accesses], np.int64)
    week = 7 * 86_400_000
    for got, u, t in zip(roster.off_shift_ms(au, at), au, at):
        mine = [(s, e) for uu, s, e in zip(user, start, end) if uu == u]
        before = [s for s, _ in mine if s <= t]
        after = [s for s, _ in mine if s > t]
        # as the rule defines it: from the end of the shift started last (the last listed of
        # those starting together), to the next start
        last_end = [e for s, e in mine if s == max(before)][-1] if before else None
        gap = min(max(t - last_end, 0) if last_end is not None else week,
                  max(min(after) - t, 0) if after else week)
        assert got == min(gap, week)


#: The large force's world at full size (46,000 staff, 1.84M people, more than 2**21 user-case
#: pairs held within a week) with a twentieth of its background work per shift, so that every
#: built-in can score it in minutes: the sizes that overflowed are those of the context.
THIN_LARGE_FORCE = '''format = "snoopbench/scenario/v1"
extends = "large-force"
name = "large-force-thin"
description = "The large force with a twentieth of its background work per shift (a test world)."
''' + "".join(f"\n[roles.{role}]\nevents_per_shift_median = {median}\n" for role, median in {
    "response": 3.0, "neighbourhood": 1.4, "pcso": 0.9, "investigator": 6.65, "control_room": 11.55,
    "analyst": 16.8, "custody": 2.45, "disclosure": 3.15, "vetting": 2.1,
    "professional_standards": 1.75, "back_office": 1.0}.items())
#: Largest process of a detector whose fit needs no warm-up (the target of issue 16).
STREAMING_LIMIT_MB = 1536


@pytest.mark.long
def test_every_built_in_scores_a_large_force(tmp_path: Path) -> None:
    """Seven days of a world of the large force's shape: every built-in finishes ok (``explanation``,
    ``watchlist``, ``relationship`` and ``vip`` stopped with an IndexError past 2**21 pairs), and
    those that need no warm-up stay within 1.5 GB."""
    scenario = tmp_path / "thin.toml"
    scenario.write_text(THIN_LARGE_FORCE)
    root = tmp_path / "large"
    simulate(str(scenario), root, days=7)
    held = ForceIndex(load_context(root / "context"), "Europe/London").holdings
    assert held.pair.max() >= BIG  # pairs held several times are ranked past the edge
    result = score_dataset(root, sorted(BUILTIN), verify=False)
    rows = {r.name: r for r in result.detectors}
    assert {n: r.status for n, r in rows.items()} == {n: "ok" for n in rows}, \
        {n: r.error for n, r in rows.items() if r.status != "ok"}
    for name, r in rows.items():
        if not getattr(load(name), "uses_warmup", True):
            assert r.peak_mem_mb <= STREAMING_LIMIT_MB, (name, r.peak_mem_mb)
