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

from simulator.incidents import GRADES, new_crimes, new_incidents
from simulator.rng import derive
from simulator.schema import ROLES
from simulator.shard import ShardContext

DAY = 86_400_000
HOUR = 3_600_000
CASE_PREFIX = {"request": "DR", "vetting": "VET", "conduct": "PSD", "intelligence": "INT"}


def _holders(ctx: ShardContext, holds: str) -> np.ndarray:
    roles = [i for i, r in enumerate(ROLES) if ctx.scn["roles"][r]["holds"] == holds]
    return ctx.staff[np.isin(ctx.force.role[ctx.staff], roles)]


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
    for s in _holders(ctx, "own_cases"):
        kind = ctx.scn["roles"][ROLES[ctx.force.role[s]]]
        for _ in range(rng.poisson(kind["cases_per_week"] * kind["case_days_mean"] / 7)):
            t = t0 - int(rng.uniform(0, kind["case_days_mean"]) * DAY)
            open_case(ctx, rng, int(s), t, t0 + int(rng.exponential(kind["case_days_mean"] / 2) * DAY) + DAY)


class Casework:
    """Each day, staff on duty in case-holding roles may open new cases early in their shift."""

    def __init__(self, ctx: ShardContext):
        self.ctx = ctx
        self.rng = derive(ctx.seed, "casework", ctx.area)
        self.holders = _holders(ctx, "own_cases")
        self.rate = np.array([ctx.scn["roles"][r]["cases_per_week"] for r in ROLES]) / 5.0
        self.days = np.array([ctx.scn["roles"][r]["case_days_mean"] for r in ROLES])

    def work_day(self, day: int) -> None:
        ctx, rng = self.ctx, self.rng
        r = ctx.roster
        mine = np.isin(r["staff"], self.holders)
        on, starts = r["staff"][mine], r["start"][mine]
        n_new = rng.poisson(self.rate[ctx.force.role[on]])
        for s, t, n in zip(on.tolist(), starts.tolist(), n_new.tolist()):
            for _ in range(n):
                t_open = int(t + rng.uniform(0, 4) * HOUR)
                length = int((rng.exponential(self.days[ctx.force.role[s]]) + 0.5) * DAY)
                open_case(ctx, rng, s, t_open, t_open + length)


def open_case(ctx: ShardContext, rng, staff: int, t: int, until: int) -> int:
    """A case of the staff member's role, with the people and records it concerns."""
    kind = ctx.scn["roles"][ROLES[ctx.force.role[staff]]]["case_kind"]
    year = dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).strftime("%y")
    label = f"{CASE_PREFIX[kind]}/{year}/{ctx.area + 1}{ctx.counter('case-' + kind):05d}"
    related = int(ctx.area_refs.pick(np.zeros(1, np.int64), np.array([t]), rng.random(1))[0])
    if kind == "vetting":
        if rng.random() < 0.4:
            # Re-vetting a serving colleague: their own record and their relatives'.
            colleague = int(rng.choice(ctx.staff))
            people = np.concatenate([[ctx.force.person_id[colleague]],
                                     rng.permutation(ctx.relations_of(colleague))[:5]])
        else:
            applicant = int(ctx.any_person.draw(rng.random(1))[0])
            household = np.flatnonzero(ctx.pop.address == ctx.pop.address[applicant])[:4]
            people = np.concatenate([[applicant], household[household != applicant]])
        related = -1
    elif kind == "conduct":
        colleague = int(rng.choice(ctx.staff))
        people = np.array([ctx.force.person_id[colleague]])
    elif kind == "intelligence":
        people = ctx.person_sampler.draw(rng.random(int(rng.integers(3, 9))))
    else:
        people = ctx.any_person.draw(rng.random(int(rng.integers(1, 3))))
    crime = int(ctx.refs.crime_id[related]) if related >= 0 else -1
    inc = int(ctx.refs.incident_id[related]) if related >= 0 else -1
    ref = ctx.refs.add(label, t, ctx.area, incident_id=inc, crime_id=crime)
    if related >= 0:
        ctx.refs.copy_pools(related, ref)
        ctx.refs.counts["person"][ref] = 0
    ctx.refs.attach(ref, "person", np.asarray(people, np.int64))
    ctx.refs.attach(ref, "address", ctx.pop.address[np.asarray(people, np.int64)])
    ctx.refs.attach(ref, "vehicle", ctx.vehicles_of(np.asarray(people, np.int64)[:2]))
    ctx.assign(staff, ref, t, until, team=False)
    return ref
