"""Intervals for counts and shares over seeds: inside their range, around their estimate, and close
to the exact intervals where those are known."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snoopbench.benchmarks.intervals import count_interval, poisson_bounds, share_interval, wilson

counts = st.lists(st.integers(0, 5000), min_size=1, max_size=8)


@pytest.mark.parametrize("n, low, high", [(0, 0.0, 3.689), (1, 0.0253, 5.572), (10, 4.795, 18.39),
                                          (50, 37.11, 65.92), (300, 267.0, 336.0)])
def test_poisson_bounds_are_close_to_the_exact_garwood_interval(n, low, high):
    lo, hi = poisson_bounds(n)
    assert lo == pytest.approx(low, rel=0.02, abs=0.01) and hi == pytest.approx(high, rel=0.01)


@given(counts, st.sampled_from([1.0, 2.0, 10.0]))
def test_a_count_interval_is_never_negative_and_holds_its_mean(values, scale):
    scaled = [v * scale for v in values]
    iv = count_interval(scaled, scale)
    assert iv["mean"] == pytest.approx(sum(scaled) / len(scaled))
    assert 0.0 <= iv["low"] <= iv["mean"] <= iv["high"]


@given(st.integers(1, 2000), st.integers(2, 6))
def test_worlds_that_vary_more_than_poisson_widen_the_interval(mean, n):
    steady = count_interval([mean] * n)
    spread = count_interval([0] * (n - 1) + [mean * n])
    assert spread["mean"] == pytest.approx(steady["mean"])
    assert spread["high"] - spread["low"] >= steady["high"] - steady["low"]


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=8))
def test_a_share_interval_lies_in_0_1_and_holds_the_pooled_share(pairs):
    nums = [min(a, b) for a, b in pairs]
    dens = [b for _, b in pairs]
    iv = share_interval(nums, dens)
    if sum(dens) == 0:
        assert iv is None
        return
    assert iv["mean"] == pytest.approx(sum(nums) / sum(dens))
    assert 0.0 <= iv["low"] <= iv["mean"] <= iv["high"] <= 1.0


def test_wilson_matches_the_textbook_value():
    lo, hi = wilson(10, 100)  # 10/100: 0.0552 to 0.1744
    assert lo == pytest.approx(0.0552, abs=5e-4) and hi == pytest.approx(0.1744, abs=5e-4)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == pytest.approx(1.0)


def test_three_seeds_of_a_steady_count_give_a_narrow_interval_not_a_t_interval():
    iv = count_interval([110, 100, 120])
    assert iv["low"] > 95 and iv["high"] < 125  # t with 2 df would give about 85 to 135
    assert not math.isnan(iv["low"])
