"""The ``assess`` command: monitoring regimes over simulated force-years (see benchmarks.assess)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from snoopbench.benchmarks.assess import FOUND_BY, describe_intensity, run_assess
from snoopbench.benchmarks.cli import app, console, err_console
from snoopbench.benchmarks.cli.scoring import _COMPACT, check_json_target
from snoopbench.contract.errors import InputError


def iv(x: dict[str, Any] | None, fmt: str = ".1f") -> str:
    if x is None:
        return "–"
    if x.get("low") is None and x.get("high") is None:
        return format(x["mean"], fmt)
    lo, hi = (("–" if x.get(k) is None else format(x[k], fmt)) for k in ("low", "high"))
    return f"{x['mean']:{fmt}} [{lo}–{hi}]"


def regime_table(result: dict[str, Any]) -> Table:
    sample = (f", simulated as a sample of {result.get('simulated_staff'):,} scaled up"
              if result.get("simulated_staff", result["staff"]) != result["staff"] else "")
    t = Table(title=f"{result['scenario']}: misusers found, per regime ({result['days']} days, "
                    f"{result['staff']:,} staff{sample}, {len(result['seeds'])} seeds)",
              caption="means over seeds [95% interval]; dark = never found", caption_justify="left",
              **_COMPACT)
    for h in ("regime", "active", "found", *FOUND_BY, "dark", "disciplined", "dismissed", "days to find",
              "reviewed/day"):
        t.add_column(h, justify="left" if h == "regime" else "right")
    for s in result["regimes"]:
        f = s["figures"]
        t.add_row(s["regime"], iv(f["active"]), iv(f["found"]), *(iv(f[f"found_{r}"]) for r in FOUND_BY),
                  iv(f["never_found"]), iv(f["disciplined"]), iv(f["dismissed_or_resigned"]),
                  iv(f["days_to_find_median"]), iv(f["reviewed_per_day"]))
    return t


def group_table(result: dict[str, Any], group: str) -> Table:
    t = Table(title=f"found / active, {group.replace('_', ' ')}", **_COMPACT)
    keys = sorted({k for s in result["regimes"] for k in s[group]})
    t.add_column(group.removeprefix("by_"))
    for s in result["regimes"]:
        t.add_column(s["regime"], justify="right")
    for k in keys:
        cells = []
        for s in result["regimes"]:
            c = s[group].get(k)
            cells.append("–" if c is None else f"{c['found']['mean']:.1f} / {c['active']['mean']:.1f}")
        t.add_row(k, *cells)
    return t


def published_table(result: dict[str, Any]) -> Table:
    t = Table(title="published counts against the model", caption=(
        "model: expected count for that workforce and period; misuse rate: misusers per 1,000 staff a "
        "year consistent with the published count under the regime; share needed: share of the model's "
        "misusers a force must find and count to publish it; intensity: the factor on the regime's review "
        "capacity and audit share at which the model gives the published count, at the model's misuse "
        "rate"), caption_justify="left", **_COMPACT)
    for h in ("force", "period", "counted", "published", "regime", "model", "misuse rate", "share needed",
              "model share", "intensity"):
        t.add_column(h, justify="right" if h in ("published", "model") else "left")
    for r in result["published"]:
        t.add_row(r["force"], r["period"], r["counted"], str(r["published"]), r["regime"], iv(r["model"]),
                  iv(r["misuse_per_1000_staff_year"], ".2f"), iv(r["share_found_needed"], ".3f"),
                  iv(r["share_found_model"], ".3f"), describe_intensity(r["intensity"], settings=False))
    return t


def _progress():
    if not sys.stderr.isatty():
        def plain(what: str, done: int, total: int) -> None:
            err_console.print(f"assess [{done}/{total}] {what}", highlight=False)
        return None, plain
    bar = Progress(TextColumn("[bold]assess"), BarColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=err_console, transient=True)
    task = bar.add_task("", total=1)

    def update(what: str, done: int, total: int) -> None:
        bar.update(task, description=what, completed=done, total=total)

    return bar, update


@app.command("assess")
def assess(
    scenario: Annotated[str, typer.Argument(help="Scenario file or shipped name.")],
    regime: Annotated[list[str], typer.Option(
        "--regime", "-r", help="Regime file or shipped name (repeat for several).")],
    years: Annotated[float, typer.Option(help="Years to simulate (duration_days = 365 x N).")] = 1.0,
    days: Annotated[Optional[int], typer.Option(help="Days to simulate instead of --years.")] = None,
    seeds: Annotated[int, typer.Option(help="Worlds: the scenario's seed, seed+1, ...")] = 3,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the assessment JSON here.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML report into this folder.")] = None,
    compare: Annotated[Optional[str], typer.Option(
        help="'published': set the model next to the published counts.")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per detector per world.")] = None,
    jobs: Annotated[int, typer.Option(help="Detectors run at once.")] = 1,
    workers: Annotated[int, typer.Option(help="Worker processes per simulation.")] = 1,
    sample_staff: Annotated[Optional[int], typer.Option(
        help="Simulate this many staff and scale the counts to the force's size (a large force).")] = None,
    overlap: Annotated[bool, typer.Option(
        help="Simulate the next world in a second process while this one is assessed.")] = True,
) -> None:
    """Run monitoring regimes over simulated force-years: who is found, by which route, and who never is."""
    check_json_target(json_path)
    if report is not None:
        from snoopbench.benchmarks.assess_report import check_report_dir

        check_report_dir(report)
    bar, update = _progress()
    kwargs = dict(years=years, days=days, seeds=seeds, timeout=timeout, jobs=jobs, workers=workers,
                  compare=compare, sample_staff=sample_staff, overlap=overlap, progress=update)
    if bar is not None:
        with bar:
            result = run_assess(scenario, regime, **kwargs)
    else:
        result = run_assess(scenario, regime, **kwargs)
    console.print(regime_table(result))
    console.print(group_table(result, "by_kind"))
    console.print(group_table(result, "by_skill"))
    for s in result["regimes"]:
        for name, fails in s["detector_failures"].items():
            console.print(f"[red]{s['regime']}: detector {name} {fails[0]['status']} on "
                          f"{len(fails)} world(s): {fails[0]['error']}[/]", highlight=False)
    if compare:
        console.print(published_table(result))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write ({exc.strerror})", file=str(json_path), key="--json") from exc
        console.print(f"assessment written to {json_path}")
    if report is not None:
        from snoopbench.benchmarks.assess_report import write_report

        console.print(f"report written to {write_report(result, report)}")
