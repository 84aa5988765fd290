"""User-timed documents: workouts, sessions, tags, enhanced tags and rest-mode periods.

Each function returns entries `(sequence, available_at, document)`.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from .plan import Span
from .profile import rest_mode_starting
from .randomness import stable_rng
from .timefmt import local_iso

if TYPE_CHECKING:
    from .user import UserModel

Entry = tuple[int, int, dict]
SESSION_INTERVAL = 5
TAG_CODES = (
    "tag_generic_alcohol",
    "tag_generic_caffeine",
    "tag_generic_late_meal",
    "tag_generic_sauna",
    "tag_generic_stress",
    "tag_generic_headache",
    "tag_generic_nocaffeine",
    "tag_generic_travel",
)
ENHANCED_CODES = (
    "tag_generic_caffeine",
    "tag_generic_alcohol",
    "tag_generic_late_meal",
    "tag_generic_nocaffeine",
    "tag_generic_sauna",
    "tag_generic_meditation",
    "tag_generic_screen_time",
    "tag_generic_stress",
    "tag_generic_cold_shower",
    "tag_generic_hydration",
    "tag_generic_period",
    "tag_generic_sick",
)
_CUSTOM_NAMES = (
    "Cold plunge",
    "Magnesium",
    "Late screen time",
    "Melatonin",
    "Stretching",
    "Big dinner",
)
_NOTES = (
    "Felt tired",
    "Long day at work",
    "Slept badly",
    "Great workout",
    "Busy evening",
    "Headache in the afternoon",
    "Feeling good",
)
_EPISODE_TAGS = (
    "tag_generic_sick",
    "tag_generic_fever",
    "tag_generic_headache",
    "tag_generic_sore_throat",
    "tag_generic_runny_nose",
    "tag_generic_fatigue",
)
_MOODS = ("bad", "worse", "same", "good", "great")


def _iso(day: int) -> str:
    return date.fromordinal(day).isoformat()


def workouts(user: UserModel, day: int, revision: int) -> list[Entry]:
    """Workouts of a local day (the plan's workouts, seen at a revision)."""
    plan = user.plan(day)
    entries = []
    for span in plan.workouts:
        detail = span.detail
        rng = stable_rng(user.seed, user.index, day, "workout", span.sequence)
        calories = None
        if rng.random() >= 0.03:
            hours = (span.end - span.start) / 3600
            calories = detail["met"] * user.profile.weight_kg * hours * rng.uniform(0.95, 1.05)
            calories = round(calories * (1 - 0.02 * (3 - revision)), 3)
        source = detail["source"]
        if revision < 1 and source == "confirmed":
            source = "autodetected"  # confirmed by the user later
        entries.append(
            (
                span.sequence,
                span.end,
                {
                    "id": user.doc_id("workout", day, span.sequence),
                    "activity": detail["activity"],
                    "calories": calories,
                    "day": _iso(day),
                    "distance": detail["distance"],
                    "end_datetime": local_iso(span.end, plan.offset),
                    "intensity": detail["intensity"],
                    "label": detail["label"],
                    "source": source,
                    "start_datetime": local_iso(span.start, plan.offset),
                },
            )
        )
    return entries


def session_samples(user: UserModel, day: int, span: Span) -> tuple[list, list | None, list]:
    """Heart rate, HRV and motion items (one per 5 s) of a session; also feeds the HR series."""
    rng = stable_rng(user.seed, user.index, day, "session", span.sequence)
    count = (span.end - span.start) // SESSION_INTERVAL
    calm = span.detail["type"] in ("meditation", "breathing", "relaxation", "nap", "rest")
    heart, variability, motion = [], [], []
    bpm = user.profile.resting_hr + 14.0
    for _ in range(count):
        target = user.profile.resting_hr + (4 if calm else 10)
        bpm += 0.05 * (target - bpm) + rng.gauss(0, 0.8)
        missing = rng.random() < 0.02
        heart.append(None if missing else float(round(bpm)))
        variability.append(
            None if missing else float(max(5, round(user.profile.hrv_base * 1.2 + rng.gauss(0, 8))))
        )
        motion.append(float(rng.choices((0, 1, 2, 3, 4), (70, 18, 7, 3, 2))[0]))
    if span.detail["type"] == "body_status" and rng.random() < 0.5:
        variability = None
    return heart, variability, motion


def _sample(items: list | None, stamp: str) -> dict | None:
    if items is None:
        return None
    return {"interval": float(SESSION_INTERVAL), "items": items, "timestamp": stamp}


def sessions(user: UserModel, day: int) -> list[Entry]:
    """Guided/unguided sessions of a local day."""
    plan = user.plan(day)
    entries = []
    for span in plan.sessions:
        heart, variability, motion = session_samples(user, day, span)
        rng = stable_rng(user.seed, user.index, day, "session-mood", span.sequence)
        stamp = local_iso(span.start, plan.offset, millis=True)
        entries.append(
            (
                span.sequence,
                span.end,
                {
                    "id": user.doc_id("session", day, span.sequence),
                    "day": _iso(day),
                    "end_datetime": local_iso(span.end, plan.offset),
                    "heart_rate": _sample(heart, stamp),
                    "heart_rate_variability": _sample(variability, stamp),
                    "mood": rng.choice(_MOODS) if rng.random() < 0.6 else None,
                    "motion_count": _sample(motion, stamp),
                    "start_datetime": local_iso(span.start, plan.offset),
                    "type": span.detail["type"],
                },
            )
        )
    return entries


def tags(user: UserModel, day: int) -> list[Entry]:
    """Deprecated `tag` notes of a local day."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "tag")
    draw = rng.random()
    count = 2 if draw < 0.02 else 1 if draw < 0.14 else 0
    moments = sorted(plan.start + rng.randint(7 * 3600, 23 * 3600) for _ in range(count))
    entries = []
    for sequence, moment in enumerate(moments):
        entries.append(
            (
                sequence,
                moment,
                {
                    "id": user.doc_id("tag", day, sequence),
                    "day": _iso(day),
                    "text": rng.choice(_NOTES) if rng.random() < 0.35 else None,
                    "timestamp": local_iso(moment, plan.offset),
                    "tags": rng.sample(TAG_CODES, rng.choice((1, 1, 2))),
                },
            )
        )
    return entries


def enhanced_tags(user: UserModel, day: int) -> list[Entry]:
    """Enhanced tags starting on a local day (generic, custom or text-only)."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "enhanced-tag")
    draw = rng.random()
    count = 3 if draw < 0.02 else 2 if draw < 0.08 else 1 if draw < 0.30 else 0
    starts = sorted(plan.start + rng.randint(6 * 3600, 23 * 3600) for _ in range(count))
    entries = []
    for sequence, start in enumerate(starts):
        kind = rng.choices(("generic", "custom", "text"), (70, 15, 15))[0]
        code = custom = comment = None
        if kind == "generic":
            code = rng.choice(ENHANCED_CODES)
            comment = rng.choice(_NOTES) if rng.random() < 0.2 else None
        elif kind == "custom":
            code, custom = "custom", rng.choice(_CUSTOM_NAMES)
            comment = rng.choice(_NOTES) if rng.random() < 0.3 else None
        else:
            comment = rng.choice(_NOTES)
        end = start + rng.randint(30, 600) * 60 if kind != "text" and rng.random() < 0.3 else None
        end_day = user.local_day(end) if end is not None else None
        entries.append(
            (
                sequence,
                end or start,
                {
                    "id": user.doc_id("enhanced_tag", day, sequence),
                    "tag_type_code": code,
                    "start_time": local_iso(start, plan.offset),
                    "end_time": None if end is None else local_iso(end, user.offset(end_day)),
                    "start_day": _iso(day),
                    "end_day": None if end_day is None else _iso(end_day),
                    "comment": comment,
                    "custom_name": custom,
                },
            )
        )
    return entries


def rest_mode_periods(user: UserModel, day: int, now_ts: int) -> list[Entry]:
    """The rest-mode period starting on a local day; open-ended while it lasts."""
    period = rest_mode_starting(user.profile, day)
    if period is None:
        return []
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "rest-mode-doc")
    start = plan.start + period.start_minute * 60
    end_plan = user.plan(period.end_day)
    end = end_plan.start + period.end_minute * 60
    episodes = []
    for episode_day in range(period.start_day, period.end_day + 1):
        episode_plan = user.plan(episode_day)
        moment = (
            start if episode_day == day else episode_plan.start + rng.randint(8 * 3600, 11 * 3600)
        )
        tags_picked = rng.sample(_EPISODE_TAGS, rng.randint(1, 3))
        if moment <= now_ts:
            episodes.append(
                {"tags": tags_picked, "timestamp": local_iso(moment, episode_plan.offset)}
            )
    ongoing = end > now_ts
    return [
        (
            0,
            start,
            {
                "id": user.doc_id("rest_mode_period", day, 0),
                "end_day": None if ongoing else _iso(period.end_day),
                "end_time": None if ongoing else local_iso(end, end_plan.offset),
                "episodes": episodes,
                "start_day": _iso(day),
                "start_time": local_iso(start, plan.offset),
            },
        )
    ]
