"""Paired comparisons, CR-K and ``snoopbench compare`` (benchmarks.compare, compare_files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snoopbench.benchmarks.compare import (EpisodeRanks, episode_ranks, holm, paired_difference,
                                           parse_metric)
from snoopbench.benchmarks.metrics import (evaluate_alerts, floor_of, select_alerts,
                                           user_day_max)
from strategies import grid_scores, periods

SCRIPT = shutil.which("snoopbench", path=str(Path(sys.executable).parent))


@st.composite
def paired_seeds(draw):
    """Per seed, two detectors' caught flags over the same episodes (1 to 4 seeds)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 30), min_size=1, max_size=4))
    pa, pb = draw(st.floats(0, 1)), draw(st.floats(0, 1))
    return ([rng.random(n) < pa for n in sizes], [rng.random(n) < pb for n in sizes])


@given(paired_seeds())
def test_a_detector_against_itself_differs_by_nothing(seeds) -> None:
    a, _ = seeds
    p = paired_difference(a, a, resamples=400)
    assert (p.difference, p.low, p.high, p.p) == (0.0, 0.0, 0.0, 1.0)
    assert not p.significant and not holm([p, p])[0].significant


@given(paired_seeds())
def test_swapping_a_and_b_negates_the_difference_and_keeps_the_p_value(seeds) -> None:
    a, b = seeds
    ab, ba = paired_difference(a, b, resamples=400), paired_difference(b, a, resamples=400)
    assert ab.difference == pytest.approx(-ba.difference, abs=1e-12)
    assert ab.low == pytest.approx(-ba.high, abs=1e-12)
    assert ab.high == pytest.approx(-ba.low, abs=1e-12)
    assert ab.p == ba.p and ab.significant == ba.significant


@given(paired_seeds())
def test_the_interval_is_ordered_within_the_range_of_a_difference_of_shares(seeds) -> None:
    a, b = seeds
    p = paired_difference(a, b, resamples=400)
    assert -1.0 <= p.low <= p.high <= 1.0 and -1.0 <= p.difference <= 1.0
    assert 0.0 < p.p <= 1.0
    means = [x.mean() - y.mean() for x, y in zip(a, b)]
    assert p.difference == pytest.approx(float(np.mean(means)))


def test_the_same_inputs_give_the_same_figures() -> None:
    rng = np.random.default_rng(3)
    a = [rng.random(40) < 0.6 for _ in range(5)]
    b = [rng.random(40) < 0.4 for _ in range(5)]
    assert paired_difference(a, b) == paired_difference(a, b)


def test_a_clear_winner_is_significant_and_a_coin_toss_is_not() -> None:
    rng = np.random.default_rng(7)
    caught = [np.ones(30, bool) for _ in range(5)]
    missed = [np.zeros(30, bool) for _ in range(5)]
    p = paired_difference(caught, missed, names=("vip", "null"))
    assert p.significant and (p.difference, p.low, p.high) == (1.0, 1.0, 1.0)
    assert p.sentence().startswith("vip beats null on recall by 1.00 [1.00, 1.00]")
    a = [rng.random(30) < 0.5 for _ in range(5)]
    b = [rng.random(30) < 0.5 for _ in range(5)]
    noise = paired_difference(a, b)
    assert not noise.significant and noise.low < 0 < noise.high
    assert "not significant" in noise.sentence()


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    base = paired_difference([np.ones(3, bool)], [np.zeros(3, bool)])
    from dataclasses import replace

    ps = [replace(base, p=x) for x in (0.01, 0.04, 0.03)]
    assert [c.p_holm for c in holm(ps)] == pytest.approx([0.03, 0.06, 0.06])
    assert [c.significant for c in holm(ps)] == [True, False, False]


def test_cr_k_on_a_hand_made_case() -> None:
    # four episodes: top of a day's queue, 31st, 1,000th, never in the top 1,000
    ranks = EpisodeRanks(np.arange(4), np.array([0, 30, 999, 1000]), cap=1000)
    # k = 25: 1 of 4; 50, 75, 100: 2 of 4
    assert ranks.cumulative_recall(100) == pytest.approx((1.75, 1.75 / 4))
    # budgets 25..1000 (40): the episodes are caught at 40, 39, 1 and 0 of them
    assert ranks.cumulative_recall(1000) == pytest.approx((20.0, 0.5))
    assert ranks.recall(31) == 0.5 and ranks.recall(1000) == 0.75
    out = ranks.to_json()
    assert out["cr_400"] == pytest.approx(0.25 + 15 * 0.5) and len(out["recall_at"]) == 40
    assert EpisodeRanks(np.empty(0, np.int64), np.empty(0, np.int64)).cumulative_recall(400) is None
    with pytest.raises(ValueError):
        ranks.cumulative_recall(110)
    assert parse_metric("nCR-400") == 400
    for bad in ("ncr-410", "ncr-0", "ncr-2000", "cr-400", "recall"):
        with pytest.raises(ValueError):
            parse_metric(bad)


@given(periods(), st.data())
def test_episode_ranks_catch_exactly_what_the_scoring_rules_catch(period, data) -> None:
    scores = grid_scores(data.draw, period.n_events)
    ud = user_day_max(period, scores)
    floor = floor_of(scores)
    cap = 8
    kept = select_alerts(period.keys, ud, cap, floor=floor)
    ids = np.arange(100, 100 + len(period.kinds))[::-1]  # ids in another order than indices
    ranks = episode_ranks(period.only_labelled(), ids, period.keys[kept], ud[kept], cap=cap)
    assert list(ranks.episode_ids) == sorted(ids[np.unique(period.episode[period.episode >= 0])])
    for per_day in range(cap + 1):
        alerted = period.keys[select_alerts(period.keys, ud, per_day, floor=floor)]
        metrics = evaluate_alerts(period, alerted)
        assert ranks.recall(per_day) == metrics.recall
        assert int(ranks.caught(per_day).sum()) == metrics.n_caught


# ``snoopbench compare`` in a subprocess, on results of the synthetic dataset

def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def scored(synthetic_dataset, tmp_path_factory) -> dict[str, Path]:
    """Results files of the synthetic dataset: one detector each, and two together."""
    if SCRIPT is None:
        pytest.skip("the snoopbench console script is not installed next to this Python")
    out = tmp_path_factory.mktemp("compare")
    files = {}
    for name, specs in (("volume", ["volume"]), ("off", ["off_shift"]),
                        ("both", ["volume", "off_shift"])):
        files[name] = out / f"{name}.json"
        args = ["score", str(synthetic_dataset), "--json", str(files[name])]
        for s in specs:
            args += ["-d", s]
        r = _run(*args, cwd=out)
        assert r.returncode == 0, r.stderr
    return files


def test_compare_prints_the_paired_difference(scored, tmp_path) -> None:
    r = _run("compare", str(scored["off"]), str(scored["volume"]), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "off_shift" in r.stdout and "volume" in r.stdout and "resamples" in r.stdout
    assert (" beats " in r.stdout) or ("not significant" in r.stdout)
    both = json.loads(scored["both"].read_text())
    recall = {d["name"]: d["recall"] for d in both["detectors"]}
    shown = f"{recall['off_shift'] - recall['volume']:+.2f}"
    assert shown in r.stdout
    r = _run("compare", str(scored["both"]), str(scored["both"]), "--a", "off_shift", "--b",
             "off_shift", "--metric", "ncr-400", cwd=tmp_path)
    assert r.returncode == 0 and "not significant" in r.stdout and "+0.00" in r.stdout


def test_compare_refuses_results_of_other_datasets_episodes_or_budgets(scored, tmp_path) -> None:
    base = json.loads(scored["volume"].read_text())
    cases = {
        "fingerprint": {**base, "fingerprint": "f" * 64},
        "episodes": {**base, "paired": {**base["paired"],
                                        "episodes": base["paired"]["episodes"][:-1]}},
        "alerts_per_day": {**base, "alerts_per_day": base["alerts_per_day"] + 1},
        "paired": {k: v for k, v in base.items() if k != "paired"},
    }
    for key, doc in cases.items():
        bad = tmp_path / f"{key}.json"
        bad.write_text(json.dumps(doc))
        r = _run("compare", str(scored["off"]), str(bad), cwd=tmp_path)
        assert r.returncode == 2, (key, r.stdout, r.stderr)
        assert key in r.stderr and str(bad) in r.stderr and "Traceback" not in r.stderr
    r = _run("compare", str(scored["both"]), str(scored["volume"]), cwd=tmp_path)
    assert r.returncode == 2 and "--a" in r.stderr and "off_shift, volume" in r.stderr
    r = _run("compare", str(scored["off"]), str(scored["volume"]), "--metric", "ncr-30",
             cwd=tmp_path)
    assert r.returncode == 2 and "--metric" in r.stderr
    (tmp_path / "junk.json").write_text("{not json")
    r = _run("compare", str(tmp_path / "junk.json"), str(scored["volume"]), cwd=tmp_path)
    assert r.returncode == 2 and "junk.json" in r.stderr and "Traceback" not in r.stderr
