"""The harness: run detectors on a dataset, each in its own sandbox, and score them.

Each detector is fitted on the warm-up (context tables and the unlabelled warm-up events), then
scores the rest of the events batch by batch in time order (one batch of the whole period if it
is retrospective). Only the scoring period is scored and alerted; episodes whose labelled events
all fall in the warm-up are left out of recall. A detector that raises, returns bad scores, runs
past ``timeout`` or out of memory gets its status and reason; the others carry on.

Every detector runs in a bubblewrap sandbox that holds copies of the events and context and
nothing else of the dataset (:mod:`benchmarks.sandbox`); at a timeout, out of memory, on Ctrl-C,
SIGTERM or any error the harness kills the sandboxes' whole process trees and removes the
scratch space.

``null`` and ``random`` are always scored too: they bound every table.

Memory does not grow with the dataset: the period is read batch by batch, each detector's
process writes its scores to a file as it goes, and as each detector finishes its scores are
read back chunk by chunk, alongside the events' users and days, into a
:class:`~benchmarks.streaming.ScoreFold`. The file is deleted once folded, so scratch disk holds
the copied inputs and at most ``jobs`` detectors' scores (8 bytes per scoring-period event each).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from snoopbench.benchmarks import sandbox
from snoopbench.benchmarks.alerts import score_alerts
from snoopbench.benchmarks.compare import RANK_CAP, episode_ids_of, episode_ranks
from snoopbench.benchmarks.dataset import ScoringPeriod, open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.episodes import EpisodeTruth, episode_rows
from snoopbench.benchmarks.explanations import EXPLANATIONS_FILE, read_explanations, users_at
from snoopbench.benchmarks.metrics import alerts_per_day
from snoopbench.benchmarks.results import DetectorResult, ScoreResult, build_result
from snoopbench.benchmarks.robustness import read_changes, robustness_rows
from snoopbench.benchmarks.streaming import ScoreFold
from snoopbench.benchmarks.worker import (EXEC_LOG, JOB_FILE, PROGRESS_FILE, SCORE_DTYPE,
                                          SCORES_FILE, STATUS_FILE, Job, read_progress)
from snoopbench.detectors.registry import (DetectorSpec, SpecError, check_names, check_spec, expand,
                                          parse_spec, target_of)
from snoopbench.contract.errors import InputError

BASELINES = ("null", "random")

#: Told how each detector is getting on: (its name, phase, events scored, events to score). The
#: phase is ``start`` as its sandbox starts, then what its worker last said (``fit``, ``score``;
#: ``exec`` while an outside program runs, ``read`` while its output is read), and at the end its
#: status (``ok``, ``error``, ``timeout``, ``oom``). Called from the harness's own thread.
DetectorProgress = Callable[[str, str, int, int], None]


def resolve_specs(specs: Sequence[str]) -> list[DetectorSpec]:
    """Parse SPECs (the sets ``builtin`` and ``all`` expanded), drop exact duplicates and add
    the baselines the list lacks; :class:`InputError` if two would share a name."""
    parsed: list[DetectorSpec] = []
    try:
        for text in expand(specs):
            # unknown ids and bad parameters are bad input, found before anything runs
            parsed.append(check_spec(parse_spec(text)))
        ids = {s.id for s in parsed}
        parsed += [parse_spec(b) for b in BASELINES if b not in ids]
        check_names(parsed)
    except SpecError as exc:
        raise InputError(str(exc), key="--detector") from exc
    return parsed


def score_dataset(
    dataset_dir: str | Path,
    specs: Sequence[str],
    budget: float = 5.0,
    truth_dir: str | Path | None = None,
    timeout: float | None = None,
    *,
    mem_limit_mb: int | None = None,
    require_sandbox: bool = False,
    batch_size: int = 65536,
    jobs: int = 1,
    budgets: Sequence[float] = (),
    verify: bool = True,
    progress: DetectorProgress | None = None,
) -> ScoreResult:
    """Run each detector of ``specs`` (plus the baselines) in its own sandbox and score it.

    ``budget`` is alerts per day per 1,000 staff; ``timeout`` (seconds) and ``mem_limit_mb``
    (MiB for the detector's whole process tree, interpreter included) bound each detector;
    ``jobs`` runs that many detectors at once (1 keeps the throughput figures honest).
    ``budgets``: also evaluate each working detector's scores at these budgets (its
    ``budget_sweep``), without running it again. ``require_sandbox``: refuse to run detectors
    without the bubblewrap sandbox. ``verify``: re-hash the dataset against its manifest first
    (the results record whether it was), so the fingerprint in the results is that of the data
    scored. ``progress``: told how each detector gets on (:data:`DetectorProgress`). Bad input
    raises :class:`InputError` before anything runs.
    """
    if not 0 <= budget < float("inf"):
        raise InputError(f"expected a finite number >= 0, got {budget}", key="--budget")
    for b in budgets:
        if not 0 <= b < float("inf"):
            raise InputError(f"expected budgets >= 0, got {b}", key="budgets")
    if timeout is not None and not timeout > 0:
        raise InputError(f"expected a number of seconds > 0, got {timeout}", key="--timeout")
    iso = check_isolation(mem_limit_mb, require_sandbox)
    parsed = resolve_specs(specs)
    dataset = open_dataset(dataset_dir, verify=verify)
    truth = truth_dir_of(dataset, truth_dir)
    period = scoring_period(dataset, truth, batch_size)
    per_day = alerts_per_day(budget, period.n_staff)
    most_per_day = max([per_day, *(alerts_per_day(b, period.n_staff) for b in budgets)])
    secret = [dataset.root.resolve(), truth.resolve()]
    episodes = EpisodeTruth.load(period, truth, batch_size)

    episode_ids = episode_ids_of(truth)
    cap = max(most_per_day, RANK_CAP)  # also every daily budget of CR-K
    changes = read_changes(dataset.context_dir)

    def finish(job: Job, box: sandbox.Sandbox) -> DetectorResult:
        result = _collect(job, box)
        if result.status == "ok":
            fold = fold_scores(period, box.job_dir / "output" / SCORES_FILE, cap, batch_size)
            result.metrics = fold.metrics(budget)
            result.budget_sweep = fold.sweep(budgets)
            result.ranks = episode_ranks(period.labelled, episode_ids, *fold.ranked_alerts(cap),
                                         cap=cap)
            keys, _ = fold.ranked_alerts(per_day)
            result.episodes = episode_rows(episodes, period, keys, read_explanations(
                box.job_dir / "output" / EXPLANATIONS_FILE,
                lambda pos: users_at(period, pos, batch_size), period.days_at))
            if changes:
                result.robustness = [r.to_json() for r in robustness_rows(
                    period.labelled, keys, changes, period.first_day, period.last_day)]
        return result

    with sandbox.exits_on_signals(), sandbox.Scratch(dataset.parts, dataset.context_dir,
                                                     dataset.info.to_dict()) as scratch:
        launches = [_launch(s, period, scratch, iso, secret, batch_size,
                            explain_per_day=per_day) for s in parsed]
        results = _run_all(launches, scratch, iso, timeout, mem_limit_mb, max(1, jobs), finish,
                           progress)
    _name_specs(results, parsed)
    result = build_result(period, budget, per_day, results)
    result.isolation = iso.level
    if iso.level != "strong":
        result.notes.insert(0, sandbox.weak_warning(iso))
    return result


def _name_specs(results: list[DetectorResult], specs: list[DetectorSpec]) -> None:
    """Give each row whose name is not its SPEC the SPEC it ran (what a short name stands for)."""
    texts = {s.name: s.text for s in specs}
    for row in results:
        if texts.get(row.name, row.name) != row.name:
            row.spec = texts[row.name]


def check_isolation(mem_limit_mb: int | None, require_sandbox: bool) -> sandbox.Isolation:
    """How detectors will run here; :class:`InputError` for a limit <= 0, or for no sandbox
    when one is required."""
    if mem_limit_mb is not None and not mem_limit_mb > 0:
        raise InputError(f"expected a number of MiB > 0, got {mem_limit_mb}", key="--mem-limit-mb")
    iso = sandbox.probe()
    if require_sandbox and iso.level != "strong":
        raise InputError(f"detectors must run in a sandbox, but {iso.reason}",
                         key="--require-sandbox")
    return iso


def detector_alerts(
    period: ScoringPeriod,
    specs: Sequence[str],
    per_day: int,
    timeout: float | None = None,
    *,
    truth_dir: str | Path | None = None,
    mem_limit_mb: int | None = None,
    require_sandbox: bool = False,
    batch_size: int = 65536,
    jobs: int = 1,
    progress: DetectorProgress | None = None,
) -> list[tuple[DetectorResult, np.ndarray, np.ndarray]]:
    """Run each detector of ``specs`` (no baselines added) as :func:`score_dataset` does, in its
    sandbox, and give back, per detector, its row (status and cost; no metrics) and its alerted
    user-days at ``per_day`` alerts a day with their scores (empty unless the detector worked).
    The alerts are those :func:`score_dataset` scores: the same fold, the same rules.
    ``truth_dir``: where the truth is kept, so that no sandbox is ever given a view of it."""
    try:
        parsed = [parse_spec(t) for t in expand(specs)]
        for spec in parsed:
            if not spec.is_exec:
                target_of(spec.id)
        check_names(parsed)
    except SpecError as exc:
        raise InputError(str(exc), key="--detector") from exc
    iso = check_isolation(mem_limit_mb, require_sandbox)
    dataset = period.dataset
    truth = Path(truth_dir) if truth_dir is not None else dataset.root / "truth"
    secret = [dataset.root.resolve(), truth.resolve()]
    alerts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def finish(job: Job, box: sandbox.Sandbox) -> DetectorResult:
        result = _collect(job, box)
        if result.status == "ok":
            fold = fold_scores(period, box.job_dir / "output" / SCORES_FILE, per_day, batch_size)
            alerts[job.name] = fold.ranked_alerts(per_day)
        return result

    with sandbox.exits_on_signals(), sandbox.Scratch(dataset.parts, dataset.context_dir,
                                                     dataset.info.to_dict()) as scratch:
        launches = [_launch(s, period, scratch, iso, secret, batch_size) for s in parsed]
        results = _run_all(launches, scratch, iso, timeout, mem_limit_mb, max(1, jobs), finish,
                           progress)
    _name_specs(results, parsed)
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


_WORKER = "snoopbench.benchmarks.worker"
_SNOOPBENCH_PARTS = ("snoopbench.contract", "snoopbench.detectors", "snoopbench.simulator",
                     "snoopbench.scenarios")


def _launch(spec: DetectorSpec, period: ScoringPeriod, scratch: sandbox.Scratch,
            iso: sandbox.Isolation, secret: list[Path], batch_size: int,
            explain_per_day: int = 0, parts: Sequence[Path] = (),
            **online: Any) -> tuple[Job, sandbox.Launch]:
    """A detector's job file and sandbox. Paths the SPEC names (a program, a model file) are
    bound read-only, unless they would show the dataset or its truth. The job reads the events
    parts in the scratch's events folder: the dataset's, or those named by ``parts`` (online: the
    warm-up's only)."""
    job_dir = scratch.job_dir()
    strong = iso.level == "strong"
    where = {"out": f"{sandbox.OUTPUT}", "events": f"{sandbox.INPUT}/events",
             "context": f"{sandbox.INPUT}/context", "info": f"{sandbox.INPUT}/info.json"} \
        if strong else {"out": str(job_dir / "output"), "events": str(scratch.events),
                        "context": str(scratch.context), "info": str(scratch.info)}
    target = None if spec.is_exec else target_of(spec.id)
    words = _words(spec.command) if spec.is_exec else [
        v for v in spec.params.values() if isinstance(v, str)]
    named = [(h, i) for h, i in sandbox.named_paths(words, Path.cwd())
             if not sandbox.refuse(h, [*secret, scratch.root])]
    # every part of snoopbench (an editable install maps each folder anywhere) and the plug-in's
    modules = [_WORKER, *_SNOOPBENCH_PARTS, *([target.partition(":")[0]] if target else [])]
    code = [p for p in sandbox.code_paths(modules) if not sandbox.refuse(Path(p), secret)]
    job = Job(
        name=spec.name, out_dir=where["out"],
        parts=tuple(f"{where['events']}/{p.name}" for p in parts or period.dataset.parts),
        context_dir=where["context"], info=where["info"], n_warmup=period.n_warmup,
        n_total=period.n_total, target=target, params=dict(spec.params), command=spec.command,
        batch_size=batch_size, sys_path=tuple(p for p in code if os.path.isdir(p)),
        explain_per_day=explain_per_day, **online,
    )
    job.write(job_dir / "output" / JOB_FILE)
    argv = [sys.executable, "-m", _WORKER, f"{where['out']}/{JOB_FILE}"]
    return job, sandbox.Launch(argv, job_dir, code=code, named=named)


def _words(command: str | None) -> list[str]:
    try:
        return shlex.split(command or "")
    except ValueError:
        return []


def _run_all(
    launches: list[tuple[Job, sandbox.Launch]], scratch: sandbox.Scratch, iso: sandbox.Isolation,
    timeout: float | None, mem_limit_mb: int | None, parallel: int,
    finish: Callable[[Job, sandbox.Sandbox], DetectorResult],
    progress: DetectorProgress | None = None,
) -> list[DetectorResult]:
    """Run the sandboxes, at most ``parallel`` at once; kill those past ``timeout`` or over the
    memory limit; whatever happens, kill every one still running before returning.
    ``progress``: told what each worker last wrote to its progress file, as it changes."""
    limit = timeout if timeout else float("inf")
    outcomes: list[DetectorResult | None] = [None] * len(launches)
    pending = list(range(len(launches)))
    running: dict[int, tuple[sandbox.Sandbox, float]] = {}
    said: dict[int, tuple[str, int]] = {}

    def tell(i: int, phase: str, done: int) -> None:
        job = launches[i][0]
        if progress is not None and said.get(i) != (phase, done):
            said[i] = (phase, done)
            progress(job.name, phase, done, job.n_total - job.n_warmup)

    try:
        while pending or running:
            while pending and len(running) < parallel:
                i = pending.pop(0)
                box = sandbox.Sandbox(launches[i][1], scratch, iso, mem_limit_mb)
                running[i] = (box, time.monotonic() + limit)
                tell(i, "start", 0)
            time.sleep(sandbox.POLL_S)
            for i, (box, deadline) in list(running.items()):
                job, launch = launches[i]
                code = box.poll()
                if progress is not None:
                    now = read_progress(launch.job_dir / "output" / PROGRESS_FILE)
                    if now is not None:
                        tell(i, *now)
                if code is None and time.monotonic() < deadline:
                    continue
                del running[i]
                try:
                    box.kill()
                    if box.over_memory:
                        outcomes[i] = DetectorResult(
                            job.name, "oom", f"its processes together passed the "
                            f"{mem_limit_mb} MiB memory limit ({iso.memory})",
                            peak_mem_mb=box.peak_bytes / 2**20 or None)
                    elif code is None:
                        outcomes[i] = DetectorResult(
                            job.name, "timeout", f"killed after the {timeout:g} s time limit")
                    else:
                        outcomes[i] = finish(job, box)
                    outcomes[i].log = _log(launch.job_dir) or None
                    done = job.n_total - job.n_warmup if outcomes[i].status == "ok" \
                        else said.get(i, ("", 0))[1]
                    tell(i, outcomes[i].status, done)
                finally:
                    box.close()
                    shutil.rmtree(launch.job_dir, ignore_errors=True)
    finally:  # interrupted: leave no detector (or a program it started) behind
        for box, _ in running.values():
            box.close()
    return [o for o in outcomes if o is not None]


def _log(job_dir: Path) -> str:
    """The end of what the detector wrote to stderr (an outside program's, then the worker's)."""
    parts = [sandbox.tail(job_dir / "output" / EXEC_LOG), sandbox.tail(job_dir / "sandbox-stderr.txt")]
    return "\n".join(p for p in parts if p)


def _collect(job: Job, box: sandbox.Sandbox) -> DetectorResult:
    """A finished detector's status, and a check that its scores are all there."""
    out = box.job_dir / "output"
    status_file, exitcode = out / STATUS_FILE, box.proc.returncode
    status = None
    if status_file.is_file() and status_file.stat().st_size < 1 << 20:
        try:
            status = json.loads(status_file.read_text())
            if status.get("status") not in ("ok", "error", "oom"):
                status = None
        except (ValueError, AttributeError):
            status = None
    if status is None:
        if exitcode in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return DetectorResult(job.name, "oom", "killed by SIGKILL (out of memory?)")
        if exitcode is not None and exitcode < 0:
            why = f"crashed with signal {signal.Signals(-exitcode).name}"
        else:
            why = f"process exited with code {exitcode} before reporting"
        last = sandbox.tail(box.job_dir / "sandbox-stderr.txt", lines=1)
        return DetectorResult(job.name, "error", why + (f": {last}" if last else ""))
    peak = max(status.get("peak_mem_mb") or 0.0, box.peak_bytes / 2**20) or None
    result = DetectorResult(job.name, status["status"], status.get("error"), peak_mem_mb=peak,
                            wall_seconds=status.get("wall_seconds"))
    if result.status != "ok":
        return result
    scores = out / SCORES_FILE
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


__all__ = ["BASELINES", "DetectorProgress", "DetectorResult", "ScoreResult", "check_isolation", "detector_alerts", "resolve_specs",
           "score_alerts", "score_dataset"]
