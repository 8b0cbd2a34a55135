"""The scenario format ``snoopbench/scenario/v1``, declared as data.

Domain figures have no defaults here: they live in ``scenarios/base.toml`` with their references,
and other scenarios ``extends`` it. Only structural choices (closed sets, ranges) are code.
"""

from __future__ import annotations

from snoopbench.contract.schema import ACTIONS, ENTITY_TYPES, RELATION_KINDS, ROLES, SCENARIO_FORMAT, SKILLS, SYSTEMS
from snoopbench.simulator.spec import Field, ListOf, MapOf, Section

SHARE = dict(min=0.0, max=1.0)
POS = dict(min=0.0)

HOLDINGS = ("attended_incidents", "handled_incidents", "allocated_crimes", "area_crimes", "own_cases", "none")
CASE_KINDS = ("request", "vetting", "conduct", "intelligence")

REFERENCE = Section({
    "id": Field("str", doc="short id cited by notes"),
    "title": Field("str"),
    "url": Field("str", default=""),
    "note": Field("str", default="", doc="which figures come from it"),
})

FORCE = Section({
    "name": Field("str"),
    "code": Field("str", doc="two-letter code used in references"),
    "areas": Field("list[str]", min_len=1, doc="areas (basic command units); each is a shard"),
    "staff": Field("int", min=20, max=2_000_000, doc="officers, staff and PCSOs with an account"),
    "area_weights": Field("list[float]", default=[], min=0,
                          doc="relative size of each area (staff and population); empty: equal"),
})

POPULATION = Section({
    "people_per_staff": Field("float", min=5, max=5000, doc="people known to the force's systems per staff member"),
    "people_per_address": Field("float", min=1, max=10),
    "addresses_per_street": Field("int", min=2, max=1000),
    "vehicles_per_person": Field("float", **POS),
    "female_share": Field("float", **SHARE),
    "surname_pool": Field("int", min=50, max=100_000, doc="distinct surnames, frequency-weighted"),
    "street_pool": Field("int", min=20, max=100_000, doc="distinct street names"),
    "popularity_zipf": Field("float", min=0.0, max=3.0,
                             doc="Zipf exponent of how often people, vehicles and addresses are looked up"),
    "area_size_m": Field("int", min=1000, max=500_000, doc="side of each area's square, metres"),
})

RELATIONS = Section({
    "family_per_staff": Field("float", **POS),
    "partner_share": Field("float", **SHARE),
    "ex_partner_share": Field("float", **SHARE),
    "friends_per_staff": Field("float", **POS),
    "colleagues_per_staff": Field("float", **POS, doc="close colleagues, drawn within the unit and area"),
    "local_share": Field("float", **SHARE, default=0.7,
                         doc="staff living in the area they police, and relatives and friends living near them"),
    "declared_share": MapOf(Field("float", **SHARE), keys=RELATION_KINDS,
                            doc="share of each kind of tie declared at vetting"),
})

ROTA = Section({
    "type": Field("str", choices=("cycle", "weekdays"),
                  doc="cycle: teams rotate through `cycle`, staggered; weekdays: Monday to Friday"),
    "cycle": Field("list[str]", min_len=1, doc="shift names, or 'off', one per day"),
    "shift_start_hours": MapOf(Field("float", min=0, max=24)),
    "shift_hours": MapOf(Field("float", min=1, max=16)),
    "start_jitter_minutes": Field("float", min=0, max=240),
    "absence_share": Field("float", **SHARE, doc="rostered shifts lost to leave, sickness and training"),
    "overrun_share": Field("float", **SHARE, doc="shifts that run past their rostered end"),
    "overrun_minutes_mean": Field("float", min=0, max=600),
})

DEMAND = Section({
    "calls_999_per_officer_per_day": Field("float", **POS),
    "officer_roles": Field("list[str]", choices=ROLES, min_len=1),
    "contacts_per_999_call": Field("float", min=1, max=10, doc="999, 101 and online contacts per 999 call"),
    "incident_share": Field("float", **SHARE, doc="contacts that become CAD incidents"),
    "hourly_weights": Field("list[float]", length=24, min=0, doc="relative demand by local hour"),
    "weekday_weights": Field("list[float]", length=7, min=0, doc="relative demand Monday to Sunday"),
    "weekend_night_factor": Field("float", min=0, max=10, doc="extra demand Fri/Sat 20:00-04:00"),
    "grade_shares": MapOf(Field("float", **SHARE), keys=("immediate", "priority", "scheduled", "resolution")),
    "cad_touches_min": Field("int", min=1, max=500),
    "cad_touches_max": Field("int", min=1, max=500),
    "attending_officers_mean": Field("float", min=1, max=10),
    "people_per_incident_mean": Field("float", min=0, max=20),
    "vehicles_per_incident_mean": Field("float", min=0, max=20),
    "pnc_checks_per_person": Field("float", min=0, max=10),
    "rms_views_per_person": Field("float", min=0, max=50),
    "control_room_pnc_share": Field("float", **SHARE, doc="PNC checks made over the radio by the control room"),
    "bwv_clips_per_officer_mean": Field("float", min=0, max=50),
    "crime_share": Field("float", **SHARE, doc="attended incidents recorded as crimes"),
    "serious_crime_share": Field("float", **SHARE),
    "dispatch_minutes": MapOf(Field("float", min=0, max=10_000),
                              keys=("immediate", "priority", "scheduled", "resolution"),
                              doc="mean minutes from call to arrival, by grade"),
    "attendance_minutes_mean": Field("float", min=1, max=2000),
    "investigation_days_mean": Field("float", min=1, max=1000),
    "arrest_share": Field("float", **SHARE, doc="crimes with a suspect taken into custody"),
    "intel_per_crime_mean": Field("float", min=0, max=50),
    "crime_scene_media_mean": Field("float", min=0, max=500, doc="photos and clips per serious crime"),
    "foreign_reference_share": Field("float", **SHARE,
                                     doc="referenced tasks typed with a reference the user does not hold"),
    "team_reference_share": Field("float", **SHARE, doc="referenced tasks under a team-mate's reference"),
    "staff_relation_incident_share": Field("float", **SHARE, default=0.0,
                                           doc="incidents involving a relation or neighbour of an officer on duty"),
    "open_incidents_per_officer": Field("float", min=0, max=100, default=0.0,
                                        doc="incidents each attending officer holds when the period starts"),
    "open_cases_per_investigator": Field("float", min=0, max=200, default=0.0,
                                         doc="open investigations each investigator holds when the period starts"),
})

ROLE = Section({
    "share": Field("float", **SHARE, doc="share of the workforce"),
    "rota": Field("str", doc="a key of [rotas]"),
    "team_size": Field("int", min=1, max=200),
    "holds": Field("str", choices=HOLDINGS, doc="where the role's task references come from"),
    "events_per_shift_median": Field("float", min=0, max=100_000,
                                     doc="background events per rostered shift, besides incident work"),
    "events_per_shift_sigma": Field("float", min=0, max=3, doc="lognormal sigma from shift to shift"),
    "user_sigma": Field("float", min=0, max=3, doc="lognormal sigma of each user's own pace"),
    "referenced_share": Field("float", **SHARE, doc="background tasks done under a held reference"),
    "task_rows_mean": Field("float", min=1, max=1000, doc="events per task (a burst of look-ups)"),
    "case_kind": Field("str", choices=CASE_KINDS, default="request",
                       doc="for holds = own_cases: what the role's own cases are about"),
    "cases_per_week": Field("float", min=0, max=500, default=0.0, doc="own cases opened per member a week"),
    "case_days_mean": Field("float", min=0.1, max=3650, default=14.0, doc="how long an own case stays open"),
    "systems": MapOf(Field("float", **POS), keys=SYSTEMS, doc="system mix of background events"),
    "actions": MapOf(MapOf(Field("float", **POS), keys=ACTIONS), keys=SYSTEMS,
                     doc="per-system action mix overriding [systems.X.actions] for this role"),
})

SYSTEM = Section({
    "entity_types": MapOf(Field("float", **POS), keys=ENTITY_TYPES),
    "actions": MapOf(Field("float", **POS), keys=ACTIONS),
})

# One table per misuse kind asked for. The names are the registry's (simulator.misuse_kinds), checked
# when the file is read, and each kind fills in the keys a file leaves out (its own look-ups, duration
# and skills; no episodes unless asked).
MISUSE_KIND = Section({
    "staff_share_per_year": Field("float", min=0, max=1, doc="share of staff starting such an episode in a year"),
    "episodes": Field("int", min=0, max=100_000, default=0, doc="episodes at least, whatever the share"),
    "skill_mix": MapOf(Field("float", **POS), keys=SKILLS),
    "lookups_min": Field("int", min=1, max=10_000),
    "lookups_max": Field("int", min=1, max=10_000),
    "duration_days_mean": Field("float", min=0.01, max=3650),
    "repeat_share": Field("float", min=0, max=1, default=0.0,
                          doc="share of episodes whose actor offends again (a further episode of the kind)"),
    "repeat_gap_days_mean": Field("float", min=0.01, max=3650, default=90.0,
                                  doc="mean days from an episode's end to the same actor's next one"),
})

MISUSE = Section({
    "kinds": MapOf(MISUSE_KIND, doc="per misuse kind: a registered kind's name (see simulator.misuse_kinds)"),
    "proxy_via_control_room_share": Field("float", **SHARE, default=0.3,
                                          doc="expert look-ups made over the radio by the control room"),
    "notables": Field("int", min=0, max=10_000, default=0,
                      doc="notable events (a murder, a celebrity's arrest) in the period"),
    "notable_media": Field("int", min=1, max=500, default=12, doc="media items of each notable event"),
    "notable_team_size": Field("int", min=1, max=100, default=6, doc="investigators legitimately on each"),
    "notable_briefing_readers": Field("int", min=0, max=1000, default=8,
                                      doc="press office, command and analysts who read each notable case"),
    "press_local_story_share": Field("float", **SHARE, default=0.5,
                                     doc="press leaks about a local crime in the news rather than a flagged case"),
    "notable_briefing_print_share": Field("float", **SHARE, default=0.4,
                                          doc="briefing readers who print a record for a statement or pack"),
    "networks": Field("int", min=0, max=10_000, default=0, doc="criminal networks known to the force"),
    "network_size_min": Field("int", min=1, max=500, default=4),
    "network_size_max": Field("int", min=1, max=500, default=12),
    "operations_per_network_per_year": Field("float", min=0, max=365, default=4.0),
    "analyst_network_searches_per_week": Field("float", min=0, max=500, default=2.0,
                                               doc="legitimate searches of each network by analysts"),
    "public_delay_days_mean": Field("float", min=0, max=365, default=3.0,
                                    doc="days until exfiltrated media appears in public"),
})

CALIBRATION = Section({
    "events_per_shift_median": MapOf(Field("float", min=0, max=100_000), keys=ROLES,
                                     doc="target median audit events per rostered shift (all work), by role"),
    "events_per_shift_factor_max": Field("float", min=1, max=100,
                                         doc="a role's median passes within this factor of its target, either way"),
    "response_p90_over_median_min": Field("float", min=1, max=100,
                                          doc="heavy tail: response events per shift, 90th percentile over median"),
    "rms_share_min": Field("float", **SHARE, doc="RMS share of all events, at least"),
    "pnc_share_range": Field("list[float]", length=2, **SHARE, doc="PNC share of all events, [low, high]"),
    "pnd_over_pnc_max": Field("float", **POS, doc="PND events per PNC event, at most (PND is the rarer)"),
    "explained_share_range": Field("list[float]", length=2, **SHARE,
                                   doc="legitimate events under a reference the user holds in tasking"),
    "off_shift_share_max": Field("float", **SHARE, doc="legitimate events outside the user's rostered shifts"),
    "peak_over_trough_hour_min": Field("float", min=1, max=1000,
                                       doc="events in the busiest local hour over the quietest, at least"),
    "trough_local_hour_range": Field("list[int]", length=2, min=0, max=24,
                                     doc="the quietest local hour h has low <= h < high"),
    "person_top_share": Field("float", min=0.0001, max=1, doc="the most looked-up share of people"),
    "person_top_lookup_share_min": Field("float", **SHARE, doc="share of person look-ups they draw, at least"),
    "relation_lookups_per_1000_staff_days_min": Field(
        "float", **POS, doc="legitimate look-ups of a user's own relations (their record, vehicle or home), at least"),
    "events_per_day_per_1000_staff_range": Field("list[float]", length=2, **POS,
                                                 doc="events per local day per 1,000 staff, [low, high]"),
    "roles_present": Field("list[str]", choices=ROLES, doc="roles every dataset's staff must include"),
    "systems_present": Field("list[str]", choices=SYSTEMS, doc="systems every dataset's events must include"),
}, doc="Realism targets `snoopbench profile` checks a dataset against.")

CANARIES = Section({
    "people_per_1000_staff": Field("float", min=0, max=1000, default=0.0,
                                   doc="planted person records no legitimate work touches"),
    "vehicles_per_1000_staff": Field("float", min=0, max=1000, default=0.0,
                                     doc="planted vehicle records, kept by planted people"),
    "lure_factor": Field("float", min=0, max=10_000, default=20.0,
                         doc="how much likelier a browsing misuser lands on a canary than on an average record"),
})

# Organisational change during the period (all optional; a scenario without any is the stable world
# it always was). The rates are the scenario's own, cited or marked as assumptions in its comments.
SEASONS = Section({
    "demand_factor_by_month": Field("list[float]", default=[], min=0, max=10,
                                    doc="incident demand of each calendar month, January first, "
                                        "relative to the scenario's own (12 numbers; empty: none)"),
})

TURNOVER = Section({
    "joiners_share_per_month": Field("float", min=0, max=0.5, default=0.0,
                                     doc="new accounts a month, as a share of the staff"),
    "leavers_share_per_month": Field("float", min=0, max=0.5, default=0.0,
                                     doc="accounts closed a month, as a share of the staff"),
})

SURGE = Section({
    "name": Field("str", doc="what happened, as the force would name it"),
    "area": Field("str", doc="one of force.areas"),
    "start_date": Field("date"),
    "weeks": Field("float", min=0.1, max=52),
    "demand_factor": Field("float", min=1, max=20, doc="incident demand in the area, times the usual"),
    "mutual_aid_officers": Field("int", min=0, max=100_000, default=0,
                                 doc="response officers lent by other forces for the surge: new "
                                     "accounts with no history, closed when it ends"),
})

REORGANISATION = Section({
    "name": Field("str"),
    "kind": Field("str", choices=("merge", "split"),
                  doc="merge: the areas pool their staff, who move both ways; "
                      "split: staff of the first area move to the others"),
    "date": Field("date"),
    "areas": Field("list[str]", min_len=2, doc="areas of force.areas; for split, the first is split"),
    "unit_name": Field("str", default="", doc="the new command's name (merge), for the timeline table"),
    "moved_share": Field("float", **SHARE, doc="staff of each area (of the first, for split) who move"),
    "transition_weeks": Field("float", min=0, max=52, default=4.0,
                              doc="moves are spread over this many weeks from the date"),
})

POLICY = Section({
    "name": Field("str"),
    "system": Field("str", choices=SYSTEMS, doc="the system on which a reference becomes mandatory"),
    "date": Field("date"),
    "compliance_target": Field("float", **SHARE,
                               doc="share of otherwise unreferenced look-ups on the system that carry "
                                   "a reference once compliance has risen"),
    "ramp_weeks": Field("float", min=0, max=104, default=6.0, doc="weeks compliance takes to rise"),
})

TIMELINE = Section({
    "seasons": SEASONS,
    "turnover": TURNOVER,
    "surges": ListOf(SURGE),
    "reorganisations": ListOf(REORGANISATION),
    "policies": ListOf(POLICY),
}, doc="Organisational change: legitimate work, never labelled (docs/scenarios.md, Timeline).")

SCENARIO = Section({
    "format": Field("str", choices=(SCENARIO_FORMAT,)),
    "name": Field("str"),
    "description": Field("str", default=""),
    "extends": Field("str", default=""),
    "seed": Field("int", min=0, max=2**63 - 1),
    "start_date": Field("date"),
    "duration_days": Field("int", min=1, max=3660),
    "warmup_days": Field("int", min=0, max=3660, doc="unlabelled history given to detectors to fit on"),
    "timezone": Field("str"),
    "references": ListOf(REFERENCE),
    "force": FORCE,
    "population": POPULATION,
    "relations": RELATIONS,
    "rotas": MapOf(ROTA),
    "demand": DEMAND,
    "roles": MapOf(ROLE, keys=ROLES),
    "systems": MapOf(SYSTEM, keys=SYSTEMS),
    "misuse": MISUSE,
    "calibration": CALIBRATION,
    "canaries": CANARIES,
    "timeline": TIMELINE,
})
