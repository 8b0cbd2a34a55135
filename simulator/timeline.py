"""Organisational change during the period: the scenario's ``[timeline]`` applied to the world.

Built from the resolved scenario alone (one stream, ``derive(seed, "timeline")``), after the force
and the misuse plan, so a scenario without a timeline builds exactly the world it always did.

- **posts**: every staff index is a post. Joiners and mutual-aid officers are new accounts whose
  posts start on a day; leavers' posts end on one; a member of staff who moves area on a
  reorganisation keeps the account and gets a second post in the new area. Each post is worked
  only between its ``active_from`` and ``active_until`` days (the roster reads them).
- **demand**: a multiplier of incident demand per day and area (seasons, surges).
- **policies**: from a date, look-ups on a system carry a reference more and more often.

Misuse actors never leave or move (their episodes are planned on the stable force), so misuse
goes on through every change; the changes are legitimate work and carry no label. What changed
and when is public: the ``timeline`` and ``staff_changes`` context tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from snoopbench.simulator.behaviour import DAY
from snoopbench.contract.schema import ROLES, SYSTEMS
from snoopbench.simulator.force import Force
from snoopbench.simulator.misuse_plan import MisusePlan
from snoopbench.simulator.population import Population
from snoopbench.simulator.rng import derive, weighted
from snoopbench.simulator.timeline_check import has_timeline, reorganisation_window

NEVER = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Policy:
    """A reference becomes mandatory on ``system`` from ``start_ms``; compliance rises linearly to
    ``target`` over ``ramp_ms``."""

    system: int
    start_ms: int
    ramp_ms: int
    target: float

    def compliance(self, ts: np.ndarray) -> np.ndarray:
        since = np.asarray(ts, np.int64) - self.start_ms
        rise = np.clip(since / self.ramp_ms, 0.0, 1.0) if self.ramp_ms > 0 else (since >= 0).astype(float)
        return np.where(since >= 0, self.target * rise, 0.0)


@dataclass
class Timeline:
    demand: np.ndarray                      # (days, areas) multiplier of incident demand
    policies: list[Policy]
    events: list[dict] = field(default_factory=list)   # rows of context/timeline
    changes: list[tuple] = field(default_factory=list)  # (post, day, change, area, unit) of context/staff_changes

    def demand_factor(self, day: int, area: int) -> float:
        return float(self.demand[day, area])


def _day_of(scn: dict, date: dt.date) -> int:
    return (date - scn["start_date"]).days


class _Posts:
    """New posts, appended to the force's arrays in one go."""

    def __init__(self, force: Force):
        self.force = force
        self.cols: dict[str, list] = {k: [] for k in ("user_id", "person_id", "role", "area", "team",
                                                      "joined_day", "pace", "from", "until", "account")}

    def add(self, *, user_id, person_id, role, area, team, joined_day, pace, start, until, account) -> np.ndarray:
        n = len(user_id)
        first = self.force.n + sum(len(c) for c in self.cols["user_id"])
        for k, v in (("user_id", user_id), ("person_id", person_id), ("role", role), ("area", area),
                     ("team", team), ("joined_day", joined_day), ("pace", pace), ("from", start),
                     ("until", until), ("account", account)):
            self.cols[k].append(np.broadcast_to(np.asarray(v), (n,)).copy())
        return np.arange(first, first + n)

    def apply(self, active_from: np.ndarray, active_until: np.ndarray) -> None:
        f = self.force
        c = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.cols.items()}
        f.user_id = np.concatenate([f.user_id, c["user_id"].astype(np.int32)])
        f.person_id = np.concatenate([f.person_id, c["person_id"].astype(np.int64)])
        f.role = np.concatenate([f.role, c["role"].astype(np.int8)])
        f.area = np.concatenate([f.area, c["area"].astype(np.int16)])
        f.team = np.concatenate([f.team, c["team"].astype(np.int32)])
        f.joined_day = np.concatenate([f.joined_day, c["joined_day"].astype(np.int32)])
        f.pace = np.concatenate([f.pace, c["pace"].astype(float)])
        f.active_from = np.concatenate([active_from, c["from"].astype(np.int32)])
        f.active_until = np.concatenate([active_until, c["until"].astype(np.int32)])
        f.is_account = np.concatenate([np.ones(f.n_base, bool), c["account"].astype(bool)])


def apply_timeline(scn: dict, pop: Population, force: Force, plan: MisusePlan) -> Timeline | None:
    """Change ``force`` in place as the timeline says, and return the timeline (None if none)."""
    if not has_timeline(scn):
        return None
    tl = scn["timeline"]
    rng = derive(scn["seed"], "timeline")
    days, areas = scn["duration_days"], scn["force"]["areas"]
    epoch = (scn["start_date"] - dt.date(1970, 1, 1)).days
    force.n_base = n0 = force.n
    active_from = np.zeros(n0, np.int32)
    active_until = np.full(n0, NEVER, np.int32)
    # Staff who act in a misuse episode stay where they are, so every episode plays out.
    fixed = np.zeros(n0, bool)
    fixed[[e.actor for e in plan.episodes]] = True
    posts = _Posts(force)
    out = Timeline(demand=np.ones((days, len(areas))), policies=[])
    taken_people = set(force.person_id.tolist())
    next_user = int(force.user_id.max()) + 1

    def new_people(n: int) -> np.ndarray:
        """People of working age who are not staff, for new accounts' own records."""
        age = epoch - pop.birth_day
        pool = np.flatnonzero((age > 19 * 365) & (age < 64 * 365))
        got: list[int] = []
        while len(got) < n:
            for p in rng.choice(pool, size=2 * (n - len(got)) + 8).tolist():
                if p not in taken_people and len(got) < n:
                    taken_people.add(p)
                    got.append(p)
        return np.array(got, np.int64)

    def new_users(n: int) -> np.ndarray:
        nonlocal next_user
        ids = next_user + rng.permutation(n)
        next_user += n
        return ids.astype(np.int32)

    def team_in(role: int, area: int) -> int:
        teams = np.flatnonzero((force.team_role == role) & (force.team_area == area))
        return int(rng.choice(teams)) if len(teams) else -1

    # Seasons: every area's demand by calendar month.
    months = tl["seasons"]["demand_factor_by_month"]
    if months:
        month_of = np.array([(scn["start_date"] + dt.timedelta(days=d)).month - 1 for d in range(days)])
        factor = np.asarray(months, float)[month_of]
        out.demand *= factor[:, None]
        # One row per run of days with the same factor other than 1 (a season).
        change = np.flatnonzero(np.r_[True, factor[1:] != factor[:-1]])
        for lo, hi in zip(change, np.r_[change[1:], days]):
            if factor[lo] != 1.0:
                first = scn["start_date"] + dt.timedelta(days=int(lo))
                end = scn["start_date"] + dt.timedelta(days=int(hi))
                name = "Seasonal demand, " + first.strftime("%B") + (
                    "" if (end - dt.timedelta(days=1)).month == first.month
                    else " to " + (end - dt.timedelta(days=1)).strftime("%B"))
                out.events.append(_event("seasons", name, first, end if hi < days else None, areas,
                                         f"incident demand x{factor[lo]:g}"))

    # Turnover: leavers' accounts close, joiners' open, spread over each month.
    to = tl["turnover"]
    leave_day = np.full(n0, NEVER, np.int32)
    if to["leavers_share_per_month"] > 0 or to["joiners_share_per_month"] > 0:
        d = 0
        while d < days:
            first = scn["start_date"] + dt.timedelta(days=d)
            nxt = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            span = min((nxt - first).days, days - d)
            frac = span / 30.44
            n_leave = rng.poisson(to["leavers_share_per_month"] * n0 * frac)
            free = np.flatnonzero(~fixed & (leave_day == NEVER))
            if n_leave and len(free):
                who = rng.choice(free, size=min(n_leave, len(free)), replace=False)
                leave_day[who] = d + rng.integers(0, span, len(who))
            n_join = rng.poisson(to["joiners_share_per_month"] * n0 * frac)
            if n_join:
                role = weighted(rng, np.bincount(force.role[:n0], minlength=len(ROLES)).astype(float), n_join)
                area = force.area[:n0][rng.integers(0, n0, n_join)]
                team = np.array([team_in(r, a) for r, a in zip(role, area)], np.int64)
                ok = team >= 0
                start = d + rng.integers(0, span, int(ok.sum()))
                posts.add(user_id=new_users(int(ok.sum())), person_id=new_people(int(ok.sum())),
                          role=role[ok], area=area[ok], team=team[ok], joined_day=epoch + start,
                          pace=np.exp(rng.normal(0, 1, int(ok.sum()))
                                      * np.array([scn["roles"][r]["user_sigma"] for r in ROLES])[role[ok]]),
                          start=start, until=NEVER, account=True)
            d += span
        active_until = np.minimum(active_until, leave_day)
        out.events.append(_event("turnover", "Joiners and leavers", scn["start_date"], None, areas,
                                 f"{to['joiners_share_per_month']:.2%} of staff join and "
                                 f"{to['leavers_share_per_month']:.2%} leave each month"))

    # Reorganisations: staff move between the areas named, caseloads handed to their old team.
    for r in tl["reorganisations"]:
        idx = [areas.index(a) for a in r["areas"]]
        d0, d1 = (_day_of(scn, x) for x in reorganisation_window(r))
        pairs = [(a, [b for b in idx if b != a]) for a in idx] if r["kind"] == "merge" else [(idx[0], idx[1:])]
        for src, dests in pairs:
            cand = np.flatnonzero((force.area[:n0] == src) & ~fixed & (leave_day == NEVER)
                                  & (active_until == NEVER))
            k = int(round(r["moved_share"] * len(cand)))
            who = np.sort(rng.choice(cand, size=k, replace=False)) if k else np.zeros(0, np.int64)
            dest = np.array(dests)[rng.integers(0, len(dests), len(who))]
            team = np.array([team_in(force.role[w], a) for w, a in zip(who, dest)], np.int64)
            ok = team >= 0
            who, dest, team = who[ok], dest[ok], team[ok]
            day = np.minimum(d0 + rng.integers(0, max(d1 - d0, 1), len(who)), days - 1)
            active_until[who] = day
            posts.add(user_id=force.user_id[who], person_id=force.person_id[who], role=force.role[who],
                      area=dest, team=team, joined_day=force.joined_day[who], pace=force.pace[who],
                      start=day, until=NEVER, account=False)
        what = (f"{' and '.join(r['areas'])} merge" + (f" into {r['unit_name']}" if r["unit_name"] else "")
                if r["kind"] == "merge" else f"{r['areas'][0]} split to {', '.join(r['areas'][1:])}")
        out.events.append(_event("reorganisation", r["name"], r["date"], reorganisation_window(r)[1], r["areas"],
                                 f"{what}: {r['moved_share']:.0%} of staff move over "
                                 f"{r['transition_weeks']:g} weeks; their open cases go to their old team"))

    # Surges: demand multiplied for weeks; mutual-aid officers with new accounts for that time.
    response = ROLES.index("response")
    for s in tl["surges"]:
        a = areas.index(s["area"])
        d0 = _day_of(scn, s["start_date"])
        d1 = min(days, d0 + max(1, round(s["weeks"] * 7)))
        out.demand[d0:d1, a] *= s["demand_factor"]
        n = s["mutual_aid_officers"]
        if n:
            size = scn["roles"]["response"]["team_size"]
            n_teams = -(-n // size)
            rank0 = int(force.team_rank[(force.team_role == response) & (force.team_area == a)].max(initial=-1)) + 1
            t0 = len(force.team_names)
            for t in range(n_teams):
                force.team_names.append(f"{s['area']} Mutual Aid {len(force.team_names) - t0 + 1} ({s['name']})")
            force.team_role = np.concatenate([force.team_role, np.full(n_teams, response, np.int8)])
            force.team_area = np.concatenate([force.team_area, np.full(n_teams, a, np.int16)])
            force.team_rank = np.concatenate([force.team_rank, rank0 + np.arange(n_teams, dtype=np.int32)])
            sigma = scn["roles"]["response"]["user_sigma"]
            posts.add(user_id=new_users(n), person_id=new_people(n), role=response, area=a,
                      team=t0 + np.arange(n) % n_teams, joined_day=epoch + d0,
                      pace=np.exp(rng.normal(0, 1, n) * sigma), start=d0, until=d1, account=True)
        end = scn["start_date"] + dt.timedelta(days=d1)
        out.events.append(_event("surge", s["name"], s["start_date"], end, [s["area"]],
                                 f"incident demand x{s['demand_factor']:g}; {n} mutual-aid officers"))

    for p in tl["policies"]:
        ms = int(dt.datetime.combine(p["date"], dt.time(0), tzinfo=_zone(scn)).timestamp() * 1000)
        out.policies.append(Policy(SYSTEMS.index(p["system"]), ms, int(p["ramp_weeks"] * 7 * DAY),
                                   p["compliance_target"]))
        out.events.append(_event("policy", p["name"], p["date"], None, areas,
                                 f"a reference is mandatory on {p['system']}; compliance rises to "
                                 f"{p['compliance_target']:.0%} over {p['ramp_weeks']:g} weeks"))
    posts.apply(active_from, active_until)
    out.changes = _staff_changes(force)
    return out


def _zone(scn: dict):
    import zoneinfo
    return zoneinfo.ZoneInfo(scn["timezone"])


def _event(kind: str, name: str, start: dt.date, end: dt.date | None, areas: list[str], detail: str) -> dict:
    return {"kind": kind, "name": name, "start": start, "end": end, "areas": ", ".join(areas), "detail": detail}


def _staff_changes(force: Force) -> list[tuple]:
    """(post, day, change) of every post that starts or ends within the period."""
    rows = []
    base = np.arange(force.n) < force.n_base
    for post in np.flatnonzero(~base).tolist():
        rows.append((post, int(force.active_from[post]), "joined" if force.is_account[post] else "moved_in"))
    ends = np.flatnonzero(force.active_until != NEVER)
    moved_out = set(force.user_id[~force.is_account].tolist())
    for post in ends.tolist():
        if base[post] and int(force.user_id[post]) in moved_out:
            change = "moved_out"
        else:
            change = "left"
        rows.append((post, int(force.active_until[post]), change))
    return rows


def timeline_tables(scn: dict, force: Force, tl: Timeline) -> dict[str, pa.Table]:
    """The ``timeline`` and ``staff_changes`` context tables: public facts, no labels."""
    areas = np.array(scn["force"]["areas"])
    ev = tl.events
    timeline = pa.table({
        "kind": pa.array([e["kind"] for e in ev], pa.string()),
        "name": pa.array([e["name"] for e in ev], pa.string()),
        "start": pa.array([e["start"] for e in ev], pa.date32()),
        "end": pa.array([e["end"] for e in ev], pa.date32()),
        "areas": pa.array([e["areas"] for e in ev], pa.string()),
        "detail": pa.array([e["detail"] for e in ev], pa.string()),
    })
    post = np.array([c[0] for c in tl.changes], np.int64)
    day = np.array([c[1] for c in tl.changes], np.int64)
    epoch = (scn["start_date"] - dt.date(1970, 1, 1)).days
    changes = pa.table({
        "user_id": pa.array(force.user_id[post], pa.int32()),
        "date": pa.array((epoch + day).astype(np.int32), pa.date32()),
        "change": pa.array([c[2] for c in tl.changes], pa.string()),
        "unit": pa.array(np.array(force.team_names, dtype=object)[force.team[post]], pa.string()),
        "area": pa.array(areas[force.area[post]], pa.string()),
    }).sort_by([("date", "ascending"), ("user_id", "ascending"), ("change", "ascending")])
    return {"timeline": timeline, "staff_changes": changes}

