with workouts as (

    select * from {{ ref('stg_oura__workouts') }}

),

heart_rate as (

    select * from {{ ref('heart_rate_samples') }}

),

-- Each workout once per UTC day it touches (usually one), so that samples are matched
-- by user and day (an equality join; heart_rate_samples' partition on BigQuery) and only
-- then by instant. On the user and the instant range alone, DuckDB hash-joins on the user
-- and compares every workout with every sample of that user (600 x 900,000 for 3 years).
workout_days as (

    {{ oura.explode_index_series(
        relation='workouts',
        columns=['workout_id', 'user_id', 'started_at', 'ended_at', oura.utc_date('started_at') ~ ' as first_date'],
        count_expr=dbt.datediff(oura.utc_date('started_at'), oura.utc_date('ended_at'), 'day') ~ ' + 1',
        index_alias='day_offset',
    ) }}

),

workout_dates as (

    select
        workout_id,
        user_id,
        started_at,
        ended_at,
        {{ oura.add_days('first_date', 'day_offset') }} as measured_date
    from workout_days

),

workout_heart_rate as (

    select
        workout_dates.workout_id,
        count(heart_rate.heart_rate_bpm) as heart_rate_sample_count,
        avg(heart_rate.heart_rate_bpm) as average_heart_rate_bpm,
        max(heart_rate.heart_rate_bpm) as max_heart_rate_bpm
    from workout_dates
    inner join heart_rate
        on heart_rate.user_id = workout_dates.user_id
        and heart_rate.measured_date = workout_dates.measured_date
        and heart_rate.measured_at >= workout_dates.started_at
        and heart_rate.measured_at <= workout_dates.ended_at
    group by workout_dates.workout_id

)

select
    workouts.workout_id,
    workouts.user_id,
    workouts.workout_date,
    workouts.activity,
    workouts.intensity,
    workouts.workout_source,
    workouts.label,
    workouts.started_at,
    workouts.started_utc_offset,
    {{ oura.local_datetime('workouts.started_at', 'workouts.started_utc_offset') }} as started_local,
    workouts.ended_at,
    workouts.ended_utc_offset,
    {{ oura.seconds_between('workouts.started_at', 'workouts.ended_at') }} as duration_seconds,
    workouts.calories_kcal,
    workouts.distance_meters,
    coalesce(workout_heart_rate.heart_rate_sample_count, 0) as heart_rate_sample_count,
    workout_heart_rate.average_heart_rate_bpm,
    workout_heart_rate.max_heart_rate_bpm
from workouts
left join workout_heart_rate
    on workout_heart_rate.workout_id = workouts.workout_id
