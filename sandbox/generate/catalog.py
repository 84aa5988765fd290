"""The collections the sandbox serves, their schema names and id codes (data, not code)."""

from __future__ import annotations

DAY_COLLECTIONS: tuple[str, ...] = (
    "daily_activity",
    "daily_cardiovascular_age",
    "daily_readiness",
    "daily_resilience",
    "daily_sleep",
    "daily_spo2",
    "daily_stress",
    "enhanced_tag",
    "rest_mode_period",
    "session",
    "sleep",
    "sleep_time",
    "tag",
    "vO2_max",
    "workout",
)
SERIES_COLLECTIONS: tuple[str, ...] = ("heartrate", "ring_battery_level")

# components.schemas name in openapi-1.35.json of each collection's documents.
COLLECTION_SCHEMAS: dict[str, str] = {
    "daily_activity": "PublicDailyActivity",
    "daily_cardiovascular_age": "PublicDailyCardiovascularAge",
    "daily_readiness": "PublicDailyReadiness",
    "daily_resilience": "DailyResilienceModel",
    "daily_sleep": "PublicDailySleep",
    "daily_spo2": "PublicDailySpO2",
    "daily_stress": "PublicDailyStress",
    "enhanced_tag": "EnhancedTagModel",
    "rest_mode_period": "PublicRestModePeriod",
    "session": "PublicSession",
    "sleep": "PublicModifiedSleepModel",
    "sleep_time": "PublicSleepTime",
    "tag": "TagModel",
    "vO2_max": "PublicVO2Max",
    "workout": "PublicWorkout",
    "heartrate": "PublicHeartRateRow",
    "ring_battery_level": "PublicRingBatteryLevelRow",
    "ring_configuration": "PublicRingConfiguration",
    "personal_info": "PersonalInfoResponse",
}

# The document field that holds a DAY_COLLECTION document's cursor day.
CURSOR_FIELDS: dict[str, str] = {
    name: ("start_day" if name in ("enhanced_tag", "rest_mode_period") else "day")
    for name in DAY_COLLECTIONS
}

# Id codes are part of every issued id: append only, never reorder.
COLLECTION_CODES: dict[str, int] = {
    name: code
    for code, name in enumerate(DAY_COLLECTIONS + ("ring_configuration", "personal_info"))
}
