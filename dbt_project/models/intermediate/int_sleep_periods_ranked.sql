-- Sleep periods with the day's main sleep marked. A day can hold several periods (naps,
-- rest, deleted fragments) in no guaranteed order. The main sleep is the `long_sleep`
-- period; if a day has none, the longest period that is not `deleted`. Ties go to more
-- sleep, then more time in bed, then the later bedtime, then the id (deterministic).

with periods as (

    select * from {{ ref('stg_oura__sleep_periods') }}

),

ranked as (

    select
        periods.*,
        case
            when sleep_type = 'deleted' then null
            else row_number() over (
                partition by user_id, sleep_date, (sleep_type = 'deleted')
                order by
                    case when sleep_type = 'long_sleep' then 0 else 1 end,
                    coalesce(total_sleep_seconds, 0) desc,
                    coalesce(time_in_bed_seconds, 0) desc,
                    bedtime_start_at desc,
                    sleep_period_id
            )
        end as main_sleep_rank
    from periods

)

select
    ranked.*,
    coalesce(main_sleep_rank = 1, false) as is_main_sleep
from ranked
