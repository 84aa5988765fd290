with users as (

    select * from {{ ref('stg_oura__users') }}

),

latest_ring as (

    select *
    from (
        select
            rings.*,
            row_number() over (
                partition by user_id
                order by set_up_at desc nulls last, ring_configuration_id desc
            ) as ring_rank
        from {{ ref('stg_oura__ring_configurations') }} as rings
    ) as ranked
    where ring_rank = 1

),

user_days as (

    select
        user_id,
        min(summary_date) as first_day_with_data,
        max(summary_date) as last_day_with_data,
        count(*) as days_with_data
    from {{ ref('int_user_days_unioned') }}
    group by user_id

)

select
    users.user_id,
    users.age_years,
    users.biological_sex,
    users.weight_kg,
    users.height_meters,
    latest_ring.hardware_type as ring_hardware_type,
    latest_ring.ring_color,
    latest_ring.ring_design,
    latest_ring.ring_size,
    latest_ring.firmware_version as ring_firmware_version,
    latest_ring.set_up_at as ring_set_up_at,
    user_days.first_day_with_data,
    user_days.last_day_with_data,
    coalesce(user_days.days_with_data, 0) as days_with_data
from users
left join latest_ring
    on latest_ring.user_id = users.user_id
left join user_days
    on user_days.user_id = users.user_id
