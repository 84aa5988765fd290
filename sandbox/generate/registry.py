"""Which generator builds each day collection: one row per collection.

Every generator is `(user, day ordinal, revision, now epoch seconds) -> entries`, an
entry being `(sequence, available_at, document)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import activity, dailies, events, sleep
from .catalog import DAY_COLLECTIONS

if TYPE_CHECKING:
    from .user import UserModel

Entry = tuple[int, int, dict]
Generator = Callable[["UserModel", int, int, int], list[Entry]]

GENERATORS: dict[str, Generator] = {
    "daily_activity": lambda user, day, rev, now: [
        (0, user.plan(day).start, activity.daily_activity(user, day, rev, now))
    ],
    "daily_cardiovascular_age": lambda user, day, rev, now: dailies.daily_cardiovascular_age(
        user, day, rev
    ),
    "daily_readiness": lambda user, day, rev, now: sleep.daily_readiness_entries(user, day, rev),
    "daily_resilience": lambda user, day, rev, now: dailies.daily_resilience(user, day, rev),
    "daily_sleep": lambda user, day, rev, now: sleep.daily_sleep_entries(user, day, rev),
    "daily_spo2": lambda user, day, rev, now: dailies.daily_spo2(user, day, rev),
    "daily_stress": lambda user, day, rev, now: dailies.daily_stress(user, day, rev, now),
    "enhanced_tag": lambda user, day, rev, now: events.enhanced_tags(user, day),
    "rest_mode_period": lambda user, day, rev, now: events.rest_mode_periods(user, day, now),
    "session": lambda user, day, rev, now: events.sessions(user, day),
    "sleep": lambda user, day, rev, now: sleep.sleep_entries(user, day, rev),
    "sleep_time": lambda user, day, rev, now: dailies.sleep_time(user, day),
    "tag": lambda user, day, rev, now: events.tags(user, day),
    "vO2_max": lambda user, day, rev, now: dailies.vo2_max(user, day),
    "workout": lambda user, day, rev, now: events.workouts(user, day, rev),
}

# Settled documents of these collections still depend on the clock (an open period).
CLOCK_DEPENDENT_WHEN_SETTLED = frozenset({"rest_mode_period"})

assert set(GENERATORS) == set(DAY_COLLECTIONS)
