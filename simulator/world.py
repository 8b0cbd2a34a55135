"""The world every shard shares: the public, the force, the calendar.

Built deterministically from the resolved scenario alone, so each worker process can build it
itself (once, cached) instead of receiving it; the main process writes its context tables.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from snoopbench.simulator.force import Force, area_weights, build_force, local_midnights_ms
from snoopbench.simulator.misuse_plan import MisusePlan, plan_misuse
from snoopbench.simulator.population import COLOURS, MAKES, Population, build_population
from snoopbench.simulator.rng import derive
from snoopbench.simulator.timeline import Timeline, apply_timeline, timeline_tables
from snoopbench.contract.schema import RELATION_KINDS, ROLES


@dataclass
class World:
    scn: dict
    pop: Population
    force: Force
    midnights: np.ndarray
    plan: MisusePlan
    timeline: Timeline | None = None


def build_world(scn: dict) -> World:
    seed = scn["seed"]
    n_people = int(scn["force"]["staff"] * scn["population"]["people_per_staff"])
    pop = build_population(scn["population"], n_people, area_weights(scn["force"]), seed, scn["start_date"])
    force = build_force(scn, pop, seed)
    excluded = np.concatenate([force.person_id, force.rel_person])
    pop.plant_canaries(scn["canaries"], scn["force"]["staff"], excluded, derive(seed, "canaries"))
    midnights = local_midnights_ms(scn["start_date"], scn["duration_days"], scn["timezone"])
    plan = plan_misuse(scn, pop, force, midnights)
    return World(scn, pop, force, midnights, plan, apply_timeline(scn, pop, force, plan))


@functools.lru_cache(maxsize=2)
def _cached(blob: bytes) -> World:
    return build_world(pickle.loads(blob))


def world_for(scn: dict) -> World:
    """The world of a resolved scenario, built once per process."""
    return _cached(pickle.dumps(scn))


def world_tables(w: World) -> dict[str, pa.Table]:
    """Context tables known before the simulation runs, and the true relations."""
    pop, force, scn = w.pop, w.force, w.scn
    pools = pop.pools
    areas = np.array(scn["force"]["areas"])
    people = pa.table({
        "person_id": np.arange(pop.n_people, dtype=np.int64),
        "surname": pools.surnames[pop.surname],
        "forenames": np.where(pop.female, pools.female_names[pop.forename % len(pools.female_names)],
                              pools.male_names[pop.forename % len(pools.male_names)]),
        "date_of_birth": pa.array(pop.birth_day.astype(np.int32), pa.date32()),
        "sex": np.where(pop.female, "F", "M"),
        "address_id": pop.address,
    })
    st = pop.addr_street
    addresses = pa.table({
        "address_id": np.arange(pop.n_addresses, dtype=np.int64),
        "house_number": pop.addr_number,
        "street_id": st,
        "street": pools.street_names[pop.street_name[st]],
        "town": pools.towns[pop.street_town[st]],
        "postcode": pop.street_postcode[st],
        "area": areas[pop.street_area[st]],
        "easting_m": pop.addr_x,
        "northing_m": pop.addr_y,
    })
    vehicles = pa.table({
        "vehicle_id": np.arange(len(pop.veh_keeper), dtype=np.int64),
        "vrm": pop.veh_vrm,
        "make": MAKES[pop.veh_make],
        "colour": COLOURS[pop.veh_colour],
        "keeper_id": pop.veh_keeper,
    })
    rotas = np.array([scn["roles"][r]["rota"] for r in ROLES])
    order = np.argsort(force.user_id, kind="stable")
    if force.is_account is not None:  # one row per account: a move's second post is not one
        order = order[force.is_account[order]]
    staff = pa.table({
        "user_id": force.user_id[order],
        "person_id": force.person_id[order],
        "role": np.array(ROLES)[force.role[order]],
        "unit": np.array(force.team_names)[force.team[order]],
        "area": areas[force.area[order]],
        "rota": rotas[force.role[order]],
        "joined": pa.array(force.joined_day[order], pa.date32()),
    })
    kinds = np.array(RELATION_KINDS)
    rel = pa.table({
        "user_id": force.user_id[force.rel_staff],
        "person_id": force.rel_person,
        "kind": kinds[force.rel_kind],
    })
    rel = rel.sort_by([("user_id", "ascending"), ("person_id", "ascending")])
    declared_mask = force.rel_declared
    declared = pa.table({
        "user_id": force.user_id[force.rel_staff[declared_mask]],
        "person_id": force.rel_person[declared_mask],
        "kind": kinds[force.rel_kind[declared_mask]],
    }).sort_by([("user_id", "ascending"), ("person_id", "ascending")])
    lists, etypes, eids = [], [], []
    for nw in w.plan.networks:
        for et, ids in (("person", nw.members), ("vehicle", nw.vehicles), ("intel", nw.intel_ids)):
            lists += [f"network-{nw.index + 1:02d}"] * len(ids)
            etypes += [et] * len(ids)
            eids += [int(x) for x in ids]
    watchlists = pa.table({"list": pa.array(lists, pa.string()), "entity_type": pa.array(etypes, pa.string()),
                           "entity_id": pa.array(eids, pa.int64())})
    s_type, s_id, s_reason, s_since = [], [], [], []
    for nt in w.plan.notables:
        reason = "public_figure" if nt.kind == "celebrity" else "high_profile_case"
        items = [("person", nt.person), ("incident", nt.incident_id), ("crime", nt.crime_id)]
        items += [("media", int(m)) for m in nt.media_ids]
        if nt.kind == "celebrity":
            items.append(("custody", nt.custody_id))
        for et, i in items:
            s_type.append(et)
            s_id.append(int(i))
            s_reason.append(reason)
            s_since.append(nt.t_ms)
    sensitive = pa.table({"entity_type": pa.array(s_type, pa.string()), "entity_id": pa.array(s_id, pa.int64()),
                          "reason": pa.array(s_reason, pa.string()),
                          "since": pa.array(s_since, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))})
    canaries = pa.table({
        "entity_type": pa.array(["person"] * len(pop.canary_people) + ["vehicle"] * len(pop.canary_vehicles)),
        "entity_id": pa.array(np.concatenate([pop.canary_people, pop.canary_vehicles]), pa.int64()),
    })
    out = {"people": people, "addresses": addresses, "vehicles": vehicles, "staff": staff,
           "declared_relations": declared, "relations": rel, "watchlists": watchlists,
           "sensitive_records": sensitive, "canaries": canaries}
    if w.timeline is not None:
        out.update(timeline_tables(scn, force, w.timeline))
    return out
