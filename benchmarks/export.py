"""``snoopbench export``: a dataset's events as one file a SIEM ingests (ECS, OCSF, JSON lines, CSV).

Streaming: the events parts are read batch by batch, so memory stays flat however large the
dataset. Only the events (the contract's columns, what detectors see) are exported: no truth, no
labels, no episode ids. The file appears whole or not at all: it is written under a temporary
name beside the target and renamed at the end; on any error or Ctrl-C the temporary file is
removed. A name ending in ``.gz`` is gzip-compressed; ``-`` writes to standard output.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from snoopbench.benchmarks import siem
from snoopbench.benchmarks.dataset import Dataset, iter_event_batches, open_dataset
from snoopbench.contract.errors import InputError

FORMATS = ("ecs", "ocsf", "csv", "jsonl")


@dataclass(frozen=True)
class ExportResult:
    """What was written: where, how many events, how many bytes, in how many seconds."""

    path: str
    format: str
    events: int
    bytes: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    if fmt not in allowed:
        raise InputError(f"expected one of {', '.join(allowed)}, got {fmt!r}", key="--format")
    return fmt


@contextmanager
def atomic_text(out: str | Path) -> Iterator[IO[str]]:
    """A text stream to ``out`` that is renamed into place only if the block succeeds
    (``-``: standard output); ``.gz`` names are gzip-compressed."""
    if str(out) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(out)
    if target.is_dir():
        raise InputError("is a directory; expected a file name", file=str(target), key="--out")
    if not target.parent.is_dir():
        raise InputError("its folder does not exist", file=str(target), key="--out")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            binary: IO[bytes] = raw
            if target.suffix == ".gz":  # level 6, gzip's own default; 9 is far slower
                binary = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6)
            with io.TextIOWrapper(binary, encoding="utf-8", newline="\n",
                                  write_through=False) as text:
                yield text
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_events(dataset: Dataset, fmt: str, stream: IO[str], *, batch_size: int = 1 << 15,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write every event of ``dataset`` to ``stream`` in ``fmt``; the number written."""
    n = 0
    columns = list(siem.COLUMNS)
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
    version = dataset.manifest["version"]
    for _, batch in iter_event_batches(dataset.parts, columns, batch_size):
        if fmt == "csv":
            writer.writerows(siem.csv_rows(batch))
        else:
            lines = siem.encode_batch(batch, fmt, version)
            lines.append("")
            stream.write("\n".join(lines))
        n += batch.num_rows
        if progress:
            progress(n)
    return n


def export_dataset(dataset_dir: str | Path, fmt: str, out: str | Path, *, verify: bool = False,
                   batch_size: int = 1 << 15,
                   progress: Callable[[int], None] | None = None) -> ExportResult:
    """Export a dataset's events to ``out`` in ``fmt`` (see the module docstring)."""
    check_format(fmt)
    dataset = open_dataset(dataset_dir, verify=verify)
    start = time.perf_counter()
    with atomic_text(out) as stream:
        n = write_events(dataset, fmt, stream, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - start
    size = 0 if str(out) == "-" else Path(out).stat().st_size
    return ExportResult(path=str(out), format=fmt, events=n, bytes=size, seconds=seconds)
