"""What the report shows, read from the marts (`oura_marts.*`) with DuckDB SQL.

Every function takes a connection from `marts.open_marts` and returns plain Python:
`Series` (named columns of equal length) for charts and lists of dicts for tables.
Days are the user's local days as the marts give them; clock times are local wall-clock
times (`*_local` columns, or UTC instants shifted by the offset the marts carry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from oura_elt.report.marts import SCHEMA

# A 7-day rolling mean is shown only where at least this many of the 7 days have a value.
ROLLING_MIN_DAYS = 4
SLEEP_PHASES = ("deep", "light", "rem", "awake")

Series = dict[str, list[Any]]


def _series(con: Any, sql: str, params: list[Any]) -> Series:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _records(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _rolling(column: str, name: str) -> str:
    window = (
        "over (order by d.summary_date range between interval 6 days preceding and current row)"
    )
    return (
        f"case when count(d.{column}) {window} >= {ROLLING_MIN_DAYS} "
        f"then avg(d.{column}) {window} end as {name}"
    )


def _hours(local_time: str, day: str) -> str:
    """SQL: hours from the midnight that starts `day` to the wall-clock time `local_time`."""
    return f"epoch({local_time} - cast({day} as timestamp)) / 3600.0"


def daily(con: Any, user_id: str, first: date, last: date) -> Series:
    """One row per day in [first, last]: scores, their 7-day means, HRV, heart rate, sleep.

    Rolling means look back 6 days before `first`, so the first days of the range have
    full windows. `bedtime_hours` and `wake_hours` are the night's start and end in hours
    from the local midnight that starts its day (23:30 the evening before is -0.5), for
    days whose main sleep is a long sleep (a day whose only sleep was a nap has no bedtime).
    """
    sql = f"""
        with days as (
            select d.*,
                {_rolling("sleep_score", "sleep_score_7d")},
                {_rolling("readiness_score", "readiness_score_7d")},
                {_rolling("activity_score", "activity_score_7d")},
                {_rolling("average_hrv_ms", "average_hrv_ms_7d")},
                {_rolling("lowest_heart_rate_bpm", "lowest_heart_rate_bpm_7d")},
                {_rolling("total_sleep_seconds", "total_sleep_seconds_7d")}
            from {SCHEMA}.daily_summary as d
            where d.user_id = ? and d.summary_date between ? - interval 6 days and ?
        )
        select
            days.summary_date, days.sleep_score, days.readiness_score, days.activity_score,
            days.sleep_score_7d, days.readiness_score_7d, days.activity_score_7d,
            days.average_hrv_ms, days.average_hrv_ms_7d,
            days.lowest_heart_rate_bpm, days.lowest_heart_rate_bpm_7d,
            days.total_sleep_seconds / 3600.0 as total_sleep_hours,
            days.total_sleep_seconds_7d / 3600.0 as total_sleep_hours_7d,
            days.steps, days.active_kcal,
            case when days.main_sleep_type = 'long_sleep'
                then {_hours("p.bedtime_start_local", "days.summary_date")} end as bedtime_hours,
            case when days.main_sleep_type = 'long_sleep'
                then {_hours("p.bedtime_end_local", "days.summary_date")} end as wake_hours
        from days
        left join {SCHEMA}.sleep_periods as p on p.sleep_period_id = days.main_sleep_period_id
        where days.summary_date >= ?
        order by days.summary_date
    """
    return _series(con, sql, [user_id, first, last, first])


@dataclass
class Headline:
    """The numbers at the top of a person's section.

    `latest` maps a metric to (value, the day it is from): the last day in the range with
    a value. `averages` are means over the range; `sleep_timing` holds the standard
    deviations (minutes) of bedtime and wake-up time over the range's nights (main
    sleeps that are long sleeps: a nap is no bedtime).
    """

    latest: dict[str, tuple[Any, date]] = field(default_factory=dict)
    averages: dict[str, float | None] = field(default_factory=dict)
    sleep_timing: dict[str, float | None] = field(default_factory=dict)
    days_with_data: int = 0


LATEST_METRICS = {
    "sleep-score": "sleep_score",
    "readiness-score": "readiness_score",
    "activity-score": "activity_score",
    "hrv": "average_hrv_ms",
    "lowest-heart-rate": "lowest_heart_rate_bpm",
}


def headline(con: Any, user_id: str, first: date, last: date) -> Headline:
    """Latest values, range averages and sleep-timing consistency of one person."""
    result = Headline()
    for metric, column in LATEST_METRICS.items():
        row = con.execute(
            f"select {column}, summary_date from {SCHEMA}.daily_summary "
            f"where user_id = ? and summary_date between ? and ? and {column} is not null "
            "order by summary_date desc limit 1",
            [user_id, first, last],
        ).fetchone()
        if row:
            result.latest[metric] = (row[0], row[1])
    averages = _records(
        con,
        f"""
        select count(*) as days_with_data,
               avg(sleep_score) as sleep_score, avg(readiness_score) as readiness_score,
               avg(activity_score) as activity_score, avg(average_hrv_ms) as hrv,
               avg(lowest_heart_rate_bpm) as lowest_heart_rate,
               avg(total_sleep_seconds) / 3600.0 as sleep_hours, avg(steps) as steps
        from {SCHEMA}.daily_summary where user_id = ? and summary_date between ? and ?
    """,
        [user_id, first, last],
    )[0]
    result.days_with_data = averages.pop("days_with_data")
    result.averages = averages
    result.sleep_timing = _records(
        con,
        f"""
        select stddev_samp({_hours("p.bedtime_start_local", "d.summary_date")}) * 60
                   as bedtime_sd_minutes,
               stddev_samp({_hours("p.bedtime_end_local", "d.summary_date")}) * 60
                   as wake_sd_minutes,
               count(p.sleep_period_id) as nights
        from {SCHEMA}.daily_summary as d
        join {SCHEMA}.sleep_periods as p on p.sleep_period_id = d.main_sleep_period_id
        where d.user_id = ? and d.summary_date between ? and ? and d.main_sleep_type = 'long_sleep'
    """,
        [user_id, first, last],
    )[0]
    return result


def nights_with_epochs(
    con: Any, user_id: str, first: date | None = None, last: date | None = None
) -> list[date]:
    """Days whose main sleep has a hypnogram (rows in sleep_epochs), oldest first."""
    return [
        day
        for (day,) in con.execute(
            f"select distinct sleep_date from {SCHEMA}.sleep_epochs "
            "where user_id = ? and is_main_sleep "
            "and sleep_date between coalesce(?, date '0001-01-01') "
            "and coalesce(?, date '9999-12-31') order by sleep_date",
            [user_id, first, last],
        ).fetchall()
    ]


@dataclass
class Night:
    """The main sleep of one day and its epochs (30-second, or 5-minute in older documents)."""

    sleep_date: date
    utc_offset: str
    bedtime_start_local: datetime
    bedtime_end_local: datetime
    total_sleep_hours: float | None
    lowest_heart_rate_bpm: float | None
    average_hrv_ms: float | None
    epochs: Series


def night(con: Any, user_id: str, sleep_date: date) -> Night | None:
    """The main sleep that ended on `sleep_date`, with its hypnogram, heart rate and HRV."""
    row = con.execute(
        "select bedtime_start_utc_offset, bedtime_start_local, bedtime_end_local, "
        "total_sleep_seconds / 3600.0, lowest_heart_rate_bpm, average_hrv_ms "
        f"from {SCHEMA}.sleep_periods "
        "where user_id = ? and sleep_date = ? and is_main_sleep",
        [user_id, sleep_date],
    ).fetchone()
    if row is None:
        return None
    epochs = _series(
        con,
        f"""
        select epoch_start_local, epoch_seconds, sleep_phase, heart_rate_bpm, hrv_ms
        from {SCHEMA}.sleep_epochs where user_id = ? and sleep_date = ? and is_main_sleep
        order by epoch_index
    """,
        [user_id, sleep_date],
    )
    if not epochs["epoch_start_local"]:
        return None
    return Night(sleep_date, row[0] or "+00:00", row[1], row[2], row[3], row[4], row[5], epochs)


def parse_offset(text: str | None) -> timedelta:
    """ "+05:30" -> 5 h 30 min; None or unreadable -> zero (UTC)."""
    try:
        sign = -1 if text[0] == "-" else 1
        hours, minutes = text[1:].split(":")
        return sign * timedelta(hours=int(hours), minutes=int(minutes))
    except (TypeError, ValueError, IndexError):
        return timedelta(0)


@dataclass
class DayHeartRate:
    """Heart-rate samples, sleep periods and workouts of one local calendar day."""

    day: date
    utc_offset: str
    samples: Series  # measured_local, heart_rate_bpm, heart_rate_source
    workouts: list[dict[str, Any]]
    # Sleep periods touching the day (not deleted), local at `utc_offset`: Oura labels most
    # night samples `rest`, so the samples' source alone does not show when the person slept.
    sleeps: list[dict[str, Any]] = field(default_factory=list)


def day_heart_rate(con: Any, user_id: str, day: date, utc_offset: str) -> DayHeartRate:
    """Every heart-rate sample of the local day `day` (times shifted by `utc_offset`)."""
    shift = parse_offset(utc_offset)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - shift
    end = start + timedelta(days=1)
    rows = con.execute(
        f"""
        select measured_at, heart_rate_bpm, heart_rate_source from {SCHEMA}.heart_rate_samples
        where user_id = ? and measured_date between ? and ? and measured_at >= ? and measured_at < ?
        order by measured_at
    """,
        [user_id, start.date(), end.date(), start, end],
    ).fetchall()
    samples: Series = {
        "measured_local": [(at + shift).replace(tzinfo=None) for at, _, _ in rows],
        "heart_rate_bpm": [bpm for _, bpm, _ in rows],
        "heart_rate_source": [source for _, _, source in rows],
    }
    workouts = _records(
        con,
        f"""
        select activity, intensity, started_local,
               started_local + duration_seconds * interval 1 second as ended_local,
               duration_seconds, average_heart_rate_bpm
        from {SCHEMA}.workouts
        where user_id = ? and workout_date = ?
            and started_local is not null and duration_seconds is not null
        order by started_at
    """,
        [user_id, day],
    )
    sleeps = [
        {
            "sleep_type": kind,
            "started_local": (begin + shift).replace(tzinfo=None),
            "ended_local": (finish + shift).replace(tzinfo=None),
        }
        for kind, begin, finish in con.execute(
            f"""
            select sleep_type, bedtime_start_at, bedtime_end_at from {SCHEMA}.sleep_periods
            where user_id = ? and not is_deleted and sleep_date between ? and ?
                and bedtime_start_at < ? and bedtime_end_at > ?
            order by bedtime_start_at
        """,
            [user_id, day, day + timedelta(days=1), end, start],
        ).fetchall()
    ]
    return DayHeartRate(day, utc_offset, samples, workouts, sleeps)


def weekly(con: Any, user_id: str, first: date, last: date) -> list[dict[str, Any]]:
    """One row per calendar week (Monday first) in the range, newest first."""
    return _records(
        con,
        f"""
        with weeks as (
            select date_trunc('week', summary_date)::date as week_start, count(*) as days,
                   avg(sleep_score) as sleep_score, avg(readiness_score) as readiness_score,
                   avg(activity_score) as activity_score,
                   avg(total_sleep_seconds) / 3600.0 as sleep_hours, avg(average_hrv_ms) as hrv_ms,
                   avg(lowest_heart_rate_bpm) as lowest_heart_rate_bpm,
                   avg(steps) as steps
            from {SCHEMA}.daily_summary where user_id = ? and summary_date between ? and ?
            group by all
        ),
        workouts as (
            select date_trunc('week', workout_date)::date as week_start, count(*) as workouts,
                   sum(duration_seconds) / 3600.0 as workout_hours
            from {SCHEMA}.workouts where user_id = ? and workout_date between ? and ?
            group by all
        )
        select weeks.*, coalesce(workouts.workouts, 0) as workouts,
               coalesce(workouts.workout_hours, 0) as workout_hours
        from weeks left join workouts using (week_start)
        order by week_start desc
    """,
        [user_id, first, last, user_id, first, last],
    )


@dataclass
class Relationship:
    """Two daily measures of one person side by side, with Pearson's r over the pairs.

    `x_is_clock`: x is a time of day in hours from midnight (charts label it as a clock).
    """

    key: str
    title: str
    x_label: str
    y_label: str
    x: list[float]
    y: list[float]
    days: list[date]
    r: float | None
    n: int
    x_is_clock: bool = False


class RelationshipSpec(NamedTuple):
    """A pair of daily measures; in the SQL, `d` is the day and `prev` the day before."""

    key: str
    title: str
    x_label: str
    y_label: str
    x_sql: str
    y_sql: str
    x_is_clock: bool = False


RELATIONSHIPS = (
    RelationshipSpec(
        "readiness-vs-prev-activity",
        "Readiness vs the previous day's activity",
        "activity score, previous day",
        "readiness score",
        "prev.activity_score",
        "d.readiness_score",
    ),
    RelationshipSpec(
        "hrv-vs-prev-steps",
        "Night HRV vs the previous day's steps",
        "steps, previous day (thousands)",
        "average HRV (ms)",
        "prev.steps / 1000.0",
        "d.average_hrv_ms",
    ),
    RelationshipSpec(
        "sleep-score-vs-bedtime",
        "Sleep score vs bedtime",
        "bedtime",
        "sleep score",
        "case when d.main_sleep_type = 'long_sleep' "
        f"then {_hours('p.bedtime_start_local', 'd.summary_date')} end",
        "d.sleep_score",
        x_is_clock=True,
    ),
)


def relationships(con: Any, user_id: str, first: date, last: date) -> list[Relationship]:
    """The pairs in `RELATIONSHIPS` over the range (a day counts only with both values)."""
    found = []
    for spec in RELATIONSHIPS:
        pairs = con.execute(
            f"""
            select d.summary_date, {spec.x_sql} as x, {spec.y_sql} as y
            from {SCHEMA}.daily_summary as d
            left join {SCHEMA}.daily_summary as prev
                on prev.user_id = d.user_id and prev.summary_date = d.summary_date - interval 1 day
            left join {SCHEMA}.sleep_periods as p on p.sleep_period_id = d.main_sleep_period_id
            where d.user_id = ? and d.summary_date between ? and ?
                and x is not null and y is not null
            order by d.summary_date
        """,
            [user_id, first, last],
        ).fetchall()
        xs, ys = [float(x) for _, x, _ in pairs], [float(y) for _, _, y in pairs]
        found.append(
            Relationship(
                spec.key,
                spec.title,
                spec.x_label,
                spec.y_label,
                xs,
                ys,
                [d for d, _, _ in pairs],
                pearson(xs, ys),
                len(pairs),
                spec.x_is_clock,
            )
        )
    return found


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation coefficient; None below 3 pairs or when a side is constant."""
    n = len(xs)
    if n < 3:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / (sxx * syy) ** 0.5


def cohort(con: Any, user_ids: list[str], first: date, last: date) -> Series:
    """7-day rolling readiness and sleep score per person and day, for the overview."""
    placeholders = ", ".join("?" for _ in user_ids)
    window = (
        "over (partition by user_id order by summary_date "
        "range between interval 6 days preceding and current row)"
    )
    return _series(
        con,
        f"""
        select * from (
            select user_id, summary_date,
                   case when count(readiness_score) {window} >= {ROLLING_MIN_DAYS}
                        then avg(readiness_score) {window} end as readiness_score_7d,
                   case when count(sleep_score) {window} >= {ROLLING_MIN_DAYS}
                        then avg(sleep_score) {window} end as sleep_score_7d
            from {SCHEMA}.daily_summary
            where user_id in ({placeholders}) and summary_date between ? - interval 6 days and ?
        ) where summary_date >= ?
        order by user_id, summary_date
    """,
        [*user_ids, first, last, first],
    )
