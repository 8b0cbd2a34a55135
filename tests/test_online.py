"""The online protocol (score --online): verdicts reach only the detector that raised the alert,
only after their delay; a feedback() that raises is that detector's error; bad options exit 2."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from snoopbench.benchmarks.harness import score_dataset
from snoopbench.benchmarks.metrics import Period, evaluate_alerts
from snoopbench.benchmarks.online import score_online
from snoopbench.benchmarks.online_metrics import alerts_to_first_catch, fatigue, learning_curve
from snoopbench.benchmarks.reviewer import Reviewer, delay_days
from snoopbench.contract.errors import InputError
from snoopbench.contract.info import user_day_keys

from online_fakes import register_online_fakes

register_online_fakes()
PY = shlex.quote(sys.executable)


def _row(result, name):
    """A detector's row by its name, or by its SPEC (an outside program's row is named shorter)."""
    return next(d for d in result.detectors if name in (d.name, d.spec))


@pytest.fixture(scope="module")
def sure_regime(tmp_path_factory) -> Path:
    """A reviewer who confirms every alert on misuse, with verdicts back two days later."""
    path = tmp_path_factory.mktemp("regime") / "sure.toml"
    path.write_text('format = "snoopbench/regime/v1"\nname = "sure"\n'
                    "[proactive]\nverdict_delay = \"fixed\"\nverdict_delay_mean_days = 2\n"
                    "[proactive.confirm]\nnaive = 1.0\ncareful = 1.0\nexpert = 1.0\n")
    return path


def test_verdicts_cover_only_own_alerts_and_arrive_after_the_delay(synthetic_dataset, sure_regime):
    # users 5 and 9 are naive misusers, 20 and 21 are not; every other user's episodes go unalerted
    spec = "fake_suspicious:users=5+9+20+21,delay_days=2"
    result = score_online(synthetic_dataset, [spec], budget=80.0, regime=sure_regime)
    row = _row(result, spec)
    assert row.status == "ok", (row.error, row.log)
    online = row.online
    assert online["verdicts_taken"] == online["verdicts"]["delivered"] > 0
    assert online["verdicts"]["confirmed"] > 0 and online["verdicts"]["cleared"] > 0
    assert "verdicts taken" in (row.log or "")
    # alerts only on the chosen users: the episodes of users 3, 7, 11 and 13 are never caught
    kinds = pq.read_table(synthetic_dataset / "truth" / "episodes.parquet").to_pylist()
    unalerted = {e["kind"] for e in kinds if e["actor_id"] not in (5, 9)}
    assert all(row.metrics.recall_by_kind.get(k, 0.0) == 0.0 for k in unalerted)


def test_a_feedback_that_raises_is_an_error_row_and_the_others_finish(synthetic_dataset):
    result = score_online(synthetic_dataset, ["fake_feedback_raise", "off_shift"], budget=80.0,
                          feedback_delay="fixed", feedback_delay_days=0)
    bad = _row(result, "fake_feedback_raise")
    assert bad.status == "error" and "feedback() raised RuntimeError: boom in feedback" in bad.error
    assert _row(result, "off_shift").status == "ok"
    assert _row(result, "random").status == "ok" and _row(result, "null").status == "ok"


def test_a_detector_without_feedback_alerts_online_as_it_does_offline(synthetic_dataset):
    offline = score_dataset(synthetic_dataset, ["ensemble", "volume"], budget=30.0)
    online = score_online(synthetic_dataset, ["ensemble", "volume"], budget=30.0)
    for name in ("ensemble", "volume", "random"):
        a, b = _row(offline, name).metrics, _row(online, name).metrics
        assert (a.recall, a.precision, a.n_alerts, a.ttd_days) == \
            (b.recall, b.precision, b.n_alerts, b.ttd_days), name
        assert sum(m["alerts"] for m in _row(online, name).online["by_month"]) == b.n_alerts


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs the bubblewrap sandbox")
def test_online_a_detector_cannot_read_a_day_before_it_comes(synthetic_dataset):
    # offline the period is the input, and the hostile detector sees its last day: the test bites
    offline = _row(score_dataset(synthetic_dataset, ["fake_look_ahead"], budget=5.0,
                                 require_sandbox=True), "fake_look_ahead")
    assert offline.status == "error" and "read ahead" in offline.error
    online = _row(score_online(synthetic_dataset, ["fake_look_ahead"], budget=5.0,
                               require_sandbox=True), "fake_look_ahead")
    assert online.status == "ok", (online.error, online.log)
    # it did look: the warm-up's part and each day's events, as they came
    assert int(online.log.strip().splitlines()[-1].split()[-1]) >= 2


def test_an_exec_program_gets_each_days_verdicts_as_a_file(synthetic_dataset, sure_regime, tmp_path):
    script = tmp_path / "daily.py"
    script.write_text(
        "import datetime as dt, os, sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "events, feedback, state, day, out = sys.argv[1:]\n"
        "t = pa.concat_tables(pq.read_table(os.path.join(events, p)) for p in os.listdir(events))\n"
        "f = pq.read_table(feedback)\n"
        "today = dt.date.fromisoformat(day)\n"
        "assert all(d < today - dt.timedelta(days=2) for d in f['date'].to_pylist()), 'too early'\n"
        "assert set(f['user_id'].to_pylist()) <= {5, 20}, 'not my alert'\n"
        "n = os.path.join(state, 'n')\n"
        "seen = int(open(n).read()) if os.path.exists(n) else 0\n"
        "open(n, 'w').write(str(seen + f.num_rows))\n"
        "print('verdicts seen:', seen + f.num_rows, file=sys.stderr)\n"
        "users = t['user_id'].to_numpy()\n"
        "s = ((users == 5) | (users == 20)).astype(float)\n"
        "pq.write_table(pa.table({'event_id': t['event_id'], 'score': s}), out)\n")
    spec = f"exec:{PY} {script} {{events}} {{feedback}} {{state}} {{day}} {{out}}"
    result = score_online(synthetic_dataset, [spec], budget=80.0, regime=sure_regime)
    row = _row(result, spec)
    assert row.status == "ok", (row.error, row.log)
    seen = int(row.log.strip().splitlines()[-1].split()[-1])
    assert seen == row.online["verdicts"]["delivered"] > 0


@pytest.mark.parametrize("args, key", [
    (["--feedback-delay-days", "-1"], "--feedback-delay-days"),
    (["--feedback-delay", "gamma"], "--feedback-delay"),
    (["--regime", "no-such-regime"], "--regime"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_online_options_exit_2_and_write_nothing(synthetic_dataset, tmp_path, args, key):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "snoopbench", "score", str(synthetic_dataset),
                           "--online", "--json", str(out), *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert key in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_regime_file_with_a_negative_delay_is_refused(tmp_path, synthetic_dataset):
    path = tmp_path / "bad.toml"
    path.write_text('format = "snoopbench/regime/v1"\nname = "bad"\n'
                    "[proactive]\nverdict_delay_mean_days = -3\n")
    with pytest.raises(InputError, match="verdict_delay_mean_days"):
        score_online(synthetic_dataset, [], regime=path)


def test_online_results_json_holds_the_curves(synthetic_dataset, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "snoopbench", "score", str(synthetic_dataset),
                           "--online", "-d", "adaptive", "--budget", "40", "--json", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["online"]["reviewer"]["delay"] == "exponential"
    row = next(d for d in data["detectors"] if d["name"] == "adaptive")
    assert row["status"] == "ok"
    assert {"by_month", "alerts_to_first_catch", "fatigue", "verdicts"} <= set(row["online"])
    assert sum(m["alerts"] for m in row["online"]["by_month"]) == row["n_alerts"]
    assert "learning curve" in proc.stdout


# -- the reviewer and the metrics over time ----------------------------------------------------

@given(st.sampled_from(["exponential", "fixed", "uniform"]), st.floats(0, 60),
       st.lists(st.floats(0, 1, exclude_max=True), max_size=50))
def test_delays_are_whole_days_never_negative(kind, mean, u):
    d = delay_days(kind, mean, np.array(u))
    assert d.dtype == np.int64 and (d >= 0).all()
    if kind == "fixed":
        assert (d == np.ceil(mean)).all()


def test_the_reviewer_confirms_by_skill_and_agrees_across_detectors():
    r = Reviewer({"naive": 1.0, "careful": 0.5, "expert": 0.0}, "fixed", 3.0, seed=1)
    keys = user_day_keys(np.arange(2000), np.full(2000, 20000))
    assert r.confirms(keys, np.ones(2000)).all() and not r.confirms(keys, np.zeros(2000)).any()
    half = r.confirms(keys, np.full(2000, 0.5))
    assert 0.4 < half.mean() < 0.6
    assert (r.confirms(keys[::-1], np.full(2000, 0.5)) == half[::-1]).all()  # keyed, not ordered
    assert r.chance(["expert", "careful"]) == 0.5 and r.chance([]) == 0.0
    with pytest.raises(InputError):
        Reviewer({"naive": 1.0, "careful": 0.5, "expert": 0.0}, "fixed", -1.0)


@st.composite
def _worlds(draw):
    n_days = draw(st.integers(1, 70))
    first = 19_800
    n_ev = draw(st.integers(0, 40))
    day = np.array(draw(st.lists(st.integers(first, first + n_days - 1), min_size=n_ev,
                                 max_size=n_ev)), np.int32)
    user = np.array(draw(st.lists(st.integers(1, 6), min_size=n_ev, max_size=n_ev)), np.int32)
    episode = np.array(draw(st.lists(st.integers(0, 3), min_size=n_ev, max_size=n_ev)), np.int32)
    period = Period(user=user, day=day, episode=episode, kinds=np.array(["a", "b", "a", "b"], object),
                    n_staff=6, n_days=n_days)
    n_al = draw(st.integers(0, 30))
    alerts = user_day_keys(np.array(draw(st.lists(st.integers(1, 6), min_size=n_al, max_size=n_al))),
                           np.array(draw(st.lists(st.integers(first, first + n_days - 1),
                                                  min_size=n_al, max_size=n_al))))
    return period, np.unique(alerts), first, n_days


@given(_worlds())
def test_the_learning_curve_adds_up_to_the_whole(world):
    period, alerts, first, n_days = world
    rows = learning_curve(alerts, period, first, n_days)
    whole = evaluate_alerts(period, alerts)
    assert sum(r["days"] for r in rows) == n_days
    assert sum(r["alerts"] for r in rows) == whole.n_alerts
    assert sum(r["true_alerts"] for r in rows) == whole.n_true_alerts
    for r in rows:
        assert 0 <= r["caught"] <= r["episodes"]
        assert r["recall"] is None or 0.0 <= r["recall"] <= 1.0
    # an episode caught in some month is caught overall, and one caught overall in some month
    assert (sum(r["caught"] for r in rows) > 0) == (whole.n_caught > 0)


@given(_worlds())
def test_alerts_until_the_first_catch_are_all_false(world):
    period, alerts, first, n_days = world
    lab = user_day_keys(period.user, period.day)
    scores = np.linspace(1, 0, len(alerts))
    n = alerts_to_first_catch(alerts, scores, lab)
    if n is None:
        assert not np.isin(alerts, lab).any()
    else:
        order = np.lexsort((-scores, alerts >> 32))
        hits = np.isin(alerts[order], lab)
        assert not hits[:n].any() and hits[n]


def test_fatigue_counts_false_alerts_after_a_cleared_verdict_arrived():
    keys = user_day_keys(np.array([1, 1, 1, 2]), np.array([10, 12, 15, 15]))
    lab = user_day_keys(np.array([1]), np.array([15]))
    f = fatigue(keys, lab, cleared_users=np.array([1, 2]), cleared_received=np.array([12, 16]))
    # user 1's day-12 alert comes after its clearance reached the detector (day 12); day 15 is true
    assert f == {"false_alerts": 3, "repeat_false_alerts": 1, "fatigue": 1 / 3}


def test_bench_online_scores_each_world_online(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "snoopbench", "bench", "tiny", "--seeds", "1",
                           "--days", "4", "-d", "adaptive", "--online", "--feedback-delay-days", "0",
                           "--json", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(out.read_text())["runs"][0]
    assert run["result"]["online"]["reviewer"]["delay_mean_days"] == 0.0
    row = next(d for d in run["result"]["detectors"] if d["name"] == "adaptive")
    assert row["status"] == "ok" and row["online"]["by_month"]
