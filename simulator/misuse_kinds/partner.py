"""``partner``: looks up a partner or an ex-partner, and who they now live with or drive."""

from snoopbench.simulator.misuse_kinds.base import PeopleKind


class Partner(PeopleKind):
    name = "partner"
    what = "a partner or ex-partner"
    relations = ("partner", "ex_partner")
    lookups = (8, 60)
    duration_days_mean = 30.0


KIND = Partner()
