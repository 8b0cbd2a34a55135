"""The dataset format, declared once: every writer and reader uses these schemas.

Format ``snoopbench/dataset/v1``. A dataset directory holds::

    manifest.json              format, scenario name, seed, version, per-file sha256 and rows, fingerprint
    scenario.toml              the fully resolved scenario
    events/part-NNNNN.parquet  audit events ordered by (ts, event_id) within and across parts
    context/<table>.parquet    what a force itself holds
    truth/<table>.parquet      labels, episodes and true relations (or in a sealed folder)

Columns beyond the ones the contract names may be added; none is ever removed or retyped without
a new format version.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

DATASET_FORMAT = "snoopbench/dataset/v1"
RESULTS_FORMAT = "snoopbench/results/v1"
SCENARIO_FORMAT = "snoopbench/scenario/v1"

TS = pa.timestamp("ms", tz="UTC")

# Closed vocabularies. Events store them as strings; the simulator carries them as small integer
# codes (the index in these tuples) and turns them into strings only when writing.
SYSTEMS: tuple[str, ...] = ("PNC", "PND", "RMS", "CAD", "DEMS", "ANPR")
ACTIONS: tuple[str, ...] = (
    "search", "view", "create", "update", "print", "export", "download", "share", "delete",
)
ENTITY_TYPES: tuple[str, ...] = (
    "person", "vehicle", "address", "crime", "incident", "intel", "custody", "media",
)
ROLES: tuple[str, ...] = (
    "response", "neighbourhood", "pcso", "investigator", "control_room", "analyst", "custody",
    "disclosure", "vetting", "professional_standards", "back_office",
)
RELATION_KINDS: tuple[str, ...] = (
    "family", "partner", "ex_partner", "neighbour", "colleague", "friend",
)
EPISODE_KINDS: tuple[str, ...] = (
    "family", "partner", "colleague", "neighbour", "personal_dispute", "pursuit", "curiosity",
    "leak_criminal", "leak_press", "media_exfiltration",
)
SKILLS: tuple[str, ...] = ("naive", "careful", "expert")


@dataclass(frozen=True)
class Table:
    """One dataset table: where it lives, its Arrow schema, and what each column means."""

    name: str
    folder: str
    schema: pa.Schema
    doc: str

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}.parquet"


def _schema(*fields: tuple[str, pa.DataType, bool, str]) -> pa.Schema:
    return pa.schema(
        [pa.field(n, t, nullable=nul, metadata={"doc": d}) for n, t, nul, d in fields]
    )


EVENTS = Table("part", "events", _schema(
    ("event_id", pa.int64(), False, "unique, rising with time; says nothing but the position in time"),
    ("ts", TS, False, "when the access happened (UTC, millisecond precision)"),
    ("user_id", pa.int32(), False, "the account that made the access (staff.user_id)"),
    ("system", pa.string(), False, "PNC, PND, RMS, CAD, DEMS or ANPR"),
    ("action", pa.string(), False, "search, view, create, update, print, export, download, share, delete"),
    ("entity_type", pa.string(), False, "person, vehicle, address, crime, incident, intel, custody, media"),
    ("entity_id", pa.int64(), False, "id of the record accessed, in the table of its entity_type"),
    ("reference", pa.string(), True, "the incident or case reference typed as justification; null if none"),
    ("workstation_id", pa.int32(), False, "the terminal the access came from"),
), "Audit events of every system, one row per access.")

STAFF = Table("staff", "context", _schema(
    ("user_id", pa.int32(), False, "account id used in events"),
    ("person_id", pa.int64(), False, "the staff member's own record in people"),
    ("role", pa.string(), False, "one of the roles in snoopbench.contract.schema.ROLES"),
    ("unit", pa.string(), False, "team or department"),
    ("area", pa.string(), False, "the area (basic command unit) the unit belongs to"),
    ("rota", pa.string(), False, "continuous, day or office"),
    ("joined", pa.date32(), False, "date the account was created"),
), "Officers and staff with an account.")

SHIFTS = Table("shifts", "context", _schema(
    ("user_id", pa.int32(), False, "staff.user_id"),
    ("start", TS, False, "rostered start"),
    ("end", TS, False, "rostered end"),
), "Rostered duty periods. Overruns and overtime are not in the roster.")

PEOPLE = Table("people", "context", _schema(
    ("person_id", pa.int64(), False, "person id"),
    ("surname", pa.string(), False, ""),
    ("forenames", pa.string(), False, ""),
    ("date_of_birth", pa.date32(), False, ""),
    ("sex", pa.string(), False, "F or M"),
    ("address_id", pa.int64(), False, "home address (addresses.address_id)"),
), "Everyone known to the force's systems, staff included.")

ADDRESSES = Table("addresses", "context", _schema(
    ("address_id", pa.int64(), False, ""),
    ("house_number", pa.int32(), False, ""),
    ("street_id", pa.int32(), False, "addresses on one street share it"),
    ("street", pa.string(), False, ""),
    ("town", pa.string(), False, ""),
    ("postcode", pa.string(), False, ""),
    ("area", pa.string(), False, "policing area"),
    ("easting_m", pa.int32(), False, "grid position in metres, for distances"),
    ("northing_m", pa.int32(), False, "grid position in metres, for distances"),
), "Addresses; neighbours are people on the same street.")

VEHICLES = Table("vehicles", "context", _schema(
    ("vehicle_id", pa.int64(), False, ""),
    ("vrm", pa.string(), False, "registration mark"),
    ("make", pa.string(), False, ""),
    ("colour", pa.string(), False, ""),
    ("keeper_id", pa.int64(), False, "registered keeper (people.person_id)"),
), "Vehicles and their registered keepers.")

INCIDENTS = Table("incidents", "context", _schema(
    ("incident_id", pa.int64(), False, ""),
    ("reference", pa.string(), False, "the CAD reference staff type"),
    ("opened", TS, False, ""),
    ("area", pa.string(), False, ""),
    ("kind", pa.string(), False, "call category"),
    ("grade", pa.string(), False, "immediate, priority, scheduled or resolution"),
    ("crime_id", pa.int64(), True, "the crime recorded from it, if any"),
), "Incidents logged in command and control.")

CRIMES = Table("crimes", "context", _schema(
    ("crime_id", pa.int64(), False, ""),
    ("reference", pa.string(), False, "the crime / case reference staff type"),
    ("recorded", TS, False, ""),
    ("area", pa.string(), False, ""),
    ("offence", pa.string(), False, ""),
    ("serious", pa.bool_(), False, "investigated by a major-crime team"),
), "Recorded crimes; each is also a case reference for its investigation.")

RECORDS = Table("records", "context", _schema(
    ("entity_type", pa.string(), False, "intel, custody or media"),
    ("entity_id", pa.int64(), False, ""),
    ("reference", pa.string(), True, "the incident or case it belongs to"),
    ("created", TS, False, ""),
    ("created_by", pa.int32(), True, "user who created it"),
    ("subject_id", pa.int64(), True, "the person it is about, if any"),
    ("category", pa.string(), False, "e.g. bwv_clip, crime_scene_photo, post_mortem, custody_photo, intel_report"),
), "Intelligence reports, custody records and media items.")

TASKING = Table("tasking", "context", _schema(
    ("user_id", pa.int32(), False, ""),
    ("reference", pa.string(), False, "incident or case reference the user holds"),
    ("since", TS, False, "when the user came to hold it"),
    ("until", TS, True, "when the task ended (null: still open at the end of the period)"),
    ("via", pa.string(), False, "direct or team"),
), "Who legitimately holds which reference, directly or through their team.")

DECLARED_RELATIONS = Table("declared_relations", "context", _schema(
    ("user_id", pa.int32(), False, ""),
    ("person_id", pa.int64(), False, ""),
    ("kind", pa.string(), False, "family, partner, ex_partner, neighbour, colleague, friend"),
), "Relations declared by staff at vetting: a part of the true ones.")

WATCHLISTS = Table("watchlists", "context", _schema(
    ("list", pa.string(), False, "the watchlist, e.g. a criminal network under investigation"),
    ("entity_type", pa.string(), False, "person, vehicle or intel"),
    ("entity_id", pa.int64(), False, ""),
), "People, vehicles and intelligence the force flags as belonging to criminal networks.")

SENSITIVE = Table("sensitive_records", "context", _schema(
    ("entity_type", pa.string(), False, ""),
    ("entity_id", pa.int64(), False, ""),
    ("reason", pa.string(), False, "why the force restricts it: high_profile_case, public_figure"),
    ("since", TS, False, "when it was flagged"),
), "Records the force flags as high-profile or restricted.")

CANARIES = Table("canaries", "context", _schema(
    ("entity_type", pa.string(), False, "person or vehicle"),
    ("entity_id", pa.int64(), False, ""),
), "Planted records no legitimate work touches: a look-up of one is a tripwire.")

TIMELINE = Table("timeline", "context", _schema(
    ("kind", pa.string(), False, "seasons, turnover, reorganisation, surge or policy"),
    ("name", pa.string(), False, "what the force calls it"),
    ("start", pa.date32(), False, "the local date it starts"),
    ("end", pa.date32(), True, "the local date it ends (exclusive); null if it lasts"),
    ("areas", pa.string(), False, "the areas it concerns, comma-separated"),
    ("detail", pa.string(), False, "what changes, in words"),
), "Organisational change the force knows of: legitimate, never a label. Only with a timeline.")

STAFF_CHANGES = Table("staff_changes", "context", _schema(
    ("user_id", pa.int32(), False, "staff.user_id"),
    ("date", pa.date32(), False, "the local date of the change"),
    ("change", pa.string(), False, "joined (a new account), left (closed), moved_out, moved_in"),
    ("unit", pa.string(), False, "the unit joined, left or moved to or from"),
    ("area", pa.string(), False, "that unit's area"),
), "Accounts opened and closed and staff moved during the period. Only with a timeline.")

LABELS = Table("labels", "truth", _schema(
    ("event_id", pa.int64(), False, ""),
    ("episode_id", pa.int32(), False, ""),
), "One row per misuse event.")

EPISODES = Table("episodes", "truth", _schema(
    ("episode_id", pa.int32(), False, ""),
    ("kind", pa.string(), False, "one of snoopbench.contract.schema.EPISODE_KINDS"),
    ("actor_id", pa.int32(), False, "the user who misused the systems"),
    ("skill", pa.string(), False, "naive, careful or expert"),
    ("start", TS, False, "first labelled event"),
    ("end", TS, False, "last labelled event"),
    ("proxy_id", pa.int32(), True, "for an expert working through a colleague, that colleague"),
    ("targets", pa.list_(pa.int64()), False, "person ids (or other entity ids) the episode was after"),
    ("n_events", pa.int32(), False, "labelled events"),
    ("summary", pa.string(), False, "a short case summary a reviewer can read"),
    ("detectable_from", TS, False, "when the first trace reached the logs"),
    ("public_at", TS, True, "for media exfiltration: when the copy appeared in public"),
), "Misuse episodes.")

RELATIONS = Table("relations", "truth", _schema(
    ("user_id", pa.int32(), False, ""),
    ("person_id", pa.int64(), False, ""),
    ("kind", pa.string(), False, "family, partner, ex_partner, neighbour, colleague, friend"),
), "True ties of staff; declared_relations is the declared part.")

CONTEXT_TABLES: tuple[Table, ...] = (
    STAFF, SHIFTS, PEOPLE, ADDRESSES, VEHICLES, INCIDENTS, CRIMES, RECORDS, TASKING,
    DECLARED_RELATIONS, WATCHLISTS, SENSITIVE, CANARIES,
)
#: Context tables written only when the scenario has a ``[timeline]``.
TIMELINE_TABLES: tuple[Table, ...] = (TIMELINE, STAFF_CHANGES)
TRUTH_TABLES: tuple[Table, ...] = (LABELS, EPISODES, RELATIONS)


def empty(table: Table) -> pa.Table:
    return table.schema.empty_table()


def conform(table: Table, data: pa.Table) -> pa.Table:
    """Cast ``data`` to the declared schema (column order and types), failing loudly on a mismatch."""
    names = table.schema.names
    missing = [n for n in names if n not in data.column_names]
    if missing:
        raise ValueError(f"{table.path}: missing columns {missing}")
    return data.select(names).cast(table.schema)
