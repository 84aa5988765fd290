with raw_rows as (

    select * from {{ source('oura', 'session') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as session_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as session_date,
        cast(type as {{ dbt.type_string() }}) as session_type,
        cast(mood as {{ dbt.type_string() }}) as mood,
        cast(start_datetime as {{ oura.type_instant() }}) as started_at,
        cast(start_datetime_utc_offset as {{ dbt.type_string() }}) as started_utc_offset,
        cast(end_datetime as {{ oura.type_instant() }}) as ended_at,
        cast(end_datetime_utc_offset as {{ dbt.type_string() }}) as ended_utc_offset,
        heart_rate as heart_rate_samples,
        heart_rate_variability as hrv_samples,
        motion_count as motion_count_samples

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
