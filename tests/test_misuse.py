"""The misuse library on the zoo: every kind and skill leaves the trail real cases left, and nothing else
(ids, ordering, sub-second timing) gives the labels away."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from snoopbench.simulator.run import simulate
from snoopbench.contract.schema import EPISODE_KINDS, SKILLS


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zoo") / "zoo"
    simulate("misuse-zoo", out, days=21, workers=2)
    return out


@pytest.fixture(scope="module")
def data(zoo: Path) -> dict:
    events = pa.concat_tables(pq.read_table(p) for p in sorted((zoo / "events").glob("part-*.parquet")))
    labels = pq.read_table(zoo / "truth" / "labels.parquet")
    episodes = pq.read_table(zoo / "truth" / "episodes.parquet").to_pylist()
    ev = {c: events[c].to_numpy(zero_copy_only=False) for c in events.column_names if c != "ts"}
    ev["ts"] = events["ts"].cast(pa.int64()).to_numpy()
    ep_of = np.full(len(ev["event_id"]), -1)
    ep_of[labels["event_id"].to_numpy()] = labels["episode_id"].to_numpy()
    ctx = {n: pq.read_table(zoo / "context" / f"{n}.parquet") for n in
           ("staff", "shifts", "people", "vehicles", "tasking", "sensitive_records", "watchlists", "canaries",
            "records")}
    rel = pq.read_table(zoo / "truth" / "relations.parquet")
    return {"ev": ev, "ep_of": ep_of, "episodes": {e["episode_id"]: e for e in episodes}, "ctx": ctx, "rel": rel}


def _rows(data: dict, episode_id: int) -> np.ndarray:
    return np.flatnonzero(data["ep_of"] == episode_id)


def test_every_kind_and_skill_with_labelled_events(data: dict) -> None:
    eps = data["episodes"].values()
    pairs = Counter((e["kind"], e["skill"]) for e in eps)
    for kind in EPISODE_KINDS:
        for skill in SKILLS:
            assert pairs[(kind, skill)] >= 1, (kind, skill)
    for e in eps:
        rows = _rows(data, e["episode_id"])
        assert len(rows) == e["n_events"] > 0
        assert data["ev"]["ts"][rows].min() == e["start"].timestamp() * 1000
        assert e["summary"]


def test_labelled_user_is_the_actor_or_for_experts_a_proxy(data: dict) -> None:
    ev, proxied = data["ev"], 0
    for e in data["episodes"].values():
        users = set(ev["user_id"][_rows(data, e["episode_id"])].tolist())
        if e["skill"] != "expert":
            assert users == {e["actor_id"]}
        else:
            assert users - {e["actor_id"]} or e["proxy_id"] is None
            proxied += e["actor_id"] not in users
    assert proxied >= 3, "experts work through colleagues or the control room"


def _person_hits(data: dict, rows: np.ndarray) -> np.ndarray:
    """The person behind each row: a person looked up, the keeper of a vehicle, a resident of an address."""
    ev, ctx = data["ev"], data["ctx"]
    keeper = ctx["vehicles"]["keeper_id"].to_numpy()
    et, eid = ev["entity_type"][rows], ev["entity_id"][rows]
    return np.where(et == "vehicle", keeper[np.minimum(eid, len(keeper) - 1)], np.where(et == "person", eid, -1))


@pytest.mark.parametrize("kind,rel_kinds", [("family", {"family"}), ("partner", {"partner", "ex_partner"}),
                                            ("colleague", {"colleague"}), ("neighbour", {"neighbour"})])
def test_relationship_kinds_look_up_the_actors_true_relations(data: dict, kind: str, rel_kinds: set) -> None:
    rel = data["rel"].to_pylist()
    for e in (x for x in data["episodes"].values() if x["kind"] == kind):
        ties = {r["person_id"] for r in rel if r["user_id"] == e["actor_id"] and r["kind"] in rel_kinds}
        assert set(e["targets"]) <= ties
        hits = _person_hits(data, _rows(data, e["episode_id"]))
        assert set(hits[hits >= 0].tolist()) <= ties


def test_pursuit_goes_from_vehicle_to_keeper_to_address_over_many_women(data: dict) -> None:
    ev, ctx = data["ev"], data["ctx"]
    female = ctx["people"]["sex"].to_numpy(zero_copy_only=False) == "F"
    keeper = ctx["vehicles"]["keeper_id"].to_numpy()
    for e in (x for x in data["episodes"].values() if x["kind"] == "pursuit"):
        rows = _rows(data, e["episode_id"])
        et, eid = ev["entity_type"][rows], ev["entity_id"][rows]
        veh = np.flatnonzero(et == "vehicle")
        assert len(veh)
        i = veh[0]
        assert et[i + 1] == "person" and eid[i + 1] == keeper[eid[i]]
        assert female[keeper[eid[et == "vehicle"]]].all()
        assert ev["reference"][rows].tolist().count(None) == len(rows) or e["skill"] != "naive"
    women = [len(x["targets"]) for x in data["episodes"].values() if x["kind"] == "pursuit"]
    assert max(women) >= 3


def test_media_exfiltration_exports_clips_not_linked_to_the_actor(data: dict) -> None:
    ev, tasking = data["ev"], data["ctx"]["tasking"]
    for e in (x for x in data["episodes"].values() if x["kind"] == "media_exfiltration"):
        rows = _rows(data, e["episode_id"])
        assert set(ev["system"][rows]) == {"DEMS"}
        assert set(ev["action"][rows]) & {"download", "export", "share"}
        assert e["public_at"] is not None and e["public_at"] > e["end"]
    # The clips belong to cases the actor was never directly given.
    rec = data["ctx"]["records"].filter(pc.equal(data["ctx"]["records"]["entity_type"], "media"))
    case_of = dict(zip(rec["entity_id"].to_pylist(), rec["reference"].to_pylist()))
    direct = tasking.filter(pc.equal(tasking["via"], "direct"))
    held = set(zip(direct["user_id"].to_pylist(), direct["reference"].to_pylist()))
    checked = 0
    for e in (x for x in data["episodes"].values() if x["kind"] == "media_exfiltration"):
        for clip in set(ev["entity_id"][_rows(data, e["episode_id"])].tolist()):
            assert (e["actor_id"], case_of[clip]) not in held
            checked += 1
    assert checked >= 5


def test_curiosity_is_a_crowd_on_one_notable_record(data: dict) -> None:
    sens = data["ctx"]["sensitive_records"]
    flagged = set(zip(sens["entity_type"].to_pylist(), sens["entity_id"].to_pylist()))
    ev = data["ev"]
    crowd = Counter()
    for e in (x for x in data["episodes"].values() if x["kind"] == "curiosity"):
        rows = _rows(data, e["episode_id"])
        assert all((t, i) in flagged for t, i in zip(ev["entity_type"][rows], ev["entity_id"][rows]))
        crowd[tuple(e["targets"])] += 1
    assert max(crowd.values()) >= 3, "many unrelated staff on the same case"
    # The legitimate murder team views the same media too.
    media = {i for t, i in flagged if t == "media"}
    legit = (data["ep_of"] < 0) & (ev["entity_type"] == "media") & np.isin(ev["entity_id"], list(media))
    assert legit.sum() >= 10


def test_leaks_to_criminals_hit_the_network_over_several_days(data: dict) -> None:
    wl = data["ctx"]["watchlists"]
    listed = set(zip(wl["entity_type"].to_pylist(), wl["entity_id"].to_pylist()))
    ev = data["ev"]
    spans = []
    for e in (x for x in data["episodes"].values() if x["kind"] == "leak_criminal"):
        rows = _rows(data, e["episode_id"])
        assert all((t, i) in listed for t, i in zip(ev["entity_type"][rows], ev["entity_id"][rows]))
        spans.append((ev["ts"][rows].max() - ev["ts"][rows].min()) / 86_400_000)
    assert max(spans) >= 3
    # Analysts search the same networks legitimately.
    on_list = np.array([(t, i) in listed for t, i in zip(ev["entity_type"], ev["entity_id"])])
    assert (on_list & (data["ep_of"] < 0)).sum() > (on_list & (data["ep_of"] >= 0)).sum()


def test_skills_differ_in_shift_and_reference(data: dict) -> None:
    ev, ctx = data["ev"], data["ctx"]
    shifts = ctx["shifts"]
    su = shifts["user_id"].to_numpy()
    ss = shifts["start"].cast(pa.int64()).to_numpy()
    se = shifts["end"].cast(pa.int64()).to_numpy()

    def on_shift(rows: np.ndarray) -> np.ndarray:
        return np.array([((su == u) & (ss <= t) & (t < se)).any() for u, t in zip(ev["user_id"][rows], ev["ts"][rows])])

    by_skill = {s: np.concatenate([_rows(data, e["episode_id"]) for e in data["episodes"].values()
                                   if e["skill"] == s]) for s in SKILLS}
    assert on_shift(by_skill["naive"]).mean() < 0.2
    assert on_shift(by_skill["careful"]).mean() > 0.9
    assert np.mean([r is None for r in ev["reference"][by_skill["naive"]]]) == 1.0
    assert np.mean([r is not None for r in ev["reference"][by_skill["careful"]]]) > 0.5


def test_ids_position_and_subsecond_time_do_not_predict_labels(zoo: Path) -> None:
    """A classifier on event ids, row positions and sub-second time cannot find the misuse."""
    from snoopbench.benchmarks.leakage import leakage_auc

    auc = leakage_auc(zoo)
    assert auc <= 0.6, f"labels leak through ids or ordering: AUC {auc:.3f}"


def test_the_leakage_check_would_catch_an_artifact(zoo: Path) -> None:
    """Planting a giveaway (misuse logged on whole seconds) must push the AUC up: the check can fail."""
    from snoopbench.benchmarks.leakage import artifact_auc, artifact_features

    X, y, ts = artifact_features(zoo)
    X = X.copy()
    X[y, 2] = 0  # the sub-second column
    assert artifact_auc(X, y, ts) > 0.9


def test_no_legitimate_work_touches_a_canary(data: dict) -> None:
    can = data["ctx"]["canaries"] if "canaries" in data["ctx"] else None
    assert can is not None and can.num_rows > 0
    ev = data["ev"]
    planted = {(t, i) for t, i in zip(can["entity_type"].to_pylist(), can["entity_id"].to_pylist())}
    touched = np.array([(t, i) in planted for t, i in zip(ev["entity_type"], ev["entity_id"])])
    assert not (touched & (data["ep_of"] < 0)).any()


def test_no_record_is_accessed_before_it_exists(data: dict) -> None:
    """Clips before they are docked, custody records before the booking, intelligence before it is
    written: impossible in a real log, legitimate or not."""
    ev, rec = data["ev"], data["ctx"]["records"]
    created = dict(zip(rec["entity_id"].to_pylist(), rec["created"].cast(pa.int64()).to_pylist()))
    checked = 0
    for kind in ("media", "custody", "intel"):
        rows = np.flatnonzero(ev["entity_type"] == kind)
        known = np.array([created.get(i, np.iinfo(np.int64).min) for i in ev["entity_id"][rows].tolist()])
        early = rows[ev["ts"][rows] < known]
        assert len(early) == 0, (kind, ev["entity_id"][early[:5]].tolist(), data["ep_of"][early[:5]].tolist())
        checked += len(rows)
    assert checked > 10_000
