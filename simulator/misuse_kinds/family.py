"""``family``: looks up relatives (their records, homes and cars) from truth/relations."""

from snoopbench.simulator.misuse_kinds.base import PeopleKind


class Family(PeopleKind):
    name = "family"
    what = "relatives"
    relations = ("family",)
    lookups = (5, 40)
    duration_days_mean = 20.0


KIND = Family()
