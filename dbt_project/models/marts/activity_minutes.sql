-- What the minutes of a day share (their UTC and local start, their length, the MET
-- array) is computed once per day; each minute only adds `minute_index x interval`.
-- Converting every one of the 1.5 million minutes of 3 years to local time (parsing the
-- "+HH:MM" offset each time) cost about as much as the rest of the model.
with activity_days as (

    select
        daily_activity_id,
        user_id,
        activity_date,
        -- MET item i is at the sample's timestamp + i x interval (60 s); without a MET
        -- sample the minute is counted from the activity day's start.
        coalesce(
            {{ dbt.safe_cast(oura.json_text('met_samples', '$.timestamp'), oura.type_instant()) }},
            day_starts_at
        ) as minutes_start_at,
        day_starts_utc_offset,
        coalesce(
            cast({{ oura.json_text('met_samples', '$.interval') }} as {{ oura.type_double() }}),
            60
        ) as minute_seconds,
        {{ oura.json_number_array('met_samples', '$.items') }} as met_items,
        activity_class_5_min,
        coalesce({{ dbt.length('activity_class_5_min') }}, 0) * 5 as class_minute_count,
        greatest(
            coalesce({{ oura.json_array_length('met_samples', '$.items') }}, 0),
            coalesce({{ dbt.length('activity_class_5_min') }}, 0) * 5
        ) as minute_count
    from {{ ref('stg_oura__daily_activities') }}

),

days as (

    select
        activity_days.*,
        {{ oura.local_datetime('minutes_start_at', 'day_starts_utc_offset') }} as minutes_start_local
    from activity_days

),

minutes as (

    {{ oura.explode_index_series(
        relation='days',
        columns=['daily_activity_id', 'user_id', 'activity_date', 'minutes_start_at', 'minutes_start_local',
                 'minute_seconds', 'met_items', 'activity_class_5_min', 'class_minute_count'],
        count_expr='minute_count',
        index_alias='minute_index',
    ) }}

),

classified as (

    select
        daily_activity_id,
        user_id,
        activity_date,
        minute_index,
        {{ oura.add_seconds('minutes_start_at', 'minute_index * minute_seconds') }} as minute_start_at,
        {{ oura.add_seconds_local('minutes_start_local', 'minute_index * minute_seconds') }} as minute_start_local,
        {{ oura.number_array_item('met_items', 'minute_index') }} as met,
        case
            when minute_index < class_minute_count
            then cast(floor(minute_index / 5) as {{ dbt.type_bigint() }})
        end as class_index,
        activity_class_5_min
    from minutes

),

with_class as (

    select
        classified.*,
        {{ oura.char_at('activity_class_5_min', 'class_index') }} as activity_class_code
    from classified

)

select
    daily_activity_id,
    user_id,
    activity_date,
    minute_index,
    minute_start_at,
    minute_start_local,
    met,
    class_index,
    activity_class_code,
    case activity_class_code
        when '0' then 'non_wear'
        when '1' then 'rest'
        when '2' then 'inactive'
        when '3' then 'low'
        when '4' then 'medium'
        when '5' then 'high'
    end as activity_class
from with_class
