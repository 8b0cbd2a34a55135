"""The ``snoopbench`` command. Thin: each command calls a plain function and prints its result.

Only this package imports ``rich``/``typer``. Library code raises :class:`SnoopbenchError`; here it
becomes an exit code (2 for bad input, 1 otherwise) and one message, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from snoopbench.contract.errors import SnoopbenchError

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
from snoopbench.benchmarks.cli import data as _data  # noqa: E402,F401
from snoopbench.benchmarks.cli import profile as _profile  # noqa: E402,F401
from snoopbench.benchmarks.cli import scoring as _scoring  # noqa: E402,F401


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and map errors to exit codes."""
    try:
        app(args=argv, standalone_mode=False)
    except SnoopbenchError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
