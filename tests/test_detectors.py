"""What each built-in rule claims to flag, it flags: hand-made events scored against a real force.

The force is a four-day run of the tiny scenario (two days of warm-up). Each test fits a detector
on its context and warm-up, then scores a few events written for the purpose, placed on a shift
after the warm-up: the look-up the rule exists for must outscore its legitimate counterpart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from snoopbench.contract.info import DatasetInfo
from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.worker import load_context
from snoopbench.detectors import create
from snoopbench.detectors.base import Detector
from snoopbench.detectors.checks import (
    check_batch_invariance, check_deterministic, check_no_look_ahead, run_stream,
)
from snoopbench.detectors.columns import NEVER, codes
from snoopbench.detectors.lookups import BucketSearch, HashIndex, HashMap, IdIndex, RankBitmap, Vocabulary
from snoopbench.detectors.streams import Groups, RunningMax, RunningSum
from snoopbench.detectors.tasking import Holdings
from snoopbench.simulator.run import simulate
from snoopbench.contract.schema import EVENTS

HOUR = 3_600_000


@dataclass
class Force:
    context: dict[str, pa.Table]
    history: pa.Table
    period: pa.Table
    info: DatasetInfo

    def rows(self, table: str) -> list[dict]:
        return self.context[table].to_pylist()


@pytest.fixture(scope="module")
def force(tmp_path_factory: pytest.TempPathFactory) -> Force:
    root: Path = tmp_path_factory.mktemp("force") / "tiny"
    simulate("tiny", root, days=4)
    ds = open_dataset(root)
    period = scoring_period(ds, truth_dir_of(ds, None))
    events = pa.concat_tables(pq.read_table(p) for p in ds.parts)
    return Force(load_context(ds.context_dir), events.slice(0, period.n_warmup),
                 events.slice(period.n_warmup), ds.info)


def ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def batch(*rows: dict) -> pa.RecordBatch:
    """Events from dicts holding at least ts and user_id (ms); the rest gets plain defaults."""
    base = {"system": "RMS", "action": "view", "entity_type": "person", "entity_id": 0,
            "reference": None, "workstation_id": 1}
    full = [{**base, **r, "event_id": 10**12 + i} for i, r in enumerate(rows)]
    full.sort(key=lambda r: (r["ts"], r["event_id"]))
    cols = {f.name: pa.array([r[f.name] for r in full], f.type) for f in EVENTS.schema}
    return pa.RecordBatch.from_pydict(cols, schema=EVENTS.schema)


def fitted(ident: str, force: Force, context: dict[str, pa.Table] | None = None) -> Detector:
    det = create(ident)
    det.fit(context or force.context, force.history, force.info)
    return det


def scores(det: Detector, *rows: dict) -> np.ndarray:
    """Scores of ``rows`` in the order given (the batch is sorted by time for scoring)."""
    b = batch(*rows)
    got = dict(zip(b.column("event_id").to_pylist(), det.score(b)))
    return np.array([got[10**12 + i] for i in range(len(rows))])


def late_shift(force: Force, user: int) -> tuple[int, int]:
    """A rostered shift of ``user`` after the warm-up, as (start, end) in UTC ms."""
    after = force.history["ts"][-1].as_py()
    shifts = [(ms(s["start"]), ms(s["end"])) for s in force.rows("shifts")
              if s["user_id"] == user and s["start"] > after]
    if not shifts:
        pytest.skip(f"user {user} has no shift after the warm-up")
    return min(shifts)


def users_with_late_shifts(force: Force) -> list[int]:
    after = force.history["ts"][-1].as_py()
    return sorted({s["user_id"] for s in force.rows("shifts") if s["start"] > after})


def test_relationship_scores_a_declared_relation_above_a_stranger(force: Force) -> None:
    people = {p["person_id"]: p for p in force.rows("people")}
    staff = {s["user_id"]: s for s in force.rows("staff")}
    staff_people = {s["person_id"] for s in staff.values()}
    declared = {}
    for r in force.rows("declared_relations"):
        declared.setdefault(r["user_id"], set()).add(r["person_id"])
    user = next(u for u in users_with_late_shifts(force) if u in declared)
    mine = people[staff[user]["person_id"]]
    relative = sorted(declared[user])[0]
    stranger = next(p for p in sorted(people) if p not in declared[user] and p not in staff_people
                    and people[p]["surname"] != mine["surname"]
                    and people[p]["address_id"] != mine["address_id"])
    start, _ = late_shift(force, user)
    det = fitted("relationship", force)
    s = scores(det, {"ts": start + HOUR, "user_id": user, "entity_id": relative},
               {"ts": start + HOUR + 60_000, "user_id": user, "entity_id": stranger})
    assert s[0] > 0 and s[1] == 0


def test_relationship_scores_a_team_mates_record(force: Force) -> None:
    staff = force.rows("staff")
    by_unit: dict[str, list[dict]] = {}
    for s in staff:
        by_unit.setdefault(s["unit"], []).append(s)
    user = next(u for u in users_with_late_shifts(force)
                if len(by_unit[next(s for s in staff if s["user_id"] == u)["unit"]]) > 1)
    unit = next(s for s in staff if s["user_id"] == user)["unit"]
    mate = next(s for s in by_unit[unit] if s["user_id"] != user)
    start, _ = late_shift(force, user)
    s = scores(fitted("relationship", force),
               {"ts": start + HOUR, "user_id": user, "entity_id": mate["person_id"]})
    assert s[0] > 0


def test_canary_scores_only_a_canary_touch(force: Force) -> None:
    canary = force.rows("canaries")[0]
    user = users_with_late_shifts(force)[0]
    start, _ = late_shift(force, user)
    s = scores(fitted("canary", force),
               {"ts": start + HOUR, "user_id": user, "entity_type": canary["entity_type"],
                "entity_id": canary["entity_id"], "system": "PNC", "action": "search"},
               {"ts": start + HOUR, "user_id": user, "entity_id": canary["entity_id"] + 1})
    assert s[0] == 1.0 and s[1] == 0.0


def test_off_shift_scores_by_distance_from_the_shift(force: Force) -> None:
    user = users_with_late_shifts(force)[0]
    start, end = late_shift(force, user)
    s = scores(fitted("off_shift", force),
               {"ts": (start + end) // 2, "user_id": user},
               {"ts": end + 3 * HOUR, "user_id": user},
               {"ts": end + 5 * HOUR, "user_id": user})
    assert s[0] == 0 and 0 < s[1] < s[2]


def held_reference(force: Force, user: int, start: int) -> dict:
    """A tasking row of ``user`` live at ``start``, for an incident with a known incident id."""
    incidents = {i["reference"]: i for i in force.rows("incidents")}
    for t in force.rows("tasking"):
        until = t.get("until")
        if (t["user_id"] == user and t["reference"] in incidents and ms(t["since"]) < start
                and (until is None or ms(until) > start + 2 * HOUR)):
            return {**t, "incident_id": incidents[t["reference"]]["incident_id"]}
    pytest.skip(f"user {user} holds no incident at {start}")


def user_holding_an_incident(force: Force) -> tuple[int, int, dict]:
    for user in users_with_late_shifts(force):
        start, _ = late_shift(force, user)
        try:
            return user, start, held_reference(force, user, start)
        except pytest.skip.Exception:
            continue
    pytest.skip("nobody holds an incident after the warm-up")


def test_explanation_scores_an_unexplained_access_above_an_explained_one(force: Force) -> None:
    user, start, held = user_holding_an_incident(force)
    det = fitted("explanation", force)
    row = {"user_id": user, "system": "CAD", "entity_type": "incident",
           "entity_id": held["incident_id"]}
    s = scores(det, {**row, "ts": start + HOUR, "reference": held["reference"]},
               {**row, "ts": start + HOUR, "reference": None, "entity_id": 1},
               {**row, "ts": start + HOUR, "system": "PNC", "entity_type": "person",
                "entity_id": 5, "action": "search"})
    assert s[0] == 0 and s[1] > 0 and s[2] > 0


def test_explanation_respects_since_and_until(force: Force) -> None:
    user, start, held = user_holding_an_incident(force)
    row = {"user_id": user, "system": "CAD", "entity_type": "incident",
           "entity_id": held["incident_id"], "reference": held["reference"]}
    since = ms(held["since"])
    context = dict(force.context)
    tasking = force.context["tasking"]
    mine = pc.and_(pc.equal(tasking["user_id"], user), pc.equal(tasking["reference"],
                                                                 held["reference"]))
    until = pa.array([dt.datetime.fromtimestamp((start + 2 * HOUR) / 1000, dt.timezone.utc)] *
                     tasking.num_rows, pa.timestamp("ms", tz="UTC"))
    if "until" in tasking.column_names:
        cut = pc.if_else(mine, until, tasking["until"].cast(until.type))
        tasking = tasking.set_column(tasking.column_names.index("until"), "until", cut)
    else:
        tasking = tasking.append_column("until", pc.if_else(mine, until, pa.nulls(
            tasking.num_rows, until.type)))
    context["tasking"] = tasking
    det = fitted("explanation", force, context)
    s = scores(det, {**row, "ts": max(since - HOUR, 1)}, {**row, "ts": start + HOUR},
               {**row, "ts": start + 3 * HOUR})
    assert s[1] == 0 and s[0] > 0 and s[2] > 0


def test_vip_scores_a_flagged_record_opened_by_someone_not_on_the_case(force: Force) -> None:
    flagged = force.rows("sensitive_records")
    if not flagged:
        pytest.skip("no sensitive records")
    record = max(flagged, key=lambda r: r["since"])
    user = users_with_late_shifts(force)[0]
    start, _ = late_shift(force, user)
    when = max(start + HOUR, ms(record["since"]) + 1)
    s = scores(fitted("vip", force),
               {"ts": when, "user_id": user, "entity_type": record["entity_type"],
                "entity_id": record["entity_id"]},
               {"ts": when, "user_id": user, "entity_type": "crime", "entity_id": 1})
    assert s[0] > 0 and s[1] == 0


def test_watchlist_scores_a_network_member_looked_up_without_a_task(force: Force) -> None:
    member = next(w for w in force.rows("watchlists") if w["entity_type"] == "person")
    listed = {w["entity_id"] for w in force.rows("watchlists")}
    other = next(p["person_id"] for p in force.rows("people") if p["person_id"] not in listed)
    user = users_with_late_shifts(force)[0]
    start, _ = late_shift(force, user)
    s = scores(fitted("watchlist", force),
               {"ts": start + HOUR, "user_id": user, "system": "PNC", "action": "search",
                "entity_id": member["entity_id"]},
               {"ts": start + HOUR, "user_id": user, "system": "PNC", "action": "search",
                "entity_id": other})
    assert s[0] > 0 and s[1] == 0


def test_media_export_scores_an_unlinked_export_above_a_linked_one(force: Force) -> None:
    user, start, held = user_holding_an_incident(force)
    media = [r for r in force.rows("records") if r["entity_type"] == "media"]
    linked = next((m for m in media if m["reference"] == held["reference"]), None)
    unlinked = next(m for m in media if m["reference"] not in (None, held["reference"]))
    row = {"user_id": user, "system": "DEMS", "entity_type": "media", "action": "export"}
    rows = [{**row, "ts": start + HOUR, "entity_id": unlinked["entity_id"]}]
    if linked is not None:
        rows.append({**row, "ts": start + HOUR, "entity_id": linked["entity_id"],
                     "reference": held["reference"]})
    s = scores(fitted("media_export", force), *rows)
    assert s[0] > 0 and (linked is None or s[1] == 0)


def test_volume_flags_a_burst_in_a_system_the_user_rarely_touches(force: Force) -> None:
    user = users_with_late_shifts(force)[0]
    start, _ = late_shift(force, user)
    burst = [{"ts": start + HOUR + i * 1000, "user_id": user, "system": "ANPR",
              "entity_type": "vehicle", "action": "search", "entity_id": i} for i in range(200)]
    s = scores(fitted("volume", force), *burst)
    assert s[0] == 0 and s[-1] > 0 and np.all(np.diff(s[s > 0]) >= 0)


def test_random_audit_picks_whole_user_days_at_the_share_asked(force: Force) -> None:
    period = force.period
    picked = run_stream(fitted("random_audit:share=0.3", force), period, 5000)
    user = period["user_id"].to_numpy()
    day = period["ts"].cast(pa.int64()).to_numpy() // (24 * HOUR)  # early March: London is UTC
    keys = day * 100_000 + user
    for k in np.unique(keys)[:50]:
        assert len(np.unique(picked[keys == k])) == 1  # one value per user-day
    share = np.mean([picked[keys == k][0] > 0 for k in np.unique(keys)])
    assert 0.2 < share < 0.4
    assert not run_stream(fitted("random_audit:share=0", force), period, 5000).any()


def test_ensemble_ranks_an_off_shift_look_up_of_a_relative_above_routine_work(force: Force
                                                                              ) -> None:
    staff = {s["user_id"]: s for s in force.rows("staff")}
    declared = {r["user_id"]: r["person_id"] for r in force.rows("declared_relations")}
    flagged = pa.array([r["entity_id"] for r in force.rows("sensitive_records")], pa.int64())

    def routine_of(u: int) -> pa.Table:
        return force.period.filter(pc.equal(force.period["user_id"], u)).slice(0, 20)

    # Routine work: a user whose first look-ups touch no restricted record (a notable case's team
    # legitimately does, and the rules on restricted records rightly fire on it).
    user = next(u for u in users_with_late_shifts(force)
                if u in declared and not pc.any(pc.is_in(routine_of(u)["entity_id"], flagged)).as_py())
    start, end = late_shift(force, user)
    routine = routine_of(user)
    base = run_stream(fitted("ensemble", force), routine, 1000).max() if routine.num_rows else 0.0
    s = scores(fitted("ensemble", force), {"ts": end + 3 * HOUR, "user_id": user, "system": "PNC",
                     "action": "search", "entity_id": declared[user]})
    assert staff[user] and s[0] > base


def test_isolation_forest_scores_whole_user_days(force: Force) -> None:
    pytest.importorskip("sklearn")
    det = fitted("isolation_forest", force)
    assert det.retrospective
    s = run_stream(det, force.period, None)
    assert np.isfinite(s).all() and s.std() > 0
    user = force.period["user_id"].to_numpy()
    day = force.period["ts"].cast(pa.int64()).to_numpy() // (24 * HOUR)
    k = (day * 100_000 + user)[0]
    mask = (day * 100_000 + user) == k
    assert len(np.unique(s[mask])) == 1


def test_isolation_forest_without_scikit_learn_says_what_to_install(force: Force,
                                                                    monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match="scikit-learn"):
        create("isolation_forest").fit(force.context, force.history, force.info)


@pytest.mark.parametrize("check", [check_deterministic, check_no_look_ahead,
                                   check_batch_invariance], ids=lambda c: c.__name__)
@pytest.mark.parametrize("ident", ["explanation", "relationship", "vip", "watchlist",
                                   "media_export", "volume", "ensemble"])
def test_rules_keep_the_contract_on_a_real_force(ident: str, check, force: Force) -> None:
    """The synthetic dataset of the conformance suite has almost no context: here the rules'
    streaming state (paths, crowds, counts, calibration at midnight) is actually exercised,
    on events that run over a local midnight."""
    ts = force.period["ts"].cast(pa.int64()).to_numpy()
    midnight = int(np.searchsorted(ts, (ts[0] // (24 * HOUR) + 1) * 24 * HOUR))
    events = force.period.slice(max(midnight - 10_000, 0), 20_000)
    assert events["ts"][0].as_py().day != events["ts"][-1].as_py().day
    check(lambda: create(ident), force.context, force.history, events, force.info)


# --- the lookups and running state the rules are built on, against their plain definitions


def test_lookups_agree_with_a_binary_search() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        n_cells = int(rng.integers(1, 20_000))
        keys = np.unique(rng.integers(0, n_cells, int(rng.integers(0, 500))))
        query = rng.integers(-3, n_cells + 50, 1000)
        pos = np.searchsorted(keys, query)
        hit = (pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == query) \
            if len(keys) else np.zeros(len(query), bool)
        expected = np.where(hit, pos, -1)
        assert np.array_equal(RankBitmap(keys, n_cells)(query), expected)
        assert np.array_equal(HashIndex(keys)(query), expected)
        assert np.array_equal(IdIndex(keys)(query), expected)


def test_bucket_search_agrees_with_searchsorted() -> None:
    rng = np.random.default_rng(8)
    for _ in range(50):
        keys = np.sort(rng.integers(0, 10_000, int(rng.integers(0, 300))))
        width = int(rng.integers(1, 500))
        n_buckets = 10_000 // width + 1
        search = BucketSearch(keys, keys // width, n_buckets)
        query = rng.integers(-100, 10_100, 1000)
        got = search.right(query, np.clip(query // width, 0, n_buckets - 1))
        assert np.array_equal(got, np.searchsorted(keys, query, side="right"))


def test_hash_map_keeps_the_last_value_set() -> None:
    rng = np.random.default_rng(9)
    m, plain = HashMap(4), {}
    for _ in range(30):
        keys = np.unique(rng.integers(-2, 3000, 200))
        values = rng.integers(0, 10**9, len(keys))
        m.set(keys, values)
        plain.update((k, v) for k, v in zip(keys.tolist(), values.tolist()) if k >= 0)
    query = np.arange(-5, 3100)
    found, got = m.get(query, default=-7)
    assert np.array_equal(found, [q in plain for q in query.tolist()])
    assert np.array_equal(got, [plain.get(q, -7) for q in query.tolist()])


def test_groups_keep_time_order_within_a_key() -> None:
    rng = np.random.default_rng(10)
    for keys in (rng.integers(0, 5, 1000), rng.integers(0, 2**62, 1000) >> rng.integers(0, 60),
                 np.zeros(0, np.int64), np.array([3])):
        assert np.array_equal(Groups(keys).order, np.argsort(keys, kind="stable"))


def test_running_sums_and_maxima_count_over_batches_and_forget_past_days() -> None:
    rng = np.random.default_rng(11)
    sums, maxima, totals, tops = RunningSum(np.float64), RunningMax(), {}, {}
    for day in range(3):
        for _ in range(4):
            keys = (day << 32) | rng.integers(0, 50, 300)
            w, v = rng.random(300), rng.integers(0, 1000, 300)
            g = Groups(keys)
            got_sum, got_max = sums.update(g, w), maxima.update(g, v)
            for k, wi, vi, s, m in zip(keys.tolist(), w, v.tolist(), got_sum, got_max):
                totals[k] = totals.get(k, 0.0) + wi
                tops[k] = max(tops.get(k, 0), vi)
                assert s == pytest.approx(totals[k]) and m == tops[k]
        maxima.forget_below((day + 1) << 32)
        assert not maxima.get(np.array([(day << 32) | 1]), 0).any()
    with pytest.raises(ValueError, match="non-negative"):
        sums.put(np.array([-1]), np.array([1.0]))


def test_vocabulary_codes_agree_with_index_in() -> None:
    vocabulary = pa.array(["INC 1", "SF/2/25", "", "a much longer reference than most"])
    values = pa.array(["SF/2/25", None, "", "unknown", "INC 1",
                       "a much longer reference than most"])
    expected = codes(values, vocabulary)
    assert expected.tolist() == [1, -1, 2, -1, 0, 3]
    assert np.array_equal(Vocabulary(vocabulary)(values), expected)
    assert np.array_equal(Vocabulary(vocabulary)(values.slice(2)), expected[2:])


def test_holdings_agree_with_their_intervals() -> None:
    rng = np.random.default_rng(12)
    for _ in range(30):
        n = int(rng.integers(0, 200))
        user, case = rng.integers(-1, 6, n), rng.integers(-1, 8, n)
        since = rng.integers(-50, 1000, n)
        until = np.where(rng.random(n) < 0.2, NEVER, since + rng.integers(-5, 300, n))
        held = Holdings(user, case, since, until, 6, 8)
        qu, qc = rng.integers(-1, 6, 2000), rng.integers(-1, 8, 2000)
        # times before 1970 (a batch with one takes another path) are not compared: starts
        # are clipped to 1970 there
        qt = rng.integers(-100 if rng.random() < 0.5 else 0, 1400, 2000)
        clipped = np.clip(since, 0, None)
        expected = [bool(np.any((user == u) & (case == c) & (clipped <= t) & (t <= until)))
                    if u >= 0 and c >= 0 else False for u, c, t in zip(qu, qc, qt)]
        assert np.array_equal(held(qu, qc, qt)[qt >= 0], np.array(expected)[qt >= 0])
