"""Misuse episodes as SimPy processes: each acts through the same sink as legitimate work and writes
its own ground truth (the episode id on its rows) as it goes.

Skill sets the manner: **naive** acts off shift, with no reference, in bursts; **careful** acts on
shift under a real reference of one of its own open tasks, a look-up or two at a time; **expert**
works through a colleague or the control room (who appear in the log), at its normal volume.
What is looked up is the kind: relations, strangers from the actor's private life, women found
through their cars, notable records, a criminal network, body-worn video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snoopbench.simulator.lookalikes import network_watch, notable_event
from snoopbench.simulator.misuse_plan import DAY, MisusePlan, PlannedEpisode
from snoopbench.simulator.rng import derive
from snoopbench.simulator.shard import ACT, ETYPE, SYS, ShardContext

HOUR = 3_600_000
SESSION_ROWS = {"naive": (4, 12), "careful": (1, 3), "expert": (1, 2)}


@dataclass
class Episode:
    """A planned episode as it unfolds in its actor's shard."""

    plan: PlannedEpisode
    targets: list[int] = field(default_factory=list)
    proxy: int = -1
    rows: int = 0
    first_ms: int = -1
    last_ms: int = -1
    public_ms: int = -1
    story: int = -1            # for a press leak about a local crime: its reference

    def to_row(self, ctx: ShardContext) -> dict:
        p, users = self.plan, ctx.force.user_id
        return {
            "episode_id": p.episode_id, "kind": p.kind, "actor_id": int(users[p.actor]), "skill": p.skill,
            "start": self.first_ms, "end": self.last_ms,
            "proxy_id": int(users[self.proxy]) if self.proxy >= 0 else None,
            "targets": sorted(set(int(t) for t in self.targets)), "n_events": self.rows,
            "summary": summary(self, ctx), "detectable_from": self.first_ms,
            "public_at": self.public_ms if self.public_ms >= 0 else None,
        }


def start_misuse(env, ctx: ShardContext, plan: MisusePlan) -> list[Episode]:
    """Start this area's notable events, criminal networks and misuse episodes."""
    for nt in plan.notables:
        if nt.area == ctx.area:
            env.process(notable_event(env, ctx, nt))
    for nw in plan.networks:
        if nw.area == ctx.area:
            env.process(network_watch(env, ctx, nw))
    episodes = [Episode(p, targets=list(p.targets)) for p in plan.episodes if p.area == ctx.area]
    for ep in episodes:
        env.process(episode(env, ctx, ep, plan))
    return episodes


def episode(env, ctx: ShardContext, ep: Episode, plan: MisusePlan):
    p = ep.plan
    rng = derive(ctx.seed, "episode", p.episode_id)
    mid = ctx.midnights
    first = int(np.searchsorted(mid, p.start_ms, side="right") - 1)
    last = int(np.searchsorted(mid, p.end_ms, side="right") - 1)
    route = "self"
    if p.skill == "expert":
        route = "control_room" if rng.random() < ctx.scn["misuse"]["proxy_via_control_room_share"] else "colleague"
        if route == "colleague":
            mates = ctx.staff[(ctx.force.team[ctx.staff] == ctx.force.team[p.actor]) & (ctx.staff != p.actor)]
            if len(mates):
                ep.proxy = int(rng.choice(mates))
            else:
                route = "control_room"
    public_delay = int((rng.exponential(ctx.scn["misuse"]["public_delay_days_mean"]) + 0.1) * DAY)
    lo, hi = SESSION_ROWS[p.skill]
    remaining = p.lookups
    day = max(first, 0)
    while remaining > 0 and day < ctx.days:
        yield env.timeout(max(mid[day] + 1 - env.now, 0))  # after the day's roster is drawn
        days_left = max(last - day + 1, 1)
        sessions_left = max(remaining / ((lo + hi) / 2), 1)
        chance = min(1.0, sessions_left / days_left)
        if p.kind == "leak_criminal" and p.network >= 0:
            chance = min(1.0, chance * _before_operation(plan.networks[p.network].operations_ms, mid[day]))
        overdue = day >= last
        if not overdue and rng.random() >= chance:
            day += 1
            continue
        t, user, ref = _when_and_who(ctx, ep, route, day, rng)
        if t is None:
            day += 1
            continue
        yield env.timeout(max(t - env.now, 0))
        if route == "control_room" and user is None:
            user, ref = _control_room(ctx, ep, int(env.now), rng)
            if user is None:
                day += 1
                continue
        k = int(min(remaining, rng.integers(lo, hi + 1)))
        system, action, etype, eid = recipe(ctx, ep, plan, k, rng, int(env.now))
        if not len(eid):  # nothing to look at yet: another day
            day += 1
            continue
        if route == "control_room":
            system = np.where(np.isin(etype, (ETYPE["person"], ETYPE["vehicle"])), SYS["PNC"], system)
        ts = int(env.now) + np.cumsum(rng.exponential(40_000, len(eid))).astype(np.int64)
        ctx.sink.emit(ts, user, system, action, etype, eid, ref, p.episode_id)
        remaining -= len(eid)
        ep.rows += len(eid)
        ep.first_ms = int(ts[0]) if ep.first_ms < 0 else ep.first_ms
        ep.last_ms = int(ts[-1])
        if p.kind == "media_exfiltration":
            ep.public_ms = ep.last_ms + public_delay
        day += 1


def _before_operation(ops: np.ndarray, t: float) -> float:
    """Leaks cluster in the days before the police act against the network."""
    ahead = ops[ops > t]
    if not len(ahead):
        return 0.5
    days = (ahead[0] - t) / DAY
    return 3.0 if days < 3 else 1.5 if days < 7 else 0.6


def _shift_today(ctx: ShardContext, staff: int) -> tuple[int, int] | None:
    r = ctx.roster
    m = np.flatnonzero(r["staff"] == staff)
    if not len(m):
        return None
    i = m[0]
    return int(r["start"][i]), int(r["end"][i])


def _when_and_who(ctx: ShardContext, ep: Episode, route: str, day: int, rng):
    """A session time for the skill, and who types it under which reference (None: decide later)."""
    p = ep.plan
    if p.skill == "naive":
        shift = _shift_today(ctx, p.actor)
        if shift is None:
            t = ctx.midnights[day] + rng.uniform(9, 23.5) * HOUR
        elif rng.random() < 0.6:
            t = shift[1] + rng.uniform(1, 4) * HOUR
        else:
            t = shift[0] - rng.uniform(1, 3) * HOUR
        return int(max(t, ctx.midnights[day] + 1)), p.actor, -1
    who = ep.proxy if route == "colleague" else p.actor
    shift = _shift_today(ctx, who)
    if shift is None:
        return None, None, None
    t = int(shift[0] + rng.uniform(0.05, 0.95) * (shift[1] - shift[0]))
    if route == "control_room":
        return t, None, None
    held = ctx.own.pick(np.array([who]), np.array([t]), rng.random(1))[0]
    return t, who, int(held)


def _control_room(ctx: ShardContext, ep: Episode, t: int, rng):
    """An operator on duty runs the check over the radio, under the actor's own incident reference."""
    ops = ctx.on_duty(t, ("control_room",))
    if not len(ops):
        return None, None
    op = int(ctx.duty_staff(ops[rng.integers(len(ops))]))
    if ep.proxy < 0:
        ep.proxy = op
    held = ctx.own.pick(np.array([ep.plan.actor]), np.array([t]), rng.random(1))[0]
    return op, int(held)


def recipe(ctx: ShardContext, ep: Episode, plan: MisusePlan, k: int, rng, t: int):
    """The look-ups of one session: (system, action, entity_type, entity_id) arrays of length <= k."""
    kind = ep.plan.kind
    pop = ctx.pop
    rows: list[tuple[int, int, int, int]] = []
    if kind in ("family", "partner", "colleague", "neighbour", "personal_dispute"):
        if not ep.targets:
            ep.targets = [int(x) for x in ctx.person_sampler.draw(rng.random(1 + int(rng.random() < 0.5)))]
        for _ in range(k):
            person = ep.targets[int(rng.integers(len(ep.targets)))]
            rows.append(_visit(ctx, person, rng))
    elif kind == "pursuit":
        while len(rows) < k:
            veh = _female_kept_vehicle(ctx, rng)
            keeper = int(pop.veh_keeper[veh])
            ep.targets.append(keeper)
            first = (SYS["ANPR"], ACT["search"]) if rng.random() < 0.3 else (SYS["PNC"], ACT["search"])
            rows += [(*first, ETYPE["vehicle"], veh), (SYS["PNC"], ACT["view"], ETYPE["person"], keeper),
                     (SYS["RMS"], ACT["view"], ETYPE["address"], int(pop.address[keeper]))]
        rows = rows[: max(k, 3)]
    elif kind == "leak_press" and ep.plan.notable < 0:
        rows = _local_story(ctx, ep, k, rng, t)
        if not rows:
            return _empty()
        s, a, e, i = rows[-1]
        rows[-1] = (s, ACT["export"] if s == SYS["DEMS"] else ACT["print"], e, i)
    elif kind in ("curiosity", "leak_press"):
        nt = plan.notables[ep.plan.notable]
        ep.targets = [nt.person]
        if t < nt.t_ms:  # nothing to see before it happens
            return _empty()
        there = ctx.notable_media_at.get(nt.index, np.zeros(0, np.int64)) <= t
        choices = [(SYS["DEMS"], ACT["view"], ETYPE["media"], int(m)) for m in np.asarray(nt.media_ids)[there]]
        choices += [(SYS["RMS"], ACT["view"], ETYPE["person"], nt.person),
                    (SYS["RMS"], ACT["view"], ETYPE["crime"], nt.crime_id),
                    (SYS["CAD"], ACT["view"], ETYPE["incident"], nt.incident_id)]
        if nt.kind == "celebrity":
            choices.append((SYS["RMS"], ACT["view"], ETYPE["custody"], nt.custody_id))
        idx = rng.choice(len(choices), size=k, replace=k > len(choices))
        rows = [choices[i] for i in idx]
        if kind == "leak_press":
            s, a, e, i = rows[-1]
            rows[-1] = (s, ACT["export"] if s == SYS["DEMS"] else ACT["print"], e, i)
    elif kind == "leak_criminal":
        nw = plan.networks[ep.plan.network]
        ep.targets = [int(m) for m in nw.members]
        for _ in range(k):
            u = rng.random()
            if u < 0.4:
                rows.append((SYS["PNC"] if rng.random() < 0.6 else SYS["PND"], ACT["search"], ETYPE["person"],
                             int(rng.choice(nw.members))))
            elif u < 0.7 and len(nw.intel_ids):
                rows.append((SYS["RMS"] if rng.random() < 0.6 else SYS["PND"], ACT["view"], ETYPE["intel"],
                             int(rng.choice(nw.intel_ids))))
            elif len(nw.vehicles):
                rows.append((SYS["PNC"] if rng.random() < 0.6 else SYS["ANPR"], ACT["search"], ETYPE["vehicle"],
                             int(rng.choice(nw.vehicles))))
            else:
                rows.append((SYS["RMS"], ACT["view"], ETYPE["person"], int(rng.choice(nw.members))))
    elif kind == "media_exfiltration":
        clip = _unlinked_clip(ctx, ep, t, rng)
        if clip < 0:
            return _empty()
        ep.targets.append(clip)
        n_view = max(k - 1, 1)
        rows = [(SYS["DEMS"], ACT["view"], ETYPE["media"], clip)] * n_view
        rows.append((SYS["DEMS"], [ACT["download"], ACT["export"], ACT["share"]][int(rng.integers(3))],
                     ETYPE["media"], clip))
    if not rows:
        return _empty()
    s, a, e, i = (np.array(c) for c in zip(*rows))
    return s.astype(np.uint8), a.astype(np.uint8), e.astype(np.uint8), i.astype(np.int64)


def _local_story(ctx: ShardContext, ep: Episode, k: int, rng, t: int) -> list[tuple[int, int, int, int]]:
    """A crime in the local news (not flagged): its people, record and media."""
    if ep.story < 0:
        for _ in range(30):
            r = int(ctx.area_refs.pick(np.zeros(1, np.int64), np.array([t]), rng.random(1))[0])
            if r >= 0 and ctx.refs.crime_id[r] >= 0 and ctx.refs.counts["person"][r]:
                ep.story = r
                ep.targets = [int(p) for p in ctx.refs.pools["person"][r, : ctx.refs.counts["person"][r]]]
                break
        else:
            return []
    r = ep.story
    choices = [(SYS["RMS"], ACT["view"], ETYPE["crime"], int(ctx.refs.crime_id[r]))]
    choices += [(SYS["RMS"], ACT["view"], ETYPE["person"], int(p))
                for p in ctx.refs.pools["person"][r, : ctx.refs.counts["person"][r]]]
    c = ctx.refs.counts["media"][r]
    choices += [(SYS["DEMS"], ACT["view"], ETYPE["media"], int(m))
                for m, at in zip(ctx.refs.pools["media"][r, :c], ctx.refs.pools_t["media"][r, :c]) if at <= t]
    return [choices[i] for i in rng.choice(len(choices), size=k, replace=k > len(choices))]


def _empty():
    z = np.zeros(0, np.uint8)
    return z, z, z, np.zeros(0, np.int64)


def _visit(ctx: ShardContext, person: int, rng) -> tuple[int, int, int, int]:
    u = rng.random()
    if u < 0.35:
        return SYS["PNC"], ACT["search"], ETYPE["person"], person
    if u < 0.7:
        return SYS["RMS"], ACT["view"], ETYPE["person"], person
    if u < 0.85:
        return SYS["RMS"], ACT["view"], ETYPE["address"], int(ctx.pop.address[person])
    _, cars = ctx.vehicles_of_many(np.zeros(1, np.int64), np.array([person]))
    if len(cars):
        return SYS["PNC"], ACT["search"], ETYPE["vehicle"], int(cars[0])
    return SYS["PNC"], ACT["view"], ETYPE["person"], person


def _female_kept_vehicle(ctx: ShardContext, rng) -> int:
    """A registration seen on the road: any vehicle, planted canaries included."""
    for _ in range(50):
        v = int(ctx.lure_vehicle_sampler.draw(rng.random(1))[0])
        if ctx.pop.female[ctx.pop.veh_keeper[v]]:
            return v
    return v


def _unlinked_clip(ctx: ShardContext, ep: Episode, t: int, rng) -> int:
    """A body-worn video clip, existing at ``t``, of a recent reference the actor was never given
    (nor its incident)."""
    held = ctx.tasking.held_by(ep.plan.actor)
    held_incidents = set(ctx.refs.incident_id[list(held)].tolist()) - {-1}
    for _ in range(30):
        r = int(ctx.area_refs.pick(np.zeros(1, np.int64), np.array([t]), rng.random(1))[0])
        if r < 0 or r in held or int(ctx.refs.incident_id[r]) in held_incidents:
            continue
        c = int(ctx.refs.counts["media"][r])
        there = np.flatnonzero(ctx.refs.pools_t["media"][r, :c] <= t)
        if len(there):
            return int(ctx.refs.pools["media"][r, int(rng.choice(there))])
    return -1


def summary(ep: Episode, ctx: ShardContext) -> str:
    p = ep.plan
    role = ctx.force.team_names[ctx.force.team[p.actor]]
    how = {"naive": "off shift, with no reference, in bursts",
           "careful": "on shift, under references of their own tasks, a look-up or two at a time",
           "expert": "through a team-mate or the control room, at their normal volume"}
    what = {"family": "relatives", "partner": "a partner or ex-partner", "colleague": "a colleague",
            "neighbour": "neighbours", "personal_dispute": "someone in a private dispute",
            "pursuit": "women found through their vehicles' keeper records",
            "curiosity": "the records and media of a notable case", "leak_criminal": "a criminal network, for its members",
            "leak_press": "a notable case, then printed or exported records", "media_exfiltration":
            "body-worn video unrelated to their work, then took a copy"}[p.kind]
    return (f"A member of {role} looked up {what} ({ep.rows} events, {len(set(ep.targets))} targets), "
            f"{how[p.skill]}.")
