"""Misuse episodes as SimPy processes: each acts through the same sink as legitimate work and writes
its own ground truth (the episode id on its rows) as it goes.

Skill sets the manner: **naive** acts off shift, with no reference, in bursts; **careful** acts on
shift under a real reference of one of its own open tasks, a look-up or two at a time; **expert**
works through a colleague or the control room (who appear in the log), at its normal volume.
What is looked up is the kind's (one module each in :mod:`simulator.misuse_kinds`): relations,
strangers from the actor's private life, women found through their cars, notable records, a
criminal network, body-worn video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snoopbench.simulator import misuse_kinds
from snoopbench.simulator.behaviour import DAY, HOUR, LOOKUP_GAP_MS_MEAN
from snoopbench.simulator.lookalikes import network_watch, notable_event
from snoopbench.simulator.misuse_kinds.base import to_arrays
from snoopbench.simulator.misuse_plan import MisusePlan, PlannedEpisode
from snoopbench.simulator.rng import derive
from snoopbench.simulator.shard import ETYPE, SYS, ShardContext

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
    route: str = "self"
    #: Days the episode meant to act but could not, by why: ``no_shift`` (whoever types it was
    #: not on shift), ``nothing`` (nothing to look at yet), ``no_operator`` (control room empty),
    #: and days it chose not to (``skipped``: its look-ups spread over its planned days).
    stalled: dict[str, int] = field(default_factory=dict)

    def to_row(self, ctx: ShardContext) -> dict:
        p, users = self.plan, ctx.force.user_id
        return {
            "episode_id": p.episode_id, "kind": p.kind, "actor_id": int(users[p.actor]), "skill": p.skill,
            "start": self.first_ms, "end": self.last_ms,
            "proxy_id": int(users[self.proxy]) if self.proxy >= 0 else None,
            "targets": sorted(set(int(t) for t in self.targets)), "n_events": self.rows,
            "summary": summary(self, ctx), "detectable_from": self.first_ms,
            "public_at": self.public_ms if self.public_ms >= 0 else None,
            "_silent": silence(self, ctx) if self.rows == 0 else None,
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
    kind = misuse_kinds.get(p.kind)
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
    ep.route = route
    public_delay = int((rng.exponential(ctx.scn["misuse"]["public_delay_days_mean"]) + 0.1) * DAY)
    lo, hi = SESSION_ROWS[p.skill]
    remaining = p.lookups
    day = max(first, 0)
    while remaining > 0 and day < ctx.days:
        yield env.timeout(max(mid[day] + 1 - env.now, 0))  # after the day's roster is drawn
        days_left = max(last - day + 1, 1)
        sessions_left = max(remaining / ((lo + hi) / 2), 1)
        chance = min(1.0, sessions_left / days_left)
        factor = kind.session_factor(plan, p, mid[day])
        if factor != 1.0:
            chance = min(1.0, chance * factor)
        overdue = day >= last
        if not overdue and rng.random() >= chance:
            ep.stalled["skipped"] = ep.stalled.get("skipped", 0) + 1
            day += 1
            continue
        t, user, ref = _when_and_who(ctx, ep, route, day, rng)
        if t is None:
            ep.stalled["no_shift"] = ep.stalled.get("no_shift", 0) + 1
            day += 1
            continue
        yield env.timeout(max(t - env.now, 0))
        if route == "control_room" and user is None:
            user, ref = _control_room(ctx, ep, int(env.now), rng)
            if user is None:
                ep.stalled["no_operator"] = ep.stalled.get("no_operator", 0) + 1
                day += 1
                continue
        k = int(min(remaining, rng.integers(lo, hi + 1)))
        system, action, etype, eid = to_arrays(kind.recipe(ctx, ep, plan, k, rng, int(env.now)))
        if not len(eid):  # nothing to look at yet: another day
            ep.stalled["nothing"] = ep.stalled.get("nothing", 0) + 1
            day += 1
            continue
        if route == "control_room":
            system = np.where(np.isin(etype, (ETYPE["person"], ETYPE["vehicle"])), SYS["PNC"], system)
        ts = int(env.now) + np.cumsum(rng.exponential(LOOKUP_GAP_MS_MEAN, len(eid))).astype(np.int64)
        ctx.sink.emit(ts, user, system, action, etype, eid, ref, p.episode_id)
        remaining -= len(eid)
        ep.rows += len(eid)
        ep.first_ms = int(ts[0]) if ep.first_ms < 0 else ep.first_ms
        ep.last_ms = int(ts[-1])
        kind.after_session(ep, public_delay)
        day += 1


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


def silence(ep: Episode, ctx: ShardContext) -> str:
    """Why an episode left no event in the period, in words (for the run's warnings)."""
    p = ep.plan
    first = int(np.searchsorted(ctx.midnights, p.start_ms, side="right") - 1)
    left = ctx.days - max(first, 0)
    span = f"the {left} day{'s' * (left != 1)} from its start (day {first + 1} of {ctx.days}) to the end"
    who = {"colleague": "the team-mate it works through", "control_room": "its actor"}.get(ep.route, "its actor")
    why = []
    if ep.stalled.get("no_shift"):
        why.append(f"{who} had no shift on {ep.stalled['no_shift']} of {span}, and {p.skill} misuse "
                   "is done on shift")
    if ep.stalled.get("no_operator"):
        why.append(f"no control-room operator was on duty on {ep.stalled['no_operator']} of them")
    if ep.stalled.get("nothing"):
        why.append(f"it found nothing to look at yet on {ep.stalled['nothing']} of them")
    if ep.stalled.get("skipped"):
        why.append(f"on {ep.stalled['skipped']} of them it did not sit down to it (its {p.lookups} "
                   "look-ups are spread over its planned days)")
    return "; ".join(why) or f"it had none of {span} to act on"


def summary(ep: Episode, ctx: ShardContext) -> str:
    p = ep.plan
    role = ctx.force.team_names[ctx.force.team[p.actor]]
    how = {"naive": "off shift, with no reference, in bursts",
           "careful": "on shift, under references of their own tasks, a look-up or two at a time",
           "expert": "through a team-mate or the control room, at their normal volume"}
    return misuse_kinds.get(p.kind).summary(ep, role, how[p.skill])
