"""Small array helpers for ragged groups of rows, lean enough to call many times an hour.

numpy's ``unique`` and ``isin`` carry a fixed cost of tens of microseconds in Python; the batches
here are small (an hour's incidents), so these do the same with a few primitive calls.
"""

from __future__ import annotations

import numpy as np


def ragged(count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of ``count`` rows: each row's group and its rank within the group."""
    count = np.asarray(count, np.int64)
    group = np.repeat(np.arange(len(count)), count)
    rank = np.arange(len(group)) - np.repeat(np.cumsum(count) - count, count)
    return group, rank


def group_starts(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by ``group`` (equal values together): where each run starts, and its length."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.empty(n, bool)
    change[0] = True
    np.not_equal(group[1:], group[:-1], out=change[1:])
    start = np.flatnonzero(change)
    length = np.empty_like(start)
    length[:-1] = start[1:] - start[:-1]
    length[-1] = n - start[-1]
    return start, length


def first_in_group(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of each group's first row (rows grouped in order), -1 for an empty group."""
    first = np.full(n_groups, -1, np.int64)
    start, _ = group_starts(group)
    first[group[start]] = start
    return first


def unique_sorted(x: np.ndarray) -> np.ndarray:
    """``np.unique`` for int arrays, without its overhead."""
    x = np.sort(x)
    start, _ = group_starts(x)
    return x[start]


def member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.isin(a, b)`` for int arrays, without its overhead."""
    if not len(b) or not len(a):
        return np.zeros(len(a), bool)
    b = np.sort(b)
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return b[pos] == a


def spread(rng: np.random.Generator, group: np.ndarray, t0: np.ndarray, span: np.ndarray) -> np.ndarray:
    """A time per row, uniform over its group's [t0, t0 + span), sorted within each group."""
    u = rng.random(len(group))
    u = u[np.lexsort((u, group))]
    return (t0[group] + u * span[group]).astype(np.int64)
