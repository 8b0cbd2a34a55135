"""The events as the tools vendors run read them: ECS, OCSF, flat JSON lines, CSV, RFC 5424 syslog.

Only the contract's event columns are mapped (``snoopbench.contract.schema.EVENTS``), never the
truth: an exported or replayed event carries what a detector sees and nothing more. Every
timestamp is ISO 8601 in UTC with milliseconds and a ``Z`` (``2024-03-01T08:15:00.250Z``).
docs/export.md documents each mapping field by field. The mappings are written twice, on
purpose: once readably, a row at a time (:func:`ecs`, :func:`ocsf`, :func:`flat`,
:func:`syslog`: the definition), once as batch templates (:func:`encode_batch`,
:func:`syslog_batch`: what export and replay use, several times faster); the tests hold the
second to the first byte for byte. :func:`read_record` reads every format back into the
contract's columns, which is how the round-trip tests check the mappings.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from snoopbench.contract.errors import InputError
from snoopbench.contract.schema import EVENTS

#: The contract's event columns, in order: the only ones ever exported.
COLUMNS: tuple[str, ...] = tuple(EVENTS.schema.names)
ECS_VERSION = "8.11.0"  # every field used exists, with these meanings, from ECS 8.0 to 9.x
OCSF_VERSION = "1.3.0"  # API Activity (6003) has had this shape since OCSF 1.0
PRODUCT = "snoopbench"
#: Custom ECS namespace for the accessed record (ECS's own entity.* fields are beta).
ECS_NAMESPACE = "snoopbench"
#: The private enterprise number RFC 5612 reserves for documentation: structured-data ids.
SD_ID = "snoopbench@32473"
SYSLOG_PRI = 13 * 8 + 6  # facility 13 (log audit), severity 6 (informational)

#: OCSF API Activity activity_id per action: Create 1, Read 2, Update 3, Delete 4.
OCSF_ACTIVITY = {"create": 1, "update": 3, "delete": 4}
OCSF_ACTIVITY_NAME = {1: "Create", 2: "Read", 3: "Update", 4: "Delete"}
#: ECS event.type per action (event.category is "database": the systems are record stores).
ECS_TYPE = {"create": "creation", "update": "change", "delete": "deletion"}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)


def iso_ms(ms: np.ndarray) -> np.ndarray:
    """Milliseconds since the epoch (UTC) as ISO 8601 strings: ``YYYY-MM-DDTHH:MM:SS.fffZ``."""
    text = np.datetime_as_string(np.asarray(ms, np.int64).astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "Z")


def parse_iso(text: str) -> int:
    """An ISO 8601 timestamp with an offset (``Z`` or ``+HH:MM``) as milliseconds since the epoch;
    ``ValueError`` if it has no offset or is not ISO 8601."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return (when - _EPOCH) // _MS


def batch_rows(batch: pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """A batch of events as plain rows: ints, strings, ``ts`` as ISO 8601, ``ms`` as epoch ms."""
    cols = columns(batch)
    names = list(cols)
    for values in zip(*cols.values()):
        yield dict(zip(names, values))


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """The ``jsonl`` and ``csv`` record: the contract's columns, ``ts`` in ISO 8601."""
    return {c: row[c] for c in COLUMNS}


def ecs(row: dict[str, Any]) -> dict[str, Any]:
    """An event as an Elastic Common Schema document."""
    doc: dict[str, Any] = {
        "@timestamp": row["ts"],
        "ecs": {"version": ECS_VERSION},
        "event": {
            "id": str(row["event_id"]),
            "kind": "event",
            "category": ["database"],
            "type": [ECS_TYPE.get(row["action"], "access")],
            "action": row["action"],
            "provider": row["system"],
            "dataset": f"{PRODUCT}.{row['system'].lower()}",
            "module": PRODUCT,
        },
        "user": {"id": str(row["user_id"])},
        "host": {"id": str(row["workstation_id"])},
        ECS_NAMESPACE: {"record": {"type": row["entity_type"], "id": row["entity_id"]}},
    }
    if row["reference"] is not None:
        doc["labels"] = {"reference": row["reference"]}
    return doc


def ocsf(row: dict[str, Any], version: str = "") -> dict[str, Any]:
    """An event as an OCSF API Activity (class 6003) event."""
    activity = OCSF_ACTIVITY.get(row["action"], 2)
    doc: dict[str, Any] = {
        "class_uid": 6003, "class_name": "API Activity",
        "category_uid": 6, "category_name": "Application Activity",
        "activity_id": activity, "activity_name": OCSF_ACTIVITY_NAME[activity],
        "type_uid": 600300 + activity,
        "type_name": f"API Activity: {OCSF_ACTIVITY_NAME[activity]}",
        "severity_id": 1, "severity": "Informational",
        "time": row["ms"], "time_dt": row["ts"],
        "metadata": {"uid": str(row["event_id"]), "version": OCSF_VERSION,
                     "profiles": ["datetime"],
                     "product": {"name": PRODUCT, "vendor_name": PRODUCT,
                                 **({"version": version} if version else {})}},
        "actor": {"user": {"uid": str(row["user_id"])}},
        "api": {"operation": row["action"], "service": {"name": row["system"]}},
        "resources": [{"type": row["entity_type"], "uid": str(row["entity_id"])}],
        "src_endpoint": {"uid": str(row["workstation_id"])},
    }
    if row["reference"] is not None:
        doc["unmapped"] = {"reference": row["reference"]}
    return doc


def _sd_value(value: str) -> str:
    # RFC 5424 section 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog(row: dict[str, Any], body: str | None = None) -> str:
    """An RFC 5424 syslog message (without framing). The event's fields are structured data
    ``[snoopbench@32473 ...]``; the MSG is ``body`` (a JSON document) if given, else a sentence."""
    params = " ".join(f'{c}="{_sd_value(str(row[c]))}"' for c in COLUMNS
                      if c != "ts" and row[c] is not None)
    if body is None:
        ref = row["reference"] if row["reference"] is not None else "no reference"
        body = (f"user {row['user_id']} {row['action']} {row['entity_type']} "
                f"{row['entity_id']} ({ref})")
    return (f"<{SYSLOG_PRI}>1 {row['ts']} ws{row['workstation_id']} {row['system']} - "
            f"{row['action']} [{SD_ID} {params}] {body}")


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


#: Format name -> row to JSON-ready document (csv is written apart, from ``flat``).
DOCUMENTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ecs": ecs, "ocsf": ocsf, "jsonl": flat,
}


# -- fast encoding ------------------------------------------------------------------------------
# The same documents as ``dumps(ecs(row))`` etc., byte for byte (tests/test_export.py checks),
# written from templates: a dict and a json.dumps per event would make a 2M-event export take
# minutes. Every string value still goes through json.dumps (cached: the values repeat).

_LABELS = ',"labels":{"reference":'
_UNMAPPED = ',"unmapped":{"reference":'


class _Quoted(dict):
    def __missing__(self, value: str) -> str:
        text = json.dumps(value, ensure_ascii=False)
        if len(self) < 1 << 16:
            self[value] = text
        return text


def columns(batch: pa.RecordBatch) -> dict[str, list]:
    """The contract's columns of ``batch`` as lists, ``ts`` as ISO 8601, ``ms`` as epoch ms."""
    ms = batch.column("ts").cast(pa.int64()).to_numpy()
    cols = {c: batch.column(c).to_pylist() for c in COLUMNS if c != "ts"}
    cols["ts"] = iso_ms(ms).tolist()
    cols["ms"] = ms.tolist()
    return cols


def encode_batch(batch: pa.RecordBatch, fmt: str, version: str = "") -> list[str]:
    """Each event of ``batch`` as one compact JSON document (no newline) in ``fmt``."""
    c = columns(batch)
    q = _Quoted()
    rows = zip(c["event_id"], c["ts"], c["ms"], c["user_id"], c["system"], c["action"],
               c["entity_type"], c["entity_id"], c["reference"], c["workstation_id"])
    if fmt == "jsonl":
        return [f'{{"event_id":{e},"ts":"{ts}","user_id":{u},"system":{q[sy]},"action":{q[a]},'
                f'"entity_type":{q[et]},"entity_id":{ei},"reference":'
                f'{"null" if r is None else q[r]},"workstation_id":{w}}}'
                for e, ts, _, u, sy, a, et, ei, r, w in rows]
    if fmt == "ecs":
        head = f'{{"version":"{ECS_VERSION}"}}'
        return [f'{{"@timestamp":"{ts}","ecs":{head},"event":{{"id":"{e}","kind":"event",'
                f'"category":["database"],"type":["{ECS_TYPE.get(a, "access")}"],'
                f'"action":{q[a]},"provider":{q[sy]},"dataset":{q[PRODUCT + "." + sy.lower()]},'
                f'"module":"{PRODUCT}"}},"user":{{"id":"{u}"}},"host":{{"id":"{w}"}},'
                f'"{ECS_NAMESPACE}":{{"record":{{"type":{q[et]},"id":{ei}}}}}'
                f'{"" if r is None else _LABELS + q[r] + "}"}}}'
                for e, ts, _, u, sy, a, et, ei, r, w in rows]
    if fmt == "ocsf":
        product = dumps({"name": PRODUCT, "vendor_name": PRODUCT,
                         **({"version": version} if version else {})})
        out = []
        for e, ts, ms, u, sy, a, et, ei, r, w in rows:
            act = OCSF_ACTIVITY.get(a, 2)
            name = OCSF_ACTIVITY_NAME[act]
            out.append(
                f'{{"class_uid":6003,"class_name":"API Activity","category_uid":6,'
                f'"category_name":"Application Activity","activity_id":{act},'
                f'"activity_name":"{name}","type_uid":{600300 + act},'
                f'"type_name":"API Activity: {name}","severity_id":1,'
                f'"severity":"Informational","time":{ms},"time_dt":"{ts}",'
                f'"metadata":{{"uid":"{e}","version":"{OCSF_VERSION}","profiles":["datetime"],'
                f'"product":{product}}},"actor":{{"user":{{"uid":"{u}"}}}},'
                f'"api":{{"operation":{q[a]},"service":{{"name":{q[sy]}}}}},'
                f'"resources":[{{"type":{q[et]},"uid":"{ei}"}}],'
                f'"src_endpoint":{{"uid":"{w}"}}'
                f'{"" if r is None else _UNMAPPED + q[r] + "}"}}}')
        return out
    raise InputError(f"unknown format {fmt!r}", key="--format")


class _SdQuoted(dict):
    def __missing__(self, value: str) -> str:
        text = _sd_value(value)
        if len(self) < 1 << 16:
            self[value] = text
        return text


def syslog_batch(batch: pa.RecordBatch, bodies: list[str] | None = None) -> list[str]:
    """The events of ``batch`` as :func:`syslog` writes them (the same text, faster)."""
    c = columns(batch)
    q = _SdQuoted()
    bodies = bodies if bodies is not None else [None] * batch.num_rows
    out = []
    for e, ts, u, sy, a, et, ei, r, w, body in zip(
            c["event_id"], c["ts"], c["user_id"], c["system"], c["action"], c["entity_type"],
            c["entity_id"], c["reference"], c["workstation_id"], bodies):
        if body is None:
            body = f"user {u} {a} {et} {ei} ({'no reference' if r is None else r})"
        ref = "" if r is None else f' reference="{q[r]}"'
        out.append(f'<{SYSLOG_PRI}>1 {ts} ws{w} {sy} - {a} [{SD_ID} event_id="{e}" '
                   f'user_id="{u}" system="{q[sy]}" action="{q[a]}" entity_type="{q[et]}" '
                   f'entity_id="{ei}"{ref} workstation_id="{w}"] {body}')
    return out


def csv_rows(batch: pa.RecordBatch) -> Iterator[tuple]:
    """The events of ``batch`` as CSV rows, in the order of :data:`COLUMNS` (null: empty)."""
    c = columns(batch)
    return zip(*(c[name] for name in COLUMNS))


# -- reading back -------------------------------------------------------------------------------

def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise KeyError(path)
        cur = cur[key]
    return cur


def read_record(doc: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The contract's columns of one exported document (``ts`` as epoch ms): the inverse of the
    mapping, :class:`KeyError` naming the missing field."""
    if fmt == "ecs":
        labels = doc.get("labels") or {}
        row = {"event_id": _get(doc, "event.id"), "ts": _get(doc, "@timestamp"),
               "user_id": _get(doc, "user.id"), "system": _get(doc, "event.provider"),
               "action": _get(doc, "event.action"),
               "entity_type": _get(doc, f"{ECS_NAMESPACE}.record.type"),
               "entity_id": _get(doc, f"{ECS_NAMESPACE}.record.id"),
               "reference": labels.get("reference"), "workstation_id": _get(doc, "host.id")}
    elif fmt == "ocsf":
        resource = _get(doc, "resources")[0]
        row = {"event_id": _get(doc, "metadata.uid"), "ts": _get(doc, "time_dt"),
               "user_id": _get(doc, "actor.user.uid"), "system": _get(doc, "api.service.name"),
               "action": _get(doc, "api.operation"), "entity_type": resource["type"],
               "entity_id": resource["uid"],
               "reference": (doc.get("unmapped") or {}).get("reference"),
               "workstation_id": _get(doc, "src_endpoint.uid")}
    elif fmt in ("jsonl", "csv"):
        row = {c: doc[c] for c in COLUMNS}
        if row["reference"] == "":
            row["reference"] = None
    else:
        raise InputError(f"unknown format {fmt!r}", key="--format")
    for c in ("event_id", "user_id", "entity_id", "workstation_id"):
        row[c] = int(row[c])
    row["ts"] = parse_iso(row["ts"])
    return row
