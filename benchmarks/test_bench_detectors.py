"""Throughput of every built-in detector on prepared batches (pytest-benchmark, outside ``make test``).

Run with ``pytest benchmarks/test_bench_detectors.py --benchmark-only``. The input is built first:
six days of the small force, the first two as the warm-up history, the rest cut into record
batches as the harness cuts them. ``fit`` is timed on its own (a fresh detector each round); the
score loop is timed on a freshly fitted detector each round (fitting outside the clock), since a
detector may carry state from batch to batch. Figures are medians of several rounds;
``extra_info`` holds events per second at the median and the detector's kind (rule, baseline, other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.manifest import read_manifest
from snoopbench.benchmarks.harness import BASELINES
from snoopbench.benchmarks.ratios import rule_ids
from snoopbench.benchmarks.worker import check_scores, load_context
from snoopbench.detectors.base import Detector
from snoopbench.detectors.registry import BUILTIN, create, load
from snoopbench.simulator.run import simulate

pytest.importorskip("pytest_benchmark")

SCENARIO = "small-force"
DAYS = 6
WARMUP_DAYS = 2
BATCH = 65536
ROUNDS = 3
RULES = frozenset(rule_ids())


@dataclass(frozen=True)
class Prepared:
    context: dict[str, pa.Table]
    history: pa.Table
    batches: list[pa.RecordBatch]
    whole: list[pa.RecordBatch]  # the scoring period as one batch, for a retrospective detector
    info: DatasetInfo

    @property
    def n_scored(self) -> int:
        return sum(b.num_rows for b in self.batches)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """Context tables, warm-up history and scoring batches, all in memory before any clock starts."""
    root = tmp_path_factory.mktemp("bench-detectors") / "ds"
    simulate(SCENARIO, root, days=DAYS)
    events = pa.concat_tables(pq.read_table(p) for p in sorted((root / "events").glob("part-*.parquet")))
    ts = events["ts"].cast(pa.int64()).to_numpy()
    n_warmup = int(np.searchsorted(ts, ts[0] + WARMUP_DAYS * 86_400_000))  # events are in time order
    scoring = events.slice(n_warmup).combine_chunks()
    return Prepared(load_context(root / "context"), events.slice(0, n_warmup).combine_chunks(),
                    scoring.to_batches(max_chunksize=BATCH), scoring.to_batches(),
                    read_manifest(root).info)


def kind_of(ident: str) -> str:
    """``baseline``, ``rule`` (a subclass of the rules' base class) or ``other``."""
    return "baseline" if ident in BASELINES else "rule" if ident in RULES else "other"


def _importable(ident: str) -> None:
    try:
        load(ident)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{ident}: not importable here ({exc})")


def _score_all(detector: Detector, batches: list[pa.RecordBatch]) -> int:
    n = 0
    for b in batches:
        n += len(check_scores(detector.score(b), b))
    return n


def _fitted(ident: str, p: Prepared) -> Callable[[], tuple[tuple, dict]]:
    def setup() -> tuple[tuple, dict]:
        d = create(ident)
        d.fit(p.context, p.history, p.info)
        return (d, p.whole if d.retrospective else p.batches), {}
    return setup


@pytest.mark.parametrize("ident", sorted(BUILTIN))
def test_fit(benchmark, ident: str, prepared: Prepared) -> None:
    _importable(ident)
    benchmark.group = "detectors: fit"
    benchmark.pedantic(lambda d: d.fit(prepared.context, prepared.history, prepared.info),
                       setup=lambda: ((create(ident),), {}), rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info.update(kind=kind_of(ident), events=prepared.history.num_rows,
                                events_per_s=round(prepared.history.num_rows / benchmark.stats.stats.median))


@pytest.mark.parametrize("ident", sorted(BUILTIN))
def test_score(benchmark, ident: str, prepared: Prepared) -> None:
    _importable(ident)
    benchmark.group = "detectors: score loop"
    n = benchmark.pedantic(_score_all, setup=_fitted(ident, prepared), rounds=ROUNDS, warmup_rounds=1)
    assert n == prepared.n_scored
    benchmark.extra_info.update(kind=kind_of(ident), events=n, events_per_s=round(n / benchmark.stats.stats.median))
