"""One error family for the whole project; the CLI maps it to exit codes."""

from __future__ import annotations


class SnoopbenchError(Exception):
    """Base of every error snoopbench raises on purpose. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class InputError(SnoopbenchError):
    """Bad input from the user (scenario, arguments, dataset): exit code 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        parts = []
        if file:
            parts.append(str(file))
        if key:
            parts.append(key)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ScenarioError(InputError):
    """A scenario file that cannot be read or does not validate."""


class DatasetError(InputError):
    """A dataset directory that is missing, incomplete or not in the expected format."""


class IntegrityError(SnoopbenchError):
    """A dataset file whose contents no longer match the manifest (exit 1)."""
