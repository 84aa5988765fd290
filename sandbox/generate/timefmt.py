"""Time helpers: epoch seconds <-> day ordinals and Oura's timestamp spellings."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86_400
_HOUR_MINUTE = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECOND = [f"{s:02d}" for s in range(60)]


def midnight_utc(day_ordinal: int) -> int:
    """Epoch seconds of 00:00 UTC on the given day ordinal."""
    return (day_ordinal - EPOCH_ORDINAL) * DAY


@lru_cache(maxsize=2048)
def _date_text(days: int) -> str:
    return date.fromordinal(EPOCH_ORDINAL + days).isoformat()


def _wall_clock(seconds: int) -> str:
    days, rest = divmod(seconds, DAY)
    return _date_text(days) + _HOUR_MINUTE[rest // 60] + _SECOND[rest % 60]


def offset_suffix(offset_minutes: int) -> str:
    """Format a UTC offset in minutes as '+HH:MM' / '-HH:MM'."""
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def local_iso(ts: int, offset_minutes: int, millis: bool = False) -> str:
    """Format epoch seconds as local ISO 8601 with offset ('2024-06-25T04:00:00-04:00').

    Args:
        ts: Epoch seconds (UTC).
        offset_minutes: The user's UTC offset in minutes.
        millis: Add '.000' like Oura's PublicSample timestamps.
    """
    text = _wall_clock(ts + offset_minutes * 60)
    return f"{text}{'.000' if millis else ''}{offset_suffix(offset_minutes)}"


def utc_iso(ts: int) -> str:
    """Format epoch seconds as UTC ISO 8601 with '+00:00' (heart rate, battery, set_up_at)."""
    return f"{_wall_clock(ts)}+00:00"


def local_day_ordinal(ts: int, offset_minutes: int) -> int:
    """Local calendar day ordinal of epoch seconds `ts` at the given offset."""
    return EPOCH_ORDINAL + (ts + offset_minutes * 60) // DAY
