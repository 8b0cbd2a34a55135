"""Robustness to organisational change: each detector's false alerts per day and recall in the
four weeks before and after each change of the scenario's timeline.

Computed from what scoring already has (the alerted user-days and the labelled events of the
period) and the dataset's public ``context/timeline.parquet``; a dataset without a timeline has
no changes and no robustness rows. The rules are the scoring rules (:mod:`benchmarks.metrics`)
restricted to a window of local days:

- false alerts per day: alerted user-days of the window holding no labelled event, over the
  window's days in the scoring period;
- recall: of the episodes with a labelled event in the window, the share with an alerted
  user-day in the window holding one of them (``None`` when the window holds no episode).

A detector is **flagged** at a change when its false alerts per day after are at least twice
those before (and more than before: 0 to 0 is not a doubling), or its recall after is at most
half its recall before (when both are known and the recall before is above 0). Windows of four
weeks hold few episodes: a flag says "look here", not "proven fragile".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from snoopbench.benchmarks.metrics import Period, key_days

WINDOW_DAYS = 28
#: Kinds of change with a moment before and after (turnover is continuous: it has none).
DATED_KINDS = ("seasons", "reorganisation", "surge", "policy")
from snoopbench.contract.info import EPOCH  # noqa: E402  (the contract's day 0)


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    date: dt.date

    @property
    def day(self) -> int:
        return (self.date - EPOCH).days


@dataclass(frozen=True)
class Window:
    days: int
    false_alerts_per_day: float
    recall: float | None
    n_episodes: int
    n_caught: int


@dataclass(frozen=True)
class ChangeRow:
    """One detector at one change: the windows before and after, and what is flagged."""

    kind: str
    name: str
    date: str
    before: Window
    after: Window
    false_alerts_doubled: bool
    recall_halved: bool

    @property
    def flagged(self) -> bool:
        return self.false_alerts_doubled or self.recall_halved

    def to_json(self) -> dict:
        return asdict(self)


def read_changes(context_dir: str | Path) -> list[Change]:
    """The dated changes of a dataset's timeline (none if it has no ``timeline`` table)."""
    path = Path(context_dir) / "timeline.parquet"
    if not path.is_file():
        return []
    t = pq.read_table(path, columns=["kind", "name", "start"])
    rows = zip(t["kind"].to_pylist(), t["name"].to_pylist(), t["start"].to_pylist())
    return [Change(k, n, d) for k, n, d in rows if k in DATED_KINDS]


def window(truth: Period, alert_keys: np.ndarray, lo: int, hi: int) -> Window:
    """Scoring restricted to local days ``lo <= day < hi``."""
    alert_keys = np.unique(np.asarray(alert_keys, np.int64))
    a_day = key_days(alert_keys)
    alerts = alert_keys[(a_day >= lo) & (a_day < hi)]
    labelled = truth.episode >= 0
    ev_keys = truth.keys[truth.event_user_day[labelled]]
    ev_day = np.asarray(truth.day)[labelled]
    ev_ep = truth.episode[labelled]
    inside = (ev_day >= lo) & (ev_day < hi)
    present = np.unique(ev_ep[inside])
    caught = np.unique(ev_ep[inside & np.isin(ev_keys, alerts)])
    false = int((~np.isin(alerts, truth.labelled_keys)).sum())
    days = hi - lo
    return Window(days=days, false_alerts_per_day=false / days if days else 0.0,
                  recall=len(caught) / len(present) if len(present) else None,
                  n_episodes=int(len(present)), n_caught=int(len(caught)))


def robustness_rows(truth: Period, alert_keys: np.ndarray, changes: list[Change],
                    first_day: dt.date, last_day: dt.date, days: int = WINDOW_DAYS) -> list[ChangeRow]:
    """One row per change with a window on both sides inside the scoring period
    (``first_day`` to ``last_day``, inclusive)."""
    p0, p1 = (first_day - EPOCH).days, (last_day - EPOCH).days + 1
    rows = []
    for c in changes:
        b = window(truth, alert_keys, max(c.day - days, p0), min(c.day, p1))
        a = window(truth, alert_keys, max(c.day, p0), min(c.day + days, p1))
        if b.days <= 0 or a.days <= 0:
            continue
        doubled = a.false_alerts_per_day > b.false_alerts_per_day and \
            a.false_alerts_per_day >= 2 * b.false_alerts_per_day
        halved = (b.recall is not None and a.recall is not None and b.recall > 0
                  and a.recall <= b.recall / 2)
        rows.append(ChangeRow(c.kind, c.name, c.date.isoformat(), b, a, doubled, halved))
    return rows


def flag_text(row: dict) -> str:
    """What is flagged in a results row's robustness entry, in words ('' if nothing)."""
    parts = []
    if row.get("false_alerts_doubled"):
        parts.append("false alerts x2")
    if row.get("recall_halved"):
        parts.append("recall /2")
    return ", ".join(parts)


def flagged_changes(robustness: list[dict] | None) -> list[str]:
    """The names of the changes a detector is flagged at, from its results row."""
    return [f"{r['name']} ({flag_text(r)})" for r in robustness or [] if flag_text(r)]
