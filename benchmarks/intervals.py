"""95% intervals that respect what is counted: counts are never negative, shares lie in [0, 1].

A Student-t interval over a handful of seeds runs below zero for a count and above one for a
share, and with three seeds it is very wide (t = 4.30). These intervals pool the seeds instead:

- a **count** (misusers active, found, disciplined): the seeds' total is taken as Poisson, with
  the quasi-Poisson dispersion ``max(1, variance / mean)`` of the seeds' counts widening it when
  the worlds vary more than Poisson; the bounds are the exact (Garwood) interval for whole counts
  to 100, Byar's approximation to it (within 1%) above that or when the seeds are over-dispersed;
- a **share** (found among active): Wilson's score interval of the pooled numerator over the
  pooled denominator, the denominator divided by the quasi-binomial dispersion of the seeds'
  shares when they vary more than binomial.

A count from a sample of the force scaled up (``scale``) gets the interval of the simulated count,
scaled: the sample's own noise, not a Poisson count of the force's size.
"""

from __future__ import annotations

import math
from typing import Sequence

Z95 = 1.959964


def _poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam)."""
    if lam <= 0:
        return 1.0
    term = total = math.exp(-lam)
    if term == 0.0:  # far in the tail: sum in logs
        logs = [i * math.log(lam) - lam - math.lgamma(i + 1) for i in range(k + 1)]
        top = max(logs)
        return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs))
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return min(1.0, total)


def _solve(f, target: float, lo: float, hi: float) -> float:
    """The root of a decreasing ``f(x) = target`` between lo and hi, by bisection."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-10 * max(1.0, hi):
            break
    return (lo + hi) / 2


def poisson_bounds(total: float, dispersion: float = 1.0, z: float = Z95) -> tuple[float, float]:
    """95% bounds of a Poisson mean from one observed ``total`` (widened by ``dispersion`` >= 1):
    exact (Garwood) for whole counts to 100 with no extra dispersion, Byar's approximation else."""
    if total < 0 or not math.isfinite(total):
        raise ValueError(f"expected a count of 0 or more, got {total}")
    alpha = 2 * (1 - _normal_cdf(z))
    n = round(total)
    if dispersion <= 1.0 and abs(total - n) < 1e-9 and n <= 100:
        low = 0.0 if n == 0 else _solve(lambda lam: _poisson_cdf(n - 1, lam), 1 - alpha / 2, 0.0, n + 1.0)
        high = _solve(lambda lam: _poisson_cdf(n, lam), alpha / 2, 0.0, 2.0 * n + 50.0)
        return low, high
    zz = z * math.sqrt(max(1.0, dispersion))
    if total > 0:
        inner = 1 - 1 / (9 * total) - zz / (3 * math.sqrt(total))
        low = total * max(0.0, inner) ** 3
    else:
        low = 0.0
    n1 = total + 1
    high = n1 * (1 - 1 / (9 * n1) + zz / (3 * math.sqrt(n1))) ** 3
    return low, high


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _dispersion(values: Sequence[float], mean: float, variance_at_mean: float) -> float:
    if len(values) < 2 or variance_at_mean <= 0:
        return 1.0
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1)
    return max(1.0, var / variance_at_mean)


def count_interval(counts: Sequence[float], scale: float = 1.0) -> dict[str, float | int | None]:
    """Mean of per-seed ``counts`` (already scaled by ``scale``) with its 95% interval (>= 0)."""
    raw = [c / scale for c in counts]
    n = len(raw)
    if not n:
        raise ValueError("expected at least one count")
    total = sum(raw)
    mean = total / n
    disp = _dispersion(raw, mean, mean)
    low, high = poisson_bounds(total, disp)
    return {"mean": mean * scale, "low": low / n * scale, "high": high / n * scale, "n": n}


def wilson(successes: float, trials: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's 95% score interval of a proportion (``trials`` may be fractional: an effective size)."""
    if trials <= 0:
        raise ValueError("expected trials above 0")
    p = min(1.0, max(0.0, successes / trials))
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def share_interval(nums: Sequence[float], dens: Sequence[float]) -> dict[str, float | int | None] | None:
    """Pooled share ``sum(nums) / sum(dens)`` over seeds with its 95% interval (within [0, 1]);
    None when nothing was counted (every denominator 0)."""
    pairs = [(a, b) for a, b in zip(nums, dens) if b > 0]
    if not pairs:
        return None
    num, den = sum(a for a, _ in pairs), sum(b for _, b in pairs)
    p = num / den
    shares = [a / b for a, b in pairs]
    per_seed_den = den / len(pairs)
    disp = _dispersion(shares, p, p * (1 - p) / per_seed_den)
    low, high = wilson(num / disp, den / disp)
    return {"mean": p, "low": min(low, p), "high": max(high, p), "n": len(pairs)}


def clipped_mean_interval(values: Sequence[float | None], low: float = 0.0,
                          high: float = math.inf) -> dict[str, float | int | None] | None:
    """A Student-t interval of a mean over seeds for figures that are neither counts nor shares
    (a median of days, alerts reviewed a day), bounded to the figure's range."""
    from snoopbench.benchmarks.metrics import mean_interval

    i = mean_interval(values)
    if i is None:
        return None
    lo = None if i.low is None else min(max(i.low, low), i.mean)
    hi = None if i.high is None else max(min(i.high, high), i.mean)
    return {"mean": i.mean, "low": lo, "high": hi, "n": i.n}
