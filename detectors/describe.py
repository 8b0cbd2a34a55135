"""Words for explanations: what an event was, naming its record and whom it is about.

Explanations name entities as ``TYPE:ID`` (``person:1234``, ``vehicle:88``), the form the
benchmark reads to check whether an alert named the misuse's target (docs/detectors.md).
"""

from __future__ import annotations

import numpy as np

from snoopbench.contract.schema import ACTIONS, ENTITY_TYPES, SYSTEMS
from snoopbench.detectors.columns import ET
from snoopbench.detectors.frame import Frame


def entity(etype: int, ident: int) -> str:
    """``TYPE:ID`` of an entity type code and id."""
    name = ENTITY_TYPES[etype] if 0 <= etype < len(ENTITY_TYPES) else "record"
    return f"{name}:{int(ident)}"


def describe(f: Frame, rows: np.ndarray) -> list[str]:
    """Per event of ``rows``: ``SYSTEM action TYPE:ID``, and for a record about someone (a car, a
    custody record, an address), ``about person:ID``."""
    rows = np.asarray(rows, np.int64)
    if not len(rows):
        return []
    system, action = f.system_at(rows), f.action_at(rows)
    etype, ident = f.etype[rows], f.entity[rows]
    subject = f.index.population.subject_at(f, rows)
    out = []
    for s, a, e, i, who in zip(system, action, etype, ident, subject):
        text = (f"{SYSTEMS[s] if 0 <= s < len(SYSTEMS) else '?'} "
                f"{ACTIONS[a] if 0 <= a < len(ACTIONS) else '?'} {entity(int(e), int(i))}")
        if who >= 0 and not (e == ET["person"] and who == i):
            text += f" about person:{int(who)}"
        out.append(text)
    return out
