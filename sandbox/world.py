"""The sandbox world: deterministic, lazily generated Oura data for any number of users.

Everything is a pure function of (seed, user index, local day, revision), computed on
demand with small bounded caches, so ten years of history cost no more memory than a
week. Randomness comes from blake2b-seeded `random.Random` streams (never `hash()`).

Users
    Each user has a home UTC offset (US/EU zones follow daylight saving) and trips of
    3-12 days at another offset (up to 6 h away) in about 45% of 45-day blocks.
    Timestamps carry the offset of the local day they belong to; heart-rate, battery
    and `set_up_at` timestamps are UTC; daily_readiness/daily_sleep `timestamp` is
    'YYYY-MM-DDT00:00:00+00:00' as in real data. A local day D spans UTC
    [B(D), B(D+1)), B(D) = local midnight at D's offset, so days tile the timeline.

Days
    The night that ends on the morning of D belongs to D (`day` = wake-up day). Most
    days have one `long_sleep`; about 3% of nights the ring was not worn (no sleep,
    readiness, daily_sleep or SpO2; non-wear in activity; no heart rate), and about 2%
    of worn nights Oura made no record of (no sleep, readiness, daily_sleep or SpO2, but
    rest in activity and resting heart rate every ~5 minutes). Naps
    (`sleep`, `late_nap`), `rest` and `deleted` periods appear on some days. Daily
    activity spans 04:00-04:00 local with 1440 MET minutes. Readiness of day D is the
    readiness object of D's `long_sleep` (none during the first two days; balance and
    regularity contributors are null for the first 14 days).

The clock (`now`)
    - Nothing exists after the user's local today, nor before `history_start`.
    - A document appears once its moment has passed: sleep/readiness/daily_sleep/SpO2
      at `bedtime_end`, workouts and sessions at their end, tags at their time,
      daily_activity/daily_stress/sleep_time at local midnight (activity and stress
      are partial until the day is over: arrays stop at `now`), resilience and
      cardiovascular age after the night. Heart rate and battery rows stop at `now`.
    - Revisions: for cursor day D, r = min((local today - D).days, 3). Unsettled days
      (r < 3) differ: activity misses a block of not-yet-synced minutes that shrinks
      with r (steps/calories only grow), a few hypnogram epochs carry another stage
      (durations and sleep scores shift), readiness contributors shift by up to 3 - r
      points, stress, SpO2, resilience, pulse wave velocity and workout calories move
      slightly, and `sleep_analysis_reason`/workout `source` show their earlier values.
      Ids never change. Days with r = 3 are stable forever.
    - Sync gaps (users from 2 on, `sandbox.generate.profile.sync_gap_in_block`): now and
      then a ring stops syncing for 30-120 hours. Inside a gap the user's documents and
      series are what Oura held when the ring last synced (the world at the gap's start);
      once the gap is over, everything recorded meanwhile is there (late arrivals).
    - Churn (`sandbox.generate.lifecycle.CHURN_RATES`, 2-5% per collection): a DELETED
      document (naps, workouts, tags, enhanced tags) exists at r = 0..1 and is gone from
      r = 2; a LATE document (naps, workouts, sessions, tags, SpO2, resilience,
      cardiovascular age, VO2 max) is absent at r = 0 and present from r = 1. The main
      night and what derives from it never churn.

Ids
    UUID4-looking strings that encode (user, collection, cursor day, sequence) under a
    seed-keyed Feistel permutation with a 73-bit zero check field (`generate.ids`), so
    `find_document` needs no index and random UUIDs decode to nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sandbox.generate import lifecycle, series
from sandbox.generate.cache import SmallLRU, clone
from sandbox.generate.catalog import (
    COLLECTION_CODES,
    COLLECTION_SCHEMAS,
    CURSOR_FIELDS,
    DAY_COLLECTIONS,
    SERIES_COLLECTIONS,
)
from sandbox.generate.ids import MAX_USERS, IdCodec
from sandbox.generate.plan import Night
from sandbox.generate.profile import SYNC_GAP_BLOCK_DAYS
from sandbox.generate.randomness import stable_rng
from sandbox.generate.registry import CLOCK_DEPENDENT_WHEN_SETTLED, GENERATORS, Entry
from sandbox.generate.timefmt import utc_iso
from sandbox.generate.user import SharedCaches, UserModel

__all__ = [
    "COLLECTION_SCHEMAS",
    "CURSOR_FIELDS",
    "DAY_COLLECTIONS",
    "SERIES_COLLECTIONS",
    "SandboxUser",
    "World",
]

_SETTLED_CACHE_SIZE = 256
_SERIES_CACHE_SIZE = 48


@dataclass(frozen=True)
class SandboxUser:
    """A user of the sandbox world."""

    index: int
    user_id: str  # == personal_info["id"]
    history_start: date  # first local day with ring data


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _epoch(moment: datetime) -> int:
    """Epoch seconds, rounded up so that `ts >= epoch(moment)` means `ts >= moment`."""
    value = moment.timestamp()
    whole = int(value)
    return whole + 1 if whole < value else whole


class World:
    """Deterministic Oura data for `users` users under a movable clock.

    Args:
        seed: World seed; the same seed gives the same documents.
        users: Number of users (1..65535).
        now: The clock (tz-aware); defaults to the current time.
        history_start: First local day of user 0's data; defaults to
            `now.date() - history_days`. Fixed at construction.
        history_days: Days of history when `history_start` is not given.
    """

    def __init__(
        self,
        seed: int = 0,
        users: int = 2,
        now: datetime | None = None,
        history_start: date | None = None,
        history_days: int = 730,
    ) -> None:
        if not 1 <= users < MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS - 1}, got {users}")
        self.seed = seed
        self._now = _aware(now, "now") if now is not None else datetime.now(UTC)
        start = history_start or (self._now.date() - timedelta(days=history_days))
        self._codec = IdCodec(seed)
        self.users: list[SandboxUser] = []
        for index in range(users):
            delay = 0 if index == 0 else stable_rng(seed, index, "history-delay").randint(0, 60)
            user_id = self._codec.encode(index, COLLECTION_CODES["personal_info"], 0, 0)
            self.users.append(SandboxUser(index, user_id, start + timedelta(days=delay)))
        self._models: list[UserModel | None] = [None] * users
        self._caches = SharedCaches()
        self._settled = SmallLRU(_SETTLED_CACHE_SIZE)
        self._series = SmallLRU(_SERIES_CACHE_SIZE)

    # ----------------------------------------------------------------- clock

    @property
    def now(self) -> datetime:
        """The world's clock (tz-aware UTC)."""
        return self._now

    def set_now(self, now: datetime) -> None:
        """Move the clock to `now` (any direction)."""
        self._now = _aware(now, "now")

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        self._now = self._now + delta

    def local_today(self, user_index: int) -> date:
        """The user's local date at `now`."""
        return date.fromordinal(self._model(user_index).local_day(int(self._now.timestamp())))

    def utc_offset(self, user_index: int, day: date) -> timedelta:
        """The user's UTC offset on a local day."""
        return timedelta(minutes=self._model(user_index).offset(day.toordinal()))

    # ------------------------------------------------------------- documents

    def documents(self, user_index: int, collection: str, day: date) -> list[dict]:
        """Documents of a DAY_COLLECTION whose cursor day is `day`, as held at `now`.

        Args:
            user_index: Index into `users`.
            collection: One of DAY_COLLECTIONS.
            day: The cursor day (`day`, or `start_day` for enhanced_tag/rest_mode_period).

        Returns:
            Fresh dicts (callers may mutate them); [] outside [history_start, local today].

        Raises:
            ValueError: For an unknown collection.
            IndexError: For an unknown user index.
        """
        if collection not in DAY_COLLECTIONS:
            raise ValueError(f"unknown day collection {collection!r}")
        model = self._model(user_index)
        now_ts = model.synced_until(int(self._now.timestamp()))
        ordinal = day.toordinal()
        today = model.local_day(now_ts)
        if ordinal < model.profile.history_start or ordinal > today:
            return []
        day_revision = lifecycle.revision(today, ordinal)
        entries = self._entries(model, collection, ordinal, day_revision, now_ts)
        return [
            clone(document)
            for sequence, available_at, document in entries
            if available_at <= now_ts
            and lifecycle.visible(
                lifecycle.fate(self.seed, user_index, collection, ordinal, sequence, document),
                day_revision,
            )
        ]

    def _entries(
        self, model: UserModel, collection: str, day: int, day_revision: int, now_ts: int
    ) -> list[Entry]:
        generate = GENERATORS[collection]
        if day_revision == lifecycle.SETTLED and collection not in CLOCK_DEPENDENT_WHEN_SETTLED:
            return self._settled.get(
                (model.index, collection, day),
                partial(generate, model, day, day_revision, now_ts),
            )
        return generate(model, day, day_revision, now_ts)

    # ---------------------------------------------------------------- series

    def series(
        self, user_index: int, collection: str, start: datetime, end: datetime
    ) -> Iterator[dict]:
        """Stream heartrate / ring_battery_level rows with start <= timestamp < end.

        Rows are ascending, stop at `now` (inclusive) and never precede the user's
        history start. One local day is generated at a time.

        Raises:
            ValueError: For an unknown series collection or naive datetimes.
            IndexError: For an unknown user index.
        """
        if collection not in SERIES_COLLECTIONS:
            raise ValueError(f"unknown series collection {collection!r}")
        model = self._model(user_index)
        first_day = model.profile.history_start
        low = max(_epoch(_aware(start, "start")), model.plan(first_day).start)
        synced = model.synced_until(int(self._now.timestamp()))
        high = min(_epoch(_aware(end, "end")), synced + 1)
        return self._stream(model, collection, low, high)

    def _stream(self, model: UserModel, collection: str, low: int, high: int) -> Iterator[dict]:
        if low >= high:
            return
        day = model.local_day(low)
        heart = collection == "heartrate"
        while model.plan(day).start < high:
            rows = self._series.get(
                (model.index, collection, day), partial(self._rows, model, collection, day)
            )
            first = bisect.bisect_left(rows, low, key=lambda row: row[0])
            for row in rows[first:]:
                if row[0] >= high:
                    return
                if heart:
                    yield {
                        "bpm": row[1],
                        "source": row[2],
                        "timestamp": utc_iso(row[0]),
                        "timestamp_unix": row[0] * 1000,
                    }
                else:
                    yield {
                        "timestamp": utc_iso(row[0]),
                        "timestamp_unix": row[0] * 1000,
                        "level": row[1],
                        "charging": row[2],
                        "in_charger": row[3],
                    }
            day += 1

    @staticmethod
    def _rows(model: UserModel, collection: str, day: int) -> list[tuple]:
        if collection == "heartrate":
            return series.heart_rate_rows(model, day)
        return series.battery_rows(model, day)

    def latest(self, user_index: int, collection: str) -> dict | None:
        """The most recent heartrate / ring_battery_level row at or before `now`, if any."""
        now = self._now
        for days_back in (1, 3, 10):
            rows = list(
                self.series(
                    user_index,
                    collection,
                    now - timedelta(days=days_back),
                    now + timedelta(seconds=1),
                )
            )
            if rows:
                return rows[-1]
        return None

    # ------------------------------------------------- why a night is empty

    def night(self, user_index: int, day: date) -> Night:
        """The main night that ends on the morning of `day`: when, and whether the ring was
        worn and Oura recorded it (ground truth of why a night has no sleep document)."""
        return self._model(user_index).plan(day.toordinal()).night

    def last_sync(self, user_index: int) -> datetime:
        """When the user's ring last synced: the clock, or the start of the sync gap it is in."""
        model = self._model(user_index)
        return datetime.fromtimestamp(model.synced_until(int(self._now.timestamp())), UTC)

    def sync_gaps(
        self, user_index: int, first: date, last: date
    ) -> list[tuple[datetime, datetime]]:
        """The user's sync gaps (stopped, resumed) that start between `first` and `last`."""
        model = self._model(user_index)
        gaps = []
        blocks = range(
            first.toordinal() // SYNC_GAP_BLOCK_DAYS, last.toordinal() // SYNC_GAP_BLOCK_DAYS + 1
        )
        for block in blocks:
            gap = model.sync_gap_of_block(block)
            if gap is not None and first <= date.fromordinal(model.local_day(gap[0])) <= last:
                gaps.append(tuple(datetime.fromtimestamp(ts, UTC) for ts in gap))
        return gaps

    def last_ring_contact(self, user_index: int) -> datetime | None:
        """The newest heart-rate or battery row Oura holds for the user (None: none yet)."""
        synced = self.last_sync(user_index)
        newest = []
        for collection in SERIES_COLLECTIONS:
            since, until = synced - timedelta(days=2), synced + timedelta(seconds=1)
            rows = list(self.series(user_index, collection, since, until))
            if rows:
                newest.append(datetime.fromisoformat(rows[-1]["timestamp"]))
        return max(newest, default=None)

    # ------------------------------------------------------------ the others

    def ring_configurations(self, user_index: int) -> list[dict]:
        """The user's rings that are set up at `now` (PublicRingConfiguration documents)."""
        model = self._model(user_index)
        now_ts = int(self._now.timestamp())
        rings = []
        for ring in model.profile.rings:
            if ring.set_up_at is not None and ring.set_up_at > now_ts:
                continue
            if ring.set_up_at is None and ring.active_from > model.local_day(now_ts):
                continue
            rings.append(
                {
                    "id": self._codec.encode(
                        user_index, COLLECTION_CODES["ring_configuration"], 0, ring.sequence
                    ),
                    "color": ring.color,
                    "design": ring.design,
                    "firmware_version": ring.firmware_version,
                    "hardware_type": ring.hardware_type,
                    "set_up_at": None if ring.set_up_at is None else utc_iso(ring.set_up_at),
                    "size": ring.size,
                }
            )
        return rings

    def personal_info(self, user_index: int) -> dict:
        """The user's PersonalInfoResponse (age grows with the clock)."""
        model = self._model(user_index)
        profile = model.profile
        years = max(0, (self._now.date().toordinal() - profile.history_start) // 365)
        return {
            "id": self.users[user_index].user_id,
            "age": profile.age + years,
            "weight": profile.weight_kg,
            "height": profile.height_m,
            "biological_sex": profile.biological_sex,
            "email": profile.email,
        }

    def user_index(self, user_id: str) -> int | None:
        """The index of the user with this id, or None."""
        decoded = self._codec.decode(user_id)
        if decoded is None or decoded.collection_code != COLLECTION_CODES["personal_info"]:
            return None
        if decoded.user_index >= len(self.users) or decoded.day_ordinal or decoded.sequence:
            return None
        return decoded.user_index

    def find_document(self, collection: str, document_id: str) -> tuple[int, dict] | None:
        """The live document with this id under the current clock, as (user index, document).

        Works for DAY_COLLECTIONS and ring_configuration; None if the id is malformed,
        unknown, of another collection, deleted or not yet existing.
        """
        code = COLLECTION_CODES.get(collection)
        decoded = self._codec.decode(document_id) if isinstance(document_id, str) else None
        if code is None or decoded is None or decoded.collection_code != code:
            return None
        if decoded.user_index >= len(self.users):
            return None
        if collection == "ring_configuration":
            candidates = self.ring_configurations(decoded.user_index)
        elif collection in DAY_COLLECTIONS and decoded.day_ordinal > 0:
            candidates = self.documents(
                decoded.user_index, collection, date.fromordinal(decoded.day_ordinal)
            )
        else:
            return None
        for document in candidates:
            if document["id"] == document_id:
                return decoded.user_index, document
        return None

    # -------------------------------------------------------------- internals

    def _model(self, user_index: int) -> UserModel:
        if not 0 <= user_index < len(self.users):
            raise IndexError(f"no sandbox user with index {user_index}")
        model = self._models[user_index]
        if model is None:
            user = self.users[user_index]
            model = self._models[user_index] = UserModel(
                self.seed, user_index, user.history_start, self._codec, self._caches
            )
        return model
