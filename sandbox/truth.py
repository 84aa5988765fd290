"""Ground truth: exactly the documents the sandbox holds, for comparing a warehouse
with what was served (`oura-elt sandbox dump`).

Range semantics, shared with the loader's `--start-date/--end-date`:
- day-keyed collections: documents whose cursor day (`day`, or `start_day` for
  `enhanced_tag` and `rest_mode_period`) is within `[start, end]`;
- time series (`heartrate`, `ring_battery_level`): rows with
  `start 00:00Z <= timestamp < (end + 1 day) 00:00Z` (UTC days);
- `ring_configuration` and `personal_info`: everything (they have no dates).
Every row carries the owner's `user_id` (== `personal_info.id`).

`sleep_status` says why a day has no main sleep, from what the generator knows: the ring
was off that night, Oura made no record of a worn night, or the ring has reported
nothing since the night could have ended (so it may still arrive).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO

from sandbox.generate.plan import NIGHT_OVER_BY_MINUTE
from sandbox.world import DAY_COLLECTIONS, SERIES_COLLECTIONS, World

ALL_COLLECTIONS = (*DAY_COLLECTIONS, *SERIES_COLLECTIONS, "ring_configuration", "personal_info")

# Why a day has, or has no, main sleep (the product's `data_coverage.sleep_status`).
PRESENT, NOT_WORN, NO_RECORD, NOT_SYNCED_YET = "present", "not_worn", "no_record", "not_synced_yet"
SLEEP_STATUSES = (PRESENT, NOT_WORN, NO_RECORD, NOT_SYNCED_YET)


def ground_truth(
    world: World,
    start: date,
    end: date,
    users: Iterable[int] | None = None,
    collections: Iterable[str] | None = None,
) -> Iterator[tuple[str, dict]]:
    """Yield `(collection, row)` for every document the world holds in the range."""
    wanted = list(collections or ALL_COLLECTIONS)
    for user in users if users is not None else range(len(world.users)):
        user_id = world.users[user].user_id
        for collection in wanted:
            for doc in _documents(world, user, collection, start, end):
                yield collection, {"user_id": user_id, **doc}


def _documents(world: World, user: int, collection: str, start: date, end: date) -> Iterator[dict]:
    if collection in DAY_COLLECTIONS:
        day = start
        while day <= end:
            yield from world.documents(user, collection, day)
            day += timedelta(days=1)
    elif collection in SERIES_COLLECTIONS:
        lo = datetime.combine(start, time(), UTC)
        hi = datetime.combine(end + timedelta(days=1), time(), UTC)
        yield from world.series(user, collection, lo, hi)
    elif collection == "ring_configuration":
        yield from world.ring_configurations(user)
    elif collection == "personal_info":
        yield world.personal_info(user)
    else:
        raise ValueError(f"unknown collection {collection!r}")


def dump(
    world: World,
    start: date,
    end: date,
    out: Path,
    users: Iterable[int] | None = None,
    open_file: Callable[..., IO[str]] = open,
) -> dict[str, int]:
    """Write one JSON-lines file per collection under `out`; return rows per collection.

    `open_file(path, "w", encoding=...)` opens each file (the command line passes one
    that makes them readable by their owner only: they look like health data).
    """
    out.mkdir(parents=True, exist_ok=True)
    handles: dict[str, IO[str]] = {}
    counts: dict[str, int] = {c: 0 for c in ALL_COLLECTIONS}
    try:
        for collection in ALL_COLLECTIONS:
            handles[collection] = open_file(out / f"{collection}.jsonl", "w", encoding="utf-8")
        for collection, row in ground_truth(world, start, end, users):
            handles[collection].write(json.dumps(row, separators=(",", ":")) + "\n")
            counts[collection] += 1
    finally:
        for handle in handles.values():
            handle.close()
    return counts


def sleep_status(world: World, user: int, day: date) -> str:
    """Why day `day` of `user` has (or has no) main sleep, at the world's clock.

    - `present`: Oura holds a sleep period of the day that is not of type `deleted`;
    - `not_synced_yet`: the newest heart-rate or battery row the ring reported is older
      than 14:00 local time of the day (every night of the world is over by then), so the
      night may still arrive;
    - `not_worn`: the ring was off that night;
    - `no_record`: the ring was worn, but Oura made no sleep document.

    Raises:
        AssertionError: a worn, recorded night is missing although the ring has reported
            since it ended (the world would contradict itself).
    """
    if any(doc["type"] != "deleted" for doc in world.documents(user, "sleep", day)):
        return PRESENT
    over = (
        datetime.combine(day, time(), UTC)
        - world.utc_offset(user, day)
        + timedelta(minutes=NIGHT_OVER_BY_MINUTE)
    )
    contact = world.last_ring_contact(user)
    if contact is None or contact < over:
        return NOT_SYNCED_YET
    night = world.night(user, day)
    if not night.worn:
        return NOT_WORN
    if not night.recorded:
        return NO_RECORD
    raise AssertionError(f"user {user}: the recorded night of {day} is missing at {world.now}")


def sleep_statuses(world: World, user: int, first: date, last: date) -> dict[date, str]:
    """`sleep_status` of every day from `first` to `last`."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return {day: sleep_status(world, user, day) for day in days}
