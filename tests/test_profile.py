"""The realism profile on the tiny scenario: pins the mechanisms behind the figures, not numbers."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

from snoopbench.benchmarks.cli import main
from snoopbench.benchmarks.profile import Profile, calibration_targets, profile_dataset
from snoopbench.benchmarks.profile_plots import PLOT_FILES
from snoopbench.simulator.run import simulate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("profile") / "tiny"
    simulate("tiny", out)
    return out


@pytest.fixture(scope="module")
def prof(tiny: Path) -> Profile:
    return profile_dataset(tiny)


@pytest.fixture(scope="module")
def events(tiny: Path) -> pa.Table:
    cols = ["event_id", "ts", "user_id", "system", "reference"]
    table = pds.dataset(tiny / "events").to_table(columns=cols)
    labels = pq.read_table(tiny / "truth" / "labels.parquet")["event_id"]
    legit = pc.invert(pc.is_in(table["event_id"], value_set=labels))
    return table.append_column("legit", legit)


def _check(p: Profile, name: str):
    return next(c for c in p.checks if c.name == name)


def test_the_profile_holds_every_check(prof: Profile, tiny: Path) -> None:
    targets = tomllib.loads((tiny / "scenario.toml").read_text())["calibration"]
    names = [c.name for c in prof.checks]
    assert len(names) == len(set(names))
    for role in targets["events_per_shift_median"]:
        assert f"events per shift: {role} (median)" in names
    for name in ("events per shift: response p90 / median", "RMS share of events",
                 "PNC share of events", "PND events per PNC event",
                 "legitimate events explained by tasking", "legitimate events off shift",
                 "busiest / quietest local hour", "quietest local hour",
                 "top 1.0% of people: share of person look-ups",
                 "legitimate look-ups of own relations per 1,000 staff-days",
                 "events per day per 1,000 staff", "roles in staff", "systems in events"):
        assert name in names
    assert all(isinstance(c.ok, bool) and c.target_text and c.value_text for c in prof.checks)
    assert prof.targets_source.endswith("scenario.toml")
    assert prof.events_by_hour.sum() == prof.n_events == sum(prof.system_mix.values())
    assert set(prof.events_per_shift) >= set(targets["events_per_shift_median"])
    assert _check(prof, "roles in staff").ok and _check(prof, "systems in events").ok


def test_tasking_explains_most_referenced_events(prof: Profile, events: pa.Table,
                                                 tiny: Path) -> None:
    cols = ["user_id", "reference", "since"]
    tasking = pq.read_table(tiny / "context" / "tasking.parquet", columns=cols)
    legit = events.filter(events["legit"])
    joined = legit.filter(pc.is_valid(legit["reference"])).join(tasking, ["user_id", "reference"])
    held = joined.filter(pc.less_equal(joined["since"], joined["ts"]))
    referenced = int(pc.sum(pc.is_valid(legit["reference"])).as_py())
    # Most events under a reference are under one the user holds; the profile counts exactly those.
    assert held.num_rows >= 0.9 * referenced
    assert _check(prof, "legitimate events explained by tasking").value == pytest.approx(
        held.num_rows / legit.num_rows)


def test_shifts_bound_activity(prof: Profile, events: pa.Table, tiny: Path) -> None:
    off = _check(prof, "legitimate events off shift")
    assert off.value < 0.1, "most legitimate work happens on shift"
    # The vectorised shift assignment agrees with a plain search on a sample of events.
    shifts = pq.read_table(tiny / "context" / "shifts.parquet")
    s_user = shifts["user_id"].to_numpy()
    s_start = shifts["start"].cast(pa.int64()).to_numpy()
    s_end = shifts["end"].cast(pa.int64()).to_numpy()
    legit = events.filter(events["legit"])
    rng = np.random.default_rng(0)
    pick = rng.choice(legit.num_rows, 400, replace=False)
    user = legit["user_id"].to_numpy()[pick]
    ts = legit["ts"].cast(pa.int64()).to_numpy()[pick]
    on = np.array([((s_user == u) & (s_start <= t) & (t < s_end)).any() for u, t in zip(user, ts)])
    assert abs((1 - on.mean()) - off.value) < 0.04
    # Every role with a target works its rostered shifts, zero-event shifts included.
    for role, counts in prof.events_per_shift.items():
        assert len(counts) and np.median(counts) > 0, role


def test_control_room_runs_pnc_checks_for_officers(events: pa.Table, tiny: Path) -> None:
    staff = pq.read_table(tiny / "context" / "staff.parquet", columns=["user_id", "role"])
    control = staff.filter(pc.equal(staff["role"], "control_room"))["user_id"]
    by_control = pc.is_in(events["user_id"], value_set=control)
    pnc = events.filter(pc.and_(pc.equal(events["system"], "PNC"), by_control))
    pnc = pnc.filter(pc.is_valid(pnc["reference"]))
    assert pnc.num_rows > 0, "the control room checks PNC over the radio"
    tasking = pq.read_table(tiny / "context" / "tasking.parquet", columns=["user_id", "reference"])
    others = tasking.filter(pc.invert(pc.is_in(tasking["user_id"], value_set=control)))
    proxied = pc.is_in(pnc["reference"], value_set=others["reference"])
    assert pc.sum(proxied).as_py() > 0, "under incident references an attending officer holds too"


def test_cli_prints_the_table_and_writes_plots(tiny: Path, tmp_path: Path, capsys) -> None:
    assert main(["profile", str(tiny), "--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "realism profile" in out and "events per shift" in out
    for name in PLOT_FILES:
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_sealed_truth_and_bad_input(tiny: Path, tmp_path: Path, capsys) -> None:
    assert main(["profile", str(tiny), "--truth", str(tiny / "truth")]) == 0
    sealed = tmp_path / "sealed"
    shutil.copytree(tiny, sealed, ignore=shutil.ignore_patterns("truth"))
    p = profile_dataset(sealed)
    assert p.legit_source.startswith("all events")
    assert p.relations_source.startswith("context/declared")
    assert main(["profile", str(tiny), "--truth", str(tmp_path / "nowhere")]) == 2
    assert main(["profile", str(tmp_path / "no-dataset")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_scenario_without_calibration_falls_back_to_base(tmp_path: Path) -> None:
    (tmp_path / "scenario.toml").write_text('name = "old"\n')
    targets, source = calibration_targets(tmp_path)
    assert "base.toml" in source and targets["rms_share_min"] > 0
