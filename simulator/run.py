"""``simulate``: a scenario and a seed in, a verified dataset directory out.

1. Build the world (public, force, relations) and write its context tables.
2. Run one shard per area (in this process, in local worker processes, or on a Dask cluster); each
   writes per-day event files and its part of the context.
3. Merge day by day: sort the day's rows from every shard by (time, random tiebreak), assign event
   ids from the day's offset, split the labels off, write ``events/part-NNNNN.parquet``.
4. Write the truth, the resolved scenario and the manifest, then move the finished directory into
   place. Nothing is left behind on failure.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from snoopbench.simulator import __version__, scenario as scenario_mod
from snoopbench.contract.digest import FileEntry, fingerprint
from snoopbench.contract.errors import InputError, ScenarioError
from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.manifest import write_manifest
from snoopbench.simulator.dataset import write_parts, write_table
from snoopbench.simulator.scenario import Scenario
from snoopbench.contract.schema import (ACTIONS, ENTITY_TYPES, EPISODES, EVENTS, LABELS, RELATIONS, SYSTEMS, CONTEXT_TABLES,
                              TS)
from snoopbench.simulator.shard_output import SHARD_TABLES, ShardResult, ShardRun, run_shard
from snoopbench.simulator.misuse_plan import acted_shortfalls
from snoopbench.simulator.world import world_for, world_tables

Progress = Callable[[int, int, int], None]  # (days done, total days, events so far)


@dataclass(frozen=True)
class SimulationResult:
    out: Path
    truth_dir: Path
    scenario: str
    seed: int | None  # None when sealed: the seed is kept only with the truth
    days: int
    events: int
    episodes: int
    labelled_events: int
    staff: int
    fingerprint: str
    seconds: float
    files: dict[str, int]
    warnings: tuple[str, ...] = ()   # asked-for episodes that could not be placed or never acted, kinds left out

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _prepare_out(path: Path, what: str, key: str) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"already exists and is not empty; expected a new {what}", file=str(path), key=key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise InputError(f"cannot be written ({exc.strerror}); expected a writable place for a new {what}",
                         file=str(path), key=key) from None


def _inside(a: Path, b: Path) -> bool:
    """True if ``a`` is ``b`` or lies inside it (paths resolved, whether or not they exist)."""
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def simulate(scenario: str | Path | Scenario, out: str | Path, *, seed: int | None = None,
             days: int | None = None, workers: int = 1, scheduler: str | None = None,
             sealed: str | Path | None = None, progress: Progress | None = None) -> SimulationResult:
    """Simulate a scenario into a dataset directory (see the module docstring).

    With ``sealed``, the truth goes to that folder and, unless ``seed`` is given, the seed is drawn
    from the operating system's CSPRNG and kept only there (``truth.json``): the dataset's manifest
    and ``scenario.toml`` say ``seed = "sealed"``, so nobody without the truth can re-simulate it."""
    t0 = time.perf_counter()
    scn = scenario if isinstance(scenario, Scenario) else scenario_mod.load(scenario_mod.find(scenario))
    sealed_path = Path(sealed) if sealed else None
    if sealed_path is not None and seed is None:
        seed = secrets.randbelow(2**63)
    scn = scn.with_overrides(seed=seed, days=days)
    if workers < 1:
        raise InputError(f"expected at least 1 worker, got {workers}", key="--workers")
    out = Path(out)
    if sealed_path is not None and (_inside(sealed_path, out) or _inside(out, sealed_path)):
        raise InputError(f"expected a truth folder apart from the dataset {out}, not inside it or around it",
                         file=str(sealed_path), key="--sealed")
    scn.check_machine_fits(workers)
    warnings = list(scn.notes)
    if workers == 1 and scheduler is None:
        # This process builds the world anyway (cached): an impossible plan is refused before
        # anything is written. With more workers, the worker that builds it refuses it (plan_check).
        warnings += plan_check(scn.data, str(scn.path))
    tmp = _prepare_out(out, "dataset directory", "--out")
    tmp_truth = None
    try:
        tmp_truth = _prepare_out(sealed_path, "truth folder", "--sealed") if sealed_path else None
        result = _simulate_into(scn, tmp, workers, scheduler, progress, sealed=sealed_path is not None)
        if not (workers == 1 and scheduler is None):
            warnings += result["world_warnings"]
        truth_src = tmp / "truth"
        warnings += acted_shortfalls(scn["misuse"]["kinds"], result["acted"], scn.days, result["silent"])
        write_misuse_notes(truth_src, warnings)
        if tmp_truth is not None:
            for f in truth_src.iterdir():
                shutil.move(str(f), tmp_truth / f.name)
            truth_src.rmdir()
        info = DatasetInfo(scenario=scn.name, timezone=scn["timezone"], start_date=scn["start_date"],
                           days=scn.days, warmup_days=scn["warmup_days"], staff=scn["force"]["staff"])
        write_manifest(tmp, scenario=scn.name, seed=scn.seed, version=__version__, info=info,
                       files=result["files"], truth=result["truth"], events=result["events"],
                       truth_dir=tmp_truth)
        if tmp_truth is not None:
            tmp_truth.rename(sealed_path) if not sealed_path.exists() else _move_into(tmp_truth, sealed_path)
        tmp.rename(out) if not out.exists() else _move_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if tmp_truth is not None:
            shutil.rmtree(tmp_truth, ignore_errors=True)
        raise
    return SimulationResult(
        out=out, truth_dir=sealed_path or out / "truth", scenario=scn.name,
        seed=None if sealed_path is not None else scn.seed, days=scn.days,
        events=result["events"], episodes=result["episodes"], labelled_events=result["labelled"],
        staff=scn["force"]["staff"], fingerprint=fingerprint(result["files"] + result["truth"]),
        seconds=time.perf_counter() - t0, files={e.path: e.rows for e in result["files"]},
        warnings=tuple(warnings))


def write_misuse_notes(truth: Path, warnings: list[str]) -> None:
    """Keep the misuse warnings (``misuse.*`` keys) of a run beside its truth: outside the manifest
    and the fingerprint (a note of the run, not data), and with the truth because it tells how
    many episodes there are (:data:`contract.manifest.MISUSE_NOTES`)."""
    from snoopbench.contract.manifest import MISUSE_NOTES

    notes = [w for w in warnings if w.startswith("misuse.")]
    (truth / MISUSE_NOTES).write_text(json.dumps({"warnings": notes}, indent=2) + "\n")


def _move_into(src: Path, dst: Path) -> None:
    for f in src.iterdir():
        shutil.move(str(f), dst / f.name)
    src.rmdir()


def _simulate_into(scn: Scenario, root: Path, workers: int, scheduler: str | None,
                   progress: Progress | None, *, sealed: bool = False) -> dict:
    data = scn.data
    (root / "scenario.toml").write_text(scn.to_toml(sealed=sealed))
    work = root / "_work"
    areas = list(range(len(scn.areas)))
    shard_dirs = [str(work / f"shard-{a:03d}") for a in areas]
    pipelined = _Pipelined(data, shard_dirs, root, workers, str(scn.path)) if scheduler is None and workers > 1 else None
    # The world is built once per process that needs it: here with --workers 1, else by the
    # first worker (group 0, or one cluster job), which writes its context tables.
    if pipelined is not None:
        results, merged, (files, truth, world_warnings) = pipelined.results(scn.days, progress)
    elif scheduler is None:
        files, truth, world_warnings = write_world(data, str(root), str(scn.path))
        results, merged = _run_in_process(data, areas, shard_dirs, root, progress)
    else:
        files, truth, world_warnings = _map(_world_job, [(data, str(root), str(scn.path))], 1, scheduler)[0]
        results = _run_shards(data, areas, shard_dirs, workers, scheduler, progress)
        # Events, merged day by day from the shards' day files.
        per_day = np.sum([r.rows_per_day for r in results], axis=0)
        offsets = np.concatenate([[0], np.cumsum(per_day)[:-1]])
        part_of_day = np.cumsum(per_day > 0) - 1
        jobs = [(shard_dirs, d, int(offsets[d]), int(part_of_day[d]), str(root))
                for d in range(scn.days) if per_day[d]]
        merged = _map(_merge_day, jobs, workers, scheduler)
    per_day = np.sum([r.rows_per_day for r in results], axis=0)
    # Context parts from every shard, streamed in area order (each part sorted by time in its shard).
    for t in SHARD_TABLES:
        parts = (pq.read_table(Path(d) / "context" / f"{t.name}.parquet") for d in shard_dirs)
        files.append(write_parts(root, t.path, parts, t))
    files.extend(m[0] for m in merged)
    labels = pa.concat_tables([m[1] for m in merged]) if merged else None
    label_table = labels.select(["event_id", "episode_id"]) if labels is not None else LABELS.schema.empty_table()
    truth.append(write_table(root, LABELS.path, label_table, LABELS))
    episodes = [e for r in results for e in r.episodes]
    ep_table = _episodes_table(episodes, labels)
    truth.append(write_table(root, EPISODES.path, ep_table, EPISODES))
    shutil.rmtree(work)
    silent = [{k: e[k] for k in ("episode_id", "kind", "skill", "_silent")}
              for e in episodes if e.get("_silent")]
    return {"files": files, "truth": truth, "events": int(per_day.sum()), "episodes": ep_table.num_rows,
            "silent": sorted(silent, key=lambda e: e["episode_id"]),
            "labelled": label_table.num_rows,
            "acted": Counter(ep_table["kind"].to_pylist()) if ep_table.num_rows else Counter(),
            "world_warnings": world_warnings}


def plan_check(data: dict, source: str) -> list[str]:
    """The misuse plan's shortfalls: an episode kind that cannot happen is a :class:`ScenarioError`
    naming its key; fewer episodes placed than asked for is a warning (returned)."""
    warnings = []
    for short in world_for(data).plan.shortfalls:
        if short.impossible:
            raise ScenarioError(short.message(), file=source, key=short.key)
        warnings.append(short.message())
    return warnings


def write_world(data: dict, root: str, source: str = "") -> tuple[list[FileEntry], list[FileEntry], list[str]]:
    """Write the world's context tables (and the true relations) from this process's world, after
    checking its misuse plan (see :func:`plan_check`); returns the plan's warnings too."""
    warnings = plan_check(data, source or data["name"])
    files: list[FileEntry] = []
    truth: list[FileEntry] = []
    decl = {t.name: t for t in CONTEXT_TABLES}
    for name, table in world_tables(world_for(data)).items():
        if name == "relations":
            truth.append(write_table(Path(root), RELATIONS.path, table, RELATIONS))
        else:
            files.append(write_table(Path(root), f"context/{name}.parquet", table, decl[name]))
    return files, truth, warnings


def _world_job(args) -> tuple[list[FileEntry], list[FileEntry], list[str]]:
    return write_world(*args)


def _episodes_table(episodes: list[dict], labels: pa.Table | None) -> pa.Table:
    """Episodes that left events in the period, with start, end and counts taken from their labels."""
    if not episodes or labels is None or labels.num_rows == 0:
        return EPISODES.schema.empty_table()
    ep = labels["episode_id"].to_numpy()
    ts = labels["ts"].to_numpy()
    size = int(max(max(e["episode_id"] for e in episodes), ep.max())) + 1
    counts = np.bincount(ep, minlength=size)
    first = np.full(size, np.iinfo(np.int64).max)
    last = np.full(size, np.iinfo(np.int64).min)
    np.minimum.at(first, ep, ts)
    np.maximum.at(last, ep, ts)
    rows = []
    for e in episodes:
        i = e["episode_id"]
        if counts[i] == 0:
            continue
        e = {k: v for k, v in e.items() if not k.startswith("_")}  # the run's notes, not truth
        rows.append({**e, "start": int(first[i]), "end": int(last[i]), "n_events": int(counts[i]),
                     "detectable_from": int(first[i])})
    t = pa.Table.from_pylist(rows)
    for c in ("start", "end", "detectable_from", "public_at"):
        t = t.set_column(t.column_names.index(c), c, t[c].cast(pa.int64()).cast(TS))
    return t.sort_by("episode_id")


def _run_in_process(data: dict, areas: list[int], dirs: list[str], root: Path,
                    progress: Progress | None) -> tuple[list[ShardResult], list[tuple[FileEntry, pa.Table]]]:
    """Every shard in this process, advanced day by day in step, each finished day merged and
    written on a background thread while the next days are simulated (pyarrow's compression,
    sorting and hashing release the GIL, so the merge runs beside the simulation)."""
    days = data["duration_days"]
    waiting: dict[int, list] = {d: [None] * len(areas) for d in range(days)}

    def spill_to(slot: int):
        def spill(day: int, build) -> None:
            waiting[day][slot] = build
        return spill

    shards = [ShardRun(data, a, d, spill=spill_to(i)) for i, (a, d) in enumerate(zip(areas, dirs))]
    merged: list[Future] = []
    next_day, offset, part = 0, 0, 0

    def merge_through(last: int) -> None:
        nonlocal next_day, offset, part
        while next_day <= last:
            builds = [b for b in waiting.pop(next_day) if b is not None]
            rows = sum(int(s.ctx.sink.rows_per_day[next_day]) for s in shards)
            if rows:
                merged.append(pool.submit(_build_and_merge, builds, offset, part, str(root)))
                offset += rows
                part += 1
            next_day += 1
        # Bounded memory: at most a few days in flight.
        while sum(not f.done() for f in merged) > 2:
            wait([f for f in merged if not f.done()], return_when=FIRST_COMPLETED)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge") as pool:
        try:
            for day in range(days):
                for shard in shards:
                    shard.run_day(day)
                merge_through(min(s.complete_through for s in shards))
                if progress:
                    progress(day + 1, days, sum(s.events for s in shards))
            results = [s.finish() for s in shards]
            merge_through(days - 1)
            out = [f.result() for f in merged]
        except BaseException:
            for f in merged:
                f.cancel()
            raise
    return results, out


class _Pipelined:
    """Shards in ``workers`` local processes, each advancing its group of areas day by day and
    merging every ``workers``-th day as soon as all groups have finished it (so the merge, like
    the simulation, is shared out). Started before this process writes the world's context.

    Each group publishes how far it is, and its rows per day, in ``work/group-N.json``; event id
    offsets and part numbers follow from those counts alone.
    """

    def __init__(self, data: dict, dirs: list[str], root: Path, workers: int, source: str = ""):
        import multiprocessing as mp

        self.work = Path(dirs[0]).parent
        self.work.mkdir(parents=True, exist_ok=True)
        n = len(dirs)
        groups = [list(range(k, n, workers)) for k in range(min(workers, n))]
        self.pool = ProcessPoolExecutor(max_workers=len(groups), mp_context=mp.get_context("spawn"))
        self.futures = [self.pool.submit(_group_job, (data, g, dirs, str(self.work), k, len(groups), str(root),
                                                      source))
                        for k, g in enumerate(groups)]
        self.groups = len(groups)

    def abort(self) -> None:
        """Stop every group now (an error, Ctrl-C or SIGTERM): no worker outlives the run."""
        try:
            (self.work / "abort").touch()  # groups waiting for others stop instead of waiting for ever
        except OSError:
            pass
        processes = list(getattr(self.pool, "_processes", {}).values())
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def results(self, days: int, progress: Progress | None) -> tuple[
            list[ShardResult], list[tuple[FileEntry, pa.Table]], tuple[list[FileEntry], list[FileEntry]]]:
        try:
            while True:
                done, pending = wait(self.futures, timeout=0.5, return_when=FIRST_EXCEPTION)
                for f in done:
                    if f.exception() is not None:
                        raise f.exception()
                if not pending:
                    break
                if progress:
                    marks = [_read_json(self.work / f"group-{k}.json") for k in range(len(self.futures))]
                    progress(min(m["through"] for m in marks) + 1, days, sum(sum(m["rows"]) for m in marks))
            out = [f.result() for f in self.futures]
        except BaseException:
            self.abort()
            raise
        self.pool.shutdown()
        results = sorted((r for shard_results, _, _ in out for r in shard_results), key=lambda r: r.area)
        entries = sorted((e for _, merged, _ in out for e in merged.items()), key=lambda e: e[0])
        merged = [(entry, feather.read_table(self.work / f"labels-{day:05d}.arrow")) for day, entry in entries]
        return results, merged, out[0][2]


def _group_job(args) -> tuple[list[ShardResult], dict[int, FileEntry], tuple[list[FileEntry], list[FileEntry]]]:
    data, group, dirs, work, k, n_groups, root, source = args
    work, days = Path(work), data["duration_days"]
    world = write_world(data, root, source) if k == 0 else ([], [], [])
    shards = [ShardRun(data, a, dirs[a], compression="uncompressed") for a in group]
    mine = [d for d in range(days) if d % n_groups == k]
    merged: dict[int, FileEntry] = {}

    def publish(through: int) -> None:
        rows = np.sum([s.ctx.sink.rows_per_day[: through + 1] for s in shards], axis=0)
        _write_json(work / f"group-{k}.json", {"through": through, "rows": rows.tolist()})

    def merge_ready(block: bool) -> None:
        while mine:
            day = mine[0]
            marks = [_read_json(work / f"group-{g}.json") for g in range(n_groups)]
            if min(m["through"] for m in marks) < day:
                if not block:
                    return
                if (work / "abort").exists():
                    raise RuntimeError("another group failed")
                time.sleep(0.01)
                continue
            per_day = np.sum([m["rows"][: day + 1] for m in marks], axis=0)
            tables = _read_day(dirs, day)
            if tables:
                entry, labels = _merge_tables(tables, int(per_day[:day].sum()), int((per_day[:day] > 0).sum()), root)
                feather.write_feather(labels, work / f"labels-{day:05d}.arrow", compression="uncompressed")
                merged[day] = entry
            mine.pop(0)

    for day in range(days):
        for s in shards:
            s.run_day(day)
        publish(min(s.complete_through for s in shards))
        merge_ready(block=False)
    results = [s.finish() for s in shards]
    publish(days - 1)
    merge_ready(block=True)
    return results, merged, world


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {"through": -1, "rows": []}


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)  # atomic: readers see the old state or the new one


def _run_shards(data: dict, areas: list[int], dirs: list[str], workers: int, scheduler: str | None,
                progress: Progress | None) -> list[ShardResult]:
    days = data["duration_days"]
    results = _map(_shard_job, [(data, a, d) for a, d in zip(areas, dirs)], workers, scheduler,
                   on_done=(lambda n, r: progress(days * n // len(areas), days, sum(sum(x.rows_per_day) for x in r)))
                   if progress else None)
    return sorted(results, key=lambda r: r.area)


def _shard_job(args) -> ShardResult:
    data, area, d = args
    return run_shard(data, area, d)


def _map(fn, jobs: list, workers: int, scheduler: str | None, on_done=None) -> list:
    """Run jobs in order of submission and return their results in the same order."""
    if scheduler:
        from snoopbench.simulator.cluster import dask_map

        return dask_map(scheduler, fn, jobs, on_done=on_done)
    if workers == 1 or len(jobs) <= 1:
        out = []
        for j in jobs:
            out.append(fn(j))
            if on_done:
                on_done(len(out), out)
        return out
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(fn, j) for j in jobs]
        out = []
        for f in futures:
            out.append(f.result())
            if on_done:
                on_done(len(out), out)
        return out


def _build_and_merge(builds: list, offset: int, part: int, root: str) -> tuple[FileEntry, pa.Table]:
    tables = [t for t in (b() for b in builds) if t.num_rows]
    return _merge_tables(tables, offset, part, root)


def _merge_day(args) -> tuple[FileEntry, pa.Table]:
    """One day's rows from every shard's day file: merge them (see :func:`_merge_tables`)."""
    shard_dirs, day, offset, part, root = args
    return _merge_tables(_read_day(shard_dirs, day), offset, part, root)


def _read_day(shard_dirs: list[str], day: int) -> list[pa.Table]:
    """A day's rows from each shard's day file (in area order), removing the files once read."""
    tables = []
    for d in shard_dirs:
        f = Path(d) / "events" / f"day-{day:05d}.arrow"
        if f.exists():
            tables.append(feather.read_table(f, memory_map=False))
            f.unlink()  # merged: the intermediate file is not needed again
    return tables


def _time_order(ts: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Row order by (time, tiebreak). A day spans under 2^27 ms, so time and the tiebreak's top 37
    bits make one 64-bit key; if two keys ever tie, the exact two-key sort decides."""
    key = ((ts - ts.min()).astype(np.uint64) << np.uint64(37)) | (tiebreak >> np.uint64(27))
    order = np.argsort(key)
    k = key[order]
    if len(k) > 1 and (k[1:] == k[:-1]).any():
        return pc.sort_indices(pa.table({"ts": ts, "tiebreak": tiebreak}),
                               sort_keys=[("ts", "ascending"), ("tiebreak", "ascending")]).to_numpy()
    return order


def _merge_tables(tables: list[pa.Table], offset: int, part: int, root: str) -> tuple[FileEntry, pa.Table]:
    """One day's rows from every shard: sort, number, split labels, write one events part."""
    t = pa.concat_tables(tables, promote_options="permissive")
    t = t.take(_time_order(t["ts"].to_numpy(), t["tiebreak"].to_numpy()))
    n = t.num_rows
    event_id = np.arange(offset, offset + n, dtype=np.int64)
    episode = t["episode"].to_numpy()
    lab = episode >= 0
    events = pa.table({
        "event_id": event_id,
        "ts": t["ts"].cast(TS),
        "user_id": t["user_id"],
        "system": pa.array(SYSTEMS).take(t["system"]),
        "action": pa.array(ACTIONS).take(t["action"]),
        "entity_type": pa.array(ENTITY_TYPES).take(t["entity_type"]),
        "entity_id": t["entity_id"],
        "reference": t["reference"].cast(pa.string()),
        "workstation_id": t["workstation_id"],
    })
    entry = write_table(Path(root), f"events/part-{part:05d}.parquet", events, EVENTS)
    labels = pa.table({"event_id": pa.array(event_id[lab]), "episode_id": pa.array(episode[lab], pa.int32()),
                       "ts": pa.array(t["ts"].to_numpy()[lab], pa.int64())})
    return entry, labels
