"""Per-episode results: which episodes a detector caught, when, and whether its alert named the
target.

One row per episode of the scoring period and detector: the episode's truth (id, kind, skill,
actor, start), whether it was caught at the budget, the first alerted day holding one of its
events and the days from its first event to that day (the contract's time to detect), and the
explanation of that alert: the detector's explanation of the alerted user-day's top event
(:mod:`benchmarks.explanations`).

**Explanation accuracy.** An explanation names entities as ``TYPE:ID`` (``person:1234``,
``vehicle:88``, ``media:5``; the types of the events' ``entity_type``). It *names the target*
when one of them is among the episode's targets: the truth's ``targets`` (person ids, media ids
for ``media_exfiltration``: :data:`TARGET_TYPE`) and every record the episode's own events
touched (a target's address or car, a notable case's crime, a network's intelligence). The
accuracy of a detector is the share of its caught episodes whose alert's explanation names a
target; an alert without an explanation counts as not naming one. The truth is read by the
harness only, after the detector has finished.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.benchmarks.dataset import ScoringPeriod, iter_event_batches
from snoopbench.benchmarks.metrics import key_days
from snoopbench.contract.info import EPOCH, user_day_keys
from snoopbench.contract.schema import ENTITY_TYPES

#: The entity type of an episode kind's truth ``targets`` (person ids unless named here).
TARGET_TYPE: dict[str, str] = {"media_exfiltration": "media"}
#: An entity named in an explanation: ``TYPE:ID``.
TOKEN = re.compile(r"\b(" + "|".join(ENTITY_TYPES) + r"):(\d+)\b")
#: Alerts this many days either side of an episode are "around it" (``snoopbench explain``);
#: at most :data:`MOST_NEAR` of them are kept per episode, the earliest.
NEAR_DAYS = 7
MOST_NEAR = 30


def named_entities(text: str | None) -> set[tuple[str, int]]:
    """The ``TYPE:ID`` entities an explanation names."""
    return {(t, int(i)) for t, i in TOKEN.findall(text or "")}


def iso_day(day: int) -> str:
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


def iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class EpisodeTruth:
    """What the truth holds about the period's episodes, indexed like ``period.labelled``'s
    episode numbers (rows of ``episodes.parquet``)."""

    episode_id: np.ndarray
    kind: np.ndarray
    skill: np.ndarray
    actor_id: np.ndarray
    proxy_id: np.ndarray  # -1: none
    start_ms: np.ndarray
    targets: list[frozenset[tuple[str, int]]]

    @classmethod
    def load(cls, period: ScoringPeriod, truth_dir: Path, batch_size: int = 1 << 16
             ) -> EpisodeTruth:
        t = pq.read_table(truth_dir / "episodes.parquet")
        kind = np.asarray(t["kind"].to_pylist(), dtype=object)
        proxy = t["proxy_id"].to_pylist() if "proxy_id" in t.column_names else [None] * len(t)
        targets: list[set[tuple[str, int]]] = [
            {(TARGET_TYPE.get(k, "person"), int(x)) for x in (ts or ())}
            for k, ts in zip(kind, t["targets"].to_pylist())]
        lab = period.labelled
        etype, eid = entities_at(period, period.labelled_pos, batch_size)
        for e, ty, i in zip(lab.episode.tolist(), etype, eid.tolist()):
            targets[e].add((ty, i))
        start = t["start"].cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        return cls(
            episode_id=t["episode_id"].to_numpy(), kind=kind,
            skill=np.asarray(t["skill"].to_pylist(), dtype=object),
            actor_id=t["actor_id"].cast(pa.int64()).to_numpy(zero_copy_only=False),
            proxy_id=np.array([-1 if p is None else int(p) for p in proxy], np.int64),
            start_ms=start.to_numpy(zero_copy_only=False), targets=[frozenset(s) for s in targets])


def entities_at(period: ScoringPeriod, positions: np.ndarray, batch_size: int = 1 << 16
                ) -> tuple[list[str], np.ndarray]:
    """The entity type and id of the period's events at ``positions`` (rising)."""
    positions = np.asarray(positions, np.int64)
    etype: list[str] = [""] * len(positions)
    eid = np.zeros(len(positions), np.int64)
    if not len(positions):
        return etype, eid
    for offset, batch in iter_event_batches(period.dataset.parts, ["entity_type", "entity_id"],
                                            batch_size, start=period.n_warmup):
        start = offset - period.n_warmup
        lo, hi = np.searchsorted(positions, [start, start + batch.num_rows])
        if lo == hi:
            continue
        at = positions[lo:hi] - start
        types = batch.column(0).take(pa.array(at)).cast(pa.string()).to_pylist()
        etype[lo:hi] = types
        eid[lo:hi] = batch.column(1).take(pa.array(at)).cast(pa.int64()).to_numpy()
    return etype, eid


@dataclass
class EpisodeRow:
    """One episode as one detector saw it."""

    episode_id: int
    kind: str
    skill: str
    actor_id: int
    start: str
    caught: bool
    first_alert_day: str | None = None
    days_to_detect: int | None = None
    alert_user_id: int | None = None
    explanation: str | None = None
    names_target: bool | None = None  # None unless caught
    #: The detector's alerts around the episode on its users (actor, proxy, whoever typed):
    #: ``date``, ``user_id``, ``explanation``, ``holds_episode`` (an event of it that day).
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def episode_rows(truth: EpisodeTruth, period: ScoringPeriod, alert_keys: np.ndarray,
                 explanations: dict[int, str] | None = None) -> list[EpisodeRow]:
    """Per episode of the period: caught or not, when, and the alert's explanation.

    ``alert_keys``: the detector's alerted user-days at the budget (the ones its metrics score).
    """
    explanations = explanations or {}
    lab = period.labelled
    alert_keys = np.unique(np.asarray(alert_keys, np.int64))
    ev_keys = user_day_keys(lab.user, lab.day)
    hit = np.isin(ev_keys, alert_keys)
    alert_users = alert_keys & 0xFFFFFFFF
    alert_days = key_days(alert_keys)
    rows = []
    for e in np.unique(lab.episode):
        mine = np.flatnonzero(lab.episode == e)  # in time order
        first_day, last_day = int(lab.day[mine].min()), int(lab.day[mine].max())
        caught_at = mine[hit[mine]]
        row = EpisodeRow(
            episode_id=int(truth.episode_id[e]), kind=str(truth.kind[e]),
            skill=str(truth.skill[e]), actor_id=int(truth.actor_id[e]),
            start=iso_ms(int(truth.start_ms[e])), caught=bool(len(caught_at)))
        if len(caught_at):
            first = caught_at[np.argmin(lab.day[caught_at])]  # the first of the earliest day
            key = int(ev_keys[first])
            row.first_alert_day = iso_day(int(lab.day[first]))
            row.days_to_detect = int(lab.day[first]) - first_day
            row.alert_user_id = int(lab.user[first])
            row.explanation = explanations.get(key)
            row.names_target = bool(named_entities(row.explanation) & truth.targets[e])
        users = {int(truth.actor_id[e]), *lab.user[mine].tolist()}
        if truth.proxy_id[e] >= 0:
            users.add(int(truth.proxy_id[e]))
        near = np.flatnonzero(np.isin(alert_users, list(users))
                              & (alert_days >= first_day - NEAR_DAYS)
                              & (alert_days <= last_day + NEAR_DAYS))[:MOST_NEAR]
        own = set(ev_keys[mine].tolist())
        row.alerts = [{"date": iso_day(int(alert_days[i])), "user_id": int(alert_users[i]),
                       "explanation": explanations.get(int(alert_keys[i])),
                       "holds_episode": int(alert_keys[i]) in own} for i in near]
        rows.append(row)
    return rows


def recall_by(rows: Iterable[EpisodeRow], *keys: str) -> dict[str, float]:
    """Recall of episode rows grouped by ``keys`` (e.g. ``"skill"``, or ``"kind", "skill"``),
    the group named by its values joined with ``/``."""
    caught: dict[str, int] = {}
    total: dict[str, int] = {}
    for r in rows:
        g = "/".join(str(getattr(r, k)) for k in keys)
        total[g] = total.get(g, 0) + 1
        caught[g] = caught.get(g, 0) + int(r.caught)
    return {g: caught[g] / total[g] for g in sorted(total)}


@dataclass(frozen=True)
class ExplanationScore:
    """How a detector's caught episodes were explained."""

    n_caught: int
    n_explained: int
    n_named_target: int

    @property
    def accuracy(self) -> float | None:
        """Share of caught episodes whose alert's explanation names a target."""
        return self.n_named_target / self.n_caught if self.n_caught else None

    @classmethod
    def of(cls, rows: Sequence[EpisodeRow]) -> ExplanationScore:
        caught = [r for r in rows if r.caught]
        return cls(len(caught), sum(r.explanation is not None for r in caught),
                   sum(bool(r.names_target) for r in caught))


def summary_json(rows: Sequence[EpisodeRow]) -> dict[str, Any]:
    """What a detector's results row carries about its episodes."""
    score = ExplanationScore.of(rows)
    return {"recall_by_skill": recall_by(rows, "skill"),
            "recall_by_kind_skill": recall_by(rows, "kind", "skill"),
            "explanation_accuracy": score.accuracy, "n_explained": score.n_explained,
            "n_named_target": score.n_named_target,
            "episodes": [r.to_json() for r in rows]}


_PARQUET_FIELDS = [("detector", pa.string()), ("episode_id", pa.int64()), ("kind", pa.string()),
                   ("skill", pa.string()), ("actor_id", pa.int64()), ("start", pa.string()),
                   ("caught", pa.bool_()), ("first_alert_day", pa.string()),
                   ("days_to_detect", pa.int64()), ("alert_user_id", pa.int64()),
                   ("explanation", pa.string()), ("names_target", pa.bool_())]


def episodes_table(result: Any) -> pa.Table:
    """Every detector's episode rows of a score result (or of each run of a bench result, with
    ``scenario`` and ``seed`` columns) as one table."""
    runs = [(r.scenario, r.seed, r.result) for r in result.runs] if hasattr(result, "runs") \
        else [(None, None, result)]
    head = [("scenario", pa.string()), ("seed", pa.int64())] if hasattr(result, "runs") else []
    schema = pa.schema(head + _PARQUET_FIELDS)
    cols: dict[str, list] = {f.name: [] for f in schema}
    for scenario, seed, res in runs:
        for d in res.detectors:
            for r in d.episodes:
                if head:
                    cols["scenario"].append(scenario)
                    cols["seed"].append(seed)
                cols["detector"].append(d.name)
                for name, _ in _PARQUET_FIELDS[1:]:
                    cols[name].append(getattr(r, name))
    return pa.table(cols, schema=schema)


def episodes_path(json_path: str | Path) -> Path:
    """Where the episode rows go beside a results JSON: ``NAME.episodes.parquet``."""
    p = Path(json_path)
    return p.with_name(p.stem + ".episodes.parquet")


def write_episodes(result: Any, json_path: str | Path) -> Path:
    """Write :func:`episodes_table` beside ``json_path`` (via a temporary file, so that nothing
    half-written is left); its path."""
    target = episodes_path(json_path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        pq.write_table(episodes_table(result), tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
