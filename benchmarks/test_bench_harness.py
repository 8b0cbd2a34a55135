"""Harness overhead: detectors through the harness vs. the same read-and-score loop in-process.

Not part of the default test run (pytest's testpaths is ``tests``); run it with
``make bench`` or ``pytest benchmarks --benchmark-only``. The harness always scores ``null`` and
``random``, so both sides score exactly those two; the difference is the price of isolation:
starting a process per detector, reading the events there, and handing the scores back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.harness import score_dataset
from snoopbench.benchmarks.metrics import evaluate_scores
from snoopbench.benchmarks.worker import check_scores, load_context, split_stream
from snoopbench.detectors import create
from snoopbench.detectors.base import call_fit
from snoopbench.benchmarks.synthetic import build_synthetic_dataset

pytest.importorskip("pytest_benchmark")

BATCH = 65536


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 250,000 events: 200 staff over 20 days (built once, outside the timings)."""
    root = tmp_path_factory.mktemp("bench") / "ds"
    return build_synthetic_dataset(root, n_staff=200, days=20, events_per_day=60.0)


def in_process(path: Path) -> list:
    """The harness's work without the harness: read, fit, score in batches, evaluate."""
    ds = open_dataset(path)
    period = scoring_period(ds, truth_dir_of(ds, None))
    context = load_context(ds.context_dir)
    parts = tuple(str(p) for p in ds.parts)
    results = []
    for spec in ("null", "random"):
        detector = create(spec)
        history, stream = split_stream(parts, BATCH, period.n_warmup)
        call_fit(detector, context, history, ds.info)
        scores = np.concatenate([check_scores(detector.score(b), b) for b in stream])
        results.append(evaluate_scores(period.period, scores, 5.0))
    return results


def test_in_process_loop(benchmark, dataset: Path) -> None:
    benchmark.group = "harness overhead"
    results = benchmark.pedantic(in_process, args=(dataset,), rounds=5, warmup_rounds=1)
    assert results[0].n_alerts == 0


def test_through_the_harness(benchmark, dataset: Path) -> None:
    benchmark.group = "harness overhead"
    result = benchmark.pedantic(score_dataset, args=(dataset, ["null"]),
                                kwargs={"batch_size": BATCH}, rounds=5, warmup_rounds=1)
    assert [d.status for d in result.detectors] == ["ok", "ok"]
