"""The online protocol: detectors score a day at a time, and reviewers' verdicts come back to them.

Monitoring as it runs: each local day of the scoring period, every detector (each in its own
sandbox, as in :func:`benchmarks.harness.score_dataset`) scores that day's events; the day's top
user-days within the budget become its alerts; a simulated reviewer (:mod:`benchmarks.reviewer`,
in the harness, with the truth) confirms or clears each one; each verdict reaches the detector
that raised it after a delay, at the earliest before the next day is scored. Python detectors get
verdicts through an optional ``feedback(verdicts)`` method (``score`` never sees them); ``exec:``
programs get them as a file in each day's input folder (:mod:`benchmarks.feedback`).

Detectors run side by side in groups of ``jobs`` (default one at a time: honest timings, one
detector's memory), a day at a time (one day's events are read once per group). A
detector whose ``feedback`` or ``score`` raises, or that runs past its time (counted while the
harness waits on it) or its memory, gets its row's status; the others carry on.

The alert rules are the contract's, applied as the days pass: a user-day's score is its highest
event score; only user-days above the detector's lowest finite score *so far* (the floor, which
offline is taken over the whole period) can alert; ties go by the same fixed hash.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.benchmarks import regimes, sandbox
from snoopbench.benchmarks.dataset import ScoringPeriod, iter_event_batches, open_dataset, \
    scoring_period, truth_dir_of
from snoopbench.benchmarks.feedback import (FEEDBACK, done_file, events_file, write_events,
                                            write_verdicts)
from snoopbench.benchmarks.harness import (_collect, _launch, _log, _name_specs, check_isolation,
                                           resolve_specs)
from snoopbench.benchmarks.metrics import alerts_per_day, clean, evaluate_alerts, select_alerts
from snoopbench.benchmarks.online_metrics import alerts_to_first_catch, fatigue, learning_curve
from snoopbench.benchmarks.results import DetectorResult, ScoreResult, build_result
from snoopbench.benchmarks.reviewer import CLEARED, CONFIRMED, REASONS, Reviewer
from snoopbench.benchmarks.worker import SCORE_DTYPE, SCORES_FILE, STATUS_FILE, Job
from snoopbench.contract.errors import InputError
from snoopbench.contract.info import user_day_keys

from snoopbench.contract.info import EPOCH as _EPOCH  # noqa: E402  (the contract's day 0)
DEFAULT_REGIME = "monitoring-team"


@dataclass
class _Run:
    """One detector's side of the protocol, as the harness keeps it."""

    job: Job
    launch: sandbox.Launch
    box: sandbox.Sandbox
    busy_s: float = 0.0
    floor: float = np.inf
    alerts: list[tuple[np.ndarray, ...]] = field(default_factory=list)  # per day
    pending: dict[int, list[pa.Table]] = field(default_factory=dict)  # by the day they arrive
    delivered: int = 0
    result: DetectorResult | None = None

    @property
    def out(self) -> Path:
        return self.launch.job_dir / "output"


def reviewer_of(regime: str | Path, delay: str | None, delay_mean_days: float | None,
                seed: int) -> tuple[regimes.Regime, Reviewer]:
    """The regime's reviewer, with the delay options applied (bad values: :class:`InputError`)."""
    if delay_mean_days is not None and not 0 <= delay_mean_days < float("inf"):
        raise InputError(f"expected a number of days >= 0, got {delay_mean_days:g}",
                         key="--feedback-delay-days")
    reg = regimes.load(regimes.find(regime))
    return reg, Reviewer.from_regime(reg.data, delay=delay, delay_mean_days=delay_mean_days,
                                     seed=seed)


def score_online(
    dataset_dir: str | Path,
    specs: Sequence[str],
    budget: float = 5.0,
    truth_dir: str | Path | None = None,
    timeout: float | None = None,
    *,
    regime: str | Path = DEFAULT_REGIME,
    feedback_delay: str | None = None,
    feedback_delay_days: float | None = None,
    seed: int = 0,
    mem_limit_mb: int | None = None,
    require_sandbox: bool = False,
    batch_size: int = 65536,
    verify: bool = True,
    jobs: int | None = 1,
) -> ScoreResult:
    """Run each detector of ``specs`` (plus the baselines) online and score its alerts.

    ``regime`` (a shipped name or a file) gives the reviewer: its confirm chances by skill and
    its verdict delay, which ``feedback_delay`` (distribution) and ``feedback_delay_days`` (mean)
    override. ``seed`` keys the reviewer's draws. ``jobs``: detectors run side by side, in
    groups of that many (None: all at once); each group reads the days once. The other arguments
    are :func:`~benchmarks.harness.score_dataset`'s. Bad input raises :class:`InputError` first.
    """
    if not 0 <= budget < float("inf"):
        raise InputError(f"expected a finite number >= 0, got {budget}", key="--budget")
    if timeout is not None and not timeout > 0:
        raise InputError(f"expected a number of seconds > 0, got {timeout}", key="--timeout")
    if jobs is not None and jobs < 1:
        raise InputError(f"expected at least 1, got {jobs}", key="--jobs")
    reg, reviewer = reviewer_of(regime, feedback_delay, feedback_delay_days, seed)
    iso = check_isolation(mem_limit_mb, require_sandbox)
    parsed = resolve_specs(specs)
    dataset = open_dataset(dataset_dir, verify=verify)
    truth = truth_dir_of(dataset, truth_dir)
    period = scoring_period(dataset, truth, batch_size)
    per_day = alerts_per_day(budget, period.n_staff)
    days, stops = period.day_stops()
    lab_keys, lab_chance = _confirm_chances(period, truth, reviewer)
    tasking = _Tasking(dataset.context_dir)
    secret = [dataset.root.resolve(), truth.resolve()]
    job_fields = {"online": True, "day_stops": tuple(int(s) for s in stops),
                  "day_dates": tuple((_EPOCH + dt.timedelta(days=int(d))).isoformat() for d in days)}
    t_start = time.perf_counter()
    # the sandbox holds the warm-up's events only; each day's are handed in on its morning
    with sandbox.exits_on_signals(), sandbox.Scratch([], dataset.context_dir,
                                                     dataset.info.to_dict()) as scratch:
        _write_warmup(period, scratch.events / "part-00000.parquet", batch_size)
        world = _World(period, days, stops, per_day, reviewer, lab_keys, lab_chance, tasking,
                       scratch, iso, secret, batch_size, timeout, mem_limit_mb, job_fields)
        size = max(1, jobs) if jobs else len(parsed)
        runs = [run for g in range(0, len(parsed), size)
                for run in _run_group(world, parsed[g:g + size])]
    rows = [r.result for r in runs]
    _name_specs(rows, parsed)
    result = build_result(period, budget, per_day, rows)
    result.isolation = iso.level
    result.online = {"regime": reg.name, "reviewer": reviewer.to_json(),
                     "seconds": time.perf_counter() - t_start}
    if iso.level != "strong":
        result.notes.insert(0, sandbox.weak_warning(iso))
    return result


@dataclass(frozen=True)
class _World:
    """What every detector's run shares: the period, its days, the reviewer, the truth's chances."""

    period: ScoringPeriod
    days: np.ndarray
    stops: np.ndarray
    per_day: int
    reviewer: Reviewer
    lab_keys: np.ndarray
    lab_chance: np.ndarray
    tasking: "_Tasking"
    scratch: sandbox.Scratch
    iso: sandbox.Isolation
    secret: list[Path]
    batch_size: int
    timeout: float | None
    mem_limit_mb: int | None
    job_fields: dict[str, Any]


def _run_group(w: _World, specs: Sequence[Any]) -> list[_Run]:
    """Run ``specs`` side by side through every day of the period, each in its sandbox."""
    runs: list[_Run] = []
    try:
        for spec in specs:
            job, launch = _launch(spec, w.period, w.scratch, w.iso, w.secret, w.batch_size,
                                  parts=sorted(w.scratch.events.iterdir()), **w.job_fields)
            runs.append(_Run(job, launch, sandbox.Sandbox(launch, w.scratch, w.iso, w.mem_limit_mb)))
        start = 0
        for i, (day, events) in enumerate(zip(w.days, _days(w.period, w.stops, w.batch_size))):
            live = [r for r in runs if r.result is None]
            if not live:
                break
            users = events["user_id"].to_numpy().astype(np.int32)
            eids, refs = events["event_id"].to_numpy(), events["reference"].combine_chunks()
            for run in live:  # the day's events, then its verdicts: the turn's signal
                write_events(run.out, i, events)
                write_verdicts(run.out, i, _arriving(run, i, int(day)))
            _wait(live, i, w.timeout, w.mem_limit_mb, w.iso)
            for run in live:
                events_file(run.out, i).unlink(missing_ok=True)
                if run.result is None:
                    _alert(run, start, int(day), users, eids, refs, w.per_day, w.reviewer,
                           w.lab_keys, w.lab_chance, w.tasking, i, len(w.days))
            start = int(w.stops[i])
        for run in runs:
            if run.result is None:
                _finish(run, w.period, w.per_day, w.lab_keys, w.timeout, w.mem_limit_mb, w.iso)
    finally:
        for run in runs:
            run.box.close()
            shutil.rmtree(run.launch.job_dir, ignore_errors=True)
    return runs


def _confirm_chances(period: ScoringPeriod, truth: Path, reviewer: Reviewer
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The labelled user-days (sorted) and the chance an alert on each is confirmed."""
    lab = period.labelled
    skills = np.asarray(pq.read_table(truth / "episodes.parquet", columns=["skill"])["skill"]
                        .to_pylist(), object)
    keys = user_day_keys(lab.user, lab.day)
    chance = np.array([reviewer.confirm[s] for s in skills[lab.episode]], np.float64) \
        if len(keys) else np.zeros(0)
    uniq, inverse = np.unique(keys, return_inverse=True)
    best = np.zeros(len(uniq))
    np.maximum.at(best, inverse, chance)
    return uniq, best


class _Tasking:
    """The force's tasking, (user, reference) pairs: what explains an access to a reviewer.
    Kept as Arrow columns sorted by user (a year of a force holds millions of pairs)."""

    def __init__(self, context_dir: Path) -> None:
        path = context_dir / "tasking.parquet"
        t = pq.read_table(path, columns=["user_id", "reference"]) if path.is_file() else \
            pa.table({"user_id": pa.array([], pa.int32()), "reference": pa.array([], pa.string())})
        t = t.sort_by("user_id")
        self.users = t["user_id"].to_numpy().astype(np.int64)
        self.refs = t["reference"].combine_chunks()

    def holds(self, user: int, reference: str | None) -> bool:
        if reference is None:
            return False
        lo, hi = np.searchsorted(self.users, [user, user + 1])
        return reference in self.refs.slice(lo, hi - lo).to_pylist()


def _write_warmup(period: ScoringPeriod, path: Path, batch_size: int) -> None:
    """The warm-up's events, all columns, as one part (read only in the sandbox)."""
    parts = period.dataset.parts
    names = pq.read_schema(parts[0]).names
    with pq.ParquetWriter(path, pq.read_schema(parts[0])) as out:
        done = 0
        for _, b in iter_event_batches(parts, names, batch_size):
            if done >= period.n_warmup:
                break
            b = b.slice(0, period.n_warmup - done)
            out.write_batch(b)
            done += b.num_rows
    path.chmod(0o444)


def _days(period: ScoringPeriod, stops: np.ndarray, batch_size: int) -> Iterator[pa.Table]:
    """Each day's events, every column, in order."""
    held: list[pa.RecordBatch] = []
    n_held = 0
    parts = period.dataset.parts
    batches = iter_event_batches(parts, pq.read_schema(parts[0]).names, batch_size,
                                 start=period.n_warmup)
    start = 0
    for stop in stops:
        while n_held < stop - start:
            _, b = next(batches)
            held.append(b)
            n_held += b.num_rows
        t = pa.Table.from_batches(held).combine_chunks()
        n = int(stop - start)
        day, rest = t.slice(0, n), t.slice(n)
        held, n_held, start = rest.to_batches(), rest.num_rows, int(stop)
        yield day


def _arriving(run: _Run, i: int, day: int) -> pa.Table:
    """The verdicts that reach ``run``'s detector before it scores day ``i``."""
    tables = run.pending.pop(i, [])
    if not tables:
        return FEEDBACK.empty_table()
    t = pa.concat_tables(tables)
    run.delivered += t.num_rows
    received = pa.array(np.full(t.num_rows, day, np.int32), pa.int32()).cast(pa.date32())
    return t.set_column(t.schema.get_field_index("received"), "received", received)


def _wait(live: list[_Run], i: int, timeout: float | None, mem_limit_mb: int | None,
          iso: sandbox.Isolation) -> None:
    """Until every live detector has scored day ``i``, or has ended, or run out of time."""
    waiting = list(live)
    t0 = time.monotonic()
    last_poll = 0.0
    while waiting:
        now = time.monotonic()
        for run in list(waiting):
            if done_file(run.out, i).exists():
                run.busy_s += now - t0
                waiting.remove(run)
                continue
            if now - last_poll < sandbox.POLL_S:
                continue
            code = run.box.poll()
            if code is not None or (timeout and run.busy_s + now - t0 > timeout):
                run.busy_s += now - t0
                _stop(run, code, timeout, mem_limit_mb, iso)
                waiting.remove(run)
        if now - last_poll >= sandbox.POLL_S:
            last_poll = now
        if waiting:
            time.sleep(0.002)


def _stop(run: _Run, code: int | None, timeout: float | None, mem_limit_mb: int | None,
          iso: sandbox.Isolation) -> None:
    """A detector that ended (or must end) before its last day: its row's status and reason."""
    run.box.kill()
    name = run.job.name
    if run.box.over_memory:
        run.result = DetectorResult(name, "oom", f"its processes together passed the {mem_limit_mb} "
                                    f"MiB memory limit ({iso.memory})",
                                    peak_mem_mb=run.box.peak_bytes / 2**20 or None)
    elif code is None:
        run.result = DetectorResult(name, "timeout", f"killed after the {timeout:g} s time limit")
    else:
        run.result = _collect(run.job, run.box)
        if run.result.status == "ok":  # exited between days without its status saying why
            run.result = DetectorResult(name, "error", "its process ended before the last day")
    run.result.log = _log(run.launch.job_dir) or None


def _alert(run: _Run, start: int, day: int, users: np.ndarray, eids: np.ndarray, refs: pa.Array,
           per_day: int, reviewer: Reviewer, lab_keys: np.ndarray, lab_chance: np.ndarray,
           tasking: _Tasking, i: int, n_days: int) -> None:
    """Read the day's scores, raise its alerts, and have the reviewer's verdicts set off."""
    n = len(users)
    fd = os.open(run.out / SCORES_FILE, os.O_RDONLY)
    try:
        raw = os.pread(fd, n * SCORE_DTYPE.itemsize, start * SCORE_DTYPE.itemsize)
    finally:
        os.close(fd)
    s = clean(np.frombuffer(raw, SCORE_DTYPE))
    finite = s[np.isfinite(s)]
    if finite.size:
        run.floor = min(run.floor, float(finite.min()))
    if not n or per_day <= 0:
        return
    order = np.lexsort((-s, users))  # each user's best event first (the earliest of ties)
    first = order[np.r_[True, users[order][1:] != users[order][:-1]]]
    keys = user_day_keys(users[first], np.full(len(first), day))
    take = select_alerts(keys, s[first], per_day, run.floor)
    top, keys, best = first[take], keys[take], s[first][take]
    at = np.searchsorted(lab_keys, keys)
    found = at < len(lab_keys)
    found[found] = lab_keys[at[found]] == keys[found]
    chance = np.where(found, lab_chance[np.minimum(at, len(lab_keys) - 1)], 0.0) \
        if len(lab_keys) else np.zeros(len(keys))
    confirmed = reviewer.confirms(keys, chance)
    ref = refs.take(pa.array(top)).to_pylist()
    reason = ["misuse" if c else "explained" if tasking.holds(int(u), r) else "no_misuse_found"
              for c, u, r in zip(confirmed, users[top], ref)]
    arrive = i + 1 + reviewer.delays(keys)
    run.alerts.append((keys, best, confirmed, arrive, np.array(reason, object)))
    for a in np.unique(arrive[arrive < n_days]):
        m = arrive == a
        run.pending.setdefault(int(a), []).append(pa.table({
            "user_id": pa.array(users[top][m], pa.int32()),
            "date": pa.array(np.full(int(m.sum()), day, np.int32)).cast(pa.date32()),
            "event_id": pa.array(eids[top][m], pa.int64()),
            "score": pa.array(best[m], pa.float64()),
            "verdict": pa.array([CONFIRMED if c else CLEARED for c in confirmed[m]], pa.string()),
            "reason": pa.array([r for r, k in zip(reason, m) if k], pa.string()),
            "received": pa.array(np.zeros(int(m.sum()), np.int32)).cast(pa.date32()),
        }, schema=FEEDBACK))


def _finish(run: _Run, period: ScoringPeriod, per_day: int, lab_keys: np.ndarray,
            timeout: float | None, mem_limit_mb: int | None, iso: sandbox.Isolation) -> None:
    """After the last day: the detector's exit, its status, and its metrics over time."""
    t0 = time.monotonic()
    while True:
        code = run.box.poll()
        if code is not None:
            break
        if timeout and run.busy_s + time.monotonic() - t0 > timeout:
            _stop(run, None, timeout, mem_limit_mb, iso)
            return
        time.sleep(0.01)
    run.box.kill()
    result = _collect(run.job, run.box)
    result.log = _log(run.launch.job_dir) or None
    run.result = result
    if result.status != "ok":
        return
    parts = list(zip(*run.alerts)) if run.alerts else [
        [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, bool)], [np.zeros(0, np.int64)],
        [np.zeros(0, object)]]
    keys, best, confirmed, arrive, reason = (np.concatenate(p) for p in parts)
    m = evaluate_alerts(period.labelled, keys)
    result.metrics = replace(m, alerts_per_day=per_day)
    first_day = int(period.start_days[0]) if len(period.start_days) else 0
    cleared = ~confirmed & (arrive < period.n_days)
    status_extra = _status_extra(run)
    result.online = {
        "by_month": learning_curve(keys, period.labelled, first_day, period.n_days),
        "alerts_to_first_catch": alerts_to_first_catch(keys, best, lab_keys),
        **fatigue(keys, lab_keys, keys[cleared] & 0xFFFFFFFF, first_day + arrive[cleared]),
        "verdicts": {"confirmed": int(confirmed.sum()), "cleared": int((~confirmed).sum()),
                     "delivered": run.delivered, "pending_at_end": int((arrive >= period.n_days).sum()),
                     "by_reason": {r: int((reason == r).sum()) for r in REASONS}},
        "feedback_seconds": status_extra.get("learn_seconds"),
        "verdicts_taken": status_extra.get("n_learned"),
        "wait_seconds": run.busy_s,
    }


def _status_extra(run: _Run) -> dict[str, Any]:
    """What the worker's status adds online (seconds in ``feedback``, verdicts it took)."""
    try:
        return json.loads((run.out / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


__all__ = ["DEFAULT_REGIME", "reviewer_of", "score_online"]
