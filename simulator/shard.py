"""One shard (an area of a force): its SimPy environment, its shared state, and its outputs.

A shard's seed is derived from (scenario seed, area), so its output does not depend on which worker
runs it, or how many there are. It writes per-day event files and its part of the context tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import simpy

from snoopbench.simulator.arrays import member, unique_sorted
from snoopbench.simulator.force import Force
from snoopbench.simulator.population import Population
from snoopbench.simulator.refs import Holdings, RefTable
from snoopbench.simulator.rng import derive, exact_sum
from snoopbench.contract.schema import ACTIONS, ENTITY_TYPES, ROLES, SYSTEMS
from snoopbench.simulator.sink import EventSink
from snoopbench.simulator.tasking import TaskLog

ROLE = {r: i for i, r in enumerate(ROLES)}
SYS = {s: i for i, s in enumerate(SYSTEMS)}
ACT = {a: i for i, a in enumerate(ACTIONS)}
ETYPE = {e: i for i, e in enumerate(ENTITY_TYPES)}
ID_SPAN = 10**10  # entity ids created in a shard: (area + 1) * ID_SPAN + counter


_SHARED: dict[tuple[int, int], dict] = {}


def _shared(pop: Population, force: Force) -> dict:
    """Indexes and samplers every shard of a world uses, built once per world in a process."""
    key = (id(pop), id(force))
    if key not in _SHARED:
        _SHARED.clear()  # one world at a time
        veh_by_keeper = np.argsort(pop.veh_keeper, kind="stable")
        by_address = np.argsort(pop.address, kind="stable")
        rel_order = np.argsort(force.rel_staff, kind="stable")
        vehicles = np.arange(len(pop.veh_keeper), dtype=np.int64)
        _SHARED[key] = {
            "address_area": pop.street_area[pop.addr_street],
            "person_area": pop.street_area[pop.addr_street[pop.address]],
            "any_person": Sampler(np.arange(pop.n_people, dtype=np.int64), pop.person_pop),
            "vehicle": Sampler(vehicles, pop.vehicle_pop),
            "lure_vehicle": Sampler(vehicles, pop.vehicle_lure_pop),
            "rel_order": rel_order, "rel_sorted": force.rel_staff[rel_order],
            "veh_by_keeper": veh_by_keeper, "veh_keeper_sorted": pop.veh_keeper[veh_by_keeper],
            "by_address": by_address, "address_sorted": pop.address[by_address],
            "pops": (pop, force),  # keeps the ids above from being reused while cached
        }
    return _SHARED[key]


def incidents_per_day(scn: dict, force: Force, staff: np.ndarray) -> float:
    """Expected incidents a day for ``staff``: calls per officer, contacts per call, incident share."""
    dem = scn["demand"]
    officers = np.isin(np.array(ROLES)[force.role[staff]], dem["officer_roles"]).sum()
    return float(officers * dem["calls_999_per_officer_per_day"] * dem["contacts_per_999_call"]
                 * dem["incident_share"])


class Sampler:
    """Weighted draws from a fixed set of ids by inverse CDF (vectorised, no per-row choice)."""

    def __init__(self, ids: np.ndarray, weights: np.ndarray):
        self.ids = ids
        cum = np.cumsum(weights, dtype=float)
        self.cum = cum / cum[-1]

    def draw(self, u: np.ndarray) -> np.ndarray:
        return self.ids[np.minimum(np.searchsorted(self.cum, u, side="right"), len(self.ids) - 1)]


class Categorical:
    """Per-group categorical draws by inverse CDF, vectorised: one row of weights per group.

    Row g of the cumulative table is shifted by g, so one sorted array holds every group's CDF and
    ``searchsorted(flat, g + u)`` gives any row's category. A lookup table over ``BINS`` slices of u
    answers most rows directly; rows in the few slices that straddle a boundary are searched. The
    result is exactly the search's.
    """

    BINS = 4096

    def __init__(self, rows: list[dict[str, float]], names: tuple[str, ...]):
        w = np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=float)
        w /= np.maximum([[exact_sum(r)] for r in w], 1e-300)
        cum = np.cumsum(w, axis=1)
        self.k = cum.shape[1]
        self.flat = (cum + np.arange(cum.shape[0])[:, None]).ravel()
        g = np.arange(cum.shape[0], dtype=np.int64)[:, None]
        edges = np.arange(self.BINS + 1) / self.BINS
        at = self._search(np.broadcast_to(g, (len(g), self.BINS + 1)).ravel(), (g + edges).ravel())
        at = at.reshape(len(g), self.BINS + 1)
        # A slice's rows all fall in one category when its lowest and highest values do (rounding
        # of g + u is monotone); otherwise they are searched. 255 marks such slices.
        self.table = np.where(at[:, :-1] == at[:, 1:], at[:, :-1], 255).astype(np.uint8).ravel()

    def _search(self, g: np.ndarray, x: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.flat, x, side="right") - g * self.k
        return np.clip(pos, 0, self.k - 1).astype(np.uint8)

    def draw(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        g = group.astype(np.int64)
        out = self.table[g * self.BINS + (u * self.BINS).astype(np.int64)]
        edge = np.flatnonzero(out == 255)
        if len(edge):
            out[edge] = self._search(g[edge], g[edge] + u[edge])
        return out


VIA = {"direct": 0, "team": 1}


@dataclass
class Collected:
    """Context rows the shard accumulates while it runs (small: one per incident, crime, record)."""

    incidents: list[tuple] = field(default_factory=list)
    crimes: list[tuple] = field(default_factory=list)
    records: list[tuple] = field(default_factory=list)
    shifts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)


class ShardContext:
    """Everything a shard's processes share: one small object, passed to plain generator functions."""

    def __init__(self, scn: dict, seed: int, area: int, pop: Population, force: Force,
                 midnights: np.ndarray, work_dir: Path, reserved_ids: int = 0, spill=None,
                 compression: str = "lz4", timeline=None):
        self.scn = scn
        self.seed = seed
        self.area = area
        self.area_name = scn["force"]["areas"][area]
        self.pop = pop
        self.force = force
        self.midnights = midnights
        self.days = scn["duration_days"]
        self.env = simpy.Environment(initial_time=float(midnights[0]))
        # The area's posts; ``staff`` are those of the stable force (the timeline's are only rostered).
        self.posts = np.flatnonzero(force.area == area)
        self.staff = self.posts if force.n_base < 0 else self.posts[self.posts < force.n_base]
        self.timeline = timeline
        self.refs = RefTable()
        # Holdings are pushed a day ahead (see incidents.IncidentDesk): wide enough for a day's
        # new references on top of what is still held.
        self.own = Holdings(force.n, 16)
        self.team = Holdings(len(force.team_names), 64)
        daily = incidents_per_day(scn, force, self.staff)
        self.area_refs = Holdings(1, max(128, int(4 * daily)))
        self.area_crimes = Holdings(1, max(96, int(2 * daily)))
        self.next_id = (area + 1) * ID_SPAN + reserved_ids
        self.out = Collected()
        self.rng = {k: derive(seed, "shard", self.area_name, k)
                    for k in ("roster", "background", "demand", "incident", "sink", "misuse")}
        ws = (force.team.astype(np.int32) * 16 + 1000)
        self.sink = EventSink(work_dir / "events", midnights, self.days, force.user_id, ws,
                              self.refs.strings, self.rng["sink"], spill, compression)
        self.row_requests: list[tuple] = []
        self.daily: list = []  # called with each day after its roster (see workload.day_clock)
        by_team = np.argsort(force.team[self.posts], kind="stable")
        self._team_sorted = self.posts[by_team]  # the area's posts grouped by team
        teams_sorted = force.team[self._team_sorted]
        self._team_lo = np.searchsorted(teams_sorted, np.arange(len(force.team_names)))
        self._team_hi = np.searchsorted(teams_sorted, np.arange(len(force.team_names)), side="right")
        self.tasking = TaskLog(work_dir / "tasking")
        self.incident_rows: dict[int, int] = {}  # incident id -> its row in out.incidents
        self.notable_media_at: dict[int, np.ndarray] = {}  # notable event -> when each media item exists
        self.roster: dict[str, np.ndarray] = {}
        self._prev_roster: dict[str, np.ndarray] = {}
        self.counters: dict[str, int] = {}
        self._build_samplers()
        self._build_tables()
        if timeline is not None and timeline.policies:
            from snoopbench.simulator.timeline_shard import PolicySink
            self.sink = PolicySink(self, self.sink, timeline.policies, derive(seed, "shard", self.area_name, "policy"))

    def demand_factor(self, day: int) -> float:
        """Incident demand on ``day`` relative to the scenario's own (seasons, surges)."""
        return 1.0 if self.timeline is None else self.timeline.demand_factor(day, self.area)

    def on_roll(self, day: int) -> np.ndarray:
        """The area's posts worked on ``day``."""
        return self.force.active(self.posts, day)

    def rollcall(self, roles: list[int], t_ms: int, days: int = 0) -> np.ndarray:
        """The area's posts in ``roles`` worked from ``t_ms``'s day through ``days`` days after
        (without a timeline: every member of staff of those roles)."""
        staff = self.posts[np.isin(self.force.role[self.posts], roles)]
        if self.force.active_from is None:
            return staff
        day = int(np.searchsorted(self.midnights, t_ms, side="right") - 1)
        f = self.force
        return staff[(f.active_from[staff] <= day) & (day + days < f.active_until[staff])]

    def _build_samplers(self) -> None:
        pop, a = self.pop, self.area
        shared = _shared(pop, self.force)
        in_area_addr = np.flatnonzero(shared["address_area"] == a)
        self.addr_sampler = Sampler(in_area_addr.astype(np.int64), pop.address_pop[in_area_addr])
        local = np.flatnonzero(shared["person_area"] == a)
        self.person_sampler = Sampler(local.astype(np.int64), pop.person_pop[local])
        self.any_person = shared["any_person"]
        self.vehicle_sampler = shared["vehicle"]
        self.lure_vehicle_sampler = shared["lure_vehicle"]
        # True relations of each staff member (for incidents that involve one).
        self.rel_order, self.rel_sorted = shared["rel_order"], shared["rel_sorted"]
        # Vehicles kept by each person (for person -> vehicle links at incidents); people by address.
        self.veh_by_keeper, self.veh_keeper_sorted = shared["veh_by_keeper"], shared["veh_keeper_sorted"]
        self._by_address, self._address_sorted = shared["by_address"], shared["address_sorted"]

    def _build_tables(self) -> None:
        scn = self.scn
        roles = [scn["roles"][r] for r in ROLES]
        self.role_systems = Categorical([r["systems"] for r in roles], SYSTEMS)
        self.system_etypes = Categorical([scn["systems"].get(s, {"entity_types": {}})["entity_types"]
                                                for s in SYSTEMS], ENTITY_TYPES)
        acts = []
        for r in roles:
            for s in SYSTEMS:
                base = scn["systems"].get(s, {"actions": {}})["actions"]
                acts.append(r["actions"].get(s) or base)
        self.role_system_actions = Categorical(acts, ACTIONS)

    # --- ids and references -------------------------------------------------------------------

    def new_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return ids

    def counter(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def household_of(self, person: int) -> np.ndarray:
        """People living at ``person``'s address (themselves included), in id order."""
        a = self.pop.address[person]
        lo, hi = np.searchsorted(self._address_sorted, [a, a + 1])
        return self._by_address[lo:hi]

    def vehicles_of_many(self, group: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vehicles kept by each of ``people`` (in order), with the ``group`` of the person's row."""
        lo = np.searchsorted(self.veh_keeper_sorted, people)
        size = np.searchsorted(self.veh_keeper_sorted, people, side="right") - lo
        at = np.repeat(lo - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))
        return np.repeat(group, size), self.veh_by_keeper[at]

    def request_rows(self, ts: np.ndarray, staff, ref, system: int = 255) -> None:
        """Ask for rows whose system (255: by the user's role), action and entity are drawn in the
        next batch (see :func:`simulator.workload.flush_rows`)."""
        self.row_requests.append((ts, staff, ref, system))

    def relations_of(self, staff: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.rel_sorted, [staff, staff + 1])
        return self.force.rel_person[self.rel_order[lo:hi]]

    def task(self, staff, refs, via: str, since=None, until=None) -> None:
        """Record in tasking that ``staff`` hold ``refs`` from ``since`` (default: the reference's
        creation) until ``until`` (default: open-ended)."""
        staff = np.atleast_1d(np.asarray(staff, np.int64))
        n = len(staff)
        refs = np.asarray(refs, np.int64)
        refs = np.full(n, refs) if refs.ndim == 0 else refs
        if n == 0:
            return
        since = self.refs.created[refs] if since is None else np.asarray(since, np.int64)
        until = np.asarray(-1 if until is None else until, np.int64)
        since = np.full(n, since) if since.ndim == 0 else since
        until = np.full(n, until) if until.ndim == 0 else until
        ok = refs >= 0
        self.tasking.rows(staff[ok], refs[ok], VIA[via], since[ok], until[ok])

    def assign(self, staff, ref: int, since: int, until: int, team: bool = True) -> None:
        """Give ``staff`` a reference to work under (and, through them, their teams)."""
        people = np.unique(np.atleast_1d(np.asarray(staff, np.int64)))
        if ref < 0 or not len(people):
            return
        one = np.zeros(1, np.int64)
        self.assign_groups(people, np.zeros(len(people), np.int64), one + ref, one + since, one + until, team)

    def assign_groups(self, staff: np.ndarray, group: np.ndarray, refs: np.ndarray, since: np.ndarray,
                      until: np.ndarray, team: bool = True) -> None:
        """:meth:`assign` for many groups at once: ``staff[i]`` joins group ``group[i]``, whose
        reference and period are ``refs[g]``, ``since[g]`` and ``until[g]`` (staff unique in a group)."""
        if not len(staff):
            return
        g_ref, g_since, g_until = refs[group], since[group], until[group]
        self.own.push_many(staff, g_ref, g_since, g_until)
        self.tasking.rows(staff, g_ref, VIA["direct"], g_since, g_until)
        if not team:
            return
        n = self.force.n
        pair = unique_sorted(group.astype(np.int64) * n + self.force.team[staff])
        p_group, p_team = pair // n, pair % n
        self.team.push_many(p_team, refs[p_group], since[p_group], until[p_group])
        lo, hi = self._team_lo[p_team], self._team_hi[p_team]
        size = hi - lo
        at = np.repeat(lo - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))
        mates, m_group = self._team_sorted[at], np.repeat(p_group, size)
        keep = ~member(m_group * n + mates, group.astype(np.int64) * n + staff)
        mates, m_group = mates[keep], m_group[keep]
        self.tasking.rows(mates, refs[m_group], VIA["team"], since[m_group], until[m_group])

    # --- who is on duty -----------------------------------------------------------------------

    def set_roster(self, roster: dict[str, np.ndarray]) -> None:
        self._prev_roster = self.roster
        self.roster = roster
        self.out.shifts.append((roster["staff"], roster["start"], roster["end"]))
        keys = ("staff", "start", "end", "overrun")
        if self._prev_roster:
            self._duty = {k: np.concatenate([self._prev_roster[k], roster[k]]) for k in keys}
        else:
            self._duty = dict(roster)
        self._duty_role = self.force.role[self._duty["staff"]]
        self._duty_by_roles: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def duty_subset(self, roles: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Duty-roster entries of staff in ``roles``: (indexes, shift starts, shift ends)."""
        subset = self._duty_by_roles.get(roles)
        if subset is None:
            role_mask = np.zeros(len(ROLES), bool)
            role_mask[[ROLE[r] for r in roles]] = True
            idx = np.flatnonzero(role_mask[self._duty_role])
            subset = self._duty_by_roles[roles] = (idx, self._duty["start"][idx], self._duty["end"][idx])
        return subset

    def on_duty(self, t_ms: float, roles: tuple[str, ...]) -> np.ndarray:
        """Staff of this area on duty at ``t_ms`` in one of ``roles`` (as indexes into the duty
        roster, for :meth:`duty_staff` and :meth:`duty_end`)."""
        idx, start, end = self.duty_subset(roles)
        return idx[(start <= t_ms) & (t_ms < end)]

    def pick_on_duty(self, rng: np.random.Generator, times: np.ndarray, roles: tuple[str, ...],
                     k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each time, up to ``k`` different staff of ``roles`` on duty then, in random order.

        Returns (which time, duty-roster index) pairs, grouped by time in the order given.
        """
        idx, start, end = self.duty_subset(roles)
        if not len(idx) or not len(times):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        on = (start[None, :] <= times[:, None]) & (times[:, None] < end[None, :])
        keys = np.where(on, rng.random(on.shape), 2.0)
        order = np.argsort(keys, axis=1, kind="stable")
        take = np.minimum(k, on.sum(axis=1))
        chosen = np.arange(on.shape[1])[None, :] < take[:, None]
        which = np.nonzero(chosen)[0]
        return which, idx[order[chosen]]

    def duty_staff(self, idx: np.ndarray) -> np.ndarray:
        return self._duty["staff"][idx]

    def duty_end(self, idx: np.ndarray) -> np.ndarray:
        return self._duty["end"][idx] + self._duty["overrun"][idx]
