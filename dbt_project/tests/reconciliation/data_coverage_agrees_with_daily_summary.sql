-- data_coverage has every day of daily_summary, with a main sleep exactly where
-- daily_summary has one (and `present` exactly there), and no gap between a person's
-- first and last day. Returns the days that disagree.
with coverage as (

    select * from {{ ref('data_coverage') }}

),

summary as (

    select user_id, summary_date, main_sleep_period_id from {{ ref('daily_summary') }}

),

disagreements as (

    select summary.user_id, summary.summary_date as day, 'missing from data_coverage' as problem
    from summary
    left join coverage
        on coverage.user_id = summary.user_id and coverage.coverage_date = summary.summary_date
    where coverage.user_id is null

    union all

    select coverage.user_id, coverage.coverage_date as day, 'main sleep differs from daily_summary' as problem
    from coverage
    left join summary
        on summary.user_id = coverage.user_id and summary.summary_date = coverage.coverage_date
    where (coverage.has_main_sleep and summary.main_sleep_period_id is null)
        or (not coverage.has_main_sleep and summary.main_sleep_period_id is not null)
        or (coverage.sleep_status = 'present' and not coverage.has_main_sleep)
        or (coverage.sleep_status != 'present' and coverage.has_main_sleep)

    union all

    select user_id, max(coverage_date) as day, 'days missing between the first and last' as problem
    from coverage
    group by user_id
    having count(*) != {{ dbt.datediff('min(coverage_date)', 'max(coverage_date)', 'day') }} + 1

)

select * from disagreements
