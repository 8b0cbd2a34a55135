"""``media_exfiltration``: views body-worn video of a matter the actor was never given, then
downloads, exports or shares it; ``public_at`` is when it surfaces."""

import numpy as np

from snoopbench.simulator.misuse_kinds.base import ACT, ETYPE, SYS, MisuseKind


class MediaExfiltration(MisuseKind):
    name = "media_exfiltration"
    what = "body-worn video unrelated to their work, then took a copy"
    lookups = (2, 10)
    duration_days_mean = 5.0

    def recipe(self, ctx, ep, plan, k, rng, t):
        clip = _unlinked_clip(ctx, ep, t, rng)
        if clip < 0:
            return []
        ep.targets.append(clip)
        rows = [(SYS["DEMS"], ACT["view"], ETYPE["media"], clip)] * max(k - 1, 1)
        rows.append((SYS["DEMS"], [ACT["download"], ACT["export"], ACT["share"]][int(rng.integers(3))],
                     ETYPE["media"], clip))
        return rows

    def after_session(self, ep, public_delay_ms):
        ep.public_ms = ep.last_ms + public_delay_ms


def _unlinked_clip(ctx, ep, t: int, rng) -> int:
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


KIND = MediaExfiltration()
