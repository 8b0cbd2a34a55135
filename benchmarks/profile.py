"""The realism profile of a dataset: its figures against the scenario's ``[calibration]`` targets.

``profile_dataset`` makes one streaming pass over the events (:mod:`benchmarks.profile_scan`) and
returns a :class:`Profile`: one :class:`Check` row per target, plus the raw series behind the plots.
Definitions, so that a figure means the same on every dataset:

- *events per shift*: events of a user inside one of their rostered shifts (``start <= ts < end``,
  overruns not added), per rostered shift, zero-event shifts included; the median over a role's
  shifts.
- *legitimate* events: those not in ``truth/labels`` when the truth is at hand, else every event.
- *explained*: the event's reference is held by its user in ``context/tasking`` and the user came to
  hold it no later than the event (``since <= ts``): an auditor cannot use a later tasking.
- *off shift*: a legitimate event in none of its user's rostered shifts.
- *relation look-ups*: legitimate events on a person tied to the user in ``truth/relations`` (or,
  with the truth sealed, in ``context/declared_relations``), that person's vehicle (as keeper) or
  home address.
- *person look-ups*: events with ``entity_type == 'person'``; the top share is of the people table.
- *events per day*: all events over the scenario's ``duration_days`` (warm-up included), per 1,000
  staff.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from snoopbench.benchmarks.dataset import open_dataset
from snoopbench.benchmarks.profile_authoring import MisuseRow, RotaRow, misuse_rows, rota_rows
from snoopbench.benchmarks.profile_scan import Context, Tallies, scan
from snoopbench.simulator import scenario as scenario_mod
from snoopbench.contract.errors import DatasetError, ScenarioError
from snoopbench.simulator.scenario_format import CALIBRATION
from snoopbench.contract.schema import ROLES
from snoopbench.simulator.spec import resolve


@dataclass(frozen=True)
class Check:
    """One row of the profile: a figure of the dataset, its target, and whether it is met."""

    name: str
    value: float
    target_text: str
    ok: bool
    value_text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "ok", bool(self.ok))


@dataclass
class Profile:
    """A dataset's realism figures, checks against its targets, and the series the plots draw."""

    dataset: Path
    scenario: str
    seed: int | None
    timezone: str
    n_events: int
    n_staff: int
    n_days: int
    legit_source: str
    relations_source: str
    targets_source: str
    targets: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    events_by_hour: np.ndarray = field(default_factory=lambda: np.zeros(24, np.int64))
    events_per_shift: dict[str, np.ndarray] = field(default_factory=dict)
    system_mix: dict[str, int] = field(default_factory=dict)
    #: The rota pattern worked and the misuse produced, against the scenario (see
    #: :mod:`benchmarks.profile_authoring`); misuse is None with the truth sealed and not given.
    rota: list[RotaRow] = field(default_factory=list)
    misuse: list[MisuseRow] | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def calibration_targets(dataset_dir: str | Path) -> tuple[dict[str, Any], str]:
    """The dataset's ``[calibration]`` table, resolved; the shipped base.toml's if it has none."""
    path = Path(dataset_dir) / "scenario.toml"
    raw = None
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8")).get("calibration")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DatasetError(f"unreadable TOML ({exc})", file=str(path)) from exc
    source = str(path)
    if raw is None:
        base = scenario_mod.SCENARIO_DIR / "base.toml"
        raw = scenario_mod.load(base)["calibration"]
        source = f"{base} (the dataset's scenario has none)"
    targets = resolve(CALIBRATION, raw, source, "calibration")
    for key, value in targets.items():
        if key.endswith("_range") and value[0] > value[1]:
            raise ScenarioError(f"expected [low, high] with low <= high, got {value}", file=source,
                                key=f"calibration.{key}")
    return targets, source


def _truth_folder(root: Path, truth_dir: str | Path | None) -> Path | None:
    if truth_dir is not None:
        folder = Path(truth_dir)
        if not (folder / "labels.parquet").is_file():
            raise DatasetError("no labels.parquet in the truth folder", file=str(folder))
        return folder
    folder = root / "truth"
    return folder if (folder / "labels.parquet").is_file() else None


def profile_dataset(dataset_dir: str | Path, truth_dir: str | Path | None = None) -> Profile:
    """Measure a dataset's realism figures against its scenario's calibration targets."""
    ds = open_dataset(dataset_dir)
    targets, targets_source = calibration_targets(ds.root)
    truth = _truth_folder(ds.root, truth_dir)
    labels = None
    relations, relations_source = None, "none"
    if truth is not None:
        labels = pq.read_table(truth / "labels.parquet", columns=["event_id"])["event_id"]
        labels = np.sort(labels.to_numpy())
        if (truth / "relations.parquet").is_file():
            relations = pq.read_table(truth / "relations.parquet")
            relations_source = "truth/relations"
    if relations is None and (ds.context_dir / "declared_relations.parquet").is_file():
        relations = pq.read_table(ds.context_dir / "declared_relations.parquet")
        relations_source = "context/declared_relations (truth sealed: declared ties only)"
    for name in ("staff", "shifts", "tasking", "people", "vehicles"):
        if not (ds.context_dir / f"{name}.parquet").is_file():
            raise DatasetError(f"context/{name}.parquet is needed to profile", file=str(ds.root))
    ctx = Context(ds.context_dir, relations, ROLES)
    t = scan(ds.parts, ctx, ds.timezone, labels)
    manifest = json.loads((ds.root / "manifest.json").read_text())
    n_days = _days(ds.root, t)
    per_shift = {r: t.per_shift[t.shift_role == i] for i, r in enumerate(ROLES)
                 if (t.shift_role == i).any()}
    prof = Profile(
        dataset=ds.root, scenario=str(manifest.get("scenario", "?")), seed=manifest.get("seed"),
        timezone=ds.timezone, n_events=t.n_events, n_staff=ds.n_staff, n_days=n_days,
        legit_source=("events not in truth/labels" if labels is not None
                      else "all events (no truth)"),
        relations_source=relations_source, targets_source=targets_source, targets=targets,
        events_by_hour=t.by_hour, events_per_shift=per_shift, system_mix=dict(t.by_system),
    )
    prof.checks = _checks(targets, t, ctx.roles_in_staff, per_shift, ds.n_staff, n_days)
    scenario = _scenario_tables(ds.root)
    prof.rota = rota_rows(ds.context_dir, scenario, ds.timezone, n_days)
    if truth is not None and (truth / "episodes.parquet").is_file():
        prof.misuse = misuse_rows(truth, scenario)
    return prof


def _scenario_tables(root: Path) -> dict[str, Any]:
    """The dataset's resolved ``scenario.toml`` as read (its seed is not needed, sealed or not)."""
    path = root / "scenario.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"unreadable TOML ({exc})", file=str(path)) from exc


def _days(root: Path, t: Tallies) -> int:
    try:
        days = tomllib.loads((root / "scenario.toml").read_text()).get("duration_days")
    except (OSError, tomllib.TOMLDecodeError):
        days = None
    if isinstance(days, int) and days > 0:
        return days
    if t.first_ts is None:
        return 1
    return max(1, math.ceil((t.last_ts - t.first_ts) / 86_400_000))


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f}%"


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _between(x: float, lo: float, hi: float) -> bool:
    return not math.isnan(x) and lo <= x <= hi


def _checks(tg: dict[str, Any], t: Tallies, roles_in_staff: list[str],
            per_shift: dict[str, np.ndarray], n_staff: int, n_days: int) -> list[Check]:
    out: list[Check] = []
    f = tg["events_per_shift_factor_max"]
    for role, target in tg["events_per_shift_median"].items():
        counts = per_shift.get(role, np.zeros(0))
        med = float(np.median(counts)) if len(counts) else math.nan
        out.append(Check(f"events per shift: {role} (median)", med,
                         f"{target:g} within x{1 / f:g}-x{f:g} ({target / f:g}-{target * f:g})",
                         _between(med, target / f, target * f),
                         "no shifts" if math.isnan(med) else f"{med:,.0f}"))
    resp = per_shift.get("response", np.zeros(0))
    tail = _ratio(float(np.percentile(resp, 90)), float(np.median(resp))) if len(resp) else math.nan
    lim = tg["response_p90_over_median_min"]
    out.append(Check("events per shift: response p90 / median", tail, f">= {lim:g}",
                     not math.isnan(tail) and tail >= lim, f"{tail:.2f}"))

    sysn = t.by_system
    rms, pnc = _ratio(sysn.get("RMS", 0), t.n_events), _ratio(sysn.get("PNC", 0), t.n_events)
    out.append(Check("RMS share of events", rms, f">= {_pct(tg['rms_share_min'])}",
                     not math.isnan(rms) and rms >= tg["rms_share_min"], _pct(rms)))
    lo, hi = tg["pnc_share_range"]
    out.append(Check("PNC share of events", pnc, f"{_pct(lo)}-{_pct(hi)}", _between(pnc, lo, hi),
                     _pct(pnc)))
    pnd = _ratio(sysn.get("PND", 0), sysn.get("PNC", 0))
    out.append(Check("PND events per PNC event", pnd, f"<= {tg['pnd_over_pnc_max']:g}",
                     not math.isnan(pnd) and pnd <= tg["pnd_over_pnc_max"], f"{pnd:.2f}"))

    expl = _ratio(t.legit_explained, t.n_legit)
    lo, hi = tg["explained_share_range"]
    out.append(Check("legitimate events explained by tasking", expl, f"{_pct(lo)}-{_pct(hi)}",
                     _between(expl, lo, hi), _pct(expl)))
    off = _ratio(t.n_legit - t.legit_on_shift, t.n_legit)
    out.append(Check("legitimate events off shift", off, f"< {_pct(tg['off_shift_share_max'])}",
                     not math.isnan(off) and off < tg["off_shift_share_max"], _pct(off)))

    hours = t.by_hour.astype(float)
    peak = _ratio(hours.max(), hours.min()) if hours.min() > 0 else math.inf
    lim = tg["peak_over_trough_hour_min"]
    out.append(Check("busiest / quietest local hour", peak, f">= {lim:g}", peak >= lim,
                     f"{peak:.2f}"))
    trough = int(np.argmin(hours))
    lo, hi = tg["trough_local_hour_range"]
    out.append(Check("quietest local hour", float(trough), f"{lo:02d}:00-{hi:02d}:00",
                     lo <= trough < hi, f"{trough:02d}:00"))

    share = tg["person_top_share"]
    lookups = t.person_lookups
    k = max(1, round(share * len(lookups)))
    top = _ratio(float(np.partition(lookups, len(lookups) - k)[-k:].sum()), float(lookups.sum())) \
        if len(lookups) and lookups.sum() else math.nan
    out.append(Check(f"top {_pct(share)} of people: share of person look-ups", top,
                     f">= {_pct(tg['person_top_lookup_share_min'])}",
                     not math.isnan(top) and top >= tg["person_top_lookup_share_min"], _pct(top)))
    staff_days = n_staff * n_days / 1000
    rel = _ratio(t.legit_relation_lookups, staff_days)
    lim = tg["relation_lookups_per_1000_staff_days_min"]
    out.append(Check("legitimate look-ups of own relations per 1,000 staff-days", rel,
                     f">= {lim:g}", not math.isnan(rel) and rel >= lim,
                     f"{rel:.2f} ({t.legit_relation_lookups:,})"))
    rate = _ratio(t.n_events, staff_days)
    lo, hi = tg["events_per_day_per_1000_staff_range"]
    out.append(Check("events per day per 1,000 staff", rate, f"{lo:,.0f}-{hi:,.0f}",
                     _between(rate, lo, hi), f"{rate:,.0f}"))

    systems = {s for s, n in sysn.items() if n}
    for what, want, have in (("roles in staff", tg["roles_present"], set(roles_in_staff)),
                             ("systems in events", tg["systems_present"], systems)):
        missing = [x for x in want if x not in have]
        text = "missing " + ", ".join(missing) if missing else f"{len(want)}/{len(want)}"
        out.append(Check(what, float(len(want) - len(missing)), f"all {len(want)}", not missing,
                         text))
    return out
