"""Every `neighbour` tie in truth/relations lives on the staff member's own street (read through the
tables a user gets: staff -> people -> addresses), in every shipped scenario's world."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from snoopbench.contract.schema import RELATION_KINDS
from snoopbench.simulator import scenario
from snoopbench.simulator.force import area_weights, build_force
from snoopbench.simulator.population import build_population
from snoopbench.simulator.world import build_world, world_tables

SMALL = ("tiny", "base", "misuse-zoo", "small-force")
LARGE = ("large-force", "england-wales")


def _streets_of_neighbour_ties(staff: pa.Table, people: pa.Table, addresses: pa.Table, rel: pa.Table):
    """(street_id, street) of the staff member's home and of the neighbour's, one row per tie."""
    nb = rel.filter(pa.compute.equal(rel["kind"], "neighbour"))
    person_of_user = dict(zip(staff["user_id"].to_pylist(), staff["person_id"].to_pylist()))
    address_of = people.sort_by("person_id")["address_id"].to_numpy()
    assert (people.sort_by("person_id")["person_id"].to_numpy() == np.arange(len(address_of))).all()
    by_id = addresses.sort_by("address_id")
    street_id, street = by_id["street_id"].to_numpy(), by_id["street"].to_numpy(zero_copy_only=False)
    home = address_of[np.array([person_of_user[u] for u in nb["user_id"].to_pylist()], np.int64)]
    there = address_of[nb["person_id"].to_numpy()]
    return (street_id[home], street[home]), (street_id[there], street[there]), home, there


@pytest.mark.parametrize("name", SMALL)
def test_neighbours_live_on_the_staff_members_street(name: str) -> None:
    tables = world_tables(build_world(scenario.load(scenario.find(name)).data))
    (own_id, own_name), (nb_id, nb_name), home, there = _streets_of_neighbour_ties(
        tables["staff"], tables["people"], tables["addresses"], tables["relations"])
    assert len(own_id) > 100, "the scenario draws neighbour ties"
    off = np.flatnonzero(own_id != nb_id)
    assert not len(off), f"{len(off)} of {len(own_id)} neighbour ties live on another street"
    assert (own_name == nb_name).all()
    assert (home != there).all(), "a neighbour lives at another address"


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_neighbours_live_on_the_staff_members_street_in_large_forces(name: str) -> None:
    """The public and the force only (no misuse plan, no canaries, no tables): the large worlds' ties."""
    scn = scenario.load(scenario.find(name)).data
    n_people = int(scn["force"]["staff"] * scn["population"]["people_per_staff"])
    pop = build_population(scn["population"], n_people, area_weights(scn["force"]), scn["seed"], scn["start_date"])
    force = build_force(scn, pop, scn["seed"])
    nb = force.rel_kind == RELATION_KINDS.index("neighbour")
    home = pop.address[force.person_id[force.rel_staff[nb]]]
    there = pop.address[force.rel_person[nb]]
    assert nb.sum() > 1000
    assert (pop.addr_street[home] == pop.addr_street[there]).all()
    assert (home != there).all()
