"""Planning misuse for the whole force before any shard runs: who, what kind, how skilled, when.

The plan is drawn from (scenario seed, "misuse") alone, so every shard sees the same plan. It also
holds what misuse needs across areas: notable events (a murder, a celebrity's arrest) whose records
many unrelated staff peek at, and criminal networks that recruit insiders. Their record ids are
reserved at the start of the home area's id range, so any shard can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snoopbench.contract.schema import RELATION_KINDS, ROLES, SKILLS
from snoopbench.simulator import misuse_kinds
from snoopbench.simulator.behaviour import DAY
from snoopbench.simulator.force import Force
from snoopbench.simulator.misuse_kinds import MisuseKind, Planning
from snoopbench.simulator.population import Population
from snoopbench.simulator.rng import derive, exact_sum, weighted
from snoopbench.simulator.shard import ID_SPAN

NOTABLE_MEDIA = ("crime_scene_photo", "post_mortem", "bwv_clip", "custody_photo")


@dataclass
class Notable:
    """A murder or a celebrity's arrest: records everybody talks about."""

    index: int
    kind: str                 # "murder" or "celebrity"
    area: int
    t_ms: int
    person: int               # victim or celebrity
    incident_id: int
    crime_id: int
    custody_id: int
    media_ids: np.ndarray
    media_kinds: list[str]


@dataclass
class Network:
    """A criminal network: its people, their vehicles and intelligence about them."""

    index: int
    area: int
    members: np.ndarray
    vehicles: np.ndarray
    intel_ids: np.ndarray
    operations_ms: np.ndarray  # police operations against it


@dataclass
class PlannedEpisode:
    episode_id: int
    kind: str
    skill: str
    actor: int                 # staff index
    area: int
    start_ms: int
    end_ms: int                # planned end of the window
    lookups: int
    targets: list[int] = field(default_factory=list)
    notable: int = -1
    network: int = -1


@dataclass(frozen=True)
class Shortfall:
    """A kind whose scenario asked for more episodes (``episodes``) than the plan could place."""

    kind: str
    asked: int
    placed: int
    eligible: int              # staff who could commit one at all
    reason: str = ""           # why none can happen at all, if so

    @property
    def key(self) -> str:
        return f"misuse.kinds.{self.kind}.episodes"

    @property
    def impossible(self) -> bool:
        return self.asked > self.eligible

    def message(self) -> str:
        if self.reason:
            return f"{self.asked} episodes asked for, but none can happen: {self.reason}"
        if self.impossible:
            return (f"{self.asked} episodes asked for, but only {self.eligible} staff could commit one "
                    f"(each actor commits one episode); expected at most {self.eligible}")
        return (f"{self.key}: {self.asked} episodes asked for, {self.placed} placed: no free actor was found "
                f"for the rest ({self.eligible} staff could commit one, some taken by other episodes)")


@dataclass
class MisusePlan:
    episodes: list[PlannedEpisode]
    notables: list[Notable]
    networks: list[Network]
    reserved: np.ndarray       # ids reserved per area
    shortfalls: list[Shortfall] = field(default_factory=list)


def plan_misuse(scn: dict, pop: Population, force: Force, midnights: np.ndarray) -> MisusePlan:
    rng = derive(scn["seed"], "misuse-plan")
    cfg = scn["misuse"]
    days = scn["duration_days"]
    warm = scn["warmup_days"]
    n_areas = len(scn["force"]["areas"])
    reserved = np.zeros(n_areas, np.int64)

    def reserve(area: int, n: int) -> np.ndarray:
        ids = (area + 1) * ID_SPAN + reserved[area] + np.arange(n, dtype=np.int64)
        reserved[area] += n
        return ids

    registry = misuse_kinds.all_kinds()
    notables: list[Notable] = []
    networks: list[Network] = []
    pl = Planning(rng, cfg, warm, days, midnights, notables, networks, _relations_by_staff(force, registry))
    when = pl.when

    # Notable events: enough for the curiosity and press episodes, at least one per scenario notables key.
    for i in range(cfg["notables"]):
        area = int(rng.integers(n_areas))
        kind = "murder" if rng.random() < 0.6 else "celebrity"
        kinds = list(rng.choice(NOTABLE_MEDIA, size=cfg["notable_media"]))
        inc, crime, cust = reserve(area, 3)
        notables.append(Notable(i, kind, area, when(warm, days - 4), _person_in(pop, rng, area),
                                int(inc), int(crime), int(cust), reserve(area, len(kinds)), kinds))
    for i in range(cfg["networks"]):
        area = int(rng.integers(n_areas))
        size = int(rng.integers(cfg["network_size_min"], cfg["network_size_max"] + 1))
        members = np.array([_person_in(pop, rng, area) for _ in range(size)], np.int64)
        keeper_order = np.argsort(pop.veh_keeper, kind="stable")
        lo = np.searchsorted(pop.veh_keeper[keeper_order], members)
        hi = np.searchsorted(pop.veh_keeper[keeper_order], members, side="right")
        vehicles = np.concatenate([keeper_order[a:b] for a, b in zip(lo, hi)] + [np.zeros(0, np.int64)])
        n_ops = max(1, rng.poisson(cfg["operations_per_network_per_year"] * days / 365))
        ops = np.sort([when(warm + 7, days) for _ in range(n_ops)]).astype(np.int64)
        networks.append(Network(i, area, members, vehicles.astype(np.int64), reserve(area, size), ops))
        # Members are local repeat offenders: ordinary police work looks them up often too.
        pop.person_pop[members] = np.maximum(pop.person_pop[members], np.quantile(pop.person_pop, 0.999))
        if len(vehicles):
            pop.vehicle_pop[vehicles] = np.maximum(pop.vehicle_pop[vehicles], np.quantile(pop.vehicle_pop, 0.999))
    pop.person_pop /= exact_sum(pop.person_pop)
    pop.vehicle_pop /= exact_sum(pop.vehicle_pop)

    episodes: list[PlannedEpisode] = []
    shortfalls: list[Shortfall] = []
    used: set[int] = set()
    staff_pool = np.arange(force.n)
    for name, kind in registry.items():
        k = cfg["kinds"].get(name)
        if not k:
            continue
        expected = force.n * k["staff_share_per_year"] * days / 365
        n = max(k["episodes"], int(rng.poisson(expected)))
        mix = np.array([k["skill_mix"].get(s, 0.0) for s in SKILLS])
        skills = _spread_skills(rng, n, mix)
        unmet = kind.unmet(cfg)
        if unmet and n:
            shortfalls.append(Shortfall(name, n, 0, 0, unmet))
            continue
        placed = 0
        for j in range(n):
            actor = _pick_actor(rng, staff_pool, used, force, kind, pl.rel_by_staff, kind.actor_area(pl, j))
            if actor < 0:
                continue
            used.add(actor)
            ep = PlannedEpisode(len(episodes), name, SKILLS[skills[j]], actor, int(force.area[actor]), 0, 0,
                                int(rng.integers(k["lookups_min"], k["lookups_max"] + 1)))
            kind.schedule(pl, ep, j, k)
            span = rng.exponential(k["duration_days_mean"]) + 0.5
            ep.end_ms = int(min(ep.start_ms + span * DAY, midnights[days] - 1))
            kind.choose_targets(pl, ep)
            episodes.append(ep)
            placed += 1
        if k["repeat_share"] > 0:  # drawn only when asked for: scenarios without repeats are unchanged
            _plan_repeats(rng, pl, kind, k, episodes, placed, midnights[days] - 1)
        if placed < k["episodes"]:
            eligible = _eligible(force, kind, pl, k["episodes"])
            shortfalls.append(Shortfall(name, k["episodes"], placed, eligible))
    return MisusePlan(episodes, notables, networks, reserved, shortfalls)


def _plan_repeats(rng, pl: Planning, kind: MisuseKind, k: dict, episodes: list[PlannedEpisode],
                  placed: int, last_ms: int) -> None:
    """Some misusers offend again: with ``repeat_share``, an episode of the kind is followed, after
    an exponential gap (mean ``repeat_gap_days_mean``) from its end, by another by the same actor,
    with the same skill and what it was about, and targets chosen afresh. A repeat may itself be
    repeated; one that would start after the period is not placed."""
    queue = list(episodes[len(episodes) - placed:])
    while queue:
        first = queue.pop(0)
        if rng.random() >= k["repeat_share"]:
            continue
        start = int(first.end_ms + rng.exponential(k["repeat_gap_days_mean"]) * DAY)
        if start >= last_ms:
            continue
        ep = PlannedEpisode(len(episodes), first.kind, first.skill, first.actor, first.area, start, 0,
                            int(rng.integers(k["lookups_min"], k["lookups_max"] + 1)),
                            notable=first.notable, network=first.network)
        span = rng.exponential(k["duration_days_mean"]) + 0.5
        ep.end_ms = int(min(ep.start_ms + span * DAY, last_ms))
        kind.choose_targets(pl, ep)
        episodes.append(ep)
        queue.append(ep)


def _relations_by_staff(force: Force, kinds: dict[str, MisuseKind]) -> list[dict[str, list[int]]]:
    """Per staff member, the people each relation-bound kind could target."""
    of_kind = {name: k.relations for name, k in kinds.items() if k.relations}
    out: list[dict[str, list[int]]] = [dict() for _ in range(force.n)]
    for s, p, k in zip(force.rel_staff.tolist(), force.rel_person.tolist(), force.rel_kind.tolist()):
        rk = RELATION_KINDS[k]
        for name, rel_kinds in of_kind.items():
            if rk in rel_kinds:
                out[s].setdefault(name, []).append(p)
    return out


def _pick_actor(rng, pool, used, force: Force, kind: MisuseKind, rels, area: int = -1) -> int:
    """A staff member who can commit this kind: one with such a relation, or anyone with access
    (for a network, someone working where it operates)."""
    if area >= 0:
        pool = pool[force.area[pool] == area]
    for _ in range(200):
        a = int(pool[rng.integers(len(pool))])
        if a in used:
            continue
        if kind.relations and not rels[a].get(kind.name):
            continue
        if ROLES[force.role[a]] in ("professional_standards",):
            continue
        return a
    return -1


def _eligible(force: Force, kind: MisuseKind, pl: Planning, n: int) -> int:
    """How many staff could commit an episode of this kind (as _pick_actor allows)."""
    ok = np.array([r != "professional_standards" for r in ROLES])[force.role]
    if kind.relations:
        ok &= np.array([bool(r.get(kind.name)) for r in pl.rel_by_staff], bool)
    areas = {kind.actor_area(pl, j) for j in range(n)}
    if -1 not in areas:
        ok &= np.isin(force.area, list(areas))
    return int(ok.sum())


def acted_shortfalls(kinds_cfg: dict, acted: dict[str, int], days: int,
                     silent: list[dict] | tuple = ()) -> list[str]:
    """Kinds with fewer episodes leaving events in the period than the scenario asked for, each
    with why its silent episodes (``silent``: ``episode_id``, ``kind``, ``skill`` and
    ``_silent``, the reason) never acted."""
    out = []
    for name, k in kinds_cfg.items():
        if acted.get(name, 0) < k["episodes"]:
            why = [f"episode {e['episode_id']} ({e['skill']}) never acted: {e['_silent']}"
                   for e in silent if e["kind"] == name]
            tail = "; ".join(why) if why else (
                "the rest were not placed (see the plan's warning above)")
            out.append(f"misuse.kinds.{name}.episodes: {k['episodes']} asked for, {acted.get(name, 0)} "
                       f"left events in the {days} days: {tail}")
    return out


def _spread_skills(rng, n: int, mix: np.ndarray) -> np.ndarray:
    """Skill per episode: every skill with weight appears once before any repeats, then by the mix."""
    present = np.flatnonzero(mix > 0)
    first = rng.permutation(present)[:n]
    rest = weighted(rng, mix, max(n - len(first), 0))
    return np.concatenate([first, rest]).astype(np.int64)


def _person_in(pop: Population, rng, area: int) -> int:
    for _ in range(1000):
        p = int(rng.integers(pop.n_people))
        if pop.street_area[pop.addr_street[pop.address[p]]] == area and pop.person_pop[p] > 0:
            return p
    return int(rng.integers(pop.n_people))
