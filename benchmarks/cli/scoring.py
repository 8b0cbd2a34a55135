"""Scoring commands: score, score-alerts, detectors list (see benchmarks.harness).

Thin: each command calls a plain function returning a :class:`ScoreResult` and prints it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from snoopbench.benchmarks.cli import app, console, detectors_app
from snoopbench.benchmarks.cli.progress import PROGRESS_HELP, ProgressView
from snoopbench.benchmarks.cli.online import ONLINE_HELP, REGIME_HELP, print_online
from snoopbench.benchmarks.harness import score_alerts, score_dataset
from snoopbench.benchmarks.online import DEFAULT_REGIME, score_online
from snoopbench.benchmarks.results import DetectorResult, ScoreResult
from snoopbench.benchmarks.cli.robustness_view import flag_lines, robustness_table
from snoopbench.contract.errors import InputError

# Fits ten columns in an 80-column terminal: no vertical rules, one space between columns.
_COMPACT = dict(box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False)
SPEC_HELP = ("SPEC: id, id:key=value,..., exec:COMMAND, or a set: builtin, all (with plug-ins). "
             "Name one with id[name=NAME]:... or exec[name=NAME]:COMMAND. Repeatable.")
JSON_HELP = "Write results JSON here."
TRUTH_HELP = "Truth folder of a sealed dataset."
MEM_HELP = "MiB a detector's whole process tree may use (> 0; else its row says oom)."
SANDBOX_HELP = "Refuse to run detectors without the bubblewrap sandbox (exit 2)."
_STATUS_STYLE = {"ok": "green", "error": "red", "timeout": "yellow", "oom": "magenta"}


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def _rank(row: DetectorResult) -> tuple:
    m = row.metrics
    if m is None:
        return (1, 0.0, 0.0, row.name)
    return (0, -(m.recall or 0.0), -(m.average_precision or 0.0), row.name)


def leaderboard_table(result: ScoreResult, title: str | None = None) -> Table:
    """One row per detector, best recall first; failed detectors last, their reasons below."""
    n = result.alerts_per_day
    per_day = "" if n is None else f" = {n} alert{'s' * (n != 1)}/day"
    failed = [r for r in result.detectors if r.metrics is None]
    caption = "\n".join(
        [f"budget {result.budget:g} alerts/day/1,000 staff{per_day} for {result.n_staff:,} "
         f"staff · {result.n_days} days {result.first_day} to {result.last_day} · "
         f"{result.n_events:,} events · {result.n_episodes} episodes to catch"]
        + [f"[{_STATUS_STYLE.get(r.status, 'white')}]{escape(r.name)}[/]: {escape(str(r.error))}"
           for r in failed]
        + [f"[bold yellow]{escape(n)}[/]" for n in result.notes if n.startswith("WARNING")]
    )
    table = Table(title=title or "snoopbench leaderboard", caption=caption,
                  caption_justify="left", **_COMPACT)
    table.add_column("detector", min_width=12, overflow="fold")
    for name, header in (("status", "status"), ("recall", "recall"), ("precision", "prec."),
                         ("false", "FA/day"), ("ttd", "TTD d\nmed/p90"), ("ap", "event\nAP"),
                         ("alerts", "alerts"), ("rate", "ev/s"), ("mem", "peak\nMB")):
        table.add_column(header, justify="left" if name == "status" else "right", no_wrap=True)
    for row in sorted(result.detectors, key=_rank):
        m = row.metrics
        status = f"[{_STATUS_STYLE.get(row.status, 'white')}]{row.status}[/]"
        if m is None:
            table.add_row(escape(row.name), status, *["–"] * 8)
            continue
        table.add_row(
            escape(row.name), status, _num(m.recall), _num(m.precision), _num(m.false_alerts_per_day),
            f"{_num(m.ttd_median_days, '.1f')}/{_num(m.ttd_p90_days, '.1f')}",
            _num(m.average_precision, ".3f"), str(m.n_alerts), _rate(row.events_per_s),
            _num(row.peak_mem_mb, ".0f"),
        )
    return table


def kinds_table(result: ScoreResult) -> Table:
    """Recall per misuse kind: one row per kind, one column per working detector."""
    rows = [d for d in sorted(result.detectors, key=_rank) if d.metrics is not None]
    counts: dict[str, int] = {}
    for d in rows:
        counts.update(d.metrics.episodes_by_kind)
    table = Table(title="recall by misuse kind", **_COMPACT)
    table.add_column("kind")
    table.add_column("episodes", justify="right")
    for d in rows:
        table.add_column(escape(d.name), justify="right", overflow="fold", min_width=6)
    for kind in sorted(counts):
        table.add_row(escape(kind), str(counts[kind]),
                      *[_num(d.metrics.recall_by_kind.get(kind)) for d in rows])
    return table


def write_results(result, json_path: Path) -> None:
    """Write a result's JSON, turning a filesystem error into bad input naming the file."""
    from snoopbench.benchmarks.episodes import write_episodes

    try:
        result.write_json(json_path)
        episodes = write_episodes(result, json_path)  # one row per detector and episode
    except OSError as exc:
        raise InputError(f"cannot write ({exc.strerror})", file=str(json_path)) from exc
    console.print(f"results written to {escape(str(json_path))} (episodes: "
                  f"{escape(episodes.name)})", highlight=False)


def check_json_target(json_path: Path | None, *inside_none_of: Path | None) -> None:
    """Refuse, before any work, a results path that cannot be written or that lies inside a
    dataset or truth folder (results never overwrite what they were computed from)."""
    if json_path is None:
        return
    target = json_path.resolve()
    for folder in inside_none_of:
        if folder is not None and (target == folder.resolve() or folder.resolve() in target.parents):
            raise InputError(f"lies inside {folder}; expected a results file outside the dataset and its truth",
                             file=str(json_path), key="--json")
    if target.is_dir():
        raise InputError("is a folder; expected a file path for the results JSON", file=str(json_path),
                         key="--json")
    if not target.parent.is_dir():
        raise InputError(f"folder {target.parent} does not exist", file=str(json_path), key="--json")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError("cannot be written (permission denied)", file=str(json_path), key="--json")


VERIFY_HELP = "Skip re-hashing the dataset against its manifest before scoring (the results say so)."


def _finish(result: ScoreResult, json_path: Path | None) -> None:
    for note in result.notes:
        if not note.startswith("WARNING"):  # the leaderboard's caption shows the warning
            console.print(f"[dim]note: {escape(note)}[/]")
    if json_path is not None:
        write_results(result, json_path)


@app.command("score")
def score(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    detector: Annotated[
        Optional[list[str]], typer.Option("--detector", "-d", help=SPEC_HELP)] = None,
    budget: Annotated[float, typer.Option(help="Alerts per day per 1,000 staff.")] = 5.0,
    truth: Annotated[Optional[Path], typer.Option(help=TRUTH_HELP)] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help=JSON_HELP)] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per detector.")] = None,
    mem_limit_mb: Annotated[Optional[int], typer.Option("--mem-limit-mb", help=MEM_HELP)] = None,
    require_sandbox: Annotated[bool, typer.Option(
        "--require-sandbox", help=SANDBOX_HELP)] = False,
    jobs: Annotated[int, typer.Option(help="Detectors run at once (1 = honest timings).")] = 1,
    no_verify: Annotated[bool, typer.Option("--no-verify", help=VERIFY_HELP)] = False,
    progress: Annotated[bool, typer.Option("--progress", help=PROGRESS_HELP)] = False,
    online: Annotated[bool, typer.Option("--online", help=ONLINE_HELP)] = False,
    regime: Annotated[str, typer.Option(help=REGIME_HELP)] = DEFAULT_REGIME,
    feedback_delay: Annotated[Optional[str], typer.Option(
        "--feedback-delay", help="Online: verdict delay distribution (exponential, fixed, "
        "uniform); default the regime's.")] = None,
    feedback_delay_days: Annotated[Optional[float], typer.Option(
        "--feedback-delay-days", help="Online: mean verdict delay in days (>= 0); default the "
        "regime's.")] = None,
    seed: Annotated[int, typer.Option(help="Online: seed of the reviewer's draws.")] = 0,
) -> None:
    """Score detectors on a dataset, each in a sandbox. The null and random baselines are
    always included. With --online: day by day, with reviewers' verdicts fed back."""
    check_json_target(json_path, dataset, truth)
    if online:
        result = score_online(dataset, detector or [], budget=budget, truth_dir=truth,
                              timeout=timeout, regime=regime, feedback_delay=feedback_delay,
                              feedback_delay_days=feedback_delay_days, seed=seed,
                              mem_limit_mb=mem_limit_mb, require_sandbox=require_sandbox,
                              verify=not no_verify, jobs=jobs)
        console.print(leaderboard_table(result))
        console.print(kinds_table(result))
        print_online(result)
        _finish(result, json_path)
        return
    view = ProgressView.choose(progress)
    with view.shown():
        result = score_dataset(dataset, detector or [], budget=budget, truth_dir=truth,
                               timeout=timeout, mem_limit_mb=mem_limit_mb,
                               require_sandbox=require_sandbox, jobs=jobs, verify=not no_verify,
                               progress=view.detector if view.mode != "off" else None)
    console.print(leaderboard_table(result))
    console.print(kinds_table(result))
    from snoopbench.benchmarks.cli.compare import cr_table

    console.print(cr_table(result))
    from snoopbench.benchmarks.cli.episodes import print_episode_tables

    print_episode_tables(result)
    robust = robustness_table(result)
    if robust is not None:
        console.print(robust)
        for line in flag_lines(result):
            console.print(f"[bold yellow]robustness: {escape(line)}[/]")
    _finish(result, json_path)


@app.command("score-alerts")
def score_alerts_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    alerts_file: Annotated[Path, typer.Argument(
        help="CSV or Parquet (event_id, or user_id+date), or NDJSON ECS/OCSF alerts.")],
    truth: Annotated[Optional[Path], typer.Option(help=TRUTH_HELP)] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help=JSON_HELP)] = None,
    budget: Annotated[Optional[float], typer.Option(
        help="Keep only each day's top alerts at this budget (default: all count).")] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help=VERIFY_HELP)] = False,
) -> None:
    """Score alerts produced elsewhere. Every alert counts against the budget."""
    check_json_target(json_path, dataset, truth)
    result = score_alerts(dataset, alerts_file, truth_dir=truth, budget=budget, verify=not no_verify)
    console.print(leaderboard_table(result, title="alerts file"))
    m = result.detectors[0].metrics
    console.print(f"{m.n_alerts:,} alerts (user-days) over {result.n_days} days for "
                  f"{result.n_staff:,} staff: a budget of {m.alert_budget:.2f} "
                  "alerts/day/1,000 staff")
    _finish(result, json_path)


@detectors_app.command("list")
def detectors_list() -> None:
    """Built-in and installed detectors, by id, with their hyperparameters."""
    from snoopbench.detectors import docs
    from snoopbench.detectors.registry import SETS, available, import_target, source_of

    table = Table(title="detectors")
    for col in ("id", "source", "hyperparameters", "about"):
        table.add_column(col, overflow="fold")
    for ident, target in sorted(available().items()):
        try:
            cls = import_target(target)
            params = ", ".join(_hyperparameters(cls))
            about = escape(docs.summary(cls))
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is listed, not fatal
            params = "?"
            about = f"[red]cannot import {escape(target)}: {escape(f'{type(exc).__name__}: {exc}')}[/]"
        table.add_row(escape(ident), source_of(ident), escape(params), about)
    console.print(table)
    sets = "; ".join(f"{k}: {v}" for k, v in SETS.items())
    console.print(f"[dim]sets for -d: {escape(sets)}. exec:COMMAND (or exec\\[name=NAME]:COMMAND) runs "
                  "an outside program ({events}, {context}, {out}). "
                  "More: snoopbench detectors show ID[/]")


def _hyperparameters(cls: type) -> dict:
    from snoopbench.detectors.params import signature_params

    hp = getattr(cls, "hyperparameters", None)
    return hp() if callable(hp) else signature_params(cls)


def strip_rst(text: str) -> str:
    """Docstring text without its reStructuredText markup (see :mod:`detectors.docs`)."""
    from snoopbench.detectors.docs import strip_rst as strip

    return strip(text)


@detectors_app.command("show")
def detectors_show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="A detector id (see: detectors list).")],
) -> None:
    """A detector's hyperparameters (types, defaults, meaning) and its documentation."""
    from snoopbench.detectors import docs
    from snoopbench.detectors.registry import SpecError, import_target, source_of, target_of

    ident = ident.strip()
    target = target_of(ident)
    try:
        cls = import_target(target)
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is bad input, said in one line
        raise SpecError(f"detector {ident!r} ({target}) cannot be imported: "
                        f"{type(exc).__name__}: {exc}") from None
    console.print(f"[bold]{escape(ident)}[/] ({source_of(ident)}: {escape(target)})",
                  highlight=False)
    for paragraph in docs.paragraphs(docs.text(cls)):
        console.print(paragraph, markup=False, highlight=False)
        console.print()
    params = _hyperparameters(cls)
    if not params:
        console.print("no hyperparameters")
    else:
        meaning = docs.param_docs(cls, list(params))
        table = Table(title="hyperparameters", title_justify="left", **_COMPACT)
        for col in ("name", "type", "default", "meaning"):
            table.add_column(col, overflow="fold")
        for p in params.values():
            default = "(required)" if p.required else repr(p.default)
            table.add_row(escape(p.name), escape(p.type_text()), escape(default),
                          escape(meaning[p.name] or "–"))
        table.columns[0].no_wrap = True
        console.print(table)
        example = ",".join(f"{p.name}={_spec_text(p.default)}" for p in params.values()
                           if not p.required)
        console.print(f"SPEC: {escape(ident)}:{escape(example)}", highlight=False)
    mode = "retrospective (one batch of the whole period)" if getattr(cls, "retrospective", False) \
        else "streaming (batches in time order)"
    invariant = "yes" if getattr(cls, "batch_invariant", True) else "no"
    console.print(f"scoring: {mode}; batch-size invariant: {invariant}", highlight=False)


@detectors_app.command("check")
def detectors_check(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="A detector SPEC: id, id:key=value,..., "
                                        "or exec:COMMAND.")],
    dataset: Annotated[Optional[Path], typer.Option(
        help="Check on this dataset (default: a small synthetic one, made and removed).")] = None,
    truth: Annotated[Optional[Path], typer.Option(help=TRUTH_HELP)] = None,
    events: Annotated[int, typer.Option(
        "--events", help="At most this many scoring-period events for a Python detector's checks.")] = 20000,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds for all the checks.")] = None,
    mem_limit_mb: Annotated[Optional[int], typer.Option("--mem-limit-mb", help=MEM_HELP)] = None,
    require_sandbox: Annotated[bool, typer.Option(
        "--require-sandbox", help=SANDBOX_HELP)] = False,
) -> None:
    """Run the conformance checks on one detector, in its sandbox, and say which pass.

    Exit 0 if all pass, 1 naming the checks that failed, 2 for a bad SPEC.
    """
    from snoopbench.benchmarks.cli import error
    from snoopbench.benchmarks.conformance import check_spec

    result = check_spec(spec, dataset, truth_dir=truth, timeout=timeout, mem_limit_mb=mem_limit_mb,
                        require_sandbox=require_sandbox, max_events=events)
    console.print(f"[bold]{escape(result.name)}[/] ({'outside program' if result.kind == 'exec' else 'Python detector'}) "
                  f"on {escape(result.dataset)}", highlight=False)
    for c in result.checks:
        mark = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "[dim]SKIP[/]"}[c.ok]
        line = f"{mark} {escape(c.check)}"
        if c.ok is not True and c.reason:
            line += f": {escape(c.reason)}"
        elif c.about:
            line += f" [dim]({escape(c.about)})[/]"
        console.print(line, highlight=False)
    if result.error:
        error(f"{result.name}: the checks did not finish ({result.error})")
        if result.log:
            console.print(f"[dim]{escape(result.log)}[/]", highlight=False)
        raise typer.Exit(1)
    if result.failed:
        error(f"{result.name} failed {len(result.failed)} check(s): {', '.join(result.failed)}")
        raise typer.Exit(1)
    console.print(f"all {len(result.checks)} checks passed", highlight=False)


def _spec_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


# `snoopbench bench` lives in benchmarks/cli/bench.py (library: benchmarks/bench.py).
