-- One row per 5-minute epoch of a sleep period: the characters of `sleep_phase_5_min`
-- (1 deep, 2 light, 3 REM, 4 awake), epoch i starting at bedtime_start + i x 300 s.

with periods as (

    select
        sleep_period_id,
        user_id,
        bedtime_start_at,
        sleep_phase_5_min
    from {{ ref('stg_oura__sleep_periods') }}
    where sleep_phase_5_min is not null

),

exploded as (

    {{ oura.explode_index_series(
        relation='periods',
        columns=['sleep_period_id', 'user_id', 'bedtime_start_at', 'sleep_phase_5_min'],
        count_expr=dbt.length('sleep_phase_5_min'),
        index_alias='epoch_index',
    ) }}

),

epochs as (

    select
        sleep_period_id,
        user_id,
        epoch_index,
        {{ oura.add_seconds('bedtime_start_at', 'epoch_index * 300') }} as epoch_start_at,
        {{ oura.char_at('sleep_phase_5_min', 'epoch_index') }} as sleep_phase_code
    from exploded

)

select
    sleep_period_id,
    user_id,
    epoch_index,
    epoch_start_at,
    sleep_phase_code,
    case sleep_phase_code
        when '1' then 'deep'
        when '2' then 'light'
        when '3' then 'rem'
        when '4' then 'awake'
    end as sleep_phase
from epochs
