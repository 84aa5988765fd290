{#- dbt's `collect_freshness` with one change: "now" is `oura.now()`, so that
    `dbt source freshness` agrees with the loader and `oura-elt status` when OURA_ELT_NOW
    pins the clock (tests and demos against the local server). It overrides dbt's own
    default for every adapter this project runs on. -#}
{% macro default__collect_freshness(source, loaded_at_field, filter) %}
  {% call statement('collect_freshness', fetch_result=True, auto_begin=False) -%}
    select
      max({{ loaded_at_field }}) as max_loaded_at,
      {{ oura.now() }} as snapshotted_at
    from {{ source }}
    {% if filter %}
    where {{ filter }}
    {% endif %}
  {% endcall %}
  {{ return(load_result('collect_freshness')) }}
{% endmacro %}
