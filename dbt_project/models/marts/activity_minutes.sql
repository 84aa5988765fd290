with activity_days as (

    select
        daily_activity_id,
        user_id,
        activity_date,
        day_starts_at,
        day_starts_utc_offset,
        {{ oura.json_number_array('met_samples', '$.items') }} as met_items,
        {{ dbt.safe_cast(oura.json_text('met_samples', '$.timestamp'), oura.type_instant()) }} as met_starts_at,
        cast({{ oura.json_text('met_samples', '$.interval') }} as {{ oura.type_double() }}) as met_interval_seconds,
        activity_class_5_min,
        greatest(
            coalesce({{ oura.json_array_length('met_samples', '$.items') }}, 0),
            coalesce({{ dbt.length('activity_class_5_min') }}, 0) * 5
        ) as minute_count
    from {{ ref('stg_oura__daily_activities') }}

),

minutes as (

    {{ oura.explode_index_series(
        relation='activity_days',
        columns=['daily_activity_id', 'user_id', 'activity_date', 'day_starts_at', 'day_starts_utc_offset',
                 'met_items', 'met_starts_at', 'met_interval_seconds', 'activity_class_5_min'],
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
        -- MET item i is at the sample's timestamp + i x interval (60 s); without a MET
        -- sample the minute is counted from the activity day's start.
        {{ oura.add_seconds(
            'coalesce(met_starts_at, day_starts_at)',
            'minute_index * coalesce(met_interval_seconds, 60)',
        ) }} as minute_start_at,
        day_starts_utc_offset,
        {{ oura.number_array_item('met_items', 'minute_index') }} as met,
        case
            when minute_index < coalesce({{ dbt.length('activity_class_5_min') }}, 0) * 5
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
    {{ oura.local_datetime('minute_start_at', 'day_starts_utc_offset') }} as minute_start_local,
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
