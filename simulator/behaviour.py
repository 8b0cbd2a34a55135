"""Behaviour shared by legitimate work and misuse, declared once.

Misuse must look like ordinary work except for the behaviour itself (DESIGN: nothing else may reveal
the labels), so the few constants both draw from live here and nowhere else: the time units, and the
pace of a burst of look-ups.
"""

from __future__ import annotations

MIN = 60_000            # ms
HOUR = 3_600_000        # ms
DAY = 86_400_000        # ms

LOOKUP_GAP_MS_MEAN = 40_000   # mean gap between look-ups in one sitting (exponential): a few seconds to minutes
CRIME_OPEN_DAYS = 60          # days a crime reference stays among the area's open matters
