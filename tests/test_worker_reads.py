"""What the detector process reads for a detector: only what it declares it uses.

A detector whose ``fit`` needs neither context nor warm-up (``null``, ``random``, the stateless
rules) must cost next to nothing on a large force: the worker then hands it an empty context, a
warm-up of no rows, and scoring batches of the columns it ``reads`` only; the scores still cover
every scoring-period event, in order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.worker import SCORES_FILE, STATUS_FILE, Job, load_context, run_job
from snoopbench.detectors import Detector


class SeesLittle(Detector):
    """Records what it was handed; scores each event by its id."""

    name = "sees_little"
    uses_context = uses_warmup = False
    reads = ("ts", "event_id")  # in the contract's order whatever the order here
    seen: list = []

    def fit(self, context, history, info=None) -> None:
        type(self).seen.append(("fit", len(context), history.num_rows))

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        type(self).seen.append(("score", batch.schema.names, batch.num_rows))
        return batch.column("event_id").to_numpy().astype(np.float64)


class SeesAll(SeesLittle):
    name = "sees_all"
    uses_context = uses_warmup = True
    reads = None
    seen: list = []

    def fit(self, context, history, info=None) -> None:
        type(self).seen.append(("fit", sorted(context), history.num_rows))


def _run(dataset: Path, cls: type, work: Path) -> tuple[dict, np.ndarray, object]:
    ds = open_dataset(dataset)
    period = scoring_period(ds, truth_dir_of(ds, None))
    info = work / "info.json"
    info.write_text(json.dumps(ds.info.to_dict()))
    out = work / cls.name
    out.mkdir()
    run_job(Job(name=cls.name, out_dir=str(out), parts=tuple(str(p) for p in ds.parts),
                context_dir=str(ds.context_dir), info=str(info), n_warmup=period.n_warmup,
                n_total=period.n_total, target=f"{__name__}:{cls.__name__}", batch_size=700))
    status = json.loads((out / STATUS_FILE).read_text())
    return status, np.fromfile(out / SCORES_FILE, "<f8"), period


def test_a_detector_that_learns_nothing_reads_only_its_columns(synthetic_dataset: Path,
                                                                tmp_path: Path) -> None:
    SeesLittle.seen.clear()
    status, scores, period = _run(synthetic_dataset, SeesLittle, tmp_path)
    assert status["status"] == "ok" and status["n_fit"] == 0 and status["wall_seconds"] > 0
    assert SeesLittle.seen[0] == ("fit", 0, 0)
    batches = SeesLittle.seen[1:]
    assert {tuple(names) for _, names, _ in batches} == {("event_id", "ts")}
    assert max(n for _, _, n in batches) <= 700
    ids = pa.concat_tables(pq.read_table(p, columns=["event_id"]) for p in
                           open_dataset(synthetic_dataset).parts)["event_id"].to_numpy()
    assert np.array_equal(scores, ids[period.n_warmup:].astype(np.float64))


def test_a_detector_that_learns_gets_the_whole_context_and_warm_up(synthetic_dataset: Path,
                                                                    tmp_path: Path) -> None:
    SeesAll.seen.clear()
    status, scores, period = _run(synthetic_dataset, SeesAll, tmp_path)
    ds = open_dataset(synthetic_dataset)
    names = sorted(p.stem for p in ds.context_dir.glob("*.parquet"))
    assert status["status"] == "ok" and status["n_fit"] == period.n_warmup > 0
    assert SeesAll.seen[0] == ("fit", names, period.n_warmup)
    assert len(SeesAll.seen[1][1]) == len(pq.read_schema(ds.parts[0]).names)
    assert len(scores) == period.n_total - period.n_warmup


def test_context_tables_are_read_when_asked_for(synthetic_dataset: Path) -> None:
    folder = open_dataset(synthetic_dataset).context_dir
    context = load_context(folder)
    assert sorted(context) == sorted(p.stem for p in folder.glob("*.parquet"))
    assert context["staff"].equals(pq.read_table(folder / "staff.parquet"))
    assert context.get("no such table") is None and "staff" in context
