"""Out to the tools vendors run: export (a file a SIEM ingests) and replay (a live feed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from snoopbench.benchmarks.cli import app, err_console
from snoopbench.benchmarks.export import FORMATS, export_dataset
from snoopbench.benchmarks.replay import PAYLOADS, replay
from snoopbench.contract.errors import InputError


@app.command()
def export(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")],
    out: Annotated[str, typer.Option(help="File to write ('-': standard output; "
                                          "a name ending .gz is compressed).")],
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash the dataset first.")] = False,
) -> None:
    """Export a dataset's events (what detectors see, never the truth) as ECS, OCSF, JSON lines
    or CSV, in time order, with ISO 8601 UTC timestamps. See docs/export.md."""
    r = export_dataset(dataset, fmt, out, verify=verify)
    where = "standard output" if out == "-" else f"{r.path} ({r.bytes:,} bytes)"
    err_console.print(f"exported {r.events:,} events as {r.format} to {where} in "
                      f"{r.seconds:.1f} s ({r.events_per_s:,.0f} events/s)",
                      markup=False, highlight=False, soft_wrap=True)


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"expected a number > 0 or 'max', got {text!r}", key="--speed") from None
    if not 0 < value < float("inf"):
        raise InputError(f"expected a number > 0 or 'max', got {text!r}", key="--speed")
    return value


@app.command("replay")
def replay_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    to: Annotated[str, typer.Option(help="syslog://HOST:PORT or tcp://HOST:PORT (RFC 5424 over "
                                         "TCP), or http://HOST:PORT/PATH (_bulk NDJSON).")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(PAYLOADS)}.")] = "ecs",
    speed: Annotated[str, typer.Option(help="N times real time, or 'max'.")] = "max",
    batch_size: Annotated[int, typer.Option(help="Events a request (HTTP) or a write "
                                                 "acknowledged (syslog).")] = 500,
    resume: Annotated[bool, typer.Option("--resume", help="Continue after the checkpoint.")] = False,
    checkpoint: Annotated[Optional[Path], typer.Option(
        help="Checkpoint file (default: DATASET.replay.json beside the dataset).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the target.")] = 30.0,
) -> None:
    """Feed a running product the events in time order. A target that stops mid-stream is
    reported with how far the replay got, and --resume continues. See docs/export.md."""
    r = replay(dataset, to, fmt, speed=_speed(speed), batch_size=batch_size, resume=resume,
               checkpoint=checkpoint, timeout=timeout)
    err_console.print(
        f"replayed {r.events:,} events as {r.format} to {r.target} in {r.seconds:.1f} s "
        f"({r.events_per_s:,.0f} events/s); {r.position:,} of {r.total:,} delivered in all, "
        f"last event {r.last_event_id} at {r.last_ts}; checkpoint {r.checkpoint}",
        markup=False, highlight=False, soft_wrap=True)
