"""Detectors that misbehave on purpose (and two that behave), for the harness and checks tests.

They are registered at run time under ids like ``fake_raise``; the harness hands the child
process their ``"module:Class"`` path, so this module must be importable there too.
"""

from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.detectors import Detector, register


class Raises(Detector):
    name = "fake_raise"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        raise RuntimeError("boom in score")


class ReturnsNaN(Detector):
    name = "fake_nan"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        out = np.zeros(batch.num_rows)
        out[::7] = np.nan
        return out


class WrongLength(Detector):
    name = "fake_short"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.zeros(max(batch.num_rows - 1, 0))


class Sleeps(Detector):
    name = "fake_sleep"

    def __init__(self, *, seconds: float = 60.0) -> None:
        self.seconds = seconds

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        time.sleep(self.seconds)
        return np.zeros(batch.num_rows)


class EatsMemory(Detector):
    name = "fake_oom"

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        self.hog_ = np.ones(2**50, dtype=np.uint8)  # 1 PiB: numpy raises MemoryError

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.zeros(batch.num_rows)


class Oracle(Detector):
    """Cheats with the labels file (a test double for a perfect detector)."""

    name = "fake_oracle"

    def __init__(self, *, labels: str = "") -> None:
        self.labels = labels

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        self.ids_ = pq.read_table(self.labels)["event_id"].to_numpy()

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.isin(batch.column("event_id").to_numpy(), self.ids_).astype(np.float64)


class Volume(Detector):
    """A fair, stateful streaming detector: a user's running event count that day."""

    name = "fake_volume"

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        self.counts_: dict[tuple[int, int], int] = {}

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        user = batch.column("user_id").to_numpy()
        day = batch.column("ts").cast(pa.int64()).to_numpy() // 86_400_000
        keys = (day << 32) | user
        uniq, inverse = np.unique(keys, return_inverse=True)
        start = np.array([self.counts_.get(int(k), 0) for k in uniq])
        order = np.argsort(inverse, kind="stable")
        running = np.empty(len(keys))
        first = np.searchsorted(inverse[order], np.arange(len(uniq)))
        running[order] = np.arange(len(keys)) - first[inverse[order]] + 1
        out = running + start[inverse]
        self.counts_.update({int(k): int(c) for k, c in zip(uniq, np.bincount(inverse) + start)})
        return out


class PeeksAhead(Detector):
    """Normalises by the batch's own maximum: breaks batch invariance (for the checks' tests)."""

    name = "fake_peek"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        ids = batch.column("event_id").to_numpy().astype(np.float64)
        return ids / ids.max() if len(ids) else ids


FAKES = (Raises, ReturnsNaN, WrongLength, Sleeps, EatsMemory, Oracle, Volume, PeeksAhead)


def register_fakes() -> None:
    for cls in FAKES:
        register(cls.name, cls)


class Retrospective(Detector):
    """Asks for the whole period at once; fails unless it gets exactly ``expect`` rows."""

    name = "fake_retro"
    retrospective = True

    def __init__(self, *, expect: int = 0) -> None:
        self.expect = expect

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        if batch.num_rows != self.expect:
            raise AssertionError(f"got a batch of {batch.num_rows} rows, not {self.expect}")
        return np.zeros(batch.num_rows)


class Hog(Detector):
    """Allocates ``mb`` MiB (touching it) in fit: for memory limits."""

    name = "fake_hog"

    def __init__(self, *, mb: int = 100) -> None:
        self.mb = mb

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        self.hog_ = np.ones(self.mb * 2**20, dtype=np.uint8)

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.zeros(batch.num_rows)


FAKES += (Retrospective, Hog)


class ExplainsEntity(Detector):
    """Scores each event by its entity id and explains it by naming that entity: for the
    round trip of explanations through the sandbox."""

    name = "fake_explainer"

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return batch.column("entity_id").to_numpy().astype(np.float64)

    def explain(self, batch: pa.RecordBatch, rows: np.ndarray) -> list[str | None]:
        types = batch.column("entity_type").to_pylist()
        ids = batch.column("entity_id").to_pylist()
        return [f"python {types[r]}:{ids[r]}" for r in rows]


FAKES += (ExplainsEntity,)
