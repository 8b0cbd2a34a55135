"""A lazy registry of detectors: stable ids mapped to ``"module:Class"`` strings.

Built-in ids are listed below; installed packages add theirs under the entry-point group
``snoopbench.detectors``. Nothing is imported until a detector is asked for, so listing ids or
parsing a SPEC never pulls in a detector's optional dependencies.

A SPEC is ``id``, ``id:key=value,key2=value``, or ``exec:COMMAND`` for an outside program (run by
the harness, never by this module). Parsing a SPEC only reads its shape (values guessed as int,
float, bool or str); :func:`check_spec` and :func:`create` then read each value by the type its
detector's ``__init__`` declares, and refuse names it does not take.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Any

from snoopbench.detectors.base import Detector
from snoopbench.detectors.params import ParamError, SpecError  # noqa: F401 (re-exported)

ENTRY_POINT_GROUP = "snoopbench.detectors"
EXEC_PREFIX = "exec:"

#: Built-in detectors, id -> "module:Class". Built-ins win over a plug-in claiming the same id.
BUILTIN: dict[str, str] = {
    "null": "snoopbench.detectors.baselines:NullDetector",
    "random": "snoopbench.detectors.baselines:RandomDetector",
    "random_audit": "snoopbench.detectors.rules:RandomAuditDetector",
    "canary": "snoopbench.detectors.rules:CanaryDetector",
    "off_shift": "snoopbench.detectors.rules:OffShiftDetector",
    "explanation": "snoopbench.detectors.explanation:ExplanationDetector",
    "relationship": "snoopbench.detectors.relationship:RelationshipDetector",
    "vip": "snoopbench.detectors.records:VipDetector",
    "watchlist": "snoopbench.detectors.records:WatchlistDetector",
    "media_export": "snoopbench.detectors.records:MediaExportDetector",
    "volume": "snoopbench.detectors.volume:VolumeDetector",
    "ensemble": "snoopbench.detectors.ensemble:EnsembleDetector",
    "adaptive": "snoopbench.detectors.adaptive:AdaptiveEnsembleDetector",
    "isolation_forest": "snoopbench.detectors.forest:IsolationForestDetector",
}
#: Ids registered at run time (tests, notebooks); they win over plug-ins, not over built-ins.
_EXTRA: dict[str, str] = {}

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class DetectorSpec:
    """A parsed SPEC: a registry id with hyperparameters, or an ``exec:`` command."""

    text: str
    id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    #: The parameters as written, for reading by the detector's annotated types.
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_exec(self) -> bool:
        return self.command is not None


def parse_spec(text: str) -> DetectorSpec:
    """Parse a SPEC string; raise :class:`SpecError` if it is malformed."""
    text = text.strip()
    if text.startswith(EXEC_PREFIX):
        command = text[len(EXEC_PREFIX):].strip()
        if not command:
            raise SpecError("'exec:' needs a command after the colon")
        return DetectorSpec(text=text, command=command)
    ident, _, rest = text.partition(":")
    if not _ID.match(ident):
        raise SpecError(f"bad detector id {ident!r}: expected snake_case")
    params: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise SpecError(f"bad parameter {item!r} in {text!r}: expected key=value")
        if key in params:
            raise SpecError(f"parameter {key!r} given twice in {text!r}")
        params[key] = parse_value(value.strip())
        texts[key] = value.strip()
    return DetectorSpec(text=text, id=ident, params=params, texts=texts)


def parse_value(value: str) -> int | float | bool | str:
    """Read a SPEC value as bool (true/false), int, float, or else keep it as a string."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def register(ident: str, target: str | type[Detector]) -> None:
    """Register a detector at run time under ``ident`` (a class or a ``"module:Class"`` string)."""
    if not _ID.match(ident):
        raise ValueError(f"detector id {ident!r} is not snake_case")
    if isinstance(target, type):
        target = f"{target.__module__}:{target.__qualname__}"
    _EXTRA[ident] = target


def unregister(ident: str) -> None:
    """Remove an id added with :func:`register` (no-op if absent)."""
    _EXTRA.pop(ident, None)


def available() -> dict[str, str]:
    """Every known id -> ``"module:Class"``: built-ins, run-time registrations, plug-ins."""
    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value
    found.update(_EXTRA)
    found.update(BUILTIN)
    return found


def source_of(ident: str) -> str:
    """Where an id comes from: ``builtin``, ``registered`` or ``plugin``."""
    if ident in BUILTIN:
        return "builtin"
    return "registered" if ident in _EXTRA else "plugin"


def target_of(ident: str) -> str:
    """The ``"module:Class"`` of an id; :class:`SpecError` listing the known ids if unknown."""
    known = available()
    if ident not in known:
        raise SpecError(
            f"unknown detector {ident!r}; known: {', '.join(sorted(known))} (or exec:COMMAND)"
        )
    return known[ident]


def import_target(target: str) -> type[Detector]:
    """Import ``"module:Class"`` (the class path may be dotted) and return the class."""
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load(ident: str) -> type[Detector]:
    """The detector class registered under ``ident`` (imported now, not before)."""
    return import_target(target_of(ident))


def check_spec(spec: str | DetectorSpec) -> DetectorSpec:
    """Check a SPEC before anything runs: a known id, and hyperparameters its detector takes.

    Returns the SPEC with its values read by the types its detector's ``__init__`` declares
    (``ensemble:rules=7`` gives the string ``"7"``, ``volume:z=3`` the float ``3.0``).
    Raises :class:`SpecError` for an unknown id and :class:`ParamError` (naming the detector, the
    parameter and what it expects) for a name its ``__init__`` does not take or a value not of
    the annotated type. A detector whose module does not import is not checked here: running it
    reports why, as that detector's error. ``exec:`` SPECs pass unchanged.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.is_exec:
        return spec
    target = target_of(spec.id)
    try:
        cls = import_target(target)
    except Exception:  # noqa: BLE001 - a broken plug-in fails when run, not the whole command
        return spec
    return replace(spec, params=_checked_params(cls, spec))


def _checked_params(cls: type, spec: DetectorSpec) -> dict[str, Any]:
    checker = getattr(cls, "check_params", None)
    if checker is None:  # a plug-in that does not derive from Detector
        from snoopbench.detectors.params import check_params

        return check_params(spec.id, cls, spec.params, spec.texts)
    return checker(spec.params, who=spec.id, texts=spec.texts)


def create(spec: str | DetectorSpec) -> Detector:
    """Build a detector from a SPEC (not ``exec:``, which only the harness can run).

    Each value is read by the type ``__init__`` declares for it; :class:`ParamError` if a name
    is not one of its parameters or a value is not of its type.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.is_exec:
        raise SpecError(f"{spec.text!r} is an outside program: run it through the harness")
    cls = load(spec.id)
    return cls(**_checked_params(cls, spec))
