"""The verdicts file of the online protocol: declared once, written by the harness, read in the sandbox.

In online mode (``snoopbench score --online``) the harness and a detector's sandboxed process take
turns, one local day at a time, through files in the process's output folder:

- the sandbox's ``/input/events`` holds the warm-up only: the scoring period's events are not in
  the sandbox until their day comes, so a detector cannot read ahead;
- before day ``i`` is scored the harness writes that day's events, ``inbox/events-NNNNN.parquet``
  (``NNNNN`` = ``i``, from 0 at the first day after warm-up), then ``inbox/day-NNNNN.parquet``:
  the verdicts that reach the detector that morning, zero rows on most days. Each is renamed into
  place whole, so the process never reads half a file; the verdicts file comes last, so when it
  exists the day's events do too;
- the process reads them, hands the verdicts to the detector (its ``feedback`` method, or an
  ``exec:`` program's ``{feedback}`` file), scores day ``i``'s events, appends the scores to
  ``scores.f64`` and creates ``done/NNNNN``; the harness then deletes the day's events file.

Nothing else crosses: a verdict names an alert the detector raised itself (its user, its day and the
event that scored highest), never an episode, a kind or a skill, and it exists only once its delay
has passed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: One row per verdict. ``date``: the local day of the alert; ``received``: the local day the
#: verdict is delivered before scoring (at least the day after ``date``).
FEEDBACK = pa.schema([
    pa.field("user_id", pa.int32(), nullable=False),
    pa.field("date", pa.date32(), nullable=False),
    pa.field("event_id", pa.int64(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("verdict", pa.string(), nullable=False),  # confirmed | cleared
    pa.field("reason", pa.string(), nullable=False),  # misuse | explained | no_misuse_found
    pa.field("received", pa.date32(), nullable=False),
])
INBOX, DONE = "inbox", "done"
#: Seconds between looks at the other side's files: short, a year is 365 turns per detector.
TURN_POLL_S = 0.002


def inbox_file(out_dir: str | Path, day: int) -> Path:
    return Path(out_dir) / INBOX / f"day-{day:05d}.parquet"


def events_file(out_dir: str | Path, day: int) -> Path:
    """Day ``day``'s events, as the harness hands them in (all the contract's columns)."""
    return Path(out_dir) / INBOX / f"events-{day:05d}.parquet"


def _put(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` whole: aside, then renamed, so the other side never reads half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_events(out_dir: str | Path, day: int, table: pa.Table) -> None:
    """Put day ``day``'s events in the inbox, whole (written aside, then renamed)."""
    _put(events_file(out_dir, day), table)


def done_file(out_dir: str | Path, day: int) -> Path:
    return Path(out_dir) / DONE / f"{day:05d}"


def write_verdicts(out_dir: str | Path, day: int, table: pa.Table) -> None:
    """Put day ``day``'s verdicts in the inbox, whole (written aside, then renamed)."""
    _put(inbox_file(out_dir, day), table.cast(FEEDBACK))


def wait_verdicts(out_dir: str | Path, day: int) -> pa.Table:
    """In the sandbox: wait for day ``day``'s verdicts (the harness ends the process if it stops)."""
    path = inbox_file(out_dir, day)
    pause = TURN_POLL_S
    while not path.exists():
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)
    return pq.read_table(path)


def mark_done(out_dir: str | Path, day: int) -> None:
    path = done_file(out_dir, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
