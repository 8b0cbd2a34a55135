"""One seed owns all randomness: every stream is derived from (scenario seed, stable key)."""

from __future__ import annotations

import hashlib
import math

import numpy as np


def key_entropy(*key: object) -> int:
    """A stable 128-bit integer for a tuple of names (not Python's salted ``hash``)."""
    text = "\x1f".join(str(k) for k in key).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "little")


def derive(seed: int, *key: object) -> np.random.Generator:
    """The generator for one shard, process family or detector: independent of every other key."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key_entropy(*key)])))


def faker_seed(seed: int, *key: object) -> int:
    return key_entropy(seed, *key) % (2**63)


# Exactness across numpy versions and machines. numpy's float ``sum``/``mean`` add in an order
# that has changed between releases (pairwise blocks, SIMD lanes), and ``argsort``'s default
# quicksort orders ties differently on different releases and CPUs. Anything that feeds the data
# therefore sums with ``math.fsum`` (correctly rounded, so order-free), sorts with
# ``kind="stable"``, and draws weighted samples here: a sequential ``cumsum`` and a search, on
# ``rng.random`` alone, rather than ``Generator.choice(p=...)``, whose algorithm numpy may change.

def exact_sum(x: np.ndarray) -> float:
    """The correctly rounded sum of ``x``: the same bits on every numpy and machine."""
    return math.fsum(np.asarray(x, dtype=float).ravel())


def normalised(w: np.ndarray) -> np.ndarray:
    """``w`` scaled to sum to 1, exactly reproducibly."""
    w = np.asarray(w, dtype=float)
    return w / exact_sum(w)


def weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` indexes drawn with replacement in proportion to ``weights`` (inverse CDF)."""
    if size == 0:
        return np.zeros(0, np.int64)
    w = np.asarray(weights, dtype=float)
    cum = np.cumsum(w)  # sequential: the same bits everywhere
    u = rng.random(size) * cum[-1]
    last = int(np.flatnonzero(w > 0)[-1])  # where u rounds up to the total
    return np.minimum(np.searchsorted(cum, u, side="right"), last).astype(np.int64)
