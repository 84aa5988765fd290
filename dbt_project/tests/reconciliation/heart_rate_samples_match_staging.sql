-- The incremental heart_rate_samples holds exactly the samples of the raw table: returns
-- samples it misses or keeps after they were removed or revised (a broken watermark).

with expected as (

    select user_id, measured_at, heart_rate_source, heart_rate_bpm
    from {{ ref('stg_oura__heart_rate_samples') }}

),

actual as (

    select user_id, measured_at, heart_rate_source, heart_rate_bpm
    from {{ ref('heart_rate_samples') }}

),

missing as (

    select expected.*, 'missing' as problem
    from expected
    left join actual
        on actual.user_id = expected.user_id
        and actual.measured_at = expected.measured_at
        and actual.heart_rate_source = expected.heart_rate_source
    where actual.user_id is null
        or actual.heart_rate_bpm != expected.heart_rate_bpm

),

stale as (

    select actual.*, 'stale' as problem
    from actual
    left join expected
        on expected.user_id = actual.user_id
        and expected.measured_at = actual.measured_at
        and expected.heart_rate_source = actual.heart_rate_source
    where expected.user_id is null

)

select * from missing
union all
select * from stale
