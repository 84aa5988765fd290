{#- The length in seconds of the epochs `sleep_epochs` has for a sleep period: 30 when Oura
    sent `sleep_phase_30_sec` (newer documents), else 300 from `sleep_phase_5_min` (2024
    documents have no 30-second string); null without either. The one place this choice
    is made: sleep_epochs and sleep_periods both call it. -#}
{% macro sleep_epoch_seconds(sleep_phase_30_sec, sleep_phase_5_min) -%}
    (case
        when {{ dbt.length(sleep_phase_30_sec) }} > 0 then 30
        when {{ sleep_phase_5_min }} is not null then 300
    end)
{%- endmacro %}
