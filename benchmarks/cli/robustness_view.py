"""The robustness table (before and after each change of a dataset's timeline) for the CLI."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.results import ScoreResult
from snoopbench.benchmarks.robustness import WINDOW_DAYS, flag_text, flagged_changes


def _n(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def robustness_table(result: ScoreResult) -> Table | None:
    """One row per change and working detector: false alerts per day and recall in the four
    weeks before and after; None when the dataset has no timeline."""
    rows = [d for d in result.detectors if d.robustness]
    if not rows:
        return None
    table = Table(title=f"robustness: {WINDOW_DAYS} days before -> after each change",
                  caption="flag: false alerts at least doubled (x2) or recall at most halved (/2); "
                          "windows hold few episodes (n: episodes before/after)",
                  caption_justify="left", header_style="bold", pad_edge=False)
    for header in ("change", "date", "detector", "FA/day", "recall", "n", "flag"):
        table.add_column(header, justify="left" if header in ("change", "detector", "flag") else "right",
                         overflow="fold")
    changes = [(c["kind"], c["name"], c["date"]) for c in rows[0].robustness]
    for kind, name, date in changes:
        for d in rows:
            r = next((c for c in d.robustness if c["name"] == name and c["date"] == date), None)
            if r is None:
                continue
            b, a = r["before"], r["after"]
            flag = flag_text(r)
            table.add_row(escape(f"{name} ({kind})"), date, escape(d.name),
                          f"{_n(b['false_alerts_per_day'])} -> {_n(a['false_alerts_per_day'])}",
                          f"{_n(b['recall'])} -> {_n(a['recall'])}",
                          f"{b['n_episodes']}/{a['n_episodes']}",
                          f"[bold red]{flag}[/]" if flag else "")
    return table


def flag_lines(result: ScoreResult) -> list[str]:
    """A line per detector flagged at some change, for under the leaderboard."""
    return [f"{d.name}: flagged at {', '.join(flagged_changes(d.robustness))}"
            for d in result.detectors if flagged_changes(d.robustness)]
