"""The ``profile`` command: a dataset's realism figures against its calibration targets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.cli import app, console
from snoopbench.benchmarks.profile import Profile, profile_dataset


def profile_table(p: Profile) -> Table:
    """One row per check: figure, value, target, ok (green) or miss (red)."""
    met = sum(c.ok for c in p.checks)
    caption = "\n".join([
        f"{p.n_events:,} events · {p.n_staff:,} staff · {p.n_days} days · "
        f"{met} of {len(p.checks)} targets met",
        escape(f"legitimate = {p.legit_source}; relations from {p.relations_source}"),
        escape(f"targets: [calibration] of {p.targets_source}"),
    ])
    t = Table(title=escape(f"realism profile: {p.scenario} (seed {p.seed}) {p.dataset}"), caption=caption,
              caption_justify="left")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_column("ok", justify="center")
    for c in p.checks:
        ok = "[green]ok[/]" if c.ok else "[bold red]miss[/]"
        t.add_row(escape(c.name), escape(c.value_text), escape(c.target_text), ok)
    return t


def _worked(value: float | None, asked: float | None, fmt: str) -> str:
    """``worked (asked)``; the worked figure in red if it is far from the asked one."""
    if value is None:
        return "–"
    text = format(value, fmt)
    if asked is not None and abs(value - asked) > max(0.1 * abs(asked), 0.05):
        text = f"[bold red]{text}[/]"
    return f"{text} [dim]({format(asked, fmt) if asked is not None else '–'})[/]"


def rota_table(p: Profile) -> Table:
    """The rota pattern worked, by rota then by role, each figure with what the scenario asked."""
    t = Table(title="rota pattern worked (asked)", caption=escape(
        "duty days: shifts per staff member per day · longest run: consecutive days on, median "
        "over staff · night: shifts spanning 03:00 local"), caption_justify="left")
    for col in ("rota", "role", "staff", "shifts", "shift hours", "duty days", "longest run",
                "night share"):
        t.add_column(col, justify="left" if col in ("rota", "role") else "right")
    for r in p.rota:
        asked_hours = "/".join(f"{h:g}" for h in r.asked_shift_hours) or "–"
        hours = "–" if r.shift_hours is None else (
            f"{r.shift_hours:.1f} [dim]({asked_hours})[/]")
        t.add_row(escape(r.rota), escape(r.role or "all"), f"{r.staff:,}", f"{r.shifts:,}", hours,
                  _worked(r.duty_days, r.asked_duty_days, ".2f"),
                  _worked(r.longest_run, r.asked_longest_run, ".0f"),
                  _worked(r.night_share, r.asked_night_share, ".0%"),
                  end_section=r.role is None and r is p.rota[sum(x.role is None for x in p.rota) - 1])
    return t


def misuse_table(p: Profile) -> Table:
    """The misuse produced, by kind, against what the scenario asked."""
    t = Table(title="misuse produced (asked)", caption=escape(
        "asked: [misuse.kinds] episodes (+ at rate: staff_share_per_year or repeats may add more) · "
        "skills: naive/careful/expert made (asked mix) · events per episode: median [range] "
        "(lookups_min-max) · spread: days from first to last event, median [max] "
        "(duration_days_mean)"), caption_justify="left")
    for col in ("kind", "asked", "made", "skills n/c/e", "events/episode", "spread days"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for m in p.misuse or []:
        made = f"[bold red]{m.made}[/]" if m.short else str(m.made)
        skills = "/".join(str(m.by_skill[s]) for s in m.by_skill) + " [dim](" + "/".join(
            f"{v:.0%}" for v in m.asked_mix.values()) + ")[/]"
        events = "–" if m.events_median is None else (
            f"{m.events_median:.0f} [{m.events_range[0]}–{m.events_range[1]}]")
        spread = "–" if m.spread_days_median is None else (
            f"{m.spread_days_median:.1f} [{m.spread_days_max:.1f}]")
        t.add_row(escape(m.kind), f"{m.asked}{'+' if m.at_rate else ''}", made, skills,
                  escape(events) + f" [dim]({m.asked_lookups[0]}–{m.asked_lookups[1]})[/]",
                  escape(spread) + f" [dim]({m.asked_duration_days:g})[/]")
    return t


def print_authoring(p: Profile) -> None:
    console.print(rota_table(p))
    if p.misuse is None:
        console.print("misuse produced: the truth is sealed; pass --truth to compare it with the "
                      "scenario", highlight=False)
        return
    console.print(misuse_table(p))
    for m in p.misuse:
        if m.short:
            notes = m.notes or [f"misuse.kinds.{m.kind}.episodes: {m.asked} asked for, {m.made} made "
                                "(the run kept no note of why: made before snoopbench kept them)"]
            for note in notes:
                console.print(f"[bold yellow]short:[/] {escape(note)}", highlight=False)


@app.command()
def profile(
    dataset: Path = typer.Argument(..., help="dataset directory"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="write PNG plots into this folder"),
    truth: Optional[Path] = typer.Option(None, "--truth",
                                         help="sealed truth folder (labels, relations)"),
) -> None:
    """Realism figures of a dataset against its calibration targets (a report: exit 0)."""
    if plots is not None:
        from snoopbench.benchmarks.profile_plots import pyplot

        pyplot()  # fail before the pass over the events if matplotlib is missing
    result = profile_dataset(dataset, truth)
    console.print(profile_table(result))
    print_authoring(result)
    if plots is not None:
        from snoopbench.benchmarks.profile_plots import write_plots

        for path in write_plots(result, plots):
            console.print(f"wrote {escape(str(path))}", highlight=False)
