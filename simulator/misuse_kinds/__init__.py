"""The registry of misuse kinds: one module per kind, registered here and nowhere else.

The built-in kinds are the contract's episode vocabulary (:data:`snoopbench.contract.schema.EPISODE_KINDS`):
each name is a module of this package exposing ``KIND``, loaded on first use, in the contract's order
(the planner draws kinds in registry order, so the order is part of the output). Other kinds (a
test's, a study's) join with :func:`register` and come after them.

Adding a kind: a module here with its ``KIND``, its name in ``EPISODE_KINDS``, its keys in the
scenarios that use it, and its test.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from snoopbench.contract.errors import ScenarioError
from snoopbench.contract.schema import EPISODE_KINDS, SKILLS
from snoopbench.simulator.misuse_kinds.base import MisuseKind, Planning

__all__ = ["MisuseKind", "Planning", "all_kinds", "get", "names", "register", "registered", "unregister",
           "with_defaults", "absent_from"]

_builtin: dict[str, MisuseKind] = {}
_extra: dict[str, MisuseKind] = {}


def _load_builtin() -> dict[str, MisuseKind]:
    if not _builtin:
        for name in EPISODE_KINDS:
            kind = importlib.import_module(f"{__name__}.{name}").KIND
            if kind.name != name:
                raise RuntimeError(f"misuse kind module {name!r} registers {kind.name!r}")
            _builtin[name] = kind
    return _builtin


def all_kinds() -> dict[str, MisuseKind]:
    """Every registered kind by name, built-in kinds first in the contract's order."""
    return {**_load_builtin(), **_extra}


def names() -> tuple[str, ...]:
    return tuple(EPISODE_KINDS) + tuple(_extra)


def get(name: str) -> MisuseKind:
    kinds = all_kinds()
    if name not in kinds:
        raise KeyError(f"no misuse kind {name!r}; registered: {', '.join(kinds)}")
    return kinds[name]


def register(kind: MisuseKind) -> MisuseKind:
    """Add a kind (an instance of a :class:`MisuseKind` subclass) under its ``name``.

    Registration is per process: shards in worker processes (``workers > 1``, Dask) know only the
    built-in kinds unless the registering module runs there too."""
    if not isinstance(kind, MisuseKind) or not kind.name or not kind.name.isidentifier():
        raise ValueError(f"expected a MisuseKind instance with a snake_case name, got {kind!r}")
    if kind.name in names():
        raise ValueError(f"a misuse kind named {kind.name!r} is already registered")
    _extra[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    if name in EPISODE_KINDS:
        raise ValueError(f"{name!r} is a built-in kind of the contract")
    _extra.pop(name, None)


@contextmanager
def registered(kind: MisuseKind) -> Iterator[MisuseKind]:
    """``kind`` registered for the duration of a ``with`` block."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)


def with_defaults(kinds: Any, file: str) -> Any:
    """A raw ``[misuse.kinds]`` table with each kind's defaults under what the file gives; an
    unregistered kind is a :class:`ScenarioError` naming the file and key."""
    if not isinstance(kinds, dict):
        return kinds  # the format's check names what was expected
    reg = all_kinds()
    out = {}
    for name, section in kinds.items():
        key = f"misuse.kinds.{name}"
        if name not in reg:
            raise ScenarioError(f"unknown misuse kind; expected one of: {', '.join(reg)}", file=file, key=key)
        kind = reg[name]
        if isinstance(section, dict):
            mix = section.get("skill_mix", {})
            mix = mix if isinstance(mix, dict) else {}   # not a table: the format's check says so
            bad = [s for s, w in mix.items() if s in SKILLS and s not in kind.skills
                   and isinstance(w, (int, float)) and w > 0]
            if bad:
                raise ScenarioError(f"expected weight only on the kind's skills ({', '.join(kind.skills)}), "
                                    f"got {bad[0]!r}", file=file, key=f"{key}.skill_mix.{bad[0]}")
            section = {**kind.defaults(), **section}
        out[name] = section
    return out


def absent_from(kinds: dict) -> list[str]:
    """Registered kinds a resolved scenario does not ask for (they will have no episodes)."""
    return [name for name in names() if name not in kinds]
