"""``relationship``: look-ups of people close to the user, as hospital privacy audits run them.

The relationship rules of hospital access auditing (same surname, neighbour, co-worker; see
DOMAIN.md), with what a force knows besides: the relations staff declared at vetting, and every
member of staff's own person record. Each event is resolved to the person it is about (a
vehicle's keeper, a record's subject) and the address it points at, then weighed.
"""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import ET, lookup, padded
from snoopbench.detectors.describe import describe
from snoopbench.detectors.lookups import HashIndex, IdIndex
from snoopbench.detectors.explanation import explanation_state, path_links
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import Groups, PairLog, RunningSum


_DECLARED, _STAFF = 1, 2


class RelationshipDetector(RuleDetector):
    """Look-ups of the user's own circle, weighted by how close the tie is.

    Weights (the largest counts, others add a little): a declared relation, the user's own
    record or home, or a relation's home (1.0); an address within ``near_m`` metres of home (up
    to 0.8); a team-mate's own record (0.8); a relation a team-mate declared, the way an expert
    asks a colleague to look for them (0.5); the same surname, by its rarity (up to 0.6); any
    other colleague's record (0.25). A look-up explained by a held reference linked to the
    entity counts ``explained_weight`` times as much (an officer attending a neighbour's
    incident), one under a held reference never linked to it ``weak_weight`` times. Roles that
    look up people close to them as a matter of course (vetting, professional standards) are
    scaled down by how often their role fired on the warm-up.

    Parameters
    ----------
    repeat_weight : float
        How much each further look-up of the same person or place by the user adds: the n-th
        counts ``1 + repeat_weight * log2(n)`` times the first.
    popular : float
        Scale of a subject's warm-up look-ups by which its weight falls: a subject seen n times
        in the warm-up counts ``1 / sqrt(1 + n / popular)`` (repeat victims and offenders are
        everyone's work).
    """

    name = "relationship"

    def __init__(self, *, near_m: float = 150.0, explained_weight: float = 0.2,
                 weak_weight: float = 0.8, repeat_weight: float = 0.5,
                 popular: float = 10.0) -> None:
        self.near_m = near_m
        self.explained_weight = explained_weight
        self.weak_weight = weak_weight
        self.repeat_weight = repeat_weight
        self.popular = popular

    def learn(self, history: Frame) -> None:
        index, pop = self.index_, self.index_.population
        own = pop.person_pos(index.staff_person)
        self.user_person_ = index.staff_person
        self.user_home_ = pop.people_column("address", own)
        self.user_surname_ = pop.people_column("surname", own)
        hx, hy, hk = pop.address_xy(self.user_home_)
        self.user_xy_ = np.stack([hx, hy]).astype(np.float64)
        self.user_xy_[:, ~hk] = np.nan
        # declared relations: (user, person) and (user, their home); team-mates': (unit, person)
        t = index.table("declared_relations")
        du = np.zeros(0, np.int64) if t is None else index.user_index(t["user_id"].to_numpy())
        dp = np.zeros(0, np.int64) if t is None else t["person_id"].to_numpy().astype(np.int64)
        ok = du >= 0
        du, dp = du[ok], dp[ok]
        home = pop.people_column("address", pop.person_pos(dp))
        self.declared_ = HashIndex(np.unique((du << 40) | dp))
        self.declared_home_ = HashIndex(np.unique((du << 40) | home[home >= 0]))
        unit = index.unit[du] if len(du) else du
        self.team_declared_ = HashIndex(np.unique((unit.astype(np.int64) << 40) | dp))
        # colleagues: whose person record is whose account
        order = np.argsort(self.user_person_, kind="stable")
        self.staff_persons_, self.staff_users_ = self.user_person_[order], order
        # which people and addresses any rule could fire on, to look up only those
        self.person_flag_ = np.zeros(pop.n_people + 1, np.int8)  # the last: nobody's
        self.person_flag_[pop.person_pos(dp)[pop.person_pos(dp) >= 0]] |= _DECLARED
        staff_pos = pop.person_pos(self.user_person_)
        self.person_flag_[staff_pos[staff_pos >= 0]] |= _STAFF
        self.address_flag_ = np.zeros(pop.n_addresses + 1, bool)  # the last: no address
        home_pos = pop.address_pos(home)
        self.address_flag_[home_pos[home_pos >= 0]] = True
        self.n_people_ = max(pop.n_people, 2)
        self.paths_ = PairLog()
        self.repeats_ = RunningSum(np.int64)
        subj = pop.subject(history)
        ids, counts = np.unique(subj[subj >= 0], return_counts=True)
        self.popular_ids_, self.popular_n_ = IdIndex(ids), padded(counts.astype(np.float64), 0.0)
        cand, _, _ = self._raw(history)
        fired = np.zeros(len(history), bool)
        fired[cand] = True
        n_roles = len(index.roles) + 1
        rate = np.bincount(history.role, weights=fired, minlength=n_roles)
        n = np.bincount(history.role, minlength=n_roles)
        overall = (fired.sum() + 1.0) / (len(history) + 1.0)
        role_rate = (rate + 1.0) / (n + 1.0 / overall)
        self.role_scale_ = np.clip(np.sqrt(overall / role_rate), 0.3, 1.0)

    def _raw(self, f: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The events that touch the user's circle, how close (0-1.1), and whom (a pair key)."""
        index, pop = self.index_, self.index_.population
        about_someone = (f.etype <= ET["address"]) | (f.etype >= ET["intel"])  # not crime, incident
        cand = np.flatnonzero((f.user >= 0) & (f.etype >= 0) & about_someone)
        subj = pop.subject_at(f, cand)
        sp = pop.person_pos(subj)
        place = pop.place_at(f, cand, subj, sp)
        keep = (subj >= 0) | (place >= 0)
        cand, subj, place, sp = cand[keep], subj[keep], place[keep], sp[keep]
        u = f.user[cand]
        ap = pop.address_pos(place)
        w = np.zeros(len(cand))

        def add(at: np.ndarray, weight: np.ndarray | float) -> None:
            """Raise the events ``at`` (indices or a mask) to ``weight``, plus a little."""
            old = w[at]
            w[at] = np.maximum(old, weight) + 0.1 * np.minimum(old, weight)

        me, home = self.user_person_[u], self.user_home_[u]
        add(np.flatnonzero((subj == me) & (subj >= 0)), 1.0)
        add(np.flatnonzero((place == home) & (place >= 0)), 1.0)
        # declared relations, their homes, team-mates' relations: only where someone declared
        flag = self.person_flag_[sp]
        i = np.flatnonzero(flag & _DECLARED)
        add(i[self.declared_((u[i] << 40) | subj[i]) >= 0], 1.0)
        unit = index.unit[u[i]].astype(np.int64)
        add(i[self.team_declared_((unit << 40) | subj[i]) >= 0], 0.5)
        i = np.flatnonzero(self.address_flag_[ap])
        add(i[self.declared_home_((u[i] << 40) | place[i]) >= 0], 1.0)
        # colleagues' own records: a team-mate's weighs more
        i = np.flatnonzero(((flag & _STAFF) > 0) & (subj != me))
        pos, found = lookup(self.staff_persons_, subj[i])
        mate = found & (index.unit[self.staff_users_[pos]] == index.unit[u[i]])
        add(i[mate], 0.8)
        add(i[found & ~mate], 0.25)
        # near home
        px, py, pk = pop.address_xy_at(ap)
        dx, dy = px - self.user_xy_[0, u], py - self.user_xy_[1, u]
        near = np.flatnonzero(pk & (dx * dx + dy * dy < (self.near_m + 1.0) ** 2))  # roughly,
        d = np.hypot(dx[near], dy[near])  # then exactly
        near, d = near[d < self.near_m], d[d < self.near_m]
        add(near, 0.8 - 0.5 * d / max(self.near_m, 1e-9))
        # same surname, by its rarity
        surname = pop.people_column("surname", sp)
        same = np.flatnonzero((surname >= 0) & (surname == self.user_surname_[u]) & (subj != me))
        rarity = np.log(self.n_people_ / np.maximum(pop.surname_count(surname[same]), 1)) \
            / np.log(self.n_people_)
        add(same, 0.6 * np.clip(rarity, 0.0, 1.0))
        hit = np.flatnonzero(w > 0)
        subj = subj[hit]
        who = np.where(subj >= 0, subj, place[hit] | (1 << 39))
        return cand[hit], w[hit], (u[hit] << 40) | who

    def score_frame(self, f: Frame) -> np.ndarray:
        out = np.zeros(len(f))
        path_links(f, self.paths_)  # every batch: the paths must see all work
        cand, w, pair = self._raw(f)
        if not len(cand):
            return out
        state = explanation_state(f, self.paths_, cand)
        factor = np.array([self.explained_weight, self.weak_weight, 1.0, 1.0])[state]
        subj = np.where(pair & (1 << 39), -1, pair & ((1 << 39) - 1))  # bit 39: an address
        seen = self.popular_n_[self.popular_ids_(subj)]
        popularity = 1.0 / np.sqrt(1.0 + seen / self.popular)
        repeats = self.repeats_.update(Groups(pair))
        again = 1.0 + self.repeat_weight * np.log2(repeats)
        role = self.index_.role_of(f.user[cand])
        out[cand] = w * factor * popularity * again * self.role_scale_[role]
        return out

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        """The tie: whose record or home it was, and how that person is close to the user."""
        index, pop = self.index_, self.index_.population
        out: dict[int, str] = {}
        subj = pop.subject_at(f, rows)
        sp = pop.person_pos(subj)
        place = pop.place_at(f, rows, subj, sp)
        for r, s, p, spos in zip(rows.tolist(), subj.tolist(), place.tolist(), sp.tolist()):
            u = int(f.user[r])
            if u < 0:
                continue
            ties = []
            if s >= 0 and s == self.user_person_[u]:
                ties.append(f"person:{s}, the user's own record")
            if p >= 0 and p == self.user_home_[u]:
                ties.append(f"address:{p}, the user's own home")
            if s >= 0 and self.declared_(np.array([(u << 40) | s]))[0] >= 0:
                ties.append(f"person:{s}, a relation the user declared")
            elif s >= 0 and self.team_declared_(
                    np.array([(int(index.unit[u]) << 40) | s]))[0] >= 0:
                ties.append(f"person:{s}, a relation a team-mate declared")
            if p >= 0 and self.declared_home_(np.array([(u << 40) | p]))[0] >= 0:
                ties.append(f"address:{p}, the home of a relation the user declared")
            if s >= 0 and s != self.user_person_[u]:
                pos, found = lookup(self.staff_persons_, np.array([s]))
                if found[0]:
                    mate = index.unit[self.staff_users_[pos[0]]] == index.unit[u]
                    ties.append(f"person:{s}, a {'team-mate' if mate else 'colleague'}'s own record")
                surname = pop.people_column("surname", np.array([spos]))[0]
                if surname >= 0 and surname == self.user_surname_[u]:
                    ties.append(f"person:{s}, who shares the user's surname")
            if p >= 0:
                px, py, pk = pop.address_xy_at(pop.address_pos(np.array([p])))
                d = float(np.hypot(px[0] - self.user_xy_[0, u], py[0] - self.user_xy_[1, u]))
                if pk[0] and d < self.near_m and p != self.user_home_[u]:
                    ties.append(f"address:{p}, {d:.0f} m from the user's home")
            if ties:
                out[r] = "; ".join(ties)
        what = describe(f, rows)
        return [f"relationship: {out[r]} ({w})" if r in out else None
                for r, w in zip(rows.tolist(), what)]
