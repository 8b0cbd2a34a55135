"""The plug-in path as a vendor walks it: naming an outside program, comparing with every
built-in at once, reading a detector's hyperparameters, checking a detector, watching progress."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from snoopbench.benchmarks.cli.progress import ProgressView
from snoopbench.benchmarks.harness import resolve_specs
from snoopbench.contract.errors import InputError
from snoopbench.detectors import registry
from snoopbench.detectors.registry import (BUILTIN, EXEC_NAME_MAX, SpecError, exec_name, expand,
                                           parse_spec)

SCRIPT = shutil.which("snoopbench", path=str(Path(sys.executable).parent))
needs_script = pytest.mark.skipif(SCRIPT is None, reason="the snoopbench console script is not "
                                  "installed next to this Python (pip install -e .)")

#: An outside detector: scores every event 1, or at random with "random" (not deterministic).
PROGRAM = textwrap.dedent("""\
    import glob, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    events, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    ids = pa.concat_tables(pq.read_table(p, columns=["event_id"])
                           for p in sorted(glob.glob(events + "/*.parquet")))["event_id"]
    n = len(ids)
    if mode == "random":
        pq.write_table(pa.table({"event_id": ids, "score": np.random.random(n)}), out)
    elif mode == "nocol":
        pq.write_table(pa.table({"event_id": ids, "risk": np.ones(n)}), out)
    else:
        pq.write_table(pa.table({"event_id": ids, "score": np.ones(n)}), out)
""")


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "kin_watch_detector.py"
    path.write_text(PROGRAM)
    return path


# -- naming --------------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+@~-]{0,39}", fullmatch=True)
commands = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200) \
    .filter(lambda c: c.strip() and not c.strip().startswith("["))


@given(names, commands)
def test_a_named_exec_spec_keeps_its_name_and_command(name: str, command: str) -> None:
    spec = parse_spec(f"exec[name={name}]:{command}")
    assert spec.is_exec and spec.name == name and spec.command == command.strip()


@given(names, st.floats(allow_nan=False, allow_infinity=False))
def test_a_named_registry_spec_keeps_its_parameters(name: str, z: float) -> None:
    spec = parse_spec(f"volume[name={name}]:z={z!r}")
    assert spec.id == "volume" and spec.name == name and spec.params == {"z": z}


@given(commands)
def test_derived_exec_names_are_short_and_stable(command: str) -> None:
    name = parse_spec(f"exec:{command}").name
    assert name.startswith("exec:") and len(name) <= EXEC_NAME_MAX
    assert name == exec_name(command.strip())  # the same command, the same name


def test_derived_exec_names_name_the_program_and_tell_commands_apart() -> None:
    a = parse_spec("exec:python3 /opt/kinwatch.py --events {events} --out {out}").name
    b = parse_spec("exec:python3 /opt/kinwatch.py --events {events} --out {out} --strict").name
    assert a.startswith("exec:kinwatch~") and b.startswith("exec:kinwatch~") and a != b
    assert parse_spec("exec:duckdb -c 'COPY (SELECT 1) TO {out}'").name.startswith("exec:duckdb~")


@pytest.mark.parametrize("bad", ["exec[nam=x]:run", "exec[name=]:run", "exec[name=a b]:run",
                                 "exec[name=x,name=y]:run", "volume[name=v]z=1", "exec[]:run",
                                 "exec[name=x]:", "volume[name=$(rm)]"])
def test_malformed_names_are_refused(bad: str) -> None:
    with pytest.raises(SpecError):
        parse_spec(bad)


def test_sets_expand_in_place_and_combine_without_repeats(monkeypatch) -> None:
    eps = [EntryPoint("fancy", "fake_detectors:Volume", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    monkeypatch.setattr(registry, "_EXTRA", {})  # no run-time registrations from other tests
    assert expand(["builtin"]) == sorted(BUILTIN)
    assert expand(["volume", "builtin"]) == ["volume"] + sorted(set(BUILTIN) - {"volume"})
    both = expand(["all", "builtin", "exec:x {out}"])
    assert both == sorted(BUILTIN) + ["fancy", "exec:x {out}"]
    specs = [s.name for s in resolve_specs(["all", "volume:z=4"])]
    assert len(specs) == len(set(specs)) == len(BUILTIN) + 2


@pytest.mark.parametrize("specs", [["exec[name=volume]:run {out}", "volume"],
                                   ["volume[name=v]:z=3", "volume[name=v]:z=4"],
                                   ["exec[name=null]:run {out}"]])
def test_two_detectors_with_one_name_are_bad_input(specs: list[str]) -> None:
    with pytest.raises(InputError, match="two detectors named"):
        resolve_specs(specs)


@needs_script
def test_score_names_an_exec_detector_and_shows_progress_off_stdout(
        synthetic_dataset: Path, program: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = run(["score", str(synthetic_dataset), "-d", f"exec[name=kinwatch]:python3 {program} "
             "{events} {out} ok", "-d", f"exec:python3 {program} {{events}} {{out}} ok2",
             "--progress", "--json", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {d["name"]: d for d in json.loads(out.read_text())["detectors"]}
    derived = exec_name(f"python3 {program} {{events}} {{out}} ok2")
    assert set(rows) == {"kinwatch", derived, "null", "random"}
    assert rows["kinwatch"]["spec"] == f"exec[name=kinwatch]:python3 {program} {{events}} {{out}} ok"
    assert rows[derived]["spec"].endswith(" ok2") and rows["null"]["spec"] is None
    assert "kinwatch" in r.stdout and str(program) not in r.stdout  # a short name, not the command
    assert "progress:" not in r.stdout
    lines = [x for x in r.stderr.splitlines() if x.startswith("progress: ")]
    assert "progress: kinwatch: outside program running" in lines
    assert any(x.startswith("progress: null: done ") and x.endswith("events (100%)") for x in lines)
    quiet = run(["score", str(synthetic_dataset), "-d", "null"], tmp_path)
    assert quiet.returncode == 0 and "progress" not in quiet.stderr + quiet.stdout  # a pipe, no flag


@needs_script
def test_duplicate_names_exit_2_before_anything_runs(synthetic_dataset: Path, tmp_path: Path) -> None:
    r = run(["score", str(synthetic_dataset), "-d", "exec[name=volume]:true", "-d", "builtin"],
            tmp_path, timeout=60)
    assert r.returncode == 2 and "two detectors named 'volume'" in r.stderr
    assert "Traceback" not in r.stderr


def test_progress_is_rich_on_a_terminal_plain_when_asked_else_off() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert ProgressView.choose(False, Tty()).mode == "rich"
    assert ProgressView.choose(False, io.StringIO()).mode == "off"
    pipe = io.StringIO()
    view = ProgressView.choose(True, pipe)
    assert view.mode == "plain"
    view.detector("volume", "score", 0, 1000)
    view.detector("volume", "score", 10, 1000)  # within EVERY_S of the last line: not said
    view.detector("volume", "ok", 1000, 1000)
    assert pipe.getvalue().splitlines() == ["progress: volume: scoring 0/1,000 events (0%)",
                                            "progress: volume: done 1,000/1,000 events (100%)"]


# -- documentation -------------------------------------------------------------------------------

@needs_script
def test_detectors_list_gives_whole_sentences_without_markup(tmp_path: Path) -> None:
    r = run(["detectors", "list"], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0]:
            rows[cells[0]] = cells
    assert set(BUILTIN) <= set(rows)
    for ident in BUILTIN:
        about = rows[ident][3]
        assert about.endswith("."), (ident, about)  # a whole sentence, never cut
        assert "``" not in about and ":class:" not in about
    assert rows["volume"][2] == "z, min_events, prior, log, timezone"


@needs_script
def test_detectors_show_unknown_id_exits_2_with_close_matches(tmp_path: Path) -> None:
    r = run(["detectors", "show", "volum"], tmp_path, timeout=60)
    assert r.returncode == 2 and "did you mean 'volume'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("ident", sorted(BUILTIN))
def test_every_builtin_hyperparameter_has_a_meaning(ident: str) -> None:
    from snoopbench.detectors import docs

    cls = registry.load(ident)
    meanings = docs.param_docs(cls, list(cls.hyperparameters()))
    assert all(m and "``" not in m for m in meanings.values()), meanings


@needs_script
def test_detectors_show_gives_types_defaults_and_meanings(tmp_path: Path) -> None:
    ident = "random_audit"
    r = run(["detectors", "show", ident], tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("hyperparameters", 1)[1].split("SPEC:", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:] if line.strip()]
    params = registry.load(ident).hyperparameters()
    for name in params:
        row = next(x for x in rows if x and x[0] == name)
        assert len(row) > 3 and row[3] != "–", (name, row)  # name, type, default, meaning...


# -- conformance ---------------------------------------------------------------------------------

@needs_script
def test_check_passes_a_builtin_and_a_fair_program(program: Path, tmp_path: Path) -> None:
    r = run(["detectors", "check", "volume"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS check_no_look_ahead" in r.stdout and "FAIL" not in r.stdout
    r = run(["detectors", "check", f"exec[name=kin]:python3 {program} {{events}} {{out}} ok"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS check_deterministic" in r.stdout and "all 7 checks passed" in r.stdout


@needs_script
@pytest.mark.parametrize("mode, check", [("random", "check_deterministic")])
def test_check_exits_1_naming_what_a_program_fails(mode: str, check: str, program: Path,
                                                  tmp_path: Path) -> None:
    r = run(["detectors", "check", f"exec[name=kin]:python3 {program} {{events}} {{out}} {mode}"],
            tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"FAIL {check}" in r.stdout and f"kin failed 1 check(s): {check}" in r.stderr


@needs_script
@pytest.mark.parametrize("spec, says", [("all", "a set of detectors"), ("exec[x=1]:y", "unknown option")])
def test_check_of_a_bad_spec_exits_2(spec: str, says: str, tmp_path: Path) -> None:
    r = run(["detectors", "check", spec], tmp_path, timeout=60)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr


def test_check_names_the_checks_a_python_plugin_fails(synthetic_dataset: Path) -> None:
    from fake_detectors import register_fakes
    from snoopbench.benchmarks.conformance import check_spec

    register_fakes()
    result = check_spec("fake_peek", synthetic_dataset)
    assert result.error is None
    assert "check_batch_invariance" in result.failed and "check_builds" not in result.failed
    assert check_spec("fake_volume", synthetic_dataset).passed
    with pytest.raises(InputError, match="no parameter 'zz'"):
        check_spec("volume:zz=1", synthetic_dataset)


def test_check_names_a_program_writing_the_wrong_columns(synthetic_dataset: Path,
                                                         program: Path) -> None:
    from snoopbench.benchmarks.conformance import check_spec

    result = check_spec(f"exec:python3 {program} {{events}} {{out}} nocol", synthetic_dataset)
    assert result.failed == ["check_output_format"]
    assert "lacks column(s) ['score']" in result.checks[2].reason
    assert all(c.ok is None for c in result.checks[3:])  # the checks that need a score: not run
