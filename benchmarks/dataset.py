"""Reading a dataset directory for scoring: layout, scenario keys, truth and the scoring period.

The harness and ``score-alerts`` share this, so both score the same period with the same rules:
the scoring period starts ``warmup_days`` local days after the scenario's ``start_date``
(its local midnight); the events before it are the warm-up, given to detectors unlabelled as
history and never scored.

Nothing here holds every event in memory unless asked to (:attr:`ScoringPeriod.period`): the
events are read batch by batch, so a dataset larger than memory can be scored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.benchmarks.metrics import Period
from snoopbench.contract.digest import file_sha256
from snoopbench.contract.errors import DatasetError
from snoopbench.contract.info import EPOCH as _EPOCH, DatasetInfo, day_to_date, local_days, local_midnight_ms
from snoopbench.contract.manifest import Manifest, read_manifest, verify as verify_dataset
from snoopbench.contract.schema import EVENTS, LABELS, STAFF, Table

@dataclass(frozen=True)
class Dataset:
    """A dataset directory's layout and the facts scoring needs, read through its manifest."""

    root: Path
    parts: tuple[Path, ...]
    context_dir: Path
    manifest: Manifest
    #: True if every file was re-hashed against the manifest before scoring (see ``open_dataset``).
    verified: bool = False

    @property
    def info(self) -> DatasetInfo:
        return self.manifest.info

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint

    @property
    def timezone(self) -> str:
        return self.info.timezone

    @property
    def warmup_days(self) -> int:
        return self.info.warmup_days

    @property
    def start_date(self) -> dt.date:
        return self.info.start_date

    @property
    def n_staff(self) -> int:
        return self.info.staff


def open_dataset(path: str | Path, *, verify: bool = False,
                 progress: Callable[[int], None] | None = None) -> Dataset:
    """Check a dataset directory and read what scoring needs; :class:`DatasetError` if unfit.

    The manifest is read with the contract's strictness; every events part must be listed in it
    and carry the contract's event columns with their types. With ``verify`` every file is
    re-hashed and the fingerprint recomputed first (:func:`snoopbench.contract.manifest.verify`),
    so the fingerprint carried into results is the one of the data scored."""
    root = Path(path)
    if verify:
        verify_dataset(root, progress=progress)
    manifest = read_manifest(root)
    listed = sorted(p for p in manifest.files if p.startswith("events/"))
    on_disk = sorted(p.relative_to(root).as_posix() for p in (root / "events").glob("*.parquet"))
    if listed != on_disk:
        extra = sorted(set(on_disk) - set(listed)) or sorted(set(listed) - set(on_disk))
        raise DatasetError(f"events parts differ from the manifest's list (e.g. {extra[0]})",
                           file=str(root / "events"))
    parts = tuple(root / p for p in listed)
    for part in parts:
        check_schema(part, EVENTS)
    staff = root / STAFF.path
    if STAFF.path not in manifest.files or not staff.is_file():
        raise DatasetError("the staff table is needed to size the alert budget", file=str(staff))
    return Dataset(root=root, parts=parts, context_dir=root / "context", manifest=manifest,
                   verified=verify)


def check_schema(path: Path, table: Table) -> None:
    """A Parquet file must hold the table's contract columns, with the contract's types."""
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DatasetError(f"not readable Parquet ({exc})", file=str(path)) from None
    for f in table.schema:
        if f.name not in schema.names:
            raise DatasetError(f"missing column {f.name!r} ({f.type})", file=str(path), key=f.name)
        got = schema.field(f.name).type
        if pa.types.is_dictionary(got):
            got = got.value_type
        if not (got == f.type or (pa.types.is_string(f.type) and pa.types.is_large_string(got))):
            raise DatasetError(f"expected type {f.type}, found {got}", file=str(path), key=f.name)


def truth_dir_of(dataset: Dataset, truth_dir: str | Path | None) -> Path:
    """Where the labels are: ``truth_dir`` if given, else ``DATASET/truth``; error if neither.

    The truth files must be the ones the dataset's manifest names (same sha256): another
    dataset's truth, or an edited one, is refused."""
    folder = Path(truth_dir) if truth_dir is not None else dataset.root / "truth"
    if not (folder / "labels.parquet").is_file():
        where = f"{folder}" if truth_dir is not None else f"{dataset.root} (no truth/ folder)"
        raise DatasetError(
            f"the truth is needed to score, and {where} has no labels.parquet: the dataset is "
            "sealed; pass --truth DIR with the folder its assessor kept",
            file=str(folder),
        )
    for rel, meta in dataset.manifest.truth_files.items():
        f = folder / Path(rel).name
        if not f.is_file():
            raise DatasetError(f"{f.name} is missing next to labels.parquet", file=str(folder))
        if file_sha256(f) != meta["sha256"]:
            raise DatasetError(f"{f.name} is not this dataset's truth (its sha256 differs from the "
                               "manifest's truth_files)", file=str(f), key="--truth")
    return folder


def iter_event_batches(
    parts: Sequence[str | Path], columns: list[str], batch_size: int = 1 << 16, start: int = 0
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Some columns of the events parts from row ``start`` on, batch by batch, with each
    batch's position (parts and row groups before ``start`` are skipped unread)."""
    missing = [c for c in columns if c not in pq.read_schema(parts[0]).names]
    if missing:
        raise DatasetError(f"missing columns {missing}", file=str(parts[0]))
    offset = 0
    for part in parts:
        with pq.ParquetFile(part) as pf:
            meta = pf.metadata
            if offset + meta.num_rows <= start:
                offset += meta.num_rows
                continue
            groups = list(range(meta.num_row_groups))
            pos = offset
            while groups and pos + meta.row_group(groups[0]).num_rows <= start:
                pos += meta.row_group(groups.pop(0)).num_rows
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups,
                                         columns=columns):
                skip = min(max(start - pos, 0), batch.num_rows)
                if skip < batch.num_rows:
                    yield pos + skip, batch.slice(skip)
                pos += batch.num_rows
            offset += meta.num_rows


class EventLocator:
    """Finds given event ids in the stream of events, batch by batch: their positions, users."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, np.int64)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]
        self.position = np.full(len(self.ids), -1, np.int64)  # -1 until found
        self.user = np.zeros(len(self.ids), np.int32)  # filled if add() is given users

    @property
    def has_duplicates(self) -> bool:
        return bool((self._sorted[1:] == self._sorted[:-1]).any())

    def add(self, offset: int, event_id: np.ndarray, user: np.ndarray | None = None) -> None:
        """Look in the next events (``event_id`` rising, the first at ``offset``)."""
        if not len(event_id):
            return
        lo = int(np.searchsorted(self._sorted, event_id[0], side="left"))
        hi = int(np.searchsorted(self._sorted, event_id[-1], side="right"))
        wanted = self._sorted[lo:hi]
        at = np.searchsorted(event_id, wanted)
        hit = event_id[at] == wanted
        rows, at = self._order[lo:hi][hit], at[hit]
        self.position[rows] = offset + at
        if user is not None:
            self.user[rows] = user[at]


def _batch_columns(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """event_id, ts (UTC milliseconds) and user_id of a batch, as numpy."""
    ts = batch.column("ts").cast(EVENTS.schema.field("ts").type).cast(pa.int64())
    return (batch.column("event_id").to_numpy(), ts.to_numpy(),
            batch.column("user_id").cast(pa.int32()).to_numpy())


def locate_events(dataset: Dataset, ids: np.ndarray,
                  batch_size: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Each id's position among the events (-1 if absent) and its user, reading batch by batch."""
    locator = EventLocator(ids)
    if len(ids):
        for offset, batch in iter_event_batches(dataset.parts, ["event_id", "user_id"],
                                                batch_size):
            locator.add(offset, batch.column(0).to_numpy(),
                        batch.column(1).cast(pa.int32()).to_numpy())
    return locator.position, locator.user


def _days_at(day_starts: np.ndarray, start_days: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return start_days[np.searchsorted(day_starts, positions, side="right") - 1]


@dataclass(frozen=True)
class ScoringPeriod:
    """The events after warm-up, as scoring needs them, in memory that does not grow with them.

    The per-event columns stay on disk: :meth:`iter_users` streams the users and
    :meth:`days_at` gives local days from the day boundaries. ``labelled`` holds the period's
    labelled events only (a :class:`Period`: few). :attr:`period` and :attr:`event_id` read
    every event into memory, for tests and the in-memory reference rules.
    """

    dataset: Dataset
    n_warmup: int
    n_total: int
    first_day: dt.date
    last_day: dt.date
    n_days: int
    day_starts: np.ndarray  # positions in the period where a local day begins (the first is 0)
    start_days: np.ndarray  # the local day (days since 1970-01-01) that begins there
    labelled: Period  # the labelled events of the period, in time order
    labelled_pos: np.ndarray  # their positions in the period
    n_episodes_warmup_only: int

    @property
    def n_events(self) -> int:
        return self.n_total - self.n_warmup

    @property
    def n_staff(self) -> int:
        return self.dataset.n_staff

    @property
    def n_episodes(self) -> int:
        """Episodes with at least one labelled event in the period."""
        return len(np.unique(self.labelled.episode))

    def days_at(self, positions: np.ndarray) -> np.ndarray:
        """The local day of the period's events at ``positions``."""
        return _days_at(self.day_starts, self.start_days, positions)

    def day_stops(self) -> tuple[np.ndarray, np.ndarray]:
        """Each local day of the period, and the position just after its last event."""
        ends = np.r_[self.day_starts[1:], self.n_events]
        days, inverse = np.unique(self.start_days, return_inverse=True)
        stops = np.zeros(len(days), np.int64)
        np.maximum.at(stops, inverse, ends)
        return days, stops

    def iter_users(self, batch_size: int = 1 << 16) -> Iterator[np.ndarray]:
        """The user ids of the period's events, chunk by chunk in order."""
        for _, batch in iter_event_batches(self.dataset.parts, ["user_id"], batch_size,
                                           start=self.n_warmup):
            yield batch.column(0).cast(pa.int32()).to_numpy()

    @cached_property
    def event_id(self) -> np.ndarray:
        """Every event's id, warm-up included (rising): all in memory."""
        return np.concatenate([b.column(0).to_numpy() for _, b in
                               iter_event_batches(self.dataset.parts, ["event_id"])])

    @cached_property
    def period(self) -> Period:
        """Every event of the period in memory, as the reference rules take it."""
        episode = np.full(self.n_events, -1, np.int32)
        episode[self.labelled_pos] = self.labelled.episode
        return replace(self.labelled, user=np.concatenate(list(self.iter_users())),
                       day=self.days_at(np.arange(self.n_events)), episode=episode)


def scoring_period(dataset: Dataset, truth: Path, batch_size: int = 1 << 16) -> ScoringPeriod:
    """Split the events at the end of warm-up and find the labels, reading the events once,
    batch by batch: memory grows with the labels and the days, not with the events."""
    labels = pq.read_table(truth / "labels.parquet", columns=[n for n in LABELS.schema.names])
    locator = EventLocator(labels["event_id"].to_numpy())
    events_dir = str(dataset.root / "events")
    n_total, first, cut_ms, n_warmup = 0, None, 0, None
    last: tuple[int, int, int] | None = None  # ts, event_id and local day of the latest event
    day_starts: list[np.ndarray] = []
    start_days: list[np.ndarray] = []
    for offset, batch in iter_event_batches(dataset.parts, ["event_id", "ts", "user_id"],
                                            batch_size):
        event_id, ts, user = _batch_columns(batch)
        prev_ts, prev_id = (ts[0], event_id[0] - 1) if last is None else last[:2]
        if (np.diff(ts, prepend=prev_ts) < 0).any() or (
                np.diff(event_id, prepend=prev_id) <= 0).any():
            raise DatasetError("events are not ordered by (ts, event_id) with rising event ids",
                               file=events_dir)
        days = local_days(ts, dataset.timezone)
        if first is None:
            first = (dataset.start_date or day_to_date(days[0])) + dt.timedelta(
                days=dataset.warmup_days)
            cut_ms = local_midnight_ms(first, dataset.timezone)
        if n_warmup is None and ts[-1] >= cut_ms:
            n_warmup = offset + int(np.searchsorted(ts, cut_ms, side="left"))
        if n_warmup is not None:
            s = max(n_warmup - offset, 0)
            new = np.r_[True, days[s + 1:] != days[s:-1]]
            if offset + s > n_warmup:  # the period began in an earlier batch
                new[0] = days[s] != last[2]
            day_starts.append(offset + s - n_warmup + np.flatnonzero(new))
            start_days.append(days[s:][new])
        locator.add(offset, event_id, user)
        last = (int(ts[-1]), int(event_id[-1]), int(days[-1]))
        n_total = offset + len(ts)
    if last is None and dataset.start_date is None:
        raise DatasetError("the dataset holds no events", file=events_dir)
    if n_warmup is None:
        raise DatasetError(f"no events after the {dataset.warmup_days}-day warm-up",
                           file=str(dataset.root / "scenario.toml"), key="warmup_days")
    first_day = (first - _EPOCH).days
    n_days = last[2] - first_day + 1
    day_starts, start_days = np.concatenate(day_starts), np.concatenate(start_days)
    pos, user, episode, kinds, n_warmup_only = _labels_in_period(
        truth, locator, labels["episode_id"].to_numpy(), n_warmup)
    return ScoringPeriod(
        dataset=dataset, n_warmup=n_warmup, n_total=n_total, first_day=first,
        last_day=day_to_date(last[2]), n_days=n_days, day_starts=day_starts,
        start_days=start_days,
        labelled=Period(user=user, day=_days_at(day_starts, start_days, pos), episode=episode,
                        kinds=kinds, n_staff=dataset.n_staff, n_days=n_days),
        labelled_pos=pos, n_episodes_warmup_only=n_warmup_only,
    )


def _labels_in_period(
    truth: Path, locator: EventLocator, lab_episode: np.ndarray, n_warmup: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Check the located labels against the events and episodes; the period's labelled events
    (positions in the period, users, episode indices), the kinds, and the number of episodes
    wholly in the warm-up."""
    found = locator.position >= 0
    if not found.all():
        lab_event = locator.ids
        raise DatasetError(
            f"{int((~found).sum())} labelled event ids are not in this dataset's events "
            f"(e.g. {int(lab_event[~found][0])}): is this the truth of another dataset?",
            file=str(truth / "labels.parquet"),
        )
    episodes = pq.read_table(truth / "episodes.parquet", columns=["episode_id", "kind"])
    ep_ids = episodes["episode_id"].to_numpy()
    ep_order = np.argsort(ep_ids, kind="stable")
    ep_pos = np.searchsorted(ep_ids[ep_order], lab_episode)
    ok = ep_pos < len(ep_ids)
    ok[ok] = ep_ids[ep_order][ep_pos[ok]] == lab_episode[ok]
    if not ok.all():
        raise DatasetError(f"labels name episodes missing from episodes.parquet "
                           f"(e.g. {int(lab_episode[~ok][0])})", file=str(truth))
    # one label per event: where the file repeats an event, its last row counts
    rows = np.argsort(locator.position, kind="stable")
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = locator.position[rows[1:]] != locator.position[rows[:-1]]
    rows = rows[last]
    episode = ep_order[ep_pos[rows]].astype(np.int32)
    in_period = locator.position[rows] >= n_warmup
    seen_in_period = np.zeros(len(ep_ids), dtype=bool)
    seen_in_period[episode[in_period]] = True
    seen = np.zeros(len(ep_ids), dtype=bool)
    seen[episode] = True
    rows, episode = rows[in_period], episode[in_period]
    return (locator.position[rows] - n_warmup, locator.user[rows], episode,
            np.asarray(episodes["kind"].to_pylist(), dtype=object),
            int((seen & ~seen_in_period).sum()))
