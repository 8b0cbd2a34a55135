"""``personal_dispute``: looks up strangers from the actor's private life (a cab driver, a builder),
one or two people drawn as the episode first acts."""

from snoopbench.simulator.misuse_kinds.base import PeopleKind


class PersonalDispute(PeopleKind):
    name = "personal_dispute"
    what = "someone in a private dispute"
    lookups = (2, 15)
    duration_days_mean = 5.0


KIND = PersonalDispute()
