"""Organisational change (a scenario's ``[timeline]``): validation, what it does to the data, that
it carries no label, determinism with any workers, and robustness before and after each change."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.benchmarks.metrics import Period, evaluate_alerts
from snoopbench.benchmarks.robustness import Change, robustness_rows, window
from snoopbench.contract.info import user_day_keys
from snoopbench.contract.schema import TIMELINE_TABLES
from snoopbench.simulator import scenario
from snoopbench.simulator.run import simulate

SCRIPT = shutil.which("snoopbench", path=str(Path(sys.executable).parent))

# tiny (2025-03-03, areas North and South) for 14 days, with every kind of change inside them.
TIMELINE = """
format = "snoopbench/scenario/v1"
extends = "tiny"
name = "tiny-timeline"
duration_days = 14

[timeline.seasons]
demand_factor_by_month = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]

[timeline.turnover]
joiners_share_per_month = 0.05
leavers_share_per_month = 0.05

[[timeline.reorganisations]]
name = "One command"
kind = "merge"
date = 2025-03-07
areas = ["North", "South"]
unit_name = "Tiny Command"
moved_share = 0.2
transition_weeks = 0.5

[[timeline.surges]]
name = "Operation Test"
area = "South"
start_date = 2025-03-09
weeks = 0.5
demand_factor = 3.0
mutual_aid_officers = 12

[[timeline.policies]]
name = "PNC reference"
system = "PNC"
date = 2025-03-06
compliance_target = 0.9
ramp_weeks = 0.5
"""


def _write(folder: Path, text: str, name: str = "tl.toml") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tl_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("timeline")
    out = folder / "data"
    simulate(_write(folder, TIMELINE), out)
    return out


def _ms(date: dt.date) -> int:
    return int(dt.datetime.combine(date, dt.time(0), tzinfo=dt.timezone.utc).timestamp() * 1000)


# -- validation ------------------------------------------------------------------------------

BAD = [
    ("[[timeline.surges]]\nname='x'\narea='South'\nstart_date=2025-05-01\nweeks=1\ndemand_factor=2\n",
     "timeline.surges[0].start_date", "inside the simulated period"),
    ("[[timeline.policies]]\nname='x'\nsystem='PNC'\ndate=2025-03-01\ncompliance_target=0.5\n",
     "timeline.policies[0].date", "inside the simulated period"),
    ("[[timeline.surges]]\nname='x'\narea='Atlantis'\nstart_date=2025-03-04\nweeks=1\ndemand_factor=2\n",
     "timeline.surges[0].area", "force.areas"),
    ("[[timeline.policies]]\nname='x'\nsystem='FAX'\ndate=2025-03-04\ncompliance_target=0.5\n",
     "timeline.policies[0].system", "'PNC'"),
    ("[[timeline.reorganisations]]\nname='a'\nkind='merge'\ndate=2025-03-04\nareas=['North','South']\n"
     "moved_share=0.1\ntransition_weeks=1\n"
     "[[timeline.reorganisations]]\nname='b'\nkind='split'\ndate=2025-03-08\nareas=['South','North']\n"
     "moved_share=0.1\n", "timeline.reorganisations[1].date", "overlaps reorganisations[0]"),
    ("[timeline.seasons]\ndemand_factor_by_month=[1.0, 2.0]\n",
     "timeline.seasons.demand_factor_by_month", "12 numbers"),
    ("[timeline.turnover]\njoiners_per_month=0.1\n", "timeline.turnover.joiners_per_month", "unknown key"),
]


@pytest.mark.parametrize("body,key,words", BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_a_bad_timeline_is_exit_2_naming_file_and_key(tmp_path: Path, capsys, body: str, key: str,
                                                      words: str) -> None:
    path = _write(tmp_path, 'format = "snoopbench/scenario/v1"\nextends = "tiny"\nname = "bad"\n' + body)
    assert main(["simulate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert str(path.name) in err and key in err and words in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_reorganisations_of_different_areas_or_times_may_not_clash(tmp_path: Path) -> None:
    ok = _write(tmp_path, 'format = "snoopbench/scenario/v1"\nextends = "tiny"\nname = "ok"\n'
                "[[timeline.reorganisations]]\nname='a'\nkind='merge'\ndate=2025-03-03\n"
                "areas=['North','South']\nmoved_share=0.1\ntransition_weeks=0.5\n"
                "[[timeline.reorganisations]]\nname='b'\nkind='split'\ndate=2025-03-07\n"
                "areas=['South','North']\nmoved_share=0.1\ntransition_weeks=0.1\n")
    assert len(scenario.load(ok)["timeline"]["reorganisations"]) == 2


@pytest.mark.skipif(SCRIPT is None, reason="the snoopbench console script is not installed")
def test_days_that_cut_a_change_off_are_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, TIMELINE)
    r = _cli(["simulate", str(path), "--out", str(tmp_path / "out"), "--days", "5"], tmp_path)
    assert r.returncode == 2 and "--days" in r.stderr and "timeline." in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_a_scenario_without_a_timeline_writes_no_timeline_tables() -> None:
    s = scenario.load(scenario.find("tiny"))
    assert "timeline" not in s.to_toml()


def test_the_shipped_year_has_every_kind_of_change() -> None:
    tl = scenario.load(scenario.find("small-force-changes"))["timeline"]
    assert tl["seasons"]["demand_factor_by_month"] and tl["turnover"]["leavers_share_per_month"] > 0
    assert {r["kind"] for r in tl["reorganisations"]} == {"merge", "split"}
    assert tl["surges"][0]["mutual_aid_officers"] > 0 and tl["policies"]


# -- what the changes do to the data ---------------------------------------------------------

def test_timeline_tables_are_public_and_hold_no_label(tl_dataset: Path) -> None:
    for t in TIMELINE_TABLES:
        table = pq.read_table(tl_dataset / t.path)
        assert table.schema.names == t.schema.names
        assert not {"episode_id", "label", "misuse"} & set(table.schema.names)
    kinds = set(pq.read_table(tl_dataset / "context/timeline.parquet")["kind"].to_pylist())
    assert kinds == {"turnover", "reorganisation", "surge", "policy"}  # seasons all 1.0: no row
    changes = pq.read_table(tl_dataset / "context/staff_changes.parquet").to_pylist()
    assert {c["change"] for c in changes} == {"joined", "left", "moved_out", "moved_in"}
    # Misuse actors never leave or move: the change tables say nothing about who misuses.
    actors = set(pq.read_table(tl_dataset / "truth/episodes.parquet")["actor_id"].to_pylist())
    moved_or_left = {c["user_id"] for c in changes if c["change"] in ("left", "moved_out")}
    assert not actors & moved_or_left


def test_accounts_are_used_only_while_open(tl_dataset: Path) -> None:
    ev = pq.read_table(tl_dataset / "events", columns=["ts", "user_id", "system", "reference"])
    ts, user = ev["ts"].cast(pa.int64()).to_numpy(), ev["user_id"].to_numpy()
    changes = pq.read_table(tl_dataset / "context/staff_changes.parquet").to_pylist()
    mutual = {c["user_id"] for c in changes if "Mutual Aid" in c["unit"]}
    assert len(mutual) == 12
    used = np.isin(user, list(mutual))
    assert used.sum() > 0
    surge0, surge1 = _ms(dt.date(2025, 3, 9)), _ms(dt.date(2025, 3, 13))
    # a day's slack each side for the time zone and shift overruns
    assert ts[used].min() >= surge0 - 86_400_000 and ts[used].max() <= surge1 + 86_400_000
    for c in changes:
        mine = ts[user == c["user_id"]]
        if c["change"] == "left" and len(mine):
            assert mine.max() < _ms(c["date"]) + 86_400_000, c
        if c["change"] == "joined" and len(mine):
            assert mine.min() >= _ms(c["date"]) - 86_400_000, c
    staff = pq.read_table(tl_dataset / "context/staff.parquet")
    assert len(set(staff["user_id"].to_pylist())) == staff.num_rows  # a move is not a second account


def test_policy_raises_the_share_of_referenced_checks(tl_dataset: Path) -> None:
    ev = pq.read_table(tl_dataset / "events", columns=["ts", "system", "reference"])
    ts = ev["ts"].cast(pa.int64()).to_numpy()
    pnc = ev["system"].to_numpy(zero_copy_only=False) == "PNC"
    has_ref = ev["reference"].is_valid().to_numpy(zero_copy_only=False)
    before = has_ref[pnc & (ts < _ms(dt.date(2025, 3, 6)))].mean()
    after = has_ref[pnc & (ts >= _ms(dt.date(2025, 3, 10)))].mean()
    assert after > before + 0.1 and after > 0.85


def test_surge_multiplies_the_areas_incidents(tl_dataset: Path) -> None:
    inc = pq.read_table(tl_dataset / "context/incidents.parquet", columns=["opened", "area"])
    t = inc["opened"].cast(pa.int64()).to_numpy()
    south = inc["area"].to_numpy(zero_copy_only=False) == "South"
    during = (t >= _ms(dt.date(2025, 3, 9))) & (t < _ms(dt.date(2025, 3, 12)))
    before = (t >= _ms(dt.date(2025, 3, 3))) & (t < _ms(dt.date(2025, 3, 6)))
    north_ratio = (~south & during).sum() / max((~south & before).sum(), 1)
    south_ratio = (south & during).sum() / max((south & before).sum(), 1)
    assert south_ratio > 1.8 * north_ratio


def test_misuse_goes_on_through_the_changes(tl_dataset: Path) -> None:
    lab = pq.read_table(tl_dataset / "truth/labels.parquet")
    ev = pq.read_table(tl_dataset / "events", columns=["event_id", "ts"])
    labelled = np.isin(ev["event_id"].to_numpy(), lab["event_id"].to_numpy())
    ts = ev["ts"].cast(pa.int64()).to_numpy()
    assert labelled[ts >= _ms(dt.date(2025, 3, 9))].sum() > 0


@pytest.mark.slow
def test_same_fingerprint_with_one_and_two_workers(tmp_path: Path, tl_dataset: Path) -> None:
    r = simulate(_write(tmp_path, TIMELINE), tmp_path / "two", workers=2)
    assert r.fingerprint == json.loads((tl_dataset / "manifest.json").read_text())["fingerprint"]


# -- robustness ------------------------------------------------------------------------------

@pytest.mark.skipif(SCRIPT is None, reason="the snoopbench console script is not installed")
def test_score_reports_before_and_after_each_dated_change(tl_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = _cli(["score", str(tl_dataset), "-d", "off_shift", "--json", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "robustness" in r.stdout
    rows = {d["name"]: d for d in json.loads(out.read_text())["detectors"]}
    for name in ("off_shift", "null", "random"):
        got = {(c["kind"], c["name"]) for c in rows[name]["robustness"]}
        assert got == {("reorganisation", "One command"), ("surge", "Operation Test"),
                       ("policy", "PNC reference")}
    for c in rows["off_shift"]["robustness"]:
        b, a = c["before"], c["after"]
        assert c["false_alerts_doubled"] == (a["false_alerts_per_day"] > b["false_alerts_per_day"]
                                             and a["false_alerts_per_day"] >= 2 * b["false_alerts_per_day"])
    assert all(not c["false_alerts_doubled"] and not c["recall_halved"] for c in rows["null"]["robustness"])


def _period(user, day, episode, kinds, n_staff=50) -> Period:
    return Period(user=np.asarray(user, np.int32), day=np.asarray(day, np.int32),
                  episode=np.asarray(episode, np.int64), kinds=np.asarray(kinds, object),
                  n_staff=n_staff, n_days=int(max(day) - min(day) + 1) if len(day) else 1)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_window_over_the_whole_period_is_the_scoring_rules(data) -> None:
    n = data.draw(st.integers(1, 60))
    user = data.draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))
    day = data.draw(st.lists(st.integers(20000, 20012), min_size=n, max_size=n))
    n_ep = data.draw(st.integers(0, 4))
    episode = data.draw(st.lists(st.integers(-1, n_ep - 1), min_size=n, max_size=n))
    p = _period(user, day, episode, ["k"] * n_ep)
    a_users = data.draw(st.lists(st.integers(1, 6), max_size=20))
    a_days = data.draw(st.lists(st.integers(20000, 20012), min_size=len(a_users), max_size=len(a_users)))
    alerts = user_day_keys(np.array(a_users, np.int32), np.array(a_days, np.int32))
    lo, hi = min(day), max(day) + 1
    inside = (np.asarray(a_days, np.int64) >= lo) & (np.asarray(a_days, np.int64) < hi)
    w = window(p, alerts, lo, hi)
    m = evaluate_alerts(p, alerts[inside])
    assert w.recall == m.recall
    assert w.n_caught == m.n_caught and w.n_episodes == m.n_episodes
    assert w.false_alerts_per_day == pytest.approx(m.false_alerts_per_day)  # both over hi - lo days


def test_flags_follow_the_published_rule() -> None:
    # Episode 0 caught before the change, episode 1 missed after it; false alerts 1 -> 2 a day.
    p = _period(user=[1, 2], day=[20010, 20040], episode=[0, 1], kinds=["a", "a"])
    before = [user_day_keys(np.array([1]), np.array([20010]))[0]]
    fa_before = user_day_keys(np.full(28, 9, np.int32), np.arange(20002, 20030, dtype=np.int32))
    fa_after = user_day_keys(np.repeat(np.array([9, 8], np.int32), 28),
                             np.tile(np.arange(20030, 20058, dtype=np.int32), 2))
    alerts = np.unique(np.r_[before, fa_before, fa_after])
    change = Change("policy", "P", dt.date(1970, 1, 1) + dt.timedelta(days=20030))
    (row,) = robustness_rows(p, alerts, [change], dt.date(1970, 1, 1) + dt.timedelta(days=20000),
                             dt.date(1970, 1, 1) + dt.timedelta(days=20070))
    assert row.before.recall == 1.0 and row.after.recall == 0.0 and row.recall_halved
    assert row.before.false_alerts_per_day == pytest.approx(1.0)
    assert row.after.false_alerts_per_day == pytest.approx(2.0) and row.false_alerts_doubled
    # A change at the period's start has no window before it: no row.
    assert robustness_rows(p, alerts, [Change("seasons", "S", dt.date(1970, 1, 1) + dt.timedelta(days=20000))],
                           dt.date(1970, 1, 1) + dt.timedelta(days=20000),
                           dt.date(1970, 1, 1) + dt.timedelta(days=20070)) == []


def test_the_report_tables_and_flags_come_from_the_rows() -> None:
    from types import SimpleNamespace

    from snoopbench.benchmarks.bench_robustness import robustness_html
    from snoopbench.benchmarks.results import DetectorResult
    from snoopbench.benchmarks.robustness import flagged_changes

    def row(fa_b, fa_a, r_b, r_a, doubled, halved):
        w = lambda fa, r: {"days": 28, "false_alerts_per_day": fa, "recall": r, "n_episodes": 4, "n_caught": 2}
        return {"kind": "surge", "name": "Op <X>", "date": "2025-08-04", "before": w(fa_b, r_b),
                "after": w(fa_a, r_a), "false_alerts_doubled": doubled, "recall_halved": halved}
    steady = DetectorResult("steady", "ok", robustness=[row(1.0, 1.2, 0.5, 0.5, False, False)])
    fragile = DetectorResult("fragile", "ok", robustness=[row(1.0, 2.5, 0.5, 0.2, True, True)])
    assert flagged_changes(steady.robustness) == []
    assert flagged_changes(fragile.robustness) == ["Op <X> (false alerts x2, recall /2)"]
    page = "\n".join(robustness_html([SimpleNamespace(result=SimpleNamespace(detectors=[steady, fragile]))]))
    assert "Op &lt;X&gt;" in page and "<X>" not in page  # escaped
    assert page.count("<tr>") == 3 and "false alerts x2" in page and "2.50" in page
    assert robustness_html([SimpleNamespace(result=SimpleNamespace(detectors=[DetectorResult("n", "ok")]))]) == []
