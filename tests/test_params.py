"""Detector hyperparameters: get_params/set_params from ``__init__``, SPEC values read by the
annotated types, bad parameters refused before anything runs, scoring before fit."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snoopbench.contract.errors import InputError, SnoopbenchError
from snoopbench.detectors import Detector, NotFittedError, ParamError, SpecError
from snoopbench.detectors.registry import BUILTIN, check_spec, create, load, parse_spec

IDS = sorted(BUILTIN)


def init_names(cls: type) -> list[str]:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


@pytest.mark.parametrize("ident", IDS)
def test_every_builtin_reports_every_init_parameter(ident: str) -> None:
    cls = load(ident)
    names = init_names(cls)
    det = cls()
    params = det.get_params()
    assert list(params) == names  # nothing dropped, nothing added
    for name, p in cls.hyperparameters().items():
        assert params[name] == p.default
        assert p.type_text() != "any", f"{ident}.{name} has no annotated type"
    clone = cls(**params)
    assert clone.get_params() == params and repr(clone) == repr(det)


@pytest.mark.parametrize("ident", IDS)
def test_set_params_refuses_unknown_names_and_returns_the_detector(ident: str) -> None:
    det = create(ident)
    with pytest.raises(ParamError) as info:
        det.set_params(no_such_thing=1)
    assert ident in str(info.value) and "'no_such_thing'" in str(info.value)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert det.set_params(**det.get_params()) is det


@pytest.mark.parametrize("ident", [i for i in IDS if load(i).hyperparameters()])
def test_set_params_checks_types_and_sets_nothing_on_error(ident: str) -> None:
    det = create(ident)
    before = det.get_params()
    name, param = next(iter(det.hyperparameters().items()))
    with pytest.raises(ParamError) as info:
        det.set_params(**{name: object()})
    assert f"{ident}: parameter {name!r} expects" in str(info.value)
    assert det.get_params() == before
    det.set_params(**{name: param.default})
    assert det.get_params() == before


def test_an_int_for_a_float_is_a_float_and_bools_are_not_numbers() -> None:
    det = create("volume").set_params(z=4, min_events=2)
    assert det.z == 4.0 and isinstance(det.z, float) and det.min_events == 2
    with pytest.raises(ParamError, match="expects an integer"):
        det.set_params(min_events=True)
    with pytest.raises(ParamError, match="finite number"):
        det.set_params(z=math.nan)


@pytest.mark.parametrize("ident", IDS)
def test_scoring_before_fit_is_a_clear_error_or_works(ident: str, synthetic_dataset: Path) -> None:
    """No AttributeError: either the detector needs nothing from fit, or it says it does."""
    part = sorted((synthetic_dataset / "events").glob("*.parquet"))[0]
    batch = pq.read_table(part).to_batches()[0].slice(0, 50)
    det = create(ident)
    try:
        scores = det.score(batch)
    except NotFittedError as exc:
        assert isinstance(exc, SnoopbenchError)
        assert repr(ident) in str(exc) and "fit" in str(exc)
    else:
        assert np.asarray(scores).shape == (batch.num_rows,)


@pytest.mark.parametrize("text, message", [
    ("volume:z=abc", "volume: parameter 'z' expects a finite number (float), got 'abc'"),
    ("volume:z=inf", "volume: parameter 'z' expects a finite number (float), got 'inf'"),
    ("volume:min_events=1.5", "volume: parameter 'min_events' expects an integer, got '1.5'"),
    ("volume:log=maybe", "volume: parameter 'log' expects true or false, got 'maybe'"),
    ("relationship:nope=1", "relationship: no parameter 'nope'; its parameters: near_m,"),
    ("null:x=1", "null: no parameter 'x'; it takes no parameters"),
    ("ensemble:combine=avg", "ensemble: parameter 'combine' expects one of 'sum', 'max'"),
    ("volume:z=1,z=2", "parameter 'z' given twice"),
])
def test_bad_spec_parameters_are_refused_naming_detector_and_parameter(text, message) -> None:
    with pytest.raises(ParamError if "twice" not in message else SpecError) as info:
        check_spec(text)
    assert message in str(info.value)
    with pytest.raises(SpecError):
        create(text)


def test_spec_values_are_read_by_the_annotated_type() -> None:
    assert check_spec("volume:z=3,log=yes,timezone=Europe/Paris").params == {
        "z": 3.0, "log": True, "timezone": "Europe/Paris"}
    assert isinstance(check_spec("volume:z=3").params["z"], float)
    assert check_spec("ensemble:rules=canary+vip").params == {"rules": "canary+vip"}
    assert check_spec("exec:run {out}").params == {}
    det = create("random_audit:share=0.5,seed=7")
    assert det.get_params() == {"share": 0.5, "seed": 7, "timezone": None}


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_round_trips_through_a_spec(z: float) -> None:
    assert check_spec(f"volume:z={z!r}").params["z"] == z


@given(st.integers(min_value=-2**63, max_value=2**63))
def test_any_integer_round_trips_through_a_spec(n: int) -> None:
    assert check_spec(f"random:seed={n}").params["seed"] == n


@given(st.text(alphabet=st.characters(blacklist_characters=",=", blacklist_categories=("Cs",)),
               min_size=1).filter(lambda s: s.strip() and s.strip().lower() not in ("nan", "inf"))
       .filter(lambda s: not _is_number(s)))
def test_text_that_is_no_number_is_refused_for_a_float(text: str) -> None:
    with pytest.raises(ParamError, match="volume: parameter 'z' expects a finite number"):
        check_spec(f"volume:z={text}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@given(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))
def test_any_other_name_is_refused(name: str) -> None:
    known = load("volume").hyperparameters()
    if name in known:
        return
    with pytest.raises(ParamError, match=f"volume: no parameter '{name}'"):
        check_spec(f"volume:{name}=1")


# The base class on its own: detectors that break the rules are told so.

class Careless(Detector):
    name = "careless"

    def __init__(self, *, alpha: float = 1.0, beta: int = 2) -> None:
        self.alpha = alpha  # forgets beta

    def score(self, batch):
        return np.zeros(batch.num_rows)


class Wrapper(Detector):
    name = "wrapper"

    def __init__(self, *, inner: Optional[Detector] = None, mode: Literal["a", "b"] = "a",
                 limit: Optional[int] = None) -> None:
        self.inner = inner
        self.mode = mode
        self.limit = limit


def test_a_parameter_init_does_not_keep_is_an_error_not_dropped() -> None:
    with pytest.raises(TypeError, match="takes 'beta' but does not keep it"):
        Careless().get_params()
    assert "beta='?'" in repr(Careless())  # repr still works, showing the gap


def test_nested_detectors_deep_params_optional_and_literal_types() -> None:
    w = Wrapper(inner=create("random:seed=3"))
    assert w.get_params(deep=True)["inner__seed"] == 3
    assert "inner__seed" not in w.get_params()
    w.set_params(inner__seed=5, mode="b", limit=None)
    assert w.inner.seed == 5 and w.mode == "b"
    with pytest.raises(ParamError, match="wrapper: parameter 'mode' expects one of 'a', 'b'"):
        w.set_params(mode="c")
    params = Wrapper.hyperparameters()
    assert params["limit"].type_text() == "int | None"
    assert params["limit"].from_text("wrapper", "none") is None
    assert params["limit"].from_text("wrapper", "4") == 4
    with pytest.raises(ParamError, match="expects an integer or none"):
        params["limit"].from_text("wrapper", "four")


def test_parsing_alone_imports_no_detector_and_checks_nothing() -> None:
    spec = parse_spec("volume:nope=1")  # the shape is fine; check_spec finds the bad name
    assert spec.params == {"nope": 1} and spec.texts == {"nope": "1"}
