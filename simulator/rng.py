"""One seed owns all randomness: every stream is derived from (scenario seed, stable key)."""

from __future__ import annotations

import hashlib

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
