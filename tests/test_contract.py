"""The dataset contract (snoopbench.contract): the manifest read with one strictness, verify from
contents up, sealing, the Python API, shipped names, and time zones taken from the dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import snoopbench
from snoopbench.benchmarks.cli import main
from snoopbench.contract.errors import DatasetError, IntegrityError, ScenarioError
from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.manifest import read_manifest, verify
from snoopbench.simulator import scenario as scenario_mod


@pytest.fixture()
def copy(synthetic_dataset: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(synthetic_dataset, target)
    return target


def _edit_manifest(root: Path, edit) -> None:
    path = root / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def test_verify_recomputes_the_fingerprint(copy: Path, capsys) -> None:
    _edit_manifest(copy, lambda m: m.update(fingerprint="0" * 64))
    with pytest.raises(IntegrityError, match="fingerprint"):
        verify(copy)
    assert main(["verify", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "fingerprint" in err and "Traceback" not in err


@pytest.mark.parametrize("edit, key", [
    (lambda m: [m.pop(k) for k in list(m) if k not in ("format", "scenario", "seed")], "version"),
    (lambda m: m.update(extra_key=1), "extra_key"),
    (lambda m: m["files"].update({"../outside.parquet": next(iter(m["files"].values()))}), "files"),
    (lambda m: m["files"].update({"/etc/passwd": next(iter(m["files"].values()))}), "files"),
    (lambda m: m.update(seed=2**63), "seed"),
    (lambda m: m["info"].update(timezone="Mars/Olympus"), "info.timezone"),
    (lambda m: m["info"].pop("warmup_days"), "info"),
])
def test_a_malformed_manifest_is_bad_input_naming_the_key(copy: Path, edit, key: str, capsys) -> None:
    _edit_manifest(copy, edit)
    with pytest.raises(DatasetError) as err:
        read_manifest(copy)
    assert key in str(err.value) and "manifest.json" in str(err.value)
    assert main(["verify", str(copy)]) == 2
    assert main(["score", str(copy), "-d", "null"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_an_unreadable_manifest_is_bad_input(copy: Path, capsys) -> None:
    (copy / "manifest.json").write_text("{not json")
    assert main(["verify", str(copy)]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_verify_checks_the_scenario_file_that_sets_warm_up_and_zone(copy: Path) -> None:
    text = (copy / "scenario.toml").read_text()
    (copy / "scenario.toml").write_text(text.replace("warmup_days = 2", "warmup_days = 0"))
    with pytest.raises(IntegrityError, match="scenario.toml"):
        verify(copy)


def test_an_unlisted_part_and_a_truncated_part_are_caught(copy: Path, capsys) -> None:
    shutil.copy(copy / "events" / "part-00000.parquet", copy / "events" / "part-00009.parquet")
    with pytest.raises(IntegrityError, match="part-00009"):
        verify(copy)
    (copy / "events" / "part-00009.parquet").unlink()
    part = copy / "events" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    assert main(["score", str(copy), "-d", "null"]) == 1
    err = capsys.readouterr().err
    assert "part-00001" in err and "Traceback" not in err


def test_score_verifies_first_and_says_when_told_not_to(synthetic_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["score", str(synthetic_dataset), "-d", "null", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["verified"] is True and r["fingerprint"] == read_manifest(synthetic_dataset).fingerprint
    assert main(["score", str(synthetic_dataset), "-d", "null", "--no-verify", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["verified"] is False


def test_results_are_never_written_into_the_dataset(copy: Path, capsys) -> None:
    before = (copy / "manifest.json").read_bytes()
    assert main(["score", str(copy), "-d", "null", "--json", str(copy / "manifest.json")]) == 2
    assert "--json" in capsys.readouterr().err
    assert (copy / "manifest.json").read_bytes() == before


def test_another_datasets_truth_is_refused(synthetic_dataset: Path, tmp_path: Path, capsys) -> None:
    from snoopbench.benchmarks.synthetic import build_synthetic_dataset

    other = build_synthetic_dataset(tmp_path / "other", seed=99)
    code = main(["score", str(synthetic_dataset), "-d", "null", "--truth", str(other / "truth")])
    assert code == 2
    assert "not this dataset's truth" in capsys.readouterr().err


def test_score_alerts_reports_unknown_users_apart(synthetic_dataset: Path, tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.csv"
    alerts.write_text("user_id,date\n3,2024-03-28\n999999,2024-03-28\n999998,2024-03-29\n")
    out = tmp_path / "r.json"
    assert main(["score-alerts", str(synthetic_dataset), str(alerts), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["detectors"][0]["n_alerts"] == 1
    assert any("2 alert row(s) name user ids" in n for n in r["notes"])


def test_a_sealed_world_cannot_be_simulated_again_without_its_truth(tmp_path: Path, capsys) -> None:
    data, truth = tmp_path / "data", tmp_path / "kept"
    assert main(["simulate", "tiny", "--days", "2", "--out", str(data), "--sealed", str(truth), "--quiet"]) == 0
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["seed"] == "sealed"
    assert main(["simulate", str(data / "scenario.toml"), "--out", str(tmp_path / "again"), "--quiet"]) == 2
    assert "seed is sealed" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()
    # two sealed runs of the same scenario are different worlds
    assert main(["simulate", "tiny", "--days", "2", "--out", str(tmp_path / "d2"), "--sealed",
                 str(tmp_path / "k2"), "--quiet"]) == 0
    assert json.loads((tmp_path / "d2" / "manifest.json").read_text())["fingerprint"] != manifest["fingerprint"]
    assert main(["verify", str(data), "--truth", str(tmp_path / "k2")]) == 1


def test_sealed_inside_out_and_out_of_range_seeds_are_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "d"
    assert main(["simulate", "tiny", "--out", str(out), "--sealed", str(out / "truth"), "--quiet"]) == 2
    assert "--sealed" in capsys.readouterr().err
    assert main(["simulate", "tiny", "--out", str(out), "--seed", str(2**63), "--quiet"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert main(["simulate", "tiny", "--out", str(out), "--seed", "-1", "--quiet"]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_at_validation(tmp_path: Path, value: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(f'extends = "tiny"\nname = "bad"\n[population]\nfemale_share = {value}\n')
    with pytest.raises(ScenarioError, match="population.female_share"):
        scenario_mod.load(f)


def test_a_world_too_big_for_the_machine_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    f = tmp_path / "huge.toml"
    f.write_text('extends = "large-force"\nname = "huge"\nduration_days = 3650\n[force]\nstaff = 2000000\n')
    code = main(["simulate", str(f), "--out", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "GiB of memory" in err and "force.staff" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.toml"]


def test_a_scenario_anywhere_can_extend_a_shipped_one_by_name(tmp_path: Path) -> None:
    f = tmp_path / "elsewhere" / "mine.toml"
    f.parent.mkdir()
    f.write_text('extends = "small-force"\nname = "mine"\nduration_days = 3\nwarmup_days = 1\n')
    s = scenario_mod.load(f)
    assert s.name == "mine" and s["force"]["staff"] == 3600 and s.days == 3
    f.write_text('extends = "no-such-force"\nname = "mine"\n')
    with pytest.raises(ScenarioError, match="extends.*tiny"):
        scenario_mod.load(f)


def test_the_python_api_simulates_loads_and_scores(tmp_path: Path) -> None:
    ds = snoopbench.simulate("tiny", tmp_path / "t", days=3, seed=5)
    assert isinstance(ds.info, DatasetInfo) and ds.info.days == 3 and ds.info.staff == 300
    assert ds.events.count_rows() == ds.manifest["events"]
    assert "staff" in ds.context_names and ds.context("staff").num_rows == 300
    assert snoopbench.load(tmp_path / "t").fingerprint == ds.fingerprint
    assert ds.verify().fingerprint == ds.fingerprint
    assert set(ds.truth()) == {"labels", "episodes", "relations"}
    results = snoopbench.score(ds, detectors=["volume:z=3.5"], budget=5)
    rows = {r["name"]: r for r in results}
    assert {"volume:z=3.5", "null", "random"} <= set(rows)
    assert rows["volume:z=3.5"]["status"] == "ok" and 0 <= rows["volume:z=3.5"]["recall"] <= 1
    table = results.to_arrow()
    assert table.num_rows == len(results) and "recall" in table.column_names
    assert json.loads(json.dumps(results.to_json()))["format"] == "snoopbench/results/v1"
    assert issubclass(snoopbench.Detector, object) and snoopbench.Detector.__name__ == "Detector"


def test_detectors_take_the_time_zone_from_the_dataset(tmp_path: Path) -> None:
    """The built-in suite runs on a force in another zone, and a rule's local days follow it."""
    f = tmp_path / "sydney.toml"
    f.write_text('extends = "tiny"\nname = "sydney"\ntimezone = "Australia/Sydney"\nduration_days = 4\n')
    ds = snoopbench.simulate(f, tmp_path / "syd")
    assert ds.info.timezone == "Australia/Sydney"
    from snoopbench.detectors.registry import BUILTIN

    results = snoopbench.score(ds, detectors=sorted(BUILTIN))
    assert {r["name"]: r["status"] for r in results} == {n: "ok" for n in [*sorted(BUILTIN)]}
    assert results.to_json()["timezone"] == "Australia/Sydney"

    from snoopbench.benchmarks.worker import load_context
    from snoopbench.detectors.base import zone_of
    from snoopbench.detectors.index import ForceIndex
    from snoopbench.detectors.registry import create

    context = load_context(ds.path / "context")
    ts = ds.events.to_table(columns=["ts"])["ts"].cast("int64").to_numpy()
    london = DatasetInfo(**{**ds.info.__dict__, "timezone": "Europe/London"})
    volume = create("volume")
    sydney_days = ForceIndex(context, zone_of(volume, ds.info)).local_days(ts)
    london_days = ForceIndex(context, zone_of(volume, london)).local_days(ts)
    assert (sydney_days != london_days).mean() > 0.2  # 10 hours apart: many events change day
    assert np.array_equal(sydney_days, ds.info.local_days(ts))


def test_no_detector_module_names_a_time_zone() -> None:
    root = Path(snoopbench.__file__).resolve().parent.parent / "detectors"
    if not root.is_dir():  # installed: the package's own copy
        import snoopbench.detectors as d

        root = Path(d.__file__).parent
    assert not [p.name for p in root.glob("*.py") if "Europe/" in p.read_text()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["format", "seed", "scenario", "events", "info", "files",
                                        "truth_files", "fingerprint", "made_with", "bogus"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=5),
                                 st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
                       min_size=1, max_size=4))
def test_any_mutated_manifest_verifies_or_is_refused_cleanly(synthetic_dataset: Path, tmp_path_factory, edits) -> None:
    root = tmp_path_factory.mktemp("m")
    shutil.copytree(synthetic_dataset, root / "d")
    _edit_manifest(root / "d", lambda m: m.update(edits))
    try:
        verify(root / "d")
    except (DatasetError, IntegrityError) as exc:
        assert str(exc)
