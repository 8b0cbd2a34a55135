"""The base of the built-in rules, and the simplest: ``canary``, ``off_shift``, ``random_audit``.

A rule builds a :class:`~detectors.index.ForceIndex` from the context tables in ``fit``, learns
what it needs from the warm-up events, then scores the warm-up itself so that whatever it carries
from batch to batch is up to date when the scoring period starts. ``score`` decodes a batch once
into a :class:`~detectors.frame.Frame`; an ensemble shares one frame among its rules.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import Detector, zone_of, hash64, unit_interval
from snoopbench.detectors.columns import ET, VOCAB, codes, entity_key, ints
from snoopbench.detectors.describe import describe
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.index import ForceIndex


class RuleDetector(Detector):
    """A detector that scores decoded frames against a force index (see the module docstring)."""

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        index = ForceIndex(context, zone_of(self, info))
        # a rule that carries nothing from batch to batch need not score the warm-up
        self.fit_frame(index, index.decode(history if self.uses_warmup else history.slice(0, 0)))

    def fit_frame(self, index: ForceIndex, history: Frame) -> np.ndarray:
        """Learn from the warm-up, then score it (bringing streaming state up to date).

        Returns the warm-up's scores, which an ensemble uses to calibrate the rule.
        """
        self.prepare(index, history)
        return self.score_frame(history)

    def prepare(self, index: ForceIndex, history: Frame) -> None:
        """Learn from the warm-up without scoring it (the caller then scores it, in order)."""
        self.index_ = index
        self.learn(history)

    def learn(self, history: Frame) -> None:
        """Learn from the decoded warm-up events (default: nothing)."""

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        self.check_fitted("index_")
        frame = self.index_.decode(batch)
        self.scored_ = (batch, frame)  # explain() reads the same decoded frame
        return self.score_frame(frame)

    def score_frame(self, f: Frame) -> np.ndarray:
        """One score per event of a decoded batch."""
        raise NotImplementedError(f"{type(self).__name__}.score_frame")

    def explain(self, batch: pa.RecordBatch, rows: np.ndarray) -> list[str | None]:
        """Why the events ``rows`` of the batch just scored scored as they did (see
        :class:`~detectors.base.Detector`): :meth:`explain_frame` on its decoded frame."""
        self.check_fitted("index_")
        scored = getattr(self, "scored_", None)
        frame = scored[1] if scored is not None and scored[0] is batch else self.index_.decode(batch)
        return self.explain_frame(frame, np.asarray(rows, np.int64))

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        """Explanations of the events ``rows`` of a frame the rule has just scored; it must not
        change what the rule carries from batch to batch. Default: the rule and the event."""
        return [f"{self.name}: {d}" for d in describe(f, rows)]


class CanaryDetector(RuleDetector):
    """Protective-monitoring tripwires: any touch of a planted ``canaries`` record scores 1.

    No legitimate task leads to a canary, so a hit needs no weighing: it is the cheapest rule a
    force can run, and it catches only those who browse (a canary must be stumbled upon).
    """

    name = "canary"
    uses_warmup = False  # the planted records are in the context; nothing runs on
    reads = ("entity_type", "entity_id")

    def __init__(self) -> None:
        pass

    def learn(self, history: Frame) -> None:
        t = self.index_.table("canaries")
        if t is None:
            self.keys_ = np.zeros(0, np.int64)
            return
        self.keys_ = np.unique(entity_key(codes(t["entity_type"], VOCAB["entity_type"]),
                                          ints(t, "entity_id")))
        self.ids_ = np.unique(self.keys_ & ((1 << 56) - 1))

    def score_frame(self, f: Frame) -> np.ndarray:
        if not len(self.keys_):
            return np.zeros(len(f))
        maybe = np.flatnonzero(np.isin(f.entity, self.ids_))
        out = np.zeros(len(f))
        if len(maybe):
            hit = np.isin(entity_key(f.etype[maybe], f.entity[maybe]), self.keys_)
            out[maybe[hit]] = 1.0
        return out

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        hit = np.isin(entity_key(f.etype[rows], f.entity[rows]), self.keys_) \
            if len(self.keys_) else np.zeros(len(rows), bool)
        return [f"canary record touched: {d}" if h else None
                for h, d in zip(hit, describe(f, rows))]


class OffShiftDetector(RuleDetector):
    """Accesses outside the user's rostered shift, scored by the hours beyond a grace period.

    What most monitoring products flag first ("out-of-hours use"): naive misuse happens at home
    or after duty. Overruns are not in the roster, hence the grace; look-ups of people, vehicles
    and addresses count in full, other work (CAD updates, record housekeeping) by ``other_weight``.

    Parameters
    ----------
    grace_minutes : float
        Minutes before and after a rostered shift that count as on duty (overruns, early starts).
    """

    name = "off_shift"
    uses_warmup = False  # the roster is in the context; nothing runs on
    reads = ("ts", "user_id", "entity_type")

    def __init__(self, *, grace_minutes: float = 60.0, other_weight: float = 0.5) -> None:
        self.grace_minutes = grace_minutes
        self.other_weight = other_weight

    def learn(self, history: Frame) -> None:
        self.index_.roster  # built here, in fit, not on the first batch scored

    def score_frame(self, f: Frame) -> np.ndarray:
        hours = self.index_.off_shift_ms(f) / 3_600_000.0 - self.grace_minutes / 60.0
        personal = f.etype <= ET["address"]  # person, vehicle, address
        weight = np.where(personal, 1.0, self.other_weight)
        return np.maximum(hours, 0.0) * weight

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        hours = self.index_.off_shift_ms(f)[rows] / 3_600_000.0
        return [f"off shift {h:.1f} h beyond the rostered shift: {d}"
                for h, d in zip(hours, describe(f, rows))]


class RandomAuditDetector(RuleDetector):
    """Random usage checks, as forces describe them today: a seeded share of staff-days is audited.

    Every event of an audited user-day gets that day's random priority in (0, 1]; the others 0.
    The budget then takes the audited days in priority order: when ``share`` audits fewer days
    than the budget allows, the rest of the budget goes unused, as a real audit team's would.
    """

    name = "random_audit"
    uses_warmup = False  # a keyed hash of the user-day
    reads = ("ts", "user_id")

    def __init__(self, *, share: float = 0.05, seed: int = 0,
                 timezone: str | None = None) -> None:
        self.share = share
        self.seed = seed
        self.timezone = timezone

    def learn(self, history: Frame) -> None:
        rng = np.random.default_rng(self.seed)
        self.keys_ = [int(k) for k in rng.integers(0, 2**63, size=2, dtype=np.int64)]

    def score_frame(self, f: Frame) -> np.ndarray:
        user = np.asarray(f.batch.column("user_id").to_numpy(), np.int64) & 0xFFFFFFFF
        user_day = (self.index_.local_day(f) << 32) | user
        picked = unit_interval(hash64(user_day, self.keys_[0])) <= self.share
        return np.where(picked, unit_interval(hash64(user_day, self.keys_[1])), 0.0)

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        return ["random_audit: the user-day was drawn for a random audit"] * len(rows)
