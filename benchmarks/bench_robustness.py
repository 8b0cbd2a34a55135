"""The robustness section of a bench's HTML report: before and after each change of a
scenario's timeline, per detector, averaged over the seeds (see :mod:`benchmarks.robustness`)."""

from __future__ import annotations

import html
from typing import Sequence

from snoopbench.benchmarks.robustness import WINDOW_DAYS, flag_text


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _n(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def robustness_html(runs: Sequence) -> list[str]:
    """HTML for one scenario's runs (``benchmarks.bench.Run``); nothing if it has no timeline."""
    per: dict[tuple[str, str, str], dict[str, list[dict]]] = {}
    for run in runs:
        for d in run.result.detectors:
            for r in d.robustness:
                per.setdefault((r["date"], r["name"], r["kind"]), {}).setdefault(d.name, []).append(r)
    if not per:
        return []
    parts = [
        "<h3>Robustness to organisational change</h3>",
        f"<p>For each change of the scenario's timeline, each detector's false alerts per day and "
        f"recall in the {WINDOW_DAYS} days before and the {WINDOW_DAYS} after (means over seeds). "
        "<b>Flagged</b>: false alerts at least doubled, or recall at most halved, on some seed. "
        "Four weeks hold few episodes (n: before/after, summed over seeds): a flag says where to "
        "look, not that a detector is proven fragile.</p>",
        "<table><tr><th>change</th><th>date</th><th>detector</th><th>false alerts/day<br>before"
        "</th><th>after</th><th>recall<br>before</th><th>after</th><th>n</th>"
        '<th class="l">flag</th></tr>',
    ]
    for (date, name, kind), by_det in sorted(per.items()):
        for det, rows in sorted(by_det.items()):
            flags = sorted({flag_text(r) for r in rows if flag_text(r)})
            nb = sum(r["before"]["n_episodes"] for r in rows)
            na = sum(r["after"]["n_episodes"] for r in rows)
            parts.append(
                f"<tr><td>{_e(name)} ({_e(kind)})</td><td>{_e(date)}</td><td><code>{_e(det)}</code></td>"
                f"<td>{_n(_mean([r['before']['false_alerts_per_day'] for r in rows]))}</td>"
                f"<td>{_n(_mean([r['after']['false_alerts_per_day'] for r in rows]))}</td>"
                f"<td>{_n(_mean([r['before']['recall'] for r in rows]))}</td>"
                f"<td>{_n(_mean([r['after']['recall'] for r in rows]))}</td><td>{nb}/{na}</td>"
                f'<td class="l">{"<span class=bad>" + _e("; ".join(flags)) + "</span>" if flags else ""}</td></tr>')
    parts.append("</table>")
    return parts
