"""Scenario authoring as a researcher meets it: a kind short of its episodes says which and why,
and ``profile`` sets the rota worked and the misuse produced beside what the scenario asked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from snoopbench.benchmarks.profile_authoring import _median_run, asked_rota
from snoopbench.simulator import scenario as scenario_mod

SCRIPT = shutil.which("snoopbench", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="the snoopbench console script is not "
                                "installed next to this Python (pip install -e .)")
TINY_GOLDEN = "4b7fca6884f599123f6f226555f16b753b9d099559fc6b5d5bc02f1162c780da"  # test_versions


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """tiny (which asks for 4 curiosity episodes and makes 3), simulated by the command."""
    work = tmp_path_factory.mktemp("authoring")
    r = run(["simulate", "tiny", "--out", str(work / "tiny")], work)
    assert r.returncode == 0, r.stderr
    return work / "tiny", r


def test_a_kind_short_of_its_episodes_says_which_and_why(tiny) -> None:
    out, r = tiny
    warnings = [w for w in r.stderr.splitlines() if w.startswith("warning: misuse.kinds.")]
    short = next(w for w in warnings if "misuse.kinds.curiosity.episodes" in w)
    assert "4 asked for, 3 left events in the 7 days" in short
    assert "episode 9 (careful) never acted: its actor had no shift on 2 of the 4 days" in short
    assert "careful misuse is done on shift" in short
    assert "2 asked for" in next(w for w in warnings if "misuse.kinds.family." in w)
    notes = json.loads((out / "truth" / "misuse_notes.json").read_text())["warnings"]
    assert [f"warning: {n}" for n in notes] == warnings  # kept beside the truth, word for word
    # the data are as before: the note is outside the manifest and the fingerprint
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["fingerprint"] == TINY_GOLDEN
    assert "truth/misuse_notes.json" not in manifest["truth_files"]
    assert run(["verify", str(out)], out.parent).returncode == 0


def test_profile_sets_rota_and_misuse_beside_what_was_asked(tiny) -> None:
    out, _ = tiny
    r = run(["profile", str(out)], out.parent)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "rota pattern worked (asked)" in text and "misuse produced (asked)" in text
    rows = {tuple(c.strip() for c in line.split("│")[1:3]): [c.strip() for c in line.split("│")[3:-1]]
            for line in text.splitlines() if line.startswith("│")}
    response = rows[("continuous", "response")]
    assert response[2] == "10.0 (10)"  # shift hours worked (asked)
    assert response[5].endswith("(33%)")  # night share asked: 2 nights in 6 working days
    assert rows[("curiosity", "4+")][0] == "3"  # asked at least 4 (more at rate), made 3
    assert "short: misuse.kinds.curiosity.episodes: 4 asked for, 3 left events" in text


def test_profile_of_a_sealed_dataset_needs_its_truth_for_misuse(tmp_path: Path) -> None:
    data, truth = tmp_path / "sealed", tmp_path / "kept"
    assert run(["simulate", "tiny", "--days", "3", "--out", str(data), "--sealed", str(truth),
                "--quiet"], tmp_path).returncode == 0
    assert (truth / "misuse_notes.json").is_file() and not (data / "truth").exists()
    r = run(["profile", str(data)], tmp_path)
    assert r.returncode == 0 and "rota pattern worked" in r.stdout
    assert "the truth is sealed; pass --truth" in r.stdout and "misuse produced (asked)" not in r.stdout
    r = run(["profile", str(data), "--truth", str(truth)], tmp_path)
    assert r.returncode == 0 and "misuse produced (asked)" in r.stdout


def test_asked_rota_figures_follow_the_shipped_cycles() -> None:
    rotas = scenario_mod.load(scenario_mod.find("tiny"))["rotas"]
    lengths, duty, run_, night = asked_rota(rotas["continuous"])  # E E L L N N off x4
    assert lengths == [10.0] and run_ == 6 and night == pytest.approx(1 / 3)
    assert duty == pytest.approx(6 / 10 * (1 - rotas["continuous"]["absence_share"]))
    _, duty, run_, night = asked_rota(rotas["control_room"])  # D D N N off x4
    assert run_ == 4 and night == pytest.approx(0.5)
    _, duty, run_, night = asked_rota(rotas["office"])  # weekdays
    assert run_ == 5 and night == 0 and duty == pytest.approx(5 / 7 * (1 - rotas["office"]["absence_share"]))
    wrap = {"type": "cycle", "cycle": ["day", "off", "day", "day"], "shift_start_hours": {"day": 8.0},
            "shift_hours": {"day": 8.0}}
    assert asked_rota(wrap)[2] == 3  # a run around the end of the cycle


def _longest(days: set[int]) -> int:
    best = 0
    for d in days:
        n = 0
        while d + n in days:
            n += 1
        best = max(best, n)
    return best


@given(st.dictionaries(st.integers(0, 20), st.sets(st.integers(0, 40), min_size=1, max_size=20),
                       min_size=1, max_size=8))
def test_median_run_is_the_median_of_each_ones_longest_run(days_of: dict[int, set[int]]) -> None:
    who = np.array([w for w, ds in days_of.items() for _ in ds], np.int64)
    day = np.array([d for ds in days_of.values() for d in ds], np.int64)
    expected = np.median([_longest(ds) for ds in days_of.values()])
    assert _median_run(who, day) == pytest.approx(float(expected))
