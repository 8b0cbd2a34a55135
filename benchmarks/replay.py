"""``snoopbench replay``: feed a running product a dataset's events in time order.

Targets (by URL scheme):

- ``syslog://HOST:PORT`` or ``tcp://HOST:PORT``: syslog over TCP, RFC 5424 messages with
  octet-counting framing (RFC 6587 section 3.4.1). The event's fields travel as structured data;
  the MSG is the ECS or OCSF document (``--format ecs|ocsf``) or a short sentence (``syslog``).
- ``http://HOST:PORT/PATH`` (or https): the Elasticsearch ``_bulk`` form, NDJSON with an action
  line ``{"index":{"_id":"EVENT_ID"}}`` before each ECS or OCSF document, ``batch_size`` events a
  request. A response that is not 2xx, or that says ``"errors":true``, stops the replay.

Pacing: ``speed`` times real time from the first event replayed (``None``: as fast as possible);
an event goes out at most :data:`PACE_S` (10 ms) before its time, and late only if the target
takes events more slowly than the pace asks.

Delivery, stops and resuming: a checkpoint file (JSON) records how many events the target has
taken, the last one's id and time; it is written after every batch the target acknowledged, when
the target stops mid-stream, and on Ctrl-C; ``resume`` continues after it. HTTP: a batch counts
once its response is 2xx without errors; a batch in flight when the target stops is sent again on
resume, and because each document carries its event id as ``_id`` a re-sent one overwrites itself
(exactly once in the index). Syslog over TCP has no acknowledgement from the application: a batch
counts once the receiver's host has acknowledged every byte of it (the socket's send queue is
empty) and the connection was not reset. A receiver that closes cleanly has read all it was
sent (Linux resets rather than closes a connection with unread data), so a clean stop gives
every event exactly once; after a reset, the batch in flight is sent again on resume (at least
once: the messages carry event_id to drop repeats), and a receiver that crashes holding
acknowledged but unread messages loses them (RELP, not plain syslog, closes that gap).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import termios
import time
import urllib.error
from collections import deque
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from snoopbench.benchmarks import siem
from snoopbench.benchmarks.dataset import Dataset, iter_event_batches, open_dataset
from snoopbench.benchmarks.export import check_format
from snoopbench.contract.errors import InputError, SnoopbenchError

CHECKPOINT_FORMAT = "snoopbench/replay-checkpoint/v1"
PAYLOADS = ("ecs", "ocsf", "syslog")
ACK_TIMEOUT_S = 30.0
PACE_S = 0.01  # an event goes out at most this long before its time (fewer, fuller batches)
_HISTORY_BYTES = 64 << 20  # how far back a stop may have to go (> any receive window)


class ReplayStopped(SnoopbenchError):
    """The target stopped taking events mid-stream (exit 1); the checkpoint says where."""


class _Gone(Exception):
    """Raised by a sender when the target stopped; the batch in flight was not delivered, and
    up to ``unsure`` bytes it acknowledged before may not have been read either."""

    def __init__(self, message: str, unsure: int = 0) -> None:
        super().__init__(message)
        self.unsure = unsure


@dataclass
class Progress:
    """How far a replay got: events the target took, and the last one's id and time."""

    position: int  # events of the dataset delivered, counting from the first
    last_event_id: int | None = None
    last_ts: str | None = None
    sent_now: int = 0  # delivered by this run


@dataclass(frozen=True)
class ReplayResult:
    target: str
    format: str
    events: int  # delivered by this run
    position: int
    total: int
    seconds: float
    checkpoint: str
    last_event_id: int | None
    last_ts: str | None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


# -- senders --------------------------------------------------------------------------------------

_TCP_ESTABLISHED, _TCP_CLOSE, _TCP_CLOSE_WAIT = 1, 7, 8  # linux/tcp_states.h
_TCPI_SND_WND = 228  # offset of tcpi_snd_wnd (the peer's advertised window) in struct tcp_info
_RMEM_MAX = 6 << 20  # Linux's default largest receive buffer, when the window cannot be read


class SyslogSender:
    """RFC 5424 over TCP with octet-counted framing.

    A batch counts as delivered once the receiver's host has acknowledged all of it and the
    connection was not reset. A receiver that closes cleanly has read everything first (Linux
    answers with a reset, not a close, when unread data remain), so a clean close neither loses
    nor repeats events. After a reset, acknowledged data may lie unread in the receiver's buffer,
    which its largest advertised window bounds: that much is reported as unsure, to be sent
    again.
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.closed = False
        self.window = 0  # the largest window the receiver advertised

    def _gone(self, message: str) -> _Gone:
        return _Gone(message, self.window or _RMEM_MAX)

    def encode(self, batch: pa.RecordBatch, payload: str, version: str) -> list[bytes]:
        bodies = None if payload == "syslog" else siem.encode_batch(batch, payload, version)
        return [b"%d " % len(m) + m for m in
                (text.encode("utf-8") for text in siem.syslog_batch(batch, bodies))]

    def _state(self) -> int:
        return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]

    def _unacked(self) -> int:
        buf = bytearray(4)
        fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, buf)
        return struct.unpack("i", buf)[0]

    def send(self, frames: list[bytes]) -> None:
        state = self._state()
        if self.closed or state == _TCP_CLOSE_WAIT:
            raise _Gone("the receiver closed the connection")
        if state != _TCP_ESTABLISHED:
            raise self._gone("the receiver reset the connection")
        try:
            self.sock.sendall(b"".join(frames))
        except OSError as exc:  # reset, broken pipe, timeout
            raise self._gone(str(exc) or type(exc).__name__) from exc
        deadline = time.monotonic() + self.timeout
        while self._unacked() and self._state() != _TCP_CLOSE:
            if time.monotonic() > deadline:
                raise self._gone(f"the receiver acknowledged nothing for {self.timeout:.0f} s")
            time.sleep(0.0005)
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        state = info[0]
        if state == _TCP_CLOSE:
            raise self._gone("the receiver reset the connection")
        if len(info) >= _TCPI_SND_WND + 4:
            self.window = max(self.window, struct.unpack_from("I", info, _TCPI_SND_WND)[0])
        if state == _TCP_CLOSE_WAIT:
            self.closed = True  # it read this batch, then closed: the next one fails

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()


class BulkSender:
    """The Elasticsearch ``_bulk`` form over HTTP."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout

    def encode(self, batch: pa.RecordBatch, payload: str, version: str) -> list[bytes]:
        docs = siem.encode_batch(batch, payload, version)
        return [f'{{"index":{{"_id":"{e}"}}}}\n{doc}\n'.encode("utf-8")
                for e, doc in zip(batch.column("event_id").to_pylist(), docs)]

    def send(self, frames: list[bytes]) -> None:
        req = urllib.request.Request(self.url, data=b"".join(frames), method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            raise _Gone(f"HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise _Gone(str(getattr(exc, "reason", exc))) from exc
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise _Gone(f"the response is not JSON ({body[:80]!r})") from exc
        if isinstance(answer, dict) and answer.get("errors"):
            raise _Gone(f"the target reported errors: {_first_error(answer)}")

    def close(self) -> None:
        pass


def _first_error(answer: dict[str, Any]) -> str:
    for item in answer.get("items") or []:
        for op in (item or {}).values():
            if isinstance(op, dict) and op.get("error"):
                return f"_id {op.get('_id')}: {json.dumps(op['error'])[:200]}"
    return "errors: true"


def connect(url: str, payload: str, timeout: float = ACK_TIMEOUT_S) -> SyslogSender | BulkSender:
    """A sender for ``url``; :class:`InputError` (exit 2) if the URL is bad or unreachable."""
    parts = urlsplit(url)
    if parts.scheme in ("syslog", "tcp"):
        if not parts.hostname or not parts.port:
            raise InputError(f"expected {parts.scheme}://HOST:PORT, got {url!r}", key="--to")
        try:
            return SyslogSender(parts.hostname, parts.port, timeout)
        except OSError as exc:
            raise InputError(f"cannot connect to {url} ({exc.strerror or exc})",
                             key="--to") from None
    if parts.scheme in ("http", "https"):
        if payload == "syslog":
            raise InputError("an HTTP bulk target takes --format ecs or ocsf", key="--format")
        if not parts.hostname:
            raise InputError(f"expected http://HOST:PORT/PATH, got {url!r}", key="--to")
        try:  # reachable at all? (a refused connection is exit 2, before anything is sent)
            socket.create_connection((parts.hostname, parts.port or
                                      (443 if parts.scheme == "https" else 80)),
                                     timeout=timeout).close()
        except OSError as exc:
            raise InputError(f"cannot connect to {url} ({exc.strerror or exc})",
                             key="--to") from None
        return BulkSender(url, timeout)
    raise InputError(f"expected a syslog://, tcp:// or http:// URL, got {url!r}", key="--to")


# -- checkpoints ------------------------------------------------------------------------------------

def default_checkpoint(dataset_dir: str | Path) -> Path:
    root = Path(dataset_dir).resolve()
    return root.parent / f"{root.name}.replay.json"


def read_checkpoint(path: Path, dataset: Dataset, target: str, payload: str) -> Progress:
    """Where a previous replay of this dataset to this target in this format stopped."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("no checkpoint to resume from", file=str(path), key="--resume") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable checkpoint ({exc})", file=str(path)) from None
    want = {"format": CHECKPOINT_FORMAT, "fingerprint": dataset.fingerprint, "target": target,
            "payload": payload}
    for key, value in want.items():
        if not isinstance(data, dict) or data.get(key) != value:
            got = data.get(key) if isinstance(data, dict) else None
            raise InputError(f"the checkpoint is for another replay ({key} is {got!r}, this "
                             f"replay's is {value!r})", file=str(path), key=key)
    pos = data.get("position")
    if not isinstance(pos, int) or pos < 0:
        raise InputError("expected a whole number >= 0", file=str(path), key="position")
    return Progress(position=pos, last_event_id=data.get("last_event_id"),
                    last_ts=data.get("last_ts"))


def write_checkpoint(path: Path, dataset: Dataset, target: str, payload: str,
                     progress: Progress, total: int) -> None:
    data = {"format": CHECKPOINT_FORMAT, "fingerprint": dataset.fingerprint, "target": target,
            "payload": payload, "position": progress.position, "total": total,
            "complete": progress.position >= total, "last_event_id": progress.last_event_id,
            "last_ts": progress.last_ts}
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


# -- the replay -------------------------------------------------------------------------------------

def replay(dataset_dir: str | Path, to: str, payload: str, *, speed: float | None = None,
           batch_size: int = 500, resume: bool = False, checkpoint: str | Path | None = None,
           timeout: float = ACK_TIMEOUT_S, verify: bool = False,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> ReplayResult:
    """Replay a dataset's events to ``to`` (see the module docstring). Raises
    :class:`ReplayStopped` if the target stops mid-stream, after writing the checkpoint.
    ``clock`` and ``sleep`` pace the events (given, they let a test pace without waiting)."""
    check_format(payload, PAYLOADS)
    if speed is not None and not 0 < speed < float("inf"):
        raise InputError(f"expected a number > 0 or 'max', got {speed}", key="--speed")
    if batch_size < 1:
        raise InputError(f"expected a whole number >= 1, got {batch_size}", key="--batch-size")
    dataset = open_dataset(dataset_dir, verify=verify)
    total = int(dataset.manifest["events"])
    ckpt = Path(checkpoint) if checkpoint is not None else default_checkpoint(dataset_dir)
    progress = read_checkpoint(ckpt, dataset, to, payload) if resume else Progress(position=0)
    sender = connect(to, payload, timeout)
    version = dataset.manifest["version"]
    start = time.perf_counter()

    # (position, last event id, its time, bytes delivered) after each recent batch: how far to
    # go back when the target may not have read what it acknowledged
    history = deque([(progress.position, progress.last_event_id, progress.last_ts, 0)])

    def deliver(frames: list[bytes], last: tuple[int, int]) -> None:
        try:
            sender.send(frames)
        except _Gone as exc:
            note = ""
            if exc.unsure:
                sent = history[-1][3]
                back = next((h for h in reversed(history) if h[3] <= sent - exc.unsure),
                            history[0])
                note = (f"; it may not have read the last {progress.position - back[0]:,} it "
                        "acknowledged, which --resume sends again")
                progress.sent_now = max(0, progress.sent_now - (progress.position - back[0]))
                progress.position, progress.last_event_id, progress.last_ts = back[:3]
            write_checkpoint(ckpt, dataset, to, payload, progress, total)
            last = ("nothing delivered yet" if progress.last_event_id is None else
                    f"last delivered: event {progress.last_event_id} at {progress.last_ts}")
            raise ReplayStopped(
                f"the target {to} stopped taking events ({exc}) after {progress.position:,} of "
                f"{total:,} events ({last}){note}; checkpoint written to {ckpt}: run the same "
                "command with --resume to continue") from None
        progress.position += len(frames)
        progress.sent_now += len(frames)
        progress.last_event_id = last[0]
        progress.last_ts = str(siem.iso_ms(np.array([last[1]]))[0])
        sent = history[-1][3] + sum(map(len, frames))
        history.append((progress.position, progress.last_event_id, progress.last_ts, sent))
        while len(history) > 2 and sent - history[1][3] > _HISTORY_BYTES:
            history.popleft()
        write_checkpoint(ckpt, dataset, to, payload, progress, total)

    try:
        frames: list[bytes] = []
        last = (0, 0)  # id and time (ms) of the last event in frames
        t0 = ms0 = None
        for _, batch in iter_event_batches(dataset.parts, list(siem.COLUMNS), 1 << 14,
                                           start=progress.position):
            encoded = sender.encode(batch, payload, version)
            ids = batch.column("event_id").to_pylist()
            times = batch.column("ts").cast(pa.int64()).to_pylist()
            for frame, event_id, ms in zip(encoded, ids, times):
                if speed is not None:
                    if t0 is None:
                        t0, ms0 = clock(), ms
                    wait = t0 + (ms - ms0) / 1000.0 / speed - clock()
                    if wait > PACE_S:
                        if frames:  # what is due goes out before the pause
                            deliver(frames, last)
                            frames = []
                        sleep(wait)
                frames.append(frame)
                last = (event_id, ms)
                if len(frames) >= batch_size:
                    deliver(frames, last)
                    frames = []
        if frames:
            deliver(frames, last)
    except KeyboardInterrupt:
        write_checkpoint(ckpt, dataset, to, payload, progress, total)
        raise
    finally:
        sender.close()
    write_checkpoint(ckpt, dataset, to, payload, progress, total)
    return ReplayResult(target=to, format=payload, events=progress.sent_now,
                        position=progress.position, total=total,
                        seconds=time.perf_counter() - start, checkpoint=str(ckpt),
                        last_event_id=progress.last_event_id, last_ts=progress.last_ts)
