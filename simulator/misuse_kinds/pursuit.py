"""``pursuit``: a registration seen on the road, then its keeper, then her address, over many women."""

from snoopbench.simulator.misuse_kinds.base import ACT, ETYPE, SYS, MisuseKind


class Pursuit(MisuseKind):
    name = "pursuit"
    what = "women found through their vehicles' keeper records"
    lookups = (15, 90)
    duration_days_mean = 60.0

    def recipe(self, ctx, ep, plan, k, rng, t):
        pop = ctx.pop
        rows = []
        while len(rows) < k:
            veh = _female_kept_vehicle(ctx, rng)
            keeper = int(pop.veh_keeper[veh])
            ep.targets.append(keeper)
            first = (SYS["ANPR"], ACT["search"]) if rng.random() < 0.3 else (SYS["PNC"], ACT["search"])
            rows += [(*first, ETYPE["vehicle"], veh), (SYS["PNC"], ACT["view"], ETYPE["person"], keeper),
                     (SYS["RMS"], ACT["view"], ETYPE["address"], int(pop.address[keeper]))]
        return rows[: max(k, 3)]


def _female_kept_vehicle(ctx, rng) -> int:
    """A registration seen on the road: any vehicle, planted canaries included."""
    for _ in range(50):
        v = int(ctx.lure_vehicle_sampler.draw(rng.random(1))[0])
        if ctx.pop.female[ctx.pop.veh_keeper[v]]:
            return v
    return v


KIND = Pursuit()
