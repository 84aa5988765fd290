with raw_rows as (

    select * from {{ source('oura', 'ring_battery_level') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as measured_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as measured_utc_offset,
        cast(level as {{ dbt.type_bigint() }}) as battery_level_percent,
        cast(charging as {{ dbt.type_boolean() }}) as is_charging,
        cast(in_charger as {{ dbt.type_boolean() }}) as is_in_charger

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
