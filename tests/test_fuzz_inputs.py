"""Bad input from anywhere ends cleanly: property tests that mutate scenarios and command lines and
assert never a traceback, an exit code the contract allows, and nothing half-written."""

from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import HealthCheck, given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.contract.errors import ScenarioError
from snoopbench.simulator import scenario as scenario_mod

TINY = tomllib.loads(scenario_mod.find("tiny").read_text())
BASE = scenario_mod.load(scenario_mod.find("tiny")).data


def _paths(d: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


KEY_PATHS = _paths(BASE)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.floats(allow_nan=True), max_size=3), st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-5, 5), max_size=2),
)


def _set(d: dict, path: tuple, value) -> dict:
    d = dict(d)
    if len(path) == 1:
        if value is None:
            d.pop(path[0], None)
        else:
            d[path[0]] = value
        return d
    inner = d.get(path[0])
    d[path[0]] = _set(inner if isinstance(inner, dict) else {}, path[1:], value)
    return d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(KEY_PATHS), VALUES), min_size=1, max_size=3))
def test_a_mutated_scenario_validates_or_is_refused_with_its_key(tmp_path_factory, edits) -> None:
    raw = {**TINY, "extends": "tiny"}
    for path, value in edits:
        raw = _set(raw, path, value)
    f = tmp_path_factory.mktemp("s") / "mutated.toml"
    try:
        f.write_text(tomli_w.dumps({k: v for k, v in raw.items()}))
    except (TypeError, ValueError):  # a value TOML cannot hold (None inside a list...)
        return
    try:
        scenario_mod.load(f)
    except ScenarioError as exc:
        assert str(f) in str(exc)


SUBCOMMANDS = ["simulate", "score", "score-alerts", "verify", "bench", "scenarios", "detectors", "profile", "demo",
               "export", "replay"]
ARGS = st.one_of(
    st.sampled_from(["--out", "--seed", "--days", "--workers", "--budget", "--json", "--truth", "--detector",
                     "--sealed", "--timeout", "--bogus", "-d", "--quiet", "--seeds", "list", "show", "validate",
                     "tiny", "nope", "2.5", "-1", "inf", "nan", str(2**63), "0", "exec:", "volume:z=abc",
                     "relationship:nope=1", "", "--help"]),
    st.text(alphabet="abc-=:[]/ 0123456789", max_size=6),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SUBCOMMANDS), st.lists(ARGS, max_size=4))
def test_any_command_line_ends_cleanly(tmp_path_factory, capsys, sub: str, args: list[str]) -> None:
    """No traceback, exit 0, 1 or 2, and no dataset or partial folder left behind. Long runs are
    kept out: simulate, bench and demo only ever get an --out that already holds a file (so they
    stop at validation) or run on bad arguments."""
    work = tmp_path_factory.mktemp("cli")
    blocker = work / "taken"
    blocker.mkdir()
    (blocker / "x").write_text("x")
    argv = [sub, *args]
    if sub in ("simulate", "bench", "demo"):
        if "--out" in argv:
            argv[argv.index("--out") + 1:argv.index("--out") + 1] = [str(blocker)]
        elif sub == "simulate" or "--days" not in argv:
            argv += ["--bogus-option-to-stop-before-work"]
    if sub in ("score", "score-alerts", "verify", "profile", "export", "replay"):
        argv.insert(1, str(work / "no-dataset"))
    code = main(argv)
    out = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in out.err + out.out, argv
    left = sorted(p.name for p in work.iterdir())
    assert left == ["taken"], (argv, left)
    assert [p.name for p in blocker.iterdir()] == ["x"]
