with raw_rows as (

    select * from {{ source('oura', 'heartrate') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as measured_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as measured_utc_offset,
        cast(source as {{ dbt.type_string() }}) as heart_rate_source,
        cast(bpm as {{ dbt.type_bigint() }}) as heart_rate_bpm,
        -- dlt's load id ("<unix seconds>.<fraction>"): when the row was last written.
        cast(_dlt_load_id as {{ dbt.type_string() }}) as load_id

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
