"""People, addresses and vehicles of the force's systems, as sorted-key lookups.

Who an event is about (a person, a vehicle's keeper, a record's subject) and where (an address,
or that person's home), with grid positions for distances. Built lazily from the ``people``,
``addresses`` and ``vehicles`` context tables by :class:`detectors.index.ForceIndex`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.detectors.columns import ET, codes, column, entity_key, ints, padded
from snoopbench.detectors.lookups import HashIndex, IdIndex

if TYPE_CHECKING:
    from snoopbench.detectors.frame import Frame
    from snoopbench.detectors.index import ForceIndex


class Population:
    """Lookups over people, addresses and vehicles (each built on first use)."""

    def __init__(self, index: ForceIndex) -> None:
        self.index = index
        self._with_fill: dict[tuple[str, int], np.ndarray] = {}  # people columns, padded

    @cached_property
    def _people(self) -> dict[str, np.ndarray]:
        t = self.index.table("people")
        if t is None:
            z = np.zeros(0, np.int64)
            self._person_pos = IdIndex(z)
            return {"id": z, "address": z, "surname": z, "surname_n": z, "female": z.astype(bool)}
        pid = ints(t, "person_id")
        order = np.argsort(pid, kind="stable")
        self._person_pos = IdIndex(pid[order])
        surname = pc.utf8_lower(column(t, "surname", "").cast(pa.string()).fill_null(""))
        vocab = pc.unique(surname)
        sc = codes(surname, vocab)
        sex = column(t, "sex", "").cast(pa.string()).fill_null("")
        return {"id": pid[order], "address": ints(t, "address_id")[order], "surname": sc[order],
                "surname_n": np.bincount(sc, minlength=len(vocab)),
                "female": pc.equal(sex, "F").to_numpy(zero_copy_only=False)[order]}

    @property
    def n_people(self) -> int:
        return len(self._people["id"])

    def person_pos(self, person: np.ndarray) -> np.ndarray:
        """Row of each person id in the (sorted) people table, -1 if unknown."""
        self._people  # noqa: B018 - builds the id index
        return self._person_pos(person)

    def people_column(self, name: str, pos: np.ndarray, fill: int = -1) -> np.ndarray:
        """A people column at rows ``pos`` (``fill`` where pos is -1)."""
        col = self._people[name]
        if not len(col):
            return np.full(len(pos), fill, col.dtype)
        key = (name, fill)
        if key not in self._with_fill:
            self._with_fill[key] = padded(col, fill)
        return self._with_fill[key][pos]

    def surname_count(self, surname: np.ndarray) -> np.ndarray:
        """How many people share each surname code (0 for -1)."""
        n = self._people["surname_n"]
        return np.where(surname >= 0, n[np.maximum(surname, 0)] if len(n) else 0, 0)

    @cached_property
    def _vehicles(self) -> tuple[IdIndex, np.ndarray]:
        t = self.index.table("vehicles")
        if t is None:
            return IdIndex(np.zeros(0, np.int64)), np.full(1, -1, np.int64)
        vid = ints(t, "vehicle_id")
        order = np.argsort(vid, kind="stable")
        return IdIndex(vid[order]), padded(ints(t, "keeper_id")[order], -1)

    def keeper(self, vehicle: np.ndarray) -> np.ndarray:
        """Registered keeper of each vehicle id (-1 if unknown)."""
        pos_of, keeper = self._vehicles
        return keeper[pos_of(vehicle)]

    @cached_property
    def _addresses(self) -> dict[str, np.ndarray]:
        t = self.index.table("addresses")
        if t is None:
            z = np.zeros(0, np.int64)
            return {"pos": IdIndex(z), "x": z, "y": z, "street": z, "area": z}
        aid = ints(t, "address_id")
        order = np.argsort(aid, kind="stable")
        area = codes(column(t, "area", "").cast(pa.string()), self.index.areas)[order]
        x, y = ints(t, "easting_m", 0)[order], ints(t, "northing_m", 0)[order]
        return {"pos": IdIndex(aid[order]), "x": x, "y": y, "street": ints(t, "street_id")[order],
                "area": area, "x0": padded(x, 0), "y0": padded(y, 0), "area0": padded(area, -1)}

    @property
    def n_addresses(self) -> int:
        return len(self._addresses["x"])

    def address_pos(self, address: np.ndarray) -> np.ndarray:
        """Row of each address id in the (sorted) addresses table, -1 if unknown."""
        return self._addresses["pos"](address)

    def address_area(self, address: np.ndarray) -> np.ndarray:
        """Area code (into ``index.areas``) of address ids, -1 if unknown."""
        pos = self.address_pos(address)
        if not self.n_addresses:
            return np.full(len(pos), -1, np.int64)
        return self._addresses["area0"][pos]

    def address_xy(self, address: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(easting, northing, known) of address ids, in metres."""
        return self.address_xy_at(self.address_pos(address))

    def address_xy_at(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(easting, northing, known) of address rows (-1: unknown)."""
        a = self._addresses
        found = pos >= 0
        if not len(a["x"]):
            return np.zeros(len(pos)), np.zeros(len(pos)), found
        return a["x0"][pos], a["y0"][pos], found

    def distance_m(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between address ids in metres (inf where either is unknown)."""
        ax, ay, ak = self.address_xy(a)
        bx, by, bk = self.address_xy(b)
        return np.where(ak & bk, np.hypot(ax - bx, ay - by), np.inf)

    def subject(self, f: Frame) -> np.ndarray:
        """The person each event is about: the person, a vehicle's keeper, a record's subject."""
        return f.memo("subject", lambda: self.subject_at(f, np.arange(len(f))))

    def subject_at(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """:meth:`subject` for the events ``idx`` only."""
        if "subject" in f.cache:
            return f.cache["subject"][idx]
        etype, entity = f.etype[idx], f.entity[idx]
        out = np.where(etype == ET["person"], entity, -1)
        m = np.flatnonzero(etype == ET["vehicle"])
        out[m] = self.keeper(entity[m])
        m = np.flatnonzero(etype >= ET["intel"])  # intel, custody, media
        out[m] = self.index.record_subject_at(f, idx[m])
        return out

    def subject_pos_at(self, f: Frame, idx: np.ndarray, subject: np.ndarray | None = None
                       ) -> np.ndarray:
        """:meth:`person_pos` of the subjects of the events ``idx`` (``subject``: theirs, if
        known), each event's found once per frame."""
        def compute(at: np.ndarray) -> np.ndarray:
            return self.person_pos(self.subject_at(f, idx[at]) if subject is None
                                   else subject[at])
        return f.partial("subject_pos", idx, compute)

    def place(self, f: Frame) -> np.ndarray:
        """The address each event points at: the address itself, or its subject's home."""
        return f.memo("place", lambda: self.place_at(f, np.arange(len(f))))

    def place_at(self, f: Frame, idx: np.ndarray, subject: np.ndarray | None = None,
                 subject_pos: np.ndarray | None = None) -> np.ndarray:
        """:meth:`place` for the events ``idx`` only (``subject``: theirs, if known, and
        ``subject_pos``: its :meth:`person_pos`)."""
        if "place" in f.cache:
            return f.cache["place"][idx]
        if subject_pos is None:
            subject_pos = self.person_pos(self.subject_at(f, idx) if subject is None else subject)
        home = self.people_column("address", subject_pos)
        return np.where(f.etype[idx] == ET["address"], f.entity[idx], home)

    def place_area_at(self, f: Frame, idx: np.ndarray, subject: np.ndarray | None = None
                      ) -> np.ndarray:
        """``address_area(place_at(f, idx, subject))``, through each person's home area."""
        if "place" in f.cache:
            return self.address_area(f.cache["place"][idx])
        area = self._home_area[self.subject_pos_at(f, idx, subject)]
        at = np.flatnonzero(f.etype[idx] == ET["address"])
        area[at] = self.address_area(f.entity[idx[at]])
        return area

    @cached_property
    def _home_area(self) -> np.ndarray:
        """The area of each person's home (by row), then that of address -1 for nobody's."""
        return padded(self.address_area(self._people["address"]),
                      self.address_area(np.full(1, -1, np.int64))[0])


class Popularity:
    """How often each person (as the subject of any access) and each record was touched in the
    warm-up: repeat victims, offenders and places are everybody's work; a stranger's record
    touched without a reason is not."""

    def __init__(self, history: Frame, scale: float = 10.0) -> None:
        pop = history.index.population
        subj = pop.subject(history)
        keys, counts = np.unique(self._key(history, np.arange(len(history)), subj),
                                 return_counts=True)
        counts = counts.astype(np.float64)
        person = (keys >= 0) & (keys < _RECORD)
        self.people, self.people_n = IdIndex(keys[person]), padded(counts[person], 0.0)
        self.records, self.records_n = HashIndex(keys[~person]), padded(counts[~person], 0.0)
        self.by_row = padded(self._seen(pop.people_column("id", np.arange(pop.n_people))), 0.0)
        self.by_record = padded(self._seen(history.index.records.keys), 0.0)
        self.scale = scale

    @staticmethod
    def _key(f: Frame, idx: np.ndarray, subject: np.ndarray) -> np.ndarray:
        """The person an event is about, else the record (its key, whose top byte is set)."""
        return np.where(subject >= 0, subject, entity_key(f.etype[idx], f.entity[idx]))

    def _seen(self, key: np.ndarray) -> np.ndarray:
        """Times each key was seen: people through a direct table, records through a hash."""
        seen = self.people_n[self.people(key)]
        other = np.flatnonzero((key < 0) | (key >= _RECORD))
        seen[other] = self.records_n[self.records(key[other])]
        return seen

    def obscurity(self, f: Frame, idx: np.ndarray, subject: np.ndarray | None = None
                  ) -> np.ndarray:
        """``1 / sqrt(1 + n / scale)`` for events ``idx`` touching someone seen ``n`` times
        (``subject``: whom they are about, if known)."""
        pop = f.index.population
        if subject is None:
            subject = pop.subject_at(f, idx)
        row = pop.subject_pos_at(f, idx, subject)
        seen = self.by_row[row]  # people on file and records by their row, the rest by key
        other = np.flatnonzero(row < 0)
        record = other[subject[other] < 0]
        row = f.index.record_rows_at(f, idx[record])
        seen[record] = self.by_record[row]
        other = np.r_[other[subject[other] >= 0], record[row < 0]]
        seen[other] = self._seen(self._key(f, idx[other], subject[other]))
        return 1.0 / np.sqrt(1.0 + seen / self.scale)


_RECORD = 1 << 56  # keys from here on are records' (entity_key with a record type)
