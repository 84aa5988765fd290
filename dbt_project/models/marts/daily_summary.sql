with user_days as (

    select * from {{ ref('int_user_days_unioned') }}

),

activity as (
    {{ oura.one_per_day(ref('stg_oura__daily_activities'), 'activity_date', 'daily_activity_id') }}
),

readiness as (
    {{ oura.one_per_day(ref('stg_oura__daily_readiness_scores'), 'readiness_date', 'daily_readiness_id') }}
),

sleep_scores as (
    {{ oura.one_per_day(ref('stg_oura__daily_sleep_scores'), 'sleep_date', 'daily_sleep_id') }}
),

spo2 as (
    {{ oura.one_per_day(ref('stg_oura__daily_spo2_averages'), 'spo2_date', 'daily_spo2_id') }}
),

stress as (
    {{ oura.one_per_day(ref('stg_oura__daily_stress_summaries'), 'stress_date', 'daily_stress_id') }}
),

resilience as (
    {{ oura.one_per_day(ref('stg_oura__daily_resilience_levels'), 'resilience_date', 'daily_resilience_id') }}
),

cardiovascular as (
    {{ oura.one_per_day(ref('stg_oura__daily_cardiovascular_ages'), 'cardiovascular_age_date', 'daily_cardiovascular_age_id') }}
),

vo2_max as (
    {{ oura.one_per_day(ref('stg_oura__vo2_max_estimates'), 'vo2_max_date', 'measured_at') }}
),

sleep_periods as (

    select * from {{ ref('int_sleep_periods_ranked') }}

),

main_sleep as (

    select * from sleep_periods where is_main_sleep

),

period_counts as (

    select
        user_id,
        sleep_date,
        count(*) as sleep_period_count
    from sleep_periods
    where sleep_type != 'deleted'
    group by user_id, sleep_date

),

joined as (

    select
        user_days.user_id,
        user_days.summary_date,

        sleep_scores.sleep_score,
        readiness.readiness_score,
        activity.activity_score,

        activity.steps,
        activity.active_kcal,
        activity.total_kcal,
        activity.equivalent_walking_distance_meters,
        activity.high_activity_seconds,
        activity.medium_activity_seconds,
        activity.low_activity_seconds,
        activity.sedentary_seconds,
        activity.non_wear_seconds,

        main_sleep.sleep_period_id as main_sleep_period_id,
        main_sleep.sleep_type as main_sleep_type,
        main_sleep.bedtime_start_at,
        main_sleep.bedtime_start_utc_offset,
        main_sleep.bedtime_end_at,
        main_sleep.time_in_bed_seconds,
        main_sleep.total_sleep_seconds,
        main_sleep.deep_sleep_seconds,
        main_sleep.light_sleep_seconds,
        main_sleep.rem_sleep_seconds,
        main_sleep.awake_seconds,
        main_sleep.latency_seconds as sleep_latency_seconds,
        main_sleep.efficiency_percent as sleep_efficiency_percent,
        main_sleep.lowest_heart_rate_bpm,
        main_sleep.average_heart_rate_bpm,
        main_sleep.average_hrv_ms,
        main_sleep.average_breaths_per_minute,
        coalesce(period_counts.sleep_period_count, 0) as sleep_period_count,

        spo2.spo2_average_percent,
        spo2.breathing_disturbance_index,

        stress.stress_high_seconds,
        stress.recovery_high_seconds,
        stress.stress_day_summary,

        resilience.resilience_level,

        coalesce(readiness.temperature_deviation_celsius, main_sleep.readiness_temperature_deviation_celsius)
            as temperature_deviation_celsius,
        coalesce(readiness.temperature_trend_deviation_celsius, main_sleep.readiness_temperature_trend_deviation_celsius)
            as temperature_trend_deviation_celsius,

        cardiovascular.vascular_age_years,
        cardiovascular.pulse_wave_velocity_meters_per_second,

        vo2_max.vo2_max_ml_per_kg_min,
        case when vo2_max.vo2_max_ml_per_kg_min is not null then user_days.summary_date end as vo2_max_measured_date

    from user_days
    left join activity
        on activity.user_id = user_days.user_id and activity.activity_date = user_days.summary_date
    left join readiness
        on readiness.user_id = user_days.user_id and readiness.readiness_date = user_days.summary_date
    left join sleep_scores
        on sleep_scores.user_id = user_days.user_id and sleep_scores.sleep_date = user_days.summary_date
    left join spo2
        on spo2.user_id = user_days.user_id and spo2.spo2_date = user_days.summary_date
    left join stress
        on stress.user_id = user_days.user_id and stress.stress_date = user_days.summary_date
    left join resilience
        on resilience.user_id = user_days.user_id and resilience.resilience_date = user_days.summary_date
    left join cardiovascular
        on cardiovascular.user_id = user_days.user_id and cardiovascular.cardiovascular_age_date = user_days.summary_date
    left join vo2_max
        on vo2_max.user_id = user_days.user_id and vo2_max.vo2_max_date = user_days.summary_date
    left join main_sleep
        on main_sleep.user_id = user_days.user_id and main_sleep.sleep_date = user_days.summary_date
    left join period_counts
        on period_counts.user_id = user_days.user_id and period_counts.sleep_date = user_days.summary_date

),

-- VO2 max is estimated every few weeks: carry the latest estimate forward beside the
-- day's own (usually null) value, with the day it was measured.
with_latest_vo2_max as (

    select
        joined.*,
        last_value(vo2_max_ml_per_kg_min ignore nulls) over (
            partition by user_id order by summary_date
            rows between unbounded preceding and current row
        ) as latest_vo2_max_ml_per_kg_min,
        last_value(vo2_max_measured_date ignore nulls) over (
            partition by user_id order by summary_date
            rows between unbounded preceding and current row
        ) as latest_vo2_max_date
    from joined

)

select * from with_latest_vo2_max
