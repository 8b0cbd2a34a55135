"""The misuse-kind registry: one module per kind, the contract's vocabulary, scenario keys checked
against it, a kind added from outside running end to end, and asked-for episodes never dropped in silence."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.contract.errors import ScenarioError
from snoopbench.contract.schema import EPISODE_KINDS, SKILLS
from snoopbench.simulator import misuse_kinds, scenario
from snoopbench.simulator.misuse_kinds import MisuseKind
from snoopbench.simulator.misuse_kinds.base import ACT, ETYPE, SYS
from snoopbench.simulator.run import simulate
from snoopbench.simulator.scenario_format import MISUSE_KIND
from snoopbench.simulator.world import build_world

TINY = (scenario.SCENARIO_DIR / "tiny.toml").resolve()
SIMULATOR = Path(misuse_kinds.__file__).resolve().parent.parent


def _scenario(tmp: Path, body: str, name: str = "s.toml") -> Path:
    p = tmp / name
    p.write_text(f'format = "snoopbench/scenario/v1"\nextends = "{TINY}"\nname = "kinds-test"\n{body}')
    return p


class PlateWatch(MisuseKind):
    """A throwaway kind: runs strangers' registrations through PNC, one module-less class."""

    name = "plate_watch"
    what = "strangers' vehicles"
    skills = ("naive", "careful")
    lookups = (4, 8)
    duration_days_mean = 2.0

    def recipe(self, ctx, ep, plan, k, rng, t):
        vehicles = rng.integers(len(ctx.pop.veh_keeper), size=k)
        ep.targets.extend(int(ctx.pop.veh_keeper[v]) for v in vehicles)
        return [(SYS["PNC"], ACT["search"], ETYPE["vehicle"], int(v)) for v in vehicles]


def test_the_registry_is_the_contracts_vocabulary_in_order() -> None:
    kinds = misuse_kinds.all_kinds()
    assert tuple(kinds) == EPISODE_KINDS == misuse_kinds.names()
    for name, kind in kinds.items():
        module = importlib.import_module(f"snoopbench.simulator.misuse_kinds.{name}")
        assert module.KIND is kind and kind.name == name and kind.what
        assert set(kind.skills) <= set(SKILLS) and kind.skills
        assert set(kind.defaults()) == set(MISUSE_KIND.fields), "a kind's defaults fill every key of its table"


def test_kind_logic_lives_only_in_the_kind_modules() -> None:
    """No string switch on a kind's name outside its module (the pre-registry if/elif chains)."""
    for path in SIMULATOR.glob("*.py"):
        text = path.read_text()
        for name in EPISODE_KINDS:
            assert not re.search(rf"""kind\s*(==|!=|in)\s*\(?[^)\n]*["']{name}["']""", text), (path.name, name)


def test_an_unknown_kind_is_exit_2_naming_file_and_key(tmp_path: Path, capsys) -> None:
    path = _scenario(tmp_path, "[misuse.kinds.stalking]\nepisodes = 2\n")
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert str(path) in str(info.value) and "misuse.kinds.stalking" in str(info.value)
    assert "unknown misuse kind" in str(info.value) and "pursuit" in str(info.value)
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "misuse.kinds.stalking" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["scenarios", "validate", str(path)]) == 2


def test_a_skill_the_kind_does_not_have_is_exit_2(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "[misuse.kinds.plate_watch]\nepisodes = 1\nskill_mix = { expert = 1.0 }\n")
    with misuse_kinds.registered(PlateWatch()):
        with pytest.raises(ScenarioError, match=r"misuse\.kinds\.plate_watch\.skill_mix\.expert"):
            scenario.load(path)


def test_registering_twice_or_over_a_builtin_is_refused() -> None:
    with misuse_kinds.registered(PlateWatch()):
        with pytest.raises(ValueError):
            misuse_kinds.register(PlateWatch())
    with pytest.raises(ValueError):
        misuse_kinds.unregister("pursuit")
    assert "plate_watch" not in misuse_kinds.names()


def test_a_registered_kind_a_scenario_leaves_out_is_reported(tmp_path: Path, capsys) -> None:
    with misuse_kinds.registered(PlateWatch()):
        s = scenario.load(TINY)
        assert any("plate_watch" in n for n in s.notes)
        assert main(["scenarios", "validate", str(TINY)]) == 0
        assert "plate_watch" in capsys.readouterr().out
    assert scenario.load(TINY).notes == []


def test_a_kind_registered_from_a_test_runs_end_to_end(tmp_path: Path) -> None:
    """Adding a kind: the class above, its registration, and one scenario key (episodes: the rest are
    the kind's defaults). Its episodes come out labelled like any built-in kind's."""
    path = _scenario(tmp_path, "[misuse.kinds.plate_watch]\nepisodes = 3\n")
    with misuse_kinds.registered(PlateWatch()):
        s = scenario.load(path)
        assert s["misuse"]["kinds"]["plate_watch"]["lookups_max"] == 8
        assert s["misuse"]["kinds"]["plate_watch"]["skill_mix"] == {"naive": 1.0, "careful": 1.0}
        result = simulate(s, tmp_path / "out")
    episodes = pq.read_table(result.truth_dir / "episodes.parquet")
    labels = pq.read_table(result.truth_dir / "labels.parquet")
    mine = episodes.filter(pc.equal(episodes["kind"], "plate_watch")).to_pylist()
    assert len(mine) == 3
    events = pq.read_table(result.out / "events")
    for e in mine:
        assert e["skill"] in ("naive", "careful") and "strangers' vehicles" in e["summary"]
        ids = labels.filter(pc.equal(labels["episode_id"], e["episode_id"]))["event_id"]
        rows = events.filter(pc.is_in(events["event_id"], ids))
        assert rows.num_rows == e["n_events"] >= 4
        assert set(rows["system"].to_pylist()) == {"PNC"} and set(rows["entity_type"].to_pylist()) == {"vehicle"}
        assert set(rows["user_id"].to_pylist()) == {e["actor_id"]}
    assert set(episodes["kind"].to_pylist()) - {"plate_watch"} <= set(EPISODE_KINDS)


def test_episodes_that_cannot_be_placed_are_exit_2(tmp_path: Path, capsys) -> None:
    path = _scenario(tmp_path, "[misuse.kinds.neighbour]\nepisodes = 5000\n")
    out = tmp_path / "out"
    with pytest.raises(ScenarioError, match=r"misuse\.kinds\.neighbour\.episodes: 5000 episodes asked for"):
        simulate(path, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["s.toml"]
    assert main(["simulate", str(path), "--out", str(out), "--quiet"]) == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("body,kind,why", [
    ("[misuse]\nnotables = 0\n", "curiosity", "no notable events"),
    ("[misuse]\nnetworks = 0\n", "leak_criminal", "no criminal network"),
])
def test_episodes_of_a_kind_that_cannot_happen_are_exit_2(tmp_path: Path, body: str, kind: str, why: str) -> None:
    path = _scenario(tmp_path, body)
    with pytest.raises(ScenarioError, match=rf"{path}: misuse\.kinds\.{kind}\.episodes: .*none can happen: .*{why}"):
        simulate(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_episodes_placed_short_are_a_shortfall_of_the_plan() -> None:
    """Nearly every staff member a stalker: the kinds planned after pursuit run out of free actors."""
    s = scenario.load(TINY)
    data = {**s.data, "misuse": {**s["misuse"], "kinds": {**s["misuse"]["kinds"]}}}
    data["misuse"]["kinds"]["pursuit"] = {**data["misuse"]["kinds"]["pursuit"], "episodes": 290}
    plan = build_world(data).plan
    short = {x.kind: x for x in plan.shortfalls}
    assert "pursuit" not in short and "curiosity" in short
    c = short["curiosity"]
    assert not c.impossible and c.placed == sum(e.kind == "curiosity" for e in plan.episodes) < c.asked == 4
    assert c.message().startswith("misuse.kinds.curiosity.episodes: 4 episodes asked for, 0 placed")
    assert set(short) <= set(EPISODE_KINDS) and all(x.placed < x.asked for x in short.values())


def test_episodes_that_never_act_are_warned_about(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "tiny", "--days", "3", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: misuse\.kinds\.\w+\.episodes: \d+ asked for, \d+ left events in the 3 days", err)
    episodes = pq.read_table(out / "truth" / "episodes.parquet")["kind"].to_pylist()
    asked = scenario.load(TINY)["misuse"]["kinds"]
    short = [k for k, v in asked.items() if episodes.count(k) < v["episodes"]]
    assert short and all(f"misuse.kinds.{k}.episodes" in err for k in short)


def test_shared_behaviour_is_declared_once() -> None:
    """The look-up pace and the time units legitimate work and misuse share live in behaviour.py."""
    for path in list(SIMULATOR.glob("*.py")) + list((SIMULATOR / "misuse_kinds").glob("*.py")):
        if path.name == "behaviour.py":
            continue
        text = path.read_text()
        for literal in ("40_000", "60_000", "3_600_000", "86_400_000"):
            assert literal not in text, (path.name, literal)
    from snoopbench.simulator import behaviour, lookalikes, misuse, workload
    assert workload.LOOKUP_GAP_MS_MEAN is misuse.LOOKUP_GAP_MS_MEAN is lookalikes.LOOKUP_GAP_MS_MEAN
    assert behaviour.DAY == 24 * behaviour.HOUR == 24 * 60 * behaviour.MIN


_NAMES = st.one_of(st.sampled_from(EPISODE_KINDS), st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
_VALUES = st.one_of(st.integers(-5, 50), st.floats(-1, 100, allow_nan=False), st.text(max_size=5), st.booleans(),
                    st.dictionaries(st.sampled_from(SKILLS + ("wizard",)), st.floats(-1, 3, allow_nan=False),
                                    max_size=3))
_SECTIONS = st.dictionaries(st.sampled_from(sorted(MISUSE_KIND.fields) + ["colour"]), _VALUES, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.dictionaries(_NAMES, _SECTIONS, min_size=1, max_size=3))
def test_any_misuse_kinds_table_loads_or_names_its_key(kinds: dict, tmp_path_factory) -> None:
    """Whatever a [misuse.kinds] table holds, it resolves (every key filled in) or fails as one
    ScenarioError naming the file and a key under misuse.kinds."""
    path = tmp_path_factory.mktemp("k") / "s.toml"
    path.write_text(f'format = "snoopbench/scenario/v1"\nextends = "{TINY}"\nname = "k"\n'
                    + tomli_w.dumps({"misuse": {"kinds": kinds}}))
    try:
        s = scenario.load(path)
    except ScenarioError as exc:
        assert str(path) in str(exc) and "misuse.kinds." in str(exc)
        return
    for name in kinds:
        assert name in EPISODE_KINDS
        assert set(s["misuse"]["kinds"][name]) == set(MISUSE_KIND.fields)
