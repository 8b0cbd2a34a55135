"""The HTML report of a bench: ``DIR/index.html``, its PNG plots and ``DIR/results.json``.

The page needs no terminal and no network: CSS inline, plots as PNG files next to it (linked
relatively), every piece of text escaped.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Iterable

from snoopbench.benchmarks.bench import BenchResult, Row, ScenarioRun
from snoopbench.benchmarks.bench_plots import _colours, write_plots
from snoopbench.benchmarks.compare import METHOD, Paired
from snoopbench.benchmarks.episodes import write_episodes
from snoopbench.benchmarks.episodes_report import episode_sections
from snoopbench.benchmarks.harness import BASELINES
from snoopbench.benchmarks.metrics import Interval
from snoopbench.benchmarks.profile_plots import pyplot
from snoopbench.contract.errors import InputError

INDEX = "index.html"
RESULTS = "results.json"

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.sub { color: #666; margin-top: 0; }
.read { background: #f4f6f8; border-left: 4px solid #4a78a8; padding: 0.1em 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e2e2e2; text-align: right;
         vertical-align: top; }
th { background: #f4f6f8; } th:first-child, td:first-child { text-align: left; }
td.l, th.l { text-align: left; }
.iv { display: block; color: #777; font-size: 0.85em; white-space: nowrap; }
.base td:first-child { color: #666; font-style: italic; }
.ok { color: #1b7a3a; } .bad { color: #b3261e; font-weight: 600; white-space: nowrap; }
code { font-size: 0.9em; word-break: break-all; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.sw { display: inline-block; width: 1.6em; font-weight: 700; }
.sig { color: #1d1d1f; font-weight: 700; } .ns { color: #999; }
"""

_HOW_TO_READ = (
    "Each scenario was simulated at several seeds: different synthetic forces with different "
    "misuse, drawn from the same recipe. Every detector scored every event, and the harness "
    "turned the scores into alerts, one per user-day (one member of staff on one day). The "
    "<b>budget</b> is how many alerts a professional standards team can review: {budget} "
    "alerts per day per 1,000 staff, the highest-scoring user-days of each day.",
    "<b>Recall</b> is the share of misuse episodes caught: at least one of an episode's "
    "user-days was alerted. <b>Precision</b> is the share of alerts that held misuse; "
    "<b>false alerts per day</b> are the others, each one a review wasted. <b>Time to "
    "detect</b> counts days from an episode's first misuse to the first alert that caught it. "
    "<b>Event AP</b> (average precision) ranks single events by score, without a budget.",
    "Figures are means over seeds; the grey range under each is the 95% interval of that mean, "
    "wide when seeds disagree or are few (for shares such as recall a Wilson interval, so it "
    "never leaves 0 to 1). Overlapping intervals do not mean two detectors are alike: the "
    "<b>Δ</b> columns compare each detector with the best and with the one just above it on the "
    "very same episodes (a paired test), and mark with * the differences that hold after "
    "correcting for the number of comparisons. <b>nCR-400</b> and <b>nCR-1000</b> are the "
    "normalised cumulative recall of the insider-threat literature (CERT): the mean recall when "
    "an analyst inspects 25, 50, ... up to 400 or 1,000 user-days a day. The <b>null</b> detector (never alerts) and the "
    "<b>random</b> detector (alerts at random) are the floor: a detector earns its reviews "
    "only where it clearly beats them.",
)


def e(value: object) -> str:
    """Text escaped for HTML (content and attribute values)."""
    return html.escape(str(value), quote=True)


def check_report_dir(out_dir: str | Path) -> Path:
    """Fail early, before a long bench, if the report cannot be written: no matplotlib, or
    ``out_dir`` not a folder that could be created. Creates nothing."""
    pyplot()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("expected a folder for the report", file=str(out))
    parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the report: {parent} is not a writable folder",
                         file=str(out))
    return out


def write_report(result: BenchResult, out_dir: str | Path) -> Path:
    """Write ``index.html``, the plots and ``results.json`` into ``out_dir``; return the page."""
    out = check_report_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the report folder ({exc.strerror})",
                         file=str(out)) from exc
    result.write_json(out / RESULTS)
    write_episodes(result, out / RESULTS)
    plots = write_plots(result, out)
    page = out / INDEX
    page.write_text(render(result, {k: [(t, p.name) for t, p in v] for k, v in plots.items()}),
                    encoding="utf-8")
    return page


def render(result: BenchResult, plots: dict[str, list[tuple[str, str]]]) -> str:
    """The page as a string; ``plots`` maps a scenario to (title, relative file name) pairs."""
    names = ", ".join(s.name for s in result.scenarios)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>snoopbench report: {e(names)}</title><style>{_CSS}</style></head><body>",
        "<h1>snoopbench benchmark report</h1>",
        f'<p class="sub">{e(names)} · {e(result.started)} · snoopbench {e(result.version)}</p>',
        "<h2>How to read this</h2>",
        '<div class="read">', *(f"<p>{p.format(budget=e(f'{result.budget:g}'))}</p>"
                                 for p in _HOW_TO_READ), "</div>",
        *_what_was_run(result),
    ]
    for info in result.scenarios:
        parts += _scenario_section(info, result.rows(info.name), result, plots.get(info.name, []))
    parts.append(f'<p class="sub">Every number on this page, and each run\'s full results, '
                 f'are in <a href="{RESULTS}">{RESULTS}</a> (format snoopbench/bench/v1).</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _what_was_run(result: BenchResult) -> list[str]:
    rows = []
    for info in result.scenarios:
        runs = [r for r in result.runs if r.scenario == info.name]
        prints = "<br>".join(
            f'seed {e(r.seed)}: <code title="{e(r.fingerprint)}">{e(r.fingerprint[:16])}</code>'
            for r in runs)
        events = sum(r.result.n_events for r in runs) // max(len(runs), 1)
        episodes = sum(r.result.n_episodes for r in runs) // max(len(runs), 1)
        rows.append(
            f'<tr><td>{e(info.name)}<br><code>{e(Path(info.file).name)}</code></td>'
            f"<td>{info.staff:,}</td><td>{info.days} ({info.warmup_days} warm-up)</td>"
            f"<td>{events:,}</td><td>{episodes:,}</td><td class=\"l\">{prints}</td></tr>")
    sweep = ", ".join(f"{b:g}" for b in result.sweep_budgets)
    return [
        "<h2>What was run</h2>",
        "<table><tr><th>scenario</th><th>staff</th><th>days</th>"
        "<th>events scored<br>(mean per seed)</th><th>episodes<br>(mean per seed)</th>"
        '<th class="l">seeds and dataset fingerprints</th></tr>', *rows, "</table>",
        "<p>Detectors: " + ", ".join(f"<code>{e(d)}</code>" for d in result.detectors) + ".<br>"
        f"Headline budget: {e(f'{result.budget:g}')} alerts per day per 1,000 staff; "
        f"recall was also measured at {e(sweep)} from the same scores, without running the "
        f"detectors again.<br>Started {e(result.started)}, took {result.seconds:,.0f} s; "
        f"snoopbench {e(result.version)}. The same scenario files and seeds give the same "
        "fingerprints, so anyone can rebuild these datasets.</p>",
    ]


def _iv(iv: Interval | None, fmt: str = ".2f") -> str:
    if iv is None:
        return "–"
    text = e(format(iv.mean, fmt))
    if iv.low is not None and iv.high is not None:
        text += f'<span class="iv">[{e(format(iv.low, fmt))}–{e(format(iv.high, fmt))}]</span>'
    return text


#: The plot's marker of each detector, as a character beside its name in the tables.
_GLYPHS = {"o": "●", "s": "■", "^": "▲", "D": "◆", "v": "▼", "P": "✚", "X": "✖", "<": "◀",
           ">": "▶", "h": "⬢", "*": "★", "p": "⬟"}


def _delta(p: Paired | None) -> str:
    """A Δ cell: this row's recall minus the other's (the pair is other - this), starred if
    significant, with its interval."""
    if p is None:
        return ""
    star = '<span class="sig">*</span>' if p.significant else '<span class="ns">&nbsp;</span>'
    return (f"{0.0 - p.difference:+.2f}{star}<span class=\"iv\">[{0.0 - p.high:+.2f}, "
            f"{0.0 - p.low:+.2f}]</span>")


def _scenario_section(info: ScenarioRun, rows: list[Row], result: BenchResult,
                      plots: Iterable[tuple[str, str]]) -> list[str]:
    seeds = ", ".join(str(s) for s in info.seeds)
    per_day = {r.result.alerts_per_day for r in result.runs if r.scenario == info.name}
    cap = (f" (= {per_day.pop()} alerts a day for {info.staff:,} staff)"
           if len(per_day) == 1 and None not in per_day else "")
    parts = [f"<h2>{e(info.name)}</h2>",
             f"<p>{len(info.seeds)} seeds ({e(seeds)}), {info.days} days each "
             f"({info.warmup_days} of warm-up, not scored); budget {e(f'{result.budget:g}')} "
             f"alerts per day per 1,000 staff{cap}. Best recall first.</p>",
             "<table><tr><th>detector</th><th class=\"l\">status</th><th>recall"
             "</th><th>Δ recall<br>vs best</th><th>Δ recall<br>vs above</th>"
             "<th>precision</th><th>false alerts<br>per day</th><th>time to detect<br>"
             "median, days</th><th>event AP</th><th>nCR-400</th><th>nCR-1000</th></tr>"]
    colours = _colours([r.detector for r in rows])
    for row in rows:
        css = ' class="base"' if row.detector in BASELINES else ""
        status = f'<span class="{"ok" if row.status == "ok" else "bad"}">{e(row.status)}</span>'
        colour, marker = colours[row.detector]
        swatch = f'<span class="sw" style="color:{e(colour)}">{e(_GLYPHS.get(marker, "●"))}</span>'
        parts.append(
            f"<tr{css}><td>{swatch}<code>{e(row.detector)}</code></td>"
            f"<td class=\"l\">{status}</td>"
            f"<td>{_iv(row.get('recall'))}</td><td>{_delta(row.vs_best)}</td>"
            f"<td>{_delta(row.vs_above)}</td><td>{_iv(row.get('precision'))}</td>"
            f"<td>{_iv(row.get('false_alerts_per_day'))}</td>"
            f"<td>{_iv(row.get('ttd_median_days'), '.1f')}</td>"
            f"<td>{_iv(row.get('average_precision'), '.3f')}</td>"
            f"<td>{_iv(row.cumulative_recall.get('ncr_400'), '.3f')}</td>"
            f"<td>{_iv(row.cumulative_recall.get('ncr_1000'), '.3f')}</td></tr>")
    parts.append("</table>")
    parts.append(f'<p class="sub">Δ: this detector\'s recall minus the other\'s, paired over the '
                 f"same episodes and seeds, [95% interval]; * significant: {e(METHOD)}, over "
                 f"the {len(result.comparisons.get(info.name, []))} comparisons of this table. "
                 "nCR-K: recall averaged over daily budgets of 25, 50, ..., K user-days "
                 "(docs/scoring.md).</p>")
    significant = [p for p in result.comparisons.get(info.name, []) if p.significant]
    if significant:
        parts.append("<ul>" + "".join(f"<li>{e(p.sentence())}</li>" for p in significant)
                     + "</ul>")
    failures = [(row.detector, *f) for row in rows for f in row.failures()]
    if failures:
        parts.append("<p><b>Failures</b> (these seeds are left out of the detector's figures):"
                     "</p><ul>")
        parts += [f"<li><code>{e(d)}</code>: {e(status)} on seed{'s' * (len(seeds) > 1)} "
                  f"{e(', '.join(map(str, seeds)))}: {e(reason)}</li>"
                  for d, status, reason, seeds in failures]
        parts.append("</ul>")
    parts += episode_sections(rows)
    for title, name in plots:
        parts.append(f'<figure><img src="{e(name)}" alt="{e(title)}: {e(info.name)}">'
                     f"<figcaption>{e(title)}. {e(_CAPTIONS.get(title, ''))}</figcaption></figure>")
    return parts


_CAPTIONS = {
    "Recall against alert budget": (
        "The same scores, alerted at other budgets: how many more episodes a bigger review team "
        "would catch. The band is the 95% interval over seeds; the dotted line is the headline "
        "budget of the table."),
    "Recall by misuse kind": (
        "Episodes caught out of episodes present, pooled over seeds, for each kind of misuse "
        "at the headline budget. Pale cells are blind spots."),
    "Time to detect": (
        "Each dot is one caught episode (pooled over seeds); the bar is the median. Episodes "
        "never caught do not appear: read this with recall."),
}
