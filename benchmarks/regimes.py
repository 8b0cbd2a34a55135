"""Monitoring regimes: how a force looks for misuse, as a validated TOML file.

A regime (format ``snoopbench/regime/v1``) states a force's proactive monitoring (detectors, how
many alerts its reviewers get through a day, and how likely a reviewer is to confirm real misuse
from an alert, by the misuser's skill), its random audits (a share of *users* per month or
quarter, each audit covering all of that user's activity for a window), the reactive routes by
which misuse comes to light without any monitoring (a victim or partner complains, intelligence
reports a leak, a colleague reports, a post is found in public), each per misuse kind with a
probability and a delay, and what follows a finding (an investigation's outcome shares).

Files are read like scenarios: ``extends`` names a file next to this one or a shipped regime
(``regimes/``), tables merge key by key, and every problem is one :class:`RegimeError` (exit 2)
naming the file and the key. The defaults are estimates unless DOMAIN.md publishes the figure:
the outcome shares are Big Brother Watch's (2016) published shares; no source publishes how misuse
is found, so every probability here is a parameter to state and vary, never a known figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snoopbench.benchmarks.reviewer import DELAYS
from snoopbench.contract.errors import InputError, ScenarioError
from snoopbench.contract.schema import SKILLS
from snoopbench.simulator import misuse_kinds
from snoopbench.simulator.spec import Field, MapOf, Section, load_extending, resolve, shipped_file

FORMAT = "snoopbench/regime/v1"
REGIME_DIR = Path(__file__).resolve().parent.parent / "regimes"
ROUTES = ("complaint", "intelligence", "colleague", "public")
OUTCOMES = ("no_action", "management_action", "written_warning", "dismissal_or_resignation",
            "conviction_or_caution")
PERIOD_DAYS = {"month": 30, "quarter": 91}

# Big Brother Watch (2016), outcome of 2,315 breaches (DOMAIN.md, "Published counts"): 55% no or
# informal action, 13% resignation or dismissal, 11% written or verbal warning, 3% conviction or
# caution; the remaining 18% ("other or pending") is counted here as management action (estimate).
PUBLISHED_OUTCOMES = {"no_action": 0.55, "management_action": 0.18, "written_warning": 0.11,
                      "dismissal_or_resignation": 0.13, "conviction_or_caution": 0.03}


class RegimeError(InputError):
    """A regime file that cannot be read or does not validate (exit 2)."""


def _p(default: float, doc: str) -> Field:
    return Field("float", default, doc, min=0.0, max=1.0)


def _route(probability: float, mean_days: float, doc: str) -> Section:
    return Section({
        "probability": _p(probability, "chance that this route reports an episode (estimate)"),
        "delay": Field("str", "exponential", "delay distribution from the episode's end (public: from "
                       "public_at)", choices=DELAYS),
        "delay_mean_days": Field("float", mean_days, "mean delay in days (uniform: from 0 to twice this)",
                                 min=0.0),
    }, doc)


# Reactive defaults (estimates, DOMAIN.md: abuse for sexual gain found when victims reported it;
# forces acting once intelligence arrived): people close to the target complain about partner,
# family, neighbour and dispute look-ups; intelligence finds leaks to criminals; the press route is
# a post found online. Every kind not listed here gets small chances of each route.
_REACTIVE_DEFAULTS: dict[str, dict[str, dict[str, float]]] = {
    "partner": {"complaint": {"probability": 0.10, "delay_mean_days": 60.0}},
    "pursuit": {"complaint": {"probability": 0.12, "delay_mean_days": 45.0}},
    "family": {"complaint": {"probability": 0.03}},
    "neighbour": {"complaint": {"probability": 0.05}},
    "personal_dispute": {"complaint": {"probability": 0.06}},
    "colleague": {"colleague": {"probability": 0.05}},
    "leak_criminal": {"intelligence": {"probability": 0.15, "delay_mean_days": 90.0}},
    "leak_press": {"intelligence": {"probability": 0.05}, "public": {"probability": 0.10}},
    "media_exfiltration": {"public": {"probability": 0.30, "delay_mean_days": 14.0}},
}

ROUTES_DECL = Section({
    "complaint": _route(0.01, 60.0, "a victim or partner complains"),
    "intelligence": _route(0.01, 90.0, "intelligence reports a leak"),
    "colleague": _route(0.01, 30.0, "a colleague reports"),
    "public": _route(0.0, 7.0, "a post is found in public (only episodes with public_at)"),
})

REGIME = Section({
    "format": Field("str", FORMAT, choices=(FORMAT,)),
    "extends": Field("str", "", "a file next to this one, or a shipped regime's name"),
    "name": Field("str", doc="short name, shown in tables"),
    "description": Field("str", ""),
    "proactive": Section({
        "detectors": Field("list[str]", [], "detector SPECs (built-in, plug-in or exec:)"),
        "review_per_day": Field("float", 0.0, "alerts reviewed a day, absolute", min=0.0),
        "review_per_1000_staff": Field("float", 0.0, "alerts reviewed a day per 1,000 staff (added)",
                                       min=0.0),
        "confirm": Section({s: _p(d, f"chance a reviewer confirms a {s} misuser's alert (estimate)")
                            for s, d in zip(SKILLS, (0.9, 0.6, 0.3))}),
        # online protocol (score --online): when a reviewer's verdict reaches the detector
        "verdict_delay": Field("str", "exponential", "delay distribution of a verdict, from the "
                               "end of the alert's day", choices=DELAYS),
        "verdict_delay_mean_days": Field("float", 7.0, "mean days until a verdict is back "
                                         "(estimate: a weekly review meeting)", min=0.0),
    }),
    "audits": Section({
        "share": _p(0.0, "share of users audited each period"),
        "period": Field("str", "month", choices=tuple(PERIOD_DAYS)),
        "window_days": Field("int", 30, "days of a user's activity an audit covers", min=1, max=3660),
        "hit_rate": _p(0.8, "chance an audit finds misuse in the window it covers (estimate)"),
    }),
    "reactive": MapOf(ROUTES_DECL, default=_REACTIVE_DEFAULTS),
    "outcomes": Section({k: _p(v, "share of findings with this outcome") for k, v in
                         PUBLISHED_OUTCOMES.items()}),
})


@dataclass(frozen=True)
class Regime:
    """A resolved, validated regime: every key present, ``extends`` merged."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def detectors(self) -> list[str]:
        return self.data["proactive"]["detectors"]

    def capacity(self, n_staff: float) -> float:
        """Alerts reviewed a day for a force of ``n_staff`` (a fraction: spread over the days)."""
        p = self.data["proactive"]
        if not p["detectors"]:
            return 0.0
        return p["review_per_day"] + p["review_per_1000_staff"] * n_staff / 1000.0

    def route(self, kind: str, route: str) -> dict[str, Any]:
        """A reactive route for a kind (the defaults for a kind the file does not name)."""
        table = self.data["reactive"]
        if kind in table:
            return table[kind][route]
        return resolve(ROUTES_DECL, _REACTIVE_DEFAULTS.get(kind, {}), str(self.path), f"reactive.{kind}")[route]

    def check_against(self, days: int, warmup_days: int) -> None:
        """Refuse a regime whose audit period is longer than the scenario it runs on."""
        a = self.data["audits"]
        if a["share"] > 0 and PERIOD_DAYS[a["period"]] > days - warmup_days:
            raise RegimeError(f"a {a['period']} ({PERIOD_DAYS[a['period']]} days) is longer than the "
                              f"scenario's {days - warmup_days} days after warm-up; expected a shorter "
                              "period or a longer scenario (--years)", file=str(self.path), key="audits.period")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k != "extends"}


def load(path: str | Path) -> Regime:
    """Read, merge and validate a regime file; raise :class:`RegimeError` on any problem."""
    path = Path(path)
    raw = load_extending(path, RegimeError, REGIME_DIR, "regime")
    file = str(path)
    try:
        data = resolve(REGIME, raw, file, "")
    except ScenarioError as exc:  # the spec language speaks of scenarios; this is a regime
        raise RegimeError(str(exc).removeprefix(f"{file}: ").removeprefix(f"{exc.key}: "),
                          file=file, key=exc.key) from None
    _check(data, file)
    return Regime(path.resolve(), data)


def _check(d: dict[str, Any], file: str) -> None:
    from snoopbench.detectors.registry import SpecError, parse_spec, target_of

    for i, text in enumerate(d["proactive"]["detectors"]):
        try:
            spec = parse_spec(text)
            if not spec.is_exec:
                target_of(spec.id)
        except SpecError as exc:
            raise RegimeError(str(exc), file=file, key=f"proactive.detectors[{i}]") from None
    kinds = misuse_kinds.names()
    for kind in d["reactive"]:
        if kind not in kinds:
            raise RegimeError(f"unknown misuse kind; expected one of: {', '.join(kinds)}",
                              file=file, key=f"reactive.{kind}")
    total = sum(d["outcomes"].values())
    if abs(total - 1.0) > 1e-6:
        raise RegimeError(f"expected outcome shares summing to 1, got {total:.4f}", file=file, key="outcomes")
    p = d["proactive"]
    if p["detectors"] and p["review_per_day"] + p["review_per_1000_staff"] <= 0:
        raise RegimeError("detectors but no review capacity; expected review_per_day or "
                          "review_per_1000_staff above 0", file=file, key="proactive.review_per_day")


def shipped() -> list[Path]:
    """The shipped regime files (``published.toml`` beside them holds published counts, not a regime)."""
    return sorted(p for p in REGIME_DIR.glob("*.toml") if p.stem != "published")


def names() -> list[str]:
    return [p.stem for p in shipped()]


def find(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped regime of that name."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    found = shipped_file(REGIME_DIR, str(name_or_path))
    if found is not None and found in shipped():
        return found
    raise RegimeError(f"no such file, and no shipped regime of that name ({', '.join(names())})",
                      file=str(p), key="--regime")
