"""Alerts that come back from a product as NDJSON documents (ECS or OCSF), for ``score-alerts``.

A file named ``*.ndjson``, ``*.jsonl`` or ``*.json`` (optionally ``.gz``) holds one JSON object a
line. Each alert names the events it is about, or a user and a time; docs/export.md lists the
fields read, in the order they are tried:

- event ids: ``snoopbench.alert.event_ids`` (a list; ECS custom namespace),
  ``kibana.alert.ancestors[].id`` (Elastic Security's alerts, whose ancestors are the source
  documents: a replay indexes each event under its event id), OCSF
  ``finding_info.related_events[].uid``, or a flat ``event_id``;
- else user and time: ECS ``user.id`` with ``kibana.alert.original_time`` or ``@timestamp``;
  OCSF ``actor.user.uid`` (or ``evidences[].actor.user.uid``) with
  ``finding_info.first_seen_time``, ``time`` (epoch ms) or ``time_dt``; or a flat ``user_id``
  with ``date`` (YYYY-MM-DD). Times become the force's local day.
- the score, if any: ``event.risk_score``, ``kibana.alert.risk_score``, ``risk_score`` or a flat
  ``score``.

The documents become the tables ``score-alerts`` already takes (``event_id``, or ``user_id`` and
``date``, with ``score``), so they are scored by the same rules as a CSV or Parquet file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from snoopbench.benchmarks.siem import parse_iso
from snoopbench.contract.errors import InputError
from snoopbench.contract.info import local_days

SUFFIXES = (".ndjson", ".jsonl", ".json")


def is_documents(path: Path) -> bool:
    """Whether ``path`` names an NDJSON alerts file (by extension, ``.gz`` allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in SUFFIXES


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as exc:
                    raise InputError(f"line {n}: not JSON ({exc})", file=str(path)) from None
                if not isinstance(doc, dict):
                    raise InputError(f"line {n}: expected a JSON object", file=str(path))
                yield n, doc
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"cannot read the alerts file ({exc})", file=str(path)) from None


def _field(doc: dict[str, Any], path: str) -> Any:
    """A dotted field, nested (``{"user": {"id": ..}}``) or flat (``{"user.id": ..}``)."""
    if path in doc:
        return doc[path]
    head, _, rest = path.partition(".")
    return _field(doc[head], rest) if rest and isinstance(doc.get(head), dict) else None


def _ids(doc: dict[str, Any]) -> list | None:
    ids = _field(doc, "snoopbench.alert.event_ids")
    if ids is not None:
        return ids if isinstance(ids, list) else [ids]
    for path, key in (("kibana.alert.ancestors", "id"), ("finding_info.related_events", "uid")):
        items = _field(doc, path)
        if isinstance(items, list) and items:
            return [i.get(key) if isinstance(i, dict) else None for i in items]
    if "event_id" in doc:
        return [doc["event_id"]]
    return None


def _user_time(doc: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(user, time in epoch ms or ISO 8601, date) of a document; None where absent."""
    if "user_id" in doc:
        return doc["user_id"], None, doc.get("date")
    evidence = _field(doc, "evidences")
    evidence_user = (_field(evidence[0], "actor.user.uid")
                     if isinstance(evidence, list) and evidence and isinstance(evidence[0], dict)
                     else None)
    user = next((u for u in (_field(doc, "user.id"), _field(doc, "actor.user.uid"),
                             evidence_user) if u is not None), None)
    when = next((t for t in (_field(doc, "kibana.alert.original_time"),
                             _field(doc, "@timestamp"),
                             _field(doc, "finding_info.first_seen_time"),
                             _field(doc, "time"), _field(doc, "time_dt")) if t is not None), None)
    return user, when, None


def _score(doc: dict[str, Any]) -> Any:
    return next((s for s in (_field(doc, "event.risk_score"),
                             _field(doc, "kibana.alert.risk_score"), doc.get("risk_score"),
                             doc.get("score")) if s is not None), None)


def _int(value: Any, n: int, key: str, path: Path) -> int:
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"line {n}: expected a whole number, got {value!r}", file=str(path),
                         key=key) from None


def _ms(value: Any, n: int, path: Path) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    try:
        return parse_iso(str(value).replace(" ", "T", 1))
    except ValueError:
        raise InputError(f"line {n}: expected an ISO 8601 time with an offset or epoch "
                         f"milliseconds, got {value!r}", file=str(path), key="time") from None


def read_alert_documents(path: str | Path, timezone: str) -> list[pa.Table]:
    """The alerts of an NDJSON file as ``score-alerts`` tables: one of event ids, one of users
    and local dates (either may be absent); :class:`InputError` naming the line if an alert
    names neither."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such alerts file", file=str(path))
    ev_id, ev_score, user, when, date, day_score = [], [], [], [], [], []
    for n, doc in _lines(path):
        score = _score(doc)
        score = float(score) if isinstance(score, (int, float)) else np.nan
        ids = _ids(doc)
        if ids is not None:
            for i in ids:
                ev_id.append(_int(i, n, "event id", path))
                ev_score.append(score)
            continue
        u, t, d = _user_time(doc)
        if u is None or (t is None and d is None):
            raise InputError(f"line {n}: the alert names no events (e.g. kibana.alert.ancestors,"
                             " finding_info.related_events) and no user and time (user.id or "
                             "actor.user.uid, with @timestamp or time)", file=str(path))
        user.append(_int(u, n, "user", path))
        when.append(None if t is None else _ms(t, n, path))
        date.append(d)
        day_score.append(score)
    tables = []
    if ev_id:
        tables.append(pa.table({"event_id": pa.array(ev_id, pa.int64()),
                                "score": pa.array(ev_score, pa.float64())}))
    if user:
        ms = np.array([0 if t is None else t for t in when], np.int64)
        days = local_days(ms, timezone)
        dates = [str(np.datetime64(int(day), "D")) if d is None else str(d)
                 for day, d in zip(days, date)]
        tables.append(pa.table({"user_id": pa.array(user, pa.int32()),
                                "date": pa.array(dates, pa.string()),
                                "score": pa.array(day_score, pa.float64())}))
    return tables
