"""``explanation``: accesses no held reference explains, weighted by how unusual they are.

Explanation-based auditing (Fabbri and LeFevre, PVLDB 2011): an access is explained when a path
leads from the user to the record through the user's work. Here the paths are the ``tasking``
table (which incident and case references a user holds, ``since`` and ``until``), the links
between an incident and the crime recorded from it, and the reference each record belongs to.
"""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import ACT, ENTITY_TYPES, ET, SYSTEMS, entity_key
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.population import Popularity
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import PairLog, pair_key

_READ, _WRITE, _COPY = 0, 1, 2
#: action code -> read / write / copy
_ACTION_GROUP = np.array([_READ, _READ, _WRITE, _WRITE, _COPY, _COPY, _COPY, _COPY, _WRITE])
_N_STATES = 4
_N_CELLS = (_N_STATES - 1) * len(SYSTEMS) * len(ENTITY_TYPES) * 3 * 2
EXPLAINED, WEAK, BLANK, FOREIGN = range(_N_STATES)


def path_links(f: Frame, paths: PairLog) -> tuple[np.ndarray, np.ndarray]:
    """Look-ups of people, vehicles and addresses under a held reference, and which of them
    another user had already made under the same case (a *path*). Each log sees a frame once."""
    # the memo key holds the log itself, whose id is never reused while the frame lives
    return f.memo(("paths", paths), lambda: _observe_paths(f, paths))


def _observe_paths(f: Frame, paths: PairLog) -> tuple[np.ndarray, np.ndarray]:
    index = f.index
    personal = np.flatnonzero((f.etype <= ET["address"]) & (f.etype >= 0))
    case = index.ref_case_at(f, personal)
    typed = case >= 0
    cand, case = personal[typed], case[typed]
    held = index.held_at(f, cand, case)
    idx, case = cand[held], case[held]
    key = pair_key(case, entity_key(f.etype[idx], f.entity[idx]))
    return idx, paths.observe(key, f.user[idx])


def explanation_state(f: Frame, paths: PairLog | None, idx: np.ndarray | None = None
                      ) -> np.ndarray:
    """Per event (of ``idx``, default all): 0 explained; 1 under a held reference never linked
    to the record; 2 with no reference and no held case; 3 under a typed reference not held.

    A look-up of a person, vehicle or address under a held reference is fully explained only
    once another user has touched that entity under the same case (a *path*): a careful misuser
    types one of their own references, but their relatives are on none of its records.
    """
    index = f.index
    explained = index.explained(f) if idx is None else index.explained_at(f, idx)
    typed = f.typed if idx is None else f.typed[idx]
    state = np.where(explained, EXPLAINED, typed + BLANK)  # FOREIGN is BLANK + 1
    if paths is None:
        return state
    held_personal, linked = path_links(f, paths)
    if idx is None:
        state[held_personal[~linked]] = WEAK
    else:
        weak = np.zeros(len(f), bool)
        weak[held_personal[~linked]] = True
        state[weak[idx]] = WEAK
    return state


def cells(f: Frame, idx: np.ndarray, state: np.ndarray, subject: np.ndarray | None = None
          ) -> np.ndarray:
    """The kind of the accesses ``idx`` (whose explanation ``state`` is given): how unexplained,
    system, entity type, read / write / copy, and whether they point outside the user's area."""
    group = _ACTION_GROUP[np.clip(f.action_at(idx), 0, len(ACT) - 1)]
    sys_ = np.clip(f.system_at(idx), 0, len(SYSTEMS) - 1)
    et = np.clip(f.etype[idx], 0, len(ENTITY_TYPES) - 1)
    kind = (((state - 1).clip(0) * len(SYSTEMS) + sys_) * len(ENTITY_TYPES) + et) * 3 + group
    return kind * 2 + f.index.away_at(f, idx, subject)


class Rarity:
    """How rare each kind of unexplained access is for a user: ``-log10`` of the probability
    that the user makes one of that kind (cell), from the warm-up, shrunk towards the role's
    (``prior`` events' worth) and the role's towards the force's."""

    def __init__(self, index, history: Frame, state: np.ndarray, prior: float) -> None:
        n_roles = len(index.roles) + 1
        odd = state > 0
        cell = cells(history, np.flatnonzero(odd), state[odd])
        user = history.user[odd]
        known = user >= 0
        role = history.role
        n_all = np.bincount(cell, minlength=_N_CELLS).astype(np.float64)
        p_all = (n_all + 1.0) / (len(history) + _N_CELLS)
        by_role = np.zeros((n_roles, _N_CELLS))
        np.add.at(by_role, (role[odd], cell), 1.0)
        role_n = np.bincount(role, minlength=n_roles).astype(np.float64)[:, None]
        self.p_role = (by_role + 10 * prior * p_all) / (role_n + 10 * prior)
        n_users = len(index.user_ids)
        user_counts = np.bincount(user[known].astype(np.int64) * _N_CELLS + cell[known],
                                  minlength=n_users * _N_CELLS).reshape(n_users, _N_CELLS)
        user_n = np.bincount(history.user[history.user >= 0], minlength=n_users)
        role_of = index.role_of(np.arange(n_users))
        p_user = (user_counts + prior * self.p_role[role_of]) / (user_n[:, None] + prior)
        rarity = -np.log10(np.clip(np.vstack([p_user, self.p_role]), 1e-12, 1.0))
        self.table = rarity.astype(np.float32).ravel()  # users, then roles (for unknown users)
        self.n_users = n_users
        self.unknown_role = len(index.roles)  # the role code of users not on the staff list

    def __call__(self, f: Frame, idx: np.ndarray, state: np.ndarray,
                 subject: np.ndarray | None = None) -> np.ndarray:
        """Rarity of the accesses ``idx`` of ``f`` (``state``: their explanation states;
        ``subject``: whom they are about, if known)."""
        cell = cells(f, idx, state, subject)
        user = f.user[idx]
        row = np.where(user >= 0, user, self.n_users + self.unknown_role)
        return self.table[row * _N_CELLS + cell].astype(np.float64)


class ExplanationDetector(RuleDetector):
    """Accesses not explained by a reference the user holds, scored by their rarity for the user.

    An unexplained read or copy scores ``-log10`` of the probability that this user makes an
    unexplained access of this kind (how unexplained, system, entity type, read / write /
    copy), learned on the
    warm-up and shrunk towards the user's role (``prior`` events' worth), then towards the force.
    Analysts who search without references all day score low for it; a response officer's
    unreferenced PNC check at home scores high. With ``paths``, a person, vehicle or address
    looked up under a held reference counts as only weakly explained until another user has
    touched it under the same case. Creating and updating records is work, not snooping: writes
    score 0.

    Parameters
    ----------
    popular : float
        Scale of a subject's warm-up touches by which an unexplained access to it scores less:
        ``1 / sqrt(1 + n / popular)`` for a subject touched n times (0: no such discount).
    """

    name = "explanation"

    def __init__(self, *, prior: float = 200.0, paths: bool = True,
                 popular: float = 10.0) -> None:
        self.prior = prior
        self.paths = paths
        self.popular = popular

    def learn(self, history: Frame) -> None:
        state = explanation_state(history, PairLog() if self.paths else None)
        self.rarity_ = Rarity(self.index_, history, state, self.prior)
        self.paths_ = PairLog() if self.paths else None
        self.popularity_ = Popularity(history, self.popular) if self.popular > 0 else None

    def _event_scores(self, f: Frame, state: np.ndarray) -> np.ndarray:
        out = np.zeros(len(f))
        odd = np.flatnonzero(state > 0)
        odd = odd[_ACTION_GROUP[np.clip(f.action_at(odd), 0, len(ACT) - 1)] != _WRITE]
        subject = f.index.population.subject_at(f, odd)
        out[odd] = self.rarity_(f, odd, state[odd], subject)
        if self.popularity_ is not None:
            out[odd] *= self.popularity_.obscurity(f, odd, subject)
        return out

    def score_frame(self, f: Frame) -> np.ndarray:
        return self._event_scores(f, explanation_state(f, self.paths_))

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        from snoopbench.detectors.describe import describe

        return [f"explanation: no reference the user held explains {d}"
                for d in describe(f, rows)]
