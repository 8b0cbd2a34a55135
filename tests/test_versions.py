"""The same scenario and seed give the same data with any supported numpy, pyarrow and Faker.

The golden fingerprints below were made with the newest and the oldest dependency versions the
package allows (numpy 2.4 / 1.26, pyarrow 26 / 15, Faker 40 / 30) and agree. CI runs this suite in
both environments, so a step that comes to depend on a library's version turns it red here.

If a deliberate change to the simulator changes the data, update the goldens in the same commit
and say so in its message: every published dataset's fingerprint changes with them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snoopbench.benchmarks.cli import main
from snoopbench.contract.manifest import VERSIONED, made_with, verify
from snoopbench.simulator.rng import derive, exact_sum, normalised, weighted
from snoopbench.simulator.run import simulate

# (scenario, days or None for the scenario's own) -> fingerprint, with the scenario's own seed
GOLDEN = {
    ("tiny", None): "4b7fca6884f599123f6f226555f16b753b9d099559fc6b5d5bc02f1162c780da",
    ("misuse-zoo", 10): "94365aa3251f52087e2d9859932c923524f5e98076db206476d11e4700af287b",
}


@pytest.fixture(scope="module")
def tiny_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("versions") / "tiny"
    simulate("tiny", out)
    return out


def test_tiny_matches_its_golden_fingerprint(tiny_default: Path) -> None:
    manifest = json.loads((tiny_default / "manifest.json").read_text())
    assert manifest["fingerprint"] == GOLDEN[("tiny", None)], (
        f"tiny's data changed with {made_with()}: a step depends on a library's version")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_misuse_zoo_matches_its_golden_fingerprint_with_any_workers(tmp_path: Path, workers: int) -> None:
    r = simulate("misuse-zoo", tmp_path / "zoo", days=10, workers=workers)
    assert r.fingerprint == GOLDEN[("misuse-zoo", 10)], (
        f"misuse-zoo's data changed with {made_with()}, {workers} workers")


def test_manifest_records_the_versions_outside_the_fingerprint(tiny_default: Path, tmp_path: Path) -> None:
    manifest = json.loads((tiny_default / "manifest.json").read_text())
    assert manifest["made_with"] == made_with()
    assert set(manifest["made_with"]) == {"python", *VERSIONED}
    assert manifest["made_with"]["numpy"] == np.__version__
    # Other versions in the manifest leave the fingerprint, and verify, as they are.
    manifest["made_with"] = {**manifest["made_with"], "numpy": "1.0.0", "pyarrow": "0.1"}
    copy = tmp_path / "copy"
    shutil.copytree(tiny_default, copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    r = verify(copy)
    assert r.fingerprint == GOLDEN[("tiny", None)]
    assert r.version_notes == {"numpy": ("1.0.0", np.__version__),
                                     "pyarrow": ("0.1", made_with()["pyarrow"])}


def test_verify_notes_versions_that_differ_without_failing(tiny_default: Path, tmp_path: Path, capsys) -> None:
    assert main(["verify", str(tiny_default)]) == 0
    assert "note" not in capsys.readouterr().out
    manifest = json.loads((tiny_default / "manifest.json").read_text())
    manifest["made_with"]["numpy"] = "1.0.0"
    old = tmp_path / "old"
    shutil.copytree(tiny_default, old)
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(old)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"numpy 1.0.0 (running {np.__version__})" in out
    assert "pyarrow" not in out
    del manifest["made_with"]  # every manifest key is required: a manifest without it is malformed
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(old)]) == 2
    assert "made_with" in capsys.readouterr().err


weights = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40).filter(lambda w: sum(w) > 0)


@settings(max_examples=60, deadline=None)
@given(w=weights, seed=st.integers(0, 2**32 - 1))
def test_weighted_draws_only_positive_weights_and_follows_the_seed(w: list[float], seed: int) -> None:
    a = weighted(derive(seed, "t"), np.array(w), 500)
    assert a.dtype == np.int64 and len(a) == 500
    assert (np.array(w)[a] > 0).all()
    assert (a == weighted(derive(seed, "t"), np.array(w), 500)).all()


def test_weighted_follows_its_weights() -> None:
    w = np.array([1.0, 0.0, 3.0, 6.0])
    counts = np.bincount(weighted(derive(1, "w"), w, 200_000), minlength=4) / 200_000
    assert np.allclose(counts, w / 10, atol=0.005)
    assert counts[1] == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-9, 1e9, allow_nan=False), min_size=1, max_size=300), st.randoms())
def test_exact_sum_does_not_depend_on_order(xs: list[float], rnd) -> None:
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    assert exact_sum(np.array(xs)) == exact_sum(np.array(shuffled))
    assert normalised(np.array(xs)).dtype == float
