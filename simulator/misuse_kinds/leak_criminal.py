"""``leak_criminal``: an insider recruited by a criminal network checks its people, vehicles and
intelligence over weeks, most in the days before the police act against it."""

from snoopbench.simulator.misuse_kinds.base import DAY, ACT, ETYPE, SYS, MisuseKind


class LeakCriminal(MisuseKind):
    name = "leak_criminal"
    what = "a criminal network, for its members"
    lookups = (10, 60)
    duration_days_mean = 45.0

    def unmet(self, cfg):
        return "" if cfg["networks"] else "there is no criminal network to leak to (misuse.networks = 0)"

    def actor_area(self, pl, j):
        return pl.networks[j % len(pl.networks)].area if pl.networks else -1

    def schedule(self, pl, ep, j, k):
        if not pl.networks:
            return super().schedule(pl, ep, j, k)
        ep.network = pl.networks[j % len(pl.networks)].index
        ep.start_ms = pl.when(pl.warm, max(pl.warm + 1, pl.days - k["duration_days_mean"]))

    def session_factor(self, plan, ep, day_ms):
        if ep.network < 0:
            return 1.0
        ops = plan.networks[ep.network].operations_ms
        ahead = ops[ops > day_ms]
        if not len(ahead):
            return 0.5
        days = (ahead[0] - day_ms) / DAY
        return 3.0 if days < 3 else 1.5 if days < 7 else 0.6

    def recipe(self, ctx, ep, plan, k, rng, t):
        nw = plan.networks[ep.plan.network]
        ep.targets = [int(m) for m in nw.members]
        rows = []
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
        return rows


KIND = LeakCriminal()
