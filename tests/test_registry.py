"""The detector registry: SPEC parsing, lazy imports, entry points, memory limits."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from snoopbench.benchmarks.harness import score_dataset
from snoopbench.detectors import registry
from snoopbench.detectors.registry import SpecError, available, create, parse_spec

from fake_detectors import register_fakes

register_fakes()


def test_spec_values_are_typed() -> None:
    spec = parse_spec("volume:z=3.5,window=7,robust=true,mode=median,neg=-2")
    assert spec.id == "volume"
    assert spec.params == {"z": 3.5, "window": 7, "robust": True, "mode": "median", "neg": -2}
    assert parse_spec("null").params == {}
    exec_spec = parse_spec("exec:python d.py {events} {out}")
    assert exec_spec.is_exec and exec_spec.command == "python d.py {events} {out}"


@pytest.mark.parametrize("bad", ["Volume", "volume:z", "volume:=3", "exec:", "9lives"])
def test_malformed_specs_are_refused(bad: str) -> None:
    with pytest.raises(SpecError):
        parse_spec(bad)


def test_importing_detectors_imports_no_detector_module() -> None:
    code = ("import sys; import snoopbench.detectors as detectors; detectors.available(); detectors.parse_spec('random:seed=1');"
            "print(sorted(m for m in sys.modules if m.startswith('snoopbench.detectors.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "snoopbench.detectors.baselines" not in out.stdout


def test_plugins_come_from_the_entry_point_group(monkeypatch) -> None:
    eps = [EntryPoint("fancy", "fake_detectors:Volume", registry.ENTRY_POINT_GROUP),
           EntryPoint("null", "fake_detectors:Raises", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    known = available()
    assert known["fancy"] == "fake_detectors:Volume" and registry.source_of("fancy") == "plugin"
    assert known["null"] == registry.BUILTIN["null"]  # a plug-in cannot shadow a built-in
    assert type(create("fancy")).__name__ == "Volume"


def test_a_memory_limit_turns_a_hog_into_oom(synthetic_dataset) -> None:
    result = score_dataset(synthetic_dataset, ["fake_hog:mb=20", "fake_hog:mb=4000"],
                           mem_limit_mb=1000, jobs=2)
    status = {d.name: d.status for d in result.detectors}
    assert status["fake_hog:mb=20"] == "ok" and status["fake_hog:mb=4000"] == "oom"
