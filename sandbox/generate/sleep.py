"""Sleep periods, daily sleep scores and readiness, all derived from one night's staging.

As Oura does: the period is staged in 30-second epochs (`staging`), the stage durations
are counted from them (`total_sleep_duration` is deep + light + rem, `awake_time` the rest
of `time_in_bed`), and `sleep_phase_5_min` is their summary, so epochs x 300 s and the
durations disagree by a few minutes. `sleep_phase_30_sec` is left out of documents older
than `THIRTY_SECOND_STAGING_SINCE`, as it is from Oura's 2024 documents. The heart-rate/HRV
samples have one item per 5-minute epoch. The main (`long_sleep`) period carries the day's
readiness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from .plan import DayPlan, Span
from .randomness import clamp, score, stable_rng
from .staging import SUBEPOCH, five_minute_summary, revised, staging
from .timefmt import local_iso

if TYPE_CHECKING:
    from .user import UserModel

EPOCH = 300
# The first night whose document carries `sleep_phase_30_sec`. Oura's 2024 documents have
# none and spec 1.35 lists it; when it appeared is not documented: this date is ours.
THIRTY_SECOND_STAGING_SINCE = date(2025, 6, 1).toordinal()
SLEEP_WEIGHTS = {
    "total_sleep": 0.35,
    "efficiency": 0.10,
    "restfulness": 0.15,
    "rem_sleep": 0.10,
    "deep_sleep": 0.10,
    "latency": 0.10,
    "timing": 0.10,
}
READINESS_WEIGHTS = {
    "activity_balance": 0.10,
    "body_temperature": 0.05,
    "hrv_balance": 0.15,
    "previous_day_activity": 0.10,
    "previous_night": 0.15,
    "recovery_index": 0.10,
    "resting_heart_rate": 0.15,
    "sleep_balance": 0.15,
    "sleep_regularity": 0.05,
}
BASELINE_DAYS = 14  # days of history before balance/regularity contributors exist
_STAGE_HR = {"4": 7.0, "3": 3.0, "2": 1.0, "1": -1.5}
_STAGE_HRV = {"4": -8.0, "3": -4.0, "2": 0.0, "1": 3.0}
# Per 30-second stage: 256-entry tables turning one random byte into a movement code.
_MOVEMENT = {
    stage: "".join("1" * a + "2" * b + "3" * c + "4" * (256 - a - b - c))
    for stage, (a, b, c) in {
        "4": (90, 80, 64),
        "3": (240, 13, 3),
        "2": (236, 15, 5),
        "1": (250, 6, 0),
    }.items()
}


def weighted_score(contributors: dict, weights: dict[str, float]) -> int | None:
    """Score = weighted mean of the non-null contributors, rounded and clamped to 1..100."""
    total = weight = 0.0
    for key, w in weights.items():
        value = contributors.get(key)
        if value is not None:
            total += value * w
            weight += w
    return score(total / weight) if weight else None


@dataclass(frozen=True)
class SleepCore:
    """Revision-independent facts of one sleep period."""

    staging: str  # settled 30-second stages
    heart_rate: tuple[float | None, ...]
    hrv: tuple[float | None, ...] | None
    breath: float | None
    analysis_reason: str


def sleep_core(user: UserModel, plan: DayPlan, span: Span) -> SleepCore:
    """Generate the 30-second staging and the 5-minute samples of a sleep period."""
    rng = stable_rng(user.seed, user.index, plan.day, "sleep-core", span.sequence)
    epochs = math.ceil((span.end - span.start) / EPOCH)
    hypnogram = _hypnogram(rng, span.kind, epochs)  # the stage plan on the 5-minute grid
    stages = staging(
        stable_rng(user.seed, user.index, plan.day, "sleep-staging", span.sequence),
        hypnogram,
        math.ceil((span.end - span.start) / SUBEPOCH),
    )
    profile = user.profile
    shift = 3 * user.smooth("rhr")(plan.day) + (6 if plan.rest_mode else 0)
    low = profile.resting_hr + shift + (6 if span.kind != "long_sleep" else 0)
    hr: list[float | None] = []
    hrv: list[float | None] = []
    for i, stage in enumerate(hypnogram):
        frac = i / epochs
        curve = 9 * (1 - frac / 0.55) if frac < 0.55 else 7 * (frac - 0.55) / 0.45
        hr.append(float(round(low + curve + _STAGE_HR[stage] + rng.gauss(0, 1.3))))
        variability = profile.hrv_base * (0.7 + 0.6 * frac) + _STAGE_HRV[stage]
        hrv.append(float(max(5, round(variability + rng.gauss(0, profile.hrv_base * 0.18)))))
    gap = 0
    for i in range(epochs):  # movement artefacts: short runs of missing samples
        if gap == 0 and (i == 0 and rng.random() < 0.5 or rng.random() < 0.025):
            gap = rng.randint(1, 6)
        if gap:
            hr[i] = hrv[i] = None
            gap -= 1
        elif rng.random() < 0.02:
            hrv[i] = None
    reason = rng.choices(
        (
            "background_created_foreground_updated",
            "foreground_sleep_analysis",
            "background_sleep_analysis",
            "bedtime_edit",
        ),
        (70, 15, 10, 5),
    )[0]
    return SleepCore(
        staging=stages,
        heart_rate=tuple(hr),
        hrv=None if span.kind == "rest" else tuple(hrv),
        breath=None
        if span.kind == "deleted"
        else round((profile.breath_base + rng.gauss(0, 0.4)) * 8) / 8,
        analysis_reason="bedtime_edit" if span.kind == "deleted" else reason,
    )


def _hypnogram(rng, kind: str, epochs: int) -> str:
    if kind == "rest":
        stages = ["4" if rng.random() < 0.6 else "2" for _ in range(epochs)]
        stages[max(0, epochs // 2 - 1)] = "2"
        stages[-1] = "4"
        return "".join(stages)
    main = kind == "long_sleep"
    latency = (
        max(1, min(epochs // 4, round(rng.lognormvariate(1.0, 0.5)))) if main else rng.randint(1, 2)
    )
    tail = rng.choice((1, 1, 2)) if main else 1
    cycle = rng.uniform(17.0, 20.0)
    stages: list[str] = []
    for i in range(epochs):
        if i < latency or i >= epochs - tail:
            stages.append("4")
            continue
        prev = stages[-1]
        if (
            prev != "4"
            and rng.random() < 0.55
            or prev == "4"
            and i > latency
            and rng.random() < 0.45
        ):
            stages.append(prev)
            continue
        frac = i / epochs
        pos = ((i - latency) / cycle) % 1.0
        awake = 0.04 + 0.07 * frac
        if not main:
            deep, rem = 0.2, 0.05
        elif pos < 0.12:
            deep, rem = 0.05, 0.0
        elif pos < 0.55:
            deep, rem = 0.95 * (1 - frac) ** 1.1, 0.0
        elif pos < 0.72:
            deep, rem = 0.05 * (1 - frac), 0.05
        else:
            deep, rem = 0.0, 0.35 + 0.5 * frac
        u = rng.random()
        stages.append(
            "4"
            if u < awake
            else "1"
            if u < awake + deep
            else "3"
            if u < awake + deep + rem
            else "2"
        )
    if "1" not in stages and "2" not in stages and "3" not in stages:
        stages[len(stages) // 2 if len(stages) > 1 else 0] = "2"
        stages[-1] = "4" if len(stages) > 1 else stages[-1]
    return "".join(stages)


def _smoothed(hypnogram: str) -> str:
    stages = list(hypnogram)
    for i in range(1, len(stages) - 1):
        if stages[i - 1] == stages[i + 1] != stages[i] != "4":
            stages[i] = stages[i - 1]
    return "".join(stages)


def _sample(items, start: int, offset: int) -> dict | None:
    if items is None:
        return None
    return {
        "interval": float(EPOCH),
        "items": list(items),
        "timestamp": local_iso(start, offset, millis=True),
    }


def sleep_document(
    user: UserModel, plan: DayPlan, span: Span, core: SleepCore, revision: int
) -> dict:
    """A PublicModifiedSleepModel document (readiness filled in by `main_sleep`)."""
    rng = stable_rng(user.seed, user.index, plan.day, "sleep-doc", span.sequence, revision)
    phases_30 = revised(core.staging, rng, revision)
    hypnogram = five_minute_summary(phases_30)
    time_in_bed = span.end - span.start
    noise = rng.randbytes(len(phases_30))
    movement = "".join([_MOVEMENT[stage][b] for stage, b in zip(phases_30, noise)])
    deep, light, rem = (phases_30.count(code) * SUBEPOCH for code in "123")
    total = deep + light + rem
    first_asleep = next((i for i, s in enumerate(phases_30) if s != "4"), None)
    hr_values = [v for v in core.heart_rate if v is not None]
    hrv_values = [v for v in (core.hrv or ()) if v is not None]
    main = span.kind == "long_sleep"
    naplike = span.kind in ("sleep", "late_nap")
    reason = core.analysis_reason
    if revision < 2 and reason == "background_created_foreground_updated":
        reason = "background_sleep_analysis"
    document = {
        "id": user.doc_id("sleep", plan.day, span.sequence),
        "average_breath": core.breath,
        "average_heart_rate": round(sum(hr_values) / len(hr_values) * 8) / 8 if hr_values else None,
        "average_hrv": round(sum(hrv_values) / len(hrv_values)) if hrv_values else None,
        "awake_time": time_in_bed - total,
        "bedtime_end": local_iso(span.end, plan.offset),
        "bedtime_start": local_iso(span.start, plan.offset),
        "day": plan_day_iso(plan),
        "deep_sleep_duration": deep,
        "efficiency": score(100 * total / time_in_bed),
        "heart_rate": _sample(core.heart_rate, span.start, plan.offset),
        "hrv": _sample(core.hrv, span.start, plan.offset),
        "latency": None if first_asleep is None else first_asleep * SUBEPOCH,
        "light_sleep_duration": light,
        "low_battery_alert": user.battery(span.end)[0] < 10,
        "lowest_heart_rate": int(min(hr_values)) if hr_values else None,
        "movement_30_sec": movement,
        "period": span.sequence,
        "readiness": None,
        "readiness_score_delta": 0 if main else rng.randint(0, 2) if naplike else None,
        "rem_sleep_duration": rem,
        "restless_periods": round((len(movement) - movement.count("1")) * 1.5),
        "sleep_algorithm_version": "v2",
        "sleep_analysis_reason": reason,
        "sleep_phase_30_sec": phases_30,
        "sleep_phase_5_min": hypnogram,
        "sleep_score_delta": 0 if main else rng.randint(0, 3) if naplike else None,
        "time_in_bed": time_in_bed,
        "total_sleep_duration": total,
        "type": span.kind,
        "ring_id": user.ring(plan.day).ring_id,
        "app_sleep_phase_5_min": _smoothed(hypnogram),
    }
    if plan.day < THIRTY_SECOND_STAGING_SINCE:
        del document["sleep_phase_30_sec"]
    return document


def plan_day_iso(plan: DayPlan) -> str:
    """ISO date of a plan's local day."""
    return date.fromordinal(plan.day).isoformat()


def sleep_contributors(doc: dict, plan: DayPlan) -> dict:
    """Daily sleep contributors of a main sleep document."""
    latency_minutes = (doc["latency"] or 0) / 60
    if latency_minutes <= 12:
        latency = 55 + latency_minutes * 3.75
    else:
        latency = 100 - (latency_minutes - 12) * 1.4
    bed_start = (plan.night.start - plan.start) / 60
    midpoint = (
        bed_start + doc["time_in_bed"] / 120
    )  # minutes after local midnight; ideal 00:00-03:00
    return {
        "deep_sleep": score(100 - max(0.0, 85 - doc["deep_sleep_duration"] / 60) * 0.9),
        "efficiency": score(100 - (95 - doc["efficiency"]) * 1.8),
        "latency": score(latency),
        "rem_sleep": score(100 - (105 - doc["rem_sleep_duration"] / 60) * 0.96),
        "restfulness": score(108 - doc["restless_periods"] * 0.1875),
        "timing": score(100 - max(0.0, abs(midpoint - 90) - 90) / 60 * 12),
        "total_sleep": score(100 - (8 - doc["total_sleep_duration"] / 3600) * 18),
    }


def readiness(
    user, plan: DayPlan, doc: dict, sleep_score: int | None, revision: int
) -> dict | None:
    """The PublicReadiness object of a main sleep (None during the first two days)."""
    days_in = plan.day - user.profile.history_start
    if days_in < 2:
        return None
    rng = stable_rng(user.seed, user.index, plan.day, "readiness")
    sick = plan.rest_mode is not None
    temperature = None
    if rng.random() >= 0.015:
        temperature = (
            rng.gauss(0, 0.16)
            + 0.12 * user.smooth("temperature")(plan.day)
            + (0.8 if sick else 0.0)
        )
    trend = None
    if temperature is not None and days_in >= 7:
        trend = 0.4 * temperature + rng.gauss(0, 0.05)
    contributors = _readiness_contributors(user, plan, doc, sleep_score, rng, temperature, sick)
    if revision < 3:
        shift = stable_rng(user.seed, user.index, plan.day, "readiness-rev", revision)
        for key, value in contributors.items():
            if value is not None:
                contributors[key] = score(value + shift.randint(-1, 1) * (3 - revision))
        if temperature is not None:
            temperature += shift.choice((-0.01, 0.01)) * (3 - revision)
    return {
        "contributors": contributors,
        "score": weighted_score(contributors, READINESS_WEIGHTS),
        "temperature_deviation": None
        if temperature is None
        else round(clamp(temperature, -2.5, 2.5), 2),
        "temperature_trend_deviation": None if trend is None else round(trend, 2),
    }


def _readiness_contributors(
    user, plan: DayPlan, doc: dict, sleep_score: int | None, rng, temperature, sick: bool
) -> dict:
    """Readiness contributors of a night (None where there is no data or no baseline yet);
    draws from `rng` in the order of the keys."""
    days_in = plan.day - user.profile.history_start
    hr = doc["heart_rate"]["items"] if doc["heart_rate"] else []
    values = [v for v in hr if v is not None]
    lowest_at = hr.index(min(values)) / len(hr) if values else 0.5
    baseline = days_in >= BASELINE_DAYS
    return {
        "activity_balance": score(
            72 + 16 * user.smooth("activity_balance")(plan.day) + rng.gauss(0, 6)
        ),
        "body_temperature": None
        if temperature is None
        else score(100 - max(0.0, abs(temperature) - 0.15) * 70),
        "hrv_balance": score(
            68 + 18 * user.smooth("hrv")(plan.day) + rng.gauss(0, 7) - (15 if sick else 0)
        )
        if baseline
        else None,
        "previous_day_activity": score(
            76 + 14 * user.smooth("previous_day")(plan.day) + rng.gauss(0, 9)
        ),
        "previous_night": None if sleep_score is None else score(sleep_score + rng.gauss(0, 5)),
        "recovery_index": score(100 - max(0.0, lowest_at - 0.45) * 150 + rng.gauss(0, 4)),
        "resting_heart_rate": None
        if doc["lowest_heart_rate"] is None
        else score(92 - 6 * (doc["lowest_heart_rate"] - user.profile.resting_hr) + rng.gauss(0, 3)),
        "sleep_balance": score(66 + 18 * user.smooth("sleep_balance")(plan.day) + rng.gauss(0, 4))
        if baseline
        else None,
        "sleep_regularity": score(72 + 16 * user.smooth("regularity")(plan.day) + rng.gauss(0, 5))
        if baseline
        else None,
    }


@dataclass
class DaySleep:
    """All sleep documents of a day plus what daily_sleep/daily_readiness need."""

    documents: list[dict]  # sequence == period
    contributors: dict | None  # daily sleep contributors of the main sleep
    score: int | None


def day_sleep(user: UserModel, plan: DayPlan, revision: int) -> DaySleep:
    """Build every sleep document of a local day at a revision."""
    documents, contributors, total = [], None, None
    for span in plan.sleeps:
        doc = sleep_document(user, plan, span, user.sleep_core(plan.day, span.sequence), revision)
        if span.kind == "long_sleep":
            contributors = sleep_contributors(doc, plan)
            total = weighted_score(contributors, SLEEP_WEIGHTS)
            doc["readiness"] = readiness(user, plan, doc, total, revision)
        documents.append(doc)
    return DaySleep(documents, contributors, total)


def sleep_entries(user: UserModel, day: int, revision: int) -> list[tuple[int, int, dict]]:
    """Sleep periods of a day, each available at its bedtime_end."""
    plan = user.plan(day)
    bundle = user.day_sleep(day, revision)
    return [(span.sequence, span.end, doc) for span, doc in zip(plan.sleeps, bundle.documents)]


def _main(bundle: DaySleep) -> dict | None:
    return next((doc for doc in bundle.documents if doc["type"] == "long_sleep"), None)


def daily_sleep_entries(user: UserModel, day: int, revision: int) -> list[tuple[int, int, dict]]:
    """The day's sleep score, derived from its main sleep (none without one)."""
    bundle = user.day_sleep(day, revision)
    main = _main(bundle)
    if main is None:
        return []
    document = {
        "id": user.doc_id("daily_sleep", day, 0),
        "contributors": dict(bundle.contributors),
        "day": main["day"],
        "score": bundle.score,
        "timestamp": f"{main['day']}T00:00:00+00:00",
    }
    return [(0, user.plan(day).night.end, document)]


def daily_readiness_entries(
    user: UserModel, day: int, revision: int
) -> list[tuple[int, int, dict]]:
    """The day's readiness: the main sleep's readiness object as its own document."""
    main = _main(user.day_sleep(day, revision))
    if main is None or main["readiness"] is None:
        return []
    document = {
        "id": user.doc_id("daily_readiness", day, 0),
        **main["readiness"],
        "contributors": dict(main["readiness"]["contributors"]),
        "day": main["day"],
        "timestamp": f"{main['day']}T00:00:00+00:00",
    }
    return [(0, user.plan(day).night.end, document)]
