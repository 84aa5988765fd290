{%- set readiness_contributors = oura.score_contributor_catalog()['readiness']['contributors'] -%}

with raw_rows as (

    select * from {{ source('oura', 'sleep') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as sleep_period_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as sleep_date,
        cast(type as {{ dbt.type_string() }}) as sleep_type,
        cast(period as {{ dbt.type_bigint() }}) as period_number,

        cast(bedtime_start as {{ oura.type_instant() }}) as bedtime_start_at,
        cast(bedtime_start_utc_offset as {{ dbt.type_string() }}) as bedtime_start_utc_offset,
        cast(bedtime_end as {{ oura.type_instant() }}) as bedtime_end_at,
        cast(bedtime_end_utc_offset as {{ dbt.type_string() }}) as bedtime_end_utc_offset,

        cast(time_in_bed as {{ dbt.type_bigint() }}) as time_in_bed_seconds,
        cast(total_sleep_duration as {{ dbt.type_bigint() }}) as total_sleep_seconds,
        cast(deep_sleep_duration as {{ dbt.type_bigint() }}) as deep_sleep_seconds,
        cast(light_sleep_duration as {{ dbt.type_bigint() }}) as light_sleep_seconds,
        cast(rem_sleep_duration as {{ dbt.type_bigint() }}) as rem_sleep_seconds,
        cast(awake_time as {{ dbt.type_bigint() }}) as awake_seconds,
        cast(latency as {{ dbt.type_bigint() }}) as latency_seconds,
        cast(efficiency as {{ dbt.type_bigint() }}) as efficiency_percent,

        cast(average_heart_rate as {{ oura.type_double() }}) as average_heart_rate_bpm,
        cast(lowest_heart_rate as {{ dbt.type_bigint() }}) as lowest_heart_rate_bpm,
        cast(average_hrv as {{ dbt.type_bigint() }}) as average_hrv_ms,
        cast(average_breath as {{ oura.type_double() }}) as average_breaths_per_minute,
        cast(restless_periods as {{ dbt.type_bigint() }}) as restless_period_count,
        cast(low_battery_alert as {{ dbt.type_boolean() }}) as has_low_battery_alert,

        cast(readiness__score as {{ dbt.type_bigint() }}) as readiness_score,
        cast(readiness__temperature_deviation as {{ oura.type_double() }}) as readiness_temperature_deviation_celsius,
        cast(readiness__temperature_trend_deviation as {{ oura.type_double() }}) as readiness_temperature_trend_deviation_celsius,
        {%- for name in readiness_contributors %}
        cast(readiness__contributors__{{ name }} as {{ dbt.type_bigint() }}) as readiness_contributor_{{ name }},
        {%- endfor %}
        cast(readiness_score_delta as {{ dbt.type_bigint() }}) as readiness_score_delta,
        cast(sleep_score_delta as {{ dbt.type_bigint() }}) as sleep_score_delta,

        cast(sleep_algorithm_version as {{ dbt.type_string() }}) as sleep_algorithm_version,
        cast(sleep_analysis_reason as {{ dbt.type_string() }}) as sleep_analysis_reason,
        cast(ring_id as {{ dbt.type_string() }}) as ring_id,

        heart_rate as heart_rate_samples,
        hrv as hrv_samples,
        cast(sleep_phase_5_min as {{ dbt.type_string() }}) as sleep_phase_5_min,
        cast(app_sleep_phase_5_min as {{ dbt.type_string() }}) as app_sleep_phase_5_min,
        cast(sleep_phase_30_sec as {{ dbt.type_string() }}) as sleep_phase_30_sec,
        cast(movement_30_sec as {{ dbt.type_string() }}) as movement_30_sec

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
