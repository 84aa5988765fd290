with raw_rows as (

    select * from {{ source('oura', 'daily_spo2') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_spo2_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as spo2_date,
        cast(spo2_percentage__average as {{ oura.type_double() }}) as spo2_average_percent,
        cast(breathing_disturbance_index as {{ dbt.type_bigint() }}) as breathing_disturbance_index

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
