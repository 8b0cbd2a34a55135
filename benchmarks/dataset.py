"""Reading a dataset directory for scoring: layout, scenario keys, truth and the scoring period.

The harness and ``score-alerts`` share this, so both score the same period with the same rules:
the scoring period starts ``warmup_days`` local days after the scenario's ``start_date``
(its local midnight); the events before it are the warm-up, given to detectors unlabelled as
history and never scored.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.metrics import Period
from simulator.errors import DatasetError
from simulator.schema import DATASET_FORMAT, EVENTS, LABELS, STAFF

DEFAULT_TIMEZONE = "Europe/London"
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Dataset:
    """A dataset directory's layout and the scenario keys scoring needs."""

    root: Path
    parts: tuple[Path, ...]
    context_dir: Path
    fingerprint: str | None
    timezone: str
    warmup_days: int
    start_date: dt.date | None
    n_staff: int


def scenario_key(scenario: dict[str, Any], key: str) -> Any:
    """A key of the resolved scenario: top level first, else the one table that holds it."""
    if key in scenario:
        return scenario[key]
    found = [t[key] for t in scenario.values() if isinstance(t, dict) and key in t]
    return found[0] if len(found) == 1 else None


def open_dataset(path: str | Path) -> Dataset:
    """Check a dataset directory and read what scoring needs; :class:`DatasetError` if unfit."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError("no such dataset directory", file=str(root))
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise DatasetError("not a snoopbench dataset: manifest.json is missing", file=str(root))
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"unreadable JSON ({exc})", file=str(manifest_path)) from exc
    fmt = manifest.get("format", DATASET_FORMAT)
    if fmt != DATASET_FORMAT:
        raise DatasetError(f"expected {DATASET_FORMAT!r}, found {fmt!r}",
                           file=str(manifest_path), key="format")
    parts = tuple(sorted((root / "events").glob("part-*.parquet")))
    if not parts:
        raise DatasetError("no events/part-*.parquet files", file=str(root))
    staff = root / STAFF.path
    if not staff.is_file():
        raise DatasetError("the staff table is needed to size the alert budget", file=str(staff))

    scenario: dict[str, Any] = {}
    scenario_path = root / "scenario.toml"
    if scenario_path.is_file():
        try:
            scenario = tomllib.loads(scenario_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DatasetError(f"unreadable TOML ({exc})", file=str(scenario_path)) from exc
    tz = scenario_key(scenario, "timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise DatasetError(f"unknown time zone {tz!r}", file=str(scenario_path),
                           key="timezone") from exc
    warmup = scenario_key(scenario, "warmup_days") or 0
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise DatasetError(f"expected a whole number >= 0, found {warmup!r}",
                           file=str(scenario_path), key="warmup_days")
    start = scenario_key(scenario, "start_date")
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise DatasetError(f"expected YYYY-MM-DD, found {start!r}",
                               file=str(scenario_path), key="start_date") from exc
    if isinstance(start, dt.datetime):
        start = start.date()
    return Dataset(
        root=root, parts=parts, context_dir=root / "context",
        fingerprint=manifest.get("fingerprint"), timezone=tz, warmup_days=warmup,
        start_date=start if isinstance(start, dt.date) else None,
        n_staff=pq.ParquetFile(staff).metadata.num_rows,
    )


def truth_dir_of(dataset: Dataset, truth_dir: str | Path | None) -> Path:
    """Where the labels are: ``truth_dir`` if given, else ``DATASET/truth``; error if neither."""
    folder = Path(truth_dir) if truth_dir is not None else dataset.root / "truth"
    if not (folder / "labels.parquet").is_file():
        where = f"{folder}" if truth_dir is not None else f"{dataset.root} (no truth/ folder)"
        raise DatasetError(
            f"the truth is needed to score, and {where} has no labels.parquet: the dataset is "
            "sealed; pass --truth DIR with the folder its assessor kept",
            file=str(folder),
        )
    if not (folder / "episodes.parquet").is_file():
        raise DatasetError("episodes.parquet is missing next to labels.parquet", file=str(folder))
    return folder


def local_days(ts_ms: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar day (days since 1970-01-01) of UTC millisecond timestamps in zone ``tz``."""
    ts = pa.array(np.asarray(ts_ms, np.int64), pa.timestamp("ms", tz="UTC"))
    local = pc.local_timestamp(ts.cast(pa.timestamp("ms", tz=tz)))
    return local.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)


def local_midnight_ms(day: dt.date, tz: str) -> int:
    """UTC milliseconds of local midnight starting ``day`` in zone ``tz``."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    return int(midnight.timestamp() * 1000)


def day_to_date(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


@dataclass(frozen=True)
class ScoringPeriod:
    """The events after warm-up, with their labels, ready for :mod:`benchmarks.metrics`."""

    dataset: Dataset
    n_warmup: int
    n_total: int
    event_id: np.ndarray  # every event's id, warm-up included (rising)
    period: Period
    first_day: dt.date
    last_day: dt.date
    n_episodes_warmup_only: int

    @property
    def n_events(self) -> int:
        return self.n_total - self.n_warmup


def read_events(dataset: Dataset, columns: list[str]) -> pa.Table:
    """Some columns of every events part, in order (the files are read in name order)."""
    missing = [c for c in columns if c not in pq.read_schema(dataset.parts[0]).names]
    if missing:
        raise DatasetError(f"missing columns {missing}", file=str(dataset.parts[0]))
    return pa.concat_tables(pq.read_table(p, columns=columns) for p in dataset.parts)


def scoring_period(dataset: Dataset, truth: Path) -> ScoringPeriod:
    """Split the events at the end of warm-up and attach the labels of the rest."""
    table = read_events(dataset, ["event_id", "ts", "user_id"])
    event_id = table["event_id"].to_numpy()
    ts = table["ts"].cast(EVENTS.schema.field("ts").type).cast(pa.int64()).to_numpy()
    user = table["user_id"].cast(pa.int32()).to_numpy()
    if len(ts) and not (np.all(np.diff(ts) >= 0) and np.all(np.diff(event_id) > 0)):
        raise DatasetError("events are not ordered by (ts, event_id) with rising event ids",
                           file=str(dataset.root / "events"))
    days = local_days(ts, dataset.timezone) if len(ts) else np.empty(0, np.int32)
    if dataset.start_date is not None:
        start = dataset.start_date
    elif len(days):
        start = day_to_date(days[0])
    else:
        raise DatasetError("the dataset holds no events", file=str(dataset.root / "events"))
    first = start + dt.timedelta(days=dataset.warmup_days)
    n_warmup = int(np.searchsorted(ts, local_midnight_ms(first, dataset.timezone), side="left"))
    if n_warmup == len(ts):
        raise DatasetError(f"no events after the {dataset.warmup_days}-day warm-up",
                           file=str(dataset.root / "scenario.toml"), key="warmup_days")

    labels = pq.read_table(truth / "labels.parquet", columns=[n for n in LABELS.schema.names])
    episodes = pq.read_table(truth / "episodes.parquet", columns=["episode_id", "kind"])
    ep_ids = episodes["episode_id"].to_numpy()
    ep_order = np.argsort(ep_ids, kind="stable")
    lab_event = labels["event_id"].to_numpy()
    lab_episode = labels["episode_id"].to_numpy()
    pos = np.searchsorted(event_id, lab_event)
    found = pos < len(event_id)
    found[found] = event_id[pos[found]] == lab_event[found]
    if not found.all():
        raise DatasetError(
            f"{int((~found).sum())} labelled event ids are not in this dataset's events "
            f"(e.g. {int(lab_event[~found][0])}): is this the truth of another dataset?",
            file=str(truth / "labels.parquet"),
        )
    ep_pos = np.searchsorted(ep_ids[ep_order], lab_episode)
    ok = ep_pos < len(ep_ids)
    ok[ok] = ep_ids[ep_order][ep_pos[ok]] == lab_episode[ok]
    if not ok.all():
        raise DatasetError(f"labels name episodes missing from episodes.parquet "
                           f"(e.g. {int(lab_episode[~ok][0])})", file=str(truth))
    episode = np.full(len(event_id), -1, dtype=np.int32)
    episode[pos] = ep_order[ep_pos]

    scored = slice(n_warmup, None)
    in_period = np.zeros(len(ep_ids), dtype=bool)
    in_period[episode[scored][episode[scored] >= 0]] = True
    labelled_any = np.zeros(len(ep_ids), dtype=bool)
    labelled_any[episode[episode >= 0]] = True
    first_day = (first - _EPOCH).days
    period = Period(
        user=user[scored], day=days[scored], episode=episode[scored],
        kinds=np.asarray(episodes["kind"].to_pylist(), dtype=object),
        n_staff=dataset.n_staff, n_days=int(days[-1] - first_day + 1),
    )
    return ScoringPeriod(
        dataset=dataset, n_warmup=n_warmup, n_total=len(event_id), event_id=event_id,
        period=period, first_day=day_to_date(first_day), last_day=day_to_date(days[-1]),
        n_episodes_warmup_only=int((labelled_any & ~in_period).sum()),
    )
