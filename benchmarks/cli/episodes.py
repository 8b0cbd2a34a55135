"""Per-episode views: recall by skill and by kind x skill, explanation accuracy, and
``snoopbench explain RESULTS EPISODE`` (library: benchmarks.episodes, benchmarks.explain)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.cli import app, console
from snoopbench.benchmarks.cli.scoring import _COMPACT, TRUTH_HELP, _num, _rank
from snoopbench.benchmarks.episodes import ExplanationScore, recall_by
from snoopbench.benchmarks.results import DetectorResult, ScoreResult
from snoopbench.contract.schema import SKILLS


def _working(result: ScoreResult) -> list[DetectorResult]:
    return [d for d in sorted(result.detectors, key=_rank) if d.metrics is not None]


def _counts(rows: Sequence[DetectorResult], *keys: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in (rows[0].episodes if rows else []):
        g = "/".join(str(getattr(r, k)) for k in keys)
        counts[g] = counts.get(g, 0) + 1
    return counts


def _by_detector(result: ScoreResult, title: str, *keys: str
                 ) -> tuple[Table, dict[str, int], list[dict], list[DetectorResult]]:
    """A table of episode groups (by ``keys``) with a column per working detector: the table, the
    episodes per group, and each detector's recall per group."""
    rows = _working(result)
    table = Table(title=title, **_COMPACT)
    table.add_column(" / ".join(keys), no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for d in rows:
        table.add_column(escape(d.name), justify="right", overflow="fold", min_width=4)
    return table, _counts(rows, *keys), [recall_by(d.episodes, *keys) for d in rows], rows


def skills_table(result: ScoreResult) -> Table:
    """Recall per skill, and how caught episodes were explained, one column per detector."""
    table, counts, by, rows = _by_detector(result, "recall by skill; explanations", "skill")
    for skill in sorted(counts, key=lambda s: SKILLS.index(s) if s in SKILLS else len(SKILLS)):
        table.add_row(skill, str(counts[skill]), *[_num(b.get(skill)) for b in by])
    scores = [ExplanationScore.of(d.episodes) for d in rows]
    table.add_row("[dim]caught[/]", "", *[str(s.n_caught) for s in scores])
    table.add_row("[dim]explained[/]", "", *[str(s.n_explained) for s in scores])
    table.add_row("[bold]names target[/]", "", *[_num(s.accuracy) for s in scores])
    return table


def kind_skill_table(result: ScoreResult) -> Table:
    """Recall per misuse kind and skill, one column per detector."""
    table, counts, by, _ = _by_detector(result, "recall (%) by misuse kind x skill", "kind", "skill")
    for group in sorted(counts):
        table.add_row(escape(group), str(counts[group]),
                      *["–" if b.get(group) is None else f"{100 * b[group]:.0f}" for b in by])
    return table


def print_episode_tables(result: ScoreResult) -> None:
    if any(d.episodes for d in result.detectors):
        console.print(skills_table(result))
        console.print(kind_skill_table(result))


@app.command("explain")
def explain(
    results: Annotated[Path, typer.Argument(help="A results JSON (score, or bench with --seed).")],
    episode: Annotated[int, typer.Argument(help="The episode id (truth/episodes.parquet).")],
    dataset: Annotated[Optional[Path], typer.Option(
        help="The dataset (default: the one the results name).")] = None,
    truth: Annotated[Optional[Path], typer.Option(help=TRUTH_HELP)] = None,
    seed: Annotated[Optional[int], typer.Option(
        help="For bench results: the run's seed (needed when several runs hold the episode).")] = None,
    events: Annotated[int, typer.Option(help="Show at most this many of its events.")] = 40,
) -> None:
    """One episode: its summary, its events, and what each detector alerted on around it."""
    from snoopbench.benchmarks.explain import explain_episode

    view = explain_episode(results, episode, dataset=dataset, truth=truth, seed=seed)
    s = view.summary
    console.print(f"[bold]episode {s['episode_id']}[/]: {escape(s['kind'])}, {escape(s['skill'])}, "
                  f"actor {s['actor_id']}"
                  + (f", through user {s['proxy_id']}" if s.get("proxy_id") is not None else "")
                  + f" · {s['start']} to {s['end']} · {s['n_events']} events", highlight=False)
    console.print(escape(s["summary"]), highlight=False)
    console.print(f"targets: {escape(', '.join(view.targets) or '–')}", highlight=False)
    table = Table(title="its events", **_COMPACT)
    for col in ("time (UTC)", "user", "system", "action", "entity", "reference"):
        table.add_column(col)
    for e in view.events[:events]:
        table.add_row(e["ts"], str(e["user_id"]), e["system"], e["action"],
                      f"{e['entity_type']}:{e['entity_id']}", escape(e["reference"] or "–"))
    console.print(table)
    if len(view.events) > events:
        console.print(f"[dim]... and {len(view.events) - events} more (--events N)[/]")
    for d in view.detectors:
        head = f"[bold]{escape(d['name'])}[/]: "
        if d["status"] != "ok":
            console.print(head + f"[red]{escape(d['status'])}[/]", highlight=False)
            continue
        if d["caught"]:
            head += (f"[green]caught[/] on {d['first_alert_day']} ({d['days_to_detect']} d), "
                     f"alert on user {d['alert_user_id']}; explanation "
                     + ("[green]names a target[/]" if d["names_target"] else "[yellow]names no target[/]"))
        else:
            head += "[red]missed[/]"
        console.print(head, highlight=False)
        for a in d["alerts"]:
            mark = "*" if a["holds_episode"] else " "
            console.print(f"  {mark} {a['date']} user {a['user_id']}: "
                          f"{escape(a['explanation'] or '(no explanation)')}", highlight=False)
    console.print("[dim]alerts on the episode's users within 7 days of it; * holds one of its "
                  "events[/]")
