"""Per-episode results and explanations: rows consistent with the aggregate metrics, the
explanation filter, explanations through the sandbox, accuracy against the truth, explain CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.episodes import (EpisodeTruth, ExplanationScore, episode_rows,
                                            episodes_path, named_entities, recall_by)
from snoopbench.benchmarks.explanations import CandidateFilter
from snoopbench.benchmarks.harness import score_dataset
from snoopbench.benchmarks.metrics import Period, evaluate_alerts, select_alerts
from snoopbench.contract.info import user_day_keys

from fake_detectors import register_fakes

register_fakes()
SKILLS = ("naive", "careful", "expert")


def _truth(n: int, kinds, skills, targets) -> EpisodeTruth:
    return EpisodeTruth(episode_id=np.arange(100, 100 + n), kind=np.asarray(kinds, object),
                        skill=np.asarray(skills, object), actor_id=np.arange(n) + 1,
                        proxy_id=np.full(n, -1), start_ms=np.zeros(n, np.int64),
                        targets=[frozenset(t) for t in targets])


@st.composite
def labelled_periods(draw):
    n_ep = draw(st.integers(1, 6))
    n_ev = draw(st.integers(1, 40))
    episode = np.array(draw(st.lists(st.integers(0, n_ep - 1), min_size=n_ev, max_size=n_ev)),
                       np.int32)
    user = np.array(draw(st.lists(st.integers(1, 5), min_size=n_ev, max_size=n_ev)), np.int32)
    day = np.sort(np.array(draw(st.lists(st.integers(20000, 20008), min_size=n_ev,
                                         max_size=n_ev)), np.int32))
    kinds = draw(st.lists(st.sampled_from(["family", "pursuit", "curiosity"]), min_size=n_ep,
                          max_size=n_ep))
    skills = draw(st.lists(st.sampled_from(SKILLS), min_size=n_ep, max_size=n_ep))
    period = Period(user=user, day=day, episode=episode, kinds=np.asarray(kinds, object),
                    n_staff=5, n_days=9)
    keys = np.unique(user_day_keys(user, day))
    alerted = keys[np.array(draw(st.lists(st.booleans(), min_size=len(keys),
                                          max_size=len(keys))), bool)]
    return period, _truth(n_ep, kinds, skills, [()] * n_ep), alerted


@settings(max_examples=200)
@given(labelled_periods())
def test_episode_rows_agree_with_the_aggregate_recall(case):
    period, truth, alerted = case
    rows = episode_rows(truth, SimpleNamespace(labelled=period), alerted)
    m = evaluate_alerts(period, alerted)
    assert len(rows) == m.n_episodes == len(np.unique(period.episode))
    assert sum(r.caught for r in rows) == m.n_caught
    assert recall_by(rows, "kind") == pytest.approx(m.recall_by_kind)
    assert sorted(r.days_to_detect for r in rows if r.caught) == sorted(m.ttd_days)
    for r in rows:  # the first alerted day is one of the alerts, on one of the episode's users
        assert r.caught == (r.first_alert_day is not None)
        if r.caught:
            assert any(a["holds_episode"] and a["date"] == r.first_alert_day for a in r.alerts)
    by_ks = recall_by(rows, "kind", "skill")
    for skill, value in recall_by(rows, "skill").items():
        of = [r for r in rows if r.skill == skill]
        assert value == pytest.approx(sum(r.caught for r in of) / len(of))
        assert all(k.endswith("/" + skill) for k in by_ks if k.split("/")[1] == skill)


def test_accuracy_counts_an_explanation_naming_a_target():
    # episode 0: targets person 7; episode 1: media 9 (as media_exfiltration's are); events on
    # user 1 day 20000 (ep 0) and user 2 days 20001-20002 (ep 1); episode 2 is missed
    period = Period(user=np.array([1, 2, 2, 3], np.int32),
                    day=np.array([20000, 20001, 20002, 20002], np.int32),
                    episode=np.array([0, 1, 1, 2], np.int32),
                    kinds=np.array(["family", "media_exfiltration", "curiosity"], object),
                    n_staff=3, n_days=3)
    truth = _truth(3, period.kinds, ["naive", "careful", "expert"],
                   [{("person", 7), ("address", 70)}, {("media", 9)}, {("person", 1)}])
    alerted = user_day_keys(np.array([1, 2, 2]), np.array([20000, 20001, 20002]))
    explanations = {int(alerted[0]): "relationship: person:7, a relation the user declared",
                    int(alerted[1]): "media_export: DEMS export media:10 about person:9",
                    int(alerted[2]): "media_export: DEMS export media:9"}
    rows = episode_rows(truth, SimpleNamespace(labelled=period), alerted, explanations)
    assert [r.caught for r in rows] == [True, True, False]
    # episode 1 was caught on its first day, whose explanation names media 10 and person 9:
    # neither is its target (person 9 is not media 9); the later, right explanation does not count
    assert [r.names_target for r in rows] == [True, False, None]
    assert rows[1].first_alert_day == "2024-10-05" and rows[1].days_to_detect == 0
    score = ExplanationScore.of(rows)
    assert (score.n_caught, score.n_explained, score.n_named_target) == (2, 2, 1)
    assert score.accuracy == 0.5
    assert named_entities("x person:12, vehicle:3; person:12 notaperson:4") == \
        {("person", 12), ("vehicle", 3)}


@settings(max_examples=150)
@given(st.integers(1, 3), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3),
                                             st.integers(0, 5)), min_size=1, max_size=80),
       st.integers(1, 30), st.sampled_from([1, 10_000_000]))
def test_the_explanation_filter_keeps_every_alert_top_event(per_day, events, batch, spread):
    """Whatever the batches (and however spread out the user ids), the top event (first of the
    highest) of every user-day that can be an alert is among the events the worker asks to
    explain."""
    events = sorted(events, key=lambda e: e[1])  # time order: days rise
    user = np.array([e[0] for e in events], np.int64) * spread
    day = np.array([e[1] for e in events], np.int64)
    score = np.array([e[2] for e in events], np.float64)
    f = CandidateFilter(per_day)
    asked = set()
    for lo in range(0, len(events), batch):
        asked |= set((lo + f.add(user[lo:lo + batch], day[lo:lo + batch],
                                 score[lo:lo + batch])).tolist())
    keys = user_day_keys(user, day)
    ukeys, inverse = np.unique(keys, return_inverse=True)
    best = np.full(len(ukeys), -np.inf)
    np.maximum.at(best, inverse, score)
    alerts = select_alerts(ukeys, best, per_day)
    for k in np.flatnonzero(alerts):
        top = np.flatnonzero((inverse == k) & (score == best[k]))[0]
        assert top in asked
    assert len(asked) <= len(events)


@pytest.fixture(scope="module")
def explain_exec(tmp_path_factory) -> Path:
    script = tmp_path_factory.mktemp("exec-explain") / "explains.py"
    script.write_text(
        "import os, sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "events, out = sys.argv[1:]\n"
        "t = pa.concat_tables(pq.read_table(os.path.join(events, p)) for p in sorted(os.listdir(events)))\n"
        "text = [f'exec {a}:{b}' for a, b in zip(t['entity_type'].to_pylist(), t['entity_id'].to_pylist())]\n"
        "pq.write_table(pa.table({'event_id': t['event_id'], 'score': t['entity_id'].cast(pa.float64()),\n"
        "                         'explanation': text}), out)\n")
    return script


def _expected(period, truth, events: pa.Table, prefix: str) -> dict[int, tuple[str, bool]]:
    """Per caught episode: the explanation of its first alerted user-day's top event (score =
    entity id, the first on a tie), and whether that names one of its targets."""
    scored = events.slice(period.n_warmup)
    user = scored["user_id"].to_numpy()
    ts = scored["ts"].cast(pa.int64()).to_numpy()
    day = period.dataset.info.local_days(ts)
    keys = user_day_keys(user, day)
    eid = scored["entity_id"].to_numpy()
    etype = scored["entity_type"].to_pylist()
    out = {}
    for key in np.unique(keys):
        at = np.flatnonzero(keys == key)
        top = at[np.argmax(eid[at])]
        out[int(key)] = f"{prefix} {etype[top]}:{eid[top]}"
    return out


@pytest.mark.parametrize("kind", ["python", "exec"])
def test_explanations_come_back_from_the_sandbox(synthetic_dataset, explain_exec, kind):
    spec = "fake_explainer" if kind == "python" else \
        f"exec:{sys.executable} {explain_exec} {{events}} {{out}}"
    result = score_dataset(synthetic_dataset, [spec], budget=100.0)
    row = next(d for d in result.detectors if d.name == spec)
    assert row.status == "ok", row.error
    ds = open_dataset(synthetic_dataset)
    period = scoring_period(ds, truth_dir_of(ds, None))
    truth = EpisodeTruth.load(period, synthetic_dataset / "truth")
    events = pa.concat_tables(pq.read_table(p) for p in ds.parts)
    expected = _expected(period, truth, events, kind)
    caught = [r for r in row.episodes if r.caught]
    assert caught, "the budget is large enough to catch some episodes"
    index = {int(i): n for n, i in enumerate(truth.episode_id)}
    for r in caught:
        key = int(user_day_keys(np.array([r.alert_user_id]), np.array(
            [(np.datetime64(r.first_alert_day) - np.datetime64("1970-01-01")).astype(int)]))[0])
        assert r.explanation == expected[key]
        assert r.names_target == bool(named_entities(r.explanation) & truth.targets[index[r.episode_id]])
    # the baselines do not explain
    assert all(e.explanation is None for d in result.detectors if d.name in ("null", "random")
               for e in d.episodes)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snoopbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_score_writes_episode_rows_and_explain_shows_an_episode(synthetic_dataset, tmp_path,
                                                                sealed_dataset, explain_exec):
    out = tmp_path / "results.json"
    spec = f"exec:{sys.executable} {explain_exec} {{events}} {{out}}"
    done = _cli("score", str(synthetic_dataset), "-d", spec, "--budget", "100", "--json", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    row = next(d for d in data["detectors"] if d["name"] == spec)
    table = pq.read_table(episodes_path(out))
    mine = table.filter(pa.compute.equal(table["detector"], spec)).to_pylist()
    assert [e["episode_id"] for e in row["episodes"]] == [e["episode_id"] for e in mine]
    assert sum(e["caught"] for e in mine) / len(mine) == pytest.approx(row["recall"])
    assert set(row["recall_by_skill"]) <= set(SKILLS)
    caught = next(e for e in row["episodes"] if e["caught"])

    shown = _cli("explain", str(out), str(caught["episode_id"]))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert f"episode {caught['episode_id']}" in text
    assert "caught on " + caught["first_alert_day"] in text
    assert caught["explanation"] in text

    unknown = _cli("explain", str(out), "424242")
    assert unknown.returncode == 2 and "424242 is not in the results" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    missing = _cli("explain", str(tmp_path / "nope.json"), "1")
    assert missing.returncode == 2 and "no such results file" in missing.stderr
    moved = _cli("explain", str(out), str(caught["episode_id"]), "--dataset", str(tmp_path))
    assert moved.returncode == 2 and "Traceback" not in moved.stderr

    # a sealed dataset: the results name it, and explaining needs its truth
    sealed, kept = sealed_dataset
    out2 = tmp_path / "sealed.json"
    assert _cli("score", str(sealed), "--truth", str(kept), "-d", "random",
                "--json", str(out2)).returncode == 0
    ep = json.loads(out2.read_text())["detectors"][0]["episodes"][0]["episode_id"]
    refused = _cli("explain", str(out2), str(ep))
    assert refused.returncode == 2 and "--truth" in refused.stderr
    assert _cli("explain", str(out2), str(ep), "--truth", str(kept)).returncode == 0


def test_truth_targets_have_the_types_the_accuracy_check_reads(tmp_path):
    """The simulator's targets are media ids for media_exfiltration (each one a clip its events
    touched) and person ids for every other kind: what TARGET_TYPE says."""
    from snoopbench import simulate
    from snoopbench.benchmarks.episodes import TARGET_TYPE

    root = tmp_path / "tiny"
    simulate("tiny", root, days=5)
    episodes = pq.read_table(root / "truth/episodes.parquet").to_pylist()
    labels = pq.read_table(root / "truth/labels.parquet")
    events = pa.concat_tables(pq.read_table(p, columns=["event_id", "entity_type", "entity_id"])
                              for p in sorted((root / "events").glob("*.parquet")))
    people = set(pq.read_table(root / "context/people.parquet")["person_id"].to_pylist())
    by_event = dict(zip(events["event_id"].to_pylist(),
                        zip(events["entity_type"].to_pylist(), events["entity_id"].to_pylist())))
    kinds = {e["kind"] for e in episodes}
    assert "media_exfiltration" in kinds and len(kinds) > 3
    for ep in episodes:
        mine = labels.filter(pa.compute.equal(labels["episode_id"], ep["episode_id"]))
        touched = {by_event[i] for i in mine["event_id"].to_pylist()}
        kind = TARGET_TYPE.get(ep["kind"], "person")
        if kind == "media":
            assert {("media", t) for t in ep["targets"]} <= touched, ep
        else:
            assert set(ep["targets"]) <= people, ep
