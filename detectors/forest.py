"""``isolation_forest``: unsupervised anomaly detection on user-days (needs scikit-learn).

What a UEBA product's "anomalous day" model does: describe each user-day by what was done
(volumes and shares by system, entity type and action, unexplained and off-shift work, how many
distinct records) and by what the built-in rules saw in it, standardise each description against
the user's role on the warm-up, and score how easily an isolation forest separates it from the
warm-up's user-days.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import zone_of
from snoopbench.detectors.columns import COPY_ACTIONS, ENTITY_TYPES, SYSTEMS, entity_key
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.index import ForceIndex
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import Groups

#: Rules whose daily highest score is a feature.
FEATURE_RULES = ("relationship", "vip", "watchlist", "media_export", "canary", "explanation")
_CHUNK = 65536
#: Per user-day: log event count and distinct-record share (2); shares by system and entity type;
#: shares copied, unexplained, away from the user's area and over an hour off shift (4); the most
#: hours off shift (1); each feature rule's highest score.
_N_FEATURES = 2 + len(SYSTEMS) + len(ENTITY_TYPES) + 4 + 1 + len(FEATURE_RULES)


class IsolationForestDetector(RuleDetector):
    """An isolation forest over role-standardised user-day features.

    Retrospective: it asks for the whole scoring period in one batch, as a periodic review of
    user-days would, and scores every event with its user-day's anomaly score (each user-day is
    judged on its own features; the period is only cut into user-days). Needs the ``learn``
    extra (scikit-learn); without it, ``fit`` raises ImportError saying so.

    Parameters
    ----------
    n_estimators : int
        Trees in the forest: more give steadier scores, at more time.
    """

    name = "isolation_forest"
    retrospective = True

    def __init__(self, *, n_estimators: int = 200, seed: int = 0,
                 timezone: str | None = None) -> None:
        self.n_estimators = n_estimators
        self.seed = seed
        self.timezone = timezone

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        try:
            from sklearn.ensemble import IsolationForest
        except ImportError as exc:
            raise ImportError("isolation_forest needs scikit-learn: pip install 'snoopbench[learn]'"
                              ) from exc
        from snoopbench.detectors.registry import create

        index = ForceIndex(context, zone_of(self, info))
        frame = index.decode(history)
        self.index_ = index
        self.rules_ = [create(ident) for ident in FEATURE_RULES]
        for rule in self.rules_:
            rule.prepare(index, frame)  # _features scores the warm-up, chunk by chunk
        x, role, _, _ = self._features(frame)
        n_roles = len(index.roles) + 1
        self.mean_ = np.zeros((n_roles, x.shape[1]))
        self.sd_ = np.ones((n_roles, x.shape[1]))
        everyone_mean, everyone_sd = (x.mean(axis=0), x.std(axis=0)) if len(x) else (0.0, 1.0)
        for r in range(n_roles):
            mine = x[role == r]
            self.mean_[r] = mine.mean(axis=0) if len(mine) > 1 else everyone_mean
            self.sd_[r] = mine.std(axis=0) if len(mine) > 1 else everyone_sd
        self.sd_ = np.maximum(self.sd_, 0.1)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed)
        if len(x):
            self.forest_.fit((x - self.mean_[role]) / self.sd_[role])

    def score_frame(self, f: Frame) -> np.ndarray:
        if not len(f):
            return np.zeros(0)
        x, role, keys, event_keys = self._features(f)
        day_score = -self.forest_.score_samples((x - self.mean_[role]) / self.sd_[role])
        return day_score[np.searchsorted(keys, event_keys)]

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        """A whole user-day is scored, so no record is to blame: the forest says only that."""
        return ["isolation_forest: the user-day's activity is unusual for the role"] * len(rows)

    def _features(self, f: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features per user-day (rows in key order), the role of each, the user-day keys, and
        each event's key. The rules see the frame in chunks, to bound the memory they use."""
        index = self.index_
        parts = [self._chunk(index.decode(f.batch.slice(lo, _CHUNK)))
                 for lo in range(0, len(f), _CHUNK)] or [self._chunk(f)]
        event_keys = np.concatenate([p[0] for p in parts])
        g = Groups(np.concatenate([p[1] for p in parts]))
        if not g.n:
            return np.zeros((0, _N_FEATURES)), np.zeros(0, np.int64), g.keys, event_keys
        sums = np.add.reduceat(np.vstack([p[2] for p in parts])[g.order], g.starts)
        maxes = np.maximum.reduceat(np.vstack([p[3] for p in parts])[g.order], g.starts)
        pairs = np.unique(np.concatenate([p[4] for p in parts]), axis=0)
        distinct = np.bincount(np.searchsorted(g.keys, pairs[:, 0]), minlength=len(g.keys))
        n = sums[:, 0]
        x = np.column_stack([np.log1p(n), sums[:, 1:] / n[:, None], distinct / n,
                             np.log1p(np.maximum(maxes, 0.0))])
        user = g.keys & 0xFFFFFFFF
        roles = index.role_of(np.where(user < len(index.user_ids), user, -1))
        return x, roles, g.keys, event_keys

    def _chunk(self, f: Frame) -> tuple[np.ndarray, ...]:
        """One chunk's share: each event's user-day key; the chunk's user-day keys with the sums
        and maxima of their events' features; the (user-day, record) pairs it touched."""
        index = self.index_
        raw = [rule.score_frame(f) for rule in self.rules_]
        user = np.where(f.user >= 0, f.user, len(index.user_ids))
        key = (index.local_day(f) << 32) | user
        g = Groups(key)
        hours = index.off_shift_ms(f) / 3_600_000.0
        summed = [np.ones(len(f))] + [f.system == k for k in range(len(SYSTEMS))] \
            + [f.etype == k for k in range(len(ENTITY_TYPES))] \
            + [np.isin(f.action, COPY_ACTIONS), ~index.explained(f), index.away(f), hours > 1.0]
        sums = np.add.reduceat(np.column_stack(summed).astype(np.float64)[g.order], g.starts) \
            if g.n else np.zeros((0, len(summed)))
        maxed = np.column_stack([hours, *raw]).astype(np.float64)
        maxes = np.maximum.reduceat(maxed[g.order], g.starts) if g.n \
            else np.zeros((0, maxed.shape[1]))
        pairs = np.unique(np.column_stack([key, entity_key(f.etype, f.entity)]), axis=0)
        return key, g.keys, sums, maxes, pairs
