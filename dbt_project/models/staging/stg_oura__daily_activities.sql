{%- set contributors = oura.score_contributor_catalog()['activity']['contributors'] -%}

with raw_rows as (

    select * from {{ source('oura', 'daily_activity') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as daily_activity_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(day as date) as activity_date,
        cast({{ adapter.quote('timestamp') }} as {{ oura.type_instant() }}) as day_starts_at,
        cast(timestamp_utc_offset as {{ dbt.type_string() }}) as day_starts_utc_offset,

        cast(score as {{ dbt.type_bigint() }}) as activity_score,
        {%- for name in contributors %}
        cast(contributors__{{ name }} as {{ dbt.type_bigint() }}) as contributor_{{ name }},
        {%- endfor %}

        cast(steps as {{ dbt.type_bigint() }}) as steps,
        cast(active_calories as {{ dbt.type_bigint() }}) as active_kcal,
        cast(total_calories as {{ dbt.type_bigint() }}) as total_kcal,
        cast(target_calories as {{ dbt.type_bigint() }}) as target_kcal,
        cast(equivalent_walking_distance as {{ dbt.type_bigint() }}) as equivalent_walking_distance_meters,
        cast(target_meters as {{ dbt.type_bigint() }}) as target_meters,
        cast(meters_to_target as {{ dbt.type_bigint() }}) as meters_to_target,
        cast(average_met_minutes as {{ oura.type_double() }}) as average_met_minutes,
        cast(high_activity_met_minutes as {{ dbt.type_bigint() }}) as high_activity_met_minutes,
        cast(medium_activity_met_minutes as {{ dbt.type_bigint() }}) as medium_activity_met_minutes,
        cast(low_activity_met_minutes as {{ dbt.type_bigint() }}) as low_activity_met_minutes,
        cast(sedentary_met_minutes as {{ dbt.type_bigint() }}) as sedentary_met_minutes,
        cast(high_activity_time as {{ dbt.type_bigint() }}) as high_activity_seconds,
        cast(medium_activity_time as {{ dbt.type_bigint() }}) as medium_activity_seconds,
        cast(low_activity_time as {{ dbt.type_bigint() }}) as low_activity_seconds,
        cast(sedentary_time as {{ dbt.type_bigint() }}) as sedentary_seconds,
        cast(resting_time as {{ dbt.type_bigint() }}) as resting_seconds,
        cast(non_wear_time as {{ dbt.type_bigint() }}) as non_wear_seconds,
        cast(inactivity_alerts as {{ dbt.type_bigint() }}) as inactivity_alert_count,

        met as met_samples,
        cast(class_5_min as {{ dbt.type_string() }}) as activity_class_5_min

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
