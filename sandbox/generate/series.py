"""Heart-rate and ring-battery rows of one local day, as sorted tuples.

A local day covers UTC [B(D), B(D+1)). Heart rate is irregular like the real ring's:
bursts seconds apart and gaps of minutes while awake; about one sample per 5 minutes
during sleep (the sleep document's 5-minute averages), labelled as real nights are:
mostly 'rest', some 'awake', rarely 'sleep' (`_night_labels`); 'rest' just before bed
and in rest periods; dense 'workout' and 'session' samples; rare 'live' readings;
nothing while the ring charges or was not worn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .events import SESSION_INTERVAL, session_samples
from .plan import INTENSITY_LEVEL, PRE_SLEEP_REST_SECONDS, DayPlan, Night, Span
from .randomness import clamp, stable_rng
from .staging import five_minute_summary

if TYPE_CHECKING:
    from .user import UserModel

NIGHTS_LABELLED_SLEEP = 0.025  # sleep periods whose asleep samples say `sleep`
AWAKE_EPOCH_LABELLED_AWAKE = 0.4
HeartRateRow = tuple[int, int, str]  # (epoch s, bpm, source)
BatteryRow = tuple[int, int, "bool | None", "bool | None"]  # (epoch s, level, charging, in_charger)


def heart_rate_rows(user: UserModel, day: int) -> list[HeartRateRow]:
    """All heart-rate rows of a local day, ascending by time."""
    plan = user.plan(day)
    rows: list[HeartRateRow] = []
    blocked: list[tuple[int, int]] = []

    for night, night_plan in ((plan.night, plan), (plan.next_night, None)):
        blocked.append((night.start - PRE_SLEEP_REST_SECONDS, night.end))
        if night.worn:
            rows += _pre_sleep_rest(user, night)
            owner = night_plan or user.plan(night.day)
            rows += _sleep_rows(user, owner, owner.sleeps[0])
    for span in plan.sleeps:
        if span.kind != "long_sleep":
            blocked.append((span.start, span.end))
            rows += _sleep_rows(user, plan, span)
    for span in plan.workouts:
        blocked.append((span.start, span.end))
        rows += _workout_rows(user, plan, span)
    for span in plan.sessions:
        blocked.append((span.start, span.end))
        heart = session_samples(user, day, span)[0]
        rows += [
            (span.start + i * SESSION_INTERVAL, int(v), "session")
            for i, v in enumerate(heart)
            if v is not None
        ]
    for span in plan.live:
        blocked.append((span.start, span.end))
        rng = stable_rng(user.seed, user.index, day, "hr-live", span.start)
        moment = span.start
        while moment < span.end:
            rows.append((moment, round(user.profile.awake_hr + rng.gauss(0, 3)), "live"))
            moment += rng.randint(1, 2)
    if plan.charge is not None:
        blocked.append((plan.charge.start, plan.charge.end))
    rows += _awake_rows(user, plan, blocked)
    rows = [row for row in rows if plan.start <= row[0] < plan.end]
    rows.sort()
    return rows


def _pre_sleep_rest(user: UserModel, night: Night) -> list[HeartRateRow]:
    rng = stable_rng(user.seed, user.index, night.day, "hr-pre-sleep")
    rows = []
    moment = night.start - PRE_SLEEP_REST_SECONDS + rng.randint(0, 120)
    while moment < night.start:
        rows.append((moment, round(user.profile.resting_hr + 14 + rng.gauss(0, 3)), "rest"))
        moment += rng.randint(150, 420)
    return rows


def _sleep_rows(user: UserModel, plan: DayPlan, span: Span) -> list[HeartRateRow]:
    core = user.sleep_core(plan.day, span.sequence)
    rng = stable_rng(user.seed, user.index, plan.day, "hr-sleep", span.sequence)
    labels = _night_labels(user, plan, span, five_minute_summary(core.staging))
    rows = []
    for i, value in enumerate(core.heart_rate):
        moment = span.start + i * 300 + rng.randint(0, 240)
        if value is not None and moment < span.end:
            rows.append((moment, int(value) + rng.choice((-1, 0, 0, 1)), labels[i]))
    return rows


def _night_labels(user: UserModel, plan: DayPlan, span: Span, hypnogram: str) -> list[str]:
    """The `source` of each 5-minute sample of a sleep period, as real data label them.

    Real nights are `rest`, with some `awake` (api-reference §12: 77 rest and 3 awake
    inside one long sleep, no `sleep`): here an awake epoch is `awake` 40% of the time.
    The spec's `sleep` value stays possible but rare: asleep epochs of about one period
    in 40 carry it. Its own random stream, so the samples' times and bpm do not move.
    """
    if span.kind in ("rest", "deleted"):
        return ["rest"] * len(hypnogram)
    rng = stable_rng(user.seed, user.index, plan.day, "hr-night-labels", span.sequence)
    asleep = "sleep" if rng.random() < NIGHTS_LABELLED_SLEEP else "rest"
    awake = ("awake", "rest")
    return [
        awake[rng.random() >= AWAKE_EPOCH_LABELLED_AWAKE] if stage == "4" else asleep
        for stage in hypnogram
    ]


def _workout_rows(user: UserModel, plan: DayPlan, span: Span) -> list[HeartRateRow]:
    rng = stable_rng(user.seed, user.index, plan.day, "hr-workout", span.sequence)
    profile = user.profile
    peak = 208 - 0.7 * profile.age
    target = profile.awake_hr + (peak - profile.awake_hr) * (
        0.55 + 0.35 * INTENSITY_LEVEL[span.detail["intensity"]]
    )
    bpm = float(profile.awake_hr)
    rows = []
    moment = span.start + rng.randint(0, 10)
    random = rng.random
    while moment < span.end:
        bpm += 0.12 * (target - bpm) + (random() + random() + random() - 1.5) * 4.0
        rows.append((moment, round(clamp(bpm, 60, peak)), "workout"))
        moment += 8 + int(random() * 13)
    return rows


def _awake_rows(
    user: UserModel, plan: DayPlan, blocked: list[tuple[int, int]]
) -> list[HeartRateRow]:
    rng = stable_rng(user.seed, user.index, plan.day, "hr-awake")
    random = rng.random  # hot loop: plain uniforms are several times cheaper than gauss/randint
    base = (
        user.profile.awake_hr + 3 * user.smooth("awake-hr")(plan.day) + (6 if plan.rest_mode else 0)
    )
    bpm = base
    boost = 0
    rows = []
    cursor = plan.start
    for start, end in sorted(blocked) + [(plan.end, plan.end)]:
        moment = cursor + int(random() * 90)
        stop = min(start, plan.end)
        while moment < stop:
            if boost == 0 and random() < 0.03:
                boost = 3 + int(random() * 10)  # stairs, a brisk walk
            target = base + 25 if boost else base
            if boost:
                boost -= 1
            bpm += 0.25 * (target - bpm) + (random() + random() + random() - 1.5) * 6.0
            rows.append((moment, round(max(48.0, min(bpm, 160.0))), "awake"))
            if random() < 0.7:
                moment += 1 + int(random() * 59)
            else:
                moment += min(2400, 60 + int(-160 * math.log(1.0 - random())))
        cursor = max(cursor, end)
    return rows


def battery_rows(user: UserModel, day: int) -> list[BatteryRow]:
    """Ring battery rows of a local day: every 5-30 min, every 2-5 min in the charger."""
    plan = user.plan(day)
    rng = stable_rng(user.seed, user.index, day, "battery")
    rows: list[BatteryRow] = []
    moment = plan.start + rng.randint(0, 600)
    while moment < plan.end:
        level, charging, in_charger = user.battery(moment)
        if rng.random() < 0.03:  # older firmware does not always report the charger state
            charging = in_charger = None
        rows.append((moment, int(level), charging, in_charger))
        moment += rng.randint(120, 300) if in_charger else rng.randint(300, 1800)
    return rows
