"""Reading, merging and validating scenario files.

A scenario is a small TOML file. ``extends = "other.toml"`` (relative to the file) deep-merges the
file over another; the result is checked against :data:`simulator.scenario_format.SCENARIO` and a
few rules that span keys. Every problem is one :class:`ScenarioError` naming the file and key path.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from snoopbench.contract.errors import ScenarioError
from snoopbench.contract.schema import ROLES
from snoopbench.simulator import misuse_kinds
from snoopbench.simulator.scenario_format import SCENARIO
from snoopbench.simulator.spec import deep_merge, resolve

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class Scenario:
    """A resolved, validated scenario: every key present, ``extends`` merged."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def seed(self) -> int:
        return self.data["seed"]

    @property
    def days(self) -> int:
        return self.data["duration_days"]

    @property
    def areas(self) -> list[str]:
        return self.data["force"]["areas"]

    @property
    def notes(self) -> list[str]:
        """What a reader should know that is not an error: registered misuse kinds it leaves out."""
        absent = misuse_kinds.absent_from(self.data["misuse"]["kinds"])
        if not absent:
            return []
        return [f"{self.path.name}: misuse.kinds: no episodes of {', '.join(absent)} "
                f"(registered misuse kinds this scenario does not ask for)"]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def with_overrides(self, *, seed: int | None = None, days: int | None = None) -> "Scenario":
        """The same scenario with the seed or the duration replaced (command-line overrides)."""
        data = dict(self.data)
        if seed is not None:
            if seed < 0:
                raise ScenarioError(f"expected a seed of at least 0, got {seed}", key="--seed")
            data["seed"] = seed
        if days is not None:
            if not 1 <= days <= 3660:
                raise ScenarioError(f"expected a number of days from 1 to 3660, got {days}", key="--days")
            data["duration_days"] = days
            data["warmup_days"] = min(data["warmup_days"], max(days - 1, 0))
        return Scenario(self.path, data)

    def to_toml(self) -> str:
        data = {k: v for k, v in self.data.items() if k != "extends"}
        return tomli_w.dumps(data)

    def start_utc(self) -> dt.datetime:
        """Local midnight of the start date, as an aware UTC datetime."""
        tz = zoneinfo.ZoneInfo(self.data["timezone"])
        start = dt.datetime.combine(self.data["start_date"], dt.time(0), tzinfo=tz)
        return start.astimezone(dt.timezone.utc)


def _read_toml(path: Path, referenced_from: tuple[Path, str] | None) -> dict[str, Any]:
    if not path.is_file():
        if referenced_from:
            src, key = referenced_from
            raise ScenarioError(f"file {str(path)!r} not found", file=str(src), key=key)
        raise ScenarioError("file not found", file=str(path))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML ({exc})", file=str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError("not a UTF-8 text file", file=str(path)) from None


def _load_raw(path: Path, chain: tuple[Path, ...], referenced_from=None) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        raise ScenarioError("extends itself through " + " -> ".join(p.name for p in chain + (path,)),
                            file=str(chain[-1]), key="extends")
    raw = _read_toml(path, referenced_from)
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ScenarioError(f"expected a path to another scenario file, got {parent!r}", file=str(path), key="extends")
    base = _load_raw(path.parent / parent, chain + (path,), referenced_from=(path, "extends"))
    return deep_merge(base, raw)


def load(path: str | Path) -> Scenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError` on any problem."""
    path = Path(path)
    raw = _load_raw(path, ())
    if isinstance(raw.get("misuse"), dict) and "kinds" in raw["misuse"]:
        raw["misuse"] = {**raw["misuse"], "kinds": misuse_kinds.with_defaults(raw["misuse"]["kinds"], str(path))}
    data = resolve(SCENARIO, raw, str(path), "")
    _check_cross_keys(data, str(path))
    return Scenario(path.resolve(), data)


def _check_cross_keys(d: dict[str, Any], file: str) -> None:
    def fail(key: str, msg: str) -> None:
        raise ScenarioError(msg, file=file, key=key)

    try:
        zoneinfo.ZoneInfo(d["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail("timezone", f"expected an IANA time zone such as 'Europe/London', got {d['timezone']!r}")
    if d["warmup_days"] >= d["duration_days"]:
        fail("warmup_days", f"expected fewer than duration_days ({d['duration_days']}), got {d['warmup_days']}")
    weights = d["force"]["area_weights"]
    if weights and (len(weights) != len(d["force"]["areas"]) or sum(weights) <= 0):
        fail("force.area_weights", f"expected {len(d['force']['areas'])} non-negative weights, one per area, "
                                   f"with a positive sum; got {len(weights)}")
    missing = [r for r in ROLES if r not in d["roles"]]
    if missing:
        fail(f"roles.{missing[0]}", "missing; every role of the contract needs a table")
    total = sum(r["share"] for r in d["roles"].values())
    if abs(total - 1.0) > 0.01:
        fail("roles", f"expected role shares summing to 1, got {total:.3f}")
    for name, role in d["roles"].items():
        if role["rota"] not in d["rotas"]:
            fail(f"roles.{name}.rota", f"expected one of the rotas {sorted(d['rotas'])}, got {role['rota']!r}")
        if not role["systems"] or sum(role["systems"].values()) <= 0:
            fail(f"roles.{name}.systems", "expected at least one system with a positive weight")
    for name, rota in d["rotas"].items():
        for shift in rota["cycle"]:
            if shift == "off":
                continue
            for k in ("shift_start_hours", "shift_hours"):
                if shift not in rota[k]:
                    fail(f"rotas.{name}.{k}", f"expected an entry for shift {shift!r} named in the cycle")
    dem = d["demand"]
    if dem["cad_touches_min"] > dem["cad_touches_max"]:
        fail("demand.cad_touches_min", "expected at most demand.cad_touches_max")
    if sum(dem["hourly_weights"]) <= 0 or sum(dem["weekday_weights"]) <= 0:
        fail("demand.hourly_weights", "expected some positive weight")
    for name, sysd in d["systems"].items():
        if not sysd["entity_types"] or not sysd["actions"]:
            fail(f"systems.{name}", "expected entity_types and actions with positive weights")
    for sysname in {s for r in d["roles"].values() for s, w in r["systems"].items() if w > 0}:
        if sysname not in d["systems"]:
            fail(f"systems.{sysname}", "missing; a role uses this system")
    for kind, k in d["misuse"]["kinds"].items():
        if k["lookups_min"] > k["lookups_max"]:
            fail(f"misuse.kinds.{kind}.lookups_min", "expected at most lookups_max")
        if sum(k["skill_mix"].values()) <= 0:
            fail(f"misuse.kinds.{kind}.skill_mix", "expected some positive weight")


def shipped() -> list[Path]:
    """The scenario files shipped with snoopbench."""
    return sorted(SCENARIO_DIR.glob("*.toml"))


def find(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped scenario of that name (``tiny`` or ``tiny.toml``)."""
    p = Path(name_or_path)
    if p.exists() or p.suffix == ".toml" and p.parent != Path("."):
        return p
    cand = SCENARIO_DIR / (p.name if p.suffix == ".toml" else f"{p.name}.toml")
    return cand if cand.exists() else p
