"""Tables of the online protocol (``score --online``): learning curves, first catch, fatigue."""

from __future__ import annotations

from rich import box
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.cli import console
from snoopbench.benchmarks.results import ScoreResult

ONLINE_HELP = ("Online protocol: score day by day; the day's alerts go to a simulated reviewer "
               "whose verdicts reach the detector after a delay (docs/detectors.md).")
REGIME_HELP = "Online: regime (shipped name or file) giving the reviewer's confirm chances and delay."
_COMPACT = dict(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def learning_table(result: ScoreResult) -> Table:
    """Precision / recall by month: one row per month, one column pair per working detector."""
    rows = [d for d in result.detectors if d.online]
    table = Table(title="learning curve: precision / recall by month", **_COMPACT)
    table.add_column("month")
    for d in rows:
        table.add_column(escape(d.name), justify="right", overflow="fold")
    months = [m["month"] for m in rows[0].online["by_month"]] if rows else []
    for i, month in enumerate(months):
        table.add_row(month, *[f"{_f(d.online['by_month'][i]['precision'])} / "
                               f"{_f(d.online['by_month'][i]['recall'])}" for d in rows])
    return table


def summary_table(result: ScoreResult) -> Table:
    """Per detector: alerts until the first catch, verdicts, alert fatigue."""
    table = Table(title="online: verdicts and fatigue", **_COMPACT)
    for col in ("detector", "alerts to\\nfirst catch", "confirmed", "cleared", "delivered",
                "repeat FA", "fatigue"):
        table.add_column(col.replace("\\n", "\n"), justify="left" if col == "detector" else "right")
    for d in result.detectors:
        o = d.online
        if not o:
            continue
        v = o["verdicts"]
        table.add_row(escape(d.name), _f(o["alerts_to_first_catch"], "d"), str(v["confirmed"]),
                      str(v["cleared"]), str(v["delivered"]), str(o["repeat_false_alerts"]),
                      _f(o["fatigue"]))
    return table


def print_online(result: ScoreResult) -> None:
    console.print(learning_table(result))
    console.print(summary_table(result))
    o = result.online or {}
    r = o.get("reviewer", {})
    console.print(f"[dim]reviewer from regime {escape(str(o.get('regime')))}: confirm "
                  f"{r.get('confirm')}, verdicts after {r.get('delay')} delay, mean "
                  f"{r.get('delay_mean_days')} days; online run {o.get('seconds', 0):.1f} s[/]",
                  highlight=False)
