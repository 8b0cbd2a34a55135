"""What a shard does for the timeline (see :mod:`simulator.timeline`): mandatory references on a
system, and caseloads handed over when a post ends."""

from __future__ import annotations

import numpy as np

from snoopbench.simulator.shard import ShardContext


class PolicySink:
    """The shard's event sink, with references filled in as a policy makes them mandatory.

    A look-up on the policy's system that carries no reference gets one, with the policy's
    compliance at that time: one the user holds, else one their team holds (what people type when
    the field becomes compulsory). Misuse rows are treated as every other row."""

    def __init__(self, ctx: ShardContext, sink, policies, rng: np.random.Generator):
        self._ctx, self._sink, self._policies, self._rng = ctx, sink, policies, rng

    def __getattr__(self, name):
        return getattr(self._sink, name)

    def emit(self, ts, staff, system, action, entity_type, entity_id, ref, episode=-1) -> None:
        sizes = [np.size(x) for x in (ts, staff, system, action, entity_type, entity_id, ref) if np.ndim(x)]
        n = sizes[0] if sizes else 1
        if n == 0:
            return
        ts = np.broadcast_to(np.asarray(ts, np.int64), (n,))
        system_b = np.broadcast_to(np.asarray(system), (n,))
        ref_b = np.broadcast_to(np.asarray(ref, np.int64), (n,))
        filled = None
        for p in self._policies:
            due = np.flatnonzero((system_b == p.system) & (ref_b < 0) & (ts >= p.start_ms))
            if not len(due):
                continue
            due = due[self._rng.random(len(due)) < p.compliance(ts[due])]
            if not len(due):
                continue
            staff_b = np.broadcast_to(np.asarray(staff, np.int64), (n,))
            who, when = staff_b[due], ts[due]
            got = self._ctx.own.pick(who, when, self._rng.random(len(due)))
            none = got < 0
            if none.any():
                got[none] = self._ctx.team.pick(self._ctx.force.team[who[none]], when[none],
                                                self._rng.random(int(none.sum())))
            if filled is None:
                filled = ref_b.copy()
            filled[due] = got
        self._sink.emit(ts, staff, system, action, entity_type, entity_id,
                        ref if filled is None else filled, episode)


def hand_over_caseloads(ctx: ShardContext, day: int) -> None:
    """Posts that end today (leavers, staff moving area) hand their open references to a
    team-mate still on the roll, from today until the reference would have ended."""
    f = ctx.force
    ending = ctx.posts[f.active_until[ctx.posts] == day]
    if not len(ending):
        return
    now = int(ctx.midnights[day])
    roll = ctx.on_roll(day)
    for post in ending.tolist():
        live = np.flatnonzero((ctx.own.since[post] <= now) & (ctx.own.until[post] > now) & (ctx.own.ref1[post] > 0))
        mates = roll[(f.team[roll] == f.team[post]) & (roll != post)]
        if not len(live) or not len(mates):
            continue
        # The longest-serving team-mate on the roll takes the cases (deterministic, no draw).
        mate = int(mates[np.argmin(f.joined_day[mates])])
        for slot in live.tolist():
            ctx.assign(mate, int(ctx.own.ref1[post, slot]) - 1, now, int(ctx.own.until[post, slot]), team=False)
