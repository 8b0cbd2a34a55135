"""A lazy registry of detectors: stable ids mapped to ``"module:Class"`` strings.

Built-in ids are listed below; installed packages add theirs under the entry-point group
``snoopbench.detectors``. Nothing is imported until a detector is asked for, so listing ids or
parsing a SPEC never pulls in a detector's optional dependencies.

A SPEC is ``id``, ``id:key=value,key2=value``, or ``exec:COMMAND`` for an outside program (run by
the harness, never by this module). Either may carry a name for tables and results in brackets
after the id: ``exec[name=kinwatch]:./kinwatch {events} {out}``, ``volume[name=v35]:z=3.5``.
Without one, a registry SPEC is named by its text and an outside program by a short name derived
from its command (:func:`exec_name`). ``builtin`` and ``all`` are sets, not ids: every built-in
detector, and the built-ins plus every installed plug-in (:func:`expand`).

Parsing a SPEC only reads its shape (values guessed as int, float, bool or str);
:func:`check_spec` and :func:`create` then read each value by the type its detector's
``__init__`` declares, and refuse names it does not take.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import re
import shlex
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Any, Sequence

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
#: ``id[options]`` or ``exec[options]`` before the SPEC's colon (or its end).
_OPTIONS = re.compile(r"^(?P<head>[^\[\]:\s]+)\[(?P<options>[^\]]*)\](?P<rest>.*)$", re.S)
#: What a detector's name may be: short, printable, no spaces or markup.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+@~-]{0,39}$")
#: Longest derived name of an outside program.
EXEC_NAME_MAX = 24
#: SPECs that stand for sets of detectors.
SETS = {"builtin": "every built-in detector",
        "all": "every built-in detector and every installed plug-in (and run-time registration)"}
#: Interpreters whose script names an outside program better than they do.
_INTERPRETERS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|sh|bash|dash|zsh|node|deno|bun|ruby|perl|"
                           r"Rscript|julia|java|uv|uvx|env|exec|nice|timeout|duckdb|sqlite3)$")


@dataclass(frozen=True)
class DetectorSpec:
    """A parsed SPEC: a registry id with hyperparameters, or an ``exec:`` command."""

    text: str
    id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    #: The parameters as written, for reading by the detector's annotated types.
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The name given in brackets (``exec[name=kinwatch]:...``), if any.
    label: str | None = None

    @property
    def is_exec(self) -> bool:
        return self.command is not None

    @property
    def name(self) -> str:
        """What tables and results call this detector: the name given, else the SPEC's text
        (an outside program: a short name derived from its command, see :func:`exec_name`)."""
        if self.label is not None:
            return self.label
        return exec_name(self.command) if self.is_exec else self.text


def parse_spec(text: str) -> DetectorSpec:
    """Parse a SPEC string; raise :class:`SpecError` if it is malformed."""
    text = text.strip()
    head, label = _options(text)
    if head.startswith(EXEC_PREFIX):
        command = head[len(EXEC_PREFIX):].strip()
        if not command:
            raise SpecError(f"{text!r}: 'exec:' needs a command after the colon")
        return DetectorSpec(text=text, command=command, label=label)
    ident, _, rest = head.partition(":")
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
    return DetectorSpec(text=text, id=ident, params=params, texts=texts, label=label)


def _options(text: str) -> tuple[str, str | None]:
    """``text`` without its bracketed options, and the name they give (None if none)."""
    m = _OPTIONS.match(text)
    if m is None or (text.startswith(EXEC_PREFIX) and "[" not in text.partition(":")[0]):
        return text, None
    head, rest = m["head"], m["rest"]
    if rest and not rest.startswith(":"):
        raise SpecError(f"{text!r}: expected ':' after ']'")
    label = None
    for item in filter(None, (o.strip() for o in m["options"].split(","))):
        key, eq, value = (part.strip() for part in item.partition("="))
        if key != "name" or not eq:
            raise SpecError(f"{text!r}: unknown option {item!r} in brackets; expected name=NAME")
        if label is not None:
            raise SpecError(f"{text!r}: name given twice")
        if not NAME.match(value):
            raise SpecError(f"{text!r}: bad name {value!r}; expected 1-40 letters, digits or "
                            "_ . + @ ~ -, starting with a letter or digit")
        label = value
    if label is None:
        raise SpecError(f"{text!r}: empty brackets; expected [name=NAME]")
    return head + rest, label


def exec_name(command: str) -> str:
    """A short, stable name for an outside program: ``exec:`` and the program's (or script's)
    file name, then ``~`` and six hex digits of the command's SHA-256, at most
    :data:`EXEC_NAME_MAX` characters. The same command always gets the same name; two commands
    running one program get different names."""
    digest = hashlib.sha256(command.encode()).hexdigest()[:6]
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    stem, skip = "", False
    for word in words:
        if skip or "=" in word.split("/")[0] or "{" in word:
            skip = False
            continue  # VAR=value, a placeholder, an interpreter's inline code
        if word.startswith("-"):
            skip = word in ("-c", "-e", "--command", "--eval")
            continue
        name = os.path.splitext(os.path.basename(word.rstrip("/")))[0]
        if not stem:
            stem = name  # the program itself
            if not _INTERPRETERS.match(name):
                break
        elif "/" in word or "." in word or not _INTERPRETERS.match(stem):
            stem = name  # the interpreter's script or module
            break
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "", stem) or "cmd"
    room = EXEC_NAME_MAX - len(EXEC_PREFIX) - 7
    return f"{EXEC_PREFIX}{stem[:room]}~{digest}"


def expand(specs: Sequence[str]) -> list[str]:
    """SPECs with the sets ``builtin`` and ``all`` replaced by their members, in place, and
    exact repeats dropped (the first kept)."""
    out: list[str] = []
    for text in specs:
        word = text.strip()
        if word == "builtin":
            out.extend(sorted(BUILTIN))
        elif word == "all":
            out.extend(sorted(BUILTIN))
            out.extend(sorted(i for i in available() if i not in BUILTIN and i not in SETS))
        else:
            out.append(word)
    return list(dict.fromkeys(out))


def check_names(specs: Sequence[DetectorSpec]) -> None:
    """:class:`SpecError` if two SPECs would share a name in the results."""
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"two detectors named {spec.name!r} ({seen[spec.name]!r} and "
                            f"{spec.text!r}); give one another name with [name=NAME]")
        seen[spec.name] = spec.text


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
        close = difflib.get_close_matches(ident, list(known) + list(SETS), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise SpecError(
            f"unknown detector {ident!r}; {hint}known: {', '.join(sorted(known))} "
            f"(or {', '.join(SETS)}, or exec:COMMAND)"
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
