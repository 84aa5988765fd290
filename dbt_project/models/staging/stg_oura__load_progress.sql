{#- The loader's record of what each run read. A warehouse `oura-elt load` never wrote to
    (documents written by other means) has no such table: the view is then empty. -#}
{%- set progress = source('oura', '_oura_load_progress') -%}

with raw_rows as (

    {% if oura.relation_exists(progress) -%}
    select user_id, collection, start_day, end_day, loaded_at, _dlt_load_id from {{ progress }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as collection,
        cast(null as date) as start_day,
        cast(null as date) as end_day,
        cast(null as {{ oura.type_instant() }}) as loaded_at,
        cast(null as {{ dbt.type_string() }}) as _dlt_load_id
    from (select 1 as nothing) as none_loaded
    where 1 = 0
    {%- endif %}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(collection as {{ dbt.type_string() }}) as collection_name,
        cast(start_day as date) as start_date,
        cast(end_day as date) as end_date,
        cast(loaded_at as {{ oura.type_instant() }}) as loaded_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as load_id

    from raw_rows

)

select * from renamed
