"""What a scenario's author changes first, as the dataset made it against what the scenario asked:
the rota pattern worked and the misuse produced (for ``snoopbench profile``).

Rotas are read from ``context/staff`` (each user's rota and role) and ``context/shifts``, against
the dataset's ``scenario.toml`` ``[rotas]``. Definitions:

- *shift hours*: rostered length (``end - start``), the median over a rota's shifts.
- *duty days*: rostered shifts per staff member per day of the period; asked: the cycle's working
  days over its length (five in seven for ``weekdays``), less ``absence_share``.
- *longest run*: each staff member's longest run of consecutive days with a shift, the median
  over a rota's staff; asked: the cycle's longest run of working days (around its end).
- *night share*: shifts that span 03:00 local time (a night shift, whatever its start), of all
  shifts; asked: the cycle's working days whose shift does.

Misuse is read from ``truth/episodes`` (so only with the truth at hand: a sealed dataset's
profile needs ``--truth``) against ``[misuse.kinds]``: episodes by kind and skill, events per
episode (asked: ``lookups_min``..``lookups_max``), spread in days from first to last event
(asked: ``duration_days_mean``). A kind short of its ``episodes`` carries the run's note of why
(``truth/misuse_notes.json``, see :func:`simulator.run.write_misuse_notes`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from snoopbench.contract.info import local_days
from snoopbench.contract.manifest import MISUSE_NOTES
from snoopbench.contract.schema import SKILLS

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: The local hour a night shift spans.
NIGHT_HOUR = 3.0


@dataclass
class RotaRow:
    """One rota (or one role, with ``role`` set) as worked, and as asked."""

    rota: str
    role: str | None
    staff: int
    shifts: int
    shift_hours: float | None
    duty_days: float | None
    longest_run: float | None
    night_share: float | None
    asked_shift_hours: list[float] = field(default_factory=list)
    asked_duty_days: float | None = None
    asked_longest_run: int | None = None
    asked_night_share: float | None = None


@dataclass
class MisuseRow:
    """One misuse kind as produced, and as asked."""

    kind: str
    asked: int
    at_rate: bool                       # a staff_share_per_year may add episodes beyond ``asked``
    made: int
    by_skill: dict[str, int]
    asked_mix: dict[str, float]
    events_median: float | None
    events_range: tuple[int, int] | None
    asked_lookups: tuple[int, int]
    spread_days_median: float | None
    spread_days_max: float | None
    asked_duration_days: float
    notes: list[str] = field(default_factory=list)

    @property
    def short(self) -> bool:
        return self.made < self.asked


def _night(start_hour: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Shifts starting at local ``start_hour`` and lasting ``hours`` that span :data:`NIGHT_HOUR`."""
    end = start_hour + hours
    return ((start_hour <= NIGHT_HOUR) & (end > NIGHT_HOUR)) | (end > 24 + NIGHT_HOUR)


def asked_rota(spec: dict[str, Any]) -> tuple[list[float], float, int, float]:
    """What a ``[rotas.NAME]`` table asks: shift lengths, duty-day share, longest run, night share."""
    cycle = list(spec.get("cycle", []))
    absence = float(spec.get("absence_share", 0.0))
    lengths = sorted({float(v) for v in spec.get("shift_hours", {}).values()})
    if spec.get("type") == "weekdays":
        on = [c for c in cycle if c != "off"] or ["day"]
        return lengths, 5 / 7 * (1 - absence), 5, _asked_night(spec, on)
    on = [c != "off" for c in cycle]
    if not on or not any(on):
        return lengths, 0.0, 0, 0.0
    run = best = 0
    for working in on + on:  # around the end of the cycle
        run = run + 1 if working else 0
        best = max(best, run)
    return (lengths, sum(on) / len(on) * (1 - absence), min(best, len(on)),
            _asked_night(spec, [c for c in cycle if c != "off"]))


def _asked_night(spec: dict[str, Any], shifts: list[str]) -> float:
    starts = np.array([float(spec.get("shift_start_hours", {}).get(c, 9.0)) for c in shifts])
    hours = np.array([float(spec.get("shift_hours", {}).get(c, 8.0)) for c in shifts])
    return float(np.mean(_night(starts, hours)))


def rota_rows(context_dir: Path, scenario: dict[str, Any], timezone: str, n_days: int
              ) -> list[RotaRow]:
    """One row per rota, then one per role, as worked against as asked."""
    staff = pq.read_table(context_dir / "staff.parquet", columns=["user_id", "role", "rota"])
    shifts = pq.read_table(context_dir / "shifts.parquet", columns=["user_id", "start", "end"])
    users = staff["user_id"].to_numpy().astype(np.int64)
    order = np.argsort(users)
    user = shifts["user_id"].to_numpy().astype(np.int64)
    pos = order[np.searchsorted(users[order], user)]
    start = shifts["start"].cast("int64").to_numpy()
    end = shifts["end"].cast("int64").to_numpy()
    day = local_days(start, timezone)
    midnight = {d: _midnight(int(d), timezone) for d in np.unique(day)}
    hour = (start - np.vectorize(midnight.get, otypes=[np.int64])(day)) / HOUR_MS if len(day) \
        else np.empty(0)
    length = (end - start) / HOUR_MS
    rota_of = np.array(staff["rota"].to_pylist(), dtype=object)
    role_of = np.array(staff["role"].to_pylist(), dtype=object)
    rotas = scenario.get("rotas", {})
    rows = []
    for group, values in (("rota", rota_of), ("role", role_of)):
        for name in sorted(set(values)):
            members = np.flatnonzero(values == name)
            mine = np.isin(pos, members)
            rota = name if group == "rota" else str(rota_of[members[0]])
            lengths, duty, run, night = asked_rota(rotas.get(rota, {}))
            rows.append(RotaRow(
                rota=rota, role=None if group == "rota" else name, staff=len(members),
                shifts=int(mine.sum()),
                shift_hours=float(np.median(length[mine])) if mine.any() else None,
                duty_days=float(mine.sum() / (len(members) * n_days)) if n_days else None,
                longest_run=_median_run(pos[mine], day[mine]),
                night_share=float(_night(hour[mine], length[mine]).mean()) if mine.any() else None,
                asked_shift_hours=lengths, asked_duty_days=duty, asked_longest_run=run,
                asked_night_share=night))
    return rows


def _midnight(day: int, timezone: str) -> int:
    from snoopbench.contract.info import day_to_date, local_midnight_ms

    return local_midnight_ms(day_to_date(day), timezone)


def _median_run(who: np.ndarray, day: np.ndarray) -> float | None:
    """The median over staff of each one's longest run of consecutive days with a shift."""
    if not len(who):
        return None
    keys = np.unique(np.stack([who, day]), axis=1)  # sorted by staff, then day
    w, d = keys
    new_run = np.r_[True, (w[1:] != w[:-1]) | (d[1:] != d[:-1] + 1)]
    run_id = np.cumsum(new_run) - 1
    lengths = np.bincount(run_id)
    run_owner = w[new_run]
    best = np.zeros(run_owner.max() + 1, np.int64)
    np.maximum.at(best, run_owner, lengths)
    return float(np.median(best[np.unique(run_owner)]))


def misuse_rows(truth: Path, scenario: dict[str, Any]) -> list[MisuseRow]:
    """One row per misuse kind the scenario asks for (or the truth holds), produced against asked."""
    episodes = pq.read_table(truth / "episodes.parquet",
                             columns=["kind", "skill", "start", "end", "n_events"])
    kind = np.array(episodes["kind"].to_pylist(), dtype=object)
    skill = np.array(episodes["skill"].to_pylist(), dtype=object)
    n_events = episodes["n_events"].to_numpy()
    spread = (episodes["end"].cast("int64").to_numpy()
              - episodes["start"].cast("int64").to_numpy()) / DAY_MS
    notes = _notes(truth)
    asked = scenario.get("misuse", {}).get("kinds", {})
    rows = []
    for name in sorted(set(asked) | set(kind)):
        k = asked.get(name, {})
        mine = kind == name
        mix = {s: float(k.get("skill_mix", {}).get(s, 0.0)) for s in SKILLS}
        total = sum(mix.values()) or 1.0
        rows.append(MisuseRow(
            kind=name, asked=int(k.get("episodes", 0)),
            at_rate=float(k.get("staff_share_per_year", 0.0)) > 0 or float(k.get("repeat_share", 0.0)) > 0,
            made=int(mine.sum()), by_skill={s: int((skill[mine] == s).sum()) for s in SKILLS},
            asked_mix={s: v / total for s, v in mix.items()},
            events_median=float(np.median(n_events[mine])) if mine.any() else None,
            events_range=(int(n_events[mine].min()), int(n_events[mine].max())) if mine.any() else None,
            asked_lookups=(int(k.get("lookups_min", 0)), int(k.get("lookups_max", 0))),
            spread_days_median=float(np.median(spread[mine])) if mine.any() else None,
            spread_days_max=float(spread[mine].max()) if mine.any() else None,
            asked_duration_days=float(k.get("duration_days_mean", 0.0)),
            notes=[n for n in notes if n.startswith(f"misuse.kinds.{name}.")]))
    return rows


def _notes(truth: Path) -> list[str]:
    """The run's misuse warnings kept beside the truth ([] for a dataset made before they were)."""
    path = truth / MISUSE_NOTES
    try:
        notes = json.loads(path.read_text()).get("warnings", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in notes if isinstance(n, str)]
