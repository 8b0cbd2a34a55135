"""Legitimate work that looks like misuse, so that no rule is right by accident.

- ``notable_event``: a murder or a celebrity's arrest. A major-crime team holds the case and views its
  crime-scene media for weeks; a few staff with no reference brief on it. Curious staff (misuse) view
  the same records.
- ``network_watch``: analysts search a criminal network's people, vehicles and intelligence every
  week, and more before each police operation against it; the operation team works under an
  operation reference. Leaking insiders (misuse) look up the same people with the same rhythm.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from snoopbench.simulator.behaviour import CRIME_OPEN_DAYS, DAY, HOUR, LOOKUP_GAP_MS_MEAN
from snoopbench.simulator.misuse_plan import Network, Notable
from snoopbench.simulator.rng import derive
from snoopbench.simulator.shard import ACT, ETYPE, ROLE, SYS, ShardContext



def notable_event(env, ctx: ShardContext, nt: Notable):
    rng = derive(ctx.seed, "notable", nt.index)
    yield env.timeout(max(nt.t_ms - env.now, 0))
    t = int(env.now)
    date = dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc)
    inc_ref = ctx.refs.add(f"CAD {ctx.area + 1}{ctx.counter(f'inc{date:%y%m%d}'):04d} {date:%d%b%y}".upper(), t,
                           ctx.area, incident_id=nt.incident_id)
    offence = "homicide" if nt.kind == "murder" else "assault"
    cref = ctx.refs.add(f"{ctx.scn['force']['code']}/{ctx.area + 1}{ctx.counter('crime'):06d}/{date:%y}", t,
                        ctx.area, incident_id=nt.incident_id, crime_id=nt.crime_id)
    people = np.concatenate([[nt.person], ctx.person_sampler.draw(rng.random(3))]).astype(np.int64)
    # Scene and custody media are added over the next two days.
    media_at = t + rng.integers(HOUR, 2 * DAY, len(nt.media_ids))
    ctx.notable_media_at[nt.index] = media_at
    for r in (inc_ref, cref):
        ctx.refs.attach(r, "person", people)
        ctx.refs.attach(r, "address", ctx.pop.address[people[:2]])
        ctx.refs.attach(r, "media", nt.media_ids, at=media_at)
    ctx.out.incidents.append([nt.incident_id, ctx.refs.strings[inc_ref], t, ctx.area_name, "notable", "immediate",
                              nt.crime_id])
    ctx.out.crimes.append((nt.crime_id, ctx.refs.strings[cref], t, ctx.area_name, offence, True))
    subject = nt.person if nt.kind == "celebrity" else int(people[1])
    if nt.kind == "celebrity":
        ctx.refs.attach(cref, "custody", [nt.custody_id])
        ctx.out.records.append(("custody", nt.custody_id, cref, t, -1, subject, "custody_record"))
    for m, cat, at in zip(nt.media_ids, nt.media_kinds, media_at.tolist()):
        ctx.out.records.append(("media", int(m), cref, at, -1, subject if cat == "custody_photo" else -1, cat))
    ctx.area_refs.push_one(0, inc_ref, t, t + 30 * DAY)
    ctx.area_refs.push_one(0, cref, t, t + CRIME_OPEN_DAYS * DAY)
    # The major-crime team holds the case for weeks; their own work views its media and people.
    inv = ctx.rollcall([ROLE["investigator"]], t, days=4)
    team = rng.choice(inv, size=min(len(inv), ctx.scn["misuse"]["notable_team_size"]), replace=False) \
        if len(inv) else inv
    ctx.assign(team, cref, t, t + CRIME_OPEN_DAYS * DAY, team=False)
    if len(team):
        n = 40
        # Each view is of an item already there at the time.
        first = int(media_at.min())
        ts = np.sort(first + rng.integers(0, t + 3 * DAY - first, n))
        who = team[rng.integers(0, len(team), n)]
        order = np.argsort(media_at, kind="stable")
        there = np.searchsorted(media_at[order], ts, side="right")
        media = np.asarray(nt.media_ids)[order][(rng.random(n) * there).astype(np.int64)]
        ctx.sink.emit(ts, who, SYS["DEMS"], ACT["view"], ETYPE["media"], media, cref)
    # Briefings: staff with no reference read the headline records.
    pool = ctx.rollcall([ROLE["analyst"], ROLE["back_office"], ROLE["professional_standards"]], t, days=4)
    if len(pool):
        # Briefings: press office, command and analysts read the headline records with no reference;
        # some print them for a statement or a briefing pack.
        readers = rng.choice(pool, size=min(len(pool), ctx.scn["misuse"]["notable_briefing_readers"]), replace=False)
        for r in readers:
            k = int(rng.integers(1, 5))
            ts = t + np.sort(rng.integers(2 * HOUR, 4 * DAY, 1)) + np.cumsum(rng.exponential(LOOKUP_GAP_MS_MEAN, k)).astype(np.int64)
            what = rng.random(k)
            etype = np.where(what < 0.5, ETYPE["crime"], np.where(what < 0.8, ETYPE["person"], ETYPE["incident"]))
            eid = np.where(etype == ETYPE["crime"], nt.crime_id, np.where(etype == ETYPE["person"], nt.person,
                                                                         nt.incident_id))
            system = np.where(etype == ETYPE["incident"], SYS["CAD"], SYS["RMS"])
            action = np.full(k, ACT["view"])
            if rng.random() < ctx.scn["misuse"]["notable_briefing_print_share"]:
                action[-1] = ACT["print"] if system[-1] == SYS["RMS"] else ACT["view"]
            ctx.sink.emit(ts, int(r), system, action, etype, eid, -1)


def network_watch(env, ctx: ShardContext, nw: Network):
    """Analysts' weekly searches of a network, thicker before operations; the operations themselves."""
    rng = derive(ctx.seed, "network", nw.index)
    mid = ctx.midnights
    t0 = int(mid[0])
    for i, m in enumerate(nw.members):
        ctx.out.records.append(("intel", int(nw.intel_ids[i]), -1, t0, -1, int(m), "intel_report"))
    per_week = ctx.scn["misuse"]["analyst_network_searches_per_week"]
    op_ref = {}
    for day in range(ctx.days):
        yield env.timeout(max(mid[day] + 2 - env.now, 0))
        ahead = nw.operations_ms[nw.operations_ms > mid[day]]
        near = len(ahead) and (ahead[0] - mid[day]) < 7 * DAY
        sessions = rng.poisson(per_week / 7 * (3.0 if near else 1.0))
        for _ in range(sessions):
            t = int(mid[day] + rng.uniform(8.5, 17) * HOUR)
            analysts = ctx.on_duty(t, ("analyst", "investigator"))
            if not len(analysts):
                continue
            who = int(ctx.duty_staff(analysts[rng.integers(len(analysts))]))
            k = int(rng.integers(3, 15))
            ts = t + np.cumsum(rng.exponential(LOOKUP_GAP_MS_MEAN, k)).astype(np.int64)
            etype, eid, system = _network_rows(nw, k, rng)
            ctx.sink.emit(ts, who, system, ACT["search"], etype, eid, -1)
        for op_t in nw.operations_ms[(nw.operations_ms >= mid[day]) & (nw.operations_ms < mid[day + 1])]:
            key = int(op_t)
            if key not in op_ref:
                op_ref[key] = ctx.refs.add(f"OP {ctx.scn['force']['code']}-{nw.index + 1:02d}{len(op_ref) + 1:02d}",
                                           int(op_t) - 5 * DAY, ctx.area)
                r = op_ref[key]
                ctx.refs.attach(r, "person", nw.members)
                ctx.refs.attach(r, "vehicle", nw.vehicles)
                ctx.refs.attach(r, "intel", nw.intel_ids)
            inv = ctx.rollcall([ROLE["investigator"]], int(op_t) - 5 * DAY, days=9)
            team = rng.choice(inv, size=min(len(inv), 5), replace=False) if len(inv) else inv
            ctx.assign(team, op_ref[key], int(op_t) - 5 * DAY, int(op_t) + 3 * DAY, team=False)
            if len(team):
                n = 20
                ts = np.sort(int(op_t) - rng.integers(HOUR, 2 * DAY, n))
                ts = np.maximum(ts, int(env.now))
                etype, eid, system = _network_rows(nw, n, rng)
                ctx.sink.emit(ts, team[rng.integers(0, len(team), n)], system, ACT["view"], etype, eid, op_ref[key])


def _network_rows(nw: Network, k: int, rng):
    u = rng.random(k)
    etype = np.where(u < 0.45, ETYPE["person"], np.where(u < 0.75, ETYPE["intel"], ETYPE["vehicle"]))
    if not len(nw.vehicles):
        etype = np.where(etype == ETYPE["vehicle"], ETYPE["person"], etype)
    eid = np.where(etype == ETYPE["person"], nw.members[rng.integers(0, len(nw.members), k)],
                   np.where(etype == ETYPE["intel"], nw.intel_ids[rng.integers(0, len(nw.intel_ids), k)],
                            nw.vehicles[rng.integers(0, max(len(nw.vehicles), 1), k)] if len(nw.vehicles) else 0))
    system = np.where(etype == ETYPE["vehicle"], np.where(rng.random(k) < 0.5, SYS["ANPR"], SYS["PNC"]),
                      np.where(etype == ETYPE["intel"], np.where(rng.random(k) < 0.5, SYS["PND"], SYS["RMS"]),
                               np.where(rng.random(k) < 0.5, SYS["PNC"], SYS["PND"])))
    return etype.astype(np.uint8), eid.astype(np.int64), system.astype(np.uint8)
