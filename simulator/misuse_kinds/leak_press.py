"""``leak_press``: views a notable case, or a local crime in the news, then prints or exports."""

import numpy as np

from snoopbench.simulator.misuse_kinds.base import (ACT, ETYPE, SYS, MisuseKind, after_a_notable, notable_rows,
                                                    print_or_export_last)


class LeakPress(MisuseKind):
    name = "leak_press"
    what = "a notable case, then printed or exported records"
    lookups = (3, 20)
    duration_days_mean = 7.0

    def schedule(self, pl, ep, j, k):
        story = pl.rng.random() < pl.cfg["press_local_story_share"]
        if story or not pl.notables:
            return super().schedule(pl, ep, j, k)
        after_a_notable(pl, ep)

    def recipe(self, ctx, ep, plan, k, rng, t):
        rows = _local_story(ctx, ep, k, rng, t) if ep.plan.notable < 0 else notable_rows(ctx, ep, plan, k, rng, t)
        return print_or_export_last(rows) if rows else rows


def _local_story(ctx, ep, k: int, rng, t: int):
    """A crime in the local news (not flagged): its people, record and media."""
    refs = ctx.refs
    if ep.story < 0:
        for _ in range(30):
            r = int(ctx.area_refs.pick(np.zeros(1, np.int64), np.array([t]), rng.random(1))[0])
            if r >= 0 and refs.crime_id[r] >= 0 and refs.counts["person"][r]:
                ep.story = r
                ep.targets = [int(p) for p in refs.pools["person"][r, : refs.counts["person"][r]]]
                break
        else:
            return []
    r = ep.story
    choices = [(SYS["RMS"], ACT["view"], ETYPE["crime"], int(refs.crime_id[r]))]
    choices += [(SYS["RMS"], ACT["view"], ETYPE["person"], int(p))
                for p in refs.pools["person"][r, : refs.counts["person"][r]]]
    c = refs.counts["media"][r]
    choices += [(SYS["DEMS"], ACT["view"], ETYPE["media"], int(m))
                for m, at in zip(refs.pools["media"][r, :c], refs.pools_t["media"][r, :c]) if at <= t]
    return [choices[i] for i in rng.choice(len(choices), size=k, replace=k > len(choices))]


KIND = LeakPress()
