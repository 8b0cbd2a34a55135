"""Simulator throughput per component, on the small force (pytest-benchmark, outside ``make test``).

Run with ``pytest benchmarks/test_bench_simulator.py --benchmark-only``. Every input is built
before the clock starts (pedantic ``setup`` for what a round consumes); each figure is the median
of several rounds, and ``extra_info`` holds rows per second at that median:

- world building: the public, the force and the misuse plan, from the resolved scenario;
- background work of one shard for one day: ``plan_tasks`` and ``emit_tasks`` on a prepared
  :class:`~simulator.shard.ShardContext` (caseload seeded, the day rostered);
- the day merge: one day's rows from every shard, sorted, numbered and written as an events part;
- the floor the merge is held to: the same rows written straight to zstd Parquet with pyarrow.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snoopbench.simulator import scenario as scenario_mod
from snoopbench.simulator.caseload import seed_caseload
from snoopbench.simulator.dataset import ROW_GROUP
from snoopbench.simulator.force import roster
from snoopbench.simulator.run import _merge_day
from snoopbench.simulator.shard import ShardContext
from snoopbench.simulator.shard_output import run_shard
from snoopbench.simulator.world import World, build_world, world_for
from snoopbench.simulator.workload import emit_tasks, plan_tasks

pytest.importorskip("pytest_benchmark")

SCENARIO = "small-force"
DAYS = 2
ROUNDS = 5


def _per_second(benchmark, rows: int) -> None:
    """Record rows and rows per second at the median round."""
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["rows_per_s"] = round(rows / benchmark.stats.stats.median)


@pytest.fixture(scope="module")
def scn() -> dict:
    return scenario_mod.load(scenario_mod.find(SCENARIO)).with_overrides(days=DAYS).data


@pytest.fixture(scope="module")
def world(scn: dict) -> World:
    return world_for(scn)


def _fresh_context(scn: dict, world: World, work: Path) -> ShardContext:
    """Area 0 at the start of the period: caseload seeded, day 0 rostered."""
    ctx = ShardContext(scn, scn["seed"], 0, world.pop, world.force, world.midnights, work,
                       int(world.plan.reserved[0]))
    seed_caseload(ctx)
    ctx.set_roster(roster(scn, world.force, ctx.staff, 0, world.midnights, ctx.rng["roster"]))
    return ctx


def test_world_building(benchmark, scn: dict) -> None:
    benchmark.group = "simulator"
    w = benchmark.pedantic(build_world, args=(scn,), rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info["people"] = int(w.pop.n_people)
    benchmark.extra_info["staff"] = int(w.force.n)


def test_plan_tasks_one_shard_day(benchmark, scn: dict, world: World, tmp_path: Path) -> None:
    benchmark.group = "simulator"
    ctx = _fresh_context(scn, world, tmp_path)
    tasks = benchmark.pedantic(plan_tasks, args=(ctx, ctx.roster), rounds=ROUNDS, warmup_rounds=1)
    _per_second(benchmark, int(tasks["rows"].sum()))


def test_emit_tasks_one_shard_day(benchmark, scn: dict, world: World, tmp_path: Path) -> None:
    benchmark.group = "simulator"
    sizes: list[int] = []

    def setup() -> tuple[tuple, dict]:
        ctx = _fresh_context(scn, world, tmp_path / f"round-{len(sizes)}")
        tasks = plan_tasks(ctx, ctx.roster)
        sizes.append(int(tasks["rows"].sum()))
        return (ctx, tasks), {}

    benchmark.pedantic(emit_tasks, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    _per_second(benchmark, sizes[-1])


@pytest.fixture(scope="module")
def shard_days(scn: dict, world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], int]:
    """Every area's shard run for the period: its day files, and the busiest day."""
    base = tmp_path_factory.mktemp("shards")
    dirs = [str(base / f"shard-{a:03d}") for a in range(len(scn["force"]["areas"]))]
    per_day = [run_shard(scn, a, d).rows_per_day for a, d in enumerate(dirs)]
    totals = [sum(day) for day in zip(*per_day)]
    return dirs, totals.index(max(totals))


@pytest.fixture(scope="module")
def merged_day(shard_days: tuple[list[str], int], tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """The busiest day as the merge writes it, read back (the raw write's input)."""
    dirs, day = shard_days
    root = tmp_path_factory.mktemp("merged")
    entry, _ = _merge_day((dirs, day, 0, 0, str(root)))
    return pq.read_table(root / entry.path)


def test_day_merge(benchmark, shard_days: tuple[list[str], int], merged_day: pa.Table, tmp_path: Path) -> None:
    benchmark.group = "simulator: merge vs raw write"
    dirs, day = shard_days
    entry, _ = benchmark.pedantic(_merge_day, args=((dirs, day, 0, 0, str(tmp_path)),),
                                  rounds=ROUNDS, warmup_rounds=1)
    assert entry.rows == merged_day.num_rows
    _per_second(benchmark, entry.rows)


def test_raw_parquet_write(benchmark, merged_day: pa.Table, tmp_path: Path) -> None:
    benchmark.group = "simulator: merge vs raw write"
    path = tmp_path / "raw.parquet"
    benchmark.pedantic(pq.write_table, args=(merged_day, path),
                       kwargs={"compression": "zstd", "row_group_size": ROW_GROUP}, rounds=ROUNDS, warmup_rounds=1)
    _per_second(benchmark, merged_day.num_rows)
