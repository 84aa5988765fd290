with raw_rows as (

    select * from {{ source('oura', 'daily_stress') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_stress_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as stress_date,
        cast(stress_high as {{ dbt.type_bigint() }}) as stress_high_seconds,
        cast(recovery_high as {{ dbt.type_bigint() }}) as recovery_high_seconds,
        cast(day_summary as {{ dbt.type_string() }}) as stress_day_summary

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
