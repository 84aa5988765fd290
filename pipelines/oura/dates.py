"""Day ranges: closed intervals of dates, their set arithmetic, and request windows.

A `DayRange` is inclusive at both ends. Sets of ranges are kept as sorted lists
of disjoint, non-adjacent ranges (`normalize`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class DayRange:
    """The days `start..end`, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"empty day range {self.start}..{self.end}")

    @property
    def days(self) -> int:
        """Number of days in the range."""
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def intersect(self, other: DayRange) -> DayRange | None:
        """The common days, or None."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        return DayRange(start, end) if start <= end else None

    def split(self, max_days: int) -> Iterator[DayRange]:
        """Consecutive pieces of at most `max_days` days."""
        start = self.start
        while start <= self.end:
            end = min(self.end, start + timedelta(days=max_days - 1))
            yield DayRange(start, end)
            start = end + ONE_DAY

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """`[start 00:00Z, end + 1 day 00:00Z)`: the instants of these UTC days."""
        return (
            datetime.combine(self.start, time(), UTC),
            datetime.combine(self.end + ONE_DAY, time(), UTC),
        )

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def normalize(ranges: Iterable[DayRange]) -> list[DayRange]:
    """Sorted, disjoint ranges; overlapping or adjacent ranges are joined."""
    out: list[DayRange] = []
    for r in sorted(ranges):
        if out and r.start <= out[-1].end + ONE_DAY:
            if r.end > out[-1].end:
                out[-1] = DayRange(out[-1].start, r.end)
        else:
            out.append(r)
    return out


def subtract(ranges: Iterable[DayRange], removed: Iterable[DayRange]) -> list[DayRange]:
    """The days of `ranges` that are in none of `removed`."""
    out: list[DayRange] = []
    cuts = normalize(removed)
    for r in normalize(ranges):
        pieces = [r]
        for cut in cuts:
            next_pieces: list[DayRange] = []
            for p in pieces:
                if cut.end < p.start or cut.start > p.end:
                    next_pieces.append(p)
                    continue
                if p.start < cut.start:
                    next_pieces.append(DayRange(p.start, cut.start - ONE_DAY))
                if cut.end < p.end:
                    next_pieces.append(DayRange(cut.end + ONE_DAY, p.end))
            pieces = next_pieces
        out.extend(pieces)
    return normalize(out)


def intersect_all(ranges: Iterable[DayRange], window: DayRange) -> list[DayRange]:
    """The parts of `ranges` inside `window`."""
    return [piece for r in normalize(ranges) if (piece := r.intersect(window)) is not None]


def iso_instant(moment: datetime) -> str:
    """An aware instant as ISO 8601 with an explicit offset (`+00:00`, never `Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")
