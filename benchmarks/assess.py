"""Assessment: run monitoring regimes over a simulated force, day by day, and count what they find.

For one dataset and its truth, each regime (:mod:`benchmarks.regimes`) is run over the scoring
period (the days after warm-up; episodes wholly in the warm-up are left out, as in recall):

- **alerts**: every detector any regime names is run once, sandboxed, by the harness
  (:func:`benchmarks.harness.detector_alerts`, the same alert rules as ``score``). Each day a
  regime's reviewers take its detectors' alerts best first (each detector's first alert of the
  day, then each one's second, ...; a user-day raised by two detectors is reviewed once) up to the
  review capacity. A reviewed user-day holding an episode's labelled events is confirmed with
  the reviewer's probability for the episode's skill; the misuser is found that day.
- **audits**: at the end of each period (month: 30 days, quarter: 91, counted from the first day
  after warm-up) a share of the users is drawn; an audit covers that user's activity over its
  window and finds each episode with labelled events there with the auditor's hit rate.
- **reactive routes** (complaint, intelligence, colleague, public) fire per episode with the
  regime's probability for its kind, after a drawn delay from the episode's last day (the public
  route: from ``public_at``, and only for episodes that have it). A report after the last day is
  not a finding. These reports are truth only: they are drawn here, from the truth, and never
  written into a dataset's ``events/`` or ``context/`` (a detector that could read complaints would
  be told the answer).
- a **misuser** (an actor with one or more active episodes) is found at the earliest route
  (ties: alert, audit, complaint, intelligence, colleague, public); the finding's outcome is
  drawn from the regime's outcome shares.

Randomness is seeded from the world's seed: the reactive draws from the seed alone (so every
regime faces the same complaints where their probabilities agree: common random numbers), the
review, audit and outcome draws from the seed and the regime's name.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow.parquet as pq

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.benchmarks.harness import detector_alerts
from snoopbench.benchmarks.intervals import clipped_mean_interval, count_interval, poisson_bounds, share_interval
from snoopbench.benchmarks.metrics import key_days, user_day_keys
from snoopbench.benchmarks.regimes import OUTCOMES, PERIOD_DAYS, ROUTES, Regime
from snoopbench.benchmarks.reviewer import delay_days
from snoopbench.contract.info import local_days
from snoopbench.detectors.registry import parse_spec

FORMAT = "snoopbench/assessment/v1"
FOUND_BY = ("alert",) + ("audit",) + ROUTES
SCALED = ("active", "found", "never_found", "disciplined", "dismissed_or_resigned", "reviewed_per_day", "audits")
_NEVER = np.iinfo(np.int64).max


@dataclass
class RegimeRun:
    """One regime on one world: counts of misusers, and what it cost to review."""

    regime: str
    seed: int
    n_staff: int
    n_days: int
    scale: float = 1.0  # staff in the force over staff simulated (1: the whole force)
    active: int = 0
    found_by: dict[str, int] = field(default_factory=lambda: {r: 0 for r in FOUND_BY})
    days_to_find: list[int] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    by_skill: dict[str, dict[str, int]] = field(default_factory=dict)
    reviewed: int = 0
    reviewed_true: int = 0
    audited: int = 0
    detectors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> int:
        return sum(self.found_by.values())

    def figures(self) -> dict[str, float | None]:
        """The numbers that are averaged over seeds (counts scaled up to the whole force)."""
        out: dict[str, float | None] = {
            "active": self.active, "found": self.found, "never_found": self.active - self.found,
            "dark_share": (self.active - self.found) / self.active if self.active else None,
            "disciplined": self.found - self.outcomes["no_action"],
            "dismissed_or_resigned": self.outcomes["dismissal_or_resignation"],
            "days_to_find_median": float(np.median(self.days_to_find)) if self.days_to_find else None,
            "reviewed_per_day": self.reviewed / self.n_days if self.n_days else None,
            "review_precision": self.reviewed_true / self.reviewed if self.reviewed else None,
            "audits": self.audited,
        }
        for n in ("found", "disciplined", "dismissed_or_resigned"):
            out[f"{n}_share"] = out[n] / self.active if self.active else None
        out.update({f"found_{r}": n for r, n in self.found_by.items()})
        out.update({f"outcome_{o}": n for o, n in self.outcomes.items()})
        if self.scale != 1.0:
            for k, v in out.items():
                counted = k in SCALED or k.startswith("outcome_") or k.removeprefix("found_") in FOUND_BY
                if v is not None and counted:
                    out[k] = v * self.scale
        return out

    def to_json(self) -> dict[str, Any]:
        return {"regime": self.regime, "seed": self.seed, "n_staff": self.n_staff, "n_days": self.n_days,
                "scale": self.scale,
                **self.figures(), "days_to_find": self.days_to_find, "by_kind": self.by_kind,
                "by_skill": self.by_skill, "detectors": self.detectors}


@dataclass(frozen=True)
class _Truth:
    """The period's active episodes and their labelled user-days."""

    kind: np.ndarray  # per active episode
    skill: np.ndarray
    actor: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    public_day: np.ndarray  # _NEVER where none
    lab_key: np.ndarray  # labelled user-days (distinct per episode)
    lab_episode: np.ndarray  # index into the active episodes
    first_day: int
    last_day: int
    n_staff: int
    staff_ids: np.ndarray


def _truth(dataset_dir: Path, truth_dir: Path | None, batch_size: int):
    dataset = open_dataset(dataset_dir)
    tdir = truth_dir_of(dataset, truth_dir)
    period = scoring_period(dataset, tdir, batch_size)
    eps = pq.read_table(tdir / "episodes.parquet",
                        columns=["episode_id", "kind", "actor_id", "skill", "start", "end", "public_at"])
    eps = eps.sort_by("episode_id")  # the order scoring_period indexes them in
    lab = period.labelled
    active = np.unique(lab.episode)
    remap = np.full(eps.num_rows, -1, np.int64)
    remap[active] = np.arange(len(active))
    tz = dataset.timezone

    def days(col: str) -> np.ndarray:
        ts = eps[col].cast("int64").to_numpy(zero_copy_only=False)
        return local_days(ts, tz).astype(np.int64)[active]

    public = eps["public_at"]
    public_day = np.full(len(active), _NEVER, np.int64)
    has = ~np.asarray(public.is_null().to_numpy(zero_copy_only=False))[active]
    if has.any():
        ts = public.cast("int64").fill_null(0).to_numpy(zero_copy_only=False)[active]
        public_day[has] = local_days(ts[has], tz)
    keys = user_day_keys(lab.user, lab.day)
    pairs = np.unique(np.c_[keys, remap[lab.episode]], axis=0)
    first_day = int(period.start_days[0]) if len(period.start_days) else 0
    staff = pq.read_table(dataset.context_dir / "staff.parquet", columns=["user_id"])
    truth = _Truth(
        kind=np.asarray(eps["kind"].to_pylist(), object)[active],
        skill=np.asarray(eps["skill"].to_pylist(), object)[active],
        actor=eps["actor_id"].to_numpy()[active].astype(np.int64),
        start_day=np.maximum(days("start"), first_day), end_day=days("end"), public_day=public_day,
        lab_key=pairs[:, 0].astype(np.int64), lab_episode=pairs[:, 1].astype(np.int64),
        first_day=first_day, last_day=first_day + period.n_days - 1, n_staff=period.n_staff,
        staff_ids=np.sort(staff["user_id"].to_numpy().astype(np.int64)))
    return period, truth


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def _review(regime: Regime, capacity: float, alerts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The user-days a regime's reviewers look at: each day, alerts best first by rank across its
    detectors (then by detector order), a user-day once, up to ``capacity`` (a fractional capacity
    is spread evenly: day d reviews floor(c(d+1)) - floor(cd))."""
    if capacity <= 0 or not alerts:
        return np.empty(0, np.int64)
    keys, ranks, which = [], [], []
    for i, (k, best) in enumerate(alerts):
        if not len(k):
            continue
        d = key_days(k).astype(np.int64)
        order = np.lexsort((k, -best, d))  # by day, best first, then by key
        k, d = k[order], d[order]
        starts = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
        rank = np.arange(len(k)) - np.repeat(starts, np.diff(np.r_[starts, len(k)]))
        keys.append(k), ranks.append(rank), which.append(np.full(len(k), i))
    if not keys:
        return np.empty(0, np.int64)
    k, r, w = np.concatenate(keys), np.concatenate(ranks), np.concatenate(which)
    order = np.lexsort((w, r, key_days(k)))
    k = k[order]
    _, first = np.unique(k, return_index=True)
    k = k[np.sort(first)]  # a user-day once, at its best place
    d = key_days(k)
    starts = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1]
    place = np.arange(len(k)) - np.repeat(starts, np.diff(np.r_[starts, len(k)]))
    dn = d.astype(np.float64)
    allowed = np.floor(capacity * (dn + 1) + 1e-9) - np.floor(capacity * dn + 1e-9)
    return np.sort(k[place < allowed])


def run_regime(regime: Regime, truth: _Truth, seed: int,
               alerts: dict[str, tuple[Any, np.ndarray, np.ndarray]], scale: float = 1.0) -> RegimeRun:
    """One regime on one world (``alerts``: per detector SPEC, its row, alert keys and scores).

    ``scale``: the world is a sample of a force ``scale`` times its size; the review capacity is
    the force's, shared out per member of staff, and the counts are scaled up."""
    t = truth
    n_days = t.last_day - t.first_day + 1
    run = RegimeRun(regime.name, seed, int(round(t.n_staff * scale)), n_days, scale)
    n_ep = len(t.kind)
    found_day = np.full((len(FOUND_BY), n_ep), _NEVER, np.int64)

    # reactive routes: common uniforms per (route, episode), from the seed alone
    shared = _rng(seed, "reactive")
    u_fire, u_delay = shared.random((len(ROUTES), n_ep)), shared.random((len(ROUTES), n_ep))
    for j, route in enumerate(ROUTES):
        for kind in np.unique(t.kind) if n_ep else ():
            spec = regime.route(str(kind), route)
            m = t.kind == kind
            base = t.public_day[m] if route == "public" else t.end_day[m]
            fires = (u_fire[j, m] < spec["probability"]) & (base != _NEVER)
            delay = delay_days(spec["delay"], spec["delay_mean_days"], u_delay[j, m])
            day = np.where(fires, base + delay, _NEVER)
            found_day[2 + j, m] = np.where(day <= t.last_day, day, _NEVER)

    # random audits of users, at the end of each period: each period's staff in a drawn order (the
    # first share of them audited) and a uniform per episode, from the seed alone, so that a larger
    # share audits a superset and every regime faces the same draws
    a = regime.data["audits"]
    if a["share"] > 0 and len(t.staff_ids):
        plen = PERIOD_DAYS[a["period"]]
        n_pick = min(len(t.staff_ids), int(round(a["share"] * len(t.staff_ids))))
        lab_user = (t.lab_key & 0xFFFFFFFF).astype(np.int64)
        lab_day = key_days(t.lab_key).astype(np.int64)
        audit_rng = _rng(seed, "audit:" + a["period"])
        for day in range(t.first_day + plen - 1, t.last_day + 1, plen):
            users = audit_rng.permutation(t.staff_ids)[:n_pick]
            u_hit = audit_rng.random(n_ep)
            run.audited += n_pick
            inside = np.isin(lab_user, users) & (lab_day > day - a["window_days"]) & (lab_day <= day)
            for ep in np.unique(t.lab_episode[inside]):
                if u_hit[ep] < a["hit_rate"]:
                    found_day[1, ep] = min(found_day[1, ep], day)

    # proactive alerts within the review capacity
    capacity = regime.capacity(t.n_staff * scale) / scale
    usable = []
    for spec in regime.detectors:
        row, keys, best = alerts[parse_spec(spec).name]  # rows are named as the SPEC names them
        run.detectors.append({"name": row.name, "status": row.status, "error": row.error})
        if row.status == "ok":
            usable.append((keys, best))
    reviewed = _review(regime, capacity, usable)
    run.reviewed = len(reviewed)
    hit = np.isin(t.lab_key, reviewed)
    run.reviewed_true = int(np.isin(reviewed, t.lab_key).sum())
    confirm = regime.data["proactive"]["confirm"]
    p_confirm = np.array([confirm[str(s)] for s in t.skill], np.float64)[t.lab_episode]
    u_confirm = _rng(seed, "confirm").random(len(t.lab_key))  # one per labelled user-day and episode
    ok = hit & (u_confirm < p_confirm)
    if ok.any():
        days = key_days(t.lab_key[ok]).astype(np.int64)
        np.minimum.at(found_day[0], t.lab_episode[ok], days)

    # misusers: found at their earliest route
    actors, inverse = np.unique(t.actor, return_inverse=True)
    run.active = len(actors)
    shares = np.array([regime.data["outcomes"][o] for o in OUTCOMES])
    cum = np.cumsum(shares / shares.sum())
    u_outcome = _rng(seed, "outcome").random(len(actors))  # one per misuser, from the seed alone
    for i in range(len(actors)):
        eps = np.flatnonzero(inverse == i)
        first = eps[np.argmin(t.start_day[eps])]
        kind, skill = str(t.kind[first]), str(t.skill[first])
        row_k = run.by_kind.setdefault(kind, {"active": 0, "found": 0})
        row_s = run.by_skill.setdefault(skill, {"active": 0, "found": 0})
        row_k["active"] += 1
        row_s["active"] += 1
        days = found_day[:, eps].min(axis=1)
        if days.min() == _NEVER:
            continue
        route = int(np.argmin(days))  # ties go to the earlier route in FOUND_BY
        run.found_by[FOUND_BY[route]] += 1
        run.days_to_find.append(int(days[route] - t.start_day[first]))
        row_k["found"] += 1
        row_s["found"] += 1
        run.outcomes[OUTCOMES[min(int(np.searchsorted(cum, u_outcome[i], side="right")), len(OUTCOMES) - 1)]] += 1
    return run


def assess_dataset(dataset_dir: str | Path, regimes: Sequence[Regime], seed: int, *,
                   truth_dir: str | Path | None = None, timeout: float | None = None,
                   jobs: int = 1, batch_size: int = 65536, scale: float = 1.0,
                   on_step: Callable[[str], None] | None = None,
                   variants: Sequence[tuple[Any, Regime, float]] = ()) -> list[RegimeRun]:
    """Every regime on one dataset: the detectors any of them names run once, then each regime.

    ``variants`` (key, regime, scale): more runs on the same alerts (other force sizes, other
    intensities), returned after the regimes' own runs in their order."""
    period, truth = _truth(Path(dataset_dir), Path(truth_dir) if truth_dir else None, batch_size)
    todo = [(r, scale) for r in regimes] + [(r, sc) for _, r, sc in variants]
    specs = list(dict.fromkeys(s for r, _ in todo for s in r.detectors))
    most = max([math.ceil(r.capacity(truth.n_staff * sc) / sc) for r, sc in todo] + [1])
    alerts: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    if specs:
        if on_step:
            on_step(f"detectors ({len(specs)})")
        for row, keys, best in detector_alerts(period, specs, most, timeout, batch_size=batch_size,
                                               jobs=jobs, truth_dir=truth_dir):
            alerts[row.name] = (row, keys, best)
    if on_step:
        on_step("regimes")
    return [run_regime(r, truth, seed, alerts, sc) for r, sc in todo]


# The intensities at which a regime is rerun for the published comparison's second inverse: its
# review capacity and audit share multiplied by each (audit share at most 1; 0: reactive routes only).
INTENSITIES = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def at_intensity(regime: Regime, factor: float) -> Regime:
    """``regime`` with its proactive review capacity and its audit share multiplied by ``factor``."""
    d = {**regime.data, "proactive": dict(regime.data["proactive"]), "audits": dict(regime.data["audits"])}
    d["proactive"]["review_per_day"] *= factor
    d["proactive"]["review_per_1000_staff"] *= factor
    d["audits"]["share"] = min(1.0, d["audits"]["share"] * factor)
    return Regime(regime.path, d)


def intensity_settings(regime: Regime, factor: float) -> dict[str, Any]:
    """What a factor of a regime's intensity means in its own settings."""
    r = at_intensity(regime, factor)
    return {"review_per_day": r.data["proactive"]["review_per_day"],
            "review_per_1000_staff": r.data["proactive"]["review_per_1000_staff"],
            "audit_share": r.data["audits"]["share"], "audit_period": r.data["audits"]["period"]}


def scalable(regime: Regime) -> bool:
    """Whether a regime has any proactive intensity to scale (reviewed alerts or audits)."""
    p = regime.data["proactive"]
    return bool(p["detectors"] and p["review_per_day"] + p["review_per_1000_staff"] > 0) or \
        regime.data["audits"]["share"] > 0


_SHARES = {"dark_share": ("never_found", "active"), "found_share": ("found", "active"),
           "disciplined_share": ("disciplined", "active"),
           "dismissed_or_resigned_share": ("dismissed_or_resigned", "active"),
           "review_precision": (None, None)}  # reviewed_true / reviewed: from the runs themselves
_RATES = {"days_to_find_median", "reviewed_per_day"}


def summarise(runs: Sequence[RegimeRun]) -> dict[str, Any]:
    """One regime's runs over seeds: each figure's mean and 95% interval (:mod:`benchmarks.intervals`:
    counts pooled as quasi-Poisson, shares as Wilson, never below 0 or a share above 1), by kind
    and by skill."""
    scale = runs[0].scale
    figs = [r.figures() for r in runs]

    def counts(values: Sequence[float | None]) -> dict[str, Any] | None:
        v = [x for x in values if x is not None]
        return count_interval(v, scale) if v else None

    def figure(name: str) -> dict[str, Any] | None:
        if name in _RATES:
            return clipped_mean_interval([f[name] for f in figs])
        if name == "review_precision":
            return share_interval([r.reviewed_true for r in runs], [r.reviewed for r in runs])
        if name in _SHARES:
            num, den = _SHARES[name]
            return share_interval([f[num] / scale for f in figs], [f[den] / scale for f in figs])
        return counts([f[name] for f in figs])

    out: dict[str, Any] = {"regime": runs[0].regime, "seeds": [r.seed for r in runs],
                           "figures": {n: figure(n) for n in figs[0]},
                           "intervals": "counts: quasi-Poisson over the seeds' total (Byar); shares: "
                                        "Wilson on the pooled counts; days and review load: Student t, "
                                        "bounded at 0"}
    per_year = 365.0 / runs[0].n_days
    n_staff = runs[0].n_staff
    totals = ("active", "found", "disciplined", "dismissed_or_resigned")
    out["per_year"] = {n: _times(out["figures"][n], per_year) for n in totals}
    out["per_year_per_staff"] = {n: _times(out["figures"][n], per_year / n_staff) for n in totals}
    for group in ("by_kind", "by_skill"):
        keys = sorted({k for r in runs for k in getattr(r, group)})
        out[group] = {k: {c: counts([getattr(r, group).get(k, {}).get(c, 0) * r.scale for r in runs])
                          for c in ("active", "found")} for k in keys}
    failures = {}
    for r in runs:
        for d in r.detectors:
            if d["status"] != "ok":
                failures.setdefault(d["name"], []).append({"seed": r.seed, "status": d["status"],
                                                           "error": d["error"]})
    out["detector_failures"] = failures
    return out


def _times(x: dict[str, Any] | None, factor: float) -> dict[str, Any] | None:
    if x is None:
        return None
    return {k: (v * factor if k in ("mean", "low", "high") and v is not None else v) for k, v in x.items()}


def run_assess(scenario: str | Path, regime_files: Sequence[str | Path], *, years: float = 1.0,
               days: int | None = None, seeds: int = 3, timeout: float | None = None,
               jobs: int = 1, workers: int = 1, compare: str | None = None,
               sample_staff: int | None = None, overlap: bool = True,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Simulate ``scenario`` for ``years`` (or ``days``) at ``seeds`` seeds (its seed, seed+1, ...)
    and run every regime on each world; the assessment as ``snoopbench/assessment/v1``.

    ``sample_staff``: simulate that many staff, a sample of the force, and scale the counts up to
    the force's size (review capacity shared out per member of staff; misuse, audits and reactive
    routes are all per member of staff). Validated against whole-force runs in the tests.

    ``overlap``: simulate the next world in a second process while this one is assessed (both
    cores busy; two worlds on disk at once).

    Everything is validated before anything runs (bad input: :class:`InputError`, exit 2)."""
    import time

    from snoopbench import __version__
    from snoopbench.benchmarks.regimes import find, load
    from snoopbench.contract.errors import InputError
    from snoopbench.simulator import scenario as scenario_mod
    if seeds < 1:
        raise InputError(f"expected at least 1 seed, got {seeds}", key="--seeds")
    if days is None:
        if not 0 < years <= 10:
            raise InputError(f"expected a number of years from 0 to 10, got {years}", key="--years")
        days = int(round(365 * years))
    if compare not in (None, "published"):
        raise InputError(f"expected 'published', got {compare!r}", key="--compare")
    scn = scenario_mod.load(scenario_mod.find(scenario)).with_overrides(days=days)
    staff = scn["force"]["staff"]
    scale = 1.0
    if sample_staff is not None:
        if not 1 <= sample_staff <= staff:
            raise InputError(f"expected a sample from 1 to the force's {staff:,} staff, got {sample_staff}",
                             key="--sample-staff")
        scale = staff / sample_staff
        scn = scenario_mod.Scenario(scn.path, {**scn.data, "force": {**scn["force"], "staff": sample_staff}})
    regimes = [load(find(r)) for r in regime_files]
    if not regimes:
        raise InputError("expected at least one --regime", key="--regime")
    if len({r.name for r in regimes}) < len(regimes):
        raise InputError("expected regimes with different names", key="--regime")
    for r in regimes:
        r.check_against(scn.days, scn["warmup_days"])
    counts = load_published() if compare else []
    scn.check_machine_fits(workers)
    seed_list = [scn.seed + i for i in range(seeds)]
    runs: dict[str, list[RegimeRun]] = {r.name: [] for r in regimes}
    # the published comparison: every regime again at each published force's size (so an absolute
    # review capacity stays absolute) and at each intensity, on the same worlds and alerts
    simulated = scn["force"]["staff"]
    variants = [((ci, r.name, f), at_intensity(r, f), c["workforce"] / simulated)
                for ci, c in enumerate(counts) for r in regimes
                for f in (INTENSITIES if scalable(r) else (1.0,))]
    variant_runs: dict[Any, list[RegimeRun]] = {key: [] for key, _, _ in variants}
    timings = []
    total = 2 * seeds
    with _Worlds(scn, seed_list, workers, ahead=overlap) as worlds:
        for i, seed in enumerate(seed_list):
            if progress:
                progress(f"seed {seed}: simulating {scn.days} days of {scn['force']['staff']:,} staff"
                         + (f" (a sample of {staff:,})" if scale != 1.0 else ""),
                         2 * i, total)
            world, simulate_s = worlds.get(i)
            t1 = time.perf_counter()

            def step(what: str) -> None:
                if progress:
                    progress(f"seed {seed}: {what}", 2 * i + 1, total)

            got = assess_dataset(world, regimes, seed, timeout=timeout, jobs=jobs,
                                 scale=scale, on_step=step, variants=variants)
            for run in got[:len(regimes)]:
                runs[run.regime].append(run)
            for (key, _, _), run in zip(variants, got[len(regimes):]):
                variant_runs[key].append(run)
            timings.append({"seed": seed, "simulate_s": simulate_s,
                            "assess_s": time.perf_counter() - t1})
            worlds.done(i)
    if progress:
        progress("done", total, total)
    summaries = [summarise(runs[r.name]) for r in regimes]
    result: dict[str, Any] = {
        "format": FORMAT, "snoopbench": __version__, "scenario": scn.name, "staff": staff,
        "simulated_staff": scn["force"]["staff"],
        "days": scn.days, "warmup_days": scn["warmup_days"], "seeds": seed_list,
        "regimes": [{**s, "definition": r.to_json()} for s, r in zip(summaries, regimes)],
        "runs": [run.to_json() for r in regimes for run in runs[r.name]],
        "timings": timings,
        "notes": ["Reactive reports (complaints, intelligence, colleagues, public posts) are drawn from "
                  "the truth and never written into events/ or context/.",
                  "How misuse is found is not published anywhere: every route probability is a "
                  "parameter of the regime, not a known figure."],
    }
    if compare:
        by_force = {key: summarise(rs) for key, rs in variant_runs.items()}
        result["published"] = compare_published(regimes, counts, by_force)
    return result


def _simulate_world(scn: Any, out: str, seed: int, workers: int) -> float:
    import time

    from snoopbench.simulator.run import simulate

    t0 = time.perf_counter()
    simulate(scn, out, seed=seed, workers=workers)
    return time.perf_counter() - t0


class _Worlds:
    """The worlds of an assessment, one per seed, in a temporary folder; with ``ahead``, the next
    world is simulated in a second process while the current one is assessed. Leaving the block
    (normally, on an error or on Ctrl-C) stops that process and removes every world."""

    def __init__(self, scn: Any, seeds: Sequence[int], workers: int, ahead: bool) -> None:
        self.scn, self.seeds, self.workers, self.ahead = scn, list(seeds), workers, ahead
        self.pending: dict[int, Any] = {}
        self.pool: Any = None

    def __enter__(self) -> "_Worlds":
        import tempfile

        self.tmp = Path(tempfile.mkdtemp(prefix="snoopbench-assess-"))
        if self.ahead and len(self.seeds) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self

    def path(self, i: int) -> Path:
        return self.tmp / f"world-{i}"

    def _submit(self, i: int) -> None:
        if self.pool is not None and i < len(self.seeds) and i not in self.pending:
            self.pending[i] = self.pool.submit(_simulate_world, self.scn, str(self.path(i)), self.seeds[i],
                                               self.workers)

    def get(self, i: int) -> tuple[Path, float]:
        """World ``i`` (waiting for it if it is being simulated) and the seconds it took; the next
        one starts simulating in the background."""
        self._submit(i + 1)  # first, so that the first two worlds are simulated at once
        if i in self.pending:
            seconds = self.pending.pop(i).result()
        else:
            seconds = _simulate_world(self.scn, str(self.path(i)), self.seeds[i], self.workers)
        return self.path(i), seconds

    def done(self, i: int) -> None:
        import shutil

        shutil.rmtree(self.path(i), ignore_errors=True)

    def __exit__(self, *exc: Any) -> None:
        import shutil

        if self.pool is not None:
            for f in self.pending.values():
                f.cancel()
            procs = list(getattr(self.pool, "_processes", {}).values())
            if exc[0] is not None:  # stop a simulation still running, rather than wait for it
                for p in procs:
                    p.terminate()
            self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- published counts -------------------------------------------------------------------------

PUBLISHED_FILE = Path(__file__).resolve().parent.parent / "regimes" / "published.toml"
_COUNTED = {"disciplined": "disciplined", "found": "found", "dismissed_or_resigned": "dismissed_or_resigned"}


def load_published(path: str | Path = PUBLISHED_FILE) -> list[dict[str, Any]]:
    """The published counts (``regimes/published.toml``), checked."""
    import tomllib

    from snoopbench.benchmarks.regimes import RegimeError

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegimeError(f"cannot read the published counts ({exc})", file=str(path)) from None
    out = []
    for i, c in enumerate(raw.get("count", [])):
        for key, kind in (("force", str), ("period", str), ("counted", str), ("source", str),
                          ("count", int), ("workforce", int), ("years", (int, float))):
            if not isinstance(c.get(key), kind) or isinstance(c.get(key), bool):
                raise RegimeError(f"expected {key}", file=str(path), key=f"count[{i}].{key}")
        if c["counted"] not in _COUNTED:
            raise RegimeError(f"expected one of {', '.join(_COUNTED)}", file=str(path), key=f"count[{i}].counted")
        out.append(c)
    return out


def _crossing(factors: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """The intensity factor at which a rising curve reaches ``target`` (linear between grid points):
    0 when even the lowest intensity gives more, None when even the highest gives less."""
    y = np.maximum.accumulate(np.asarray(values, np.float64))
    if target <= y[0]:
        return 0.0
    if target > y[-1]:
        return None
    i = int(np.searchsorted(y, target))
    f0, f1, y0, y1 = factors[i - 1], factors[i], y[i - 1], y[i]
    return float(f1 if y1 == y0 else f0 + (f1 - f0) * (target - y0) / (y1 - y0))


def compare_published(regimes: Sequence[Regime], counts: list[dict[str, Any]],
                      by_force: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per published count and regime: the model's expected count for that force's size and period
    (the regime rerun at the force's workforce, so an absolute review capacity stays absolute;
    mean and interval over seeds), and two inverse estimates:

    - the misuse rate (misusers per 1,000 staff a year) at which the regime would give the
      published count, at the share of misusers it counts;
    - the detection intensity the count implies at the model's misuse rate: the factor on the
      regime's review capacity and audit share (0: reactive routes alone) at which the expected
      count equals the published one, with the interval where the model's interval meets the
      published count's Poisson interval, and what that factor means in the regime's settings.

    ``by_force``: summaries keyed (count index, regime name, intensity factor)."""
    rows = []
    for ci, c in enumerate(counts):
        measure = _COUNTED[c["counted"]]
        pub_lo, pub_hi = poisson_bounds(c["count"])
        for r in regimes:
            s = by_force[(ci, r.name, 1.0)]
            years = c["years"]

            def expected(summary: dict[str, Any]) -> dict[str, float | None] | None:
                m = summary["per_year"][measure]
                return None if m is None else {k: (None if m[k] is None else m[k] * years)
                                               for k in ("mean", "low", "high")}

            model = expected(s)
            q = s["figures"].get(f"{measure}_share")  # counted per active misuser
            staff_years = c["workforce"] * years
            rate = need = None
            if q is not None and q["mean"] > 0:
                pub = c["count"] / staff_years * 1000
                rate = {"mean": pub / q["mean"], "low": pub_lo / staff_years * 1000 / q["high"],
                        "high": (pub_hi / staff_years * 1000 / q["low"]) if q["low"] > 0 else None}
            active = expected({"per_year": {measure: s["per_year"]["active"]}})
            if active is not None and active["mean"] > 0:
                a = active["mean"]
                need = {"mean": c["count"] / a, "low": pub_lo / a, "high": pub_hi / a}
            intensity = None
            if scalable(r):
                curve = [(f, expected(by_force[(ci, r.name, f)])) for f in INTENSITIES]
                curve = [(f, m) for f, m in curve if m is not None]
                fs = [f for f, _ in curve]
                mean_f = _crossing(fs, [m["mean"] for _, m in curve], c["count"])
                low_f = _crossing(fs, [m["high"] for _, m in curve], pub_lo)
                high_f = _crossing(fs, [m["low"] for _, m in curve], pub_hi)
                intensity = {
                    "mean": mean_f, "low": low_f, "high": high_f,
                    "below_reactive": mean_f == 0.0 and curve[0][1]["mean"] > c["count"],
                    "above_grid": mean_f is None, "grid_max": INTENSITIES[-1],
                    "settings": None if mean_f is None else intensity_settings(r, mean_f),
                    "curve": [{"factor": f, **m} for f, m in curve]}
            rows.append({"force": c["force"], "period": c["period"], "counted": c["counted"],
                         "published": c["count"], "published_interval": [pub_lo, pub_hi],
                         "workforce": c["workforce"],
                         "workforce_estimate": bool(c.get("workforce_estimate")), "source": c["source"],
                         "regime": r.name, "model": model,
                         "misuse_per_1000_staff_year": rate, "share_found_needed": need,
                         "share_found_model": q, "intensity": intensity})
    return rows


def describe_intensity(x: dict[str, Any] | None, settings: bool = True) -> str:
    """An intensity inverse as one line of text (the report; the terminal without ``settings``)."""
    if x is None:
        return "– (nothing proactive to scale)" if settings else "–"
    if x["above_grid"]:
        return f"more than {x['grid_max']:g}×" + (" (not reached)" if settings else "")
    if x["below_reactive"]:
        return "0× (reactive routes alone give more)" if settings else "0× (reactive gives more)"

    def f(v: float | None, none: str) -> str:
        return none if v is None else f"{v:.2g}×"

    s = x["settings"]
    parts = []
    if s["review_per_1000_staff"] or s["review_per_day"]:
        parts.append(" + ".join(p for p in (
            f"{s['review_per_day']:.2g}/day" if s["review_per_day"] else "",
            f"{s['review_per_1000_staff']:.2g}/1,000 staff/day" if s["review_per_1000_staff"] else "") if p)
            + " reviewed")
    if s["audit_share"]:
        parts.append(f"audits {100 * s['audit_share']:.2g}%/{s['audit_period']}")
    return f"{f(x['mean'], '–')} [{f(x['low'], '0×')}–{f(x['high'], '>' + format(x['grid_max'], 'g') + '×')}]" + \
        (f": {', '.join(parts)}" if parts and settings else "")
