{#- A 64-bit float: dbt's `type_float()` is a 32-bit FLOAT on DuckDB (82.6 kg would read
    back as 82.5999984741211). -#}
{% macro type_double() -%}
  {{ return(adapter.dispatch('type_double', 'oura')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
  double
{%- endmacro %}

{% macro bigquery__type_double() -%}
  float64
{%- endmacro %}
