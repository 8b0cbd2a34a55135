"""The speed and scale figures of issue 7, measured in one run and printed against their targets.

``make bench`` runs ``python -m snoopbench.benchmarks.ratios``; ``--help`` lists the options (``--days`` and
``--repeat 1`` for a quick check, ``--large`` for the year of the large force, ``--json FILE``).

- generation speed: ``snoopbench simulate SCENARIO --days N --workers 1`` end to end (a subprocess,
  interpreter start included) against writing the same event rows, read back from the dataset,
  straight to zstd Parquet with pyarrow (same parts, same row groups, pyarrow's default encodings;
  the write with the dataset's own encodings is shown too, for information);
- peak memory: the resident set of the whole ``simulate`` process tree (psutil, polled, when it is
  installed; never less than the largest single process's ``ru_maxrss``), N days against 3N days;
- speed-up: ``--workers 2`` against ``--workers 1`` wall time, runs interleaved;
- detectors: each built-in rule's and the ensemble's score and fit events/s, each detector process's
  end-to-end events/s and peak memory, and what ``null`` costs, through
  :func:`benchmarks.harness.score_dataset` on the N-day dataset (:mod:`benchmarks.detector_figures`).

Times are medians of ``--repeat`` runs. The script runs ``simulate`` in subprocesses and the harness
starts detector processes with forkserver, hence the ``__main__`` guard.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from snoopbench.simulator.dataset import writer_options
from snoopbench.contract.schema import EVENTS

LIMIT = 1.5e9  # bytes: the memory target
MIB = 1024 * 1024
POLL_S = 0.05


@dataclass(frozen=True)
class Figure:
    """One row of the table: what was measured, against which target."""

    name: str
    measured: float | None
    unit: str
    target: str
    ok: bool | None  # None: no target (for information), or not measured
    detail: str = ""

    def row(self) -> tuple[str, str, str, str, str]:
        if self.measured is None:
            value = "n/a"
        else:
            value = f"{self.measured:,.0f}" if self.measured >= 100 else f"{self.measured:.3f}"
            value = f"{value} {self.unit}".rstrip()
        verdict = "" if self.ok is None else ("ok" if self.ok else "miss")
        return self.name, value, self.target, verdict, self.detail


@dataclass(frozen=True)
class Run:
    """One ``simulate`` subprocess: wall time and the peak resident set of its process tree."""

    seconds: float
    peak_bytes: int


def snoopbench_command() -> list[str]:
    """The ``snoopbench`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("snoopbench")
    if script.exists():
        return [str(script)]
    found = shutil.which("snoopbench")
    if found is None:
        sys.exit("snoopbench is not installed in this environment (pip install -e .)")
    return [found]


def measure(cmd: list[str]) -> Run:
    """Run ``cmd`` to completion; its wall time and the peak RSS summed over its process tree."""
    try:
        import psutil
    except ImportError:
        psutil = None
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid) if psutil is not None else None
    peak = 0
    while True:
        # wait4 also gives the largest single process of the tree exactly, which polling may miss.
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if root is not None else 0)
        if pid:
            break
        try:
            peak = max(peak, sum(_rss(p) for p in [root, *root.children(recursive=True)]))
        except psutil.NoSuchProcess:
            pass
        time.sleep(POLL_S)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"exit code {proc.returncode}: {' '.join(cmd)}")
    return Run(seconds, max(peak, usage.ru_maxrss * 1024))


def _rss(p) -> int:
    try:
        return p.memory_info().rss
    except Exception:  # noqa: BLE001 - a child that exited between listing and reading
        return 0


def simulate(scenario: str, out: Path, days: int, workers: int, note: str) -> Run:
    """``snoopbench simulate`` in a subprocess, measured; ``out`` is left in place."""
    shutil.rmtree(out, ignore_errors=True)
    print(f"  simulate {scenario} --days {days} --workers {workers} ({note}) ...", file=sys.stderr, flush=True)
    run = measure([*snoopbench_command(), "simulate", scenario, "--out", str(out), "--days", str(days),
                   "--workers", str(workers), "--quiet"])
    print(f"    {run.seconds:.1f} s, peak {run.peak_bytes / MIB:,.0f} MiB", file=sys.stderr, flush=True)
    return run


def raw_write_seconds(dataset: Path, scratch: Path, repeat: int, options: dict | None = None) -> tuple[float, int]:
    """Median seconds to write the dataset's event parts with pyarrow alone (zstd; pyarrow's
    default encodings unless ``options`` says otherwise), and the rows."""
    from snoopbench.simulator.dataset import ROW_GROUP

    tables = [pq.read_table(p) for p in sorted((dataset / "events").glob("part-*.parquet"))]
    scratch.mkdir(parents=True, exist_ok=True)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i, table in enumerate(tables):
            pq.write_table(table, scratch / f"part-{i:05d}.parquet", compression="zstd", row_group_size=ROW_GROUP,
                           **(options or {}))
        times.append(time.perf_counter() - t0)
    shutil.rmtree(scratch)
    return statistics.median(times), sum(t.num_rows for t in tables)


def rule_ids() -> list[str]:
    """Built-in detectors that are rules (subclasses of the rules' base class) and import here."""
    from snoopbench.detectors.registry import BUILTIN, load

    try:
        from snoopbench.detectors.rules import RuleDetector
    except ImportError:
        return []
    ids = []
    for ident in BUILTIN:
        try:
            cls = load(ident)
        except (ImportError, AttributeError):
            continue
        if issubclass(cls, RuleDetector):
            ids.append(ident)
    return ids


# Built on the rules' machinery but not rules: a combination of every rule, and a learned model. Their
# throughput is shown for information, without the rules' target.
NOT_RULES = {"ensemble": "runs every rule on each batch", "isolation_forest": "a learned model"}


def detector_figures(dataset: Path) -> list[Figure]:
    """Each detector's figures against its target: see :mod:`benchmarks.detector_figures`."""
    from snoopbench.benchmarks.detector_figures import detector_figures as figures

    return figures(dataset)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snoopbench.benchmarks.ratios", description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="small-force", help="scenario of the month-long runs")
    ap.add_argument("--days", type=int, default=30, help="days of the short run (default 30)")
    ap.add_argument("--long-days", type=int, help="days of the long run for the memory ratio (default 3 x --days)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the speed-up run (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timed figure; the median is reported")
    ap.add_argument("--no-detectors", action="store_true", help="skip the detector throughput figures")
    ap.add_argument("--large", action="store_true", help="also simulate large-force for a year on 2 workers")
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file too")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a figure misses its target")
    ap.add_argument("--keep", type=Path, help="keep the datasets in this folder (default: a temporary one)")
    args = ap.parse_args(argv)
    long_days = args.long_days or 3 * args.days
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="snoopbench-ratios-"))
    work.mkdir(parents=True, exist_ok=True)
    t_start, code = time.perf_counter(), _code_version()  # the code measured: others may commit meanwhile
    try:
        figures = _measure(args, long_days, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "format": "snoopbench/ratios/v1",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": code,
        "options": {"scenario": args.scenario, "days": args.days, "long_days": long_days,
                    "workers": args.workers, "repeat": args.repeat, "large": args.large},
        "seconds": round(time.perf_counter() - t_start, 1),
        "figures": [asdict(f) for f in figures],
    }
    _print_table(figures, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if args.strict and any(f.ok is False for f in figures) else 0


def _measure(args: argparse.Namespace, long_days: int, work: Path) -> list[Figure]:
    scn, days, n = args.scenario, args.days, args.repeat
    short = work / f"{scn}-{days}d"
    one, many = [], []
    for i in range(n):  # interleaved, so that drift in the machine's speed hits both sides alike
        one.append(simulate(scn, short, days, 1, f"run {i + 1}/{n}"))
        many.append(simulate(scn, work / "scratch", days, args.workers, f"run {i + 1}/{n}"))
    shutil.rmtree(work / "scratch", ignore_errors=True)
    long = simulate(scn, work / f"{scn}-{long_days}d", long_days, 1, "memory")
    shutil.rmtree(work / f"{scn}-{long_days}d", ignore_errors=True)
    t_one = statistics.median(r.seconds for r in one)
    t_many = statistics.median(r.seconds for r in many)
    print("  pyarrow write of the same rows ...", file=sys.stderr, flush=True)
    t_raw, rows = raw_write_seconds(short, work / "raw", max(n, 3))
    t_tuned, _ = raw_write_seconds(short, work / "raw", max(n, 3), writer_options(EVENTS))
    mem_short = max(r.peak_bytes for r in one)
    mem_long = long.peak_bytes
    figures = [
        Figure(f"simulate {days} d, 1 worker", rows / t_one, "events/s", "", None,
               f"{rows:,} events in {t_one:.1f} s (median of {n})"),
        Figure("pyarrow zstd write, same rows", rows / t_raw, "events/s", "", None, f"{t_raw:.2f} s"),
        Figure("generation speed / raw write", t_raw / t_one, "", ">= 0.3 (aim 0.5)", t_raw / t_one >= 0.3),
        Figure("pyarrow write, the dataset's own encodings", rows / t_tuned, "events/s", "", None,
               f"{t_tuned:.2f} s: dictionaries only where values repeat, delta for event id and time"),
        Figure("generation speed / that write", t_tuned / t_one, "", "", None, "for information"),
        Figure(f"peak memory, {days} d", mem_short / MIB, "MiB", "< 1.5 GB", mem_short < LIMIT,
               "whole process tree, 1 worker"),
        Figure(f"peak memory, {long_days} d", mem_long / MIB, "MiB", "< 1.5 GB", mem_long < LIMIT,
               f"1.5 GB = {LIMIT / MIB:,.0f} MiB"),
        Figure(f"memory {long_days} d / {days} d", mem_long / mem_short, "", "<= 1.3", mem_long / mem_short <= 1.3),
        Figure(f"peak memory, {days} d, {args.workers} workers", max(r.peak_bytes for r in many) / MIB, "MiB",
               "", None, "whole process tree"),
        Figure(f"speed-up, {args.workers} workers / 1", t_one / t_many, "x", ">= 1.6", t_one / t_many >= 1.6,
               f"{t_many:.1f} s vs {t_one:.1f} s (median of {n}); {os.cpu_count()} CPUs"),
    ]
    if not args.no_detectors:
        figures += detector_figures(short)
    if args.large:
        big = simulate("large-force", work / "large-force", 365, 2, "large")
        shutil.rmtree(work / "large-force", ignore_errors=True)
        figures += [Figure("large-force, 365 d, 2 workers", big.seconds / 60, "min", "< 15 min",
                           big.seconds < 15 * 60, f"peak {big.peak_bytes / MIB:,.0f} MiB (process tree)")]
    return figures


def _code_version() -> str:
    """The commit measured, marked ``+changes`` if the work tree differs from it."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def _print_table(figures: list[Figure], report: dict) -> None:
    rows = [("figure", "measured", "target", "ok/miss", "notes"), *(f.row() for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    o, m = report["options"], report["machine"]
    print(f"\nscenario {o['scenario']}, {o['days']} and {o['long_days']} days, timings: median of {o['repeat']}; "
          f"{m['cpus']} CPUs, Python {m['python']}, code {report['code']}; {report['seconds']:.0f} s in all")
    for i, r in enumerate(rows):
        print("  ".join(c.rjust(w) if j in (1, 2) else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
