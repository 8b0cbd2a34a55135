"""The detector interface of the public contract (see DESIGN.md, "Detector plug-ins").

A detector has two methods and one score direction: ``fit(context, history)`` learns from the
force's context tables and the unlabelled warm-up events, ``score(batch)`` returns one finite float
per event, higher meaning more suspicious. Turning scores into alerts is the harness's job.

A detector may also *explain* its scores: an optional ``explain(batch, rows)`` (see
:meth:`Detector.explain`), which the base class does not define, so that the harness knows
which detectors explain.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.errors import SnoopbenchError
from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.params import (
    Param, ParamError, check_params, signature_params, unknown_message,
)


class NotFittedError(SnoopbenchError, RuntimeError):
    """A detector asked to score before ``fit`` gave it what it learns there."""


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
    #: False if ``fit`` never looks at the context tables: the harness then hands it none.
    uses_context: ClassVar[bool] = True
    #: False if ``fit`` never looks at the warm-up events (and ``score`` carries nothing from
    #: batch to batch that they would have set): the harness then neither reads nor holds them,
    #: and hands ``fit`` a warm-up of no rows.
    uses_warmup: ClassVar[bool] = True
    #: The event columns ``score`` reads, or None for all of them. With ``uses_warmup = False``
    #: the harness hands it batches of these columns only (in the contract's order).
    reads: ClassVar[tuple[str, ...] | None] = None

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

    # Optional, and so not defined here (the harness asks a detector that has it):
    #
    # def explain(self, batch: pa.RecordBatch, rows: np.ndarray) -> Sequence[str | None]:
    #     """Why the events ``rows`` (indices into ``batch``) scored as they did: one string or
    #     None per row. Called right after ``score(batch)`` on the same batch, before the next,
    #     so the detector's state is the one that scored it; it must not change that state.
    #     Name what the alert is about as TYPE:ID (``person:1234``, ``vehicle:88``): the
    #     benchmark checks whether an explanation names the misuse's target."""
    #
    # The harness asks only for the events that may become alerts (each user-day's top event
    # while it is among its day's top scores), so its cost grows with the alerts, not the events.

    @classmethod
    def hyperparameters(cls) -> dict[str, Param]:
        """The hyperparameters: the keyword parameters of ``__init__``, with types and defaults."""
        return signature_params(cls)

    @classmethod
    def check_params(cls, params: Mapping[str, Any], *, who: str | None = None,
                     texts: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Validate hyperparameters against ``__init__``'s signature and annotated types.

        ``texts`` holds SPEC text to read by those types. :class:`ParamError` (bad input, naming
        the detector, the parameter and what it expects) for an unknown name or a bad value.
        """
        return check_params(who or cls._label(), cls, params, texts)

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The hyperparameters, read back from the attributes ``__init__`` stored under their names.

        Every parameter of ``__init__`` is one: an ``__init__`` that does not keep one raises
        ``TypeError`` here rather than drop it. With ``deep``, a parameter that is itself a
        detector adds its own as ``name__param`` (scikit-learn's convention).
        """
        out: dict[str, Any] = {}
        for name in self.hyperparameters():
            try:
                value = getattr(self, name)
            except AttributeError:
                raise TypeError(f"{type(self).__name__}.__init__ takes {name!r} but does not keep "
                                f"it as self.{name}: hyperparameters are stored unchanged") from None
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params(deep=True).items())
        return out

    def set_params(self, **params: Any) -> "Detector":
        """Set hyperparameters by name (``name__param`` reaches into a nested detector).

        Unknown names and values of the wrong type raise :class:`ParamError`, and then none of
        this detector's own values is set. Returns the detector.
        """
        known = self.hyperparameters()
        own: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            outer, nest, inner = key.partition("__")
            if outer not in known:
                raise ParamError(unknown_message(self._label(), outer, known))
            if not nest:
                own[outer] = known[outer].check(self._label(), value)
            elif hasattr(getattr(self, outer, None), "set_params"):
                nested.setdefault(outer, {})[inner] = value
            else:
                raise ParamError(f"{self._label()}: parameter {outer!r} is not a detector, "
                                 f"so {key!r} names nothing")
        for name, value in own.items():
            setattr(self, name, value)
        for outer, inner in nested.items():
            getattr(self, outer).set_params(**inner)
        return self

    def check_fitted(self, *attributes: str) -> None:
        """Raise :class:`NotFittedError` unless ``fit`` has set every one of ``attributes``."""
        missing = [a for a in attributes if getattr(self, a, None) is None]
        if missing:
            raise NotFittedError(f"detector {self._label()!r} ({type(self).__name__}) is not "
                                 "fitted: call fit(context, history) before score(batch)")

    @classmethod
    def _label(cls) -> str:
        """The detector's id for messages: its ``name``, or its class name if it has none."""
        return cls.name if cls.name != Detector.name else cls.__name__

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k, '?')!r}" for k in self.hyperparameters())
        return f"{type(self).__name__}({args})"


def explains(detector: object) -> bool:
    """Whether a detector has the optional ``explain(batch, rows)`` method."""
    return callable(getattr(detector, "explain", None))


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
