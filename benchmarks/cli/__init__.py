"""The ``snoopbench`` command. Thin: each command calls a plain function and prints its result.

Only this package imports ``rich``/``typer``. Library code raises :class:`SnoopbenchError`; here it
becomes an exit code (2 for bad input, 1 otherwise) and one message, never a traceback. Usage
errors from the command-line parser (unknown option or command, missing argument, bad value) are
bad input too: one line on stderr, exit 2, whichever click (standalone, or the copy that newer
typer releases bundle) raised them. Ctrl-C exits 130.
"""

from __future__ import annotations

import re
import sys

import typer
from rich.console import Console
from rich.text import Text

from snoopbench.contract.errors import SnoopbenchError

PROG = "snoopbench"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Synthetic police audit logs with labelled insider misuse, and a benchmark for detectors.",
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(no_args_is_help=True, help="The shipped scenario library.")
detectors_app = typer.Typer(no_args_is_help=True, help="Built-in and installed detectors.")
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(detectors_app, name="detectors")

console = Console()
err_console = Console(stderr=True)

# Command modules register themselves on the apps above.
from snoopbench.benchmarks.cli import assess as _assess  # noqa: E402,F401
from snoopbench.benchmarks.cli import bench as _bench  # noqa: E402,F401
from snoopbench.benchmarks.cli import compare as _compare  # noqa: E402,F401
from snoopbench.benchmarks.cli import data as _data  # noqa: E402,F401
from snoopbench.benchmarks.cli import episodes as _episodes  # noqa: E402,F401
from snoopbench.benchmarks.cli import profile as _profile  # noqa: E402,F401
from snoopbench.benchmarks.cli import scoring as _scoring  # noqa: E402,F401


def error(message: str) -> None:
    """Print ``error: MESSAGE`` on stderr as one line, the message taken literally (no markup)."""
    text = Text("error: ", style="bold red")
    text.append(" ".join(str(message).split()))
    err_console.print(text, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and map errors to exit codes."""
    args = sys.argv[1:] if argv is None else list(argv)
    from snoopbench.benchmarks.sandbox import exits_on_signals

    try:
        with exits_on_signals():  # SIGTERM/SIGHUP unwind like Ctrl-C: workers ended, partial output removed
            _run(args)
    except KeyboardInterrupt:
        return _interrupted()
    except SnoopbenchError as exc:
        error(str(exc))
        return exc.exit_code
    except SystemExit as exc:
        if isinstance(exc.code, int) and exc.code > 128:
            error("terminated")
        raise
    except OSError as exc:  # the environment failed (disk full, permissions): exit 1, no traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        error(f"{exc.strerror or exc}{where}")
        return 1
    except Exception as exc:
        code = _parser_exit(exc)
        if code is None:
            raise  # a bug: exit 1 with its traceback
        return code
    return 0


def _run(args: list[str]) -> None:
    """Parse ``args`` and run the command, letting every exception through as it was raised.

    Click's own ``main`` is left out on purpose: what it makes of an exception has changed
    between releases (typer's copy turns Ctrl-C into a silent exit 130, click into ``Abort``),
    so the mapping to exit codes and messages is done once, in :func:`main`.
    """
    command = typer.main.get_command(app)
    with command.make_context(PROG, args) as ctx:
        command.invoke(ctx)


def _interrupted() -> int:
    error("interrupted")
    return EXIT_INTERRUPTED


def _parser_exit(exc: BaseException) -> int | None:
    """The exit code for an exception of the command-line parser, after printing its message.

    Matched by shape, not class: typer from 0.2x bundles its own copy of click, whose classes
    are not click's, and either may be installed. None if ``exc`` is not the parser's.
    """
    kind = type(exc).__name__
    if kind == "Abort":  # click turns Ctrl-C (and end of input at a prompt) into Abort
        if _caused_by(exc, KeyboardInterrupt):
            return _interrupted()
        error("aborted")
        return 1
    code = getattr(exc, "exit_code", None)
    if not isinstance(code, int):
        return None
    if kind == "Exit":
        return code  # typer.Exit / click's Exit (--help): a requested exit, nothing to say
    if not callable(getattr(exc, "format_message", None)):
        return None
    if kind == "NoArgsIsHelpError":  # `snoopbench` alone: the message is the help
        console.print(exc.format_message(), markup=False, highlight=False, end="")
        return 0
    error(_usage_message(exc))
    return EXIT_USAGE


def _usage_message(exc: BaseException) -> str:
    """The parser's message on one line, with where to look for help.

    Sentences are said once: some typer releases add a "Did you mean" that click added already.
    """
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    message = " ".join(dict.fromkeys(re.split(r"(?<=[.?!])\s+", message)))
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f"{message} (see '{path} --help')" if path else message


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, kind):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


__all__ = ["app", "console", "err_console", "error", "main"]


if __name__ == "__main__":
    sys.exit(main())
