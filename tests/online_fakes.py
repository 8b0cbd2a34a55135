"""Detectors for the online protocol's tests: one that checks every verdict it is handed, one whose
``feedback`` raises. Registered at run time; the harness's child process imports this module."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa

from snoopbench.benchmarks.feedback import FEEDBACK, INBOX
from snoopbench.contract.info import DatasetInfo, local_days
from snoopbench.detectors import Detector, register

_EPOCH = dt.date(1970, 1, 1)


class Suspicious(Detector):
    """Alerts on a fixed set of users only (score 1 for their events, 0 for everyone else's), so
    it knows exactly which user-days it alerted; then audits every verdict it receives and raises
    (its row then says error) at the first sign of a leak: a verdict on a user-day it did not
    alert, a verdict before its delay has passed, a column beyond the protocol's, or an inbox
    file for a day not yet begun."""

    name = "fake_suspicious"

    def __init__(self, *, users: str = "", delay_days: int = 0) -> None:
        self.users = users
        self.delay_days = delay_days

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        self.tz_ = info.timezone
        self.mine_ = np.array([int(u) for u in self.users.split("+") if u], np.int64)
        self.alerted_: set[tuple[int, int]] = set()
        self.scored_days_: set[int] = set()
        self.taken_ = 0

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        user = batch.column("user_id").to_numpy().astype(np.int64)
        day = local_days(batch.column("ts").cast(pa.int64()).to_numpy(), self.tz_).astype(np.int64)
        hit = np.isin(user, self.mine_)
        self.alerted_.update(zip(user[hit].tolist(), day[hit].tolist()))
        self.scored_days_.update(day.tolist())
        return hit.astype(np.float64)

    def feedback(self, verdicts: pa.Table) -> None:
        if verdicts.schema.names != FEEDBACK.names:
            raise AssertionError(f"verdict columns {verdicts.schema.names}")
        today = {(d - _EPOCH).days for d in verdicts["received"].to_pylist()}
        if len(today) != 1:
            raise AssertionError(f"one delivery covers days {sorted(today)}")
        (today,) = today
        if self.scored_days_ and today <= max(self.scored_days_):
            raise AssertionError("verdicts delivered for a day already scored")
        for user, date in zip(verdicts["user_id"].to_pylist(), verdicts["date"].to_pylist()):
            day = (date - _EPOCH).days
            if (user, day) not in self.alerted_:
                raise AssertionError(f"a verdict on user {user}, day {date}: not one of my alerts")
            if today - day < 1 + self.delay_days:
                raise AssertionError(f"a verdict on day {date} reached me on day {today - day} later")
        inbox = Path("/output") / INBOX  # where the sandbox shows it (absent when unsandboxed)
        if inbox.is_dir() and len(list(inbox.glob("day-*.parquet"))) > len(self.scored_days_) + 1:
            raise AssertionError("the inbox holds verdicts of a day not yet begun")
        self.taken_ += verdicts.num_rows
        print(f"verdicts taken: {self.taken_}", file=sys.stderr, flush=True)


class FeedbackRaises(Detector):
    """Scores each user's events by a fixed hash of the user; ``feedback`` raises."""

    name = "fake_feedback_raise"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return (batch.column("user_id").to_numpy() % 7).astype(np.float64)

    def feedback(self, verdicts: pa.Table) -> None:
        raise RuntimeError("boom in feedback")


class LookAhead(Detector):
    """A hostile detector that tries to read ahead: each batch, it opens every Parquet file it can
    find under the sandbox's folders and raises (its row then says error) if any holds an event of
    a local day after the one it is scoring. Offline the whole period is its input by design, so
    there it must raise; online it must not."""

    name = "fake_look_ahead"
    ROOTS = ("/input", "/output", "/work", "/tmp")

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        self.tz_ = info.timezone
        self.files_ = 0

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        import pyarrow.parquet as pq
        today = int(local_days(batch.column("ts").cast(pa.int64()).to_numpy(), self.tz_).max())
        for root in self.ROOTS:
            for path in Path(root).rglob("*.parquet") if Path(root).is_dir() else ():
                try:
                    ts = pq.read_table(path, columns=["ts"])["ts"]
                except Exception:  # noqa: BLE001 - not an events file, or half-written
                    continue
                self.files_ += 1
                if ts.null_count < len(ts) and int(local_days(
                        ts.cast(pa.int64()).to_numpy(), self.tz_).max()) > today:
                    raise AssertionError(f"read ahead: {path} holds events after day {today}")
        print(f"events files read: {self.files_}", file=sys.stderr, flush=True)
        return np.zeros(batch.num_rows)


def register_online_fakes() -> None:
    for cls in (Suspicious, FeedbackRaises, LookAhead):
        register(cls.name, cls)
