"""Result dataclasses and the results JSON format ``snoopbench/results/v1``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from snoopbench.benchmarks.compare import EpisodeRanks, paired_json
from snoopbench.benchmarks.dataset import ScoringPeriod
from snoopbench.benchmarks.episodes import EpisodeRow, summary_json
from snoopbench.benchmarks.metrics import Metrics
from snoopbench.contract.schema import RESULTS_FORMAT

STATUSES = ("ok", "error", "timeout", "oom")
#: The per-detector keys the results format promises (more may follow).
CONTRACT_KEYS = (
    "name", "status", "error", "recall", "recall_by_kind", "precision", "false_alerts_per_day",
    "ttd_median_days", "ttd_p90_days", "average_precision", "events_per_s", "peak_mem_mb",
)
#: What each entry of a row's ``budget_sweep`` holds besides the budget.
_SWEEP_KEYS = ("recall", "precision", "false_alerts_per_day", "n_alerts", "n_caught",
               "alerts_per_day", "recall_by_kind")


@dataclass
class DetectorResult:
    """One detector's row: status, reason, metrics (None unless ok) and its cost."""

    name: str
    status: str
    error: str | None = None
    metrics: Metrics | None = None
    fit_seconds: float | None = None
    score_seconds: float | None = None
    fit_events_per_s: float | None = None
    events_per_s: float | None = None
    peak_mem_mb: float | None = None
    #: The detector process's own run, end to end: reading, fit, scoring, writing its scores.
    wall_seconds: float | None = None
    #: Alert metrics of the same scores at other budgets (``score_dataset(budgets=...)``).
    budget_sweep: dict[float, Metrics] = field(default_factory=dict)
    #: The end of what the detector wrote to stderr (None if nothing).
    log: str | None = None
    #: The SPEC that was run, when ``name`` is not it (a named or an outside detector).
    spec: str | None = None
    #: Per episode, its best daily queue place: recall at any budget, CR-K, paired comparisons.
    ranks: EpisodeRanks | None = None
    #: One row per episode of the period (empty unless ok): :mod:`benchmarks.episodes`.
    episodes: list[EpisodeRow] = field(default_factory=list)
    #: Before and after each change of the dataset's timeline (benchmarks.robustness), as JSON.
    robustness: list[dict] = field(default_factory=list)
    #: Online protocol only (:mod:`benchmarks.online`): learning curve by month, alerts until the
    #: first catch, alert fatigue, verdicts.
    online: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The row in results format ``snoopbench/results/v1`` (null for missing metrics)."""
        m = asdict(self.metrics) if self.metrics is not None else {}
        row: dict[str, Any] = {"name": self.name, "status": self.status, "error": self.error}
        for key in CONTRACT_KEYS[3:10]:
            row[key] = m.get(key)
        row.update(
            events_per_s=self.events_per_s, peak_mem_mb=self.peak_mem_mb,
            fit_events_per_s=self.fit_events_per_s, fit_seconds=self.fit_seconds,
            score_seconds=self.score_seconds,
        )
        for key in ("n_alerts", "n_true_alerts", "n_episodes", "n_caught", "alerts_per_day",
                    "alert_budget", "caught_by_kind", "episodes_by_kind"):
            row[key] = m.get(key)
        row["ttd_days"] = list(m["ttd_days"]) if m else None
        row["log"] = self.log
        row["spec"] = self.spec
        row["budget_sweep"] = [
            {"budget": b, **{k: getattr(bm, k) for k in _SWEEP_KEYS}}
            for b, bm in sorted(self.budget_sweep.items())
        ]
        if self.ranks is not None:
            row["cumulative_recall"] = self.ranks.to_json()
        row.update(summary_json(self.episodes))
        row["robustness"] = self.robustness
        if self.online is not None:
            row["online"] = self.online
        return row


@dataclass
class ScoreResult:
    """The outcome of scoring detectors (or an alerts file) on one dataset."""

    dataset: str
    fingerprint: str | None
    budget: float
    alerts_per_day: int | None
    n_staff: int
    n_days: int
    n_events: int
    n_episodes: int
    first_day: str
    last_day: str
    timezone: str
    #: True if every file was re-hashed against the manifest before scoring.
    verified: bool = False
    detectors: list[DetectorResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: How the detectors ran: "strong" (each in a bubblewrap sandbox) or "weak" (unsandboxed);
    #: None when no detector ran (an alerts file).
    isolation: str | None = None
    #: Online protocol only: the regime, the reviewer and the run's wall-clock seconds.
    online: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The whole result in results format ``snoopbench/results/v1``."""
        head = {k: v for k, v in asdict(self).items() if k != "detectors"
                and not (k == "online" and v is None)}
        out = {"format": RESULTS_FORMAT, **head,
               "detectors": [d.to_json() for d in self.detectors]}
        paired = paired_json(self.detectors)
        if paired is not None:
            out["paired"] = paired
        return out

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` (strict JSON: no NaN)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")


def build_result(
    period: ScoringPeriod, budget: float, per_day: int | None, rows: list[DetectorResult]
) -> ScoreResult:
    """The dataset-level head of a result around its detector rows."""
    notes = []
    if period.n_episodes_warmup_only:
        notes.append(f"{period.n_episodes_warmup_only} episode(s) entirely in the warm-up "
                     "are left out of recall")
    return ScoreResult(
        dataset=str(period.dataset.root), fingerprint=period.dataset.fingerprint,
        budget=budget, alerts_per_day=per_day, n_staff=period.n_staff, n_days=period.n_days,
        n_events=period.n_events, n_episodes=period.n_episodes,
        first_day=period.first_day.isoformat(), last_day=period.last_day.isoformat(),
        timezone=period.dataset.timezone, verified=period.dataset.verified, detectors=rows, notes=notes,
    )
