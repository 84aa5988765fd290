"""Days and request windows: which days a run asks for, and how far its cursor may move.

Oura's `day` is local, and local days begin at different instants around the
world: a run at instant `now` may see documents of any day up to `latest_day(now)`
(UTC+14), while the day still in progress somewhere is `earliest_day(now)` (UTC-12).
A daily cursor therefore moves at most to `earliest_day(now)`, and a time series
cursor at most to `now`: what comes later may still change, and the next run
reads it again together with its lookback.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from pipelines.oura.dates import DayRange
from pipelines.oura.settings import SERIES, Collection

# The most any local clock is behind or ahead of UTC (UTC-12 .. UTC+14).
_BEHIND_UTC = timedelta(hours=12)
_AHEAD_OF_UTC = timedelta(hours=14)


def latest_day(now: datetime) -> date:
    """The latest local date anywhere on Earth at `now`: where a new day starts first."""
    return (now.astimezone(timezone.utc) + _AHEAD_OF_UTC).date()


def earliest_day(now: datetime) -> date:
    """The earliest local date anywhere on Earth at `now`."""
    return (now.astimezone(timezone.utc) - _BEHIND_UTC).date()


def cursor_through(collection: Collection, window: DayRange, now: datetime) -> date | datetime:
    """The cursor value a fetched window settles: its end, but nothing still in progress."""
    if collection.kind == SERIES:
        return min(window.utc_bounds()[1], now.astimezone(timezone.utc))
    return min(window.end, earliest_day(now))


def day_of(value: date | datetime) -> date:
    """The day a cursor value falls on (the UTC day of an instant)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date()
    return value
