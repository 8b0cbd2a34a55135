"""Data commands: simulate, verify, scenarios list/show/validate, demo."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from snoopbench.benchmarks.cli import app, console, err_console, scenarios_app
from snoopbench.simulator import scenario as scenario_mod
from snoopbench.contract.manifest import verify as verify_dataset
from snoopbench.contract.errors import ScenarioError
from snoopbench.simulator.run import SimulationResult, simulate as run_simulation


def _progress_bar(quiet: bool):
    """A rich progress bar on a terminal; nothing for --quiet or a pipe."""
    if quiet or not sys.stderr.isatty():
        return None, None
    bar = Progress(TextColumn("[bold]simulating"), BarColumn(), TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
                   TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn(), console=console,
                   transient=True)
    task = bar.add_task("sim", total=1, events=0)

    def update(days: int, total: int, events: int) -> None:
        bar.update(task, completed=days, total=total, events=events)

    return bar, update


def _summary(r: SimulationResult) -> Table:
    t = Table(title=escape(f"{r.scenario} (seed {r.seed}) -> {r.out}"), show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("days", f"{r.days}")
    t.add_row("staff", f"{r.staff:,}")
    t.add_row("events", f"{r.events:,}")
    t.add_row("events per day", f"{r.events / max(r.days, 1):,.0f}")
    t.add_row("misuse episodes", f"{r.episodes:,}")
    t.add_row("labelled events", f"{r.labelled_events:,}")
    for name in ("people", "incidents", "crimes", "shifts", "tasking"):
        t.add_row(f"context/{name}", f"{r.files.get(f'context/{name}.parquet', 0):,}")
    t.add_row("truth", escape(str(r.truth_dir)))
    t.add_row("seconds", f"{r.seconds:.1f}")
    t.add_row("events per second", f"{r.events_per_s:,.0f}")
    t.add_row("fingerprint", r.fingerprint[:16])
    return t


@app.command()
def simulate(
    scenario: str = typer.Argument(..., help="scenario file, or the name of a shipped one"),
    out: Path = typer.Option(..., "--out", help="dataset directory to create"),
    seed: Optional[int] = typer.Option(None, help="override the scenario's seed"),
    days: Optional[int] = typer.Option(None, help="override the scenario's duration"),
    workers: int = typer.Option(1, help="local worker processes"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address tcp://HOST:PORT"),
    sealed: Optional[Path] = typer.Option(None, help="write truth/ to this folder instead"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar, no summary"),
) -> None:
    """Simulate a scenario into a dataset directory."""
    if sealed is not None and seed is not None:
        err_console.print("warning: --seed with --sealed: the seal is only as secret as that seed; "
                          "without --seed, a secret one is drawn and kept with the truth", markup=False)
    bar, update = _progress_bar(quiet)
    if bar is not None:
        with bar:
            result = run_simulation(scenario, out, seed=seed, days=days, workers=workers, scheduler=scheduler,
                                    sealed=sealed, progress=update)
    else:
        result = run_simulation(scenario, out, seed=seed, days=days, workers=workers, scheduler=scheduler,
                                sealed=sealed)
    if not quiet:
        console.print(_summary(result))
    for w in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False, soft_wrap=True)


@app.command()
def verify(dataset: Path = typer.Argument(..., help="dataset directory"),
           truth: Optional[Path] = typer.Option(None, help="sealed truth folder to check too")) -> None:
    """Re-hash every file, recompute the fingerprint, check scenario.toml and the manifest (and the
    truth with --truth); exit 1 naming the first file that does not match."""
    r = verify_dataset(dataset, truth, check_scenario=scenario_mod.check_dataset_scenario)
    console.print(f"ok: {r.checked} files and {r.truth_checked} truth files match the manifest; "
                  f"fingerprint {r.fingerprint[:16]} recomputed from the contents", markup=False)
    if r.seed is not None and truth is not None:
        console.print(f"the truth holds the seed: {r.seed}", markup=False)
    if r.version_notes:
        made = ", ".join(f"{k} {old} (running {new})" for k, (old, new) in sorted(r.version_notes.items()))
        console.print(f"note: made with {made}; the same scenario and seed should give the same data with these, "
                      "and if re-simulating gives another fingerprint, they are where to look", markup=False)


@scenarios_app.command("list")
def scenarios_list() -> None:
    """The shipped scenarios."""
    t = Table(title="shipped scenarios")
    for c in ("name", "file", "staff", "days", "areas", "description"):
        t.add_column(c)
    for path in scenario_mod.shipped():
        s = scenario_mod.load(path)
        t.add_row(escape(s.name), escape(path.name), f"{s['force']['staff']:,}", str(s.days),
                  str(len(s.areas)), escape(s["description"]))
    console.print(t)


@scenarios_app.command("show")
def scenarios_show(path: str = typer.Argument(..., help="scenario file or shipped name")) -> None:
    """The fully resolved scenario (extends merged, defaults filled in), as TOML."""
    s = scenario_mod.load(scenario_mod.find(path))
    sys.stdout.write(s.to_toml())
    for note in s.notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)


@scenarios_app.command("validate")
def scenarios_validate(paths: list[str] = typer.Argument(..., help="scenario files")) -> None:
    """Validate scenario files; exit 2 on the first problem, naming file and key."""
    for p in paths:
        s = scenario_mod.load(scenario_mod.find(p))
        console.print(escape(f"ok: {p} ({s.name}, {s['force']['staff']:,} staff, {s.days} days)"))
        for note in s.notes:
            console.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(out: Optional[Path] = typer.Option(None, help="keep the dataset here (default: a temporary folder)"),
         workers: int = typer.Option(1)) -> None:
    """Simulate the tiny scenario and show what was generated, then score the built-in detectors."""
    path = scenario_mod.SCENARIO_DIR / "tiny.toml"
    if not path.exists():
        raise ScenarioError("the shipped tiny scenario is missing", file=str(path))
    with tempfile.TemporaryDirectory(prefix="snoopbench-demo-") as tmp:
        target = out or Path(tmp) / "tiny"
        bar, update = _progress_bar(False)
        if bar is not None:
            with bar:
                result = run_simulation(path, target, workers=workers, progress=update)
        else:
            result = run_simulation(path, target, workers=workers)
        console.print(_summary(result))
        from snoopbench.benchmarks.cli.scoring import kinds_table, leaderboard_table
        from snoopbench.benchmarks.harness import score_dataset
        from snoopbench.detectors.registry import BUILTIN

        scored = score_dataset(target, sorted(BUILTIN))
        console.print(leaderboard_table(scored, title="leaderboard: built-in detectors on the tiny scenario"))
        console.print(kinds_table(scored))
