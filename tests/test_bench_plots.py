"""The bench report stays legible with many detectors (benchmarks.bench_plots, bench_report)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("matplotlib")

from snoopbench.benchmarks.bench import BenchResult, Row, ScenarioRun  # noqa: E402
from snoopbench.benchmarks.bench_plots import MARKERS, PALETTE, _colours, write_plots  # noqa: E402
from snoopbench.benchmarks.bench_report import render  # noqa: E402
from snoopbench.benchmarks.metrics import Interval  # noqa: E402

NAMES = ["null", "random", *(f"det{i}" for i in range(18)), "random:seed=1"]


def _result(names: list[str]) -> BenchResult:
    rows = []
    for i, name in enumerate(names):
        level = 1 - i / len(names)
        iv = Interval(level * 0.5, level * 0.4, min(1.0, level * 0.6), 3)
        rows.append(Row(scenario="s", detector=name, seeds=[1, 2, 3], statuses=["ok"] * 3,
                        errors=[None] * 3, metrics={"recall": iv},
                        recall_by_kind={"family": iv}, caught_by_kind={"family": i % 4},
                        episodes_by_kind={"family": 4},
                        recall_by_budget={b: iv for b in (1.0, 5.0, 20.0)},
                        ttd_days=[0.0, 1.0, float(i % 5)]))
    info = ScenarioRun(name="s", file="s.toml", seeds=[1, 2, 3], days=10, warmup_days=2, staff=900)
    return BenchResult(scenarios=[info], detectors=names, budget=5.0, sweep_budgets=[1.0, 5.0, 20.0],
                       version="0", started="now", seconds=1.0, runs=[], leaderboard=rows)


def test_twenty_one_detectors_get_distinct_colours_and_distinct_looks() -> None:
    looks = _colours(NAMES)
    others = [looks[n] for n in NAMES if n not in ("null", "random")]
    assert len({c for c, _ in others}) == len(others) == 19 <= len(PALETTE)
    assert len(set(looks.values())) == len(NAMES)
    many = _colours([f"d{i}" for i in range(60)])
    assert len({many[f"d{i}"] for i in range(60)}) == 60  # colour and marker together stay distinct
    assert len(MARKERS) >= 10


def test_many_detectors_get_small_multiples_and_a_page_that_names_each(tmp_path) -> None:
    result = _result(NAMES)
    written = write_plots(result, tmp_path)["s"]
    titles = [t for t, _ in written]
    assert "Recall against alert budget, one panel per detector" in titles and len(written) == 4
    for _, path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = render(result, {"s": [(t, p.name) for t, p in written]})
    assert len(re.findall(r'<span class="sw" style="color:#[0-9A-Fa-f]{6}">', page)) == len(NAMES)
    assert "nCR-400" in page and "Δ recall" in page
    few = write_plots(_result(NAMES[:5]), tmp_path / "few")["s"]
    assert len(few) == 3  # a handful of detectors: one plot with bands, no panels
