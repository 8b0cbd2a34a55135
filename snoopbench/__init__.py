"""snoopbench: synthetic audit logs of police information systems, with labelled insider misuse, and a
benchmark for misuse detectors.

The repository's folders ``simulator/``, ``detectors/``, ``benchmarks/`` and ``scenarios/`` are installed
as ``snoopbench.simulator``, ``snoopbench.detectors``, ``snoopbench.benchmarks`` and
``snoopbench.scenarios``; the dataset contract they share is :mod:`snoopbench.contract`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("snoopbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
