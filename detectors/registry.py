"""A lazy registry of detectors: stable ids mapped to ``"module:Class"`` strings.

Built-in ids are listed below; installed packages add theirs under the entry-point group
``snoopbench.detectors``. Nothing is imported until a detector is asked for, so listing ids or
parsing a SPEC never pulls in a detector's optional dependencies.

A SPEC is ``id``, ``id:key=value,key2=value`` (values read as int, float, bool or str), or
``exec:COMMAND`` for an outside program (run by the harness, never by this module).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from snoopbench.detectors.base import Detector

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
    "isolation_forest": "snoopbench.detectors.forest:IsolationForestDetector",
}
#: Ids registered at run time (tests, notebooks); they win over plug-ins, not over built-ins.
_EXTRA: dict[str, str] = {}

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """A SPEC that cannot be parsed or names no known detector.

    ``detectors`` knows nothing of the simulator's error family; the harness turns this into an
    input error (exit code 2).
    """


@dataclass(frozen=True)
class DetectorSpec:
    """A parsed SPEC: a registry id with hyperparameters, or an ``exec:`` command."""

    text: str
    id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    command: str | None = None

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
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise SpecError(f"bad parameter {item!r} in {text!r}: expected key=value")
        params[key] = parse_value(value.strip())
    return DetectorSpec(text=text, id=ident, params=params)


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


def create(spec: str | DetectorSpec) -> Detector:
    """Build a detector from a SPEC (not ``exec:``, which only the harness can run)."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.is_exec:
        raise SpecError(f"{spec.text!r} is an outside program: run it through the harness")
    return load(spec.id)(**spec.params)
