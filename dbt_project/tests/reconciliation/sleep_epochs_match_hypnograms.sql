-- sleep_epochs holds, for every sleep period, one epoch per character of the hypnogram it
-- must use (`sleep_phase_30_sec` when Oura sent one, else `sleep_phase_5_min`), at that
-- string's resolution, numbered 0 .. n - 1, and no epochs for periods without one. A row
-- here is our own bug (a missing night, an epoch count that is not the string's length),
-- so an error; where Oura's durations and hypnograms disagree is a warning
-- (sleep_epochs_add_up_to_stage_durations). Expected counts come from staging, not marts.
{{ config(severity='error') }}

with actual as (

    select
        sleep_period_id,
        count(*) as epochs,
        min(epoch_index) as first_epoch_index,
        max(epoch_index) as last_epoch_index,
        min(epoch_seconds) as shortest_epoch_seconds,
        max(epoch_seconds) as longest_epoch_seconds
    from {{ ref('sleep_epochs') }}
    group by sleep_period_id

),

expected as (

    select
        sleep_period_id,
        user_id,
        sleep_date,
        case
            when {{ dbt.length('sleep_phase_30_sec') }} > 0 then {{ dbt.length('sleep_phase_30_sec') }}
            else coalesce({{ dbt.length('sleep_phase_5_min') }}, 0)
        end as expected_epochs,
        case
            when {{ dbt.length('sleep_phase_30_sec') }} > 0 then 30
            when sleep_phase_5_min is not null then 300
        end as expected_epoch_seconds
    from {{ ref('stg_oura__sleep_periods') }}

)

select
    coalesce(expected.sleep_period_id, actual.sleep_period_id) as sleep_period_id,
    expected.user_id,
    expected.sleep_date,
    expected.expected_epochs,
    coalesce(actual.epochs, 0) as epochs,
    expected.expected_epoch_seconds,
    actual.shortest_epoch_seconds,
    actual.longest_epoch_seconds
from expected
full outer join actual
    on actual.sleep_period_id = expected.sleep_period_id
where expected.sleep_period_id is null
    or coalesce(actual.epochs, 0) != expected.expected_epochs
    or actual.first_epoch_index != 0
    or actual.last_epoch_index != actual.epochs - 1
    or actual.shortest_epoch_seconds != expected.expected_epoch_seconds
    or actual.longest_epoch_seconds != expected.expected_epoch_seconds
