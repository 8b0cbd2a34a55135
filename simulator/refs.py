"""References (incidents and crimes) with the entities each touches, and who holds them.

A reference is what staff type to justify an access. Each carries small fixed-width pools of the
people, vehicles, addresses and records it concerns, so a burst of look-ups under it is a vectorised
index into those pools. Holdings are ring buffers per staff member and per team, with expiry times:
what a user may pick a reference from when working.
"""

from __future__ import annotations

import numpy as np

from simulator.arrays import group_starts
from simulator.schema import ENTITY_TYPES

# Pool widths per entity type (the entity types a reference can point at).
POOL_WIDTH = {"person": 8, "vehicle": 4, "address": 3, "intel": 4, "custody": 2, "media": 8}
POOL_TYPES = tuple(POOL_WIDTH)
ET = {name: i for i, name in enumerate(ENTITY_TYPES)}
_WIDTH = np.array(list(POOL_WIDTH.values()), np.int64)
_OFFSET = np.concatenate([[0], np.cumsum(_WIDTH)[:-1]])
_POOL_OF = np.full(len(ENTITY_TYPES), -1, np.int64)  # entity type -> pool index (-1: none)
_POOL_OF[[ET[t] for t in POOL_TYPES]] = np.arange(len(POOL_TYPES))


class RefTable:
    """Growable columns of references: string, own record (incident or crime) and entity pools."""

    def __init__(self, capacity: int = 4096):
        self.strings: list[str] = []
        self.n = 0
        self.incident_id = np.full(capacity, -1, np.int64)
        self.crime_id = np.full(capacity, -1, np.int64)
        self.created = np.zeros(capacity, np.int64)
        self.area = np.zeros(capacity, np.int16)
        # Every pool side by side in one array (and one count column per type), so a draw for rows of
        # mixed types is one gather; ``pools[type]`` and ``counts[type]`` are views into them.
        self.pool = np.full((capacity, int(_WIDTH.sum())), -1, np.int64)
        self.count = np.zeros((capacity, len(POOL_TYPES)), np.int16)
        self._views()

    def _views(self) -> None:
        self.pools = {t: self.pool[:, o:o + w] for t, o, w in zip(POOL_TYPES, _OFFSET, _WIDTH)}
        self.counts = {t: self.count[:, i] for i, t in enumerate(POOL_TYPES)}

    def _grow(self) -> None:
        cap = len(self.created) * 2
        for name in ("incident_id", "crime_id", "created", "area"):
            old = getattr(self, name)
            new = np.full(cap, -1, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        pool = np.full((cap, self.pool.shape[1]), -1, np.int64)
        pool[: self.n] = self.pool[: self.n]
        count = np.zeros((cap, self.count.shape[1]), np.int16)
        count[: self.n] = self.count[: self.n]
        self.pool, self.count = pool, count
        self._views()

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

    def add_many(self, strings: list[str], created_ms: np.ndarray, area: int, incident_id=-1,
                 crime_id=-1) -> np.ndarray:
        """:meth:`add` for many references; returns their indexes."""
        k = len(strings)
        while self.n + k > len(self.created):
            self._grow()
        r = np.arange(self.n, self.n + k)
        self.strings.extend(strings)
        self.incident_id[r] = incident_id
        self.crime_id[r] = crime_id
        self.created[r] = created_ms
        self.area[r] = area
        self.n += k
        return r

    def attach_many(self, refs: np.ndarray, etype: str, ids: np.ndarray) -> None:
        """:meth:`attach` ``ids[i]`` to ``refs[i]`` for every i (a reference's ids together, in order)."""
        if not len(refs):
            return
        refs = np.asarray(refs, np.int64)
        start, count = group_starts(refs)
        counts = self.counts[etype]
        pos = np.repeat(counts[refs[start]].astype(np.int64) - start, count) + np.arange(len(refs))
        width = POOL_WIDTH[etype]
        fits = pos < width
        self.pools[etype][refs[fits], pos[fits]] = np.asarray(ids, np.int64)[fits]
        counts[refs[start]] = np.minimum(pos[start + count - 1] + 1, width)

    def attach(self, r: int, etype: str, ids) -> None:
        """Add entities to a reference's pool, as many as it has room for."""
        c = int(self.counts[etype][r])
        ids = np.asarray(ids, dtype=np.int64)[: POOL_WIDTH[etype] - c]
        self.pools[etype][r, c:c + len(ids)] = ids
        self.counts[etype][r] = c + len(ids)

    def copy_pools(self, src: int, dst: int) -> None:
        self.pool[dst] = self.pool[src]
        self.count[dst] = self.count[src]

    def draw(self, refs: np.ndarray, etype: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For rows under ``refs`` wanting entity types ``etype``: (entity_type, entity_id).

        Incident and crime rows get the reference's own records; a row that asks for a type its
        reference has none of falls back to the crime, else the incident, record.
        """
        pool = _POOL_OF[etype]
        p = np.maximum(pool, 0)
        c = self.count[refs, p].astype(np.int64)
        found = (pool >= 0) & (c > 0)
        slot = np.minimum((u * np.maximum(c, 1)).astype(np.int64), _WIDTH[p] - 1)
        out_t = np.where(found, etype, 0).astype(np.uint8)
        out_id = np.where(found, self.pool[refs, _OFFSET[p] + slot], 0)
        fallback = ~found
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

    def push_one(self, owner: int, ref: int, until_ms: int) -> None:
        slot = self.next[owner] % self.width
        self.ref[owner, slot] = ref
        self.until[owner, slot] = until_ms
        self.next[owner] += 1

    def push_many(self, owners: np.ndarray, refs: np.ndarray, until_ms: np.ndarray) -> None:
        """Push ``refs[i]`` to ``owners[i]`` for every i, as if one by one in that order."""
        owners = np.asarray(owners, np.int64)
        if not len(owners):
            return
        order = np.argsort(owners, kind="stable")
        o = owners[order]
        start, count = group_starts(o)
        if len(start) == len(o):  # every owner once
            slot = self.next[o] % self.width
            self.ref[o, slot] = np.asarray(refs, np.int64)[order]
            self.until[o, slot] = np.asarray(until_ms, np.int64)[order]
            self.next[o] += 1
            return
        rank = np.arange(len(o)) - np.repeat(start, count)
        keep = rank >= np.repeat(count, count) - self.width  # an owner's last ``width`` pushes survive
        slot = (self.next[o] + rank) % self.width
        self.ref[o[keep], slot[keep]] = np.asarray(refs, np.int64)[order][keep]
        self.until[o[keep], slot[keep]] = np.asarray(until_ms, np.int64)[order][keep]
        self.next[o[start]] += count

    def push(self, owner, ref: int, until_ms: int) -> None:
        if np.ndim(owner) == 0 or len(owner) == 1:
            self.push_one(int(np.asarray(owner).reshape(-1)[0]), ref, until_ms)
            return
        owner = np.unique(owner)
        slot = self.next[owner] % self.width
        self.ref[owner, slot] = ref
        self.until[owner, slot] = until_ms
        self.next[owner] += 1

    def pick_of(self, owner: int, now_ms: np.ndarray, u: np.ndarray) -> np.ndarray:
        """:meth:`pick` for rows that share one owner, without a row-by-slot matrix.

        Which slots are live changes only where one expires, so rows are grouped into bands between
        the owner's distinct expiry times and each band's live slots are found once.
        """
        ref, until = self.ref[owner], self.until[owner]
        valid = ref >= 0
        cuts = np.unique(until[valid])
        rank = np.searchsorted(cuts, until)  # a slot is live for rows of band b while rank >= b
        band = np.searchsorted(cuts, now_ms, side="right")
        out = np.full(len(now_ms), -1, np.int64)
        for b in np.unique(band).tolist():
            live = np.flatnonzero(valid & (rank >= b))
            if len(live):
                rows = np.flatnonzero(band == b)
                out[rows] = ref[live[np.minimum((u[rows] * len(live)).astype(np.int64), len(live) - 1)]]
        return out

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
