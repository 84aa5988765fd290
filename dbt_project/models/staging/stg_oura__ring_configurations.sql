with raw_rows as (

    select * from {{ source('oura', 'ring_configuration') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as ring_configuration_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(hardware_type as {{ dbt.type_string() }}) as hardware_type,
        cast(color as {{ dbt.type_string() }}) as ring_color,
        cast(design as {{ dbt.type_string() }}) as ring_design,
        cast(size as {{ dbt.type_bigint() }}) as ring_size,
        cast(firmware_version as {{ dbt.type_string() }}) as firmware_version,
        cast(set_up_at as {{ oura.type_instant() }}) as set_up_at,
        cast(set_up_at_utc_offset as {{ dbt.type_string() }}) as set_up_utc_offset

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
