"""The Oura collections as data: one row per list route of spec 1.35 plus `personal_info`.

Adding a collection is adding a row. Each row says how to ask for a date window
(`kind`), which field the window is trimmed on (`cursor`), the key that merges
documents (`primary_key`, always led by `user_id` so many people share one
warehouse), how long a request window may be, and the raw table's column types.

Date windows (api-reference §6). Oura filters `start_date`/`end_date` on a
timestamp-like field and reports a local `day`: `daily_activity`, `sleep` and
`workout` lose the last day of a date-only range, `sleep` filters on the UTC
`bedtime_start`, `workout` on the UTC start. So every dated request is padded by
`PAD_DAYS` on both sides and the answer trimmed on the cursor day: no quirk can
lose a day, and the padding never leaks documents outside the asked range.
Time series take `start_datetime`/`end_datetime` (ISO with an explicit offset),
at most 30 days per request; they are padded by `SERIES_PAD` and trimmed on
whole UTC days `[start 00:00Z, end + 1 day 00:00Z)`.

Column types follow spec 1.35: `day`-like fields are DATE, instants TIMESTAMP
(UTC, with the original offset kept in `<field>_utc_offset`), samples and lists
JSON (one raw row is one document; BigQuery arrays cannot hold the nulls Oura
sends inside samples). Nested objects such as `contributors` are flattened by
dlt into `contributors__<name>` columns. Fields the API adds later appear as new
columns (dlt's schema evolution; no frozen contracts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from pipelines.core.config import DEFAULT_CHUNK_DAYS, DEFAULT_LOOKBACK_DAYS  # noqa: F401
from pipelines.core.errors import UsageError
from pipelines.oura.kinds import DAILY, LISTED, PAD_DAYS, SERIES, SERIES_PAD, SINGLE, Kind  # noqa: F401

SOURCE_NAME = "oura"
API_PREFIX = "/v2/usercollection"

# How each kind of collection is asked for a window, and how its cursor moves: `kinds`.
DAILY_WINDOW_DAYS = 90
SERIES_WINDOW_DAYS = 29  # + 2 x SERIES_PAD stays under the 30-day limit


# The loader's own columns.
USER_ID = "user_id"
DELETED = "_oura_deleted"  # hard-delete flag of tombstone rows (dlt `hard_delete` hint)
PROGRESS_TABLE = "_oura_load_progress"
OFFSET_SUFFIX = "_utc_offset"

# Column types used below (dlt data types).
T, D, TS, I, F, B, J = "text", "date", "timestamp", "bigint", "double", "bool", "json"  # noqa: E741 - a table of type letters


@dataclass(frozen=True)
class Collection:
    """One Oura collection and its raw table.

    Attributes:
        name: the raw table and dlt resource name (the route in snake case).
        route: the path segment under `/v2/usercollection/`, spelled as Oura does.
        kind: DAILY, SERIES, LISTED or SINGLE.
        cursor: the field a window is trimmed on (None for LISTED/SINGLE).
        primary_key: merge key of the raw table; starts with `user_id`.
        scope: the OAuth scope Oura is believed to require (for messages only:
            the API's own 401/403 decides).
        window_days: longest request window (days, before padding).
        open_end: a field that is null while a document is still open (an ongoing
            rest-mode period): such documents are fetched again until it is set,
            however old their cursor day.
        columns: raw column types (dlt data types), flattened names for nested
            objects. TIMESTAMP fields also get a `<field>_utc_offset` text column.
    """

    name: str
    route: str
    kind: Kind
    cursor: str | None
    primary_key: tuple[str, ...]
    scope: str | None
    window_days: int
    columns: Mapping[str, str] = field(default_factory=dict)
    open_end: str | None = None

    @property
    def dated(self) -> bool:
        """Whether the collection is asked for by date window."""
        return self.kind.dated

    @property
    def path(self) -> str:
        """The route's path below the API base URL."""
        return f"{API_PREFIX}/{self.route}"

    @cached_property
    def timestamp_fields(self) -> tuple[str, ...]:
        """Instant fields, each stored as TIMESTAMP plus a `_utc_offset` column."""
        return tuple(c for c, t in self.columns.items() if t == TS)

    @cached_property
    def json_fields(self) -> tuple[str, ...]:
        """Fields stored whole as JSON."""
        return tuple(c for c, t in self.columns.items() if t == J)

    @cached_property
    def date_fields(self) -> tuple[str, ...]:
        """Day fields, stored as DATE."""
        return tuple(c for c, t in self.columns.items() if t == D)

    @cached_property
    def nested_objects(self) -> frozenset[str]:
        """Flattened paths of nested objects (`readiness`, `readiness__contributors`)."""
        parts = (c.split("__")[:-1] for c in self.columns if "__" in c)
        return frozenset("__".join(p[: i + 1]) for p in parts for i in range(len(p)))


def _daily(
    name: str,
    scope: str | None,
    columns: dict[str, str],
    *,
    route: str | None = None,
    cursor: str = "day",
    open_end: str | None = None,
) -> Collection:
    return Collection(
        name=name,
        route=route or name,
        kind=DAILY,
        cursor=cursor,
        primary_key=(USER_ID, "id"),
        scope=scope,
        window_days=DAILY_WINDOW_DAYS,
        columns=MappingProxyType({"id": T, cursor: D, **columns}),
        open_end=open_end,
    )


_READINESS_CONTRIBUTORS = (
    "activity_balance",
    "body_temperature",
    "hrv_balance",
    "previous_day_activity",
    "previous_night",
    "recovery_index",
    "resting_heart_rate",
    "sleep_balance",
    "sleep_regularity",
)

COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        name="personal_info",
        route="personal_info",
        kind=SINGLE,
        cursor=None,
        primary_key=(USER_ID, "id"),
        scope=None,
        window_days=0,
        columns=MappingProxyType(
            {"id": T, "age": I, "weight": F, "height": F, "biological_sex": T, "email": T}
        ),
    ),
    Collection(
        name="ring_configuration",
        route="ring_configuration",
        kind=LISTED,
        cursor=None,
        primary_key=(USER_ID, "id"),
        scope=None,
        window_days=0,
        columns=MappingProxyType(
            {
                "id": T,
                "color": T,
                "design": T,
                "firmware_version": T,
                "hardware_type": T,
                "set_up_at": TS,
                "size": I,
            }
        ),
    ),
    _daily(
        "daily_activity",
        "daily",
        {
            "timestamp": TS,
            "score": I,
            "active_calories": I,
            "average_met_minutes": F,
            "class_5_min": T,
            **{
                f"contributors__{c}": I
                for c in (
                    "meet_daily_targets",
                    "move_every_hour",
                    "recovery_time",
                    "stay_active",
                    "training_frequency",
                    "training_volume",
                )
            },
            "equivalent_walking_distance": I,
            "high_activity_met_minutes": I,
            "high_activity_time": I,
            "inactivity_alerts": I,
            "low_activity_met_minutes": I,
            "low_activity_time": I,
            "medium_activity_met_minutes": I,
            "medium_activity_time": I,
            "met": J,
            "meters_to_target": I,
            "non_wear_time": I,
            "resting_time": I,
            "sedentary_met_minutes": I,
            "sedentary_time": I,
            "steps": I,
            "target_calories": I,
            "target_meters": I,
            "total_calories": I,
        },
    ),
    _daily(
        "daily_readiness",
        "daily",
        {
            "timestamp": TS,
            "score": I,
            "temperature_deviation": F,
            "temperature_trend_deviation": F,
            **{f"contributors__{c}": I for c in _READINESS_CONTRIBUTORS},
        },
    ),
    _daily(
        "daily_sleep",
        "daily",
        {
            "timestamp": TS,
            "score": I,
            **{
                f"contributors__{c}": I
                for c in (
                    "deep_sleep",
                    "efficiency",
                    "latency",
                    "rem_sleep",
                    "restfulness",
                    "timing",
                    "total_sleep",
                )
            },
        },
    ),
    _daily(
        "sleep",
        "daily",
        {
            "bedtime_start": TS,
            "bedtime_end": TS,
            "type": T,
            "period": I,
            "average_breath": F,
            "average_heart_rate": F,
            "average_hrv": I,
            "awake_time": I,
            "deep_sleep_duration": I,
            "efficiency": I,
            "heart_rate": J,
            "hrv": J,
            "latency": I,
            "light_sleep_duration": I,
            "low_battery_alert": B,
            "lowest_heart_rate": I,
            "movement_30_sec": T,
            "readiness__score": I,
            "readiness__temperature_deviation": F,
            "readiness__temperature_trend_deviation": F,
            **{f"readiness__contributors__{c}": I for c in _READINESS_CONTRIBUTORS},
            "readiness_score_delta": I,
            "rem_sleep_duration": I,
            "restless_periods": I,
            "sleep_algorithm_version": T,
            "sleep_analysis_reason": T,
            "sleep_phase_30_sec": T,
            "sleep_phase_5_min": T,
            "app_sleep_phase_5_min": T,
            "sleep_score_delta": I,
            "time_in_bed": I,
            "total_sleep_duration": I,
            "ring_id": T,
        },
    ),
    _daily(
        "sleep_time",
        "daily",
        {
            "optimal_bedtime__day_tz": I,
            "optimal_bedtime__start_offset": I,
            "optimal_bedtime__end_offset": I,
            "recommendation": T,
            "status": T,
        },
    ),
    _daily(
        "daily_spo2",
        "spo2",
        {
            "spo2_percentage__average": F,
            "breathing_disturbance_index": I,
        },
    ),
    _daily(
        "daily_stress",
        "daily",
        {
            "stress_high": I,
            "recovery_high": I,
            "day_summary": T,
        },
    ),
    _daily(
        "daily_resilience",
        "stress",
        {
            "level": T,
            "contributors__sleep_recovery": F,
            "contributors__daytime_recovery": F,
            "contributors__stress": F,
        },
    ),
    _daily(
        "daily_cardiovascular_age",
        "heart_health",
        {
            "vascular_age": I,
            "pulse_wave_velocity": F,
        },
    ),
    _daily("vo2_max", "heart_health", {"timestamp": TS, "vo2_max": I}, route="vO2_max"),
    _daily(
        "workout",
        "workout",
        {
            "activity": T,
            "calories": F,
            "distance": F,
            "start_datetime": TS,
            "end_datetime": TS,
            "intensity": T,
            "label": T,
            "source": T,
        },
    ),
    _daily(
        "session",
        "session",
        {
            "start_datetime": TS,
            "end_datetime": TS,
            "type": T,
            "mood": T,
            "heart_rate": J,
            "heart_rate_variability": J,
            "motion_count": J,
        },
    ),
    _daily("tag", "tag", {"timestamp": TS, "text": T, "tags": J}),
    _daily(
        "enhanced_tag",
        "tag",
        {
            "end_day": D,
            "start_time": TS,
            "end_time": TS,
            "tag_type_code": T,
            "comment": T,
            "custom_name": T,
        },
        cursor="start_day",
    ),
    _daily(
        "rest_mode_period",
        "daily",
        {
            "end_day": D,
            "start_time": TS,
            "end_time": TS,
            "episodes": J,
        },
        cursor="start_day",
        open_end="end_day",
    ),
    Collection(
        name="heartrate",
        route="heartrate",
        kind=SERIES,
        cursor="timestamp",
        primary_key=(USER_ID, "timestamp", "source"),
        scope="heartrate",
        window_days=SERIES_WINDOW_DAYS,
        columns=MappingProxyType({"timestamp": TS, "timestamp_unix": I, "bpm": I, "source": T}),
    ),
    Collection(
        name="ring_battery_level",
        route="ring_battery_level",
        kind=SERIES,
        cursor="timestamp",
        primary_key=(USER_ID, "timestamp"),
        scope="daily",
        window_days=SERIES_WINDOW_DAYS,
        columns=MappingProxyType(
            {"timestamp": TS, "timestamp_unix": I, "level": I, "charging": B, "in_charger": B}
        ),
    ),
)

BY_NAME: Mapping[str, Collection] = MappingProxyType({c.name: c for c in COLLECTIONS})
ALL_NAMES: tuple[str, ...] = tuple(BY_NAME)


def resolve_collections(names: Iterable[str] | None) -> list[Collection]:
    """Collections by table or route name (case-insensitive, `vO2_max` == `vo2_max`).

    Raises:
        UsageError: an unknown name, listing the valid ones.
    """
    if names is None:
        return list(BY_NAME.values())
    if isinstance(names, str):
        names = names.split(",")
    lookup = {name.lower(): name for name in ALL_NAMES}
    chosen: list[str] = []
    unknown: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        match = lookup.get(name.lower())  # route `vO2_max` lower-cases to table `vo2_max`
        if match is None:
            unknown.append(name)
        elif match not in chosen:
            chosen.append(match)
    if unknown:
        raise UsageError(
            f"unknown collection(s): {', '.join(unknown)}; valid: {', '.join(ALL_NAMES)}"
        )
    if not chosen:
        raise UsageError(f"no collection given; valid: {', '.join(ALL_NAMES)}")
    return [BY_NAME[name] for name in ALL_NAMES if name in chosen]
