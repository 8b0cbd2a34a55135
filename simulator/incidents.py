"""Demand and incidents: calls arrive by time of day and day of week; some become incidents.

An incident's life: a call handler logs it in CAD, officers are dispatched and check people and
vehicles on PNC (themselves or over the radio through the control room) and RMS, record body-worn
video, and some incidents become crimes allocated to an investigator, with custody and intelligence.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from simulator.shard import ACT, ETYPE, ROLE, SYS, ShardContext
from simulator.schema import ROLES
from simulator.workload import ATTENDING, DAY, GRADES, HOUR, INCIDENT_KINDS, MIN, OFFENCES, SERIOUS

CONTROL = ("control_room",)


def demand(env, ctx: ShardContext):
    """Calls arriving hour by hour as a non-homogeneous Poisson process."""
    scn, rng = ctx.scn, ctx.rng["demand"]
    dem = scn["demand"]
    officers = np.isin(np.array(ROLES)[ctx.force.role[ctx.staff]], dem["officer_roles"]).sum()
    per_day = officers * dem["calls_999_per_officer_per_day"] * dem["contacts_per_999_call"] * dem["incident_share"]
    hourly = np.array(dem["hourly_weights"]) / np.mean(dem["hourly_weights"])
    weekly = np.array(dem["weekday_weights"]) / np.mean(dem["weekday_weights"])
    grades = np.array(list(dem["grade_shares"].values()), float)
    for day in range(ctx.days):
        weekday = (scn["start_date"] + dt.timedelta(days=day)).weekday()
        for hour in range(24):
            t0 = ctx.midnights[day] + hour * HOUR
            night = (weekday == 4 and hour >= 20) or weekday == 5 or (weekday == 6 and hour < 4)
            boost = dem["weekend_night_factor"] if night and (hour >= 20 or hour < 4) else 1.0
            lam = per_day / 24 * hourly[hour] * weekly[weekday] * boost
            times = np.sort(t0 + rng.random(rng.poisson(lam)) * HOUR)
            gs = rng.choice(len(grades), size=len(times), p=grades / grades.sum())
            for t, g in zip(times, gs):
                yield env.timeout(max(t - env.now, 0))
                env.process(incident(env, ctx, GRADES[g]))


def _spread(rng, t0: float, span_ms: float, n: int) -> np.ndarray:
    return np.sort(t0 + rng.random(n) * span_ms).astype(np.int64)


def _pick(rng, idx: np.ndarray, k: int) -> np.ndarray:
    return rng.choice(idx, size=min(k, len(idx)), replace=False) if len(idx) else idx


def incident(env, ctx: ShardContext, grade: str):
    """One call that became an incident, from the call handler to the investigation."""
    rng, dem, sink = ctx.rng["incident"], ctx.scn["demand"], ctx.sink
    t0 = int(env.now)
    linked = -1
    if rng.random() < dem["staff_relation_incident_share"]:
        # Officers police where they live: now and then a relative or neighbour is involved.
        here = ctx.duty_staff(ctx.on_duty(t0, ATTENDING))
        if len(here):
            linked = int(rng.choice(here))
    ref, record, people, vehicles = new_incident(ctx, rng, t0, grade, relation_of=linked)
    inc_id = record[0]

    # The call handler logs it; the log is touched 10-30 times over its life.
    handlers = ctx.on_duty(t0, CONTROL)
    handler = ctx.duty_staff(_pick(rng, handlers, 1))
    touches = int(rng.integers(dem["cad_touches_min"], dem["cad_touches_max"] + 1))
    if len(handler):
        h = handler[0]
        ctx.assign(h, ref, t0, t0 + 2 * DAY)
        n_h = max(1, touches // 3)
        ts = _spread(rng, t0, 20 * MIN, n_h)
        act = np.where(np.arange(n_h) == 0, ACT["create"], ACT["update"])
        sink.emit(ts, h, SYS["CAD"], act, ETYPE["incident"], inc_id, ref)
        touches -= n_h
    if grade == "resolution":
        return
    yield env.timeout(rng.exponential(dem["dispatch_minutes"][grade] * MIN))
    t1 = int(env.now)
    avail = ctx.on_duty(t1, ATTENDING)
    n_off = 1 + rng.poisson(max(dem["attending_officers_mean"] - 1, 0))
    chosen = _pick(rng, avail, n_off)
    if not len(chosen):
        return
    officers = ctx.duty_staff(chosen)
    if linked >= 0 and linked not in officers:
        mine = np.flatnonzero(ctx.duty_staff(avail) == linked)
        if len(mine):
            chosen = np.concatenate([[avail[mine[0]]], chosen[:-1]])
            officers = ctx.duty_staff(chosen)
    ends = ctx.duty_end(chosen)
    ctx.assign(officers, ref, t1, t1 + 7 * DAY)
    duration = rng.exponential(dem["attendance_minutes_mean"] * MIN) + 10 * MIN

    # Dispatcher and officers update the log while they deal with it.
    dispatchers = ctx.duty_staff(_pick(rng, ctx.on_duty(t1, CONTROL), 1))
    users = np.concatenate([dispatchers, officers])
    if touches > 0 and len(users):
        ts = _spread(rng, t1, duration, touches)
        who = users[rng.integers(0, len(users), touches)]
        sink.emit(ts, who, SYS["CAD"], np.where(rng.random(touches) < 0.5, ACT["update"], ACT["view"]),
                  ETYPE["incident"], inc_id, ref)
    if len(dispatchers):
        ctx.assign(dispatchers[0], ref, t1, t1 + DAY, team=False)

    # PNC checks on scene: by the officer, or over the radio by the control room.
    n_pnc = int(rng.poisson(len(people) * dem["pnc_checks_per_person"] + len(vehicles)))
    if n_pnc:
        ts = _spread(rng, t1, min(duration, 30 * MIN), n_pnc)
        who = officers[rng.integers(0, len(officers), n_pnc)]
        radio = rng.random(n_pnc) < dem["control_room_pnc_share"]
        if radio.any() and len(dispatchers):
            who = np.where(radio, dispatchers[0], who)
        ctx.request_rows(ts, who, ref, SYS["PNC"])
    n_rms = int(rng.poisson(max(len(people), 1) * dem["rms_views_per_person"]))
    if n_rms:
        ts = _spread(rng, t1, duration + 2 * HOUR, n_rms)
        who = officers[rng.integers(0, len(officers), n_rms)]
        ctx.request_rows(ts, who, ref, SYS["RMS"])

    # Body-worn video, uploaded when the camera is docked at the end of the shift.
    n_clips = rng.poisson(dem["bwv_clips_per_officer_mean"], len(officers))
    if n_clips.sum():
        owner = np.repeat(officers, n_clips)
        dock = np.repeat(ends, n_clips) + rng.integers(0, 20 * MIN, int(n_clips.sum()))
        clips = ctx.new_ids(len(owner))
        ctx.refs.attach(ref, "media", clips)
        for c, o, d in zip(clips, owner, dock):
            ctx.out.records.append(("media", int(c), ref, int(d), int(o), -1, "bwv_clip"))
        sink.emit(dock, owner, SYS["DEMS"], ACT["create"], ETYPE["media"], clips, ref)
        sink.emit(dock + rng.integers(MIN, 10 * MIN, len(owner)), owner, SYS["DEMS"], ACT["update"],
                  ETYPE["media"], clips, ref)

    yield env.timeout(duration)
    if rng.random() >= dem["crime_share"]:
        return
    yield from crime(env, ctx, ref, record, officers, people)


def crime(env, ctx: ShardContext, inc_ref: int, inc_record: list, officers: np.ndarray, people: np.ndarray):
    """A recorded crime: allocated to an investigator, with intelligence, custody and media."""
    rng, dem, sink = ctx.rng["incident"], ctx.scn["demand"], ctx.sink
    t = int(env.now)
    cref = new_crime(ctx, rng, t, inc_ref, inc_record, people, creator=int(officers[0]))
    sink.emit(np.array([t + int(rng.integers(MIN, 30 * MIN))]), officers[0], SYS["RMS"], ACT["create"],
              ETYPE["crime"], int(ctx.refs.crime_id[cref]), cref)
    # Allocation to an investigator of the area (who need not be on duty).
    inv = ctx.staff[ctx.force.role[ctx.staff] == ROLE["investigator"]]
    if len(inv):
        oic = int(rng.choice(inv))
        days = rng.exponential(dem["investigation_days_mean"]) + 1
        ctx.assign(oic, cref, t, t + int(days * DAY))
    ctx.assign(officers, cref, t, t + 14 * DAY, team=False)
    # Custody: the suspect is booked in by the custody team on duty.
    if len(people) and rng.random() < dem["arrest_share"]:
        yield env.timeout(rng.exponential(6 * HOUR))
        tc = int(env.now)
        sergeants = ctx.duty_staff(_pick(rng, ctx.on_duty(tc, ("custody",)), 2))
        if not len(sergeants):
            return
        cust, photo = ctx.new_ids(2)
        ctx.refs.attach(cref, "custody", [cust])
        ctx.refs.attach(cref, "media", [photo])
        suspect = int(people[0])
        ctx.out.records.append(("custody", int(cust), cref, tc, int(sergeants[0]), suspect, "custody_record"))
        ctx.out.records.append(("media", int(photo), cref, tc, int(sergeants[0]), suspect, "custody_photo"))
        n = int(rng.integers(6, 20))
        ts = _spread(rng, tc, 12 * HOUR, n)
        who = sergeants[rng.integers(0, len(sergeants), n)]
        act = np.where(np.arange(n) == 0, ACT["create"], np.where(rng.random(n) < 0.5, ACT["update"], ACT["view"]))
        sink.emit(ts, who, SYS["RMS"], act, ETYPE["custody"], cust, cref)
        sink.emit(ts[:1] + 5 * MIN, who[0], SYS["DEMS"], ACT["create"], ETYPE["media"], photo, cref)
        ctx.assign(sergeants, cref, tc, tc + 2 * DAY, team=False)


def new_incident(ctx: ShardContext, rng, t0: int, grade: str, relation_of: int = -1):
    """A CAD incident with its people, vehicles and places; ``relation_of`` a staff member one of
    whose relations is involved."""
    dem = ctx.scn["demand"]
    date = dt.datetime.fromtimestamp(t0 / 1000, dt.timezone.utc)
    inc_id = int(ctx.new_ids(1)[0])
    n_inc = ctx.counter(f"inc{date:%y%m%d}")
    ref = ctx.refs.add(f"CAD {ctx.area + 1}{n_inc:04d} {date:%d%b%y}".upper(), t0, ctx.area, incident_id=inc_id)
    people = ctx.person_sampler.draw(rng.random(rng.poisson(dem["people_per_incident_mean"])))
    if relation_of >= 0:
        ties = ctx.relations_of(relation_of)
        if len(ties):
            people = np.concatenate([[int(rng.choice(ties))], people])
    vehicles = ctx.vehicle_sampler.draw(rng.random(rng.poisson(dem["vehicles_per_incident_mean"])))
    kept = ctx.vehicles_of(people[:2])
    vehicles = np.concatenate([vehicles, kept[: 1 + int(rng.random() < 0.3)]])
    places = np.concatenate([ctx.addr_sampler.draw(rng.random(1)), ctx.pop.address[people]])
    ctx.refs.attach(ref, "person", people)
    ctx.refs.attach(ref, "vehicle", vehicles)
    ctx.refs.attach(ref, "address", places)
    ctx.area_refs.push(0, ref, t0 + 14 * DAY)
    kind = INCIDENT_KINDS[int(rng.integers(len(INCIDENT_KINDS)))]
    record = [inc_id, ctx.refs.strings[ref], t0, ctx.area_name, kind, grade, -1]
    ctx.out.incidents.append(record)
    return ref, record, people, vehicles


def new_crime(ctx: ShardContext, rng, t: int, inc_ref: int, inc_record: list, people: np.ndarray,
              creator: int = -1) -> int:
    """A crime recorded from an incident: its reference, intelligence and (if serious) scene media."""
    dem = ctx.scn["demand"]
    crime_id = int(ctx.new_ids(1)[0])
    inc_record[6] = crime_id
    yy = dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).strftime("%y")
    cref = ctx.refs.add(f"{ctx.scn['force']['code']}/{ctx.area + 1}{ctx.counter('crime'):06d}/{yy}", t, ctx.area,
                        incident_id=ctx.refs.incident_id[inc_ref], crime_id=crime_id)
    ctx.refs.copy_pools(inc_ref, cref)
    serious = rng.random() < dem["serious_crime_share"]
    pool = SERIOUS if serious else OFFENCES
    offence = pool[int(rng.integers(len(pool)))]
    ctx.out.crimes.append((crime_id, ctx.refs.strings[cref], t, ctx.area_name, offence, bool(serious)))
    ctx.area_refs.push(0, cref, t + 60 * DAY)
    ctx.area_crimes.push(0, cref, t + 30 * DAY)
    n_intel = int(rng.poisson(dem["intel_per_crime_mean"]))
    if n_intel and len(people):
        ids = ctx.new_ids(n_intel)
        ctx.refs.attach(cref, "intel", ids)
        for i in ids:
            ctx.out.records.append(("intel", int(i), cref, t, creator, int(rng.choice(people)), "intel_report"))
    if serious:
        n_media = int(rng.poisson(dem["crime_scene_media_mean"]))
        ids = ctx.new_ids(n_media)
        ctx.refs.attach(cref, "media", ids[-4:])
        for i in ids:
            cat = "post_mortem" if offence == "homicide" and rng.random() < 0.3 else "crime_scene_photo"
            ctx.out.records.append(("media", int(i), cref, t, -1, -1, cat))
    return cref
