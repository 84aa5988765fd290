{#- One row per item of an Oura sample ({"interval": s, "items": [...], "timestamp": t})
    held in JSON column `samples_column` of `relation`:
      <key_columns>, sample_index (0-based),
      sample_at = timestamp + sample_index * interval (UTC),
      <value_column> (number; a null item stays a row with a null value).
    Documents without the sample yield no rows. -#}
{% macro explode_samples(relation, key_columns, samples_column, value_column) %}

with documents as (

    select
        {%- for column in key_columns %}
        {{ column }},
        {%- endfor %}
        {{ samples_column }} as samples,
        cast({{ oura.json_text(samples_column, '$.interval') }} as {{ oura.type_double() }}) as sample_interval_seconds,
        {{ dbt.safe_cast(oura.json_text(samples_column, '$.timestamp'), oura.type_instant()) }} as samples_start_at
    from {{ relation }}
    where {{ samples_column }} is not null

),

items as (

    {{ oura.explode_json_array(
        relation='documents',
        columns=key_columns + ['sample_interval_seconds', 'samples_start_at'],
        json_expr='samples',
        path='$.items',
        element_alias='sample_element',
        index_alias='sample_index',
    ) }}

)

select
    {%- for column in key_columns %}
    {{ column }},
    {%- endfor %}
    sample_index,
    {{ oura.add_seconds('samples_start_at', 'sample_index * sample_interval_seconds') }} as sample_at,
    {{ oura.json_element_number('sample_element') }} as {{ value_column }}
from items

{% endmacro %}
