"""The force: staff by role, area and team; their rosters; their true and declared relations."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np

from snoopbench.simulator.behaviour import HOUR, MIN
from snoopbench.simulator.population import Population
from snoopbench.simulator.rng import derive, normalised
from snoopbench.contract.schema import RELATION_KINDS, ROLES


@dataclass
class Force:
    """Column arrays of staff; index i is staff member i, whose account is ``user_id[i]``."""

    user_id: np.ndarray      # int32, shuffled so an id says nothing of role or area
    person_id: np.ndarray    # int64
    role: np.ndarray         # int8 index into ROLES
    area: np.ndarray         # int16
    team: np.ndarray         # int32 global team index
    team_names: list[str]
    team_role: np.ndarray    # int8 per team
    team_area: np.ndarray    # int16 per team
    team_rank: np.ndarray    # int32: index of the team among its role's teams in its area
    joined_day: np.ndarray   # int32 days since epoch
    pace: np.ndarray         # float: each user's own pace of work (lognormal around 1)
    # truth/relations and context/declared_relations
    rel_staff: np.ndarray    # int32 staff index
    rel_person: np.ndarray   # int64
    rel_kind: np.ndarray     # int8 index into RELATION_KINDS
    rel_declared: np.ndarray  # bool
    # Organisational change (simulator.timeline): each index is a post; a user who moves area has
    # a second post under the same user_id. None without a timeline: every post, every day.
    active_from: np.ndarray | None = None   # int32 first day (of the period) the post is worked
    active_until: np.ndarray | None = None  # int32 day the post ends (exclusive)
    n_base: int = -1                          # posts built before the timeline's (the stable force)
    is_account: np.ndarray | None = None    # bool: the post that defines its user in context/staff

    @property
    def n(self) -> int:
        return len(self.user_id)

    def active(self, staff: np.ndarray, day: int) -> np.ndarray:
        """The posts among ``staff`` worked on ``day`` (``staff`` itself without a timeline)."""
        if self.active_from is None:
            return staff
        return staff[(self.active_from[staff] <= day) & (day < self.active_until[staff])]


def area_weights(force_cfg: dict) -> np.ndarray:
    """Relative size of each area: the scenario's weights, or equal."""
    w = np.array(force_cfg["area_weights"] or [1.0] * len(force_cfg["areas"]), dtype=float)
    return normalised(w)


def _split(total: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of ``total`` by ``shares``."""
    raw = normalised(shares) * total
    n = np.floor(raw).astype(np.int64)
    n[np.argsort(-(raw - n), kind="stable")[: total - n.sum()]] += 1
    return n


def build_force(scn: dict, pop: Population, seed: int) -> Force:
    rng = derive(seed, "force")
    areas = scn["force"]["areas"]
    n_staff = scn["force"]["staff"]
    roles = scn["roles"]
    counts = _split(n_staff, np.array([roles[r]["share"] for r in ROLES]))
    area_w = area_weights(scn["force"])
    role = np.repeat(np.arange(len(ROLES), dtype=np.int8), counts)
    area = np.zeros(n_staff, dtype=np.int16)
    team = np.zeros(n_staff, dtype=np.int32)
    team_names: list[str] = []
    team_role: list[int] = []
    team_area: list[int] = []
    team_rank: list[int] = []
    pos = 0
    for r, name in enumerate(ROLES):
        c = int(counts[r])
        a = np.repeat(np.arange(len(areas), dtype=np.int16), _split(c, area_w))
        area[pos:pos + c] = a
        size = roles[name]["team_size"]
        for ai, aname in enumerate(areas):
            members = np.flatnonzero(a == ai) + pos
            n_teams = max(-(-len(members) // size), 1) if len(members) else 0
            for t in range(n_teams):
                team_names.append(f"{aname} {name.replace('_', ' ').title()} {t + 1}")
                team_role.append(r)
                team_area.append(ai)
                team_rank.append(t)
            if len(members):
                team[members] = len(team_names) - n_teams + np.arange(len(members)) % n_teams
        pos += c

    # Staff are people of working age, living in the force's area.
    epoch = (scn["start_date"] - dt.date(1970, 1, 1)).days
    age = epoch - pop.birth_day
    eligible = np.flatnonzero((age > 19 * 365) & (age < 64 * 365))
    local = LocalDraw(pop, eligible)
    person_id = local.unique(area, rng.random(n_staff) < scn["relations"]["local_share"], rng)
    user_id = (rng.permutation(n_staff) + 10_001).astype(np.int32)
    joined_day = (epoch - rng.integers(30, 30 * 365, n_staff)).astype(np.int32)
    sigma = np.array([roles[r]["user_sigma"] for r in ROLES])[role]
    pace = np.exp(rng.normal(0.0, 1.0, n_staff) * sigma)
    rels = _relations(scn["relations"], pop, person_id, team, rng)
    return Force(user_id=user_id, person_id=person_id, role=role, area=area, team=team,
                 team_names=team_names, team_role=np.array(team_role, np.int8),
                 team_area=np.array(team_area, np.int16), team_rank=np.array(team_rank, np.int32),
                 joined_day=joined_day, pace=pace, **rels)


class LocalDraw:
    """Draws among a set of people, either within a given area or anywhere (vectorised)."""

    def __init__(self, pop: Population, people: np.ndarray):
        self.area_of = pop.street_area[pop.addr_street[pop.address]]
        areas = self.area_of[people]
        order = np.argsort(areas, kind="stable")
        self.people = people[order]
        self.starts = np.searchsorted(areas[order], np.arange(areas.max() + 2))

    def draw(self, area: np.ndarray, local: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(len(area))
        lo = np.where(local, self.starts[area], 0)
        hi = np.where(local, self.starts[area + 1], len(self.people))
        empty = hi <= lo
        lo, hi = np.where(empty, 0, lo), np.where(empty, len(self.people), hi)
        return self.people[lo + (u * (hi - lo)).astype(np.int64)].astype(np.int64)

    def unique(self, area: np.ndarray, local: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One distinct person per row (redrawing the few that collide)."""
        out = self.draw(area, local, rng)
        for _ in range(50):
            _, first = np.unique(out, return_index=True)
            dup = np.setdiff1d(np.arange(len(out)), first)
            if not len(dup):
                return out
            out[dup] = self.draw(area[dup], np.zeros(len(dup), bool), rng)
        raise RuntimeError("not enough people of working age for the staff; raise people_per_staff")


def _relations(cfg: dict, pop: Population, person_id: np.ndarray, team: np.ndarray,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True ties of each staff member, drawn from the population (vectorised over staff)."""
    n = len(person_id)
    kinds = {k: i for i, k in enumerate(RELATION_KINDS)}
    everyone = LocalDraw(pop, np.arange(pop.n_people))
    home_area = everyone.area_of[person_id]

    def people_near(staff_idx: np.ndarray) -> np.ndarray:
        """People for these staff members' ties: most in their own area, some anywhere."""
        return everyone.draw(home_area[staff_idx], rng.random(len(staff_idx)) < cfg["local_share"], rng)
    out_s: list[np.ndarray] = []
    out_p: list[np.ndarray] = []
    out_k: list[np.ndarray] = []

    def add(staff_idx: np.ndarray, people: np.ndarray, kind: str) -> None:
        keep = people != person_id[staff_idx]
        out_s.append(staff_idx[keep].astype(np.int32))
        out_p.append(people[keep].astype(np.int64))
        out_k.append(np.full(int(keep.sum()), kinds[kind], np.int8))

    # Family: relatives of the same surname elsewhere (surname shared by making it so).
    n_fam = rng.poisson(cfg["family_per_staff"], n)
    s = np.repeat(np.arange(n), n_fam)
    fam = people_near(s)
    same = rng.random(len(s)) < 0.7
    pop.surname[fam[same]] = pop.surname[person_id[s[same]]]
    add(s, fam, "family")
    # Partners live with the staff member; ex-partners elsewhere.
    has_p = np.flatnonzero(rng.random(n) < cfg["partner_share"])
    partner = people_near(has_p)
    pop.address[partner] = pop.address[person_id[has_p]]
    pop.female[partner] = ~pop.female[person_id[has_p]]
    add(has_p, partner, "partner")
    has_x = np.flatnonzero(rng.random(n) < cfg["ex_partner_share"])
    add(has_x, people_near(has_x), "ex_partner")
    # Neighbours: residents of nearby numbers on the same street.
    home = pop.address[person_id]
    offsets = rng.choice(np.array([-2, -1, 1, 2]), size=(n, 2))
    near = np.clip(home[:, None] + offsets, 0, pop.n_addresses - 1)
    same_street = pop.addr_street[near] == pop.addr_street[home][:, None]
    # Someone living there now: partners have moved in with staff, so people are no longer laid out
    # address by address; look residents up through a sort by current address.
    by_address = np.argsort(pop.address, kind="stable")
    lived_at = pop.address[by_address]
    pos = np.minimum(np.searchsorted(lived_at, near), pop.n_people - 1)
    resident = by_address[pos]
    ok = same_street & (near != home[:, None]) & (lived_at[pos] == near)
    add(np.repeat(np.arange(n), 2)[ok.ravel()], resident.ravel()[ok.ravel()], "neighbour")
    # Friends anywhere; colleagues within the team.
    n_fr = rng.poisson(cfg["friends_per_staff"], n)
    s = np.repeat(np.arange(n), n_fr)
    add(s, people_near(s), "friend")
    n_col = rng.poisson(cfg["colleagues_per_staff"], n)
    s = np.repeat(np.arange(n), n_col)
    order = np.argsort(team, kind="stable")
    team_start = np.searchsorted(team[order], team[s])
    team_len = np.searchsorted(team[order], team[s], side="right") - team_start
    mate = order[team_start + (rng.random(len(s)) * team_len).astype(np.int64)]
    add(s, person_id[mate], "colleague")

    rel_staff = np.concatenate(out_s)
    rel_person = np.concatenate(out_p)
    rel_kind = np.concatenate(out_k)
    # One tie per (staff, person): keep the first kind drawn.
    key = rel_staff.astype(np.int64) * (pop.n_people + 1) + rel_person
    _, first = np.unique(key, return_index=True)
    first.sort()
    rel_staff, rel_person, rel_kind = rel_staff[first], rel_person[first], rel_kind[first]
    share = np.array([cfg["declared_share"].get(k, 0.0) for k in RELATION_KINDS])
    declared = rng.random(len(rel_kind)) < share[rel_kind]
    return dict(rel_staff=rel_staff, rel_person=rel_person, rel_kind=rel_kind, rel_declared=declared)


def local_midnights_ms(start: dt.date, days: int, tz: str) -> np.ndarray:
    """UTC epoch ms of local midnight for ``days + 2`` consecutive days (DST aware)."""
    zone = zoneinfo.ZoneInfo(tz)
    out = np.empty(days + 2, dtype=np.int64)
    for i in range(days + 2):
        d = start + dt.timedelta(days=i)
        out[i] = int(dt.datetime.combine(d, dt.time(0), tzinfo=zone).timestamp() * 1000)
    return out


def roster(scn: dict, force: Force, staff_idx: np.ndarray, day: int, midnights: np.ndarray,
           rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Rostered shifts starting on local day ``day`` for the given staff (vectorised).

    Cycle rotas stagger teams through the cycle; weekday rotas work Monday to Friday. Returns
    arrays ``staff``, ``start``, ``end`` (UTC ms) and ``overrun`` (ms worked past the end).
    """
    date = scn["start_date"] + dt.timedelta(days=day)
    weekday = date.weekday()
    staff_parts, start_parts, end_parts = [], [], []
    for rota_name, rota in scn["rotas"].items():
        in_rota = np.array([scn["roles"][r]["rota"] == rota_name for r in ROLES])
        members = staff_idx[in_rota[force.role[staff_idx]]]
        if not len(members):
            continue
        cycle = rota["cycle"]
        if rota["type"] == "weekdays":
            if weekday >= 5:
                continue
            shift = np.full(len(members), cycle[0] if cycle[0] != "off" else next(c for c in cycle if c != "off"))
        else:
            t = force.team[members]
            shift = np.array(cycle, dtype=object)[(day + force.team_rank[t] * 3 + force.team_role[t]) % len(cycle)]
        on = shift != "off"
        on &= rng.random(len(members)) >= rota["absence_share"]
        members, shift = members[on], shift[on]
        if not len(members):
            continue
        hours0 = np.array([rota["shift_start_hours"][s] for s in shift], dtype=float)
        length = np.array([rota["shift_hours"][s] for s in shift], dtype=float)
        # Teams start together, within a few minutes of the roster.
        jitter = (rng.normal(0, 1, len(members)) * rota["start_jitter_minutes"] / 3).clip(
            -rota["start_jitter_minutes"], rota["start_jitter_minutes"])
        start = midnights[day] + (hours0 * HOUR + jitter * MIN).astype(np.int64)
        start = start // MIN * MIN
        staff_parts.append(members)
        start_parts.append(start)
        end_parts.append(start + (length * HOUR).astype(np.int64))
    if not staff_parts:
        z = np.zeros(0, np.int64)
        return dict(staff=z, start=z, end=z, overrun=z)
    staff = np.concatenate(staff_parts)
    start = np.concatenate(start_parts)
    end = np.concatenate(end_parts)
    rotas_of = np.array([scn["rotas"][scn["roles"][r]["rota"]]["overrun_share"] for r in ROLES])
    mean_over = np.array([scn["rotas"][scn["roles"][r]["rota"]]["overrun_minutes_mean"] for r in ROLES])
    over = rng.random(len(staff)) < rotas_of[force.role[staff]]
    overrun = np.where(over, rng.exponential(1.0, len(staff)) * mean_over[force.role[staff]] * MIN, 0)
    order = np.lexsort((staff, start))
    return dict(staff=staff[order], start=start[order], end=end[order], overrun=overrun[order].astype(np.int64))
