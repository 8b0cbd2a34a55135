"""The detector rows of ``make bench`` (issue 16): each built-in rule's and the ensemble's score and
fit throughput, each detector process's peak memory and end-to-end rate, and what ``null`` costs,
each against its target.

All come from one :func:`benchmarks.harness.score_dataset` run on the short dataset, one detector
process at a time, sandboxed as ``snoopbench score`` runs them:

- score: scoring-period events / seconds inside ``score`` calls;
- fit: warm-up events / seconds inside ``fit`` (which, for a rule, also scores the warm-up to bring
  its running state up to date);
- end to end: scoring-period events / the detector process's whole run (reading the context and the
  events, fit, scoring, writing the scores; the interpreter's start excluded);
- peak memory: the largest resident set of the detector's process tree.

The memory target is for a large force's year; on the short dataset it only shows that nothing
has grown out of bounds, and the notes say on what it was measured.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from snoopbench.benchmarks.harness import BASELINES
from snoopbench.benchmarks.ratios import LIMIT, MIB, NOT_RULES, Figure, rule_ids

RULE_SCORE = 5e6
RULE_FIT = 2e6
ENSEMBLE_SCORE = 2e6
ENSEMBLE_FIT = 2e6
END_TO_END = 3e6
#: ``null`` reads row counts and writes zeros: ten times the end-to-end target of a rule.
NULL_END_TO_END = 10 * END_TO_END
PEAK_MB = LIMIT / MIB


def _mega(x: float) -> str:
    return f">= {x / 1e6:g}M/s"


def detector_figures(dataset: Path, ids: list[str] | None = None) -> list[Figure]:
    """The detector rows, measured on ``dataset`` (its scoring period after its warm-up), of
    ``ids`` (default: every built-in rule, the ensemble and the learned model) and the
    baselines."""
    from snoopbench.benchmarks.harness import score_dataset

    ids = rule_ids() if ids is None else ids
    if not ids:
        return [Figure("rule detectors", None, "events/s", _mega(RULE_SCORE), None,
                       "no built-in rules importable")]
    print(f"  harness: {len(ids)} rules and the baselines on {dataset.name} ...", file=sys.stderr,
          flush=True)
    result = score_dataset(dataset, ids)
    figures = []
    for r in result.detectors:
        if r.status != "ok":
            figures.append(Figure(f"detector {r.name}", None, "", "status ok", False,
                                  f"{r.status}: {r.error}"))
            continue
        n = round(r.events_per_s * r.score_seconds) if r.events_per_s else 0
        figures += _rows(r, n, dataset.name)
    return figures


def _rows(r, n: int, where: str) -> list[Figure]:
    """A detector's figures: score, fit, end to end, peak memory."""
    name = f"detector {r.name}"
    kind = "ensemble" if r.name == "ensemble" else None if r.name in NOT_RULES or r.name in BASELINES \
        else "rule"
    rows = []
    if r.name == "null":
        rate = n / r.wall_seconds if r.wall_seconds else None
        rows.append(Figure(f"{name}, end to end", rate, "events/s", _mega(NULL_END_TO_END),
                           None if rate is None else rate >= NULL_END_TO_END,
                           f"{r.wall_seconds:.2f} s for {n:,} events: costs next to nothing"))
        rows.append(_memory(r, where))
        return rows
    score_target = {"rule": RULE_SCORE, "ensemble": ENSEMBLE_SCORE}.get(kind)
    fit_target = {"rule": RULE_FIT, "ensemble": ENSEMBLE_FIT}.get(kind)
    note = NOT_RULES.get(r.name, "")
    rows.append(Figure(f"{name}, score", r.events_per_s, "events/s",
                       _mega(score_target) if score_target else "",
                       None if score_target is None else r.events_per_s >= score_target,
                       f"{n:,} events in {r.score_seconds:.2f} s" + (f"; {note}" if note else "")))
    if r.fit_events_per_s is not None and r.name != "random":
        rows.append(Figure(f"{name}, fit", r.fit_events_per_s, "events/s",
                           _mega(fit_target) if fit_target else "",
                           None if fit_target is None else r.fit_events_per_s >= fit_target,
                           f"warm-up in {r.fit_seconds:.2f} s (learning, and scoring it)"))
    if r.wall_seconds and r.name != "random":
        rate = n / r.wall_seconds
        target = END_TO_END if kind else None
        rows.append(Figure(f"{name}, end to end", rate, "events/s",
                           _mega(target) if target else "", None if target is None else rate >= target,
                           f"{r.wall_seconds:.2f} s: reading, fit, scoring, writing"))
    rows.append(_memory(r, where))
    return rows


def _memory(r, where: str) -> Figure:
    mb = r.peak_mem_mb
    return Figure(f"detector {r.name}, peak memory", mb, "MiB", f"<= {PEAK_MB:,.0f} MiB",
                  None if mb is None else mb <= PEAK_MB, f"its process tree, on {where}")


def main(argv: list[str] | None = None) -> int:
    """``python -m snoopbench.benchmarks.detector_figures DATASET``: the detector rows alone, on
    a dataset made beforehand (e.g. ``snoopbench simulate large-force --days 30``)."""
    import argparse
    import json
    import time
    from dataclasses import asdict

    from snoopbench.benchmarks.ratios import _code_version, _print_table

    ap = argparse.ArgumentParser(prog="python -m snoopbench.benchmarks.detector_figures",
                                 description=main.__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file too")
    ap.add_argument("-d", "--detector", action="append",
                    help="only this built-in (repeatable; the baselines always run)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    figures = detector_figures(args.dataset, args.detector)
    report = {"format": "snoopbench/ratios/v1", "code": _code_version(),
              "options": {"scenario": args.dataset.name, "days": "-", "long_days": "-",
                          "repeat": 1},
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "seconds": round(time.perf_counter() - t0, 1), "figures": [asdict(f) for f in figures]}
    _print_table(figures, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
