"""Checks of a scenario's ``[timeline]`` that span keys: dates inside the simulated period, areas
the force has, reorganisations of one area that do not overlap.

Each problem is one :class:`ScenarioError` naming the file and the key path."""

from __future__ import annotations

import datetime as dt
from typing import Any

from snoopbench.contract.errors import ScenarioError

EMPTY = {"seasons": {"demand_factor_by_month": []},
         "turnover": {"joiners_share_per_month": 0.0, "leavers_share_per_month": 0.0},
         "surges": [], "reorganisations": [], "policies": []}


def has_timeline(scn: dict[str, Any]) -> bool:
    """True if the resolved scenario asks for any organisational change."""
    tl = scn.get("timeline")
    return bool(tl) and tl != EMPTY


def reorganisation_window(r: dict[str, Any]) -> tuple[dt.date, dt.date]:
    """The days a reorganisation moves staff: from its date, for its transition (at least a day)."""
    return r["date"], r["date"] + dt.timedelta(days=max(1, round(r["transition_weeks"] * 7)))


def check_timeline(d: dict[str, Any], file: str, days_key: str = "duration_days") -> None:
    """The timeline's cross-key rules; ``days_key`` names what set the period (``--days``)."""
    tl = d.get("timeline")
    if not tl:
        return
    first = d["start_date"]
    last = first + dt.timedelta(days=d["duration_days"] - 1)
    areas = d["force"]["areas"]

    def fail(key: str, msg: str) -> None:
        raise ScenarioError(msg, file=file, key=f"timeline.{key}")

    def inside(key: str, date: dt.date) -> None:
        if not first <= date <= last:
            fail(key, f"expected a date inside the simulated period, {first} to {last} "
                      f"(start_date and {days_key}), got {date}")

    def area_ok(key: str, name: str) -> None:
        if name not in areas:
            fail(key, f"expected one of force.areas ({', '.join(areas)}), got {name!r}")

    months = tl["seasons"]["demand_factor_by_month"]
    if months and len(months) != 12:
        fail("seasons.demand_factor_by_month", f"expected 12 numbers, January first, got {len(months)}")
    for i, s in enumerate(tl["surges"]):
        inside(f"surges[{i}].start_date", s["start_date"])
        area_ok(f"surges[{i}].area", s["area"])
    for i, p in enumerate(tl["policies"]):
        inside(f"policies[{i}].date", p["date"])
    reorgs = tl["reorganisations"]
    for i, r in enumerate(reorgs):
        inside(f"reorganisations[{i}].date", r["date"])
        for name in r["areas"]:
            area_ok(f"reorganisations[{i}].areas", name)
        if len(set(r["areas"])) != len(r["areas"]):
            fail(f"reorganisations[{i}].areas", f"expected distinct areas, got {r['areas']}")
    for i, a in enumerate(reorgs):
        for j in range(i):
            b = reorgs[j]
            shared = sorted(set(a["areas"]) & set(b["areas"]))
            (a0, a1), (b0, b1) = reorganisation_window(a), reorganisation_window(b)
            if shared and a0 < b1 and b0 < a1:
                fail(f"reorganisations[{i}].date",
                     f"overlaps reorganisations[{j}] ({b['name']!r}, {b0} to {b1}) in area {shared[0]!r}; "
                     "expected one reorganisation of an area at a time (transition_weeks included)")
