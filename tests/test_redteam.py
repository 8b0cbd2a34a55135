"""Red team: detectors that try every route to the truth, and detectors that try to escape.

Each cheater (tests/redteam/) tries one route; if it finds a labels file it scores from it and
would score perfectly. Each must find nothing and score no better than ``random``; the datasets
must verify afterwards; no process and no scratch folder may remain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from snoopbench.detectors.registry import parse_spec

from snoopbench.benchmarks import sandbox
from snoopbench.benchmarks.harness import score_dataset
from snoopbench.detectors import register
from snoopbench.contract.manifest import verify

from redteam.plugins import StackSnoop

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap (bwrap) is not installed: the sandbox cannot "
                                       "be tested here (CI installs it)")

PY = shlex.quote(sys.executable)
CHEAT = Path(__file__).parent / "redteam" / "cheat.py"
SNOOPBENCH = Path(sys.executable).parent / "snoopbench"
TOLERANCE = 0.05


def cheat(route: str, arg: str = "") -> str:
    return f"exec:{PY} {shlex.quote(str(CHEAT))} {route} {{events}} {{out}} {arg}".rstrip()


def found_by(log: str | None) -> list:
    lines = [ln for ln in (log or "").splitlines() if ln.startswith("REDTEAM found:")]
    assert lines, f"the cheater reported nothing: {log!r}"
    return json.loads(lines[-1].partition(":")[2].replace("'", '"'))


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def marked(marker: str) -> list[int]:
    """Processes whose command line holds ``marker``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def gone(marker: str, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not marked(marker)


def assert_no_better_than_random(row, rows) -> dict:
    """Rows as results JSON objects: the cheater's recall and event AP against random's."""
    as_json = [r if isinstance(r, dict) else r.to_json() for r in rows]
    row = row if isinstance(row, dict) else row.to_json()
    rnd = next(r for r in as_json if r["name"] == "random")
    for key in ("recall", "average_precision"):
        assert row[key] <= rnd[key] + TOLERANCE, (row["name"], key, row[key], rnd[key])
    return {k: (row[k], rnd[k]) for k in ("recall", "average_precision", "precision")}


@pytest.fixture(autouse=True)
def _bwrap_works():
    sandbox.probe.cache_clear()
    iso = sandbox.probe()
    assert iso.level == "strong", f"bwrap is installed but cannot sandbox: {iso.reason}"


@pytest.fixture()
def world(synthetic_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic dataset (truth inside), and a scratch folder for the
    harness's temporary files, so what it leaves behind can be counted."""
    data = tmp_path / "dataset"
    shutil.copytree(synthetic_dataset, data)
    manifest = json.loads((data / "manifest.json").read_text())
    for rel, meta in manifest["files"].items():  # the synthetic builder skips the hashes
        meta["sha256"] = hashlib.sha256((data / rel).read_bytes()).hexdigest()
    (data / "manifest.json").write_text(json.dumps(manifest))
    verify(data)
    (tmp_path / "scratch").mkdir()
    return tmp_path


EXEC_ROUTES = {  # route: what it tries
    "hardlink": "an inode match for its input parts anywhere (os.stat walk and find -samefile)",
    "cmdline": "every /proc/*/cmdline and environ for the dataset and --truth",
    "relative": "--truth's relative path (dataset/truth) from its working directory",
    "filesystem": "a walk of / for labels.parquet and episodes.parquet",
    "environment": "environment variables naming files (REDTEAM_TRUTH is set in the harness)",
    "write": "appending to, truncating, deleting and adding input parts",
}


def test_outside_programs_find_no_truth_and_damage_nothing(world: Path) -> None:
    before = hashes(world / "dataset")
    specs = [cheat(r, "dataset/truth" if r == "relative" else "") for r in EXEC_ROUTES]
    out = world / "results.json"
    env = {**os.environ, "TMPDIR": str(world / "scratch"),
           "REDTEAM_TRUTH": str(world / "dataset" / "truth" / "labels.parquet")}
    args = [str(SNOOPBENCH), "score", "dataset", "--truth", "dataset/truth", "--json", str(out),
            "--jobs", "2", "--timeout", "300", "--require-sandbox"]
    for s in specs:
        args += ["--detector", s]
    proc = subprocess.run(args, cwd=world, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    data = json.loads(out.read_text())
    assert data["isolation"] == "strong"
    rows = {r["name"]: r for r in data["detectors"]}
    for route, spec in zip(EXEC_ROUTES, specs):
        row = rows[parse_spec(spec).name]
        assert row["status"] == "ok", (route, row["error"])
        assert found_by(row["log"]) == [], route
        assert_no_better_than_random(row, data["detectors"])
    assert hashes(world / "dataset") == before
    verify(world / "dataset")
    assert not list((world / "scratch").iterdir())


def test_plugins_and_escapers_are_contained(world: Path, monkeypatch) -> None:
    register(StackSnoop.name, StackSnoop)
    monkeypatch.setattr(tempfile, "tempdir", str(world / "scratch"))
    before = hashes(world / "dataset")
    setsid, hog = cheat("setsid", "987653"), cheat("hog", "150")
    result = score_dataset(world / "dataset", ["redteam_stack", setsid, hog], timeout=20,
                           mem_limit_mb=500, jobs=3)
    rows = {r.name: r for r in result.detectors}
    rows.update({s: rows[parse_spec(s).name] for s in (setsid, hog)})  # by SPEC, as given
    stack = rows["redteam_stack"]
    assert stack.status == "ok", stack.error
    assert found_by(stack.log) == []
    assert_no_better_than_random(stack, result.detectors)
    assert rows[setsid].status == "timeout"
    assert gone("987653"), "the setsid child outlived its sandbox"
    assert rows[hog].status == "oom", (rows[hog].status, rows[hog].error)
    assert gone(f"{CHEAT} hog")
    assert hashes(world / "dataset") == before
    assert not list((world / "scratch").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_harness_leaves_nothing_behind(world: Path, sig: int) -> None:
    marker = f"98765{sig}"
    env = {**os.environ, "TMPDIR": str(world / "scratch")}
    proc = subprocess.Popen([str(SNOOPBENCH), "score", "dataset", "--detector",
                             cheat("setsid", marker)], cwd=world, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not marked(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marked(marker), "the detector never started"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) != 0
    finally:
        proc.kill()
    assert gone(marker), "a sandboxed process outlived the harness"
    assert not list((world / "scratch").iterdir())


def test_weak_isolation_is_marked_and_can_be_refused(synthetic_dataset, monkeypatch) -> None:
    monkeypatch.setenv(sandbox.SWITCH, "off")
    sandbox.probe.cache_clear()
    try:
        result = score_dataset(synthetic_dataset, [])
        assert result.isolation == "weak" and result.notes[0].startswith("WARNING")
        assert result.to_json()["isolation"] == "weak"
        from snoopbench.contract.errors import InputError

        with pytest.raises(InputError, match="sandbox is turned off") as err:
            score_dataset(synthetic_dataset, [], require_sandbox=True)
        assert err.value.exit_code == 2
        for bad in (0, -5):
            with pytest.raises(InputError, match="--mem-limit-mb"):
                score_dataset(synthetic_dataset, [], mem_limit_mb=bad)
    finally:
        monkeypatch.delenv(sandbox.SWITCH)
        sandbox.probe.cache_clear()


def test_a_cgroup_holds_the_limit_and_reports_its_oom_kills(tmp_path, monkeypatch) -> None:
    """The cgroup v2 bookkeeping, on a stand-in folder (this host may have no cgroup v2 memory
    controller to delegate): the limit, no swap, the group killed together, oom_kill read."""
    from snoopbench.benchmarks import proctree

    monkeypatch.setattr(proctree, "cgroup_parent", lambda: tmp_path)
    group = proctree.Cgroup.create(500 * 2**20)
    assert group is not None and group.path.parent == tmp_path
    assert (group.path / "memory.max").read_text() == str(500 * 2**20)
    assert (group.path / "memory.oom.group").read_text() == "1"
    assert (group.path / "memory.swap.max").read_text() == "0"
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not group.oom_killed()
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert group.oom_killed()
