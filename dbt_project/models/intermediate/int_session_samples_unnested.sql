-- One row per sample of a session's heart rate, HRV and motion count, in long form.
{%- set metrics = {
    'heart_rate': 'heart_rate_samples',
    'hrv': 'hrv_samples',
    'motion_count': 'motion_count_samples',
} %}

{%- for metric, column in metrics.items() %}

select
    session_id,
    user_id,
    '{{ metric }}' as metric,
    sample_index,
    sample_at,
    sample_value
from (
    {{ oura.explode_samples(
        relation=ref('stg_oura__sessions'),
        key_columns=['session_id', 'user_id'],
        samples_column=column,
        value_column='sample_value',
    ) }}
) as {{ metric }}_samples
{% if not loop.last %}union all{% endif %}
{%- endfor %}
