"""``colleague``: looks up a close colleague's own record, home and car."""

from snoopbench.simulator.misuse_kinds.base import PeopleKind


class Colleague(PeopleKind):
    name = "colleague"
    what = "a colleague"
    relations = ("colleague",)
    lookups = (3, 20)
    duration_days_mean = 10.0


KIND = Colleague()
