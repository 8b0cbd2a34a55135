"""References (incidents and crimes) with the entities each touches, and who holds them.

A reference is what staff type to justify an access. Each carries small fixed-width pools of the
people, vehicles, addresses and records it concerns, so a burst of look-ups under it is a vectorised
index into those pools. Holdings are ring buffers per staff member and per team, with expiry times:
what a user may pick a reference from when working.
"""

from __future__ import annotations

import numpy as np

from snoopbench.simulator.arrays import group_starts
from snoopbench.contract.schema import ENTITY_TYPES

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
        # Each entry also has the time it became available (a clip once docked, a custody record
        # once booked); ``late`` marks pools holding an entry that came after the reference itself.
        self.pool = np.full((capacity, int(_WIDTH.sum())), -1, np.int64)
        self.pool_t = np.zeros((capacity, int(_WIDTH.sum())), np.int64)
        self.count = np.zeros((capacity, len(POOL_TYPES)), np.int16)
        self.late = np.zeros((capacity, len(POOL_TYPES)), bool)
        self._views()

    def _views(self) -> None:
        self.pools = {t: self.pool[:, o:o + w] for t, o, w in zip(POOL_TYPES, _OFFSET, _WIDTH)}
        self.pools_t = {t: self.pool_t[:, o:o + w] for t, o, w in zip(POOL_TYPES, _OFFSET, _WIDTH)}
        self.counts = {t: self.count[:, i] for i, t in enumerate(POOL_TYPES)}

    def _grow(self) -> None:
        # Rows past ``n`` are left unwritten (np.empty: the pages stay untouched, so memory grows
        # with the references made, not in doublings) and set as references are added (_clear).
        cap = len(self.created) * 2
        for name in ("incident_id", "crime_id", "created", "area", "pool", "pool_t", "count", "late"):
            old = getattr(self, name)
            new = np.empty((cap, *old.shape[1:]), old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        for name in ("incident_id", "crime_id", "created", "area"):
            getattr(self, name)[-1] = -1  # what index -1 (no reference) reads, as when every row was filled
        self._views()
        self._clear(cap - 1, cap)

    def _clear(self, lo: int, hi: int) -> None:
        """Empty pools for new rows ``lo:hi``."""
        self.pool[lo:hi] = -1
        self.pool_t[lo:hi] = 0
        self.count[lo:hi] = 0
        self.late[lo:hi] = False

    def add(self, string: str, created_ms: int, area: int, incident_id: int = -1, crime_id: int = -1) -> int:
        if self.n == len(self.created):
            self._grow()
        r = self.n
        self.n += 1
        self._clear(r, r + 1)
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
        self._clear(self.n, self.n + k)
        self.strings.extend(strings)
        self.incident_id[r] = incident_id
        self.crime_id[r] = crime_id
        self.created[r] = created_ms
        self.area[r] = area
        self.n += k
        return r

    def attach_many(self, refs: np.ndarray, etype: str, ids: np.ndarray, at: np.ndarray | None = None) -> None:
        """:meth:`attach` ``ids[i]`` to ``refs[i]`` (available from ``at[i]``) for every i, a
        reference's ids together and in order."""
        if not len(refs):
            return
        refs = np.asarray(refs, np.int64)
        start, count = group_starts(refs)
        counts = self.counts[etype]
        pos = np.repeat(counts[refs[start]].astype(np.int64) - start, count) + np.arange(len(refs))
        width = POOL_WIDTH[etype]
        fits = pos < width
        r, col = refs[fits], _OFFSET[POOL_TYPES.index(etype)] + pos[fits]
        self.pool[r, col] = np.asarray(ids, np.int64)[fits]
        if at is None:
            self.pool_t[r, col] = self.created[r]
        else:
            at = np.broadcast_to(np.asarray(at, np.int64), (len(refs),))[fits]
            self.pool_t[r, col] = at
            self.late[r[at > self.created[r]], POOL_TYPES.index(etype)] = True
        counts[refs[start]] = np.minimum(pos[start + count - 1] + 1, width)

    def attach(self, r: int, etype: str, ids, at: int | None = None) -> None:
        """Add entities to a reference's pool (available from ``at``, by default its creation), as
        many as it has room for."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if np.ndim(at) > 0:
            self.attach_many(np.full(len(ids), r, np.int64), etype, ids, at)
            return
        p = POOL_TYPES.index(etype)
        c = int(self.count[r, p])
        ids = ids[: POOL_WIDTH[etype] - c]
        cols = slice(_OFFSET[p] + c, _OFFSET[p] + c + len(ids))
        self.pool[r, cols] = ids
        self.pool_t[r, cols] = self.created[r] if at is None else at
        if at is not None and at > self.created[r]:
            self.late[r, p] = True
        self.count[r, p] = c + len(ids)

    def copy_pools(self, src, dst) -> None:
        """Give references ``dst`` the pools of ``src`` (a crime its incident's; a case a related one's)."""
        for name in ("pool", "pool_t", "count", "late"):
            a = getattr(self, name)
            a[dst] = a[src]

    def draw(self, refs: np.ndarray, etype: np.ndarray, u: np.ndarray,
             ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For rows at ``ts`` under ``refs`` wanting entity types ``etype``: (entity_type, entity_id).

        A row draws among the entries of its reference's pool that exist at its time. Incident and
        crime rows get the reference's own records; a row that asks for a type its reference has
        none of (then) falls back to the crime, else the incident, record.
        """
        pool = _POOL_OF[etype]
        p = np.maximum(pool, 0)
        c = self.count[refs, p].astype(np.int64)
        found = (pool >= 0) & (c > 0)
        slot = np.minimum((u * np.maximum(c, 1)).astype(np.int64), _WIDTH[p] - 1)
        late = np.flatnonzero(found & self.late[refs, p])
        if len(late):
            # Pools with entries that came later: draw among those that exist at the row's time.
            cols = _OFFSET[p[late], None] + np.arange(_WIDTH.max())[None, :]
            exists = (np.arange(_WIDTH.max())[None, :] < c[late, None]) & \
                (self.pool_t[refs[late, None], np.minimum(cols, self.pool.shape[1] - 1)] <= ts[late, None])
            n_ok = exists.sum(axis=1)
            k = (u[late] * n_ok).astype(np.int64)
            slot[late] = (np.cumsum(exists, axis=1) <= k[:, None]).sum(axis=1)
            found[late[n_ok == 0]] = False
        out_t = np.where(found, etype, 0).astype(np.uint8)
        out_id = np.where(found, self.pool[refs, _OFFSET[p] + np.minimum(slot, _WIDTH[p] - 1)], 0)
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
    """Ring buffers of (reference, held from, held until) per owner (staff member, team or area).

    References are kept plus one (0: an empty slot), so that every table starts as zeros: memory the
    operating system hands out untouched, and only the rows of owners that are pushed to (an area's
    own staff, of a whole force's) ever become resident.
    """

    def __init__(self, owners: int, width: int):
        self.ref1 = np.zeros((owners, width), np.int64)
        self.since = np.zeros((owners, width), np.int64)
        self.until = np.zeros((owners, width), np.int64)
        self.next = np.zeros(owners, np.int64)
        self.width = width

    def push_one(self, owner: int, ref: int, since_ms: int, until_ms: int) -> None:
        slot = self.next[owner] % self.width
        self.ref1[owner, slot] = ref + 1
        self.since[owner, slot] = since_ms
        self.until[owner, slot] = until_ms
        self.next[owner] += 1

    def push_many(self, owners: np.ndarray, refs: np.ndarray, since_ms: np.ndarray, until_ms: np.ndarray) -> None:
        """Push ``refs[i]`` to ``owners[i]`` for every i, as if one by one in that order."""
        owners = np.asarray(owners, np.int64)
        if not len(owners):
            return
        order = np.argsort(owners, kind="stable")
        o = owners[order]
        cols = [np.broadcast_to(np.asarray(x, np.int64), (len(owners),))[order] for x in (refs, since_ms, until_ms)]
        cols[0] = cols[0] + 1
        start, count = group_starts(o)
        if len(start) == len(o):  # every owner once
            slot = self.next[o] % self.width
            keep = slice(None)
        else:
            rank = np.arange(len(o)) - np.repeat(start, count)
            keep = rank >= np.repeat(count, count) - self.width  # an owner's last ``width`` pushes survive
            slot = ((self.next[o] + rank) % self.width)[keep]
        for table, col in zip((self.ref1, self.since, self.until), cols):
            table[o[keep], slot] = col[keep]
        self.next[o[start]] += count

    def pick(self, owner: np.ndarray, now_ms: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A held reference per row, uniformly among the owner's live ones (held from before
        ``now_ms`` until after it); -1 where none is live."""
        if len(owner) == 1:
            o, now = int(owner[0]), now_ms[0]
            live = np.flatnonzero((self.since[o] <= now) & (self.until[o] > now) & (self.ref1[o] > 0))
            if not len(live):
                return np.full(1, -1, np.int64)
            return (self.ref1[o, live[min(int(u[0] * len(live)), len(live) - 1)]] - 1).reshape(1)
        now = now_ms[:, None]
        live = (self.since[owner] <= now) & (self.until[owner] > now) & (self.ref1[owner] > 0)
        n_live = live.sum(axis=1)
        k = (u * n_live).astype(np.int64)
        slot = (np.cumsum(live, axis=1) <= k[:, None]).sum(axis=1)  # the k-th live slot
        out = self.ref1[owner, np.minimum(slot, self.width - 1)] - 1
        return np.where(n_live > 0, out, -1)

    def pick_of(self, owner: int, now_ms: np.ndarray, u: np.ndarray) -> np.ndarray:
        """:meth:`pick` for rows that share one owner (an area's wide holdings): uniformly among the
        references live at each row's time, or -1.

        Candidates are the slots held from before the row's time (a prefix in order of start); a
        draw among them that has expired is redrawn (from the unused fraction of the same uniform),
        and the few rows still unlucky after a few rounds are settled exactly.
        """
        ref, since, until = self.ref1[owner] - 1, self.since[owner], self.until[owner]
        order = np.argsort(np.where(ref >= 0, since, np.iinfo(np.int64).max), kind="stable")
        starts = np.where(ref >= 0, since, np.iinfo(np.int64).max)[order]
        prefix = np.searchsorted(starts, now_ms, side="right")
        out = np.full(len(now_ms), -1, np.int64)
        rows = np.flatnonzero(prefix > 0)
        x = u[rows] * prefix[rows]
        for _ in range(4):
            slot = order[np.minimum(x.astype(np.int64), prefix[rows] - 1)]
            ok = until[slot] > now_ms[rows]
            out[rows[ok]] = ref[slot[ok]]
            rows, x = rows[~ok], (x - np.floor(x))[~ok] * prefix[rows[~ok]]
            if not len(rows):
                return out
        for i in rows.tolist():
            live = np.flatnonzero((ref >= 0) & (since <= now_ms[i]) & (until > now_ms[i]))
            if len(live):
                out[i] = ref[live[min(int(u[i] * len(live)), len(live) - 1)]]
        return out
