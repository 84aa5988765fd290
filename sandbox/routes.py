"""The sandbox's table of Oura API v2 routes, with each route's quirks as data.

This is the *server's* truth, written from `api-reference.md` §2 and §6, and kept
independent of the loader's own table (`pipelines/oura/settings.py`) on purpose:
if both sides shared one table, a wrong belief about Oura would pass every test.

Date windows. Oura compares a record's timestamp-like field with the requested
dates, a date-only bound meaning midnight (api-reference §6.2). Every route here
names the instant it filters on (`filter_on`) and the zone that date-only bounds
are read in (`bound_zone`); the window is inclusive at both ends. That one rule
reproduces every observed quirk:

- records keyed at local midnight (`daily_sleep`, `daily_readiness`, the
  timestamp-less daily routes) come back for `[d, d]`: `end_date` inclusive;
- `daily_activity` is stamped 04:00 local, after the `end_date` midnight, so
  the last day is lost: `end_date` exclusive;
- `sleep` filters on `bedtime_start` in UTC and `workout` on the UTC start, while
  their `day` is local: a night that began before UTC midnight is missing from
  `[day, day + 1]`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# What a date-only bound means: local midnight of the user, or UTC midnight.
LOCAL = "local"
UTC = "utc"

# Route kinds.
DOCUMENTS = "documents"  # start_date/end_date, {"data": [...], "next_token": ...}
SERIES = "series"  # start_datetime/end_datetime, time-series rows
CONFIG = "config"  # no date parameters (ring_configuration)
PERSONAL = "personal"  # a bare object (personal_info)


@dataclass(frozen=True)
class Route:
    """One `/v2/usercollection/<name>` route as the sandbox serves it.

    Attributes:
        name: the path segment, exactly as Oura spells it (`vO2_max`).
        kind: DOCUMENTS, SERIES, CONFIG or PERSONAL.
        scope: the scope a token needs (None: any token).
        filter_on: for DOCUMENTS, the instant compared with the window: `"day"`
            (local midnight of the cursor day) or a timestamp field of the document.
        bound_zone: LOCAL or UTC: how a date-only `start_date`/`end_date` is read.
        fields: whether the `fields` projection is supported.
        single: whether `/<name>/{document_id}` exists.
        max_window_days: longest accepted window (SERIES only).
        latest: whether the `latest` parameter is read (SERIES of the production routes).
    """

    name: str
    kind: str
    scope: str | None
    filter_on: str = "day"
    bound_zone: str = LOCAL
    fields: bool = True
    single: bool = True
    max_window_days: int | None = None
    latest: bool = False


ROUTES: dict[str, Route] = {
    r.name: r
    for r in (
        Route("daily_activity", DOCUMENTS, "daily", filter_on="timestamp"),
        Route("daily_cardiovascular_age", DOCUMENTS, "heart_health"),
        Route("daily_readiness", DOCUMENTS, "daily"),
        Route("daily_resilience", DOCUMENTS, "stress", fields=False),
        Route("daily_sleep", DOCUMENTS, "daily"),
        Route("daily_spo2", DOCUMENTS, "spo2"),
        Route("daily_stress", DOCUMENTS, "daily"),
        Route("enhanced_tag", DOCUMENTS, "tag", fields=False),
        Route("rest_mode_period", DOCUMENTS, "daily"),
        Route("session", DOCUMENTS, "session"),
        Route("sleep", DOCUMENTS, "daily", filter_on="bedtime_start", bound_zone=UTC),
        Route("sleep_time", DOCUMENTS, "daily"),
        Route("tag", DOCUMENTS, "tag", fields=False),
        Route("vO2_max", DOCUMENTS, "heart_health"),
        Route("workout", DOCUMENTS, "workout", filter_on="start_datetime", bound_zone=UTC),
        Route("heartrate", SERIES, "heartrate", single=False, max_window_days=30, latest=True),
        Route("ring_battery_level", SERIES, "daily", single=False, max_window_days=30, latest=True),
        Route("ring_configuration", CONFIG, None),
        Route("personal_info", PERSONAL, None, fields=False, single=False),
    )
}

# `/v2/sandbox/usercollection/<name>` (api-reference §2.1): every route but personal_info,
# without `fields` and `latest` (the parameters are not declared, so they are ignored).
SANDBOX_ROUTES: dict[str, Route] = {
    name: replace(route, fields=False, latest=False)
    for name, route in ROUTES.items()
    if route.kind != PERSONAL
}

# Scopes that satisfy a route's scope (Oura renamed spo2Daily to spo2 in spec 1.40).
SCOPE_ALIASES: dict[str, frozenset[str]] = {
    "spo2": frozenset({"spo2", "spo2Daily"}),
}

# Fields every projection keeps (Oura: "in addition to the always returned fields").
ALWAYS_RETURNED = ("id", "day", "start_day", "timestamp")

# Webhook data types (ExtApiV2DataType) and the route each maps to.
WEBHOOK_DATA_TYPES: dict[str, str] = {
    "tag": "tag",
    "enhanced_tag": "enhanced_tag",
    "workout": "workout",
    "session": "session",
    "sleep": "sleep",
    "daily_sleep": "daily_sleep",
    "daily_readiness": "daily_readiness",
    "daily_activity": "daily_activity",
    "daily_spo2": "daily_spo2",
    "sleep_time": "sleep_time",
    "rest_mode_period": "rest_mode_period",
    "ring_configuration": "ring_configuration",
    "daily_stress": "daily_stress",
    "daily_cardiovascular_age": "daily_cardiovascular_age",
    "daily_resilience": "daily_resilience",
    "vo2_max": "vO2_max",
}


def scope_satisfied(route: Route, granted: frozenset[str]) -> bool:
    """Whether a token with `granted` scopes may read `route`."""
    if route.scope is None:
        return True
    return bool(SCOPE_ALIASES.get(route.scope, frozenset({route.scope})) & granted)
