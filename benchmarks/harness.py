"""The harness: run detectors on a dataset, each in its own process, and score them.

Each detector is fitted on the warm-up (context tables and the unlabelled warm-up events), then
scores the rest of the events batch by batch in time order (one batch of the whole period if it
is retrospective). Only the scoring period is scored and alerted; episodes whose labelled events
all fall in the warm-up are left out of recall. A detector that raises, returns bad scores, runs
past ``timeout`` or out of memory gets its status and reason; the others carry on.

``null`` and ``random`` are always scored too: they bound every table.

Memory does not grow with the dataset: the period is read batch by batch, each detector's
process writes its scores to a file as it goes, and as each detector finishes its scores are
read back chunk by chunk, alongside the events' users and days, into a
:class:`~benchmarks.streaming.ScoreFold`. The file is deleted once folded, so scratch disk holds
at most ``jobs`` detectors' scores (8 bytes per scoring-period event each).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from snoopbench.benchmarks.alerts import score_alerts
from snoopbench.benchmarks.dataset import ScoringPeriod, open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.metrics import alerts_per_day
from snoopbench.benchmarks.results import DetectorResult, ScoreResult, build_result
from snoopbench.benchmarks.streaming import ScoreFold
from snoopbench.benchmarks.worker import SCORE_DTYPE, SCORES_FILE, Job, run_job
from snoopbench.detectors.registry import DetectorSpec, SpecError, parse_spec, target_of
from snoopbench.contract.errors import InputError

BASELINES = ("null", "random")


def resolve_specs(specs: Sequence[str]) -> list[DetectorSpec]:
    """Parse SPECs, drop exact duplicates and add the baselines the list lacks."""
    parsed: list[DetectorSpec] = []
    try:
        for text in dict.fromkeys(specs):
            spec = parse_spec(text)
            if not spec.is_exec:
                target_of(spec.id)  # unknown ids are bad input, found before anything runs
            parsed.append(spec)
    except SpecError as exc:
        raise InputError(str(exc), key="--detector") from exc
    ids = {s.id for s in parsed}
    parsed += [parse_spec(b) for b in BASELINES if b not in ids]
    return parsed


def score_dataset(
    dataset_dir: str | Path,
    specs: Sequence[str],
    budget: float = 5.0,
    truth_dir: str | Path | None = None,
    timeout: float | None = None,
    *,
    mem_limit_mb: int | None = None,
    batch_size: int = 65536,
    jobs: int = 1,
    budgets: Sequence[float] = (),
    verify: bool = True,
) -> ScoreResult:
    """Run each detector of ``specs`` (plus the baselines) in its own process and score it.

    ``budget`` is alerts per day per 1,000 staff; ``timeout`` (seconds) and ``mem_limit_mb``
    (address space the detector may add to its process's starting size) bound each detector;
    ``jobs`` runs that many detectors at once (1 keeps the throughput figures honest).
    ``budgets``: also evaluate each working detector's scores at these budgets (its
    ``budget_sweep``), without running it again.
    ``verify``: re-hash the dataset against its manifest first (the results record whether it
    was), so the fingerprint in the results is that of the data scored.
    Bad input raises :class:`InputError` before anything runs.
    """
    if not 0 <= budget < float("inf"):
        raise InputError(f"expected a finite number >= 0, got {budget}", key="--budget")
    for b in budgets:
        if not 0 <= b < float("inf"):
            raise InputError(f"expected budgets >= 0, got {b}", key="budgets")
    if timeout is not None and not timeout > 0:
        raise InputError(f"expected a number of seconds > 0, got {timeout}", key="--timeout")
    parsed = resolve_specs(specs)
    dataset = open_dataset(dataset_dir, verify=verify)
    period = scoring_period(dataset, truth_dir_of(dataset, truth_dir), batch_size)
    per_day = alerts_per_day(budget, period.n_staff)
    most_per_day = max([per_day, *(alerts_per_day(b, period.n_staff) for b in budgets)])

    def finish(job: Job, exitcode: int | None) -> DetectorResult:
        try:
            result = _collect(job, exitcode)
            if result.status == "ok":
                fold = fold_scores(period, Path(job.workdir) / SCORES_FILE, most_per_day,
                                   batch_size)
                result.metrics = fold.metrics(budget)
                result.budget_sweep = fold.sweep(budgets)
            return result
        finally:
            shutil.rmtree(job.workdir, ignore_errors=True)

    jobs_ = [_job(s, period, batch_size, mem_limit_mb) for s in parsed]
    try:
        results = _run_all(jobs_, timeout, max(1, jobs), finish)
    finally:
        for job in jobs_:
            shutil.rmtree(job.workdir, ignore_errors=True)
    return build_result(period, budget, per_day, results)


def detector_alerts(
    period: ScoringPeriod,
    specs: Sequence[str],
    per_day: int,
    timeout: float | None = None,
    *,
    mem_limit_mb: int | None = None,
    batch_size: int = 65536,
    jobs: int = 1,
) -> list[tuple[DetectorResult, np.ndarray, np.ndarray]]:
    """Run each detector of ``specs`` (no baselines added) as :func:`score_dataset` does, and give
    back, per detector, its row (status and cost; no metrics) and its alerted user-days at
    ``per_day`` alerts a day with their scores (empty unless the detector worked). The alerts are
    those :func:`score_dataset` scores: the same fold, the same rules."""
    try:
        parsed = [parse_spec(t) for t in dict.fromkeys(specs)]
        for spec in parsed:
            if not spec.is_exec:
                target_of(spec.id)
    except SpecError as exc:
        raise InputError(str(exc), key="--detector") from exc
    alerts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def finish(job: Job, exitcode: int | None) -> DetectorResult:
        try:
            result = _collect(job, exitcode)
            if result.status == "ok":
                fold = fold_scores(period, Path(job.workdir) / SCORES_FILE, per_day, batch_size)
                alerts[job.name] = fold.ranked_alerts(per_day)
            return result
        finally:
            shutil.rmtree(job.workdir, ignore_errors=True)

    jobs_ = [_job(s, period, batch_size, mem_limit_mb) for s in parsed]
    try:
        results = _run_all(jobs_, timeout, max(1, jobs), finish)
    finally:
        for job in jobs_:
            shutil.rmtree(job.workdir, ignore_errors=True)
    empty = (np.empty(0, np.int64), np.empty(0))
    return [(r, *alerts.get(r.name, empty)) for r in results]


def fold_scores(period: ScoringPeriod, path: Path, most_per_day: int,
                batch_size: int = 65536) -> ScoreFold:
    """A scores file (one float64 per period event) folded with the period's users and days.

    ``most_per_day``: the largest daily alert cap the fold will be asked about.
    """
    with open(path, "rb") as fh:
        fd = fh.fileno()
        width = SCORE_DTYPE.itemsize
        positives = np.frombuffer(b"".join(os.pread(fd, width, int(p) * width)
                                           for p in period.labelled_pos), SCORE_DTYPE)
        fold = ScoreFold(period.labelled, period.labelled_pos, positives, period.day_stops(),
                         most_per_day)
        start = 0
        for user in period.iter_users(batch_size):
            scores = np.frombuffer(fh.read(len(user) * width), SCORE_DTYPE)
            stop = start + len(user)
            fold.add(user, period.days_at(np.arange(start, stop)), scores)
            start = stop
    return fold


def _job(spec: DetectorSpec, period: ScoringPeriod, batch_size: int,
         mem_limit_mb: int | None) -> Job:
    ds = period.dataset
    return Job(
        name=spec.text, workdir=tempfile.mkdtemp(prefix="snoopbench-run-"),
        parts=tuple(str(p) for p in ds.parts), context_dir=str(ds.context_dir),
        n_warmup=period.n_warmup, n_total=period.n_total, cwd=os.getcwd(),
        target=None if spec.is_exec else target_of(spec.id), params=dict(spec.params),
        command=spec.command, batch_size=batch_size, mem_limit_mb=mem_limit_mb,
        info=ds.info.to_dict(),
    )


def _context() -> mp.context.BaseContext:
    """Forkserver (fast starts, numpy and pyarrow preloaded) where there is one, else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["snoopbench.benchmarks.worker"])
        return ctx
    return mp.get_context("spawn")


def _kill_group(proc: mp.process.BaseProcess) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the detector and any program it started
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()


def _run_all(
    jobs: list[Job], timeout: float | None, parallel: int,
    finish: Callable[[Job, int | None], DetectorResult],
) -> list[DetectorResult]:
    """Run jobs in child processes, at most ``parallel`` at once; kill those past ``timeout``.

    ``finish`` turns a job that ended by itself (and its exit code) into its row, as soon as it
    ends; the jobs still running wait meanwhile (a timeout may be enforced that much late).
    """
    ctx = _context()
    limit = timeout if timeout else float("inf")
    outcomes: list[DetectorResult | None] = [None] * len(jobs)
    pending = list(range(len(jobs)))
    running: dict[int, tuple[mp.process.BaseProcess, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                i = pending.pop(0)
                proc = ctx.Process(target=run_job, args=(jobs[i],), daemon=True)
                proc.start()
                running[i] = (proc, time.monotonic() + limit)
            soonest = min(deadline for _, deadline in running.values()) - time.monotonic()
            wait([p.sentinel for p, _ in running.values()],
                 timeout=None if soonest == float("inf") else max(0.0, soonest))
            for i, (proc, deadline) in list(running.items()):
                timed_out = proc.is_alive()
                if timed_out and time.monotonic() < deadline:
                    continue
                _kill_group(proc)
                proc.join()
                del running[i]
                outcomes[i] = finish(jobs[i], proc.exitcode) if not timed_out else (
                    DetectorResult(jobs[i].name, "timeout",
                                   f"killed after the {timeout:g} s time limit"))
    finally:  # interrupted: leave no detector (or a program it started) behind
        for proc, _ in running.values():
            _kill_group(proc)
    return [o for o in outcomes if o is not None]


def _collect(job: Job, exitcode: int | None) -> DetectorResult:
    """A finished detector process's status, and a check that its scores are all there."""
    status_file = Path(job.workdir) / "status.json"
    if not status_file.is_file():
        if exitcode == -signal.SIGKILL:
            return DetectorResult(job.name, "oom", "killed by SIGKILL (out of memory?)")
        if exitcode is not None and exitcode < 0:
            why = f"crashed with signal {signal.Signals(-exitcode).name}"
        else:
            why = f"process exited with code {exitcode} before reporting"
        return DetectorResult(job.name, "error", why)
    status = json.loads(status_file.read_text())
    result = DetectorResult(job.name, status["status"], status.get("error"),
                            peak_mem_mb=status.get("peak_mem_mb"))
    if result.status != "ok":
        return result
    scores = Path(job.workdir) / SCORES_FILE
    size = scores.stat().st_size if scores.is_file() else 0
    n = job.n_total - job.n_warmup
    if size != n * SCORE_DTYPE.itemsize:
        n_scores = size // SCORE_DTYPE.itemsize
        result.status, result.error = "error", f"{n_scores} scores for {n} events"
        return result
    result.fit_seconds = status.get("fit_seconds")
    result.score_seconds = status.get("score_seconds")
    result.events_per_s = _rate(n, result.score_seconds)
    result.fit_events_per_s = _rate(status.get("n_fit", 0), result.fit_seconds)
    return result


def _rate(n: int, seconds: float | None) -> float | None:
    if not n or seconds is None:
        return None
    return n / max(seconds, 1e-9)


__all__ = ["BASELINES", "DetectorResult", "ScoreResult", "detector_alerts", "resolve_specs",
           "score_alerts", "score_dataset"]
