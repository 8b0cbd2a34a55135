"""Progress of ``score`` and ``bench`` on stderr, per detector, in events; never on stdout.

On a terminal, a rich progress display (one bar per detector, and one over runs for ``bench``)
that clears itself when done. Elsewhere (a pipe, a log file, CI) nothing, unless ``--progress``
asks for plain lines: one when a detector starts, changes phase or finishes, and at most one
every :data:`EVERY_S` seconds while it scores. What goes to stdout (tables, ``--json`` paths) is
never interleaved with it.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn,
                           TimeElapsedColumn)

#: Seconds between two plain progress lines of one detector while it scores.
EVERY_S = 2.0
PROGRESS_HELP = ("Progress per detector on stderr as plain lines when stderr is not a terminal "
                 "(on a terminal it is always shown).")

_WORDS = {"start": "started", "fit": "fitting", "score": "scoring", "exec": "outside program running",
          "read": "reading the program's output", "ok": "done", "error": "failed",
          "timeout": "timed out", "oom": "out of memory"}
_FINAL = ("ok", "error", "timeout", "oom")


class ProgressView:
    """Where progress goes: a rich display, plain lines, or nowhere."""

    def __init__(self, mode: str, console: Console | None = None) -> None:
        self.mode = mode  # "rich", "plain" or "off"
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._run: TaskID | None = None
        self._last: dict[str, float] = {}

    @classmethod
    def choose(cls, plain: bool, stream=None) -> ProgressView:
        """Rich on a terminal; plain lines if asked (``--progress``) elsewhere; else off."""
        stream = sys.stderr if stream is None else stream
        if stream.isatty():
            return cls("rich", Console(file=stream))
        return cls("plain" if plain else "off", Console(file=stream, soft_wrap=True,
                                                        highlight=False, no_color=True))

    @contextmanager
    def shown(self) -> Iterator[ProgressView]:
        if self.mode != "rich":
            yield self
            return
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[phase]}"), TimeElapsedColumn(),
                             console=self.console, transient=True)
        with self._bar:
            yield self
        self._bar = None

    def detector(self, name: str, phase: str, done: int, total: int) -> None:
        """A detector's news (a :data:`benchmarks.harness.DetectorProgress`)."""
        word = _WORDS.get(phase, phase)
        if self.mode == "rich" and self._bar is not None:
            task = self._tasks.get(name)
            if task is None:
                task = self._tasks[name] = self._bar.add_task(name, total=total or None, phase="")
            self._bar.update(task, completed=done, total=total or None, phase=word)
            if phase in _FINAL:
                self._bar.remove_task(task)
                del self._tasks[name]
        elif self.mode == "plain":
            now = time.monotonic()
            if phase == "score" and done and now - self._last.get(name, -EVERY_S) < EVERY_S:
                return
            self._last[name] = now
            share = f" ({done / total:.0%})" if total and phase in ("score", "ok") else ""
            count = f" {done:,}/{total:,} events{share}" if phase in ("score", "ok") else ""
            self.console.print(f"progress: {name}: {word}{count}", markup=False)

    def run(self, what: str, done: int, total: int) -> None:
        """A bench run's news (a :data:`benchmarks.bench.Progress`)."""
        if self.mode == "rich" and self._bar is not None:
            if self._run is None:
                self._run = self._bar.add_task("bench", total=total, phase="")
            self._bar.update(self._run, completed=done, total=total,
                             phase=f"run {min(done + 1, total)}/{total}: {what}")
        elif self.mode == "plain":
            self.console.print(f"progress: run {min(done + 1, total)}/{total}: {what}", markup=False)
