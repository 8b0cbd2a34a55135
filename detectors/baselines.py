"""The two baselines that bound every result table: ``null`` and ``random``."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import Detector, hash64, unit_interval


class NullDetector(Detector):
    """Scores every event 0: never raises an alert. The floor of every table."""

    name = "null"
    uses_context = uses_warmup = False
    reads = ()  # nothing but the number of rows: a null run costs the reading of row counts

    def __init__(self) -> None:
        pass

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.zeros(batch.num_rows, dtype=np.float64)


class RandomDetector(Detector):
    """Scores each event uniformly at random in (0, 1]: the chance level of a budget.

    The score of an event is a keyed hash of its ``event_id``, the key drawn from a
    ``numpy.random.Generator`` seeded with ``seed``; so the same event gets the same score
    however the stream is batched.
    """

    name = "random"
    uses_context = uses_warmup = False
    reads = ("event_id",)

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None = None) -> None:
        self.key_ = _key(self.seed)

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        key = getattr(self, "key_", None)
        if key is None:
            key = self.key_ = _key(self.seed)
        ids = batch.column("event_id").to_numpy(zero_copy_only=False)
        return unit_interval(hash64(ids, key))


def _key(seed: int) -> int:
    return int(np.random.default_rng(seed).integers(0, 2**63, dtype=np.int64))
