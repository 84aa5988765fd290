{#- The on-run-end hook: for every data test that ended in a warning, log its first `limit`
    rows, one line each, "warned row of <test>: <column>=<value>, ...", so that a warning
    names what it found (a night, a new value), not only the test. dbt prints the lines;
    `oura_elt.transform` collects them (WARNED_ROW) for `oura-elt transform` and the
    nightly flow. The test's SQL is wrapped the way dbt's test materialization wraps it. -#}
{% macro log_warned_rows(results, limit=10) %}
    {%- if execute -%}
        {%- for result in results
            if result.status == 'warn' and result.node.resource_type == 'test' -%}
            {%- set found = run_query(
                'select * from (\n' ~ result.node.compiled_code ~ '\n) as warned limit ' ~ limit
            ) -%}
            {%- for row in found.rows -%}
                {%- set cells = [] -%}
                {%- for column in found.column_names -%}
                    {%- do cells.append(column ~ '=' ~ row[column]) -%}
                {%- endfor -%}
                {{- log('warned row of ' ~ result.node.name ~ ': ' ~ cells | join(', '), info=True) -}}
            {%- endfor -%}
            {%- if result.failures is not none and result.failures > limit -%}
                {{- log('warned row of ' ~ result.node.name ~ ': ... and '
                        ~ (result.failures - limit) ~ ' more', info=True) -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
