"""Every built-in's scores, bit for bit, on datasets whose content is pinned (their fingerprints are
golden in test_versions.py): work on a detector's speed or memory must not change one score.

A detector runs as the harness runs it inside its sandbox (:func:`benchmarks.worker.run_job`: the
warm-up, then the scoring period in batches), here in this process; the digest is the sha256 of
its ``scores.f64``. A deliberate change of a rule's scores updates its digest here, in the same
commit, saying why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.worker import SCORES_FILE, STATUS_FILE, Job, run_job
from snoopbench.detectors.registry import BUILTIN, load, target_of
from snoopbench.simulator.run import simulate

#: The tiny scenario as shipped (14 days, 3 of warm-up).
TINY = {
    "adaptive": "2ecac4eb7b80436b",  # without verdicts (offline) it scores exactly as its twin
    "canary": "03c52349db13bd8c",
    "ensemble": "2ecac4eb7b80436b",
    "explanation": "48998f60fcf5e26a",
    "isolation_forest": "5d1397f83706d319",
    "media_export": "a173036f266ea0ee",
    "null": "03c52349db13bd8c",
    "off_shift": "79922c12ba181e8a",
    "random": "95fc88988aa26252",
    "random_audit": "2e852b5006005230",
    "relationship": "fb2e7d4e31787c28",
    "vip": "21a74f11d7a74dd5",
    "volume": "797834f2af29e778",
    "watchlist": "edb693cb886aa54e",
}
#: misuse-zoo, 10 days: every kind of misuse, canaries and watchlists hit (the long run).
ZOO = {
    "adaptive": "ed84cd5545d09475",  # without verdicts it scores exactly as its twin
    "canary": "c6f5c795cd1dde8e",
    "ensemble": "ed84cd5545d09475",
    "explanation": "dc1de1fba47b18e1",
    "isolation_forest": "6e54af6f7dcd2875",
    "media_export": "0232d6975219e3a4",
    "null": "c87ef61b8be7263a",
    "off_shift": "228017c5df32f6ef",
    "random": "3d6641041b5765db",
    "random_audit": "d9239902accceae6",
    "relationship": "14b9bf8e7b3dbbc1",
    "vip": "58e3ea2f626730f8",
    "volume": "e3a965aa5c116681",
    "watchlist": "2a99762af4779f3c",
}
#: Slow to fit (a learned model over every rule's features): in the long run only.
SLOW = {"isolation_forest"}


def scores_digest(dataset: Path, ident: str, work: Path) -> str:
    """The first 16 hex digits of the sha256 of ``ident``'s scores on ``dataset``, run as the
    sandboxed worker runs it; fails on any status but ok."""
    ds = open_dataset(dataset)
    period = scoring_period(ds, truth_dir_of(ds, None))
    out = work / ident
    out.mkdir(parents=True)
    info = work / "info.json"
    info.write_text(json.dumps(ds.info.to_dict()))
    run_job(Job(name=ident, out_dir=str(out), parts=tuple(str(p) for p in ds.parts),
                context_dir=str(ds.context_dir), info=str(info), n_warmup=period.n_warmup,
                n_total=period.n_total, target=target_of(ident)))
    status = json.loads((out / STATUS_FILE).read_text())
    assert status["status"] == "ok", status
    return hashlib.sha256((out / SCORES_FILE).read_bytes()).hexdigest()[:16]


def _importable(ident: str) -> None:
    try:
        load(ident)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{ident}: not importable here ({exc})")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digests") / "tiny"
    simulate("tiny", root)
    return root


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digests") / "zoo"
    simulate("misuse-zoo", root, days=10)
    return root


def test_every_built_in_has_its_digests() -> None:
    assert set(TINY) == set(ZOO) == set(BUILTIN)


@pytest.mark.parametrize("ident", sorted(set(BUILTIN) - SLOW))
def test_scores_are_unchanged_on_tiny(ident: str, tiny: Path, tmp_path: Path) -> None:
    _importable(ident)
    assert scores_digest(tiny, ident, tmp_path) == TINY[ident], \
        f"{ident}: its scores on tiny changed (see this module's docstring)"


@pytest.mark.long
@pytest.mark.parametrize("ident", sorted(BUILTIN))
def test_scores_are_unchanged_on_misuse_zoo(ident: str, zoo: Path, tmp_path: Path) -> None:
    _importable(ident)
    assert scores_digest(zoo, ident, tmp_path) == ZOO[ident], \
        f"{ident}: its scores on misuse-zoo (10 days) changed (see this module's docstring)"


@pytest.mark.long
def test_isolation_forest_is_unchanged_on_tiny(tiny: Path, tmp_path: Path) -> None:
    _importable("isolation_forest")
    assert scores_digest(tiny, "isolation_forest", tmp_path) == TINY["isolation_forest"]
