"""Scoring alerts produced elsewhere (``snoopbench score-alerts``).

An alerts file (CSV or Parquet) has an ``event_id`` column, or ``user_id`` and ``date``
(YYYY-MM-DD, the force's local day); an optional ``score`` orders alerts within a day. NDJSON
files of ECS or OCSF alert documents are read into the same form (``benchmarks.alert_docs``). Alerts
are scored as user-days, like the harness's: several rows on one user-day are one alert.

The contract counts every alert against the budget, so by default nothing is cut: the result
reports how many alerts there were and the budget (alerts per day per 1,000 staff) they amount
to. With ``budget``, each day keeps only its top ``ceil(budget * staff / 1000)`` alerts by score
(ties by a fixed hash), which makes a file comparable with ``score`` at that budget. Alerts on
warm-up days (or whose event is in the warm-up) are outside the scoring period and dropped,
with a note, so both commands score the same period.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from snoopbench.benchmarks.alert_docs import is_documents, read_alert_documents
from snoopbench.benchmarks.dataset import (
    ScoringPeriod, locate_events, open_dataset, scoring_period, truth_dir_of,
)
from snoopbench.benchmarks.metrics import (
    alerts_per_day, clean, evaluate_alerts, select_alerts, user_day_keys,
)
from snoopbench.benchmarks.streaming import group_max
from snoopbench.benchmarks.results import DetectorResult, ScoreResult, build_result
from snoopbench.contract.errors import InputError
from snoopbench.contract.info import EPOCH as _EPOCH
from snoopbench.contract.schema import STAFF



def read_alerts_file(path: str | Path) -> pa.Table:
    """Read an alerts file (Parquet or CSV, by extension); :class:`InputError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such alerts file", file=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
        if path.suffix.lower() in (".csv", ".txt"):
            # dates stay strings: they are parsed (and checked) below
            opts = pacsv.ConvertOptions(column_types={"date": pa.string()})
            return pacsv.read_csv(path, convert_options=opts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read the alerts file ({exc})", file=str(path)) from exc
    raise InputError("expected a .csv or .parquet file", file=str(path))


def _column(table: pa.Table, name: str, kind: pa.DataType, path: Path) -> np.ndarray:
    try:
        col = table[name].combine_chunks()
        if col.null_count:
            raise InputError(f"{col.null_count} empty value(s)", file=str(path), key=name)
        return col.cast(kind).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"expected {kind} values ({exc})", file=str(path), key=name) from exc


def alert_user_days(
    table: pa.Table, period: ScoringPeriod, path: Path
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """User-day keys and scores of an alerts table, how many rows fell outside the period, and
    how many named a user the force does not have (neither kind is counted as an alert)."""
    unknown = 0
    if "event_id" in table.column_names:
        ids = _column(table, "event_id", pa.int64(), path)
        pos, user = locate_events(period.dataset, ids)
        known = pos >= 0
        if not known.all():
            raise InputError(f"{int((~known).sum())} event ids are not in the dataset "
                             f"(e.g. {int(ids[~known][0])})", file=str(path), key="event_id")
        inside = pos >= period.n_warmup
        keys = user_day_keys(user[inside], period.days_at(pos[inside] - period.n_warmup))
    elif {"user_id", "date"} <= set(table.column_names):
        user = _column(table, "user_id", pa.int32(), path)
        col = table["date"].combine_chunks()
        if not pa.types.is_date(col.type):
            col = _parse_dates(col, path)
        day = col.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        first = (period.first_day - _EPOCH).days
        last = (period.last_day - _EPOCH).days
        staff = pq.read_table(period.dataset.root / STAFF.path, columns=["user_id"])["user_id"]
        known = np.isin(user, staff.to_numpy(zero_copy_only=False))
        unknown = int((~known).sum())
        inside = (day >= first) & (day <= last) & known
        keys = user_day_keys(user[inside], day[inside])
    else:
        raise InputError("expected an event_id column, or user_id and date columns",
                         file=str(path))
    if "score" in table.column_names:
        scores = _column(table, "score", pa.float64(), path)[inside]
    else:
        scores = np.zeros(len(keys))
    uniq, best = group_max(keys, clean(scores))  # one alert per user-day, scored by its best row
    return uniq, best, int((~inside).sum()) - unknown, unknown


def _parse_dates(col: pa.Array, path: Path) -> pa.Array:
    try:
        strings = col.cast(pa.string())
        bad = [s for s in strings.to_pylist()[:1000] if len(s) != 10]
        if bad:
            raise ValueError(f"{bad[0]!r}")
        return strings.cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as exc:
        raise InputError(f"expected dates as YYYY-MM-DD ({exc})", file=str(path),
                         key="date") from exc


def score_alerts(
    dataset_dir: str | Path,
    alerts_file: str | Path,
    truth_dir: str | Path | None = None,
    *,
    budget: float | None = None,
    verify: bool = True,
) -> ScoreResult:
    """Score an alerts file on a dataset: every alert counts, unless ``budget`` cuts each day.
    ``verify``: re-hash the dataset against its manifest first."""
    if budget is not None and not 0 <= budget < float("inf"):
        raise InputError(f"expected a finite number >= 0, got {budget}", key="--budget")
    dataset = open_dataset(dataset_dir, verify=verify)
    period = scoring_period(dataset, truth_dir_of(dataset, truth_dir))
    path = Path(alerts_file)
    if is_documents(path):  # ECS or OCSF alert documents (benchmarks.alert_docs)
        found = [alert_user_days(t, period, path)
                 for t in read_alert_documents(path, dataset.timezone)]
        keys, scores = group_max(np.concatenate([f[0] for f in found] or [np.empty(0, np.int64)]),
                                 np.concatenate([f[1] for f in found] or [np.empty(0)]))
        outside, unknown = sum(f[2] for f in found), sum(f[3] for f in found)
    else:
        keys, scores, outside, unknown = alert_user_days(read_alerts_file(path), period, path)
    per_day = None
    if budget is not None:
        per_day = alerts_per_day(budget, dataset.n_staff)
        keys = keys[select_alerts(keys, scores, per_day)]
    metrics = evaluate_alerts(period.labelled, keys)
    metrics = replace(metrics, alerts_per_day=per_day)
    row = DetectorResult(name=path.name, status="ok", metrics=metrics)
    shown_budget = metrics.alert_budget if budget is None else budget
    result = build_result(period, shown_budget, per_day, [row])
    if outside:
        result.notes.append(f"{outside} alert row(s) outside the scoring period "
                            f"({result.first_day} to {result.last_day}) were dropped")
    if unknown:
        result.notes.append(f"{unknown} alert row(s) name user ids that are not in context/staff "
                            "and were not counted as alerts")
    return result
