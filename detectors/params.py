"""Hyperparameters of a detector, read from the keyword arguments of its ``__init__``.

A detector's hyperparameters are exactly the parameters of its ``__init__`` (scikit-learn's rule):
their names, annotated types and defaults come from the signature. This module reads them, turns
the text of a SPEC (``volume:z=3.5``) into values of those types, and checks values set from
Python, so that a bad parameter is refused with one message, naming the detector, the parameter
and what was expected, before any detector runs.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Union

from snoopbench.contract.errors import InputError

_EMPTY = inspect.Parameter.empty
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")


class SpecError(InputError, ValueError):
    """A SPEC that cannot be parsed, names no known detector, or gives it bad parameters.

    Bad input (exit code 2); also a ``ValueError``, as a bad argument is in Python.
    """


class ParamError(SpecError):
    """A hyperparameter the detector does not take, or a value not of its type."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its name, its annotated type (``None`` if unannotated), its default
    (:data:`inspect.Parameter.empty` if it has none) and its kind of parameter."""

    name: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    def type_text(self) -> str:
        """The type as a reader would write it: ``float``, ``int | None``, ``'sum' | 'max'``."""
        return _type_text(self.annotation)

    def from_text(self, who: str, text: str) -> Any:
        """The value of SPEC text ``text`` for this parameter; :class:`ParamError` if it is not
        one of its type."""
        try:
            return _from_text(self.annotation, text.strip())
        except ValueError:
            raise self._error(who, text) from None

    def check(self, who: str, value: Any) -> Any:
        """``value`` if it is of this parameter's type (an int given for a float becomes a
        float); :class:`ParamError` otherwise."""
        try:
            return _check(self.annotation, value)
        except (TypeError, ValueError):
            raise self._error(who, value) from None

    def _error(self, who: str, got: Any) -> ParamError:
        return ParamError(f"{who}: parameter {self.name!r} expects {_expected(self.annotation)}, "
                          f"got {got!r}")


def signature_params(cls: type) -> dict[str, Param]:
    """The hyperparameters of a detector class: the named parameters of its ``__init__``.

    Annotations are resolved (they may be strings, under ``from __future__ import
    annotations``); an unannotated parameter takes the type of its default, if it has one.
    """
    init = cls.__init__
    if init is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: fall back below
        hints = {}
    out: dict[str, Param] = {}
    for i, p in enumerate(inspect.signature(init).parameters.values()):
        if i == 0 or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # self, *args, **kwargs
        ann = hints.get(p.name, p.annotation)
        if ann is _EMPTY or isinstance(ann, str):
            ann = type(p.default) if p.default not in (_EMPTY, None) else None
        out[p.name] = Param(p.name, ann, p.default)
    return out


def check_params(who: str, cls: type, params: Mapping[str, Any],
                 texts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validate ``params`` for detector class ``cls`` (called ``who`` in messages).

    ``texts``: the same parameters as SPEC text, read by the annotated types (else the values of
    ``params`` are checked as Python values). Returns the values to pass to ``__init__``. Raises
    :class:`ParamError` for a name ``__init__`` does not take, a value of the wrong type, or a
    required parameter left out.
    """
    known = signature_params(cls)
    out: dict[str, Any] = {}
    for name, value in params.items():
        param = known.get(name)
        if param is None:
            raise ParamError(unknown_message(who, name, known))
        if texts is not None and name in texts:
            out[name] = param.from_text(who, texts[name])
        else:
            out[name] = param.check(who, value)
    missing = [p for p in known.values() if p.required and p.name not in out]
    if missing:
        p = missing[0]
        raise ParamError(f"{who}: parameter {p.name!r} is required ({_expected(p.annotation)})")
    return out


def unknown_message(who: str, name: str, known: Mapping[str, Param]) -> str:
    takes = f"its parameters: {', '.join(known)}" if known else "it takes no parameters"
    return f"{who}: no parameter {name!r}; {takes}"


def _args(ann: Any) -> tuple[Any, tuple]:
    return typing.get_origin(ann), typing.get_args(ann)


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _from_text(ann: Any, text: str) -> Any:
    origin, args = _args(ann)
    if ann is None or ann is Any:
        from snoopbench.detectors.registry import parse_value

        return parse_value(text)
    if _is_union(origin):
        if type(None) in args and text.lower() in _NONE:
            return None
        for member in args:
            if member is not type(None):
                try:
                    return _from_text(member, text)
                except ValueError:
                    pass
        raise ValueError(text)
    if origin is Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(text)
    if ann is bool:
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(text)
    if ann is int:
        return int(text, 10)
    if ann is float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    if ann is str:
        return text
    if isinstance(ann, type):
        return _check(ann, ann(text))
    raise ValueError(text)


def _check(ann: Any, value: Any) -> Any:
    origin, args = _args(ann)
    if ann is None or ann is Any:
        return value
    if _is_union(origin):
        if value is None and type(None) in args:
            return None
        for member in args:
            if member is not type(None):
                try:
                    return _check(member, value)
                except (TypeError, ValueError):
                    pass
        raise TypeError(value)
    if origin is Literal:
        if any(value == c and type(value) is type(c) for c in args):
            return value
        raise ValueError(value)
    if ann is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise TypeError(value)
        return float(value)
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if hasattr(value, "__index__") and not isinstance(value, bool):
                return int(value.__index__())  # numpy integers
            raise TypeError(value)
        return value
    if isinstance(ann, type):
        if not isinstance(value, ann):
            raise TypeError(value)
        return value
    return value


def _type_text(ann: Any) -> str:
    origin, args = _args(ann)
    if ann is None or ann is Any:
        return "any"
    if _is_union(origin):
        return " | ".join("None" if a is type(None) else _type_text(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    return getattr(ann, "__name__", str(ann))


def _expected(ann: Any) -> str:
    """What a value must be, in words, for a message."""
    origin, args = _args(ann)
    if ann is None or ann is Any:
        return "a value"
    if _is_union(origin):
        words = [_expected(a) for a in args if a is not type(None)]
        if type(None) in args:
            words.append("none")
        return " or ".join(words)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    return {bool: "true or false", int: "an integer", float: "a finite number (float)",
            str: "a string"}.get(ann, f"a {_type_text(ann)}")
