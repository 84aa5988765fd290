{%- set contributors = oura.score_contributor_catalog()['resilience']['contributors'] -%}

with raw_rows as (

    select * from {{ source('oura', 'daily_resilience') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_resilience_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as resilience_date,
        cast(level as {{ dbt.type_string() }}) as resilience_level,
        {%- for name in contributors %}
        cast(contributors__{{ name }} as {{ oura.type_double() }}) as contributor_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
