with phases as (

    select * from {{ ref('int_sleep_phases_exploded') }}

),

periods as (

    select
        *,
        {{ oura.sleep_epoch_seconds('sleep_phase_30_sec', 'sleep_phase_5_min') }} as epoch_seconds
    from {{ ref('int_sleep_periods_ranked') }}

),

heart_rate as (

    select * from {{ ref('int_sleep_heart_rate_samples_unnested') }}

),

hrv as (

    select * from {{ ref('int_sleep_hrv_samples_unnested') }}

),

epochs as (

    select
        phases.*,
        periods.sleep_date,
        periods.sleep_type,
        periods.is_main_sleep,
        periods.bedtime_start_utc_offset,
        -- The heart-rate and HRV samples of a period start at its bedtime, one every 300 s:
        -- the sample of epoch i is the one its start falls in.
        cast(floor(phases.epoch_index * phases.epoch_seconds / 300) as {{ dbt.type_bigint() }}) as sample_index
    from phases
    inner join periods
        on periods.sleep_period_id = phases.sleep_period_id
        and periods.user_id = phases.user_id
        and periods.epoch_seconds = phases.epoch_seconds

)

select
    epochs.sleep_period_id,
    epochs.user_id,
    epochs.sleep_date,
    epochs.sleep_type,
    epochs.is_main_sleep,
    epochs.epoch_seconds,
    epochs.epoch_index,
    epochs.epoch_start_at,
    {{ oura.local_datetime('epochs.epoch_start_at', 'epochs.bedtime_start_utc_offset') }} as epoch_start_local,
    epochs.sleep_phase_code,
    epochs.sleep_phase,
    heart_rate.heart_rate_bpm,
    hrv.hrv_ms

from epochs
left join heart_rate
    on heart_rate.sleep_period_id = epochs.sleep_period_id
    and heart_rate.user_id = epochs.user_id
    and heart_rate.sample_index = epochs.sample_index
left join hrv
    on hrv.sleep_period_id = epochs.sleep_period_id
    and hrv.user_id = epochs.user_id
    and hrv.sample_index = epochs.sample_index
