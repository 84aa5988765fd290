{#- A SELECT of one row per integer 0 .. count - 1 (in `index_alias`) for each row of
    `relation`, with its `columns`; a null or non-positive count yields nothing. -#}
{% macro explode_index_series(relation, columns, count_expr, index_alias) -%}
  {{ return(adapter.dispatch('explode_index_series', 'oura')(relation, columns, count_expr, index_alias)) }}
{%- endmacro %}

{% macro default__explode_index_series(relation, columns, count_expr, index_alias) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        unnest(generate_series(0, cast({{ count_expr }} as bigint) - 1)) as {{ index_alias }}
    from {{ relation }}
{%- endmacro %}

{% macro bigquery__explode_index_series(relation, columns, count_expr, index_alias) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        {{ index_alias }}
    from {{ relation }}
    cross join unnest(generate_array(0, cast({{ count_expr }} as int64) - 1)) as {{ index_alias }}
{%- endmacro %}


{#- The character at 0-based `index` of `text` (portable: both warehouses have substr). -#}
{% macro char_at(text, index) -%}
  substr({{ text }}, cast({{ index }} as {{ dbt.type_bigint() }}) + 1, 1)
{%- endmacro %}
