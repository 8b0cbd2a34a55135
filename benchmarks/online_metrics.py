"""Metrics of the online protocol over time, as pure functions on numpy arrays.

- **Learning curve**: per calendar month (the force's local days), alerts, true and false alerts,
  precision, false alerts per day, and recall: the share of episodes with labelled events in that
  month that an alert of that month caught.
- **Alerts until the first catch**: how many alerts, in order (by day, then by score), came before
  the first alert that held misuse (None if none did).
- **Alert fatigue**: how often a user the detector had been told was cleared raises a false alert
  again: of the false alerts, those on a user with a cleared verdict already delivered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from snoopbench.benchmarks.metrics import Period, key_days
from snoopbench.contract.info import user_day_keys

_EPOCH = dt.date(1970, 1, 1)


def month_of(days: np.ndarray) -> np.ndarray:
    """Month numbers (year * 12 + month - 1) of local day numbers (days since 1970-01-01)."""
    days = np.asarray(days, np.int64)
    uniq, inverse = np.unique(days, return_inverse=True)
    months = np.array([(d.year * 12 + d.month - 1) for d in
                       (_EPOCH + dt.timedelta(days=int(x)) for x in uniq)], np.int64)
    return months[inverse] if len(days) else np.zeros(0, np.int64)


def learning_curve(alert_keys: np.ndarray, labelled: Period, first_day: int, n_days: int
                   ) -> list[dict[str, Any]]:
    """One row per calendar month of the period (``first_day``, ``n_days`` local days)."""
    alert_keys = np.unique(np.asarray(alert_keys, np.int64))
    lab = labelled.episode >= 0
    lab_keys = user_day_keys(labelled.user[lab], labelled.day[lab])
    lab_month = month_of(labelled.day[lab])
    lab_episode = np.asarray(labelled.episode[lab], np.int64)
    true = np.isin(alert_keys, lab_keys)
    alert_month = month_of(key_days(alert_keys))
    present = np.unique(np.c_[lab_episode, lab_month], axis=0) if len(lab_keys) else np.zeros((0, 2))
    hit = np.isin(lab_keys, alert_keys)
    caught = np.unique(np.c_[lab_episode[hit], lab_month[hit]], axis=0) if hit.any() \
        else np.zeros((0, 2))
    day_month = month_of(np.arange(first_day, first_day + n_days))
    rows = []
    for m in np.unique(day_month):
        days = int((day_month == m).sum())
        in_m = alert_month == m
        n, n_true = int(in_m.sum()), int(true[in_m].sum())
        n_ep, n_caught = int((present[:, 1] == m).sum()), int((caught[:, 1] == m).sum())
        rows.append({
            "month": f"{m // 12:04d}-{m % 12 + 1:02d}", "days": days, "alerts": n,
            "true_alerts": n_true, "false_alerts": n - n_true,
            "precision": n_true / n if n else None, "false_alerts_per_day": (n - n_true) / days,
            "episodes": n_ep, "caught": n_caught, "recall": n_caught / n_ep if n_ep else None,
        })
    return rows


def alerts_to_first_catch(alert_keys: np.ndarray, alert_scores: np.ndarray,
                          labelled_keys: np.ndarray) -> int | None:
    """Alerts raised before the first that held misuse, in order of day then score (best first)."""
    keys = np.asarray(alert_keys, np.int64)
    order = np.lexsort((-np.asarray(alert_scores, np.float64), key_days(keys)))
    true = np.isin(keys[order], labelled_keys)
    return int(np.argmax(true)) if true.any() else None


def fatigue(alert_keys: np.ndarray, labelled_keys: np.ndarray, cleared_users: np.ndarray,
            cleared_received: np.ndarray) -> dict[str, Any]:
    """False alerts on users whose earlier alert had come back cleared (``cleared_received``: the
    local day each cleared verdict reached the detector), and their share of the false alerts."""
    keys = np.asarray(alert_keys, np.int64)
    false = ~np.isin(keys, labelled_keys)
    users, days = (keys & 0xFFFFFFFF)[false], key_days(keys)[false]
    first_told: dict[int, int] = {}
    for u, d in zip(np.asarray(cleared_users).tolist(), np.asarray(cleared_received).tolist()):
        first_told[u] = min(d, first_told.get(u, d))
    told = np.array([first_told.get(int(u), np.iinfo(np.int64).max) for u in users], np.int64)
    repeats = int((days >= told).sum())
    n_false = int(false.sum())
    return {"false_alerts": n_false, "repeat_false_alerts": repeats,
            "fatigue": repeats / n_false if n_false else None}
