"""Scenario files: every shipped file validates; every kind of broken file is one clear exit-2 error."""

from __future__ import annotations

import tomllib

import numpy as np
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.simulator import scenario
from snoopbench.contract.errors import ScenarioError

SHIPPED = scenario.shipped()


def test_the_library_ships_the_contract_scenarios() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"tiny", "small-force", "large-force"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    s = scenario.load(path)
    assert s.data["format"] == "snoopbench/scenario/v1"
    assert s.data["references"], "figures must cite where they come from"
    # The resolved view is itself a valid, self-contained scenario.
    again = tomllib.loads(s.to_toml())
    assert again["name"] == s.name and "extends" not in again


def test_shipped_sizes_follow_the_domain() -> None:
    assert scenario.load(scenario.find("small-force"))["force"]["staff"] == 3600
    assert 40_000 <= scenario.load(scenario.find("large-force"))["force"]["staff"] <= 50_000
    assert scenario.load(scenario.find("tiny"))["duration_days"] == 7


def _write(tmp: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


BASE = (Path(scenario.SCENARIO_DIR) / "base.toml").resolve()
HEAD = f'format = "snoopbench/scenario/v1"\nextends = "{BASE}"\nname = "broken"\n'

BROKEN = {
    "unknown key": (HEAD + "colour = 3\n", "colour", "unknown key"),
    "unknown nested key": (HEAD + "[force]\nstafff = 3\n", "force.stafff", "unknown key"),
    "wrong type": (HEAD + '[force]\nstaff = "many"\n', "force.staff", "expected an integer"),
    "out of range": (HEAD + "[population]\nfemale_share = 1.5\n", "population.female_share", "from 0 to 1"),
    "bad choice": (HEAD + '[roles.response]\nholds = "nothing"\n', "roles.response.holds", "among"),
    "missing extends target": ('format = "snoopbench/scenario/v1"\nextends = "nope.toml"\nname = "x"\n',
                               "extends", "not found"),
    "broken toml": (HEAD + "[force\n", "", "not valid TOML"),
    "bad format version": (HEAD.replace("v1", "v9"), "format", "snoopbench/scenario/v1"),
    "role shares": (HEAD + "[roles.response]\nshare = 0.9\n", "roles", "summing to 1"),
    "warm-up too long": (HEAD + "warmup_days = 30\n", "warmup_days", "fewer than duration_days"),
    "unknown rota": (HEAD + '[roles.analyst]\nrota = "flexi"\n', "roles.analyst.rota", "rotas"),
    "bad time zone": (HEAD + 'timezone = "Mars/Olympus"\n', "timezone", "IANA"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_scenarios_give_one_clear_error(case: str, tmp_path: Path, capsys) -> None:
    text, key, expected = BROKEN[case]
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    msg = str(info.value)
    assert str(path) in msg or "nope.toml" in msg
    assert key in msg and expected in msg
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and expected.split()[0] in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s.toml"], "nothing half-written"


def test_missing_file_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["scenarios", "validate", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml" in capsys.readouterr().err


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    _write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(ScenarioError, match="extends itself"):
        scenario.load(tmp_path / "a.toml")


def test_extends_merges_deeply_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    _write(sub, f'format = "snoopbench/scenario/v1"\nextends = "{BASE}"\nname = "mid"\n[force]\nstaff = 500\n',
           "mid.toml")
    p = _write(tmp_path, 'extends = "sub/mid.toml"\nname = "leaf"\n[force]\ncode = "LF"\n', "leaf.toml")
    s = scenario.load(p)
    assert s["force"]["staff"] == 500 and s["force"]["code"] == "LF" and s.name == "leaf"
    assert s["force"]["areas"] == scenario.load(BASE)["force"]["areas"]


def test_command_line_overrides_are_checked() -> None:
    s = scenario.load(scenario.find("tiny"))
    assert s.with_overrides(days=3).days == 3
    with pytest.raises(ScenarioError, match="--days"):
        s.with_overrides(days=0)
    with pytest.raises(ScenarioError, match="--seed"):
        s.with_overrides(seed=-1)


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.text(max_size=5), st.floats(allow_nan=True), st.booleans(), st.integers(-10, 10**7)))
def test_any_staff_value_is_accepted_or_rejected_cleanly(value, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("h")
    if isinstance(value, str):
        lit = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, bool):
        lit = str(value).lower()
    elif isinstance(value, float):
        lit = "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
    else:
        lit = str(value)
    path = _write(tmp, HEAD + f"[force]\nstaff = {lit}\n")
    try:
        s = scenario.load(path)
    except ScenarioError as exc:
        assert "force.staff" in str(exc) or "TOML" in str(exc)
    else:
        assert isinstance(value, int) and not isinstance(value, bool) and 20 <= value <= 2_000_000
        assert s["force"]["staff"] == value


def test_area_weights_size_the_areas() -> None:
    from snoopbench.simulator.world import build_world

    s = scenario.load(scenario.find("tiny"))
    data = dict(s.data, force=dict(s.data["force"], area_weights=[3.0, 1.0]))
    w = build_world(data)
    staff = np.bincount(w.force.area, minlength=2)
    assert 2.5 < staff[0] / staff[1] < 3.5
    homes = np.bincount(w.pop.street_area[w.pop.addr_street[w.pop.address]], minlength=2)
    assert 2.5 < homes[0] / homes[1] < 3.5


def test_area_weights_must_match_the_areas(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + '[force]\nareas = ["A", "B"]\narea_weights = [1.0]\n')
    with pytest.raises(ScenarioError, match="force.area_weights"):
        scenario.load(path)
