"""``neighbour``: looks up people living a few doors away on the actor's street."""

from snoopbench.simulator.misuse_kinds.base import PeopleKind


class Neighbour(PeopleKind):
    name = "neighbour"
    what = "neighbours"
    relations = ("neighbour",)
    lookups = (3, 25)
    duration_days_mean = 10.0


KIND = Neighbour()
