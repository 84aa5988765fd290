-- One row per user and dated collection that holds documents: how many, the newest
-- document's day (Oura's `day`; the UTC day of a sample) and, for documents that carry an
-- instant, the newest one (a sample's time, the end of a sleep period, workout, session or
-- tag; a VO2 max estimate's time). Once-a-day documents have a local day only: their
-- instant is null rather than a guess. Collections are named as the loader names them
-- (`_oura_load_progress.collection`).
{%- set collections = [
    ('daily_activity', 'stg_oura__daily_activities', 'activity_date', none),
    ('daily_readiness', 'stg_oura__daily_readiness_scores', 'readiness_date', none),
    ('daily_sleep', 'stg_oura__daily_sleep_scores', 'sleep_date', none),
    ('sleep', 'stg_oura__sleep_periods', 'sleep_date', 'bedtime_end_at'),
    ('sleep_time', 'stg_oura__sleep_time_recommendations', 'recommendation_date', none),
    ('daily_spo2', 'stg_oura__daily_spo2_averages', 'spo2_date', none),
    ('daily_stress', 'stg_oura__daily_stress_summaries', 'stress_date', none),
    ('daily_resilience', 'stg_oura__daily_resilience_levels', 'resilience_date', none),
    ('daily_cardiovascular_age', 'stg_oura__daily_cardiovascular_ages', 'cardiovascular_age_date', none),
    ('vo2_max', 'stg_oura__vo2_max_estimates', 'vo2_max_date', 'measured_at'),
    ('workout', 'stg_oura__workouts', 'workout_date', 'ended_at'),
    ('session', 'stg_oura__sessions', 'session_date', 'ended_at'),
    ('tag', 'stg_oura__tags', 'tag_date', 'tagged_at'),
    ('enhanced_tag', 'stg_oura__enhanced_tags', 'start_date', 'coalesce(ended_at, started_at)'),
    ('rest_mode_period', 'stg_oura__rest_mode_periods', 'start_date', 'coalesce(ended_at, started_at)'),
    ('heartrate', 'stg_oura__heart_rate_samples', oura.utc_date('measured_at'), 'measured_at'),
    ('ring_battery_level', 'stg_oura__ring_battery_levels', oura.utc_date('measured_at'), 'measured_at'),
] %}

{% for name, model, date_expr, instant_expr in collections %}
select
    user_id,
    cast('{{ name }}' as {{ dbt.type_string() }}) as collection_name,
    count(*) as document_count,
    max({{ date_expr }}) as newest_document_date,
    {% if instant_expr -%}
    max({{ instant_expr }})
    {%- else -%}
    cast(null as {{ oura.type_instant() }})
    {%- endif %} as newest_document_at
from {{ ref(model) }}
group by user_id
{% if not loop.last %}union all{% endif %}
{% endfor %}
