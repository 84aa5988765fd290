"""Daily activity: a minute-by-minute MET day (04:00 to 04:00 local) and its totals.

The minutes are painted from the day plan (nights and naps rest, charging is non-wear,
workouts at their MET), so steps, times and calories add up to the `met` items and
`class_5_min`. Before a day settles (revision < 3) a block of minutes is still missing
(not yet synced from the ring); the block shrinks with each revision, so steps and
calories only grow. For a day still in progress the arrays stop at the clock.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from .plan import DayPlan
from .randomness import score, stable_rng
from .sleep import weighted_score
from .timefmt import local_iso

if TYPE_CHECKING:
    from .user import UserModel

ACTIVITY_WEIGHTS = {
    "meet_daily_targets": 0.25,
    "move_every_hour": 0.10,
    "recovery_time": 0.25,
    "stay_active": 0.15,
    "training_frequency": 0.10,
    "training_volume": 0.15,
}
MINUTES = 1440
NON_WEAR, REST, SEDENTARY, LIGHT, WALK, WORKOUT = range(6)  # WORKOUT + k is the k-th workout
_DAYTIME = range(4 * 60, 18 * 60)  # 08:00-22:00 local, as minutes after 04:00


def daily_activity(user: UserModel, day: int, revision: int, now_ts: int) -> dict:
    """A PublicDailyActivity document as known at `now_ts`."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "activity")
    origin = plan.start + 4 * 3600
    codes = _paint(plan, rng, origin, revision)
    noise = rng.randbytes(MINUTES)
    elapsed = max(0, min(MINUTES, (now_ts - origin) // 60))
    mets, steps, times, met_minutes = _minutes(codes[:elapsed], noise, plan)

    profile = user.profile
    effort = sum(met_minutes)
    active = round(effort * profile.weight_kg * 3.5 / 200)
    target = max(
        150, min(900, round((profile.target_calories + 100 * user.smooth("target")(day)) / 50) * 50)
    )
    alerts = _inactivity_alerts(codes[:elapsed])
    worn = [m for m in mets if m > 0.1]
    contributors = _contributors(user, day, rng, active >= target, alerts, times)
    if not worn:
        contributors = dict.fromkeys(contributors)
    return {
        "id": user.doc_id("daily_activity", day, 0),
        "class_5_min": _classes(codes[:elapsed], mets),
        "score": weighted_score(contributors, ACTIVITY_WEIGHTS),
        "active_calories": active,
        "average_met_minutes": round(sum(worn) / len(worn) * 32) / 32 if worn else 0.0,
        "contributors": contributors,
        "equivalent_walking_distance": round(effort * 22.5),
        "high_activity_met_minutes": round(met_minutes[3]),
        "high_activity_time": times[5] * 60,
        "inactivity_alerts": alerts,
        "low_activity_met_minutes": round(met_minutes[1]),
        "low_activity_time": times[3] * 60,
        "medium_activity_met_minutes": round(met_minutes[2]),
        "medium_activity_time": times[4] * 60,
        "met": {
            "interval": 60.0,
            "items": mets,
            "timestamp": local_iso(origin, plan.offset, millis=True),
        },
        "meters_to_target": int(round((target - active) * 18, -2)),
        "non_wear_time": times[0] * 60,
        "resting_time": times[1] * 60,
        "sedentary_met_minutes": round(met_minutes[0]),
        "sedentary_time": times[2] * 60,
        "steps": steps,
        "target_calories": target,
        "target_meters": target * 20,
        "timestamp": local_iso(origin, plan.offset),
        "total_calories": round(profile.bmr_kcal * elapsed / MINUTES + active),
        "day": date.fromordinal(day).isoformat(),
    }


def _minutes(
    codes: bytearray, noise: bytes, plan: DayPlan
) -> tuple[list[float], int, list[int], list[float]]:
    """Each elapsed minute's MET from its activity code and noise byte; the day's steps,
    minutes per class (non_wear, resting, sedentary, low, medium, high) and MET minutes
    per class (sedentary, low, medium, high)."""
    workout_mets = [w.detail["met"] for w in plan.workouts]
    workout_steps = [w.detail["steps_per_minute"] for w in plan.workouts]
    mets: list[float] = []
    steps = 0
    times = [0, 0, 0, 0, 0, 0]
    met_minutes = [0.0, 0.0, 0.0, 0.0]
    for code, b in zip(codes, noise):
        if code == NON_WEAR:
            met = 0.1
            times[0] += 1
        elif code == REST:
            met = 1.0 if b < 40 else 0.9
            times[1] += 1
        elif code == SEDENTARY:
            met = (11 + b % 6) / 10
            steps += b % 5 if b % 4 == 0 else 0
            times[2] += 1
            met_minutes[0] += max(0.0, met - 1.5)
        elif code == LIGHT:
            met = (18 + b % 11) / 10
            steps += 15 + b % 30
            times[3] += 1
            met_minutes[1] += met - 1
        else:
            if code == WALK:
                met = (30 + b % 16) / 10
                steps += 95 + b % 25
            else:
                met = round(max(1.8, workout_mets[code - WORKOUT] + (b % 9 - 4) * 0.15), 1)
                steps += max(0, workout_steps[code - WORKOUT] + b % 11 - 5)
            level = 3 if met < 3 else 4 if met < 6 else 5
            times[level] += 1
            met_minutes[level - 2] += met - 1
        mets.append(met)
    return mets, steps, times, met_minutes


def _contributors(
    user: UserModel, day: int, rng, target_met: bool, alerts: int, times: list[int]
) -> dict:
    """The activity score's contributors (None where the history is too short for one);
    draws from `rng` in a fixed order (recovery, then volume)."""
    profile = user.profile
    days_in = day - profile.history_start
    yesterday_hard = sum(w.detail["intensity"] == "hard" for w in user.plan(day - 1).workouts)
    return {
        "meet_daily_targets": score(
            68 + 18 * user.smooth("targets")(day) + (8 if target_met else -8)
        ),
        "move_every_hour": score(100 - 11 * alerts),
        "recovery_time": score(99 - 22 * yesterday_hard + rng.gauss(0, 2))
        if days_in >= 1
        else None,
        "stay_active": score(150 - times[2] / 60 * 8),
        "training_frequency": score(
            55 + 9 * profile.workouts_per_week + 12 * user.smooth("training")(day)
        )
        if days_in >= 7
        else None,
        "training_volume": score(
            50 + 8 * profile.workouts_per_week + 15 * user.smooth("volume")(day) + rng.gauss(0, 3)
        )
        if days_in >= 7
        else None,
    }


def _paint(plan: DayPlan, rng, origin: int, revision: int) -> bytearray:
    codes = bytearray([SEDENTARY]) * MINUTES

    def paint(start: int, end: int, code: int) -> None:
        first = max(0, (start - origin) // 60)
        last = min(MINUTES, -(-(end - origin) // 60))
        if last > first:
            codes[first:last] = bytes([code]) * (last - first)

    wake = plan.night.end if plan.night.worn else plan.start + 7 * 3600
    bed = plan.next_night.start
    awake_span = max(1, bed - wake)
    for _ in range(rng.randint(10, 28)):
        start = wake + rng.randrange(awake_span)
        paint(start, start + rng.randint(2, 8) * 60, LIGHT)
    for _ in range(rng.randint(0, 4)):
        start = wake + rng.randrange(awake_span)
        paint(start, start + rng.randint(5, 25) * 60, WALK)
    if rng.random() < 0.35:  # ring off for a shower, the gym, the dishes
        start = wake + rng.randrange(awake_span)
        paint(start, start + rng.randint(10, 45) * 60, NON_WEAR)
    for k, workout in enumerate(plan.workouts):
        paint(workout.start, workout.end, WORKOUT + k)
    for span in plan.sleeps:
        paint(span.start, span.end, REST)
    paint(plan.night.start, plan.night.end, REST if plan.night.worn else NON_WEAR)
    paint(plan.next_night.start, plan.next_night.end, REST if plan.next_night.worn else NON_WEAR)
    if plan.charge is not None:
        paint(plan.charge.start, plan.charge.end, NON_WEAR)
    gap_start = wake + rng.randrange(awake_span)
    gap_minutes = rng.randint(60, 240)
    if revision < 3:  # minutes not yet synced from the ring
        paint(gap_start, gap_start + gap_minutes * (3 - revision) // 3 * 60, NON_WEAR)
    return codes


def _inactivity_alerts(codes: bytes) -> int:
    alerts = run = 0
    for minute, code in enumerate(codes):
        if code == SEDENTARY and minute in _DAYTIME:
            run += 1
            if run == 60:
                alerts += 1
                run = 0
        else:
            run = 0
    return alerts


def _classes(codes: bytes, mets: list[float]) -> str:
    classes = []
    for first in range(0, len(mets), 5):
        block = codes[first : first + 5]
        if block.count(NON_WEAR) * 2 > len(block):
            classes.append("0")
        elif block.count(REST) * 2 > len(block):
            classes.append("1")
        else:
            mean = sum(mets[first : first + 5]) / len(block)
            classes.append("2" if mean < 1.7 else "3" if mean < 3.0 else "4" if mean < 6.0 else "5")
    return "".join(classes)
