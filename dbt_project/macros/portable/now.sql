{#- "Now" for freshness and lags: the instant pinned in OURA_ELT_NOW when it is set (as
    the loader and `oura-elt status` read it: an ISO date-time, UTC when it has no offset),
    else the warehouse's clock. -#}
{% macro now() -%}
  {%- set pinned = env_var('OURA_ELT_NOW', '') | trim -%}
  {%- if pinned and not modules.re.fullmatch('[0-9T:. +Z-]+', pinned) -%}
    {{ exceptions.raise_compiler_error("OURA_ELT_NOW=" ~ pinned ~ " is not an ISO date-time") }}
  {%- endif -%}
  {{ return(adapter.dispatch('now', 'oura')(pinned)) }}
{%- endmacro %}

{% macro default__now(pinned) -%}
  {%- if pinned -%}
    cast('{{ pinned }}' as timestamp with time zone)
  {%- else -%}
    current_timestamp
  {%- endif -%}
{%- endmacro %}

{% macro bigquery__now(pinned) -%}
  {%- if pinned -%}
    timestamp('{{ pinned }}')
  {%- else -%}
    current_timestamp()
  {%- endif -%}
{%- endmacro %}


{#- Seconds since the Unix epoch of an instant (fractional on DuckDB). -#}
{% macro epoch_seconds(instant) -%}
  {{ return(adapter.dispatch('epoch_seconds', 'oura')(instant)) }}
{%- endmacro %}

{% macro default__epoch_seconds(instant) -%}
  epoch({{ instant }})
{%- endmacro %}

{% macro bigquery__epoch_seconds(instant) -%}
  unix_micros({{ instant }}) / 1000000
{%- endmacro %}
