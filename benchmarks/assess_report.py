"""The assessment as one HTML page an inspector can read without the terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from snoopbench.benchmarks.assess import FOUND_BY, describe_intensity
from snoopbench.benchmarks.bench_report import e
from snoopbench.contract.errors import InputError

_CSS = """body{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}.sub{color:#666}.bar{display:inline-block;
height:.8em;background:#4a7ab5}.read p{max-width:48em}.fail{color:#b00}"""


def check_report_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("expected a folder for the report", file=str(out), key="--report")
    parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the report: {parent} is not a writable folder", file=str(out),
                         key="--report")
    return out


def _iv(x: dict[str, Any] | None, fmt: str = ".1f") -> str:
    if x is None:
        return "–"
    lo, hi = (("–" if x.get(k) is None else format(x[k], fmt)) for k in ("low", "high"))
    if x.get("low") is None and x.get("high") is None:
        return format(x["mean"], fmt)
    return f"{x['mean']:{fmt}} <span class=sub>[{lo}–{hi}]</span>"


def render(result: dict[str, Any]) -> str:
    regimes = result["regimes"]
    most = max([s["figures"]["active"]["mean"] for s in regimes if s["figures"]["active"]] + [1])
    p = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>snoopbench assessment: {e(result['scenario'])}</title><style>{_CSS}</style></head><body>",
         "<h1>snoopbench assessment</h1>",
         f"<p class=sub>{e(result['scenario'])} · {result['staff']:,} staff · {result['days']} days "
         f"({result['warmup_days']} warm-up) · seeds {e(', '.join(map(str, result['seeds'])))} · "
         f"snoopbench {e(result['snoopbench'])}</p>",
         "<h2>How to read this</h2><div class=read>",
         "<p>Each regime is run on the same simulated worlds. A misuser is <em>active</em> if they left "
         "misuse in the logs after warm-up, <em>found</em> at the first route that reaches them, and "
         "otherwise part of the <em>dark figure</em>. Numbers are means over seeds with 95% intervals.</p>",
         "<p>No source publishes how misuse is found: the route probabilities are the regime's stated "
         "parameters, not known figures. Reactive reports are drawn from the truth and never enter the "
         "events or context a detector reads.</p></div>",
         "<h2>Found by route, and the dark figure</h2><table><tr><th>regime</th><th>active</th><th>found</th>",
         *(f"<th>{r}</th>" for r in FOUND_BY), "<th>never found</th><th></th></tr>"]
    for s in regimes:
        f = s["figures"]
        dark = f["never_found"]["mean"] if f["never_found"] else 0
        found = f["found"]["mean"] if f["found"] else 0
        bar = (f'<span class=bar style="width:{found / most * 12:.2f}em"></span>'
               f'<span class=bar style="background:#333;width:{dark / most * 12:.2f}em"></span>')
        p.append(f"<tr><td>{e(s['regime'])}</td><td>{_iv(f['active'])}</td><td>{_iv(f['found'])}</td>"
                 + "".join(f"<td>{_iv(f[f'found_{r}'])}</td>" for r in FOUND_BY)
                 + f"<td>{_iv(f['never_found'])}</td><td>{bar}</td></tr>")
    p.append("</table><h2>Time to finding, outcomes and review load</h2><table><tr><th>regime</th>"
             "<th>median days to finding</th><th>disciplined</th><th>dismissed or resigned</th>"
             "<th>alerts reviewed a day</th><th>share of reviewed alerts that were misuse</th>"
             "<th>users audited</th></tr>")
    for s in regimes:
        f = s["figures"]
        p.append(f"<tr><td>{e(s['regime'])}</td><td>{_iv(f['days_to_find_median'])}</td>"
                 f"<td>{_iv(f['disciplined'])}</td><td>{_iv(f['dismissed_or_resigned'])}</td>"
                 f"<td>{_iv(f['reviewed_per_day'])}</td><td>{_iv(f['review_precision'], '.2f')}</td>"
                 f"<td>{_iv(f['audits'], '.0f')}</td></tr>")
    p.append("</table>")
    for group in ("by_kind", "by_skill"):
        keys = sorted({k for s in regimes for k in s[group]})
        p.append(f"<h2>Found / active, {group.replace('_', ' ')}</h2><table><tr><th></th>"
                 + "".join(f"<th>{e(s['regime'])}</th>" for s in regimes) + "</tr>")
        for k in keys:
            p.append(f"<tr><td>{e(k)}</td>" + "".join(
                f"<td>{s[group][k]['found']['mean']:.1f} / {s[group][k]['active']['mean']:.1f}</td>"
                if k in s[group] else "<td>–</td>" for s in regimes) + "</tr>")
        p.append("</table>")
    for s in regimes:
        for name, fails in s["detector_failures"].items():
            p.append(f"<p class=fail>{e(s['regime'])}: detector {e(name)} {e(fails[0]['status'])} on "
                     f"{len(fails)} world(s): {e(fails[0]['error'])}</p>")
    if result.get("published"):
        p.append("<h2>Published counts against the model</h2><table><tr><th>force</th><th>period</th>"
                 "<th>counted</th><th>published</th><th>regime</th><th>model</th>"
                 "<th>misuse per 1,000 staff a year consistent with it</th><th>share found needed</th>"
                 "<th>detection intensity it implies</th></tr>")
        for r in result["published"]:
            est = " (estimate)" if r["workforce_estimate"] else ""
            p.append(f"<tr><td>{e(r['force'])} <span class=sub>{r['workforce']:,} staff{est}</span></td>"
                     f"<td>{e(r['period'])}</td><td>{e(r['counted'])}</td><td>{r['published']}</td>"
                     f"<td>{e(r['regime'])}</td><td>{_iv(r['model'])}</td>"
                     f"<td>{_iv(r['misuse_per_1000_staff_year'], '.2f')}</td>"
                     f"<td>{_iv(r['share_found_needed'], '.3f')}</td>"
                     f"<td>{e(describe_intensity(r['intensity']))}</td></tr>")
        p.append("</table>")
    p.append("<p class=sub>Every number is in assessment.json (format snoopbench/assessment/v1).</p>")
    p.append("</body></html>")
    return "\n".join(p) + "\n"


def write_report(result: dict[str, Any], out_dir: str | Path) -> Path:
    out = check_report_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "assessment.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        page = out / "index.html"
        page.write_text(render(result), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report ({exc.strerror})", file=str(out), key="--report") from exc
    return page
