"""The per-episode sections of a bench's HTML report: recall by skill with explanation
accuracy, and recall by misuse kind x skill (pooled over seeds)."""

from __future__ import annotations

import html
from typing import Sequence

from snoopbench.benchmarks.bench import Row
from snoopbench.benchmarks.metrics import Interval
from snoopbench.contract.schema import SKILLS


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _iv(iv: Interval | None) -> str:
    if iv is None:
        return "–"
    text = f"{iv.mean:.2f}"
    if iv.low is not None and iv.high is not None:
        text += f'<span class="iv">[{iv.low:.2f}–{iv.high:.2f}]</span>'
    return text


def _skill_order(skill: str) -> int:
    return SKILLS.index(skill) if skill in SKILLS else len(SKILLS)


def episode_sections(rows: Sequence[Row]) -> list[str]:
    """The two tables, or nothing if no row has per-episode results."""
    rows = [r for r in rows if r.recall_by_skill]
    if not rows:
        return []
    skills = sorted({s for r in rows for s in r.recall_by_skill}, key=_skill_order)
    parts = ["<h3>Recall by skill, and explanations</h3>",
             "<p>Recall per skill level (mean over seeds, 95% interval). <b>Names target</b>: "
             "of the episodes caught (pooled over seeds), the share whose alert's explanation "
             "named the person, vehicle or record the misuse was about (docs/detectors.md); "
             "a detector that gives no explanation names nothing.</p>",
             "<table><tr><th>detector</th>" + "".join(f"<th>{_e(s)}</th>" for s in skills)
             + "<th>caught</th><th>explained</th><th>names target</th></tr>"]
    for r in rows:
        x = r.explained
        share = "–" if x is None or x.accuracy is None else f"{x.accuracy:.2f}"
        parts.append(f"<tr><td><code>{_e(r.detector)}</code></td>"
                     + "".join(f"<td>{_iv(r.recall_by_skill.get(s))}</td>" for s in skills)
                     + f"<td>{x.n_caught if x else 0}</td><td>{x.n_explained if x else 0}</td>"
                     f"<td>{share}</td></tr>")
    parts.append("</table>")
    groups = sorted({g for r in rows for g in r.episodes_by_kind_skill},
                    key=lambda g: (g.split("/")[0], _skill_order(g.split("/")[-1])))
    parts += ["<h3>Recall by misuse kind x skill</h3>",
              "<p>Episodes caught out of episodes present, pooled over seeds.</p>",
              "<table><tr><th>kind / skill</th><th>episodes</th>"
              + "".join(f"<th><code>{_e(r.detector)}</code></th>" for r in rows) + "</tr>"]
    for g in groups:
        n = max(r.episodes_by_kind_skill.get(g, 0) for r in rows)
        cells = []
        for r in rows:
            total = r.episodes_by_kind_skill.get(g, 0)
            cells.append(f"<td>{r.caught_by_kind_skill.get(g, 0) / total:.2f}</td>" if total
                         else "<td>–</td>")
        parts.append(f"<tr><td>{_e(g)}</td><td>{n}</td>{''.join(cells)}</tr>")
    parts.append("</table>")
    return parts
