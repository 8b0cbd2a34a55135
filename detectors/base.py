"""The detector interface of the public contract (see DESIGN.md, "Detector plug-ins").

A detector has two methods and one score direction: ``fit(context, history)`` learns from the
force's context tables and the unlabelled warm-up events, ``score(batch)`` returns one finite float
per event, higher meaning more suspicious. Turning scores into alerts is the harness's job.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.errors import SnoopbenchError
from snoopbench.contract.info import DatasetInfo


class Detector:
    """Base class of every detector.

    Subclasses set ``name`` (a stable snake_case id), take keyword-only hyperparameters in
    ``__init__`` and store them unchanged under the same names; whatever ``fit`` or ``score``
    learns goes in attributes ending in ``_`` (the scikit-learn convention).
    """

    name: ClassVar[str] = "detector"
    #: True if the detector wants ONE batch holding the whole scoring period (it may then look
    #: ahead within that period). False: it is called on batches in time order and never sees
    #: later events.
    retrospective: ClassVar[bool] = False
    #: True if a row's score does not depend on how the stream is cut into batches. The
    #: conformance suite checks it; a detector that normalises per batch must say False.
    batch_invariant: ClassVar[bool] = True

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        """Learn from context tables (name -> table), the unlabelled warm-up events and the
        dataset's facts (:class:`~snoopbench.contract.info.DatasetInfo`: time zone, start date,
        days, warm-up, staff count).

        The default learns nothing, so a purely streaming detector need not override it.
        """

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        """Return one finite float per row of ``batch``; higher means more suspicious."""
        raise NotImplementedError(f"{type(self).__name__}.score")

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, read back from the attributes ``__init__`` stored."""
        params = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in params if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def call_fit(detector: Detector, context: Mapping[str, pa.Table], history: pa.Table,
             info: DatasetInfo) -> None:
    """Call ``fit`` with the dataset's facts if it takes them (a plug-in written before ``info``
    was added to the contract takes only ``context`` and ``history``)."""
    try:
        params = inspect.signature(detector.fit).parameters.values()
    except (TypeError, ValueError):
        params = ()
    takes_info = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "info" for p in params) \
        or len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 3
    if takes_info:
        detector.fit(context, history, info)
    else:
        detector.fit(context, history)


def zone_of(detector: Detector, info: DatasetInfo | None) -> str:
    """The time zone a detector works in: its own ``timezone`` hyperparameter if set, else the
    dataset's. No detector assumes a zone."""
    own = getattr(detector, "timezone", None)
    if own:
        return own
    if info is None:
        raise SnoopbenchError(f"{detector.name}: needs the dataset's time zone; pass the dataset's "
                              "DatasetInfo to fit() (snoopbench.load(path).info), or timezone=...")
    return info.timezone


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash64(values: np.ndarray, key: int) -> np.ndarray:
    """A keyed 64-bit hash (splitmix64 finaliser) of integer ``values``, vectorised.

    For randomness that must not depend on how events are batched: a detector hashes each
    ``event_id`` with a key derived from its seed instead of drawing numbers in sequence.
    """
    with np.errstate(over="ignore"):
        x = np.asarray(values).astype(np.uint64) + np.uint64(key & 0xFFFFFFFFFFFFFFFF) * _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map 64-bit hashes to floats in (0, 1], uniformly (53 bits of precision)."""
    return ((hashes >> np.uint64(11)).astype(np.float64) + 1.0) * (1.0 / 9007199254740992.0)
