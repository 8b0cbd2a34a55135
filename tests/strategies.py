"""Hypothesis strategies shared by the tests of the scoring rules: periods and their scores.

Importing this module also loads the hypothesis profile those tests run under.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from snoopbench.benchmarks.metrics import Period

KINDS = ("family", "pursuit", "curiosity", "leak_press")
settings.register_profile("snoopbench", max_examples=60, deadline=None)
settings.load_profile("snoopbench")


@st.composite
def periods(draw, max_events: int = 120) -> Period:
    """A period of up to ``max_events`` events (days in no order), ~15% of them labelled."""
    n = draw(st.integers(1, max_events))
    n_users = draw(st.integers(1, 12))
    n_days = draw(st.integers(1, 6))
    n_ep = draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    episode = np.where(rng.random(n) < 0.15, rng.integers(0, max(n_ep, 1), n), -1)
    if n_ep == 0:
        episode[:] = -1
    return Period(
        user=rng.integers(0, n_users, n).astype(np.int32),
        day=(19800 + rng.integers(0, n_days, n)).astype(np.int32),
        episode=episode.astype(np.int32),
        kinds=np.array([KINDS[i % len(KINDS)] for i in range(n_ep)], dtype=object),
        n_staff=draw(st.integers(1, 3000)), n_days=n_days,
    )


def grid_scores(draw, n: int) -> np.ndarray:
    """Scores on a 0.01 grid: ties happen, and monotone transforms keep distinct values apart."""
    return np.array(draw(st.lists(st.integers(-500, 500), min_size=n, max_size=n))) / 100.0
