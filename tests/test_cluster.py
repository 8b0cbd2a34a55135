"""``simulate --scheduler``: a real Dask scheduler and two real workers on loopback, started here.

The dataset written through the cluster must be the local run's, byte for byte; a scheduler that
cannot be reached is bad input (exit 2, nothing written); a job that fails on the cluster fails
the call.
"""

from __future__ import annotations

import json
import math
import operator
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed")
from distributed import Client, LocalCluster  # noqa: E402

from snoopbench.benchmarks.cli import main  # noqa: E402
from snoopbench.simulator import cluster  # noqa: E402
from snoopbench.contract.errors import InputError  # noqa: E402
from snoopbench.simulator.run import simulate  # noqa: E402

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """A dask CLI process in its own session, so that it and its children can be stopped together."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded workers, all on 127.0.0.1."""
    base = tmp_path_factory.mktemp("dask")
    sched_file = base / "scheduler.json"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file)],
                    base, base / "scheduler.log")]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sched_file.exists():
            assert procs[0].poll() is None, (base / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        for i in range(2):
            procs.append(_start(["distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                                 "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                 "--local-directory", str(base / f"w{i}")], base, base / f"worker-{i}.log"))
        with Client(scheduler_file=str(sched_file), timeout=START_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield json.loads(sched_file.read_text())["address"]
    finally:
        for p in reversed(procs):
            _stop(p)


def _executed(address: str) -> dict[str, int]:
    """Tasks each worker has run so far."""
    with Client(address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def test_cluster_run_is_byte_identical_to_a_local_run(scheduler: str, tmp_path: Path) -> None:
    before = _executed(scheduler)
    on_cluster = simulate("tiny", tmp_path / "cluster", days=2, scheduler=scheduler)
    after = _executed(scheduler)
    local = simulate("tiny", tmp_path / "local", days=2)
    assert on_cluster.fingerprint == local.fingerprint
    assert all(after[w] > before.get(w, 0) for w in after) and len(after) == 2, "both workers ran jobs"
    a, b = (json.loads((r.out / "manifest.json").read_text()) for r in (on_cluster, local))
    assert a["files"] == b["files"] and a["truth_files"] == b["truth_files"]  # same paths, rows and sha256
    for rel in [*a["files"], *a["truth_files"]]:
        assert pq.read_table(on_cluster.out / rel).equals(pq.read_table(local.out / rel)), rel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster", "local"]  # no work folders left


def test_results_come_back_in_submission_order(scheduler: str) -> None:
    seen: list[int] = []
    out = cluster.dask_map(scheduler, operator.neg, list(range(40)), on_done=lambda n, results: seen.append(n))
    assert out == [-i for i in range(40)]
    assert seen == list(range(1, 41))


def test_a_failing_job_fails_the_call(scheduler: str) -> None:
    with pytest.raises(ValueError, match="math domain error"):
        cluster.dask_map(scheduler, math.sqrt, [4.0, -1.0, 9.0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_bad_input_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "ds"
    code = main(["simulate", "tiny", "--out", str(out), "--days", "1", "--scheduler", address, "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and address in err
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor its temporary folder


def test_malformed_address_and_scheduler_without_workers(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--scheduler.*missing port"):
        cluster.dask_map("tcp://127.0.0.1", abs, [1], timeout=1)
    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=":0") as empty:
        with pytest.raises(InputError, match="has no workers"):
            cluster.dask_map(empty.scheduler_address, abs, [1], timeout=1)


def test_cluster_run_is_pipelined_one_long_job_per_worker_thread(scheduler: str, tmp_path: Path) -> None:
    """No area-then-merge barrier: each worker thread runs one job that simulates its group of areas
    and merges its share of the days as soon as every group has finished them (as --workers N)."""
    before = _executed(scheduler)
    r = simulate("misuse-zoo", tmp_path / "zoo", days=3, scheduler=scheduler)
    after = _executed(scheduler)
    assert {w: after[w] - before.get(w, 0) for w in after} == {w: 1 for w in after} and len(after) == 2
    assert r.fingerprint == simulate("misuse-zoo", tmp_path / "local", days=3, workers=2).fingerprint


def test_more_workers_asked_for_than_the_cluster_has_is_bad_input(scheduler: str, tmp_path: Path,
                                                                  monkeypatch, capsys) -> None:
    monkeypatch.setattr(cluster, "WORKERS_TIMEOUT_S", 1.0)
    code = main(["simulate", "tiny", "--out", str(tmp_path / "ds"), "--days", "1", "--scheduler", scheduler,
                 "--workers", "3", "--quiet"])
    assert code == 2
    assert "expected 3 workers" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_cluster_run_that_fails_stops_its_jobs_and_leaves_nothing(scheduler: str, tmp_path: Path) -> None:
    """The first group refuses an impossible plan as it writes the world; the other group stops at
    its next day, and only then is the run's folder removed (no job writes into it afterwards)."""
    from snoopbench.contract.errors import ScenarioError
    from snoopbench.simulator.scenario import find

    scn = tmp_path / "s.toml"
    scn.write_text(f'format = "snoopbench/scenario/v1"\nextends = "{find("tiny")}"\nname = "fails"\n'
                   "[misuse.kinds.neighbour]\nepisodes = 5000\n")
    out = tmp_path / "out"
    with pytest.raises(ScenarioError, match=r"misuse\.kinds\.neighbour\.episodes: 5000 episodes asked for"):
        simulate(scn, out, days=3, scheduler=scheduler)
    time.sleep(2)  # a job still running would write here now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]
