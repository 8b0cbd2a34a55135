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
    if plots is not None:
        from snoopbench.benchmarks.profile_plots import write_plots

        for path in write_plots(result, plots):
            console.print(f"wrote {escape(str(path))}", highlight=False)
