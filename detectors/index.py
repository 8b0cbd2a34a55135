"""What the built-in rules know of the force: context tables turned into lookups.

A :class:`ForceIndex` is built once in ``fit`` from the context tables; :meth:`ForceIndex.decode`
wraps a batch of events in a :class:`~detectors.frame.Frame`, which decodes columns into numpy
codes on first use. Every per-event question a rule asks (did the user hold that case? how far
from the user's shift?) is answered for the whole batch by the lookups of
:mod:`detectors.lookups` on packed int64 keys, never by a Python loop per event. People,
addresses and vehicles are in :mod:`detectors.population`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.detectors.columns import (
    DAY_MS, ET, NEVER, QUARTER_MS, VOCAB, codes, column, entity_key, ints, lookup, ms, padded,
    take,
)
from snoopbench.detectors.lookups import HashIndex, IdIndex, Vocabulary
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.population import Population
from snoopbench.detectors.roster import Roster
from snoopbench.detectors.tasking import Holdings


@dataclass(frozen=True)
class Records:
    """Incidents, crimes and records (intel, custody, media): ``rows`` maps an entity key to a
    row of the sorted distinct ``keys``; ``ref`` (own reference code) and ``subject`` (person
    id) by row, padded with -1 for no row (see :func:`~detectors.columns.padded`)."""

    rows: HashIndex
    keys: np.ndarray
    ref: np.ndarray
    subject: np.ndarray


class ForceIndex:
    """Sorted-key lookups over the context tables (each built on first use)."""

    def __init__(self, context: Mapping[str, pa.Table], timezone: str) -> None:
        self.context = context
        self.timezone = timezone
        self._tz = ZoneInfo(timezone)
        self._offsets: dict[int, int] = {}
        self.population = Population(self)

    def table(self, name: str) -> pa.Table | None:
        """A context table, or None if it is missing or empty."""
        t = self.context.get(name)
        return t if t is not None and t.num_rows else None

    def decode(self, batch: pa.RecordBatch | pa.Table) -> Frame:
        """A batch of events, to be decoded column by column as rules ask."""
        return Frame(batch, self)

    # --- staff -------------------------------------------------------------------------------
    @cached_property
    def _staff(self) -> pa.Table | None:
        staff = self.table("staff")
        if staff is None:
            return None
        return staff.take(pa.array(np.argsort(ints(staff, "user_id"), kind="stable")))

    @cached_property
    def user_ids(self) -> np.ndarray:
        """Staff user ids, sorted: a user's index is its position here."""
        return np.zeros(0, np.int64) if self._staff is None else ints(self._staff, "user_id")

    def staff_codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A string column of staff as codes per user index, and the code's names."""
        if self._staff is None:
            return np.zeros(0, np.int64), []
        col = column(self._staff, name, "").cast(pa.string()).fill_null("")
        vocab = pc.unique(col)
        return codes(col, vocab), vocab.to_pylist()

    @cached_property
    def roles(self) -> list[str]:
        """Role names; the code ``len(roles)`` stands for an unknown user."""
        return self.staff_codes("role")[1]

    @cached_property
    def role(self) -> np.ndarray:
        return self.staff_codes("role")[0]

    def role_of(self, user: np.ndarray) -> np.ndarray:
        return np.where(user >= 0, self.role[np.maximum(user, 0)] if len(self.role) else 0,
                        len(self.roles))

    @cached_property
    def unit(self) -> np.ndarray:
        return self.staff_codes("unit")[0]

    @cached_property
    def areas(self) -> pa.Array:
        """Names of the force's areas (staff's and addresses')."""
        found = [column(t, "area", "").cast(pa.string())
                 for name in ("staff", "addresses") if (t := self.table(name)) is not None]
        return pc.unique(pa.chunked_array(found, pa.string()).combine_chunks()).drop_null()

    @cached_property
    def user_area(self) -> np.ndarray:
        """Area code (into :attr:`areas`) of each user (-1 unknown)."""
        if self._staff is None:
            return np.zeros(0, np.int64)
        return codes(column(self._staff, "area", ""), self.areas)

    def away(self, f: Frame) -> np.ndarray:
        """The event points at an address outside the user's own area."""
        return f.memo("away", lambda: self.away_at(f, np.arange(len(f))))

    def away_at(self, f: Frame, idx: np.ndarray, subject: np.ndarray | None = None
                ) -> np.ndarray:
        """:meth:`away` for the events ``idx`` only (``subject``: whom they are about, if known)."""
        if "away" in f.cache:
            return f.cache["away"][idx]
        area = self.population.place_area_at(f, idx, subject)
        user = f.user[idx]
        mine = take(self.user_area, user, user >= 0, -1)
        return (area >= 0) & (mine >= 0) & (area != mine)

    @cached_property
    def staff_person(self) -> np.ndarray:
        """Each user's own person_id (-1 if none)."""
        return np.zeros(0, np.int64) if self._staff is None else ints(self._staff, "person_id")

    @cached_property
    def _user_pos(self) -> IdIndex:
        return IdIndex(self.user_ids)

    def user_index(self, user_ids: np.ndarray) -> np.ndarray:
        """Index of each user id in :attr:`user_ids` (-1 if not on the staff list)."""
        return self._user_pos(user_ids)

    # --- references, cases and who holds them ------------------------------------------------
    @cached_property
    def refs(self) -> pa.Array:
        """Every reference string the context knows (tasking, incidents, crimes, records)."""
        found = [column(t, "reference").cast(pa.string())
                 for name in ("tasking", "incidents", "crimes", "records")
                 if (t := self.table(name)) is not None]
        if not found:
            return pa.array([], pa.string())
        return pc.unique(pa.chunked_array(found).combine_chunks()).drop_null()

    @cached_property
    def ref_codes(self) -> Vocabulary:
        """Codes into :attr:`refs` of a string column, batch after batch."""
        return Vocabulary(self.refs)

    @cached_property
    def case(self) -> np.ndarray:
        """Case code (dense, from 0) of each reference: an incident and the crime recorded from
        it are one case."""
        case = np.arange(len(self.refs), dtype=np.int64)
        inc, crimes = self.table("incidents"), self.table("crimes")
        if inc is not None and crimes is not None:
            cid = ints(crimes, "crime_id")
            order = np.argsort(cid, kind="stable")
            pos, found = lookup(cid[order], ints(inc, "crime_id"))
            a = codes(inc["reference"], self.refs)[found]
            b = codes(crimes["reference"], self.refs)[order][pos[found]]
            ok = (a >= 0) & (b >= 0)
            a, b = a[ok], b[ok]
            for _ in range(64):  # label propagation to the smallest code of each component
                before = case.copy()
                low = np.minimum(case[a], case[b])
                np.minimum.at(case, a, low)
                np.minimum.at(case, b, low)
                case = case[case]
                if np.array_equal(before, case):
                    break
        return np.unique(case, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def case_of(self, ref: np.ndarray) -> np.ndarray:
        """Case codes of reference codes (-1 stays -1)."""
        return self._case_or_none[ref]

    @cached_property
    def _case_or_none(self) -> np.ndarray:
        return padded(self.case, -1)

    @cached_property
    def holdings(self) -> Holdings:
        """Who held which case when, from ``tasking`` (``since``, and ``until`` if present)."""
        t = self.table("tasking")
        n_cases = int(self.case.max()) + 1 if len(self.case) else 0
        if t is None:
            z = np.zeros(0, np.int64)
            return Holdings(z, z, z, z, len(self.user_ids), n_cases)
        until = ms(t["until"]) if "until" in t.schema.names else np.full(t.num_rows, NEVER)
        return Holdings(self.user_index(ints(t, "user_id")),
                        self.case_of(codes(t["reference"], self.refs)), ms(t["since"]), until,
                        len(self.user_ids), n_cases)

    def holds(self, user: np.ndarray, ref: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Whether each user held the case of each reference code at ``ts``."""
        return self.holdings(user, self.case_of(ref), ts)

    def held(self, f: Frame) -> np.ndarray:
        """The typed reference is (of) a case the user held at the time."""
        return f.memo("held", lambda: self.holdings(f.user, self.ref_case(f), f.ts))

    @cached_property
    def records(self) -> Records:
        """Incidents, crimes and records (intel, custody, media) by entity key."""
        keys, refs, subj = [], [], []
        for name, id_col in (("incidents", "incident_id"), ("crimes", "crime_id"),
                             ("records", "entity_id")):
            t = self.table(name)
            if t is None:
                continue
            if name == "records":
                et = codes(t["entity_type"], VOCAB["entity_type"])
            else:
                et = np.full(t.num_rows, ET["incident" if name == "incidents" else "crime"])
            keys.append(entity_key(et, ints(t, id_col)))
            refs.append(codes(t["reference"], self.refs))
            subj.append(ints(t, "subject_id"))
        if not keys:
            z = np.zeros(0, np.int64)
            return Records(HashIndex(z), z, padded(z, -1), padded(z, -1))
        k, r, s = np.concatenate(keys), np.concatenate(refs), np.concatenate(subj)
        k, first = np.unique(k, return_index=True)
        return Records(HashIndex(k), k, padded(r[first], -1), padded(s[first], -1))

    def record_ref(self, etype: np.ndarray, entity: np.ndarray) -> np.ndarray:
        """The reference each record belongs to (crime, incident, intel, custody, media) or -1."""
        return self.records.ref[self.records.rows(entity_key(etype, entity))]

    def record_rows_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """Rows in :attr:`records` of the events ``idx`` (-1: not a known record), each event
        looked up once per frame, whichever rules ask."""
        def compute(at: np.ndarray) -> np.ndarray:
            new = idx[at]
            return self.records.rows(entity_key(f.etype[new], f.entity[new]))
        return f.partial("record_rows", idx, compute)

    def record_ref_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """:meth:`record_ref` of the events ``idx``."""
        return self.records.ref[self.record_rows_at(f, idx)]

    def record_subject_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """The subject (person id) of the records the events ``idx`` open, or -1."""
        return self.records.subject[self.record_rows_at(f, idx)]

    def ref_case(self, f: Frame) -> np.ndarray:
        """Case of the typed reference (-1 if none or unknown)."""
        return f.memo("ref_case", lambda: self.case_of(f.ref))

    def ref_case_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """:meth:`ref_case` for the events ``idx`` only."""
        if "ref_case" in f.cache:
            return f.cache["ref_case"][idx]
        return f.partial("ref_case", idx, lambda at: self.case_of(f.ref_at(idx[at])))

    def explained(self, f: Frame) -> np.ndarray:
        """Explained by a held case: the typed reference's, or the accessed record's own."""
        return f.memo("explained", lambda: self._explained(f))

    def _explained(self, f: Frame) -> np.ndarray:
        """Held, or else a record whose own case the user held: only records (not people,
        vehicles or addresses) have one, and if it is the typed reference's, it was not held."""
        held = self.held(f)
        rec = np.flatnonzero(~held & (f.etype >= ET["crime"]))
        own = self.case_of(self.record_ref_at(f, rec))
        other = (own >= 0) & (own != self.ref_case(f)[rec])
        out = held.copy()
        at = rec[other]
        out[at] = self.holdings(f.user[at], own[other], f.ts[at])
        return out

    def held_at(self, f: Frame, idx: np.ndarray, case: np.ndarray | None = None) -> np.ndarray:
        """:meth:`held` for the events ``idx`` only (for rules that need a few; ``case``: the
        cases of their typed references, if known)."""
        if "held" in f.cache:
            return f.cache["held"][idx]
        if case is None:
            case = self.ref_case_at(f, idx)
        return self.holdings(f.user[idx], case, f.ts[idx])

    def holds_own_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """Whether the user held the case the record opened by each event ``idx`` belongs to."""
        own = np.full(len(idx), -1, np.int64)
        rec = np.flatnonzero(f.etype[idx] >= ET["crime"])
        own[rec] = self.case_of(self.record_ref_at(f, idx[rec]))
        return self.holdings(f.user[idx], own, f.ts[idx])

    def explained_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """:meth:`explained` for the events ``idx`` only."""
        if "explained" in f.cache:
            return f.cache["explained"][idx]
        return self.held_at(f, idx) | self.holds_own_at(f, idx)

    # --- shifts ------------------------------------------------------------------------------
    @cached_property
    def roster(self) -> Roster:
        """The rostered shifts (``shifts``)."""
        t = self.table("shifts")
        if t is None:
            z = np.zeros(0, np.int64)
            return Roster(z, z, z)
        return Roster(self.user_index(ints(t, "user_id")), ms(t["start"]), ms(t["end"]))

    def off_shift_ms(self, f: Frame) -> np.ndarray:
        """Milliseconds from each event to its user's nearest rostered shift (0: on shift)."""
        return f.memo("off_shift_ms", lambda: self.roster.off_shift_ms(f.user, f.ts))

    # --- time --------------------------------------------------------------------------------
    def local_day(self, f: Frame) -> np.ndarray:
        """The force's local calendar day of each event (days since 1970-01-01)."""
        return f.memo("day", lambda: self.local_days(f.ts))

    def local_days(self, ts: np.ndarray) -> np.ndarray:
        if not len(ts):
            return np.zeros(0, np.int64)
        q = ts // QUARTER_MS  # UTC offsets change on quarter hours at most
        lo, hi = int(q.min()), int(q.max())
        if hi - lo < 100_000:
            off = np.array([self._offset(b) for b in range(lo, hi + 1)], np.int64)[q - lo]
        else:
            uq, inv = np.unique(q, return_inverse=True)
            off = np.array([self._offset(int(b)) for b in uq], np.int64)[inv]
        return (ts + off) // DAY_MS

    def _offset(self, quarter: int) -> int:
        got = self._offsets.get(quarter)
        if got is None:
            when = dt.datetime.fromtimestamp(quarter * QUARTER_MS / 1000, dt.timezone.utc)
            offset = when.astimezone(self._tz).utcoffset() or dt.timedelta(0)
            got = self._offsets[quarter] = int(offset.total_seconds()) * 1000
        return got
