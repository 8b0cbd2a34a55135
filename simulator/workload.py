"""Legitimate police work: SimPy processes decide what happens; numpy draws the audit rows.

- ``day_clock``: each local midnight, rosters the area's staff and plans every shift's own work as
  tasks (bursts of look-ups); each hour, the tasks starting in it pick a reference among what their
  user holds then (or none) and emit their rows, in one vectorised pass.
- ``emit_rows``: draws system, action and entity for rows by the users' roles and references, for
  shift work and for the look-ups incidents ask for (``ShardContext.request_rows``).

Every row, legitimate or not, reaches the dataset through ``EventSink.emit``. Demand and incidents
are in :mod:`simulator.incidents`; misuse in :mod:`simulator.misuse`.
"""

from __future__ import annotations

import numpy as np

from snoopbench.simulator.behaviour import DAY, HOUR, LOOKUP_GAP_MS_MEAN
from snoopbench.simulator.force import roster
from snoopbench.simulator.shard import ETYPE, SYS, ShardContext
from snoopbench.contract.schema import ROLES

GRADES = ("immediate", "priority", "scheduled", "resolution")
INCIDENT_KINDS = ("concern for welfare", "domestic", "theft", "burglary", "assault", "road traffic",
                  "anti-social behaviour", "suspicious activity", "missing person", "criminal damage")
OFFENCES = ("theft", "burglary", "assault", "criminal damage", "fraud", "drugs", "robbery",
            "public order", "sexual offence", "harassment")
ATTENDING = ("response", "neighbourhood", "pcso")
SERIOUS = ("homicide", "rape", "robbery", "serious assault")


def day_clock(env, ctx: ShardContext):
    """Roster each day at local midnight, work the day's incidents and cases, and plan its shifts'
    own work; each hour, the tasks that start in it pick their references among what their users
    hold at the time (so today's incidents can be worked today) and emit rows."""
    pending: dict[str, np.ndarray] | None = None
    for day in range(ctx.days):
        yield env.timeout(max(ctx.midnights[day] - env.now, 0))
        r = roster(ctx.scn, ctx.force, ctx.on_roll(day), day, ctx.midnights, ctx.rng["roster"])
        ctx.set_roster(r)
        for work in ctx.daily:  # the day's incidents and cases, each at its own time (see IncidentDesk)
            work(day)
        planned = plan_tasks(ctx, r)
        pending = planned if pending is None else {k: np.concatenate([pending[k], planned[k]]) for k in planned}
        ctx.sink.flush_before(day - 1)
        t = int(ctx.midnights[day])
        while t < ctx.midnights[day + 1]:
            t = min(t + HOUR, int(ctx.midnights[day + 1]))
            due = pending["start"] < t
            if due.any():
                emit_tasks(ctx, {k: v[due] for k, v in pending.items()})
                pending = {k: v[~due] for k, v in pending.items()}
            yield env.timeout(max(t - env.now, 0))
            flush_rows(ctx)
            ctx.sink.drain()


def flush_rows(ctx: ShardContext) -> None:
    """Draw and emit, in one batch, the rows processes asked for since the last batch."""
    if not ctx.row_requests:
        return
    reqs, ctx.row_requests = ctx.row_requests, []
    n = [len(r[0]) for r in reqs]
    ts = np.concatenate([r[0] for r in reqs]).astype(np.int64)
    staff, ref, system = (np.concatenate([np.broadcast_to(np.asarray(r[j], dt), (k,)) for r, k in zip(reqs, n)])
                          for j, dt in ((1, np.int64), (2, np.int64), (3, np.uint8)))
    emit_rows(ctx, ctx.rng["background"], ts, staff, ref, system=system)


def plan_tasks(ctx: ShardContext, r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every shift's own work as tasks (bursts of look-ups): when, by whom, how many rows."""
    rng = ctx.rng["background"]
    scn, force = ctx.scn, ctx.force
    staff, start, end = r["staff"], r["start"], r["end"] + r["overrun"]
    role = force.role[staff]
    par = {k: np.array([scn["roles"][x][k] for x in ROLES]) for k in
           ("events_per_shift_median", "events_per_shift_sigma", "task_rows_mean")}
    n = np.rint(par["events_per_shift_median"][role] * force.pace[staff]
                * np.exp(rng.normal(0, 1, len(staff)) * par["events_per_shift_sigma"][role])).astype(np.int64)
    k = np.minimum(np.maximum(1, np.rint(n / par["task_rows_mean"][role])), np.maximum(n, 1)).astype(np.int64)
    shift = np.repeat(np.arange(len(staff)), k)
    j = np.arange(len(shift)) - np.repeat(np.cumsum(k) - k, k)
    rows = ((j + 1) * n[shift]) // k[shift] - (j * n[shift]) // k[shift]
    t_start = start[shift] + (rng.random(len(shift)) * (end - start)[shift] * 0.95).astype(np.int64)
    keep = rows > 0
    order = np.argsort(t_start[keep], kind="stable")
    return {"start": t_start[keep][order], "staff": staff[shift][keep][order], "rows": rows[keep][order]}


def emit_tasks(ctx: ShardContext, tasks: dict[str, np.ndarray]) -> None:
    """Pick each task's reference among what its user holds now, then draw and emit its rows."""
    rng = ctx.rng["background"]
    scn, force = ctx.scn, ctx.force
    t_staff, t_start = tasks["staff"], tasks["start"]
    n_tasks = len(t_staff)
    t_role = force.role[t_staff]
    referenced = np.array([scn["roles"][x]["referenced_share"] for x in ROLES])[t_role]
    holds = np.array([scn["roles"][x]["holds"] for x in ROLES])[t_role]
    dem = scn["demand"]
    u, v, w, f = rng.random((4, n_tasks))
    wants = u < referenced
    t_ref = np.full(n_tasks, -1, np.int64)
    own = wants & (holds != "area_crimes") & (holds != "none")
    via_team = own & (v < dem["team_reference_share"])
    idx = np.flatnonzero(own & ~via_team)
    t_ref[idx] = ctx.own.pick(t_staff[idx], t_start[idx], w[idx])
    # Team-mates' matters, and what one turns to when holding nothing of one's own.
    idx = np.flatnonzero(via_team | (own & (t_ref < 0)))
    t_ref[idx] = ctx.team.pick(force.team[t_staff[idx]], t_start[idx], w[idx])
    idx = np.flatnonzero(wants & (holds == "area_crimes"))
    t_ref[idx] = ctx.area_crimes.pick_of(0, t_start[idx], w[idx])
    # Custody and disclosure take up the area's cases as they work them.
    ctx.task(t_staff[idx], t_ref[idx], "direct", since=t_start[idx], until=t_start[idx] + 30 * DAY)
    # A few referenced tasks carry a reference the user does not hold (a colleague's, a typo).
    idx = np.flatnonzero(wants & (f < dem["foreign_reference_share"]))
    t_ref[idx] = ctx.area_refs.pick_of(0, t_start[idx], w[idx])
    # Rows: a burst per task, a few seconds to minutes apart.
    task_of_row = np.repeat(np.arange(n_tasks), tasks["rows"])
    gaps = rng.exponential(LOOKUP_GAP_MS_MEAN, len(task_of_row)).astype(np.int64)
    first = np.r_[True, task_of_row[1:] != task_of_row[:-1]]
    csum = np.cumsum(gaps)
    ts = t_start[task_of_row] + csum - np.maximum.accumulate(np.where(first, csum, 0))
    emit_rows(ctx, rng, ts, t_staff[task_of_row], t_ref[task_of_row])


def emit_rows(ctx: ShardContext, rng: np.random.Generator, ts: np.ndarray, staff: np.ndarray,
              ref: np.ndarray, episode=-1, system: np.ndarray | None = None) -> None:
    """Draw system, action and entity for rows by the users' roles, then emit them.

    Rows under a reference touch that reference's people, vehicles, addresses and records; rows
    under none touch the area's public by popularity (repeat victims, offenders and places).
    """
    role = ctx.force.role[staff]
    n = len(ts)
    drawn = ctx.role_systems.draw(role, rng.random(n))
    system = drawn if system is None else np.where(system == 255, drawn, system).astype(np.uint8)
    etype = ctx.system_etypes.draw(system, rng.random(n))
    action = ctx.role_system_actions.draw(role.astype(np.int64) * len(SYS) + system, rng.random(n))
    eid = np.zeros(n, np.int64)
    u = rng.random(n)
    has = ref >= 0
    if has.any():
        t, e = ctx.refs.draw(ref[has], etype[has], u[has], ts[has])
        etype[has] = t
        eid[has] = e
    free = ~has
    # Unreferenced record look-ups browse the area's recent references.
    rec = free & _RECORD_TYPE[etype]
    if rec.any():
        pick = ctx.area_refs.pick_of(0, ts[rec], rng.random(int(rec.sum())))
        ok = pick >= 0
        idx = np.flatnonzero(rec)
        t, e = ctx.refs.draw(np.maximum(pick, 0), etype[rec], u[rec], ts[rec])
        etype[idx[ok]] = t[ok]
        eid[idx[ok]] = e[ok]
        etype[idx[~ok]] = ETYPE["person"]
    m = free & (etype == ETYPE["person"])
    eid[m] = np.where(rng.random(int(m.sum())) < 0.9, ctx.person_sampler.draw(u[m]), ctx.any_person.draw(u[m]))
    m = free & (etype == ETYPE["vehicle"])
    eid[m] = ctx.vehicle_sampler.draw(u[m])
    m = free & (etype == ETYPE["address"])
    eid[m] = ctx.addr_sampler.draw(u[m])
    # Systems hold only some entity types: keep the pair consistent after a fallback.
    system = _system_for(system, etype)
    ctx.sink.emit(ts, staff, system, action, etype, eid, ref, episode)


_RECORD_TYPE = np.ones(len(ETYPE), bool)  # entity types that are records, not the public
_RECORD_TYPE[[ETYPE["person"], ETYPE["vehicle"], ETYPE["address"]]] = False
_HOME = np.array([SYS["RMS"]] * 8, dtype=np.uint8)
_HOME[ETYPE["incident"]] = SYS["CAD"]
_HOME[ETYPE["media"]] = SYS["DEMS"]


def _system_for(system: np.ndarray, etype: np.ndarray) -> np.ndarray:
    ok = np.ones((len(SYS), 8), bool)
    ok[SYS["CAD"]] = False
    ok[SYS["CAD"], ETYPE["incident"]] = True
    ok[SYS["DEMS"]] = False
    ok[SYS["DEMS"], ETYPE["media"]] = True
    ok[SYS["ANPR"]] = False
    ok[SYS["ANPR"], ETYPE["vehicle"]] = True
    ok[SYS["PNC"]] = False
    ok[SYS["PNC"], [ETYPE["person"], ETYPE["vehicle"], ETYPE["address"]]] = True
    ok[SYS["PND"], [ETYPE["incident"], ETYPE["media"]]] = False
    ok[SYS["RMS"], [ETYPE["incident"], ETYPE["media"]]] = False
    good = ok[system, etype]
    return np.where(good, system, _HOME[etype]).astype(np.uint8)
