with raw_rows as (

    select * from {{ source('oura', 'workout') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as workout_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as workout_date,
        cast(activity as {{ dbt.type_string() }}) as activity,
        cast(intensity as {{ dbt.type_string() }}) as intensity,
        cast(source as {{ dbt.type_string() }}) as workout_source,
        cast(label as {{ dbt.type_string() }}) as label,
        cast(start_datetime as {{ oura.type_instant() }}) as started_at,
        cast(start_datetime_utc_offset as {{ dbt.type_string() }}) as started_utc_offset,
        cast(end_datetime as {{ oura.type_instant() }}) as ended_at,
        cast(end_datetime_utc_offset as {{ dbt.type_string() }}) as ended_utc_offset,
        cast(calories as {{ oura.type_double() }}) as calories_kcal,
        cast(distance as {{ oura.type_double() }}) as distance_meters

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
