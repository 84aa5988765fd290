with raw_rows as (

    select * from {{ source('oura', 'sleep_time') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as sleep_time_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as recommendation_date,
        cast(recommendation as {{ dbt.type_string() }}) as recommendation,
        cast(status as {{ dbt.type_string() }}) as recommendation_status,
        cast(optimal_bedtime__day_tz as {{ dbt.type_bigint() }}) as optimal_bedtime_utc_offset_seconds,
        cast(optimal_bedtime__start_offset as {{ dbt.type_bigint() }}) as optimal_bedtime_start_offset_seconds,
        cast(optimal_bedtime__end_offset as {{ dbt.type_bigint() }}) as optimal_bedtime_end_offset_seconds

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
