-- Every sleep period's epochs reconcile with its stage durations: one epoch per character
-- of the hypnogram, and for each phase, epochs x 300 s is within one epoch (the last epoch
-- of a period is truncated) of the duration Oura reports. Returns the periods that do not.
{{ config(severity='error') }}

with epochs as (

    select
        sleep_period_id,
        count(*) as epochs,
        sum(case when sleep_phase = 'deep' then 1 else 0 end) * 300 as deep_epoch_seconds,
        sum(case when sleep_phase = 'light' then 1 else 0 end) * 300 as light_epoch_seconds,
        sum(case when sleep_phase = 'rem' then 1 else 0 end) * 300 as rem_epoch_seconds,
        sum(case when sleep_phase = 'awake' then 1 else 0 end) * 300 as awake_epoch_seconds
    from {{ ref('sleep_epochs') }}
    group by sleep_period_id

),

periods as (

    select * from {{ ref('sleep_periods') }}
    where epoch_count > 0

),

compared as (

    select
        periods.sleep_period_id,
        periods.epoch_count,
        coalesce(epochs.epochs, 0) as epochs,
        abs(coalesce(epochs.deep_epoch_seconds, 0) - periods.deep_sleep_seconds) as deep_gap_seconds,
        abs(coalesce(epochs.light_epoch_seconds, 0) - periods.light_sleep_seconds) as light_gap_seconds,
        abs(coalesce(epochs.rem_epoch_seconds, 0) - periods.rem_sleep_seconds) as rem_gap_seconds,
        abs(coalesce(epochs.awake_epoch_seconds, 0) - periods.awake_seconds) as awake_gap_seconds
    from periods
    left join epochs
        on epochs.sleep_period_id = periods.sleep_period_id

)

select *
from compared
where epochs != epoch_count
    or deep_gap_seconds > {{ var('epoch_reconciliation_tolerance_seconds') }}
    or light_gap_seconds > {{ var('epoch_reconciliation_tolerance_seconds') }}
    or rem_gap_seconds > {{ var('epoch_reconciliation_tolerance_seconds') }}
    or awake_gap_seconds > {{ var('epoch_reconciliation_tolerance_seconds') }}
