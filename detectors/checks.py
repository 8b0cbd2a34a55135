"""Conformance checks every detector must pass (in the spirit of scikit-learn's check_estimator).

Each check takes a zero-argument ``make`` returning a fresh detector, the context tables, the
warm-up ``history`` and the ``events`` to score (a ``pyarrow.Table`` in time order), and raises
``AssertionError`` with a reason if the detector breaks the contract. A plug-in's own tests can
run them all with :func:`check_detector`.
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa

from snoopbench.contract.info import DatasetInfo
from snoopbench.detectors.base import Detector, call_fit

Make = Callable[[], Detector]
Check = Callable[..., None]  # (make, context, history, events, info)


def run_stream(detector: Detector, events: pa.Table, batch_size: int | None) -> np.ndarray:
    """Scores of ``events`` fed in batches of ``batch_size`` rows (None: one batch)."""
    if detector.retrospective or batch_size is None:
        batches = events.combine_chunks().to_batches() or [_empty_batch(events.schema)]
    else:
        batches = events.to_batches(max_chunksize=batch_size)
    out = [np.asarray(detector.score(b), dtype=np.float64) for b in batches]
    return np.concatenate(out) if out else np.empty(0)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _fitted(make: Make, context: Mapping[str, pa.Table], history: pa.Table,
            info: DatasetInfo | None) -> Detector:
    det = make()
    assert call_fit(det, context, history, info) is None, "fit() must return None"
    return det


def check_signature(make: Make, context, history, events, info=None) -> None:
    """A snake_case ``name`` and keyword-only hyperparameters stored under their own names."""
    det = make()
    assert re.fullmatch(r"[a-z][a-z0-9_]*", det.name), f"name {det.name!r} is not snake_case"
    params = inspect.signature(type(det).__init__).parameters
    for p in list(params.values())[1:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        assert p.kind is p.KEYWORD_ONLY, f"hyperparameter {p.name!r} must be keyword-only"
        assert hasattr(det, p.name), f"__init__ must store {p.name!r} unchanged"
    if isinstance(det, Detector):  # get_params gives them all back, and builds the same detector
        got = det.get_params()
        assert type(det)(**got).get_params() == got, "get_params() does not rebuild the detector"


def check_finite_scores(make: Make, context, history, events, info=None) -> None:
    """One finite float per row, for every batch, and an empty batch gives an empty array."""
    det = _fitted(make, context, history, info)
    for batch in events.to_batches(max_chunksize=1000)[:3] if not det.retrospective else []:
        s = np.asarray(det.score(batch))
        assert s.shape == (batch.num_rows,), f"{s.shape} scores for {batch.num_rows} rows"
        assert np.issubdtype(s.dtype, np.number), f"scores of dtype {s.dtype}"
        assert np.isfinite(s).all(), "non-finite scores"
    s = run_stream(_fitted(make, context, history, info), events, None)
    assert s.shape == (events.num_rows,) and np.isfinite(s).all()
    empty = np.asarray(_fitted(make, context, history, info).score(_empty_batch(events.schema)))
    assert empty.shape == (0,), f"an empty batch gave shape {empty.shape}"


def check_deterministic(make: Make, context, history, events, info=None) -> None:
    """Two fresh detectors with the same hyperparameters (seed included) agree exactly."""
    a = run_stream(_fitted(make, context, history, info), events, 4096)
    b = run_stream(_fitted(make, context, history, info), events, 4096)
    np.testing.assert_array_equal(a, b, err_msg="scores differ between identical runs")


def check_no_look_ahead(make: Make, context, history, events, info=None) -> None:
    """Scores of a prefix do not change when later batches follow (streaming detectors only)."""
    if make().retrospective:
        return  # a retrospective detector is given the whole period by design
    full = run_stream(_fitted(make, context, history, info), events, 1000)
    n = (events.num_rows // 2000) * 1000 or events.num_rows // 2
    prefix = run_stream(_fitted(make, context, history, info), events.slice(0, n), 1000)
    np.testing.assert_array_equal(prefix, full[:n], err_msg="later events changed earlier scores")


def check_batch_invariance(make: Make, context, history, events, info=None) -> None:
    """Scores do not depend on how the stream is cut, if the detector says ``batch_invariant``."""
    if make().retrospective or not make().batch_invariant:
        return
    ref = run_stream(_fitted(make, context, history, info), events, 4096)
    for size in (1, 97, 1000):
        part = events.slice(0, 600) if size == 1 else events
        got = run_stream(_fitted(make, context, history, info), part, size)
        np.testing.assert_allclose(got, ref[:len(got)], rtol=1e-9, atol=1e-12,
                                   err_msg=f"scores change with batch size {size}")


def check_hyperparameters_unchanged(make: Make, context, history, events, info=None) -> None:
    """fit() and score() leave hyperparameters alone; learned state ends in ``_``."""
    det = make()
    before = {k: v for k, v in vars(det).items() if not k.endswith("_")}
    call_fit(det, context, history, info)
    run_stream(det, events.slice(0, 500), 250)
    after = {k: v for k, v in vars(det).items() if not k.endswith("_")}
    assert set(after) == set(before), f"new attributes without '_': {set(after) - set(before)}"
    for k, v in before.items():
        assert after[k] is v or after[k] == v, f"hyperparameter {k!r} changed"


CHECKS: tuple[Check, ...] = (
    check_signature, check_finite_scores, check_deterministic, check_no_look_ahead,
    check_batch_invariance, check_hyperparameters_unchanged,
)


def check_detector(make: Make, context: Mapping[str, pa.Table], history: pa.Table,
                   events: pa.Table, info: DatasetInfo | None = None) -> None:
    """Run every check; the first that fails raises ``AssertionError``. ``info`` is the
    dataset's :class:`~snoopbench.contract.info.DatasetInfo`, given to ``fit``."""
    for check in CHECKS:
        check(make, context, history, events, info)
