"""Running one shard, and turning what it collected into its part of the context tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.contract.schema import TS, CRIMES, INCIDENTS, RECORDS, SHIFTS, TASKING, conform
from snoopbench.simulator.shard import ShardContext

SHARD_TABLES = (INCIDENTS, CRIMES, RECORDS, SHIFTS, TASKING)


@dataclass(frozen=True)
class ShardResult:
    area: int
    rows_per_day: list[int]
    episodes: list[dict]


class ShardRun:
    """One area's simulation, advanced a day at a time (so several can run interleaved in one
    process); finished days go to ``spill(day, table)``, or to ``work_dir/events/day-*.arrow``."""

    def __init__(self, scn: dict, area: int, work_dir: str, spill=None, compression: str = "lz4"):
        from snoopbench.simulator.caseload import Casework, seed_caseload
        from snoopbench.simulator.incidents import IncidentDesk
        from snoopbench.simulator.misuse import start_misuse
        from snoopbench.simulator.workload import day_clock
        from snoopbench.simulator.world import world_for

        w = world_for(scn)
        self.area = area
        self.work = Path(work_dir)
        self.ctx = ctx = ShardContext(scn, scn["seed"], area, w.pop, w.force, w.midnights, self.work,
                                      int(w.plan.reserved[area]), spill, compression, w.timeline)
        env = ctx.env
        seed_caseload(ctx)
        env.process(day_clock(env, ctx))
        ctx.daily.append(IncidentDesk(ctx).work_day)
        ctx.daily.append(Casework(ctx).work_day)
        if w.timeline is not None:
            from snoopbench.simulator.timeline_shard import hand_over_caseloads
            ctx.daily.append(lambda day: hand_over_caseloads(ctx, day))
        self.episodes = start_misuse(env, ctx, w.plan)

    def run_day(self, day: int) -> None:
        self.ctx.env.run(until=float(self.ctx.midnights[day + 1]))

    @property
    def events(self) -> int:
        """Rows emitted so far (written or still buffered)."""
        return int(self.ctx.sink.rows_per_day.sum()) + self.ctx.sink.pending_rows()

    @property
    def complete_through(self) -> int:
        """The last day whose rows are all spilled (-1: none yet)."""
        return self.ctx.sink.flushed

    def finish(self) -> ShardResult:
        """Spill the remaining days and write this area's context parts."""
        from snoopbench.simulator.workload import flush_rows

        ctx = self.ctx
        flush_rows(ctx)
        ctx.sink.close()
        (self.work / "context").mkdir(parents=True, exist_ok=True)
        for name, table in shard_context_tables(ctx).items():
            pq.write_table(table, self.work / "context" / f"{name}.parquet", compression="none")
        ref_str = np.array(ctx.refs.strings + [""], dtype=object)
        with pq.ParquetWriter(self.work / "context" / "tasking.parquet", TASKING.schema, compression="none") as w:
            for part in ctx.tasking.table_parts(ctx.force.user_id, ref_str):
                w.write_table(conform(TASKING, part))
        return ShardResult(self.area, ctx.sink.rows_per_day.tolist(), [e.to_row(ctx) for e in self.episodes])


def run_shard(scn: dict, area: int, work_dir: str, progress=None) -> ShardResult:
    """Simulate one area for the whole period; write ``work_dir/events/day-*.arrow`` and context parts."""
    shard = ShardRun(scn, area, work_dir)
    for day in range(scn["duration_days"]):
        shard.run_day(day)
        if progress is not None:
            progress(area, day + 1, shard.events)
    return shard.finish()


def shard_context_tables(ctx: ShardContext) -> dict[str, pa.Table]:
    """The area's context tables but tasking (which :meth:`TaskLog.table_parts` gives in parts)."""
    out, users, refs = ctx.out, ctx.force.user_id, ctx.refs
    ref_str = np.array(refs.strings + [""], dtype=object)

    def user_or_null(staff: np.ndarray) -> pa.Array:
        staff = np.asarray(staff, np.int64)
        return pa.array(users[np.maximum(staff, 0)], pa.int32(), mask=staff < 0)

    inc = list(zip(*out.incidents)) if out.incidents else [[]] * 7
    incidents = pa.table({
        "incident_id": pa.array(inc[0], pa.int64()), "reference": pa.array(inc[1], pa.string()),
        "opened": pa.array(inc[2], pa.int64()).cast(TS), "area": pa.array(inc[3], pa.string()),
        "kind": pa.array(inc[4], pa.string()), "grade": pa.array(inc[5], pa.string()),
        "crime_id": pa.array(np.array(inc[6], np.int64), pa.int64(), mask=np.array(inc[6], np.int64) < 0),
    })
    cr = list(zip(*out.crimes)) if out.crimes else [[]] * 6
    crimes = pa.table({
        "crime_id": pa.array(cr[0], pa.int64()), "reference": pa.array(cr[1], pa.string()),
        "recorded": pa.array(cr[2], pa.int64()).cast(TS), "area": pa.array(cr[3], pa.string()),
        "offence": pa.array(cr[4], pa.string()), "serious": pa.array(cr[5], pa.bool_()),
    })
    rec = list(zip(*out.records)) if out.records else [[]] * 7
    subj = np.array(rec[5], np.int64)
    records = pa.table({
        "entity_type": pa.array(rec[0], pa.string()), "entity_id": pa.array(rec[1], pa.int64()),
        "reference": pa.array(ref_str[np.array(rec[2], np.int64)] if rec[2] else [], pa.string(),
                              mask=np.array(rec[2], np.int64) < 0 if rec[2] else None),
        "created": pa.array(rec[3], pa.int64()).cast(TS), "created_by": user_or_null(rec[4]),
        "subject_id": pa.array(subj, pa.int64(), mask=subj < 0), "category": pa.array(rec[6], pa.string()),
    }).sort_by([("created", "ascending"), ("entity_id", "ascending")])
    st = [np.concatenate(c) for c in zip(*out.shifts)] if out.shifts else [np.zeros(0, np.int64)] * 3
    shifts = pa.table({
        "user_id": pa.array(users[st[0]], pa.int32()),
        "start": pa.array(st[1], pa.int64()).cast(TS), "end": pa.array(st[2], pa.int64()).cast(TS),
    })
    return {"incidents": incidents, "crimes": crimes, "records": records, "shifts": shifts}

