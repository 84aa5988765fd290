with workouts as (

    select * from {{ ref('stg_oura__workouts') }}

),

heart_rate as (

    select * from {{ ref('stg_oura__heart_rate_samples') }}

),

workout_heart_rate as (

    select
        workouts.workout_id,
        count(heart_rate.heart_rate_bpm) as heart_rate_sample_count,
        avg(heart_rate.heart_rate_bpm) as average_heart_rate_bpm,
        max(heart_rate.heart_rate_bpm) as max_heart_rate_bpm
    from workouts
    inner join heart_rate
        on heart_rate.user_id = workouts.user_id
        and heart_rate.measured_at >= workouts.started_at
        and heart_rate.measured_at <= workouts.ended_at
    group by workouts.workout_id

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
