"""The ``bench`` command: simulate worlds, score detectors on each (see benchmarks.bench)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.bench import SUITE, BenchResult, ScenarioRun, run_bench
from snoopbench.benchmarks.cli import app, console
from snoopbench.benchmarks.cli.online import ONLINE_HELP, REGIME_HELP
from snoopbench.benchmarks.cli.progress import PROGRESS_HELP, ProgressView
from snoopbench.benchmarks.cli.compare import COMPARE_CAPTION, cr_bench_table, mark
from snoopbench.benchmarks.cli.scoring import (_COMPACT, JSON_HELP, MEM_HELP, SANDBOX_HELP,
                                              SPEC_HELP, check_json_target, write_results)
from snoopbench.benchmarks.metrics import Interval


def _iv(iv: Interval | None, fmt: str = ".2f") -> str:
    if iv is None:
        return "–"
    if iv.low is None or iv.high is None:
        return format(iv.mean, fmt)
    return f"{iv.mean:{fmt}} [dim][{iv.low:{fmt}}–{iv.high:{fmt}}][/]"


def _mean(iv: Interval | None, fmt: str = ".2f") -> str:
    return "–" if iv is None else format(iv.mean, fmt)


def bench_table(result: BenchResult, info: ScenarioRun) -> Table:
    """One scenario's leaderboard: means over seeds, recall with its 95% interval."""
    rows = result.rows(info.name)
    errors = [f"[red]{escape(r.detector)}[/] {status} on seed{'s' * (len(seeds) > 1)} "
              f"{', '.join(map(str, seeds))}: {escape(str(reason))}"
              for r in rows for status, reason, seeds in r.failures()]
    caption = "\n".join(
        [f"means over {len(info.seeds)} seeds ({info.seeds[0]}..{info.seeds[-1]}) · budget "
         f"{result.budget:g} alerts/day/1,000 staff · {info.staff:,} staff · {info.days} days"]
        + errors
        + [f"[bold yellow]robustness: {escape(r.detector)} flagged at {escape('; '.join(r.robustness_flags))}[/]"
           for r in rows if r.robustness_flags])
    table = Table(title=f"{escape(info.name)}: leaderboard", caption=caption, caption_justify="left",
                  **_COMPACT)
    table.add_column("detector", min_width=12, overflow="fold")
    table.add_column("status", no_wrap=True)
    for header in ("recall [95%]", "Δ best\n·above", "prec.", "FA/day", "TTD d\nmedian",
                   "event\nAP"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        style = "green" if row.status == "ok" else "red"
        delta = " ".join(x for x in (mark(row.vs_best), mark(row.vs_above)) if x)
        table.add_row(escape(row.detector), f"[{style}]{row.status}[/]", _iv(row.get("recall")),
                      delta, _mean(row.get("precision")), _mean(row.get("false_alerts_per_day")),
                      _mean(row.get("ttd_median_days"), ".1f"),
                      _mean(row.get("average_precision"), ".3f"))
    table.caption += "\n" + COMPARE_CAPTION
    return table


def skills_bench_table(result: BenchResult, info: ScenarioRun) -> Table:
    """Recall by skill (mean over seeds, 95% interval) and explanation accuracy (pooled)."""
    from snoopbench.contract.schema import SKILLS

    rows = [r for r in result.rows(info.name) if r.recall_by_skill]
    skills = sorted({s for r in rows for s in r.recall_by_skill},
                    key=lambda s: SKILLS.index(s) if s in SKILLS else len(SKILLS))
    table = Table(title=f"{escape(info.name)}: recall by skill; explanations", **_COMPACT)
    table.add_column("detector", min_width=12, overflow="fold")
    for s in skills:
        table.add_column(s, justify="right", no_wrap=True)
    table.add_column("names\ntarget", justify="right")
    for r in rows:
        x = r.explained
        table.add_row(escape(r.detector), *[_iv(r.recall_by_skill.get(s)) for s in skills],
                      "–" if x is None or x.accuracy is None else
                      f"{x.accuracy:.2f} [dim]({x.n_named_target}/{x.n_caught})[/]")
    return table


def kind_skill_bench_table(result: BenchResult, info: ScenarioRun) -> Table:
    """Recall by misuse kind x skill: episodes caught out of present, pooled over seeds."""
    rows = [r for r in result.rows(info.name) if r.episodes_by_kind_skill]
    table = Table(title=f"{escape(info.name)}: recall by kind x skill (pooled over seeds)",
                  **_COMPACT)
    table.add_column("kind / skill", overflow="fold")
    table.add_column("episodes", justify="right")
    for r in rows:
        table.add_column(escape(r.detector), justify="right", overflow="fold", min_width=6)
    for g in sorted({g for r in rows for g in r.episodes_by_kind_skill}):
        n = max(r.episodes_by_kind_skill.get(g, 0) for r in rows)
        table.add_row(escape(g), str(n), *[
            f"{r.caught_by_kind_skill.get(g, 0) / r.episodes_by_kind_skill[g]:.2f}"
            if r.episodes_by_kind_skill.get(g) else "–" for r in rows])
    return table


@app.command("bench")
def bench(
    scenarios: Annotated[Optional[list[str]], typer.Argument(
        help=f"Scenario files or shipped names (default: {', '.join(SUITE)}).")] = None,
    seeds: Annotated[int, typer.Option(
        help="Seeds per scenario: its own seed, then seed+1, seed+2, ...")] = 3,
    detector: Annotated[Optional[list[str]], typer.Option(
        "--detector", "-d", help=SPEC_HELP + " Default: every built-in detector.")] = None,
    report: Annotated[Optional[Path], typer.Option(
        help="Write an HTML report (index.html, plots, results.json) into this folder.")] = None,
    budget: Annotated[float, typer.Option(help="Alerts per day per 1,000 staff.")] = 5.0,
    days: Annotated[Optional[int], typer.Option(help="Override each scenario's duration.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes per simulation.")] = 1,
    keep: Annotated[Optional[Path], typer.Option(
        help="Keep the datasets here (as SCENARIO-seedN) instead of deleting them.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help=JSON_HELP)] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per detector per run.")] = None,
    sealed: Annotated[Optional[bool], typer.Option(
        "--sealed/--open-seeds",
        help="Sealed worlds with secret seeds, revealed in the results after scoring (default with "
             "--report, for a leaderboard meant for publication), or the scenario's seed, seed+1, ...")] = None,
    mem_limit_mb: Annotated[Optional[int], typer.Option("--mem-limit-mb", help=MEM_HELP)] = None,
    require_sandbox: Annotated[bool, typer.Option(
        "--require-sandbox", help=SANDBOX_HELP)] = False,
    progress: Annotated[bool, typer.Option("--progress", help=PROGRESS_HELP)] = False,
    online: Annotated[bool, typer.Option("--online", help=ONLINE_HELP)] = False,
    regime: Annotated[str, typer.Option(help=REGIME_HELP)] = "monitoring-team",
    feedback_delay: Annotated[Optional[str], typer.Option(
        "--feedback-delay", help="Online: verdict delay distribution; default the regime's.")] = None,
    feedback_delay_days: Annotated[Optional[float], typer.Option(
        "--feedback-delay-days", help="Online: mean verdict delay, days (>= 0).")] = None,
) -> None:
    """Simulate each scenario at several seeds and score detectors on each: the leaderboard.

    Baselines null and random are always in. A detector failing on a seed gets its status.
    """
    if report is not None:
        from snoopbench.benchmarks.bench_report import check_report_dir

        check_report_dir(report)  # no matplotlib, or no folder: say so before a long run
    check_json_target(json_path, keep)
    view = ProgressView.choose(progress)
    on = view.mode != "off"
    with view.shown():
        result = run_bench(scenarios=scenarios or (), seeds=seeds, specs=detector, budget=budget,
                           days=days, workers=workers, keep=keep, timeout=timeout,
                           mem_limit_mb=mem_limit_mb, require_sandbox=require_sandbox,
                           sealed=report is not None if sealed is None else sealed,
                           progress=view.run if on else None,
                           detector_progress=view.detector if on and not online else None,
                           online=dict(regime=regime, feedback_delay=feedback_delay,
                                       feedback_delay_days=feedback_delay_days) if online else None)
    for info in result.scenarios:
        console.print(bench_table(result, info))
        console.print(cr_bench_table(result.rows(info.name), info.name))
        console.print(skills_bench_table(result, info))
        console.print(kind_skill_bench_table(result, info))
    for note in dict.fromkeys(n for r in result.runs for n in r.result.notes):
        if note.startswith("WARNING"):
            console.print(f"[bold yellow]{note}[/]")
    if json_path is not None:
        write_results(result, json_path)
    if report is not None:
        from snoopbench.benchmarks.bench_report import write_report

        console.print(f"report written to {escape(str(write_report(result, report)))}",
                      highlight=False)
