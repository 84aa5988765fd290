"""What to fetch: the days still to load per collection, cut into committed chunks.

One rule serves the first backfill, the nightly refresh and the rerun after a
crash. A day is *settled* for a collection once it was loaded while it was
already older than the lookback (`settled_through`); settled days are never
fetched again. Every other day of the asked range is fetched, and so are the
last `lookback` days, always. The days to fetch are cut into chunks of at most
`chunk_days` (oldest first); each chunk is loaded and committed on its own, so
a crash loses at most the chunk in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping

from pipelines.oura.dates import ONE_DAY, DayRange, intersect_all, normalize, subtract
from pipelines.oura.settings import Collection

# The most any local clock is behind or ahead of UTC (UTC-12 .. UTC+14).
_BEHIND_UTC = timedelta(hours=12)
_AHEAD_OF_UTC = timedelta(hours=14)


def latest_day(now: datetime) -> date:
    """The latest local date anywhere on Earth at `now`: where a new day starts first."""
    return (now.astimezone(timezone.utc) + _AHEAD_OF_UTC).date()


def earliest_day(now: datetime) -> date:
    """The earliest local date anywhere on Earth at `now`."""
    return (now.astimezone(timezone.utc) - _BEHIND_UTC).date()


def refetch_from(now: datetime, lookback_days: int) -> date:
    """First day of the lookback: every day from here on is fetched on every run."""
    return earliest_day(now) - timedelta(days=lookback_days)


def settled_through(now: datetime, lookback_days: int) -> date:
    """Last day that, loaded now, will not be fetched again."""
    return refetch_from(now, lookback_days) - ONE_DAY


@dataclass(frozen=True)
class Chunk:
    """Days loaded and committed together, and each collection's request windows."""

    span: DayRange
    windows: Mapping[str, tuple[DayRange, ...]] = field(default_factory=dict)

    @property
    def window_count(self) -> int:
        """Number of request windows (before pagination) in the chunk."""
        return sum(len(w) for w in self.windows.values())


def days_to_fetch(
    collections: Iterable[Collection],
    wanted: DayRange,
    settled: Mapping[str, list[DayRange]],
    always_from: date,
    still_open: Mapping[str, date] | None = None,
) -> dict[str, list[DayRange]]:
    """Per dated collection, the days of `wanted` not settled, plus the lookback days.

    `still_open` gives, per collection, the cursor day of its oldest stored
    document that is still open (`Collection.open_end`): fetched again from there.
    """
    out: dict[str, list[DayRange]] = {}
    for collection in collections:
        if not collection.dated:
            continue
        start = min(always_from, (still_open or {}).get(collection.name, always_from))
        lookback = [DayRange(max(wanted.start, start), wanted.end)] if start <= wanted.end else []
        missing = subtract([wanted], settled.get(collection.name, []))
        todo = normalize([*missing, *lookback])
        if todo:
            out[collection.name] = todo
    return out


def cut_chunks(
    todo: Mapping[str, list[DayRange]],
    collections: Mapping[str, Collection],
    chunk_days: int,
) -> list[Chunk]:
    """Cut the days to fetch into chunks, oldest first, each with its request windows."""
    spans = normalize(r for ranges in todo.values() for r in ranges)
    chunks: list[Chunk] = []
    for span in spans:
        for part in span.split(chunk_days):
            windows: dict[str, tuple[DayRange, ...]] = {}
            for name, ranges in todo.items():
                pieces = [
                    window
                    for inside in intersect_all(ranges, part)
                    for window in inside.split(collections[name].window_days)
                ]
                if pieces:
                    windows[name] = tuple(pieces)
            if windows:
                chunks.append(Chunk(part, windows))
    return chunks
