{#- Whether `relation` (a `source()` or `ref()`) exists in the warehouse. While dbt only
    parses the project nothing is looked up, and the answer is true. -#}
{% macro relation_exists(relation) %}
  {%- if not execute -%}
    {{ return(true) }}
  {%- endif -%}
  {%- set found = adapter.get_relation(
      database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
  {{ return(found is not none) }}
{% endmacro %}
