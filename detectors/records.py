"""Rules on what is looked at: ``vip`` (restricted records), ``watchlist`` (criminal networks) and
``media_export`` (body-worn video taken out of DEMS).

Each flags accesses by people with no link to the record through their work, then weighs them by
how unusual such an access is for the user and their role, learned on the warm-up.
"""

from __future__ import annotations

import numpy as np

from snoopbench.detectors.columns import ACT, COPY_ACTIONS, ET, VOCAB, codes, entity_key, ints, ms
from snoopbench.detectors.describe import describe
from snoopbench.detectors.lookups import HashIndex
from snoopbench.detectors.explanation import BLANK, EXPLAINED, Rarity
from snoopbench.detectors.frame import Frame
from snoopbench.detectors.rules import RuleDetector
from snoopbench.detectors.streams import Groups, PairLog, RunningSum, pair_key, poisson_excess


def _table_keys(index, name: str) -> np.ndarray:
    t = index.table(name)
    if t is None:
        return np.zeros(0, np.int64)
    return entity_key(codes(t["entity_type"], VOCAB["entity_type"]), ints(t, "entity_id"))


def day_rate(index, history: Frame, hit: np.ndarray, prior: float) -> np.ndarray:
    """Per user: the share of their working days with a ``hit``, shrunk towards their role's."""
    n_users, n_roles = len(index.user_ids), len(index.roles) + 1
    day = index.local_day(history)
    known = history.user >= 0
    ud = np.unique((day[known] << 32) | history.user[known])
    days = np.bincount(ud & 0xFFFFFFFF, minlength=n_users).astype(np.float64)
    hud = np.unique((day[known & hit] << 32) | history.user[known & hit])
    hit_days = np.bincount(hud & 0xFFFFFFFF, minlength=n_users).astype(np.float64)
    role = index.role_of(np.arange(n_users))
    role_days = np.bincount(role, weights=days, minlength=n_roles)
    role_hits = np.bincount(role, weights=hit_days, minlength=n_roles)
    overall = (hit_days.sum() + 0.5) / (days.sum() + 1.0)
    p_role = (role_hits + 20 * overall) / (role_days + 20)
    p_user = (hit_days + prior * p_role[role]) / (days + prior)
    return np.r_[p_user, overall]  # the last entry stands for users not on the staff list


class VipDetector(RuleDetector):
    """Restricted records (``sensitive_records``) opened by people with no part in the case.

    A celebrity's record, a murder's crime-scene photos: the force flags them, then checks who
    looks. An access is explained if the user held one of the flagged case's references at the
    time (records flagged at the same moment are taken as one case). An unexplained access
    scores 1 plus its rarity for the user (see :class:`detectors.explanation.Rarity`: control
    rooms open incidents without references all day, a PCSO rarely opens crime-scene photos),
    times ``copy_weight`` for a copy (print, export, download, share), raised by the crowd: the
    distinct users with no part in it who opened the same record that local day (curiosity
    comes in crowds). Records nobody flagged count too once such a crowd is larger than
    ``crowd`` and than any the warm-up saw on a record of that type (control rooms open
    incidents nobody assigned them all day), scaled by how far past it they are.
    """

    name = "vip"

    def __init__(self, *, copy_weight: float = 1.5, crowd: int = 6,
                 timezone: str | None = None) -> None:
        self.copy_weight = copy_weight
        self.crowd = crowd
        self.timezone = timezone

    def learn(self, history: Frame) -> None:
        index = self.index_
        t = index.table("sensitive_records")
        z = np.zeros(0, np.int64)
        self.rows_ = HashIndex(z)
        self.since_, self.group_, self.case_, self.case_group_ = z, z, z, z
        if t is not None:
            et = codes(t["entity_type"], VOCAB["entity_type"])
            keys, since = entity_key(et, ints(t, "entity_id")), ms(t["since"])
            case = index.case_of(index.record_ref(et, ints(t, "entity_id")))
            group = np.unique(since, return_inverse=True)[1].reshape(-1).astype(np.int64)
            keys, first = np.unique(keys, return_index=True)
            self.rows_, self.since_, self.group_ = HashIndex(keys), since[first], group[first]
            pairs = np.unique((group[case >= 0] << 32) | case[case >= 0])
            self.case_group_, self.case_ = pairs >> 32, pairs & 0xFFFFFFFF
        self.rarity_ = Rarity(index, history, np.where(index.explained(history), EXPLAINED, BLANK),
                              200.0)
        self.threshold_ = np.full(len(VOCAB["entity_type"]), float(self.crowd))
        self.seen_, self.crowds_ = RunningSum(np.int64), RunningSum(np.int64)
        _, _, blank, crowd = self._candidates(history)
        top = np.zeros(len(self.threshold_))
        np.maximum.at(top, history.etype[blank], crowd)
        self.threshold_ = np.maximum(self.threshold_, top + 1.0)
        self.seen_, self.crowds_ = RunningSum(np.int64), RunningSum(np.int64)

    def _explained(self, f: Frame, idx: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Whether the user held, at the time, the case of each flagged record hit (a reference
        of its own, typed or not, explains nothing unless it is of that case)."""
        ok = self.index_.holds_own_at(f, idx)
        lo = np.searchsorted(self.case_group_, group)
        n = np.searchsorted(self.case_group_, group, side="right") - lo
        rows = np.repeat(np.arange(len(idx)), n)
        pick = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())
        held = self.index_.holdings(f.user[idx][rows], self.case_[pick], f.ts[idx][rows])
        if len(rows):
            ok |= np.bincount(rows, weights=held, minlength=len(idx)) > 0
        return ok

    def _crowds(self, f: Frame, idx: np.ndarray) -> np.ndarray:
        """Distinct users so far today opening each record of ``idx`` with no reference typed
        (work under a reference is claimed; the explanation of flagged hits is checked apart)."""
        index = self.index_
        day = index.local_day(f)[idx]
        key = entity_key(f.etype[idx], f.entity[idx])
        low = (1 << 40) - 1  # the day in the high bits, so that past days can be forgotten
        first = self.seen_.update(Groups((day << 40) | (pair_key(f.user[idx], key) & low))) == 1
        crowd = self.crowds_.update(Groups((day << 40) | (pair_key(key, 0) & low)),
                                    first.astype(np.int64))
        if len(idx):  # later events are on this batch's last day or after
            self.seen_.forget_below(int(day[-1]) << 40)
            self.crowds_.forget_below(int(day[-1]) << 40)
        return crowd.astype(np.float64)

    def _candidates(self, f: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flagged records opened with no part in the case, and blank-reference record accesses
        with their crowds: (flagged idx, flagged crowd, blank idx, blank crowd)."""
        records = np.flatnonzero((f.etype >= ET["crime"]) | (f.etype == ET["person"]))
        blank = records[~f.typed[records]]
        crowd = self._crowds(f, blank)
        row = self.rows_(entity_key(f.etype[records], f.entity[records]))
        hit = np.flatnonzero(row >= 0)
        hit = hit[f.ts[records[hit]] >= self.since_[row[hit]]]
        flagged, row = records[hit], row[hit]
        odd = ~self._explained(f, flagged, self.group_[row])
        flagged = flagged[odd]
        crowd_of = np.zeros(len(f))
        crowd_of[blank] = crowd
        return flagged, np.maximum(crowd_of[flagged], 1.0), blank, crowd

    def score_frame(self, f: Frame) -> np.ndarray:
        out = np.zeros(len(f))
        flagged, flagged_crowd, blank, crowd = self._candidates(f)
        threshold = self.threshold_[f.etype[blank]]
        busy = crowd >= threshold
        popular = blank[busy]
        excess = (crowd[busy] - threshold[busy] + 1.0) / threshold[busy]
        for idx, factor in ((popular, 0.5 * excess), (flagged, 1.0 + np.log2(flagged_crowd) / 4.0)):
            if not len(idx):
                continue
            base = np.where(np.isin(f.action[idx], COPY_ACTIONS), self.copy_weight, 1.0)
            rarity = self.rarity_(f, idx, np.full(len(idx), BLANK))
            out[idx] = np.maximum(out[idx], base * (1.0 + rarity) * factor)
        return out

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        flagged = self.rows_(entity_key(f.etype[rows], f.entity[rows])) >= 0
        return [f"vip: restricted record opened with no part in its case: {d}" if hit else
                f"vip: many users with no reference opened this record today: {d}"
                for hit, d in zip(flagged, describe(f, rows))]


class WatchlistDetector(RuleDetector):
    """Look-ups of a criminal network's people, vehicles and intelligence (``watchlists``) by
    staff not tasked to them.

    A hit is explained if the user held the record's own case, or typed a held reference under
    which another user had already looked up the same list (the operation's team). Unexplained
    hits score the rarity of such a day for the user: ``-log10`` of the share of their warm-up
    days with one, shrunk towards their role's (analysts search networks every week), raised a
    little with each further hit that day.

    Parameters
    ----------
    prior : float
        Days' worth of the role's rate the user's own warm-up rate is shrunk towards.
    """

    name = "watchlist"

    def __init__(self, *, prior: float = 5.0, timezone: str | None = None) -> None:
        self.prior = prior
        self.timezone = timezone

    def _hits(self, f: Frame) -> tuple[np.ndarray, np.ndarray]:
        """Events on a watched record or person, their vehicles and records, and the list."""
        row = self.rows_(entity_key(f.etype, f.entity))
        idx = np.flatnonzero(row >= 0)
        return idx, self.list_[row[idx]]

    def _explained(self, f: Frame, idx: np.ndarray, listed: np.ndarray) -> np.ndarray:
        index = self.index_
        if not len(idx):
            return np.zeros(0, bool)
        case = index.ref_case_at(f, idx)
        linked = self.paths_.observe(pair_key(case, listed), f.user[idx])
        return index.holds_own_at(f, idx) | (index.held_at(f, idx, case) & linked)

    def learn(self, history: Frame) -> None:
        index = self.index_
        t = index.table("watchlists")
        keys = _table_keys(index, "watchlists")
        lists = np.unique(t["list"].to_numpy(zero_copy_only=False), return_inverse=True)[1] \
            .reshape(-1).astype(np.int64) if t is not None else np.zeros(0, np.int64)
        # a listed person's vehicles and the records about them are theirs too
        people = (keys >> 56) == ET["person"]
        person_list = dict(zip((keys[people] & ((1 << 56) - 1)).tolist(), lists[people].tolist()))
        extra_keys, extra_lists = [], []
        vehicles = index.table("vehicles")
        if vehicles is not None and person_list:
            keeper = ints(vehicles, "keeper_id")
            mine = np.isin(keeper, list(person_list))
            extra_keys.append(entity_key(np.full(mine.sum(), ET["vehicle"]),
                                         ints(vehicles, "vehicle_id")[mine]))
            extra_lists.append(np.array([person_list[k] for k in keeper[mine].tolist()], np.int64))
        records = index.table("records")
        if records is not None and person_list:
            subject = ints(records, "subject_id")
            mine = np.isin(subject, list(person_list))
            extra_keys.append(entity_key(codes(records["entity_type"], VOCAB["entity_type"])[mine],
                                         ints(records, "entity_id")[mine]))
            extra_lists.append(np.array([person_list[k] for k in subject[mine].tolist()], np.int64))
        keys = np.concatenate([keys, *extra_keys])
        lists = np.concatenate([lists, *extra_lists])
        keys, first = np.unique(keys, return_index=True)
        self.rows_, self.list_ = HashIndex(keys), lists[first]
        self.paths_ = PairLog()
        idx, listed = self._hits(history)
        odd = np.zeros(len(history), bool)
        odd[idx[~self._explained(history, idx, listed)]] = True
        self.paths_ = PairLog()
        self.p_day_ = day_rate(index, history, odd, self.prior)
        self.counts_ = RunningSum(np.int64)

    def score_frame(self, f: Frame) -> np.ndarray:
        out = np.zeros(len(f))
        idx, listed = self._hits(f)
        if not len(idx):
            return out
        odd = idx[~self._explained(f, idx, listed)]
        user = f.user[odd]
        day = self.index_.local_day(f)[odd]
        n = self.counts_.update(Groups((day << 32) | (user & 0xFFFFFFFF)))
        p = self.p_day_[np.where(user >= 0, user, len(self.p_day_) - 1)]
        out[odd] = -np.log10(p) * (1.0 + 0.25 * np.log2(n))
        return out

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        return [f"watchlist: a listed network's record looked up with no task: {d}"
                for d in describe(f, rows)]


class MediaExportDetector(RuleDetector):
    """Body-worn video and other DEMS media exported, downloaded or shared with no link to the
    user's work, counted over the day against what the user and their role's peers do:
    disclosure officers export in bulk. A link is a held case the media belongs to, or a held
    reference typed for it under which another user has already opened the same clip.

    Each unlinked copy counts 1 and each unlinked view ``view_weight``, times
    ``mismatch_weight`` when the user typed a reference that is not the media's case (a
    justification that does not justify), times ``1 + log2(n)`` for the n-th access of the same
    clip by the user (one clip watched again and again, then copied). An event scores the
    day's running count's excess (a Poisson log-likelihood ratio) over the user's busiest
    warm-up day, shrunk towards a busy day of the role (its upper quartile) by ``prior`` days'
    worth: copying media comes in bursts, and the question is whether today is beyond them.
    """

    name = "media_export"

    def __init__(self, *, view_weight: float = 0.25, mismatch_weight: float = 3.0,
                 prior: float = 3.0, timezone: str | None = None) -> None:
        self.view_weight = view_weight
        self.mismatch_weight = mismatch_weight
        self.prior = prior
        self.timezone = timezone

    def _unlinked(self, f: Frame) -> tuple[np.ndarray, np.ndarray]:
        """Media accesses with no link to the user's work, and what each counts for."""
        index = self.index_
        media = np.flatnonzero(f.etype == ET["media"])
        case = index.ref_case_at(f, media)
        held = np.flatnonzero(index.held_at(f, media, case))  # under a held reference: a path?
        path = np.zeros(len(media), bool)
        path[held] = self.paths_.observe(pair_key(case[held], f.entity[media[held]]),
                                         f.user[media[held]])
        action = f.action[media]
        weight = np.where(np.isin(action, COPY_ACTIONS), 1.0,
                          np.where(action == ACT["view"], self.view_weight, 0.0))
        keep = (weight > 0) & ~path
        media, weight, case = media[keep], weight[keep], case[keep]
        linked = index.holds_own_at(f, media)
        media, weight, case = media[~linked], weight[~linked], case[~linked]
        own = index.case_of(index.record_ref_at(f, media))
        mismatch = f.typed[media] & (case != own)
        again = self.clips_.update(Groups(pair_key(f.user[media], f.entity[media])))
        return media, weight * np.where(mismatch, self.mismatch_weight, 1.0) * (1 + np.log2(again))

    def learn(self, history: Frame) -> None:
        index = self.index_
        n_users, n_roles = len(index.user_ids), len(index.roles) + 1
        self.clips_ = RunningSum(np.int64)  # (user, clip): the same clip again and again
        self.paths_ = PairLog()  # (case, clip): touched under that case by another user
        idx, w = self._unlinked(history)
        day = index.local_day(history)
        known = history.user >= 0
        ud = np.unique((day[known] << 32) | history.user[known])
        days = np.bincount(ud & 0xFFFFFFFF, minlength=n_users).astype(np.float64)
        user = history.user[idx]
        known = user >= 0
        ud_keys, inv = np.unique((day[idx][known] << 32) | user[known], return_inverse=True)
        day_total = np.bincount(inv.reshape(-1), weights=w[known])
        busiest = np.zeros(n_users)  # the user's busiest warm-up day: copying comes in bursts
        np.maximum.at(busiest, ud_keys & 0xFFFFFFFF, day_total)
        role = index.role_of(np.arange(n_users))
        role_busiest = np.zeros(n_roles)
        for r in range(n_roles):
            mine = busiest[(role == r) & (days > 0)]
            role_busiest[r] = np.quantile(mine, 0.75) if len(mine) else 0.0
        expected = (days * busiest + self.prior * role_busiest[role]) / (days + self.prior)
        self.expected_ = np.r_[expected, role_busiest.max()] + 0.1
        self.counts_ = RunningSum(np.float64)
        self.clips_ = RunningSum(np.int64)
        self.paths_ = PairLog()

    def score_frame(self, f: Frame) -> np.ndarray:
        out = np.zeros(len(f))
        idx, w = self._unlinked(f)
        if not len(idx):
            return out
        user = f.user[idx]
        day = self.index_.local_day(f)[idx]
        n = self.counts_.update(Groups((day << 32) | (user & 0xFFFFFFFF)), w)
        lam = self.expected_[np.where(user >= 0, user, len(self.expected_) - 1)]
        copy = np.isin(f.action[idx], COPY_ACTIONS)
        out[idx] = poisson_excess(n, lam) + np.where(copy, 0.1, 0.01)
        return out

    def explain_frame(self, f: Frame, rows: np.ndarray) -> list[str | None]:
        return [f"media_export: media with no link to the user's work: {d}"
                for d in describe(f, rows)]
