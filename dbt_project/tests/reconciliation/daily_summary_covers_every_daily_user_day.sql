-- daily_summary has a row for exactly the user-days that the raw daily collections cover
-- (read from the raw tables, independently of the models): returns user-days missing from
-- it and rows it should not have. Duplicates are caught by its unique_combination test.
{%- set daily_tables = [
    'daily_activity', 'daily_readiness', 'daily_sleep', 'daily_spo2', 'daily_stress',
    'daily_resilience', 'daily_cardiovascular_age', 'vo2_max', 'sleep_time',
] %}

with raw_user_days as (
    {%- for table in daily_tables %}

    select user_id, cast(day as date) as summary_date
    from {{ source('oura', table) }}
    where _oura_deleted is not true
    union distinct
    {%- endfor %}

    select user_id, cast(day as date) as summary_date
    from {{ source('oura', 'sleep') }}
    where _oura_deleted is not true and type != 'deleted'

),

summary_days as (

    select user_id, summary_date from {{ ref('daily_summary') }}

),

missing as (

    select raw_user_days.user_id, raw_user_days.summary_date, 'missing from daily_summary' as problem
    from raw_user_days
    left join summary_days
        on summary_days.user_id = raw_user_days.user_id
        and summary_days.summary_date = raw_user_days.summary_date
    where summary_days.user_id is null

),

extra as (

    select summary_days.user_id, summary_days.summary_date, 'not covered by any daily collection' as problem
    from summary_days
    left join raw_user_days
        on raw_user_days.user_id = summary_days.user_id
        and raw_user_days.summary_date = summary_days.summary_date
    where raw_user_days.user_id is null

)

select * from missing
union all
select * from extra
