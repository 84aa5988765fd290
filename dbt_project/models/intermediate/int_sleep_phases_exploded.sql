-- One row per epoch of each hypnogram string a sleep period has: `sleep_phase_30_sec`
-- (30-second epochs, newer documents) and `sleep_phase_5_min` (5-minute epochs, every
-- document), one character each (1 deep, 2 light, 3 REM, 4 awake), epoch i starting at
-- bedtime_start + i x epoch_seconds. sleep_epochs keeps the finer one; the reconciliation
-- tests read both.

with periods as (

    select
        sleep_period_id,
        user_id,
        bedtime_start_at,
        sleep_phase_30_sec,
        sleep_phase_5_min
    from {{ ref('stg_oura__sleep_periods') }}

),

hypnograms as (

    select
        sleep_period_id, user_id, bedtime_start_at, 30 as epoch_seconds, sleep_phase_30_sec as phases
    from periods
    where sleep_phase_30_sec is not null

    union all

    select
        sleep_period_id, user_id, bedtime_start_at, 300 as epoch_seconds, sleep_phase_5_min as phases
    from periods
    where sleep_phase_5_min is not null

),

exploded as (

    {{ oura.explode_index_series(
        relation='hypnograms',
        columns=['sleep_period_id', 'user_id', 'bedtime_start_at', 'epoch_seconds', 'phases'],
        count_expr=dbt.length('phases'),
        index_alias='epoch_index',
    ) }}

),

epochs as (

    select
        sleep_period_id,
        user_id,
        epoch_seconds,
        epoch_index,
        {{ oura.add_seconds('bedtime_start_at', 'epoch_index * epoch_seconds') }} as epoch_start_at,
        {{ oura.char_at('phases', 'epoch_index') }} as sleep_phase_code
    from exploded

)

select
    sleep_period_id,
    user_id,
    epoch_seconds,
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
