"""Ground truth: exactly the documents the sandbox holds, for comparing a warehouse
with what was served (`oura-elt sandbox dump`).

Range semantics, shared with the loader's `--start-date/--end-date`:
- day-keyed collections: documents whose cursor day (`day`, or `start_day` for
  `enhanced_tag` and `rest_mode_period`) is within `[start, end]`;
- time series (`heartrate`, `ring_battery_level`): rows with
  `start 00:00Z <= timestamp < (end + 1 day) 00:00Z` (UTC days);
- `ring_configuration` and `personal_info`: everything (they have no dates).
Every row carries the owner's `user_id` (== `personal_info.id`).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from sandbox.world import DAY_COLLECTIONS, SERIES_COLLECTIONS, World

ALL_COLLECTIONS = (*DAY_COLLECTIONS, *SERIES_COLLECTIONS, "ring_configuration", "personal_info")


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
        lo = datetime.combine(start, time(), timezone.utc)
        hi = datetime.combine(end + timedelta(days=1), time(), timezone.utc)
        yield from world.series(user, collection, lo, hi)
    elif collection == "ring_configuration":
        yield from world.ring_configurations(user)
    elif collection == "personal_info":
        yield world.personal_info(user)
    else:
        raise ValueError(f"unknown collection {collection!r}")


def dump(world: World, start: date, end: date, out: Path, users: Iterable[int] | None = None,
         open_file: Callable[..., IO[str]] = open) -> dict[str, int]:
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
