"""snoopbench replay into real receivers: rsyslog over TCP, and an HTTP server taking _bulk."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.benchmarks import siem
from snoopbench.benchmarks.replay import replay

CLI = [sys.executable, "-m", "snoopbench"]
RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)


@pytest.fixture
def tiny(tiny_day: Path) -> Path:
    return tiny_day


def event_ids(dataset: Path) -> list[int]:
    return pa.concat_tables(pq.read_table(p, columns=["event_id"]) for p in
                            sorted((dataset / "events").glob("*.parquet")))["event_id"].to_pylist()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None = None, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the receiver exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Rsyslog:
    """A real rsyslogd on loopback, unprivileged port, own work dir, raw messages to a file."""

    def __init__(self, work: Path) -> None:
        self.work, self.port, self.out = work, free_port(), work / "received.log"
        work.mkdir(parents=True, exist_ok=True)
        self.conf = work / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{work}")\n'
            'module(load="imtcp")\n'
            'template(name="raw" type="string" string="%rawmsg%\\n")\n'
            f'ruleset(name="replayed") {{ action(type="omfile" file="{self.out}" '
            'template="raw") }\n'
            f'input(type="imtcp" address="127.0.0.1" port="{self.port}" ruleset="replayed")\n')
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf), "-i",
                                      str(self.work / "rsyslogd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def received(self, expect: int, seconds: float = 30) -> list[str]:
        """The messages written, once ``expect`` have arrived (or the time is up)."""
        deadline = time.monotonic() + seconds
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = self.out.read_text().splitlines() if self.out.exists() else []
            if len(lines) >= expect:
                break
            time.sleep(0.1)
        return lines


@pytest.fixture
def rsyslog(tmp_path):
    if RSYSLOGD is None:
        pytest.skip("rsyslogd is not installed (Debian package rsyslog): the syslog replay "
                    "tests need a real receiver")
    r = Rsyslog(tmp_path / "rsyslog")
    r.start()
    yield r
    r.stop()


SD_EVENT_ID = re.compile(r'\[snoopbench@32473 event_id="(\d+)"')
FRAME = re.compile(r"^<110>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ws\d+ [A-Z]+ - [a-z]+ \[")


@pytest.mark.parametrize("fmt", ["ecs", "syslog"])
def test_rsyslog_receives_every_event_once_in_order(tiny, rsyslog, tmp_path, fmt):
    ids = event_ids(tiny)
    done = subprocess.run([*CLI, "replay", str(tiny), "--to", f"syslog://127.0.0.1:{rsyslog.port}",
                           "--format", fmt, "--speed", "max", "--checkpoint",
                           str(tmp_path / "ck.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(ids):,} of {len(ids):,} delivered" in done.stderr
    lines = rsyslog.received(len(ids))
    assert [int(SD_EVENT_ID.search(line).group(1)) for line in lines] == ids
    assert all(FRAME.match(line) for line in lines[:100])
    if fmt == "ecs":
        doc = json.loads(lines[-1].split("] ", 1)[1])
        assert siem.read_record(doc, "ecs")["event_id"] == ids[-1]


def test_rsyslog_stopped_mid_stream_then_resume_gives_every_event_once(tiny, rsyslog, tmp_path):
    ids = event_ids(tiny)
    ck = tmp_path / "ck.json"
    cmd = [*CLI, "replay", str(tiny), "--to", f"tcp://127.0.0.1:{rsyslog.port}", "--format",
           "ocsf", "--batch-size", "100", "--checkpoint", str(ck)]
    proc = subprocess.Popen([*cmd, "--speed", "20000"], stderr=subprocess.PIPE, text=True)
    while not ck.exists() or json.loads(ck.read_text())["position"] < 1000:
        time.sleep(0.05)
    rsyslog.stop()  # the receiver goes away mid-stream
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    stopped = json.loads(ck.read_text())
    assert 0 < stopped["position"] < len(ids) and not stopped["complete"]
    assert f"after {stopped['position']:,} of {len(ids):,} events" in err and "--resume" in err
    assert f"event {stopped['last_event_id']} at {stopped['last_ts']}" in err
    assert "Traceback" not in err
    rsyslog.start()
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = [int(SD_EVENT_ID.search(line).group(1)) for line in rsyslog.received(len(ids))]
    # every event, in order; a stop that reset the connection may repeat what the receiver
    # acknowledged but perhaps never read (at least once), as one run of the events just before
    # the stop, never more than the checkpoint's step back
    resumed = len(got) - (len(ids) - stopped["position"])  # where the second run begins
    assert got[resumed:] == ids[stopped["position"]:]
    assert got[:resumed] == ids[:resumed] and resumed >= stopped["position"]
    again = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert again.returncode == 0 and "replayed 0 events" in again.stderr


# -- HTTP _bulk --------------------------------------------------------------------------------------

class BulkIndex:
    """An HTTP server taking Elasticsearch _bulk requests into a dict by _id; it can be told to
    die in the middle of its Nth request (the connection drops, nothing of it is indexed)."""

    def __init__(self, port: int | None = None, die_at: int | None = None,
                 reject: bool = False) -> None:
        self.docs: dict[str, dict] = {}
        self.order: list[str] = []
        self.requests = 0
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                index.requests += 1
                if die_at is not None and index.requests >= die_at:
                    self.connection.shutdown(socket.SHUT_RDWR)  # gone without an answer
                    threading.Thread(target=index.server.shutdown).start()
                    return
                lines = body.decode().splitlines()
                items = []
                for action, doc in zip(lines[::2], lines[1::2]):
                    _id = json.loads(action)["index"]["_id"]
                    index.docs[_id] = json.loads(doc)
                    index.order.append(_id)
                    items.append({"index": {"_id": _id, "status": 400 if reject else 201,
                                            **({"error": {"type": "mapper_parsing_exception"}}
                                               if reject else {})}})
                answer = json.dumps({"took": 1, "errors": reject, "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        deadline = time.monotonic() + 20
        while True:  # the same port again: the old connections may take a moment to go
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
                break
            except OSError:
                if port is None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_bulk_receives_every_event_once_in_order(tiny, tmp_path):
    ids = event_ids(tiny)
    index = BulkIndex()
    try:
        done = subprocess.run([*CLI, "replay", str(tiny), "--to",
                               f"http://127.0.0.1:{index.port}/snoop/_bulk", "--format", "ocsf",
                               "--batch-size", "1000", "--checkpoint", str(tmp_path / "ck.json")],
                              capture_output=True, text=True)
    finally:
        index.close()
    assert done.returncode == 0, done.stderr
    assert index.order == [str(i) for i in ids]
    assert index.requests == -(-len(ids) // 1000)
    assert siem.read_record(index.docs[str(ids[5])], "ocsf")["event_id"] == ids[5]


def test_http_receiver_dying_mid_stream_then_resume_gives_every_event_once(tiny, tmp_path):
    ids = event_ids(tiny)
    ck = tmp_path / "ck.json"
    first = BulkIndex(die_at=4)
    cmd = [*CLI, "replay", str(tiny), "--to", f"http://127.0.0.1:{first.port}/_bulk",
           "--format", "ecs", "--batch-size", "500", "--checkpoint", str(ck)]
    stopped = subprocess.run(cmd, capture_output=True, text=True)
    first.server.server_close()
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert "after 1,500 of" in stopped.stderr and "--resume" in stopped.stderr
    assert json.loads(ck.read_text())["last_event_id"] == ids[1499]
    second = BulkIndex(port=first.port)
    second.docs, second.order = first.docs, first.order  # the same index, back up
    try:
        done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    finally:
        second.close()
    assert done.returncode == 0, done.stderr
    assert second.order == [str(i) for i in ids]  # exactly once, in order


def test_errors_in_a_bulk_response_stop_the_replay_with_a_report(tiny, tmp_path):
    index = BulkIndex(reject=True)
    try:
        done = subprocess.run([*CLI, "replay", str(tiny), "--to",
                               f"http://127.0.0.1:{index.port}/_bulk", "--checkpoint",
                               str(tmp_path / "ck.json")], capture_output=True, text=True)
    finally:
        index.close()
    assert done.returncode == 1
    assert "mapper_parsing_exception" in done.stderr and "after 0 of" in done.stderr


@pytest.mark.parametrize("url", ["syslog://127.0.0.1:{port}", "http://127.0.0.1:{port}/_bulk"])
def test_an_unreachable_target_exits_2(tiny, tmp_path, url):
    target = url.format(port=free_port())
    done = subprocess.run([*CLI, "replay", str(tiny), "--to", target, "--checkpoint",
                           str(tmp_path / "ck.json")], capture_output=True, text=True)
    assert done.returncode == 2 and "cannot connect" in done.stderr and target in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "ck.json").exists()


@pytest.mark.parametrize("args, key", [
    (["--to", "ftp://x/"], "--to"), (["--to", "syslog://h"], "--to"),
    (["--to", "http://127.0.0.1:1/", "--format", "syslog"], "--format"),
    (["--to", "syslog://127.0.0.1:1", "--speed", "0"], "--speed"),
    (["--to", "syslog://127.0.0.1:1", "--speed", "fast"], "--speed"),
    (["--to", "syslog://127.0.0.1:1", "--resume"], "--resume"),
])
def test_bad_arguments_exit_2_naming_the_option(tiny, tmp_path, args, key):
    done = subprocess.run([*CLI, "replay", str(tiny), *args, "--checkpoint",
                           str(tmp_path / "ck.json")], capture_output=True, text=True)
    assert done.returncode == 2 and key in done.stderr and "Traceback" not in done.stderr


def test_speed_paces_the_events_at_n_times_real_time(tiny, tmp_path):
    ms = pa.concat_tables(pq.read_table(p, columns=["ts"]) for p in sorted(
        (tiny / "events").glob("*.parquet")))["ts"].cast(pa.int64()).to_pylist()
    index = BulkIndex()
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    try:
        r = replay(tiny, f"http://127.0.0.1:{index.port}/_bulk", "ecs", speed=3600.0,
                   checkpoint=tmp_path / "ck.json", clock=lambda: now[0], sleep=sleep)
    finally:
        index.close()
    span = (ms[-1] - ms[0]) / 1000 / 3600.0
    assert r.events == len(ms) and len(index.order) == len(ms)
    # the pauses add up to the day's span at that speed (less at most the 10 ms an event may go
    # early), spread through the day
    assert span - 0.0101 <= sum(slept) <= span
    assert len(slept) > 100 and max(slept) < span / 10 and min(slept) > 0.01


def test_ctrl_c_exits_130_with_a_checkpoint_and_resume_finishes(tiny, tmp_path):
    import signal

    ids = event_ids(tiny)
    ck = tmp_path / "ck.json"
    index = BulkIndex()
    cmd = [*CLI, "replay", str(tiny), "--to", f"http://127.0.0.1:{index.port}/_bulk",
           "--batch-size", "50", "--checkpoint", str(ck)]
    try:
        proc = subprocess.Popen([*cmd, "--speed", "2000"], stderr=subprocess.PIPE, text=True)
        while not ck.exists() or json.loads(ck.read_text())["position"] < 200:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
        stopped = json.loads(ck.read_text())
        assert 200 <= stopped["position"] < len(ids)
        done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    finally:
        index.close()
    assert done.returncode == 0, done.stderr
    assert sorted(set(index.order), key=int) == [str(i) for i in ids]  # every event indexed
    assert len(index.docs) == len(ids)
