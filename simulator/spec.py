"""A tiny declarative language for the scenario format: keys, types, ranges, defaults and docs.

The scenario format itself is declared in :mod:`simulator.scenario_format`; this module only knows how
to check a value against a declaration and say precisely what was expected.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snoopbench.contract.errors import InputError, ScenarioError

_MISSING = object()


@dataclass(frozen=True)
class Field:
    """A leaf value. ``kind`` is one of int, float, str, bool, date, list[str], list[float], list[int]."""

    kind: str
    default: Any = _MISSING
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    min_len: int = 0
    length: int | None = None

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def expected(self) -> str:
        text = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                "date": "a date (YYYY-MM-DD)", "list[str]": "a list of strings",
                "list[float]": "a list of numbers", "list[int]": "a list of integers"}[self.kind]
        if self.choices:
            text += " among " + ", ".join(repr(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            text += f" from {self.min:g} to {self.max:g}"
        elif self.min is not None:
            text += f" of at least {self.min:g}"
        elif self.max is not None:
            text += f" of at most {self.max:g}"
        if self.length is not None:
            text += f", exactly {self.length} long"
        return text


@dataclass(frozen=True)
class Section:
    """A TOML table with a fixed set of keys."""

    fields: dict[str, Any]
    doc: str = ""


@dataclass(frozen=True)
class MapOf:
    """A TOML table whose keys are free (or drawn from ``keys``) and whose values share one declaration."""

    value: Any
    keys: tuple[str, ...] | None = None
    default: dict = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True)
class ListOf:
    """An array of tables sharing one declaration."""

    item: Section
    default: list = field(default_factory=list)
    doc: str = ""


def _type_ok(f: Field, v: Any) -> bool:
    num = (int, float)
    if f.kind == "int":
        return isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63
    if f.kind == "float":  # NaN and infinities are no one's rate, share or count
        return isinstance(v, num) and not isinstance(v, bool) and math.isfinite(v)
    if f.kind == "str":
        return isinstance(v, str)
    if f.kind == "bool":
        return isinstance(v, bool)
    if f.kind == "date":
        return isinstance(v, dt.date) and not isinstance(v, dt.datetime)
    if f.kind.startswith("list["):
        inner = Field(f.kind[5:-1])
        return isinstance(v, list) and all(_type_ok(inner, x) for x in v)
    raise AssertionError(f.kind)


def check_field(f: Field, v: Any, file: str, key: str) -> Any:
    if not _type_ok(f, v):
        finite = " (finite)" if "float" in f.kind else ""
        raise ScenarioError(f"expected {f.expected()}{finite}, got {v!r}", file=file, key=key)
    values = v if isinstance(v, list) else [v]
    if isinstance(v, list):
        if len(v) < f.min_len:
            raise ScenarioError(f"expected at least {f.min_len} item(s), got {len(v)}", file=file, key=key)
        if f.length is not None and len(v) != f.length:
            raise ScenarioError(f"expected {f.expected()}, got {len(v)} items", file=file, key=key)
    for x in values:
        if f.choices is not None and x not in f.choices:
            raise ScenarioError(f"expected {f.expected()}, got {x!r}", file=file, key=key)
        if f.min is not None and x < f.min or f.max is not None and x > f.max:
            raise ScenarioError(f"expected {f.expected()}, got {x!r}", file=file, key=key)
    if f.kind == "float":
        return [float(x) for x in v] if isinstance(v, list) else float(v)
    return v


def resolve(decl: Any, value: Any, file: str, key: str) -> Any:
    """Check ``value`` against ``decl`` and return it with every default filled in."""
    if isinstance(decl, Field):
        return check_field(decl, value, file, key)
    if isinstance(decl, Section):
        if not isinstance(value, dict):
            raise ScenarioError(f"expected a table, got {value!r}", file=file, key=key)
        unknown = sorted(set(value) - set(decl.fields))
        if unknown:
            known = ", ".join(sorted(decl.fields))
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise ScenarioError(f"unknown key; expected one of: {known}", file=file, key=where)
        out = {}
        for name, sub in decl.fields.items():
            sub_key = f"{key}.{name}" if key else name
            if name in value:
                out[name] = resolve(sub, value[name], file, sub_key)
            else:
                out[name] = default_of(sub, file, sub_key)
        return out
    if isinstance(decl, MapOf):
        if not isinstance(value, dict):
            raise ScenarioError(f"expected a table, got {value!r}", file=file, key=key)
        out = {}
        for name in value:
            if decl.keys is not None and name not in decl.keys:
                raise ScenarioError(f"unknown key; expected one of: {', '.join(decl.keys)}",
                                    file=file, key=f"{key}.{name}")
            base = decl.default.get(name, {}) if isinstance(decl.value, Section) else None
            v = value[name]
            if isinstance(base, dict) and base and isinstance(v, dict):
                v = deep_merge(base, v)
            out[name] = resolve(decl.value, v, file, f"{key}.{name}")
        for name, dv in decl.default.items():
            if name not in out:
                out[name] = resolve(decl.value, dv, file, f"{key}.{name}")
        return out
    if isinstance(decl, ListOf):
        if not isinstance(value, list):
            raise ScenarioError(f"expected an array of tables, got {value!r}", file=file, key=key)
        return [resolve(decl.item, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
    raise AssertionError(decl)


def default_of(decl: Any, file: str, key: str) -> Any:
    if isinstance(decl, Field):
        if decl.required:
            raise ScenarioError(f"missing; expected {decl.expected()}", file=file, key=key)
        return decl.default
    if isinstance(decl, Section):
        return resolve(decl, {}, file, key)
    if isinstance(decl, MapOf):
        return resolve(decl, {}, file, key)
    if isinstance(decl, ListOf):
        return list(decl.default)
    raise AssertionError(decl)


def deep_merge(base: dict, over: dict) -> dict:
    """Merge ``over`` into ``base``: tables merge key by key, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# -- TOML files that extend each other (scenarios, regimes) ---------------------------------------

def read_toml(path: Path, error: type[InputError], referenced_from: tuple[Path, str] | None = None
              ) -> dict[str, Any]:
    """One TOML file as a dict; ``error`` (naming the file, or the file and key that referenced
    it) if it is missing, not UTF-8 or not TOML."""
    if not path.is_file():
        if referenced_from:
            src, key = referenced_from
            raise error(f"file {str(path)!r} not found", file=str(src), key=key)
        raise error("file not found", file=str(path))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})", file=str(path)) from None
    except UnicodeDecodeError:
        raise error("not a UTF-8 text file", file=str(path)) from None


def shipped_file(folder: Path, name: str) -> Path | None:
    """The shipped file of that bare name (``tiny`` or ``tiny.toml``) in ``folder``, if any."""
    p = Path(name)
    if p.parent != Path("."):
        return None
    cand = folder / (p.name if p.suffix == ".toml" else f"{p.name}.toml")
    return cand if cand.is_file() else None


def load_extending(path: Path, error: type[InputError], shipped: Path, what: str,
                   _chain: tuple[Path, ...] = (), _from: tuple[Path, str] | None = None) -> dict[str, Any]:
    """Read a TOML file and deep-merge it over the file its ``extends`` names: a file next to it,
    else a shipped one of that name in ``shipped`` (so a file in any folder can extend a shipped
    ``what`` by name). Cycles and missing targets are ``error``, naming the file and key."""
    path = path.resolve()
    if path in _chain:
        raise error("extends itself through " + " -> ".join(p.name for p in _chain + (path,)),
                    file=str(_chain[-1]), key="extends")
    raw = read_toml(path, error, _from)
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise error(f"expected a shipped {what}'s name or a path to another {what} file, got {parent!r}",
                    file=str(path), key="extends")
    local = path.parent / parent
    target = local if local.is_file() else shipped_file(shipped, parent)
    if target is None:
        names = ", ".join(sorted(p.stem for p in shipped.glob("*.toml")))
        raise error(f"{parent!r} not found: neither a file next to this one nor a shipped {what} ({names})",
                    file=str(path), key="extends")
    base = load_extending(target, error, shipped, what, _chain + (path,), (path, "extends"))
    return deep_merge(base, raw)
