{%- set contributors = oura.score_contributor_catalog()['readiness']['contributors'] -%}

with raw_rows as (

    select * from {{ source('oura', 'daily_readiness') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_readiness_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as readiness_date,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as reported_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as reported_utc_offset,

        cast(score as {{ dbt.type_bigint() }}) as readiness_score,
        cast(temperature_deviation as {{ oura.type_double() }}) as temperature_deviation_celsius,
        cast(temperature_trend_deviation as {{ oura.type_double() }}) as temperature_trend_deviation_celsius,
        {%- for name in contributors %}
        cast(contributors__{{ name }} as {{ dbt.type_bigint() }}) as contributor_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
