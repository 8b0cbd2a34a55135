"""Legitimate police work: SimPy processes decide what happens; numpy draws the audit rows.

- ``day_clock``: each local midnight, rosters the area's staff and draws every shift's background
  work (look-ups under the references each user holds, and some under none) in one vectorised pass.
- ``emit_rows``: the one way rows get their system, action and entity, for all work.

Demand and incidents are in :mod:`simulator.incidents`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from simulator.force import roster
from simulator.shard import ETYPE, SYS, ShardContext, categorical
from simulator.schema import ROLES

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
GRADES = ("immediate", "priority", "scheduled", "resolution")
INCIDENT_KINDS = ("concern for welfare", "domestic", "theft", "burglary", "assault", "road traffic",
                  "anti-social behaviour", "suspicious activity", "missing person", "criminal damage")
OFFENCES = ("theft", "burglary", "assault", "criminal damage", "fraud", "drugs", "robbery",
            "public order", "sexual offence", "harassment")
ATTENDING = ("response", "neighbourhood", "pcso")
SERIOUS = ("homicide", "rape", "robbery", "serious assault")


def day_clock(env, ctx: ShardContext):
    """Roster each day at local midnight, draw its shifts' background work, spill finished days."""
    for day in range(ctx.days):
        yield env.timeout(max(ctx.midnights[day] - env.now, 0))
        r = roster(ctx.scn, ctx.force, ctx.staff, day, ctx.midnights, ctx.rng["roster"])
        ctx.set_roster(r)
        background(ctx, r)
        ctx.sink.flush_before(day - 1)


def background(ctx: ShardContext, r: dict[str, np.ndarray]) -> None:
    """Every shift's own work in one pass: bursts of look-ups (tasks) spread over the shift."""
    rng = ctx.rng["background"]
    scn, force = ctx.scn, ctx.force
    staff, start, end = r["staff"], r["start"], r["end"] + r["overrun"]
    if not len(staff):
        return
    role = force.role[staff]
    par = {k: np.array([scn["roles"][x][k] for x in ROLES]) for k in
           ("events_per_shift_median", "events_per_shift_sigma", "referenced_share", "task_rows_mean")}
    holds = np.array([scn["roles"][x]["holds"] for x in ROLES])[role]
    n = np.rint(par["events_per_shift_median"][role] * force.pace[staff]
                * np.exp(rng.normal(0, 1, len(staff)) * par["events_per_shift_sigma"][role])).astype(np.int64)
    k = np.maximum(1, np.rint(n / par["task_rows_mean"][role])).astype(np.int64)
    k = np.minimum(k, np.maximum(n, 1))
    # Tasks: a start time in the shift, a reference, an owner.
    t_shift = np.repeat(np.arange(len(staff)), k)
    t_start = start[t_shift] + (rng.random(len(t_shift)) * (end - start)[t_shift] * 0.95).astype(np.int64)
    t_role = role[t_shift]
    t_staff = staff[t_shift]
    t_ref = np.full(len(t_shift), -1, np.int64)
    u = rng.random(len(t_shift))
    wants = u < par["referenced_share"][t_role]
    t_holds = holds[t_shift]
    dem = scn["demand"]
    v = rng.random(len(t_shift))
    own = wants & np.isin(t_holds, ("attended_incidents", "handled_incidents", "allocated_crimes"))
    via_team = own & (v < dem["team_reference_share"])
    own_direct = own & ~via_team
    w = rng.random(len(t_shift))
    idx = np.flatnonzero(own_direct)
    t_ref[idx] = ctx.own.pick(t_staff[idx], t_start[idx], w[idx])
    idx = np.flatnonzero(via_team)
    t_ref[idx] = ctx.team.pick(force.team[t_staff[idx]], t_start[idx], w[idx])
    ctx.task(t_staff[idx], t_ref[idx], "team")
    idx = np.flatnonzero(wants & (t_holds == "area_crimes"))
    t_ref[idx] = ctx.area_crimes.pick(np.zeros(len(idx), np.int64), t_start[idx], w[idx])
    ctx.task(t_staff[idx], t_ref[idx], "direct")
    # A few referenced tasks carry a reference the user does not hold (a colleague's, a typo).
    idx = np.flatnonzero(wants & (rng.random(len(t_shift)) < dem["foreign_reference_share"]))
    t_ref[idx] = ctx.area_refs.pick(np.zeros(len(idx), np.int64), t_start[idx], w[idx])
    # Rows: a burst per task, a few seconds to minutes apart.
    task_of_row = _rows_to_tasks(n, k)
    gaps = rng.exponential(40_000, len(task_of_row)).astype(np.int64)
    first = np.r_[True, task_of_row[1:] != task_of_row[:-1]]
    csum = np.cumsum(gaps)
    ts = t_start[task_of_row] + csum - np.maximum.accumulate(np.where(first, csum, 0))
    emit_rows(ctx, rng, ts, t_staff[task_of_row], t_ref[task_of_row])


def _rows_to_tasks(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Global task index of each row: shift i's ``n[i]`` rows split evenly over its ``k[i]`` tasks."""
    shift_of_row = np.repeat(np.arange(len(n)), n)
    rank = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    local = (rank * k[shift_of_row]) // np.maximum(n[shift_of_row], 1)
    return (np.cumsum(k) - k)[shift_of_row] + local


def emit_rows(ctx: ShardContext, rng: np.random.Generator, ts: np.ndarray, staff: np.ndarray,
              ref: np.ndarray, episode=-1, system: np.ndarray | None = None) -> None:
    """Draw system, action and entity for rows by the users' roles, then emit them.

    Rows under a reference touch that reference's people, vehicles, addresses and records; rows
    under none touch the area's public by popularity (repeat victims, offenders and places).
    """
    role = ctx.force.role[staff]
    n = len(ts)
    if system is None:
        system = categorical(ctx.role_systems, role, rng.random(n))
    etype = categorical(ctx.system_etypes, system, rng.random(n))
    action = categorical(ctx.role_system_actions, role.astype(np.int64) * len(SYS) + system, rng.random(n))
    eid = np.zeros(n, np.int64)
    u = rng.random(n)
    has = ref >= 0
    if has.any():
        t, e = ctx.refs.draw(ref[has], etype[has], u[has])
        etype[has] = t
        eid[has] = e
    free = ~has
    # Unreferenced record look-ups browse the area's recent references.
    rec = free & ~np.isin(etype, (ETYPE["person"], ETYPE["vehicle"], ETYPE["address"]))
    if rec.any():
        pick = ctx.area_refs.pick(np.zeros(int(rec.sum()), np.int64), ts[rec], rng.random(int(rec.sum())))
        ok = pick >= 0
        idx = np.flatnonzero(rec)
        t, e = ctx.refs.draw(np.maximum(pick, 0), etype[rec], u[rec])
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
