"""The installed ``snoopbench`` command as a user meets it: usage errors, help, Ctrl-C.

Every test runs the console script installed next to this interpreter, in a subprocess, from a
folder outside the repository, so that a release of typer, click or rich that changes how a
mistake is reported turns these tests red.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SCRIPT = shutil.which("snoopbench", path=str(BIN))
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="the snoopbench console script is not "
                                "installed next to this Python (pip install -e .)")


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working folder outside the repository."""
    work = tmp_path / "work"
    work.mkdir()
    assert Path(__file__).resolve().parents[1] not in work.resolve().parents
    return work


# (argv, expected exit code, fragment the one stderr line must hold). {ds}: a dataset, {tmp}: a
# scratch folder. Fragments are compared case-insensitively (click spells metavars in either case).
USAGE_ERRORS = [
    (["simulate", "tiny"], 2, "--out"),
    (["simulate", "tiny", "--out", "{tmp}/o", "--days", "2.5"], 2, "--days"),
    (["simulate", "tiny", "--out"], 2, "--out"),
    (["simulate", "tiny", "--out", "{tmp}/o", "--seed", "abc"], 2, "--seed"),
    (["--bogus"], 2, "--bogus"),
    (["simulat"], 2, "simulat"),
    (["scenarios", "bogus"], 2, "bogus"),
    (["detectors", "list", "--x"], 2, "--x"),
    (["score"], 2, "dataset"),
    (["score", "{ds}", "--budget", "lots"], 2, "--budget"),
    (["bench", "--seeds", "three"], 2, "--seeds"),
    (["score", "{ds}", "-d", "volume:z=abc"], 2, "volume: parameter 'z' expects a finite number"),
    (["score", "{ds}", "-d", "relationship:nope=1"], 2, "relationship: no parameter 'nope'"),
    (["score", "{ds}", "-d", "random:seed=2.5"], 2, "random: parameter 'seed' expects an integer"),
    (["score", "{ds}", "-d", "ensemble:combine=avg"], 2, "one of 'sum', 'max'"),
    (["score", "{ds}", "-d", "nosuch"], 2, "unknown detector 'nosuch'"),
    (["detectors", "show", "nosuch"], 2, "unknown detector 'nosuch'"),
    # rich markup must not eat text a user typed: the brackets come back literally
    (["scenarios", "validate", "{tmp}/force[cluster].toml"], 2, "force[cluster].toml"),
]


@pytest.mark.parametrize("argv, code, fragment", USAGE_ERRORS,
                         ids=[" ".join(a) for a, _, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line_and_exit_2(argv, code, fragment, outside, synthetic_dataset):
    args = [a.format(ds=synthetic_dataset, tmp=outside) for a in argv]
    r = run(args, outside)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert fragment.lower() in lines[0].lower()
    assert r.stdout == ""
    assert not (outside / "o").exists()  # nothing written


@pytest.mark.parametrize("argv", [["--help"], ["simulate", "--help"], ["detectors", "--help"],
                                  ["scenarios", "list", "--help"]])
def test_help_exits_0_on_stdout(argv, outside):
    r = run(argv, outside)
    assert r.returncode == 0 and r.stderr == ""
    assert "Usage" in r.stdout and "Traceback" not in r.stdout


@pytest.mark.parametrize("argv", [[], ["scenarios"], ["detectors"]])
def test_a_group_alone_prints_its_help(argv, outside):
    r = run(argv, outside)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout and "Traceback" not in r.stdout + r.stderr


def test_python_dash_m_is_the_same_command(outside):
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    r = subprocess.run([sys.executable, "-m", "snoopbench", "--bogus"], cwd=outside, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error: No such option")
    assert "snoopbench --help" in r.stderr  # the program's name, not __main__.py


def test_detectors_show_prints_types_defaults_and_plain_docs(outside):
    r = run(["detectors", "show", "volume"], outside)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines() if line.strip()}
    assert rows["z"][:2] == ["float", "3.0"] and rows["min_events"][:2] == ["int", "1"]
    assert rows["log"][:2] == ["bool", "False"]
    assert "log scale" in " ".join(rows["log"][2:])  # what it means, from the docstring
    assert "Poisson floor" in r.stdout  # the docstring, beyond its first line
    assert "``" not in r.stdout and ":class:" not in r.stdout
    r = run(["detectors", "show", "ensemble"], outside)
    assert "'sum' | 'max'" in r.stdout


def test_ctrl_c_exits_130_saying_interrupted(outside):
    """SIGINT to the command's process group, as a terminal sends it, mid-simulation."""
    out = outside / "big"
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([SCRIPT, "simulate", "small-force", "--out", str(out), "--quiet"],
                            cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(outside.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the run has started once its (temporary) output folder appears
    time.sleep(1.0)
    assert proc.poll() is None, "the simulation ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert [line for line in stderr.splitlines() if line.strip()] == ["error: interrupted"]
    assert list(outside.iterdir()) == []  # no dataset, and no half-written one left behind


# In-process: the mapping itself, for exceptions of standalone click and of typer's own copy.

def _click_modules():
    mods = []
    for name in ("click", "typer._click"):
        try:
            mods.append(pytest.importorskip(f"{name}.exceptions"))
        except pytest.skip.Exception:
            pass
    return mods


@pytest.mark.parametrize("mod", _click_modules(), ids=lambda m: m.__name__)
def test_either_clicks_usage_errors_map_to_one_line_and_2(mod, monkeypatch):
    from rich.console import Console

    from snoopbench.benchmarks import cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=buf, width=40))
    assert cli._parser_exit(mod.UsageError("No such thing\nat all.")) == 2
    assert cli._parser_exit(mod.BadParameter("not [cluster] a number")) == 2
    lines = buf.getvalue().splitlines()
    assert lines == ["error: No such thing at all.",
                     "error: Invalid value: not [cluster] a number"]


def test_keyboard_interrupt_and_abort_exit_130(monkeypatch, capsys):
    from snoopbench.benchmarks import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main([]) == 130
    assert capsys.readouterr().err.strip() == "error: interrupted"
    abort = type("Abort", (RuntimeError,), {})
    try:
        raise abort() from KeyboardInterrupt()
    except RuntimeError as exc:
        assert cli._parser_exit(exc) == 130
    assert cli._parser_exit(ValueError("a bug")) is None  # not the parser's: a traceback


def test_a_sentence_said_twice_by_typer_and_click_is_said_once() -> None:
    from snoopbench.benchmarks import cli

    class Twice(Exception):
        def format_message(self) -> str:
            return "No such command 'simulat'. Did you mean 'simulate'? Did you mean 'simulate'?"

    assert cli._usage_message(Twice()) == "No such command 'simulat'. Did you mean 'simulate'?"
