with sessions as (

    select * from {{ ref('stg_oura__sessions') }}

),

sample_stats as (

    select
        session_id,
        avg(case when metric = 'heart_rate' then sample_value end) as average_heart_rate_bpm,
        min(case when metric = 'heart_rate' then sample_value end) as lowest_heart_rate_bpm,
        avg(case when metric = 'hrv' then sample_value end) as average_hrv_ms,
        sum(case when metric = 'motion_count' then sample_value end) as total_motion_count,
        count(case when metric = 'heart_rate' then sample_value end) as heart_rate_sample_count
    from {{ ref('int_session_samples_unnested') }}
    group by session_id

)

select
    sessions.session_id,
    sessions.user_id,
    sessions.session_date,
    sessions.session_type,
    sessions.mood,
    sessions.started_at,
    sessions.started_utc_offset,
    {{ oura.local_datetime('sessions.started_at', 'sessions.started_utc_offset') }} as started_local,
    sessions.ended_at,
    sessions.ended_utc_offset,
    {{ oura.seconds_between('sessions.started_at', 'sessions.ended_at') }} as duration_seconds,
    sample_stats.average_heart_rate_bpm,
    sample_stats.lowest_heart_rate_bpm,
    sample_stats.average_hrv_ms,
    sample_stats.total_motion_count,
    coalesce(sample_stats.heart_rate_sample_count, 0) as heart_rate_sample_count
from sessions
left join sample_stats
    on sample_stats.session_id = sessions.session_id
