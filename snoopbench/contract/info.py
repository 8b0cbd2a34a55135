"""What a detector may know about a dataset besides its rows: :class:`DatasetInfo`.

The same facts reach every detector: Python detectors receive a :class:`DatasetInfo` in ``fit``,
``exec:`` programs a JSON file (``{info}``) with :meth:`DatasetInfo.to_dict`. They are read from
the dataset's manifest, which the simulator writes from the resolved scenario.

The local-day helpers here are the one definition of "the force's local day" that scoring uses
(an alert is a user-day in the force's own time zone), so detectors need not restate it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snoopbench.contract.errors import DatasetError

EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's frame of reference: where and when the force's clock runs, and its size."""

    scenario: str
    timezone: str
    start_date: dt.date
    days: int
    warmup_days: int
    staff: int

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str | None = None, key: str = "info"
                  ) -> "DatasetInfo":
        """Read and check the dict :meth:`to_dict` writes; :class:`DatasetError` names the key."""
        if not isinstance(data, Mapping):
            raise DatasetError(f"expected a table of dataset facts, found {type(data).__name__}",
                               file=file, key=key)
        expected = {"scenario": str, "timezone": str, "start_date": str, "days": int,
                    "warmup_days": int, "staff": int}
        missing = sorted(set(expected) - set(data))
        unknown = sorted(set(data) - set(expected))
        if missing or unknown:
            what = "; ".join(x for x in (missing and f"missing {missing}", unknown and f"unknown {unknown}") if x)
            raise DatasetError(f"expected keys {sorted(expected)}: {what}", file=file, key=key)
        for name, typ in expected.items():
            value = data[name]
            if not isinstance(value, typ) or isinstance(value, bool):
                raise DatasetError(f"expected {typ.__name__}, found {value!r}", file=file, key=f"{key}.{name}")
        try:
            start = dt.date.fromisoformat(data["start_date"])
        except ValueError:
            raise DatasetError(f"expected YYYY-MM-DD, found {data['start_date']!r}", file=file,
                               key=f"{key}.start_date") from None
        try:
            ZoneInfo(data["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise DatasetError(f"expected an IANA time zone, found {data['timezone']!r}", file=file,
                               key=f"{key}.timezone") from None
        if data["days"] < 1 or not 0 <= data["warmup_days"] < data["days"] or data["staff"] < 1:
            raise DatasetError(f"expected days >= 1, 0 <= warmup_days < days and staff >= 1, found "
                               f"days={data['days']}, warmup_days={data['warmup_days']}, "
                               f"staff={data['staff']}", file=file, key=key)
        return cls(data["scenario"], data["timezone"], start, data["days"], data["warmup_days"],
                   data["staff"])

    # -- the force's local days --------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_days(self, ts_ms: np.ndarray) -> np.ndarray:
        """Local calendar day (days since 1970-01-01, int32) of UTC millisecond timestamps."""
        return local_days(ts_ms, self.timezone)

    def local_midnight_ms(self, day: dt.date) -> int:
        """UTC milliseconds of the local midnight that starts ``day``."""
        return local_midnight_ms(day, self.timezone)

    def user_days(self, user_id: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """One int64 key per (user, local day): the unit of an alert."""
        return user_day_keys(user_id, self.local_days(ts_ms))


def local_days(ts_ms: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar day (days since 1970-01-01) of UTC millisecond timestamps in zone ``tz``."""
    ts = pa.array(np.asarray(ts_ms, np.int64), pa.timestamp("ms", tz="UTC"))
    local = pc.local_timestamp(ts.cast(pa.timestamp("ms", tz=tz)))
    return local.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)


def local_midnight_ms(day: dt.date, tz: str) -> int:
    """UTC milliseconds of local midnight starting ``day`` in zone ``tz``."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    return int(midnight.timestamp() * 1000)


def day_to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def user_day_keys(user: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One int64 per (user, local day since 1970), the unit of an alert: the day in the high 32
    bits, so keys sort by day first."""
    return (np.asarray(day, np.int64) << 32) | (np.asarray(user, np.int64) & 0xFFFFFFFF)
