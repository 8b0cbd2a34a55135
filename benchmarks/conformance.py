"""``snoopbench detectors check SPEC``: the conformance checks on any detector, in its sandbox.

A registry detector (built-in or plug-in) gets the checks of :mod:`detectors.checks` (the same
ones the test suite runs over every built-in): its signature, finite scores, determinism, no
look-ahead, batch-size invariance, hyperparameters left alone. An outside program (``exec:``)
reads the whole period at once, so it gets what its contract asks of it (:data:`EXEC_CHECKS`):
it exits 0, writes ``{out}`` as Parquet or CSV with ``event_id`` and ``score``, its scores are
finite, its event ids known and unique, a second run gives the same scores, and an
``explanation`` column, if written, holds text.

The checks run inside the sandbox the harness gives a scored detector (:func:`check_spec`
launches it; :func:`run_checks` is what runs inside), on a dataset with no truth in view: by
default a small synthetic one (:func:`benchmarks.synthetic.build_synthetic_dataset`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from snoopbench.benchmarks.worker import EXEC_LOG, JOB_FILE, STATUS_FILE, Job, run_program
from snoopbench.contract.errors import InputError

#: The checks of an outside program, in the order they run; each needs the ones before it.
EXEC_CHECKS = {
    "check_exits_zero": "the program exits with code 0",
    "check_writes_output": "the program writes {out}",
    "check_output_format": "{out} is Parquet or CSV with an integer event_id and a numeric score",
    "check_finite_scores": "every score is a finite number",
    "check_known_event_ids": "every event_id is one of the events given, and none twice",
    "check_explanations": "an explanation column, if written, holds text",
    "check_deterministic": "a second run writes the same scores",
}


@dataclass
class CheckOutcome:
    """One check: passed (``ok`` True), failed (False, with the reason) or not run (None)."""

    check: str
    ok: bool | None
    reason: str = ""
    about: str = ""           # what the check asks, in a line


@dataclass
class ConformanceResult:
    """Every check of one detector, and the sandbox's verdict if it did not finish."""

    name: str
    kind: str                         # "python" or "exec"
    dataset: str
    checks: list[CheckOutcome] = field(default_factory=list)
    error: str | None = None          # the sandbox failed (timeout, out of memory, crash)
    log: str | None = None

    @property
    def failed(self) -> list[str]:
        return [c.check for c in self.checks if c.ok is False]

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failed and bool(self.checks)


# -- the harness's side ---------------------------------------------------------------------------

def check_spec(text: str, dataset_dir: str | Path | None = None, *, truth_dir: str | Path | None = None,
               timeout: float | None = None, mem_limit_mb: int | None = None,
               require_sandbox: bool = False, max_events: int = 20000) -> ConformanceResult:
    """Run the conformance checks on the detector of SPEC ``text`` in its sandbox.

    ``dataset_dir``: the events to check on (default: a small synthetic dataset, made for the
    run and removed after); ``max_events``: at most this many scoring-period events for a
    registry detector's checks (an outside program reads the whole dataset). Bad input (a
    malformed SPEC, an unknown id, a set such as ``all``, a bad dataset) raises
    :class:`InputError` before anything runs.
    """
    from snoopbench.benchmarks import harness, sandbox
    from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
    from snoopbench.detectors.registry import SETS, SpecError, check_spec as check_registry, parse_spec

    if text.strip() in SETS:
        raise InputError(f"{text.strip()!r} is a set of detectors; check one SPEC at a time",
                         key="SPEC")
    if max_events < 1:
        raise InputError(f"expected at least 1 event, got {max_events}", key="--events")
    if timeout is not None and not timeout > 0:
        raise InputError(f"expected a number of seconds > 0, got {timeout}", key="--timeout")
    try:
        spec = check_registry(parse_spec(text))
    except SpecError as exc:
        raise InputError(str(exc), key="SPEC") from exc
    iso = harness.check_isolation(mem_limit_mb, require_sandbox)
    made = None
    try:
        if dataset_dir is None:
            from snoopbench.benchmarks.synthetic import build_synthetic_dataset

            made = Path(tempfile.mkdtemp(prefix="snoopbench-check-"))
            dataset_dir = build_synthetic_dataset(made / "synthetic")
            where = "a synthetic dataset (50 staff, 10 days)"
        else:
            where = str(dataset_dir)
        dataset = open_dataset(dataset_dir)
        truth = truth_dir_of(dataset, truth_dir)
        period = scoring_period(dataset, truth)
        result = ConformanceResult(spec.name, "exec" if spec.is_exec else "python", where)
        secret = [dataset.root.resolve(), truth.resolve()]
        outcome: dict[str, Any] = {}

        def finish(job: Job, box: sandbox.Sandbox) -> Any:
            status = _read_status(box.job_dir / "output" / STATUS_FILE)
            outcome.update(status or {})
            from snoopbench.benchmarks.results import DetectorResult

            if status is None:
                return DetectorResult(job.name, "error", f"the checks' process exited with code "
                                      f"{box.proc.returncode} before reporting")
            return DetectorResult(job.name, status.get("status", "error"), status.get("error"))

        with sandbox.exits_on_signals(), sandbox.Scratch(dataset.parts, dataset.context_dir,
                                                         dataset.info.to_dict()) as scratch:
            job, launch = harness._launch(spec, period, scratch, iso, secret, 65536)
            job = replace(job, mode="check", check_events=max_events)
            job.write(launch.job_dir / "output" / JOB_FILE)
            row = harness._run_all([(job, launch)], scratch, iso, timeout, mem_limit_mb, 1,
                                   finish)[0]
        result.checks = [CheckOutcome(**c) for c in outcome.get("checks", [])]
        if row.status != "ok":
            result.error = f"{row.status}: {row.error}"
        result.log = row.log
        return result
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _read_status(path: Path) -> dict | None:
    if not path.is_file() or path.stat().st_size > 1 << 20:
        return None
    try:
        status = json.loads(path.read_text())
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


# -- inside the sandbox ----------------------------------------------------------------------------

def run_checks(job: Job) -> dict[str, Any]:
    """Every check of the job's detector; what the worker adds to its status."""
    outcomes = _exec_checks(job) if job.command is not None else _python_checks(job)
    return {"checks": [o.__dict__ for o in outcomes]}


def _python_checks(job: Job) -> list[CheckOutcome]:
    from snoopbench.benchmarks.worker import load_context, split_stream
    from snoopbench.contract.info import DatasetInfo
    from snoopbench.detectors.checks import CHECKS
    from snoopbench.detectors.docs import strip_rst
    from snoopbench.detectors.registry import import_target

    try:
        cls = import_target(job.target)
        cls(**job.params)
    except Exception as exc:  # noqa: BLE001 - the detector's failure is the check's finding
        return [CheckOutcome("check_builds", False, _why(exc), _BUILDS)]
    out = [CheckOutcome("check_builds", True, about=_BUILDS)]
    context = load_context(job.context_dir)
    history, rest = split_stream(job.parts, job.batch_size, job.n_warmup)
    taken, batches = 0, []
    for batch in rest:
        batches.append(batch.slice(0, job.check_events - taken))
        taken += batches[-1].num_rows
        if taken >= job.check_events:
            break
    events = pa.Table.from_batches(batches, schema=history.schema)
    info = DatasetInfo.from_dict(json.loads(Path(job.info).read_text()))

    def make():
        return cls(**job.params)

    for check in CHECKS:
        about = strip_rst(" ".join((check.__doc__ or "").split())).rstrip(".")
        try:
            check(make, context, history, events, info)
        except Exception as exc:  # noqa: BLE001 - AssertionError or the detector's own error
            out.append(CheckOutcome(check.__name__, False, _why(exc), about))
        else:
            out.append(CheckOutcome(check.__name__, True, about=about))
    return out


_BUILDS = "the class imports and takes the SPEC's hyperparameters"


def _why(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return " ".join(str(exc).split())[:500] or "assertion failed"
    where = traceback.extract_tb(exc.__traceback__)[-1:]
    at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}{at}"


def _exec_checks(job: Job) -> list[CheckOutcome]:
    out_dir = Path(job.out_dir)
    results: dict[str, CheckOutcome] = {}
    first = _Run(job, out_dir / "first")
    steps: list[tuple[str, Callable[[], str]]] = [
        ("check_exits_zero", lambda: first.exit_reason),
        ("check_writes_output", lambda: "" if first.out.is_file() else
         "the program exited 0 but wrote no file at {out}"),
        ("check_output_format", first.read),
        ("check_finite_scores", lambda: _finite(first.table)),
        ("check_known_event_ids", lambda: _known_ids(first.table, job)),
        ("check_explanations", lambda: _explanations(first.table)),
        ("check_deterministic", lambda: _same_again(job, first.table, out_dir / "second")),
    ]
    blocked = ""
    for name, step in steps:
        if blocked:
            results[name] = CheckOutcome(name, None, f"not run: {blocked} failed", EXEC_CHECKS[name])
            continue
        try:
            why = step()
        except Exception as exc:  # noqa: BLE001 - a failure of this check, not of the command
            why = _why(exc)
        results[name] = CheckOutcome(name, not why, why, EXEC_CHECKS[name])
        if why and name != "check_explanations":
            blocked = name
    return list(results.values())


class _Run:
    """One run of the program: its exit, its ``{out}`` and, once read, its table."""

    def __init__(self, job: Job, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.out = folder / "out.parquet"
        log = Path(job.out_dir) / EXEC_LOG
        proc = run_program(job, self.out, log)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        self.exit_reason = "" if proc.returncode == 0 else (
            f"exited with code {proc.returncode}" + (f": {' | '.join(tail)}" if tail else ""))
        self.table: pa.Table | None = None

    def read(self) -> str:
        with open(self.out, "rb") as fh:
            is_parquet = fh.read(4) == b"PAR1"
        try:
            table = pq.read_table(self.out) if is_parquet else pacsv.read_csv(self.out)
        except pa.ArrowInvalid as exc:
            return f"cannot read {{out}} as Parquet or CSV ({' '.join(str(exc).split())[:300]})"
        missing = [c for c in ("event_id", "score") if c not in table.column_names]
        if missing:
            return f"{{out}} lacks column(s) {missing}; it has {table.column_names}"
        for column, kind in (("event_id", pa.int64()), ("score", pa.float64())):
            try:
                table = table.set_column(table.column_names.index(column), column,
                                         table[column].cast(kind))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return f"column {column} is {table[column].type}, expected {kind}"
        self.table = table
        return ""


def _finite(table: pa.Table) -> str:
    scores = table["score"].to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(scores)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (f"{int(bad.sum())} of {len(scores)} scores are not finite (first: "
                f"{scores[i]} for event_id {table['event_id'][i].as_py()})")
    return ""


def _known_ids(table: pa.Table, job: Job) -> str:
    ids = table["event_id"].to_numpy(zero_copy_only=False)
    if pc.any(pc.is_null(table["event_id"])).as_py():
        return "some event_id values are empty"
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        return f"{int((counts > 1).sum())} event ids appear more than once (e.g. {int(unique[counts > 1][0])})"
    known = np.concatenate([pq.read_table(p, columns=["event_id"])["event_id"].to_numpy()
                            for p in job.parts]) if job.parts else np.empty(0, np.int64)
    strange = ~np.isin(unique, known)
    if strange.any():
        return (f"{int(strange.sum())} event ids are not among the events given "
                f"(e.g. {int(unique[strange][0])})")
    return ""


def _explanations(table: pa.Table) -> str:
    if "explanation" not in table.column_names:
        return ""
    kind = table["explanation"].type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return ""
    return f"column explanation is {kind}, expected text"


def _same_again(job: Job, first: pa.Table, folder: Path) -> str:
    again = _Run(job, folder)
    why = again.exit_reason or again.read()
    if why:
        return f"the second run failed: {why}"
    a = first.select(["event_id", "score"]).sort_by("event_id")
    b = again.table.select(["event_id", "score"]).sort_by("event_id")
    if a.num_rows != b.num_rows or not a["event_id"].equals(b["event_id"]):
        return f"the second run scored other events ({b.num_rows} rows, first run {a.num_rows})"
    diff = np.flatnonzero(a["score"].to_numpy() != b["score"].to_numpy())
    if len(diff):
        i = int(diff[0])
        return (f"{len(diff)} scores differ between two runs (event_id {a['event_id'][i].as_py()}: "
                f"{a['score'][i].as_py()} then {b['score'][i].as_py()}); seed any randomness")
    return ""
