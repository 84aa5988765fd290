-- Every user-day that at least one daily collection covers: the grain of `daily_summary`.
-- Daily collections are the one-document-per-day routes, plus the wake-up days of sleep
-- periods that were not deleted.
{%- set daily_sources = [
    ('stg_oura__daily_activities', 'activity_date', none),
    ('stg_oura__daily_readiness_scores', 'readiness_date', none),
    ('stg_oura__daily_sleep_scores', 'sleep_date', none),
    ('stg_oura__daily_spo2_averages', 'spo2_date', none),
    ('stg_oura__daily_stress_summaries', 'stress_date', none),
    ('stg_oura__daily_resilience_levels', 'resilience_date', none),
    ('stg_oura__daily_cardiovascular_ages', 'cardiovascular_age_date', none),
    ('stg_oura__vo2_max_estimates', 'vo2_max_date', none),
    ('stg_oura__sleep_time_recommendations', 'recommendation_date', none),
    ('stg_oura__sleep_periods', 'sleep_date', "sleep_type != 'deleted'"),
] %}

with user_days as (
    {%- for model, date_column, condition in daily_sources %}

    select user_id, {{ date_column }} as summary_date
    from {{ ref(model) }}
    {% if condition %}where {{ condition }}{% endif %}
    {% if not loop.last %}union distinct{% endif %}
    {%- endfor %}

)

select
    user_id,
    summary_date
from user_days
