-- One row per user and day that at least one daily collection covers (the days of
-- `int_user_days_unioned`), saying which collections hold a document that day.
{%- set daily_sources = [
    ('activity', 'stg_oura__daily_activities', 'activity_date', none),
    ('readiness', 'stg_oura__daily_readiness_scores', 'readiness_date', none),
    ('sleep_score', 'stg_oura__daily_sleep_scores', 'sleep_date', none),
    ('spo2', 'stg_oura__daily_spo2_averages', 'spo2_date', none),
    ('stress', 'stg_oura__daily_stress_summaries', 'stress_date', none),
    ('resilience', 'stg_oura__daily_resilience_levels', 'resilience_date', none),
    ('cardiovascular_age', 'stg_oura__daily_cardiovascular_ages', 'cardiovascular_age_date', none),
    ('vo2_max', 'stg_oura__vo2_max_estimates', 'vo2_max_date', none),
    ('sleep_time_recommendation', 'stg_oura__sleep_time_recommendations', 'recommendation_date', none),
    ('sleep_period', 'stg_oura__sleep_periods', 'sleep_date', "sleep_type != 'deleted'"),
] %}

with documents as (
    {%- for name, model, date_column, condition in daily_sources %}

    select user_id, {{ date_column }} as covered_date, '{{ name }}' as kind
    from {{ ref(model) }}
    {% if condition %}where {{ condition }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select
    user_id,
    covered_date,
    {%- for name, model, date_column, condition in daily_sources %}
    max(case when kind = '{{ name }}' then 1 else 0 end) = 1 as has_{{ name }},
    {%- endfor %}
    sum(case when kind = 'sleep_period' then 1 else 0 end) as sleep_period_count
from documents
group by user_id, covered_date
