with periods as (

    select
        *,
        {{ oura.sleep_epoch_seconds('sleep_phase_30_sec', 'sleep_phase_5_min') }} as epoch_seconds
    from {{ ref('int_sleep_periods_ranked') }}

)

select
    sleep_period_id,
    user_id,
    sleep_date,
    sleep_type,
    period_number,
    is_main_sleep,
    sleep_type = 'deleted' as is_deleted,

    bedtime_start_at,
    bedtime_start_utc_offset,
    {{ oura.local_datetime('bedtime_start_at', 'bedtime_start_utc_offset') }} as bedtime_start_local,
    bedtime_end_at,
    bedtime_end_utc_offset,
    {{ oura.local_datetime('bedtime_end_at', 'bedtime_end_utc_offset') }} as bedtime_end_local,

    time_in_bed_seconds,
    total_sleep_seconds,
    deep_sleep_seconds,
    light_sleep_seconds,
    rem_sleep_seconds,
    awake_seconds,
    latency_seconds,
    efficiency_percent,

    average_heart_rate_bpm,
    lowest_heart_rate_bpm,
    average_hrv_ms,
    average_breaths_per_minute,
    restless_period_count,
    has_low_battery_alert,

    readiness_score,
    readiness_score_delta,
    sleep_score_delta,
    sleep_algorithm_version,
    sleep_analysis_reason,
    ring_id,
    case epoch_seconds
        when 30 then {{ dbt.length('sleep_phase_30_sec') }}
        when 300 then {{ dbt.length('sleep_phase_5_min') }}
    end as epoch_count,
    epoch_seconds

from periods
