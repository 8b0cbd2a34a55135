"""Demand and incidents: calls arrive by time of day and day of week; some become incidents.

An incident's life: a call handler logs it in CAD, officers are dispatched and check people and
vehicles on PNC (themselves or over the radio through the control room) and RMS, record body-worn
video, and some incidents become crimes allocated to an investigator, with custody and intelligence.

Incidents are worked in daily batches (see :class:`IncidentDesk`): at the start of each day, every
stage of every incident that falls due in it (the call, the dispatch, the crime, the custody) is
done for all of them at once with numpy, each at its own time. Holdings record from when a
reference is held and reference pools when each entry came to exist, so work earlier in the day
never sees what is created later in it.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import numpy as np

from snoopbench.simulator.arrays import first_in_group, ragged, spread
from snoopbench.simulator.rng import normalised, weighted
from snoopbench.simulator.shard import ACT, ETYPE, ROLE, SYS, ShardContext, incidents_per_day
from snoopbench.simulator.behaviour import CRIME_OPEN_DAYS, DAY, HOUR, MIN
from snoopbench.simulator.workload import ATTENDING, GRADES, INCIDENT_KINDS, OFFENCES, SERIOUS

CONTROL = ("control_room",)
CUSTODY = ("custody",)
STAGES = ("call", "dispatch", "crime", "custody")


class IncidentDesk:
    """A shard's incidents: the day's calls, and each stage due, worked in one batch per day."""

    def __init__(self, ctx: ShardContext):
        self.ctx = ctx
        self.rng = ctx.rng["incident"]
        self.demand_rng = ctx.rng["demand"]
        scn = ctx.scn
        dem = self.dem = scn["demand"]
        self.per_day = incidents_per_day(scn, ctx.force, ctx.staff)
        self.hourly = normalised(dem["hourly_weights"]) * len(dem["hourly_weights"])
        self.weekly = normalised(dem["weekday_weights"]) * len(dem["weekday_weights"])
        self.grade_p = normalised(list(dem["grade_shares"].values()))
        self.dispatch_ms = np.array([dem["dispatch_minutes"].get(g, 0.0) for g in GRADES]) * MIN
        self.investigators = ctx.posts[ctx.force.role[ctx.posts] == ROLE["investigator"]]
        self.jobs: dict[str, list[dict[str, np.ndarray]]] = {s: [] for s in STAGES}
        self.next_hour = int(ctx.midnights[0])
        self.zone = zoneinfo.ZoneInfo(scn["timezone"])

    # --- the hourly batch ----------------------------------------------------------------------

    def work_day(self, day: int) -> None:
        """The day's incidents: every call of the day and every stage due before its end."""
        self.advance(int(self.ctx.midnights[day + 1]))

    def advance(self, t: int) -> None:
        """Work everything that happened before ``t``: new calls, and the stages that fell due."""
        while self.next_hour < t:
            self._calls(self.next_hour)
            self.next_hour += HOUR
        for stage, work in zip(STAGES, (self._call, self._dispatch, self._crime, self._custody)):
            due = self._due(stage, t)
            if due is not None and len(due["t"]):
                work(due)

    def _due(self, stage: str, t: int) -> dict[str, np.ndarray] | None:
        parts = self.jobs[stage]
        if not parts:
            return None
        jobs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if len(parts) > 1 else parts[0]
        now = jobs["t"] < t
        later = {k: v[~now] for k, v in jobs.items()}
        self.jobs[stage] = [later] if len(later["t"]) else []
        due = {k: v[now] for k, v in jobs.items()}
        order = np.argsort(due["t"], kind="stable")
        return {k: v[order] for k, v in due.items()}

    def _later(self, stage: str, **cols: np.ndarray) -> None:
        if len(cols["t"]):
            self.jobs[stage].append(cols)

    def _calls(self, t0: int) -> None:
        """The hour's calls that became incidents: a non-homogeneous Poisson process."""
        ctx, rng, dem = self.ctx, self.demand_rng, self.dem
        day = int(np.searchsorted(ctx.midnights, t0, side="right") - 1)
        hour = dt.datetime.fromtimestamp(t0 / 1000, self.zone).hour  # local: 23 or 25 hours on clock-change days
        weekday = (ctx.scn["start_date"] + dt.timedelta(days=day)).weekday()
        night = (weekday == 4 and hour >= 20) or weekday == 5 or (weekday == 6 and hour < 4)
        boost = dem["weekend_night_factor"] if night and (hour >= 20 or hour < 4) else 1.0
        lam = self.per_day / 24 * self.hourly[hour] * self.weekly[weekday] * boost * ctx.demand_factor(day)
        times = np.sort(t0 + rng.random(rng.poisson(lam)) * HOUR).astype(np.int64)
        grades = weighted(rng, self.grade_p, len(times))
        self._later("call", t=times, grade=grades.astype(np.int64))

    # --- stages --------------------------------------------------------------------------------

    def _call(self, job: dict[str, np.ndarray]) -> None:
        """Calls: the incident is created and a call handler logs it in CAD."""
        ctx, rng, dem = self.ctx, self.rng, self.dem
        t0, grade = job["t"], job["grade"]
        n = len(t0)
        # Officers police where they live: now and then a relative or neighbour is involved.
        linked = np.full(n, -1, np.int64)
        for i in np.flatnonzero(rng.random(n) < dem["staff_relation_incident_share"]).tolist():
            here = ctx.duty_staff(ctx.on_duty(int(t0[i]), ATTENDING))
            if len(here):
                linked[i] = int(rng.choice(here))
        refs, n_people, n_vehicles = new_incidents(ctx, rng, t0, [GRADES[g] for g in grade], linked)
        # The call handler logs it; the log is touched 10-30 times over its life.
        touches = rng.integers(dem["cad_touches_min"], dem["cad_touches_max"] + 1, n)
        which, duty = ctx.pick_on_duty(rng, t0, CONTROL, np.ones(n, np.int64))
        handler = np.full(n, -1, np.int64)
        handler[which] = ctx.duty_staff(duty)
        ctx.assign_groups(handler[which], which, refs, t0, t0 + 2 * DAY)
        n_h = np.where(handler >= 0, np.maximum(1, touches // 3), 0)
        group, rank = ragged(n_h)
        ts = spread(rng, group, t0, np.full(n, 20 * MIN))
        ctx.sink.emit(ts, handler[group], SYS["CAD"], np.where(rank == 0, ACT["create"], ACT["update"]),
                      ETYPE["incident"], ctx.refs.incident_id[refs[group]], refs[group])
        go = grade != GRADES.index("resolution")
        self._later("dispatch", t=(t0 + rng.exponential(1.0, n) * self.dispatch_ms[grade]).astype(np.int64)[go],
                    ref=refs[go], touches=(touches - n_h)[go], linked=linked[go], people=n_people[go],
                    vehicles=n_vehicles[go])

    def _dispatch(self, job: dict[str, np.ndarray]) -> None:
        """Officers on duty attend; the dispatcher and they update the log, check people and
        vehicles on PNC and RMS, and record body-worn video docked at the end of their shift."""
        ctx, rng, dem = self.ctx, self.rng, self.dem
        t1, refs = job["t"], job["ref"]
        n = len(t1)
        n_off = 1 + rng.poisson(max(dem["attending_officers_mean"] - 1, 0), n)
        which, duty = ctx.pick_on_duty(rng, t1, ATTENDING, n_off)
        officers = ctx.duty_staff(duty)
        # An officer whose relation is involved may be the one sent (before the others).
        for i in np.flatnonzero(job["linked"] >= 0).tolist():
            mine = np.flatnonzero(which == i)
            link = int(job["linked"][i])
            if not len(mine) or link in officers[mine]:
                continue
            on = ctx.on_duty(int(t1[i]), ATTENDING)
            at = on[ctx.duty_staff(on) == link]
            if len(at):
                duty[mine] = np.r_[at[:1], duty[mine][:-1]]
                officers[mine] = ctx.duty_staff(duty[mine])
        ends = ctx.duty_end(duty)
        attended = np.zeros(n, bool)
        attended[which] = True
        ctx.assign_groups(officers, which, refs, t1, t1 + 7 * DAY)
        duration = (rng.exponential(dem["attendance_minutes_mean"] * MIN, n) + 10 * MIN).astype(np.int64)
        n_officers = np.bincount(which, minlength=n)
        first = first_in_group(which, n)
        # The dispatcher and the officers update the log while they deal with it.
        d_which, d_duty = ctx.pick_on_duty(rng, t1, CONTROL, attended.astype(np.int64))
        dispatcher = np.full(n, -1, np.int64)
        dispatcher[d_which] = ctx.duty_staff(d_duty)
        has_d = dispatcher >= 0
        touches = np.where(attended, np.maximum(job["touches"], 0), 0)
        group, _ = ragged(touches)
        ts = spread(rng, group, t1, duration)
        n_users = n_officers + has_d
        pick = (rng.random(len(group)) * n_users[group]).astype(np.int64)
        # User k of an incident: its dispatcher first (if any), then its officers.
        k = pick - has_d[group]
        who = np.where(k < 0, dispatcher[group], officers[np.maximum(first[group] + k, 0)])
        ctx.sink.emit(ts, who, SYS["CAD"], np.where(rng.random(len(group)) < 0.5, ACT["update"], ACT["view"]),
                      ETYPE["incident"], ctx.refs.incident_id[refs[group]], refs[group])
        ctx.assign_groups(dispatcher[d_which], d_which, refs, t1, t1 + DAY, team=False)
        # PNC checks on scene: by the officer, or over the radio by the control room.
        lam = np.where(attended, job["people"] * dem["pnc_checks_per_person"] + job["vehicles"], 0)
        group, _ = ragged(rng.poisson(lam))
        ts = spread(rng, group, t1, np.minimum(duration, 30 * MIN))
        who = officers[first[group] + (rng.random(len(group)) * n_officers[group]).astype(np.int64)]
        radio = (rng.random(len(group)) < dem["control_room_pnc_share"]) & has_d[group]
        who = np.where(radio, dispatcher[group], who)
        ctx.request_rows(ts, who, refs[group], SYS["PNC"])
        lam = np.where(attended, np.maximum(job["people"], 1) * dem["rms_views_per_person"], 0)
        group, _ = ragged(rng.poisson(lam))
        ts = spread(rng, group, t1, duration + 2 * HOUR)
        who = officers[first[group] + (rng.random(len(group)) * n_officers[group]).astype(np.int64)]
        ctx.request_rows(ts, who, refs[group], SYS["RMS"])
        # Body-worn video, uploaded when the camera is docked at the end of the shift.
        n_clips = rng.poisson(dem["bwv_clips_per_officer_mean"], len(officers))
        if n_clips.sum():
            owner = np.repeat(officers, n_clips)
            clip_ref = np.repeat(refs[which], n_clips)
            dock = np.repeat(ends, n_clips) + rng.integers(0, 20 * MIN, len(owner))
            clips = ctx.new_ids(len(owner))
            ctx.refs.attach_many(clip_ref, "media", clips, at=dock)
            ctx.out.records.extend(zip(["media"] * len(owner), clips.tolist(), clip_ref.tolist(), dock.tolist(),
                                       owner.tolist(), [-1] * len(owner), ["bwv_clip"] * len(owner)))
            ctx.sink.emit(dock, owner, SYS["DEMS"], ACT["create"], ETYPE["media"], clips, clip_ref)
            ctx.sink.emit(dock + rng.integers(MIN, 10 * MIN, len(owner)), owner, SYS["DEMS"], ACT["update"],
                          ETYPE["media"], clips, clip_ref)
        crime = attended & (rng.random(n) < dem["crime_share"])
        keep = crime[which]
        self._later("crime", t=(t1 + duration)[crime], ref=refs[crime], people=job["people"][crime],
                    officers=_pack(which[keep], officers[keep], np.flatnonzero(crime)))

    def _crime(self, job: dict[str, np.ndarray]) -> None:
        """Crimes recorded: allocated to an investigator of the area, with custody to follow."""
        ctx, rng, dem = self.ctx, self.rng, self.dem
        t, inc_refs = job["t"], job["ref"]
        n = len(t)
        group, staff = _unpack(job["officers"])
        first = staff[first_in_group(group, n)]
        crefs = new_crimes(ctx, rng, t, inc_refs, job["people"], first)
        ctx.sink.emit(t + rng.integers(MIN, 30 * MIN, n), first, SYS["RMS"], ACT["create"], ETYPE["crime"],
                      ctx.refs.crime_id[crefs], crefs)
        investigators = ctx.force.active(self.investigators, int(np.searchsorted(ctx.midnights, t[0], "right") - 1))
        if len(investigators):
            oic = investigators[rng.integers(0, len(investigators), n)]
            days = rng.exponential(dem["investigation_days_mean"], n) + 1
            ctx.assign_groups(oic, np.arange(n), crefs, t, t + (days * DAY).astype(np.int64))
        ctx.assign_groups(staff, group, crefs, t, t + 14 * DAY, team=False)
        # Custody: the suspect is booked in by the custody team on duty.
        arrest = (job["people"] > 0) & (rng.random(n) < dem["arrest_share"])
        tc = t + rng.exponential(6 * HOUR, n).astype(np.int64)
        self._later("custody", t=tc[arrest], ref=crefs[arrest])

    def _custody(self, job: dict[str, np.ndarray]) -> None:
        ctx, rng = self.ctx, self.rng
        tc, crefs = job["t"], job["ref"]
        n = len(tc)
        which, duty = ctx.pick_on_duty(rng, tc, CUSTODY, np.full(n, 2))
        if not len(which):
            return
        sergeants = ctx.duty_staff(duty)
        booked = np.unique(which)
        m = len(booked)
        first = sergeants[first_in_group(which, n)[booked]]
        tb, rb = tc[booked], crefs[booked]
        ids = ctx.new_ids(2 * m).reshape(m, 2)
        cust, photo = ids[:, 0], ids[:, 1]
        ctx.refs.attach_many(rb, "custody", cust, at=tb)
        ctx.refs.attach_many(rb, "media", photo, at=tb)
        suspect = ctx.refs.pools["person"][rb, 0]
        ctx.out.records.extend(zip(["custody"] * m, cust.tolist(), rb.tolist(), tb.tolist(), first.tolist(),
                                   suspect.tolist(), ["custody_record"] * m))
        ctx.out.records.extend(zip(["media"] * m, photo.tolist(), rb.tolist(), tb.tolist(), first.tolist(),
                                   suspect.tolist(), ["custody_photo"] * m))
        rows = rng.integers(6, 20, m)
        group, rank = ragged(rows)
        ts = spread(rng, group, tb, np.full(m, 12 * HOUR))
        n_sgt = np.bincount(which, minlength=n)[booked]
        lo = first_in_group(which, n)[booked]
        who = sergeants[lo[group] + (rng.random(len(group)) * n_sgt[group]).astype(np.int64)]
        act = np.where(rank == 0, ACT["create"], np.where(rng.random(len(group)) < 0.5, ACT["update"], ACT["view"]))
        ctx.sink.emit(ts, who, SYS["RMS"], act, ETYPE["custody"], cust[group], rb[group])
        head = rank == 0
        ctx.sink.emit(ts[head] + 5 * MIN, who[head], SYS["DEMS"], ACT["create"], ETYPE["media"], photo, rb)
        pos = np.searchsorted(booked, which)
        ctx.assign_groups(sergeants, pos, rb, tb, tb + 2 * DAY, team=False)


def _pack(group: np.ndarray, values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Ragged values per job as one object array (one small array per job), for a job queue."""
    out = np.empty(len(groups), dtype=object)
    bounds = np.searchsorted(group, groups), np.searchsorted(group, groups, side="right")
    for i, (lo, hi) in enumerate(zip(*bounds)):
        out[i] = values[lo:hi]
    return out


def _unpack(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.fromiter((len(a) for a in packed), np.int64, len(packed))
    values = np.concatenate(list(packed)) if len(packed) else np.zeros(0, np.int64)
    return np.repeat(np.arange(len(packed)), sizes), values.astype(np.int64)


@functools.lru_cache(maxsize=4096)
def _utc_day(day: int) -> tuple[str, str, str]:
    """(incident counter key, incident label date, two-digit year) of a UTC day."""
    date = dt.datetime.fromtimestamp(day * 86_400, dt.timezone.utc)
    return f"inc{date:%y%m%d}", f"{date:%d%b%y}".upper(), f"{date:%y}"


def new_incidents(ctx: ShardContext, rng, t0: np.ndarray, grades: list[str],
                  relation_of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CAD incidents with their people, vehicles and places; ``relation_of[i]`` a staff member one
    of whose relations is involved in incident i (-1: none). Returns (refs, people, vehicles counts)."""
    dem = ctx.scn["demand"]
    n = len(t0)
    t0 = np.asarray(t0, np.int64)
    inc_ids = ctx.new_ids(n)
    # Numbered per UTC day: CAD <area><number> <date>.
    labels = [f"CAD {ctx.area + 1}{ctx.counter(key):04d} {date}"
              for key, date, _ in (_utc_day(t // DAY) for t in t0.tolist())]
    refs = ctx.refs.add_many(labels, t0, ctx.area, incident_id=inc_ids)
    n_people = rng.poisson(dem["people_per_incident_mean"], n)
    group, _ = ragged(n_people)
    people = ctx.person_sampler.draw(rng.random(len(group)))
    if relation_of is not None and (relation_of >= 0).any():
        extra_g, extra_p = [], []
        for i in np.flatnonzero(relation_of >= 0).tolist():
            ties = ctx.relations_of(int(relation_of[i]))
            if len(ties):
                extra_g.append(i)
                extra_p.append(int(rng.choice(ties)))
        if extra_g:
            # The relation comes first among the incident's people.
            group = np.r_[np.array(extra_g, np.int64), group]
            people = np.r_[np.array(extra_p, np.int64), people]
            order = np.argsort(group, kind="stable")
            group, people = group[order], people[order]
            n_people = np.bincount(group, minlength=n)
    n_vehicles = rng.poisson(dem["vehicles_per_incident_mean"], n)
    v_group, _ = ragged(n_vehicles)
    vehicles = ctx.vehicle_sampler.draw(rng.random(len(v_group)))
    # Vehicles kept by the first two people: one, sometimes two of them.
    _, rank = ragged(n_people)
    lead = rank < 2
    kept_g, kept = ctx.vehicles_of_many(group[lead], people[lead])
    _, k_rank = ragged(np.bincount(kept_g, minlength=n))
    room = 1 + (rng.random(n) < 0.3)
    fit = k_rank < room[kept_g]
    v_all = np.concatenate([v_group, kept_g[fit]])
    order = np.argsort(v_all, kind="stable")
    v_all = v_all[order]
    vehicles = np.concatenate([vehicles, kept[fit]])[order]
    n_vehicles = np.bincount(v_all, minlength=n)
    places_g = np.concatenate([np.arange(n), group])
    places = np.concatenate([ctx.addr_sampler.draw(rng.random(n)), ctx.pop.address[people]])
    order = np.argsort(places_g, kind="stable")
    ctx.refs.attach_many(refs[group], "person", people)
    ctx.refs.attach_many(refs[v_all], "vehicle", vehicles)
    ctx.refs.attach_many(refs[places_g[order]], "address", places[order])
    ctx.area_refs.push_many(np.zeros(n, np.int64), refs, t0, t0 + 14 * DAY)
    kinds = rng.integers(len(INCIDENT_KINDS), size=n)
    for inc, label, t, kind, grade in zip(inc_ids.tolist(), labels, t0.tolist(), kinds.tolist(), grades):
        ctx.incident_rows[inc] = len(ctx.out.incidents)
        ctx.out.incidents.append([inc, label, t, ctx.area_name, INCIDENT_KINDS[kind], grade, -1])
    return refs, n_people, n_vehicles


def new_crimes(ctx: ShardContext, rng, t: np.ndarray, inc_refs: np.ndarray, n_people: np.ndarray,
               creator: np.ndarray) -> np.ndarray:
    """Crimes recorded from incidents: references, intelligence and (if serious) scene media."""
    dem = ctx.scn["demand"]
    n = len(t)
    t = np.asarray(t, np.int64)
    crime_ids = ctx.new_ids(n)
    code = ctx.scn["force"]["code"]
    labels = [f"{code}/{ctx.area + 1}{ctx.counter('crime'):06d}/{_utc_day(x // DAY)[2]}" for x in t.tolist()]
    crefs = ctx.refs.add_many(labels, t, ctx.area, incident_id=ctx.refs.incident_id[inc_refs], crime_id=crime_ids)
    ctx.refs.copy_pools(inc_refs, crefs)
    serious = rng.random(n) < dem["serious_crime_share"]
    offence = np.where(serious, np.array(SERIOUS, object)[rng.integers(len(SERIOUS), size=n)],
                       np.array(OFFENCES, object)[rng.integers(len(OFFENCES), size=n)])
    for inc, crime in zip(ctx.refs.incident_id[inc_refs].tolist(), crime_ids.tolist()):
        if inc in ctx.incident_rows:
            ctx.out.incidents[ctx.incident_rows[inc]][6] = crime
    ctx.out.crimes.extend(zip(crime_ids.tolist(), labels, t.tolist(), [ctx.area_name] * n, offence.tolist(),
                              serious.tolist()))
    ctx.area_refs.push_many(np.zeros(n, np.int64), crefs, t, t + CRIME_OPEN_DAYS * DAY)
    ctx.area_crimes.push_many(np.zeros(n, np.int64), crefs, t, t + 30 * DAY)
    # Intelligence about one of the people involved.
    n_intel = np.where(n_people > 0, rng.poisson(dem["intel_per_crime_mean"], n), 0)
    group, _ = ragged(n_intel)
    ids = ctx.new_ids(len(group))
    ctx.refs.attach_many(crefs[group], "intel", ids)
    known = np.minimum(ctx.refs.counts["person"][crefs], n_people).astype(np.int64)
    subject = ctx.refs.pools["person"][crefs[group], (rng.random(len(group)) * known[group]).astype(np.int64)]
    ctx.out.records.extend(zip(["intel"] * len(group), ids.tolist(), crefs[group].tolist(), t[group].tolist(),
                               creator[group].tolist(), subject.tolist(), ["intel_report"] * len(group)))
    # Scene photographs of serious crimes (post-mortem ones for some homicides).
    n_media = np.where(serious, rng.poisson(dem["crime_scene_media_mean"], n), 0)
    group, rank = ragged(n_media)
    ids = ctx.new_ids(len(group))
    last4 = rank >= n_media[group] - 4
    ctx.refs.attach_many(crefs[group[last4]], "media", ids[last4])
    pm = (offence[group] == "homicide") & (rng.random(len(group)) < 0.3)
    ctx.out.records.extend(zip(["media"] * len(group), ids.tolist(), crefs[group].tolist(), t[group].tolist(),
                               [-1] * len(group), [-1] * len(group),
                               np.where(pm, "post_mortem", "crime_scene_photo").tolist()))
    return crefs
