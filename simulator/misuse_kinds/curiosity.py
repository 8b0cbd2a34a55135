"""``curiosity``: views a notable case (a murder, a celebrity's arrest): its crime-scene photos,
post-mortem images, custody record and video. Many unrelated staff do so, each an episode."""

from snoopbench.simulator.misuse_kinds.base import MisuseKind, after_a_notable, notable_rows


class Curiosity(MisuseKind):
    name = "curiosity"
    what = "the records and media of a notable case"
    lookups = (2, 12)
    duration_days_mean = 3.0

    def unmet(self, cfg):
        return "" if cfg["notables"] else "there are no notable events to look at (misuse.notables = 0)"

    def schedule(self, pl, ep, j, k):
        if not pl.notables:
            return super().schedule(pl, ep, j, k)
        after_a_notable(pl, ep)

    def recipe(self, ctx, ep, plan, k, rng, t):
        return notable_rows(ctx, ep, plan, k, rng, t)


KIND = Curiosity()
