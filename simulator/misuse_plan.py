"""Planning misuse for the whole force before any shard runs: who, what kind, how skilled, when.

The plan is drawn from (scenario seed, "misuse") alone, so every shard sees the same plan. It also
holds what misuse needs across areas: notable events (a murder, a celebrity's arrest) whose records
many unrelated staff peek at, and criminal networks that recruit insiders. Their record ids are
reserved at the start of the home area's id range, so any shard can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snoopbench.simulator.force import Force
from snoopbench.simulator.population import Population
from snoopbench.simulator.rng import derive, exact_sum, weighted
from snoopbench.contract.schema import EPISODE_KINDS, RELATION_KINDS, ROLES, SKILLS
from snoopbench.simulator.shard import ID_SPAN

DAY = 86_400_000

RELATION_OF_KIND = {"family": ("family",), "partner": ("partner", "ex_partner"), "colleague": ("colleague",),
                    "neighbour": ("neighbour",)}
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


@dataclass
class MisusePlan:
    episodes: list[PlannedEpisode]
    notables: list[Notable]
    networks: list[Network]
    reserved: np.ndarray       # ids reserved per area


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

    def when(lo_day: float, hi_day: float) -> int:
        return int(midnights[0] + rng.uniform(lo_day, max(hi_day, lo_day + 0.01)) * DAY)

    # Notable events: enough for the curiosity and press episodes, at least one per scenario notables key.
    notables: list[Notable] = []
    for i in range(cfg["notables"]):
        area = int(rng.integers(n_areas))
        kind = "murder" if rng.random() < 0.6 else "celebrity"
        kinds = list(rng.choice(NOTABLE_MEDIA, size=cfg["notable_media"]))
        inc, crime, cust = reserve(area, 3)
        notables.append(Notable(i, kind, area, when(warm, days - 4), _person_in(pop, rng, area),
                                int(inc), int(crime), int(cust), reserve(area, len(kinds)), kinds))
    networks: list[Network] = []
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
    used: set[int] = set()
    staff_pool = np.arange(force.n)
    rel_by_staff = _relations_by_staff(force)
    for kind in EPISODE_KINDS:
        k = cfg["kinds"].get(kind)
        if not k:
            continue
        expected = force.n * k["staff_share_per_year"] * days / 365
        n = max(k["episodes"], int(rng.poisson(expected)))
        mix = np.array([k["skill_mix"].get(s, 0.0) for s in SKILLS])
        skills = _spread_skills(rng, n, mix)
        for j in range(n):
            nw_area = networks[j % len(networks)].area if kind == "leak_criminal" and networks else -1
            actor = _pick_actor(rng, staff_pool, used, force, kind, rel_by_staff, nw_area)
            if actor < 0:
                continue
            used.add(actor)
            ep = PlannedEpisode(len(episodes), kind, SKILLS[skills[j]], actor, int(force.area[actor]), 0, 0,
                                int(rng.integers(k["lookups_min"], k["lookups_max"] + 1)))
            story = kind == "leak_press" and rng.random() < cfg["press_local_story_share"]
            if kind in ("curiosity", "leak_press") and notables and not story:
                nt = notables[int(rng.integers(len(notables)))]
                ep.notable = nt.index
                ep.start_ms = nt.t_ms + int(rng.exponential(0.6 * DAY))
            elif kind == "leak_criminal" and networks:
                nw = networks[j % len(networks)]
                ep.network = nw.index
                ep.start_ms = when(warm, max(warm + 1, days - k["duration_days_mean"]))
            else:
                ep.start_ms = when(warm, days - 1)
            span = rng.exponential(k["duration_days_mean"]) + 0.5
            ep.end_ms = int(min(ep.start_ms + span * DAY, midnights[days] - 1))
            if kind in RELATION_OF_KIND:
                cands = rel_by_staff[actor].get(kind, [])
                ep.targets = [int(x) for x in rng.choice(cands, size=min(len(cands), 1 + int(rng.random() < 0.4)),
                                                         replace=False)]
            episodes.append(ep)
    return MisusePlan(episodes, notables, networks, reserved)


def _relations_by_staff(force: Force) -> list[dict[str, list[int]]]:
    out: list[dict[str, list[int]]] = [dict() for _ in range(force.n)]
    for s, p, k in zip(force.rel_staff.tolist(), force.rel_person.tolist(), force.rel_kind.tolist()):
        rk = RELATION_KINDS[k]
        for kind, rel_kinds in RELATION_OF_KIND.items():
            if rk in rel_kinds:
                out[s].setdefault(kind, []).append(p)
    return out


def _pick_actor(rng, pool, used, force: Force, kind: str, rels, area: int = -1) -> int:
    """A staff member who can commit this kind: one with such a relation, or anyone with access
    (for a network, someone working where it operates)."""
    if area >= 0:
        pool = pool[force.area[pool] == area]
    for _ in range(200):
        a = int(pool[rng.integers(len(pool))])
        if a in used:
            continue
        if kind in RELATION_OF_KIND and not rels[a].get(kind):
            continue
        if ROLES[force.role[a]] in ("professional_standards",):
            continue
        return a
    return -1


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
