with raw_rows as (

    select * from {{ source('oura', 'tag') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as tag_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as tag_date,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as tagged_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as tagged_utc_offset,
        cast(text as {{ dbt.type_string() }}) as tag_text,
        tags as tag_codes

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
