"""One user's deterministic model: profile, cached day plans and shared helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial

from .cache import SmallLRU
from .catalog import COLLECTION_CODES
from .ids import IdCodec
from .plan import DayPlan, day_start, make_plan
from .profile import (
    SYNC_GAP_BLOCK_DAYS,
    Profile,
    Ring,
    make_profile,
    ring_on,
    sync_gap_in_block,
    utc_offset_minutes,
)
from .randomness import Smooth
from .sleep import DaySleep, SleepCore, day_sleep, sleep_core
from .timefmt import DAY, EPOCH_ORDINAL

CHARGE_PERCENT_PER_MINUTE = 1.5


@dataclass
class SharedCaches:
    """Bounded caches shared by all users of a world, so memory stays flat for any user count."""

    plans: SmallLRU = field(default_factory=lambda: SmallLRU(512))
    sleep_cores: SmallLRU = field(default_factory=lambda: SmallLRU(256))
    day_sleeps: SmallLRU = field(default_factory=lambda: SmallLRU(16))


class UserModel:
    """Lazy, cached access to everything generated for one user.

    Caches are small bounded LRUs, so memory stays flat however much history is read.
    """

    def __init__(
        self, seed: int, index: int, history_start: date, codec: IdCodec, caches: SharedCaches
    ) -> None:
        self.seed = seed
        self.index = index
        self.profile: Profile = make_profile(seed, index, history_start)
        self._codec = codec
        self._caches = caches
        self._smooth: dict[str, Smooth] = {}

    def plan(self, day: int) -> DayPlan:
        """The (cached) plan of a local day."""
        return self._caches.plans.get((self.index, day), partial(make_plan, self.profile, day))

    def sleep_core(self, day: int, sequence: int) -> SleepCore:
        """The (cached) revision-independent core of a sleep period."""
        return self._caches.sleep_cores.get(
            (self.index, day, sequence), partial(self._make_sleep_core, day, sequence)
        )

    def day_sleep(self, day: int, revision: int) -> DaySleep:
        """The (cached) sleep documents of a day; sleep, daily_sleep and readiness share it."""
        return self._caches.day_sleeps.get(
            (self.index, day, revision), partial(day_sleep, self, self.plan(day), revision)
        )

    def _make_sleep_core(self, day: int, sequence: int) -> SleepCore:
        plan = self.plan(day)
        return sleep_core(self, plan, plan.sleeps[sequence])

    def smooth(self, name: str) -> Smooth:
        """The user's slowly varying signal called `name` (values in [-1, 1])."""
        signal = self._smooth.get(name)
        if signal is None:
            signal = self._smooth[name] = Smooth(self.seed, self.index, name)
        return signal

    def offset(self, day: int) -> int:
        """UTC offset in minutes on a local day."""
        return utc_offset_minutes(self.profile, day)

    def doc_id(self, collection: str, day: int, sequence: int) -> str:
        """The stable id of a document."""
        return self._codec.encode(self.index, COLLECTION_CODES[collection], day, sequence)

    def ring(self, day: int) -> Ring:
        """The ring worn on a local day."""
        return ring_on(self.profile, day)

    def local_day(self, ts: int) -> int:
        """Local day ordinal containing epoch second `ts` (days partition the timeline)."""
        guess = EPOCH_ORDINAL + ts // DAY
        for day in (guess, guess - 1, guess + 1):
            if day_start(self.profile, day) <= ts < day_start(self.profile, day + 1):
                return day
        raise AssertionError("local days must partition the timeline")  # pragma: no cover

    def sync_gap_of_block(self, block: int) -> tuple[int, int] | None:
        """(stopped, resumed) epoch seconds of the sync gap of a 30-day block, if any."""
        gap = sync_gap_in_block(self.seed, self.index, block)
        if gap is None:
            return None
        stopped = day_start(self.profile, gap.start_day) + gap.start_minute * 60
        return stopped, stopped + gap.hours * 3600

    def synced_until(self, ts: int) -> int:
        """The last moment the ring synced at epoch second `ts`: `ts`, or the start of the
        sync gap `ts` falls in (what the ring recorded since has not reached Oura yet)."""
        gap = self.sync_gap_of_block(self.local_day(ts) // SYNC_GAP_BLOCK_DAYS)
        if gap is not None and gap[0] <= ts < gap[1]:
            return gap[0]
        return ts

    def battery(self, ts: int) -> tuple[float, bool, bool]:
        """Battery (level %, charging, in charger) at epoch second `ts`.

        Every charge fills the ring, so the level only depends on the last charge.
        """
        profile = self.profile
        period = profile.charge_period_days
        day = self.local_day(ts)
        charge_day = day - (day + profile.charge_phase) % period
        charge = self.plan(charge_day).charge
        if ts < charge.start:
            charge_day -= period
            charge = self.plan(charge_day).charge
        drain = profile.battery_drain_per_hour() / 3600
        if ts < charge.end:
            previous = self.plan(charge_day - period).charge
            at_start = max(0.0, 100 - drain * (charge.start - previous.end))
            level = min(100.0, at_start + CHARGE_PERCENT_PER_MINUTE * (ts - charge.start) / 60)
            return level, level < 100, True
        return max(0.0, 100 - drain * (ts - charge.end)), False, False
