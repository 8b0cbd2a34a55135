"""The dataset contract on a real tiny run: layout, columns, ordering, determinism, verify, sealing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.contract import schema
from snoopbench.contract.manifest import verify
from snoopbench.contract.errors import IntegrityError
from snoopbench.simulator.run import simulate

CONTRACT_EVENT_COLUMNS = {
    "event_id": pa.int64(), "ts": pa.timestamp("ms", tz="UTC"), "user_id": pa.int32(), "system": pa.string(),
    "action": pa.string(), "entity_type": pa.string(), "entity_id": pa.int64(), "reference": pa.string(),
}
CONTRACT_CONTEXT_COLUMNS = {
    "staff": {"user_id": pa.int32(), "person_id": pa.int64(), "role": pa.string(), "unit": pa.string()},
    "shifts": {"user_id": pa.int32(), "start": pa.timestamp("ms", tz="UTC"), "end": pa.timestamp("ms", tz="UTC")},
    "people": {"person_id": pa.int64(), "surname": pa.string(), "forenames": pa.string(),
               "date_of_birth": pa.date32(), "sex": pa.string(), "address_id": pa.int64()},
    "tasking": {"user_id": pa.int32(), "reference": pa.string()},
    "declared_relations": {"user_id": pa.int32(), "person_id": pa.int64(), "kind": pa.string()},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiny"
    simulate("tiny", out, days=4)
    return out


def _events(root: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted((root / "events").glob("part-*.parquet")))


def test_layout_and_manifest(tiny: Path) -> None:
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert manifest["format"] == "snoopbench/dataset/v1"
    assert manifest["scenario"] == "tiny" and manifest["seed"] == 20250303
    assert len(manifest["fingerprint"]) == 64
    assert (tiny / "scenario.toml").is_file()
    parts = sorted((tiny / "events").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(len(parts))]
    for rel, meta in manifest["files"].items():
        assert pq.read_metadata(tiny / rel).num_rows == meta["rows"]
    for t in schema.CONTEXT_TABLES:
        assert (tiny / t.path).is_file(), t.path
    for t in schema.TRUTH_TABLES:
        assert (tiny / t.path).is_file(), t.path


def test_contract_columns_and_types(tiny: Path) -> None:
    ev = pq.read_schema(tiny / "events" / "part-00000.parquet")
    for name, typ in CONTRACT_EVENT_COLUMNS.items():
        assert ev.field(name).type == typ, name
    for table, cols in CONTRACT_CONTEXT_COLUMNS.items():
        s = pq.read_schema(tiny / "context" / f"{table}.parquet")
        for name, typ in cols.items():
            assert s.field(name).type == typ, (table, name)
    lab = pq.read_schema(tiny / "truth" / "labels.parquet")
    assert lab.names[:2] == ["event_id", "episode_id"]
    ep = pq.read_schema(tiny / "truth" / "episodes.parquet")
    assert {"episode_id", "kind", "actor_id", "skill", "start", "end"} <= set(ep.names)


def test_events_ordered_and_ids_rise_with_time(tiny: Path) -> None:
    t = _events(tiny)
    ids = t["event_id"].to_numpy()
    ts = t["ts"].cast(pa.int64()).to_numpy()
    assert np.array_equal(ids, np.arange(len(ids)))
    assert (np.diff(ts) >= 0).all()
    assert set(t["system"].unique().to_pylist()) <= set(schema.SYSTEMS)
    assert set(t["action"].unique().to_pylist()) <= set(schema.ACTIONS)
    assert set(t["entity_type"].unique().to_pylist()) <= set(schema.ENTITY_TYPES)
    staff = pq.read_table(tiny / "context" / "staff.parquet")
    assert set(t["user_id"].unique().to_pylist()) <= set(staff["user_id"].to_pylist())


def test_force_has_every_role_and_rostered_shifts(tiny: Path) -> None:
    staff = pq.read_table(tiny / "context" / "staff.parquet")
    assert set(schema.ROLES) <= set(staff["role"].to_pylist())
    shifts = pq.read_table(tiny / "context" / "shifts.parquet")
    start = shifts["start"].cast(pa.int64()).to_numpy()
    end = shifts["end"].cast(pa.int64()).to_numpy()
    assert ((end - start) >= 3_600_000).all() and ((end - start) <= 16 * 3_600_000).all()
    # 24/7 roles work nights; office roles do not.
    roles = dict(zip(staff["user_id"].to_pylist(), staff["role"].to_pylist()))
    hours = ((start // 3_600_000) % 24)
    by_role = np.array([roles[u] for u in shifts["user_id"].to_pylist()])
    assert (hours[by_role == "response"] >= 20).any()
    assert not (hours[by_role == "back_office"] >= 20).any()


def test_incident_references_are_held_in_tasking(tiny: Path) -> None:
    t = _events(tiny)
    tasking = pq.read_table(tiny / "context" / "tasking.parquet")
    held = set(zip(tasking["user_id"].to_pylist(), tasking["reference"].to_pylist()))
    refd = t.filter(t["reference"].is_valid())
    pairs = list(zip(refd["user_id"].to_pylist(), refd["reference"].to_pylist()))
    explained = sum(p in held for p in pairs) / len(pairs)
    assert explained > 0.8
    pnc = t.filter(pa.compute.equal(t["system"], "PNC"))
    assert {"person", "vehicle"} <= set(pnc["entity_type"].to_pylist())


def test_people_live_on_streets_with_neighbours(tiny: Path) -> None:
    people = pq.read_table(tiny / "context" / "people.parquet")
    addresses = pq.read_table(tiny / "context" / "addresses.parquet")
    street = addresses["street_id"].to_numpy()[people["address_id"].to_numpy()]
    assert np.bincount(street).max() > 10
    rel = pq.read_table(tiny / "truth" / "relations.parquet")
    declared = pq.read_table(tiny / "context" / "declared_relations.parquet")
    assert {"family", "partner", "ex_partner", "neighbour", "colleague", "friend"} <= set(rel["kind"].to_pylist())
    true_pairs = set(zip(rel["user_id"].to_pylist(), rel["person_id"].to_pylist()))
    decl_pairs = set(zip(declared["user_id"].to_pylist(), declared["person_id"].to_pylist()))
    assert decl_pairs < true_pairs  # declared is a strict part of the truth


def test_same_seed_same_fingerprint_any_workers_other_seed_differs(tmp_path: Path) -> None:
    a = simulate("tiny", tmp_path / "a", days=2, workers=1)
    b = simulate("tiny", tmp_path / "b", days=2, workers=2)
    c = simulate("tiny", tmp_path / "c", days=2, seed=7)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    for rel in a.files:
        ta, tb = pq.read_table(tmp_path / "a" / rel), pq.read_table(tmp_path / "b" / rel)
        assert ta.equals(tb), rel


def test_verify_catches_a_flipped_byte(tiny: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    assert verify(copy).checked > 0
    part = copy / "events" / "part-00001.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="part-00001"):
        verify(copy)
    assert main(["verify", str(copy)]) == 1
    assert "part-00001.parquet" in capsys.readouterr().err


def test_sealed_truth_is_kept_apart_with_its_secret_seed(tmp_path: Path) -> None:
    r = simulate("tiny", tmp_path / "ds", days=2, sealed=tmp_path / "sealed")
    assert not (tmp_path / "ds" / "truth").exists()
    assert (tmp_path / "sealed" / "labels.parquet").is_file()
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["truth_sealed"] is True and manifest["seed"] == "sealed" and r.seed is None
    assert 'seed = "sealed"' in (tmp_path / "ds" / "scenario.toml").read_text()
    checked = verify(tmp_path / "ds", tmp_path / "sealed")
    assert checked.truth_checked == 3
    # whoever holds the truth can reproduce the world; its seed is there and nowhere else
    kept = json.loads((tmp_path / "sealed" / "truth.json").read_text())
    assert checked.seed == kept["seed"]
    again = simulate("tiny", tmp_path / "again", days=2, seed=kept["seed"])
    assert again.fingerprint == r.fingerprint == kept["fingerprint"]


def test_existing_output_is_refused_and_left_alone(tiny: Path, capsys) -> None:
    before = sorted(p.name for p in tiny.iterdir())
    assert main(["simulate", "tiny", "--out", str(tiny), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in tiny.iterdir()) == before


def test_fingerprint_ignores_how_tables_are_chunked() -> None:
    from snoopbench.contract.digest import content_digest

    t = pa.table({"a": pa.array([1, 2, 3, None], pa.int64()), "b": pa.array(["x", None, "zz", "w"])})
    rechunked = pa.concat_tables([t.slice(0, 1), t.slice(1, 0), t.slice(1, 3)])
    assert rechunked.column("a").num_chunks > 1
    assert content_digest(rechunked) == content_digest(t)
    assert content_digest(t.slice(0, 3)) != content_digest(t)
    # Where the nulls are counts, not just the values behind them.
    assert content_digest(pa.table({"a": pa.array([None, 0], pa.int64())})) != \
        content_digest(pa.table({"a": pa.array([0, None], pa.int64())}))


@given(st.lists(st.tuples(st.integers(0, 90_000_000), st.integers(0, 2**64 - 1)), max_size=200),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_merge_orders_a_day_by_time_then_tiebreak(rows: list[tuple[int, int]], clash: bool) -> None:
    """The merge's one-key sort gives the exact (time, tiebreak) order, ties of its key included."""
    from snoopbench.simulator.run import _time_order

    if clash and rows:  # same time, tiebreaks equal in their top bits
        rows = rows + [(rows[0][0], rows[0][1] ^ 1)]
    ts = np.array([r[0] for r in rows], np.int64) + 1_700_000_000_000
    tb = np.array([r[1] for r in rows], np.uint64)
    order = _time_order(ts, tb) if rows else np.zeros(0, np.int64)
    got = list(zip(ts[order].tolist(), tb[order].tolist()))
    assert got == sorted(zip(ts.tolist(), tb.tolist()))


@pytest.mark.parametrize("start", ["2025-03-29", "2025-10-25"])
def test_clock_changes_are_simulated(tmp_path: Path, start: str) -> None:
    """Days of 23 and 25 hours (Europe/London) run through, with work in every local hour."""
    import datetime as dt

    from snoopbench.simulator import scenario as scenario_mod

    scn = scenario_mod.load(scenario_mod.find("tiny")).with_overrides(days=3)
    scn = scenario_mod.Scenario(scn.path, {**scn.data, "start_date": dt.date.fromisoformat(start),
                                           "warmup_days": 0})
    result = simulate(scn, tmp_path / "d", workers=1)
    ts = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "d" / "events").glob("*.parquet")))["ts"]
    hours = {t.astimezone(dt.timezone.utc).hour for t in ts.to_pylist()}
    assert result.events > 0 and len(hours) == 24
