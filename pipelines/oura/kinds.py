"""How each kind of collection is asked for, and how its cursor moves: one place for what
differs between documents of a day and samples of an instant.

- `DAILY`: documents with a local day (`day`, `start_day`), asked for with
  `start_date`/`end_date`; the cursor is a day, the last one read to its end.
- `SERIES`: samples of an instant (`timestamp`), asked for with `start_datetime`/
  `end_datetime` on whole UTC days; the cursor is the instant reading stopped at.
- `LISTED` (`ring_configuration`) and `SINGLE` (`personal_info`): read whole every run.

Date windows (api-reference §6): Oura filters on a timestamp-like field and reports a
local `day`, so a daily request is padded by `PAD_DAYS` on both sides and its answer
trimmed on the cursor day; a series request is padded by `SERIES_PAD` and trimmed on
whole UTC days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipelines.oura.dates import DayRange, iso_instant

PAD_DAYS = 2
SERIES_PAD = timedelta(hours=1)

# The most any local clock is behind or ahead of UTC (UTC-12 .. UTC+14).
_BEHIND_UTC = timedelta(hours=12)
_AHEAD_OF_UTC = timedelta(hours=14)


def latest_day(now: datetime) -> date:
    """The latest local date anywhere on Earth at `now`: where a new day starts first."""
    return (now.astimezone(UTC) + _AHEAD_OF_UTC).date()


def earliest_day(now: datetime) -> date:
    """The earliest local date anywhere on Earth at `now`: the day still in progress somewhere."""
    return (now.astimezone(UTC) - _BEHIND_UTC).date()


def day_of(value: date | datetime) -> date:
    """The day a cursor value falls on (the UTC day of an instant)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value


class Kind:
    """A kind of collection (see the module docstring)."""

    dated = False
    samples = False  # time series: fetched into Arrow tables, keyed on the instant

    def __init__(self, name: str, by_id: bool = False) -> None:
        self.name = name
        self.by_id = by_id  # documents with an id and a single-document route (webhooks name them)

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


class Daily(Kind):
    """Documents of a local day."""

    dated = True
    cursor_type: type = date

    def params(self, window: DayRange) -> dict[str, str]:
        """The padded query of one request window."""
        pad = timedelta(days=PAD_DAYS)
        return {
            "start_date": (window.start - pad).isoformat(),
            "end_date": (window.end + pad).isoformat(),
        }

    def value(self, day: date) -> Any:
        """The cursor value where `day` begins."""
        return day

    def after(self, saved: Any) -> Any:
        """Where reading goes on from a saved cursor: the day after the last one read."""
        return saved + timedelta(days=1)

    def read_until(self, saved: Any) -> datetime:
        """About the instant up to which a saved cursor has read (the UTC end of its day)."""
        return datetime.combine(saved + timedelta(days=1), time(), tzinfo=UTC)

    def recent(self, now: datetime, lookback_days: int) -> Any:
        """Where the lookback begins: `lookback_days` before the day still in progress somewhere."""
        return earliest_day(now) - timedelta(days=lookback_days)

    def through(self, window: DayRange, now: datetime) -> Any:
        """The cursor a fetched window settles: its end, but no day still in progress."""
        return min(window.end, earliest_day(now))

    def stored_bounds(self, window: DayRange) -> tuple[Any, Any, str]:
        """What of the stored rows a window covers: (low, high, the operator for high)."""
        return window.start, window.end, "<="


class Series(Daily):
    """Samples of an instant, asked for and trimmed on whole UTC days."""

    samples = True
    cursor_type = datetime

    def params(self, window: DayRange) -> dict[str, str]:  # noqa: D102
        lo, hi = window.utc_bounds()
        return {
            "start_datetime": iso_instant(lo - SERIES_PAD),
            "end_datetime": iso_instant(hi + SERIES_PAD),
        }

    def value(self, day: date) -> Any:  # noqa: D102
        return datetime.combine(day, time(), UTC)

    def after(self, saved: Any) -> Any:  # noqa: D102 - the saved instant is where reading stopped
        return saved

    def read_until(self, saved: Any) -> datetime:  # noqa: D102 - the instant reading stopped at
        return saved.astimezone(UTC)

    def recent(self, now: datetime, lookback_days: int) -> Any:  # noqa: D102
        return now.astimezone(UTC) - timedelta(days=lookback_days)

    def through(self, window: DayRange, now: datetime) -> Any:  # noqa: D102 - no sample after now
        return min(window.utc_bounds()[1], now.astimezone(UTC))

    def stored_bounds(self, window: DayRange) -> tuple[Any, Any, str]:  # noqa: D102
        lo, hi = window.utc_bounds()
        return lo, hi, "<"


DAILY = Daily("daily", by_id=True)
SERIES = Series("series")
LISTED = Kind(
    "listed", by_id=True
)  # no date parameters, every document every run (ring_configuration)
SINGLE = Kind("single")  # one bare object (personal_info)
