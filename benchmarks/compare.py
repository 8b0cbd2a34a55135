"""Honest comparisons: per-episode ranks, cumulative recall at daily budgets (CR-K), and paired
tests of one detector against another over the same episodes and seeds.

**Episode ranks.** Each day the harness queues the user-days by score (:func:`daily_rank`); an
episode's *rank* is the best queue place of the user-days that hold its labelled events (0: top
of a day's queue), counting only user-days above the detector's floor. An episode is caught at
``per_day`` alerts a day exactly when its rank is below ``per_day``: one array answers every
budget, the contract's (per 1,000 staff) and the literature's (user-days per day) alike. Ranks
are kept up to :data:`RANK_CAP`; an episode never ranked that high gets the cap.

**CR-K** (Tuor et al. 2017, arXiv:1710.00811, on CERT r6.2; used since on r4.2 and r6.2): an
analyst inspects a fixed number ``k`` of user-days a day; recall at ``k`` is the share of
episodes caught; CR-K is the sum of the recalls at k = 25, 50, ..., K, and the normalised form
nCR-K divides by the number of terms (K / 25): the area under the recall-against-budget curve
over the area a perfect detector would have. See docs/scoring.md for the protocol.

**Paired comparisons** (:func:`paired_difference`): the difference between two detectors' mean
per-seed recall (or nCR-K), with a 95% percentile interval from a two-stage bootstrap that
resamples seeds, then episodes within each resampled seed, always the same resamples for both
detectors (paired); a two-sided bootstrap p-value; Holm's correction over the comparisons
made at once (:func:`holm`). The resamples come from a fixed seed, and are the same for every
pair: the results are deterministic, and swapping A and B exactly negates the difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from snoopbench.benchmarks.metrics import Period, daily_rank, user_day_keys

#: Queue places kept per episode: the largest daily budget of CR-K.
RANK_CAP = 1000
#: The step between daily budgets of CR-K (user-days per day), as in the CERT literature.
CR_STEP = 25
#: The CR-K figures printed and kept in the results.
CR_REPORTED = (400, 1000)
#: Bootstrap resamples of a paired comparison, and their fixed seed.
RESAMPLES = 10_000
BOOT_SEED = 20171002
#: The family-wise error rate under which a difference is called significant (after Holm).
ALPHA = 0.05


@dataclass(frozen=True)
class EpisodeRanks:
    """Per episode with labelled events in the scoring period (rising episode id), its best
    daily queue place (``cap`` if never within the cap)."""

    episode_ids: np.ndarray
    rank: np.ndarray
    cap: int = RANK_CAP

    def caught(self, per_day: int) -> np.ndarray:
        """Per episode, whether it is caught at ``per_day`` alerts a day."""
        if per_day > self.cap:
            raise ValueError(f"ranks are kept up to {self.cap}, not {per_day}")
        return self.rank < per_day

    def recall(self, per_day: int) -> float | None:
        return float(self.caught(per_day).mean()) if len(self.rank) else None

    def cr_terms(self, k: int, step: int = CR_STEP) -> np.ndarray:
        """Per episode, the share of the budgets step, 2 step, ..., k that catch it: its part in
        nCR-k (the mean of these over episodes is nCR-k)."""
        budgets = np.arange(step, k + 1, step)
        if not len(budgets) or k % step or k > self.cap:
            raise ValueError(f"expected k a multiple of {step} in [{step}, {self.cap}], got {k}")
        # caught at b iff rank < b: the count of such b is the count of budgets above the rank
        n_caught = len(budgets) - np.searchsorted(budgets, self.rank, side="right")
        return n_caught / len(budgets)

    def cumulative_recall(self, k: int, step: int = CR_STEP) -> tuple[float, float] | None:
        """(CR-k, nCR-k): the sum of recalls at daily budgets step, 2 step, ..., k; that sum over
        its number of terms. None without episodes."""
        if not len(self.rank):
            return None
        ncr = float(self.cr_terms(k, step).mean())
        return ncr * (k // step), ncr

    def to_json(self) -> dict[str, Any]:
        """CR-K at :data:`CR_REPORTED`, and recall at every step of 25 up to the cap."""
        out: dict[str, Any] = {"step": CR_STEP, "unit": "user-days inspected per day"}
        for k in CR_REPORTED:
            cr = self.cumulative_recall(k)
            out[f"cr_{k}"], out[f"ncr_{k}"] = (None, None) if cr is None else cr
        out["recall_at"] = [{"k": int(k), "recall": self.recall(int(k))}
                            for k in range(CR_STEP, self.cap + 1, CR_STEP)]
        return out


def episode_ranks(truth: Period, episode_ids: np.ndarray, alert_keys: np.ndarray,
                  alert_scores: np.ndarray, cap: int = RANK_CAP) -> EpisodeRanks:
    """The episodes' ranks from a detector's alerts at ``cap`` a day (keys and scores, as
    :meth:`ScoreFold.ranked_alerts` gives them: every user-day with a daily queue place below
    ``cap`` and a score above the floor). ``truth``: the period's labelled events;
    ``episode_ids``: the id of each episode index of ``truth.kinds``."""
    keys = np.asarray(alert_keys, np.int64)
    places = daily_rank(keys, alert_scores)
    present = np.unique(truth.episode)
    best = np.full(len(truth.kinds), cap, np.int64)
    if len(keys) and truth.n_events:
        ev_keys = user_day_keys(truth.user, truth.day)
        order = np.argsort(keys)
        at = np.clip(np.searchsorted(keys[order], ev_keys), 0, len(keys) - 1)
        hit = keys[order][at] == ev_keys
        np.minimum.at(best, truth.episode[hit], places[order][at[hit]])
    ids = np.asarray(episode_ids, np.int64)[present]
    by_id = np.argsort(ids, kind="stable")
    return EpisodeRanks(ids[by_id], best[present][by_id], cap)


@dataclass(frozen=True)
class Paired:
    """A against B on one metric, over the same episodes of the same seeds."""

    a: str
    b: str
    metric: str
    difference: float  # mean over seeds of (A's metric - B's metric)
    low: float
    high: float
    p: float  # two-sided bootstrap p-value
    n_seeds: int
    n_episodes: int
    p_holm: float | None = None  # after Holm's correction over a family of comparisons

    @property
    def significant(self) -> bool:
        p = self.p if self.p_holm is None else self.p_holm
        return p < ALPHA

    def sentence(self) -> str:
        """``A beats B on recall by 0.08 [0.03, 0.13]``, or says the difference is not clear."""
        iv = f"[{self.low:+.2f}, {self.high:+.2f}]"
        p = f"p {_p(self.p)}" + ("" if self.p_holm is None else f", Holm {_p(self.p_holm)}")
        if self.significant:
            win, lose = (self.a, self.b) if self.difference > 0 else (self.b, self.a)
            return (f"{win} beats {lose} on {self.metric} by {abs(self.difference):.2f} "
                    f"[{min(abs(self.low), abs(self.high)):.2f}, "
                    f"{max(abs(self.low), abs(self.high)):.2f}] ({p})")
        return (f"{self.a} vs {self.b} on {self.metric}: {self.difference:+.2f} {iv}, "
                f"not significant ({p})")

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "metric": self.metric, "difference": self.difference,
                "low": self.low, "high": self.high, "p": self.p, "p_holm": self.p_holm,
                "significant": self.significant, "n_seeds": self.n_seeds,
                "n_episodes": self.n_episodes}


def _p(p: float) -> str:
    return f"= {p:.3f}" if p >= 0.001 else "< 0.001"


METHOD = (f"paired two-stage bootstrap (seeds, then episodes within each seed; {RESAMPLES:,} "
          f"resamples, seed {BOOT_SEED}), 95% percentile intervals, Holm-corrected p < {ALPHA}")


def paired_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], *, names=("A", "B"),
                      metric: str = "recall", resamples: int = RESAMPLES,
                      seed: int = BOOT_SEED) -> Paired:
    """A minus B: per seed, arrays of per-episode values (caught flags, or nCR terms) of the
    same episodes in the same order. The statistic is the mean over seeds of the per-seed
    mean difference, as the leaderboard's recall is a mean over seeds. Seeds without episodes
    are left out."""
    if len(a) != len(b):
        raise ValueError("A and B must have the same seeds")
    diffs = []
    for x, y in zip(a, b):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape:
            raise ValueError("A and B must have the same episodes on each seed")
        if len(x):
            diffs.append(x - y)
    if not diffs:
        raise ValueError("no episodes to compare")
    observed = float(np.mean([d.mean() for d in diffs]))
    boot = _two_stage(diffs, resamples, seed)
    boot.sort()
    lo = int(math.floor(0.025 * resamples))
    low, high = float(boot[lo]), float(boot[resamples - 1 - lo])
    below, above = int((boot <= 0).sum()), int((boot >= 0).sum())
    p = min(1.0, 2 * (1 + min(below, above)) / (resamples + 1))  # 1 when every resample is 0
    return Paired(names[0], names[1], metric, observed, low, high, p, len(diffs),
                  sum(len(d) for d in diffs))


def _two_stage(diffs: list[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """Bootstrap means: draw the seeds with replacement, then each drawn seed's episodes. Each
    resample is a weighting of the episodes, the same for every pair of detectors with as many
    episodes per seed, so the weights are drawn once and kept (when small enough)."""
    d = np.concatenate(diffs)
    sizes = tuple(len(x) for x in diffs)
    if resamples * len(d) <= _KEEP_WEIGHTS:
        means = _weights(sizes, resamples, seed) @ d
    else:
        means = np.concatenate([w @ d for w in _weight_chunks(sizes, resamples, seed)])
    return np.clip(means, d.min(), d.max())  # a weighted mean, less the rounding of the sum


_KEEP_WEIGHTS = 8_000_000  # float64 entries of a kept weight matrix (64 MB)


@lru_cache(maxsize=4)
def _weights(sizes: tuple[int, ...], resamples: int, seed: int) -> np.ndarray:
    return np.concatenate(list(_weight_chunks(sizes, resamples, seed)))


def _weight_chunks(sizes: tuple[int, ...], resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Rows of resample weights over the episodes of all seeds (each row sums to 1), a chunk
    at a time; the same chunks for the same ``sizes``, ``resamples`` and ``seed``."""
    rng = np.random.default_rng(seed)
    n = np.array(sizes)
    s, widest, total = len(n), int(n.max()), int(n.sum())
    offset = np.r_[0, np.cumsum(n)[:-1]]
    chunk = max(1, min(resamples, 1_000_000 // max(s * widest, total)))
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        pick = rng.integers(s, size=(m, s))  # the seeds drawn
        size = n[pick][..., None]
        idx = np.minimum((rng.random((m, s, widest)) * size).astype(np.int64), size - 1)
        valid = np.arange(widest) < size  # each drawn seed draws its own number of episodes
        rows = np.broadcast_to(np.arange(m)[:, None, None], idx.shape)
        flat = (rows * total + offset[pick][..., None] + idx)[valid]
        weight = np.broadcast_to(1.0 / (size * s), idx.shape)[valid]
        yield np.bincount(flat, weights=weight, minlength=m * total).reshape(m, total)


def holm(comparisons: Sequence[Paired]) -> list[Paired]:
    """The comparisons with Holm-Bonferroni adjusted p-values (family-wise error rate)."""
    m = len(comparisons)
    order = sorted(range(m), key=lambda i: comparisons[i].p)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * comparisons[i].p))
        adjusted[i] = running
    return [replace(c, p_holm=adj) for c, adj in zip(comparisons, adjusted)]


def metric_values(ranks: EpisodeRanks, metric: str, per_day: int) -> np.ndarray:
    """Per episode, its part in ``metric``: ``recall`` (caught at ``per_day`` alerts a day) or
    ``ncr-K`` (its share of the CR-K budgets that catch it)."""
    if metric == "recall":
        return ranks.caught(per_day).astype(np.float64)
    k = parse_metric(metric)
    return ranks.cr_terms(k)


def parse_metric(metric: str) -> int:
    """The K of ``ncr-K`` (a multiple of 25 up to the cap); ValueError otherwise."""
    head, _, k = metric.lower().partition("-")
    if head != "ncr" or not k.isdigit() or int(k) % CR_STEP or not CR_STEP <= int(k) <= RANK_CAP:
        raise ValueError(f"expected recall or ncr-K with K a multiple of {CR_STEP} up to "
                         f"{RANK_CAP}, got {metric!r}")
    return int(k)


def episode_ids_of(truth_dir: str | Path) -> np.ndarray:
    """The episode id of each episode index of a truth folder (the rows of episodes.parquet)."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(truth_dir) / "episodes.parquet",
                         columns=["episode_id"])["episode_id"].to_numpy().astype(np.int64)


def paired_json(detectors: Sequence[Any]) -> dict[str, Any] | None:
    """The results' ``paired`` section: the episodes and each working detector's ranks (null:
    not within the cap), from which any comparison or budget can be recomputed."""
    ranked = [(d.name, d.ranks) for d in detectors if getattr(d, "ranks", None) is not None]
    if not ranked:
        return None
    ids, cap = ranked[0][1].episode_ids, ranked[0][1].cap
    return {"episodes": ids.tolist(), "rank_cap": cap,
            "ranks": {name: [None if r >= cap else int(r) for r in er.rank.tolist()]
                      for name, er in ranked}}


def ranks_from_json(paired: dict[str, Any], name: str) -> EpisodeRanks:
    """A detector's :class:`EpisodeRanks` from a results file's ``paired`` section."""
    cap = int(paired["rank_cap"])
    rank = np.array([cap if r is None else int(r) for r in paired["ranks"][name]], np.int64)
    return EpisodeRanks(np.asarray(paired["episodes"], np.int64), rank, cap)


def leaderboard_pairs(order: Sequence[str], values: dict[str, dict[int, np.ndarray]],
                      metric: str = "recall") -> list[Paired]:
    """The comparisons a leaderboard marks: each detector against the best (``order[0]``) and
    against the one ranked just above it, Holm-corrected together. ``values[name][seed]``:
    per-episode values of that detector on that seed (seeds it failed on are absent)."""
    ranked = [n for n in order if values.get(n)]
    pairs = [(ranked[0], n) for n in ranked[1:]]
    pairs += [(ranked[i - 1], ranked[i]) for i in range(2, len(ranked))]
    out = []
    for a, b in pairs:
        seeds = sorted(set(values[a]) & set(values[b]))
        if not seeds or not any(len(values[a][s]) for s in seeds):
            continue
        out.append(paired_difference([values[a][s] for s in seeds],
                                     [values[b][s] for s in seeds], names=(a, b), metric=metric))
    return holm(out)
