"""The ``compare`` command and the CR-K tables of ``score`` and ``bench`` (see benchmarks.compare)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.cli import app, console
from snoopbench.benchmarks.compare import CR_REPORTED, CR_STEP, METHOD, RANK_CAP, Paired
from snoopbench.benchmarks.compare_files import compare_files
from snoopbench.benchmarks.metrics import Interval
from snoopbench.benchmarks.results import ScoreResult

_CR_CAPTION = (f"CR-K: sum of recall at {CR_STEP}, {2 * CR_STEP}, ..., K user-days inspected per "
               f"day (CERT protocol, docs/scoring.md); nCR-K: the same over its K/{CR_STEP} terms")


def _compact() -> dict:
    from snoopbench.benchmarks.cli.scoring import _COMPACT

    return _COMPACT


def cr_table(result: ScoreResult) -> Table:
    """CR-K and nCR-K of each working detector of one dataset."""
    table = Table(title="cumulative recall at daily user-day budgets", caption=_CR_CAPTION,
                  caption_justify="left", **_compact())
    table.add_column("detector", overflow="fold")
    for k in CR_REPORTED:
        table.add_column(f"CR-{k}", justify="right")
        table.add_column(f"nCR-{k}", justify="right")
    rows = [d for d in result.detectors if d.ranks is not None]
    for d in sorted(rows, key=lambda d: (-(d.ranks.cumulative_recall(CR_REPORTED[0]) or (0, 0))[1],
                                         d.name)):
        cells = []
        for k in CR_REPORTED:
            cr = d.ranks.cumulative_recall(k)
            cells += ["–", "–"] if cr is None else [f"{cr[0]:.2f}", f"{cr[1]:.3f}"]
        table.add_row(escape(d.name), *cells)
    return table


def cr_bench_table(rows, scenario: str) -> Table:
    """A bench scenario's CR-K and nCR-K, means over seeds with the nCR interval."""
    table = Table(title=f"{escape(scenario)}: cumulative recall at daily user-day budgets",
                  caption=_CR_CAPTION + "; means over seeds [95% interval]",
                  caption_justify="left", **_compact())
    table.add_column("detector", overflow="fold")
    for k in CR_REPORTED:
        table.add_column(f"CR-{k}", justify="right")
        table.add_column(f"nCR-{k} [95%]", justify="right", no_wrap=True)
    for row in rows:
        cells = []
        for k in CR_REPORTED:
            cr, ncr = row.cumulative_recall.get(f"cr_{k}"), row.cumulative_recall.get(f"ncr_{k}")
            cells += [_mean(cr), _iv(ncr, ".3f")]
        table.add_row(escape(row.detector), *cells)
    return table


def _mean(iv: Interval | None) -> str:
    return "–" if iv is None else f"{iv.mean:.2f}"


def _iv(iv: Interval | None, fmt: str) -> str:
    if iv is None:
        return "–"
    if iv.low is None or iv.high is None:
        return format(iv.mean, fmt)
    return f"{iv.mean:{fmt}} [dim][{iv.low:{fmt}}–{iv.high:{fmt}}][/]"


def mark(p: Paired | None) -> str:
    """A leaderboard cell: the difference from the other detector, starred if significant."""
    if p is None:
        return ""
    return f"{0.0 - p.difference:+.2f}" + ("[bold]*[/]" if p.significant else " ")


COMPARE_CAPTION = ("Δ: recall minus that of the best / of the detector just above; * significant: "
                   + METHOD)


@app.command("compare")
def compare(
    results_a: Annotated[Path, typer.Argument(help="Results JSON of score or bench (A).")],
    results_b: Annotated[Path, typer.Argument(help="Results JSON over the same datasets (B).")],
    a: Annotated[Optional[str], typer.Option(
        "--a", help="Detector of A (default: its only one besides the baselines).")] = None,
    b: Annotated[Optional[str], typer.Option(
        "--b", help="Detector of B (default: its only one besides the baselines).")] = None,
    metric: Annotated[str, typer.Option(
        help=f"recall (at the files' budget) or ncr-K (K a multiple of {CR_STEP} up to "
             f"{RANK_CAP}).")] = "recall",
) -> None:
    """Is A better than B? A paired comparison over the same datasets, seeds and episodes.

    Exit 2 if the files are not over the same datasets (fingerprints), episodes and budget.
    """
    c = compare_files(results_a, results_b, a, b, metric.lower())
    table = Table(title=f"{escape(c.paired.a)} vs {escape(c.paired.b)}: {escape(metric)} per "
                        "dataset", **_compact())
    for col in ("dataset", "episodes", "A", "B", "A - B"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for label, n, x, y in zip(c.labels, c.n_episodes, c.a_values, c.b_values):
        table.add_row(escape(label), str(n), f"{x:.2f}", f"{y:.2f}", f"{x - y:+.2f}")
    console.print(table)
    console.print(escape(c.paired.sentence()), highlight=False)
    console.print(f"[dim]{c.paired.n_episodes} episodes over {c.paired.n_seeds} dataset(s); "
                  f"{escape(METHOD.replace(', Holm-corrected', ','))} (one comparison: no "
                  "correction)[/]", highlight=False)
