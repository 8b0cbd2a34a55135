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
from snoopbench.benchmarks.metrics import Interval, key_days, mean_interval, user_day_keys
from snoopbench.benchmarks.regimes import OUTCOMES, PERIOD_DAYS, ROUTES, Regime
from snoopbench.benchmarks.reviewer import delay_days
from snoopbench.contract.info import local_days
from snoopbench.contract.schema import SKILLS

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
    rng = _rng(seed, "regime:" + regime.name)

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

    # random audits of users, at the end of each period
    a = regime.data["audits"]
    if a["share"] > 0 and len(t.staff_ids):
        plen = PERIOD_DAYS[a["period"]]
        n_pick = min(len(t.staff_ids), int(round(a["share"] * len(t.staff_ids))))
        lab_user = (t.lab_key & 0xFFFFFFFF).astype(np.int64)
        lab_day = key_days(t.lab_key).astype(np.int64)
        for day in range(t.first_day + plen - 1, t.last_day + 1, plen):
            users = rng.choice(t.staff_ids, n_pick, replace=False)
            run.audited += n_pick
            inside = np.isin(lab_user, users) & (lab_day > day - a["window_days"]) & (lab_day <= day)
            for ep in np.unique(t.lab_episode[inside]):
                if rng.random() < a["hit_rate"]:
                    found_day[1, ep] = min(found_day[1, ep], day)

    # proactive alerts within the review capacity
    capacity = regime.capacity(t.n_staff * scale) / scale
    usable = []
    for spec in regime.detectors:
        row, keys, best = alerts[spec]
        run.detectors.append({"name": spec, "status": row.status, "error": row.error})
        if row.status == "ok":
            usable.append((keys, best))
    reviewed = _review(regime, capacity, usable)
    run.reviewed = len(reviewed)
    hit = np.isin(t.lab_key, reviewed)
    run.reviewed_true = int(np.isin(reviewed, t.lab_key).sum())
    confirm = regime.data["proactive"]["confirm"]
    for key, ep in zip(t.lab_key[hit], t.lab_episode[hit]):  # in key order: by day, then user
        if rng.random() < confirm[str(t.skill[ep])]:
            found_day[0, ep] = min(found_day[0, ep], int(key_days(np.array([key]))[0]))

    # misusers: found at their earliest route
    actors, inverse = np.unique(t.actor, return_inverse=True)
    run.active = len(actors)
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
        shares = np.array([regime.data["outcomes"][o] for o in OUTCOMES])
        run.outcomes[OUTCOMES[int(rng.choice(len(OUTCOMES), p=shares / shares.sum()))]] += 1
    return run


def assess_dataset(dataset_dir: str | Path, regimes: Sequence[Regime], seed: int, *,
                   truth_dir: str | Path | None = None, timeout: float | None = None,
                   jobs: int = 1, batch_size: int = 65536, scale: float = 1.0,
                   on_step: Callable[[str], None] | None = None) -> list[RegimeRun]:
    """Every regime on one dataset: the detectors any of them names run once, then each regime."""
    period, truth = _truth(Path(dataset_dir), Path(truth_dir) if truth_dir else None, batch_size)
    specs = list(dict.fromkeys(s for r in regimes for s in r.detectors))
    most = max([math.ceil(r.capacity(truth.n_staff * scale) / scale) for r in regimes] + [1])
    alerts: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    if specs:
        if on_step:
            on_step(f"detectors ({len(specs)})")
        for row, keys, best in detector_alerts(period, specs, most, timeout, batch_size=batch_size,
                                               jobs=jobs, truth_dir=truth_dir):
            alerts[row.name] = (row, keys, best)
    if on_step:
        on_step("regimes")
    return [run_regime(r, truth, seed, alerts, scale) for r in regimes]


def summarise(runs: Sequence[RegimeRun]) -> dict[str, Any]:
    """One regime's runs over seeds: each figure's mean and 95% interval, by kind and by skill."""
    def iv(values) -> dict[str, float | None] | None:
        i: Interval | None = mean_interval(values)
        return None if i is None else {"mean": i.mean, "low": i.low, "high": i.high, "n": i.n}

    names = list(runs[0].figures())
    figs = [r.figures() for r in runs]
    out: dict[str, Any] = {"regime": runs[0].regime, "seeds": [r.seed for r in runs],
                           "figures": {n: iv(f[n] for f in figs) for n in names}}
    per_year = 365.0 / runs[0].n_days
    counts = ("active", "found", "disciplined", "dismissed_or_resigned")
    out["per_year"] = {n: iv((f[n] or 0) * per_year for f in figs) for n in counts}
    out["per_year_per_staff"] = {n: iv((f[n] or 0) * per_year / runs[0].n_staff for f in figs)
                                 for n in counts}
    for group in ("by_kind", "by_skill"):
        keys = sorted({k for r in runs for k in getattr(r, group)})
        out[group] = {k: {c: iv(getattr(r, group).get(k, {}).get(c, 0) * r.scale for r in runs)
                          for c in ("active", "found")} for k in keys}
    failures = {}
    for r in runs:
        for d in r.detectors:
            if d["status"] != "ok":
                failures.setdefault(d["name"], []).append({"seed": r.seed, "status": d["status"],
                                                           "error": d["error"]})
    out["detector_failures"] = failures
    return out


def run_assess(scenario: str | Path, regime_files: Sequence[str | Path], *, years: float = 1.0,
               days: int | None = None, seeds: int = 3, timeout: float | None = None,
               jobs: int = 1, workers: int = 1, compare: str | None = None,
               sample_staff: int | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Simulate ``scenario`` for ``years`` (or ``days``) at ``seeds`` seeds (its seed, seed+1, ...)
    and run every regime on each world; the assessment as ``snoopbench/assessment/v1``.

    ``sample_staff``: simulate that many staff, a sample of the force, and scale the counts up to
    the force's size (review capacity shared out per member of staff; misuse, audits and reactive
    routes are all per member of staff). Validated against whole-force runs in the tests.

    Everything is validated before anything runs (bad input: :class:`InputError`, exit 2)."""
    import shutil
    import tempfile
    import time

    from snoopbench import __version__
    from snoopbench.benchmarks.regimes import find, load
    from snoopbench.contract.errors import InputError
    from snoopbench.simulator import scenario as scenario_mod
    from snoopbench.simulator.run import simulate

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
    timings = []
    total = 2 * seeds
    for i, seed in enumerate(seed_list):
        tmp = Path(tempfile.mkdtemp(prefix="snoopbench-assess-"))
        try:
            t0 = time.perf_counter()
            if progress:
                progress(f"seed {seed}: simulating {scn.days} days of {scn['force']['staff']:,} staff"
                         + (f" (a sample of {staff:,})" if scale != 1.0 else ""),
                         2 * i, total)
            simulate(scn, tmp / "world", seed=seed, workers=workers)
            t1 = time.perf_counter()

            def step(what: str) -> None:
                if progress:
                    progress(f"seed {seed}: {what}", 2 * i + 1, total)

            for run in assess_dataset(tmp / "world", regimes, seed, timeout=timeout, jobs=jobs,
                                      scale=scale, on_step=step):
                runs[run.regime].append(run)
            timings.append({"seed": seed, "simulate_s": t1 - t0,
                            "assess_s": time.perf_counter() - t1})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
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
        result["published"] = compare_published(summaries, counts)
    return result


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


def _poisson_interval(n: int) -> tuple[float, float]:
    """An approximate 95% interval of a Poisson mean given one count (Wilson-Hilferty-free: normal
    on the square root, fine for counts above a handful)."""
    lo = max(0.0, (math.sqrt(n) - 0.98) ** 2)
    return lo, (math.sqrt(n + 1) + 0.98) ** 2


def compare_published(summaries: list[dict[str, Any]], counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per published count and regime: the model's expected count for that force's size and
    period (mean and interval over seeds, scaled per member of staff per year), and two inverse
    estimates: the misuse rate (misusers per 1,000 staff a year) consistent with the published
    count under the regime, and the share of misusers a force must find and count to publish it
    at the model's misuse rate."""
    rows = []
    for c in counts:
        measure = _COUNTED[c["counted"]]
        pub_lo, pub_hi = _poisson_interval(c["count"])
        for s in summaries:
            per_staff_year = s["per_year_per_staff"]
            m = per_staff_year[measure]
            scale = c["workforce"] * c["years"]
            model = None if m is None else {k: (None if m[k] is None else m[k] * scale)
                                            for k in ("mean", "low", "high")}
            q = s["figures"].get(f"{measure}_share")  # counted per active misuser
            active = per_staff_year["active"]
            rate = need = None
            if q is not None and q["mean"] > 0:
                pub = c["count"] / scale * 1000
                # a share cannot be below 0 or above 1, whatever the t-interval says
                hi_q = min(1.0, q["mean"] if q["high"] is None else q["high"])
                lo_q = max(0.0, q["mean"] if q["low"] is None else q["low"])
                rate = {"mean": pub / q["mean"], "low": pub_lo / scale * 1000 / hi_q,
                        "high": (pub_hi / scale * 1000 / lo_q) if lo_q > 0 else None}
            if active is not None and active["mean"] > 0:
                a = active["mean"] * scale
                need = {"mean": c["count"] / a, "low": pub_lo / a, "high": pub_hi / a}
            rows.append({"force": c["force"], "period": c["period"], "counted": c["counted"],
                         "published": c["count"], "workforce": c["workforce"],
                         "workforce_estimate": bool(c.get("workforce_estimate")), "source": c["source"],
                         "regime": s["regime"], "model": model,
                         "misuse_per_1000_staff_year": rate, "share_found_needed": need,
                         "share_found_model": q})
    return rows
