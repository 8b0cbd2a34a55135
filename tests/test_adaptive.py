"""The adaptive ensemble: its non-adaptive twin's scores until a verdict arrives; after one, the
user cleared as explained scores lower on the rules that carried the alert, and a rule whose
alerts are confirmed weighs more."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.feedback import FEEDBACK
from snoopbench.benchmarks.worker import load_context
from snoopbench.contract.info import local_days
from snoopbench.detectors import create
from snoopbench.simulator.run import simulate


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """A tiny force's context, warm-up and its two scoring days (each a table)."""
    root: Path = tmp_path_factory.mktemp("adaptive") / "tiny"
    simulate("tiny", root, days=4)
    ds = open_dataset(root)
    period = scoring_period(ds, truth_dir_of(ds, None))
    events = pa.concat_tables(pq.read_table(p) for p in ds.parts)
    rest = events.slice(period.n_warmup)
    day = local_days(rest["ts"].cast(pa.int64()).to_numpy(), ds.info.timezone)
    first = day == day.min()
    return (load_context(ds.context_dir), events.slice(0, period.n_warmup), ds.info,
            rest.filter(pa.array(first)), rest.filter(pa.array(~first)), int(day.min()))


def _pair(days, rules: str = "", suppress: float = 0.0):
    context, history, info, *_ = days
    extra = f":rules={rules}" if rules else ""
    twin = create("ensemble" + extra)
    adaptive = create(f"adaptive:suppress={suppress}" + (f",rules={rules}" if rules else ""))
    twin.fit(context, history, info)
    adaptive.fit(context, history, info)
    return twin, adaptive


def _score(det, table: pa.Table) -> np.ndarray:
    return np.concatenate([det.score(b) for b in table.to_batches(max_chunksize=5000)])


def _verdict(user: int, day: int, verdict: str, reason: str) -> pa.Table:
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return pa.Table.from_pylist([{"user_id": user, "date": date, "event_id": 0, "score": 1.0,
                                  "verdict": verdict, "reason": reason,
                                  "received": date + dt.timedelta(days=1)}], schema=FEEDBACK)


def test_without_verdicts_it_is_the_ensemble(days):
    twin, adaptive = _pair(days, suppress=1.0)
    for table in days[3:5]:
        assert np.array_equal(_score(twin, table), _score(adaptive, table))


def _busy_user(days, twin_1: np.ndarray, twin_2: np.ndarray) -> int:
    """A user alerted on day 1 (high score) who is scored high again on day 2."""
    u1, u2 = days[3]["user_id"].to_numpy(), days[4]["user_id"].to_numpy()
    for user in u1[np.argsort(-twin_1)]:
        if twin_2[u2 == user].max(initial=0) > 1.5:
            return int(user)
    pytest.skip("no user scores high on both days of this tiny force")


def test_an_explained_clearance_suppresses_that_user(days):
    # one rule, so the rule that carried the cleared alert is the one that scores the user again
    twin, adaptive = _pair(days, "explanation", suppress=1.0)
    s1 = _score(twin, days[3])
    assert np.array_equal(s1, _score(adaptive, days[3]))
    twin_copy, _ = _pair(days, "explanation")
    _score(twin_copy, days[3])
    user = _busy_user(days, s1, _score(twin_copy, days[4]))
    adaptive.feedback(_verdict(user, days[5], "cleared", "explained"))
    t2, a2 = _score(twin, days[4]), _score(adaptive, days[4])
    mine = days[4]["user_id"].to_numpy() == user
    assert (a2[mine] <= t2[mine] + 1e-9).all()
    assert (t2[mine] - a2[mine]).max() > 0.9  # the suppression (1.0) on the rule that carried it
    assert create("adaptive").suppress == 0.0  # off by default (see the detector's docstring)
    others = ~mine & (t2 > 0)
    assert np.abs(t2[others] - a2[others]).max() < 0.1  # everyone else: barely reweighted


def test_confirmed_alerts_raise_the_rules_that_carried_them(days):
    twin, adaptive = _pair(days)
    s1 = _score(twin, days[3])
    _score(adaptive, days[3])
    users = days[3]["user_id"].to_numpy()
    top = [int(u) for u in dict.fromkeys(users[np.argsort(-s1)])][:5]
    for user in top:
        adaptive.feedback(_verdict(user, days[5], "confirmed", "misuse"))
    assert adaptive.weight_.max() > 0
    t2, a2 = _score(twin, days[4]), _score(adaptive, days[4])
    fired = t2 > 0
    assert (a2[fired] >= t2[fired] - 1e-9).all() and (a2[fired] > t2[fired]).any()
