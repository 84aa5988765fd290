"""Once-a-day summaries: SpO2, stress, resilience, cardiovascular age, sleep time, VO2 max.

Each function returns entries `(sequence, available_at, document)`; the world drops
entries whose `available_at` (epoch seconds) is after its clock.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from .randomness import clamp, stable_rng
from .sleep import BASELINE_DAYS
from .timefmt import local_iso

if TYPE_CHECKING:
    from .user import UserModel

Entry = tuple[int, int, dict]
RESILIENCE_LEVELS = ((38.0, "limited"), (50.0, "adequate"), (62.0, "solid"), (74.0, "strong"))
VO2_BLOCK_DAYS = 16


def _iso(day: int) -> str:
    return date.fromordinal(day).isoformat()


def _after_night(plan) -> int:
    return plan.night.end if plan.night.worn else plan.start + 10 * 3600


def daily_spo2(user: UserModel, day: int, revision: int) -> list[Entry]:
    """SpO2 average of the night (none on nights the ring was off)."""
    plan = user.plan(day)
    if not plan.night.worn:
        return []
    rng = stable_rng(user.seed, user.index, day, "spo2")
    percentage = breathing = None
    if rng.random() >= 0.05:
        average = user.profile.spo2_base + rng.gauss(0, 0.45) - (0.7 if plan.rest_mode else 0.0)
        average += 0.05 * (3 - revision) * rng.choice((-1, 1))
        percentage = {"average": round(clamp(average, 90.0, 100.0), 3)}
        if rng.random() >= 0.15:
            breathing = max(0, round(rng.gauss(6, 5)))
    elif rng.random() < 0.5:
        # A content-free document in the shape ourabridge saw (api-reference §12), which
        # the spec's required number does not allow; otherwise `spo2_percentage` is null.
        percentage = {"average": None}
    document = {
        "id": user.doc_id("daily_spo2", day, 0),
        "breathing_disturbance_index": breathing,
        "day": _iso(day),
        "spo2_percentage": percentage,
    }
    return [(0, plan.night.end, document)]


def daily_stress(user: UserModel, day: int, revision: int, now_ts: int) -> list[Entry]:
    """Time in high stress / high recovery (15-minute units); partial while the day runs."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "stress")
    level = user.smooth("stress")(day) + (0.6 if plan.rest_mode else 0.0)
    stress = max(0, round(rng.gauss(3 + 3 * level, 2.5)))
    recovery = max(0, round(rng.gauss(5 - 2 * level, 3)))
    missing = rng.random() < 0.015
    if revision < 3:
        adjust = stable_rng(user.seed, user.index, day, "stress-rev", revision)
        stress = max(0, stress - adjust.randint(0, 3 - revision))
        recovery = max(0, recovery - adjust.randint(0, 3 - revision))
    in_progress = now_ts < plan.end
    if in_progress:
        done = clamp((now_ts - plan.start - 4 * 3600) / (20 * 3600), 0.0, 1.0)
        stress, recovery = int(stress * done), int(recovery * done)
    stress_high, recovery_high = stress * 900, recovery * 900
    summary = None
    if not in_progress and stress_high + recovery_high >= 1800 and rng.random() >= 0.05:
        if stress_high > 2 * recovery_high and stress_high >= 3600:
            summary = "stressful"
        elif recovery_high > 2 * stress_high and recovery_high >= 3600:
            summary = "restored"
        else:
            summary = "normal"
    document = {
        "id": user.doc_id("daily_stress", day, 0),
        "day": _iso(day),
        "day_summary": summary,
        "recovery_high": None if missing else recovery_high,
        "stress_high": None if missing else stress_high,
    }
    return [(0, plan.start, document)]


def daily_resilience(user: UserModel, day: int, revision: int) -> list[Entry]:
    """Long-term resilience (needs two weeks of history)."""
    plan = user.plan(day)
    if day - user.profile.history_start < BASELINE_DAYS:
        return []
    rng = stable_rng(user.seed, user.index, day, "resilience")
    base = 50 + 14 * user.smooth("resilience")(day) - (6 if plan.rest_mode else 0)
    drift = 0.3 * (3 - revision) * rng.choice((-1, 1))
    contributors = {
        name: round(
            clamp(
                base + 8 * user.smooth(f"resilience-{name}")(day) + rng.gauss(0, 1.0) + drift,
                0,
                100,
            ),
            1,
        )
        for name in ("sleep_recovery", "daytime_recovery", "stress")
    }
    mean = (
        0.4 * contributors["sleep_recovery"]
        + 0.3 * contributors["daytime_recovery"]
        + 0.3 * contributors["stress"]
    )
    level = next((name for limit, name in RESILIENCE_LEVELS if mean < limit), "exceptional")
    document = {
        "id": user.doc_id("daily_resilience", day, 0),
        "day": _iso(day),
        "contributors": contributors,
        "level": level,
    }
    return [(0, _after_night(plan), document)]


def daily_cardiovascular_age(user: UserModel, day: int, revision: int) -> list[Entry]:
    """Vascular age and pulse wave velocity (needs two weeks of history)."""
    plan = user.plan(day)
    if day - user.profile.history_start < BASELINE_DAYS:
        return []
    rng = stable_rng(user.seed, user.index, day, "cardiovascular")
    vascular_age = pulse_wave_velocity = None
    if rng.random() >= 0.03:
        age = user.profile.age + 4 * user.smooth("vascular")(day) + rng.gauss(0, 0.5)
        vascular_age = int(clamp(round(age), 18, 100))
        if rng.random() >= 0.05:
            velocity = 4.2 + 0.07 * vascular_age + rng.gauss(0, 0.08) + 0.01 * (3 - revision)
            pulse_wave_velocity = round(velocity, 2)
    document = {
        "id": user.doc_id("daily_cardiovascular_age", day, 0),
        "day": _iso(day),
        "pulse_wave_velocity": pulse_wave_velocity,
        "vascular_age": vascular_age,
    }
    return [(0, _after_night(plan), document)]


def sleep_time(user: UserModel, day: int) -> list[Entry]:
    """Bedtime guidance for the coming night."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "sleep-time")
    draw = rng.random()
    window = recommendation = None
    if day - user.profile.history_start < BASELINE_DAYS:
        status = "not_enough_nights"
    elif draw < 0.03:
        status = "not_enough_recent_nights"
    elif draw < 0.06:
        status, recommendation = "bad_sleep_quality", "improve_efficiency"
    else:
        center = (
            round((user.profile.bedtime_minute + 20 * user.smooth("bed-window")(day)) / 15) * 15
        )
        window = {
            "day_tz": plan.offset * 60,
            "end_offset": (center + 30) * 60,
            "start_offset": (center - 30) * 60,
        }
        if draw < 0.18:
            status = "only_recommended_found"
            recommendation = rng.choice(
                ("earlier_bedtime", "later_bedtime", "earlier_wake_up_time", "later_wake_up_time")
            )
        else:
            status, recommendation = "optimal_found", "follow_optimal_bedtime"
    document = {
        "id": user.doc_id("sleep_time", day, 0),
        "day": _iso(day),
        "optimal_bedtime": window,
        "recommendation": recommendation,
        "status": status,
    }
    return [(0, plan.start, document)]


def vo2_max(user: UserModel, day: int) -> list[Entry]:
    """A VO2 max estimate on one day of most 16-day blocks."""
    block = day // VO2_BLOCK_DAYS
    rng = stable_rng(user.seed, user.index, block, "vo2-max")
    if rng.random() >= 0.75 or block * VO2_BLOCK_DAYS + rng.randrange(VO2_BLOCK_DAYS) != day:
        return []
    if day - user.profile.history_start < BASELINE_DAYS:
        return []
    plan = user.plan(day)
    moment = plan.start + rng.randint(10 * 3600, 20 * 3600)
    value = round(user.profile.vo2_base + 3 * user.smooth("fitness")(day) + rng.gauss(0, 0.7))
    document = {
        "id": user.doc_id("vO2_max", day, 0),
        "day": _iso(day),
        "timestamp": local_iso(moment, plan.offset),
        "vo2_max": int(value),
    }
    return [(0, moment, document)]
