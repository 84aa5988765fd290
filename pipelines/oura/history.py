"""Where a user's history starts, for a load without `--start-date`.

First choice: the earliest ring set-up (`ring_configuration.set_up_at`), one day
earlier so that a local day west of UTC is not cut. Without ring configurations,
probe backwards in request-sized windows of a few collections until a year in
a row is empty (or `FLOOR`, before any Oura ring synced to the cloud).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from pipelines.oura.dates import ONE_DAY, DayRange
from pipelines.oura.fetch import fetch_window
from pipelines.oura.helpers import CollectionFailed, OuraClient
from pipelines.oura.rows import cursor_day, parse_instant
from pipelines.oura.settings import Collection

FLOOR = date(2015, 1, 1)
EMPTY_YEAR_DAYS = 365


def from_ring_setup(rings: Iterable[dict]) -> date | None:
    """The day before the earliest `set_up_at` of the user's rings.

    None when there is no ring, or when any ring's set-up time is unknown: that
    ring may be the first one, so its history could start before every known date.
    """
    days = []
    for ring in rings:
        value = ring.get("set_up_at")
        if value is None:
            return None
        moment = value if hasattr(value, "astimezone") else parse_instant(str(value))
        days.append(moment.date())
    return min(days) - ONE_DAY if days else None


def probe(client: OuraClient, probes: Sequence[Collection], user_id: str, today: date) -> date:
    """The earliest day any of `probes` has data, walking back from `today`.

    Stops after `EMPTY_YEAR_DAYS` without data or at `FLOOR`; returns `today` when
    nothing at all is found (only the lookback will then be loaded).
    """
    for collection in probes:
        try:
            return _probe_one(client, collection, user_id, today)
        except CollectionFailed:
            continue
    return today


def _probe_one(client: OuraClient, collection: Collection, user_id: str, today: date) -> date:
    earliest: date | None = None
    empty_days = 0
    end = today
    while end >= FLOOR and empty_days < EMPTY_YEAR_DAYS:
        window = DayRange(max(FLOOR, end - timedelta(days=collection.window_days - 1)), end)
        rows, _ = fetch_window(client, collection, window, user_id)
        days = [d for d in (cursor_day(collection, r) for r in rows) if d is not None]
        if days:
            earliest = min(days) if earliest is None else min(earliest, *days)
            empty_days = 0
        else:
            empty_days += window.days
        end = window.start - ONE_DAY
    return earliest or today
