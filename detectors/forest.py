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

from detectors.columns import COPY_ACTIONS, ENTITY_TYPES, SYSTEMS, entity_key
from detectors.index import ForceIndex, Frame
from detectors.rules import DEFAULT_TIMEZONE, RuleDetector
from detectors.streams import Groups

#: Rules whose daily highest score is a feature.
FEATURE_RULES = ("relationship", "vip", "watchlist", "media_export", "canary", "explanation")


class IsolationForestDetector(RuleDetector):
    """An isolation forest over role-standardised user-day features.

    Retrospective: it asks for the whole scoring period in one batch, as a periodic review of
    user-days would, and scores every event with its user-day's anomaly score (each user-day is
    judged on its own features; the period is only cut into user-days). Needs the ``learn``
    extra (scikit-learn); without it, ``fit`` raises ImportError saying so.
    """

    name = "isolation_forest"
    retrospective = True

    def __init__(self, *, n_estimators: int = 200, seed: int = 0,
                 timezone: str = DEFAULT_TIMEZONE) -> None:
        self.n_estimators = n_estimators
        self.seed = seed
        self.timezone = timezone

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        try:
            from sklearn.ensemble import IsolationForest
        except ImportError as exc:
            raise ImportError("isolation_forest needs scikit-learn: pip install 'snoopbench[learn]'"
                              ) from exc
        from detectors.registry import create

        index = ForceIndex(context, self.timezone)
        frame = index.decode(history)
        self.index_ = index
        self.rules_ = [create(ident) for ident in FEATURE_RULES]
        warm = [rule.fit_frame(index, frame) for rule in self.rules_]
        x, role, _ = self._features(frame, warm)
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
        raw = [rule.score_frame(f) for rule in self.rules_]
        x, role, groups = self._features(f, raw)
        day_score = -self.forest_.score_samples((x - self.mean_[role]) / self.sd_[role])
        return groups.unsort(day_score[groups.gid])

    def _features(self, f: Frame, rule_scores: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, Groups]:
        """One row of features per user-day (in key order), the role of each, and the groups."""
        index = self.index_
        user = np.where(f.user >= 0, f.user, len(index.user_ids))
        g = Groups((index.local_day(f) << 32) | user)
        if not g.n:
            return np.zeros((0, 1)), np.zeros(0, np.int64), g
        n = np.diff(np.r_[g.starts, g.n]).astype(np.float64)

        def day_sum(values: np.ndarray) -> np.ndarray:
            return np.add.reduceat(np.asarray(values, np.float64)[g.order], g.starts)

        def day_max(values: np.ndarray) -> np.ndarray:
            return np.maximum.reduceat(np.asarray(values, np.float64)[g.order], g.starts)

        cols = [np.log1p(n)]
        cols += [day_sum(f.system == k) / n for k in range(len(SYSTEMS))]
        cols += [day_sum(f.etype == k) / n for k in range(len(ENTITY_TYPES))]
        cols.append(day_sum(np.isin(f.action, COPY_ACTIONS)) / n)
        cols.append(day_sum(~index.explained(f)) / n)
        cols.append(day_sum(index.away(f)) / n)
        hours = index.off_shift_ms(f) / 3_600_000.0
        cols.append(np.log1p(day_max(hours)))
        cols.append(day_sum(hours > 1.0) / n)
        records = entity_key(f.etype, f.entity)[g.order]
        o = np.lexsort((records, g.gid))
        new = np.r_[True, (records[o][1:] != records[o][:-1]) | (g.gid[o][1:] != g.gid[o][:-1])]
        cols.append(np.bincount(g.gid[o][new], minlength=len(g.keys)) / n)
        cols += [np.log1p(np.maximum(day_max(s), 0.0)) for s in rule_scores]
        roles = index.role_of(np.where(g.keys & 0xFFFFFFFF < len(index.user_ids),
                                       g.keys & 0xFFFFFFFF, -1))
        return np.column_stack(cols), roles, g
