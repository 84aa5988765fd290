with phases as (

    select * from {{ ref('int_sleep_phases_exploded') }}

),

periods as (

    select * from {{ ref('int_sleep_periods_ranked') }}

),

heart_rate as (

    select * from {{ ref('int_sleep_heart_rate_samples_unnested') }}

),

hrv as (

    select * from {{ ref('int_sleep_hrv_samples_unnested') }}

)

select
    phases.sleep_period_id,
    phases.user_id,
    periods.sleep_date,
    periods.sleep_type,
    periods.is_main_sleep,
    phases.epoch_index,
    phases.epoch_start_at,
    {{ oura.local_datetime('phases.epoch_start_at', 'periods.bedtime_start_utc_offset') }} as epoch_start_local,
    phases.sleep_phase_code,
    phases.sleep_phase,
    heart_rate.heart_rate_bpm,
    hrv.hrv_ms

from phases
inner join periods
    on periods.sleep_period_id = phases.sleep_period_id
    and periods.user_id = phases.user_id
-- The samples of a period start at its bedtime and share the 5-minute grid of the
-- hypnogram, so epoch i pairs with sample i.
left join heart_rate
    on heart_rate.sleep_period_id = phases.sleep_period_id
    and heart_rate.user_id = phases.user_id
    and heart_rate.sample_index = phases.epoch_index
left join hrv
    on hrv.sleep_period_id = phases.sleep_period_id
    and hrv.user_id = phases.user_id
    and hrv.sample_index = phases.epoch_index
