"""``adaptive``: the ensemble, tuned by reviewers' verdicts as they come back (the online protocol).

Without verdicts it scores exactly as ``ensemble`` (its non-adaptive twin). Each verdict names
an alert the detector raised (a user and a day); the detector looks up which of its rules carried
that user-day (those within ``margin`` of the day's most surprising rule, in log10 units) and:

- **re-weights the rules**: each rule's precision among the verdicts on its alerts, shrunk
  towards the precision of all verdicts by ``prior`` verdicts' worth (a beta-binomial estimate),
  becomes a weight: ``log10`` of its ratio to the overall precision, added to the rule's surprise
  (which is itself a ``-log10`` share), within ``[-max_penalty, max_bonus]``. A rule whose alerts
  reviewers keep clearing needs rarer evidence to alert again; one they keep confirming, less;
- **suppresses cleared, explained patterns per user** (off by default: ``suppress=0``): an alert
  cleared because the user held the reference of what they looked at lowers that user's surprise
  on the rules that carried it by ``suppress`` (log10 units) from then on; a confirmed alert on the
  user lifts it again. It cuts repeated false alerts, but it also silences misusers whose alerts a
  reviewer missed (a careful or expert misuser's alert is often cleared, and its top event may
  well be explained work): on 92 days of ``small-force`` it halved the true alerts and lost an
  episode, where the re-weighting alone raised precision by a fifth with every episode caught.

Only verdicts change anything: with no reviewers (``score``, not ``score --online``) it is the
ensemble. What it remembers of past user-days, to look verdicts up, spans ``memory_days``.
"""

from __future__ import annotations

from typing import Literal, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.ensemble import DEFAULT_RULES, EnsembleDetector
from snoopbench.detectors.streams import Groups


class AdaptiveEnsembleDetector(EnsembleDetector):
    """The ensemble with per-rule weights and per-user suppression learnt from verdicts.

    Takes the ensemble's ``rules`` and ``combine``; ``prior`` (verdicts' worth of shrinkage of
    each rule's precision towards the overall one), ``max_bonus`` and ``max_penalty`` (bounds on
    a rule's weight, log10 units), ``margin`` (rules within this of a user-day's top carry its
    verdict), ``suppress`` (surprise taken off a user's rule after an explained clearance) and
    ``memory_days`` (how far back a verdict's user-day can be looked up).
    """

    name = "adaptive"

    def __init__(self, *, rules: str = DEFAULT_RULES, combine: Literal["sum", "max"] = "max",
                 timezone: str | None = None, prior: float = 20.0, max_bonus: float = 1.0,
                 max_penalty: float = 2.0, margin: float = 0.5, suppress: float = 0.0,
                 memory_days: int = 120) -> None:
        super().__init__(rules=rules, combine=combine, timezone=timezone)
        self.prior = prior
        self.max_bonus = max_bonus
        self.max_penalty = max_penalty
        self.margin = margin
        self.suppress = suppress
        self.memory_days = memory_days

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        self.seen_: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self.weight_: np.ndarray | None = None  # set once the rules are known
        self.penalty_: np.ndarray | None = None
        super().fit(context, history, info)
        n_rules, n_users = len(self.rules_), len(self.index_.user_ids) + 1
        self.hits_ = np.zeros(n_rules)
        self.verdicts_ = np.zeros(n_rules)
        self.weight_ = np.zeros(n_rules)
        self.penalty_ = np.zeros((n_rules, n_users))

    def _adjust(self, k: int, carried: np.ndarray, groups: Groups, user: np.ndarray) -> np.ndarray:
        if groups.n:
            top = np.maximum.reduceat(carried[groups.order], groups.starts)
            fired = top > 0
            if fired.any():
                day = int(groups.keys[0] >> 32)
                if day not in self.seen_:
                    for old in [d for d in self.seen_ if d < day - self.memory_days]:
                        del self.seen_[old]
                self.seen_.setdefault(day, []).append((k, groups.keys[fired], top[fired]))
        if self.weight_ is None:  # calibrating on the warm-up: nothing learnt yet
            return carried
        adjusted = carried + self.weight_[k] - self.penalty_[k][user]
        return np.where(carried > 0, np.maximum(adjusted, 1e-3), 0.0)

    def _carried(self, key: int) -> np.ndarray:
        """Each rule's highest carried surprise on one user-day (zeros if forgotten)."""
        out = np.zeros(len(self.rules_))
        for k, keys, top in self.seen_.get(key >> 32, ()):
            hit = keys == key
            if hit.any():
                out[k] = max(out[k], float(top[hit].max()))
        return out

    def feedback(self, verdicts: pa.Table) -> None:
        """Take reviewers' verdicts on this detector's alerts (the online protocol's table)."""
        self.check_fitted("index_")
        n_users = len(self.index_.user_ids)
        users = self.index_.user_index(verdicts["user_id"].to_numpy().astype(np.int64))
        users = np.where(users >= 0, users, n_users)
        days = verdicts["date"].cast(pa.int32()).to_numpy().astype(np.int64)
        confirmed = pc.equal(verdicts["verdict"], "confirmed").to_numpy(zero_copy_only=False)
        explained = pc.equal(verdicts["reason"], "explained").to_numpy(zero_copy_only=False)
        for user, day, ok, why in zip(users, days, confirmed, explained):
            c = self._carried(int((day << 32) | user))
            if not (c > 0).any():
                continue
            carried = (c > 0) & (c >= c.max() - self.margin)
            self.verdicts_[carried] += 1
            if ok:
                self.hits_[carried] += 1
                self.penalty_[:, user] = 0.0
            elif why:
                self.penalty_[carried, user] = self.suppress
        overall = (self.hits_.sum() + 1.0) / (self.verdicts_.sum() + 2.0)
        rate = (self.hits_ + self.prior * overall) / (self.verdicts_ + self.prior)
        self.weight_ = np.clip(np.log10(rate / overall), -self.max_penalty, self.max_bonus)
