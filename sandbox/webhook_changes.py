"""What a move of the sandbox's clock changed: the documents to announce as webhook events.

Documents appear (their moment passed), change (unsettled days are revised as the
clock moves, see `sandbox.world`) and vanish (deleted churn). Comparing the world
before and after a move, over the days that can still change, gives one `Change`
per created, updated or deleted document of the subscribed collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson

from sandbox.routes import WEBHOOK_DATA_TYPES
from sandbox.world import DAY_COLLECTIONS, World


@dataclass(frozen=True)
class Change:
    """A document that appeared, changed or vanished between two clock positions."""

    event_type: str
    data_type: str
    object_id: str
    user_index: int


def world_collection(data_type: str) -> str | None:
    """The world's collection of a webhook data type (None: no data, e.g. `meal`)."""
    return WEBHOOK_DATA_TYPES.get(data_type)


def _snapshot(world: World, collections: set[str], spans: dict[int, tuple[date, date]]) -> dict:
    """{(data_type, id): (user, serialized document)} of the documents within `spans`."""
    by_collection = {c: d for d, c in WEBHOOK_DATA_TYPES.items() if c in collections}
    state: dict[tuple[str, str], tuple[int, bytes]] = {}
    for user, (first, last) in spans.items():
        for collection, data_type in by_collection.items():
            if collection == "ring_configuration":
                documents = world.ring_configurations(user)
            elif collection in DAY_COLLECTIONS:
                documents = []
                day = first
                while day <= last:
                    documents.extend(world.documents(user, collection, day))
                    day += timedelta(days=1)
            else:
                continue
            for doc in documents:
                state[(data_type, doc["id"])] = (
                    user,
                    orjson.dumps(doc, option=orjson.OPT_SORT_KEYS),
                )
    return state


def changed_documents(
    world: World, before: datetime, collections: set[str], lookback_days: int, max_event_days: int
) -> list[Change]:
    """Documents of `collections` created, updated or deleted between the clock at
    `before` and the world's clock now.

    The world is briefly moved back to `before` to read the old state, then restored;
    the caller holds the sandbox lock so that no request sees the old clock.
    """
    after = world.now
    spans: dict[int, tuple[date, date]] = {}
    try:
        world.set_now(before)
        old_today = [world.local_today(u.index) for u in world.users]
        world.set_now(after)
        for user in world.users:
            new_today = world.local_today(user.index)
            last = max(old_today[user.index], new_today)
            first = min(old_today[user.index], new_today) - timedelta(days=lookback_days)
            first = max(first, last - timedelta(days=max_event_days))
            spans[user.index] = (first, last)
        world.set_now(before)
        old = _snapshot(world, collections, spans)
    finally:
        world.set_now(after)
    new = _snapshot(world, collections, spans)
    changes = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: ((old.get(k) or new[k])[0], k)):
        data_type, object_id = key
        if key not in old:
            changes.append(Change("create", data_type, object_id, new[key][0]))
        elif key not in new:
            changes.append(Change("delete", data_type, object_id, old[key][0]))
        elif old[key][1] != new[key][1]:
            changes.append(Change("update", data_type, object_id, new[key][0]))
    return changes
