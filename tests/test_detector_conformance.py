"""Every registered built-in detector against the contract's checks (detectors.checks)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.worker import load_context
from snoopbench.detectors import create
from snoopbench.detectors.checks import CHECKS, check_batch_invariance, check_detector
from snoopbench.detectors.registry import BUILTIN

from fake_detectors import PeeksAhead, Volume


@pytest.fixture(scope="module")
def stream(synthetic_dataset: Path) -> tuple:
    """(context, warm-up history, scoring-period events, info) of the synthetic dataset."""
    ds = open_dataset(synthetic_dataset)
    period = scoring_period(ds, truth_dir_of(ds, None))
    events = pa.concat_tables(pq.read_table(p) for p in ds.parts)
    return (load_context(ds.context_dir), events.slice(0, period.n_warmup),
            events.slice(period.n_warmup), ds.info)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("ident", sorted(BUILTIN))
def test_builtin_conforms(ident: str, check, stream) -> None:
    context, history, events, info = stream
    check(lambda: create(ident), context, history, events, info)


def test_seeded_detector_differs_by_seed(stream) -> None:
    from snoopbench.detectors.checks import run_stream

    context, history, events, info = stream
    a, b = create("random:seed=1"), create("random:seed=2")
    for d in (a, b):
        d.fit(context, history, info)
    assert (run_stream(a, events, 1000) != run_stream(b, events, 1000)).mean() > 0.99


def test_a_fair_streaming_detector_passes_every_check(stream) -> None:
    check_detector(Volume, *stream)


def test_the_checks_catch_batch_dependence(stream) -> None:
    with pytest.raises(AssertionError, match="batch size"):
        check_batch_invariance(PeeksAhead, *stream)
