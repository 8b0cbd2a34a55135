"""What a misuse kind is: the hooks the planner and the episode process call.

A kind decides *what* is looked up and when its episodes start; the manner (off shift in bursts,
on shift under a held reference, through a proxy) belongs to the skill and lives in
:mod:`simulator.misuse`. Subclass :class:`MisuseKind`, set its class attributes, override the hooks
that differ, and register an instance (see :mod:`simulator.misuse_kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from snoopbench.contract.schema import SKILLS
from snoopbench.simulator.behaviour import DAY
from snoopbench.simulator.shard import ACT, ETYPE, SYS

if TYPE_CHECKING:  # annotations only: the kinds never import the simulator's process modules
    from snoopbench.simulator.misuse import Episode
    from snoopbench.simulator.misuse_plan import MisusePlan, PlannedEpisode
    from snoopbench.simulator.shard import ShardContext

Row = tuple[int, int, int, int]   # (system, action, entity_type, entity_id)


@dataclass
class Planning:
    """What the planner lends a kind while it places one episode: the plan's generator (draw from it
    in a fixed order: the plan is the same in every shard), the calendar, notables and networks."""

    rng: np.random.Generator
    cfg: dict                  # the scenario's [misuse] section
    warm: int                  # warm-up days
    days: int
    midnights: np.ndarray
    notables: list
    networks: list
    rel_by_staff: list[dict[str, list[int]]] = field(default_factory=list)

    def when(self, lo_day: float, hi_day: float) -> int:
        """A time uniformly between two day offsets of the period (UTC ms)."""
        return int(self.midnights[0] + self.rng.uniform(lo_day, max(hi_day, lo_day + 0.01)) * DAY)


class MisuseKind:
    """One kind of misuse. Class attributes describe it; methods are its plan and its recipe."""

    name: ClassVar[str] = ""
    what: ClassVar[str] = ""            # "<actor> looked up {what}" in the episode's summary
    skills: ClassVar[tuple[str, ...]] = SKILLS
    relations: ClassVar[tuple[str, ...]] = ()   # truth/relations kinds the actor must have (their targets)
    # Keys of [misuse.kinds.NAME] a scenario may leave out. Rates default to nothing: a kind costs no
    # episodes until a scenario asks (base.toml states the cited rates).
    lookups: ClassVar[tuple[int, int]] = (2, 20)
    duration_days_mean: ClassVar[float] = 7.0

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"staff_share_per_year": 0.0, "episodes": 0, "skill_mix": {s: 1.0 for s in cls.skills},
                "lookups_min": cls.lookups[0], "lookups_max": cls.lookups[1],
                "duration_days_mean": cls.duration_days_mean, "repeat_share": 0.0,
                "repeat_gap_days_mean": 90.0}

    # -- planning (whole force, before any shard runs) ------------------------------------------
    def unmet(self, cfg: dict) -> str:
        """Why no episode of this kind can happen under this [misuse] section ("": it can)."""
        return ""

    def actor_area(self, pl: Planning, j: int) -> int:
        """The area the j-th episode's actor must work in (-1: anywhere)."""
        return -1

    def schedule(self, pl: Planning, ep: PlannedEpisode, j: int, k: dict) -> None:
        """Set ``ep.start_ms`` (and what the episode is about: a notable, a network)."""
        ep.start_ms = pl.when(pl.warm, pl.days - 1)

    def choose_targets(self, pl: Planning, ep: PlannedEpisode) -> None:
        """Planned targets; by default the actor's true relations of the kinds in ``relations``."""
        if self.relations:
            cands = pl.rel_by_staff[ep.actor].get(self.name, [])
            n = min(len(cands), 1 + int(pl.rng.random() < 0.4))
            ep.targets = [int(x) for x in pl.rng.choice(cands, size=n, replace=False)]

    # -- acting (in the actor's shard) ------------------------------------------------------------
    def session_factor(self, plan: MisusePlan, ep: PlannedEpisode, day_ms: float) -> float:
        """How much likelier than even the actor is to sit down to it on this day."""
        return 1.0

    def recipe(self, ctx: ShardContext, ep: Episode, plan: MisusePlan, k: int, rng, t: int) -> list[Row]:
        """The look-ups of one sitting of at most ``k`` rows at time ``t`` (empty: nothing to see yet)."""
        raise NotImplementedError

    def after_session(self, ep: Episode, public_delay_ms: int) -> None:
        """Bookkeeping after a sitting (e.g. when what was taken surfaces in public)."""

    def summary(self, ep: Episode, role: str, how: str) -> str:
        return (f"A member of {role} looked up {self.what} ({ep.rows} events, {len(set(ep.targets))} targets), "
                f"{how}.")


class PeopleKind(MisuseKind):
    """Looks at particular people: the actor's relations, or strangers from their private life."""

    def recipe(self, ctx, ep, plan, k, rng, t):
        return visit_targets(ctx, ep, k, rng)


def to_arrays(rows: list[Row]):
    """A sitting's rows as the sink's column arrays (system, action, entity_type, entity_id)."""
    if not rows:
        z = np.zeros(0, np.uint8)
        return z, z, z, np.zeros(0, np.int64)
    s, a, e, i = (np.array(c) for c in zip(*rows))
    return s.astype(np.uint8), a.astype(np.uint8), e.astype(np.uint8), i.astype(np.int64)


def print_or_export_last(rows: list[Row]) -> list[Row]:
    """The sitting ends taking a copy: an export from DEMS, a print from anywhere else."""
    s, a, e, i = rows[-1]
    rows[-1] = (s, ACT["export"] if s == SYS["DEMS"] else ACT["print"], e, i)
    return rows


def visit(ctx: ShardContext, person: int, rng) -> Row:
    """One look at a person: their record on PNC or RMS, their address, or a car they keep."""
    u = rng.random()
    if u < 0.35:
        return SYS["PNC"], ACT["search"], ETYPE["person"], person
    if u < 0.7:
        return SYS["RMS"], ACT["view"], ETYPE["person"], person
    if u < 0.85:
        return SYS["RMS"], ACT["view"], ETYPE["address"], int(ctx.pop.address[person])
    _, cars = ctx.vehicles_of_many(np.zeros(1, np.int64), np.array([person]))
    if len(cars):
        return SYS["PNC"], ACT["search"], ETYPE["vehicle"], int(cars[0])
    return SYS["PNC"], ACT["view"], ETYPE["person"], person


def visit_targets(ctx: ShardContext, ep: Episode, k: int, rng) -> list[Row]:
    """``k`` looks at the episode's people (strangers from the actor's life if none were planned)."""
    if not ep.targets:
        ep.targets = [int(x) for x in ctx.person_sampler.draw(rng.random(1 + int(rng.random() < 0.5)))]
    return [visit(ctx, ep.targets[int(rng.integers(len(ep.targets)))], rng) for _ in range(k)]


def after_a_notable(pl: Planning, ep: PlannedEpisode) -> None:
    """The episode is about one of the notable events, and starts within hours of it."""
    nt = pl.notables[int(pl.rng.integers(len(pl.notables)))]
    ep.notable = nt.index
    ep.start_ms = nt.t_ms + int(pl.rng.exponential(0.6 * DAY))


def notable_rows(ctx: ShardContext, ep: Episode, plan: MisusePlan, k: int, rng, t: int) -> list[Row]:
    """``k`` views of a notable case's person, crime, incident, custody record and media existing at ``t``."""
    nt = plan.notables[ep.plan.notable]
    ep.targets = [nt.person]
    if t < nt.t_ms:  # nothing to see before it happens
        return []
    there = ctx.notable_media_at.get(nt.index, np.zeros(0, np.int64)) <= t
    choices = [(SYS["DEMS"], ACT["view"], ETYPE["media"], int(m)) for m in np.asarray(nt.media_ids)[there]]
    choices += [(SYS["RMS"], ACT["view"], ETYPE["person"], nt.person),
                (SYS["RMS"], ACT["view"], ETYPE["crime"], nt.crime_id),
                (SYS["CAD"], ACT["view"], ETYPE["incident"], nt.incident_id)]
    if nt.kind == "celebrity":
        choices.append((SYS["RMS"], ACT["view"], ETYPE["custody"], nt.custody_id))
    idx = rng.choice(len(choices), size=k, replace=k > len(choices))
    return [choices[i] for i in idx]
