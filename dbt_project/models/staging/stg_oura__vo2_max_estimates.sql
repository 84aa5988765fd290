with raw_rows as (

    select * from {{ source('oura', 'vo2_max') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as vo2_max_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as vo2_max_date,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as measured_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as measured_utc_offset,
        cast(vo2_max as {{ oura.type_double() }}) as vo2_max_ml_per_kg_min

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
