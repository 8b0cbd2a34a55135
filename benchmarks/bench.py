"""``snoopbench bench``: simulate worlds, score detectors on each, summarise over seeds.

For each scenario and each of ``seeds`` seeds, the simulator writes a dataset into a temporary
folder (or under ``keep``), the harness scores every detector on it (each also at the
:data:`SWEEP_BUDGETS`, for recall against budget, without running it again), and the dataset is
deleted unless kept. The seeds of a scenario are its own ``seed``, then ``seed + 1``,
``seed + 2``, ...: the first run is the dataset ``snoopbench simulate`` makes by default.

Over seeds, each metric is the mean and 95% interval of the per-seed values: for shares
(recall, precision, average precision, nCR-K) a Wilson interval matched to the spread between
seeds (:func:`benchmarks.metrics.mean_share_interval`), always within [0, 1]; for the others a
t-interval (:func:`benchmarks.metrics.mean_interval`) clipped at 0. Each detector is compared,
paired over the same episodes and seeds, with the best and with the one ranked just above it
(:mod:`benchmarks.compare`). A seed on which a detector failed counts in that
detector's status and errors, never in its metrics; the other detectors and seeds carry on.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from snoopbench.benchmarks.episodes import EpisodeRow, ExplanationScore, recall_by
from snoopbench.benchmarks.harness import (DetectorProgress, check_isolation, resolve_specs,
                                          score_dataset)
from snoopbench.benchmarks.compare import CR_REPORTED, CR_STEP, METHOD, Paired, leaderboard_pairs
from snoopbench.benchmarks.metrics import Interval, mean_interval, mean_share_interval
from snoopbench.benchmarks.robustness import flagged_changes
from snoopbench.benchmarks.results import DetectorResult, ScoreResult
from snoopbench.simulator import __version__
from snoopbench.simulator import scenario as scenario_mod
from snoopbench.contract.errors import InputError
from snoopbench.simulator.run import simulate

BENCH_FORMAT = "snoopbench/bench/v1"
#: The benchmark suite run when no scenario is named: quick enough to run often.
SUITE = ("tiny", "misuse-zoo")
#: Budgets (alerts per day per 1,000 staff) of the recall-against-budget series.
SWEEP_BUDGETS = (1.0, 2.0, 5.0, 10.0, 20.0)
#: The metrics summarised over seeds, as named in the results format.
SUMMARY_METRICS = ("recall", "precision", "false_alerts_per_day", "ttd_median_days",
                   "ttd_p90_days", "average_precision")
#: Metrics whose intervals are clipped to [0, 1]; the others' to [0, inf).
_SHARES = ("recall", "precision", "average_precision")

#: Called with (what is happening now, runs finished, runs in all).
Progress = Callable[[str, int, int], None]


def seeds_of(base_seed: int, n: int) -> list[int]:
    """The ``n`` seeds a scenario is benchmarked on: its own seed and the ones after it."""
    return [base_seed + i for i in range(n)]


def clipped(iv: Interval | None, high: float | None = None) -> Interval | None:
    """An interval clipped to the metric's range: [0, ``high``] (no upper end if None)."""
    if iv is None or iv.low is None or iv.high is None:
        return iv
    return replace(iv, low=max(iv.low, 0.0), high=iv.high if high is None else min(iv.high, high))


def interval_json(iv: Interval | None) -> dict[str, Any] | None:
    """An :class:`Interval` as JSON (None stays None)."""
    return None if iv is None else asdict(iv)


@dataclass
class ScenarioRun:
    """What was benchmarked of one scenario."""

    name: str
    file: str
    seeds: list[int]
    days: int
    warmup_days: int
    staff: int


@dataclass
class Run:
    """One scenario at one seed: the dataset made and every detector's result on it."""

    scenario: str
    seed: int
    fingerprint: str
    kept: str | None
    simulate_seconds: float
    score_seconds: float
    result: ScoreResult

    def to_json(self) -> dict[str, Any]:
        """The run, with its full result in results format ``snoopbench/results/v1``."""
        head = {k: v for k, v in asdict(self).items() if k != "result"}
        return {**head, "result": self.result.to_json()}


@dataclass
class Row:
    """One detector on one scenario, over its seeds: a leaderboard row."""

    scenario: str
    detector: str
    seeds: list[int]
    statuses: list[str]
    errors: list[str | None] = field(default_factory=list)  # per seed, None if ok
    metrics: dict[str, Interval | None] = field(default_factory=dict)
    recall_by_kind: dict[str, Interval | None] = field(default_factory=dict)
    caught_by_kind: dict[str, int] = field(default_factory=dict)
    episodes_by_kind: dict[str, int] = field(default_factory=dict)
    recall_by_budget: dict[float, Interval | None] = field(default_factory=dict)
    ttd_days: list[float] = field(default_factory=list)
    #: CR-K and nCR-K (daily budgets of user-days, as in the CERT literature) over seeds.
    cumulative_recall: dict[str, Interval | None] = field(default_factory=dict)
    #: The paired comparisons with the best detector and with the one ranked just above.
    vs_best: Paired | None = None
    vs_above: Paired | None = None
    #: Per skill, recall over seeds; per "kind/skill", episodes caught and present, pooled.
    recall_by_skill: dict[str, Interval | None] = field(default_factory=dict)
    caught_by_kind_skill: dict[str, int] = field(default_factory=dict)
    episodes_by_kind_skill: dict[str, int] = field(default_factory=dict)
    #: Caught episodes and those whose alert's explanation named a target, pooled over seeds.
    explained: ExplanationScore | None = None
    #: Changes of the timeline where a seed's false alerts doubled or recall halved.
    robustness_flags: list[str] = field(default_factory=list)

    @property
    def n_ok(self) -> int:
        return self.statuses.count("ok")

    @property
    def status(self) -> str:
        """``ok`` if every seed worked, else each other status with its count: ``error 1/3``."""
        n = len(self.statuses)
        bad = {s: self.statuses.count(s) for s in self.statuses if s != "ok"}
        return ", ".join(f"{s} {c}/{n}" for s, c in bad.items()) or "ok"

    def failures(self) -> list[tuple[str, str | None, list[int]]]:
        """Each distinct (status, reason) of the failed seeds, with those seeds."""
        seen: dict[tuple[str, str | None], list[int]] = {}
        for seed, status, error in zip(self.seeds, self.statuses, self.errors):
            if status != "ok":
                seen.setdefault((status, error), []).append(seed)
        return [(status, error, seeds) for (status, error), seeds in seen.items()]

    def get(self, metric: str) -> Interval | None:
        """The summary of one of :data:`SUMMARY_METRICS` (None if no seed gave a value)."""
        return self.metrics.get(metric)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "detector": self.detector, "status": self.status,
            "seeds": self.seeds, "statuses": self.statuses, "errors": self.errors,
            **{k: interval_json(v) for k, v in self.metrics.items()},
            "recall_by_kind": {k: interval_json(v) for k, v in self.recall_by_kind.items()},
            "caught_by_kind": self.caught_by_kind, "episodes_by_kind": self.episodes_by_kind,
            "recall_by_budget": [{"budget": b, "recall": interval_json(v)}
                                 for b, v in sorted(self.recall_by_budget.items())],
            "ttd_days": self.ttd_days,
            "cumulative_recall": {k: interval_json(v) for k, v in self.cumulative_recall.items()},
            "vs_best": None if self.vs_best is None else self.vs_best.to_json(),
            "vs_above": None if self.vs_above is None else self.vs_above.to_json(),
            "recall_by_skill": {k: interval_json(v) for k, v in self.recall_by_skill.items()},
            "caught_by_kind_skill": self.caught_by_kind_skill,
            "episodes_by_kind_skill": self.episodes_by_kind_skill,
            "explanation_accuracy": None if self.explained is None else self.explained.accuracy,
            "n_caught_explained": None if self.explained is None else self.explained.n_explained,
            "n_caught_named_target": None if self.explained is None
            else self.explained.n_named_target,
            "robustness_flags": self.robustness_flags,
        }


@dataclass
class BenchResult:
    """Everything a bench produced: what was run, each run's result, and the leaderboard."""

    scenarios: list[ScenarioRun]
    detectors: list[str]
    budget: float
    sweep_budgets: list[float]
    version: str
    started: str
    seconds: float
    runs: list[Run]
    leaderboard: list[Row]
    #: True if the worlds were sealed with secret seeds (revealed here only after scoring).
    sealed: bool = False
    #: Per scenario, the leaderboard's paired comparisons (Holm-corrected together).
    comparisons: dict[str, list[Paired]] = field(default_factory=dict)

    def rows(self, scenario: str) -> list[Row]:
        """The leaderboard rows of one scenario, best first."""
        return [r for r in self.leaderboard if r.scenario == scenario]

    def to_json(self) -> dict[str, Any]:
        """The bench in format ``snoopbench/bench/v1``."""
        return {
            "format": BENCH_FORMAT, "version": self.version, "started": self.started,
            "seconds": self.seconds, "budget": self.budget, "sweep_budgets": self.sweep_budgets,
            "sealed": self.sealed,
            "detectors": self.detectors, "scenarios": [asdict(s) for s in self.scenarios],
            "leaderboard": [r.to_json() for r in self.leaderboard],
            "comparisons": {"method": METHOD, "metric": "recall",
                            "pairs": {s.name: [p.to_json() for p in self.comparisons.get(s.name, [])]
                                      for s in self.scenarios}},
            "runs": [r.to_json() for r in self.runs],
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` (strict JSON: no NaN)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")


def run_bench(
    scenarios: Sequence[str | Path] = (),
    seeds: int = 3,
    specs: Sequence[str] | None = None,
    budget: float = 5.0,
    days: int | None = None,
    workers: int = 1,
    keep: str | Path | None = None,
    progress: Progress | None = None,
    *,
    timeout: float | None = None,
    mem_limit_mb: int | None = None,
    require_sandbox: bool = False,
    sweep: Sequence[float] = SWEEP_BUDGETS,
    sealed: bool = False,
    detector_progress: DetectorProgress | None = None,
    online: dict[str, Any] | None = None,
) -> BenchResult:
    """Benchmark ``specs`` (default: every built-in detector) on ``scenarios`` (default: the
    :data:`SUITE`) at ``seeds`` seeds each. Bad input raises :class:`InputError` before anything
    runs; ``keep`` keeps each dataset as ``KEEP/<scenario>-seed<N>``.

    ``sealed``: the worlds are sealed, with secret seeds drawn from the operating system's CSPRNG
    (not ``seed``, ``seed + 1``, ...), so no detector can know a world by re-simulating it; the truth
    of each is written apart from its dataset, and the seeds appear in the results only after
    every detector has been scored, so the run stays reproducible afterwards.

    ``progress`` is told of each run as it starts; ``detector_progress`` how each detector of
    the run is getting on, in events (see :data:`benchmarks.harness.DetectorProgress`).

    ``online``: score each world with the online protocol (:func:`benchmarks.online.score_online`),
    these being its reviewer options (``regime``, ``feedback_delay``, ``feedback_delay_days``,
    ``seed``); no budget sweep, and no per-detector progress, then.
    """
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    t0 = time.perf_counter()
    plan = _plan(scenarios or SUITE, seeds, days, keep, sealed)
    names = [s.text for s in resolve_specs(_default_specs() if specs is None else specs)]
    if not 0 <= budget < float("inf"):
        raise InputError(f"expected a number >= 0, got {budget}", key="--budget")
    if workers < 1:
        raise InputError(f"expected at least 1 worker, got {workers}", key="--workers")
    check_isolation(mem_limit_mb, require_sandbox)
    limits: dict[str, Any] = dict(timeout=timeout, mem_limit_mb=mem_limit_mb,
                                  require_sandbox=require_sandbox, progress=detector_progress)
    if online is not None:
        from snoopbench.benchmarks.online import reviewer_of

        reviewer_of(online.get("regime", "monitoring-team"), online.get("feedback_delay"),
                    online.get("feedback_delay_days"), online.get("seed", 0))  # bad input: now
        limits["online"] = online
    budgets = sorted({float(b) for b in (*sweep, budget)})
    total = sum(len(s.seeds) for s, _ in plan)
    runs: list[Run] = []
    for info, scn in plan:
        for seed in info.seeds:
            say = _announcer(progress, f"{info.name} seed {seed}", len(runs), total)
            runs.append(_run_one(info, scn, seed, names, budget, budgets, workers, keep, limits,
                                 say, sealed))
    if progress is not None:
        progress("done", total, total)
    leaderboard: list[Row] = []
    comparisons: dict[str, list[Paired]] = {}
    for info, _ in plan:
        of_scenario = [r for r in runs if r.scenario == info.name]
        rows = summarise(of_scenario, budgets)
        comparisons[info.name] = compare_rows(rows, of_scenario)
        leaderboard += rows
    return BenchResult(
        scenarios=[info for info, _ in plan], detectors=names, budget=budget,
        sweep_budgets=budgets, version=__version__, started=started,
        seconds=round(time.perf_counter() - t0, 3), runs=runs, leaderboard=leaderboard, sealed=sealed,
        comparisons=comparisons,
    )


def compare_rows(rows: Sequence[Row], runs: Sequence[Run]) -> list[Paired]:
    """Pair each row's detector with the best and with the one just above it, on recall at
    the headline budget over the same episodes and seeds; set ``vs_best``/``vs_above``."""
    caught: dict[str, dict[int, Any]] = {}
    for run in runs:
        for d in run.result.detectors:
            if d.ranks is not None and run.result.alerts_per_day is not None:
                caught.setdefault(d.name, {})[run.seed] = d.ranks.caught(run.result.alerts_per_day)
    pairs = leaderboard_pairs([r.detector for r in rows], caught) if caught else []
    by_pair = {(p.a, p.b): p for p in pairs}
    for i, row in enumerate(rows):
        if i:
            row.vs_best = by_pair.get((rows[0].detector, row.detector))
        if i > 1:  # just below the best, the one above is the best
            row.vs_above = by_pair.get((rows[i - 1].detector, row.detector))
    return pairs


def _default_specs() -> list[str]:
    from snoopbench.detectors.registry import BUILTIN

    return sorted(BUILTIN)


def _plan(scenarios: Sequence[str | Path], seeds: int, days: int | None,
          keep: str | Path | None, sealed: bool = False) -> list[tuple[ScenarioRun, scenario_mod.Scenario]]:
    """Load and check every scenario (and the folders to keep) before anything runs."""
    if seeds < 1:
        raise InputError(f"expected at least 1 seed, got {seeds}", key="--seeds")
    plan: list[tuple[ScenarioRun, scenario_mod.Scenario]] = []
    for given in scenarios:
        scn = scenario_mod.load(scenario_mod.find(given)).with_overrides(days=days)
        name = scn.name
        if any(info.name == name for info, _ in plan):
            name = f"{name} ({given})"  # the same scenario name twice: tell them apart
        drawn = [secrets.randbelow(2**63) for _ in range(seeds)] if sealed else seeds_of(scn.seed, seeds)
        info = ScenarioRun(name=name, file=str(scn.path), seeds=drawn,
                           days=scn.days, warmup_days=scn["warmup_days"],
                           staff=scn["force"]["staff"])
        plan.append((info, scn))
        if keep is None:
            continue
        for seed in info.seeds:
            target = _kept_dir(keep, info.name, seed)
            if sealed:
                continue  # secret seeds name no folder yet; each is created new when its run starts
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise InputError("already exists and is not empty; expected a new dataset "
                                 "directory", file=str(target))
    return plan


def _announcer(progress: Progress | None, label: str, done: int, total: int
               ) -> Callable[[str], None]:
    def say(what: str) -> None:
        if progress is not None:
            progress(f"{label}: {what}", done, total)
    return say


def slug(name: str) -> str:
    """A file-name-safe form of a scenario name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "scenario"


def _kept_dir(keep: str | Path, name: str, seed: int) -> Path:
    return Path(keep) / f"{slug(name)}-seed{seed}"


def _run_one(info: ScenarioRun, scn: scenario_mod.Scenario, seed: int, specs: list[str],
             budget: float, budgets: list[float], workers: int, keep: str | Path | None,
             limits: dict[str, Any], say: Callable[[str], None], sealed: bool = False) -> Run:
    """Simulate one seed, score every detector on it, and delete the dataset unless kept.
    ``sealed``: the truth goes to a folder apart from the dataset (``KEEP/...-truth`` if kept)."""
    tmp = None if keep is not None else tempfile.mkdtemp(prefix="snoopbench-bench-")
    if keep is not None:
        target = Path(keep) / f"{slug(info.name)}-sealed-{seed:x}" if sealed else _kept_dir(keep, info.name, seed)
    else:
        target = Path(tmp) / "dataset"
    truth = target.with_name(target.name + "-truth") if sealed else None
    try:
        say("simulating")
        t0 = time.perf_counter()
        sim = simulate(scn, target, seed=seed, workers=workers, sealed=truth)
        t1 = time.perf_counter()
        say(f"scoring {len(specs)} detectors")
        online = limits.get("online")
        if online is not None:
            from snoopbench.benchmarks.online import score_online

            rest = {k: v for k, v in limits.items() if k not in ("online", "progress")}
            result = score_online(target, specs, budget=budget, truth_dir=truth, **rest, **online)
        else:
            result = score_dataset(target, specs, budget=budget, budgets=budgets, truth_dir=truth,
                                   **limits)
        t2 = time.perf_counter()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if tmp is not None:
        result.dataset = f"{info.name} seed {seed} (temporary, deleted after scoring)"
    return Run(scenario=info.name, seed=seed, fingerprint=sim.fingerprint,
               kept=None if tmp is not None else str(target),
               simulate_seconds=round(t1 - t0, 3), score_seconds=round(t2 - t1, 3),
               result=result)


def summarise(runs: Sequence[Run], budgets: Sequence[float] = ()) -> list[Row]:
    """One leaderboard row per detector over the runs of one scenario, best first."""
    if not runs:
        return []
    by_name: dict[str, list[tuple[int, DetectorResult]]] = {}
    for run in runs:
        for d in run.result.detectors:
            by_name.setdefault(d.name, []).append((run.seed, d))
    rows = [_row(runs[0].scenario, name, seen, budgets) for name, seen in by_name.items()]
    return sorted(rows, key=_rank)


def _row(scenario: str, name: str, seen: list[tuple[int, DetectorResult]],
         budgets: Sequence[float]) -> Row:
    ok = [d for _, d in seen if d.metrics is not None]
    row = Row(scenario=scenario, detector=name, seeds=[s for s, _ in seen],
              statuses=[d.status for _, d in seen],
              errors=[d.error for _, d in seen])
    trials = {"recall": sum(d.metrics.n_episodes for d in ok),
              "precision": sum(d.metrics.n_alerts for d in ok)}
    row.metrics = {k: mean_share_interval((getattr(d.metrics, k) for d in ok), trials.get(k))
                   if k in _SHARES else clipped(mean_interval(getattr(d.metrics, k) for d in ok))
                   for k in SUMMARY_METRICS}
    kinds = sorted({k for d in ok for k in d.metrics.episodes_by_kind})
    for kind in kinds:
        row.recall_by_kind[kind] = mean_share_interval(
            (d.metrics.recall_by_kind.get(kind) for d in ok),
            sum(d.metrics.episodes_by_kind.get(kind, 0) for d in ok))
        row.caught_by_kind[kind] = sum(d.metrics.caught_by_kind.get(kind, 0) for d in ok)
        row.episodes_by_kind[kind] = sum(d.metrics.episodes_by_kind.get(kind, 0) for d in ok)
    for b in budgets:
        row.recall_by_budget[b] = mean_share_interval(
            (d.budget_sweep[b].recall for d in ok if b in d.budget_sweep), trials["recall"])
    row.ttd_days = sorted(t for d in ok for t in d.metrics.ttd_days)
    ranked = [d.ranks for d in ok if d.ranks is not None]
    for k in CR_REPORTED:
        crs = [r.cumulative_recall(k) for r in ranked]
        ncr = mean_share_interval((c[1] for c in crs if c is not None), trials["recall"])
        row.cumulative_recall[f"ncr_{k}"] = ncr
        row.cumulative_recall[f"cr_{k}"] = None if ncr is None else Interval(  # CR = nCR x K/25
            *(None if v is None else v * k / CR_STEP for v in (ncr.mean, ncr.low, ncr.high)), ncr.n)
    summarise_episodes(row, [d.episodes for d in ok])
    row.robustness_flags = sorted({f for _, d in seen for f in flagged_changes(d.robustness)})
    return row


def summarise_episodes(row: Row, per_seed: Sequence[Sequence[EpisodeRow]]) -> None:
    """Fill a leaderboard row's per-skill and kind x skill recall and its explanation accuracy
    from the per-episode rows of each seed it worked on."""
    per_seed = [rows for rows in per_seed if rows]
    skills = sorted({r.skill for rows in per_seed for r in rows})
    for skill in skills:
        row.recall_by_skill[skill] = clipped(
            mean_interval(recall_by(rows, "skill").get(skill) for rows in per_seed), 1.0)
    for rows in per_seed:
        for r in rows:
            g = f"{r.kind}/{r.skill}"
            row.episodes_by_kind_skill[g] = row.episodes_by_kind_skill.get(g, 0) + 1
            row.caught_by_kind_skill[g] = row.caught_by_kind_skill.get(g, 0) + int(r.caught)
    if per_seed:
        row.explained = ExplanationScore.of([r for rows in per_seed for r in rows])


def _rank(row: Row) -> tuple:
    recall, ap = row.get("recall"), row.get("average_precision")
    return (row.n_ok == 0, -(recall.mean if recall else 0.0), -(ap.mean if ap else 0.0),
            row.detector)
