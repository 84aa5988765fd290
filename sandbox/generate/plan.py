"""The skeleton of one local day of a user: sleep, workouts, sessions, ring charging.

Everything else (documents, heart rate, battery) is derived from these plans, so the
heart-rate series, the sleep documents and the activity minutes tell the same story.
A plan for local day D covers UTC time [B(D), B(D+1)) where B(D) is local midnight
at D's offset; the night that ENDS on the morning of D belongs to D (Oura's wake-up
day) and the next night starts on the evening of D.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from .profile import Profile, RestMode, rest_mode_on, utc_offset_minutes
from .randomness import stable_rng
from .timefmt import midnight_utc

# activity: (shortest, longest minutes, MET easy, MET hard, metres per minute or None, steps/min)
WORKOUT_SHAPES: dict[str, tuple[int, int, float, float, float | None, int]] = {
    "walking": (20, 75, 3.0, 4.6, 80.0, 105),
    "running": (20, 80, 7.0, 11.5, 170.0, 165),
    "cycling": (25, 120, 5.0, 10.0, 330.0, 4),
    "strengthTraining": (25, 75, 3.5, 6.0, None, 8),
    "yoga": (25, 75, 2.5, 4.0, None, 3),
    "hiking": (60, 240, 5.0, 7.5, 65.0, 100),
    "swimming": (25, 60, 6.0, 9.5, 35.0, 2),
    "elliptical": (20, 50, 5.0, 8.0, None, 90),
    "tennis": (45, 100, 5.0, 8.0, None, 70),
    "dancing": (30, 90, 4.0, 7.0, None, 80),
}
INTENSITY_LEVEL = {"easy": 0.1, "moderate": 0.5, "hard": 0.9}
_LABELS = (
    "Morning run",
    "Commute",
    "Leg day",
    "With friends",
    "Recovery",
    "Long ride",
    "Lunch walk",
)
SESSION_TYPES = (
    ("meditation", 35),
    ("breathing", 25),
    ("relaxation", 15),
    ("rest", 10),
    ("nap", 8),
    ("body_status", 7),
)
# nap kind: (probability factor, earliest start minute, latest start minute, shortest, longest)
_NAP_SHAPES = {
    "sleep": (1.0, 12 * 60 + 30, 16 * 60, 20, 90),
    "late_nap": (0.25, 18 * 60, 20 * 60, 20, 50),
    "rest": (0.3, 14 * 60, 17 * 60 + 30, 20, 45),
    "deleted": (0.2, 10 * 60, 17 * 60, 10, 40),
}
PRE_SLEEP_REST_SECONDS = 30 * 60
# Nights without a sleep document (api-reference §12, "why a night is missing"): the ring
# was off, or it was worn and Oura made no record of the night.
NOT_WORN_SHARE = 0.03
NO_RECORD_SHARE = 0.02
# Every night of this world is over by 14:00 local time of its wake-up day (the latest
# bedtime, 02:50 local, plus the longest time in bed, 11 h): after that, a night without a
# document will not get one.
NIGHT_OVER_BY_MINUTE = 14 * 60


@dataclass(frozen=True)
class Span:
    """A timed thing in a plan: a sleep period, workout, session, live reading or charge."""

    kind: str
    start: int  # epoch seconds UTC
    end: int
    sequence: int = 0
    detail: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Night:
    """Geometry of the main sleep that ends on the morning of `day`.

    `worn`: the ring was on the finger (heart rate, rest in the activity minutes).
    `recorded`: Oura made a sleep document of it; a worn night may have none.
    """

    day: int
    start: int
    end: int
    worn: bool
    recorded: bool = True

    @property
    def held(self) -> bool:
        """Whether Oura holds a sleep document of this night (worn and recorded)."""
        return self.worn and self.recorded


@dataclass(frozen=True)
class DayPlan:
    """One local day of one user."""

    day: int
    offset: int  # UTC offset in minutes on this local day
    start: int  # B(day): local midnight, epoch seconds
    end: int  # B(day + 1)
    night: Night  # ends this morning
    next_night: Night  # starts this evening
    sleeps: tuple[Span, ...]  # recorded sleep periods whose `day` is this day; sequence == period
    workouts: tuple[Span, ...]
    sessions: tuple[Span, ...]
    live: tuple[Span, ...]
    charge: Span | None
    rest_mode: RestMode | None
    quiet: bool  # travel or clock-change day: no naps, workouts or sessions

    def local(self, minute: float) -> int:
        """Epoch seconds of a local minute-of-day (may exceed 1440 or be negative)."""
        return self.start + int(minute * 60)


def day_start(profile: Profile, day: int) -> int:
    """B(day): epoch seconds of local midnight at the day's offset."""
    return midnight_utc(day) - utc_offset_minutes(profile, day) * 60


def make_night(profile: Profile, day: int) -> Night:
    """Main-sleep geometry of the night ending on the morning of `day`."""
    rng = stable_rng(profile.seed, profile.index, day, "night")
    weekend = date.fromordinal(day).weekday() >= 5
    start_minute = (
        profile.bedtime_minute + (40 if weekend else 0) + max(-100.0, min(100.0, rng.gauss(0, 28)))
    )
    minutes = profile.time_in_bed_minutes + (35 if weekend else 0) + rng.gauss(0, 38)
    if utc_offset_minutes(profile, day) != utc_offset_minutes(profile, day - 1):
        minutes *= 0.8  # travel night
    minutes = max(240.0, min(660.0, minutes))
    start = day_start(profile, day) + int(start_minute * 60) + rng.randint(0, 59)
    worn = rng.random() >= NOT_WORN_SHARE or rest_mode_on(profile, day) is not None
    end = start + int(minutes * 60) + rng.randint(0, 59)
    recorded = rng.random() >= NO_RECORD_SHARE  # drawn last: the draws above stay put
    return Night(day, start, end, worn, recorded)


def is_charge_day(profile: Profile, day: int) -> bool:
    """True when the user charges the ring on this local day."""
    return (day + profile.charge_phase) % profile.charge_period_days == 0


def make_plan(profile: Profile, day: int) -> DayPlan:
    """Build the deterministic plan of a user's local day."""
    rng = stable_rng(profile.seed, profile.index, day, "plan")
    offset = utc_offset_minutes(profile, day)
    start, end = day_start(profile, day), day_start(profile, day + 1)
    night, next_night = make_night(profile, day), make_night(profile, day + 1)
    rest_mode = rest_mode_on(profile, day)
    quiet = (
        utc_offset_minutes(profile, day - 1) != offset
        or utc_offset_minutes(profile, day + 1) != offset
    )
    wake = night.end if night.worn else start + 7 * 3600
    busy = [(night.start, night.end), (next_night.start - PRE_SLEEP_REST_SECONDS, next_night.end)]

    charge = None
    if is_charge_day(profile, day):
        charge_start = wake + rng.randint(15, 45) * 60
        charge = Span("charge", charge_start, charge_start + rng.randint(70, 110) * 60)
        busy.append((charge.start, charge.end))

    workouts, naps, sessions, live = [], [], [], []
    if not quiet:
        place = _Slots(rng, start, end, wake, busy).place
        workouts, naps, sessions, live = _spans(profile, rng, rest_mode, (wake - start) / 60, place)

    sleeps = ([Span("long_sleep", night.start, night.end)] if night.held else []) + naps
    return DayPlan(
        day=day,
        offset=offset,
        start=start,
        end=end,
        night=night,
        next_night=next_night,
        sleeps=_numbered(sleeps),
        workouts=_numbered(workouts),
        sessions=_numbered(sessions),
        live=tuple(live),
        charge=charge,
        rest_mode=rest_mode,
        quiet=quiet,
    )


class _Slots:
    """Where a span of the day can go: after waking, before the day ends, clear of every
    span already placed (each placed span is added to `busy`)."""

    def __init__(self, rng, start: int, end: int, wake: int, busy: list[tuple[int, int]]):
        self.rng, self.start, self.end, self.wake, self.busy = rng, start, end, wake, busy

    def place(self, earliest: float, latest: float, minutes: float) -> tuple[int, int] | None:
        """A free slot of about `minutes` starting `earliest`..`latest` minutes into the
        day (four tries), or None."""
        rng, start, busy = self.rng, self.start, self.busy
        for _ in range(4):
            begin = start + int(rng.uniform(earliest, latest) * 60) + rng.randint(0, 59)
            finish = begin + int(minutes * 60) + rng.randint(0, 59)
            if (
                begin >= self.wake
                and finish <= self.end
                and all(finish <= b0 or begin >= b1 for b0, b1 in busy)
            ):
                busy.append((begin, finish))
                return begin, finish
        return None


def _spans(
    profile: Profile,
    rng,
    rest_mode: bool,
    wake_minute: float,
    place: Callable[[float, float, float], tuple[int, int] | None],
) -> tuple[list[Span], list[Span], list[Span], list[Span]]:
    """The day's workouts, naps, sessions and live sessions, drawn in that order."""
    workouts, naps, sessions, live = [], [], [], []
    count = 0 if rest_mode else int(rng.random() < profile.workouts_per_week / 7)
    count += int(count == 1 and rng.random() < 0.15)
    for _ in range(count):
        activity = rng.choices(
            [a for a, _ in profile.activities], [w for _, w in profile.activities]
        )[0]
        shortest, longest = WORKOUT_SHAPES[activity][:2]
        minutes = rng.uniform(shortest, longest)
        if rng.random() < 0.4:
            slot = place(wake_minute + 30, wake_minute + 120, minutes)
        else:
            slot = place(11 * 60, 19 * 60 + 30, minutes)
        if slot:
            workouts.append(_workout_span(rng, activity, *slot))
    nap_rate = 0.3 if rest_mode else profile.nap_rate
    for kind, (factor, earliest, latest, shortest, longest) in _NAP_SHAPES.items():
        if rng.random() < nap_rate * factor:
            slot = place(earliest, latest, rng.uniform(shortest, longest))
            if slot:
                naps.append(Span(kind, *slot))
    if rng.random() < profile.sessions_per_week / 7:
        slot = place(7 * 60, 22 * 60, rng.uniform(5, 25))
        if slot:
            session_type = rng.choices(
                [t for t, _ in SESSION_TYPES], [w for _, w in SESSION_TYPES]
            )[0]
            sessions.append(Span("session", *slot, detail={"type": session_type}))
    if rng.random() < 0.03:
        slot = place(9 * 60, 21 * 60, rng.uniform(1, 3))
        if slot:
            live.append(Span("live", *slot))
    return workouts, naps, sessions, live


def _numbered(spans: list[Span]) -> tuple[Span, ...]:
    ordered = sorted(spans, key=lambda span: span.start)
    return tuple(Span(s.kind, s.start, s.end, i, s.detail) for i, s in enumerate(ordered))


def _workout_span(rng, activity: str, begin: int, finish: int) -> Span:
    intensity = rng.choices(("easy", "moderate", "hard"), (3, 5, 2))[0]
    if activity == "walking":
        source = rng.choices(
            ("autodetected", "confirmed", "manual", "workout_heart_rate"), (60, 25, 10, 5)
        )[0]
    else:
        source = rng.choices(
            ("autodetected", "confirmed", "manual", "workout_heart_rate"), (20, 35, 30, 15)
        )[0]
    _, _, met_easy, met_hard, speed, steps = WORKOUT_SHAPES[activity]
    met = met_easy + (met_hard - met_easy) * INTENSITY_LEVEL[intensity] + rng.uniform(-0.3, 0.3)
    minutes = (finish - begin) / 60
    distance = None
    if speed is not None and rng.random() > 0.05:
        distance = round(
            minutes * speed * (0.8 + 0.4 * INTENSITY_LEVEL[intensity]) * rng.uniform(0.9, 1.1), 1
        )
    return Span(
        "workout",
        begin,
        finish,
        detail={
            "activity": activity,
            "intensity": intensity,
            "source": source,
            "met": round(met, 2),
            "steps_per_minute": steps,
            "distance": distance,
            "label": rng.choice(_LABELS) if rng.random() < 0.06 else None,
        },
    )
