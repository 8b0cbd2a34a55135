"""The wheel as a user gets it: built, installed into a fresh virtual environment, run from
outside the repository.

It catches what an editable install hides: a module or scenario left out of the wheel, a
repository folder installed at top level, an import that only works from the source tree, a
build that warns about the licence metadata, and the optional extras' hints (no dask, no
scikit-learn in a plain install).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("base", "england-wales", "large-force", "met-year", "misuse-zoo", "small-force", "small-force-changes", "surrey-year", "tiny")
REPO_FOLDERS = ("simulator", "detectors", "benchmarks", "scenarios", "regimes")
LICENCE_WARNING = re.compile(r"(?i)(warn|deprecat)[^\n]*licen[cs]e|licen[cs]e[^\n]*(warn|deprecat)")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    outside: Path
    logs: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, args: list[str], what: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["COLUMNS"] = "250"
        t0 = time.perf_counter()
        r = subprocess.run(args, cwd=self.outside, env=env, capture_output=True, text=True,
                           timeout=timeout)
        self.timings[what] = round(time.perf_counter() - t0, 1)
        return r


def _source_copy(dest: Path) -> Path:
    """The files git would ship (tracked, or new and not ignored), copied: a build never
    writes into the working tree and sees what a fresh clone would."""
    try:
        names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
        return dest
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _step(args: list[str], timings: dict, what: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    t0 = time.perf_counter()
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    timings[what] = round(time.perf_counter() - t0, 1)
    assert r.returncode == 0, f"{what} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    pytest.importorskip("build", reason="python -m build: pip install -e '.[dev]'")
    work = tmp_path_factory.mktemp("wheel")
    outside = work / "outside"
    outside.mkdir()
    timings: dict[str, float] = {}
    src = _source_copy(work / "src")
    logs = _step([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"),
                  str(src)], timings, "build wheel", work)
    (wheel,) = (work / "dist").glob("snoopbench-*.whl")
    venv = work / "venv"
    _step([sys.executable, "-m", "venv", str(venv)], timings, "create venv", work)
    logs += _step([str(venv / "bin" / "python"), "-m", "pip", "install", str(wheel)], timings,
                  "pip install wheel (deps from the cache)", outside)
    return Installed(wheel, venv, outside, logs, timings)


def test_the_wheel_holds_one_package_and_every_scenario(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    top = sorted({n.split("/")[0] for n in names})
    assert top == ["snoopbench", f"{installed.wheel.name.split('-')[0]}-"
                   f"{installed.wheel.name.split('-')[1]}.dist-info"]
    for scenario in SHIPPED:
        assert f"snoopbench/scenarios/{scenario}.toml" in names
    shipped = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
    assert shipped == sorted(SHIPPED)  # a new scenario belongs in this test too
    for regime in ("none", "monitoring-team", "published"):
        assert f"snoopbench/regimes/{regime}.toml" in names
    for package in ("contract", "simulator", "detectors", "benchmarks", "benchmarks/cli"):
        assert f"snoopbench/{package}/__init__.py" in names
    print(f"\nwheel {installed.wheel.name}: {len(names)} files; top level: {top}")
    by_folder: dict[str, int] = {}
    for n in names:
        key = "/".join(n.split("/")[:2]) if n.count("/") > 1 else n.split("/")[0]
        by_folder[key] = by_folder.get(key, 0) + 1
    for key, count in sorted(by_folder.items()):
        print(f"  {key}: {count}")


def test_site_packages_gets_snoopbench_and_nothing_else_of_ours(installed: Installed) -> None:
    (site,) = installed.venv.glob("lib/python*/site-packages")
    entries = {p.name for p in site.iterdir()}
    assert "snoopbench" in entries
    assert not entries & set(REPO_FOLDERS), entries & set(REPO_FOLDERS)
    assert not (installed.venv / "pyvenv.cfg").read_text().count("include-system-site-packages = true")


def test_no_licence_warnings_when_building_or_installing(installed: Installed) -> None:
    assert not LICENCE_WARNING.search(installed.logs), LICENCE_WARNING.search(installed.logs)


def test_scenarios_list_shows_every_shipped_scenario(installed: Installed) -> None:
    r = installed.run([str(installed.bin / "snoopbench"), "scenarios", "list"], "scenarios list")
    assert r.returncode == 0, r.stderr
    for scenario in SHIPPED:
        assert f"{scenario}.toml" in r.stdout


def test_python_dash_m_help(installed: Installed) -> None:
    r = installed.run([str(installed.bin / "python"), "-m", "snoopbench", "--help"],
                      "python -m snoopbench --help")
    assert r.returncode == 0 and "Usage" in r.stdout and r.stderr == ""


def test_demo_runs_and_names_the_missing_extra_literally(installed: Installed) -> None:
    r = installed.run([str(installed.bin / "snoopbench"), "demo"], "demo", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    for detector in ("explanation", "relationship", "volume", "null", "random"):
        assert detector in r.stdout
    # no scikit-learn in a plain install: the row says how to get it, brackets and all (the
    # caption may wrap anywhere, so compare without white space)
    assert "pipinstall'snoopbench[learn]'" in re.sub(r"\s", "", r.stdout)


API_EXAMPLE = """
import json, snoopbench
ds = snoopbench.simulate("tiny", "api-data", seed=11, days=3)
assert ds.info.staff == 300 and ds.events.count_rows() == ds.manifest["events"]
assert ds.context("staff").num_rows == 300
results = snoopbench.score(ds, detectors=["relationship", "volume:z=3.5"], budget=5)
table = results.to_arrow()
print(json.dumps({r["name"]: r["status"] for r in results}), table.num_rows)
print(snoopbench.load("api-data").verify().fingerprint == ds.fingerprint)
"""


def test_the_python_api_example_runs_from_outside(installed: Installed) -> None:
    r = installed.run([str(installed.bin / "python"), "-c", API_EXAMPLE], "Python API example", timeout=600)
    assert r.returncode == 0, r.stderr
    statuses, rows = r.stdout.strip().splitlines()[0].rsplit(" ", 1)
    assert json.loads(statuses) == {"relationship": "ok", "volume:z=3.5": "ok", "null": "ok", "random": "ok"}
    assert int(rows) == 4 and r.stdout.strip().endswith("True")


def test_a_scheduler_without_dask_names_the_cluster_extra(installed: Installed) -> None:
    r = installed.run([str(installed.bin / "snoopbench"), "simulate", "tiny", "--out",
                       str(installed.outside / "never"), "--scheduler", "tcp://127.0.0.1:9"],
                      "simulate --scheduler without dask")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "pip install 'snoopbench[cluster]'" in lines[0]
    assert not (installed.outside / "never").exists()


def test_zz_report_timings(installed: Installed) -> None:
    """Last (by name): the fresh environment's timings, for the record."""
    print("\nfresh-environment timings (s): " + json.dumps(installed.timings))
    assert installed.timings
