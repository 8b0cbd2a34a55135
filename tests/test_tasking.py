"""The tasking log spilled to sorted runs and merged externally gives the same table as held whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from snoopbench.simulator.tasking import TaskLog
from test_versions import GOLDEN


def _feed(log: TaskLog, rows: list[tuple[int, int, int, int, int]], batch: int) -> None:
    for i in range(0, len(rows), batch):
        staff, ref, via, since, until = (np.array(c, np.int64) for c in zip(*rows[i:i + batch]))
        for v in (0, 1):  # a batch has one way of holding, as ShardContext gives them
            m = via == v
            log.rows(staff[m], ref[m], v, since[m], until[m])


def _whole(log: TaskLog, users: np.ndarray, refs: np.ndarray) -> pa.Table:
    return pa.concat_tables(list(log.table_parts(users, refs))).combine_chunks()


rows_strategy = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 40), st.integers(0, 1),
                                   st.integers(0, 50), st.integers(-1, 80)), max_size=400)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, batch=st.integers(1, 50), spill=st.integers(1, 64), bucket=st.integers(1, 200),
       step=st.integers(1, 40))
def test_spilled_runs_give_the_table_of_the_whole_log(tmp_path_factory, rows, batch, spill, bucket, step) -> None:
    users = np.arange(31, dtype=np.int32)[::-1] * 7 + 100  # user ids not in staff order
    refs = np.array([f"R{(i * 37) % 41:03d}" for i in range(41)] + [""], dtype=object)
    whole = TaskLog()
    _feed(whole, rows, batch)
    spilled = TaskLog(tmp_path_factory.mktemp("runs"))
    spilled.SPILL_ROWS, spilled.BUCKET_ROWS, spilled.WINDOW_STEP = spill, bucket, step
    _feed(spilled, rows, batch)
    expected = _whole(whole, users, refs)
    assert _whole(spilled, users, refs).equals(expected)
    assert expected.num_rows == len({(s, r) for s, r, *_ in rows})
    for s in range(0, 31, 5):
        for via in (0, 1):
            assert spilled.held_by(s, via) == whole.held_by(s, via) == {r for s2, r, v, *_ in rows
                                                                        if s2 == s and v == via}


def test_a_simulation_that_spills_its_tasking_keeps_its_fingerprint(tmp_path: Path, monkeypatch) -> None:
    from snoopbench.simulator.run import simulate

    monkeypatch.setattr(TaskLog, "SPILL_ROWS", 2000)
    monkeypatch.setattr(TaskLog, "BUCKET_ROWS", 20000)
    monkeypatch.setattr(TaskLog, "WINDOW_STEP", 1000)
    runs = []
    real = TaskLog._spill
    monkeypatch.setattr(TaskLog, "_spill", lambda self: (runs.append(1), real(self)))
    r = simulate("misuse-zoo", tmp_path / "zoo", days=10)
    assert len(runs) >= 10  # it did spill (and merge several buckets)
    assert r.fingerprint == GOLDEN[("misuse-zoo", 10)]
