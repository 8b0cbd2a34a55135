"""State that rules carry from batch to batch, updated with whole-batch numpy operations.

Every structure here gives each event the answer it would get if the stream were fed one event
at a time (earlier events of the same batch count, later ones never do), so a rule built on them
is batch-size independent and never looks ahead.
"""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.base import hash64
from snoopbench.detectors.lookups import HashMap


class Groups:
    """Events grouped by an int64 key, time order kept within each group (a stable sort)."""

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64)
        self.n = len(keys)
        self.order = stable_order(keys)
        sk = keys[self.order]
        new = np.ones(self.n, bool)
        new[1:] = sk[1:] != sk[:-1]
        self.starts = np.flatnonzero(new)
        self.ends = np.r_[self.starts[1:], self.n] - 1 if self.n else self.starts
        self.keys = sk[self.starts]
        self.gid = np.cumsum(new) - 1  # group of each event, in sorted order

    def unsort(self, sorted_values: np.ndarray) -> np.ndarray:
        """Values given in sorted order, put back in event order."""
        out = np.empty_like(sorted_values)
        out[self.order] = sorted_values
        return out


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` through plain sorts, several times faster than a
    stable sort of int64: each key (or its leading bits, or its rank) is packed with its
    position into one int64."""
    n = len(keys)
    if n < 2:
        return np.arange(n)
    bits = (n - 1).bit_length()
    low = (1 << bits) - 1
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo < 1 << 63:
        drop = max((hi - lo).bit_length() - (63 - bits), 0)  # low bits of the key left out
        lead = (keys - lo) >> drop
        order = np.sort((lead << bits) | np.arange(n)) & low
        if not drop:
            return order
        sk, sl = keys[order], lead[order]  # keys sharing their leading bits must be equal
        if not np.any((sk[1:] != sk[:-1]) & (sl[1:] == sl[:-1])):
            return order
    order = np.argsort(keys)
    sk = keys[order]
    rank = np.zeros(n, np.int64)
    np.cumsum(sk[1:] != sk[:-1], out=rank[1:])
    return np.sort((rank << bits) | order) & low


class _KeyedState:
    """Non-negative int64 keys with one value each, in a hash table: the state of a running
    aggregate."""

    def __init__(self, dtype: type) -> None:
        self.map = HashMap(dtype=dtype)
        self.low: int | None = None  # the smallest key stored since the last forget_below

    @property
    def dtype(self) -> np.dtype:
        return self.map.values.dtype

    def get(self, keys: np.ndarray, default: float) -> np.ndarray:
        return self.map.get(keys, default)[1]

    def put(self, keys: np.ndarray, values: np.ndarray, slot: np.ndarray | None = None) -> None:
        """Set the values of distinct ``keys`` (``slot``: their ``map.find``, if known)."""
        if not len(keys):
            return
        low = int(keys.min())
        if low < 0:
            raise ValueError(f"{type(self).__name__}: keys must be non-negative, got {low}")
        self.low = low if self.low is None else min(self.low, low)
        self.map.set(keys, values, slot)

    def forget_below(self, key: int) -> None:
        """Drop the keys below ``key`` (e.g. days that are over, when the day is the high bits)."""
        if self.low is None or self.low >= key:
            return
        keep = self.map.slots >= key
        keys, values = self.map.slots[keep], self.map.values[keep]
        self.map = HashMap(len(keys), self.dtype)
        self.map.set(keys, values)
        self.low = int(keys.min()) if len(keys) else None


class RunningSum(_KeyedState):
    """Per-key running sums: each event gets its key's sum of weights so far, itself included."""

    def __init__(self, dtype: type = np.float64) -> None:
        super().__init__(dtype)

    def update(self, groups: Groups, weights: np.ndarray | None = None) -> np.ndarray:
        if not groups.n:
            return np.zeros(0, self.dtype)
        w = np.ones(groups.n, self.dtype) if weights is None \
            else np.asarray(weights, self.dtype)[groups.order]
        csum = np.cumsum(w)
        before = (csum - w)[groups.starts]
        slot = self.map.find(groups.keys)
        running = csum - before[groups.gid] + self.map.at(slot, 0)[groups.gid]
        self.put(groups.keys, running[groups.ends], slot)
        return groups.unsort(running)


class RunningMax(_KeyedState):
    """Per-key running maxima of integers in [0, 2**31): each event gets its key's max so far."""

    def __init__(self) -> None:
        super().__init__(np.int64)

    def update(self, groups: Groups, values: np.ndarray) -> np.ndarray:
        if not groups.n:
            return np.zeros(0, np.int64)
        v = np.clip(np.asarray(values, np.int64)[groups.order], 0, (1 << 31) - 1)
        offset = groups.gid.astype(np.int64) << 31
        running = np.maximum.accumulate(v + offset) - offset
        slot = self.map.find(groups.keys)
        running = np.maximum(running, self.map.at(slot, 0)[groups.gid])
        self.put(groups.keys, running[groups.ends], slot)
        return groups.unsort(running)


_MULTI = -2  # more than one user seen with a key


class PairLog:
    """Which keys (e.g. an entity under a case) have been seen, and by one user or several.

    :meth:`observe` answers, for each event, whether an earlier event with its key came from
    another user (the access is *corroborated*), then records the events in a hash table of
    key -> the one user seen (or -2 for several), so a batch costs about its own size.
    """

    def __init__(self) -> None:
        self.seen = HashMap()

    def observe(self, keys: np.ndarray, users: np.ndarray) -> np.ndarray:
        """Whether another user touched each event's key earlier; then remember the events."""
        keys = np.asarray(keys, np.int64)
        users = np.asarray(users, np.int64)
        if not len(keys):
            return np.zeros(0, bool)
        g = Groups(keys)
        slot = self.seen.find(g.keys)
        found = slot >= 0
        u = users[g.order]
        first = self.seen.at(slot, u[g.starts])
        differs = u != first[g.gid]
        idx = np.arange(g.n)
        first_other = np.minimum.reduceat(np.where(differs, idx, g.n), g.starts)
        is_first = idx == g.starts[g.gid]
        seen = np.where(differs, found[g.gid] | ~is_first, first_other[g.gid] < idx)
        seen |= found[g.gid] & (first[g.gid] == _MULTI)
        self.seen.set(g.keys, np.where(first_other < g.n, _MULTI, first), slot)
        return g.unsort(seen)


def pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 per pair of int64s (a keyed 64-bit hash: collisions are negligible)."""
    with np.errstate(over="ignore"):
        h = hash64(np.asarray(a, np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                   ^ np.asarray(b, np.int64).astype(np.uint64), 0x5EED)
    return (h >> np.uint64(1)).astype(np.int64)  # non-negative


def poisson_excess(count: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """How far ``count`` exceeds a Poisson ``expected`` (one-sided log-likelihood ratio, nats).

    0 at or below the expectation; grows like ``c log(c / expected)`` above it.
    """
    c = np.asarray(count, np.float64)
    lam = np.maximum(np.asarray(expected, np.float64), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = c * np.log(np.where(c > 0, c / lam, 1.0)) - (c - lam)
    return np.where(c > lam, llr, 0.0)
