with raw_rows as (

    select * from {{ source('oura', 'daily_cardiovascular_age') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_cardiovascular_age_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as cardiovascular_age_date,
        cast(vascular_age as {{ dbt.type_bigint() }}) as vascular_age_years,
        cast(pulse_wave_velocity as {{ oura.type_double() }}) as pulse_wave_velocity_meters_per_second

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
