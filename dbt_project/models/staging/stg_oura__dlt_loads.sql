{#- dlt's record of every load package. Missing until dlt first loads: the view is then empty. -#}
{%- set loads = source('oura', '_dlt_loads') -%}

with raw_rows as (

    {% if oura.relation_exists(loads) -%}
    select load_id, schema_name, status, inserted_at from {{ loads }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as load_id,
        cast(null as {{ dbt.type_string() }}) as schema_name,
        cast(null as {{ dbt.type_bigint() }}) as status,
        cast(null as {{ oura.type_instant() }}) as inserted_at
    from (select 1 as nothing) as none_loaded
    where 1 = 0
    {%- endif %}

),

renamed as (

    select
        cast(load_id as {{ dbt.type_string() }}) as load_id,
        cast(schema_name as {{ dbt.type_string() }}) as schema_name,
        cast(status as {{ dbt.type_bigint() }}) as load_status,
        cast(inserted_at as {{ oura.type_instant() }}) as inserted_at

    from raw_rows

)

select * from renamed
