with raw_rows as (

    select * from {{ source('oura', 'enhanced_tag') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as enhanced_tag_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(start_day as date) as start_date,
        cast(end_day as date) as end_date,
        cast(start_time as {{ oura.type_instant() }}) as started_at,
        cast(start_time_utc_offset as {{ dbt.type_string() }}) as started_utc_offset,
        cast(end_time as {{ oura.type_instant() }}) as ended_at,
        cast(end_time_utc_offset as {{ dbt.type_string() }}) as ended_utc_offset,
        cast(tag_type_code as {{ dbt.type_string() }}) as tag_type_code,
        cast(custom_name as {{ dbt.type_string() }}) as custom_name,
        cast(comment as {{ dbt.type_string() }}) as comment

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
