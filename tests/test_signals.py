"""SIGTERM and Ctrl-C end a run cleanly: every worker process ends with it, and no dataset, truth
or .partial folder is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("snoopbench")


def _descendants(pid: int) -> set[int]:
    """Every process whose chain of parents leads to ``pid`` (from /proc)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        kids = {p for p, pp in parent.items() if pp in frontier} - found
        found |= kids
        frontier = kids
    return found


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


@pytest.mark.skipif(not SCRIPT.exists() or not Path("/proc").is_dir(), reason="needs the console script and /proc")
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_signal_ends_every_worker_and_leaves_nothing(tmp_path: Path, sig: int, code: int) -> None:
    out, truth = tmp_path / "data", tmp_path / "kept"
    proc = subprocess.Popen([str(SCRIPT), "simulate", "small-force", "--days", "60", "--workers", "2",
                             "--out", str(out), "--sealed", str(truth), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:  # both group processes started
        workers = _descendants(proc.pid)
        time.sleep(0.2)
    time.sleep(2.0)
    workers = _descendants(proc.pid)
    assert workers, "the run should have worker processes by now"
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not end within 30 s of the signal")
    assert proc.returncode == code, err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not _alive(workers), "worker processes outlived the run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "partial output was left behind"
    shutil.rmtree(tmp_path, ignore_errors=True)
    os.makedirs(tmp_path, exist_ok=True)


@pytest.mark.skipif(not SCRIPT.exists() or not Path("/proc").is_dir(), reason="needs the console script and /proc")
def test_ctrl_c_during_assess_ends_the_background_simulation_and_leaves_no_world(tmp_path: Path) -> None:
    """assess simulates the next world in a second process while it assesses this one: Ctrl-C ends
    both, and neither world is left in the temporary folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([str(SCRIPT), "assess", "small-force", "--days", "60", "--seeds", "3",
                             "-r", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    deadline = time.monotonic() + 90
    kids: set[int] = set()
    while time.monotonic() < deadline and not kids:  # the background simulation has started
        kids = _descendants(proc.pid)
        time.sleep(0.2)
    time.sleep(3.0)
    kids = _descendants(proc.pid)
    assert kids, "assess should have a background simulation by now"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("assess did not end within 60 s of Ctrl-C")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not _alive(kids), "the background simulation outlived the run"
    assert list(tmp.iterdir()) == [], "a world was left behind"
