"""The simulated reviewer: who looks at an alert, what they conclude, and when the verdict is back.

One model serves ``assess`` (how misuse is found over a force-year) and the online protocol of
:mod:`benchmarks.online` (verdicts fed back to the detector that raised the alert). Its figures
come from a regime file (``proactive.confirm``: the chance a reviewer confirms a misuser's alert,
by skill; ``proactive.verdict_delay`` and ``verdict_delay_mean_days``: how long a verdict takes),
estimates to state and vary, never published figures.

A reviewer sees what a professional standards analyst sees (the alerted user-day's activity, the
user's tasking), and, in this simulation, the truth: an alert on a user-day holding misuse is
confirmed with the skill's chance; everything else is cleared. A cleared verdict's reason comes
only from what the force holds (the alerted event's reference is one of the user's own taskings:
``explained``; else ``no_misuse_found``), so a cleared alert on missed misuse reads exactly like a
false alert. Draws are keyed by (seed, user-day): two detectors raising the same alert get the same
verdict and delay (common random numbers, for paired comparisons).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from snoopbench.contract.errors import InputError
from snoopbench.contract.schema import SKILLS
from snoopbench.detectors.base import hash64, unit_interval

#: Delay distributions (of a reactive route, or of a verdict): the mean is the file's ``*_mean_days``.
DELAYS = ("exponential", "fixed", "uniform")
CONFIRMED, CLEARED = "confirmed", "cleared"
#: Reasons a verdict carries: misuse for a confirmed alert; a cleared alert's from the force's data.
REASONS = ("misuse", "explained", "no_misuse_found")


def delay_days(kind: str, mean_days: float, u: np.ndarray) -> np.ndarray:
    """Delays in whole days (rounded up) from uniforms in (0, 1), by inverse transform, so the
    same uniforms give comparable delays under any mean (common random numbers). ``uniform``
    spreads from 0 to twice the mean."""
    u = np.asarray(u, np.float64)
    if kind == "fixed":
        d = np.full(len(u), float(mean_days))
    elif kind == "uniform":
        d = 2 * mean_days * u
    elif kind == "exponential":
        d = -mean_days * np.log1p(-u)
    else:
        raise ValueError(f"unknown delay distribution {kind!r}; expected one of {DELAYS}")
    return np.ceil(d).astype(np.int64)


@dataclass(frozen=True)
class Reviewer:
    """Confirm chances by skill, and the verdict delay (a distribution and its mean, days)."""

    confirm: dict[str, float]
    delay: str = "exponential"
    delay_mean_days: float = 7.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.delay not in DELAYS:
            raise InputError(f"expected one of {', '.join(DELAYS)}, got {self.delay!r}",
                             key="--feedback-delay")
        if not 0 <= self.delay_mean_days < float("inf"):
            raise InputError(f"expected a number of days >= 0, got {self.delay_mean_days:g}",
                             key="--feedback-delay-days")
        for skill in SKILLS:
            p = self.confirm.get(skill)
            if p is None or not 0 <= p <= 1:
                raise InputError(f"expected a chance in [0, 1] for {skill}, got {p}",
                                 key=f"proactive.confirm.{skill}")

    @classmethod
    def from_regime(cls, data: dict[str, Any], *, delay: str | None = None,
                    delay_mean_days: float | None = None, seed: int = 0) -> Reviewer:
        """A regime's reviewer (its resolved ``data``), with the delay overridden if given."""
        p = data["proactive"]
        return cls(confirm=dict(p["confirm"]), delay=delay or p["verdict_delay"],
                   delay_mean_days=p["verdict_delay_mean_days"] if delay_mean_days is None
                   else float(delay_mean_days), seed=seed)

    def uniforms(self, keys: np.ndarray, stream: str) -> np.ndarray:
        """One uniform in (0, 1] per user-day key, from the seed and ``stream`` alone."""
        salt = zlib.crc32(f"{self.seed}:{stream}".encode())
        return unit_interval(hash64(np.asarray(keys, np.int64), salt))

    def chance(self, skills: list[str]) -> float:
        """The chance an alert is confirmed on a user-day holding misusers of these skills (the
        easiest of them to confirm); 0 for a user-day holding no misuse."""
        return max((self.confirm[s] for s in skills), default=0.0)

    def confirms(self, keys: np.ndarray, chance: np.ndarray) -> np.ndarray:
        """Whether the alerts on ``keys`` are confirmed, each with its :meth:`chance`."""
        if not len(keys):
            return np.zeros(0, bool)
        return self.uniforms(keys, "confirm") <= np.asarray(chance, np.float64)

    def delays(self, keys: np.ndarray) -> np.ndarray:
        """Whole days between an alert's day ending and its verdict reaching the detector."""
        u = np.minimum(self.uniforms(keys, "delay"), 1 - 1e-12)
        return delay_days(self.delay, self.delay_mean_days, u)

    def to_json(self) -> dict[str, Any]:
        return {"confirm": self.confirm, "delay": self.delay,
                "delay_mean_days": self.delay_mean_days, "seed": self.seed}
