"""Shared fixtures: the synthetic dataset of snoopbench.benchmarks.synthetic, plain and sealed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# One hypothesis profile for the whole suite: no per-example deadline (the machine is shared and
# small; a slow example is not a failure), and the default number of examples.
settings.register_profile("snoopbench-suite", deadline=None)
settings.load_profile("snoopbench-suite")

from snoopbench.benchmarks.synthetic import build_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset: 50 staff, 10 days (2 of warm-up), ~4,000 events, 6 labelled episodes."""
    return build_synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic")


@pytest.fixture(scope="session")
def sealed_dataset(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[Path, Path]:
    """The same dataset with its truth moved to a separate folder: (dataset, truth_dir)."""
    base = tmp_path_factory.mktemp("sealed")
    data, truth = base / "dataset", base / "kept-truth"
    build_synthetic_dataset(data, sealed=truth)
    return data, truth


@pytest.fixture(scope="session")
def tiny_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated day of the tiny scenario (~17,000 events, some with a reference): export and
    replay read it, never write into it."""
    from snoopbench.simulator.run import simulate

    out = tmp_path_factory.mktemp("tiny-day") / "tiny"
    simulate("tiny", out, days=1)
    return out
