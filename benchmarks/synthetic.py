"""A small synthetic dataset written straight from the contract (snoopbench.contract), for tests and
benchmarks, and for a plug-in's own tests.

Nothing is simulated: the builder writes Parquet files that follow the dataset schemas (and the tiny
scenario, resized, as its scenario.toml), so the harness, metrics and detectors can be tested on a
dataset whose truth is known exactly.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.contract import schema
from snoopbench.contract.digest import FileEntry, file_content_digest, file_sha256
from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.manifest import write_manifest
from snoopbench.simulator import scenario as scenario_mod

START = dt.date(2024, 3, 25)  # the 10 days span the switch to summer time (31 March)
TZ = "Europe/London"


@dataclass(frozen=True)
class Episode:
    episode_id: int
    kind: str
    skill: str
    actor_id: int
    proxy_id: int | None
    days: tuple[int, ...]  # day offsets from START
    hour: float  # local hour of the first event each day
    n_per_day: int


#: At most one misusing user per day after warm-up, so a perfect detector at one alert a day
#: catches every episode. Episode 1 lies entirely in the 2-day warm-up; episode 6 straddles it.
EPISODES = (
    Episode(1, "family", "naive", 3, None, (0, 1), 22.0, 3),
    Episode(2, "partner", "naive", 5, None, (5, 6), 23.5, 2),
    Episode(3, "curiosity", "careful", 7, None, (3,), 10.0, 5),
    Episode(4, "pursuit", "naive", 9, None, (4, 7, 8), 20.0, 3),
    Episode(5, "leak_press", "expert", 11, 12, (2,), 14.0, 2),
    Episode(6, "media_exfiltration", "careful", 13, None, (1, 9), 15.0, 2),
)


def _local_ms(day: int, hours: np.ndarray) -> np.ndarray:
    """UTC milliseconds of local ``hours`` (after 02:00) on day offset ``day``, DST included."""
    d = START + dt.timedelta(days=day)
    noon = dt.datetime(d.year, d.month, d.day, 12, tzinfo=ZoneInfo(TZ))
    offset_ms = int(noon.utcoffset().total_seconds() * 1000)
    wall_midnight_ms = (d - dt.date(1970, 1, 1)).days * 86_400_000
    return wall_midnight_ms - offset_ms + np.round(np.asarray(hours) * 3_600_000).astype(np.int64)


def _filler(field: pa.Field, n: int, data: dict) -> pa.Array:
    """A column the builder does not know (the schema grew): nulls, or a plain default."""
    if field.nullable:
        return pa.nulls(n, field.type)
    if pa.types.is_timestamp(field.type) and "start" in data:
        return pa.array(data["start"], field.type)
    if pa.types.is_string(field.type):
        return pa.array([""] * n, field.type)
    if pa.types.is_list(field.type):
        return pa.array([[]] * n, field.type)
    if pa.types.is_boolean(field.type):
        return pa.array([False] * n)
    if pa.types.is_date(field.type):
        return pa.array([0] * n, pa.int32()).cast(field.type)
    return pa.array([0] * n).cast(field.type)


def _write(table: schema.Table, data: dict | None, root: Path) -> None:
    path = root / table.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        t = schema.empty(table)
    else:
        n = len(next(iter(data.values())))
        t = schema.conform(table, pa.table({
            f.name: pa.array(data[f.name], f.type) if f.name in data else _filler(f, n, data)
            for f in table.schema}))
    pq.write_table(t, path, row_group_size=1024)


def build_synthetic_dataset(root: Path, *, n_staff: int = 50, days: int = 10, seed: int = 7,
                            warmup_days: int = 2, events_per_day: float = 8.0,
                            sealed: Path | None = None) -> Path:
    """Write a complete small dataset (events in two parts, context, truth, manifest); with
    ``sealed``, the truth goes to that folder, as ``snoopbench simulate --sealed`` does."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    users = np.arange(1, n_staff + 1, dtype=np.int32)
    roles = np.array(schema.ROLES)[np.arange(n_staff) % len(schema.ROLES)]
    _write(schema.STAFF, {
        "user_id": users, "person_id": 5000 + users.astype(np.int64), "role": roles,
        "unit": [f"unit-{u % 5}" for u in users], "area": ["north", "south"] * (n_staff // 2),
        "rota": ["day"] * n_staff, "joined": [dt.date(2020, 1, 1)] * n_staff,
    }, root)
    shift_start = np.concatenate([_local_ms(d, np.array([8.0])) for d in range(days)])
    _write(schema.SHIFTS, {
        "user_id": np.repeat(users, days), "start": np.tile(shift_start, n_staff),
        "end": np.tile(shift_start + 8 * 3600_000, n_staff),
    }, root)
    n_people = 300
    _write(schema.PEOPLE, {
        "person_id": np.arange(5000, 5000 + n_people, dtype=np.int64),
        "surname": [f"Surname{i % 40}" for i in range(n_people)],
        "forenames": [f"Name{i}" for i in range(n_people)],
        "date_of_birth": [dt.date(1980, 1, 1)] * n_people, "sex": ["F", "M"] * (n_people // 2),
        "address_id": np.arange(n_people, dtype=np.int64) % 120,
    }, root)
    _write(schema.TASKING, {
        "user_id": users, "reference": [f"INC-{u}" for u in users],
        "since": np.full(n_staff, _local_ms(0, np.array([0.0]))[0]), "via": ["direct"] * n_staff,
    }, root)
    for table in schema.CONTEXT_TABLES:
        if not (root / table.path).exists():
            _write(table, None, root)

    # legitimate work: a Poisson number of events per user-day, 07:00-19:00 local
    ts, user, episode = [], [], []
    for d in range(days):
        counts = rng.poisson(events_per_day, n_staff)
        hours = rng.uniform(7.0, 19.0, counts.sum())
        ts.append(_local_ms(d, hours))
        user.append(np.repeat(users, counts))
        episode.append(np.full(counts.sum(), -1, dtype=np.int32))
    for ep in EPISODES:
        for d in ep.days:
            hours = ep.hour + np.arange(ep.n_per_day) * 0.1
            ts.append(_local_ms(d, hours))
            user.append(np.full(ep.n_per_day, ep.proxy_id or ep.actor_id, dtype=np.int32))
            episode.append(np.full(ep.n_per_day, ep.episode_id, dtype=np.int32))
    ts_all, user_all, ep_all = (np.concatenate(x) for x in (ts, user, episode))
    order = np.lexsort((user_all, ts_all))
    ts_all, user_all, ep_all = ts_all[order], user_all[order], ep_all[order]
    n = len(ts_all)
    event_id = 100_000 + 3 * np.arange(n, dtype=np.int64)
    events = {
        "event_id": event_id, "ts": ts_all, "user_id": user_all,
        "system": rng.choice(schema.SYSTEMS, n), "action": rng.choice(schema.ACTIONS[:3], n),
        "entity_type": rng.choice(schema.ENTITY_TYPES[:4], n),
        "entity_id": rng.integers(1, 10_000, n), "reference": [None] * n,
        "workstation_id": rng.integers(1, 200, n).astype(np.int32),
    }
    table = schema.conform(schema.EVENTS, pa.table({
        f.name: pa.array(events[f.name], f.type) if f.name in events else _filler(f, n, events)
        for f in schema.EVENTS.schema}))
    (root / "events").mkdir(exist_ok=True)
    half = n // 2
    for i, (lo, hi) in enumerate(((0, half), (half, n))):
        pq.write_table(table.slice(lo, hi - lo), root / f"events/part-{i:05d}.parquet",
                       row_group_size=1000)

    labelled = ep_all >= 0
    _write(schema.LABELS, {"event_id": event_id[labelled], "episode_id": ep_all[labelled]}, root)
    _write(schema.EPISODES, {
        "episode_id": [e.episode_id for e in EPISODES], "kind": [e.kind for e in EPISODES],
        "actor_id": [e.actor_id for e in EPISODES], "skill": [e.skill for e in EPISODES],
        "start": [int(ts_all[ep_all == e.episode_id].min()) for e in EPISODES],
        "end": [int(ts_all[ep_all == e.episode_id].max()) for e in EPISODES],
        "proxy_id": [e.proxy_id for e in EPISODES], "targets": [[1, 2]] * len(EPISODES),
        "n_events": [int((ep_all == e.episode_id).sum()) for e in EPISODES],
        "summary": [f"{e.kind} by {e.actor_id}" for e in EPISODES],
    }, root)
    _write(schema.RELATIONS, None, root)

    # The resolved scenario.toml a simulated dataset carries: the tiny scenario, sized to this world.
    tiny = scenario_mod.load(scenario_mod.find("tiny"))
    data = {**tiny.data, "name": "synthetic", "seed": seed, "timezone": TZ, "start_date": START,
            "duration_days": days, "warmup_days": warmup_days, "force": {**tiny["force"], "staff": n_staff}}
    (root / "scenario.toml").write_text(scenario_mod.Scenario(root / "scenario.toml", data).to_toml(
        sealed=sealed is not None))
    entries = {folder: [FileEntry(p.relative_to(root).as_posix(), file_sha256(p), *file_content_digest(p))
                        for p in sorted((root / folder).glob("*.parquet"))]
               for folder in ("events", "context", "truth")}
    n_events = sum(e.rows for e in entries["events"])
    info = DatasetInfo(scenario="synthetic", timezone=TZ, start_date=START, days=days,
                       warmup_days=warmup_days, staff=n_staff)
    if sealed is not None:
        shutil.move(root / "truth", sealed)
    write_manifest(root, scenario="synthetic", seed=seed, version="test", info=info,
                   files=entries["events"] + entries["context"], truth=entries["truth"], events=n_events,
                   truth_dir=sealed)
    return root
