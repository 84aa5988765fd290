{#- Instants across warehouses. DuckDB keeps UTC instants as TIMESTAMP WITH TIME ZONE,
    BigQuery as TIMESTAMP. dbt's own `dateadd` is not used for instants: on BigQuery it
    goes through DATETIME and would drop the time zone. -#}

{% macro type_instant() -%}
  {{ return(adapter.dispatch('type_instant', 'oura')()) }}
{%- endmacro %}

{% macro default__type_instant() -%}
  timestamp with time zone
{%- endmacro %}

{% macro bigquery__type_instant() -%}
  timestamp
{%- endmacro %}


{#- `instant` plus `seconds` (a number, possibly fractional), to the microsecond. -#}
{% macro add_seconds(instant, seconds) -%}
  {{ return(adapter.dispatch('add_seconds', 'oura')(instant, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds(instant, seconds) -%}
  ({{ instant }} + to_microseconds(cast(round(({{ seconds }}) * 1000000) as bigint)))
{%- endmacro %}

{% macro bigquery__add_seconds(instant, seconds) -%}
  timestamp_add({{ instant }}, interval cast(round(({{ seconds }}) * 1000000) as int64) microsecond)
{%- endmacro %}


{#- A local wall-clock time (a timestamp without time zone, from `local_datetime`) plus
    `seconds`, to the microsecond: a model can convert to local time once per row of a
    coarser grain (a day) and add each finer row's seconds, instead of parsing the UTC
    offset again on every row. -#}
{% macro add_seconds_local(local_datetime, seconds) -%}
  {{ return(adapter.dispatch('add_seconds_local', 'oura')(local_datetime, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds_local(local_datetime, seconds) -%}
  {{ oura.default__add_seconds(local_datetime, seconds) }}
{%- endmacro %}

{% macro bigquery__add_seconds_local(local_datetime, seconds) -%}
  datetime_add({{ local_datetime }}, interval cast(round(({{ seconds }}) * 1000000) as int64) microsecond)
{%- endmacro %}


{#- The UTC calendar date of an instant, whatever the session time zone. -#}
{% macro utc_date(instant) -%}
  {{ return(adapter.dispatch('utc_date', 'oura')(instant)) }}
{%- endmacro %}

{#- Days since the Unix epoch rather than `timezone('UTC', ...)`: the same date, a
    quarter of the cost on the heart-rate samples (no time-zone lookup per row). -#}
{% macro default__utc_date(instant) -%}
  (date '1970-01-01' + cast(floor(epoch({{ instant }}) / 86400) as integer))
{%- endmacro %}

{% macro bigquery__utc_date(instant) -%}
  date({{ instant }}, 'UTC')
{%- endmacro %}


{#- Seconds east of UTC of an offset written "+HH:MM" / "-HH:MM" (null stays null). -#}
{% macro utc_offset_seconds(utc_offset) -%}
  (case when {{ utc_offset }} is null then null
        else (case when substr({{ utc_offset }}, 1, 1) = '-' then -1 else 1 end)
             * (cast(substr({{ utc_offset }}, 2, 2) as {{ dbt.type_bigint() }}) * 3600
                + cast(substr({{ utc_offset }}, 5, 2) as {{ dbt.type_bigint() }}) * 60)
   end)
{%- endmacro %}


{#- The local wall-clock time (a timestamp without time zone) of a UTC instant
    recorded with the given "+HH:MM" offset. -#}
{% macro local_datetime(instant, utc_offset) -%}
  {{ return(adapter.dispatch('local_datetime', 'oura')(instant, utc_offset)) }}
{%- endmacro %}

{% macro default__local_datetime(instant, utc_offset) -%}
  (timezone('UTC', {{ instant }}) + to_seconds({{ oura.utc_offset_seconds(utc_offset) }}))
{%- endmacro %}

{% macro bigquery__local_datetime(instant, utc_offset) -%}
  datetime({{ instant }}, {{ utc_offset }})
{%- endmacro %}


{#- Whole seconds from one instant to a later one. -#}
{% macro seconds_between(start_instant, end_instant) -%}
  {{ return(adapter.dispatch('seconds_between', 'oura')(start_instant, end_instant)) }}
{%- endmacro %}

{% macro default__seconds_between(start_instant, end_instant) -%}
  cast(epoch({{ end_instant }}) - epoch({{ start_instant }}) as bigint)
{%- endmacro %}

{% macro bigquery__seconds_between(start_instant, end_instant) -%}
  timestamp_diff({{ end_instant }}, {{ start_instant }}, second)
{%- endmacro %}


{#- A date plus a whole number of days (a date on both warehouses; dbt's `dateadd`
    returns a DATETIME on BigQuery). -#}
{% macro add_days(date_expr, days) -%}
  {{ return(adapter.dispatch('add_days', 'oura')(date_expr, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
  cast({{ date_expr }} + cast({{ days }} as integer) as date)
{%- endmacro %}

{% macro bigquery__add_days(date_expr, days) -%}
  date_add({{ date_expr }}, interval {{ days }} day)
{%- endmacro %}
