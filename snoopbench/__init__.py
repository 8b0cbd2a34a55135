"""snoopbench: synthetic audit logs of police information systems, with labelled insider misuse, and a
benchmark for misuse detectors.

The Python API (see :mod:`snoopbench.api`)::

    import snoopbench
    ds = snoopbench.simulate("tiny", "data/tiny", seed=11)   # or snoopbench.load("data/tiny")
    results = snoopbench.score(ds, detectors=["relationship", "volume:z=3.5"], budget=5)

``snoopbench.Detector`` is the plug-in base class. The repository's folders ``simulator/``,
``detectors/``, ``benchmarks/`` and ``scenarios/`` are installed as ``snoopbench.simulator``,
``snoopbench.detectors``, ``snoopbench.benchmarks`` and ``snoopbench.scenarios``; the dataset contract
they share is :mod:`snoopbench.contract`.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("snoopbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["Dataset", "DatasetInfo", "Detector", "Results", "load", "score", "simulate", "__version__"]

# Imported on first use, so ``import snoopbench.simulator`` does not load the harness and the
# detectors (and the other way round).
_LAZY = {
    "simulate": "snoopbench.api", "load": "snoopbench.api", "score": "snoopbench.api",
    "Dataset": "snoopbench.api", "Results": "snoopbench.api",
    "Detector": "snoopbench.detectors.base", "DatasetInfo": "snoopbench.contract.info",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snoopbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
