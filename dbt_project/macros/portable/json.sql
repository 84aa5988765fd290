{#- JSON columns across warehouses: DuckDB's JSON type, BigQuery's JSON type. Oura's
    samples are {"interval": 300.0, "items": [number | null, ...], "timestamp": "..."};
    nulls inside `items` are normal and must survive as SQL nulls. -#}

{#- A scalar at `path` ('$.timestamp') as text. -#}
{% macro json_text(json_expr, path) -%}
  {{ return(adapter.dispatch('json_text', 'oura')(json_expr, path)) }}
{%- endmacro %}

{% macro default__json_text(json_expr, path) -%}
  json_extract_string({{ json_expr }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_text(json_expr, path) -%}
  json_value({{ json_expr }}, '{{ path }}')
{%- endmacro %}


{#- Number of elements of the array at `path` (null when it is missing). -#}
{% macro json_array_length(json_expr, path) -%}
  {{ return(adapter.dispatch('json_array_length', 'oura')(json_expr, path)) }}
{%- endmacro %}

{% macro default__json_array_length(json_expr, path) -%}
  json_array_length({{ json_expr }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_array_length(json_expr, path) -%}
  array_length(json_query_array({{ json_expr }}, '{{ path }}'))
{%- endmacro %}


{#- A SELECT of one row per element of the array at `path` of `json_expr` in each row of
    `relation`: the `columns` (names or expressions of that relation), the element as JSON
    in `element_alias` and its 0-based position in `index_alias`. Rows whose array is null
    or empty yield nothing; JSON nulls inside the array are kept as elements.
    DuckDB unnests in the select list: zipped with generate_subscripts it is an order of
    magnitude faster there than a lateral join (2 M MET samples: 0.6 s against 8 s). -#}
{% macro explode_json_array(relation, columns, json_expr, path, element_alias, index_alias) -%}
  {{ return(adapter.dispatch('explode_json_array', 'oura')(relation, columns, json_expr, path, element_alias, index_alias)) }}
{%- endmacro %}

{% macro default__explode_json_array(relation, columns, json_expr, path, element_alias, index_alias) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        unnest(json_extract({{ json_expr }}, '{{ path }}[*]')) as {{ element_alias }},
        generate_subscripts(json_extract({{ json_expr }}, '{{ path }}[*]'), 1) - 1 as {{ index_alias }}
    from {{ relation }}
{%- endmacro %}

{% macro bigquery__explode_json_array(relation, columns, json_expr, path, element_alias, index_alias) -%}
    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        {{ element_alias }},
        {{ index_alias }}
    from {{ relation }}
    cross join unnest(json_query_array({{ json_expr }}, '{{ path }}')) as {{ element_alias }} with offset as {{ index_alias }}
{%- endmacro %}


{#- A JSON element (from `explode_json_array`) as a number; JSON null becomes SQL null. -#}
{% macro json_element_number(element) -%}
  {{ return(adapter.dispatch('json_element_number', 'oura')(element)) }}
{%- endmacro %}

{% macro default__json_element_number(element) -%}
  try_cast({{ element }} as double)
{%- endmacro %}

{% macro bigquery__json_element_number(element) -%}
  safe_cast(json_value({{ element }}) as float64)
{%- endmacro %}


{#- A JSON element (from `explode_json_array`) as text; JSON null becomes SQL null. -#}
{% macro json_element_text(element) -%}
  {{ return(adapter.dispatch('json_element_text', 'oura')(element)) }}
{%- endmacro %}

{% macro default__json_element_text(element) -%}
  json_extract_string({{ element }}, '$')
{%- endmacro %}

{% macro bigquery__json_element_text(element) -%}
  json_value({{ element }})
{%- endmacro %}


{#- The array at `path` as an array of numbers to index with `number_array_item`
    (DuckDB: DOUBLE[], nulls kept; BigQuery: ARRAY<JSON>). Parsing once per document and
    indexing is 5x faster on DuckDB than exploding and joining back on the index. -#}
{% macro json_number_array(json_expr, path) -%}
  {{ return(adapter.dispatch('json_number_array', 'oura')(json_expr, path)) }}
{%- endmacro %}

{% macro default__json_number_array(json_expr, path) -%}
  cast(json_extract({{ json_expr }}, '{{ path }}') as double[])
{%- endmacro %}

{% macro bigquery__json_number_array(json_expr, path) -%}
  json_query_array({{ json_expr }}, '{{ path }}')
{%- endmacro %}


{#- Item `index` (0-based) of a `json_number_array` as a number; null past the end. -#}
{% macro number_array_item(array_expr, index) -%}
  {{ return(adapter.dispatch('number_array_item', 'oura')(array_expr, index)) }}
{%- endmacro %}

{% macro default__number_array_item(array_expr, index) -%}
  list_extract({{ array_expr }}, cast({{ index }} as bigint) + 1)
{%- endmacro %}

{% macro bigquery__number_array_item(array_expr, index) -%}
  safe_cast(json_value({{ array_expr }}[safe_offset({{ index }})]) as float64)
{%- endmacro %}
