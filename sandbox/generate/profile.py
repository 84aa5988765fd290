"""Per-user constants: body, habits, home time zone, trips, rings and rest-mode periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from .randomness import stable_rng

# (standard offset in minutes, daylight-saving rule): US, EU and no-DST zones.
HOME_ZONES: tuple[tuple[int, str | None], ...] = (
    (-480, "us"),
    (-420, "us"),
    (-420, None),
    (-360, "us"),
    (-300, "us"),
    (0, "eu"),
    (60, "eu"),
    (120, "eu"),
    (330, None),
    (540, None),
    (600, None),
)
# User 1 of every world lives on US Pacific time, like the people in the real examples
# (api-reference §3: -04:00 to -07:00 across a DST change): west of UTC, a local
# evening is the next UTC day. Drawn zones would leave that to the seed.
US_RESIDENT = 1
US_PACIFIC = (-480, "us")
TRIP_BLOCK_DAYS = 45
TRIP_SHIFTS_MINUTES = (-360, -300, -180, -120, -60, 60, 120, 180, 300, 360)
REST_MODE_BLOCK_DAYS = 100

_COLORS_BY_HARDWARE = {
    "gen3": (
        "silver",
        "glossy_black",
        "stealth_black",
        "glossy_gold",
        "rose",
        "brushed_silver",
        "matt_gold",
    ),
    "gen4": ("silver", "brushed_silver", "stealth_black", "glossy_gold", "rose", "titanium"),
    "or5": ("cloud", "petal", "midnight", "tide", "deep_rose", "titanium_and_gold"),
}
_DESIGNS_BY_HARDWARE = {
    "gen3": ("heritage", "horizon"),
    "gen4": ("horizon", "horizon", "ceramic"),
    "or5": ("balance", "balance_diamond", "ceramic"),
}
_ACTIVITIES = (
    ("walking", 5),
    ("running", 3),
    ("cycling", 3),
    ("strengthTraining", 3),
    ("yoga", 2),
    ("hiking", 1),
    ("swimming", 1),
    ("elliptical", 1),
    ("tennis", 1),
    ("dancing", 1),
)
_FIRST_NAMES = ("alex", "sam", "kim", "robin", "jamie", "noor", "mika", "ari", "lee", "sasha")


@dataclass(frozen=True)
class Ring:
    """One ring of a user (a `ring_configuration` document)."""

    sequence: int
    hardware_type: str
    color: str
    design: str
    firmware_version: str
    size: int
    set_up_at: int | None  # epoch seconds UTC, None when Oura does not know
    active_from: int  # first day ordinal whose data comes from this ring
    ring_id: str  # the "encrypted identifier" quoted in sleep documents


@dataclass(frozen=True)
class RestMode:
    """A rest-mode period (illness) spanning whole local days [start_day, end_day]."""

    start_day: int
    end_day: int
    start_minute: int  # minutes after local midnight of start_day
    end_minute: int  # minutes after local midnight of end_day


@dataclass(frozen=True)
class Profile:
    """Everything about a user that does not change from day to day."""

    seed: int
    index: int
    history_start: int  # day ordinal
    home_offset: int  # standard-time UTC offset in minutes
    dst_rule: str | None
    biological_sex: str
    age: int
    height_m: float
    weight_kg: float
    email: str
    bedtime_minute: int  # habitual bedtime, minutes relative to local midnight (<0: before)
    time_in_bed_minutes: int
    resting_hr: int
    awake_hr: int
    hrv_base: float
    breath_base: float
    spo2_base: float
    vo2_base: float
    workouts_per_week: float
    sessions_per_week: float
    nap_rate: float
    activities: tuple[tuple[str, int], ...]
    target_calories: int
    charge_period_days: int
    charge_phase: int
    battery_floor: float  # battery % reached just before the next charge
    rings: tuple[Ring, ...]

    @property
    def bmr_kcal(self) -> float:
        """Basal metabolic rate per day (Mifflin-St Jeor)."""
        base = 10 * self.weight_kg + 625 * self.height_m - 5 * self.age
        return base + (5 if self.biological_sex == "male" else -161)

    def battery_drain_per_hour(self) -> float:
        """Battery percent lost per hour between two charges."""
        return (100.0 - self.battery_floor) / (self.charge_period_days * 24.0)


def make_profile(seed: int, index: int, history_start: date) -> Profile:
    """Draw the deterministic profile of user `index` in world `seed`."""
    rng = stable_rng(seed, index, "profile")
    sex = rng.choice(("male", "female"))
    height = rng.gauss(1.78 if sex == "male" else 1.65, 0.07)
    bmi = rng.uniform(19.5, 29.0)
    home_offset, dst_rule = rng.choice(HOME_ZONES)  # drawn for everyone: later draws stay put
    if index == US_RESIDENT:
        home_offset, dst_rule = US_PACIFIC
    fitness = rng.random()
    weights = [(name, max(1, round(w * rng.uniform(0.2, 2.5)))) for name, w in _ACTIVITIES]
    period = rng.choice((4, 5, 5, 6, 7))
    return Profile(
        seed=seed,
        index=index,
        history_start=history_start.toordinal(),
        home_offset=home_offset,
        dst_rule=dst_rule,
        biological_sex=sex,
        age=rng.randint(22, 68),
        height_m=round(height, 2),
        weight_kg=round(bmi * height * height, 1),
        email=f"{rng.choice(_FIRST_NAMES)}.{index}.{rng.randrange(16**6):06x}@sandbox.example.com",
        bedtime_minute=rng.randint(-120, 30),
        time_in_bed_minutes=rng.randint(420, 530),
        resting_hr=rng.randint(46, 64),
        awake_hr=rng.randint(68, 86),
        hrv_base=rng.uniform(22, 75),
        breath_base=rng.uniform(12.0, 16.0),
        spo2_base=rng.uniform(95.8, 98.6),
        vo2_base=rng.uniform(30, 44) + 10 * fitness,
        workouts_per_week=1.0 + 4.5 * fitness,
        sessions_per_week=rng.choice((0.3, 0.8, 1.5, 3.0)),
        nap_rate=rng.uniform(0.03, 0.14),
        activities=tuple(weights),
        target_calories=rng.choice((300, 350, 400, 450, 500, 550, 600)),
        charge_period_days=period,
        charge_phase=rng.randrange(period),
        battery_floor=rng.uniform(4.0, 28.0),
        rings=_make_rings(rng, seed, index, history_start),
    )


def _make_rings(rng, seed: int, index: int, history_start: date) -> tuple[Ring, ...]:
    size = rng.randint(6, 13)
    first_setup = history_start.toordinal() - rng.randint(1, 300)
    specs = [("gen3" if rng.random() < 0.6 else "gen4", first_setup, rng.random() < 0.1)]
    if rng.random() < 0.5:
        specs.append(
            (
                "or5" if specs[0][0] == "gen4" else rng.choice(("gen4", "or5")),
                history_start.toordinal() + rng.randint(90, 600),
                False,
            )
        )
    rings = []
    for sequence, (hardware, setup_day, unknown_setup) in enumerate(specs):
        setup_ts = (setup_day - date(1970, 1, 1).toordinal()) * 86_400 + rng.randint(
            6 * 3600, 22 * 3600
        )
        major = {"gen3": 2, "gen4": 3, "or5": 4}[hardware]
        rings.append(
            Ring(
                sequence=sequence,
                hardware_type=hardware,
                color=rng.choice(_COLORS_BY_HARDWARE[hardware]),
                design=rng.choice(_DESIGNS_BY_HARDWARE[hardware]),
                firmware_version=f"{major}.{rng.randint(1, 11)}.{rng.randint(0, 30)}",
                size=size,
                set_up_at=None if unknown_setup else setup_ts,
                active_from=setup_day,
                ring_id=f"{stable_rng(seed, index, 'ring-id', sequence).getrandbits(128):032x}",
            )
        )
    return tuple(rings)


def ring_on(profile: Profile, day_ordinal: int) -> Ring:
    """The ring that recorded the user's data on a day."""
    current = profile.rings[0]
    for ring in profile.rings[1:]:
        if day_ordinal >= ring.active_from:
            current = ring
    return current


@lru_cache(maxsize=64)
def _dst_window(rule: str, year: int) -> tuple[int, int]:
    """First and last+1 day ordinals of daylight-saving time for a rule and year."""
    if rule == "us":  # second Sunday of March .. first Sunday of November
        march = date(year, 3, 1)
        start = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
        november = date(year, 11, 1)
        end = november + timedelta(days=(6 - november.weekday()) % 7)
    else:  # EU: last Sunday of March .. last Sunday of October
        start = date(year, 3, 31) - timedelta(days=(date(year, 3, 31).weekday() + 1) % 7)
        end = date(year, 10, 31) - timedelta(days=(date(year, 10, 31).weekday() + 1) % 7)
    return start.toordinal(), end.toordinal()


def home_offset(profile: Profile, day_ordinal: int) -> int:
    """UTC offset (minutes) at home on a local day, daylight saving included."""
    if profile.dst_rule is None:
        return profile.home_offset
    start, end = _dst_window(profile.dst_rule, date.fromordinal(day_ordinal).year)
    return profile.home_offset + (60 if start <= day_ordinal < end else 0)


@lru_cache(maxsize=4096)
def trip_in_block(seed: int, index: int, home: int, block: int) -> tuple[int, int, int] | None:
    """The trip (first day, last+1 day, offset minutes) of a 45-day block, if any.

    Trips never cross a block boundary, so a day's trip is found in its own block.
    """
    rng = stable_rng(seed, index, "trip", block)
    if rng.random() >= 0.45:
        return None
    first = block * TRIP_BLOCK_DAYS + rng.randint(1, TRIP_BLOCK_DAYS - 16)
    offset = max(-720, min(840, home + rng.choice(TRIP_SHIFTS_MINUTES)))
    return first, first + rng.randint(3, 12), offset


def utc_offset_minutes(profile: Profile, day_ordinal: int) -> int:
    """The user's UTC offset (minutes) on a local day: trips override home time."""
    trip = trip_in_block(
        profile.seed, profile.index, profile.home_offset, day_ordinal // TRIP_BLOCK_DAYS
    )
    if trip is not None and trip[0] <= day_ordinal < trip[1]:
        return trip[2]
    return home_offset(profile, day_ordinal)


@lru_cache(maxsize=4096)
def rest_mode_in_block(seed: int, index: int, block: int) -> RestMode | None:
    """The rest-mode period starting in a 100-day block, if any."""
    rng = stable_rng(seed, index, "rest-mode", block)
    if rng.random() >= 0.7:
        return None
    start = block * REST_MODE_BLOCK_DAYS + rng.randint(0, REST_MODE_BLOCK_DAYS - 10)
    return RestMode(
        start, start + rng.randint(1, 5), rng.randint(7 * 60, 11 * 60), rng.randint(7 * 60, 12 * 60)
    )


def rest_mode_on(profile: Profile, day_ordinal: int) -> RestMode | None:
    """The rest-mode period covering a local day, if any."""
    # Periods never cross a block boundary (start <= block end - 10, length <= 6 days).
    period = rest_mode_in_block(profile.seed, profile.index, day_ordinal // REST_MODE_BLOCK_DAYS)
    if period is not None and period.start_day <= day_ordinal <= period.end_day:
        return period
    return None


def rest_mode_starting(profile: Profile, day_ordinal: int) -> RestMode | None:
    """The rest-mode period whose start_day is this local day, if any."""
    period = rest_mode_in_block(profile.seed, profile.index, day_ordinal // REST_MODE_BLOCK_DAYS)
    return period if period is not None and period.start_day == day_ordinal else None
