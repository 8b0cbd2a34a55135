"""Caseloads: what staff already hold when the period starts, and the cases office roles open.

- ``seed_caseload``: officers start the period with recent incidents and investigators with open
  investigations (created before the start, in context and tasking), so day one is not a cold start.
- ``Casework``: roles whose own cases justify their look-ups open them as they work: information
  requests (back office), vetting files (applicants, and staff and their relatives when re-vetted),
  conduct investigations (professional standards, about colleagues), intelligence developments
  (analysts). These are the legitimate look-ups of staff and their families that relationship rules
  fire on.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from snoopbench.simulator.arrays import ragged
from snoopbench.simulator.behaviour import DAY, HOUR
from snoopbench.simulator.incidents import GRADES, new_crimes, new_incidents
from snoopbench.simulator.rng import derive
from snoopbench.contract.schema import ROLES
from snoopbench.simulator.shard import ShardContext

CASE_PREFIX = {"request": "DR", "vetting": "VET", "conduct": "PSD", "intelligence": "INT"}


def _holders(ctx: ShardContext, holds: str, posts: bool = False) -> np.ndarray:
    """Staff whose role holds ``holds`` (``posts``: with the timeline's posts, for daily work)."""
    roles = [i for i, r in enumerate(ROLES) if ctx.scn["roles"][r]["holds"] == holds]
    staff = ctx.posts if posts else ctx.staff
    return staff[np.isin(ctx.force.role[staff], roles)]


def seed_caseload(ctx: ShardContext) -> None:
    """Open incidents and investigations held at the start of the period."""
    rng = derive(ctx.seed, "caseload", ctx.area)
    dem = ctx.scn["demand"]
    t0 = int(ctx.midnights[0])

    def incidents_of(holders: np.ndarray, per_holder: float, days_back: tuple[float, float], grades=None):
        staff = np.repeat(holders, rng.poisson(per_holder, len(holders)))
        t = t0 - (rng.uniform(*days_back, len(staff)) * DAY).astype(np.int64)
        order = np.argsort(t, kind="stable")
        staff, t = staff[order], t[order]
        grade = [GRADES[g] for g in rng.integers(3, size=len(t))] if grades is None else [grades] * len(t)
        refs, people, _ = new_incidents(ctx, rng, t, grade)
        return staff, t, refs, people

    staff, t, refs, _ = incidents_of(_holders(ctx, "attended_incidents"), dem["open_incidents_per_officer"], (0.1, 6))
    ctx.assign_groups(staff, np.arange(len(staff)), refs, t, t + 7 * DAY)
    staff, t, refs, _ = incidents_of(_holders(ctx, "handled_incidents"), 2.0, (0.1, 1))
    ctx.assign_groups(staff, np.arange(len(staff)), refs, t, t + DAY, team=False)
    mean_days = dem["investigation_days_mean"]
    staff, t, refs, people = incidents_of(_holders(ctx, "allocated_crimes"), dem["open_cases_per_investigator"],
                                          (0.5, 2 * mean_days), "scheduled")
    until = t + ((rng.exponential(mean_days, len(t)) + 1) * DAY).astype(np.int64)
    late = until <= t0
    until[late] = t0 + (rng.exponential(mean_days / 2, int(late.sum())) * DAY).astype(np.int64) + DAY
    crefs = new_crimes(ctx, rng, t + HOUR, refs, people, np.full(len(t), -1, np.int64))
    ctx.assign_groups(staff, np.arange(len(staff)), crefs, t + HOUR, until)
    holders = _holders(ctx, "own_cases")
    role = ctx.force.role[holders]
    per_week = np.array([ctx.scn["roles"][r]["cases_per_week"] for r in ROLES])[role]
    days = np.array([ctx.scn["roles"][r]["case_days_mean"] for r in ROLES])[role]
    n = rng.poisson(per_week * days / 7)
    who, mean = np.repeat(holders, n), np.repeat(days, n)
    t = t0 - (rng.uniform(0, 1, len(who)) * mean * DAY).astype(np.int64)
    until = t0 + (rng.exponential(mean / 2) * DAY).astype(np.int64) + DAY
    open_cases(ctx, rng, who, t, until)


class Casework:
    """Each day, staff on duty in case-holding roles may open new cases early in their shift."""

    def __init__(self, ctx: ShardContext):
        self.ctx = ctx
        self.rng = derive(ctx.seed, "casework", ctx.area)
        self.holders = _holders(ctx, "own_cases", posts=True)
        self.rate = np.array([ctx.scn["roles"][r]["cases_per_week"] for r in ROLES]) / 5.0
        self.days = np.array([ctx.scn["roles"][r]["case_days_mean"] for r in ROLES])

    def work_day(self, day: int) -> None:
        ctx, rng = self.ctx, self.rng
        r = ctx.roster
        mine = np.isin(r["staff"], self.holders)
        on, starts = r["staff"][mine], r["start"][mine]
        n_new = rng.poisson(self.rate[ctx.force.role[on]])
        who = np.repeat(on, n_new)
        t_open = np.repeat(starts, n_new) + (rng.uniform(0, 4, len(who)) * HOUR).astype(np.int64)
        length = ((rng.exponential(self.days[ctx.force.role[who]]) + 0.5) * DAY).astype(np.int64)
        open_cases(ctx, rng, who, t_open, t_open + length)


def open_cases(ctx: ShardContext, rng, staff: np.ndarray, t: np.ndarray, until: np.ndarray) -> np.ndarray:
    """Cases of each staff member's role (opened at ``t``, held until ``until``), with the people
    and records they concern; returns their references."""
    n = len(staff)
    if not n:
        return np.zeros(0, np.int64)
    order = np.argsort(t, kind="stable")
    staff, t, until = staff[order].astype(np.int64), t[order].astype(np.int64), until[order].astype(np.int64)
    roles = ctx.scn["roles"]
    kinds = [roles[ROLES[r]]["case_kind"] for r in ctx.force.role[staff].tolist()]
    labels = [f"{CASE_PREFIX[k]}/{_year(x)}/{ctx.area + 1}{ctx.counter('case-' + k):05d}"
              for k, x in zip(kinds, t.tolist())]
    # A case may grow out of a recent reference of the area (never a vetting file).
    related = ctx.area_refs.pick_of(0, t, rng.random(n))
    vetting = np.array([k == "vetting" for k in kinds])
    related[vetting] = -1
    people: list[np.ndarray] = []
    for i, k in enumerate(kinds):
        if k == "vetting":
            if rng.random() < 0.4:
                # Re-vetting a serving colleague: their own record and their relatives'.
                colleague = int(rng.choice(ctx.staff))
                p = np.concatenate([[ctx.force.person_id[colleague]],
                                    rng.permutation(ctx.relations_of(colleague))[:5]])
            else:
                applicant = int(ctx.any_person.draw(rng.random(1))[0])
                household = ctx.household_of(applicant)[:4]
                p = np.concatenate([[applicant], household[household != applicant]])
        elif k == "conduct":
            p = np.array([ctx.force.person_id[int(rng.choice(ctx.staff))]])
        elif k == "intelligence":
            p = ctx.person_sampler.draw(rng.random(int(rng.integers(3, 9))))
        else:
            p = ctx.any_person.draw(rng.random(int(rng.integers(1, 3))))
        people.append(np.asarray(p, np.int64))
    has = related >= 0
    refs = ctx.refs.add_many(labels, t, ctx.area, incident_id=np.where(has, ctx.refs.incident_id[related], -1),
                             crime_id=np.where(has, ctx.refs.crime_id[related], -1))
    ctx.refs.copy_pools(related[has], refs[has])
    ctx.refs.counts["person"][refs[has]] = 0
    group, rank = ragged([len(p) for p in people])
    who = np.concatenate(people)
    ctx.refs.attach_many(refs[group], "person", who)
    ctx.refs.attach_many(refs[group], "address", ctx.pop.address[who])
    v_group, vehicles = ctx.vehicles_of_many(group[rank < 2], who[rank < 2])
    ctx.refs.attach_many(refs[v_group], "vehicle", vehicles)
    ctx.assign_groups(staff, np.arange(n), refs, t, until, team=False)
    return refs


def _year(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, dt.timezone.utc).strftime("%y")
