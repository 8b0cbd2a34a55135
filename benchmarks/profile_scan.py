"""One streaming pass over a dataset's events, tallying what :mod:`benchmarks.profile` checks.

Events are read part by part, in record batches, with only the columns needed; every tally is a
numpy reduction over the batch (``bincount``, ``searchsorted``), never a Python loop per event.
Lookups against context tables use sorted integer keys built once:

- shifts sorted by (user, start): an event's shift is the latest one of its user that has started,
  and the event is *on shift* if it is also before that shift's rostered end (overruns excluded);
- tasking keyed (user, reference code): an event is *explained* if its user holds its reference and
  came to hold it no later than the event (``tasking.since <= ts``);
- relations keyed (user, person) and (user, home address of a related person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from snoopbench.contract.schema import ENTITY_TYPES, SYSTEMS

COLUMNS = ["event_id", "ts", "user_id", "system", "entity_type", "entity_id", "reference"]
BATCH_ROWS = 1_000_000
DAY_MS = 86_400_000
ET = {name: i for i, name in enumerate(ENTITY_TYPES)}
_ET_VALUES = pa.array(ENTITY_TYPES, pa.string())


@dataclass
class Tallies:
    """Raw counts from one pass over the events."""

    n_events: int = 0
    n_legit: int = 0
    legit_explained: int = 0
    legit_on_shift: int = 0
    legit_relation_lookups: int = 0
    by_hour: np.ndarray = field(default_factory=lambda: np.zeros(24, np.int64))
    by_system: dict[str, int] = field(default_factory=dict)
    person_lookups: np.ndarray | None = None   # per person of the people table
    per_shift: np.ndarray | None = None        # events inside each (sorted) shift
    shift_role: np.ndarray | None = None       # role of each sorted shift's user
    first_ts: int | None = None
    last_ts: int | None = None


def _ms(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return col.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each key in ``sorted_keys`` and whether it is there."""
    pos = np.searchsorted(sorted_keys, keys)
    if not len(sorted_keys):
        return pos, np.zeros(len(keys), bool)
    pos_c = np.minimum(pos, len(sorted_keys) - 1)
    return pos_c, (pos < len(sorted_keys)) & (sorted_keys[pos_c] == keys)


class Context:
    """Sorted keys of staff, shifts, tasking, people and relations for vectorised lookups."""

    def __init__(self, context_dir: Path, relations: pa.Table | None, roles: tuple[str, ...]):
        staff = pq.read_table(context_dir / "staff.parquet", columns=["user_id", "role"])
        uid = staff["user_id"].to_numpy().astype(np.int64)
        order = np.argsort(uid, kind="stable")
        self.users = uid[order]
        names = staff["role"].to_pylist()
        role_code = np.array([roles.index(r) if r in roles else -1 for r in names], np.int64)
        self.user_role = role_code[order]
        self.roles_in_staff = sorted(set(names))
        self.n_users = len(self.users)
        self._shifts(context_dir)
        self._tasking(context_dir)
        self._people(context_dir, relations)

    def user_index(self, user_id: np.ndarray) -> np.ndarray:
        """Dense index of each user id in staff, or -1 if unknown."""
        pos, found = _lookup(self.users, user_id.astype(np.int64))
        return np.where(found, pos, -1)

    def _shifts(self, context_dir: Path) -> None:
        t = pq.read_table(context_dir / "shifts.parquet", columns=["user_id", "start", "end"])
        u = self.user_index(t["user_id"].to_numpy())
        start, end = _ms(t["start"]), _ms(t["end"])
        keep = u >= 0
        u, start, end = u[keep], start[keep], end[keep]
        order = np.lexsort((start, u))
        self.shift_user, self.shift_start, self.shift_end = u[order], start[order], end[order]
        self.t0 = int(start.min()) - DAY_MS if len(start) else 0
        self.span = int(end.max()) - self.t0 + DAY_MS if len(end) else 1
        self.shift_key = self.shift_user * self.span + (self.shift_start - self.t0)

    def shift_of(self, uidx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Index of the rostered shift containing each event, or -1 if none does."""
        if not len(self.shift_key):
            return np.full(len(ts), -1, np.int64)
        rel = ts - self.t0
        ok = (uidx >= 0) & (rel >= 0) & (rel < self.span)
        pos = np.searchsorted(self.shift_key, uidx * self.span + rel, side="right") - 1
        pos_c = np.maximum(pos, 0)
        ok &= (pos >= 0) & (self.shift_user[pos_c] == uidx) & (ts < self.shift_end[pos_c])
        return np.where(ok, pos, -1)

    def _tasking(self, context_dir: Path) -> None:
        cols = ["user_id", "reference", "since"]
        t = pq.read_table(context_dir / "tasking.parquet", columns=cols)
        self.ref_values = pc.unique(t["reference"].combine_chunks())
        code = pc.index_in(t["reference"], value_set=self.ref_values).to_numpy(zero_copy_only=False)
        u = self.user_index(t["user_id"].to_numpy())
        since = _ms(t["since"])
        keep = u >= 0
        self.n_refs = max(len(self.ref_values), 1)
        key = u[keep] * self.n_refs + code[keep].astype(np.int64)
        since = since[keep]
        order = np.lexsort((since, key))
        key, since = key[order], since[order]
        first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
        # the earliest holding of each (user, reference)
        self.task_key, self.task_since = key[first], since[first]

    def explained(self, uidx: np.ndarray, refs: pa.Array, ts: np.ndarray) -> np.ndarray:
        """Whether each event's user held its reference at the time."""
        code = pc.index_in(refs, value_set=self.ref_values)
        has = code.is_valid().to_numpy(zero_copy_only=False) & (uidx >= 0)
        c = code.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        pos, found = _lookup(self.task_key, uidx * self.n_refs + c)
        ok = np.flatnonzero(has & found)
        out = np.zeros(len(ts), bool)
        out[ok] = self.task_since[pos[ok]] <= ts[ok]
        return out

    def _people(self, context_dir: Path, relations: pa.Table | None) -> None:
        people = pq.read_table(context_dir / "people.parquet", columns=["person_id", "address_id"])
        pid = people["person_id"].to_numpy()
        order = np.argsort(pid, kind="stable")
        self.people, self.home = pid[order], people["address_id"].to_numpy()[order]
        veh = pq.read_table(context_dir / "vehicles.parquet", columns=["vehicle_id", "keeper_id"])
        vid = veh["vehicle_id"].to_numpy()
        order = np.argsort(vid, kind="stable")
        self.vehicles, self.keeper = vid[order], veh["keeper_id"].to_numpy()[order]
        n = len(self.people) + 1
        self.rel_person_key = self.rel_addr_key = np.zeros(0, np.int64)
        self.addr_vocab = np.zeros(0, np.int64)
        if relations is None or not relations.num_rows:
            return
        u = self.user_index(relations["user_id"].to_numpy())
        ppos, pfound = _lookup(self.people, relations["person_id"].to_numpy())
        keep = (u >= 0) & pfound
        u, ppos = u[keep], ppos[keep]
        self.rel_person_key = np.unique(u * n + ppos)
        addr = self.home[ppos]
        self.addr_vocab = np.unique(addr)
        apos = np.searchsorted(self.addr_vocab, addr)
        self.rel_addr_key = np.unique(u * len(self.addr_vocab) + apos)

    def relation_hits(self, uidx: np.ndarray, etype: np.ndarray, eid: np.ndarray) -> np.ndarray:
        """Whether each event looks up a relation of its user: the person, their vehicle or home."""
        hit = np.zeros(len(eid), bool)
        ok = uidx >= 0
        person = np.full(len(eid), -1, np.int64)
        m = ok & (etype == ET["person"])
        person[m] = eid[m]
        m = ok & (etype == ET["vehicle"])
        vpos, vfound = _lookup(self.vehicles, eid[m])
        person[np.flatnonzero(m)[vfound]] = self.keeper[vpos[vfound]]
        m = person >= 0
        ppos, pfound = _lookup(self.people, person[m])
        idx = np.flatnonzero(m)[pfound]
        key = uidx[idx] * (len(self.people) + 1) + ppos[pfound]
        hit[idx] = _lookup(self.rel_person_key, key)[1]
        m = ok & (etype == ET["address"])
        apos, afound = _lookup(self.addr_vocab, eid[m])
        idx = np.flatnonzero(m)[afound]
        hit[idx] = _lookup(self.rel_addr_key, uidx[idx] * len(self.addr_vocab) + apos[afound])[1]
        return hit


def scan(parts: tuple[Path, ...], ctx: Context, timezone: str,
         labels: np.ndarray | None) -> Tallies:
    """Tally every events part in one pass; ``labels``: the misuse event ids (sorted), if known."""
    tz_type = pa.timestamp("ms", tz=timezone)
    out = Tallies(by_system={s: 0 for s in SYSTEMS})
    out.person_lookups = np.zeros(len(ctx.people), np.int64)
    out.per_shift = np.zeros(len(ctx.shift_user), np.int64)
    out.shift_role = ctx.user_role[ctx.shift_user] if len(ctx.shift_user) else np.zeros(0, np.int64)
    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS, columns=COLUMNS):
            _tally(out, batch, ctx, tz_type, labels)
    return out


def _tally(out: Tallies, b: pa.RecordBatch, ctx: Context, tz_type: pa.DataType,
           labels: np.ndarray | None) -> None:
    n = b.num_rows
    if not n:
        return
    col = dict(zip(b.schema.names, b.columns))
    ts = _ms(col["ts"])
    uidx = ctx.user_index(col["user_id"].to_numpy(zero_copy_only=False))
    etype = pc.index_in(col["entity_type"], value_set=_ET_VALUES).fill_null(-1)
    etype = etype.to_numpy(zero_copy_only=False)
    eid = col["entity_id"].to_numpy(zero_copy_only=False)
    out.n_events += n
    out.first_ts = int(ts.min()) if out.first_ts is None else min(out.first_ts, int(ts.min()))
    out.last_ts = int(ts.max()) if out.last_ts is None else max(out.last_ts, int(ts.max()))
    hours = pc.hour(col["ts"].cast(tz_type)).to_numpy(zero_copy_only=False)
    out.by_hour += np.bincount(hours, minlength=24)
    counts = pc.value_counts(col["system"])
    for v, c in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
        out.by_system[v] = out.by_system.get(v, 0) + c
    m = etype == ET["person"]
    ppos, found = _lookup(ctx.people, eid[m])
    out.person_lookups += np.bincount(ppos[found], minlength=len(ctx.people))
    shift = ctx.shift_of(uidx, ts)
    out.per_shift += np.bincount(shift[shift >= 0], minlength=len(out.per_shift))

    legit = np.ones(n, bool)
    if labels is not None and len(labels):
        legit = ~_lookup(labels, col["event_id"].to_numpy(zero_copy_only=False))[1]
    out.n_legit += int(legit.sum())
    out.legit_on_shift += int((legit & (shift >= 0)).sum())
    out.legit_explained += int((legit & ctx.explained(uidx, col["reference"], ts)).sum())
    out.legit_relation_lookups += int((legit & ctx.relation_hits(uidx, etype, eid)).sum())
