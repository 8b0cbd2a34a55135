"""What runs inside a detector's sandbox: fit, score batch by batch, write the scores.

The harness starts one sandbox per detector (see :mod:`benchmarks.sandbox`) running
``python -m snoopbench.benchmarks.worker /output/job.json``, so a detector that crashes, hangs or
eats all memory cannot take the harness down, and sees nothing but its inputs. The process
appends each batch's scores to ``scores.f64`` (raw little-endian float64, one per scoring-period
event, in order) as it goes, so neither it nor the harness holds them all, and writes a
``status.json`` into its output folder; if it dies before writing the status, the harness reads
its exit code instead. An ``exec:`` program runs as this process's child, in the same sandbox,
and its ``{out}`` file is turned into ``scores.f64`` here, under the same memory limit.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import call_fit, explains
from snoopbench.benchmarks.dataset import EventLocator, iter_event_batches
from snoopbench.benchmarks.explanations import (EXPLANATIONS_FILE, CandidateFilter,
                                                ExplanationWriter, check_texts)
from snoopbench.benchmarks.feedback import events_file, mark_done, wait_verdicts
from snoopbench.detectors.registry import import_target

_OOM_HINTS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "Out of memory")
#: The scores file in a job's output folder, and its element type.
SCORES_FILE = "scores.f64"
SCORE_DTYPE = np.dtype("<f8")
JOB_FILE = "job.json"
STATUS_FILE = "status.json"
#: Where an outside program's stderr goes, in the output folder.
EXEC_LOG = "stderr.txt"
#: What the detector is doing, for the harness to show: ``PHASE COUNT`` (see :class:`Progress`).
PROGRESS_FILE = "progress.txt"
#: The phases written to :data:`PROGRESS_FILE`: fitting, scoring COUNT events so far, an outside
#: program running (no count: it reads the events itself), its output being read.
PHASES = ("fit", "score", "exec", "read")


@dataclass(frozen=True)
class Job:
    """Everything a detector process needs, as the sandbox shows it; written as JSON."""

    name: str
    out_dir: str
    parts: tuple[str, ...]
    context_dir: str
    info: str
    n_warmup: int
    n_total: int
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    batch_size: int = 65536
    sys_path: tuple[str, ...] = ()
    #: ``score``: score the period; ``check``: run the conformance checks instead
    #: (:mod:`benchmarks.conformance`) on at most ``check_events`` events of the period.
    mode: str = "score"
    check_events: int = 20000
    #: Ask for explanations of events that may be among this many alerts a day (0: none).
    explain_per_day: int = 0
    #: Online protocol (:mod:`benchmarks.feedback`): score day by day, taking verdicts between days.
    online: bool = False
    #: Online: the position in the scoring period just after each local day's last event, and
    #: each day's date (ISO).
    day_stops: tuple[int, ...] = ()
    day_dates: tuple[str, ...] = ()

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: str | Path) -> Job:
        data = json.loads(Path(path).read_text())
        return cls(**{**data, "parts": tuple(data["parts"]),
                      "sys_path": tuple(data.get("sys_path", ())),
                      "day_stops": tuple(data.get("day_stops", ())),
                      "day_dates": tuple(data.get("day_dates", ()))})


class Progress:
    """What the worker is doing, overwritten in place in :data:`PROGRESS_FILE`: one fixed-width
    line ``PHASE COUNT`` the harness polls. A write per batch: cheap, and never read back here."""

    WIDTH = 32

    def __init__(self, out_dir: str | Path) -> None:
        self._fd = os.open(Path(out_dir) / PROGRESS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def __call__(self, phase: str, count: int = 0) -> None:
        os.pwrite(self._fd, f"{phase} {count}".ljust(self.WIDTH).encode(), 0)

    def close(self) -> None:
        os.close(self._fd)


def read_progress(path: Path) -> tuple[str, int] | None:
    """The phase and count a worker last wrote (None if not yet, or not readable as such)."""
    try:
        with open(path, "rb") as fh:
            words = fh.read(Progress.WIDTH).decode("ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(words) != 2 or words[0] not in PHASES or not words[1].isdigit():
        return None
    return words[0], int(words[1])


class DetectorFault(Exception):
    """A detector broke the contract (bad scores, bad output file, non-zero exit)."""


class OutOfMemory(Exception):
    """An outside program ran out of memory."""


def run_job(job: Job) -> None:
    """Run one detector and record the outcome in ``job.out_dir``."""
    status: dict[str, Any] = {"status": "ok", "error": None}
    t0 = time.perf_counter()
    try:
        progress = Progress(job.out_dir)
        if job.mode == "check":
            from snoopbench.benchmarks.conformance import run_checks

            status.update(run_checks(job))
        elif job.command is not None:
            status.update(run_exec_online(job) if job.online else _run_exec(job, progress))
        else:
            status.update(_run_python(job, progress))
    except MemoryError:
        status = {"status": "oom", "error": "MemoryError: the detector ran out of memory"}
    except OutOfMemory as exc:
        status = {"status": "oom", "error": str(exc)}
    except DetectorFault as exc:
        status = {"status": "error", "error": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - any failure of plug-in code is its row's error
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
        status = {"status": "error", "error": f"{type(exc).__name__}: {exc}{at}"}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    status["peak_mem_mb"] = max(own, kids) / 1024.0  # ru_maxrss is in KiB on Linux
    status["wall_seconds"] = time.perf_counter() - t0  # reading, fit, scoring and writing
    tmp = Path(job.out_dir) / (STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(Path(job.out_dir) / STATUS_FILE)


def main(argv: list[str]) -> int:
    """``python -m snoopbench.benchmarks.worker JOB.json``: the sandbox's entry point."""
    job = Job.read(argv[0])
    sys.path[:0] = [p for p in job.sys_path if p not in sys.path]
    run_job(job)
    return 0


class Context(Mapping[str, pa.Table]):
    """The context tables by name (file stem), each read from its file when first asked for:
    a detector holds in memory only the tables it uses (``null`` none, ``off_shift`` the
    shifts and staff), not a large force's whole context."""

    def __init__(self, context_dir: str | Path) -> None:
        self._files = {p.stem: p for p in sorted(Path(context_dir).glob("*.parquet"))}
        self._read: dict[str, pa.Table] = {}

    def __getitem__(self, name: str) -> pa.Table:
        if name not in self._read:
            self._read[name] = pq.read_table(self._files[name])  # KeyError if there is none
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def load_context(context_dir: str | Path) -> Context:
    """Every context table, by name (file stem), read on first use."""
    return Context(context_dir)


def iter_batches(parts: tuple[str, ...], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Events in file order, as record batches of at most ``batch_size`` rows."""
    for part in parts:
        yield from pq.ParquetFile(part).iter_batches(batch_size=batch_size)


def split_stream(
    parts: tuple[str, ...], batch_size: int, n_warmup: int
) -> tuple[pa.Table, Iterator[pa.RecordBatch]]:
    """The warm-up rows as one table, and an iterator over the batches that follow them."""
    batches = iter_batches(parts, batch_size)
    history: list[pa.RecordBatch] = []
    seen = 0
    schema = pq.read_schema(parts[0])
    first_scoring: list[pa.RecordBatch] = []
    for batch in batches:
        if seen + batch.num_rows <= n_warmup:
            history.append(batch)
            seen += batch.num_rows
            if seen == n_warmup:
                break
            continue
        cut = n_warmup - seen
        history.append(batch.slice(0, cut))
        first_scoring.append(batch.slice(cut))
        seen = n_warmup
        break

    def rest() -> Iterator[pa.RecordBatch]:
        yield from first_scoring
        yield from batches

    return pa.Table.from_batches(history, schema=schema), rest()


def check_scores(scores: Any, batch: pa.RecordBatch) -> np.ndarray:
    """The contract's check on one ``score`` result: one finite float per row."""
    n = batch.num_rows
    arr = np.asarray(scores)
    if arr.shape != (n,):
        raise DetectorFault(f"score() returned shape {arr.shape} for a batch of {n} rows")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DetectorFault(f"score() returned non-numeric scores ({exc})") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        event = batch.column("event_id")[i].as_py() if "event_id" in batch.schema.names else i
        raise DetectorFault(
            f"score() returned {int(bad.sum())} non-finite scores (first: {arr[i]} "
            f"for event_id {event})"
        )
    return arr


def scoring_stream(parts: tuple[str, ...], batch_size: int, n_warmup: int,
                   columns: tuple[str, ...] | None) -> tuple[pa.Table, Iterator[pa.RecordBatch]]:
    """For a detector whose ``fit`` ignores the warm-up: a warm-up of no rows, and the scoring
    period's batches of ``columns`` only (None: all), the warm-up's row groups left unread."""
    schema = pq.read_schema(parts[0])
    names = schema.names if columns is None else [n for n in schema.names if n in columns]
    history = schema.empty_table().select(names)
    return history, (b for _, b in iter_event_batches(parts, names, batch_size, n_warmup))


def _run_python(job: Job, progress: Progress) -> dict[str, Any]:
    progress("fit")
    cls = import_target(job.target)
    detector = cls(**job.params)
    context = load_context(job.context_dir) if getattr(cls, "uses_context", True) else {}
    # an explaining detector describes events by every column: it reads them all
    reads = None if explains(cls) and job.explain_per_day > 0 else getattr(cls, "reads", None)
    if getattr(cls, "uses_warmup", True) or getattr(cls, "retrospective", False):
        history, stream = split_stream(job.parts, job.batch_size, job.n_warmup)
    else:
        history, stream = scoring_stream(job.parts, job.batch_size, job.n_warmup, reads)
    t0 = time.perf_counter()
    call_fit(detector, context, history, DatasetInfo.from_dict(json.loads(Path(job.info).read_text())))
    fit_s = time.perf_counter() - t0
    n_fit = history.num_rows
    del history
    if job.online:
        # online, the events in the sandbox end with the warm-up: each day's come in its turn
        return {"fit_seconds": fit_s, "n_fit": n_fit, **score_online(job, detector, reads)}

    if getattr(detector, "retrospective", False):
        whole = pa.Table.from_batches(list(stream), schema=pq.read_schema(job.parts[0]))
        batches = whole.combine_chunks().to_batches() or [pa.record_batch(
            [pa.array([], f.type) for f in whole.schema], schema=whole.schema)]
        stream = iter(batches[:1])
    score_s = 0.0
    done = 0
    progress("score", done)
    explainer = _Explainer.of(job, explains(detector))
    with open(Path(job.out_dir) / SCORES_FILE, "wb") as out:
        for batch in stream:
            t0 = time.perf_counter()
            scores = check_scores(detector.score(batch), batch)
            score_s += time.perf_counter() - t0
            _write_scores(out, scores)
            done += batch.num_rows
            progress("score", done)
            if explainer is not None:  # right after score: the detector's state is this batch's
                explainer.add(batch, scores, lambda rows: detector.explain(batch, rows))
    if explainer is not None:
        explainer.close()
    return {"fit_seconds": fit_s, "score_seconds": score_s, "n_fit": n_fit}


class _Explainer:
    """Asks for the explanations of the events that may become alerts, and writes them
    (see :mod:`benchmarks.explanations`)."""

    def __init__(self, job: Job) -> None:
        self.info = DatasetInfo.from_dict(json.loads(Path(job.info).read_text()))
        self.filter = CandidateFilter(job.explain_per_day)
        self.writer = ExplanationWriter(Path(job.out_dir) / EXPLANATIONS_FILE)
        self.seen = 0

    @classmethod
    def of(cls, job: Job, explains: bool) -> "_Explainer | None":
        return cls(job) if explains and job.explain_per_day > 0 else None

    def add(self, batch: pa.RecordBatch, scores: np.ndarray, explain) -> None:
        user = batch.column("user_id").cast(pa.int64()).to_numpy(zero_copy_only=False)
        ts = batch.column("ts").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        rows = self.filter.add(user, self.info.local_days(ts.to_numpy(zero_copy_only=False)),
                               scores)
        if len(rows):
            self.writer.write(self.seen + rows, check_texts(explain(rows), len(rows)))
        self.seen += batch.num_rows

    def close(self) -> None:
        self.writer.close()


def _run_exec(job: Job, progress: Progress) -> dict[str, Any]:
    progress("exec")
    out = Path(job.out_dir) / "out.parquet"
    log = Path(job.out_dir) / EXEC_LOG
    t0 = time.perf_counter()
    proc = run_program(job, out, log)
    wall = time.perf_counter() - t0
    _check_program(proc, out, log)
    progress("read")
    with open(Path(job.out_dir) / SCORES_FILE, "wb") as fh:
        _write_exec_scores(out, job, fh)
    return {"fit_seconds": None, "score_seconds": wall, "n_fit": 0}


def _check_program(proc: subprocess.CompletedProcess, out: Path, log: Path) -> None:
    """An outside program's exit judged: out of memory, failed, or no ``{out}`` written."""
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    if proc.returncode != 0:
        why = f"exited with code {proc.returncode}" + (f": {' | '.join(tail)}" if tail else "")
        if proc.returncode in (-9, 137) or any(h in " ".join(tail) for h in _OOM_HINTS):
            raise OutOfMemory(f"outside program {why}")
        raise DetectorFault(f"outside program {why}")
    if not out.is_file():
        raise DetectorFault("outside program exited 0 but did not write {out}")


def run_program(job: Job, out: Path, log: Path,
                extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess:
    """Run the job's outside program with its placeholders filled (``{out}`` as ``out``), its
    stderr to ``log``; its exit code is the caller's to judge. ``extra``: more placeholders
    (the online protocol's), and ``log`` is then appended to, day after day."""
    command = job.command or ""
    for key, value in (("{events}", Path(job.parts[0]).parent if job.parts else ""),
                       ("{context}", job.context_dir), ("{info}", job.info), ("{out}", out),
                       *(extra or {}).items()):
        command = command.replace(key, shlex.quote(str(value)))
    with open(log, "ab" if extra else "wb") as err:
        return subprocess.run(command, shell=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err)


def _write_exec_scores(path: Path, job: Job, out: BinaryIO) -> None:
    """An outside program's ``{out}`` file written as one score per scoring-period event.

    The events are read batch by batch to place the program's rows: memory grows with what
    the program wrote, not with the dataset.
    """
    with open(path, "rb") as fh:
        is_parquet = fh.read(4) == b"PAR1"  # read by content: a CSV written to {out} works too
    try:
        table = pq.read_table(path) if is_parquet else pacsv.read_csv(path)
    except pa.ArrowInvalid as exc:
        raise DetectorFault(f"cannot read the output file ({exc})") from exc
    missing = {"event_id", "score"} - set(table.column_names)
    if missing:
        raise DetectorFault(f"output file lacks column(s) {sorted(missing)}")
    try:
        ids = table["event_id"].cast(pa.int64()).to_numpy()
        scores = table["score"].cast(pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DetectorFault(f"output columns have the wrong type ({exc})") from exc
    texts = table["explanation"] if "explanation" in table.column_names else None
    del table
    if not np.isfinite(scores).all():
        raise DetectorFault("output file holds non-finite scores")
    locator = EventLocator(ids)
    if locator.has_duplicates:
        raise DetectorFault("output file holds duplicate event ids")
    for offset, batch in iter_event_batches(job.parts, ["event_id"], job.batch_size):
        locator.add(offset, batch.column(0).to_numpy())
    known = locator.position >= 0
    if not known.all():
        raise DetectorFault(f"output file names {int((~known).sum())} unknown event ids "
                            f"(e.g. {int(ids[~known][0])})")
    order = np.argsort(locator.position)
    at, scores = locator.position[order] - job.n_warmup, scores[order]
    n = job.n_total - job.n_warmup
    explainer = _Explainer.of(job, texts is not None)
    events = _Rechunk(job) if explainer is not None else None
    for start in range(0, n, job.batch_size):  # events left out score -inf: never alerted
        stop = min(start + job.batch_size, n)
        lo, hi = np.searchsorted(at, [start, stop])
        chunk = np.full(stop - start, -np.inf)
        chunk[at[lo:hi] - start] = scores[lo:hi]
        _write_scores(out, chunk)
        if explainer is not None:
            _explain_exec(explainer, events, chunk, order[lo:hi], at[lo:hi] - start, texts)
    if explainer is not None:
        explainer.close()


def _explain_exec(explainer: _Explainer, events: "_Rechunk", chunk: np.ndarray,
                  rows_in_out: np.ndarray, at: np.ndarray, texts: pa.ChunkedArray) -> None:
    """Keep the {out} file's explanations of this chunk's events that may become alerts."""
    by_row = np.full(len(chunk), -1, np.int64)
    by_row[at] = rows_in_out
    explainer.add(events.take(len(chunk)), chunk,
                  lambda rows: [None if by_row[r] < 0 else texts[int(by_row[r])].as_py()
                                for r in rows])


class _Rechunk:
    """The events' users and times, handed out in pieces of any size, in order."""

    def __init__(self, job: Job) -> None:
        self._batches = (b for _, b in iter_event_batches(job.parts, ["user_id", "ts"],
                                                          job.batch_size, start=job.n_warmup))
        self._held: list[pa.RecordBatch] = []
        self._n = 0

    def take(self, n: int) -> pa.RecordBatch:
        while self._n < n:
            batch = next(self._batches)
            self._held.append(batch)
            self._n += batch.num_rows
        table = pa.Table.from_batches(self._held).combine_chunks()
        rest = table.slice(n)
        self._held, self._n = rest.to_batches(), rest.num_rows
        out = table.slice(0, n).combine_chunks()
        return out.to_batches()[0] if out.num_rows else pa.RecordBatch.from_pylist([], out.schema)


def _write_scores(out: BinaryIO, scores: np.ndarray) -> None:
    scores.astype(SCORE_DTYPE, copy=False).tofile(out)


# -- the online protocol (benchmarks.feedback): a day at a time, verdicts in between --------

def _day_batches(job: Job, day: int, columns: Any = None) -> Iterator[pa.RecordBatch]:
    """Day ``day``'s events, as the harness handed them in, batch by batch (``columns``: None
    for all)."""
    path = events_file(job.out_dir, day)
    names = pq.read_schema(path).names
    cols = None if columns is None else [n for n in names if n in columns]
    with pq.ParquetFile(path) as pf:
        yield from pf.iter_batches(batch_size=job.batch_size, columns=cols)


def score_online(job: Job, detector: Any, reads: Any = None) -> dict[str, Any]:
    """Score day by day; before each day, hand the verdicts that arrived to the detector's
    optional ``feedback(verdicts)`` method (a table of :data:`benchmarks.feedback.FEEDBACK`)."""
    if getattr(detector, "retrospective", False):
        raise DetectorFault("a retrospective detector scores the whole period at once; it cannot "
                            "run online (day by day)")
    feedback = getattr(detector, "feedback", None)
    score_s = learn_s = 0.0
    n_verdicts = 0
    with open(Path(job.out_dir) / SCORES_FILE, "wb") as out:
        for i in range(len(job.day_stops)):
            verdicts = wait_verdicts(job.out_dir, i)
            if verdicts.num_rows and callable(feedback):
                n_verdicts += verdicts.num_rows
                t0 = time.perf_counter()
                try:
                    feedback(verdicts)
                except Exception as exc:  # noqa: BLE001 - the detector's row says why
                    where = traceback.extract_tb(exc.__traceback__)[-1:]
                    at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
                    raise DetectorFault(f"feedback() raised {type(exc).__name__}: {exc}{at}") from exc
                learn_s += time.perf_counter() - t0
            for batch in _day_batches(job, i, reads):
                t0 = time.perf_counter()
                scores = detector.score(batch)
                score_s += time.perf_counter() - t0
                _write_scores(out, check_scores(scores, batch))
            out.flush()
            mark_done(job.out_dir, i)
    return {"score_seconds": score_s, "learn_seconds": learn_s, "n_learned": n_verdicts}


def run_exec_online(job: Job) -> dict[str, Any]:
    """An outside program run once a day, in the same sandbox. Its command's placeholders:
    ``{events}`` (a folder holding that day's events), ``{history}`` (a folder holding the
    warm-up's), ``{feedback}`` (the verdicts that arrived that morning, Parquet, often no rows),
    ``{state}`` (a folder kept from day to day), ``{day}`` (the date), ``{context}``, ``{info}``
    and ``{out}`` (that day's scores)."""
    root = Path(job.out_dir) / "exec"
    history, state = root / "history", root / "state"
    state.mkdir(parents=True, exist_ok=True)
    history.mkdir(parents=True, exist_ok=True)
    for part in job.parts:  # online, the sandbox's events are the warm-up's and no more
        shutil.copyfile(part, history / Path(part).name)
    wall = 0.0
    with open(Path(job.out_dir) / SCORES_FILE, "wb") as scores:
        for i in range(len(job.day_stops)):
            verdicts = wait_verdicts(job.out_dir, i)
            today = root / "day"
            shutil.rmtree(today, ignore_errors=True)
            (today / "events").mkdir(parents=True)
            part = today / "events" / "part-00000.parquet"
            shutil.copyfile(events_file(job.out_dir, i), part)
            pq.write_table(verdicts, today / "feedback.parquet")
            one = replace(job, parts=(str(part),), n_warmup=0,
                          n_total=pq.read_metadata(part).num_rows)
            out, log = today / "out.parquet", Path(job.out_dir) / EXEC_LOG
            t0 = time.perf_counter()
            proc = run_program(one, out, log, extra={
                "{history}": history, "{feedback}": today / "feedback.parquet", "{state}": state,
                "{day}": job.day_dates[i]})
            wall += time.perf_counter() - t0
            _check_program(proc, out, log)
            _write_exec_scores(out, one, scores)
            scores.flush()
            mark_done(job.out_dir, i)
    return {"fit_seconds": None, "score_seconds": wall, "n_fit": 0}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
