"""Reading, merging and validating scenario files.

A scenario is a small TOML file. ``extends = "other.toml"`` (relative to the file) deep-merges the
file over another; the result is checked against :data:`simulator.scenario_format.SCENARIO` and a
few rules that span keys. Every problem is one :class:`ScenarioError` naming the file and key path.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from snoopbench.contract.errors import IntegrityError, ScenarioError
from snoopbench.contract.schema import ROLES
from snoopbench.simulator import misuse_kinds
from snoopbench.simulator.scenario_format import SCENARIO
from snoopbench.simulator.spec import load_extending, read_toml, resolve
from snoopbench.simulator.timeline_check import check_timeline, has_timeline

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
#: What a sealed dataset's scenario.toml says in place of its seed, which only the truth keeps.
SEALED_SEED = "sealed"
# Peak memory of a run (see Scenario.memory_estimate): bytes per process, per member of staff, and
# per member of staff per simulated day.
MEMORY_BASE = 250 * 2**20
MEMORY_PER_STAFF = 20_000
MEMORY_PER_STAFF_DAY = 900


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


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
            if not 0 <= seed < 2**63:
                raise ScenarioError(f"expected a seed from 0 to 2**63-1, got {seed}", key="--seed")
            data["seed"] = seed
        if days is not None:
            if not 1 <= days <= 3660:
                raise ScenarioError(f"expected a number of days from 1 to 3660, got {days}", key="--days")
            data["duration_days"] = days
            data["warmup_days"] = min(data["warmup_days"], max(days - 1, 0))
            check_timeline(data, str(self.path), days_key="--days")
        return Scenario(self.path, data)

    def to_toml(self, *, sealed: bool = False) -> str:
        """The resolved scenario as TOML; ``sealed`` writes ``seed = "sealed"`` in place of the seed."""
        data = {k: v for k, v in self.data.items() if k != "extends"}
        if not has_timeline(data):  # a stable world's scenario.toml reads as it always did
            data.pop("timeline", None)
        if sealed:
            data["seed"] = SEALED_SEED
        return tomli_w.dumps(data)

    def memory_estimate(self, workers: int = 1) -> int:
        """Bytes of memory a run of this scenario needs at its peak, all processes together.

        Measured peaks (docs/scenarios.md, "Memory"): a process holds a fixed base plus, per member
        of staff it simulates, a world part and a part that grows with the days (tasking and
        references held). The coefficients are from small-force at 30 and 90 days with one worker,
        and over-estimate the large force's year (8.3 GB estimated per process, 6.4 GB measured)."""
        staff, days = self.data["force"]["staff"], self.data["duration_days"]
        processes = max(1, min(workers, len(self.areas)))
        return processes * MEMORY_BASE + staff * (MEMORY_PER_STAFF + MEMORY_PER_STAFF_DAY * days)

    def check_machine_fits(self, workers: int = 1) -> None:
        """Refuse, before any work, a run this machine cannot hold in memory."""
        need = self.memory_estimate(workers)
        have = available_memory()
        if have is not None and need > have:
            raise ScenarioError(
                f"needs about {need / 2**30:.1f} GiB of memory ({self.data['force']['staff']:,} staff for "
                f"{self.days} days), and this machine has {have / 2**30:.1f} GiB available; expected a "
                "smaller force.staff or duration_days (or a cluster: --scheduler)",
                file=str(self.path), key="force.staff")

    def start_utc(self) -> dt.datetime:
        """Local midnight of the start date, as an aware UTC datetime."""
        tz = zoneinfo.ZoneInfo(self.data["timezone"])
        start = dt.datetime.combine(self.data["start_date"], dt.time(0), tzinfo=tz)
        return start.astimezone(dt.timezone.utc)


def _read_toml(path: Path, referenced_from: tuple[Path, str] | None) -> dict[str, Any]:
    return read_toml(path, ScenarioError, referenced_from)


def _load_raw(path: Path) -> dict[str, Any]:
    """``extends``: a file relative to the extending one, else a shipped scenario of that name."""
    return load_extending(path, ScenarioError, SCENARIO_DIR, "scenario")


def load(path: str | Path) -> Scenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError` on any problem."""
    path = Path(path)
    raw = _load_raw(path)
    if raw.get("seed") == SEALED_SEED:
        raise ScenarioError("the seed is sealed: this is a sealed dataset's scenario, whose seed only the "
                            "holder of its truth knows; expected a whole-number seed (or --seed)",
                            file=str(path), key="seed")
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
    check_timeline(d, file)


def check_dataset_scenario(path: Path, manifest: Any) -> None:
    """``verify``'s check of a dataset's ``scenario.toml``: it validates as a scenario (a sealed
    one with its seed withheld), so the warm-up and time zone scoring uses are well-formed."""
    raw = _read_toml(path, None)
    if "extends" in raw:
        raise IntegrityError(f"{path}: a dataset's scenario is fully resolved; found 'extends'")
    if raw.get("seed") == SEALED_SEED:
        raw["seed"] = 0
    try:
        data = resolve(SCENARIO, raw, str(path), "")
        _check_cross_keys(data, str(path))
    except ScenarioError as exc:
        raise IntegrityError(f"{exc} (a dataset's scenario.toml must validate)") from None


def shipped() -> list[Path]:
    """The scenario files shipped with snoopbench."""
    return sorted(SCENARIO_DIR.glob("*.toml"))


def names() -> list[str]:
    """The shipped scenarios' names."""
    return [p.stem for p in shipped()]


def find(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped scenario of that name (``tiny`` or ``tiny.toml``).

    A file that exists wins; a bare name then means the shipped scenario; anything else is a
    :class:`ScenarioError` that lists the shipped names."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.parent == Path("."):
        cand = SCENARIO_DIR / (p.name if p.suffix == ".toml" else f"{p.name}.toml")
        if cand.is_file():
            return cand
    if p.is_dir():
        raise ScenarioError("is a folder; expected a scenario file or a shipped scenario's name", file=str(p))
    raise ScenarioError(f"no such file, and no shipped scenario of that name ({', '.join(names())})",
                        file=str(p))
