"""References (incidents and crimes) with the entities each touches, and who holds them.

A reference is what staff type to justify an access. Each carries small fixed-width pools of the
people, vehicles, addresses and records it concerns, so a burst of look-ups under it is a vectorised
index into those pools. Holdings are ring buffers per staff member and per team, with expiry times:
what a user may pick a reference from when working.
"""

from __future__ import annotations

import numpy as np

from simulator.schema import ENTITY_TYPES

# Pool widths per entity type (the entity types a reference can point at).
POOL_WIDTH = {"person": 8, "vehicle": 4, "address": 3, "intel": 4, "custody": 2, "media": 8}
POOL_TYPES = tuple(POOL_WIDTH)
ET = {name: i for i, name in enumerate(ENTITY_TYPES)}


class RefTable:
    """Growable columns of references: string, own record (incident or crime) and entity pools."""

    def __init__(self, capacity: int = 4096):
        self.strings: list[str] = []
        self.n = 0
        self.incident_id = np.full(capacity, -1, np.int64)
        self.crime_id = np.full(capacity, -1, np.int64)
        self.created = np.zeros(capacity, np.int64)
        self.area = np.zeros(capacity, np.int16)
        self.pools = {t: np.full((capacity, w), -1, np.int64) for t, w in POOL_WIDTH.items()}
        self.counts = {t: np.zeros(capacity, np.int16) for t in POOL_WIDTH}

    def _grow(self) -> None:
        cap = len(self.created) * 2
        for name in ("incident_id", "crime_id", "created", "area"):
            old = getattr(self, name)
            new = np.full(cap, -1, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        for t, w in POOL_WIDTH.items():
            p = np.full((cap, w), -1, np.int64)
            p[: self.n] = self.pools[t][: self.n]
            self.pools[t] = p
            c = np.zeros(cap, np.int16)
            c[: self.n] = self.counts[t][: self.n]
            self.counts[t] = c

    def add(self, string: str, created_ms: int, area: int, incident_id: int = -1, crime_id: int = -1) -> int:
        if self.n == len(self.created):
            self._grow()
        r = self.n
        self.n += 1
        self.strings.append(string)
        self.incident_id[r] = incident_id
        self.crime_id[r] = crime_id
        self.created[r] = created_ms
        self.area[r] = area
        return r

    def attach(self, r: int, etype: str, ids) -> None:
        """Add entities to a reference's pool, as many as it has room for."""
        c = int(self.counts[etype][r])
        ids = np.asarray(ids, dtype=np.int64)[: POOL_WIDTH[etype] - c]
        self.pools[etype][r, c:c + len(ids)] = ids
        self.counts[etype][r] = c + len(ids)

    def copy_pools(self, src: int, dst: int) -> None:
        for t in POOL_WIDTH:
            self.pools[t][dst] = self.pools[t][src]
            self.counts[t][dst] = self.counts[t][src]

    def draw(self, refs: np.ndarray, etype: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For rows under ``refs`` wanting entity types ``etype``: (entity_type, entity_id).

        Incident and crime rows get the reference's own records; a row that asks for a type its
        reference has none of falls back to the crime, else the incident, record.
        """
        out_t = np.full(len(refs), 0, np.uint8)
        out_id = np.zeros(len(refs), np.int64)
        fallback = np.ones(len(refs), bool)
        for t, w in POOL_WIDTH.items():
            m = etype == ET[t]
            if not m.any():
                continue
            r = refs[m]
            c = self.counts[t][r].astype(np.int64)
            has = c > 0
            slot = (u[m] * np.maximum(c, 1)).astype(np.int64)
            ids = self.pools[t][r, np.minimum(slot, w - 1)]
            idx = np.flatnonzero(m)[has]
            out_t[idx] = ET[t]
            out_id[idx] = ids[has]
            fallback[idx] = False
        want_inc = fallback & (etype == ET["incident"]) & (self.incident_id[refs] >= 0)
        out_t[want_inc] = ET["incident"]
        out_id[want_inc] = self.incident_id[refs[want_inc]]
        fb = fallback & ~want_inc
        crime = self.crime_id[refs[fb]]
        inc = self.incident_id[refs[fb]]
        out_t[fb] = np.where(crime >= 0, ET["crime"], ET["incident"])
        out_id[fb] = np.where(crime >= 0, crime, inc)
        # A case with neither (a vetting file, a request) falls back to its first person.
        bare = np.flatnonzero(fb)[(crime < 0) & (inc < 0)]
        out_t[bare] = ET["person"]
        out_id[bare] = self.pools["person"][refs[bare], 0]
        return out_t, out_id


class Holdings:
    """Ring buffers of (reference, held until) per owner (staff member, team or area)."""

    def __init__(self, owners: int, width: int):
        self.ref = np.full((owners, width), -1, np.int64)
        self.until = np.zeros((owners, width), np.int64)
        self.next = np.zeros(owners, np.int64)
        self.width = width

    def push(self, owner, ref: int, until_ms: int) -> None:
        if np.ndim(owner) == 0 or len(owner) == 1:
            o = int(np.asarray(owner).reshape(-1)[0])
            slot = self.next[o] % self.width
            self.ref[o, slot] = ref
            self.until[o, slot] = until_ms
            self.next[o] += 1
            return
        owner = np.unique(owner)
        slot = self.next[owner] % self.width
        self.ref[owner, slot] = ref
        self.until[owner, slot] = until_ms
        self.next[owner] += 1

    def pick(self, owner: np.ndarray, now_ms: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A held reference per row, uniformly among the owner's live ones; -1 where none is live."""
        if len(owner) == 1:
            o = int(owner[0])
            live = np.flatnonzero((self.until[o] > now_ms[0]) & (self.ref[o] >= 0))
            if not len(live):
                return np.full(1, -1, np.int64)
            return self.ref[o, live[min(int(u[0] * len(live)), len(live) - 1)]].reshape(1)
        live = (self.until[owner] > now_ms[:, None]) & (self.ref[owner] >= 0)
        n_live = live.sum(axis=1)
        k = (u * n_live).astype(np.int64)
        # index of the k-th live slot
        csum = np.cumsum(live, axis=1)
        slot = (csum <= k[:, None]).sum(axis=1)
        slot = np.minimum(slot, self.width - 1)
        out = self.ref[owner, slot]
        return np.where(n_live > 0, out, -1)
