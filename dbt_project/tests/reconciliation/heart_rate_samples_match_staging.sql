-- The incremental heart_rate_samples holds exactly the samples of the raw table: returns
-- samples it misses or keeps after they were removed or revised (a broken watermark).
-- One full outer join on the sample's key finds both sides (each table is read once).

with expected as (

    select user_id, measured_at, heart_rate_source, heart_rate_bpm
    from {{ ref('stg_oura__heart_rate_samples') }}

),

actual as (

    select user_id, measured_at, heart_rate_source, heart_rate_bpm
    from {{ ref('heart_rate_samples') }}

),

compared as (

    select
        coalesce(expected.user_id, actual.user_id) as user_id,
        coalesce(expected.measured_at, actual.measured_at) as measured_at,
        coalesce(expected.heart_rate_source, actual.heart_rate_source) as heart_rate_source,
        expected.heart_rate_bpm as expected_heart_rate_bpm,
        actual.heart_rate_bpm as actual_heart_rate_bpm,
        case
            when actual.user_id is null then 'missing'
            when expected.user_id is null then 'stale'
            when actual.heart_rate_bpm != expected.heart_rate_bpm then 'revised value not applied'
        end as problem
    from expected
    full outer join actual
        on actual.user_id = expected.user_id
        and actual.measured_at = expected.measured_at
        and actual.heart_rate_source = expected.heart_rate_source

)

select *
from compared
where problem is not null
